/* Unit tests for the MQTT codec (src/mqtt/packet.c): round trips of every packet type for
 * 3.1.1 and 5.0, 5.0 properties skipped on input, malformed input -> EF_EPROTO, partial input ->
 * EF_EAGAIN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "mqtt/mqtt.h"
#include "mqtt/mqtt_int.h"

static int str_eq(mqtt__str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

/* Decodes b whole; also checks every strict prefix gives EF_EAGAIN. */
static void decode_all_(const uint8_t *b, size_t len, int protocol, mqtt__packet *p, int line)
{
    size_t used = 0;
    for (size_t i = 0; i < len; i++)
        assert_int_equal(mqtt__decode(b, i, protocol, p, &used), EF_EAGAIN);
    int rc = mqtt__decode(b, len, protocol, p, &used);
    if (rc != EF_OK) fail_msg("decode failed (%d) for the packet built at line %d", rc, line);
    assert_int_equal(used, len);
}
#define decode_all(b, len, protocol, p) decode_all_(b, len, protocol, p, __LINE__)

static void test_connect(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        ef_buf b;
        ef_buf_init(&b);
        mqtt__connect_opts c = {.protocol = proto,
                                .clean = 0,
                                .keepalive = 45,
                                .client_id = "dev-1",
                                .username = "u",
                                .password = "p@ss",
                                .will_topic = "status/dev-1",
                                .will_payload = "offline",
                                .will_len = 7,
                                .will_qos = 1,
                                .will_retain = 1,
                                .session_expiry = 3600,
                                .receive_max = 100,
                                .max_packet_size = 65536};
        assert_int_equal(mqtt__encode_connect(&b, &c), EF_OK);
        mqtt__packet p;
        decode_all((uint8_t *)b.data, b.len, proto, &p);
        assert_int_equal(p.type, MQTT__CONNECT);
        assert_int_equal(p.connect.protocol, proto);
        assert_int_equal(p.connect.clean, 0);
        assert_int_equal(p.connect.keepalive, 45);
        assert_true(str_eq(p.connect.client_id, "dev-1"));
        assert_true(p.connect.has_username && str_eq(p.connect.username, "u"));
        assert_true(p.connect.has_password && str_eq(p.connect.password, "p@ss"));
        assert_true(p.connect.has_will && str_eq(p.connect.will_topic, "status/dev-1"));
        assert_true(str_eq(p.connect.will_payload, "offline"));
        assert_int_equal(p.connect.will_qos, 1);
        assert_int_equal(p.connect.will_retain, 1);
        if (proto == 5) {
            assert_int_equal(p.connect.session_expiry, 3600);
            assert_int_equal(p.connect.receive_max, 100);
            assert_int_equal(p.connect.max_packet_size, 65536);
        }
        /* minimal: clean session, no will, no credentials */
        ef_buf_clear(&b);
        mqtt__connect_opts c2 = {.protocol = proto, .clean = 1, .keepalive = 0, .client_id = ""};
        assert_int_equal(mqtt__encode_connect(&b, &c2), EF_OK);
        decode_all((uint8_t *)b.data, b.len, proto, &p);
        assert_int_equal(p.connect.clean, 1);
        assert_int_equal(p.connect.has_will + p.connect.has_username + p.connect.has_password, 0);
        assert_int_equal(p.connect.client_id.len, 0);
        /* reserved flag bit set -> malformed */
        size_t used;
        b.data[9] |= 0x01;
        assert_int_equal(mqtt__decode((uint8_t *)b.data, b.len, proto, &p, &used), EF_EPROTO);
        ef_buf_release(&b);
    }
}

