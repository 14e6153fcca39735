/* registry_api.c - the model registry RPCs of MLflow 2.12.2 (spec §3.2) on top of registry.c:
 * the store operations (one per RPC: registered models, model versions, stages, tags, aliases,
 * searches and download URIs), the transaction runner that retries a model version creation
 * racing another process, the request parsing of each handler, and trk__registry_routes.
 * See registry.c for the MLflow behaviours the registry files reproduce; they share
 * registry_int.h (validation and model version sources: registry_validate.c).
 *
 * Deliberate difference from 2.12.2: transition-stage with archive_existing_versions to a stage
 * other than Staging/Production is a 400 INVALID_PARAMETER_VALUE here; MLflow raises it without
 * an error code (500 INTERNAL_ERROR), which makes the Python client retry for a minute.
 * model-versions/search also fills `aliases` (MLflow 2.12.2 leaves it empty there).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "tracking/registry_int.h"
#include "tracking/search.h"
#include "tracking/trk_int.h"

#define RM_SEARCH_DEFAULT 100
#define RM_SEARCH_MAX 1000
#define MV_SEARCH_DEFAULT 200000
#define MV_SEARCH_MAX 200000
#define CREATE_RETRIES 3

/* ---------------------------------------------------------------------------------------------
 * Operations: each runs on one connection, writes inside the transaction run() opens.
 * ------------------------------------------------------------------------------------------- */
typedef struct reg_args {
    const char *name, *new_name, *description, *source, *run_id, *run_link, *key, *value, *alias,
        *stage, *filter, *page_token;
    int64_t version, max_results;
    int archive;
    const json_t *tags, *list; /* tags; stages or order_by */
    json_t *owned;             /* a list wrapped from a single query value */
} reg_args;

#define ARGS_INIT {.description = "", .run_id = "", .run_link = "", .value = ""}

/* Returns 0, -1 (e set) or 1 (write conflict: run() retries the whole transaction). */
typedef int (*reg_fn)(ef_sql *db, const reg_args *a, json_t **out, trk_err *e);

static void run(ef_http_req *r, ef_tracking *t, reg_fn fn, const reg_args *a, int write)
{
    trk_err e;
    ef_sql *db = NULL;
    json_t *out = NULL;
    int rc = -1;
    if ((write ? trk__writer(t, &db, &e) : trk__reader(t, &db, &e)) < 0) goto fail;
    for (int attempt = 0; attempt < CREATE_RETRIES; attempt++) {
        if (ef_sql_begin(db) < 0) {
            trk__fail_db(&e, db, "begin");
            goto fail;
        }
        rc = fn(db, a, &out, &e);
        if (rc == 0 && ef_sql_commit(db) < 0) rc = trk__fail_db(&e, db, "commit");
        if (rc != 0) {
            ef_sql_rollback(db);
            json_decref(out);
            out = NULL;
        }
        if (rc != 1) break;
    }
    if (rc == 1)
        trk__fail(&e, TRK_INTERNAL_ERROR, "Model Version creation error (name=%s). Giving up after %d attempts.",
                  a->name, CREATE_RETRIES);
    if (rc != 0) goto fail;
    trk__release(t, db);
    trk__reply(r, out ? out : json_object());
    return;
fail:
    if (db) trk__release(t, db);
    trk__reply_error(r, &e);
}

static int put_tags(ef_sql *db, const char *name, int64_t version, const json_t *tags, trk_err *e)
{
    size_t i;
    json_t *tag;
    json_array_foreach(tags, i, tag) {
        const char *key = json_string_value(json_object_get(tag, "key"));
        const char *value = json_string_value(json_object_get(tag, "value"));
        int64_t rc =
            version > 0
                ? trk__reg_exec(
                      db, e,
                      "INSERT INTO model_version_tags(name, version, key, value) VALUES (?, ?, ?, "
                      "?)"
                      " ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value",
                      "titt", name, version, key, value ? value : "")
                : trk__reg_exec(
                      db, e,
                      "INSERT INTO registered_model_tags(name, key, value) VALUES (?, ?, ?)"
                      " ON CONFLICT(name, key) DO UPDATE SET value = excluded.value",
                      "ttt", name, key, value ? value : "");
        if (rc < 0) return rc == -2 ? trk__fail_db(e, db, "tag") : -1;
    }
    return 0;
}

