/* split.h - which rows train and which test, exactly as scikit-learn 1.2 picks them.
 *
 * Every random choice goes through base/rng.h (numpy's RandomState), so a seed selects the same
 * rows as sklearn with random_state=seed:
 *   train_test_split(n, test_size, shuffle, random_state)   -> ef_split_train_test
 *   KFold(k, shuffle, random_state)                          -> ef_kfold
 *   StratifiedKFold(k, shuffle, random_state)                -> ef_stratified_kfold
 *
 * cross_val_score(estimator, X, y, cv=k) uses StratifiedKFold(k) without shuffling when the
 * estimator is a classifier (and y is binary or multiclass), KFold(k) without shuffling
 * otherwise (regressors); both then yield, for fold f, test = the rows of fold f and train = all
 * other rows, each in increasing row order. ef_fold_rows builds those two lists.
 */
#ifndef EF_ML_SPLIT_H
#define EF_ML_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "ml/ml.h"

/* train_test_split over n rows. test_size in (0, 1) is a fraction: n_test = ceil(test_size * n);
 * an integral test_size >= 1 is a row count (< n); n_train = n - n_test must be > 0.
 * shuffle != 0: perm = RandomState(seed).permutation(n); test = perm[:n_test],
 * train = perm[n_test:] (ShuffleSplit's order, which train_test_split returns unsorted).
 * shuffle == 0: train = 0..n_train-1, test = the rest (seed unused).
 * *train and *test are malloc'd (caller frees, also when a count is 0); EF_EINVAL with the reason
 * (sklearn's conditions), EF_ENOMEM. */
int ef_split_train_test(size_t n, double test_size, int shuffle, uint32_t seed, size_t **train,
                        size_t *n_train, size_t **test, size_t *n_test, ef_ml_err *err);

/* KFold(k, shuffle, random_state=seed): fold_of_row[i] (caller's array of n) = the test fold of
 * row i. Fold sizes n//k, the first n%k folds one more; with shuffle the rows are first permuted
 * by RandomState(seed).shuffle(arange(n)). EF_EINVAL when k < 2 or k > n. */
int ef_kfold(size_t n, int k, int shuffle, uint32_t seed, int *fold_of_row, ef_ml_err *err);

/* StratifiedKFold(k, shuffle, random_state=seed).split(X, y), 1.2's _make_test_folds: classes
 * numbered by first appearance, per-fold class counts dealt round-robin over the sorted labels,
 * each class's fold sequence shuffled (RandomState(seed), classes in that order) when shuffle.
 * y: n labels, integral values (any doubles that compare equal are one class; non-integral
 * values are sklearn's "continuous" and an error, as are NaN/Inf).
 * On success err->msg holds sklearn's warning when a class has fewer than k members ("The least
 * populated class in y has only 2 members, which is less than n_splits=5.") and is "" otherwise.
 * EF_EINVAL: k < 2, k > n, every class smaller than k, bad labels. EF_ENOMEM. */
int ef_stratified_kfold(const double *y, size_t n, int k, int shuffle, uint32_t seed,
                        int *fold_of_row, ef_ml_err *err);

/* The row lists of fold f: test = rows with fold_of_row == f, train = the others, each in
 * increasing order, written into caller arrays of n entries. Returns n_test; *n_train set. */
size_t ef_fold_rows(const int *fold_of_row, size_t n, int f, size_t *train, size_t *n_train,
                    size_t *test);

#endif
