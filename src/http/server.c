/* server.c - edgeflow's HTTP server over libmicrohttpd; see server.h for the contract.
 *
 * libmicrohttpd (MHD) does the protocol work; this file adds routing (router.c), body buffering
 * with a limit, a whole-request deadline, JSON/error replies, the access log, metrics and a
 * graceful stop.
 *
 * Request life cycle (MHD calls the access handler several times per request):
 *   1st call      (*con_cls == NULL): allocate the ef_http_req, route it, check Content-Length
 *                 (> max_body -> 413 at once, the body is never read).
 *   middle calls  (*upload_data_size > 0): append the chunk to the body buffer; past max_body the
 *                 rest is discarded (bounded) and 413 is answered at the end; past the deadline the
 *                 connection is dropped.
 *   last call     (*upload_data_size == 0): 404/405/413 or the handler, which must reply.
 *   completed     (MHD_OPTION_NOTIFY_COMPLETED): access log, metrics, free.
 * A streamed reply (ef_http_reply_stream) is read by MHD between the last call and "completed";
 * its context lives in the MHD response, whose free callback (the reply's `done`) may run after
 * "completed", when MHD destroys the response.
 *
 * Deadline: MHD's connection timeout only measures inactivity, so a client dribbling one byte
 * at a time stays forever. Each connection gets a record (MHD_OPTION_NOTIFY_CONNECTION) holding
 * a phase and the time it began, packed in one atomic word:
 *   RECV   receiving a request (from accept, or from the request line after an idle period);
 *          deadline = since + request_timeout_s
 *   HANDLE the handler runs / the reply is being sent; no deadline of ours (MHD's inactivity one)
 *   IDLE   between keep-alive requests; deadline = since + idle_timeout_s (a request line
 *          dribbled slowly keeps the connection IDLE, so it is still bounded)
 * A watchdog thread scans the records every 250 ms and shutdown(2)s the socket of a connection
 * past its deadline; MHD then sees EOF and closes it. The record is unlinked under the same lock
 * in the CLOSED notification, which MHD sends before it closes the fd, so the fd is never reused
 * under the watchdog.
 */
#include "http/http_int.h"
#include "http/server.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STOP_WAIT_MS 5000

uint64_t http__pack_state(int64_t since_ms, int phase)
{
    return ((uint64_t)since_ms << 2) | (uint64_t)phase;
}

void http__set_phase(http__conn *c, int phase)
{
    if (c) atomic_store(&c->state, http__pack_state(ef_mono_ms(), phase));
}

http__conn *http__conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? (http__conn *)ci->socket_context : NULL;
}

/* --- metrics ------------------------------------------------------------------------------------
 */

static http__stats *stats_new(ef_http_server *s, const char *pattern)
{
    http__stats *st = calloc(1, sizeof *st);
    ef_buf b;
    ef_buf_init(&b);
    if (!st) goto fail;
    if (ef_metrics_labels(&b, "server", s->name, "route", pattern, NULL)) goto fail;
    st->latency = ef_metrics_histogram(s->metrics, "edgeflow_http_request_duration_seconds",
                                       "HTTP request latency by route", b.data, NULL, 0);
    if (!st->latency) goto fail;
    st->labels_prefix = ef_buf_take(&b, NULL);
    if (!st->labels_prefix) goto fail;
    return st;
fail:
    ef_buf_release(&b);
    free(st);
    return NULL;
}

static void stats_free(http__stats *st)
{
    if (!st) return;
    free(st->labels_prefix);
    free(st);
}

static const char *const known_methods[] = {"GET",     "HEAD",  "POST",  "PUT",    "DELETE",
                                            "OPTIONS", "PATCH", "TRACE", "CONNECT"};

