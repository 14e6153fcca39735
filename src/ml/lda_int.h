/* lda_int.h - internals shared by lda.c (the estimator type, prediction, transform, model.json)
 * and lda_solve.c (the svd, lsqr and eigen solvers and the covariance estimators). */
#ifndef EF_ML_LDA_INT_H
#define EF_ML_LDA_INT_H

#include <stddef.h>

#include "ml/ml.h"

/* The fitted model; model.json's "weights" hold the same arrays (docs/model-format.md). */
typedef struct lda__state {
    size_t d, k;        /* features, classes */
    size_t r;           /* rows of coef: 1 for two classes, else k */
    size_t n_comp;      /* columns of scalings (transform's output width; 0 for lsqr) */
    size_t n_evr;       /* entries of explained_variance_ratio */
    double *coef;       /* r x d */
    double *intercept;  /* r */
    double *scalings;   /* d x n_comp */
    double *xbar;       /* d: the svd solver's centre; zeros for eigen / lsqr */
    double *means;      /* k x d */
    double *priors;     /* k */
    double *evr;        /* n_evr */
    double *covariance; /* d x d (svd: only when store_covariance), else NULL */
} lda__state;

/* How the covariance matrices are estimated (sklearn's `shrinkage`). */
typedef enum { LDA_SHRINK_NONE, LDA_SHRINK_FIXED, LDA_SHRINK_AUTO } lda__shrink;

/* calloc of a rows x cols double matrix with an overflow check; NULL when empty or on ENOMEM. */
double *lda__alloc(size_t rows, size_t cols);

/* The solvers. On entry s->d, s->k, s->priors, s->means and s->xbar are set; each fills coef
 * (k x d, one row per class), intercept (k), scalings / n_comp, evr / n_evr and, for lsqr and
 * eigen, covariance. max_comp = the transform width asked for. Diagnostics go into info.
 * EF_EINVAL (rank-deficient or singular problems, with what to change), EF_ENOMEM. */
int lda__solve_svd(lda__state *s, const ef_mat *X, const int *y_idx, size_t max_comp, double tol,
                   json_t *info, ef_ml_err *err);
int lda__solve_lsqr(lda__state *s, const ef_mat *X, const int *y_idx, lda__shrink mode,
                    double shrinkage, json_t *info, ef_ml_err *err);
int lda__solve_eigen(lda__state *s, const ef_mat *X, const int *y_idx, size_t max_comp,
                     lda__shrink mode, double shrinkage, json_t *info, ef_ml_err *err);
/* Weighted within-class covariance, sum_k priors_k * cov_k (sklearn's _class_cov), into cov
 * (d x d). EF_ENOMEM. */
int lda__class_cov(const lda__state *s, const ef_mat *X, const int *y_idx, lda__shrink mode,
                   double shrinkage, double *cov);

#endif
