/* Unit tests for src/sql/pool.c: the writer lock, the bounded reader pool (read-only readers,
 * blocking when all are taken), the in-memory single-connection mode, and ef_sql_migrate
 * (applies missing steps once, rolls back a failing step, refuses a newer database, two
 * concurrent migrators of one file). SQLite files in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "sql/pool.h"

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/ef-pool-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ef_fs_rm_rf(g_dir);
    return 0;
}

static void db_uri(char *out, size_t n, const char *name)
{
    snprintf(out, n, "sqlite:%s/%s", g_dir, name);
}

static int64_t query_int(ef_sql *db, const char *sql)
{
    ef_sql_stmt *st = NULL;
    assert_int_equal(ef_sql_prepare(db, sql, &st), EF_OK);
    assert_int_equal(ef_sql_step(st), EF_SQL_ROW);
    int64_t v = ef_sql_column_int64(st, 0);
    ef_sql_finalize(st);
    return v;
}

/* --- migrations ------------------------------------------------------------------------------ */

static const char *const steps[] = {
    "CREATE TABLE a(x INTEGER); INSERT INTO a VALUES(1);",
    "CREATE TABLE b(y TEXT); INSERT INTO a VALUES(2);",
    "CREATE TABLE c(z INTEGER);",
};

static void test_migrate(void **state)
{
    (void)state;
    char uri[512];
    db_uri(uri, sizeof uri, "migrate.db");
    ef_sql_pool *p = NULL;
    char *err = NULL;
    assert_int_equal(ef_sql_pool_open(uri, NULL, 0, &p, &err), EF_OK);
    assert_int_equal(ef_sql_pool_dialect(p), EF_SQL_SQLITE);
    ef_sql *db;
    assert_int_equal(ef_sql_pool_writer(p, &db), EF_OK);

    assert_int_equal(ef_sql_migrate(db, "t", steps, steps, 2, &err), EF_OK);
    assert_null(err);
    assert_int_equal(query_int(db, "SELECT version FROM schema_migrations WHERE component='t'"), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 2);
    assert_true(query_int(db, "SELECT applied_ms FROM schema_migrations") > 1600000000000LL);

    /* again: nothing to do (the steps would fail if re-run: CREATE TABLE without IF NOT EXISTS) */
    assert_int_equal(ef_sql_migrate(db, "t", steps, steps, 2, &err), EF_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 2);

    /* the code grew a step: only that one runs */
    assert_int_equal(ef_sql_migrate(db, "t", steps, steps, 3, &err), EF_OK);
    assert_int_equal(query_int(db, "SELECT version FROM schema_migrations WHERE component='t'"), 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM c"), 0);

    /* components are independent */
    static const char *const other[] = {"CREATE TABLE o(x INTEGER);"};
    assert_int_equal(ef_sql_migrate(db, "other", other, other, 1, &err), EF_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM schema_migrations"), 2);

    /* a database newer than the code */
    assert_int_equal(ef_sql_migrate(db, "t", steps, steps, 2, &err), EF_EUNSUPPORTED);
    assert_non_null(err);
    assert_non_null(strstr(err, "version 3"));
    free(err);
    err = NULL;

    /* a failing step is rolled back whole and named */
    static const char *const bad[] = {
        "CREATE TABLE d(x INTEGER); INSERT INTO d VALUES(1);",
        "CREATE TABLE e(x INTEGER); INSERT INTO nosuch VALUES(1);",
    };
    assert_int_equal(ef_sql_migrate(db, "bad", bad, bad, 2, &err), EF_EDB);
    assert_non_null(err);
    assert_non_null(strstr(err, "step 1 -> 2"));
    assert_non_null(strstr(err, "nosuch"));
    free(err);
    err = NULL;
    assert_int_equal(query_int(db, "SELECT version FROM schema_migrations WHERE component='bad'"),
                     1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM d"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name='e'"), 0);
    /* and the connection is usable afterwards */
    assert_int_equal(ef_sql_begin(db), EF_OK);
    assert_int_equal(ef_sql_commit(db), EF_OK);

    ef_sql_pool_release(p, db);
    ef_sql_pool_free(p);
}

typedef struct mig_arg {
    const char *uri;
    int rc;
} mig_arg;

static void *migrate_thread(void *arg)
{
    mig_arg *a = arg;
    ef_sql *db = NULL;
    char *err = NULL;
    a->rc = ef_sql_open(a->uri, NULL, &db, &err);
    if (a->rc == EF_OK) {
        a->rc = ef_sql_migrate(db, "race", steps, steps, 3, &err);
        ef_sql_close(db);
    }
    free(err);
    return NULL;
}

static void test_migrate_race(void **state)
{
    (void)state;
    char uri[512];
    db_uri(uri, sizeof uri, "race.db");
    /* create the file (and WAL mode) first so the racers only race on the schema */
    ef_sql *db = NULL;
    char *err = NULL;
    assert_int_equal(ef_sql_open(uri, NULL, &db, &err), EF_OK);
    enum { N = 4 };
    pthread_t th[N];
    mig_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (mig_arg){uri, -1};
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, EF_OK);
    }
    assert_int_equal(query_int(db, "SELECT version FROM schema_migrations WHERE component='race'"),
                     3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 2); /* each step ran once */
    ef_sql_close(db);
}

