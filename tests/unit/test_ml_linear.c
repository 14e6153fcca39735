/* Unit tests for src/ml/linear.c, linear_cd.c and logistic.c: exact small problems (a line,
 * a plane, the all-zero lasso), optimality conditions of ElasticNet / Ridge / LogisticRegression
 * solutions checked independently of the solvers, parameter defaults and validation, unsupported
 * options, convergence reporting, progress/cancel, and the model.json round trip (predictions of a
 * reloaded model equal the fitted model's bit for bit). scikit-learn parity on real data lives in
 * tests/integration/test_61_ml_linear.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "ml/ml.h"

/* A deterministic design: n x d values from a small LCG in [-1, 1), plus column offsets so the
 * intercept matters. */
static void make_X(ef_mat *X, size_t n, size_t d, uint32_t seed)
{
    assert_int_equal(ef_mat_init(X, n, d), EF_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            seed = seed * 1664525u + 1013904223u;
            EF_MAT_AT(X, i, j) = (double)(seed >> 8) / (double)(1u << 24) * 2.0 - 1.0 + (double)j;
        }
}

/* y = X.w + b + noise * (deterministic wiggle) */
static double *make_y(const ef_mat *X, const double *w, double b, double noise)
{
    double *y = malloc(X->rows * sizeof *y);
    assert_non_null(y);
    for (size_t i = 0; i < X->rows; i++) {
        y[i] = b + noise * sin(3.0 * (double)i);
        for (size_t j = 0; j < X->cols; j++)
            y[i] += EF_MAT_AT(X, i, j) * w[j];
    }
    return y;
}

static ef_estimator *make(const char *type, const char *const *kv)
{
    const ef_ml_type *t = ef_ml_type_find(type);
    assert_non_null(t);
    ef_estimator *e = ef_estimator_new(t);
    assert_non_null(e);
    ef_ml_err err = {{0}};
    for (size_t i = 0; kv && kv[i]; i += 2) {
        int rc = ef_estimator_set(e, kv[i], kv[i + 1], &err);
        if (rc) fail_msg("set %s=%s: %s", kv[i], kv[i + 1], err.msg);
    }
    return e;
}

static void fit_ok(ef_estimator *e, const ef_mat *X, const double *y)
{
    ef_ml_err err = {{0}};
    int rc = ef_estimator_fit(e, X, y, &err);
    if (rc) fail_msg("fit %s: %s", e->type->name, err.msg);
}

static const json_t *weights_of(const ef_estimator *e, json_t *w)
{
    ef_ml_err err = {{0}};
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    return w;
}

static double wcoef(const ef_estimator *e, size_t j)
{
    json_t *w = json_object();
    weights_of(e, w);
    double v = json_number_value(json_array_get(json_object_get(w, "coef"), j));
    json_decref(w);
    return v;
}

static double wintercept(const ef_estimator *e)
{
    json_t *w = json_object();
    weights_of(e, w);
    double v = json_number_value(json_object_get(w, "intercept"));
    json_decref(w);
    return v;
}

/* ---- exact problems ---- */

static void test_linear_regression_exact(void **state)
{
    (void)state;
    ef_mat X;
    assert_int_equal(ef_mat_init(&X, 10, 1), EF_OK);
    double y[10];
    for (int i = 0; i < 10; i++) {
        EF_MAT_AT(&X, i, 0) = i;
        y[i] = 2.0 * i + 1.0;
    }
    ef_estimator *e = make("linear_regression", NULL);
    fit_ok(e, &X, y);
    assert_true(fabs(wcoef(e, 0) - 2.0) < 1e-12);
    assert_true(fabs(wintercept(e) - 1.0) < 1e-12);
    double x_new[2] = {100.0, -3.5}, out[2];
    ef_mat Xn = {2, 1, x_new};
    ef_ml_err err;
    assert_int_equal(ef_estimator_predict(e, &Xn, out, &err), EF_OK);
    assert_true(fabs(out[0] - 201.0) < 1e-10);
    assert_true(fabs(out[1] + 6.0) < 1e-10);
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "rank")), 1);
    ef_estimator_free(e);

    /* a plane through three features, and without intercept through the origin */
    ef_mat X3;
    make_X(&X3, 40, 3, 7);
    double w[3] = {2.0, -3.0, 0.5};
    double *y3 = make_y(&X3, w, 1.25, 0.0);
    e = make("linear_regression", NULL);
    fit_ok(e, &X3, y3);
    for (int j = 0; j < 3; j++)
        assert_true(fabs(wcoef(e, j) - w[j]) < 1e-10);
    assert_true(fabs(wintercept(e) - 1.25) < 1e-10);
    ef_estimator_free(e);
    free(y3);
    y3 = make_y(&X3, w, 0.0, 0.0);
    e = make("linear_regression", (const char *[]){"fit_intercept", "false", NULL});
    fit_ok(e, &X3, y3);
    for (int j = 0; j < 3; j++)
        assert_true(fabs(wcoef(e, j) - w[j]) < 1e-10);
    assert_true(wintercept(e) == 0.0);
    ef_estimator_free(e);
    free(y3);
    ef_mat_release(&X3);
    ef_mat_release(&X);
}