static int touch_model(ef_sql *db, const char *name, int64_t now, trk_err *e)
{
    return trk__reg_exec(db, e, "UPDATE registered_models SET last_updated_time = ? WHERE name = ?",
                         "it", now, name) < 0
               ? -1
               : 0;
}

static int op_rm_create(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms();
    int64_t rc =
        trk__reg_exec(db, e,
                      "INSERT INTO registered_models(name, creation_time, last_updated_time,"
                      " description) VALUES (?, ?, ?, ?)",
                      "tiit", a->name, now, now, a->description);
    if (rc == -2) return trk__fail(e, TRK_RESOURCE_ALREADY_EXISTS, "Registered Model (name=%s) already exists.", a->name);
    if (rc < 0 || put_tags(db, a->name, 0, a->tags, e) < 0) return -1;
    return trk__rm_load(db, a->name, out, e);
}

static int op_rm_rename(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    static const char *const moves[] = {
        "UPDATE model_versions SET name = ?, last_updated_time = ? WHERE name = ?",
        "UPDATE model_version_tags SET name = ? WHERE name = ?",
        "UPDATE registered_model_tags SET name = ? WHERE name = ?",
        "UPDATE registered_model_aliases SET name = ? WHERE name = ?",
    };
    int64_t now = ef_now_ms(), rc;
    if (trk__rm_must_exist(db, a->name, e) < 0) return -1;
    rc = trk__reg_exec(
        db, e, "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?", "tit",
        a->new_name, now, a->name);
    if (rc == -2) return trk__fail(e, TRK_RESOURCE_ALREADY_EXISTS, "Registered Model (name=%s) already exists.", a->new_name);
    if (rc < 0) return -1;
    if (trk__reg_exec(db, e, moves[0], "tit", a->new_name, now, a->name) < 0) return -1;
    for (size_t i = 1; i < sizeof moves / sizeof moves[0]; i++) {
        if (trk__reg_exec(db, e, moves[i], "tt", a->new_name, a->name) < 0) return -1;
    }
    return trk__rm_load(db, a->new_name, out, e);
}

static int op_rm_update(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    if (trk__rm_must_exist(db, a->name, e) < 0 ||
        trk__reg_exec(
            db, e,
            "UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?",
            "tit", a->description, ef_now_ms(), a->name) < 0)
        return -1;
    return trk__rm_load(db, a->name, out, e);
}

static int op_rm_delete(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    static const char *const dels[] = {
        "DELETE FROM model_version_tags WHERE name = ?",
        "DELETE FROM registered_model_aliases WHERE name = ?",
        "DELETE FROM registered_model_tags WHERE name = ?",
        "DELETE FROM model_versions WHERE name = ?",
        "DELETE FROM registered_models WHERE name = ?",
    };
    (void)out;
    if (trk__rm_must_exist(db, a->name, e) < 0) return -1;
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
        if (trk__reg_exec(db, e, dels[i], "t", a->name) < 0) return -1;
    }
    return 0;
}

static int op_rm_get(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    return trk__rm_load(db, a->name, out, e);
}

/* Runs a compiled search: SELECT cols FROM table WHERE [own AND] (filter) ORDER .. LIMIT ..
 * head is the text up to the filter. NULL with e on failure. */
static ef_sql_stmt *search_stmt(ef_sql *db, const char *head, const trk_search_sql *ss,
                                int64_t limit, int64_t offset, trk_err *e)
{
    ef_buf sql;
    ef_sql_stmt *st = NULL;
    ef_buf_init(&sql);
    if (ef_buf_appends(&sql, head) < 0 || trk__search_page_sql(&sql, ss) < 0) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    if (ef_sql_prepare(db, sql.data, &st) < 0) {
        trk__fail_db(e, db, "prepare search");
        goto out;
    }
    if (trk__search_bind_page(ss, st, 1, limit, offset) < 0) {
        trk__fail_db(e, db, "bind search");
        ef_sql_finalize(st);
        st = NULL;
    }
out:
    ef_buf_release(&sql);
    return st;
}

