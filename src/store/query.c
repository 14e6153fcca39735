/* query.c - compiles the supported subset of the Elasticsearch query DSL to parameterised SQL.
 *
 * Every value and every field name from the request is bound as a parameter, never pasted into
 * the SQL text. Field mapping: `collected` -> the collected column, `_id` -> doc_id, `_index` ->
 * idx, anything else -> JSON extraction from source along the dotted path ("a.b" -> $."a"."b";
 * a trailing ".keyword" is ignored so Kibana-style queries work). Three-valued logic: a leaf on a
 * missing field is NULL, which WHERE treats as false; must_not uses IS NOT TRUE so NOT(missing)
 * matches, like Elasticsearch.
 *
 * Supported: match_all, match_none, term, terms, ids, range (gte/gt/lte/lt, numbers, strings,
 * dates with date math and Elasticsearch's rounding: gt/lte round "/unit" up), exists, bool
 * (filter/must/must_not/should + minimum_should_match), constant_score; size, from, sort,
 * _source, track_total_hits. Hand-written because no packaged library translates the ES DSL.
 *
 * This file holds the parameter lists, the query state, fields and the query clause; the top
 * level of the body (size, from, sort, _source, track_total_hits) is in query_body.c. The two
 * share query_int.h. */
#include "store/query_int.h"

#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 20
#define MAX_CLAUSES 1024

void store__params_release(store__params *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].s);
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

static store__param *param_new(store__params *p)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        store__param *v = realloc(p->v, nc * sizeof *v);
        if (!v) return NULL;
        p->v = v;
        p->cap = nc;
    }
    store__param *x = &p->v[p->n++];
    memset(x, 0, sizeof *x);
    return x;
}

int store__params_text(store__params *p, const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (!c) return EF_ENOMEM;
    memcpy(c, s, len);
    c[len] = '\0';
    store__param *x = param_new(p);
    if (!x) {
        free(c);
        return EF_ENOMEM;
    }
    x->type = 't';
    x->s = c;
    return EF_OK;
}

static int params_int(store__params *p, int64_t v)
{
    store__param *x = param_new(p);
    if (!x) return EF_ENOMEM;
    x->type = 'i';
    x->i = v;
    return EF_OK;
}

static int params_double(store__params *p, double v)
{
    store__param *x = param_new(p);
    if (!x) return EF_ENOMEM;
    x->type = 'd';
    x->d = v;
    return EF_OK;
}

int store__bind(ef_sql_stmt *st, const store__params *p, int *idx)
{
    int rc = EF_OK;
    for (size_t i = 0; i < p->n && !rc; i++, (*idx)++) {
        const store__param *x = &p->v[i];
        if (x->type == 'i')
            rc = ef_sql_bind_int64(st, *idx, x->i);
        else if (x->type == 'd')
            rc = ef_sql_bind_double(st, *idx, x->d);
        else
            rc = ef_sql_bind_text(st, *idx, x->s, strlen(x->s));
    }
    return rc;
}

int store__append_index_filter(ef_buf *sql, store__params *p, int all, const ef_strlist *names)
{
    int rc;
    if (all) return ef_buf_appends(sql, "1=1");
    if (!names->n) return ef_buf_appends(sql, "1=0");
    if ((rc = ef_buf_appends(sql, "idx IN ("))) return rc;
    for (size_t i = 0; i < names->n; i++) {
        if ((rc = ef_buf_appends(sql, i ? ", ?" : "?"))) return rc;
        if ((rc = store__params_text(p, names->v[i], strlen(names->v[i])))) return rc;
    }
    return ef_buf_appendc(sql, ')');
}

json_t *store__es_error(int status, const char *type, const char *reason)
{
    return json_pack("{s:{s:[{s:s,s:s}],s:s,s:s},s:i}", "error", "root_cause", "type", type,
                     "reason", reason, "type", type, "reason", reason, "status", status);
}

