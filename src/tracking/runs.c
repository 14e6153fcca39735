/* runs.c - MLflow's run RPCs (create, get, update, delete, restore, search, log-parameter,
 * set-tag, delete-tag, log-inputs, log-model), run lookup, and Run rendering; the writes of run
 * data they share with log-batch live in run_data.c, the metric RPCs in metrics.c (runs_int.h).
 * MLflow 2.12.2's sqlalchemy_store.py / handlers.py / validation.py are the reference.
 *
 * A Run is rendered as {"info": RunInfo, "data": {metrics, params, tags}, "inputs":
 * {dataset_inputs}} with RunInfo's fields in proto field-number order like MLflow's JSON
 * (run_uuid first, run_id last). runs/search renders a whole page with one query per child
 * table (IN (...) over the page's run ids, chunked), never one query per run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "tracking/runs_int.h"
#include "tracking/search.h"

#define RUN_COLS "run_uuid, name, experiment_id, user_id, status, start_time, end_time," \
                 " artifact_uri, lifecycle_stage"
#define RUNS_MAX_RESULTS 50000
#define RUNS_DEFAULT_RESULTS 1000

/* --- runs and their children ----------------------------------------------------------------- */
int trk__run_check(ef_sql *db, const char *run_id, int need_active, int64_t *experiment_id,
                   trk_err *e)
{
    ef_sql_stmt *st = NULL;
    int step, rc = -1;

    if (ef_sql_prepare(db, "SELECT lifecycle_stage, experiment_id FROM runs WHERE run_uuid = ?",
                       &st) != 0)
        return trk__fail_db(e, db, "run");
    ef_sql_bind_text(st, 1, run_id, strlen(run_id));
    step = ef_sql_step(st);
    if (step < 0) {
        trk__fail_db(e, db, "run");
    } else if (step != EF_SQL_ROW) {
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
    } else {
        const char *stage = ef_sql_column_text(st, 0, NULL);
        if (experiment_id) *experiment_id = ef_sql_column_int64(st, 1);
        if (need_active && (stage == NULL || strcmp(stage, "active") != 0))
            trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                      "The run %s must be in the 'active' state. Current state is %s.", run_id,
                      stage ? stage : "deleted");
        else
            rc = 0;
    }
    ef_sql_finalize(st);
    return rc;
}

/* --- rendering ------------------------------------------------------------------------------- */
static json_t *info_from_row(ef_sql_stmt *st)
{
    json_t *o = json_object();
    const char *id = ef_sql_column_text(st, 0, NULL), *s;
    char eid[32];

    if (o == NULL) return NULL;
    snprintf(eid, sizeof eid, "%" PRId64, ef_sql_column_int64(st, 2));
    json_object_set_new(o, "run_uuid", json_string(id ? id : ""));
    json_object_set_new(o, "experiment_id", json_string(eid));
    s = ef_sql_column_text(st, 1, NULL);
    json_object_set_new(o, "run_name", json_string(s ? s : ""));
    s = ef_sql_column_text(st, 3, NULL);
    if (s) json_object_set_new(o, "user_id", json_string(s));
    s = ef_sql_column_text(st, 4, NULL);
    json_object_set_new(o, "status", json_string(s ? s : "RUNNING"));
    if (!ef_sql_column_is_null(st, 5))
        json_object_set_new(o, "start_time", json_integer(ef_sql_column_int64(st, 5)));
    if (!ef_sql_column_is_null(st, 6))
        json_object_set_new(o, "end_time", json_integer(ef_sql_column_int64(st, 6)));
    s = ef_sql_column_text(st, 7, NULL);
    if (s) json_object_set_new(o, "artifact_uri", json_string(s));
    s = ef_sql_column_text(st, 8, NULL);
    json_object_set_new(o, "lifecycle_stage", json_string(s ? s : "active"));
    json_object_set_new(o, "run_id", json_string(id ? id : ""));
    return o;
}

typedef int (*child_row)(ef_sql_stmt *st, json_t *index);

