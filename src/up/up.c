/* up.c - the supervisor of `edgeflow up`: builds each child's argv, starts the children in
 * order with readiness checks, restarts crashed ones with back-off, rotates logs, and stops
 * everything in order on SIGTERM/SIGINT. See up.h for the contract, up_files.c for the files.
 *
 * Child states: running (pid > 0) -> exited -> waiting (restart_at set) -> running ...
 * A child that exits 0 on its own was asked to (someone signalled it directly): it is logged
 * and left stopped. The loop is single-threaded and polls every 100 ms: it reaps children
 * without blocking, starts scheduled restarts, and checks log sizes every 10 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/sig.h"
#include "up/up_int.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define RAN_LONG_ENOUGH_MS 60000
#define LOG_CHECK_EVERY_MS 10000

static const char *const child_names[UP_NCHILD] = {"mosquitto", "server", "ingest", "export"};

/* Compact duration for humans: 3600000 -> "1h", 90000 -> "90s", 250 -> "250ms". */
static const char *fmt_duration(int64_t ms, char *buf, size_t n)
{
    if (ms % 3600000 == 0)
        snprintf(buf, n, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0)
        snprintf(buf, n, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, n, "%lldms", (long long)ms);
    return buf;
}

/* Where local clients connect for a listen address: wildcards -> loopback. */
static void client_host(const char *listen, char *out, size_t n)
{
    if (!listen || !*listen || !strcmp(listen, "0.0.0.0"))
        snprintf(out, n, "127.0.0.1");
    else if (!strcmp(listen, "::"))
        snprintf(out, n, "::1");
    else
        snprintf(out, n, "%s", listen);
}

static void url_of(const char *scheme, const char *host, int port, char *out, size_t n)
{
    if (strchr(host, ':'))
        snprintf(out, n, "%s://[%s]:%d", scheme, host, port);
    else
        snprintf(out, n, "%s://%s:%d", scheme, host, port);
}

static int push_all(ef_strlist *l, const char *const *v)
{
    for (; *v; v++)
        if (ef_strlist_push(l, *v) != EF_OK) return EF_ENOMEM;
    return EF_OK;
}

static const char *level_name(void)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    ef_log_level l = ef_log_get_level();
    return l <= EF_LOG_DEBUG ? names[l] : "info";
}

/* The argv of every child. The server child is tracking + registry + store API + the model
 * server (--serve: every model in Production or with alias champion) on one port. */
static int build_argv(up *u)
{
    const ef_up_options *o = u->o;
    const char *lvl = o->log_level ? o->log_level : level_name();
    char port[16], conf[PATH_MAX + 32], every[32];
    snprintf(port, sizeof port, "%d", o->port);
    snprintf(conf, sizeof conf, "%s/mosquitto/mosquitto.conf", u->home);
    fmt_duration(o->export_every_ms, every, sizeof every);
    const char *mosq[] = {o->mosquitto ? o->mosquitto : "mosquitto", "-c", conf, NULL};
    const char *server[] = {u->exe,    "server",      "--serve", "--port", port, "--listen",
                            o->listen, "--log-level", lvl,       NULL};
    const char *ingest[] = {u->exe, "ingest", "--mqtt", u->mqtt_url, "--log-level", lvl, NULL};
    const char *export[] = {u->exe,           "export",      "--every", every, "--target",
                            u->export_target, "--log-level", lvl,       NULL};
    const char *const *argvs[UP_NCHILD] = {mosq, server, ingest, export};
    for (int i = 0; i < UP_NCHILD; i++) {
        up_child *c = &u->c[i];
        if (c->enabled && push_all(&c->argv, argvs[i]) != EF_OK) return EF_ENOMEM;
    }
    return EF_OK;
}

