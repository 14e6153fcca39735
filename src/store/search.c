/* search.c - the Elasticsearch-compatible _search, _count and _bulk of the store, JSON in and
 * JSON out (the HTTP layer only moves bytes). Queries are compiled by query.c; this file resolves
 * index patterns, runs the SQL on a read connection and shapes ES 7/8 responses. _bulk writes
 * every item of a request in one transaction on the writer connection. */
#include "store/store_int.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *shards(void)
{
    return json_pack("{s:i,s:i,s:i,s:i}", "total", 1, "successful", 1, "skipped", 0, "failed", 0);
}

static json_t *not_found(const char *index)
{
    char reason[600];
    snprintf(reason, sizeof reason, "no such index [%.500s]", index);
    json_t *e = store__es_error(404, "index_not_found_exception", reason);
    json_t *err = json_object_get(e, "error");
    json_t *rc0 = json_array_get(json_object_get(err, "root_cause"), 0);
    json_t *objs[2] = {err, rc0};
    for (int i = 0; i < 2 && objs[i]; i++) {
        json_object_set_new(objs[i], "resource.type", json_string("index_or_alias"));
        json_object_set_new(objs[i], "resource.id", json_string(index));
        json_object_set_new(objs[i], "index_uuid", json_string("_na_"));
        json_object_set_new(objs[i], "index", json_string(index));
    }
    return e;
}

static json_t *server_error(const char *what, const char *detail)
{
    char reason[700];
    snprintf(reason, sizeof reason, "%s: %.600s", what, detail);
    return store__es_error(500, "exception", reason);
}

/* A new object with the included fields of src (dotted paths, or '*' patterns on top-level
 * keys). */
static json_t *filter_source(json_t *src, const json_t *includes)
{
    json_t *out = json_object();
    size_t i;
    json_t *e;
    if (!out) return NULL;
    json_array_foreach(includes, i, e)
    {
        const char *pat = json_string_value(e);
        if (strpbrk(pat, "*?[")) {
            const char *k;
            json_t *v;
            json_object_foreach(src, k, v)
            {
                if (fnmatch(pat, k, 0) == 0) json_object_set(out, k, v);
            }
            continue;
        }
        /* walk a.b.c in src, mirror the path in out */
        json_t *sv = src, *ov = out;
        char seg[256];
        const char *p = pat;
        while (sv && *p) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            if (n >= sizeof seg) break;
            memcpy(seg, p, n);
            seg[n] = '\0';
            json_t *next = json_object_get(sv, seg);
            if (!next) break;
            if (!dot) {
                json_object_set(ov, seg, next);
                break;
            }
            if (!json_is_object(next)) break;
            json_t *child = json_object_get(ov, seg);
            if (!json_is_object(child)) {
                child = json_object();
                if (!child || json_object_set_new(ov, seg, child)) break;
            }
            sv = next;
            ov = child;
            p = dot + 1;
        }
    }
    return out;
}

