/* clock.c - time helpers; see clock.h. */
#include "base/clock.h"
#include "base/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ef_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ef_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ef_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ef_sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int ef_parse_duration_ms(const char *s, int64_t *out_ms)
{
    if (!s || !*s) return EF_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return EF_EINVAL;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0) mult = 1000;
    else if (strcmp(end, "ms") == 0) mult = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) mult = 60000;
    else if (strcmp(end, "h") == 0) mult = 3600000;
    else if (strcmp(end, "d") == 0) mult = 86400000;
    else return EF_EINVAL;
    double ms = v * mult;
    if (ms > 9.0e15) return EF_EINVAL;
    *out_ms = (int64_t)(ms + 0.5);
    return EF_OK;
}

int ef_parse_size(const char *s, int64_t *out)
{
    if (!s || !*s || *s == '-') return EF_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return EF_EINVAL;
    unsigned long long mult = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mult = 1ull << 10; break;
        case 'm': mult = 1ull << 20; break;
        case 'g': mult = 1ull << 30; break;
        default: return EF_EINVAL;
        }
        end++;
        if (strcmp(end, "") != 0 && strcmp(end, "b") != 0 && strcmp(end, "B") != 0 &&
            strcmp(end, "iB") != 0)
            return EF_EINVAL;
    }
    if (v > (unsigned long long)INT64_MAX / mult) return EF_EINVAL;
    *out = (int64_t)(v * mult);
    return EF_OK;
}

/* days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return EF_EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return EF_OK;
}

static int parse_iso(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (parse_digits(&p, 4, &y) || *p++ != '-' || parse_digits(&p, 2, &mo) || *p++ != '-' ||
        parse_digits(&p, 2, &d))
        return EF_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return EF_EINVAL;
    int64_t frac_ms = 0, offset_min = 0;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi)) return EF_EINVAL;
        if (*p == ':') {
            p++;
            if (parse_digits(&p, 2, &se)) return EF_EINVAL;
            if (*p == '.') {
                p++;
                int digits = 0;
                int64_t scale = 100;
                while (isdigit((unsigned char)*p)) {
                    if (digits < 3) frac_ms += (*p - '0') * scale;
                    scale /= 10;
                    digits++;
                    p++;
                }
                if (!digits) return EF_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || se > 60) return EF_EINVAL;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            int oh, om;
            p++;
            if (parse_digits(&p, 2, &oh)) return EF_EINVAL;
            if (*p == ':') p++;
            if (parse_digits(&p, 2, &om)) return EF_EINVAL;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p) return EF_EINVAL;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out = ((days * 86400 + h * 3600 + mi * 60 + se) - offset_min * 60) * 1000 + frac_ms;
    return EF_OK;
}

static int round_down(int64_t *t, char unit)
{
    time_t secs = (time_t)(*t >= 0 ? *t / 1000 : (*t - 999) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    switch (unit) {
    case 'y': tm.tm_mon = 0; /* fall through */
    case 'M': tm.tm_mday = 1; /* fall through */
    case 'd': tm.tm_hour = 0; /* fall through */
    case 'h':
    case 'H': tm.tm_min = 0; /* fall through */
    case 'm': tm.tm_sec = 0; /* fall through */
    case 's': break;
    case 'w': {
        int wday = (tm.tm_wday + 6) % 7; /* Monday = 0, like Elasticsearch */
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        int64_t days = days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                       (unsigned)tm.tm_mday) - wday;
        *t = days * 86400000;
        return EF_OK;
    }
    default: return EF_EINVAL;
    }
    int64_t days =
        days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
    *t = (days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) * 1000;
    return EF_OK;
}

static int add_months(int64_t *t, int64_t months)
{
    time_t secs = (time_t)(*t / 1000);
    int64_t ms = *t % 1000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    int64_t total = (int64_t)tm.tm_year * 12 + tm.tm_mon + months;
    int64_t y = total / 12 + 1900, m = total % 12;
    if (m < 0) {
        m += 12;
        y--;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int maxd = mdays[m] + (m == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    int d = tm.tm_mday > maxd ? maxd : tm.tm_mday;
    int64_t days = days_from_civil(y, (unsigned)m + 1, (unsigned)d);
    *t = (days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) * 1000 + ms;
    return EF_OK;
}

int ef_parse_time_ms(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s) return EF_EINVAL;
    if (strncmp(s, "now", 3) == 0) {
        int64_t t = now_ms;
        const char *p = s + 3;
        while (*p) {
            if (*p == '/') {
                if (!p[1] || p[2]) return EF_EINVAL;
                if (round_down(&t, p[1])) return EF_EINVAL;
                p += 2;
                continue;
            }
            if (*p != '+' && *p != '-') return EF_EINVAL;
            int sign = *p == '-' ? -1 : 1;
            p++;
            if (!isdigit((unsigned char)*p)) return EF_EINVAL;
            int64_t n = 0;
            while (isdigit((unsigned char)*p)) {
                n = n * 10 + (*p - '0');
                if (n > 100000000) return EF_EINVAL;
                p++;
            }
            int64_t unit;
            switch (*p) {
            case 'y': add_months(&t, sign * n * 12); p++; continue;
            case 'M': add_months(&t, sign * n); p++; continue;
            case 'w': unit = 7 * 86400000LL; break;
            case 'd': unit = 86400000LL; break;
            case 'h':
            case 'H': unit = 3600000LL; break;
            case 'm': unit = 60000LL; break;
            case 's': unit = 1000LL; break;
            default: return EF_EINVAL;
            }
            if (n > INT64_MAX / unit / 2) return EF_EINVAL;
            t += sign * n * unit;
            p++;
        }
        *out_ms = t;
        return EF_OK;
    }
    const char *p = s;
    if (*p == '-') p++;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '\0' && p != s && strlen(s) != 8 && !(strlen(s) == 4)) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end) return EF_EINVAL;
        *out_ms = v;
        return EF_OK;
    }
    return parse_iso(s, out_ms);
}