void store__query_init(store__query *q, ef_sql_dialect_t dialect, int64_t now_ms)
{
    memset(q, 0, sizeof *q);
    q->dialect = dialect;
    q->now_ms = now_ms;
    ef_buf_init(&q->where);
    ef_buf_init(&q->sortcols);
    ef_buf_init(&q->order);
    q->size = 10;
    q->track_total = 10000;
}

void store__query_release(store__query *q)
{
    ef_buf_release(&q->where);
    ef_buf_release(&q->sortcols);
    ef_buf_release(&q->order);
    store__params_release(&q->pwhere);
    store__params_release(&q->psel);
    store__params_release(&q->porder);
    json_decref(q->source_includes);
    q->source_includes = NULL;
}

int store__query_fail(store__query_ctx *c, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->q->status = 400;
    snprintf(c->q->etype, sizeof c->q->etype, "%s", type);
    vsnprintf(c->q->ereason, sizeof c->q->ereason, fmt, ap);
    va_end(ap);
    return EF_EINVAL;
}

const char *store__json_token_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "START_OBJECT";
    case JSON_ARRAY:
        return "START_ARRAY";
    case JSON_STRING:
        return "VALUE_STRING";
    case JSON_INTEGER:
    case JSON_REAL:
        return "VALUE_NUMBER";
    case JSON_TRUE:
    case JSON_FALSE:
        return "VALUE_BOOLEAN";
    default:
        return "VALUE_NULL";
    }
}

/* --- fields ------------------------------------------------------------------------------------
 */

int store__parse_field(store__query_ctx *c, const char *name, store__field *f)
{
    size_t n = strlen(name);
    if (n > 9 && strcmp(name + n - 8, ".keyword") == 0) n -= 8;
    if (n == 9 && !strncmp(name, "collected", 9))
        f->kind = STORE_F_COLLECTED;
    else if (n == 3 && !strncmp(name, "_id", 3))
        f->kind = STORE_F_ID;
    else if (n == 6 && !strncmp(name, "_index", 6))
        f->kind = STORE_F_INDEX;
    else
        f->kind = STORE_F_SOURCE;
    if (f->kind != STORE_F_SOURCE) return EF_OK;
    if (n == 0 || n > 400 || memchr(name, '"', n) || memchr(name, '\\', n) || name[0] == '.' ||
        name[n - 1] == '.' || strstr(name, ".."))
        return store__query_fail(c, "illegal_argument_exception", "invalid field name [%s]", name);
    ef_buf b;
    ef_buf_init(&b);
    int pg = c->q->dialect == EF_SQL_POSTGRES;
    int rc = ef_buf_appends(&b, pg ? "{\"" : "$.\"");
    for (size_t i = 0; i < n && !rc; i++)
        rc = name[i] == '.' ? ef_buf_appends(&b, pg ? "\",\"" : "\".\"")
                            : ef_buf_appendc(&b, name[i]);
    if (!rc) rc = ef_buf_appends(&b, pg ? "\"}" : "\"");
    if (!rc) snprintf(f->path, sizeof f->path, "%s", b.data);
    ef_buf_release(&b);
    return rc;
}

/* Appends the SQL value of a source field; binds the path. */
int store__emit_value(store__query *q, ef_buf *sql, store__params *p, const store__field *f)
{
    int rc;
    switch (f->kind) {
    case STORE_F_COLLECTED:
        return ef_buf_appends(sql, "collected");
    case STORE_F_ID:
        return ef_buf_appends(sql, "doc_id");
    case STORE_F_INDEX:
        return ef_buf_appends(sql, "idx");
    }
    rc = ef_buf_appends(sql, q->dialect == EF_SQL_POSTGRES ? "(source::jsonb #> ?::text[])"
                                                           : "json_extract(source, ?)");
    return rc ? rc : store__params_text(p, f->path, strlen(f->path));
}

/* Appends the JSON type name of a source field: SQLite json_type / PostgreSQL jsonb_typeof. */
static int emit_type(store__query *q, const store__field *f)
{
    int rc = ef_buf_appends(&q->where, q->dialect == EF_SQL_POSTGRES
                                           ? "jsonb_typeof(source::jsonb #> ?::text[])"
                                           : "json_type(source, ?)");
    return rc ? rc : store__params_text(&q->pwhere, f->path, strlen(f->path));
}

