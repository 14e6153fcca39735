/* packet.c - MQTT 3.1.1 / 5.0 packet codec: pure functions over byte buffers (see mqtt_int.h).
 *
 * Wire layout of every packet: fixed header byte (type << 4 | flags), the remaining length as a
 * variable-byte integer (1..4 bytes, 7 bits each, low group first, bit 7 = more), then the
 * variable header and payload. 5.0 adds a property block (varint length + id/value pairs) to
 * most variable headers. The decoder checks every length against the packet end before reading,
 * rejects wrong fixed-header flags, unknown property ids and leftover bytes with EF_EPROTO, and
 * returns EF_EAGAIN while the packet is still incomplete. Hand-written because the packaged MQTT
 * libraries do not expose their codecs and the client needs control over acknowledgements.
 */
#include "mqtt/mqtt_int.h"

#include <string.h>

#include "base/err.h"

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static int rd_u8(rd *r, uint8_t *v)
{
    if (r->end - r->p < 1) return EF_EPROTO;
    *v = *r->p++;
    return EF_OK;
}

static int rd_u16(rd *r, uint16_t *v)
{
    if (r->end - r->p < 2) return EF_EPROTO;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return EF_OK;
}

static int rd_u32(rd *r, uint32_t *v)
{
    if (r->end - r->p < 4) return EF_EPROTO;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return EF_OK;
}

static int rd_varint(rd *r, uint32_t *v)
{
    uint32_t val = 0;
    for (int i = 0; i < 4; i++) {
        if (r->p >= r->end) return EF_EPROTO;
        uint8_t c = *r->p++;
        val |= (uint32_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *v = val;
            return EF_OK;
        }
    }
    return EF_EPROTO;
}

static int rd_str(rd *r, mqtt__str *s)
{
    uint16_t n;
    if (rd_u16(r, &n)) return EF_EPROTO;
    if (r->end - r->p < n) return EF_EPROTO;
    s->p = r->p;
    s->len = n;
    r->p += n;
    return EF_OK;
}

/* Reads a 5.0 property block; the values the client uses go into pk (when non-NULL) or c. */
static int rd_props(rd *r, mqtt__packet *pk, mqtt__connect *c)
{
    uint32_t len;
    if (rd_varint(r, &len)) return EF_EPROTO;
    if ((size_t)(r->end - r->p) < len) return EF_EPROTO;
    rd pr = {r->p, r->p + len};
    r->p += len;
    while (pr.p < pr.end) {
        uint32_t id;
        uint8_t b;
        uint16_t s;
        uint32_t w;
        mqtt__str str, str2;
        if (rd_varint(&pr, &id)) return EF_EPROTO;
        switch (id) {
        case 0x01:
        case 0x17:
        case 0x19:
        case 0x25:
        case 0x28:
        case 0x29:
        case 0x2A:
            if (rd_u8(&pr, &b)) return EF_EPROTO;
            if (id != 0x01 && b > 1) return EF_EPROTO;
            break;
        case 0x24: /* Maximum QoS */
            if (rd_u8(&pr, &b) || b > 1) return EF_EPROTO;
            if (pk) pk->max_qos = b;
            break;
        case 0x13: /* Server Keep Alive */
            if (rd_u16(&pr, &s)) return EF_EPROTO;
            if (pk) pk->server_keepalive = s;
            break;
        case 0x21: /* Receive Maximum: 0 is a protocol error */
            if (rd_u16(&pr, &s) || s == 0) return EF_EPROTO;
            if (pk) pk->receive_max = s;
            if (c) c->receive_max = s;
            break;
        case 0x22: /* Topic Alias Maximum */
            if (rd_u16(&pr, &s)) return EF_EPROTO;
            break;
        case 0x23: /* Topic Alias */
            if (rd_u16(&pr, &s) || s == 0) return EF_EPROTO;
            if (pk) pk->topic_alias = s;
            break;
        case 0x02:
        case 0x18:
            if (rd_u32(&pr, &w)) return EF_EPROTO;
            break;
        case 0x11: /* Session Expiry Interval */
            if (rd_u32(&pr, &w)) return EF_EPROTO;
            if (c) c->session_expiry = w;
            break;
        case 0x27: /* Maximum Packet Size: 0 is a protocol error */
            if (rd_u32(&pr, &w) || w == 0) return EF_EPROTO;
            if (pk) pk->max_packet_size = w;
            if (c) c->max_packet_size = w;
            break;
        case 0x0B: /* Subscription Identifier */
            if (rd_varint(&pr, &w) || w == 0) return EF_EPROTO;
            break;
        case 0x03:
        case 0x08:
        case 0x09:
        case 0x15:
        case 0x16:
        case 0x1A:
        case 0x1C:
            if (rd_str(&pr, &str)) return EF_EPROTO;
            break;
        case 0x12: /* Assigned Client Identifier */
            if (rd_str(&pr, &str)) return EF_EPROTO;
            if (pk) pk->assigned_id = str;
            break;
        case 0x1F: /* Reason String */
            if (rd_str(&pr, &str)) return EF_EPROTO;
            if (pk) pk->reason_str = str;
            break;
        case 0x26: /* User Property */
            if (rd_str(&pr, &str) || rd_str(&pr, &str2)) return EF_EPROTO;
            break;
        default:
            return EF_EPROTO;
        }
    }
    return EF_OK;
}

