/* cmd_server.c - `edgeflow server`: opens the store and serves its query API (the
 * Elasticsearch subset and /api/v1), the MLflow-compatible tracking server and model registry
 * (/api/2.0/mlflow/..., /ajax-api/2.0/..., /api/2.0/mlflow-artifacts/...), /health, /version
 * and /metrics on one HTTP server, until SIGTERM/SIGINT. Optional HTTP basic / bearer auth.
 * --serve mounts the model server (serving/serving.h) on the same port, following this server's
 * own registry over loopback HTTP; one metrics registry renders both at /metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "serving/serving.h"
#include "store/store.h"
#include "tracking/auth.h"
#include "tracking/tracking.h"

static const char *o_listen = "127.0.0.1";
static int64_t o_port = 8080;
static const char *o_store;
static int64_t o_threads;
static int64_t o_max_body = 16 << 20;
static int o_durable;
static const char *o_tls_cert, *o_tls_key;
static int o_access_log;
static const char *o_backend_uri, *o_artifacts_dest, *o_default_root;
static int o_no_tracking;
static const char *o_auth_users, *o_auth_tokens;
static int o_auth_protect_health, o_hash_password;
static int o_serve;
static int64_t o_serve_poll_ms = 2000;
static const char *o_serve_cache;

static const ef_opt opts[] = {
    {"listen", EF_OPT_STR, &o_listen, "ADDR", "address to listen on (default 127.0.0.1)"},
    {"port", EF_OPT_INT, &o_port, "PORT", "TCP port (default 8080; 0 picks a free one)"},
    {"store", EF_OPT_STR, &o_store, "URI",
     "sqlite:PATH (default sqlite:$EDGEFLOW_HOME/series.db) or postgresql://..."},
    {"threads", EF_OPT_INT, &o_threads, "N", "HTTP worker threads (default: number of CPUs)"},
    {"max-body", EF_OPT_SIZE, &o_max_body, "SIZE",
     "largest request body, e.g. for _bulk; larger ones get 413 (default 16MiB)"},
    {"durable", EF_OPT_BOOL, &o_durable, NULL,
     "fsync every commit of the store (_bulk) and the tracking database (default off: a process "
     "crash loses no acknowledged write, a power cut may lose the last commits)"},
    {"tls-cert", EF_OPT_STR, &o_tls_cert, "FILE", "serve HTTPS with this certificate (PEM)"},
    {"tls-key", EF_OPT_STR, &o_tls_key, "FILE", "private key of --tls-cert (PEM)"},
    {"access-log", EF_OPT_BOOL, &o_access_log, NULL, "log one line per request"},
    {"backend-store-uri", EF_OPT_STR, &o_backend_uri, "URI",
     "tracking + registry database: sqlite:PATH (default sqlite:$EDGEFLOW_HOME/tracking.db) or "
     "postgresql://... (also MLFLOW_BACKEND_STORE_URI)"},
    {"artifacts-destination", EF_OPT_STR, &o_artifacts_dest, "URI",
     "where proxied artifacts are stored: a folder, file:///dir or s3://bucket/prefix (default "
     "$EDGEFLOW_HOME/artifacts; also MLFLOW_ARTIFACTS_DESTINATION)"},
    {"default-artifact-root", EF_OPT_STR, &o_default_root, "URI",
     "artifact location of new experiments (default mlflow-artifacts:/, i.e. proxied through "
     "this server; also MLFLOW_DEFAULT_ARTIFACT_ROOT)"},
    {"no-tracking", EF_OPT_BOOL, &o_no_tracking, NULL,
     "serve only the store API (no MLflow tracking server)"},
    {"auth-users", EF_OPT_STR, &o_auth_users, "FILE",
     "require HTTP basic auth: one user:$argon2id$... line per user (see --hash-password)"},
    {"auth-tokens", EF_OPT_STR, &o_auth_tokens, "FILE",
     "accept bearer tokens listed in FILE (one per line)"},
    {"auth-protect-health", EF_OPT_BOOL, &o_auth_protect_health, NULL,
     "with auth, also protect /health, /version and /metrics"},
    {"hash-password", EF_OPT_BOOL, &o_hash_password, NULL,
     "read a password from stdin, print its argon2id hash for --auth-users, exit"},
    {"serve", EF_OPT_BOOL, &o_serve, NULL,
     "also serve every registered model in stage Production or with the alias champion on this "
     "port (Seldon v1, OIP v2, KServe v1; like `edgeflow serve --registry`)"},
    {"serve-poll-interval", EF_OPT_DURATION, &o_serve_poll_ms, "DUR",
     "with --serve: how often the registry is searched for changes (default 2s)"},
    {"serve-cache-dir", EF_OPT_STR, &o_serve_cache, "DIR",
     "with --serve: where served model versions are cached (default $EDGEFLOW_HOME/models)"},
    {0},
};

const ef_command ef_cmd_server_spec = {
    "server",
    "tracking server + model registry (MLflow REST API) and the store's query API",
    "edgeflow server [--listen ADDR] [--port 8080] [--store URI] [--backend-store-uri URI]\n"
    "                [--artifacts-destination URI] [options]",
    "MLflow 2.x REST API (clients use MLFLOW_TRACKING_URI=http://HOST:PORT): /api/2.0/mlflow/...\n"
    "experiments, runs, metrics, model registry; /api/2.0/mlflow-artifacts/artifacts/... proxied\n"
    "artifacts; the same under /ajax-api/2.0/; GET /version.\n"
    "Store: GET /api/v1/indices, GET /api/v1/series?index=&device=&from=&to=&format=json|csv,\n"
    "POST /_bulk and /{index}/_bulk, GET|POST /{index}/_search and /{index}/_count (index\n"
    "patterns like sensor-*). Also GET /health, GET /metrics. SIGTERM/SIGINT: finish in-flight\n"
    "requests, exit 0.\n"
    "--serve: the model server on the same port -- /seldon/<namespace>/<model>/api/v1.0/predictions,\n"
    "/api/v1.0/predictions (first model), /v2/models/<model>/infer, /v1/models/<model>:predict,\n"
    "/live, /ready, /health/ping|status -- for every model in stage Production or with the alias\n"
    "champion (the alias wins), read from this server's registry over loopback every\n"
    "--serve-poll-interval; moves are hot swaps, a model that leaves is removed. /metrics adds\n"
    "the serving series. With auth, the model server uses the first token of --auth-tokens\n"
    "(--auth-users alone is refused). Index names live, ready, predict, metadata, v2, seldon\n"
    "can then not be HEAD-checked (the serving routes win).",
    opts,
};

typedef struct server_ctx {
    ef_store *store;
    ef_tracking *tracking;
    ef_tracking_auth *auth;
    ef_metrics *metrics;
    ef_gauge *docs, *dead;
    ef_serve *serve;
} server_ctx;

/* The first token of the --auth-tokens file (blank lines and '#' comments skipped), into out. */
static int first_token(const char *path, char *out, size_t len)
{
    char line[1024];
    int rc = EF_ENOTFOUND;
    FILE *f = fopen(path, "r");
    if (!f) return EF_EIO;
    while (rc && fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        p[strcspn(p, " \t\r\n")] = '\0';
        if (*p && *p != '#' && strlen(p) < len) {
            snprintf(out, len, "%s", p);
            rc = EF_OK;
        }
    }
    fclose(f);
    return rc;
}

