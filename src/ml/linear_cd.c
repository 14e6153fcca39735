/* linear_cd.c - coordinate descent for the elastic net, re-expressed from scikit-learn 1.2's
 * cd_fast (enet_coordinate_descent and enet_coordinate_descent_gram) so that iterates, the
 * stopping rule and n_iter_ agree with scikit-learn:
 *   - one outer iteration visits every coordinate once (cyclic order, or n draws of
 *     rand_r % d for selection='random');
 *   - when the largest coordinate change of a sweep is below tol relative to the largest
 *     coefficient (or w is all zero, or it is the last iteration) the duality gap is computed and
 *     the solver stops once gap < tol * y.y;
 *   - n_iter is the number of sweeps done.
 * Dense products go through cblas (ddot/daxpy/dgemv/dasum) on a column-major X like cd_fast's.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/linear_int.h"

#define RAND_R_MAX 0x7FFFFFFFu
#define NUMPY_BUFSIZE 8192

static double pairwise_block(const double *a, size_t n, size_t stride)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++)
            res += a[i * stride];
        return res;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int j = 0; j < 8; j++)
            r[j] = a[(size_t)j * stride];
        for (i = 8; i < n - (n % 8); i += 8)
            for (size_t j = 0; j < 8; j++)
                r[j] += a[(i + j) * stride];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i * stride];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_block(a, n2, stride) + pairwise_block(a + n2 * stride, n - n2, stride);
}

double ml__pairwise_sum(const double *a, size_t n, size_t stride)
{
    double s = 0.;
    for (size_t off = 0; off < n; off += NUMPY_BUFSIZE) {
        size_t len = n - off < NUMPY_BUFSIZE ? n - off : NUMPY_BUFSIZE;
        s += pairwise_block(a + off * stride, len, stride);
    }
    return s;
}

/* scikit-learn's our_rand_r: a 32-bit xorshift, reduced to [0, 2^31 - 1]. */
static uint32_t rand_r_next(uint32_t *state)
{
    if (*state == 0) *state = 1;
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state % (RAND_R_MAX + 1u);
}

static double fsign(double f)
{
    return f == 0 ? 0. : (f > 0 ? 1. : -1.);
}

/* The soft-thresholded coordinate update both variants share. */
static double cd_update(double tmp, double l1, double denom, int positive)
{
    if (positive && tmp < 0) return 0.;
    return fsign(tmp) * fmax(fabs(tmp) - l1, 0) / denom;
}

static double dual_norm(const double *xta, size_t d, int positive)
{
    double m = positive ? xta[0] : fabs(xta[0]);
    for (size_t i = 1; i < d; i++) {
        double v = positive ? xta[i] : fabs(xta[i]);
        if (v > m) m = v;
    }
    return m;
}

/* The part of the gap both variants share, given R.R (r_norm2), the dual norm of X'R - l2 w and
 * R.y; returns the gap. */
static double gap_of(const ml__cd_problem *p, const double *w, double r_norm2, double dn,
                     double r_dot_y)
{
    int d = (int)p->d;
    double cst, gap;
    double w_norm2 = cblas_ddot(d, w, 1, w, 1);
    if (dn > p->l1_reg) {
        cst = p->l1_reg / dn;
        double a_norm2 = r_norm2 * (cst * cst);
        gap = 0.5 * (r_norm2 + a_norm2);
    } else {
        cst = 1.0;
        gap = r_norm2;
    }
    double l1_norm = cblas_dasum(d, w, 1);
    gap += p->l1_reg * l1_norm - cst * r_dot_y + 0.5 * p->l2_reg * (1 + cst * cst) * w_norm2;
    return gap;
}

/* Objective in the caller's scale (divided by n) for progress reports. */
static double primal(const ml__cd_problem *p, const double *w, double r_norm2)
{
    int d = (int)p->d;
    return (0.5 * r_norm2 + p->l1_reg * cblas_dasum(d, w, 1) +
            0.5 * p->l2_reg * cblas_ddot(d, w, 1, w, 1)) /
           (double)p->n;
}

