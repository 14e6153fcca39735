/* registry.c - the model registry RPCs of MLflow 2.12.2 (spec §3.2): registered models, model
 * versions, stages, tags and aliases, over the schema of schema.c. Modelled on MLflow's
 * SqlAlchemyStore for the registry so that results, messages and quirks match:
 *
 *  - a deleted model version stays in model_versions with current_stage 'Deleted_Internal' and
 *    its source/run fields redacted, so version numbers are never reused (new = max + 1);
 *    every read hides such rows;
 *  - latest_versions of a registered model holds the highest version of each stage, stages in
 *    the order of their lowest version (what MLflow's dict-over-versions produces); those
 *    entries carry tags but no aliases, like MLflow's;
 *  - optional strings MLflow's handlers read from the proto (description, run_id, run_link,
 *    tag values) default to "" and are therefore emitted as "";
 *  - model-versions/create resolves the download location once: models:/ sources to the
 *    referenced version's location (as MLflow), runs:/<id>/<path> to the run's artifact_uri +
 *    path (so get-download-uri gives a URI the artifact proxy serves).
 *
 * Reads of a page never issue a query per row: tags and aliases of a page come with one
 * `IN (VALUES ...)` query per chunk of IN_CHUNK entities.
 *
 * Deliberate difference from 2.12.2: transition-stage with archive_existing_versions to a stage
 * other than Staging/Production is a 400 INVALID_PARAMETER_VALUE here; MLflow raises it without
 * an error code (500 INTERNAL_ERROR), which makes the Python client retry for a minute.
 * model-versions/search also fills `aliases` (MLflow 2.12.2 leaves it empty there).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "tracking/search.h"
#include "tracking/trk_int.h"

#define STAGE_DELETED "Deleted_Internal"
#define RM_SEARCH_DEFAULT 100
#define RM_SEARCH_MAX 1000
#define MV_SEARCH_DEFAULT 200000
#define MV_SEARCH_MAX 200000
#define TAG_KEY_MAX 250
#define TAG_VALUE_MAX 5000
#define ALIAS_MAX 255
#define IN_CHUNK 400 /* entities per IN (...) query: 800 parameters */
#define CREATE_RETRIES 3

#define MV_COLS                                                                                    \
    "name, version, creation_time, last_updated_time, description, user_id, current_stage,"       \
    " source, run_id, status, status_message, run_link"
#define MV_COLS_P                                                                                  \
    "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, mv.user_id,"    \
    " mv.current_stage, mv.source, mv.run_id, mv.status, mv.status_message, mv.run_link"
#define RM_COLS "name, creation_time, last_updated_time, description"
#define NOT_DELETED "current_stage <> '" STAGE_DELETED "'"

static const char *const stages[] = {"None", "Staging", "Production", "Archived"};

/* ---------------------------------------------------------------------------------------------
 * SQL helpers: statements with a type string ('t' const char * (NULL binds NULL), 'i' int64_t).
 * ------------------------------------------------------------------------------------------- */
static int vbind(ef_sql_stmt *st, int first, const char *types, va_list ap)
{
    int i = first;
    for (const char *p = types; *p; p++, i++) {
        int rc;
        if (*p == 't') {
            const char *s = va_arg(ap, const char *);
            rc = s ? ef_sql_bind_text(st, i, s, strlen(s)) : ef_sql_bind_null(st, i);
        } else {
            rc = ef_sql_bind_int64(st, i, va_arg(ap, int64_t));
        }
        if (rc < 0) return -1;
    }
    return 0;
}

/* Prepares and binds; NULL with e set on failure. */
static ef_sql_stmt *q_prep(ef_sql *db, trk_err *e, const char *sql, const char *types, ...)
{
    ef_sql_stmt *st = NULL;
    va_list ap;
    int rc;
    if (ef_sql_prepare(db, sql, &st) < 0) {
        trk__fail_db(e, db, "prepare");
        return NULL;
    }
    va_start(ap, types);
    rc = vbind(st, 1, types, ap);
    va_end(ap);
    if (rc < 0) {
        trk__fail_db(e, db, "bind");
        ef_sql_finalize(st);
        return NULL;
    }
    return st;
}

/* Runs a statement without rows. Returns the changed row count, -2 for a unique violation
 * (e not set), or -1 with e set. */
static int64_t q_exec(ef_sql *db, trk_err *e, const char *sql, const char *types, ...)
{
    ef_sql_stmt *st = NULL;
    va_list ap;
    int64_t out = -1;
    int rc;
    if (ef_sql_prepare(db, sql, &st) < 0) return trk__fail_db(e, db, "prepare");
    va_start(ap, types);
    rc = vbind(st, 1, types, ap);
    va_end(ap);
    if (rc < 0) {
        trk__fail_db(e, db, "bind");
        goto out;
    }
    rc = ef_sql_step(st);
    if (rc == EF_EEXIST) out = -2;
    else if (rc < 0) trk__fail_db(e, db, "write");
    else out = ef_sql_changes(st);
out:
    ef_sql_finalize(st);
    return out;
}

/* One row expected from st (finalized here): 1 found, 0 none, -1 error. */
static int q_exists(ef_sql *db, ef_sql_stmt *st, trk_err *e)
{
    int rc;
    if (!st) return -1;
    rc = ef_sql_step(st);
    ef_sql_finalize(st);
    if (rc < 0) return trk__fail_db(e, db, "read");
    return rc == EF_SQL_ROW;
}

static json_t *col_str(ef_sql_stmt *st, int c)
{
    size_t n = 0;
    const char *s = ef_sql_column_text(st, c, &n);
    return s ? json_stringn(s, n) : NULL;
}

static int set_opt_str(json_t *o, const char *k, ef_sql_stmt *st, int c)
{
    if (ef_sql_column_is_null(st, c)) return 0;
    return json_object_set_new(o, k, col_str(st, c));
}

static int set_opt_int(json_t *o, const char *k, ef_sql_stmt *st, int c)
{
    if (ef_sql_column_is_null(st, c)) return 0;
    return json_object_set_new(o, k, json_integer(ef_sql_column_int64(st, c)));
}

static json_t *version_str(int64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return json_string(b);
}

