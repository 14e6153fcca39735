/* tracking.c - the tracking server's handle: opens the database pool (migrating the schema and
 * creating experiment "0" "Default"), the proxied artifact repository, and registers every
 * route of the four areas (experiments, runs, registry, artifacts) under /api/2.0 and
 * /ajax-api/2.0 on an ef_http server, plus GET /version. Also the shared helpers of trk_int.h
 * §2 (run ids) and the pool helpers.
 *
 * Each registered route gets a trk_binding (handle + route) as its HTTP context; for non-raw
 * routes the binding's dispatcher parses the request message (trk__message) and hands it to the
 * area's handler, so handlers never see an unparsed request.
 */
#include "tracking/trk_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#define TRK_MAGIC 0x54524b31u /* "TRK1" */
#define TRK_VERSION "2.12.2"  /* the MLflow version whose REST API this server speaks */

/* The route tables of the four areas (experiments.c, runs.c, registry.c, artifacts.c). */
static const trk_route *const areas[] = {
    trk__experiment_routes,
    trk__run_routes,
    trk__registry_routes,
    trk__artifact_routes,
};

static const char *const prefixes[] = {"/api/2.0", "/ajax-api/2.0"};

/* One registered route: what its HTTP context points to. Freed with the handle. */
struct trk_binding {
    struct trk_binding *next;
    ef_tracking *t;
    const trk_route *route;
};

/* --- helpers of trk_int.h -------------------------------------------------------------------- */

void trk__uuid_hex(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* getrandom cannot fail after boot-time entropy is ready; never hand out a
             * predictable id silently */
            EF_ERROR("tracking: getrandom failed: %s", strerror(errno));
            abort();
        }
        got += (size_t)n;
    }
    /* the layout of a version-4 UUID, like MLflow's uuid.uuid4().hex */
    raw[6] = (unsigned char)((raw[6] & 0x0F) | 0x40);
    raw[8] = (unsigned char)((raw[8] & 0x3F) | 0x80);
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

int trk__reader(ef_tracking *t, ef_sql **db, trk_err *e)
{
    if (ef_sql_pool_reader(t->pool, db) != EF_OK)
        return trk__fail(e, TRK_INTERNAL_ERROR, "Cannot get a database connection");
    return 0;
}

int trk__writer(ef_tracking *t, ef_sql **db, trk_err *e)
{
    if (ef_sql_pool_writer(t->pool, db) != EF_OK)
        return trk__fail(e, TRK_INTERNAL_ERROR, "Cannot get a database connection");
    return 0;
}

void trk__release(ef_tracking *t, ef_sql *db)
{
    if (db) ef_sql_pool_release(t->pool, db);
}

/* --- open / free -------------------------------------------------------------------------------
 */

static char *msg_dup(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a, b);
    return s;
}

/* Experiment 0 "Default", as MLflow's SQL store creates it on a new database. A database where
 * it was deleted or renamed keeps it that way (the insert only fills a missing id 0). */
static int create_default_experiment(ef_tracking *t, ef_sql *db, char **errmsg)
{
    const char *root = t->default_artifact_root;
    size_t rl = strlen(root);
    char *loc = malloc(rl + 3);
    ef_sql_stmt *st = NULL;
    int rc = EF_ENOMEM;
    if (!loc) goto out;
    snprintf(loc, rl + 3, "%s%s0", root, rl && root[rl - 1] == '/' ? "" : "/");
    rc = EF_EDB;
    if (ef_sql_begin(db) != EF_OK) goto out;
    int64_t now = ef_now_ms();
    if (ef_sql_prepare(db,
                       "INSERT INTO experiments(experiment_id, name, artifact_location,"
                       " lifecycle_stage, creation_time, last_update_time)"
                       " VALUES(0, 'Default', ?, 'active', ?, ?) ON CONFLICT DO NOTHING",
                       &st) != EF_OK ||
        ef_sql_bind_text(st, 1, loc, strlen(loc)) != EF_OK ||
        ef_sql_bind_int64(st, 2, now) != EF_OK || ef_sql_bind_int64(st, 3, now) != EF_OK ||
        ef_sql_step(st) != EF_SQL_DONE) {
        ef_sql_finalize(st);
        st = NULL;
        *errmsg = msg_dup("cannot create the %s experiment: %s", "Default", ef_sql_errmsg(db));
        ef_sql_rollback(db);
        goto out;
    }
    ef_sql_finalize(st);
    st = NULL;
    if (ef_sql_commit(db) != EF_OK) {
        *errmsg = msg_dup("cannot create the %s experiment: %s", "Default", ef_sql_errmsg(db));
        ef_sql_rollback(db);
        goto out;
    }
    rc = EF_OK;
out:
    free(loc);
    return rc;
}