/* --- readers and the writer ------------------------------------------------------------------ */

typedef struct pool_arg {
    ef_sql_pool *p;
    _Atomic int *held, *max_held;
    int rc, rows;
} pool_arg;

static void *reader_thread(void *arg)
{
    pool_arg *a = arg;
    for (int i = 0; i < 20; i++) {
        ef_sql *db = NULL;
        if (ef_sql_pool_reader(a->p, &db) != EF_OK) {
            a->rc = -1;
            return NULL;
        }
        int h = atomic_fetch_add(a->held, 1) + 1;
        int m = atomic_load(a->max_held);
        while (h > m && !atomic_compare_exchange_weak(a->max_held, &m, h))
            ;
        ef_sql_stmt *st = NULL;
        if (ef_sql_prepare(db, "SELECT count(*) FROM t", &st) == EF_OK &&
            ef_sql_step(st) == EF_SQL_ROW)
            a->rows = (int)ef_sql_column_int64(st, 0);
        else
            a->rc = -1;
        ef_sql_finalize(st);
        ef_sleep_ms(1);
        atomic_fetch_sub(a->held, 1);
        ef_sql_pool_release(a->p, db);
    }
    return NULL;
}

static void *writer_thread(void *arg)
{
    pool_arg *a = arg;
    for (int i = 0; i < 50; i++) {
        ef_sql *db = NULL;
        if (ef_sql_pool_writer(a->p, &db) != EF_OK) {
            a->rc = -1;
            return NULL;
        }
        /* read-modify-write: correct only if writers are serialised */
        int ok = ef_sql_begin(db) == EF_OK;
        int64_t n = 0;
        ef_sql_stmt *st = NULL;
        ok = ok && ef_sql_prepare(db, "SELECT n FROM counter", &st) == EF_OK &&
             ef_sql_step(st) == EF_SQL_ROW;
        if (ok) n = ef_sql_column_int64(st, 0);
        ef_sql_finalize(st);
        st = NULL;
        ok = ok && ef_sql_prepare(db, "UPDATE counter SET n = ?", &st) == EF_OK &&
             ef_sql_bind_int64(st, 1, n + 1) == EF_OK && ef_sql_step(st) == EF_SQL_DONE;
        ef_sql_finalize(st);
        ok = ok && ef_sql_exec(db, "INSERT INTO t VALUES(1)") == EF_OK;
        ok = ok && ef_sql_commit(db) == EF_OK;
        if (!ok) a->rc = -1;
        ef_sql_pool_release(a->p, db);
    }
    return NULL;
}

