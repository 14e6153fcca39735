/* Unit tests for src/tracking/search.c: MLflow's filter / order_by grammar compiled to SQL, and
 * page tokens.
 *
 * Two layers: (1) compile-only checks — the SQL shape and bound parameters of the reference filter,
 * quoting variants, dialect differences, and every error with MLflow's message; (2) execution —
 * the compiled SQL run against the real schema (trk__migrate) with fixture rows, asserting which
 * runs / experiments / registered models / model versions match and in which order, including
 * LIKE vs ILIKE case sensitivity, NaN and missing metrics, and paging. Layer (2) runs on an
 * in-memory SQLite database and again on a throwaway PostgreSQL cluster
 * (scripts/pg-test-cluster.sh; those tests skip when the PostgreSQL binaries are not installed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "sql/sql.h"
#include "tracking/search.h"
#include "tracking/trk_int.h"

/* --- compile helpers ---------------------------------------------------------------------- */
static json_t *order_json(const char *order)
{
    if (!order) return NULL;
    json_t *j = json_loads(order, 0, NULL);
    if (!j) fail_msg("bad test order_by JSON: %s", order);
    return j;
}

/* Compiles; asserts success. */
static void compile(trk_search_kind kind, ef_sql_dialect_t d, const char *filter, const char *order,
                    trk_search_sql *out)
{
    trk_err e = {0};
    json_t *o = order_json(order);
    int rc = trk__search_compile(kind, d, filter, o, out, &e);
    json_decref(o);
    if (rc) fail_msg("compile(%s) failed: %s", filter ? filter : "", e.message);
}

/* Compiles; asserts INVALID_PARAMETER_VALUE with a message containing want. */
static void expect_error(trk_search_kind kind, const char *filter, const char *order,
                         const char *want)
{
    trk_search_sql s;
    trk_err e = {0};
    json_t *o = order_json(order);
    int rc = trk__search_compile(kind, EF_SQL_SQLITE, filter, o, &s, &e);
    json_decref(o);
    if (rc == 0) {
        trk__search_sql_release(&s);
        fail_msg("compile(%s | %s) succeeded, wanted error '%s'", filter ? filter : "",
                 order ? order : "", want);
    }
    assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
    if (!strstr(e.message, want))
        fail_msg("filter %s | %s: message '%s' lacks '%s'", filter ? filter : "",
                 order ? order : "", e.message, want);
}

static void test_reference_filter_sql(void **state)
{
    (void)state;
    trk_search_sql s;
    compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, "metrics.rmse < 0.8 and params.alpha = '0.5'", NULL,
            &s);
    assert_non_null(strstr(s.where.data, "latest_metrics"));
    assert_non_null(strstr(s.where.data, "FROM params"));
    assert_null(strstr(s.where.data, "0.5")); /* values are bound, never pasted */
    assert_null(strstr(s.where.data, "rmse"));
    assert_int_equal(s.nparams, 4);
    assert_int_equal(s.params[0].type, 't');
    assert_string_equal(s.params[0].s, "rmse");
    assert_int_equal(s.params[1].type, 'd');
    assert_true(s.params[1].d == 0.8);
    assert_string_equal(s.params[2].s, "alpha");
    assert_string_equal(s.params[3].s, "0.5");
    assert_string_equal(s.order.data, "ORDER BY runs.start_time DESC, runs.run_uuid ASC");
    trk__search_sql_release(&s);

    /* empty filter, NULL filter */
    compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, "", NULL, &s);
    assert_string_equal(s.where.data, "1=1");
    assert_int_equal(s.nparams, 0);
    trk__search_sql_release(&s);
    compile(TRK_SEARCH_EXPERIMENTS, EF_SQL_SQLITE, NULL, "[]", &s);
    assert_string_equal(s.order.data,
                        "ORDER BY experiments.creation_time DESC, experiments.experiment_id ASC");
    trk__search_sql_release(&s);
}

static void test_quoting_variants(void **state)
{
    (void)state;
    static const char *const same[] = {
        "params.alpha = '0.5'",       "params.alpha = \"0.5\"",  "param.alpha='0.5'",
        "`params`.`alpha` = '0.5'",   "params.`alpha` = '0.5'",  "params.\"alpha\" = '0.5'",
        "parameters.alpha  =  '0.5'", "parameter.alpha = '0.5'", "`parameters`.alpha = '0.5'",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        trk_search_sql s;
        compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, same[i], NULL, &s);
        assert_int_equal(s.nparams, 2);
        assert_string_equal(s.params[0].s, "alpha");
        assert_string_equal(s.params[1].s, "0.5");
        trk__search_sql_release(&s);
    }
    trk_search_sql s;
    compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, "metrics.\"my metric\" >= -1.5e3", NULL, &s);
    assert_string_equal(s.params[0].s, "my metric");
    assert_true(s.params[1].d == -1500.0);
    trk__search_sql_release(&s);
    compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, "params.`a.b` = 'x' AND tags.a.b.c != 'it''s'", NULL,
            &s);
    assert_string_equal(s.params[0].s, "a.b");
    assert_string_equal(s.params[2].s, "a.b.c");
    assert_string_equal(s.params[3].s, "it''s"); /* MLflow keeps the inner text as written */
    trk__search_sql_release(&s);
    /* numbers: integers bind as int64 for attributes, doubles otherwise */
    compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, "start_time > 5 and end_time <= 1.5 and created = -3",
            NULL, &s);
    assert_int_equal(s.params[0].type, 'i');
    assert_int_equal(s.params[0].i, 5);
    assert_int_equal(s.params[1].type, 'd');
    assert_int_equal(s.params[2].i, -3);
    trk__search_sql_release(&s);
}

