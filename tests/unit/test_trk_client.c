/* Unit tests for the tracking client (src/tracking/client.c).
 *
 * Local tests (no server): models:/ URI rules, tracking URI checks, transport errors with and
 * without retries, artifact round trips through a file:// store, path refusals.
 * Server tests: a real `edgeflow server` (EDGEFLOW_BIN, else <build>/edgeflow next to this test's
 * build tree) started on a free port with its own EDGEFLOW_HOME, driven through the notebook
 * flow: experiments, runs with system tags, params/metrics/tags (log-batch chunking checked by
 * counting what the server holds), artifacts through the proxy, model registry and every
 * models:/ form, and MLflow's error codes coming back as EF codes with the server's message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "tracking/client.h"

#if defined(__GNUC__) && !defined(__clang__)
/* Test paths live under a short mkdtemp root; gcc cannot see that. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* ---- helpers -------------------------------------------------------------------------------- */

/* Asserts a client call succeeded, printing the client's error message when it did not. */
#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) print_message("%s: %s\n", ef_strerror(rc_), e.message);                     \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

static char tmproot[64];

static void write_file(const char *dir, const char *rel, const void *data, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    assert_int_equal(ef_fs_mkdir_p(p), 0);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A model-like tree: text, a 300 KB binary, nested directories. */
static void make_tree(const char *dir)
{
    static unsigned char bin[300000];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof bin; i++) {
        x = x * 1103515245u + 12345u;
        bin[i] = (unsigned char)(x >> 16);
    }
    write_file(dir, "MLmodel", "flavors:\n  edgeflow: {}\n", 23);
    write_file(dir, "model.bin", bin, sizeof bin);
    write_file(dir, "metadata/conda.yaml", "name: x\n", 8);
    write_file(dir, "metadata/deep/er/a b.txt", "space name", 10);
}

static void assert_same_file(const char *a, const char *b)
{
    ef_buf x, y;
    ef_buf_init(&x);
    ef_buf_init(&y);
    assert_int_equal(ef_fs_read(a, 1 << 24, &x), 0);
    assert_int_equal(ef_fs_read(b, 1 << 24, &y), 0);
    assert_int_equal(x.len, y.len);
    assert_true(x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    ef_buf_release(&x);
    ef_buf_release(&y);
}

static void assert_same_tree(const char *a, const char *b)
{
    static const char *const files[] = {"MLmodel", "model.bin", "metadata/conda.yaml",
                                        "metadata/deep/er/a b.txt"};
    char pa[512], pb[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        assert_same_file(pa, pb);
    }
}

static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- local tests ---------------------------------------------------------------------------- */

static void test_models_uri(void **state)
{
    (void)state;
    ef_tc_models_uri u;
    ef_tc_error e;
    assert_int_equal(ef_tc_models_uri_parse("models:/wine/3", &u, &e), 0);
    assert_string_equal(u.name, "wine");
    assert_string_equal(u.version, "3");
    assert_string_equal(u.stage, "");
    assert_int_equal(ef_tc_models_uri_parse("models:/wine/Production", &u, &e), 0);
    assert_string_equal(u.stage, "Production");
    assert_string_equal(u.version, "");
    assert_int_equal(ef_tc_models_uri_parse("models:/wine/LATEST", &u, &e), 0);
    assert_true(u.latest);
    assert_int_equal(ef_tc_models_uri_parse("models:/wine@champion", &u, &e), 0);
    assert_string_equal(u.name, "wine");
    assert_string_equal(u.alias, "champion");
    assert_int_equal(ef_tc_models_uri_parse("models:/a@b@c", &u, &e), 0); /* rsplit('@', 1) */
    assert_string_equal(u.name, "a@b");
    assert_string_equal(u.alias, "c");
    assert_int_equal(ef_tc_models_uri_parse("models://profile/m/1", &u, &e), 0);
    assert_string_equal(u.name, "m");
    static const char *const bad[] = {"models:/",        "models:/m/",       "models:/m/1/2",
                                      "models:m/1",      "runs:/abc/model",  "models:/@alias",
                                      "models:/m@",      "models:/ /1",      "models:/m",
                                      "models:/m/1?x=1", "MODELS:/m/1",      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ef_tc_models_uri_parse(bad[i], &u, &e), EF_EINVAL);
        assert_non_null(strstr(e.message, "Not a proper models:/ URI"));
    }
}

