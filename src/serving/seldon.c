/* seldon.c - Seldon Core v1 prediction protocol (/work/shared/specs/seldon-v1.md): the request
 * parser (data.ndarray | data.tensor [+ data.names] | jsonData -> a matrix in the model's feature
 * order), the reply writer (mirrors the request's form: ndarray in -> ndarray out, tensor or
 * jsonData in -> tensor out unless the output is text; data.names are output names: [] for one
 * value per row, the class labels for probabilities), the wrapper's error shape
 *   {"status":{"code":-1,"info":"...","reason":"MICROSERVICE_BAD_DATA","status":1}}
 * and the routes: /api/v{1.0,0.1}/predictions and /feedback, the wrapper's /predict and
 * /send-feedback, the ingress form /seldon/<namespace>/<model>/api/v1.0/..., /api/v1.0/metadata.
 *
 * Input rules: every value a finite JSON number (null, strings, bools are 400 naming the row and
 * column); rows all of the model's feature count; data.names, when they contain every feature of
 * the model, select and order the columns by name (otherwise the columns are positional, as
 * MLFLOW_SERVER's default xtype=ndarray does); jsonData is an object of columns
 * ({"feature": [v, ...] | v}), an array of records ([{"feature": v}, ...]) or rows.
 * Probabilities: meta.tags.predict_proba = true, or ?method=predict_proba (SKLEARN_SERVER's
 * parameter name).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"

/* ---- parsing -------------------------------------------------------------------------------- */

static int bad(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return EF_EINVAL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "a number";
    }
}

/* One cell: a finite JSON number. */
static int cell(const json_t *v, size_t i, size_t j, double *out, char *msg, size_t len)
{
    if (!v || json_is_null(v))
        return bad(msg, len, "missing value (null or NaN) at row %zu, column %zu", i, j);
    if (!json_is_number(v))
        return bad(msg, len, "non-numeric value at row %zu, column %zu: %s", i, j, type_name(v));
    double x = json_number_value(v);
    if (!isfinite(x))
        return bad(msg, len, "value at row %zu, column %zu is not finite", i, j);
    *out = x;
    return EF_OK;
}

/* map[j]: the input column holding feature j. Positional unless names cover every feature. */
static int column_map(const json_t *names, size_t cols, char *const *features, size_t nf,
                      size_t *map, char *msg, size_t len)
{
    int by_name = json_is_array(names) && json_array_size(names) == cols && cols > 0;
    for (size_t j = 0; by_name && j < nf; j++) {
        by_name = 0;
        for (size_t c = 0; c < cols; c++) {
            const char *n = json_string_value(json_array_get(names, c));
            if (n && !strcmp(n, features[j])) {
                map[j] = c;
                by_name = 1;
                break;
            }
        }
    }
    if (by_name)
        return EF_OK;
    if (cols != nf)
        return bad(msg, len, "the model expects %zu features per row, the input has %zu", nf,
                   cols);
    for (size_t j = 0; j < nf; j++)
        map[j] = j;
    return EF_OK;
}

/* Rows as a nested array ([[..], ..]) or one row ([..]). */
static int from_rows(const json_t *a, const json_t *names, char *const *features, size_t nf,
                     ef_mat *X, char *msg, size_t len)
{
    size_t n = json_array_size(a);
    if (n == 0)
        return bad(msg, len, "empty batch: no rows to predict");
    int flat = !json_is_array(json_array_get(a, 0));
    size_t rows = flat ? 1 : n, cols = flat ? n : json_array_size(json_array_get(a, 0));
    for (size_t i = 0; !flat && i < rows; i++) {
        const json_t *r = json_array_get(a, i);
        if (!json_is_array(r))
            return bad(msg, len, "row %zu is %s, not an array of numbers", i, type_name(r));
        if (json_array_size(r) != cols)
            return bad(msg, len, "row %zu has %zu values, row 0 has %zu", i, json_array_size(r),
                       cols);
    }
    size_t *map = malloc((nf ? nf : 1) * sizeof *map);
    if (!map)
        return EF_ENOMEM;
    int rc = column_map(names, cols, features, nf, map, msg, len);
    if (!rc && ef_mat_init(X, rows, nf))
        rc = EF_ENOMEM;
    for (size_t i = 0; !rc && i < rows; i++) {
        const json_t *r = flat ? a : json_array_get(a, i);
        for (size_t j = 0; !rc && j < nf; j++)
            rc = cell(json_array_get(r, map[j]), i, map[j], &EF_MAT_AT(X, i, j), msg, len);
    }
    free(map);
    return rc;
}

