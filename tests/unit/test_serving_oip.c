/* test_serving_oip.c - the pure halves of the OIP v2 and KServe v1 front ends (serving/oip.h):
 * every accepted input form lands in the right matrix cell with the right datatype conversion,
 * every bad request is refused with EF_EINVAL and a message saying what to send, and the reply
 * and metadata writers produce the spec's shapes and types for regressors and classifiers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving/oip.h"

static const char *const feats[] = {"alcohol", "ph", "sugar"};
static const serve__schema reg = {3, feats, 0, "elasticnet"};
static const serve__schema cls = {3, feats, 1, "lda"};
static const char *const one_feat[] = {"x"};
static const serve__schema one = {1, one_feat, 0, "ridge"};

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    if (!doc) fail_msg("bad test JSON: %s: %s", e.text, text);
    return doc;
}

/* Parses text; on success returns 0 and fills rq (caller releases). */
static int oip(const char *text, const serve__schema *sc, serve__oip_req *rq, ef_ml_err *err)
{
    json_t *doc = J(text);
    int rc = serve__oip_parse(doc, sc, rq, err);
    /* id is borrowed from doc: keep the docs alive for the test's duration via a leak-free copy */
    if (!rc && rq->id) rq->id = strcmp(rq->id, "req-42") ? "other" : "req-42";
    json_decref(doc);
    return rc;
}

/* Expects EF_EINVAL with needle in the message. */
static void oip_bad(const char *text, const serve__schema *sc, const char *needle)
{
    serve__oip_req rq;
    ef_ml_err err = {{0}};
    int rc = oip(text, sc, &rq, &err);
    if (rc != EF_EINVAL) fail_msg("accepted (rc %d): %s", rc, text);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_int_equal(rq.X.rows, 0);
    assert_null(rq.X.v);
}

static void test_matrix_forms(void **state)
{
    (void)state;
    serve__oip_req rq;
    ef_ml_err err;
    assert_int_equal(oip("{\"id\":\"req-42\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],"
                         "\"datatype\":\"FP64\",\"data\":[1,2.5,3,4,5,6e-3]}]}", &reg, &rq, &err),
                     0);
    assert_int_equal(rq.X.rows, 2);
    assert_int_equal(rq.X.cols, 3);
    assert_true(EF_MAT_AT(&rq.X, 0, 1) == 2.5);
    assert_true(EF_MAT_AT(&rq.X, 1, 2) == 6e-3);
    assert_string_equal(rq.id, "req-42");
    assert_int_equal(rq.n_outputs, 1);
    assert_int_equal(rq.outputs[0], SERVE__OUT_PREDICT);
    assert_false(rq.want_proba);
    serve__oip_req_release(&rq);

    /* nested data, INT64, no id */
    assert_int_equal(oip("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT64\","
                         "\"data\":[[1,2,3],[4,5,-6]]}]}", &reg, &rq, &err), 0);
    assert_null(rq.id);
    assert_true(EF_MAT_AT(&rq.X, 1, 2) == -6.0);
    serve__oip_req_release(&rq);

    /* FP32 values are rounded to float precision, as a float32 tensor holds them */
    assert_int_equal(oip("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
                         "\"data\":[0.1,0.2,0.3]}]}", &reg, &rq, &err), 0);
    assert_true(EF_MAT_AT(&rq.X, 0, 0) == (double)0.1f);
    assert_true(EF_MAT_AT(&rq.X, 0, 0) != 0.1);
    serve__oip_req_release(&rq);

    /* a one-feature model takes a single [N] input under any name */
    assert_int_equal(oip("{\"inputs\":[{\"name\":\"whatever\",\"shape\":[3],\"datatype\":"
                         "\"FP64\",\"data\":[7,8,9]}]}", &one, &rq, &err), 0);
    assert_int_equal(rq.X.rows, 3);
    assert_true(rq.X.v[2] == 9.0);
    serve__oip_req_release(&rq);
}

static void test_column_form(void **state)
{
    (void)state;
    serve__oip_req rq;
    ef_ml_err err;
    /* one input per feature, any order, [N] and [N,1], mixed datatypes */
    assert_int_equal(oip("{\"inputs\":["
                         "{\"name\":\"sugar\",\"shape\":[2,1],\"datatype\":\"BOOL\","
                         "\"data\":[[true],[false]]},"
                         "{\"name\":\"alcohol\",\"shape\":[2],\"datatype\":\"FP64\","
                         "\"data\":[9.5,10.25]},"
                         "{\"name\":\"ph\",\"shape\":[2],\"datatype\":\"INT32\",\"data\":[3,4.0]}"
                         "]}", &cls, &rq, &err), 0);
    assert_int_equal(rq.X.rows, 2);
    double want[] = {9.5, 3, 1, 10.25, 4, 0};
    for (size_t i = 0; i < 6; i++) assert_true(rq.X.v[i] == want[i]);
    serve__oip_req_release(&rq);
}

