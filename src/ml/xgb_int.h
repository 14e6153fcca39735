/* xgb_int.h - internals shared by xgb.c (parameters, fit, predict, the estimator types) and
 * xgb_io.c (save, load, boosters written by Python's xgboost). */
#ifndef EF_ML_XGB_INT_H
#define EF_ML_XGB_INT_H

#include "ml/ml.h"
#include "ml/xgb_dl.h" /* the C API, loaded on first use */

#define XGB_BOOSTER_FILE "xgb_model.json"

/* An estimator's state (e->state): the booster, owned. */
typedef struct xgb_state {
    BoosterHandle bst;
    char objective[32]; /* the objective the booster was trained with */
} xgb_state;

/* Fills err with "<what>: <XGBoost's last error, one line>" and returns code. */
int xgb__fail(ef_ml_err *err, int code, const char *what);
/* Frees the booster and st (NULL is fine). */
void xgb__state_free(xgb_state *st);
/* 1 for the multi:* objectives (one output per class). */
int xgb__is_multi(const char *objective);

/* The ef_ml_type save / load hooks (ml.h): the booster goes to <dir>/XGB_BOOSTER_FILE and
 * weights get booster_file, objective and num_class; load checks them and reads the booster. */
int xgb__save(const ef_estimator *e, json_t *weights, const char *dir, ef_ml_err *err);
int xgb__load(ef_estimator *e, const json_t *weights, const char *dir, ef_ml_err *err);

#endif
