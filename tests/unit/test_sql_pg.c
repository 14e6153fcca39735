/* Unit tests for src/sql/sql_pg.c: the PostgreSQL backend of sql.h, against a real throwaway
 * cluster started by scripts/pg-test-cluster.sh (a temp dir, a free port on 127.0.0.1).
 *
 * Covered: connect errors as one readable line, exec of several statements, prepare/bind/step of
 * every type (NULL, int64 limits, doubles incl. NaN/inf, text with quotes/UTF-8, blobs with zero
 * bytes), '?' translation next to literals/identifiers/comments/dollar quotes and ?NNN,
 * transactions and rollback (incl. PostgreSQL's aborted-transaction state), unique violation ->
 * EF_EEXIST, changes(), step/reset/rebind semantics, the prepared-statement cache, session
 * settings from ef_sql_options, notices routed to the log, and recovery after the server kills
 * the session (inside and outside a transaction).
 *
 * Skips (exit 77, with a message) only when the PostgreSQL server binaries are not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "sql/sql.h"

#ifndef EF_SOURCE_DIR_DEFAULT
#define EF_SOURCE_DIR_DEFAULT "."
#endif

static char g_script[PATH_MAX];
static char g_uri[512];
static char g_dir[PATH_MAX];

static ef_sql *open_db(const ef_sql_options *opt)
{
    ef_sql *db = NULL;
    char *err = NULL;
    int rc = ef_sql_open(g_uri, opt, &db, &err);
    if (rc != EF_OK) fail_msg("ef_sql_open(%s): %s: %s", g_uri, ef_strerror(rc), err);
    assert_non_null(db);
    assert_int_equal(ef_sql_dialect(db), EF_SQL_POSTGRES);
    return db;
}

/* Runs a query expected to return one row with one column; returns its text (static). */
static const char *query1(ef_sql *db, const char *sql)
{
    static char out[1024];
    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db, sql, &st), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    const char *v = ef_sql_column_text(st, 0, NULL);
    snprintf(out, sizeof out, "%s", v ? v : "(null)");
    assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
    ef_sql_finalize(st);
    return out;
}

static int64_t count_rows(ef_sql *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return strtoll(query1(db, sql), NULL, 10);
}

static void assert_one_line(const char *msg)
{
    assert_non_null(msg);
    assert_true(strlen(msg) > 10);
    assert_null(strchr(msg, '\n'));
    assert_null(strchr(msg, '\t'));
}

static void test_connect_errors(void **state)
{
    (void)state;
    ef_sql *db = NULL;
    char *err = NULL;
    /* the cluster's port, wrong database */
    char uri[600];
    snprintf(uri, sizeof uri, "%.*snope_db", (int)(strrchr(g_uri, '/') - g_uri + 1), g_uri);
    assert_int_equal(ef_sql_open(uri, NULL, &db, &err), EF_EDB);
    assert_null(db);
    assert_one_line(err);
    assert_non_null(strstr(err, "nope_db"));
    assert_non_null(strstr(err, "does not exist"));
    free(err);
    err = NULL;
    /* nothing listens on port 1 */
    assert_int_equal(ef_sql_open("postgresql://postgres@127.0.0.1:1/edgeflow?connect_timeout=5",
                                 NULL, &db, &err),
                     EF_EDB);
    assert_one_line(err);
    assert_non_null(strstr(err, "127.0.0.1"));
    free(err);
    err = NULL;
    /* errmsg may be NULL */
    assert_int_equal(ef_sql_open("postgres://postgres@127.0.0.1:1/x", NULL, &db, NULL), EF_EDB);
}

