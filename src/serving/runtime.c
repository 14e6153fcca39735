/* runtime.c - the loaded models of `edgeflow serve`: one slot per served model name holding the
 * current version (refcounted: a request keeps the version it acquired even if the slot moves
 * on), loading from a local model directory or from a models:/ URI (fetched into the local
 * cache by cache.c), scoring, the per-request metrics and the registry poller thread.
 *
 * Hot swap (poll_ms > 0): a poller thread resolves every models:/ URI naming a stage, alias or
 * latest again; a new version is downloaded and loaded outside the lock, then becomes the slot's
 * current version under it (the old one is kept as `prev`, still loaded, so moving back is a
 * pointer swap; requests holding a reference finish on whatever they acquired). A failed
 * resolve, download or load keeps the current version and logs a warning.
 * Canary: a slot's `canary` answers `traffic` percent of the requests that do not name a version.
 *
 * Following the registry (follow.c drives it): slots are created, moved and deactivated by name
 * (serve__slot_follow / serve__slot_unfollow). A slot is never freed before the context, so the
 * names handed out by serve__model_names stay valid; an inactive slot is invisible to requests
 * (acquire, names, ready) and comes back when its model does.
 *
 * Locking: ctx->mu guards the slot array (it grows under the lock), each slot's `active` flag and
 * version pointers (acquire takes a reference under it); versions are immutable after load, so
 * scoring needs no lock. Slots are only created and moved by one thread at a time (the loader
 * before the poller starts, then the poller).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"
#include "serving/serving.h"

typedef struct serve_slot {
    char name[256];         /* immutable once the slot is in the array */
    char source[1024];
    serve__version *cur;    /* one reference held by the slot; NULL until loaded */
    serve__version *prev;   /* the version cur replaced (kept warm), or NULL */
    serve__version *canary; /* answers `traffic` percent of requests, or NULL */
    const char *canary_uri; /* borrowed from the options */
    double traffic;         /* 0..100 */
    int active;             /* under mu: visible to requests */
    int followed;           /* made by the registry follower: its source is not polled */
    int failing[2];         /* poller only: polls of source / canary_uri fail (warned once) */
    char failed[32];        /* poller only: the version the follower last failed to load */
    char stage[64];         /* registry stage of cur when it was fetched ("" unknown) */
} serve_slot;

struct serve__ctx {
    const ef_serve_opts *o; /* borrowed for the server's life */
    ef_metrics *metrics;    /* borrowed */
    char *tracking_uri;     /* owned: the options' URI or the one given to the poller's start */
    pthread_mutex_t mu;
    serve_slot **slots;     /* each slot is its own allocation: pointers stay valid */
    size_t n, cap;
    serve__follow *follow;  /* follow.c's state when following the registry, else NULL */
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
    s->tracking_uri = o->tracking_uri ? strdup(o->tracking_uri) : NULL;
    if (o->tracking_uri && !s->tracking_uri) {
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
    serve__poller_stop(s);
    for (size_t i = 0; i < s->n; i++) {
        serve__release(s->slots[i]->cur);
        serve__release(s->slots[i]->prev);
        serve__release(s->slots[i]->canary);
        free(s->slots[i]);
    }
    serve__follow_free(s->follow);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s->slots);
    free(s->tracking_uri);
    free(s);
}

void serve__poller_stop(serve__ctx *s)
{
    if (!s->have_poller)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->poller, NULL);
    s->have_poller = 0;
}

const char *serve__tracking_uri(serve__ctx *s)
{
    return s->tracking_uri;
}

const ef_serve_opts *serve__opts(serve__ctx *s)
{
    return s->o;
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

/* ---- slots ---------------------------------------------------------------------------------- */

/* edgeflow_serve_model_info{model,version,stage}: 1 while a slot serves that version, 0 after. */
static void info_set(serve__ctx *s, const char *name, const char *ver, const char *stage,
                     double value)
{
    if (!s->metrics)
        return;
    ef_buf l = {0};
    int rc = ef_metrics_labels(&l, "model", name, "version", ver, "stage", stage, NULL);
    ef_gauge *g = rc ? NULL : ef_metrics_gauge(s->metrics, "edgeflow_serve_model_info",
                                               "1 for each model version being served (0 once "
                                               "it no longer is); stage as fetched", l.data);
    if (g)
        ef_gauge_set(g, value);
    ef_buf_release(&l);
}

/* edgeflow_serve_swaps_total{model}: versions swapped in over a served one. */
static void count_swap(serve__ctx *s, const char *name)
{
    if (!s->metrics)
        return;
    ef_buf l = {0};
    int rc = ef_metrics_labels(&l, "model", name, NULL);
    ef_counter *c = rc ? NULL : ef_metrics_counter(s->metrics, "edgeflow_serve_swaps_total",
                                                   "model versions swapped in (hot swap, "
                                                   "rollback)", l.data);
    if (c)
        ef_counter_add(c, 1);
    ef_buf_release(&l);
}

/* The slot called name, or NULL. Called by the one thread that creates slots (see Locking). */
static serve_slot *slot_find(serve__ctx *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->slots[i]->name, name))
            return s->slots[i];
    return NULL;
}

