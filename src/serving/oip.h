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

/* A parsed OIP inference request. */
typedef struct serve__oip_req {
    ef_mat X;           /* N x n_features, owned */
    const char *id;     /* the request's "id", borrowed from the document; NULL when absent */
    int outputs[2];     /* SERVE__OUT_* in reply order */
    size_t n_outputs;   /* >= 1 */
    int want_proba;     /* 1 when predict_proba is among the outputs */
} serve__oip_req;

/* Parses an OIP v2 inference request document. On success out->X is owned by the caller (free
 * with serve__oip_req_release); out->id points into doc, so doc must outlive out. Returns 0,
 * EF_EINVAL (err holds one line saying what is wrong and what was expected: the reply is a 400)
 * or EF_ENOMEM / EF_ETOOBIG. On failure out holds nothing to release (releasing is harmless). */
int serve__oip_parse(const json_t *doc, const serve__schema *sc, serve__oip_req *out,
                     ef_ml_err *err);
void serve__oip_req_release(serve__oip_req *r);

/* The OIP inference reply for request rq answered by model m: model_name, model_version (when
 * version is not ""), id (when the request had one) and the outputs asked for. pred: rq->X.rows
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

/* One prediction as a JSON value, typed like the "predict" output (shared by both writers). */
json_t *serve__pred_json(const ef_model *m, double y);

#endif