static void test_connack(void **state)
{
    (void)state;
    ef_buf b;
    ef_buf_init(&b);
    mqtt__packet p;
    assert_int_equal(mqtt__encode_connack(&b, 4, 1, 0, 0, 0, -1, NULL, NULL), EF_OK);
    assert_int_equal(b.len, 4);
    decode_all((uint8_t *)b.data, b.len, 4, &p);
    assert_int_equal(p.type, MQTT__CONNACK);
    assert_int_equal(p.session_present, 1);
    assert_int_equal(p.reason, 0);
    ef_buf_clear(&b);
    assert_int_equal(mqtt__encode_connack(&b, 5, 0, 0x87, 10, 4096, 20, "auto-1", "go away"),
                     EF_OK);
    decode_all((uint8_t *)b.data, b.len, 5, &p);
    assert_int_equal(p.reason, 0x87);
    assert_int_equal(p.receive_max, 10);
    assert_int_equal(p.max_packet_size, 4096);
    assert_int_equal(p.server_keepalive, 20);
    assert_true(str_eq(p.assigned_id, "auto-1"));
    assert_true(str_eq(p.reason_str, "go away"));
    /* a 3.1.1 decoder sees trailing bytes in a 5.0 CONNACK */
    size_t used;
    assert_int_equal(mqtt__decode((uint8_t *)b.data, b.len, 4, &p, &used), EF_EPROTO);
    /* reserved acknowledge-flag bits */
    const uint8_t bad[] = {0x20, 0x02, 0x02, 0x00};
    assert_int_equal(mqtt__decode(bad, sizeof(bad), 4, &p, &used), EF_EPROTO);
    ef_buf_release(&b);
}

static void test_publish(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        for (int qos = 0; qos <= 2; qos++) {
            ef_buf b;
            ef_buf_init(&b);
            mqtt__packet p;
            assert_int_equal(mqtt__encode_publish(&b, proto, "sensor/a", 8, "{\"t\":1}", 7, qos,
                                                  qos == 1, qos > 0, qos ? 77 : 0),
                             EF_OK);
            decode_all((uint8_t *)b.data, b.len, proto, &p);
            assert_int_equal(p.type, MQTT__PUBLISH);
            assert_int_equal(p.qos, qos);
            assert_int_equal(p.retain, qos == 1);
            assert_int_equal(p.dup, qos > 0);
            assert_int_equal(p.packet_id, qos ? 77 : 0);
            assert_true(str_eq(p.topic, "sensor/a"));
            assert_int_equal(p.payload_len, 7);
            assert_memory_equal(p.payload, "{\"t\":1}", 7);
            ef_buf_release(&b);
        }
    }
    /* empty payload; large payload with a 3-byte remaining length */
    ef_buf b;
    ef_buf_init(&b);
    mqtt__packet p;
    assert_int_equal(mqtt__encode_publish(&b, 4, "t", 1, NULL, 0, 0, 0, 0, 0), EF_OK);
    decode_all((uint8_t *)b.data, b.len, 4, &p);
    assert_int_equal(p.payload_len, 0);
    ef_buf_clear(&b);
    size_t big = 300000;
    uint8_t *pl = malloc(big);
    assert_non_null(pl);
    memset(pl, 'x', big);
    assert_int_equal(mqtt__encode_publish(&b, 5, "t/big", 5, pl, big, 1, 0, 0, 9), EF_OK);
    size_t used;
    assert_int_equal(mqtt__decode((uint8_t *)b.data, b.len, 5, &p, &used), EF_OK);
    assert_int_equal(used, b.len);
    assert_int_equal(p.payload_len, big);
    assert_int_equal(mqtt__decode((uint8_t *)b.data, b.len - 1, 5, &p, &used), EF_EAGAIN);
    free(pl);
    /* invalid arguments */
    assert_int_equal(mqtt__encode_publish(&b, 4, "", 0, "x", 1, 0, 0, 0, 0), EF_EINVAL);
    assert_int_equal(mqtt__encode_publish(&b, 4, "t", 1, "x", 1, 1, 0, 0, 0), EF_EINVAL);
    assert_int_equal(mqtt__encode_publish(&b, 4, "t", 1, "x", 1, 3, 0, 0, 1), EF_EINVAL);
    ef_buf_release(&b);
}

