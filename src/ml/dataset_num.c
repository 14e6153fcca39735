/* dataset_num.c - the dataset loader's numbers: one CSV token -> a double exactly as pandas 1.5's
 * read_csv makes it, and the per-column state that replays pandas' column typing (int64, then
 * uint64, then float64, then bool, else text; see dataset.h "Numbers"). dataset.c owns the
 * tokenizer, the names and the loader, and calls dataset__parse_cell for each selected cell.
 *
 * Hand-written rather than strtod because strtod is not bit-compatible with pandas: pandas'
 * default float parser (precise_xstrtod, float_precision=None) keeps at most 17 significant
 * digits (leading zeros count), accumulates them in a double and scales by a correctly rounded
 * power of ten, so its result can differ from the correctly rounded one in the last bit:
 * "0.73662585178128657" is 0.7366258517812865 in pandas but 0.7366258517812866 from strtod.
 * Matching it keeps a model trained here on the numbers a notebook sees. pandas' integer rules
 * (str_to_int64 / str_to_uint64), NA strings and bool spellings are re-expressed here too.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ml/dataset_int.h"

/* ---- tokens, as pandas 1.5 parses them -------------------------------------------------- */

/* Correctly rounded powers of ten (the compiler rounds each literal), pandas' scaling table. */
static const double pow10_tab[309] = {
    1e0,   1e1,   1e2,   1e3,   1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,
    1e13,  1e14,  1e15,  1e16,  1e17,  1e18,  1e19,  1e20,  1e21,  1e22,  1e23,  1e24,  1e25,
    1e26,  1e27,  1e28,  1e29,  1e30,  1e31,  1e32,  1e33,  1e34,  1e35,  1e36,  1e37,  1e38,
    1e39,  1e40,  1e41,  1e42,  1e43,  1e44,  1e45,  1e46,  1e47,  1e48,  1e49,  1e50,  1e51,
    1e52,  1e53,  1e54,  1e55,  1e56,  1e57,  1e58,  1e59,  1e60,  1e61,  1e62,  1e63,  1e64,
    1e65,  1e66,  1e67,  1e68,  1e69,  1e70,  1e71,  1e72,  1e73,  1e74,  1e75,  1e76,  1e77,
    1e78,  1e79,  1e80,  1e81,  1e82,  1e83,  1e84,  1e85,  1e86,  1e87,  1e88,  1e89,  1e90,
    1e91,  1e92,  1e93,  1e94,  1e95,  1e96,  1e97,  1e98,  1e99,  1e100, 1e101, 1e102, 1e103,
    1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110, 1e111, 1e112, 1e113, 1e114, 1e115, 1e116,
    1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127, 1e128, 1e129,
    1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136, 1e137, 1e138, 1e139, 1e140, 1e141, 1e142,
    1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149, 1e150, 1e151, 1e152, 1e153, 1e154, 1e155,
    1e156, 1e157, 1e158, 1e159, 1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167, 1e168,
    1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175, 1e176, 1e177, 1e178, 1e179, 1e180, 1e181,
    1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188, 1e189, 1e190, 1e191, 1e192, 1e193, 1e194,
    1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207,
    1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214, 1e215, 1e216, 1e217, 1e218, 1e219, 1e220,
    1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227, 1e228, 1e229, 1e230, 1e231, 1e232, 1e233,
    1e234, 1e235, 1e236, 1e237, 1e238, 1e239, 1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246,
    1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253, 1e254, 1e255, 1e256, 1e257, 1e258, 1e259,
    1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266, 1e267, 1e268, 1e269, 1e270, 1e271, 1e272,
    1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279, 1e280, 1e281, 1e282, 1e283, 1e284, 1e285,
    1e286, 1e287, 1e288, 1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298,
    1e299, 1e300, 1e301, 1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308};

static int is_space(char c)
{
    return c == ' ' || (unsigned char)(c - '\t') < 5; /* pandas' isspace_ascii: \t \n \v \f \r */
}

/* pandas' precise_xstrtod (float_precision=None): up to 17 digits accumulated in a double
 * (leading zeros count), the rest only move the exponent; the exponent's digits wrap like a C
 * int. Returns 0 and *out when the whole token [s, e) is a number (blanks around allowed). */
