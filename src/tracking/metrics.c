/* metrics.c - MLflow's metric RPCs: runs/log-metric, runs/log-batch (which also writes the
 * batch's params and tags through run_data.c), metrics/get-history and
 * metrics/get-history-bulk-interval.
 *
 * Storage: every point goes to `metrics` (a repeat of the same (key, timestamp, step, value) is
 * ignored, like MLflow's SQL store) and `latest_metrics` keeps per (run, key) the point with the
 * greatest (step, timestamp, value), first logged wins a tie -- an upsert whose WHERE does the
 * comparison. NaN is stored as value 0 with is_nan = 1 and +-Infinity as +-DBL_MAX, exactly as
 * MLflow stores them. A request is one transaction: a batch lands whole or not at all.
 *
 * log-metric writes its point with two single-row statements (the latest_metrics upsert is
 * skipped when the point was a repeat). log-batch is set-based, because per-point statements
 * cost a PostgreSQL round trip each: the points go in with multi-row INSERTs, and
 * latest_metrics gets one row per distinct key -- the key's greatest point of the batch, found
 * here -- in one multi-row upsert (MLflow's _update_latest_metrics_if_necessary does the same
 * per key). Multi-row statements have a few fixed sizes (chunk_rows), the rows past the data
 * bound to NULL and dropped by the statement's WHERE, so PostgreSQL prepares each text once per
 * session (sql_pg.c caches them) and SQLite and PostgreSQL stay far below their parameter limits
 * (32766 in SQLite's default build, 65535).
 *
 * get-history writes its reply straight from the rows into one buffer (trk_jw), in MLflow's
 * pretty-printed layout, instead of building a jansson value per point.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "tracking/runs_int.h"

#define BULK_MAX_RUNS 100
#define BULK_MAX_RESULTS 2500
#define BULK_MAX_PER_RUN 25000
#define METRIC_COLS 6 /* run_uuid, key, value, timestamp, step, is_nan */

/* Sizes of the multi-row statements; what remains of a batch goes into the smallest one that
 * holds it, or repeatedly into the dialect's largest. PostgreSQL: up to 1024 rows (x 6
 * parameters = 6144), one round trip for a whole batch, each text parsed once per session.
 * SQLite has no round trips but prepares per request, and compiling a statement costs about as
 * much per row as running it: 64-row statements, reused, keep compiling small. */
static const size_t chunk_rows[] = {1, 4, 16, 64, 256, 1024};
#define N_CHUNK_SIZES (sizeof chunk_rows / sizeof chunk_rows[0])
#define SQLITE_CHUNK_SIZES 4 /* up to 64 */

/* --- points ---------------------------------------------------------------------------------- */
typedef struct metric_in {
    const char *key;
    double value; /* as given */
    int64_t timestamp, step;
    double stored; /* as stored: NaN -> 0, +-inf -> +-DBL_MAX */
    int is_nan;
} metric_in;

/* Fills m->stored and m->is_nan from m->value. */
static void metric_normalise(metric_in *m)
{
    m->is_nan = isnan(m->value) ? 1 : 0;
    m->stored = m->is_nan ? 0 : isinf(m->value) ? (m->value > 0 ? DBL_MAX : -DBL_MAX) : m->value;
}

/* 1 when a is a later point than b: (step, timestamp, value) compared in that order. */
static int metric_after(const metric_in *a, const metric_in *b)
{
    if (a->step != b->step) return a->step > b->step;
    if (a->timestamp != b->timestamp) return a->timestamp > b->timestamp;
    return a->stored > b->stored;
}

/* MLflow's _validate_metric (the name, then the timestamp). */
static int metric_check(const metric_in *m, trk_err *e)
{
    if (trk__key_check("metric", "Metric name", m->key, e) != 0) return -1;
    if (m->timestamp < 0)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Got invalid timestamp %" PRId64 " for metric '%s' (value=%g). Timestamp"
                         " must be a nonnegative long (64-bit integer) ", m->timestamp, m->key,
                         m->value);
    return 0;
}

