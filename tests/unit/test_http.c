/* Unit tests for src/http: a real server on 127.0.0.1, port 0, driven with libcurl and raw
 * sockets: routing, errors, bodies and limits, deadlines, keep-alive, concurrency, graceful stop,
 * metrics, TLS, streamed replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "http/server.h"
#include "metrics/metrics.h"

#define MAX_BODY 4096

static ef_http_server *g_srv;
static ef_metrics *g_metrics;
static uint16_t g_port;

/* --- handlers -----------------------------------------------------------------------------------
 */

static void h_route(ef_http_req *r, void *ctx)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "route", json_string(ctx));
    static const char *const names[] = {"id", "path", "x", "y", "name"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = ef_http_req_param(r, names[i]);
        if (v) json_object_set_new(doc, names[i], json_string(v));
    }
    json_object_set_new(doc, "method", json_string(ef_http_req_method(r)));
    ef_http_reply_json(r, 200, doc);
}

static void h_query(ef_http_req *r, void *ctx)
{
    (void)ctx;
    const char *q = ef_http_req_query(r, "q");
    const char *h = ef_http_req_header(r, "x-test");
    json_t *doc = json_pack("{s:s?,s:s?,s:s?,s:s}", "q", q, "missing", ef_http_req_query(r, "nope"),
                            "header", h, "remote", ef_http_req_remote(r));
    ef_http_add_header(r, "X-Extra", "yes");
    ef_http_reply_json(r, 200, doc);
}

static void h_echo(ef_http_req *r, void *ctx)
{
    (void)ctx;
    json_t *doc = ef_http_req_json(r);
    if (!doc) return;
    ef_http_reply_json(r, 201, doc);
}

static void h_raw(ef_http_req *r, void *ctx)
{
    (void)ctx;
    size_t len;
    const char *body = ef_http_req_body(r, &len);
    char *copy = malloc(len + 1);
    memcpy(copy, body, len + 1);
    ef_http_reply_take(r, 200, "application/octet-stream", copy, len);
}

static void h_noreply(ef_http_req *r, void *ctx)
{
    (void)r;
    (void)ctx;
}

static void h_slow(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_sleep_ms(1000);
    ef_http_reply(r, 200, "text/plain", "slow done", 9);
}

/* Streamed replies: /stream?n=BYTES[&fail=AT] sends n bytes of stream_byte(i) through
 * ef_http_reply_stream (fill errors once `fail` bytes are out); every done is counted. */
static atomic_int g_stream_done;
static atomic_size_t g_stream_filled;

typedef struct stream_ctx {
    size_t n, pos, fail;
} stream_ctx;

static char stream_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 4093) % 26);
}

static ssize_t stream_fill(void *ctx, char *buf, size_t max)
{
    stream_ctx *c = ctx;
    if (c->fail && c->pos >= c->fail) return -1;
    size_t k = c->n - c->pos < max ? c->n - c->pos : max;
    if (k > 10000) k -= 1234; /* uneven pieces */
    for (size_t i = 0; i < k; i++)
        buf[i] = stream_byte(c->pos + i);
    c->pos += k;
    atomic_fetch_add(&g_stream_filled, k);
    return (ssize_t)k;
}

static void stream_done(void *ctx)
{
    free(ctx);
    atomic_fetch_add(&g_stream_done, 1);
}

static void h_stream(ef_http_req *r, void *ctx)
{
    (void)ctx;
    const char *n = ef_http_req_query(r, "n"), *fail = ef_http_req_query(r, "fail");
    stream_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->n = n ? strtoull(n, NULL, 10) : 0;
    c->fail = fail ? strtoull(fail, NULL, 10) : 0;
    ef_http_reply_stream(r, 200, "application/octet-stream", stream_fill, stream_done, c);
}

