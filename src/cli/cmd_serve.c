/* cmd_serve.c - `edgeflow serve`: options -> ef_serve_run (serving/serving.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "config/config.h"
#include "serving/serving.h"

static ef_strlist o_models, o_model_dirs, o_names, o_canaries;
static int64_t o_poll_ms = 10000;
static double o_traffic = 10;
static const char *o_tracking_uri, *o_cache, *o_host = "127.0.0.1";
static int64_t o_port = 9000, o_threads, o_max_body = 16 << 20;
static int o_access_log, o_registry;
static int64_t o_batch_max = 1;
static const char *o_batch_delay = "0";

static const ef_opt opts[] = {
    {"model", EF_OPT_LIST, &o_models, "URI",
     "a registered model: models:/NAME/VERSION, models:/NAME/STAGE or models:/NAME@ALIAS "
     "(repeatable)"},
    {"registry", EF_OPT_BOOL, &o_registry, NULL,
     "serve every registered model with a version in stage Production or the alias champion "
     "(the alias wins), following the registry at each --poll-interval"},
    {"model-dir", EF_OPT_LIST, &o_model_dirs, "DIR", "a local model directory (repeatable)"},
    {"name", EF_OPT_LIST, &o_names, "NAME",
     "the served name of the --model-dir at the same position (default: its basename)"},
    {"tracking-uri", EF_OPT_STR, &o_tracking_uri, "URL",
     "tracking server for models:/ URIs (default $MLFLOW_TRACKING_URI)"},
    {"cache-dir", EF_OPT_STR, &o_cache, "DIR",
     "where downloaded models are kept (default $EDGEFLOW_HOME/models)"},
    {"host", EF_OPT_STR, &o_host, "ADDR", "address to listen on (default 127.0.0.1)"},
    {"port", EF_OPT_INT, &o_port, "PORT", "TCP port (default 9000, Seldon's; 0 picks one)"},
    {"threads", EF_OPT_INT, &o_threads, "N", "HTTP worker threads (default: number of CPUs)"},
    {"max-body", EF_OPT_SIZE, &o_max_body, "SIZE",
     "largest prediction request; larger ones get 413 (default 16MiB)"},
    {"access-log", EF_OPT_BOOL, &o_access_log, NULL, "log one line per request"},
    {"poll-interval", EF_OPT_DURATION, &o_poll_ms, "DUR",
     "how often models:/ stages and aliases are resolved again; a new version is swapped in "
     "(default 10s, 0 = off)"},
    {"canary", EF_OPT_LIST, &o_canaries, "URI",
     "a models:/ URI answering --traffic percent of the requests of the model with the same "
     "name (or of the only model; repeatable)"},
    {"traffic", EF_OPT_DOUBLE, &o_traffic, "PCT", "the canary's share of requests (default 10)"},
    {"batch-max", EF_OPT_INT, &o_batch_max, "N",
     "micro-batching: concurrent requests of up to N/2 rows are scored together, up to N rows "
     "per predict call (default 1 = off; e.g. 32)"},
    {"batch-delay", EF_OPT_STR, &o_batch_delay, "DUR",
     "with --batch-max: how long the first request of a batch waits for others, e.g. 0, 200us, "
     "1ms (default 0: only requests that queued while every CPU was scoring are combined)"},
    {0},
};

const ef_command ef_cmd_serve_spec = {
    "serve",
    "serve registered or local models over HTTP: Seldon v1, OIP v2, KServe v1",
    "edgeflow serve --model models:/NAME/STAGE [--model ...] | --model-dir DIR [--name N]\n"
    "               | --registry [--port 9000] [--host ADDR] [options]",
    "Seldon v1: POST /api/v1.0/predictions (and /api/v0.1/..., /predict) with data.ndarray,\n"
    "data.tensor (+ data.names) or jsonData; the first model answers there, every model under\n"
    "/seldon/<namespace>/<model>/api/v1.0/predictions. Probabilities of a classifier:\n"
    "meta.tags {\"predict_proba\": true} or ?method=predict_proba. POST /api/v1.0/feedback,\n"
    "GET /api/v1.0/metadata. Health: /live, /ready, /health/ping, /health/status; GET /metrics.\n"
    "Open Inference Protocol v2: /v2, /v2/health/live|ready, /v2/models/<m>[/versions/<v>]\n"
    "[/ready|/infer] (outputs predict, predict_proba). KServe v1: GET /v1/models/<m>,\n"
    "POST /v1/models/<m>:predict ({\"instances\": [...]} -> {\"predictions\": [...]}).\n"
    "OIP binary tensor data extension (Inference-Header-Content-Length, binary_data_size,\n"
    "binary_data / binary_data_output) for inputs and outputs.\n"
    "models:/ URIs are downloaded into the cache; when the tracking server is unreachable at\n"
    "start the newest cached version is served. Stages, aliases and latest are polled\n"
    "(--poll-interval) and a new version is swapped in without failing a request; the previous\n"
    "one stays loaded. --canary URI --traffic PCT splits requests; every reply says which\n"
    "version answered (header X-Model-Version; Seldon meta.requestPath; OIP model_version).\n"
    "--registry: every registered model in stage Production or with the alias champion is\n"
    "served under its name (/seldon/<ns>/<model>/..., /v2/models/<model>/infer, KServe); new\n"
    "ones appear, moves are hot swaps, a model that leaves Production / loses the alias is\n"
    "removed (unknown model). An unreachable tracking server keeps what is served; at start\n"
    "the last selection (<cache-dir>/following.json) is served from the cache.\n"
    "Micro-batching (off by default): --batch-max N scores concurrent small requests for one\n"
    "model version in one predict call once every CPU is busy scoring, or after --batch-delay\n"
    "(/metrics edgeflow_serve_batch_rows). It pays only when scoring, not HTTP and JSON,\n"
    "dominates the CPU; raise --threads above the number of CPUs so requests can queue.\n"
    "SIGTERM/SIGINT: finish in-flight requests, exit 0.\n"
    "\n"
    "Exit status: 0 stopped by a signal; 1 failed (one line on stderr says why); 2 bad usage.",
    opts,
};

/* --batch-delay: a duration with us, ms or s (bare = seconds, like other durations) -> us. */
static int parse_delay_us(const char *v, int64_t *us)
{
    size_t n = strlen(v);
    if (n > 2 && !strcmp(v + n - 2, "us")) {
        char *end;
        double d = strtod(v, &end);
        if (end != v + n - 2 || !(d >= 0) || d > 1e9)
            return -1;
        *us = (int64_t)(d + 0.5);
        return 0;
    }
    char *end;
    double d = strtod(v, &end);
    double mult = !strcmp(end, "ms") ? 1e3 : !strcmp(end, "s") || !*end ? 1e6 : -1;
    if (end == v || mult < 0 || !(d >= 0) || d * mult > 1e9)
        return -1;
    *us = (int64_t)(d * mult + 0.5);
    return 0;
}