static void test_outputs(void **state)
{
    (void)state;
    serve__oip_req rq;
    ef_ml_err err;
    const char *in = "\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
                     "\"data\":[1,2,3]}]";
    char buf[512];
    snprintf(buf, sizeof buf, "{%s,\"outputs\":[{\"name\":\"predict_proba\"},"
             "{\"name\":\"predict\"}]}", in);
    assert_int_equal(oip(buf, &cls, &rq, &err), 0);
    assert_int_equal(rq.n_outputs, 2);
    assert_int_equal(rq.outputs[0], SERVE__OUT_PROBA);
    assert_int_equal(rq.outputs[1], SERVE__OUT_PREDICT);
    assert_true(rq.want_proba);
    serve__oip_req_release(&rq);

    snprintf(buf, sizeof buf, "{%s,\"parameters\":{\"predict_proba\":true}}", in);
    assert_int_equal(oip(buf, &cls, &rq, &err), 0);
    assert_int_equal(rq.n_outputs, 2);
    assert_int_equal(rq.outputs[1], SERVE__OUT_PROBA);
    serve__oip_req_release(&rq);

    snprintf(buf, sizeof buf, "{%s,\"outputs\":[{\"name\":\"predict_proba\"}]}", in);
    oip_bad(buf, &reg, "regressor");
    snprintf(buf, sizeof buf, "{%s,\"parameters\":{\"predict_proba\":true}}", in);
    oip_bad(buf, &reg, "regressor");
    snprintf(buf, sizeof buf, "{%s,\"outputs\":[{\"name\":\"scores\"}]}", in);
    oip_bad(buf, &cls, "unknown output 'scores'");
    snprintf(buf, sizeof buf, "{%s,\"outputs\":[{\"name\":\"predict\"},{\"name\":\"predict\"}]}",
             in);
    oip_bad(buf, &cls, "twice");
    snprintf(buf, sizeof buf, "{%s,\"outputs\":[{\"name\":\"predict\","
             "\"parameters\":{\"binary_data\":\"yes\"}}]}", in);
    oip_bad(buf, &cls, "binary_data must be true or false");
    snprintf(buf, sizeof buf, "{%s,\"parameters\":{\"binary_data_output\":1}}", in);
    oip_bad(buf, &cls, "binary_data_output must be true or false");

    /* binary outputs: per output, request-level default, per-output false wins */
    snprintf(buf, sizeof buf, "{%s,\"outputs\":[{\"name\":\"predict_proba\"},"
             "{\"name\":\"predict\",\"parameters\":{\"binary_data\":true}}]}", in);
    assert_int_equal(oip(buf, &cls, &rq, &err), 0);
    assert_int_equal(rq.binary[0], 0);
    assert_int_equal(rq.binary[1], 1);
    serve__oip_req_release(&rq);
    snprintf(buf, sizeof buf, "{%s,\"parameters\":{\"binary_data_output\":true,"
             "\"predict_proba\":true}}", in);
    assert_int_equal(oip(buf, &cls, &rq, &err), 0);
    assert_int_equal(rq.n_outputs, 2);
    assert_true(rq.binary[0] && rq.binary[1]);
    serve__oip_req_release(&rq);
    snprintf(buf, sizeof buf, "{%s,\"parameters\":{\"binary_data_output\":true},"
             "\"outputs\":[{\"name\":\"predict\",\"parameters\":{\"binary_data\":false}},"
             "{\"name\":\"predict_proba\"}]}", in);
    assert_int_equal(oip(buf, &cls, &rq, &err), 0);
    assert_int_equal(rq.binary[0], 0);
    assert_int_equal(rq.binary[1], 1);
    serve__oip_req_release(&rq);
    snprintf(buf, sizeof buf, "{%s,\"id\":7}", in);
    oip_bad(buf, &cls, "\"id\" must be a string");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    oip_bad("[1,2]", &reg, "JSON object");
    oip_bad("{}", &reg, "\"inputs\" must be a non-empty array");
    oip_bad("{\"inputs\":[]}", &reg, "non-empty");
    /* element count != product of the shape */
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP64\","
            "\"data\":[1,2,3,4,5]}]}", &reg, "shape [2, 3] needs 6 values but data has 5");
    /* wrong feature count */
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP64\","
            "\"data\":[1,2,3,4]}]}", &reg, "takes [N, 3] (features: alcohol, ph, sugar)");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[3],\"datatype\":\"FP64\",\"data\":[1,2,3]}]}",
            &reg, "takes [N, 3]");
    /* datatypes */
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FLOAT\","
            "\"data\":[1,2,3]}]}", &reg, "unknown datatype 'FLOAT'");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"BYTES\","
            "\"data\":[\"a\",\"b\",\"c\"]}]}", &reg, "BYTES is not supported");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
            "\"data\":[1,\"two\",3]}]}", &reg, "element 1 is a string");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
            "\"data\":[1,null,3]}]}", &reg, "element 1 is null");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"INT32\","
            "\"data\":[1,2.5,3]}]}", &reg, "element 1 is not integral");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"INT32\","
            "\"data\":[1,2,3000000000]}]}", &reg, "out of range for INT32");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
            "\"data\":[1,2,1e300]}]}", &reg, "out of range for FP32");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"BOOL\","
            "\"data\":[true,1,false]}]}", &reg, "expected true or false");
    /* empty batch, missing fields, the binary extension, nesting */
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[0,3],\"datatype\":\"FP64\",\"data\":[]}]}",
            &reg, "empty batch");
    oip_bad("{\"inputs\":[{\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[1,2,3]}]}", &reg,
            "\"name\"");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"data\":[1,2,3]}]}", &reg,
            "\"shape\"");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,-3],\"datatype\":\"FP64\","
            "\"data\":[1,2,3]}]}", &reg, "shape[1]");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\"}]}", &reg,
            "\"data\" is required");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
            "\"parameters\":{\"binary_data_size\":24}}]}", &reg,
            "no Inference-Header-Content-Length header");
    oip_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1],\"datatype\":\"FP64\","
            "\"data\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}]}", &one, "nested deeper");
    /* column form: unknown feature, duplicates, different N, wrong count of inputs */
    oip_bad("{\"inputs\":[{\"name\":\"alcohol\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
            "{\"name\":\"ph\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
            "{\"name\":\"salt\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}", &reg,
            "input 'salt' is not a feature");
    oip_bad("{\"inputs\":[{\"name\":\"alcohol\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
            "{\"name\":\"ph\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
            "{\"name\":\"ph\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}", &reg,
            "given twice");
    oip_bad("{\"inputs\":[{\"name\":\"alcohol\",\"shape\":[2],\"datatype\":\"FP64\","
            "\"data\":[1,2]},{\"name\":\"ph\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
            "{\"name\":\"sugar\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}", &reg,
            "same N");
    oip_bad("{\"inputs\":[{\"name\":\"alcohol\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
            "{\"name\":\"ph\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}", &reg,
            "2 inputs given");
}

