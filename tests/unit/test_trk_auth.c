/* Unit tests for the optional authentication of `edgeflow server` (src/tracking/auth.c) and the
 * HTTP server's authorize hook it plugs into (src/http): argon2id hashing and verification, the
 * users and tokens files, and a real server on 127.0.0.1 driven with libcurl: 401 with
 * WWW-Authenticate without or with wrong credentials, 200 with right ones (basic and bearer),
 * /health and /metrics exempt unless protected, unknown routes refused before they are revealed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "http/server.h"
#include "tracking/auth.h"

static char g_tmp[256], g_users[300], g_tokens[300];
static char g_hash[EF_TRACKING_AUTH_HASH_BYTES];

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/ef-trk-auth-XXXXXX");
    assert_non_null(mkdtemp(g_tmp));
    assert_int_equal(ef_tracking_auth_hash("correct horse", g_hash), EF_OK);
    char text[400];
    snprintf(text, sizeof text, "# edgeflow users\n\nalice:%s\n", g_hash);
    snprintf(g_users, sizeof g_users, "%s/users", g_tmp);
    assert_int_equal(ef_fs_write_atomic(g_users, text, strlen(text), 0), EF_OK);
    snprintf(g_tokens, sizeof g_tokens, "%s/tokens", g_tmp);
    static const char tokens[] = "tok-123\n# a comment\n\n  other-token \r\n";
    assert_int_equal(ef_fs_write_atomic(g_tokens, tokens, sizeof tokens - 1, 0), EF_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ef_fs_rm_rf(g_tmp);
    return 0;
}

static void test_hash_verify(void **state)
{
    (void)state;
    assert_int_equal(strncmp(g_hash, "$argon2id$", 10), 0);
    assert_true(ef_tracking_auth_verify(g_hash, "correct horse"));
    assert_false(ef_tracking_auth_verify(g_hash, "correct horsE"));
    assert_false(ef_tracking_auth_verify(g_hash, ""));
    char h2[EF_TRACKING_AUTH_HASH_BYTES];
    assert_int_equal(ef_tracking_auth_hash("correct horse", h2), EF_OK);
    assert_string_not_equal(h2, g_hash); /* salted */
    assert_false(ef_tracking_auth_verify("not a hash", "x"));
}

static void write_file(const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", g_tmp, name);
    assert_int_equal(ef_fs_write_atomic(path, text, strlen(text), 0), EF_OK);
}

static void test_open_errors(void **state)
{
    (void)state;
    ef_tracking_auth *a = NULL;
    char *err = NULL, p[400], text[400];
    assert_int_equal(ef_tracking_auth_open(NULL, NULL, &a, &err), EF_EINVAL);
    free(err);
    snprintf(p, sizeof p, "%s/missing", g_tmp);
    assert_int_not_equal(ef_tracking_auth_open(p, NULL, &a, &err), EF_OK);
    assert_non_null(strstr(err, "missing"));
    free(err);
    write_file("bad1", "alice:plaintext\n", p, sizeof p);
    assert_int_equal(ef_tracking_auth_open(p, NULL, &a, &err), EF_EINVAL);
    assert_non_null(strstr(err, "bad1:1"));
    free(err);
    write_file("bad2", "# x\nnocolon\n", p, sizeof p);
    assert_int_equal(ef_tracking_auth_open(p, NULL, &a, &err), EF_EINVAL);
    assert_non_null(strstr(err, "bad2:2"));
    free(err);
    snprintf(text, sizeof text, "bob:%s\nbob:%s\n", g_hash, g_hash);
    write_file("dup", text, p, sizeof p);
    assert_int_equal(ef_tracking_auth_open(p, NULL, &a, &err), EF_EINVAL);
    assert_non_null(strstr(err, "twice"));
    free(err);
    write_file("empty", "# nobody\n\n", p, sizeof p);
    assert_int_equal(ef_tracking_auth_open(NULL, p, &a, &err), EF_EINVAL);
    free(err);
    assert_null(a);
    assert_int_equal(ef_tracking_auth_open(g_users, g_tokens, &a, &err), EF_OK);
    ef_tracking_auth_free(a);
    ef_tracking_auth_free(NULL);
}

/* --- the hook through a server ---------------------------------------------------------------- */

static void h_ok(ef_http_req *r, void *ctx)
{
    ef_http_reply(r, 200, "text/plain", ctx, strlen(ctx));
}

typedef struct resp {
    long status;
    ef_buf body;
    int basic, bearer; /* WWW-Authenticate headers seen */
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    ef_buf_append(&r->body, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
        if (strstr(p, "Basic realm=\"edgeflow\"")) r->basic++;
        if (strstr(p, "Bearer realm=\"edgeflow\"")) r->bearer++;
    }
    return len;
}

