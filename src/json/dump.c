/* dump.c - compact JSON text of a jansson value (see json.h for the exact output).
 *
 * Hand-written because jansson's own writer prints reals with "%.17g"; this one prints them
 * with ef_json_format_double() and otherwise writes what json_dumps(v, JSON_COMPACT) does.
 *
 * It runs once per stored reading, so it appends straight into the caller's ef_buf (growth
 * reserved ahead of each token, no allocation per value) and walks the tree with an explicit
 * stack: 64 frames on the C stack, one heap array only for documents nested deeper than that.
 */
#include "json/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* 0: byte as is; 1: two-byte escape (see short_escape()); 2: \u00XX. */
static const unsigned char escape_kind[256] = {
    [0x00] = 2, [0x01] = 2, [0x02] = 2, [0x03] = 2, [0x04] = 2, [0x05] = 2, [0x06] = 2,
    [0x07] = 2, ['\b'] = 1, ['\t'] = 1, ['\n'] = 1, [0x0b] = 2, ['\f'] = 1, ['\r'] = 1,
    [0x0e] = 2, [0x0f] = 2, [0x10] = 2, [0x11] = 2, [0x12] = 2, [0x13] = 2, [0x14] = 2,
    [0x15] = 2, [0x16] = 2, [0x17] = 2, [0x18] = 2, [0x19] = 2, [0x1a] = 2, [0x1b] = 2,
    [0x1c] = 2, [0x1d] = 2, [0x1e] = 2, [0x1f] = 2, ['"'] = 1,  ['\\'] = 1,
};

static char short_escape(unsigned char c)
{
    switch (c) {
    case '\b':
        return 'b';
    case '\t':
        return 't';
    case '\n':
        return 'n';
    case '\f':
        return 'f';
    case '\r':
        return 'r';
    default:
        return (char)c; /* '"' and '\\' */
    }
}

/* Appends s[0..len) as a quoted JSON string. */
static int dump_string(ef_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    /* Worst case every byte becomes \u00XX; reserve for the common case and grow on escapes. */
    if (ef_buf_reserve(out, len + 2) != EF_OK) return EF_ENOMEM;
    out->data[out->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned kind = escape_kind[c];
        if (!kind) continue;
        /* flush the plain run s[run..i), then the escape (at most 6 bytes) */
        size_t plain = i - run;
        if (ef_buf_reserve(out, plain + 6 + (len - i) + 1) != EF_OK) return EF_ENOMEM;
        memcpy(out->data + out->len, s + run, plain);
        out->len += plain;
        char *w = out->data + out->len;
        w[0] = '\\';
        if (kind == 1) {
            w[1] = short_escape(c);
            out->len += 2;
        } else {
            w[1] = 'u';
            w[2] = '0';
            w[3] = '0';
            w[4] = hex[c >> 4];
            w[5] = hex[c & 15];
            out->len += 6;
        }
        run = i + 1;
    }
    if (ef_buf_reserve(out, len - run + 1) != EF_OK) return EF_ENOMEM;
    memcpy(out->data + out->len, s + run, len - run);
    out->len += len - run;
    out->data[out->len++] = '"';
    out->data[out->len] = '\0';
    return EF_OK;
}

static int dump_integer(ef_buf *out, json_int_t i)
{
    char tmp[24];
    int n = 0;
    /* magnitude as unsigned so that INT64_MIN works */
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0) tmp[sizeof tmp - 1 - n++] = '-';
    return ef_buf_append(out, tmp + sizeof tmp - n, (size_t)n);
}

static int dump_real(ef_buf *out, double d)
{
    if (!isfinite(d)) return ef_buf_append(out, "null", 4);
    if (ef_buf_reserve(out, EF_JSON_DOUBLE_MAX) != EF_OK) return EF_ENOMEM;
    int n = ef_json_format_double(d, out->data + out->len, out->cap - out->len);
    if (n < 0) return n;
    out->len += (size_t)n;
    return EF_OK;
}