/* ---- writers ---- */

static ef_model *tiny_model(const char *type, int classify, int text_labels)
{
    ef_mat X;
    double y[12];
    assert_int_equal(ef_mat_init(&X, 12, 3), 0);
    for (size_t i = 0; i < 12; i++) {
        EF_MAT_AT(&X, i, 0) = (double)(i % 4) + 0.5 * (double)(i % 3);
        EF_MAT_AT(&X, i, 1) = (double)((i * 5) % 7);
        EF_MAT_AT(&X, i, 2) = (double)i / 12.0;
        y[i] = classify ? (double)(i % 3) + 3 : EF_MAT_AT(&X, i, 0) * 2 - EF_MAT_AT(&X, i, 1);
    }
    ef_estimator *e = ef_estimator_new(ef_ml_type_find(type));
    ef_ml_err err;
    assert_non_null(e);
    assert_int_equal(ef_estimator_fit(e, &X, y, &err), 0);
    ef_mat_release(&X);
    ef_model *m = ef_model_new(e, feats);
    assert_non_null(m);
    if (text_labels) {
        static const char *const names[] = {"low", "mid", "high"};
        m->class_names = calloc(3, sizeof *m->class_names);
        for (size_t k = 0; k < 3; k++) m->class_names[k] = strdup(names[k]);
    }
    return m;
}

static char *dump(json_t *doc)
{
    assert_non_null(doc);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    return s;
}

