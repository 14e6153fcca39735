/* metrics.c - Prometheus text exposition (format 0.0.4): a registry of counters, gauges and
 * histograms; see metrics.h.
 *
 * Hand-written because Debian packages no C Prometheus client (prometheus-client-c is not in
 * Debian 12) and the format is small. Updates are lock-free: counters are atomic uint64, gauges
 * and histogram sums are doubles stored as atomic uint64 bit patterns updated with CAS, histogram
 * buckets are atomic per-bucket (non-cumulative) counts summed at render time. The registry's
 * mutex guards only lookup/creation and rendering's walk over the series lists.
 *
 * Layout: families (one per metric name: help, type) in creation order, each holding its series
 * (one per label set) in creation order; a chained hash table over (name, labels) finds a series.
 */
#include "metrics/metrics.h"
#include "base/err.h"
#include "base/log.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAGIC 0x4d455452u /* "METR" */

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct family family;

/* One series. The public handle types are all this struct. */
typedef struct series {
    family *fam;
    char *labels; /* inner text of the braces, "" when none */
    struct series *next_in_family;
    struct series *next_in_bucket;
    uint64_t hash;
    _Atomic uint64_t value; /* counter: count; gauge: double bits */
    /* histograms only */
    int nbounds;
    double *bounds;
    _Atomic uint64_t *buckets; /* nbounds + 1 (the last is +Inf) */
    _Atomic uint64_t sum_bits;
} series;

struct ef_counter {
    series s;
};
struct ef_gauge {
    series s;
};
struct ef_histogram {
    series s;
};

struct family {
    char *name;
    char *help;
    metric_kind kind;
    series *first, *last;
    family *next;
};

