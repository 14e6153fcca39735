/* store_seed - test helper for test_40_export.py: writes NDJSON documents from stdin into a
 * store through ef_store_write_batch (one transaction), so export tests do not depend on the
 * server or the MQTT path. Each line is a reading (a JSON object); its "collected" field (epoch
 * ms) is the document time.
 *
 *   ef_store_seed STORE_URI INDEX < readings.ndjson     prints "inserted N duplicates M" */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

int main(int argc, char **argv)
{
    int rc = 1;
    ef_store *store = NULL;
    ef_store_doc *docs = NULL;
    char **texts = NULL;
    size_t n = 0, cap = 0;
    char *msg = NULL, *line = NULL;
    size_t linecap = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: ef_store_seed STORE_URI INDEX < readings.ndjson\n");
        return 2;
    }
    ef_store_options so = {.uri = argv[1], .durable = 1, .busy_timeout_ms = 10000};
    if (ef_store_open(&so, &store, &msg) != EF_OK) {
        fprintf(stderr, "ef_store_seed: %s\n", msg ? msg : "cannot open store");
        goto out;
    }
    ssize_t len;
    while ((len = getline(&line, &linecap, stdin)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len) continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        if (!json_is_object(o)) {
            fprintf(stderr, "ef_store_seed: line %zu: not a JSON object\n", n + 1);
            json_decref(o);
            goto out;
        }
        json_t *c = json_object_get(o, "collected");
        int64_t collected = json_is_integer(c) ? (int64_t)json_integer_value(c) : INT64_MIN;
        json_decref(o);
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ef_store_doc *d = realloc(docs, cap * sizeof *d);
            char **t = realloc(texts, cap * sizeof *t);
            if (d) docs = d;
            if (t) texts = t;
            if (!d || !t) goto out;
        }
        texts[n] = strdup(line);
        if (!texts[n]) goto out;
        docs[n] = (ef_store_doc){.index = argv[2],
                                 .collected = collected,
                                 .source = texts[n],
                                 .source_len = (size_t)len};
        n++;
    }
    ef_store_batch_result res = {0};
    if (ef_store_write_batch(store, docs, n, NULL, 0, &res) != EF_OK) {
        fprintf(stderr, "ef_store_seed: write failed\n");
        goto out;
    }
    printf("inserted %zu duplicates %zu\n", res.inserted, res.duplicates);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(docs);
    free(line);
    free(msg);
    ef_store_free(store);
    return rc;
}