struct child_ctx {
    child_row row;
    json_t *index;
};

static int child_adapter(ef_sql_stmt *st, void *ctx)
{
    struct child_ctx *c = ctx;
    return c->row(st, c->index);
}

/* Runs "<select> IN (?,...) <tail>" over the page's run ids; row(st, index) files each row under
 * its run (column 0 = run id). */
static int children(ef_sql *db, const char *select, const char *tail, const json_t *ids,
                    json_t *index, child_row row, trk_err *e)
{
    struct child_ctx c = {row, index};
    return trk__query_in(db, select, tail, ids, 0, child_adapter, &c, "run data", e);
}

static json_t *run_data_array(json_t *index, ef_sql_stmt *st, const char *which)
{
    const char *id = ef_sql_column_text(st, 0, NULL);
    json_t *run = id ? json_object_get(index, id) : NULL;
    return run ? json_object_get(json_object_get(run, "data"), which) : NULL;
}

static int row_metric(ef_sql_stmt *st, json_t *index)
{
    json_t *a = run_data_array(index, st, "metrics");
    const char *k = ef_sql_column_text(st, 1, NULL);
    if (a == NULL) return 0;
    return json_array_append_new(
        a, json_pack("{s:s,s:o,s:I,s:I}", "key", k ? k : "", "value",
                     trk__metric_value(ef_sql_column_double(st, 2),
                                       (int)ef_sql_column_int64(st, 5)),
                     "timestamp", (json_int_t)ef_sql_column_int64(st, 3), "step",
                     (json_int_t)ef_sql_column_int64(st, 4)));
}

static int row_kv(ef_sql_stmt *st, json_t *index, const char *which)
{
    json_t *a = run_data_array(index, st, which);
    const char *k = ef_sql_column_text(st, 1, NULL), *v = ef_sql_column_text(st, 2, NULL);
    if (a == NULL) return 0;
    return json_array_append_new(a, json_pack("{s:s,s:s}", "key", k ? k : "", "value",
                                              v ? v : ""));
}
static int row_param(ef_sql_stmt *st, json_t *index) { return row_kv(st, index, "params"); }
static int row_tag(ef_sql_stmt *st, json_t *index) { return row_kv(st, index, "tags"); }

/* inputs: run id, input_uuid, dataset name, digest, source_type, source, schema, profile. The
 * DatasetInput is also filed under "#<input_uuid>" in index for its tags. */
static int row_input(ef_sql_stmt *st, json_t *index)
{
    const char *id = ef_sql_column_text(st, 0, NULL), *in = ef_sql_column_text(st, 1, NULL);
    json_t *run = id ? json_object_get(index, id) : NULL, *ds, *di;
    static const char *const f[] = {"name", "digest", "source_type", "source", "schema",
                                    "profile"};
    char key[80];

    if (run == NULL || in == NULL) return 0;
    ds = json_object();
    di = json_pack("{s:[],s:o}", "tags", "dataset", ds);
    if (di == NULL) return -1;
    for (int i = 0; i < 6; i++) {
        const char *s = ef_sql_column_text(st, 2 + i, NULL);
        if (s) json_object_set_new(ds, f[i], json_string(s));
    }
    snprintf(key, sizeof key, "#%s", in);
    json_object_set(index, key, di);
    return json_array_append_new(
        json_object_get(json_object_get(run, "inputs"), "dataset_inputs"), di);
}

/* input tags: input_uuid, name, value */
static int row_input_tag(ef_sql_stmt *st, json_t *index)
{
    const char *in = ef_sql_column_text(st, 0, NULL);
    const char *k = ef_sql_column_text(st, 1, NULL), *v = ef_sql_column_text(st, 2, NULL);
    char key[80];
    json_t *di;

    if (in == NULL) return 0;
    snprintf(key, sizeof key, "#%s", in);
    di = json_object_get(index, key);
    if (di == NULL) return 0;
    return json_array_append_new(json_object_get(di, "tags"),
                                 json_pack("{s:s,s:s}", "key", k ? k : "", "value", v ? v : ""));
}

