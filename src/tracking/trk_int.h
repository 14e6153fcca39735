/* trk_int.h - internals shared by the tracking server's files. Prefix trk__.
 *
 *   schema.c         the database schema (migrations)
 *   tracking.c       ef_tracking_open/free/register: pool, artifact repository, route tables
 *   request.c        MLflow error replies, JSON replies (this header's §1-§3)
 *   request_msg.c    request messages and their typed getters (§3)
 *   search.c         MLflow's search grammar -> SQL (search.h; with search_lex.c, search_order.c)
 *   experiments.c runs.c run_data.c metrics.c metrics_history.c
 *                    tracking RPCs (routes: trk__experiment_routes, trk__run_routes)
 *   registry.c registry_validate.c registry_api.c
 *                    model registry RPCs (routes: trk__registry_routes)
 *   artifacts.c      artifact repository (paths: artifact_path.c)
 *   artifacts_api.c  artifact proxy RPCs (routes: trk__artifact_routes)
 */
#ifndef EF_TRACKING_TRK_INT_H
#define EF_TRACKING_TRK_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/server.h"
#include "sql/pool.h"
#include "tracking/tracking.h"

/* --- §1 MLflow error codes (spec §6): the HTTP status follows from the code ----------------- */
typedef enum {
    TRK_INVALID_PARAMETER_VALUE, /* 400 */
    TRK_BAD_REQUEST,             /* 400 */
    TRK_RESOURCE_ALREADY_EXISTS, /* 400 (not 409!) */
    TRK_UNAUTHENTICATED,         /* 401 */
    TRK_PERMISSION_DENIED,       /* 403 */
    TRK_ENDPOINT_NOT_FOUND,      /* 404 */
    TRK_RESOURCE_DOES_NOT_EXIST, /* 404 */
    TRK_INVALID_STATE,           /* 500 */
    TRK_INTERNAL_ERROR,          /* 500 */
    TRK_NOT_IMPLEMENTED,         /* 501 */
    TRK_TEMPORARILY_UNAVAILABLE, /* 503 */
} trk_code;

const char *trk__code_name(trk_code c);
int trk__code_status(trk_code c);

/* An error to report: handlers and store functions fill one and return -1. */
typedef struct trk_err {
    trk_code code;
    char message[1024];
} trk_err;

