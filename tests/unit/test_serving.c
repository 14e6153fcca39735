/* test_serving.c - unit tests of src/serving: the Seldon request parser (forms, column mapping
 * by name, every refusal with its message) and the runtime with nothing loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "serving/serve_int.h"
#include "serving/serving.h"

static char fa[] = "a", fb[] = "b", fc[] = "c";
static char *const feats[] = {fa, fb, fc};

static int parse(const char *body, const char *method, serve__seldon_req *q, char *msg)
{
    return serve__seldon_parse(body, strlen(body), method, feats, 3, q, msg, 256);
}

static void expect_ok(const char *body, const char *method, int form, size_t rows,
                      const double *want, int proba)
{
    serve__seldon_req q;
    char msg[256] = "";
    int rc = parse(body, method, &q, msg);
    if (rc)
        fail_msg("%s -> %s", body, msg);
    assert_int_equal(q.form, form);
    assert_int_equal(q.X.rows, rows);
    assert_int_equal(q.X.cols, 3);
    assert_int_equal(q.want_proba, proba);
    for (size_t i = 0; i < rows * 3; i++)
        assert_true(q.X.v[i] == want[i]);
    serve__seldon_req_release(&q);
}

static void expect_bad(const char *body, const char *method, const char *part)
{
    serve__seldon_req q;
    char msg[256] = "";
    assert_int_equal(parse(body, method, &q, msg), EF_EINVAL);
    if (!strstr(msg, part))
        fail_msg("%s: message '%s' lacks '%s'", body, msg, part);
    serve__seldon_req_release(&q);
}

static void test_forms(void **st)
{
    (void)st;
    const double two[] = {1, 2, 3, 4, 5, 6};
    expect_ok("{\"data\":{\"ndarray\":[[1,2,3],[4,5,6]]}}", NULL, SERVE__SELDON_NDARRAY, 2, two,
              0);
    expect_ok("{\"data\":{\"ndarray\":[1,2,3]}}", NULL, SERVE__SELDON_NDARRAY, 1, two, 0);
    expect_ok("{\"data\":{\"tensor\":{\"shape\":[2,3],\"values\":[1,2,3,4,5,6]}}}", NULL,
              SERVE__SELDON_TENSOR, 2, two, 0);
    /* names cover the features: columns picked by name */
    expect_ok("{\"data\":{\"names\":[\"c\",\"b\",\"a\"],\"ndarray\":[[3,2,1],[6,5,4]]}}", NULL,
              SERVE__SELDON_NDARRAY, 2, two, 0);
    /* names that do not cover them: positional */
    expect_ok("{\"data\":{\"names\":[\"x\",\"y\",\"z\"],\"ndarray\":[[1,2,3]]}}", NULL,
              SERVE__SELDON_NDARRAY, 1, two, 0);
    expect_ok("{\"jsonData\":{\"c\":[3,6],\"a\":[1,4],\"b\":[2,5]}}", NULL,
              SERVE__SELDON_JSONDATA, 2, two, 0);
    expect_ok("{\"jsonData\":[{\"b\":2,\"a\":1,\"c\":3,\"extra\":\"x\"}]}", NULL,
              SERVE__SELDON_JSONDATA, 1, two, 0);
    expect_ok("{\"data\":{\"ndarray\":[[1,2,3]]},\"meta\":{\"tags\":{\"predict_proba\":true}}}",
              NULL, SERVE__SELDON_NDARRAY, 1, two, 1);
    expect_ok("{\"data\":{\"ndarray\":[[1,2,3]]}}", "predict_proba", SERVE__SELDON_NDARRAY, 1,
              two, 1);
}

static void test_meta_echo(void **st)
{
    (void)st;
    serve__seldon_req q;
    char msg[256];
    assert_int_equal(parse("{\"data\":{\"ndarray\":[[1,2,3]]},\"meta\":{\"puid\":\"p\","
                           "\"tags\":{\"k\":1},\"routing\":{\"r\":0}}}", NULL, &q, msg), 0);
    char *s = json_dumps(q.meta, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(s, "{\"puid\":\"p\",\"tags\":{\"k\":1}}");
    free(s);
    serve__seldon_req_release(&q);
}

static void test_refusals(void **st)
{
    (void)st;
    expect_bad("{nope", NULL, "Can't find JSON in data");
    expect_bad("[1,2,3]", NULL, "must be a JSON object");
    expect_bad("{}", NULL, "no input");
    expect_bad("{\"data\":{},\"strData\":\"x\"}", NULL, "only one of");
    expect_bad("{\"binData\":\"eA==\"}", NULL, "not supported");
    expect_bad("{\"data\":[]}", NULL, "data must be an object");
    expect_bad("{\"data\":{\"ndarray\":[]}}", NULL, "empty batch");
    expect_bad("{\"data\":{\"ndarray\":{}}}", NULL, "array of rows");
    expect_bad("{\"data\":{\"ndarray\":[[1,2]]}}", NULL, "expects 3 features");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,3],[1,2]]}}", NULL, "row 1 has 2 values");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,3],5]}}", NULL, "row 1 is a number");
    expect_bad("{\"data\":{\"ndarray\":[[1,\"2\",3]]}}", NULL, "non-numeric value at row 0, "
               "column 1: a string");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,null]]}}", NULL, "missing value");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,false]]}}", NULL, "a boolean");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,1e999]]}}", NULL, "Can't find JSON");
    expect_bad("{\"data\":{\"tensor\":{\"shape\":[2,3],\"values\":[1,2,3]}}}", NULL,
               "has 3 values");
    expect_bad("{\"data\":{\"tensor\":{\"shape\":[1,1,3],\"values\":[1,2,3]}}}", NULL,
               "1 or 2 dimensions");
    expect_bad("{\"data\":{\"tensor\":{\"shape\":[-1,3],\"values\":[]}}}", NULL,
               "not a valid size");
    expect_bad("{\"data\":{\"tensor\":{\"shape\":[0,3],\"values\":[]}}}", NULL, "empty batch");
    expect_bad("{\"data\":{\"tensor\":{\"values\":[1]}}}", NULL, "needs \"shape\"");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,3]],\"tensor\":{}}}", NULL, "both");
    expect_bad("{\"data\":{\"names\":\"a\",\"ndarray\":[[1,2,3]]}}", NULL, "names must be");
    expect_bad("{\"jsonData\":{\"a\":[1],\"b\":[2]}}", NULL, "no column 'c'");
    expect_bad("{\"jsonData\":{\"a\":[1],\"b\":[2,3],\"c\":[4]}}", NULL, "has 2 values");
    expect_bad("{\"jsonData\":[{\"a\":1,\"b\":2}]}", NULL, "has no feature 'c'");
    expect_bad("{\"jsonData\":\"x\"}", NULL, "jsonData must be");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,3]]},\"meta\":[]}", NULL, "meta must be");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,3]]},\"meta\":{\"tags\":1}}", NULL, "meta.tags");
    expect_bad("{\"data\":{\"ndarray\":[[1,2,3]]}}", "decision_function", "method=");
}

