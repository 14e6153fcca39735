/* Fuzz target for the artifact-path normaliser (src/tracking/artifact_path.c), the check that
 * stands between a client's URL and the artifact folder. For any input the function either
 * refuses it with INVALID_PARAMETER_VALUE "Invalid path", or returns a path with no ".." or "."
 * segment, no leading or trailing '/', no empty segment, no '%XX', no '\\', no control byte,
 * no '#', that normalising again leaves unchanged (idempotence), and that is no longer than the
 * input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracking/artifact_path.h"

/* the checks must run in release builds too */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) abort();                                                                         \
    } while (0)

static int hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[TRK_ARTIFACT_PATH_MAX + 1], again[TRK_ARTIFACT_PATH_MAX + 1];
    trk_err e;
    if (trk__artifact_path_normalize_n((const char *)data, size, out, sizeof out, &e) != 0) {
        CHECK(e.code == TRK_INVALID_PARAMETER_VALUE);
        CHECK(strcmp(e.message, "Invalid path") == 0);
        return 0;
    }
    size_t n = strlen(out);
    CHECK(n <= size);
    if (n == 0) return 0;
    CHECK(out[0] != '/' && out[n - 1] != '/');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        CHECK(c >= 0x20 && c != 0x7f && c != '\\' && c != '#');
        CHECK(!(c == '%' && i + 2 < n && hex((unsigned char)out[i + 1]) &&
                hex((unsigned char)out[i + 2])));
    }
    /* segments: none empty, none "." or ".." */
    for (const char *s = out;;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        CHECK(len > 0 && len <= 255);
        CHECK(!(len == 1 && s[0] == '.'));
        CHECK(!(len == 2 && s[0] == '.' && s[1] == '.'));
        if (!slash) break;
        s = slash + 1;
    }
    CHECK(trk__artifact_path_normalize(out, again, sizeof again, &e) == 0);
    CHECK(strcmp(out, again) == 0);
    return 0;
}
