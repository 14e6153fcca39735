/* table.c - CSV shaped like pandas' DataFrame(list_of_dicts).to_csv(index_label="idx").
 *
 * Hand-written because no C library reproduces pandas' type inference and Python's repr; the
 * people who read our exports compare them with what their pandas scripts wrote before.
 *
 * Model (pandas 1.5 semantics, see table.h):
 *   - columns: union of the rows' keys in first-seen order; "idx" first (0, 1, 2, ...);
 *   - each column gets one of three kinds, from the JSON types seen in it:
 *       INT    only integers, present in every row         -> "42"
 *       FLOAT  numbers only, with at least one real or one
 *              missing/null cell (pandas widens to float64)  -> Python float repr ("42.0")
 *       OBJECT anything holding a string, bool, object or
 *              array (pandas' object dtype: str() per cell)  -> ints "42", reals repr,
 *              True/False, strings as is, nested as their Python repr;
 *     missing keys and JSON null are empty cells in every kind.
 *   - reals print as Python's repr (ef_json_format_double, shared with the JSON writer);
 *   - fields are quoted RFC 4180 style (csv.QUOTE_MINIMAL) when they hold , " LF or CR; lines end
 *     with "\n".
 *
 * Known deviations from pandas, on purpose or for size:
 *   - a field holding a bare CR is quoted; Python 3.11's csv module (lineterminator "\n") writes
 *     it unquoted, which most CSV readers then split as a line break. Parsed values are equal.
 *   - Python's str.isprintable() is approximated for non-ASCII text inside nested values
 *     (controls, separators, format characters and private-use planes are escaped; unassigned
 *     code points are printed as is, Python escapes them).
 */
#include "csv/table.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "json/json.h"

enum { KIND_INT = 0, KIND_FLOAT, KIND_OBJECT };

typedef struct column {
    char *name;
    size_t name_len;
    size_t present; /* rows holding a non-null value */
    unsigned has_int : 1;
    unsigned has_real : 1;
    unsigned has_other : 1; /* string, bool, object or array */
} column;

struct ef_csv_table {
    json_t **rows;
    size_t nrows, rows_cap;
    column *cols;
    size_t ncols, cols_cap;
    size_t *slots; /* open addressing: column index + 1, 0 = empty */
    size_t nslots; /* power of two */
};

ef_csv_table *ef_csv_table_new(void)
{
    return calloc(1, sizeof(ef_csv_table));
}

void ef_csv_table_free(ef_csv_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nrows; i++)
        json_decref(t->rows[i]);
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i].name);
    free(t->rows);
    free(t->cols);
    free(t->slots);
    free(t);
}

size_t ef_csv_table_rows(const ef_csv_table *t)
{
    return t ? t->nrows : 0;
}

/* FNV-1a */
static size_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

static int rehash(ef_csv_table *t, size_t nslots)
{
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return EF_ENOMEM;
    for (size_t c = 0; c < t->ncols; c++) {
        size_t i = hash_name(t->cols[c].name, t->cols[c].name_len) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = c + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return EF_OK;
}

/* Finds or adds the column named key; *out is its index. */
static int column_for(ef_csv_table *t, const char *key, size_t len, size_t *out)
{
    if (t->nslots) {
        size_t i = hash_name(key, len) & (t->nslots - 1);
        while (t->slots[i]) {
            column *c = &t->cols[t->slots[i] - 1];
            if (c->name_len == len && memcmp(c->name, key, len) == 0) {
                *out = t->slots[i] - 1;
                return EF_OK;
            }
            i = (i + 1) & (t->nslots - 1);
        }
    }
    if ((t->ncols + 1) * 2 > t->nslots && rehash(t, t->nslots ? t->nslots * 2 : 16) != EF_OK)
        return EF_ENOMEM;
    if (t->ncols == t->cols_cap) {
        size_t cap = t->cols_cap ? t->cols_cap * 2 : 8;
        column *cols = realloc(t->cols, cap * sizeof *cols);
        if (!cols) return EF_ENOMEM;
        t->cols = cols;
        t->cols_cap = cap;
    }
    char *name = malloc(len + 1);
    if (!name) return EF_ENOMEM;
    memcpy(name, key, len);
    name[len] = '\0';
    column *c = &t->cols[t->ncols];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->name_len = len;
    size_t i = hash_name(key, len) & (t->nslots - 1);
    while (t->slots[i])
        i = (i + 1) & (t->nslots - 1);
    t->slots[i] = ++t->ncols;
    *out = t->ncols - 1;
    return EF_OK;
}

int ef_csv_table_add(ef_csv_table *t, json_t *obj)
{
    if (!t || !json_is_object(obj)) return EF_EINVAL;
    if (t->nrows == t->rows_cap) {
        size_t cap = t->rows_cap ? t->rows_cap * 2 : 64;
        json_t **rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows) return EF_ENOMEM;
        t->rows = rows;
        t->rows_cap = cap;
    }
    /* Columns are registered first so that a failure leaves the row out entirely; a column
     * added for a row that then fails to register is harmless (it renders as all-empty). */
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(obj, key, klen, v)
    {
        size_t ci;
        if (column_for(t, key, klen, &ci) != EF_OK) return EF_ENOMEM;
        column *c = &t->cols[ci];
        switch (json_typeof(v)) {
        case JSON_NULL:
            continue;
        case JSON_INTEGER:
            c->has_int = 1;
            break;
        case JSON_REAL:
            c->has_real = 1;
            break;
        default:
            c->has_other = 1;
            break;
        }
        c->present++;
    }
    t->rows[t->nrows++] = json_incref(obj);
    return EF_OK;
}

