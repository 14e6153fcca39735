/* client_runs.c - the experiment and run calls of the tracking client (see client.h): experiments
 * by name, run create/get/update/end, params, metrics and tags one by one or in batches split at
 * MLflow's limits, dataset inputs and logged models, and reading a run's params, tags and
 * metrics. Built on client.c's HTTP exchange and request helpers, shared through client_int.h.
 */
#include "tracking/client_int.h"

#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"

#define TC_MAX_METRICS 1000
#define TC_MAX_PARAMS_TAGS 100
#define TC_MAX_ENTITIES 1000

/* ---- JSON helpers --------------------------------------------------------------------------- */

static int64_t tc_jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_string(v)) return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static json_t *tc_jdouble(double v)
{
    if (isnan(v)) return json_string("NaN");
    if (isinf(v)) return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *tc_kv_array(const ef_tc_tag *kv, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (!kv[i].key ||
            json_array_append_new(a, json_pack("{s:s,s:s}", "key", kv[i].key, "value",
                                               kv[i].value ? kv[i].value : "")) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- experiments ---------------------------------------------------------------------------- */

static int tc_experiment_by_name(ef_tc *c, const char *name, char **id, int *deleted,
                                 ef_tc_error *err)
{
    json_t *resp = NULL, *exp;
    int rc;
    *id = NULL;
    if (!name) return tc__fail(err, EF_EINVAL, 0, NULL, "experiment name is NULL");
    rc = tc__get(c, "mlflow/experiments/get-by-name", json_pack("{s:s}", "experiment_name", name),
                 &resp, err);
    if (rc) return rc;
    exp = json_object_get(resp, "experiment");
    if (!(*id = tc__jdup(exp, "experiment_id"))) {
        json_decref(resp);
        return tc__fail(err, EF_EPROTO, 200, NULL, "get-by-name: no experiment_id in the answer");
    }
    if (deleted) {
        const char *ls = json_string_value(json_object_get(exp, "lifecycle_stage"));
        *deleted = ls && strcmp(ls, "deleted") == 0;
    }
    json_decref(resp);
    return EF_OK;
}

int ef_tc_experiment_get_by_name(ef_tc *c, const char *name, char **experiment_id,
                                 ef_tc_error *err)
{
    return tc_experiment_by_name(c, name, experiment_id, NULL, err);
}

int ef_tc_experiment_create(ef_tc *c, const char *name, const char *artifact_location,
                            char **experiment_id, ef_tc_error *err)
{
    json_t *resp = NULL;
    int rc;
    *experiment_id = NULL;
    if (!name) return tc__fail(err, EF_EINVAL, 0, NULL, "experiment name is NULL");
    rc = tc__post(c, "mlflow/experiments/create",
                  json_pack("{s:s,s:s?}", "name", name, "artifact_location", artifact_location), 0,
                  &resp, err);
    if (rc) return rc;
    if (!(*experiment_id = tc__jdup(resp, "experiment_id")))
        rc = tc__fail(err, EF_EPROTO, 200, NULL, "experiments/create: no experiment_id");
    json_decref(resp);
    return rc;
}

int ef_tc_experiment_get_or_create(ef_tc *c, const char *name, char **experiment_id,
                                   ef_tc_error *err)
{
    int deleted = 0;
    int rc = tc_experiment_by_name(c, name, experiment_id, &deleted, err);
    if (rc == EF_ENOTFOUND) {
        rc = ef_tc_experiment_create(c, name, NULL, experiment_id, err);
        if (rc != EF_EEXIST) return rc;
        rc = tc_experiment_by_name(c, name, experiment_id, &deleted, err);
    }
    if (rc == EF_OK && deleted) {
        free(*experiment_id);
        *experiment_id = NULL;
        rc = tc__fail(err, EF_EINVAL, 0, NULL,
                      "experiment '%s' is deleted: restore it or choose another name", name);
    }
    return rc;
}

/* ---- runs ----------------------------------------------------------------------------------- */

void ef_tc_run_release(ef_tc_run *r)
{
    if (!r) return;
    free(r->run_id);
    free(r->experiment_id);
    free(r->run_name);
    free(r->user_id);
    free(r->status);
    free(r->artifact_uri);
    free(r->lifecycle_stage);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* Fills out from a Run object (a reference is taken). */
static int tc_run_fill(json_t *run, ef_tc_run *out, ef_tc_error *err)
{
    json_t *info = json_object_get(run, "info");
    memset(out, 0, sizeof *out);
    out->json = json_incref(run);
    out->run_id = tc__jdup(info, "run_id");
    if (!out->run_id) out->run_id = tc__jdup(info, "run_uuid");
    out->experiment_id = tc__jdup(info, "experiment_id");
    out->run_name = tc__jdup(info, "run_name");
    out->user_id = tc__jdup(info, "user_id");
    out->status = tc__jdup(info, "status");
    out->artifact_uri = tc__jdup(info, "artifact_uri");
    out->lifecycle_stage = tc__jdup(info, "lifecycle_stage");
    out->start_time = tc_jint(info, "start_time");
    out->end_time = tc_jint(info, "end_time");
    if (!out->run_id || !out->experiment_id) {
        ef_tc_run_release(out);
        return tc__fail(err, EF_EPROTO, 200, NULL, "the answer holds no run (info.run_id)");
    }
    return EF_OK;
}

static json_t *tc_run_find(const ef_tc_run *r, const char *list, const char *key)
{
    json_t *a = json_object_get(json_object_get(r ? r->json : NULL, "data"), list), *e;
    size_t i;
    json_array_foreach(a, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "key"));
        if (k && key && strcmp(k, key) == 0) return e;
    }
    return NULL;
}

const char *ef_tc_run_param(const ef_tc_run *r, const char *key)
{
    return json_string_value(json_object_get(tc_run_find(r, "params", key), "value"));
}

const char *ef_tc_run_tag(const ef_tc_run *r, const char *key)
{
    return json_string_value(json_object_get(tc_run_find(r, "tags", key), "value"));
}

int ef_tc_run_metric(const ef_tc_run *r, const char *key, double *value)
{
    json_t *v = json_object_get(tc_run_find(r, "metrics", key), "value");
    const char *s = json_string_value(v);
    if (json_is_number(v))
        *value = json_number_value(v);
    else if (s && strcmp(s, "NaN") == 0)
        *value = NAN;
    else if (s && (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0))
        *value = s[0] == '-' ? -INFINITY : INFINITY;
    else
        return EF_ENOTFOUND;
    return EF_OK;
}

static void tc_default_user(char *out, size_t n)
{
    static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
    struct passwd pw, *res = NULL;
    char buf[1024];
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = tc__env(vars[i]);
        if (v) {
            snprintf(out, n, "%s", v);
            return;
        }
    }
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, n, "%s", res->pw_name);
    else
        snprintf(out, n, "unknown");
}

