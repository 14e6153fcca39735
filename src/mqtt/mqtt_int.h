/* mqtt_int.h - internals shared by the files of the mqtt module (codec, transport, client).
 *
 * The codec (packet.c) is pure: encoders append one packet to an ef_buf, the decoder reads one
 * packet from a byte buffer and points into it (no allocation), so it can be fuzzed directly.
 * The transport (net.c) is a non-blocking TCP socket with optional OpenSSL on top.
 */
#ifndef EF_MQTT_MQTT_INT_H
#define EF_MQTT_MQTT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "mqtt/mqtt.h"

#include <openssl/ssl.h>

enum {
    MQTT__CONNECT = 1,
    MQTT__CONNACK = 2,
    MQTT__PUBLISH = 3,
    MQTT__PUBACK = 4,
    MQTT__PUBREC = 5,
    MQTT__PUBREL = 6,
    MQTT__PUBCOMP = 7,
    MQTT__SUBSCRIBE = 8,
    MQTT__SUBACK = 9,
    MQTT__UNSUBSCRIBE = 10,
    MQTT__UNSUBACK = 11,
    MQTT__PINGREQ = 12,
    MQTT__PINGRESP = 13,
    MQTT__DISCONNECT = 14,
    MQTT__AUTH = 15, /* 5.0 only */
};

#define MQTT__MAX_REMAINING 268435455u /* 4-byte variable-byte integer */
#define MQTT__MAX_FILTERS 8            /* SUBSCRIBE/UNSUBSCRIBE entries kept by the decoder */

/* A length-delimited string pointing into the decoded buffer (not NUL-terminated). */
typedef struct mqtt__str {
    const uint8_t *p;
    uint16_t len;
} mqtt__str;

/* CONNECT contents, for encoding (strings as NUL-terminated C strings) ... */
typedef struct mqtt__connect_opts {
    int protocol; /* 4 or 5 */
    int clean;
    uint16_t keepalive;
    const char *client_id;           /* may be "" */
    const char *username, *password; /* NULL = absent */
    const char *will_topic;          /* NULL = no will */
    const void *will_payload;
    size_t will_len;
    int will_qos, will_retain;
    uint32_t session_expiry;  /* 5.0, 0 = property omitted */
    uint16_t receive_max;     /* 5.0, 0 = omitted */
    uint32_t max_packet_size; /* 5.0, 0 = omitted */
} mqtt__connect_opts;

/* ... and as decoded (pointers into the buffer). */
typedef struct mqtt__connect {
    int protocol, clean;
    uint16_t keepalive;
    mqtt__str client_id, username, password, will_topic, will_payload;
    int has_username, has_password, has_will, will_qos, will_retain;
    uint32_t session_expiry, max_packet_size;
    uint16_t receive_max;
} mqtt__connect;

/* One decoded packet. Fields not used by its type are zero (the -1 ones: -1 when absent). */
typedef struct mqtt__packet {
    uint8_t type, flags; /* fixed-header type and low nibble */
    uint32_t remaining;
    uint16_t packet_id;
    uint8_t reason; /* CONNACK return/reason code, PUBACK.. reason, DISCONNECT/AUTH reason */
    int session_present;
    /* PUBLISH */
    int qos, retain, dup;
    mqtt__str topic;
    const uint8_t *payload;
    size_t payload_len;
    uint16_t topic_alias;
    /* CONNACK properties (5.0) */
    uint16_t receive_max;     /* 0 = absent (means 65535) */
    uint32_t max_packet_size; /* 0 = absent (no limit) */
    int32_t server_keepalive; /* -1 = absent */
    int32_t max_qos;          /* -1 = absent */
    mqtt__str assigned_id, reason_str;
    /* SUBACK / UNSUBACK reason codes */
    const uint8_t *codes;
    size_t ncodes;
    /* SUBSCRIBE / UNSUBSCRIBE: all entries validated, the first MQTT__MAX_FILTERS kept */
    size_t nfilters;
    mqtt__str filters[MQTT__MAX_FILTERS];
    uint8_t options[MQTT__MAX_FILTERS];
    mqtt__connect connect;
} mqtt__packet;

