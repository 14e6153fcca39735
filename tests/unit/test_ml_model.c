/* test_ml_model.c - model directories: save/load round trips predict bit for bit, MLmodel is
 * valid YAML with the flavours and signature, odd feature names survive, and every malformed
 * directory or model.json is refused with a message instead of crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "base/fs.h"
#include "ml/model.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ef-model-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ef_fs_rm_rf(tmpdir);
    return 0;
}

static void data(ef_mat *X, double *y, size_t n, int classify)
{
    assert_int_equal(ef_mat_init(X, n, 3), 0);
    for (size_t i = 0; i < n; i++) {
        EF_MAT_AT(X, i, 0) = (double)(i % 7) + 0.5;
        EF_MAT_AT(X, i, 1) = (double)((i * 3) % 5) - 1.25;
        EF_MAT_AT(X, i, 2) = (double)i / (double)n;
        double t = 2 * EF_MAT_AT(X, i, 0) - EF_MAT_AT(X, i, 1) + 0.1 * EF_MAT_AT(X, i, 2);
        y[i] = classify ? (t > 6 ? 2 : t > 3 ? 1 : 0) : t;
    }
}

static const char *const names[] = {"fixed acidity", "a: b #c", "true"};

static ef_model *fitted(const char *type, int classify)
{
    ef_mat X;
    double y[60];
    data(&X, y, 60, classify);
    ef_estimator *e = ef_estimator_new(ef_ml_type_find(type));
    assert_non_null(e);
    ef_ml_err err;
    if (!classify)
        assert_int_equal(ef_estimator_set(e, "alpha", "0.01", &err), 0);
    assert_int_equal(ef_estimator_fit(e, &X, y, &err), 0);
    ef_model *m = ef_model_new(e, names);
    assert_non_null(m);
    m->target = strdup("quality");
    assert_int_equal(ef_model_add_normalize_l2(m), 0);
    assert_int_equal(ef_model_set_input_example(m, &X), 0);
    ef_mat_release(&X);
    return m;
}

static void predict_both(ef_model *a, ef_model *b)
{
    ef_mat X1, X2;
    double y[60], p1[60], p2[60];
    ef_ml_err err;
    data(&X1, y, 60, 0);
    data(&X2, y, 60, 0);
    assert_int_equal(ef_model_predict(a, &X1, p1, &err), 0);
    assert_int_equal(ef_model_predict(b, &X2, p2, &err), 0);
    assert_memory_equal(p1, p2, sizeof p1);
    ef_mat_release(&X1);
    ef_mat_release(&X2);
}

static char *slurp(const char *dir, const char *file)
{
    char path[256];
    ef_buf b = {0};
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (ef_fs_read(path, 1 << 24, &b))
        return NULL;
    return ef_buf_take(&b, NULL);
}

static void put(const char *dir, const char *file, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    assert_int_equal(ef_fs_write_atomic(path, text, strlen(text), 0), 0);
}

static void test_round_trip_regressor(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/m1", tmpdir);
    ef_model *m = fitted("elasticnet", 0), *back = NULL;
    ef_ml_err err;
    json_t *mlmodel = NULL;
    assert_int_equal(ef_model_save(m, dir, 0, &mlmodel, &err), 0);
    assert_non_null(json_object_get(json_object_get(mlmodel, "flavors"), "edgeflow"));
    json_decref(mlmodel);
    assert_int_equal(ef_model_load(dir, &back, &err), 0);
    assert_string_equal(back->feature_names[1], "a: b #c");
    assert_string_equal(back->feature_names[2], "true");
    assert_string_equal(back->target, "quality");
    assert_int_equal(json_array_size(back->preprocess), 1);
    predict_both(m, back);
    /* a second save over the first needs overwrite */
    assert_int_equal(ef_model_save(m, dir, 0, NULL, &err), EF_EEXIST);
    assert_int_equal(ef_model_save(m, dir, 1, NULL, &err), 0);
    /* MLmodel is YAML with the signature as JSON text naming the features */
    char *yml = slurp(dir, "MLmodel");
    assert_non_null(yml);
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)yml, strlen(yml));
    assert_true(yaml_parser_load(&p, &doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    assert_non_null(strstr(yml, "a: b #c"));
    assert_non_null(strstr(yml, "model_file: model.json"));
    free(yml);
    char *ex = slurp(dir, "input_example.json");
    assert_non_null(ex);
    assert_non_null(strstr(ex, "\"columns\""));
    free(ex);
    ef_model_free(back);
    ef_model_free(m);
}

static void test_round_trip_classifier(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/m2", tmpdir);
    ef_model *m = fitted("logistic_regression", 1), *back = NULL;
    ef_ml_err err;
    m->class_names = calloc(3, sizeof(char *));
    m->class_names[0] = strdup("low");
    m->class_names[1] = strdup("mid");
    m->class_names[2] = strdup("high");
    assert_int_equal(ef_model_save(m, dir, 0, NULL, &err), 0);
    assert_int_equal(ef_model_load(dir, &back, &err), 0);
    char buf[32];
    assert_string_equal(ef_model_label(back, 2, buf, sizeof buf), "high");
    assert_int_equal(back->est->n_classes, 3);
    predict_both(m, back);
    ef_model_free(back);
    ef_model_free(m);
}

/* Each broken model.json must be refused with a message naming the problem. */
static void test_bad_model_json(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/m3", tmpdir);
    ef_model *m = fitted("elasticnet", 0), *back = NULL;
    ef_ml_err err;
    assert_int_equal(ef_model_save(m, dir, 0, NULL, &err), 0);
    ef_model_free(m);
    char *good = slurp(dir, "model.json");
    json_t *doc = json_loads(good, 0, NULL);
    assert_non_null(doc);
    static const struct {
        const char *path, *value, *expect;
    } cases[] = {
        {"estimator", "\"no_such\"", "unknown estimator"},
        {"format", "\"other\"", "format"},
        {"format_version", "2", "format_version"},
        {"n_features", "-3", "n_features"},
        {"weights", "[]", "weights"},
        {"feature_names", "[1,2,3]", "feature_names"},
        {"params", "{\"alpha\":\"x\"}", "alpha"},
        {"params", "{\"nope\":1}", "nope"},
        {"preprocess", "[{\"op\":\"log\"}]", "preprocess"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *copy = json_deep_copy(doc);
        json_object_set_new(copy, cases[i].path, json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
        char *text = json_dumps(copy, 0);
        put(dir, "model.json", text);
        int rc = ef_model_load(dir, &back, &err);
        assert_int_not_equal(rc, 0);
        assert_null(back);
        if (!strstr(err.msg, cases[i].expect))
            fail_msg("case %zu: '%s' does not mention '%s'", i, err.msg, cases[i].expect);
        free(text);
        json_decref(copy);
    }
    /* the coefficient vector has the wrong length */
    json_t *copy = json_deep_copy(doc);
    json_array_remove(json_object_get(json_object_get(copy, "weights"), "coef"), 0);
    char *text = json_dumps(copy, 0);
    put(dir, "model.json", text);
    assert_int_not_equal(ef_model_load(dir, &back, &err), 0);
    free(text);
    json_decref(copy);
    put(dir, "model.json", "{not json");
    assert_int_equal(ef_model_load(dir, &back, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    /* MLmodel problems */
    put(dir, "model.json", good);
    put(dir, "MLmodel", "flavors:\n  sklearn: {}\n");
    assert_int_equal(ef_model_load(dir, &back, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "edgeflow"));
    put(dir, "MLmodel", "flavors:\n  edgeflow: {model_file: ../../etc/passwd}\n");
    assert_int_equal(ef_model_load(dir, &back, &err), EF_EINVAL);
    put(dir, "MLmodel", "flavors: [\n");
    assert_int_equal(ef_model_load(dir, &back, &err), EF_EINVAL);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none", tmpdir);
    assert_int_equal(ef_model_load(missing, &back, &err), EF_ENOTFOUND);
    free(good);
    json_decref(doc);
}

/* MLflow's own xgboost flavour (mlflow.xgboost.save_model; no edgeflow flavour, no model.json):
 * the booster's predictions, class indices, names from the signature. */
static void test_mlflow_xgboost_flavour(void **state)
{
    (void)state;
    const ef_ml_type *t = ef_ml_type_find("xgboost_classifier");
    if (!t)
        skip(); /* built without XGBoost */
    char dir[128], model_json[160];
    ef_mat X, P1, P2;
    double y[60];
    ef_ml_err err;
    ef_model *back = NULL;
    snprintf(dir, sizeof dir, "%s/mlflow_xgb", tmpdir);
    data(&X, y, 60, 1);
    ef_estimator *e = ef_estimator_new(t);
    assert_int_equal(ef_estimator_set(e, "n_estimators", "5", &err), 0);
    assert_int_equal(ef_estimator_fit(e, &X, y, &err), 0);
    ef_mat_release(&X);
    ef_model *m = ef_model_new(e, NULL);
    assert_int_equal(ef_model_save(m, dir, 0, NULL, &err), 0);
    snprintf(model_json, sizeof model_json, "%s/model.json", dir);
    assert_int_equal(unlink(model_json), 0);
    const char *head = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: "
                       "mlflow.xgboost\n    data: xgb_model.json\n  xgboost:\n    code: null\n"
                       "    data: xgb_model.json\n    model_class: xgboost.sklearn.XGBClassifier\n"
                       "    model_format: json\n    xgb_version: 1.7.4\nmlflow_version: 2.12.2\n";
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%ssignature:\n  inputs: '[{\"type\": \"double\", \"name\": "
             "\"fixed acidity\"}, {\"type\": \"double\", \"name\": \"a: b #c\"}, {\"type\": "
             "\"double\", \"name\": \"true\"}]'\n  params: null\n", head);
    put(dir, "MLmodel", yaml);
    assert_int_equal(ef_model_load(dir, &back, &err), 0);
    assert_int_equal(back->est->n_features, 3);
    assert_int_equal(back->est->n_classes, 3);
    assert_true(back->est->classes[2] == 2);
    assert_int_equal(json_array_size(back->preprocess), 0);
    for (size_t j = 0; j < 3; j++)
        assert_string_equal(back->feature_names[j], names[j]);
    predict_both(m, back);
    data(&X, y, 60, 0);
    assert_int_equal(ef_estimator_predict_proba(m->est, &X, &P1, &err), 0);
    assert_int_equal(ef_estimator_predict_proba(back->est, &X, &P2, &err), 0);
    assert_memory_equal(P1.v, P2.v, 60 * 3 * sizeof(double));
    ef_mat_release(&X);
    ef_mat_release(&P1);
    ef_mat_release(&P2);
    ef_model_free(back);
    /* a signature of another width, and no readable flavour at all */
    snprintf(yaml, sizeof yaml, "%ssignature:\n  inputs: '[{\"type\": \"double\", \"name\": "
             "\"x\"}]'\n", head);
    put(dir, "MLmodel", yaml);
    assert_int_equal(ef_model_load(dir, &back, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "1 input columns"));
    put(dir, "MLmodel", "flavors:\n  sklearn:\n    pickled_model: model.pkl\n");
    assert_int_equal(ef_model_load(dir, &back, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "'xgboost'"));
    assert_null(back);
    ef_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_regressor),
        cmocka_unit_test(test_round_trip_classifier),
        cmocka_unit_test(test_bad_model_json),
        cmocka_unit_test(test_mlflow_xgboost_flavour),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
