/* sql_sqlite.c - the SQLite backend of sql.h (libsqlite3 from Debian).
 *
 * Connections are opened SQLITE_OPEN_NOMUTEX (sql.h: one thread at a time per connection).
 * File databases are put in WAL mode with synchronous FULL (durable) or NORMAL, a busy timeout
 * and foreign keys on. URIs: "sqlite:/path", "sqlite:///path", "sqlite::memory:", or a path.
 *
 * Statement reuse: compiling SQL costs SQLite more than running a small statement (an INSERT of
 * one row is ~1/4 of the cost of preparing it), and callers prepare per request. So each
 * connection keeps the compiled statements its callers finalized -- reset, bindings cleared --
 * in a small LRU cache keyed by the exact SQL text (STMT_CACHE_MAX entries, texts up to
 * STMT_CACHE_TEXT_MAX bytes); ef_sql_prepare of the same text takes one back instead of
 * compiling, and single-statement ef_sql_exec texts (BEGIN IMMEDIATE, COMMIT) go through it too.
 * A cached statement holds no lock or transaction (it is reset); schema changes are handled by
 * SQLite, which recompiles a statement whose schema changed on its next step. Invisible to
 * callers: a statement from the cache is in the state a new one would be in. */
#include "sql/sql_int.h"

#include "base/err.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE_MAX 16
#define STMT_CACHE_TEXT_MAX 4096

typedef struct sqlite_db {
    ef_sql base;
    sqlite3 *h;
    sqlite3_stmt *cache[STMT_CACHE_MAX]; /* idle compiled statements, most recently used last */
    int ncache;
} sqlite_db;

typedef struct sqlite_stmt {
    ef_sql_stmt base;
    sqlite3_stmt *st;
    int64_t changes;
} sqlite_stmt;

static sqlite3 *H(ef_sql *db)
{
    return ((sqlite_db *)db)->h;
}

static sqlite_stmt *S(ef_sql_stmt *st)
{
    return (sqlite_stmt *)st;
}

static void set_err(ef_sql *db, const char *what)
{
    snprintf(db->errmsg, sizeof db->errmsg, "%s%s%s", what ? what : "", what ? ": " : "",
             sqlite3_errmsg(H(db)));
}

/* Maps a SQLite result code to EF_*; records the message. */
static int map_rc(ef_sql *db, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return EF_OK;
    set_err(db, what);
    if (rc == SQLITE_NOMEM) return EF_ENOMEM;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return EF_EEXIST;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return EF_ECORRUPT;
    return EF_EDB;
}

/* Takes the idle compiled statement for exactly this text out of the cache, or NULL. */
static sqlite3_stmt *cache_take(sqlite_db *d, const char *sql)
{
    for (int i = d->ncache - 1; i >= 0; i--) {
        if (strcmp(sqlite3_sql(d->cache[i]), sql) == 0) {
            sqlite3_stmt *st = d->cache[i];
            memmove(&d->cache[i], &d->cache[i + 1], (size_t)(d->ncache - i - 1) * sizeof *d->cache);
            d->ncache--;
            return st;
        }
    }
    return NULL;
}

/* Gives a statement back: reset and cached when its text is short enough, else finalized (the
 * least recently used one goes when the cache is full). */
static void cache_put(sqlite_db *d, sqlite3_stmt *st)
{
    const char *sql = st ? sqlite3_sql(st) : NULL;
    if (!sql || strlen(sql) > STMT_CACHE_TEXT_MAX) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st); /* returns the last step's error, already reported */
    sqlite3_clear_bindings(st);
    if (d->ncache == STMT_CACHE_MAX) {
        sqlite3_finalize(d->cache[0]);
        memmove(&d->cache[0], &d->cache[1], (size_t)(STMT_CACHE_MAX - 1) * sizeof *d->cache);
        d->ncache--;
    }
    d->cache[d->ncache++] = st;
}

static void s_close(ef_sql *db)
{
    sqlite_db *d = (sqlite_db *)db;
    for (int i = 0; i < d->ncache; i++)
        sqlite3_finalize(d->cache[i]);
    sqlite3_close_v2(d->h);
    free(d);
}