static void test_like_dialects(void **state)
{
    (void)state;
    trk_search_sql s;
    /* SQLite: LIKE -> GLOB with a translated pattern; ILIKE -> LIKE with escapes */
    compile(TRK_SEARCH_RUNS, EF_SQL_SQLITE, "tags.t LIKE 'a%b_c*?[\\_' and tags.t ILIKE 'x\\%y%'",
            NULL, &s);
    assert_non_null(strstr(s.where.data, "x.value GLOB ?"));
    assert_non_null(strstr(s.where.data, "x.value LIKE ? ESCAPE '\\'"));
    assert_string_equal(s.params[1].s, "a*b?c[*][?][[]_");
    assert_string_equal(s.params[3].s, "x\\%y%");
    trk__search_sql_release(&s);
    /* PostgreSQL: native LIKE / ILIKE, '\' escaping normalised */
    compile(TRK_SEARCH_RUNS, EF_SQL_POSTGRES, "tags.t LIKE \"a%b_*\\\" and tags.t ilike 'Q'",
            "[\"tags.t\"]", &s);
    assert_non_null(strstr(s.where.data, "x.value LIKE ? ESCAPE '\\'"));
    assert_non_null(strstr(s.where.data, "x.value ILIKE ? ESCAPE '\\'"));
    assert_string_equal(s.params[1].s, "a%b_*\\\\");
    assert_non_null(strstr(s.order.data, "COLLATE \"C\""));
    trk__search_sql_release(&s);
}

static void test_run_filter_errors(void **state)
{
    (void)state;
    const trk_search_kind R = TRK_SEARCH_RUNS;
    expect_error(R, "metrics.a < 1 or metrics.b > 2", NULL,
                 "Invalid clause(s) in filter string: 'or'");
    expect_error(R, "metrics.a < 1 OR metrics.b > 2", NULL, "filter string: 'OR'");
    expect_error(R, "(metrics.a < 1)", NULL, "filter string: '(metrics.a < 1)'");
    expect_error(R, "metrics.a < 1 and (params.b = 'x' or params.c = 'y')", NULL,
                 "filter string: '(params.b = 'x' or params.c = 'y')'");
    expect_error(R, "not metrics.a < 1", NULL, "filter string: 'not'");
    expect_error(R, "metrics.a", NULL, "filter string: 'metrics.a'");
    expect_error(R, "metrics.a < 'x'", NULL, "Expected numeric value type for metric. Found 'x'");
    expect_error(R, "metrics.a < b", NULL, "Expected numeric value type for metric. Found b");
    expect_error(R, "params.alpha > '0.4'", NULL, "Invalid comparator '>' not one of");
    expect_error(R, "tags.t < 'x'", NULL, "Invalid comparator '<' not one of");
    expect_error(R, "metrics.a LIKE 1", NULL, "Invalid comparator 'LIKE' not one of");
    expect_error(R, "metrics.a <> 1", NULL, "Invalid comparator '<>'");
    expect_error(R, "foo.a = 'x'", NULL,
                 "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', "
                 "'attribute', 'dataset']");
    expect_error(R, "attributes.lifecycle_stage = 'active'", NULL,
                 "Invalid attribute key 'lifecycle_stage' specified. Valid keys are");
    expect_error(R, "run_name IN ('a')", NULL,
                 "Only the 'run_id' attribute supports comparison with a list of quoted string "
                 "values.");
    expect_error(R, "run_id IN ()", NULL,
                 "expected a non-empty list of string values, but got empty list");
    expect_error(R, "run_id IN ('a', 1)", NULL, "but got different type in list: ('a', 1)");
    expect_error(R, "run_id IN ('a' 'b')", NULL, "but got ill-formed list.");
    expect_error(R, "run_id IN ('a',", NULL, "ill-formed list");
    expect_error(R, "run_id = ('a')", NULL, "a list of values needs IN or NOT IN");
    expect_error(R, "params.a = b", NULL,
                 "Parameter value is either not quoted or unidentified quote types used for "
                 "string value b. Use either single or double quotes.");
    expect_error(R, "params.a = `b`", NULL, "not quoted or unidentified quote types");
    expect_error(R, "params.a = 1", NULL,
                 "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1");
    expect_error(R, "tags.a IN ('x')", NULL, "Expected a quoted string value for tag");
    expect_error(R, "start_time > 'x'", NULL,
                 "Expected numeric value type for numeric attribute: start_time. Found 'x'");
    expect_error(R, "status = 1", NULL, "Expected a quoted string value for attributes. Got");
    expect_error(R, "start_time LIKE 1", NULL, "Invalid comparator 'LIKE'");
    expect_error(R, "status > 'x'", NULL, "Invalid comparator '>' not one of");
    expect_error(R, "status IN 'x'", NULL, "Invalid clause(s) in filter string: 'status', 'IN'");
    expect_error(R, "datasets.foo = 'x'", NULL, "Invalid dataset key 'foo' specified.");
    expect_error(R, "datasets.name = 1", NULL, "Expected a quoted string value for dataset");
    expect_error(R, "params.a = 'unterminated", NULL, "Error on parsing filter");
    expect_error(R, "params.`a = 'x'", NULL, "Error on parsing filter");
    expect_error(R, "METRICS.a < 1", NULL, "Invalid entity type 'METRICS'");
    expect_error(R, "metrics.a < 1; drop table runs", NULL, "Invalid clause(s)");
}

