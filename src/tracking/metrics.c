/* metrics.c - the writes of run data for MLflow's tracking RPCs: MLflow's key rules and value
 * truncation (validation.py), params (immutable once set), tags, dataset inputs, logged models,
 * and the metric RPCs: runs/log-metric, runs/log-batch, metrics/get-history,
 * metrics/get-history-bulk-interval.
 *
 * Metrics: every point goes to `metrics` (a repeat of the same (key, timestamp, step, value) is
 * ignored, like MLflow's SQL store) and, when new, `latest_metrics` keeps per (run, key) the point
 * with the greatest (step, timestamp, value) -- one upsert whose WHERE does the comparison, so a
 * point costs two statement steps on statements prepared once per request. NaN is stored as
 * value 0 with is_nan = 1 and +-Infinity as +-DBL_MAX, exactly as MLflow stores them.
 * A log-batch is one transaction: it lands whole or not at all.
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

#define LOGGED_MODELS_TAG "mlflow.log-model.history"
#define BULK_MAX_RUNS 100
#define BULK_MAX_RESULTS 2500
#define BULK_MAX_PER_RUN 25000

/* --- names and values ------------------------------------------------------------------------ */
size_t trk__utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

/* Bytes of the first max_chars characters of s. */
static size_t utf8_prefix(const char *s, size_t max_chars)
{
    size_t i = 0, chars = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == max_chars) break;
            chars++;
        }
    }
    return i;
}

/* posixpath.normpath(name) into out. */
static void normpath(const char *p, ef_buf *out)
{
    int lead = 0;
    size_t base;

    if (*p == '/') lead = (p[1] == '/' && p[2] != '/') ? 2 : 1;
    for (int i = 0; i < lead; i++) ef_buf_appendc(out, '/');
    base = out->len;
    while (*p) {
        const char *q = p;
        size_t n;
        while (*q && *q != '/') q++;
        n = (size_t)(q - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            const char *last = out->len > base ? strrchr(out->data + base, '/') : NULL;
            const char *comp = last ? last + 1 : (out->len > base ? out->data + base : NULL);
            if (comp != NULL && strcmp(comp, "..") != 0) {
                out->len = last ? (size_t)(last - out->data) : base;
                out->data[out->len] = '\0';
            } else if (lead == 0) {
                ef_buf_appends(out, out->len > base ? "/.." : "..");
            }
        } else {
            if (out->len > base) ef_buf_appendc(out, '/');
            ef_buf_append(out, p, n);
        }
        p = *q ? q + 1 : q;
    }
    if (out->len == 0) ef_buf_appendc(out, '.');
}

int trk__key_check(const char *kind, const char *what, const char *key, trk_err *e)
{
    size_t n;
    ef_buf norm;
    int bad;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p >= 0x80 || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
            (*p >= 'A' && *p <= 'Z') || strchr("_/.- ", *p) != NULL)
            continue;
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Invalid %s name: '%s'. Names may only contain alphanumerics,"
                         " underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).",
                         kind, key);
    }
    ef_buf_init(&norm);
    normpath(key, &norm);
    bad = norm.data == NULL || strcmp(norm.data, key) != 0 || strcmp(norm.data, ".") == 0 ||
          strncmp(norm.data, "..", 2) == 0 || norm.data[0] == '/';
    if (bad) {
        trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid %s name: '%s'. Names may be treated as files in certain cases, and"
                  " must not resolve to other names when treated as such. This name would"
                  " resolve to '%s'", kind, key, norm.data ? norm.data : ".");
        ef_buf_release(&norm);
        return -1;
    }
    ef_buf_release(&norm);
    n = trk__utf8_chars(key);
    if (n > TRK_MAX_KEY_LEN)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "%s '%.*s' had length %zu, which exceeded length limit of %d", what,
                         (int)utf8_prefix(key, 250), key, n, TRK_MAX_KEY_LEN);
    return 0;
}

