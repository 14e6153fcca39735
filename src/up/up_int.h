/* up_int.h - internals shared by up.c (the supervisor loop) and up_files.c (lock, generated
 * Mosquitto config, up.json, log rotation, readiness probes). */
#ifndef EF_UP_UP_INT_H
#define EF_UP_UP_INT_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/strlist.h"
#include "up/up.h"

enum { UP_MOSQUITTO, UP_SERVER, UP_INGEST, UP_EXPORT, UP_NCHILD };

typedef struct up_child {
    const char *name;
    int enabled;
    ef_strlist argv;         /* argv[0] is the program */
    char log[PATH_MAX + 32]; /* HOME/logs/<name>.log */
    pid_t pid;               /* 0 while not running */
    int restarts;
    int64_t started_ms; /* monotonic */
    int64_t backoff_ms; /* delay before the next restart */
    int64_t restart_at; /* monotonic ms of a scheduled restart; 0: none */
} up_child;

typedef struct up {
    const ef_up_options *o;
    char home[PATH_MAX];
    char logs[PATH_MAX + 8];
    char exe[PATH_MAX];
    char http_host[256]; /* where clients connect (0.0.0.0 -> 127.0.0.1) */
    char http_url[300];
    char mqtt_host[256];
    int mqtt_port;
    char mqtt_url[1100];
    char export_target[PATH_MAX + 16];
    char up_log[PATH_MAX + 16];
    int lock_fd;
    int log_fd;
    up_child c[UP_NCHILD];
} up;

/* Takes HOME/up.lock. EF_EEXIST (err says who holds it) or EF_EIO. */
int up__lock(up *u, char *err, size_t n);
/* 1 when port can be bound on addr right now. */
int up__port_free(const char *addr, int port);
/* Chooses the Mosquitto port (see ef_up_options.mqtt_port). 0 or EF_EIO (err set). */
int up__pick_mqtt_port(up *u, char *err, size_t n);
/* Writes HOME/mosquitto/mosquitto.conf for u->mqtt_port. 0 or EF_EIO. */
int up__write_mosquitto_conf(up *u);
/* Replaces HOME/up.json (temp + rename). 0, EF_ENOMEM or EF_EIO. */
int up__write_state(const up *u);
/* Moves path to path.1 when it is larger than max bytes. copy: copy + truncate instead (for a
 * file a running process keeps appending to; lines written during the copy may be lost). */
void up__rotate(const char *path, int64_t max, int copy);
/* 1 when a TCP connection to host:port succeeds. */
int up__tcp_accepts(const char *host, int port);
/* 1 when GET path on host:port answers 200. */
int up__http_ok(const char *host, int port, const char *path);
/* 1 when the file holds needle after byte offset. */
int up__file_contains(const char *path, int64_t offset, const char *needle);
/* Size of path in bytes, 0 when missing. */
int64_t up__file_size(const char *path);

#endif
