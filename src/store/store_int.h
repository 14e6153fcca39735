/* store_int.h - internals shared by the store's files:
 *   store.c   schema + migrations, connections (one writer, a pool of readers), writes, scan,
 *             stats, check, index-pattern resolution
 *   query.c   Elasticsearch query DSL subset -> parameterised SQL (both dialects); with
 *             query_body.c (the body's top level), sharing query_int.h
 *   search.c  _search / _count / _bulk (JSON in, JSON out)
 *   api.c     HTTP handlers
 */
#ifndef EF_STORE_STORE_INT_H
#define EF_STORE_STORE_INT_H

#include <pthread.h>

#include "base/buf.h"
#include "base/strlist.h"
#include "sql/sql.h"
#include "store/store.h"

#define STORE_MAGIC 0x45465354u /* "EFST" */
#define STORE_MAX_READERS 8
#define STORE_MAX_RESULT_WINDOW 10000 /* like index.max_result_window */

struct ef_store {
    uint32_t magic;
    char *uri;
    ef_sql_options sqlopt;
    ef_sql_dialect_t dialect;
    int single; /* one connection for everything (in-memory SQLite) */

    pthread_mutex_t wlock; /* guards w, its statements and rng */
    ef_sql *w;
    ef_sql_stmt *st_insert, *st_dead, *st_index_add, *st_index_bounds, *st_update;
    uint64_t rng[2];

    pthread_mutex_t rlock; /* guards the reader pool */
    pthread_cond_t rcond;
    ef_sql *readers[STORE_MAX_READERS];
    int rbusy[STORE_MAX_READERS];
    int nreaders;
};

/* A read connection for one request; release it with store__reader_release. With a single
 * connection store this holds the writer lock until release. */
int store__reader_acquire(ef_store *s, ef_sql **out);
void store__reader_release(ef_store *s, ef_sql *db);

/* Resolves an index pattern (comma list, '*' wildcards, "_all", "-excluded") against the known
 * indices. *all = 1 when every index matches (no filter needed); otherwise names holds the
 * concrete indices (possibly none). A concrete name that does not exist gives EF_ENOTFOUND with
 * *missing set (malloc'd). */
int store__resolve(ef_sql *db, const char *pattern, int *all, ef_strlist *names, char **missing);

/* 20 characters of base64url from the store's generator; the writer lock must be held. */
void store__gen_id(ef_store *s, char out[21]);
/* Rewrites the stored first/last bounds of index and adds ndocs to its count (writer lock held,
 * inside a transaction). */
int store__index_touch(ef_store *s, const char *index, int64_t ndocs);

/* --- query compilation (query.c, query_body.c) ------------------------------------------------ */
typedef struct store__param {
    char type; /* 'i' int64, 'd' double, 't' text */
    int64_t i;
    double d;
    char *s;
} store__param;

typedef struct store__params {
    store__param *v;
    size_t n, cap;
} store__params;

typedef struct store__query {
    ef_sql_dialect_t dialect;
    int64_t now_ms;
    ef_buf where; /* boolean SQL expression over docs columns ("1=1" for match_all) */
    store__params pwhere;
    ef_buf sortcols; /* ", <json of sort value> AS s0, ..." for the select list */
    store__params psel;
    ef_buf order; /* "ORDER BY ..." (always ends with the insertion order) */
    store__params porder;
    size_t nsort; /* sort value columns; 0 = not sorted (hits get _score 1.0) */
    int64_t size, from;
    int64_t track_total; /* -1 exact, 0 off, N count up to N then "gte" */
    int source_off;
    json_t *source_includes; /* array of field names (dotted), or NULL for the whole source */
    /* error (when compile fails) */
    int status;
    char etype[64];
    char ereason[512];
} store__query;

void store__query_init(store__query *q, ef_sql_dialect_t dialect, int64_t now_ms);
void store__query_release(store__query *q);
/* Compiles a _search (count_only = 0) or _count (1) body; body may be NULL (match_all).
 * Returns 0, EF_EINVAL (q->status/etype/ereason say why) or EF_ENOMEM. */
int store__query_compile(store__query *q, const json_t *body, int count_only);
/* Binds params to st starting at placeholder *idx (advanced). */
int store__bind(ef_sql_stmt *st, const store__params *p, int *idx);
/* {"error":{"root_cause":[{"type","reason"}],"type","reason"},"status":N}; NULL on OOM. */
json_t *store__es_error(int status, const char *type, const char *reason);
/* Appends the SQL fragment that keeps rows of the resolved indices ("1=1" when all). */
int store__append_index_filter(ef_buf *sql, store__params *p, int all, const ef_strlist *names);
void store__params_release(store__params *p);
int store__params_text(store__params *p, const char *s, size_t len);
/* Validates an index name with Elasticsearch's rules; NULL if fine, else the reason. */
const char *store__index_name_error(const char *name);

#endif
