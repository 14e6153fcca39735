/* transform_value.c - the value rules of the transform module: how value text becomes a JSON scalar
 * and how `cast` converts between long, double, string and bool.
 *
 * Hand-written rather than calling json_loads() per value because the pipeline runs for every
 * reading (tens of thousands per second): json_loads() would allocate a parser and a lexer buffer
 * each time, and we need the "else treat it as a plain string" fallback, which jansson has no
 * notion of. The rules mirror what jansson accepts, so "valid JSON" means the same thing
 * everywhere:
 *   - JSON whitespace around the text is ignored for the recognition only;
 *   - integers outside int64 and reals that overflow are not valid (jansson refuses them too);
 *   - strings must be well-formed UTF-8 without \u0000.
 *
 * Cast rules (null stays null for every cast, like Jolt's modify operations):
 *   long   integer as is; finite real truncated toward zero if within int64; numeric string
 *          (" 42 ", "1.7e3", "+5", ".5") parsed, fraction truncated; true/false -> 1/0.
 *   double integer, real, numeric string, true/false -> 1.0/0.0.
 *   string integer -> digits; real -> shortest round-trip text as Python's repr prints it
 *          (ef_json_format_double: "0.1", "1.0", "1e+20", "1.5e-07", "1000000000000000.0");
 *          true/false -> "true"/"false"; string as is.
 *   bool   true/false; 0/1 (integer or real); "true"/"false"/"yes"/"no"/"1"/"0" (any case,
 *          surrounding spaces ignored).
 * Objects and arrays cannot be cast; "nan", "inf", hex and numbers beyond the target range fail.
 */
#include "transform/transform_int.h"
#include "base/err.h"
#include "json/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest numeric string a cast reads (leading zeros and long fractions included). */
#define NUMERIC_MAX 400

int transform__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *e = p + len;
    while (p < e) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(e - p) <= n) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
        if (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

static int hex4(const char *s, size_t avail, uint32_t *out)
{
    uint32_t v = 0;
    if (avail < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* One pass of JSON string unescaping; writes only when write is set, so a first dry pass can
 * validate without touching the text. Output never overtakes input: every escape is longer than
 * the UTF-8 it stands for. */
static int unescape_pass(char *s, size_t len, size_t *outlen, int write)
{
    size_t r = 0, w = 0;
    while (r < len) {
        unsigned char c = (unsigned char)s[r];
        if (c == '"' || c < 0x20) return EF_EINVAL;
        if (c != '\\') {
            if (write) s[w] = (char)c;
            w++;
            r++;
            continue;
        }
        if (r + 1 >= len) return EF_EINVAL;
        char e = s[r + 1];
        r += 2;
        char one = 0;
        switch (e) {
        case '"':
            one = '"';
            break;
        case '\\':
            one = '\\';
            break;
        case '/':
            one = '/';
            break;
        case 'b':
            one = '\b';
            break;
        case 'f':
            one = '\f';
            break;
        case 'n':
            one = '\n';
            break;
        case 'r':
            one = '\r';
            break;
        case 't':
            one = '\t';
            break;
        case 'u':
            break;
        default:
            return EF_EINVAL;
        }
        if (one) {
            if (write) s[w] = one;
            w++;
            continue;
        }
        uint32_t cp, lo;
        if (hex4(s + r, len - r, &cp) != 0) return EF_EINVAL;
        r += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (len - r < 6 || s[r] != '\\' || s[r + 1] != 'u') return EF_EINVAL;
            if (hex4(s + r + 2, len - r - 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return EF_EINVAL;
            r += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
            return EF_EINVAL;
        }
        unsigned char u[4];
        size_t n;
        if (cp < 0x80) {
            u[0] = (unsigned char)cp;
            n = 1;
        } else if (cp < 0x800) {
            u[0] = (unsigned char)(0xC0 | (cp >> 6));
            u[1] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xE0 | (cp >> 12));
            u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            u[0] = (unsigned char)(0xF0 | (cp >> 18));
            u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 4;
        }
        if (write) memcpy(s + w, u, n);
        w += n;
    }
    *outlen = w;
    return EF_OK;
}

int transform__unescape(char *s, size_t len, size_t *outlen)
{
    size_t n;
    if (unescape_pass(s, len, &n, 0) != EF_OK) return EF_EINVAL;
    return unescape_pass(s, len, outlen, 1);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1 if [p, e) is a JSON number (RFC 8259 grammar); *is_int when it has no fraction/exponent. */
static int json_number_syntax(const char *p, const char *e, int *is_int)
{
    if (p < e && *p == '-') p++;
    if (p >= e) return 0;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && is_digit(*p))
            p++;
    } else {
        return 0;
    }
    *is_int = 1;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p)) return 0;
        while (p < e && is_digit(*p))
            p++;
        *is_int = 0;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) return 0;
        while (p < e && is_digit(*p))
            p++;
        *is_int = 0;
    }
    return p == e;
}

