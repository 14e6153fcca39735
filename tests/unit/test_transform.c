/* Unit tests for src/transform: every op, placeholders, dotted paths, every cast with its failures
 * and edge cases, value text rules, the YAML pipeline file with line-numbered errors, the reference
 * NiFi Jolt behaviour, and index naming (month/year/ISO-week boundaries, invalid patterns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"
#include "transform/transform.h"
#include "transform/transform_int.h"

static char g_err[512];

/* Builds a pipeline from "op arg" lines (NULL-terminated). */
static ef_transform *pipeline(const char *const *ops)
{
    ef_transform *t = ef_transform_new();
    assert_non_null(t);
    for (size_t i = 0; ops[i]; i += 2) {
        int rc = ef_transform_add(t, ops[i], ops[i + 1], g_err, sizeof g_err);
        if (rc != EF_OK) fail_msg("add %s %s: %s", ops[i], ops[i + 1], g_err);
    }
    return t;
}

static json_t *doc_of(const char *text)
{
    json_error_t je;
    json_t *d = json_loads(text, 0, &je);
    if (!d) fail_msg("bad test JSON %s: %s", text, je.text);
    return d;
}

/* Applies t to text and compares with want (both as JSON, so key order does not matter). */
static void expect(const ef_transform *t, const ef_transform_ctx *ctx, const char *text,
                   const char *want)
{
    json_t *d = doc_of(text), *w = doc_of(want);
    g_err[0] = '\0';
    int rc = ef_transform_apply(t, d, ctx, g_err, sizeof g_err);
    if (rc != EF_OK) fail_msg("apply on %s: %s", text, g_err);
    if (!json_equal(d, w)) {
        char *got = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
        char msg[1024];
        snprintf(msg, sizeof msg, "on %s: got %s, want %s", text, got, want);
        free(got);
        json_decref(d);
        json_decref(w);
        fail_msg("%s", msg);
    }
    json_decref(d);
    json_decref(w);
}

/* Applies t to text expecting EF_EINVAL whose message contains want_msg. */
static void expect_fail(const ef_transform *t, const ef_transform_ctx *ctx, const char *text,
                        const char *want_msg)
{
    json_t *d = doc_of(text);
    g_err[0] = '\0';
    int rc = ef_transform_apply(t, d, ctx, g_err, sizeof g_err);
    json_decref(d);
    if (rc != EF_EINVAL) fail_msg("apply on %s: want EF_EINVAL, got %d", text, rc);
    if (!strstr(g_err, want_msg)) fail_msg("on %s: message '%s' lacks '%s'", text, g_err, want_msg);
}

static void expect_add_fail(const char *op, const char *arg, const char *want_msg)
{
    ef_transform *t = ef_transform_new();
    g_err[0] = '\0';
    int rc = ef_transform_add(t, op, arg, g_err, sizeof g_err);
    ef_transform_free(t);
    if (rc != EF_EINVAL) fail_msg("add %s %s: want EF_EINVAL, got %d", op, arg, rc);
    if (!strstr(g_err, want_msg)) fail_msg("add %s %s: '%s' lacks '%s'", op, arg, g_err, want_msg);
}

static void one_op(const char *op, const char *arg, const char *in, const char *want)
{
    const char *ops[] = {op, arg, NULL};
    ef_transform *t = pipeline(ops);
    ef_transform_ctx ctx = {1700000000123, "sensor/dev1"};
    expect(t, &ctx, in, want);
    ef_transform_free(t);
}

static void one_op_fail(const char *op, const char *arg, const char *in, const char *want_msg)
{
    const char *ops[] = {op, arg, NULL};
    ef_transform *t = pipeline(ops);
    ef_transform_ctx ctx = {1700000000123, "sensor/dev1"};
    expect_fail(t, &ctx, in, want_msg);
    ef_transform_free(t);
}

/* --- ops ------------------------------------------------------------------------------------ */

static void test_default_overwrite(void **state)
{
    (void)state;
    one_op("default", "site=lab", "{}", "{\"site\":\"lab\"}");
    one_op("default", "site=lab", "{\"site\":\"home\"}", "{\"site\":\"home\"}");
    one_op("default", "site=lab", "{\"site\":null}", "{\"site\":\"lab\"}");
    one_op("default", "site=lab", "{\"site\":0}", "{\"site\":0}");
    one_op("default", "site=lab", "{\"site\":false}", "{\"site\":false}");
    one_op("default", "n=42", "{}", "{\"n\":42}");
    one_op("overwrite", "site=lab", "{\"site\":\"home\"}", "{\"site\":\"lab\"}");
    one_op("overwrite", "site=lab", "{}", "{\"site\":\"lab\"}");
    one_op("overwrite", "site=null", "{\"site\":1}", "{\"site\":null}");
    /* field names are trimmed in the flag form, values are kept as written */
    one_op("overwrite", " site = lab", "{}", "{\"site\":\" lab\"}");
    one_op("overwrite", "eq=a=b", "{}", "{\"eq\":\"a=b\"}");
}

