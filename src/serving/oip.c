/* oip.c - Open Inference Protocol v2 (KServe v2 / Triton / MLServer REST) for `edgeflow serve`.
 *
 * The pure half (oip.h): serve__oip_parse turns an inference request into the model's N x d
 * feature matrix following the spec's tensor rules (one [N, d] input, or one [N] / [N, 1] input
 * per feature named like the features; BOOL/INT32/INT64/FP32/FP64; flat or nested data, element
 * count == product of the shape), serve__oip_reply / serve__oip_metadata write the replies.
 * The routes half: /v2/health/live, /v2/health/ready, /v2, /v2/models/{m}[/versions/{v}],
 * .../ready, .../infer. Every failure answers {"error": "<one line>"}: 400 for bad input, 404 for
 * an unknown model or version, 503 while a model is still loading, 500 for the unexpected.
 * The binary tensor data extension (oip.h; byte layout in oip_bin.c): a request with
 * Inference-Header-Content-Length is split into JSON + input blobs; a reply with a binary output
 * goes as application/octet-stream with that header, JSON-only replies stay application/json.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/version.h"
#include "serving/oip.h"
#include "serving/serve_int.h"

#define OIP_MAX_DEPTH 16 /* nesting of "data" arrays we follow */

/* ---- shared helpers ------------------------------------------------------------------------ */

void serve__schema_of(const ef_model *m, serve__schema *sc)
{
    sc->n_features = m->est->n_features;
    sc->features = (const char *const *)m->feature_names;
    sc->classifier = m->est->type->task == EF_ML_CLASSIFIER && m->est->type->predict_proba;
    sc->estimator = m->est->type->name;
}

/* "a, b, c" (shortened with ", ..." to fit), for messages. */
static const char *feature_list(const serve__schema *sc, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < sc->n_features; j++) {
        int n = snprintf(buf + at, len - at, "%s%s", j ? ", " : "", sc->features[j]);
        if (n < 0 || (size_t)n >= len - at || at + (size_t)n > 160) {
            snprintf(buf + at, len - at, "%s...", j ? ", " : "");
            break;
        }
        at += (size_t)n;
    }
    return buf;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int parse_datatype(const char *s, const char *input, ef_ml_err *err)
{
    static const char *const unsupported[] = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8",
                                              "INT16", "FP16", "BF16", "BYTES", NULL};
    if (!strcmp(s, "BOOL")) return SERVE__DT_BOOL;
    if (!strcmp(s, "INT32")) return SERVE__DT_INT32;
    if (!strcmp(s, "INT64")) return SERVE__DT_INT64;
    if (!strcmp(s, "FP32")) return SERVE__DT_FP32;
    if (!strcmp(s, "FP64")) return SERVE__DT_FP64;
    for (size_t i = 0; unsupported[i]; i++)
        if (!strcmp(s, unsupported[i]))
            return ef_ml_errf(err, EF_EINVAL,
                              "input '%s': datatype %s is not supported; send BOOL, INT32, INT64, "
                              "FP32 or FP64", input, s);
    return ef_ml_errf(err, EF_EINVAL,
                      "input '%s': unknown datatype '%.40s'; send BOOL, INT32, INT64, FP32 or FP64",
                      input, s);
}

/* ---- request parsing ----------------------------------------------------------------------- */

/* One input tensor's header. */
typedef struct oip_input {
    const char *name;
    int dt;
    size_t rank, dims[2];
    const json_t *data;        /* NULL for a binary input */
    size_t bin_size;           /* binary: its blob's byte count (== count x element size) */
    const unsigned char *blob; /* binary: its blob, set once every input is parsed */
} oip_input;

/* Leaves of "data" go to dst[t * stride + off] for the t-th leaf in depth-first order. */
typedef struct leaf_sink {
    const oip_input *in;
    double *dst;
    size_t stride, off, t;
} leaf_sink;

static int count_leaves(const json_t *a, int depth, size_t *n, const char *input, ef_ml_err *err)
{
    if (!json_is_array(a)) {
        (*n)++;
        return 0;
    }
    if (depth >= OIP_MAX_DEPTH)
        return ef_ml_errf(err, EF_EINVAL, "input '%s': data is nested deeper than %d levels",
                          input, OIP_MAX_DEPTH);
    for (size_t i = 0; i < json_array_size(a); i++) {
        int rc = count_leaves(json_array_get(a, i), depth + 1, n, input, err);
        if (rc) return rc;
    }
    return 0;
}

