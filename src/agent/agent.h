/* agent.h - `edgeflow agent`: reads sensors every interval and publishes one JSON reading per
 * sample to <topic-prefix>/<device> at QoS 1, through the on-disk spool (spool.h), so readings
 * taken while the broker is unreachable are published, in order, once it is back.
 *
 * Reading: {"device":"lab-d1","temp":45123,"load":0.42,"seq":17,"ts":1763812345678}
 *   temp: millidegrees C (int), load: 1-minute load average, seq: per-device counter that survives
 *   restarts, ts: sample time (epoch ms); plus one field per --sensor, and "simulated":true in
 *   --simulate mode.
 */
#ifndef EF_AGENT_AGENT_H
#define EF_AGENT_AGENT_H

#include <stdint.h>

#include "base/strlist.h"
#include "mqtt/mqtt.h"

typedef struct ef_agent_options {
    const char *device;       /* required: stable device name (no '/', '+', '#') */
    const char *topic_prefix; /* "sensor" */
    int64_t interval_ms;
    int64_t count;            /* stop after this many samples (0 = run until SIGTERM) */
    const char *spool_dir;    /* required */
    uint64_t spool_max;
    int spool_durable;
    int simulate;
    const ef_strlist *sensors;
    int64_t drain_timeout_ms; /* on stop: wait this long for outstanding PUBACKs */
    ef_mqtt_options mqtt;     /* host/port/etc. filled by the caller; client_id may be NULL */
} ef_agent_options;

/* Runs until SIGTERM/SIGINT (base/sig.h) or `count` samples have been published and
 * acknowledged. Returns 0 on a clean stop, or an EF_E* code on a fatal error (spool unusable). */
int ef_agent_run(const ef_agent_options *opt);

#endif
