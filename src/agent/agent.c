/* agent.c - the sensor agent's loop: sample -> spool -> MQTT publish -> PUBACK -> spool ack. */
#include "agent/agent.h"
#include "agent/sensors.h"
#include "agent/spool.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "json/json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct agent {
    const ef_agent_options *opt;
    ef_spool *spool;
    ef_mqtt *mqtt;
    char topic[512];
    uint64_t next_to_send; /* seq of the next spooled reading to hand to the MQTT client */
    uint64_t acked_total;
    int connected_once;
} agent;

static void on_connect(void *ctx, int session_present)
{
    agent *a = ctx;
    EF_INFO("connected to the broker (session present: %d); %zu readings spooled", session_present,
            ef_spool_pending(a->spool));
    a->connected_once = 1;
}

static void on_disconnect(void *ctx, int reason)
{
    agent *a = ctx;
    if (reason != EF_OK)
        EF_WARN("broker connection lost (%s): spooling readings to disk", ef_strerror(reason));
    (void)a;
}

static void on_acked(void *ctx, uint64_t seq)
{
    agent *a = ctx;
    ef_spool_ack(a->spool, seq);
    a->acked_total++;
}

/* Builds the reading for seq and appends it to the spool. */
static int sample(agent *a, ef_sensors *sensors)
{
    int64_t now = ef_now_ms();
    uint64_t seq = ef_spool_next_seq(a->spool);
    json_t *obj = json_object();
    if (!obj) return EF_ENOMEM;
    json_object_set_new(obj, "device", json_string(a->opt->device));
    ef_sensors_read(sensors, obj, now);
    json_object_set_new(obj, "seq", json_integer((json_int_t)seq));
    json_object_set_new(obj, "ts", json_integer(now));
    size_t len = 0;
    char *text = ef_json_dumps(obj, &len); /* reals as "0.95", not 17 digits */
    json_decref(obj);
    if (!text) return EF_ENOMEM;
    int rc = ef_spool_append(a->spool, seq, text, len);
    EF_DEBUG("sampled seq %" PRIu64 ": %s", seq, text);
    free(text);
    return rc;
}

/* Hands spooled readings to the MQTT client while its window has room. */
static void publish_pending(agent *a)
{
    size_t n = ef_spool_pending(a->spool);
    if (!n) return;
    uint64_t first, seq;
    const void *p;
    size_t len;
    ef_spool_get(a->spool, 0, &first, &p, &len);
    if (a->next_to_send < first) a->next_to_send = first; /* older ones were dropped or acked */
    while (a->next_to_send - first < n) {
        ef_spool_get(a->spool, (size_t)(a->next_to_send - first), &seq, &p, &len);
        int rc = ef_mqtt_publish(a->mqtt, a->topic, p, len, 1, 0, seq);
        if (rc == EF_EAGAIN) return;
        if (rc != EF_OK) {
            EF_ERROR("cannot publish seq %" PRIu64 " (%s): left in the spool", seq,
                     ef_strerror(rc));
            return;
        }
        a->next_to_send++;
    }
}

int ef_agent_run(const ef_agent_options *opt)
{
    agent a = {.opt = opt};
    ef_sensors *sensors = NULL;
    int rc = EF_OK;
    if (!opt->device || !*opt->device || strpbrk(opt->device, "/+#")) {
        EF_ERROR("invalid device name '%s': give --device NAME without '/', '+' or '#'",
                 opt->device ? opt->device : "");
        return EF_EINVAL;
    }
    snprintf(a.topic, sizeof a.topic, "%s/%s", opt->topic_prefix, opt->device);
    ef_spool_options so = {.max_records = opt->spool_max, .durable = opt->spool_durable};
    rc = ef_spool_open(opt->spool_dir, &so, &a.spool);
    if (rc) {
        EF_ERROR("cannot open the spool in %s (%s)", opt->spool_dir, ef_strerror(rc));
        return rc;
    }
    uint64_t seed = 1469598103934665603ull;
    for (const char *c = opt->device; *c; c++)
        seed = (seed ^ (unsigned char)*c) * 1099511628211ull;
    sensors = ef_sensors_new(opt->sensors, opt->simulate, seed);
    if (!sensors) {
        rc = EF_EINVAL;
        goto out;
    }
    if (opt->simulate) EF_WARN("SIMULATED sensors: readings are synthetic and marked \"simulated\"");

    ef_mqtt_options mo = opt->mqtt;
    char client_id[300];
    if (!mo.client_id) {
        snprintf(client_id, sizeof client_id, "edgeflow-agent-%s", opt->device);
        mo.client_id = client_id;
    }
    ef_mqtt_callbacks cb = {.on_connect = on_connect,
                            .on_disconnect = on_disconnect,
                            .on_publish_acked = on_acked};
    a.mqtt = ef_mqtt_new(&mo, &cb, &a);
    if (!a.mqtt) {
        rc = EF_EINVAL;
        goto out;
    }
    EF_INFO("agent %s publishing to %s on %s:%u every %" PRId64 " ms (spool %s)", opt->device,
            a.topic, mo.host, mo.port, opt->interval_ms, opt->spool_dir);

    int64_t samples = 0;
    int64_t next_sample = ef_mono_ms();
    while (!ef_sig_stop_requested()) {
        int64_t now = ef_mono_ms();
        if ((!opt->count || samples < opt->count) && now >= next_sample) {
            rc = sample(&a, sensors);
            if (rc) {
                EF_ERROR("cannot spool a reading (%s); stopping", ef_strerror(rc));
                goto out;
            }
            samples++;
            next_sample += opt->interval_ms;
            if (next_sample < now) next_sample = now + opt->interval_ms; /* we were suspended */
        }
        if (opt->count && samples >= opt->count && ef_spool_pending(a.spool) == 0) break;
        publish_pending(&a);
        int64_t wait = next_sample - ef_mono_ms();
        if (opt->count && samples >= opt->count) wait = 100;
        if (wait > 100) wait = 100;
        if (wait < 0) wait = 0;
        ef_mqtt_run(a.mqtt, (int)wait);
        if (ef_spool_sync(a.spool) != EF_OK) EF_WARN("cannot update the spool cursor");
    }

    /* Stop: give outstanding readings a bounded chance to be acknowledged; the rest stay
     * spooled for the next start. */
    int64_t deadline = ef_mono_ms() + opt->drain_timeout_ms;
    while (ef_spool_pending(a.spool) && ef_mqtt_is_connected(a.mqtt) && ef_mono_ms() < deadline) {
        publish_pending(&a);
        ef_mqtt_run(a.mqtt, 50);
    }
    ef_spool_sync(a.spool);
    if (ef_mqtt_is_connected(a.mqtt)) ef_mqtt_disconnect(a.mqtt);
    EF_INFO("agent stopped: %" PRId64 " samples taken, %" PRIu64 " acknowledged this run, %zu "
            "left in the spool, %" PRIu64 " dropped in total",
            samples, a.acked_total, ef_spool_pending(a.spool), ef_spool_dropped(a.spool));
    rc = EF_OK;
out:
    ef_mqtt_free(a.mqtt);
    ef_sensors_free(sensors);
    ef_spool_close(a.spool);
    return rc;
}