struct ef_metrics {
    unsigned magic;
    pthread_mutex_t lock;
    family *families, *families_last;
    series **table;
    size_t table_size; /* power of two */
    size_t nseries;
};

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *cell, double v)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    for (;;) {
        uint64_t nw = d2u(u2d(old) + v);
        if (atomic_compare_exchange_weak_explicit(cell, &old, nw, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
}

static uint64_t hash_key(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

ef_metrics *ef_metrics_new(void)
{
    ef_metrics *m = calloc(1, sizeof *m);
    if (!m) goto fail;
    m->table_size = 64;
    m->table = calloc(m->table_size, sizeof *m->table);
    if (!m->table) goto fail;
    if (pthread_mutex_init(&m->lock, NULL) != 0) goto fail;
    m->magic = METRICS_MAGIC;
    return m;
fail:
    if (m) free(m->table);
    free(m);
    return NULL;
}

static void series_free(series *s)
{
    free(s->labels);
    free(s->bounds);
    free((void *)s->buckets);
    free(s);
}

void ef_metrics_free(ef_metrics *m)
{
    if (!m) return;
    assert(m->magic == METRICS_MAGIC);
    family *f = m->families;
    while (f) {
        family *fn = f->next;
        series *s = f->first;
        while (s) {
            series *sn = s->next_in_family;
            series_free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    free(m->table);
    pthread_mutex_destroy(&m->lock);
    m->magic = 0;
    free(m);
}

/* Doubles the hash table; on OOM the old (still correct, just fuller) table stays. */
static void table_grow(ef_metrics *m)
{
    size_t nsize = m->table_size * 2;
    series **nt = calloc(nsize, sizeof *nt);
    if (!nt) return;
    for (size_t i = 0; i < m->table_size; i++) {
        series *s = m->table[i];
        while (s) {
            series *next = s->next_in_bucket;
            size_t b = (size_t)(s->hash & (nsize - 1));
            s->next_in_bucket = nt[b];
            nt[b] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = nt;
    m->table_size = nsize;
}

static family *family_find(ef_metrics *m, const char *name)
{
    for (family *f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

/* Finds or creates the series (name, labels) of the given kind. Called with m->lock held.
 * NULL on OOM or when name is already registered with another kind (a programming error). */
static series *lookup(ef_metrics *m, const char *name, const char *help, const char *labels,
                      metric_kind kind, const double *bounds, int nbounds)
{
    series *s = NULL;
    family *f = NULL;
    int new_family = 0;
    if (!labels) labels = "";
    uint64_t h = hash_key(name, labels);
    for (series *p = m->table[h & (m->table_size - 1)]; p; p = p->next_in_bucket) {
        if (p->hash == h && strcmp(p->labels, labels) == 0 && strcmp(p->fam->name, name) == 0) {
            if (p->fam->kind != kind) goto conflict;
            return p;
        }
    }
    f = family_find(m, name);
    if (f && f->kind != kind) goto conflict;
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f) goto fail;
        new_family = 1;
        f->kind = kind;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        if (!f->name || !f->help) goto fail;
    }
    /* all public handle structs wrap exactly one series */
    s = calloc(1, sizeof(series));
    if (!s) goto fail;
    s->fam = f;
    s->hash = h;
    s->labels = strdup(labels);
    if (!s->labels) goto fail;
    if (kind == KIND_HISTOGRAM) {
        if (!bounds || nbounds <= 0) {
            bounds = default_bounds;
            nbounds = (int)(sizeof default_bounds / sizeof default_bounds[0]);
        }
        s->nbounds = nbounds;
        s->bounds = malloc((size_t)nbounds * sizeof *s->bounds);
        s->buckets = calloc((size_t)nbounds + 1, sizeof *s->buckets);
        if (!s->bounds || !s->buckets) goto fail;
        memcpy(s->bounds, bounds, (size_t)nbounds * sizeof *s->bounds);
    }
    if (new_family) {
        if (m->families_last)
            m->families_last->next = f;
        else
            m->families = f;
        m->families_last = f;
    }
    if (f->last)
        f->last->next_in_family = s;
    else
        f->first = s;
    f->last = s;
    size_t b = (size_t)(h & (m->table_size - 1));
    s->next_in_bucket = m->table[b];
    m->table[b] = s;
    if (++m->nseries > m->table_size) table_grow(m);
    return s;
conflict:
    EF_ERROR("metrics: %s is already registered with another type", name);
    return NULL;
fail:
    if (s) series_free(s);
    if (new_family) {
        free(f->name);
        free(f->help);
        free(f);
    }
    return NULL;
}

static series *lookup_locked(ef_metrics *m, const char *name, const char *help, const char *labels,
                             metric_kind kind, const double *bounds, int nbounds)
{
    assert(m && m->magic == METRICS_MAGIC && name);
    pthread_mutex_lock(&m->lock);
    series *s = lookup(m, name, help, labels, kind, bounds, nbounds);
    pthread_mutex_unlock(&m->lock);
    return s;
}

ef_counter *ef_metrics_counter(ef_metrics *m, const char *name, const char *help,
                               const char *labels)
{
    return (ef_counter *)lookup_locked(m, name, help, labels, KIND_COUNTER, NULL, 0);
}

ef_gauge *ef_metrics_gauge(ef_metrics *m, const char *name, const char *help, const char *labels)
{
    return (ef_gauge *)lookup_locked(m, name, help, labels, KIND_GAUGE, NULL, 0);
}

ef_histogram *ef_metrics_histogram(ef_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, int nbounds)
{
    return (ef_histogram *)lookup_locked(m, name, help, labels, KIND_HISTOGRAM, bounds, nbounds);
}

void ef_counter_add(ef_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->s.value, n, memory_order_relaxed);
}

uint64_t ef_counter_get(const ef_counter *c)
{
    return atomic_load_explicit(&((ef_counter *)c)->s.value, memory_order_relaxed);
}

void ef_gauge_set(ef_gauge *g, double v)
{
    atomic_store_explicit(&g->s.value, d2u(v), memory_order_relaxed);
}

void ef_gauge_add(ef_gauge *g, double v)
{
    atomic_add_double(&g->s.value, v);
}

double ef_gauge_get(const ef_gauge *g)
{
    return u2d(atomic_load_explicit(&((ef_gauge *)g)->s.value, memory_order_relaxed));
}

void ef_histogram_observe(ef_histogram *h, double v)
{
    series *s = &h->s;
    int lo = 0, hi = s->nbounds; /* first bound >= v, or nbounds (+Inf) */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= s->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&s->sum_bits, v);
}

/* Prometheus float text: shortest "%g" form that reads back exactly; NaN / +Inf / -Inf. */
static int append_double(ef_buf *out, double v)
{
    if (isnan(v)) return ef_buf_appends(out, "NaN");
    if (isinf(v)) return ef_buf_appends(out, v > 0 ? "+Inf" : "-Inf");
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    return ef_buf_appends(out, tmp);
}

int ef_metrics_escape_label(ef_buf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        int rc;
        if (*p == '\\')
            rc = ef_buf_append(out, "\\\\", 2);
        else if (*p == '"')
            rc = ef_buf_append(out, "\\\"", 2);
        else if (*p == '\n')
            rc = ef_buf_append(out, "\\n", 2);
        else
            rc = ef_buf_appendc(out, *p);
        if (rc != EF_OK) return rc;
    }
    return EF_OK;
}

int ef_metrics_labels(ef_buf *out, ...)
{
    va_list ap;
    va_start(ap, out);
    int rc = EF_OK;
    const char *name;
    while (rc == EF_OK && (name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        if (out->len)
            rc = ef_buf_appendc(out, ',');
        rc = rc ? rc : ef_buf_appendf(out, "%s=\"", name);
        rc = rc ? rc : ef_metrics_escape_label(out, value ? value : "");
        rc = rc ? rc : ef_buf_appendc(out, '"');
    }
    va_end(ap);
    return rc;
}

static int append_help(ef_buf *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        int rc;
        if (*p == '\\')
            rc = ef_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rc = ef_buf_append(out, "\\n", 2);
        else
            rc = ef_buf_appendc(out, *p);
        if (rc != EF_OK) return rc;
    }
    return EF_OK;
}

/* "name<suffix>{labels[,extra]} " */
static int append_sample_name(ef_buf *out, const char *name, const char *suffix, const char *labels,
                              const char *extra)
{
    int rc = ef_buf_appendf(out, "%s%s", name, suffix);
    if (rc != EF_OK) return rc;
    if (*labels || extra) {
        rc = ef_buf_appendf(out, "{%s%s%s}", labels, (*labels && extra) ? "," : "",
                            extra ? extra : "");
        if (rc != EF_OK) return rc;
    }
    return ef_buf_appendc(out, ' ');
}

static int render_series(ef_buf *out, const family *f, series *s)
{
    int rc;
    if (f->kind == KIND_COUNTER) {
        if ((rc = append_sample_name(out, f->name, "", s->labels, NULL)) != EF_OK) return rc;
        return ef_buf_appendf(
            out, "%llu\n",
            (unsigned long long)atomic_load_explicit(&s->value, memory_order_relaxed));
    }
    if (f->kind == KIND_GAUGE) {
        if ((rc = append_sample_name(out, f->name, "", s->labels, NULL)) != EF_OK) return rc;
        if ((rc = append_double(out, u2d(atomic_load(&s->value)))) != EF_OK) return rc;
        return ef_buf_appendc(out, '\n');
    }
    uint64_t cum = 0;
    char le[48];
    for (int i = 0; i <= s->nbounds; i++) {
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < s->nbounds) {
            ef_buf tmp;
            ef_buf_init(&tmp);
            rc = append_double(&tmp, s->bounds[i]);
            if (rc == EF_OK) snprintf(le, sizeof le, "le=\"%s\"", tmp.data);
            ef_buf_release(&tmp);
            if (rc != EF_OK) return rc;
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        if ((rc = append_sample_name(out, f->name, "_bucket", s->labels, le)) != EF_OK) return rc;
        if ((rc = ef_buf_appendf(out, "%llu\n", (unsigned long long)cum)) != EF_OK) return rc;
    }
    if ((rc = append_sample_name(out, f->name, "_sum", s->labels, NULL)) != EF_OK) return rc;
    if ((rc = append_double(out, u2d(atomic_load(&s->sum_bits)))) != EF_OK) return rc;
    if ((rc = ef_buf_appendc(out, '\n')) != EF_OK) return rc;
    if ((rc = append_sample_name(out, f->name, "_count", s->labels, NULL)) != EF_OK) return rc;
    return ef_buf_appendf(out, "%llu\n", (unsigned long long)cum);
}

int ef_metrics_render(ef_metrics *m, ef_buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = EF_OK;
    assert(m && m->magic == METRICS_MAGIC);
    pthread_mutex_lock(&m->lock);
    for (family *f = m->families; f; f = f->next) {
        if (*f->help) {
            if ((rc = ef_buf_appendf(out, "# HELP %s ", f->name)) != EF_OK) goto out;
            if ((rc = append_help(out, f->help)) != EF_OK) goto out;
            if ((rc = ef_buf_appendc(out, '\n')) != EF_OK) goto out;
        }
        rc = ef_buf_appendf(out, "# TYPE %s %s\n", f->name, type_names[f->kind]);
        if (rc != EF_OK) goto out;
        for (series *s = f->first; s; s = s->next_in_family)
            if ((rc = render_series(out, f, s)) != EF_OK) goto out;
    }
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}