static void test_lasso_huge_alpha(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 6, 4, 3);
    double w[4] = {1, 2, 3, 4};
    double *y = make_y(&X, w, 5.0, 0.3);
    ef_estimator *e = make("lasso", (const char *[]){"alpha", "1e6", NULL});
    fit_ok(e, &X, y);
    double mean = 0;
    for (int i = 0; i < 6; i++)
        mean += y[i];
    mean /= 6;
    for (int j = 0; j < 4; j++)
        assert_true(wcoef(e, j) == 0.0);
    assert_true(wintercept(e) == mean); /* n < 8: numpy's sum is the plain loop */
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "n_iter")), 1);
    assert_true(json_is_true(json_object_get(e->fit_info, "converged")));
    ef_estimator_free(e);
    free(y);
    ef_mat_release(&X);
}

/* KKT conditions of 0.5/n ||y - Xw - b||^2 + a*r*|w|_1 + 0.5*a*(1-r)*|w|^2 at the fitted w. */
static void check_enet_kkt(const ef_estimator *e, const ef_mat *X, const double *y, double alpha,
                           double l1_ratio, double tol)
{
    size_t n = X->rows, d = X->cols;
    double *R = malloc(n * sizeof *R);
    assert_non_null(R);
    double b = wintercept(e), rsum = 0;
    for (size_t i = 0; i < n; i++) {
        R[i] = y[i] - b;
        for (size_t j = 0; j < d; j++)
            R[i] -= EF_MAT_AT(X, i, j) * wcoef(e, j);
        rsum += R[i];
    }
    assert_true(fabs(rsum / (double)n) < 1e-9); /* the intercept centres the residuals */
    for (size_t j = 0; j < d; j++) {
        double wj = wcoef(e, j), xr = 0;
        for (size_t i = 0; i < n; i++)
            xr += EF_MAT_AT(X, i, j) * R[i];
        double gj = xr / (double)n - alpha * (1 - l1_ratio) * wj;
        if (wj != 0.0)
            assert_true(fabs(gj - alpha * l1_ratio * (wj > 0 ? 1 : -1)) < tol);
        else
            assert_true(fabs(gj) <= alpha * l1_ratio + tol);
    }
    free(R);
}

