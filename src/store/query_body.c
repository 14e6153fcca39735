/* query_body.c - the top level of an Elasticsearch _search / _count body compiled by
 * store__query_compile: the accepted keys (query, size, from, sort, _source, track_total_hits,
 * and the ignored timeout/version/seq_no_primary_term/explain), the result window limit, sort
 * terms as select-list values and ORDER BY (missing values last, the insertion order as the
 * final tie-breaker) and _source filtering. The query clause itself is compiled by query.c; the
 * two share query_int.h.
 */
#include "store/query_int.h"

#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_sort(store__query_ctx *c, const char *fname, const json_t *how)
{
    store__query *q = c->q;
    int desc = 0, rc;
    const char *order = NULL;
    if (json_is_string(how)) {
        order = json_string_value(how);
    } else if (json_is_object(how)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)how, k, v)
        {
            if (!strcmp(k, "order"))
                order = json_string_value(v);
            else if (strcmp(k, "unmapped_type") && strcmp(k, "missing") && strcmp(k, "format") &&
                     strcmp(k, "numeric_type") && strcmp(k, "mode"))
                return store__query_fail(c, "parsing_exception",
                                         "[sort] option [%s] is not supported", k);
        }
        if (!order && json_object_get(how, "order"))
            return store__query_fail(c, "parsing_exception", "[sort] order must be a string");
    } else if (how) {
        return store__query_fail(c, "parsing_exception", "[sort] malformed: unexpected %s for [%s]",
                                 store__json_token_name(how), fname);
    }
    if (order) {
        if (!strcmp(order, "desc"))
            desc = 1;
        else if (strcmp(order, "asc"))
            return store__query_fail(c, "illegal_argument_exception", "Unknown SortOrder [%s]",
                                     order);
    } else if (!strcmp(fname, "_score")) {
        desc = 1;
    }
    if (q->nsort >= 16)
        return store__query_fail(c, "illegal_argument_exception", "too many sort fields");
    int pg = q->dialect == EF_SQL_POSTGRES;
    char alias[32];
    snprintf(alias, sizeof alias, " AS s%zu", q->nsort);
    q->nsort++;
    if (!strcmp(fname, "_score")) { /* every hit scores 1.0: nothing to order by */
        if ((rc = ef_buf_appends(&q->sortcols, ", '1.0'")) ||
            (rc = ef_buf_appends(&q->sortcols, alias)))
            return rc;
        return EF_OK;
    }
    if (!strcmp(fname, "_doc")) {
        if ((rc = ef_buf_appends(&q->sortcols, pg ? ", id::text" : ", json_quote(id)")) ||
            (rc = ef_buf_appends(&q->sortcols, alias)))
            return rc;
        return ef_buf_appends(&q->order, desc ? "id DESC, " : "id, ");
    }
    store__field f;
    if ((rc = store__parse_field(c, fname, &f))) return rc;
    /* select the value as JSON text */
    if (pg) {
        const char *pre = f.kind == STORE_F_SOURCE ? ", coalesce((" : ", coalesce(to_jsonb(";
        if ((rc = ef_buf_appends(&q->sortcols, pre)) ||
            (rc = store__emit_value(q, &q->sortcols, &q->psel, &f)) ||
            (rc = ef_buf_appends(&q->sortcols, ")::text, 'null')")))
            return rc;
    } else {
        if ((rc = ef_buf_appends(&q->sortcols, ", json_quote(")) ||
            (rc = store__emit_value(q, &q->sortcols, &q->psel, &f)) ||
            (rc = ef_buf_appendc(&q->sortcols, ')')))
            return rc;
    }
    if ((rc = ef_buf_appends(&q->sortcols, alias))) return rc;
    /* missing values last in both directions, like ES */
    if ((rc = store__emit_value(q, &q->order, &q->porder, &f)) ||
        (rc = ef_buf_appends(&q->order, " IS NULL, ")) ||
        (rc = store__emit_value(q, &q->order, &q->porder, &f)) ||
        (rc = ef_buf_appends(&q->order, desc ? " DESC, " : ", ")))
        return rc;
    return EF_OK;
}

static int compile_sort_item(store__query_ctx *c, const json_t *e)
{
    if (json_is_string(e)) return add_sort(c, json_string_value(e), NULL);
    if (json_is_object(e) && json_object_size(e) == 1) {
        void *it = json_object_iter((json_t *)e);
        return add_sort(c, json_object_iter_key(it), json_object_iter_value(it));
    }
    return store__query_fail(c, "parsing_exception",
                             "[sort] malformed: expected a field name or "
                             "{\"field\": order}");
}