static int W(store__query *q, const char *s)
{
    return ef_buf_appends(&q->where, s);
}

/* --- leaves ------------------------------------------------------------------------------------
 */

/* field = value with Elasticsearch's term semantics (exact, type-aware). */
static int leaf_term(store__query_ctx *c, const store__field *f, const json_t *v, const char *qname)
{
    store__query *q = c->q;
    int rc;
    if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
        return store__query_fail(c, "parsing_exception",
                                 "[%s] query does not support values of type %s", qname,
                                 store__json_token_name(v));
    if (f->kind != STORE_F_SOURCE) {
        if ((rc = store__emit_value(q, &q->where, &q->pwhere, f)) || (rc = W(q, " = ?"))) return rc;
        if (f->kind == STORE_F_COLLECTED) {
            int64_t t;
            if (json_is_integer(v))
                t = json_integer_value(v);
            else if (json_is_real(v))
                t = (int64_t)json_real_value(v);
            else if (json_is_string(v) && !ef_parse_time_ms(json_string_value(v), q->now_ms, &t))
                ;
            else
                return store__query_fail(c, "parsing_exception", "failed to parse date field [%s]",
                                         json_is_string(v) ? json_string_value(v) : "boolean");
            return params_int(&q->pwhere, t);
        }
        char num[64];
        const char *s = num;
        if (json_is_string(v))
            s = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
            ef_json_format_double(json_real_value(v), num, sizeof num); /* 0.95 -> "0.95" */
        else
            s = json_is_true(v) ? "true" : "false";
        return store__params_text(&q->pwhere, s, strlen(s));
    }
    if (q->dialect == EF_SQL_POSTGRES) {
        /* jsonb compares numbers as decimals: write reals the way ingest stored them ("0.95") */
        size_t jslen = 0;
        char *js = ef_json_dumps(v, &jslen);
        if (!js) return EF_ENOMEM;
        rc = store__emit_value(q, &q->where, &q->pwhere, f);
        if (!rc) rc = W(q, " = ?::jsonb");
        if (!rc) rc = store__params_text(&q->pwhere, js, jslen);
        free(js);
        return rc;
    }
    if (json_is_boolean(v)) {
        if ((rc = emit_type(q, f))) return rc;
        return W(q, json_is_true(v) ? " = 'true'" : " = 'false'");
    }
    if ((rc = store__emit_value(q, &q->where, &q->pwhere, f)) || (rc = W(q, " = ?"))) return rc;
    if (json_is_string(v))
        return store__params_text(&q->pwhere, json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) return params_int(&q->pwhere, json_integer_value(v));
    return params_double(&q->pwhere, json_real_value(v));
}

static int leaf_exists(store__query_ctx *c, const store__field *f)
{
    store__query *q = c->q;
    int rc;
    if (f->kind == STORE_F_COLLECTED) return W(q, "collected IS NOT NULL");
    if (f->kind != STORE_F_SOURCE) return W(q, "1=1");
    if ((rc = W(q, "coalesce("))) return rc;
    if ((rc = emit_type(q, f))) return rc;
    return W(q, ", 'null') <> 'null'");
}

/* Date math with Elasticsearch's rounding: round_up turns "x/u" into the last ms of that unit. */
static int parse_date(const char *s, int64_t now, int round_up, int64_t *out)
{
    const char *slash = strrchr(s, '/');
    if (!round_up || !slash || strncmp(s, "now", 3) != 0 || !slash[1] || slash[2])
        return ef_parse_time_ms(s, now, out);
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s+1%c/%c", (int)(slash - s), s, slash[1], slash[1]);
    if (n < 0 || (size_t)n >= sizeof buf) return EF_EINVAL;
    int rc = ef_parse_time_ms(buf, now, out);
    if (!rc) *out -= 1;
    return rc;
}

