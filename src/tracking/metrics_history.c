/* metrics_history.c - MLflow's metric reads: metrics/get-history and
 * metrics/get-history-bulk-interval. metrics.c owns the writes and describes how points are
 * stored (`metrics`, NaN as 0 with is_nan = 1, +-Infinity as +-DBL_MAX); both share runs_int.h.
 *
 * get-history writes its reply straight from the rows with a trk_jw writer, in MLflow's
 * pretty-printed layout, instead of building a jansson value per point: into one buffer for up to
 * STREAM_MIN_POINTS points, else streamed (ef_http_reply_stream) a piece at a time -- the stream
 * owns the reader connection and the statement until the client has the last byte.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "tracking/runs_int.h"

#define BULK_MAX_RUNS 100
#define BULK_MAX_RESULTS 2500
#define BULK_MAX_PER_RUN 25000

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

/* Reserves room for the whole history reply in w up front, from the number of points (an
 * index-only count) and a per-point upper bound: one allocation of which only the written part
 * is ever touched, instead of a buffer doubling as it fills. A hint only: a point logged meanwhile
 * just makes the buffer grow. Longer histories are streamed and reserve nothing. *count: the
 * number of points. 0 or -1 (e). */
#define STREAM_MIN_POINTS 4096        /* more points: the reply is streamed, not presized */
#define STREAM_PIECE ((size_t)8 << 10) /* text written per refill of a stream's buffer */
static int presize(ef_sql *db, trk_jw *w, const char *id, const char *key, size_t keylen,
                   size_t *count, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    trk_jw k;
    size_t per_point, n;
    int rc = -1;

    if (ef_sql_prepare(db, "SELECT COUNT(*) FROM metrics WHERE run_uuid = ? AND key = ?", &st) !=
            0 ||
        ef_sql_bind_text(st, 1, id, strlen(id)) != 0 || ef_sql_bind_text(st, 2, key, keylen) != 0 ||
        ef_sql_step(st) != EF_SQL_ROW) {
        trk__fail_db(e, db, "metric history");
        goto out;
    }
    *count = n = (size_t)ef_sql_column_int64(st, 0);
    /* per point: 81 bytes of indentation, punctuation and names, the key as written, a real
     * (<= 24 bytes), two int64 (<= 20 each) */
    trk__jw_init(&k);
    trk__jw_str(&k, NULL, key, keylen);
    per_point = 81 + k.b.len + 24 + 20 + 20;
    trk__jw_release(&k);
    rc = 0;
    if (n > 0 && n <= STREAM_MIN_POINTS && ef_buf_reserve(&w->b, 32 + n * per_point) != EF_OK)
        rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    ef_sql_finalize(st);
    return rc;
}

/* A history being streamed: st stands on the next row to write (state 0) until the rows are
 * done (state 1); w.b holds text of which `sent` bytes are out. */
typedef struct history_stream {
    ef_tracking *t;
    ef_sql *db;
    ef_sql_stmt *st;
    char *key;
    size_t keylen, sent;
    int state;
    trk_jw w;
} history_stream;

static ssize_t history_fill(void *ctx, char *buf, size_t max)
{
    history_stream *hs = ctx;
    size_t n = 0;
    trk_err e;
    while (n < max) {
        if (hs->sent == hs->w.b.len) {
            int step = EF_SQL_ROW;
            if (hs->state) break;
            ef_buf_clear(&hs->w.b);
            hs->sent = 0;
            while (step == EF_SQL_ROW && hs->w.b.len < STREAM_PIECE && !hs->w.err) {
                metric_row(&hs->w, hs->key, hs->keylen, hs->st, NULL);
                step = ef_sql_step(hs->st);
            }
            if (step < 0) {
                trk__fail_db(&e, hs->db, "metric history (streamed)");
                return -1;
            }
            if (step == EF_SQL_DONE) {
                trk__jw_close(&hs->w);
                trk__jw_close(&hs->w);
                hs->state = 1;
            }
            if (hs->w.err) return -1;
        }
        size_t k = hs->w.b.len - hs->sent < max - n ? hs->w.b.len - hs->sent : max - n;
        memcpy(buf + n, hs->w.b.data + hs->sent, k);
        n += k;
        hs->sent += k;
    }
    return (ssize_t)n;
}

static void history_done(void *ctx)
{
    history_stream *hs = ctx;
    ef_sql_finalize(hs->st);
    trk__release(hs->t, hs->db);
    trk__jw_release(&hs->w);
    free(hs->key);
    free(hs);
}

/* Hands the history over to a stream: st on its first row, w holding the text before it. Takes
 * db, st and w whatever happens. */
static void history_stream_reply(ef_http_req *r, ef_tracking *t, ef_sql *db, ef_sql_stmt *st,
                                 trk_jw *w, const char *key, size_t keylen)
{
    history_stream *hs = calloc(1, sizeof *hs);
    trk_err e;
    if (!hs || !(hs->key = strndup(key, keylen))) {
        free(hs);
        ef_sql_finalize(st);
        trk__release(t, db);
        trk__jw_release(w);
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        trk__reply_error(r, &e);
        return;
    }
    *hs = (history_stream){t, db, st, hs->key, keylen, 0, 0, *w};
    ef_http_reply_stream(r, 200, "application/json", history_fill, history_done, hs);
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
    size_t count = 0;

    trk__jw_init(&w);
    if (trk__run_id(msg, &id, &e) < 0 || trk__str(msg, "metric_key", 1, &key, &e) < 0 ||
        trk__reader(t, &db, &e) != 0)
        goto fail;
    keylen = strlen(key);
    if (presize(db, &w, id, key, keylen, &count, &e) != 0) goto fail;
    if (ef_sql_prepare(db,
                       "SELECT value, timestamp, step, is_nan FROM metrics"
                       " WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value",
                       &st) != 0 ||
        ef_sql_bind_text(st, 1, id, strlen(id)) != 0 || ef_sql_bind_text(st, 2, key, keylen) != 0)
        goto db_fail;
    trk__jw_open(&w, NULL, '{');
    step = ef_sql_step(st);
    if (step == EF_SQL_ROW) { /* no points: {} (MLflow omits empty repeated fields) */
        trk__jw_open(&w, "metrics", '[');
        if (count > STREAM_MIN_POINTS && !w.err) {
            history_stream_reply(r, t, db, st, &w, key, keylen);
            return;
        }
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
                  " and end_step=%" PRId64 ".",
                  start, end);
        goto fail;
    }
    if (trk__reader(t, &db, &e) != 0) goto fail;
    /* Pass 1: the distinct steps over all runs, and each run's min and max step. */
    for (size_t i = 0; i < nids; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (id == NULL) continue;
        if (ef_sql_prepare(db,
                           "SELECT DISTINCT step FROM metrics WHERE run_uuid = ? AND key = ?"
                           " ORDER BY step",
                           &st) != 0)
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
        if (ef_sql_prepare(db,
                           "SELECT value, timestamp, step, is_nan FROM metrics"
                           " WHERE run_uuid = ? AND key = ? AND step >= ? AND step <= ?"
                           " ORDER BY step, timestamp, value",
                           &st) != 0)
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
