/* test_store_query.c - the Elasticsearch subset of the store: every query clause, sort/from/size,
 * _source, track_total_hits, index patterns, _bulk and the error shapes, on a small fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "store/store.h"
#include "store/store_int.h"

static ef_store *g_s;
static char g_month[32]; /* sensor-YYYY-MM of now */
static int64_t g_now;

/* Fixture: 6 docs this month (minutes ago: 5, 20, 50, 70, 120, 1 day), 2 docs in sensor-2020-01. */
static int setup(void **state)
{
    (void)state;
    ef_store_options o = {.uri = "sqlite::memory:"};
    char *err = NULL;
    if (ef_store_open(&o, &g_s, &err)) return -1;
    g_now = ef_now_ms();
    time_t t = (time_t)(g_now / 1000 - 86400 - 7200); /* all of them in one month... */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(g_month, sizeof g_month, "sensor-%Y-%m", &tm);
    static const struct {
        const char *id;
        int64_t ago_min;
        const char *src;
    } f[] = {
        {"a", 5,
         "{\"device\":\"pi-1\",\"temp\":41000,\"load\":0.5,\"ok\":true,"
         "\"loc\":{\"room\":\"lab\"}}"},
        {"b", 20, "{\"device\":\"pi-2\",\"temp\":39000,\"load\":1.5,\"ok\":false}"},
        {"c", 50, "{\"device\":\"pi-1\",\"temp\":45000,\"load\":0.25,\"loc\":{\"room\":\"hall\"}}"},
        {"d", 70, "{\"device\":\"pi-3\",\"temp\":30000,\"ok\":true}"},
        {"e", 120, "{\"device\":\"pi-2\",\"temp\":50000,\"load\":2.0,\"note\":null}"},
        {"f", 1440, "{\"device\":\"pi-1\",\"temp\":20000,\"load\":0.1}"},
    };
    ef_store_doc docs[8];
    char src[8][200];
    for (int i = 0; i < 6; i++) {
        int64_t c = g_now - f[i].ago_min * 60000;
        /* keep the collected time in the source too, like ingest does */
        snprintf(src[i], sizeof src[i], "%.*s,\"collected\":%lld}", (int)strlen(f[i].src) - 1,
                 f[i].src, (long long)c);
        docs[i] = (ef_store_doc){.index = g_month,
                                 .id = f[i].id,
                                 .collected = c,
                                 .source = src[i],
                                 .source_len = strlen(src[i])};
    }
    docs[6] = (ef_store_doc){.index = "sensor-2020-01",
                             .id = "old1",
                             .collected = 1579000000000,
                             .source = "{\"device\":\"pi-1\",\"temp\":1}",
                             .source_len = 26};
    docs[7] = (ef_store_doc){.index = "sensor-2020-01",
                             .id = "old2",
                             .collected = INT64_MIN,
                             .source = "{\"device\":\"pi-9\"}",
                             .source_len = 17};
    return ef_store_write_batch(g_s, docs, 8, NULL, 0, NULL);
}

static int teardown(void **state)
{
    (void)state;
    ef_store_free(g_s);
    return 0;
}

/* Runs _search (or _count) with a JSON body text; checks the return code. */
static json_t *run(const char *pattern, const char *body, int expect, int count)
{
    json_error_t je;
    json_t *b = body ? json_loads(body, 0, &je) : NULL;
    if (body && !b) fail_msg("bad test JSON %s: %s", body, je.text);
    json_t *out = NULL;
    int rc = count ? ef_store_count(g_s, pattern, b, &out) : ef_store_search(g_s, pattern, b, &out);
    json_decref(b);
    if (rc != expect) {
        char *d = out ? json_dumps(out, 0) : NULL;
        fail_msg("%s %s: rc %d, expected %d: %s", pattern, body ? body : "", rc, expect,
                 d ? d : "");
    }
    assert_non_null(out);
    return out;
}

static json_t *hits(json_t *out)
{
    return json_object_get(json_object_get(out, "hits"), "hits");
}

static int64_t total(json_t *out)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(out, "hits"), "total"), "value"));
}