static void test_reply_regressor(void **state)
{
    (void)state;
    ef_model *m = tiny_model("ridge", 0, 0);
    serve__oip_req rq = {.id = "req-42", .outputs = {SERVE__OUT_PREDICT}, .n_outputs = 1};
    assert_int_equal(ef_mat_init(&rq.X, 2, 3), 0);
    double pred[] = {5.25, -1.5};
    char *s = dump(serve__oip_reply(m, "wine", "3", &rq, pred, NULL));
    assert_string_equal(s, "{\"id\":\"req-42\",\"model_name\":\"wine\",\"model_version\":\"3\","
                           "\"outputs\":[{\"data\":[5.25,-1.5],\"datatype\":\"FP64\",\"name\":"
                           "\"predict\",\"shape\":[2]}]}");
    free(s);
    rq.id = NULL;
    s = dump(serve__oip_reply(m, "wine", "", &rq, pred, NULL));
    assert_null(strstr(s, "model_version"));
    assert_null(strstr(s, "\"id\""));
    free(s);
    s = dump(serve__kserve_reply(m, pred, 2));
    assert_string_equal(s, "{\"predictions\":[5.25,-1.5]}");
    free(s);
    s = dump(serve__oip_metadata(m, "wine", "3"));
    assert_string_equal(s, "{\"inputs\":[{\"datatype\":\"FP64\",\"name\":\"alcohol\",\"shape\":"
                           "[-1,1]},{\"datatype\":\"FP64\",\"name\":\"ph\",\"shape\":[-1,1]},"
                           "{\"datatype\":\"FP64\",\"name\":\"sugar\",\"shape\":[-1,1]}],"
                           "\"name\":\"wine\",\"outputs\":[{\"datatype\":\"FP64\",\"name\":"
                           "\"predict\",\"shape\":[-1]}],\"parameters\":{\"estimator\":\"ridge\","
                           "\"task\":\"regressor\"},\"platform\":\"edgeflow\",\"versions\":"
                           "[\"3\"]}");
    free(s);
    ef_mat_release(&rq.X);
    ef_model_free(m);
}

static void test_reply_classifier(void **state)
{
    (void)state;
    ef_model *m = tiny_model("lda", 1, 0);
    serve__schema sc;
    serve__schema_of(m, &sc);
    assert_true(sc.classifier);
    assert_int_equal(sc.n_features, 3);
    serve__oip_req rq = {.outputs = {SERVE__OUT_PROBA, SERVE__OUT_PREDICT}, .n_outputs = 2,
                         .want_proba = 1};
    assert_int_equal(ef_mat_init(&rq.X, 2, 3), 0);
    ef_mat proba;
    assert_int_equal(ef_mat_init(&proba, 2, 3), 0);
    double pv[] = {0.5, 0.25, 0.25, 0, 0, 1};
    memcpy(proba.v, pv, sizeof pv);
    double pred[] = {3, 5};
    char *s = dump(serve__oip_reply(m, "eeg", "", &rq, pred, &proba));
    assert_string_equal(s, "{\"model_name\":\"eeg\",\"outputs\":[{\"data\":[0.5,0.25,0.25,0.0,"
                           "0.0,1.0],\"datatype\":\"FP64\",\"name\":\"predict_proba\",\"shape\":"
                           "[2,3]},{\"data\":[3,5],\"datatype\":\"INT64\",\"name\":\"predict\","
                           "\"shape\":[2]}]}");
    free(s);
    s = dump(serve__kserve_reply(m, pred, 2));
    assert_string_equal(s, "{\"predictions\":[3,5]}");
    free(s);
    s = dump(serve__oip_metadata(m, "eeg", ""));
    assert_non_null(
        strstr(s, "{\"datatype\":\"FP64\",\"name\":\"predict_proba\",\"shape\":[-1,3]}"));
    assert_non_null(strstr(s, "\"versions\":[]"));
    free(s);
    ef_model_free(m);

    m = tiny_model("lda", 1, 1); /* text labels: BYTES */
    s = dump(serve__oip_reply(m, "eeg", "", &(serve__oip_req){.X = rq.X, .n_outputs = 1,
                                                              .outputs = {SERVE__OUT_PREDICT}},
                              pred, NULL));
    assert_non_null(strstr(s, "{\"data\":[\"low\",\"high\"],\"datatype\":\"BYTES\""));
    free(s);
    s = dump(serve__kserve_reply(m, pred, 2));
    assert_string_equal(s, "{\"predictions\":[\"low\",\"high\"]}");
    free(s);
    ef_model_free(m);
    ef_mat_release(&proba);
    ef_mat_release(&rq.X);
}

/* ---- KServe v1 ---- */