static void drop_empty(json_t *o, const char *field)
{
    if (json_array_size(json_object_get(o, field)) == 0) json_object_del(o, field);
}

/* Steps st (RUN_COLS rows) and appends a full Run for each row to out. *count gets the rows. */
static int runs_collect(ef_sql *db, ef_sql_stmt *st, json_t *out, size_t *count, trk_err *e)
{
    json_t *index = json_object(), *ids = json_array();
    size_t first = json_array_size(out);
    int step, rc = -1;

    if (index == NULL || ids == NULL) {
        trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    while ((step = ef_sql_step(st)) == EF_SQL_ROW) {
        json_t *info = info_from_row(st);
        json_t *run = json_pack("{s:o,s:{s:[],s:[],s:[]},s:{s:[]}}", "info", info, "data",
                                "metrics", "params", "tags", "inputs", "dataset_inputs");
        const char *id = json_string_value(json_object_get(info, "run_id"));
        if (run == NULL || id == NULL || json_array_append_new(out, run) != 0 ||
            json_array_append_new(ids, json_string(id)) != 0 ||
            json_object_set(index, id, run) != 0) {
            trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
            goto out;
        }
    }
    if (step < 0) {
        trk__fail_db(e, db, "runs");
        goto out;
    }
    if (children(db, "SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics"
                     " WHERE run_uuid", "ORDER BY run_uuid, key", ids, index, row_metric, e) ||
        children(db, "SELECT run_uuid, key, value FROM params WHERE run_uuid",
                 "ORDER BY run_uuid, key", ids, index, row_param, e) ||
        children(db, "SELECT run_uuid, key, value FROM tags WHERE run_uuid",
                 "ORDER BY run_uuid, key", ids, index, row_tag, e) ||
        children(db, "SELECT i.destination_id, i.input_uuid, d.name, d.digest,"
                     " d.dataset_source_type, d.dataset_source, d.dataset_schema,"
                     " d.dataset_profile FROM inputs i JOIN datasets d ON d.dataset_uuid ="
                     " i.source_id WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN'"
                     " AND i.destination_id", "ORDER BY i.destination_id, i.input_uuid", ids,
                 index, row_input, e) ||
        children(db, "SELECT t.input_uuid, t.name, t.value FROM input_tags t JOIN inputs i ON"
                     " i.input_uuid = t.input_uuid WHERE i.destination_type = 'RUN' AND"
                     " i.destination_id", "ORDER BY t.input_uuid, t.name", ids, index,
                 row_input_tag, e))
        goto out;
    for (size_t i = first; i < json_array_size(out); i++) {
        json_t *run = json_array_get(out, i), *data = json_object_get(run, "data");
        drop_empty(data, "metrics");
        drop_empty(data, "params");
        drop_empty(data, "tags");
        drop_empty(json_object_get(run, "inputs"), "dataset_inputs");
    }
    if (count) *count = json_array_size(out) - first;
    rc = 0;
out:
    json_decref(index);
    json_decref(ids);
    return rc;
}

/* The Run with id run_id into *out (new reference). */
static int run_load(ef_sql *db, const char *run_id, json_t **out, trk_err *e)
{
    ef_sql_stmt *st = NULL;
    json_t *arr = json_array();
    size_t n = 0;
    int rc = -1;

    *out = NULL;
    if (arr == NULL) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    if (ef_sql_prepare(db, "SELECT " RUN_COLS " FROM runs WHERE run_uuid = ?", &st) != 0) {
        trk__fail_db(e, db, "run");
        goto out;
    }
    ef_sql_bind_text(st, 1, run_id, strlen(run_id));
    if (runs_collect(db, st, arr, &n, e) != 0) goto out;
    if (n == 0) {
        trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
        goto out;
    }
    *out = json_incref(json_array_get(arr, 0));
    rc = 0;
out:
    ef_sql_finalize(st);
    json_decref(arr);
    return rc;
}

/* --- RPCs ------------------------------------------------------------------------------------ */
static const char *const adjectives[] = {
    "able", "adorable", "amazing", "bold", "brave", "bright", "calm", "capable", "clean",
    "clever", "colorful", "crawling", "dapper", "defiant", "delicate", "enchanting", "fearless",
    "funny", "gentle", "gifted", "glamorous", "grandiose", "handsome", "honorable", "intrigued",
    "kindly", "learned", "loud", "lyrical", "magnificent", "mercurial", "nebulous", "polite",
    "powerful", "resilient", "rogue", "sedate", "skillful", "smiling", "stylish", "suave",
    "thoughtful", "trusting", "unequaled", "upbeat", "useful", "valuable", "victorious", "wise"};
static const char *const nouns[] = {
    "ant", "ape", "asp", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf", "carp",
    "cat", "colt", "cow", "crab", "crane", "croc", "crow", "deer", "doe", "dog", "dove", "duck",
    "eel", "elk", "fawn", "finch", "fish", "flea", "fly", "fowl", "fox", "frog", "gnat", "gnu",
    "goat", "hare", "hawk", "hen", "hog", "horse", "jay", "lamb", "lark", "mole", "moth", "mouse",
    "newt", "owl", "ox", "panda", "pig", "ram", "rat", "seal", "shark", "shrew", "skink", "slug",
    "snail", "snake", "squid", "stag", "swan", "toad", "trout", "wasp", "whale", "wolf", "worm",
    "wren", "yak", "zebra"};

/* MLflow-style generated run name: "<adjective>-<noun>-<0..999>". */
static void random_name(char *out, size_t len)
{
    char hex[33];
    unsigned long a, n, num;

    trk__uuid_hex(hex);
    a = strtoul((char[]){hex[0], hex[1], hex[2], hex[3], 0}, NULL, 16);
    n = strtoul((char[]){hex[4], hex[5], hex[6], hex[7], 0}, NULL, 16);
    num = strtoul((char[]){hex[8], hex[9], hex[10], hex[11], 0}, NULL, 16);
    snprintf(out, len, "%s-%s-%lu", adjectives[a % (sizeof adjectives / sizeof *adjectives)],
             nouns[n % (sizeof nouns / sizeof *nouns)], num % 1000);
}

/* runs/create {experiment_id, user_id, run_name, start_time, tags} -> {run} */
static void h_create(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *exp = NULL, *user = NULL, *name = NULL, *loc;
    const json_t *tags = NULL;
    json_t *owned = NULL, *run = NULL;
    trk_kv *kv = NULL, *all = NULL;
    size_t n = 0, nall;
    int64_t start = 0, eid = 0;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    ef_buf uri;
    char run_id[33], gen[64];
    const char *tag_name = NULL;
    int rc = -1, step;

    ef_buf_init(&uri);
    if (trk__str(msg, "experiment_id", 0, &exp, &e) < 0 ||
        trk__str(msg, "user_id", 0, &user, &e) < 0 ||
        trk__str(msg, "run_name", 0, &name, &e) < 0 ||
        trk__list(msg, "tags", &tags, &owned, &e) < 0 ||
        trk__kv_list(tags, "tag", "Tag key", TRK_MAX_TAG_VAL_LEN, &kv, &n, &e) < 0)
        goto fail;
    step = trk__int(msg, "start_time", 0, &start, &e);
    if (step < 0) goto fail;
    if (step == 1) start = ef_now_ms();
    if (exp == NULL || *exp == '\0') exp = "0";
    if (name != NULL && *name == '\0') name = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, TRK_RUN_NAME_TAG) == 0) tag_name = kv[i].value;
    if (name && tag_name && strcmp(name, tag_name) != 0) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with"
                  " different values (run_name='%s', mlflow.runName='%s').", name, tag_name);
        goto fail;
    }
    if (name == NULL) name = tag_name;
    if (name == NULL) {
        random_name(gen, sizeof gen);
        name = gen;
    }
    nall = n + (tag_name == NULL);
    all = calloc(nall, sizeof *all);
    if (all == NULL) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    if (n) memcpy(all, kv, n * sizeof *kv);
    if (tag_name == NULL) all[n] = (trk_kv){TRK_RUN_NAME_TAG, name, strlen(name)};

    if (trk__tx_begin(t, &db, &e) != 0) goto fail;
    {
        int64_t id = -1;
        char *end = NULL;
        id = strtoll(exp, &end, 10);
        if (*end != '\0') id = -1;
        if (ef_sql_prepare(db, "SELECT artifact_location, lifecycle_stage FROM experiments"
                               " WHERE experiment_id = ?", &st) != 0) {
            trk__fail_db(&e, db, "experiment");
            goto done;
        }
        ef_sql_bind_int64(st, 1, id);
        step = ef_sql_step(st);
        if (step < 0) {
            trk__fail_db(&e, db, "experiment");
            goto done;
        }
        if (step != EF_SQL_ROW) {
            trk__fail(&e, TRK_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%s exists", exp);
            goto done;
        }
        if (strcmp(ef_sql_column_text(st, 1, NULL) ? ef_sql_column_text(st, 1, NULL) : "",
                   "active") != 0) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                      "The experiment %s must be in the 'active' state. Current state is %s.",
                      exp, ef_sql_column_text(st, 1, NULL));
            goto done;
        }
        loc = ef_sql_column_text(st, 0, NULL);
        if (loc == NULL) loc = "";
        trk__uuid_hex(run_id);
        if (ef_buf_appendf(&uri, "%s%s%s/artifacts", loc,
                           *loc && loc[strlen(loc) - 1] == '/' ? "" : "/", run_id) != 0) {
            trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
            goto done;
        }
        eid = id;
        ef_sql_finalize(st);
        st = NULL;
    }
    if (ef_sql_prepare(db, "INSERT INTO runs(run_uuid, name, experiment_id, user_id, status,"
                           " start_time, lifecycle_stage, artifact_uri)"
                           " VALUES(?, ?, ?, ?, 'RUNNING', ?, 'active', ?)", &st) != 0) {
        trk__fail_db(&e, db, "create run");
        goto done;
    }
    ef_sql_bind_text(st, 1, run_id, 32);
    ef_sql_bind_text(st, 2, name, strlen(name));
    ef_sql_bind_int64(st, 3, eid);
    ef_sql_bind_text(st, 4, user ? user : "", user ? strlen(user) : 0);
    ef_sql_bind_int64(st, 5, start);
    ef_sql_bind_text(st, 6, uri.data, uri.len);
    if (ef_sql_step(st) < 0) {
        trk__fail_db(&e, db, "create run");
        goto done;
    }
    if (trk__tags_put(db, run_id, all, nall, &e) != 0) goto done;
    if (run_load(db, run_id, &run, &e) != 0) goto done;
    rc = 0;
