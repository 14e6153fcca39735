/* sql_pg.c - the PostgreSQL backend of sql.h, over libpq (Debian's libpq5).
 *
 * Connection: PQconnectdbParams with the URI expanded as conninfo (so every libpq URI parameter
 * works) and "edgeflow" as fallback application_name. After every (re)connect the session gets
 * `client_min_messages = warning`, `synchronous_commit = on|off` (ef_sql_options.durable; on by
 * default), `lock_timeout` (busy_timeout_ms) and, for read-only handles,
 * `default_transaction_read_only`. Server notices are routed to EF_DEBUG.
 *
 * Statements: '?' placeholders (also SQLite's '?NNN') are translated to $1..$n outside string
 * literals (incl. E'' strings), quoted identifiers, comments and dollar-quoted bodies; a '?'
 * there is kept as is. PostgreSQL's jsonb '?', '?|', '?&' operators therefore cannot be written
 * through this API (use jsonb_exists() & co).
 *
 * Parameter types: values travel as text (int64 via PRId64, double via "%.17g"), blobs in binary
 * format. A statement with parameters is prepared (PQprepare) at its first execution, with the
 * types of what is bound: int64 -> int8, double -> float8, blob -> bytea, text and NULL ->
 * unknown (inferred by the server from the context, so text can feed jsonb, timestamptz ...).
 * Typing integers as int8 is what makes `collected >= ? - 3600000` work with epoch-ms values
 * (left to inference, PostgreSQL would type `? - 3600000` as int4 and fail on large values);
 * the price is that a function wanting int4 needs a cast (`substr(s, ?::int)`). Each
 * (text, types) variant is prepared once per session under a generated name and kept in a small
 * LRU cache shared by all statements of the connection, so a caller that prepares the same
 * INSERT for every batch pays the Parse round trip only once. Statements without parameters are
 * prepared by ef_sql_prepare itself, so their errors show there.
 * Results come back in text format; numeric columns are parsed, bytea is un-hex-escaped into a
 * buffer owned by the statement (valid until the next step/reset/finalize).
 *
 * State machine of a statement (step):  IDLE --execute--> ROWS --last row--> DONE
 *   IDLE: bindings may change; step executes (PQexecPrepared) and keeps the PGresult.
 *   ROWS: step advances one row; bind or reset drops the result and goes back to IDLE.
 *   DONE: step re-executes with the same bindings (like sqlite3_step after SQLITE_DONE).
 *
 * Dialect differences callers must know (not hidden here):
 *   - Any error inside a transaction aborts the transaction on PostgreSQL (SQLSTATE 25P02 for
 *     every later statement) until ROLLBACK; SQLite only fails the one statement. Use ON CONFLICT
 *     instead of catching EF_EEXIST inside a batch.
 *   - Text cannot contain NUL bytes (bind_text refuses them with EF_EINVAL).
 *
 * A broken connection (server restart, network) is reset before the next call on the handle;
 * prepared statements are re-prepared transparently (per-session generation counter). The call
 * that saw the failure still returns EF_EDB: it is never retried here, because the server may
 * have committed it.
 *
 * Why hand-written: libpq is the packaged client; this file is only the mapping of sql.h's
 * SQLite-shaped API (positional '?', step/column) onto libpq's execute-then-read model.
 *
 * Files: this one holds the connection, the session, the statement state machine and result
 * mapping; sql_pg_prep.c the placeholder translation and the prepared-statement cache. They
 * share sql_pg_int.h.
 */
#include "sql/sql_pg_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/strlist.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PG_DB_MAGIC 0x45465047u   /* "EFPG" */
#define PG_STMT_MAGIC 0x45465053u /* "EFPS" */
#define PG_DEAD_MAGIC 0xdeadbeefu
#define PG_OID_BOOL 16

typedef struct pg_param {
    char *data; /* NUL-terminated copy (text) or raw bytes (binary) */
    size_t len;
    size_t cap;
    int is_null;
    int binary;
} pg_param;

enum { ST_IDLE = 0, ST_ROWS, ST_DONE };

