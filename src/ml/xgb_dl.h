/* xgb_dl.h - the libxgboost C API functions edgeflow calls, each routed through xgb_dl.c, which
 * loads the library on first use. Included by xgb_int.h after <xgboost/c_api.h>: the macros at
 * the end rename every call (XGBoosterCreate(...) -> xgb__XGBoosterCreate(...)), so xgb.c and
 * xgb_io.c read like plain C API code.
 *
 * X(name, parameters, arguments): every function here returns int (0 = success, -1 = failure
 * with XGBGetLastError() saying why -- also when libxgboost cannot be loaded).
 */
#ifndef EF_ML_XGB_DL_H
#define EF_ML_XGB_DL_H

#include <xgboost/c_api.h>

#define XGB_DL_FUNCS(X)                                                                            \
    X(XGDMatrixCreateFromMat,                                                                      \
      (const float *data, bst_ulong nrow, bst_ulong ncol, float missing, DMatrixHandle *out),      \
      (data, nrow, ncol, missing, out))                                                            \
    X(XGDMatrixSetFloatInfo,                                                                       \
      (DMatrixHandle handle, const char *field, const float *array, bst_ulong len),                \
      (handle, field, array, len))                                                                 \
    X(XGDMatrixFree, (DMatrixHandle handle), (handle))                                             \
    X(XGBoosterCreate, (const DMatrixHandle dmats[], bst_ulong len, BoosterHandle *out),           \
      (dmats, len, out))                                                                           \
    X(XGBoosterFree, (BoosterHandle handle), (handle))                                             \
    X(XGBoosterSetParam, (BoosterHandle handle, const char *name, const char *value),              \
      (handle, name, value))                                                                       \
    X(XGBoosterSetAttr, (BoosterHandle handle, const char *key, const char *value),                \
      (handle, key, value))                                                                        \
    X(XGBoosterUpdateOneIter, (BoosterHandle handle, int iter, DMatrixHandle dtrain),              \
      (handle, iter, dtrain))                                                                      \
    X(XGBoosterEvalOneIter,                                                                        \
      (BoosterHandle handle, int iter, DMatrixHandle dmats[], const char *evnames[],               \
       bst_ulong len, const char **out_result),                                                    \
      (handle, iter, dmats, evnames, len, out_result))                                             \
    X(XGBoosterPredictFromDense,                                                                   \
      (BoosterHandle handle, char const *values, char const *config, DMatrixHandle m,              \
       bst_ulong const **out_shape, bst_ulong *out_dim, const float **out_result),                 \
      (handle, values, config, m, out_shape, out_dim, out_result))                                 \
    X(XGBoosterPredictFromDMatrix,                                                                 \
      (BoosterHandle handle, DMatrixHandle dmat, char const *config,                               \
       bst_ulong const **out_shape, bst_ulong *out_dim, float const **out_result),                 \
      (handle, dmat, config, out_shape, out_dim, out_result))                                      \
    X(XGBoosterSaveModel, (BoosterHandle handle, const char *fname), (handle, fname))              \
    X(XGBoosterLoadModel, (BoosterHandle handle, const char *fname), (handle, fname))              \
    X(XGBoosterSaveJsonConfig,                                                                     \
      (BoosterHandle handle, bst_ulong *out_len, char const **out_str),                            \
      (handle, out_len, out_str))                                                                  \
    X(XGBoosterGetNumFeature, (BoosterHandle handle, bst_ulong *out), (handle, out))               \
    X(XGBRegisterLogCallback, (void (*callback)(const char *)), (callback))

#define XGB_DL_DECLARE(name, params, args) int xgb__##name params;
XGB_DL_FUNCS(XGB_DL_DECLARE)
#undef XGB_DL_DECLARE
/* XGBoost's last error on this thread, or why the library could not be loaded. */
const char *xgb__XGBGetLastError(void);

#ifndef XGB_DL_IMPLEMENTATION
#define XGDMatrixCreateFromMat xgb__XGDMatrixCreateFromMat
#define XGDMatrixSetFloatInfo xgb__XGDMatrixSetFloatInfo
#define XGDMatrixFree xgb__XGDMatrixFree
#define XGBoosterCreate xgb__XGBoosterCreate
#define XGBoosterFree xgb__XGBoosterFree
#define XGBoosterSetParam xgb__XGBoosterSetParam
#define XGBoosterSetAttr xgb__XGBoosterSetAttr
#define XGBoosterUpdateOneIter xgb__XGBoosterUpdateOneIter
#define XGBoosterEvalOneIter xgb__XGBoosterEvalOneIter
#define XGBoosterPredictFromDense xgb__XGBoosterPredictFromDense
#define XGBoosterPredictFromDMatrix xgb__XGBoosterPredictFromDMatrix
#define XGBoosterSaveModel xgb__XGBoosterSaveModel
#define XGBoosterLoadModel xgb__XGBoosterLoadModel
#define XGBoosterSaveJsonConfig xgb__XGBoosterSaveJsonConfig
#define XGBoosterGetNumFeature xgb__XGBoosterGetNumFeature
#define XGBRegisterLogCallback xgb__XGBRegisterLogCallback
#define XGBGetLastError xgb__XGBGetLastError
#endif

#endif
