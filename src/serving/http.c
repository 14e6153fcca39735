/* http.c - the HTTP side of `edgeflow serve`: the public lifecycle (serving.h) -- create the
 * model server (runtime.c loads the models), mount its routes on an HTTP server (health routes,
 * /metrics unless mounted, and every protocol built in: Seldon always; OIP v2 and KServe v1 when
 * EF_SERVE_HAVE_OIP / EF_SERVE_HAVE_KSERVE say their files exist), start the registry poller --
 * and ef_serve_run, which does all that on a libmicrohttpd server of its own (http/server.h,
 * thread pool) until SIGTERM/SIGINT. `edgeflow server --serve` mounts the same routes on its own
 * server instead.
 *
 * Health: GET /live (200 once serving HTTP), /ready (200 when every model is loaded, else 503),
 * /health/ping (text "pong", the Seldon wrapper's probe), /health/status (the models and their
 * versions as a SeldonMessage's jsonData; 503 when not ready).
 *
 * Body limit: the HTTP layer accepts up to twice --max-body (at least 1 MiB more) so that a
 * protocol sees a moderately oversized request and answers 413 in its own error shape; beyond
 * that the HTTP layer's generic 413 {"error": ...} answers.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"
#include "serving/serving.h"

static void h_live(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply_json(r, 200, json_pack("{s:s}", "status", "alive"));
}

static void h_ready(ef_http_req *r, void *ctx)
{
    int ok = serve__ready(ctx);
    ef_http_reply_json(r, ok ? 200 : 503, json_pack("{s:s}", "status", ok ? "ready" : "loading"));
}

static void h_ping(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply(r, 200, "text/plain; charset=utf-8", "pong", 4);
}

static void h_status(ef_http_req *r, void *ctx)
{
    serve__ctx *s = ctx;
    const char *names[64];
    size_t n = serve__model_names(s, names, 64);
    json_t *models = json_array();
    for (size_t i = 0; models && i < n && i < 64; i++) {
        serve__version *v = serve__acquire(s, names[i], NULL);
        json_array_append_new(models, json_pack("{s:s,s:s,s:s,s:b}", "name", names[i], "version",
                                                v ? v->version : "", "source",
                                                v ? v->source : "", "ready", v != NULL));
        serve__release(v);
    }
    int ok = serve__ready(s);
    ef_http_reply_json(r, ok ? 200 : 503,
                       json_pack("{s:{s:s,s:o*},s:{}}", "jsonData", "status",
                                 ok ? "healthy" : "loading", "models", models, "meta"));
}

int ef_serve_new(const ef_serve_opts *o, ef_metrics *metrics, ef_serve **out, ef_ml_err *err)
{
    int rc;
    serve__ctx *s = NULL;
    *out = NULL;
    if (o->follow_registry && (o->n_models || o->n_model_dirs || o->n_canaries))
        return ef_ml_errf(err, EF_EINVAL, "following the registry serves every Production / "
                          "champion model: give no --model, --model-dir or --canary with it");
    if (!o->follow_registry && o->n_models + o->n_model_dirs == 0)
        return ef_ml_errf(err, EF_EINVAL, "nothing to serve: give --model models:/NAME/VERSION, "
                          "--model-dir DIR or --registry");
    if (!(s = serve__ctx_new(o, metrics)))
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    if ((rc = serve__load_all(s, err))) {
        serve__ctx_free(s);
        return rc;
    }
    *out = s;
    return EF_OK;
}

int ef_serve_mount(ef_serve *s, ef_http_server *http, unsigned flags, ef_ml_err *err)
{
    int rc = ef_http_route(http, "GET", "/live", h_live, s);
    rc = rc ? rc : ef_http_route(http, "GET", "/ready", h_ready, s);
    rc = rc ? rc : ef_http_route(http, "GET", "/health/ping", h_ping, s);
    rc = rc ? rc : ef_http_route(http, "GET", "/health/status", h_status, s);
    rc = rc ? rc : ef_http_route(http, "GET", "/api/v1.0/health/status", h_status, s);
    if (!(flags & EF_SERVE_MOUNTED))
        rc = rc ? rc : ef_http_route(http, "GET", "/metrics", ef_http_metrics_handler,
                                     serve__metrics(s));
    rc = rc ? rc : serve__seldon_routes(s, http);
#ifdef EF_SERVE_HAVE_OIP
    rc = rc ? rc : serve__oip_routes(s, http);
#endif
#ifdef EF_SERVE_HAVE_KSERVE
    rc = rc ? rc : serve__kserve_routes(s, http);
#endif
    if (rc)
        return ef_ml_errf(err, rc, "cannot register the serving routes: %s%s", ef_strerror(rc),
                          rc == EF_EINVAL ? " (a path the server already has?)" : "");
    return EF_OK;
}

int ef_serve_start(ef_serve *s, const char *tracking_uri, ef_ml_err *err)
{
    return serve__poller_start(s, tracking_uri, err);
}

void ef_serve_stop(ef_serve *s)
{
    if (s)
        serve__poller_stop(s);
}

void ef_serve_free(ef_serve *s)
{
    serve__ctx_free(s);
}

int ef_serve_run(const ef_serve_opts *o, ef_ml_err *err)
{
    int rc;
    ef_http_server *http = NULL;
    ef_serve *s = NULL;
    ef_metrics *metrics = ef_metrics_new();
    if (!metrics) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ef_serve_new(o, metrics, &s, err)))
        goto out;
    size_t max_body = serve__max_body(s);
    size_t slack = max_body > ((size_t)1 << 20) ? max_body : (size_t)1 << 20;
    ef_http_config hc = {
        .bind = o->host ? o->host : "127.0.0.1",
        .port = o->port,
        .threads = o->threads,
        .max_body = max_body + slack,
        .access_log = o->access_log,
        .metrics = metrics,
        .name = "serve",
    };
    if (!(http = ef_http_server_new(&hc))) {
        rc = ef_ml_errf(err, EF_EINVAL, "cannot create the HTTP server (see the log)");
        goto out;
    }
    if ((rc = ef_serve_mount(s, http, 0, err)))
        goto out;
    if ((rc = ef_http_server_start(http))) {
        rc = ef_ml_errf(err, rc, "cannot listen on %s:%u (in use? see the log)", hc.bind,
                        (unsigned)o->port);
        goto out;
    }
    if ((rc = ef_serve_start(s, NULL, err)))
        goto out;
    const char *names[8];
    size_t n = serve__model_names(s, names, 8);
    EF_INFO("edgeflow serve listening on http://%s:%u (%s%zu model%s%s%s; Seldon v1%s%s)",
            hc.bind, (unsigned)ef_http_server_port(http),
            o->follow_registry ? "following the registry, " : "", n, n == 1 ? "" : "s",
            n ? ", first " : "", n ? names[0] : "",
#ifdef EF_SERVE_HAVE_OIP
            ", OIP v2",
#else
            "",
#endif
#ifdef EF_SERVE_HAVE_KSERVE
            ", KServe v1"
#else
            ""
#endif
    );
    while (!ef_sig_stop_requested())
        ef_sleep_ms(100);
    EF_INFO("stopping");
    ef_serve_stop(s);
    ef_http_server_stop(http);
out:
    ef_http_server_free(http);
    ef_serve_free(s);
    ef_metrics_free(metrics);
    return rc;
}

json_t *serve__body_json(ef_http_req *r, serve__ctx *s, int *status)
{
    size_t len = 0;
    ef_http_req_body(r, &len);
    if (len > serve__max_body(s)) {
        *status = 413;
        ef_http_reply_error(r, 413, "the request body (%zu bytes) is over the limit of %zu bytes "
                            "(--max-body)", len, serve__max_body(s));
        return NULL;
    }
    json_t *doc = ef_http_req_json(r);
    if (!doc)
        *status = 400; /* ef_http_req_json answered */
    return doc;
}

void serve__fail(ef_http_req *r, int rc, const ef_ml_err *err, int *status)
{
    *status = rc == EF_EINVAL ? 400 : rc == EF_ETOOBIG ? 413 : 500;
    ef_http_reply_error(r, *status, "%s", err->msg[0] ? err->msg : ef_strerror(rc));
}

void serve__reply(ef_http_req *r, json_t *reply, int *status)
{
    if (!reply) {
        *status = 500;
        ef_http_reply_error(r, 500, "could not write the reply (out of memory or a non-finite "
                            "prediction)");
        return;
    }
    *status = 200;
    ef_http_reply_json(r, 200, reply);
}
