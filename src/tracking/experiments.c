/* experiments.c - MLflow's experiment RPCs (create, get, get-by-name, search, update, delete,
 * restore, set-experiment-tag) over the schema of schema.c, with MLflow 2.12.2's messages and
 * statuses (its sqlalchemy_store.py and handlers.py are the reference).
 *
 * Every handler: validate the message, take a pooled connection (the writer inside one
 * transaction for writes), reply. Deleting an experiment marks its runs deleted and restoring it
 * restores them, as MLflow's SQL store does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "tracking/runs_int.h"
#include "tracking/search.h"

#define EXP_COLS "experiment_id, name, artifact_location, lifecycle_stage, creation_time," \
                 " last_update_time"
#define EXP_MAX_RESULTS 50000

/* Experiment ids are integers in the database and strings on the wire; an id that is not an
 * integer names no experiment. */
static int parse_id(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (s == NULL || *s == '\0') return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) return -1;
    *out = (int64_t)v;
    return 0;
}

int trk__view_type_sql(const json_t *msg, const char *field, const char **cond, trk_err *e)
{
    const json_t *v = json_object_get(msg, field);
    int64_t n = 1;

    if (v == NULL || json_is_null(v)) {
        n = 1;
    } else if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "ACTIVE_ONLY") == 0) n = 1;
        else if (strcmp(s, "DELETED_ONLY") == 0) n = 2;
        else if (strcmp(s, "ALL") == 0) n = 3;
        else if (parse_id(s, &n) != 0) n = 0;
    } else {
        n = 0;
    }
    switch (n) {
    case 1: *cond = "lifecycle_stage = 'active'"; return 0;
    case 2: *cond = "lifecycle_stage = 'deleted'"; return 0;
    case 3: *cond = "1 = 1"; return 0;
    default:
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Invalid value for request parameter '%s'", field);
    }
}

/* The Experiment message of the current row of st (EXP_COLS); tags are attached later. */
static json_t *exp_from_row(ef_sql_stmt *st)
{
    char id[32];
    json_t *o = json_object();
    const char *s;

    if (o == NULL) return NULL;
    snprintf(id, sizeof id, "%" PRId64, ef_sql_column_int64(st, 0));
    json_object_set_new(o, "experiment_id", json_string(id));
    s = ef_sql_column_text(st, 1, NULL);
    json_object_set_new(o, "name", json_string(s ? s : ""));
    s = ef_sql_column_text(st, 2, NULL);
    if (s != NULL) json_object_set_new(o, "artifact_location", json_string(s));
    s = ef_sql_column_text(st, 3, NULL);
    json_object_set_new(o, "lifecycle_stage", json_string(s ? s : "active"));
    if (!ef_sql_column_is_null(st, 5))
        json_object_set_new(o, "last_update_time", json_integer(ef_sql_column_int64(st, 5)));
    if (!ef_sql_column_is_null(st, 4))
        json_object_set_new(o, "creation_time", json_integer(ef_sql_column_int64(st, 4)));
    return o;
}

static int tag_row(ef_sql_stmt *st, void *ctx)
{
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)ef_sql_column_int64(st, 0));
    json_t *x = json_object_get(ctx, id);
    if (!x) return 0;
    const char *k = ef_sql_column_text(st, 1, NULL);
    const char *v = ef_sql_column_text(st, 2, NULL);
    json_t *tags = json_object_get(x, "tags");
    if (!tags) {
        tags = json_array();
        if (json_object_set_new(x, "tags", tags) != 0) return -1;
    }
    return json_array_append_new(tags, json_pack("{s:s,s:s}", "key", k ? k : "", "value",
                                                 v ? v : ""));
}

/* Attaches "tags" to each experiment of exps (ids in the experiment_id strings) with one
 * IN (...) query per chunk (trk__query_in). */
static int attach_tags(ef_sql *db, json_t *exps, trk_err *e)
{
    json_t *ids = json_array(), *index = json_object();
    int rc = -1;
    size_t i;
    json_t *x;
    if (!ids || !index) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    json_array_foreach(exps, i, x)
    {
        json_t *id = json_object_get(x, "experiment_id");
        if (!json_is_string(id)) continue;
        if (json_array_append(ids, id) != 0 || json_object_set(index, json_string_value(id), x)) {
            trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
            goto out;
        }
    }
    rc = trk__query_in(db, "SELECT experiment_id, key, value FROM experiment_tags"
                           " WHERE experiment_id", "ORDER BY experiment_id, key", ids, 1,
                       tag_row, index, "experiment tags", e);
out:
    json_decref(ids);
    json_decref(index);
    return rc;
}

