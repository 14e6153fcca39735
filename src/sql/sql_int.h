/* sql_int.h - internals shared by sql.c (dispatch) and the backends sql_sqlite.c / sql_pg.c (with
 * sql_pg_prep.c; the PostgreSQL files share sql_pg_int.h too).
 *
 * Each backend embeds `ef_sql` / `ef_sql_stmt` as the FIRST member of its own connection and
 * statement structs, fills in a vtable, and exposes one open function. sql.c implements every
 * public function of sql.h by dispatching through db->vt (begin/commit/rollback via exec).
 */
#ifndef EF_SQL_SQL_INT_H
#define EF_SQL_SQL_INT_H

#include "sql/sql.h"

typedef struct sql__vtab {
    void (*close)(ef_sql *db);
    int (*exec)(ef_sql *db, const char *sql);
    int (*prepare)(ef_sql *db, const char *sql, ef_sql_stmt **out);
    void (*finalize)(ef_sql_stmt *st);
    int (*reset)(ef_sql_stmt *st);
    int (*bind_int64)(ef_sql_stmt *st, int idx, int64_t v);
    int (*bind_double)(ef_sql_stmt *st, int idx, double v);
    int (*bind_text)(ef_sql_stmt *st, int idx, const char *s, size_t len);
    int (*bind_blob)(ef_sql_stmt *st, int idx, const void *p, size_t len);
    int (*bind_null)(ef_sql_stmt *st, int idx);
    int (*step)(ef_sql_stmt *st);
    int (*column_count)(ef_sql_stmt *st);
    int (*column_is_null)(ef_sql_stmt *st, int col);
    int64_t (*column_int64)(ef_sql_stmt *st, int col);
    double (*column_double)(ef_sql_stmt *st, int col);
    const char *(*column_text)(ef_sql_stmt *st, int col, size_t *len);
    const void *(*column_blob)(ef_sql_stmt *st, int col, size_t *len);
    int64_t (*changes)(ef_sql_stmt *st);
} sql__vtab;

struct ef_sql {
    const sql__vtab *vt;
    ef_sql_dialect_t dialect;
    char errmsg[1024]; /* last error, set by the backend */
};

struct ef_sql_stmt {
    ef_sql *db;
};

/* Backends. uri is the full URI given to ef_sql_open (the SQLite backend strips "sqlite:"). */
int sql__sqlite_open(const char *uri, const ef_sql_options *opt, ef_sql **out, char **errmsg);
#ifdef EF_HAVE_SQL_PG
int sql__pg_open(const char *uri, const ef_sql_options *opt, ef_sql **out, char **errmsg);
#endif

#endif