/* The _ids of the hits, comma-separated, in order. */
static const char *ids(json_t *out)
{
    static char buf[512];
    buf[0] = '\0';
    size_t i;
    json_t *h;
    json_array_foreach(hits(out), i, h)
    {
        if (i) strcat(buf, ",");
        strncat(buf, json_string_value(json_object_get(h, "_id")), 40);
    }
    return buf;
}

/* ids of a search, sorted by _id for order-independent comparisons */
static void expect_ids(const char *pattern, const char *body, const char *want)
{
    char b[1024];
    snprintf(b, sizeof b, "{\"size\":100,\"sort\":[\"_id\"],\"query\":%s}", body);
    json_t *out = run(pattern, b, 0, 0);
    if (strcmp(ids(out), want)) fail_msg("query %s: got [%s], want [%s]", body, ids(out), want);
    json_decref(out);
}

static void test_hourly_dump(void **state)
{
    (void)state;
    json_t *out = run(g_month,
                      "{\"size\":10000,\"query\":{\"range\":{\"collected\":"
                      "{\"gte\":\"now-1h\"}}}}",
                      0, 0);
    assert_int_equal(total(out), 3);
    assert_string_equal(ids(out), "a,b,c");
    json_t *h0 = json_array_get(hits(out), 0);
    assert_string_equal(json_string_value(json_object_get(h0, "_index")), g_month);
    assert_true(json_real_value(json_object_get(h0, "_score")) == 1.0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(h0, "_source"), "device")), "pi-1");
    assert_true(json_is_false(json_object_get(out, "timed_out")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(out, "_shards"), "successful")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(out, "hits"), "total"), "relation")),
                        "eq");
    json_decref(out);
    out = run("sensor-*", "{\"query\":{\"range\":{\"collected\":{\"gte\":\"now-1h\"}}}}", 0, 1);
    assert_int_equal(json_integer_value(json_object_get(out, "count")), 3);
    json_decref(out);
}

static void test_match_all_paging_sort(void **state)
{
    (void)state;
    json_t *out = run("_all", NULL, 0, 0);
    assert_int_equal(total(out), 8);
    assert_int_equal(json_array_size(hits(out)), 8);
    assert_string_equal(ids(out), "a,b,c,d,e,f,old1,old2"); /* insertion order */
    json_decref(out);
    out = run("sensor-*", "{\"size\":2,\"from\":3,\"query\":{\"match_all\":{}}}", 0, 0);
    assert_string_equal(ids(out), "d,e");
    assert_int_equal(total(out), 8);
    json_decref(out);
    out = run("sensor-*", "{\"from\":7,\"size\":5}", 0, 0); /* a short last page */
    assert_string_equal(ids(out), "old2");
    assert_int_equal(total(out), 8);
    json_decref(out);
    /* sort by a source field desc, with sort values; missing last */
    out = run("*", "{\"size\":3,\"sort\":[{\"temp\":{\"order\":\"desc\"}}]}", 0, 0);
    assert_string_equal(ids(out), "e,c,a");
    json_t *h = json_array_get(hits(out), 0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(h, "sort"), 0)), 50000);
    assert_true(json_is_null(json_object_get(h, "_score")));
    assert_true(json_is_null(json_object_get(json_object_get(out, "hits"), "max_score")));
    json_decref(out);
    out = run("*", "{\"size\":10,\"sort\":[{\"temp\":\"asc\"}]}", 0, 0);
    assert_string_equal(ids(out), "old1,f,d,b,a,c,e,old2");
    json_decref(out);
    out = run("*", "{\"sort\":[{\"collected\":\"desc\"},\"_doc\"]}", 0, 0);
    assert_string_equal(ids(out), "a,b,c,d,e,f,old1,old2");
    json_decref(out);
    out = run("*", "{\"sort\":{\"_doc\":{\"order\":\"desc\"}},\"size\":2}", 0, 0);
    assert_string_equal(ids(out), "old2,old1");
    json_decref(out);
    out =
        run("*", "{\"sort\":[{\"device.keyword\":\"desc\"},{\"load\":\"asc\"}],\"size\":4}", 0, 0);
    assert_string_equal(ids(out), "old2,d,b,e");
    json_t *sv = json_object_get(json_array_get(hits(out), 2), "sort");
    assert_string_equal(json_string_value(json_array_get(sv, 0)), "pi-2");
    assert_true(json_real_value(json_array_get(sv, 1)) == 1.5);
    json_decref(out);
}

