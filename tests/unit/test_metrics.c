/* Unit tests for src/metrics: exact Prometheus text for counters, gauges and histograms, label
 * escaping, identity of lookups, concurrent updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "metrics/metrics.h"

static void test_counter_gauge_render(void **state)
{
    (void)state;
    ef_metrics *m = ef_metrics_new();
    assert_non_null(m);
    ef_counter *c1 =
        ef_metrics_counter(m, "ef_readings_total", "Readings received", "device=\"a\"");
    ef_counter *c2 = ef_metrics_counter(m, "ef_readings_total", "ignored", "device=\"b\"");
    ef_gauge *g = ef_metrics_gauge(m, "ef_queue_depth", "Queue depth\nin items", NULL);
    ef_counter *plain = ef_metrics_counter(m, "ef_plain_total", NULL, NULL);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_non_null(g);
    assert_non_null(plain);
    assert_ptr_equal(ef_metrics_counter(m, "ef_readings_total", NULL, "device=\"a\""), c1);
    assert_ptr_not_equal(c1, c2);
    /* same name, another type: refused */
    assert_null(ef_metrics_gauge(m, "ef_readings_total", NULL, "device=\"a\""));
    ef_counter_add(c1, 3);
    ef_counter_add(c1, 2);
    ef_counter_add(c2, 1);
    ef_gauge_set(g, 1.5);
    ef_gauge_add(g, 0.25);
    assert_int_equal(ef_counter_get(c1), 5);
    assert_true(ef_gauge_get(g) == 1.75);
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_metrics_render(m, &b), EF_OK);
    assert_string_equal(b.data, "# HELP ef_readings_total Readings received\n"
                                "# TYPE ef_readings_total counter\n"
                                "ef_readings_total{device=\"a\"} 5\n"
                                "ef_readings_total{device=\"b\"} 1\n"
                                "# HELP ef_queue_depth Queue depth\\nin items\n"
                                "# TYPE ef_queue_depth gauge\n"
                                "ef_queue_depth 1.75\n"
                                "# TYPE ef_plain_total counter\n"
                                "ef_plain_total 0\n");
    ef_buf_clear(&b);
    ef_gauge_set(g, 0.1);
    ef_gauge_add(g, 0.2);
    ef_counter_add(plain, 18446744073709551615ull);
    assert_int_equal(ef_metrics_render(m, &b), EF_OK);
    assert_non_null(strstr(b.data, "ef_queue_depth 0.30000000000000004\n"));
    assert_non_null(strstr(b.data, "ef_plain_total 18446744073709551615\n"));
    ef_buf_clear(&b);
    ef_gauge_set(g, INFINITY);
    assert_int_equal(ef_metrics_render(m, &b), EF_OK);
    assert_non_null(strstr(b.data, "ef_queue_depth +Inf\n"));
    ef_buf_clear(&b);
    ef_gauge_set(g, NAN);
    assert_int_equal(ef_metrics_render(m, &b), EF_OK);
    assert_non_null(strstr(b.data, "ef_queue_depth NaN\n"));
    ef_buf_release(&b);
    ef_metrics_free(m);
}

static void test_histogram_render(void **state)
{
    (void)state;
    ef_metrics *m = ef_metrics_new();
    static const double bounds[] = {0.1, 0.5, 1};
    ef_histogram *h =
        ef_metrics_histogram(m, "ef_batch_seconds", "Batch latency", "sink=\"sqlite\"", bounds, 3);
    assert_non_null(h);
    ef_histogram_observe(h, 0.05);
    ef_histogram_observe(h, 0.1); /* le is inclusive */
    ef_histogram_observe(h, 0.3);
    ef_histogram_observe(h, 2);
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_metrics_render(m, &b), EF_OK);
    assert_string_equal(b.data, "# HELP ef_batch_seconds Batch latency\n"
                                "# TYPE ef_batch_seconds histogram\n"
                                "ef_batch_seconds_bucket{sink=\"sqlite\",le=\"0.1\"} 2\n"
                                "ef_batch_seconds_bucket{sink=\"sqlite\",le=\"0.5\"} 3\n"
                                "ef_batch_seconds_bucket{sink=\"sqlite\",le=\"1\"} 3\n"
                                "ef_batch_seconds_bucket{sink=\"sqlite\",le=\"+Inf\"} 4\n"
                                "ef_batch_seconds_sum{sink=\"sqlite\"} 2.45\n"
                                "ef_batch_seconds_count{sink=\"sqlite\"} 4\n");
    ef_buf_clear(&b);
    /* default buckets, no labels */
    ef_histogram *d = ef_metrics_histogram(m, "ef_lat_seconds", NULL, NULL, NULL, 0);
    ef_histogram_observe(d, 0.0007);
    assert_int_equal(ef_metrics_render(m, &b), EF_OK);
    assert_non_null(strstr(b.data, "# TYPE ef_lat_seconds histogram\n"
                                   "ef_lat_seconds_bucket{le=\"0.0005\"} 0\n"
                                   "ef_lat_seconds_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(b.data, "ef_lat_seconds_bucket{le=\"10\"} 1\n"
                                   "ef_lat_seconds_bucket{le=\"+Inf\"} 1\n"
                                   "ef_lat_seconds_sum 0.0007\n"
                                   "ef_lat_seconds_count 1\n"));
    ef_buf_release(&b);
    ef_metrics_free(m);
}

static void test_escape(void **state)
{
    (void)state;
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_metrics_escape_label(&b, "a\"b\\c\nd"), EF_OK);
    assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
    ef_buf_clear(&b);
    /* a label set from pairs, values escaped, NULL as "" */
    assert_int_equal(ef_metrics_labels(&b, "model", "w\"q", "version", (const char *)NULL, NULL),
                     EF_OK);
    assert_int_equal(ef_metrics_labels(&b, "code", "200", NULL), EF_OK);
    assert_string_equal(b.data, "model=\"w\\\"q\",version=\"\",code=\"200\"");
    ef_buf_release(&b);
}

static ef_metrics *g_m;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "k=\"%d\"", i % 50);
        ef_counter_add(ef_metrics_counter(g_m, "ef_hammer_total", "h", labels), 1);
        ef_gauge_add(ef_metrics_gauge(g_m, "ef_hammer_gauge", "g", NULL), 1.0);
        ef_histogram_observe(ef_metrics_histogram(g_m, "ef_hammer_seconds", "s", NULL, NULL, 0),
                             0.001);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    g_m = ef_metrics_new();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    uint64_t total = 0;
    for (int k = 0; k < 50; k++) {
        char labels[32];
        snprintf(labels, sizeof labels, "k=\"%d\"", k);
        total += ef_counter_get(ef_metrics_counter(g_m, "ef_hammer_total", NULL, labels));
    }
    assert_int_equal(total, 80000);
    assert_true(ef_gauge_get(ef_metrics_gauge(g_m, "ef_hammer_gauge", NULL, NULL)) == 80000.0);
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(ef_metrics_render(g_m, &b), EF_OK);
    assert_non_null(strstr(b.data, "ef_hammer_seconds_count 80000\n"));
    ef_buf_release(&b);
    ef_metrics_free(g_m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_render),
        cmocka_unit_test(test_histogram_render),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