/* Reports sweep `it` (0-based) with R.R = r_norm2 to the progress callback, if any; nonzero when
 * the callback cancelled the fit. */
static int cd_cancelled(const ml__cd_problem *p, long it, const double *w, double r_norm2)
{
    return p->progress && p->progress(p->progress_ctx, it + 1, p->max_iter, primal(p, w, r_norm2));
}

/* The result of a finished solve: `it` is the index of the last sweep when converged. */
static void cd_result_set(const ml__cd_problem *p, ml__cd_result *out, double gap, double tol,
                          long it, int converged)
{
    out->gap = gap;
    out->tol = tol;
    out->n_iter = converged ? it + 1 : p->max_iter;
    out->converged = converged;
}

/* cd_fast.enet_coordinate_descent on the column-major X. */
static int cd_dense(const ml__cd_problem *p, double *w, ml__cd_result *out)
{
    int n = (int)p->n, d = (int)p->d;
    const double *X = p->X;
    double *norm_cols = malloc(p->d * sizeof *norm_cols);
    double *R = malloc(p->n * sizeof *R);
    double *xta = malloc(p->d * sizeof *xta);
    double *sq = malloc(p->n * sizeof *sq);
    int rc = EF_OK;
    if (!norm_cols || !R || !xta || !sq) {
        rc = EF_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < p->d; j++) { /* np.square(X).sum(axis=0) */
        const double *col = X + j * p->n;
        for (size_t i = 0; i < p->n; i++)
            sq[i] = col[i] * col[i];
        norm_cols[j] = ml__pairwise_sum(sq, p->n, 1);
    }
    uint32_t rstate = p->seed;
    double d_w_tol = p->tol, gap = p->tol + 1.0;
    memcpy(R, p->y, p->n * sizeof *R);
    cblas_dgemv(CblasColMajor, CblasNoTrans, n, d, -1.0, X, n, w, 1, 1.0, R, 1);
    double tol = p->tol * cblas_ddot(n, p->y, 1, p->y, 1);
    long it;
    int converged = 0;
    for (it = 0; it < p->max_iter; it++) {
        double w_max = 0.0, d_w_max = 0.0;
        for (size_t f = 0; f < p->d; f++) {
            size_t ii = p->random ? rand_r_next(&rstate) % (uint32_t)p->d : f;
            if (norm_cols[ii] == 0.0) continue;
            const double *xc = X + ii * p->n;
            double w_ii = w[ii];
            if (w_ii != 0.0) cblas_daxpy(n, w_ii, xc, 1, R, 1);
            double tmp = cblas_ddot(n, xc, 1, R, 1);
            w[ii] = cd_update(tmp, p->l1_reg, norm_cols[ii] + p->l2_reg, p->positive);
            if (w[ii] != 0.0) cblas_daxpy(n, -w[ii], xc, 1, R, 1);
            d_w_max = fmax(d_w_max, fabs(w[ii] - w_ii));
            w_max = fmax(w_max, fabs(w[ii]));
        }
        double r_norm2 = NAN;
        if (w_max == 0.0 || d_w_max / w_max < d_w_tol || it == p->max_iter - 1) {
            memcpy(xta, w, p->d * sizeof *xta); /* XtA = X'R - l2 * w */
            cblas_dgemv(CblasColMajor, CblasTrans, n, d, 1.0, X, n, R, 1, -p->l2_reg, xta, 1);
            double dn = dual_norm(xta, p->d, p->positive);
            r_norm2 = cblas_ddot(n, R, 1, R, 1);
            gap = gap_of(p, w, r_norm2, dn, cblas_ddot(n, R, 1, p->y, 1));
            converged = gap < tol;
        }
        if (p->progress && isnan(r_norm2)) r_norm2 = cblas_ddot(n, R, 1, R, 1);
        if (cd_cancelled(p, it, w, r_norm2)) {
            rc = EF_EAGAIN;
            goto out;
        }
        if (converged) break;
    }
    cd_result_set(p, out, gap, tol, it, converged);
out:
    free(sq);
    free(xta);
    free(R);
    free(norm_cols);
    return rc;
}

