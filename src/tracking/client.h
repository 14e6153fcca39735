/* client.h - a C client for any MLflow-compatible tracking server (edgeflow's own `edgeflow
 * server` or MLflow 2.x), over libcurl. Used by `edgeflow train` (runs, metrics, artifacts, model
 * registration) and `edgeflow serve` (resolving models:/ URIs and downloading the model).
 *
 *   ef_tc_error e;
 *   ef_tc *c = ef_tc_new(NULL, &e);                   // $MLFLOW_TRACKING_URI, auth from env
 *   char *exp_id = NULL;
 *   ef_tc_experiment_get_or_create(c, "wine", &exp_id, &e);
 *   ef_tc_run run;
 *   ef_tc_run_create_opts ro = {.experiment_id = exp_id, .run_name = "a0.5"};
 *   ef_tc_run_create(c, &ro, &run, &e);
 *   ef_tc_log_metric(c, run.run_id, "rmse", 0.74, 0, 0, &e);
 *   ef_tc_artifacts_upload(c, run.artifact_uri, "model", "/tmp/model-dir", &e);
 *   ef_tc_run_end(c, run.run_id, "FINISHED", &e);
 *
 * Conventions. Every call returns 0 or an EF_E* code and, on failure, fills *err (when err is
 * not NULL) with the HTTP status, MLflow's error_code and a readable message
 * ("RESOURCE_DOES_NOT_EXIST: Registered Model with name=x not found"). Codes: EF_ENOTFOUND (404 /
 * RESOURCE_DOES_NOT_EXIST), EF_EEXIST (RESOURCE_ALREADY_EXISTS), EF_EINVAL (other 4xx, or a bad
 * argument: then http_status is 0), EF_EAUTH (401/403), EF_ETOOBIG (413), EF_EAGAIN (429/503
 * after the retries), EF_EPROTO (other statuses, unparseable answers), EF_EIO (connection or
 * local file errors), EF_ETIMEDOUT, EF_ENOMEM. Strings handed out are malloc'd and owned by the
 * caller (entity structs: released with their _release function).
 *
 * Retries. Connection failures (nothing was sent) and 429 are retried for every call; 408/5xx
 * and read timeouts only for calls that are safe to repeat (GETs, artifact PUTs, set-tag,
 * log-param, run updates, registry writes that converge). Back-off doubles from
 * backoff_ms with +-25% jitter, capped at 10 s, honouring Retry-After.
 *
 * Thread safety: one handle per thread (a handle keeps one libcurl connection).
 */
#ifndef EF_TRACKING_CLIENT_H
#define EF_TRACKING_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ef_tc ef_tc;

typedef struct ef_tc_error {
    long http_status;    /* 0: no HTTP answer (transport, local or argument error) */
    char error_code[64]; /* MLflow error_code ("RESOURCE_DOES_NOT_EXIST"), "" when none */
    char message[512];   /* "<error_code>: <message>" or a transport/local description */
} ef_tc_error;

typedef struct ef_tc_options {
    const char *tracking_uri; /* http(s)://host[:port][/prefix]; NULL -> $MLFLOW_TRACKING_URI */
    /* Auth; NULL -> $MLFLOW_TRACKING_USERNAME/$MLFLOW_TRACKING_PASSWORD (basic) or
     * $MLFLOW_TRACKING_TOKEN (bearer). A token wins over a username. */
    const char *username, *password, *token;
    long connect_timeout_ms; /* default 10 s */
    long timeout_ms;         /* whole request; default $MLFLOW_HTTP_REQUEST_TIMEOUT s or 120 s */
    int max_retries;         /* default $MLFLOW_HTTP_REQUEST_MAX_RETRIES or 5; -1: none */
    long backoff_ms;         /* first retry delay, default 250 ms */
    int insecure_tls;        /* skip certificate checks (also $MLFLOW_TRACKING_INSECURE_TLS=true) */
    const char *ca_bundle;   /* NULL -> $MLFLOW_TRACKING_SERVER_CERT_PATH */
} ef_tc_options;

/* Creates a client. opt may be NULL (all defaults, URI from the environment). Returns NULL with
 * *err filled when the URI is missing or not http(s) (EF_EUNSUPPORTED-worthy, e.g. "databricks",
 * file stores) or on OOM. No network traffic happens here. */
ef_tc *ef_tc_new(const ef_tc_options *opt, ef_tc_error *err);
void ef_tc_free(ef_tc *c);
/* The normalised base URI (no trailing slash), owned by the handle. */
const char *ef_tc_uri(const ef_tc *c);

/* Generic call, for endpoints without a wrapper: method "GET" (req rendered as a query string;
 * arrays repeat the key) or "POST"/"PATCH"/"DELETE" (req as a JSON body); endpoint relative to
 * /api/2.0/, e.g. "mlflow/runs/get". req is borrowed (may be NULL); *resp (may be NULL: ignored)
 * receives the parsed answer ({} for an empty one), owned by the caller. idempotent: the call may
 * be retried on 5xx / read timeouts. */