int ef_tracking_open(const ef_tracking_options *opt, ef_tracking **out, char **errmsg)
{
    int rc = EF_EINVAL;
    ef_sql *db = NULL;
    *out = NULL;
    *errmsg = NULL;
    if (!opt || !opt->backend_uri || !*opt->backend_uri) {
        *errmsg = strdup("no backend store URI");
        return EF_EINVAL;
    }
    ef_tracking *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->magic = TRK_MAGIC;
    t->default_artifact_root = strdup(opt->default_artifact_root && *opt->default_artifact_root
                                          ? opt->default_artifact_root
                                          : "mlflow-artifacts:/");
    if (!t->default_artifact_root) goto oom;

    /* 512 KiB of page cache per connection (SQLite's default is 2 MiB): the hot tables are small
     * and a server has up to 9 connections; the OS page cache holds the rest. */
    ef_sql_options so = {.busy_timeout_ms = 10000, .durable = opt->durable, .cache_kib = 512};
    char *perr = NULL;
    rc = ef_sql_pool_open(opt->backend_uri, &so, 0, &t->pool, &perr);
    if (rc != EF_OK) {
        *errmsg = msg_dup("cannot open the backend store %s: %s", opt->backend_uri,
                          perr ? perr : ef_strerror(rc));
        free(perr);
        goto fail;
    }
    t->dialect = ef_sql_pool_dialect(t->pool);
    rc = ef_sql_pool_writer(t->pool, &db);
    if (rc != EF_OK) goto fail;
    rc = trk__migrate(db, errmsg);
    if (rc == EF_OK) rc = create_default_experiment(t, db, errmsg);
    ef_sql_pool_release(t->pool, db);
    if (rc != EF_OK) goto fail;

    rc = trk__artifacts_open(opt, &t->artifacts, errmsg);
    if (rc != EF_OK) goto fail;
    *out = t;
    return EF_OK;
oom:
    rc = EF_ENOMEM;
    if (!*errmsg) *errmsg = strdup("out of memory");
fail:
    if (!*errmsg) *errmsg = strdup(ef_strerror(rc));
    ef_tracking_free(t);
    return rc;
}

void ef_tracking_free(ef_tracking *t)
{
    if (!t) return;
    if (t->magic != TRK_MAGIC) {
        EF_ERROR("tracking: free of an invalid handle");
        return;
    }
    trk__artifacts_free(t->artifacts);
    ef_sql_pool_free(t->pool);
    while (t->bindings) {
        struct trk_binding *b = t->bindings;
        t->bindings = b->next;
        free(b);
    }
    free(t->default_artifact_root);
    t->magic = 0;
    free(t);
}

/* --- routes ------------------------------------------------------------------------------------
 */

static void dispatch(ef_http_req *r, void *ctx)
{
    const struct trk_binding *b = ctx;
    if (b->route->raw) {
        b->route->handler(r, b->t, NULL);
        return;
    }
    json_t *msg = trk__message(r);
    if (!msg) return; /* trk__message replied */
    b->route->handler(r, b->t, msg);
    json_decref(msg);
}

static void version_handler(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply(r, 200, "text/html; charset=utf-8", TRK_VERSION, strlen(TRK_VERSION));
}