static int put_leaf(leaf_sink *k, const json_t *v, ef_ml_err *err)
{
    static const char *const names[] = {"", "BOOL", "INT32", "INT64", "FP32", "FP64"};
    const oip_input *in = k->in;
    double x = 0;
    int ok = 0;
    switch (in->dt) {
    case SERVE__DT_BOOL:
        ok = json_is_boolean(v);
        x = json_is_true(v) ? 1.0 : 0.0;
        break;
    case SERVE__DT_INT32:
    case SERVE__DT_INT64:
        if (json_is_integer(v)) {
            x = (double)json_integer_value(v);
            ok = 1;
        } else if (json_is_real(v)) {
            x = json_real_value(v);
            ok = x == floor(x) && fabs(x) < 9.2e18;
        }
        if (ok && in->dt == SERVE__DT_INT32 && (x < INT32_MIN || x > INT32_MAX))
            return ef_ml_errf(err, EF_EINVAL,
                              "input '%s': element %zu (%.17g) is out of range for INT32",
                              in->name, k->t, x);
        break;
    default:
        ok = json_is_number(v);
        x = json_number_value(v);
        if (ok && in->dt == SERVE__DT_FP32) {
            if (fabs(x) > FLT_MAX)
                return ef_ml_errf(err, EF_EINVAL,
                                  "input '%s': element %zu (%.17g) is out of range for FP32",
                                  in->name, k->t, x);
            x = (double)(float)x;
        }
        break;
    }
    if (!ok)
        return ef_ml_errf(err, EF_EINVAL, "input '%s' is %s but element %zu is %s%s", in->name,
                          names[in->dt], k->t,
                          json_is_real(v) && in->dt != SERVE__DT_BOOL ? "not integral" : json_kind(v),
                          in->dt == SERVE__DT_BOOL ? "; expected true or false" : "; expected a number");
    if (!isfinite(x))
        return ef_ml_errf(err, EF_EINVAL, "input '%s': element %zu is not a finite number",
                          in->name, k->t);
    k->dst[k->t * k->stride + k->off] = x;
    k->t++;
    return 0;
}

static int fill_leaves(leaf_sink *k, const json_t *a, ef_ml_err *err)
{
    if (!json_is_array(a)) return put_leaf(k, a, err);
    for (size_t i = 0; i < json_array_size(a); i++) {
        int rc = fill_leaves(k, json_array_get(a, i), err); /* depth checked by count_leaves */
        if (rc) return rc;
    }
    return 0;
}

static const char *shape_text(const oip_input *in, char *buf, size_t len)
{
    if (in->rank == 1)
        snprintf(buf, len, "[%zu]", in->dims[0]);
    else
        snprintf(buf, len, "[%zu, %zu]", in->dims[0], in->dims[1]);
    return buf;
}