done:
    ef_sql_finalize(st);
    st = NULL;
    if (trk__tx_finish(t, db, rc, &e) != 0) goto fail;
    trk__reply(r, json_pack("{s:o}", "run", run));
    run = NULL;
    goto out;
fail:
    trk__reply_error(r, &e);
out:
    json_decref(run);
    json_decref(owned);
    free(kv);
    free(all);
    ef_buf_release(&uri);
}

/* runs/get {run_id*} -> {run} */
static void h_get(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL;
    ef_sql *db = NULL;
    json_t *run = NULL;

    if (trk__run_id(msg, &id, &e) < 0 || trk__reader(t, &db, &e) != 0) goto fail;
    if (run_load(db, id, &run, &e) != 0) goto fail;
    trk__release(t, db);
    trk__reply(r, json_pack("{s:o}", "run", run));
    return;
fail:
    if (db) trk__release(t, db);
    trk__reply_error(r, &e);
}

static const char *const run_statuses[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                           "KILLED"};

/* runs/update {run_id*, status, end_time, run_name} -> {run_info} */
static void h_update(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *id = NULL, *name = NULL, *status = NULL;
    const json_t *sv = json_object_get(msg, "status");
    int64_t end = 0;
    int has_end, rc = -1;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    json_t *run = NULL;

    if (trk__run_id(msg, &id, &e) < 0 || (has_end = trk__int(msg, "end_time", 0, &end, &e)) < 0 ||
        trk__str(msg, "run_name", 0, &name, &e) < 0)
        goto fail;
    has_end = has_end == 0;
    if (sv != NULL && !json_is_null(sv)) {
        for (int i = 0; i < 5; i++) {
            const char *s = json_string_value(sv);
            if ((s && strcmp(s, run_statuses[i]) == 0) ||
                (json_is_integer(sv) && json_integer_value(sv) == i + 1) ||
                (s && s[0] == '1' + i && s[1] == '\0'))
                status = run_statuses[i];
        }
        if (status == NULL) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE, "Invalid value for parameter 'status'");
            goto fail;
        }
    }
    if (trk__tx_begin(t, &db, &e) != 0) goto fail;
    if (trk__run_check(db, id, 1, NULL, &e) != 0) goto done;
    if (ef_sql_prepare(db, "UPDATE runs SET status = COALESCE(?, status), end_time = CASE WHEN ? <> 0"
                           " THEN ? ELSE end_time END WHERE run_uuid = ?", &st) != 0) {
        trk__fail_db(&e, db, "update run");
        goto done;
    }
    if (status) ef_sql_bind_text(st, 1, status, strlen(status));
    else ef_sql_bind_null(st, 1);
    ef_sql_bind_int64(st, 2, has_end);
    ef_sql_bind_int64(st, 3, end);
    ef_sql_bind_text(st, 4, id, strlen(id));
    if (ef_sql_step(st) < 0) {
        trk__fail_db(&e, db, "update run");
        goto done;
    }
    if (name && *name) {
        trk_kv kv = {TRK_RUN_NAME_TAG, name, strlen(name)};
        if (trk__tags_put(db, id, &kv, 1, &e) != 0) goto done;
    }
    if (run_load(db, id, &run, &e) != 0) goto done;
    rc = 0;
