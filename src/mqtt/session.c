/* session.c - the MQTT client's message flow: the outgoing QoS 1/2 window and its retransmission,
 * incoming PUBLISH delivery and the in-order deferred PUBACKs (see the comment in mqtt.c for the
 * data structures). Split from mqtt.c, which owns the connection and the loop.
 */
#include "mqtt/mqtt.h"
#include "mqtt/mqtt_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

void mqtt__drop_incoming(ef_mqtt *m)
{
    for (size_t i = 0; i < m->in_n; i++) {
        uint16_t pid = m->in[(m->in_head + i) % m->in_cap];
        MQTT__BIT_CLR(m->in_pending, pid);
        MQTT__BIT_CLR(m->in_acked, pid);
    }
    m->in_head = m->in_n = 0;
    m->in_unacked = 0;
}

uint16_t mqtt__alloc_pid(ef_mqtt *m)
{
    for (unsigned i = 0; i < 65535; i++) {
        uint16_t pid = m->next_pid;
        m->next_pid = (uint16_t)(pid == 65535 ? 1 : pid + 1);
        if (!MQTT__BIT_GET(m->pid_used, pid)) {
            MQTT__BIT_SET(m->pid_used, pid);
            return pid;
        }
    }
    return 0;
}

void mqtt__fire_q0(ef_mqtt *m)
{
    size_t i = 0;
    while (i < m->q0_n && m->q0[i].end <= m->wtotal) {
        if (m->cb.on_publish_acked) m->cb.on_publish_acked(m->ctx, m->q0[i].token);
        i++;
    }
    if (i) {
        memmove(m->q0, m->q0 + i, (m->q0_n - i) * sizeof(*m->q0));
        m->q0_n -= i;
    }
}

/* Sends an outgoing ring entry (first time or again after a reconnect). */
static int send_out(ef_mqtt *m, mqtt__out *e)
{
    int rc;
    if (e->state == MQTT__OUT_RELEASED) {
        rc = mqtt__encode_ack(&m->w, m->o.protocol, MQTT__PUBREL, e->pid, 0);
        if (!rc) e->queued = 0;
    } else {
        if (e->sent_once) e->pkt[0] |= 0x08; /* DUP */
        rc = ef_buf_append(&m->w, e->pkt, e->len);
        e->sent_once = 1;
        if (!rc) e->state = MQTT__OUT_SENT, e->queued = 0;
    }
    return rc;
}

/* Sends unsent ring entries while the window has room. */
void mqtt__send_pending_out(ef_mqtt *m)
{
    unsigned inflight = m->out_active - m->out_unsent;
    for (size_t i = 0; i < m->out_n && m->out_unsent && inflight < m->window; i++) {
        mqtt__out *e = &m->out[(m->out_head + i) % m->out_cap];
        if (!e->queued) continue;
        if (send_out(m, e)) {
            mqtt__request_close(m, EF_ENOMEM);
            return;
        }
        m->out_unsent--;
        inflight++;
    }
}

static mqtt__out *find_out(ef_mqtt *m, uint16_t pid)
{
    for (size_t i = 0; i < m->out_n; i++) {
        mqtt__out *e = &m->out[(m->out_head + i) % m->out_cap];
        if (e->pid == pid && e->state != MQTT__OUT_DONE) return e;
    }
    return NULL;
}

static void out_done(ef_mqtt *m, mqtt__out *e)
{
    free(e->pkt);
    e->pkt = NULL;
    e->state = MQTT__OUT_DONE;
    MQTT__BIT_CLR(m->pid_used, e->pid);
    m->out_active--;
    while (m->out_n && m->out[m->out_head].state == MQTT__OUT_DONE) {
        m->out_head = (m->out_head + 1) % m->out_cap;
        m->out_n--;
    }
    if (m->cb.on_publish_acked) m->cb.on_publish_acked(m->ctx, e->token);
    mqtt__send_pending_out(m);
}

