/* oip.h - the pure halves of `edgeflow serve`'s Open Inference Protocol v2 (oip.c) and KServe v1
 * (kserve.c) front ends: request parsers (JSON document -> feature matrix) and reply writers
 * (predictions -> JSON document). They touch no server state, so unit tests and the fuzz target
 * (tests/fuzz/fuzz_oip.c) call them directly; the route handlers in oip.c / kserve.c glue them to
 * serve__acquire / serve__predict (serve_int.h).
 *
 * Input rules (OIP v2, /work/shared/specs/oip-v2.md section 2.1), for a model of d features:
 *   - one input of shape [N, d] (any name), data flat or nested, row-major; or
 *   - d inputs of shape [N] or [N, 1], one per feature, named like the model's features (any
 *     order); a model of one feature also takes one input of shape [N] under any name.
 * Datatypes BOOL (true/false -> 1/0), INT32, INT64 (integral numbers in range), FP32 (rounded to
 * float precision), FP64. The element count must equal the product of the shape, N >= 1, every
 * value finite. Outputs: "predict" (always available) and "predict_proba" (classifiers), chosen
 * by the request's "outputs" list, else "predict" plus "predict_proba" when the request-level
 * parameter "predict_proba" is true.
 *
 * Binary tensor data extension (spec section 3; Triton's binary_tensor_data), pure helpers in
 * oip_bin.c: with the HTTP header Inference-Header-Content-Length: N the body's first N bytes
 * are the JSON request and the rest are the blobs of the inputs that carry
 * "parameters": {"binary_data_size": B} instead of "data", concatenated in input order, each
 * little-endian, row-major, tightly packed (BOOL 1 byte 0/1, INT32/FP32 4, INT64/FP64 8).
 * B must equal the shape's element count x the element size and the blobs must add up to the
 * rest of the body exactly. Outputs asked for with "parameters": {"binary_data": true} (or
 * request-level "binary_data_output": true) carry "parameters": {"binary_data_size": B} instead
 * of "data" and their blobs follow the reply's JSON in output order (FP64 and INT64 8 bytes per
 * element; BYTES labels a 4-byte little-endian length, then the bytes).
 */
#ifndef EF_SERVING_OIP_H
#define EF_SERVING_OIP_H

#include <jansson.h>
#include <stddef.h>

#include "ml/ml.h"
#include "ml/model.h"

/* What a parser needs to know about the model it feeds (all borrowed). */
typedef struct serve__schema {
    size_t n_features;
    const char *const *features; /* n_features names */
    int classifier;              /* 1 when the model offers predict_proba */
    const char *estimator;       /* type name for messages ("elasticnet") */
} serve__schema;

/* Fills sc from a loaded model (pointers into m). */
void serve__schema_of(const ef_model *m, serve__schema *sc);

enum { SERVE__OUT_PREDICT = 1, SERVE__OUT_PROBA = 2 };

/* Tensor datatypes the parsers accept (element sizes: serve__oip_dt_size). */
enum { SERVE__DT_BOOL = 1, SERVE__DT_INT32, SERVE__DT_INT64, SERVE__DT_FP32, SERVE__DT_FP64 };

/* A parsed OIP inference request. */
typedef struct serve__oip_req {
    ef_mat X;           /* N x n_features, owned */
    const char *id;     /* the request's "id", borrowed from the document; NULL when absent */
    int outputs[2];     /* SERVE__OUT_* in reply order */
    int binary[2];      /* 1 when outputs[i] goes as a binary blob (binary tensor extension) */
    size_t n_outputs;   /* >= 1 */
    int want_proba;     /* 1 when predict_proba is among the outputs */
} serve__oip_req;

/* Parses an OIP v2 inference request document. On success out->X is owned by the caller (free
 * with serve__oip_req_release); out->id points into doc, so doc must outlive out. Returns 0,
 * EF_EINVAL (err holds one line saying what is wrong and what was expected: the reply is a 400)
 * or EF_ENOMEM / EF_ETOOBIG. On failure out holds nothing to release (releasing is harmless). */
int serve__oip_parse(const json_t *doc, const serve__schema *sc, serve__oip_req *out,
                     ef_ml_err *err);
/* Like serve__oip_parse for a request of the binary tensor extension: blob (blob_len bytes,
 * borrowed, only read during the call) is what follows the JSON header in the body. blob NULL
 * means the request had no Inference-Header-Content-Length header, so an input with
 * binary_data_size is refused. Sizes that do not match the shape, blobs that do not add up to
 * blob_len, an input with both "data" and binary_data_size: EF_EINVAL saying which. */
