/* buf.c - growable byte buffer; see buf.h. */
#include "base/buf.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ef_buf_init(ef_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ef_buf_release(ef_buf *b)
{
    free(b->data);
    ef_buf_init(b);
}

void ef_buf_clear(ef_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

int ef_buf_reserve(ef_buf *b, size_t extra)
{
    if (extra > (size_t)-1 / 2 - b->len) return EF_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return EF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return EF_ENOMEM;
    b->data = p;
    b->cap = cap;
    return EF_OK;
}

int ef_buf_append(ef_buf *b, const void *data, size_t len)
{
    if (ef_buf_reserve(b, len) != EF_OK) return EF_ENOMEM;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return EF_OK;
}

int ef_buf_appends(ef_buf *b, const char *s)
{
    return ef_buf_append(b, s, strlen(s));
}

int ef_buf_appendc(ef_buf *b, char c)
{
    return ef_buf_append(b, &c, 1);
}

int ef_buf_vappendf(ef_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return EF_EINVAL;
    if ((size_t)n < sizeof small) return ef_buf_append(b, small, (size_t)n);
    if (ef_buf_reserve(b, (size_t)n) != EF_OK) return EF_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return EF_OK;
}

int ef_buf_appendf(ef_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ef_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int ef_buf_append_csv_field(ef_buf *b, const char *s, size_t len)
{
    int quote = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') {
            quote = 1;
            break;
        }
    }
    if (!quote) return ef_buf_append(b, s, len);
    if (ef_buf_reserve(b, len * 2 + 2) != EF_OK) return EF_ENOMEM;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') b->data[b->len++] = '"';
        b->data[b->len++] = s[i];
    }
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
    return EF_OK;
}

char *ef_buf_take(ef_buf *b, size_t *len)
{
    if (!b->data && ef_buf_reserve(b, 0) != EF_OK) return NULL;
    char *p = b->data;
    if (len) *len = b->len;
    p[b->len] = '\0';
    ef_buf_init(b);
    return p;
}

void ef_buf_consume(ef_buf *b, size_t n)
{
    if (n >= b->len) {
        ef_buf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}
