/* runs_int.h - what experiments.c, runs.c, run_data.c, metrics.c and metrics_history.c (the
 * tracking RPCs) share. Prefix trk__.
 *
 * runs.c owns the run entity: lookup/lifecycle checks, the run RPCs and rendering of Run
 * messages. run_data.c owns the writes of run data other than metrics: MLflow's key validation
 * and value truncation, params, tags, logged models and dataset inputs. metrics.c owns metrics
 * (metrics + latest_metrics) and the two metric write handlers, metrics_history.c the two
 * history handlers; runs.c lists all four in trk__run_routes.
 */
#ifndef EF_TRACKING_RUNS_INT_H
#define EF_TRACKING_RUNS_INT_H

#include <jansson.h>
#include <stddef.h>

#include "tracking/trk_int.h"

/* MLflow's limits (mlflow/utils/validation.py, 2.12.2). */
#define TRK_MAX_KEY_LEN 250
#define TRK_MAX_PARAM_VAL_LEN 6000
#define TRK_MAX_TAG_VAL_LEN 5000
#define TRK_MAX_EXP_TAG_VAL_LEN 5000
#define TRK_MAX_EXP_NAME_LEN 500
#define TRK_MAX_METRICS_PER_BATCH 1000
#define TRK_MAX_PARAMS_TAGS_PER_BATCH 100
#define TRK_MAX_ENTITIES_PER_BATCH 1000
#define TRK_RUN_NAME_TAG "mlflow.runName"

/* A param or tag to write: key and value point into the request message; value_len is the
 * (possibly truncated) byte length to store. */
typedef struct trk_kv {
    const char *key;
    const char *value;
    size_t value_len;
} trk_kv;

/* Number of UTF-8 characters (what Python's len() counts) of s. */
size_t trk__utf8_chars(const char *s);

/* MLflow's name check (_validate_*_name + _validate_length_limit): kind is "metric",
 * "parameter" or "tag" (for the "Invalid <kind> name" messages), what is "Metric name",
 * "Param key" or "Tag key" (for the length message). 0 or -1 with e = INVALID_PARAMETER_VALUE. */
int trk__key_check(const char *kind, const char *what, const char *key, trk_err *e);

/* Validates kv->key and truncates kv->value to max_chars characters (MLflow truncates param
 * and tag values silently). kind/what as for trk__key_check. */
int trk__kv_prepare(const char *kind, const char *what, size_t max_chars, trk_kv *kv, trk_err *e);

/* Looks a run up: not found -> RESOURCE_DOES_NOT_EXIST "Run with id=X not found"; when
 * need_active and the run is deleted -> INVALID_PARAMETER_VALUE "The run X must be in the
 * 'active' state. Current state is deleted.". *experiment_id (may be NULL) gets the run's
 * experiment. 0 or -1. */
int trk__run_check(ef_sql *db, const char *run_id, int need_active, int64_t *experiment_id,
                   trk_err *e);

/* Writes params (already prepared with trk__kv_prepare). Same key with the same value again is
 * a no-op; a different value -> INVALID_PARAMETER_VALUE with MLflow's message (the single-param
 * form when single, else the batch form listing every conflict). Must run in a transaction the
 * caller rolls back on failure. 0 or -1. */
int trk__params_put(ef_sql *db, const char *run_id, const trk_kv *kv, size_t n, int single,
                    trk_err *e);
/* Upserts tags; a tag mlflow.runName also renames the run. 0 or -1. */
int trk__tags_put(ef_sql *db, const char *run_id, const trk_kv *kv, size_t n, trk_err *e);

/* A repeated request field as an array: *out is borrowed when the field is an array, or a new
 * one-element array (string field) that *owned holds for the caller to json_decref. Absent ->
 * empty *owned array. 0 or -1 (not a string/array: INVALID_PARAMETER_VALUE). */
int trk__list(const json_t *msg, const char *field, const json_t **out, json_t **owned,
              trk_err *e);

/* Reads a JSON list of {key, value} objects into *out (malloc'd array of *n, pointing into
 * list), each validated with trk__kv_prepare. 0 or -1. */
int trk__kv_list(const json_t *list, const char *kind, const char *what, size_t max_chars,
                 trk_kv **out, size_t *n, trk_err *e);

/* runs/log-inputs body: links each DatasetInput of list to the run (experiment eid). */
int trk__log_inputs(ef_sql *db, const char *run_id, int64_t eid, const json_t *list, trk_err *e);
/* runs/log-model's model_json parsed: *model is a new object holding MLflow's mandatory fields
 * (artifact_path, flavors, utc_time_created, run_id), or -1 with e (INVALID_PARAMETER_VALUE). */
int trk__model_parse(const json_t *msg, json_t **model, trk_err *e);
/* runs/log-model body: appends model's tag dict (model is modified) to the run's
 * mlflow.log-model.history tag, as MLflow's record_logged_model does. */
int trk__log_model(ef_sql *db, const char *run_id, json_t *model, trk_err *e);

/* A ViewType field (name or number; absent -> ACTIVE_ONLY) as an SQL condition on
 * lifecycle_stage (a constant string). 0 or -1 (INVALID_PARAMETER_VALUE). */
int trk__view_type_sql(const json_t *msg, const char *field, const char **cond, trk_err *e);

/* The metric RPCs (listed in runs.c's trk__run_routes): writes in metrics.c, histories in
 * metrics_history.c. */
void trk__h_log_metric(ef_http_req *r, ef_tracking *t, const json_t *msg);
void trk__h_log_batch(ef_http_req *r, ef_tracking *t, const json_t *msg);
void trk__h_get_history(ef_http_req *r, ef_tracking *t, const json_t *msg);
void trk__h_get_history_bulk(ef_http_req *r, ef_tracking *t, const json_t *msg);

#endif
