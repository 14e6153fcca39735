/* Unit tests for src/tracking/request.c: request messages (query strings, JSON bodies,
 * Content-Type rules) through a real ef_http server on 127.0.0.1 driven over raw sockets, the
 * typed getters' MLflow messages, the Python-compatible reply layout and error statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <float.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "http/server.h"
#include "tracking/trk_int.h"

static ef_http_server *g_srv;
static uint16_t g_port;

/* --- handlers ------------------------------------------------------------------------------- */

/* Echoes the request message (or the error trk__message replied with). */
static void h_echo(ef_http_req *r, void *ctx)
{
    (void)ctx;
    json_t *msg = trk__message(r);
    if (!msg) return;
    trk__reply(r, msg);
}

/* Replies the error named by ?code= (an index into trk_code). */
static void h_fail(ef_http_req *r, void *ctx)
{
    (void)ctx;
    trk_err e;
    const char *c = ef_http_req_query(r, "code");
    trk__fail(&e, (trk_code)atoi(c ? c : "0"), "failed with %s", c ? c : "?");
    trk__reply_error(r, &e);
}

/* Reads typed fields the way handlers do, replying the values or the first error. */
static void h_typed(ef_http_req *r, void *ctx)
{
    (void)ctx;
    trk_err e;
    json_t *msg = trk__message(r);
    if (!msg) return;
    const char *run_id = NULL;
    int64_t step = -1;
    double value = 0;
    json_t *ids = NULL;
    if (trk__run_id(msg, &run_id, &e) < 0 || trk__int(msg, "step", 0, &step, &e) < 0 ||
        trk__double(msg, "value", 1, &value, &e) < 0 ||
        trk__array(msg, "experiment_ids", 0, &ids, &e) < 0) {
        json_decref(msg);
        trk__reply_error(r, &e);
        return;
    }
    json_t *out = json_pack("{s:s,s:I,s:o,s:O*}", "run_id", run_id, "step", (json_int_t)step,
                            "value", trk__metric_value(value, 0), "experiment_ids", ids);
    json_decref(msg);
    trk__reply(r, out);
}

static int setup(void **state)
{
    (void)state;
    ef_http_config cfg = {0};
    cfg.threads = 2;
    cfg.max_body = 1 << 16;
    cfg.name = "test";
    g_srv = ef_http_server_new(&cfg);
    if (!g_srv) return -1;
    static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT"};
    for (size_t i = 0; i < 5; i++) {
        if (ef_http_route(g_srv, methods[i], "/echo", h_echo, NULL) != 0) return -1;
        if (ef_http_route(g_srv, methods[i], "/typed", h_typed, NULL) != 0) return -1;
    }
    if (ef_http_route(g_srv, "GET", "/fail", h_fail, NULL) != 0) return -1;
    if (ef_http_server_start(g_srv) != 0) return -1;
    g_port = ef_http_server_port(g_srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ef_http_server_free(g_srv);
    return 0;
}

/* --- a raw HTTP/1.1 client (exact bytes in, status + headers + body out) ------------------- */

typedef struct resp {
    int status;
    char headers[4096];
    char *body;
    size_t body_len;
} resp;

/* Sends method/target with the given extra header lines ("" or "Name: v\r\n...") and body. */
static void http_do(const char *method, const char *target, const char *hdrs, const char *body,
                    resp *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(g_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ef_buf req;
    ef_buf_init(&req);
    size_t blen = body ? strlen(body) : 0;
    ef_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s", method, target,
                   hdrs);
    if (body) ef_buf_appendf(&req, "Content-Length: %zu\r\n", blen);
    ef_buf_appends(&req, "\r\n");
    if (body) ef_buf_append(&req, body, blen);
    assert_int_equal(send(fd, req.data, req.len, 0), (ssize_t)req.len);
    ef_buf_release(&req);
    ef_buf in;
    ef_buf_init(&in);
    char chunk[4096];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0)
        ef_buf_append(&in, chunk, (size_t)n);
    close(fd);
    assert_non_null(in.data);
    assert_int_equal(sscanf(in.data, "HTTP/1.1 %d", &out->status), 1);
    char *sep = strstr(in.data, "\r\n\r\n");
    assert_non_null(sep);
    size_t hl = (size_t)(sep - in.data);
    if (hl >= sizeof out->headers) hl = sizeof out->headers - 1;
    memcpy(out->headers, in.data, hl);
    out->body_len = in.len - (size_t)(sep + 4 - in.data);
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, sep + 4, out->body_len);
    out->body[out->body_len] = '\0';
    ef_buf_release(&in);
}