int trk__kv_prepare(const char *kind, const char *what, size_t max_chars, trk_kv *kv, trk_err *e)
{
    if (kv->key == NULL) kv->key = "";
    if (kv->value == NULL) kv->value = "";
    if (trk__key_check(kind, what, kv->key, e) != 0) return -1;
    kv->value_len = utf8_prefix(kv->value, max_chars);
    return 0;
}

int trk__list(const json_t *msg, const char *field, const json_t **out, json_t **owned,
              trk_err *e)
{
    const json_t *v = json_object_get(msg, field);

    *owned = NULL;
    if (json_is_array(v)) {
        *out = v;
        return 0;
    }
    *owned = json_array();
    if (*owned == NULL) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    *out = *owned;
    if (v == NULL || json_is_null(v)) return 0;
    if (!json_is_string(v) && !json_is_object(v))
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter '%s'",
                         field);
    json_array_append(*owned, (json_t *)v);
    return 0;
}

/* Python's repr() of a str, as MLflow's messages show values inside lists. */
static void py_repr(ef_buf *b, const char *s)
{
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    ef_buf_appendc(b, q);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == (unsigned char)q) ef_buf_appendc(b, '\\'), ef_buf_appendc(b, *s);
        else if (c == '\n') ef_buf_appends(b, "\\n");
        else if (c == '\r') ef_buf_appends(b, "\\r");
        else if (c == '\t') ef_buf_appends(b, "\\t");
        else if (c < 0x20 || c == 0x7f) ef_buf_appendf(b, "\\x%02x", c);
        else ef_buf_appendc(b, *s);
    }
    ef_buf_appendc(b, q);
}

int trk__params_put(ef_sql *db, const char *run_id, const trk_kv *kv, size_t n, int single,
                    trk_err *e)
{
    ef_sql_stmt *ins = NULL, *sel = NULL;
    ef_buf bad;
    size_t nbad = 0;
    int rc = -1;

    ef_buf_init(&bad);
    if (n == 0) return 0;
    if (ef_sql_prepare(db, "INSERT INTO params(run_uuid, key, value) VALUES(?, ?, ?)"
                           " ON CONFLICT(run_uuid, key) DO NOTHING",
                       &ins) != 0 ||
        ef_sql_prepare(db, "SELECT value FROM params WHERE run_uuid = ? AND key = ?", &sel) != 0) {
        trk__fail_db(e, db, "params");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *old;
        size_t oldlen;
        ef_sql_reset(ins);
        ef_sql_bind_text(ins, 1, run_id, strlen(run_id));
        ef_sql_bind_text(ins, 2, kv[i].key, strlen(kv[i].key));
        ef_sql_bind_text(ins, 3, kv[i].value, kv[i].value_len);
        if (ef_sql_step(ins) < 0) {
            trk__fail_db(e, db, "log param");
            goto out;
        }
        if (ef_sql_changes(ins) > 0) continue;
        ef_sql_reset(sel);
        ef_sql_bind_text(sel, 1, run_id, strlen(run_id));
        ef_sql_bind_text(sel, 2, kv[i].key, strlen(kv[i].key));
        if (ef_sql_step(sel) != EF_SQL_ROW) {
            trk__fail_db(e, db, "log param");
            goto out;
        }
        old = ef_sql_column_text(sel, 0, &oldlen);
        if (old != NULL && oldlen == kv[i].value_len && memcmp(old, kv[i].value, oldlen) == 0)
            continue;
        if (single) {
            trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                      "Changing param values is not allowed. Param with key='%s' was already"
                      " logged with value='%s' for run ID='%s'. Attempted logging new value"
                      " '%.*s'.", kv[i].key, old ? old : "", run_id, (int)kv[i].value_len,
                      kv[i].value);
            goto out;
        }
        ef_buf_appends(&bad, nbad++ ? ", {'key': " : "[{'key': ");
        py_repr(&bad, kv[i].key);
        ef_buf_appends(&bad, ", 'old_value': ");
        py_repr(&bad, old ? old : "");
        ef_buf_appends(&bad, ", 'new_value': ");
        {
            char *nv = strndup(kv[i].value, kv[i].value_len);
            py_repr(&bad, nv ? nv : "");
            free(nv);
        }
        ef_buf_appendc(&bad, '}');
    }
    if (nbad > 0) {
        ef_buf_appendc(&bad, ']');
        trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                  "Changing param values is not allowed. Params were already logged='%.700s' for"
                  " run ID='%s'.", bad.data ? bad.data : "", run_id);
        goto out;
    }
    rc = 0;