/* Runs the compiled query: fills hits and the total. */
static int run_search(ef_store *s, ef_sql *db, store__query *q, int all, const ef_strlist *names,
                      json_t *hits, int64_t *total, int *total_gte, int count_only)
{
    ef_buf sql;
    ef_buf_init(&sql);
    store__params pidx = {0};
    ef_sql_stmt *st = NULL;
    int rc = EF_OK, bi = 1;
    size_t nhits = 0;
    *total = -1;
    *total_gte = 0;
    if (!count_only && q->size > 0) {
        if ((rc = ef_buf_appends(&sql, "SELECT idx, doc_id, source")) ||
            (rc = ef_buf_append(&sql, q->sortcols.data, q->sortcols.len)) ||
            (rc = ef_buf_appends(&sql, " FROM docs WHERE ")) ||
            (rc = store__append_index_filter(&sql, &pidx, all, names)) ||
            (rc = ef_buf_appendf(&sql, " AND (%s)", q->where.data)) ||
            (rc = ef_buf_append(&sql, q->order.data, q->order.len)) ||
            (rc = ef_buf_appends(&sql, " LIMIT ? OFFSET ?")))
            goto out;
        if ((rc = ef_sql_prepare(db, sql.data, &st))) goto out;
        if ((rc = store__bind(st, &q->psel, &bi)) || (rc = store__bind(st, &pidx, &bi)) ||
            (rc = store__bind(st, &q->pwhere, &bi)) || (rc = store__bind(st, &q->porder, &bi)) ||
            (rc = ef_sql_bind_int64(st, bi++, q->size)) ||
            (rc = ef_sql_bind_int64(st, bi++, q->from)))
            goto out;
        while ((rc = ef_sql_step(st)) == EF_SQL_ROW) {
            json_t *hit = json_object();
            if (!hit || json_array_append_new(hits, hit)) {
                rc = EF_ENOMEM;
                goto out;
            }
            nhits++;
            json_object_set_new(hit, "_index", json_string(ef_sql_column_text(st, 0, NULL)));
            json_object_set_new(hit, "_id", json_string(ef_sql_column_text(st, 1, NULL)));
            json_object_set_new(hit, "_score", q->nsort ? json_null() : json_real(1.0));
            if (!q->source_off) {
                size_t len = 0;
                const char *src = ef_sql_column_text(st, 2, &len);
                json_t *j = src ? json_loadb(src, len, 0, NULL) : NULL;
                if (!j) j = json_object();
                if (q->source_includes && j) {
                    json_t *f = filter_source(j, q->source_includes);
                    json_decref(j);
                    j = f;
                }
                json_object_set_new(hit, "_source", j ? j : json_object());
            }
            if (q->nsort) {
                json_t *sv = json_array();
                for (size_t i = 0; i < q->nsort; i++) {
                    size_t len = 0;
                    const char *t = ef_sql_column_text(st, 3 + (int)i, &len);
                    json_t *v = t ? json_loadb(t, len, JSON_DECODE_ANY, NULL) : NULL;
                    json_array_append_new(sv, v ? v : json_null());
                }
                json_object_set_new(hit, "sort", sv);
            }
        }
        if (rc < 0) goto out;
        ef_sql_finalize(st);
        st = NULL;
    }
    if (!count_only && q->track_total == 0) goto done;
    if (!count_only && q->size > 0 && (int64_t)nhits < q->size && (q->from == 0 || nhits > 0)) {
        *total = q->from + (int64_t)nhits; /* the page ran out: the total is known */
        goto done;
    }
    ef_buf_clear(&sql);
    store__params_release(&pidx);
    int64_t cap = count_only || q->track_total < 0 ? -1 : q->track_total;
    if ((rc = ef_buf_appends(&sql, cap >= 0 ? "SELECT count(*) FROM (SELECT 1 FROM docs WHERE "
                                            : "SELECT count(*) FROM docs WHERE ")) ||
        (rc = store__append_index_filter(&sql, &pidx, all, names)) ||
        (rc = ef_buf_appendf(&sql, " AND (%s)", q->where.data)) ||
        (cap >= 0 && (rc = ef_buf_appends(&sql, " LIMIT ?) t"))))
        goto out;
    if ((rc = ef_sql_prepare(db, sql.data, &st))) goto out;
    bi = 1;
    if ((rc = store__bind(st, &pidx, &bi)) || (rc = store__bind(st, &q->pwhere, &bi)) ||
        (cap >= 0 && (rc = ef_sql_bind_int64(st, bi++, cap + 1))))
        goto out;
    if ((rc = ef_sql_step(st)) != EF_SQL_ROW) {
        if (rc >= 0) rc = EF_EDB;
        goto out;
    }
    *total = ef_sql_column_int64(st, 0);
    if (cap >= 0 && *total > cap) {
        *total = cap;
        *total_gte = 1;
    }
done:
    rc = EF_OK;
out:
    (void)s;
    ef_sql_finalize(st);
    store__params_release(&pidx);
    ef_buf_release(&sql);
    return rc;
}