static void test_new_checks_uri(void **state)
{
    (void)state;
    ef_tc_error e;
    ef_tc_options o = {0};
    unsetenv("MLFLOW_TRACKING_URI");
    assert_null(ef_tc_new(NULL, &e));
    assert_non_null(strstr(e.message, "MLFLOW_TRACKING_URI"));
    static const char *const bad[] = {"file:///tmp/mlruns", "databricks", "http://", "http:///x",
                                      "ftp://h:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.tracking_uri = bad[i];
        assert_null(ef_tc_new(&o, &e));
        assert_int_equal(e.http_status, 0);
        assert_true(e.message[0] != 0);
    }
    setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000//", 1);
    ef_tc *c = ef_tc_new(NULL, &e);
    assert_non_null(c);
    assert_string_equal(ef_tc_uri(c), "http://127.0.0.1:5000");
    ef_tc_free(c);
    unsetenv("MLFLOW_TRACKING_URI");
}

static void test_connection_refused(void **state)
{
    (void)state;
    char uri[64];
    ef_tc_error e;
    char *id = NULL;
    snprintf(uri, sizeof uri, "http://127.0.0.1:%u", (unsigned)closed_port());
    ef_tc_options o = {.tracking_uri = uri, .max_retries = -1};
    ef_tc *c = ef_tc_new(&o, &e);
    assert_non_null(c);
    assert_int_equal(ef_tc_experiment_get_by_name(c, "x", &id, &e), EF_EIO);
    assert_null(id);
    assert_int_equal(e.http_status, 0);
    assert_non_null(strstr(e.message, "experiments/get-by-name"));
    ef_tc_free(c);
    /* With retries the back-off is spent before giving up (3 retries from 40 ms: >= 210 ms). */
    ef_tc_options o2 = {.tracking_uri = uri, .max_retries = 3, .backoff_ms = 40};
    c = ef_tc_new(&o2, &e);
    int64_t t0 = ef_mono_ms();
    assert_int_equal(ef_tc_log_metric(c, "r", "k", 1.0, 0, 0, &e), EF_EIO);
    assert_true(ef_mono_ms() - t0 >= 200);
    ef_tc_free(c);
}

static void test_file_artifacts(void **state)
{
    (void)state;
    char src[256], store[256], uri[300], dst[256], p[512], q[512];
    ef_tc_error e;
    ef_tc_options o = {.tracking_uri = "http://127.0.0.1:1", .max_retries = -1};
    ef_tc *c = ef_tc_new(&o, &e);
    assert_non_null(c);
    snprintf(src, sizeof src, "%s/src", tmproot);
    snprintf(store, sizeof store, "%s/store/1/abc/artifacts", tmproot);
    snprintf(dst, sizeof dst, "%s/out/model", tmproot);
    make_tree(src);
    snprintf(uri, sizeof uri, "file://%s", store);
    OK(ef_tc_artifacts_upload(c, uri, "model", src, &e));
    snprintf(p, sizeof p, "%s/model", store);
    assert_same_tree(src, p);
    /* a single file keeps its name; a plain path works like file:// */
    snprintf(p, sizeof p, "%s/MLmodel", src);
    OK(ef_tc_artifacts_upload(c, store, "extra/", p, &e));
    snprintf(q, sizeof q, "%s/extra/MLmodel", store);
    assert_same_file(p, q);
    /* download a directory, then again over the existing copy (swapped in whole) */
    OK(ef_tc_artifacts_download(c, uri, "model", dst, &e));
    assert_same_tree(src, dst);
    snprintf(p, sizeof p, "%s/stale.txt", dst);
    write_file(dst, "stale.txt", "old", 3);
    OK(ef_tc_artifacts_download(c, uri, "model", dst, &e));
    assert_same_tree(src, dst);
    assert_false(ef_fs_exists(p));
    /* a single file lands as <dir>/<name> */
    snprintf(q, sizeof q, "%s/out/one", tmproot);
    OK(ef_tc_artifacts_download(c, uri, "model/metadata/conda.yaml", q, &e));
    snprintf(p, sizeof p, "%s/conda.yaml", q);
    snprintf(dst, sizeof dst, "%s/metadata/conda.yaml", src);
    assert_same_file(dst, p);
    /* refusals */
    assert_int_equal(ef_tc_artifacts_download(c, uri, "nope", q, &e), EF_ENOTFOUND);
    snprintf(p, sizeof p, "%s/conda.yaml", q); /* the earlier download is untouched */
    assert_true(ef_fs_exists(p));
    assert_int_equal(ef_tc_artifacts_upload(c, uri, "../../escape", src, &e), EF_EINVAL);
    assert_int_equal(ef_tc_artifacts_download(c, uri, "model/../..", q, &e), EF_EINVAL);
    assert_int_equal(ef_tc_artifacts_upload(c, "ftp://h/x", NULL, src, &e), EF_EUNSUPPORTED);
    assert_int_equal(ef_tc_artifacts_upload(c, uri, NULL, "/nonexistent/file", &e),
                     EF_ENOTFOUND);
    /* no temp directories left behind */
    snprintf(p, sizeof p, "%s/out", tmproot);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s | grep tmp)\"", p);
    assert_int_equal(system(cmd), 0);
    ef_tc_free(c);
}