/* Appends a new, inactive slot; the array grows under the lock. NULL on ENOMEM. */
static serve_slot *slot_new(serve__ctx *s, const char *name, const char *source)
{
    serve_slot *sl = calloc(1, sizeof *sl);
    if (!sl)
        return NULL;
    snprintf(sl->name, sizeof sl->name, "%s", name);
    snprintf(sl->source, sizeof sl->source, "%s", source);
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        serve_slot **grown = realloc(s->slots, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->mu);
            free(sl);
            return NULL;
        }
        s->slots = grown;
        s->cap = cap;
    }
    s->slots[s->n++] = sl;
    pthread_mutex_unlock(&s->mu);
    return sl;
}

static int add_slot(serve__ctx *s, const char *name, const char *source, serve__version *v,
                    ef_ml_err *err)
{
    serve_slot *sl = slot_find(s, name);
    if (sl) {
        serve__release(v);
        return ef_ml_errf(err, EF_EEXIST, "two models are named '%s' (%s and %s); give "
                          "--model-dir models distinct names with --name", name, sl->source,
                          source);
    }
    if (!(sl = slot_new(s, name, source))) {
        serve__release(v);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&s->mu);
    sl->cur = v;
    sl->active = 1;
    pthread_mutex_unlock(&s->mu);
    info_set(s, name, v->version, "", 1);
    EF_INFO("serving model '%s'%s%s from %s (%s, %zu features)", name,
            *v->version ? " version " : "", v->version, source, v->model->est->type->name,
            v->model->est->n_features);
    return EF_OK;
}

/* Makes version ver (fetched into dir, selected by uri) the slot's current version (canary = 0;
 * the slot becomes active) or its canary (canary = 1). A version the slot still holds (prev,
 * cur, canary) is reused, else it is loaded outside the lock. Returns 0 (also when nothing had
 * to change) or the load's EF_E* code with err filled. */