static int leaf_range(store__query_ctx *c, const store__field *f, const json_t *spec)
{
    store__query *q = c->q;
    static const struct {
        const char *key, *op;
        int round_up;
    } ops[] = {{"gte", ">=", 0}, {"gt", ">", 1},    {"lte", "<=", 1},
               {"lt", "<", 0},   {"from", ">=", 0}, {"to", "<=", 1}};
    const char *key;
    json_t *v;
    int rc, nb = 0;
    if (!json_is_object(spec))
        return store__query_fail(c, "parsing_exception",
                                 "[range] query malformed, no start_object after "
                                 "query name");
    json_object_foreach((json_t *)spec, key, v)
    {
        if (!strcmp(key, "boost") || !strcmp(key, "format") || !strcmp(key, "_name") ||
            !strcmp(key, "include_lower") || !strcmp(key, "include_upper"))
            continue;
        if (!strcmp(key, "time_zone")) {
            const char *tz = json_string_value(v);
            if (tz && (!strcmp(tz, "Z") || !strcmp(tz, "UTC") || !strcmp(tz, "+00:00") ||
                       !strcmp(tz, "Etc/UTC")))
                continue;
            return store__query_fail(c, "parsing_exception",
                                     "[range] query: time_zone [%s] is not supported "
                                     "(only UTC)",
                                     tz ? tz : "?");
        }
        size_t k;
        for (k = 0; k < sizeof ops / sizeof ops[0] && strcmp(ops[k].key, key); k++) {
        }
        if (k == sizeof ops / sizeof ops[0])
            return store__query_fail(c, "parsing_exception", "[range] query does not support [%s]",
                                     key);
        if (json_is_null(v)) continue; /* open bound, like ES */
        if (!json_is_string(v) && !json_is_number(v))
            return store__query_fail(c, "parsing_exception",
                                     "[range] query: [%s] must be a number or a "
                                     "string, found %s",
                                     key, store__json_token_name(v));
        const char *op = ops[k].op;
        int round_up = ops[k].round_up;
        if (k >= 4) { /* from/to + include_lower/include_upper */
            json_t *inc = json_object_get(spec, k == 4 ? "include_lower" : "include_upper");
            if (json_is_false(inc)) {
                op = k == 4 ? ">" : "<";
                round_up = k == 4;
            }
        }
        if (nb++ && (rc = W(q, " AND "))) return rc;
        /* the bound's value: integer, double, date (ms) or text */
        int64_t iv = 0;
        double dv = 0;
        char kind;
        if (json_is_integer(v)) {
            kind = 'i';
            iv = json_integer_value(v);
        } else if (json_is_real(v)) {
            kind = 'd';
            dv = json_real_value(v);
            if (f->kind == STORE_F_COLLECTED) {
                kind = 'i';
                iv = (int64_t)(round_up ? ceil(dv) : floor(dv));
            }
        } else if (!parse_date(json_string_value(v), q->now_ms, round_up, &iv) &&
                   (f->kind == STORE_F_COLLECTED || f->kind == STORE_F_SOURCE)) {
            kind = 'i';
        } else if (f->kind == STORE_F_COLLECTED) {
            return store__query_fail(c, "parse_exception",
                                     "failed to parse date field [%s] with format "
                                     "[strict_date_optional_time||epoch_millis]",
                                     json_string_value(v));
        } else {
            kind = 't';
        }
        if (f->kind == STORE_F_SOURCE) {
            int pg = q->dialect == EF_SQL_POSTGRES;
            int text = kind == 't';
            if ((rc = W(q, pg ? "(CASE WHEN " : "(CASE WHEN "))) return rc;
            if ((rc = emit_type(q, f))) return rc;
            rc = W(q, text ? (pg ? " = 'string' THEN (" : " = 'text' THEN ")
                           : (pg ? " = 'number' THEN ((" : " IN ('integer', 'real') THEN "));
            if (rc) return rc;
            if ((rc = store__emit_value(q, &q->where, &q->pwhere, f))) return rc;
            if (pg) rc = W(q, text ? " #>> '{}')" : " #>> '{}')::numeric)");
            if (rc || (rc = W(q, " END "))) return rc;
        } else if ((rc = store__emit_value(q, &q->where, &q->pwhere, f)) || (rc = W(q, " "))) {
            return rc;
        }
        if ((rc = W(q, op)) || (rc = W(q, " ?"))) return rc;
        if (f->kind == STORE_F_SOURCE && (rc = W(q, ")"))) return rc;
        if (kind == 'i')
            rc = params_int(&q->pwhere, iv);
        else if (kind == 'd')
            rc = params_double(&q->pwhere, dv);
        else
            rc = store__params_text(&q->pwhere, json_string_value(v), json_string_length(v));
        if (rc) return rc;
    }
    if (!nb) return leaf_exists(c, f); /* a range without bounds matches docs with the field */
    return EF_OK;
}