/* Appends "(?,?),(?,?)..." (pairs) or "?,?..." to b. */
static int placeholders(ef_buf *b, size_t n, int pairs)
{
    for (size_t i = 0; i < n; i++) {
        if (ef_buf_appends(b, i ? "," : "") < 0) return -1;
        if (ef_buf_appends(b, pairs ? "(?,?)" : "?") < 0) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Model versions as read from the database, rendered once tags and aliases are attached.
 * ------------------------------------------------------------------------------------------- */
typedef struct mv_item {
    char *name;
    int64_t version;
    json_t *obj;      /* name .. status_message, in proto field order */
    json_t *tags;     /* [{key, value}] */
    json_t *aliases;  /* ["alias"] */
    json_t *run_link; /* NULL: unset */
} mv_item;

typedef struct mv_list {
    mv_item *items;
    size_t n, cap;
} mv_list;

static void mv_item_release(mv_item *it)
{
    free(it->name);
    json_decref(it->obj);
    json_decref(it->tags);
    json_decref(it->aliases);
    json_decref(it->run_link);
}

static void mv_list_release(mv_list *l)
{
    for (size_t i = 0; i < l->n; i++) mv_item_release(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Appends the current row of st (columns MV_COLS). 0 or -1 (OOM). */
static int mv_push_row(mv_list *l, ef_sql_stmt *st)
{
    mv_item *it;
    size_t n = 0;
    const char *name;
    int bad = 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        mv_item *p = realloc(l->items, cap * sizeof *p);
        if (!p) return -1;
        l->items = p;
        l->cap = cap;
    }
    it = &l->items[l->n++];
    memset(it, 0, sizeof *it);
    name = ef_sql_column_text(st, 0, &n);
    it->name = strndup(name ? name : "", n);
    it->version = ef_sql_column_int64(st, 1);
    it->obj = json_object();
    it->tags = json_array();
    it->aliases = json_array();
    if (!it->name || !it->obj || !it->tags || !it->aliases) return -1;
    bad |= json_object_set_new(it->obj, "name", json_string(it->name));
    bad |= json_object_set_new(it->obj, "version", version_str(it->version));
    bad |= set_opt_int(it->obj, "creation_timestamp", st, 2);
    bad |= set_opt_int(it->obj, "last_updated_timestamp", st, 3);
    bad |= set_opt_str(it->obj, "user_id", st, 5);
    bad |= set_opt_str(it->obj, "current_stage", st, 6);
    bad |= set_opt_str(it->obj, "description", st, 4);
    bad |= set_opt_str(it->obj, "source", st, 7);
    bad |= set_opt_str(it->obj, "run_id", st, 8);
    bad |= set_opt_str(it->obj, "status", st, 9);
    if (!ef_sql_column_is_null(st, 10) && ef_sql_column_text(st, 10, &n) && n > 0)
        bad |= set_opt_str(it->obj, "status_message", st, 10);
    if (!ef_sql_column_is_null(st, 11) && !(it->run_link = col_str(st, 11))) bad = -1;
    return bad ? -1 : 0;
}

/* Steps st to the end, appending every row; finalizes st. */
static int mv_read_all(ef_sql *db, ef_sql_stmt *st, mv_list *l, trk_err *e)
{
    int rc;
    if (!st) return -1;
    while ((rc = ef_sql_step(st)) == EF_SQL_ROW) {
        if (mv_push_row(l, st) < 0) {
            ef_sql_finalize(st);
            return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        }
    }
    ef_sql_finalize(st);
    return rc < 0 ? trk__fail_db(e, db, "read model versions") : 0;
}

/* The finished ModelVersion message (new reference; NULL on OOM). Call once per item. */
static json_t *mv_render(mv_item *it)
{
    int bad = 0;
    if (json_array_size(it->tags)) bad |= json_object_set(it->obj, "tags", it->tags);
    if (it->run_link) bad |= json_object_set(it->obj, "run_link", it->run_link);
    if (json_array_size(it->aliases)) bad |= json_object_set(it->obj, "aliases", it->aliases);
    return bad ? NULL : json_incref(it->obj);
}

static int mv_cmp(const void *a, const void *b)
{
    const mv_item *x = *(mv_item *const *)a, *y = *(mv_item *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static mv_item *mv_find(mv_item **sorted, size_t n, const char *name, int64_t version)
{
    mv_item key = {.name = (char *)name, .version = version}, *kp = &key, **f;
    f = bsearch(&kp, sorted, n, sizeof *sorted, mv_cmp);
    return f ? *f : NULL;
}

/* Attaches tags (and aliases when with_aliases) to every item of l, one query per chunk. */
static int mv_attach(ef_sql *db, mv_list *l, int with_aliases, trk_err *e)
{
    mv_item **sorted = NULL;
    ef_buf sql;
    ef_sql_stmt *st = NULL;
    int rc = -1;
    ef_buf_init(&sql);
    if (l->n == 0) return 0;
    if (!(sorted = malloc(l->n * sizeof *sorted))) goto oom;
    for (size_t i = 0; i < l->n; i++) sorted[i] = &l->items[i];
    qsort(sorted, l->n, sizeof *sorted, mv_cmp);
    for (size_t start = 0; start < l->n; start += IN_CHUNK) {
        size_t cnt = l->n - start < IN_CHUNK ? l->n - start : IN_CHUNK;
        for (int pass = 0; pass < (with_aliases ? 2 : 1); pass++) {
            int step;
            ef_buf_clear(&sql);
            if (ef_buf_appends(&sql, pass ? "SELECT name, version, alias FROM registered_model_aliases"
                                          : "SELECT name, version, key, value FROM model_version_tags") < 0 ||
                ef_buf_appends(&sql, " WHERE (name, version) IN (VALUES ") < 0 ||
                placeholders(&sql, cnt, 1) < 0 ||
                ef_buf_appends(&sql, pass ? ") ORDER BY name, version, alias"
                                          : ") ORDER BY name, version, key") < 0)
                goto oom;
            if (ef_sql_prepare(db, sql.data, &st) < 0) {
                trk__fail_db(e, db, "prepare");
                goto out;
            }
            for (size_t i = 0; i < cnt; i++) {
                const mv_item *it = &l->items[start + i];
                if (ef_sql_bind_text(st, (int)(2 * i + 1), it->name, strlen(it->name)) < 0 ||
                    ef_sql_bind_int64(st, (int)(2 * i + 2), it->version) < 0) {
                    trk__fail_db(e, db, "bind");
                    goto out;
                }
            }
            while ((step = ef_sql_step(st)) == EF_SQL_ROW) {
                const char *name = ef_sql_column_text(st, 0, NULL);
                mv_item *it = mv_find(sorted, l->n, name ? name : "", ef_sql_column_int64(st, 1));
                json_t *v;
                if (!it) continue;
                if (pass) {
                    v = col_str(st, 2);
                    if (json_array_append_new(it->aliases, v) < 0) goto oom;
                } else {
                    v = json_object();
                    if (!v || json_array_append_new(it->tags, v) < 0 ||
                        json_object_set_new(v, "key", col_str(st, 2)) < 0 ||
                        set_opt_str(v, "value", st, 3) < 0)
                        goto oom;
                }
            }
            if (step < 0) {
                trk__fail_db(e, db, "read");
                goto out;
            }
            ef_sql_finalize(st);
            st = NULL;
        }
    }
    rc = 0;
    goto out;
oom:
    trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    ef_sql_finalize(st);
    free(sorted);
    ef_buf_release(&sql);
    return rc;
}

/* Appends the latest version of each stage of the models in names[0..n) to l, per model
 * ordered by the lowest version of the stage (MLflow's latest_versions order). */
static int mv_read_latest(ef_sql *db, const char *const *names, size_t n, mv_list *l, trk_err *e)
{
    ef_buf sql;
    int rc = 0;
    ef_buf_init(&sql);
    for (size_t start = 0; start < n && rc == 0; start += IN_CHUNK) {
        size_t cnt = n - start < IN_CHUNK ? n - start : IN_CHUNK;
        ef_sql_stmt *st = NULL;
        ef_buf_clear(&sql);
        if (ef_buf_appends(&sql, "SELECT " MV_COLS_P " FROM model_versions mv JOIN (SELECT name"
                                 " AS n, MAX(version) AS v, MIN(version) AS f FROM model_versions"
                                 " WHERE " NOT_DELETED " AND name IN (") < 0 ||
            placeholders(&sql, cnt, 0) < 0 ||
            ef_buf_appends(&sql, ") GROUP BY name, current_stage) l ON mv.name = l.n AND"
                                 " mv.version = l.v ORDER BY mv.name, l.f") < 0) {
            rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
            break;
        }
        if (ef_sql_prepare(db, sql.data, &st) < 0) {
            rc = trk__fail_db(e, db, "prepare");
            break;
        }
        for (size_t i = 0; i < cnt; i++) {
            if (ef_sql_bind_text(st, (int)i + 1, names[start + i], strlen(names[start + i])) < 0) {
                ef_sql_finalize(st);
                st = NULL;
                rc = trk__fail_db(e, db, "bind");
                break;
            }
        }
        if (st) rc = mv_read_all(db, st, l, e);
    }
    ef_buf_release(&sql);
    return rc;
}

/* {"model_version": the live version with tags and aliases}, or 404. */
static int mv_load(ef_sql *db, const char *name, int64_t version, json_t **out, trk_err *e)
{
    json_t *mv;
    mv_list l = {0};
    int rc = -1;
    ef_sql_stmt *st = q_prep(db, e,
                             "SELECT " MV_COLS " FROM model_versions WHERE name = ? AND"
                             " version = ? AND " NOT_DELETED,
                             "ti", name, version);
    if (mv_read_all(db, st, &l, e) < 0) goto out;
    if (l.n == 0) {
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Model Version (name=%s, version=%lld) not found",
                  name, (long long)version);
        goto out;
    }
    if (mv_attach(db, &l, 1, e) < 0) goto out;
    if (!(mv = mv_render(&l.items[0])) || !(*out = json_pack("{so}", "model_version", mv))) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    rc = 0;
out:
    mv_list_release(&l);
    return rc;
}

static int mv_must_exist(ef_sql *db, const char *name, int64_t version, trk_err *e)
{
    int rc = q_exists(db,
                      q_prep(db, e,
                             "SELECT 1 FROM model_versions WHERE name = ? AND version = ? AND " NOT_DELETED,
                             "ti", name, version),
                      e);
    if (rc == 0)
        return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST,
                         "Model Version (name=%s, version=%lld) not found", name, (long long)version);
    return rc < 0 ? -1 : 0;
}

static int rm_must_exist(ef_sql *db, const char *name, trk_err *e)
{
    int rc = q_exists(db, q_prep(db, e, "SELECT 1 FROM registered_models WHERE name = ?", "t", name), e);
    if (rc == 0)
        return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Registered Model with name=%s not found", name);
    return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Registered models: read, attach latest versions / tags / aliases, render.
 * ------------------------------------------------------------------------------------------- */
typedef struct rm_item {
    char *name;
    json_t *obj, *latest, *tags, *aliases;
} rm_item;

typedef struct rm_list {
    rm_item *items;
    size_t n, cap;
} rm_list;

static void rm_item_release(rm_item *it)
{
    free(it->name);
    json_decref(it->obj);
    json_decref(it->latest);
    json_decref(it->tags);
    json_decref(it->aliases);
}

static void rm_list_release(rm_list *l)
{
    for (size_t i = 0; i < l->n; i++) rm_item_release(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int rm_push_row(rm_list *l, ef_sql_stmt *st)
{
    rm_item *it;
    size_t n = 0;
    const char *name;
    int bad = 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        rm_item *p = realloc(l->items, cap * sizeof *p);
        if (!p) return -1;
        l->items = p;
        l->cap = cap;
    }
    it = &l->items[l->n++];
    memset(it, 0, sizeof *it);
    name = ef_sql_column_text(st, 0, &n);
    it->name = strndup(name ? name : "", n);
    it->obj = json_object();
    it->latest = json_array();
    it->tags = json_array();
    it->aliases = json_array();
    if (!it->name || !it->obj || !it->latest || !it->tags || !it->aliases) return -1;
    bad |= json_object_set_new(it->obj, "name", json_string(it->name));
    bad |= set_opt_int(it->obj, "creation_timestamp", st, 1);
    if (ef_sql_column_int64(st, 2) != 0) /* MLflow: `if self.last_updated_timestamp:` */
        bad |= set_opt_int(it->obj, "last_updated_timestamp", st, 2);
    bad |= set_opt_str(it->obj, "description", st, 3);
    return bad ? -1 : 0;
}

static int rm_read_all(ef_sql *db, ef_sql_stmt *st, rm_list *l, trk_err *e)
{
    int rc;
    if (!st) return -1;
    while ((rc = ef_sql_step(st)) == EF_SQL_ROW) {
        if (rm_push_row(l, st) < 0) {
            ef_sql_finalize(st);
            return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        }
    }
    ef_sql_finalize(st);
    return rc < 0 ? trk__fail_db(e, db, "read registered models") : 0;
}

static int rm_cmp(const void *a, const void *b)
{
    return strcmp((*(rm_item *const *)a)->name, (*(rm_item *const *)b)->name);
}

static rm_item *rm_find(rm_item **sorted, size_t n, const char *name)
{
    rm_item key = {.name = (char *)name}, *kp = &key, **f;
    f = bsearch(&kp, sorted, n, sizeof *sorted, rm_cmp);
    return f ? *f : NULL;
}

/* Fills latest_versions, tags and aliases of every model in l. */
static int rm_attach(ef_sql *db, rm_list *l, trk_err *e)
{
    rm_item **sorted = NULL;
    const char **names = NULL;
    mv_list latest = {0};
    ef_buf sql;
    ef_sql_stmt *st = NULL;
    int rc = -1;
    ef_buf_init(&sql);
    if (l->n == 0) return 0;
    sorted = malloc(l->n * sizeof *sorted);
    names = malloc(l->n * sizeof *names);
    if (!sorted || !names) goto oom;
    for (size_t i = 0; i < l->n; i++) {
        sorted[i] = &l->items[i];
        names[i] = l->items[i].name;
    }
    qsort(sorted, l->n, sizeof *sorted, rm_cmp);

    if (mv_read_latest(db, names, l->n, &latest, e) < 0 || mv_attach(db, &latest, 0, e) < 0)
        goto out;
    for (size_t i = 0; i < latest.n; i++) {
        rm_item *it = rm_find(sorted, l->n, latest.items[i].name);
        if (it && json_array_append_new(it->latest, mv_render(&latest.items[i])) < 0) goto oom;
    }

    for (size_t start = 0; start < l->n; start += IN_CHUNK) {
        size_t cnt = l->n - start < IN_CHUNK ? l->n - start : IN_CHUNK;
        for (int pass = 0; pass < 2; pass++) {
            int step;
            ef_buf_clear(&sql);
            if (ef_buf_appends(&sql, pass ? "SELECT name, alias, version FROM registered_model_aliases"
                                          : "SELECT name, key, value FROM registered_model_tags") < 0 ||
                ef_buf_appends(&sql, " WHERE name IN (") < 0 || placeholders(&sql, cnt, 0) < 0 ||
                ef_buf_appends(&sql, pass ? ") ORDER BY name, alias" : ") ORDER BY name, key") < 0)
                goto oom;
            if (ef_sql_prepare(db, sql.data, &st) < 0) {
                trk__fail_db(e, db, "prepare");
                goto out;
            }
            for (size_t i = 0; i < cnt; i++) {
                if (ef_sql_bind_text(st, (int)i + 1, names[start + i], strlen(names[start + i])) < 0) {
                    trk__fail_db(e, db, "bind");
                    goto out;
                }
            }
            while ((step = ef_sql_step(st)) == EF_SQL_ROW) {
                const char *name = ef_sql_column_text(st, 0, NULL);
                rm_item *it = rm_find(sorted, l->n, name ? name : "");
                json_t *v = json_object();
                if (!it) {
                    json_decref(v);
                    continue;
                }
                if (!v || json_array_append_new(pass ? it->aliases : it->tags, v) < 0) goto oom;
                if (pass ? (json_object_set_new(v, "alias", col_str(st, 1)) < 0 ||
                            json_object_set_new(v, "version", version_str(ef_sql_column_int64(st, 2))) < 0)
                         : (json_object_set_new(v, "key", col_str(st, 1)) < 0 ||
                            set_opt_str(v, "value", st, 2) < 0))
                    goto oom;
            }
            if (step < 0) {
                trk__fail_db(e, db, "read");
                goto out;
            }
            ef_sql_finalize(st);
            st = NULL;
        }
    }
    rc = 0;
    goto out;
oom:
    trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    ef_sql_finalize(st);
    mv_list_release(&latest);
    free(names);
    free(sorted);
    ef_buf_release(&sql);
    return rc;
}

static json_t *rm_render(rm_item *it)
{
    int bad = 0;
    if (json_array_size(it->latest)) bad |= json_object_set(it->obj, "latest_versions", it->latest);
    if (json_array_size(it->tags)) bad |= json_object_set(it->obj, "tags", it->tags);
    if (json_array_size(it->aliases)) bad |= json_object_set(it->obj, "aliases", it->aliases);
    return bad ? NULL : json_incref(it->obj);
}

/* {"registered_model": ...} for name, or 404. */
static int rm_load(ef_sql *db, const char *name, json_t **out, trk_err *e)
{
    rm_list l = {0};
    int rc = -1;
    json_t *rm;
    if (rm_read_all(db, q_prep(db, e, "SELECT " RM_COLS " FROM registered_models WHERE name = ?", "t", name),
                    &l, e) < 0)
        goto out;
    if (l.n == 0) {
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Registered Model with name=%s not found", name);
        goto out;
    }
    if (rm_attach(db, &l, e) < 0) goto out;
    if (!(rm = rm_render(&l.items[0])) || !(*out = json_pack("{so}", "registered_model", rm))) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    rc = 0;
out:
    rm_list_release(&l);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Validation, with MLflow's messages (mlflow/utils/validation.py).
 * ------------------------------------------------------------------------------------------- */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Bytes of the first max_chars characters of s, at most max_bytes (on a character boundary):
 * for quoting user text in messages without splitting a UTF-8 sequence. */
static int utf8_prefix(const char *s, size_t max_chars, size_t max_bytes)
{
    size_t chars = 0, cut = 0;
    for (size_t i = 0;; i++) {
        if (s[i] == '\0' || ((unsigned char)s[i] & 0xC0) != 0x80) {
            if (i > max_bytes) break;
            cut = i;
            if (!s[i] || chars == max_chars) break;
            chars++;
        }
    }
    return (int)cut;
}

static int length_limit(const char *what, const char *v, size_t limit, trk_err *e)
{
    size_t n = v ? utf8_len(v) : 0;
    if (n <= limit) return 0;
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                     "%s '%.*s' had length %zu, which exceeded length limit of %zu", what,
                     utf8_prefix(v, 250, 400), v, n, limit);
}

/* Python's \w on str, approximated: ASCII alphanumerics, '_', and any non-ASCII byte. */
static int word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* posixpath.normpath(p) into out (which holds strlen(p) + 2 bytes). */
static void normpath(const char *p, char *out)
{
    size_t o = 0, lead = 0;
    const char *s = p;
    if (!*p) {
        strcpy(out, ".");
        return;
    }
    if (p[0] == '/') lead = (p[1] == '/' && p[2] != '/') ? 2 : 1;
    for (size_t i = 0; i < lead; i++) out[o++] = '/';
    while (*s) {
        const char *seg;
        size_t len;
        while (*s == '/') s++;
        seg = s;
        while (*s && *s != '/') s++;
        len = (size_t)(s - seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            /* pop the last component unless there is none (or it is "..") */
            size_t end = o, beg;
            if (end > lead) {
                beg = end;
                while (beg > lead && out[beg - 1] != '/') beg--;
                if (!(end - beg == 2 && out[beg] == '.' && out[beg + 1] == '.')) {
                    o = beg > lead ? beg - 1 : lead;
                    continue;
                }
            } else if (lead) {
                continue; /* "/.." is "/" */
            }
        }
        if (o > lead) out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o == 0) out[o++] = '.';
    out[o] = '\0';
}

/* _validate_tag_name + the registry's key/value length limits. */
static int validate_tag(const char *key, const char *value, trk_err *e)
{
    char *norm;
    int bad;
    if (!key) return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'key'. See the API docs for more information about request parameters.");
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (!word_char(*p) && !strchr("/.- ", *p))
            return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                             "Invalid tag name: '%.*s'. Names may only contain alphanumerics, "
                             "underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).",
                             utf8_prefix(key, 250, 400), key);
    }
    if (!(norm = malloc(strlen(key) + 3))) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    normpath(key, norm);
    bad = strcmp(norm, key) != 0 || strcmp(norm, ".") == 0 || strncmp(norm, "..", 2) == 0 ||
          norm[0] == '/';
    if (bad) {
        trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid tag name: '%.*s'. Names may be treated as files in certain cases, and "
                  "must not resolve to other names when treated as such. This name would resolve "
                  "to '%.*s'",
                  utf8_prefix(key, 100, 200), key, utf8_prefix(norm, 100, 200), norm);
    }
    free(norm);
    if (bad) return -1;
    if (length_limit("key", key, TAG_KEY_MAX, e) < 0) return -1;
    return length_limit("value", value, TAG_VALUE_MAX, e);
}

static int validate_alias(const char *alias, trk_err *e)
{
    const char *p = alias;
    if (!*alias)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Registered model alias name cannot be empty.");
    for (; *p; p++) {
        if (!word_char((unsigned char)*p) && *p != '-')
            return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                             "Invalid alias name: '%.*s'. Names may only contain alphanumerics, "
                             "underscores (_), and dashes (-).",
                             utf8_prefix(alias, 250, 400), alias);
    }
    if (length_limit("Registered model alias name", alias, ALIAS_MAX, e) < 0) return -1;
    if (strcasecmp(alias, "latest") == 0)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "'latest' alias name (case insensitive) is reserved.");
    if ((alias[0] == 'v' || alias[0] == 'V') && alias[1]) {
        for (p = alias + 1; *p && isdigit((unsigned char)*p); p++) {
        }
        if (!*p) return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Version alias name '%s' is reserved.", alias);
    }
    return 0;
}

