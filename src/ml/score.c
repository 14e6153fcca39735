/* score.c - sklearn.metrics 1.2 (_regression.py, _classification.py) re-expressed in C. The
 * means are numpy's: a pairwise sum divided by n (ef_score_sum reproduces numpy's
 * DOUBLE_pairwise_sum and its 8192-element reduction chunks), so scores match bit for bit. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/score.h"

static double pairwise(const double *a, size_t n)
{
    if (n < 8) {
        double r = 0.;
        for (size_t i = 0; i < n; i++)
            r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        memcpy(r, a, sizeof r);
        for (i = 8; i < n - n % 8; i += 8)
            for (size_t k = 0; k < 8; k++)
                r[k] += a[i + k];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

double ef_score_sum(const double *v, size_t n)
{
    double s = 0;
    for (size_t off = 0; off < n; off += 8192) {
        double part = pairwise(v + off, n - off < 8192 ? n - off : 8192);
        s = off ? s + part : part;
    }
    return s;
}

/* mean of f(y_true[i], y_pred[i]) through a scratch array (numpy's order). kind: 0 = squared
 * error, 1 = absolute error, 2 = equality. */
static double mean_of(const double *t, const double *p, size_t n, int kind)
{
    if (n == 0) return NAN;
    double *d = malloc(n * sizeof *d);
    if (!d) return NAN;
    for (size_t i = 0; i < n; i++) {
        double e = t[i] - p[i];
        d[i] = kind == 0 ? e * e : kind == 1 ? fabs(p[i] - t[i]) : (double)(t[i] == p[i]);
    }
    double m = ef_score_sum(d, n) / (double)n;
    free(d);
    return m;
}

double ef_score_rmse(const double *y_true, const double *y_pred, size_t n)
{
    return sqrt(mean_of(y_true, y_pred, n, 0));
}

double ef_score_mae(const double *y_true, const double *y_pred, size_t n)
{
    return mean_of(y_true, y_pred, n, 1);
}

double ef_score_accuracy(const double *y_true, const double *y_pred, size_t n)
{
    return mean_of(y_true, y_pred, n, 2);
}

double ef_score_r2(const double *y_true, const double *y_pred, size_t n)
{
    if (n < 2) return NAN;
    double *d = malloc(n * sizeof *d);
    if (!d) return NAN;
    for (size_t i = 0; i < n; i++)
        d[i] = (y_true[i] - y_pred[i]) * (y_true[i] - y_pred[i]);
    double num = ef_score_sum(d, n), mean = ef_score_sum(y_true, n) / (double)n;
    for (size_t i = 0; i < n; i++)
        d[i] = (y_true[i] - mean) * (y_true[i] - mean);
    double den = ef_score_sum(d, n);
    free(d);
    if (num == 0) return 1.0;
    if (den == 0) return 0.0;
    return 1 - num / den;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct values of a[0..na) and b[0..nb) into a fresh array. */
static double *unique_union(const double *a, size_t na, const double *b, size_t nb, size_t *k)
{
    double *u = malloc((na + nb ? na + nb : 1) * sizeof *u);
    if (!u) return NULL;
    memcpy(u, a, na * sizeof *u);
    if (nb) memcpy(u + na, b, nb * sizeof *u);
    qsort(u, na + nb, sizeof *u, cmp_double);
    size_t m = 0;
    for (size_t i = 0; i < na + nb; i++)
        if (m == 0 || u[i] != u[m - 1]) u[m++] = u[i];
    *k = m;
    return u;
}

static size_t label_index(const double *labels, size_t k, double v)
{
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (labels[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k && labels[lo] == v ? lo : k;
}

int ef_score_confusion(const double *y_true, const double *y_pred, size_t n, double **labels,
                       size_t *n_labels, size_t **counts)
{
    size_t k = 0;
    *labels = NULL;
    *counts = NULL;
    *n_labels = 0;
    if (n == 0) return EF_EINVAL;
    double *u = unique_union(y_true, n, y_pred, n, &k);
    size_t *c = u ? calloc(k * k, sizeof *c) : NULL;
    if (!c) {
        free(u);
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t a = label_index(u, k, y_true[i]), b = label_index(u, k, y_pred[i]);
        if (a < k && b < k) /* NaN labels match nothing */
            c[a * k + b]++;
    }
    *labels = u;
    *n_labels = k;
    *counts = c;
    return EF_OK;
}

int ef_score_prf_macro(const double *y_true, const double *y_pred, size_t n, double *precision,
                       double *recall, double *f1)
{
    double *labels = NULL;
    size_t *c = NULL, k = 0;
    *precision = *recall = *f1 = NAN;
    int rc = ef_score_confusion(y_true, y_pred, n, &labels, &k, &c);
    double *p = rc ? NULL : malloc(3 * k * sizeof *p);
    if (!rc && !p) rc = EF_ENOMEM;
    if (!rc) {
        double *r = p + k, *f = p + 2 * k;
        for (size_t l = 0; l < k; l++) {
            size_t tp = c[l * k + l], pred = 0, truth = 0;
            for (size_t m = 0; m < k; m++) {
                pred += c[m * k + l];
                truth += c[l * k + m];
            }
            p[l] = pred ? (double)tp / (double)pred : 0.0;
            r[l] = truth ? (double)tp / (double)truth : 0.0;
            double denom = p[l] + r[l];
            f[l] = 2.0 * p[l] * r[l] / (denom == 0.0 ? 1.0 : denom);
        }
        *precision = ef_score_sum(p, k) / (double)k;
        *recall = ef_score_sum(r, k) / (double)k;
        *f1 = ef_score_sum(f, k) / (double)k;
    }
    free(p);
    free(labels);
    free(c);
    return rc;
}

int ef_score_log_loss(const double *y_true, size_t n, const ef_mat *proba, const double *classes,
                      size_t n_classes, double *out)
{
    size_t k = 0, K = proba->cols;
    double *cls = classes ? unique_union(classes, n_classes, NULL, 0, &k)
                          : unique_union(y_true, n, NULL, 0, &k);
    if (!cls) return EF_ENOMEM;
    int rc = EF_OK;
    double *loss = NULL, *row = malloc((k ? k : 1) * sizeof *row);
    if (n == 0 || k < 2 || proba->rows != n || !(K == k || (K == 1 && k == 2)))
        rc = EF_EINVAL;
    else if (!row || !(loss = malloc(n * sizeof *loss)))
        rc = EF_ENOMEM;
    const double eps = DBL_EPSILON;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t t = label_index(cls, k, y_true[i]);
        if (t == k) {
            rc = EF_EINVAL;
            break;
        }
        const double *pr = proba->v + i * K;
        for (size_t c = 0; c < k; c++) {
            /* K == 1: sklearn clips the one column first, then prepends 1 - p */
            double v = fmin(fmax(pr[K == 1 ? 0 : c], eps), 1 - eps);
            if (isnan(pr[K == 1 ? 0 : c])) rc = EF_EINVAL;
            row[c] = K == 1 && c == 0 ? 1 - v : v;
        }
        loss[i] = -log(row[t] / ef_score_sum(row, k));
    }
    if (!rc) *out = ef_score_sum(loss, n) / (double)n;
    free(cls);
    free(row);
    free(loss);
    return rc;
}
