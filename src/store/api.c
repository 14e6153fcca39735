/* api.c - the store's HTTP API on the shared server (http/server.h):
 *   GET /api/v1/indices, GET /api/v1/series (JSON or pandas-shaped CSV),
 *   the Elasticsearch subset: GET / (cluster info, so ES clients that probe the root work),
 *   HEAD|PUT /{index}, POST|PUT /_bulk, /{index}/_bulk, GET|POST /_search, /{index}/_search,
 *   /_count, /{index}/_count. Errors keep Elasticsearch's shape and status codes.
 * Handlers run on the server's thread pool; the store is thread-safe. */
#include "store/store_int.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/version.h"
#include "csv/table.h"
#include "http/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void reply_es_error(ef_http_req *r, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_es_error(ef_http_req *r, int status, const char *type, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    json_t *e = store__es_error(status, type, reason);
    if (!e) {
        ef_http_reply_error(r, 500, "out of memory");
        return;
    }
    ef_http_reply_json(r, status, e);
}

/* Status of a store result: the "status" member of an error object, else by code. */
static void reply_result(ef_http_req *r, int rc, json_t *out)
{
    if (!out) {
        reply_es_error(r, 500, "exception", "%s", ef_strerror(rc));
        return;
    }
    int status = 200;
    json_t *st = json_object_get(out, "status");
    if (rc && json_is_integer(st))
        status = (int)json_integer_value(st);
    else if (rc == EF_ENOTFOUND)
        status = 404;
    else if (rc == EF_EINVAL)
        status = 400;
    else if (rc)
        status = 500;
    ef_http_reply_json(r, status, out);
}

/* --- Elasticsearch -----------------------------------------------------------------------------
 */

static void h_root(ef_http_req *r, void *ctx)
{
    (void)ctx;
    char host[256] = "edgeflow";
    gethostname(host, sizeof host - 1);
    json_t *doc =
        json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:s}", "name", host, "cluster_name",
                  "edgeflow", "cluster_uuid", "_na_", "version", "number", "7.17.0", "distribution",
                  "edgeflow", "edgeflow_version", EF_VERSION, "lucene_version", "8.11.1",
                  "minimum_wire_compatibility_version", "6.8.0", "tagline", "You Know, for Search");
    ef_http_add_header(r, "X-elastic-product", "Elasticsearch");
    ef_http_reply_json(r, 200, doc);
}

/* The request body as JSON; *body = NULL when there is none. Replies 400 and returns -1 when it
 * does not parse. */
static int body_json(ef_http_req *r, json_t **body)
{
    size_t len = 0;
    const char *b = ef_http_req_body(r, &len);
    size_t i = 0;
    *body = NULL;
    while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (i == len) return 0;
    json_error_t je;
    *body = json_loadb(b, len, 0, &je);
    if (!*body) {
        reply_es_error(r, 400, "parsing_exception",
                       "failed to parse the request body: %s at line %d, column %d", je.text,
                       je.line, je.column);
        return -1;
    }
    return 0;
}

/* URL parameters that ES also accepts for _search: size, from, sort, _source,
 * track_total_hits. A body member wins over the URL parameter. */
static int merge_url_params(ef_http_req *r, json_t **body)
{
    static const char *const names[] = {"size", "from", "sort", "_source", "track_total_hits"};
    const char *q = ef_http_req_query(r, "q");
    if (q) {
        reply_es_error(r, 400, "illegal_argument_exception",
                       "the [q] URL parameter (query string syntax) is not supported; send a "
                       "query in the body");
        return -1;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = ef_http_req_query(r, names[i]);
        if (!v) continue;
        if (!*body && !(*body = json_object())) return -1;
        if (!json_is_object(*body) || json_object_get(*body, names[i])) continue;
        json_t *jv;
        if (i <= 1) {
            char *end;
            long long n = strtoll(v, &end, 10);
            jv = *end || end == v ? json_string(v) : json_integer(n);
        } else if (!strcmp(v, "true") || !strcmp(v, "false")) {
            jv = json_boolean(v[0] == 't');
        } else if (i == 2) { /* "a:desc,b" */
            jv = json_array();
            ef_strlist parts;
            ef_strlist_init(&parts);
            ef_strlist_push_split(&parts, v, ',');
            for (size_t k = 0; k < parts.n; k++) {
                char *colon = strchr(parts.v[k], ':');
                if (colon) {
                    *colon = '\0';
                    json_array_append_new(jv, json_pack("{s:s}", parts.v[k], colon + 1));
                } else {
                    json_array_append_new(jv, json_string(parts.v[k]));
                }
            }
            ef_strlist_release(&parts);
        } else if (i == 4) {
            char *end;
            long long n = strtoll(v, &end, 10);
            jv = *end || end == v ? json_string(v) : json_integer(n);
        } else { /* _source=a,b */
            jv = json_array();
            ef_strlist parts;
            ef_strlist_init(&parts);
            ef_strlist_push_split(&parts, v, ',');
            for (size_t k = 0; k < parts.n; k++)
                json_array_append_new(jv, json_string(parts.v[k]));
            ef_strlist_release(&parts);
        }
        json_object_set_new(*body, names[i], jv);
    }
    return 0;
}