/* The URI the mounted model server reaches this server at: loopback for a wildcard address. */
static void loopback_uri(char *out, size_t len, const char *listen, unsigned port, int tls)
{
    const char *scheme = tls ? "https" : "http";
    if (!listen || !*listen || !strcmp(listen, "0.0.0.0") || !strcmp(listen, "localhost"))
        snprintf(out, len, "%s://127.0.0.1:%u", scheme, port);
    else if (!strcmp(listen, "::"))
        snprintf(out, len, "%s://[::1]:%u", scheme, port);
    else if (strchr(listen, ':'))
        snprintf(out, len, "%s://[%s]:%u", scheme, listen, port);
    else
        snprintf(out, len, "%s://%s:%u", scheme, listen, port);
}

static void h_health(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_metrics(ef_http_req *r, void *ctx)
{
    server_ctx *c = ctx;
    int64_t docs = 0, dead = 0;
    if (ef_store_stats(c->store, &docs, &dead) == EF_OK) {
        ef_gauge_set(c->docs, (double)docs);
        ef_gauge_set(c->dead, (double)dead);
    }
    ef_http_metrics_handler(r, c->metrics);
}

/* --hash-password: one line from stdin -> its hash on stdout. */
static int hash_password(void)
{
    char line[1024];
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "edgeflow server: --hash-password reads the password from stdin\n");
        return 2;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) {
        fprintf(stderr, "edgeflow server: empty password\n");
        return 2;
    }
    char hash[EF_TRACKING_AUTH_HASH_BYTES];
    int rc = ef_tracking_auth_hash(line, hash);
    memset(line, 0, sizeof line);
    if (rc != EF_OK) {
        fprintf(stderr, "edgeflow server: cannot hash: %s\n", ef_strerror(rc));
        return 1;
    }
    printf("%s\n", hash);
    return 0;
}