/* int(version) like Python: surrounding blanks, a sign, digits with single '_' between. */
static int parse_version(const char *s, int64_t *out, trk_err *e)
{
    const char *p = s;
    int neg = 0, digits = 0;
    uint64_t v = 0;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    for (; *p; p++) {
        if (*p == '_' && digits && isdigit((unsigned char)p[1])) continue;
        if (!isdigit((unsigned char)*p)) break;
        if (v > (uint64_t)INT64_MAX / 10) goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX) goto bad;
        digits++;
    }
    while (isspace((unsigned char)*p)) p++;
    if (!digits || *p) goto bad;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
bad:
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Parameter 'version' must be an integer, got '%.*s'.",
                     utf8_prefix(s, 100, 200), s);
}

/* The canonical stage name for s (any case), or NULL with e set. */
static const char *canonical_stage(const char *s, trk_err *e)
{
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        if (strcasecmp(s, stages[i]) == 0) return stages[i];
    }
    trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
              "Invalid Model Version stage: %.*s. Value must be one of None, Staging, Production, Archived.",
              utf8_prefix(s, 100, 200), s);
    return NULL;
}

/* The scheme of a URI the way urllib.parse.urlparse finds it ("" for none), into out[32]. */
static void uri_scheme(const char *uri, char out[32])
{
    size_t i = 0;
    out[0] = '\0';
    if (!isalpha((unsigned char)uri[0])) return;
    while (uri[i] && (isalnum((unsigned char)uri[i]) || strchr("+-.", uri[i]))) i++;
    if (uri[i] != ':' || i >= 32) return;
    for (size_t k = 0; k < i; k++) out[k] = (char)tolower((unsigned char)uri[k]);
    out[i] = '\0';
}