int ef_csv_table_add_text(ef_csv_table *t, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    if (!obj) return json_error_code(&jerr) == json_error_out_of_memory ? EF_ENOMEM : EF_EINVAL;
    int rc = ef_csv_table_add(t, obj);
    json_decref(obj);
    return rc;
}

/* ---- Python repr of nested values ------------------------------------------------------- */

/* Approximation of "not str.isprintable()" for a code point (see the file comment). */
static int py_unprintable(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) return 1;
    if (cp < 0x300) return 0;
    if ((cp >= 0x600 && cp <= 0x605) || cp == 0x61c || cp == 0x6dd || cp == 0x70f || cp == 0x8e2 ||
        cp == 0x1680 || cp == 0x180e || (cp >= 0x2000 && cp <= 0x200f) ||
        (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x2064) ||
        (cp >= 0x2066 && cp <= 0x206f) || cp == 0x3000 || (cp >= 0xd800 && cp <= 0xf8ff) ||
        cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) || cp == 0xfffe || cp == 0xffff ||
        cp == 0x110bd || cp == 0x110cd || (cp >= 0x13430 && cp <= 0x1343f) ||
        (cp >= 0x1bca0 && cp <= 0x1bca3) || (cp >= 0x1d173 && cp <= 0x1d17a) || cp == 0xe0001 ||
        (cp >= 0xe0020 && cp <= 0xe007f) || cp >= 0xf0000)
        return 1;
    return 0;
}

