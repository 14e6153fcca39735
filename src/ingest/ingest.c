/* ingest.c - the ingest loop: batches readings from MQTT and acknowledges them after commit.
 * Contract in ingest.h. */
#include "ingest/ingest.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "http/server.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct batch {
    ef_store_doc *docs;
    size_t ndocs, cap_docs;
    ef_store_dead *dead;
    size_t ndead, cap_dead;
    struct pending_ack {
        uint32_t generation; /* connection the message arrived on */
        uint16_t packet_id;
    } *ids; /* QoS 1 messages to acknowledge after commit */
    size_t nids, cap_ids;
    int64_t started; /* mono ms of the first message, 0 when empty */
} batch;

typedef struct ingest {
    const ef_ingest_options *opt;
    ef_mqtt *mqtt;
    ef_store *store;
    batch b;
    ef_buf text; /* scratch: the stored text of the reading being batched */
    int oom;
    ef_metrics *metrics;
    ef_counter *m_received, *m_committed, *m_duplicates, *m_dead, *m_batches, *m_commit_errors;
    ef_histogram *m_commit_s, *m_latency_s;
    ef_gauge *m_connected;
    uint64_t received, committed, duplicates, dead; /* totals for the periodic log line */
} ingest;

#define GROW(arr, n, cap)                                                                          \
    ((n) < (cap) ? 0                                                                               \
                 : ((cap) = (cap) ? (cap) * 2 : 256,                                               \
                    ((arr) = reallocarray_or_free((arr), (cap), sizeof *(arr))) ? 0 : -1))

static void *reallocarray_or_free(void *p, size_t n, size_t size)
{
    void *q = reallocarray(p, n, size);
    if (!q) free(p);
    return q;
}

static void batch_clear(batch *b)
{
    for (size_t i = 0; i < b->ndocs; i++) {
        free((char *)b->docs[i].index);
        free((char *)b->docs[i].key); /* id points to the same string */
        free((char *)b->docs[i].source);
    }
    for (size_t i = 0; i < b->ndead; i++) {
        free((char *)b->dead[i].topic);
        free((char *)b->dead[i].reason);
        free((void *)b->dead[i].payload);
    }
    b->ndocs = b->ndead = b->nids = 0;
    b->started = 0;
}

static void batch_release(batch *b)
{
    batch_clear(b);
    free(b->docs);
    free(b->dead);
    free(b->ids);
    memset(b, 0, sizeof *b);
}

static int add_dead(ingest *in, const char *topic, const char *reason, const void *p, size_t len)
{
    batch *b = &in->b;
    if (GROW(b->dead, b->ndead, b->cap_dead)) return EF_ENOMEM;
    void *copy = malloc(len ? len : 1);
    char *t = strdup(topic), *r = strdup(reason);
    if (!copy || !t || !r) {
        free(copy);
        free(t);
        free(r);
        return EF_ENOMEM;
    }
    memcpy(copy, p, len);
    b->dead[b->ndead++] = (ef_store_dead){t, r, copy, len, ef_now_ms()};
    EF_DEBUG("dead letter from %s: %s", topic, reason);
    return EF_OK;
}

