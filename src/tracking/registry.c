/* registry.c - the data side of the model registry of MLflow 2.12.2 (spec §3.2): registered
 * models, model versions, stages, tags and aliases over the schema of schema.c. This file loads
 * and renders the entities (with their tags, aliases and latest versions); registry_validate.c
 * holds MLflow's validation helpers and the resolution of model version sources, registry_api.c
 * the store operations (one per RPC) and the HTTP handlers. The three share registry_int.h.
 * Modelled on MLflow's SqlAlchemyStore for the registry so that results, messages and quirks
 * match:
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
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "tracking/registry_int.h"

#define IN_CHUNK 400 /* entities per IN (...) query: 800 parameters */

#define MV_COLS_P                                                                                  \
    "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, mv.user_id,"    \
    " mv.current_stage, mv.source, mv.run_id, mv.status, mv.status_message, mv.run_link"

const char *const trk__reg_stages[] = {"None", "Staging", "Production", "Archived"};

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
ef_sql_stmt *trk__reg_prep(ef_sql *db, trk_err *e, const char *sql, const char *types, ...)
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
int64_t trk__reg_exec(ef_sql *db, trk_err *e, const char *sql, const char *types, ...)
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

/* One int64 from a single-row query (finalized here): 1 found, 0 no row/NULL, -1 error. */
int trk__reg_q_int(ef_sql *db, ef_sql_stmt *st, int64_t *v, trk_err *e)
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

static int mv_not_found(trk_err *e, const char *name, int64_t version)
{
    return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST,
                     "Model Version (name=%s, version=%lld) not found", name, (long long)version);
}

/* Makes room for item n of an array of items of size bytes (*cap allocated), zeroes it and
 * returns the (possibly moved) array; NULL when out of memory (items is left as it was). */
static void *list_grow(void *items, size_t *cap, size_t n, size_t size)
{
    if (n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void *p = realloc(items, c * size);
        if (!p) return NULL;
        items = p;
        *cap = c;
    }
    memset((char *)items + n * size, 0, size);
    return items;
}

typedef int (*row_fn)(ef_sql_stmt *st, void *ctx); /* 0, or -1 out of memory */

/* Steps st (NULL: a failed prepare, e already set) to the end, calling row for every row;
 * finalizes st. what names the read in a database error. 0 or -1 with e. */
static int read_rows(ef_sql *db, ef_sql_stmt *st, row_fn row, void *ctx, const char *what,
                     trk_err *e)
{
    int rc;
    if (!st) return -1;
    while ((rc = ef_sql_step(st)) == EF_SQL_ROW) {
        if (row(st, ctx) < 0) {
            ef_sql_finalize(st);
            return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        }
    }
    ef_sql_finalize(st);
    return rc < 0 ? trk__fail_db(e, db, what) : 0;
}

/* Runs sql over cnt keys: names[i] bound to "?" (versions NULL) or names[i], versions[i] to
 * "(?,?)" (the placeholders() layouts), calling row for every result row; what names the read
 * in a database error. 0 or -1 with e. */
static int query_keys(ef_sql *db, const char *sql, const char *const *names,
                      const int64_t *versions, size_t cnt, row_fn row, void *ctx, const char *what,
                      trk_err *e)
{
    ef_sql_stmt *st = NULL;
    if (ef_sql_prepare(db, sql, &st) < 0) return trk__fail_db(e, db, "prepare");
    for (size_t i = 0; i < cnt; i++) {
        int k = versions ? (int)(2 * i + 1) : (int)i + 1;
        if (ef_sql_bind_text(st, k, names[i], strlen(names[i])) < 0 ||
            (versions && ef_sql_bind_int64(st, k + 1, versions[i]) < 0)) {
            ef_sql_finalize(st);
            return trk__fail_db(e, db, "bind");
        }
    }
    return read_rows(db, st, row, ctx, what, e);
}

/* ---------------------------------------------------------------------------------------------
 * Model versions as read from the database, rendered once tags and aliases are attached.
 * The types are in registry_int.h.
 * ------------------------------------------------------------------------------------------- */
