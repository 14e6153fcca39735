/* metrics.h - Prometheus text exposition (format 0.0.4): counters, gauges and histograms with
 * fixed label sets, updated lock-free from any thread and rendered by GET /metrics.
 *
 * A registry owns its metrics. Lookup by (name, labels) returns the same object each time, so a
 * caller may fetch it once and keep the pointer, or fetch per use (a mutex guards lookup).
 * labels is the inner text of the braces, e.g. "route=\"/_search\",method=\"POST\"", or NULL.
 */
#ifndef EF_METRICS_METRICS_H
#define EF_METRICS_METRICS_H

#include <stdint.h>

#include "base/buf.h"

typedef struct ef_metrics ef_metrics;
typedef struct ef_counter ef_counter;
typedef struct ef_gauge ef_gauge;
typedef struct ef_histogram ef_histogram;

ef_metrics *ef_metrics_new(void);
void ef_metrics_free(ef_metrics *m);

/* NULL only on OOM. help is used the first time a name is seen. */
ef_counter *ef_metrics_counter(ef_metrics *m, const char *name, const char *help,
                               const char *labels);
ef_gauge *ef_metrics_gauge(ef_metrics *m, const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds (seconds for latencies); NULL/0 = default latency buckets
 * 0.0005 .. 10 s. */
ef_histogram *ef_metrics_histogram(ef_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, int nbounds);

void ef_counter_add(ef_counter *c, uint64_t n);
uint64_t ef_counter_get(const ef_counter *c);
void ef_gauge_set(ef_gauge *g, double v);
void ef_gauge_add(ef_gauge *g, double v);
double ef_gauge_get(const ef_gauge *g);
void ef_histogram_observe(ef_histogram *h, double v);

/* Appends the whole registry in Prometheus text format. Returns 0 or EF_ENOMEM. */
int ef_metrics_render(ef_metrics *m, ef_buf *out);

/* Appends value escaped for use inside a label's double quotes (\\ \" \n), e.g. to build
 * labels from request data. Returns 0 or EF_ENOMEM. */
int ef_metrics_escape_label(ef_buf *out, const char *value);
/* Appends a label set from NULL-terminated name, value pairs, values escaped:
 * ef_metrics_labels(&b, "model", m, "version", v, NULL) -> model="m",version="v" (after a ','
 * when out is not empty). Returns 0 or EF_ENOMEM. */
int ef_metrics_labels(ef_buf *out, ...) __attribute__((sentinel));

#endif
