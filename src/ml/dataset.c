/* dataset.c - the CSV loader behind dataset.h: a pandas-compatible tokenizer (quotes, CR/LF,
 * BOM, blank lines), pandas' column naming and per-column typing (int64 / uint64 / float via
 * its xstrtod / bool / text), and the target / drop / feature selection. The numbers themselves
 * (token -> double, per-column type state) are in dataset_num.c, shared through dataset_int.h.
 *
 * One pass: records are tokenized into a reused scratch buffer, each selected cell is parsed
 * straight into the growing matrix. Column types are decided at the end from per-column state
 * that replays pandas' sequence "try int64 over the column, then uint64, then float64, then
 * bool, else text"; the rare integer tokens whose int -> double conversion differs from the
 * float parser's value are kept in a fixup list and applied when their column ends up integer.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "ml/dataset.h"
#include "ml/dataset_int.h"

/* ---- tokenizer -------------------------------------------------------------------------- */

typedef struct csv_field {
    size_t off, len; /* into the input, or into buf when quoted */
    int quoted;
} csv_field;

typedef struct csv_tok {
    const char *base, *p, *end;
    char delim;
    size_t line;     /* physical line at p, 1-based */
    size_t rec_line; /* first line of the last record */
    ef_buf buf;      /* the last record's quoted fields, unescaped */
    csv_field *f;    /* the last record's fields */
    size_t n_fields, f_cap;
} csv_tok;

/* Grows *p (an array of `size`-byte items with *cap of them) to hold at least need. */
static int reserve(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return EF_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = n <= SIZE_MAX / size ? realloc(*(void **)p, n * size) : NULL;
    if (!q) return EF_ENOMEM;
    *(void **)p = q;
    *cap = n;
    return EF_OK;
}

/* Field k of the last record (n bytes, not NUL-terminated). */
static const char *tok_field(const csv_tok *t, size_t k, size_t *n)
{
    *n = t->f[k].len;
    return (t->f[k].quoted ? t->buf.data : t->base) + t->f[k].off;
}

/* Reads the next record into t->f (unquoted fields point into the input, quoted ones are
 * unescaped into t->buf). 1: a record, 0: end of input, < 0: EF_ENOMEM or EF_EINVAL
 * (unterminated quote; err says where). */
static int tok_next(csv_tok *t, ef_ml_err *err)
{
    const char *p = t->p, *end = t->end;
    for (;;) { /* skip blank and blank-only lines (the delimiter is not blank) */
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t') && *q != t->delim)
            q++;
        if (q == end) {
            t->p = end;
            return 0;
        }
        if (*q != '\n' && *q != '\r') break;
        p = q + 1 + (*q == '\r' && q + 1 < end && q[1] == '\n');
        t->line++;
    }
    t->rec_line = t->line;
    t->n_fields = 0;
    ef_buf_clear(&t->buf);
    for (;;) {
        if (reserve(&t->f, &t->f_cap, t->n_fields + 1, sizeof *t->f)) return EF_ENOMEM;
        csv_field *f = &t->f[t->n_fields++];
        *f = (csv_field){(size_t)(p - t->base), 0, 0};
        if (p < end && *p == '"') {
            size_t qline = t->line;
            f->quoted = 1;
            f->off = t->buf.len;
            p++;
            for (;;) {
                const char *s = p;
                while (p < end && *p != '"' && *p != '\n' && *p != '\r')
                    p++;
                if (ef_buf_append(&t->buf, s, (size_t)(p - s))) return EF_ENOMEM;
                if (p == end) {
                    t->p = p;
                    return ef_ml_errf(err, EF_EINVAL,
                                      "line %zu: a quoted field is never closed (missing '\"')",
                                      qline);
                }
                if (*p == '"' && !(p + 1 < end && p[1] == '"')) break;
                if (*p != '"' && (*p == '\n' || !(p + 1 < end && p[1] == '\n')))
                    t->line++; /* LF, or a CR not followed by LF */
                if (ef_buf_appendc(&t->buf, *p)) return EF_ENOMEM;
                p += *p == '"' ? 2 : 1;
            }
            p++; /* the closing quote */
        }
        const char *s = p; /* an unquoted field, or what follows a closing quote */
        while (p < end && *p != t->delim && *p != '\n' && *p != '\r')
            p++;
        if (f->quoted && ef_buf_append(&t->buf, s, (size_t)(p - s))) return EF_ENOMEM;
        f->len = f->quoted ? t->buf.len - f->off : (size_t)(p - s);
        if (p < end && *p == t->delim) {
            p++;
            continue;
        }
        if (p < end) {
            p += 1 + (*p == '\r' && p + 1 < end && p[1] == '\n');
            t->line++;
        }
        t->p = p;
        return 1;
    }
}