/* A single statement (BEGIN IMMEDIATE, COMMIT, ... on every transaction) runs through the
 * statement cache, its rows if any skipped; a text of several (migrations) through sqlite3_exec. */
static int s_exec(ef_sql *db, const char *sql)
{
    sqlite_db *d = (sqlite_db *)db;
    sqlite3_stmt *st = cache_take(d, sql);
    const char *tail = NULL;
    int rc;
    if (!st) {
        rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
        if (rc != SQLITE_OK || !st) {
            sqlite3_finalize(st);
            return map_rc(db, sqlite3_exec(d->h, sql, NULL, NULL, NULL), NULL);
        }
        while (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';')
            tail++;
        if (*tail) { /* more than one statement */
            sqlite3_finalize(st);
            return map_rc(db, sqlite3_exec(d->h, sql, NULL, NULL, NULL), NULL);
        }
    }
    do {
        rc = sqlite3_step(st);
    } while (rc == SQLITE_ROW);
    rc = rc == SQLITE_DONE ? EF_OK : map_rc(db, sqlite3_extended_errcode(d->h), NULL);
    cache_put(d, st);
    return rc;
}

static int s_prepare(ef_sql *db, const char *sql, ef_sql_stmt **out)
{
    sqlite_stmt *s = calloc(1, sizeof *s);
    if (!s) return EF_ENOMEM;
    s->st = cache_take((sqlite_db *)db, sql);
    int rc = s->st ? SQLITE_OK
                   : sqlite3_prepare_v3(H(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
    if (rc != SQLITE_OK || !s->st) {
        int err = rc == SQLITE_OK ? EF_EINVAL : map_rc(db, rc, "prepare");
        if (rc == SQLITE_OK) snprintf(db->errmsg, sizeof db->errmsg, "prepare: empty statement");
        sqlite3_finalize(s->st);
        free(s);
        return err == EF_EEXIST ? EF_EDB : err;
    }
    s->base.db = db;
    *out = &s->base;
    return EF_OK;
}

static void s_finalize(ef_sql_stmt *st)
{
    cache_put((sqlite_db *)st->db, S(st)->st);
    free(st);
}

static int s_reset(ef_sql_stmt *st)
{
    sqlite3_reset(S(st)->st); /* returns the last step's error, already reported */
    sqlite3_clear_bindings(S(st)->st);
    return EF_OK;
}

static int bind_rc(ef_sql_stmt *st, int rc)
{
    return map_rc(st->db, rc, "bind");
}

static int s_bind_int64(ef_sql_stmt *st, int idx, int64_t v)
{
    return bind_rc(st, sqlite3_bind_int64(S(st)->st, idx, v));
}

static int s_bind_double(ef_sql_stmt *st, int idx, double v)
{
    return bind_rc(st, sqlite3_bind_double(S(st)->st, idx, v));
}

static int s_bind_text(ef_sql_stmt *st, int idx, const char *s, size_t len)
{
    return bind_rc(st, sqlite3_bind_text64(S(st)->st, idx, s ? s : "", s ? len : 0,
                                           SQLITE_TRANSIENT, SQLITE_UTF8));
}

static int s_bind_blob(ef_sql_stmt *st, int idx, const void *p, size_t len)
{
    return bind_rc(st,
                   sqlite3_bind_blob64(S(st)->st, idx, p ? p : "", p ? len : 0, SQLITE_TRANSIENT));
}

static int s_bind_null(ef_sql_stmt *st, int idx)
{
    return bind_rc(st, sqlite3_bind_null(S(st)->st, idx));
}

static int s_step(ef_sql_stmt *st)
{
    int rc = sqlite3_step(S(st)->st);
    if (rc == SQLITE_ROW) return EF_SQL_ROW;
    if (rc == SQLITE_DONE) {
        S(st)->changes = sqlite3_changes64(H(st->db));
        return EF_SQL_DONE;
    }
    rc = sqlite3_extended_errcode(H(st->db));
    int err = map_rc(st->db, rc, "step");
    sqlite3_reset(S(st)->st);
    return err == EF_OK ? EF_EDB : err;
}

static int s_column_count(ef_sql_stmt *st)
{
    return sqlite3_column_count(S(st)->st);
}

static int s_column_is_null(ef_sql_stmt *st, int col)
{
    return sqlite3_column_type(S(st)->st, col) == SQLITE_NULL;
}

static int64_t s_column_int64(ef_sql_stmt *st, int col)
{
    return sqlite3_column_int64(S(st)->st, col);
}

static double s_column_double(ef_sql_stmt *st, int col)
{
    return sqlite3_column_double(S(st)->st, col);
}

static const char *s_column_text(ef_sql_stmt *st, int col, size_t *len)
{
    const char *p = (const char *)sqlite3_column_text(S(st)->st, col);
    if (len) *len = p ? (size_t)sqlite3_column_bytes(S(st)->st, col) : 0;
    return p;
}

static const void *s_column_blob(ef_sql_stmt *st, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(S(st)->st, col);
    size_t n = (size_t)sqlite3_column_bytes(S(st)->st, col);
    if (len) *len = n;
    if (!p && sqlite3_column_type(S(st)->st, col) != SQLITE_NULL) p = ""; /* zero-length blob */
    return p;
}

static int64_t s_changes(ef_sql_stmt *st)
{
    return S(st)->changes;
}

static const sql__vtab sqlite_vt = {
    .close = s_close,
    .exec = s_exec,
    .prepare = s_prepare,
    .finalize = s_finalize,
    .reset = s_reset,
    .bind_int64 = s_bind_int64,
    .bind_double = s_bind_double,
    .bind_text = s_bind_text,
    .bind_blob = s_bind_blob,
    .bind_null = s_bind_null,
    .step = s_step,
    .column_count = s_column_count,
    .column_is_null = s_column_is_null,
    .column_int64 = s_column_int64,
    .column_double = s_column_double,
    .column_text = s_column_text,
    .column_blob = s_column_blob,
    .changes = s_changes,
};

static char *dup_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, fmt, a, b);
    return p;
}

