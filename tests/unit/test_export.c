/* Unit tests for src/export: schedule arithmetic, option validation, and a folder export from a
 * real SQLite store (written through ef_store_write_batch) compared byte for byte. */
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
#include "base/err.h"
#include "base/fs.h"
#include "export/export.h"
#include "store/store.h"

#define H 3600000LL
#define M 60000LL
/* 2026-11-22T12:30:00Z */
#define T1230 1795350600000LL

static void test_next_run(void **state)
{
    (void)state;
    int64_t run, from, to;
    ef_export_next_run(T1230, H, &run, &from, &to);
    assert_int_equal(from, T1230 - 30 * M);                          /* 12:00 */
    assert_int_equal(to, T1230 + 30 * M);                            /* 13:00 */
    assert_int_equal(run, T1230 + 31 * M);                           /* 13:01, like `1 * * * *` */
    ef_export_next_run(T1230 + 30 * M + 30000, H, &run, &from, &to); /* 13:00:30 */
    assert_int_equal(run, T1230 + 31 * M); /* still 13:01 for [12:00, 13:00) */
    assert_int_equal(from, T1230 - 30 * M);
    ef_export_next_run(T1230 + 31 * M, H, &run, &from, &to); /* exactly 13:01: next is 14:01 */
    assert_int_equal(run, T1230 + 91 * M);
    assert_int_equal(from, T1230 + 30 * M);
    ef_export_next_run(T1230 + 1234, 2000, &run, &from, &to); /* 2 s: delay 200 ms */
    assert_int_equal(to % 2000, 0);
    assert_int_equal(run, to + 200);
    assert_true(run > T1230 + 1234 && run - 2000 <= T1230 + 1234);
    ef_export_next_run(T1230, 24 * H, &run, &from, &to); /* 1d: 00:01 UTC next day */
    assert_int_equal(to % (24 * H), 0);
    assert_int_equal(run, to + M);
    assert_int_equal(to - from, 24 * H);
}

static char tmpdir[64];

static void seed(const char *uri)
{
    ef_store *s = NULL;
    char *msg = NULL;
    ef_store_options so = {.uri = uri, .durable = 0, .busy_timeout_ms = 1000};
    assert_int_equal(ef_store_open(&so, &s, &msg), EF_OK);
    static const char *src[] = {
        "{\"device\":\"a\",\"temp\":1,\"collected\":1795350600000}",
        "{\"device\":\"b\",\"temp\":2,\"load\":0.5,\"collected\":1795350600001}",
        "{\"device\":\"a\",\"temp\":3,\"collected\":1795354200000}", /* at the window end */
    };
    ef_store_doc docs[3];
    for (int i = 0; i < 3; i++)
        docs[i] = (ef_store_doc){.index = "sensor-2026-11",
                                 .collected = i == 2 ? 1795354200000LL : 1795350600000LL + i,
                                 .source = src[i],
                                 .source_len = strlen(src[i])};
    ef_store_batch_result res;
    assert_int_equal(ef_store_write_batch(s, docs, 3, NULL, 0, &res), EF_OK);
    assert_int_equal(res.inserted, 3);
    ef_store_free(s);
    free(msg);
}

static void test_folder_export(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ef_export_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char uri[128], target[128], path[256];
    snprintf(uri, sizeof uri, "sqlite:%s/series.db", tmpdir);
    snprintf(target, sizeof target, "file://%s/out/", tmpdir);
    seed(uri);
    /* [12:30, 13:30): the third reading sits exactly at the end and is left out */
    ef_export_options o = {
        .store_uri = uri, .from_ms = T1230, .to_ms = T1230 + H, .target = target, .durable = 1};
    ef_export_result res;
    char err[512];
    assert_int_equal(ef_export_once(&o, &res, err, sizeof err), EF_OK);
    assert_int_equal(res.rows, 2);
    assert_int_equal(res.attempts, 1);
    snprintf(path, sizeof path, "%s/out/2026/11-22-12.csv", tmpdir);
    assert_string_equal(res.location, path);
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_fs_read(path, 1 << 20, &b), EF_OK);
    assert_string_equal(b.data, "idx,device,temp,collected,load\n"
                                "0,a,1,1795350600000,\n"
                                "1,b,2,1795350600001,0.5\n");
    assert_int_equal(res.bytes, b.len);
    ef_buf_release(&b);
    /* one device only */
    o.device = "b";
    o.key_pattern = "only-b.csv";
    assert_int_equal(ef_export_once(&o, &res, err, sizeof err), EF_OK);
    assert_int_equal(res.rows, 1);
    ef_fs_rm_rf(tmpdir);
}

static void test_bad_options(void **state)
{
    (void)state;
    char err[512];
    ef_export_options o = {
        .store_uri = "sqlite::memory:", .from_ms = 0, .to_ms = H, .target = "ftp://x/y"};
    assert_int_equal(ef_export_once(&o, NULL, err, sizeof err), EF_EINVAL);
    assert_non_null(strstr(err, "unsupported export target"));
    o.target = "s3:///nobucket";
    assert_int_equal(ef_export_once(&o, NULL, err, sizeof err), EF_EINVAL);
    o.target = "file:///tmp/x";
    o.key_pattern = "../%Y.csv";
    assert_int_equal(ef_export_once(&o, NULL, err, sizeof err), EF_EINVAL);
    assert_non_null(strstr(err, "'..'"));
    o.key_pattern = "/abs.csv";
    assert_int_equal(ef_export_once(&o, NULL, err, sizeof err), EF_EINVAL);
    o.key_pattern = "dir/";
    assert_int_equal(ef_export_once(&o, NULL, err, sizeof err), EF_EINVAL);
    o.key_pattern = NULL;
    o.from_ms = H;
    assert_int_equal(ef_export_once(&o, NULL, err, sizeof err), EF_EINVAL);
    assert_int_equal(ef_export_run_every(&o, 0, NULL, NULL), EF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_run),
        cmocka_unit_test(test_folder_export),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