static int bind_point(ef_sql_stmt *st, int base, const char *run_id, size_t idlen,
                      const metric_in *m)
{
    int rc = ef_sql_bind_text(st, base + 1, run_id, idlen);
    if (rc == 0) rc = ef_sql_bind_text(st, base + 2, m->key, strlen(m->key));
    if (rc == 0) rc = ef_sql_bind_double(st, base + 3, m->stored);
    if (rc == 0) rc = ef_sql_bind_int64(st, base + 4, m->timestamp);
    if (rc == 0) rc = ef_sql_bind_int64(st, base + 5, m->step);
    if (rc == 0) rc = ef_sql_bind_int64(st, base + 6, m->is_nan);
    return rc;
}

#define LATEST_UPSERT_TAIL                                                                        \
    " ON CONFLICT(run_uuid, key) DO UPDATE SET value = excluded.value,"                          \
    " timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan"            \
    " WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND"     \
    " (excluded.timestamp > latest_metrics.timestamp OR"                                         \
    " (excluded.timestamp = latest_metrics.timestamp AND excluded.value > latest_metrics.value)))"

/* --- log-metric: one point ------------------------------------------------------------------- */
static int put_one(ef_sql *db, const char *run_id, const metric_in *m, trk_err *e)
{
    ef_sql_stmt *ins = NULL, *latest = NULL;
    size_t idlen = strlen(run_id);
    int rc = -1;

    if (ef_sql_prepare(db, "INSERT INTO metrics(run_uuid, key, value, timestamp, step, is_nan)"
                           " VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", &ins) != 0 ||
        bind_point(ins, 0, run_id, idlen, m) != 0 || ef_sql_step(ins) < 0)
        goto db_fail;
    if (ef_sql_changes(ins) > 0) { /* a repeat changes nothing: latest already knows it */
        if (ef_sql_prepare(db, "INSERT INTO latest_metrics(run_uuid, key, value, timestamp, step,"
                               " is_nan) VALUES(?, ?, ?, ?, ?, ?)" LATEST_UPSERT_TAIL,
                           &latest) != 0 ||
            bind_point(latest, 0, run_id, idlen, m) != 0 || ef_sql_step(latest) < 0)
            goto db_fail;
    }
    rc = 0;
    goto out;
db_fail:
    trk__fail_db(e, db, "log metric");
out:
    ef_sql_finalize(ins);
    ef_sql_finalize(latest);
    return rc;
}

/* runs/log-metric {run_id*, key*, value*, timestamp*, step} */
void trk__h_log_metric(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL;
    metric_in m = {0};
    ef_sql *db = NULL;
    int rc = -1;

    if (trk__run_id(msg, &id, &e) < 0 || trk__str(msg, "key", 1, &m.key, &e) < 0 ||
        trk__double(msg, "value", 1, &m.value, &e) < 0 ||
        trk__int(msg, "timestamp", 1, &m.timestamp, &e) < 0 ||
        trk__int(msg, "step", 0, &m.step, &e) < 0 || metric_check(&m, &e) != 0)
        goto fail;
    metric_normalise(&m);
    if (trk__writer(t, &db, &e) != 0) goto fail;
    if (ef_sql_begin(db) != 0) {
        trk__fail_db(&e, db, "begin");
        goto done;
    }
    if (trk__run_check(db, id, 1, NULL, &e) != 0 || put_one(db, id, &m, &e) != 0) goto done;
    if (ef_sql_commit(db) != 0) {
        trk__fail_db(&e, db, "commit");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) ef_sql_rollback(db);
    trk__release(t, db);
    if (rc != 0) goto fail;
    trk__reply(r, json_object());
    return;
fail:
    trk__reply_error(r, &e);
}

/* --- log-batch: set-based -------------------------------------------------------------------- */

/* The multi-row statement "INSERT INTO <table>(cols) SELECT column1.. FROM (VALUES (?,..) x rows)
 * AS v WHERE column1 IS NOT NULL <tail>" (column1..6 name a VALUES list's columns in both
 * dialects; SQLite needs the WHERE anyway to parse an upsert after INSERT ... SELECT). */
