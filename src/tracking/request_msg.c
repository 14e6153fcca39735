/* request_msg.c - the tracking server's request messages and their typed fields (trk_int.h §3):
 * the message read from the query string (GET) or the JSON body (everything else) the way
 * MLflow's Flask handlers read it, and the field getters with MLflow's validation messages. The
 * replies, error codes and the Python-compatible JSON writer the messages quote values with are
 * in request.c.
 */
#include "tracking/trk_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"

#define HINT_DOCS " See the API docs for more information about request parameters."

/* --- §3 request messages ------------------------------------------------------------------- */

typedef struct query_ctx {
    json_t *msg;
    const char *bad_key; /* key whose key or value text was not UTF-8 */
} query_ctx;

static int query_add(void *ctx, const char *key, const char *value)
{
    query_ctx *q = ctx;
    size_t klen = strlen(key);
    int repeated = 0;
    if (klen >= 2 && key[klen - 2] == '[' && key[klen - 1] == ']') {
        klen -= 2; /* "key[]=": always an array (MLflow accepts this spelling too) */
        repeated = 1;
    }
    json_t *v = json_string(value);
    if (!v) {
        q->bad_key = key;
        return 1;
    }
    json_t *cur = json_object_getn(q->msg, key, klen);
    int rc = 0;
    if (cur && json_is_array(cur)) {
        rc = json_array_append_new(cur, v);
    } else if (cur || repeated) {
        json_t *arr = json_array();
        if (!arr || (cur && json_array_append(arr, cur) != 0) ||
            json_array_append_new(arr, v) != 0 ||
            json_object_setn_new(q->msg, key, klen, arr) != 0) {
            json_decref(arr);
            rc = -1;
        }
        v = NULL; /* consumed (or released with arr) */
    } else {
        rc = json_object_setn_new(q->msg, key, klen, v);
        v = NULL;
    }
    if (rc != 0) { /* jansson refuses keys that are not UTF-8 (or memory ran out) */
        q->bad_key = key;
        return 1;
    }
    return 0;
}

/* Copies a body in which Python's json.loads() accepted bare NaN / Infinity / -Infinity (which
 * jansson refuses) with those tokens quoted, so the getters see "NaN" etc. NULL if none. */
static char *quote_nonfinite(const char *s, size_t len)
{
    ef_buf b;
    ef_buf_init(&b);
    int in_str = 0, found = 0;
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (in_str) {
            if (c == '\\' && i + 1 < len) {
                if (ef_buf_append(&b, s + i, 2) != EF_OK) goto fail;
                i += 2;
                continue;
            }
            if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else {
            static const char *const toks[] = {"-Infinity", "Infinity", "NaN"};
            size_t t;
            for (t = 0; t < 3; t++) {
                size_t tl = strlen(toks[t]);
                if (len - i >= tl && memcmp(s + i, toks[t], tl) == 0) break;
            }
            if (t < 3) {
                size_t tl = strlen(toks[t]);
                if (ef_buf_appendf(&b, "\"%s\"", toks[t]) != EF_OK) goto fail;
                i += tl;
                found = 1;
                continue;
            }
        }
        if (ef_buf_appendc(&b, c) != EF_OK) goto fail;
        i++;
    }
    if (!found) goto fail;
    return ef_buf_take(&b, NULL);
fail:
    ef_buf_release(&b);
    return NULL;
}

/* The body as MLflow reads it: JSON (a JSON string holding JSON is decoded twice, as MLflow does
 * for old clients); anything that is not a JSON object counts as {}. */
static json_t *body_message(const char *body, size_t len)
{
    json_t *doc = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (!doc) {
        char *fixed = quote_nonfinite(body, len);
        if (fixed) {
            doc = json_loads(fixed, JSON_DECODE_ANY, NULL);
            free(fixed);
        }
    }
    if (doc && json_is_string(doc)) {
        json_t *inner = json_loadb(json_string_value(doc), json_string_length(doc), 0, NULL);
        json_decref(doc);
        doc = inner;
    }
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc ? doc : json_object();
}

json_t *trk__message(ef_http_req *r)
{
    trk_err e;
    const char *method = ef_http_req_method(r);
    size_t blen;
    const char *body = ef_http_req_body(r, &blen);
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int is_delete = strcmp(method, "DELETE") == 0;

    if (is_get || (is_delete && blen == 0)) {
        query_ctx q = {json_object(), NULL};
        if (!q.msg) goto oom;
        ef_http_req_query_each(r, query_add, &q);
        if (q.bad_key) {
            json_decref(q.msg);
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                      "Invalid query parameter '%s': not valid UTF-8", q.bad_key);
            goto reply;
        }
        if (json_object_size(q.msg) > 0) return q.msg;
        json_decref(q.msg);
    }

    /* MLflow checks the Content-Type of POST and PUT only (PATCH and DELETE bodies are parsed
     * whatever their type), compares the part before ';' exactly, and tells why in two texts */
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        const char *ct = ef_http_req_header(r, "Content-Type");
        if (!ct) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                      "Bad Request. Content-Type header is missing.");
            goto reply;
        }
        size_t mlen = strcspn(ct, ";");
        if (mlen != strlen("application/json") || memcmp(ct, "application/json", mlen) != 0) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                      "Bad Request. Content-Type must be one of ['application/json'].");
            goto reply;
        }
    }
    json_t *msg = body_message(body, blen);
    if (msg) return msg;
oom:
    trk__fail(&e, TRK_INTERNAL_ERROR, "Out of memory");
