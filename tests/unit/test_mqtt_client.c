/* Unit tests for the MQTT client (src/mqtt/mqtt.c) against a real Mosquitto started here.
 *
 * Each test starts its own broker (`mosquitto -c <conf>` on a free port, config in a mkdtemp dir)
 * and runs for MQTT 3.1.1 and 5.0: QoS 0/1 publish/subscribe, deferred and out-of-order acks
 * with a persistent session, publisher retransmission across a broker restart, shared
 * subscriptions, the will, username/password, TLS with the right and the wrong CA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "mqtt/mqtt.h"

/* ---- broker ----------------------------------------------------------------------------- */

typedef struct broker {
    char dir[64];
    char conf[96];
    uint16_t port;
    pid_t pid;
} broker;

/* Brokers of the running test, so a failed assertion does not leave them behind (teardown). */
static broker *live[4];

static void track(broker *b, int on)
{
    for (int i = 0; i < 4; i++) {
        if (on && !live[i]) {
            live[i] = b;
            return;
        }
        if (!on && live[i] == b) live[i] = NULL;
    }
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void broker_spawn(broker *b)
{
    char log[128];
    snprintf(log, sizeof(log), "%s/broker.log", b->dir);
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    track(b, 1);
    int64_t end = ef_mono_ms() + 5000;
    while (!port_open(b->port) && ef_mono_ms() < end)
        ef_sleep_ms(20);
    assert_true(port_open(b->port));
}

/* Writes a broker config; `extra` is appended to it (it may use %s for the temp dir). */
static void broker_prepare(broker *b, const char *extra)
{
    memset(b, 0, sizeof(*b));
    strcpy(b->dir, "/tmp/ef-mqtt-test-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    snprintf(b->conf, sizeof(b->conf), "%s/mosquitto.conf", b->dir);
    b->port = free_port();
    FILE *f = fopen(b->conf, "w");
    assert_non_null(f);
    fprintf(f, "listener %u 127.0.0.1\nuser root\npersistence false\n", (unsigned)b->port);
    if (extra)
        fprintf(f, extra, b->dir, b->dir, b->dir, b->dir);
    else
        fprintf(f, "allow_anonymous true\n");
    fclose(f);
}

static void broker_start(broker *b, const char *extra)
{
    broker_prepare(b, extra);
    broker_spawn(b);
}

static void broker_kill(broker *b, int sig)
{
    if (b->pid > 0) {
        kill(b->pid, sig);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
    track(b, 0);
}

static void broker_stop(broker *b)
{
    broker_kill(b, SIGTERM);
    ef_fs_rm_rf(b->dir);
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        if (!live[i]) continue;
        broker *b = live[i];
        kill(b->pid, SIGCONT);
        broker_stop(b);
    }
    return 0;
}

/* ---- client harness --------------------------------------------------------------------- */

typedef struct rx {
    char topic[64], payload[64];
    uint16_t pid;
    uint32_t gen;
    int qos, dup;
} rx;

typedef struct tc {
    ef_mqtt *m;
    int connects, disconnects, subscribed, granted, autoack;
    int nmsgs, nacked;
    rx msgs[512];
    uint64_t acked[512];
} tc;

static void cb_connect(void *ctx, int sp)
{
    (void)sp;
    ((tc *)ctx)->connects++;
}

static void cb_disconnect(void *ctx, int reason)
{
    (void)reason;
    ((tc *)ctx)->disconnects++;
}

static void cb_message(void *ctx, const ef_mqtt_message *msg)
{
    tc *t = ctx;
    if (t->nmsgs < 512) {
        rx *r = &t->msgs[t->nmsgs++];
        snprintf(r->topic, sizeof(r->topic), "%s", msg->topic);
        snprintf(r->payload, sizeof(r->payload), "%.*s", (int)msg->payload_len,
                 (const char *)msg->payload);
        r->pid = msg->packet_id;
        r->gen = msg->generation;
        r->qos = msg->qos;
        r->dup = msg->dup;
    }
    if (t->autoack && msg->qos == 1) ef_mqtt_ack(t->m, msg->packet_id);
}

static void cb_acked(void *ctx, uint64_t token)
{
    tc *t = ctx;
    if (t->nacked < 512) t->acked[t->nacked++] = token;
}

static void cb_subscribed(void *ctx, const char *filter, int qos)
{
    (void)filter;
    ((tc *)ctx)->subscribed++;
    ((tc *)ctx)->granted = qos;
}

static const ef_mqtt_callbacks CBS = {cb_connect, cb_disconnect, cb_message, cb_acked,
                                      cb_subscribed};

static ef_mqtt_options opts(int proto, const char *id, uint16_t port)
{
    ef_mqtt_options o;
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.client_id = id;
    o.protocol = proto;
    o.clean_session = 1;
    o.reconnect_min_ms = 50;
    o.reconnect_max_ms = 400;
    o.connect_timeout_ms = 2000;
    return o;
}

static void tc_start(tc *t, const ef_mqtt_options *o)
{
    memset(t, 0, sizeof(*t));
    t->m = ef_mqtt_new(o, &CBS, t);
    assert_non_null(t->m);
}

/* Runs the given clients until cond holds or ms pass. */
#define PUMP_UNTIL(cond, ms, ...)                                                                  \
    do {                                                                                           \
        tc *pu_cs_[] = {__VA_ARGS__};                                                              \
        int64_t pu_end_ = ef_mono_ms() + (ms);                                                     \
        while (!(cond) && ef_mono_ms() < pu_end_)                                                  \
            for (size_t pu_i_ = 0; pu_i_ < sizeof(pu_cs_) / sizeof(pu_cs_[0]); pu_i_++)            \
                ef_mqtt_run(pu_cs_[pu_i_]->m, 5);                                                  \
    } while (0)

static int count_payload(const tc *t, const char *payload)
{
    int n = 0;
    for (int i = 0; i < t->nmsgs; i++)
        n += strcmp(t->msgs[i].payload, payload) == 0;
    return n;
}

/* Distinct payloads "<prefix><0..n-1>" seen. */
static int distinct(const tc *t, const char *prefix, int n)
{
    int c = 0;
    char want[64];
    for (int i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "%s%d", prefix, i);
        c += count_payload(t, want) > 0;
    }
    return c;
}

static void publish_n(tc *pub, tc **others, int nothers, const char *topic, const char *prefix,
                      int from, int to, int qos)
{
    char payload[64];
    for (int i = from; i < to; i++) {
        snprintf(payload, sizeof(payload), "%s%d", prefix, i);
        int64_t end = ef_mono_ms() + 5000;
        int rc;
        while ((rc = ef_mqtt_publish(pub->m, topic, payload, strlen(payload), qos, 0,
                                     (uint64_t)i)) == EF_EAGAIN &&
               ef_mono_ms() < end) {
            ef_mqtt_run(pub->m, 5);
            for (int k = 0; k < nothers; k++)
                ef_mqtt_run(others[k]->m, 1);
        }
        assert_int_equal(rc, EF_OK);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_pubsub(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_start(&b, NULL);
        tc sub, pub;
        ef_mqtt_options o = opts(proto, "ps-sub", b.port);
        tc_start(&sub, &o);
        sub.autoack = 1;
        assert_int_equal(ef_mqtt_subscribe(sub.m, "t/#", 1), EF_OK);
        o = opts(proto, "ps-pub", b.port);
        tc_start(&pub, &o);
        PUMP_UNTIL(sub.subscribed && pub.connects, 5000, &sub, &pub);
        assert_int_equal(sub.granted, 1);
        assert_true(ef_mqtt_is_connected(pub.m));
        assert_int_equal(ef_mqtt_window_free(pub.m), 20);
        tc *others[] = {&sub};
        publish_n(&pub, others, 1, "t/q0", "zero-", 0, 10, 0);
        publish_n(&pub, others, 1, "t/q1", "one-", 0, 100, 1);
        PUMP_UNTIL(sub.nmsgs >= 110 && pub.nacked >= 110, 5000, &sub, &pub);
        assert_int_equal(distinct(&sub, "zero-", 10), 10);
        assert_int_equal(distinct(&sub, "one-", 100), 100);
        assert_int_equal(pub.nacked, 110);
        assert_int_equal(ef_mqtt_inflight(pub.m), 0);
        assert_int_equal(ef_mqtt_unacked(sub.m), 0);
        for (int i = 0; i < sub.nmsgs; i++) {
            int q1 = strncmp(sub.msgs[i].payload, "one-", 4) == 0;
            assert_int_equal(sub.msgs[i].qos, q1);
            assert_string_equal(sub.msgs[i].topic, q1 ? "t/q1" : "t/q0");
            assert_true(q1 ? sub.msgs[i].pid != 0 : sub.msgs[i].pid == 0);
        }
        /* a clean DISCONNECT reports EF_OK and is not a failure */
        ef_mqtt_disconnect(pub.m);
        assert_false(ef_mqtt_is_connected(pub.m));
        assert_int_equal(pub.disconnects, 1);
        assert_int_equal(ef_mqtt_publish(pub.m, "t/x", "x", 1, 1, 0, 1), EF_EAGAIN);
        ef_mqtt_free(sub.m);
        ef_mqtt_free(pub.m);
        broker_stop(&b);
    }
}

static void test_deferred_ack(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_start(&b, NULL);
        tc sub, pub;
        ef_mqtt_options so = opts(proto, "da-sub", b.port);
        so.clean_session = 0;
        so.session_expiry_s = 3600;
        tc_start(&sub, &so);
        ef_mqtt_subscribe(sub.m, "d/t", 1);
        ef_mqtt_options po = opts(proto, "da-pub", b.port);
        tc_start(&pub, &po);
        PUMP_UNTIL(sub.subscribed && pub.connects, 5000, &sub, &pub);
        tc *others[] = {&sub};
        publish_n(&pub, others, 1, "d/t", "m", 0, 10, 1);
        PUMP_UNTIL(sub.nmsgs >= 10 && pub.nacked >= 10, 5000, &sub, &pub);
        assert_int_equal(sub.nmsgs, 10);
        assert_int_equal(ef_mqtt_unacked(sub.m), 10);
        /* ack m2, m1, m5 (held back: m3, m4 unacked), then m0 releases m0..m2 */
        ef_mqtt_ack(sub.m, sub.msgs[2].pid);
        ef_mqtt_ack(sub.m, sub.msgs[1].pid);
        ef_mqtt_ack(sub.m, sub.msgs[5].pid);
        ef_mqtt_ack(sub.m, sub.msgs[1].pid);                          /* twice: ignored */
        ef_mqtt_ack_gen(sub.m, sub.msgs[3].gen + 1, sub.msgs[3].pid); /* wrong generation */
        assert_int_equal(ef_mqtt_unacked(sub.m), 7);
        ef_mqtt_ack(sub.m, sub.msgs[0].pid);
        assert_int_equal(ef_mqtt_unacked(sub.m), 6);
        for (int i = 0; i < 10; i++)
            ef_mqtt_run(sub.m, 5);
        /* crash-like close: no DISCONNECT */
        ef_mqtt_free(sub.m);
        tc_start(&sub, &so);
        ef_mqtt_subscribe(sub.m, "d/t", 1);
        PUMP_UNTIL(sub.nmsgs >= 7, 5000, &sub, &pub);
        PUMP_UNTIL(0, 300, &sub, &pub); /* anything extra would arrive now */
        assert_int_equal(sub.nmsgs, 7);
        for (int i = 0; i < 3; i++) {
            char want[8];
            snprintf(want, sizeof(want), "m%d", i);
            assert_int_equal(count_payload(&sub, want), 0);
        }
        assert_int_equal(distinct(&sub, "m", 10), 7);
        for (int i = 0; i < sub.nmsgs; i++)
            assert_int_equal(sub.msgs[i].dup, 1);
        /* an ack from the old connection's numbering does not leak into this one unless ids
         * match; ack everything here in reverse order */
        for (int i = sub.nmsgs - 1; i >= 0; i--)
            ef_mqtt_ack(sub.m, sub.msgs[i].pid);
        assert_int_equal(ef_mqtt_unacked(sub.m), 0);
        for (int i = 0; i < 10; i++)
            ef_mqtt_run(sub.m, 5);
        ef_mqtt_free(sub.m);
        tc_start(&sub, &so);
        PUMP_UNTIL(sub.connects, 5000, &sub);
        PUMP_UNTIL(0, 300, &sub);
        assert_int_equal(sub.nmsgs, 0);
        ef_mqtt_free(sub.m);
        ef_mqtt_free(pub.m);
        broker_stop(&b);
    }
}

static void test_retransmit(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_start(&b, NULL);
        tc sub, pub;
        ef_mqtt_options o = opts(proto, "rt-sub", b.port);
        tc_start(&sub, &o);
        sub.autoack = 1;
        ef_mqtt_subscribe(sub.m, "r/t", 1);
        o = opts(proto, "rt-pub", b.port);
        o.inflight_max = 5;
        o.keepalive_s = 2;
        tc_start(&pub, &o);
        PUMP_UNTIL(sub.subscribed && pub.connects, 5000, &sub, &pub);
        tc *others[] = {&sub};
        publish_n(&pub, others, 1, "r/t", "r", 0, 10, 1);
        PUMP_UNTIL(pub.nacked >= 10, 5000, &sub, &pub);
        assert_int_equal(pub.nacked, 10);
        /* freeze the broker: the next 5 fill the window, the 6th is refused */
        kill(b.pid, SIGSTOP);
        char p[16];
        for (int i = 10; i < 15; i++) {
            snprintf(p, sizeof(p), "r%d", i);
            assert_int_equal(ef_mqtt_publish(pub.m, "r/t", p, strlen(p), 1, 0, (uint64_t)i), 0);
        }
        assert_int_equal(ef_mqtt_publish(pub.m, "r/t", "r15", 3, 1, 0, 15), EF_EAGAIN);
        assert_int_equal(ef_mqtt_inflight(pub.m), 5);
        assert_int_equal(ef_mqtt_window_free(pub.m), 0);
        broker_kill(&b, SIGKILL);
        PUMP_UNTIL(!ef_mqtt_is_connected(pub.m) && !ef_mqtt_is_connected(sub.m), 5000, &sub, &pub);
        assert_false(ef_mqtt_is_connected(pub.m));
        assert_int_equal(ef_mqtt_publish(pub.m, "r/t", "r15", 3, 1, 0, 15), EF_EAGAIN);
        assert_int_equal(ef_mqtt_inflight(pub.m), 5);
        PUMP_UNTIL(0, 200, &sub, &pub); /* a few failed reconnects with back-off */
        broker_spawn(&b);
        /* the subscriber comes back first so nothing is published before it subscribes */
        int subs = sub.subscribed;
        PUMP_UNTIL(sub.subscribed > subs, 5000, &sub);
        PUMP_UNTIL(pub.nacked >= 15, 5000, &sub, &pub);
        assert_int_equal(pub.nacked, 15);
        publish_n(&pub, others, 1, "r/t", "r", 15, 20, 1);
        PUMP_UNTIL(pub.nacked >= 20 && distinct(&sub, "r", 20) == 20, 5000, &sub, &pub);
        assert_int_equal(distinct(&sub, "r", 20), 20);
        assert_int_equal(pub.connects, 2);
        assert_int_equal(pub.disconnects, 1);
        /* every token acked exactly once */
        for (int i = 0; i < 20; i++) {
            int n = 0;
            for (int k = 0; k < pub.nacked; k++)
                n += pub.acked[k] == (uint64_t)i;
            assert_int_equal(n, 1);
        }
        ef_mqtt_free(sub.m);
        ef_mqtt_free(pub.m);
        broker_stop(&b);
    }
}