int ef_tracking_register(struct ef_http_server *http, ef_tracking *t)
{
    if (!http || !t || t->magic != TRK_MAGIC) return EF_EINVAL;
    char pattern[512];
    for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++) {
        for (const trk_route *rt = areas[a]; rt->method; rt++) {
            for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
                int n = snprintf(pattern, sizeof pattern, "%s%s", prefixes[p], rt->path);
                if (n < 0 || (size_t)n >= sizeof pattern) return EF_EINVAL;
                struct trk_binding *b = calloc(1, sizeof *b);
                if (!b) return EF_ENOMEM;
                b->t = t;
                b->route = rt;
                b->next = t->bindings;
                t->bindings = b;
                int rc = ef_http_route(http, rt->method, pattern, dispatch, b);
                if (rc != EF_OK) {
                    EF_ERROR("tracking: cannot register %s %s: %s", rt->method, pattern,
                             ef_strerror(rc));
                    return rc;
                }
            }
        }
    }
    return ef_http_route(http, "GET", "/version", version_handler, NULL);
}

#define TRK_IN_CHUNK 500 /* values per IN (...): well under every backend's parameter limit */

int trk__query_in(ef_sql *db, const char *select, const char *tail, const json_t *ids, int as_int,
                  int (*row)(ef_sql_stmt *st, void *ctx), void *ctx, const char *what, trk_err *e)
{
    size_t n = json_array_size(ids);
    ef_buf sql;
    ef_sql_stmt *st = NULL;
    int rc = -1, step;

    ef_buf_init(&sql);
    for (size_t base = 0; base < n; base += TRK_IN_CHUNK) {
        size_t cnt = n - base < TRK_IN_CHUNK ? n - base : TRK_IN_CHUNK;
        ef_buf_clear(&sql);
        ef_buf_appends(&sql, select);
        ef_buf_appends(&sql, " IN (");
        for (size_t i = 0; i < cnt; i++)
            ef_buf_appends(&sql, i ? ",?" : "?");
        ef_buf_appends(&sql, ") ");
        if (ef_buf_appends(&sql, tail) != EF_OK) {
            trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
            goto out;
        }
        if (ef_sql_prepare(db, sql.data, &st) != EF_OK) {
            trk__fail_db(e, db, what);
            goto out;
        }
        for (size_t i = 0; i < cnt; i++) {
            const char *v = json_string_value(json_array_get(ids, base + i));
            if (!v) v = "";
            if (as_int) ef_sql_bind_int64(st, (int)i + 1, strtoll(v, NULL, 10));
            else ef_sql_bind_text(st, (int)i + 1, v, strlen(v));
        }
        while ((step = ef_sql_step(st)) == EF_SQL_ROW)
            if (row(st, ctx) != 0) {
                trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
                goto out;
            }
        if (step < 0) {
            trk__fail_db(e, db, what);
            goto out;
        }
        ef_sql_finalize(st);
        st = NULL;
    }
    rc = 0;
out:
    ef_sql_finalize(st);
    ef_buf_release(&sql);
    return rc;
}

int trk__tx_begin(ef_tracking *t, ef_sql **db, trk_err *e)
{
    if (trk__writer(t, db, e) != 0) return -1;
    if (ef_sql_begin(*db) != 0) {
        trk__fail_db(e, *db, "begin");
        trk__release(t, *db);
        *db = NULL;
        return -1;
    }
    return 0;
}

int trk__tx_finish(ef_tracking *t, ef_sql *db, int rc, trk_err *e)
{
    if (db == NULL) return rc;
    if (rc == 0 && ef_sql_commit(db) != 0) rc = trk__fail_db(e, db, "commit");
    if (rc != 0) ef_sql_rollback(db);
    trk__release(t, db);
    return rc;
}

void trk__tx_reply(ef_http_req *r, ef_tracking *t, ef_sql *db, int rc, trk_err *e)
{
    if (trk__tx_finish(t, db, rc, e) != 0) trk__reply_error(r, e);
    else trk__reply(r, json_object());
}