static int tc_has_tag(const ef_tc_run_create_opts *o, const char *key)
{
    for (size_t i = 0; i < o->ntags; i++)
        if (o->tags[i].key && strcmp(o->tags[i].key, key) == 0) return 1;
    return 0;
}

int ef_tc_run_create(ef_tc *c, const ef_tc_run_create_opts *o, ef_tc_run *out, ef_tc_error *err)
{
    char user[256], exe[4096];
    json_t *req = NULL, *tags, *resp = NULL;
    ssize_t n;
    int rc;
    memset(out, 0, sizeof *out);
    if (!o || !o->experiment_id)
        return tc__fail(err, EF_EINVAL, 0, NULL, "runs/create: experiment_id is required");
    if (o->user)
        snprintf(user, sizeof user, "%s", o->user);
    else
        tc_default_user(user, sizeof user);
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    const ef_tc_tag sys[] = {
        {"mlflow.runName", o->run_name},
        {"mlflow.user", user},
        {"mlflow.source.name", o->source_name ? o->source_name : exe},
        {"mlflow.source.type", o->source_type ? o->source_type : "LOCAL"},
        {"mlflow.parentRunId", o->parent_run_id},
    };
    req = json_pack("{s:s,s:s,s:s?,s:I}", "experiment_id", o->experiment_id, "user_id", user,
                    "run_name", o->run_name, "start_time",
                    (json_int_t)(o->start_time ? o->start_time : ef_now_ms()));
    if (!req || !(tags = tc_kv_array(NULL, 0)) || json_object_set_new(req, "tags", tags)) goto oom;
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
        if (!sys[i].value || !*sys[i].value || tc_has_tag(o, sys[i].key)) continue;
        if (json_array_append_new(tags, json_pack("{s:s,s:s}", "key", sys[i].key, "value",
                                                  sys[i].value)))
            goto oom;
    }
    for (size_t i = 0; i < o->ntags; i++) {
        if (!o->tags[i].key) continue;
        if (json_array_append_new(tags, json_pack("{s:s,s:s}", "key", o->tags[i].key, "value",
                                                  o->tags[i].value ? o->tags[i].value : "")))
            goto oom;
    }
    rc = tc__post(c, "mlflow/runs/create", req, 0, &resp, err);
    req = NULL;
    if (rc == EF_OK) rc = tc_run_fill(json_object_get(resp, "run"), out, err);
    json_decref(resp);
    return rc;
