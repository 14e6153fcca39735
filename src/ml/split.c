/* split.c - train_test_split, KFold and StratifiedKFold re-expressed from scikit-learn 1.2's
 * sklearn/model_selection/_split.py (ShuffleSplit._iter_indices, _validate_shuffle_split,
 * KFold._iter_test_indices, StratifiedKFold._make_test_folds) over numpy's RandomState
 * (base/rng.h). See split.h for the contracts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ml/split.h"

int ef_split_train_test(size_t n, double test_size, int shuffle, uint32_t seed, size_t **train,
                        size_t *n_train, size_t **test, size_t *n_test, ef_ml_err *err)
{
    size_t nte;
    *train = *test = NULL;
    *n_train = *n_test = 0;
    if (n == 0) return ef_ml_errf(err, EF_EINVAL, "cannot split: the data has no rows");
    if (!(test_size > 0) || !isfinite(test_size))
        return ef_ml_errf(err, EF_EINVAL,
                          "test_size=%g should be a fraction in (0, 1) or a row count "
                          ">= 1",
                          test_size);
    if (test_size < 1) {
        nte = (size_t)ceil(test_size * (double)n);
    } else {
        if (test_size != floor(test_size) || test_size >= (double)n)
            return ef_ml_errf(err, EF_EINVAL,
                              "test_size=%g should be either positive and smaller than "
                              "the number of samples %zu or a float in the (0, 1) range",
                              test_size, n);
        nte = (size_t)test_size;
    }
    if (nte >= n)
        return ef_ml_errf(err, EF_EINVAL,
                          "with n_samples=%zu and test_size=%g the resulting train set "
                          "would be empty; lower test_size",
                          n, test_size);
    size_t ntr = n - nte, *perm = malloc(n * sizeof *perm);
    *train = malloc(ntr * sizeof **train);
    *test = malloc(nte * sizeof **test);
    if (!perm || !*train || !*test) {
        free(perm);
        free(*train);
        free(*test);
        *train = *test = NULL;
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    if (shuffle) {
        ef_rng rng;
        ef_rng_seed(&rng, seed);
        ef_rng_permutation(&rng, perm, n);
        memcpy(*test, perm, nte * sizeof *perm);
        memcpy(*train, perm + nte, ntr * sizeof *perm);
    } else {
        for (size_t i = 0; i < ntr; i++)
            (*train)[i] = i;
        for (size_t i = 0; i < nte; i++)
            (*test)[i] = ntr + i;
    }
    free(perm);
    *n_train = ntr;
    *n_test = nte;
    return EF_OK;
}

static int check_k(size_t n, int k, ef_ml_err *err)
{
    if (k < 2)
        return ef_ml_errf(err, EF_EINVAL,
                          "k-fold cross-validation requires at least 2 folds, got %d", k);
    if ((size_t)k > n)
        return ef_ml_errf(err, EF_EINVAL,
                          "cannot have number of splits n_splits=%d greater than the "
                          "number of samples: n_samples=%zu",
                          k, n);
    return EF_OK;
}

int ef_kfold(size_t n, int k, int shuffle, uint32_t seed, int *fold_of_row, ef_ml_err *err)
{
    int rc = check_k(n, k, err);
    if (rc) return rc;
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    if (shuffle) {
        ef_rng rng;
        ef_rng_seed(&rng, seed);
        ef_rng_shuffle(&rng, idx, n);
    }
    size_t pos = 0, base = n / (size_t)k, extra = n % (size_t)k;
    for (int f = 0; f < k; f++) {
        size_t size = base + ((size_t)f < extra);
        for (size_t i = 0; i < size; i++)
            fold_of_row[idx[pos + i]] = f;
        pos += size;
    }
    free(idx);
    return EF_OK;
}

typedef struct label_pos {
    double y;
    size_t row;
} label_pos;

static int cmp_label(const void *a, const void *b)
{
    const label_pos *x = a, *y = b;
    if (x->y != y->y) return x->y < y->y ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

int ef_stratified_kfold(const double *y, size_t n, int k, int shuffle, uint32_t seed,
                        int *fold_of_row, ef_ml_err *err)
{
    int rc = check_k(n, k, err);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]))
            return ef_ml_errf(err, EF_EINVAL,
                              "the target of row %zu is %g: stratified folds need finite "
                              "class labels",
                              i, y[i]);
        if (y[i] != floor(y[i]))
            return ef_ml_errf(err, EF_EINVAL,
                              "supported target types are binary and multiclass, got "
                              "continuous values (row %zu is %g); use plain k-fold for regression",
                              i, y[i]);
    }
    label_pos *lp = malloc(n * sizeof *lp);
    size_t *enc = malloc(n * sizeof *enc), *first = malloc(n * sizeof *first);
    size_t *count = calloc(n, sizeof *count), *rank = malloc(n * sizeof *rank);
    size_t *alloc = NULL, *seq = malloc(n * sizeof *seq);
    if (!lp || !enc || !first || !count || !rank || !seq) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    /* classes by sorted value (np.unique), then renumbered by first appearance */
    for (size_t i = 0; i < n; i++)
        lp[i] = (label_pos){y[i], i};
    qsort(lp, n, sizeof *lp, cmp_label);
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || lp[i].y != lp[i - 1].y)
            first[nc++] = lp[i].row; /* sorted by row within a value: the first appearance */
        enc[lp[i].row] = nc - 1;
    }
    /* rank[c] = position of sorted class c when classes are ordered by first appearance */
    for (size_t i = 0; i < n; i++)
        seq[i] = 0;
    for (size_t c = 0; c < nc; c++)
        seq[first[c]] = c + 1;
    for (size_t i = 0, r = 0; i < n; i++)
        if (seq[i]) rank[seq[i] - 1] = r++;
    for (size_t i = 0; i < n; i++) {
        enc[i] = rank[enc[i]];
        count[enc[i]]++;
    }
    size_t min_count = n;
    int all_small = 1;
    for (size_t c = 0; c < nc; c++) {
        min_count = count[c] < min_count ? count[c] : min_count;
        all_small &= (size_t)k > count[c];
    }
    if (all_small) {
        rc = ef_ml_errf(err, EF_EINVAL,
                        "n_splits=%d cannot be greater than the number of members in "
                        "each class; use fewer folds",
                        k);
        goto out;
    }
    /* allocation[f][c] = members of class c among y_order[f::k], y_order = sorted encoded labels */
    alloc = calloc((size_t)k * nc, sizeof *alloc);
    if (!alloc) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t c = 0, pos = 0; c < nc; c++)
        for (size_t m = 0; m < count[c]; m++, pos++)
            alloc[(pos % (size_t)k) * nc + c]++;
    ef_rng rng;
    ef_rng_seed(&rng, seed);
    for (size_t c = 0; c < nc; c++) {
        size_t len = 0;
        for (int f = 0; f < k; f++)
            for (size_t m = 0; m < alloc[(size_t)f * nc + c]; m++)
                seq[len++] = (size_t)f;
        if (shuffle) ef_rng_shuffle(&rng, seq, len);
        for (size_t i = 0, m = 0; i < n; i++)
            if (enc[i] == c) fold_of_row[i] = (int)seq[m++];
    }
    if (err) {
        if ((size_t)k > min_count)
            ef_ml_errf(err, EF_OK,
                       "The least populated class in y has only %zu members, which is less "
                       "than n_splits=%d.",
                       min_count, k);
        else
            err->msg[0] = 0;
    }
out:
    free(lp);
    free(enc);
    free(first);
    free(count);
    free(rank);
    free(alloc);
    free(seq);
    return rc;
}

size_t ef_fold_rows(const int *fold_of_row, size_t n, int f, size_t *train, size_t *n_train,
                    size_t *test)
{
    size_t ntr = 0, nte = 0;
    for (size_t i = 0; i < n; i++) {
        if (fold_of_row[i] == f)
            test[nte++] = i;
        else
            train[ntr++] = i;
    }
    *n_train = ntr;
    return nte;
}
