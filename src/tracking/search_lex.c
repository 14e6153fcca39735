/* search_lex.c - the lexical half of the search grammar (search.c has the grammar rules and the
 * SQL compiler): the tokenizer (sqlparse's token rules as MLflow sees them), value parsing
 * (quoted strings, IN lists as Python's literal_eval reads them, identifiers split into entity and
 * key), the INVALID_PARAMETER_VALUE error helpers both halves use, the base64 offset page
 * tokens of spec §9 and the page's SQL tail every search RPC uses. Shared with search.c through
 * search_int.h.
 */
#include "tracking/search_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

/* --- errors ------------------------------------------------------------------------------- */
int trk__search_fail(trk_err *e, const char *fmt, ...)
{
    va_list ap;
    e->code = TRK_INVALID_PARAMETER_VALUE;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int trk__search_oom(trk_err *e)
{
    e->code = TRK_INTERNAL_ERROR;
    snprintf(e->message, sizeof e->message, "out of memory");
    return -1;
}

/* --- tokens ------------------------------------------------------------------------------- */
static int toks_push(trk_toks *ts, trk_tok_type type, const char *p, size_t n)
{
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 16;
        trk_tok *v = realloc(ts->v, cap * sizeof *v);
        if (!v) return EF_ENOMEM;
        ts->v = v;
        ts->cap = cap;
    }
    ts->v[ts->n++] = (trk_tok){.type = type, .p = p, .n = n};
    return 0;
}