static int prepare_rows(ef_sql *db, const char *table, size_t rows, const char *tail,
                        ef_sql_stmt **out)
{
    ef_buf sql;
    int rc;

    ef_buf_init(&sql);
    rc = ef_buf_reserve(&sql, 256 + rows * 14 + strlen(tail));
    if (rc == EF_OK)
        rc = ef_buf_appendf(&sql, "INSERT INTO %s(run_uuid, key, value, timestamp, step, is_nan)"
                                  " SELECT column1, column2, column3, column4, column5, column6"
                                  " FROM (VALUES ", table);
    for (size_t i = 0; rc == EF_OK && i < rows; i++)
        rc = ef_buf_appends(&sql, i ? ",(?,?,?,?,?,?)" : "(?,?,?,?,?,?)");
    if (rc == EF_OK) rc = ef_buf_appends(&sql, ") AS v WHERE column1 IS NOT NULL");
    if (rc == EF_OK) rc = ef_buf_appends(&sql, tail);
    if (rc == EF_OK) rc = ef_sql_prepare(db, sql.data, out);
    ef_buf_release(&sql);
    return rc;
}

/* Writes the n points of pts (pointers, in request order) with multi-row statements into table
 * (tail: its ON CONFLICT clause). 0 or -1. */
static int put_rows(ef_sql *db, const char *table, const char *tail, const char *run_id,
                    const metric_in *const *pts, size_t n, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    size_t st_rows = 0, idlen = strlen(run_id), done = 0;
    size_t sizes = ef_sql_dialect(db) == EF_SQL_SQLITE ? SQLITE_CHUNK_SIZES : N_CHUNK_SIZES;
    if (getenv("XX_SIZES")) sizes = (size_t)atoi(getenv("XX_SIZES")); /* XXX */
    int rc = -1;

    while (done < n) {
        size_t left = n - done, rows = chunk_rows[sizes - 1];
        for (size_t k = 0; k < sizes; k++)
            if (chunk_rows[k] >= left) {
                rows = chunk_rows[k];
                break;
            }
        if (rows != st_rows) {
            ef_sql_finalize(st);
            st = NULL;
            if (prepare_rows(db, table, rows, tail, &st) != 0) goto db_fail;
            st_rows = rows;
        } else {
            ef_sql_reset(st);
        }
        for (size_t i = 0; i < rows; i++) {
            int base = (int)(i * METRIC_COLS), brc = 0;
            if (done + i < n) {
                brc = bind_point(st, base, run_id, idlen, pts[done + i]);
            } else {
                for (int c = 1; brc == 0 && c <= METRIC_COLS; c++)
                    brc = ef_sql_bind_null(st, base + c);
            }
            if (brc != 0) goto db_fail;
        }
        if (ef_sql_step(st) < 0) goto db_fail;
        done += rows < left ? rows : left;
    }
    rc = 0;
    goto out;
db_fail:
    trk__fail_db(e, db, "log batch");
out:
    ef_sql_finalize(st);
    return rc;
}

static int cmp_key_then_order(const void *a, const void *b)
{
    const metric_in *x = *(const metric_in *const *)a, *y = *(const metric_in *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x > y) - (x < y); /* pointers into one array: request order */
}

/* Writes the batch's nm points: all of them to metrics, then per distinct key its greatest
 * point (the first of equals) to latest_metrics. 0 or -1. */
static int put_batch(ef_sql *db, const char *run_id, const metric_in *ms, size_t nm, trk_err *e)
{
    const metric_in **pts = malloc(nm * sizeof *pts);
    size_t nkeys = 0;
    int rc = -1;

    if (pts == NULL) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    for (size_t i = 0; i < nm; i++)
        pts[i] = &ms[i];
    if (put_rows(db, "metrics", " ON CONFLICT DO NOTHING", run_id, pts, nm, e) != 0) goto out;
    /* group by key (ties in request order), keep each key's greatest point in pts[0..nkeys) */
    qsort(pts, nm, sizeof *pts, cmp_key_then_order);
    for (size_t i = 0; i < nm; i++) {
        if (nkeys > 0 && strcmp(pts[nkeys - 1]->key, pts[i]->key) == 0) {
            if (metric_after(pts[i], pts[nkeys - 1])) pts[nkeys - 1] = pts[i];
        } else {
            pts[nkeys++] = pts[i];
        }
    }
    rc = put_rows(db, "latest_metrics", LATEST_UPSERT_TAIL, run_id, pts, nkeys, e);
out:
    free(pts);
    return rc;
}