int mqtt__on_pub_response(ef_mqtt *m, const mqtt__packet *p)
{
    mqtt__out *e = find_out(m, p->packet_id);
    if (!e) {
        EF_DEBUG("mqtt: ack type %u for unknown packet id %u", p->type, p->packet_id);
        return EF_OK;
    }
    if (p->reason >= 0x80)
        EF_WARN("mqtt: broker rejected publish %u with reason 0x%02x", p->packet_id, p->reason);
    if (p->type == MQTT__PUBREC && e->qos == 2 && p->reason < 0x80) {
        free(e->pkt);
        e->pkt = NULL;
        e->state = MQTT__OUT_RELEASED;
        return send_out(m, e);
    }
    if ((p->type == MQTT__PUBACK && e->qos == 1) || (p->type == MQTT__PUBCOMP && e->qos == 2) ||
        (p->type == MQTT__PUBREC && p->reason >= 0x80))
        out_done(m, e);
    return EF_OK;
}

static int in_push(ef_mqtt *m, uint16_t pid)
{
    if (m->in_n == m->in_cap) {
        size_t ncap = m->in_cap ? m->in_cap * 2 : 64;
        uint16_t *n = malloc(ncap * sizeof(*n));
        if (!n) return EF_ENOMEM;
        for (size_t i = 0; i < m->in_n; i++)
            n[i] = m->in[(m->in_head + i) % m->in_cap];
        free(m->in);
        m->in = n;
        m->in_cap = ncap;
        m->in_head = 0;
    }
    m->in[(m->in_head + m->in_n) % m->in_cap] = pid;
    m->in_n++;
    return EF_OK;
}

int mqtt__on_publish(ef_mqtt *m, const mqtt__packet *p)
{
    if (p->topic.len == 0) return EF_EPROTO; /* topic alias: we announce no alias maximum */
    if (p->topic.len + 1u > m->topic_cap) {
        size_t ncap = p->topic.len + 1u < 256 ? 256 : p->topic.len + 1u;
        char *t = realloc(m->topic, ncap);
        if (!t) return EF_ENOMEM;
        m->topic = t;
        m->topic_cap = ncap;
    }
    memcpy(m->topic, p->topic.p, p->topic.len);
    m->topic[p->topic.len] = '\0';
    ef_mqtt_message msg = {m->topic, p->topic.len, p->payload, p->payload_len,
                           p->qos,   p->retain,    p->dup,     p->qos ? p->packet_id : 0,
                           m->gen};
    int deliver = 1;
    if (p->qos == 1 && !MQTT__BIT_GET(m->in_pending, p->packet_id)) {
        if (in_push(m, p->packet_id)) return EF_ENOMEM;
        MQTT__BIT_SET(m->in_pending, p->packet_id);
        m->in_unacked++;
    } else if (p->qos == 2) {
        deliver = !MQTT__BIT_GET(m->in_qos2, p->packet_id);
        MQTT__BIT_SET(m->in_qos2, p->packet_id);
        int rc = mqtt__encode_ack(&m->w, m->o.protocol, MQTT__PUBREC, p->packet_id, 0);
        if (rc) return rc;
    }
    if (deliver && m->cb.on_message) m->cb.on_message(m->ctx, &msg);
    return EF_OK;
}

static int out_push(ef_mqtt *m, mqtt__out *e)
{
    if (m->out_n == m->out_cap) {
        size_t ncap = m->out_cap ? m->out_cap * 2 : 32;
        mqtt__out *n = malloc(ncap * sizeof(*n));
        if (!n) return EF_ENOMEM;
        for (size_t i = 0; i < m->out_n; i++)
            n[i] = m->out[(m->out_head + i) % m->out_cap];
        free(m->out);
        m->out = n;
        m->out_cap = ncap;
        m->out_head = 0;
    }
    m->out[(m->out_head + m->out_n) % m->out_cap] = *e;
    m->out_n++;
    return EF_OK;
}

