/* linear_int.h - internals shared by linear.c (ElasticNet, Lasso, Ridge, LinearRegression) and
 * linear_cd.c (the coordinate-descent solver). Not a public header: nothing outside
 * src/ml/linear*.c includes it.
 */
#ifndef EF_ML_LINEAR_INT_H
#define EF_ML_LINEAR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ml/ml.h"

/* One elastic-net problem for coordinate descent, in cd_fast's scaling:
 *   minimise 0.5 * ||y - X w||^2 + l1_reg * ||w||_1 + 0.5 * l2_reg * ||w||^2
 * (scikit-learn passes l1_reg = alpha * l1_ratio * n, l2_reg = alpha * (1 - l1_ratio) * n). */
typedef struct ml__cd_problem {
    const double *X; /* n x d, column-major (Fortran order, like scikit-learn's X in cd_fast) */
    const double *y; /* n, already centred when the model fits an intercept */
    size_t n, d;
    double l1_reg, l2_reg;
    long max_iter;              /* >= 1 */
    double tol;                 /* unscaled; the solver multiplies it by y.y like cd_fast */
    int random;                 /* selection='random': coordinates drawn with sklearn's rand_r */
    int positive;               /* constrain w >= 0 */
    int gram;                   /* precompute=True: work on Q = X'X and q = X'y (cd_fast's _gram) */
    uint32_t seed;              /* rand_r state: RandomState(random_state).randint(0, 2^31 - 1) */
    ef_ml_progress_fn progress; /* optional, called once per outer iteration */
    void *progress_ctx;
} ml__cd_problem;

typedef struct ml__cd_result {
    double gap;    /* last duality gap, in cd_fast's scale (not divided by n) */
    double tol;    /* tol * y.y, the gap threshold actually used */
    long n_iter;   /* like scikit-learn's n_iter_ */
    int converged; /* 0: max_iter reached (scikit-learn's ConvergenceWarning) */
} ml__cd_result;

/* Runs coordinate descent from w (d entries, updated in place; zeros for a cold start).
 * Returns 0, EF_ENOMEM, or EF_EAGAIN when the progress callback cancelled the fit. */
int ml__cd_solve(const ml__cd_problem *p, double *w, ml__cd_result *out);

/* numpy's pairwise summation of n doubles at stride `stride` (elements), in blocks of numpy's
 * 8192-element buffer, so column means equal np.mean's bit for bit. */
double ml__pairwise_sum(const double *a, size_t n, size_t stride);

#endif