static void test_exec_and_types(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    assert_int_equal(ef_sql_exec(db, "DROP TABLE IF EXISTS t_types;"
                                     "CREATE TABLE t_types (id INTEGER PRIMARY KEY, i BIGINT,"
                                     " d DOUBLE PRECISION, s TEXT, b BYTEA);"
                                     "CREATE INDEX IF NOT EXISTS t_types_i ON t_types(i)"),
                     EF_OK);
    static const unsigned char blob[] = {0, 'a', 0, 0xff, '\\', 'x', 0, 0x80};
    const char *text = "it's \"quoted\" ? and ünïcödé \\ back";
    ef_sql_stmt *ins = NULL;
    assert_int_equal(
        ef_sql_prepare(db, "INSERT INTO t_types (id, i, d, s, b) VALUES (?, ?, ?, ?, ?)", &ins),
        EF_OK);
    struct {
        int64_t i;
        double d;
    } rows[] = {{INT64_MAX, 0.1}, {INT64_MIN, -1e300}, {0, -0.0},     {42, 1.0 / 3.0},
                {7, NAN},         {8, INFINITY},       {9, -INFINITY}};
    for (int r = 0; r < (int)(sizeof rows / sizeof rows[0]); r++) {
        assert_int_equal(ef_sql_bind_int64(ins, 1, r), EF_OK);
        assert_int_equal(ef_sql_bind_int64(ins, 2, rows[r].i), EF_OK);
        assert_int_equal(ef_sql_bind_double(ins, 3, rows[r].d), EF_OK);
        assert_int_equal(ef_sql_bind_text(ins, 4, text, strlen(text)), EF_OK);
        assert_int_equal(ef_sql_bind_blob(ins, 5, blob, sizeof blob), EF_OK);
        assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
        assert_int_equal(ef_sql_changes(ins), 1);
        assert_int_equal(ef_sql_reset(ins), EF_OK);
    }
    /* a row of NULLs: explicit and (after reset) unbound; empty blob and empty text */
    assert_int_equal(ef_sql_bind_int64(ins, 1, 100), EF_OK);
    assert_int_equal(ef_sql_bind_null(ins, 2), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    assert_int_equal(ef_sql_reset(ins), EF_OK);
    assert_int_equal(ef_sql_bind_int64(ins, 1, 101), EF_OK);
    assert_int_equal(ef_sql_bind_text(ins, 4, "", 0), EF_OK);
    assert_int_equal(ef_sql_bind_blob(ins, 5, "", 0), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    /* out-of-range index, NUL inside text */
    assert_int_equal(ef_sql_bind_int64(ins, 0, 1), EF_EINVAL);
    assert_int_equal(ef_sql_bind_int64(ins, 6, 1), EF_EINVAL);
    assert_non_null(strstr(ef_sql_errmsg(db), "out of range"));
    assert_int_equal(ef_sql_bind_text(ins, 4, "a\0b", 3), EF_EINVAL);
    assert_non_null(strstr(ef_sql_errmsg(db), "NUL"));
    ef_sql_finalize(ins);

    ef_sql_stmt *sel = NULL;
    assert_int_equal(
        ef_sql_prepare(db, "SELECT id, i, d, s, b, i IS NULL FROM t_types ORDER BY id", &sel),
        EF_OK);
    for (int r = 0; r < (int)(sizeof rows / sizeof rows[0]); r++) {
        assert_int_equal(ef_sql_step(sel), EF_SQL_ROW);
        assert_int_equal(ef_sql_column_count(sel), 6);
        assert_int_equal(ef_sql_column_int64(sel, 0), r);
        assert_int_equal(ef_sql_column_int64(sel, 1), rows[r].i);
        double d = ef_sql_column_double(sel, 2);
        if (isnan(rows[r].d))
            assert_true(isnan(d));
        else
            assert_true(d == rows[r].d && signbit(d) == signbit(rows[r].d));
        size_t len = 0;
        const char *s = ef_sql_column_text(sel, 3, &len);
        assert_int_equal(len, strlen(text));
        assert_memory_equal(s, text, len);
        const void *b = ef_sql_column_blob(sel, 4, &len);
        assert_int_equal(len, sizeof blob);
        assert_memory_equal(b, blob, sizeof blob);
        assert_int_equal(ef_sql_column_int64(sel, 5), 0); /* boolean false */
        assert_false(ef_sql_column_is_null(sel, 1));
        /* a number read as text */
        char want[32];
        snprintf(want, sizeof want, "%" PRId64, rows[r].i);
        assert_string_equal(ef_sql_column_text(sel, 1, NULL), want);
    }
    assert_int_equal(ef_sql_step(sel), EF_SQL_ROW); /* id 100: NULLs */
    assert_int_equal(ef_sql_column_int64(sel, 0), 100);
    for (int c = 1; c <= 4; c++) {
        assert_true(ef_sql_column_is_null(sel, c));
        size_t len = 99;
        assert_null(ef_sql_column_text(sel, c, &len));
        assert_int_equal(len, 0);
        assert_null(ef_sql_column_blob(sel, c, &len));
    }
    assert_int_equal(ef_sql_column_int64(sel, 1), 0);
    assert_true(ef_sql_column_double(sel, 2) == 0.0);
    assert_int_equal(ef_sql_column_int64(sel, 5), 1); /* boolean true */
    assert_int_equal(ef_sql_step(sel), EF_SQL_ROW);   /* id 101: empty text and blob */
    size_t len = 99;
    assert_non_null(ef_sql_column_text(sel, 3, &len));
    assert_int_equal(len, 0);
    len = 99;
    assert_non_null(ef_sql_column_blob(sel, 4, &len));
    assert_int_equal(len, 0);
    assert_false(ef_sql_column_is_null(sel, 4));
    /* out-of-range columns are NULL, not a crash */
    assert_true(ef_sql_column_is_null(sel, 6));
    assert_true(ef_sql_column_is_null(sel, -1));
    assert_int_equal(ef_sql_step(sel), EF_SQL_DONE);
    assert_null(ef_sql_column_text(sel, 0, NULL));
    ef_sql_finalize(sel);
    ef_sql_close(db);
}

static void test_placeholders(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    ef_sql_stmt *st = NULL;
    /* '?' inside a literal, an E'' literal with \', a quoted identifier, comments and a
     * dollar-quoted body stay; the three real ones become $1..$3 */
    const char *sql =
        "SELECT '?' || ? AS \"a?\", 'it''s ?' AS b, E'\\'?' || ? AS c, /* ? /* ? */ */"
        " $$ ? $$ || $q$?$q$ AS d, -- ?\n ? AS e";
    assert_int_equal(ef_sql_prepare(db, sql, &st), EF_OK);
    assert_int_equal(ef_sql_bind_text(st, 1, "x", 1), EF_OK);
    assert_int_equal(ef_sql_bind_text(st, 2, "y", 1), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 3, -5), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 4, 1), EF_EINVAL); /* only 3 parameters */
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_int_equal(ef_sql_column_count(st), 5);
    assert_string_equal(ef_sql_column_text(st, 0, NULL), "?x");
    assert_string_equal(ef_sql_column_text(st, 1, NULL), "it's ?");
    assert_string_equal(ef_sql_column_text(st, 2, NULL), "'?y");
    assert_string_equal(ef_sql_column_text(st, 3, NULL), " ? ?");
    assert_int_equal(ef_sql_column_int64(st, 4), -5);
    assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
    ef_sql_finalize(st);

    /* SQLite's ?NNN, and a bare ? after it takes the next number */
    assert_int_equal(ef_sql_prepare(db, "SELECT ?2::text || ?1::text || ?::text", &st), EF_OK);
    assert_int_equal(ef_sql_bind_text(st, 1, "a", 1), EF_OK);
    assert_int_equal(ef_sql_bind_text(st, 2, "b", 1), EF_OK);
    assert_int_equal(ef_sql_bind_text(st, 3, "c", 1), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_string_equal(ef_sql_column_text(st, 0, NULL), "bac");
    ef_sql_finalize(st);

    /* native $n is counted too, and a parameter number out of range is refused */
    assert_int_equal(ef_sql_prepare(db, "SELECT $1::bigint + 1", &st), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 1, 41), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_int_equal(ef_sql_column_int64(st, 0), 42);
    ef_sql_finalize(st);
    assert_int_equal(ef_sql_prepare(db, "SELECT ?0", &st), EF_EINVAL);
    assert_int_equal(ef_sql_prepare(db, "SELECT ?70000", &st), EF_EINVAL);
    assert_one_line(ef_sql_errmsg(db));

    /* numbers in text parameters are inferred by the server: int64 beyond int4, doubles */
    assert_int_equal(ef_sql_prepare(db, "SELECT ? * 2, ? / 2", &st), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 1, 4000000000LL), EF_OK);
    assert_int_equal(ef_sql_bind_double(st, 2, 3.0), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_int_equal(ef_sql_column_int64(st, 0), 8000000000LL);
    assert_true(ef_sql_column_double(st, 1) == 1.5);
    ef_sql_finalize(st);

    /* the bound types may change between runs (NULL, int, double, text, blob): each run gets a
     * matching server-side variant */
    assert_int_equal(ef_sql_prepare(db, "SELECT quote_nullable(?), ? + ?", &st), EF_OK);
    static const char *const want[] = {"NULL", "'5'", "'2.5'", "'t'", "E'\\\\x5c30'"};
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 5; k++) {
            assert_int_equal(ef_sql_reset(st), EF_OK);
            switch (k) {
            case 0:
                assert_int_equal(ef_sql_bind_null(st, 1), EF_OK);
                break;
            case 1:
                assert_int_equal(ef_sql_bind_int64(st, 1, 5), EF_OK);
                break;
            case 2:
                assert_int_equal(ef_sql_bind_double(st, 1, 2.5), EF_OK);
                break;
            case 3:
                assert_int_equal(ef_sql_bind_text(st, 1, "t", 1), EF_OK);
                break;
            default:
                assert_int_equal(ef_sql_bind_blob(st, 1, "\\0", 2), EF_OK);
                break;
            }
            assert_int_equal(ef_sql_bind_int64(st, 2, 4000000000LL), EF_OK);
            assert_int_equal(ef_sql_bind_int64(st, 3, 4000000000LL), EF_OK);
            assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
            assert_string_equal(ef_sql_column_text(st, 0, NULL), want[k]);
            assert_int_equal(ef_sql_column_int64(st, 1), 8000000000LL);
        }
    }
    ef_sql_finalize(st);
    /* four server-side variants (NULL and text share the untyped one) */
    assert_string_equal(query1(db, "SELECT string_agg(parameter_types::text, ' ' "
                                   "ORDER BY parameter_types::text COLLATE \"C\") "
                                   "FROM pg_prepared_statements "
                                   "WHERE statement = 'SELECT quote_nullable($1), $2 + $3'"),
                        "{\"double precision\",bigint,bigint} {bigint,bigint,bigint} "
                        "{bytea,bigint,bigint} {text,bigint,bigint}");

    /* with parameters, server-side errors show at the first step */
    assert_int_equal(ef_sql_prepare(db, "SELECT x FROM no_such_table WHERE y = ?", &st), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 1, 1), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_EDB);
    assert_non_null(strstr(ef_sql_errmsg(db), "no_such_table"));
    assert_int_equal(ef_sql_step(st), EF_EDB);
    ef_sql_finalize(st);
    ef_sql_close(db);
}