static void test_shared_and_will(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_start(&b, NULL);
        tc s1, s2, pub, watch, w;
        ef_mqtt_options o = opts(proto, "sh-1", b.port);
        tc_start(&s1, &o);
        o.client_id = "sh-2";
        tc_start(&s2, &o);
        o.client_id = "sh-watch";
        tc_start(&watch, &o);
        o.client_id = "sh-pub";
        tc_start(&pub, &o);
        s1.autoack = s2.autoack = watch.autoack = 1;
        ef_mqtt_subscribe(s1.m, "$share/g/s/+", 1);
        ef_mqtt_subscribe(s2.m, "$share/g/s/+", 1);
        ef_mqtt_subscribe(watch.m, "will/#", 1);
        PUMP_UNTIL(s1.subscribed && s2.subscribed && watch.subscribed && pub.connects, 5000, &s1,
                   &s2, &watch, &pub);
        tc *others[] = {&s1, &s2};
        publish_n(&pub, others, 2, "s/x", "s", 0, 20, 1);
        PUMP_UNTIL(s1.nmsgs + s2.nmsgs >= 20, 5000, &s1, &s2, &pub);
        PUMP_UNTIL(0, 100, &s1, &s2, &pub);
        assert_int_equal(s1.nmsgs + s2.nmsgs, 20);
        assert_true(s1.nmsgs >= 5 && s2.nmsgs >= 5);

        /* will: a clean DISCONNECT discards it, a dropped connection publishes it */
        o.client_id = "will-1";
        o.will_topic = "will/w";
        o.will_payload = "gone";
        o.will_len = 4;
        o.will_qos = 1;
        tc_start(&w, &o);
        PUMP_UNTIL(w.connects, 5000, &w, &watch);
        ef_mqtt_disconnect(w.m);
        PUMP_UNTIL(0, 200, &watch);
        assert_int_equal(watch.nmsgs, 0);
        ef_mqtt_free(w.m);
        tc_start(&w, &o);
        PUMP_UNTIL(w.connects, 5000, &w, &watch);
        ef_mqtt_free(w.m);
        PUMP_UNTIL(watch.nmsgs >= 1, 5000, &watch);
        assert_int_equal(watch.nmsgs, 1);
        assert_string_equal(watch.msgs[0].topic, "will/w");
        assert_string_equal(watch.msgs[0].payload, "gone");
        ef_mqtt_free(s1.m);
        ef_mqtt_free(s2.m);
        ef_mqtt_free(watch.m);
        ef_mqtt_free(pub.m);
        broker_stop(&b);
    }
}