static int batch_limit(const char *what, size_t limit, size_t n, trk_err *e)
{
    if (n <= limit) return 0;
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                     "A batch logging request can contain at most %zu %s. Got %zu %s. Please"
                     " split up %s across multiple requests and try again.", limit, what, n, what,
                     what);
}

/* runs/log-batch {run_id*, metrics, params, tags}: validated whole, written in one transaction. */
void trk__h_log_batch(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL;
    const json_t *ml = NULL, *pl = NULL, *tl = NULL;
    json_t *own_m = NULL, *own_p = NULL, *own_t = NULL;
    metric_in *ms = NULL;
    trk_kv *ps = NULL, *ts = NULL;
    size_t nm, np = 0, nt = 0;
    ef_sql *db = NULL;
    int rc = -1;

    if (trk__run_id(msg, &id, &e) < 0 || trk__list(msg, "metrics", &ml, &own_m, &e) < 0 ||
        trk__list(msg, "params", &pl, &own_p, &e) < 0 ||
        trk__list(msg, "tags", &tl, &own_t, &e) < 0)
        goto fail;
    nm = json_array_size(ml);
    ms = nm ? calloc(nm, sizeof *ms) : NULL;
    if (nm && ms == NULL) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nm; i++) {
        const json_t *o = json_array_get(ml, i);
        if (!json_is_object(o)) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for metrics entry");
            goto fail;
        }
        ms[i].key = "";
        if (trk__str(o, "key", 0, &ms[i].key, &e) < 0 ||
            trk__double(o, "value", 0, &ms[i].value, &e) < 0 ||
            trk__int(o, "timestamp", 0, &ms[i].timestamp, &e) < 0 ||
            trk__int(o, "step", 0, &ms[i].step, &e) < 0 || metric_check(&ms[i], &e) != 0)
            goto fail;
        metric_normalise(&ms[i]);
    }
    if (trk__kv_list(pl, "parameter", "Param key", TRK_MAX_PARAM_VAL_LEN, &ps, &np, &e) != 0 ||
        trk__kv_list(tl, "tag", "Tag key", TRK_MAX_TAG_VAL_LEN, &ts, &nt, &e) != 0 ||
        batch_limit("metrics", TRK_MAX_METRICS_PER_BATCH, nm, &e) != 0 ||
        batch_limit("params", TRK_MAX_PARAMS_TAGS_PER_BATCH, np, &e) != 0 ||
        batch_limit("tags", TRK_MAX_PARAMS_TAGS_PER_BATCH, nt, &e) != 0 ||
        batch_limit("metrics, params, and tags", TRK_MAX_ENTITIES_PER_BATCH, nm + np + nt, &e) !=
            0)
        goto fail;
    for (size_t i = 1; i < np; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(ps[i].key, ps[j].key) == 0) {
                trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                          "Duplicate parameter keys have been submitted: ['%s']. Please ensure"
                          " the request contains only one param value per param key.",
                          ps[i].key);
                goto fail;
            }
    if (trk__writer(t, &db, &e) != 0) goto fail;
    if (ef_sql_begin(db) != 0) {
        trk__fail_db(&e, db, "begin");
        goto done;
    }
    if (trk__run_check(db, id, 1, NULL, &e) != 0 || trk__params_put(db, id, ps, np, 0, &e) != 0)
        goto done;
    if (nm > 0 && put_batch(db, id, ms, nm, &e) != 0) goto done;
    if (trk__tags_put(db, id, ts, nt, &e) != 0) goto done;
    if (ef_sql_commit(db) != 0) {
        trk__fail_db(&e, db, "commit");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) ef_sql_rollback(db);
    trk__release(t, db);
    if (rc != 0) goto fail;
    trk__reply(r, json_object());
    goto out;
fail:
    trk__reply_error(r, &e);
out:
    free(ms);
    free(ps);
    free(ts);
    json_decref(own_m);
    json_decref(own_p);
    json_decref(own_t);
}

/* --- histories ------------------------------------------------------------------------------- */

/* One Metric of a history reply from a row (value, timestamp, step, is_nan), with the given key
 * (the rows' own: they were selected by it) and, for the bulk call, run_id. */
