/* linear.c - the linear regressors with scikit-learn 1.2's parameters, defaults and algorithms:
 *   elasticnet         sklearn.linear_model.ElasticNet: coordinate descent (linear_cd.c)
 *   lasso              sklearn.linear_model.Lasso: ElasticNet with l1_ratio = 1
 *   ridge              sklearn.linear_model.Ridge: Cholesky on X'X + alpha I ('auto' for dense X
 *                      without sample weights), the kernel form X X' when d > n, or the SVD
 *   linear_regression  sklearn.linear_model.LinearRegression: least squares by LAPACK's gelsd
 *                      like scipy.linalg.lstsq
 * Every model first centres X and y when fit_intercept is set (sklearn's _preprocess_data, with
 * numpy's pairwise summation for the means) and sets intercept = mean(y) - mean(X).coef.
 *
 * Fitted state and model.json "weights": {"coef": [d numbers], "intercept": number};
 * prediction = X.coef + intercept (one cblas_dgemv, so a reloaded model predicts bit for bit).
 * fit_info: "n_iter" (null for the direct solvers), "dual_gap" and "converged" for coordinate
 * descent, "solver" for Ridge, "rank" for LinearRegression.
 */
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/rng.h"
#include "ml/linear_int.h"

/* ---- parameters --------------------------------------------------------------------------- */

/* Help texts shared by several tables. */
#define H_FIT_INTERCEPT "fit an intercept (centres X and y first); false: data expected centred"
#define H_COPY_X "accepted and ignored: edgeflow never overwrites the training data"
#define H_PRECOMPUTE                                                                               \
    "true: coordinate descent on the Gram matrix X'X (faster when n_samples >> n_features); a "    \
    "precomputed array cannot be given"
#define H_CD_MAX_ITER "maximum number of coordinate-descent sweeps (>= 1)"
#define H_CD_TOL                                                                                   \
    "stop when the duality gap is below tol * ||y||^2 (checked once the largest update is below "  \
    "tol)"
#define H_WARM_START "accepted and ignored: every fit starts from zero coefficients"
#define H_POSITIVE "constrain the coefficients to be >= 0"
#define H_CD_RANDOM_STATE                                                                          \
    "seed (0 .. 2^32-1) of numpy's RandomState for selection='random'; None: unseeded"
#define H_SELECTION "coordinate order: cyclic, or random draws (scikit-learn's rand_r) each sweep"

static const ef_ml_param enet_params[] = {
    {"alpha", EF_ML_PDOUBLE, "1.0", 0, NULL, "constant that multiplies the penalty terms (>= 0)"},
    {"l1_ratio", EF_ML_PDOUBLE, "0.5", 0, NULL,
     "mix of L1 and L2 penalty in [0, 1]: 1 is the lasso, 0 a ridge penalty"},
    {"fit_intercept", EF_ML_PBOOL, "true", 0, NULL, H_FIT_INTERCEPT},
    {"precompute", EF_ML_PBOOL, "false", 0, NULL, H_PRECOMPUTE},
    {"max_iter", EF_ML_PINT, "1000", 0, NULL, H_CD_MAX_ITER},
    {"copy_X", EF_ML_PBOOL, "true", 0, NULL, H_COPY_X},
    {"tol", EF_ML_PDOUBLE, "0.0001", 0, NULL, H_CD_TOL},
    {"warm_start", EF_ML_PBOOL, "false", 0, NULL, H_WARM_START},
    {"positive", EF_ML_PBOOL, "false", 0, NULL, H_POSITIVE},
    {"random_state", EF_ML_PINT, "None", 1, NULL, H_CD_RANDOM_STATE},
    {"selection", EF_ML_PSTRING, "cyclic", 0, "cyclic|random", H_SELECTION},
    {0},
};

