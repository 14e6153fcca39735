/* Unit tests for src/ml/xgb.c: XGBoost regression and classification through the estimator
 * interface, the save/load round trip (model.json weights + xgb_model.json), parameter errors,
 * progress and cancellation. Parity with Python's xgboost: tests/integration/test_63_ml_xgb.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ml/ml.h"

/* Deterministic pseudo-random numbers in [0, 1) (the data only has to be fixed, not good). */
static double lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* n x 3 features; regression target 3*x0 - 2*x1 + x2^2, or for classes: the band of x0 + x1
 * mapped to `labels` (k of them). */
static void make_data(ef_mat *X, double *y, size_t n, const double *labels, size_t k)
{
    uint64_t s = 42;
    assert_int_equal(ef_mat_init(X, n, 3), EF_OK);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 3; j++)
            EF_MAT_AT(X, i, j) = lcg(&s) * 2 - 1;
        double a = EF_MAT_AT(X, i, 0), b = EF_MAT_AT(X, i, 1), c = EF_MAT_AT(X, i, 2);
        if (!labels) {
            y[i] = 3 * a - 2 * b + c * c;
        } else {
            size_t band = (size_t)((a + b + 2) / 4 * (double)k);
            y[i] = labels[band < k ? band : k - 1];
        }
    }
}

static ef_estimator *new_est(const ef_ml_type *t, const char *const *kv)
{
    ef_estimator *e = ef_estimator_new(t);
    ef_ml_err err = {{0}};
    assert_non_null(e);
    for (size_t i = 0; kv && kv[i]; i += 2) {
        int rc = ef_estimator_set(e, kv[i], kv[i + 1], &err);
        if (rc)
            fail_msg("set %s=%s: %s", kv[i], kv[i + 1], err.msg);
    }
    return e;
}

static void fit_ok(ef_estimator *e, const ef_mat *X, const double *y)
{
    ef_ml_err err = {{0}};
    int rc = ef_estimator_fit(e, X, y, &err);
    if (rc)
        fail_msg("fit: %s", err.msg);
}

/* A temp model directory; removed by rm_dir. */
static void tmp_dir(char *buf, size_t len)
{
    snprintf(buf, len, "%s/ef_xgb_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(buf));
}

static void rm_dir(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/xgb_model.json", dir);
    unlink(p);
    rmdir(dir);
}

/* Saves e into dir, reloads it into a fresh estimator of the same type the way model.c does
 * (params, n_features and classes first, then type->load on weights read back from text). */
static ef_estimator *round_trip(const ef_estimator *e, const char *dir)
{
    ef_ml_err err = {{0}};
    json_t *w = json_object();
    int rc = e->type->save(e, w, dir, &err);
    if (rc)
        fail_msg("save: %s", err.msg);
    assert_string_equal(json_string_value(json_object_get(w, "booster_file")), "xgb_model.json");
    char *text = json_dumps(w, JSON_COMPACT);
    json_decref(w);
    w = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(w);

    ef_estimator *l = ef_estimator_new(e->type);
    assert_non_null(l);
    json_decref(l->params);
    l->params = json_deep_copy(e->params);
    l->n_features = e->n_features;
    if (e->n_classes) {
        l->classes = malloc(e->n_classes * sizeof *l->classes);
        memcpy(l->classes, e->classes, e->n_classes * sizeof *l->classes);
        l->n_classes = e->n_classes;
    }
    rc = l->type->load(l, w, dir, &err);
    json_decref(w);
    if (rc)
        fail_msg("load: %s", err.msg);
    return l;
}

static void test_regression(void **state)
{
    (void)state;
    enum { N = 300 };
    ef_mat X;
    double y[N], p[N], q[N];
    ef_ml_err err = {{0}};
    char dir[256];
    make_data(&X, y, N, NULL, 0);
    const char *kv[] = {"n_estimators", "60", "max_depth", "4", "learning_rate", "0.2", NULL};
    ef_estimator *e = new_est(&ef_ml_xgboost, kv);
    assert_int_equal(ef_ml_xgboost.task, EF_ML_REGRESSOR);
    assert_null(ef_ml_xgboost.predict_proba);
    fit_ok(e, &X, y);
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "n_iter")), 60);
    assert_string_equal(json_string_value(json_object_get(e->fit_info, "eval_metric")), "rmse");
    assert_int_equal(ef_estimator_predict(e, &X, p, &err), EF_OK);
    /* the boosted trees must explain the smooth target far better than its mean does */
    double mean = 0, ss_tot = 0, ss_res = 0;
    for (size_t i = 0; i < N; i++)
        mean += y[i] / N;
    for (size_t i = 0; i < N; i++) {
        ss_tot += (y[i] - mean) * (y[i] - mean);
        ss_res += (y[i] - p[i]) * (y[i] - p[i]);
    }
    assert_true(1 - ss_res / ss_tot > 0.95);
    double rmse = sqrt(ss_res / N);
    /* fit_info's loss is XGBoost's training rmse; our predictions give the same up to float32 */
    double loss = json_real_value(json_object_get(e->fit_info, "loss"));
    assert_true(fabs(loss - rmse) < 1e-4 * (1 + rmse));

    tmp_dir(dir, sizeof dir);
    ef_estimator *l = round_trip(e, dir);
    assert_int_equal(ef_estimator_predict(l, &X, q, &err), EF_OK);
    assert_memory_equal(p, q, sizeof p);
    /* the booster file is XGBoost JSON with the scikit-learn wrapper's attribute */
    char path[512];
    snprintf(path, sizeof path, "%s/xgb_model.json", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    const json_t *attrs = json_object_get(json_object_get(doc, "learner"), "attributes");
    const char *meta = json_string_value(json_object_get(attrs, "scikit_learn"));
    assert_non_null(meta);
    assert_non_null(strstr(meta, "\"_estimator_type\":\"regressor\""));
    json_decref(doc);

    /* a model.json whose n_features disagrees with the booster is refused */
    ef_estimator_free(l);
    json_t *w = json_pack("{s:s,s:s,s:i}", "booster_file", "xgb_model.json", "objective",
                          "reg:squarederror", "num_class", 0);
    l = ef_estimator_new(&ef_ml_xgboost);
    l->n_features = 5;
    assert_int_equal(l->type->load(l, w, dir, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "features"));
    assert_null(l->state);
    ef_estimator_free(l);
    json_decref(w);

    rm_dir(dir);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void check_proba(const ef_mat *P, size_t n, size_t k)
{
    assert_int_equal(P->rows, n);
    assert_int_equal(P->cols, k);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < k; j++) {
            assert_true(EF_MAT_AT(P, i, j) >= 0 && EF_MAT_AT(P, i, j) <= 1);
            s += EF_MAT_AT(P, i, j);
        }
        assert_true(fabs(s - 1) < 1e-5);
    }
}

