/* fuzz_es_query.c - libFuzzer target for the store's Elasticsearch subset: the query compiler
 * (any JSON document, both SQL dialects, _search and _count) and, when the input starts with a
 * NUL byte, the _bulk NDJSON parser writing into an in-memory SQLite store. Every compiled query
 * is also run on that store, so SQL the compiler emits must always prepare. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "store/store.h"
#include "store/store_int.h"

static ef_store *g_store;
static unsigned g_runs;

static ef_store *store(void)
{
    if (g_store && ++g_runs % 2000 == 0) { /* keep the in-memory database small */
        ef_store_free(g_store);
        g_store = NULL;
    }
    if (!g_store) {
        ef_store_options o = {.uri = "sqlite::memory:"};
        char *err = NULL;
        ef_log_set_level(EF_LOG_ERROR);
        if (ef_store_open(&o, &g_store, &err)) abort();
        const char seed[] = "{\"index\":{\"_index\":\"sensor-2026-11\",\"_id\":\"1\"}}\n"
                            "{\"device\":\"pi-1\",\"temp\":1,\"collected\":5}\n";
        json_t *out = NULL;
        if (ef_store_bulk(g_store, NULL, seed, sizeof seed - 1, &out)) abort();
        json_decref(out);
    }
    return g_store;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ef_store *s = store();
    json_t *out = NULL;
    if (size && data[0] == 0) {
        int rc = ef_store_bulk(s, "fuzz", (const char *)data + 1, size - 1, &out);
        if (rc != EF_OK && rc != EF_EINVAL) abort();
        if (!out) abort();
        json_decref(out);
        return 0;
    }
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!body) return 0;
    for (int d = 0; d < 2; d++) {
        for (int count = 0; count < 2; count++) {
            store__query q;
            store__query_init(&q, d ? EF_SQL_POSTGRES : EF_SQL_SQLITE, 1700000000000);
            int rc = store__query_compile(&q, body, count);
            if (rc == EF_EINVAL && (q.status != 400 || !q.etype[0] || !q.ereason[0])) abort();
            if (rc && rc != EF_EINVAL && rc != EF_ENOMEM) abort();
            store__query_release(&q);
        }
    }
    /* the SQLite SQL must run: only 400/404 answers are acceptable, never a 500 */
    int rc = ef_store_search(s, "sensor-*", body, &out);
    if (rc != EF_OK && rc != EF_EINVAL) abort();
    json_decref(out);
    out = NULL;
    rc = ef_store_count(s, "_all", body, &out);
    if (rc != EF_OK && rc != EF_EINVAL) abort();
    json_decref(out);
    json_decref(body);
    return 0;
}