typedef struct pg_stmt {
    ef_sql_stmt base; /* first member: sql_int.h */
    uint32_t magic;
    char *sql;          /* translated text */
    char *want;         /* signature of the current bindings ('n' for NULL) */
    sql__pg_prep *prep; /* the variant last executed (a reference), or NULL */
    int nparams;
    pg_param *params;
    const char **values; /* views built for PQexecPrepared */
    int *lengths;
    int *formats;
    PGresult *res;
    int state;
    int row;
    int nrows;
    int ncols; /* from the last result; kept across reset */
    int64_t changes;
    unsigned char *blob; /* PQunescapeBytea output for column_blob */
} pg_stmt;

static sql__pg_db *D(ef_sql *db)
{
    sql__pg_db *d = (sql__pg_db *)db;
    assert(d && d->magic == PG_DB_MAGIC);
    return d;
}

static pg_stmt *S(ef_sql_stmt *st)
{
    pg_stmt *s = (pg_stmt *)st;
    assert(s && s->magic == PG_STMT_MAGIC);
    return s;
}

/* ---- error text ------------------------------------------------------------------------- */

/* Copies src into dst (size n) on one line: runs of whitespace (newlines, tabs) become one
 * space, leading/trailing whitespace is dropped. */
static void one_line(char *dst, size_t n, const char *src)
{
    size_t o = 0;
    int space = 0;
    if (n == 0) return;
    for (const char *p = src ? src : ""; *p && o + 1 < n; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < n) dst[o++] = ' ';
        space = 0;
        dst[o++] = *p;
    }
    dst[o] = '\0';
}

/* Records the error of res (or of the connection when res has none) as
 * "<what>: <message>: <detail> [SQLSTATE]" and returns the EF_* code for it. */
int sql__pg_set_err(sql__pg_db *d, const char *what, const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[sizeof d->base.errmsg];
    if (primary)
        snprintf(msg, sizeof msg, "%s%s%s%s%s%s", primary, detail ? ": " : "", detail ? detail : "",
                 state ? " [" : "", state ? state : "", state ? "]" : "");
    else if (res && PQresultErrorMessage(res)[0])
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
    else
        snprintf(msg, sizeof msg, "%s", d->conn ? PQerrorMessage(d->conn) : "no connection");
    size_t o = 0;
    if (what && strlen(what) + 2 < sizeof d->base.errmsg / 2) { /* "what: " prefix */
        o = strlen(what);
        memcpy(d->base.errmsg, what, o);
        d->base.errmsg[o++] = ':';
        d->base.errmsg[o++] = ' ';
    }
    one_line(d->base.errmsg + o, sizeof d->base.errmsg - o,
             msg[0] ? msg : "unknown PostgreSQL error");
    if (state && strcmp(state, "23505") == 0) return EF_EEXIST;
    if (!res && !d->conn) return EF_ENOMEM;
    return EF_EDB;
}

static void set_errf(sql__pg_db *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_errf(sql__pg_db *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->base.errmsg, sizeof d->base.errmsg, fmt, ap);
    va_end(ap);
}

static void notice_cb(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    one_line(line, sizeof line, message);
    EF_DEBUG("postgresql: %s", line);
}

/* ---- session -------------------------------------------------------------------------- */

/* Runs the per-session settings; on failure records the error. */
static int apply_settings(sql__pg_db *d)
{
    PGresult *res = PQexec(d->conn, d->settings);
    int err = EF_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) err = sql__pg_set_err(d, "session settings", res);
    PQclear(res);
    return err;
}

/* Re-establishes a broken connection. Server-side statements died with the old session: the
 * generation bump makes every statement re-prepare on its next execution. */
static int reconnect(sql__pg_db *d)
{
    EF_WARN("postgresql: connection lost, reconnecting");
    PQreset(d->conn);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        sql__pg_set_err(d, "reconnect", NULL);
        return EF_EDB;
    }
    d->gen++;
    ef_strlist_clear(&d->dead_names);
    int err = apply_settings(d);
    if (err == EF_OK) EF_INFO("postgresql: reconnected");
    return err;
}

/* Called before sending a command: a usable session, and no transaction silently lost. A
 * transaction that died with its session must be acknowledged by ROLLBACK, or the caller's next
 * statements would autocommit one by one on the new session and its COMMIT would "succeed". */
static int ensure_conn(sql__pg_db *d)
{
    if (d->txn_lost) {
        set_errf(d, "the connection to PostgreSQL was lost inside a transaction, which was "
                    "rolled back; ROLLBACK before going on");
        return EF_EDB;
    }
    if (PQstatus(d->conn) != CONNECTION_OK) {
        int err = reconnect(d);
        if (err != EF_OK) return err;
    }
    d->in_txn = PQtransactionStatus(d->conn) != PQTRANS_IDLE;
    return EF_OK;
}