/* ---- server --------------------------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    char home[128];
    char log[160];
    char uri[64];
} server;

static server srv;

static void server_binary(char *out, size_t n)
{
    const char *env = getenv("EDGEFLOW_BIN");
    char self[PATH_MAX];
    ssize_t k;
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = 0;
    char *slash = strrchr(self, '/'); /* <build>/src/tracking/test_trk_client */
    if (slash) *slash = 0;
    snprintf(out, n, "%s/../../edgeflow", self);
}

static int server_start(void **state)
{
    (void)state;
    char bin[PATH_MAX + 32];
    server_binary(bin, sizeof bin);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "test_trk_client: edgeflow binary not found at %s (set EDGEFLOW_BIN or "
                        "build the edgeflow target)\n", bin);
        return -1;
    }
    snprintf(srv.home, sizeof srv.home, "%s/home", tmproot);
    snprintf(srv.log, sizeof srv.log, "%s/server.log", tmproot);
    if (ef_fs_mkdir_p(srv.home) != 0) return -1;
    srv.pid = fork();
    if (srv.pid < 0) return -1;
    if (srv.pid == 0) {
        int fd = open(srv.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("EDGEFLOW_HOME", srv.home, 1);
        execl(bin, "edgeflow", "server", "--port", "0", (char *)NULL);
        _exit(127);
    }
    int64_t end = ef_mono_ms() + 30000;
    while (ef_mono_ms() < end) {
        ef_buf b;
        ef_buf_init(&b);
        ef_fs_read(srv.log, 1 << 20, &b);
        const char *l = b.data ? strstr(b.data, "listening on ") : NULL;
        const char *h = l ? strstr(l, "://127.0.0.1:") : NULL;
        if (h) {
            snprintf(srv.uri, sizeof srv.uri, "http://127.0.0.1:%d", atoi(h + 13));
            ef_buf_release(&b);
            return 0;
        }
        ef_buf_release(&b);
        if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {
            srv.pid = 0;
            break;
        }
        ef_sleep_ms(50);
    }
    fprintf(stderr, "test_trk_client: the server did not start; see %s\n", srv.log);
    return -1;
}

static int server_stop(void **state)
{
    (void)state;
    if (srv.pid > 0) {
        kill(srv.pid, SIGTERM);
        int64_t end = ef_mono_ms() + 10000;
        while (waitpid(srv.pid, NULL, WNOHANG) == 0 && ef_mono_ms() < end)
            ef_sleep_ms(20);
        if (ef_mono_ms() >= end) {
            kill(srv.pid, SIGKILL);
            waitpid(srv.pid, NULL, 0);
        }
        srv.pid = 0;
    }
    return 0;
}

static ef_tc *client(void)
{
    ef_tc_error e;
    ef_tc_options o = {.tracking_uri = srv.uri, .max_retries = 2, .backoff_ms = 50};
    ef_tc *c = ef_tc_new(&o, &e);
    assert_non_null(c);
    return c;
}