static int search_or_count(ef_store *s, const char *pattern, const json_t *body, json_t **out,
                           int count_only)
{
    int64_t t0 = ef_mono_us();
    store__query q;
    ef_strlist names;
    ef_strlist_init(&names);
    ef_sql *db = NULL;
    char *missing = NULL;
    json_t *hits = NULL;
    int all = 0, gte = 0, rc;
    int64_t total = 0;
    *out = NULL;
    store__query_init(&q, s->dialect, ef_now_ms());
    rc = store__query_compile(&q, body, count_only);
    if (rc == EF_EINVAL) {
        *out = store__es_error(q.status, q.etype, q.ereason);
        goto out;
    }
    if (rc) goto out;
    if ((rc = store__reader_acquire(s, &db))) goto out;
    rc = store__resolve(db, pattern, &all, &names, &missing);
    if (rc == EF_ENOTFOUND) {
        *out = not_found(missing);
        goto out;
    }
    if (rc) goto out;
    if (!(hits = json_array())) {
        rc = EF_ENOMEM;
        goto out;
    }
    if (all || names.n) {
        rc = run_search(s, db, &q, all, &names, hits, &total, &gte, count_only);
        if (rc) {
            EF_ERROR("store: search failed: %s", ef_sql_errmsg(db));
            *out = server_error("search failed", ef_sql_errmsg(db));
            goto out;
        }
    }
    if (count_only) {
        *out = json_pack("{s:I,s:o}", "count", (json_int_t)total, "_shards", shards());
    } else {
        json_t *h = json_object();
        if (h) {
            if (q.track_total != 0)
                json_object_set_new(h, "total",
                                    json_pack("{s:I,s:s}", "value", (json_int_t)total, "relation",
                                              gte ? "gte" : "eq"));
            json_object_set_new(h, "max_score",
                                q.nsort || json_array_size(hits) == 0 ? json_null()
                                                                      : json_real(1.0));
            json_object_set(h, "hits", hits);
        }
        *out = h ? json_pack("{s:I,s:b,s:o,s:o}", "took", (json_int_t)((ef_mono_us() - t0) / 1000),
                             "timed_out", 0, "_shards", shards(), "hits", h)
                 : NULL;
    }
    if (!*out) rc = EF_ENOMEM;
out:
    if (db) store__reader_release(s, db);
    json_decref(hits);
    free(missing);
    ef_strlist_release(&names);
    store__query_release(&q);
    return rc ? rc : EF_OK;
}

int ef_store_search(ef_store *s, const char *pattern, const json_t *body, json_t **out)
{
    return search_or_count(s, pattern, body, out, 0);
}

int ef_store_count(ef_store *s, const char *pattern, const json_t *body, json_t **out)
{
    return search_or_count(s, pattern, body, out, 1);
}

/* --- _bulk -------------------------------------------------------------------------------------
 */

const char *store__index_name_error(const char *n)
{
    size_t len = strlen(n);
    if (!len) return "must not be empty";
    if (len > 255) return "index name is too long, (> 255)";
    if (!strcmp(n, ".") || !strcmp(n, "..")) return "must not be '.' or '..'";
    if (n[0] == '_' || n[0] == '-' || n[0] == '+') return "must not start with '_', '-', or '+'";
    for (const char *p = n; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') return "must be lowercase";
        if (strchr("\\/*?\"<>| ,#:", *p) || (unsigned char)*p < 0x20)
            return "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, "
                   "#, :]";
    }
    return NULL;
}

enum { A_INDEX, A_CREATE, A_UPDATE, A_DELETE };
static const char *const action_names[] = {"index", "create", "update", "delete"};

typedef struct bulk_item {
    int action;
    json_t *meta;    /* the action's metadata object (borrowed from the parsed line) */
    json_t *line;    /* the parsed action line (owned) */
    const char *src; /* raw source line, or NULL */
    size_t srclen;
} bulk_item;

static json_t *item_error(const char *index, const char *id, int status, const char *type,
                          const char *reason)
{
    json_t *r = json_pack("{s:s?,s:s?,s:i,s:{s:s,s:s}}", "_index", index, "_id", id, "status",
                          status, "error", "type", type, "reason", reason);
    if (r && index) {
        json_object_set_new(json_object_get(r, "error"), "index", json_string(index));
    }
    return r;
}

