/* sql_pg_int.h - internals shared by the two files of the PostgreSQL backend (prefix sql__pg_;
 * not a public API): sql_pg.c (connection, session, statements and results) and sql_pg_prep.c
 * (placeholder translation and the cache of server-side prepared statements). Only built with
 * EF_HAVE_SQL_PG.
 *
 * Errors: EF_* codes from base/err.h; the text of the last error is in the handle's
 * base.errmsg, as for every backend (sql_int.h).
 */
#ifndef EF_SQL_SQL_PG_INT_H
#define EF_SQL_SQL_PG_INT_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strlist.h"
#include "sql/sql_int.h"

#define PG_CACHE_MAX 32
#define PG_OID_BYTEA 17

/* One server-side prepared statement. */
typedef struct sql__pg_prep {
    char *sql;     /* translated text */
    char *sig;     /* parameter types (see sig_oid); (sql, sig) is the cache key */
    char name[32]; /* server-side name, unique per connection handle */
    int nparams;   /* highest $n used */
    uint64_t gen;  /* session generation it was prepared in; 0 = not (yet) prepared */
    int refs;      /* statements currently using it (never evicted while > 0) */
    int cached;    /* owned by the cache (else freed with its last reference) */
    uint64_t used; /* LRU tick */
} sql__pg_prep;

typedef struct sql__pg_db {
    ef_sql base; /* first member: sql_int.h */
    uint32_t magic;
    PGconn *conn;
    char *settings;     /* SET statements run after every (re)connect */
    uint64_t gen;       /* bumped on every successful (re)connect */
    uint64_t next_name; /* counter for statement names */
    uint64_t tick;      /* LRU clock */
    sql__pg_prep *cache[PG_CACHE_MAX];
    int ncache;
    ef_strlist dead_names; /* prepared statements to DEALLOCATE once the session allows it */
    int nstmts;            /* live statements (must be 0 at close) */
    int in_txn;            /* a transaction was open when the last command was sent */
    int txn_lost;          /* the session died inside a transaction: only ROLLBACK is accepted */
} sql__pg_db;

/* --- sql_pg.c ------------------------------------------------------------------------------- */
/* Records the error of res (or of the connection when res has none) as
 * "<what>: <message>: <detail> [SQLSTATE]" in d->base.errmsg and returns the EF_* code for it
 * (EF_EEXIST for a unique violation). */
int sql__pg_set_err(sql__pg_db *d, const char *what, const PGresult *res);
/* After a failed call: if the session is gone, repairs it now (keeping the error text) so the
 * next call can work. */
void sql__pg_after_failure(sql__pg_db *d);

/* --- sql_pg_prep.c -------------------------------------------------------------------------- */
/* Whether c can be part of an identifier (and so of a "$tag$" or after a '$n' boundary). */
int sql__pg_is_ident(char c);
/* Translates '?' / '?NNN' to $n into *out (malloc'd); *nparams = the highest parameter number
 * (explicit $n already in the text count too). EF_OK, EF_ENOMEM, or EF_EINVAL for a parameter
 * number out of range (the reason in err). */
int sql__pg_translate(const char *sql, char **out, int *nparams, char *err, size_t errlen);
/* Whether a prepared variant of signature have can run bindings of signature want ('n', a
 * bound NULL, fits any type). */
int sql__pg_sig_accepts(const char *have, const char *want);
/* Makes sure p is prepared in the current session (again after a reconnect). EF_OK or an EF_*
 * code with the error recorded. */
int sql__pg_server_prepare(sql__pg_db *d, sql__pg_prep *p);
/* Finds in the cache, or creates and prepares, a variant of the translated text sql that
 * accepts the wanted signature; *out holds a reference for the caller (give it back with
 * sql__pg_prep_release). EF_OK or an EF_* code. */
int sql__pg_prep_get(sql__pg_db *d, const char *sql, int nparams, const char *want,
                     sql__pg_prep **out);
/* Drops a reference from sql__pg_prep_get; NULL is fine. An uncached variant goes with its last
 * reference (queued for DEALLOCATE). */
void sql__pg_prep_release(sql__pg_db *d, sql__pg_prep *p);

#endif