done:
    ef_sql_finalize(st);
    if (trk__tx_finish(t, db, rc, &e) != 0) goto fail;
    trk__reply(r, json_pack("{s:O}", "run_info", json_object_get(run, "info")));
    json_decref(run);
    return;
fail:
    json_decref(run);
    trk__reply_error(r, &e);
}

/* runs/search {experiment_ids, filter, run_view_type, max_results, order_by, page_token} */
static void h_search(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    const char *filter = NULL, *token = NULL, *stage = NULL;
    const json_t *exps = NULL, *order = NULL;
    json_t *own_exps = NULL, *own_order = NULL, *runs = NULL, *doc = NULL;
    int64_t max = RUNS_DEFAULT_RESULTS, offset = 0;
    trk_search_sql s;
    ef_buf sql;
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    int compiled = 0, idx = 1;
    size_t got = 0, nexp;

    ef_buf_init(&sql);
    memset(&s, 0, sizeof s);
    if (trk__list(msg, "experiment_ids", &exps, &own_exps, &e) < 0 ||
        trk__str(msg, "filter", 0, &filter, &e) < 0 ||
        trk__view_type_sql(msg, "run_view_type", &stage, &e) < 0 ||
        trk__int(msg, "max_results", 0, &max, &e) < 0 ||
        trk__list(msg, "order_by", &order, &own_order, &e) < 0 ||
        trk__str(msg, "page_token", 0, &token, &e) < 0)
        goto fail;
    if (max > RUNS_MAX_RESULTS || max < 0) {
        trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid value for request parameter max_results. It must be at most %d, but"
                  " got value %" PRId64, RUNS_MAX_RESULTS, max);
        goto fail;
    }
    if (trk__page_token_decode(token, &offset, &e) != 0) goto fail;
    if (trk__search_compile(TRK_SEARCH_RUNS, t->dialect, filter, order, &s, &e) != 0) goto fail;
    compiled = 1;
    runs = json_array();
    doc = json_object();
    if (runs == NULL || doc == NULL) {
        trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    nexp = json_array_size(exps);
    if (nexp > 0) {
        ef_buf_appends(&sql, "SELECT " RUN_COLS " FROM runs WHERE experiment_id IN (");
        for (size_t i = 0; i < nexp; i++) ef_buf_appends(&sql, i ? ",?" : "?");
        if (ef_buf_appendf(&sql, ") AND %s AND ", stage) != 0 ||
            trk__search_page_sql(&sql, &s) != 0) {
            trk__fail(&e, TRK_INTERNAL_ERROR, "out of memory");
            goto fail;
        }
        if (trk__reader(t, &db, &e) != 0) goto fail;
        if (ef_sql_prepare(db, sql.data, &st) != 0) {
            trk__fail_db(&e, db, "search runs");
            goto fail;
        }
        for (size_t i = 0; i < nexp; i++) {
            const char *x = json_string_value(json_array_get(exps, i));
            char *end = NULL;
            long long v = x ? strtoll(x, &end, 10) : -1;
            if (x == NULL || *x == '\0' || *end != '\0') v = -1;
            ef_sql_bind_int64(st, idx++, v);
        }
        if (trk__search_bind_page(&s, st, idx, max, offset) != 0) {
            trk__fail_db(&e, db, "search runs");
            goto fail;
        }
        if (runs_collect(db, st, runs, &got, &e) != 0) goto fail;
    }
    if (got > 0) json_object_set(doc, "runs", runs);
    if (nexp > 0 && (int64_t)got == max && trk__page_token_put(doc, offset + max, &e) != 0)
        goto fail;
    ef_sql_finalize(st);
    st = NULL;
    if (db) trk__release(t, db);
    db = NULL;
    trk__reply(r, doc);
    doc = NULL;
    goto out;
fail:
    trk__reply_error(r, &e);
out:
    ef_sql_finalize(st);
    if (db) trk__release(t, db);
    if (compiled) trk__search_sql_release(&s);
    json_decref(own_exps);
    json_decref(own_order);
    json_decref(runs);
    json_decref(doc);
    ef_buf_release(&sql);
}

