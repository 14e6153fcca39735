/* Unit tests for the tracking server's artifact repository (src/tracking/artifacts.c,
 * artifact_path.c): the path normaliser against traversal inputs (CVE-style), the Content-Type
 * guess, the local repository (round trips, listing, deletion, atomic overwrite under
 * concurrency, symlink escapes), the S3 repository against s3rver when node is available, and the
 * proxy routes through a real HTTP server (ef_tracking_open + ef_tracking_register). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "http/server.h"
#include "s3/s3.h"
#include "sql/sql.h"
#include "tracking/artifact_path.h"
#include "tracking/tracking.h"
#include "tracking/trk_int.h"

static char g_tmp[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ef-trk-art-XXXXXX");
    assert_non_null(mkdtemp(g_tmp));
    return 0;
}

static int teardown_tmp(void **state)
{
    (void)state;
    ef_fs_rm_rf(g_tmp);
    return 0;
}

/* The folder part of p (modified in place). */
static const char *dirname_of(char *p)
{
    char *slash = strrchr(p, '/');
    if (slash) *slash = '\0';
    return p;
}

static void path_join(char *out, size_t n, const char *a, const char *b)
{
    snprintf(out, n, "%s/%s", a, b);
}

/* --- normaliser
 * ----------------------------------------------------------------------------------- */

static void test_normalize_accepts(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"a/b/c", "a/b/c"},
        {"a//b", "a/b"},
        {"a/./b", "a/b"},
        {"./a/b/", "a/b"},
        {"model/MLmodel", "model/MLmodel"},
        {"1/abc/artifacts/model/metadata/conda.yaml", "1/abc/artifacts/model/metadata/conda.yaml"},
        {"", ""},
        {".", ""},
        {"a/...", "a/..."},
        {"..a/b..", "..a/b.."},
        {"100%", "100%"},
        {"50%zz", "50%zz"},
        {"caf\xc3\xa9.txt", "caf\xc3\xa9.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[TRK_ARTIFACT_PATH_MAX + 1];
        trk_err e = {0};
        assert_int_equal(trk__artifact_path_normalize(cases[i][0], out, sizeof out, &e), 0);
        assert_string_equal(out, cases[i][1]);
    }
    char out[8];
    trk_err e;
    assert_int_equal(trk__artifact_path_normalize(NULL, out, sizeof out, &e), 0);
    assert_string_equal(out, "");
}

static void test_normalize_refuses(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "../../etc/passwd",
        "a/../../b",
        "..",
        "a/..",
        "a/../b",
        "%2e%2e/x",
        "..%2f..%2fetc",
        "%252e%252e%252f",
        "a%2Fb",
        "a%5cb",
        "%2E%2E",
        "/etc/x",
        "//etc/x",
        "a\\..\\b",
        "a\\b",
        "C:/Windows",
        "c:x",
        "file:///etc/passwd",
        "FILE:/etc",
        "a#b",
        "a\nb",
        "a\rb",
        "\x7f",
        "a/\tb",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[TRK_ARTIFACT_PATH_MAX + 1];
        trk_err e = {0};
        if (trk__artifact_path_normalize(cases[i], out, sizeof out, &e) == 0)
            fail_msg("accepted '%s' as '%s'", cases[i], out);
        assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
        assert_string_equal(e.message, "Invalid path");
    }
    /* embedded NUL, over-long segment, output too small */
    char out[TRK_ARTIFACT_PATH_MAX + 1];
    trk_err e;
    assert_int_equal(trk__artifact_path_normalize_n("a\0/../b", 7, out, sizeof out, &e), -1);
    char seg[300];
    memset(seg, 'x', sizeof seg - 1);
    seg[sizeof seg - 1] = '\0';
    assert_int_equal(trk__artifact_path_normalize(seg, out, sizeof out, &e), -1);
    seg[255] = '\0';
    assert_int_equal(trk__artifact_path_normalize(seg, out, sizeof out, &e), 0);
    char small[4];
    assert_int_equal(trk__artifact_path_normalize("abcd", small, sizeof small, &e), -1);
    assert_int_equal(trk__artifact_path_normalize("abc", small, sizeof small, &e), 0);
    assert_string_equal(small, "abc");
}

