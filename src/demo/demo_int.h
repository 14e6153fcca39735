/* demo_int.h - internals shared by the files of `edgeflow demo` (src/demo/):
 *
 *   demo.c        the run: find or start `up`, the steps in order, the summary, stopping
 *   demo_io.c     narration, a small HTTP client (libcurl), child processes
 *   demo_steps.c  the steps: sensors, search + export, wine grid, prediction, EEG jobs
 */
#ifndef EF_DEMO_DEMO_INT_H
#define EF_DEMO_DEMO_INT_H

#include <jansson.h>
#include <stdarg.h>
#include <sys/types.h>

#include "demo/demo.h"

enum { DEMO__AGENTS = 3, DEMO__STEPS = 6 };

typedef struct demo {
    const ef_demo_opts *o;
    char http[256];           /* the `up`'s base URL, e.g. http://127.0.0.1:8080 */
    char mqtt[256];           /* its broker, mqtt://host:port */
    char logs[4096];          /* <home>/logs */
    pid_t up;                 /* the `up` this demo started, 0 when it attached to one */
    pid_t agents[DEMO__AGENTS];
    int step;                 /* the step being run, 1..DEMO__STEPS */
    json_t *summary;          /* what every step found, written to <home>/demo-summary.json */
    char *err;                /* the caller's error buffer */
    size_t errlen;
} demo;

/* ---- demo_io.c ------------------------------------------------------------------------------ */
/* "==> [n/6] title" (bold on a terminal) and indented detail lines, on stdout. */
void demo__step(demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void demo__say(demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the failure as the demo's one error line ("step n: ...") and returns rc. */
int demo__fail(demo *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An HTTP request to d->http + path: body (JSON text, may be NULL: no body). *status gets the HTTP
 * status (0: no answer); *resp (may be NULL) the answer body (malloc'd, NUL-terminated); version
 * (may be NULL) the X-Model-Version answer header, up to 32 bytes. Returns 0 when an answer came,
 * EF_EIO when none did (connection refused, timeout), EF_ENOMEM. */
int demo__http(demo *d, const char *method, const char *path, const char *body, long *status,
               char **resp, char version[32]);
/* GET/POST expecting a 2xx JSON answer: the parsed document, or NULL (then *status says why). */
json_t *demo__http_json(demo *d, const char *method, const char *path, const char *body,
                        long *status);

/* Prints text line by line, indented, each line after prefix. */
void demo__say_lines(demo *d, const char *text, const char *prefix);
/* POST /api/2.0/mlflow/<endpoint> with req (stolen): the answer, or NULL after demo__fail. */
json_t *demo__mlflow(demo *d, const char *endpoint, json_t *req);
/* Runs an edgeflow command (argv[1] is its name) to its end, prints its stdout indented; *out
 * (may be NULL) gets the stdout. 0, or the step fails naming the command's log. */
int demo__run_shown(demo *d, const char *log, char *const argv[], char **out);

/* Starts a child (argv[0] is the binary) with stdout and stderr appended to <logs>/demo-<log>.log
 * (ef_proc_spawn: its own process group, a parent-death signal; detached: a session of its own
 * and no death signal, to outlive the demo). Its pid, or -1 with errno. */
pid_t demo__spawn(demo *d, const char *log, char *const argv[], int detached);
/* Runs a child to its end: stdout captured into *out (malloc'd, may be NULL: discarded), stderr
 * appended to <logs>/demo-<log>.log. Returns its exit status (0..255), 128+signal, or -1 when
 * it could not be started. Interrupted by SIGINT/SIGTERM (base/sig.h): the child is stopped, -1. */
int demo__run(demo *d, const char *log, char *const argv[], char **out);
/* SIGTERM, then waits up to timeout_ms (then SIGKILL). Returns the exit status as demo__run. */
int demo__stop(pid_t pid, int64_t timeout_ms);
/* 1 while pid has not exited (reaps it when it has; *status then gets its status). */
int demo__alive(pid_t pid, int *status);

/* ---- demo_steps.c, demo_ml.c ------------------------------------------------------------ */
/* Readings in the store (a _count over sensor-* indices), -1 when the store does not answer. */
int64_t demo__count(demo *d);
int demo__sensors(demo *d);
/* After the agents stopped: final counts and the run/model lists for the summary. */
int demo__tally(demo *d);
int demo__search_export(demo *d);
int demo__train_wine(demo *d);
int demo__predict(demo *d);
int demo__eeg_jobs(demo *d);

#endif
