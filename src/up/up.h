/* up.h - `edgeflow up`: the whole platform on one machine, as one supervised process tree.
 *
 * Children, started in this order, each waited for before the next:
 *   mosquitto  (unless an external broker is given) generated config under HOME/mosquitto/,
 *              up when its port accepts connections;
 *   server     `edgeflow server --serve` (tracking + registry + store API + model server), up
 *              when /health answers 200;
 *   ingest     `edgeflow ingest --mqtt <broker>`, up when its log says it subscribed;
 *   export     `edgeflow export --every ...` (unless the interval is 0).
 * Each child's stdout/stderr is appended to HOME/logs/<name>.log; the supervisor logs to stderr
 * and HOME/logs/up.log. HOME/up.json says what runs where ({pid, http, mqtt, home, logs,
 * children:[{name, pid, restarts}]}, replaced atomically on every change, removed on exit);
 * HOME/up.lock (flock, held for the whole run) keeps a second supervisor off the same data dir.
 *
 * Crashed children (non-zero exit or a signal) restart after a back-off of 1 s doubling to 60 s,
 * reset once a child has run for 60 s. SIGTERM/SIGINT stop ingest first (it commits its open
 * batch), then export, server and mosquitto, each with SIGTERM and, after the stop timeout,
 * SIGKILL.
 */
#ifndef EF_UP_UP_H
#define EF_UP_UP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_up_options {
    const char *home;          /* data dir, created when missing; required */
    const char *exe;           /* edgeflow binary for the children; NULL: /proc/self/exe */
    const char *mosquitto;     /* broker program; NULL: "mosquitto" from PATH */
    const char *listen;        /* HTTP bind address; NULL: 127.0.0.1 */
    int port;                  /* HTTP port, 1..65535 */
    const char *mqtt_url;      /* external broker mqtt://host:port; NULL or "": spawn mosquitto */
    int mqtt_port;             /* 0: the previous run's port if free, else 1883, else any */
    const char *mqtt_listen;   /* mosquitto's listener address; NULL: 127.0.0.1 */
    int64_t export_every_ms;   /* 0: no export child */
    const char *export_target; /* NULL: file://HOME/exports */
    int64_t stop_timeout_ms;   /* per child, SIGTERM -> SIGKILL */
    int64_t log_max_size;      /* rotate a log to <name>.log.1 above this many bytes; 0: never */
    const char *log_level;     /* passed to the children; NULL: the supervisor's own level */
} ef_up_options;

/* Runs the platform until SIGTERM/SIGINT (installs base/sig.h's handlers) and stops it in
 * order. Prints what runs where, then "edgeflow up: ready", on stdout.
 * Returns 0 after an orderly stop; EF_EEXIST when another `up` runs on the same data dir;
 * EF_EINVAL for bad options; EF_EIO when the data dir is unusable, a port is taken or a child
 * failed to start. On error, err (n bytes) gets one line saying what to do next. */
int ef_up_run(const ef_up_options *o, char *err, size_t n);

#endif