/* Runs shell commands; fails the test when one fails. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fail_msg("command failed (%d): %s", rc, cmd);
}

/* Log lines of the client go to dir/client.log while `on`. */
static void capture_log(const char *dir, int on)
{
    static int fd = -1;
    if (on) {
        char path[128];
        snprintf(path, sizeof(path), "%s/client.log", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        ef_log_set_fd(fd);
    } else {
        ef_log_set_fd(2);
        if (fd >= 0) close(fd);
        fd = -1;
    }
}

static int log_has(const char *dir, const char *text)
{
    char path[128];
    ef_buf b;
    ef_buf_init(&b);
    snprintf(path, sizeof(path), "%s/client.log", dir);
    int found = ef_fs_read(path, 1 << 20, &b) == EF_OK && b.data && strstr(b.data, text);
    ef_buf_release(&b);
    return found;
}

static void test_auth(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_prepare(&b, "allow_anonymous false\npassword_file %s/passwd\n");
        sh("mosquitto_passwd -b -c %s/passwd alice 's3cret' >/dev/null 2>&1", b.dir);
        broker_spawn(&b);
        capture_log(b.dir, 1);
        tc good, bad;
        ef_mqtt_options o = opts(proto, "auth-good", b.port);
        o.username = "alice";
        o.password = "s3cret";
        tc_start(&good, &o);
        o.client_id = "auth-bad";
        o.password = "wrong";
        tc_start(&bad, &o);
        PUMP_UNTIL(good.connects, 5000, &good, &bad);
        PUMP_UNTIL(0, 500, &good, &bad);
        capture_log(b.dir, 0);
        assert_int_equal(good.connects, 1);
        assert_int_equal(bad.connects, 0);
        assert_false(ef_mqtt_is_connected(bad.m));
        assert_true(log_has(b.dir, "not authorised") ||
                    log_has(b.dir, "bad user name or password"));
        ef_mqtt_free(good.m);
        ef_mqtt_free(bad.m);
        broker_stop(&b);
    }
}