static int add_reading(ingest *in, const ef_mqtt_message *m)
{
    const ef_ingest_options *o = in->opt;
    json_t *doc = NULL;
    int64_t collected = 0;
    char err[512];
    int rc = ef_ingest_prepare(o->transform, m->topic, m->payload, m->payload_len,
                               o->max_payload, ef_now_ms(), &doc, &collected, err, sizeof err);
    if (rc == EF_OK) {
        char index[256];
        const char *pattern = ef_transform_index_pattern(o->transform);
        if (ef_transform_index_name(pattern, collected, index, sizeof index) != EF_OK) {
            snprintf(err, sizeof err, "cannot name an index from pattern '%s' and time %" PRId64,
                     pattern, collected);
            rc = EF_EINVAL;
        } else {
            batch *b = &in->b;
            if (GROW(b->docs, b->ndocs, b->cap_docs)) {
                json_decref(doc);
                return EF_ENOMEM;
            }
            /* the stored text: reals as "0.95", not jansson's 17 digits */
            ef_buf_clear(&in->text);
            rc = ef_json_dump(doc, &in->text);
            if (rc == EF_EINVAL) {
                /* only a transform nesting a document past the parser's own limit gets here */
                snprintf(err, sizeof err, "the document is nested deeper than %d levels",
                         EF_JSON_MAX_DEPTH);
            } else {
                size_t source_len = in->text.len;
                char *key = ef_ingest_key(doc, m->topic, m->payload, m->payload_len);
                char *source = rc == EF_OK ? malloc(source_len + 1) : NULL;
                char *idx = strdup(index);
                json_decref(doc);
                if (source) memcpy(source, in->text.data, source_len + 1);
                if (!key || !source || !idx) {
                    free(key);
                    free(source);
                    free(idx);
                    return EF_ENOMEM;
                }
                b->docs[b->ndocs++] = (ef_store_doc){idx, key, key, collected, source, source_len};
                return EF_OK;
            }
        }
        json_decref(doc);
    }
    ef_counter_add(in->m_dead, 1);
    return add_dead(in, m->topic, err, m->payload, m->payload_len);
}

static void on_message(void *ctx, const ef_mqtt_message *m)
{
    ingest *in = ctx;
    batch *b = &in->b;
    in->received++;
    ef_counter_add(in->m_received, 1);
    if (!b->started) b->started = ef_mono_ms();
    if (add_reading(in, m) != EF_OK) {
        /* Not acknowledged: the broker redelivers it after the reconnect we force below. */
        EF_ERROR("out of memory while batching a reading from %s", m->topic);
        in->oom = 1;
        return;
    }
    if (m->qos > 0) {
        if (GROW(b->ids, b->nids, b->cap_ids)) {
            in->oom = 1;
            return;
        }
        b->ids[b->nids++] = (struct pending_ack){m->generation, m->packet_id};
    }
}

static void on_connect(void *ctx, int session_present)
{
    ingest *in = ctx;
    ef_gauge_set(in->m_connected, 1);
    EF_INFO("connected to the broker (session present: %d)", session_present);
}

static void on_disconnect(void *ctx, int reason)
{
    ingest *in = ctx;
    ef_gauge_set(in->m_connected, 0);
    /* Acks for messages of the old connection are ignored by ef_mqtt_ack_gen(): the broker
     * redelivers them, and the store's key makes the second copy a counted duplicate. */
    if (reason != EF_OK) EF_WARN("broker connection lost (%s)", ef_strerror(reason));
}

static void on_subscribed(void *ctx, const char *filter, int qos)
{
    (void)ctx;
    if (qos < 0) EF_ERROR("the broker refused the subscription to %s", filter);
    else EF_INFO("subscribed to %s (QoS %d)", filter, qos);
}

/* Commits the open batch, then acknowledges it. Returns 0, or EF_EDB (batch kept). */
static int commit(ingest *in)
{
    batch *b = &in->b;
    if (!b->ndocs && !b->ndead) {
        for (size_t i = 0; i < b->nids; i++)
            ef_mqtt_ack_gen(in->mqtt, b->ids[i].generation, b->ids[i].packet_id);
        b->nids = 0;
        return EF_OK;
    }
    int64_t t0 = ef_mono_us();
    ef_store_batch_result res = {0};
    int rc = ef_store_write_batch(in->store, b->docs, b->ndocs, b->dead, b->ndead, &res);
    int64_t t1 = ef_mono_us();
    if (rc != EF_OK) {
        ef_counter_add(in->m_commit_errors, 1);
        return rc;
    }
    for (size_t i = 0; i < b->nids; i++)
        ef_mqtt_ack_gen(in->mqtt, b->ids[i].generation, b->ids[i].packet_id);
    ef_histogram_observe(in->m_commit_s, (double)(t1 - t0) / 1e6);
    ef_histogram_observe(in->m_latency_s, (double)(ef_mono_ms() - b->started) / 1e3);
    ef_counter_add(in->m_committed, res.inserted);
    ef_counter_add(in->m_duplicates, res.duplicates);
    ef_counter_add(in->m_batches, 1);
    in->committed += res.inserted;
    in->duplicates += res.duplicates;
    in->dead += res.dead;
    EF_DEBUG("committed %zu readings (%zu duplicates, %zu dead letters) in %.2f ms", res.inserted,
             res.duplicates, res.dead, (double)(t1 - t0) / 1000);
    batch_clear(b);
    return EF_OK;
}