static void test_value_text(void **state)
{
    (void)state;
    one_op("overwrite", "v=42", "{}", "{\"v\":42}");
    one_op("overwrite", "v=-7", "{}", "{\"v\":-7}");
    one_op("overwrite", "v= 7 ", "{}", "{\"v\":7}");
    one_op("overwrite", "v=4.5", "{}", "{\"v\":4.5}");
    one_op("overwrite", "v=1e3", "{}", "{\"v\":1000.0}");
    one_op("overwrite", "v=true", "{}", "{\"v\":true}");
    one_op("overwrite", "v=false", "{}", "{\"v\":false}");
    one_op("overwrite", "v=null", "{}", "{\"v\":null}");
    one_op("overwrite", "v=\"42\"", "{}", "{\"v\":\"42\"}");
    one_op("overwrite", "v=\"caf\\u00e9 \\\"x\\\"\"", "{}", "{\"v\":\"caf\\u00e9 \\\"x\\\"\"}");
    one_op("overwrite", "v=\"\\ud83d\\ude00\"", "{}", "{\"v\":\"\\ud83d\\ude00\"}");
    /* not valid JSON -> the text itself */
    one_op("overwrite", "v=abc", "{}", "{\"v\":\"abc\"}");
    one_op("overwrite", "v=", "{}", "{\"v\":\"\"}");
    one_op("overwrite", "v=007", "{}", "{\"v\":\"007\"}");
    one_op("overwrite", "v=1.", "{}", "{\"v\":\"1.\"}");
    one_op("overwrite", "v=True", "{}", "{\"v\":\"True\"}");
    one_op("overwrite", "v=1e400", "{}", "{\"v\":\"1e400\"}");
    one_op("overwrite", "v=99999999999999999999", "{}", "{\"v\":\"99999999999999999999\"}");
    one_op("overwrite", "v=\"bad\\x\"", "{}", "{\"v\":\"\\\"bad\\\\x\\\"\"}");
    one_op("overwrite", "v=\"\\u0000\"", "{}", "{\"v\":\"\\\"\\\\u0000\\\"\"}");
    one_op("overwrite", "v=\"\\ud800\"", "{}", "{\"v\":\"\\\"\\\\ud800\\\"\"}");
    one_op("overwrite", "v=9223372036854775807", "{}", "{\"v\":9223372036854775807}");
    one_op("overwrite", "v=-9223372036854775808", "{}", "{\"v\":-9223372036854775808}");
    one_op("overwrite", "v=$5 and $$", "{}", "{\"v\":\"$5 and $\"}");
    expect_add_fail("overwrite", "v=\xff\xfe", "not valid UTF-8");
    expect_add_fail("overwrite", "v=\"\xc0\xaf\"", "not valid UTF-8");
}

static void test_placeholders(void **state)
{
    (void)state;
    one_op("default", "collected=${now_ms}", "{}", "{\"collected\":1700000000123}");
    one_op("overwrite", "t=${topic}", "{}", "{\"t\":\"sensor/dev1\"}");
    one_op("overwrite", "d=${topic[1]}", "{}", "{\"d\":\"dev1\"}");
    one_op("overwrite", "d=${topic[0]}", "{}", "{\"d\":\"sensor\"}");
    one_op("overwrite", "id=${topic[1]}-${now_ms}", "{}", "{\"id\":\"dev1-1700000000123\"}");
    one_op("overwrite", "s=\"${now_ms}\"", "{}", "{\"s\":\"1700000000123\"}");
    one_op("overwrite", "s=$${now_ms}", "{}", "{\"s\":\"${now_ms}\"}");

    const char *ops[] = {"overwrite", "level=${topic[2]}", "overwrite", "q=\"\\t${topic[2]}!\"",
                         NULL};
    ef_transform *t = pipeline(ops);
    /* a numeric level reads as a number; the quoted form keeps it a string, verbatim */
    ef_transform_ctx ctx = {1, "a/b/123"};
    expect(t, &ctx, "{}", "{\"level\":123,\"q\":\"\\t123!\"}");
    ctx.topic = "a/b/\"x\\";
    expect(t, &ctx, "{}", "{\"level\":\"\\\"x\\\\\",\"q\":\"\\t\\\"x\\\\!\"}");
    ctx.topic = "a/b/";
    expect(t, &ctx, "{}", "{\"level\":\"\",\"q\":\"\\t!\"}");
    ctx.topic = "a/b";
    expect_fail(t, &ctx, "{}",
                "overwrite level: ${topic[2]} out of range: topic 'a/b' has 2 levels");
    ctx.topic = NULL;
    expect_fail(t, &ctx, "{}", "no topic");
    expect_fail(t, NULL, "{}", "no topic");
    ef_transform_free(t);

    /* long expansions go through the heap buffer */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "a/", 2);
    const char *ops2[] = {"overwrite", "t=${topic}${topic}", NULL};
    t = pipeline(ops2);
    ctx.topic = big;
    json_t *d = json_object();
    assert_int_equal(ef_transform_apply(t, d, &ctx, g_err, sizeof g_err), EF_OK);
    assert_int_equal(json_string_length(json_object_get(d, "t")), 2 * strlen(big));
    json_decref(d);
    ef_transform_free(t);

    /* no ctx: now_ms is the current time */
    const char *ops3[] = {"default", "c=${now_ms}", NULL};
    t = pipeline(ops3);
    d = json_object();
    int64_t before = ef_now_ms();
    assert_int_equal(ef_transform_apply(t, d, NULL, g_err, sizeof g_err), EF_OK);
    assert_true(json_integer_value(json_object_get(d, "c")) >= before);
    json_decref(d);
    ef_transform_free(t);

    expect_add_fail("default", "x=${nope}", "unknown placeholder '${nope}'");
    expect_add_fail("default", "x=${now}", "use ${now_ms}, ${topic} or ${topic[N]}");
    expect_add_fail("default", "x=${topic[}", "unknown placeholder");
    expect_add_fail("default", "x=${topic[]}", "unknown placeholder");
    expect_add_fail("default", "x=${topic[-1]}", "unknown placeholder");
    expect_add_fail("default", "x=${topic[99999999999]}", "unknown placeholder");
    expect_add_fail("default", "x=abc${now_ms", "unterminated placeholder");
}