/* GET path with an optional Authorization header value. */
static long get(uint16_t port, const char *path, const char *authz, resp *r)
{
    char url[256], h[512];
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    memset(r, 0, sizeof *r);
    ef_buf_init(&r->body);
    if (authz) {
        snprintf(h, sizeof h, "Authorization: %s", authz);
        hl = curl_slist_append(hl, h);
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r->status;
}

static void expect_401(uint16_t port, const char *path, const char *authz, int basic, int bearer)
{
    resp r;
    long st = get(port, path, authz, &r);
    if (st != 401) fail_msg("%s with '%s': %ld", path, authz ? authz : "(none)", st);
    assert_int_equal(r.basic, basic);
    assert_int_equal(r.bearer, bearer);
    json_error_t je;
    json_t *doc = json_loadb(r.body.data, r.body.len, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "error_code")), "UNAUTHENTICATED");
    assert_non_null(json_string_value(json_object_get(doc, "message")));
    json_decref(doc);
    ef_buf_release(&r.body);
}

static void expect_status(uint16_t port, const char *path, const char *authz, long want)
{
    resp r;
    long st = get(port, path, authz, &r);
    if (st != want) fail_msg("%s with '%s': %ld, wanted %ld", path, authz ? authz : "-", st, want);
    ef_buf_release(&r.body);
}

static ef_http_server *start(ef_tracking_auth *a, const char *const *exempt)
{
    ef_http_config cfg = {.threads = 2,
                          .name = "auth",
                          .authorize = ef_tracking_auth_authorize,
                          .authorize_ctx = a,
                          .auth_exempt = exempt};
    ef_http_server *s = ef_http_server_new(&cfg);
    assert_non_null(s);
    assert_int_equal(ef_http_route(s, "GET", "/health", h_ok, "OK"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/metrics", h_ok, "# metrics"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/api/2.0/mlflow/experiments/get", h_ok, "exp"),
                     EF_OK);
    assert_int_equal(ef_http_server_start(s), EF_OK);
    return s;
}

/* base64 of "alice:correct horse" etc. */
#define ALICE_OK "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="
#define ALICE_BAD "Basic YWxpY2U6d3Jvbmc="   /* alice:wrong */
#define BOB "Basic Ym9iOmNvcnJlY3QgaG9yc2U=" /* bob:correct horse */
#define NO_COLON "Basic YWxpY2U="            /* alice */

static void test_hook(void **state)
{
    (void)state;
    ef_tracking_auth *a = NULL;
    char *err = NULL;
    assert_int_equal(ef_tracking_auth_open(g_users, g_tokens, &a, &err), EF_OK);
    static const char *const exempt[] = {"/health", "/metrics", NULL};
    ef_http_server *s = start(a, exempt);
    uint16_t port = ef_http_server_port(s);
    const char *api = "/api/2.0/mlflow/experiments/get";

    expect_401(port, api, NULL, 1, 1);
    expect_401(port, api, ALICE_BAD, 1, 1);
    expect_401(port, api, BOB, 1, 1);
    expect_401(port, api, NO_COLON, 1, 1);
    expect_401(port, api, "Basic !!!not-base64!!!", 1, 1);
    expect_401(port, api, "Bearer wrong", 1, 1);
    expect_401(port, api, "Bearer tok-1234", 1, 1);
    expect_401(port, api, "Bearer tok-12", 1, 1);
    expect_401(port, api, "Bearer ", 1, 1);
    expect_401(port, api, "Digest tok-123", 1, 1);
    expect_status(port, api, ALICE_OK, 200);
    expect_status(port, api, ALICE_OK, 200); /* from the cache */
    expect_status(port, api, "basic YWxpY2U6Y29ycmVjdCBob3JzZQ==", 200);
    expect_401(port, api, ALICE_BAD, 1, 1); /* the cache does not admit a wrong password */
    expect_status(port, api, "Bearer tok-123", 200);
    expect_status(port, api, "Bearer other-token", 200);
    /* exempt paths stay open; unknown routes do not reveal themselves */
    expect_status(port, "/health", NULL, 200);
    expect_status(port, "/metrics", NULL, 200);
    expect_status(port, "/health/x", NULL, 401);
    expect_status(port, "/nope", NULL, 401);
    expect_status(port, "/nope", "Bearer tok-123", 404);
    ef_http_server_free(s);

    /* --auth-protect-health: nothing exempt */
    s = start(a, NULL);
    port = ef_http_server_port(s);
    expect_401(port, "/health", NULL, 1, 1);
    expect_401(port, "/metrics", NULL, 1, 1);
    expect_status(port, "/health", "Bearer tok-123", 200);
    ef_http_server_free(s);
    ef_tracking_auth_free(a);

    /* users only: only Basic is offered, and a bearer token is no way in */
    assert_int_equal(ef_tracking_auth_open(g_users, NULL, &a, &err), EF_OK);
    s = start(a, exempt);
    port = ef_http_server_port(s);
    expect_401(port, api, "Bearer tok-123", 1, 0);
    expect_status(port, api, ALICE_OK, 200);
    ef_http_server_free(s);
    ef_tracking_auth_free(a);

    /* tokens only */
    assert_int_equal(ef_tracking_auth_open(NULL, g_tokens, &a, &err), EF_OK);
    s = start(a, exempt);
    port = ef_http_server_port(s);
    expect_401(port, api, ALICE_OK, 0, 1);
    expect_status(port, api, "Bearer tok-123", 200);
    ef_http_server_free(s);
    ef_tracking_auth_free(a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_hook),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
