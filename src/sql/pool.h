/* pool.h - connections for a multi-threaded server over one database, and schema migrations.
 *
 * A pool holds one writer connection (guarded by a mutex: writes are serialised, as SQLite needs
 * anyway) and up to max_readers reader connections opened on demand, so HTTP threads read in
 * parallel (SQLite WAL readers never block the writer). An in-memory SQLite database has a single
 * connection for everything (acquiring a reader then takes the writer lock).
 *
 *   ef_sql *db;
 *   ef_sql_pool_writer(p, &db);  ... ef_sql_begin(db) ... ef_sql_commit(db) ...  ef_sql_pool_release(p, db);
 *   ef_sql_pool_reader(p, &db);  ... SELECT ...                                   ef_sql_pool_release(p, db);
 *
 * Statements belong to one connection; the SQLite backend keeps each connection's recently
 * finalized statements compiled and hands them back on the next prepare of the same text.
 */
#ifndef EF_SQL_POOL_H
#define EF_SQL_POOL_H

#include "sql/sql.h"

typedef struct ef_sql_pool ef_sql_pool;

/* Opens the writer connection now (so a bad URI fails here, with *errmsg malloc'd). opt may be
 * NULL. max_readers 0 = 8. */
int ef_sql_pool_open(const char *uri, const ef_sql_options *opt, int max_readers,
                     ef_sql_pool **out, char **errmsg);
void ef_sql_pool_free(ef_sql_pool *p); /* all connections must have been released */
ef_sql_dialect_t ef_sql_pool_dialect(const ef_sql_pool *p);

/* Takes the writer (blocks while another thread holds it). Returns 0 or EF_EDB. */
int ef_sql_pool_writer(ef_sql_pool *p, ef_sql **out);
/* Takes a reader (blocks while all max_readers are busy). Returns 0 or EF_EDB. */
int ef_sql_pool_reader(ef_sql_pool *p, ef_sql **out);
/* Gives back a connection from either call. */
void ef_sql_pool_release(ef_sql_pool *p, ef_sql *db);

/* Schema migrations for one component (e.g. "store", "tracking"), versioned in code:
 * steps[i] is the SQL that takes the schema from version i to i+1, one entry per dialect
 * (sqlite_steps / pg_steps, same length n). Applies the missing steps in order, each in its own
 * transaction together with the update of the table schema_migrations(component, version,
 * applied_ms). Safe when several processes start at once (the loser of the race sees the new
 * version and applies nothing). Returns 0, or EF_EDB with *errmsg (malloc'd) naming the step.
 * A database newer than the code (version > n) gives EF_EUNSUPPORTED. */
int ef_sql_migrate(ef_sql *db, const char *component, const char *const *sqlite_steps,
                   const char *const *pg_steps, int n, char **errmsg);

#endif