static void test_dotted_paths(void **state)
{
    (void)state;
    one_op("default", "meta.site=lab", "{}", "{\"meta\":{\"site\":\"lab\"}}");
    one_op("default", "meta.site=lab", "{\"meta\":{\"x\":1}}",
           "{\"meta\":{\"x\":1,\"site\":\"lab\"}}");
    one_op("default", "meta.site=lab", "{\"meta\":{\"site\":2}}", "{\"meta\":{\"site\":2}}");
    one_op("overwrite", "a.b.c=1", "{\"a\":null}", "{\"a\":{\"b\":{\"c\":1}}}");
    one_op("overwrite", "a\\.b=1", "{}", "{\"a.b\":1}");
    one_op("overwrite", "a\\\\.b=1", "{}", "{\"a\\\\\":{\"b\":1}}");
    one_op("cast", "meta.n=long", "{\"meta\":{\"n\":\"5\"}}", "{\"meta\":{\"n\":5}}");
    one_op_fail("default", "meta.site=lab", "{\"meta\":5}",
                "default meta.site: 'meta' is a number, not an object");
    one_op_fail("overwrite", "a.b.c=1", "{\"a\":{\"b\":[1]}}", "'a.b' is an array, not an object");
    /* reading ops see a path through a non-object as a missing field */
    one_op("cast", "meta.n=long", "{\"meta\":\"x\"}", "{\"meta\":\"x\"}");
    one_op("remove", "meta.n", "{\"meta\":[1]}", "{\"meta\":[1]}");
    one_op("rename", "meta.n=m", "{\"meta\":true}", "{\"meta\":true}");
    expect_add_fail("default", "a..b=1", "empty name between dots");
    expect_add_fail("default", ".a=1", "empty name between dots");
    expect_add_fail("remove", "a.", "empty name between dots");
    expect_add_fail("default", "=1", "empty field name");
    expect_add_fail("remove", "\xff", "not valid UTF-8");
}

static void test_rename_remove(void **state)
{
    (void)state;
    one_op("rename", "temp=temperature", "{\"temp\":1}", "{\"temperature\":1}");
    one_op("rename", "temp=temperature", "{\"x\":1}", "{\"x\":1}");
    one_op("rename", "temp=temperature", "{\"temp\":1,\"temperature\":2}", "{\"temperature\":1}");
    one_op("rename", "temp=m.t", "{\"temp\":{\"v\":1}}", "{\"m\":{\"t\":{\"v\":1}}}");
    one_op("rename", "a=a.b", "{\"a\":1}", "{\"a\":{\"b\":1}}");
    one_op("rename", "a.b=a", "{\"a\":{\"b\":1}}", "{\"a\":1}");
    one_op("rename", "a=a", "{\"a\":1}", "{\"a\":1}");
    one_op("rename", "a.b=a.b.c", "{\"a\":{\"b\":2}}", "{\"a\":{\"b\":{\"c\":2}}}");
    one_op("rename", "n=m", "{\"n\":null}", "{\"m\":null}");
    /* a rename whose destination is blocked leaves the document unchanged */
    const char *ops[] = {"rename", "a=x.y", NULL};
    ef_transform *t = pipeline(ops);
    json_t *d = doc_of("{\"a\":1,\"x\":\"s\"}"), *w = doc_of("{\"a\":1,\"x\":\"s\"}");
    assert_int_equal(ef_transform_apply(t, d, NULL, g_err, sizeof g_err), EF_EINVAL);
    assert_non_null(strstr(g_err, "rename a to x.y: 'x' is a string, not an object"));
    assert_true(json_equal(d, w));
    json_decref(d);
    json_decref(w);
    ef_transform_free(t);

    one_op("remove", "debug", "{\"debug\":1,\"x\":2}", "{\"x\":2}");
    one_op("remove", "debug", "{\"x\":2}", "{\"x\":2}");
    one_op("remove", "m.d", "{\"m\":{\"d\":1,\"e\":2}}", "{\"m\":{\"e\":2}}");
    one_op("remove", " debug ", "{\"debug\":1}", "{}");
}

static void test_add_errors(void **state)
{
    (void)state;
    expect_add_fail("shift", "a=b", "unknown operation 'shift'");
    expect_add_fail("default", "novalue", "default: expected field=value, got 'novalue'");
    expect_add_fail("cast", "x", "cast: expected field=type");
    expect_add_fail("rename", "x", "rename: expected old=new");
    expect_add_fail("cast", "x=int64",
                    "cast: unknown type 'int64' (use long, double, string or bool)");
    expect_add_fail("cast", "x=Long", "unknown type 'Long'");
    expect_add_fail("rename", "x=", "empty field name");
    ef_transform *t = ef_transform_new();
    assert_int_equal(ef_transform_add_field(t, "remove", "x", "y", g_err, sizeof g_err), EF_EINVAL);
    assert_int_equal(ef_transform_add_field(t, "default", "x", NULL, g_err, sizeof g_err),
                     EF_EINVAL);
    assert_int_equal(ef_transform_add_field(t, "default", "a=b", "1", NULL, 0), EF_OK);
    assert_int_equal(ef_transform_count(t), 1);
    json_t *d = json_object();
    assert_int_equal(ef_transform_apply(t, d, NULL, NULL, 0), EF_OK);
    assert_int_equal(json_integer_value(json_object_get(d, "a=b")), 1);
    json_decref(d);
    /* documents must be objects */
    d = json_array();
    assert_int_equal(ef_transform_apply(t, d, NULL, g_err, sizeof g_err), EF_EINVAL);
    assert_non_null(strstr(g_err, "not a JSON object"));
    json_decref(d);
    ef_transform_free(t);
}