static void tok_release(csv_tok *t)
{
    ef_buf_release(&t->buf);
    free(t->f);
}

/* The most frequent of , ; TAB outside quotes on the first non-blank line (',' when none). */
static char sniff_delimiter(const char *p, const char *end)
{
    while (p < end && (*p == '\n' || *p == '\r' || *p == ' '))
        p++;
    size_t n[3] = {0, 0, 0};
    int inq = 0;
    for (; p < end && (inq || (*p != '\n' && *p != '\r')); p++) {
        if (*p == '"')
            inq = !inq;
        else if (!inq)
            n[0] += *p == ',', n[1] += *p == ';', n[2] += *p == '\t';
    }
    return n[1] > n[0] && n[1] >= n[2] ? ';' : n[2] > n[0] && n[2] > n[1] ? '\t' : ',';
}

/* ---- column names ----------------------------------------------------------------------- */

/* s[0..*n) without surrounding blanks and one pair of surrounding quotes. */
static const char *trimmed(const char *s, size_t *n)
{
    size_t a = 0, b = *n;
    for (int pass = 0; pass < 2; pass++) {
        while (a < b && (s[a] == ' ' || s[a] == '\t'))
            a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
            b--;
        if (pass || b - a < 2 || s[a] != '"' || s[b - 1] != '"') break;
        a++, b--;
    }
    *n = b - a;
    return s + a;
}

/* Index of the column called key (exact name first, then trimmed), or -1. */
static long find_col(char *const *names, size_t n, const char *key, size_t klen)
{
    for (size_t j = 0; j < n; j++)
        if (strlen(names[j]) == klen && !memcmp(names[j], key, klen)) return (long)j;
    size_t tk = klen;
    const char *k = trimmed(key, &tk);
    for (size_t j = 0; j < n; j++) {
        size_t tn = strlen(names[j]);
        const char *nm = trimmed(names[j], &tn);
        if (tn == tk && !memcmp(nm, k, tk)) return (long)j;
    }
    return -1;
}

/* "a, b, c" into out (cap bytes), ending in ", ..." when it does not fit. */
static const char *list_names(char *out, size_t cap, char *const *names, size_t n)
{
    size_t off = 0;
    out[0] = 0;
    for (size_t j = 0; j < n; j++) {
        size_t need = strlen(names[j]) + 2;
        if (off + need + 6 > cap) {
            snprintf(out + off, cap - off, "%s...", j ? ", " : "");
            break;
        }
        off += (size_t)snprintf(out + off, cap - off, "%s%s", j ? ", " : "", names[j]);
    }
    return out;
}

/* pandas' header mangling: an empty name is "Unnamed: i"; then, named columns first, a repeated
 * name gets ".k" for the first k (from its count so far) whose result is not a column name. An
 * open-addressing table (name -> count; presence = "is a column name") keeps it linear. */
typedef struct name_slot {
    const char *key; /* NULL = empty slot; points into names[] (never a renamed-away string) */
    size_t count;
} name_slot;

static name_slot *name_find(name_slot *tab, size_t mask, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    size_t i = (size_t)h & mask;
    while (tab[i].key && strcmp(tab[i].key, key))
        i = (i + 1) & mask;
    return &tab[i];
}