/* Loads one experiment by id or by name (id_str NULL). view: NULL any stage, else the stage the
 * experiment must have. *out: the Experiment with tags. Not found -> MLflow's message. */
static int exp_load(ef_sql *db, const char *id_str, const char *name, const char *stage,
                    json_t **out, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    json_t *arr = NULL;
    int64_t id = 0;
    int step, rc = -1;

    *out = NULL;
    if (id_str != NULL && parse_id(id_str, &id) != 0) {
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%s exists", id_str);
        goto out;
    }
    if (ef_sql_prepare(db, id_str ? "SELECT " EXP_COLS " FROM experiments WHERE experiment_id = ?"
                                  : "SELECT " EXP_COLS " FROM experiments WHERE name = ?",
                       &st) != 0) {
        trk__fail_db(e, db, "experiment");
        goto out;
    }
    if (id_str) ef_sql_bind_int64(st, 1, id);
    else ef_sql_bind_text(st, 1, name, strlen(name));
    step = ef_sql_step(st);
    if (step < 0) {
        trk__fail_db(e, db, "experiment");
        goto out;
    }
    if (step == EF_SQL_ROW && stage != NULL) {
        const char *s = ef_sql_column_text(st, 3, NULL);
        if (s == NULL || strcmp(s, stage) != 0) step = EF_SQL_DONE;
    }
    if (step != EF_SQL_ROW) {
        if (id_str)
            trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%s exists", id_str);
        else
            trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Could not find experiment with name '%s'",
                      name);
        goto out;
    }
    arr = json_array();
    if (arr == NULL || json_array_append_new(arr, exp_from_row(st)) != 0) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    ef_sql_finalize(st);
    st = NULL;
    if (attach_tags(db, arr, e) != 0) goto out;
    *out = json_incref(json_array_get(arr, 0));
    rc = 0;
out:
    ef_sql_finalize(st);
    json_decref(arr);
    return rc;
}

/* Runs one parameterless-result statement with up to two bound values. */
static int exec_bound(ef_sql *db, const char *sql, const char *text, int64_t i1, int64_t i2,
                      int nint, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    int idx = 1, rc = -1;

    if (ef_sql_prepare(db, sql, &st) != 0) return trk__fail_db(e, db, "prepare");
    if (text) ef_sql_bind_text(st, idx++, text, strlen(text));
    if (nint >= 1) ef_sql_bind_int64(st, idx++, i1);
    if (nint >= 2) ef_sql_bind_int64(st, idx++, i2);
    if (ef_sql_step(st) < 0) {
        trk__fail_db(e, db, "update");
        goto out;
    }
    rc = 0;
out:
    ef_sql_finalize(st);
    return rc;
}

static int tag_check(const char *key, const char *value, trk_err *e)
{
    size_t n;

    if (trk__key_check("tag", "Tag key", key, e) != 0) return -1;
    n = trk__utf8_chars(value);
    if (n > TRK_MAX_EXP_TAG_VAL_LEN)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Tag value '%.250s' had length %zu, which exceeded length limit of %d",
                         value, n, TRK_MAX_EXP_TAG_VAL_LEN);
    return 0;
}

static int tag_put(ef_sql *db, int64_t id, const char *key, const char *value, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    int rc = -1;

    if (ef_sql_prepare(db, "INSERT INTO experiment_tags(experiment_id, key, value) VALUES(?,?,?)"
                           " ON CONFLICT(experiment_id, key) DO UPDATE SET value = excluded.value",
                       &st) != 0)
        return trk__fail_db(e, db, "experiment tag");
    ef_sql_bind_int64(st, 1, id);
    ef_sql_bind_text(st, 2, key, strlen(key));
    ef_sql_bind_text(st, 3, value, strlen(value));
    if (ef_sql_step(st) < 0) {
        trk__fail_db(e, db, "experiment tag");
        goto out;
    }
    rc = 0;
out:
    ef_sql_finalize(st);
    return rc;
}

/* A unique violation on experiments.name, worded like MLflow's. Returns -1. */
static int name_taken(trk_err *e, const char *name)
{
    return trk__fail(e, TRK_RESOURCE_ALREADY_EXISTS,
                     "Experiment(name=%s) already exists. Error: UNIQUE constraint failed:"
                     " experiments.name", name);
}