/* --- casts ---------------------------------------------------------------------------------- */

static void cast_ok(const char *type, const char *in, const char *want)
{
    char arg[32], doc[512], out[512];
    snprintf(arg, sizeof arg, "v=%s", type);
    snprintf(doc, sizeof doc, "{\"v\":%s}", in);
    snprintf(out, sizeof out, "{\"v\":%s}", want);
    one_op("cast", arg, doc, out);
    /* and the result type is exact (json_equal treats 1 and 1.0 as different already) */
}

static void cast_bad(const char *type, const char *in, const char *want_msg)
{
    char arg[32], doc[512];
    snprintf(arg, sizeof arg, "v=%s", type);
    snprintf(doc, sizeof doc, "{\"v\":%s}", in);
    one_op_fail("cast", arg, doc, want_msg);
}

static void test_cast_long(void **state)
{
    (void)state;
    cast_ok("long", "5", "5");
    cast_ok("long", "-1.9", "-1");
    cast_ok("long", "1.9", "1");
    cast_ok("long", "1e18", "1000000000000000000");
    cast_ok("long", "-9223372036854775808.0", "-9223372036854775808");
    cast_ok("long", "\"123\"", "123");
    cast_ok("long", "\" 42 \"", "42");
    cast_ok("long", "\"+42\"", "42");
    cast_ok("long", "\"1.7e3\"", "1700");
    cast_ok("long", "\"-2.5\"", "-2");
    cast_ok("long", "\".5\"", "0");
    cast_ok("long", "\"007\"", "7");
    cast_ok("long", "\"1e-400\"", "0");
    cast_ok("long", "\"9223372036854775807\"", "9223372036854775807");
    cast_ok("long", "\"-9223372036854775808\"", "-9223372036854775808");
    cast_ok("long", "true", "1");
    cast_ok("long", "false", "0");
    cast_ok("long", "null", "null");
    cast_bad("long", "\"9223372036854775808\"",
             "cast v to long: out of range: \"9223372036854775808\"");
    cast_bad("long", "\"-9223372036854775809\"", "out of range");
    cast_bad("long", "9223372036854775808.0", "out of range: 9.223372036854776e+18");
    cast_bad("long", "-9.3e18", "out of range");
    cast_bad("long", "\"9.3e18\"", "out of range");
    cast_bad("long", "\"1e400\"", "out of range: \"1e400\"");
    cast_bad("long", "\"abc\"", "cast v to long: not a number: \"abc\"");
    cast_bad("long", "\"\"", "not a number: \"\"");
    cast_bad("long", "\"  \"", "not a number");
    cast_bad("long", "\"NaN\"", "not a number");
    cast_bad("long", "\"inf\"", "not a number");
    cast_bad("long", "\"-Infinity\"", "not a number");
    cast_bad("long", "\"0x10\"", "not a number");
    cast_bad("long", "\"1e\"", "not a number");
    cast_bad("long", "\"12abc\"", "not a number");
    cast_bad("long", "\".\"", "not a number");
    cast_bad("long", "{}", "cast v to long: value is an object");
    cast_bad("long", "[1]", "value is an array");
    /* missing field: no-op */
    one_op("cast", "v=long", "{\"w\":\"x\"}", "{\"w\":\"x\"}");
}

static void test_cast_double(void **state)
{
    (void)state;
    cast_ok("double", "5", "5.0");
    cast_ok("double", "2.5", "2.5");
    cast_ok("double", "\"2.5\"", "2.5");
    cast_ok("double", "\" -1e3 \"", "-1000.0");
    cast_ok("double", "\"9223372036854775808\"", "9223372036854775808.0");
    cast_ok("double", "\"1e-400\"", "0.0");
    cast_ok("double", "true", "1.0");
    cast_ok("double", "false", "0.0");
    cast_ok("double", "null", "null");
    cast_bad("double", "\"1e400\"", "cast v to double: out of range: \"1e400\"");
    cast_bad("double", "\"-1e400\"", "out of range");
    cast_bad("double", "\"nan\"", "not a number: \"nan\"");
    cast_bad("double", "\"infinity\"", "not a number");
    cast_bad("double", "\"abc\"", "not a number");
    cast_bad("double", "[]", "value is an array");
}

static void test_cast_string(void **state)
{
    (void)state;
    cast_ok("string", "5", "\"5\"");
    cast_ok("string", "-9223372036854775808", "\"-9223372036854775808\"");
    cast_ok("string", "0.1", "\"0.1\"");
    cast_ok("string", "1.0", "\"1.0\"");
    cast_ok("string", "-0.0", "\"-0.0\"");
    cast_ok("string", "1e20", "\"1e+20\"");
    cast_ok("string", "1.5e-7", "\"1.5e-07\"");
    cast_ok("string", "0.30000000000000004", "\"0.30000000000000004\"");
    cast_ok("string", "123456.789", "\"123456.789\"");
    cast_ok("string", "true", "\"true\"");
    cast_ok("string", "false", "\"false\"");
    cast_ok("string", "\"x\"", "\"x\"");
    cast_ok("string", "null", "null");
    cast_bad("string", "{\"a\":1}", "cast v to string: value is an object");
    cast_bad("string", "[]", "value is an array");

    /* shortest round trip for many reals */
    char buf[64];
    srand(7);
    for (int i = 0; i < 20000; i++) {
        double d = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 40 - 20);
        int n = ef_json_format_double(d, buf, sizeof buf);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        assert_true(strtod(buf, NULL) == d);
    }
    assert_int_equal(ef_json_format_double(0.1, buf, sizeof buf), 3);
}

