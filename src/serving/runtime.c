/* runtime.c - the loaded models of `edgeflow serve`: one slot per served model name holding the
 * current version (refcounted: a request keeps the version it acquired even if the slot moves
 * on), loading from a local model directory or from a models:/ URI through the tracking server
 * with a local cache (cache_dir/<name>/<version>, written by rename so it is never half there),
 * scoring, and the per-request metrics.
 *
 * Locking: ctx->mu guards the slots' current pointers (acquire takes a reference under it);
 * versions are immutable after load, so scoring needs no lock.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/log.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"
#include "serving/serving.h"
#include "tracking/client.h"

typedef struct serve_slot {
    char name[256];
    char source[1024];
    serve__version *cur; /* one reference held by the slot; NULL until loaded */
} serve_slot;

struct serve__ctx {
    const ef_serve_opts *o; /* borrowed for the server's life */
    ef_metrics *metrics;    /* borrowed */
    pthread_mutex_t mu;
    serve_slot *slots;
    size_t n;
};

serve__ctx *serve__ctx_new(const ef_serve_opts *o, ef_metrics *metrics)
{
    serve__ctx *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t n = o->n_models + o->n_model_dirs;
    s->slots = calloc(n ? n : 1, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->o = o;
    s->metrics = metrics;
    return s;
}

void serve__ctx_free(serve__ctx *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].cur)
            serve__release(s->slots[i].cur);
    pthread_mutex_destroy(&s->mu);
    free(s->slots);
    free(s);
}

struct ef_metrics *serve__metrics(serve__ctx *s)
{
    return s->metrics;
}

size_t serve__max_body(serve__ctx *s)
{
    return s->o->max_body ? s->o->max_body : (size_t)16 << 20;
}

/* ---- loading ------------------------------------------------------------------------------- */

/* The registered model's name in models:/NAME/..., models:/NAME@ALIAS. */
static int uri_model_name(const char *uri, char *out, size_t len, const char **tail)
{
    const char *p = uri + strlen("models:/");
    size_t n = strcspn(p, "/@");
    if (n == 0 || n >= len || !p[n] || !p[n + 1])
        return EF_EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    *tail = p + n + 1;
    return strstr(out, "..") ? EF_EINVAL : EF_OK;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* The cached version to serve when the tracking server cannot be reached: the requested version
 * when the URI names one and it is cached, else the highest cached version number. */
static int newest_cached(const char *cache, const char *name, const char *tail, char *ver,
                         size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", cache, name);
    DIR *d = opendir(dir);
    if (!d)
        return EF_ENOTFOUND;
    long best = -1;
    int exact = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!all_digits(e->d_name))
            continue;
        if (all_digits(tail) && !strcmp(tail, e->d_name))
            exact = 1;
        long v = strtol(e->d_name, NULL, 10);
        if (v > best)
            best = v;
    }
    closedir(d);
    if (exact)
        snprintf(ver, len, "%s", tail);
    else if (best >= 0)
        snprintf(ver, len, "%ld", best);
    return exact || best >= 0 ? EF_OK : EF_ENOTFOUND;
}

/* Resolves uri through the tracking server and makes sure cache/<name>/<version> holds it;
 * falls back to the cache when the server does not answer. */