static void test_order_errors(void **state)
{
    (void)state;
    const trk_search_kind R = TRK_SEARCH_RUNS;
    expect_error(R, NULL, "[\"metrics.a foo\"]",
                 "Invalid ordering key in order_by clause 'metrics.a foo'.");
    expect_error(R, NULL, "[\"metrics.a ASC DESC\"]", "Could not be parsed.");
    expect_error(R, NULL, "[\"\"]", "Invalid order_by clause ''. Could not be parsed.");
    expect_error(R, NULL, "[\"'metrics.a'\"]", "Could not be parsed.");
    expect_error(R, NULL, "[\"foo.a\"]", "Invalid entity type 'foo'");
    expect_error(R, NULL, "[\"attributes.bad\"]", "Invalid attribute key 'bad' specified.");
    expect_error(R, NULL, "[\"run name\"]", "Invalid ordering key"); /* not a quoted key */
    expect_error(R, NULL, "[\"datasets.name\"]", "Invalid identifier type 'dataset'");
    expect_error(R, NULL, "[\"metrics.a\", \"metric.a DESC\"]",
                 "`order_by` contains duplicate fields: ['metrics.a', 'metric.a DESC']");
    expect_error(R, NULL, "[\"created\", \"start_time DESC\"]", "duplicate fields");
    expect_error(R, NULL, "[5]", "expected a list of strings");
    expect_error(R, NULL, "{\"a\": 1}", "expected a list of strings");
    const trk_search_kind E = TRK_SEARCH_EXPERIMENTS;
    expect_error(E, NULL, "[\"tags.x\"]", "Invalid order_by entity: tag");
    expect_error(E, NULL, "[\"attributes.name\"]", "Invalid entity type 'attributes'");
    expect_error(E, NULL, "[\"artifact_location\"]", "Invalid attribute key 'artifact_location'");
    const trk_search_kind M = TRK_SEARCH_REGISTERED_MODELS;
    expect_error(M, NULL, "[\"bad\"]",
                 "Invalid order by key 'bad' specified. Valid keys are '{'name', 'timestamp'}'");
    expect_error(M, NULL, "[\"name\", \"name DESC\"]", "duplicate fields");
    expect_error(M, NULL, "[\"timestamp\", \"last_updated_timestamp\"]", "duplicate fields");
    const trk_search_kind V = TRK_SEARCH_MODEL_VERSIONS;
    expect_error(V, NULL, "[\"source_path\"]", "Invalid attribute key 'source_path' specified.");
    expect_error(V, NULL, "[\"version_number\", \"version_number\"]", "duplicate fields");
}

static void test_other_filter_errors(void **state)
{
    (void)state;
    const trk_search_kind E = TRK_SEARCH_EXPERIMENTS, M = TRK_SEARCH_REGISTERED_MODELS,
                          V = TRK_SEARCH_MODEL_VERSIONS;
    expect_error(E, "attributes.name = 'x'", NULL,
                 "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', "
                 "'tags')");
    expect_error(E, "name = 'a' or name = 'b'", NULL, "Invalid clause(s) in filter string: or");
    expect_error(E, "name > 'a'", NULL, "Invalid comparator for string attribute: >");
    expect_error(E, "creation_time = 'x'", NULL,
                 "Expected numeric value type for numeric attribute: creation_time. Found 'x'");
    expect_error(E, "creation_time LIKE 5", NULL, "Invalid comparator for numeric attribute: LIKE");
    expect_error(E, "tags.a > 'b'", NULL, "Invalid comparator for tag: >");
    expect_error(E, "experiment_id = 1", NULL, "Invalid attribute key 'experiment_id' specified.");
    expect_error(E, "name IN ('a')", NULL, "Only the 'run_id' attribute supports comparison");
    expect_error(M, "run_id = 'x'", NULL,
                 "Invalid attribute key 'run_id' specified. Valid keys are '{'name'}'");
    expect_error(M, "name IN ('a')", NULL, "Only the 'run_id' attribute supports comparison");
    expect_error(M, "name > 'a'", NULL, "Invalid comparator for attribute: >");
    expect_error(M, "name = 1", NULL, "Expected a quoted string value or a list of quoted");
    expect_error(M, "metrics.a = 'x'", NULL, "Invalid entity type 'metrics'");
    expect_error(V, "run_id NOT IN ('a')", NULL, "Invalid comparator for attribute: NOT IN");
    expect_error(V, "name IN ('a')", NULL, "Only the 'run_id' attribute supports comparison");
    expect_error(V, "version_number LIKE '1'", NULL,
                 "Invalid comparator for attribute version_number: LIKE");
    expect_error(V, "version_number = 'x'", NULL, "Expected numeric value type for numeric");
    expect_error(V, "name = 1", NULL, "attributes support comparison with numeric values.");
    expect_error(V, "tags.x = 1", NULL, "Expected a quoted string value for tag");
    expect_error(V, "current_stage = 'None'", NULL, "Invalid attribute key 'current_stage'");
}