int ef_tc_call(ef_tc *c, const char *method, const char *endpoint, json_t *req, int idempotent,
               json_t **resp, ef_tc_error *err);

/* ---- experiments ---------------------------------------------------------------------------- */

/* *experiment_id (malloc'd) of the active experiment called name; EF_ENOTFOUND when none. */
int ef_tc_experiment_get_by_name(ef_tc *c, const char *name, char **experiment_id,
                                 ef_tc_error *err);
/* Creates an experiment; artifact_location may be NULL (server default). EF_EEXIST when taken. */
int ef_tc_experiment_create(ef_tc *c, const char *name, const char *artifact_location,
                            char **experiment_id, ef_tc_error *err);
/* get-by-name, else create; a create lost to a concurrent creator is resolved by reading again. */
int ef_tc_experiment_get_or_create(ef_tc *c, const char *name, char **experiment_id,
                                   ef_tc_error *err);

/* ---- runs ----------------------------------------------------------------------------------- */

typedef struct ef_tc_tag {
    const char *key, *value;
} ef_tc_tag; /* also used for params */

typedef struct ef_tc_metric {
    const char *key;
    double value;      /* NaN and +-Inf are sent as "NaN" / "Infinity" / "-Infinity" */
    int64_t timestamp; /* epoch ms; 0 -> now */
    int64_t step;
} ef_tc_metric;

/* A run as the server returned it. The strings point into nothing shared: all malloc'd, NULL
 * when the server omitted them. json is the whole Run object (info, data, inputs). */
typedef struct ef_tc_run {
    char *run_id, *experiment_id, *run_name, *user_id, *status, *artifact_uri, *lifecycle_stage;
    int64_t start_time, end_time; /* end_time 0 when unset */
    json_t *json;
} ef_tc_run;
void ef_tc_run_release(ef_tc_run *r);
/* Looks into run->json: a param's value (borrowed, NULL when absent); a metric's latest value
 * (0 or EF_ENOTFOUND; "NaN"/"Infinity" strings are decoded); a tag's value (borrowed). */
const char *ef_tc_run_param(const ef_tc_run *r, const char *key);
int ef_tc_run_metric(const ef_tc_run *r, const char *key, double *value);
const char *ef_tc_run_tag(const ef_tc_run *r, const char *key);

typedef struct ef_tc_run_create_opts {
    const char *experiment_id; /* required ("0" is Default) */
    const char *run_name;      /* also tag mlflow.runName; NULL: the server picks one */
    const char *user;          /* NULL -> $LOGNAME/$USER/passwd entry; tag mlflow.user */
    const char *source_name;   /* NULL -> this executable's path; tag mlflow.source.name */
    const char *source_type;   /* NULL -> "LOCAL"; tag mlflow.source.type */
    const char *parent_run_id; /* child run: tag mlflow.parentRunId */
    int64_t start_time;        /* 0 -> now */
    const ef_tc_tag *tags;     /* more tags (may override the system ones) */
    size_t ntags;
} ef_tc_run_create_opts;

/* runs/create; *out filled (release it). */
int ef_tc_run_create(ef_tc *c, const ef_tc_run_create_opts *o, ef_tc_run *out, ef_tc_error *err);
int ef_tc_run_get(ef_tc *c, const char *run_id, ef_tc_run *out, ef_tc_error *err);
/* runs/update: status ("RUNNING", "FINISHED", "FAILED", "KILLED"; NULL keeps it), end_time (0:
 * unchanged), run_name (NULL keeps it). */
int ef_tc_run_update(ef_tc *c, const char *run_id, const char *status, int64_t end_time,
                     const char *run_name, ef_tc_error *err);
/* Ends a run now with status (NULL -> "FINISHED"). */
int ef_tc_run_end(ef_tc *c, const char *run_id, const char *status, ef_tc_error *err);

int ef_tc_log_param(ef_tc *c, const char *run_id, const char *key, const char *value,
                    ef_tc_error *err);
/* timestamp 0 -> now. Not retried on 5xx (a retry could log the point twice). */
int ef_tc_log_metric(ef_tc *c, const char *run_id, const char *key, double value,
                     int64_t timestamp, int64_t step, ef_tc_error *err);
int ef_tc_set_tag(ef_tc *c, const char *run_id, const char *key, const char *value,
                  ef_tc_error *err);
/* runs/log-batch, split into requests within MLflow's limits (<= 1000 metrics, <= 100 params,
 * <= 100 tags, <= 1000 entities per request), params and tags first as MLflow's client does.
 * Stops at the first failed request (earlier chunks stay logged). */
int ef_tc_log_batch(ef_tc *c, const char *run_id, const ef_tc_metric *metrics, size_t nmetrics,
                    const ef_tc_tag *params, size_t nparams, const ef_tc_tag *tags, size_t ntags,
                    ef_tc_error *err);