/* The write RPCs on one run that answer {}: 'd' delete, 'r' restore, 'p' log-parameter,
 * 't' set-tag, 'x' delete-tag, 'm' log-model, 'i' log-inputs. */
static void run_write(ef_http_req *r, ef_tracking *t, const json_t *msg, char op)
{
    trk_err e;
    const char *id = NULL, *key = NULL, *value = NULL;
    const json_t *datasets = NULL;
    json_t *own = NULL, *model = NULL;
    trk_kv kv = {0};
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    int64_t eid = 0;
    int rc = -1;

    if (trk__run_id(msg, &id, &e) < 0) goto done;
    if (op == 'p' || op == 't' || op == 'x') {
        if (trk__str(msg, "key", 1, &key, &e) < 0) goto done;
        if (op != 'x' && trk__str(msg, "value", 0, &value, &e) < 0) goto done;
        kv.key = key;
        kv.value = value;
        if (op == 'p' && trk__kv_prepare("parameter", "Param key", TRK_MAX_PARAM_VAL_LEN, &kv,
                                         &e) != 0)
            goto done;
        if (op == 't' && trk__kv_prepare("tag", "Tag key", TRK_MAX_TAG_VAL_LEN, &kv, &e) != 0)
            goto done;
    } else if (op == 'm') {
        if (trk__model_parse(msg, &model, &e) != 0) goto done;
    } else if (op == 'i') {
        if (json_object_get(msg, "datasets") == NULL) {
            trk__fail(&e, TRK_INVALID_PARAMETER_VALUE,
                      "Missing value for required parameter 'datasets'. See the API docs for more"
                      " information about request parameters.");
            goto done;
        }
        if (trk__list(msg, "datasets", &datasets, &own, &e) < 0) goto done;
    }
    if (trk__tx_begin(t, &db, &e) != 0) goto done;
    if (trk__run_check(db, id, op != 'd' && op != 'r', &eid, &e) != 0) goto done;
    switch (op) {
    case 'd':
    case 'r':
        if (ef_sql_prepare(db, op == 'd' ? "UPDATE runs SET lifecycle_stage = 'deleted',"
                                           " deleted_time = ? WHERE run_uuid = ?"
                                         : "UPDATE runs SET lifecycle_stage = 'active',"
                                           " deleted_time = NULL WHERE run_uuid = ?",
                           &st) != 0) {
            trk__fail_db(&e, db, "run lifecycle");
            goto done;
        }
        if (op == 'd') ef_sql_bind_int64(st, 1, ef_now_ms());
        ef_sql_bind_text(st, op == 'd' ? 2 : 1, id, strlen(id));
        if (ef_sql_step(st) < 0) {
            trk__fail_db(&e, db, "run lifecycle");
            goto done;
        }
        break;
    case 'p':
        if (trk__params_put(db, id, &kv, 1, 1, &e) != 0) goto done;
        break;
    case 't':
        if (trk__tags_put(db, id, &kv, 1, &e) != 0) goto done;
        break;
    case 'x':
        if (ef_sql_prepare(db, "DELETE FROM tags WHERE run_uuid = ? AND key = ?", &st) != 0) {
            trk__fail_db(&e, db, "delete tag");
            goto done;
        }
        ef_sql_bind_text(st, 1, id, strlen(id));
        ef_sql_bind_text(st, 2, key, strlen(key));
        if (ef_sql_step(st) < 0) {
            trk__fail_db(&e, db, "delete tag");
            goto done;
        }
        if (ef_sql_changes(st) == 0) {
            trk__fail(&e, TRK_RESOURCE_DOES_NOT_EXIST, "No tag with name: %s in run with id %s",
                      key, id);
            goto done;
        }
        break;
    case 'm':
        if (trk__log_model(db, id, model, &e) != 0) goto done;
        break;
    case 'i':
        if (trk__log_inputs(db, id, eid, datasets, &e) != 0) goto done;
        break;
    }
    rc = 0;
done:
    ef_sql_finalize(st);
    trk__tx_reply(r, t, db, rc, &e);
    json_decref(own);
    json_decref(model);
}