int ef_mqtt_publish(ef_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    int retain, uint64_t token)
{
    int rc = EF_OK;
    uint16_t pid = 0;
    ef_buf tmp;
    ef_buf_init(&tmp);
    assert(!m || m->magic == MQTT__MAGIC);
    if (!m || !topic || !*topic || qos < 0 || qos > 2 || (len && !payload)) return EF_EINVAL;
    size_t tlen = strlen(topic);
    if (tlen > 65535 || strpbrk(topic, "+#") || !mqtt__utf8_ok(topic, tlen)) return EF_EINVAL;
    size_t size = 5 + 2 + tlen + 2 + 1 + len;
    if (size > MQTT__MAX_REMAINING || (m->server_max_packet && size > m->server_max_packet))
        return EF_ETOOBIG;
    if (m->state != MQTT__ST_UP || m->close_pending) return EF_EAGAIN;
    if (qos == 0) {
        rc = mqtt__encode_publish(&m->w, m->o.protocol, topic, tlen, payload, len, 0, retain, 0, 0);
        if (rc) return rc;
        if (m->q0_n == m->q0_cap) {
            size_t ncap = m->q0_cap ? m->q0_cap * 2 : 16;
            mqtt__q0 *n = realloc(m->q0, ncap * sizeof(*n));
            if (!n) return EF_ENOMEM; /* the message still goes out; only the callback is lost */
            m->q0 = n;
            m->q0_cap = ncap;
        }
        m->q0[m->q0_n++] = (mqtt__q0){m->wtotal + (m->w.len - m->woff), token};
        goto out;
    }
    if (m->out_active >= m->window) return EF_EAGAIN;
    pid = mqtt__alloc_pid(m);
    if (!pid) return EF_EAGAIN;
    rc = mqtt__encode_publish(&tmp, m->o.protocol, topic, tlen, payload, len, qos, retain, 0, pid);
    if (rc) goto fail;
    mqtt__out e = {(uint8_t *)tmp.data, tmp.len, token, pid, (uint8_t)qos, MQTT__OUT_UNSENT, 0, 1};
    rc = out_push(m, &e);
    if (rc) goto fail;
    ef_buf_init(&tmp); /* the ring owns the packet now */
    m->out_active++;
    m->out_unsent++;
    mqtt__send_pending_out(m);
out:
    if (!m->in_dispatch) mqtt__flush(m);
    return EF_OK;
fail:
    MQTT__BIT_CLR(m->pid_used, pid);
    ef_buf_release(&tmp);
    return rc;
}

int ef_mqtt_ack_gen(ef_mqtt *m, uint32_t generation, uint16_t packet_id)
{
    assert(!m || m->magic == MQTT__MAGIC);
    if (!m || generation != m->gen || m->state != MQTT__ST_UP) return EF_OK;
    if (!MQTT__BIT_GET(m->in_pending, packet_id) || MQTT__BIT_GET(m->in_acked, packet_id))
        return EF_OK;
    MQTT__BIT_SET(m->in_acked, packet_id);
    m->in_unacked--;
    while (m->in_n) {
        uint16_t head = m->in[m->in_head];
        if (!MQTT__BIT_GET(m->in_acked, head)) break;
        if (mqtt__encode_ack(&m->w, m->o.protocol, MQTT__PUBACK, head, 0)) {
            mqtt__request_close(m, EF_ENOMEM);
            break;
        }
        MQTT__BIT_CLR(m->in_pending, head);
        MQTT__BIT_CLR(m->in_acked, head);
        m->in_head = (m->in_head + 1) % m->in_cap;
        m->in_n--;
    }
    return EF_OK;
}

int ef_mqtt_ack(ef_mqtt *m, uint16_t packet_id)
{
    return m ? ef_mqtt_ack_gen(m, m->gen, packet_id) : EF_OK;
}

unsigned ef_mqtt_inflight(const ef_mqtt *m)
{
    return m ? m->out_active : 0;
}

unsigned ef_mqtt_unacked(const ef_mqtt *m)
{
    return m ? m->in_unacked : 0;
}

unsigned ef_mqtt_window_free(const ef_mqtt *m)
{
    if (!m || m->state != MQTT__ST_UP || m->out_active >= m->window) return 0;
    return m->window - m->out_active;
}