static void test_elasticnet_optimality(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 60, 5, 11);
    double w[5] = {1.5, 0.0, -2.0, 0.05, 0.0};
    double *y = make_y(&X, w, 3.0, 0.2);
    const char *ratios[] = {"0.5", "0.1", "0.9", "1"};
    for (size_t k = 0; k < 4; k++) {
        ef_estimator *e = make("elasticnet", (const char *[]){"alpha", "0.05", "l1_ratio",
                                                              ratios[k], "tol", "1e-12", NULL});
        fit_ok(e, &X, y);
        check_enet_kkt(e, &X, y, 0.05, atof(ratios[k]), 1e-6);
        assert_true(json_is_true(json_object_get(e->fit_info, "converged")));
        assert_true(json_number_value(json_object_get(e->fit_info, "dual_gap")) < 1e-6);
        /* the Gram variant and random selection reach the same optimum */
        ef_estimator *g =
            make("elasticnet", (const char *[]){"alpha", "0.05", "l1_ratio", ratios[k], "tol",
                                                "1e-12", "precompute", "true", NULL});
        ef_estimator *r = make(
            "elasticnet", (const char *[]){"alpha", "0.05", "l1_ratio", ratios[k], "tol", "1e-12",
                                           "selection", "random", "random_state", "3", NULL});
        fit_ok(g, &X, y);
        fit_ok(r, &X, y);
        for (size_t j = 0; j < 5; j++) {
            assert_true(fabs(wcoef(g, j) - wcoef(e, j)) < 1e-8);
            assert_true(fabs(wcoef(r, j) - wcoef(e, j)) < 1e-8);
        }
        ef_estimator_free(g);
        ef_estimator_free(r);
        ef_estimator_free(e);
    }
    /* the Lasso is ElasticNet with l1_ratio = 1 */
    ef_estimator *l = make("lasso", (const char *[]){"alpha", "0.05", NULL});
    ef_estimator *en = make("elasticnet", (const char *[]){"alpha", "0.05", "l1_ratio", "1", NULL});
    fit_ok(l, &X, y);
    fit_ok(en, &X, y);
    for (size_t j = 0; j < 5; j++)
        assert_true(wcoef(l, j) == wcoef(en, j));
    ef_estimator_free(l);
    ef_estimator_free(en);
    /* positive=true keeps every coefficient >= 0 */
    ef_estimator *p =
        make("elasticnet", (const char *[]){"alpha", "0.01", "positive", "true", NULL});
    fit_ok(p, &X, y);
    for (size_t j = 0; j < 5; j++)
        assert_true(wcoef(p, j) >= 0.0);
    assert_true(wcoef(p, 0) > 0.5);
    ef_estimator_free(p);
    free(y);
    ef_mat_release(&X);
}

static void test_elasticnet_random_state(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 30, 6, 5);
    double w[6] = {1, -1, 2, 0, 0.5, 3};
    double *y = make_y(&X, w, 0.0, 0.5);
    const char *kv[] = {"alpha", "0.01", "selection", "random", "random_state", "42", NULL};
    ef_estimator *a = make("elasticnet", kv), *b = make("elasticnet", kv);
    fit_ok(a, &X, y);
    fit_ok(b, &X, y);
    for (size_t j = 0; j < 6; j++)
        assert_true(wcoef(a, j) == wcoef(b, j)); /* same seed, same sweeps */
    assert_true(
        json_equal(json_object_get(a->fit_info, "n_iter"), json_object_get(b->fit_info, "n_iter")));
    ef_estimator_free(a);
    ef_estimator_free(b);
    free(y);
    ef_mat_release(&X);
}

static void test_not_converged(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 50, 4, 9);
    double w[4] = {1, 2, -1, 0.3};
    double *y = make_y(&X, w, 1.0, 0.1);
    ef_log_level old = ef_log_get_level();
    ef_log_set_level(EF_LOG_ERROR); /* the ConvergenceWarning line is expected here */
    ef_estimator *e =
        make("elasticnet", (const char *[]){"alpha", "0.001", "max_iter", "1", "tol", "0", NULL});
    fit_ok(e, &X, y);
    assert_true(json_is_false(json_object_get(e->fit_info, "converged")));
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "n_iter")), 1);
    ef_estimator_free(e);
    double *yc = malloc(50 * sizeof *yc);
    for (int i = 0; i < 50; i++)
        yc[i] = y[i] > 4.0 ? 1.0 : 0.0;
    e = make("logistic_regression", (const char *[]){"max_iter", "2", NULL});
    fit_ok(e, &X, yc);
    assert_true(json_is_false(json_object_get(e->fit_info, "converged")));
    assert_int_equal(json_integer_value(json_object_get(e->fit_info, "n_iter")), 2);
    ef_estimator_free(e);
    ef_log_set_level(old);
    free(yc);
    free(y);
    ef_mat_release(&X);
}

/* Ridge's normal equations X'(Xw + b - y) + alpha w = 0 hold for every solver and shape. */
static void check_ridge(const ef_estimator *e, const ef_mat *X, const double *y, double alpha)
{
    size_t n = X->rows, d = X->cols;
    double b = wintercept(e);
    for (size_t j = 0; j < d; j++) {
        double g = alpha * wcoef(e, j);
        for (size_t i = 0; i < n; i++) {
            double r = b - y[i];
            for (size_t k = 0; k < d; k++)
                r += EF_MAT_AT(X, i, k) * wcoef(e, k);
            g += EF_MAT_AT(X, i, j) * r;
        }
        assert_true(fabs(g) < 1e-9);
    }
}