static void add_routes(ef_http_server *s)
{
    /* registered in an order where the less specific pattern comes first */
    assert_int_equal(ef_http_route(s, "GET", "/a/{x}/c", h_route, "/a/{x}/c"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/a/b/{y}", h_route, "/a/b/{y}"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/items/{id}", h_route, "item-param"), EF_OK);
    assert_int_equal(ef_http_route(s, "POST", "/items/{id}", h_route, "item-post"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/items/special", h_route, "item-literal"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/files/{path*}", h_route, "files"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/files/{name}/meta", h_route, "meta"), EF_OK);
    assert_int_equal(ef_http_route(s, "*", "/any", h_route, "any"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/", h_route, "root"), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/query", h_query, NULL), EF_OK);
    assert_int_equal(ef_http_route(s, "POST", "/echo", h_echo, NULL), EF_OK);
    assert_int_equal(ef_http_route(s, "PUT", "/raw", h_raw, NULL), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/noreply", h_noreply, NULL), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/slow", h_slow, NULL), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/stream", h_stream, NULL), EF_OK);
}

static ef_http_server *start(ef_http_config *cfg)
{
    ef_http_server *s = ef_http_server_new(cfg);
    assert_non_null(s);
    add_routes(s);
    if (cfg->metrics)
        assert_int_equal(ef_http_route(s, "GET", "/metrics", ef_http_metrics_handler, cfg->metrics),
                         EF_OK);
    assert_int_equal(ef_http_server_start(s), EF_OK);
    assert_true(ef_http_server_port(s) > 0);
    return s;
}

static int setup(void **state)
{
    (void)state;
    g_metrics = ef_metrics_new();
    ef_http_config cfg = {
        .threads = 2, .max_body = MAX_BODY, .metrics = g_metrics, .access_log = 1, .name = "test"};
    g_srv = start(&cfg);
    g_port = ef_http_server_port(g_srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ef_http_server_free(g_srv);
    ef_metrics_free(g_metrics);
    return 0;
}

/* --- client helpers -----------------------------------------------------------------------------
 */

typedef struct resp {
    long status;
    ef_buf body;
    ef_buf headers;
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    ef_buf_append(ud, p, sz * n);
    return sz * n;
}

/* Performs one request on handle c (NULL: a fresh one). Returns the curl code. */
static CURLcode do_req(CURL *c, const char *scheme, uint16_t port, const char *method,
                       const char *path, const char *body, size_t len, const char *hdr, resp *out)
{
    int own = c == NULL;
    if (own) c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, (unsigned)port, path);
    ef_buf_init(&out->body);
    ef_buf_init(&out->headers);
    out->status = 0;
    struct curl_slist *hl = NULL;
    if (hdr) hl = curl_slist_append(hl, hdr);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        if (strcmp(method, "GET") == 0) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    if (own) curl_easy_cleanup(c);
    if (!out->body.data) ef_buf_append(&out->body, "", 0);
    if (!out->headers.data) ef_buf_append(&out->headers, "", 0);
    return rc;
}

static void resp_release(resp *r)
{
    ef_buf_release(&r->body);
    ef_buf_release(&r->headers);
}

static json_t *get_json(const char *method, const char *path, long want_status)
{
    resp r;
    assert_int_equal(do_req(NULL, "http", g_port, method, path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, want_status);
    assert_non_null(strstr(r.headers.data, "Content-Type: application/json"));
    json_t *doc = json_loads(r.body.data, 0, NULL);
    assert_non_null(doc);
    resp_release(&r);
    return doc;
}

static void expect_route(const char *method, const char *path, const char *route, const char *pname,
                         const char *pvalue)
{
    json_t *doc = get_json(method, path, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "route")), route);
    if (pname) assert_string_equal(json_string_value(json_object_get(doc, pname)), pvalue);
    json_decref(doc);
}

static void expect_error(const char *method, const char *path, long status, const char *msg)
{
    json_t *doc = get_json(method, path, status);
    assert_int_equal(json_object_size(doc), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "error")), msg);
    json_decref(doc);
}

/* --- tests --------------------------------------------------------------------------------------
 */