static void test_tls(void **state)
{
    (void)state;
    broker b;
    broker_prepare(&b, "allow_anonymous true\n");
    /* CA + server certificate for 127.0.0.1, and an unrelated CA */
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=ef-test-ca >/dev/null 2>&1 && "
       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
       "-out server.csr -subj /CN=localhost >/dev/null 2>&1 && "
       "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext && "
       "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
       "-out server.pem -days 2 -extfile ext >/dev/null 2>&1 && "
       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout other.key -out other.pem -days 2 -subj /CN=other-ca >/dev/null 2>&1",
       b.dir);
    uint16_t tport = free_port();
    FILE *f = fopen(b.conf, "a");
    assert_non_null(f);
    fprintf(
        f,
        "listener %u 127.0.0.1\ncafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n",
        (unsigned)tport, b.dir, b.dir, b.dir);
    fclose(f);
    broker_spawn(&b);
    char ca[128], other[128];
    snprintf(ca, sizeof(ca), "%s/ca.pem", b.dir);
    snprintf(other, sizeof(other), "%s/other.pem", b.dir);
    for (int proto = 4; proto <= 5; proto++) {
        capture_log(b.dir, 1);
        tc sub, pub, bad;
        ef_mqtt_options o = opts(proto, "tls-sub", tport);
        o.tls = 1;
        o.tls_ca_file = ca;
        tc_start(&sub, &o);
        sub.autoack = 1;
        ef_mqtt_subscribe(sub.m, "tls/t", 1);
        o.client_id = "tls-pub";
        tc_start(&pub, &o);
        o.client_id = "tls-bad";
        o.tls_ca_file = other;
        tc_start(&bad, &o);
        PUMP_UNTIL(sub.subscribed && pub.connects, 5000, &sub, &pub, &bad);
        tc *others[] = {&sub, &bad};
        publish_n(&pub, others, 2, "tls/t", "x", 0, 50, 1);
        PUMP_UNTIL(distinct(&sub, "x", 50) == 50 && pub.nacked >= 50, 5000, &sub, &pub, &bad);
        PUMP_UNTIL(0, 300, &bad);
        capture_log(b.dir, 0);
        assert_int_equal(distinct(&sub, "x", 50), 50);
        assert_int_equal(bad.connects, 0);
        assert_true(log_has(b.dir, "TLS verification failed"));
        ef_mqtt_free(sub.m);
        ef_mqtt_free(pub.m);
        ef_mqtt_free(bad.m);
    }
    broker_stop(&b);
}

