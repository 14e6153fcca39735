/* pool.c - connections for a multi-threaded server over one database (pool.h), and versioned
 * schema migrations.
 *
 * One writer connection behind a mutex, and up to max_readers reader connections opened on
 * demand and kept in an idle stack guarded by a second mutex + condition variable. Readers are
 * opened read-only, so a handler that writes through a reader fails loudly instead of racing the
 * writer. An in-memory SQLite database exists only inside its one connection, so such a pool
 * hands out the writer for reads too (a reader then waits for the writer lock).
 *
 * Migrations run each step in its own transaction that first takes the database's write lock
 * (SQLite BEGIN IMMEDIATE; PostgreSQL a transaction-scoped advisory lock), then reads the
 * component's version: two processes starting together serialise there and the second sees the
 * new version. CREATE TABLE schema_migrations is part of that transaction (both dialects have
 * transactional DDL).
 */
#include "sql/pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#define POOL_MAGIC 0x504f4f4cu /* "POOL" */
#define POOL_DEFAULT_READERS 8
/* pg_advisory_xact_lock key of migrations: "efmigrat" */
#define PG_MIGRATE_LOCK "7306925668165181812"

struct ef_sql_pool {
    uint32_t magic;
    char *uri;
    ef_sql_options opt;
    int have_opt;
    ef_sql_dialect_t dialect;
    int single; /* in-memory SQLite: the writer serves reads too */

    pthread_mutex_t wlock;
    ef_sql *writer;

    pthread_mutex_t rlock;
    pthread_cond_t rcond;
    ef_sql **idle; /* max_readers slots */
    int nidle, nopen, max_readers;
};

static int is_memory_uri(const char *uri)
{
    const char *p = uri;
    if (strncmp(p, "sqlite:", 7) == 0) p += 7;
    return strcmp(p, ":memory:") == 0 || strcmp(p, "") == 0;
}

int ef_sql_pool_open(const char *uri, const ef_sql_options *opt, int max_readers, ef_sql_pool **out,
                     char **errmsg)
{
    int rc = EF_ENOMEM;
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    ef_sql_pool *p = calloc(1, sizeof *p);
    if (!p) goto fail;
    p->magic = POOL_MAGIC;
    p->max_readers = max_readers > 0 ? max_readers : POOL_DEFAULT_READERS;
    p->uri = strdup(uri);
    p->idle = calloc((size_t)p->max_readers, sizeof *p->idle);
    if (!p->uri || !p->idle) goto fail_free;
    if (opt) {
        p->opt = *opt;
        p->have_opt = 1;
    }
    if (pthread_mutex_init(&p->wlock, NULL) != 0) goto fail_free;
    if (pthread_mutex_init(&p->rlock, NULL) != 0) goto fail_wlock;
    if (pthread_cond_init(&p->rcond, NULL) != 0) goto fail_rlock;
    rc = ef_sql_open(uri, opt, &p->writer, errmsg);
    if (rc != EF_OK) goto fail_cond;
    p->dialect = ef_sql_dialect(p->writer);
    p->single = p->dialect == EF_SQL_SQLITE && is_memory_uri(uri);
    *out = p;
    return EF_OK;

fail_cond:
    pthread_cond_destroy(&p->rcond);
fail_rlock:
    pthread_mutex_destroy(&p->rlock);
fail_wlock:
    pthread_mutex_destroy(&p->wlock);
fail_free:
    free(p->idle);
    free(p->uri);
    free(p);
fail:
    if (rc == EF_ENOMEM && errmsg && !*errmsg) *errmsg = strdup("out of memory");
    return rc;
}

void ef_sql_pool_free(ef_sql_pool *p)
{
    if (!p) return;
    if (p->magic != POOL_MAGIC) {
        EF_ERROR("sql pool: free of an invalid handle");
        return;
    }
    if (p->nidle != p->nopen)
        EF_ERROR("sql pool: freed with %d reader connection(s) still taken", p->nopen - p->nidle);
    for (int i = 0; i < p->nidle; i++)
        ef_sql_close(p->idle[i]);
    ef_sql_close(p->writer);
    pthread_cond_destroy(&p->rcond);
    pthread_mutex_destroy(&p->rlock);
    pthread_mutex_destroy(&p->wlock);
    free(p->idle);
    free(p->uri);
    p->magic = 0;
    free(p);
}

ef_sql_dialect_t ef_sql_pool_dialect(const ef_sql_pool *p)
{
    return p->dialect;
}

int ef_sql_pool_writer(ef_sql_pool *p, ef_sql **out)
{
    if (pthread_mutex_lock(&p->wlock) != 0) return EF_EDB;
    *out = p->writer;
    return EF_OK;
}

int ef_sql_pool_reader(ef_sql_pool *p, ef_sql **out)
{
    if (p->single) return ef_sql_pool_writer(p, out);
    pthread_mutex_lock(&p->rlock);
    while (p->nidle == 0 && p->nopen >= p->max_readers)
        pthread_cond_wait(&p->rcond, &p->rlock);
    if (p->nidle > 0) {
        *out = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->rlock);
        return EF_OK;
    }
    p->nopen++; /* claim the slot, open outside the lock */
    pthread_mutex_unlock(&p->rlock);

    ef_sql_options ro = p->have_opt ? p->opt : (ef_sql_options){.busy_timeout_ms = 10000};
    ro.readonly = 1;
    char *err = NULL;
    int rc = ef_sql_open(p->uri, &ro, out, &err);
    if (rc != EF_OK) {
        EF_ERROR("sql pool: cannot open a reader connection: %s", err ? err : ef_strerror(rc));
        free(err);
        pthread_mutex_lock(&p->rlock);
        p->nopen--;
        pthread_cond_signal(&p->rcond);
        pthread_mutex_unlock(&p->rlock);
        *out = NULL;
        return EF_EDB;
    }
    return EF_OK;
}

