/* request.c - one HTTP request in edgeflow's server: the libmicrohttpd access handler (routing,
 * body buffering with the max_body limit, deadline checks), the completion callback (access log,
 * metrics), request accessors and replies (whole buffers, or streamed from a fill callback).
 * The life cycle is described at the top of server.c.
 */
#include "http/http_int.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "json/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISCARD_MAX ((size_t)1 << 20) /* excess body bytes read and dropped before a 413 */
#define PRESIZE_MAX ((size_t)256 << 10) /* body buffer reserved from Content-Length */

static void req_free(ef_http_req *r)
{
    http__hdr *h = r->headers;
    while (h) {
        http__hdr *next = h->next;
        free(h->name);
        free(h->value);
        free(h);
        h = next;
    }
    ef_buf_release(&r->body);
    free(r->pbuf);
    free(r);
}

static void fill_remote(ef_http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    r->remote[0] = '\0';
    if (!sa) return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->remote,
                  sizeof r->remote);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->remote,
                  sizeof r->remote);
}

/* Makes ef_http_req_param's strings: a copy of the path with a NUL after each value. */
static int split_params(ef_http_req *r)
{
    if (r->match.nparams == 0) return EF_OK;
    r->pbuf = strdup(r->path);
    if (!r->pbuf) return EF_ENOMEM;
    for (int i = 0; i < r->match.nparams; i++)
        r->pbuf[r->match.params[i].off + r->match.params[i].len] = '\0';
    return EF_OK;
}

static int deadline_passed(const ef_http_req *r)
{
    if (!r->crec) return 0;
    uint64_t st = atomic_load(&r->crec->state);
    if ((st & 3) != HTTP__PH_RECV) return 0;
    return ef_mono_ms() - (int64_t)(st >> 2) > (int64_t)r->srv->request_timeout_s * 1000;
}

static void reply_route_error(ef_http_req *r)
{
    if (r->too_big) {
        ef_http_reply_error(r, 413, "request body larger than %zu bytes", r->srv->max_body);
    } else if (r->match.path_matched) {
        ef_http_add_header(r, "Allow", r->match.allow);
        ef_http_reply_error(r, 405, "method %s not allowed on %s", r->method, r->path);
    } else {
        ef_http_reply_error(r, 404, "no route for %s %s", r->method, r->path);
    }
}

/* Runs the server's authorize hook unless the path is exempt; 0 when the request was refused
 * (and answered). Called once the body is in, so a refused client still reads its reply. */
static int authorized(ef_http_req *r)
{
    ef_http_server *s = r->srv;
    if (!s->authorize) return 1;
    for (char **p = s->auth_exempt; p && *p; p++)
        if (strcmp(*p, r->path) == 0) return 1;
    if (s->authorize(s->authorize_ctx, r) == 0) return 1;
    if (!r->replied) ef_http_reply_error(r, 401, "unauthenticated");
    return 0;
}

enum MHD_Result http__on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    ef_http_server *s = cls;
    ef_http_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&s->inflight, 1);
        r->t0_us = ef_mono_us();
        r->srv = s;
        r->conn = conn;
        r->crec = http__conn_of(conn);
        r->method = method;
        r->path = url;
        ef_buf_init(&r->body);
        if (s->access_log) fill_remote(r);
        http__router_lookup(&s->router, method, url, &r->match);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > s->max_body) {
                r->too_big = 1;
                const char *expect =
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
                size_t cap = s->max_body > DISCARD_MAX ? s->max_body : DISCARD_MAX;
                if (errno || end == cl || expect || n - s->max_body > cap) {
                    /* Answered before the body is read; MHD then closes the connection. A
                     * client waiting on "Expect: 100-continue" never sends the body. */
                    http__set_phase(r->crec, HTTP__PH_HANDLE);
                    reply_route_error(r);
                }
                /* Otherwise a modest excess is read and dropped (bounded below) and 413 comes at
                 * the end: closing on a client still sending makes the kernel reset the
                 * connection, and the client would see that instead of the 413. */
            } else if (r->match.route && n > 0) {
                /* pre-size, but a client claiming a large body gets memory as data arrives */
                if (ef_buf_reserve(&r->body, n < PRESIZE_MAX ? (size_t)n : PRESIZE_MAX) != EF_OK)
                    return MHD_NO;
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->replied) return MHD_YES;
        if (deadline_passed(r)) {
            EF_WARN("http %s: %s %s: request deadline (%us) passed while receiving the body",
                    s->name, method, url, s->request_timeout_s);
            return MHD_NO;
        }
        if (!r->too_big && r->body.len + n > s->max_body) {
            r->too_big = 1;
            ef_buf_release(&r->body);
        }
        if (r->too_big || !r->match.route) {
            /* read and drop: the reply comes at the end of the body, within limits */
            r->discarded += n;
            size_t cap = s->max_body > DISCARD_MAX ? s->max_body : DISCARD_MAX;
            return r->discarded > s->max_body + cap ? MHD_NO : MHD_YES;
        }
        return ef_buf_append(&r->body, upload_data, n) == EF_OK ? MHD_YES : MHD_NO;
    }
    if (r->replied) return MHD_YES;
    http__set_phase(r->crec, HTTP__PH_HANDLE);
    if (!r->too_big && !authorized(r)) return MHD_YES;
    if (r->too_big || !r->match.route) {
        reply_route_error(r);
        return MHD_YES;
    }
    if (split_params(r) != EF_OK) {
        ef_http_reply_error(r, 500, "out of memory");
        return MHD_YES;
    }
    r->match.route->handler(r, r->match.route->ctx);
    if (!r->replied) {
        EF_ERROR("http %s: handler for %s %s did not reply", s->name, r->method,
                 r->match.route->pattern);
        ef_http_reply_error(r, 500, "handler did not reply");
    }
    return MHD_YES;
}