/* experiments/create {name*, artifact_location, tags} -> {experiment_id} */
static void h_create(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *name = NULL, *loc = NULL;
    const json_t *tags = NULL;
    json_t *owned = NULL;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    ef_buf uri;
    int rc = -1, step;
    int64_t id = 0, now = ef_now_ms();
    char idbuf[32];

    ef_buf_init(&uri);
    if (trk__str(msg, "name", 1, &name, &e) < 0) goto fail;
    if (trk__str(msg, "artifact_location", 0, &loc, &e) < 0) goto fail;
    if (trk__list(msg, "tags", &tags, &owned, &e) < 0) goto fail;
    if (trk__utf8_chars(name) > TRK_MAX_EXP_NAME_LEN) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Experiment name exceeds the maximum length of %d characters",
                  TRK_MAX_EXP_NAME_LEN);
        goto fail;
    }
    if (loc != NULL && *loc == '\0') loc = NULL;
    if (loc != NULL && (strncmp(loc, "runs:", 5) == 0)) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Artifact location cannot be a runs:/ URI. Given: '%s'", loc);
        goto fail;
    }
    if (loc != NULL && (strchr(loc, '#') != NULL || strchr(loc, ';') != NULL)) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "'artifact_location' URL can't include fragments or params.");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(tags); i++) {
        const json_t *tg = json_array_get(tags, i);
        const char *k = json_string_value(json_object_get(tg, "key"));
        const char *v = json_string_value(json_object_get(tg, "value"));
        if (!json_is_object(tg)) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter 'tags'");
            goto fail;
        }
        if (tag_check(k ? k : "", v ? v : "", &e) != 0) goto fail;
    }

    if (trk__tx_begin(t, &db, &e) != 0) goto fail;
    if (ef_sql_prepare(db, "INSERT INTO experiments(name, artifact_location, lifecycle_stage,"
                           " creation_time, last_update_time) VALUES(?, ?, 'active', ?, ?)"
                           " RETURNING experiment_id",
                       &st) != 0) {
        trk__fail_db(&e, db, "create experiment");
        goto done;
    }
    ef_sql_bind_text(st, 1, name, strlen(name));
    if (loc) ef_sql_bind_text(st, 2, loc, strlen(loc));
    else ef_sql_bind_null(st, 2);
    ef_sql_bind_int64(st, 3, now);
    ef_sql_bind_int64(st, 4, now);
    step = ef_sql_step(st);
    if (step == EF_EEXIST) {
        name_taken(&e, name);
        goto done;
    }
    if (step != EF_SQL_ROW) {
        trk__fail_db(&e, db, "create experiment");
        goto done;
    }
    id = ef_sql_column_int64(st, 0);
    ef_sql_finalize(st);
    st = NULL;
    if (loc == NULL) {
        const char *root = t->default_artifact_root ? t->default_artifact_root : "";
        size_t rl = strlen(root);
        if (ef_buf_appendf(&uri, "%s%s%" PRId64, root, rl && root[rl - 1] == '/' ? "" : "/",
                           id) != 0) {
            trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
            goto done;
        }
        if (exec_bound(db, "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                       uri.data, id, 0, 1, &e) != 0)
            goto done;
    }
    for (size_t i = 0; i < json_array_size(tags); i++) {
        const json_t *tg = json_array_get(tags, i);
        const char *k = json_string_value(json_object_get(tg, "key"));
        const char *v = json_string_value(json_object_get(tg, "value"));
        if (tag_put(db, id, k ? k : "", v ? v : "", &e) != 0) goto done;
    }
    rc = 0;
done:
    ef_sql_finalize(st);
    st = NULL;
    if (trk__tx_finish(t, db, rc, &e) != 0) goto fail;
    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    trk__reply(r, json_pack("{s:s}", "experiment_id", idbuf));
    goto out;
fail:
    trk__reply_error(r, &e);
out:
    json_decref(owned);
    ef_buf_release(&uri);
}

/* experiments/get {experiment_id*} and experiments/get-by-name {experiment_name*}: field is
 * the one the RPC takes. */
static void get_by(ef_http_req *r, ef_tracking *t, const json_t *msg, const char *field)
{
    trk_err e;
    const char *v = NULL;
    ef_sql *db = NULL;
    json_t *x = NULL;
    int by_id = strcmp(field, "experiment_id") == 0;

    if (trk__str(msg, field, 1, &v, &e) < 0 || trk__reader(t, &db, &e) != 0) goto fail;
    if (exp_load(db, by_id ? v : NULL, by_id ? NULL : v, NULL, &x, &e) != 0) goto fail;
    trk__release(t, db);
    trk__reply(r, json_pack("{s:o}", "experiment", x));
    return;
fail:
    if (db) trk__release(t, db);
    trk__reply_error(r, &e);
}

static void h_get(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    get_by(r, t, msg, "experiment_id");
}

static void h_get_by_name(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    get_by(r, t, msg, "experiment_name");
}

/* experiments/search {max_results, page_token, filter, order_by, view_type} */
static void h_search(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *filter = NULL, *token = NULL, *stage = NULL;
    const json_t *order = NULL;
    json_t *owned = NULL, *exps = NULL, *doc = NULL;
    int64_t max = 0, offset = 0;
    trk_search_sql s;
    ef_buf sql;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    int compiled = 0, step;
    int64_t got = 0;

    ef_buf_init(&sql);
    memset(&s, 0, sizeof s);
    if (trk__int(msg, "max_results", 0, &max, &e) < 0) goto fail;
    if (trk__str(msg, "page_token", 0, &token, &e) < 0) goto fail;
    if (trk__str(msg, "filter", 0, &filter, &e) < 0) goto fail;
    if (trk__list(msg, "order_by", &order, &owned, &e) < 0) goto fail;
    if (trk__view_type_sql(msg, "view_type", &stage, &e) < 0) goto fail;
    if (max < 1) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid value for max_results. It must be a positive integer, but got %" PRId64,
                  max);
        goto fail;
    }
    if (max > EXP_MAX_RESULTS) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid value for max_results. It must be at most %d, but got %" PRId64,
                  EXP_MAX_RESULTS, max);
        goto fail;
    }
    if (trk__page_token_decode(token, &offset, &e) != 0) goto fail;
    if (trk__search_compile(TRK_SEARCH_EXPERIMENTS, t->dialect, filter, order, &s, &e) != 0)
        goto fail;
    compiled = 1;
    if (ef_buf_appendf(&sql, "SELECT " EXP_COLS " FROM experiments WHERE %s AND ", stage) != 0 ||
        trk__search_page_sql(&sql, &s) != 0) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    if (trk__reader(t, &db, &e) != 0) goto fail;
    if (ef_sql_prepare(db, sql.data, &st) != 0) {
        trk__fail_db(&e, db, "search experiments");
        goto fail;
    }
    /* one more than max: is there a next page? */
    if (trk__search_bind_page(&s, st, 1, max + 1, offset) != 0) {
        trk__fail_db(&e, db, "search experiments");
        goto fail;
    }
    exps = json_array();
    doc = json_object();
    if (exps == NULL || doc == NULL) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    while ((step = ef_sql_step(st)) == EF_SQL_ROW) {
        if (++got > max) break;
        json_array_append_new(exps, exp_from_row(st));
    }
    if (step < 0) {
        trk__fail_db(&e, db, "search experiments");
        goto fail;
    }
    ef_sql_finalize(st);
    st = NULL;
    if (attach_tags(db, exps, &e) != 0) goto fail;
    trk__release(t, db);
    db = NULL;
    if (json_array_size(exps) > 0) json_object_set(doc, "experiments", exps);
    if (got > max && trk__page_token_put(doc, offset + max, &e) != 0) goto fail;
    trk__reply(r, doc);
    doc = NULL;
    goto out;