/* Spawns c (rotating its log first when over the limit). 0, or an EF_E* code with err set. */
static int spawn_child(up *u, up_child *c, char *err, size_t n)
{
    char *argv[64];
    size_t k = c->argv.n < 63 ? c->argv.n : 63;
    memcpy(argv, c->argv.v, k * sizeof *argv);
    argv[k] = NULL;
    up__rotate(c->log, u->o->log_max_size, 0);
    int rc = ef_proc_spawn(argv, c->log, &c->pid);
    if (rc != EF_OK) {
        snprintf(err, n, "cannot start %s (%s): %s%s", c->name, argv[0], strerror(errno),
                 rc == EF_ENOTFOUND && c == &u->c[UP_MOSQUITTO]
                     ? "; install mosquitto (apt-get install mosquitto), name it with "
                       "--mosquitto PROGRAM, or pass --mqtt URL"
                     : "");
        c->pid = 0;
        return rc;
    }
    c->started_ms = ef_mono_ms();
    c->restart_at = 0;
    EF_INFO("started %s (pid %d), log %s", c->name, (int)c->pid, c->log);
    return EF_OK;
}

/* Waits until c is ready (per child kind, see up.h) while it keeps running.
 * 0, EF_ECLOSED (it exited: err says how), EF_ETIMEDOUT, EF_EAGAIN (stop requested). */
static int wait_ready(up *u, up_child *c, int64_t log_offset, char *err, size_t n)
{
    int64_t timeout = c == &u->c[UP_INGEST] ? 30000 : 60000;
    int64_t deadline = ef_mono_ms() + timeout;
    for (;;) {
        int st, ready = 0;
        if (ef_proc_reap(c->pid, &st) == 1) {
            char how[64];
            snprintf(err, n, "%s exited while starting (%s); see %s", c->name,
                     ef_proc_describe(st, how, sizeof how), c->log);
            c->pid = 0;
            return EF_ECLOSED;
        }
        if (c == &u->c[UP_MOSQUITTO])
            ready = up__tcp_accepts(u->mqtt_host, u->mqtt_port);
        else if (c == &u->c[UP_SERVER])
            ready = up__http_ok(u->http_host, u->o->port, "/health");
        else if (c == &u->c[UP_INGEST])
            ready = up__file_contains(c->log, log_offset, "subscribed to ");
        else
            ready = ef_mono_ms() - c->started_ms >= 200; /* export: did not die at once */
        if (ready) return EF_OK;
        if (ef_sig_stop_requested()) return EF_EAGAIN;
        if (ef_mono_ms() >= deadline) {
            char d[32];
            snprintf(err, n, "%s did not become ready within %s; see %s", c->name,
                     fmt_duration(timeout, d, sizeof d), c->log);
            return EF_ETIMEDOUT;
        }
        ef_sleep_ms(50);
    }
}

/* Starts every enabled child in order. 0, EF_EAGAIN (stop requested meanwhile) or an error
 * with err set. */
static int start_all(up *u, char *err, size_t n)
{
    for (int i = 0; i < UP_NCHILD; i++) {
        up_child *c = &u->c[i];
        if (!c->enabled) continue;
        if (ef_sig_stop_requested()) return EF_EAGAIN;
        int64_t offset = up__file_size(c->log) > u->o->log_max_size && u->o->log_max_size > 0
                             ? 0
                             : up__file_size(c->log);
        int rc = spawn_child(u, c, err, n);
        if (rc != EF_OK) return EF_EIO;
        rc = wait_ready(u, c, offset, err, n);
        if (rc == EF_ETIMEDOUT && c == &u->c[UP_INGEST]) {
            /* Not fatal: ingest keeps reconnecting; say so and go on. */
            EF_WARN("%s", err);
            rc = EF_OK;
        }
        if (rc != EF_OK) return rc == EF_EAGAIN ? rc : EF_EIO;
        EF_INFO("%s is up", c->name);
    }
    return EF_OK;
}

/* Stops the running children: ingest (commits its open batch) first, then export, server,
 * mosquitto; each SIGTERM, then SIGKILL after the stop timeout. */
