/* fuzz_json_dump - libFuzzer target for src/json.
 *
 * Input: any bytes. They are parsed with json_loadb (any value, U+0000 allowed in strings); a
 * document jansson accepts is written with ef_json_dump, which must succeed (jansson's parse
 * depth limit equals EF_JSON_MAX_DEPTH), and the text must parse back (strict, no flags but
 * JSON_DECODE_ANY | JSON_ALLOW_NUL) into a value json_equal to the original; ef_json_dumps must
 * give the same bytes. The input's bytes are also read as doubles: each formats, reads back
 * exactly, and (when finite) parses as a JSON real of the same value.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *v = json_loadb((const char *)data, size, flags, NULL);
    if (v) {
        ef_buf b;
        ef_buf_init(&b);
        int rc = ef_json_dump(v, &b);
        if (rc == EF_ENOMEM) goto done;
        if (rc != EF_OK) abort();
        json_error_t je;
        json_t *back = json_loadb(b.data, b.len, flags, &je);
        if (!back || !json_equal(back, v)) abort();
        json_decref(back);
        size_t len = 0;
        char *s = ef_json_dumps(v, &len);
        if (s && (len != b.len || memcmp(s, b.data, len) != 0)) abort();
        free(s);
    done:
        ef_buf_release(&b);
        json_decref(v);
    }
    char buf[EF_JSON_DOUBLE_MAX];
    for (size_t i = 0; i + sizeof(double) <= size; i += sizeof(double)) {
        double d;
        memcpy(&d, data + i, sizeof d);
        int n = ef_json_format_double(d, buf, sizeof buf);
        if (n <= 0 || (size_t)n >= sizeof buf) abort();
        if (!isfinite(d)) continue;
        if (strtod(buf, NULL) != d) abort();
        json_t *r = json_loadb(buf, (size_t)n, JSON_DECODE_ANY, NULL);
        if (!json_is_real(r) || json_real_value(r) != d) abort();
        json_decref(r);
    }
    return 0;
}