static const ef_ml_param lasso_params[] = {
    {"alpha", EF_ML_PDOUBLE, "1.0", 0, NULL, "constant that multiplies the L1 term (>= 0)"},
    {"fit_intercept", EF_ML_PBOOL, "true", 0, NULL, H_FIT_INTERCEPT},
    {"precompute", EF_ML_PBOOL, "false", 0, NULL, H_PRECOMPUTE},
    {"copy_X", EF_ML_PBOOL, "true", 0, NULL, H_COPY_X},
    {"max_iter", EF_ML_PINT, "1000", 0, NULL, H_CD_MAX_ITER},
    {"tol", EF_ML_PDOUBLE, "0.0001", 0, NULL, H_CD_TOL},
    {"warm_start", EF_ML_PBOOL, "false", 0, NULL, H_WARM_START},
    {"positive", EF_ML_PBOOL, "false", 0, NULL, H_POSITIVE},
    {"random_state", EF_ML_PINT, "None", 1, NULL, H_CD_RANDOM_STATE},
    {"selection", EF_ML_PSTRING, "cyclic", 0, "cyclic|random", H_SELECTION},
    {0},
};

static const ef_ml_param ridge_params[] = {
    {"alpha", EF_ML_PDOUBLE, "1.0", 0, NULL, "L2 regularisation strength (>= 0)"},
    {"fit_intercept", EF_ML_PBOOL, "true", 0, NULL, H_FIT_INTERCEPT},
    {"copy_X", EF_ML_PBOOL, "true", 0, NULL, H_COPY_X},
    {"max_iter", EF_ML_PINT, "None", 1, NULL,
     "accepted and ignored: only iterative solvers use it and edgeflow's solvers are direct"},
    {"tol", EF_ML_PDOUBLE, "0.0001", 0, NULL,
     "accepted and ignored: only iterative solvers use it and edgeflow's solvers are direct"},
    {"solver", EF_ML_PSTRING, "auto", 0, "auto|svd|cholesky|lsqr|sparse_cg|sag|saga|lbfgs",
     "auto (= cholesky for dense data), cholesky or svd; the others are not implemented"},
    {"positive", EF_ML_PBOOL, "false", 0, NULL,
     "true is not supported (scikit-learn needs the lbfgs solver for it)"},
    {"random_state", EF_ML_PINT, "None", 1, NULL,
     "accepted and ignored: only the sag/saga solvers use it"},
    {0},
};

static const ef_ml_param linreg_params[] = {
    {"fit_intercept", EF_ML_PBOOL, "true", 0, NULL, H_FIT_INTERCEPT},
    {"copy_X", EF_ML_PBOOL, "true", 0, NULL, H_COPY_X},
    {"n_jobs", EF_ML_PINT, "None", 1, NULL, "accepted and ignored: fitting is single-threaded"},
    {"positive", EF_ML_PBOOL, "false", 0, NULL,
     "true is not supported (scikit-learn solves it with scipy's nnls)"},
    {0},
};

/* ---- shared pieces ------------------------------------------------------------------------ */

typedef struct lin_state {
    double *coef; /* n_features */
    double intercept;
} lin_state;

/* The training data as the solvers want it: centred copies and the offsets. */
typedef struct lin_data {
    double *X;     /* n x d centred copy, column-major or row-major as asked */
    double *y;     /* n centred copy */
    double *x_off; /* d column means (zeros without intercept) */
    double y_off;
} lin_data;

static void lin_data_release(lin_data *D)
{
    free(D->X);
    free(D->y);
    free(D->x_off);
    memset(D, 0, sizeof *D);
}

/* sklearn's _preprocess_data: X - mean(X), y - mean(y) when fit_intercept, else plain copies.
 * colmajor selects the layout of D->X. EF_ENOMEM. */