static void test_term_terms_ids_exists(void **state)
{
    (void)state;
    expect_ids("*", "{\"term\":{\"device\":\"pi-2\"}}", "b,e");
    expect_ids("*", "{\"term\":{\"device.keyword\":{\"value\":\"pi-2\",\"boost\":2}}}", "b,e");
    expect_ids("*", "{\"term\":{\"temp\":45000}}", "c");
    expect_ids("*", "{\"term\":{\"load\":0.25}}", "c");
    expect_ids("*", "{\"term\":{\"ok\":true}}", "a,d");
    expect_ids("*", "{\"term\":{\"ok\":false}}", "b");
    expect_ids("*", "{\"term\":{\"loc.room\":\"lab\"}}", "a");
    expect_ids("*", "{\"term\":{\"_id\":\"d\"}}", "d");
    expect_ids("*", "{\"term\":{\"_index\":\"sensor-2020-01\"}}", "old1,old2");
    expect_ids("*", "{\"term\":{\"temp\":\"45000\"}}", ""); /* exact type */
    expect_ids("*", "{\"terms\":{\"device\":[\"pi-3\",\"pi-9\"]}}", "d,old2");
    expect_ids("*", "{\"terms\":{\"device\":[]}}", "");
    expect_ids("*", "{\"ids\":{\"values\":[\"a\",\"f\",\"zz\"]}}", "a,f");
    expect_ids("*", "{\"exists\":{\"field\":\"load\"}}", "a,b,c,e,f");
    expect_ids("*", "{\"exists\":{\"field\":\"note\"}}", ""); /* null does not exist */
    expect_ids("*", "{\"exists\":{\"field\":\"collected\"}}", "a,b,c,d,e,f,old1");
    expect_ids("*", "{\"match_none\":{}}", "");
    /* values and field names are bound, never pasted */
    expect_ids("*", "{\"term\":{\"device\":\"' OR 1=1 --\"}}", "");
    expect_ids("*", "{\"term\":{\"a') OR 1=1 --\":\"x\"}}", "");
}

static void test_range(void **state)
{
    (void)state;
    expect_ids("*", "{\"range\":{\"temp\":{\"gte\":39000,\"lt\":45000}}}", "a,b");
    expect_ids("*", "{\"range\":{\"temp\":{\"gt\":41000,\"lte\":50000}}}", "c,e");
    expect_ids("*", "{\"range\":{\"load\":{\"gt\":0.3}}}", "a,b,e");
    expect_ids("*", "{\"range\":{\"device\":{\"gte\":\"pi-2\",\"lt\":\"pi-9\"}}}", "b,d,e");
    expect_ids("*", "{\"range\":{\"collected\":{\"gte\":\"now-125m\",\"lt\":\"now-30m\"}}}",
               "c,d,e");
    expect_ids("*", "{\"range\":{\"collected\":{\"lt\":1600000000000}}}", "old1");
    expect_ids("*", "{\"range\":{\"collected\":{\"gte\":\"2020-01-01\",\"lte\":\"2020-01-31\"}}}",
               "old1");
    expect_ids("*", "{\"range\":{\"collected\":{\"gte\":\"now-1h\",\"lte\":null}}}", "a,b,c");
    /* rounding: lte now/d includes the whole of today, gt now/d excludes it */
    expect_ids("*", "{\"range\":{\"collected\":{\"lte\":\"now-1d/d\"}}}", "f,old1");
    expect_ids("*", "{\"range\":{\"collected\":{\"gt\":\"now/d\"}}}", "");
    if (g_now % 86400000 > 130 * 60000) /* the fixture's last 2 hours all fall on today */
        expect_ids("*", "{\"range\":{\"collected\":{\"gte\":\"now/d\"}}}", "a,b,c,d,e");
    expect_ids("*", "{\"range\":{\"load\":{}}}", "a,b,c,e,f");
    /* a date string on a source field compares as epoch ms */
    expect_ids("*", "{\"range\":{\"collected\":{\"gte\":\"now-10m\"}}}", "a");
}