static int fetch_registered(serve__ctx *s, const char *uri, char *name, size_t name_len,
                            char *ver, size_t ver_len, char *dir, size_t dir_len, ef_ml_err *err)
{
    const char *tail;
    if (uri_model_name(uri, name, name_len, &tail))
        return ef_ml_errf(err, EF_EINVAL, "%s: expected models:/NAME/VERSION, "
                          "models:/NAME/STAGE or models:/NAME@ALIAS", uri);
    const char *cache = s->o->cache_dir ? s->o->cache_dir : "models";
    ef_tc_error e = {0};
    ef_tc_options topt = {.tracking_uri = s->o->tracking_uri, .connect_timeout_ms = 3000,
                          .max_retries = 1};
    ef_tc_model_version mv = {0};
    int rc;
    ef_tc *tc = ef_tc_new(&topt, &e);
    if (!tc) {
        rc = EF_EINVAL;
        e.http_status = 0;
    } else {
        rc = ef_tc_model_resolve(tc, uri, &mv, &e);
    }
    if (rc && e.http_status == 0) {
        /* no tracking server (unset or unreachable): serve what the cache has */
        if (newest_cached(cache, name, tail, ver, ver_len)) {
            rc = ef_ml_errf(err, rc ? rc : EF_EIO, "cannot resolve %s (%s) and no version of "
                            "%s is cached in %s", uri, e.message, name, cache);
            goto out;
        }
        snprintf(dir, dir_len, "%s/%s/%s", cache, name, ver);
        EF_WARN("cannot reach the tracking server for %s (%s): serving the cached version %s "
                "from %s", uri, e.message, ver, dir);
        rc = EF_OK;
        goto out;
    }
    if (rc) {
        rc = ef_ml_errf(err, rc, "cannot resolve %s: %s", uri, e.message);
        goto out;
    }
    snprintf(name, name_len, "%s", mv.name);
    snprintf(ver, ver_len, "%s", mv.version);
    snprintf(dir, dir_len, "%s/%s/%s", cache, mv.name, mv.version);
    if (!ef_fs_exists(dir)) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp-%d", dir, (int)getpid());
        ef_fs_rm_rf(tmp);
        if (ef_fs_mkdir_p(tmp)) {
            rc = ef_ml_errf(err, EF_EIO, "cannot create %s: %s", tmp, strerror(errno));
        } else if ((rc = ef_tc_artifacts_download(tc, mv.download_uri ? mv.download_uri
                                                                      : mv.source,
                                                  "", tmp, &e))) {
            rc = ef_ml_errf(err, rc, "cannot download %s: %s", uri, e.message);
        } else if (rename(tmp, dir)) {
            rc = ef_ml_errf(err, EF_EIO, "cannot move the model into %s: %s", dir,
                            strerror(errno));
        }
        if (rc)
            ef_fs_rm_rf(tmp);
        else
            EF_INFO("downloaded %s (version %s) into %s", uri, mv.version, dir);
    }
out:
    ef_tc_model_version_release(&mv);
    ef_tc_free(tc);
    return rc;
}

static int load_version(const char *dir, const char *name, const char *ver, const char *source,
                        serve__version **out, ef_ml_err *err)
{
    serve__version *v = calloc(1, sizeof *v);
    if (!v)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    int rc = ef_model_load(dir, &v->model, err);
    if (rc) {
        ef_ml_err_prefix(err, rc, dir);
        free(v);
        return rc;
    }
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->version, sizeof v->version, "%s", ver);
    snprintf(v->source, sizeof v->source, "%s", source);
    v->refs = 1;
    *out = v;
    return EF_OK;
}

static int add_slot(serve__ctx *s, const char *name, const char *source, serve__version *v,
                    ef_ml_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!strcmp(s->slots[i].name, name)) {
            serve__release(v);
            return ef_ml_errf(err, EF_EEXIST, "two models are named '%s' (%s and %s); give "
                              "--model-dir models distinct names with --name", name,
                              s->slots[i].source, source);
        }
    }
    serve_slot *sl = &s->slots[s->n++];
    snprintf(sl->name, sizeof sl->name, "%s", name);
    snprintf(sl->source, sizeof sl->source, "%s", source);
    pthread_mutex_lock(&s->mu);
    sl->cur = v;
    pthread_mutex_unlock(&s->mu);
    EF_INFO("serving model '%s'%s%s from %s (%s, %zu features)", name,
            *v->version ? " version " : "", v->version, source, v->model->est->type->name,
            v->model->est->n_features);
    return EF_OK;
}

