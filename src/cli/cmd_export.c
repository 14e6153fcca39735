/* cmd_export.c - `edgeflow export`: options -> ef_export_once / ef_export_run_every
 * (export/export.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "export/export.h"

static const char *o_store;
static const char *o_index = "sensor-*";
static const char *o_device;
static const char *o_from;
static const char *o_to;
static const char *o_target;
static const char *o_key_pattern = "%Y/%m-%d-%H.csv";
static const char *o_s3_endpoint;
static const char *o_s3_region;
static int o_s3_virtual_host;
static int64_t o_s3_multipart = 16 << 20;
static int64_t o_s3_timeout = 60000;
static int64_t o_every;
static int64_t o_retries = 5;
static int64_t o_retry_delay = 1000;
static int o_durable = 1;
static int o_progress = -1;

static const ef_opt opts[] = {
    {"store", EF_OPT_STR, &o_store, "URI",
     "sqlite:PATH (default sqlite:$EDGEFLOW_HOME/series.db) or postgresql://..."},
    {"index", EF_OPT_STR, &o_index, "PATTERN", "indices to read (default sensor-*)"},
    {"device", EF_OPT_STR, &o_device, "NAME", "only this device's readings (default: all)"},
    {"from", EF_OPT_STR, &o_from, "TIME",
     "window start: epoch ms, ISO 8601 or date math like now-2h/h (default: start of the last "
     "full hour)"},
    {"to", EF_OPT_STR, &o_to, "TIME",
     "window end, exclusive (default: --from + 1h, or the start of the current hour)"},
    {"target", EF_OPT_STR, &o_target, "URL",
     "file:///dir or s3://bucket/prefix (default file://$EDGEFLOW_HOME/exports)"},
    {"key-pattern", EF_OPT_STR, &o_key_pattern, "PATTERN",
     "file/object name under the target, strftime on the window start in UTC "
     "(default %Y/%m-%d-%H.csv)"},
    {"s3-endpoint", EF_OPT_STR, &o_s3_endpoint, "URL",
     "S3 endpoint, e.g. http://minio:9000 (default $MLFLOW_S3_ENDPOINT_URL, else AWS)"},
    {"s3-region", EF_OPT_STR, &o_s3_region, "REGION",
     "signing region (default $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)"},
    {"s3-virtual-host", EF_OPT_BOOL, &o_s3_virtual_host, NULL,
     "bucket.host style URLs instead of host/bucket (default off)"},
    {"s3-multipart-threshold", EF_OPT_SIZE, &o_s3_multipart, "SIZE",
     "multipart upload above this size, parts of this size (default 16MiB; S3 needs >= 5MiB)"},
    {"s3-timeout", EF_OPT_DURATION, &o_s3_timeout, "DURATION", "per S3 request (default 60s)"},
    {"every", EF_OPT_DURATION, &o_every, "DURATION",
     "keep running and export every DURATION (see below; default: export once and exit)"},
    {"retries", EF_OPT_INT, &o_retries, "N", "retry a failed upload/write N times (default 5)"},
    {"retry-delay", EF_OPT_DURATION, &o_retry_delay, "DURATION",
     "first back-off, doubled per retry up to 60s, +-50% jitter (default 1s)"},
    {"durable", EF_OPT_BOOL, &o_durable, NULL,
     "folder target: fsync the file and its folder before reporting success (default on)"},
    {"progress", EF_OPT_BOOL, &o_progress, NULL,
     "show progress on stderr while reading (default: when stderr is a terminal)"},
    {0},
};

const ef_command ef_cmd_export_spec = {
    "export",
    "write a time window of readings as CSV to a folder or S3, once or on a schedule",
    "edgeflow export [--from TIME --to TIME] [--target file:///dir|s3://bucket/prefix] [options]",
    "The CSV is shaped like pandas' DataFrame.to_csv(index_label=\"idx\"): an idx column, then\n"
    "the union of the readings' fields in first-seen order. Either the whole file or object\n"
    "appears or nothing does: folders get a temp file + fsync + rename, S3 a single PUT "
    "(multipart\n"
    "with abort for big files); a failed attempt is retried with back-off. The bucket is created\n"
    "when missing. S3 credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n"
    "\n"
    "--every E: windows are aligned to multiples of E since the epoch (UTC). The window\n"
    "[k*E, (k+1)*E) is exported at (k+1)*E + min(1 minute, E/10), so --every 1h runs at minute 1\n"
    "of every hour and exports the previous full hour, like the CronJob `1 * * * *`; --every 1d\n"
    "runs at 00:01 UTC for the previous day. The first run is the next such time (nothing runs at\n"
    "start). With E under an hour, put %M in --key-pattern so names do not collide.\n"
    "SIGTERM/SIGINT: the export in progress is finished, then the command exits 0.\n"
    "\n"
    "Exit status: 0 exported; 1 failed (one line on stderr says what to check); 2 bad usage.",
    opts,
};

static void on_report(void *ctx, int rc, const ef_export_result *res, const char *err)
{
    (void)ctx;
    if (rc == EF_OK) {
        printf("exported %zu readings to %s\n", res->rows, res->location);
        fflush(stdout);
    } else {
        EF_ERROR("export failed: %s", err);
    }
}

int ef_cmd_export(int argc, char **argv)
{
    int rc = ef_config_parse(&ef_cmd_export_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN) return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("export");

    char store[2048], target[2048], err[1024];
    const char *home = ef_config_home();
    if (!o_store) {
        ef_config_default_store(store, sizeof store, 0);
        o_store = store;
    }
    if (!o_target) {
        snprintf(target, sizeof target, "file://%s/exports", home);
        o_target = target;
    }
    if (o_retries < 0 || o_retries > 1000 || o_every < 0 || o_s3_multipart <= 0 ||
        o_s3_timeout <= 0) {
        fprintf(stderr, "edgeflow export: --retries must be 0..1000, --every, "
                        "--s3-multipart-threshold and --s3-timeout positive\n");
        return 2;
    }

    ef_export_options o = {0};
    o.store_uri = o_store;
    o.index = o_index;
    o.device = o_device;
    o.target = o_target;
    o.key_pattern = o_key_pattern;
    o.s3.endpoint = o_s3_endpoint && *o_s3_endpoint ? o_s3_endpoint : NULL;
    o.s3.region = o_s3_region;
    o.s3.virtual_host = o_s3_virtual_host;
    o.s3.multipart_threshold = (size_t)o_s3_multipart;
    o.s3.timeout_s = (long)((o_s3_timeout + 999) / 1000);
    o.retries = (int)o_retries;
    o.retry_delay_ms = o_retry_delay;
    o.progress = o_progress >= 0 ? o_progress : isatty(2);
    o.durable = o_durable;

    ef_sig_install();
    if (o_every > 0) {
        if (o_from || o_to) {
            fprintf(stderr,
                    "edgeflow export: --every chooses the windows itself; drop --from/--to\n");
            return 2;
        }
        rc = ef_export_run_every(&o, o_every, on_report, NULL);
        if (rc != EF_OK) return 1;
        return 0;
    }

    int64_t now = ef_now_ms(), hour = 3600 * 1000LL;
    if (o_from && ef_parse_time_ms(o_from, now, &o.from_ms) != EF_OK) {
        fprintf(stderr, "edgeflow export: bad --from '%s' (epoch ms, ISO 8601 or now-1h)\n",
                o_from);
        return 2;
    }
    if (o_to && ef_parse_time_ms(o_to, now, &o.to_ms) != EF_OK) {
        fprintf(stderr, "edgeflow export: bad --to '%s' (epoch ms, ISO 8601 or now)\n", o_to);
        return 2;
    }
    if (!o_from && !o_to) {
        o.to_ms = now / hour * hour;
        o.from_ms = o.to_ms - hour;
    } else if (!o_to) {
        o.to_ms = o.from_ms + hour;
    } else if (!o_from) {
        o.from_ms = o.to_ms - hour;
    }
    if (o.from_ms >= o.to_ms) {
        fprintf(stderr, "edgeflow export: --from must be before --to\n");
        return 2;
    }
    ef_export_result res;
    rc = ef_export_once(&o, &res, err, sizeof err);
    if (rc != EF_OK) {
        fprintf(stderr, "edgeflow export: %s\n", err);
        return 1;
    }
    printf("exported %zu readings to %s\n", res.rows, res.location);
    return 0;
}