static int from_tensor(const json_t *t, const json_t *names, char *const *features, size_t nf,
                       ef_mat *X, char *msg, size_t len)
{
    const json_t *shape = json_object_get(t, "shape"), *values = json_object_get(t, "values");
    if (!json_is_object(t) || !json_is_array(shape) || !json_is_array(values))
        return bad(msg, len, "data.tensor needs \"shape\" (array of integers) and \"values\" "
                   "(array of numbers)");
    size_t dims = json_array_size(shape), rows = 1, cols = 1;
    if (dims < 1 || dims > 2)
        return bad(msg, len, "data.tensor.shape must have 1 or 2 dimensions, it has %zu", dims);
    for (size_t k = 0; k < dims; k++) {
        const json_t *d = json_array_get(shape, k);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > (json_int_t)1 << 30)
            return bad(msg, len, "data.tensor.shape[%zu] is not a valid size", k);
    }
    if (dims == 2)
        rows = (size_t)json_integer_value(json_array_get(shape, 0));
    cols = (size_t)json_integer_value(json_array_get(shape, dims - 1));
    if (rows == 0 || cols == 0)
        return bad(msg, len, "empty batch: data.tensor.shape has a zero dimension");
    if (rows > json_array_size(values) || cols > json_array_size(values) ||
        rows * cols != json_array_size(values))
        return bad(msg, len, "data.tensor has %zu values, its shape says %zu x %zu",
                   json_array_size(values), rows, cols);
    size_t *map = malloc((nf ? nf : 1) * sizeof *map);
    if (!map)
        return EF_ENOMEM;
    int rc = column_map(names, cols, features, nf, map, msg, len);
    if (!rc && ef_mat_init(X, rows, nf))
        rc = EF_ENOMEM;
    for (size_t i = 0; !rc && i < rows; i++)
        for (size_t j = 0; !rc && j < nf; j++)
            rc = cell(json_array_get(values, i * cols + map[j]), i, map[j], &EF_MAT_AT(X, i, j),
                      msg, len);
    free(map);
    return rc;
}

/* jsonData: {"feature": [..] | v, ...}, [{"feature": v, ...}, ...] or rows. */
static int from_json_data(const json_t *d, char *const *features, size_t nf, ef_mat *X, char *msg,
                          size_t len)
{
    if (json_is_array(d) && json_is_object(json_array_get(d, 0))) {
        size_t rows = json_array_size(d);
        int rc = ef_mat_init(X, rows, nf) ? EF_ENOMEM : EF_OK;
        for (size_t i = 0; !rc && i < rows; i++) {
            const json_t *rec = json_array_get(d, i);
            if (!json_is_object(rec))
                return bad(msg, len, "jsonData[%zu] is %s, not a record", i, type_name(rec));
            for (size_t j = 0; !rc && j < nf; j++) {
                const json_t *v = json_object_get(rec, features[j]);
                if (!v)
                    return bad(msg, len, "jsonData[%zu] has no feature '%s'", i, features[j]);
                rc = cell(v, i, j, &EF_MAT_AT(X, i, j), msg, len);
            }
        }
        return rc;
    }
    if (json_is_array(d))
        return from_rows(d, NULL, features, nf, X, msg, len);
    if (!json_is_object(d))
        return bad(msg, len, "jsonData must be an object of columns, an array of records or "
                   "an array of rows; it is %s", type_name(d));
    size_t rows = 0;
    for (size_t j = 0; j < nf; j++) {
        const json_t *c = json_object_get(d, features[j]);
        if (!c)
            return bad(msg, len, "jsonData has no column '%s' (the model's features are "
                       "'%s'...'%s')", features[j], features[0], features[nf - 1]);
        size_t n = json_is_array(c) ? json_array_size(c) : 1;
        if (j > 0 && n != rows)
            return bad(msg, len, "jsonData column '%s' has %zu values, '%s' has %zu",
                       features[j], n, features[0], rows);
        rows = n;
    }
    if (rows == 0)
        return bad(msg, len, "empty batch: no rows to predict");
    int rc = ef_mat_init(X, rows, nf) ? EF_ENOMEM : EF_OK;
    for (size_t j = 0; !rc && j < nf; j++) {
        const json_t *c = json_object_get(d, features[j]);
        for (size_t i = 0; !rc && i < rows; i++)
            rc = cell(json_is_array(c) ? json_array_get(c, i) : c, i, j, &EF_MAT_AT(X, i, j), msg,
                      len);
    }
    return rc;
}