static void test_routing(void **state)
{
    (void)state;
    expect_route("GET", "/items/42", "item-param", "id", "42");
    expect_route("POST", "/items/42", "item-post", "id", "42");
    expect_route("GET", "/items/special", "item-literal", NULL, NULL);
    expect_route("GET", "/items/spec", "item-param", "id", "spec");
    expect_route("GET", "/files/a/b/c.txt", "files", "path", "a/b/c.txt");
    expect_route("GET", "/files/x", "files", "path", "x");
    expect_route("GET", "/files/x/meta", "meta", "name", "x");
    expect_route("GET", "/files/x/meta/more", "files", "path", "x/meta/more");
    expect_route("GET", "/a/b/c", "/a/b/{y}", "y", "c");
    expect_route("GET", "/a/z/c", "/a/{x}/c", "x", "z");
    expect_route("GET", "/", "root", NULL, NULL);
    expect_route("DELETE", "/any", "any", "method", "DELETE");
    expect_route("PATCH", "/any", "any", "method", "PATCH");
    expect_route("GET", "/items/caf%C3%A9", "item-param", "id", "caf\xc3\xa9");
    /* HEAD on a GET route: headers only */
    resp r;
    assert_int_equal(do_req(NULL, "http", g_port, "HEAD", "/items/1", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    resp_release(&r);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("GET", "/nope", 404, "no route for GET /nope");
    expect_error("GET", "/files/", 404, "no route for GET /files/");
    expect_error("GET", "/items/1/", 404, "no route for GET /items/1/");
    expect_error("GET", "/items", 404, "no route for GET /items");
    expect_error("GET", "/noreply", 500, "handler did not reply");
    resp r;
    assert_int_equal(do_req(NULL, "http", g_port, "DELETE", "/items/1", NULL, 0, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.data, "Allow: "));
    assert_non_null(strstr(r.headers.data, "GET"));
    assert_non_null(strstr(r.headers.data, "POST"));
    assert_non_null(strstr(r.headers.data, "HEAD"));
    assert_string_equal(r.body.data, "{\"error\":\"method DELETE not allowed on /items/1\"}");
    resp_release(&r);
}

static void test_query_headers(void **state)
{
    (void)state;
    resp r;
    assert_int_equal(do_req(NULL, "http", g_port, "GET", "/query?q=hello%20world&x=1", NULL, 0,
                            "X-Test: abc", &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers.data, "X-Extra: yes"));
    json_t *doc = json_loads(r.body.data, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "q")), "hello world");
    assert_string_equal(json_string_value(json_object_get(doc, "header")), "abc");
    assert_string_equal(json_string_value(json_object_get(doc, "remote")), "127.0.0.1");
    assert_true(json_is_null(json_object_get(doc, "missing")));
    json_decref(doc);
    resp_release(&r);
}

