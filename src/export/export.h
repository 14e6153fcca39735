/* export.h - the export role: a time window of the store as one pandas-shaped CSV (csv/table.h),
 * written to a folder (file:///dir) or an S3 bucket (s3://bucket/prefix), once or on a schedule.
 *
 * Either the whole file/object appears or nothing does: folders get a temp file + fsync + rename,
 * S3 gets a single PUT (multipart above the client's threshold, aborted on failure). A failed
 * attempt is retried with exponential back-off and jitter.
 */
#ifndef EF_EXPORT_EXPORT_H
#define EF_EXPORT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "s3/s3.h"

typedef struct ef_export_options {
    const char *store_uri;   /* required: "sqlite:/path/series.db", a path, "postgresql://..." */
    const char *index;       /* index pattern, NULL -> "sensor-*" */
    const char *device;      /* only this device (source field "device"); NULL = all */
    int64_t from_ms, to_ms;  /* the window [from, to), epoch ms */
    const char *target;      /* required: "file:///dir", "file://rel/dir", a plain dir, or
                                "s3://bucket[/prefix]" */
    const char *key_pattern; /* strftime on from_ms in UTC; NULL -> "%Y/%m-%d-%H.csv" */
    ef_s3_config s3;         /* endpoint, region, credentials (NULL fields: environment) */
    int retries;             /* further attempts after a failed one (default 0 here; CLI: 5) */
    int64_t retry_delay_ms;  /* first back-off (doubles each time, capped at 60 s), <= 0 -> 1 s */
    int progress;            /* 1: show a progress line on stderr while reading the store */
    int durable;             /* folder target: fsync file and directory (recommended: 1) */
} ef_export_options;

typedef struct ef_export_result {
    size_t rows;         /* readings written */
    size_t bytes;        /* CSV size */
    int attempts;        /* 1 + retries used */
    char location[2048]; /* "s3://bucket/prefix/2026/11-22-12.csv" or the file path */
} ef_export_result;

/* Exports one window. Returns 0, or an EF_E* code with err holding one readable line that says
 * what failed and what to check ("cannot reach S3 endpoint http://...: connection refused; check
 * --s3-endpoint"). EF_EINVAL: bad options (not retried); EF_EAGAIN: stopped by
 * ef_sig_stop_requested() during a back-off. res may be NULL. */
int ef_export_once(const ef_export_options *o, ef_export_result *res, char *err, size_t errlen);

/* Schedule arithmetic for `--every E` (E > 0): windows are aligned to multiples of E since the
 * epoch (UTC); the window [k*E, (k+1)*E) runs at (k+1)*E + delay, delay = min(1 min, E/10), so
 * "1h" runs at minute 1 of every hour (the CronJob `1 * * * *`) and exports the previous hour.
 * Given now, returns the next run time (> now) and its window. */
void ef_export_next_run(int64_t now_ms, int64_t every_ms, int64_t *run_at_ms, int64_t *from_ms,
                        int64_t *to_ms);

/* Runs ef_export_once on the schedule above until ef_sig_stop_requested() (an export in progress
 * is finished first). o->from_ms/to_ms are ignored. Each result or failure is reported through
 * report (may be NULL). Returns 0 when stopped, EF_EINVAL on bad options. */
typedef void (*ef_export_report_cb)(void *ctx, int rc, const ef_export_result *res,
                                    const char *err);
int ef_export_run_every(const ef_export_options *o, int64_t every_ms, ef_export_report_cb report,
                        void *ctx);

#endif