static int parse_input(const json_t *t, size_t i, oip_input *in, ef_ml_err *err)
{
    if (!json_is_object(t))
        return ef_ml_errf(err, EF_EINVAL, "inputs[%zu] must be an object with name, shape, "
                          "datatype and data", i);
    const json_t *name = json_object_get(t, "name"), *dt = json_object_get(t, "datatype");
    const json_t *shape = json_object_get(t, "shape");
    if (!json_is_string(name))
        return ef_ml_errf(err, EF_EINVAL, "inputs[%zu]: \"name\" (a string) is required", i);
    in->name = json_string_value(name);
    if (!json_is_string(dt))
        return ef_ml_errf(err, EF_EINVAL, "input '%s': \"datatype\" (a string such as \"FP64\") "
                          "is required", in->name);
    in->dt = parse_datatype(json_string_value(dt), in->name, err);
    if (in->dt < 0) return in->dt;
    size_t rank = json_array_size(shape);
    if (!json_is_array(shape) || rank < 1 || rank > 2)
        return ef_ml_errf(err, EF_EINVAL, "input '%s': \"shape\" must be [N, d] or [N] "
                          "(an array of 1 or 2 sizes)", in->name);
    in->rank = rank;
    uint64_t lim = (uint64_t)1 << 40; /* also keeps every size below in size_t (32-bit too) */
    if (lim > SIZE_MAX / 16) lim = SIZE_MAX / 16;
    for (size_t r = 0; r < rank; r++) {
        const json_t *d = json_array_get(shape, r);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            (uint64_t)json_integer_value(d) > lim)
            return ef_ml_errf(err, EF_EINVAL, "input '%s': shape[%zu] must be a size >= 0",
                              in->name, r);
        in->dims[r] = (size_t)json_integer_value(d);
    }
    /* element count x 8 bytes cannot wrap below this */
    if (rank == 2 && in->dims[1] && in->dims[0] > SIZE_MAX / 16 / in->dims[1])
        return ef_ml_errf(err, EF_EINVAL, "input '%s': shape is too large", in->name);
    size_t want = in->dims[0] * (rank == 2 ? in->dims[1] : 1), have = 0;
    char sh[64];
    in->data = json_object_get(t, "data");
    const json_t *bds = json_object_get(json_object_get(t, "parameters"), "binary_data_size");
    if (bds) {
        if (in->data)
            return ef_ml_errf(err, EF_EINVAL, "input '%s' has both \"data\" and "
                              "binary_data_size; send the values one way only", in->name);
        if (!json_is_integer(bds) || json_integer_value(bds) < 0)
            return ef_ml_errf(err, EF_EINVAL, "input '%s': binary_data_size must be a byte "
                              "count >= 0", in->name);
        size_t es = serve__oip_dt_size(in->dt);
        if ((uint64_t)json_integer_value(bds) != (uint64_t)want * es)
            return ef_ml_errf(err, EF_EINVAL, "input '%s': binary_data_size is %lld but shape "
                              "%s of %s needs %zu bytes (%zu per element)", in->name,
                              (long long)json_integer_value(bds), shape_text(in, sh, sizeof sh),
                              json_string_value(dt), want * es, es);
        in->bin_size = want * es;
        return 0;
    }
    if (!in->data)
        return ef_ml_errf(err, EF_EINVAL, "input '%s': \"data\" is required (or "
                          "parameters.binary_data_size with the binary extension)", in->name);
    int rc = count_leaves(in->data, 0, &have, in->name, err);
    if (rc) return rc;
    if (have != want)
        return ef_ml_errf(err, EF_EINVAL, "input '%s': shape %s needs %zu values but data has %zu",
                          in->name, shape_text(in, sh, sizeof sh), want, have);
    return 0;
}

/* Gives each binary input its blob: consecutive slices of blob in input order that must cover
 * blob_len exactly. blob NULL: the request had no binary section. */
static int assign_blobs(oip_input *ins, size_t n, const unsigned char *blob, size_t blob_len,
                        ef_ml_err *err)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (ins[i].data) continue;
        if (!blob)
            return ef_ml_errf(err, EF_EINVAL, "input '%s' has binary_data_size but the request "
                              "has no Inference-Header-Content-Length header (the JSON length; "
                              "the binary data follows it)", ins[i].name);
        if (ins[i].bin_size > blob_len - used)
            return ef_ml_errf(err, EF_EINVAL, "input '%s' needs %zu bytes of binary data but "
                              "only %zu are left after the JSON header and earlier inputs",
                              ins[i].name, ins[i].bin_size, blob_len - used);
        ins[i].blob = blob + used;
        used += ins[i].bin_size;
    }
    if (used != blob_len)
        return ef_ml_errf(err, EF_EINVAL, "%zu bytes follow the JSON header but the binary inputs "
                          "(binary_data_size) account for %zu; the sizes must add up", blob_len,
                          used);
    return 0;
}

/* Fills the sink from the input's JSON data or its blob. */
static int fill_input(leaf_sink *k, ef_ml_err *err)
{
    const oip_input *in = k->in;
    if (in->data) return fill_leaves(k, in->data, err);
    return serve__oip_blob_fill(in->dt, in->blob, in->bin_size / serve__oip_dt_size(in->dt),
                                k->dst, k->stride, k->off, in->name, err);
}

