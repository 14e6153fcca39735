/* mqtt.c - the MQTT client: connection state machine, flow control, deferred acknowledgement.
 *
 * Hand-written rather than libmosquitto/Paho because those send PUBACK before the application has
 * stored the message (see mqtt.h). Connection states:
 *
 *   IDLE --(retry due)--> TCP --(connected)--> [TLS handshake] --> CONNACK --(accepted)--> UP
 *     ^                                                                                    |
 *     +------------- any error / timeout / refusal: close, back-off with jitter -----------+
 *
 * Outgoing QoS 1/2: a ring of mqtt__out in send order, each holding its encoded PUBLISH until the
 * PUBACK (QoS 2: PUBCOMP). After every CONNACK the ring is re-sent from the head with DUP=1,
 * at most `window` = min(inflight_max, server Receive Maximum) outstanding.
 * Incoming QoS 1: a ring of packet ids in arrival order plus two bitmaps (pending, acked by the
 * application). ef_mqtt_ack() sets the acked bit; PUBACKs are emitted from the ring head while
 * the head is acked, so acks leave in arrival order and each ack is O(1) amortised.
 * Reading: one buffer reused for every packet; topic and payload are delivered as pointers into
 * it (the topic copied once into a reused NUL-terminated buffer). Writes are appended to one
 * buffer and flushed once per loop iteration, so PUBACKs for a burst leave in one write.
 */
#include "mqtt/mqtt.h"
#include "mqtt/mqtt_int.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#define RBUF_MIN (64 * 1024)
#define READ_BUDGET (1024 * 1024) /* bytes read per loop iteration before flushing acks */

static char *dup_or_null(const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

ef_mqtt *ef_mqtt_new(const ef_mqtt_options *opt, const ef_mqtt_callbacks *cb, void *ctx)
{
    ef_mqtt *m = NULL;
    int oom = 0;
    if (!opt || !opt->host || !*opt->host) {
        EF_ERROR("mqtt: no broker host given");
        goto fail;
    }
    if ((!opt->client_id || !*opt->client_id) && !opt->clean_session) {
        EF_ERROR("mqtt: a persistent session needs a client id");
        goto fail;
    }
    if ((opt->protocol && opt->protocol != 4 && opt->protocol != 5) || opt->will_qos < 0 ||
        opt->will_qos > 2 || (opt->will_topic && opt->will_len && !opt->will_payload) ||
        (opt->will_topic && opt->will_len > 65535)) {
        EF_ERROR("mqtt: bad protocol version or will");
        goto fail;
    }
    m = calloc(1, sizeof(*m));
    if (!m) goto oom;
    m->magic = MQTT__MAGIC;
    m->o = *opt;
    m->s_host = dup_or_null(opt->host, &oom);
    m->s_id = dup_or_null(opt->client_id ? opt->client_id : "", &oom);
    m->s_user = dup_or_null(opt->username, &oom);
    m->s_pass = dup_or_null(opt->password, &oom);
    m->s_will_topic = dup_or_null(opt->will_topic, &oom);
    if (opt->will_topic && opt->will_len) {
        m->s_will_payload = malloc(opt->will_len);
        if (!m->s_will_payload) goto oom;
        memcpy(m->s_will_payload, opt->will_payload, opt->will_len);
    }
    if (oom) goto oom;
    m->o.host = m->s_host;
    m->o.client_id = m->s_id;
    m->o.username = m->s_user;
    m->o.password = m->s_pass;
    m->o.will_topic = m->s_will_topic;
    m->o.will_payload = m->s_will_payload;
    m->o.tls_ca_file = m->o.tls_cert_file = m->o.tls_key_file = NULL;
    if (!m->o.protocol) m->o.protocol = 4;
    if (!m->o.port) m->o.port = opt->tls ? 8883 : 1883;
    if (!m->o.keepalive_s) m->o.keepalive_s = 30;
    if (!m->o.inflight_max) m->o.inflight_max = 20;
    if (m->o.inflight_max > 65000) m->o.inflight_max = 65000;
    if (!m->o.receive_max) m->o.receive_max = 65535;
    if (!m->o.max_packet_size) m->o.max_packet_size = 1024 * 1024;
    if (!m->o.reconnect_min_ms) m->o.reconnect_min_ms = 250;
    if (!m->o.reconnect_max_ms) m->o.reconnect_max_ms = 30000;
    if (m->o.reconnect_max_ms < m->o.reconnect_min_ms)
        m->o.reconnect_max_ms = m->o.reconnect_min_ms;
    if (!m->o.connect_timeout_ms) m->o.connect_timeout_ms = 10000;
    if (opt->tls) {
        m->tls_ctx = mqtt__tls_ctx_new(opt->tls_ca_file, opt->tls_cert_file, opt->tls_key_file,
                                       opt->tls_insecure);
        if (!m->tls_ctx) goto fail;
    }
    if (cb) m->cb = *cb;
    m->ctx = ctx;
    mqtt__net_init(&m->net);
    ef_buf_init(&m->w);
    m->rng = (uint64_t)ef_mono_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)m;
    if (!m->rng) m->rng = 1;
    m->next_pid = 1;
    return m;
oom:
    EF_ERROR("mqtt: out of memory");
fail:
    ef_mqtt_free(m);
    return NULL;
}

