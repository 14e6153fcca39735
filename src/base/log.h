/* log.h - levelled logging to stderr (or a file), safe from several threads.
 *
 * Line format: "2026-11-22T12:00:00.123Z INFO  ingest: message". The level is process-wide,
 * set from --log-level / EDGEFLOW_LOG_LEVEL. Lines are written with one write(2) so lines from
 * different threads never interleave.
 */
#ifndef EF_BASE_LOG_H
#define EF_BASE_LOG_H

#include <stdarg.h>

typedef enum { EF_LOG_ERROR = 0, EF_LOG_WARN, EF_LOG_INFO, EF_LOG_DEBUG } ef_log_level;

/* Parses "error|warn|info|debug" (case-insensitive). Returns 0, or EF_EINVAL. */
int ef_log_parse_level(const char *s, ef_log_level *out);
void ef_log_set_level(ef_log_level level);
ef_log_level ef_log_get_level(void);
/* Tag printed after the level, e.g. the role name; the string must outlive the logger. */
void ef_log_set_tag(const char *tag);
/* Redirects log output to fd (default 2). */
void ef_log_set_fd(int fd);
/* Also copies every line to fd (-1, the default: no copy); e.g. a supervisor's own log file.
 * The caller owns fd and must reset the copy to -1 before closing it. */
void ef_log_set_copy_fd(int fd);

void ef_log(ef_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ef_logv(ef_log_level level, const char *fmt, va_list ap);

#define EF_ERROR(...) ef_log(EF_LOG_ERROR, __VA_ARGS__)
#define EF_WARN(...) ef_log(EF_LOG_WARN, __VA_ARGS__)
#define EF_INFO(...) ef_log(EF_LOG_INFO, __VA_ARGS__)
#define EF_DEBUG(...)                                                                              \
    do {                                                                                           \
        if (ef_log_get_level() >= EF_LOG_DEBUG) ef_log(EF_LOG_DEBUG, __VA_ARGS__);                 \
    } while (0)

#endif
