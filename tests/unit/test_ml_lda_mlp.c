/* Unit tests for src/ml/lda.c + lda_solve.c and src/ml/mlp.c + mlp_train.c + mlp_batch.c:
 * separable toy problems (LDA with every solver and the MLPs reach 100%), parameter validation,
 * model.json round trips that predict bit for bit the same, cancelling a fit through the
 * progress callback, a regressor on y = x1 + 2 x2, reproducible seeds, early stopping, the sgd
 * schedules, divergence, and the threaded minibatch team (any worker count, same fit). The parity
 * with scikit-learn itself is checked by tests/integration/test_62_ml_lda_mlp.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cblas.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ml/lda.h"
#include "ml/ml.h"

/* n points around k centres on a circle of radius 5 (noise +-1 per coordinate), d >= 2 features
 * (the extra ones are noise); labels 10, 20, 30 ... to check that labels are not indices. */
static void blobs(ef_mat *X, double *y, size_t n, size_t d, size_t k, uint32_t seed)
{
    ef_rng r;
    ef_rng_seed(&r, seed);
    assert_int_equal(ef_mat_init(X, n, d), EF_OK);
    for (size_t i = 0; i < n; i++) {
        size_t c = i % k;
        double ang = 2 * M_PI * (double)c / (double)k;
        for (size_t j = 0; j < d; j++)
            EF_MAT_AT(X, i, j) = ef_rng_uniform(&r, -1, 1);
        EF_MAT_AT(X, i, 0) += 5 * cos(ang);
        EF_MAT_AT(X, i, 1) += 5 * sin(ang);
        y[i] = 10.0 * (double)(c + 1);
    }
}