void ef_mqtt_free(ef_mqtt *m)
{
    if (!m) return;
    assert(m->magic == MQTT__MAGIC);
    mqtt__net_close(&m->net);
    for (size_t i = 0; i < m->out_n; i++)
        free(m->out[(m->out_head + i) % m->out_cap].pkt);
    free(m->out);
    for (size_t i = 0; i < m->nsubs; i++)
        free(m->subs[i].filter);
    free(m->subs);
    free(m->in);
    free(m->q0);
    free(m->rbuf);
    free(m->topic);
    ef_buf_release(&m->w);
    if (m->tls_ctx) SSL_CTX_free(m->tls_ctx);
    free(m->s_host);
    free(m->s_id);
    free(m->s_user);
    free(m->s_pass);
    free(m->s_will_topic);
    free(m->s_will_payload);
    m->magic = 0;
    free(m);
}

static uint64_t rnd(ef_mqtt *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static const char *connack_reason(int protocol, int rc)
{
    if (protocol == 4) {
        static const char *v3[] = {
            "accepted",           "unacceptable protocol version", "identifier rejected",
            "server unavailable", "bad user name or password",     "not authorised"};
        return rc >= 0 && rc <= 5 ? v3[rc] : "unknown reason";
    }
    switch (rc) {
    case 0x84:
        return "unsupported protocol version";
    case 0x85:
        return "client identifier not valid";
    case 0x86:
        return "bad user name or password";
    case 0x87:
        return "not authorised";
    case 0x88:
        return "server unavailable";
    case 0x89:
        return "server busy";
    case 0x8A:
        return "banned";
    case 0x95:
        return "packet too large";
    case 0x97:
        return "quota exceeded";
    default:
        return "refused";
    }
}

/* Asks the loop to close the connection at the next safe point (never mid-dispatch). */
void mqtt__request_close(ef_mqtt *m, int reason)
{
    if (!m->close_pending) {
        m->close_pending = 1;
        m->close_reason = reason;
    }
}

/* Writes as much of the output buffer as the socket takes. */
void mqtt__flush(ef_mqtt *m)
{
    while (m->woff < m->w.len && m->state != MQTT__ST_IDLE) {
        if (m->net.fd < 0) { /* fuzzing hook: no socket, output discarded */
            m->wtotal += m->w.len - m->woff;
            m->woff = m->w.len;
            break;
        }
        long r = mqtt__net_write(&m->net, m->w.data + m->woff, m->w.len - m->woff);
        if (r == EF_EAGAIN) break;
        if (r < 0) {
            mqtt__request_close(m, (int)r);
            break;
        }
        m->woff += (size_t)r;
        m->wtotal += (uint64_t)r;
        m->last_send = ef_mono_ms();
    }
    if (m->woff == m->w.len) {
        ef_buf_clear(&m->w);
        m->woff = 0;
    } else if (m->woff > 65536 && m->woff > m->w.len / 2) {
        ef_buf_consume(&m->w, m->woff);
        m->woff = 0;
    }
}

static void schedule_retry(ef_mqtt *m, int64_t now)
{
    uint64_t d = m->o.reconnect_min_ms;
    for (unsigned i = 0; i < m->attempt && d < m->o.reconnect_max_ms; i++)
        d *= 2;
    if (d > m->o.reconnect_max_ms) d = m->o.reconnect_max_ms;
    d = d / 2 + rnd(m) % (d / 2 + 1); /* equal jitter */
    if (m->attempt < 64) m->attempt++;
    m->next_retry = now + (int64_t)d;
}

static void close_conn(ef_mqtt *m, int reason)
{
    int64_t now = ef_mono_ms();
    int was_up = m->state == MQTT__ST_UP;
    /* A broker that does not speak MQTT 5 (e.g. RabbitMQ before 3.13) closes the connection on
     * our CONNECT instead of answering "unacceptable protocol version": say what to try. */
    int hint_v5 = m->state == MQTT__ST_CONNACK && m->o.protocol == 5 && reason == EF_ECLOSED;
    int err = m->net.err;
    mqtt__net_close(&m->net);
    m->state = MQTT__ST_IDLE;
    m->rlen = 0;
    ef_buf_clear(&m->w);
    m->woff = 0;
    m->wtotal = 0;
    m->q0_n = 0;
    m->ping_sent = 0;
    m->close_pending = 0;
    mqtt__drop_incoming(m);
    for (size_t i = 0; i < m->nsubs; i++) {
        if (m->subs[i].pid) MQTT__BIT_CLR(m->pid_used, m->subs[i].pid);
        m->subs[i].pid = 0;
    }
    for (size_t i = 0; i < m->out_n; i++) {
        mqtt__out *e = &m->out[(m->out_head + i) % m->out_cap];
        if (e->state != MQTT__OUT_DONE) e->queued = 1;
    }
    m->out_unsent = m->out_active;
    if (reason == EF_OK) {
        m->next_retry = now;
        EF_INFO("mqtt: disconnected from %s:%u", m->s_host, (unsigned)m->o.port);
    } else {
        schedule_retry(m, now);
        EF_WARN("mqtt: %s %s:%u %s (%s%s); reconnecting in %lld ms",
                was_up ? "connection to" : "connecting to", m->s_host, (unsigned)m->o.port,
                was_up ? "lost" : "failed",
                reason == EF_EIO && err ? strerror(err) : ef_strerror(reason),
                hint_v5 ? "; the broker may not support MQTT 5: try --mqtt-version 4" : "",
                (long long)(m->next_retry - now));
    }
    if (was_up && m->cb.on_disconnect) m->cb.on_disconnect(m->ctx, reason);
}

static int send_connect(ef_mqtt *m)
{
    mqtt__connect_opts c = {
        .protocol = m->o.protocol,
        .clean = m->o.clean_session,
        .keepalive = m->o.keepalive_s,
        .client_id = m->s_id,
        .username = m->s_user,
        .password = m->s_pass,
        .will_topic = m->s_will_topic,
        .will_payload = m->s_will_payload,
        .will_len = m->s_will_topic ? m->o.will_len : 0,
        .will_qos = m->o.will_qos,
        .will_retain = m->o.will_retain,
        .session_expiry = m->o.session_expiry_s,
        .receive_max = m->o.receive_max,
        .max_packet_size = m->o.max_packet_size,
    };
    m->state = MQTT__ST_CONNACK;
    return mqtt__encode_connect(&m->w, &c);
}

static void start_connect(ef_mqtt *m, int64_t now)
{
    int rc = mqtt__net_connect(&m->net, m->s_host, m->o.port);
    if (rc) {
        m->state = MQTT__ST_TCP; /* so close_conn logs and backs off uniformly */
        close_conn(m, rc);
        return;
    }
    EF_DEBUG("mqtt: connecting to %s:%u", m->s_host, (unsigned)m->o.port);
    m->deadline = now + m->o.connect_timeout_ms;
    m->state = MQTT__ST_TCP;
}

/* The TCP connection is up: start TLS or send CONNECT. */
static int tcp_ready(ef_mqtt *m)
{
    if (m->tls_ctx) {
        int rc = mqtt__net_tls_start(&m->net, m->tls_ctx, m->s_host, m->o.tls_insecure);
        if (rc) return rc;
        m->state = MQTT__ST_TLS;
        rc = mqtt__net_tls_handshake(&m->net);
        if (rc == EF_EAGAIN) return EF_OK;
        if (rc) return rc;
    }
    return send_connect(m);
}

static int send_subscribe(ef_mqtt *m, mqtt__sub *s)
{
    uint16_t pid = mqtt__alloc_pid(m);
    if (!pid) return EF_EAGAIN;
    uint8_t opt = (uint8_t)s->qos;
    const char *f = s->filter;
    int rc = mqtt__encode_subscribe(&m->w, m->o.protocol, pid, &f, &opt, 1);
    if (rc) {
        MQTT__BIT_CLR(m->pid_used, pid);
        return rc;
    }
    s->pid = pid;
    return EF_OK;
}

static int on_connack(ef_mqtt *m, const mqtt__packet *p)
{
    if (p->reason != 0) {
        EF_WARN("mqtt: broker %s:%u refused the connection: %s (code %u)", m->s_host,
                (unsigned)m->o.port, connack_reason(m->o.protocol, p->reason), (unsigned)p->reason);
        int auth = m->o.protocol == 4 ? (p->reason == 4 || p->reason == 5)
                                      : (p->reason == 0x86 || p->reason == 0x87);
        return auth ? EF_EAUTH : EF_EPROTO;
    }
    m->state = MQTT__ST_UP;
    m->gen++;
    m->attempt = 0;
    m->ka_ms = (unsigned)m->o.keepalive_s * 1000u;
    if (p->server_keepalive >= 0) m->ka_ms = (unsigned)p->server_keepalive * 1000u;
    m->window = m->o.inflight_max;
    if (p->receive_max && p->receive_max < m->window) m->window = p->receive_max;
    m->server_max_packet = p->max_packet_size;
    if (!p->session_present) memset(m->in_qos2, 0, sizeof(m->in_qos2));
    EF_INFO("mqtt: connected to %s:%u (MQTT %s, session present %d)", m->s_host,
            (unsigned)m->o.port, m->o.protocol == 5 ? "5.0" : "3.1.1", p->session_present);
    mqtt__send_pending_out(m);
    for (size_t i = 0; i < m->nsubs; i++)
        if (send_subscribe(m, &m->subs[i])) return EF_ENOMEM;
    m->was_up = 1;
    if (m->cb.on_connect) m->cb.on_connect(m->ctx, p->session_present);
    return EF_OK;
}

static int on_suback(ef_mqtt *m, const mqtt__packet *p)
{
    for (size_t i = 0; i < m->nsubs; i++) {
        mqtt__sub *s = &m->subs[i];
        if (s->pid != p->packet_id) continue;
        MQTT__BIT_CLR(m->pid_used, s->pid);
        s->pid = 0;
        int granted = p->codes[0] < 0x80 ? p->codes[0] : -1;
        if (granted < 0)
            EF_WARN("mqtt: subscription to %s refused (0x%02x)", s->filter, p->codes[0]);
        else
            EF_DEBUG("mqtt: subscribed to %s, QoS %d", s->filter, granted);
        if (m->cb.on_subscribed) m->cb.on_subscribed(m->ctx, s->filter, granted);
        break;
    }
    return EF_OK;
}

static int dispatch(ef_mqtt *m, const mqtt__packet *p)
{
    if (m->state == MQTT__ST_CONNACK) {
        if (p->type != MQTT__CONNACK) return EF_EPROTO;
        return on_connack(m, p);
    }
    switch (p->type) {
    case MQTT__PUBLISH:
        return mqtt__on_publish(m, p);
    case MQTT__PUBACK:
    case MQTT__PUBREC:
    case MQTT__PUBCOMP:
        return mqtt__on_pub_response(m, p);
    case MQTT__PUBREL:
        MQTT__BIT_CLR(m->in_qos2, p->packet_id);
        return mqtt__encode_ack(&m->w, m->o.protocol, MQTT__PUBCOMP, p->packet_id, 0);
    case MQTT__SUBACK:
        return on_suback(m, p);
    case MQTT__UNSUBACK:
        return EF_OK;
    case MQTT__PINGRESP:
        m->ping_sent = 0;
        return EF_OK;
    case MQTT__DISCONNECT:
        EF_WARN("mqtt: broker sent DISCONNECT (reason 0x%02x)", p->reason);
        return EF_ECLOSED;
    default:
        return EF_EPROTO;
    }
}

/* Decodes and dispatches every complete packet in the read buffer. */
static void process_input(ef_mqtt *m)
{
    size_t off = 0;
    mqtt__packet p;
    m->in_dispatch = 1;
    while (!m->close_pending && m->state != MQTT__ST_IDLE) {
        uint8_t tf;
        uint32_t rem;
        size_t hl, used;
        int rc = mqtt__peek(m->rbuf + off, m->rlen - off, &tf, &rem, &hl);
        if (rc == EF_EAGAIN) break;
        if (rc == EF_OK && hl + rem > m->o.max_packet_size) {
            EF_WARN("mqtt: packet of %zu bytes over max_packet_size %u; closing", hl + rem,
                    (unsigned)m->o.max_packet_size);
            mqtt__request_close(m, EF_ETOOBIG);
            break;
        }
        if (rc == EF_OK) rc = mqtt__decode(m->rbuf + off, m->rlen - off, m->o.protocol, &p, &used);
        if (rc == EF_EAGAIN) {
            if (hl + rem > m->rcap) { /* make room for this packet (bounded above) */
                uint8_t *nb = malloc(hl + rem);
                if (!nb) {
                    mqtt__request_close(m, EF_ENOMEM);
                    break;
                }
                memcpy(nb, m->rbuf + off, m->rlen - off);
                free(m->rbuf);
                m->rbuf = nb;
                m->rcap = hl + rem;
                m->rlen -= off;
                off = 0;
            }
            break;
        }
        if (rc == EF_OK) rc = dispatch(m, &p);
        if (rc) {
            if (rc == EF_EPROTO) EF_WARN("mqtt: malformed or unexpected packet from the broker");
            mqtt__request_close(m, rc);
            break;
        }
        off += used;
    }
    m->in_dispatch = 0;
    if (off && m->state != MQTT__ST_IDLE) {
        memmove(m->rbuf, m->rbuf + off, m->rlen - off);
        m->rlen -= off;
    }
}

static void do_read(ef_mqtt *m)
{
    size_t budget = READ_BUDGET;
    while (!m->close_pending && m->state != MQTT__ST_IDLE && budget) {
        if (m->rcap - m->rlen < 4096) {
            size_t ncap = m->rcap < RBUF_MIN ? RBUF_MIN : m->rcap * 2;
            uint8_t *nb = realloc(m->rbuf, ncap);
            if (!nb) {
                mqtt__request_close(m, EF_ENOMEM);
                return;
            }
            m->rbuf = nb;
            m->rcap = ncap;
        }
        long r = mqtt__net_read(&m->net, m->rbuf + m->rlen, m->rcap - m->rlen);
        if (r == EF_EAGAIN) return;
        if (r < 0) {
            mqtt__request_close(m, (int)r);
            return;
        }
        m->rlen += (size_t)r;
        budget = (size_t)r >= budget ? 0 : budget - (size_t)r;
        process_input(m);
    }
}

/* Handles poll() results for the current state. */
static void handle_io(ef_mqtt *m, short revents)
{
    int rc = EF_OK;
    if (m->state == MQTT__ST_TCP) {
        if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
        rc = mqtt__net_connect_finish(&m->net);
        if (!rc) rc = tcp_ready(m);
    } else if (m->state == MQTT__ST_TLS) {
        rc = mqtt__net_tls_handshake(&m->net);
        if (rc == EF_EAGAIN) return;
        if (!rc) rc = send_connect(m);
    } else {
        if (revents & (POLLIN | POLLERR | POLLHUP) || mqtt__net_pending(&m->net)) do_read(m);
    }
    if (rc) mqtt__request_close(m, rc);
}

static void check_timers(ef_mqtt *m, int64_t now)
{
    if (m->state == MQTT__ST_IDLE) return;
    if (m->state != MQTT__ST_UP) {
        if (now >= m->deadline) mqtt__request_close(m, EF_ETIMEDOUT);
        return;
    }
    if (!m->ka_ms) return;
    if (m->ping_sent) {
        if (now - m->ping_sent >= m->ka_ms) {
            EF_WARN("mqtt: no PINGRESP within %u ms", m->ka_ms);
            mqtt__request_close(m, EF_ETIMEDOUT);
        }
    } else if (now - m->last_send >= m->ka_ms) {
        if (mqtt__encode_ping(&m->w, MQTT__PINGREQ)) mqtt__request_close(m, EF_ENOMEM);
        m->ping_sent = now;
    }
}

static int64_t next_timer(const ef_mqtt *m)
{
    if (m->state == MQTT__ST_IDLE) return m->next_retry;
    if (m->state != MQTT__ST_UP) return m->deadline;
    if (!m->ka_ms) return INT64_MAX;
    return (m->ping_sent ? m->ping_sent : m->last_send) + m->ka_ms;
}

int ef_mqtt_run(ef_mqtt *m, int timeout_ms)
{
    assert(m && m->magic == MQTT__MAGIC);
    assert(!m->in_dispatch); /* not from a callback */
    int64_t end = ef_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t now = ef_mono_ms();
        if (m->state == MQTT__ST_IDLE && now >= m->next_retry) start_connect(m, now);
        check_timers(m, now);
        if (m->state != MQTT__ST_IDLE) mqtt__flush(m);
        if (m->close_pending) close_conn(m, m->close_reason);
        mqtt__fire_q0(m);
        int64_t t = next_timer(m);
        int64_t wait = (t < end ? t : end) - now;
        if (wait < 0) wait = 0;
        if (wait > 60000) wait = 60000;
        int did = 0;
        if (m->state == MQTT__ST_IDLE) {
            if (wait) poll(NULL, 0, (int)wait);
        } else {
            struct pollfd pfd = {m->net.fd, POLLIN, 0};
            if (m->state == MQTT__ST_TCP || m->woff < m->w.len || m->net.want_write)
                pfd.events |= POLLOUT;
            if (mqtt__net_pending(&m->net)) wait = 0;
            int n = poll(&pfd, 1, (int)wait);
            if (n < 0 && errno != EINTR) mqtt__request_close(m, EF_EIO);
            if (n > 0 || mqtt__net_pending(&m->net)) {
                handle_io(m, pfd.revents);
                did = 1;
            }
            if (m->state != MQTT__ST_IDLE) mqtt__flush(m);
            if (m->close_pending) close_conn(m, m->close_reason);
            mqtt__fire_q0(m);
        }
        if (did || ef_mono_ms() >= end) break;
    }
    return m->state == MQTT__ST_UP ? EF_OK : EF_EAGAIN;
}