static int is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* Length of a number at s (optional '-', digits, fraction, exponent), 0 if there is none or it
 * runs into a word (then the text is an identifier, like sqlparse's 1abc). */
size_t trk__search_scan_number(const char *s, int *is_float)
{
    size_t i = 0, digits = 0;
    *is_float = 0;
    if (s[i] == '-') i++;
    while (isdigit((unsigned char)s[i]))
        i++, digits++;
    if (s[i] == '.') {
        i++;
        *is_float = 1;
        while (isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (!digits) return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-') j++;
        if (isdigit((unsigned char)s[j])) {
            while (isdigit((unsigned char)s[j]))
                j++;
            i = j;
            *is_float = 1;
        }
    }
    if (is_word_char(s[i]) || s[i] == '.' || s[i] == '`' || s[i] == '"') return 0;
    return i;
}

/* Length of an identifier (words, dots, quoted segments), or (size_t)-1 for an unterminated
 * quote. *single_dq: the identifier is exactly one "..." segment. */
static size_t scan_ident(const char *s, int *single_dq)
{
    size_t i = 0;
    int segs = 0, dq = 0;
    for (;;) {
        char c = s[i];
        if (c == '`' || c == '"') {
            const char *q = strchr(s + i + 1, c);
            if (!q) return (size_t)-1;
            i = (size_t)(q - s) + 1;
            segs++;
            dq += c == '"';
        } else if (is_word_char(c) || c == '.') {
            i++;
            segs += 2; /* anything unquoted disqualifies a lone "..." */
        } else {
            break;
        }
    }
    *single_dq = segs == 1 && dq == 1;
    return i;
}

int trk__search_word_is(const char *p, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

/* Tokenises s; the list always ends with TRK_TOK_END. EF_EINVAL for an unterminated quote. */
int trk__search_lex(const char *s, trk_toks *ts)
{
    size_t i = 0;
    int rc = 0;
    while (!rc) {
        const char *p = s + i;
        char c = *p;
        size_t n;
        int f, dq;
        if (c == '\0') return toks_push(ts, TRK_TOK_END, p, 0);
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        if (c == '\'') { /* sqlparse: '(''|\\.|[^'])*' */
            n = 1;
            for (;;) {
                if (p[n] == '\0') return EF_EINVAL;
                if (p[n] == '\\' && p[n + 1])
                    n += 2;
                else if (p[n] == '\'' && p[n + 1] == '\'')
                    n += 2;
                else if (p[n++] == '\'')
                    break;
            }
            rc = toks_push(ts, TRK_TOK_STRING, p, n);
        } else if ((isdigit((unsigned char)c) || c == '-' || c == '.') &&
                   (n = trk__search_scan_number(p, &f))) {
            rc = toks_push(ts, TRK_TOK_NUMBER, p, n);
            if (!rc) ts->v[ts->n - 1].is_float = f;
        } else if (is_word_char(c) || c == '`' || c == '"') {
            n = scan_ident(p, &dq);
            if (n == (size_t)-1) return EF_EINVAL;
            trk_tok_type t = TRK_TOK_IDENT;
            if (trk__search_word_is(p, n, "and"))
                t = TRK_TOK_AND;
            else if (trk__search_word_is(p, n, "or"))
                t = TRK_TOK_OR;
            else if (trk__search_word_is(p, n, "not"))
                t = TRK_TOK_NOT;
            else if (trk__search_word_is(p, n, "in"))
                t = TRK_TOK_IN;
            else if (trk__search_word_is(p, n, "like") || trk__search_word_is(p, n, "ilike"))
                t = TRK_TOK_OP;
            rc = toks_push(ts, t, p, n);
            if (!rc) ts->v[ts->n - 1].quoted = dq;
        } else if (c == '=' || c == '<' || c == '>' || c == '!') {
            n = 1;
            if ((c == '<' && (p[1] == '=' || p[1] == '>')) || (c != '<' && p[1] == '=')) n = 2;
            rc = toks_push(ts, c == '!' && n == 1 ? TRK_TOK_OTHER : TRK_TOK_OP, p, n);
        } else {
            rc = toks_push(ts,
                           c == '('   ? TRK_TOK_LPAREN
                           : c == ')' ? TRK_TOK_RPAREN
                           : c == ',' ? TRK_TOK_COMMA
                                      : TRK_TOK_OTHER,
                           p, 1);
        }
        if (!rc) i += ts->v[ts->n - 1].n;
    }
    return rc;
}

/* Index of the ')' closing the '(' at i, or of the last token before TRK_TOK_END if unbalanced. */
size_t trk__search_match_paren(const trk_toks *ts, size_t i)
{
    int depth = 0;
    for (; ts->v[i].type != TRK_TOK_END; i++) {
        if (ts->v[i].type == TRK_TOK_LPAREN)
            depth++;
        else if (ts->v[i].type == TRK_TOK_RPAREN && --depth == 0)
            return i;
    }
    return i - 1;
}

/* --- values ------------------------------------------------------------------------------- */
void trk__search_value_release(trk_search_value *v)
{
    free(v->s);
    for (size_t i = 0; i < v->nlist; i++)
        free(v->list[i]);
    free(v->list);
    memset(v, 0, sizeof *v);
}

/* A single-quoted list element as Python's literal_eval reads it (common escapes only). */
static char *unescape_element(const char *p, size_t n)
{
    char *o = malloc(n + 1), *w = o;
    if (!o) return NULL;
    for (size_t i = 1; i + 1 < n; i++) {
        if (p[i] == '\\' && i + 2 < n) {
            char c = p[++i];
            *w++ = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        } else if (p[i] == '\'' && p[i + 1] == '\'') {
            i++; /* 'a''b' is 'a' 'b' concatenated */
        } else {
            *w++ = p[i];
        }
    }
    *w = '\0';
    return o;
}

static int is_python_lower(const char *s)
{
    int cased = 0;
    for (; *s; s++) {
        if (isupper((unsigned char)*s)) return 0;
        if (islower((unsigned char)*s)) cased = 1;
    }
    return cased;
}

/* Parses the list tokens [a, b] ('(' ... ')') like MLflow's _parse_run_ids. */
int trk__search_parse_list(trk_err *e, const trk_toks *ts, size_t a, size_t b, int lower_only,
                           trk_search_value *v)
{
    const trk_tok *open = &ts->v[a], *close = &ts->v[b];
    int len = (int)(close->p + close->n - open->p);
    size_t n = 0;
    v->is_list = 1;
    if (close->type != TRK_TOK_RPAREN)
        return trk__search_fail(e,
                                "While parsing a list in the query, expected a non-empty list of "
                                "string values, but got ill-formed list.");
    if (b == a + 1)
        return trk__search_fail(e,
                                "While parsing a list in the query, expected a non-empty list of "
                                "string values, but got empty list");
    for (size_t i = a + 1; i < b; i++) {
        trk_tok_type t = ts->v[i].type;
        if (t != TRK_TOK_STRING && t != TRK_TOK_COMMA)
            return trk__search_fail(
                e,
                "While parsing a list in the query, expected string value, "
                "punctuation, or whitespace, but got different type in list: %.*s",
                len, open->p);
        if (t == TRK_TOK_STRING) n++;
        if ((t == TRK_TOK_STRING) == (((i - a - 1) % 2) != 0))
            return trk__search_fail(e,
                                    "While parsing a list in the query, expected a non-empty list "
                                    "of string values, but got ill-formed list.");
    }
    v->list = calloc(n, sizeof *v->list);
    if (!v->list) return trk__search_oom(e);
    for (size_t i = a + 1; i < b; i += 2) {
        char *s = unescape_element(ts->v[i].p, ts->v[i].n);
        if (!s) return trk__search_oom(e);
        if (lower_only && !is_python_lower(s)) {
            free(s);
            continue;
        }
        v->list[v->nlist++] = s;
    }
    return 0;
}

char *trk__search_dup_n(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (o) {
        memcpy(o, s, n);
        o[n] = '\0';
    }
    return o;
}

/* A quoted string value ('x' or "x"), or MLflow's message for an unquoted one. */
int trk__search_string_value(trk_err *e, const trk_tok *t, trk_search_value *v)
{
    if (t->type == TRK_TOK_STRING || (t->type == TRK_TOK_IDENT && t->quoted)) {
        v->s = trk__search_dup_n(t->p + 1, t->n - 2);
        return v->s ? 0 : trk__search_oom(e);
    }
    return trk__search_fail(e,
                            "Parameter value is either not quoted or unidentified quote types used "
                            "for string value %.*s. Use either single or double quotes.",
                            (int)t->n, t->p);
}

/* --- identifiers -------------------------------------------------------------------------- */
/* Splits an identifier into entity (NULL without a '.') and key, removing `...` / "..." quotes;
 * the key keeps any further dots. Both malloc'd. */
int trk__search_split_ident(const char *p, size_t n, char **entity, char **key)
{
    char *buf = malloc(n + 1), *w = buf;
    *entity = *key = NULL;
    if (!buf) return EF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '`' || p[i] == '"') {
            const char *q = memchr(p + i + 1, p[i], n - i - 1);
            size_t end = q ? (size_t)(q - p) : n;
            memcpy(w, p + i + 1, end - i - 1);
            w += end - i - 1;
            i = end;
        } else if (p[i] == '.' && !*entity) {
            *w = '\0';
            *entity = trk__search_dup_n(buf, (size_t)(w - buf));
            if (!*entity) goto fail;
            w = buf;
        } else {
            *w++ = p[i];
        }
    }
    *w = '\0';
    *key = buf;
    return 0;
fail:
    free(buf);
    return EF_ENOMEM;
}

/* --- page tokens -------------------------------------------------------------------------- */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *trk__page_token_encode(int64_t offset)
{
    char json[64];
    int n = snprintf(json, sizeof json, "{\"offset\": %lld}", (long long)offset);
    char *o = malloc(((size_t)n + 2) / 3 * 4 + 1), *w = o;
    if (!o) return NULL;
    for (int i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)json[i] << 16;
        if (i + 1 < n) v |= (unsigned char)json[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)json[i + 2];
        *w++ = b64[v >> 18 & 63];
        *w++ = b64[v >> 12 & 63];
        *w++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *w = '\0';
    return o;
}

int trk__page_token_put(json_t *doc, int64_t next_offset, trk_err *e)
{
    char *tok = trk__page_token_encode(next_offset);
    int rc = tok && json_object_set_new(doc, "next_page_token", json_string(tok)) == 0
                 ? 0
                 : trk__search_oom(e);
    free(tok);
    return rc;
}

int trk__search_page_sql(ef_buf *sql, const trk_search_sql *s)
{
    return ef_buf_appendf(sql, "(%s) %s LIMIT ? OFFSET ?", s->where.data ? s->where.data : "1=1",
                          s->order.data ? s->order.data : "");
}

int trk__search_bind_page(const trk_search_sql *s, ef_sql_stmt *st, int first, int64_t limit,
                          int64_t offset)
{
    int idx = trk__search_bind(s, st, first);
    if (idx < 0 || ef_sql_bind_int64(st, idx, limit) != 0 ||
        ef_sql_bind_int64(st, idx + 1, offset) != 0)
        return -1;
    return 0;
}

/* Strict base64 (padded, standard alphabet). Returns the decoded length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out)
{
    long w = 0;
    if (n % 4) return -1;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = s[i + j] ? strchr(b64, s[i + j]) : NULL;
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad) return -1;
            v = v << 6 | (unsigned)(p - b64);
        }
        out[w++] = (unsigned char)(v >> 16);
        if (pad < 2) out[w++] = (unsigned char)(v >> 8);
        if (pad < 1) out[w++] = (unsigned char)v;
    }
    return w;
}

int trk__page_token_decode(const char *token, int64_t *offset, trk_err *e)
{
    unsigned char *raw = NULL;
    json_t *doc = NULL;
    char *dump = NULL;
    int rc = -1;
    *offset = 0;
    if (!token || !*token) return 0;
    size_t n = strlen(token);
    raw = malloc(n / 4 * 3 + 1);
    if (!raw) return trk__search_oom(e);
    long len = b64_decode(token, n, raw);
    if (len < 0) {
        trk__search_fail(e, "Invalid page token, could not base64-decode");
        goto out;
    }
    raw[len] = '\0';
    doc = json_loadb((const char *)raw, (size_t)len, 0, NULL);
    if (!doc) {
        for (long i = 0; i < len; i++)
            if (raw[i] < 0x20 || raw[i] >= 0x7f) raw[i] = '?';
        trk__search_fail(e, "Invalid page token, decoded value=b'%s'", (const char *)raw);
        goto out;
    }
    json_t *v = json_is_object(doc) ? json_object_get(doc, "offset") : NULL;
    long long off = 0;
    if (json_is_integer(v)) {
        off = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9e18) {
        off = (long long)json_real_value(v);
    } else if (json_is_string(v)) {
        char *end;
        errno = 0;
        off = strtoll(json_string_value(v), &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (*end || errno || end == json_string_value(v)) off = -1;
    }
    if (off <= 0) {
        dump = json_dumps(doc, JSON_COMPACT);
        trk__search_fail(e, "Invalid page token, parsed value=%s", dump ? dump : "?");
        goto out;
    }
    *offset = off;
    rc = 0;
out:
    free(dump);
    json_decref(doc);
    free(raw);
    return rc;
}
