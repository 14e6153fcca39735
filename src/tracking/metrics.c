/* metrics.c - MLflow's metric writes: runs/log-metric and runs/log-batch (which also writes the
 * batch's params and tags through run_data.c). The reads, metrics/get-history and
 * metrics/get-history-bulk-interval, are in metrics_history.c.
 *
 * Storage: every point goes to `metrics` (a repeat of the same (key, timestamp, step, value) is
 * ignored, like MLflow's SQL store) and `latest_metrics` keeps per (run, key) the point with the
 * greatest (step, timestamp, value), first logged wins a tie -- an upsert whose WHERE does the
 * comparison. NaN is stored as value 0 with is_nan = 1 and +-Infinity as +-DBL_MAX, exactly as
 * MLflow stores them. A request is one transaction: a batch lands whole or not at all.
 *
 * log-metric writes its point with two single-row statements (the latest_metrics upsert is
 * skipped when the point was a repeat); on PostgreSQL those and the run check are one statement.
 * log-batch is set-based: per-point statements cost a PostgreSQL round trip each and an SQLite
 * statement step each. The points go in with multi-row INSERTs, then latest_metrics gets one
 * row per distinct key of the batch -- the key's greatest point, found here -- in one multi-row
 * upsert (MLflow's _update_latest_metrics_if_necessary also works per key). How rows travel
 * depends on the dialect:
 *   SQLite      INSERT ... SELECT FROM (VALUES (?1,?2..?6),(?1,?7..?11)..) in a few fixed sizes
 *               (chunk_rows, up to 64 rows = 321 parameters, far below SQLite's 32766), rows past
 *               the data bound to NULL and dropped by the WHERE; sql_sqlite.c keeps the compiled
 *               statements, so a batch of 1000 reuses one 64-row statement 16 times.
 *   PostgreSQL  one statement of 6 parameters whatever the batch size: each column as an array
 *               literal, turned into rows by unnest() -- one round trip, nothing to plan per row.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "tracking/runs_int.h"

#define METRIC_COLS 6 /* run_uuid, key, value, timestamp, step, is_nan */

/* SQLite: sizes of the multi-row statements; what remains of a batch goes into the smallest one
 * that holds it, or repeatedly into the largest. Compiling a statement costs SQLite about as much
 * per row as running it, and statements are prepared per request: 64-row statements, reused,
 * keep that small (1 + 5 x 64 parameters). */
static const size_t chunk_rows[] = {1, 4, 16, 64};
#define N_CHUNK_SIZES (sizeof chunk_rows / sizeof chunk_rows[0])

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
                         " must be a nonnegative long (64-bit integer) ",
                         m->timestamp, m->key, m->value);
    return 0;
}

/* Binds a single-row statement's (run_uuid, key, value, timestamp, step, is_nan). */
static int bind_point(ef_sql_stmt *st, const char *run_id, size_t idlen, const metric_in *m)
{
    int rc = ef_sql_bind_text(st, 1, run_id, idlen);
    if (rc == 0) rc = ef_sql_bind_text(st, 2, m->key, strlen(m->key));
    if (rc == 0) rc = ef_sql_bind_double(st, 3, m->stored);
    if (rc == 0) rc = ef_sql_bind_int64(st, 4, m->timestamp);
    if (rc == 0) rc = ef_sql_bind_int64(st, 5, m->step);
    if (rc == 0) rc = ef_sql_bind_int64(st, 6, m->is_nan);
    return rc;
}

#define LATEST_UPSERT_TAIL                                                                         \
    " ON CONFLICT(run_uuid, key) DO UPDATE SET value = excluded.value,"                            \
    " timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan"              \
    " WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND"       \
    " (excluded.timestamp > latest_metrics.timestamp OR"                                           \
    " (excluded.timestamp = latest_metrics.timestamp AND excluded.value > latest_metrics.value)))"

