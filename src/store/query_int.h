/* query_int.h - internals shared by the two files of the Elasticsearch query compiler (prefix
 * store__; not a public API: the store uses store__query_* from store_int.h). query.c: parameter
 * lists, the query state, errors, fields, and the query clause (leaves and compounds) compiled to
 * a WHERE expression. query_body.c: the top level of a _search / _count body (size, from, sort,
 * _source, track_total_hits) and store__query_compile.
 *
 * Errors: functions returning int give EF_OK, EF_ENOMEM, or EF_EINVAL after store__query_fail
 * filled the query's status/etype/ereason (HTTP 400 with Elasticsearch's error type).
 */
#ifndef EF_STORE_QUERY_INT_H
#define EF_STORE_QUERY_INT_H

#include <jansson.h>

#include "base/buf.h"
#include "store/store_int.h"

/* One compilation: the query being filled, and the nesting depth and clause count of the query
 * clause (bounded like Elasticsearch's). */
typedef struct store__query_ctx {
    store__query *q;
    int depth;
    int clauses;
} store__query_ctx;

/* Sets the query's error (status 400, Elasticsearch error type, printf-style reason) and returns
 * EF_EINVAL. */
int store__query_fail(store__query_ctx *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Elasticsearch's name for the JSON token v starts with ("START_OBJECT", "VALUE_STRING", ...),
 * for error reasons. */
const char *store__json_token_name(const json_t *v);

/* A field of a document: a column, or a path into the JSON source. */
enum { STORE_F_SOURCE, STORE_F_COLLECTED, STORE_F_ID, STORE_F_INDEX };

typedef struct store__field {
    int kind;       /* STORE_F_* */
    char path[512]; /* STORE_F_SOURCE: SQLite JSON path or PostgreSQL text[] literal */
} store__field;

/* Maps a field name to its column, or to a source path ("a.b"; a trailing ".keyword" is
 * ignored). EF_EINVAL (error set) for a name that cannot be a path. */
int store__parse_field(store__query_ctx *c, const char *name, store__field *f);
/* Appends the SQL value of field f to sql; a source path is bound as a parameter in p. */
int store__emit_value(store__query *q, ef_buf *sql, store__params *p, const store__field *f);
/* Appends the WHERE expression of one query clause (an object such as {"term": {...}}) to
 * c->q->where, its parameters to c->q->pwhere. */
int store__compile_query(store__query_ctx *c, const json_t *qv);

#endif
