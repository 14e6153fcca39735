/* Unit tests for the tracking RPCs (src/tracking/experiments.c, runs.c, metrics.c): a real
 * ef_tracking on a temp SQLite file, registered on a real ef_http server on 127.0.0.1 and driven
 * over raw sockets, checking MLflow's statuses, error codes, messages and entity shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "http/server.h"
#include "tracking/tracking.h"

static ef_http_server *g_srv;
static ef_tracking *g_trk;
static uint16_t g_port;
static char g_dir[64];

/* One request over a fresh connection; returns the status, *body the parsed JSON (or NULL). */
static int call(const char *method, const char *path, const char *json, json_t **body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
    struct sockaddr_in a = {0};
    ef_buf req, resp;
    char chunk[65536];
    ssize_t n;

    ef_buf_init(&req);
    ef_buf_init(&resp);
    *body = NULL;
    a.sin_family = AF_INET;
    a.sin_port = htons(g_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ef_buf_appendf(&req, "%s /api/2.0%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", method,
                   path);
    if (json)
        ef_buf_appendf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(json), json);
    else
        ef_buf_appends(&req, "\r\n");
    assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
    while ((n = read(fd, chunk, sizeof chunk)) > 0) ef_buf_append(&resp, chunk, (size_t)n);
    close(fd);
    if (resp.data && sscanf(resp.data, "HTTP/1.1 %d", &status) == 1) {
        const char *b = strstr(resp.data, "\r\n\r\n");
        if (b) *body = json_loads(b + 4, 0, NULL);
    }
    ef_buf_release(&req);
    ef_buf_release(&resp);
    return status;
}

/* POST with a printf-formatted body. */
static int post(json_t **body, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int post(json_t **body, const char *path, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return call("POST", path, buf, body);
}

static const char *err_code(json_t *b) { return json_string_value(json_object_get(b, "error_code")); }

static int setup(void **state)
{
    (void)state;
    char uri[128];
    char *err = NULL;
    ef_tracking_options o = {0};
    ef_http_config cfg = {0};

    snprintf(g_dir, sizeof g_dir, "/tmp/trk_runs_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(uri, sizeof uri, "sqlite:%s/t.db", g_dir);
    o.backend_uri = uri;
    o.artifacts_destination = g_dir;
    o.default_artifact_root = "mlflow-artifacts:/";
    if (ef_tracking_open(&o, &g_trk, &err) != 0) {
        fprintf(stderr, "open: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    cfg.threads = 4;
    cfg.name = "test";
    g_srv = ef_http_server_new(&cfg);
    if (!g_srv || ef_tracking_register(g_srv, g_trk) != 0 || ef_http_server_start(g_srv) != 0)
        return -1;
    g_port = ef_http_server_port(g_srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    ef_http_server_free(g_srv);
    ef_tracking_free(g_trk);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Creates an experiment and a run in it; run_id out (33 bytes). */
static void new_run(const char *exp_name, char *exp_id, char *run_id)
{
    json_t *b;
    assert_int_equal(post(&b, "/mlflow/experiments/create", "{\"name\": \"%s\"}", exp_name), 200);
    strcpy(exp_id, json_string_value(json_object_get(b, "experiment_id")));
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/create",
                          "{\"experiment_id\": \"%s\", \"start_time\": 5, \"tags\": [{\"key\":"
                          " \"k\", \"value\": \"v\"}]}", exp_id),
                     200);
    strcpy(run_id, json_string_value(json_object_get(
                       json_object_get(json_object_get(b, "run"), "info"), "run_id")));
    json_decref(b);
}

static void test_experiments(void **state)
{
    (void)state;
    json_t *b;
    char id[32];

    assert_int_equal(call("GET", "/mlflow/experiments/get-by-name?experiment_name=e1", NULL, &b),
                     404);
    assert_string_equal(err_code(b), "RESOURCE_DOES_NOT_EXIST");
    assert_string_equal(json_string_value(json_object_get(b, "message")),
                        "Could not find experiment with name 'e1'");
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/create",
                          "{\"name\": \"e1\", \"tags\": [{\"key\": \"a\", \"value\": \"1\"}]}"),
                     200);
    strcpy(id, json_string_value(json_object_get(b, "experiment_id")));
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/create", "{\"name\": \"e1\"}"), 400);
    assert_string_equal(err_code(b), "RESOURCE_ALREADY_EXISTS");
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/create", "{}"), 400);
    assert_string_equal(err_code(b), "INVALID_PARAMETER_VALUE");
    json_decref(b);
    assert_int_equal(call("GET", "/mlflow/experiments/get-by-name?experiment_name=e1", NULL, &b),
                     200);
    json_t *x = json_object_get(b, "experiment");
    assert_string_equal(json_string_value(json_object_get(x, "experiment_id")), id);
    char loc[64];
    snprintf(loc, sizeof loc, "mlflow-artifacts:/%s", id);
    assert_string_equal(json_string_value(json_object_get(x, "artifact_location")), loc);
    assert_string_equal(json_string_value(json_object_get(x, "lifecycle_stage")), "active");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(x, "tags"), 0), "value")), "1");
    json_decref(b);
    /* rename, delete (get still works, search active hides it), restore */
    assert_int_equal(post(&b, "/mlflow/experiments/update",
                          "{\"experiment_id\": \"%s\", \"new_name\": \"e1b\"}", id), 200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/delete", "{\"experiment_id\": \"%s\"}", id),
                     200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/delete", "{\"experiment_id\": \"%s\"}", id),
                     404);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/search",
                          "{\"max_results\": 10, \"filter\": \"name = 'e1b'\"}"), 200);
    assert_null(json_object_get(b, "experiments"));
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/search",
                          "{\"max_results\": 10, \"filter\": \"name = 'e1b'\","
                          " \"view_type\": \"ALL\"}"), 200);
    assert_int_equal(json_array_size(json_object_get(b, "experiments")), 1);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/restore", "{\"experiment_id\": \"%s\"}", id),
                     200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/experiments/search", "{}"), 400);
    json_decref(b);
    assert_int_equal(call("GET", "/mlflow/experiments/get?experiment_id=999", NULL, &b), 404);
    assert_string_equal(json_string_value(json_object_get(b, "message")),
                        "No Experiment with id=999 exists");
    json_decref(b);
}

