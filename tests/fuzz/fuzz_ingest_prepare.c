/* Fuzz target: arbitrary payloads through ingest's validation + reference transforms + key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/ingest.h"

static ef_transform *t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!t) {
        char err[128];
        t = ef_transform_new();
        ef_transform_add(t, "default", "collected=${now_ms}", err, sizeof err);
        ef_transform_add(t, "cast", "collected=long", err, sizeof err);
        ef_transform_add(t, "rename", "temp=temperature", err, sizeof err);
    }
    json_t *doc = NULL;
    int64_t col;
    char err[512];
    if (ef_ingest_prepare(t, "sensor/fuzz", data, size, 4096, 1700000000000LL, &doc,
                          &col, err, sizeof err) == 0) {
        free(ef_ingest_key(doc, "sensor/fuzz", data, size));
        json_decref(doc);
    }
    return 0;
}