/* --- compound ----------------------------------------------------------------------------------
 */

/* Compiles one clause or an array of clauses joined by sep ("AND"/"OR"). n counts clauses. */
static int compile_list(store__query_ctx *c, const json_t *v, const char *sep, const char *wrap_pre,
                        const char *wrap_post, size_t *n)
{
    int rc;
    if (json_is_object(v)) {
        if ((rc = W(c->q, wrap_pre)) || (rc = store__compile_query(c, v)) ||
            (rc = W(c->q, wrap_post)))
            return rc;
        (*n)++;
        return EF_OK;
    }
    if (!json_is_array(v))
        return store__query_fail(c, "parsing_exception",
                                 "[bool] query malformed, expected an object or an "
                                 "array of queries, found %s",
                                 store__json_token_name(v));
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (i && (rc = W(c->q, sep))) return rc;
        if ((rc = W(c->q, wrap_pre)) || (rc = store__compile_query(c, e)) ||
            (rc = W(c->q, wrap_post)))
            return rc;
        (*n)++;
    }
    return EF_OK;
}

static size_t clause_count(const json_t *v)
{
    return json_is_array(v) ? json_array_size(v) : v ? 1 : 0;
}

static int parse_msm(store__query_ctx *c, const json_t *v, size_t nshould, int64_t *out)
{
    int64_t n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double d = strtod(s, &end);
        if (end == s || (*end && strcmp(end, "%")))
            return store__query_fail(c, "parsing_exception",
                                     "[bool] minimum_should_match [%s] is not "
                                     "supported (use an integer or a percentage)",
                                     s);
        n = *end ? (int64_t)(d * (double)nshould / 100.0) : (int64_t)d;
    } else {
        return store__query_fail(c, "parsing_exception",
                                 "[bool] minimum_should_match must be a number or "
                                 "a string");
    }
    if (n < 0) n += (int64_t)nshould;
    if (n < 0) n = 0;
    *out = n;
    return EF_OK;
}

