/* registry.c - the estimators this build has, by name. Each EF_ML_HAVE_* is defined by
 * src/ml/CMakeLists.txt when the part that implements the type is built. */
#include <string.h>

#include "ml/ml.h"

static const ef_ml_type *const types[] = {
#ifdef EF_ML_HAVE_LINEAR
    &ef_ml_elasticnet, &ef_ml_lasso, &ef_ml_ridge, &ef_ml_linear_regression,
#endif
#ifdef EF_ML_HAVE_LOGISTIC
    &ef_ml_logistic_regression,
#endif
#ifdef EF_ML_HAVE_LDA
    &ef_ml_lda,
#endif
#ifdef EF_ML_HAVE_MLP
    &ef_ml_mlp_classifier, &ef_ml_mlp_regressor,
#endif
#ifdef EF_ML_HAVE_XGBOOST
    &ef_ml_xgboost, &ef_ml_xgboost_classifier,
#endif
    NULL,
};

const ef_ml_type *const *ef_ml_types(void)
{
    return types;
}

const ef_ml_type *ef_ml_type_find(const char *name)
{
    for (size_t i = 0; types[i]; i++)
        if (!strcmp(types[i]->name, name))
            return types[i];
    return NULL;
}