/* registered-models/search (versions 0) and model-versions/search (versions 1): one page of
 * max_results from the page token's offset, with next_page_token when more rows exist. */
static int search_page(ef_sql *db, const reg_args *a, int versions, json_t **out, trk_err *e)
{
    trk_search_sql ss;
    trk_rm_list rl = {0};
    trk_mv_list ml = {0};
    int64_t offset = 0;
    int rc = -1, more;
    size_t n;
    ef_sql_stmt *st;
    json_t *arr = NULL;
    memset(&ss, 0, sizeof ss);
    if (trk__page_token_decode(a->page_token, &offset, e) < 0 ||
        trk__search_compile(versions ? TRK_SEARCH_MODEL_VERSIONS : TRK_SEARCH_REGISTERED_MODELS,
                            ef_sql_dialect(db), a->filter, a->list, &ss, e) < 0)
        goto out;
    st = search_stmt(db,
                     versions ? "SELECT " TRK_MV_COLS " FROM model_versions WHERE " TRK_NOT_DELETED
                                " AND "
                              : "SELECT " TRK_RM_COLS " FROM registered_models WHERE ",
                     &ss, a->max_results + 1, offset, e);
    if ((versions ? trk__mv_read_all(db, st, &ml, e) : trk__rm_read_all(db, st, &rl, e)) < 0)
        goto out;
    n = versions ? ml.n : rl.n;
    more = (int64_t)n > a->max_results;
    if (more) {
        n--;
        if (versions) trk__mv_item_release(&ml.items[--ml.n]);
        else trk__rm_item_release(&rl.items[--rl.n]);
    }
    if ((versions ? trk__mv_attach(db, &ml, 1, e) : trk__rm_attach(db, &rl, e)) < 0) goto out;
    if (!(*out = json_object()) || !(arr = json_array())) goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *item = versions ? trk__mv_render(&ml.items[i]) : trk__rm_render(&rl.items[i]);
        if (json_array_append_new(arr, item) < 0) goto oom;
    }
    if (n && json_object_set(*out, versions ? "model_versions" : "registered_models", arr) < 0)
        goto oom;
    rc = more ? trk__page_token_put(*out, offset + a->max_results, e) : 0;
    goto out;
oom:
    rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    json_decref(arr);
    trk__rm_list_release(&rl);
    trk__mv_list_release(&ml);
    trk__search_sql_release(&ss);
    return rc;
}

static int op_rm_search(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    return search_page(db, a, 0, out, e);
}

static int op_mv_search(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    return search_page(db, a, 1, out, e);
}

static int op_latest(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    trk_mv_list l = {0};
    int want[4] = {0}, rc = -1;
    size_t i;
    json_t *v, *arr = NULL;
    if (trk__rm_must_exist(db, a->name, e) < 0) goto out;
    json_array_foreach(a->list, i, v)
    {
        const char *s = trk__reg_canonical_stage(json_is_string(v) ? json_string_value(v) : "", e);
        if (!s) goto out;
        want[s == trk__reg_stages[0]   ? 0
             : s == trk__reg_stages[1] ? 1
             : s == trk__reg_stages[2] ? 2
                                       : 3] = 1;
    }
    if (json_array_size(a->list) == 0) want[0] = want[1] = want[2] = want[3] = 1;
    if (trk__mv_read_latest(db, &a->name, 1, &l, e) < 0 || trk__mv_attach(db, &l, 1, e) < 0)
        goto out;
    if (!(*out = json_object()) || !(arr = json_array())) goto oom;
    for (i = 0; i < l.n; i++) {
        const char *stage = json_string_value(json_object_get(l.items[i].obj, "current_stage"));
        for (size_t k = 0; k < 4; k++) {
            if (want[k] && stage && strcmp(stage, trk__reg_stages[k]) == 0 &&
                json_array_append_new(arr, trk__mv_render(&l.items[i])) < 0)
                goto oom;
        }
    }
    if (json_array_size(arr) && json_object_set(*out, "model_versions", arr) < 0) goto oom;
    rc = 0;
    goto out;
oom:
    rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    json_decref(arr);
    trk__mv_list_release(&l);
    return rc;
}

