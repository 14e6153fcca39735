/* fuzz_csv_table: arbitrary bytes as NDJSON lines -> ef_csv_table -> render, and the same bytes as
 * doubles -> ef_json_format_double. Checks that rendering never fails (but for memory), the output
 * starts with the header and ends with a newline, and every formatted float reads back exactly. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "csv/table.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ef_csv_table *t = ef_csv_table_new();
    if (!t) return 0;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int rc = ef_csv_table_add_text(t, p, len);
        if (rc != EF_OK && rc != EF_EINVAL) abort();
        p += len + (nl ? 1 : 0);
    }
    ef_buf out;
    ef_buf_init(&out);
    if (ef_csv_table_render(t, &out) != EF_OK) abort();
    if (out.len < 4 || memcmp(out.data, "idx", 3) != 0 || out.data[out.len - 1] != '\n') abort();
    ef_buf_release(&out);
    /* the float formatter on the raw bytes as doubles */
    char buf[32];
    for (size_t i = 0; i + sizeof(double) <= size; i += sizeof(double)) {
        double v;
        memcpy(&v, data + i, sizeof v);
        if (ef_json_format_double(v, buf, sizeof buf) <= 0) abort();
        if (v == v && strtod(buf, NULL) != v) abort();
    }
    ef_csv_table_free(t);
    return 0;
}
