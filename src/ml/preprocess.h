/* preprocess.h - the two input transforms edgeflow's models can carry, computed like
 * scikit-learn 1.2 computes them (so a model trained here and one trained in a notebook see the
 * same inputs):
 *   ef_normalize_l2        sklearn.preprocessing.normalize(X, norm="l2")
 *   ef_scaler_fit/transform sklearn.preprocessing.StandardScaler() (with_mean, with_std)
 * A fitted scaler is a small plain struct (mean and scale per feature) that a model stores and
 * re-applies with ef_scaler_transform; ef_scaler_init rebuilds one from stored values.
 */
#ifndef EF_ML_PREPROCESS_H
#define EF_ML_PREPROCESS_H

#include <stddef.h>

#include "ml/ml.h"

/* In place: each row divided by its Euclidean norm (squares summed left to right: equal bit for
 * bit to normalize() of a DataFrame; a C-ordered numpy array sums in SIMD order, within an ulp).
 * Rows whose norm is below 10 * DBL_EPSILON (sklearn's _handle_zeros_in_scale), all-zero rows
 * included, are left unchanged. NaN rows stay NaN. */
void ef_normalize_l2(ef_mat *X);

typedef struct ef_scaler {
    size_t n;      /* features */
    double *mean;  /* mean_ */
    double *var;   /* var_ (ddof=0) */
    double *scale; /* scale_ = sqrt(var_), 1 where the feature is (near) constant */
} ef_scaler;

/* Fits on X (rows >= 1): mean and variance per column with sklearn's corrected two-pass formula
 * (NaN values ignored, like StandardScaler), near-constant columns (var <= n*eps*var +
 * (n*mean*eps)^2) get scale 1. s is overwritten (release a previous fit first).
 * EF_EINVAL when X has no rows, EF_ENOMEM. */
int ef_scaler_fit(ef_scaler *s, const ef_mat *X);

/* A scaler from stored mean/scale (n values each, copied). var is left NULL. EF_ENOMEM. */
int ef_scaler_init(ef_scaler *s, const double *mean, const double *scale, size_t n);

/* In place: X[:, j] = (X[:, j] - mean[j]) / scale[j]. EF_EINVAL when X->cols != s->n. */
int ef_scaler_transform(const ef_scaler *s, ef_mat *X);

/* Frees the arrays and zeroes s; safe on a zeroed scaler. */
void ef_scaler_release(ef_scaler *s);

#endif
