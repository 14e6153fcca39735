/* demo.c - `edgeflow demo`: finds the `edgeflow up` of the data dir (its up.json, its /health) or
 * starts one, runs the six steps of the story in order (demo_steps.c), prints the summary, writes
 * it to <home>/demo-summary.json, and stops what it started: the agents always, the `up` unless
 * --keep-running. The demo only drives the platform through the interfaces a user has (HTTP,
 * MQTT, the edgeflow commands), so every step is also a check that those work together.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/sig.h"
#include "demo/demo_int.h"

/* The port 127.0.0.1 can bind right now: want itself, or the kernel's pick when want is 0;
 * 0 when want is taken. */
static uint16_t bindable_port(uint16_t want)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(want)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t got = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        got = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return got;
}

/* The up.json of the data dir, when its `up` is alive and answers /health: fills d->http/mqtt. */
static int attach(demo *d)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/up.json", d->o->home);
    json_t *up = json_load_file(path, 0, NULL);
    const char *http = json_string_value(json_object_get(up, "http"));
    const char *mqtt = json_string_value(json_object_get(up, "mqtt"));
    json_int_t pid = json_integer_value(json_object_get(up, "pid"));
    int ok = http && mqtt && pid > 0 && kill((pid_t)pid, 0) == 0;
    if (ok) {
        snprintf(d->http, sizeof d->http, "%s", http);
        snprintf(d->mqtt, sizeof d->mqtt, "%s", mqtt);
        long st;
        ok = demo__http(d, "GET", "/health", NULL, &st, NULL, NULL) == 0 && st == 200;
        if (ok)
            demo__say(d, "using the running `edgeflow up` (pid %lld): %s, broker %s",
                      (long long)pid, d->http, d->mqtt);
    }
    json_decref(up);
    return ok;
}

/* Starts `edgeflow up` on the data dir and waits for its up.json and /health (60 s). */
static int start_up(demo *d)
{
    uint16_t port = d->o->port;
    if (!port && !(port = bindable_port(8080)))
        port = bindable_port(0);
    char port_s[16], mqtt_s[16], home_up[4200];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    snprintf(mqtt_s, sizeof mqtt_s, "%u", (unsigned)d->o->mqtt_port);
    snprintf(home_up, sizeof home_up, "%s/up.json", d->o->home);
    const char *target = d->o->export_target;
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)d->o->bin;
    argv[n++] = "up";
    argv[n++] = "--home";
    argv[n++] = (char *)d->o->home;
    argv[n++] = "--port";
    argv[n++] = port_s;
    if (d->o->mqtt_port) {
        argv[n++] = "--mqtt-port";
        argv[n++] = mqtt_s;
    }
    if (target) {
        argv[n++] = "--export-target";
        argv[n++] = (char *)target;
    }
    argv[n] = NULL;
    demo__say(d, "starting: edgeflow up --home %s --port %s   (its output: %s/demo-up.log)",
              d->o->home, port_s, d->logs);
    if ((d->up = demo__spawn(d, "up", argv, d->o->keep_running)) < 0)
        return demo__fail(d, EF_EIO, "cannot start edgeflow up: %s", strerror(errno));
    int64_t end = ef_mono_ms() + 60000;
    while (ef_mono_ms() < end && !ef_sig_stop_requested()) {
        int st;
        if (!demo__alive(d->up, &st)) {
            d->up = 0;
            return demo__fail(d, EF_EIO, "edgeflow up exited with status %d at start; see "
                              "%s/demo-up.log", st, d->logs);
        }
        if (ef_fs_exists(home_up) && attach(d))
            return 0;
        ef_sleep_ms(200);
    }
    return demo__fail(d, EF_ETIMEDOUT, "edgeflow up was not ready within 60 s; see "
                      "%s/demo-up.log", d->logs);
}

