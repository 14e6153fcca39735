/* train_int.h - internals shared by train.c (the job) and train_track.c (its tracking). */
#ifndef EF_ML_TRAIN_INT_H
#define EF_ML_TRAIN_INT_H

#include "ml/dataset.h"
#include "ml/model.h"
#include "ml/preprocess.h"
#include "ml/train.h"
#include "tracking/client.h"

#define TRAIN_MAX_AXES 8
#define TRAIN_MAX_VALUES 64
#define TRAIN_MAX_METRICS 16
#define TRAIN_MAX_FOLDS 100

typedef struct train__axis {
    char name[64];
    char *text; /* owned; values point into it */
    const char *values[TRAIN_MAX_VALUES];
    size_t n;
} train__axis;

typedef struct train__result {
    ef_estimator *est; /* until the model takes it */
    ef_model *model;
    struct {
        char name[32];
        double value;
    } metrics[TRAIN_MAX_METRICS];
    size_t n_metrics;
    double cv[TRAIN_MAX_FOLDS], cv_mean, cv_std;
    double fit_seconds;
    ef_tc_run run; /* its tracking run (child run in a grid) */
} train__result;

typedef struct train__job {
    const ef_train_opts *o;
    const ef_ml_type *type;
    char est_name[64];
    ef_dataset data, test;
    size_t *train_idx, *test_idx, n_train, n_test;
    ef_mat Xtr, Xte, example;
    double *ytr, *yte;
    ef_scaler scaler;
    train__axis axes[TRAIN_MAX_AXES];
    size_t n_axes, combos, best;
    char best_metric[32];
    train__result *results;
    int fit_no, fit_total;
    int64_t last_draw_ms;
    /* tracking */
    ef_tc *tc;
    char *experiment_id;
    ef_tc_run parent; /* grid searches: the parent run */
    char *model_version;
} train__job;

double train__metric(const train__result *r, const char *name, int *found);

/* Connects to the tracking server (no-op without one) and resolves the experiment. */
int train__track_open(train__job *j, ef_ml_err *err);
/* Starts the parent run of a grid. */
int train__track_begin(train__job *j, ef_ml_err *err);
/* Logs result c: its run, params, metrics, dataset, model artifacts. */
int train__track_result(train__job *j, size_t c, ef_ml_err *err);
/* Marks runs as FAILED after an error in result c (best effort). */
void train__track_fail(train__job *j, size_t c);
/* Marks the best run, ends the runs, registers the best model. */
int train__track_finish(train__job *j, ef_ml_err *err);
void train__track_release(train__job *j);

#endif