static void test_experiments(void **state)
{
    (void)state;
    ef_tc *c = client();
    ef_tc_error e;
    char *id = NULL, *id2 = NULL;
    assert_int_equal(ef_tc_experiment_get_by_name(c, "tc-exp", &id, &e), EF_ENOTFOUND);
    assert_int_equal(e.http_status, 404);
    assert_string_equal(e.error_code, "RESOURCE_DOES_NOT_EXIST");
    assert_non_null(strstr(e.message, "RESOURCE_DOES_NOT_EXIST: "));
    OK(ef_tc_experiment_get_or_create(c, "tc-exp", &id, &e));
    OK(ef_tc_experiment_get_or_create(c, "tc-exp", &id2, &e));
    assert_string_equal(id, id2);
    free(id2);
    assert_int_equal(ef_tc_experiment_create(c, "tc-exp", NULL, &id2, &e), EF_EEXIST);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.error_code, "RESOURCE_ALREADY_EXISTS");
    assert_null(id2);
    OK(ef_tc_experiment_get_by_name(c, "Default", &id2, &e));
    assert_string_equal(id2, "0");
    free(id);
    free(id2);
    ef_tc_free(c);
}

static void test_run_logging(void **state)
{
    (void)state;
    ef_tc *c = client();
    ef_tc_error e;
    ef_tc_run run, child, got;
    char *exp = NULL;
    json_t *hist = NULL;
    OK(ef_tc_experiment_get_or_create(c, "tc-runs", &exp, &e));
    ef_tc_tag extra[] = {{"project", "edge"}};
    ef_tc_run_create_opts ro = {.experiment_id = exp, .run_name = "parent", .user = "tester",
                                .tags = extra, .ntags = 1};
    OK(ef_tc_run_create(c, &ro, &run, &e));
    assert_int_equal(strlen(run.run_id), 32);
    assert_string_equal(run.status, "RUNNING");
    assert_string_equal(run.run_name, "parent");
    assert_string_equal(run.user_id, "tester");
    assert_non_null(run.artifact_uri);
    assert_true(strncmp(run.artifact_uri, "mlflow-artifacts:/", 18) == 0);
    ef_tc_run_create_opts co = {.experiment_id = exp, .run_name = "child",
                                .parent_run_id = run.run_id};
    OK(ef_tc_run_create(c, &co, &child, &e));

    OK(ef_tc_log_param(c, run.run_id, "alpha", "0.5", &e));
    OK(ef_tc_log_param(c, run.run_id, "alpha", "0.5", &e));
    assert_int_equal(ef_tc_log_param(c, run.run_id, "alpha", "0.7", &e), EF_EINVAL);
    assert_string_equal(e.error_code, "INVALID_PARAMETER_VALUE");
    OK(ef_tc_log_metric(c, run.run_id, "rmse", 0.74, 0, 0, &e));
    OK(ef_tc_log_metric(c, run.run_id, "nan", NAN, 0, 0, &e));
    OK(ef_tc_set_tag(c, run.run_id, "stage", "test", &e));
    assert_int_equal(ef_tc_log_metric(c, "0123456789abcdef0123456789abcdef", "m", 1, 0, 0, &e),
                     EF_ENOTFOUND);
    assert_int_equal(e.http_status, 404);

    /* 2500 metrics, 150 params, 120 tags: several requests within MLflow's limits */
    enum { NM = 2500, NP = 150, NT = 120 };
    static ef_tc_metric m[NM];
    static ef_tc_tag p[NP], t[NT];
    static char pk[NP][16], tk[NT][16];
    for (int i = 0; i < NM; i++)
        m[i] = (ef_tc_metric){"loss", 1.0 / (i + 1), 1700000000000 + i, i};
    for (int i = 0; i < NP; i++) {
        snprintf(pk[i], sizeof pk[i], "p%03d", i);
        p[i] = (ef_tc_tag){pk[i], pk[i]};
    }
    for (int i = 0; i < NT; i++) {
        snprintf(tk[i], sizeof tk[i], "t%03d", i);
        t[i] = (ef_tc_tag){tk[i], "v"};
    }
    OK(ef_tc_log_batch(c, run.run_id, m, NM, p, NP, t, NT, &e));
    json_t *req = json_pack("{s:s,s:s,s:i}", "run_id", run.run_id, "metric_key", "loss",
                            "max_results", 25000);
    OK(ef_tc_call(c, "GET", "mlflow/metrics/get-history", req, 1, &hist, &e));
    json_decref(req);
    assert_int_equal(json_array_size(json_object_get(hist, "metrics")), NM);
    json_decref(hist);

    ef_tc_dataset ds = {.name = "wine", .digest = "abc123", .source_type = "local",
                        .source = "{\"uri\": \"/data/wine.csv\"}", .context = "training"};
    OK(ef_tc_log_inputs(c, run.run_id, &ds, 1, &e));
    char model_json[256];
    snprintf(model_json, sizeof model_json,
             "{\"run_id\": \"%s\", \"artifact_path\": \"model\", \"utc_time_created\": "
             "\"2026-11-22 12:00:00.000000\", \"flavors\": {}}",
             run.run_id);
    OK(ef_tc_log_model(c, run.run_id, model_json, &e));

    OK(ef_tc_run_get(c, run.run_id, &got, &e));
    assert_string_equal(ef_tc_run_param(&got, "alpha"), "0.5");
    assert_string_equal(ef_tc_run_param(&got, "p149"), "p149");
    assert_string_equal(ef_tc_run_tag(&got, "t119"), "v");
    assert_string_equal(ef_tc_run_tag(&got, "project"), "edge");
    assert_string_equal(ef_tc_run_tag(&got, "mlflow.runName"), "parent");
    assert_string_equal(ef_tc_run_tag(&got, "mlflow.user"), "tester");
    assert_string_equal(ef_tc_run_tag(&got, "mlflow.source.type"), "LOCAL");
    assert_non_null(strstr(ef_tc_run_tag(&got, "mlflow.source.name"), "test_trk_client"));
    assert_non_null(ef_tc_run_tag(&got, "mlflow.log-model.history"));
    double v = 0;
    OK(ef_tc_run_metric(&got, "rmse", &v));
    assert_true(v == 0.74);
    OK(ef_tc_run_metric(&got, "nan", &v));
    assert_true(isnan(v));
    OK(ef_tc_run_metric(&got, "loss", &v));
    assert_true(v == 1.0 / NM);
    assert_int_equal(ef_tc_run_metric(&got, "absent", &v), EF_ENOTFOUND);
    json_t *inputs = json_object_get(json_object_get(got.json, "inputs"), "dataset_inputs");
    assert_int_equal(json_array_size(inputs), 1);
    ef_tc_run_release(&got);

    OK(ef_tc_run_get(c, child.run_id, &got, &e));
    assert_string_equal(ef_tc_run_tag(&got, "mlflow.parentRunId"), run.run_id);
    ef_tc_run_release(&got);

    OK(ef_tc_run_end(c, run.run_id, NULL, &e));
    OK(ef_tc_run_get(c, run.run_id, &got, &e));
    assert_string_equal(got.status, "FINISHED");
    assert_true(got.end_time >= got.start_time && got.end_time > 0);
    ef_tc_run_release(&got);
    ef_tc_run_release(&child);
    ef_tc_run_release(&run);
    free(exp);
    ef_tc_free(c);
}

