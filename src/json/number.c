/* number.c - doubles as the shortest text that reads back exactly (Python's repr(float)).
 *
 * Hand-written because neither libc nor jansson offers it: printf's %.17g always round-trips but
 * prints noise digits ("0.94999999999999996"), and %g with fewer digits does not round-trip.
 * The output equals CPython's float_repr (David Gay's dtoa, mode 0), which is what the pandas
 * exports are compared with, and is valid JSON for every finite value.
 *
 * Two ways to the digits, both exact (glibc's printf and strtod round correctly):
 *   1. shortcut, for values with at most 15 significant digits and at most 22 decimals (nearly
 *      every sensor reading): for k = 0, 1, 2, ... take m = round(v * 10^k); if m < 10^15 and
 *      m / 10^k == v, the decimal m * 10^-k reads back as v. m and 10^k are exact doubles, so
 *      the division is correctly rounded exactly like strtod("m e-k"). Any decimal of at most
 *      15 digits that reads back as v is the only one of its length (DBL_DIG), so the first k
 *      that works gives the shortest string. Needs IEEE double arithmetic without excess
 *      precision (FLT_EVAL_METHOD 0); compiled out elsewhere.
 *   2. general: the correctly rounded 15-digit string ("%.14e"), trimmed, is the shortest when
 *      it reads back (again DBL_DIG); else the rounded 16-digit string, or near a power of two
 *      (lopsided rounding interval) one of its neighbours in the last place; else 17 digits,
 *      which always read back. Subnormals carry fewer digits and are searched upwards.
 */
#include "json/json.h"
#include "json/json_int.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define NUMBER_SHORTCUT 1
#else
#define NUMBER_SHORTCUT 0
#endif

/* Rounds v (> 0, finite) to p significant digits: digits[] (no dot), exponent *e such that
 * v ~= d.ddd * 10^e, and *back = the double that decimal reads as. Returns the digit count
 * after trimming trailing zeros. */
static int sci_digits(double v, int p, char *digits, int *e, double *back)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    *back = strtod(tmp, NULL);
    int n = 0;
    const char *s = tmp;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[n++] = *s;
    *e = *s == 'e' ? atoi(s + 1) : 0;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

static double digits_value(const char *digits, int n, int e)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%c.%.*se%d", digits[0], n - 1, digits + 1, e);
    return strtod(tmp, NULL);
}

/* Moves the n-digit string (d.ddd * 10^e) one unit in the last place up (delta +1) or down
 * (-1), carrying across decades; returns the digit count after trimming trailing zeros, 0 when
 * there is nothing below. */