static int compile_bool(store__query_ctx *c, const json_t *b)
{
    store__query *q = c->q;
    const char *key;
    json_t *v, *must = NULL, *filter = NULL, *must_not = NULL, *should = NULL, *msm = NULL;
    int rc;
    if (!json_is_object(b))
        return store__query_fail(c, "parsing_exception",
                                 "[bool] query malformed, no start_object after "
                                 "query name");
    json_object_foreach((json_t *)b, key, v)
    {
        if (!strcmp(key, "must"))
            must = v;
        else if (!strcmp(key, "filter"))
            filter = v;
        else if (!strcmp(key, "must_not"))
            must_not = v;
        else if (!strcmp(key, "should"))
            should = v;
        else if (!strcmp(key, "minimum_should_match"))
            msm = v;
        else if (!strcmp(key, "boost") || !strcmp(key, "_name") ||
                 !strcmp(key, "adjust_pure_negative"))
            continue;
        else
            return store__query_fail(c, "parsing_exception", "[bool] query does not support [%s]",
                                     key);
    }
    size_t n = 0;
    if ((rc = W(q, "("))) return rc;
    if (must && (rc = compile_list(c, must, " AND ", "(", ")", &n))) return rc;
    if (filter) {
        if (n && clause_count(filter) && (rc = W(q, " AND "))) return rc;
        if ((rc = compile_list(c, filter, " AND ", "(", ")", &n))) return rc;
    }
    if (must_not) {
        if (n && clause_count(must_not) && (rc = W(q, " AND "))) return rc;
        if ((rc = compile_list(c, must_not, " AND ", "((", ") IS NOT TRUE)", &n))) return rc;
    }
    size_t nshould = clause_count(should);
    int64_t min_match = n == 0 ? 1 : 0;
    if (msm && (rc = parse_msm(c, msm, nshould, &min_match))) return rc;
    if (nshould && min_match > 0) {
        if (n && (rc = W(q, " AND "))) return rc;
        size_t ns = 0;
        if ((int64_t)nshould < min_match) {
            rc = W(q, "1=0");
        } else if (min_match == 1) {
            if (!(rc = W(q, "(")) && !(rc = compile_list(c, should, " OR ", "(", ")", &ns)))
                rc = W(q, ")");
        } else {
            char tail[48];
            snprintf(tail, sizeof tail, ") >= %lld", (long long)min_match);
            if (!(rc = W(q, "(")) &&
                !(rc = compile_list(c, should, " + ", "(CASE WHEN ", " THEN 1 ELSE 0 END)", &ns)))
                rc = W(q, tail);
        }
        if (rc) return rc;
        n++;
    } else if (nshould) {
        /* optional should clauses only score in ES: validate them, match regardless */
        size_t mark = q->where.len, pmark = q->pwhere.n, ns = 0;
        if ((rc = compile_list(c, should, " OR ", "(", ")", &ns))) return rc;
        q->where.len = mark;
        q->where.data[mark] = '\0';
        while (q->pwhere.n > pmark)
            free(q->pwhere.v[--q->pwhere.n].s);
    }
    if (!n && (rc = W(q, "1=1"))) return rc;
    return W(q, ")");
}

/* The single "field": spec member of term/range/exists-style queries. */
static int single_field(store__query_ctx *c, const char *qname, const json_t *body,
                        const char **name, json_t **spec)
{
    const char *key;
    json_t *v;
    *name = NULL;
    *spec = NULL;
    if (!json_is_object(body))
        return store__query_fail(c, "parsing_exception",
                                 "[%s] query malformed, no start_object after query "
                                 "name",
                                 qname);
    json_object_foreach((json_t *)body, key, v)
    {
        if (!strcmp(key, "boost") || !strcmp(key, "_name")) continue;
        if (*name)
            return store__query_fail(c, "parsing_exception",
                                     "[%s] query doesn't support multiple fields, "
                                     "found [%s] and [%s]",
                                     qname, *name, key);
        *name = key;
        *spec = v;
    }
    if (!*name)
        return store__query_fail(c, "parsing_exception", "[%s] query malformed, no field", qname);
    return EF_OK;
}

