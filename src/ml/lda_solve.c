/* lda_solve.c - the three LinearDiscriminantAnalysis solvers of scikit-learn 1.2.1
 * (sklearn/discriminant_analysis.py) and the covariance estimators they use, re-expressed over
 * LAPACKE (the drivers scipy calls: gesdd for svd, gelsd for lstsq, sygvd for the generalized
 * eigh) and cblas_dgemm.
 *
 * svd (the default; _solve_svd):
 *   Xc       = rows minus their class mean, grouped by class; std = population std of Xc's columns
 *   svd( sqrt(1/(n-K)) * Xc / std ) -> S, Vt;  rank = #(S > tol)
 *   scal     = (Vt[:rank] / std)^T / S[:rank]                                        (d x rank)
 *   svd( (sqrt(n * priors_k / (K-1)) * (means_k - xbar))_k . scal ) -> S2, Vt2
 *   rank2    = #(S2 > tol * S2[0]);  scalings = scal . Vt2[:rank2]^T                (d x rank2)
 *   coef     = ((means - xbar) . scalings) . scalings^T;  intercept = -0.5 |c_k|^2 + log priors
 *              - xbar . coef_k
 * lsqr (_solve_lstsq): Sw = sum_k priors_k cov_k; coef = lstsq(Sw, means^T)^T;
 *   intercept = -0.5 diag(means . coef^T) + log priors. No transform.
 * eigen (_solve_eigen): Sb = cov(X) - Sw; eigh(Sb, Sw) -> eigenvectors by decreasing eigenvalue
 *   = scalings; coef = means . V . V^T; intercept as lsqr; transform = X . scalings[:, :c].
 * cov_k / cov(X) (_cov): empirical (np.cov(bias=1)); with shrinkage s, (1 - s) C + s tr(C)/d I;
 *   'auto': Ledoit-Wolf on standardised columns, scaled back.
 */
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/lda_int.h"

double *lda__alloc(size_t rows, size_t cols)
{
    if (rows == 0 || cols == 0 || rows > SIZE_MAX / sizeof(double) / cols) return NULL;
    return calloc(rows * cols, sizeof(double));
}

/* Thin SVD of the m x n row-major matrix a (destroyed) with dgesdd, jobz='S' like scipy:
 * s[min(m,n)], vt[min(m,n) x n]. */
static int svd_thin(double *a, size_t m, size_t n, double *s, double *vt, ef_ml_err *err)
{
    size_t p = m < n ? m : n;
    double *u = lda__alloc(m, p);
    if (!u) return ef_ml_errf(err, EF_ENOMEM, "out of memory (SVD of %zu x %zu)", m, n);
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)m, (lapack_int)n, a,
                                     (lapack_int)n, s, u, (lapack_int)p, vt, (lapack_int)n);
    free(u);
    if (info < 0)
        return ef_ml_errf(err, EF_ENOMEM, "SVD failed (LAPACK dgesdd info %d: out of memory?)",
                          (int)info);
    if (info > 0)
        return ef_ml_errf(err, EF_EINVAL, "SVD did not converge (LAPACK dgesdd info %d)",
                          (int)info);
    return EF_OK;
}