static int dedup_names(char **names, const unsigned char *unnamed, size_t n)
{
    size_t cap = 16;
    while (cap < 4 * n)
        cap *= 2;
    name_slot *tab = calloc(cap, sizeof *tab);
    if (!tab) return EF_ENOMEM;
    int rc = EF_OK;
    for (int pass = 0; pass < 2; pass++) /* keys from the first column processed with a name */
        for (size_t j = 0; j < n; j++)
            if (unnamed[j] == pass && !name_find(tab, cap - 1, names[j])->key)
                name_find(tab, cap - 1, names[j])->key = names[j];
    for (int pass = 0; !rc && pass < 2; pass++) {
        for (size_t j = 0; !rc && j < n; j++) {
            if (unnamed[j] != pass) continue;
            name_slot *s = name_find(tab, cap - 1, names[j]), *c;
            if (s->count++ == 0) continue;
            size_t k = s->count - 1, blen = strlen(names[j]) + 24;
            char *cand = malloc(blen);
            if (!cand) {
                rc = EF_ENOMEM;
                break;
            }
            for (;; k++) {
                s->count = k + 1;
                snprintf(cand, blen, "%s.%zu", names[j], k);
                c = name_find(tab, cap - 1, cand);
                if (!c->key) break;
            }
            free(names[j]);
            names[j] = cand;
            c->key = cand;
            c->count = 1;
        }
    }
    free(tab);
    return rc;
}

/* ---- feature selection ------------------------------------------------------------------ */

enum { ROLE_SKIP = -1, ROLE_TARGET = -2, ROLE_DROP = -3 };

typedef struct loader {
    const ef_dataset_opts *o;
    ef_ml_err *err;
    char **names;
    size_t ncol, nfeat;
    long *role;   /* per header column: ROLE_* or the feature index */
    size_t *fcol; /* per feature: its header column */
    long target;  /* header column of the target or -1 */
} loader;

static int unknown_col(loader *L, const char *what, const char *key, size_t klen)
{
    char cols[360];
    return ef_ml_errf(L->err, EF_EINVAL, "%s '%.*s' not found; the columns are: %s", what,
                      (int)(klen > 60 ? 60 : klen), key,
                      list_names(cols, sizeof cols, L->names, L->ncol));
}

/* Makes header column j the next feature; `explicit` = named, not from a slice. */
static int add_feature(loader *L, size_t j, int explicit)
{
    if (L->role[j] >= 0) return EF_OK; /* already a feature: each column once */
    if (L->role[j] == ROLE_TARGET || L->role[j] == ROLE_DROP) {
        if (!explicit) return EF_OK;
        return ef_ml_errf(L->err, EF_EINVAL, "column '%s' is the %s, it cannot also be a feature",
                          L->names[j], L->role[j] == ROLE_TARGET ? "target" : "dropped");
    }
    L->fcol[L->nfeat] = j;
    L->role[j] = (long)L->nfeat++;
    return EF_OK;
}

static int parse_long(const char *s, const char *e, long *out)
{
    char tmp[32];
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    *out = strtol(tmp, &end, 10);
    return errno || *end || !(dataset__is_digit(tmp[0]) || tmp[0] == '-' || tmp[0] == '+') ? -1 : 0;
}