static int compile_sort(store__query_ctx *c, const json_t *s)
{
    int rc = EF_OK;
    if (json_is_array(s)) {
        size_t i;
        json_t *e;
        json_array_foreach(s, i, e)
        {
            if ((rc = compile_sort_item(c, e))) return rc;
        }
    } else if (json_is_object(s) && json_object_size(s) > 1) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)s, k, v)
        {
            if ((rc = add_sort(c, k, v))) return rc;
        }
    } else {
        rc = compile_sort_item(c, s);
    }
    return rc;
}

static int compile_source(store__query_ctx *c, const json_t *v)
{
    store__query *q = c->q;
    if (json_is_boolean(v)) {
        q->source_off = json_is_false(v);
        return EF_OK;
    }
    json_t *inc = NULL;
    if (json_is_string(v)) {
        inc = json_pack("[O]", v);
    } else if (json_is_array(v)) {
        inc = json_incref((json_t *)v);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (strcmp(k, "includes") && strcmp(k, "include"))
                return store__query_fail(c, "parsing_exception",
                                         "[_source] option [%s] is not supported", k);
            inc = json_is_string(x) ? json_pack("[O]", x) : json_incref(x);
        }
        if (!inc) return EF_OK;
    } else {
        return store__query_fail(c, "parsing_exception",
                                 "[_source] must be a boolean, a string, an array or "
                                 "an object");
    }
    if (!inc) return EF_ENOMEM;
    size_t i;
    json_t *e;
    json_array_foreach(inc, i, e)
    {
        if (!json_is_string(e)) {
            json_decref(inc);
            return store__query_fail(c, "parsing_exception", "[_source] fields must be strings");
        }
    }
    q->source_includes = inc;
    return EF_OK;
}

static int get_nonneg(store__query_ctx *c, const json_t *v, const char *what, int64_t *out)
{
    if (json_is_string(v)) { /* ES accepts "10" too */
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (*end || end == json_string_value(v))
            return store__query_fail(c, "parsing_exception", "[%s] must be a number", what);
        *out = n;
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        return store__query_fail(c, "parsing_exception", "[%s] must be a number", what);
    }
    if (*out < 0)
        return store__query_fail(c, "illegal_argument_exception",
                                 "[%s] parameter cannot be "
                                 "negative, found [%lld]",
                                 what, (long long)*out);
    return EF_OK;
}

int store__query_compile(store__query *q, const json_t *body, int count_only)
{
    store__query_ctx c = {.q = q};
    int rc;
    const json_t *query = NULL, *sort = NULL;
    if (body && !json_is_object(body))
        return store__query_fail(&c, "parsing_exception", "request body must be a JSON object");
    if (body) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)body, k, v)
        {
            if (!strcmp(k, "query")) {
                query = v;
            } else if (count_only) {
                return store__query_fail(&c, "parsing_exception", "request does not support [%s]",
                                         k);
            } else if (!strcmp(k, "size")) {
                if ((rc = get_nonneg(&c, v, "size", &q->size))) return rc;
            } else if (!strcmp(k, "from")) {
                if ((rc = get_nonneg(&c, v, "from", &q->from))) return rc;
            } else if (!strcmp(k, "sort")) {
                sort = v;
            } else if (!strcmp(k, "_source")) {
                if ((rc = compile_source(&c, v))) return rc;
            } else if (!strcmp(k, "track_total_hits")) {
                if (json_is_boolean(v))
                    q->track_total = json_is_true(v) ? -1 : 0;
                else if (json_is_integer(v) && json_integer_value(v) >= -1)
                    q->track_total = json_integer_value(v) == -1 ? -1 : json_integer_value(v);
                else
                    return store__query_fail(&c, "parsing_exception",
                                             "[track_total_hits] must be a boolean "
                                             "or an integer");
            } else if (!strcmp(k, "timeout") || !strcmp(k, "version") ||
                       !strcmp(k, "seq_no_primary_term") || !strcmp(k, "explain")) {
                continue; /* accepted, no effect */
            } else {
                return store__query_fail(&c, "parsing_exception", "Unknown key for a %s in [%s].",
                                         store__json_token_name(v), k);
            }
        }
    }
    if (query) {
        if ((rc = store__compile_query(&c, query))) return rc;
    } else if ((rc = ef_buf_appends(&q->where, "1=1"))) {
        return rc;
    }
    if (!count_only && q->from + q->size > STORE_MAX_RESULT_WINDOW)
        return store__query_fail(
            &c, "illegal_argument_exception",
            "Result window is too large, from + size must be less than or equal to: "
            "[%d] but was [%lld]. See the scroll api for a more efficient way to request "
            "large data sets. This limit can be set by changing the "
            "[index.max_result_window] index level setting.",
            STORE_MAX_RESULT_WINDOW, (long long)(q->from + q->size));
    if ((rc = ef_buf_appends(&q->order, " ORDER BY "))) return rc;
    if (sort && (rc = compile_sort(&c, sort))) return rc;
    return ef_buf_appends(&q->order, "id");
}