static int op_mv_create(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms(), version = 0, rc;
    char *storage = NULL;
    if (trk__reg_validate_source(db, a->source, a->run_id, e) < 0 ||
        trk__rm_must_exist(db, a->name, e) < 0 ||
        trk__reg_resolve_storage(db, a->source, &storage, e) < 0 ||
        trk__reg_q_int(db,
                       trk__reg_prep(db, e,
                                     "SELECT MAX(version) FROM model_versions WHERE name = ?", "t",
                                     a->name),
                       &version, e) < 0) {
        free(storage);
        return -1;
    }
    version++;
    rc = trk__reg_exec(
        db, e,
        "INSERT INTO model_versions(name, version, creation_time, last_updated_time,"
        " description, current_stage, source, run_id, run_link, status, storage_location)"
        " VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, 'READY', ?)",
        "tiiittttt", a->name, version, now, now, a->description, a->source, a->run_id, a->run_link,
        storage ? storage : a->source);
    free(storage);
    if (rc == -2) return 1; /* a concurrent create took the number (another process): retry */
    if (rc < 0 || touch_model(db, a->name, now, e) < 0 || put_tags(db, a->name, version, a->tags, e) < 0)
        return -1;
    if (trk__mv_load(db, a->name, version, out, e) < 0) return -1;
    return 0;
}

static int op_mv_update(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    if (trk__mv_must_exist(db, a->name, a->version, e) < 0 ||
        trk__reg_exec(db, e,
                      "UPDATE model_versions SET description = ?, last_updated_time = ? WHERE name "
                      "= ? AND version = ?",
                      "titi", a->description, ef_now_ms(), a->name, a->version) < 0)
        return -1;
    return trk__mv_load(db, a->name, a->version, out, e);
}

static int op_mv_delete(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms();
    (void)out;
    if (trk__mv_must_exist(db, a->name, a->version, e) < 0 ||
        touch_model(db, a->name, now, e) < 0 ||
        trk__reg_exec(db, e, "DELETE FROM registered_model_aliases WHERE name = ? AND version = ?",
                      "ti", a->name, a->version) < 0 ||
        trk__reg_exec(
            db, e,
            "UPDATE model_versions SET current_stage = '" TRK_STAGE_DELETED
            "', last_updated_time = ?,"
            " description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH',"
            " run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', status_message = NULL,"
            " storage_location = NULL WHERE name = ? AND version = ?",
            "iti", now, a->name, a->version) < 0)
        return -1;
    return 0;
}

static int op_mv_get(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    return trk__mv_load(db, a->name, a->version, out, e);
}

static int op_transition(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms();
    if (trk__mv_must_exist(db, a->name, a->version, e) < 0) return -1;
    if (a->archive &&
        trk__reg_exec(
            db, e,
            "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? WHERE"
            " name = ? AND version <> ? AND current_stage = ?",
            "itit", now, a->name, a->version, a->stage) < 0)
        return -1;
    if (trk__reg_exec(db, e,
                      "UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE "
                      "name = ? AND version = ?",
                      "titi", a->stage, now, a->name, a->version) < 0 ||
        touch_model(db, a->name, now, e) < 0)
        return -1;
    return trk__mv_load(db, a->name, a->version, out, e);
}

static int op_download_uri(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    char *loc = NULL;
    if (trk__mv_location(db, a->name, a->version, &loc, e) < 0) return -1;
    *out = json_pack("{ss}", "artifact_uri", loc);
    free(loc);
    return *out ? 0 : trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
}