static void test_ridge(void **state)
{
    (void)state;
    const char *solvers[] = {"auto", "cholesky", "svd"};
    size_t shapes[2][2] = {{40, 4}, {5, 9}}; /* d > n takes the kernel path of cholesky */
    for (size_t s = 0; s < 2; s++) {
        ef_mat X;
        make_X(&X, shapes[s][0], shapes[s][1], 21);
        double w[9] = {1, -2, 0.5, 3, 0, 1, 1, -1, 2};
        double *y = make_y(&X, w, 2.0, 0.3);
        double ref[9];
        for (size_t k = 0; k < 3; k++) {
            ef_estimator *e =
                make("ridge", (const char *[]){"alpha", "0.7", "solver", solvers[k], NULL});
            fit_ok(e, &X, y);
            check_ridge(e, &X, y, 0.7);
            for (size_t j = 0; j < X.cols; j++) {
                if (k == 0) ref[j] = wcoef(e, j);
                assert_true(fabs(wcoef(e, j) - ref[j]) < 1e-9);
            }
            ef_estimator_free(e);
        }
        free(y);
        ef_mat_release(&X);
    }
    /* alpha = 0 and a constant column (all zero once centred): X'X is singular, Cholesky fails
     * and sklearn's SVD fallback gives that column a zero coefficient */
    ef_mat X;
    make_X(&X, 10, 2, 4);
    for (size_t i = 0; i < 10; i++)
        EF_MAT_AT(&X, i, 1) = 5.0;
    double w[2] = {2, 1};
    double *y = make_y(&X, w, 1.0, 0.0);
    ef_estimator *e = make("ridge", (const char *[]){"alpha", "0", NULL});
    fit_ok(e, &X, y);
    assert_string_equal(json_string_value(json_object_get(e->fit_info, "solver")), "svd");
    assert_true(fabs(wcoef(e, 0) - 2.0) < 1e-10);
    assert_true(wcoef(e, 1) == 0.0);
    assert_true(fabs(wintercept(e) - 6.0) < 1e-10);
    ef_estimator_free(e);
    free(y);
    ef_mat_release(&X);
}

/* ---- logistic regression ---- */