static void test_transactions(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    assert_int_equal(
        ef_sql_exec(db, "DROP TABLE IF EXISTS t_tx; CREATE TABLE t_tx (k TEXT PRIMARY KEY)"),
        EF_OK);
    ef_sql_stmt *ins = NULL;
    assert_int_equal(ef_sql_prepare(db, "INSERT INTO t_tx (k) VALUES (?)", &ins), EF_OK);

    assert_int_equal(ef_sql_begin(db), EF_OK);
    for (int i = 0; i < 10; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(ef_sql_bind_text(ins, 1, k, (size_t)n), EF_OK);
        assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
        assert_int_equal(ef_sql_reset(ins), EF_OK);
    }
    assert_int_equal(ef_sql_rollback(db), EF_OK);
    assert_int_equal(count_rows(db, "t_tx"), 0);

    assert_int_equal(ef_sql_begin(db), EF_OK);
    assert_int_equal(ef_sql_bind_text(ins, 1, "a", 1), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    assert_int_equal(ef_sql_commit(db), EF_OK);
    assert_int_equal(count_rows(db, "t_tx"), 1);

    /* a failed statement aborts the PostgreSQL transaction until ROLLBACK */
    assert_int_equal(ef_sql_begin(db), EF_OK);
    assert_int_equal(ef_sql_reset(ins), EF_OK);
    assert_int_equal(ef_sql_bind_text(ins, 1, "b", 1), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    assert_int_equal(ef_sql_exec(db, "SELECT no_such_column FROM t_tx"), EF_EDB);
    assert_non_null(strstr(ef_sql_errmsg(db), "no_such_column"));
    assert_int_equal(ef_sql_reset(ins), EF_OK);
    assert_int_equal(ef_sql_bind_text(ins, 1, "c", 1), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_EDB);
    assert_non_null(strstr(ef_sql_errmsg(db), "25P02"));
    assert_int_equal(ef_sql_rollback(db), EF_OK);
    assert_int_equal(count_rows(db, "t_tx"), 1);
    /* the statement works again after the rollback */
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    assert_int_equal(count_rows(db, "t_tx"), 2);
    ef_sql_finalize(ins);
    ef_sql_close(db);
}

static void test_unique_and_changes(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    assert_int_equal(
        ef_sql_exec(db, "DROP TABLE IF EXISTS t_u;"
                        "CREATE TABLE t_u (id BIGSERIAL PRIMARY KEY, k TEXT UNIQUE, n BIGINT)"),
        EF_OK);
    ef_sql_stmt *ins = NULL, *ign = NULL, *upd = NULL, *del = NULL, *sel = NULL;
    assert_int_equal(ef_sql_prepare(db, "INSERT INTO t_u (k, n) VALUES (?, ?)", &ins), EF_OK);
    for (int i = 0; i < 5; i++) {
        char k[8];
        int n = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(ef_sql_bind_text(ins, 1, k, (size_t)n), EF_OK);
        assert_int_equal(ef_sql_bind_int64(ins, 2, i), EF_OK);
        assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
        assert_int_equal(ef_sql_reset(ins), EF_OK);
    }
    assert_int_equal(ef_sql_bind_text(ins, 1, "k3", 2), EF_OK);
    assert_int_equal(ef_sql_bind_int64(ins, 2, 99), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_EEXIST);
    assert_one_line(ef_sql_errmsg(db));
    assert_non_null(strstr(ef_sql_errmsg(db), "duplicate key"));
    assert_non_null(strstr(ef_sql_errmsg(db), "(k)=(k3)"));
    assert_non_null(strstr(ef_sql_errmsg(db), "23505"));
    assert_int_equal(ef_sql_exec(db, "INSERT INTO t_u (k, n) VALUES ('k1', 1)"), EF_EEXIST);

    assert_int_equal(
        ef_sql_prepare(db, "INSERT INTO t_u (k, n) VALUES (?, ?) ON CONFLICT (k) DO NOTHING", &ign),
        EF_OK);
    assert_int_equal(ef_sql_bind_text(ign, 1, "k3", 2), EF_OK);
    assert_int_equal(ef_sql_bind_int64(ign, 2, 99), EF_OK);
    assert_int_equal(ef_sql_step(ign), EF_SQL_DONE);
    assert_int_equal(ef_sql_changes(ign), 0);
    assert_int_equal(ef_sql_reset(ign), EF_OK);
    assert_int_equal(ef_sql_bind_text(ign, 1, "k9", 2), EF_OK);
    assert_int_equal(ef_sql_step(ign), EF_SQL_DONE);
    assert_int_equal(ef_sql_changes(ign), 1);

    assert_int_equal(ef_sql_prepare(db, "UPDATE t_u SET n = n + 10 WHERE n < ?", &upd), EF_OK);
    assert_int_equal(ef_sql_bind_int64(upd, 1, 3), EF_OK);
    assert_int_equal(ef_sql_step(upd), EF_SQL_DONE);
    assert_int_equal(ef_sql_changes(upd), 3);
    assert_int_equal(ef_sql_changes(upd), 3); /* stable until the next run */

    assert_int_equal(ef_sql_prepare(db, "DELETE FROM t_u WHERE n >= ? RETURNING id", &del), EF_OK);
    assert_int_equal(ef_sql_bind_int64(del, 1, 10), EF_OK);
    int rows = 0;
    while (ef_sql_step(del) == EF_SQL_ROW)
        rows++;
    assert_int_equal(rows, 3);
    assert_int_equal(ef_sql_changes(del), 3);

    /* a SELECT changes nothing */
    assert_int_equal(ef_sql_prepare(db, "SELECT k FROM t_u", &sel), EF_OK);
    while (ef_sql_step(sel) == EF_SQL_ROW) {
    }
    assert_int_equal(ef_sql_changes(sel), 0);
    assert_int_equal(count_rows(db, "t_u"), 3);
    ef_sql_finalize(ins);
    ef_sql_finalize(ign);
    ef_sql_finalize(upd);
    ef_sql_finalize(del);
    ef_sql_finalize(sel);
    ef_sql_close(db);
}

static void test_errors_readable(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db, "SELEC 1", &st), EF_EDB);
    assert_null(st);
    assert_one_line(ef_sql_errmsg(db));
    assert_non_null(strstr(ef_sql_errmsg(db), "syntax error"));
    assert_non_null(strstr(ef_sql_errmsg(db), "prepare"));
    assert_int_equal(ef_sql_exec(db, "SELECT * FROM no_such_table"), EF_EDB);
    assert_one_line(ef_sql_errmsg(db));
    assert_non_null(strstr(ef_sql_errmsg(db), "no_such_table"));
    assert_non_null(strstr(ef_sql_errmsg(db), "42P01"));
    /* errors at run time */
    assert_int_equal(ef_sql_prepare(db, "SELECT 1 / ?", &st), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 1, 0), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_EDB);
    assert_non_null(strstr(ef_sql_errmsg(db), "division by zero"));
    assert_int_equal(ef_sql_reset(st), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 1, 2), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_int_equal(ef_sql_column_int64(st, 0), 0);
    ef_sql_finalize(st);
    /* several statements, one empty */
    assert_int_equal(ef_sql_exec(db, ";;SELECT 1;"), EF_OK);
    assert_int_equal(ef_sql_exec(db, ""), EF_OK);
    ef_sql_close(db);
}