/* One item of the features spec that is not a column name: "i", "a:b", "a:b:s" (python). */
static int add_positions(loader *L, const char *s, size_t n)
{
    const char *e = s + n, *c1 = memchr(s, ':', n),
               *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;
    long len = (long)L->ncol, v;
    if (!c1) {
        if (parse_long(s, e, &v)) return unknown_col(L, "feature", s, n);
        if (v < -len || v >= len)
            return ef_ml_errf(L->err, EF_EINVAL,
                              "feature index %ld is out of range: the file has %ld columns", v,
                              len);
        return add_feature(L, (size_t)(v < 0 ? v + len : v), 1);
    }
    long start = 0, stop = 0, step = 1;
    const char *se = c1, *pe = c2 ? c2 : e;
    if ((c2 && c2 + 1 < e && parse_long(c2 + 1, e, &step)) ||
        (s < se && parse_long(s, se, &start)) || (c1 + 1 < pe && parse_long(c1 + 1, pe, &stop)))
        return unknown_col(L, "feature", s, n);
    if (step == 0)
        return ef_ml_errf(L->err, EF_EINVAL, "feature slice '%.*s' has step 0", (int)n, s);
    long lo = step < 0 ? -1 : 0, hi = step < 0 ? len - 1 : len;
    if (s < se) {
        start = start < 0 ? start + len : start;
        start = start < lo ? lo : start > hi ? hi : start;
    } else {
        start = step < 0 ? hi : lo;
    }
    if (c1 + 1 < pe) {
        stop = stop < 0 ? stop + len : stop;
        stop = stop < lo ? lo : stop > hi ? hi : stop;
    } else {
        stop = step < 0 ? lo : hi;
    }
    for (long j = start; step > 0 ? j < stop : j > stop; j += step)
        if (add_feature(L, (size_t)j, 0)) return EF_EINVAL;
    return EF_OK;
}

static int select_columns(loader *L)
{
    const ef_dataset_opts *o = L->o;
    for (size_t j = 0; j < L->ncol; j++)
        L->role[j] = ROLE_SKIP;
    L->target = -1;
    if (o->target) {
        L->target = find_col(L->names, L->ncol, o->target, strlen(o->target));
        if (L->target < 0) return unknown_col(L, "target column", o->target, strlen(o->target));
        L->role[L->target] = ROLE_TARGET;
    }
    for (size_t d = 0; d < o->n_drop; d++) {
        long j = find_col(L->names, L->ncol, o->drop[d], strlen(o->drop[d]));
        if (j < 0) return unknown_col(L, "column to drop", o->drop[d], strlen(o->drop[d]));
        if (j == L->target)
            return ef_ml_errf(L->err, EF_EINVAL, "column '%s' is the target, it cannot be dropped",
                              L->names[j]);
        L->role[j] = ROLE_DROP;
    }
    if (o->columns) {
        for (size_t k = 0; k < o->n_columns; k++) {
            long j = find_col(L->names, L->ncol, o->columns[k], strlen(o->columns[k]));
            if (j < 0) return unknown_col(L, "column", o->columns[k], strlen(o->columns[k]));
            if (add_feature(L, (size_t)j, 1)) return EF_EINVAL;
        }
    } else if (o->features) {
        for (const char *s = o->features;;) {
            const char *comma = strchr(s, ',');
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            size_t tn = n;
            const char *t = trimmed(s, &tn);
            long j = find_col(L->names, L->ncol, s, n);
            int rc = j >= 0 ? add_feature(L, (size_t)j, 1) : tn ? add_positions(L, t, tn) : EF_OK;
            if (rc) return rc;
            if (!comma) break;
            s = comma + 1;
        }
    } else {
        for (size_t j = 0; j < L->ncol; j++)
            add_feature(L, j, 0);
    }
    if (L->nfeat == 0) {
        char cols[360];
        return ef_ml_errf(L->err, EF_EINVAL, "no feature columns are left; the columns are: %s",
                          list_names(cols, sizeof cols, L->names, L->ncol));
    }
    return EF_OK;
}

/* ---- the loader ------------------------------------------------------------------------- */

/* An integer token's exact value, applied if its column ends up DATASET__COL_INT. */
typedef struct fixup {
    size_t row, col; /* col: feature index, SIZE_MAX for the target */
    double v;
} fixup;

typedef struct rows_buf {
    size_t cap, hint; /* rows allocated; the first allocation's size */
    fixup *fix;
    size_t n_fix, fix_cap;
    ef_buf ttext; /* target tokens, back to back */
    size_t *toff; /* row r's target token: ttext.data[toff[r], toff[r + 1]) */
} rows_buf;

