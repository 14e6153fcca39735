/* cmd_agent.c - `edgeflow agent`: options -> ef_agent_run (agent/agent.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/spool.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"

static const char *o_mqtt = "mqtt://127.0.0.1:1883";
static const char *o_device;
static const char *o_topic_prefix = "sensor";
static int64_t o_interval = 15000;
static int64_t o_count;
static const char *o_spool_dir;
static int64_t o_spool_max = 100000;
static int o_spool_fsync = 1;
static int o_simulate;
static ef_strlist o_sensors;
static int64_t o_drain = 5000;
static int64_t o_mqtt_version = 4;
static int64_t o_inflight = 20;
static const char *o_client_id;
static const char *o_ca_file;
static int o_tls_insecure;
static int64_t o_keepalive = 30000;
static int64_t o_reconnect_max = 10000;
static const char *o_check_spool;

static const ef_opt opts[] = {
    {"mqtt", EF_OPT_STR, &o_mqtt, "URL",
     "broker, mqtt://[user:pass@]host[:port] or mqtts://... (default mqtt://127.0.0.1:1883)"},
    {"device", EF_OPT_STR, &o_device, "NAME",
     "device name (default: $NODE_NAME on Kubernetes, else the hostname)"},
    {"topic-prefix", EF_OPT_STR, &o_topic_prefix, "PREFIX",
     "readings go to PREFIX/<device> (default sensor)"},
    {"interval", EF_OPT_DURATION, &o_interval, "DURATION", "time between samples (default 15s)"},
    {"count", EF_OPT_INT, &o_count, "N",
     "take N samples, wait for their PUBACKs, then exit (default 0: run until SIGTERM)"},
    {"spool-dir", EF_OPT_STR, &o_spool_dir, "DIR",
     "on-disk spool (default $EDGEFLOW_HOME/spool/<device>)"},
    {"spool-max", EF_OPT_SIZE, &o_spool_max, "N",
     "most readings kept while offline; when full the oldest are dropped (default 100000)"},
    {"spool-fsync", EF_OPT_BOOL, &o_spool_fsync, NULL,
     "fsync every spooled reading: survives power loss, not only crashes (default on; "
     "--no-spool-fsync to save SD-card writes)"},
    {"simulate", EF_OPT_BOOL, &o_simulate, NULL,
     "publish SIMULATED temp/load (marked \"simulated\":true) on machines without sensors"},
    {"sensor", EF_OPT_LIST, &o_sensors, "NAME=PATH",
     "also publish the number read from PATH as field NAME (repeatable)"},
    {"drain-timeout", EF_OPT_DURATION, &o_drain, "DURATION",
     "on SIGTERM, wait this long for outstanding PUBACKs (default 5s); the rest stay spooled"},
    {"mqtt-version", EF_OPT_INT, &o_mqtt_version, "4|5", "MQTT 3.1.1 (4, default) or 5.0 (5)"},
    {"inflight", EF_OPT_INT, &o_inflight, "N", "QoS 1 messages awaiting PUBACK at once (default 20)"},
    {"client-id", EF_OPT_STR, &o_client_id, "ID", "MQTT client id (default edgeflow-agent-<device>)"},
    {"keepalive", EF_OPT_DURATION, &o_keepalive, "DURATION", "MQTT keepalive (default 30s)"},
    {"reconnect-max", EF_OPT_DURATION, &o_reconnect_max, "DURATION",
     "longest wait between reconnect attempts; back-off doubles up to it, with jitter "
     "(default 10s)"},
    {"ca-file", EF_OPT_STR, &o_ca_file, "FILE", "CA certificate for mqtts:// (default: system CAs)"},
    {"tls-insecure", EF_OPT_BOOL, &o_tls_insecure, NULL,
     "do not verify the broker's certificate (testing only)"},
    {"check-spool", EF_OPT_STR, &o_check_spool, "DIR",
     "verify a spool directory's integrity, print the result and exit (0 = intact)"},
    {0},
};

const ef_command ef_cmd_agent_spec = {
    "agent",
    "read sensors and publish JSON readings over MQTT (QoS 1), spooling to disk while offline",
    "edgeflow agent [--mqtt URL] [--device NAME] [--interval 15s] [options]",
    "Publishes {\"device\":NAME,\"temp\":<millidegrees>,\"load\":<1-min loadavg>,\"seq\":N,"
    "\"ts\":<epoch ms>} to sensor/NAME every interval.\n"
    "Every reading is written to the spool first and leaves it only after the broker's PUBACK, so\n"
    "broker outages, restarts and SIGKILL lose nothing (up to --spool-max readings).\n"
    "SIGTERM/SIGINT: publish what can be acknowledged within --drain-timeout, keep the rest, exit 0.",
    opts,
};

int ef_cmd_agent(int argc, char **argv)
{
    int rc = ef_config_parse(&ef_cmd_agent_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN) return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("agent");
    if (o_check_spool) {
        char *report = NULL;
        rc = ef_spool_check(o_check_spool, &report);
        printf("%s: %s\n", o_check_spool, report ? report : "out of memory");
        free(report);
        return rc == EF_OK ? 0 : 1;
    }
    char host[HOST_NAME_MAX + 1];
    if (!o_device) o_device = getenv("NODE_NAME");
    if (!o_device || !*o_device) {
        if (gethostname(host, sizeof host) != 0) {
            fprintf(stderr, "edgeflow agent: cannot read the hostname; give --device NAME\n");
            return 2;
        }
        host[sizeof host - 1] = '\0';
        o_device = host;
    }
    if (o_interval <= 0 || o_spool_max <= 0 || o_inflight <= 0 || o_count < 0 ||
        (o_mqtt_version != 4 && o_mqtt_version != 5)) {
        fprintf(stderr, "edgeflow agent: --interval, --spool-max and --inflight must be positive "
                        "and --mqtt-version 4 or 5\n");
        return 2;
    }
    char spool_dir[4096];
    if (!o_spool_dir) {
        snprintf(spool_dir, sizeof spool_dir, "%s/spool/%s", ef_config_home(), o_device);
        o_spool_dir = spool_dir;
    }
    ef_agent_options ao = {
        .device = o_device,
        .topic_prefix = o_topic_prefix,
        .interval_ms = o_interval,
        .count = o_count,
        .spool_dir = o_spool_dir,
        .spool_max = (uint64_t)o_spool_max,
        .spool_durable = o_spool_fsync,
        .simulate = o_simulate,
        .sensors = &o_sensors,
        .drain_timeout_ms = o_drain,
    };
    char *storage = NULL;
    if (ef_mqtt_parse_url(o_mqtt, &ao.mqtt, &storage) != EF_OK) {
        fprintf(stderr, "edgeflow agent: invalid --mqtt URL '%s' (use mqtt://host:port)\n", o_mqtt);
        return 2;
    }
    ao.mqtt.client_id = o_client_id;
    ao.mqtt.protocol = (int)o_mqtt_version;
    ao.mqtt.clean_session = 0;
    ao.mqtt.session_expiry_s = 7 * 86400;
    ao.mqtt.keepalive_s = (uint16_t)(o_keepalive / 1000 > 0 ? o_keepalive / 1000 : 1);
    ao.mqtt.reconnect_max_ms = (unsigned)(o_reconnect_max > 0 ? o_reconnect_max : 1);
    ao.mqtt.inflight_max = (unsigned)o_inflight;
    ao.mqtt.tls_ca_file = o_ca_file;
    ao.mqtt.tls_insecure = o_tls_insecure;
    ef_sig_install();
    rc = ef_agent_run(&ao);
    free(storage);
    ef_strlist_release(&o_sensors);
    return rc == EF_OK ? 0 : 1;
}