static ef_estimator *make(const char *type, ...)
{
    const ef_ml_type *t = ef_ml_type_find(type);
    assert_non_null(t);
    ef_estimator *e = ef_estimator_new(t);
    assert_non_null(e);
    va_list ap;
    va_start(ap, type);
    const char *name;
    while ((name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        ef_ml_err err;
        int rc = ef_estimator_set(e, name, value, &err);
        if (rc) fail_msg("set %s=%s: %s", name, value, err.msg);
    }
    va_end(ap);
    return e;
}

static void fit_ok(ef_estimator *e, const ef_mat *X, const double *y)
{
    ef_ml_err err = {{0}};
    int rc = ef_estimator_fit(e, X, y, &err);
    if (rc) fail_msg("fit %s: %s (%d)", e->type->name, err.msg, rc);
}

static double accuracy(const ef_estimator *e, const ef_mat *X, const double *y)
{
    double *p = calloc(X->rows, sizeof *p);
    ef_ml_err err;
    assert_int_equal(ef_estimator_predict(e, X, p, &err), EF_OK);
    size_t hit = 0;
    for (size_t i = 0; i < X->rows; i++)
        hit += p[i] == y[i];
    free(p);
    return (double)hit / (double)X->rows;
}

/* A fresh estimator of e's type and parameters restored from e's saved weights (what
 * ef_model_load does, through a JSON text round trip). */
static ef_estimator *reload(const ef_estimator *e)
{
    ef_ml_err err = {{0}};
    json_t *w = json_object();
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    char *text = json_dumps(w, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(w);
    w = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(w);
    ef_estimator *f = ef_estimator_new(e->type);
    json_decref(f->params);
    f->params = json_deep_copy(e->params);
    f->n_features = e->n_features;
    if (e->n_classes) {
        f->classes = malloc(e->n_classes * sizeof *f->classes);
        memcpy(f->classes, e->classes, e->n_classes * sizeof *f->classes);
        f->n_classes = e->n_classes;
    }
    int rc = f->type->load(f, w, ".", &err);
    if (rc) fail_msg("load: %s", err.msg);
    json_decref(w);
    return f;
}

/* predict (and predict_proba) of a and b agree bit for bit on X. */
static void same_predictions(const ef_estimator *a, const ef_estimator *b, const ef_mat *X)
{
    ef_ml_err err;
    double *pa = calloc(X->rows, sizeof *pa), *pb = calloc(X->rows, sizeof *pb);
    assert_int_equal(ef_estimator_predict(a, X, pa, &err), EF_OK);
    assert_int_equal(ef_estimator_predict(b, X, pb, &err), EF_OK);
    assert_memory_equal(pa, pb, X->rows * sizeof *pa);
    free(pa);
    free(pb);
    if (!a->type->predict_proba) return;
    ef_mat qa, qb;
    assert_int_equal(ef_estimator_predict_proba(a, X, &qa, &err), EF_OK);
    assert_int_equal(ef_estimator_predict_proba(b, X, &qb, &err), EF_OK);
    assert_int_equal(qa.cols, qb.cols);
    assert_memory_equal(qa.v, qb.v, qa.rows * qa.cols * sizeof(double));
    ef_mat_release(&qa);
    ef_mat_release(&qb);
}

/* ---- LDA ---- */

static void test_lda_separable(void **state)
{
    (void)state;
    ef_mat X;
    double y[300];
    blobs(&X, y, 300, 4, 3, 1);
    ef_estimator *e = make("lda", NULL);
    fit_ok(e, &X, y);
    assert_true(accuracy(e, &X, y) == 1.0);
    ef_ml_err err;
    ef_mat p;
    assert_int_equal(ef_estimator_predict_proba(e, &X, &p, &err), EF_OK);
    assert_int_equal(p.cols, 3);
    for (size_t i = 0; i < p.rows; i++) {
        double s = 0;
        for (size_t c = 0; c < 3; c++)
            s += EF_MAT_AT(&p, i, c);
        assert_true(fabs(s - 1) < 1e-12);
    }
    ef_mat_release(&p);

    /* transform = (X - xbar) . scalings, with min(n_classes - 1, d) = 2 columns */
    ef_mat t;
    assert_int_equal(ef_ml_lda_transform(e, &X, &t, &err), EF_OK);
    assert_int_equal(t.rows, 300);
    assert_int_equal(t.cols, 2);
    json_t *w = json_object();
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    const json_t *xbar = json_object_get(w, "xbar"), *sc = json_object_get(w, "scalings");
    assert_int_equal(json_array_size(sc), 4);
    assert_int_equal(json_array_size(json_object_get(w, "priors")), 3);
    assert_int_equal(json_array_size(json_object_get(w, "coef")), 3);
    for (size_t i = 0; i < 300; i += 37)
        for (size_t c = 0; c < 2; c++) {
            double v = 0;
            for (size_t j = 0; j < 4; j++)
                v += (EF_MAT_AT(&X, i, j) - json_real_value(json_array_get(xbar, j))) *
                     json_real_value(json_array_get(json_array_get(sc, j), c));
            assert_true(fabs(v - EF_MAT_AT(&t, i, c)) < 1e-9);
        }
    json_decref(w);
    ef_mat_release(&t);

    /* n_components keeps fewer axes; the first is the same */
    ef_estimator *e1 = make("lda", "n_components", "1", NULL);
    fit_ok(e1, &X, y);
    ef_mat t1;
    assert_int_equal(ef_ml_lda_transform(e1, &X, &t1, &err), EF_OK);
    assert_int_equal(t1.cols, 1);
    ef_mat_release(&t1);
    /* transform refuses other estimators and wrong widths */
    ef_mat bad = {10, 3, calloc(30, sizeof(double))};
    assert_int_equal(ef_ml_lda_transform(e1, &bad, &t1, &err), EF_EINVAL);
    free(bad.v);
    ef_estimator_free(e1);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void test_lda_binary_and_priors(void **state)
{
    (void)state;
    ef_mat X;
    double y[200];
    blobs(&X, y, 200, 3, 2, 2);
    ef_estimator *e = make("lda", "store_covariance", "true", NULL);
    fit_ok(e, &X, y);
    assert_true(accuracy(e, &X, y) == 1.0);
    ef_ml_err err;
    json_t *w = json_object();
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    assert_int_equal(json_array_size(json_object_get(w, "coef")), 1); /* binary: one row */
    assert_int_equal(json_array_size(json_object_get(w, "covariance")), 3);
    json_decref(w);
    ef_mat p;
    assert_int_equal(ef_estimator_predict_proba(e, &X, &p, &err), EF_OK);
    assert_int_equal(p.cols, 2);
    assert_true(EF_MAT_AT(&p, 0, 0) > 0.5); /* row 0 is class 10 */
    ef_mat_release(&p);

    /* priors that do not sum to 1 are renormalised; extreme priors move the decision */
    ef_estimator *e2 = make("lda", "priors", "[2, 2]", NULL);
    fit_ok(e2, &X, y);
    assert_true(accuracy(e2, &X, y) == 1.0);
    ef_estimator *e3 = make("lda", "priors", "1e-300, 1", NULL);
    fit_ok(e3, &X, y);
    assert_true(accuracy(e3, &X, y) < 0.9);
    ef_estimator_free(e3);
    ef_estimator_free(e2);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void test_lda_params(void **state)
{
    (void)state;
    ef_mat X;
    double y[90];
    blobs(&X, y, 90, 2, 3, 3);
    ef_ml_err err;
    struct {
        const char *solver, *name, *value;
        int rc;
    } cases[] = {
        {"svd", "shrinkage", "auto", EF_EUNSUPPORTED},
        {"lsqr", "shrinkage", "1.5", EF_EINVAL},
        {"eigen", "shrinkage", "much", EF_EINVAL},
        {"svd", "n_components", "3", EF_EINVAL},
        {"eigen", "n_components", "0", EF_EINVAL},
        {"svd", "priors", "0.5,0.5", EF_EINVAL},
        {"lsqr", "priors", "0.5,0.5,x", EF_EINVAL},
        {"svd", "priors", "0,0.5,0.5", EF_EINVAL},
        {"svd", "tol", "-1", EF_EINVAL},
        {"lsqr", "covariance_estimator", "oas", EF_EUNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ef_estimator *e =
            make("lda", "solver", cases[i].solver, cases[i].name, cases[i].value, NULL);
        err.msg[0] = 0;
        assert_int_equal(ef_estimator_fit(e, &X, y, &err), cases[i].rc);
        assert_true(strlen(err.msg) > 10);
        assert_null(e->state);
        ef_estimator_free(e);
    }
    ef_estimator *e = make("lda", NULL);
    assert_int_equal(ef_estimator_set(e, "solver", "qr", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "shrinkagee", "0.1", &err), EF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "shrinkage"));
    /* as many samples as classes */
    ef_mat X3 = {3, 2, X.v};
    assert_int_equal(ef_estimator_fit(e, &X3, y, &err), EF_EINVAL);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

/* lsqr and eigen, with and without shrinkage: separable blobs are classified perfectly, the
 * covariance is always kept, lsqr has no transform, and they round-trip through model.json. */
static void test_lda_other_solvers(void **state)
{
    (void)state;
    ef_mat X;
    double y[240];
    blobs(&X, y, 240, 5, 4, 15);
    const char *solvers[] = {"lsqr", "eigen"}, *shrink[] = {"None", "auto", "0.2"};
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 3; b++) {
            ef_estimator *e = make("lda", "solver", solvers[a], "shrinkage", shrink[b], NULL);
            fit_ok(e, &X, y);
            assert_true(accuracy(e, &X, y) == 1.0);
            ef_ml_err err;
            json_t *w = json_object();
            assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
            assert_int_equal(json_array_size(json_object_get(w, "covariance")), 5);
            ef_mat t = {0};
            int rc = ef_ml_lda_transform(e, &X, &t, &err);
            if (a == 0) {
                assert_int_equal(rc, EF_EUNSUPPORTED);
                assert_int_equal(json_array_size(json_array_get(json_object_get(w, "scalings"), 0)),
                                 0);
            } else {
                assert_int_equal(rc, EF_OK);
                assert_int_equal(t.cols, 3);
                ef_mat_release(&t);
            }
            json_decref(w);
            ef_estimator *f = reload(e);
            same_predictions(e, f, &X);
            ef_estimator_free(f);
            ef_estimator_free(e);
        }
    /* more features than samples: eigen needs shrinkage, lsqr copes */
    ef_mat Xw;
    double yw[12];
    blobs(&Xw, yw, 12, 20, 3, 16);
    ef_estimator *e = make("lda", "solver", "eigen", NULL);
    ef_ml_err err;
    assert_int_equal(ef_estimator_fit(e, &Xw, yw, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "shrinkage"));
    assert_int_equal(ef_estimator_set(e, "shrinkage", "auto", &err), EF_OK);
    fit_ok(e, &Xw, yw);
    ef_estimator_free(e);
    ef_mat_release(&Xw);
    ef_mat_release(&X);
}

static void test_lda_save_load(void **state)
{
    (void)state;
    ef_mat X;
    double y[240];
    blobs(&X, y, 240, 5, 4, 4);
    ef_estimator *e = make("lda", NULL);
    fit_ok(e, &X, y);
    ef_estimator *f = reload(e);
    same_predictions(e, f, &X);
    ef_ml_err err;
    ef_mat ta, tb;
    assert_int_equal(ef_ml_lda_transform(e, &X, &ta, &err), EF_OK);
    assert_int_equal(ef_ml_lda_transform(f, &X, &tb, &err), EF_OK);
    assert_memory_equal(ta.v, tb.v, ta.rows * ta.cols * sizeof(double));
    ef_mat_release(&ta);
    ef_mat_release(&tb);

    /* a wrong shape is refused with a message naming the field */
    json_t *w = json_object();
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    json_array_remove(json_object_get(w, "intercept"), 0);
    ef_estimator *g = ef_estimator_new(e->type);
    g->n_features = 5;
    g->n_classes = 4;
    g->classes = malloc(4 * sizeof(double));
    memcpy(g->classes, e->classes, 4 * sizeof(double));
    assert_int_equal(g->type->load(g, w, ".", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "intercept"));
    assert_null(g->state);
    json_object_set_new(w, "coef", json_string("x"));
    assert_int_equal(g->type->load(g, w, ".", &err), EF_EINVAL);
    json_decref(w);
    ef_estimator_free(g);
    ef_estimator_free(f);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

/* ---- MLP ---- */

static void test_mlp_separable(void **state)
{
    (void)state;
    ef_mat X;
    double y[300];
    blobs(&X, y, 300, 3, 3, 5);
    ef_estimator *e = make("mlp_classifier", "hidden_layer_sizes", "(16,)", "random_state", "0",
                           "learning_rate_init", "0.01", "max_iter", "300", NULL);
    fit_ok(e, &X, y);
    assert_true(accuracy(e, &X, y) == 1.0);
    const json_t *curve = json_object_get(e->fit_info, "loss_curve");
    size_t n_iter = (size_t)json_integer_value(json_object_get(e->fit_info, "n_iter"));
    assert_int_equal(json_array_size(curve), n_iter);
    assert_true(json_real_value(json_array_get(curve, n_iter - 1)) <
                json_real_value(json_array_get(curve, 0)) / 5);
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "random_state_used")), 0);
    ef_ml_err err;
    ef_mat p;
    assert_int_equal(ef_estimator_predict_proba(e, &X, &p, &err), EF_OK);
    assert_int_equal(p.cols, 3);
    ef_mat_release(&p);
    ef_estimator_free(e);

    /* two classes: one logistic output unit; tanh and logistic hidden layers, two layers */
    double y2[300];
    ef_mat X2;
    blobs(&X2, y2, 300, 3, 2, 6);
    const char *acts[] = {"tanh", "logistic", "identity", "relu"};
    for (size_t a = 0; a < 4; a++) {
        e = make("mlp_classifier", "hidden_layer_sizes", "8,4", "activation", acts[a],
                 "random_state", "1", "learning_rate_init", "0.01", "max_iter", "400", NULL);
        fit_ok(e, &X2, y2);
        assert_true(accuracy(e, &X2, y2) == 1.0);
        json_t *w = json_object();
        assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
        assert_string_equal(json_string_value(json_object_get(w, "out_activation")), "logistic");
        assert_string_equal(json_string_value(json_object_get(w, "activation")), acts[a]);
        const json_t *coefs = json_object_get(w, "coefs");
        assert_int_equal(json_array_size(coefs), 3);
        assert_int_equal(json_array_size(json_array_get(coefs, 0)), 3);                    /* d */
        assert_int_equal(json_array_size(json_array_get(json_array_get(coefs, 0), 0)), 8); /* h1 */
        assert_int_equal(json_array_size(json_array_get(json_array_get(coefs, 2), 0)), 1);
        json_decref(w);
        assert_int_equal(ef_estimator_predict_proba(e, &X2, &p, &err), EF_OK);
        assert_int_equal(p.cols, 2);
        ef_mat_release(&p);
        ef_estimator_free(e);
    }
    ef_mat_release(&X2);
    ef_mat_release(&X);
}

static void test_mlp_params(void **state)
{
    (void)state;
    ef_mat X;
    double y[60];
    blobs(&X, y, 60, 2, 2, 7);
    ef_ml_err err;
    struct {
        const char *name, *value;
        int rc;
    } fit_cases[] = {
        {"solver", "lbfgs", EF_EUNSUPPORTED}, {"batch_size", "abc", EF_EINVAL},
        {"batch_size", "0", EF_EINVAL},       {"learning_rate_init", "0", EF_EINVAL},
        {"alpha", "-1", EF_EINVAL},           {"max_iter", "0", EF_EINVAL},
        {"random_state", "-1", EF_EINVAL},    {"momentum", "1.5", EF_EINVAL},
        {"beta_1", "1", EF_EINVAL},           {"epsilon", "0", EF_EINVAL},
        {"n_iter_no_change", "0", EF_EINVAL}, {"validation_fraction", "1", EF_EINVAL},
        {"tol", "-0.1", EF_EINVAL},           {"power_t", "-1", EF_EINVAL},
    };
    for (size_t i = 0; i < sizeof fit_cases / sizeof *fit_cases; i++) {
        ef_estimator *e =
            make("mlp_classifier", "max_iter", "2", fit_cases[i].name, fit_cases[i].value, NULL);
        err.msg[0] = 0;
        int rc = ef_estimator_fit(e, &X, y, &err);
        if (rc != fit_cases[i].rc)
            fail_msg("%s=%s gave %d (%s)", fit_cases[i].name, fit_cases[i].value, rc, err.msg);
        assert_true(strlen(err.msg) > 10);
        assert_null(e->state);
        ef_estimator_free(e);
    }
    ef_estimator *e = make("mlp_regressor", NULL);
    assert_int_equal(ef_estimator_set(e, "activation", "softmax", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "hidden_layer_sizes", "0", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "hidden_layer_sizes", "10,-2", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "learning_rate", "fast", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "max_iter", "x", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "hidden_layer_sizes", "[7, 3]", &err), EF_OK);
    long h[4];
    assert_int_equal(ef_ml_pintlist(e, "hidden_layer_sizes", h, 4), 2);
    assert_int_equal(h[0], 7);
    assert_int_equal(h[1], 3);
    /* every scikit-learn constructor parameter is there, with its default */
    assert_int_equal(json_object_size(e->params), 23);
    assert_string_equal(ef_ml_pstring(e, "batch_size"), "auto");
    assert_true(ef_ml_pnull(e, "random_state"));
    assert_true(ef_ml_pdouble(e, "epsilon") == 1e-8);
    assert_int_equal(ef_ml_pint(e, "max_fun"), 15000);
    ef_estimator_free(e);
    /* a diverging fit says so instead of returning NaN weights */
    double yr[60];
    for (size_t i = 0; i < 60; i++)
        yr[i] = 1e6 * EF_MAT_AT(&X, i, 0);
    e = make("mlp_regressor", "solver", "sgd", "learning_rate_init", "10", "max_iter", "50",
             "random_state", "0", NULL);
    assert_int_equal(ef_estimator_fit(e, &X, yr, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "learning_rate_init"));
    assert_null(e->state);
    ef_estimator_free(e);
    /* batch_size larger than the data is clipped, like scikit-learn */
    e = make("mlp_classifier", "batch_size", "1000", "max_iter", "3", "random_state", "0", NULL);
    fit_ok(e, &X, y);
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "batch_size")), 60);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void test_mlp_save_load(void **state)
{
    (void)state;
    ef_mat X;
    double y[150];
    blobs(&X, y, 150, 4, 3, 8);
    ef_estimator *e = make("mlp_classifier", "hidden_layer_sizes", "12,6", "random_state", "3",
                           "max_iter", "50", NULL);
    fit_ok(e, &X, y);
    ef_estimator *f = reload(e);
    same_predictions(e, f, &X);

    ef_ml_err err;
    json_t *w = json_object();
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    ef_estimator *g = ef_estimator_new(e->type);
    g->n_features = 4;
    g->n_classes = 2; /* a 3-output network cannot be a binary classifier */
    g->classes = malloc(2 * sizeof(double));
    g->classes[0] = 0;
    g->classes[1] = 1;
    assert_int_equal(g->type->load(g, w, ".", &err), EF_EINVAL);
    g->n_classes = 3;
    free(g->classes);
    g->classes = malloc(3 * sizeof(double));
    memcpy(g->classes, e->classes, 3 * sizeof(double));
    json_object_set_new(w, "activation", json_string("softmax"));
    assert_int_equal(g->type->load(g, w, ".", &err), EF_EINVAL);
    json_object_set_new(w, "activation", json_string("relu"));
    json_array_remove(json_array_get(json_object_get(w, "intercepts"), 1), 0);
    assert_int_equal(g->type->load(g, w, ".", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "intercepts[1]"));
    g->n_features = 5;
    assert_int_equal(g->type->load(g, w, ".", &err), EF_EINVAL);
    assert_null(g->state);
    json_decref(w);
    ef_estimator_free(g);
    ef_estimator_free(f);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

typedef struct cancel_ctx {
    long calls, stop_at, last_iter;
} cancel_ctx;

static int on_progress(void *ctx, long iter, long max_iter, double loss)
{
    cancel_ctx *c = ctx;
    c->calls++;
    c->last_iter = iter;
    assert_int_equal(max_iter, 100);
    assert_true(isfinite(loss) && loss > 0);
    return iter >= c->stop_at;
}

static void test_mlp_cancel(void **state)
{
    (void)state;
    ef_mat X;
    double y[100];
    blobs(&X, y, 100, 2, 2, 9);
    ef_estimator *e =
        make("mlp_classifier", "max_iter", "100", "random_state", "0", "tol", "0", NULL);
    cancel_ctx c = {0, 3, 0};
    e->progress = on_progress;
    e->progress_ctx = &c;
    ef_ml_err err;
    assert_int_equal(ef_estimator_fit(e, &X, y, &err), EF_EAGAIN);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_int_equal(c.calls, 3);
    assert_int_equal(c.last_iter, 3);
    assert_null(e->state);
    /* without cancelling it runs to the end and reports every epoch */
    c.stop_at = 1000;
    c.calls = 0;
    fit_ok(e, &X, y);
    assert_int_equal(c.calls, json_integer_value(json_object_get(e->fit_info, "n_iter")));
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static double r2(const ef_estimator *e, const ef_mat *X, const double *y)
{
    double *p = calloc(X->rows, sizeof *p), mean = 0, num = 0, den = 0;
    ef_ml_err err;
    assert_int_equal(ef_estimator_predict(e, X, p, &err), EF_OK);
    for (size_t i = 0; i < X->rows; i++)
        mean += y[i] / (double)X->rows;
    for (size_t i = 0; i < X->rows; i++) {
        num += (y[i] - p[i]) * (y[i] - p[i]);
        den += (y[i] - mean) * (y[i] - mean);
    }
    free(p);
    return 1 - num / den;
}

static void test_mlp_regressor(void **state)
{
    (void)state;
    ef_rng r;
    ef_rng_seed(&r, 11);
    ef_mat X, Xt;
    double y[400], yt[100];
    assert_int_equal(ef_mat_init(&X, 400, 2), EF_OK);
    assert_int_equal(ef_mat_init(&Xt, 100, 2), EF_OK);
    for (size_t i = 0; i < 500; i++) {
        ef_mat *m = i < 400 ? &X : &Xt;
        size_t row = i < 400 ? i : i - 400;
        double a = ef_rng_uniform(&r, -1, 1), b = ef_rng_uniform(&r, -1, 1);
        EF_MAT_AT(m, row, 0) = a;
        EF_MAT_AT(m, row, 1) = b;
        (i < 400 ? y : yt)[row] = a + 2 * b;
    }
    const char *solvers[] = {"adam", "sgd"};
    for (size_t s = 0; s < 2; s++) {
        ef_estimator *e =
            make("mlp_regressor", "hidden_layer_sizes", "20", "random_state", "0", "solver",
                 solvers[s], "learning_rate_init", "0.01", "max_iter", "500", NULL);
        fit_ok(e, &X, y);
        double score = r2(e, &Xt, yt);
        if (!(score > 0.99)) fail_msg("%s: R2 %g", solvers[s], score);
        assert_null(e->type->predict_proba);
        ef_estimator *f = reload(e);
        same_predictions(e, f, &Xt);
        ef_estimator_free(f);
        ef_estimator_free(e);
    }
    /* the identity network is a linear model: close fit (scikit-learn: R2 0.9996 here) */
    ef_estimator *e = make("mlp_regressor", "hidden_layer_sizes", "3", "activation", "identity",
                           "random_state", "0", "learning_rate_init", "0.01", "max_iter", "1000",
                           "alpha", "0", "tol", "1e-9", NULL);
    fit_ok(e, &X, y);
    assert_true(r2(e, &Xt, yt) > 0.999);
    ef_estimator_free(e);
    ef_mat_release(&X);
    ef_mat_release(&Xt);
}

/* The loss curve of a fit: a copy the caller frees. */
static json_t *curve_of(const ef_estimator *e)
{
    return json_deep_copy(json_object_get(e->fit_info, "loss_curve"));
}

static void test_mlp_seeds(void **state)
{
    (void)state;
    ef_mat X;
    double y[120];
    blobs(&X, y, 120, 3, 3, 12);
    ef_estimator *a = make("mlp_classifier", "hidden_layer_sizes", "10", "max_iter", "20",
                           "random_state", "42", NULL);
    ef_estimator *b = make("mlp_classifier", "hidden_layer_sizes", "10", "max_iter", "20",
                           "random_state", "43", NULL);
    ef_estimator *n = make("mlp_classifier", "hidden_layer_sizes", "10", "max_iter", "20", NULL);
    fit_ok(a, &X, y);
    json_t *ca = curve_of(a);
    fit_ok(a, &X, y); /* a refit with the same seed is identical */
    json_t *ca2 = curve_of(a);
    assert_true(json_equal(ca, ca2));
    fit_ok(b, &X, y);
    json_t *cb = curve_of(b);
    assert_false(json_equal(ca, cb));
    /* random_state=None draws a seed and records it; that seed reproduces the fit */
    fit_ok(n, &X, y);
    json_t *cn = curve_of(n);
    json_int_t seed = json_integer_value(json_object_get(n->fit_info, "random_state_used"));
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)seed);
    ef_ml_err err;
    assert_int_equal(ef_estimator_set(n, "random_state", text, &err), EF_OK);
    fit_ok(n, &X, y);
    json_t *cn2 = curve_of(n);
    assert_true(json_equal(cn, cn2));
    json_decref(ca);
    json_decref(ca2);
    json_decref(cb);
    json_decref(cn);
    json_decref(cn2);
    ef_estimator_free(a);
    ef_estimator_free(b);
    ef_estimator_free(n);
    ef_mat_release(&X);
}

