/* preprocess.c - L2 row normalisation and standard scaling, re-expressed from scikit-learn 1.2
 * (preprocessing/_data.py: normalize, StandardScaler.partial_fit, _is_constant_feature,
 * _handle_zeros_in_scale; utils/extmath.py: _incremental_mean_and_var). Column sums are numpy's
 * pairwise sums down each column: that is how numpy reduces axis 0 of the column-major array
 * sklearn gets from a pandas DataFrame (the notebook flow), so mean_, var_ and scale_ match
 * StandardScaler().fit(df) bit for bit. (Fed a C-ordered numpy array, numpy sums row by row
 * instead and the last bits can differ.) */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/preprocess.h"
#include "ml/score.h"

void ef_normalize_l2(ef_mat *X)
{
    for (size_t i = 0; i < X->rows; i++) {
        double *row = X->v + i * X->cols, ss = 0;
        for (size_t j = 0; j < X->cols; j++)
            ss += row[j] * row[j];
        double norm = sqrt(ss);
        if (norm < 10 * DBL_EPSILON) continue; /* sklearn divides by 1 */
        for (size_t j = 0; j < X->cols; j++)
            row[j] /= norm;
    }
}

void ef_scaler_release(ef_scaler *s)
{
    if (!s) return;
    free(s->mean);
    free(s->var);
    free(s->scale);
    memset(s, 0, sizeof *s);
}

static int scaler_alloc(ef_scaler *s, size_t n, int with_var)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->mean = calloc(n ? n : 1, sizeof(double));
    s->scale = calloc(n ? n : 1, sizeof(double));
    s->var = with_var ? calloc(n ? n : 1, sizeof(double)) : NULL;
    if (!s->mean || !s->scale || (with_var && !s->var)) {
        ef_scaler_release(s);
        return EF_ENOMEM;
    }
    return EF_OK;
}

int ef_scaler_init(ef_scaler *s, const double *mean, const double *scale, size_t n)
{
    int rc = scaler_alloc(s, n, 0);
    if (rc) return rc;
    memcpy(s->mean, mean, n * sizeof(double));
    memcpy(s->scale, scale, n * sizeof(double));
    return EF_OK;
}

int ef_scaler_fit(ef_scaler *s, const ef_mat *X)
{
    if (X->rows == 0) return EF_EINVAL;
    size_t n = X->rows;
    double *buf = malloc(n * sizeof *buf);
    if (!buf || scaler_alloc(s, X->cols, 1)) {
        free(buf);
        return EF_ENOMEM;
    }
    for (size_t j = 0; j < X->cols; j++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            double v = EF_MAT_AT(X, i, j);
            cnt += !isnan(v);
            buf[i] = isnan(v) ? 0.0 : v; /* np.nansum */
        }
        double c = (double)cnt, mean = ef_score_sum(buf, n) / c;
        /* corrected two-pass: sum((x - T)^2) - sum(x - T)^2 / n, T = mean */
        for (size_t i = 0; i < n; i++)
            buf[i] = isnan(EF_MAT_AT(X, i, j)) ? 0.0 : EF_MAT_AT(X, i, j) - mean;
        double corr = ef_score_sum(buf, n);
        for (size_t i = 0; i < n; i++)
            buf[i] *= buf[i];
        double var = (ef_score_sum(buf, n) - corr * corr / c) / c;
        s->mean[j] = mean;
        s->var[j] = var;
        double bound = c * DBL_EPSILON * var + (c * mean * DBL_EPSILON) * (c * mean * DBL_EPSILON);
        s->scale[j] = var <= bound ? 1.0 : sqrt(var);
    }
    free(buf);
    return EF_OK;
}

int ef_scaler_transform(const ef_scaler *s, ef_mat *X)
{
    if (X->cols != s->n) return EF_EINVAL;
    for (size_t i = 0; i < X->rows; i++) {
        double *row = X->v + i * X->cols;
        for (size_t j = 0; j < X->cols; j++)
            row[j] = (row[j] - s->mean[j]) / s->scale[j];
    }
    return EF_OK;
}
