/* cmd_up.c - `edgeflow up`: options -> ef_up_run (up/up.h). */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "cli/commands.h"
#include "up/up.h"

static const char *o_home;
static int64_t o_port = 8080;
static const char *o_listen = "127.0.0.1";
static const char *o_mqtt;
static int64_t o_mqtt_port;
static const char *o_mqtt_listen = "127.0.0.1";
static int64_t o_export_every = 3600 * 1000LL;
static const char *o_export_target;
static int64_t o_stop_timeout = 30000;
static int64_t o_log_max_size = 10 << 20;
static const char *o_mosquitto = "mosquitto";

static const ef_opt opts[] = {
    {"home", EF_OPT_STR, &o_home, "DIR",
     "data dir: stores, tracking DB, artifacts, exports, logs (default $EDGEFLOW_HOME, else "
     "./edgeflow-data)"},
    {"port", EF_OPT_INT, &o_port, "PORT",
     "HTTP port of the server: MLflow tracking + registry, store API, model server, /health "
     "(default 8080)"},
    {"listen", EF_OPT_STR, &o_listen, "ADDR", "HTTP address to listen on (default 127.0.0.1)"},
    {"mqtt", EF_OPT_STR, &o_mqtt, "URL",
     "use this broker (mqtt://host:port) instead of starting Mosquitto"},
    {"mqtt-port", EF_OPT_INT, &o_mqtt_port, "PORT",
     "port of the Mosquitto we start (default: the previous run's port if free, else 1883 if "
     "free, else any free port)"},
    {"mqtt-listen", EF_OPT_STR, &o_mqtt_listen, "ADDR",
     "Mosquitto's listener address (default 127.0.0.1; anonymous access, so widen with care)"},
    {"export-every", EF_OPT_DURATION, &o_export_every, "DURATION",
     "export the previous window to CSV this often (default 1h; 0: no export)"},
    {"export-target", EF_OPT_STR, &o_export_target, "URL",
     "file:///dir or s3://bucket/prefix (default file://$EDGEFLOW_HOME/exports)"},
    {"stop-timeout", EF_OPT_DURATION, &o_stop_timeout, "DURATION",
     "on stop, how long each child gets after SIGTERM before SIGKILL (default 30s)"},
    {"log-max-size", EF_OPT_SIZE, &o_log_max_size, "SIZE",
     "rotate a log in $EDGEFLOW_HOME/logs to <name>.log.1 above this size (default 10MiB; 0: "
     "never)"},
    {"mosquitto", EF_OPT_STR, &o_mosquitto, "PROGRAM",
     "the Mosquitto binary to start (default mosquitto, searched in PATH)"},
    {0},
};

const ef_command ef_cmd_up_spec = {
    "up",
    "the whole platform on one machine: broker, ingest, server + models, export, supervised",
    "edgeflow up [--home DIR] [--port 8080] [--mqtt URL | --mqtt-port PORT] [options]",
    "Starts, in order and each once the previous one is ready: Mosquitto (unless --mqtt names a\n"
    "broker; config generated in $EDGEFLOW_HOME/mosquitto/ with persistence on and a raised\n"
    "queue limit), `edgeflow server --serve` (tracking + registry + store API + the model server\n"
    "for every model in stage Production or with the alias champion, under\n"
    "/seldon/<namespace>/<model>/api/v1.0/predictions and /v2/models/<model>/infer, all on\n"
    "--port), `edgeflow ingest` and `edgeflow export --every`. Prints what runs where, then the\n"
    "line \"edgeflow up: ready\".\n"
    "Each child logs to $EDGEFLOW_HOME/logs/<name>.log, the supervisor to stderr and\n"
    "logs/up.log. Logs over --log-max-size move to <name>.log.1 when a child (re)starts; running\n"
    "children's logs are checked every 10s and copied to .log.1, then truncated.\n"
    "$EDGEFLOW_HOME/up.json says what runs where (pids, URLs) while up runs.\n"
    "A child that crashes restarts after 1s, doubling to 60s, reset after 60s of running.\n"
    "Ctrl-C / SIGTERM: ingest stops first (commits its last batch), then export, server,\n"
    "Mosquitto; exit 0. Children are in their own process groups and get SIGTERM if up dies.\n"
    "One up per data dir: a second one exits 1 and says which pid holds it.\n"
    "\n"
    "Exit status: 0 stopped in order; 1 could not start (one line says what to do); 2 bad usage.",
    opts,
};

int ef_cmd_up(int argc, char **argv)
{
    int rc = ef_config_parse(&ef_cmd_up_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN) return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("up");
    ef_up_options o = {
        .home = o_home && *o_home ? o_home : ef_config_home(),
        .listen = o_listen,
        .port = (int)o_port,
        .mqtt_url = o_mqtt,
        .mqtt_port = (int)o_mqtt_port,
        .mqtt_listen = o_mqtt_listen,
        .export_every_ms = o_export_every,
        .export_target = o_export_target,
        .stop_timeout_ms = o_stop_timeout,
        .log_max_size = o_log_max_size,
        .mosquitto = o_mosquitto,
    };
    if (o_port < 1 || o_port > 65535 || o_mqtt_port < 0 || o_mqtt_port > 65535) {
        fprintf(stderr, "edgeflow up: --port must be 1..65535 and --mqtt-port 0..65535\n");
        return 2;
    }
    char err[1024] = "";
    rc = ef_up_run(&o, err, sizeof err);
    if (rc == EF_OK) return 0;
    fprintf(stderr, "edgeflow up: %s\n", err[0] ? err : ef_strerror(rc));
    return rc == EF_EINVAL ? 2 : 1;
}