/* A 5.0 PUBLISH carrying properties the client does not use: they must be skipped. */
static void test_publish_v5_properties(void **state)
{
    (void)state;
    const uint8_t pkt[] = {0x32, 35,                     /* PUBLISH QoS 1, remaining 35 */
                           0x00, 0x03, 'a',  '/',  'b',  /* topic */
                           0x00, 0x05,                   /* packet id */
                           25,                           /* properties length */
                           0x01, 0x01,                   /* payload format indicator */
                           0x02, 0x00, 0x00, 0x00, 0x3c, /* message expiry 60 */
                           0x03, 0x00, 0x02, 'j',  's',  /* content type */
                           0x0B, 0x81, 0x01, /* subscription identifier 129 (2-byte varint) */
                           0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v', /* user property */
                           0x09, 0x00, 0x00,                        /* correlation data, empty */
                           'h',  'i'};
    mqtt__packet p;
    decode_all(pkt, sizeof(pkt), 5, &p);
    assert_int_equal(p.packet_id, 5);
    assert_true(str_eq(p.topic, "a/b"));
    assert_int_equal(p.payload_len, 2);
    assert_memory_equal(p.payload, "hi", 2);
    /* unknown property id -> malformed */
    uint8_t bad[sizeof(pkt)];
    memcpy(bad, pkt, sizeof(pkt));
    bad[10] = 0x7f;
    size_t used;
    assert_int_equal(mqtt__decode(bad, sizeof(bad), 5, &p, &used), EF_EPROTO);
    /* property length running past the packet */
    memcpy(bad, pkt, sizeof(pkt));
    bad[9] = 40;
    assert_int_equal(mqtt__decode(bad, sizeof(bad), 5, &p, &used), EF_EPROTO);
    /* topic alias without a topic is well-formed; alias 0 is not */
    const uint8_t alias[] = {0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x02, 'x'};
    decode_all(alias, sizeof(alias), 5, &p);
    assert_int_equal(p.topic_alias, 2);
    const uint8_t alias0[] = {0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00, 'x'};
    assert_int_equal(mqtt__decode(alias0, sizeof(alias0), 5, &p, &used), EF_EPROTO);
}

static void test_acks(void **state)
{
    (void)state;
    const int types[] = {MQTT__PUBACK, MQTT__PUBREC, MQTT__PUBREL, MQTT__PUBCOMP};
    for (int proto = 4; proto <= 5; proto++) {
        for (int i = 0; i < 4; i++) {
            ef_buf b;
            ef_buf_init(&b);
            mqtt__packet p;
            uint8_t reason = proto == 5 ? 0x10 : 0;
            assert_int_equal(mqtt__encode_ack(&b, proto, types[i], 513, reason), EF_OK);
            decode_all((uint8_t *)b.data, b.len, proto, &p);
            assert_int_equal(p.type, types[i]);
            assert_int_equal(p.flags, types[i] == MQTT__PUBREL ? 2 : 0);
            assert_int_equal(p.packet_id, 513);
            assert_int_equal(p.reason, reason);
            ef_buf_release(&b);
        }
    }
    mqtt__packet p;
    size_t used;
    /* 5.0 PUBACK with reason and a reason-string property */
    const uint8_t v5[] = {0x40, 0x09, 0x00, 0x01, 0x97, 0x05, 0x1F, 0x00, 0x02, 'n', 'o'};
    decode_all(v5, sizeof(v5), 5, &p);
    assert_int_equal(p.reason, 0x97);
    assert_true(str_eq(p.reason_str, "no"));
    /* the same bytes are malformed for 3.1.1 (remaining length must be 2) */
    assert_int_equal(mqtt__decode(v5, sizeof(v5), 4, &p, &used), EF_EPROTO);
    /* wrong fixed-header flags */
    const uint8_t pubrel0[] = {0x60, 0x02, 0x00, 0x01};
    assert_int_equal(mqtt__decode(pubrel0, sizeof(pubrel0), 4, &p, &used), EF_EPROTO);
    const uint8_t puback1[] = {0x41, 0x02, 0x00, 0x01};
    assert_int_equal(mqtt__decode(puback1, sizeof(puback1), 4, &p, &used), EF_EPROTO);
    /* packet id 0 */
    const uint8_t pid0[] = {0x40, 0x02, 0x00, 0x00};
    assert_int_equal(mqtt__decode(pid0, sizeof(pid0), 4, &p, &used), EF_EPROTO);
    /* truncated: remaining length 1 */
    const uint8_t shortack[] = {0x40, 0x01, 0x00};
    assert_int_equal(mqtt__decode(shortack, sizeof(shortack), 4, &p, &used), EF_EPROTO);
}