/* set-tag of a registered model (versioned 0) or of a model version (versioned 1). */
static int set_tag(ef_sql *db, const reg_args *a, int versioned, trk_err *e)
{
    json_t *tags = json_pack("[{ssss}]", "key", a->key, "value", a->value);
    int rc;
    if (!tags) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    rc = (versioned ? trk__mv_must_exist(db, a->name, a->version, e)
                    : trk__rm_must_exist(db, a->name, e)) < 0 ||
                 put_tags(db, a->name, versioned ? a->version : 0, tags, e) < 0
             ? -1
             : 0;
    json_decref(tags);
    return rc;
}

static int op_rm_set_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    return set_tag(db, a, 0, e);
}

static int op_mv_set_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    return set_tag(db, a, 1, e);
}

static int op_rm_delete_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    if (trk__rm_must_exist(db, a->name, e) < 0 ||
        trk__reg_exec(db, e, "DELETE FROM registered_model_tags WHERE name = ? AND key = ?", "tt",
                      a->name, a->key) < 0)
        return -1;
    return 0;
}

static int op_mv_delete_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    if (trk__mv_must_exist(db, a->name, a->version, e) < 0 ||
        trk__reg_exec(db, e,
                      "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
                      "tit", a->name, a->version, a->key) < 0)
        return -1;
    return 0;
}

static int op_alias_set(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    if (trk__mv_must_exist(db, a->name, a->version, e) < 0 ||
        trk__reg_exec(db, e,
                      "INSERT INTO registered_model_aliases(name, alias, version) VALUES (?, ?, ?)"
                      " ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version",
                      "tti", a->name, a->alias, a->version) < 0)
        return -1;
    return 0;
}

static int op_alias_delete(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    return trk__reg_exec(db, e, "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?",
                         "tt", a->name, a->alias) < 0
               ? -1
               : 0;
}

static int op_alias_get(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t version = 0;
    int found = trk__reg_q_int(
        db,
        trk__reg_prep(db, e,
                      "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                      "tt", a->name, a->alias),
        &version, e);
    if (found < 0) return -1;
    if (!found) return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Registered model alias %s not found.", a->alias);
    return trk__mv_load(db, a->name, version, out, e);
}

/* ---------------------------------------------------------------------------------------------
 * Handlers: parse and validate the request message (before any database work, like MLflow's
 * handlers), then run the operation.
 * ------------------------------------------------------------------------------------------- */
/* A repeated string field (a single query value is wrapped into a->owned). */
static int get_list(const json_t *msg, const char *field, reg_args *a, trk_err *e)
{
    json_t *v = json_object_get(msg, field);
    if (!v || json_is_null(v)) return 0;
    if (json_is_array(v)) {
        a->list = v;
        return 0;
    }
    if (!json_is_string(v))
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter '%s' supplied: expected a list of strings", field);
    if (!(a->owned = json_array()) || json_array_append(a->owned, v) < 0)
        return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    a->list = a->owned;
    return 0;
}

/* `tags`: [{key, value}], each validated like MLflow's _validate_*_tag. */
static int get_tags(const json_t *msg, reg_args *a, trk_err *e)
{
    json_t *tags = json_object_get(msg, "tags"), *tag;
    size_t i;
    if (!tags || json_is_null(tags)) return 0;
    if (!json_is_array(tags))
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter 'tags' supplied: expected a list");
    json_array_foreach(tags, i, tag) {
        json_t *k = json_object_get(tag, "key"), *v = json_object_get(tag, "value");
        if (!json_is_object(tag) || (k && !json_is_string(k)) || (v && !json_is_null(v) && !json_is_string(v)))
            return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter 'tags[%zu]' supplied", i);
        if (trk__reg_validate_tag(json_string_value(k), json_string_value(v), e) < 0) return -1;
    }
    a->tags = tags;
    return 0;
}

/* `version`: a string holding an integer (a JSON integer is accepted too). */
static int get_version(const json_t *msg, reg_args *a, trk_err *e)
{
    const json_t *v = json_object_get(msg, "version");
    const char *s;
    if (json_is_integer(v)) {
        a->version = json_integer_value(v);
        return 0;
    }
    if (trk__str(msg, "version", 1, &s, e) < 0) return -1;
    return trk__reg_parse_version(s, &a->version, e);
}

static int get_max_results(const json_t *msg, int64_t def, int64_t max, reg_args *a, trk_err *e)
{
    a->max_results = def;
    if (trk__int(msg, "max_results", 0, &a->max_results, e) < 0) return -1;
    if (a->max_results > max)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Invalid value for request parameter max_results. It must be at most %lld, but got value %lld",
                         (long long)max, (long long)a->max_results);
    if (a->max_results < 1)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Invalid value for max_results. It must be a positive integer, but got %lld",
                         (long long)a->max_results);
    return 0;
}

