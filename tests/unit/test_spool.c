/* Unit tests for src/agent/spool.c: ordering, acks, restarts, bounds, torn tails, integrity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/spool.h"
#include "base/err.h"
#include "base/fs.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ef_spool_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ef_fs_rm_rf(dir);
}

static void append_n(ef_spool *s, int n)
{
    for (int i = 0; i < n; i++) {
        char p[64];
        uint64_t seq = ef_spool_next_seq(s);
        int len = snprintf(p, sizeof p, "{\"seq\":%llu}", (unsigned long long)seq);
        assert_int_equal(ef_spool_append(s, seq, p, (size_t)len), EF_OK);
    }
}

static int count_segments(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, "seg-", 4) == 0;
    closedir(d);
    return n;
}

static void test_order_ack_restart(void **state)
{
    (void)state;
    ef_spool_options o = {.max_records = 1000, .durable = 0, .segment_bytes = 256};
    ef_spool *s;
    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK);
    assert_int_equal(ef_spool_next_seq(s), 1);
    append_n(s, 50);
    assert_int_equal(ef_spool_pending(s), 50);
    assert_true(count_segments() > 3);
    /* out-of-order acks: 2 and 3 first, then 1 releases all three */
    ef_spool_ack(s, 2);
    ef_spool_ack(s, 3);
    assert_int_equal(ef_spool_pending(s), 50);
    ef_spool_ack(s, 1);
    assert_int_equal(ef_spool_pending(s), 47);
    ef_spool_ack(s, 1); /* duplicate ack: ignored */
    ef_spool_ack(s, 999); /* unknown */
    assert_int_equal(ef_spool_sync(s), EF_OK);
    ef_spool_close(s);

    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK);
    assert_int_equal(ef_spool_pending(s), 47);
    assert_int_equal(ef_spool_next_seq(s), 51);
    uint64_t seq;
    const void *p;
    size_t len;
    assert_int_equal(ef_spool_get(s, 0, &seq, &p, &len), EF_OK);
    assert_int_equal(seq, 4);
    assert_memory_equal(p, "{\"seq\":4}", len);
    for (uint64_t i = 4; i <= 50; i++)
        ef_spool_ack(s, i);
    assert_int_equal(ef_spool_pending(s), 0);
    assert_int_equal(ef_spool_sync(s), EF_OK);
    assert_int_equal(count_segments(), 0); /* everything acknowledged: segments deleted */
    ef_spool_close(s);

    /* seq survives even with an empty spool */
    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK);
    assert_int_equal(ef_spool_next_seq(s), 51);
    append_n(s, 1);
    ef_spool_close(s);
    char *report;
    assert_int_equal(ef_spool_check(dir, &report), EF_OK);
    assert_non_null(strstr(report, "1 pending"));
    free(report);
}

static void test_bound_drops_oldest(void **state)
{
    (void)state;
    ef_spool_options o = {.max_records = 10, .durable = 1};
    ef_spool *s;
    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK);
    append_n(s, 25);
    assert_int_equal(ef_spool_pending(s), 10);
    assert_int_equal(ef_spool_dropped(s), 15);
    uint64_t seq;
    const void *p;
    size_t len;
    ef_spool_get(s, 0, &seq, &p, &len);
    assert_int_equal(seq, 16);
    ef_spool_close(s);
    o.max_records = 4; /* a smaller bound on reopen drops more */
    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK);
    assert_int_equal(ef_spool_pending(s), 4);
    assert_int_equal(ef_spool_dropped(s), 21);
    ef_spool_close(s);
}

static void test_torn_tail_and_corruption(void **state)
{
    (void)state;
    ef_spool_options o = {.max_records = 100};
    ef_spool *s;
    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK);
    append_n(s, 5);
    ef_spool_close(s);
    char seg[256];
    snprintf(seg, sizeof seg, "%s/seg-%016x.log", dir, 1);
    /* a torn append: half a record at the end */
    int fd = open(seg, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "EFSP\x40\0\0\0", 8), 8);
    close(fd);
    char *report;
    assert_int_equal(ef_spool_check(dir, &report), EF_ECORRUPT);
    assert_non_null(strstr(report, "truncated"));
    free(report);
    assert_int_equal(ef_spool_open(dir, &o, &s), EF_OK); /* recovers by truncating the tail */
    assert_int_equal(ef_spool_pending(s), 5);
    append_n(s, 1);
    ef_spool_close(s);
    assert_int_equal(ef_spool_check(dir, &report), EF_OK);
    free(report);
    /* flip a payload byte: CRC mismatch is reported */
    fd = open(seg, O_RDWR);
    assert_int_equal(pwrite(fd, "X", 1, 22), 1);
    close(fd);
    assert_int_equal(ef_spool_check(dir, &report), EF_ECORRUPT);
    assert_non_null(strstr(report, "CRC"));
    free(report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_ack_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_and_corruption, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