void http__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    ef_http_server *s = cls;
    ef_http_req *r = *con_cls;
    (void)conn;
    if (!r) return;
    *con_cls = NULL;
    int64_t us = ef_mono_us() - r->t0_us;
    if (s->access_log) {
        if (r->replied && r->streamed && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            EF_INFO("http %s: %s %s %d %zu %.3f %s (stream cut: %d)", s->name, r->method,
                    r->path, r->status, r->bytes, (double)us / 1000.0, r->remote, (int)toe);
        else if (r->replied)
            EF_INFO("http %s: %s %s %d %zu %.3f %s", s->name, r->method, r->path, r->status,
                    r->bytes, (double)us / 1000.0, r->remote);
        else
            EF_INFO("http %s: %s %s - 0 %.3f %s (aborted: %d)", s->name, r->method, r->path,
                    (double)us / 1000.0, r->remote, (int)toe);
    }
    if (s->metrics && r->replied) {
        http__stats *st = r->match.route ? r->match.route->server_data : s->unmatched;
        if (st) {
            http__stats_count(s, st, r->method, r->status);
            ef_histogram_observe(st->latency, (double)us / 1e6);
        }
    }
    if (r->crec) http__set_phase(r->crec, HTTP__PH_IDLE);
    req_free(r);
    atomic_fetch_sub(&s->inflight, 1);
}

/* --- accessors ----------------------------------------------------------------------------------
 */

const char *ef_http_req_method(const ef_http_req *r)
{
    return r->method;
}

const char *ef_http_req_path(const ef_http_req *r)
{
    return r->path;
}

const char *ef_http_req_param(const ef_http_req *r, const char *name)
{
    for (int i = 0; i < r->match.nparams; i++)
        if (strcmp(r->match.params[i].name, name) == 0)
            return r->pbuf ? r->pbuf + r->match.params[i].off : NULL;
    return NULL;
}

const char *ef_http_req_query(const ef_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct query_walk {
    int (*cb)(void *ctx, const char *key, const char *value);
    void *ctx;
    int rc;
} query_walk;

static enum MHD_Result query_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    query_walk *w = cls;
    (void)kind;
    w->rc = w->cb(w->ctx, key, value ? value : "");
    return w->rc == 0 ? MHD_YES : MHD_NO;
}

int ef_http_req_query_each(const ef_http_req *r,
                           int (*cb)(void *ctx, const char *key, const char *value), void *ctx)
{
    query_walk w = {cb, ctx, 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_visit, &w);
    return w.rc;
}