/* One open container: the array and the next index, or the object and its next iterator. */
typedef struct frame {
    json_t *v;
    void *iter; /* objects */
    size_t i;   /* arrays */
} frame;

enum { INLINE_FRAMES = 64 };

/* Appends a scalar, or the opening bracket of a container (then pushed by the caller). */
static int dump_open(ef_buf *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return ef_buf_appendc(out, '{');
    case JSON_ARRAY:
        return ef_buf_appendc(out, '[');
    case JSON_STRING:
        return dump_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return dump_integer(out, json_integer_value(v));
    case JSON_REAL:
        return dump_real(out, json_real_value(v));
    case JSON_TRUE:
        return ef_buf_append(out, "true", 4);
    case JSON_FALSE:
        return ef_buf_append(out, "false", 5);
    case JSON_NULL:
        return ef_buf_append(out, "null", 4);
    }
    return EF_EINVAL;
}

/* Writes what comes after the value just written: separators, closing brackets of finished
 * containers, and the next key. *cur is the next value to write, NULL when the document is done.
 */
static int advance(ef_buf *out, frame *stack, size_t *depth, json_t **cur)
{
    int rc;
    *cur = NULL;
    while (*depth) {
        frame *f = &stack[*depth - 1];
        if (json_is_array(f->v)) {
            if (f->i < json_array_size(f->v)) {
                rc = f->i ? ef_buf_appendc(out, ',') : EF_OK;
                *cur = json_array_get(f->v, f->i++);
                return rc;
            }
            rc = ef_buf_appendc(out, ']');
        } else if (f->iter) {
            rc = f->i++ ? ef_buf_appendc(out, ',') : EF_OK;
            if (rc == EF_OK)
                rc = dump_string(out, json_object_iter_key(f->iter),
                                 json_object_iter_key_len(f->iter));
            if (rc == EF_OK) rc = ef_buf_appendc(out, ':');
            *cur = json_object_iter_value(f->iter);
            f->iter = json_object_iter_next(f->v, f->iter);
            return rc;
        } else {
            rc = ef_buf_appendc(out, '}');
        }
        if (rc != EF_OK) return rc;
        (*depth)--;
    }
    return EF_OK;
}

int ef_json_dump(const json_t *v, ef_buf *out)
{
    frame inline_stack[INLINE_FRAMES];
    frame *stack = inline_stack;
    size_t depth = 0, cap = INLINE_FRAMES, start = out->len;
    int rc = EF_EINVAL;
    json_t *cur = (json_t *)v; /* jansson's iterators take non-const values */
    while (cur) {
        /* write cur; a container is pushed and its members follow */
        rc = dump_open(out, cur);
        if (rc != EF_OK) goto out;
        if (json_is_object(cur) || json_is_array(cur)) {
            if (depth == EF_JSON_MAX_DEPTH) {
                rc = EF_EINVAL;
                goto out;
            }
            if (depth == cap) {
                size_t ncap = cap * 4 > EF_JSON_MAX_DEPTH ? EF_JSON_MAX_DEPTH : cap * 4;
                frame *ns = stack == inline_stack ? malloc(ncap * sizeof *ns)
                                                  : realloc(stack, ncap * sizeof *ns);
                if (!ns) {
                    rc = EF_ENOMEM;
                    goto out;
                }
                if (stack == inline_stack) memcpy(ns, inline_stack, sizeof inline_stack);
                stack = ns;
                cap = ncap;
            }
            stack[depth].v = cur;
            stack[depth].i = 0;
            stack[depth].iter = json_is_object(cur) ? json_object_iter(cur) : NULL;
            depth++;
        }
        rc = advance(out, stack, &depth, &cur);
        if (rc != EF_OK) goto out;
    }
out:
    if (stack != inline_stack) free(stack);
    if (rc != EF_OK) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}

char *ef_json_dumps(const json_t *v, size_t *len)
{
    ef_buf b;
    ef_buf_init(&b);
    if (ef_json_dump(v, &b) != EF_OK) {
        ef_buf_release(&b);
        return NULL;
    }
    return ef_buf_take(&b, len);
}
