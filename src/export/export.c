/* export.c - the export role; see export.h.
 *
 * One export = read the window through ef_store_scan into an ef_csv_table, render the CSV in
 * memory, then deliver it whole:
 *   folder: mkdir -p, ef_fs_write_atomic (temp file in the same directory, fsync, rename, fsync
 *           the directory) - a reader sees no file or the complete file;
 *   S3:     CreateBucket (already-owned is fine), then one PutObject (multipart with abort above
 *           the client's threshold) - S3 makes an object visible only when complete.
 * Delivery is retried with exponential back-off (x2 per attempt, capped at 60 s) and +-50 %
 * jitter, so several exporters failing together do not retry in lockstep. Reading the store is
 * not retried: it is local, and its errors (no such file, corrupt) do not heal by waiting.
 */
#include "export/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/sig.h"
#include "csv/table.h"
#include "store/store.h"

#define EXPORT_MAX_DELAY_MS 60000

typedef struct target {
    int is_s3;
    char dir[1024];   /* folder target */
    char bucket[256]; /* S3 target */
    char prefix[768]; /* S3 key prefix without leading/trailing '/' */
} target;

static int parse_target(const char *url, target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!url || !*url) {
        snprintf(err, errlen, "no export target; use --target file:///dir or s3://bucket/prefix");
        return EF_EINVAL;
    }
    if (strncmp(url, "s3://", 5) == 0) {
        const char *b = url + 5;
        size_t bl = strcspn(b, "/");
        if (bl == 0 || bl >= sizeof t->bucket) {
            snprintf(err, errlen, "bad S3 target '%s': want s3://bucket/prefix", url);
            return EF_EINVAL;
        }
        memcpy(t->bucket, b, bl);
        const char *p = b + bl;
        while (*p == '/')
            p++;
        size_t pl = strlen(p);
        while (pl && p[pl - 1] == '/')
            pl--;
        if (pl >= sizeof t->prefix) {
            snprintf(err, errlen, "S3 prefix too long in '%s'", url);
            return EF_EINVAL;
        }
        memcpy(t->prefix, p, pl);
        t->is_s3 = 1;
        return EF_OK;
    }
    const char *path = url;
    if (strncmp(url, "file://", 7) == 0) {
        path = url + 7;
        /* file://localhost/dir is the same as file:///dir */
        if (strncmp(path, "localhost/", 10) == 0) path += 9;
    } else if (strstr(url, "://")) {
        snprintf(err, errlen,
                 "unsupported export target '%s': use file:///dir or s3://bucket/prefix", url);
        return EF_EINVAL;
    }
    size_t l = strlen(path);
    while (l > 1 && path[l - 1] == '/')
        l--;
    if (l == 0 || l >= sizeof t->dir) {
        snprintf(err, errlen, "bad folder target '%s'", url);
        return EF_EINVAL;
    }
    memcpy(t->dir, path, l);
    return EF_OK;
}

/* strftime(pattern) on from_ms in UTC; refuses keys that would escape the target ("..") or are
 * absolute. */