out:
    ef_sql_finalize(ins);
    ef_sql_finalize(sel);
    ef_buf_release(&bad);
    return rc;
}

int trk__tags_put(ef_sql *db, const char *run_id, const trk_kv *kv, size_t n, trk_err *e)
{
    ef_sql_stmt *up = NULL, *name = NULL;
    int rc = -1;

    if (n == 0) return 0;
    if (ef_sql_prepare(db, "INSERT INTO tags(run_uuid, key, value) VALUES(?, ?, ?)"
                           " ON CONFLICT(run_uuid, key) DO UPDATE SET value = excluded.value",
                       &up) != 0) {
        trk__fail_db(e, db, "tags");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ef_sql_reset(up);
        ef_sql_bind_text(up, 1, run_id, strlen(run_id));
        ef_sql_bind_text(up, 2, kv[i].key, strlen(kv[i].key));
        ef_sql_bind_text(up, 3, kv[i].value, kv[i].value_len);
        if (ef_sql_step(up) < 0) {
            trk__fail_db(e, db, "set tag");
            goto out;
        }
        if (strcmp(kv[i].key, TRK_RUN_NAME_TAG) != 0) continue;
        if (name == NULL &&
            ef_sql_prepare(db, "UPDATE runs SET name = ? WHERE run_uuid = ?", &name) != 0) {
            trk__fail_db(e, db, "run name");
            goto out;
        }
        ef_sql_reset(name);
        ef_sql_bind_text(name, 1, kv[i].value, kv[i].value_len);
        ef_sql_bind_text(name, 2, run_id, strlen(run_id));
        if (ef_sql_step(name) < 0) {
            trk__fail_db(e, db, "run name");
            goto out;
        }
    }
    rc = 0;
out:
    ef_sql_finalize(up);
    ef_sql_finalize(name);
    return rc;
}

/* Reads a list of {key, value} objects into kv (malloc'd, *n entries), validated for kind. */
int trk__kv_list(const json_t *list, const char *kind, const char *what, size_t max_chars,
                   trk_kv **out, size_t *n, trk_err *e)
{
    size_t cnt = json_array_size(list);
    trk_kv *kv = cnt ? calloc(cnt, sizeof *kv) : NULL;

    *out = NULL;
    *n = 0;
    if (cnt && kv == NULL) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const json_t *o = json_array_get(list, i), *v;
        if (!json_is_object(o)) {
            free(kv);
            return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for %s entry", kind);
        }
        kv[i].key = json_string_value(json_object_get(o, "key"));
        v = json_object_get(o, "value");
        kv[i].value = json_string_value(v);
        if ((v != NULL && !json_is_string(v) && !json_is_null(v)) ||
            trk__kv_prepare(kind, what, max_chars, &kv[i], e) != 0) {
            if (v != NULL && !json_is_string(v) && !json_is_null(v))
                trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for %s value", kind);
            free(kv);
            return -1;
        }
    }
    *out = kv;
    *n = cnt;
    return 0;
}
/* runs/log-inputs: datasets are per experiment (name, digest) and shared by runs; an input links
 * a dataset to the run once, with its tags. */
