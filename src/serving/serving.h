/* serving.h - `edgeflow serve`: registered models (models:/...) or local model directories
 * behind prediction APIs (Seldon Core v1 now; Open Inference Protocol v2 and KServe v1 when their
 * files are built in), with health routes and Prometheus /metrics, on one multi-threaded HTTP
 * server (http/server.h): its own (ef_serve_run) or mounted on another role's server
 * (ef_serve_new / ef_serve_mount / ef_serve_start, as `edgeflow server --serve` does):
 *
 *   ef_serve *sv;
 *   ef_serve_new(&opts, metrics, &sv, &err);          // loads --model / --model-dir models
 *   ef_serve_mount(sv, http, EF_SERVE_MOUNTED, &err);  // routes, before ef_http_server_start
 *   ef_http_server_start(http);
 *   ef_serve_start(sv, "http://127.0.0.1:8080", &err); // the registry poller
 *   ...
 *   ef_http_server_stop(http);
 *   ef_serve_free(sv);                                 // stops the poller
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
    /* Follow the registry: serve every registered model with a version in stage Production or
     * the alias `champion` (the alias wins), found at start and every poll_ms (0: at start
     * only); new ones are added, moves are hot swaps, models that leave are removed. Excludes
     * models, model_dirs and canaries. */
    int follow_registry;
    const char *tracking_token; /* bearer token for the tracking server (NULL: from env) */
    int tracking_insecure_tls;  /* skip certificate checks (a loopback https URI) */
    /* Micro-batching (added by H-batch): concurrent requests of at most batch_max/2 rows for one
     * model version are scored together, up to batch_max rows per predict call, the first one
     * waiting at most batch_delay_us microseconds for others, and while every CPU is scoring (0:
     * only requests that queued while every CPU was scoring go together). batch_max 0 or 1 =
     * off. */
    size_t batch_max;
    int64_t batch_delay_us;
} ef_serve_opts;

struct ef_metrics;
struct ef_http_server;

/* The model server without an HTTP server of its own. */
typedef struct serve__ctx ef_serve;

/* Creates the model server for o (borrowed until ef_serve_free) and loads its --model /
 * --model-dir / --canary models (downloading models:/ URIs into the cache). metrics (borrowed;
 * may be NULL) receives the serving counters. Returns 0 with *out, or an EF_E* code with one
 * readable line in err (nothing to serve, a model that cannot be loaded, bad combination). */
int ef_serve_new(const ef_serve_opts *o, struct ef_metrics *metrics, ef_serve **out,
                 ef_ml_err *err);

enum {
    /* Mounted on another role's server: GET /metrics is left to the host (which renders the
     * registry given to ef_serve_new: one registry for both). */
    EF_SERVE_MOUNTED = 1,
};
/* Registers the serving routes on http before ef_http_server_start: health (/live, /ready,
 * /health/ping, /health/status), Seldon v1 (/api/v1.0/..., /seldon/{ns}/{model}/...), OIP v2
 * (/v2/...), KServe v1 (/v1/models/...), and /metrics unless EF_SERVE_MOUNTED. The router's
 * literal segments beat parameters, so these paths never shadow a host's "/{index}/_search"
 * kind of route (and vice versa); a path registered twice fails. Returns 0 or EF_E* with err. */
int ef_serve_mount(ef_serve *sv, struct ef_http_server *http, unsigned flags, ef_ml_err *err);
/* Starts the registry poller (hot swap, following the registry) once the HTTP server listens;
 * tracking_uri (copied) overrides the options' one, e.g. the host's own loopback URI. 0 or EF_E*
 * with err. */
int ef_serve_start(ef_serve *sv, const char *tracking_uri, ef_ml_err *err);
/* Stops the poller (models stay loaded). */
void ef_serve_stop(ef_serve *sv);
/* Stops the poller and frees everything; requests must be over (stop the HTTP server first). */
void ef_serve_free(ef_serve *sv);

/* Loads every model, serves until SIGTERM/SIGINT (base/sig.h; the caller installs the handlers),
 * then finishes in-flight requests and returns. Returns 0, or an EF_E* code with one readable
 * line in err (a model that cannot be loaded, a port in use). */
int ef_serve_run(const ef_serve_opts *o, ef_ml_err *err);

#endif