/* The path part of a URI: after "scheme:" and "//netloc", before '?' / '#'. malloc'd. */
static char *uri_path(const char *uri, const char *scheme)
{
    const char *p = uri + strlen(scheme) + (*scheme ? 1 : 0), *end;
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        while (*p && *p != '/' && *p != '?' && *p != '#') p++;
    }
    end = p + strcspn(p, "?#");
    return strndup(p, (size_t)(end - p));
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* unquote_plus in place: 1 if anything changed, 0 if not, -1 if it decoded a NUL byte. */
static int unquote_plus(char *s)
{
    char *w = s;
    int changed = 0;
    for (const char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
            changed = 1;
        } else if (*r == '%' && hexval((unsigned char)r[1]) >= 0 && hexval((unsigned char)r[2]) >= 0) {
            *w = (char)(hexval((unsigned char)r[1]) * 16 + hexval((unsigned char)r[2]));
            if (*w++ == '\0') return -1;
            r += 2;
            changed = 1;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return changed;
}

/* MLflow's _validate_source for model-versions/create: a local path must lie inside the
 * artifact directory of the given run; any other URI must not hold relative path references
 * (after repeated percent-decoding). */
static int validate_source(ef_sql *db, const char *source, const char *run_id, trk_err *e)
{
    char scheme[32], *path = NULL, *decoded = NULL;
    int rc = -1, relative;
    uri_scheme(source, scheme);
    if (!*scheme || strcmp(scheme, "file") == 0) {
        char *art = NULL, *ns = NULL, *na = NULL;
        size_t n;
        if (*run_id) {
            ef_sql_stmt *st = q_prep(db, e, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", "t", run_id);
            int step;
            if (!st) return -1;
            step = ef_sql_step(st);
            if (step == EF_SQL_ROW && !ef_sql_column_is_null(st, 0)) {
                char s2[32];
                const char *a = ef_sql_column_text(st, 0, NULL);
                uri_scheme(a, s2);
                if (!*s2 || strcmp(s2, "file") == 0) art = uri_path(a, s2);
            }
            ef_sql_finalize(st);
            if (step < 0) return trk__fail_db(e, db, "read run");
            if (step != EF_SQL_ROW)
                return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
        }
        path = uri_path(source, scheme);
        if (art && path && unquote_plus(path) >= 0 && unquote_plus(art) >= 0 &&
            (ns = malloc(strlen(path) + 3)) && (na = malloc(strlen(art) + 3))) {
            normpath(path, ns);
            normpath(art, na);
            n = strlen(na);
            if (ns[0] == '/' && na[0] == '/' &&
                strncmp(ns, na, n) == 0 && (ns[n] == '\0' || ns[n] == '/' || n == 1))
                rc = 0;
        }
        free(ns);
        free(na);
        free(art);
        free(path);
        if (rc == 0) return 0;
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Invalid model version source: '%.*s'. To use a local path as a model "
                         "version source, the run_id request parameter has to be specified and the "
                         "local path has to be contained within the artifact directory of the run "
                         "specified by the run_id.",
                         utf8_prefix(source, 200, 400), source);
    }
    if (!(decoded = strdup(source))) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    while ((rc = unquote_plus(decoded)) > 0) {
    }
    relative = rc < 0; /* a NUL byte */
    if (!relative) {
        uri_scheme(decoded, scheme);
        if (!(path = uri_path(decoded, scheme))) {
            free(decoded);
            return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        }
        /* "." / ".." segments or a relative path: what makes resolve() != path in MLflow */
        relative = path[0] && path[0] != '/';
        for (const char *s = path; *s && !relative;) {
            size_t len;
            while (*s == '/') s++;
            len = strcspn(s, "/");
            relative = (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
            s += len;
        }
    }
    rc = 0;
    if (relative)
        rc = trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                       "Invalid model version source: '%.*s'. If supplying a source as an http, "
                       "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an "
                       "absolute path to the model must be provided without relative path "
                       "references present. Please provide an absolute path.",
                       utf8_prefix(source, 200, 400), source);
    free(path);
    free(decoded);
    return rc;
}

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
        int64_t rc = version > 0
            ? q_exec(db, e,
                     "INSERT INTO model_version_tags(name, version, key, value) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value",
                     "titt", name, version, key, value ? value : "")
            : q_exec(db, e,
                     "INSERT INTO registered_model_tags(name, key, value) VALUES (?, ?, ?)"
                     " ON CONFLICT(name, key) DO UPDATE SET value = excluded.value",
                     "ttt", name, key, value ? value : "");
        if (rc < 0) return rc == -2 ? trk__fail_db(e, db, "tag") : -1;
    }
    return 0;
}

