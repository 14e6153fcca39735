/* fuzz_oip.c - libFuzzer target for the OIP v2 and KServe v1 request parsers (serving/oip.h):
 * any JSON body is refused with a message or yields a non-empty N x d matrix of finite values
 * and a consistent list of outputs, for a 3-feature regressor, a classifier and a 1-feature
 * model. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "serving/oip.h"

static const char *const feats[] = {"alcohol", "ph", "sugar"};
static const char *const one_feat[] = {"x"};
static const serve__schema schemas[] = {
    {3, feats, 0, "elasticnet"},
    {3, feats, 1, "lda"},
    {1, one_feat, 0, "ridge"},
};

static void check_mat(const ef_mat *X, const serve__schema *sc)
{
    if (X->rows == 0 || X->cols != sc->n_features || !X->v) abort();
    for (size_t i = 0; i < X->rows * X->cols; i++)
        if (!isfinite(X->v[i])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc) return 0;
    for (size_t s = 0; s < sizeof schemas / sizeof schemas[0]; s++) {
        const serve__schema *sc = &schemas[s];
        serve__oip_req rq;
        ef_ml_err err;
        if (serve__oip_parse(doc, sc, &rq, &err) == 0) {
            check_mat(&rq.X, sc);
            if (rq.n_outputs < 1 || rq.n_outputs > 2) abort();
            if (rq.want_proba && !sc->classifier) abort();
            serve__oip_req_release(&rq);
        } else if (rq.X.v || !err.msg[0]) {
            abort();
        }
        ef_mat X;
        if (serve__kserve_parse(doc, sc, &X, &err) == 0) {
            check_mat(&X, sc);
            ef_mat_release(&X);
        } else if (X.v || !err.msg[0]) {
            abort();
        }
    }
    json_decref(doc);
    return 0;
}
