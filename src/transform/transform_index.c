/* transform_index.c - index names from a strftime-like pattern ("sensor-%Y-%m") and epoch ms, UTC.
 *
 * Conversions: %Y year, %m month 01-12, %d day 01-31, %H hour 00-23, %j day of year 001-366,
 * %G ISO 8601 week-based year, %V ISO week 01-53, %% a '%'. Anything else is an error, so a typo
 * fails when the pipeline is loaded instead of creating odd indices.
 *
 * Hand-written instead of gmtime_r + strftime: the ingest path names an index for every reading,
 * glibc's gmtime_r takes a process-wide lock and strftime consults the locale; the civil-date
 * arithmetic below (Howard Hinnant's days_from_civil / civil_from_days) is lock-free and exact for
 * the whole int64 millisecond range.
 *
 * The result must be a valid Elasticsearch index name: 1-255 bytes, lowercase, none of
 * \ / * ? " < > | space , # : or control characters, not starting with - _ +, not "." or "..".
 */
#include "transform/transform.h"
#include "transform/transform_int.h"
#include "base/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define INDEX_NAME_MAX 255

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* 52 or 53 ISO weeks: p is the weekday (0 = Sunday) of Dec 31 of y, q that of Dec 31 of y - 1;
 * a year has 53 weeks when it ends on a Thursday or the year before ends on a Wednesday. */
static unsigned iso_weeks_in(int64_t y)
{
    int64_t p = (y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400)) % 7;
    int64_t q = ((y - 1) + floor_div(y - 1, 4) - floor_div(y - 1, 100) + floor_div(y - 1, 400)) % 7;
    if (p < 0) p += 7;
    if (q < 0) q += 7;
    return (p == 4 || q == 3) ? 53 : 52;
}

typedef struct civil {
    int64_t year, iso_year;
    unsigned month, day, hour, yday, iso_week; /* yday 1-366 */
} civil;

static void civil_from_ms(int64_t ms, civil *c)
{
    int64_t days = floor_div(ms, 86400000), rem = ms % 86400000; /* no days * 86400000: overflows */
    if (rem < 0) rem += 86400000;
    c->hour = (unsigned)(rem / 3600000);
    civil_from_days(days, &c->year, &c->month, &c->day);
    c->yday = (unsigned)(days - days_from_civil(c->year, 1, 1)) + 1;
    int64_t wd = (days + 3) % 7; /* 1970-01-01 was a Thursday; 0 = Monday */
    if (wd < 0) wd += 7;
    int64_t week = ((int64_t)c->yday - (wd + 1) + 10) / 7;
    c->iso_year = c->year;
    if (week < 1) {
        c->iso_year = c->year - 1;
        week = iso_weeks_in(c->iso_year);
    } else if (week > iso_weeks_in(c->year)) {
        c->iso_year = c->year + 1;
        week = 1;
    }
    c->iso_week = (unsigned)week;
}

static int forbidden(unsigned char c)
{
    return c < 0x20 || c == 0x7F || strchr("\\/*?\"<>| ,#:", c) != NULL;
}

int transform__index_name(const char *pattern, int64_t epoch_ms, char *out, size_t outlen,
                          char *why, size_t whylen)
{
    civil c;
    char tmp[INDEX_NAME_MAX + 32];
    size_t w = 0;
    civil_from_ms(epoch_ms, &c);
    for (const char *p = pattern; *p; p++) {
        char piece[32];
        int n;
        if (*p != '%') {
            piece[0] = *p;
            n = 1;
        } else {
            switch (*++p) {
            case 'Y':
                n = snprintf(piece, sizeof piece, "%" PRId64, c.year);
                break;
            case 'm':
                n = snprintf(piece, sizeof piece, "%02u", c.month);
                break;
            case 'd':
                n = snprintf(piece, sizeof piece, "%02u", c.day);
                break;
            case 'H':
                n = snprintf(piece, sizeof piece, "%02u", c.hour);
                break;
            case 'j':
                n = snprintf(piece, sizeof piece, "%03u", c.yday);
                break;
            case 'G':
                n = snprintf(piece, sizeof piece, "%" PRId64, c.iso_year);
                break;
            case 'V':
                n = snprintf(piece, sizeof piece, "%02u", c.iso_week);
                break;
            case '%':
                piece[0] = '%';
                n = 1;
                break;
            case '\0':
                snprintf(why, whylen, "pattern ends with a lone '%%'");
                return EF_EINVAL;
            default:
                snprintf(why, whylen,
                         "unknown conversion '%%%c' (use %%Y %%m %%d %%H %%j %%G %%V %%%%)", *p);
                return EF_EINVAL;
            }
        }
        if (w + (size_t)n > INDEX_NAME_MAX) {
            snprintf(why, whylen, "name longer than %d bytes", INDEX_NAME_MAX);
            return EF_EINVAL;
        }
        memcpy(tmp + w, piece, (size_t)n);
        w += (size_t)n;
    }
    tmp[w] = '\0';
    if (w == 0) {
        snprintf(why, whylen, "empty name");
        return EF_EINVAL;
    }
    for (size_t i = 0; i < w; i++) {
        unsigned char ch = (unsigned char)tmp[i];
        if (forbidden(ch)) {
            if (ch >= 0x20 && ch != 0x7F)
                snprintf(why, whylen, "'%c' is not allowed in index names", ch);
            else
                snprintf(why, whylen, "control character 0x%02x in index name", ch);
            return EF_EINVAL;
        }
        if (ch >= 'A' && ch <= 'Z') {
            snprintf(why, whylen, "uppercase '%c' (index names must be lowercase)", ch);
            return EF_EINVAL;
        }
    }
    if (tmp[0] == '-' || tmp[0] == '_' || tmp[0] == '+') {
        snprintf(why, whylen, "index names cannot start with '%c'", tmp[0]);
        return EF_EINVAL;
    }
    if (strcmp(tmp, ".") == 0 || strcmp(tmp, "..") == 0) {
        snprintf(why, whylen, "'%s' is not a valid index name", tmp);
        return EF_EINVAL;
    }
    if (!transform__utf8_valid(tmp, w)) {
        snprintf(why, whylen, "index name is not valid UTF-8");
        return EF_EINVAL;
    }
    if (w >= outlen) {
        snprintf(why, whylen, "output buffer too small");
        return EF_EINVAL;
    }
    memcpy(out, tmp, w + 1);
    return EF_OK;
}

int ef_transform_index_name(const char *pattern, int64_t epoch_ms, char *out, size_t outlen)
{
    char why[128];
    if (!pattern || !out) return EF_EINVAL;
    return transform__index_name(pattern, epoch_ms, out, outlen, why, sizeof why);
}