static int parse_bulk(const char *nd, size_t len, bulk_item **items_out, size_t *n_out,
                      json_t **err)
{
    bulk_item *items = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    const char *p = nd, *end = nd + len;
    char reason[300];
    int rc = EF_OK;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ls = p;
        p = nl ? nl + 1 : end;
        lineno++;
        size_t ll = (size_t)(le - ls);
        while (ll && (ls[ll - 1] == '\r' || ls[ll - 1] == ' ' || ls[ll - 1] == '\t'))
            ll--;
        if (!ll) continue;
        json_error_t je;
        json_t *line = json_loadb(ls, ll, 0, &je);
        if (!json_is_object(line) || json_object_size(line) != 1) {
            snprintf(reason, sizeof reason,
                     line ? "Malformed action/metadata line [%zu], expected a single-key object"
                          : "Malformed action/metadata line [%zu], expected START_OBJECT: %s",
                     lineno, line ? "" : je.text);
            json_decref(line);
            goto bad;
        }
        void *it = json_object_iter(line);
        const char *an = json_object_iter_key(it);
        json_t *meta = json_object_iter_value(it);
        int action = -1;
        for (int a = 0; a < 4; a++)
            if (!strcmp(an, action_names[a])) action = a;
        if (action < 0) {
            snprintf(reason, sizeof reason,
                     "Malformed action/metadata line [%zu], expected one of [create, delete, "
                     "index, update] but found [%.100s]",
                     lineno, an);
            json_decref(line);
            goto bad;
        }
        if (!json_is_object(meta)) {
            snprintf(reason, sizeof reason,
                     "Malformed action/metadata line [%zu], expected START_OBJECT but found [%s]",
                     lineno, json_is_array(meta) ? "START_ARRAY" : "VALUE");
            json_decref(line);
            goto bad;
        }
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v)
        {
            static const char *const ok[] = {"_index",
                                             "_id",
                                             "routing",
                                             "pipeline",
                                             "_type",
                                             "require_alias",
                                             "version",
                                             "version_type",
                                             "if_seq_no",
                                             "if_primary_term",
                                             "retry_on_conflict",
                                             "dynamic_templates",
                                             "_source",
                                             NULL};
            int known = 0;
            for (int i = 0; ok[i]; i++)
                if (!strcmp(k, ok[i])) known = 1;
            if (!known || ((!strcmp(k, "_index") || !strcmp(k, "_id")) && !json_is_string(v) &&
                           !json_is_integer(v))) {
                snprintf(reason, sizeof reason,
                         "Action/metadata line [%zu] contains an unknown parameter [%.100s]",
                         lineno, k);
                json_decref(line);
                goto bad;
            }
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            bulk_item *ni = realloc(items, nc * sizeof *ni);
            if (!ni) {
                json_decref(line);
                rc = EF_ENOMEM;
                goto fail;
            }
            items = ni;
            cap = nc;
        }
        bulk_item *bi = &items[n++];
        memset(bi, 0, sizeof *bi);
        bi->action = action;
        bi->line = line;
        bi->meta = meta;
        if (action != A_DELETE) {
            /* the next line is the source (may be empty/blank: an item error later) */
            if (p >= end) {
                snprintf(reason, sizeof reason,
                         "The bulk request must be terminated by a "
                         "newline [\\n]: no source after line [%zu]",
                         lineno);
                goto bad;
            }
            nl = memchr(p, '\n', (size_t)(end - p));
            le = nl ? nl : end;
            bi->src = p;
            bi->srclen = (size_t)(le - p);
            while (bi->srclen && (p[bi->srclen - 1] == '\r'))
                bi->srclen--;
            p = nl ? nl + 1 : end;
            lineno++;
        }
    }
    if (!n) {
        snprintf(reason, sizeof reason, "Validation Failed: 1: no requests added;");
        rc = EF_EINVAL;
        *err = store__es_error(400, "action_request_validation_exception", reason);
        goto fail;
    }
    *items_out = items;
    *n_out = n;
    return EF_OK;
bad:
    rc = EF_EINVAL;
    *err = store__es_error(400, "illegal_argument_exception", reason);
fail:
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].line);
    free(items);
    return rc;
}