static void stop_all(up *u)
{
    static const int order[] = {UP_INGEST, UP_EXPORT, UP_SERVER, UP_MOSQUITTO};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        up_child *c = &u->c[order[k]];
        c->restart_at = 0;
        if (c->pid <= 0) continue;
        int st = 0;
        char how[64];
        int64_t t0 = ef_mono_ms();
        EF_INFO("stopping %s (pid %d)", c->name, (int)c->pid);
        int rc = ef_proc_stop(c->pid, u->o->stop_timeout_ms, &st);
        if (rc == 1)
            EF_INFO("%s stopped (%s) in %.1fs", c->name, ef_proc_describe(st, how, sizeof how),
                    (double)(ef_mono_ms() - t0) / 1000.0);
        else if (rc == 2)
            EF_WARN("%s did not stop within %.1fs of SIGTERM: killed (see %s)", c->name,
                    (double)u->o->stop_timeout_ms / 1000.0, c->log);
        else
            EF_WARN("%s (pid %d) could not be stopped: %s", c->name, (int)c->pid, ef_strerror(rc));
        c->pid = 0;
    }
}

/* A child exited while we were running: schedule its restart (or not, for exit 0). */
static void child_exited(up *u, up_child *c, int status)
{
    char how[64];
    int64_t now = ef_mono_ms(), ran = now - c->started_ms;
    pid_t pid = c->pid;
    c->pid = 0;
    ef_proc_describe(status, how, sizeof how);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        EF_WARN("%s (pid %d) exited on its own (%s) after %.1fs; not restarted (see %s)", c->name,
                (int)pid, how, (double)ran / 1000.0, c->log);
    } else {
        if (ran >= RAN_LONG_ENOUGH_MS) c->backoff_ms = BACKOFF_FIRST_MS;
        c->restart_at = now + c->backoff_ms;
        EF_WARN("%s (pid %d) died (%s) after %.1fs; restarting in %.0fs (see %s)", c->name,
                (int)pid, how, (double)ran / 1000.0, (double)c->backoff_ms / 1000.0, c->log);
        c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    }
    up__write_state(u);
}