static int pd_xstrtod(const char *s, const char *e, double *out)
{
    const char *p = s;
    while (p < e && is_space(*p))
        p++;
    int neg = 0;
    if (p < e && (*p == '-' || *p == '+')) neg = *p++ == '-';
    double num = 0.0;
    int ndig = 0, ndec = 0;
    long exp10 = 0;
    for (; p < e && dataset__is_digit(*p); p++) {
        if (ndig < 17) {
            num = num * 10. + (*p - '0');
            ndig++;
        } else {
            exp10++;
        }
    }
    if (p < e && *p == '.') {
        for (p++; ndig < 17 && p < e && dataset__is_digit(*p); p++, ndig++, ndec++)
            num = num * 10. + (*p - '0');
        while (p < e && dataset__is_digit(*p))
            p++;
        exp10 -= ndec;
    }
    if (ndig == 0) return -1;
    if (neg) num = -num;
    if (p < e && (*p == 'e' || *p == 'E')) {
        int eneg = 0, nd = 0;
        uint32_t n = 0;
        p++;
        if (p < e && (*p == '-' || *p == '+')) eneg = *p++ == '-';
        for (; nd < 17 && p < e && dataset__is_digit(*p); p++, nd++)
            n = n * 10u + (uint32_t)(*p - '0');
        int32_t sn = (int32_t)n;
        exp10 += eneg ? -(long)sn : (long)sn;
        if (nd == 0) p--; /* "1e" / "1e+": the 'e' (or sign) is left over, so not a number */
    }
    if (exp10 > 308) return -1;
    if (exp10 > 0) {
        num *= pow10_tab[exp10];
    } else if (exp10 < -308) {
        if (exp10 < -616) {
            num = 0.;
        } else {
            num /= pow10_tab[-308 - exp10];
            num /= pow10_tab[308];
        }
    } else {
        num /= pow10_tab[-exp10];
    }
    if (isinf(num)) return -1;
    while (p < e && is_space(*p))
        p++;
    if (p != e) return -1;
    *out = num;
    return 0;
}

enum { INT_OK = 0, INT_OVERFLOW = 1, INT_INVALID = 2, INT_NEGATIVE = 3 };

/* pandas' str_to_int64 and str_to_uint64 on one token: *i64 / *u64 get INT_* (u64 gives
 * INT_NEGATIVE for any token starting with '-', pandas' "seen_sint"); *val the exact value as a
 * double when either accepts it. Overflow is reported before trailing garbage, as pandas does. */
static void pd_int(const char *s, const char *e, int *i64, int *u64, double *val)
{
    const char *p = s;
    while (p < e && is_space(*p))
        p++;
    int neg = p < e && *p == '-';
    if (p < e && (*p == '-' || *p == '+')) p++;
    *u64 = neg ? INT_NEGATIVE : INT_OK;
    if (p == e || !dataset__is_digit(*p)) {
        *i64 = INT_INVALID;
        if (!neg) *u64 = INT_INVALID;
        return;
    }
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int over64 = 0, overu = 0;
    for (; p < e && dataset__is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            overu = over64 = 1;
            break;
        }
        v = v * 10 + d;
        if (v > lim) over64 = 1; /* keeps scanning for the uint64 verdict */
    }
    while (!overu && p < e && is_space(*p))
        p++;
    int rest = p != e;
    *i64 = over64 ? INT_OVERFLOW : rest ? INT_INVALID : INT_OK;
    if (!neg) *u64 = overu ? INT_OVERFLOW : rest ? INT_INVALID : INT_OK;
    if (*i64 == INT_OK) /* "-0" is the integer 0, so +0.0 */
        *val = neg ? (v > (uint64_t)INT64_MAX ? (double)INT64_MIN : (double)-(int64_t)v)
                   : (double)(int64_t)v;
    else if (*u64 == INT_OK)
        *val = (double)v;
}

static int token_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && !memcmp(s, word, n);
}

static int token_is_nocase(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && !strncasecmp(s, word, n);
}

static const char *const na_words[] = {"",     "#N/A", "#N/A N/A", "#NA",     "-1.#IND", "-1.#QNAN",
                                       "-NaN", "-nan", "1.#IND",   "1.#QNAN", "<NA>",    "N/A",
                                       "NA",   "NULL", "NaN",      "n/a",     "nan",     "null"};