static void test_bool(void **state)
{
    (void)state;
    expect_ids("*",
               "{\"bool\":{\"filter\":[{\"term\":{\"device\":\"pi-1\"}},{\"range\":"
               "{\"temp\":{\"gte\":40000}}}]}}",
               "a,c");
    expect_ids("*",
               "{\"bool\":{\"must\":{\"term\":{\"device\":\"pi-1\"}},\"must_not\":"
               "{\"exists\":{\"field\":\"loc\"}}}}",
               "f,old1");
    /* must_not on a missing field keeps the doc (three-valued logic handled) */
    expect_ids("*", "{\"bool\":{\"must_not\":[{\"term\":{\"ok\":true}}]}}", "b,c,e,f,old1,old2");
    expect_ids("*",
               "{\"bool\":{\"should\":[{\"term\":{\"device\":\"pi-3\"}},{\"term\":"
               "{\"temp\":50000}}]}}",
               "d,e");
    /* should with a filter is optional unless minimum_should_match */
    expect_ids("*",
               "{\"bool\":{\"filter\":{\"term\":{\"device\":\"pi-2\"}},\"should\":"
               "{\"term\":{\"temp\":1}}}}",
               "b,e");
    expect_ids("*",
               "{\"bool\":{\"filter\":{\"term\":{\"device\":\"pi-2\"}},\"should\":"
               "{\"term\":{\"temp\":50000}},\"minimum_should_match\":1}}",
               "e");
    expect_ids("*",
               "{\"bool\":{\"should\":[{\"term\":{\"device\":\"pi-1\"}},{\"exists\":"
               "{\"field\":\"loc\"}},{\"term\":{\"ok\":true}}],\"minimum_should_match\":2}}",
               "a,c");
    expect_ids("*",
               "{\"bool\":{\"should\":[{\"term\":{\"device\":\"pi-1\"}},{\"exists\":"
               "{\"field\":\"loc\"}}],\"minimum_should_match\":\"100%\"}}",
               "a,c");
    expect_ids("*",
               "{\"bool\":{\"must\":[{\"exists\":{\"field\":\"load\"}},{\"exists\":"
               "{\"field\":\"temp\"}}],\"filter\":[{\"term\":{\"device\":\"pi-1\"}},"
               "{\"range\":{\"temp\":{\"gte\":20000}}}],\"must_not\":[{\"term\":{\"temp\":"
               "45000}},{\"term\":{\"ok\":false}}]}}",
               "a,f");
    expect_ids("*", "{\"bool\":{\"must\":[],\"filter\":[],\"must_not\":[]}}",
               "a,b,c,d,e,f,old1,old2");
    expect_ids("*", "{\"bool\":{}}", "a,b,c,d,e,f,old1,old2");
    expect_ids("*",
               "{\"bool\":{\"must_not\":{\"bool\":{\"should\":[{\"term\":{\"device\":"
               "\"pi-1\"}},{\"term\":{\"device\":\"pi-2\"}}]}}}}",
               "d,old2");
    expect_ids("*",
               "{\"constant_score\":{\"filter\":{\"term\":{\"device\":\"pi-3\"}},"
               "\"boost\":1.2}}",
               "d");
}