/* After a failed call: if the session is gone, repair it now so the next call can work. */
void sql__pg_after_failure(sql__pg_db *d)
{
    if (PQstatus(d->conn) != CONNECTION_BAD) return;
    if (d->in_txn) d->txn_lost = 1;
    char saved[sizeof d->base.errmsg];
    memcpy(saved, d->base.errmsg, sizeof saved);
    (void)reconnect(d);
    memcpy(d->base.errmsg, saved, sizeof saved); /* the caller wants the original error */
}

/* DEALLOCATEs statements dropped earlier, in one round trip, when the transaction state allows
 * it (not inside a failed transaction). Failures only cost server memory: logged, not returned. */
static void flush_dead(sql__pg_db *d)
{
    if (d->dead_names.n == 0) return;
    PGTransactionStatusType ts = PQtransactionStatus(d->conn);
    if (ts != PQTRANS_IDLE && ts != PQTRANS_INTRANS) return;
    char sql[4096];
    size_t o = 0, i = 0;
    while (i < d->dead_names.n) {
        int n = snprintf(sql + o, sizeof sql - o, "DEALLOCATE %s;", d->dead_names.v[i]);
        if (n < 0 || (size_t)n >= sizeof sql - o) break;
        o += (size_t)n;
        i++;
    }
    if (i == 0) return;
    PGresult *res = PQexec(d->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char line[512];
        one_line(line, sizeof line, PQresultErrorMessage(res));
        EF_DEBUG("postgresql: DEALLOCATE failed: %s", line);
    }
    PQclear(res);
    /* drop the names sent (or the whole list if it was sent at once) */
    for (size_t k = 0; k < i; k++)
        free(d->dead_names.v[k]);
    memmove(d->dead_names.v, d->dead_names.v + i, (d->dead_names.n - i) * sizeof(char *));
    d->dead_names.n -= i;
}

/* ---- connection vtable ---------------------------------------------------------------- */

static void pg_close(ef_sql *db)
{
    sql__pg_db *d = D(db);
    if (d->nstmts) EF_WARN("postgresql: closing a connection with %d live statements", d->nstmts);
    assert(d->nstmts == 0);
    for (int i = 0; i < d->ncache; i++) {
        free(d->cache[i]->sql);
        free(d->cache[i]->sig);
        free(d->cache[i]);
    }
    ef_strlist_release(&d->dead_names);
    PQfinish(d->conn);
    free(d->settings);
    d->magic = PG_DEAD_MAGIC;
    free(d);
}

/* "ROLLBACK" / "rollback;" / "ROLLBACK WORK" but not "ROLLBACK TO SAVEPOINT x". */
static int is_rollback(const char *sql)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    if (strncasecmp(sql, "ROLLBACK", 8) != 0 || sql__pg_is_ident(sql[8])) return 0;
    sql += 8;
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    return strncasecmp(sql, "TO", 2) != 0 || sql__pg_is_ident(sql[2]);
}

static int pg_exec(ef_sql *db, const char *sql)
{
    sql__pg_db *d = D(db);
    if (d->txn_lost && is_rollback(sql)) {
        d->txn_lost = 0; /* acknowledged; the new session has no transaction to roll back */
        return EF_OK;
    }
    int err = ensure_conn(d);
    if (err != EF_OK) return err;
    PGresult *res = PQexec(d->conn, sql);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK && rs != PGRES_EMPTY_QUERY) {
        err = sql__pg_set_err(d, NULL, res);
        sql__pg_after_failure(d);
    }
    PQclear(res);
    return err;
}

static void stmt_free(pg_stmt *s)
{
    if (s->params) {
        for (int i = 0; i < s->nparams; i++)
            free(s->params[i].data);
    }
    free(s->params);
    free(s->values);
    free(s->lengths);
    free(s->formats);
    free(s->want);
    free(s->sql);
    s->magic = PG_DEAD_MAGIC;
    free(s);
}

/* Statements with parameters are prepared at their first execution, when the types of the
 * bound values are known (see sig_oid); without parameters, right away. */