/* The svd solver proper: fills s->coef/intercept/scalings/evr from X and the class means. */
int lda__solve_svd(lda__state *s, const ef_mat *X, const int *y_idx, size_t max_comp, double tol,
                   json_t *info, ef_ml_err *err)
{
    size_t n = X->rows, d = s->d, k = s->k;
    int rc = EF_ENOMEM;
    double *xc = lda__alloc(n, d), *std = lda__alloc(1, d), *sv = lda__alloc(1, n < d ? n : d);
    double *vt = lda__alloc(n < d ? n : d, d), *scal = NULL, *xb = NULL, *sv2 = NULL, *vt2 = NULL;
    double *cm = lda__alloc(k, d), *proj = NULL, *full = NULL;
    if (!xc || !std || !sv || !vt || !cm) goto nomem;

    /* Xc: the rows of each class (classes in sorted order, rows in data order) minus the mean. */
    size_t row = 0;
    for (size_t c = 0; c < k; c++)
        for (size_t i = 0; i < n; i++)
            if ((size_t)y_idx[i] == c) {
                for (size_t j = 0; j < d; j++)
                    xc[row * d + j] = X->v[i * d + j] - s->means[c * d + j];
                row++;
            }
    /* numpy's std: mean first, then the mean of squared deviations (ddof = 0). */
    for (size_t j = 0; j < d; j++) {
        double mu = 0, ss = 0;
        for (size_t i = 0; i < n; i++)
            mu += xc[i * d + j];
        mu /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double t = xc[i * d + j] - mu;
            ss += t * t;
        }
        std[j] = sqrt(ss / (double)n);
        if (std[j] == 0) std[j] = 1.0;
    }
    double sfac = sqrt(1.0 / (double)(n - k));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            xc[i * d + j] = sfac * (xc[i * d + j] / std[j]);
    if ((rc = svd_thin(xc, n, d, sv, vt, err))) goto out;
    size_t p = n < d ? n : d, rank = 0;
    for (size_t i = 0; i < p; i++)
        rank += sv[i] > tol;
    if (rank == 0) {
        rc = ef_ml_errf(err, EF_EINVAL,
                        "LDA: the within-class scatter has rank 0 at tol=%g (are all features "
                        "constant within each class?); lower tol or check the features",
                        tol);
        goto out;
    }
    rc = EF_ENOMEM;
    if (!(scal = lda__alloc(d, rank))) goto nomem;
    for (size_t j = 0; j < d; j++)
        for (size_t r = 0; r < rank; r++)
            scal[j * rank + r] = (vt[r * d + j] / std[j]) / sv[r];

    /* Between-class: weighted centred means projected on scal, then a second SVD. */
    double bfac = k == 1 ? 1.0 : 1.0 / (double)(k - 1);
    for (size_t c = 0; c < k; c++) {
        double w = sqrt(((double)n * s->priors[c]) * bfac);
        for (size_t j = 0; j < d; j++)
            cm[c * d + j] = w * (s->means[c * d + j] - s->xbar[j]);
    }
    size_t p2 = k < rank ? k : rank;
    if (!(xb = lda__alloc(k, rank)) || !(sv2 = lda__alloc(1, p2)) || !(vt2 = lda__alloc(p2, rank)))
        goto nomem;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)rank, (int)d, 1.0, cm,
                (int)d, scal, (int)rank, 0.0, xb, (int)rank);
    if ((rc = svd_thin(xb, k, rank, sv2, vt2, err))) goto out;
    rc = EF_ENOMEM;
    double sum2 = 0;
    for (size_t i = 0; i < p2; i++)
        sum2 += sv2[i] * sv2[i];
    s->n_evr = p2 < max_comp ? p2 : max_comp;
    if (s->n_evr && !(s->evr = lda__alloc(1, s->n_evr))) goto nomem;
    for (size_t i = 0; i < s->n_evr; i++)
        s->evr[i] = sv2[i] * sv2[i] / sum2;
    size_t rank2 = 0;
    for (size_t i = 0; i < p2; i++)
        rank2 += sv2[i] > tol * sv2[0];
    if (rank2 == 0) {
        rc = ef_ml_errf(err, EF_EINVAL,
                        "LDA: the class means do not differ in the discriminant space at tol=%g; "
                        "check the target column",
                        tol);
        goto out;
    }

    /* scalings_ = scal . Vt2[:rank2]^T (d x rank2); coef = (means - xbar) . scalings_. */
    if (!(full = lda__alloc(d, rank2))) goto nomem;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)rank2, (int)rank, 1.0, scal,
                (int)rank, vt2, (int)rank, 0.0, full, (int)rank2);
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            cm[c * d + j] = s->means[c * d + j] - s->xbar[j];
    if (!(proj = lda__alloc(k, rank2)) || !(s->coef = lda__alloc(k, d)) ||
        !(s->intercept = lda__alloc(1, k)))
        goto nomem;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)rank2, (int)d, 1.0, cm,
                (int)d, full, (int)rank2, 0.0, proj, (int)rank2);
    for (size_t c = 0; c < k; c++) {
        double ss = 0;
        for (size_t r = 0; r < rank2; r++)
            ss += proj[c * rank2 + r] * proj[c * rank2 + r];
        s->intercept[c] = -0.5 * ss + log(s->priors[c]);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)d, (int)rank2, 1.0, proj,
                (int)rank2, full, (int)rank2, 0.0, s->coef, (int)d);
    for (size_t c = 0; c < k; c++) {
        double dot = 0;
        for (size_t j = 0; j < d; j++)
            dot += s->xbar[j] * s->coef[c * d + j];
        s->intercept[c] -= dot;
    }
    /* transform keeps min(rank2, max_components) columns of scalings_. */
    s->n_comp = rank2 < max_comp ? rank2 : max_comp;
    if (s->n_comp) {
        if (!(s->scalings = lda__alloc(d, s->n_comp))) goto nomem;
        for (size_t j = 0; j < d; j++)
            memcpy(s->scalings + j * s->n_comp, full + j * rank2, s->n_comp * sizeof(double));
    }
    json_object_set_new(info, "rank", json_integer((json_int_t)rank));
    json_object_set_new(info, "rank_between", json_integer((json_int_t)rank2));
    rc = EF_OK;
    goto out;