/* Reads "outputs" and the request-level "parameters" into out->outputs. */
static int parse_outputs(const json_t *doc, const serve__schema *sc, serve__oip_req *out,
                         ef_ml_err *err)
{
    const json_t *params = json_object_get(doc, "parameters"), *outs = json_object_get(doc,
                                                                                       "outputs");
    int proba_param = 0, bin_default = 0;
    if (params && !json_is_null(params)) {
        if (!json_is_object(params))
            return ef_ml_errf(err, EF_EINVAL, "\"parameters\" must be an object");
        const json_t *pp = json_object_get(params, "predict_proba");
        if (pp && !json_is_boolean(pp))
            return ef_ml_errf(err, EF_EINVAL, "parameter predict_proba must be true or false");
        proba_param = json_is_true(pp);
        const json_t *bo = json_object_get(params, "binary_data_output");
        if (bo && !json_is_boolean(bo))
            return ef_ml_errf(err, EF_EINVAL, "parameter binary_data_output must be true or "
                              "false");
        bin_default = json_is_true(bo);
    }
    if (outs && !json_is_null(outs) && !json_is_array(outs))
        return ef_ml_errf(err, EF_EINVAL, "\"outputs\" must be an array of {\"name\": ...}");
    if (json_array_size(outs) == 0) {
        out->binary[out->n_outputs] = bin_default;
        out->outputs[out->n_outputs++] = SERVE__OUT_PREDICT;
        if (proba_param) {
            if (!sc->classifier)
                return ef_ml_errf(err, EF_EINVAL, "parameter predict_proba: model %s is a "
                                  "regressor and has no probabilities", sc->estimator);
            out->binary[out->n_outputs] = bin_default;
            out->outputs[out->n_outputs++] = SERVE__OUT_PROBA;
        }
        return 0;
    }
    for (size_t i = 0; i < json_array_size(outs); i++) {
        const json_t *o = json_array_get(outs, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!name)
            return ef_ml_errf(err, EF_EINVAL, "outputs[%zu] must be an object with a \"name\"", i);
        int kind = !strcmp(name, "predict") ? SERVE__OUT_PREDICT
                   : !strcmp(name, "predict_proba") ? SERVE__OUT_PROBA : 0;
        if (!kind)
            return ef_ml_errf(err, EF_EINVAL, "unknown output '%.60s'; this model has %s", name,
                              sc->classifier ? "predict and predict_proba" : "predict");
        if (kind == SERVE__OUT_PROBA && !sc->classifier)
            return ef_ml_errf(err, EF_EINVAL, "output predict_proba: model %s is a regressor "
                              "and has no probabilities; ask for predict", sc->estimator);
        const json_t *bd = json_object_get(json_object_get(o, "parameters"), "binary_data");
        if (bd && !json_is_boolean(bd))
            return ef_ml_errf(err, EF_EINVAL, "output '%s': binary_data must be true or false",
                              name);
        for (size_t j = 0; j < out->n_outputs; j++)
            if (out->outputs[j] == kind)
                return ef_ml_errf(err, EF_EINVAL, "output '%s' is asked for twice", name);
        out->binary[out->n_outputs] = bd ? json_is_true(bd) : bin_default;
        out->outputs[out->n_outputs++] = kind;
    }
    return 0;
}

static long feature_index(const serve__schema *sc, const char *name)
{
    for (size_t j = 0; j < sc->n_features; j++)
        if (!strcmp(sc->features[j], name)) return (long)j;
    return -1;
}

/* Column form: n inputs, each [N] or [N, 1], one per feature. */
static int fill_columns(const oip_input *ins, size_t n, const serve__schema *sc,
                        serve__oip_req *out, ef_ml_err *err)
{
    char fl[200];
    size_t d = sc->n_features, rows = ins[0].dims[0];
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char sh[64];
        if (ins[i].rank == 2 && ins[i].dims[1] != 1)
            return ef_ml_errf(err, EF_EINVAL, "input '%s' has shape %s; with one input per "
                              "feature each must be [N] or [N, 1]", ins[i].name,
                              shape_text(&ins[i], sh, sizeof sh));
        if (ins[i].dims[0] != rows)
            return ef_ml_errf(err, EF_EINVAL, "input '%s' has %zu rows but input '%s' has %zu; "
                              "every input needs the same N", ins[i].name, ins[i].dims[0],
                              ins[0].name, rows);
    }
    if (rows == 0)
        return ef_ml_errf(err, EF_EINVAL, "empty batch: the inputs have 0 rows; send at least one");
    rc = ef_mat_init(&out->X, rows, d);
    if (rc) return ef_ml_errf(err, rc, "no memory for %zu x %zu inputs", rows, d);
    for (size_t i = 0; i < n; i++) {
        long k = n == 1 && d == 1 ? 0 : feature_index(sc, ins[i].name);
        if (k < 0)
            return ef_ml_errf(err, EF_EINVAL, "input '%s' is not a feature of this model; send "
                              "one [N, %zu] input or one input per feature: %s", ins[i].name, d,
                              feature_list(sc, fl, sizeof fl));
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ins[j].name, ins[i].name))
                return ef_ml_errf(err, EF_EINVAL, "input '%s' is given twice", ins[i].name);
        leaf_sink sink = {&ins[i], out->X.v, d, (size_t)k, 0};
        rc = fill_input(&sink, err);
        if (rc) return rc;
    }
    return 0;
}