static void search_common(ef_http_req *r, ef_store *s, int count_only)
{
    const char *index = ef_http_req_param(r, "index");
    json_t *body = NULL, *out = NULL;
    if (body_json(r, &body)) return;
    if (!count_only && merge_url_params(r, &body)) {
        json_decref(body);
        return;
    }
    int rc = count_only ? ef_store_count(s, index ? index : "_all", body, &out)
                        : ef_store_search(s, index ? index : "_all", body, &out);
    json_decref(body);
    reply_result(r, rc, out);
}

static void h_search(ef_http_req *r, void *ctx)
{
    search_common(r, ctx, 0);
}

static void h_count(ef_http_req *r, void *ctx)
{
    search_common(r, ctx, 1);
}

static void h_bulk(ef_http_req *r, void *ctx)
{
    ef_store *s = ctx;
    const char *index = ef_http_req_param(r, "index");
    size_t len = 0;
    const char *b = ef_http_req_body(r, &len);
    json_t *out = NULL;
    if (index && store__index_name_error(index)) {
        reply_es_error(r, 400, "invalid_index_name_exception", "Invalid index name [%s], %s", index,
                       store__index_name_error(index));
        return;
    }
    int rc = ef_store_bulk(s, index, b, len, &out);
    reply_result(r, rc, out);
}

static int index_exists(ef_store *s, const char *pattern, int *exists)
{
    ef_sql *db = NULL;
    ef_strlist names;
    ef_strlist_init(&names);
    char *missing = NULL;
    int all = 0, rc = store__reader_acquire(s, &db);
    if (rc) return rc;
    rc = store__resolve(db, pattern, &all, &names, &missing);
    store__reader_release(s, db);
    *exists = rc == EF_OK && (all || names.n > 0);
    if (rc == EF_ENOTFOUND) rc = EF_OK;
    free(missing);
    ef_strlist_release(&names);
    return rc;
}

static void h_head_index(ef_http_req *r, void *ctx)
{
    int exists = 0;
    int rc = index_exists(ctx, ef_http_req_param(r, "index"), &exists);
    ef_http_reply(r, rc ? 500 : exists ? 200 : 404, "application/json", "", 0);
}

static void h_put_index(ef_http_req *r, void *ctx)
{
    ef_store *s = ctx;
    const char *index = ef_http_req_param(r, "index");
    const char *err = store__index_name_error(index);
    if (err) {
        reply_es_error(r, 400, "invalid_index_name_exception", "Invalid index name [%s], %s", index,
                       err);
        return;
    }
    ef_sql_stmt *st = NULL;
    int rc;
    int64_t changed = 0;
    pthread_mutex_lock(&s->wlock);
    rc = ef_sql_prepare(s->w,
                        "INSERT INTO indices(name, docs) VALUES(?, 0) "
                        "ON CONFLICT(name) DO NOTHING",
                        &st);
    if (!rc && !(rc = ef_sql_bind_text(st, 1, index, strlen(index))) &&
        (rc = ef_sql_step(st)) >= 0) {
        rc = EF_OK;
        changed = ef_sql_changes(st);
    }
    ef_sql_finalize(st);
    pthread_mutex_unlock(&s->wlock);
    if (rc) {
        reply_es_error(r, 500, "exception", "cannot create index: %s", ef_strerror(rc));
    } else if (!changed) {
        json_t *e = store__es_error(400, "resource_already_exists_exception",
                                    "index already "
                                    "exists");
        json_object_set_new(json_object_get(e, "error"), "index", json_string(index));
        ef_http_reply_json(r, 400, e);
    } else {
        ef_http_reply_json(r, 200,
                           json_pack("{s:b,s:b,s:s}", "acknowledged", 1, "shards_acknowledged", 1,
                                     "index", index));
    }
}

/* --- edgeflow's own API ------------------------------------------------------------------------
 */

static void h_indices(ef_http_req *r, void *ctx)
{
    ef_store *s = ctx;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    json_t *arr = json_array();
    int rc = arr ? store__reader_acquire(s, &db) : EF_ENOMEM;
    if (rc) goto out;
    if ((rc = ef_sql_prepare(db, "SELECT name, docs, first_ms, last_ms FROM indices ORDER BY name",
                             &st)))
        goto out;
    while ((rc = ef_sql_step(st)) == EF_SQL_ROW) {
        json_t *o = json_pack(
            "{s:s,s:I,s:o,s:o}", "index", ef_sql_column_text(st, 0, NULL), "docs",
            (json_int_t)ef_sql_column_int64(st, 1), "first",
            ef_sql_column_is_null(st, 2) ? json_null() : json_integer(ef_sql_column_int64(st, 2)),
            "last",
            ef_sql_column_is_null(st, 3) ? json_null() : json_integer(ef_sql_column_int64(st, 3)));
        if (!o || json_array_append_new(arr, o)) {
            rc = EF_ENOMEM;
            goto out;
        }
    }
    if (rc == EF_SQL_DONE) rc = EF_OK;
out:
    ef_sql_finalize(st);
    if (db) store__reader_release(s, db);
    if (rc) {
        json_decref(arr);
        reply_es_error(r, 500, "exception", "cannot list indices: %s", ef_strerror(rc));
        return;
    }
    ef_http_reply_json(r, 200, arr);
}

