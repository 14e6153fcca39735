/* sql_pg_prep.c - what becomes a server-side prepared statement in the PostgreSQL backend
 * (sql_pg.c): the translation of sql.h's '?' / '?NNN' placeholders to $n (outside literals,
 * quoted identifiers, comments and dollar-quoted bodies), and the per-connection LRU cache of
 * prepared variants, one per (text, parameter types) pair, DEALLOCATEd lazily when evicted. The
 * two files share sql_pg_int.h.
 */
#include "sql/sql_pg_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/strlist.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_MAX_PARAMS 65535 /* protocol limit (Int16 count) */

/* ---- placeholder translation ---------------------------------------------------------- */

int sql__pg_is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || (unsigned char)c >= 0x80;
}

/* Length of the dollar-quote tag ("$tag$" or "$$") starting at s, or 0 if none. */
static size_t dollar_tag(const char *s)
{
    size_t i = 1;
    if (s[i] == '$') return 2;
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
          (unsigned char)s[i] >= 0x80))
        return 0;
    while (s[i] && s[i] != '$' && sql__pg_is_ident(s[i]))
        i++;
    return s[i] == '$' ? i + 1 : 0;
}

/* Translates '?' / '?NNN' to $n into out (malloc'd). *nparams = the highest parameter number
 * (explicit $n already in the text count too). EF_EINVAL for a parameter number out of range. */
int sql__pg_translate(const char *sql, char **out, int *nparams, char *err, size_t errlen)
{
    size_t n = strlen(sql);
    /* '?' (1 byte) becomes "$65535" at most (6 bytes) */
    char *o = malloc(n * 6 + 1);
    size_t w = 0;
    long max = 0;
    if (!o) return EF_ENOMEM;
    for (size_t i = 0; i < n;) {
        char c = sql[i];
        char prev = i > 0 ? sql[i - 1] : ' ';
        if (c == '\'') {
            int esc = (prev == 'E' || prev == 'e') && (i < 2 || !sql__pg_is_ident(sql[i - 2]));
            o[w++] = sql[i++];
            while (i < n) {
                if (esc && sql[i] == '\\' && i + 1 < n) {
                    o[w++] = sql[i++];
                    o[w++] = sql[i++];
                    continue;
                }
                if (sql[i] == '\'') {
                    o[w++] = sql[i++];
                    if (i < n && sql[i] == '\'') { /* '' inside the literal */
                        o[w++] = sql[i++];
                        continue;
                    }
                    break;
                }
                o[w++] = sql[i++];
            }
        } else if (c == '"') {
            o[w++] = sql[i++];
            while (i < n) {
                if (sql[i] == '"') {
                    o[w++] = sql[i++];
                    if (i < n && sql[i] == '"') {
                        o[w++] = sql[i++];
                        continue;
                    }
                    break;
                }
                o[w++] = sql[i++];
            }
        } else if (c == '-' && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n')
                o[w++] = sql[i++];
        } else if (c == '/' && sql[i + 1] == '*') {
            int depth = 0;
            while (i < n) {
                if (sql[i] == '/' && sql[i + 1] == '*') {
                    depth++;
                    o[w++] = sql[i++];
                } else if (sql[i] == '*' && sql[i + 1] == '/') {
                    o[w++] = sql[i++];
                    if (--depth == 0) {
                        o[w++] = sql[i++];
                        break;
                    }
                }
                o[w++] = sql[i++];
            }
        } else if (c == '$' && !sql__pg_is_ident(prev) && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            /* an explicit $n: count it, copy it */
            char *end;
            long v = strtol(sql + i + 1, &end, 10);
            if (v > max) max = v;
            while (sql + i < end)
                o[w++] = sql[i++];
            if (v < 1 || v > PG_MAX_PARAMS) goto range;
        } else if (c == '$' && !sql__pg_is_ident(prev) && dollar_tag(sql + i)) {
            size_t tl = dollar_tag(sql + i);
            const char *tag = sql + i;
            const char *close = NULL;
            for (const char *p = sql + i + tl; (p = strchr(p, '$')) != NULL; p++) {
                if (strncmp(p, tag, tl) == 0) {
                    close = p;
                    break;
                }
            }
            size_t stop = close ? (size_t)(close - sql) + tl : n;
            while (i < stop)
                o[w++] = sql[i++];
        } else if (c == '?') {
            long v;
            i++;
            if (sql[i] >= '0' && sql[i] <= '9') {
                char *end;
                v = strtol(sql + i, &end, 10);
                i = (size_t)(end - sql);
            } else {
                v = max + 1;
            }
            if (v < 1 || v > PG_MAX_PARAMS) goto range;
            if (v > max) max = v;
            w += (size_t)sprintf(o + w, "$%ld", v);
        } else {
            o[w++] = sql[i++];
        }
    }
    o[w] = '\0';
    *out = o;
    *nparams = (int)max;
    return EF_OK;
range:
    snprintf(err, errlen, "prepare: parameter number out of range (1..%d)", PG_MAX_PARAMS);
    free(o);
    return EF_EINVAL;
}

