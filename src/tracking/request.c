/* request.c - the tracking server's MLflow error codes and replies (trk_int.h §1 and §3): error
 * replies, JSON replies built from jansson values or written as they are produced. The request
 * messages and their typed getters are in request_msg.c.
 *
 * MLflow's Flask handlers read a request message from the query string (GET) or from a JSON body
 * (everything else), validate fields with fixed messages, and answer with the response message
 * rendered by Python's json.dumps(..., indent=2): 2-space indent, ", " never at line ends,
 * ": " between key and value, non-ASCII escaped as \uXXXX (ensure_ascii), reals as repr().
 * Errors are json.dumps() on one line: {"error_code": "...", "message": "..."}. Clients compare
 * messages and some tools diff bodies, so this file reproduces those texts and that layout.
 *
 * Hand-written rather than jansson's json_dumps(JSON_INDENT(2)) because jansson differs from
 * Python in three visible ways: reals get 17 digits ("0.1" -> "0.10000000000000001"), non-ASCII
 * is written raw, and "[]"/"{}" layout; the real formatting is ef_json_format_double()'s.
 */
#include "tracking/trk_int.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#define PY_MAX_DEPTH 256 /* nesting the reply writer accepts (handlers build shallow documents) */

/* --- §1 error codes ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int status;
} codes[] = {
    [TRK_INVALID_PARAMETER_VALUE] = {"INVALID_PARAMETER_VALUE", 400},
    [TRK_BAD_REQUEST] = {"BAD_REQUEST", 400},
    [TRK_RESOURCE_ALREADY_EXISTS] = {"RESOURCE_ALREADY_EXISTS", 400},
    [TRK_UNAUTHENTICATED] = {"UNAUTHENTICATED", 401},
    [TRK_PERMISSION_DENIED] = {"PERMISSION_DENIED", 403},
    [TRK_ENDPOINT_NOT_FOUND] = {"ENDPOINT_NOT_FOUND", 404},
    [TRK_RESOURCE_DOES_NOT_EXIST] = {"RESOURCE_DOES_NOT_EXIST", 404},
    [TRK_INVALID_STATE] = {"INVALID_STATE", 500},
    [TRK_INTERNAL_ERROR] = {"INTERNAL_ERROR", 500},
    [TRK_NOT_IMPLEMENTED] = {"NOT_IMPLEMENTED", 501},
    [TRK_TEMPORARILY_UNAVAILABLE] = {"TEMPORARILY_UNAVAILABLE", 503},
};

const char *trk__code_name(trk_code c)
{
    if ((unsigned)c >= sizeof codes / sizeof codes[0] || !codes[c].name) return "INTERNAL_ERROR";
    return codes[c].name;
}

int trk__code_status(trk_code c)
{
    if ((unsigned)c >= sizeof codes / sizeof codes[0] || !codes[c].name) return 500;
    return codes[c].status;
}

int trk__fail(trk_err *e, trk_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    if (n < 0) {
        e->message[0] = '\0';
    } else if ((size_t)n >= sizeof e->message) {
        /* cut at a character boundary, not inside a UTF-8 sequence */
        size_t end = sizeof e->message - 1;
        while (end > 0 && ((unsigned char)e->message[end] & 0xC0) == 0x80)
            end--;
        e->message[end] = '\0';
    }
    e->code = code;
    return -1;
}

int trk__fail_db(trk_err *e, ef_sql *db, const char *what)
{
    EF_ERROR("tracking: %s: %s", what, db ? ef_sql_errmsg(db) : "no connection");
    return trk__fail(e, TRK_INTERNAL_ERROR, "Database error in %s", what);
}

/* --- Python-compatible JSON writer -------------------------------------------------------- */

typedef struct py_fmt {
    int indent;           /* > 0: pretty with that many spaces per level; 0: one line */
    const char *item_sep; /* "," (pretty, compact) or ", " (json.dumps default) */
    const char *key_sep;  /* ": " or ":" */
    int sort_keys;
} py_fmt;