int sql__sqlite_open(const char *uri, const ef_sql_options *opt, ef_sql **out, char **errmsg)
{
    static const ef_sql_options defaults = {.busy_timeout_ms = 10000, .durable = 1};
    int err = EF_EDB;
    sqlite_db *d = NULL;
    char pragmas[256];
    const char *path = uri;
    if (!opt) opt = &defaults;
    if (strncmp(path, "sqlite:", 7) == 0) {
        path += 7;
        if (strncmp(path, "//", 2) == 0) path += 2; /* sqlite:///abs/path */
    }
    if (!*path) {
        if (errmsg) *errmsg = strdup("empty SQLite path");
        return EF_EINVAL;
    }
    int memory = strcmp(path, ":memory:") == 0;
    d = calloc(1, sizeof *d);
    if (!d) return EF_ENOMEM;
    d->base.vt = &sqlite_vt;
    d->base.dialect = EF_SQL_SQLITE;
    int flags = SQLITE_OPEN_NOMUTEX |
                (opt->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &d->h, flags, NULL);
    if (rc != SQLITE_OK) {
        if (errmsg)
            *errmsg = dup_printf("cannot open SQLite database %s: %s", path,
                                 d->h ? sqlite3_errmsg(d->h) : "out of memory");
        err = rc == SQLITE_NOMEM ? EF_ENOMEM : EF_EIO;
        goto fail;
    }
    sqlite3_extended_result_codes(d->h, 1);
    sqlite3_busy_timeout(d->h, opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 10000);
    char cache[48] = "";
    if (opt->cache_kib > 0) snprintf(cache, sizeof cache, " PRAGMA cache_size=-%d;", opt->cache_kib);
    snprintf(pragmas, sizeof pragmas, "PRAGMA foreign_keys=ON;%s PRAGMA synchronous=%s;%s",
             memory || opt->readonly ? "" : " PRAGMA journal_mode=WAL;",
             opt->durable ? "FULL" : "NORMAL", cache);
    rc = sqlite3_exec(d->h, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (errmsg)
            *errmsg =
                dup_printf("cannot set up SQLite database %s: %s", path, sqlite3_errmsg(d->h));
        err = rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? EF_ECORRUPT : EF_EDB;
        goto fail;
    }
    *out = &d->base;
    return EF_OK;
fail:
    if (d) {
        sqlite3_close_v2(d->h);
        free(d);
    }
    return err;
}