static int is_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int transform__scalar_parse(char *s, size_t len, transform__scalar *out)
{
    memset(out, 0, sizeof *out);
    size_t b = 0, e = len;
    while (b < e && is_json_ws(s[b]))
        b++;
    while (e > b && is_json_ws(s[e - 1]))
        e--;
    const char *p = s + b;
    size_t n = e - b;

    if (n == 4 && memcmp(p, "true", 4) == 0) {
        out->kind = TRANSFORM_VAL_TRUE;
        return EF_OK;
    }
    if (n == 5 && memcmp(p, "false", 5) == 0) {
        out->kind = TRANSFORM_VAL_FALSE;
        return EF_OK;
    }
    if (n == 4 && memcmp(p, "null", 4) == 0) {
        out->kind = TRANSFORM_VAL_NULL;
        return EF_OK;
    }
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        size_t ulen;
        if (unescape_pass(s + b + 1, n - 2, &ulen, 0) == EF_OK) {
            unescape_pass(s + b + 1, n - 2, &ulen, 1);
            if (!transform__utf8_valid(s + b + 1, ulen)) return EF_EINVAL;
            out->kind = TRANSFORM_VAL_STR;
            out->s = s + b + 1;
            out->slen = ulen;
            return EF_OK;
        }
    }
    int is_int = 0;
    if (n > 0 && json_number_syntax(p, p + n, &is_int)) {
        char *end;
        errno = 0;
        if (is_int) {
            long long v = strtoll(p, &end, 10);
            if (errno == 0 && end == p + n) {
                out->kind = TRANSFORM_VAL_INT;
                out->i = (int64_t)v;
                return EF_OK;
            }
        } else {
            double d = strtod(p, &end);
            if (end == p + n && isfinite(d)) {
                out->kind = TRANSFORM_VAL_REAL;
                out->d = d;
                return EF_OK;
            }
        }
    }
    if (!transform__utf8_valid(s, len)) return EF_EINVAL;
    out->kind = TRANSFORM_VAL_STR;
    out->s = s;
    out->slen = len;
    return EF_OK;
}

json_t *transform__scalar_json(const transform__scalar *v)
{
    switch (v->kind) {
    case TRANSFORM_VAL_NULL:
        return json_null();
    case TRANSFORM_VAL_TRUE:
        return json_true();
    case TRANSFORM_VAL_FALSE:
        return json_false();
    case TRANSFORM_VAL_INT:
        return json_integer((json_int_t)v->i);
    case TRANSFORM_VAL_REAL:
        return json_real(v->d);
    case TRANSFORM_VAL_STR:
        return json_stringn_nocheck(v->s, v->slen);
    }
    return NULL;
}