int mqtt__peek(const uint8_t *buf, size_t len, uint8_t *type_flags, uint32_t *remaining,
               size_t *hdr_len)
{
    if (len < 2) return EF_EAGAIN;
    uint32_t val = 0;
    for (size_t i = 1; i <= 4; i++) {
        if (i >= len) return EF_EAGAIN;
        uint8_t c = buf[i];
        val |= (uint32_t)(c & 0x7f) << (7 * (i - 1));
        if (!(c & 0x80)) {
            *type_flags = buf[0];
            *remaining = val;
            *hdr_len = i + 1;
            return EF_OK;
        }
    }
    return EF_EPROTO;
}

static int decode_connect(rd *r, mqtt__packet *pk)
{
    mqtt__connect *c = &pk->connect;
    mqtt__str name;
    uint8_t level, flags;
    if (rd_str(r, &name) || rd_u8(r, &level) || rd_u8(r, &flags) || rd_u16(r, &c->keepalive))
        return EF_EPROTO;
    if (name.len != 4 || memcmp(name.p, "MQTT", 4) != 0 || (level != 4 && level != 5))
        return EF_EPROTO;
    c->protocol = level;
    if (flags & 0x01) return EF_EPROTO;
    c->clean = !!(flags & 0x02);
    c->has_will = !!(flags & 0x04);
    c->will_qos = (flags >> 3) & 3;
    c->will_retain = !!(flags & 0x20);
    c->has_password = !!(flags & 0x40);
    c->has_username = !!(flags & 0x80);
    if (c->will_qos == 3) return EF_EPROTO;
    if (!c->has_will && (c->will_qos || c->will_retain)) return EF_EPROTO;
    if (level == 4 && c->has_password && !c->has_username) return EF_EPROTO;
    if (level == 5 && rd_props(r, NULL, c)) return EF_EPROTO;
    if (rd_str(r, &c->client_id)) return EF_EPROTO;
    if (c->has_will) {
        if (level == 5 && rd_props(r, NULL, NULL)) return EF_EPROTO;
        if (rd_str(r, &c->will_topic) || rd_str(r, &c->will_payload)) return EF_EPROTO;
    }
    if (c->has_username && rd_str(r, &c->username)) return EF_EPROTO;
    if (c->has_password && rd_str(r, &c->password)) return EF_EPROTO;
    return EF_OK;
}

static int decode_publish(rd *r, int protocol, mqtt__packet *pk)
{
    pk->dup = !!(pk->flags & 0x08);
    pk->qos = (pk->flags >> 1) & 3;
    pk->retain = pk->flags & 1;
    if (pk->qos == 3 || (pk->qos == 0 && pk->dup)) return EF_EPROTO;
    if (rd_str(r, &pk->topic)) return EF_EPROTO;
    if (memchr(pk->topic.p, 0, pk->topic.len)) return EF_EPROTO;
    if (pk->qos) {
        if (rd_u16(r, &pk->packet_id) || pk->packet_id == 0) return EF_EPROTO;
    }
    if (protocol == 5 && rd_props(r, pk, NULL)) return EF_EPROTO;
    if (pk->topic.len == 0 && pk->topic_alias == 0) return EF_EPROTO;
    pk->payload = r->p;
    pk->payload_len = (size_t)(r->end - r->p);
    r->p = r->end;
    return EF_OK;
}