/* Reads a fixed header: *type_flags (first byte), *remaining, *hdr_len (1 + varint bytes).
 * Returns 0, EF_EAGAIN (need more bytes) or EF_EPROTO (5-byte varint). */
int mqtt__peek(const uint8_t *buf, size_t len, uint8_t *type_flags, uint32_t *remaining,
               size_t *hdr_len);
/* Decodes one packet for `protocol` (4 or 5; CONNECT carries its own). On success fills *out,
 * whose pointers point into buf, and sets *consumed. Returns 0, EF_EAGAIN when buf holds only
 * part of a packet, EF_EPROTO when it is malformed. Never reads outside buf[0..len). */
int mqtt__decode(const uint8_t *buf, size_t len, int protocol, mqtt__packet *out, size_t *consumed);

/* 1 when s[0..len) is well-formed UTF-8 without U+0000 (MQTT 1.5.4: topics, filters). */
int mqtt__utf8_ok(const char *s, size_t len);

/* Encoders: append one packet to b. Return 0, EF_ENOMEM, EF_EINVAL (a string over 65535 bytes,
 * bad QoS) or EF_ETOOBIG (over the 256 MiB limit of the remaining length). */
int mqtt__encode_connect(ef_buf *b, const mqtt__connect_opts *c);
int mqtt__encode_connack(ef_buf *b, int protocol, int session_present, uint8_t rc,
                         uint16_t receive_max, uint32_t max_packet_size, int32_t server_keepalive,
                         const char *assigned_id, const char *reason_str);
int mqtt__encode_publish(ef_buf *b, int protocol, const char *topic, size_t topic_len,
                         const void *payload, size_t len, int qos, int retain, int dup,
                         uint16_t packet_id);
/* PUBACK, PUBREC, PUBREL, PUBCOMP (reason ignored for 3.1.1). */
int mqtt__encode_ack(ef_buf *b, int protocol, int type, uint16_t packet_id, uint8_t reason);
/* options: QoS in bits 0-1 (5.0 adds no-local, retain-as-published, retain handling). */
int mqtt__encode_subscribe(ef_buf *b, int protocol, uint16_t packet_id, const char *const *filters,
                           const uint8_t *options, size_t n);
int mqtt__encode_suback(ef_buf *b, int protocol, uint16_t packet_id, const uint8_t *codes,
                        size_t n);
int mqtt__encode_unsubscribe(ef_buf *b, int protocol, uint16_t packet_id,
                             const char *const *filters, size_t n);
int mqtt__encode_unsuback(ef_buf *b, int protocol, uint16_t packet_id, const uint8_t *codes,
                          size_t n);
/* PINGREQ, PINGRESP (two bytes). */
int mqtt__encode_ping(ef_buf *b, int type);
int mqtt__encode_disconnect(ef_buf *b, int protocol, uint8_t reason);

/* Transport (net.c): a non-blocking TCP connection, optionally TLS. */
typedef struct mqtt__net {
    int fd;
    SSL *ssl;
    int tls_done;    /* handshake finished */
    int want_write;  /* the last TLS operation needs POLLOUT */
    int tcp_pending; /* non-blocking connect() in progress */
    int err;         /* errno of the last EF_EIO, for log lines */
} mqtt__net;

void mqtt__net_init(mqtt__net *n);
/* Starts a non-blocking connect to host:port (first address that does not fail at once).
 * Returns 0 (connected or in progress: see tcp_pending) or EF_EIO / EF_ENOTFOUND. */
int mqtt__net_connect(mqtt__net *n, const char *host, uint16_t port);
/* Called when the socket is writable while tcp_pending: 0 when connected, EF_EIO on failure. */
int mqtt__net_connect_finish(mqtt__net *n);
/* Starts TLS on the connected socket (SNI + hostname check unless insecure). */
int mqtt__net_tls_start(mqtt__net *n, SSL_CTX *ctx, const char *host, int insecure);
/* Drives the TLS handshake: 0 done, EF_EAGAIN in progress, EF_EAUTH verify failure, EF_EIO. */
int mqtt__net_tls_handshake(mqtt__net *n);
/* Reads/writes: > 0 bytes, EF_EAGAIN would block, EF_ECLOSED peer closed, EF_EIO error. */
long mqtt__net_read(mqtt__net *n, void *buf, size_t len);
long mqtt__net_write(mqtt__net *n, const void *buf, size_t len);
/* 1 when TLS holds already-decrypted bytes (poll() will not report them). */
int mqtt__net_pending(const mqtt__net *n);
void mqtt__net_close(mqtt__net *n);
/* Builds the SSL_CTX for the options (CA file or default paths, client cert/key). NULL + log. */
SSL_CTX *mqtt__tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                           int insecure);