/* "abc" for messages: at most ~40 bytes of s, bytes outside printable ASCII as \xNN. */
static void quote_for_msg(const char *s, size_t len, char *buf, size_t n)
{
    size_t w = 0;
    if (n < 8) {
        if (n) buf[0] = '\0';
        return;
    }
    buf[w++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (w + 8 >= n || i >= 40) {
            memcpy(buf + w, "...", 3);
            w += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            buf[w++] = (char)c;
        } else {
            snprintf(buf + w, n - w, "\\x%02x", c);
            w += 4;
        }
    }
    buf[w++] = '"';
    buf[w] = '\0';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

enum { NUM_INT = 1, NUM_REAL = 2 };

/* Reads a numeric string leniently (surrounding spaces, leading '+', ".5", "5.") into buf
 * (NUL-terminated, trimmed). Returns NUM_INT (digits only), NUM_REAL, or 0 (not a number). */
static int numeric_text(const char *s, size_t len, char *buf, size_t bufsize)
{
    size_t b = 0, e = len;
    while (b < e && is_space(s[b]))
        b++;
    while (e > b && is_space(s[e - 1]))
        e--;
    if (e - b == 0 || e - b >= bufsize) return 0;
    const char *p = s + b, *end = s + e;
    int kind = NUM_INT;
    size_t digits = 0;
    if (*p == '+' || *p == '-') p++;
    while (p < end && is_digit(*p)) {
        p++;
        digits++;
    }
    if (p < end && *p == '.') {
        kind = NUM_REAL;
        p++;
        while (p < end && is_digit(*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0) return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        kind = NUM_REAL;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p != end) return 0;
    memcpy(buf, s + b, e - b);
    buf[e - b] = '\0';
    return kind;
}

static int real_to_long(double d, int64_t *out)
{
    /* -2^63 is exact; 2^63 is the first double beyond INT64_MAX. NaN fails both. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return EF_EINVAL;
    *out = (int64_t)d;
    return EF_OK;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    default:
        return "this value";
    }
}

static int cast_long(const json_t *v, json_t **out, char *why, size_t whylen)
{
    char num[NUMERIC_MAX + 1], q[64];
    int64_t i;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_NULL:
        return EF_OK;
    case JSON_TRUE:
        *out = json_integer(1);
        break;
    case JSON_FALSE:
        *out = json_integer(0);
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (real_to_long(d, &i) != EF_OK) {
            ef_json_format_double(d, num, sizeof num);
            snprintf(why, whylen, "out of range: %s", num);
            return EF_EINVAL;
        }
        *out = json_integer((json_int_t)i);
        break;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        int kind = numeric_text(s, len, num, sizeof num);
        quote_for_msg(s, len, q, sizeof q);
        if (!kind) {
            snprintf(why, whylen, "not a number: %s", q);
            return EF_EINVAL;
        }
        errno = 0;
        if (kind == NUM_INT) {
            long long ll = strtoll(num, NULL, 10);
            if (errno == ERANGE) goto range;
            i = (int64_t)ll;
        } else {
            double d = strtod(num, NULL);
            if (real_to_long(d, &i) != EF_OK) goto range;
        }
        *out = json_integer((json_int_t)i);
        break;
    range:
        snprintf(why, whylen, "out of range: %s", q);
        return EF_EINVAL;
    }
    default:
        snprintf(why, whylen, "value is %s", type_name(v));
        return EF_EINVAL;
    }
    return *out ? EF_OK : EF_ENOMEM;
}

static int cast_double(const json_t *v, json_t **out, char *why, size_t whylen)
{
    char num[NUMERIC_MAX + 1], q[64];
    switch (json_typeof(v)) {
    case JSON_REAL:
    case JSON_NULL:
        return EF_OK;
    case JSON_INTEGER:
        *out = json_real((double)json_integer_value(v));
        break;
    case JSON_TRUE:
        *out = json_real(1.0);
        break;
    case JSON_FALSE:
        *out = json_real(0.0);
        break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        quote_for_msg(s, len, q, sizeof q);
        if (!numeric_text(s, len, num, sizeof num)) {
            snprintf(why, whylen, "not a number: %s", q);
            return EF_EINVAL;
        }
        double d = strtod(num, NULL);
        if (!isfinite(d)) {
            snprintf(why, whylen, "out of range: %s", q);
            return EF_EINVAL;
        }
        *out = json_real(d);
        break;
    }
    default:
        snprintf(why, whylen, "value is %s", type_name(v));
        return EF_EINVAL;
    }
    return *out ? EF_OK : EF_ENOMEM;
}

static int cast_string(const json_t *v, json_t **out, char *why, size_t whylen)
{
    char buf[64];
    size_t n;
    switch (json_typeof(v)) {
    case JSON_STRING:
    case JSON_NULL:
        return EF_OK;
    case JSON_INTEGER:
        n = (size_t)snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = json_stringn_nocheck(buf, n);
        break;
    case JSON_REAL:
        /* jansson reals are finite, so this is Python's repr: 1.0 -> "1.0", 1e20 -> "1e+20" */
        n = (size_t)ef_json_format_double(json_real_value(v), buf, sizeof buf);
        *out = json_stringn_nocheck(buf, n);
        break;
    case JSON_TRUE:
        *out = json_string_nocheck("true");
        break;
    case JSON_FALSE:
        *out = json_string_nocheck("false");
        break;
    default:
        snprintf(why, whylen, "value is %s", type_name(v));
        return EF_EINVAL;
    }
    return *out ? EF_OK : EF_ENOMEM;
}

static int cast_bool(const json_t *v, json_t **out, char *why, size_t whylen)
{
    char q[64];
    switch (json_typeof(v)) {
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        return EF_OK;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i != 0 && i != 1) {
            snprintf(why, whylen, "not a boolean: %" JSON_INTEGER_FORMAT, i);
            return EF_EINVAL;
        }
        *out = json_boolean(i);
        return EF_OK;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d != 0.0 && d != 1.0) {
            ef_json_format_double(d, q, sizeof q);
            snprintf(why, whylen, "not a boolean: %s", q);
            return EF_EINVAL;
        }
        *out = json_boolean(d == 1.0);
        return EF_OK;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), b = 0, e = len;
        while (b < e && is_space(s[b]))
            b++;
        while (e > b && is_space(s[e - 1]))
            e--;
        static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
        for (size_t k = 0; k < 3; k++) {
            if (e - b == strlen(yes[k]) && strncasecmp(s + b, yes[k], e - b) == 0) {
                *out = json_true();
                return EF_OK;
            }
            if (e - b == strlen(no[k]) && strncasecmp(s + b, no[k], e - b) == 0) {
                *out = json_false();
                return EF_OK;
            }
        }
        quote_for_msg(s, len, q, sizeof q);
        snprintf(why, whylen, "not a boolean: %s", q);
        return EF_EINVAL;
    }
    default:
        snprintf(why, whylen, "value is %s", type_name(v));
        return EF_EINVAL;
    }
}

int transform__cast(const json_t *v, transform__cast_type type, json_t **out, char *why,
                    size_t whylen)
{
    *out = NULL;
    switch (type) {
    case TRANSFORM_CAST_LONG:
        return cast_long(v, out, why, whylen);
    case TRANSFORM_CAST_DOUBLE:
        return cast_double(v, out, why, whylen);
    case TRANSFORM_CAST_STRING:
        return cast_string(v, out, why, whylen);
    case TRANSFORM_CAST_BOOL:
        return cast_bool(v, out, why, whylen);
    }
    snprintf(why, whylen, "unknown cast");
    return EF_EINVAL;
}