static int rows_reserve(ef_dataset *d, rows_buf *b, size_t rows)
{
    if (rows <= b->cap) return EF_OK;
    size_t cap = b->cap ? b->cap * 2 : b->hint, c1 = b->cap, c2 = b->cap, c3 = b->cap, c4 = b->cap;
    if (reserve(&d->X.v, &c1, cap, d->X.cols * sizeof(double)) ||
        reserve(&d->row_line, &c2, cap, sizeof(size_t)) ||
        (d->target_name && (reserve(&d->y, &c3, cap, sizeof(double)) ||
                            reserve(&b->toff, &c4, cap + 1, sizeof(size_t)))))
        return EF_ENOMEM;
    if (!b->cap && d->target_name) b->toff[0] = 0;
    b->cap = cap;
    return EF_OK;
}

static int add_fixup(rows_buf *b, size_t row, size_t col, double v)
{
    if (reserve(&b->fix, &b->fix_cap, b->n_fix + 1, sizeof *b->fix)) return EF_ENOMEM;
    b->fix[b->n_fix++] = (fixup){row, col, v};
    return EF_OK;
}

static int add_target_text(rows_buf *b, size_t row, const char *s, size_t n)
{
    if (ef_buf_append(&b->ttext, s, n)) return EF_ENOMEM;
    b->toff[row + 1] = b->ttext.len;
    return EF_OK;
}

typedef struct label_ref {
    const char *s;
    size_t n, row;
} label_ref;