int trk__log_inputs(ef_sql *db, const char *run_id, int64_t eid, const json_t *list,
                      trk_err *e)
{
    static const char *const f[] = {"name", "digest", "source_type", "source", "schema",
                                    "profile"};
    static const size_t lim[] = {500, 36, 0, 65535, 1048575, 16777215};
    ef_sql_stmt *st = NULL;
    int rc = -1;

    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *di = json_array_get(list, i), *ds = json_object_get(di, "dataset");
        const json_t *tags = json_object_get(di, "tags");
        const char *v[6];
        char duuid[33], iuuid[33];
        int step;

        if (!json_is_object(ds)) {
            trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Dataset cannot be None.");
            goto out;
        }
        for (int k = 0; k < 6; k++) {
            v[k] = json_string_value(json_object_get(ds, f[k]));
            if (v[k] == NULL && k < 4) {
                trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                          "Missing value for required parameter 'datasets[%zu].dataset.%s'", i,
                          f[k]);
                goto out;
            }
            if (v[k] && lim[k] && strlen(v[k]) > lim[k]) {
                trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                          "Dataset %s exceeds the maximum length of %zu", f[k], lim[k]);
                goto out;
            }
        }
        for (size_t k = 0; k < json_array_size(tags); k++) {
            const json_t *tg = json_array_get(tags, k);
            const char *tk = json_string_value(json_object_get(tg, "key"));
            const char *tv = json_string_value(json_object_get(tg, "value"));
            if (tk == NULL || tv == NULL || strlen(tk) > 255 || strlen(tv) > 500) {
                trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                          "Invalid input tag: key and value are required (at most 255 and 500"
                          " characters)");
                goto out;
            }
        }
        if (ef_sql_prepare(db, "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND"
                               " name = ? AND digest = ?", &st) != 0)
            goto db_fail;
        ef_sql_bind_int64(st, 1, eid);
        ef_sql_bind_text(st, 2, v[0], strlen(v[0]));
        ef_sql_bind_text(st, 3, v[1], strlen(v[1]));
        step = ef_sql_step(st);
        if (step < 0) goto db_fail;
        if (step == EF_SQL_ROW) {
            snprintf(duuid, sizeof duuid, "%s", ef_sql_column_text(st, 0, NULL));
        } else {
            ef_sql_finalize(st);
            st = NULL;
            trk__uuid_hex(duuid);
            if (ef_sql_prepare(db, "INSERT INTO datasets(dataset_uuid, experiment_id, name,"
                                   " digest, dataset_source_type, dataset_source, dataset_schema,"
                                   " dataset_profile) VALUES(?,?,?,?,?,?,?,?)", &st) != 0)
                goto db_fail;
            ef_sql_bind_text(st, 1, duuid, 32);
            ef_sql_bind_int64(st, 2, eid);
            for (int k = 0; k < 6; k++) {
                if (v[k]) ef_sql_bind_text(st, 3 + k, v[k], strlen(v[k]));
                else ef_sql_bind_null(st, 3 + k);
            }
            if (ef_sql_step(st) < 0) goto db_fail;
        }
        ef_sql_finalize(st);
        st = NULL;
        if (ef_sql_prepare(db, "SELECT input_uuid FROM inputs WHERE source_type = 'DATASET' AND"
                               " source_id = ? AND destination_type = 'RUN' AND"
                               " destination_id = ?", &st) != 0)
            goto db_fail;
        ef_sql_bind_text(st, 1, duuid, 32);
        ef_sql_bind_text(st, 2, run_id, strlen(run_id));
        step = ef_sql_step(st);
        ef_sql_finalize(st);
        st = NULL;
        if (step < 0) goto db_fail;
        if (step == EF_SQL_ROW) continue; /* already an input of this run */
        trk__uuid_hex(iuuid);
        if (ef_sql_prepare(db, "INSERT INTO inputs(input_uuid, source_type, source_id,"
                               " destination_type, destination_id) VALUES(?, 'DATASET', ?, 'RUN', ?)",
                           &st) != 0)
            goto db_fail;
        ef_sql_bind_text(st, 1, iuuid, 32);
        ef_sql_bind_text(st, 2, duuid, 32);
        ef_sql_bind_text(st, 3, run_id, strlen(run_id));
        if (ef_sql_step(st) < 0) goto db_fail;
        ef_sql_finalize(st);
        st = NULL;
        for (size_t k = 0; k < json_array_size(tags); k++) {
            const json_t *tg = json_array_get(tags, k);
            const char *tk = json_string_value(json_object_get(tg, "key"));
            const char *tv = json_string_value(json_object_get(tg, "value"));
            if (ef_sql_prepare(db, "INSERT INTO input_tags(input_uuid, name, value) VALUES(?,?,?)"
                                   " ON CONFLICT(input_uuid, name) DO UPDATE SET value ="
                                   " excluded.value", &st) != 0)
                goto db_fail;
            ef_sql_bind_text(st, 1, iuuid, 32);
            ef_sql_bind_text(st, 2, tk, strlen(tk));
            ef_sql_bind_text(st, 3, tv, strlen(tv));
            if (ef_sql_step(st) < 0) goto db_fail;
            ef_sql_finalize(st);
            st = NULL;
        }
    }
    rc = 0;
    goto out;