/* R.R = y.y + w.H - 2 q.w in the Gram form (H = Q w). */
static double gram_r_norm2(const double *w, const double *H, size_t d, double y_norm2,
                           double q_dot_w)
{
    double wh = 0.0;
    for (size_t i = 0; i < d; i++)
        wh += w[i] * H[i];
    return y_norm2 + wh - 2.0 * q_dot_w;
}

/* cd_fast.enet_coordinate_descent_gram: the same sweeps on Q = X'X, q = X'y, H = Q w. */
static int cd_gram(const ml__cd_problem *p, double *w, ml__cd_result *out)
{
    int n = (int)p->n, d = (int)p->d;
    size_t dd = p->d;
    double *Q = malloc(dd * dd * sizeof *Q);
    double *q = malloc(dd * sizeof *q);
    double *H = malloc(dd * sizeof *H);
    double *xta = malloc(dd * sizeof *xta);
    int rc = EF_OK;
    if (!Q || !q || !H || !xta) {
        rc = EF_ENOMEM;
        goto out;
    }
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, d, n, 1.0, p->X, n, 0.0, Q, d);
    for (size_t j = 0; j < dd; j++) /* mirror the upper triangle (column-major) */
        for (size_t i = j + 1; i < dd; i++)
            Q[j * dd + i] = Q[i * dd + j];
    cblas_dgemv(CblasColMajor, CblasTrans, n, d, 1.0, p->X, n, p->y, 1, 0.0, q, 1);
    cblas_dgemv(CblasColMajor, CblasNoTrans, d, d, 1.0, Q, d, w, 1, 0.0, H, 1);
    double y_norm2 = cblas_ddot(n, p->y, 1, p->y, 1);
    double tol = p->tol * y_norm2, d_w_tol = p->tol, gap = p->tol + 1.0;
    uint32_t rstate = p->seed;
    long it;
    int converged = 0;
    for (it = 0; it < p->max_iter; it++) {
        double w_max = 0.0, d_w_max = 0.0;
        for (size_t f = 0; f < dd; f++) {
            size_t ii = p->random ? rand_r_next(&rstate) % (uint32_t)dd : f;
            double qii = Q[ii * dd + ii];
            if (qii == 0.0) continue;
            double w_ii = w[ii];
            if (w_ii != 0.0) cblas_daxpy(d, -w_ii, Q + ii * dd, 1, H, 1);
            w[ii] = cd_update(q[ii] - H[ii], p->l1_reg, qii + p->l2_reg, p->positive);
            if (w[ii] != 0.0) cblas_daxpy(d, w[ii], Q + ii * dd, 1, H, 1);
            d_w_max = fmax(d_w_max, fabs(w[ii] - w_ii));
            w_max = fmax(w_max, fabs(w[ii]));
        }
        double r_norm2 = NAN;
        if (w_max == 0.0 || d_w_max / w_max < d_w_tol || it == p->max_iter - 1) {
            double q_dot_w = cblas_ddot(d, w, 1, q, 1);
            for (size_t i = 0; i < dd; i++)
                xta[i] = q[i] - H[i] - p->l2_reg * w[i];
            double dn = dual_norm(xta, dd, p->positive);
            r_norm2 = gram_r_norm2(w, H, dd, y_norm2, q_dot_w);
            /* R.y = y.y - q.w in the Gram form */
            gap = gap_of(p, w, r_norm2, dn, y_norm2 - q_dot_w);
            converged = gap < tol;
        }
        if (p->progress && isnan(r_norm2))
            r_norm2 = gram_r_norm2(w, H, dd, y_norm2, cblas_ddot(d, w, 1, q, 1));
        if (cd_cancelled(p, it, w, r_norm2)) {
            rc = EF_EAGAIN;
            goto out;
        }
        if (converged) break;
    }
    cd_result_set(p, out, gap, tol, it, converged);
out:
    free(xta);
    free(H);
    free(q);
    free(Q);
    return rc;
}

int ml__cd_solve(const ml__cd_problem *p, double *w, ml__cd_result *out)
{
    memset(out, 0, sizeof *out);
    return p->gram ? cd_gram(p, w, out) : cd_dense(p, w, out);
}