int ef_mqtt_subscribe(ef_mqtt *m, const char *filter, int qos)
{
    if (!m || !filter || !*filter || strlen(filter) > 65535 || qos < 0 || qos > 2 ||
        !mqtt__utf8_ok(filter, strlen(filter)))
        return EF_EINVAL;
    mqtt__sub *ns = realloc(m->subs, (m->nsubs + 1) * sizeof(*ns));
    if (!ns) return EF_ENOMEM;
    m->subs = ns;
    mqtt__sub *s = &m->subs[m->nsubs];
    s->filter = strdup(filter);
    if (!s->filter) return EF_ENOMEM;
    s->qos = qos;
    s->pid = 0;
    m->nsubs++;
    if (m->state == MQTT__ST_UP && send_subscribe(m, s)) mqtt__request_close(m, EF_ENOMEM);
    return EF_OK;
}

void ef_mqtt_disconnect(ef_mqtt *m)
{
    assert(!m || m->magic == MQTT__MAGIC);
    if (!m || m->state == MQTT__ST_IDLE) return;
    if (m->state == MQTT__ST_UP && !mqtt__encode_disconnect(&m->w, m->o.protocol, 0)) {
        if (m->in_dispatch) { /* inside a callback: let the loop finish the job */
            mqtt__request_close(m, EF_OK);
            return;
        }
        int64_t end = ef_mono_ms() + 1000;
        mqtt__flush(m);
        while (m->woff < m->w.len && !m->close_pending && ef_mono_ms() < end) {
            struct pollfd pfd = {m->net.fd, POLLOUT, 0};
            poll(&pfd, 1, 100);
            mqtt__flush(m);
        }
    }
    close_conn(m, EF_OK);
}

int ef_mqtt_is_connected(const ef_mqtt *m)
{
    return m && m->state == MQTT__ST_UP;
}

/* Fuzzing/test hook (mqtt_int.h): treats data as input from a broker on a fake connection. */
int mqtt__feed(ef_mqtt *m, const uint8_t *data, size_t len)
{
    if (m->state == MQTT__ST_IDLE) {
        m->state = MQTT__ST_CONNACK;
        m->deadline = ef_mono_ms() + 1000;
    }
    while (len && m->state != MQTT__ST_IDLE) {
        size_t n = len < 4096 ? len : 4096;
        if (m->rcap - m->rlen < n) {
            uint8_t *nb = realloc(m->rbuf, m->rlen + n);
            if (!nb) return EF_ENOMEM;
            m->rbuf = nb;
            m->rcap = m->rlen + n;
        }
        memcpy(m->rbuf + m->rlen, data, n);
        m->rlen += n;
        data += n;
        len -= n;
        process_input(m);
        mqtt__flush(m);
        if (m->close_pending) {
            int r = m->close_reason;
            close_conn(m, r);
            return r;
        }
    }
    return EF_OK;
}
