/* xgb.h - entry points of the XGBoost estimators (xgb.c) beyond the ef_ml_type interface: building
 * an estimator straight from a booster file that Python's xgboost wrote (MLflow's xgboost
 * flavour, read by model_mlflow.c). Only built with EF_WITH_XGBOOST (EF_ML_HAVE_XGBOOST). */
#ifndef EF_ML_XGB_H
#define EF_ML_XGB_H

#include "ml/ml.h"

/* Loads the booster at path (XGBoost's JSON, UBJSON or binary format, told apart by XGBoost from
 * the file name: .json, .ubj, anything else binary) into a new fitted estimator.
 *   classifier: 1 builds an `xgboost_classifier` (XGBClassifier: classes 0..K-1, K from the
 *     booster's num_class, 2 for binary:logistic; objectives binary:logistic, multi:softprob and
 *     multi:softmax), 0 an `xgboost` regressor whose prediction is the booster's output (what
 *     XGBRegressor.predict and Booster.predict give for single-output objectives).
 * n_features comes from the booster. On success *out is the caller's (ef_estimator_free).
 * Errors: EF_EIO (the file cannot be loaded; the message has XGBoost's reason), EF_EUNSUPPORTED
 * (an objective this reader does not map), EF_EINVAL, EF_ENOMEM. */
int ef_ml_xgb_from_booster(const char *path, int classifier, ef_estimator **out, ef_ml_err *err);

#endif
