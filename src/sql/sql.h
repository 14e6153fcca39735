/* sql.h - one small SQL API with SQLite and PostgreSQL behind it.
 *
 * A connection (ef_sql) is used by one thread at a time. Statements use '?' placeholders in both
 * dialects (translated to $1, $2, ... for PostgreSQL, outside string literals). Columns and
 * parameters are 0-based for columns and 1-based for parameters, like SQLite.
 * Both dialects understand: BEGIN/COMMIT/ROLLBACK, INSERT ... ON CONFLICT (...) DO NOTHING/UPDATE,
 * CREATE TABLE/INDEX IF NOT EXISTS. Dialect-specific SQL (JSON access, types, autoincrement) is
 * chosen by the caller from ef_sql_dialect().
 *
 * URIs: "sqlite:/path/file.db", "sqlite::memory:", a plain path (SQLite), or
 * "postgresql://user:pass@host:port/db?sslmode=..." / "postgres://..." (libpq conninfo URI).
 */
#ifndef EF_SQL_SQL_H
#define EF_SQL_SQL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_sql ef_sql;
typedef struct ef_sql_stmt ef_sql_stmt;

typedef enum { EF_SQL_SQLITE = 1, EF_SQL_POSTGRES = 2 } ef_sql_dialect_t;

enum { EF_SQL_DONE = 0, EF_SQL_ROW = 1 }; /* ef_sql_step results; errors are < 0 */

typedef struct ef_sql_options {
    int busy_timeout_ms; /* SQLite: wait on locks (default 10000) */
    int durable;         /* SQLite: synchronous=FULL (1) or NORMAL (0) in WAL mode;
                            PostgreSQL: synchronous_commit on (1) or off (0) */
    int readonly;
    int cache_kib;       /* SQLite: page cache per connection in KiB (0: SQLite's 2 MiB) */
} ef_sql_options;

/* Opens a connection. SQLite files are put in WAL mode with foreign keys on. On failure returns
 * an EF_E* code and *errmsg (malloc'd, caller frees). opt may be NULL for defaults. */
int ef_sql_open(const char *uri, const ef_sql_options *opt, ef_sql **out, char **errmsg);
void ef_sql_close(ef_sql *db);
ef_sql_dialect_t ef_sql_dialect(const ef_sql *db);
/* The last error text of this connection (valid until the next call on it). */
const char *ef_sql_errmsg(const ef_sql *db);

/* Runs one or more statements without parameters or results. 0 or EF_EDB. */
int ef_sql_exec(ef_sql *db, const char *sql);
int ef_sql_begin(ef_sql *db);
int ef_sql_commit(ef_sql *db);
int ef_sql_rollback(ef_sql *db);

/* Prepares one statement. 0 or EF_EDB (ef_sql_errmsg tells why). */
int ef_sql_prepare(ef_sql *db, const char *sql, ef_sql_stmt **out);
void ef_sql_finalize(ef_sql_stmt *st);
/* Clears bindings and results so the statement can run again. */
int ef_sql_reset(ef_sql_stmt *st);
int ef_sql_bind_int64(ef_sql_stmt *st, int idx, int64_t v);
int ef_sql_bind_double(ef_sql_stmt *st, int idx, double v);
int ef_sql_bind_text(ef_sql_stmt *st, int idx, const char *s, size_t len); /* copied */
int ef_sql_bind_blob(ef_sql_stmt *st, int idx, const void *p, size_t len); /* copied */
int ef_sql_bind_null(ef_sql_stmt *st, int idx);
/* Runs / advances: EF_SQL_ROW, EF_SQL_DONE, or EF_EDB (EF_EEXIST for a unique violation). */
int ef_sql_step(ef_sql_stmt *st);
int ef_sql_column_count(ef_sql_stmt *st);
int ef_sql_column_is_null(ef_sql_stmt *st, int col);
int64_t ef_sql_column_int64(ef_sql_stmt *st, int col);
double ef_sql_column_double(ef_sql_stmt *st, int col);
/* Valid until the next step/reset/finalize. NULL for SQL NULL. */
const char *ef_sql_column_text(ef_sql_stmt *st, int col, size_t *len);
const void *ef_sql_column_blob(ef_sql_stmt *st, int col, size_t *len);
/* Rows changed by the last completed INSERT/UPDATE/DELETE of this statement. */
int64_t ef_sql_changes(ef_sql_stmt *st);

#endif