static int label_cmp(const void *a, const void *b)
{
    const label_ref *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* A text target: y[r] = index of row r's label among the sorted distinct labels. */
static int encode_labels(ef_dataset *d, rows_buf *b, const dataset__col_state *ts, ef_ml_err *err)
{
    size_t n = d->X.rows, k = 0;
    int boolean = dataset__col_type(ts) == DATASET__COL_BOOL;
    label_ref *ref = malloc(n * sizeof *ref);
    if (!ref) return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    for (size_t r = 0; r < n; r++) {
        ref[r] = (label_ref){b->ttext.data + b->toff[r], b->toff[r + 1] - b->toff[r], r};
        if (dataset__is_na(ref[r].s, ref[r].n)) {
            ef_ml_errf(err, EF_EINVAL,
                       "line %zu: the target '%s' is missing ('%.*s'); remove the row or fill in "
                       "the label",
                       d->row_line[r], d->target_name, (int)ref[r].n, ref[r].s);
            free(ref);
            return EF_EINVAL;
        }
        if (boolean) /* pandas reads the column as bool: two labels, False < True */
            ref[r] = dataset__bool_word(ref[r].s, ref[r].n) ? (label_ref){"True", 4, r}
                                                            : (label_ref){"False", 5, r};
    }
    qsort(ref, n, sizeof *ref, label_cmp);
    for (size_t i = 0; i < n; i++)
        k += i == 0 || label_cmp(&ref[i - 1], &ref[i]);
    d->class_names = calloc(k, sizeof(char *));
    int rc = d->class_names ? EF_OK : EF_ENOMEM;
    for (size_t i = 0, c = 0; !rc && i < n; i++) {
        if (i && label_cmp(&ref[i - 1], &ref[i])) c++;
        if (!d->class_names[c]) {
            d->class_names[c] = strndup(ref[i].s, ref[i].n);
            d->n_class_names = c + 1;
            if (!d->class_names[c]) rc = EF_ENOMEM;
        }
        d->y[ref[i].row] = (double)c;
    }
    free(ref);
    return rc ? ef_ml_errf(err, rc, "out of memory") : EF_OK;
}

static int text_column_error(const loader *L, const dataset__col_state *c, size_t j)
{
    if (!c->float_bad) /* integers beyond int64/uint64 (pandas: object column) */
        return ef_ml_errf(L->err, EF_EINVAL,
                          "line %zu, column '%s': '%s' overflows pandas' 64-bit integer parsing "
                          "(or mixes with negative or missing values), so pandas reads the column "
                          "as text; fix the values or leave the column out",
                          c->big_line, L->names[j], c->big + 1);
    return ef_ml_errf(
        L->err, EF_EINVAL,
        "line %zu, column '%s': '%s' is not a number; fix the value or leave the column "
        "out (drop it)",
        c->bad_line, L->names[j], c->bad);
}

/* After the last row: decides each column's type, applies integer fixups, encodes text labels,
 * trims the buffers. */
static int finish(loader *L, ef_dataset *d, rows_buf *b, const dataset__col_state *cs,
                  const dataset__col_state *ts)
{
    size_t n = d->X.rows, nf = d->X.cols;
    for (size_t k = 0; k < nf; k++)
        if (dataset__col_type(&cs[k]) == DATASET__COL_TEXT)
            return text_column_error(L, &cs[k], L->fcol[k]);
    int ttext = d->target_name && (dataset__col_type(ts) == DATASET__COL_TEXT ||
                                   dataset__col_type(ts) == DATASET__COL_BOOL);
    for (size_t f = 0; f < b->n_fix; f++) {
        const fixup *x = &b->fix[f];
        if (x->col == SIZE_MAX ? !ttext && dataset__col_type(ts) == DATASET__COL_INT
                               : dataset__col_type(&cs[x->col]) == DATASET__COL_INT)
            *(x->col == SIZE_MAX ? &d->y[x->row] : &EF_MAT_AT(&d->X, x->row, x->col)) = x->v;
    }
    if (ttext) {
        int rc = encode_labels(d, b, ts, L->err);
        if (rc) return rc;
    }
    double *v = realloc(d->X.v, n * nf * sizeof *v); /* shrink: cannot fail in practice */
    if (v) d->X.v = v;
    return EF_OK;
}

static int parse_rows(loader *L, csv_tok *t, ef_dataset *d, rows_buf *b, dataset__col_state *cs,
                      dataset__col_state *ts)
{
    int rc;
    size_t nf = d->X.cols;
    while ((rc = tok_next(t, L->err)) == 1) {
        size_t r = d->X.rows;
        if (t->n_fields != L->ncol)
            return ef_ml_errf(L->err, EF_EINVAL,
                              "line %zu has %zu fields but the header has %zu; check the delimiter "
                              "('%s') and the quoting",
                              t->rec_line, t->n_fields, L->ncol,
                              t->delim == '\t' ? "\\t" : (char[2]){t->delim, 0});
        if (rows_reserve(d, b, r + 1))
            return ef_ml_errf(L->err, EF_ENOMEM, "out of memory after %zu rows", r);
        for (size_t j = 0; j < L->ncol; j++) {
            long role = L->role[j];
            if (role < 0 && role != ROLE_TARGET) continue;
            size_t n;
            const char *s = tok_field(t, j, &n);
            int fix;
            double fixv;
            if (role == ROLE_TARGET) {
                dataset__parse_cell(ts, s, n, t->rec_line, &d->y[r], &fix, &fixv);
                if (add_target_text(b, r, s, n) || (fix && add_fixup(b, r, SIZE_MAX, fixv)))
                    return ef_ml_errf(L->err, EF_ENOMEM, "out of memory");
                continue;
            }
            if (dataset__parse_cell(&cs[role], s, n, t->rec_line, &d->X.v[r * nf + (size_t)role],
                                    &fix, &fixv))
                return text_column_error(L, &cs[role], j);
            if (fix && add_fixup(b, r, (size_t)role, fixv))
                return ef_ml_errf(L->err, EF_ENOMEM, "out of memory");
        }
        d->row_line[r] = t->rec_line;
        d->X.rows = r + 1;
    }
    if (rc < 0) return rc == EF_ENOMEM ? ef_ml_errf(L->err, rc, "out of memory") : rc;
    if (d->X.rows == 0)
        return ef_ml_errf(L->err, EF_EINVAL, "no data rows after the header (line %zu)",
                          t->rec_line);
    return finish(L, d, b, cs, ts);
}

int ef_dataset_parse(const char *text, size_t len, const ef_dataset_opts *opt, ef_dataset *out,
                     ef_ml_err *err)
{
    static const ef_dataset_opts defaults = {0};
    const ef_dataset_opts *o = opt ? opt : &defaults;
    ef_dataset d = {0};
    csv_tok t = {0};
    rows_buf b = {0};
    loader L = {.o = o, .err = err};
    dataset__col_state *cs = NULL, ts = {.all_bool = 1};
    unsigned char *unnamed = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (o->max_bytes && len > o->max_bytes) {
        rc = ef_ml_errf(err, EF_ETOOBIG, "the data has %zu bytes, over the limit of %zu", len,
                        o->max_bytes);
        goto out;
    }
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) text += 3, len -= 3;
    const char *nul = memchr(text, 0, len);
    if (nul) {
        size_t line = 1;
        for (const char *p = text; (p = memchr(p, '\n', (size_t)(nul - p))); p++)
            line++;
        rc = ef_ml_errf(err, EF_EINVAL, "line %zu holds a NUL byte: this is not a CSV text file",
                        line);
        goto out;
    }
    d.delimiter = o->delimiter ? o->delimiter : sniff_delimiter(text, text + len);
    if (d.delimiter == '"' || d.delimiter == '\n' || d.delimiter == '\r') {
        rc = ef_ml_errf(err, EF_EINVAL, "the delimiter cannot be a quote or a line break");
        goto out;
    }
    t = (csv_tok){.base = text, .p = text, .end = text + len, .delim = d.delimiter, .line = 1};
    rc = tok_next(&t, err);
    if (rc <= 0) {
        if (rc == 0)
            rc = ef_ml_errf(err, EF_EINVAL,
                            "the data is empty: a header line with the column names "
                            "is needed");
        else if (rc == EF_ENOMEM)
            ef_ml_errf(err, rc, "out of memory");
        goto out;
    }
    L.ncol = d.n_columns = t.n_fields;
    L.names = calloc(L.ncol, sizeof(char *));
    unnamed = calloc(L.ncol, 1);
    L.role = calloc(L.ncol, sizeof(long));
    L.fcol = calloc(L.ncol, sizeof(size_t));
    rc = L.names && unnamed && L.role && L.fcol ? EF_OK : EF_ENOMEM;
    for (size_t j = 0; !rc && j < L.ncol; j++) {
        size_t n;
        const char *f = tok_field(&t, j, &n);
        unnamed[j] = n == 0;
        L.names[j] = malloc(n ? n + 1 : 32);
        if (!L.names[j])
            rc = EF_ENOMEM;
        else if (n)
            memcpy(L.names[j], f, n), L.names[j][n] = 0;
        else
            snprintf(L.names[j], 32, "Unnamed: %zu", j);
    }
    if (rc || (rc = dedup_names(L.names, unnamed, L.ncol))) {
        ef_ml_errf(err, rc, "out of memory");
        goto out;
    }
    if ((rc = select_columns(&L))) goto out;
    d.X.cols = L.nfeat;
    cs = calloc(L.nfeat, sizeof *cs);
    d.feature_names = calloc(L.nfeat, sizeof(char *));
    if (L.target >= 0 && !(d.target_name = strdup(L.names[L.target]))) rc = EF_ENOMEM;
    for (size_t k = 0; !rc && cs && d.feature_names && k < L.nfeat; k++) {
        cs[k].all_bool = 1;
        if (!(d.feature_names[k] = strdup(L.names[L.fcol[k]]))) rc = EF_ENOMEM;
    }
    if (rc || !cs || !d.feature_names) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    /* first allocation: the line count, capped at ~32 MB of cells (then doubling) */
    size_t lines = 1;
    for (const char *p = t.p; (p = memchr(p, '\n', (size_t)(t.end - p))); p++)
        lines++;
    size_t cap_cells = ((size_t)4 << 20) / L.nfeat;
    b.hint = lines < cap_cells ? lines : cap_cells ? cap_cells : 1;
    rc = parse_rows(&L, &t, &d, &b, cs, &ts);
out:
    if (rc)
        ef_dataset_release(&d);
    else
        *out = d;
    for (char *m = err && rc ? err->msg : NULL; m && *m; m++)
        if ((unsigned char)*m < 0x20) *m = ' '; /* names from the file may hold line breaks */
    for (size_t j = 0; L.names && j < L.ncol; j++)
        free(L.names[j]);
    free(L.names);
    free(L.role);
    free(L.fcol);
    free(unnamed);
    free(cs);
    free(b.fix);
    ef_buf_release(&b.ttext);
    free(b.toff);
    tok_release(&t);
    return rc;
}

