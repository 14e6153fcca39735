/* registry_int.h - what the three files of the model registry share (prefix trk__; not a public
 * API). registry.c: SQL helpers, model versions and registered models loaded from the database
 * and rendered as MLflow messages. registry_validate.c: MLflow's validation, and where a new
 * model version's artifacts are. registry_api.c: the store operations (one per RPC, run inside a
 * transaction) and the HTTP handlers behind trk__registry_routes.
 *
 * Errors: functions returning int give 0 on success or -1 with e filled (trk_err, trk_int.h)
 * unless said otherwise. Nothing here keeps state between calls.
 */
#ifndef EF_TRACKING_REGISTRY_INT_H
#define EF_TRACKING_REGISTRY_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sql/sql.h"
#include "tracking/trk_int.h"

#define TRK_STAGE_DELETED "Deleted_Internal"
#define TRK_MV_COLS                                                                                \
    "name, version, creation_time, last_updated_time, description, user_id, current_stage,"        \
    " source, run_id, status, status_message, run_link"
#define TRK_RM_COLS "name, creation_time, last_updated_time, description"
#define TRK_NOT_DELETED "current_stage <> '" TRK_STAGE_DELETED "'"

/* The stages in MLflow's order: None, Staging, Production, Archived. trk__reg_canonical_stage
 * returns one of these pointers, so stages can be compared by address. */
extern const char *const trk__reg_stages[4];

/* ---------------------------------------------------------------------------------------------
 * SQL helpers: statements with a type string ('t' const char * (NULL binds NULL), 'i' int64_t).
 * ------------------------------------------------------------------------------------------- */
/* Prepares and binds; NULL with e set on failure. */
ef_sql_stmt *trk__reg_prep(ef_sql *db, trk_err *e, const char *sql, const char *types, ...);
/* Runs a statement without rows. Returns the changed row count, -2 for a unique violation
 * (e not set), or -1 with e set. */
int64_t trk__reg_exec(ef_sql *db, trk_err *e, const char *sql, const char *types, ...);
/* One int64 from a single-row query (st finalized here; NULL: a failed prepare, e already set):
 * 1 found, 0 no row or NULL, -1 error with e set. */
int trk__reg_q_int(ef_sql *db, ef_sql_stmt *st, int64_t *v, trk_err *e);

/* ---------------------------------------------------------------------------------------------
 * Model versions as read from the database, rendered once tags and aliases are attached.
 * ------------------------------------------------------------------------------------------- */
typedef struct trk_mv_item {
    char *name;
    int64_t version;
    json_t *obj;      /* name .. status_message, in proto field order */
    json_t *tags;     /* [{key, value}] */
    json_t *aliases;  /* ["alias"] */
    json_t *run_link; /* NULL: unset */
} trk_mv_item;

typedef struct trk_mv_list {
    trk_mv_item *items;
    size_t n, cap;
} trk_mv_list;

void trk__mv_item_release(trk_mv_item *it);
void trk__mv_list_release(trk_mv_list *l);
/* Steps st (columns TRK_MV_COLS; NULL: a failed prepare, e already set) to the end, appending
 * every row to l; finalizes st. */
int trk__mv_read_all(ef_sql *db, ef_sql_stmt *st, trk_mv_list *l, trk_err *e);
/* The finished ModelVersion message (new reference; NULL on OOM). Call once per item. */
json_t *trk__mv_render(trk_mv_item *it);
/* Attaches tags (and aliases when with_aliases) to every item of l, one query per chunk. */
int trk__mv_attach(ef_sql *db, trk_mv_list *l, int with_aliases, trk_err *e);
/* Appends the latest version of each stage of the models in names[0..n) to l, per model
 * ordered by the lowest version of the stage (MLflow's latest_versions order). */
int trk__mv_read_latest(ef_sql *db, const char *const *names, size_t n, trk_mv_list *l, trk_err *e);
/* *out = {"model_version": the live version with tags and aliases}, or RESOURCE_DOES_NOT_EXIST. */
int trk__mv_load(ef_sql *db, const char *name, int64_t version, json_t **out, trk_err *e);
/* 0 if the live version exists, else -1 with RESOURCE_DOES_NOT_EXIST (or a database error). */
int trk__mv_must_exist(ef_sql *db, const char *name, int64_t version, trk_err *e);
/* The download location of a live version (storage_location, else source) into *out
 * (malloc'd), or -1 with RESOURCE_DOES_NOT_EXIST (or a database error / out of memory). */
int trk__mv_location(ef_sql *db, const char *name, int64_t version, char **out, trk_err *e);

/* ---------------------------------------------------------------------------------------------
 * Registered models: read, attach latest versions / tags / aliases, render.
 * ------------------------------------------------------------------------------------------- */
typedef struct trk_rm_item {
    char *name;
    json_t *obj, *latest, *tags, *aliases;
} trk_rm_item;

typedef struct trk_rm_list {
    trk_rm_item *items;
    size_t n, cap;
} trk_rm_list;

void trk__rm_item_release(trk_rm_item *it);
void trk__rm_list_release(trk_rm_list *l);
/* As trk__mv_read_all, for columns TRK_RM_COLS. */
int trk__rm_read_all(ef_sql *db, ef_sql_stmt *st, trk_rm_list *l, trk_err *e);
/* Fills latest_versions, tags and aliases of every model in l. */
int trk__rm_attach(ef_sql *db, trk_rm_list *l, trk_err *e);
/* The finished RegisteredModel message (new reference; NULL on OOM). Call once per item. */
json_t *trk__rm_render(trk_rm_item *it);
/* *out = {"registered_model": ...} for name, or RESOURCE_DOES_NOT_EXIST. */
int trk__rm_load(ef_sql *db, const char *name, json_t **out, trk_err *e);
/* 0 if the registered model exists, else -1 with RESOURCE_DOES_NOT_EXIST (or a database
 * error). */
int trk__rm_must_exist(ef_sql *db, const char *name, trk_err *e);

/* ---------------------------------------------------------------------------------------------
 * Validation (registry_validate.c), with MLflow's messages (mlflow/utils/validation.py);
 * INVALID_PARAMETER_VALUE.
 * ------------------------------------------------------------------------------------------- */
/* Bytes of the first max_chars characters of s, at most max_bytes (on a character boundary):
 * for quoting user text in messages without splitting a UTF-8 sequence. */
int trk__reg_utf8_prefix(const char *s, size_t max_chars, size_t max_bytes);
/* _validate_tag_name + the registry's key/value length limits (value may be NULL). */
int trk__reg_validate_tag(const char *key, const char *value, trk_err *e);
/* _validate_model_alias_name. */
int trk__reg_validate_alias(const char *alias, trk_err *e);
/* int(version) like Python: surrounding blanks, a sign, digits with single '_' between. */
int trk__reg_parse_version(const char *s, int64_t *out, trk_err *e);
/* The canonical stage name for s (any case; one of trk__reg_stages), or NULL with e set. */
const char *trk__reg_canonical_stage(const char *s, trk_err *e);
/* MLflow's _validate_source for model-versions/create (reads the run's artifact_uri). */
int trk__reg_validate_source(ef_sql *db, const char *source, const char *run_id, trk_err *e);
/* Where the artifacts of a new version with this source are, into *out (malloc'd; NULL: the
 * source itself): a models:/ source gives the referenced version's location, runs:/<id>/<path>
 * the run's artifact_uri + path. 0, or -1 with e (INVALID_PARAMETER_VALUE for a models:/ URI
 * that does not resolve). */
int trk__reg_resolve_storage(ef_sql *db, const char *source, char **out, trk_err *e);

#endif