static void test_runtime_empty(void **st)
{
    (void)st;
    ef_serve_opts o = {0};
    ef_metrics *m = ef_metrics_new();
    serve__ctx *s = serve__ctx_new(&o, m);
    assert_non_null(s);
    assert_int_equal(serve__ready(s), 0);
    assert_null(serve__acquire(s, NULL, NULL));
    assert_null(serve__acquire(s, "x", NULL));
    const char *names[1];
    assert_int_equal(serve__model_names(s, names, 1), 0);
    assert_int_equal(serve__max_body(s), 16u << 20);
    serve__observe(s, NULL, "seldon", 404, 0.001);
    ef_buf b = {0};
    assert_int_equal(ef_metrics_render(m, &b), 0);
    assert_non_null(strstr(b.data, "edgeflow_serve_requests_total{model=\"\",version=\"\","
                                    "protocol=\"seldon\",code=\"404\"} 1"));
    ef_buf_release(&b);
    ef_ml_err err;
    o.cache_dir = "/nonexistent-cache";
    const char *uris[] = {"models:/Nope/1"};
    o.models = uris;
    o.n_models = 1;
    o.tracking_uri = "http://127.0.0.1:1";
    serve__ctx *s2 = serve__ctx_new(&o, NULL);
    assert_int_not_equal(serve__load_all(s2, &err), 0);
    assert_non_null(strstr(err.msg, "no version of Nope is cached"));
    serve__ctx_free(s2);
    serve__ctx_free(s);
    ef_metrics_free(m);
}

static void dummy_handler(ef_http_req *r, void *ctx)
{
    (void)ctx;
    ef_http_reply(r, 200, "text/plain", "", 0);
}

/* ef_serve_new's refusals, following the registry with nothing found yet, and mounting next to a
 * host's own routes (/metrics is the host's when mounted; twice is an error). */
static void test_mount(void **st)
{
    (void)st;
    ef_ml_err err = {{0}};
    ef_serve *sv = NULL;
    ef_serve_opts none = {0};
    assert_int_equal(ef_serve_new(&none, NULL, &sv, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "nothing to serve"));
    const char *models[] = {"models:/X/1"};
    ef_serve_opts mixed = {.follow_registry = 1, .models = models, .n_models = 1};
    assert_int_equal(ef_serve_new(&mixed, NULL, &sv, &err), EF_EINVAL);
    assert_null(sv);

    ef_metrics *m = ef_metrics_new();
    ef_serve_opts follow = {.follow_registry = 1, .cache_dir = "/nonexistent-cache"};
    assert_int_equal(ef_serve_new(&follow, m, &sv, &err), 0);
    assert_int_equal(serve__ready(sv), 1); /* following, nothing selected yet: ready */
    assert_null(serve__acquire(sv, "WineQuality", NULL));

    ef_http_config hc = {.port = 0, .threads = 1, .name = "test"};
    ef_http_server *http = ef_http_server_new(&hc);
    assert_non_null(http);
    assert_int_equal(ef_http_route(http, "GET", "/metrics", dummy_handler, NULL), 0);
    assert_int_equal(ef_http_route(http, "POST", "/{index}/_search", dummy_handler, NULL), 0);
    assert_int_equal(ef_serve_mount(sv, http, EF_SERVE_MOUNTED, &err), 0);
    ef_http_server_free(http);

    http = ef_http_server_new(&hc);
    assert_int_equal(ef_http_route(http, "GET", "/metrics", dummy_handler, NULL), 0);
    assert_int_not_equal(ef_serve_mount(sv, http, 0, &err), 0);
    assert_non_null(strstr(err.msg, "serving routes"));
    ef_http_server_free(http);
    ef_serve_stop(sv);
    ef_serve_free(sv);
    ef_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_meta_echo),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_runtime_empty),
        cmocka_unit_test(test_mount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
