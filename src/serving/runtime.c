/* runtime.c - the loaded models of `edgeflow serve`: one slot per served model name holding the
 * current version (refcounted: a request keeps the version it acquired even if the slot moves
 * on), loading from a local model directory or from a models:/ URI through the tracking server
 * with a local cache (cache_dir/<name>/<version>, written by rename so it is never half there),
 * scoring, and the per-request metrics.
 *
 * Hot swap (poll_ms > 0): a poller thread resolves every models:/ URI naming a stage, alias or
 * latest again; a new version is downloaded and loaded outside the lock, then becomes the slot's
 * current version under it (the old one is kept as `prev`, still loaded, so moving back is a
 * pointer swap; requests holding a reference finish on whatever they acquired). A failed
 * resolve, download or load keeps the current version and logs a warning.
 * Canary: a slot's `canary` answers `traffic` percent of the requests that do not name a version.
 *
 * Locking: ctx->mu guards the slots' version pointers (acquire takes a reference under it);
 * versions are immutable after load, so scoring needs no lock.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"
#include "serving/serving.h"
#include "tracking/client.h"

typedef struct serve_slot {
    char name[256];
    char source[1024];
    serve__version *cur;    /* one reference held by the slot; NULL until loaded */
    serve__version *prev;   /* the version cur replaced (kept warm), or NULL */
    serve__version *canary; /* answers `traffic` percent of requests, or NULL */
    const char *canary_uri; /* borrowed from the options */
    double traffic;         /* 0..100 */
} serve_slot;

struct serve__ctx {
    const ef_serve_opts *o; /* borrowed for the server's life */
    ef_metrics *metrics;    /* borrowed */
    pthread_mutex_t mu;
    serve_slot *slots;
    size_t n;
    pthread_t poller;
    int have_poller;
    int stop;              /* under mu: the poller leaves */
    pthread_cond_t wake;   /* signalled (with mu) to stop the poller */
    uint64_t draws;        /* atomic counter behind the canary's coin */
    uint64_t seed;
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
    pthread_cond_init(&s->wake, NULL);
    s->seed = (uint64_t)ef_mono_us() ^ ((uint64_t)getpid() << 32);
    s->o = o;
    s->metrics = metrics;
    return s;
}