static int render_key(const char *pattern, int64_t from_ms, char *out, size_t outlen, char *err,
                      size_t errlen)
{
    time_t secs = (time_t)(from_ms >= 0 ? from_ms / 1000 : (from_ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(err, errlen, "window start %lld is out of range", (long long)from_ms);
        return EF_EINVAL;
    }
    size_t n = strftime(out, outlen, pattern, &tm);
    if (n == 0) {
        snprintf(err, errlen, "--key-pattern '%s' gives an empty or too long name", pattern);
        return EF_EINVAL;
    }
    const char *p = out;
    if (*p == '/') {
        snprintf(err, errlen, "--key-pattern '%s' must not start with '/'", pattern);
        return EF_EINVAL;
    }
    while (*p) {
        size_t seg = strcspn(p, "/");
        if (seg == 0 || (seg == 2 && p[0] == '.' && p[1] == '.') || (seg == 1 && p[0] == '.')) {
            snprintf(err, errlen, "--key-pattern '%s' gives '%s': empty, '.' or '..' parts",
                     pattern, out);
            return EF_EINVAL;
        }
        p += seg;
        if (*p == '/') {
            p++;
            if (!*p) {
                snprintf(err, errlen, "--key-pattern '%s' must name a file, not a folder", pattern);
                return EF_EINVAL;
            }
        }
    }
    return EF_OK;
}

/* ---- reading the store ------------------------------------------------------------------ */

typedef struct scan_ctx {
    ef_csv_table *table;
    int progress;
    size_t bad;
    int64_t last_progress;
} scan_ctx;

static int on_doc(void *ctx, const char *index, const char *id, int64_t collected,
                  const char *source, size_t len)
{
    (void)collected;
    scan_ctx *c = ctx;
    int rc = ef_csv_table_add_text(c->table, source, len);
    if (rc == EF_EINVAL) {
        /* ef_store_check guarantees objects; count and go on rather than lose the hour */
        if (c->bad++ == 0) EF_WARN("skipping document %s/%s: not a JSON object", index, id);
        return 0;
    }
    if (rc != EF_OK) return rc;
    size_t n = ef_csv_table_rows(c->table);
    if (c->progress && (n & 4095) == 0) {
        int64_t now = ef_mono_ms();
        if (now - c->last_progress >= 200) {
            c->last_progress = now;
            fprintf(stderr, "\rreading store: %zu readings", n);
            fflush(stderr);
        }
    }
    return 0;
}

static int read_window(const ef_export_options *o, ef_buf *csv, size_t *rows, char *err,
                       size_t errlen)
{
    int rc;
    ef_store *store = NULL;
    char *msg = NULL;
    scan_ctx sc = {0};
    ef_store_options so = {.uri = o->store_uri, .durable = 0, .busy_timeout_ms = 10000};
    rc = ef_store_open(&so, &store, &msg);
    if (rc != EF_OK) {
        snprintf(err, errlen, "cannot open store %s: %s; check --store", o->store_uri,
                 msg ? msg : ef_strerror(rc));
        goto out;
    }
    sc.table = ef_csv_table_new();
    sc.progress = o->progress;
    if (!sc.table) {
        rc = EF_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = ef_store_scan(store, o->index ? o->index : "sensor-*", o->device, o->from_ms, o->to_ms,
                       on_doc, &sc);
    if (sc.progress && ef_csv_table_rows(sc.table) >= 4096) fputc('\n', stderr);
    if (rc != EF_OK) {
        snprintf(err, errlen, "reading store %s failed: %s", o->store_uri, ef_strerror(rc));
        goto out;
    }
    if (sc.bad) EF_WARN("skipped %zu documents that are not JSON objects", sc.bad);
    rc = ef_csv_table_render(sc.table, csv);
    if (rc != EF_OK) {
        snprintf(err, errlen, "out of memory rendering %zu readings", ef_csv_table_rows(sc.table));
        goto out;
    }
    *rows = ef_csv_table_rows(sc.table);
out:
    ef_csv_table_free(sc.table);
    ef_store_free(store);
    free(msg);
    return rc;
}

/* ---- delivery --------------------------------------------------------------------------- */

static int deliver_file(const target *t, const char *key, const ef_buf *csv, int durable,
                        char *location, size_t loclen, char *err, size_t errlen)
{
    char path[2048], dir[2048];
    int n = snprintf(path, sizeof path, "%s/%s", t->dir, key);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "export path too long");
        return EF_EINVAL;
    }
    if (snprintf(location, loclen, "%s", path) >= (int)loclen) {
        snprintf(err, errlen, "export path too long");
        return EF_EINVAL;
    }
    memcpy(dir, path, (size_t)n + 1);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (ef_fs_mkdir_p(dir) != EF_OK) {
            snprintf(err, errlen, "cannot create folder %s: %m; check --target and permissions",
                     dir);
            return EF_EIO;
        }
    }
    if (ef_fs_write_atomic(path, csv->data ? csv->data : "", csv->len, durable) != EF_OK) {
        snprintf(err, errlen, "cannot write %s: %m; check --target, free space and permissions",
                 path);
        return EF_EIO;
    }
    return EF_OK;
}

static int deliver_s3(const ef_export_options *o, const target *t, const char *key,
                      const ef_buf *csv, char *location, size_t loclen, char *err, size_t errlen)
{
    int rc;
    char *msg = NULL, full[2048], s3err[768];
    ef_s3 *s3 = ef_s3_new(&o->s3, &msg);
    if (!s3) {
        snprintf(err, errlen, "%s", msg ? msg : "out of memory");
        free(msg);
        return EF_EINVAL;
    }
    int n = snprintf(full, sizeof full, "%s%s%s", t->prefix, t->prefix[0] ? "/" : "", key);
    if (n < 0 || (size_t)n >= sizeof full) {
        snprintf(err, errlen, "S3 key too long");
        rc = EF_EINVAL;
        goto out;
    }
    if (snprintf(location, loclen, "s3://%s/%s", t->bucket, full) >= (int)loclen) {
        snprintf(err, errlen, "S3 key too long");
        rc = EF_EINVAL;
        goto out;
    }
    rc = ef_s3_create_bucket(s3, t->bucket, s3err, sizeof s3err);
    if (rc == EF_OK)
        rc = ef_s3_put(s3, t->bucket, full, csv->data ? csv->data : "", csv->len, "text/csv", s3err,
                       sizeof s3err);
    if (rc != EF_OK) {
        const char *hint =
            rc == EF_EIO || rc == EF_ETIMEDOUT ? "check --s3-endpoint (or MLFLOW_S3_ENDPOINT_URL)"
            : rc == EF_EAUTH
                ? "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket's policy"
                : "check the S3 target and endpoint";
        snprintf(err, errlen, "%s; %s", s3err, hint);
    }
out:
    ef_s3_free(s3);
    return rc;
}

