/* Fuzz target for the HTTP router (src/http/router.c through http_int.h, no sockets): the input
 * is "METHOD PATH"; it is looked up in a fixed route table and the result is checked against the
 * router's invariants (parameters lie inside the path, a rest parameter runs to the end, a 405
 * has an Allow list, a match uses a fitting method). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_int.h"

/* CHECK() is compiled out in release builds; the checks must always run */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) abort();                                                                         \
    } while (0)

static void h(ef_http_req *r, void *ctx)
{
    (void)r;
    (void)ctx;
}

static http__router g_router;

static const char *const routes[][2] = {
    {"GET", "/"},
    {"GET", "/metrics"},
    {"GET", "/api/v1/indices"},
    {"GET", "/api/v1/series"},
    {"POST", "/{index}/_bulk"},
    {"GET", "/{index}/_search"},
    {"POST", "/{index}/_search"},
    {"*", "/{index}/_count"},
    {"GET", "/api/2.0/mlflow/experiments/get"},
    {"POST", "/api/2.0/mlflow/runs/log-batch"},
    {"GET", "/api/2.0/mlflow-artifacts/artifacts/{path*}"},
    {"PUT", "/api/2.0/mlflow-artifacts/artifacts/{path*}"},
    {"GET", "/files/{a}/{b}/{c}"},
    {"GET", "/files/x/{b}/z"},
    {"DELETE", "/files/{rest*}"},
    {"POST", "/v2/models/{model}/infer"},
    {"POST", "/v2/models/{model}/versions/{version}/infer"},
    {"GET", "/v2/models/{model}"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    http__router_init(&g_router);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http__router_add(&g_router, routes[i][0], routes[i][1], h, NULL, NULL) != EF_OK)
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in) return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *sp = strchr(in, ' ');
    const char *method = "GET", *path = in;
    if (sp) {
        *sp = '\0';
        method = in;
        path = sp + 1;
    }
    http__match m;
    http__router_lookup(&g_router, method, path, &m);
    size_t plen = strlen(path);
    if (m.route) {
        CHECK(m.path_matched);
        CHECK(strcmp(m.route->method, method) == 0 || strcmp(m.route->method, "*") == 0 ||
              (strcmp(method, "HEAD") == 0 && strcmp(m.route->method, "GET") == 0));
        CHECK(m.nparams == m.route->nparams);
        for (int i = 0; i < m.nparams; i++) {
            CHECK(m.params[i].off + m.params[i].len <= plen);
            CHECK(m.params[i].len > 0);
            CHECK(m.params[i].off > 0 && path[m.params[i].off - 1] == '/');
            if (m.route->rest && i == m.nparams - 1)
                CHECK(m.params[i].off + m.params[i].len == plen);
            else
                CHECK(memchr(path + m.params[i].off, '/', m.params[i].len) == NULL);
        }
    } else if (m.path_matched) {
        CHECK(m.allow[0] != '\0');
    }
    free(in);
    return 0;
}