/* PINGREQ keeps an idle connection up; a broker that stops answering is detected within about
 * two keepalive intervals (reported through on_disconnect, then reconnected). */
static void test_keepalive(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_start(&b, NULL);
        tc c;
        ef_mqtt_options o = opts(proto, "ka", b.port);
        o.keepalive_s = 1;
        tc_start(&c, &o);
        PUMP_UNTIL(c.connects, 5000, &c);
        PUMP_UNTIL(c.disconnects, 2500, &c); /* idle for 2.5 keepalive intervals */
        assert_int_equal(c.disconnects, 0);
        assert_true(ef_mqtt_is_connected(c.m));
        kill(b.pid, SIGSTOP);
        int64_t t0 = ef_mono_ms();
        PUMP_UNTIL(c.disconnects, 4000, &c);
        assert_int_equal(c.disconnects, 1);
        assert_true(ef_mono_ms() - t0 <= 2600);
        kill(b.pid, SIGCONT);
        PUMP_UNTIL(c.connects == 2, 5000, &c);
        assert_int_equal(c.connects, 2);
        ef_mqtt_free(c.m);
        broker_stop(&b);
    }
}

/* Packets over max_packet_size: 5.0 announces the limit, so the broker drops them; 3.1.1 cannot,
 * so the client closes the connection with a log line. Smaller messages still flow. */