static int touch_model(ef_sql *db, const char *name, int64_t now, trk_err *e)
{
    return q_exec(db, e, "UPDATE registered_models SET last_updated_time = ? WHERE name = ?", "it", now, name) < 0
               ? -1 : 0;
}

static int op_rm_create(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms();
    int64_t rc = q_exec(db, e,
                        "INSERT INTO registered_models(name, creation_time, last_updated_time,"
                        " description) VALUES (?, ?, ?, ?)",
                        "tiit", a->name, now, now, a->description);
    if (rc == -2) return trk__fail(e, TRK_RESOURCE_ALREADY_EXISTS, "Registered Model (name=%s) already exists.", a->name);
    if (rc < 0 || put_tags(db, a->name, 0, a->tags, e) < 0) return -1;
    return rm_load(db, a->name, out, e);
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
    if (rm_must_exist(db, a->name, e) < 0) return -1;
    rc = q_exec(db, e, "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?",
                "tit", a->new_name, now, a->name);
    if (rc == -2) return trk__fail(e, TRK_RESOURCE_ALREADY_EXISTS, "Registered Model (name=%s) already exists.", a->new_name);
    if (rc < 0) return -1;
    if (q_exec(db, e, moves[0], "tit", a->new_name, now, a->name) < 0) return -1;
    for (size_t i = 1; i < sizeof moves / sizeof moves[0]; i++) {
        if (q_exec(db, e, moves[i], "tt", a->new_name, a->name) < 0) return -1;
    }
    return rm_load(db, a->new_name, out, e);
}