static void test_runs_and_metrics(void **state)
{
    (void)state;
    json_t *b;
    char eid[32], rid[33], path[256];

    new_run("e2", eid, rid);
    assert_int_equal(post(&b, "/mlflow/runs/log-metric",
                          "{\"run_id\": \"%s\", \"key\": \"m\", \"value\": 1.5, \"timestamp\": 10,"
                          " \"step\": 2}", rid), 200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/log-metric",
                          "{\"run_id\": \"%s\", \"key\": \"m\", \"value\": \"NaN\","
                          " \"timestamp\": 11, \"step\": 1}", rid), 200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/log-metric",
                          "{\"run_id\": \"%s\", \"key\": \"bad*key\", \"value\": 1,"
                          " \"timestamp\": 11}", rid), 400);
    assert_string_equal(err_code(b), "INVALID_PARAMETER_VALUE");
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/log-metric",
                          "{\"run_id\": \"%s\", \"key\": \"m\", \"value\": 1}", rid), 400);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/log-metric",
                          "{\"run_id\": \"0123\", \"key\": \"m\", \"value\": 1, \"timestamp\": 1}"),
                     404);
    assert_string_equal(err_code(b), "RESOURCE_DOES_NOT_EXIST");
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/log-batch",
                          "{\"run_id\": \"%s\", \"metrics\": [{\"key\": \"m\", \"value\": 3,"
                          " \"timestamp\": 5, \"step\": 0}, {\"key\": \"m\", \"value\": 3,"
                          " \"timestamp\": 5, \"step\": 0}], \"params\": [{\"key\": \"p\","
                          " \"value\": \"1\"}], \"tags\": [{\"key\": \"mlflow.runName\","
                          " \"value\": \"renamed\"}]}", rid), 200);
    json_decref(b);
    /* history: 3 distinct points (the repeat is ignored), ordered by step */
    snprintf(path, sizeof path, "/mlflow/metrics/get-history?run_id=%s&metric_key=m", rid);
    assert_int_equal(call("GET", path, NULL, &b), 200);
    json_t *ms = json_object_get(b, "metrics");
    assert_int_equal(json_array_size(ms), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ms, 0), "step")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 1), "value")), "NaN");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ms, 2), "step")), 2);
    json_decref(b);
    /* param: same value ok, different value refused */
    assert_int_equal(post(&b, "/mlflow/runs/log-parameter",
                          "{\"run_id\": \"%s\", \"key\": \"p\", \"value\": \"1\"}", rid), 200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/log-parameter",
                          "{\"run_id\": \"%s\", \"key\": \"p\", \"value\": \"2\"}", rid), 400);
    assert_non_null(strstr(json_string_value(json_object_get(b, "message")),
                           "Changing param values is not allowed"));
    json_decref(b);
    /* a conflicting batch is all-or-nothing: its metric must not land */
    assert_int_equal(post(&b, "/mlflow/runs/log-batch",
                          "{\"run_id\": \"%s\", \"metrics\": [{\"key\": \"z\", \"value\": 1,"
                          " \"timestamp\": 1}], \"params\": [{\"key\": \"p\", \"value\": \"9\"}]}",
                          rid), 400);
    json_decref(b);
    /* get: latest metric is the greatest step (1.5 at step 2), name from the tag, params */
    snprintf(path, sizeof path, "/mlflow/runs/get?run_id=%s", rid);
    assert_int_equal(call("GET", path, NULL, &b), 200);
    json_t *run = json_object_get(b, "run"), *info = json_object_get(run, "info");
    json_t *data = json_object_get(run, "data");
    assert_string_equal(json_string_value(json_object_get(info, "run_name")), "renamed");
    assert_string_equal(json_string_value(json_object_get(info, "run_uuid")), rid);
    assert_string_equal(json_string_value(json_object_get(info, "status")), "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(info, "start_time")), 5);
    assert_int_equal(json_array_size(json_object_get(data, "metrics")), 1);
    assert_true(json_real_value(json_object_get(json_array_get(json_object_get(data, "metrics"),
                                                               0), "value")) == 1.5);
    assert_int_equal(json_array_size(json_object_get(data, "params")), 1);
    assert_non_null(json_object_get(run, "inputs"));
    json_decref(b);
    /* update -> run_info; delete -> writes refused; restore */
    assert_int_equal(post(&b, "/mlflow/runs/update",
                          "{\"run_id\": \"%s\", \"status\": \"FINISHED\", \"end_time\": 99}", rid),
                     200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "run_info"),
                                                          "status")), "FINISHED");
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/delete", "{\"run_id\": \"%s\"}", rid), 200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/set-tag",
                          "{\"run_id\": \"%s\", \"key\": \"t\", \"value\": \"v\"}", rid), 400);
    assert_non_null(strstr(json_string_value(json_object_get(b, "message")),
                           "must be in the 'active' state"));
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/restore", "{\"run_id\": \"%s\"}", rid), 200);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/delete-tag", "{\"run_id\": \"%s\", \"key\": \"nope\"}",
                          rid), 404);
    json_decref(b);
}

