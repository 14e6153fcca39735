/* client_registry.c - the model registry calls of the tracking client (see client.h): registered
 * models, model versions (create with its wait for a pending registration, get, stage
 * transitions), aliases, registered model search, and models:/ URIs (parsing, and resolving one to a version and its
 * download location). Built on client.c's HTTP exchange and request helpers, shared through
 * client_int.h.
 */
#include "tracking/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"

void ef_tc_model_version_release(ef_tc_model_version *mv)
{
    if (!mv) return;
    free(mv->name);
    free(mv->version);
    free(mv->run_id);
    free(mv->source);
    free(mv->current_stage);
    free(mv->status);
    free(mv->download_uri);
    json_decref(mv->json);
    memset(mv, 0, sizeof *mv);
}

/* Fills out from a ModelVersion object (a reference is taken). */
static int tc_mv_fill(json_t *mv, ef_tc_model_version *out, ef_tc_error *err)
{
    memset(out, 0, sizeof *out);
    out->json = json_incref(mv);
    out->name = tc__jdup(mv, "name");
    out->version = tc__jdup(mv, "version");
    out->run_id = tc__jdup(mv, "run_id");
    out->source = tc__jdup(mv, "source");
    out->current_stage = tc__jdup(mv, "current_stage");
    out->status = tc__jdup(mv, "status");
    if (!out->name || !out->version) {
        ef_tc_model_version_release(out);
        return tc__fail(err, EF_EPROTO, 200, NULL, "the answer holds no model version");
    }
    return EF_OK;
}

int ef_tc_registered_model_create(ef_tc *c, const char *name, ef_tc_error *err)
{
    int rc;
    if (!name) return tc__fail(err, EF_EINVAL, 0, NULL, "registered model name is NULL");
    rc = tc__post(c, "mlflow/registered-models/create", json_pack("{s:s}", "name", name), 1, NULL,
                  err);
    if (rc == EF_EEXIST) {
        tc__err_clear(err);
        rc = EF_OK;
    }
    return rc;
}

int ef_tc_model_version_get(ef_tc *c, const char *name, const char *version,
                            ef_tc_model_version *out, ef_tc_error *err)
{
    json_t *resp = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (!name || !version) return tc__fail(err, EF_EINVAL, 0, NULL, "model-versions/get: NULL");
    rc = tc__get(c, "mlflow/model-versions/get",
                 json_pack("{s:s,s:s}", "name", name, "version", version), &resp, err);
    if (rc == EF_OK) rc = tc_mv_fill(json_object_get(resp, "model_version"), out, err);
    json_decref(resp);
    return rc;
}

int ef_tc_model_version_create(ef_tc *c, const char *name, const char *source, const char *run_id,
                               int64_t wait_ms, ef_tc_model_version *out, ef_tc_error *err)
{
    ef_tc_model_version mv = {0};
    json_t *resp = NULL;
    ef_buf src;
    char rid[260];
    int rc;
    int64_t deadline = ef_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    if (out) memset(out, 0, sizeof *out);
    if (!name || !source) return tc__fail(err, EF_EINVAL, 0, NULL, "model-versions/create: NULL");
    ef_buf_init(&src);
    if (strncmp(source, "runs:/", 6) == 0) {
        /* Like MLflow's client: register the run's artifact location, not the runs:/ alias. */
        ef_tc_run run;
        const char *p = source + 6;
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0 || n >= sizeof rid) {
            rc = tc__fail(err, EF_EINVAL, 0, NULL, "bad runs:/ URI '%s'", source);
            goto out;
        }
        snprintf(rid, sizeof rid, "%.*s", (int)n, p);
        if (!run_id) run_id = rid;
        if ((rc = ef_tc_run_get(c, rid, &run, err)) != EF_OK) goto out;
        rc = run.artifact_uri ? (ef_buf_appends(&src, run.artifact_uri) ? EF_ENOMEM : EF_OK)
                              : tc__fail(err, EF_EPROTO, 200, NULL, "run has no artifact_uri");
        ef_tc_run_release(&run);
        if (rc == EF_OK && p[n] && (ef_buf_appendc(&src, '/') || ef_buf_appends(&src, p + n + 1)))
            rc = EF_ENOMEM;
        if (rc != EF_OK) goto out;
        source = src.data;
    }
    rc = tc__post(c, "mlflow/model-versions/create",
                  json_pack("{s:s,s:s,s:s?}", "name", name, "source", source, "run_id", run_id), 0,
                  &resp, err);
    if (rc == EF_OK) rc = tc_mv_fill(json_object_get(resp, "model_version"), &mv, err);
    while (rc == EF_OK && mv.status && strcmp(mv.status, "PENDING_REGISTRATION") == 0) {
        char ver[32];
        if (ef_mono_ms() >= deadline) {
            rc = tc__fail(err, EF_ETIMEDOUT, 0, NULL, "model %s version %s is still pending", name,
                          mv.version);
            break;
        }
        ef_sleep_ms(100);
        snprintf(ver, sizeof ver, "%s", mv.version);
        ef_tc_model_version_release(&mv);
        rc = ef_tc_model_version_get(c, name, ver, &mv, err);
    }
    if (rc == EF_OK && mv.status && strcmp(mv.status, "FAILED_REGISTRATION") == 0) {
        const char *sm = json_string_value(json_object_get(mv.json, "status_message"));
        rc = tc__fail(err, EF_EPROTO, 200, NULL, "registration of %s version %s failed: %s", name,
                      mv.version, sm ? sm : "");
    }
    if (rc == EF_OK && out) {
        *out = mv;
        memset(&mv, 0, sizeof mv);
    }