static int64_t collected_of(const json_t *src, int64_t now)
{
    const json_t *c = json_object_get(src, "collected");
    int64_t t;
    if (json_is_integer(c)) return json_integer_value(c);
    if (json_is_real(c)) return (int64_t)json_real_value(c);
    if (json_is_string(c) && !ef_parse_time_ms(json_string_value(c), now, &t)) return t;
    return INT64_MIN;
}

typedef struct bulk_touch {
    char *name;
    int64_t added;
} bulk_touch;

static int touch_add(bulk_touch **tv, size_t *nt, const char *name, int added)
{
    for (size_t i = 0; i < *nt; i++)
        if (!strcmp((*tv)[i].name, name)) {
            (*tv)[i].added += added;
            return EF_OK;
        }
    bulk_touch *n = realloc(*tv, (*nt + 1) * sizeof *n);
    if (!n) return EF_ENOMEM;
    *tv = n;
    if (!(n[*nt].name = strdup(name))) return EF_ENOMEM;
    n[(*nt)++].added = added;
    return EF_OK;
}

/* Writes one index/create item; returns the item's result object (or NULL on OOM) and sets
 * *dberr on a database failure (the transaction must then be rolled back). */
static json_t *bulk_write(ef_store *s, const bulk_item *it, const char *index, const char *id,
                          int64_t now, size_t seq, bulk_touch **tv, size_t *nt, int *dberr)
{
    json_error_t je;
    json_t *src = json_loadb(it->src, it->srclen, 0, &je);
    json_t *res = NULL;
    char reason[400];
    ef_buf key;
    ef_buf_init(&key);
    if (!json_is_object(src)) {
        snprintf(reason, sizeof reason, "failed to parse: %s",
                 src ? "the document must be a JSON object" : je.text);
        res = item_error(index, id, 400, "mapper_parsing_exception", reason);
        goto out;
    }
    int64_t collected = collected_of(src, now);
    if (ef_buf_appendf(&key, "%s/%s", index, id)) goto out;
    ef_sql_stmt *st = s->st_insert;
    int rc;
    if ((rc = ef_sql_bind_text(st, 1, index, strlen(index))) ||
        (rc = ef_sql_bind_text(st, 2, id, strlen(id))) ||
        (rc = ef_sql_bind_text(st, 3, key.data, key.len)) ||
        (rc = collected == INT64_MIN ? ef_sql_bind_null(st, 4)
                                     : ef_sql_bind_int64(st, 4, collected)) ||
        (rc = ef_sql_bind_text(st, 5, it->src, it->srclen)) || (rc = ef_sql_step(st)) < 0) {
        ef_sql_reset(st);
        *dberr = rc;
        goto out;
    }
    int64_t changed = ef_sql_changes(st);
    ef_sql_reset(st);
    const char *result = "created";
    int status = 201;
    int64_t version = 1;
    if (!changed && it->action == A_CREATE) {
        snprintf(reason, sizeof reason,
                 "[%.200s]: version conflict, document already exists (current version [1])", id);
        res = item_error(index, id, 409, "version_conflict_engine_exception", reason);
        goto out;
    }
    if (!changed) {
        st = s->st_update;
        if ((rc = ef_sql_bind_text(st, 1, it->src, it->srclen)) ||
            (rc = collected == INT64_MIN ? ef_sql_bind_null(st, 2)
                                         : ef_sql_bind_int64(st, 2, collected)) ||
            (rc = ef_sql_bind_text(st, 3, key.data, key.len)) ||
            (rc = ef_sql_step(st)) != EF_SQL_ROW) {
            ef_sql_reset(st);
            *dberr = rc < 0 ? rc : EF_EDB;
            goto out;
        }
        version = ef_sql_column_int64(st, 0);
        ef_sql_step(st); /* completes the statement */
        ef_sql_reset(st);
        result = "updated";
        status = 200;
    }
    if (touch_add(tv, nt, index, changed ? 1 : 0)) goto out;
    res = json_pack("{s:s,s:s,s:I,s:s,s:{s:i,s:i,s:i},s:I,s:i,s:i}", "_index", index, "_id", id,
                    "_version", (json_int_t)version, "result", result, "_shards", "total", 1,
                    "successful", 1, "failed", 0, "_seq_no", (json_int_t)seq, "_primary_term", 1,
                    "status", status);
out:
    json_decref(src);
    ef_buf_release(&key);
    return res;
}

