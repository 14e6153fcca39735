/* mqtt.h - a small MQTT 3.1.1 / 5.0 client whose subscriber acknowledges when the caller says so.
 *
 * Why hand-written: libmosquitto 2.0 and Paho C send PUBACK before the application has stored
 * the message (shared/specs/mqtt.md §9), so a crash loses acknowledged readings. Here an incoming
 * QoS 1 PUBLISH is handed to on_message and its PUBACK is sent only by ef_mqtt_ack(), e.g. after
 * the batch holding it has been committed (like Telegraf's max_undelivered_messages).
 *
 * Model: one handle, driven by one thread that calls ef_mqtt_run() in a loop; every callback runs
 * inside ef_mqtt_run() on that thread. Nothing here is thread-safe. The handle connects (TCP or TLS
 * via OpenSSL), sends CONNECT (clean session off / session expiry, username/password, will),
 * re-sends every subscription after each connect, keeps the connection alive with PINGREQ, and on
 * any failure reconnects with exponential back-off and jitter.
 *
 * Outgoing QoS 1: at most `inflight_max` (bounded by the server's v5 Receive Maximum) PUBLISHes
 * await their PUBACK; ef_mqtt_publish() returns EF_EAGAIN when the window is full or the client is
 * not connected. Unacknowledged messages are kept in memory and re-sent with DUP=1, in order,
 * after a reconnect (whatever Session Present says: the receiver de-duplicates), so the caller
 * hands a message over once and learns of its PUBACK through on_publish_acked(token).
 *
 * Incoming QoS 1: the caller must eventually call ef_mqtt_ack(packet_id) for each message, in
 * any order; the client sends the PUBACKs in the order the PUBLISHes arrived (MQTT 4.6), holding
 * back later acks until earlier ones are given. Unacked ids are forgotten on disconnect (the broker
 * will redeliver them on the resumed session); ef_mqtt_ack() for an id from an older connection
 * is ignored, so the caller need not track connection changes. Incoming QoS 2 is acknowledged
 * with PUBREC/PUBCOMP as the spec requires and delivered on PUBLISH; prefer QoS 1 subscriptions.
 *
 * Errors are EF_E* codes from base/err.h.
 */
#ifndef EF_MQTT_MQTT_H
#define EF_MQTT_MQTT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_mqtt ef_mqtt;

typedef struct ef_mqtt_options {
    const char *host;          /* required */
    uint16_t port;             /* default 1883, or 8883 with TLS */
    const char *client_id;     /* required unless clean_session (then the broker may assign one) */
    int protocol;              /* 4 = MQTT 3.1.1, 5 = MQTT 5.0 (default 4 when 0) */
    int clean_session;         /* 3.1.1 CleanSession / 5.0 Clean Start */
    uint32_t session_expiry_s; /* 5.0 Session Expiry Interval (0xFFFFFFFF = never) */
    uint16_t keepalive_s;      /* default 30 */
    const char *username, *password; /* optional */
    /* Last will (optional: will_topic == NULL means none). */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    int will_qos, will_retain;
    /* TLS: set tls = 1; ca_file (else system store), optional client cert/key. */
    int tls;
    const char *tls_ca_file, *tls_cert_file, *tls_key_file;
    int tls_insecure;         /* skip peer verification (tests only) */
    unsigned inflight_max;    /* outgoing QoS 1 window, default 20 */
    uint16_t receive_max;     /* 5.0 Receive Maximum we announce (incoming window), default 65535 */
    uint32_t max_packet_size; /* largest packet we accept; default 1 MiB; bigger ones close */
    unsigned reconnect_min_ms;   /* back-off start, default 250 */
    unsigned reconnect_max_ms;   /* back-off cap, default 30000 */
    unsigned connect_timeout_ms; /* TCP+TLS+CONNACK deadline, default 10000 */
} ef_mqtt_options;

typedef struct ef_mqtt_message {
    const char *topic; /* NUL-terminated copy, valid only during the callback */
    size_t topic_len;
    const uint8_t *payload; /* valid only during the callback */
    size_t payload_len;
    int qos, retain, dup;
    uint16_t packet_id;  /* 0 for QoS 0; pass to ef_mqtt_ack() for QoS 1 */
    uint32_t generation; /* connection it arrived on; for ef_mqtt_ack_gen() */
} ef_mqtt_message;

