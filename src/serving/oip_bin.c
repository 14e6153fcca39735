/* oip_bin.c - the pure helpers of the OIP v2 binary tensor data extension (oip.h; spec section
 * 3, Triton's binary_tensor_data): the header/blob split of a request body, little-endian
 * decoding of input blobs into the feature matrix, and the binary reply (JSON header followed by
 * the output blobs). oip.c does the JSON side (which input owns which bytes) and the route.
 *
 * Byte layout, request and reply alike:
 *   [ JSON, Inference-Header-Content-Length bytes ][ blob 0 ][ blob 1 ] ...
 * one blob per tensor that has parameters.binary_data_size, in tensor order, no padding;
 * elements little-endian, row-major: BOOL 1 byte (0 or 1), INT32/FP32 4, INT64/FP64 8, BYTES
 * (replies only: text labels) a uint32 length then the bytes, per element.
 * Every size is checked before it is used, in size_t arithmetic that cannot wrap.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "serving/oip.h"

size_t serve__oip_dt_size(int dt)
{
    switch (dt) {
    case SERVE__DT_BOOL: return 1;
    case SERVE__DT_INT32:
    case SERVE__DT_FP32: return 4;
    case SERVE__DT_INT64:
    case SERVE__DT_FP64: return 8;
    default: return 0;
    }
}

int serve__oip_split(const char *header, size_t body_len, size_t *json_len, ef_ml_err *err)
{
    size_t n = 0, digits = 0;
    const char *p = header;
    *json_len = 0;
    while (*p == ' ' || *p == '\t') p++;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (n > (SIZE_MAX - 9) / 10)
            return ef_ml_errf(err, EF_EINVAL, "Inference-Header-Content-Length (%.30s) is larger "
                              "than the body (%zu bytes)", header, body_len);
        n = n * 10 + (size_t)(*p - '0');
    }
    while (*p == ' ' || *p == '\t') p++;
    if (!digits || *p)
        return ef_ml_errf(err, EF_EINVAL, "Inference-Header-Content-Length must be the byte "
                          "length of the JSON header (a decimal number), not '%.30s'", header);
    if (n == 0)
        return ef_ml_errf(err, EF_EINVAL, "Inference-Header-Content-Length is 0; it must be the "
                          "byte length of the JSON inference header");
    if (n > body_len)
        return ef_ml_errf(err, EF_EINVAL, "Inference-Header-Content-Length is %zu but the body "
                          "has only %zu bytes", n, body_len);
    *json_len = n;
    return 0;
}

static uint64_t le_u64(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++, v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

int serve__oip_blob_fill(int dt, const unsigned char *blob, size_t count, double *dst,
                         size_t stride, size_t off, const char *input, ef_ml_err *err)
{
    size_t es = serve__oip_dt_size(dt);
    if (!es)
        return ef_ml_errf(err, EF_EINVAL, "input '%s': no binary form for this datatype", input);
    for (size_t t = 0; t < count; t++) {
        const unsigned char *p = blob + t * es;
        uint64_t u = le_u64(p, es);
        double x;
        switch (dt) {
        case SERVE__DT_BOOL:
            if (u > 1)
                return ef_ml_errf(err, EF_EINVAL, "input '%s' is BOOL but byte %zu is %u; "
                                  "expected 0 or 1", input, t, (unsigned)u);
            x = (double)u;
            break;
        case SERVE__DT_INT32: x = (double)(int32_t)(uint32_t)u; break;
        case SERVE__DT_INT64: {
            int64_t i;
            memcpy(&i, &u, sizeof i);
            x = (double)i;
            break;
        }
        case SERVE__DT_FP32: {
            uint32_t w = (uint32_t)u;
            float f;
            memcpy(&f, &w, sizeof f);
            x = (double)f;
            break;
        }
        default:
            memcpy(&x, &u, sizeof x);
            break;
        }
        if (!isfinite(x))
            return ef_ml_errf(err, EF_EINVAL, "input '%s': element %zu is not a finite number",
                              input, t);
        dst[t * stride + off] = x;
    }
    return 0;
}

/* Text of label y for a BYTES output: the class name, else the number (as the JSON path). */
static const char *label_text(const ef_model *m, double y, char *buf, size_t len)
{
    int k = ef_ml_class_index(m->est, y);
    if (k >= 0) return m->class_names[k];
    snprintf(buf, len, "%.17g", y);
    return buf;
}