static void test_subscribe(void **state)
{
    (void)state;
    const char *filters[] = {"sensor/+", "$share/g/t/#"};
    for (int proto = 4; proto <= 5; proto++) {
        ef_buf b;
        ef_buf_init(&b);
        mqtt__packet p;
        uint8_t opts[] = {1, proto == 5 ? (uint8_t)(0x04 | 0x08 | 0x20 | 2) : 2};
        assert_int_equal(mqtt__encode_subscribe(&b, proto, 42, filters, opts, 2), EF_OK);
        decode_all((uint8_t *)b.data, b.len, proto, &p);
        assert_int_equal(p.type, MQTT__SUBSCRIBE);
        assert_int_equal(p.packet_id, 42);
        assert_int_equal(p.nfilters, 2);
        assert_true(str_eq(p.filters[0], "sensor/+"));
        assert_true(str_eq(p.filters[1], "$share/g/t/#"));
        assert_int_equal(p.options[0], 1);
        assert_int_equal(p.options[1], opts[1]);

        ef_buf_clear(&b);
        const uint8_t codes[] = {1, 0x80};
        assert_int_equal(mqtt__encode_suback(&b, proto, 42, codes, 2), EF_OK);
        decode_all((uint8_t *)b.data, b.len, proto, &p);
        assert_int_equal(p.type, MQTT__SUBACK);
        assert_int_equal(p.ncodes, 2);
        assert_int_equal(p.codes[0], 1);
        assert_int_equal(p.codes[1], 0x80);

        ef_buf_clear(&b);
        assert_int_equal(mqtt__encode_unsubscribe(&b, proto, 43, filters, 2), EF_OK);
        decode_all((uint8_t *)b.data, b.len, proto, &p);
        assert_int_equal(p.type, MQTT__UNSUBSCRIBE);
        assert_int_equal(p.nfilters, 2);
        assert_true(str_eq(p.filters[1], "$share/g/t/#"));

        ef_buf_clear(&b);
        const uint8_t ucodes[] = {0, 0x11};
        assert_int_equal(mqtt__encode_unsuback(&b, proto, 43, ucodes, 2), EF_OK);
        decode_all((uint8_t *)b.data, b.len, proto, &p);
        assert_int_equal(p.type, MQTT__UNSUBACK);
        assert_int_equal(p.packet_id, 43);
        assert_int_equal(p.ncodes, proto == 5 ? 2 : 0);
        ef_buf_release(&b);
    }
    mqtt__packet p;
    size_t used;
    /* SUBSCRIBE with flags 0, with QoS 3 option, with reserved option bits in 3.1.1, empty */
    const uint8_t flags0[] = {0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x01};
    assert_int_equal(mqtt__decode(flags0, sizeof(flags0), 4, &p, &used), EF_EPROTO);
    const uint8_t q3[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03};
    assert_int_equal(mqtt__decode(q3, sizeof(q3), 4, &p, &used), EF_EPROTO);
    const uint8_t res[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x05};
    assert_int_equal(mqtt__decode(res, sizeof(res), 4, &p, &used), EF_EPROTO);
    const uint8_t res5[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x05};
    decode_all(res5, sizeof(res5), 5, &p); /* no-local is a 5.0 option */
    assert_int_equal(p.options[0], 0x05);
    const uint8_t empty[] = {0x82, 0x02, 0x00, 0x01};
    assert_int_equal(mqtt__decode(empty, sizeof(empty), 4, &p, &used), EF_EPROTO);
    /* SUBACK with an invalid 3.1.1 return code */
    const uint8_t sa[] = {0x90, 0x03, 0x00, 0x01, 0x05};
    assert_int_equal(mqtt__decode(sa, sizeof(sa), 4, &p, &used), EF_EPROTO);
}