static void test_max_packet_size(void **state)
{
    (void)state;
    for (int proto = 4; proto <= 5; proto++) {
        broker b;
        broker_start(&b, NULL);
        capture_log(b.dir, 1);
        tc sub, pub;
        ef_mqtt_options o = opts(proto, "mps-sub", b.port);
        o.max_packet_size = 200;
        tc_start(&sub, &o);
        ef_mqtt_subscribe(sub.m, "big/#", 0);
        o = opts(proto, "mps-pub", b.port);
        tc_start(&pub, &o);
        PUMP_UNTIL(sub.subscribed && pub.connects, 5000, &sub, &pub);
        char big[1000];
        memset(big, 'b', sizeof(big));
        assert_int_equal(ef_mqtt_publish(pub.m, "big/1", big, sizeof(big), 0, 0, 1), EF_OK);
        assert_int_equal(ef_mqtt_publish(pub.m, "big/2", "small", 5, 0, 0, 2), EF_OK);
        PUMP_UNTIL(sub.nmsgs >= 1 || sub.disconnects, 3000, &sub, &pub);
        capture_log(b.dir, 0);
        for (int i = 0; i < sub.nmsgs; i++)
            assert_string_equal(sub.msgs[i].payload, "small");
        if (proto == 5) {
            assert_int_equal(sub.nmsgs, 1);
            assert_int_equal(sub.disconnects, 0);
        } else {
            assert_int_equal(sub.disconnects, 1);
            assert_true(log_has(b.dir, "over max_packet_size"));
        }
        ef_mqtt_free(sub.m);
        ef_mqtt_free(pub.m);
        broker_stop(&b);
    }
}

