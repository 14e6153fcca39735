/* fuzz_transform - libFuzzer target for the transform engine (src/transform).
 *
 * Input: a small pipeline spec, a line "@@", then a JSON document.
 * Spec lines: "<op> <arg>" (ef_transform_add flag form), "topic <t>", "now <ms>", "index
 * <pattern>", "time <field>"; or, when the first line is "yaml", the rest of the spec is a YAML
 * pipeline file. The pipeline is applied to the document; invariants checked: apply never crashes
 * or leaks, a successful apply leaves a document jansson can dump (valid UTF-8 everywhere) and that
 * reads back equal, and an index name, when produced, obeys the index-name rules.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "transform/transform.h"

#define MAX_LINES 16

static void check_index_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255) abort();
    if (name[0] == '-' || name[0] == '_' || name[0] == '+') abort();
    if (!strcmp(name, ".") || !strcmp(name, "..")) abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((c >= 'A' && c <= 'Z') || c < 0x20 || strchr("\\/*?\"<>| ,#:", c)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sep = memmem(data, size, "\n@@\n", 4);
    if (!sep) return 0;
    size_t spec_len = (size_t)(sep - (const char *)data);
    char *spec = malloc(spec_len + 1);
    if (!spec) return 0;
    memcpy(spec, data, spec_len);
    spec[spec_len] = '\0';
    const char *doc_text = sep + 4;
    size_t doc_len = size - spec_len - 4;

    ef_transform *t = ef_transform_new();
    ef_transform_ctx ctx = {1700000000000, "sensor/dev1"};
    char *topic = NULL, *index = NULL;
    char err[256];
    json_t *doc = NULL;
    if (!t) goto out;

    if (strncmp(spec, "yaml\n", 5) == 0) {
        if (ef_transform_load_yaml_mem(t, "fuzz.yaml", spec + 5, spec_len - 5, err, sizeof err) !=
            EF_OK)
            goto out;
    } else {
        char *save = NULL;
        int lines = 0;
        for (char *line = strtok_r(spec, "\n", &save); line && lines < MAX_LINES;
             line = strtok_r(NULL, "\n", &save), lines++) {
            char *arg = strchr(line, ' ');
            if (!arg) continue;
            *arg++ = '\0';
            if (!strcmp(line, "topic")) {
                free(topic);
                topic = strdup(arg);
                ctx.topic = topic;
            } else if (!strcmp(line, "now")) {
                ctx.now_ms = strtoll(arg, NULL, 10);
            } else if (!strcmp(line, "index")) {
                free(index);
                index = strdup(arg);
                ef_transform_set_index_pattern(t, arg, err, sizeof err);
            } else if (!strcmp(line, "time")) {
                ef_transform_set_time_field(t, arg, err, sizeof err);
            } else {
                ef_transform_add(t, line, arg, err, sizeof err);
            }
        }
    }

    json_error_t je;
    doc = json_loadb(doc_text, doc_len, JSON_ALLOW_NUL, &je);
    if (!doc) goto out;
    if (ef_transform_apply(t, doc, &ctx, err, sizeof err) == EF_OK) {
        char *dump = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dump) abort(); /* an op produced a value jansson cannot encode */
        json_t *back = json_loads(dump, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
        if (!back || !json_equal(back, doc)) abort();
        json_decref(back);
        free(dump);
        int64_t ms;
        const char *pattern = ef_transform_index_pattern(t);
        if (ef_transform_doc_time_ms(t, doc, &ms) != EF_OK) ms = ctx.now_ms;
        char name[256];
        if (pattern) {
            if (ef_transform_index_name(pattern, ms, name, sizeof name) == EF_OK)
                check_index_name(name);
        }
        if (index && ef_transform_index_name(index, ms, name, sizeof name) == EF_OK)
            check_index_name(name);
    }
out:
    json_decref(doc);
    ef_transform_free(t);
    free(topic);
    free(index);
    free(spec);
    return 0;
}
