/* model.h - MLflow model directories with the `edgeflow` flavour (docs/model-format.md).
 *
 * A model is a fitted estimator plus what serving needs around it: the feature names and types
 * (the signature), the target name, text class names, the input preprocessing, an input example
 * and the run that produced it. ef_model_save() writes MLmodel, model.json and
 * input_example.json (and the estimator's side files) into a fresh directory next to the
 * destination and renames it into place, so a reader never sees half a model.
 */
#ifndef EF_ML_MODEL_H
#define EF_ML_MODEL_H

#include <jansson.h>

#include "ml/ml.h"

typedef struct ef_model {
    ef_estimator *est;     /* owned */
    char **feature_names;  /* est->n_features of them, owned */
    char *target;          /* may be NULL */
    char **class_names;    /* classifiers trained on text labels: n_classes names, else NULL */
    json_t *preprocess;    /* array of {"op": ...} applied to inputs in order (owned; may be []) */
    json_t *input_example; /* {"columns": [...], "data": [[...]]} or NULL */
    char *run_id;          /* the tracking run, or NULL */
    char *artifact_path;   /* "model" */
} ef_model;

/* A model around a fitted estimator (ownership of est moves in). feature_names may be NULL
 * ("f0".."f<d-1>"). NULL on ENOMEM. */
ef_model *ef_model_new(ef_estimator *est, const char *const *feature_names);
void ef_model_free(ef_model *m);

/* Preprocessing steps, recorded in the model and applied by ef_model_predict. */
int ef_model_add_normalize_l2(ef_model *m);
int ef_model_add_standard_scaler(ef_model *m, const double *mean, const double *scale);
/* Applies m->preprocess to X in place. */
int ef_model_preprocess(const ef_model *m, ef_mat *X, ef_ml_err *err);
/* Sets the input example to the first min(rows, 5) rows of X (raw, before preprocessing). */
int ef_model_set_input_example(ef_model *m, const ef_mat *X);

/* Writes the model directory at dir (which must not exist, or is replaced when overwrite).
 * When mlmodel is not NULL it receives MLmodel's content as a JSON object (what MLflow's
 * runs/log-model takes; the caller owns it). EF_EEXIST, EF_EIO (message names the path),
 * EF_ENOMEM. */
int ef_model_save(const ef_model *m, const char *dir, int overwrite, json_t **mlmodel,
                  ef_ml_err *err);
/* Reads a model directory (MLmodel with the edgeflow flavour + model.json). Every field is
 * validated; a wrong or unknown estimator, shape or type gives EF_EINVAL naming the field.
 * Without an edgeflow flavour, MLflow's own xgboost flavour is read (model_mlflow.c). */
int ef_model_load(const char *dir, ef_model **out, ef_ml_err *err);
/* Parses model.json text (the fuzz target's entry); dir is where side files live (may be NULL). */
int ef_model_parse(const char *json_text, size_t len, const char *dir, ef_model **out,
                   ef_ml_err *err);

/* Preprocesses X in place, then predicts (labels for classifiers). */
int ef_model_predict(const ef_model *m, ef_mat *X, double *out, ef_ml_err *err);
/* The label text of a prediction: class name, or the number formatted like Python's repr (an
 * integral class as "5"). Writes into buf. */
const char *ef_model_label(const ef_model *m, double y, char *buf, size_t len);

#endif