int serve__oip_parse(const json_t *doc, const serve__schema *sc, serve__oip_req *out,
                     ef_ml_err *err)
{
    return serve__oip_parse_bin(doc, NULL, 0, sc, out, err);
}

int serve__oip_parse_bin(const json_t *doc, const unsigned char *blob, size_t blob_len,
                         const serve__schema *sc, serve__oip_req *out, ef_ml_err *err)
{
    oip_input *ins = NULL;
    char fl[200];
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc)) {
        rc = ef_ml_errf(err, EF_EINVAL, "the request must be a JSON object with \"inputs\"");
        goto out;
    }
    const json_t *id = json_object_get(doc, "id");
    if (id && !json_is_null(id) && !json_is_string(id)) {
        rc = ef_ml_errf(err, EF_EINVAL, "\"id\" must be a string");
        goto out;
    }
    out->id = json_string_value(id);
    rc = parse_outputs(doc, sc, out, err);
    if (rc) goto out;
    for (size_t i = 0; i < out->n_outputs; i++)
        out->want_proba |= out->outputs[i] == SERVE__OUT_PROBA;

    const json_t *inputs = json_object_get(doc, "inputs");
    size_t n = json_array_size(inputs), d = sc->n_features;
    if (!json_is_array(inputs) || n == 0) {
        rc = ef_ml_errf(err, EF_EINVAL, "\"inputs\" must be a non-empty array of tensors "
                        "({\"name\", \"shape\", \"datatype\", \"data\"})");
        goto out;
    }
    if (n != 1 && n != d) {
        rc = ef_ml_errf(err, EF_EINVAL, "%zu inputs given; this model takes one input of shape "
                        "[N, %zu] or %zu inputs of shape [N] (one per feature: %s)", n, d, d,
                        feature_list(sc, fl, sizeof fl));
        goto out;
    }
    ins = calloc(n, sizeof *ins);
    if (!ins) {
        rc = ef_ml_errf(err, EF_ENOMEM, "no memory for %zu inputs", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = parse_input(json_array_get(inputs, i), i, &ins[i], err);
        if (rc) goto out;
    }
    rc = assign_blobs(ins, n, blob, blob_len, err);
    if (rc) goto out;
    if (n == 1 && ins[0].rank == 2 && ins[0].dims[1] == d) {
        if (ins[0].dims[0] == 0) {
            rc = ef_ml_errf(err, EF_EINVAL, "empty batch: input '%s' has shape [0, %zu]; send at "
                            "least one row", ins[0].name, d);
            goto out;
        }
        rc = ef_mat_init(&out->X, ins[0].dims[0], d);
        if (rc) {
            rc = ef_ml_errf(err, rc, "no memory for a %zu x %zu input", ins[0].dims[0], d);
            goto out;
        }
        leaf_sink sink = {&ins[0], out->X.v, 1, 0, 0};
        rc = fill_input(&sink, err);
    } else if (n == 1 && d != 1) {
        char sh[64];
        rc = ef_ml_errf(err, EF_EINVAL, "input '%s' has shape %s; this model takes [N, %zu] "
                        "(features: %s)", ins[0].name, shape_text(&ins[0], sh, sizeof sh), d,
                        feature_list(sc, fl, sizeof fl));
    } else {
        rc = fill_columns(ins, n, sc, out, err);
    }
out:
    free(ins);
    if (rc) serve__oip_req_release(out);
    return rc;
}