static void test_page_tokens(void **state)
{
    (void)state;
    trk_err e = {0};
    int64_t off = -1;
    char *t = trk__page_token_encode(2);
    assert_string_equal(t, "eyJvZmZzZXQiOiAyfQ==");
    free(t);
    for (int64_t v = 1; v < 100000000000LL; v = v * 7 + 3) {
        t = trk__page_token_encode(v);
        assert_int_equal(trk__page_token_decode(t, &off, &e), 0);
        assert_int_equal(off, v);
        free(t);
    }
    assert_int_equal(trk__page_token_decode(NULL, &off, &e), 0);
    assert_int_equal(off, 0);
    assert_int_equal(trk__page_token_decode("", &off, &e), 0);
    assert_int_equal(off, 0);
    static const char *const bad64[] = {
        "abc",  "!!!!", "eyJvZmZzZXQiOiAyfQ=",     "ey=J", "eyJvZmZzZXQiOiAyfQ==\n",
        "====", "a===", "eyJvZmZzZXQiOiAyfQ==eyJv"};
    for (size_t i = 0; i < sizeof bad64 / sizeof bad64[0]; i++) {
        assert_int_equal(trk__page_token_decode(bad64[i], &off, &e), -1);
        assert_int_equal(e.code, TRK_INVALID_PARAMETER_VALUE);
        assert_string_equal(e.message, "Invalid page token, could not base64-decode");
    }
    /* base64 of "not json" */
    assert_int_equal(trk__page_token_decode("bm90IGpzb24=", &off, &e), -1);
    assert_string_equal(e.message, "Invalid page token, decoded value=b'not json'");
    /* {"offset": 0} and {"x": 1}: MLflow's "parsed value" error */
    assert_int_equal(trk__page_token_decode("eyJvZmZzZXQiOiAwfQ==", &off, &e), -1);
    assert_non_null(strstr(e.message, "Invalid page token, parsed value="));
    assert_int_equal(trk__page_token_decode("eyJ4IjogMX0=", &off, &e), -1);
    assert_non_null(strstr(e.message, "parsed value"));
    /* {"offset": -5} */
    assert_int_equal(trk__page_token_decode("eyJvZmZzZXQiOiAtNX0=", &off, &e), -1);
    /* {"offset": "7"}: Python's int() accepts the string */
    assert_int_equal(trk__page_token_decode("eyJvZmZzZXQiOiAiNyJ9", &off, &e), 0);
    assert_int_equal(off, 7);
}

/* --- execution against the real schema ---------------------------------------------------- */
static const char *const fixture_sql =
    "INSERT INTO experiments(experiment_id, name, artifact_location, lifecycle_stage,"
    " creation_time, last_update_time) VALUES"
    " (10, 'Dflt', 'a', 'active', 100, 100), (11, 'wine-quality', 'a', 'active', 300, 300),"
    " (12, 'Wine-old', 'a', 'active', 200, 250), (13, 'iris', 'a', 'active', 300, 310);"
    "INSERT INTO experiment_tags VALUES (11, 'owner', 'me'), (13, 'owner', 'You');"
    "INSERT INTO runs(run_uuid, name, experiment_id, user_id, status, start_time, end_time,"
    " lifecycle_stage, artifact_uri) VALUES"
    " ('r1', 'Alpha', 11, 'alice', 'FINISHED', 1000, 2000, 'active', 's3://b/1'),"
    " ('r2', 'alpha-2', 11, 'bob', 'RUNNING', 3000, NULL, 'active', 'file:/2'),"
    " ('r3', 'beta', 11, 'Alice', 'FAILED', 2000, 2500, 'active', 'file:/3'),"
    " ('r4', 'gamma_x', 11, 'carol', 'FINISHED', 3000, 4000, 'active', 'file:/4'),"
    " ('r5', 'dataset%run', 11, 'dave', 'RUNNING', 500, 600, 'active', 'file:/5'),"
    " ('r9', 'other-exp', 12, 'eve', 'FINISHED', 9000, 9100, 'active', 'file:/9');"
    "INSERT INTO latest_metrics(run_uuid, key, value, timestamp, step, is_nan) VALUES"
    " ('r1', 'rmse', 0.5, 1, 0, 0), ('r2', 'rmse', 0.9, 1, 0, 0), ('r3', 'rmse', 0, 1, 0, 1),"
    " ('r5', 'rmse', 0.7, 1, 0, 0), ('r1', 'my metric', 3, 1, 0, 0),"
    " ('r9', 'rmse', 0.1, 1, 0, 0);"
    "INSERT INTO params VALUES ('r1', 'alpha', '0.5'), ('r2', 'alpha', '0.5'),"
    " ('r3', 'alpha', '0.7'), ('r4', 'alpha', 'ABC'), ('r5', 'alpha', 'abc'), ('r1', 'a.b', 'x'),"
    " ('r9', 'alpha', '0.5');"
    "INSERT INTO tags VALUES ('r1', 'mlflow.runName', 'Alpha'), ('r2', 'team', 'ML'),"
    " ('r3', 'team', 'ml'), ('r4', 'team', 'Ml_x'), ('r5', 'pat', 'a*b?[c]'),"
    " ('r1', 'pat', 'aXb?[c]'), ('r4', 'pat', 'a*b?c');"
    "INSERT INTO datasets VALUES ('d1', 11, 'wine', 'abc', 'local', 'x', NULL, NULL),"
    " ('d2', 11, 'Iris', 'def', 'local', 'y', NULL, NULL);"
    "INSERT INTO inputs VALUES ('i1', 'DATASET', 'd1', 'RUN', 'r1'),"
    " ('i2', 'DATASET', 'd2', 'RUN', 'r2'), ('i3', 'DATASET', 'd1', 'RUN', 'r3');"
    "INSERT INTO input_tags VALUES ('i1', 'mlflow.data.context', 'training'),"
    " ('i2', 'mlflow.data.context', 'eval');"
    "INSERT INTO registered_models VALUES ('alpha', 1, 10, NULL), ('Beta', 2, 30, NULL),"
    " ('gamma', 3, 20, NULL);"
    "INSERT INTO registered_model_tags VALUES ('alpha', 'stage', 'prod'),"
    " ('gamma', 'stage', 'Prod');"
    "INSERT INTO model_versions(name, version, creation_time, last_updated_time, current_stage,"
    " source, run_id, status) VALUES ('m1', 1, 1, 10, 'None', 's3://a/1', 'r1', 'READY'),"
    " ('m1', 2, 2, 30, 'Production', 's3://a/2', 'r2', 'READY'),"
    " ('m2', 1, 3, 20, 'None', 'file:/x', 'r1', 'READY'),"
    " ('M3', 1, 4, 20, 'None', 's3://b', 'r3', 'READY'),"
    " ('m2', 2, 5, 99, 'Deleted_Internal', 'REDACTED', 'REDACTED', 'READY');"
    "INSERT INTO model_version_tags VALUES ('m1', 2, 'env', 'prod');";