static void test_search_paging(void **state)
{
    (void)state;
    json_t *b;
    char eid[32], rid[33];
    int seen = 0;
    char token[256] = "";

    new_run("e3", eid, rid);
    for (int i = 0; i < 7; i++) {
        char id[33];
        assert_int_equal(post(&b, "/mlflow/runs/create",
                              "{\"experiment_id\": \"%s\", \"start_time\": %d}", eid, 100 + i),
                         200);
        strcpy(id, json_string_value(json_object_get(
                       json_object_get(json_object_get(b, "run"), "info"), "run_id")));
        json_decref(b);
        assert_int_equal(post(&b, "/mlflow/runs/log-metric",
                              "{\"run_id\": \"%s\", \"key\": \"rmse\", \"value\": %d.5,"
                              " \"timestamp\": 1}", id, i), 200);
        json_decref(b);
    }
    assert_int_equal(post(&b, "/mlflow/runs/search",
                          "{\"experiment_ids\": [\"%s\"], \"filter\": \"metrics.rmse < 3\"}", eid),
                     200);
    assert_int_equal(json_array_size(json_object_get(b, "runs")), 3);
    json_decref(b);
    for (int page = 0; page < 10; page++) {
        assert_int_equal(post(&b, "/mlflow/runs/search",
                              "{\"experiment_ids\": [\"%s\"], \"max_results\": 3,"
                              " \"order_by\": [\"start_time ASC\"]%s%s%s}", eid,
                              *token ? ", \"page_token\": \"" : "", token, *token ? "\"" : ""),
                         200);
        json_t *runs = json_object_get(b, "runs");
        seen += (int)json_array_size(runs);
        const char *t = json_string_value(json_object_get(b, "next_page_token"));
        snprintf(token, sizeof token, "%s", t ? t : "");
        json_decref(b);
        if (!*token) break;
    }
    assert_int_equal(seen, 8);
    assert_int_equal(post(&b, "/mlflow/runs/search",
                          "{\"experiment_ids\": [\"%s\"], \"max_results\": 50001}", eid), 400);
    json_decref(b);
    assert_int_equal(post(&b, "/mlflow/runs/search",
                          "{\"experiment_ids\": [\"%s\"], \"filter\": \"a = 1 or b = 2\"}", eid),
                     400);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_experiments),
        cmocka_unit_test(test_runs_and_metrics),
        cmocka_unit_test(test_search_paging),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