static int lin_data_init(lin_data *D, const ef_mat *X, const double *y, int fit_intercept,
                         int colmajor)
{
    size_t n = X->rows, d = X->cols;
    memset(D, 0, sizeof *D);
    D->X = malloc(n * d * sizeof *D->X);
    D->y = malloc(n * sizeof *D->y);
    D->x_off = calloc(d, sizeof *D->x_off);
    if (!D->X || !D->y || !D->x_off) {
        lin_data_release(D);
        return EF_ENOMEM;
    }
    if (fit_intercept) {
        for (size_t j = 0; j < d; j++)
            D->x_off[j] = ml__pairwise_sum(X->v + j, n, d) / (double)n;
        D->y_off = ml__pairwise_sum(y, n, 1) / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) {
            double v = X->v[i * d + j] - D->x_off[j];
            if (colmajor)
                D->X[j * n + i] = v;
            else
                D->X[i * d + j] = v;
        }
        D->y[i] = y[i] - D->y_off;
    }
    return EF_OK;
}

/* Moves coef into a fresh state with sklearn's _set_intercept. */
static int lin_finish(ef_estimator *e, const lin_data *D, double *coef, int fit_intercept,
                      ef_ml_err *err)
{
    int d = (int)e->n_features;
    double intercept = fit_intercept ? D->y_off - cblas_ddot(d, D->x_off, 1, coef, 1) : 0.0;
    for (int j = 0; j < d; j++)
        if (!isfinite(coef[j]))
            return ef_ml_errf(err, EF_EINVAL,
                              "%s: the fit produced non-finite coefficients; scale the features "
                              "(e.g. standard_scaler) and retry",
                              e->type->name);
    if (!isfinite(intercept))
        return ef_ml_errf(err, EF_EINVAL,
                          "%s: the fit produced a non-finite intercept; scale the "
                          "features and the target and retry",
                          e->type->name);
    lin_state *s = malloc(sizeof *s);
    if (!s) return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    s->coef = coef;
    s->intercept = intercept;
    e->state = s;
    return EF_OK;
}

static int check_sizes(const ef_estimator *e, const ef_mat *X, ef_ml_err *err)
{
    if (X->rows > INT_MAX || X->cols > INT_MAX || X->rows * X->cols > (size_t)INT_MAX)
        return ef_ml_errf(err, EF_ETOOBIG, "%s: %zu x %zu is too large for one fit (max %d values)",
                          e->type->name, X->rows, X->cols, INT_MAX);
    return EF_OK;
}

static int info_set(ef_estimator *e, const char *key, json_t *v, ef_ml_err *err)
{
    if (!v || json_object_set_new(e->fit_info, key, v))
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    return EF_OK;
}

/* ---- ElasticNet / Lasso -------------------------------------------------------------------- */

static uint32_t unseeded(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ ((uint32_t)getpid() << 16);
}