int ef_dataset_load(const char *path, const ef_dataset_opts *opt, ef_dataset *out, ef_ml_err *err)
{
    size_t limit = opt && opt->max_bytes ? opt->max_bytes : SIZE_MAX;
    ef_buf text;
    ef_buf_init(&text);
    memset(out, 0, sizeof *out);
    int rc = ef_fs_read(path, limit, &text);
    if (rc == EF_ETOOBIG)
        ef_ml_errf(err, rc, "%s: larger than the limit of %zu bytes", path, limit);
    else if (rc == EF_ENOMEM)
        ef_ml_errf(err, rc, "%s: out of memory", path);
    else if (rc)
        rc = ef_ml_errf(err, EF_EIO, "%s: cannot open or read: %s", path, strerror(errno));
    if (!rc && (rc = ef_dataset_parse(text.data ? text.data : "", text.len, opt, out, err)) &&
        err) {
        char msg[sizeof err->msg]; /* prefix the path */
        snprintf(msg, sizeof msg, "%s", err->msg);
        ef_ml_errf(err, rc, "%s: %s", path, msg);
    }
    ef_buf_release(&text);
    return rc;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void ef_dataset_release(ef_dataset *d)
{
    if (!d) return;
    free_strv(d->feature_names, d->X.cols);
    free_strv(d->class_names, d->n_class_names);
    ef_mat_release(&d->X);
    free(d->y);
    free(d->target_name);
    free(d->row_line);
    memset(d, 0, sizeof *d);
}

int ef_dataset_check_finite(const ef_dataset *d, ef_ml_err *err)
{
    for (size_t i = 0; i < d->X.rows; i++) {
        for (size_t j = 0; j < d->X.cols; j++) {
            double v = EF_MAT_AT(&d->X, i, j);
            if (!isfinite(v))
                return ef_ml_errf(
                    err, EF_EINVAL,
                    "line %zu, column '%s' is %s: remove or impute missing values first",
                    d->row_line[i], d->feature_names[j],
                    isnan(v) ? "NaN (empty or NA in the file)"
                    : v > 0  ? "inf"
                             : "-inf");
        }
        if (d->y && !isfinite(d->y[i]))
            return ef_ml_errf(err, EF_EINVAL,
                              "line %zu: the target '%s' is %s: remove the row first",
                              d->row_line[i], d->target_name,
                              isnan(d->y[i]) ? "NaN (empty or NA in the file)" : "infinite");
    }
    return EF_OK;
}

int ef_dataset_select(const ef_dataset *d, const char *const *names, size_t n, ef_mat *out,
                      ef_ml_err *err)
{
    long *col = malloc((n ? n : 1) * sizeof *col);
    int rc = col ? EF_OK : ef_ml_errf(err, EF_ENOMEM, "out of memory");
    memset(out, 0, sizeof *out);
    for (size_t k = 0; !rc && k < n; k++) {
        col[k] = find_col(d->feature_names, d->X.cols, names[k], strlen(names[k]));
        if (col[k] < 0) {
            char cols[360];
            rc = ef_ml_errf(err, EF_ENOTFOUND,
                            "the data has no column '%s' (the model needs it); its "
                            "columns are: %s",
                            names[k], list_names(cols, sizeof cols, d->feature_names, d->X.cols));
        }
    }
    if (!rc && (rc = ef_mat_init(out, d->X.rows, n))) ef_ml_errf(err, rc, "out of memory");
    for (size_t i = 0; !rc && i < d->X.rows; i++)
        for (size_t k = 0; k < n; k++)
            EF_MAT_AT(out, i, k) = EF_MAT_AT(&d->X, i, (size_t)col[k]);
    free(col);
    return rc;
}