static void test_source_and_totals(void **state)
{
    (void)state;
    json_t *out = run("*", "{\"_source\":false,\"size\":1}", 0, 0);
    assert_null(json_object_get(json_array_get(hits(out), 0), "_source"));
    json_decref(out);
    out = run("*", "{\"_source\":[\"device\",\"loc.room\",\"lo*\"],\"size\":1}", 0, 0);
    json_t *src = json_object_get(json_array_get(hits(out), 0), "_source");
    char *d = json_dumps(src, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(d, "{\"device\":\"pi-1\",\"load\":0.5,\"loc\":{\"room\":\"lab\"}}");
    free(d);
    json_decref(out);
    out = run("*", "{\"_source\":{\"includes\":\"temp\"},\"size\":1}", 0, 0);
    d = json_dumps(json_object_get(json_array_get(hits(out), 0), "_source"), JSON_COMPACT);
    assert_string_equal(d, "{\"temp\":41000}");
    free(d);
    json_decref(out);
    out = run("*", "{\"track_total_hits\":false,\"size\":1}", 0, 0);
    assert_null(json_object_get(json_object_get(out, "hits"), "total"));
    json_decref(out);
    out = run("*", "{\"track_total_hits\":3,\"size\":1}", 0, 0);
    assert_int_equal(total(out), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(out, "hits"), "total"), "relation")),
                        "gte");
    json_decref(out);
    out = run("*", "{\"size\":0}", 0, 0);
    assert_int_equal(total(out), 8);
    assert_int_equal(json_array_size(hits(out)), 0);
    assert_true(json_is_null(json_object_get(json_object_get(out, "hits"), "max_score")));
    json_decref(out);
}

static void test_index_patterns(void **state)
{
    (void)state;
    json_t *out;
    char pat[100];
    out = run("sensor-2020-01", NULL, 0, 0);
    assert_string_equal(ids(out), "old1,old2");
    json_decref(out);
    out = run("nothing-*", NULL, 0, 0); /* a wildcard matching nothing: 0 hits */
    assert_int_equal(total(out), 0);
    json_decref(out);
    out = run("sensor-*,-sensor-2020-*", NULL, 0, 1);
    assert_int_equal(json_integer_value(json_object_get(out, "count")), 6);
    json_decref(out);
    snprintf(pat, sizeof pat, "%s,sensor-2020-01", g_month);
    out = run(pat, NULL, 0, 1);
    assert_int_equal(json_integer_value(json_object_get(out, "count")), 8);
    json_decref(out);
    out = run("sensor-2020-0?", NULL, 0, 1);
    assert_int_equal(json_integer_value(json_object_get(out, "count")), 2);
    json_decref(out);
    /* a missing concrete index: 404 index_not_found_exception */
    out = run("sensor-2019-01", NULL, EF_ENOTFOUND, 0);
    assert_int_equal(json_integer_value(json_object_get(out, "status")), 404);
    json_t *err = json_object_get(out, "error");
    assert_string_equal(json_string_value(json_object_get(err, "type")),
                        "index_not_found_exception");
    assert_string_equal(json_string_value(json_object_get(err, "index")), "sensor-2019-01");
    json_decref(out);
    out = run("sensor-*,missing", NULL, EF_ENOTFOUND, 1);
    json_decref(out);
}