oom:
    json_decref(req);
    return tc__fail(err, EF_ENOMEM, 0, NULL, "runs/create: out of memory");
}

int ef_tc_run_get(ef_tc *c, const char *run_id, ef_tc_run *out, ef_tc_error *err)
{
    json_t *resp = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (!run_id) return tc__fail(err, EF_EINVAL, 0, NULL, "runs/get: run_id is NULL");
    rc = tc__get(c, "mlflow/runs/get", json_pack("{s:s,s:s}", "run_uuid", run_id, "run_id", run_id),
                 &resp, err);
    if (rc == EF_OK) rc = tc_run_fill(json_object_get(resp, "run"), out, err);
    json_decref(resp);
    return rc;
}

int ef_tc_run_update(ef_tc *c, const char *run_id, const char *status, int64_t end_time,
                     const char *run_name, ef_tc_error *err)
{
    json_t *req;
    if (!run_id) return tc__fail(err, EF_EINVAL, 0, NULL, "runs/update: run_id is NULL");
    req = json_pack("{s:s,s:s,s:s?,s:s?}", "run_uuid", run_id, "run_id", run_id, "status", status,
                    "run_name", run_name);
    if (req && end_time > 0 && json_object_set_new(req, "end_time", json_integer(end_time))) {
        json_decref(req);
        req = NULL;
    }
    return tc__post(c, "mlflow/runs/update", req, 1, NULL, err);
}

int ef_tc_run_end(ef_tc *c, const char *run_id, const char *status, ef_tc_error *err)
{
    return ef_tc_run_update(c, run_id, status ? status : "FINISHED", ef_now_ms(), NULL, err);
}

int ef_tc_log_param(ef_tc *c, const char *run_id, const char *key, const char *value,
                    ef_tc_error *err)
{
    if (!run_id || !key) return tc__fail(err, EF_EINVAL, 0, NULL, "log-parameter: NULL argument");
    return tc__post(c, "mlflow/runs/log-parameter",
                    json_pack("{s:s,s:s,s:s,s:s}", "run_uuid", run_id, "key", key, "value",
                              value ? value : "", "run_id", run_id),
                    1, NULL, err);
}

int ef_tc_log_metric(ef_tc *c, const char *run_id, const char *key, double value,
                     int64_t timestamp, int64_t step, ef_tc_error *err)
{
    if (!run_id || !key) return tc__fail(err, EF_EINVAL, 0, NULL, "log-metric: NULL argument");
    return tc__post(c, "mlflow/runs/log-metric",
                    json_pack("{s:s,s:s,s:o,s:I,s:I,s:s}", "run_uuid", run_id, "key", key, "value",
                              tc_jdouble(value), "timestamp",
                              (json_int_t)(timestamp ? timestamp : ef_now_ms()), "step",
                              (json_int_t)step, "run_id", run_id),
                    0, NULL, err);
}

int ef_tc_set_tag(ef_tc *c, const char *run_id, const char *key, const char *value,
                  ef_tc_error *err)
{
    if (!run_id || !key) return tc__fail(err, EF_EINVAL, 0, NULL, "set-tag: NULL argument");
    return tc__post(c, "mlflow/runs/set-tag",
                    json_pack("{s:s,s:s,s:s,s:s}", "run_uuid", run_id, "key", key, "value",
                              value ? value : "", "run_id", run_id),
                    1, NULL, err);
}

