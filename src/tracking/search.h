/* search.h - MLflow's search grammar (spec §8) compiled to parameterised SQL, and page tokens
 * (spec §9). Internal to the tracking module (prefix trk__).
 *
 * The SQL refers to the schema of schema.c by table name, with the searched entity's table
 * unaliased: runs, experiments, registered_models, model_versions. The caller writes
 *   SELECT <cols> FROM <table> WHERE <own conditions> AND (<where>) <order> LIMIT ? OFFSET ?
 * and binds its own parameters first, then trk__search_bind(), then limit/offset. Values never
 * appear in the SQL text.
 */
#ifndef EF_TRACKING_SEARCH_H
#define EF_TRACKING_SEARCH_H

#include <jansson.h>
#include <stdint.h>

#include "base/buf.h"
#include "sql/sql.h"
#include "tracking/trk_int.h"

typedef enum {
    TRK_SEARCH_RUNS,
    TRK_SEARCH_EXPERIMENTS,
    TRK_SEARCH_REGISTERED_MODELS,
    TRK_SEARCH_MODEL_VERSIONS,
} trk_search_kind;

typedef struct trk_sql_param {
    char type; /* 'i' int64, 'd' double, 't' text */
    int64_t i;
    double d;
    char *s;
} trk_sql_param;

typedef struct trk_search_sql {
    ef_buf where;  /* boolean SQL expression; "1=1" for an empty filter */
    ef_buf order;  /* complete "ORDER BY ..." with MLflow's default order and tie-breakers */
    trk_sql_param *params; /* where's then order's, in placeholder order */
    size_t nparams, cap;
} trk_search_sql;

/* Compiles filter (NULL or "" = everything) and order_by (NULL or a JSON array of strings) for
 * kind. Returns 0, or -1 with e = INVALID_PARAMETER_VALUE and a message like MLflow's (e.g.
 * "Invalid clause(s) in filter string: 'or'", "Invalid entity type 'foo'", "Expected numeric
 * value type for metric"). */
int trk__search_compile(trk_search_kind kind, ef_sql_dialect_t dialect, const char *filter,
                        const json_t *order_by, trk_search_sql *out, trk_err *e);
void trk__search_sql_release(trk_search_sql *s);
/* Binds s's parameters to st from placeholder index `first` (1-based); returns the next free
 * index, or -1 on a bind error. */
int trk__search_bind(const trk_search_sql *s, ef_sql_stmt *st, int first);

/* Page tokens: base64 of the JSON text {"offset": N}. decode(NULL or "") gives 0. A bad token
 * gives -1 with e = INVALID_PARAMETER_VALUE "Invalid page token, could not base64-decode". */
int trk__page_token_decode(const char *token, int64_t *offset, trk_err *e);
char *trk__page_token_encode(int64_t offset); /* malloc'd; NULL on OOM */
/* Sets doc's "next_page_token" to the token of next_offset. 0, or -1 with e = INTERNAL_ERROR
 * "out of memory". */
int trk__page_token_put(json_t *doc, int64_t next_offset, trk_err *e);

/* One page of a search, shared by every search RPC: appends "(<where>) <order> LIMIT ? OFFSET ?"
 * to sql, which holds the caller's "SELECT ... WHERE [<own conditions> AND ]" (EF_OK or an EF_E*
 * code: out of memory); after prepare, trk__search_bind_page binds s's parameters from
 * placeholder `first` (the caller's own come before), then limit and offset (0, or -1 on a bind
 * error). */
int trk__search_page_sql(ef_buf *sql, const trk_search_sql *s);
int trk__search_bind_page(const trk_search_sql *s, ef_sql_stmt *st, int first, int64_t limit,
                          int64_t offset);

#endif