static void classify(size_t k, const double *labels, const char *objective, double min_acc)
{
    enum { N = 240 };
    ef_mat X, P = {0}, Q = {0};
    double y[N], p[N], q[N];
    ef_ml_err err = {{0}};
    char dir[256];
    make_data(&X, y, N, labels, k);
    const char *kv[] = {"n_estimators", "25", "max_depth", "3", "objective", objective, NULL};
    ef_estimator *e = new_est(&ef_ml_xgboost_classifier, kv);
    fit_ok(e, &X, y);
    assert_int_equal(e->n_classes, k);
    const char *used = json_string_value(json_object_get(e->fit_info, "objective"));
    if (k > 2 && strcmp(objective, "multi:softmax"))
        assert_string_equal(used, "multi:softprob"); /* like XGBClassifier.fit */
    else
        assert_string_equal(used, objective);
    assert_int_equal(ef_estimator_predict(e, &X, p, &err), EF_OK);
    size_t right = 0;
    for (size_t i = 0; i < N; i++) {
        int ok = 0;
        for (size_t j = 0; j < k; j++)
            ok |= p[i] == labels[j];
        assert_true(ok); /* predictions are labels, not class indices */
        right += p[i] == y[i];
    }
    assert_true((double)right / N >= min_acc);

    int has_proba = strcmp(objective, "multi:softmax") != 0;
    int rc = ef_estimator_predict_proba(e, &X, &P, &err);
    if (has_proba) {
        assert_int_equal(rc, EF_OK);
        check_proba(&P, N, k);
        for (size_t i = 0; i < N; i++) { /* predict is the most probable class */
            size_t best = 0;
            for (size_t j = 1; j < k; j++)
                if (EF_MAT_AT(&P, i, j) > EF_MAT_AT(&P, i, best))
                    best = j;
            if (k > 2 || fabs(EF_MAT_AT(&P, i, 1) - 0.5) > 1e-6)
                assert_true(p[i] == labels[best]);
        }
    } else {
        assert_int_equal(rc, EF_EUNSUPPORTED);
        assert_non_null(strstr(err.msg, "multi:softprob"));
    }

    tmp_dir(dir, sizeof dir);
    ef_estimator *l = round_trip(e, dir);
    assert_int_equal(ef_estimator_predict(l, &X, q, &err), EF_OK);
    assert_memory_equal(p, q, sizeof p);
    if (has_proba) {
        assert_int_equal(ef_estimator_predict_proba(l, &X, &Q, &err), EF_OK);
        assert_memory_equal(P.v, Q.v, N * k * sizeof(double));
    }
    ef_estimator_free(l);

    /* weights whose class count disagrees with the estimator are refused */
    json_t *w = json_pack("{s:s,s:s,s:i}", "booster_file", "xgb_model.json", "objective", used,
                          "num_class", (int)k + 1);
    l = ef_estimator_new(&ef_ml_xgboost_classifier);
    l->n_features = 3;
    assert_int_equal(l->type->load(l, w, dir, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "num_class"));
    ef_estimator_free(l);
    json_decref(w);

    rm_dir(dir);
    ef_mat_release(&P);
    ef_mat_release(&Q);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void test_classification(void **state)
{
    (void)state;
    const double bin[] = {-1, 1}, three[] = {2, 5, 9}, four[] = {0, 1, 2, 3};
    classify(2, bin, "binary:logistic", 0.95);
    classify(3, three, "binary:logistic", 0.9); /* switched to multi:softprob */
    classify(3, three, "multi:softmax", 0.9);
    classify(4, four, "multi:softprob", 0.85);
}

static int cancel_at_5(void *ctx, long iter, long max_iter, double loss)
{
    long *calls = ctx;
    (*calls)++;
    assert_int_equal(iter, *calls);
    assert_int_equal(max_iter, 10);
    assert_true(isfinite(loss) && loss >= 0);
    return iter == 5;
}

static int count_only(void *ctx, long iter, long max_iter, double loss)
{
    (void)iter, (void)max_iter, (void)loss;
    (*(long *)ctx)++;
    return 0;
}

static void test_progress_cancel(void **state)
{
    (void)state;
    enum { N = 200 };
    ef_mat X;
    double y[N], p[N], q[N];
    ef_ml_err err = {{0}};
    long calls = 0;
    make_data(&X, y, N, NULL, 0);
    const char *kv[] = {"n_estimators", "10", "subsample", "0.7", "random_state", "7", NULL};
    ef_estimator *a = new_est(&ef_ml_xgboost, kv), *b = new_est(&ef_ml_xgboost, kv);
    fit_ok(a, &X, y);
    b->progress = count_only;
    b->progress_ctx = &calls;
    fit_ok(b, &X, y);
    assert_int_equal(calls, 10);
    /* evaluating the training loss each round does not change the model */
    assert_int_equal(ef_estimator_predict(a, &X, p, &err), EF_OK);
    assert_int_equal(ef_estimator_predict(b, &X, q, &err), EF_OK);
    assert_memory_equal(p, q, sizeof p);

    calls = 0;
    b->progress = cancel_at_5;
    assert_int_equal(ef_estimator_fit(b, &X, y, &err), EF_EAGAIN);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_int_equal(calls, 5);
    assert_null(b->state);
    assert_int_equal(ef_estimator_predict(b, &X, q, &err), EF_EINVAL); /* not fitted */

    ef_estimator_free(a);
    ef_estimator_free(b);
    ef_mat_release(&X);
}

/* Fits with one parameter set and expects rc with `needle` in the message. */
static void expect_fit_error(const char *name, const char *value, int rc, const char *needle)
{
    enum { N = 50 };
    ef_mat X;
    double y[N];
    ef_ml_err err = {{0}};
    make_data(&X, y, N, NULL, 0);
    ef_estimator *e = ef_estimator_new(&ef_ml_xgboost);
    assert_int_equal(ef_estimator_set(e, name, value, &err), EF_OK);
    assert_int_equal(ef_estimator_fit(e, &X, y, &err), rc);
    if (!strstr(err.msg, needle))
        fail_msg("%s=%s: message '%s' lacks '%s'", name, value, err.msg, needle);
    assert_null(strchr(err.msg, '\n'));
    assert_null(e->state);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void test_bad_params(void **state)
{
    (void)state;
    ef_ml_err err = {{0}};
    ef_estimator *e = ef_estimator_new(&ef_ml_xgboost);
    assert_int_equal(ef_estimator_set(e, "tree_method", "gpu_hist", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "auto|exact|approx|hist"));
    assert_int_equal(ef_estimator_set(e, "objective", "multi:softprob", &err), EF_EINVAL);
    /* names this type does not list pass through to XGBoost via "extra" */
    assert_int_equal(ef_estimator_set(e, "max_bin", "64", &err), EF_OK);
    assert_int_equal(ef_estimator_set(e, "nthread", "1", &err), EF_OK);
    assert_string_equal(ef_ml_pstring(e, "extra"), "max_bin=64;nthread=1");
    assert_int_equal(ef_estimator_set(e, "max_depth", "None", &err), EF_OK);
    ef_estimator_free(e);

    expect_fit_error("learning_rate", "-1", EF_EINVAL, "learning_rate");
    expect_fit_error("n_estimators", "0", EF_EINVAL, "n_estimators");
    expect_fit_error("extra", "foo=1", EF_EINVAL, "\"foo\"");
    expect_fit_error("max_bni", "64", EF_EINVAL, "\"max_bni\""); /* a typo fails at fit */
    expect_fit_error("extra", "max_bin=abc", EF_EINVAL, "max_bin");
    expect_fit_error("extra", "eta=0.1", EF_EINVAL, "learning_rate");
    expect_fit_error("extra", "max_bin", EF_EINVAL, "name=value");
    expect_fit_error("extra", "a b=1", EF_EINVAL, "a b");
    expect_fit_error("extra", "booster=dart; rate_dorp=0.1", EF_EINVAL, "\"rate_dorp\"");
}

static void test_extra_and_defaults(void **state)
{
    (void)state;
    enum { N = 120 };
    ef_mat X;
    double y[N], p[N], q[N];
    ef_ml_err err = {{0}};
    make_data(&X, y, N, NULL, 0);
    /* max_depth=None is XGBoost's own default (6); extra pairs with spaces and empty items */
    const char *kv1[] = {"n_estimators", "8", "max_depth", "None", NULL};
    const char *kv2[] = {"n_estimators", "8", "extra", " nthread = 1 ;; max_delta_step=0;", NULL};
    const char *kv3[] = {"n_estimators", "8", "extra", "max_bin=8", "tree_method", "hist", NULL};
    ef_estimator *a = new_est(&ef_ml_xgboost, kv1), *b = new_est(&ef_ml_xgboost, kv2),
                 *c = new_est(&ef_ml_xgboost, kv3);
    fit_ok(a, &X, y);
    fit_ok(b, &X, y);
    fit_ok(c, &X, y);
    assert_int_equal(ef_estimator_predict(a, &X, p, &err), EF_OK);
    assert_int_equal(ef_estimator_predict(b, &X, q, &err), EF_OK);
    assert_memory_equal(p, q, sizeof p);
    /* 8 histogram bins make a different (coarser) model: extra really reaches XGBoost */
    assert_int_equal(ef_estimator_predict(c, &X, q, &err), EF_OK);
    assert_memory_not_equal(p, q, sizeof p);

    /* gblinear has no in-place prediction: the DMatrix path predicts, and survives a reload */
    const char *kv4[] = {"n_estimators", "20", "extra", "booster=gblinear;nthread=1", NULL};
    ef_estimator *g = new_est(&ef_ml_xgboost, kv4);
    fit_ok(g, &X, y);
    assert_int_equal(ef_estimator_predict(g, &X, q, &err), EF_OK);
    double lo = q[0], hi = q[0];
    for (size_t i = 0; i < N; i++) {
        assert_true(isfinite(q[i]));
        lo = q[i] < lo ? q[i] : lo;
        hi = q[i] > hi ? q[i] : hi;
    }
    assert_true(hi - lo > 1); /* a linear fit of 3*x0 - 2*x1 + x2^2 spreads widely */
    char dir[256];
    tmp_dir(dir, sizeof dir);
    ef_estimator *g2 = round_trip(g, dir);
    assert_int_equal(ef_estimator_predict(g2, &X, p, &err), EF_OK);
    assert_memory_equal(p, q, sizeof p);
    rm_dir(dir);
    ef_estimator_free(g2);
    ef_estimator_free(g);

    /* wrong feature count at predict time */
    ef_mat X2;
    assert_int_equal(ef_mat_init(&X2, 2, 4), EF_OK);
    assert_int_equal(ef_estimator_predict(a, &X2, q, &err), EF_EINVAL);
    ef_mat_release(&X2);

    /* loading: the booster file must stay inside the model directory, and exist */
    json_t *w = json_pack("{s:s,s:s,s:i}", "booster_file", "../etc/passwd", "objective",
                          "reg:squarederror", "num_class", 0);
    ef_estimator *l = ef_estimator_new(&ef_ml_xgboost);
    l->n_features = 3;
    assert_int_equal(l->type->load(l, w, "/tmp", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "booster_file"));
    json_object_set_new(w, "booster_file", json_string("no_such_model.json"));
    assert_int_equal(l->type->load(l, w, "/nonexistent-dir", &err), EF_EIO);
    assert_non_null(strstr(err.msg, "no_such_model.json"));
    json_object_set_new(w, "objective", json_string("binary:logistic"));
    assert_int_equal(l->type->load(l, w, "/tmp", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "objective"));
    json_decref(w);
    ef_estimator_free(l);

    ef_estimator_free(a);
    ef_estimator_free(b);
    ef_estimator_free(c);
    ef_mat_release(&X);
}

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(ef_ml_type_find("xgboost"), &ef_ml_xgboost);
    assert_ptr_equal(ef_ml_type_find("xgboost_classifier"), &ef_ml_xgboost_classifier);
    assert_string_equal(ef_ml_xgboost_classifier.sklearn_class, "xgboost.sklearn.XGBClassifier");
    assert_int_equal(ef_ml_xgboost_classifier.task, EF_ML_CLASSIFIER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_progress_cancel),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_extra_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
