/* sql.c - dialect dispatch for sql.h: picks the backend from the URI and forwards every call
 * through the backend's vtable (sql_int.h). Backends: sql_sqlite.c (always), sql_pg.c (compiled
 * in when present, EF_HAVE_SQL_PG). Transactions are plain statements, except that SQLite's
 * BEGIN is IMMEDIATE: a writer takes the write lock up front, so two processes that both read
 * then write cannot deadlock on the lock upgrade (SQLITE_BUSY without calling the busy handler). */
#include "sql/sql_int.h"

#include "base/err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_pg_uri(const char *uri)
{
    return strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0;
}

int ef_sql_open(const char *uri, const ef_sql_options *opt, ef_sql **out, char **errmsg)
{
    assert(uri && out);
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    if (is_pg_uri(uri)) {
#ifdef EF_HAVE_SQL_PG
        return sql__pg_open(uri, opt, out, errmsg);
#else
        if (errmsg) *errmsg = strdup("PostgreSQL support is not compiled into this build");
        return EF_EUNSUPPORTED;
#endif
    }
    return sql__sqlite_open(uri, opt, out, errmsg);
}

void ef_sql_close(ef_sql *db)
{
    if (db) db->vt->close(db);
}

ef_sql_dialect_t ef_sql_dialect(const ef_sql *db)
{
    return db->dialect;
}

const char *ef_sql_errmsg(const ef_sql *db)
{
    return db->errmsg;
}

int ef_sql_exec(ef_sql *db, const char *sql)
{
    return db->vt->exec(db, sql);
}

int ef_sql_begin(ef_sql *db)
{
    return db->vt->exec(db, db->dialect == EF_SQL_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

int ef_sql_commit(ef_sql *db)
{
    return db->vt->exec(db, "COMMIT");
}

int ef_sql_rollback(ef_sql *db)
{
    return db->vt->exec(db, "ROLLBACK");
}

int ef_sql_prepare(ef_sql *db, const char *sql, ef_sql_stmt **out)
{
    *out = NULL;
    return db->vt->prepare(db, sql, out);
}

void ef_sql_finalize(ef_sql_stmt *st)
{
    if (st) st->db->vt->finalize(st);
}

int ef_sql_reset(ef_sql_stmt *st)
{
    return st->db->vt->reset(st);
}

int ef_sql_bind_int64(ef_sql_stmt *st, int idx, int64_t v)
{
    return st->db->vt->bind_int64(st, idx, v);
}

int ef_sql_bind_double(ef_sql_stmt *st, int idx, double v)
{
    return st->db->vt->bind_double(st, idx, v);
}

int ef_sql_bind_text(ef_sql_stmt *st, int idx, const char *s, size_t len)
{
    return st->db->vt->bind_text(st, idx, s, len);
}

int ef_sql_bind_blob(ef_sql_stmt *st, int idx, const void *p, size_t len)
{
    return st->db->vt->bind_blob(st, idx, p, len);
}

int ef_sql_bind_null(ef_sql_stmt *st, int idx)
{
    return st->db->vt->bind_null(st, idx);
}

int ef_sql_step(ef_sql_stmt *st)
{
    return st->db->vt->step(st);
}

int ef_sql_column_count(ef_sql_stmt *st)
{
    return st->db->vt->column_count(st);
}

int ef_sql_column_is_null(ef_sql_stmt *st, int col)
{
    return st->db->vt->column_is_null(st, col);
}

int64_t ef_sql_column_int64(ef_sql_stmt *st, int col)
{
    return st->db->vt->column_int64(st, col);
}

double ef_sql_column_double(ef_sql_stmt *st, int col)
{
    return st->db->vt->column_double(st, col);
}

const char *ef_sql_column_text(ef_sql_stmt *st, int col, size_t *len)
{
    return st->db->vt->column_text(st, col, len);
}

const void *ef_sql_column_blob(ef_sql_stmt *st, int col, size_t *len)
{
    return st->db->vt->column_blob(st, col, len);
}

int64_t ef_sql_changes(ef_sql_stmt *st)
{
    return st->db->vt->changes(st);
}