static int op_rm_update(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    if (rm_must_exist(db, a->name, e) < 0 ||
        q_exec(db, e, "UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?",
               "tit", a->description, ef_now_ms(), a->name) < 0)
        return -1;
    return rm_load(db, a->name, out, e);
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
    if (rm_must_exist(db, a->name, e) < 0) return -1;
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
        if (q_exec(db, e, dels[i], "t", a->name) < 0) return -1;
    }
    return 0;
}

static int op_rm_get(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    return rm_load(db, a->name, out, e);
}

/* Runs a compiled search: SELECT cols FROM table WHERE [own AND] (filter) ORDER .. LIMIT .. */
static ef_sql_stmt *search_stmt(ef_sql *db, const char *head, const trk_search_sql *ss,
                                int64_t limit, int64_t offset, trk_err *e)
{
    ef_buf sql;
    ef_sql_stmt *st = NULL;
    int idx;
    ef_buf_init(&sql);
    if (ef_buf_appendf(&sql, "%s(%s) %s LIMIT ? OFFSET ?", head, ss->where.data ? ss->where.data : "1=1",
                       ss->order.data ? ss->order.data : "") < 0) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    if (ef_sql_prepare(db, sql.data, &st) < 0) {
        trk__fail_db(e, db, "prepare search");
        goto out;
    }
    idx = trk__search_bind(ss, st, 1);
    if (idx < 0 || ef_sql_bind_int64(st, idx, limit) < 0 || ef_sql_bind_int64(st, idx + 1, offset) < 0) {
        trk__fail_db(e, db, "bind search");
        ef_sql_finalize(st);
        st = NULL;
    }
out:
    ef_buf_release(&sql);
    return st;
}

/* Adds next_page_token to out when the page was full and more rows exist. */
static int page_token(json_t *out, int more, int64_t next_offset, trk_err *e)
{
    char *tok;
    if (!more) return 0;
    if (!(tok = trk__page_token_encode(next_offset)) ||
        json_object_set_new(out, "next_page_token", json_string(tok)) < 0) {
        free(tok);
        return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    }
    free(tok);
    return 0;
}

static int op_rm_search(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    trk_search_sql ss;
    rm_list l = {0};
    int64_t offset = 0;
    int rc = -1, more;
    json_t *arr = NULL;
    memset(&ss, 0, sizeof ss);
    if (trk__page_token_decode(a->page_token, &offset, e) < 0 ||
        trk__search_compile(TRK_SEARCH_REGISTERED_MODELS, ef_sql_dialect(db), a->filter, a->list, &ss, e) < 0)
        goto out;
    if (rm_read_all(db, search_stmt(db, "SELECT " RM_COLS " FROM registered_models WHERE ", &ss,
                                    a->max_results + 1, offset, e),
                    &l, e) < 0)
        goto out;
    more = (int64_t)l.n > a->max_results;
    if (more) rm_item_release(&l.items[--l.n]);
    if (rm_attach(db, &l, e) < 0) goto out;
    if (!(*out = json_object()) || !(arr = json_array())) goto oom;
    for (size_t i = 0; i < l.n; i++) {
        if (json_array_append_new(arr, rm_render(&l.items[i])) < 0) goto oom;
    }
    if (l.n && json_object_set(*out, "registered_models", arr) < 0) goto oom;
    rc = page_token(*out, more, offset + a->max_results, e);
    goto out;
oom:
    rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    json_decref(arr);
    rm_list_release(&l);
    trk__search_sql_release(&ss);
    return rc;
}

static int op_mv_search(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    trk_search_sql ss;
    mv_list l = {0};
    int64_t offset = 0;
    int rc = -1, more;
    json_t *arr = NULL;
    memset(&ss, 0, sizeof ss);
    if (trk__page_token_decode(a->page_token, &offset, e) < 0 ||
        trk__search_compile(TRK_SEARCH_MODEL_VERSIONS, ef_sql_dialect(db), a->filter, a->list, &ss, e) < 0)
        goto out;
    if (mv_read_all(db, search_stmt(db, "SELECT " MV_COLS " FROM model_versions WHERE " NOT_DELETED " AND ",
                                    &ss, a->max_results + 1, offset, e),
                    &l, e) < 0)
        goto out;
    more = (int64_t)l.n > a->max_results;
    if (more) mv_item_release(&l.items[--l.n]);
    if (mv_attach(db, &l, 1, e) < 0) goto out;
    if (!(*out = json_object()) || !(arr = json_array())) goto oom;
    for (size_t i = 0; i < l.n; i++) {
        if (json_array_append_new(arr, mv_render(&l.items[i])) < 0) goto oom;
    }
    if (l.n && json_object_set(*out, "model_versions", arr) < 0) goto oom;
    rc = page_token(*out, more, offset + a->max_results, e);
    goto out;
oom:
    rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    json_decref(arr);
    mv_list_release(&l);
    trk__search_sql_release(&ss);
    return rc;
}