/* Sets e (printf-style message) and returns -1, so `return trk__fail(e, ...)` reads well. */
int trk__fail(trk_err *e, trk_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Database failure: logs the connection's error, sets INTERNAL_ERROR, returns -1. */
int trk__fail_db(trk_err *e, ef_sql *db, const char *what);

/* --- §2 the shared server state --------------------------------------------------------------- */
struct ef_tracking {
    uint32_t magic;
    ef_sql_pool *pool;
    ef_sql_dialect_t dialect;
    char *default_artifact_root;  /* "mlflow-artifacts:/" or a URI prefix */
    struct trk_artifacts *artifacts; /* the proxied repository (artifacts.c) */
    struct trk_binding *bindings;    /* route contexts given to the HTTP server (tracking.c) */
};

/* The proxied artifact repository (artifacts.c) from opt->artifacts_destination: 0 with *out
 * (NULL when no destination is configured), or an EF_E* code with *errmsg (malloc'd). */
int trk__artifacts_open(const ef_tracking_options *opt, struct trk_artifacts **out, char **errmsg);
void trk__artifacts_free(struct trk_artifacts *a);

/* The proxied artifact repository (artifacts.c; more in artifact_path.h). Opens
 * opt->artifacts_destination (folder, file:///dir or s3://bucket/prefix; a folder is created if
 * missing). No destination -> *out NULL and 0: the proxy routes then answer 503 like
 * `mlflow server --no-serve-artifacts`. Returns 0 or EF_E* with *errmsg (malloc'd). */
int trk__artifacts_open(const ef_tracking_options *opt, struct trk_artifacts **out, char **errmsg);
void trk__artifacts_free(struct trk_artifacts *a); /* NULL is fine */
/* The S3 endpoint / region a repository was opened with; NULL for a NULL repository or when
 * unset (the environment decides, see s3/s3.h). For opening other locations like it. */
const char *trk__artifacts_s3_endpoint(const struct trk_artifacts *a);
const char *trk__artifacts_s3_region(const struct trk_artifacts *a);
/* The artifact files' error helper (artifacts.c and its routes in artifacts_api.c): sets e like
 * trk__fail but cuts an over-long message at the buffer's end. Returns -1. */
int trk__artifacts_fail(trk_err *e, trk_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Applies the schema migrations (schema.c). */
int trk__migrate(ef_sql *db, char **errmsg);

/* 32 lowercase hex characters from a CSPRNG (run ids, dataset/input ids). out: 33 bytes. */
void trk__uuid_hex(char out[33]);

/* --- §3 requests and replies ------------------------------------------------------------------ */
/* The request message (spec §2): for GET (and DELETE without a JSON body) the query string, with
 * repeated keys (and key[]) collected into arrays; for POST/PATCH/DELETE the JSON body, which must
 * come with Content-Type application/json (else 400 INVALID_PARAMETER_VALUE; a body that is not
 * JSON counts as {}). Returns a new object, or NULL after replying with the error. */
json_t *trk__message(ef_http_req *r);

/* Typed field access with MLflow's messages. Each returns 0 (found, *out set), 1 (absent and not
 * required: *out untouched) or -1 (e filled: missing required -> "Missing value for required
 * parameter 'x'. See the API docs for more information about request parameters.", or wrong type
 * -> INVALID_PARAMETER_VALUE naming the field). Query-string values arrive as strings: the int
 * and double getters parse them; JSON numbers given as strings ("NaN", "Infinity", "1.5") are
 * accepted for doubles like MLflow does. */
int trk__str(const json_t *msg, const char *field, int required, const char **out, trk_err *e);
int trk__int(const json_t *msg, const char *field, int required, int64_t *out, trk_err *e);
int trk__double(const json_t *msg, const char *field, int required, double *out, trk_err *e);
int trk__bool(const json_t *msg, const char *field, int required, int *out, trk_err *e);
/* A repeated field: always yields an array, borrowed from msg (a query-string key given once
 * arrives as a string and is wrapped into a one-element array inside msg; other non-arrays are
 * INVALID_PARAMETER_VALUE). */
int trk__array(const json_t *msg, const char *field, int required, json_t **out, trk_err *e);
/* run_id, falling back to the legacy run_uuid (spec §2 "Aliases in requests"). */
int trk__run_id(const json_t *msg, const char **out, trk_err *e);

/* Replies the error as {"error_code": "...", "message": "..."} with the code's status. */
void trk__reply_error(ef_http_req *r, const trk_err *e);
/* Replies 200 with doc rendered like MLflow: pretty-printed with a 2-space indent, proto field
 * names, int64 as numbers, doubles shortest round-trip (NaN written as the string "NaN"). Steals
 * the reference. An empty response is {}. */
void trk__reply(ef_http_req *r, json_t *doc);
/* A metric value for a reply: a JSON real, or the string "NaN" / the largest double for +-inf,
 * as MLflow 2.12.2 answers (spec §2 "Numbers"). */
json_t *trk__metric_value(double v, int is_nan);
/* Appends v to b as Python's json.dumps(v, sort_keys=True, separators=(",", ":")) writes it
 * (MLflow's invalid_value() text, quoted in field errors). EF_OK, or an EF_E* code (out of
 * memory; EF_EINVAL for nesting deeper than the writer accepts). */
int trk__json_compact_sorted(ef_buf *b, const json_t *v);

/* --- §3b replies written as they are produced ------------------------------------------------ */
/* A reply written straight into one buffer, in exactly trk__reply's layout (2-space indent,
 * ensure_ascii strings, shortest reals), for replies too big to build as jansson values first
 * (metric histories: 10,000 points are ~1.2 MB of text but ~10 MB of jansson objects). Each value
 * call takes the member's key inside an object, NULL inside an array or at the top. The first
 * failure (out of memory, nesting deeper than TRK_JW_MAX_DEPTH) is kept in err and makes later
 * calls no-ops, so a handler checks once at the end (trk__reply_jw does).
 *
 *   trk_jw w; trk__jw_init(&w);
 *   trk__jw_open(&w, NULL, '{'); trk__jw_open(&w, "metrics", '[');
 *   for each row: trk__jw_open(&w, NULL, '{'); trk__jw_str(&w, "key", k, n); ... trk__jw_close(&w);
 *   trk__jw_close(&w); trk__jw_close(&w); trk__reply_jw(r, &w);
 */
#define TRK_JW_MAX_DEPTH 32

typedef struct trk_jw {
    ef_buf b;
    int depth;                    /* open containers */
    char close[TRK_JW_MAX_DEPTH]; /* '}' or ']' of each open container */
    char items[TRK_JW_MAX_DEPTH]; /* 1 once that container has a member */
    int err;                      /* 0 or the first EF_E* */
} trk_jw;

void trk__jw_init(trk_jw *w);
void trk__jw_release(trk_jw *w);
/* Opens an object ('{') or array ('['); empty ones are written "{}" / "[]" like json.dumps. */
void trk__jw_open(trk_jw *w, const char *key, char bracket);
void trk__jw_close(trk_jw *w);
void trk__jw_str(trk_jw *w, const char *key, const char *s, size_t len);
void trk__jw_int(trk_jw *w, const char *key, int64_t v);
/* A metric value as trk__metric_value renders it (real; "NaN"; +-inf as +-DBL_MAX). */
void trk__jw_metric_value(trk_jw *w, const char *key, double v, int is_nan);
/* Replies 200 with the text (all containers must be closed), or 500 INTERNAL_ERROR when w->err;
 * releases w either way. */
void trk__reply_jw(ef_http_req *r, trk_jw *w);

/* --- routes ---------------------------------------------------------------------------------- */
typedef void (*trk_handler)(ef_http_req *r, ef_tracking *t, const json_t *msg);

typedef struct trk_route {
    const char *method;  /* GET, POST, PATCH, DELETE, PUT */
    const char *path;    /* after the /api/2.0 and /ajax-api/2.0 prefixes, e.g.
                            "/mlflow/runs/create", "/mlflow-artifacts/artifacts/{path*}" */
    trk_handler handler; /* gets the parsed message (NULL for raw-body routes: see raw) */
    int raw;             /* 1: the handler reads the request itself (artifact up/download) */
} trk_route;

/* NULL-terminated tables, one per area (each area's file defines its own). */
extern const trk_route trk__experiment_routes[];
extern const trk_route trk__run_routes[];
extern const trk_route trk__registry_routes[];
extern const trk_route trk__artifact_routes[];

/* Runs "<select> IN (?,...) <tail>" over the values of ids (a JSON array of strings; as_int: bound
 * as integers, e.g. experiment ids) in chunks of at most 500, calling row(st, ctx) for each result
 * row; a non-zero return stops with INTERNAL_ERROR "out of memory". what names the query in a
 * database error. Returns 0, or -1 with e. One query per chunk: no per-entity round trips. */
int trk__query_in(ef_sql *db, const char *select, const char *tail, const json_t *ids, int as_int,
                  int (*row)(ef_sql_stmt *st, void *ctx), void *ctx, const char *what, trk_err *e);

/* Pool helpers that turn a failure into INTERNAL_ERROR. */
int trk__reader(ef_tracking *t, ef_sql **db, trk_err *e);
int trk__writer(ef_tracking *t, ef_sql **db, trk_err *e);
void trk__release(ef_tracking *t, ef_sql *db);
/* A write transaction: takes the writer and BEGINs (on failure the writer is given back, *db is
 * NULL, -1 with e). trk__tx_finish commits when rc == 0 (else, or when the commit fails, rolls
 * back), gives the writer back and returns the final rc; db NULL is a no-op returning rc. */
int trk__tx_begin(ef_tracking *t, ef_sql **db, trk_err *e);
int trk__tx_finish(ef_tracking *t, ef_sql *db, int rc, trk_err *e);
/* The end of a write RPC that answers {}: trk__tx_finish, then replies {} when that gives 0, else
 * the error e. A handler sends every outcome here, failures before trk__tx_begin included (db
 * NULL, rc -1 with e). */
void trk__tx_reply(ef_http_req *r, ef_tracking *t, ef_sql *db, int rc, trk_err *e);

#endif