static int enet_fit_ratio(ef_estimator *e, const ef_mat *X, const double *y, double l1_ratio,
                          ef_ml_err *err)
{
    const char *name = e->type->name;
    double alpha = ef_ml_pdouble(e, "alpha"), tol = ef_ml_pdouble(e, "tol");
    long max_iter = ef_ml_pint(e, "max_iter");
    int fit_intercept = ef_ml_pbool(e, "fit_intercept");
    if (!(alpha >= 0))
        return ef_ml_errf(err, EF_EINVAL, "%s: alpha must be >= 0, got %g", name, alpha);
    if (!(l1_ratio >= 0 && l1_ratio <= 1))
        return ef_ml_errf(err, EF_EINVAL, "%s: l1_ratio must be in [0, 1], got %g", name, l1_ratio);
    if (max_iter < 1)
        return ef_ml_errf(err, EF_EINVAL, "%s: max_iter must be >= 1, got %ld", name, max_iter);
    if (!(tol >= 0)) return ef_ml_errf(err, EF_EINVAL, "%s: tol must be >= 0, got %g", name, tol);
    uint32_t seed32;
    if (ef_ml_pnull(e, "random_state")) {
        seed32 = unseeded();
    } else {
        long rs = ef_ml_pint(e, "random_state");
        if (rs < 0 || rs > (long)UINT32_MAX)
            return ef_ml_errf(err, EF_EINVAL,
                              "%s: random_state must be between 0 and 4294967295, got %ld", name,
                              rs);
        seed32 = (uint32_t)rs;
    }
    int rc = check_sizes(e, X, err);
    if (rc) return rc;
    if (alpha == 0)
        EF_WARN("%s: with alpha=0 coordinate descent does not converge well; use "
                "linear_regression instead",
                name);

    size_t n = X->rows, d = X->cols;
    lin_data D;
    double *w = calloc(d, sizeof *w);
    if (!w || lin_data_init(&D, X, y, fit_intercept, 1)) {
        free(w);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    ef_rng rng; /* cd_fast draws its rand_r seed from the RandomState even for cyclic order */
    ef_rng_seed(&rng, seed32);
    ml__cd_problem p = {
        .X = D.X,
        .y = D.y,
        .n = n,
        .d = d,
        .l1_reg = alpha * l1_ratio * (double)n,
        .l2_reg = alpha * (1.0 - l1_ratio) * (double)n,
        .max_iter = max_iter,
        .tol = tol,
        .random = !strcmp(ef_ml_pstring(e, "selection"), "random"),
        .positive = ef_ml_pbool(e, "positive"),
        .gram = ef_ml_pbool(e, "precompute"),
        .seed = (uint32_t)ef_rng_randint(&rng, 0, 0x7FFFFFFF),
        .progress = e->progress,
        .progress_ctx = e->progress_ctx,
    };
    ml__cd_result res;
    rc = ml__cd_solve(&p, w, &res);
    if (rc == EF_EAGAIN) {
        rc = ef_ml_errf(err, EF_EAGAIN, "%s: cancelled", name);
        goto out;
    }
    if (rc) {
        rc = ef_ml_errf(err, rc, "out of memory");
        goto out;
    }
    if (!res.converged)
        EF_WARN("%s: objective did not converge after %ld iterations (duality gap %g, tolerance "
                "%g); increase max_iter, raise tol or scale the features",
                name, res.n_iter, res.gap, res.tol);
    if ((rc = info_set(e, "n_iter", json_integer(res.n_iter), err)) ||
        (rc = info_set(e, "dual_gap", json_real(res.gap / (double)n), err)) ||
        (rc = info_set(e, "converged", json_boolean(res.converged), err)))
        goto out;
    rc = lin_finish(e, &D, w, fit_intercept, err);
    if (!rc) w = NULL; /* owned by the state now */
out:
    free(w);
    lin_data_release(&D);
    return rc;
}

static int enet_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                    ef_ml_err *err)
{
    (void)y_idx;
    return enet_fit_ratio(e, X, y, ef_ml_pdouble(e, "l1_ratio"), err);
}

static int lasso_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                     ef_ml_err *err)
{
    (void)y_idx;
    return enet_fit_ratio(e, X, y, 1.0, err);
}

/* ---- least squares, Cholesky, SVD ---------------------------------------------------------- */

/* scipy.linalg.lstsq(A, b) with gelsd and rcond = eps: A (m x n, LAPACK row- or column-major as
 * `layout` says) is overwritten, b holds max(m, n) doubles (right-hand side in the first m) and
 * receives x in its first n. Returns 0, EF_ENOMEM, or EF_EINVAL when the SVD does not converge. */
static int lstsq_layout(int layout, double *A, size_t m, size_t n, double *b, long *rank)
{
    size_t k = m < n ? m : n;
    double *s = malloc((k ? k : 1) * sizeof *s);
    if (!s) return EF_ENOMEM;
    lapack_int r = 0;
    lapack_int lda = layout == LAPACK_COL_MAJOR ? (lapack_int)m : (lapack_int)n;
    lapack_int ldb = layout == LAPACK_COL_MAJOR ? (lapack_int)(m > n ? m : n) : 1;
    lapack_int info =
        LAPACKE_dgelsd(layout, (lapack_int)m, (lapack_int)n, 1, A, lda, b, ldb, s, DBL_EPSILON, &r);
    free(s);
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR) return EF_ENOMEM;
    if (info != 0) return EF_EINVAL;
    *rank = r;
    return EF_OK;
}