static void test_mime_types(void **state)
{
    (void)state;
    assert_string_equal(trk__artifact_mime_type("a/b/pred.csv"), "text/plain");
    assert_string_equal(trk__artifact_mime_type("model/MLmodel"), "text/plain");
    assert_string_equal(trk__artifact_mime_type("input_example.json"), "text/plain");
    assert_string_equal(trk__artifact_mime_type("conda.yaml"), "text/plain");
    assert_string_equal(trk__artifact_mime_type("model.pkl"), "application/octet-stream");
    assert_string_equal(trk__artifact_mime_type("plot.PNG"), "image/png");
    assert_string_equal(trk__artifact_mime_type("x/noext"), "application/octet-stream");
    assert_string_equal(trk__artifact_mime_type(".csv"), "application/octet-stream");
    assert_string_equal(trk__artifact_mime_type("report.html"), "text/html");
}

/* --- local repository
 * ------------------------------------------------------------------------------ */

static struct trk_artifacts *open_local(const char *sub)
{
    char root[512], *err = NULL;
    struct trk_artifacts *a = NULL;
    path_join(root, sizeof root, g_tmp, sub);
    int rc = trk__artifacts_open_uri(root, 1, NULL, NULL, 0, &a, &err);
    if (rc != EF_OK) fail_msg("open %s: %s", root, err ? err : "?");
    return a;
}

static void get_expect(struct trk_artifacts *a, const char *path, const char *want)
{
    ef_buf b;
    trk_err e;
    ef_buf_init(&b);
    if (trk__artifacts_get(a, path, &b, &e) != 0) fail_msg("get %s: %s", path, e.message);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data ? b.data : "", want, b.len);
    ef_buf_release(&b);
}

