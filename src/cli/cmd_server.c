/* cmd_server.c - `edgeflow server`: opens the store and serves its query API (the
 * Elasticsearch subset and /api/v1) plus /health and /metrics on one HTTP server, until
 * SIGTERM/SIGINT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "store/store.h"

static const char *o_listen = "127.0.0.1";
static int64_t o_port = 8080;
static const char *o_store;
static int64_t o_threads;
static int64_t o_max_body = 16 << 20;
static int o_durable;
static const char *o_tls_cert, *o_tls_key;
static int o_access_log;

static const ef_opt opts[] = {
    {"listen", EF_OPT_STR, &o_listen, "ADDR", "address to listen on (default 127.0.0.1)"},
    {"port", EF_OPT_INT, &o_port, "PORT", "TCP port (default 8080; 0 picks a free one)"},
    {"store", EF_OPT_STR, &o_store, "URI",
     "sqlite:PATH (default sqlite:$EDGEFLOW_HOME/series.db) or postgresql://..."},
    {"threads", EF_OPT_INT, &o_threads, "N", "HTTP worker threads (default: number of CPUs)"},
    {"max-body", EF_OPT_SIZE, &o_max_body, "SIZE",
     "largest request body, e.g. for _bulk; larger ones get 413 (default 16MiB)"},
    {"durable", EF_OPT_BOOL, &o_durable, NULL,
     "fsync every _bulk commit (default off: a process crash loses nothing, a power cut may "
     "lose the last commits)"},
    {"tls-cert", EF_OPT_STR, &o_tls_cert, "FILE", "serve HTTPS with this certificate (PEM)"},
    {"tls-key", EF_OPT_STR, &o_tls_key, "FILE", "private key of --tls-cert (PEM)"},
    {"access-log", EF_OPT_BOOL, &o_access_log, NULL, "log one line per request"},
    {0},
};

const ef_command ef_cmd_server_spec = {
    "server",
    "serve the store's query API (Elasticsearch subset, /api/v1/series), /health and /metrics",
    "edgeflow server [--listen ADDR] [--port 8080] [--store URI] [options]",
    "Endpoints: GET /api/v1/indices, GET /api/v1/series?index=&device=&from=&to=&format=json|csv,\n"
    "POST /_bulk and /{index}/_bulk, GET|POST /{index}/_search and /{index}/_count (index\n"
    "patterns like sensor-*), GET /health, GET /metrics. SIGTERM/SIGINT: finish in-flight\n"
    "requests, exit 0.",
    opts,
};

typedef struct server_ctx {
    ef_store *store;
    ef_metrics *metrics;
    ef_gauge *docs, *dead;
} server_ctx;

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
    if (o_port < 0 || o_port > 65535 || o_threads < 0 || o_threads > 1024 || o_max_body <= 0) {
        fprintf(stderr, "edgeflow server: --port, --threads or --max-body out of range\n");
        return 2;
    }
    if (!o_tls_cert != !o_tls_key) {
        fprintf(stderr, "edgeflow server: --tls-cert and --tls-key go together\n");
        return 2;
    }
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
    };
    if (!(http = ef_http_server_new(&hc))) goto out;
    if (ef_http_route(http, "GET", "/health", h_health, &c) ||
        ef_http_route(http, "GET", "/metrics", h_metrics, &c) ||
        ef_store_api_register(http, c.store)) {
        EF_ERROR("cannot register the HTTP routes");
        goto out;
    }
    if (ef_http_server_start(http)) goto out;
    EF_INFO("edgeflow server listening on %s://%s:%u (store %s)", o_tls_cert ? "https" : "http",
            o_listen, (unsigned)ef_http_server_port(http), o_store);
    while (!ef_sig_stop_requested())
        ef_sleep_ms(100);
    EF_INFO("stopping");
    ef_http_server_stop(http);
    exit_code = 0;
out:
    ef_http_server_free(http);
    ef_metrics_free(c.metrics);
    ef_store_free(c.store);
    free(err);
    return exit_code;
}