static int lstsq(double *A, size_t m, size_t n, double *b, long *rank)
{
    return lstsq_layout(LAPACK_ROW_MAJOR, A, m, n, b, rank);
}

/* Solves the symmetric positive definite system A x = b (k x k, k right-hand side entries) like
 * scipy.linalg.solve(assume_a='pos'). 1 when A is not positive definite, 0, or EF_ENOMEM. */
static int solve_pos(double *A, size_t k, double *b)
{
    lapack_int info =
        LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', (lapack_int)k, 1, A, (lapack_int)k, b, (lapack_int)k);
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR) return EF_ENOMEM;
    return info > 0 ? 1 : (info < 0 ? EF_EINVAL : 0);
}

/* Ridge through the normal equations: (X'X + alpha I) w = X'y, or when d > n the kernel form
 * (X X' + alpha I) c = y, w = X'c (a singular kernel system falls back to lstsq like sklearn).
 * 1 when the primal system is singular (the caller then uses the SVD). */
static int ridge_cholesky(const lin_data *D, size_t n, size_t d, double alpha, double *w)
{
    int rc;
    if (d > n) {
        double *K = malloc(n * n * sizeof *K), *c = malloc(n * sizeof *c);
        double *K2 = NULL;
        if (!K || !c) {
            rc = EF_ENOMEM;
            goto kout;
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0, D->X, (int)d, 0.0,
                    K, (int)n);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < i; j++)
                K[i * n + j] = K[j * n + i];
            K[i * n + i] += alpha;
        }
        K2 = malloc(n * n * sizeof *K2);
        if (!K2) {
            rc = EF_ENOMEM;
            goto kout;
        }
        memcpy(K2, K, n * n * sizeof *K2);
        memcpy(c, D->y, n * sizeof *c);
        rc = solve_pos(K2, n, c);
        if (rc == 1) {
            long rank;
            EF_WARN("ridge: singular matrix in solving the dual problem; using the least-squares "
                    "solution instead");
            memcpy(c, D->y, n * sizeof *c);
            rc = lstsq(K, n, n, c, &rank);
        }
        if (!rc)
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)d, 1.0, D->X, (int)d, c, 1, 0.0, w,
                        1);
    kout:
        free(K2);
        free(K);
        free(c);
        return rc;
    }
    double *A = malloc(d * d * sizeof *A);
    if (!A) return EF_ENOMEM;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0, D->X, (int)d, 0.0, A,
                (int)d);
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j < i; j++)
            A[i * d + j] = A[j * d + i];
        A[i * d + i] += alpha;
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)d, 1.0, D->X, (int)d, D->y, 1, 0.0, w, 1);
    rc = solve_pos(A, d, w);
    free(A);
    return rc;
}

/* sklearn's _solve_svd: X = U S V', w = V diag(s / (s^2 + alpha)) U'y, ignoring s <= 1e-15. */
static int ridge_svd(const lin_data *D, size_t n, size_t d, double alpha, double *w)
{
    size_t k = n < d ? n : d;
    double *A = malloc(n * d * sizeof *A), *s = malloc(k * sizeof *s);
    double *U = malloc(n * k * sizeof *U), *VT = malloc(k * d * sizeof *VT);
    double *uty = malloc(k * sizeof *uty);
    int rc = EF_ENOMEM;
    if (!A || !s || !U || !VT || !uty) goto out;
    memcpy(A, D->X, n * d * sizeof *A);
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)n, (lapack_int)d, A,
                                     (lapack_int)d, s, U, (lapack_int)k, VT, (lapack_int)d);
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR) goto out;
    rc = EF_EINVAL;
    if (info != 0) goto out;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)k, 1.0, U, (int)k, D->y, 1, 0.0, uty, 1);
    for (size_t i = 0; i < k; i++)
        uty[i] *= s[i] > 1e-15 ? s[i] / (s[i] * s[i] + alpha) : 0.0;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)k, (int)d, 1.0, VT, (int)d, uty, 1, 0.0, w, 1);
    rc = EF_OK;