static void test_json_bodies(void **state)
{
    (void)state;
    resp r;
    const char *in = "{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null}}";
    assert_int_equal(do_req(NULL, "http", g_port, "POST", "/echo", in, strlen(in), NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.data, "{\"a\":[1,2.5,\"x\"],\"b\":{\"c\":null}}");
    resp_release(&r);

    const char *bad = "{\"a\": 1,\n \"b\": }";
    assert_int_equal(do_req(NULL, "http", g_port, "POST", "/echo", bad, strlen(bad), NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 400);
    json_t *doc = json_loads(r.body.data, 0, NULL);
    const char *msg = json_string_value(json_object_get(doc, "error"));
    assert_non_null(msg);
    assert_true(strncmp(msg, "invalid JSON body: ", 19) == 0);
    assert_non_null(strstr(msg, "(line 2 column"));
    json_decref(doc);
    resp_release(&r);

    const char utf8[] = "{\"a\": \"\xff\xfe\"}";
    assert_int_equal(do_req(NULL, "http", g_port, "POST", "/echo", utf8, sizeof utf8 - 1, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 400);
    doc = json_loads(r.body.data, 0, NULL);
    assert_non_null(doc); /* the error reply itself is valid JSON */
    assert_non_null(strstr(json_string_value(json_object_get(doc, "error")), "invalid JSON body"));
    json_decref(doc);
    resp_release(&r);

    /* empty body */
    assert_int_equal(do_req(NULL, "http", g_port, "POST", "/echo", "", 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 400);
    resp_release(&r);

    /* binary body exactly at the limit is accepted and intact */
    char *big = malloc(MAX_BODY);
    for (int i = 0; i < MAX_BODY; i++)
        big[i] = (char)(i * 7);
    assert_int_equal(do_req(NULL, "http", g_port, "PUT", "/raw", big, MAX_BODY, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, MAX_BODY);
    assert_memory_equal(r.body.data, big, MAX_BODY);
    resp_release(&r);
    free(big);
}

typedef struct chunk_src {
    size_t left;
} chunk_src;

static size_t read_chunks(char *buf, size_t sz, size_t n, void *ud)
{
    chunk_src *src = ud;
    size_t k = sz * n < 1000 ? sz * n : 1000;
    if (k > src->left) k = src->left;
    memset(buf, 'x', k);
    src->left -= k;
    return k;
}

static void test_body_limit(void **state)
{
    (void)state;
    resp r;
    /* by Content-Length: answered before the body is read */
    char *big = calloc(1, MAX_BODY + 1);
    memset(big, ' ', MAX_BODY + 1);
    assert_int_equal(do_req(NULL, "http", g_port, "POST", "/echo", big, MAX_BODY + 1, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body.data, "larger than 4096 bytes"));
    resp_release(&r);
    free(big);

    /* chunked upload that grows past the limit */
    CURL *c = curl_easy_init();
    chunk_src src = {.left = MAX_BODY * 3};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo", (unsigned)g_port);
    struct curl_slist *hl = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    hl = curl_slist_append(hl, "Expect:");
    ef_buf body;
    ef_buf_init(&body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_chunks);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 413);
    assert_non_null(strstr(body.data, "larger than"));
    ef_buf_release(&body);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

/* Reads from fd until EOF or timeout_ms; returns what arrived (caller frees). */
static char *read_all(int fd, int timeout_ms)
{
    ef_buf b;
    ef_buf_init(&b);
    int64_t t0 = ef_mono_ms();
    while (ef_mono_ms() - t0 < timeout_ms) {
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
            break;
        }
        ef_buf_append(&b, buf, (size_t)n);
    }
    ef_buf_append(&b, "", 0);
    return ef_buf_take(&b, NULL);
}

static int connect_raw(uint16_t port);

static void test_body_limit_early(void **state)
{
    (void)state;
    /* a huge Content-Length is refused from the headers alone: no body is ever sent */
    int fd = connect_raw(g_port);
    const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
                      "Expect: 100-continue\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    int64_t t0 = ef_mono_ms();
    char *got = read_all(fd, 3000);
    assert_true(ef_mono_ms() - t0 < 2000); /* the server closed the connection after the reply */
    assert_true(strncmp(got, "HTTP/1.1 413", 12) == 0);
    assert_null(strstr(got, "100 Continue"));
    assert_non_null(strstr(got, "{\"error\":\"request body larger than 4096 bytes\"}"));
    free(got);
    close(fd);
}

static void test_connection_limits(void **state)
{
    (void)state;
    ef_http_config cfg = {.threads = 1, .max_connections_per_ip = 2, .name = "limits"};
    ef_http_server *s = start(&cfg);
    uint16_t port = ef_http_server_port(s);
    int a = connect_raw(port), b = connect_raw(port), c = connect_raw(port);
    /* the third connection from 127.0.0.1 is closed at once, the first two are served */
    char *got = read_all(c, 1000);
    assert_string_equal(got, "");
    free(got);
    const char *req = "GET /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(a, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    got = read_all(a, 3000);
    assert_true(strncmp(got, "HTTP/1.1 200", 12) == 0);
    free(got);
    close(a);
    close(b);
    close(c);
    ef_http_server_free(s);
}

static void test_keepalive(void **state)
{
    (void)state;
    CURL *c = curl_easy_init();
    resp r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(do_req(c, "http", g_port, "GET", "/items/7", NULL, 0, NULL, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        long connects = -1;
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(connects, i == 0 ? 1 : 0); /* reused after the first */
        resp_release(&r);
    }
    /* a POST with a body on the same connection too */
    assert_int_equal(do_req(c, "http", g_port, "POST", "/echo", "[1]", 3, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 201);
    long connects = -1;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);
    resp_release(&r);
    curl_easy_cleanup(c);
}

static void *client_thread(void *arg)
{
    long fails = 0;
    CURL *c = curl_easy_init();
    for (int i = 0; i < 200; i++) {
        char path[64], body[64];
        snprintf(path, sizeof path, "/items/%ld-%d", (long)(intptr_t)arg, i);
        snprintf(body, sizeof body, "[%d]", i);
        resp r;
        if (i % 2) {
            if (do_req(c, "http", g_port, "GET", path, NULL, 0, NULL, &r) != CURLE_OK ||
                r.status != 200 || !strstr(r.body.data, path + 7))
                fails++;
        } else {
            if (do_req(c, "http", g_port, "POST", "/echo", body, strlen(body), NULL, &r) !=
                    CURLE_OK ||
                r.status != 201 || strcmp(r.body.data, body) != 0)
                fails++;
        }
        resp_release(&r);
    }
    curl_easy_cleanup(c);
    return (void *)fails;
}

static void test_concurrent(void **state)
{
    (void)state;
    pthread_t t[8];
    for (intptr_t i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, (void *)i), 0);
    for (int i = 0; i < 8; i++) {
        void *fails;
        pthread_join(t[i], &fails);
        assert_int_equal((long)(intptr_t)fails, 0);
    }
}

static void test_metrics(void **state)
{
    (void)state;
    resp r;
    assert_int_equal(do_req(NULL, "http", g_port, "GET", "/items/1", NULL, 0, NULL, &r), CURLE_OK);
    resp_release(&r);
    assert_int_equal(do_req(NULL, "http", g_port, "GET", "/zzz", NULL, 0, NULL, &r), CURLE_OK);
    resp_release(&r);
    assert_int_equal(do_req(NULL, "http", g_port, "GET", "/metrics", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers.data, "Content-Type: text/plain; version=0.0.4"));
    const char *t = r.body.data;
    assert_non_null(strstr(t, "# TYPE edgeflow_http_requests_total counter\n"));
    assert_non_null(strstr(t, "edgeflow_http_requests_total{server=\"test\",route=\"/items/{id}\","
                              "method=\"GET\",code=\"200\"} "));
    assert_non_null(strstr(t, "edgeflow_http_requests_total{server=\"test\",route=\"<unmatched>\","
                              "method=\"GET\",code=\"404\"} "));
    assert_non_null(strstr(t, "# TYPE edgeflow_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "edgeflow_http_request_duration_seconds_bucket{server=\"test\","
                              "route=\"/items/{id}\",le=\"+Inf\"} "));
    /* the raw path never becomes a label */
    assert_null(strstr(t, "/zzz"));
    assert_null(strstr(t, "/items/1\""));
    resp_release(&r);
}

static int connect_raw(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends text one byte per 200 ms until the server closes; returns seconds until then. */
static double dribble(uint16_t port, const char *prefix, const char *text)
{
    int fd = connect_raw(port);
    int64_t t0 = ef_mono_ms();
    if (prefix)
        assert_int_equal(send(fd, prefix, strlen(prefix), MSG_NOSIGNAL), (ssize_t)strlen(prefix));
    double out = -1;
    for (size_t i = 0; ef_mono_ms() - t0 < 10000; i++) {
        char c = text[i % strlen(text)];
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
        ef_sleep_ms(200);
    }
    out = (double)(ef_mono_ms() - t0) / 1000.0;
    close(fd);
    return out;
}

static void test_slow_clients(void **state)
{
    (void)state;
    ef_http_config cfg = {.threads = 1, .request_timeout_s = 2, .name = "slow"};
    ef_http_server *s = start(&cfg);
    uint16_t port = ef_http_server_port(s);
    /* headers dribbled one byte per 200 ms */
    double t = dribble(port, NULL,
                       "GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Slow: "
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_true(t >= 1.5);
    assert_true(t <= 4.0);
    /* headers at once, body dribbled */
    t = dribble(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "[1,2,3,");
    assert_true(t >= 1.5);
    assert_true(t <= 4.0);
    /* the server still answers normal clients */
    resp r;
    assert_int_equal(do_req(NULL, "http", port, "GET", "/items/3", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    ef_http_server_free(s);
}

static void test_keepalive_deadlines(void **state)
{
    (void)state;
    ef_http_config cfg = {
        .threads = 1, .request_timeout_s = 2, .idle_timeout_s = 3, .name = "idle"};
    ef_http_server *s = start(&cfg);
    int fd = connect_raw(ef_http_server_port(s));
    const char *req = "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    for (int i = 0; i < 2; i++) {
        /* an idle keep-alive connection outlives the request deadline (2 s), not the idle one */
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        int64_t t0 = ef_mono_ms();
        ssize_t n = 0;
        while (n <= 0 && ef_mono_ms() - t0 < 3000)
            n = recv(fd, buf, sizeof buf - 1, 0);
        assert_true(n > 12);
        assert_memory_equal(buf, "HTTP/1.1 200", 12);
        if (i == 0) ef_sleep_ms(2500);
    }
    /* a request line dribbled after the reply is bounded by the idle deadline */
    int64_t t0 = ef_mono_ms();
    for (const char *p = req; ef_mono_ms() - t0 < 10000; p = *(p + 1) ? p + 1 : req) {
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1) break;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
        ef_sleep_ms(200);
    }
    double t = (double)(ef_mono_ms() - t0) / 1000.0;
    assert_true(t >= 2.5);
    assert_true(t <= 5.0);
    close(fd);
    ef_http_server_free(s);
}

static void *slow_client(void *arg)
{
    resp *r = arg;
    do_req(NULL, "http", *(uint16_t *)r->body.data, "GET", "/slow", NULL, 0, NULL, r);
    return NULL;
}

static void test_graceful_stop(void **state)
{
    (void)state;
    ef_http_config cfg = {.threads = 2, .name = "stop"};
    ef_http_server *s = start(&cfg);
    uint16_t port = ef_http_server_port(s);
    resp r;
    ef_buf_init(&r.body);
    ef_buf_append(&r.body, &port, sizeof port);
    ef_buf arg = r.body; /* do_req re-inits r.body; keep the port buffer to free */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_client, &r), 0);
    ef_sleep_ms(300); /* the handler is sleeping now */
    int64_t t0 = ef_mono_ms();
    ef_http_server_stop(s);
    int64_t took = ef_mono_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "slow done");
    assert_true(took >= 400 && took < 5000);
    resp_release(&r);
    ef_buf_release(&arg);
    /* no longer listening */
    resp r2;
    assert_int_not_equal(do_req(NULL, "http", port, "GET", "/items/1", NULL, 0, NULL, &r2),
                         CURLE_OK);
    resp_release(&r2);
    ef_http_server_free(s);
}

static void test_config_errors(void **state)
{
    (void)state;
    ef_http_config cfg = {.name = "bad"};
    ef_http_server *s = ef_http_server_new(&cfg);
    assert_non_null(s);
    assert_int_equal(ef_http_route(s, "GET", "noslash", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a//b", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a/", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a/{p*}/b", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a/{x}/{x}", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a/{}", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a/b{x}", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "get", "/a", h_noreply, NULL), EF_EINVAL);
    assert_int_equal(ef_http_route(s, "GET", "/a", h_noreply, NULL), EF_OK);
    assert_int_equal(ef_http_route(s, "GET", "/a", h_noreply, NULL), EF_EINVAL);
    ef_http_server_free(s);
    /* port in use */
    cfg.port = g_port;
    s = ef_http_server_new(&cfg);
    assert_int_equal(ef_http_server_start(s), EF_EIO);
    ef_http_server_free(s);
    /* TLS files missing */
    cfg.port = 0;
    cfg.tls_cert_file = "/nonexistent/cert.pem";
    cfg.tls_key_file = "/nonexistent/key.pem";
    assert_null(ef_http_server_new(&cfg));
}

static void test_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/ef_http_tls_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[1024], cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
             key, cert);
    assert_int_equal(system(cmd), 0);
    ef_http_config cfg = {.threads = 1, .tls_cert_file = cert, .tls_key_file = key, .name = "tls"};
    ef_http_server *s = start(&cfg);
    uint16_t port = ef_http_server_port(s);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_CAINFO, cert); /* full verification against our own CA */
    resp r;
    assert_int_equal(do_req(c, "https", port, "GET", "/items/tls", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "\"id\":\"tls\""));
    resp_release(&r);
    assert_int_equal(do_req(c, "https", port, "POST", "/echo", "[true]", 6, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.data, "[true]");
    resp_release(&r);
    curl_easy_cleanup(c);
    /* plain HTTP against the TLS port fails */
    assert_int_equal(do_req(NULL, "http", port, "GET", "/items/1", NULL, 0, NULL, &r) == CURLE_OK &&
                         r.status == 200,
                     0);
    resp_release(&r);
    ef_http_server_free(s);
    ef_fs_rm_rf(dir);
}

/* Waits up to 5 s for the done count to reach want, then checks it stays there. */
static void expect_done(int want)
{
    for (int i = 0; i < 500 && atomic_load(&g_stream_done) < want; i++)
        ef_sleep_ms(10);
    ef_sleep_ms(100);
    assert_int_equal(atomic_load(&g_stream_done), want);
}

static void test_stream(void **state)
{
    (void)state;
    const size_t n = 5u << 20;
    int done0 = atomic_load(&g_stream_done);
    resp r;
    char path[64];
    snprintf(path, sizeof path, "/stream?n=%zu", n);
    assert_int_equal(do_req(NULL, "http", g_port, "GET", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers.data, "Content-Type: application/octet-stream"));
    assert_non_null(strstr(r.headers.data, "Transfer-Encoding: chunked"));
    assert_int_equal(r.body.len, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += r.body.data[i] != stream_byte(i);
    assert_int_equal(bad, 0);
    resp_release(&r);
    expect_done(done0 + 1);
    /* an empty stream: 200 with no body */
    assert_int_equal(do_req(NULL, "http", g_port, "GET", "/stream?n=0", NULL, 0, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    resp_release(&r);
    expect_done(done0 + 2);
    /* fill failing at 1 MB: the client gets a truncated body, done still runs once */
    snprintf(path, sizeof path, "/stream?n=%zu&fail=%zu", n, (size_t)1 << 20);
    assert_int_not_equal(do_req(NULL, "http", g_port, "GET", path, NULL, 0, NULL, &r), CURLE_OK);
    assert_true(r.body.len < n);
    resp_release(&r);
    expect_done(done0 + 3);
    /* the request counts in the route's metrics */
    assert_int_equal(do_req(NULL, "http", g_port, "GET", "/metrics", NULL, 0, NULL, &r), CURLE_OK);
    assert_non_null(strstr(r.body.data, "edgeflow_http_requests_total{server=\"test\","
                                        "route=\"/stream\",method=\"GET\",code=\"200\"} 3"));
    resp_release(&r);
}

/* A client that reads a little of a 500 MB stream and hangs up: the stream stops, done once. */
static void test_stream_disconnect(void **state)
{
    (void)state;
    int done0 = atomic_load(&g_stream_done);
    atomic_store(&g_stream_filled, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char req[] = "GET /stream?n=500000000 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    size_t got = 0;
    char buf[16384];
    while (got < ((size_t)256 << 10)) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        assert_true(k > 0);
        if (got == 0) assert_memory_equal(buf, "HTTP/1.1 200", 12);
        got += (size_t)k;
    }
    close(fd);
    expect_done(done0 + 1);
    /* it stopped soon after the hang-up, far from the 500 MB */
    assert_true(atomic_load(&g_stream_filled) < ((size_t)64 << 20));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_query_headers),
        cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_body_limit_early),
        cmocka_unit_test(test_connection_limits),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_keepalive_deadlines),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_disconnect),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