static int setup_metrics(ingest *in)
{
    ef_metrics *m = in->metrics;
    in->m_received = ef_metrics_counter(m, "edgeflow_ingest_received_total",
                                        "Readings received from the broker", NULL);
    in->m_committed = ef_metrics_counter(m, "edgeflow_ingest_committed_total",
                                         "Readings committed to the store", NULL);
    in->m_duplicates = ef_metrics_counter(m, "edgeflow_ingest_duplicates_total",
                                          "Redelivered readings already in the store", NULL);
    in->m_dead = ef_metrics_counter(m, "edgeflow_ingest_dead_letters_total",
                                    "Readings refused into the dead-letter table", NULL);
    in->m_batches = ef_metrics_counter(m, "edgeflow_ingest_batches_total", "Batches committed",
                                       NULL);
    in->m_commit_errors = ef_metrics_counter(m, "edgeflow_ingest_commit_errors_total",
                                             "Failed batch commits (retried)", NULL);
    in->m_commit_s = ef_metrics_histogram(m, "edgeflow_ingest_commit_seconds",
                                          "Time to commit one batch", NULL, NULL, 0);
    in->m_latency_s =
        ef_metrics_histogram(m, "edgeflow_ingest_batch_latency_seconds",
                             "From a batch's first reading to its acknowledgement", NULL, NULL, 0);
    in->m_connected = ef_metrics_gauge(m, "edgeflow_ingest_broker_connected",
                                       "1 while connected to the broker", NULL);
    return in->m_received && in->m_committed && in->m_duplicates && in->m_dead &&
                   in->m_batches && in->m_commit_errors && in->m_commit_s && in->m_latency_s &&
                   in->m_connected
               ? EF_OK
               : EF_ENOMEM;
}

static void health(ef_http_req *r, void *ctx)
{
    ingest *in = ctx;
    int up = ef_mqtt_is_connected(in->mqtt);
    ef_http_reply_json(r, up ? 200 : 503,
                       json_pack("{s:s, s:b}", "status", up ? "ok" : "disconnected", "broker",
                                 up));
}