static int ks(const char *text, const serve__schema *sc, ef_mat *X, ef_ml_err *err)
{
    json_t *doc = J(text);
    int rc = serve__kserve_parse(doc, sc, X, err);
    json_decref(doc);
    return rc;
}

static void ks_bad(const char *text, const serve__schema *sc, const char *needle)
{
    ef_mat X;
    ef_ml_err err = {{0}};
    int rc = ks(text, sc, &X, &err);
    if (rc != EF_EINVAL) fail_msg("accepted (rc %d): %s", rc, text);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_null(X.v);
}

static void test_kserve(void **state)
{
    (void)state;
    ef_mat X;
    ef_ml_err err;
    assert_int_equal(ks("{\"instances\":[[1,2,3],[4,5.5,true]]}", &reg, &X, &err), 0);
    double w1[] = {1, 2, 3, 4, 5.5, 1};
    assert_int_equal(X.rows, 2);
    for (size_t i = 0; i < 6; i++) assert_true(X.v[i] == w1[i]);
    ef_mat_release(&X);
    assert_int_equal(ks("{\"inputs\":[{\"sugar\":3,\"alcohol\":1,\"ph\":2}]}", &reg, &X, &err), 0);
    for (size_t i = 0; i < 3; i++) assert_true(X.v[i] == w1[i]);
    ef_mat_release(&X);
    assert_int_equal(ks("{\"inputs\":{\"ph\":[2,5.5],\"sugar\":[3,1],\"alcohol\":[1,4]}}", &reg,
                        &X, &err), 0);
    for (size_t i = 0; i < 6; i++) assert_true(X.v[i] == w1[i]);
    ef_mat_release(&X);
    assert_int_equal(ks("{\"instances\":[1.5,2.5]}", &one, &X, &err), 0);
    assert_int_equal(X.rows, 2);
    assert_true(X.v[1] == 2.5);
    ef_mat_release(&X);

    ks_bad("{\"instances\":[[1,2]]}", &reg, "instance 0 has 2 values; this model takes 3");
    ks_bad("{\"instances\":[[1,2,3],[1,\"x\",3]]}", &reg, "instance 1, feature 'ph'");
    ks_bad("{\"instances\":[[1,2,null]]}", &reg, "got null");
    ks_bad("{\"instances\":[]}", &reg, "empty batch");
    ks_bad("{\"inputs\":{}}", &reg, "feature 'alcohol' is missing");
    ks_bad("{\"instances\":[[1,2,3]],\"inputs\":[[1,2,3]]}", &reg, "not both");
    ks_bad("{\"rows\":[[1,2,3]]}", &reg, "expected {\"instances\"");
    ks_bad("[[1,2,3]]", &reg, "expected {\"instances\"");
    ks_bad("{\"instances\":{\"a\":1}}", &reg, "must be a list");
    ks_bad("{\"instances\":[{\"alcohol\":1,\"ph\":2}]}", &reg, "no feature 'sugar'");
    ks_bad("{\"instances\":[{\"alcohol\":1,\"ph\":2,\"sugar\":3,\"salt\":4}]}", &reg,
           "'salt' is not a feature");
    ks_bad("{\"inputs\":{\"alcohol\":[1],\"ph\":[2,3],\"sugar\":[3]}}", &reg, "has 2 values");
    ks_bad("{\"instances\":[5]}", &reg, "must be an array of 3 feature values");
}

/* ---- binary tensor data extension ---- */

/* A little-endian blob under construction. */
typedef struct blob {
    unsigned char b[512];
    size_t n;
} blob;

static void put(blob *b, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++, v >>= 8) b->b[b->n++] = (unsigned char)(v & 0xff);
}
static void put_f64(blob *b, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    put(b, u, 8);
}
static void put_f32(blob *b, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    put(b, u, 4);
}

static int oipb(const char *text, const blob *b, const serve__schema *sc, serve__oip_req *rq,
                ef_ml_err *err)
{
    json_t *doc = J(text);
    int rc = serve__oip_parse_bin(doc, b ? b->b : NULL, b ? b->n : 0, sc, rq, err);
    rq->id = NULL;
    json_decref(doc);
    return rc;
}

static void oipb_bad(const char *text, const blob *b, const serve__schema *sc, const char *needle)
{
    serve__oip_req rq;
    ef_ml_err err = {{0}};
    int rc = oipb(text, b, sc, &rq, &err);
    if (rc != EF_EINVAL) fail_msg("accepted (rc %d): %s", rc, text);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_null(rq.X.v);
}