static void test_cast_bool(void **state)
{
    (void)state;
    cast_ok("bool", "true", "true");
    cast_ok("bool", "false", "false");
    cast_ok("bool", "1", "true");
    cast_ok("bool", "0", "false");
    cast_ok("bool", "1.0", "true");
    cast_ok("bool", "0.0", "false");
    cast_ok("bool", "\"true\"", "true");
    cast_ok("bool", "\"FALSE\"", "false");
    cast_ok("bool", "\" Yes \"", "true");
    cast_ok("bool", "\"no\"", "false");
    cast_ok("bool", "\"1\"", "true");
    cast_ok("bool", "\"0\"", "false");
    cast_ok("bool", "null", "null");
    cast_bad("bool", "2", "cast v to bool: not a boolean: 2");
    cast_bad("bool", "-1", "not a boolean: -1");
    cast_bad("bool", "0.5", "not a boolean: 0.5");
    cast_bad("bool", "\"maybe\"", "not a boolean: \"maybe\"");
    cast_bad("bool", "\"\"", "not a boolean");
    cast_bad("bool", "\"on\"", "not a boolean");
    cast_bad("bool", "{}", "value is an object");
}

static void test_error_message_quoting(void **state)
{
    (void)state;
    /* long and binary-ish strings are shortened and escaped in messages */
    cast_bad("long", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
             "...\"");
    cast_bad("long", "\"a\\nb\\\"\"", "not a number: \"a\\x0ab\\x22\"");
}

/* --- the reference NiFi Jolt spec ------------------------------------------------------------ */