db_fail:
    trk__fail_db(e, db, "log inputs");
out:
    ef_sql_finalize(st);
    return rc;
}

/* runs/log-model: appends the model's tag dict to the run's mlflow.log-model.history tag. */
int trk__log_model(ef_sql *db, const char *run_id, json_t *model, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    json_t *hist = NULL, *flavors = json_object_get(model, "flavors");
    char *text = NULL;
    const char *k;
    json_t *fl;
    int rc = -1, step;

    json_object_foreach(flavors, k, fl) {
        if (json_is_object(fl)) {
            json_object_del(fl, "data");
            json_object_del(fl, "code");
        }
    }
    json_object_del(model, "signature");
    json_object_del(model, "saved_input_example_info");
    if (ef_sql_prepare(db, "SELECT value FROM tags WHERE run_uuid = ? AND key = ?", &st) != 0)
        return trk__fail_db(e, db, "log model");
    ef_sql_bind_text(st, 1, run_id, strlen(run_id));
    ef_sql_bind_text(st, 2, LOGGED_MODELS_TAG, strlen(LOGGED_MODELS_TAG));
    step = ef_sql_step(st);
    if (step < 0) {
        trk__fail_db(e, db, "log model");
        goto out;
    }
    if (step == EF_SQL_ROW) hist = json_loads(ef_sql_column_text(st, 0, NULL), 0, NULL);
    if (!json_is_array(hist)) {
        json_decref(hist);
        hist = json_array();
    }
    json_array_append(hist, model);
    /* Python's json.dumps(): ", " and ": " separators, ASCII only. */
    text = json_dumps(hist, JSON_ENSURE_ASCII);
    if (text == NULL) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    {
        trk_kv kv = {LOGGED_MODELS_TAG, text, strlen(text)};
        rc = trk__tags_put(db, run_id, &kv, 1, e);
    }
out:
    ef_sql_finalize(st);
    json_decref(hist);
    free(text);
    return rc;
}

/* --- metrics --------------------------------------------------------------------------------- */
typedef struct metric_writer {
    ef_sql_stmt *ins, *latest;
} metric_writer;

typedef struct metric_in {
    const char *key;
    double value;
    int64_t timestamp, step;
} metric_in;

static int mw_open(ef_sql *db, metric_writer *w, trk_err *e)
{
    w->ins = w->latest = NULL;
    if (ef_sql_prepare(db, "INSERT INTO metrics(run_uuid, key, value, timestamp, step, is_nan)"
                           " VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", &w->ins) != 0 ||
        ef_sql_prepare(db, "INSERT INTO latest_metrics(run_uuid, key, value, timestamp, step,"
                           " is_nan) VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(run_uuid, key) DO UPDATE"
                           " SET value = excluded.value, timestamp = excluded.timestamp,"
                           " step = excluded.step, is_nan = excluded.is_nan"
                           " WHERE excluded.step > latest_metrics.step OR"
                           " (excluded.step = latest_metrics.step AND"
                           " (excluded.timestamp > latest_metrics.timestamp OR"
                           " (excluded.timestamp = latest_metrics.timestamp AND"
                           " excluded.value > latest_metrics.value)))", &w->latest) != 0) {
        ef_sql_finalize(w->ins);
        w->ins = NULL;
        return trk__fail_db(e, db, "metrics");
    }
    return 0;
}