void serve__ctx_free(serve__ctx *s)
{
    if (!s)
        return;
    if (s->have_poller) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->poller, NULL);
    }
    for (size_t i = 0; i < s->n; i++) {
        serve__release(s->slots[i].cur);
        serve__release(s->slots[i].prev);
        serve__release(s->slots[i].canary);
    }
    pthread_cond_destroy(&s->wake);
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
static int fetch_registered(serve__ctx *s, const char *uri, int allow_cache, char *name,
                            size_t name_len, char *ver, size_t ver_len, char *dir, size_t dir_len,
                            ef_ml_err *err)
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
    if (rc && e.http_status == 0 && !allow_cache) {
        rc = ef_ml_errf(err, rc, "cannot resolve %s: %s", uri, e.message);
        goto out;
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

static int predict_direct(void *arg, ef_mat *X, int want_proba, serve__result *out,
                          ef_ml_err *err);
static ef_histogram *batch_rows_histogram(serve__ctx *s, const char *name, const char *ver);

static int load_version(serve__ctx *s, const char *dir, const char *name, const char *ver,
                        const char *source, serve__version **out, ef_ml_err *err)
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
    v->batch = serve__batcher_new(s->o->batch_max, s->o->batch_delay_us,
                                  v->model->est->n_features, predict_direct, v,
                                  batch_rows_histogram(s, name, ver));
    if (!v->batch) {
        ef_model_free(v->model);
        free(v);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
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

/* ---- hot swap and canary -------------------------------------------------------------------- */

/* A uniform draw in [0, 1) for the canary's coin: splitmix64 over an atomic counter, so threads
 * need no lock and no per-thread state. */
static double canary_draw(serve__ctx *s)
{
    uint64_t z = s->seed + 0x9e3779b97f4a7c15ULL *
                               (__atomic_add_fetch(&s->draws, 1, __ATOMIC_RELAXED));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* 1 when uri can move to another version: models:/NAME/STAGE, models:/NAME@ALIAS, .../latest. */
static int movable_uri(const char *uri)
{
    char name[256];
    const char *tail;
    if (!uri || strncmp(uri, "models:/", 8) || uri_model_name(uri, name, sizeof name, &tail))
        return 0;
    return !all_digits(tail);
}

static int polled_uris(serve__ctx *s)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += movable_uri(s->slots[i].source) + movable_uri(s->slots[i].canary_uri);
    return n;
}

/* Loads the canary uri and attaches it to the slot of the same name (or the only slot). */
static int load_canary(serve__ctx *s, const char *uri, ef_ml_err *err)
{
    char name[256], ver[32], dir[4096];
    serve__version *v = NULL;
    if (strncmp(uri, "models:/", 8))
        return ef_ml_errf(err, EF_EINVAL, "--canary %s: expected a models:/ URI", uri);
    int rc = fetch_registered(s, uri, 1, name, sizeof name, ver, sizeof ver, dir, sizeof dir,
                              err);
    if (!rc)
        rc = load_version(s, dir, name, ver, uri, &v, err);
    if (rc)
        return rc;
    serve_slot *sl = NULL;
    for (size_t i = 0; i < s->n && !sl; i++)
        if (!strcmp(s->slots[i].name, name))
            sl = &s->slots[i];
    if (!sl && s->n == 1)
        sl = &s->slots[0];
    if (!sl || sl->canary) {
        serve__release(v);
        return ef_ml_errf(err, EF_EINVAL, "--canary %s: %s", uri, sl ? "this model already "
                          "has a canary" : "no served model has that name; give the canary of "
                          "each --model the same registered name");
    }
    pthread_mutex_lock(&s->mu);
    sl->canary = v;
    sl->canary_uri = uri;
    sl->traffic = s->o->traffic < 0 ? 0 : s->o->traffic > 100 ? 100 : s->o->traffic;
    pthread_mutex_unlock(&s->mu);
    EF_INFO("model '%s': canary version %s from %s answers %.3g%% of the requests", sl->name,
            v->version, uri, sl->traffic);
    return EF_OK;
}

/* Resolves uri again and, when it names another version, makes it the slot's current version
 * (canary = 0) or its canary (canary = 1). *failing: 1 while polls fail (warn once). */
static void poll_one(serve__ctx *s, serve_slot *sl, const char *uri, int canary, int *failing)
{
    char name[256], ver[32], dir[4096];
    ef_ml_err err = {{0}};
    serve__version *nv = NULL, *drop = NULL;
    int rc = fetch_registered(s, uri, 0, name, sizeof name, ver, sizeof ver, dir, sizeof dir,
                              &err);
    if (rc)
        goto out;
    pthread_mutex_lock(&s->mu);
    serve__version **at = canary ? &sl->canary : &sl->cur;
    if (*at && !strcmp((*at)->version, ver)) {
        pthread_mutex_unlock(&s->mu);
        goto out;
    }
    serve__version *c[3] = {sl->prev, sl->cur, sl->canary};
    for (int k = 0; k < 3 && !nv; k++)
        if (c[k] && !strcmp(c[k]->version, ver) && !strcmp(c[k]->name, name))
            nv = c[k];
    if (nv)
        __atomic_add_fetch(&nv->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
    if (!nv && (rc = load_version(s, dir, name, ver, uri, &nv, &err)))
        goto out;
    pthread_mutex_lock(&s->mu);
    serve__version *old = *at;
    *at = nv;
    if (!canary) {
        drop = sl->prev;
        sl->prev = old;
    } else {
        drop = old;
    }
    pthread_mutex_unlock(&s->mu);
    EF_INFO("model '%s': %s moved to version %s (was %s) from %s", sl->name,
            canary ? "the canary" : "serving", ver, old ? old->version : "-", uri);
    serve__release(drop);
out:
    if (rc && !*failing)
        EF_WARN("model '%s': cannot update from %s (%s); still serving the loaded version",
                sl->name, uri, err.msg);
    else if (!rc && *failing)
        EF_INFO("model '%s': %s can be resolved again", sl->name, uri);
    *failing = rc != 0;
}

static void *poller_main(void *arg)
{
    serve__ctx *s = arg;
    int failing[2 * 64] = {0};
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (s->o->poll_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(s->o->poll_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &ts) == 0)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < s->n; i++) {
            serve_slot *sl = &s->slots[i];
            int *f = &failing[2 * (i < 64 ? i : 63)];
            if (movable_uri(sl->source))
                poll_one(s, sl, sl->source, 0, f);
            if (movable_uri(sl->canary_uri))
                poll_one(s, sl, sl->canary_uri, 1, f + 1);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
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
        rc = fetch_registered(s, o->models[i], 1, name, sizeof name, ver, sizeof ver, dir,
                              sizeof dir, err);
        if (!rc)
            rc = load_version(s, dir, name, ver, o->models[i], &v, err);
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
        rc = load_version(s, d, name, "", d, &v, err);
        if (!rc)
            rc = add_slot(s, name, d, v, err);
    }
    for (size_t i = 0; !rc && i < o->n_canaries; i++)
        rc = load_canary(s, o->canaries[i], err);
    if (!rc && o->poll_ms > 0 && polled_uris(s)) {
        if (pthread_create(&s->poller, NULL, poller_main, s))
            rc = ef_ml_errf(err, EF_ENOMEM, "cannot start the registry poller thread");
        else
            s->have_poller = 1;
    }
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------ */

serve__version *serve__acquire(serve__ctx *s, const char *name, const char *version)
{
    serve__version *v = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        serve_slot *sl = &s->slots[i];
        if (name && strcmp(sl->name, name))
            continue;
        v = sl->cur;
        if (version) {
            serve__version *c[3] = {sl->cur, sl->canary, sl->prev};
            v = NULL;
            for (int k = 0; k < 3 && !v; k++)
                if (c[k] && !strcmp(c[k]->version, version))
                    v = c[k];
        } else if (sl->canary && canary_draw(s) * 100.0 < sl->traffic) {
            v = sl->canary;
        }
        break;
    }
    if (v)
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
    return v;
}

void serve__tag_reply(ef_http_req *r, const serve__version *v)
{
    if (v && *v->version)
        ef_http_add_header(r, "X-Model-Version", v->version);
}

void serve__release(serve__version *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        serve__batcher_free(v->batch);
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
    return serve__batcher_predict(v->batch, X, want_proba, out, err);
}

/* One predict call of v (arg) on X: what the batcher runs, with one request or a batch. */
static int predict_direct(void *arg, ef_mat *X, int want_proba, serve__result *out,
                          ef_ml_err *err)
{
    serve__version *v = arg;
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

/* The histogram of rows per predict call of a version (NULL without metrics or on ENOMEM). */
static ef_histogram *batch_rows_histogram(serve__ctx *s, const char *name, const char *ver)
{
    static const double bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    ef_histogram *h = NULL;
    ef_buf l = {0};
    if (!s->metrics)
        return NULL;
    int rc = ef_buf_appends(&l, "model=\"");
    rc = rc ? rc : ef_metrics_escape_label(&l, name);
    rc = rc ? rc : ef_buf_appends(&l, "\",version=\"");
    rc = rc ? rc : ef_metrics_escape_label(&l, ver);
    rc = rc ? rc : ef_buf_appends(&l, "\"");
    if (!rc)
        h = ef_metrics_histogram(s->metrics, "edgeflow_serve_batch_rows",
                                 "rows per predict call (micro-batching: > 1 when requests were "
                                 "scored together)", l.data, bounds,
                                 (int)(sizeof bounds / sizeof *bounds));
    ef_buf_release(&l);
    return h;
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