out:
    if (rc == EF_ENOMEM) tc__fail(err, rc, 0, NULL, "out of memory");
    ef_tc_model_version_release(&mv);
    json_decref(resp);
    ef_buf_release(&src);
    return rc;
}

int ef_tc_model_version_transition(ef_tc *c, const char *name, const char *version,
                                   const char *stage, int archive_existing,
                                   ef_tc_model_version *out, ef_tc_error *err)
{
    json_t *resp = NULL;
    int rc;
    if (out) memset(out, 0, sizeof *out);
    if (!name || !version || !stage)
        return tc__fail(err, EF_EINVAL, 0, NULL, "transition-stage: NULL argument");
    rc = tc__post(c, "mlflow/model-versions/transition-stage",
                  json_pack("{s:s,s:s,s:s,s:b}", "name", name, "version", version, "stage", stage,
                            "archive_existing_versions", archive_existing ? 1 : 0),
                  1, &resp, err);
    if (rc == EF_OK && out) rc = tc_mv_fill(json_object_get(resp, "model_version"), out, err);
    json_decref(resp);
    return rc;
}

int ef_tc_set_alias(ef_tc *c, const char *name, const char *alias, const char *version,
                    ef_tc_error *err)
{
    if (!name || !alias || !version)
        return tc__fail(err, EF_EINVAL, 0, NULL, "set alias: NULL argument");
    return tc__post(c, "mlflow/registered-models/alias",
                    json_pack("{s:s,s:s,s:s}", "name", name, "alias", alias, "version", version), 1,
                    NULL, err);
}

int ef_tc_registered_models_search(ef_tc *c, const char *filter, json_t **models,
                                   ef_tc_error *err)
{
    json_t *all = json_array(), *resp = NULL;
    char *token = NULL;
    int rc = all ? EF_OK : tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    *models = NULL;
    /* pages until no next_page_token; the cap guards against a server that never stops */
    for (int page = 0; rc == EF_OK && page < 10000; page++) {
        json_t *req = json_pack("{s:i}", "max_results", 1000);
        if (req && filter && *filter) json_object_set_new(req, "filter", json_string(filter));
        if (req && token) json_object_set_new(req, "page_token", json_string(token));
        rc = tc__get(c, "mlflow/registered-models/search", req, &resp, err);
        if (rc != EF_OK) break;
        json_t *page_models = json_object_get(resp, "registered_models");
        if (page_models && !json_is_array(page_models)) {
            rc = tc__fail(err, EF_EPROTO, 200, NULL, "registered-models/search: "
                          "registered_models is not an array");
            break;
        }
        if (page_models && json_array_extend(all, page_models)) {
            rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
            break;
        }
        free(token);
        token = tc__jdup(resp, "next_page_token");
        json_decref(resp);
        resp = NULL;
        if (!token || !*token) break;
    }
    json_decref(resp);
    free(token);
    if (rc == EF_OK)
        *models = all;
    else
        json_decref(all);
    return rc;
}

static int tc_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

static int tc_copy_part(char *dst, size_t cap, const char *s, size_t n, const char *uri,
                        ef_tc_error *err)
{
    if (n >= cap) return tc__fail(err, EF_EINVAL, 0, NULL, "models URI '%s': part too long", uri);
    memcpy(dst, s, n);
    dst[n] = 0;
    return EF_OK;
}