static void expect_error(const char *body, int count, const char *type, const char *reason)
{
    json_t *out = run("*", body, EF_EINVAL, count);
    json_t *err = json_object_get(out, "error");
    assert_int_equal(json_integer_value(json_object_get(out, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(err, "type")), type);
    const char *r = json_string_value(json_object_get(err, "reason"));
    if (!strstr(r, reason)) fail_msg("reason [%s] lacks [%s]", r, reason);
    json_t *rc0 = json_array_get(json_object_get(err, "root_cause"), 0);
    assert_string_equal(json_string_value(json_object_get(rc0, "type")), type);
    json_decref(out);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\"query\":{\"fuzzy\":{\"a\":\"b\"}}}", 0, "parsing_exception",
                 "unknown query [fuzzy]");
    expect_error("{\"query\":{\"bool\":{\"must\":{\"match\":{\"a\":\"b\"}}}}}", 0,
                 "parsing_exception", "unknown query [match]");
    expect_error("{\"size\":10001}", 0, "illegal_argument_exception", "Result window is too large");
    expect_error("{\"size\":5000,\"from\":5001}", 0, "illegal_argument_exception", "[10001]");
    expect_error("{\"from\":-1}", 0, "illegal_argument_exception", "cannot be negative");
    expect_error("{\"aggs\":{}}", 0, "parsing_exception", "[aggs]");
    expect_error("{\"size\":5}", 1, "parsing_exception", "request does not support [size]");
    expect_error("{\"query\":{\"term\":{\"a\":1,\"b\":2}}}", 0, "parsing_exception",
                 "multiple fields");
    expect_error("{\"query\":{\"range\":{\"a\":{\"gte\":1,\"foo\":2}}}}", 0, "parsing_exception",
                 "does not support [foo]");
    expect_error("{\"query\":{\"range\":{\"collected\":{\"gte\":\"yesterday\"}}}}", 0,
                 "parse_exception", "yesterday");
    expect_error("{\"query\":{\"term\":{\"a\":null}}}", 0, "parsing_exception", "[term]");
    expect_error("{\"query\":{\"term\":{\"a\":1},\"range\":{}}}", 0, "parsing_exception",
                 "malformed query");
    expect_error("{\"query\":{}}", 0, "parsing_exception", "empty clause");
    expect_error("{\"query\":[]}", 0, "parsing_exception", "start_object");
    expect_error("{\"sort\":[{\"temp\":\"up\"}]}", 0, "illegal_argument_exception", "SortOrder");
    expect_error("{\"query\":{\"term\":{\"a\\\"b\":1}}}", 0, "illegal_argument_exception",
                 "invalid field name");
    expect_error("{\"query\":{\"bool\":{\"must\":[],\"nope\":1}}}", 0, "parsing_exception",
                 "[bool] query does not support [nope]");
    /* nesting deeper than the limit */
    char deep[2048] = "{\"query\":";
    for (int i = 0; i < 30; i++)
        strcat(deep, "{\"bool\":{\"must\":");
    strcat(deep, "{\"match_all\":{}}");
    for (int i = 0; i < 30; i++)
        strcat(deep, "}}");
    strcat(deep, "}");
    expect_error(deep, 0, "parsing_exception", "nested deeper");
    json_t *arr = json_array();
    json_t *out = NULL;
    assert_int_equal(ef_store_search(g_s, "*", arr, &out), EF_EINVAL);
    json_decref(out);
    json_decref(arr);
}

static json_t *bulk(const char *index, const char *nd, int expect)
{
    json_t *out = NULL;
    int rc = ef_store_bulk(g_s, index, nd, strlen(nd), &out);
    if (rc != expect) {
        char *d = out ? json_dumps(out, 0) : NULL;
        fail_msg("bulk rc %d, expected %d: %s", rc, expect, d ? d : "");
    }
    assert_non_null(out);
    return out;
}

static json_t *item(json_t *out, size_t i, const char *action)
{
    return json_object_get(json_array_get(json_object_get(out, "items"), i), action);
}