size_t serve__oip_output_bytes(const ef_model *m, const serve__oip_req *rq, size_t i,
                               const double *pred, const ef_mat *proba)
{
    size_t rows = rq->X.rows;
    if (rq->outputs[i] == SERVE__OUT_PROBA)
        return proba && proba->rows == rows ? rows * proba->cols * 8 : 0;
    if (!m->class_names) return rows * 8;
    size_t n = 0;
    char buf[32];
    for (size_t r = 0; r < rows; r++) n += 4 + strlen(label_text(m, pred[r], buf, sizeof buf));
    return n;
}

/* Writes output i's blob at p (serve__oip_output_bytes(...) bytes). 0 or EF_EINVAL. */
static int write_output(const ef_model *m, const serve__oip_req *rq, size_t i, const double *pred,
                        const ef_mat *proba, unsigned char *p)
{
    size_t rows = rq->X.rows;
    int int64 = !strcmp(serve__oip_pred_datatype(m), "INT64");
    if (rq->outputs[i] == SERVE__OUT_PROBA) {
        if (!proba || proba->rows != rows) return EF_EINVAL;
        for (size_t t = 0; t < rows * proba->cols; t++, p += 8) {
            uint64_t u;
            if (!isfinite(proba->v[t])) return EF_EINVAL;
            memcpy(&u, &proba->v[t], sizeof u);
            put_le(p, u, 8);
        }
        return 0;
    }
    for (size_t r = 0; r < rows; r++) {
        double y = pred[r];
        uint64_t u;
        if (m->class_names) {
            char buf[32];
            const char *s = label_text(m, y, buf, sizeof buf);
            size_t n = strlen(s);
            if (n > UINT32_MAX) return EF_EINVAL;
            put_le(p, n, 4);
            memcpy(p + 4, s, n);
            p += 4 + n;
            continue;
        }
        if (!isfinite(y)) return EF_EINVAL;
        if (int64) {
            if (y != floor(y) || fabs(y) >= 9.2e18) return EF_EINVAL;
            int64_t v = (int64_t)y;
            memcpy(&u, &v, sizeof u);
        } else {
            memcpy(&u, &y, sizeof u);
        }
        put_le(p, u, 8);
        p += 8;
    }
    return 0;
}

int serve__oip_reply_body(const json_t *reply, const ef_model *m, const serve__oip_req *rq,
                          const double *pred, const ef_mat *proba, char **body, size_t *len,
                          size_t *json_len)
{
    int rc = 0;
    char *json = NULL, *buf = NULL;
    size_t sizes[2] = {0, 0}, total = 0, jl;
    *body = NULL;
    *len = *json_len = 0;
    if (!(json = json_dumps(reply, JSON_COMPACT))) {
        rc = EF_ENOMEM;
        goto out;
    }
    jl = strlen(json);
    total = jl;
    for (size_t i = 0; i < rq->n_outputs && i < 2; i++) {
        if (!rq->binary[i]) continue;
        sizes[i] = serve__oip_output_bytes(m, rq, i, pred, proba);
        if (sizes[i] > SIZE_MAX - total) {
            rc = EF_ENOMEM;
            goto out;
        }
        total += sizes[i];
    }
    if (!(buf = malloc(total ? total : 1))) {
        rc = EF_ENOMEM;
        goto out;
    }
    memcpy(buf, json, jl);
    size_t at = jl;
    for (size_t i = 0; i < rq->n_outputs && i < 2 && !rc; i++) {
        if (!rq->binary[i]) continue;
        rc = write_output(m, rq, i, pred, proba, (unsigned char *)buf + at);
        at += sizes[i];
    }
    if (rc) goto out;
    *body = buf;
    buf = NULL;
    *len = total;
    *json_len = jl;
out:
    free(buf);
    free(json);
    return rc;
}