static int bump_digits(char *digits, int n, int delta, int *e)
{
    int i = n - 1;
    if (delta > 0) {
        while (i >= 0 && digits[i] == '9')
            digits[i--] = '0';
        if (i < 0) {
            digits[0] = '1'; /* 9.99 -> 1.00 one decade up */
            (*e)++;
        } else {
            digits[i]++;
        }
    } else {
        while (i >= 0 && digits[i] == '0')
            digits[i--] = '9';
        if (i < 0) return 0;
        digits[i]--;
        if (digits[0] == '0') { /* 1.00 -> 9.99 one decade down */
            memset(digits, '9', (size_t)n);
            (*e)--;
        }
    }
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

#if NUMBER_SHORTCUT
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Shortcut 1 of the file comment; 0 when it does not apply. */
static int scaled_digits(double v, char *digits, int *e)
{
    if (v >= 1e15 || v < 1e-7) return 0;
    for (int k = 0; k < (int)(sizeof pow10_exact / sizeof pow10_exact[0]); k++) {
        double m = nearbyint(v * pow10_exact[k]);
        if (m >= 1e15) return 0;
        if (m == 0 || m / pow10_exact[k] != v) continue;
        char tmp[24] = {0}; /* gcc -O2 cannot see that m != 0 fills it */
        int n = 0;
        uint64_t u = (uint64_t)m;
        while (u) {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        }
        *e = n - 1 - k;
        int t = 0;
        while (tmp[t] == '0') /* trailing zeros of m: tmp holds the digits reversed */
            t++;
        int len = n - t;
        for (int i = 0; i < len; i++)
            digits[i] = tmp[n - 1 - i];
        digits[len] = '\0';
        return len;
    }
    return 0;
}
#endif

int json__shortest_digits(double v, int fast, char *digits, int *e)
{
    int n;
    double back;
#if NUMBER_SHORTCUT
    n = fast ? scaled_digits(v, digits, e) : 0;
    if (n > 0) return n;
#else
    (void)fast;
#endif
    if (v < DBL_MIN) {
        /* Subnormals carry fewer than DBL_DIG digits: search upwards. Their spacing is uniform,
         * so the correctly rounded candidate is the right one at each length. */
        for (int p = 1; p < 17; p++) {
            n = sci_digits(v, p, digits, e, &back);
            if (back == v) return n;
        }
        return sci_digits(v, 17, digits, e, &back);
    }
    /* Normal doubles: any decimal of <= DBL_DIG (15) digits survives decimal -> double ->
     * decimal, so when a string of <= 15 digits round-trips, %.14e trimmed is that string. */
    n = sci_digits(v, 15, digits, e, &back);
    if (back == v) return n;
    n = sci_digits(v, 16, digits, e, &back);
    if (back == v) return n;
    /* The correctly rounded 16-digit string misses (near a power of two the rounding interval is
     * lopsided); a neighbour in the last place may still round-trip. Both cannot: the middle one
     * would then round-trip too. */
    char alt[40], padded[40];
    int ae;
    memset(padded, '0', 16);
    memcpy(padded, digits, (size_t)n);
    padded[16] = '\0';
    for (int delta = 1; delta >= -1; delta -= 2) {
        memcpy(alt, padded, 17);
        ae = *e;
        int an = bump_digits(alt, 16, delta, &ae);
        if (an > 0 && digits_value(alt, an, ae) == v) {
            memcpy(digits, alt, (size_t)an + 1);
            *e = ae;
            return an;
        }
    }
    return sci_digits(v, 17, digits, e, &back);
}

int ef_json_format_double(double v, char *out, size_t outlen)
{
    char buf[64];
    size_t k = 0;
    if (isnan(v)) {
        memcpy(buf, "nan", 4);
        k = 3;
        goto out;
    }
    if (signbit(v)) buf[k++] = '-';
    v = fabs(v);
    if (isinf(v)) {
        memcpy(buf + k, "inf", 4);
        k += 3;
        goto out;
    }
    if (v == 0) {
        memcpy(buf + k, "0.0", 4);
        k += 3;
        goto out;
    }
    char digits[40];
    int e;
    int n = json__shortest_digits(v, 1, digits, &e);
    if (e < -4 || e >= 16) {
        buf[k++] = digits[0];
        if (n > 1) {
            buf[k++] = '.';
            memcpy(buf + k, digits + 1, (size_t)n - 1);
            k += (size_t)n - 1;
        }
        int ae = abs(e);
        buf[k++] = 'e';
        buf[k++] = e < 0 ? '-' : '+';
        if (ae >= 100) buf[k++] = (char)('0' + ae / 100);
        buf[k++] = (char)('0' + ae / 10 % 10);
        buf[k++] = (char)('0' + ae % 10);
    } else if (e >= 0) {
        for (int i = 0; i <= e; i++)
            buf[k++] = i < n ? digits[i] : '0';
        buf[k++] = '.';
        if (n > e + 1) {
            memcpy(buf + k, digits + e + 1, (size_t)(n - e - 1));
            k += (size_t)(n - e - 1);
        } else {
            buf[k++] = '0';
        }
    } else {
        buf[k++] = '0';
        buf[k++] = '.';
        for (int i = 0; i < -e - 1; i++)
            buf[k++] = '0';
        memcpy(buf + k, digits, (size_t)n);
        k += (size_t)n;
    }
    buf[k] = '\0';
out:
    if (k + 1 > outlen) return EF_ETOOBIG;
    memcpy(out, buf, k + 1);
    return (int)k;
}