static double expit(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

static void test_logistic_binary_optimality(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 80, 3, 13);
    double y[80];
    for (size_t i = 0; i < 80; i++) /* noisy labels in {3, 7}: not separable */
        y[i] = EF_MAT_AT(&X, i, 0) - 0.5 * EF_MAT_AT(&X, i, 2) + 0.8 * sin(7.0 * (double)i) > -1.2
                   ? 7.0
                   : 3.0;
    ef_estimator *e = make("logistic_regression",
                           (const char *[]){"C", "2", "tol", "1e-10", "max_iter", "500", NULL});
    fit_ok(e, &X, y);
    assert_int_equal(e->n_classes, 2);
    json_t *wt = json_object();
    weights_of(e, wt);
    const json_t *c = json_array_get(json_object_get(wt, "coef"), 0);
    assert_int_equal(json_array_size(json_object_get(wt, "coef")), 1);
    double w[3], b = json_number_value(json_array_get(json_object_get(wt, "intercept"), 0));
    for (int j = 0; j < 3; j++)
        w[j] = json_number_value(json_array_get(c, j));
    json_decref(wt);
    /* gradient of sum log-loss + 0.5/C |w|^2 vanishes (to what scipy's ftol stop leaves) */
    double g[4] = {w[0] / 2, w[1] / 2, w[2] / 2, 0};
    for (size_t i = 0; i < 80; i++) {
        double z = b, t = y[i] == 7.0;
        for (int j = 0; j < 3; j++)
            z += EF_MAT_AT(&X, i, j) * w[j];
        for (int j = 0; j < 3; j++)
            g[j] += (expit(z) - t) * EF_MAT_AT(&X, i, j);
        g[3] += expit(z) - t;
    }
    for (int j = 0; j < 4; j++)
        assert_true(fabs(g[j]) < 1e-3);
    /* predict = classes[proba > 0.5], probabilities in [0, 1] summing to 1 */
    double pred[80];
    ef_mat P = {0};
    ef_ml_err err;
    assert_int_equal(ef_estimator_predict(e, &X, pred, &err), EF_OK);
    assert_int_equal(ef_estimator_predict_proba(e, &X, &P, &err), EF_OK);
    assert_int_equal(P.cols, 2);
    size_t agree = 0;
    for (size_t i = 0; i < 80; i++) {
        assert_true(fabs(EF_MAT_AT(&P, i, 0) + EF_MAT_AT(&P, i, 1) - 1.0) < 1e-15);
        assert_true(pred[i] == (EF_MAT_AT(&P, i, 1) > 0.5 ? 7.0 : 3.0));
        agree += pred[i] == y[i];
    }
    assert_true(agree > 60);
    ef_mat_release(&P);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

static void test_logistic_multinomial(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 90, 2, 17);
    double y[90];
    for (size_t i = 0; i < 90; i++) {
        double s = EF_MAT_AT(&X, i, 0) + 0.6 * sin(5.0 * (double)i);
        y[i] = s < -0.3 ? 10 : (s < 0.3 ? 20 : 30);
    }
    ef_estimator *e =
        make("logistic_regression", (const char *[]){"tol", "1e-10", "max_iter", "1000", NULL});
    fit_ok(e, &X, y);
    json_t *wt = json_object();
    weights_of(e, wt);
    double W[3][2], b[3];
    for (int k = 0; k < 3; k++) {
        b[k] = json_number_value(json_array_get(json_object_get(wt, "intercept"), k));
        for (int j = 0; j < 2; j++)
            W[k][j] = json_number_value(
                json_array_get(json_array_get(json_object_get(wt, "coef"), k), j));
    }
    json_decref(wt);
    /* softmax gradient + W / C vanishes (to what scipy's ftol stop leaves); the intercepts sum to
     * zero from a zero start */
    double G[3][3] = {{0}};
    for (size_t i = 0; i < 90; i++) {
        double z[3], m = -INFINITY, s = 0;
        for (int k = 0; k < 3; k++) {
            z[k] = b[k] + W[k][0] * EF_MAT_AT(&X, i, 0) + W[k][1] * EF_MAT_AT(&X, i, 1);
            m = fmax(m, z[k]);
        }
        for (int k = 0; k < 3; k++)
            s += exp(z[k] - m);
        for (int k = 0; k < 3; k++) {
            double r = exp(z[k] - m) / s - (y[i] == 10.0 * (k + 1));
            G[k][0] += r * EF_MAT_AT(&X, i, 0);
            G[k][1] += r * EF_MAT_AT(&X, i, 1);
            G[k][2] += r;
        }
    }
    for (int k = 0; k < 3; k++) {
        assert_true(fabs(G[k][0] + W[k][0]) < 1e-3);
        assert_true(fabs(G[k][1] + W[k][1]) < 1e-3);
        assert_true(fabs(G[k][2]) < 1e-3);
    }
    assert_true(fabs(b[0] + b[1] + b[2]) < 1e-8);
    assert_non_null(strstr(json_string_value(json_object_get(e->fit_info, "message")), "CONV"));
    ef_mat P = {0};
    double pred[90];
    ef_ml_err err;
    assert_int_equal(ef_estimator_predict_proba(e, &X, &P, &err), EF_OK);
    assert_int_equal(ef_estimator_predict(e, &X, pred, &err), EF_OK);
    for (size_t i = 0; i < 90; i++) {
        size_t best = 0;
        for (size_t k = 1; k < 3; k++)
            if (EF_MAT_AT(&P, i, k) > EF_MAT_AT(&P, i, best)) best = k;
        assert_true(pred[i] == e->classes[best]);
    }
    ef_mat_release(&P);
    ef_estimator_free(e);

    /* two classes with multi_class=multinomial and no penalty: the same probabilities as the
     * binomial fit (one row, w1 - w0) */
    double y2[90];
    for (size_t i = 0; i < 90; i++)
        y2[i] = y[i] == 30 ? 1 : 0;
    ef_estimator *a =
        make("logistic_regression",
             (const char *[]){"penalty", "None", "tol", "1e-10", "max_iter", "1000", NULL});
    ef_estimator *m =
        make("logistic_regression", (const char *[]){"penalty", "none", "tol", "1e-10", "max_iter",
                                                     "1000", "multi_class", "multinomial", NULL});
    fit_ok(a, &X, y2);
    fit_ok(m, &X, y2);
    ef_mat Pa = {0}, Pm = {0};
    assert_int_equal(ef_estimator_predict_proba(a, &X, &Pa, &err), EF_OK);
    assert_int_equal(ef_estimator_predict_proba(m, &X, &Pm, &err), EF_OK);
    for (size_t i = 0; i < 90 * 2; i++)
        assert_true(fabs(Pa.v[i] - Pm.v[i]) < 1e-5); /* both stop at scipy's ftol */
    ef_mat_release(&Pa);
    ef_mat_release(&Pm);
    ef_estimator_free(a);
    ef_estimator_free(m);
    ef_mat_release(&X);
}

