/* kserve.c - KServe v1 (TF-Serving-like) protocol for `edgeflow serve`.
 *
 *   GET  /v1/models               {"models": ["wine", ...]}
 *   GET  /v1/models/{m}           {"name": m, "ready": true}
 *   POST /v1/models/{m}:predict   {"instances": [[...], ...]} or {"inputs": ...}
 *                                 -> {"predictions": [...]} (one per row)
 * A row is an array of the model's d feature values (numbers or booleans), an object keyed by
 * feature name, or a bare number for a one-feature model; {"inputs": {"<feature>": [N values]}}
 * is the columnar form. Failures answer {"error": "<one line>"}: 400 bad input, 404 unknown model
 * or verb, 501 :explain, 503 model still loading, 500 unexpected.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "serving/oip.h"
#include "serving/serve_int.h"

/* ---- parsing ------------------------------------------------------------------------------- */

static int scalar(const json_t *v, double *x)
{
    if (json_is_number(v))
        *x = json_number_value(v);
    else if (json_is_boolean(v))
        *x = json_is_true(v) ? 1.0 : 0.0;
    else
        return -1;
    return isfinite(*x) ? 0 : -1;
}

static const char *kind(const json_t *v)
{
    return json_is_string(v) ? "a string" : json_is_null(v) ? "null" : json_is_array(v) ? "an array"
           : json_is_object(v) ? "an object" : "not a finite number";
}

static int bad_value(ef_ml_err *err, size_t i, const serve__schema *sc, size_t j, const json_t *v)
{
    return ef_ml_errf(err, EF_EINVAL, "instance %zu, feature '%s': expected a number, got %s", i,
                      sc->features[j], kind(v));
}

static long find_feature(const serve__schema *sc, const char *name)
{
    for (size_t j = 0; j < sc->n_features; j++)
        if (!strcmp(sc->features[j], name)) return (long)j;
    return -1;
}

/* One row (array, object keyed by feature, or a scalar for d == 1) into X row i. */
static int parse_row(const json_t *row, size_t i, const serve__schema *sc, ef_mat *X,
                     ef_ml_err *err)
{
    size_t d = sc->n_features;
    double *dst = X->v + i * d;
    if (json_is_array(row)) {
        if (json_array_size(row) != d)
            return ef_ml_errf(err, EF_EINVAL, "instance %zu has %zu values; this model takes %zu "
                              "features", i, json_array_size(row), d);
        for (size_t j = 0; j < d; j++)
            if (scalar(json_array_get(row, j), &dst[j]))
                return bad_value(err, i, sc, j, json_array_get(row, j));
        return 0;
    }
    if (json_is_object(row)) {
        for (size_t j = 0; j < d; j++) {
            const json_t *v = json_object_get(row, sc->features[j]);
            if (!v)
                return ef_ml_errf(err, EF_EINVAL, "instance %zu has no feature '%s'", i,
                                  sc->features[j]);
            if (scalar(v, &dst[j])) return bad_value(err, i, sc, j, v);
        }
        if (json_object_size(row) != d) {
            const char *key;
            const json_t *v;
            json_object_foreach((json_t *)row, key, v) {
                if (find_feature(sc, key) < 0)
                    return ef_ml_errf(err, EF_EINVAL, "instance %zu: '%.60s' is not a feature "
                                      "of this model", i, key);
            }
        }
        return 0;
    }
    if (d == 1 && !scalar(row, &dst[0])) return 0;
    return ef_ml_errf(err, EF_EINVAL, "instance %zu must be an array of %zu feature values, got %s",
                      i, d, kind(row));
}

/* {"inputs": {"<feature>": [N values], ...}} */
static int parse_columns(const json_t *cols, const serve__schema *sc, ef_mat *X, ef_ml_err *err)
{
    size_t d = sc->n_features, n = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)cols, key, v) {
        if (find_feature(sc, key) < 0)
            return ef_ml_errf(err, EF_EINVAL, "inputs: '%.60s' is not a feature of this model",
                              key);
    }
    for (size_t j = 0; j < d; j++) {
        v = json_object_get(cols, sc->features[j]);
        if (!json_is_array(v))
            return ef_ml_errf(err, EF_EINVAL, "inputs: feature '%s' is missing (each feature "
                              "needs an array of values)", sc->features[j]);
        if (j == 0) n = json_array_size(v);
        if (json_array_size(v) != n)
            return ef_ml_errf(err, EF_EINVAL, "inputs: feature '%s' has %zu values but '%s' has "
                              "%zu", sc->features[j], json_array_size(v), sc->features[0], n);
    }
    if (n == 0) return ef_ml_errf(err, EF_EINVAL, "empty batch: send at least one row");
    int rc = ef_mat_init(X, n, d);
    if (rc) return ef_ml_errf(err, rc, "no memory for %zu x %zu inputs", n, d);
    for (size_t j = 0; j < d; j++) {
        v = json_object_get(cols, sc->features[j]);
        for (size_t i = 0; i < n; i++)
            if (scalar(json_array_get(v, i), &EF_MAT_AT(X, i, j)))
                return bad_value(err, i, sc, j, json_array_get(v, i));
    }
    return 0;
}