static void test_mlp_early_stopping_and_sgd(void **state)
{
    (void)state;
    ef_mat X;
    double y[300];
    blobs(&X, y, 300, 3, 3, 13);
    ef_estimator *e =
        make("mlp_classifier", "hidden_layer_sizes", "10", "early_stopping", "true", "random_state",
             "0", "max_iter", "500", "learning_rate_init", "0.01", NULL);
    fit_ok(e, &X, y);
    const json_t *fi = e->fit_info;
    size_t n_iter = (size_t)json_integer_value(json_object_get(fi, "n_iter"));
    assert_int_equal(json_array_size(json_object_get(fi, "validation_scores")), n_iter);
    assert_int_equal(json_integer_value(json_object_get(fi, "n_validation")), 30);
    assert_true(json_is_null(json_object_get(fi, "best_loss")));
    assert_true(json_real_value(json_object_get(fi, "best_validation_score")) == 1.0);
    assert_true(json_is_true(json_object_get(fi, "converged"))); /* stopped early */
    assert_true(n_iter < 500);
    assert_true(accuracy(e, &X, y) > 0.9); /* the weights of the best validation epoch */
    ef_estimator_free(e);

    /* early stopping on a regressor uses R2 on an unstratified split */
    double yr[300];
    for (size_t i = 0; i < 300; i++)
        yr[i] = EF_MAT_AT(&X, i, 0) - EF_MAT_AT(&X, i, 1);
    e = make("mlp_regressor", "hidden_layer_sizes", "10", "early_stopping", "true",
             "validation_fraction", "0.2", "random_state", "0", "max_iter", "300", NULL);
    fit_ok(e, &X, yr);
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "n_validation")), 60);
    assert_true(json_real_value(json_object_get(e->fit_info, "best_validation_score")) > 0.9);
    ef_estimator_free(e);

    /* the sgd schedules all learn; adaptive divides the rate instead of stopping at once */
    const char *sched[] = {"constant", "invscaling", "adaptive"};
    const char *nesterov[] = {"true", "false", "true"};
    for (size_t s = 0; s < 3; s++) {
        e = make("mlp_classifier", "solver", "sgd", "learning_rate", sched[s], "nesterovs_momentum",
                 nesterov[s], "hidden_layer_sizes", "10", "learning_rate_init",
                 s == 1 ? "0.5" : "0.05", "random_state", "0", "max_iter", "200", NULL);
        fit_ok(e, &X, y);
        const json_t *c = json_object_get(e->fit_info, "loss_curve");
        size_t n = json_array_size(c);
        assert_true(json_real_value(json_array_get(c, n - 1)) <
                    json_real_value(json_array_get(c, 0)) * 0.5);
        assert_true(accuracy(e, &X, y) > 0.98);
        ef_estimator_free(e);
    }
    /* shuffle=False uses the data order every epoch: two fits agree */
    e = make("mlp_classifier", "shuffle", "false", "max_iter", "5", "hidden_layer_sizes", "5",
             "random_state", "0", "batch_size", "32", NULL);
    fit_ok(e, &X, y);
    assert_int_equal(json_array_size(json_object_get(e->fit_info, "loss_curve")), 5);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