static int op_latest(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    mv_list l = {0};
    int want[4] = {0}, rc = -1;
    size_t i;
    json_t *v, *arr = NULL;
    if (rm_must_exist(db, a->name, e) < 0) goto out;
    json_array_foreach(a->list, i, v) {
        const char *s = canonical_stage(json_is_string(v) ? json_string_value(v) : "", e);
        if (!s) goto out;
        want[s == stages[0] ? 0 : s == stages[1] ? 1 : s == stages[2] ? 2 : 3] = 1;
    }
    if (json_array_size(a->list) == 0) want[0] = want[1] = want[2] = want[3] = 1;
    if (mv_read_latest(db, &a->name, 1, &l, e) < 0 || mv_attach(db, &l, 1, e) < 0) goto out;
    if (!(*out = json_object()) || !(arr = json_array())) goto oom;
    for (i = 0; i < l.n; i++) {
        const char *stage = json_string_value(json_object_get(l.items[i].obj, "current_stage"));
        for (size_t k = 0; k < 4; k++) {
            if (want[k] && stage && strcmp(stage, stages[k]) == 0 &&
                json_array_append_new(arr, mv_render(&l.items[i])) < 0)
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
    mv_list_release(&l);
    return rc;
}

/* The download location of a live version: storage_location, else source. malloc'd in *out. */
static int version_location(ef_sql *db, const char *name, int64_t version, char **out, trk_err *e)
{
    int step;
    ef_sql_stmt *st = q_prep(db, e,
                             "SELECT COALESCE(storage_location, source) FROM model_versions WHERE"
                             " name = ? AND version = ? AND " NOT_DELETED,
                             "ti", name, version);
    if (!st) return -1;
    step = ef_sql_step(st);
    if (step == EF_SQL_ROW) {
        const char *s = ef_sql_column_text(st, 0, NULL);
        *out = strdup(s ? s : "");
    }
    ef_sql_finalize(st);
    if (step < 0) return trk__fail_db(e, db, "read model version");
    if (step != EF_SQL_ROW)
        return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Model Version (name=%s, version=%lld) not found",
                         name, (long long)version);
    return *out ? 0 : trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
}

/* One int64 from a single-row query (finalized here): 1 found, 0 no row/NULL, -1 error. */
static int q_int(ef_sql *db, ef_sql_stmt *st, int64_t *v, trk_err *e)
{
    int step, found = 0;
    if (!st) return -1;
    step = ef_sql_step(st);
    if (step == EF_SQL_ROW && !ef_sql_column_is_null(st, 0)) {
        *v = ef_sql_column_int64(st, 0);
        found = 1;
    }
    ef_sql_finalize(st);
    return step < 0 ? trk__fail_db(e, db, "read") : found;
}

/* models:/<name>/<version|stage|latest> and models:/<name>@<alias> -> (name, version). */
static int resolve_models_uri(ef_sql *db, const char *uri, char **name, int64_t *version, trk_err *e)
{
    const char *p = uri + strlen("models:/"), *sep = p + strcspn(p, "/@");
    int found = 0;
    char *suffix;
    trk_err sub;
    if (sep == p || !*sep || strchr(sep + 1, '/') || !sep[1])
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Not a proper models:/ URI: %s", uri);
    if (!(*name = strndup(p, (size_t)(sep - p))) || !(suffix = strdup(sep + 1))) {
        free(*name);
        *name = NULL;
        return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    }
    if (*sep == '@') {
        found = q_int(db, q_prep(db, e, "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                 "tt", *name, suffix), version, e);
    } else if (strspn(suffix, "0123456789") == strlen(suffix)) {
        found = parse_version(suffix, version, e) < 0 ? -1 : 1;
    } else if (strcasecmp(suffix, "latest") == 0) {
        found = q_int(db, q_prep(db, e, "SELECT MAX(version) FROM model_versions WHERE name = ? AND " NOT_DELETED,
                                 "t", *name), version, e);
    } else {
        const char *stage = canonical_stage(suffix, &sub);
        found = stage ? q_int(db, q_prep(db, e, "SELECT MAX(version) FROM model_versions WHERE name = ?"
                                               " AND current_stage = ?", "tt", *name, stage), version, e)
                      : 0;
    }
    free(suffix);
    if (found == 0) trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Could not find a model version for %s", uri);
    return found > 0 ? 0 : -1;
}

/* Where the artifacts of a new version with this source are (NULL: the source itself). */
static int resolve_storage(ef_sql *db, const char *source, char **out, trk_err *e)
{
    *out = NULL;
    if (strncmp(source, "models:/", 8) == 0) {
        char *name = NULL;
        int64_t version = 0;
        trk_err sub;
        int rc = resolve_models_uri(db, source, &name, &version, &sub);
        if (rc == 0) rc = version_location(db, name, version, out, &sub);
        free(name);
        if (rc < 0)
            return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                             "Unable to fetch model from model URI source artifact location '%.*s'.Error: %s",
                             utf8_prefix(source, 200, 400), source, sub.message);
    } else if (strncmp(source, "runs:/", 6) == 0) {
        const char *id = source + 6, *slash = id + strcspn(id, "/");
        char *run_id = strndup(id, (size_t)(slash - id));
        ef_sql_stmt *st;
        int step;
        if (!run_id) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        st = q_prep(db, e, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", "t", run_id);
        free(run_id);
        if (!st) return -1;
        step = ef_sql_step(st);
        if (step == EF_SQL_ROW && !ef_sql_column_is_null(st, 0)) {
            ef_buf b;
            const char *art = ef_sql_column_text(st, 0, NULL);
            size_t n = strlen(art);
            ef_buf_init(&b);
            while (*slash == '/') slash++;
            if (ef_buf_append(&b, art, n && art[n - 1] == '/' ? n - 1 : n) < 0 ||
                (*slash && ef_buf_appendf(&b, "/%s", slash) < 0) || !(*out = ef_buf_take(&b, NULL))) {
                ef_buf_release(&b);
                step = EF_ENOMEM;
            }
        }
        ef_sql_finalize(st);
        if (step == EF_ENOMEM) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        if (step < 0) return trk__fail_db(e, db, "read run");
    }
    return 0;
}

static int op_mv_create(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms(), version = 0, rc;
    char *storage = NULL;
    if (validate_source(db, a->source, a->run_id, e) < 0 || rm_must_exist(db, a->name, e) < 0 ||
        resolve_storage(db, a->source, &storage, e) < 0 ||
        q_int(db, q_prep(db, e, "SELECT MAX(version) FROM model_versions WHERE name = ?", "t", a->name),
              &version, e) < 0) {
        free(storage);
        return -1;
    }
    version++;
    rc = q_exec(db, e,
                "INSERT INTO model_versions(name, version, creation_time, last_updated_time,"
                " description, current_stage, source, run_id, run_link, status, storage_location)"
                " VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, 'READY', ?)",
                "tiiittttt", a->name, version, now, now, a->description, a->source, a->run_id,
                a->run_link, storage ? storage : a->source);
    free(storage);
    if (rc == -2) return 1; /* a concurrent create took the number (another process): retry */
    if (rc < 0 || touch_model(db, a->name, now, e) < 0 || put_tags(db, a->name, version, a->tags, e) < 0)
        return -1;
    if (mv_load(db, a->name, version, out, e) < 0) return -1;
    return 0;
}

static int op_mv_update(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    if (mv_must_exist(db, a->name, a->version, e) < 0 ||
        q_exec(db, e, "UPDATE model_versions SET description = ?, last_updated_time = ? WHERE name = ? AND version = ?",
               "titi", a->description, ef_now_ms(), a->name, a->version) < 0)
        return -1;
    return mv_load(db, a->name, a->version, out, e);
}

static int op_mv_delete(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms();
    (void)out;
    if (mv_must_exist(db, a->name, a->version, e) < 0 || touch_model(db, a->name, now, e) < 0 ||
        q_exec(db, e, "DELETE FROM registered_model_aliases WHERE name = ? AND version = ?", "ti",
               a->name, a->version) < 0 ||
        q_exec(db, e,
               "UPDATE model_versions SET current_stage = '" STAGE_DELETED "', last_updated_time = ?,"
               " description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH',"
               " run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', status_message = NULL,"
               " storage_location = NULL WHERE name = ? AND version = ?",
               "iti", now, a->name, a->version) < 0)
        return -1;
    return 0;
}

static int op_mv_get(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    return mv_load(db, a->name, a->version, out, e);
}

static int op_transition(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t now = ef_now_ms();
    if (mv_must_exist(db, a->name, a->version, e) < 0) return -1;
    if (a->archive &&
        q_exec(db, e,
               "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? WHERE"
               " name = ? AND version <> ? AND current_stage = ?",
               "itit", now, a->name, a->version, a->stage) < 0)
        return -1;
    if (q_exec(db, e,
               "UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE name = ? AND version = ?",
               "titi", a->stage, now, a->name, a->version) < 0 ||
        touch_model(db, a->name, now, e) < 0)
        return -1;
    return mv_load(db, a->name, a->version, out, e);
}

static int op_download_uri(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    char *loc = NULL;
    if (version_location(db, a->name, a->version, &loc, e) < 0) return -1;
    *out = json_pack("{ss}", "artifact_uri", loc);
    free(loc);
    return *out ? 0 : trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
}

static int op_rm_set_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    json_t *tags = json_pack("[{ssss}]", "key", a->key, "value", a->value);
    int rc;
    (void)out;
    if (!tags) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    rc = rm_must_exist(db, a->name, e) < 0 || put_tags(db, a->name, 0, tags, e) < 0 ? -1 : 0;
    json_decref(tags);
    return rc;
}

static int op_mv_set_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    json_t *tags = json_pack("[{ssss}]", "key", a->key, "value", a->value);
    int rc;
    (void)out;
    if (!tags) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    rc = mv_must_exist(db, a->name, a->version, e) < 0 || put_tags(db, a->name, a->version, tags, e) < 0 ? -1 : 0;
    json_decref(tags);
    return rc;
}

static int op_rm_delete_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    if (rm_must_exist(db, a->name, e) < 0 ||
        q_exec(db, e, "DELETE FROM registered_model_tags WHERE name = ? AND key = ?", "tt", a->name, a->key) < 0)
        return -1;
    return 0;
}

