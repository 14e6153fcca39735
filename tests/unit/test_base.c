/* Unit tests for src/base: buffers, string lists, durations, sizes, times, atomic files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/strlist.h"

static void test_buf(void **state)
{
    (void)state;
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_buf_appendf(&b, "%d-%s", 42, "x"), EF_OK);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ef_buf_appendc(&b, 'a'), EF_OK);
    assert_int_equal(b.len, 4 + 1000);
    assert_memory_equal(b.data, "42-xa", 5);
    ef_buf_consume(&b, 4);
    assert_int_equal(b.len, 1000);
    ef_buf_clear(&b);
    assert_int_equal(ef_buf_append_csv_field(&b, "a,\"b\"", 5), EF_OK);
    assert_string_equal(b.data, "\"a,\"\"b\"\"\"");
    size_t n;
    char *s = ef_buf_take(&b, &n);
    assert_int_equal(n, strlen(s));
    assert_null(b.data);
    free(s);
    s = ef_buf_take(&b, &n);
    assert_string_equal(s, "");
    free(s);
}

static void test_strlist(void **state)
{
    (void)state;
    ef_strlist l;
    ef_strlist_init(&l);
    assert_int_equal(ef_strlist_push_split(&l, " a, b ,,c ", ','), EF_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[1], "b");
    assert_string_equal(l.v[2], "c");
    ef_strlist_release(&l);
}

static void test_duration_size(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(ef_parse_duration_ms("15", &v), EF_OK);
    assert_int_equal(v, 15000);
    assert_int_equal(ef_parse_duration_ms("250ms", &v), EF_OK);
    assert_int_equal(v, 250);
    assert_int_equal(ef_parse_duration_ms("1h", &v), EF_OK);
    assert_int_equal(v, 3600000);
    assert_int_equal(ef_parse_duration_ms("0.5s", &v), EF_OK);
    assert_int_equal(v, 500);
    assert_int_equal(ef_parse_duration_ms("5x", &v), EF_EINVAL);
    assert_int_equal(ef_parse_duration_ms("-1", &v), EF_EINVAL);
    assert_int_equal(ef_parse_size("64k", &v), EF_OK);
    assert_int_equal(v, 65536);
    assert_int_equal(ef_parse_size("10MiB", &v), EF_OK);
    assert_int_equal(v, 10 << 20);
    assert_int_equal(ef_parse_size("10q", &v), EF_EINVAL);
}

static void test_time(void **state)
{
    (void)state;
    int64_t now = 1763812345678LL; /* 2025-11-22T11:52:25.678Z */
    int64_t v;
    assert_int_equal(ef_parse_time_ms("now", now, &v), EF_OK);
    assert_int_equal(v, now);
    assert_int_equal(ef_parse_time_ms("now-1h", now, &v), EF_OK);
    assert_int_equal(v, now - 3600000);
    assert_int_equal(ef_parse_time_ms("now/h", now, &v), EF_OK);
    assert_int_equal(v, 1763812800000LL - 3600000);
    assert_int_equal(ef_parse_time_ms("now-1d/d", now, &v), EF_OK);
    assert_int_equal(v, 1763683200000LL);
    assert_int_equal(ef_parse_time_ms("now-1M", now, &v), EF_OK);
    assert_int_equal(v, now - 31LL * 86400000);
    assert_int_equal(ef_parse_time_ms("2025-11-22T11:52:25.678Z", 0, &v), EF_OK);
    assert_int_equal(v, now);
    assert_int_equal(ef_parse_time_ms("2025-11-22T12:52:25.678+01:00", 0, &v), EF_OK);
    assert_int_equal(v, now);
    assert_int_equal(ef_parse_time_ms("2025-11-22", 0, &v), EF_OK);
    assert_int_equal(v, 1763769600000LL);
    assert_int_equal(ef_parse_time_ms("1700000000000", 0, &v), EF_OK);
    assert_int_equal(v, 1700000000000LL);
    assert_int_equal(ef_parse_time_ms("now-1q", now, &v), EF_EINVAL);
    assert_int_equal(ef_parse_time_ms("2025-13-01", now, &v), EF_EINVAL);
    assert_int_equal(ef_parse_time_ms("yesterday", now, &v), EF_EINVAL);
}

static void test_fs(void **state)
{
    (void)state;
    char dir[] = "/tmp/ef_test_fs_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    assert_int_equal(ef_fs_mkdir_p(path), EF_OK);
    snprintf(path, sizeof path, "%s/a/b/c/file", dir);
    assert_int_equal(ef_fs_write_atomic(path, "hello", 5, 1), EF_OK);
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_fs_read(path, 100, &b), EF_OK);
    assert_string_equal(b.data, "hello");
    ef_buf_clear(&b);
    assert_int_equal(ef_fs_read(path, 3, &b), EF_ETOOBIG);
    ef_buf_release(&b);
    assert_int_equal(ef_fs_rm_rf(dir), EF_OK);
    assert_false(ef_fs_exists(dir));
    assert_int_equal(ef_fs_read(path, 100, &b), EF_ENOTFOUND);
    ef_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),           cmocka_unit_test(test_strlist),
        cmocka_unit_test(test_duration_size), cmocka_unit_test(test_time),
        cmocka_unit_test(test_fs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