void ef_sql_pool_release(ef_sql_pool *p, ef_sql *db)
{
    if (!db) return;
    if (db == p->writer) {
        pthread_mutex_unlock(&p->wlock);
        return;
    }
    pthread_mutex_lock(&p->rlock);
    p->idle[p->nidle++] = db;
    pthread_cond_signal(&p->rcond);
    pthread_mutex_unlock(&p->rlock);
}

/* --- migrations ------------------------------------------------------------------------------ */

/* Starts a step's transaction holding the database's write lock. */
static int migrate_begin(ef_sql *db)
{
    if (ef_sql_begin(db) != EF_OK) return EF_EDB;
    if (ef_sql_dialect(db) == EF_SQL_POSTGRES &&
        ef_sql_exec(db, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")") != EF_OK) {
        ef_sql_rollback(db);
        return EF_EDB;
    }
    if (ef_sql_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT PRIMARY KEY,"
                        " version BIGINT NOT NULL, applied_ms BIGINT NOT NULL)") != EF_OK) {
        ef_sql_rollback(db);
        return EF_EDB;
    }
    return EF_OK;
}

/* The component's version inside the transaction: 0 when it has none. */
static int migrate_version(ef_sql *db, const char *component, int64_t *version)
{
    ef_sql_stmt *st = NULL;
    int rc = ef_sql_prepare(db, "SELECT version FROM schema_migrations WHERE component = ?", &st);
    if (rc != EF_OK) return EF_EDB;
    rc = ef_sql_bind_text(st, 1, component, strlen(component));
    if (rc == EF_OK) rc = ef_sql_step(st);
    if (rc == EF_SQL_ROW) {
        *version = ef_sql_column_int64(st, 0);
        rc = EF_OK;
    } else if (rc == EF_SQL_DONE) {
        *version = 0;
        rc = EF_OK;
    } else {
        rc = EF_EDB;
    }
    ef_sql_finalize(st);
    return rc;
}

static int migrate_set(ef_sql *db, const char *component, int64_t version)
{
    ef_sql_stmt *st = NULL;
    int rc = ef_sql_prepare(db,
                            "INSERT INTO schema_migrations(component, version, applied_ms)"
                            " VALUES(?, ?, ?) ON CONFLICT(component) DO UPDATE SET"
                            " version = excluded.version, applied_ms = excluded.applied_ms",
                            &st);
    if (rc != EF_OK) return EF_EDB;
    rc = ef_sql_bind_text(st, 1, component, strlen(component));
    if (rc == EF_OK) rc = ef_sql_bind_int64(st, 2, version);
    if (rc == EF_OK) rc = ef_sql_bind_int64(st, 3, ef_now_ms());
    if (rc == EF_OK) rc = ef_sql_step(st) == EF_SQL_DONE ? EF_OK : EF_EDB;
    ef_sql_finalize(st);
    return rc == EF_OK ? EF_OK : EF_EDB;
}

static void set_migrate_err(char **errmsg, const char *component, const char *what, ef_sql *db)
{
    if (!errmsg) return;
    const char *dbmsg = ef_sql_errmsg(db);
    size_t n = strlen(component) + strlen(what) + strlen(dbmsg) + 64;
    *errmsg = malloc(n);
    if (*errmsg) snprintf(*errmsg, n, "migration of '%s' failed at %s: %s", component, what, dbmsg);
}

int ef_sql_migrate(ef_sql *db, const char *component, const char *const *sqlite_steps,
                   const char *const *pg_steps, int n, char **errmsg)
{
    const char *const *steps = ef_sql_dialect(db) == EF_SQL_POSTGRES ? pg_steps : sqlite_steps;
    char what[64];
    if (errmsg) *errmsg = NULL;
    for (;;) {
        int64_t v = 0;
        snprintf(what, sizeof what, "reading its version");
        if (migrate_begin(db) != EF_OK) goto fail;
        if (migrate_version(db, component, &v) != EF_OK) goto fail_rollback;
        if (v > n) {
            ef_sql_rollback(db);
            if (errmsg) {
                char buf[256];
                snprintf(buf, sizeof buf,
                         "schema of '%s' is at version %lld, newer than this program's %d",
                         component, (long long)v, n);
                *errmsg = strdup(buf);
            }
            return EF_EUNSUPPORTED;
        }
        if (v == n) {
            if (ef_sql_commit(db) == EF_OK) return EF_OK;
            goto fail_rollback;
        }
        snprintf(what, sizeof what, "step %lld -> %lld", (long long)v, (long long)v + 1);
        if (ef_sql_exec(db, steps[v]) != EF_OK) goto fail_rollback;
        if (migrate_set(db, component, v + 1) != EF_OK) goto fail_rollback;
        if (ef_sql_commit(db) != EF_OK) goto fail_rollback;
        EF_INFO("sql: schema of '%s' migrated to version %lld", component, (long long)v + 1);
    }

fail_rollback:
    /* the message first: the rollback may overwrite the connection's error text */
    set_migrate_err(errmsg, component, what, db);
    ef_sql_rollback(db);
    return EF_EDB;
fail:
    set_migrate_err(errmsg, component, what, db);
    return EF_EDB;
}
