/* server.h - edgeflow's one HTTP server: a thin wrapper over libmicrohttpd shared by every role.
 *
 * libmicrohttpd runs an epoll thread pool (MHD_USE_EPOLL_INTERNAL_THREAD +
 * MHD_OPTION_THREAD_POOL_SIZE); handlers run on those threads, concurrently, so what a handler
 * touches must be thread-safe. The wrapper adds what libmicrohttpd leaves to the application:
 *   - a router: METHOD + pattern with path parameters ("/{index}/_search", "/files/{path*}");
 *     literal segments win over parameters; no route -> 404, path known but not the method -> 405;
 *   - the request body buffered up to max_body (413 as soon as Content-Length or the data says so);
 *   - a whole-request deadline (slow clients are cut off), connection limits;
 *   - JSON replies, streamed replies (ef_http_reply_stream), an access log line per request,
 *     per-route Prometheus metrics;
 *   - graceful shutdown (stop accepting, finish in-flight requests), optional TLS.
 * Server-level errors (404, 405, 413, 400) answer {"error": "<message>"} unless an error hook is
 * set for the path.
 */
#ifndef EF_HTTP_SERVER_H
#define EF_HTTP_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ef_metrics;

typedef struct ef_http_server ef_http_server;
typedef struct ef_http_req ef_http_req;

/* A handler must answer with one ef_http_reply* call before returning (otherwise: 500). */
typedef void (*ef_http_handler)(ef_http_req *req, void *ctx);

typedef struct ef_http_config {
    const char *bind;           /* listen address, default "127.0.0.1"; "0.0.0.0" for all */
    uint16_t port;              /* 0 = pick a free port (see ef_http_server_port) */
    unsigned threads;           /* thread-pool size; 0 = number of CPUs */
    size_t max_body;            /* bytes, default 16 MiB */
    unsigned request_timeout_s; /* whole request incl. a slow body, default 30 */
    unsigned idle_timeout_s;    /* keep-alive inactivity, default 60 */
    unsigned max_connections;   /* default 1024 */
    unsigned max_connections_per_ip; /* 0 = unlimited */
    const char *tls_cert_file, *tls_key_file; /* both set -> HTTPS */
    int access_log;             /* 1: one info line per request */
    struct ef_metrics *metrics; /* optional: per-route request counts and latency histograms */
    const char *name;           /* for logs, e.g. "server" */
    /* Optional authorisation, called on the handler's thread before every request is routed to
     * its handler (and before 404/405), except for paths listed in auth_exempt. It returns 0 to
     * let the request through, or non-zero after replying itself (e.g. 401 with
     * WWW-Authenticate); a non-zero return without a reply becomes a bare 401. Must be
     * thread-safe. auth_exempt: NULL-terminated exact paths ("/health", "/metrics"), copied by
     * ef_http_server_new; NULL = none exempt. */
    int (*authorize)(void *ctx, ef_http_req *r);
    void *authorize_ctx;
    const char *const *auth_exempt;
} ef_http_config;

/* Creates a server (not yet listening). NULL on bad config/OOM with a log line. */
ef_http_server *ef_http_server_new(const ef_http_config *cfg);
/* Registers a route. method: "GET", "POST", ..., or "*" for any. Pattern segments "{name}" match
 * one segment, a final "{name*}" matches the rest of the path (one or more segments). Routes must
 * be added before ef_http_server_start(). Returns 0, EF_EINVAL (bad pattern) or EF_ENOMEM. */
int ef_http_route(ef_http_server *s, const char *method, const char *pattern, ef_http_handler h,
                  void *ctx);
/* Starts listening. Returns 0 or EF_EIO (port in use: the log line says which). */
int ef_http_server_start(ef_http_server *s);
/* The bound port (after start). */
uint16_t ef_http_server_port(const ef_http_server *s);
/* Stops accepting, waits for in-flight requests to finish (up to a few seconds), closes. */
void ef_http_server_stop(ef_http_server *s);
void ef_http_server_free(ef_http_server *s); /* stops first if needed */

/* --- requests (valid only inside the handler) ------------------------------------------------ */
const char *ef_http_req_method(const ef_http_req *r);
const char *ef_http_req_path(const ef_http_req *r);      /* percent-decoded by libmicrohttpd */
const char *ef_http_req_param(const ef_http_req *r, const char *name); /* path parameter or NULL */
const char *ef_http_req_query(const ef_http_req *r, const char *name); /* query arg or NULL */
/* Calls cb for every query argument in order, repeated keys included (ef_http_req_query gives
 * only one value per key); key and value are percent-decoded ('+' as space), value "" for a
 * key without '='. cb returns 0 to go on; a non-zero return stops the walk and is returned.
 * Returns 0 when every argument was visited. */
int ef_http_req_query_each(const ef_http_req *r,
                           int (*cb)(void *ctx, const char *key, const char *value), void *ctx);
const char *ef_http_req_header(const ef_http_req *r, const char *name); /* case-insensitive */
const char *ef_http_req_body(const ef_http_req *r, size_t *len); /* "" when none; NUL-terminated */
const char *ef_http_req_remote(const ef_http_req *r); /* client address text */
/* Parses the body as JSON (object or array). On failure replies 400 {"error": ...} and returns
 * NULL; the caller just returns. The caller owns the result (json_decref). */
json_t *ef_http_req_json(ef_http_req *r);

/* --- replies ----------------------------------------------------------------------------------- */
/* Adds a response header; call before the reply. Returns 0 or EF_ENOMEM. */
int ef_http_add_header(ef_http_req *r, const char *name, const char *value);
/* Copies body. */
void ef_http_reply(ef_http_req *r, int status, const char *content_type, const void *body,
                   size_t len);
/* Takes ownership of a malloc'd body. */
void ef_http_reply_take(ef_http_req *r, int status, const char *content_type, char *body,
                        size_t len);
/* Serialises doc compactly as application/json and steals the reference. */
void ef_http_reply_json(ef_http_req *r, int status, json_t *doc);
/* Streams a reply of unknown length (chunked on HTTP/1.1) produced piecewise by fill, called on
 * the connection's thread as the client takes the data: fill writes up to max bytes into buf and
 * returns how many (> 0), 0 at the end of the body, or -1 on an error (the connection is then
 * closed, the client sees a truncated body). done(ctx) is called exactly once when the reply is
 * finished with -- after the last fill, after a client disconnect, and also at once when the
 * reply cannot be queued (then a 500 is answered instead) -- so ctx may own resources (a database
 * connection, a statement) until then. done may be NULL. The access log counts the bytes sent. */
void ef_http_reply_stream(ef_http_req *r, int status, const char *content_type,
                          ssize_t (*fill)(void *ctx, char *buf, size_t max),
                          void (*done)(void *ctx), void *ctx);
/* {"error": "<formatted message>"} */
void ef_http_reply_error(ef_http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- helpers ------------------------------------------------------------------------------------ */
/* A ready-made handler for GET /metrics: ctx is the ef_metrics registry to render (Prometheus
 * text format 0.0.4). ef_http_route(s, "GET", "/metrics", ef_http_metrics_handler, metrics). */
void ef_http_metrics_handler(ef_http_req *r, void *ctx);

#endif