int store__compile_query(store__query_ctx *c, const json_t *qv)
{
    store__query *q = c->q;
    const char *name, *fname;
    json_t *body, *spec;
    store__field f;
    int rc;
    if (!json_is_object(qv))
        return store__query_fail(c, "parsing_exception",
                                 "[_na] query malformed, must start with "
                                 "start_object");
    if (json_object_size(qv) == 0)
        return store__query_fail(c, "parsing_exception", "query malformed, empty clause found");
    if (json_object_size(qv) > 1) {
        void *it = json_object_iter((json_t *)qv);
        return store__query_fail(c, "parsing_exception",
                                 "[%s] malformed query, expected [END_OBJECT] but "
                                 "found [FIELD_NAME]",
                                 json_object_iter_key(it));
    }
    if (++c->depth > MAX_DEPTH)
        return store__query_fail(c, "parsing_exception", "query is nested deeper than %d levels",
                                 MAX_DEPTH);
    if (++c->clauses > MAX_CLAUSES)
        return store__query_fail(c, "too_many_clauses",
                                 "too many clauses: maxClauseCount is set to %d", MAX_CLAUSES);
    void *it = json_object_iter((json_t *)qv);
    name = json_object_iter_key(it);
    body = json_object_iter_value(it);

    if (!strcmp(name, "match_all") || !strcmp(name, "match_none")) {
        if (!json_is_object(body))
            return store__query_fail(c, "parsing_exception",
                                     "[%s] query malformed, no start_object after "
                                     "query name",
                                     name);
        rc = W(q, name[6] == 'a' ? "1=1" : "1=0");
    } else if (!strcmp(name, "term")) {
        if ((rc = single_field(c, name, body, &fname, &spec))) return rc;
        if (json_is_object(spec)) {
            const char *k;
            json_t *x, *val = NULL;
            json_object_foreach(spec, k, x)
            {
                if (!strcmp(k, "value"))
                    val = x;
                else if (strcmp(k, "boost") && strcmp(k, "_name") && strcmp(k, "case_insensitive"))
                    return store__query_fail(c, "parsing_exception",
                                             "[term] query does not support [%s]", k);
            }
            if (!val)
                return store__query_fail(c, "parsing_exception", "[term] query requires a value");
            spec = val;
        }
        if ((rc = store__parse_field(c, fname, &f))) return rc;
        rc = leaf_term(c, &f, spec, "term");
    } else if (!strcmp(name, "terms") || !strcmp(name, "ids")) {
        int ids = name[0] == 'i';
        if (ids) {
            spec = json_is_object(body) ? json_object_get(body, "values") : NULL;
            fname = "_id";
            if (!json_is_array(spec))
                return store__query_fail(c, "parsing_exception", "[ids] query requires [values]");
        } else if ((rc = single_field(c, name, body, &fname, &spec))) {
            return rc;
        }
        if (!json_is_array(spec))
            return store__query_fail(c, "parsing_exception",
                                     "[terms] query does not support [%s] (terms "
                                     "lookup is not supported; give an array of values)",
                                     fname);
        if ((rc = store__parse_field(c, fname, &f))) return rc;
        size_t i;
        json_t *e;
        if ((rc = W(q, json_array_size(spec) ? "(" : "(1=0"))) return rc;
        json_array_foreach(spec, i, e)
        {
            if (++c->clauses > MAX_CLAUSES)
                return store__query_fail(c, "too_many_clauses",
                                         "too many clauses: maxClauseCount is set "
                                         "to %d",
                                         MAX_CLAUSES);
            if (i && (rc = W(q, " OR "))) return rc;
            if ((rc = W(q, "(")) || (rc = leaf_term(c, &f, e, name)) || (rc = W(q, ")"))) return rc;
        }
        rc = W(q, ")");
    } else if (!strcmp(name, "range")) {
        if ((rc = single_field(c, name, body, &fname, &spec))) return rc;
        if ((rc = store__parse_field(c, fname, &f))) return rc;
        if ((rc = W(q, "(")) || (rc = leaf_range(c, &f, spec))) return rc;
        rc = W(q, ")");
    } else if (!strcmp(name, "exists")) {
        json_t *fv = json_is_object(body) ? json_object_get(body, "field") : NULL;
        if (!json_is_string(fv))
            return store__query_fail(c, "parsing_exception",
                                     "[exists] must be provided with a [field]");
        if ((rc = store__parse_field(c, json_string_value(fv), &f))) return rc;
        rc = leaf_exists(c, &f);
    } else if (!strcmp(name, "bool")) {
        rc = compile_bool(c, body);
    } else if (!strcmp(name, "constant_score")) {
        json_t *fq = json_is_object(body) ? json_object_get(body, "filter") : NULL;
        if (!fq)
            return store__query_fail(c, "parsing_exception",
                                     "[constant_score] requires a 'filter' "
                                     "element");
        if ((rc = W(q, "(")) || (rc = store__compile_query(c, fq))) return rc;
        rc = W(q, ")");
    } else {
        return store__query_fail(c, "parsing_exception", "unknown query [%s]", name);
    }
    c->depth--;
    return rc;
}