int serve__load_all(serve__ctx *s, ef_ml_err *err)
{
    const ef_serve_opts *o = s->o;
    int rc = EF_OK;
    for (size_t i = 0; !rc && i < o->n_models; i++) {
        char name[256], ver[32], dir[4096];
        serve__version *v = NULL;
        if (strncmp(o->models[i], "models:/", 8))
            return ef_ml_errf(err, EF_EINVAL, "--model %s: expected a models:/ URI (use "
                              "--model-dir for a directory)", o->models[i]);
        rc = fetch_registered(s, o->models[i], name, sizeof name, ver, sizeof ver, dir,
                              sizeof dir, err);
        if (!rc)
            rc = load_version(dir, name, ver, o->models[i], &v, err);
        if (!rc)
            rc = add_slot(s, name, o->models[i], v, err);
    }
    for (size_t i = 0; !rc && i < o->n_model_dirs; i++) {
        char name[256];
        const char *d = o->model_dirs[i];
        serve__version *v = NULL;
        if (i < o->n_dir_names && o->dir_names[i] && *o->dir_names[i]) {
            snprintf(name, sizeof name, "%s", o->dir_names[i]);
        } else {
            size_t n = strlen(d);
            while (n > 1 && d[n - 1] == '/')
                n--;
            size_t b = n;
            while (b > 0 && d[b - 1] != '/')
                b--;
            snprintf(name, sizeof name, "%.*s", (int)(n - b), d + b);
        }
        rc = load_version(d, name, "", d, &v, err);
        if (!rc)
            rc = add_slot(s, name, d, v, err);
    }
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------ */

serve__version *serve__acquire(serve__ctx *s, const char *name, const char *version)
{
    serve__version *v = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        if (name && strcmp(s->slots[i].name, name))
            continue;
        v = s->slots[i].cur;
        break;
    }
    if (v && version && strcmp(v->version, version))
        v = NULL;
    if (v)
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
    return v;
}

void serve__release(serve__version *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        ef_model_free(v->model);
        free(v);
    }
}

size_t serve__model_names(serve__ctx *s, const char **names, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n && k < max; i++)
        names[k++] = s->slots[i].name;
    return s->n;
}

int serve__ready(serve__ctx *s)
{
    int ok = s->n > 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        ok = ok && s->slots[i].cur;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

int serve__predict(serve__version *v, ef_mat *X, int want_proba, serve__result *out,
                   ef_ml_err *err)
{
    memset(out, 0, sizeof *out);
    const ef_estimator *e = v->model->est;
    out->pred = malloc((X->rows ? X->rows : 1) * sizeof *out->pred);
    if (!out->pred)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    int rc = ef_model_predict(v->model, X, out->pred, err);
    if (!rc && want_proba && e->type->task == EF_ML_CLASSIFIER && e->type->predict_proba)
        rc = ef_estimator_predict_proba(e, X, &out->proba, err);
    if (rc)
        serve__result_release(out);
    return rc;
}

void serve__result_release(serve__result *r)
{
    free(r->pred);
    r->pred = NULL;
    ef_mat_release(&r->proba);
}

void serve__observe(serve__ctx *s, const serve__version *v, const char *protocol, int status,
                    double seconds)
{
    if (!s->metrics)
        return;
    ef_buf l = {0};
    int rc = ef_buf_appends(&l, "model=\"");
    rc = rc ? rc : ef_metrics_escape_label(&l, v ? v->name : "");
    rc = rc ? rc : ef_buf_appends(&l, "\",version=\"");
    rc = rc ? rc : ef_metrics_escape_label(&l, v ? v->version : "");
    rc = rc ? rc : ef_buf_appendf(&l, "\",protocol=\"%s\"", protocol);
    if (!rc) {
        ef_histogram *h =
            ef_metrics_histogram(s->metrics, "edgeflow_serve_request_duration_seconds",
                                 "prediction request latency", l.data, NULL, 0);
        if (h)
            ef_histogram_observe(h, seconds);
        rc = ef_buf_appendf(&l, ",code=\"%d\"", status);
    }
    if (!rc) {
        ef_counter *c = ef_metrics_counter(s->metrics, "edgeflow_serve_requests_total",
                                           "prediction requests by model, version, protocol and "
                                           "HTTP status", l.data);
        if (c)
            ef_counter_add(c, 1);
    }
    ef_buf_release(&l);
}