void serve__oip_req_release(serve__oip_req *r)
{
    ef_mat_release(&r->X);
    memset(r, 0, sizeof *r);
}

/* ---- replies ------------------------------------------------------------------------------- */

static int integral_classes(const ef_estimator *e)
{
    if (e->type->task != EF_ML_CLASSIFIER || !e->classes) return 0;
    for (size_t k = 0; k < e->n_classes; k++)
        if (e->classes[k] != floor(e->classes[k]) || fabs(e->classes[k]) >= 1e15) return 0;
    return 1;
}

const char *serve__oip_pred_datatype(const ef_model *m)
{
    if (m->class_names) return "BYTES";
    return integral_classes(m->est) ? "INT64" : "FP64";
}

json_t *serve__pred_json(const ef_model *m, double y)
{
    if (m->class_names) {
        int k = ef_ml_class_index(m->est, y);
        if (k >= 0) return json_string(m->class_names[k]);
    }
    if (integral_classes(m->est) && y == floor(y) && fabs(y) < 1e15)
        return json_integer((json_int_t)y);
    return json_real(y);
}

static json_t *shape_json(long a, long b, int rank)
{
    json_t *s = json_array();
    json_array_append_new(s, json_integer(a));
    if (rank == 2) json_array_append_new(s, json_integer(b));
    if (json_array_size(s) != (size_t)rank) {
        json_decref(s);
        return NULL;
    }
    return s;
}

/* {"name", "datatype", "shape"[, "data"]}; steals shape and data (data NULL: metadata). */
static json_t *tensor_json(const char *name, const char *dt, json_t *shape, json_t *data)
{
    json_t *t = json_object();
    int bad = !t || !shape;
    bad |= json_object_set_new(t, "name", json_string(name));
    bad |= json_object_set_new(t, "datatype", json_string(dt));
    bad |= json_object_set_new(t, "shape", shape);
    if (data) bad |= json_object_set_new(t, "data", data);
    if (bad) {
        json_decref(t);
        return NULL;
    }
    return t;
}