static void test_ping_disconnect(void **state)
{
    (void)state;
    ef_buf b;
    ef_buf_init(&b);
    mqtt__packet p;
    assert_int_equal(mqtt__encode_ping(&b, MQTT__PINGREQ), EF_OK);
    assert_int_equal(mqtt__encode_ping(&b, MQTT__PINGRESP), EF_OK);
    assert_int_equal(mqtt__encode_disconnect(&b, 4, 0), EF_OK);
    assert_int_equal(mqtt__encode_disconnect(&b, 5, 0x04), EF_OK);
    assert_int_equal(b.len, 2 + 2 + 2 + 3);
    size_t off = 0, used;
    const int want[] = {MQTT__PINGREQ, MQTT__PINGRESP, MQTT__DISCONNECT, MQTT__DISCONNECT};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(
            mqtt__decode((uint8_t *)b.data + off, b.len - off, i == 3 ? 5 : 4, &p, &used), EF_OK);
        assert_int_equal(p.type, want[i]);
        off += used;
    }
    assert_int_equal(p.reason, 0x04);
    assert_int_equal(off, b.len);
    /* PINGRESP with a body; AUTH in 3.1.1; type 0 */
    const uint8_t pr[] = {0xD0, 0x01, 0x00};
    assert_int_equal(mqtt__decode(pr, sizeof(pr), 4, &p, &used), EF_EPROTO);
    const uint8_t auth[] = {0xF0, 0x00};
    assert_int_equal(mqtt__decode(auth, sizeof(auth), 4, &p, &used), EF_EPROTO);
    assert_int_equal(mqtt__decode(auth, sizeof(auth), 5, &p, &used), EF_OK);
    const uint8_t t0[] = {0x00, 0x00};
    assert_int_equal(mqtt__decode(t0, sizeof(t0), 4, &p, &used), EF_EPROTO);
    ef_buf_release(&b);
}