void trk__mv_item_release(trk_mv_item *it)
{
    free(it->name);
    json_decref(it->obj);
    json_decref(it->tags);
    json_decref(it->aliases);
    json_decref(it->run_link);
}

void trk__mv_list_release(trk_mv_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        trk__mv_item_release(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Appends the current row of st (columns TRK_MV_COLS) to the trk_mv_list l. 0 or -1 (OOM). */
static int mv_push_row(ef_sql_stmt *st, void *list)
{
    trk_mv_list *l = list;
    trk_mv_item *items = list_grow(l->items, &l->cap, l->n, sizeof *items), *it;
    size_t n = 0;
    const char *name;
    int bad = 0;
    if (!items) return -1;
    l->items = items;
    it = &items[l->n++];
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
int trk__mv_read_all(ef_sql *db, ef_sql_stmt *st, trk_mv_list *l, trk_err *e)
{
    return read_rows(db, st, mv_push_row, l, "read model versions", e);
}

/* The finished ModelVersion message (new reference; NULL on OOM). Call once per item. */
json_t *trk__mv_render(trk_mv_item *it)
{
    int bad = 0;
    if (json_array_size(it->tags)) bad |= json_object_set(it->obj, "tags", it->tags);
    if (it->run_link) bad |= json_object_set(it->obj, "run_link", it->run_link);
    if (json_array_size(it->aliases)) bad |= json_object_set(it->obj, "aliases", it->aliases);
    return bad ? NULL : json_incref(it->obj);
}

static int mv_cmp(const void *a, const void *b)
{
    const trk_mv_item *x = *(trk_mv_item *const *)a, *y = *(trk_mv_item *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static trk_mv_item *mv_find(trk_mv_item **sorted, size_t n, const char *name, int64_t version)
{
    trk_mv_item key = {.name = (char *)name, .version = version}, *kp = &key, **f;
    f = bsearch(&kp, sorted, n, sizeof *sorted, mv_cmp);
    return f ? *f : NULL;
}

struct mv_index {
    trk_mv_item **sorted; /* by (name, version): mv_cmp */
    size_t n;
};


/* Appends {"key": column col, "value": column col+1 (omitted when NULL)} to tags. 0 or -1. */
static int append_tag(json_t *tags, ef_sql_stmt *st, int col)
{
    json_t *v = json_object();
    if (!v || json_array_append_new(tags, v) < 0 ||
        json_object_set_new(v, "key", col_str(st, col)) < 0 ||
        set_opt_str(v, "value", st, col + 1) < 0)
        return -1;
    return 0;
}

/* model_version_tags rows: name, version, key, value. */
static int mv_tag_row(ef_sql_stmt *st, void *ctx)
{
    struct mv_index *x = ctx;
    const char *name = ef_sql_column_text(st, 0, NULL);
    trk_mv_item *it = mv_find(x->sorted, x->n, name ? name : "", ef_sql_column_int64(st, 1));
    return it ? append_tag(it->tags, st, 2) : 0;
}

/* registered_model_aliases rows: name, version, alias. */
static int mv_alias_row(ef_sql_stmt *st, void *ctx)
{
    struct mv_index *x = ctx;
    const char *name = ef_sql_column_text(st, 0, NULL);
    trk_mv_item *it = mv_find(x->sorted, x->n, name ? name : "", ef_sql_column_int64(st, 1));
    if (!it) return 0;
    return json_array_append_new(it->aliases, col_str(st, 2)) < 0 ? -1 : 0;
}

/* Attaches tags (and aliases when with_aliases) to every item of l, one query per chunk. */
int trk__mv_attach(ef_sql *db, trk_mv_list *l, int with_aliases, trk_err *e)
{
    struct mv_index x = {NULL, l->n};
    const char **names = NULL;
    int64_t *versions = NULL;
    ef_buf sql;
    int rc = -1;
    ef_buf_init(&sql);
    if (l->n == 0) return 0;
    x.sorted = malloc(l->n * sizeof *x.sorted);
    names = malloc(l->n * sizeof *names);
    versions = malloc(l->n * sizeof *versions);
    if (!x.sorted || !names || !versions) goto oom;
    for (size_t i = 0; i < l->n; i++) {
        x.sorted[i] = &l->items[i];
        names[i] = l->items[i].name;
        versions[i] = l->items[i].version;
    }
    qsort(x.sorted, l->n, sizeof *x.sorted, mv_cmp);
    for (size_t start = 0; start < l->n; start += IN_CHUNK) {
        size_t cnt = l->n - start < IN_CHUNK ? l->n - start : IN_CHUNK;
        for (int pass = 0; pass < (with_aliases ? 2 : 1); pass++) {
            ef_buf_clear(&sql);
            const char *from = pass ? "SELECT name, version, alias FROM registered_model_aliases"
                                    : "SELECT name, version, key, value FROM model_version_tags";
            if (ef_buf_appends(&sql, from) < 0 ||
                ef_buf_appends(&sql, " WHERE (name, version) IN (VALUES ") < 0 ||
                placeholders(&sql, cnt, 1) < 0 ||
                ef_buf_appends(&sql, pass ? ") ORDER BY name, version, alias"
                                          : ") ORDER BY name, version, key") < 0)
                goto oom;
            if (query_keys(db, sql.data, names + start, versions + start, cnt,
                           pass ? mv_alias_row : mv_tag_row, &x, "read", e) < 0)
                goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    free(versions);
    free(names);
    free(x.sorted);
    ef_buf_release(&sql);
    return rc;
}

/* Appends the latest version of each stage of the models in names[0..n) to l, per model
 * ordered by the lowest version of the stage (MLflow's latest_versions order). */
int trk__mv_read_latest(ef_sql *db, const char *const *names, size_t n, trk_mv_list *l, trk_err *e)
{
    ef_buf sql;
    int rc = 0;
    ef_buf_init(&sql);
    for (size_t start = 0; start < n && rc == 0; start += IN_CHUNK) {
        size_t cnt = n - start < IN_CHUNK ? n - start : IN_CHUNK;
        ef_buf_clear(&sql);
        if (ef_buf_appends(&sql, "SELECT " MV_COLS_P " FROM model_versions mv JOIN (SELECT name"
                                 " AS n, MAX(version) AS v, MIN(version) AS f FROM model_versions"
                                 " WHERE " TRK_NOT_DELETED " AND name IN (") < 0 ||
            placeholders(&sql, cnt, 0) < 0 ||
            ef_buf_appends(&sql, ") GROUP BY name, current_stage) l ON mv.name = l.n AND"
                                 " mv.version = l.v ORDER BY mv.name, l.f") < 0)
            rc = trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        else
            rc = query_keys(db, sql.data, names + start, NULL, cnt, mv_push_row, l,
                            "read model versions", e);
    }
    ef_buf_release(&sql);
    return rc;
}

/* {"model_version": the live version with tags and aliases}, or 404. */
int trk__mv_load(ef_sql *db, const char *name, int64_t version, json_t **out, trk_err *e)
{
    json_t *mv;
    trk_mv_list l = {0};
    int rc = -1;
    ef_sql_stmt *st = trk__reg_prep(db, e,
                                    "SELECT " TRK_MV_COLS " FROM model_versions WHERE name = ? AND"
                                    " version = ? AND " TRK_NOT_DELETED,
                                    "ti", name, version);
    if (trk__mv_read_all(db, st, &l, e) < 0) goto out;
    if (l.n == 0) {
        mv_not_found(e, name, version);
        goto out;
    }
    if (trk__mv_attach(db, &l, 1, e) < 0) goto out;
    if (!(mv = trk__mv_render(&l.items[0])) || !(*out = json_pack("{so}", "model_version", mv))) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    rc = 0;
out:
    trk__mv_list_release(&l);
    return rc;
}

int trk__mv_must_exist(ef_sql *db, const char *name, int64_t version, trk_err *e)
{
    int rc = q_exists(
        db,
        trk__reg_prep(
            db, e,
            "SELECT 1 FROM model_versions WHERE name = ? AND version = ? AND " TRK_NOT_DELETED,
            "ti", name, version),
        e);
    if (rc == 0) return mv_not_found(e, name, version);
    return rc < 0 ? -1 : 0;
}

int trk__rm_must_exist(ef_sql *db, const char *name, trk_err *e)
{
    int rc = q_exists(
        db, trk__reg_prep(db, e, "SELECT 1 FROM registered_models WHERE name = ?", "t", name), e);
    if (rc == 0)
        return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Registered Model with name=%s not found",
                         name);
    return rc < 0 ? -1 : 0;
}

/* The download location of a live version: storage_location, else source. malloc'd in *out. */
int trk__mv_location(ef_sql *db, const char *name, int64_t version, char **out, trk_err *e)
{
    int step;
    ef_sql_stmt *st =
        trk__reg_prep(db, e,
                      "SELECT COALESCE(storage_location, source) FROM model_versions WHERE"
                      " name = ? AND version = ? AND " TRK_NOT_DELETED,
                      "ti", name, version);
    if (!st) return -1;
    step = ef_sql_step(st);
    if (step == EF_SQL_ROW) {
        const char *s = ef_sql_column_text(st, 0, NULL);
        *out = strdup(s ? s : "");
    }
    ef_sql_finalize(st);
    if (step < 0) return trk__fail_db(e, db, "read model version");
    if (step != EF_SQL_ROW) return mv_not_found(e, name, version);
    return *out ? 0 : trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
}

/* ---------------------------------------------------------------------------------------------
 * Registered models: read, attach latest versions / tags / aliases, render.
 * The types are in registry_int.h.
 * ------------------------------------------------------------------------------------------- */
void trk__rm_item_release(trk_rm_item *it)
{
    free(it->name);
    json_decref(it->obj);
    json_decref(it->latest);
    json_decref(it->tags);
    json_decref(it->aliases);
}

void trk__rm_list_release(trk_rm_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        trk__rm_item_release(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Appends the current row of st (columns TRK_RM_COLS) to the trk_rm_list l. 0 or -1 (OOM). */
static int rm_push_row(ef_sql_stmt *st, void *list)
{
    trk_rm_list *l = list;
    trk_rm_item *items = list_grow(l->items, &l->cap, l->n, sizeof *items), *it;
    size_t n = 0;
    const char *name;
    int bad = 0;
    if (!items) return -1;
    l->items = items;
    it = &items[l->n++];
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

int trk__rm_read_all(ef_sql *db, ef_sql_stmt *st, trk_rm_list *l, trk_err *e)
{
    return read_rows(db, st, rm_push_row, l, "read registered models", e);
}

static int rm_cmp(const void *a, const void *b)
{
    return strcmp((*(trk_rm_item *const *)a)->name, (*(trk_rm_item *const *)b)->name);
}

static trk_rm_item *rm_find(trk_rm_item **sorted, size_t n, const char *name)
{
    trk_rm_item key = {.name = (char *)name}, *kp = &key, **f;
    f = bsearch(&kp, sorted, n, sizeof *sorted, rm_cmp);
    return f ? *f : NULL;
}

struct rm_index {
    trk_rm_item **sorted; /* by name: rm_cmp */
    size_t n;
};

/* registered_model_tags rows: name, key, value. */
static int rm_tag_row(ef_sql_stmt *st, void *ctx)
{
    struct rm_index *x = ctx;
    const char *name = ef_sql_column_text(st, 0, NULL);
    trk_rm_item *it = rm_find(x->sorted, x->n, name ? name : "");
    return it ? append_tag(it->tags, st, 1) : 0;
}

/* registered_model_aliases rows: name, alias, version. */
static int rm_alias_row(ef_sql_stmt *st, void *ctx)
{
    struct rm_index *x = ctx;
    const char *name = ef_sql_column_text(st, 0, NULL);
    trk_rm_item *it = rm_find(x->sorted, x->n, name ? name : "");
    json_t *v;
    if (!it) return 0;
    v = json_object();
    if (!v || json_array_append_new(it->aliases, v) < 0 ||
        json_object_set_new(v, "alias", col_str(st, 1)) < 0 ||
        json_object_set_new(v, "version", version_str(ef_sql_column_int64(st, 2))) < 0)
        return -1;
    return 0;
}

/* Fills latest_versions, tags and aliases of every model in l. */
int trk__rm_attach(ef_sql *db, trk_rm_list *l, trk_err *e)
{
    struct rm_index x = {NULL, l->n};
    const char **names = NULL;
    trk_mv_list latest = {0};
    ef_buf sql;
    int rc = -1;
    ef_buf_init(&sql);
    if (l->n == 0) return 0;
    x.sorted = malloc(l->n * sizeof *x.sorted);
    names = malloc(l->n * sizeof *names);
    if (!x.sorted || !names) goto oom;
    for (size_t i = 0; i < l->n; i++) {
        x.sorted[i] = &l->items[i];
        names[i] = l->items[i].name;
    }
    qsort(x.sorted, l->n, sizeof *x.sorted, rm_cmp);

    if (trk__mv_read_latest(db, names, l->n, &latest, e) < 0 ||
        trk__mv_attach(db, &latest, 0, e) < 0)
        goto out;
    for (size_t i = 0; i < latest.n; i++) {
        trk_rm_item *it = rm_find(x.sorted, l->n, latest.items[i].name);
        if (it && json_array_append_new(it->latest, trk__mv_render(&latest.items[i])) < 0) goto oom;
    }

    for (size_t start = 0; start < l->n; start += IN_CHUNK) {
        size_t cnt = l->n - start < IN_CHUNK ? l->n - start : IN_CHUNK;
        for (int pass = 0; pass < 2; pass++) {
            ef_buf_clear(&sql);
            const char *from = pass ? "SELECT name, alias, version FROM registered_model_aliases"
                                    : "SELECT name, key, value FROM registered_model_tags";
            if (ef_buf_appends(&sql, from) < 0 ||
                ef_buf_appends(&sql, " WHERE name IN (") < 0 || placeholders(&sql, cnt, 0) < 0 ||
                ef_buf_appends(&sql, pass ? ") ORDER BY name, alias" : ") ORDER BY name, key") < 0)
                goto oom;
            if (query_keys(db, sql.data, names + start, NULL, cnt, pass ? rm_alias_row : rm_tag_row,
                           &x, "read", e) < 0)
                goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
out:
    trk__mv_list_release(&latest);
    free(names);
    free(x.sorted);
    ef_buf_release(&sql);
    return rc;
}

json_t *trk__rm_render(trk_rm_item *it)
{
    int bad = 0;
    if (json_array_size(it->latest)) bad |= json_object_set(it->obj, "latest_versions", it->latest);
    if (json_array_size(it->tags)) bad |= json_object_set(it->obj, "tags", it->tags);
    if (json_array_size(it->aliases)) bad |= json_object_set(it->obj, "aliases", it->aliases);
    return bad ? NULL : json_incref(it->obj);
}

/* {"registered_model": ...} for name, or 404. */
int trk__rm_load(ef_sql *db, const char *name, json_t **out, trk_err *e)
{
    trk_rm_list l = {0};
    int rc = -1;
    json_t *rm;
    if (trk__rm_read_all(
            db,
            trk__reg_prep(db, e, "SELECT " TRK_RM_COLS " FROM registered_models WHERE name = ?",
                          "t", name),
            &l, e) < 0)
        goto out;
    if (l.n == 0) {
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Registered Model with name=%s not found", name);
        goto out;
    }
    if (trk__rm_attach(db, &l, e) < 0) goto out;
    if (!(rm = trk__rm_render(&l.items[0])) ||
        !(*out = json_pack("{so}", "registered_model", rm))) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    rc = 0;
out:
    trk__rm_list_release(&l);
    return rc;
}