/* Flag, else MLflow's environment variable, else the default. */
static const char *flag_env(const char *flag, const char *env, const char *def)
{
    if (flag && *flag) return flag;
    const char *v = getenv(env);
    return v && *v ? v : def;
}

/* Opens the tracking server with its defaults under $EDGEFLOW_HOME. */
static int open_tracking(server_ctx *c, int durable, char **err)
{
    const char *home = ef_config_home();
    char uri[4200], dest[4200];
    const char *backend = flag_env(o_backend_uri, "MLFLOW_BACKEND_STORE_URI", NULL);
    const char *artifacts = flag_env(o_artifacts_dest, "MLFLOW_ARTIFACTS_DESTINATION", NULL);
    if (!backend || !artifacts) {
        if (ef_fs_mkdir_p(home) != EF_OK) {
            EF_ERROR("cannot create the data dir %s: %s (set EDGEFLOW_HOME)", home,
                     strerror(errno));
            return EF_EIO;
        }
    }
    if (!backend) {
        snprintf(uri, sizeof uri, "sqlite:%s/tracking.db", home);
        backend = uri;
    }
    if (!artifacts) {
        snprintf(dest, sizeof dest, "%s/artifacts", home);
        artifacts = dest;
    }
    ef_tracking_options to = {
        .backend_uri = backend,
        .artifacts_destination = artifacts,
        .default_artifact_root =
            flag_env(o_default_root, "MLFLOW_DEFAULT_ARTIFACT_ROOT", "mlflow-artifacts:/"),
        .durable = durable,
    };
    int rc = ef_tracking_open(&to, &c->tracking, err);
    if (rc != EF_OK) {
        EF_ERROR("cannot open the tracking server (backend %s, artifacts %s): %s", backend,
                 artifacts, *err ? *err : ef_strerror(rc));
        return rc;
    }
    EF_INFO("tracking: backend %s, artifacts %s, default artifact root %s", backend, artifacts,
            to.default_artifact_root);
    return EF_OK;
}