static int op_mv_delete_tag(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    if (mv_must_exist(db, a->name, a->version, e) < 0 ||
        q_exec(db, e, "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?", "tit",
               a->name, a->version, a->key) < 0)
        return -1;
    return 0;
}

static int op_alias_set(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    if (mv_must_exist(db, a->name, a->version, e) < 0 ||
        q_exec(db, e,
               "INSERT INTO registered_model_aliases(name, alias, version) VALUES (?, ?, ?)"
               " ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version",
               "tti", a->name, a->alias, a->version) < 0)
        return -1;
    return 0;
}

static int op_alias_delete(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    (void)out;
    return q_exec(db, e, "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?", "tt", a->name,
                  a->alias) < 0 ? -1 : 0;
}

static int op_alias_get(ef_sql *db, const reg_args *a, json_t **out, trk_err *e)
{
    int64_t version = 0;
    int found = q_int(db, q_prep(db, e, "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                 "tt", a->name, a->alias), &version, e);
    if (found < 0) return -1;
    if (!found) return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Registered model alias %s not found.", a->alias);
    return mv_load(db, a->name, version, out, e);
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
        if (validate_tag(json_string_value(k), json_string_value(v), e) < 0) return -1;
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
    return parse_version(s, &a->version, e);
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
HANDLER(h_rm_set_tag, op_rm_set_tag, 1,
        STR("name", name, 1); STR("key", key, 1); STR("value", value, 0);
        CHECK(validate_tag(a.key, a.value, &e)))
HANDLER(h_mv_set_tag, op_mv_set_tag, 1,
        STR("name", name, 1); CHECK(get_version(msg, &a, &e)); STR("key", key, 1);
        STR("value", value, 0); CHECK(validate_tag(a.key, a.value, &e)))
HANDLER(h_rm_delete_tag, op_rm_delete_tag, 1,
        STR("name", name, 1); STR("key", key, 1); CHECK(validate_tag(a.key, NULL, &e)))
HANDLER(h_mv_delete_tag, op_mv_delete_tag, 1,
        STR("name", name, 1); CHECK(get_version(msg, &a, &e)); STR("key", key, 1);
        CHECK(validate_tag(a.key, NULL, &e)))
HANDLER(h_alias_set, op_alias_set, 1,
        STR("name", name, 1); STR("alias", alias, 1); CHECK(get_version(msg, &a, &e));
        CHECK(validate_alias(a.alias, &e)))
HANDLER(h_alias_delete, op_alias_delete, 1,
        STR("name", name, 1); STR("alias", alias, 1); CHECK(validate_alias(a.alias, &e)))
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
    if (!(a.stage = canonical_stage(given, &e))) goto fail;
    if (a.archive && a.stage != stages[1] && a.stage != stages[2]) {
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