/* ---- parameters and errors ---- */

static void test_defaults(void **state)
{
    (void)state;
    ef_estimator *e = make("elasticnet", NULL);
    assert_true(ef_ml_pdouble(e, "alpha") == 1.0);
    assert_true(ef_ml_pdouble(e, "l1_ratio") == 0.5);
    assert_true(ef_ml_pdouble(e, "tol") == 1e-4);
    assert_int_equal(ef_ml_pint(e, "max_iter"), 1000);
    assert_true(ef_ml_pbool(e, "fit_intercept") && !ef_ml_pbool(e, "precompute"));
    assert_true(ef_ml_pnull(e, "random_state"));
    assert_string_equal(ef_ml_pstring(e, "selection"), "cyclic");
    assert_string_equal(e->type->sklearn_class, "sklearn.linear_model.ElasticNet");
    ef_estimator_free(e);
    e = make("lasso", NULL);
    assert_null(json_object_get(e->params, "l1_ratio"));
    assert_int_equal(json_object_size(e->params), 10);
    ef_estimator_free(e);
    e = make("ridge", NULL);
    assert_string_equal(ef_ml_pstring(e, "solver"), "auto");
    assert_true(ef_ml_pnull(e, "max_iter"));
    ef_estimator_free(e);
    e = make("linear_regression", NULL);
    assert_int_equal(json_object_size(e->params), 4);
    ef_estimator_free(e);
    e = make("logistic_regression", NULL);
    assert_true(ef_ml_pdouble(e, "C") == 1.0);
    assert_int_equal(ef_ml_pint(e, "max_iter"), 100);
    assert_string_equal(ef_ml_pstring(e, "penalty"), "l2");
    assert_string_equal(ef_ml_pstring(e, "multi_class"), "auto");
    assert_true(ef_ml_pnull(e, "class_weight") && ef_ml_pnull(e, "l1_ratio"));
    assert_int_equal(json_object_size(e->params), 15);
    assert_int_equal(e->type->task, EF_ML_CLASSIFIER);
    ef_estimator_free(e);
}

/* Fits type with params on (X, y) and expects code with a non-empty message. */
static void expect_fit_error(const char *type, const char *const *kv, const ef_mat *X,
                             const double *y, int code)
{
    ef_estimator *e = make(type, kv);
    ef_ml_err err = {{0}};
    int rc = ef_estimator_fit(e, X, y, &err);
    if (rc != code)
        fail_msg("%s %s: expected %d, got %d (%s)", type, kv ? kv[0] : "", code, rc, err.msg);
    assert_true(strlen(err.msg) > 10);
    assert_null(e->state);
    ef_estimator_free(e);
}