/* Sleeps ms in slices, returning early (EF_EAGAIN) when a stop is requested. */
static int backoff_sleep(int64_t ms)
{
    int64_t end = ef_mono_ms() + ms;
    for (;;) {
        if (ef_sig_stop_requested()) return EF_EAGAIN;
        int64_t left = end - ef_mono_ms();
        if (left <= 0) return EF_OK;
        ef_sleep_ms(left < 100 ? left : 100);
    }
}

static uint64_t jitter_state;
static uint64_t jitter_next(void)
{
    if (!jitter_state) jitter_state = (uint64_t)ef_mono_us() * 2654435761u ^ (uint64_t)getpid();
    jitter_state ^= jitter_state << 13;
    jitter_state ^= jitter_state >> 7;
    jitter_state ^= jitter_state << 17;
    return jitter_state;
}

int ef_export_once(const ef_export_options *o, ef_export_result *res, char *err, size_t errlen)
{
    int rc;
    target t;
    char key[1024];
    ef_buf csv;
    ef_export_result local;
    ef_buf_init(&csv);
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    if (err && errlen) err[0] = '\0';
    if (!o || !o->store_uri || o->from_ms >= o->to_ms) {
        snprintf(err, errlen, "bad export window or store (need --store and --from < --to)");
        return EF_EINVAL;
    }
    rc = parse_target(o->target, &t, err, errlen);
    if (rc != EF_OK) goto out;
    rc = render_key(o->key_pattern ? o->key_pattern : "%Y/%m-%d-%H.csv", o->from_ms, key,
                    sizeof key, err, errlen);
    if (rc != EF_OK) goto out;
    rc = read_window(o, &csv, &res->rows, err, errlen);
    if (rc != EF_OK) goto out;
    res->bytes = csv.len;

    int64_t delay = o->retry_delay_ms > 0 ? o->retry_delay_ms : 1000;
    for (int attempt = 0;; attempt++) {
        res->attempts = attempt + 1;
        rc = t.is_s3
                 ? deliver_s3(o, &t, key, &csv, res->location, sizeof res->location, err, errlen)
                 : deliver_file(&t, key, &csv, o->durable, res->location, sizeof res->location, err,
                                errlen);
        if (rc == EF_OK || rc == EF_EINVAL || rc == EF_ENOMEM || attempt >= o->retries) break;
        /* +-50 % jitter around the nominal delay */
        int64_t wait = delay / 2 + (int64_t)(jitter_next() % (uint64_t)(delay + 1));
        EF_WARN("attempt %d of %d failed: %s; retrying in %lld ms", attempt + 1, o->retries + 1,
                err, (long long)wait);
        if (backoff_sleep(wait) != EF_OK) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " (stopped while waiting to retry)");
            rc = EF_EAGAIN;
            break;
        }
        delay = delay * 2 > EXPORT_MAX_DELAY_MS ? EXPORT_MAX_DELAY_MS : delay * 2;
    }
out:
    ef_buf_release(&csv);
    return rc;
}

void ef_export_next_run(int64_t now_ms, int64_t every_ms, int64_t *run_at_ms, int64_t *from_ms,
                        int64_t *to_ms)
{
    int64_t delay = every_ms / 10 < 60000 ? every_ms / 10 : 60000;
    /* the first window end e (a multiple of every_ms) with e + delay > now */
    int64_t x = now_ms - delay;
    int64_t k = x / every_ms;
    if (x % every_ms != 0 && x < 0) k--; /* floor */
    int64_t end = (k + 1) * every_ms;
    *to_ms = end;
    *from_ms = end - every_ms;
    *run_at_ms = end + delay;
}

int ef_export_run_every(const ef_export_options *o, int64_t every_ms, ef_export_report_cb report,
                        void *ctx)
{
    if (!o || every_ms <= 0) return EF_EINVAL;
    ef_export_options run = *o;
    while (!ef_sig_stop_requested()) {
        int64_t run_at, from, to;
        ef_export_next_run(ef_now_ms(), every_ms, &run_at, &from, &to);
        EF_INFO("next run at %lld for [%lld, %lld)", (long long)run_at, (long long)from,
                (long long)to);
        /* wall-clock wait in slices: follows clock changes and notices SIGTERM quickly */
        while (!ef_sig_stop_requested()) {
            int64_t left = run_at - ef_now_ms();
            if (left <= 0) break;
            ef_sleep_ms(left < 200 ? left : 200);
        }
        if (ef_sig_stop_requested()) break;
        run.from_ms = from;
        run.to_ms = to;
        char err[1024];
        ef_export_result res;
        int rc = ef_export_once(&run, &res, err, sizeof err);
        if (report) report(ctx, rc, &res, err);
        if (rc == EF_EINVAL) return rc; /* bad options never heal */
    }
    return EF_OK;
}