/* PUBACK/PUBREC/PUBREL/PUBCOMP: packet id, then (5.0, optional) reason code and properties. */
static int decode_ack(rd *r, int protocol, mqtt__packet *pk)
{
    if (rd_u16(r, &pk->packet_id) || pk->packet_id == 0) return EF_EPROTO;
    if (protocol == 5 && r->p < r->end) {
        if (rd_u8(r, &pk->reason)) return EF_EPROTO;
        if (r->p < r->end && rd_props(r, pk, NULL)) return EF_EPROTO;
    }
    return EF_OK;
}

static int decode_sub(rd *r, int protocol, mqtt__packet *pk, int with_options)
{
    if (rd_u16(r, &pk->packet_id) || pk->packet_id == 0) return EF_EPROTO;
    if (protocol == 5 && rd_props(r, pk, NULL)) return EF_EPROTO;
    if (r->p >= r->end) return EF_EPROTO; /* at least one entry */
    while (r->p < r->end) {
        mqtt__str f;
        uint8_t o = 0;
        if (rd_str(r, &f) || f.len == 0) return EF_EPROTO;
        if (with_options) {
            if (rd_u8(r, &o)) return EF_EPROTO;
            if ((o & 3) == 3) return EF_EPROTO;
            if (protocol == 5 ? ((o & 0xC0) || ((o >> 4) & 3) == 3) : (o & 0xFC)) return EF_EPROTO;
        }
        if (pk->nfilters < MQTT__MAX_FILTERS) {
            pk->filters[pk->nfilters] = f;
            pk->options[pk->nfilters] = o;
        }
        pk->nfilters++;
    }
    return EF_OK;
}

static int decode_suback(rd *r, int protocol, mqtt__packet *pk, int is_unsuback)
{
    if (rd_u16(r, &pk->packet_id) || pk->packet_id == 0) return EF_EPROTO;
    if (is_unsuback && protocol != 5) return r->p == r->end ? EF_OK : EF_EPROTO;
    if (protocol == 5 && rd_props(r, pk, NULL)) return EF_EPROTO;
    if (r->p >= r->end) return EF_EPROTO;
    pk->codes = r->p;
    pk->ncodes = (size_t)(r->end - r->p);
    for (size_t i = 0; i < pk->ncodes; i++) {
        uint8_t c = pk->codes[i];
        if (protocol != 5 && c > 2 && c != 0x80) return EF_EPROTO;
    }
    r->p = r->end;
    return EF_OK;
}

int mqtt__decode(const uint8_t *buf, size_t len, int protocol, mqtt__packet *out, size_t *consumed)
{
    uint8_t tf;
    uint32_t remaining;
    size_t hl;
    int rc = mqtt__peek(buf, len, &tf, &remaining, &hl);
    if (rc) return rc;
    if (len - hl < remaining) return EF_EAGAIN;
    memset(out, 0, sizeof(*out));
    out->server_keepalive = -1;
    out->max_qos = -1;
    out->type = tf >> 4;
    out->flags = tf & 0x0f;
    out->remaining = remaining;
    rd r = {buf + hl, buf + hl + remaining};
    uint8_t want_flags = 0;
    if (out->type == MQTT__PUBREL || out->type == MQTT__SUBSCRIBE || out->type == MQTT__UNSUBSCRIBE)
        want_flags = 2;
    if (out->type != MQTT__PUBLISH && out->flags != want_flags) return EF_EPROTO;
    switch (out->type) {
    case MQTT__CONNECT:
        rc = decode_connect(&r, out);
        break;
    case MQTT__CONNACK: {
        uint8_t f;
        if (rd_u8(&r, &f) || (f & 0xFE) || rd_u8(&r, &out->reason)) return EF_EPROTO;
        out->session_present = f & 1;
        rc = protocol == 5 ? rd_props(&r, out, NULL) : EF_OK;
        break;
    }
    case MQTT__PUBLISH:
        rc = decode_publish(&r, protocol, out);
        break;
    case MQTT__PUBACK:
    case MQTT__PUBREC:
    case MQTT__PUBREL:
    case MQTT__PUBCOMP:
        rc = decode_ack(&r, protocol, out);
        break;
    case MQTT__SUBSCRIBE:
        rc = decode_sub(&r, protocol, out, 1);
        break;
    case MQTT__UNSUBSCRIBE:
        rc = decode_sub(&r, protocol, out, 0);
        break;
    case MQTT__SUBACK:
        rc = decode_suback(&r, protocol, out, 0);
        break;
    case MQTT__UNSUBACK:
        rc = decode_suback(&r, protocol, out, 1);
        break;
    case MQTT__PINGREQ:
    case MQTT__PINGRESP:
        rc = EF_OK;
        break;
    case MQTT__DISCONNECT:
    case MQTT__AUTH:
        if (out->type == MQTT__AUTH && protocol != 5) return EF_EPROTO;
        if (protocol == 5 && r.p < r.end) {
            if (rd_u8(&r, &out->reason)) return EF_EPROTO;
            if (r.p < r.end && rd_props(&r, out, NULL)) return EF_EPROTO;
        }
        break;
    default:
        return EF_EPROTO;
    }
    if (rc) return EF_EPROTO;
    if (r.p != r.end) return EF_EPROTO; /* trailing bytes */
    *consumed = hl + remaining;
    return EF_OK;
}

