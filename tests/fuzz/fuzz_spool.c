/* Fuzz target: arbitrary bytes as a spool segment (and cursor); open + check must not crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/spool.h"
#include "base/fs.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/ef_fuzz_spool_XXXXXX";
    if (!mkdtemp(dir)) return 0;
    ef_log_set_level(EF_LOG_ERROR);
    ef_log_set_fd(-1);
    char path[128];
    size_t split = size > 0 ? data[0] % 48 : 0;
    if (split > size - (size > 0)) split = 0;
    snprintf(path, sizeof path, "%s/cursor", dir);
    if (split) ef_fs_write_atomic(path, data + 1, split, 0);
    snprintf(path, sizeof path, "%s/seg-%016x.log", dir, 1);
    size_t off = size ? 1 + split : 0;
    ef_fs_write_atomic(path, data + off, size - off, 0);
    char *report = NULL;
    ef_spool_check(dir, &report);
    free(report);
    ef_spool_options o = {.max_records = 8};
    ef_spool *s = NULL;
    if (ef_spool_open(dir, &o, &s) == 0) {
        uint64_t seq = ef_spool_next_seq(s);
        if (seq < (1ull << 60)) ef_spool_append(s, seq, "x", 1);
        ef_spool_close(s);
    }
    ef_fs_rm_rf(dir);
    return 0;
}
