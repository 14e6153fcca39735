/* run_data.c - the writes of run data other than metrics, for MLflow's tracking RPCs: MLflow's
 * key rules and value truncation (mlflow/utils/validation.py), params (immutable once set), tags
 * (mlflow.runName also renames the run), the {key, value} lists of log-batch, dataset inputs
 * (runs/log-inputs) and logged models (runs/log-model). runs.c's handlers and metrics.c's
 * log-batch call these inside their transaction (runs_int.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "tracking/runs_int.h"

#define LOGGED_MODELS_TAG "mlflow.log-model.history"

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
    for (int i = 0; i < lead; i++)
        ef_buf_appendc(out, '/');
    base = out->len;
    while (*p) {
        const char *q = p;
        size_t n;
        while (*q && *q != '/')
            q++;
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
                  " resolve to '%s'",
                  kind, key, norm.data ? norm.data : ".");
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

int trk__list(const json_t *msg, const char *field, const json_t **out, json_t **owned, trk_err *e)
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
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter '%s'", field);
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
        if (c == '\\' || c == (unsigned char)q)
            ef_buf_appendc(b, '\\'), ef_buf_appendc(b, *s);
        else if (c == '\n')
            ef_buf_appends(b, "\\n");
        else if (c == '\r')
            ef_buf_appends(b, "\\r");
        else if (c == '\t')
            ef_buf_appends(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            ef_buf_appendf(b, "\\x%02x", c);
        else
            ef_buf_appendc(b, *s);
    }
    ef_buf_appendc(b, q);
}

/* Resets st, binds run_id, kv->key and (with_value) kv->value as ?1, ?2, ?3, and steps it.
 * Returns what ef_sql_step returns. */
static int step_run_kv(ef_sql_stmt *st, const char *run_id, const trk_kv *kv, int with_value)
{
    ef_sql_reset(st);
    ef_sql_bind_text(st, 1, run_id, strlen(run_id));
    ef_sql_bind_text(st, 2, kv->key, strlen(kv->key));
    if (with_value) ef_sql_bind_text(st, 3, kv->value, kv->value_len);
    return ef_sql_step(st);
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
    if (ef_sql_prepare(db,
                       "INSERT INTO params(run_uuid, key, value) VALUES(?, ?, ?)"
                       " ON CONFLICT(run_uuid, key) DO NOTHING",
                       &ins) != 0 ||
        ef_sql_prepare(db, "SELECT value FROM params WHERE run_uuid = ? AND key = ?", &sel) != 0) {
        trk__fail_db(e, db, "params");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *old;
        size_t oldlen;
        if (step_run_kv(ins, run_id, &kv[i], 1) < 0) {
            trk__fail_db(e, db, "log param");
            goto out;
        }
        if (ef_sql_changes(ins) > 0) continue;
        if (step_run_kv(sel, run_id, &kv[i], 0) != EF_SQL_ROW) {
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
                      " '%.*s'.",
                      kv[i].key, old ? old : "", run_id, (int)kv[i].value_len, kv[i].value);
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
                  " run ID='%s'.",
                  bad.data ? bad.data : "", run_id);
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
    if (ef_sql_prepare(db,
                       "INSERT INTO tags(run_uuid, key, value) VALUES(?, ?, ?)"
                       " ON CONFLICT(run_uuid, key) DO UPDATE SET value = excluded.value",
                       &up) != 0) {
        trk__fail_db(e, db, "tags");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (step_run_kv(up, run_id, &kv[i], 1) < 0) {
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
int trk__log_inputs(ef_sql *db, const char *run_id, int64_t eid, const json_t *list, trk_err *e)
{
    static const char *const f[] = {"name", "digest", "source_type", "source", "schema", "profile"};
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
        if (ef_sql_prepare(db,
                           "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND"
                           " name = ? AND digest = ?",
                           &st) != 0)
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
            if (ef_sql_prepare(db,
                               "INSERT INTO datasets(dataset_uuid, experiment_id, name,"
                               " digest, dataset_source_type, dataset_source, dataset_schema,"
                               " dataset_profile) VALUES(?,?,?,?,?,?,?,?)",
                               &st) != 0)
                goto db_fail;
            ef_sql_bind_text(st, 1, duuid, 32);
            ef_sql_bind_int64(st, 2, eid);
            for (int k = 0; k < 6; k++) {
                if (v[k])
                    ef_sql_bind_text(st, 3 + k, v[k], strlen(v[k]));
                else
                    ef_sql_bind_null(st, 3 + k);
            }
            if (ef_sql_step(st) < 0) goto db_fail;
        }
        ef_sql_finalize(st);
        st = NULL;
        if (ef_sql_prepare(db,
                           "SELECT input_uuid FROM inputs WHERE source_type = 'DATASET' AND"
                           " source_id = ? AND destination_type = 'RUN' AND"
                           " destination_id = ?",
                           &st) != 0)
            goto db_fail;
        ef_sql_bind_text(st, 1, duuid, 32);
        ef_sql_bind_text(st, 2, run_id, strlen(run_id));
        step = ef_sql_step(st);
        ef_sql_finalize(st);
        st = NULL;
        if (step < 0) goto db_fail;
        if (step == EF_SQL_ROW) continue; /* already an input of this run */
        trk__uuid_hex(iuuid);
        if (ef_sql_prepare(db,
                           "INSERT INTO inputs(input_uuid, source_type, source_id,"
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
            if (ef_sql_prepare(db,
                               "INSERT INTO input_tags(input_uuid, name, value) VALUES(?,?,?)"
                               " ON CONFLICT(input_uuid, name) DO UPDATE SET value ="
                               " excluded.value",
                               &st) != 0)
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

/* runs/log-model's model_json: a JSON object with MLflow's mandatory fields. */
int trk__model_parse(const json_t *msg, json_t **out, trk_err *e)
{
    static const char *const need[] = {"artifact_path", "flavors", "utc_time_created", "run_id"};
    const char *miss[4] = {NULL}, *model_json = NULL;
    json_t *model;
    size_t nm = 0;
    ef_buf b;

    *out = NULL;
    if (trk__str(msg, "model_json", 1, &model_json, e) < 0) return -1;
    model = json_loads(model_json, 0, NULL);
    if (!json_is_object(model)) {
        json_decref(model);
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Malformed model info. \n %.800s \n is not a valid JSON.", model_json);
    }
    for (int i = 0; i < 4; i++)
        if (json_object_get(model, need[i]) == NULL) miss[nm++] = need[i];
    if (nm) {
        ef_buf_init(&b);
        for (size_t i = 0; i < nm; i++)
            ef_buf_appendf(&b, "%s'%s'", i ? ", " : "", miss[i]);
        trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Model json is missing mandatory fields: {%s}",
                  b.data ? b.data : "");
        ef_buf_release(&b);
        json_decref(model);
        return -1;
    }
    *out = model;
    return 0;
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

    json_object_foreach(flavors, k, fl)
    {
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
