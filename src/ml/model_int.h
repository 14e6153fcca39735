/* model_int.h - internals shared by model.c and model_mlflow.c. */
#ifndef EF_ML_MODEL_INT_H
#define EF_ML_MODEL_INT_H

#include "ml/model.h"

/* Loads a model directory whose MLmodel has no `edgeflow` flavour from another MLflow flavour
 * (today: `xgboost`, as mlflow.xgboost.log_model/save_model writes it). Same contract as
 * ef_model_load; EF_EINVAL when no flavour is readable (the message says which are). */
int ef_model__load_mlflow(const char *dir, ef_model **out, ef_ml_err *err);

#endif
