/* log.c - levelled logger; see log.h. */
#include "base/log.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile ef_log_level g_level = EF_LOG_INFO;
static const char *volatile g_tag = "edgeflow";
static volatile int g_fd = 2;
static volatile int g_copy_fd = -1;

static const char *const level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

int ef_log_parse_level(const char *s, ef_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (ef_log_level)i;
            return EF_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = EF_LOG_WARN;
        return EF_OK;
    }
    return EF_EINVAL;
}

void ef_log_set_level(ef_log_level level)
{
    g_level = level;
}

ef_log_level ef_log_get_level(void)
{
    return g_level;
}

void ef_log_set_tag(const char *tag)
{
    g_tag = tag;
}

void ef_log_set_fd(int fd)
{
    g_fd = fd;
}

void ef_log_set_copy_fd(int fd)
{
    g_copy_fd = fd;
}

void ef_logv(ef_log_level level, const char *fmt, va_list ap)
{
    if (level > g_level) return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level], g_tag);
    if (n < 0) return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0) return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(g_fd, line, len);
    int copy = g_copy_fd;
    if (copy >= 0) w = write(copy, line, len);
    (void)w;
}

void ef_log(ef_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ef_logv(level, fmt, ap);
    va_end(ap);
}