static int parse_meta(const json_t *doc, const char *query_method, serve__seldon_req *out,
                      char *msg, size_t len)
{
    const json_t *m = json_object_get(doc, "meta");
    if (m && !json_is_object(m) && !json_is_null(m))
        return bad(msg, len, "meta must be an object");
    if (!(out->meta = json_object()))
        return EF_ENOMEM;
    const json_t *puid = json_object_get(m, "puid"), *tags = json_object_get(m, "tags");
    if (json_is_string(puid) && json_object_set(out->meta, "puid", (json_t *)puid))
        return EF_ENOMEM;
    if (tags && !json_is_object(tags))
        return bad(msg, len, "meta.tags must be an object");
    if (tags && json_object_set_new(out->meta, "tags", json_deep_copy(tags)))
        return EF_ENOMEM;
    out->want_proba = json_is_true(json_object_get(tags, "predict_proba"));
    if (query_method && !strcmp(query_method, "predict_proba"))
        out->want_proba = 1;
    else if (query_method && strcmp(query_method, "predict"))
        return bad(msg, len, "method=%s is not known; use predict or predict_proba",
                   query_method);
    return EF_OK;
}

int serve__seldon_parse(const char *body, size_t len, const char *query_method,
                        char *const *features, size_t n_features, serve__seldon_req *out,
                        char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    int rc = EF_OK;
    if (!doc || !json_is_object(doc)) {
        rc = doc ? bad(msg, msglen, "Can't find JSON in data: the body must be a JSON object")
                 : bad(msg, msglen, "Can't find JSON in data: %s (line %d, column %d)", je.text,
                       je.line, je.column);
        goto out;
    }
    if ((rc = parse_meta(doc, query_method, out, msg, msglen)))
        goto out;
    static const char *const kinds[] = {"data", "jsonData", "strData", "binData"};
    int n = 0;
    for (size_t k = 0; k < 4; k++)
        n += json_object_get(doc, kinds[k]) != NULL;
    if (n != 1) {
        rc = bad(msg, msglen, n ? "only one of data, jsonData, strData, binData may be given"
                                : "no input: send data.ndarray, data.tensor or jsonData");
        goto out;
    }
    const json_t *data = json_object_get(doc, "data"), *jd = json_object_get(doc, "jsonData");
    if (jd) {
        out->form = SERVE__SELDON_JSONDATA;
        rc = from_json_data(jd, features, n_features, &out->X, msg, msglen);
    } else if (!data) {
        rc = bad(msg, msglen, "strData and binData are not supported by tabular models; send "
                 "data.ndarray, data.tensor or jsonData");
    } else if (!json_is_object(data)) {
        rc = bad(msg, msglen, "data must be an object with ndarray or tensor");
    } else {
        const json_t *names = json_object_get(data, "names");
        const json_t *nd = json_object_get(data, "ndarray"), *t = json_object_get(data, "tensor");
        if (names && !json_is_array(names)) {
            rc = bad(msg, msglen, "data.names must be an array of strings");
        } else if (nd && t) {
            rc = bad(msg, msglen, "data holds both ndarray and tensor; send one");
        } else if (json_is_array(nd)) {
            out->form = SERVE__SELDON_NDARRAY;
            rc = from_rows(nd, names, features, n_features, &out->X, msg, msglen);
        } else if (t) {
            out->form = SERVE__SELDON_TENSOR;
            rc = from_tensor(t, names, features, n_features, &out->X, msg, msglen);
        } else {
            rc = bad(msg, msglen, nd ? "data.ndarray must be an array of rows"
                                     : "data has neither ndarray nor tensor (tftensor is not "
                                       "supported)");
        }
    }
out:
    json_decref(doc);
    if (rc == EF_ENOMEM)
        snprintf(msg, msglen, "out of memory");
    return rc;
}

