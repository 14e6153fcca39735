/* search_int.h - internals shared by the three files of the search compiler (prefix
 * trk__search_): search_lex.c (tokenizer, value parsing, identifiers, error helpers, page tokens),
 * search.c (compile context, identifier tables, filter grammar rules, validation and SQL
 * emission) and search_order.c (order_by). Not a public API: the tracking module uses search.h.
 *
 * Tokens point into the text being parsed (no copies); values and split identifiers are
 * malloc'd and owned by the caller.
 */
#ifndef EF_TRACKING_SEARCH_INT_H
#define EF_TRACKING_SEARCH_INT_H

#include <stddef.h>

#include "tracking/search.h"
#include "tracking/trk_int.h"

/* --- errors ------------------------------------------------------------------------------- */
/* Fill e with INVALID_PARAMETER_VALUE and the formatted message / INTERNAL_ERROR "out of
 * memory"; both return -1 so callers can `return trk__search_fail(...)`. */
int trk__search_fail(trk_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int trk__search_oom(trk_err *e);

/* --- tokens ------------------------------------------------------------------------------- */
typedef enum {
    TRK_TOK_END,
    TRK_TOK_IDENT,
    TRK_TOK_STRING,
    TRK_TOK_NUMBER,
    TRK_TOK_OP,
    TRK_TOK_AND,
    TRK_TOK_OR,
    TRK_TOK_NOT,
    TRK_TOK_IN,
    TRK_TOK_LPAREN,
    TRK_TOK_RPAREN,
    TRK_TOK_COMMA,
    TRK_TOK_OTHER,
} trk_tok_type;

typedef struct trk_tok {
    trk_tok_type type;
    const char *p; /* raw text in the input */
    size_t n;
    int quoted;   /* TRK_TOK_IDENT: the token is exactly one "..." segment (usable as a value) */
    int is_float; /* TRK_TOK_NUMBER */
} trk_tok;

typedef struct trk_toks {
    trk_tok *v; /* malloc'd; the caller frees v */
    size_t n, cap;
} trk_toks;

/* Tokenises s into ts (zero-initialised by the caller, who frees ts->v afterwards, also on
 * error); the list always ends with TRK_TOK_END. 0, EF_ENOMEM, or EF_EINVAL for an unterminated
 * quote. */
int trk__search_lex(const char *s, trk_toks *ts);
/* Index of the ')' closing the '(' at i, or of the last token before TRK_TOK_END if unbalanced. */
size_t trk__search_match_paren(const trk_toks *ts, size_t i);
/* Whether the n bytes at p are the keyword kw, ignoring ASCII case. */
int trk__search_word_is(const char *p, size_t n, const char *kw);
/* Length of a number at s, 0 if there is none; *is_float: it has a fraction or exponent. */
size_t trk__search_scan_number(const char *s, int *is_float);

/* --- values ------------------------------------------------------------------------------- */
typedef struct trk_search_value {
    char *s;     /* string or number text (malloc'd) */
    char **list; /* IN list (malloc'd strings) */
    size_t nlist;
    int is_list, is_number;
} trk_search_value;

void trk__search_value_release(trk_search_value *v);
/* The IN list of tokens [a, b] into v (lower_only: drop elements that are not lower-case, as
 * MLflow does for run ids). 0, or -1 with e filled. */
int trk__search_parse_list(trk_err *e, const trk_toks *ts, size_t a, size_t b, int lower_only,
                           trk_search_value *v);
/* The quoted string token t into v->s. 0, or -1 with e filled (MLflow's unquoted-value text). */
int trk__search_string_value(trk_err *e, const trk_tok *t, trk_search_value *v);
/* malloc'd copy of the n bytes at s; NULL on OOM. */
char *trk__search_dup_n(const char *s, size_t n);
/* Splits an identifier into *entity (NULL without a '.') and *key, both malloc'd, unquoted.
 * 0 or EF_ENOMEM. */
int trk__search_split_ident(const char *p, size_t n, char **entity, char **key);

/* --- compile context (search.c) ----------------------------------------------------------- */
/* One compilation: what is searched, for which dialect, where bound parameters go, and the
 * errors. Out of memory while appending text or parameters only sets oom, which
 * trk__search_compile turns into INTERNAL_ERROR at the end; other errors fill e at once. */
typedef struct trk_search_cctx {
    trk_search_kind kind;
    ef_sql_dialect_t dialect;
    trk_search_sql *ps; /* where the parameters go */
    int oom;
    trk_err *e;
} trk_search_cctx;

/* Appends the formatted text to b (c->oom on failure). */
void trk__search_ap(trk_search_cctx *c, ef_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a text parameter holding a copy of the n bytes at s to c->ps (c->oom on failure). */
void trk__search_param_text(trk_search_cctx *c, const char *s, size_t n);

/* --- identifiers (search.c) --------------------------------------------------------------- */
/* The entity class of a run identifier ("metric.x", "params.y", "attributes.z" ...). */
typedef enum {
    TRK_ENT_ATTR,
    TRK_ENT_METRIC,
    TRK_ENT_PARAM,
    TRK_ENT_TAG,
    TRK_ENT_DATASET,
} trk_search_entity;

/* The trk_search_entity of a run entity name (MLflow's identifiers and their alternates), or -1
 * if unknown. */
int trk__search_run_entity(const char *s);
/* Whether s is one of the strings of the NULL-terminated list l. */
int trk__search_in_list(const char *s, const char *const *l);
/* The canonical name of a run attribute key ("created" -> "start_time", "Run name" ->
 * "run_name", ...); other keys are returned as they are. */
const char *trk__search_canonical_run_key(const char *k);
/* The table-qualified column of a canonical attribute key of kind, NULL if it has none. */
const char *trk__search_attr_column(trk_search_kind kind, const char *k);
/* Whether a column from trk__search_attr_column holds text (sorted bytewise on PostgreSQL). */
int trk__search_is_text_column(const char *col);

/* --- order_by (search_order.c) ------------------------------------------------------------ */
/* Appends the complete "ORDER BY ..." for order_by (NULL or a JSON array of strings; empty: the
 * kind's default order) to b, with MLflow's tie-breakers; parameters go to c->ps. 0, or -1 with
 * c->e filled (INVALID_PARAMETER_VALUE with MLflow's message, or out of memory). */
int trk__search_compile_order(trk_search_cctx *c, const json_t *order_by, ef_buf *b);

#endif