/* ---- prepared statements ---------------------------------------------------------------- */

/* Forgets a server-side statement: queued for DEALLOCATE (if it exists in this session). */
static void prep_free(sql__pg_db *d, sql__pg_prep *p)
{
    if (!p) return;
    if (p->gen == d->gen && ef_strlist_push(&d->dead_names, p->name) != EF_OK)
        EF_DEBUG("postgresql: out of memory queueing DEALLOCATE %s", p->name);
    free(p->sql);
    free(p->sig);
    free(p);
}

/* Parameter type codes of a signature: one char per parameter. A prepared variant holds
 * 'i' int8, 'd' float8, 'b' bytea or 'u' (unknown: the server infers it from the context, used
 * for text, so text can feed jsonb, timestamptz, numeric ... columns). A wanted signature may
 * also hold 'n' (NULL bound), which any variant accepts. */
static Oid sig_oid(char c)
{
    switch (c) {
    case 'i':
        return 20; /* int8 */
    case 'd':
        return 701; /* float8 */
    case 'b':
        return PG_OID_BYTEA;
    default:
        return 0;
    }
}

int sql__pg_sig_accepts(const char *have, const char *want)
{
    for (; *want; have++, want++) {
        if (*want != 'n' && *want != *have) return 0;
    }
    return 1;
}

/* Makes sure p exists in the current session. */
int sql__pg_server_prepare(sql__pg_db *d, sql__pg_prep *p)
{
    Oid types[64];
    Oid *tv = types;
    int err = EF_OK;
    if (p->gen == d->gen) return EF_OK;
    if (p->nparams > (int)(sizeof types / sizeof types[0])) {
        tv = malloc((size_t)p->nparams * sizeof *tv);
        if (!tv) return EF_ENOMEM;
    }
    for (int i = 0; i < p->nparams; i++)
        tv[i] = sig_oid(p->sig[i]);
    PGresult *res = PQprepare(d->conn, p->name, p->sql, p->nparams, tv);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        err = sql__pg_set_err(d, "prepare", res);
        if (err == EF_EEXIST) err = EF_EDB;
        sql__pg_after_failure(d);
    } else {
        p->gen = d->gen;
    }
    PQclear(res);
    if (tv != types) free(tv);
    return err;
}

static void cache_remove(sql__pg_db *d, sql__pg_prep *p)
{
    for (int i = 0; p->cached && i < d->ncache; i++) {
        if (d->cache[i] == p) {
            d->cache[i] = d->cache[--d->ncache];
            p->cached = 0;
        }
    }
}

/* Finds (in the cache) or creates and prepares a variant of translated text sql that accepts
 * the wanted signature; the entry's reference count is taken for the caller. */
int sql__pg_prep_get(sql__pg_db *d, const char *sql, int nparams, const char *want,
                     sql__pg_prep **out)
{
    int victim = -1;
    sql__pg_prep *p = NULL;
    int err;
    for (int i = 0; i < d->ncache; i++) {
        sql__pg_prep *c = d->cache[i];
        if (c->nparams == nparams && strcmp(c->sql, sql) == 0 &&
            sql__pg_sig_accepts(c->sig, want)) {
            p = c;
            break;
        }
        if (c->refs == 0 && (victim < 0 || c->used < d->cache[victim]->used)) victim = i;
    }
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) return EF_ENOMEM;
        p->sql = strdup(sql);
        p->sig = malloc((size_t)nparams + 1);
        if (!p->sql || !p->sig) {
            free(p->sql);
            free(p->sig);
            free(p);
            return EF_ENOMEM;
        }
        for (int i = 0; i < nparams; i++)
            p->sig[i] = want[i] == 'n' ? 'u' : want[i];
        p->sig[nparams] = '\0';
        p->nparams = nparams;
        snprintf(p->name, sizeof p->name, "ef_%" PRIu64, ++d->next_name);
        if (d->ncache < PG_CACHE_MAX) {
            p->cached = 1;
            d->cache[d->ncache++] = p;
        } else if (victim >= 0) {
            prep_free(d, d->cache[victim]);
            p->cached = 1;
            d->cache[victim] = p;
        } /* else: every cached one is referenced; this one belongs to its statement */
    }
    p->used = ++d->tick;
    err = sql__pg_server_prepare(d, p);
    if (err != EF_OK) {
        /* not kept: a text that does not prepare should not hold a cache slot */
        if (p->refs == 0) {
            cache_remove(d, p);
            prep_free(d, p);
        }
        return err;
    }
    p->refs++;
    *out = p;
    return EF_OK;
}

void sql__pg_prep_release(sql__pg_db *d, sql__pg_prep *p)
{
    if (!p) return;
    if (--p->refs == 0 && !p->cached) prep_free(d, p);
}
