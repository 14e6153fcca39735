/* Unit tests for src/ingest/prepare.c: validation reasons, the reference transforms, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "ingest/ingest.h"

static ef_transform *reference(void)
{
    char err[256];
    ef_transform *t = ef_transform_new();
    assert_non_null(t);
    assert_int_equal(ef_transform_add(t, "default", "collected=${now_ms}", err, sizeof err), 0);
    assert_int_equal(ef_transform_add(t, "cast", "collected=long", err, sizeof err), 0);
    return t;
}

static int prep(ef_transform *t, const char *payload, size_t len, json_t **doc, int64_t *col,
                char *err)
{
    return ef_ingest_prepare(t, "sensor/lab-d1", payload, len, 1024, 1700000000123LL,
                             doc, col, err, 256);
}

static void test_valid_reading(void **state)
{
    (void)state;
    ef_transform *t = reference();
    json_t *doc;
    int64_t col;
    char err[256];
    const char *p = "{\"device\":\"lab-d1\",\"temp\":45000,\"load\":0.5,\"seq\":7,\"ts\":1700000000000}";
    assert_int_equal(prep(t, p, strlen(p), &doc, &col, err), EF_OK);
    assert_int_equal(col, 1700000000123LL); /* collected defaulted to now */
    char *key = ef_ingest_key(doc, "sensor/lab-d1", p, strlen(p));
    assert_string_equal(key, "lab-d1:s7:t1700000000000");
    free(key);
    json_decref(doc);
    /* an existing collected given as a string is cast to long */
    p = "{\"device\":\"x\",\"collected\":\"1600000000000\"}";
    assert_int_equal(prep(t, p, strlen(p), &doc, &col, err), EF_OK);
    assert_int_equal(col, 1600000000000LL);
    assert_true(json_is_integer(json_object_get(doc, "collected")));
    key = ef_ingest_key(doc, "sensor/x", p, strlen(p));
    assert_non_null(strstr(key, "x:h"));
    free(key);
    json_decref(doc);
    /* no device field: the topic's last level names the device */
    p = "{\"ts\":5}";
    assert_int_equal(prep(t, p, strlen(p), &doc, &col, err), EF_OK);
    key = ef_ingest_key(doc, "sensor/lab-d9", p, strlen(p));
    assert_string_equal(key, "lab-d9:t5");
    free(key);
    json_decref(doc);
    ef_transform_free(t);
}

static void expect_reason(ef_transform *t, const char *p, size_t len, const char *reason)
{
    json_t *doc;
    int64_t col;
    char err[256];
    assert_int_equal(prep(t, p, len, &doc, &col, err), EF_EINVAL);
    assert_null(doc);
    if (!strstr(err, reason)) fail_msg("reason '%s' does not contain '%s'", err, reason);
}

static void test_dead_letter_reasons(void **state)
{
    (void)state;
    ef_transform *t = reference();
    char big[2000];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    expect_reason(t, big, sizeof big, "payload too large");
    expect_reason(t, "{\"a\":\"\xc3\x28\"}", 9, "invalid UTF-8 at byte 6");
    expect_reason(t, "{\"a\":\"\xed\xa0\x80\"}", 10, "invalid UTF-8"); /* surrogate */
    expect_reason(t, "{\"a\":\"\xc0\xaf\"}", 9, "invalid UTF-8");    /* overlong */
    expect_reason(t, "{\"temp\": 4", 10, "invalid JSON");
    expect_reason(t, "[1,2]", 5, "not a JSON object");
    expect_reason(t, "{\"device\":5}", 12, "\"device\" must be a string");
    expect_reason(t, "{\"seq\":-1}", 10, "\"seq\" must be a non-negative integer");
    expect_reason(t, "{\"seq\":\"7\"}", 11, "\"seq\"");
    expect_reason(t, "{\"ts\":1.5}", 10, "\"ts\" must be an integer");
    expect_reason(t, "{\"collected\":\"soon\"}", 20, "transform failed");
    expect_reason(t, "{\"a\":1,\"a\":2}", 13, "invalid JSON"); /* duplicate keys */
    ef_transform_free(t);
    /* a pipeline that never sets the time field */
    t = ef_transform_new();
    expect_reason(t, "{\"a\":1}", 7, "missing time field");
    expect_reason(t, "{\"collected\":\"1\"}", 17, "must be an epoch-ms number");
    ef_transform_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_reading),
        cmocka_unit_test(test_dead_letter_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