typedef struct ef_mqtt_callbacks {
    /* A CONNACK with success arrived; subscriptions have been (re)sent. */
    void (*on_connect)(void *ctx, int session_present);
    /* The connection ended (reason: an EF_E* code, or EF_OK after ef_mqtt_disconnect). */
    void (*on_disconnect)(void *ctx, int reason);
    /* An application message arrived. For QoS 1 call ef_mqtt_ack(m, msg->packet_id) later. */
    void (*on_message)(void *ctx, const ef_mqtt_message *msg);
    /* The PUBACK for the QoS 1 publish with this token arrived (QoS 0: when written). */
    void (*on_publish_acked)(void *ctx, uint64_t token);
    /* SUBACK for a filter; granted_qos < 0 means refused (e.g. 0x80 / 5.0 reason >= 0x80). */
    void (*on_subscribed)(void *ctx, const char *filter, int granted_qos);
} ef_mqtt_callbacks;

/* Creates a client; copies the options' strings. Does not connect yet. NULL on OOM/bad options
 * (host missing, TLS files unreadable) with a log line. */
ef_mqtt *ef_mqtt_new(const ef_mqtt_options *opt, const ef_mqtt_callbacks *cb, void *ctx);
/* Closes the socket without DISCONNECT (the will fires) and frees everything. NULL is fine.
 * Not from inside a callback. */
void ef_mqtt_free(ef_mqtt *m);

/* Parses "mqtt://[user:pass@]host[:port]" or "mqtts://..." (or plain "host[:port]") into opt's
 * host/port/tls/username/password. Strings point into storage owned by the returned buffer
 * *storage, which the caller frees. Returns 0 or EF_EINVAL. */
int ef_mqtt_parse_url(const char *url, ef_mqtt_options *opt, char **storage);

/* Adds a subscription (e.g. "sensor/+", "$share/ingest/sensor/+") sent on every (re)connect. */
int ef_mqtt_subscribe(ef_mqtt *m, const char *filter, int qos);

/* Queues a PUBLISH. QoS 0: sent now if connected, else EF_EAGAIN. QoS 1 (and 2, acked at
 * PUBCOMP): EF_EAGAIN when not
 * connected or the in-flight window is full; otherwise the client owns a copy until the PUBACK,
 * reported through on_publish_acked(token). Returns 0, EF_EAGAIN, EF_ETOOBIG, EF_EINVAL. */
int ef_mqtt_publish(ef_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    int retain, uint64_t token);

/* Acknowledges an incoming QoS 1 message (see the header comment). Returns 0. */
int ef_mqtt_ack(ef_mqtt *m, uint16_t packet_id);
/* Like ef_mqtt_ack(), but ignored unless `generation` (from ef_mqtt_message) is the current
 * connection's: exact even when a broker that lost the session reuses a packet id for a
 * different message on the new connection. Returns 0. */
int ef_mqtt_ack_gen(ef_mqtt *m, uint32_t generation, uint16_t packet_id);

/* Drives the connection for up to timeout_ms: (re)connects when due, reads and dispatches packets,
 * flushes writes, sends PINGREQ. Returns 0 normally; EF_EAGAIN while disconnected and waiting to
 * retry; never blocks longer than timeout_ms (it returns as soon as one round of I/O was done, so
 * call it in a loop). Not from inside a callback. Topic/filter strings must be valid UTF-8
 * (EF_EINVAL otherwise). */
int ef_mqtt_run(ef_mqtt *m, int timeout_ms);

/* Sends DISCONNECT (the will is discarded), flushes (waiting up to 1 s), closes; on_disconnect
 * gets EF_OK. In-flight state is kept; a later ef_mqtt_run() connects again. From inside a
 * callback the close happens when the callback returns to ef_mqtt_run(). */
void ef_mqtt_disconnect(ef_mqtt *m);

int ef_mqtt_is_connected(const ef_mqtt *m);
/* Outgoing QoS 1 messages awaiting PUBACK. */
unsigned ef_mqtt_inflight(const ef_mqtt *m);
/* Incoming QoS 1 messages delivered but not yet acked (on this connection). */
unsigned ef_mqtt_unacked(const ef_mqtt *m);
/* Free slots in the outgoing window (0 when disconnected). */
unsigned ef_mqtt_window_free(const ef_mqtt *m);

#endif