static void test_local_round_trip(void **state)
{
    (void)state;
    struct trk_artifacts *a = open_local("dest");
    trk_err e;
    assert_int_equal(trk__artifacts_put(a, "1/r1/artifacts/model/MLmodel", "flavors: {}\n", 12, &e),
                     0);
    assert_int_equal(trk__artifacts_put(a, "1/r1/artifacts/model/model.pkl", "\x80\x04\0x", 4, &e),
                     0);
    assert_int_equal(trk__artifacts_put(a, "1/r1/artifacts/pred.csv", "a,b\n", 4, &e), 0);
    assert_int_equal(trk__artifacts_put(a, "1/r1/artifacts/empty", "", 0, &e), 0);
    get_expect(a, "1/r1/artifacts/model/MLmodel", "flavors: {}\n");
    get_expect(a, "1//r1/./artifacts/pred.csv", "a,b\n");
    get_expect(a, "1/r1/artifacts/empty", "");
    /* the bytes are where the proxy contract says: <dest>/<path> */
    char p[512];
    snprintf(p, sizeof p, "%s/dest/1/r1/artifacts/model/model.pkl", g_tmp);
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_fs_read(p, 1024, &b), EF_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\x80\x04\0x", 4);
    ef_buf_release(&b);
    /* overwrite */
    assert_int_equal(trk__artifacts_put(a, "1/r1/artifacts/pred.csv", "x,y,z\n", 6, &e), 0);
    get_expect(a, "1/r1/artifacts/pred.csv", "x,y,z\n");

    /* listing: one level, sorted, sizes for files only, no temp files left behind */
    trk_file_list l = {0};
    assert_int_equal(trk__artifacts_list(a, "1/r1/artifacts", &l, &e), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].path, "empty");
    assert_false(l.items[0].is_dir);
    assert_int_equal(l.items[0].size, 0);
    assert_string_equal(l.items[1].path, "model");
    assert_true(l.items[1].is_dir);
    assert_string_equal(l.items[2].path, "pred.csv");
    assert_int_equal(l.items[2].size, 6);
    trk__file_list_release(&l);
    assert_int_equal(trk__artifacts_list(a, "", &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].path, "1");
    trk__file_list_release(&l);
    /* missing folder, or a file: empty, like MLflow */
    assert_int_equal(trk__artifacts_list(a, "nope/deeper", &l, &e), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(trk__artifacts_list(a, "1/r1/artifacts/pred.csv", &l, &e), 0);
    assert_int_equal(l.n, 0);

    /* missing file: 500 INTERNAL_ERROR like MLflow 2.12.2 */
    ef_buf_init(&b);
    assert_int_equal(trk__artifacts_get(a, "1/r1/artifacts/none.txt", &b, &e), -1);
    assert_int_equal(e.code, TRK_INTERNAL_ERROR);
    assert_int_equal(trk__artifacts_get(a, "1/zz/none.txt", &b, &e), -1);
    assert_int_equal(e.code, TRK_INTERNAL_ERROR);
    assert_int_equal(trk__artifacts_get(a, "1/r1/artifacts/model", &b, &e), -1);
    ef_buf_release(&b);
    /* a file cannot replace a folder */
    assert_int_equal(trk__artifacts_put(a, "1/r1/artifacts/model", "x", 1, &e), -1);

    /* delete: a file, a tree, something missing; never the root */
    assert_int_equal(trk__artifacts_delete(a, "1/r1/artifacts/pred.csv", &e), 0);
    assert_int_equal(trk__artifacts_delete(a, "1/r1/artifacts/model", &e), 0);
    assert_int_equal(trk__artifacts_delete(a, "1/r1/artifacts/model", &e), 0);
    assert_int_equal(trk__artifacts_delete(a, "no/such/thing", &e), 0);
    assert_int_equal(trk__artifacts_delete(a, "", &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    assert_int_equal(trk__artifacts_list(a, "1/r1/artifacts", &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].path, "empty");
    trk__file_list_release(&l);
    /* traversal refused by every operation */
    assert_int_equal(trk__artifacts_put(a, "../escape", "x", 1, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    assert_int_equal(trk__artifacts_delete(a, "1/../..", &e), -1);
    assert_int_equal(trk__artifacts_list(a, "/etc", &l, &e), -1);
    snprintf(p, sizeof p, "%s/escape", g_tmp);
    assert_false(ef_fs_exists(p));
    trk__artifacts_free(a);
}

static void test_local_symlinks(void **state)
{
    (void)state;
    struct trk_artifacts *a = open_local("root");
    trk_err e;
    char outside[512], link[512], p[600];
    path_join(outside, sizeof outside, g_tmp, "outside");
    assert_int_equal(ef_fs_mkdir_p(outside), EF_OK);
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    assert_int_equal(ef_fs_write_atomic(p, "secret", 6, 0), EF_OK);
    /* root/evil -> ../outside (a folder link), root/leak.txt -> outside/secret.txt */
    snprintf(link, sizeof link, "%s/root/evil", g_tmp);
    assert_int_equal(symlink(outside, link), 0);
    snprintf(link, sizeof link, "%s/root/leak.txt", g_tmp);
    assert_int_equal(symlink(p, link), 0);

    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(trk__artifacts_get(a, "evil/secret.txt", &b, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    assert_int_equal(trk__artifacts_get(a, "leak.txt", &b, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    assert_int_equal(b.len, 0);
    ef_buf_release(&b);
    assert_int_equal(trk__artifacts_put(a, "evil/planted.txt", "x", 1, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    snprintf(p, sizeof p, "%s/planted.txt", outside);
    assert_false(ef_fs_exists(p));
    assert_int_equal(trk__artifacts_put(a, "evil/deep/planted.txt", "x", 1, &e), -1);
    trk_file_list l = {0};
    assert_int_equal(trk__artifacts_list(a, "evil", &l, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    /* the links are not listed */
    assert_int_equal(trk__artifacts_list(a, "", &l, &e), 0);
    assert_int_equal(l.n, 0);
    trk__file_list_release(&l);
    /* delete removes the link, never what it points to */
    assert_int_equal(trk__artifacts_delete(a, "evil/secret.txt", &e), -1);
    assert_int_equal(trk__artifacts_delete(a, "evil", &e), 0);
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    assert_true(ef_fs_exists(p));
    /* uploading over a link replaces the link, the target is untouched */
    assert_int_equal(trk__artifacts_put(a, "leak.txt", "mine", 4, &e), 0);
    get_expect(a, "leak.txt", "mine");
    ef_buf_init(&b);
    assert_int_equal(ef_fs_read(p, 100, &b), EF_OK);
    assert_int_equal(b.len, 6);
    ef_buf_release(&b);
    trk__artifacts_free(a);
}

typedef struct writer_arg {
    struct trk_artifacts *a;
    char fill;
    int failures;
} writer_arg;

#define BLOB 65536

static void *writer_main(void *p)
{
    writer_arg *w = p;
    char *data = malloc(BLOB);
    memset(data, w->fill, BLOB);
    for (int i = 0; i < 40; i++) {
        trk_err e;
        if (trk__artifacts_put(w->a, "same/blob.bin", data, BLOB, &e) != 0) w->failures++;
    }
    free(data);
    return NULL;
}

static void test_local_concurrent_overwrite(void **state)
{
    (void)state;
    struct trk_artifacts *a = open_local("conc");
    pthread_t th[4];
    writer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (writer_arg){a, (char)('A' + i), 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &args[i]), 0);
    }
    /* a reader never sees a torn file */
    for (int i = 0; i < 40; i++) {
        ef_buf b;
        trk_err e;
        ef_buf_init(&b);
        if (trk__artifacts_get(a, "same/blob.bin", &b, &e) == 0) {
            assert_int_equal(b.len, BLOB);
            for (size_t k = 1; k < b.len; k++)
                if (b.data[k] != b.data[0]) fail_msg("torn read at %zu", k);
        }
        ef_buf_release(&b);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    trk_file_list l = {0};
    trk_err e;
    assert_int_equal(trk__artifacts_list(a, "same", &l, &e), 0);
    assert_int_equal(l.n, 1); /* no temp files left */
    trk__file_list_release(&l);
    trk__artifacts_free(a);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct trk_artifacts *a = NULL;
    char *err = NULL, p[512];
    assert_int_not_equal(trk__artifacts_open_uri("s3://", 1, NULL, NULL, 0, &a, &err), EF_OK);
    assert_non_null(err);
    free(err);
    assert_int_not_equal(trk__artifacts_open_uri("gs://bucket/x", 1, NULL, NULL, 0, &a, &err),
                         EF_OK);
    free(err);
    snprintf(p, sizeof p, "%s/not-there", g_tmp);
    assert_int_equal(trk__artifacts_open_uri(p, 0, NULL, NULL, 0, &a, &err), EF_ENOTFOUND);
    free(err);
    snprintf(p, sizeof p, "file://%s/made-by-uri", g_tmp);
    assert_int_equal(trk__artifacts_open_uri(p, 1, NULL, NULL, 1, &a, &err), EF_OK);
    trk_err e;
    assert_int_equal(trk__artifacts_put(a, "x/y", "durable", 7, &e), 0);
    get_expect(a, "x/y", "durable");
    trk__artifacts_free(a);
    snprintf(p, sizeof p, "%s/made-by-uri/x/y", g_tmp);
    assert_true(ef_fs_exists(p));
    /* no destination: the proxy is off */
    ef_tracking_options opt = {0};
    assert_int_equal(trk__artifacts_open(&opt, &a, &err), EF_OK);
    assert_null(a);
    trk__artifacts_free(NULL);
}

/* --- S3 repository against s3rver ----------------------------------------------------------------
 */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void test_s3_repository(void **state)
{
    (void)state;
    const char *src = getenv("EF_SOURCE_DIR");
    char js[512], dir[512], port_s[16], endpoint[64], *err = NULL;
    snprintf(js, sizeof js, "%s/tests/node_modules/s3rver/bin/s3rver.js", src ? src : ".");
    if (access(js, R_OK) != 0 || system("node --version >/dev/null 2>&1") != 0) {
        skip(); /* no s3rver here: the integration tests cover S3 */
    }
    path_join(dir, sizeof dir, g_tmp, "s3rver");
    assert_int_equal(ef_fs_mkdir_p(dir), EF_OK);
    uint16_t port = free_port();
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execlp("node", "node", js, "-d", dir, "-a", "127.0.0.1", "-p", port_s, "--silent",
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !port_open(port); i++)
        ef_sleep_ms(50);
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%u", (unsigned)port);
    ef_s3_config cfg = {.endpoint = endpoint};
    ef_s3 *s3 = ef_s3_new(&cfg, &err);
    assert_non_null(s3);
    char msg[256];
    assert_int_equal(ef_s3_create_bucket(s3, "arts", msg, sizeof msg), EF_OK);

    struct trk_artifacts *a = NULL;
    assert_int_equal(trk__artifacts_open_uri("s3://arts/pre/fix/", 1, endpoint, NULL, 0, &a, &err),
                     EF_OK);
    trk_err e;
    assert_int_equal(trk__artifacts_put(a, "1/r/artifacts/model/MLmodel", "m: 1\n", 5, &e), 0);
    assert_int_equal(trk__artifacts_put(a, "1/r/artifacts/model/sub/x.bin", "xyz", 3, &e), 0);
    assert_int_equal(trk__artifacts_put(a, "1/r/artifacts/pred.csv", "a\n", 2, &e), 0);
    assert_int_equal(trk__artifacts_put(a, "1/r/artifacts-other.txt", "o", 1, &e), 0);
    get_expect(a, "1/r/artifacts/model/MLmodel", "m: 1\n");
    /* the object is at prefix/path */
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_s3_get(s3, "arts", "pre/fix/1/r/artifacts/pred.csv", &b, msg, sizeof msg),
                     EF_OK);
    assert_int_equal(b.len, 2);
    ef_buf_release(&b);
    trk_file_list l = {0};
    assert_int_equal(trk__artifacts_list(a, "1/r/artifacts", &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].path, "model");
    assert_true(l.items[0].is_dir);
    assert_string_equal(l.items[1].path, "pred.csv");
    assert_int_equal(l.items[1].size, 2);
    trk__file_list_release(&l);
    assert_int_equal(trk__artifacts_list(a, "1/r/artifacts/model", &l, &e), 0);
    assert_int_equal(l.n, 2); /* MLmodel, sub */
    trk__file_list_release(&l);
    ef_buf_init(&b);
    assert_int_equal(trk__artifacts_get(a, "1/r/none", &b, &e), -1);
    assert_int_equal(e.code, TRK_INTERNAL_ERROR);
    ef_buf_release(&b);
    assert_int_equal(trk__artifacts_put(a, "../x", "x", 1, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    /* delete a tree: the sibling "artifacts-other.txt" stays */
    assert_int_equal(trk__artifacts_delete(a, "1/r/artifacts", &e), 0);
    assert_int_equal(trk__artifacts_list(a, "1/r", &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].path, "artifacts-other.txt");
    trk__file_list_release(&l);
    trk__artifacts_free(a);
    ef_s3_free(s3);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* --- the routes through a real server
 * ------------------------------------------------------------- */

typedef struct resp {
    long status;
    ef_buf body;
    char ctype[128];
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    return ef_buf_append(&r->body, p, sz * n) == EF_OK ? sz * n : 0;
}

/* method on path (sent as-is, no dot-segment squashing); body may be NULL. */
static void http(uint16_t port, const char *method, const char *path, const char *body, size_t blen,
                 const char *ctype, resp *out)
{
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    memset(out, 0, sizeof *out);
    ef_buf_init(&out->body);
    if (ctype) {
        char h[160];
        snprintf(h, sizeof h, "Content-Type: %s", ctype);
        hl = curl_slist_append(hl, h);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(out->ctype, sizeof out->ctype, "%s", ct ? ct : "");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static json_t *body_json(resp *r)
{
    json_error_t je;
    json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
    if (!doc) fail_msg("not JSON (%ld): %.*s", r->status, (int)r->body.len, r->body.data);
    return doc;
}

static void expect_error(resp *r, long status, const char *code)
{
    if (r->status != status)
        fail_msg("status %ld, wanted %ld: %.*s", r->status, status, (int)r->body.len, r->body.data);
    json_t *doc = body_json(r);
    assert_string_equal(json_string_value(json_object_get(doc, "error_code")), code);
    json_decref(doc);
    ef_buf_release(&r->body);
}

static void test_http_proxy(void **state)
{
    (void)state;
    char db[512], dest[512], uri[600], p[1024];
    path_join(db, sizeof db, g_tmp, "t.db");
    path_join(dest, sizeof dest, g_tmp, "http-dest");
    snprintf(uri, sizeof uri, "sqlite:%s", db);
    ef_tracking_options opt = {.backend_uri = uri, .artifacts_destination = dest};
    ef_tracking *t = NULL;
    char *err = NULL;
    if (ef_tracking_open(&opt, &t, &err) != EF_OK) fail_msg("ef_tracking_open: %s", err);
    ef_http_config cfg = {.threads = 2, .max_body = 1 << 20, .name = "trk-art"};
    ef_http_server *srv = ef_http_server_new(&cfg);
    assert_non_null(srv);
    assert_int_equal(ef_tracking_register(srv, t), EF_OK);
    assert_int_equal(ef_http_server_start(srv), EF_OK);
    uint16_t port = ef_http_server_port(srv);
    /* two runs: one proxied, one with a folder artifact root */
    ef_sql *sql = NULL;
    assert_int_equal(ef_sql_open(uri, NULL, &sql, &err), EF_OK);
    snprintf(p, sizeof p,
             "INSERT INTO runs(run_uuid, experiment_id, status, lifecycle_stage, artifact_uri) "
             "VALUES ('aaaa', 0, 'RUNNING', 'active', 'mlflow-artifacts:/0/aaaa/artifacts'),"
             " ('bbbb', 0, 'RUNNING', 'active', '%s/folder-root')",
             g_tmp);
    assert_int_equal(ef_sql_exec(sql, p), EF_OK);
    ef_sql_close(sql);

    resp r;
    static const char mlmodel[] = "artifact_path: model\nflavors: {}\n";
    http(port, "PUT", "/api/2.0/mlflow-artifacts/artifacts/0/aaaa/artifacts/model/MLmodel", mlmodel,
         sizeof mlmodel - 1, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *doc = body_json(&r);
    assert_int_equal(json_object_size(doc), 0);
    json_decref(doc);
    ef_buf_release(&r.body);
    http(port, "PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/0/aaaa/artifacts/model.pkl",
         "\x80\x04", 2, "application/octet-stream", &r);
    assert_int_equal(r.status, 200);
    ef_buf_release(&r.body);
    snprintf(p, sizeof p, "%s/0/aaaa/artifacts/model/MLmodel", dest);
    assert_true(ef_fs_exists(p));

    http(port, "GET", "/api/2.0/mlflow-artifacts/artifacts/0/aaaa/artifacts/model/MLmodel", NULL, 0,
         NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain");
    assert_int_equal(r.body.len, sizeof mlmodel - 1);
    assert_memory_equal(r.body.data, mlmodel, r.body.len);
    ef_buf_release(&r.body);
    http(port, "GET", "/api/2.0/mlflow-artifacts/artifacts/0/aaaa/artifacts/model.pkl", NULL, 0,
         NULL, &r);
    assert_string_equal(r.ctype, "application/octet-stream");
    ef_buf_release(&r.body);
    http(port, "GET", "/api/2.0/mlflow-artifacts/artifacts/0/aaaa/artifacts/none.txt", NULL, 0,
         NULL, &r);
    expect_error(&r, 500, "INTERNAL_ERROR");

    /* proxy listing: base names */
    http(port, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=0%2Faaaa%2Fartifacts", NULL, 0,
         NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    json_t *files = json_object_get(doc, "files");
    assert_int_equal(json_array_size(files), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "path")),
                        "model");
    assert_true(json_is_true(json_object_get(json_array_get(files, 0), "is_dir")));
    assert_null(json_object_get(json_array_get(files, 0), "file_size"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 1), "path")),
                        "model.pkl");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(files, 1), "file_size")), 2);
    json_decref(doc);
    ef_buf_release(&r.body);
    http(port, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=nothing%2Fhere", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_null(json_object_get(doc, "files"));
    json_decref(doc);
    ef_buf_release(&r.body);

    /* run listing: run-relative paths and root_uri */
    http(port, "GET", "/api/2.0/mlflow/artifacts/list?run_id=aaaa&path=model", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "root_uri")),
                        "mlflow-artifacts:/0/aaaa/artifacts");
    files = json_object_get(doc, "files");
    assert_int_equal(json_array_size(files), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "path")),
                        "model/MLmodel");
    json_decref(doc);
    ef_buf_release(&r.body);
    http(port, "GET", "/api/2.0/mlflow/artifacts/list?run_uuid=aaaa", NULL, 0, NULL, &r);
    doc = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(doc, "files")), 2);
    json_decref(doc);
    ef_buf_release(&r.body);
    snprintf(p, sizeof p, "%s/folder-root/sub/f.txt", g_tmp);
    assert_int_equal(ef_fs_mkdir_p(dirname_of(p)), EF_OK);
    http(port, "GET", "/api/2.0/mlflow/artifacts/list?run_id=bbbb", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    files = json_object_get(doc, "files");
    assert_int_equal(json_array_size(files), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "path")),
                        "sub");
    json_decref(doc);
    ef_buf_release(&r.body);
    http(port, "GET", "/api/2.0/mlflow/artifacts/list?run_id=nope", NULL, 0, NULL, &r);
    expect_error(&r, 404, "RESOURCE_DOES_NOT_EXIST");
    http(port, "GET", "/api/2.0/mlflow/artifacts/list", NULL, 0, NULL, &r);
    expect_error(&r, 400, "INVALID_PARAMETER_VALUE");
    http(port, "GET", "/api/2.0/mlflow/artifacts/list?run_id=aaaa&path=..%2F..", NULL, 0, NULL, &r);
    expect_error(&r, 400, "INVALID_PARAMETER_VALUE");

    /* traversal in every spelling: 400 Invalid path, nothing written outside */
    static const char *const evil[] = {
        "..%2F..%2Fescape.txt",        "../../escape.txt",
        "0/..%2F..%2F..%2Fescape.txt", "%252e%252e%252fescape.txt",
        "%2e%2e/%2e%2e/escape.txt",    "a%5C..%5C..%5Cescape.txt",
        "%2Fetc%2Fescape.txt",         "x/%2e%2e/%2e%2e/%2e%2e/escape.txt",
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        snprintf(p, sizeof p, "/api/2.0/mlflow-artifacts/artifacts/%s", evil[i]);
        http(port, "PUT", p, "pwned", 5, NULL, &r);
        expect_error(&r, 400, "INVALID_PARAMETER_VALUE");
        http(port, "GET", p, NULL, 0, NULL, &r);
        expect_error(&r, 400, "INVALID_PARAMETER_VALUE");
    }
    http(port, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=..%2F..", NULL, 0, NULL, &r);
    expect_error(&r, 400, "INVALID_PARAMETER_VALUE");
    snprintf(p, sizeof p, "%s/escape.txt", g_tmp);
    assert_false(ef_fs_exists(p));

    /* multipart: not supported for a folder destination, after MLflow's own checks */
    http(port, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/aaaa/big.bin",
         "{\"path\": \"big.bin\", \"num_parts\": 2}", 35, "application/json", &r);
    expect_error(&r, 501, "NOT_IMPLEMENTED");
    http(port, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/aaaa/big.bin",
         "{\"path\": \"big.bin\"}", 19, "application/json", &r);
    expect_error(&r, 400, "INVALID_PARAMETER_VALUE");
    http(port, "POST", "/api/2.0/mlflow-artifacts/mpu/abort/..%2Fx", "{\"path\": \"x\"}", 13,
         "application/json", &r);
    expect_error(&r, 400, "INVALID_PARAMETER_VALUE");

    /* delete */
    http(port, "DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/aaaa/artifacts/model", NULL, 0,
         NULL, &r);
    assert_int_equal(r.status, 200);
    ef_buf_release(&r.body);
    snprintf(p, sizeof p, "%s/0/aaaa/artifacts/model", dest);
    assert_false(ef_fs_exists(p));

    ef_http_server_free(srv);
    ef_tracking_free(t);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_accepts), cmocka_unit_test(test_normalize_refuses),
        cmocka_unit_test(test_mime_types),        cmocka_unit_test(test_local_round_trip),
        cmocka_unit_test(test_local_symlinks),    cmocka_unit_test(test_local_concurrent_overwrite),
        cmocka_unit_test(test_open_errors),       cmocka_unit_test(test_s3_repository),
        cmocka_unit_test(test_http_proxy),
    };
    int rc = cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
    curl_global_cleanup();
    return rc;
}