#define STR(field, dst, req)                                                                       \
    do {                                                                                           \
        if (trk__str(msg, field, req, &a.dst, &e) < 0) goto fail;                                  \
    } while (0)
#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) < 0) goto fail;                                                                 \
    } while (0)

/* A handler: the statements after `write` parse msg into `a` (jumping to fail on error). */
#define HANDLER(fname, op, write, ...)                                                             \
    static void fname(ef_http_req *r, ef_tracking *t, const json_t *msg)                           \
    {                                                                                              \
        reg_args a = ARGS_INIT;                                                                    \
        trk_err e;                                                                                 \
        __VA_ARGS__;                                                                               \
        run(r, t, op, &a, write);                                                                  \
        json_decref(a.owned);                                                                      \
        return;                                                                                    \
    fail:                                                                                          \
        json_decref(a.owned);                                                                      \
        trk__reply_error(r, &e);                                                                   \
    }

HANDLER(h_rm_create, op_rm_create, 1,
        STR("name", name, 1); STR("description", description, 0); CHECK(get_tags(msg, &a, &e)))
HANDLER(h_rm_rename, op_rm_rename, 1, STR("name", name, 1); STR("new_name", new_name, 1))
HANDLER(h_rm_update, op_rm_update, 1, STR("name", name, 1); STR("description", description, 0))
HANDLER(h_rm_delete, op_rm_delete, 1, STR("name", name, 1))
HANDLER(h_rm_get, op_rm_get, 0, STR("name", name, 1))
HANDLER(h_rm_search, op_rm_search, 0,
        STR("filter", filter, 0); STR("page_token", page_token, 0);
        CHECK(get_max_results(msg, RM_SEARCH_DEFAULT, RM_SEARCH_MAX, &a, &e));
        CHECK(get_list(msg, "order_by", &a, &e)))
HANDLER(h_latest, op_latest, 0, STR("name", name, 1); CHECK(get_list(msg, "stages", &a, &e)))
HANDLER(h_mv_create, op_mv_create, 1,
        STR("name", name, 1); STR("source", source, 1); STR("run_id", run_id, 0);
        STR("run_link", run_link, 0); STR("description", description, 0);
        CHECK(get_tags(msg, &a, &e)))
HANDLER(h_mv_update, op_mv_update, 1,
        STR("name", name, 1); CHECK(get_version(msg, &a, &e)); STR("description", description, 0))
HANDLER(h_mv_delete, op_mv_delete, 1, STR("name", name, 1); CHECK(get_version(msg, &a, &e)))
HANDLER(h_mv_get, op_mv_get, 0, STR("name", name, 1); CHECK(get_version(msg, &a, &e)))
HANDLER(h_mv_search, op_mv_search, 0,
        STR("filter", filter, 0); STR("page_token", page_token, 0);
        CHECK(get_max_results(msg, MV_SEARCH_DEFAULT, MV_SEARCH_MAX, &a, &e));
        CHECK(get_list(msg, "order_by", &a, &e)))
HANDLER(h_download_uri, op_download_uri, 0, STR("name", name, 1); CHECK(get_version(msg, &a, &e)))
HANDLER(h_rm_set_tag, op_rm_set_tag, 1, STR("name", name, 1); STR("key", key, 1);
        STR("value", value, 0); CHECK(trk__reg_validate_tag(a.key, a.value, &e)))