void serve__seldon_req_release(serve__seldon_req *r)
{
    ef_mat_release(&r->X);
    json_decref(r->meta);
    r->meta = NULL;
}

/* ---- replies -------------------------------------------------------------------------------- */

static json_t *num(double x)
{
    json_t *v = json_real(x);
    return v ? v : json_null();
}

/* One prediction as JSON: the class name for text labels, an integer for an integral class, a
 * real for regressors. */
static json_t *label_json(const ef_model *m, double y)
{
    if (m->class_names) {
        char buf[256];
        return json_string(ef_model_label(m, y, buf, sizeof buf));
    }
    if (m->est->type->task == EF_ML_CLASSIFIER && y == floor(y) && fabs(y) < 1e15)
        return json_integer((json_int_t)y);
    return num(y);
}

/* The data part of the reply (see the top of the file). NULL on ENOMEM. */
static json_t *reply_data(int form, const ef_model *m, const serve__result *res, size_t n)
{
    json_t *names = json_array(), *data = json_object(), *vals = json_array();
    int tensor = form != SERVE__SELDON_NDARRAY;
    if (!names || !data || !vals)
        goto fail;
    if (res->proba.rows) {
        const ef_mat *p = &res->proba;
        char buf[256];
        for (size_t k = 0; k < p->cols; k++)
            json_array_append_new(
                names, json_string(ef_model_label(m, m->est->classes[k], buf, sizeof buf)));
        for (size_t i = 0; i < p->rows; i++) {
            json_t *row = tensor ? vals : json_array();
            for (size_t k = 0; row && k < p->cols; k++)
                json_array_append_new(row, num(EF_MAT_AT(p, i, k)));
            if (!tensor)
                json_array_append_new(vals, row);
        }
    } else {
        if (m->class_names)
            tensor = 0; /* text output: ndarray whatever the input was */
        for (size_t i = 0; i < n; i++)
            json_array_append_new(vals, label_json(m, res->pred[i]));
    }
    json_object_set_new(data, "names", names);
    names = NULL;
    if (tensor) {
        json_t *shape = res->proba.rows ? json_pack("[I,I]", (json_int_t)res->proba.rows,
                                                    (json_int_t)res->proba.cols)
                                        : json_pack("[I]", (json_int_t)n);
        if (json_object_set_new(data, "tensor", json_pack("{s:o*,s:o}", "shape", shape,
                                                          "values", vals)))
            goto fail_vals_gone;
    } else if (json_object_set_new(data, "ndarray", vals)) {
        goto fail_vals_gone;
    }
    return data;
fail:
    json_decref(vals);
fail_vals_gone:
    json_decref(names);
    json_decref(data);
    return NULL;
}