static void mw_close(metric_writer *w)
{
    ef_sql_finalize(w->ins);
    ef_sql_finalize(w->latest);
}

static int mw_put(ef_sql *db, metric_writer *w, const char *run_id, size_t idlen,
                  const metric_in *m, trk_err *e)
{
    double v = m->value;
    int is_nan = isnan(v) ? 1 : 0;
    ef_sql_stmt *st = w->ins;
    size_t klen = strlen(m->key);

    if (is_nan) v = 0;
    else if (isinf(v)) v = v > 0 ? DBL_MAX : -DBL_MAX;
    for (int pass = 0; pass < 2; pass++) {
        ef_sql_reset(st);
        ef_sql_bind_text(st, 1, run_id, idlen);
        ef_sql_bind_text(st, 2, m->key, klen);
        ef_sql_bind_double(st, 3, v);
        ef_sql_bind_int64(st, 4, m->timestamp);
        ef_sql_bind_int64(st, 5, m->step);
        ef_sql_bind_int64(st, 6, is_nan);
        if (ef_sql_step(st) < 0) return trk__fail_db(e, db, "log metric");
        if (pass == 0 && ef_sql_changes(st) == 0) break; /* a repeat: latest already knows it */
        st = w->latest;
    }
    return 0;
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

/* runs/log-metric {run_id*, key*, value*, timestamp*, step} */
void trk__h_log_metric(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL;
    metric_in m = {0};
    metric_writer w = {0};
    ef_sql *db = NULL;
    int rc = -1;

    if (trk__run_id(msg, &id, &e) < 0 || trk__str(msg, "key", 1, &m.key, &e) < 0 ||
        trk__double(msg, "value", 1, &m.value, &e) < 0 ||
        trk__int(msg, "timestamp", 1, &m.timestamp, &e) < 0 ||
        trk__int(msg, "step", 0, &m.step, &e) < 0 || metric_check(&m, &e) != 0)
        goto fail;
    if (trk__writer(t, &db, &e) != 0) goto fail;
    if (ef_sql_begin(db) != 0) {
        trk__fail_db(&e, db, "begin");
        goto done;
    }
    if (trk__run_check(db, id, 1, NULL, &e) != 0 || mw_open(db, &w, &e) != 0 ||
        mw_put(db, &w, id, strlen(id), &m, &e) != 0)
        goto done;
    mw_close(&w);
    w.ins = w.latest = NULL;
    if (ef_sql_commit(db) != 0) {
        trk__fail_db(&e, db, "commit");
        goto done;
    }
    rc = 0;
done:
    mw_close(&w);
    if (rc != 0) ef_sql_rollback(db);
    trk__release(t, db);
    if (rc != 0) goto fail;
    trk__reply(r, json_object());
    return;
fail:
    trk__reply_error(r, &e);
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
    metric_writer w = {0};
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
    if (nm > 0) {
        size_t idlen = strlen(id);
        if (mw_open(db, &w, &e) != 0) goto done;
        for (size_t i = 0; i < nm; i++)
            if (mw_put(db, &w, id, idlen, &ms[i], &e) != 0) goto done;
        mw_close(&w);
        w.ins = w.latest = NULL;
    }
    if (trk__tags_put(db, id, ts, nt, &e) != 0) goto done;
    if (ef_sql_commit(db) != 0) {
        trk__fail_db(&e, db, "commit");
        goto done;
    }
    rc = 0;
done:
    mw_close(&w);
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

static json_t *metric_json(ef_sql_stmt *st, const char *run_id)
{
    const char *k = ef_sql_column_text(st, 0, NULL);
    json_t *o = json_pack("{s:s,s:o,s:I,s:I}", "key", k ? k : "", "value",
                          trk__metric_value(ef_sql_column_double(st, 1),
                                            (int)ef_sql_column_int64(st, 4)),
                          "timestamp", (json_int_t)ef_sql_column_int64(st, 2), "step",
                          (json_int_t)ef_sql_column_int64(st, 3));
    if (o && run_id) json_object_set_new(o, "run_id", json_string(run_id));
    return o;
}

/* metrics/get-history {run_id*, metric_key*}: every point, ordered by step, then timestamp
 * (then value). Like 2.12.2, max_results/page_token are accepted and everything is returned in
 * one response; an unknown run has no points ({}). */
void trk__h_get_history(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL, *key = NULL;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    json_t *arr = NULL, *doc = NULL;
    int step;

    if (trk__run_id(msg, &id, &e) < 0 || trk__str(msg, "metric_key", 1, &key, &e) < 0 ||
        trk__reader(t, &db, &e) != 0)
        goto fail;
    if (ef_sql_prepare(db, "SELECT key, value, timestamp, step, is_nan FROM metrics"
                           " WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value",
                       &st) != 0) {
        trk__fail_db(&e, db, "metric history");
        goto fail;
    }
    ef_sql_bind_text(st, 1, id, strlen(id));
    ef_sql_bind_text(st, 2, key, strlen(key));
    arr = json_array();
    doc = json_object();
    if (arr == NULL || doc == NULL) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    while ((step = ef_sql_step(st)) == EF_SQL_ROW)
        if (json_array_append_new(arr, metric_json(st, NULL)) != 0) {
            trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
            goto fail;
        }
    if (step < 0) {
        trk__fail_db(&e, db, "metric history");
        goto fail;
    }
    ef_sql_finalize(st);
    trk__release(t, db);
    if (json_array_size(arr) > 0) json_object_set(doc, "metrics", arr);
    json_decref(arr);
    trk__reply(r, doc);
    return;
fail:
    ef_sql_finalize(st);
    if (db) trk__release(t, db);
    json_decref(arr);
    json_decref(doc);
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
    json_t *own = NULL, *arr = NULL, *doc = NULL;
    const char *key = NULL;
    int64_t start = 0, end = 0, max = BULK_MAX_RESULTS;
    int has_start, has_end, step;
    int64_t *all = NULL, *keep = NULL;
    size_t nall = 0, call = 0, nkeep = 0, ckeep = 0, nids;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;

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
    arr = json_array();
    doc = json_object();
    if (arr == NULL || doc == NULL) goto oom;
    for (size_t i = 0; i < nids && nkeep > 0; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        size_t got = 0;
        if (id == NULL) continue;
        if (ef_sql_prepare(db, "SELECT key, value, timestamp, step, is_nan FROM metrics"
                               " WHERE run_uuid = ? AND key = ? AND step >= ? AND step <= ?"
                               " ORDER BY step, timestamp, value", &st) != 0)
            goto db_fail;
        ef_sql_bind_text(st, 1, id, strlen(id));
        ef_sql_bind_text(st, 2, key, strlen(key));
        ef_sql_bind_int64(st, 3, keep[0]);
        ef_sql_bind_int64(st, 4, keep[nkeep - 1]);
        while ((step = ef_sql_step(st)) == EF_SQL_ROW && got < BULK_MAX_PER_RUN) {
            int64_t s = ef_sql_column_int64(st, 3);
            if (bsearch(&s, keep, nkeep, sizeof *keep, cmp_i64) == NULL) continue;
            if (json_array_append_new(arr, metric_json(st, id)) != 0) goto oom;
            got++;
        }
        if (step < 0) goto db_fail;
        ef_sql_finalize(st);
        st = NULL;
    }
    trk__release(t, db);
    db = NULL;
    if (json_array_size(arr) > 0) json_object_set(doc, "metrics", arr);
    trk__reply(r, doc);
    doc = NULL;
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
    json_decref(arr);
    json_decref(doc);
    free(all);
    free(keep);
}