/* --- log-metric: one point ------------------------------------------------------------------- */
static int put_one(ef_sql *db, const char *run_id, const metric_in *m, trk_err *e)
{
    ef_sql_stmt *ins = NULL, *latest = NULL;
    size_t idlen = strlen(run_id);
    int rc = -1;

    if (ef_sql_prepare(db,
                       "INSERT INTO metrics(run_uuid, key, value, timestamp, step, is_nan)"
                       " VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       &ins) != 0 ||
        bind_point(ins, run_id, idlen, m) != 0 || ef_sql_step(ins) < 0)
        goto db_fail;
    if (ef_sql_changes(ins) > 0) { /* a repeat changes nothing: latest already knows it */
        if (ef_sql_prepare(db,
                           "INSERT INTO latest_metrics(run_uuid, key, value, timestamp, step,"
                           " is_nan) VALUES(?, ?, ?, ?, ?, ?)" LATEST_UPSERT_TAIL,
                           &latest) != 0 ||
            bind_point(latest, run_id, idlen, m) != 0 || ef_sql_step(latest) < 0)
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

/* PostgreSQL: the run check, the point and its latest_metrics upsert as one statement -- atomic
 * by itself, so one round trip instead of five (BEGIN, check, two writes, COMMIT). Data-modifying
 * CTEs always run; each write is conditioned on the one before it. 0 or -1. */
static int put_one_pg(ef_sql *db, const char *run_id, const metric_in *m, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    const char *stage;
    int rc = -1;

    if (ef_sql_prepare(db,
                       "WITH r AS (SELECT lifecycle_stage FROM runs WHERE run_uuid = ?1),"
                       " ins AS (INSERT INTO metrics(run_uuid, key, value, timestamp, step,"
                       " is_nan) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM r"
                       " WHERE lifecycle_stage = 'active') ON CONFLICT DO NOTHING RETURNING 1),"
                       " up AS (INSERT INTO latest_metrics(run_uuid, key, value, timestamp,"
                       " step, is_nan) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1"
                       " FROM ins)" LATEST_UPSERT_TAIL ")"
                       " SELECT (SELECT lifecycle_stage FROM r)",
                       &st) != 0 ||
        bind_point(st, run_id, strlen(run_id), m) != 0 || ef_sql_step(st) != EF_SQL_ROW) {
        trk__fail_db(e, db, "log metric");
        goto out;
    }
    stage = ef_sql_column_text(st, 0, NULL);
    if (stage == NULL)
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
    else if (strcmp(stage, "active") != 0)
        trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                  "The run %s must be in the 'active' state. Current state is %s.", run_id, stage);
    else
        rc = 0;
out:
    ef_sql_finalize(st);
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
    if (t->dialect == EF_SQL_POSTGRES) {
        if (trk__writer(t, &db, &e) != 0) goto fail;
        rc = put_one_pg(db, id, &m, &e);
        trk__release(t, db);
        if (rc != 0) goto fail;
        trk__reply(r, json_object());
        return;
    }
    if (trk__tx_begin(t, &db, &e) == 0 && trk__run_check(db, id, 1, NULL, &e) == 0 &&
        put_one(db, id, &m, &e) == 0)
        rc = 0;
    trk__tx_reply(r, t, db, rc, &e);
    return;
fail:
    trk__reply_error(r, &e);
}

/* --- log-batch: set-based -------------------------------------------------------------------- */

/* The multi-row statement "INSERT INTO <table>(cols) SELECT column1.. FROM (VALUES (?1,?2,..,?6),
 * (?1,?7,..,?11) .. x rows) AS v WHERE column2 IS NOT NULL <tail>": ?1 is the run id, then 5
 * parameters a row (column1..6 name a VALUES list's columns in both dialects; SQLite needs the
 * WHERE anyway to parse an upsert after INSERT ... SELECT). */
static int prepare_rows(ef_sql *db, const char *table, size_t rows, const char *tail,
                        ef_sql_stmt **out)
{
    ef_buf sql;
    int rc;

    ef_buf_init(&sql);
    rc = ef_buf_reserve(&sql, 256 + rows * 40 + strlen(tail));
    if (rc == EF_OK)
        rc = ef_buf_appendf(&sql,
                            "INSERT INTO %s(run_uuid, key, value, timestamp, step, is_nan)"
                            " SELECT column1, column2, column3, column4, column5, column6"
                            " FROM (VALUES ",
                            table);
    for (size_t i = 0; rc == EF_OK && i < rows; i++) {
        size_t p = 2 + i * (METRIC_COLS - 1);
        rc = ef_buf_appendf(&sql, "%s(?1,?%zu,?%zu,?%zu,?%zu,?%zu)", i ? "," : "", p, p + 1, p + 2,
                            p + 3, p + 4);
    }
    if (rc == EF_OK) rc = ef_buf_appends(&sql, ") AS v WHERE column2 IS NOT NULL");
    if (rc == EF_OK) rc = ef_buf_appends(&sql, tail);
    if (rc == EF_OK) rc = ef_sql_prepare(db, sql.data, out);
    ef_buf_release(&sql);
    return rc;
}

/* Binds row i of a prepare_rows statement: point m, or NULLs (a padding row) when m is NULL. */
static int bind_row(ef_sql_stmt *st, size_t i, const metric_in *m)
{
    int p = (int)(2 + i * (METRIC_COLS - 1)), rc;

    if (m == NULL) {
        rc = 0;
        for (int c = 0; rc == 0 && c < METRIC_COLS - 1; c++)
            rc = ef_sql_bind_null(st, p + c);
        return rc;
    }
    rc = ef_sql_bind_text(st, p, m->key, strlen(m->key));
    if (rc == 0) rc = ef_sql_bind_double(st, p + 1, m->stored);
    if (rc == 0) rc = ef_sql_bind_int64(st, p + 2, m->timestamp);
    if (rc == 0) rc = ef_sql_bind_int64(st, p + 3, m->step);
    if (rc == 0) rc = ef_sql_bind_int64(st, p + 4, m->is_nan);
    return rc;
}

/* SQLite: writes the n points of pts (pointers, in request order) with multi-row statements into
 * table (tail: its ON CONFLICT clause). 0 or -1. */
static int put_rows_sqlite(ef_sql *db, const char *table, const char *tail, const char *run_id,
                           const metric_in *const *pts, size_t n, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    size_t st_rows = 0, done = 0;
    int rc = -1;

    while (done < n) {
        size_t left = n - done, rows = chunk_rows[N_CHUNK_SIZES - 1];
        for (size_t k = 0; k < N_CHUNK_SIZES; k++)
            if (chunk_rows[k] >= left) {
                rows = chunk_rows[k];
                break;
            }
        if (rows != st_rows) {
            ef_sql_finalize(st);
            st = NULL;
            if (prepare_rows(db, table, rows, tail, &st) != 0 ||
                ef_sql_bind_text(st, 1, run_id, strlen(run_id)) != 0)
                goto db_fail;
            st_rows = rows;
        } else {
            ef_sql_reset(st); /* clears the bindings too */
            if (ef_sql_bind_text(st, 1, run_id, strlen(run_id)) != 0) goto db_fail;
        }
        for (size_t i = 0; i < rows; i++)
            if (bind_row(st, i, done + i < n ? pts[done + i] : NULL) != 0) goto db_fail;
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

/* Appends s as the next element of the array literal being built in b (which holds "{..."). */
static int array_text(ef_buf *b, const char *s)
{
    int rc = b->len > 1 ? ef_buf_appendc(b, ',') : EF_OK;
    if (rc == EF_OK) rc = ef_buf_appendc(b, '"');
    for (; rc == EF_OK && *s; s++) {
        if (*s == '"' || *s == '\\') rc = ef_buf_appendc(b, '\\');
        if (rc == EF_OK) rc = ef_buf_appendc(b, *s);
    }
    return rc == EF_OK ? ef_buf_appendc(b, '"') : rc;
}

/* PostgreSQL: writes the n points of pts into table (tail: its ON CONFLICT clause) with one
 * statement of 6 parameters whatever n: the columns travel as array literals and unnest()
 * turns them into rows, in order. One short text (prepared once per session), no per-row
 * parameters for the server to parse and plan. Doubles as "%.17g" read back exactly. 0 or -1. */
static int put_rows_pg(ef_sql *db, const char *table, const char *tail, const char *run_id,
                       const metric_in *const *pts, size_t n, trk_err *e)
{
    ef_buf sql, col[5];
    ef_sql_stmt *st = NULL;
    int rc = EF_OK, ret = -1;

    ef_buf_init(&sql);
    for (int c = 0; c < 5; c++) {
        ef_buf_init(&col[c]);
        if (rc == EF_OK) rc = ef_buf_reserve(&col[c], n * (c == 1 ? 25 : 12) + 16);
        if (rc == EF_OK) rc = ef_buf_appendc(&col[c], '{');
    }
    for (size_t i = 0; rc == EF_OK && i < n; i++) {
        const char *sep = i ? "," : "";
        rc = array_text(&col[0], pts[i]->key);
        if (rc == EF_OK) rc = ef_buf_appendf(&col[1], "%s%.17g", sep, pts[i]->stored);
        if (rc == EF_OK) rc = ef_buf_appendf(&col[2], "%s%" PRId64, sep, pts[i]->timestamp);
        if (rc == EF_OK) rc = ef_buf_appendf(&col[3], "%s%" PRId64, sep, pts[i]->step);
        if (rc == EF_OK) rc = ef_buf_appendf(&col[4], "%s%d", sep, pts[i]->is_nan);
    }
    for (int c = 0; rc == EF_OK && c < 5; c++)
        rc = ef_buf_appendc(&col[c], '}');
    if (rc == EF_OK)
        rc = ef_buf_appendf(&sql,
                            "INSERT INTO %s(run_uuid, key, value, timestamp, step, is_nan)"
                            " SELECT ?, u.k, u.v, u.t, u.s, u.n FROM unnest(?::text[],"
                            " ?::float8[], ?::int8[], ?::int8[], ?::int4[]) AS u(k, v, t, s, n)"
                            "%s",
                            table, tail);
    if (rc != EF_OK) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    if (ef_sql_prepare(db, sql.data, &st) != 0 ||
        ef_sql_bind_text(st, 1, run_id, strlen(run_id)) != 0)
        goto db_fail;
    for (int c = 0; c < 5; c++)
        if (ef_sql_bind_text(st, 2 + c, col[c].data, col[c].len) != 0) goto db_fail;
    if (ef_sql_step(st) < 0) goto db_fail;
    ret = 0;
    goto out;
db_fail:
    trk__fail_db(e, db, "log batch");
out:
    ef_sql_finalize(st);
    ef_buf_release(&sql);
    for (int c = 0; c < 5; c++)
        ef_buf_release(&col[c]);
    return ret;
}

static int put_rows(ef_sql *db, const char *table, const char *tail, const char *run_id,
                    const metric_in *const *pts, size_t n, trk_err *e)
{
    if (n == 0) return 0;
    if (ef_sql_dialect(db) == EF_SQL_POSTGRES)
        return put_rows_pg(db, table, tail, run_id, pts, n, e);
    return put_rows_sqlite(db, table, tail, run_id, pts, n, e);
}

/* FNV-1a of a key, for grouping a batch's points by key. */
static uint32_t key_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Writes the batch's nm points: all of them to metrics, then per distinct key its greatest
 * point (the first of equals) to latest_metrics. 0 or -1. */
static int put_batch(ef_sql *db, const char *run_id, const metric_in *ms, size_t nm, trk_err *e)
{
    size_t cap = 16, nkeys = 0; /* cap: a power of two >= 2 nm */
    const metric_in **pts = NULL, **slot = NULL;
    int rc = -1;

    while (cap < 2 * nm)
        cap *= 2;
    pts = malloc(nm * sizeof *pts);
    slot = calloc(cap, sizeof *slot); /* open addressing: each key's greatest point so far */
    if (pts == NULL || slot == NULL) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nm; i++)
        pts[i] = &ms[i];
    if (put_rows(db, "metrics", " ON CONFLICT DO NOTHING", run_id, pts, nm, e) != 0) goto out;
    for (size_t i = 0; i < nm; i++) {
        size_t h = key_hash(ms[i].key) & (cap - 1);
        while (slot[h] != NULL && strcmp(slot[h]->key, ms[i].key) != 0)
            h = (h + 1) & (cap - 1);
        if (slot[h] == NULL || metric_after(&ms[i], slot[h])) slot[h] = &ms[i];
    }
    nkeys = 0;
    for (size_t h = 0; h < cap; h++) /* order of the hash: the rows are independent */
        if (slot[h] != NULL) pts[nkeys++] = slot[h];
    rc = put_rows(db, "latest_metrics", LATEST_UPSERT_TAIL, run_id, pts, nkeys, e);
out:
    free(pts);
    free(slot);
    return rc;
}

static int batch_limit(const char *what, size_t limit, size_t n, trk_err *e)
{
    if (n <= limit) return 0;
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                     "A batch logging request can contain at most %zu %s. Got %zu %s. Please"
                     " split up %s across multiple requests and try again.",
                     limit, what, n, what, what);
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
        goto done;
    nm = json_array_size(ml);
    ms = nm ? calloc(nm, sizeof *ms) : NULL;
    if (nm && ms == NULL) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nm; i++) {
        const json_t *o = json_array_get(ml, i);
        if (!json_is_object(o)) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for metrics entry");
            goto done;
        }
        ms[i].key = "";
        if (trk__str(o, "key", 0, &ms[i].key, &e) < 0 ||
            trk__double(o, "value", 0, &ms[i].value, &e) < 0 ||
            trk__int(o, "timestamp", 0, &ms[i].timestamp, &e) < 0 ||
            trk__int(o, "step", 0, &ms[i].step, &e) < 0 || metric_check(&ms[i], &e) != 0)
            goto done;
        metric_normalise(&ms[i]);
    }
    if (trk__kv_list(pl, "parameter", "Param key", TRK_MAX_PARAM_VAL_LEN, &ps, &np, &e) != 0 ||
        trk__kv_list(tl, "tag", "Tag key", TRK_MAX_TAG_VAL_LEN, &ts, &nt, &e) != 0 ||
        batch_limit("metrics", TRK_MAX_METRICS_PER_BATCH, nm, &e) != 0 ||
        batch_limit("params", TRK_MAX_PARAMS_TAGS_PER_BATCH, np, &e) != 0 ||
        batch_limit("tags", TRK_MAX_PARAMS_TAGS_PER_BATCH, nt, &e) != 0 ||
        batch_limit("metrics, params, and tags", TRK_MAX_ENTITIES_PER_BATCH, nm + np + nt, &e) != 0)
        goto done;
    for (size_t i = 1; i < np; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(ps[i].key, ps[j].key) == 0) {
                trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                          "Duplicate parameter keys have been submitted: ['%s']. Please ensure"
                          " the request contains only one param value per param key.",
                          ps[i].key);
                goto done;
            }
    if (trk__tx_begin(t, &db, &e) == 0 && trk__run_check(db, id, 1, NULL, &e) == 0 &&
        trk__params_put(db, id, ps, np, 0, &e) == 0 &&
        (nm == 0 || put_batch(db, id, ms, nm, &e) == 0) && trk__tags_put(db, id, ts, nt, &e) == 0)
        rc = 0;
done:
    trk__tx_reply(r, t, db, rc, &e);
    free(ms);
    free(ps);
    free(ts);
    json_decref(own_m);
    json_decref(own_p);
    json_decref(own_t);
}