typedef struct series_ctx {
    int csv;
    int64_t limit, n;
    json_t *readings;
    ef_csv_table *table;
} series_ctx;

static int series_cb(void *ctx, const char *index, const char *id, int64_t collected,
                     const char *source, size_t len)
{
    series_ctx *c = ctx;
    (void)index;
    (void)id;
    (void)collected;
    if (c->n >= c->limit) return 1;
    c->n++;
    if (c->csv) {
        int rc = ef_csv_table_add_text(c->table, source, len);
        return rc == EF_EINVAL ? 0 : rc;
    }
    json_t *j = json_loadb(source, len, 0, NULL);
    if (!j) return 0;
    return json_array_append_new(c->readings, j) ? EF_ENOMEM : 0;
}

static int parse_bound(ef_http_req *r, const char *name, int64_t now, int64_t *out)
{
    const char *v = ef_http_req_query(r, name);
    if (!v || !*v) return 0;
    if (ef_parse_time_ms(v, now, out)) {
        reply_es_error(r, 400, "illegal_argument_exception",
                       "[%s] must be epoch ms, an ISO 8601 time or date math like now-1h, got [%s]",
                       name, v);
        return -1;
    }
    return 0;
}

static void h_series(ef_http_req *r, void *ctx)
{
    ef_store *s = ctx;
    const char *index = ef_http_req_query(r, "index");
    const char *device = ef_http_req_query(r, "device");
    const char *format = ef_http_req_query(r, "format");
    const char *limit = ef_http_req_query(r, "limit");
    int64_t now = ef_now_ms(), from = INT64_MIN, to = INT64_MAX;
    series_ctx c = {.limit = 10000};
    if (!index || !*index) index = "*";
    if (device && !*device) device = NULL;
    if (format && strcmp(format, "json") && strcmp(format, "csv")) {
        reply_es_error(r, 400, "illegal_argument_exception", "[format] must be json or csv");
        return;
    }
    c.csv = format && !strcmp(format, "csv");
    if (limit) {
        char *end;
        long long n = strtoll(limit, &end, 10);
        if (*end || end == limit || n < 0 || n > 10000000) {
            reply_es_error(r, 400, "illegal_argument_exception",
                           "[limit] must be an integer between 0 and 10000000");
            return;
        }
        c.limit = n;
    }
    if (parse_bound(r, "from", now, &from) || parse_bound(r, "to", now, &to)) return;
    if (c.csv ? !(c.table = ef_csv_table_new()) : !(c.readings = json_array())) goto oom;
    int rc = ef_store_scan(s, index, device, from, to, series_cb, &c);
    if (rc < 0) {
        reply_es_error(r, 500, "exception", "series query failed: %s", ef_strerror(rc));
        goto out;
    }
    if (c.csv) {
        ef_buf b;
        ef_buf_init(&b);
        if (ef_csv_table_render(c.table, &b)) {
            ef_buf_release(&b);
            goto oom;
        }
        size_t len = 0;
        char *data = ef_buf_take(&b, &len);
        if (!data) goto oom;
        ef_http_reply_take(r, 200, "text/csv; charset=utf-8", data, len);
    } else {
        json_t *doc = json_pack("{s:s,s:I,s:O}", "index", index, "count",
                                (json_int_t)json_array_size(c.readings), "readings", c.readings);
        if (!doc) goto oom;
        ef_http_reply_json(r, 200, doc);
    }
    goto out;
oom:
    ef_http_reply_error(r, 500, "out of memory");
out:
    json_decref(c.readings);
    ef_csv_table_free(c.table);
}

int ef_store_api_register(struct ef_http_server *http, ef_store *s)
{
    static const struct {
        const char *method, *pattern;
        ef_http_handler h;
    } routes[] = {
        {"GET", "/api/v1/indices", h_indices},
        {"GET", "/api/v1/series", h_series},
        {"GET", "/", h_root},
        {"HEAD", "/", h_root},
        {"POST", "/_bulk", h_bulk},
        {"PUT", "/_bulk", h_bulk},
        {"POST", "/{index}/_bulk", h_bulk},
        {"PUT", "/{index}/_bulk", h_bulk},
        {"GET", "/_search", h_search},
        {"POST", "/_search", h_search},
        {"GET", "/{index}/_search", h_search},
        {"POST", "/{index}/_search", h_search},
        {"GET", "/_count", h_count},
        {"POST", "/_count", h_count},
        {"GET", "/{index}/_count", h_count},
        {"POST", "/{index}/_count", h_count},
        {"HEAD", "/{index}", h_head_index},
        {"PUT", "/{index}", h_put_index},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = ef_http_route(http, routes[i].method, routes[i].pattern, routes[i].h, s);
        if (rc) return rc;
    }
    return EF_OK;
}
