/* ml.h - edgeflow's training core: dense matrices, estimators with scikit-learn's defaults, and
 * the one interface every estimator implements.
 *
 * Module map (src/ml/):
 *   mat.c        ef_mat helpers, errors (ef_ml_err), parameter parsing, the estimator registry
 *   dataset.c    CSV -> float64 matrix + target (dataset.h)
 *   split.c      train_test_split, KFold, StratifiedKFold as scikit-learn 1.2 defines them (split.h)
 *   preprocess.c L2 row normalisation, standard scaling (preprocess.h)
 *   score.c      RMSE, MAE, R2, accuracy, macro P/R/F1, log-loss, confusion matrix (score.h)
 *   linear.c     ElasticNet / Lasso (coordinate descent), Ridge, LinearRegression
 *   logistic.c   LogisticRegression (L2, lbfgs)
 *   lda.c        LinearDiscriminantAnalysis (svd solver)
 *   mlp.c        MLPClassifier / MLPRegressor
 *   xgb.c        gradient-boosted trees through libxgboost's C API (EF_WITH_XGBOOST)
 *   model.c      MLflow model directories: MLmodel, model.json, input_example.json (model.h)
 *
 * Conventions. Matrices are row-major float64 (`ef_mat`, rows = samples). Targets are double
 * arrays; a classifier's labels are whatever doubles the data holds (string labels are mapped to
 * 0..K-1 by the dataset loader, which keeps the names). Every fallible call returns 0 or an EF_E*
 * code and, on failure, writes one readable line into *err (err may be NULL).
 */
#ifndef EF_ML_ML_H
#define EF_ML_ML_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/* ---- errors ------------------------------------------------------------------------------- */

typedef struct ef_ml_err {
    char msg[512];
} ef_ml_err;