static void test_split(void **state)
{
    (void)state;
    size_t n = 99;
    ef_ml_err err = {{0}};
    assert_int_equal(serve__oip_split("24", 30, &n, &err), 0);
    assert_int_equal(n, 24);
    assert_int_equal(serve__oip_split(" 30 ", 30, &n, &err), 0);
    assert_int_equal(n, 30);
    struct {
        const char *h;
        const char *needle;
    } bad[] = {
        {"", "decimal number"},       {"abc", "decimal number"}, {"12x", "decimal number"},
        {"-5", "decimal number"},     {"1 2", "decimal number"}, {"0", "is 0"},
        {"31", "only 30 bytes"},      {"99999999999999999999999999", "larger than the body"},
        {"18446744073709551615", "larger than the body"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        assert_int_equal(serve__oip_split(bad[i].h, 30, &n, &err), EF_EINVAL);
        if (!strstr(err.msg, bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].h, err.msg, bad[i].needle);
        assert_int_equal(n, 0);
    }
    assert_int_equal(serve__oip_dt_size(SERVE__DT_BOOL), 1);
    assert_int_equal(serve__oip_dt_size(SERVE__DT_INT32), 4);
    assert_int_equal(serve__oip_dt_size(SERVE__DT_FP32), 4);
    assert_int_equal(serve__oip_dt_size(SERVE__DT_INT64), 8);
    assert_int_equal(serve__oip_dt_size(SERVE__DT_FP64), 8);
    assert_int_equal(serve__oip_dt_size(0), 0);
}

static void test_binary_inputs(void **state)
{
    (void)state;
    serve__oip_req rq;
    ef_ml_err err;
    blob b = {{0}, 0};
    double v[] = {1, 2.5, -3, 4e-3, 5, 6};
    for (size_t i = 0; i < 6; i++) put_f64(&b, v[i]);
    assert_int_equal(oipb("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP64\","
                          "\"parameters\":{\"binary_data_size\":48}}]}", &b, &reg, &rq, &err), 0);
    assert_int_equal(rq.X.rows, 2);
    for (size_t i = 0; i < 6; i++) assert_true(rq.X.v[i] == v[i]);
    serve__oip_req_release(&rq);

    /* FP32 widened exactly; INT32 and INT64 negative; BOOL bytes */
    b.n = 0;
    for (size_t i = 0; i < 3; i++) put_f32(&b, (float)v[i] + 0.1f);
    assert_int_equal(oipb("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
                          "\"parameters\":{\"binary_data_size\":12}}]}", &b, &reg, &rq, &err), 0);
    for (size_t i = 0; i < 3; i++) assert_true(rq.X.v[i] == (double)((float)v[i] + 0.1f));
    serve__oip_req_release(&rq);
    b.n = 0;
    put(&b, (uint32_t)-7, 4);
    put(&b, 2147483647u, 4);
    put(&b, 0, 4);
    assert_int_equal(oipb("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"INT32\","
                          "\"parameters\":{\"binary_data_size\":12}}]}", &b, &reg, &rq, &err), 0);
    assert_true(rq.X.v[0] == -7 && rq.X.v[1] == 2147483647.0 && rq.X.v[2] == 0);
    serve__oip_req_release(&rq);
    b.n = 0;
    put(&b, (uint64_t)(int64_t)-9000000000LL, 8);
    put(&b, 1, 8);
    put(&b, 42, 8);
    assert_int_equal(oipb("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"INT64\","
                          "\"parameters\":{\"binary_data_size\":24}}]}", &b, &reg, &rq, &err), 0);
    assert_true(rq.X.v[0] == -9e9 && rq.X.v[1] == 1 && rq.X.v[2] == 42);
    serve__oip_req_release(&rq);

    /* column form mixing JSON and binary inputs; blobs in input order */
    b.n = 0;
    put(&b, 1, 1);
    put(&b, 0, 1);         /* sugar: BOOL [2] */
    put_f64(&b, 9.5);
    put_f64(&b, 10.25);    /* alcohol: FP64 [2, 1] */
    assert_int_equal(oipb("{\"inputs\":["
                          "{\"name\":\"sugar\",\"shape\":[2],\"datatype\":\"BOOL\","
                          "\"parameters\":{\"binary_data_size\":2}},"
                          "{\"name\":\"ph\",\"shape\":[2],\"datatype\":\"INT32\",\"data\":[3,4]},"
                          "{\"name\":\"alcohol\",\"shape\":[2,1],\"datatype\":\"FP64\","
                          "\"parameters\":{\"binary_data_size\":16}}]}", &b, &cls, &rq, &err), 0);
    double want[] = {9.5, 3, 1, 10.25, 4, 0};
    for (size_t i = 0; i < 6; i++) assert_true(rq.X.v[i] == want[i]);
    serve__oip_req_release(&rq);

    /* the header without binary inputs: a plain JSON request */
    b.n = 0;
    assert_int_equal(oipb("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
                          "\"data\":[1,2,3]}]}", &b, &reg, &rq, &err), 0);
    serve__oip_req_release(&rq);
}

static void test_binary_size_checks(void **state)
{
    (void)state;
    blob b = {{0}, 0};
    for (size_t i = 0; i < 3; i++) put_f64(&b, 1.0);
    const char *x24 = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
                      "\"parameters\":{\"binary_data_size\":24}}]}";
    /* no binary section at all */
    oipb_bad(x24, NULL, &reg, "no Inference-Header-Content-Length header");
    /* blob shorter than the size, trailing bytes, sizes that do not add up */
    b.n = 16;
    oipb_bad(x24, &b, &reg, "needs 24 bytes of binary data but only 16 are left");
    b.n = 25;
    oipb_bad(x24, &b, &reg, "25 bytes follow the JSON header");
    b.n = 0;
    oipb_bad(x24, &b, &reg, "only 0 are left");
    b.n = 8;
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
             "\"data\":[1,2,3]}]}", &b, &reg, "8 bytes follow the JSON header");
    b.n = 24;
    /* size vs shape x element size */
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":24}}]}", &b, &reg,
             "binary_data_size is 24 but shape [1, 3] of FP32 needs 12 bytes (4 per element)");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":-24}}]}", &b, &reg, "byte count >= 0");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":\"24\"}}]}", &b, &reg, "byte count >= 0");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[1,2,3],"
             "\"parameters\":{\"binary_data_size\":24}}]}", &b, &reg, "both \"data\" and");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP16\","
             "\"parameters\":{\"binary_data_size\":6}}]}", &b, &reg, "FP16 is not supported");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"BYTES\","
             "\"parameters\":{\"binary_data_size\":24}}]}", &b, &reg, "BYTES is not supported");
    /* huge shapes: refused or sized without wrapping, before anything is allocated */
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1099511627776,1099511627776],"
             "\"datatype\":\"FP64\",\"parameters\":{\"binary_data_size\":0}}]}", &b, &reg,
             "shape is too large");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1099511627776,3],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":26388279066624}}]}", &b, &reg,
             "needs 26388279066624 bytes of binary data but only 24 are left");
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":9223372036854775807}}]}", &b, &reg,
             "needs 24 bytes");
    /* values: NaN, infinity, BOOL bytes other than 0/1 */
    b.n = 0;
    put_f64(&b, 1.0);
    put_f64(&b, NAN);
    put_f64(&b, 1.0);
    oipb_bad(x24, &b, &reg, "element 1 is not a finite number");
    b.n = 0;
    put_f32(&b, 1.0f);
    put_f32(&b, 2.0f);
    put_f32(&b, INFINITY);
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":12}}]}", &b, &reg, "element 2 is not a finite");
    b.n = 0;
    put(&b, 0x000201, 3);
    oipb_bad("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"BOOL\","
             "\"parameters\":{\"binary_data_size\":3}}]}", &b, &reg, "byte 1 is 2; expected 0");
    /* the second of two binary inputs runs short: its name is in the message */
    b.n = 0;
    put(&b, 1, 1);
    put_f64(&b, 2.0);
    oipb_bad("{\"inputs\":["
             "{\"name\":\"sugar\",\"shape\":[1],\"datatype\":\"BOOL\","
             "\"parameters\":{\"binary_data_size\":1}},"
             "{\"name\":\"ph\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[3]},"
             "{\"name\":\"alcohol\",\"shape\":[2],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":16}}]}", &b, &reg,
             "input 'alcohol' needs 16 bytes of binary data but only 8 are left");
}