int ef_tc_models_uri_parse(const char *uri, ef_tc_models_uri *out, ef_tc_error *err)
{
    const char *p, *slash, *at;
    size_t n;
    memset(out, 0, sizeof *out);
    tc__err_clear(err);
    if (!uri || strncmp(uri, "models:", 7) != 0) goto bad;
    p = uri + 7;
    if (p[0] == '/' && p[1] == '/') { /* models://<profile>/...: the profile is not ours */
        p += 2;
        p += strcspn(p, "/");
    }
    if (*p != '/' || !p[1]) goto bad;
    p++;
    if (strpbrk(p, "?#")) goto bad;
    slash = strchr(p, '/');
    if (slash) {
        const char *suf = slash + 1;
        if (strchr(suf, '/') || tc_blank(p, (size_t)(slash - p)) || tc_blank(suf, strlen(suf)))
            goto bad;
        if (tc_copy_part(out->name, sizeof out->name, p, (size_t)(slash - p), uri, err))
            return EF_EINVAL;
        n = strlen(suf);
        if (strspn(suf, "0123456789") == n)
            return tc_copy_part(out->version, sizeof out->version, suf, n, uri, err);
        if (strcasecmp(suf, "latest") == 0) {
            out->latest = 1;
            return EF_OK;
        }
        return tc_copy_part(out->stage, sizeof out->stage, suf, n, uri, err);
    }
    at = strrchr(p, '@');
    if (!at || tc_blank(at + 1, strlen(at + 1)) || tc_blank(p, (size_t)(at - p))) goto bad;
    if (tc_copy_part(out->name, sizeof out->name, p, (size_t)(at - p), uri, err) ||
        tc_copy_part(out->alias, sizeof out->alias, at + 1, strlen(at + 1), uri, err))
        return EF_EINVAL;
    return EF_OK;
bad:
    memset(out, 0, sizeof *out);
    return tc__fail(err, EF_EINVAL, 0, NULL,
                    "Not a proper models:/ URI: %s. Models URIs must be of the form "
                    "'models:/model_name/suffix' or 'models:/model_name@alias' where suffix is a "
                    "model version, stage, or the string 'latest' and where alias is a registered "
                    "model alias. Only one of suffix or alias can be defined at a time.",
                    uri ? uri : "(null)");
}

/* The highest version among get-latest-versions for stage (NULL: every stage). */
static int tc_latest(ef_tc *c, const char *name, const char *stage, ef_tc_model_version *out,
                     ef_tc_error *err)
{
    json_t *resp = NULL, *arr, *mv, *best = NULL;
    long long bestv = -1;
    size_t i;
    int rc = tc__post(c, "mlflow/registered-models/get-latest-versions",
                      stage ? json_pack("{s:s,s:[s]}", "name", name, "stages", stage)
                            : json_pack("{s:s}", "name", name),
                      1, &resp, err);
    if (rc) return rc;
    arr = json_object_get(resp, "model_versions");
    json_array_foreach(arr, i, mv)
    {
        const char *v = json_string_value(json_object_get(mv, "version"));
        long long x = v ? strtoll(v, NULL, 10) : -1;
        if (x > bestv) bestv = x, best = mv;
    }
    if (!best)
        rc = tc__fail(err, EF_ENOTFOUND, 200, NULL,
                      "No versions of model with name '%s' and stage '%s' found", name,
                      stage ? stage : "None");
    else
        rc = tc_mv_fill(best, out, err);
    json_decref(resp);
    return rc;
}

int ef_tc_model_resolve(ef_tc *c, const char *models_uri, ef_tc_model_version *out,
                        ef_tc_error *err)
{
    ef_tc_models_uri u;
    json_t *resp = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = ef_tc_models_uri_parse(models_uri, &u, err)) != EF_OK) return rc;
    if (u.version[0])
        rc = ef_tc_model_version_get(c, u.name, u.version, out, err);
    else if (u.alias[0]) {
        rc = tc__get(c, "mlflow/registered-models/alias",
                     json_pack("{s:s,s:s}", "name", u.name, "alias", u.alias), &resp, err);
        if (rc == EF_OK) rc = tc_mv_fill(json_object_get(resp, "model_version"), out, err);
        json_decref(resp);
        resp = NULL;
    } else
        rc = tc_latest(c, u.name, u.latest ? NULL : u.stage, out, err);
    if (rc != EF_OK) return rc;
    rc = tc__get(c, "mlflow/model-versions/get-download-uri",
                 json_pack("{s:s,s:s}", "name", out->name, "version", out->version), &resp, err);
    if (rc == EF_OK && !(out->download_uri = tc__jdup(resp, "artifact_uri")))
        rc = tc__fail(err, EF_EPROTO, 200, NULL, "get-download-uri: no artifact_uri");
    json_decref(resp);
    if (rc != EF_OK) ef_tc_model_version_release(out);
    return rc;
}