json_t *serve__oip_reply(const ef_model *m, const char *name, const char *version,
                         const serve__oip_req *rq, const double *pred, const ef_mat *proba)
{
    size_t rows = rq->X.rows;
    json_t *doc = json_object(), *outs = json_array();
    int bad = !doc || !outs;
    bad |= json_object_set_new(doc, "model_name", json_string(name));
    if (version && *version) bad |= json_object_set_new(doc, "model_version", json_string(version));
    if (rq->id) bad |= json_object_set_new(doc, "id", json_string(rq->id));
    for (size_t o = 0; o < rq->n_outputs && !bad; o++) {
        int bin = rq->binary[o];
        json_t *data = bin ? NULL : json_array(), *t;
        bad |= !bin && !data;
        if (rq->outputs[o] == SERVE__OUT_PREDICT) {
            for (size_t i = 0; i < rows && data; i++)
                bad |= json_array_append_new(data, serve__pred_json(m, pred[i]));
            t = tensor_json("predict", serve__oip_pred_datatype(m), shape_json((long)rows, 0, 1),
                            data);
        } else {
            size_t k = proba ? proba->cols : 0;
            for (size_t i = 0; proba && i < rows * k && data; i++)
                bad |= json_array_append_new(data, json_real(proba->v[i]));
            bad |= !proba || proba->rows != rows;
            t = tensor_json("predict_proba", "FP64", shape_json((long)rows, (long)k, 2), data);
        }
        if (bin && t) /* the blob follows the JSON (serve__oip_reply_body) */
            bad |= json_object_set_new(t, "parameters",
                                       json_pack("{s:I}", "binary_data_size",
                                                 (json_int_t)serve__oip_output_bytes(
                                                     m, rq, o, pred, proba)));
        bad |= json_array_append_new(outs, t);
    }
    bad |= json_object_set(doc, "outputs", outs);
    json_decref(outs);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *serve__oip_metadata(const ef_model *m, const char *name, const char *version)
{
    const ef_estimator *e = m->est;
    int cls = e->type->task == EF_ML_CLASSIFIER && e->type->predict_proba;
    json_t *doc = json_object(), *ins = json_array(), *outs = json_array(), *params = json_object();
    json_t *versions = json_array();
    int bad = !doc || !ins || !outs || !params || !versions;
    bad |= json_object_set_new(doc, "name", json_string(name));
    if (version && *version) bad |= json_array_append_new(versions, json_string(version));
    bad |= json_object_set(doc, "versions", versions);
    bad |= json_object_set_new(doc, "platform", json_string("edgeflow"));
    for (size_t j = 0; j < e->n_features && !bad; j++)
        bad |= json_array_append_new(ins, tensor_json(m->feature_names[j], "FP64",
                                                      shape_json(-1, 1, 2), NULL));
    bad |= json_array_append_new(outs, tensor_json("predict", serve__oip_pred_datatype(m),
                                                   shape_json(-1, 0, 1), NULL));
    if (cls)
        bad |= json_array_append_new(outs, tensor_json("predict_proba", "FP64",
                                                       shape_json(-1, (long)e->n_classes, 2),
                                                       NULL));
    bad |= json_object_set(doc, "inputs", ins);
    bad |= json_object_set(doc, "outputs", outs);
    bad |= json_object_set_new(params, "estimator", json_string(e->type->name));
    bad |= json_object_set_new(params, "task", json_string(e->type->task == EF_ML_CLASSIFIER
                                                               ? "classifier"
                                                               : "regressor"));
    if (m->target) bad |= json_object_set_new(params, "target", json_string(m->target));
    bad |= json_object_set(doc, "parameters", params);
    json_decref(ins);
    json_decref(outs);
    json_decref(params);
    json_decref(versions);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- routes -------------------------------------------------------------------------------- */

/* The version the path names (params "model", "version"), or NULL after a 404/503 reply. */
static serve__version *acquire_or_reply(ef_http_req *r, serve__ctx *s)
{
    const char *name = ef_http_req_param(r, "model"), *version = ef_http_req_param(r, "version");
    serve__version *v = serve__acquire(s, name, version);
    serve__tag_reply(r, v);
    if (v) return v;
    const char *names[64];
    size_t n = serve__model_names(s, names, 64), known = 0;
    char list[300] = "";
    size_t at = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        known |= !strcmp(names[i], name);
        int w = snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof list - at) break;
        at += (size_t)w;
    }
    if (known && version)
        ef_http_reply_error(r, 404, "model '%s' has no version '%s' loaded", name, version);
    else if (known)
        ef_http_reply_error(r, 503, "model '%s' is not loaded yet; try again shortly", name);
    else
        ef_http_reply_error(r, 404, "unknown model '%s'; models served: %s", name,
                            n ? list : "(none)");
    return NULL;
}

static void h_live(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply_json(r, 200, json_pack("{s:b}", "live", 1));
}

static void h_ready(ef_http_req *r, void *ctx)
{
    if (serve__ready(ctx))
        ef_http_reply_json(r, 200, json_pack("{s:b}", "ready", 1));
    else
        ef_http_reply_error(r, 503, "not ready: models are still loading");
}

static void h_server_meta(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply_json(r, 200, json_pack("{s:s, s:s, s:[s]}", "name", "edgeflow", "version",
                                         EF_VERSION, "extensions", "binary_tensor_data"));
}

static void h_model_meta(ef_http_req *r, void *ctx)
{
    serve__version *v = acquire_or_reply(r, ctx);
    if (!v) return;
    json_t *doc = serve__oip_metadata(v->model, v->name, v->version);
    if (doc)
        ef_http_reply_json(r, 200, doc);
    else
        ef_http_reply_error(r, 500, "out of memory writing the model metadata");
    serve__release(v);
}

static void h_model_ready(ef_http_req *r, void *ctx)
{
    serve__version *v = acquire_or_reply(r, ctx);
    if (!v) return;
    ef_http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", v->name, "ready", 1));
    serve__release(v);
}

/* The request document; with Inference-Header-Content-Length (binary extension) the body's
 * first bytes are the JSON and *blob / *blob_len (borrowed from r) the rest. NULL after an error
 * reply (413 over --max-body, 400 for a bad split or JSON), with *status set. */