static void test_step_semantics(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db, "SELECT g FROM generate_series(1, ?::int) g", &st), EF_OK);
    assert_int_equal(ef_sql_bind_int64(st, 1, 3), EF_OK);
    for (int round = 0; round < 2; round++) { /* step after DONE runs again */
        for (int i = 1; i <= 3; i++) {
            assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
            assert_int_equal(ef_sql_column_int64(st, 0), i);
        }
        assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
    }
    /* rebinding in the middle of the rows starts over with the new value */
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_int_equal(ef_sql_bind_int64(st, 1, 1), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    assert_int_equal(ef_sql_column_int64(st, 0), 1);
    assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
    /* reset clears the bindings: NULL bound gives no rows */
    assert_int_equal(ef_sql_reset(st), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
    ef_sql_finalize(st);
    ef_sql_close(db);
}

static void test_statement_cache(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    assert_int_equal(ef_sql_exec(db, "DEALLOCATE ALL"), EF_OK);
    /* the same text prepared again and again reuses one server-side statement */
    for (int i = 0; i < 50; i++) {
        ef_sql_stmt *st = NULL;
        assert_int_equal(ef_sql_prepare(db, "SELECT ? + 1", &st), EF_OK);
        assert_int_equal(ef_sql_bind_int64(st, 1, i), EF_OK);
        assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
        assert_int_equal(ef_sql_column_int64(st, 0), i + 1);
        ef_sql_finalize(st);
    }
    assert_string_equal(query1(db, "SELECT count(*) FROM pg_prepared_statements"), "2");
    /* the same text live twice at once, with different bindings */
    ef_sql_stmt *a = NULL, *b = NULL;
    assert_int_equal(ef_sql_prepare(db, "SELECT ?::int * 10", &a), EF_OK);
    assert_int_equal(ef_sql_prepare(db, "SELECT ?::int * 10", &b), EF_OK);
    assert_int_equal(ef_sql_bind_int64(a, 1, 1), EF_OK);
    assert_int_equal(ef_sql_bind_int64(b, 1, 2), EF_OK);
    assert_int_equal(ef_sql_step(a), EF_SQL_ROW);
    assert_int_equal(ef_sql_step(b), EF_SQL_ROW);
    assert_int_equal(ef_sql_column_int64(a, 0), 10);
    assert_int_equal(ef_sql_column_int64(b, 0), 20);
    ef_sql_finalize(a);
    ef_sql_finalize(b);
    /* many distinct texts: the cache stays bounded (evicted ones are deallocated) */
    for (int i = 0; i < 200; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT %d + ?", i);
        ef_sql_stmt *st = NULL;
        assert_int_equal(ef_sql_prepare(db, sql, &st), EF_OK);
        assert_int_equal(ef_sql_bind_int64(st, 1, 1), EF_OK);
        assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
        assert_int_equal(ef_sql_column_int64(st, 0), i + 1);
        ef_sql_finalize(st);
    }
    int64_t n = strtoll(query1(db, "SELECT count(*) FROM pg_prepared_statements"), NULL, 10);
    assert_true(n > 1 && n <= 40);
    ef_sql_close(db);
}

static void test_options_and_notices(void **state)
{
    (void)state;
    ef_sql_options opt = {.durable = 0, .busy_timeout_ms = 1500};
    ef_sql *db = open_db(&opt);
    assert_string_equal(query1(db, "SHOW synchronous_commit"), "off");
    assert_string_equal(query1(db, "SHOW lock_timeout"), "1500ms");
    assert_string_equal(query1(db, "SHOW client_min_messages"), "warning");
    assert_string_equal(query1(db, "SHOW application_name"), "edgeflow");
    ef_sql_close(db);
    opt.durable = 1;
    opt.readonly = 1;
    db = open_db(&opt);
    assert_string_equal(query1(db, "SHOW synchronous_commit"), "on");
    assert_int_equal(ef_sql_exec(db, "CREATE TABLE t_ro (x int)"), EF_EDB);
    assert_non_null(strstr(ef_sql_errmsg(db), "read-only"));
    ef_sql_close(db);

    /* notices go to the log at debug level, on one line */
    char path[] = "/tmp/ef_pg_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    ef_log_level old = ef_log_get_level();
    ef_log_set_fd(fd);
    ef_log_set_level(EF_LOG_DEBUG);
    db = open_db(NULL);
    assert_int_equal(ef_sql_exec(db,
                                 "SET client_min_messages = notice;"
                                 "DO $$ BEGIN RAISE NOTICE 'hello ? from %', 'plpgsql'; END $$"),
                     EF_OK);
    ef_sql_close(db);
    ef_log_set_level(old);
    ef_log_set_fd(2);
    char buf[4096] = {0};
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    unlink(path);
    assert_non_null(strstr(buf, "postgresql: NOTICE: hello ? from plpgsql"));
}

/* Kills this connection's server process from a second connection. */
static void kill_backend(ef_sql *db)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)",
             query1(db, "SELECT pg_backend_pid()"));
    ef_sql *other = open_db(NULL);
    assert_string_equal(query1(other, sql), "t");
    ef_sql_close(other);
    usleep(100 * 1000);
}

