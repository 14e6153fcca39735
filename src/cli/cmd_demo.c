/* cmd_demo.c - `edgeflow demo`: options -> ef_demo_run (demo/demo.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "config/config.h"
#include "demo/demo.h"

static const char *o_home, *o_data, *o_export_target;
static int64_t o_publish_ms = 8000, o_interval_ms = 1000, o_port, o_mqtt_port;
static int o_quick, o_keep_running;

static const ef_opt opts[] = {
    {"home", EF_OPT_STR, &o_home, "DIR",
     "data dir: a running `edgeflow up` there is used, else one is started (default "
     "$EDGEFLOW_HOME, else ./edgeflow-data)"},
    {"data-dir", EF_OPT_STR, &o_data, "DIR",
     "where winequality-red.csv and eeg-letters-{train,test}.csv are (default: examples/data "
     "next to the binary's source tree, or ./examples/data)"},
    {"publish-for", EF_OPT_DURATION, &o_publish_ms, "DUR",
     "how long the agents publish before the data steps (default 8s)"},
    {"interval", EF_OPT_DURATION, &o_interval_ms, "DUR",
     "the agents' sampling interval (default 1s)"},
    {"export-target", EF_OPT_STR, &o_export_target, "URL",
     "file:///dir or s3://bucket/prefix (default file://<home>/exports; S3 credentials from "
     "AWS_* and MLFLOW_S3_ENDPOINT_URL as for `edgeflow export`)"},
    {"port", EF_OPT_INT, &o_port, "PORT",
     "HTTP port of an `up` the demo starts (default 8080 when free, else a free one)"},
    {"mqtt-port", EF_OPT_INT, &o_mqtt_port, "PORT",
     "broker port of an `up` the demo starts (default: up's, 1883 when free)"},
    {"quick", EF_OPT_BOOL, &o_quick, NULL,
     "a smaller grid, 3 folds and 40 MLP epochs (for tests)"},
    {"keep-running", EF_OPT_BOOL, &o_keep_running, NULL,
     "leave the `up` the demo started running at the end"},
    {0},
};

const ef_command ef_cmd_demo_spec = {
    "demo",
    "the story end to end, from sensors to a served prediction, narrated step by step",
    "edgeflow demo [--home DIR] [--data-dir DIR] [--publish-for 8s] [--keep-running]",
    "Runs against the `edgeflow up` of the data dir (found through <home>/up.json), or starts\n"
    "one and stops it at the end. Steps, each printed with the commands and requests it uses:\n"
    "  1. three agents (lab-d1..lab-d3, simulated sensors) publish every --interval over MQTT;\n"
    "     the readings committed by ingest, the newest ones and the ingest rate;\n"
    "  2. the hourly-dump _search and an `edgeflow export` of the last hour to CSV;\n"
    "  3. `edgeflow train elasticnet` on the wine-quality data as a grid (parent + child runs),\n"
    "     the best registered as WineQuality and moved to Production;\n"
    "  4. the model server picks it up; the reference Seldon request and its reply (with a curl\n"
    "     line to paste), checked against `edgeflow predict` offline; the same over OIP v2;\n"
    "  5. the EEG-letters LDA and MLP as training jobs with cross-validation, registered;\n"
    "  6. a summary: readings, exported file, runs, models and their URLs, also written to\n"
    "     <home>/demo-summary.json. Every command's log is under <home>/logs.\n"
    "\n"
    "Exit status: 0 every step worked; 1 a step failed (one line on stderr says which and\n"
    "where its log is); 2 bad usage.",
    opts,
};

/* The data dir holding the demo's CSVs: --data-dir, else examples/data above the binary (a
 * build tree inside the repository), else ./examples/data. */
static int find_data(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *tries[3] = {o_data, NULL, "examples/data"};
    char up[PATH_MAX + 32];
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(up, sizeof up, "%s/../examples/data", exe);
        tries[1] = up;
    }
    for (int i = 0; i < 3; i++) {
        char f[PATH_MAX + 64];
        if (!tries[i])
            continue;
        snprintf(f, sizeof f, "%s/winequality-red.csv", tries[i]);
        if (ef_fs_exists(f) && realpath(tries[i], out) && strlen(out) < len)
            return 0;
        if (o_data)
            break;
    }
    fprintf(stderr, "edgeflow demo: no winequality-red.csv in %s; give --data-dir DIR (the "
            "repository's examples/data)\n", o_data ? o_data : "examples/data");
    return -1;
}

int ef_cmd_demo(int argc, char **argv)
{
    int rc = ef_config_parse(&ef_cmd_demo_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN)
        return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("demo");
    if (o_port < 0 || o_port > 65535 || o_mqtt_port < 0 || o_mqtt_port > 65535 ||
        o_publish_ms < 0 || o_interval_ms < 100) {
        fprintf(stderr, "edgeflow demo: --port/--mqtt-port 0..65535, --publish-for >= 0, "
                        "--interval >= 100ms\n");
        return 2;
    }
    char data[PATH_MAX], home[PATH_MAX], bin[PATH_MAX];
    const char *h = o_home ? o_home : ef_config_home();
    ssize_t n = readlink("/proc/self/exe", bin, sizeof bin - 1);
    if (n <= 0 || find_data(data, sizeof data))
        return n <= 0 ? (fprintf(stderr, "edgeflow demo: cannot find its own binary\n"), 1) : 1;
    bin[n] = '\0';
    if (ef_fs_mkdir_p(h) || !realpath(h, home)) {
        fprintf(stderr, "edgeflow demo: cannot create the data dir %s (give --home DIR)\n", h);
        return 1;
    }
    ef_demo_opts o = {
        .home = home,
        .data_dir = data,
        .bin = bin,
        .publish_ms = o_publish_ms,
        .interval_ms = o_interval_ms,
        .export_target = o_export_target,
        .port = (uint16_t)o_port,
        .mqtt_port = (uint16_t)o_mqtt_port,
        .quick = o_quick,
        .keep_running = o_keep_running,
        .color = isatty(1),
    };
    ef_sig_install();
    char err[1024];
    rc = ef_demo_run(&o, err, sizeof err);
    if (rc)
        fprintf(stderr, "edgeflow demo: %s\n", err);
    return rc ? 1 : 0;
}