static json_t *read_request(ef_http_req *r, serve__ctx *s, const unsigned char **blob,
                            size_t *blob_len, int *status)
{
    const char *hdr = ef_http_req_header(r, "Inference-Header-Content-Length");
    size_t len = 0, json_len = 0;
    ef_ml_err err = {{0}};
    json_error_t je;
    *blob = NULL;
    *blob_len = 0;
    if (!hdr) return serve__body_json(r, s, status);
    const char *body = ef_http_req_body(r, &len);
    if (len > serve__max_body(s)) {
        *status = 413;
        ef_http_reply_error(r, 413, "the request body (%zu bytes) is over the limit of %zu bytes "
                            "(--max-body)", len, serve__max_body(s));
        return NULL;
    }
    if (serve__oip_split(hdr, len, &json_len, &err)) {
        *status = 400;
        ef_http_reply_error(r, 400, "%s", err.msg);
        return NULL;
    }
    json_t *doc = json_loadb(body, json_len, 0, &je);
    if (!doc) {
        *status = 400;
        ef_http_reply_error(r, 400, "the JSON inference header (the first %zu bytes, as "
                            "Inference-Header-Content-Length says) is not valid JSON: %s",
                            json_len, je.text);
        return NULL;
    }
    *blob = (const unsigned char *)body + json_len;
    *blob_len = len - json_len;
    return doc;
}

/* Answers 200 with the reply: JSON, or the JSON header + blobs when an output is binary. */
static void send_reply(ef_http_req *r, const serve__version *v, const serve__oip_req *rq,
                       const serve__result *res, int *status)
{
    json_t *reply = serve__oip_reply(v->model, v->name, v->version, rq, res->pred, &res->proba);
    int binary = 0;
    for (size_t i = 0; i < rq->n_outputs; i++) binary |= rq->binary[i];
    if (!reply || !binary) {
        serve__reply(r, reply, status);
        return;
    }
    char *body = NULL, hv[32];
    size_t len = 0, json_len = 0;
    int rc = serve__oip_reply_body(reply, v->model, rq, res->pred, &res->proba, &body, &len,
                                   &json_len);
    json_decref(reply);
    snprintf(hv, sizeof hv, "%zu", json_len);
    if (rc || ef_http_add_header(r, "Inference-Header-Content-Length", hv)) {
        free(body);
        serve__reply(r, NULL, status);
        return;
    }
    *status = 200;
    ef_http_reply_take(r, 200, "application/octet-stream", body, len);
}

static void h_infer(ef_http_req *r, void *ctx)
{
    serve__ctx *s = ctx;
    int64_t t0 = ef_mono_us();
    serve__oip_req rq = {0};
    serve__result res = {0};
    ef_ml_err err = {{0}};
    json_t *doc = NULL;
    const unsigned char *blob = NULL;
    size_t blob_len = 0;
    int status = 200;
    serve__version *v = acquire_or_reply(r, s);
    if (!v) return;
    if (!(doc = read_request(r, s, &blob, &blob_len, &status)))
        goto out;
    serve__schema sc;
    serve__schema_of(v->model, &sc);
    int rc = serve__oip_parse_bin(doc, blob, blob_len, &sc, &rq, &err);
    if (!rc) rc = serve__predict(v, &rq.X, rq.want_proba, &res, &err);
    if (rc) {
        serve__fail(r, rc, &err, &status);
        goto out;
    }
    send_reply(r, v, &rq, &res, &status);
out:
    serve__observe(s, v, "oip", status, (double)(ef_mono_us() - t0) / 1e6);
    serve__result_release(&res);
    serve__oip_req_release(&rq);
    json_decref(doc);
    serve__release(v);
}

int serve__oip_routes(serve__ctx *s, ef_http_server *http)
{
    static const char *const bases[] = {"/v2/models/{model}",
                                        "/v2/models/{model}/versions/{version}"};
    int rc = ef_http_route(http, "GET", "/v2/health/live", h_live, s);
    if (!rc) rc = ef_http_route(http, "GET", "/v2/health/ready", h_ready, s);
    if (!rc) rc = ef_http_route(http, "GET", "/v2", h_server_meta, s);
    for (size_t i = 0; i < 2 && !rc; i++) {
        char p[96];
        rc = ef_http_route(http, "GET", bases[i], h_model_meta, s);
        snprintf(p, sizeof p, "%s/ready", bases[i]);
        if (!rc) rc = ef_http_route(http, "GET", p, h_model_ready, s);
        snprintf(p, sizeof p, "%s/infer", bases[i]);
        if (!rc) rc = ef_http_route(http, "POST", p, h_infer, s);
    }
    return rc;
}