static double get_f64(const unsigned char *p)
{
    uint64_t u = 0;
    for (size_t i = 8; i-- > 0;) u = u << 8 | p[i];
    double x;
    memcpy(&x, &u, 8);
    return x;
}

static void test_binary_reply(void **state)
{
    (void)state;
    char *body, *s;
    size_t len, jl;
    /* regressor: predict as FP64 blob, no "data" in the JSON */
    ef_model *m = tiny_model("ridge", 0, 0);
    serve__oip_req rq = {.outputs = {SERVE__OUT_PREDICT}, .binary = {1}, .n_outputs = 1};
    assert_int_equal(ef_mat_init(&rq.X, 2, 3), 0);
    double pred[] = {5.25, -1.5};
    json_t *doc = serve__oip_reply(m, "wine", "", &rq, pred, NULL);
    assert_int_equal(serve__oip_reply_body(doc, m, &rq, pred, NULL, &body, &len, &jl), 0);
    s = dump(doc);
    assert_string_equal(s, "{\"model_name\":\"wine\",\"outputs\":[{\"datatype\":\"FP64\",\"name\":"
                           "\"predict\",\"parameters\":{\"binary_data_size\":16},\"shape\":[2]}]}");
    free(s);
    assert_int_equal(len, jl + 16);
    json_t *head = json_loadb(body, jl, 0, NULL);
    assert_non_null(head);
    json_decref(head);
    assert_true(get_f64((unsigned char *)body + jl) == 5.25);
    assert_true(get_f64((unsigned char *)body + jl + 8) == -1.5);
    free(body);
    /* a non-finite prediction cannot be written, as in the JSON path */
    double bad[] = {NAN, 1};
    doc = serve__oip_reply(m, "wine", "", &rq, bad, NULL);
    assert_int_equal(serve__oip_reply_body(doc, m, &rq, bad, NULL, &body, &len, &jl), EF_EINVAL);
    assert_null(body);
    json_decref(doc);
    ef_model_free(m);

    /* classifier: JSON predict_proba, binary INT64 predict */
    m = tiny_model("lda", 1, 0);
    serve__oip_req rc = {.outputs = {SERVE__OUT_PROBA, SERVE__OUT_PREDICT}, .binary = {0, 1},
                         .n_outputs = 2, .want_proba = 1, .X = rq.X};
    ef_mat proba;
    assert_int_equal(ef_mat_init(&proba, 2, 3), 0);
    double pv[] = {0.5, 0.25, 0.25, 0, 0, 1}, labels[] = {3, 5};
    memcpy(proba.v, pv, sizeof pv);
    doc = serve__oip_reply(m, "eeg", "", &rc, labels, &proba);
    assert_int_equal(serve__oip_reply_body(doc, m, &rc, labels, &proba, &body, &len, &jl), 0);
    s = dump(doc);
    assert_non_null(strstr(s, "{\"datatype\":\"INT64\",\"name\":\"predict\",\"parameters\":"
                              "{\"binary_data_size\":16},\"shape\":[2]}"));
    assert_non_null(strstr(s, "\"data\":[0.5,0.25"));
    free(s);
    assert_int_equal(len, jl + 16);
    assert_int_equal(body[jl], 3);
    assert_int_equal(body[jl + 8], 5);
    free(body);
    /* both binary: blobs in output order (proba first) */
    rc.binary[0] = 1;
    doc = serve__oip_reply(m, "eeg", "", &rc, labels, &proba);
    assert_int_equal(serve__oip_reply_body(doc, m, &rc, labels, &proba, &body, &len, &jl), 0);
    json_decref(doc);
    assert_int_equal(len, jl + 48 + 16);
    for (size_t i = 0; i < 6; i++) assert_true(get_f64((unsigned char *)body + jl + 8 * i) == pv[i]);
    assert_int_equal(body[jl + 48 + 8], 5);
    free(body);
    ef_model_free(m);

    /* text labels: BYTES, a 4-byte length then the bytes */
    m = tiny_model("lda", 1, 1);
    rc.outputs[0] = SERVE__OUT_PREDICT;
    rc.n_outputs = 1;
    doc = serve__oip_reply(m, "eeg", "", &rc, labels, NULL);
    assert_int_equal(serve__oip_reply_body(doc, m, &rc, labels, NULL, &body, &len, &jl), 0);
    s = dump(doc);
    assert_non_null(strstr(s, "\"datatype\":\"BYTES\""));
    assert_non_null(strstr(s, "\"binary_data_size\":15"));
    free(s);
    assert_int_equal(len, jl + 15);
    assert_memory_equal(body + jl, "\3\0\0\0low\4\0\0\0high", 15);
    free(body);
    ef_model_free(m);
    ef_mat_release(&proba);
    ef_mat_release(&rq.X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_forms),     cmocka_unit_test(test_column_form),
        cmocka_unit_test(test_outputs),          cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_reply_regressor),  cmocka_unit_test(test_reply_classifier),
        cmocka_unit_test(test_kserve),           cmocka_unit_test(test_split),
        cmocka_unit_test(test_binary_inputs),    cmocka_unit_test(test_binary_size_checks),
        cmocka_unit_test(test_binary_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