void http__stats_count(ef_http_server *s, http__stats *st, const char *method, int code)
{
    unsigned mid = 0;
    for (unsigned i = 0; i < sizeof known_methods / sizeof known_methods[0]; i++)
        if (strcmp(method, known_methods[i]) == 0) mid = i + 1;
    uint64_t key = ((uint64_t)mid << 16) | (uint64_t)code | (1ull << 32);
    int slot = -1;
    for (int i = 0; i < HTTP__STATS_SLOTS; i++) {
        uint64_t k = atomic_load_explicit(&st->keys[i], memory_order_acquire);
        if (k == key) {
            ef_counter *c = atomic_load_explicit(&st->counters[i], memory_order_acquire);
            if (c) {
                ef_counter_add(c, 1);
                return;
            }
            break; /* being filled in by another thread: use the registry */
        }
        if (k == 0) {
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong(&st->keys[i], &zero, key)) {
                slot = i;
                break;
            }
            if (zero == key) break;
        }
    }
    char labels[512];
    snprintf(labels, sizeof labels, "%s,method=\"%s\",code=\"%d\"", st->labels_prefix,
             mid ? known_methods[mid - 1] : "OTHER", code);
    ef_counter *c = ef_metrics_counter(s->metrics, "edgeflow_http_requests_total",
                                       "HTTP requests by route, method and status code", labels);
    if (!c) return;
    ef_counter_add(c, 1);
    if (slot >= 0) atomic_store_explicit(&st->counters[slot], c, memory_order_release);
}

void ef_http_metrics_handler(ef_http_req *r, void *ctx)
{
    ef_metrics *m = ctx;
    ef_buf b;
    ef_buf_init(&b);
    if (!m || ef_metrics_render(m, &b) != EF_OK) {
        ef_buf_release(&b);
        ef_http_reply_error(r, 500, "cannot render metrics");
        return;
    }
    size_t len;
    char *text = ef_buf_take(&b, &len);
    if (!text) {
        ef_http_reply_error(r, 500, "out of memory");
        return;
    }
    ef_http_reply_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void free_exempt(char **list)
{
    if (!list) return;
    for (size_t i = 0; list[i]; i++)
        free(list[i]);
    free(list);
}

/* --- server life cycle --------------------------------------------------------------------------
 */

ef_http_server *ef_http_server_new(const ef_http_config *cfg)
{
    ef_http_server *s = calloc(1, sizeof *s);
    if (!s) goto fail;
    s->magic = HTTP__MAGIC;
    http__router_init(&s->router);
    ef_buf_init(&s->tls_cert);
    ef_buf_init(&s->tls_key);
    s->name = strdup(cfg->name ? cfg->name : "http");
    s->bind = strdup(cfg->bind ? cfg->bind : "127.0.0.1");
    if (!s->name || !s->bind) goto fail;
    s->port = cfg->port;
    s->max_body = cfg->max_body ? cfg->max_body : 16u << 20;
    s->threads = cfg->threads;
    if (!s->threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->threads = n > 0 ? (unsigned)n : 1;
    }
    s->request_timeout_s = cfg->request_timeout_s ? cfg->request_timeout_s : 30;
    s->idle_timeout_s = cfg->idle_timeout_s ? cfg->idle_timeout_s : 60;
    s->max_conn = cfg->max_connections ? cfg->max_connections : 1024;
    s->max_conn_per_ip = cfg->max_connections_per_ip;
    s->access_log = cfg->access_log;
    s->metrics = cfg->metrics;
    s->authorize = cfg->authorize;
    s->authorize_ctx = cfg->authorize_ctx;
    if (cfg->auth_exempt) {
        size_t n = 0;
        while (cfg->auth_exempt[n])
            n++;
        s->auth_exempt = calloc(n + 1, sizeof *s->auth_exempt);
        if (!s->auth_exempt) goto fail;
        for (size_t i = 0; i < n; i++)
            if (!(s->auth_exempt[i] = strdup(cfg->auth_exempt[i]))) goto fail;
    }
    if ((cfg->tls_cert_file != NULL) != (cfg->tls_key_file != NULL)) {
        EF_ERROR("http %s: TLS needs both a certificate and a key file", s->name);
        goto fail;
    }
    if (cfg->tls_cert_file) {
        if (ef_fs_read(cfg->tls_cert_file, 1 << 20, &s->tls_cert) != EF_OK) {
            EF_ERROR("http %s: cannot read TLS certificate %s", s->name, cfg->tls_cert_file);
            goto fail;
        }
        if (ef_fs_read(cfg->tls_key_file, 1 << 20, &s->tls_key) != EF_OK) {
            EF_ERROR("http %s: cannot read TLS key %s", s->name, cfg->tls_key_file);
            goto fail;
        }
        if (!s->tls_cert.data || !s->tls_key.data) {
            EF_ERROR("http %s: empty TLS certificate or key file", s->name);
            goto fail;
        }
        s->tls = 1;
    }
    if (s->metrics && !(s->unmatched = stats_new(s, "<unmatched>"))) goto fail;
    if (pthread_mutex_init(&s->conn_lock, NULL) != 0) goto fail;
    if (pthread_mutex_init(&s->wd_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->conn_lock);
        goto fail;
    }
    if (pthread_cond_init(&s->wd_cond, NULL) != 0) {
        pthread_mutex_destroy(&s->wd_lock);
        pthread_mutex_destroy(&s->conn_lock);
        goto fail;
    }
    return s;
fail:
    if (s) {
        free_exempt(s->auth_exempt);
        stats_free(s->unmatched);
        ef_buf_release(&s->tls_cert);
        ef_buf_release(&s->tls_key);
        free(s->name);
        free(s->bind);
        free(s);
    }
    return NULL;
}

int ef_http_route(ef_http_server *s, const char *method, const char *pattern, ef_http_handler h,
                  void *ctx)
{
    assert(s && s->magic == HTTP__MAGIC);
    http__route *rt = NULL;
    http__stats *st = NULL;
    if (s->running) {
        EF_ERROR("http %s: route %s %s added after start", s->name, method, pattern);
        return EF_EINVAL;
    }
    if (s->metrics && pattern && !(st = stats_new(s, pattern))) return EF_ENOMEM;
    int rc = http__router_add(&s->router, method, pattern, h, ctx, &rt);
    if (rc != EF_OK) {
        if (rc == EF_EINVAL) EF_ERROR("http %s: bad route %s %s", s->name, method, pattern);
        stats_free(st);
        return rc;
    }
    rt->server_data = st;
    return EF_OK;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    ef_http_server *s = cls;
    ef_buf b;
    ef_buf_init(&b);
    if (ef_buf_vappendf(&b, fmt, ap) == EF_OK && b.len) {
        if (b.data[b.len - 1] == '\n') b.data[--b.len] = '\0';
        ef_log(s->running ? EF_LOG_DEBUG : EF_LOG_WARN, "http %s: libmicrohttpd: %s", s->name,
               b.data);
    }
    ef_buf_release(&b);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ef_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        http__conn *c = calloc(1, sizeof *c);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = c;
        if (!c) return; /* no deadline for this one; everything else works */
        c->fd = ci ? ci->connect_fd : -1;
        atomic_init(&c->state, http__pack_state(ef_mono_ms(), HTTP__PH_RECV));
        pthread_mutex_lock(&s->conn_lock);
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conn_lock);
    } else {
        http__conn *c = *socket_context;
        if (!c) return;
        pthread_mutex_lock(&s->conn_lock);
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conn_lock);
        free(c);
        *socket_context = NULL;
    }
}

