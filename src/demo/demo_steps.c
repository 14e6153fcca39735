/* demo_steps.c - the steps of `edgeflow demo`, each narrated and each recording what it found in
 * d->summary: sensors (agents -> MQTT -> ingest -> store), the hourly dump (_search + CSV
 * export), the wine-quality grid (tracking + registry, moved to Production), the prediction
 * (Seldon v1 through the model server, checked against `edgeflow predict` offline, and OIP v2),
 * and the EEG training jobs with cross-validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/sig.h"
#include "demo/demo_int.h"

static const char *const devices[DEMO__AGENTS] = {"lab-d1", "lab-d2", "lab-d3"};

int64_t demo__count(demo *d)
{
    long st;
    json_t *doc = demo__http_json(d, "GET", "/sensor-*/_count", NULL, &st);
    json_t *c = json_object_get(doc, "count");
    int64_t n = json_is_integer(c) ? (int64_t)json_integer_value(c) : st == 404 ? 0 : -1;
    json_decref(doc);
    return n;
}

/* ---- 1. sensors --------------------------------------------------------------------------- */

int demo__sensors(demo *d)
{
    char interval[32];
    int64_t ms = d->o->interval_ms;
    snprintf(interval, sizeof interval, ms % 1000 ? "%lldms" : "%llds",
             (long long)(ms % 1000 ? ms : ms / 1000));
    demo__step(d, "sensors: %d agents publish a reading every %s over MQTT; ingest commits them",
               DEMO__AGENTS, interval);
    int64_t base = demo__count(d);
    if (base < 0)
        return demo__fail(d, EF_EIO, "the store API (%s/sensor-*/_count) does not answer",
                          d->http);
    for (int i = 0; i < DEMO__AGENTS; i++) {
        char spool[4200], log[64];
        snprintf(spool, sizeof spool, "%s/spool/%s", d->o->home, devices[i]);
        snprintf(log, sizeof log, "agent-%s", devices[i]);
        char *argv[] = {(char *)d->o->bin, "agent", "--mqtt", d->mqtt, "--device",
                        (char *)devices[i], "--interval", interval, "--simulate", "--spool-dir",
                        spool, NULL};
        if ((d->agents[i] = demo__spawn(d, log, argv, 0)) < 0)
            return demo__fail(d, EF_EIO, "cannot start the agent %s", devices[i]);
        demo__say(d, "edgeflow agent --device %s --simulate --interval %s --mqtt %s", devices[i],
                  interval, d->mqtt);
    }
    int64_t t0 = ef_mono_ms(), n = base, wait_ms = d->o->publish_ms;
    for (int s = 1; !ef_sig_stop_requested(); s++) {
        ef_sleep_ms(1000);
        for (int i = 0; i < DEMO__AGENTS; i++) {
            int st;
            if (!demo__alive(d->agents[i], &st)) {
                d->agents[i] = 0;
                return demo__fail(d, EF_EIO, "agent %s exited with status %d; its log: "
                                  "%s/demo-agent-%s.log", devices[i], st, d->logs, devices[i]);
            }
        }
        int64_t now = demo__count(d);
        demo__say(d, "t=%2ds  %lld readings committed (%+lld)", s, (long long)(now - base),
                  (long long)(now - n));
        n = now;
        int64_t ran = ef_mono_ms() - t0;
        if (ran >= wait_ms && n - base >= DEMO__AGENTS)
            break;
        if (ran > wait_ms + 30000)
            return demo__fail(d, EF_ETIMEDOUT, "only %lld readings were committed in %lld s; "
                              "see %s/ingest.log and %s/demo-agent-lab-d1.log",
                              (long long)(n - base),
                              (long long)ran / 1000, d->logs, d->logs);
    }
    double secs = (double)(ef_mono_ms() - t0) / 1000.0;
    demo__say(d, "ingest rate: %.1f readings/s (%lld in %.1f s)", (double)(n - base) / secs,
              (long long)(n - base), secs);
    long st;
    json_t *r = demo__http_json(d, "POST", "/sensor-*/_search",
                                "{\"size\":3,\"sort\":[{\"collected\":\"desc\"}]}", &st);
    json_t *hits = json_object_get(json_object_get(r, "hits"), "hits"), *h;
    size_t i;
    demo__say(d, "the newest readings (POST /sensor-*/_search, sorted by collected):");
    json_array_foreach(hits, i, h) {
        char *src = json_dumps(json_object_get(h, "_source"),
                               JSON_COMPACT | JSON_REAL_PRECISION(15));
        demo__say(d, "  %s  %s", json_string_value(json_object_get(h, "_index")), src);
        free(src);
    }
    json_decref(r);
    json_object_set_new(d->summary, "sensors",
                        json_pack("{s:[s,s,s],s:I,s:f,s:I}", "agents", devices[0], devices[1],
                                  devices[2], "committed", (json_int_t)(n - base), "rate",
                                  (double)(n - base) / secs, "stored", (json_int_t)n));
    return 0;
}