static void resp_free(resp *r)
{
    free(r->body);
}

#define JSON_CT "Content-Type: application/json\r\n"

/* --- messages --------------------------------------------------------------------------------- */

static void test_query_message(void **state)
{
    (void)state;
    resp r;
    http_do("GET", "/echo?a=1&b=x&b=y&c%5B%5D=z&d&e=hello+world%21&f=%C3%A9%F0%9F%98%80&c=w", "",
            NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "Content-Type: application/json"));
    assert_string_equal(r.body, "{\n"
                                "  \"a\": \"1\",\n"
                                "  \"b\": [\n"
                                "    \"x\",\n"
                                "    \"y\"\n"
                                "  ],\n"
                                "  \"c\": [\n"
                                "    \"z\",\n"
                                "    \"w\"\n"
                                "  ],\n"
                                "  \"d\": \"\",\n"
                                "  \"e\": \"hello world!\",\n"
                                "  \"f\": \"\\u00e9\\ud83d\\ude00\"\n"
                                "}");
    resp_free(&r);

    /* GET without a query string reads a body like MLflow; none -> {} */
    http_do("GET", "/echo", "", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    resp_free(&r);

    /* query text that is not UTF-8 */
    http_do("GET", "/echo?name=%FF", "", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"error_code\": \"INVALID_PARAMETER_VALUE\""));
    resp_free(&r);
}

