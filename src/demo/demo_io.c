/* demo_io.c - what `edgeflow demo` needs around its steps: narration on stdout, a small HTTP
 * client over libcurl (the demo talks to `up` the way a user's curl would), and child processes
 * (every step runs the edgeflow binary itself, so the demo shows real commands).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/proc.h"
#include "base/sig.h"
#include "demo/demo_int.h"

void demo__step(demo *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("\n%s==> [%d/%d] ", d->o->color ? "\033[1m" : "", d->step, DEMO__STEPS);
    vprintf(fmt, ap);
    printf("%s\n", d->o->color ? "\033[0m" : "");
    va_end(ap);
    fflush(stdout);
}

void demo__say(demo *d, const char *fmt, ...)
{
    (void)d;
    va_list ap;
    va_start(ap, fmt);
    fputs("    ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

int demo__fail(demo *d, int rc, const char *fmt, ...)
{
    if (d->err[0])
        return rc; /* the first failure is the one worth reading */
    int n = d->step ? snprintf(d->err, d->errlen, "step %d: ", d->step) : 0;
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < d->errlen)
        vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

typedef struct http_sink {
    ef_buf body;
    char *version; /* 32 bytes or NULL */
    int oom;
} http_sink;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    http_sink *k = ctx;
    if (ef_buf_append(&k->body, p, size * n)) {
        k->oom = 1;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    http_sink *k = ctx;
    size_t len = size * n, key = sizeof "X-Model-Version:" - 1;
    if (k->version && len > key && !strncasecmp(p, "X-Model-Version:", key)) {
        const char *v = p + key;
        size_t vl = len - key;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(k->version, 32, "%.*s", (int)vl, v);
    }
    return len;
}

int demo__http(demo *d, const char *method, const char *path, const char *body, long *status,
               char **resp, char version[32])
{
    *status = 0;
    if (resp)
        *resp = NULL;
    if (version)
        version[0] = '\0';
    char url[2048];
    snprintf(url, sizeof url, "%s%s", d->http, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    http_sink k = {.version = version};
    int rc = EF_ENOMEM;
    if (!c || !hdr)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &k);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    if (k.oom)
        goto out;
    rc = EF_EIO;
    if (cc != CURLE_OK)
        goto out;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    rc = ef_buf_append(&k.body, "", 1); /* NUL-terminated */
    if (!rc && resp) {
        *resp = k.body.data;
        k.body = (ef_buf){0};
    }
out:
    ef_buf_release(&k.body);
    curl_slist_free_all(hdr);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

json_t *demo__http_json(demo *d, const char *method, const char *path, const char *body,
                        long *status)
{
    char *text = NULL;
    if (demo__http(d, method, path, body, status, &text, NULL) || *status / 100 != 2) {
        free(text);
        return NULL;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    return doc;
}

/* ---- MLflow REST and commands shown -------------------------------------------------- */

void demo__say_lines(demo *d, const char *text, const char *prefix)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        int len = nl ? (int)(nl - text) : (int)strlen(text);
        if (len)
            demo__say(d, "%s%.*s", prefix, len, text);
        text += len + (nl != NULL);
    }
}

/* POST /api/2.0/mlflow/<endpoint> with req (stolen); the answer, or NULL after demo__fail. */
json_t *demo__mlflow(demo *d, const char *endpoint, json_t *req)
{
    char path[256], *body = req ? json_dumps(req, JSON_COMPACT) : NULL, *text = NULL;
    snprintf(path, sizeof path, "/api/2.0/mlflow/%s", endpoint);
    long st = 0;
    json_t *doc = NULL;
    if (body && !demo__http(d, "POST", path, body, &st, &text, NULL))
        doc = json_loads(text, 0, NULL);
    if (st != 200 || !doc) {
        demo__fail(d, EF_EIO, "%s answered %ld: %.200s", path, st, text ? text : "(nothing)");
        json_decref(doc);
        doc = NULL;
    }
    free(body);
    free(text);
    json_decref(req);
    return doc;
}

/* Runs `edgeflow <argv...>` to its end, prints its stdout indented; fails the step otherwise. */
int demo__run_shown(demo *d, const char *log, char *const argv[], char **out)
{
    char *text = NULL;
    int st = demo__run(d, log, argv, &text);
    demo__say_lines(d, text, "| ");
    if (out)
        *out = text;
    else
        free(text);
    if (st == 0)
        return 0;
    return demo__fail(d, EF_EIO, "`edgeflow %s` %s %d; its log: %s/demo-%s.log", argv[1],
                      st < 0 ? "was interrupted or could not start" : "exited with status",
                      st, d->logs, log);
}

/* ---- child processes (base/proc.h: own process group, parent-death signal) --------------- */

static void log_path(demo *d, const char *log, char *out, size_t len)
{
    snprintf(out, len, "%s/demo-%s.log", d->logs, log); /* apart from up's own logs */
}

pid_t demo__spawn(demo *d, const char *log, char *const argv[], int detached)
{
    char path[4200];
    pid_t pid;
    log_path(d, log, path, sizeof path);
    int rc = detached ? ef_proc_spawn_detached(argv, path, &pid) : ef_proc_spawn(argv, path, &pid);
    return rc ? -1 : pid;
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int demo__alive(pid_t pid, int *status)
{
    int st = 0, rc = ef_proc_reap(pid, &st);
    if (rc == 0)
        return 1;
    if (status)
        *status = rc == 1 ? exit_code(st) : -1;
    return 0;
}

int demo__stop(pid_t pid, int64_t timeout_ms)
{
    int st = 0;
    return pid > 0 && ef_proc_stop(pid, timeout_ms, &st) > 0 ? exit_code(st) : -1;
}

int demo__run(demo *d, const char *log, char *const argv[], char **out)
{
    char path[4200];
    int pipefd[2] = {-1, -1}, rc = -1, st = -1;
    pid_t pid;
    ef_buf text = {0};
    log_path(d, log, path, sizeof path);
    if (pipe2(pipefd, O_CLOEXEC) || ef_proc_spawn_out(argv, path, pipefd[1], &pid))
        goto out;
    close(pipefd[1]);
    pipefd[1] = -1;
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    int reading = 1;
    for (;;) {
        char chunk[4096];
        ssize_t n;
        while (reading && (n = read(pipefd[0], chunk, sizeof chunk)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break; /* EAGAIN: nothing more for now */
            if (ef_buf_append(&text, chunk, (size_t)n))
                reading = 0; /* out of memory: keep reaping, the text is lost */
        }
        if (!demo__alive(pid, &st))
            break;
        if (ef_sig_stop_requested()) {
            demo__stop(pid, 5000);
            st = -1;
            break;
        }
        ef_sleep_ms(20);
    }
    while (reading && st >= 0) { /* what the child wrote just before exiting */
        char chunk[4096];
        ssize_t n = read(pipefd[0], chunk, sizeof chunk);
        if (n <= 0 || ef_buf_append(&text, chunk, (size_t)n))
            break;
    }
    rc = st;
    if (out && !ef_buf_append(&text, "", 1)) {
        *out = text.data;
        text = (ef_buf){0};
    }
out:
    ef_buf_release(&text);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    return rc;
}