static void test_bad_options(void **state)
{
    (void)state;
    ef_mqtt_options o = opts(4, NULL, 1883);
    o.clean_session = 0;
    assert_null(ef_mqtt_new(&o, &CBS, NULL)); /* persistent session without a client id */
    o = opts(4, "x", 1883);
    o.host = NULL;
    assert_null(ef_mqtt_new(&o, &CBS, NULL));
    o = opts(4, "x", 1883);
    o.tls = 1;
    o.tls_ca_file = "/nonexistent/ca.pem";
    assert_null(ef_mqtt_new(&o, &CBS, NULL));
    /* nothing listening: run reports EF_EAGAIN and never blocks past its timeout */
    o = opts(5, "x", free_port());
    ef_mqtt *m = ef_mqtt_new(&o, &CBS, NULL);
    assert_non_null(m);
    int64_t t0 = ef_mono_ms();
    assert_int_equal(ef_mqtt_run(m, 100), EF_EAGAIN);
    assert_true(ef_mono_ms() - t0 < 400);
    assert_int_equal(ef_mqtt_publish(m, "a", "b", 1, 0, 0, 0), EF_EAGAIN);
    assert_int_equal(ef_mqtt_publish(m, "a/+", "b", 1, 0, 0, 0), EF_EINVAL);
    assert_int_equal(ef_mqtt_subscribe(m, "", 1), EF_EINVAL);
    ef_mqtt_free(m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ef_log_set_level(EF_LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_options, teardown),
        cmocka_unit_test_teardown(test_pubsub, teardown),
        cmocka_unit_test_teardown(test_deferred_ack, teardown),
        cmocka_unit_test_teardown(test_retransmit, teardown),
        cmocka_unit_test_teardown(test_shared_and_will, teardown),
        cmocka_unit_test_teardown(test_auth, teardown),
        cmocka_unit_test_teardown(test_tls, teardown),
        cmocka_unit_test_teardown(test_keepalive, teardown),
        cmocka_unit_test_teardown(test_max_packet_size, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