fail:
    trk__reply_error(r, &e);
out:
    ef_sql_finalize(st);
    if (db) trk__release(t, db);
    if (compiled) trk__search_sql_release(&s);
    json_decref(owned);
    json_decref(exps);
    json_decref(doc);
    ef_buf_release(&sql);
}

/* The write RPCs that take experiment_id and change one experiment: op 'u' update (rename),
 * 'd' delete, 'r' restore, 't' set-experiment-tag. */
static void exp_write(ef_http_req *r, ef_tracking *t, const json_t *msg, char op)
{
    trk_err e;
    const char *id_str = NULL, *new_name = NULL, *key = NULL, *value = NULL;
    ef_sql *db = NULL;
    json_t *x = NULL;
    int rc = -1;
    int64_t id = 0, now = ef_now_ms();

    if (trk__str(msg, "experiment_id", 1, &id_str, &e) < 0) goto done;
    if (op == 'u' && trk__str(msg, "new_name", 1, &new_name, &e) < 0) goto done;
    if (op == 't') {
        if (trk__str(msg, "key", 1, &key, &e) < 0) goto done;
        if (trk__str(msg, "value", 0, &value, &e) < 0) goto done;
        if (value == NULL) value = "";
        if (tag_check(key, value, &e) != 0) goto done;
    }
    if (trk__tx_begin(t, &db, &e) != 0) goto done;
    if (exp_load(db, id_str, NULL, op == 'd' ? "active" : op == 'r' ? "deleted" : NULL, &x, &e) !=
        0)
        goto done;
    parse_id(id_str, &id);
    if (op == 'u' || op == 't') {
        const char *stage = json_string_value(json_object_get(x, "lifecycle_stage"));
        if (stage == NULL || strcmp(stage, "active") != 0) {
            if (op == 'u')
                trk__fail(&e, TRK_INVALID_STATE, "Cannot rename a non-active experiment.");
            else
                trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                          "The experiment %s must be in the 'active' state. Current state is %s.",
                          id_str, stage ? stage : "deleted");
            goto done;
        }
    }
    if (op == 'u') {
        ef_sql_stmt *st = NULL;
        int step;
        if (ef_sql_prepare(db, "UPDATE experiments SET name = ?, last_update_time = ?"
                               " WHERE experiment_id = ?",
                           &st) != 0) {
            trk__fail_db(&e, db, "rename experiment");
            goto done;
        }
        ef_sql_bind_text(st, 1, new_name, strlen(new_name));
        ef_sql_bind_int64(st, 2, now);
        ef_sql_bind_int64(st, 3, id);
        step = ef_sql_step(st);
        ef_sql_finalize(st);
        if (step == EF_EEXIST) {
            name_taken(&e, new_name);
            goto done;
        }
        if (step < 0) {
            trk__fail_db(&e, db, "rename experiment");
            goto done;
        }
    } else if (op == 'd') {
        if (exec_bound(db, "UPDATE experiments SET lifecycle_stage = 'deleted',"
                           " last_update_time = ? WHERE experiment_id = ?",
                       NULL, now, id, 2, &e) != 0 ||
            exec_bound(db, "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?"
                           " WHERE experiment_id = ? AND lifecycle_stage = 'active'",
                       NULL, now, id, 2, &e) != 0)
            goto done;
    } else if (op == 'r') {
        if (exec_bound(db, "UPDATE experiments SET lifecycle_stage = 'active',"
                           " last_update_time = ? WHERE experiment_id = ?",
                       NULL, now, id, 2, &e) != 0 ||
            exec_bound(db, "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL"
                           " WHERE experiment_id = ?",
                       NULL, id, 0, 1, &e) != 0)
            goto done;
    } else {
        if (tag_put(db, id, key, value, &e) != 0) goto done;
    }
    rc = 0;