static const py_fmt PY_PRETTY = {2, ",", ": ", 0};
static const py_fmt PY_COMPACT_SORTED = {0, ",", ":", 1};

static int py_u4(ef_buf *b, unsigned cp)
{
    static const char hex[] = "0123456789abcdef";
    char t[6] = "\\u";
    for (int i = 0; i < 4; i++)
        t[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
    return ef_buf_append(b, t, sizeof t);
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    unsigned c, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, c = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, c = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* A string as Python's json.dumps(ensure_ascii=True) writes it; invalid UTF-8 bytes (possible
 * in messages quoting request paths) become U+FFFD. */
static int py_string(ef_buf *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    if (ef_buf_reserve(b, len + 2) != EF_OK || ef_buf_appendc(b, '"') != EF_OK) return EF_ENOMEM;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i && ef_buf_append(b, s + i, run - i) != EF_OK) return EF_ENOMEM;
        i = run;
        if (i >= len) break;
        int rc;
        unsigned char c = s[i];
        if (c < 0x80) { /* '"', '\\' or a control character */
            static const char from[] = "\"\\\n\r\t\b\f", to[] = "\"\\nrtbf";
            const char *p = c ? strchr(from, c) : NULL;
            char esc[2] = {'\\', p ? to[p - from] : 0};
            rc = p ? ef_buf_append(b, esc, 2) : py_u4(b, c);
            i++;
        } else {
            unsigned cp;
            size_t n = utf8_decode(s + i, len - i, &cp);
            if (n == 0) {
                cp = 0xFFFD;
                n = 1;
            }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                rc = py_u4(b, 0xD800 | (cp >> 10));
                if (rc == EF_OK) rc = py_u4(b, 0xDC00 | (cp & 0x3FF));
            } else {
                rc = py_u4(b, cp);
            }
            i += n;
        }
        if (rc != EF_OK) return rc;
    }
    return ef_buf_appendc(b, '"');
}

static int py_newline(ef_buf *b, const py_fmt *f, int level)
{
    if (f->indent <= 0) return EF_OK;
    static const char spaces[] = "                                                                ";
    if (ef_buf_appendc(b, '\n') != EF_OK) return EF_ENOMEM;
    for (size_t n = (size_t)(f->indent * level); n > 0;) {
        size_t chunk = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        if (ef_buf_append(b, spaces, chunk) != EF_OK) return EF_ENOMEM;
        n -= chunk;
    }
    return EF_OK;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int py_value(ef_buf *b, const json_t *v, const py_fmt *f, int level);

static int py_object(ef_buf *b, const json_t *v, const py_fmt *f, int level)
{
    size_t n = json_object_size(v);
    if (n == 0) return ef_buf_append(b, "{}", 2);
    const char **keys = NULL;
    int rc = EF_ENOMEM;
    if (f->sort_keys) {
        keys = malloc(n * sizeof *keys);
        if (!keys) goto out;
        size_t i = 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, key_cmp);
    }
    if (ef_buf_appendc(b, '{') != EF_OK) goto out;
    size_t i = 0;
    const char *k;
    json_t *x;
    void *it = json_object_iter((json_t *)v);
    for (; i < n; i++) {
        if (keys) {
            k = keys[i];
            x = json_object_get(v, k);
        } else {
            k = json_object_iter_key(it);
            x = json_object_iter_value(it);
            it = json_object_iter_next((json_t *)v, it);
        }
        if (i > 0 && ef_buf_appends(b, f->item_sep) != EF_OK) goto out;
        if (py_newline(b, f, level + 1) != EF_OK) goto out;
        if (py_string(b, k, strlen(k)) != EF_OK) goto out;
        if (ef_buf_appends(b, f->key_sep) != EF_OK) goto out;
        rc = py_value(b, x, f, level + 1);
        if (rc != EF_OK) goto out;
        rc = EF_ENOMEM;
    }
    if (py_newline(b, f, level) != EF_OK || ef_buf_appendc(b, '}') != EF_OK) goto out;
    rc = EF_OK;
out:
    free(keys);
    return rc;
}