/* ---- validation --------------------------------------------------------------------------- */

int mqtt__utf8_ok(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        uint8_t c = *p;
        size_t n;
        uint32_t cp;
        if (c == 0) return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            n = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            n = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            n = 3, cp = c & 0x07;
        else
            return 0;
        if ((size_t)(end - p) <= n) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* ---- writing ---------------------------------------------------------------------------- */

static size_t varint_len(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/* Writers into memory reserved beforehand (the caller computed the exact size). */
static uint8_t *wr_varint(uint8_t *p, uint32_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        *p++ = c | (v ? 0x80 : 0);
    } while (v);
    return p;
}

static uint8_t *wr_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *wr_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *wr_bytes(uint8_t *p, const void *s, size_t n)
{
    if (n) memcpy(p, s, n);
    return p + n;
}

static uint8_t *wr_str(uint8_t *p, const void *s, size_t n)
{
    return wr_bytes(wr_u16(p, (uint16_t)n), s, n);
}

/* Reserves room for a packet with this remaining length and writes the fixed header.
 * Returns the write position, or NULL with *rc set. */
static uint8_t *begin(ef_buf *b, uint8_t type_flags, size_t remaining, int *rc)
{
    if (remaining > MQTT__MAX_REMAINING) {
        *rc = EF_ETOOBIG;
        return NULL;
    }
    if (ef_buf_reserve(b, 5 + remaining)) {
        *rc = EF_ENOMEM;
        return NULL;
    }
    uint8_t *p = (uint8_t *)b->data + b->len;
    *p++ = type_flags;
    return wr_varint(p, (uint32_t)remaining);
}

static void finish(ef_buf *b, uint8_t *end)
{
    b->len = (size_t)(end - (uint8_t *)b->data);
    b->data[b->len] = '\0';
}

int mqtt__encode_connect(ef_buf *b, const mqtt__connect_opts *c)
{
    int rc = EF_OK;
    size_t idlen = c->client_id ? strlen(c->client_id) : 0;
    size_t ulen = c->username ? strlen(c->username) : 0;
    size_t plen = c->password ? strlen(c->password) : 0;
    size_t wtlen = c->will_topic ? strlen(c->will_topic) : 0;
    int v5 = c->protocol == 5;
    if (idlen > 65535 || ulen > 65535 || plen > 65535 || wtlen > 65535 || c->will_len > 65535 ||
        c->will_qos < 0 || c->will_qos > 2 || (c->protocol != 4 && !v5))
        return EF_EINVAL;
    if (c->password && !c->username && !v5) return EF_EINVAL;
    size_t props = 0;
    if (v5) {
        props += c->session_expiry ? 5 : 0;
        props += c->receive_max ? 3 : 0;
        props += c->max_packet_size ? 5 : 0;
    }
    size_t rem = 2 + 4 + 1 + 1 + 2 + (v5 ? varint_len((uint32_t)props) + props : 0) + 2 + idlen;
    if (c->will_topic) rem += (v5 ? 1 : 0) + 2 + wtlen + 2 + c->will_len;
    if (c->username) rem += 2 + ulen;
    if (c->password) rem += 2 + plen;
    uint8_t *p = begin(b, MQTT__CONNECT << 4, rem, &rc);
    if (!p) return rc;
    uint8_t flags = c->clean ? 0x02 : 0;
    if (c->will_topic) flags |= (uint8_t)(0x04 | c->will_qos << 3 | (c->will_retain ? 0x20 : 0));
    if (c->username) flags |= 0x80;
    if (c->password) flags |= 0x40;
    p = wr_str(p, "MQTT", 4);
    *p++ = (uint8_t)c->protocol;
    *p++ = flags;
    p = wr_u16(p, c->keepalive);
    if (v5) {
        p = wr_varint(p, (uint32_t)props);
        if (c->session_expiry) *p++ = 0x11, p = wr_u32(p, c->session_expiry);
        if (c->receive_max) *p++ = 0x21, p = wr_u16(p, c->receive_max);
        if (c->max_packet_size) *p++ = 0x27, p = wr_u32(p, c->max_packet_size);
    }
    p = wr_str(p, c->client_id, idlen);
    if (c->will_topic) {
        if (v5) *p++ = 0; /* will properties: none */
        p = wr_str(p, c->will_topic, wtlen);
        p = wr_str(p, c->will_payload, c->will_len);
    }
    if (c->username) p = wr_str(p, c->username, ulen);
    if (c->password) p = wr_str(p, c->password, plen);
    finish(b, p);
    return EF_OK;
}

int mqtt__encode_connack(ef_buf *b, int protocol, int session_present, uint8_t rc_code,
                         uint16_t receive_max, uint32_t max_packet_size, int32_t server_keepalive,
                         const char *assigned_id, const char *reason_str)
{
    int rc = EF_OK;
    int v5 = protocol == 5;
    size_t alen = assigned_id ? strlen(assigned_id) : 0;
    size_t rlen = reason_str ? strlen(reason_str) : 0;
    if (alen > 65535 || rlen > 65535) return EF_EINVAL;
    size_t props = 0;
    if (v5) {
        props += receive_max ? 3 : 0;
        props += max_packet_size ? 5 : 0;
        props += server_keepalive >= 0 ? 3 : 0;
        props += assigned_id ? 3 + alen : 0;
        props += reason_str ? 3 + rlen : 0;
    }
    size_t rem = 2 + (v5 ? varint_len((uint32_t)props) + props : 0);
    uint8_t *p = begin(b, MQTT__CONNACK << 4, rem, &rc);
    if (!p) return rc;
    *p++ = session_present ? 1 : 0;
    *p++ = rc_code;
    if (v5) {
        p = wr_varint(p, (uint32_t)props);
        if (receive_max) *p++ = 0x21, p = wr_u16(p, receive_max);
        if (max_packet_size) *p++ = 0x27, p = wr_u32(p, max_packet_size);
        if (server_keepalive >= 0) *p++ = 0x13, p = wr_u16(p, (uint16_t)server_keepalive);
        if (assigned_id) *p++ = 0x12, p = wr_str(p, assigned_id, alen);
        if (reason_str) *p++ = 0x1F, p = wr_str(p, reason_str, rlen);
    }
    finish(b, p);
    return EF_OK;
}

int mqtt__encode_publish(ef_buf *b, int protocol, const char *topic, size_t topic_len,
                         const void *payload, size_t len, int qos, int retain, int dup,
                         uint16_t packet_id)
{
    int rc = EF_OK;
    if (topic_len == 0 || topic_len > 65535 || qos < 0 || qos > 2 || (qos && !packet_id))
        return EF_EINVAL;
    if (len > MQTT__MAX_REMAINING) return EF_ETOOBIG;
    size_t rem = 2 + topic_len + (qos ? 2 : 0) + (protocol == 5 ? 1 : 0) + len;
    uint8_t tf = (uint8_t)(MQTT__PUBLISH << 4 | (dup && qos ? 0x08 : 0) | qos << 1 | !!retain);
    uint8_t *p = begin(b, tf, rem, &rc);
    if (!p) return rc;
    p = wr_str(p, topic, topic_len);
    if (qos) p = wr_u16(p, packet_id);
    if (protocol == 5) *p++ = 0;
    p = wr_bytes(p, payload, len);
    finish(b, p);
    return EF_OK;
}

int mqtt__encode_ack(ef_buf *b, int protocol, int type, uint16_t packet_id, uint8_t reason)
{
    int rc = EF_OK;
    if (type < MQTT__PUBACK || type > MQTT__PUBCOMP || !packet_id) return EF_EINVAL;
    int with_reason = protocol == 5 && reason != 0;
    uint8_t *p =
        begin(b, (uint8_t)(type << 4 | (type == MQTT__PUBREL ? 2 : 0)), with_reason ? 3 : 2, &rc);
    if (!p) return rc;
    p = wr_u16(p, packet_id);
    if (with_reason) *p++ = reason;
    finish(b, p);
    return EF_OK;
}

static int encode_sub(ef_buf *b, int type, int protocol, uint16_t packet_id,
                      const char *const *filters, const uint8_t *options, size_t n)
{
    int rc = EF_OK;
    if (!n || !packet_id) return EF_EINVAL;
    size_t rem = 2 + (protocol == 5 ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(filters[i]);
        if (fl == 0 || fl > 65535) return EF_EINVAL;
        rem += 2 + fl + (options ? 1 : 0);
    }
    uint8_t *p = begin(b, (uint8_t)(type << 4 | 2), rem, &rc);
    if (!p) return rc;
    p = wr_u16(p, packet_id);
    if (protocol == 5) *p++ = 0;
    for (size_t i = 0; i < n; i++) {
        p = wr_str(p, filters[i], strlen(filters[i]));
        if (options) *p++ = options[i];
    }
    finish(b, p);
    return EF_OK;
}

int mqtt__encode_subscribe(ef_buf *b, int protocol, uint16_t packet_id, const char *const *filters,
                           const uint8_t *options, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((options[i] & 3) == 3) return EF_EINVAL;
    return encode_sub(b, MQTT__SUBSCRIBE, protocol, packet_id, filters, options, n);
}

int mqtt__encode_unsubscribe(ef_buf *b, int protocol, uint16_t packet_id,
                             const char *const *filters, size_t n)
{
    return encode_sub(b, MQTT__UNSUBSCRIBE, protocol, packet_id, filters, NULL, n);
}

static int encode_codes(ef_buf *b, int type, int protocol, uint16_t packet_id, const uint8_t *codes,
                        size_t n)
{
    int rc = EF_OK;
    if (!packet_id) return EF_EINVAL;
    size_t rem = 2 + (protocol == 5 ? 1 : 0) + n;
    uint8_t *p = begin(b, (uint8_t)(type << 4), rem, &rc);
    if (!p) return rc;
    p = wr_u16(p, packet_id);
    if (protocol == 5) *p++ = 0;
    p = wr_bytes(p, codes, n);
    finish(b, p);
    return EF_OK;
}

int mqtt__encode_suback(ef_buf *b, int protocol, uint16_t packet_id, const uint8_t *codes, size_t n)
{
    if (!n) return EF_EINVAL;
    return encode_codes(b, MQTT__SUBACK, protocol, packet_id, codes, n);
}

int mqtt__encode_unsuback(ef_buf *b, int protocol, uint16_t packet_id, const uint8_t *codes,
                          size_t n)
{
    if (protocol == 5 && !n) return EF_EINVAL;
    return encode_codes(b, MQTT__UNSUBACK, protocol, packet_id, codes, protocol == 5 ? n : 0);
}

int mqtt__encode_ping(ef_buf *b, int type)
{
    int rc = EF_OK;
    if (type != MQTT__PINGREQ && type != MQTT__PINGRESP) return EF_EINVAL;
    uint8_t *p = begin(b, (uint8_t)(type << 4), 0, &rc);
    if (!p) return rc;
    finish(b, p);
    return EF_OK;
}

int mqtt__encode_disconnect(ef_buf *b, int protocol, uint8_t reason)
{
    int rc = EF_OK;
    int with_reason = protocol == 5 && reason != 0;
    uint8_t *p = begin(b, MQTT__DISCONNECT << 4, with_reason ? 1 : 0, &rc);
    if (!p) return rc;
    if (with_reason) *p++ = reason;
    finish(b, p);
    return EF_OK;
}