out:
    free(uty);
    free(VT);
    free(U);
    free(s);
    free(A);
    return rc;
}

static int ridge_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                     ef_ml_err *err)
{
    (void)y_idx;
    double alpha = ef_ml_pdouble(e, "alpha");
    const char *solver = ef_ml_pstring(e, "solver");
    int fit_intercept = ef_ml_pbool(e, "fit_intercept");
    if (!(alpha >= 0))
        return ef_ml_errf(err, EF_EINVAL, "ridge: alpha must be >= 0, got %g", alpha);
    if (ef_ml_pbool(e, "positive"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "ridge: positive=true needs the lbfgs solver, which edgeflow does not "
                          "implement; set positive=false");
    if (!strcmp(solver, "auto")) solver = "cholesky";
    if (strcmp(solver, "cholesky") && strcmp(solver, "svd"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "ridge: solver '%s' is not implemented; use solver=auto, cholesky or svd",
                          solver);
    int rc = check_sizes(e, X, err);
    if (rc) return rc;
    size_t n = X->rows, d = X->cols;
    lin_data D;
    double *w = calloc(d, sizeof *w);
    if (!w || lin_data_init(&D, X, y, fit_intercept, 0)) {
        free(w);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    rc = 1;
    if (!strcmp(solver, "cholesky")) rc = ridge_cholesky(&D, n, d, alpha, w);
    if (rc == 1) { /* singular normal equations: sklearn falls back to the SVD */
        solver = "svd";
        rc = ridge_svd(&D, n, d, alpha, w);
    }
    if (rc) {
        rc = rc == EF_ENOMEM ? ef_ml_errf(err, rc, "out of memory")
                             : ef_ml_errf(err, rc,
                                          "ridge: the %s solver failed (LAPACK); check "
                                          "the data for extreme values",
                                          solver);
        goto out;
    }
    if ((rc = info_set(e, "n_iter", json_null(), err)) ||
        (rc = info_set(e, "solver", json_string(solver), err)))
        goto out;
    rc = lin_finish(e, &D, w, fit_intercept, err);
    if (!rc) w = NULL;
out:
    free(w);
    lin_data_release(&D);
    return rc;
}

/* ---- LinearRegression ---------------------------------------------------------------------- */

static int linreg_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                      ef_ml_err *err)
{
    (void)y_idx;
    int fit_intercept = ef_ml_pbool(e, "fit_intercept");
    if (ef_ml_pbool(e, "positive"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "linear_regression: positive=true (non-negative least squares) is not "
                          "implemented; set positive=false");
    int rc = check_sizes(e, X, err);
    if (rc) return rc;
    size_t n = X->rows, d = X->cols;
    lin_data D;
    double *b = calloc(n > d ? n : d, sizeof *b);
    if (!b || lin_data_init(&D, X, y, fit_intercept, 0)) {
        free(b);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    memcpy(b, D.y, n * sizeof *b);
    long rank = 0;
    double *A = malloc(n * d * sizeof *A);
    if (!A) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    /* column-major copy: LAPACKE would otherwise transpose a row-major copy once more */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            A[j * n + i] = D.X[i * d + j];
    rc = lstsq_layout(LAPACK_COL_MAJOR, A, n, d, b, &rank);
    free(A);
    if (rc) {
        rc = rc == EF_ENOMEM ? ef_ml_errf(err, rc, "out of memory")
                             : ef_ml_errf(err, rc,
                                          "linear_regression: the SVD did not converge in "
                                          "least squares; check the data for extreme values");
        goto out;
    }
    if ((rc = info_set(e, "n_iter", json_null(), err)) ||
        (rc = info_set(e, "rank", json_integer(rank), err)))
        goto out;
    rc = lin_finish(e, &D, b, fit_intercept, err); /* the first d entries are the coefficients */
    if (!rc) b = NULL;
out:
    free(b);
    lin_data_release(&D);
    return rc;
}

/* ---- predict, save, load, release ---------------------------------------------------------- */

static int lin_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    const lin_state *s = e->state;
    if (X->rows > INT_MAX || X->cols > INT_MAX)
        return ef_ml_errf(err, EF_ETOOBIG, "%s: predict at most %d rows at a time", e->type->name,
                          INT_MAX);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)X->rows, (int)X->cols, 1.0, X->v, (int)X->cols,
                s->coef, 1, 0.0, out, 1);
    for (size_t i = 0; i < X->rows; i++)
        out[i] += s->intercept;
    return EF_OK;
}

static int lin_save(const ef_estimator *e, json_t *weights, const char *dir, ef_ml_err *err)
{
    (void)dir;
    const lin_state *s = e->state;
    if (!s) return ef_ml_errf(err, EF_EINVAL, "%s is not fitted yet", e->type->name);
    if (json_object_set_new(weights, "coef", ef_ml_json_vec(s->coef, e->n_features)) ||
        json_object_set_new(weights, "intercept", json_real(s->intercept)))
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    return EF_OK;
}

static void lin_release(ef_estimator *e)
{
    lin_state *s = e->state;
    if (s) free(s->coef);
    free(s);
    e->state = NULL;
}

static int lin_load(ef_estimator *e, const json_t *weights, const char *dir, ef_ml_err *err)
{
    (void)dir;
    if (!json_is_object(weights))
        return ef_ml_errf(err, EF_EINVAL,
                          "model.json: weights must be an object with coef and "
                          "intercept");
    if (e->n_features == 0)
        return ef_ml_errf(err, EF_EINVAL, "model.json: n_features must be set before the weights");
    const json_t *ic = json_object_get(weights, "intercept");
    if (!json_is_number(ic) || !isfinite(json_number_value(ic)))
        return ef_ml_errf(err, EF_EINVAL, "model.json: weights.intercept must be a finite number");
    lin_state *s = calloc(1, sizeof *s);
    double *coef = malloc(e->n_features * sizeof *coef);
    if (!s || !coef) {
        free(s);
        free(coef);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    int rc = ef_ml_json_get_vec(json_object_get(weights, "coef"), coef, e->n_features,
                                "weights.coef", err);
    if (rc) {
        free(s);
        free(coef);
        return rc;
    }
    if (e->state) lin_release(e);
    s->coef = coef;
    s->intercept = json_number_value(ic);
    e->state = s;
    return EF_OK;
}

/* The four regressors share the fitted state (coef + intercept) and so predict, save, load and
 * release; they differ in name, parameters and fit. */
#define LIN_TYPE(ident, type_name, cls, param_table, fit_fn)                                       \
    const ef_ml_type ident = {                                                                     \
        .name = type_name,                                                                         \
        .sklearn_class = cls,                                                                      \
        .task = EF_ML_REGRESSOR,                                                                   \
        .params = param_table,                                                                     \
        .fit = fit_fn,                                                                             \
        .predict = lin_predict,                                                                    \
        .save = lin_save,                                                                          \
        .load = lin_load,                                                                          \
        .release = lin_release,                                                                    \
    }

LIN_TYPE(ef_ml_elasticnet, "elasticnet", "sklearn.linear_model.ElasticNet", enet_params, enet_fit);
LIN_TYPE(ef_ml_lasso, "lasso", "sklearn.linear_model.Lasso", lasso_params, lasso_fit);
LIN_TYPE(ef_ml_ridge, "ridge", "sklearn.linear_model.Ridge", ridge_params, ridge_fit);
LIN_TYPE(ef_ml_linear_regression, "linear_regression", "sklearn.linear_model.LinearRegression",
         linreg_params, linreg_fit);