nomem:
    rc = ef_ml_errf(err, EF_ENOMEM, "out of memory fitting LDA on %zu x %zu", n, d);
out:
    free(xc);
    free(std);
    free(sv);
    free(vt);
    free(scal);
    free(xb);
    free(sv2);
    free(vt2);
    free(cm);
    free(proj);
    free(full);
    return rc;
}

/* ---- covariance estimators ---- */

/* np.cov(Z.T, bias=1) of the m x d rows Z (centred here, in place) into cov (d x d); also
 * returns sum over all entries of (Z^T Z)^2 in *gram_sq2 when not NULL (for Ledoit-Wolf). */
static void emp_cov(double *z, size_t m, size_t d, double *cov, double *gram_sq2)
{
    for (size_t j = 0; j < d; j++) {
        double mu = 0;
        for (size_t i = 0; i < m; i++)
            mu += z[i * d + j];
        mu /= (double)m;
        for (size_t i = 0; i < m; i++)
            z[i * d + j] -= mu;
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)m, 1.0, z, (int)d, z,
                (int)d, 0.0, cov, (int)d);
    double sq2 = 0, f = 1.0 / (double)m;
    for (size_t i = 0; i < d * d; i++) {
        sq2 += cov[i] * cov[i];
        cov[i] *= f;
    }
    if (gram_sq2) *gram_sq2 = sq2;
}

/* (1 - s) cov + s mu I with mu = trace(cov) / d (sklearn's shrunk_covariance). */
static void shrink_cov(double *cov, size_t d, double s)
{
    double tr = 0;
    for (size_t j = 0; j < d; j++)
        tr += cov[j * d + j];
    double mu = tr / (double)d;
    for (size_t i = 0; i < d * d; i++)
        cov[i] *= 1.0 - s;
    for (size_t j = 0; j < d; j++)
        cov[j * d + j] += s * mu;
}

/* Ledoit-Wolf of the m x d rows z (destroyed) after StandardScaler, scaled back (sklearn's
 * _cov(X, 'auto')). EF_ENOMEM. */
static int ledoit_wolf_scaled(double *z, size_t m, size_t d, double *cov)
{
    double *scale = lda__alloc(1, d), *tr = lda__alloc(1, d);
    if (!scale || !tr) {
        free(scale);
        free(tr);
        return EF_ENOMEM;
    }
    const double eps = DBL_EPSILON, n = (double)m;
    for (size_t j = 0; j < d; j++) { /* StandardScaler: mean, variance, constant columns -> 1 */
        double mu = 0, corr = 0, ss = 0;
        for (size_t i = 0; i < m; i++)
            mu += z[i * d + j];
        mu /= n;
        for (size_t i = 0; i < m; i++) {
            double t = z[i * d + j] - mu;
            corr += t;
            ss += t * t;
        }
        double var = (ss - corr * corr / n) / n;
        double bound = n * eps * var + (n * mu * eps) * (n * mu * eps);
        scale[j] = var <= bound ? 1.0 : sqrt(var);
        for (size_t i = 0; i < m; i++)
            z[i * d + j] = (z[i * d + j] - mu) / scale[j];
    }
    double gram_sq2;
    emp_cov(z, m, d, cov, &gram_sq2); /* centres z again, like ledoit_wolf does */
    double shrinkage = 0;
    if (d > 1) { /* ledoit_wolf_shrinkage */
        double beta_ = 0, trsum = 0;
        for (size_t i = 0; i < m; i++) { /* sum of <X2^T X2> = sum_i (sum_j x_ij^2)^2 */
            double r = 0;
            for (size_t j = 0; j < d; j++)
                r += z[i * d + j] * z[i * d + j];
            beta_ += r * r;
        }
        for (size_t j = 0; j < d; j++) {
            double t = 0;
            for (size_t i = 0; i < m; i++)
                t += z[i * d + j] * z[i * d + j];
            tr[j] = t / n;
            trsum += tr[j];
        }
        double mu = trsum / (double)d, delta_ = gram_sq2 / (n * n);
        double beta = 1.0 / ((double)d * n) * (beta_ / n - delta_);
        double delta = (delta_ - 2.0 * mu * trsum + (double)d * mu * mu) / (double)d;
        beta = beta < delta ? beta : delta;
        shrinkage = beta == 0 ? 0 : beta / delta;
    }
    shrink_cov(cov, d, shrinkage);
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++)
            cov[a * d + b] = scale[a] * cov[a * d + b] * scale[b];
    free(scale);
    free(tr);
    return EF_OK;
}