/* ---- 2. the hourly dump: _search and a CSV export ------------------------------------------ */

/* Rows of a CSV file (lines after the header), printing its first lines; -1 when unreadable. */
static int64_t csv_rows(demo *d, const char *path)
{
    ef_buf b = {0};
    if (ef_fs_read(path, (size_t)1 << 30, &b))
        return -1;
    int64_t lines = 0;
    for (size_t i = 0; i < b.len; i++)
        lines += b.data[i] == '\n';
    if (b.len && b.data[b.len - 1] != '\n')
        lines++;
    char *cut = b.data;
    for (int k = 0; cut && k < 3; k++)
        cut = strchr(cut + (k > 0), '\n');
    if (cut)
        *cut = '\0';
    demo__say_lines(d, b.data, "  ");
    ef_buf_release(&b);
    return lines ? lines - 1 : 0;
}

int demo__search_export(demo *d)
{
    demo__step(d, "the hourly dump: the last hour via _search, then exported to CSV");
    char index[32], path[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(index, sizeof index, "sensor-%Y-%m", &tm);
    snprintf(path, sizeof path, "/%s/_search", index);
    const char *q = "{\"size\":10000,\"query\":{\"range\":{\"collected\":{\"gte\":\"now-1h\"}}}}";
    demo__say(d, "POST %s %s   (the query of the old Python CronJob)", path, q);
    long st;
    json_t *r = demo__http_json(d, "POST", path, q, &st);
    json_t *total = json_object_get(json_object_get(json_object_get(r, "hits"), "total"), "value");
    int ok = json_is_integer(total);
    json_int_t hits = json_integer_value(total);
    json_decref(r);
    if (!ok)
        return demo__fail(d, EF_EIO, "POST %s%s answered %ld", d->http, path, st);
    demo__say(d, "hits.total.value = %lld", (long long)hits);

    char name[64], target[4200];
    strftime(name, sizeof name, "demo-%Y%m%d-%H%M%S.csv", &tm);
    if (d->o->export_target)
        snprintf(target, sizeof target, "%s", d->o->export_target);
    else
        snprintf(target, sizeof target, "file://%s/exports", d->o->home);
    char *argv[] = {(char *)d->o->bin, "export", "--from", "now-1h", "--to", "now", "--target",
                    target, "--key-pattern", name, NULL};
    demo__say(d, "edgeflow export --from now-1h --to now --target %s --key-pattern %s", target,
              name);
    char *out = NULL;
    int rc = demo__run_shown(d, "export", argv, &out);
    size_t rows = 0;
    char location[4200] = "";
    if (!rc && (!out || sscanf(out, "exported %zu readings to %4199s", &rows, location) != 2))
        rc = demo__fail(d, EF_EPROTO, "edgeflow export did not say where the file went");
    free(out);
    if (rc)
        return rc;
    json_t *e = json_pack("{s:s,s:I,s:I}", "location", location, "rows", (json_int_t)rows,
                          "search_hits", hits);
    if (!strncmp(location, "file://", 7) || location[0] == '/') {
        const char *file = location[0] == '/' ? location : location + 7;
        demo__say(d, "%s:", file);
        int64_t lines = csv_rows(d, file);
        if (lines != (int64_t)rows) {
            json_decref(e);
            return demo__fail(d, EF_ECORRUPT, "%s has %lld rows, export said %zu", file,
                              (long long)lines, rows);
        }
        json_object_set_new(e, "file", json_string(file));
    }
    json_object_set_new(d->summary, "export", e);
    return 0;
}

/* ---- the summary's tallies ------------------------------------------------------------------ */

int demo__tally(demo *d)
{
    int64_t n = demo__count(d), last = -1;
    for (int i = 0; i < 20 && n != last; i++) { /* until ingest committed what the agents drained */
        ef_sleep_ms(500);
        last = n;
        n = demo__count(d);
    }
    json_t *sens = json_object_get(d->summary, "sensors");
    if (sens && n >= 0)
        json_object_set_new(sens, "stored", json_integer(n));
    json_t *ids = json_array(), *r;
    static const char *const experiments[] = {"SkLearnWineQuality", "EEGLetters"};
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path,
                 "/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s", experiments[i]);
        long st;
        r = demo__http_json(d, "GET", path, NULL, &st);
        json_t *id = json_object_get(json_object_get(r, "experiment"), "experiment_id");
        if (id)
            json_array_append(ids, id);
        json_decref(r);
    }
    r = demo__mlflow(d, "runs/search",
                     json_pack("{s:o,s:i}", "experiment_ids", ids, "max_results", 1000));
    if (!r)
        return EF_EIO;
    json_object_set_new(d->summary, "runs",
                        json_integer((json_int_t)json_array_size(json_object_get(r, "runs"))));
    json_decref(r);
    return 0;
}
