/* fuzz_oip_binary.c - libFuzzer target for the OIP v2 binary tensor data extension (oip.h):
 * the header/blob split (serve__oip_split) and the binary request parser (serve__oip_parse_bin).
 * Input layout: the first line is the Inference-Header-Content-Length value text, the rest is
 * the request body (JSON header, then the blobs). Whatever the bytes, the split either refuses
 * with a message or yields a JSON length within the body, and the parser either refuses with a
 * message or yields a non-empty N x d matrix of finite values, for three model schemas; blob
 * reads past the body would be caught by ASan (the body is copied to its own allocation). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serving/oip.h"

static const char *const feats[] = {"alcohol", "ph", "sugar"};
static const char *const one_feat[] = {"x"};
static const serve__schema schemas[] = {
    {3, feats, 0, "elasticnet"},
    {3, feats, 1, "lda"},
    {1, one_feat, 0, "ridge"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 64 ? size : 64);
    if (!nl) return 0;
    size_t hlen = (size_t)(nl - data), blen = size - hlen - 1;
    char header[65];
    memcpy(header, data, hlen);
    header[hlen] = '\0';
    unsigned char *body = malloc(blen ? blen : 1);
    if (!body) return 0;
    memcpy(body, nl + 1, blen);
    size_t jl = 12345;
    ef_ml_err err = {{0}};
    if (serve__oip_split(header, blen, &jl, &err)) {
        if (jl != 0 || !err.msg[0]) abort();
        goto out;
    }
    if (jl == 0 || jl > blen) abort();
    json_t *doc = json_loadb((const char *)body, jl, 0, NULL);
    if (!doc) goto out;
    for (size_t s = 0; s < sizeof schemas / sizeof schemas[0]; s++) {
        const serve__schema *sc = &schemas[s];
        serve__oip_req rq;
        err.msg[0] = '\0';
        if (serve__oip_parse_bin(doc, body + jl, blen - jl, sc, &rq, &err) == 0) {
            if (rq.X.rows == 0 || rq.X.cols != sc->n_features || !rq.X.v) abort();
            for (size_t i = 0; i < rq.X.rows * rq.X.cols; i++)
                if (!isfinite(rq.X.v[i])) abort();
            if (rq.n_outputs < 1 || rq.n_outputs > 2) abort();
            if (rq.want_proba && !sc->classifier) abort();
            serve__oip_req_release(&rq);
        } else if (rq.X.v || !err.msg[0]) {
            abort();
        }
    }
    json_decref(doc);
out:
    free(body);
    return 0;
}