/* The minibatch team (mlp_batch.c) splits layers by units: any number of workers gives the same
 * fit up to the order of a few sums, and OpenBLAS's thread count is restored afterwards. */
static void test_mlp_threads(void **state)
{
    (void)state;
    ef_mat X;
    double y[400];
    blobs(&X, y, 400, 20, 4, 14);
    const char *nets[] = {"64", "48,40,32"};
    const char *acts[] = {"relu", "tanh"};
    int blas = openblas_get_num_threads();
    for (size_t i = 0; i < 2; i++) {
        json_t *curve[2];
        ef_mat proba[2];
        for (int k = 0; k < 2; k++) {
            setenv("EF_ML_THREADS", k ? "3" : "1", 1);
            ef_estimator *e = make("mlp_classifier", "hidden_layer_sizes", nets[i], "activation",
                                   acts[i], "random_state", "5", "max_iter", "6", "early_stopping",
                                   i ? "true" : "false", NULL);
            fit_ok(e, &X, y);
            assert_int_equal(json_integer_value(json_object_get(e->fit_info, "threads")),
                             k ? 3 : 1);
            assert_int_equal(openblas_get_num_threads(), blas);
            curve[k] = curve_of(e);
            ef_ml_err err;
            assert_int_equal(ef_estimator_predict_proba(e, &X, &proba[k], &err), EF_OK);
            ef_estimator_free(e);
        }
        assert_int_equal(json_array_size(curve[0]), json_array_size(curve[1]));
        for (size_t j = 0; j < json_array_size(curve[0]); j++) {
            double a = json_real_value(json_array_get(curve[0], j));
            double b = json_real_value(json_array_get(curve[1], j));
            assert_true(fabs(a / b - 1) < 1e-12);
        }
        for (size_t j = 0; j < proba[0].rows * proba[0].cols; j++)
            assert_true(fabs(proba[0].v[j] - proba[1].v[j]) < 1e-12);
        json_decref(curve[0]);
        json_decref(curve[1]);
        ef_mat_release(&proba[0]);
        ef_mat_release(&proba[1]);
    }
    unsetenv("EF_ML_THREADS");
    ef_mat_release(&X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lda_separable), cmocka_unit_test(test_lda_binary_and_priors),
        cmocka_unit_test(test_lda_params),    cmocka_unit_test(test_lda_other_solvers),
        cmocka_unit_test(test_lda_save_load), cmocka_unit_test(test_mlp_separable),
        cmocka_unit_test(test_mlp_params),    cmocka_unit_test(test_mlp_save_load),
        cmocka_unit_test(test_mlp_cancel),    cmocka_unit_test(test_mlp_regressor),
        cmocka_unit_test(test_mlp_seeds),     cmocka_unit_test(test_mlp_early_stopping_and_sgd),
        cmocka_unit_test(test_mlp_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