static void test_body_message(void **state)
{
    (void)state;
    resp r;
    http_do("POST", "/echo", "Content-Type: application/json; charset=utf-8\r\n",
            "{\"name\": \"caf\xc3\xa9\", \"n\": 12345678901, \"x\": 0.1, \"y\": 1e-5, \"z\": 5.0,"
            " \"big\": 1e16, \"t\": true, \"nil\": null, \"e\": [], \"o\": {}, \"s\": "
            "\"a\\\"b\\\\c\\n\\u0001\\u007f\","
            " \"nest\": [{\"k\": [1, 2]}]}",
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n"
                                "  \"name\": \"caf\\u00e9\",\n"
                                "  \"n\": 12345678901,\n"
                                "  \"x\": 0.1,\n"
                                "  \"y\": 1e-05,\n"
                                "  \"z\": 5.0,\n"
                                "  \"big\": 1e+16,\n"
                                "  \"t\": true,\n"
                                "  \"nil\": null,\n"
                                "  \"e\": [],\n"
                                "  \"o\": {},\n"
                                "  \"s\": \"a\\\"b\\\\c\\n\\u0001\x7f\",\n"
                                "  \"nest\": [\n"
                                "    {\n"
                                "      \"k\": [\n"
                                "        1,\n"
                                "        2\n"
                                "      ]\n"
                                "    }\n"
                                "  ]\n"
                                "}");
    resp_free(&r);

    /* a body that is not JSON, or not an object, counts as {} */
    http_do("POST", "/echo", JSON_CT, "not json", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    resp_free(&r);
    http_do("POST", "/echo", JSON_CT, "[1, 2]", &r);
    assert_string_equal(r.body, "{}");
    resp_free(&r);

    /* double-encoded JSON from old clients is decoded twice */
    http_do("POST", "/echo", JSON_CT, "\"{\\\"a\\\": 1}\"", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n  \"a\": 1\n}");
    resp_free(&r);

    /* bare NaN / Infinity, which Python's json accepts, arrive as strings */
    http_do("POST", "/echo", JSON_CT, "{\"v\": NaN, \"w\": [-Infinity, Infinity], \"s\": \"NaN\"}",
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n  \"v\": \"NaN\",\n  \"w\": [\n    \"-Infinity\",\n"
                                "    \"Infinity\"\n  ],\n  \"s\": \"NaN\"\n}");
    resp_free(&r);

    /* deep nesting: indents longer than one chunk of spaces */
    char deep[256] = "{\"d\": ";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    strcat(deep, "1");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    http_do("POST", "/echo", JSON_CT, deep, &r);
    assert_int_equal(r.status, 200);
    char want[128] = "\n";
    memset(want + 1, ' ', 82);
    strcpy(want + 83, "1\n");
    assert_non_null(strstr(r.body, want));
    json_t *back = json_loads(r.body, 0, NULL);
    assert_non_null(back);
    json_decref(back);
    resp_free(&r);

    /* a POST query string is not the message */
    http_do("POST", "/echo?a=1", JSON_CT, "{\"b\": 2}", &r);
    assert_string_equal(r.body, "{\n  \"b\": 2\n}");
    resp_free(&r);
}

static void test_content_type_rules(void **state)
{
    (void)state;
    resp r;
    http_do("POST", "/echo", "", "{\"a\": 1}", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.headers, "Content-Type: application/json"));
    assert_string_equal(r.body, "{\"error_code\": \"INVALID_PARAMETER_VALUE\", \"message\": "
                                "\"Bad Request. Content-Type header is missing.\"}");
    resp_free(&r);

    http_do("POST", "/echo", "Content-Type: text/plain\r\n", "{\"a\": 1}", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body,
                        "{\"error_code\": \"INVALID_PARAMETER_VALUE\", \"message\": "
                        "\"Bad Request. Content-Type must be one of ['application/json'].\"}");
    resp_free(&r);

    /* compared exactly, like MLflow */
    http_do("PUT", "/echo", "Content-Type: Application/JSON\r\n", "{\"a\": 1}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);

    /* PATCH and DELETE bodies are read whatever their Content-Type */
    http_do("PATCH", "/echo", "", "{\"a\": 1}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n  \"a\": 1\n}");
    resp_free(&r);
    http_do("DELETE", "/echo", "Content-Type: text/plain\r\n", "{\"a\": 2}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n  \"a\": 2\n}");
    resp_free(&r);

    /* DELETE without a body takes the query string */
    http_do("DELETE", "/echo?name=m&version=3", "", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n  \"name\": \"m\",\n  \"version\": \"3\"\n}");
    resp_free(&r);
}

static void test_typed_over_http(void **state)
{
    (void)state;
    resp r;
    /* query strings: numbers arrive as text, one experiment_ids becomes a list */
    http_do("GET", "/typed?run_uuid=abc&step=7&value=0.25&experiment_ids=3", "", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\n  \"run_id\": \"abc\",\n  \"step\": 7,\n  \"value\": 0.25,\n"
                                "  \"experiment_ids\": [\n    \"3\"\n  ]\n}");
    resp_free(&r);

    http_do("POST", "/typed", JSON_CT, "{\"run_id\": \"r1\", \"value\": \"NaN\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body,
                        "{\n  \"run_id\": \"r1\",\n  \"step\": -1,\n  \"value\": \"NaN\"\n}");
    resp_free(&r);

    http_do("POST", "/typed", JSON_CT, "{\"run_id\": \"r1\", \"value\": Infinity}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"value\": 1.7976931348623157e+308"));
    resp_free(&r);

    http_do("POST", "/typed", JSON_CT, "{\"value\": 1}", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(
        r.body, "{\"error_code\": \"INVALID_PARAMETER_VALUE\", \"message\": \"Missing value "
                "for required parameter 'run_id'. See the API docs for more information "
                "about request parameters.\"}");
    resp_free(&r);

    http_do("POST", "/typed", JSON_CT, "{\"run_id\": \"r\", \"value\": \"abc\"}", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body,
                        "{\"error_code\": \"INVALID_PARAMETER_VALUE\", \"message\": "
                        "\"Invalid value \\\"abc\\\" for parameter 'value' supplied:  Hint: "
                        "Value was of type 'str'. See the API docs for more information "
                        "about request parameters.\"}");
    resp_free(&r);
}

static void test_error_statuses(void **state)
{
    (void)state;
    static const struct {
        trk_code code;
        const char *name;
        int status;
    } want[] = {
        {TRK_INVALID_PARAMETER_VALUE, "INVALID_PARAMETER_VALUE", 400},
        {TRK_BAD_REQUEST, "BAD_REQUEST", 400},
        {TRK_RESOURCE_ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS", 400},
        {TRK_UNAUTHENTICATED, "UNAUTHENTICATED", 401},
        {TRK_PERMISSION_DENIED, "PERMISSION_DENIED", 403},
        {TRK_ENDPOINT_NOT_FOUND, "ENDPOINT_NOT_FOUND", 404},
        {TRK_RESOURCE_DOES_NOT_EXIST, "RESOURCE_DOES_NOT_EXIST", 404},
        {TRK_INVALID_STATE, "INVALID_STATE", 500},
        {TRK_INTERNAL_ERROR, "INTERNAL_ERROR", 500},
        {TRK_NOT_IMPLEMENTED, "NOT_IMPLEMENTED", 501},
        {TRK_TEMPORARILY_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE", 503},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(trk__code_name(want[i].code), want[i].name);
        assert_int_equal(trk__code_status(want[i].code), want[i].status);
        char target[64], body[256];
        snprintf(target, sizeof target, "/fail?code=%d", (int)want[i].code);
        resp r;
        http_do("GET", target, "", NULL, &r);
        assert_int_equal(r.status, want[i].status);
        snprintf(body, sizeof body, "{\"error_code\": \"%s\", \"message\": \"failed with %d\"}",
                 want[i].name, (int)want[i].code);
        assert_string_equal(r.body, body);
        resp_free(&r);
    }
    assert_int_equal(trk__code_status((trk_code)99), 500);
    assert_string_equal(trk__code_name((trk_code)99), "INTERNAL_ERROR");
}

/* --- getters without a server ------------------------------------------------------------------
 */

static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_getters(void **state)
{
    (void)state;
    trk_err e;
    json_t *m =
        load("{\"s\": \"x\", \"empty\": \"\", \"n\": 5, \"r\": 1.5, \"ri\": 3.0, \"ns\": \"-42\","
             "\"bad\": \"1.5\", \"b\": true, \"bs\": \"false\", \"bx\": \"True\","
             "\"a\": [1], \"nul\": null, \"o\": {\"z\": 1, \"a\": [true, null]},"
             "\"inf\": \"-inf\", \"sp\": \" 2.5 \", \"hex\": \"0x10\", \"big\": 1e19}");
    const char *s = NULL;
    int64_t i = 0;
    double d = 0;
    int b = -1;
    json_t *a = NULL;

    assert_int_equal(trk__str(m, "s", 1, &s, &e), 0);
    assert_string_equal(s, "x");
    assert_int_equal(trk__str(m, "absent", 0, &s, &e), 1);
    assert_int_equal(trk__str(m, "nul", 0, &s, &e), 1); /* null is absent */
    assert_int_equal(trk__str(m, "empty", 0, &s, &e), 0);
    assert_string_equal(s, "");
    assert_int_equal(trk__str(m, "empty", 1, &s, &e), -1);
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    assert_string_equal(e.message, "Missing value for required parameter 'empty'. See the API "
                                   "docs for more information about request parameters.");
    assert_int_equal(trk__str(m, "n", 1, &s, &e), -1);
    assert_string_equal(e.message, "Invalid value 5 for parameter 'n' supplied:  Hint: Value was "
                                   "of type 'int'. See the API docs for more information about "
                                   "request parameters.");
    assert_int_equal(trk__str(m, "o", 0, &s, &e), -1);
    assert_string_equal(e.message, "Invalid value {\"a\":[true,null],\"z\":1} for parameter 'o' "
                                   "supplied:  Hint: Value was of type 'dict'. See the API docs "
                                   "for more information about request parameters.");

    assert_int_equal(trk__int(m, "n", 1, &i, &e), 0);
    assert_int_equal(i, 5);
    assert_int_equal(trk__int(m, "ri", 1, &i, &e), 0);
    assert_int_equal(i, 3);
    assert_int_equal(trk__int(m, "ns", 1, &i, &e), 0);
    assert_int_equal(i, -42);
    assert_int_equal(trk__int(m, "r", 1, &i, &e), -1);
    assert_non_null(strstr(e.message, "Invalid value 1.5 for parameter 'r'"));
    assert_int_equal(trk__int(m, "bad", 1, &i, &e), -1);
    assert_non_null(strstr(e.message, "Hint: Value was of type 'str'"));
    assert_int_equal(trk__int(m, "b", 1, &i, &e), -1);
    assert_non_null(strstr(e.message, "Invalid value true for parameter 'b'"));
    assert_int_equal(trk__int(m, "big", 1, &i, &e), -1);
    assert_int_equal(trk__int(m, "empty", 1, &i, &e), -1);
    assert_non_null(strstr(e.message, "Missing value"));
    assert_int_equal(trk__int(m, "empty", 0, &i, &e), 1);

    assert_int_equal(trk__double(m, "r", 1, &d, &e), 0);
    assert_true(d == 1.5);
    assert_int_equal(trk__double(m, "n", 1, &d, &e), 0);
    assert_true(d == 5.0);
    assert_int_equal(trk__double(m, "inf", 1, &d, &e), 0);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(trk__double(m, "sp", 1, &d, &e), 0);
    assert_true(d == 2.5);
    assert_int_equal(trk__double(m, "hex", 1, &d, &e), -1);
    assert_int_equal(trk__double(m, "s", 1, &d, &e), -1);
    assert_int_equal(trk__double(m, "absent", 1, &d, &e), -1);
    assert_non_null(strstr(e.message, "'absent'"));

    assert_int_equal(trk__bool(m, "b", 1, &b, &e), 0);
    assert_int_equal(b, 1);
    assert_int_equal(trk__bool(m, "bs", 1, &b, &e), 0);
    assert_int_equal(b, 0);
    assert_int_equal(trk__bool(m, "bx", 1, &b, &e), -1);
    assert_int_equal(trk__bool(m, "n", 1, &b, &e), -1);

    assert_int_equal(trk__array(m, "a", 1, &a, &e), 0);
    assert_ptr_equal(a, json_object_get(m, "a"));
    assert_int_equal(trk__array(m, "s", 1, &a, &e), 0); /* wrapped in place */
    assert_true(json_is_array(a) && json_array_size(a) == 1);
    assert_ptr_equal(a, json_object_get(m, "s"));
    assert_string_equal(json_string_value(json_array_get(a, 0)), "x");
    assert_int_equal(trk__array(m, "n", 1, &a, &e), -1);
    assert_int_equal(trk__array(m, "absent", 0, &a, &e), 1);
    json_decref(m);

    /* run_id, then the legacy run_uuid */
    m = load("{\"run_uuid\": \"u\", \"run_id\": \"i\"}");
    assert_int_equal(trk__run_id(m, &s, &e), 0);
    assert_string_equal(s, "i");
    json_decref(m);
    m = load("{\"run_uuid\": \"u\"}");
    assert_int_equal(trk__run_id(m, &s, &e), 0);
    assert_string_equal(s, "u");
    json_decref(m);
    m = load("{\"run_uuid\": 7}");
    assert_int_equal(trk__run_id(m, &s, &e), -1);
    assert_non_null(strstr(e.message, "parameter 'run_id'"));
    json_decref(m);
    m = load("{}");
    assert_int_equal(trk__run_id(m, &s, &e), -1);
    assert_non_null(strstr(e.message, "Missing value for required parameter 'run_id'"));
    json_decref(m);
}

static void test_fail_and_values(void **state)
{
    (void)state;
    trk_err e;
    /* a message cut at the buffer size never ends inside a UTF-8 sequence */
    char longtext[2100];
    for (size_t i = 0; i + 2 < sizeof longtext; i += 2)
        memcpy(longtext + i, "\xc3\xa9", 2);
    longtext[sizeof longtext - 1] = '\0';
    longtext[sizeof longtext - 2] = '\0';
    assert_int_equal(trk__fail(&e, TRK_BAD_REQUEST, "x%s", longtext), -1);
    assert_int_equal(e.code, TRK_BAD_REQUEST);
    size_t n = strlen(e.message);
    assert_true(n < sizeof e.message && n > 1000);
    assert_true(n % 2 == 1);             /* "x" + whole two-byte characters */
    json_t *js = json_string(e.message); /* valid UTF-8 */
    assert_non_null(js);
    json_decref(js);

    json_t *v = trk__metric_value(NAN, 0);
    assert_string_equal(json_string_value(v), "NaN");
    json_decref(v);
    v = trk__metric_value(1.0, 1);
    assert_string_equal(json_string_value(v), "NaN");
    json_decref(v);
    v = trk__metric_value(INFINITY, 0);
    assert_true(json_real_value(v) == DBL_MAX);
    json_decref(v);
    v = trk__metric_value(-INFINITY, 0);
    assert_true(json_real_value(v) == -DBL_MAX);
    json_decref(v);
    v = trk__metric_value(0.5, 0);
    assert_true(json_real_value(v) == 0.5);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_message),      cmocka_unit_test(test_body_message),
        cmocka_unit_test(test_content_type_rules), cmocka_unit_test(test_typed_over_http),
        cmocka_unit_test(test_error_statuses),     cmocka_unit_test(test_getters),
        cmocka_unit_test(test_fail_and_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