/* ---- client internals shared by mqtt.c (connection, loop) and session.c (message flow) ---- */

#define MQTT__MAGIC 0x6d717474u
#define MQTT__BIT_GET(a, i) ((a)[(i) >> 3] & (1u << ((i)&7)))
#define MQTT__BIT_SET(a, i) ((a)[(i) >> 3] |= (uint8_t)(1u << ((i)&7)))
#define MQTT__BIT_CLR(a, i) ((a)[(i) >> 3] &= (uint8_t) ~(1u << ((i)&7)))

enum { MQTT__ST_IDLE, MQTT__ST_TCP, MQTT__ST_TLS, MQTT__ST_CONNACK, MQTT__ST_UP };
enum { MQTT__OUT_UNSENT, MQTT__OUT_SENT, MQTT__OUT_RELEASED, MQTT__OUT_DONE };

typedef struct mqtt__out {
    uint8_t *pkt; /* encoded PUBLISH; NULL once no longer needed */
    size_t len;
    uint64_t token;
    uint16_t pid;
    uint8_t qos, state, sent_once, queued; /* queued: to be (re)sent when the window allows */
} mqtt__out;

typedef struct mqtt__sub {
    char *filter;
    int qos;
    uint16_t pid; /* SUBSCRIBE awaiting SUBACK, or 0 */
} mqtt__sub;

typedef struct mqtt__q0 {
    uint64_t end; /* byte position in the connection's output stream */
    uint64_t token;
} mqtt__q0;

struct ef_mqtt { /* the handle (opaque in mqtt.h) */
    uint32_t magic;
    ef_mqtt_options o;
    char *s_host, *s_id, *s_user, *s_pass, *s_will_topic, *s_will_payload;
    ef_mqtt_callbacks cb;
    void *ctx;
    SSL_CTX *tls_ctx;
    mqtt__net net;
    int state, was_up, in_dispatch;
    int close_pending, close_reason;
    int64_t deadline, next_retry;
    unsigned attempt;
    uint64_t rng;
    uint32_t gen;
    /* input */
    uint8_t *rbuf;
    size_t rlen, rcap;
    char *topic;
    size_t topic_cap;
    /* output */
    ef_buf w;
    size_t woff;
    uint64_t wtotal;
    mqtt__q0 *q0;
    size_t q0_n, q0_cap;
    int64_t last_send, ping_sent;
    unsigned ka_ms;
    /* outgoing QoS 1/2 */
    mqtt__out *out;
    size_t out_cap, out_head, out_n;
    unsigned out_active, out_unsent, window;
    uint32_t server_max_packet;
    uint16_t next_pid;
    uint8_t pid_used[8192];
    /* incoming */
    uint16_t *in;
    size_t in_cap, in_head, in_n;
    unsigned in_unacked;
    uint8_t in_pending[8192], in_acked[8192], in_qos2[8192];
    mqtt__sub *subs;
    size_t nsubs;
};

/* mqtt.c */
void mqtt__flush(ef_mqtt *m);
void mqtt__request_close(ef_mqtt *m, int reason);
/* session.c */
uint16_t mqtt__alloc_pid(ef_mqtt *m);
void mqtt__fire_q0(ef_mqtt *m);
void mqtt__drop_incoming(ef_mqtt *m);
void mqtt__send_pending_out(ef_mqtt *m);
int mqtt__on_pub_response(ef_mqtt *m, const mqtt__packet *p);
int mqtt__on_publish(ef_mqtt *m, const mqtt__packet *p);

/* Test/fuzz hook (mqtt.c): feeds bytes to a client as if a broker had sent them on a fresh
 * connection (expecting CONNACK first); output is discarded. Returns 0 or the close reason. */
int mqtt__feed(ef_mqtt *m, const uint8_t *data, size_t len);

#endif
