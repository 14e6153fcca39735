/* fuzz_seldon.c - libFuzzer target for the Seldon v1 request parser (serve__seldon_parse): any
 * body is refused with a message or yields a finite matrix of the model's width. The model has
 * three features named a, b, c; the first input byte picks the ?method= query. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serving/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char a[] = "a", b[] = "b", c[] = "c";
    char *const features[] = {a, b, c};
    static const char *const methods[] = {NULL, "predict", "predict_proba", "x"};
    const char *method = size ? methods[data[0] & 3] : NULL;
    serve__seldon_req q;
    char msg[256];
    int rc = serve__seldon_parse((const char *)data + (size ? 1 : 0), size ? size - 1 : 0, method,
                                 features, 3, &q, msg, sizeof msg);
    if (rc == 0) {
        if (q.X.cols != 3 || q.X.rows == 0 || !q.meta)
            abort();
        for (size_t i = 0; i < q.X.rows * q.X.cols; i++)
            if (!isfinite(q.X.v[i]))
                abort();
    } else if (!memchr(msg, '\0', sizeof msg) || !msg[0]) {
        abort();
    }
    serve__seldon_req_release(&q);
    return 0;
}