static void test_artifacts_and_registry(void **state)
{
    (void)state;
    ef_tc *c = client();
    ef_tc_error e;
    ef_tc_run run;
    ef_tc_model_version mv;
    char *exp = NULL, src[256], dst[256], uri[128], p[512];
    OK(ef_tc_experiment_get_or_create(c, "tc-models", &exp, &e));
    ef_tc_run_create_opts ro = {.experiment_id = exp, .run_name = "train"};
    OK(ef_tc_run_create(c, &ro, &run, &e));
    snprintf(src, sizeof src, "%s/model-src", tmproot);
    make_tree(src);
    OK(ef_tc_artifacts_upload(c, run.artifact_uri, "model", src, &e));
    snprintf(p, sizeof p, "%s/MLmodel", src);
    OK(ef_tc_artifacts_upload(c, run.artifact_uri, NULL, p, &e));

    /* download through the proxy: directory, runs:/ URI, single file, missing */
    snprintf(dst, sizeof dst, "%s/dl/model", tmproot);
    OK(ef_tc_artifacts_download(c, run.artifact_uri, "model", dst, &e));
    assert_same_tree(src, dst);
    snprintf(uri, sizeof uri, "runs:/%s/model", run.run_id);
    snprintf(dst, sizeof dst, "%s/dl/runs", tmproot);
    OK(ef_tc_artifacts_download(c, uri, NULL, dst, &e));
    assert_same_tree(src, dst);
    snprintf(dst, sizeof dst, "%s/dl/file", tmproot);
    OK(ef_tc_artifacts_download(c, run.artifact_uri, "MLmodel", dst, &e));
    snprintf(p, sizeof p, "%s/MLmodel", dst);
    snprintf(uri, sizeof uri, "%s/MLmodel", src);
    assert_same_file(uri, p);
    snprintf(dst, sizeof dst, "%s/dl/none", tmproot);
    assert_int_equal(ef_tc_artifacts_download(c, run.artifact_uri, "nothing/here", dst, &e),
                     EF_ENOTFOUND);
    assert_false(ef_fs_exists(dst));

    /* registry */
    OK(ef_tc_registered_model_create(c, "tc-wine", &e));
    OK(ef_tc_registered_model_create(c, "tc-wine", &e)); /* exists: fine */
    snprintf(uri, sizeof uri, "runs:/%s/model", run.run_id);
    OK(ef_tc_model_version_create(c, "tc-wine", uri, NULL, 5000, &mv, &e));
    assert_string_equal(mv.version, "1");
    assert_string_equal(mv.status, "READY");
    assert_string_equal(mv.run_id, run.run_id);
    snprintf(p, sizeof p, "%s/model", run.artifact_uri);
    assert_string_equal(mv.source, p);
    ef_tc_model_version_release(&mv);
    OK(ef_tc_model_version_create(c, "tc-wine", uri, NULL, 5000, NULL, &e));
    OK(ef_tc_model_version_transition(c, "tc-wine", "1", "Staging", 0, &mv, &e));
    assert_string_equal(mv.current_stage, "Staging");
    ef_tc_model_version_release(&mv);
    OK(ef_tc_model_version_transition(c, "tc-wine", "1", "Production", 1, NULL, &e));
    assert_int_equal(ef_tc_model_version_transition(c, "tc-wine", "1", "Nope", 0, NULL, &e),
                     EF_EINVAL);
    OK(ef_tc_set_alias(c, "tc-wine", "champion", "1", &e));
    assert_int_equal(ef_tc_set_alias(c, "tc-wine", "latest", "1", &e), EF_EINVAL);

    static const struct {
        const char *uri, *version;
    } forms[] = {{"models:/tc-wine/1", "1"},
                 {"models:/tc-wine/2", "2"},
                 {"models:/tc-wine/Production", "1"},
                 {"models:/tc-wine/production", "1"},
                 {"models:/tc-wine@champion", "1"},
                 {"models:/tc-wine/latest", "2"}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        OK(ef_tc_model_resolve(c, forms[i].uri, &mv, &e));
        assert_string_equal(mv.name, "tc-wine");
        assert_string_equal(mv.version, forms[i].version);
        assert_string_equal(mv.run_id, run.run_id);
        assert_non_null(mv.download_uri);
        assert_non_null(strstr(mv.download_uri, "/model"));
        ef_tc_model_version_release(&mv);
    }
    assert_int_equal(ef_tc_model_resolve(c, "models:/tc-wine/Staging", &mv, &e), EF_ENOTFOUND);
    assert_int_equal(ef_tc_model_resolve(c, "models:/nope/1", &mv, &e), EF_ENOTFOUND);
    assert_string_equal(e.error_code, "RESOURCE_DOES_NOT_EXIST");
    assert_int_equal(ef_tc_model_resolve(c, "models:/tc-wine/9", &mv, &e), EF_ENOTFOUND);

    /* serve's path: download a model by alias */
    snprintf(dst, sizeof dst, "%s/dl/champion", tmproot);
    OK(ef_tc_artifacts_download(c, "models:/tc-wine@champion", NULL, dst, &e));
    assert_same_tree(src, dst);

    OK(ef_tc_run_end(c, run.run_id, "FINISHED", &e));
    ef_tc_run_release(&run);
    free(exp);
    ef_tc_free(c);
}

int main(void)
{
    const struct CMUnitTest local[] = {
        cmocka_unit_test(test_models_uri),
        cmocka_unit_test(test_new_checks_uri),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_file_artifacts),
    };
    const struct CMUnitTest remote[] = {
        cmocka_unit_test(test_experiments),
        cmocka_unit_test(test_run_logging),
        cmocka_unit_test(test_artifacts_and_registry),
    };
    int rc;
    snprintf(tmproot, sizeof tmproot, "/tmp/ef-tc-test-XXXXXX");
    if (!mkdtemp(tmproot)) return 1;
    rc = cmocka_run_group_tests_name("tracking client (local)", local, NULL, NULL);
    rc += cmocka_run_group_tests_name("tracking client (edgeflow server)", remote, server_start,
                                      server_stop);
    if (rc == 0) ef_fs_rm_rf(tmproot);
    return rc ? 1 : 0;
}