static void h_delete(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 'd'); }
static void h_restore(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 'r'); }
static void h_log_param(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 'p'); }
static void h_set_tag(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 't'); }
static void h_delete_tag(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 'x'); }
static void h_log_model(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 'm'); }
static void h_log_inputs(ef_http_req *r, ef_tracking *t, const json_t *m) { run_write(r, t, m, 'i'); }

const trk_route trk__run_routes[] = {
    {"POST", "/mlflow/runs/create", h_create, 0},
    {"GET", "/mlflow/runs/get", h_get, 0},
    {"POST", "/mlflow/runs/update", h_update, 0},
    {"POST", "/mlflow/runs/delete", h_delete, 0},
    {"POST", "/mlflow/runs/restore", h_restore, 0},
    {"POST", "/mlflow/runs/search", h_search, 0},
    {"POST", "/mlflow/runs/log-parameter", h_log_param, 0},
    {"POST", "/mlflow/runs/set-tag", h_set_tag, 0},
    {"POST", "/mlflow/runs/delete-tag", h_delete_tag, 0},
    {"POST", "/mlflow/runs/log-model", h_log_model, 0},
    {"POST", "/mlflow/runs/log-inputs", h_log_inputs, 0},
    {"POST", "/mlflow/runs/log-metric", trk__h_log_metric, 0},
    {"POST", "/mlflow/runs/log-batch", trk__h_log_batch, 0},
    {"GET", "/mlflow/metrics/get-history", trk__h_get_history, 0},
    {"GET", "/mlflow/metrics/get-history-bulk-interval", trk__h_get_history_bulk, 0},
    {NULL, NULL, NULL, 0},
};