static int pg_prepare(ef_sql *db, const char *sql, ef_sql_stmt **out)
{
    sql__pg_db *d = D(db);
    pg_stmt *s = NULL;
    int err = ensure_conn(d);
    if (err != EF_OK) return err;
    s = calloc(1, sizeof *s);
    if (!s) return EF_ENOMEM;
    s->magic = PG_STMT_MAGIC;
    s->base.db = db;
    err = sql__pg_translate(sql, &s->sql, &s->nparams, d->base.errmsg, sizeof d->base.errmsg);
    if (err != EF_OK) goto fail;
    s->want = malloc((size_t)s->nparams + 1);
    if (!s->want) {
        err = EF_ENOMEM;
        goto fail;
    }
    memset(s->want, 'n', (size_t)s->nparams);
    s->want[s->nparams] = '\0';
    if (s->nparams > 0) {
        s->params = calloc((size_t)s->nparams, sizeof *s->params);
        s->values = calloc((size_t)s->nparams, sizeof *s->values);
        s->lengths = calloc((size_t)s->nparams, sizeof *s->lengths);
        s->formats = calloc((size_t)s->nparams, sizeof *s->formats);
        if (!s->params || !s->values || !s->lengths || !s->formats) {
            err = EF_ENOMEM;
            goto fail;
        }
        for (int i = 0; i < s->nparams; i++)
            s->params[i].is_null = 1;
    } else {
        flush_dead(d);
        err = sql__pg_prep_get(d, s->sql, 0, s->want, &s->prep);
        if (err != EF_OK) goto fail;
    }
    d->nstmts++;
    *out = &s->base;
    return EF_OK;
fail:
    stmt_free(s);
    return err;
}

/* ---- statement vtable ----------------------------------------------------------------- */

static void drop_result(pg_stmt *s)
{
    if (s->blob) {
        PQfreemem(s->blob);
        s->blob = NULL;
    }
    PQclear(s->res);
    s->res = NULL;
    s->row = s->nrows = 0;
    s->state = ST_IDLE;
}

static void pg_finalize(ef_sql_stmt *st)
{
    pg_stmt *s = S(st);
    sql__pg_db *d = D(st->db);
    drop_result(s);
    sql__pg_prep_release(d, s->prep);
    stmt_free(s);
    d->nstmts--;
}

static int pg_reset(ef_sql_stmt *st)
{
    pg_stmt *s = S(st);
    drop_result(s);
    for (int i = 0; i < s->nparams; i++) {
        s->params[i].is_null = 1;
        s->want[i] = 'n';
    }
    return EF_OK;
}

/* Checks idx, drops any pending result (bindings change the next execution). */
static pg_param *param_slot(pg_stmt *s, int idx)
{
    if (idx < 1 || idx > s->nparams) {
        set_errf(D(s->base.db), "bind: parameter index %d out of range (statement has %d)", idx,
                 s->nparams);
        return NULL;
    }
    if (s->state != ST_IDLE) drop_result(s);
    return &s->params[idx - 1];
}

static int param_set(pg_stmt *s, int idx, const void *data, size_t len, char type)
{
    pg_param *p = param_slot(s, idx);
    if (!p) return EF_EINVAL;
    if (len > (size_t)INT32_MAX) {
        set_errf(D(s->base.db), "bind: parameter %d is over 2 GiB", idx);
        return EF_ETOOBIG;
    }
    if (len + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 32;
        while (cap < len + 1)
            cap *= 2;
        char *nd = realloc(p->data, cap);
        if (!nd) return EF_ENOMEM;
        p->data = nd;
        p->cap = cap;
    }
    if (len) memcpy(p->data, data, len);
    p->data[len] = '\0';
    p->len = len;
    p->binary = type == 'b';
    p->is_null = 0;
    s->want[idx - 1] = type;
    return EF_OK;
}

static int pg_bind_int64(ef_sql_stmt *st, int idx, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    return param_set(S(st), idx, b, (size_t)n, 'i');
}

static int pg_bind_double(ef_sql_stmt *st, int idx, double v)
{
    char b[40];
    int n;
    if (isnan(v))
        n = snprintf(b, sizeof b, "NaN");
    else if (isinf(v))
        n = snprintf(b, sizeof b, "%sInfinity", v < 0 ? "-" : "");
    else
        n = snprintf(b, sizeof b, "%.17g", v);
    return param_set(S(st), idx, b, (size_t)n, 'd');
}

