/* http_int.h - internals shared by the files of the http module (router.c, server.c) and the
 * router's fuzz target. Not for other modules.
 *
 * The router is a segment trie built once before the server starts, then read-only (so lookups
 * from the thread pool need no lock). Each node has literal children, at most one "{param}"
 * child and the routes ending there, split into exact-end routes and "{rest*}" routes. Lookup is
 * a depth-first walk that tries, at each segment, literal before parameter before rest; the first
 * route found whose method fits wins, so the most specific pattern wins regardless of
 * registration order. Lookup allocates nothing: parameters are returned as (offset, length) into
 * the path in a fixed array.
 */
#ifndef EF_HTTP_INT_H
#define EF_HTTP_INT_H

#include "http/server.h"

#include <stddef.h>

#define HTTP__MAX_PARAMS 16 /* "{name}" segments per pattern */
#define HTTP__MAX_DEPTH 64  /* segments per pattern */

typedef struct http__route {
    char *method;  /* "GET", ..., or "*" */
    char *pattern; /* as registered; used as the metrics label */
    int nparams;
    char *param_names[HTTP__MAX_PARAMS];
    int param_depth[HTTP__MAX_PARAMS]; /* segment index of each parameter */
    int rest;                          /* last parameter is "{name*}" */
    ef_http_handler handler;
    void *ctx;
    void *server_data; /* owned by server.c (per-route metrics cache) */
} http__route;

typedef struct http__node http__node;
typedef struct http__router {
    http__node *root;
    http__route **routes; /* all routes, for freeing */
    size_t nroutes, cap;
} http__router;

typedef struct http__param {
    const char *name;
    size_t off, len; /* into the looked-up path */
} http__param;

typedef struct http__match {
    const http__route *route; /* NULL: 404 (path_matched == 0) or 405 */
    int path_matched;         /* some route's pattern matched the path */
    int nparams;
    http__param params[HTTP__MAX_PARAMS];
    char allow[128]; /* for 405: methods accepted on this path, ", "-separated */
} http__match;

void http__router_init(http__router *r);
void http__router_release(http__router *r);
/* Adds a route; returns 0, EF_EINVAL (bad pattern, duplicate method+pattern) or EF_ENOMEM.
 * On success *out (if not NULL) is the route, owned by the router. */
int http__router_add(http__router *r, const char *method, const char *pattern, ef_http_handler h,
                     void *ctx, http__route **out);
/* Looks up method + path (path must start with '/'); fills *m. HEAD falls back to GET routes. */
void http__router_lookup(const http__router *r, const char *method, const char *path,
                         http__match *m);

/* --- server internals shared by server.c and request.c ------------------------------------------
 */
#include "base/buf.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "metrics/metrics.h"

#define HTTP__MAGIC 0x48545450u /* "HTTP" */
#define HTTP__STATS_SLOTS 16

enum { HTTP__PH_RECV = 0, HTTP__PH_HANDLE = 1, HTTP__PH_IDLE = 2 };

typedef struct http__conn {
    struct http__conn *prev, *next;
    int fd;
    int cut;                /* watchdog already shut it down; under conn_lock */
    _Atomic uint64_t state; /* since_ms << 2 | phase */
} http__conn;

/* Per-route metrics: a latency histogram and a small lock-free cache of request counters keyed
 * by (method, code); misses go to the registry (which has its own mutex). */
typedef struct http__stats {
    ef_histogram *latency;
    _Atomic uint64_t keys[HTTP__STATS_SLOTS];
    _Atomic(ef_counter *) counters[HTTP__STATS_SLOTS];
    char *labels_prefix; /* server="..",route=".." */
} http__stats;

struct ef_http_server {
    unsigned magic;
    char *name, *bind;
    size_t max_body;
    unsigned threads, request_timeout_s, idle_timeout_s, max_conn, max_conn_per_ip;
    int access_log;
    ef_buf tls_cert, tls_key;
    int tls;
    ef_metrics *metrics;
    int (*authorize)(void *ctx, ef_http_req *r);
    void *authorize_ctx;
    char **auth_exempt; /* NULL-terminated copies */
    http__stats *unmatched;
    http__router router;
    struct MHD_Daemon *daemon;
    uint16_t port;
    _Atomic int running;
    _Atomic int stopping;
    _Atomic int inflight;
    pthread_mutex_t conn_lock;
    http__conn *conns;
    pthread_t watchdog;
    int watchdog_started;
    pthread_mutex_t wd_lock;
    pthread_cond_t wd_cond;
    int wd_stop;
};

typedef struct http__hdr {
    struct http__hdr *next;
    char *name, *value;
} http__hdr;

struct ef_http_req {
    ef_http_server *srv;
    struct MHD_Connection *conn;
    http__conn *crec;
    const char *method, *path; /* owned by MHD, valid for the request */
    http__match match;
    char *pbuf; /* path copy with NULs ending each parameter value */
    ef_buf body;
    size_t discarded;
    int too_big, replied, status;
    int streamed; /* ef_http_reply_stream: bytes counts what was handed to MHD so far */
    size_t bytes;
    int64_t t0_us;
    http__hdr *headers;
    char remote[INET6_ADDRSTRLEN + 1];
};

uint64_t http__pack_state(int64_t since_ms, int phase);
void http__set_phase(http__conn *c, int phase);         /* c may be NULL */
http__conn *http__conn_of(struct MHD_Connection *conn); /* NULL if it has no record */
/* Counts one request in the route's (or the unmatched) stats. */
void http__stats_count(ef_http_server *s, http__stats *st, const char *method, int code);
enum MHD_Result http__on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls);
void http__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

#endif