/* Formats err->msg (when err is not NULL) and returns code. */
int ef_ml_errf(ef_ml_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Rewrites err->msg as "<prefix>: <msg>" (e.g. a file path before "line 7, ..."); returns code. */
int ef_ml_err_prefix(ef_ml_err *err, int code, const char *prefix);

/* ---- dense matrices ----------------------------------------------------------------------- */

typedef struct ef_mat {
    size_t rows, cols;
    double *v; /* rows * cols, row-major, owned */
} ef_mat;

#define EF_MAT_AT(m, i, j) ((m)->v[(size_t)(i) * (m)->cols + (size_t)(j)])

/* Allocates a zero-filled rows x cols matrix (0 x n and n x 0 are allowed, v may then be NULL).
 * EF_ENOMEM, or EF_ETOOBIG when rows * cols overflows. */
int ef_mat_init(ef_mat *m, size_t rows, size_t cols);
void ef_mat_release(ef_mat *m);
/* dst = src[idx[0..n), :] (a fresh matrix). */
int ef_mat_gather(ef_mat *dst, const ef_mat *src, const size_t *idx, size_t n);
/* Copies y[idx[k]] into out[k]. */
void ef_ml_gather_y(double *out, const double *y, const size_t *idx, size_t n);

/* ---- hyper-parameters --------------------------------------------------------------------- */

typedef enum {
    EF_ML_PDOUBLE,  /* 0.5, 1e-4 */
    EF_ML_PINT,     /* 42 */
    EF_ML_PBOOL,    /* true/false (also True/False/1/0) */
    EF_ML_PSTRING,  /* one of `choices` when given */
    EF_ML_PINTLIST, /* "500" or "100,50" or "(100, 50)" -> [100, 50] */
} ef_ml_pkind;

typedef struct ef_ml_param {
    const char *name;    /* scikit-learn's name: "alpha", "l1_ratio", "hidden_layer_sizes" */
    ef_ml_pkind kind;
    const char *def;     /* default as text, parsed like a user value; "None" -> JSON null */
    int nullable;        /* "None"/"null" accepted (e.g. random_state) */
    const char *choices; /* PSTRING: "cyclic|random"; NULL = free text */
    const char *help;
} ef_ml_param;

/* ---- estimators ----------------------------------------------------------------------------- */

typedef enum { EF_ML_REGRESSOR = 1, EF_ML_CLASSIFIER = 2 } ef_ml_task;

typedef struct ef_estimator ef_estimator;

/* Progress of a long fit: called at most once per iteration/epoch; returning nonzero cancels the
 * fit (fit then returns EF_EAGAIN with "cancelled"). */
typedef int (*ef_ml_progress_fn)(void *ctx, long iter, long max_iter, double loss);

typedef struct ef_ml_type {
    const char *name;          /* CLI and model.json name: "elasticnet" */
    const char *sklearn_class; /* "sklearn.linear_model.ElasticNet" (exporter, tags) */
    ef_ml_task task;
    const ef_ml_param *params; /* terminated by {NULL} */
    /* Fits on X (n x d, all finite) and y (n, finite). For classifiers e->classes is already set
     * (sorted distinct labels, >= 2) and y_idx[i] is the class index of y[i]; for regressors
     * y_idx is NULL. Allocates e->state. Writes fit diagnostics (n_iter_, loss, ...) into
     * e->fit_info. */
    int (*fit)(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx, ef_ml_err *err);
    /* out[i]: the prediction (a class label for classifiers). X->cols == e->n_features. */
    int (*predict)(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err);
    /* Classifiers: out (initialised by the callee) n x n_classes probabilities; may be NULL. */
    int (*predict_proba)(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err);
    /* Serialises the fitted state into the empty object `weights` (model.json's "weights"); dir is
     * the model directory being written, for types that keep a side file (XGBoost). */
    int (*save)(const ef_estimator *e, json_t *weights, const char *dir, ef_ml_err *err);
    /* Restores e->state from model.json's "weights" (n_features/classes/params already set). */
    int (*load)(ef_estimator *e, const json_t *weights, const char *dir, ef_ml_err *err);
    /* Frees e->state's insides and e->state itself. */
    void (*release)(ef_estimator *e);
} ef_ml_type;

struct ef_estimator {
    const ef_ml_type *type;
    json_t *params;     /* every parameter of type->params, typed (defaults filled in) */
    size_t n_features;  /* set by fit / load */
    size_t n_classes;   /* classifiers */
    double *classes;    /* classifiers: sorted distinct labels, n_classes of them */
    void *state;        /* the type's fitted state; NULL before fit */
    json_t *fit_info;   /* object: "n_iter", "loss", "dual_gap", "loss_curve", ... */
    ef_ml_progress_fn progress;
    void *progress_ctx;
};

/* The registry: every estimator this build has, NULL-terminated. */
const ef_ml_type *const *ef_ml_types(void);
/* By name ("elasticnet", "mlp_classifier", ...); NULL if unknown. */
const ef_ml_type *ef_ml_type_find(const char *name);

extern const ef_ml_type ef_ml_elasticnet, ef_ml_lasso, ef_ml_ridge, ef_ml_linear_regression,
    ef_ml_logistic_regression, ef_ml_lda, ef_ml_mlp_classifier, ef_ml_mlp_regressor, ef_ml_xgboost,
    ef_ml_xgboost_classifier;

/* A new estimator of type t with default parameters. NULL on ENOMEM. */
ef_estimator *ef_estimator_new(const ef_ml_type *t);
void ef_estimator_free(ef_estimator *e);
/* Sets one parameter from text ("alpha", "0.5"). EF_ENOTFOUND (unknown name, the message lists
 * the known ones) or EF_EINVAL (bad value, the message says what is expected). A type with a
 * text parameter named "extra" (XGBoost) takes unknown names there as "name=value;..." for its
 * library to validate at fit. */
int ef_estimator_set(ef_estimator *e, const char *name, const char *value, ef_ml_err *err);
/* Sets one parameter from a JSON value (model.json's "params"): null, bool, number, string or
 * an array of integers, checked against the parameter's kind like ef_estimator_set. */
int ef_estimator_set_json(ef_estimator *e, const char *name, const json_t *v, ef_ml_err *err);
/* Validates (n > 0, d > 0, finite values, a classifier sees >= 2 classes), sets n_features and
 * classes, then calls the type's fit. Refitting an estimator first releases the old state. */
int ef_estimator_fit(ef_estimator *e, const ef_mat *X, const double *y, ef_ml_err *err);
int ef_estimator_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err);
/* EF_EUNSUPPORTED when the type has no probabilities. */
int ef_estimator_predict_proba(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err);

/* Typed parameter getters for implementations (the parameter must exist in the type's list). */
double ef_ml_pdouble(const ef_estimator *e, const char *name);
long ef_ml_pint(const ef_estimator *e, const char *name);
int ef_ml_pbool(const ef_estimator *e, const char *name);
const char *ef_ml_pstring(const ef_estimator *e, const char *name); /* NULL when null */
int ef_ml_pnull(const ef_estimator *e, const char *name);
/* Copies up to max entries, returns the list length. */
size_t ef_ml_pintlist(const ef_estimator *e, const char *name, long *out, size_t max);

/* Index of label y among e->classes (binary search), or -1. */
int ef_ml_class_index(const ef_estimator *e, double y);

/* JSON helpers for save/load: arrays of doubles and row-major matrices. The getters return
 * EF_EINVAL with a message naming `what` when the shape or a type is wrong. */
json_t *ef_ml_json_vec(const double *v, size_t n);
json_t *ef_ml_json_mat(const ef_mat *m);
int ef_ml_json_get_vec(const json_t *a, double *out, size_t n, const char *what, ef_ml_err *err);
/* Reads an array of equal-length arrays into a fresh matrix (rows x cols must match when the
 * expected sizes are nonzero). */
int ef_ml_json_get_mat(const json_t *a, ef_mat *out, size_t rows, size_t cols, const char *what,
                       ef_ml_err *err);

#endif