/* pandas' default NA strings (read_csv's na_values); see dataset_int.h. */
int dataset__is_na(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof na_words / sizeof na_words[0]; i++)
        if (token_is(s, n, na_words[i])) return 1;
    return 0;
}

/* pandas' default true / false spellings; see dataset_int.h. */
int dataset__bool_word(const char *s, size_t n)
{
    if (token_is(s, n, "True") || token_is(s, n, "TRUE") || token_is(s, n, "true")) return 1;
    if (token_is(s, n, "False") || token_is(s, n, "FALSE") || token_is(s, n, "false")) return 0;
    return -1;
}

/* ---- per-column typing ----------------------------------------------------------------- */

/* int64 when no token failed it. When int64's first failure is an overflow: uint64 if every
 * token fits it (text when negatives or NAs are mixed in), text when one is past uint64 too.
 * Otherwise float64, then bool, else text. See dataset_int.h. */
int dataset__col_type(const dataset__col_state *c)
{
    if (!c->i64_err) return DATASET__COL_INT;
    if (c->i64_err == INT_OVERFLOW) {
        if (c->u64_err == INT_OVERFLOW) return DATASET__COL_TEXT;
        if (!c->u64_err) return c->seen_sint || c->seen_null ? DATASET__COL_TEXT : DATASET__COL_INT;
    }
    if (c->float_bad) return c->all_bool ? DATASET__COL_BOOL : DATASET__COL_TEXT;
    return DATASET__COL_FLOAT;
}

/* Copies a token for a message: at most 40 bytes, control bytes as '?'. */
static void snippet(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (; k < n && k + 4 < cap && k < 40; k++)
        dst[k] = (unsigned char)s[k] < 0x20 ? '?' : s[k];
    if (k < n && k + 4 <= cap) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = 0;
}

static void col_mark_bad(dataset__col_state *c, size_t line, const char *s, size_t n)
{
    if (!c->bad_line) {
        c->bad_line = line;
        snippet(c->bad, sizeof c->bad, s, n);
    }
}

/* See dataset_int.h. */
int dataset__parse_cell(dataset__col_state *c, const char *s, size_t n, size_t line, double *out,
                        int *fix, double *fixv)
{
    const char *e = s + n;
    int i64, u64, b;
    double iv = 0, fv;
    *fix = 0;
    pd_int(s, e, &i64, &u64, &iv);
    int fok = !pd_xstrtod(s, e, &fv);
    if (!fok && i64 != INT_OK && u64 != INT_OK && dataset__is_na(s, n)) {
        c->seen_null = 1;
        c->all_bool = 0;
        *out = NAN;
        return 0;
    }
    if (!c->i64_err && i64 != INT_OK)
        c->i64_err = (unsigned char)(i64 == INT_OVERFLOW ? INT_OVERFLOW : INT_INVALID);
    if (i64 == INT_OVERFLOW && (!c->big_line || u64 == INT_OVERFLOW) && c->big[0] != '!') {
        c->big_line = line; /* '!' marks a token past uint64 too: the one to name */
        snippet(c->big + 1, sizeof c->big - 1, s, n);
        c->big[0] = u64 == INT_OVERFLOW ? '!' : ' ';
    }
    if (!c->u64_err) {
        if (u64 == INT_NEGATIVE)
            c->seen_sint = 1;
        else if (u64 != INT_OK)
            c->u64_err = (unsigned char)u64;
    }
    if (i64 == INT_OK || u64 == INT_OK) {
        if (!fok || memcmp(&iv, &fv, sizeof iv)) {
            *fix = 1;
            *fixv = iv;
        }
    }
    if (fok) {
        c->all_bool = 0;
        *out = fv;
        return 0;
    }
    b = dataset__bool_word(s, n);
    if (b < 0) c->all_bool = 0;
    if (token_is_nocase(s, n, "inf") || token_is_nocase(s, n, "+inf") ||
        token_is_nocase(s, n, "infinity") || token_is_nocase(s, n, "+infinity")) {
        *out = INFINITY;
        return 0;
    }
    if (token_is_nocase(s, n, "-inf") || token_is_nocase(s, n, "-infinity")) {
        *out = -INFINITY;
        return 0;
    }
    c->float_bad = 1;
    col_mark_bad(c, line, s, n);
    *out = b > 0 ? 1.0 : 0.0;
    return b < 0 || !c->all_bool;
}