static void test_malformed(void **state)
{
    (void)state;
    mqtt__packet p;
    size_t used;
    uint8_t tf;
    uint32_t rem;
    size_t hl;
    /* 5-byte remaining length */
    const uint8_t v5b[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(mqtt__decode(v5b, sizeof(v5b), 4, &p, &used), EF_EPROTO);
    assert_int_equal(mqtt__peek(v5b, sizeof(v5b), &tf, &rem, &hl), EF_EPROTO);
    /* maximum 4-byte remaining length: valid header, needs more data */
    const uint8_t v4b[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(mqtt__peek(v4b, sizeof(v4b), &tf, &rem, &hl), EF_OK);
    assert_int_equal(rem, MQTT__MAX_REMAINING);
    assert_int_equal(hl, 5);
    assert_int_equal(mqtt__decode(v4b, sizeof(v4b), 4, &p, &used), EF_EAGAIN);
    /* incomplete varint */
    assert_int_equal(mqtt__decode(v4b, 3, 4, &p, &used), EF_EAGAIN);
    /* topic length running past the packet */
    const uint8_t tl[] = {0x30, 0x04, 0x00, 0x09, 'a', 'b'};
    assert_int_equal(mqtt__decode(tl, sizeof(tl), 4, &p, &used), EF_EPROTO);
    /* QoS 1 PUBLISH without room for its packet id */
    const uint8_t nopid[] = {0x32, 0x04, 0x00, 0x01, 'a', 0x00};
    assert_int_equal(mqtt__decode(nopid, sizeof(nopid), 4, &p, &used), EF_EPROTO);
    /* QoS 3, and DUP on QoS 0 */
    const uint8_t q3[] = {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01};
    assert_int_equal(mqtt__decode(q3, sizeof(q3), 4, &p, &used), EF_EPROTO);
    const uint8_t dup0[] = {0x38, 0x03, 0x00, 0x01, 'a'};
    assert_int_equal(mqtt__decode(dup0, sizeof(dup0), 4, &p, &used), EF_EPROTO);
    /* NUL inside a topic name */
    const uint8_t nul[] = {0x30, 0x04, 0x00, 0x02, 'a', 0x00};
    assert_int_equal(mqtt__decode(nul, sizeof(nul), 4, &p, &used), EF_EPROTO);
    /* 5.0 PUBLISH with no property length byte */
    const uint8_t noprops[] = {0x30, 0x03, 0x00, 0x01, 'a'};
    assert_int_equal(mqtt__decode(noprops, sizeof(noprops), 5, &p, &used), EF_EPROTO);
    /* CONNECT with an old protocol name */
    const uint8_t old[] = {0x10, 0x0e, 0x00, 0x06, 'M',  'Q',  'I',  's',
                           'd',  'p',  0x03, 0x02, 0x00, 0x3c, 0x00, 0x00};
    assert_int_equal(mqtt__decode(old, sizeof(old), 4, &p, &used), EF_EPROTO);
    /* Receive Maximum 0 in a CONNACK */
    const uint8_t rm0[] = {0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00};
    assert_int_equal(mqtt__decode(rm0, sizeof(rm0), 5, &p, &used), EF_EPROTO);
}

static void test_parse_url(void **state)
{
    (void)state;
    ef_mqtt_options o;
    char *st = NULL;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ef_mqtt_parse_url("mqtt://broker.local", &o, &st), EF_OK);
    assert_string_equal(o.host, "broker.local");
    assert_int_equal(o.port, 1883);
    assert_int_equal(o.tls, 0);
    free(st);
    memset(&o, 0, sizeof(o));
    assert_int_equal(ef_mqtt_parse_url("mqtts://us%3Ar:p%40ss@10.0.0.1:9000/", &o, &st), EF_OK);
    assert_string_equal(o.host, "10.0.0.1");
    assert_int_equal(o.port, 9000);
    assert_int_equal(o.tls, 1);
    assert_string_equal(o.username, "us:r");
    assert_string_equal(o.password, "p@ss");
    free(st);
    memset(&o, 0, sizeof(o));
    assert_int_equal(ef_mqtt_parse_url("ssl://[::1]", &o, &st), EF_OK);
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 8883);
    free(st);
    memset(&o, 0, sizeof(o));
    assert_int_equal(ef_mqtt_parse_url("tcp://user@h:1", &o, &st), EF_OK);
    assert_string_equal(o.username, "user");
    assert_null(o.password);
    assert_int_equal(o.port, 1);
    free(st);
    memset(&o, 0, sizeof(o));
    assert_int_equal(ef_mqtt_parse_url("localhost:1884", &o, &st), EF_OK);
    assert_string_equal(o.host, "localhost");
    assert_int_equal(o.port, 1884);
    free(st);
    const char *bad[] = {
        "",           "http://h",      "mqtt://",     "mqtt://h:0",     "mqtt://h:65536",
        "mqtt://h:x", "mqtt://h/path", "mqtt://[::1", "mqtt://u:%zz@h", "mqtt://h:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ef_mqtt_parse_url(bad[i], &o, &st), EF_EINVAL);
        assert_null(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_connack),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_publish_v5_properties),
        cmocka_unit_test(test_acks),
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_ping_disconnect),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_parse_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