static void print_summary(demo *d)
{
    json_t *s = d->summary;
    json_t *sens = json_object_get(s, "sensors"), *exp = json_object_get(s, "export");
    json_t *pred = json_object_get(s, "prediction"), *models = json_object_get(s, "models");
    demo__say(d, "readings stored:  %lld (%s)",
              (long long)json_integer_value(json_object_get(sens, "stored")),
              "GET /sensor-*/_count");
    demo__say(d, "files exported:   %s (%lld rows)",
              json_string_value(json_object_get(exp, "location")),
              (long long)json_integer_value(json_object_get(exp, "rows")));
    demo__say(d, "runs tracked:     %lld   (MLflow clients: MLFLOW_TRACKING_URI=%s)",
              (long long)json_integer_value(json_object_get(s, "runs")), d->http);
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        demo__say(d, "model %-14s version %s, %s", json_string_value(json_object_get(m, "name")),
                  json_string_value(json_object_get(m, "version")),
                  json_string_value(json_object_get(m, "stage")));
        size_t k;
        json_t *url;
        json_array_foreach(json_object_get(m, "urls"), k, url)
            demo__say(d, "    %s", json_string_value(url));
    }
    if (pred)
        demo__say(d, "prediction:       %.6g for the reference wine",
                  json_real_value(json_object_get(pred, "value")));
}

static void stop_agents(demo *d)
{
    for (int i = 0; i < DEMO__AGENTS; i++)
        if (d->agents[i] > 0)
            kill(d->agents[i], SIGTERM); /* they drain their spool in parallel */
    for (int i = 0; i < DEMO__AGENTS; i++)
        if (d->agents[i] > 0)
            demo__stop(d->agents[i], 15000);
    memset(d->agents, 0, sizeof d->agents);
}

static void stop_up(demo *d)
{
    if (d->up > 0 && !d->o->keep_running) {
        demo__say(d, "stopping edgeflow up (SIGTERM: ingest commits its last batch first)");
        int st = demo__stop(d->up, 90000);
        if (st != 0)
            demo__fail(d, EF_EIO, "edgeflow up exited with status %d on SIGTERM; see "
                       "%s/demo-up.log", st, d->logs);
        d->up = 0;
    }
}

int ef_demo_run(const ef_demo_opts *o, char *err, size_t errlen)
{
    demo d = {.o = o, .err = err, .errlen = errlen, .summary = json_object()};
    err[0] = '\0';
    snprintf(d.logs, sizeof d.logs, "%s/logs", o->home);
    int rc = d.summary ? ef_fs_mkdir_p(d.logs) : EF_ENOMEM;
    if (rc) {
        json_decref(d.summary);
        snprintf(err, errlen, "cannot create %s: %s", d.logs, ef_strerror(rc));
        return rc;
    }
    static int (*const steps[])(demo *) = {demo__sensors,   demo__search_export,
                                           demo__train_wine, demo__predict,
                                           demo__eeg_jobs};
    setenv("EDGEFLOW_HOME", o->home, 1); /* the steps' commands use the same data dir */
    printf("edgeflow demo: data dir %s, logs %s\n", o->home, d.logs);
    if (!attach(&d))
        rc = start_up(&d);
    for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
        d.step = (int)i + 1;
        rc = steps[i](&d);
        if (!rc && ef_sig_stop_requested())
            rc = demo__fail(&d, EF_EAGAIN, "interrupted");
    }
    d.step = DEMO__STEPS;
    if (!rc)
        demo__step(&d, "summary (agents stopped: they drain their spools first)");
    stop_agents(&d);
    if (!rc)
        rc = demo__tally(&d);
    if (!rc)
        print_summary(&d);
    stop_up(&d);
    if (!rc && err[0])
        rc = EF_EIO; /* stopping failed */
    json_object_set_new(d.summary, "ok", json_boolean(rc == 0));
    char path[4200];
    snprintf(path, sizeof path, "%s/demo-summary.json", o->home);
    char *text = json_dumps(d.summary, JSON_INDENT(2));
    if (text && ef_fs_write_atomic(path, text, strlen(text), 0) == 0 && !rc)
        demo__say(&d, "all of it as JSON: %s", path);
    free(text);
    if (!rc && o->keep_running && d.up > 0)
        demo__say(&d, "edgeflow up keeps running (pid %d): stop it with kill %d", (int)d.up,
                  (int)d.up);
    json_decref(d.summary);
    return rc;
}