reply:
    trk__reply_error(r, &e);
    return NULL;
}

/* --- typed getters --------------------------------------------------------------------------- */

static const char *py_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "dict";
    case JSON_ARRAY:
        return "list";
    case JSON_STRING:
        return "str";
    case JSON_INTEGER:
        return "int";
    case JSON_REAL:
        return "float";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
        return "NoneType";
    }
    return "object";
}

static int missing(trk_err *e, const char *field)
{
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                     "Missing value for required parameter '%s'." HINT_DOCS, field);
}

/* MLflow's invalid_value() text: the value as json.dumps(sort_keys=True, separators=(",",":")). */
static int invalid(trk_err *e, const char *field, const json_t *v)
{
    ef_buf b;
    ef_buf_init(&b);
    if (trk__json_compact_sorted(&b, v) != EF_OK) {
        ef_buf_clear(&b);
        ef_buf_appends(&b, "...");
    }
    trk__fail(
        e, TRK_INVALID_PARAMETER_VALUE,
        "Invalid value %s for parameter '%s' supplied:  Hint: Value was of type '%s'." HINT_DOCS,
        b.data ? b.data : "", field, py_type(v));
    ef_buf_release(&b);
    return -1;
}

/* Looks the field up: NULL when absent or null (proto parsing ignores nulls). */
static const json_t *field_of(const json_t *msg, const char *field)
{
    const json_t *v = msg ? json_object_get(msg, field) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

int trk__str(const json_t *msg, const char *field, int required, const char **out, trk_err *e)
{
    const json_t *v = field_of(msg, field);
    if (!v) return required ? missing(e, field) : 1;
    if (!json_is_string(v)) return invalid(e, field, v);
    if (required && json_string_length(v) == 0) return missing(e, field);
    *out = json_string_value(v);
    return 0;
}

/* Python's int() on a proto int64 text: optional sign and whitespace, decimal digits. */
static int parse_int64(const char *s, int64_t *out)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    const char *p = s + (*s == '-' || *s == '+');
    if (*p < '0' || *p > '9') return -1;
    errno = 0;
    char *end;
    long long n = strtoll(s, &end, 10);
    if (errno) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (*end) return -1;
    *out = n;
    return 0;
}

int trk__int(const json_t *msg, const char *field, int required, int64_t *out, trk_err *e)
{
    const json_t *v = field_of(msg, field);
    if (!v) return required ? missing(e, field) : 1;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* 2^63 is exactly representable; anything below it fits */
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *out = (int64_t)d;
            return 0;
        }
        return invalid(e, field, v);
    }
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return required ? missing(e, field) : 1;
        if (strlen(json_string_value(v)) == json_string_length(v) &&
            parse_int64(json_string_value(v), out) == 0)
            return 0;
    }
    return invalid(e, field, v);
}

/* Python's float() on text: whitespace, sign, decimal or exponent form, nan, inf, infinity
 * (any case). strtod would also take hex floats and "nan(...)", which Python refuses. */
static int parse_double(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    const char *p = s + (*s == '-' || *s == '+');
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return -1;
    if (!*p || strchr(p, '(')) return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s) return -1;
    /* ERANGE: overflow gives +-inf and underflow 0 or a subnormal, as Python's float() does */
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (*end) return -1;
    *out = d;
    return 0;
}

int trk__double(const json_t *msg, const char *field, int required, double *out, trk_err *e)
{
    const json_t *v = field_of(msg, field);
    if (!v) return required ? missing(e, field) : 1;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return required ? missing(e, field) : 1;
        if (strlen(json_string_value(v)) == json_string_length(v) &&
            parse_double(json_string_value(v), out) == 0)
            return 0;
    }
    return invalid(e, field, v);
}

int trk__bool(const json_t *msg, const char *field, int required, int *out, trk_err *e)
{
    const json_t *v = field_of(msg, field);
    if (!v) return required ? missing(e, field) : 1;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) { /* query strings: protobuf accepts exactly these two */
        if (strcmp(json_string_value(v), "true") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(json_string_value(v), "false") == 0) {
            *out = 0;
            return 0;
        }
    }
    return invalid(e, field, v);
}

int trk__array(const json_t *msg, const char *field, int required, json_t **out, trk_err *e)
{
    json_t *v = (json_t *)field_of(msg, field);
    if (!v) return required ? missing(e, field) : 1;
    if (json_is_array(v)) {
        *out = v;
        return 0;
    }
    if (!json_is_string(v)) return invalid(e, field, v);
    /* a query-string key given once: wrap it in place so the result stays borrowed from msg
     * (messages are per request, so this touches nothing shared) */
    json_t *arr = json_array();
    if (!arr || json_array_append(arr, v) != 0 ||
        json_object_set_new((json_t *)msg, field, arr) != 0) {
        json_decref(arr);
        return trk__fail(e, TRK_INTERNAL_ERROR, "Out of memory");
    }
    *out = arr;
    return 0;
}

int trk__run_id(const json_t *msg, const char **out, trk_err *e)
{
    /* MLflow validates run_id, and reads run_uuid only when run_id is absent */
    if (!field_of(msg, "run_id") && field_of(msg, "run_uuid")) {
        const json_t *v = field_of(msg, "run_uuid");
        if (!json_is_string(v)) return invalid(e, "run_id", v);
        if (json_string_length(v) == 0) return missing(e, "run_id");
        *out = json_string_value(v);
        return 0;
    }
    return trk__str(msg, "run_id", 1, out, e);
}