int ef_ingest_run(const ef_ingest_options *o)
{
    ingest in = {.opt = o};
    ef_http_server *http = NULL;
    char *errmsg = NULL;
    int rc;
    in.metrics = ef_metrics_new();
    if (!in.metrics || setup_metrics(&in) != EF_OK) {
        rc = EF_ENOMEM;
        goto out;
    }
    ef_store_options so = {.uri = o->store_uri, .durable = o->durable};
    rc = ef_store_open(&so, &in.store, &errmsg);
    if (rc) {
        EF_ERROR("cannot open the store %s: %s", o->store_uri, errmsg ? errmsg : ef_strerror(rc));
        goto out;
    }
    ef_mqtt_callbacks cb = {.on_connect = on_connect,
                            .on_disconnect = on_disconnect,
                            .on_message = on_message,
                            .on_subscribed = on_subscribed};
    in.mqtt = ef_mqtt_new(&o->mqtt, &cb, &in);
    if (!in.mqtt) {
        rc = EF_EINVAL;
        goto out;
    }
    for (size_t i = 0; i < o->topics->n; i++) {
        char filter[1024];
        if (o->share_group)
            snprintf(filter, sizeof filter, "$share/%s/%s", o->share_group, o->topics->v[i]);
        else
            snprintf(filter, sizeof filter, "%s", o->topics->v[i]);
        rc = ef_mqtt_subscribe(in.mqtt, filter, 1);
        if (rc) goto out;
    }
    if (o->metrics_listen) {
        ef_http_config hc = {.bind = o->metrics_listen,
                             .port = o->metrics_port,
                             .threads = 1,
                             .metrics = in.metrics,
                             .name = "ingest"};
        http = ef_http_server_new(&hc);
        if (!http || ef_http_route(http, "GET", "/metrics", ef_http_metrics_handler, in.metrics) ||
            ef_http_route(http, "GET", "/health", health, &in) || ef_http_server_start(http)) {
            EF_ERROR("cannot serve metrics on %s:%u", o->metrics_listen, o->metrics_port);
            rc = EF_EIO;
            goto out;
        }
        EF_INFO("metrics on http://%s:%u/metrics", o->metrics_listen, ef_http_server_port(http));
    }
    EF_INFO("ingest: %s:%u -> %s (batches of %zu or %" PRId64 " ms)", o->mqtt.host, o->mqtt.port,
            o->store_uri, o->batch_size, o->batch_time_ms);

    int64_t retry_at = 0, backoff = 100, next_log = ef_mono_ms() + 10000;
    uint64_t last_received = 0;
    while (!ef_sig_stop_requested()) {
        int64_t now = ef_mono_ms();
        int wait = 50;
        if (in.b.started) {
            int64_t due = in.b.started + o->batch_time_ms - now;
            wait = due < 0 ? 0 : due < 50 ? (int)due : 50;
        }
        ef_mqtt_run(in.mqtt, wait);
        if (in.oom) {
            EF_ERROR("dropping the connection after an allocation failure; the broker redelivers");
            ef_mqtt_free(in.mqtt);
            in.mqtt = ef_mqtt_new(&o->mqtt, &cb, &in);
            in.oom = 0;
            batch_clear(&in.b);
            if (!in.mqtt) {
                rc = EF_ENOMEM;
                goto out;
            }
            continue;
        }
        now = ef_mono_ms();
        size_t n = in.b.ndocs + in.b.ndead;
        int due = n >= o->batch_size || (in.b.started && now >= in.b.started + o->batch_time_ms);
        if (due && now >= retry_at) {
            if (commit(&in) == EF_OK) {
                backoff = 100;
                retry_at = 0;
            } else {
                EF_ERROR("commit of %zu readings failed; nothing acknowledged, retrying in %" PRId64
                         " ms",
                         n, backoff);
                retry_at = now + backoff;
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            }
        }
        if (now >= next_log) {
            EF_INFO("received %" PRIu64 " (%.0f/s), committed %" PRIu64 ", duplicates %" PRIu64
                    ", dead letters %" PRIu64,
                    in.received, (double)(in.received - last_received) / 10.0, in.committed,
                    in.duplicates, in.dead);
            last_received = in.received;
            next_log = now + 10000;
        }
    }

    /* Orderly stop: commit the open batch, send its PUBACKs, disconnect. */
    for (int attempt = 0; attempt < 5 && (in.b.ndocs || in.b.ndead || in.b.nids); attempt++) {
        if (commit(&in) == EF_OK) break;
        ef_sleep_ms(200);
    }
    if (in.b.ndocs || in.b.ndead)
        EF_ERROR("could not commit the last %zu readings; the broker will redeliver them",
                 in.b.ndocs + in.b.ndead);
    ef_mqtt_run(in.mqtt, 0);
    ef_mqtt_disconnect(in.mqtt);
    EF_INFO("ingest stopped: received %" PRIu64 ", committed %" PRIu64 ", duplicates %" PRIu64
            ", dead letters %" PRIu64,
            in.received, in.committed, in.duplicates, in.dead);
    rc = EF_OK;
out:
    if (http) ef_http_server_free(http);
    ef_mqtt_free(in.mqtt);
    batch_release(&in.b);
    ef_buf_release(&in.text);
    ef_store_free(in.store);
    ef_metrics_free(in.metrics);
    free(errmsg);
    return rc;
}