done:
    trk__tx_reply(r, t, db, rc, &e);
    json_decref(x);
}

static void h_update(ef_http_req *r, ef_tracking *t, const json_t *msg) { exp_write(r, t, msg, 'u'); }
static void h_delete(ef_http_req *r, ef_tracking *t, const json_t *msg) { exp_write(r, t, msg, 'd'); }
static void h_restore(ef_http_req *r, ef_tracking *t, const json_t *msg) { exp_write(r, t, msg, 'r'); }
static void h_set_tag(ef_http_req *r, ef_tracking *t, const json_t *msg) { exp_write(r, t, msg, 't'); }

const trk_route trk__experiment_routes[] = {
    {"POST", "/mlflow/experiments/create", h_create, 0},
    {"GET", "/mlflow/experiments/get", h_get, 0},
    {"GET", "/mlflow/experiments/get-by-name", h_get_by_name, 0},
    {"POST", "/mlflow/experiments/search", h_search, 0},
    {"GET", "/mlflow/experiments/search", h_search, 0},
    {"POST", "/mlflow/experiments/update", h_update, 0},
    {"POST", "/mlflow/experiments/delete", h_delete, 0},
    {"POST", "/mlflow/experiments/restore", h_restore, 0},
    {"POST", "/mlflow/experiments/set-experiment-tag", h_set_tag, 0},
    {NULL, NULL, NULL, 0},
};