/* sklearn's _cov of the given rows of X (all rows when rows is NULL) into cov. EF_ENOMEM. */
static int cov_of_rows(const ef_mat *X, const int *y_idx, int cls, lda__shrink mode,
                       double shrinkage, double *cov)
{
    size_t d = X->cols, m = 0;
    for (size_t i = 0; i < X->rows; i++)
        m += cls < 0 || y_idx[i] == cls;
    double *z = lda__alloc(m, d);
    if (!z) return EF_ENOMEM;
    for (size_t i = 0, r = 0; i < X->rows; i++)
        if (cls < 0 || y_idx[i] == cls) memcpy(z + d * r++, X->v + i * d, d * sizeof(double));
    int rc = EF_OK;
    if (mode == LDA_SHRINK_AUTO) {
        rc = ledoit_wolf_scaled(z, m, d, cov);
    } else {
        emp_cov(z, m, d, cov, NULL);
        if (mode == LDA_SHRINK_FIXED) shrink_cov(cov, d, shrinkage);
    }
    free(z);
    return rc;
}

int lda__class_cov(const lda__state *s, const ef_mat *X, const int *y_idx, lda__shrink mode,
                   double shrinkage, double *cov)
{
    size_t d = s->d;
    double *ck = lda__alloc(d, d);
    if (!ck) return EF_ENOMEM;
    memset(cov, 0, d * d * sizeof *cov);
    int rc = EF_OK;
    for (size_t c = 0; c < s->k && !rc; c++) {
        rc = cov_of_rows(X, y_idx, (int)c, mode, shrinkage, ck);
        for (size_t i = 0; !rc && i < d * d; i++)
            cov[i] += s->priors[c] * ck[i];
    }
    free(ck);
    return rc;
}

/* The end both the lsqr and the eigen solver share once coef is set: intercept_k =
 * -0.5 means_k . coef_k + log priors_k, no centring (xbar = 0), and info's "rank". */
static void lda_finish_uncentred(lda__state *s, size_t rank, json_t *info)
{
    for (size_t c = 0; c < s->k; c++) {
        double dot = 0;
        for (size_t j = 0; j < s->d; j++)
            dot += s->means[c * s->d + j] * s->coef[c * s->d + j];
        s->intercept[c] = -0.5 * dot + log(s->priors[c]);
    }
    memset(s->xbar, 0, s->d * sizeof *s->xbar);
    json_object_set_new(info, "rank", json_integer((json_int_t)rank));
}

int lda__solve_lsqr(lda__state *s, const ef_mat *X, const int *y_idx, lda__shrink mode,
                    double shrinkage, json_t *info, ef_ml_err *err)
{
    size_t d = s->d, k = s->k;
    int rc = EF_ENOMEM;
    double *a = lda__alloc(d, d), *b = lda__alloc(d, k), *sv = lda__alloc(1, d);
    if (!a || !b || !sv || !(s->covariance = lda__alloc(d, d)) || !(s->coef = lda__alloc(k, d)) ||
        !(s->intercept = lda__alloc(1, k)))
        goto nomem;
    if (lda__class_cov(s, X, y_idx, mode, shrinkage, s->covariance)) goto nomem;
    memcpy(a, s->covariance, d * d * sizeof *a);
    for (size_t j = 0; j < d; j++)
        for (size_t c = 0; c < k; c++)
            b[j * k + c] = s->means[c * d + j];
    lapack_int rank = 0;
    lapack_int inf = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, (lapack_int)k,
                                    a, (lapack_int)d, b, (lapack_int)k, sv, DBL_EPSILON, &rank);
    if (inf) {
        rc = ef_ml_errf(err, inf < 0 ? EF_ENOMEM : EF_EINVAL,
                        "LDA lsqr: least squares did not converge (LAPACK dgelsd info %d); try "
                        "solver=svd or shrinkage=auto",
                        (int)inf);
        goto out;
    }
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            s->coef[c * d + j] = b[j * k + c];
    lda_finish_uncentred(s, (size_t)rank, info);
    s->n_comp = s->n_evr = 0; /* lsqr has no transform */
    rc = EF_OK;
    goto out;