static int py_value(ef_buf *b, const json_t *v, const py_fmt *f, int level)
{
    if (level > PY_MAX_DEPTH) return EF_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return py_object(b, v, f, level);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) return ef_buf_append(b, "[]", 2);
        if (ef_buf_appendc(b, '[') != EF_OK) return EF_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && ef_buf_appends(b, f->item_sep) != EF_OK) return EF_ENOMEM;
            if (py_newline(b, f, level + 1) != EF_OK) return EF_ENOMEM;
            int rc = py_value(b, json_array_get(v, i), f, level + 1);
            if (rc != EF_OK) return rc;
        }
        if (py_newline(b, f, level) != EF_OK) return EF_ENOMEM;
        return ef_buf_appendc(b, ']');
    }
    case JSON_STRING:
        return py_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return ef_buf_appendf(b, "%" PRId64, (int64_t)json_integer_value(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        if (isnan(d)) return ef_buf_appends(b, "NaN");
        if (isinf(d)) return ef_buf_appends(b, d > 0 ? "Infinity" : "-Infinity");
        char t[EF_JSON_DOUBLE_MAX];
        int n = ef_json_format_double(d, t, sizeof t);
        return n < 0 ? n : ef_buf_append(b, t, (size_t)n);
    }
    case JSON_TRUE:
        return ef_buf_appends(b, "true");
    case JSON_FALSE:
        return ef_buf_appends(b, "false");
    case JSON_NULL:
        return ef_buf_appends(b, "null");
    }
    return EF_EINVAL;
}

/* MLflow's invalid_value() rendering of v: json.dumps(sort_keys=True, separators=(",", ":")). */
int trk__json_compact_sorted(ef_buf *b, const json_t *v)
{
    return py_value(b, v, &PY_COMPACT_SORTED, 0);
}

/* --- §3 replies ---------------------------------------------------------------------------- */

void trk__reply_error(ef_http_req *r, const trk_err *e)
{
    ef_buf b;
    ef_buf_init(&b);
    const char *name = trk__code_name(e->code);
    int rc = ef_buf_appends(&b, "{\"error_code\": ");
    if (rc == EF_OK) rc = py_string(&b, name, strlen(name));
    if (rc == EF_OK) rc = ef_buf_appends(&b, ", \"message\": ");
    if (rc == EF_OK) rc = py_string(&b, e->message, strnlen(e->message, sizeof e->message));
    if (rc == EF_OK) rc = ef_buf_appendc(&b, '}');
    if (rc != EF_OK) {
        ef_buf_release(&b);
        ef_http_reply_error(r, 500, "out of memory");
        return;
    }
    size_t len;
    char *text = ef_buf_take(&b, &len);
    if (!text) {
        ef_buf_release(&b);
        ef_http_reply_error(r, 500, "out of memory");
        return;
    }
    ef_http_reply_take(r, trk__code_status(e->code), "application/json", text, len);
}

void trk__reply(ef_http_req *r, json_t *doc)
{
    ef_buf b;
    ef_buf_init(&b);
    int rc = doc ? py_value(&b, doc, &PY_PRETTY, 0) : EF_ENOMEM;
    json_decref(doc);
    size_t len = 0;
    char *text = rc == EF_OK ? ef_buf_take(&b, &len) : NULL;
    ef_buf_release(&b);
    if (!text) {
        trk_err e;
        trk__fail(&e, TRK_INTERNAL_ERROR, "Cannot render the response (%s)",
                  ef_strerror(rc == EF_OK ? EF_ENOMEM : rc));
        trk__reply_error(r, &e);
        return;
    }
    ef_http_reply_take(r, 200, "application/json", text, len);
}

json_t *trk__metric_value(double v, int is_nan)
{
    if (is_nan || isnan(v)) return json_string("NaN");
    /* MLflow's SQL store clamps infinities to the largest finite double */
    if (isinf(v)) return json_real(v > 0 ? DBL_MAX : -DBL_MAX);
    return json_real(v);
}