static int open_fixture(const char *uri, ef_sql **out)
{
    ef_sql *db = NULL;
    char *err = NULL;
    if (ef_sql_open(uri, NULL, &db, &err)) {
        fprintf(stderr, "open %s: %s\n", uri, err ? err : "?");
        free(err);
        return -1;
    }
    if (trk__migrate(db, &err) || ef_sql_exec(db, fixture_sql)) {
        fprintf(stderr, "fixture: %s %s\n", err ? err : "", ef_sql_errmsg(db));
        free(err);
        ef_sql_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

/* Runs a search and returns the matching ids joined by ',' (static buffer), or "ERR: ..." */
static const char *search(ef_sql *db, trk_search_kind kind, const char *filter, const char *order,
                          int64_t limit, int64_t offset)
{
    static char out[2048];
    static const char *const base[] = {
        [TRK_SEARCH_RUNS] = "SELECT run_uuid FROM runs WHERE experiment_id = ? AND lifecycle_stage"
                            " = 'active' AND (%s) %s LIMIT ? OFFSET ?",
        [TRK_SEARCH_EXPERIMENTS] = "SELECT experiment_id FROM experiments WHERE experiment_id >= ?"
                                   " AND (%s) %s LIMIT ? OFFSET ?",
        [TRK_SEARCH_REGISTERED_MODELS] = "SELECT name FROM registered_models WHERE 1 = ? AND (%s)"
                                         " %s LIMIT ? OFFSET ?",
        [TRK_SEARCH_MODEL_VERSIONS] = "SELECT name || '/' || version FROM model_versions WHERE"
                                      " current_stage <> ? AND (%s) %s LIMIT ? OFFSET ?",
    };
    trk_search_sql s;
    trk_err e = {0};
    json_t *o = order_json(order);
    int rc = trk__search_compile(kind, ef_sql_dialect(db), filter, o, &s, &e);
    json_decref(o);
    if (rc) {
        snprintf(out, sizeof out, "ERR: %s", e.message);
        return out;
    }
    char sql[8192];
    snprintf(sql, sizeof sql, base[kind], s.where.data, s.order.data);
    ef_sql_stmt *st = NULL;
    if (ef_sql_prepare(db, sql, &st)) fail_msg("prepare %s: %s", sql, ef_sql_errmsg(db));
    if (kind == TRK_SEARCH_MODEL_VERSIONS)
        assert_int_equal(ef_sql_bind_text(st, 1, "Deleted_Internal", 16), 0);
    else
        assert_int_equal(ef_sql_bind_int64(st, 1,
                                           kind == TRK_SEARCH_RUNS          ? 11
                                           : kind == TRK_SEARCH_EXPERIMENTS ? 10
                                                                            : 1),
                         0);
    int next = trk__search_bind(&s, st, 2);
    assert_int_equal(next, 2 + (int)s.nparams);
    assert_int_equal(ef_sql_bind_int64(st, next, limit), 0);
    assert_int_equal(ef_sql_bind_int64(st, next + 1, offset), 0);
    out[0] = '\0';
    for (;;) {
        rc = ef_sql_step(st);
        if (rc == EF_SQL_DONE) break;
        if (rc != EF_SQL_ROW) fail_msg("step %s: %s", sql, ef_sql_errmsg(db));
        const char *v = ef_sql_column_text(st, 0, NULL);
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%s", l ? "," : "", v ? v : "NULL");
    }
    ef_sql_finalize(st);
    trk__search_sql_release(&s);
    return out;
}

#define RUNS(db, f, o) search(db, TRK_SEARCH_RUNS, f, o, 100, 0)

static void test_exec_runs_filter(void **state)
{
    ef_sql *db = *state;
    if (!db) skip();
    assert_string_equal(RUNS(db, "metrics.rmse < 0.8 and params.alpha = '0.5'", NULL), "r1");
    assert_string_equal(RUNS(db, "metrics.rmse < 0.8 AND params.alpha = \"0.5\"", NULL), "r1");
    assert_string_equal(RUNS(db, "", NULL), "r2,r4,r3,r1,r5");
    assert_string_equal(RUNS(db, "metrics.rmse < 0.8", NULL), "r1,r5"); /* NaN never < */
    assert_string_equal(RUNS(db, "metrics.rmse != 0.5", NULL), "r2,r3,r5");
    assert_string_equal(RUNS(db, "metrics.rmse >= 0.9", NULL), "r2");
    assert_string_equal(RUNS(db, "metrics.rmse = 0.5", NULL), "r1");
    assert_string_equal(RUNS(db, "metrics.rmse > -1e400", NULL), "r2,r1,r5");
    assert_string_equal(RUNS(db, "metrics.\"my metric\" = 3", NULL), "r1");
    assert_string_equal(RUNS(db, "metric.`my metric` > 2.5", NULL), "r1");
    assert_string_equal(RUNS(db, "params.alpha = '0.5'", NULL), "r2,r1");
    assert_string_equal(RUNS(db, "params.alpha != '0.5'", NULL), "r4,r3,r5");
    assert_string_equal(RUNS(db, "params.`a.b` = 'x'", NULL), "r1");
    /* LIKE is case-sensitive, ILIKE is not */
    assert_string_equal(RUNS(db, "params.alpha LIKE 'a%'", NULL), "r5");
    assert_string_equal(RUNS(db, "params.alpha LIKE 'A%'", NULL), "r4");
    assert_string_equal(RUNS(db, "params.alpha ILIKE 'a%'", NULL), "r4,r5");
    assert_string_equal(RUNS(db, "params.alpha like 'A_C'", NULL), "r4");
    assert_string_equal(RUNS(db, "params.alpha ilike 'a_c'", NULL), "r4,r5");
    assert_string_equal(RUNS(db, "tags.team = 'ML'", NULL), "r2");
    assert_string_equal(RUNS(db, "tags.team = 'ml'", NULL), "r3");
    assert_string_equal(RUNS(db, "tags.team ILIKE 'ml%'", NULL), "r2,r4,r3");
    assert_string_equal(RUNS(db, "tags.team LIKE 'M%'", NULL), "r2,r4");
    assert_string_equal(RUNS(db, "tags.team LIKE 'Ml\\_%'", NULL), "r4");
    assert_string_equal(RUNS(db, "tags.team LIKE 'M_\\_x'", NULL), "r4");
    assert_string_equal(RUNS(db, "tags.team LIKE 'M__'", NULL), "");
    /* GLOB metacharacters in a LIKE pattern are literal */
    assert_string_equal(RUNS(db, "tags.pat LIKE 'a*b?[c]'", NULL), "r5");
    assert_string_equal(RUNS(db, "tags.pat LIKE 'a_b?[c]'", NULL), "r1,r5");
    assert_string_equal(RUNS(db, "tags.pat LIKE 'a*b?%'", NULL), "r4,r5");
    assert_string_equal(RUNS(db, "tags.pat ILIKE 'A*B?[C]'", NULL), "r5");
    assert_string_equal(RUNS(db, "tags.pat = 'a*b?[c]'", NULL), "r5");
    /* attributes */
    assert_string_equal(RUNS(db, "attributes.status = 'FINISHED'", NULL), "r4,r1");
    assert_string_equal(RUNS(db, "status != 'FINISHED'", NULL), "r2,r3,r5");
    assert_string_equal(RUNS(db, "attr.run_name = 'Alpha'", NULL), "r1");
    assert_string_equal(RUNS(db, "run.run_name ILIKE 'alpha%'", NULL), "r2,r1");
    assert_string_equal(RUNS(db, "`Run name` LIKE 'alpha%'", NULL), "r2");
    assert_string_equal(RUNS(db, "\"run name\" LIKE '%\\%%'", NULL), "r5");
    assert_string_equal(RUNS(db, "run_id IN ('r1','r3')", NULL), "r3,r1");
    assert_string_equal(RUNS(db, "attributes.run_id IN ('r1')", NULL), "r1");
    assert_string_equal(RUNS(db, "run_id IN ('r1', 'r4',)", NULL), "r4,r1");
    assert_string_equal(RUNS(db, "run_id IN ('r''1')", NULL), "r1"); /* 'r' '1' concatenated */
    assert_string_equal(RUNS(db, "run_id NOT IN ('r1', 'r9')", NULL), "r2,r4,r3,r5");
    assert_string_equal(RUNS(db, "run_id IN ('R1')", NULL), ""); /* like MLflow: lower only */
    assert_string_equal(RUNS(db, "run_id NOT IN ('R1')", NULL), "r2,r4,r3,r1,r5");
    assert_string_equal(RUNS(db, "run_id = 'r4'", NULL), "r4");
    assert_string_equal(RUNS(db, "attributes.start_time >= 2000", NULL), "r2,r4,r3");
    assert_string_equal(RUNS(db, "created < 1500", NULL), "r1,r5");
    assert_string_equal(RUNS(db, "end_time > 0", NULL), "r4,r3,r1,r5");
    assert_string_equal(RUNS(db, "start_time = 3000 and end_time != 4000", NULL), "");
    assert_string_equal(RUNS(db, "user_id = 'alice'", NULL), "r1");
    assert_string_equal(RUNS(db, "user_id ILIKE 'ALICE'", NULL), "r3,r1");
    assert_string_equal(RUNS(db, "artifact_uri LIKE 's3://%'", NULL), "r1");
    /* datasets */
    assert_string_equal(RUNS(db, "datasets.name = 'wine'", NULL), "r3,r1");
    assert_string_equal(RUNS(db, "dataset.digest IN ('def', 'zzz')", NULL), "r2");
    assert_string_equal(RUNS(db, "datasets.name NOT IN ('wine')", NULL), "r2");
    assert_string_equal(RUNS(db, "datasets.context = 'training'", NULL), "r1");
    assert_string_equal(RUNS(db, "datasets.context IN ('eval', 'training')", NULL), "r2,r1");
    assert_string_equal(RUNS(db, "datasets.name ILIKE 'iris'", NULL), "r2");
    assert_string_equal(RUNS(db, "datasets.name LIKE 'iris'", NULL), "");
    /* values never reach the SQL text: an injection attempt is just a string */
    assert_string_equal(RUNS(db, "params.alpha = 'x''); DELETE FROM runs; --'", NULL), "");
    assert_string_equal(RUNS(db, "params.alpha = \"0.5' OR '1'='1\"", NULL), "");
    assert_string_equal(RUNS(db, "", NULL), "r2,r4,r3,r1,r5");
}

static void test_exec_runs_order(void **state)
{
    ef_sql *db = *state;
    if (!db) skip();
    /* values, then NaN, then runs lacking the metric — in both directions */
    assert_string_equal(RUNS(db, NULL, "[\"metrics.rmse ASC\"]"), "r1,r5,r2,r3,r4");
    assert_string_equal(RUNS(db, NULL, "[\"metrics.rmse DESC\"]"), "r2,r5,r1,r3,r4");
    assert_string_equal(RUNS(db, NULL, "[\"metrics.rmse\"]"), "r1,r5,r2,r3,r4");
    assert_string_equal(RUNS(db, NULL, "[\"params.alpha\"]"), "r2,r1,r3,r4,r5");
    assert_string_equal(RUNS(db, NULL, "[\"tags.team DESC\"]"), "r3,r4,r2,r1,r5");
    assert_string_equal(RUNS(db, NULL, "[\"tags.team asc\"]"), "r2,r4,r3,r1,r5");
    assert_string_equal(RUNS(db, NULL, "[\"attributes.end_time ASC\"]"), "r5,r1,r3,r4,r2");
    assert_string_equal(RUNS(db, NULL, "[\"end_time DESC\"]"), "r4,r3,r1,r5,r2");
    assert_string_equal(RUNS(db, NULL, "[\"start_time ASC\"]"), "r5,r1,r3,r2,r4");
    assert_string_equal(RUNS(db, NULL, "[\"created\"]"), "r5,r1,r3,r2,r4");
    assert_string_equal(RUNS(db, NULL, "[\"run_name DESC\"]"), "r4,r5,r3,r2,r1");
    assert_string_equal(RUNS(db, NULL, "[\"`metrics`.`my metric` DESC\", \"params.alpha\"]"),
                        "r1,r2,r3,r4,r5");
    assert_string_equal(RUNS(db, "params.alpha = '0.5'", "[\"metrics.rmse DESC\"]"), "r2,r1");
    assert_string_equal(RUNS(db, NULL, "[]"), "r2,r4,r3,r1,r5");
    /* paging: offset pages put together give the whole ordered list, no repeats */
    const char *pages[3];
    char all[256] = "";
    for (int i = 0; i < 3; i++) {
        pages[i] = search(db, TRK_SEARCH_RUNS, "", "[\"metrics.rmse\"]", 2, i * 2);
        strcat(all, i ? "," : "");
        strcat(all, pages[i]);
    }
    assert_string_equal(all, "r1,r5,r2,r3,r4");
}

static void test_exec_experiments(void **state)
{
    ef_sql *db = *state;
    const trk_search_kind E = TRK_SEARCH_EXPERIMENTS;
    if (!db) skip();
    assert_string_equal(search(db, E, NULL, NULL, 100, 0), "11,13,12,10");
    assert_string_equal(search(db, E, "name LIKE 'wine%'", NULL, 100, 0), "11");
    assert_string_equal(search(db, E, "name ILIKE 'wine%'", NULL, 100, 0), "11,12");
    assert_string_equal(search(db, E, "attribute.name = 'iris'", NULL, 100, 0), "13");
    assert_string_equal(search(db, E, "name != 'iris'", NULL, 100, 0), "11,12,10");
    assert_string_equal(search(db, E, "creation_time > 150", NULL, 100, 0), "11,13,12");
    assert_string_equal(search(db, E, "last_update_time <= 300", NULL, 100, 0), "11,12,10");
    assert_string_equal(search(db, E, "tags.owner ILIKE 'y%'", NULL, 100, 0), "13");
    assert_string_equal(search(db, E, "tag.owner = 'me'", NULL, 100, 0), "11");
    assert_string_equal(search(db, E, "tags.owner LIKE 'y%'", NULL, 100, 0), "");
    assert_string_equal(search(db, E, NULL, "[\"name\"]", 100, 0), "10,12,13,11");
    assert_string_equal(search(db, E, NULL, "[\"creation_time\"]", 100, 0), "10,12,13,11");
    assert_string_equal(search(db, E, NULL, "[\"last_update_time DESC\"]", 100, 0), "13,11,12,10");
    assert_string_equal(search(db, E, NULL, "[\"experiment_id\"]", 100, 0), "10,11,12,13");
    assert_string_equal(search(db, E, NULL, NULL, 2, 2), "12,10");
}

static void test_exec_registry(void **state)
{
    ef_sql *db = *state;
    const trk_search_kind M = TRK_SEARCH_REGISTERED_MODELS, V = TRK_SEARCH_MODEL_VERSIONS;
    if (!db) skip();
    assert_string_equal(search(db, M, NULL, NULL, 100, 0), "Beta,alpha,gamma");
    assert_string_equal(search(db, M, "name ILIKE 'A%'", NULL, 100, 0), "alpha");
    assert_string_equal(search(db, M, "name LIKE 'A%'", NULL, 100, 0), "");
    assert_string_equal(search(db, M, "name = 'Beta'", NULL, 100, 0), "Beta");
    assert_string_equal(search(db, M, "tags.stage = 'prod'", NULL, 100, 0), "alpha");
    assert_string_equal(search(db, M, "tags.stage ILIKE 'prod'", NULL, 100, 0), "alpha,gamma");
    assert_string_equal(search(db, M, "tags.stage ILIKE 'prod' and name != 'alpha'", NULL, 100, 0),
                        "gamma");
    assert_string_equal(search(db, M, NULL, "[\"timestamp DESC\"]", 100, 0), "Beta,gamma,alpha");
    assert_string_equal(search(db, M, NULL, "[\"last_updated_timestamp\"]", 100, 0),
                        "alpha,gamma,Beta");
    assert_string_equal(search(db, M, NULL, "[\"name DESC\"]", 100, 0), "gamma,alpha,Beta");

    assert_string_equal(search(db, V, NULL, NULL, 100, 0), "m1/2,M3/1,m2/1,m1/1");
    assert_string_equal(search(db, V, "name = 'm1'", NULL, 100, 0), "m1/2,m1/1");
    assert_string_equal(search(db, V, "version_number > 1", NULL, 100, 0), "m1/2");
    assert_string_equal(search(db, V, "version_number = '2'", NULL, 100, 0), "m1/2");
    assert_string_equal(search(db, V, "run_id IN ('r1','r3')", NULL, 100, 0), "M3/1,m2/1,m1/1");
    assert_string_equal(search(db, V, "run_id = 'r2'", NULL, 100, 0), "m1/2");
    assert_string_equal(search(db, V, "source_path LIKE 's3://%'", NULL, 100, 0), "m1/2,M3/1,m1/1");
    assert_string_equal(search(db, V, "tags.env = 'prod'", NULL, 100, 0), "m1/2");
    assert_string_equal(search(db, V, "name ILIKE 'm%'", NULL, 100, 0), "m1/2,M3/1,m2/1,m1/1");
    assert_string_equal(search(db, V, "name LIKE 'm%' and version_number <= 1", NULL, 100, 0),
                        "m2/1,m1/1");
    assert_string_equal(search(db, V, NULL, "[\"version_number ASC\"]", 100, 0),
                        "M3/1,m1/1,m2/1,m1/2");
    assert_string_equal(search(db, V, NULL, "[\"creation_timestamp DESC\"]", 100, 0),
                        "M3/1,m2/1,m1/2,m1/1");
    assert_string_equal(search(db, V, NULL, "[\"name\"]", 100, 0), "M3/1,m1/2,m1/1,m2/1");
}

/* --- groups ------------------------------------------------------------------------------- */
static int sqlite_setup(void **state)
{
    ef_sql *db = NULL;
    if (open_fixture("sqlite::memory:", &db)) return -1;
    *state = db;
    return 0;
}

static int db_teardown(void **state)
{
    ef_sql_close(*state);
    return 0;
}

static char g_pg_dir[PATH_MAX];
static char g_pg_script[PATH_MAX];

/* Starts a throwaway PostgreSQL cluster; *state stays NULL (tests skip) without the binaries. */
static int pg_setup(void **state)
{
    char cmd[PATH_MAX + 64], uri[512] = "";
    const char *src = getenv("EF_SOURCE_DIR");
    ef_sql *db = NULL;
    *state = NULL;
    snprintf(g_pg_script, sizeof g_pg_script, "%s/scripts/pg-test-cluster.sh", src ? src : ".");
    snprintf(cmd, sizeof cmd, "'%s' check >/dev/null 2>&1", g_pg_script);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_trk_search: PostgreSQL not available, skipping its group\n");
        return 0;
    }
    snprintf(cmd, sizeof cmd, "EF_PG_WATCH_PID=%ld '%s' start", (long)getpid(), g_pg_script);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (!fgets(uri, sizeof uri, p) || !fgets(g_pg_dir, sizeof g_pg_dir, p)) {
        pclose(p);
        return -1;
    }
    pclose(p);
    uri[strcspn(uri, "\n")] = '\0';
    g_pg_dir[strcspn(g_pg_dir, "\n")] = '\0';
    if (open_fixture(uri, &db)) return -1;
    *state = db;
    return 0;
}

static int pg_teardown(void **state)
{
    char cmd[2 * PATH_MAX + 64];
    if (*state) ef_sql_close(*state);
    if (g_pg_dir[0]) {
        snprintf(cmd, sizeof cmd, "'%s' stop '%s' >/dev/null 2>&1", g_pg_script, g_pg_dir);
        if (system(cmd) != 0) fprintf(stderr, "test_trk_search: cluster stop failed\n");
    }
    return 0;
}

int main(void)
{
    ef_log_set_level(EF_LOG_ERROR);
    const struct CMUnitTest compile_tests[] = {
        cmocka_unit_test(test_reference_filter_sql), cmocka_unit_test(test_quoting_variants),
        cmocka_unit_test(test_like_dialects),        cmocka_unit_test(test_run_filter_errors),
        cmocka_unit_test(test_order_errors),         cmocka_unit_test(test_other_filter_errors),
        cmocka_unit_test(test_page_tokens),
    };
    const struct CMUnitTest exec_tests[] = {
        cmocka_unit_test(test_exec_runs_filter),
        cmocka_unit_test(test_exec_runs_order),
        cmocka_unit_test(test_exec_experiments),
        cmocka_unit_test(test_exec_registry),
    };
    int fails = cmocka_run_group_tests_name("compile", compile_tests, NULL, NULL);
    fails += cmocka_run_group_tests_name("sqlite", exec_tests, sqlite_setup, db_teardown);
    fails += cmocka_run_group_tests_name("postgresql", exec_tests, pg_setup, pg_teardown);
    return fails ? 1 : 0;
}