static void test_bulk(void **state)
{
    (void)state;
    json_t *out = bulk("logs-1",
                       "{\"index\":{\"_id\":\"x1\"}}\n{\"msg\":\"hello\",\"collected\":"
                       "\"2024-01-02T03:04:05Z\"}\n"
                       "{\"create\":{\"_index\":\"logs-2\"}}\r\n{\"msg\":\"gen\"}\r\n"
                       "{\"create\":{\"_id\":\"x1\"}}\n{\"msg\":\"again\"}\n"
                       "{\"index\":{\"_id\":\"x1\"}}\n{\"msg\":\"replaced\",\"collected\":5}\n"
                       "{\"update\":{\"_id\":\"x1\"}}\n{\"doc\":{}}\n"
                       "{\"delete\":{\"_id\":\"x1\"}}\n"
                       "{\"index\":{\"_id\":\"bad\"}}\n{\"msg\": oops}\n"
                       "{\"index\":{\"_id\":\"arr\"}}\n[1,2]\n"
                       "\n",
                       0);
    assert_true(json_is_true(json_object_get(out, "errors")));
    assert_int_equal(json_array_size(json_object_get(out, "items")), 8);
    json_t *it = item(out, 0, "index");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 201);
    assert_string_equal(json_string_value(json_object_get(it, "result")), "created");
    assert_string_equal(json_string_value(json_object_get(it, "_index")), "logs-1");
    it = item(out, 1, "create");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 201);
    assert_int_equal(strlen(json_string_value(json_object_get(it, "_id"))), 20);
    assert_string_equal(json_string_value(json_object_get(it, "_index")), "logs-2");
    it = item(out, 2, "create");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 409);
    assert_string_equal(json_string_value(json_object_get(json_object_get(it, "error"), "type")),
                        "version_conflict_engine_exception");
    it = item(out, 3, "index");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(it, "result")), "updated");
    assert_int_equal(json_integer_value(json_object_get(it, "_version")), 2);
    assert_int_equal(json_integer_value(json_object_get(item(out, 4, "update"), "status")), 400);
    assert_int_equal(json_integer_value(json_object_get(item(out, 5, "delete"), "status")), 400);
    it = item(out, 6, "index");
    assert_string_equal(json_string_value(json_object_get(json_object_get(it, "error"), "type")),
                        "mapper_parsing_exception");
    it = item(out, 7, "index");
    assert_string_equal(json_string_value(json_object_get(json_object_get(it, "error"), "type")),
                        "mapper_parsing_exception");
    json_decref(out);

    out = run("logs-*", "{\"sort\":[\"_index\"]}", 0, 0);
    assert_int_equal(total(out), 2);
    json_t *src = json_object_get(json_array_get(hits(out), 0), "_source");
    assert_string_equal(json_string_value(json_object_get(src, "msg")), "replaced");
    json_decref(out);
    expect_ids("logs-1", "{\"range\":{\"collected\":{\"lte\":5}}}", "x1");

    /* whole-request errors: malformed action lines */
    out = bulk("logs-1", "{\"index\":{}}\n{\"a\":1}\nnot json\n{\"a\":1}\n", EF_EINVAL);
    assert_int_equal(json_integer_value(json_object_get(out, "status")), 400);
    json_decref(out);
    json_decref(bulk("logs-1", "{\"frobnicate\":{}}\n{}\n", EF_EINVAL));
    json_decref(bulk("logs-1", "{\"index\":{\"_index\":\"x\",\"bogus\":1}}\n{}\n", EF_EINVAL));
    json_decref(bulk("logs-1", "{\"index\":{}}\n", EF_EINVAL)); /* no source line */
    json_decref(bulk("logs-1", "\n\n", EF_EINVAL));             /* no requests */
    /* per-item validation */
    out = bulk(NULL,
               "{\"index\":{}}\n{}\n{\"index\":{\"_index\":\"UPPER\"}}\n{}\n"
               "{\"index\":{\"_index\":\"ok\",\"_id\":\"\"}}\n{}\n",
               0);
    assert_int_equal(json_integer_value(json_object_get(item(out, 0, "index"), "status")), 400);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(item(out, 1, "index"), "error"), "type")),
        "invalid_index_name_exception");
    assert_int_equal(json_integer_value(json_object_get(item(out, 2, "index"), "status")), 400);
    json_decref(out);
    char *report = NULL;
    assert_int_equal(ef_store_check(g_s, &report), 0);
}

/* The compiler alone, as the fuzzer uses it: SQL shape and parameters. */
static void test_compiler(void **state)
{
    (void)state;
    store__query q;
    store__query_init(&q, EF_SQL_SQLITE, 1000);
    json_t *b = json_loads("{\"query\":{\"term\":{\"a.b\":\"x'y\"}}}", 0, NULL);
    assert_int_equal(store__query_compile(&q, b, 0), 0);
    assert_null(strstr(q.where.data, "x'y"));
    assert_int_equal(q.pwhere.n, 2);
    assert_string_equal(q.pwhere.v[0].s, "$.\"a\".\"b\"");
    assert_string_equal(q.pwhere.v[1].s, "x'y");
    store__query_release(&q);
    store__query_init(&q, EF_SQL_POSTGRES, 1000);
    assert_int_equal(store__query_compile(&q, b, 0), 0);
    assert_non_null(strstr(q.where.data, "::jsonb"));
    assert_string_equal(q.pwhere.v[0].s, "{\"a\",\"b\"}");
    assert_string_equal(q.pwhere.v[1].s, "\"x'y\"");
    store__query_release(&q);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hourly_dump),
        cmocka_unit_test(test_match_all_paging_sort),
        cmocka_unit_test(test_term_terms_ids_exists),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_source_and_totals),
        cmocka_unit_test(test_index_patterns),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_compiler),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