/* Opens HOME/logs/up.log (rotated when over the limit) as the logger's copy. */
static int open_up_log(up *u)
{
    up__rotate(u->up_log, u->o->log_max_size, 0);
    int fd = open(u->up_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return EF_EIO;
    ef_log_set_copy_fd(fd);
    if (u->log_fd >= 0) close(u->log_fd);
    u->log_fd = fd;
    return EF_OK;
}

static void check_logs(up *u)
{
    if (u->o->log_max_size <= 0) return;
    for (int i = 0; i < UP_NCHILD; i++)
        if (u->c[i].enabled) up__rotate(u->c[i].log, u->o->log_max_size, 1);
    if (up__file_size(u->up_log) > u->o->log_max_size && open_up_log(u) != EF_OK)
        EF_WARN("cannot reopen %s: %s", u->up_log, strerror(errno));
}

static void supervise(up *u)
{
    int64_t next_log_check = ef_mono_ms() + LOG_CHECK_EVERY_MS;
    while (!ef_sig_stop_requested()) {
        int64_t now = ef_mono_ms();
        for (int i = 0; i < UP_NCHILD; i++) {
            up_child *c = &u->c[i];
            int st;
            if (!c->enabled) continue;
            if (c->pid > 0 && ef_proc_reap(c->pid, &st) == 1) {
                child_exited(u, c, st);
            } else if (c->pid == 0 && c->restart_at && now >= c->restart_at) {
                char err[1024];
                c->restarts++;
                if (spawn_child(u, c, err, sizeof err) == EF_OK) {
                    EF_INFO("restarted %s (pid %d, restart %d)", c->name, (int)c->pid, c->restarts);
                } else {
                    EF_ERROR("%s; trying again in %.0fs", err, (double)c->backoff_ms / 1000.0);
                    c->restart_at = now + c->backoff_ms;
                    c->backoff_ms =
                        c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
                }
                up__write_state(u);
            }
        }
        if (now >= next_log_check) {
            check_logs(u);
            next_log_check = now + LOG_CHECK_EVERY_MS;
        }
        ef_sleep_ms(100);
    }
}

static void print_summary(const up *u)
{
    const ef_up_options *o = u->o;
    char every[32];
    printf("edgeflow up: data dir %s\n", u->home);
    printf("  HTTP         %s  (one port for everything below)\n", u->http_url);
    printf("    health     %s/health   metrics %s/metrics\n", u->http_url, u->http_url);
    printf("    MLflow     MLFLOW_TRACKING_URI=%s  (%s/api/2.0/mlflow/...)\n", u->http_url,
           u->http_url);
    printf("    store      %s/api/v1/series  %s/sensor-*/_search  %s/_bulk\n", u->http_url,
           u->http_url, u->http_url);
    printf("    models     %s/seldon/<namespace>/<model>/api/v1.0/predictions  "
           "%s/v2/models/<model>/infer\n"
           "               (every model in stage Production or with the alias champion)\n",
           u->http_url, u->http_url);
    printf("  MQTT broker  %s%s\n", u->mqtt_url,
           u->c[UP_MOSQUITTO].enabled ? "  (Mosquitto started by up)" : "  (external)");
    printf("    agents     edgeflow agent --mqtt %s --device NAME\n", u->mqtt_url);
    printf("  ingest       sensor/+ -> %s/series.db\n", u->home);
    if (o->export_every_ms > 0)
        printf("  export       every %s -> %s\n", fmt_duration(o->export_every_ms, every, 32),
               u->export_target);
    else
        printf("  export       off (--export-every 0)\n");
    printf("  logs         %s/{up,%s%s}.log\n", u->logs,
           u->c[UP_MOSQUITTO].enabled ? "mosquitto,server,ingest" : "server,ingest",
           u->c[UP_EXPORT].enabled ? ",export" : "");
    printf("  state        %s/up.json   stop: Ctrl-C or kill %d\n", u->home, (int)getpid());
    printf("edgeflow up: ready\n");
    fflush(stdout);
}

/* Resolves the data dir, the logs dir and our own binary. */
static int setup_paths(up *u, char *err, size_t n)
{
    const ef_up_options *o = u->o;
    if (ef_fs_mkdir_p(o->home) != EF_OK || !realpath(o->home, u->home)) {
        snprintf(err, n, "cannot create the data dir %s: %s (set --home or EDGEFLOW_HOME)", o->home,
                 strerror(errno));
        return EF_EIO;
    }
    snprintf(u->logs, sizeof u->logs, "%s/logs", u->home);
    if (ef_fs_mkdir_p(u->logs) != EF_OK) {
        snprintf(err, n, "cannot create %s: %s", u->logs, strerror(errno));
        return EF_EIO;
    }
    snprintf(u->up_log, sizeof u->up_log, "%s/up.log", u->logs);
    if (o->exe) {
        snprintf(u->exe, sizeof u->exe, "%s", o->exe);
    } else {
        ssize_t len = readlink("/proc/self/exe", u->exe, sizeof u->exe - 1);
        if (len <= 0) {
            snprintf(err, n, "cannot find our own binary (/proc/self/exe): %s", strerror(errno));
            return EF_EIO;
        }
        u->exe[len] = '\0';
    }
    /* The children find their stores and databases under the same data dir. */
    if (setenv("EDGEFLOW_HOME", u->home, 1) != 0) return EF_ENOMEM;
    return EF_OK;
}

static int check_options(const ef_up_options *o, char *err, size_t n)
{
    if (!o->home || !*o->home || !o->listen || !o->mqtt_listen) {
        snprintf(err, n, "--home, --listen and --mqtt-listen must not be empty");
        return EF_EINVAL;
    }
    if (o->port < 1 || o->port > 65535 || o->mqtt_port < 0 || o->mqtt_port > 65535) {
        snprintf(err, n, "--port must be 1..65535 and --mqtt-port 0..65535");
        return EF_EINVAL;
    }
    if (o->export_every_ms < 0 || o->stop_timeout_ms <= 0 || o->log_max_size < 0) {
        snprintf(err, n, "--export-every and --log-max-size must be >= 0, --stop-timeout > 0");
        return EF_EINVAL;
    }
    if (o->mqtt_url && *o->mqtt_url && strncmp(o->mqtt_url, "mqtt://", 7) &&
        strncmp(o->mqtt_url, "mqtts://", 8)) {
        snprintf(err, n, "--mqtt must look like mqtt://host:port or mqtts://host:port");
        return EF_EINVAL;
    }
    return EF_OK;
}

/* Everything after the lock: ports, config, children, the loop, the orderly stop. */
static int run_locked(up *u, char *err, size_t n)
{
    const ef_up_options *o = u->o;
    int external = o->mqtt_url && *o->mqtt_url;
    client_host(o->listen, u->http_host, sizeof u->http_host);
    url_of("http", u->http_host, o->port, u->http_url, sizeof u->http_url);
    if (!up__port_free(o->listen, o->port)) {
        snprintf(err, n, "HTTP port %d on %s is in use; choose another --port", o->port, o->listen);
        return EF_EIO;
    }
    if (external) {
        snprintf(u->mqtt_url, sizeof u->mqtt_url, "%s", o->mqtt_url);
    } else {
        if (up__pick_mqtt_port(u, err, n) != EF_OK) return EF_EIO;
        client_host(o->mqtt_listen, u->mqtt_host, sizeof u->mqtt_host);
        url_of("mqtt", u->mqtt_host, u->mqtt_port, u->mqtt_url, sizeof u->mqtt_url);
        if (up__write_mosquitto_conf(u) != EF_OK) {
            snprintf(err, n, "cannot write %s/mosquitto/mosquitto.conf: %s", u->home,
                     strerror(errno));
            return EF_EIO;
        }
    }
    if (o->export_target && *o->export_target)
        snprintf(u->export_target, sizeof u->export_target, "%s", o->export_target);
    else
        snprintf(u->export_target, sizeof u->export_target, "file://%s/exports", u->home);
    for (int i = 0; i < UP_NCHILD; i++) {
        up_child *c = &u->c[i];
        c->name = child_names[i];
        c->enabled = i == UP_MOSQUITTO ? !external : i == UP_EXPORT ? o->export_every_ms > 0 : 1;
        c->backoff_ms = BACKOFF_FIRST_MS;
        snprintf(c->log, sizeof c->log, "%s/%s.log", u->logs, c->name);
    }
    if (build_argv(u) != EF_OK) {
        snprintf(err, n, "out of memory");
        return EF_ENOMEM;
    }
    int rc = start_all(u, err, n);
    if (rc == EF_OK) {
        up__write_state(u);
        print_summary(u);
        EF_INFO("ready: http %s, mqtt %s, data dir %s", u->http_url, u->mqtt_url, u->home);
        supervise(u);
        EF_INFO("stop requested: stopping ingest, export, server, mosquitto in that order");
    } else if (rc == EF_EAGAIN) {
        EF_INFO("stop requested while starting");
        rc = EF_OK;
    } else {
        EF_ERROR("%s", err);
    }
    stop_all(u);
    return rc;
}

int ef_up_run(const ef_up_options *o, char *err, size_t n)
{
    int rc = check_options(o, err, n);
    if (rc != EF_OK) return rc;
    up *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, n, "out of memory");
        return EF_ENOMEM;
    }
    u->o = o;
    u->lock_fd = u->log_fd = -1;
    for (int i = 0; i < UP_NCHILD; i++)
        ef_strlist_init(&u->c[i].argv);
    if ((rc = setup_paths(u, err, n)) != EF_OK) goto out;
    if ((rc = up__lock(u, err, n)) != EF_OK) goto out;
    if (open_up_log(u) != EF_OK) {
        snprintf(err, n, "cannot open %s: %s", u->up_log, strerror(errno));
        rc = EF_EIO;
        goto out;
    }
    ef_sig_install();
    EF_INFO("edgeflow up (pid %d) on %s", (int)getpid(), u->home);
    rc = run_locked(u, err, n);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/up.json", u->home);
    unlink(path);
    if (rc == EF_OK) EF_INFO("all children stopped; exit 0");
out:
    ef_log_set_copy_fd(-1);
    if (u->log_fd >= 0) close(u->log_fd);
    if (u->lock_fd >= 0) close(u->lock_fd); /* releases the lock */
    for (int i = 0; i < UP_NCHILD; i++)
        ef_strlist_release(&u->c[i].argv);
    free(u);
    return rc;
}