const char *ef_http_req_header(const ef_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ef_http_req_body(const ef_http_req *r, size_t *len)
{
    if (len) *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *ef_http_req_remote(const ef_http_req *r)
{
    if (!r->remote[0]) fill_remote((ef_http_req *)r);
    return r->remote;
}

json_t *ef_http_req_json(ef_http_req *r)
{
    json_error_t err;
    size_t len;
    const char *body = ef_http_req_body(r, &len);
    json_t *doc = json_loadb(body, len, 0, &err);
    if (!doc)
        ef_http_reply_error(r, 400, "invalid JSON body: %s (line %d column %d)", err.text, err.line,
                            err.column);
    return doc;
}

/* --- replies ------------------------------------------------------------------------------------
 */

int ef_http_add_header(ef_http_req *r, const char *name, const char *value)
{
    http__hdr *h = calloc(1, sizeof *h);
    if (!h) return EF_ENOMEM;
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        free(h);
        return EF_ENOMEM;
    }
    h->next = r->headers;
    r->headers = h;
    return EF_OK;
}

/* Queues resp (which it destroys) with status; resp NULL means out of memory. */
static void queue(ef_http_req *r, int status, const char *content_type, struct MHD_Response *resp,
                  size_t len)
{
    if (r->replied) {
        EF_ERROR("http %s: %s %s replied twice", r->srv->name, r->method, r->path);
        if (resp) MHD_destroy_response(resp);
        return;
    }
    r->replied = 1;
    if (!resp) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        status = 500;
        content_type = "application/json";
        len = sizeof oom - 1;
        resp = MHD_create_response_from_buffer(len, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (!resp) return; /* MHD answers 500 itself when the handler queues nothing */
    }
    r->status = status;
    r->bytes = len;
    if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (http__hdr *h = r->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    if (atomic_load(&r->srv->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES)
        EF_WARN("http %s: %s %s: could not queue the %d reply", r->srv->name, r->method, r->path,
                status);
    MHD_destroy_response(resp);
}

void ef_http_reply(ef_http_req *r, int status, const char *content_type, const void *body,
                   size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, len ? (void *)body : (void *)"", len ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    queue(r, status, content_type, resp, len);
}

void ef_http_reply_take(ef_http_req *r, int status, const char *content_type, char *body,
                        size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(body);
    queue(r, status, content_type, resp, len);
}

/* A streamed reply: the fill/done pair and the request whose byte count it feeds. MHD reads the
 * body only while the request is in progress (before http__on_completed frees it), so req is
 * valid in stream_read; stream_free may run after that and does not touch it. */
typedef struct http_stream {
    ef_http_req *req;
    ssize_t (*fill)(void *ctx, char *buf, size_t max);
    void (*done)(void *ctx);
    void *ctx;
} http_stream;

#define STREAM_BLOCK ((size_t)16 << 10) /* MHD allocates it with the response */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream *st = cls;
    (void)pos;
    ssize_t n = st->fill(st->ctx, buf, max);
    if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0 || (size_t)n > max) {
        EF_WARN("http %s: %s %s: streamed reply failed after %zu bytes; closing the connection",
                st->req->srv->name, st->req->method, st->req->path, st->req->bytes);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    st->req->bytes += (size_t)n;
    return n;
}

static void stream_free(void *cls)
{
    http_stream *st = cls;
    if (st->done) st->done(st->ctx);
    free(st);
}

void ef_http_reply_stream(ef_http_req *r, int status, const char *content_type,
                          ssize_t (*fill)(void *ctx, char *buf, size_t max),
                          void (*done)(void *ctx), void *ctx)
{
    struct MHD_Response *resp = NULL;
    http_stream *st = calloc(1, sizeof *st);
    if (st) {
        *st = (http_stream){r, fill, done, ctx};
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st,
                                                 stream_free);
        if (!resp) free(st);
    }
    if (!resp && done) done(ctx); /* otherwise stream_free calls it when MHD lets go */
    if (resp && !r->replied) r->streamed = 1;
    queue(r, status, content_type, resp, 0);
}

void ef_http_reply_json(ef_http_req *r, int status, json_t *doc)
{
    /* ef_json_dumps, not json_dumps: replies carry stored documents (search hits), whose reals
     * must read "0.95" as stored, not jansson's 17 digits */
    size_t len = 0;
    char *text = doc ? ef_json_dumps(doc, &len) : NULL;
    json_decref(doc);
    if (!text) {
        ef_http_reply_error(r, 500, "cannot serialise the reply");
        return;
    }
    ef_http_reply_take(r, status, "application/json", text, len);
}

void ef_http_reply_error(ef_http_req *r, int status, const char *fmt, ...)
{
    ef_buf msg;
    ef_buf_init(&msg);
    va_list ap;
    va_start(ap, fmt);
    int rc = ef_buf_vappendf(&msg, fmt, ap);
    va_end(ap);
    json_t *doc = NULL, *s = NULL;
    if (rc == EF_OK) {
        s = json_stringn(msg.data, msg.len);
        if (!s) { /* invalid UTF-8 from the request in the message: make it ASCII */
            for (size_t i = 0; i < msg.len; i++)
                if ((unsigned char)msg.data[i] >= 0x80) msg.data[i] = '?';
            s = json_stringn(msg.data, msg.len);
        }
    }
    if (s) doc = json_object();
    if (doc && json_object_set_new(doc, "error", s) != 0) {
        json_decref(doc);
        doc = NULL;
    } else if (!doc) {
        json_decref(s);
    }
    ef_buf_release(&msg);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        queue(r, status, NULL, NULL, 0);
        return;
    }
    ef_http_reply_take(r, status, "application/json", text, strlen(text));
}