static void check_reference(ef_transform *t)
{
    ef_transform_ctx ctx = {1700000000123, "sensor/pi-1"};
    /* no collected: now_ms, as an integer */
    expect(t, &ctx, "{\"device\":\"pi-1\",\"temp\":41234,\"load\":0.5}",
           "{\"device\":\"pi-1\",\"temp\":41234,\"load\":0.5,\"collected\":1700000000123}");
    /* collected as a numeric string: cast to long */
    expect(t, &ctx, "{\"device\":\"pi-1\",\"collected\":\"1700000000000\"}",
           "{\"device\":\"pi-1\",\"collected\":1700000000000}");
    /* existing collected kept */
    expect(t, &ctx, "{\"collected\":1650000000000}", "{\"collected\":1650000000000}");
    expect(t, &ctx, "{\"collected\":1650000000000.7}", "{\"collected\":1650000000000}");
    /* collected null: treated as missing, like Jolt's modify-default */
    expect(t, &ctx, "{\"collected\":null}", "{\"collected\":1700000000123}");
    /* garbage goes to dead letters with a reason */
    expect_fail(t, &ctx, "{\"collected\":\"yesterday\"}",
                "cast collected to long: not a number: \"yesterday\"");

    char name[256];
    json_t *d = doc_of("{\"temp\":1}");
    int64_t ms;
    assert_int_equal(ef_transform_apply(t, d, &ctx, g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_OK);
    assert_int_equal(ms, 1700000000123);
    const char *pattern = ef_transform_index_pattern(t);
    assert_non_null(pattern);
    assert_int_equal(ef_transform_index_name(pattern, ms, name, sizeof name), EF_OK);
    assert_string_equal(name, "sensor-2023-11");
    json_decref(d);
}

static void test_nifi_reference(void **state)
{
    (void)state;
    /* flags */
    const char *ops[] = {"default", "collected=${now_ms}", "cast", "collected=long", NULL};
    ef_transform *t = pipeline(ops);
    assert_int_equal(ef_transform_set_index_pattern(t, "sensor-%Y-%m", g_err, sizeof g_err), EF_OK);
    check_reference(t);
    ef_transform_free(t);

    /* the checked-in reference pipeline */
    const char *src = getenv("EF_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/pipeline.yaml", src ? src : "../..");
    t = ef_transform_new();
    if (ef_transform_load_yaml(t, path, g_err, sizeof g_err) != EF_OK) fail_msg("%s", g_err);
    assert_string_equal(ef_transform_time_field(t), "collected");
    check_reference(t);
    ef_transform_free(t);
}

/* --- YAML ------------------------------------------------------------------------------------ */

static int load_mem(ef_transform *t, const char *yaml)
{
    g_err[0] = '\0';
    return ef_transform_load_yaml_mem(t, "pipeline.yaml", yaml, strlen(yaml), g_err, sizeof g_err);
}

static void yaml_fail(const char *yaml, const char *want_msg)
{
    ef_transform *t = ef_transform_new();
    assert_int_equal(ef_transform_add(t, "remove", "keep", g_err, sizeof g_err), EF_OK);
    int rc = load_mem(t, yaml);
    if (rc != EF_EINVAL) fail_msg("want EF_EINVAL for:\n%s\ngot %d", yaml, rc);
    if (strcmp(g_err, want_msg) != 0 && !strstr(g_err, want_msg))
        fail_msg("message '%s' lacks '%s'", g_err, want_msg);
    /* a failed load leaves the pipeline as it was */
    assert_int_equal(ef_transform_count(t), 1);
    assert_null(ef_transform_index_pattern(t));
    assert_null(ef_transform_time_field(t));
    ef_transform_free(t);
}

static void test_yaml_load(void **state)
{
    (void)state;
    const char *yaml = "# every op\n"
                       "index: env-%Y.%m.%d\n"
                       "time_field: meta.ts\n"
                       "transforms:\n"
                       "  - default: {meta.ts: \"${now_ms}\", site: lab}\n"
                       "  - overwrite:\n"
                       "      source: '\"${topic[0]}\"'\n"
                       "      n: 7\n"
                       "      nothing: ~\n"
                       "      empty:\n"
                       "  - cast: {meta.ts: long, n: string}\n"
                       "  - rename: {temp: temperature}\n"
                       "  - remove: [debug, meta.raw]\n"
                       "  - remove: junk\n"
                       "  - overwrite: \"flag=yes\"\n";
    ef_transform *t = ef_transform_new();
    if (load_mem(t, yaml) != EF_OK) fail_msg("%s", g_err);
    assert_int_equal(ef_transform_count(t), 13);
    assert_string_equal(ef_transform_index_pattern(t), "env-%Y.%m.%d");
    assert_string_equal(ef_transform_time_field(t), "meta.ts");
    ef_transform_ctx ctx = {86400000, "123/x"};
    expect(t, &ctx, "{\"temp\":5,\"debug\":1,\"junk\":2,\"meta\":{\"raw\":\"r\",\"ts\":\"77\"}}",
           "{\"temperature\":5,\"site\":\"lab\",\"source\":\"123\",\"n\":\"7\",\"nothing\":null,"
           "\"empty\":null,\"flag\":\"yes\",\"meta\":{\"ts\":77}}");
    json_t *d = doc_of("{}");
    int64_t ms;
    assert_int_equal(ef_transform_apply(t, d, &ctx, g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_OK);
    assert_int_equal(ms, 86400000);
    json_decref(d);

    /* a second file appends */
    assert_int_equal(load_mem(t, "transforms:\n  - remove: x\n"), EF_OK);
    assert_int_equal(ef_transform_count(t), 14);
    assert_string_equal(ef_transform_index_pattern(t), "env-%Y.%m.%d");
    /* empty files and empty lists are fine */
    assert_int_equal(load_mem(t, ""), EF_OK);
    assert_int_equal(load_mem(t, "transforms:\n"), EF_OK);
    assert_int_equal(load_mem(t, "transforms: []\n"), EF_OK);
    assert_int_equal(ef_transform_count(t), 14);
    ef_transform_free(t);

    yaml_fail("transforms:\n  - default: {collected: \"${now_ms}\"}\n\n\n\n"
              "  - cast: {collected: int64}\n",
              "pipeline.yaml:6: cast: unknown type 'int64' (use long, double, string or bool)");
    yaml_fail("transforms:\n  - shift: {a: b}\n", "pipeline.yaml:2: unknown operation 'shift'");
    yaml_fail("transforms:\n  - default: {a: \"${later}\"}\n",
              "pipeline.yaml:2: default a: unknown placeholder '${later}'");
    yaml_fail("transforms:\n  - default: {a: 1}\n    cast: {a: long}\n",
              "pipeline.yaml:2: each transforms entry must be a mapping with one operation");
    yaml_fail("transforms:\n  - cast\n", "pipeline.yaml:2: each transforms entry");
    yaml_fail("transforms:\n  - default: {a: [1, 2]}\n",
              "pipeline.yaml:2: default a: the value must be a scalar");
    yaml_fail("transforms:\n  - default: [a]\n", "pipeline.yaml:2: default: expected a mapping");
    yaml_fail("transforms:\n  - remove: {a: 1}\n",
              "pipeline.yaml:2: remove: expected a field name");
    yaml_fail("transforms:\n  - remove: [a, [b]]\n", "pipeline.yaml:2: remove: each entry");
    yaml_fail("transforms:\n  - rename: {a: \"\"}\n",
              "pipeline.yaml:2: rename a: empty field name");
    yaml_fail("transforms: {a: 1}\n", "pipeline.yaml:1: transforms: expected a list");
    yaml_fail(
        "transform:\n  - remove: a\n",
        "pipeline.yaml:1: unknown key 'transform' (expected index, time_field or transforms)");
    yaml_fail("- a\n- b\n", "pipeline.yaml:1: the top level must be a mapping");
    yaml_fail("index: Sensor-%Y\n",
              "pipeline.yaml:1: index: invalid pattern 'Sensor-%Y': uppercase 'S'");
    yaml_fail("\nindex: sensor-%Q\n",
              "pipeline.yaml:2: index: invalid pattern 'sensor-%Q': unknown conversion '%Q'");
    yaml_fail("index: [a]\n", "pipeline.yaml:1: index: expected a string");
    yaml_fail("time_field: a..b\n", "pipeline.yaml:1: time_field: invalid field 'a..b'");
    yaml_fail("transforms:\n  - default: {a: 1}\n  - cast: {a: long\n", "pipeline.yaml:");
    yaml_fail("transforms:\n  - default: {a: 1}\n  - cast: {a: long\n", "YAML syntax error");
    yaml_fail("a: b: c\n", "pipeline.yaml:1: YAML syntax error");
    yaml_fail("transforms:\n  - default: {a: \"\\0\"}\n", "NUL");

    /* files */
    char path[] = "/tmp/ef_pipeline_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "index: sensor-%Y-%m\ntransforms:\n  - cast: {collected: int64}\n";
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    t = ef_transform_new();
    assert_int_equal(ef_transform_load_yaml(t, path, g_err, sizeof g_err), EF_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "%s:3: cast: unknown type 'int64'", path);
    assert_non_null(strstr(g_err, want));
    unlink(path);
    assert_int_equal(ef_transform_load_yaml(t, path, g_err, sizeof g_err), EF_EIO);
    assert_non_null(strstr(g_err, "cannot read"));
    ef_transform_free(t);
}

/* The complete example of docs/pipeline.md, so the documentation stays true. */
static void test_docs_example(void **state)
{
    (void)state;
    const char *yaml =
        "index: sensor-%Y-%m\n"
        "time_field: collected\n"
        "transforms:\n"
        "  - default: {collected: \"${now_ms}\"}\n"
        "  - cast: {collected: long}\n"
        "  - default:\n"
        "      device: '\"${topic[1]}\"'\n"
        "      meta.site: lab\n"
        "  - overwrite: {meta.ingested_at: \"${now_ms}\", meta.source: '\"${topic}\"'}\n"
        "  - cast: {temp: double, load: double, seq: long}\n"
        "  - rename: {temp: temperature}\n"
        "  - remove: [debug, meta.raw]\n";
    ef_transform *t = ef_transform_new();
    if (load_mem(t, yaml) != EF_OK) fail_msg("%s", g_err);
    ef_transform_ctx ctx = {1700000000123, "sensor/pi-7"};
    expect(t, &ctx, "{\"temp\": \"41.5\", \"load\": 0.25, \"seq\": \"12\", \"debug\": true}",
           "{\"temperature\": 41.5, \"load\": 0.25, \"seq\": 12, \"collected\": 1700000000123,"
           " \"device\": \"pi-7\", \"meta\": {\"site\": \"lab\", \"ingested_at\": 1700000000123,"
           " \"source\": \"sensor/pi-7\"}}");
    char name[64];
    assert_int_equal(
        ef_transform_index_name(ef_transform_index_pattern(t), 1700000000123, name, sizeof name),
        EF_OK);
    assert_string_equal(name, "sensor-2023-11");
    ef_transform_free(t);
}

/* --- index names ---------------------------------------------------------------------------- */

static void index_is(const char *pattern, int64_t ms, const char *want)
{
    char out[300];
    if (ef_transform_index_name(pattern, ms, out, sizeof out) != EF_OK)
        fail_msg("index %s at %" PRId64 " failed", pattern, ms);
    if (strcmp(out, want) != 0)
        fail_msg("index %s at %" PRId64 ": %s != %s", pattern, ms, out, want);
}

static void index_bad(const char *pattern)
{
    char out[300];
    if (ef_transform_index_name(pattern, 1700000000000, out, sizeof out) != EF_EINVAL)
        fail_msg("pattern '%s' should be refused", pattern);
}

static void test_index_name(void **state)
{
    (void)state;
    index_is("sensor-%Y-%m", 1700000000000, "sensor-2023-11");
    index_is("sensor", 1700000000000, "sensor");
    /* month and year boundaries: 2023-12-31T23:59:59.999Z and the next millisecond */
    index_is("sensor-%Y-%m", 1704067199999, "sensor-2023-12");
    index_is("sensor-%Y-%m", 1704067200000, "sensor-2024-01");
    index_is("s-%Y.%m.%d.%H", 1704067199999, "s-2023.12.31.23");
    index_is("s-%Y.%m.%d.%H", 1704067200000, "s-2024.01.01.00");
    /* leap day, %j */
    index_is("s-%Y-%j", 1709164800000, "s-2024-060"); /* 2024-02-29 */
    index_is("s-%Y-%j", 1735603200000, "s-2024-366"); /* 2024-12-31 */
    index_is("s-%m-%d", 1709251199999, "s-02-29");
    index_is("s-%m-%d", 1709251200000, "s-03-01");
    /* ISO weeks across years */
    index_is("w-%G-%V", 1609632000000, "w-2020-53"); /* 2021-01-03, a Sunday */
    index_is("w-%G-%V", 1609718400000, "w-2021-01"); /* 2021-01-04, a Monday */
    index_is("w-%G-%V", 1735516800000, "w-2025-01"); /* 2024-12-30 */
    index_is("w-%G-%V", 0, "w-1970-01");
    /* before the epoch */
    index_is("s-%Y-%m-%d-%H", -1, "s-1969-12-31-23");
    index_is("s-%Y-%m-%d", -86400001, "s-1969-12-30");
    index_is("pct-%%-%Y", 0, "pct-%-1970");
    /* the whole int64 range (weeks checked with Python on the same day 400-year cycles later) */
    index_is("s-%Y-%m-%d-%H-%j-%G-%V", INT64_MIN, "s--292275055-05-16-16-136--292275055-19");
    index_is("s-%Y-%m-%d-%H-%j-%G-%V", INT64_MAX, "s-292278994-08-17-07-229-292278994-33");
    index_is(".hidden-%Y", 0, ".hidden-1970");
    index_is("caf\xc3\xa9-%Y", 0, "caf\xc3\xa9-1970");

    /* against the C library over many instants */
    srand(11);
    for (int i = 0; i < 20000; i++) {
        int64_t ms = ((int64_t)rand() << 20 ^ rand()) % 7258118400000LL; /* 1970..2200 */
        if (i & 1) ms = -ms / 4;
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[64], got[64];
        strftime(want, sizeof want, "x%Y-%m-%d-%H-%j-%G-%V", &tm);
        assert_int_equal(ef_transform_index_name("x%Y-%m-%d-%H-%j-%G-%V", ms, got, sizeof got),
                         EF_OK);
        if (strcmp(want, got) != 0) fail_msg("ms %" PRId64 ": %s != %s", ms, got, want);
    }

    index_bad("");
    index_bad("Sensor-%Y");
    index_bad("sensor %Y");
    index_bad("sensor/%Y");
    index_bad("sensor,%Y");
    index_bad("sensor#%Y");
    index_bad("sensor*");
    index_bad("a?b");
    index_bad("a\"b");
    index_bad("a<b");
    index_bad("a>b");
    index_bad("a|b");
    index_bad("a\\b");
    index_bad("a:b");
    index_bad("a\tb");
    index_bad("-sensor");
    index_bad("_sensor");
    index_bad("+sensor");
    index_bad(".");
    index_bad("..");
    index_bad("sensor-%M");
    index_bad("sensor-%");
    index_bad("\xff-%Y");
    char longp[300];
    memset(longp, 'a', 255);
    longp[255] = '\0';
    index_is(longp, 0, longp);
    longp[255] = 'a';
    longp[256] = '\0';
    index_bad(longp);
    memset(longp, 'a', 252);
    strcpy(longp + 252, "%Y"); /* 252 + 4 digits = 256 */
    index_bad(longp);
    char small[8];
    assert_int_equal(ef_transform_index_name("sensor-%Y", 0, small, sizeof small), EF_EINVAL);
    assert_int_equal(ef_transform_index_name("sensor", 0, small, sizeof small), EF_OK);
    assert_string_equal(small, "sensor");

    ef_transform *t = ef_transform_new();
    assert_null(ef_transform_index_pattern(t));
    assert_int_equal(ef_transform_set_index_pattern(t, "a-%Y", g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_set_index_pattern(t, "A-%Y", g_err, sizeof g_err), EF_EINVAL);
    assert_string_equal(ef_transform_index_pattern(t), "a-%Y");
    ef_transform_free(t);
}

static void test_doc_time(void **state)
{
    (void)state;
    ef_transform *t = ef_transform_new();
    int64_t ms = 0;
    assert_null(ef_transform_time_field(t));
    json_t *d = doc_of("{\"collected\":5,\"m\":{\"t\":2.9},\"s\":\"x\",\"n\":null,\"big\":1e30}");
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_OK);
    assert_int_equal(ms, 5);
    assert_int_equal(ef_transform_set_time_field(t, "m.t", g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_OK);
    assert_int_equal(ms, 2);
    assert_int_equal(ef_transform_set_time_field(t, "s", g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_EINVAL);
    assert_int_equal(ef_transform_set_time_field(t, "big", g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_EINVAL);
    assert_int_equal(ef_transform_set_time_field(t, "n", g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_ENOTFOUND);
    assert_int_equal(ef_transform_set_time_field(t, "s.x", g_err, sizeof g_err), EF_OK);
    assert_int_equal(ef_transform_doc_time_ms(t, d, &ms), EF_ENOTFOUND);
    assert_int_equal(ef_transform_set_time_field(t, "", g_err, sizeof g_err), EF_EINVAL);
    assert_string_equal(ef_transform_time_field(t), "s.x");
    json_decref(d);
    ef_transform_free(t);
    ef_transform_free(NULL);
}

/* Throughput of the reference pipeline (informational; the assertion only guards against a
 * pathological slowdown). */
static void test_throughput(void **state)
{
    (void)state;
    const char *ops[] = {"default", "collected=${now_ms}", "cast",    "collected=long",
                         "rename",  "temp=temperature",    "default", "device=${topic[1]}",
                         NULL};
    ef_transform *t = pipeline(ops);
    ef_transform_ctx ctx = {1700000000000, "sensor/pi-1"};
    const int n = 200000;
    int64_t t0 = ef_mono_us();
    for (int i = 0; i < n; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "temp", json_integer(41000 + i % 100));
        json_object_set_new(d, "load", json_real(0.25));
        assert_int_equal(ef_transform_apply(t, d, &ctx, g_err, sizeof g_err), EF_OK);
        json_decref(d);
    }
    int64_t us = ef_mono_us() - t0;
    printf("# transform: %d readings in %" PRId64 " ms (%.0f/s, incl. building the docs)\n", n,
           us / 1000, n / (us / 1e6));
    assert_true(us < 20 * 1000 * 1000);
    ef_transform_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_overwrite),
        cmocka_unit_test(test_value_text),
        cmocka_unit_test(test_placeholders),
        cmocka_unit_test(test_dotted_paths),
        cmocka_unit_test(test_rename_remove),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_cast_long),
        cmocka_unit_test(test_cast_double),
        cmocka_unit_test(test_cast_string),
        cmocka_unit_test(test_cast_bool),
        cmocka_unit_test(test_error_message_quoting),
        cmocka_unit_test(test_nifi_reference),
        cmocka_unit_test(test_yaml_load),
        cmocka_unit_test(test_docs_example),
        cmocka_unit_test(test_index_name),
        cmocka_unit_test(test_doc_time),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
