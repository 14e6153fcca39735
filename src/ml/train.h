/* train.h - `edgeflow train` and `edgeflow predict`: load a CSV, split it like
 * train_test_split, cross-validate, fit one estimator or a grid of them, score on the held-out
 * part, write the MLflow model directory, and log everything to an MLflow-compatible tracking
 * server (params, metrics, conventional tags, the dataset as a run input, the model as artifacts,
 * a registered model version).
 */
#ifndef EF_ML_TRAIN_H
#define EF_ML_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "ml/ml.h"

typedef struct ef_train_opts {
    const char *estimator;        /* ef_ml_type name */
    const char *data;             /* CSV path */
    const char *test_data;        /* optional held-out CSV; else a split of data */
    const char *target;           /* target column (required) */
    const char *const *drop;      /* columns to leave out */
    size_t n_drop;
    const char *features;         /* names / python slices, see dataset.h; NULL = all others */
    const char *const *params;    /* "name=value" */
    size_t n_params;
    const char *const *grid;      /* "name=v1,v2,..." -> cartesian product, one child run each */
    size_t n_grid;
    double test_size;             /* fraction (0,1) or a row count >= 1 */
    uint32_t seed;                /* train_test_split / KFold random_state */
    int shuffle;                  /* split with shuffling (train_test_split's default) */
    int cv;                       /* k-fold cross-validation on the training part; 0 = none */
    const char *normalize;        /* "l2" or NULL */
    int standard_scale;           /* fit a StandardScaler on the training part */
    const char *output;           /* model directory to write; NULL = none */
    int overwrite;                /* replace an existing output directory */
    const char *tracking_uri;     /* NULL or "" = no tracking (then output is required) */
    const char *experiment;       /* experiment name (default "Default") */
    const char *run_name;
    const char *register_model;   /* registered model name, or NULL */
    const char *best_metric;      /* grid: which test metric picks the best; NULL = rmse / accuracy */
    int progress;                 /* 1: a progress bar on stderr */
} ef_train_opts;

/* Runs the whole training job. Prints a summary on stdout (metrics, run id, model version).
 * Returns 0 or an EF_E* code with one readable line in err. */
int ef_train_run(const ef_train_opts *o, ef_ml_err *err);

typedef struct ef_predict_opts {
    const char *model;      /* model directory or models:/name/stage|version, models:/name@alias */
    const char *data;       /* CSV with the model's feature columns (by name) */
    const char *output;     /* CSV to write; NULL or "-" = stdout */
    int proba;              /* classifiers: add one probability column per class */
    const char *tracking_uri;
    const char *cache_dir;  /* where models:/ downloads go */
} ef_predict_opts;

/* Batch inference: scores every row of data and writes a CSV with a `prediction` column (after
 * an index column like pandas' to_csv). */
int ef_predict_run(const ef_predict_opts *o, ef_ml_err *err);

#endif
