/* buf.h - growable byte buffer, always NUL-terminated, embedded by value.
 *
 *   ef_buf b; ef_buf_init(&b); ef_buf_appendf(&b, "%d", 42); ... ef_buf_release(&b);
 *
 * On allocation failure an append returns EF_ENOMEM and leaves the buffer unchanged.
 * ef_buf_take() hands the malloc'd data to the caller (who frees it) and re-inits the buffer.
 */
#ifndef EF_BASE_BUF_H
#define EF_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ef_buf {
    char *data; /* NUL-terminated when len > 0 or after any append; may be NULL when empty */
    size_t len;
    size_t cap;
} ef_buf;

void ef_buf_init(ef_buf *b);
void ef_buf_release(ef_buf *b);
void ef_buf_clear(ef_buf *b); /* len = 0, keeps capacity */
int ef_buf_reserve(ef_buf *b, size_t extra);
int ef_buf_append(ef_buf *b, const void *data, size_t len);
int ef_buf_appends(ef_buf *b, const char *s);
int ef_buf_appendc(ef_buf *b, char c);
int ef_buf_appendf(ef_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ef_buf_vappendf(ef_buf *b, const char *fmt, va_list ap);
/* Appends s as a CSV field (RFC 4180 quoting when it holds , " CR or LF). */
int ef_buf_append_csv_field(ef_buf *b, const char *s, size_t len);
/* Returns the data (never NULL: "" when empty, malloc'd) and re-inits b. NULL on OOM. */
char *ef_buf_take(ef_buf *b, size_t *len);
/* Drops the first n bytes. */
void ef_buf_consume(ef_buf *b, size_t n);

#endif
