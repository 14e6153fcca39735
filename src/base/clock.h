/* clock.h - wall-clock and monotonic time in milliseconds, sleeping, and duration parsing. */
#ifndef EF_BASE_CLOCK_H
#define EF_BASE_CLOCK_H

#include <stdint.h>

int64_t ef_now_ms(void);  /* epoch milliseconds (CLOCK_REALTIME) */
int64_t ef_mono_ms(void); /* monotonic milliseconds, for deadlines and intervals */
int64_t ef_mono_us(void);
void ef_sleep_ms(int64_t ms);

/* Parses a duration: "250ms", "15s", "5m", "1h", "2d", or a bare number of seconds ("15",
 * "0.5"). Returns 0 and the value in milliseconds, or EF_EINVAL. */
int ef_parse_duration_ms(const char *s, int64_t *out_ms);

/* Parses a size: "1000", "64k", "64KiB", "10MB", "1G"; k/M/G are powers of 1024. */
int ef_parse_size(const char *s, int64_t *out);

/* Parses a time for queries: epoch ms ("1700000000000"), RFC 3339 / ISO 8601 UTC
 * ("2026-11-22T12:00:00Z", "2026-11-22T12:00:00.5+01:00", "2026-11-22"), or Elasticsearch-style
 * date math relative to now_ms: "now", "now-1h", "now-15m/m", "now+1d/d" (units y M w d h H m s,
 * "/unit" rounds down). Returns 0 or EF_EINVAL. */
int ef_parse_time_ms(const char *s, int64_t now_ms, int64_t *out_ms);

#endif