static void test_validation(void **state)
{
    (void)state;
    ef_estimator *e = make("elasticnet", NULL);
    ef_ml_err err = {{0}};
    assert_int_equal(ef_estimator_set(e, "alpah", "1", &err), EF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "l1_ratio")); /* lists the known names */
    assert_int_equal(ef_estimator_set(e, "alpha", "abc", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "selection", "shuffled", &err), EF_EINVAL);
    assert_int_equal(ef_estimator_set(e, "max_iter", "None", &err), EF_EINVAL);
    ef_estimator_free(e);

    ef_mat X;
    make_X(&X, 12, 2, 1);
    double y[12];
    for (int i = 0; i < 12; i++)
        y[i] = i % 3;
    expect_fit_error("elasticnet", (const char *[]){"alpha", "-1", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("elasticnet", (const char *[]){"l1_ratio", "1.5", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("lasso", (const char *[]){"max_iter", "0", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("lasso", (const char *[]){"tol", "-1", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("lasso", (const char *[]){"random_state", "-5", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("ridge", (const char *[]){"alpha", "-0.1", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("ridge", (const char *[]){"solver", "sag", NULL}, &X, y, EF_EUNSUPPORTED);
    expect_fit_error("ridge", (const char *[]){"solver", "lsqr", NULL}, &X, y, EF_EUNSUPPORTED);
    expect_fit_error("ridge", (const char *[]){"positive", "true", NULL}, &X, y, EF_EUNSUPPORTED);
    expect_fit_error("linear_regression", (const char *[]){"positive", "true", NULL}, &X, y,
                     EF_EUNSUPPORTED);
    expect_fit_error("logistic_regression", (const char *[]){"penalty", "l1", NULL}, &X, y,
                     EF_EUNSUPPORTED);
    expect_fit_error("logistic_regression", (const char *[]){"penalty", "elasticnet", NULL}, &X, y,
                     EF_EUNSUPPORTED);
    expect_fit_error("logistic_regression", (const char *[]){"solver", "saga", NULL}, &X, y,
                     EF_EUNSUPPORTED);
    expect_fit_error("logistic_regression", (const char *[]){"dual", "true", NULL}, &X, y,
                     EF_EUNSUPPORTED);
    expect_fit_error("logistic_regression", (const char *[]){"multi_class", "ovr", NULL}, &X, y,
                     EF_EUNSUPPORTED);
    expect_fit_error("logistic_regression", (const char *[]){"C", "0", NULL}, &X, y, EF_EINVAL);
    expect_fit_error("logistic_regression", (const char *[]){"max_iter", "-1", NULL}, &X, y,
                     EF_EINVAL);
    /* a classifier needs two classes (the core says so before the type's fit runs) */
    double one[12];
    for (int i = 0; i < 12; i++)
        one[i] = 4.0;
    expect_fit_error("logistic_regression", NULL, &X, one, EF_EINVAL);

    /* predict before fit */
    e = make("ridge", NULL);
    double out[12];
    assert_int_equal(ef_estimator_predict(e, &X, out, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "not fitted"));
    ef_estimator_free(e);
    e = make("logistic_regression", NULL);
    ef_mat P = {0};
    assert_int_equal(ef_estimator_predict_proba(e, &X, &P, &err), EF_EINVAL);
    ef_estimator_free(e);
    /* regressors have no probabilities */
    e = make("lasso", NULL);
    fit_ok(e, &X, y);
    assert_int_equal(ef_estimator_predict_proba(e, &X, &P, &err), EF_EUNSUPPORTED);
    ef_estimator_free(e);
    ef_mat_release(&X);
}

/* ---- progress / cancel ---- */

static int g_calls;

static int count_progress(void *ctx, long iter, long max_iter, double loss)
{
    (void)max_iter;
    g_calls++;
    assert_true(iter == g_calls && isfinite(loss));
    return ctx != NULL && g_calls >= 2;
}

static void test_progress_cancel(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 40, 3, 2);
    double w[3] = {1, -1, 0.5};
    double *y = make_y(&X, w, 0.0, 0.4);
    const char *types[] = {"elasticnet", "logistic_regression"};
    for (int t = 0; t < 2; t++) {
        double *yy = y, yc[40];
        if (t == 1) {
            for (int i = 0; i < 40; i++)
                yc[i] = y[i] > 0.5;
            yy = yc;
        }
        ef_estimator *e = make(types[t], (const char *[]){"tol", "1e-12", NULL} + 2 * t);
        if (t == 0) assert_int_equal(ef_estimator_set(e, "alpha", "0.001", NULL), EF_OK);
        e->progress = count_progress;
        g_calls = 0;
        fit_ok(e, &X, yy);
        assert_true(g_calls >= 2);
        assert_int_equal(g_calls, json_integer_value(json_object_get(e->fit_info, "n_iter")));
        e->progress_ctx = e; /* now cancel at the second call */
        g_calls = 0;
        ef_ml_err err = {{0}};
        assert_int_equal(ef_estimator_fit(e, &X, yy, &err), EF_EAGAIN);
        assert_non_null(strstr(err.msg, "cancelled"));
        assert_null(e->state);
        ef_estimator_free(e);
    }
    free(y);
    ef_mat_release(&X);
}

/* ---- model.json round trip ---- */

/* save -> text (17 digits) -> parse -> load into a fresh estimator -> same predictions. */
static void roundtrip(ef_estimator *e, const ef_mat *X)
{
    ef_ml_err err = {{0}};
    json_t *w = json_object();
    assert_int_equal(e->type->save(e, w, ".", &err), EF_OK);
    char *text = json_dumps(w, JSON_COMPACT | JSON_REAL_PRECISION(17));
    assert_non_null(text);
    json_decref(w);
    json_error_t je;
    w = json_loads(text, 0, &je);
    free(text);
    assert_non_null(w);
    ef_estimator *r = ef_estimator_new(e->type);
    r->n_features = e->n_features;
    if (e->n_classes) {
        r->classes = malloc(e->n_classes * sizeof *r->classes);
        memcpy(r->classes, e->classes, e->n_classes * sizeof *r->classes);
        r->n_classes = e->n_classes;
    }
    int rc = e->type->load(r, w, ".", &err);
    if (rc) fail_msg("load %s: %s", e->type->name, err.msg);
    double *p1 = malloc(X->rows * sizeof *p1), *p2 = malloc(X->rows * sizeof *p2);
    assert_int_equal(ef_estimator_predict(e, X, p1, &err), EF_OK);
    assert_int_equal(ef_estimator_predict(r, X, p2, &err), EF_OK);
    assert_memory_equal(p1, p2, X->rows * sizeof *p1);
    if (e->type->predict_proba) {
        ef_mat a = {0}, b = {0};
        assert_int_equal(ef_estimator_predict_proba(e, X, &a, &err), EF_OK);
        assert_int_equal(ef_estimator_predict_proba(r, X, &b, &err), EF_OK);
        assert_memory_equal(a.v, b.v, a.rows * a.cols * sizeof *a.v);
        ef_mat_release(&a);
        ef_mat_release(&b);
    }
    /* shape checks: a coef array one short, a missing intercept */
    json_t *coef = json_object_get(w, "coef");
    json_t *bad = json_deep_copy(w);
    json_t *bc = json_object_get(bad, "coef");
    if (e->type->task == EF_ML_CLASSIFIER) bc = json_array_get(bc, 0);
    json_array_remove(bc, 0);
    assert_int_equal(e->type->load(r, bad, ".", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "coef"));
    json_object_del(bad, "coef");
    json_object_set(bad, "coef", coef);
    json_object_del(bad, "intercept");
    assert_int_equal(e->type->load(r, bad, ".", &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "intercept"));
    json_decref(bad);
    json_decref(w);
    free(p1);
    free(p2);
    ef_estimator_free(r);
}

static void test_save_load(void **state)
{
    (void)state;
    ef_mat X;
    make_X(&X, 50, 4, 31);
    double w[4] = {0.3, -1.7, 2.2, 0.01};
    double *y = make_y(&X, w, -0.4, 0.5);
    const char *types[] = {"elasticnet", "lasso", "ridge", "linear_regression"};
    for (int t = 0; t < 4; t++) {
        ef_estimator *e =
            make(types[t], (const char *[]){"alpha", "0.01", NULL} + (t == 3 ? 2 : 0));
        fit_ok(e, &X, y);
        roundtrip(e, &X);
        ef_estimator_free(e);
    }
    double y2[50], y3[50];
    for (int i = 0; i < 50; i++) {
        y2[i] = y[i] > 1.0 ? 1.0 : -1.0;
        y3[i] = y[i] > 2.0 ? 2.0 : (y[i] > 0.0 ? 1.0 : 0.0);
    }
    ef_estimator *e = make("logistic_regression", NULL);
    fit_ok(e, &X, y2);
    roundtrip(e, &X);
    fit_ok(e, &X, y3); /* refit: three classes */
    assert_int_equal(e->n_classes, 3);
    roundtrip(e, &X);
    ef_estimator_free(e);
    free(y);
    ef_mat_release(&X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_regression_exact),
        cmocka_unit_test(test_lasso_huge_alpha),
        cmocka_unit_test(test_elasticnet_optimality),
        cmocka_unit_test(test_elasticnet_random_state),
        cmocka_unit_test(test_not_converged),
        cmocka_unit_test(test_ridge),
        cmocka_unit_test(test_logistic_binary_optimality),
        cmocka_unit_test(test_logistic_multinomial),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_progress_cancel),
        cmocka_unit_test(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