int ef_cmd_server(int argc, char **argv)
{
    int exit_code = 1;
    char *err = NULL;
    char uri[4200];
    ef_http_server *http = NULL;
    server_ctx c = {0};
    int rc = ef_config_parse(&ef_cmd_server_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN) return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("server");
    if (o_hash_password) return hash_password();
    if (o_port < 0 || o_port > 65535 || o_threads < 0 || o_threads > 1024 || o_max_body <= 0) {
        fprintf(stderr, "edgeflow server: --port, --threads or --max-body out of range\n");
        return 2;
    }
    if (!o_tls_cert != !o_tls_key) {
        fprintf(stderr, "edgeflow server: --tls-cert and --tls-key go together\n");
        return 2;
    }
    char token[512] = "", cache[4200];
    if (o_serve && o_no_tracking) {
        fprintf(stderr, "edgeflow server: --serve follows this server's model registry; drop "
                "--no-tracking (or run `edgeflow serve --registry` against another server)\n");
        return 2;
    }
    if (o_serve && o_auth_users && !o_auth_tokens) {
        fprintf(stderr, "edgeflow server: --serve with --auth-users needs --auth-tokens too: the "
                "model server reads the registry through this server with the file's first "
                "token\n");
        return 2;
    }
    if (o_serve && o_auth_tokens && first_token(o_auth_tokens, token, sizeof token)) {
        fprintf(stderr, "edgeflow server: --serve: no token in %s to read the registry with\n",
                o_auth_tokens);
        return 2;
    }
    if (o_serve_poll_ms < 0) {
        fprintf(stderr, "edgeflow server: --serve-poll-interval must be >= 0\n");
        return 2;
    }
    if (o_serve && !o_serve_cache) {
        ef_config_default_models(cache, sizeof cache);
        o_serve_cache = cache;
    }
    ef_serve_opts so_serve = {
        .cache_dir = o_serve_cache,
        .max_body = (size_t)o_max_body,
        .poll_ms = o_serve_poll_ms,
        .follow_registry = 1,
        .tracking_token = *token ? token : NULL,
        .tracking_insecure_tls = o_tls_cert != NULL, /* our own certificate, over loopback */
    };
    ef_ml_err serr = {{0}};
    if (!o_store) {
        if (ef_config_default_store(uri, sizeof uri, 1) != EF_OK) return 1;
        o_store = uri;
    }
    ef_sig_install();
    ef_store_options so = {.uri = o_store, .durable = o_durable};
    if ((rc = ef_store_open(&so, &c.store, &err))) {
        EF_ERROR("cannot open the store %s: %s", o_store, err ? err : ef_strerror(rc));
        goto out;
    }
    if (!(c.metrics = ef_metrics_new())) goto out;
    c.docs =
        ef_metrics_gauge(c.metrics, "edgeflow_store_documents", "documents in the store", NULL);
    c.dead = ef_metrics_gauge(c.metrics, "edgeflow_store_dead_letters", "dead letters in the store",
                              NULL);
    if (!c.docs || !c.dead) goto out;
    if (!o_no_tracking && open_tracking(&c, o_durable, &err) != EF_OK) goto out;
    static const char *const exempt[] = {"/health", "/version", "/metrics", NULL};
    if (o_auth_users || o_auth_tokens) {
        free(err);
        err = NULL;
        if ((rc = ef_tracking_auth_open(o_auth_users, o_auth_tokens, &c.auth, &err))) {
            EF_ERROR("cannot load the auth files: %s", err ? err : ef_strerror(rc));
            goto out;
        }
    }
    ef_http_config hc = {
        .bind = o_listen,
        .port = (uint16_t)o_port,
        .threads = (unsigned)o_threads,
        .max_body = (size_t)o_max_body,
        .tls_cert_file = o_tls_cert,
        .tls_key_file = o_tls_key,
        .access_log = o_access_log,
        .metrics = c.metrics,
        .name = "server",
        .authorize = c.auth ? ef_tracking_auth_authorize : NULL,
        .authorize_ctx = c.auth,
        .auth_exempt = o_auth_protect_health ? NULL : exempt,
    };
    if (!(http = ef_http_server_new(&hc))) goto out;
    if (ef_http_route(http, "GET", "/health", h_health, &c) ||
        ef_http_route(http, "GET", "/metrics", h_metrics, &c) ||
        ef_store_api_register(http, c.store) ||
        (c.tracking && ef_tracking_register(http, c.tracking))) {
        EF_ERROR("cannot register the HTTP routes");
        goto out;
    }
    /* the model server's routes after the server's own: a path both want fails here */
    if (o_serve && (ef_serve_new(&so_serve, c.metrics, &c.serve, &serr) ||
                    ef_serve_mount(c.serve, http, EF_SERVE_MOUNTED, &serr))) {
        EF_ERROR("cannot mount the model server: %s", serr.msg);
        goto out;
    }
    if (ef_http_server_start(http)) goto out;
    unsigned port = ef_http_server_port(http);
    if (c.serve) {
        char self[600];
        loopback_uri(self, sizeof self, o_listen, port, o_tls_cert != NULL);
        if (ef_serve_start(c.serve, self, &serr)) {
            EF_ERROR("cannot start the model server: %s", serr.msg);
            goto out;
        }
        EF_INFO("model server mounted: following the registry at %s every %lld ms, cache %s",
                self, (long long)o_serve_poll_ms, o_serve_cache);
    }
    EF_INFO("edgeflow server listening on %s://%s:%u (store %s%s%s%s)",
            o_tls_cert ? "https" : "http", o_listen, port, o_store,
            c.tracking ? ", MLflow tracking" : "", c.serve ? ", model server" : "",
            c.auth ? ", auth on" : "");
    while (!ef_sig_stop_requested())
        ef_sleep_ms(100);
    EF_INFO("stopping");
    ef_serve_stop(c.serve);
    ef_http_server_stop(http);
    exit_code = 0;
out:
    ef_serve_stop(c.serve);
    ef_http_server_free(http);
    ef_serve_free(c.serve);
    ef_tracking_free(c.tracking);
    ef_tracking_auth_free(c.auth);
    ef_metrics_free(c.metrics);
    ef_store_free(c.store);
    free(err);
    return exit_code;
}
