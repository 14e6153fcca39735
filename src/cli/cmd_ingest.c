/* cmd_ingest.c - `edgeflow ingest`: options -> ef_ingest_run (ingest/ingest.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "ingest/ingest.h"

static const char *o_mqtt = "mqtt://127.0.0.1:1883";
static ef_strlist o_topics;
static const char *o_share;
static const char *o_client_id;
static int64_t o_mqtt_version = 5;
static int64_t o_session_expiry = 7 * 86400 * 1000LL;
static int64_t o_keepalive = 30000;
static int64_t o_reconnect_max = 10000;
static const char *o_ca_file;
static int o_tls_insecure;
static const char *o_store;
static int o_durable = 1;
static const char *o_pipeline;
static ef_strlist o_default, o_overwrite, o_cast, o_rename, o_remove;
static const char default_index[] = "sensor-%Y-%m";
static const char default_time_field[] = "collected";
static const char *o_index = default_index;
static const char *o_time_field = default_time_field;
static int o_index_set, o_time_field_set;
static int64_t o_batch_size = 1000;
static int64_t o_batch_time = 50;
static int64_t o_max_payload = 65536;
static int64_t o_receive_max;
static const char *o_metrics_listen = "127.0.0.1";
static int64_t o_metrics_port;

static const ef_opt opts[] = {
    {"mqtt", EF_OPT_STR, &o_mqtt, "URL", "broker (default mqtt://127.0.0.1:1883)"},
    {"topic", EF_OPT_LIST, &o_topics, "FILTER", "topic filter, repeatable (default sensor/+)"},
    {"share", EF_OPT_STR, &o_share, "GROUP",
     "join shared subscription $share/GROUP/<filter>: several ingest processes split the load"},
    {"client-id", EF_OPT_STR, &o_client_id, "ID",
     "MQTT client id of the persistent session (default edgeflow-ingest-<hostname>)"},
    {"mqtt-version", EF_OPT_INT, &o_mqtt_version, "4|5",
     "MQTT 5.0 (5, default: Receive Maximum bounds unacknowledged readings) or 3.1.1 (4)"},
    {"session-expiry", EF_OPT_DURATION, &o_session_expiry, "DURATION",
     "how long the broker keeps our session and queue while we are away (default 7d)"},
    {"keepalive", EF_OPT_DURATION, &o_keepalive, "DURATION", "MQTT keepalive (default 30s)"},
    {"reconnect-max", EF_OPT_DURATION, &o_reconnect_max, "DURATION",
     "longest wait between reconnect attempts; back-off doubles up to it, with jitter "
     "(default 10s)"},
    {"ca-file", EF_OPT_STR, &o_ca_file, "FILE", "CA certificate for mqtts://"},
    {"tls-insecure", EF_OPT_BOOL, &o_tls_insecure, NULL, "skip broker certificate checks (tests)"},
    {"store", EF_OPT_STR, &o_store, "URI",
     "sqlite:PATH (default sqlite:$EDGEFLOW_HOME/series.db) or postgresql://..."},
    {"durable", EF_OPT_BOOL, &o_durable, NULL,
     "fsync every batch before acknowledging it (default on). --no-durable: a process crash "
     "still loses nothing, but a power cut may lose the last acknowledged batches"},
    {"pipeline", EF_OPT_STR, &o_pipeline, "FILE",
     "YAML transform pipeline (docs/pipeline.md); without it the NiFi reference applies: "
     "default collected=${now_ms}, cast collected=long"},
    {"default", EF_OPT_LIST, &o_default, "FIELD=VALUE", "set FIELD when missing (repeatable)"},
    {"overwrite", EF_OPT_LIST, &o_overwrite, "FIELD=VALUE", "always set FIELD (repeatable)"},
    {"cast", EF_OPT_LIST, &o_cast, "FIELD=TYPE", "cast to long, double, string or bool"},
    {"rename", EF_OPT_LIST, &o_rename, "OLD=NEW", "rename a field (repeatable)"},
    {"remove", EF_OPT_LIST, &o_remove, "FIELD", "remove a field (repeatable)"},
    {"index", EF_OPT_STR, &o_index, "PATTERN",
     "index name, strftime-like on the time field in UTC (default sensor-%Y-%m)"},
    {"time-field", EF_OPT_STR, &o_time_field, "FIELD", "epoch-ms time field (default collected)"},
    {"batch-size", EF_OPT_SIZE, &o_batch_size, "N", "commit after N readings (default 1000)"},
    {"batch-time", EF_OPT_DURATION, &o_batch_time, "DURATION",
     "or after this long (default 50ms)"},
    {"max-payload", EF_OPT_SIZE, &o_max_payload, "SIZE",
     "larger readings go to the dead-letter table (default 64KiB)"},
    {"receive-max", EF_OPT_INT, &o_receive_max, "N",
     "unacknowledged readings the broker may send at once (default 2 x batch size, max 65535)"},
    {"metrics-listen", EF_OPT_STR, &o_metrics_listen, "ADDR",
     "address for /metrics and /health (default 127.0.0.1)"},
    {"metrics-port", EF_OPT_INT, &o_metrics_port, "PORT",
     "serve /metrics and /health on PORT (default 0: off)"},
    {0},
};

const ef_command ef_cmd_ingest_spec = {
    "ingest",
    "subscribe to sensor readings and commit them to the store, acknowledging after commit",
    "edgeflow ingest [--mqtt URL] [--topic sensor/+] [--store URI] [options]",
    "Readings are validated, transformed and committed in batches; only then are their PUBACKs\n"
    "sent, so a crash at any point loses nothing (the broker redelivers) and redelivered readings\n"
    "are stored once (key: device + seq + ts). Invalid readings go to the dead_letters table with\n"
    "the reason. SIGTERM/SIGINT: commit and acknowledge the open batch, disconnect, exit 0.",
    opts,
};

static int add_ops(ef_transform *t, const char *op, const ef_strlist *l)
{
    char err[256];
    for (size_t i = 0; i < l->n; i++) {
        if (ef_transform_add(t, op, l->v[i], err, sizeof err) != EF_OK) {
            fprintf(stderr, "edgeflow ingest: --%s %s: %s\n", op, l->v[i], err);
            return EF_EINVAL;
        }
    }
    return EF_OK;
}

static void release_lists(void)
{
    ef_strlist *all[] = {&o_topics, &o_default, &o_overwrite, &o_cast, &o_rename, &o_remove};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ef_strlist_release(all[i]);
}

int ef_cmd_ingest(int argc, char **argv)
{
    ef_transform *t = NULL;
    char *storage = NULL;
    int rc = ef_config_parse(&ef_cmd_ingest_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN) {
        release_lists();
        return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    }
    ef_log_set_tag("ingest");
    int exit_code = 2;
    if (o_batch_size <= 0 || o_batch_time <= 0 || o_max_payload <= 0 ||
        (o_mqtt_version != 4 && o_mqtt_version != 5) || o_receive_max < 0 ||
        o_receive_max > 65535 || o_metrics_port < 0 || o_metrics_port > 65535) {
        fprintf(stderr, "edgeflow ingest: --batch-size, --batch-time and --max-payload must be "
                        "positive, --mqtt-version 4 or 5, --receive-max at most 65535\n");
        goto out;
    }
    if (!o_topics.n) ef_strlist_push(&o_topics, "sensor/+");
    o_index_set = o_index != default_index;
    o_time_field_set = o_time_field != default_time_field;
    t = ef_transform_new();
    if (!t) goto out;
    char err[512];
    if (o_pipeline) {
        if (ef_transform_load_yaml(t, o_pipeline, err, sizeof err) != EF_OK) {
            fprintf(stderr, "edgeflow ingest: %s\n", err);
            goto out;
        }
    } else {
        char def[300], cast[300];
        snprintf(def, sizeof def, "%s=${now_ms}", o_time_field);
        snprintf(cast, sizeof cast, "%s=long", o_time_field);
        if (ef_transform_add(t, "default", def, err, sizeof err) != EF_OK ||
            ef_transform_add(t, "cast", cast, err, sizeof err) != EF_OK) {
            fprintf(stderr, "edgeflow ingest: invalid --time-field '%s': %s\n", o_time_field, err);
            goto out;
        }
    }
    /* --index / --time-field given explicitly (flag, env or config) win over the pipeline file */
    if ((o_index_set || !ef_transform_index_pattern(t)) &&
        ef_transform_set_index_pattern(t, o_index, err, sizeof err) != EF_OK) {
        fprintf(stderr, "edgeflow ingest: --index '%s': %s\n", o_index, err);
        goto out;
    }
    if ((o_time_field_set || !ef_transform_time_field(t)) &&
        ef_transform_set_time_field(t, o_time_field, err, sizeof err) != EF_OK) {
        fprintf(stderr, "edgeflow ingest: --time-field '%s': %s\n", o_time_field, err);
        goto out;
    }
    if (add_ops(t, "default", &o_default) || add_ops(t, "overwrite", &o_overwrite) ||
        add_ops(t, "cast", &o_cast) || add_ops(t, "rename", &o_rename) ||
        add_ops(t, "remove", &o_remove))
        goto out;
    ef_ingest_options io = {
        .topics = &o_topics,
        .share_group = o_share,
        .durable = o_durable,
        .transform = t,
        .batch_size = (size_t)o_batch_size,
        .batch_time_ms = o_batch_time,
        .max_payload = (size_t)o_max_payload,
        .metrics_listen = o_metrics_port ? o_metrics_listen : NULL,
        .metrics_port = (uint16_t)o_metrics_port,
    };
    if (ef_mqtt_parse_url(o_mqtt, &io.mqtt, &storage) != EF_OK) {
        fprintf(stderr, "edgeflow ingest: invalid --mqtt URL '%s' (use mqtt://host:port)\n",
                o_mqtt);
        goto out;
    }
    char host[HOST_NAME_MAX + 1], client_id[HOST_NAME_MAX + 32], store[4200];
    if (!o_client_id) {
        if (gethostname(host, sizeof host) != 0) strcpy(host, "local");
        host[sizeof host - 1] = '\0';
        snprintf(client_id, sizeof client_id, "edgeflow-ingest-%s", host);
        o_client_id = client_id;
    }
    if (!o_store) {
        if (ef_config_default_store(store, sizeof store, 1) != EF_OK) goto out;
        o_store = store;
    }
    io.store_uri = o_store;
    io.mqtt.client_id = o_client_id;
    io.mqtt.protocol = (int)o_mqtt_version;
    io.mqtt.clean_session = 0;
    io.mqtt.session_expiry_s = (uint32_t)(o_session_expiry / 1000);
    io.mqtt.keepalive_s = (uint16_t)(o_keepalive / 1000 > 0 ? o_keepalive / 1000 : 1);
    io.mqtt.reconnect_max_ms = (unsigned)(o_reconnect_max > 0 ? o_reconnect_max : 1);
    int64_t rmax = o_receive_max ? o_receive_max : 2 * o_batch_size;
    io.mqtt.receive_max = (uint16_t)(rmax > 65535 ? 65535 : rmax);
    /* Oversized readings must still reach us to be dead-lettered with their reason: accept
     * packets far above --max-payload (MQTT 5 brokers drop what exceeds this announcement). */
    int64_t maxpkt = o_max_payload * 2 + 65536;
    io.mqtt.max_packet_size = (uint32_t)(maxpkt < (16 << 20) ? (16 << 20) : maxpkt);
    io.mqtt.tls_ca_file = o_ca_file;
    io.mqtt.tls_insecure = o_tls_insecure;
    ef_sig_install();
    rc = ef_ingest_run(&io);
    exit_code = rc == EF_OK ? 0 : 1;
out:
    ef_transform_free(t);
    free(storage);
    release_lists();
    return exit_code;
}