/* --- §3b replies written as they are produced ---------------------------------------------- */

void trk__jw_init(trk_jw *w)
{
    memset(w, 0, sizeof *w); /* an empty ef_buf is all zeros too (ef_buf_init) */
    ef_buf_init(&w->b);
}

void trk__jw_release(trk_jw *w)
{
    ef_buf_release(&w->b);
    w->depth = 0;
}

/* Separator, newline + indent and "key": before a member; 0 or sets w->err. */
static int jw_member(trk_jw *w, const char *key)
{
    if (w->err) return -1;
    if (w->depth > 0) {
        int rc = w->items[w->depth - 1] ? ef_buf_appendc(&w->b, ',') : EF_OK;
        w->items[w->depth - 1] = 1;
        if (rc == EF_OK) rc = py_newline(&w->b, &PY_PRETTY, w->depth);
        if (rc == EF_OK && key) rc = py_string(&w->b, key, strlen(key));
        if (rc == EF_OK && key) rc = ef_buf_append(&w->b, ": ", 2);
        if (rc != EF_OK) {
            w->err = rc;
            return -1;
        }
    }
    return 0;
}

static void jw_done(trk_jw *w, int rc)
{
    if (rc != EF_OK && !w->err) w->err = rc;
}

void trk__jw_open(trk_jw *w, const char *key, char bracket)
{
    if (jw_member(w, key) != 0) return;
    if (w->depth >= TRK_JW_MAX_DEPTH) {
        jw_done(w, EF_EINVAL);
        return;
    }
    w->close[w->depth] = bracket == '[' ? ']' : '}';
    w->items[w->depth++] = 0;
    jw_done(w, ef_buf_appendc(&w->b, bracket == '[' ? '[' : '{'));
}

void trk__jw_close(trk_jw *w)
{
    if (w->err || w->depth == 0) {
        jw_done(w, EF_EINVAL);
        return;
    }
    w->depth--;
    int rc = w->items[w->depth] ? py_newline(&w->b, &PY_PRETTY, w->depth) : EF_OK;
    if (rc == EF_OK) rc = ef_buf_appendc(&w->b, w->close[w->depth]);
    jw_done(w, rc);
}

void trk__jw_str(trk_jw *w, const char *key, const char *s, size_t len)
{
    if (jw_member(w, key) == 0) jw_done(w, py_string(&w->b, s ? s : "", s ? len : 0));
}

void trk__jw_int(trk_jw *w, const char *key, int64_t v)
{
    char t[24], *p = t + sizeof t;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    if (jw_member(w, key) != 0) return;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    jw_done(w, ef_buf_append(&w->b, p, (size_t)(t + sizeof t - p)));
}

void trk__jw_metric_value(trk_jw *w, const char *key, double v, int is_nan)
{
    char t[EF_JSON_DOUBLE_MAX];
    int n;
    if (jw_member(w, key) != 0) return;
    if (is_nan || isnan(v)) {
        jw_done(w, ef_buf_append(&w->b, "\"NaN\"", 5));
        return;
    }
    if (isinf(v)) v = v > 0 ? DBL_MAX : -DBL_MAX;
    n = ef_json_format_double(v, t, sizeof t);
    jw_done(w, n < 0 ? n : ef_buf_append(&w->b, t, (size_t)n));
}

void trk__reply_jw(ef_http_req *r, trk_jw *w)
{
    size_t len = 0;
    char *text = NULL;
    if (!w->err && w->depth != 0) w->err = EF_EINVAL;
    if (!w->err) text = ef_buf_take(&w->b, &len);
    trk__jw_release(w);
    if (!text) {
        trk_err e;
        trk__fail(&e, TRK_INTERNAL_ERROR, "Cannot render the response (%s)",
                  ef_strerror(w->err ? w->err : EF_ENOMEM));
        trk__reply_error(r, &e);
        return;
    }
    ef_http_reply_take(r, 200, "application/json", text, len);
}