int serve__kserve_parse(const json_t *doc, const serve__schema *sc, ef_mat *X, ef_ml_err *err)
{
    int rc = 0;
    memset(X, 0, sizeof *X);
    const json_t *inst = json_object_get(doc, "instances"), *inputs = json_object_get(doc,
                                                                                      "inputs");
    if (!json_is_object(doc) || (!inst && !inputs)) {
        rc = ef_ml_errf(err, EF_EINVAL, "expected {\"instances\": [[...], ...]} or "
                        "{\"inputs\": ...}");
        goto out;
    }
    if (inst && inputs) {
        rc = ef_ml_errf(err, EF_EINVAL, "give either \"instances\" or \"inputs\", not both");
        goto out;
    }
    const json_t *rows = inst ? inst : inputs;
    if (!inst && json_is_object(inputs)) {
        rc = parse_columns(inputs, sc, X, err);
        goto out;
    }
    if (!json_is_array(rows)) {
        rc = ef_ml_errf(err, EF_EINVAL, "\"%s\" must be a list with one element per row",
                        inst ? "instances" : "inputs");
        goto out;
    }
    if (json_array_size(rows) == 0) {
        rc = ef_ml_errf(err, EF_EINVAL, "empty batch: \"%s\" has no rows",
                        inst ? "instances" : "inputs");
        goto out;
    }
    rc = ef_mat_init(X, json_array_size(rows), sc->n_features);
    if (rc) {
        rc = ef_ml_errf(err, rc, "no memory for %zu rows", json_array_size(rows));
        goto out;
    }
    for (size_t i = 0; i < X->rows && !rc; i++)
        rc = parse_row(json_array_get(rows, i), i, sc, X, err);
out:
    if (rc) ef_mat_release(X);
    return rc;
}

json_t *serve__kserve_reply(const ef_model *m, const double *pred, size_t n)
{
    json_t *preds = json_array();
    int bad = !preds;
    for (size_t i = 0; i < n && !bad; i++) bad |= json_array_append_new(preds, serve__pred_json(m,
                                                                                      pred[i]));
    json_t *doc = bad ? NULL : json_object();
    if (!doc || json_object_set_new(doc, "predictions", preds)) {
        if (!doc) json_decref(preds);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- routes -------------------------------------------------------------------------------- */

static int is_served(serve__ctx *s, const char *name)
{
    const char *names[256];
    size_t n = serve__model_names(s, names, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

static serve__version *acquire_or_reply(ef_http_req *r, serve__ctx *s, const char *name)
{
    serve__version *v = serve__acquire(s, name, NULL);
    serve__tag_reply(r, v);
    if (v) return v;
    if (is_served(s, name))
        ef_http_reply_error(r, 503, "Model with name %s is not ready.", name);
    else
        ef_http_reply_error(r, 404, "Model with name %s does not exist.", name);
    return NULL;
}

static void h_models(ef_http_req *r, void *ctx)
{
    const char *names[256];
    size_t n = serve__model_names(ctx, names, 256);
    json_t *list = json_array();
    for (size_t i = 0; i < n && i < 256 && list; i++)
        if (json_array_append_new(list, json_string(names[i]))) {
            json_decref(list);
            list = NULL;
        }
    ef_http_reply_json(r, 200, list ? json_pack("{s:o}", "models", list) : NULL);
}

static void h_model(ef_http_req *r, void *ctx)
{
    const char *name = ef_http_req_param(r, "model");
    serve__version *v = acquire_or_reply(r, ctx, name);
    if (!v) return;
    ef_http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", v->name, "ready", 1));
    serve__release(v);
}

static void h_predict(ef_http_req *r, void *ctx)
{
    serve__ctx *s = ctx;
    int64_t t0 = ef_mono_us();
    const char *seg = ef_http_req_param(r, "model"), *colon = strrchr(seg, ':');
    char name[256];
    ef_mat X = {0};
    serve__result res = {0};
    ef_ml_err err = {{0}};
    json_t *doc = NULL;
    serve__version *v = NULL;
    int status = 200;
    if (!colon || (strcmp(colon, ":predict") && strcmp(colon, ":explain"))) {
        ef_http_reply_error(r, 404, "unknown verb in '%s'; POST /v1/models/<name>:predict", seg);
        return;
    }
    if (!strcmp(colon, ":explain")) {
        ef_http_reply_error(r, 501, "explain is not supported; use :predict");
        return;
    }
    snprintf(name, sizeof name, "%.*s", (int)(colon - seg), seg);
    v = acquire_or_reply(r, s, name);
    if (!v) return;
    if (!(doc = serve__body_json(r, s, &status)))
        goto out;
    serve__schema sc;
    serve__schema_of(v->model, &sc);
    int rc = serve__kserve_parse(doc, &sc, &X, &err);
    if (!rc) rc = serve__predict(v, &X, 0, &res, &err);
    if (rc) {
        serve__fail(r, rc, &err, &status);
        goto out;
    }
    serve__reply(r, serve__kserve_reply(v->model, res.pred, X.rows), &status);
out:
    serve__observe(s, v, "kserve", status, (double)(ef_mono_us() - t0) / 1e6);
    serve__result_release(&res);
    ef_mat_release(&X);
    json_decref(doc);
    serve__release(v);
}

int serve__kserve_routes(serve__ctx *s, ef_http_server *http)
{
    int rc = ef_http_route(http, "GET", "/v1/models", h_models, s);
    if (!rc) rc = ef_http_route(http, "GET", "/v1/models/{model}", h_model, s);
    if (!rc) rc = ef_http_route(http, "POST", "/v1/models/{model}", h_predict, s);
    return rc;
}
