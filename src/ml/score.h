/* score.h - evaluation metrics as sklearn.metrics 1.2 computes them, including the summation
 * order (numpy's pairwise sum), so the numbers logged to the tracker equal a notebook's:
 *   ef_score_rmse      mean_squared_error(y, p, squared=False)
 *   ef_score_mae       mean_absolute_error
 *   ef_score_r2        r2_score (force_finite: constant y gives 1.0 for a perfect fit, else 0.0)
 *   ef_score_accuracy  accuracy_score
 *   ef_score_prf_macro precision/recall/f1_score(average="macro", zero_division="warn" -> 0)
 *   ef_score_log_loss  log_loss(y, proba, labels=classes) (eps="auto" = DBL_EPSILON in 1.2)
 *   ef_score_confusion confusion_matrix (labels = sorted union of y_true and y_pred)
 * Classification labels are doubles compared for equality (the dataset loader maps text labels
 * to 0..K-1). Inputs are expected finite: NaN propagates into the double-valued scores.
 */
#ifndef EF_ML_SCORE_H
#define EF_ML_SCORE_H

#include <stddef.h>

#include "ml/ml.h"

/* np.sum of n contiguous doubles: pairwise summation (8-way unrolled blocks of <= 128) over
 * chunks of 8192, chunk results added in order. 0 when n == 0. */
double ef_score_sum(const double *v, size_t n);

/* Regression scores over n >= 1 pairs (NaN when n == 0). r2 is NaN when n < 2 (sklearn warns
 * and returns nan). */
double ef_score_rmse(const double *y_true, const double *y_pred, size_t n);
double ef_score_mae(const double *y_true, const double *y_pred, size_t n);
double ef_score_r2(const double *y_true, const double *y_pred, size_t n);

/* Fraction of equal pairs; NaN when n == 0. */
double ef_score_accuracy(const double *y_true, const double *y_pred, size_t n);

/* Macro-averaged precision, recall and F1 over the labels present in either array; a label with
 * no predicted (precision) or no true (recall) samples scores 0, and F1 is 0 when both are 0.
 * Outputs NaN and EF_EINVAL when n == 0; EF_ENOMEM. */
int ef_score_prf_macro(const double *y_true, const double *y_pred, size_t n, double *precision,
                       double *recall, double *f1);

/* Mean cross-entropy of the n x K probabilities `proba` (rows in the order of `classes`, the
 * estimator's sorted labels; NULL = the sorted distinct values of y_true). K == 1 means the
 * probability of the second of two classes. Probabilities are clipped to [eps, 1 - eps] and each
 * row renormalised, as sklearn 1.2 does. *out on success. EF_EINVAL: n == 0, fewer than 2
 * classes, K does not match, a y_true value that is not a class; EF_ENOMEM. */
int ef_score_log_loss(const double *y_true, size_t n, const ef_mat *proba, const double *classes,
                      size_t n_classes, double *out);

/* Confusion matrix: *labels (sorted union, *n_labels of them) and *counts (n_labels^2, row = true
 * label, column = predicted), both malloc'd for the caller. EF_EINVAL when n == 0, EF_ENOMEM. */
int ef_score_confusion(const double *y_true, const double *y_pred, size_t n, double **labels,
                       size_t *n_labels, size_t **counts);

#endif
