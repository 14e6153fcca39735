/* serving.h - `edgeflow serve`: registered models (models:/...) or local model directories
 * behind prediction APIs (Seldon Core v1 now; Open Inference Protocol v2 and KServe v1 when their
 * files are built in), with health routes and Prometheus /metrics, on one multi-threaded HTTP
 * server (http/server.h).
 */
#ifndef EF_SERVING_SERVING_H
#define EF_SERVING_SERVING_H

#include <stddef.h>
#include <stdint.h>

#include "ml/ml.h"

typedef struct ef_serve_opts {
    /* models:/NAME/VERSION|STAGE or models:/NAME@ALIAS, resolved through the tracking server and
     * cached under cache_dir/<name>/<version>; when the server cannot be reached at start the
     * newest cached version is served (with a warning). */
    const char *const *models;
    size_t n_models;
    /* Local model directories; served under dir_names[i] when given (and not ""), else the
     * directory's basename. */
    const char *const *model_dirs;
    size_t n_model_dirs;
    const char *const *dir_names;
    size_t n_dir_names;
    const char *tracking_uri; /* NULL -> $MLFLOW_TRACKING_URI */
    const char *cache_dir;    /* required when models are given */
    const char *host;         /* listen address, default 127.0.0.1 */
    uint16_t port;            /* 0 = any free port (logged) */
    unsigned threads;         /* HTTP worker threads, 0 = number of CPUs */
    size_t max_body;          /* largest prediction request, bytes (0 = 16 MiB) */
    int access_log;
    /* Hot swap: every poll_ms milliseconds (0 = off) each models:/ URI naming a stage, an alias
     * or latest is resolved again; a new version is downloaded, loaded and swapped in atomically
     * (the previous one stays loaded, so a rollback is immediate). */
    int64_t poll_ms;
    /* Canary: canaries[i] (models:/ URIs) answers traffic percent of the requests of the served
     * model with the same registered name (with a single served model: of that model). */
    const char *const *canaries;
    size_t n_canaries;
    double traffic;
    /* Micro-batching (added by H-batch): concurrent requests of at most batch_max/2 rows for one
     * model version are scored together, up to batch_max rows per predict call, the first one
     * waiting at most batch_delay_us microseconds for others, and while every CPU is scoring (0:
     * only requests that queued while every CPU was scoring go together). batch_max 0 or 1 =
     * off. */
    size_t batch_max;
    int64_t batch_delay_us;
} ef_serve_opts;

/* Loads every model, serves until SIGTERM/SIGINT (base/sig.h; the caller installs the handlers),
 * then finishes in-flight requests and returns. Returns 0, or an EF_E* code with one readable
 * line in err (a model that cannot be loaded, a port in use). */
int ef_serve_run(const ef_serve_opts *o, ef_ml_err *err);

#endif