static int pg_bind_text(ef_sql_stmt *st, int idx, const char *str, size_t len)
{
    if (!str) {
        str = "";
        len = 0;
    } else if (len == (size_t)-1) {
        len = strlen(str);
    }
    if (memchr(str, '\0', len)) {
        set_errf(D(st->db), "bind: text parameter %d contains a NUL byte", idx);
        return EF_EINVAL;
    }
    return param_set(S(st), idx, str, len, 'u');
}

static int pg_bind_blob(ef_sql_stmt *st, int idx, const void *p, size_t len)
{
    return param_set(S(st), idx, p ? p : "", p ? len : 0, 'b');
}

static int pg_bind_null(ef_sql_stmt *st, int idx)
{
    pg_param *p = param_slot(S(st), idx);
    if (!p) return EF_EINVAL;
    p->is_null = 1;
    S(st)->want[idx - 1] = 'n';
    return EF_OK;
}

static int64_t parse_changes(const PGresult *res)
{
    const char *tag = PQcmdStatus((PGresult *)res);
    if (strncmp(tag, "INSERT ", 7) && strncmp(tag, "UPDATE ", 7) && strncmp(tag, "DELETE ", 7) &&
        strncmp(tag, "MERGE ", 6))
        return 0;
    return strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

static int execute(pg_stmt *s)
{
    sql__pg_db *d = D(s->base.db);
    int err = ensure_conn(d);
    if (err != EF_OK) return err;
    if (s->prep && !sql__pg_sig_accepts(s->prep->sig, s->want)) { /* bound types changed */
        sql__pg_prep_release(d, s->prep);
        s->prep = NULL;
    }
    if (!s->prep) {
        flush_dead(d);
        err = sql__pg_prep_get(d, s->sql, s->nparams, s->want, &s->prep);
    } else {
        err = sql__pg_server_prepare(d, s->prep); /* again, after a reconnect */
    }
    if (err != EF_OK) return err;
    for (int i = 0; i < s->nparams; i++) {
        pg_param *p = &s->params[i];
        s->values[i] = p->is_null ? NULL : p->data;
        s->lengths[i] = (int)p->len;
        s->formats[i] = p->binary;
    }
    s->res =
        PQexecPrepared(d->conn, s->prep->name, s->nparams, s->values, s->lengths, s->formats, 0);
    switch (PQresultStatus(s->res)) {
    case PGRES_TUPLES_OK:
        s->changes = parse_changes(s->res);
        s->nrows = PQntuples(s->res);
        s->ncols = PQnfields(s->res);
        s->row = 0;
        if (s->nrows > 0) {
            s->state = ST_ROWS;
            return EF_SQL_ROW;
        }
        s->state = ST_DONE;
        return EF_SQL_DONE;
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        s->changes = parse_changes(s->res);
        s->ncols = 0;
        s->state = ST_DONE;
        return EF_SQL_DONE;
    default:
        err = sql__pg_set_err(d, "step", s->res);
        drop_result(s);
        sql__pg_after_failure(d);
        return err;
    }
}

static int pg_step(ef_sql_stmt *st)
{
    pg_stmt *s = S(st);
    if (s->state == ST_ROWS) {
        if (s->blob) {
            PQfreemem(s->blob);
            s->blob = NULL;
        }
        if (++s->row < s->nrows) return EF_SQL_ROW;
        PQclear(s->res); /* the rows are done: free them now, keep changes/ncols */
        s->res = NULL;
        s->state = ST_DONE;
        return EF_SQL_DONE;
    }
    if (s->state == ST_DONE) drop_result(s);
    return execute(s);
}

static int pg_column_count(ef_sql_stmt *st)
{
    return S(st)->ncols;
}

/* The current row's value of col, or NULL when there is no row or col is out of range. */
static const char *cell(pg_stmt *s, int col, int *len)
{
    if (s->state != ST_ROWS || !s->res || col < 0 || col >= s->ncols) return NULL;
    if (PQgetisnull(s->res, s->row, col)) return NULL;
    if (len) *len = PQgetlength(s->res, s->row, col);
    return PQgetvalue(s->res, s->row, col);
}

static int pg_column_is_null(ef_sql_stmt *st, int col)
{
    return cell(S(st), col, NULL) == NULL;
}

static int64_t pg_column_int64(ef_sql_stmt *st, int col)
{
    pg_stmt *s = S(st);
    const char *v = cell(s, col, NULL);
    if (!v) return 0;
    if (PQftype(s->res, col) == PG_OID_BOOL) return v[0] == 't';
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno == 0 && *end == '\0') return (int64_t)x;
    /* numeric/float text ("1.5", "1e3") or out of range: convert like SQLite does */
    double f = strtod(v, NULL);
    if (isnan(f)) return 0;
    if (f >= 9223372036854775807.0) return INT64_MAX;
    if (f <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)f;
}