static void metric_row(trk_jw *w, const char *key, size_t keylen, ef_sql_stmt *st,
                       const char *run_id)
{
    trk__jw_open(w, NULL, '{');
    trk__jw_str(w, "key", key, keylen);
    trk__jw_metric_value(w, "value", ef_sql_column_double(st, 0), (int)ef_sql_column_int64(st, 3));
    trk__jw_int(w, "timestamp", ef_sql_column_int64(st, 1));
    trk__jw_int(w, "step", ef_sql_column_int64(st, 2));
    if (run_id) trk__jw_str(w, "run_id", run_id, strlen(run_id));
    trk__jw_close(w);
}

/* metrics/get-history {run_id*, metric_key*}: every point, ordered by step, then timestamp
 * (then value). Like 2.12.2, max_results/page_token are accepted and everything is returned in
 * one response; an unknown run has no points ({}). */
void trk__h_get_history(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL, *key = NULL;
    size_t keylen;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    trk_jw w;
    int step;

    trk__jw_init(&w);
    if (trk__run_id(msg, &id, &e) < 0 || trk__str(msg, "metric_key", 1, &key, &e) < 0 ||
        trk__reader(t, &db, &e) != 0)
        goto fail;
    keylen = strlen(key);
    if (ef_sql_prepare(db, "SELECT value, timestamp, step, is_nan FROM metrics"
                           " WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value",
                       &st) != 0 ||
        ef_sql_bind_text(st, 1, id, strlen(id)) != 0 || ef_sql_bind_text(st, 2, key, keylen) != 0)
        goto db_fail;
    trk__jw_open(&w, NULL, '{');
    step = ef_sql_step(st);
    if (step == EF_SQL_ROW) { /* no points: {} (MLflow omits empty repeated fields) */
        trk__jw_open(&w, "metrics", '[');
        for (; step == EF_SQL_ROW && !w.err; step = ef_sql_step(st))
            metric_row(&w, key, keylen, st, NULL);
        trk__jw_close(&w);
    }
    if (step < 0) goto db_fail;
    trk__jw_close(&w);
    ef_sql_finalize(st);
    trk__release(t, db);
    trk__reply_jw(r, &w);
    return;
db_fail:
    trk__fail_db(&e, db, "metric history");
fail:
    ef_sql_finalize(st);
    if (db) trk__release(t, db);
    trk__jw_release(&w);
    trk__reply_error(r, &e);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Adds v to the growable array (*a, *n, *cap). */
static int push_i64(int64_t **a, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        int64_t *p = realloc(*a, nc * sizeof *p);
        if (p == NULL) return -1;
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

/* metrics/get-history-bulk-interval {run_ids* (<= 100), metric_key*, start_step, end_step,
 * max_results (1..2500)}: the points at a sample of at most max_results of the runs' steps
 * (plus each run's first and last step), as MLflow's handler computes it. */
void trk__h_get_history_bulk(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const json_t *ids = NULL;
    json_t *own = NULL;
    const char *key = NULL;
    trk_jw w;
    int64_t start = 0, end = 0, max = BULK_MAX_RESULTS;
    int has_start, has_end, step;
    int64_t *all = NULL, *keep = NULL;
    size_t nall = 0, call = 0, nkeep = 0, ckeep = 0, nids;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    int any = 0;

    trk__jw_init(&w);
    if (json_object_get(msg, "run_ids") == NULL) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Missing value for required parameter 'run_ids'. See the API docs for more"
                  " information about request parameters.");
        goto fail;
    }
    if (trk__list(msg, "run_ids", &ids, &own, &e) < 0 ||
        trk__str(msg, "metric_key", 1, &key, &e) < 0 ||
        (has_start = trk__int(msg, "start_step", 0, &start, &e)) < 0 ||
        (has_end = trk__int(msg, "end_step", 0, &end, &e)) < 0 ||
        trk__int(msg, "max_results", 0, &max, &e) < 0)
        goto fail;
    has_start = has_start == 0;
    has_end = has_end == 0;
    nids = json_array_size(ids);
    if (nids == 0 || nids > BULK_MAX_RUNS) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid value for parameter 'run_ids': between 1 and %d run ids are allowed",
                  BULK_MAX_RUNS);
        goto fail;
    }
    if (max < 1 || max > BULK_MAX_RESULTS) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid value for parameter 'max_results': it must be between 1 and %d",
                  BULK_MAX_RESULTS);
        goto fail;
    }
    if (has_start != has_end) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "If either start step or end step are specified, both must be specified.");
        goto fail;
    }
    if (has_start && start > end) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "end_step must be greater than start_step. Found start_step=%" PRId64
                  " and end_step=%" PRId64 ".", start, end);
        goto fail;
    }
    if (trk__reader(t, &db, &e) != 0) goto fail;
    /* Pass 1: the distinct steps over all runs, and each run's min and max step. */
    for (size_t i = 0; i < nids; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (id == NULL) continue;
        if (ef_sql_prepare(db, "SELECT DISTINCT step FROM metrics WHERE run_uuid = ? AND key = ?"
                               " ORDER BY step", &st) != 0)
            goto db_fail;
        ef_sql_bind_text(st, 1, id, strlen(id));
        ef_sql_bind_text(st, 2, key, strlen(key));
        {
            int64_t first = 0, last = 0;
            int any = 0;
            while ((step = ef_sql_step(st)) == EF_SQL_ROW) {
                int64_t s = ef_sql_column_int64(st, 0);
                if (!any) first = s;
                last = s;
                any = 1;
                if ((!has_start || (s >= start && s <= end)) && push_i64(&all, &nall, &call, s))
                    goto oom;
            }
            if (step < 0) goto db_fail;
            if (any && (!has_start || (first >= start && first <= end)) &&
                push_i64(&keep, &nkeep, &ckeep, first))
                goto oom;
            if (any && (!has_start || (last >= start && last <= end)) &&
                push_i64(&keep, &nkeep, &ckeep, last))
                goto oom;
        }
        ef_sql_finalize(st);
        st = NULL;
    }
    if (nall) qsort(all, nall, sizeof *all, cmp_i64);
    {
        size_t u = 0; /* dedupe */
        for (size_t i = 0; i < nall; i++)
            if (u == 0 || all[u - 1] != all[i]) all[u++] = all[i];
        nall = u;
    }
    if (nall <= (size_t)max) {
        for (size_t i = 0; i < nall; i++)
            if (push_i64(&keep, &nkeep, &ckeep, all[i])) goto oom;
    } else {
        for (int64_t i = 0; i < max; i++)
            if (push_i64(&keep, &nkeep, &ckeep, all[(size_t)((double)i * nall / max)])) goto oom;
    }
    if (nkeep) qsort(keep, nkeep, sizeof *keep, cmp_i64);
    /* Pass 2: the points at the kept steps, per run in request order. */
    trk__jw_open(&w, NULL, '{');
    for (size_t i = 0; i < nids && nkeep > 0; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        size_t got = 0;
        if (id == NULL) continue;
        if (ef_sql_prepare(db, "SELECT value, timestamp, step, is_nan FROM metrics"
                               " WHERE run_uuid = ? AND key = ? AND step >= ? AND step <= ?"
                               " ORDER BY step, timestamp, value", &st) != 0)
            goto db_fail;
        ef_sql_bind_text(st, 1, id, strlen(id));
        ef_sql_bind_text(st, 2, key, strlen(key));
        ef_sql_bind_int64(st, 3, keep[0]);
        ef_sql_bind_int64(st, 4, keep[nkeep - 1]);
        while ((step = ef_sql_step(st)) == EF_SQL_ROW && got < BULK_MAX_PER_RUN) {
            int64_t s = ef_sql_column_int64(st, 2);
            if (bsearch(&s, keep, nkeep, sizeof *keep, cmp_i64) == NULL) continue;
            if (!any) trk__jw_open(&w, "metrics", '[');
            any = 1;
            metric_row(&w, key, strlen(key), st, id);
            if (w.err) goto oom;
            got++;
        }
        if (step < 0) goto db_fail;
        ef_sql_finalize(st);
        st = NULL;
    }
    trk__release(t, db);
    db = NULL;
    if (any) trk__jw_close(&w);
    trk__jw_close(&w);
    trk__reply_jw(r, &w);
    goto out;
oom:
    trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
    goto fail;
db_fail:
    trk__fail_db(&e, db, "metric history");
fail:
    trk__reply_error(r, &e);
out:
    ef_sql_finalize(st);
    if (db) trk__release(t, db);
    json_decref(own);
    trk__jw_release(&w);
    free(all);
    free(keep);
}