/* Request line received: an idle keep-alive connection starts a new request. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)uri;
    http__conn *c = http__conn_of(conn);
    if (c && (atomic_load(&c->state) & 3) == HTTP__PH_IDLE) http__set_phase(c, HTTP__PH_RECV);
    return NULL;
}

static void *watchdog_main(void *arg)
{
    ef_http_server *s = arg;
    int64_t recv_ms = (int64_t)s->request_timeout_s * 1000;
    int64_t idle_ms = (int64_t)s->idle_timeout_s * 1000;
    pthread_mutex_lock(&s->wd_lock);
    while (!s->wd_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->wd_cond, &s->wd_lock, &ts);
        if (s->wd_stop) break;
        int64_t now = ef_mono_ms();
        pthread_mutex_lock(&s->conn_lock);
        for (http__conn *c = s->conns; c; c = c->next) {
            uint64_t st = atomic_load(&c->state);
            int phase = (int)(st & 3);
            int64_t since = (int64_t)(st >> 2);
            if (c->cut || c->fd < 0 || phase == HTTP__PH_HANDLE) continue;
            if (now - since <= (phase == HTTP__PH_RECV ? recv_ms : idle_ms)) continue;
            EF_WARN("http %s: closing a connection: %s deadline passed", s->name,
                    phase == HTTP__PH_RECV ? "request" : "idle");
            shutdown(c->fd, SHUT_RDWR);
            c->cut = 1;
        }
        pthread_mutex_unlock(&s->conn_lock);
    }
    pthread_mutex_unlock(&s->wd_lock);
    return NULL;
}

int ef_http_server_start(ef_http_server *s)
{
    assert(s && s->magic == HTTP__MAGIC);
    int rc = EF_EIO;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (s->running) {
        EF_ERROR("http %s: already started", s->name);
        return EF_EINVAL;
    }
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (strchr(s->bind, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(s->port);
        if (inet_pton(AF_INET6, s->bind, &a6->sin6_addr) != 1) goto bad_addr;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons(s->port);
        if (inet_pton(AF_INET, s->bind, &a4->sin_addr) != 1) goto bad_addr;
    }
    if (s->tls) flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    int n = 0;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s); /* first, or MHD complains */
    OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
    if (s->threads > 1) OPT(MHD_OPTION_THREAD_POOL_SIZE, s->threads, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, s->max_conn, NULL);
    if (s->max_conn_per_ip) OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->max_conn_per_ip, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout_s, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http__on_completed, s);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s);
    OPT(MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s);
    if (s->tls) {
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert.data);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key.data);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    s->wd_stop = 0;
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        EF_ERROR("http %s: cannot start the watchdog thread", s->name);
        goto out;
    }
    s->watchdog_started = 1;
    errno = 0;
    s->daemon = MHD_start_daemon(flags, s->port, NULL, NULL, http__on_access, s, MHD_OPTION_ARRAY,
                                 opts, MHD_OPTION_END);
    if (!s->daemon) {
        EF_ERROR("http %s: cannot listen on %s:%u: %s", s->name, s->bind, (unsigned)s->port,
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (di && di->port) s->port = di->port;
    s->running = 1;
    atomic_store(&s->stopping, 0);
    EF_INFO("http %s: listening on %s%s:%u (%u threads)", s->name, s->tls ? "https://" : "",
            s->bind, (unsigned)s->port, s->threads);
    rc = EF_OK;
out:
    if (rc != EF_OK && s->watchdog_started) {
        pthread_mutex_lock(&s->wd_lock);
        s->wd_stop = 1;
        pthread_cond_signal(&s->wd_cond);
        pthread_mutex_unlock(&s->wd_lock);
        pthread_join(s->watchdog, NULL);
        s->watchdog_started = 0;
    }
    return rc;
bad_addr:
    EF_ERROR("http %s: bad bind address '%s'", s->name, s->bind);
    return EF_EINVAL;
}

uint16_t ef_http_server_port(const ef_http_server *s)
{
    return s->port;
}

void ef_http_server_stop(ef_http_server *s)
{
    assert(s && s->magic == HTTP__MAGIC);
    if (!s->running) return;
    atomic_store(&s->stopping, 1);
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    int64_t until = ef_mono_ms() + STOP_WAIT_MS;
    while (atomic_load(&s->inflight) > 0 && ef_mono_ms() < until)
        ef_sleep_ms(5);
    if (atomic_load(&s->inflight) > 0)
        EF_WARN("http %s: stopping with %d requests still in flight", s->name,
                atomic_load(&s->inflight));
    MHD_stop_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    s->daemon = NULL;
    pthread_mutex_lock(&s->wd_lock);
    s->wd_stop = 1;
    pthread_cond_signal(&s->wd_cond);
    pthread_mutex_unlock(&s->wd_lock);
    pthread_join(s->watchdog, NULL);
    s->watchdog_started = 0;
    s->running = 0;
    EF_INFO("http %s: stopped", s->name);
}

void ef_http_server_free(ef_http_server *s)
{
    if (!s) return;
    assert(s->magic == HTTP__MAGIC);
    ef_http_server_stop(s);
    for (size_t i = 0; i < s->router.nroutes; i++)
        stats_free(s->router.routes[i]->server_data);
    http__router_release(&s->router);
    stats_free(s->unmatched);
    free_exempt(s->auth_exempt);
    ef_buf_release(&s->tls_cert);
    ef_buf_release(&s->tls_key);
    pthread_cond_destroy(&s->wd_cond);
    pthread_mutex_destroy(&s->wd_lock);
    pthread_mutex_destroy(&s->conn_lock);
    free(s->name);
    free(s->bind);
    s->magic = 0;
    free(s);
}