typedef struct ef_tc_dataset {
    const char *name, *digest;       /* required */
    const char *source_type, *source; /* required by MLflow ("local", "{\"uri\": ...}") */
    const char *schema, *profile;     /* optional JSON texts */
    const char *context;              /* optional tag mlflow.data.context ("training") */
} ef_tc_dataset;
int ef_tc_log_inputs(ef_tc *c, const char *run_id, const ef_tc_dataset *datasets, size_t n,
                     ef_tc_error *err);
/* runs/log-model with the MLmodel as JSON text. */
int ef_tc_log_model(ef_tc *c, const char *run_id, const char *model_json, ef_tc_error *err);

/* ---- artifacts ------------------------------------------------------------------------------ */

/* Uploads local_path (a file, or a directory recursively) to <artifact_uri>/<artifact_path>/
 * (artifact_path may be NULL or "" for the root; a file keeps its base name). artifact_uri is a
 * run's artifact_uri: "mlflow-artifacts:/..." (PUT through the server's artifact proxy),
 * "file:///dir" or "/dir" (copied), "s3://bucket/prefix" (s3/s3.h; endpoint and keys from the
 * environment), or "runs:/<run_id>[/path]" (resolved with runs/get). */
int ef_tc_artifacts_upload(ef_tc *c, const char *artifact_uri, const char *artifact_path,
                           const char *local_path, ef_tc_error *err);
/* Downloads <artifact_uri>[/<artifact_path>] into local_dir, atomically: everything goes to a
 * temp directory next to local_dir, which is then swapped in (an existing local_dir is replaced
 * as a whole). A directory's contents land in local_dir; a single file lands as
 * local_dir/<name>. Same URI kinds as upload, plus "models:/..." (resolved like
 * ef_tc_model_resolve). EF_ENOTFOUND when nothing is there. */
int ef_tc_artifacts_download(ef_tc *c, const char *artifact_uri, const char *artifact_path,
                             const char *local_dir, ef_tc_error *err);

/* ---- model registry ------------------------------------------------------------------------- */

typedef struct ef_tc_model_version {
    char *name, *version, *run_id, *source, *current_stage, *status;
    char *download_uri; /* filled by ef_tc_model_resolve only (get-download-uri) */
    json_t *json;       /* the ModelVersion object */
} ef_tc_model_version;
void ef_tc_model_version_release(ef_tc_model_version *mv);

/* registered-models/create; an existing model is fine (0). */
int ef_tc_registered_model_create(ef_tc *c, const char *name, ef_tc_error *err);
/* model-versions/create {name, source, run_id (may be NULL)}, then polls model-versions/get until
 * the status is READY (FAILED_REGISTRATION -> EF_EPROTO; still pending after wait_ms ->
 * EF_ETIMEDOUT). out may be NULL. */
int ef_tc_model_version_create(ef_tc *c, const char *name, const char *source, const char *run_id,
                               int64_t wait_ms, ef_tc_model_version *out, ef_tc_error *err);
int ef_tc_model_version_get(ef_tc *c, const char *name, const char *version,
                            ef_tc_model_version *out, ef_tc_error *err);
/* model-versions/transition-stage ("None", "Staging", "Production", "Archived"). out may be NULL. */
int ef_tc_model_version_transition(ef_tc *c, const char *name, const char *version,
                                   const char *stage, int archive_existing,
                                   ef_tc_model_version *out, ef_tc_error *err);
int ef_tc_set_alias(ef_tc *c, const char *name, const char *alias, const char *version,
                    ef_tc_error *err);

/* registered-models/search with filter (MLflow's filter syntax, e.g. "name LIKE 'Wine%'"; NULL or
 * "" for every model), following next_page_token until the last page. *models receives a JSON
 * array of RegisteredModel objects (name, latest_versions with current_stage, aliases as
 * [{alias, version}], tags), owned by the caller. */
int ef_tc_registered_models_search(ef_tc *c, const char *filter, json_t **models,
                                   ef_tc_error *err);

/* A parsed models:/ URI (MLflow's rules): exactly one of version, stage, alias, latest. */
typedef struct ef_tc_models_uri {
    char name[256];
    char version[32]; /* digits */
    char stage[64];
    char alias[256];
    int latest;       /* models:/<name>/latest */
} ef_tc_models_uri;
/* Parses "models:/<name>/<version>", "models:/<name>/<stage>", "models:/<name>/latest",
 * "models:/<name>@<alias>". 0 or EF_EINVAL (err->message says why). */
int ef_tc_models_uri_parse(const char *uri, ef_tc_models_uri *out, ef_tc_error *err);
/* Resolves a models:/ URI to the model version (get, get-latest-versions, or alias) and fills
 * out->download_uri from model-versions/get-download-uri. EF_ENOTFOUND when no version matches. */
int ef_tc_model_resolve(ef_tc *c, const char *models_uri, ef_tc_model_version *out,
                        ef_tc_error *err);

#endif