static double pg_column_double(ef_sql_stmt *st, int col)
{
    pg_stmt *s = S(st);
    const char *v = cell(s, col, NULL);
    if (!v) return 0.0;
    if (PQftype(s->res, col) == PG_OID_BOOL) return v[0] == 't' ? 1.0 : 0.0;
    return strtod(v, NULL);
}

static const char *pg_column_text(ef_sql_stmt *st, int col, size_t *len)
{
    int n = 0;
    const char *v = cell(S(st), col, &n);
    if (len) *len = v ? (size_t)n : 0;
    return v;
}

static const void *pg_column_blob(ef_sql_stmt *st, int col, size_t *len)
{
    pg_stmt *s = S(st);
    int n = 0;
    const char *v = cell(s, col, &n);
    if (len) *len = 0;
    if (!v) return NULL;
    if (PQftype(s->res, col) != PG_OID_BYTEA) {
        if (len) *len = (size_t)n;
        return v;
    }
    if (s->blob) PQfreemem(s->blob);
    size_t bl = 0;
    s->blob = PQunescapeBytea((const unsigned char *)v, &bl);
    if (!s->blob) {
        set_errf(D(st->db), "column_blob: column %d: out of memory", col);
        return NULL;
    }
    if (len) *len = bl;
    return s->blob;
}

static int64_t pg_changes(ef_sql_stmt *st)
{
    return S(st)->changes;
}

static const sql__vtab pg_vt = {
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_count = pg_column_count,
    .column_is_null = pg_column_is_null,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .changes = pg_changes,
};

int sql__pg_open(const char *uri, const ef_sql_options *opt, ef_sql **out, char **errmsg)
{
    static const ef_sql_options defaults = {.busy_timeout_ms = 0, .durable = 1};
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {uri, "edgeflow", NULL};
    char settings[256];
    int err = EF_EDB;
    sql__pg_db *d = NULL;
    assert(uri && out);
    *out = NULL;
    if (errmsg) *errmsg = NULL;
    if (!opt) opt = &defaults;
    d = calloc(1, sizeof *d);
    if (!d) return EF_ENOMEM;
    d->magic = PG_DB_MAGIC;
    d->base.vt = &pg_vt;
    d->base.dialect = EF_SQL_POSTGRES;
    ef_strlist_init(&d->dead_names);
    snprintf(settings, sizeof settings,
             "SET client_min_messages = warning; SET synchronous_commit = %s;%s",
             opt->durable ? "on" : "off",
             opt->readonly ? " SET default_transaction_read_only = on;" : "");
    if (opt->busy_timeout_ms > 0) {
        size_t l = strlen(settings);
        snprintf(settings + l, sizeof settings - l, " SET lock_timeout = %d;",
                 opt->busy_timeout_ms);
    }
    d->settings = strdup(settings);
    if (!d->settings) {
        err = EF_ENOMEM;
        goto fail;
    }
    d->conn = PQconnectdbParams(keys, vals, 1);
    if (!d->conn) {
        err = EF_ENOMEM;
        goto fail;
    }
    if (PQstatus(d->conn) != CONNECTION_OK) {
        sql__pg_set_err(d, "cannot connect to PostgreSQL", NULL);
        goto fail;
    }
    PQsetNoticeProcessor(d->conn, notice_cb, d);
    d->gen = 1;
    err = apply_settings(d);
    if (err != EF_OK) goto fail;
    *out = &d->base;
    return EF_OK;
fail:
    if (errmsg) *errmsg = strdup(err == EF_ENOMEM ? "out of memory" : d->base.errmsg);
    PQfinish(d->conn);
    ef_strlist_release(&d->dead_names);
    free(d->settings);
    free(d);
    return err;
}
