/* follow.c - following the registry (`edgeflow serve --registry`, `edgeflow server --serve`):
 * every registered model with a version in stage Production or the alias `champion` is served
 * under its registered name. One round (serve__follow_poll, on the poller thread, at start and
 * every poll interval):
 *
 *   registered-models/search (all pages)           -> for each model: the alias champion's
 *                                                      version, else the highest Production one
 *   serve__slot_follow(name, version, label)        -> new slot / hot swap / nothing (runtime.c)
 *   served names the search no longer selects       -> serve__slot_unfollow
 *   the selection changed                           -> cache_dir/following.json rewritten
 *
 * An unreachable tracking server (or a failing search) keeps everything served and warns once
 * per outage. When the very first round cannot reach it, the models of following.json (the
 * last selection this cache saw) are served from the cache, so a restart without the tracking
 * server still serves the last good versions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "serving/serve_int.h"
#include "serving/serving.h"
#include "tracking/client.h"

#define FOLLOW_ALIAS "champion"
#define FOLLOW_STAGE "Production"

struct serve__follow {
    int outage;      /* the last round could not search the registry (warned) */
    int first_done;  /* the first round has run (the manifest is only read then) */
    json_t *chosen;  /* {name: {"version": v, "source": label}}: the last selection */
};

serve__follow *serve__follow_new(void)
{
    serve__follow *f = calloc(1, sizeof *f);
    if (f && !(f->chosen = json_object())) {
        free(f);
        f = NULL;
    }
    return f;
}

void serve__follow_free(serve__follow *f)
{
    if (!f)
        return;
    json_decref(f->chosen);
    free(f);
}

static void manifest_path(serve__ctx *s, char *out, size_t len)
{
    const char *cache = serve__opts(s)->cache_dir;
    snprintf(out, len, "%s/following.json", cache ? cache : "models");
}

/* Writes the selection next to the cached versions (temp file + rename). */
static void manifest_write(serve__ctx *s, json_t *chosen)
{
    char path[4096], tmp[4200];
    manifest_path(s, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    const char *cache = serve__opts(s)->cache_dir;
    ef_fs_mkdir_p(cache ? cache : "models");
    if (json_dump_file(chosen, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) || rename(tmp, path)) {
        EF_WARN("cannot write %s: %s (a restart without the tracking server will not know "
                "which models to serve)", path, strerror(errno));
        unlink(tmp);
    }
}

/* First round, registry unreachable: serve the last selection from the cache. */
static void manifest_serve(serve__ctx *s)
{
    char path[4096];
    const char *name;
    json_t *entry;
    manifest_path(s, path, sizeof path);
    json_t *doc = json_load_file(path, 0, NULL);
    if (!json_is_object(doc)) {
        if (doc || access(path, F_OK) == 0)
            EF_WARN("%s is not a JSON object: not serving from the cache", path);
        json_decref(doc);
        return;
    }
    EF_INFO("serving the last known selection of the registry from %s", path);
    json_object_foreach(doc, name, entry)
    {
        const char *ver = json_string_value(json_object_get(entry, "version"));
        const char *src = json_string_value(json_object_get(entry, "source"));
        if (ver && src)
            serve__slot_follow(s, name, ver, src, 1);
    }
    json_decref(doc);
}

/* The version a registered model serves: alias champion, else the highest version in stage
 * Production; NULL when neither. *label: the URI that selects it; *other: the Production version
 * the alias overrides, or NULL. */
static const char *pick(json_t *rm, const char *name, char *label, size_t len,
                        const char **other)
{
    const char *alias = NULL, *prod = NULL;
    long best = -1;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(rm, "aliases"), i, x)
    {
        const char *a = json_string_value(json_object_get(x, "alias"));
        if (a && !strcmp(a, FOLLOW_ALIAS))
            alias = json_string_value(json_object_get(x, "version"));
    }
    json_array_foreach(json_object_get(rm, "latest_versions"), i, x)
    {
        const char *st = json_string_value(json_object_get(x, "current_stage"));
        const char *v = json_string_value(json_object_get(x, "version"));
        long n = v ? strtol(v, NULL, 10) : -1;
        if (st && !strcmp(st, FOLLOW_STAGE) && n > best) {
            best = n;
            prod = v;
        }
    }
    *other = alias && prod && strcmp(alias, prod) ? prod : NULL;
    if (alias)
        snprintf(label, len, "models:/%s@%s", name, FOLLOW_ALIAS);
    else if (prod)
        snprintf(label, len, "models:/%s/%s", name, FOLLOW_STAGE);
    return alias ? alias : prod;
}

void serve__follow_poll(serve__ctx *s, serve__follow *f)
{
    const ef_serve_opts *o = serve__opts(s);
    const char *uri = serve__tracking_uri(s);
    ef_tc_error e = {0};
    ef_tc_options topt = {.tracking_uri = uri, .connect_timeout_ms = 3000, .timeout_ms = 15000,
                          .max_retries = 1, .token = o->tracking_token,
                          .insecure_tls = o->tracking_insecure_tls};
    json_t *models = NULL, *chosen = json_object(), *rm;
    const char **names = NULL;
    size_t i;
    int first = !f->first_done;
    f->first_done = 1;
    ef_tc *tc = uri ? ef_tc_new(&topt, &e) : NULL;
    int rc = EF_EINVAL; /* no URI, or one the client refuses (e.message says why) */
    if (tc && chosen)
        rc = ef_tc_registered_models_search(tc, NULL, &models, &e);
    else if (tc)
        rc = EF_ENOMEM;
    ef_tc_free(tc);
    if (rc) {
        if (!f->outage)
            EF_WARN("cannot search the model registry at %s (%s); what is served stays served, "
                    "trying again every poll", uri ? uri : "(no tracking URI)",
                    uri ? e.message : "give --tracking-uri or MLFLOW_TRACKING_URI");
        f->outage = 1;
        if (first && e.http_status == 0)
            manifest_serve(s);
        goto out;
    }
    if (f->outage)
        EF_INFO("the model registry at %s answers again", uri);
    f->outage = 0;
    json_array_foreach(models, i, rm)
    {
        char label[600];
        const char *other, *name = json_string_value(json_object_get(rm, "name"));
        const char *ver = name ? pick(rm, name, label, sizeof label, &other) : NULL;
        if (!ver)
            continue;
        json_t *was = json_object_get(f->chosen, name);
        const char *was_ver = json_string_value(json_object_get(was, "version"));
        if (other && (!was_ver || strcmp(was_ver, ver)))
            EF_INFO("model '%s': alias %s (version %s) wins over stage %s (version %s)", name,
                    FOLLOW_ALIAS, ver, FOLLOW_STAGE, other);
        serve__slot_follow(s, name, ver, label, 0);
        json_object_set_new(chosen, name, json_pack("{s:s,s:s}", "version", ver, "source",
                                                    label));
    }
    /* served names the registry no longer selects */
    size_t n = serve__model_names(s, NULL, 0);
    if (n && !(names = malloc(n * sizeof *names)))
        goto out;
    n = serve__model_names(s, names, n);
    for (i = 0; i < n; i++)
        if (!json_object_get(chosen, names[i]))
            serve__slot_unfollow(s, names[i], "no version in stage " FOLLOW_STAGE
                                 " and no alias " FOLLOW_ALIAS " any more");
    if (!json_equal(chosen, f->chosen)) {
        manifest_write(s, chosen);
        json_decref(f->chosen);
        f->chosen = json_incref(chosen);
    }
out:
    free(names);
    json_decref(models);
    json_decref(chosen);
}