static void test_readers_and_writer(void **state)
{
    (void)state;
    char uri[512];
    db_uri(uri, sizeof uri, "pool.db");
    ef_sql_pool *p = NULL;
    char *err = NULL;
    ef_sql_options opt = {.busy_timeout_ms = 5000, .durable = 0};
    assert_int_equal(ef_sql_pool_open(uri, &opt, 2, &p, &err), EF_OK);
    ef_sql *db;
    assert_int_equal(ef_sql_pool_writer(p, &db), EF_OK);
    assert_int_equal(ef_sql_exec(db, "CREATE TABLE t(x INTEGER); CREATE TABLE counter(n INTEGER);"
                                     " INSERT INTO counter VALUES(0);"),
                     EF_OK);
    ef_sql_pool_release(p, db);

    /* readers are read-only connections */
    assert_int_equal(ef_sql_pool_reader(p, &db), EF_OK);
    assert_int_not_equal(ef_sql_exec(db, "INSERT INTO t VALUES(9)"), EF_OK);
    ef_sql_pool_release(p, db);

    _Atomic int held = 0, max_held = 0;
    enum { R = 6, W = 4 };
    pthread_t rt[R], wt[W];
    pool_arg ra[R], wa[W];
    for (int i = 0; i < W; i++) {
        wa[i] = (pool_arg){p, &held, &max_held, 0, 0};
        assert_int_equal(pthread_create(&wt[i], NULL, writer_thread, &wa[i]), 0);
    }
    for (int i = 0; i < R; i++) {
        ra[i] = (pool_arg){p, &held, &max_held, 0, 0};
        assert_int_equal(pthread_create(&rt[i], NULL, reader_thread, &ra[i]), 0);
    }
    for (int i = 0; i < W; i++) {
        pthread_join(wt[i], NULL);
        assert_int_equal(wa[i].rc, 0);
    }
    for (int i = 0; i < R; i++) {
        pthread_join(rt[i], NULL);
        assert_int_equal(ra[i].rc, 0);
    }
    assert_true(atomic_load(&max_held) <= 2); /* never more readers than max_readers */
    assert_true(atomic_load(&max_held) >= 1);

    assert_int_equal(ef_sql_pool_reader(p, &db), EF_OK);
    assert_int_equal(query_int(db, "SELECT n FROM counter"), W * 50);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), W * 50);
    ef_sql_pool_release(p, db);
    ef_sql_pool_free(p);
}

static void test_memory_single_connection(void **state)
{
    (void)state;
    ef_sql_pool *p = NULL;
    char *err = NULL;
    assert_int_equal(ef_sql_pool_open("sqlite::memory:", NULL, 4, &p, &err), EF_OK);
    ef_sql *w, *r;
    assert_int_equal(ef_sql_pool_writer(p, &w), EF_OK);
    assert_int_equal(ef_sql_exec(w, "CREATE TABLE m(x INTEGER); INSERT INTO m VALUES(7);"), EF_OK);
    ef_sql_pool_release(p, w);
    assert_int_equal(ef_sql_pool_reader(p, &r), EF_OK);
    assert_ptr_equal(r, w); /* the one connection */
    assert_int_equal(query_int(r, "SELECT x FROM m"), 7);
    ef_sql_pool_release(p, r);
    /* released: the writer is free again */
    assert_int_equal(ef_sql_pool_writer(p, &w), EF_OK);
    ef_sql_pool_release(p, w);
    ef_sql_pool_free(p);
}

static void test_open_errors(void **state)
{
    (void)state;
    ef_sql_pool *p = NULL;
    char *err = NULL;
    char uri[512];
    snprintf(uri, sizeof uri, "sqlite:%s/no/such/dir/x.db", g_dir);
    assert_int_not_equal(ef_sql_pool_open(uri, NULL, 0, &p, &err), EF_OK);
    assert_null(p);
    assert_non_null(err);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_migrate_race),
        cmocka_unit_test(test_readers_and_writer),
        cmocka_unit_test(test_memory_single_connection),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