static void test_reconnect(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    assert_int_equal(
        ef_sql_exec(db, "DROP TABLE IF EXISTS t_rc; CREATE TABLE t_rc (k INT PRIMARY KEY)"), EF_OK);
    ef_sql_stmt *ins = NULL;
    assert_int_equal(ef_sql_prepare(db, "INSERT INTO t_rc (k) VALUES (?)", &ins), EF_OK);

    /* outside a transaction: the failing call reports it, the next one works on a new session,
     * with the statement prepared again */
    kill_backend(db);
    assert_int_equal(ef_sql_bind_int64(ins, 1, 1), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_EDB);
    assert_one_line(ef_sql_errmsg(db));
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    assert_int_equal(count_rows(db, "t_rc"), 1);
    assert_string_equal(query1(db, "SHOW client_min_messages"), "warning");

    /* inside a transaction: nothing goes on until the caller rolls back */
    assert_int_equal(ef_sql_begin(db), EF_OK);
    assert_int_equal(ef_sql_reset(ins), EF_OK);
    assert_int_equal(ef_sql_bind_int64(ins, 1, 2), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    kill_backend(db);
    assert_int_equal(ef_sql_reset(ins), EF_OK);
    assert_int_equal(ef_sql_bind_int64(ins, 1, 3), EF_OK);
    assert_int_equal(ef_sql_step(ins), EF_EDB);
    assert_int_equal(ef_sql_step(ins), EF_EDB); /* would autocommit on the new session */
    assert_non_null(strstr(ef_sql_errmsg(db), "ROLLBACK"));
    assert_int_equal(ef_sql_commit(db), EF_EDB);
    assert_int_equal(ef_sql_rollback(db), EF_OK);
    assert_int_equal(count_rows(db, "t_rc"), 1);
    assert_int_equal(ef_sql_step(ins), EF_SQL_DONE);
    assert_int_equal(count_rows(db, "t_rc"), 2);
    ef_sql_finalize(ins);
    ef_sql_close(db);
}

/* Not a benchmark: a sanity check that a batch of 1000 prepared inserts in one transaction is
 * quick, with the figure printed. */
static void test_batch_insert(void **state)
{
    (void)state;
    ef_sql *db = open_db(NULL);
    assert_int_equal(ef_sql_exec(db,
                                 "DROP TABLE IF EXISTS t_batch;"
                                 "CREATE TABLE t_batch (id BIGSERIAL PRIMARY KEY, key TEXT UNIQUE,"
                                 " collected BIGINT, source TEXT)"),
                     EF_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int batch = 0; batch < 2; batch++) { /* the second batch is all duplicates */
        ef_sql_stmt *st = NULL;
        assert_int_equal(ef_sql_begin(db), EF_OK);
        assert_int_equal(
            ef_sql_prepare(db,
                           "INSERT INTO t_batch (key, collected, source) VALUES (?, ?, ?)"
                           " ON CONFLICT (key) DO NOTHING",
                           &st),
            EF_OK);
        int64_t inserted = 0;
        for (int i = 0; i < 1000; i++) {
            char key[32], src[96];
            int kn = snprintf(key, sizeof key, "dev-1/%d", i);
            int sn =
                snprintf(src, sizeof src, "{\"device\":\"dev-1\",\"seq\":%d,\"temp\":41234}", i);
            assert_int_equal(ef_sql_bind_text(st, 1, key, (size_t)kn), EF_OK);
            assert_int_equal(ef_sql_bind_int64(st, 2, 1700000000000LL + i), EF_OK);
            assert_int_equal(ef_sql_bind_text(st, 3, src, (size_t)sn), EF_OK);
            assert_int_equal(ef_sql_step(st), EF_SQL_DONE);
            inserted += ef_sql_changes(st);
            assert_int_equal(ef_sql_reset(st), EF_OK);
        }
        ef_sql_finalize(st);
        assert_int_equal(ef_sql_commit(db), EF_OK);
        assert_int_equal(inserted, batch == 0 ? 1000 : 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("# 2 x 1000 prepared inserts: %.1f ms (%.0f rows/s)\n", ms, 2000.0 / (ms / 1e3));
    assert_int_equal(count_rows(db, "t_batch"), 1000);
    ef_sql_close(db);
}

/* ---- the cluster ------------------------------------------------------------------------ */

static int run_script(const char *args, char *out, size_t outlen)
{
    char cmd[PATH_MAX * 2 + 64];
    snprintf(cmd, sizeof cmd, "'%s' %s", g_script, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = out ? fread(out, 1, outlen - 1, p) : 0;
    if (out) out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cluster_start(void)
{
    char out[2048];
    int rc = run_script("start", out, sizeof out);
    if (rc != 0) return rc;
    char *nl = strchr(out, '\n');
    if (!nl) return -1;
    *nl = '\0';
    char *dir = nl + 1;
    dir[strcspn(dir, "\n")] = '\0';
    if (strlen(out) >= sizeof g_uri || strlen(dir) >= sizeof g_dir) return -1;
    memcpy(g_uri, out, strlen(out) + 1);
    memcpy(g_dir, dir, strlen(dir) + 1);
    return g_uri[0] && g_dir[0] ? 0 : -1;
}

static void cluster_stop(void)
{
    char args[PATH_MAX + 16];
    if (!g_dir[0]) return;
    snprintf(args, sizeof args, "stop '%s'", g_dir);
    run_script(args, NULL, 0);
}

int main(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    snprintf(g_script, sizeof g_script, "%s/scripts/pg-test-cluster.sh",
             src && *src ? src : EF_SOURCE_DIR_DEFAULT);
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("EF_PG_WATCH_PID", pid, 1); /* the cluster goes away with us, even on a crash */
    int rc = cluster_start();
    if (rc == 77) {
        printf("SKIP: PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
               "install Debian's postgresql package to run test_sql_pg\n");
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "test_sql_pg: %s start failed (%d)\n", g_script, rc);
        cluster_stop();
        return 1;
    }
    printf("# cluster %s in %s\n", g_uri, g_dir);
    fflush(stdout);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_errors),      cmocka_unit_test(test_exec_and_types),
        cmocka_unit_test(test_placeholders),        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_unique_and_changes),  cmocka_unit_test(test_errors_readable),
        cmocka_unit_test(test_step_semantics),      cmocka_unit_test(test_statement_cache),
        cmocka_unit_test(test_options_and_notices), cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_batch_insert),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    cluster_stop();
    return failed;
}