int ef_cmd_serve(int argc, char **argv)
{
    int rc = ef_config_parse(&ef_cmd_serve_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN)
        return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("serve");
    if (o_port < 0 || o_port > 65535 || o_threads < 0 || o_threads > 1024 || o_max_body <= 0) {
        fprintf(stderr, "edgeflow serve: --port, --threads or --max-body out of range\n");
        return 2;
    }
    if (o_poll_ms < 0 || o_traffic < 0 || o_traffic > 100) {
        fprintf(stderr, "edgeflow serve: --poll-interval must be >= 0 and --traffic 0..100\n");
        return 2;
    }
    int64_t delay_us = 0;
    if (o_batch_max < 1 || o_batch_max > 4096 || parse_delay_us(o_batch_delay, &delay_us)) {
        fprintf(stderr, "edgeflow serve: --batch-max must be 1..4096 and --batch-delay a "
                "duration such as 0, 500us or 2ms (at most 1000s)\n");
        return 2;
    }
    if (o_names.n > o_model_dirs.n) {
        fprintf(stderr, "edgeflow serve: more --name than --model-dir options\n");
        return 2;
    }
    const char *tracking = o_tracking_uri ? o_tracking_uri : getenv("MLFLOW_TRACKING_URI");
    if (o_registry && (o_models.n || o_model_dirs.n || o_canaries.n)) {
        fprintf(stderr, "edgeflow serve: --registry serves every Production / champion model; "
                "give no --model, --model-dir or --canary with it\n");
        return 2;
    }
    if (o_registry && (!tracking || !*tracking)) {
        fprintf(stderr, "edgeflow serve: --registry needs the tracking server: give "
                "--tracking-uri URL or set MLFLOW_TRACKING_URI\n");
        return 2;
    }
    char cache[4096];
    if (!o_cache) {
        ef_config_default_models(cache, sizeof cache);
        o_cache = cache;
    }
    ef_serve_opts o = {
        .models = (const char *const *)o_models.v,
        .n_models = o_models.n,
        .model_dirs = (const char *const *)o_model_dirs.v,
        .n_model_dirs = o_model_dirs.n,
        .dir_names = (const char *const *)o_names.v,
        .n_dir_names = o_names.n,
        .tracking_uri = tracking,
        .cache_dir = o_cache,
        .host = o_host,
        .port = (uint16_t)o_port,
        .threads = (unsigned)o_threads,
        .max_body = (size_t)o_max_body,
        .access_log = o_access_log,
        .poll_ms = o_poll_ms,
        .canaries = (const char *const *)o_canaries.v,
        .n_canaries = o_canaries.n,
        .traffic = o_traffic,
        .follow_registry = o_registry,
        .batch_max = (size_t)o_batch_max,
        .batch_delay_us = delay_us,
    };
    ef_sig_install();
    ef_ml_err err = {{0}};
    rc = ef_serve_run(&o, &err);
    if (rc)
        fprintf(stderr, "edgeflow serve: %s\n", err.msg);
    return rc ? 1 : 0;
}
