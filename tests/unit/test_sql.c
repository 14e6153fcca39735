/* test_sql.c - the SQL API over SQLite: open (file + memory), exec, prepare/bind/step/columns,
 * transactions, unique violations, changes, and the postgres hook without the backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "sql/sql.h"

static ef_sql *open_mem(void)
{
    ef_sql *db = NULL;
    char *err = NULL;
    assert_int_equal(ef_sql_open("sqlite::memory:", NULL, &db, &err), 0);
    assert_null(err);
    assert_int_equal(ef_sql_dialect(db), EF_SQL_SQLITE);
    return db;
}

static void test_memory_roundtrip(void **state)
{
    (void)state;
    ef_sql *db = open_mem();
    assert_int_equal(ef_sql_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, "
                                     "n INTEGER, d REAL, b BLOB)"),
                     0);
    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db, "INSERT INTO t(k,n,d,b) VALUES(?,?,?,?)", &st), 0);
    for (int i = 0; i < 3; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(ef_sql_bind_text(st, 1, k, strlen(k)), 0);
        assert_int_equal(ef_sql_bind_int64(st, 2, (int64_t)i * 10000000000LL), 0);
        assert_int_equal(ef_sql_bind_double(st, 3, i + 0.5), 0);
        if (i == 2)
            assert_int_equal(ef_sql_bind_null(st, 4), 0);
        else
            assert_int_equal(ef_sql_bind_blob(st, 4, "\0\1\2", 3), 0);
        assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
        assert_int_equal(ef_sql_changes(st), 1);
        assert_int_equal(ef_sql_reset(st), 0);
    }
    /* unique violation */
    assert_int_equal(ef_sql_bind_text(st, 1, "k1", 2), 0);
    assert_int_equal(ef_sql_step(st), EF_EEXIST);
    assert_non_null(strstr(ef_sql_errmsg(db), "UNIQUE"));
    ef_sql_reset(st);
    ef_sql_finalize(st);

    /* ON CONFLICT DO NOTHING: changes() == 0 */
    assert_int_equal(
        ef_sql_prepare(db, "INSERT INTO t(k) VALUES(?) ON CONFLICT(k) DO NOTHING", &st), 0);
    assert_int_equal(ef_sql_bind_text(st, 1, "k1", 2), 0);
    assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
    assert_int_equal(ef_sql_changes(st), 0);
    ef_sql_finalize(st);

    assert_int_equal(ef_sql_prepare(db, "SELECT k, n, d, b FROM t ORDER BY id", &st), 0);
    assert_int_equal(ef_sql_column_count(st), 4);
    int rows = 0;
    int rc;
    while ((rc = ef_sql_step(st)) == EF_SQL_ROW) {
        size_t len = 0;
        const char *k = ef_sql_column_text(st, 0, &len);
        assert_int_equal(len, 2);
        assert_int_equal(k[1], '0' + rows);
        assert_true(ef_sql_column_int64(st, 1) == (int64_t)rows * 10000000000LL);
        assert_true(ef_sql_column_double(st, 2) == rows + 0.5);
        const unsigned char *b = ef_sql_column_blob(st, 3, &len);
        if (rows == 2) {
            assert_true(ef_sql_column_is_null(st, 3));
            assert_null(b);
        } else {
            assert_false(ef_sql_column_is_null(st, 3));
            assert_int_equal(len, 3);
            assert_int_equal(b[2], 2);
        }
        rows++;
    }
    assert_int_equal(rc, EF_SQL_DONE);
    assert_int_equal(rows, 3);
    ef_sql_finalize(st);
    ef_sql_close(db);
}

static int64_t count_rows(ef_sql *db)
{
    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db, "SELECT count(*) FROM t", &st), 0);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    int64_t n = ef_sql_column_int64(st, 0);
    ef_sql_finalize(st);
    return n;
}

static void test_file_transactions(void **state)
{
    (void)state;
    char dir[] = "/tmp/ef_test_sql_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], uri[300];
    snprintf(path, sizeof path, "%s/x.db", dir);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    ef_sql_options opt = {.busy_timeout_ms = 2000, .durable = 0};
    ef_sql *db = NULL, *db2 = NULL;
    char *err = NULL;
    assert_int_equal(ef_sql_open(uri, &opt, &db, &err), 0);
    assert_int_equal(ef_sql_exec(db, "CREATE TABLE t(x INTEGER)"), 0);

    assert_int_equal(ef_sql_begin(db), 0);
    assert_int_equal(ef_sql_exec(db, "INSERT INTO t VALUES(1); INSERT INTO t VALUES(2)"), 0);
    assert_int_equal(ef_sql_rollback(db), 0);
    assert_int_equal(count_rows(db), 0);

    assert_int_equal(ef_sql_begin(db), 0);
    assert_int_equal(ef_sql_exec(db, "INSERT INTO t VALUES(1)"), 0);
    /* a second connection (plain path URI) sees nothing before the commit (WAL) */
    assert_int_equal(ef_sql_open(path, &opt, &db2, &err), 0);
    assert_int_equal(count_rows(db2), 0);
    assert_int_equal(ef_sql_commit(db), 0);
    assert_int_equal(count_rows(db2), 1);

    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db2, "PRAGMA journal_mode", &st), 0);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_string_equal(ef_sql_column_text(st, 0, NULL), "wal");
    ef_sql_finalize(st);

    /* errors: bad SQL, a read-only connection refusing writes */
    assert_int_equal(ef_sql_exec(db, "INSERT INTO nope VALUES(1)"), EF_EDB);
    assert_non_null(strstr(ef_sql_errmsg(db), "nope"));
    assert_int_equal(ef_sql_prepare(db, "SELEC 1", &st), EF_EDB);
    assert_null(st);
    ef_sql_close(db2);
    ef_sql_options ro = {.readonly = 1};
    assert_int_equal(ef_sql_open(uri, &ro, &db2, &err), 0);
    assert_int_equal(count_rows(db2), 1);
    assert_int_equal(ef_sql_exec(db2, "INSERT INTO t VALUES(3)"), EF_EDB);
    ef_sql_close(db2);
    ef_sql_close(db);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_open_errors(void **state)
{
    (void)state;
    ef_sql *db = NULL;
    char *err = NULL;
    assert_int_equal(ef_sql_open("sqlite:/nonexistent-dir/x/y.db", NULL, &db, &err), EF_EIO);
    assert_null(db);
    assert_non_null(err);
    free(err);
    err = NULL;
    assert_int_equal(ef_sql_open("sqlite:", NULL, &db, &err), EF_EINVAL);
    free(err);
    err = NULL;
    /* not a database */
    char path[] = "/tmp/ef_test_sql_notdb_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "this is not a sqlite database file at all, no......", 51), 51);
    close(fd);
    int rc = ef_sql_open(path, NULL, &db, &err);
    assert_true(rc == EF_ECORRUPT || rc == EF_EDB);
    assert_non_null(err);
    free(err);
    err = NULL;
    unlink(path);
#ifndef EF_HAVE_SQL_PG
    rc = ef_sql_open("postgresql://u@127.0.0.1:1/db", NULL, &db, &err);
    if (rc == EF_EUNSUPPORTED) {
        assert_non_null(err);
        assert_non_null(strstr(err, "PostgreSQL"));
    } else {
        assert_true(rc < 0); /* backend compiled in: connection refused */
    }
    free(err);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_roundtrip),
        cmocka_unit_test(test_file_transactions),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