HANDLER(h_mv_set_tag, op_mv_set_tag, 1, STR("name", name, 1); CHECK(get_version(msg, &a, &e));
        STR("key", key, 1); STR("value", value, 0);
        CHECK(trk__reg_validate_tag(a.key, a.value, &e)))
HANDLER(h_rm_delete_tag, op_rm_delete_tag, 1, STR("name", name, 1); STR("key", key, 1);
        CHECK(trk__reg_validate_tag(a.key, NULL, &e)))
HANDLER(h_mv_delete_tag, op_mv_delete_tag, 1, STR("name", name, 1); CHECK(get_version(msg, &a, &e));
        STR("key", key, 1); CHECK(trk__reg_validate_tag(a.key, NULL, &e)))
HANDLER(h_alias_set, op_alias_set, 1, STR("name", name, 1); STR("alias", alias, 1);
        CHECK(get_version(msg, &a, &e)); CHECK(trk__reg_validate_alias(a.alias, &e)))
HANDLER(h_alias_delete, op_alias_delete, 1, STR("name", name, 1); STR("alias", alias, 1);
        CHECK(trk__reg_validate_alias(a.alias, &e)))
HANDLER(h_alias_get, op_alias_get, 0, STR("name", name, 1); STR("alias", alias, 1))

/* transition-stage: the stage is checked (any case) before the version is looked up. */
static void h_transition(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    reg_args a = ARGS_INIT;
    trk_err e;
    const char *given;
    STR("name", name, 1);
    CHECK(get_version(msg, &a, &e));
    STR("stage", stage, 1);
    CHECK(trk__bool(msg, "archive_existing_versions", 0, &a.archive, &e));
    given = a.stage;
    if (!(a.stage = trk__reg_canonical_stage(given, &e))) goto fail;
    if (a.archive && a.stage != trk__reg_stages[1] && a.stage != trk__reg_stages[2]) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Model version transition cannot archive existing model versions because '%s' is "
                  "not an Active stage. Valid stages are ['Staging', 'Production']",
                  a.stage);
        goto fail;
    }
    run(r, t, op_transition, &a, 1);
    return;
fail:
    trk__reply_error(r, &e);
}

const trk_route trk__registry_routes[] = {
    {"POST", "/mlflow/registered-models/create", h_rm_create, 0},
    {"POST", "/mlflow/registered-models/rename", h_rm_rename, 0},
    {"PATCH", "/mlflow/registered-models/update", h_rm_update, 0},
    {"DELETE", "/mlflow/registered-models/delete", h_rm_delete, 0},
    {"GET", "/mlflow/registered-models/get", h_rm_get, 0},
    {"GET", "/mlflow/registered-models/search", h_rm_search, 0},
    {"POST", "/mlflow/registered-models/get-latest-versions", h_latest, 0},
    {"GET", "/mlflow/registered-models/get-latest-versions", h_latest, 0},
    {"POST", "/mlflow/registered-models/set-tag", h_rm_set_tag, 0},
    {"DELETE", "/mlflow/registered-models/delete-tag", h_rm_delete_tag, 0},
    {"POST", "/mlflow/registered-models/alias", h_alias_set, 0},
    {"DELETE", "/mlflow/registered-models/alias", h_alias_delete, 0},
    {"GET", "/mlflow/registered-models/alias", h_alias_get, 0},
    {"POST", "/mlflow/model-versions/create", h_mv_create, 0},
    {"PATCH", "/mlflow/model-versions/update", h_mv_update, 0},
    {"POST", "/mlflow/model-versions/transition-stage", h_transition, 0},
    {"DELETE", "/mlflow/model-versions/delete", h_mv_delete, 0},
    {"GET", "/mlflow/model-versions/get", h_mv_get, 0},
    {"GET", "/mlflow/model-versions/search", h_mv_search, 0},
    {"GET", "/mlflow/model-versions/get-download-uri", h_download_uri, 0},
    {"POST", "/mlflow/model-versions/set-tag", h_mv_set_tag, 0},
    {"DELETE", "/mlflow/model-versions/delete-tag", h_mv_delete_tag, 0},
    {NULL, NULL, NULL, 0},
};