static int slot_move(serve__ctx *s, serve_slot *sl, const char *uri, const char *name,
                     const char *ver, const char *dir, const char *stage, int canary,
                     ef_ml_err *err)
{
    serve__version *nv = NULL, *drop = NULL;
    char old_stage[sizeof sl->stage];
    int rc;
    pthread_mutex_lock(&s->mu);
    serve__version **at = canary ? &sl->canary : &sl->cur;
    if (*at && !strcmp((*at)->version, ver) && (canary || sl->active)) {
        pthread_mutex_unlock(&s->mu);
        return EF_OK;
    }
    serve__version *c[3] = {sl->prev, sl->cur, sl->canary};
    for (int k = 0; k < 3 && !nv; k++)
        if (c[k] && !strcmp(c[k]->version, ver) && !strcmp(c[k]->name, name))
            nv = c[k];
    if (nv)
        __atomic_add_fetch(&nv->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
    if (!nv && (rc = load_version(s, dir, name, ver, uri, &nv, err)))
        return rc;
    pthread_mutex_lock(&s->mu);
    serve__version *old = *at;
    *at = nv;
    if (!canary) {
        drop = sl->prev;
        sl->prev = old;
        sl->active = 1;
        snprintf(old_stage, sizeof old_stage, "%s", sl->stage);
        snprintf(sl->stage, sizeof sl->stage, "%s", stage);
    } else {
        drop = old;
    }
    pthread_mutex_unlock(&s->mu);
    if (!canary) {
        if (old) {
            info_set(s, sl->name, old->version, old_stage, 0);
            count_swap(s, sl->name);
        }
        info_set(s, sl->name, ver, stage, 1);
    }
    if (old)
        EF_INFO("model '%s': %s moved to version %s (was %s) from %s", sl->name,
                canary ? "the canary" : "serving", ver, old->version, uri);
    else
        EF_INFO("model '%s': serving version %s%s%s from %s (%s, %zu features)", sl->name, ver,
                *stage ? ", stage " : "", stage, uri, nv->model->est->type->name,
                nv->model->est->n_features);
    serve__release(drop);
    return EF_OK;
}

int serve__slot_follow(serve__ctx *s, const char *name, const char *version, const char *label,
                       int allow_cache)
{
    char uri[512], rname[256], ver[32], dir[4096], stage[64];
    ef_ml_err err = {{0}};
    int rc;
    serve_slot *sl = slot_find(s, name);
    pthread_mutex_lock(&s->mu);
    int same = sl && sl->active && sl->cur && !strcmp(sl->cur->version, version);
    pthread_mutex_unlock(&s->mu);
    if (same) {
        if (strcmp(sl->source, label)) {
            EF_INFO("model '%s': version %s is now selected by %s (was %s)", name, version,
                    label, sl->source);
            snprintf(sl->source, sizeof sl->source, "%s", label);
        }
        return EF_OK;
    }
    if (!sl && !(sl = slot_new(s, name, label))) {
        EF_WARN("model '%s': out of memory adding its slot", name);
        return EF_ENOMEM;
    }
    sl->followed = 1;
    if ((size_t)snprintf(uri, sizeof uri, "models:/%s/%s", name, version) >= sizeof uri)
        rc = ef_ml_errf(&err, EF_EINVAL, "the model name is too long");
    else
        rc = serve__fetch(s, uri, allow_cache, rname, sizeof rname, ver, sizeof ver, dir,
                              sizeof dir, stage, sizeof stage, &err);
    if (!rc)
        rc = slot_move(s, sl, label, rname, ver, dir, stage, 0, &err);
    if (rc && strcmp(sl->failed, version)) {
        EF_WARN("model '%s': cannot serve version %s (%s): %s; %s", name, version, label,
                err.msg, sl->active ? "still serving the loaded version" : "not served");
        snprintf(sl->failed, sizeof sl->failed, "%s", version);
    } else if (!rc) {
        sl->failed[0] = '\0';
        if (strcmp(sl->source, label))
            EF_INFO("model '%s': selected by %s", name, label);
        snprintf(sl->source, sizeof sl->source, "%s", label);
    }
    return rc;
}

void serve__slot_unfollow(serve__ctx *s, const char *name, const char *why)
{
    serve_slot *sl = slot_find(s, name);
    if (!sl || !sl->followed)
        return;
    pthread_mutex_lock(&s->mu);
    serve__version *c[3] = {sl->cur, sl->prev, sl->canary};
    int was = sl->active;
    sl->active = 0;
    sl->cur = sl->prev = sl->canary = NULL;
    pthread_mutex_unlock(&s->mu);
    if (c[0])
        info_set(s, name, c[0]->version, sl->stage, 0);
    if (was)
        EF_INFO("model '%s': no longer served (%s); requests already running finish on "
                "version %s", name, why, c[0] ? c[0]->version : "-");
    sl->failed[0] = '\0';
    for (int k = 0; k < 3; k++)
        serve__release(c[k]);
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

static int polled_uris(serve__ctx *s)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += serve__movable_uri(s->slots[i]->source) + serve__movable_uri(s->slots[i]->canary_uri);
    return n;
}

/* Loads the canary uri and attaches it to the slot of the same name (or the only slot). */
static int load_canary(serve__ctx *s, const char *uri, ef_ml_err *err)
{
    char name[256], ver[32], dir[4096];
    serve__version *v = NULL;
    if (strncmp(uri, "models:/", 8))
        return ef_ml_errf(err, EF_EINVAL, "--canary %s: expected a models:/ URI", uri);
    int rc = serve__fetch(s, uri, 1, name, sizeof name, ver, sizeof ver, dir, sizeof dir,
                              NULL, 0, err);
    if (!rc)
        rc = load_version(s, dir, name, ver, uri, &v, err);
    if (rc)
        return rc;
    serve_slot *sl = slot_find(s, name);
    if (!sl && s->n == 1)
        sl = s->slots[0];
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
 * (canary = 0) or its canary (canary = 1). Failures warn once per outage. */
static void poll_one(serve__ctx *s, serve_slot *sl, const char *uri, int canary)
{
    char name[256], ver[32], dir[4096], stage[64];
    ef_ml_err err = {{0}};
    int *failing = &sl->failing[canary];
    int rc = serve__fetch(s, uri, 0, name, sizeof name, ver, sizeof ver, dir, sizeof dir,
                              stage, sizeof stage, &err);
    if (!rc)
        rc = slot_move(s, sl, uri, name, ver, dir, stage, canary, &err);
    if (rc && !*failing)
        EF_WARN("model '%s': cannot update from %s (%s); still serving the loaded version",
                sl->name, uri, err.msg);
    else if (!rc && *failing)
        EF_INFO("model '%s': %s can be resolved again", sl->name, uri);
    *failing = rc != 0;
}

/* The poller: follows the registry (at once, then every poll_ms) and/or resolves the movable
 * URIs of the fixed slots every poll_ms. poll_ms <= 0 with follow: one discovery only. */
static void *poller_main(void *arg)
{
    serve__ctx *s = arg;
    int first = 1;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (!first || !s->follow) {
            if (s->o->poll_ms <= 0) {
                while (!s->stop)
                    pthread_cond_wait(&s->wake, &s->mu);
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (s->o->poll_ms % 1000) * 1000000;
            ts.tv_sec += (time_t)(s->o->poll_ms / 1000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &ts) == 0)
                ;
        }
        first = 0;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        if (s->follow)
            serve__follow_poll(s, s->follow);
        /* s->n only grows on this thread once the poller runs */
        for (size_t i = 0; i < s->n; i++) {
            serve_slot *sl = s->slots[i];
            if (sl->followed)
                continue;
            if (serve__movable_uri(sl->source))
                poll_one(s, sl, sl->source, 0);
            if (serve__movable_uri(sl->canary_uri))
                poll_one(s, sl, sl->canary_uri, 1);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int serve__poller_start(serve__ctx *s, const char *tracking_uri, ef_ml_err *err)
{
    if (s->have_poller)
        return EF_OK;
    if (tracking_uri) {
        char *dup = strdup(tracking_uri);
        if (!dup)
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        free(s->tracking_uri);
        s->tracking_uri = dup;
    }
    if (!s->follow && (s->o->poll_ms <= 0 || !polled_uris(s)))
        return EF_OK;
    s->stop = 0;
    if (pthread_create(&s->poller, NULL, poller_main, s))
        return ef_ml_errf(err, EF_ENOMEM, "cannot start the registry poller thread");
    s->have_poller = 1;
    return EF_OK;
}

int serve__load_all(serve__ctx *s, ef_ml_err *err)
{
    const ef_serve_opts *o = s->o;
    int rc = EF_OK;
    if (o->follow_registry && !s->follow && !(s->follow = serve__follow_new()))
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < o->n_models; i++) {
        char name[256], ver[32], dir[4096];
        serve__version *v = NULL;
        if (strncmp(o->models[i], "models:/", 8))
            return ef_ml_errf(err, EF_EINVAL, "--model %s: expected a models:/ URI (use "
                              "--model-dir for a directory)", o->models[i]);
        rc = serve__fetch(s, o->models[i], 1, name, sizeof name, ver, sizeof ver, dir,
                              sizeof dir, NULL, 0, err);
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
    return rc;
}

/* ---- requests ------------------------------------------------------------------------------ */

serve__version *serve__acquire(serve__ctx *s, const char *name, const char *version)
{
    serve__version *v = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        serve_slot *sl = s->slots[i];
        if (!sl->active || (name && strcmp(sl->name, name)))
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
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        if (!s->slots[i]->active)
            continue;
        if (k < max)
            names[k] = s->slots[i]->name;
        k++;
    }
    pthread_mutex_unlock(&s->mu);
    return k;
}

int serve__ready(serve__ctx *s)
{
    pthread_mutex_lock(&s->mu);
    int ok = s->follow || s->n > 0;
    for (size_t i = 0; i < s->n; i++)
        ok = ok && (!s->slots[i]->active || s->slots[i]->cur);
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
    int rc = ef_metrics_labels(&l, "model", name, "version", ver, NULL);
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
    int rc = ef_metrics_labels(&l, "model", v ? v->name : "", "version", v ? v->version : "",
                               "protocol", protocol, NULL);
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