/* Decodes one UTF-8 sequence (jansson has validated it); returns its length. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80 || len < 2) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if ((s[0] & 0xf0) == 0xe0 && len >= 3) {
        *cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        return 3;
    }
    if (len >= 4) {
        *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
              ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        return 4;
    }
    *cp = s[0];
    return 1;
}

static int py_repr_str(ef_buf *b, const char *s, size_t len)
{
    int has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (ef_buf_appendc(b, q) != EF_OK) return EF_ENOMEM;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        int rc;
        if (cp == (uint32_t)q || cp == '\\')
            rc = ef_buf_appendf(b, "\\%c", (char)cp);
        else if (cp == '\t')
            rc = ef_buf_appends(b, "\\t");
        else if (cp == '\n')
            rc = ef_buf_appends(b, "\\n");
        else if (cp == '\r')
            rc = ef_buf_appends(b, "\\r");
        else if (!py_unprintable(cp))
            rc = ef_buf_append(b, s + i, n);
        else if (cp < 0x100)
            rc = ef_buf_appendf(b, "\\x%02x", (unsigned)cp);
        else if (cp < 0x10000)
            rc = ef_buf_appendf(b, "\\u%04x", (unsigned)cp);
        else
            rc = ef_buf_appendf(b, "\\U%08x", (unsigned)cp);
        if (rc != EF_OK) return EF_ENOMEM;
        i += n;
    }
    return ef_buf_appendc(b, q);
}

/* str(value) in Python for a JSON value parsed by json.loads. */
static int py_str(ef_buf *b, const json_t *v, int nested, int depth)
{
    char num[64];
    if (depth > 512) return ef_buf_appends(b, "...");
    switch (json_typeof(v)) {
    case JSON_NULL:
        return ef_buf_appends(b, "None");
    case JSON_TRUE:
        return ef_buf_appends(b, "True");
    case JSON_FALSE:
        return ef_buf_appends(b, "False");
    case JSON_INTEGER:
        return ef_buf_appendf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        ef_json_format_double(json_real_value(v), num, sizeof num);
        return ef_buf_appends(b, num);
    case JSON_STRING:
        if (nested) return py_repr_str(b, json_string_value(v), json_string_length(v));
        return ef_buf_append(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        if (ef_buf_appendc(b, '[') != EF_OK) return EF_ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i && ef_buf_appends(b, ", ") != EF_OK) return EF_ENOMEM;
            if (py_str(b, json_array_get(v, i), 1, depth + 1) != EF_OK) return EF_ENOMEM;
        }
        return ef_buf_appendc(b, ']');
    }
    case JSON_OBJECT: {
        if (ef_buf_appendc(b, '{') != EF_OK) return EF_ENOMEM;
        const char *key;
        size_t klen;
        json_t *item;
        int first = 1;
        json_object_keylen_foreach((json_t *)v, key, klen, item)
        {
            if (!first && ef_buf_appends(b, ", ") != EF_OK) return EF_ENOMEM;
            first = 0;
            if (py_repr_str(b, key, klen) != EF_OK || ef_buf_appends(b, ": ") != EF_OK ||
                py_str(b, item, 1, depth + 1) != EF_OK)
                return EF_ENOMEM;
        }
        return ef_buf_appendc(b, '}');
    }
    }
    return EF_OK;
}

/* ---- rendering -------------------------------------------------------------------------- */

static int kind_of(const column *c, size_t nrows)
{
    if (c->has_other) return KIND_OBJECT;
    if (c->has_real || c->present < nrows) return KIND_FLOAT;
    return KIND_INT;
}

static int render_cell(ef_buf *out, ef_buf *tmp, int kind, const json_t *v)
{
    char num[64];
    if (!v || json_is_null(v)) return EF_OK;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        if (kind == KIND_FLOAT) {
            ef_json_format_double((double)json_integer_value(v), num, sizeof num);
            return ef_buf_appends(out, num);
        }
        return ef_buf_appendf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        ef_json_format_double(json_real_value(v), num, sizeof num);
        return ef_buf_appends(out, num);
    case JSON_TRUE:
        return ef_buf_appends(out, "True");
    case JSON_FALSE:
        return ef_buf_appends(out, "False");
    case JSON_STRING:
        return ef_buf_append_csv_field(out, json_string_value(v), json_string_length(v));
    default:
        ef_buf_clear(tmp);
        if (py_str(tmp, v, 0, 0) != EF_OK) return EF_ENOMEM;
        return ef_buf_append_csv_field(out, tmp->data, tmp->len);
    }
}

int ef_csv_table_render(const ef_csv_table *t, ef_buf *out)
{
    int rc = EF_ENOMEM;
    int *kinds = NULL;
    ef_buf tmp;
    ef_buf_init(&tmp);
    if (ef_buf_appends(out, "idx") != EF_OK) goto out;
    if (t->ncols) {
        kinds = malloc(t->ncols * sizeof *kinds);
        if (!kinds) goto out;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        kinds[c] = kind_of(&t->cols[c], t->nrows);
        if (ef_buf_appendc(out, ',') != EF_OK ||
            ef_buf_append_csv_field(out, t->cols[c].name, t->cols[c].name_len) != EF_OK)
            goto out;
    }
    if (ef_buf_appendc(out, '\n') != EF_OK) goto out;
    for (size_t r = 0; r < t->nrows; r++) {
        if (ef_buf_appendf(out, "%zu", r) != EF_OK) goto out;
        for (size_t c = 0; c < t->ncols; c++) {
            const json_t *v = json_object_getn(t->rows[r], t->cols[c].name, t->cols[c].name_len);
            if (ef_buf_appendc(out, ',') != EF_OK || render_cell(out, &tmp, kinds[c], v) != EF_OK)
                goto out;
        }
        if (ef_buf_appendc(out, '\n') != EF_OK) goto out;
    }
    rc = EF_OK;
out:
    ef_buf_release(&tmp);
    free(kinds);
    return rc;
}
