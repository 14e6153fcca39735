/* fuzz_ml_model.c - libFuzzer target for model.json parsing (ef_model_parse): any input is
 * refused with a message or yields a model that can predict a row of zeros. */
#include <stdint.h>
#include <stdlib.h>

#include "ml/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ef_model *m = NULL;
    ef_ml_err err;
    if (ef_model_parse((const char *)data, size, NULL, &m, &err) == 0) {
        ef_mat X;
        if (m->est->n_features <= 4096 && ef_mat_init(&X, 1, m->est->n_features) == 0) {
            double y;
            ef_model_predict(m, &X, &y, &err);
            ef_mat_release(&X);
        }
        ef_model_free(m);
    }
    return 0;
}