int ef_store_bulk(ef_store *s, const char *default_index, const char *ndjson, size_t len,
                  json_t **out)
{
    int64_t t0 = ef_mono_us(), now = ef_now_ms();
    bulk_item *items = NULL;
    size_t n = 0, nt = 0;
    bulk_touch *tv = NULL;
    json_t *arr = NULL;
    int rc, errors = 0, locked = 0, dberr = 0;
    *out = NULL;
    if ((rc = parse_bulk(ndjson, len, &items, &n, out))) return rc;
    if (!(arr = json_array())) {
        rc = EF_ENOMEM;
        goto out;
    }
    pthread_mutex_lock(&s->wlock);
    locked = 1;
    if ((rc = ef_sql_begin(s->w))) {
        dberr = rc;
        goto dbfail;
    }
    for (size_t i = 0; i < n; i++) {
        bulk_item *it = &items[i];
        json_t *iv = json_object_get(it->meta, "_index");
        json_t *idv = json_object_get(it->meta, "_id");
        char idbuf[32];
        const char *index = json_is_string(iv) ? json_string_value(iv) : default_index;
        const char *id = NULL;
        if (json_is_string(idv)) {
            id = json_string_value(idv);
        } else if (json_is_integer(idv)) {
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(idv));
            id = idbuf;
        }
        json_t *res;
        const char *ie;
        char reason[400];
        if (!index) {
            res = item_error(NULL, id, 400, "action_request_validation_exception",
                             "Validation Failed: 1: index is missing;");
        } else if ((ie = store__index_name_error(index))) {
            snprintf(reason, sizeof reason, "Invalid index name [%.200s], %s", index, ie);
            res = item_error(index, id, 400, "invalid_index_name_exception", reason);
        } else if (it->action == A_UPDATE || it->action == A_DELETE) {
            snprintf(reason, sizeof reason,
                     "[%s] is not supported by this store (only index and create)",
                     action_names[it->action]);
            res = item_error(index, id, 400, "illegal_argument_exception", reason);
        } else if (id && (!*id || strlen(id) > 512)) {
            res = item_error(index, id, 400, "illegal_argument_exception",
                             *id ? "id is too long, must be no longer than 512 bytes"
                                 : "if _id is specified it must not be empty");
        } else {
            if (!id) {
                store__gen_id(s, idbuf);
                id = idbuf;
            }
            res = bulk_write(s, it, index, id, now, i, &tv, &nt, &dberr);
            if (dberr) goto dbfail;
        }
        if (!res) {
            rc = EF_ENOMEM;
            goto rollback;
        }
        if (json_object_get(res, "error")) errors = 1;
        if (json_array_append_new(arr, json_pack("{s:o}", action_names[it->action], res))) {
            rc = EF_ENOMEM;
            goto rollback;
        }
    }
    for (size_t i = 0; i < nt; i++)
        if ((dberr = store__index_touch(s, tv[i].name, tv[i].added))) goto dbfail;
    if ((dberr = ef_sql_commit(s->w))) goto dbfail;
    pthread_mutex_unlock(&s->wlock);
    locked = 0;
    *out = json_pack("{s:I,s:b,s:O}", "took", (json_int_t)((ef_mono_us() - t0) / 1000), "errors",
                     errors, "items", arr);
    rc = *out ? EF_OK : EF_ENOMEM;
    goto out;
dbfail:
    EF_ERROR("store: _bulk failed: %s", ef_sql_errmsg(s->w));
    *out = server_error("bulk write failed", ef_sql_errmsg(s->w));
    rc = dberr == EF_ENOMEM ? EF_ENOMEM : EF_EDB;
rollback:
    ef_sql_rollback(s->w);
out:
    if (locked) pthread_mutex_unlock(&s->wlock);
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].line);
    free(items);
    for (size_t i = 0; i < nt; i++)
        free(tv[i].name);
    free(tv);
    json_decref(arr);
    return rc;
}