/* The wrapper's error shape (spec section 4). */
static void seldon_error(ef_http_req *r, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void seldon_error(ef_http_req *r, int status, const char *reason, const char *fmt, ...)
{
    char info[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info, sizeof info, fmt, ap);
    va_end(ap);
    ef_http_reply_json(r, status, json_pack("{s:{s:i,s:s,s:s,s:i}}", "status", "code", -1, "info",
                                            info, "reason", reason, "status", 1));
}

static void cors(ef_http_req *r)
{
    ef_http_add_header(r, "Access-Control-Allow-Origin", "*");
}

/* The model a route names (/seldon/<ns>/<model>/...), else the first one. Replies 404/503 in
 * Seldon's shape and returns NULL when there is none. */
static serve__version *route_model(serve__ctx *s, ef_http_req *r, int *status)
{
    const char *name = ef_http_req_param(r, "model");
    serve__version *v = serve__acquire(s, name, NULL);
    serve__tag_reply(r, v);
    if (v)
        return v;
    const char *names[16];
    size_t n = serve__model_names(s, names, 16);
    int known = 0;
    for (size_t i = 0; name && i < n && i < 16; i++)
        known |= !strcmp(names[i], name);
    if (name && !known) {
        char list[512] = "";
        for (size_t i = 0; i < n && i < 16; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     names[i]);
        *status = 404;
        seldon_error(r, 404, "MICROSERVICE_BAD_DATA", "no model named '%s'; served models: %s",
                     name, list);
    } else {
        *status = 503;
        seldon_error(r, 503, "MICROSERVICE_INTERNAL_ERROR", "Model not loaded yet");
    }
    return NULL;
}

static void h_predict(ef_http_req *r, void *ctx)
{
    serve__ctx *s = ctx;
    int64_t t0 = ef_mono_us();
    int status = 200;
    char msg[512];
    size_t len;
    serve__seldon_req q = {0};
    serve__result res = {0};
    ef_ml_err err = {{0}};
    cors(r);
    serve__version *v = route_model(s, r, &status);
    if (!v)
        goto out;
    const char *body = ef_http_req_body(r, &len);
    if (len > serve__max_body(s)) {
        status = 413;
        seldon_error(r, status, "MICROSERVICE_BAD_DATA", "request body larger than %zu bytes",
                     serve__max_body(s));
        goto out;
    }
    const ef_model *m = v->model;
    int rc = serve__seldon_parse(body, len, ef_http_req_query(r, "method"), m->feature_names,
                                 m->est->n_features, &q, msg, sizeof msg);
    if (!rc && (rc = serve__predict(v, &q.X, q.want_proba, &res, &err)))
        snprintf(msg, sizeof msg, "%s", err.msg);
    if (rc) {
        status = rc == EF_EINVAL ? 400 : 500;
        seldon_error(r, status, status == 400 ? "MICROSERVICE_BAD_DATA"
                                              : "MICROSERVICE_INTERNAL_ERROR", "%s", msg);
        goto out;
    }
    json_t *data = reply_data(q.form, m, &res, q.X.rows);
    if (data && *v->version) {
        /* which version answered (hot swap, canary): Seldon's {"<container>": "<image>"} */
        char path[300];
        snprintf(path, sizeof path, "%s:%s", v->name, v->version);
        json_object_set_new(q.meta, "requestPath", json_pack("{s:s}", v->name, path));
    }
    json_t *doc = data ? json_pack("{s:o,s:O}", "data", data, "meta", q.meta) : NULL;
    if (!doc) {
        status = 500;
        seldon_error(r, status, "MICROSERVICE_INTERNAL_ERROR", "out of memory");
        goto out;
    }
    ef_http_reply_json(r, 200, doc);
out:
    serve__observe(s, v, "seldon", status, (double)(ef_mono_us() - t0) / 1e6);
    serve__result_release(&res);
    serve__seldon_req_release(&q);
    serve__release(v);
}

/* Feedback is accepted and counted (no model here learns online): the wrapper's reply. */
static void h_feedback(ef_http_req *r, void *ctx)
{
    serve__ctx *s = ctx;
    size_t len;
    cors(r);
    int status;
    serve__version *v = route_model(s, r, &status);
    if (!v)
        return;
    const char *body = ef_http_req_body(r, &len);
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (!json_is_object(doc)) {
        seldon_error(r, 400, "MICROSERVICE_BAD_DATA", "Can't find JSON in data: %s",
                     doc ? "the body must be a JSON object" : je.text);
    } else {
        ef_metrics *mx = serve__metrics(s);
        ef_buf l = {0};
        int brc = ef_metrics_labels(&l, "model", v->name, "version", v->version, NULL);
        ef_counter *c = mx && !brc ? ef_metrics_counter(mx, "edgeflow_serve_feedback_total",
                                                        "Seldon feedback messages received",
                                                        l.data)
                                   : NULL;
        if (c)
            ef_counter_add(c, 1);
        const json_t *reward = json_object_get(doc, "reward");
        ef_gauge *g = c && json_is_number(reward) ?
                      ef_metrics_gauge(mx, "edgeflow_serve_feedback_reward_sum",
                                       "sum of the rewards in Seldon feedback", l.data) : NULL;
        if (g)
            ef_gauge_add(g, json_number_value(reward));
        ef_buf_release(&l);
        ef_http_reply_json(r, 200, json_pack("{s:{s:[]},s:{}}", "data", "ndarray", "meta"));
    }
    json_decref(doc);
    serve__release(v);
}

/* GET /api/v1.0/metadata: the wrapper's metadata document for the model. */
static void h_metadata(ef_http_req *r, void *ctx)
{
    cors(r);
    int status;
    serve__version *v = route_model(ctx, r, &status);
    if (!v)
        return;
    json_t *names = json_array();
    for (size_t j = 0; names && j < v->model->est->n_features; j++)
        json_array_append_new(names, json_string(v->model->feature_names[j]));
    ef_http_reply_json(r, 200, json_pack("{s:s,s:[s],s:s,s:[{s:s,s:{s:o*}}],s:[{s:s}],s:{}}",
                                         "name", v->name, "versions", v->version, "platform",
                                         "edgeflow", "inputs", "messagetype", "ndarray", "schema",
                                         "names", names, "outputs", "messagetype", "ndarray",
                                         "custom"));
    serve__release(v);
}

static void h_options(ef_http_req *r, void *ctx)
{
    (void)ctx;
    cors(r);
    ef_http_add_header(r, "Access-Control-Allow-Methods", "GET, OPTIONS, POST");
    ef_http_add_header(r, "Access-Control-Allow-Headers", "Content-Type");
    ef_http_reply(r, 200, "text/plain", "", 0);
}

int serve__seldon_routes(serve__ctx *s, ef_http_server *http)
{
    static const char *const prefixes[] = {"", "/seldon/{namespace}/{model}"};
    static const char *const versions[] = {"v1.0", "v0.1"};
    char p[128];
    int rc = EF_OK;
    for (size_t i = 0; !rc && i < 2; i++) {
        for (size_t k = 0; !rc && k < 2; k++) {
            snprintf(p, sizeof p, "%s/api/%s/predictions", prefixes[i], versions[k]);
            rc = ef_http_route(http, "POST", p, h_predict, s);
            rc = rc ? rc : ef_http_route(http, "OPTIONS", p, h_options, s);
            snprintf(p, sizeof p, "%s/api/%s/feedback", prefixes[i], versions[k]);
            rc = rc ? rc : ef_http_route(http, "POST", p, h_feedback, s);
            rc = rc ? rc : ef_http_route(http, "OPTIONS", p, h_options, s);
        }
        snprintf(p, sizeof p, "%s/api/v1.0/metadata", prefixes[i]);
        rc = rc ? rc : ef_http_route(http, "GET", p, h_metadata, s);
    }
    rc = rc ? rc : ef_http_route(http, "POST", "/predict", h_predict, s);
    rc = rc ? rc : ef_http_route(http, "POST", "/send-feedback", h_feedback, s);
    rc = rc ? rc : ef_http_route(http, "GET", "/metadata", h_metadata, s);
    return rc;
}