static int tc_log_batch_one(ef_tc *c, const char *run_id, const ef_tc_metric *m, size_t nm,
                            const ef_tc_tag *p, size_t np, const ef_tc_tag *t, size_t nt,
                            ef_tc_error *err)
{
    int64_t now = ef_now_ms();
    json_t *metrics = json_array();
    for (size_t i = 0; metrics && i < nm; i++) {
        if (!m[i].key ||
            json_array_append_new(metrics,
                                  json_pack("{s:s,s:o,s:I,s:I}", "key", m[i].key, "value",
                                            tc_jdouble(m[i].value), "timestamp",
                                            (json_int_t)(m[i].timestamp ? m[i].timestamp : now),
                                            "step", (json_int_t)m[i].step))) {
            json_decref(metrics);
            metrics = NULL;
        }
    }
    json_t *params = tc_kv_array(p, np), *tags = tc_kv_array(t, nt), *req = NULL;
    if (metrics && params && tags)
        req = json_pack("{s:s,s:o,s:o,s:o}", "run_id", run_id, "metrics", metrics, "params",
                        params, "tags", tags);
    else {
        json_decref(metrics);
        json_decref(params);
        json_decref(tags);
    }
    /* Only params and tags converge when repeated; metrics would be logged twice. */
    return tc__post(c, "mlflow/runs/log-batch", req, nm == 0, NULL, err);
}

int ef_tc_log_batch(ef_tc *c, const char *run_id, const ef_tc_metric *metrics, size_t nmetrics,
                    const ef_tc_tag *params, size_t nparams, const ef_tc_tag *tags, size_t ntags,
                    ef_tc_error *err)
{
    size_t pi = 0, ti = 0, mi = 0;
    int rc = EF_OK;
    if (!run_id) return tc__fail(err, EF_EINVAL, 0, NULL, "log-batch: run_id is NULL");
    /* MLflow's client: zip the 100-chunks of params and tags, fill each request up to 1000
     * entities with metrics, then send the remaining metrics 1000 at a time. */
    while (rc == EF_OK && (pi < nparams || ti < ntags)) {
        size_t np = nparams - pi < TC_MAX_PARAMS_TAGS ? nparams - pi : TC_MAX_PARAMS_TAGS;
        size_t nt = ntags - ti < TC_MAX_PARAMS_TAGS ? ntags - ti : TC_MAX_PARAMS_TAGS;
        size_t nm = TC_MAX_ENTITIES - np - nt;
        if (nm > TC_MAX_METRICS) nm = TC_MAX_METRICS;
        if (nm > nmetrics - mi) nm = nmetrics - mi;
        /* NULL arrays (none of that kind) stay NULL: NULL + 0 is undefined behaviour */
        rc = tc_log_batch_one(c, run_id, metrics ? metrics + mi : NULL, nm,
                              params ? params + pi : NULL, np, tags ? tags + ti : NULL, nt, err);
        pi += np;
        ti += nt;
        mi += nm;
    }
    while (rc == EF_OK && mi < nmetrics) {
        size_t nm = nmetrics - mi < TC_MAX_METRICS ? nmetrics - mi : TC_MAX_METRICS;
        rc = tc_log_batch_one(c, run_id, metrics + mi, nm, NULL, 0, NULL, 0, err);
        mi += nm;
    }
    return rc;
}

int ef_tc_log_inputs(ef_tc *c, const char *run_id, const ef_tc_dataset *ds, size_t n,
                     ef_tc_error *err)
{
    json_t *arr = json_array(), *req = NULL;
    if (!run_id) return tc__fail(err, EF_EINVAL, 0, NULL, "log-inputs: run_id is NULL");
    for (size_t i = 0; arr && i < n; i++) {
        json_t *d = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}", "name", ds[i].name, "digest",
                              ds[i].digest, "source_type", ds[i].source_type, "source",
                              ds[i].source, "schema", ds[i].schema, "profile", ds[i].profile);
        json_t *tags = ds[i].context ? json_pack("[{s:s,s:s}]", "key", "mlflow.data.context",
                                                 "value", ds[i].context)
                                     : json_array();
        json_t *in = d && tags ? json_pack("{s:o,s:o}", "tags", tags, "dataset",
                                           tc__strip_nulls(d))
                               : NULL;
        if (!in) {
            if (!d || !tags) {
                json_decref(d);
                json_decref(tags);
            }
            json_decref(arr);
            arr = NULL;
        } else if (json_array_append_new(arr, in)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr) req = json_pack("{s:s,s:o}", "run_id", run_id, "datasets", arr);
    return tc__post(c, "mlflow/runs/log-inputs", req, 0, NULL, err);
}

int ef_tc_log_model(ef_tc *c, const char *run_id, const char *model_json, ef_tc_error *err)
{
    if (!run_id || !model_json)
        return tc__fail(err, EF_EINVAL, 0, NULL, "log-model: NULL argument");
    return tc__post(c, "mlflow/runs/log-model",
                    json_pack("{s:s,s:s}", "run_id", run_id, "model_json", model_json), 1, NULL,
                    err);
}