nomem:
    rc = ef_ml_errf(err, EF_ENOMEM, "out of memory fitting LDA (lsqr) on %zu features", d);
out:
    free(a);
    free(b);
    free(sv);
    return rc;
}

int lda__solve_eigen(lda__state *s, const ef_mat *X, const int *y_idx, size_t max_comp,
                     lda__shrink mode, double shrinkage, json_t *info, ef_ml_err *err)
{
    size_t d = s->d, k = s->k;
    int rc = EF_ENOMEM;
    double *sb = lda__alloc(d, d), *sw = lda__alloc(d, d), *w = lda__alloc(1, d);
    double *v = lda__alloc(d, d), *mv = lda__alloc(k, d);
    if (!sb || !sw || !w || !v || !mv || !(s->covariance = lda__alloc(d, d)) ||
        !(s->coef = lda__alloc(k, d)) || !(s->intercept = lda__alloc(1, k)) ||
        !(s->evr = lda__alloc(1, max_comp)) || !(s->scalings = lda__alloc(d, max_comp)))
        goto nomem;
    if (lda__class_cov(s, X, y_idx, mode, shrinkage, s->covariance) ||
        cov_of_rows(X, y_idx, -1, mode, shrinkage, sb))
        goto nomem;
    for (size_t i = 0; i < d * d; i++) { /* Sb = St - Sw */
        sb[i] -= s->covariance[i];
        sw[i] = s->covariance[i];
    }
    lapack_int inf = LAPACKE_dsygvd(LAPACK_ROW_MAJOR, 1, 'V', 'L', (lapack_int)d, sb, (lapack_int)d,
                                    sw, (lapack_int)d, w);
    if (inf) {
        rc =
            ef_ml_errf(err, inf < 0 ? EF_ENOMEM : EF_EINVAL,
                       "LDA eigen: the within-class covariance is %s (LAPACK dsygvd info %d); "
                       "use shrinkage (e.g. shrinkage=auto) or solver=svd",
                       inf > (lapack_int)d ? "not positive definite" : "ill-conditioned", (int)inf);
        goto out;
    }
    /* eigenvectors by decreasing eigenvalue (dsygvd returns them increasing) */
    double sum = 0;
    for (size_t j = 0; j < d; j++)
        sum += w[j];
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            v[i * d + j] = sb[i * d + (d - 1 - j)];
    /* explained_variance_ratio_ = the ratios evals / sum sorted decreasingly */
    for (size_t j = 0; j < d; j++)
        w[j] /= sum;
    for (size_t i = 1; i < d; i++)
        for (size_t j = i; j > 0 && w[j] > w[j - 1]; j--) {
            double t = w[j];
            w[j] = w[j - 1];
            w[j - 1] = t;
        }
    s->n_evr = s->n_comp = max_comp;
    memcpy(s->evr, w, max_comp * sizeof *w);
    for (size_t i = 0; i < d; i++)
        memcpy(s->scalings + i * max_comp, v + i * d, max_comp * sizeof(double));
    /* coef = (means . V) . V^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)d, (int)d, 1.0, s->means,
                (int)d, v, (int)d, 0.0, mv, (int)d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)d, (int)d, 1.0, mv, (int)d, v,
                (int)d, 0.0, s->coef, (int)d);
    lda_finish_uncentred(s, d, info);
    rc = EF_OK;
    goto out;
nomem:
    rc = ef_ml_errf(err, EF_ENOMEM, "out of memory fitting LDA (eigen) on %zu features", d);
out:
    free(sb);
    free(sw);
    free(w);
    free(v);
    free(mv);
    return rc;
}
