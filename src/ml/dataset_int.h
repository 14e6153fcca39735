/* dataset_int.h - internals shared by dataset.c (tokenizer, column names, feature selection, the
 * loader) and dataset_num.c (numbers as pandas parses them, per-column typing). Not a public
 * header: nothing outside src/ml/dataset*.c includes it; see dataset.h for the API.
 */
#ifndef EF_ML_DATASET_INT_H
#define EF_ML_DATASET_INT_H

#include <stddef.h>

/* What pandas would make of one column so far: pandas tries int64 over the whole column, then
 * uint64, then float64, then bool, else text. Zero-initialise it with all_bool = 1, then feed it
 * every token of the column in row order (dataset__parse_cell). */
typedef struct dataset__col_state {
    unsigned char i64_err, u64_err; /* dataset_num.c's INT_*: the first failure, in row order */
    unsigned char seen_sint, seen_null, float_bad, all_bool;
    size_t bad_line, big_line; /* the first token that is not a number / too big an int */
    char bad[44], big[44];     /* those tokens for messages; big[0] is a marker, text from big+1 */
} dataset__col_state;

/* A column's final type (dataset__col_type). */
enum { DATASET__COL_INT, DATASET__COL_FLOAT, DATASET__COL_BOOL, DATASET__COL_TEXT };

/* 1 for an ASCII digit, whatever the locale. */
static inline int dataset__is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* Parses one token (s, n bytes, not NUL-terminated) of a column, read from file line `line`, into
 * *out as pandas' float parser reads it (NaN for NA strings, +-Inf, 1.0 / 0.0 for bool words),
 * updating the column's state c. Returns 1 when the token can only be text (no number, NA or
 * bool; also a bool word once the column has held anything else), 0 otherwise. *fix is set, with
 * *fixv, when the token is an integer whose exact value differs from *out: it must replace *out
 * should the column end up DATASET__COL_INT. No allocation, no errors. */
int dataset__parse_cell(dataset__col_state *c, const char *s, size_t n, size_t line, double *out,
                        int *fix, double *fixv);

/* The type pandas gives the column once all its tokens went through dataset__parse_cell:
 * DATASET__COL_*. */
int dataset__col_type(const dataset__col_state *c);

/* 1 when the token s[0..n) is one of pandas' default NA strings ("", "NA", "NaN", ...), else 0. */
int dataset__is_na(const char *s, size_t n);

/* 1 / 0 for pandas' bool spellings (True/TRUE/true, False/FALSE/false), -1 otherwise. */
int dataset__bool_word(const char *s, size_t n);

#endif
