/* lda.h - what LinearDiscriminantAnalysis offers beyond the estimator interface of ml.h: the
 * projection onto the discriminant axes (scikit-learn's transform). */
#ifndef EF_ML_LDA_H
#define EF_ML_LDA_H

#include "ml/ml.h"

/* Projects X onto the fitted discriminant axes like LinearDiscriminantAnalysis.transform:
 * out = (X - xbar) . scalings, n x c with c = min(rank, n_components) (see the model's
 * "scalings"). e must be a fitted (or loaded) ef_ml_lda estimator. out is initialised by the
 * callee and owned by the caller afterwards (ef_mat_release). EF_EINVAL (not an LDA, not fitted,
 * wrong number of features, non-finite input), EF_EUNSUPPORTED (solver 'lsqr' has no transform),
 * EF_ENOMEM. */
int ef_ml_lda_transform(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err);

#endif