int serve__oip_parse_bin(const json_t *doc, const unsigned char *blob, size_t blob_len,
                         const serve__schema *sc, serve__oip_req *out, ef_ml_err *err);
void serve__oip_req_release(serve__oip_req *r);

/* ---- binary tensor extension (oip_bin.c) ---- */

/* Bytes per element of a SERVE__DT_* datatype (0 for anything else). */
size_t serve__oip_dt_size(int dt);

/* Reads the Inference-Header-Content-Length value text for a body of body_len bytes into
 * *json_len. Returns 0, or EF_EINVAL (err says what is wrong: not a decimal number, 0, or
 * larger than the body). */
int serve__oip_split(const char *header, size_t body_len, size_t *json_len, ef_ml_err *err);

/* Decodes count little-endian elements of datatype dt from blob (count x dt size bytes) into
 * dst[t * stride + off], t = 0..count-1, with the JSON path's checks (BOOL bytes 0 or 1, finite
 * values; FP32 is widened exactly). input names the tensor in messages. Returns 0 or EF_EINVAL. */
int serve__oip_blob_fill(int dt, const unsigned char *blob, size_t count, double *dst,
                         size_t stride, size_t off, const char *input, ef_ml_err *err);

/* The size in bytes of output i of rq (SERVE__OUT_*) in binary form: rows x 8 for FP64/INT64
 * predict and predict_proba (rows x proba->cols), the length-prefixed labels for BYTES. */
size_t serve__oip_output_bytes(const ef_model *m, const serve__oip_req *rq, size_t i,
                               const double *pred, const ef_mat *proba);

/* The whole binary reply: reply (serve__oip_reply's document, compact) followed by the blobs of
 * rq's binary outputs. *body (malloc'd, the caller frees) receives *len bytes, *json_len of them
 * the JSON. Returns 0, EF_ENOMEM, or EF_EINVAL when a value cannot be written (a non-finite
 * prediction, as in the JSON path). */
int serve__oip_reply_body(const json_t *reply, const ef_model *m, const serve__oip_req *rq,
                          const double *pred, const ef_mat *proba, char **body, size_t *len,
                          size_t *json_len);

/* The OIP inference reply for request rq answered by model m: model_name, model_version (when
 * version is not ""), id (when the request had one) and the outputs asked for (binary ones with
 * parameters.binary_data_size instead of data: serve__oip_reply_body appends their blobs). pred: rq->X.rows
 * predictions; proba: rows x n_classes (only read when rq->want_proba). "predict" is BYTES for
 * models with class names, INT64 for classifiers with integral labels, FP64 otherwise. Returns a
 * new reference, NULL on ENOMEM. */
json_t *serve__oip_reply(const ef_model *m, const char *name, const char *version,
                         const serve__oip_req *rq, const double *pred, const ef_mat *proba);

/* Model metadata (GET /v2/models/<m>): name, versions, platform, one FP64 [-1, 1] input per
 * feature, the outputs. New reference, NULL on ENOMEM. */
json_t *serve__oip_metadata(const ef_model *m, const char *name, const char *version);

/* Parses a KServe v1 predict request: {"instances": [row, ...]} or {"inputs": [row, ...]} where
 * a row is an array of d numbers (or booleans) or an object keyed by feature name, or the
 * columnar {"inputs": {"<feature>": [N values], ...}}. X receives a fresh N x d matrix (release
 * with ef_mat_release). Returns 0, EF_EINVAL (err says what is wrong) or EF_ENOMEM. */
int serve__kserve_parse(const json_t *doc, const serve__schema *sc, ef_mat *X, ef_ml_err *err);

/* {"predictions": [...]}: n label strings, integers (classifiers with integral labels) or
 * numbers. New reference, NULL on ENOMEM. */
json_t *serve__kserve_reply(const ef_model *m, const double *pred, size_t n);

/* The "predict" output's datatype for model m: "BYTES" (class names), "INT64" (classifiers with
 * integral labels) or "FP64". */
const char *serve__oip_pred_datatype(const ef_model *m);

/* One prediction as a JSON value, typed like the "predict" output (shared by both writers). */
json_t *serve__pred_json(const ef_model *m, double y);

#endif
