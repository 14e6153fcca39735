/* serve_int.h - internals shared by the files of `edgeflow serve` (src/serving/):
 *
 *   runtime.c        loaded model versions (refcounted, swapped atomically), model slots,
 *                    loading from a model directory or a models:/ URI, the poller thread
 *   cache.c          models:/ URIs resolved through the tracking server into a local cache
 *   follow.c         following the registry: every model in Production or with alias champion
 *   http.c           the routes (health, /metrics, protocols), mounting them on a server,
 *                    `edgeflow serve`'s own server
 *   seldon.c         Seldon Core v1 protocol (parse request -> matrix, reply, error shape)
 *   oip.c            Open Inference Protocol v2 (/v2/...)
 *   kserve.c         KServe v1 (/v1/models/<m>:predict)
 *   batch.c          micro-batching: concurrent small requests of a version, one predict call
 *
 * A protocol file owns its request parser and reply writer (pure functions, fuzzed) and its
 * routes; everything model-related goes through this header.
 */
#ifndef EF_SERVING_SERVE_INT_H
#define EF_SERVING_SERVE_INT_H

#include <jansson.h>
#include <stddef.h>

#include "http/server.h"
#include "ml/model.h"

/* One loaded model version: immutable after load, shared by requests through a reference count.
 * name: the served model name (the registered model's name, or the --name/basename for a
 * directory); version: the registry version ("" for a plain directory). */
typedef struct serve__version {
    char name[256];
    char version[32];
    char source[1024]; /* models:/... URI or directory path, for metadata and logs */
    ef_model *model;   /* owned */
    int refs;          /* atomic; the slot holds one reference */
    struct serve__batcher *batch; /* owned; scores the requests (batch.c) */
} serve__version;

typedef struct serve__ctx serve__ctx;

/* The current version of model `name` (NULL: the only model, or the first one served), with a
 * reference the caller must drop with serve__release. version: NULL = current; a specific
 * version string when the protocol names one (OIP /versions/<v>): EF_ENOTFOUND if that version is
 * not loaded. Returns NULL when there is no such model (or nothing is loaded yet). */
serve__version *serve__acquire(serve__ctx *s, const char *name, const char *version);
void serve__release(serve__version *v);

/* Names of the served models (pointers valid for the server's life); returns the count. */
size_t serve__model_names(serve__ctx *s, const char **names, size_t max);
/* 1 when every served model has a loaded version. */
int serve__ready(serve__ctx *s);

/* Scores X with v (preprocessing applied in place to X). pred: X->rows values (labels for
 * classifiers); proba (when want_proba and the model is a classifier): X->rows x n_classes.
 * Returns 0 or an EF_E* code with the message in err. Thread-safe. */
typedef struct serve__result {
    double *pred;
    ef_mat proba; /* rows == 0 when not asked for or not a classifier */
} serve__result;
int serve__predict(serve__version *v, ef_mat *X, int want_proba, serve__result *out, ef_ml_err *err);
void serve__result_release(serve__result *r);

/* For the protocols whose errors are {"error": "..."} (OIP v2, KServe v1), in http.c:
 * serve__body_json returns the request body as JSON, or NULL after answering 413 (over
 * --max-body) or 400 (not JSON) with *status set; serve__fail answers a failed parse/predict
 * (400 bad input, 413 too big, 500 otherwise); serve__reply answers 200 with reply, or 500 when
 * the reply could not be built (reply NULL). Each sets *status to what was sent. */
json_t *serve__body_json(ef_http_req *r, serve__ctx *s, int *status);
void serve__fail(ef_http_req *r, int rc, const ef_ml_err *err, int *status);
void serve__reply(ef_http_req *r, json_t *reply, int *status);

/* Per-protocol route registration, called once by http.c before the server starts. */
int serve__seldon_routes(serve__ctx *s, ef_http_server *http);
int serve__oip_routes(serve__ctx *s, ef_http_server *http);
int serve__kserve_routes(serve__ctx *s, ef_http_server *http);

/* Counts one prediction request for /metrics (model, version, protocol, HTTP status, seconds). */
void serve__observe(serve__ctx *s, const serve__version *v, const char *protocol, int status,
                    double seconds);


/* ---- added by S1: the runtime's lifecycle, metrics, the Seldon parser (fuzzed) --------------- */
struct ef_metrics;
struct ef_serve_opts;

/* A context for o's models (nothing loaded yet); metrics (borrowed) receives the counters.
 * NULL on ENOMEM. */
serve__ctx *serve__ctx_new(const struct ef_serve_opts *o, struct ef_metrics *metrics);
/* Loads every model of the options (downloading models:/ URIs into the cache). 0 or EF_E* with
 * the message in err naming the model. */
int serve__load_all(serve__ctx *s, ef_ml_err *err);
void serve__ctx_free(serve__ctx *s);
struct ef_metrics *serve__metrics(serve__ctx *s);
/* The largest prediction body the protocols accept (--max-body); the HTTP layer's own limit is
 * set higher so that the protocols can answer 413 in their own error shape. */
size_t serve__max_body(serve__ctx *s);

enum { SERVE__SELDON_NDARRAY = 1, SERVE__SELDON_TENSOR, SERVE__SELDON_JSONDATA };

/* A parsed Seldon v1 prediction request. */
typedef struct serve__seldon_req {
    int form;        /* SERVE__SELDON_*: how the input came, hence how the reply is shaped */
    ef_mat X;        /* rows x n_features, in the model's feature order (owned) */
    int want_proba;  /* meta.tags.predict_proba == true, or ?method=predict_proba */
    json_t *meta;    /* the reply's meta: puid and tags of the request (owned) */
} serve__seldon_req;

/* Parses a Seldon request body for a model with the given features. query_method: the request's
 * ?method= (NULL when absent). Returns 0, EF_EINVAL (msg says what is wrong with the input) or
 * EF_ENOMEM. out is released by serve__seldon_req_release in every case. */
int serve__seldon_parse(const char *body, size_t len, const char *query_method,
                        char *const *features, size_t n_features, serve__seldon_req *out,
                        char *msg, size_t msglen);
void serve__seldon_req_release(serve__seldon_req *r);

/* ---- added by S3: hot swap and canary -------------------------------------------------------- */
/* Says which version answers: the header X-Model-Version (every protocol), when v has a
 * registry version. Call before the reply. */
void serve__tag_reply(ef_http_req *r, const serve__version *v);

/* ---- added by H-mount: following the registry, mounting, the poller -------------------------- */
typedef struct serve__follow serve__follow;

/* The options (borrowed) and the tracking server URI in use (NULL: none; owned by s). */
const struct ef_serve_opts *serve__opts(serve__ctx *s);
const char *serve__tracking_uri(serve__ctx *s);

/* cache.c: resolves uri (models:/...) through the tracking server and makes sure
 * cache_dir/<name>/<version> holds it; name, ver, dir (and stage, the version's current_stage,
 * when not NULL; "" when unknown) receive the result. allow_cache: when the server does not
 * answer (no HTTP status), serve the version the URI names, else the newest cached one, with a
 * warning. Returns 0 or EF_E* with err naming the URI. Thread-safe (one client per call). */
int serve__fetch(serve__ctx *s, const char *uri, int allow_cache, char *name, size_t name_len,
                 char *ver, size_t ver_len, char *dir, size_t dir_len, char *stage,
                 size_t stage_len, ef_ml_err *err);
/* 1 when uri can move to another version: models:/NAME/STAGE, models:/NAME@ALIAS, .../latest. */
int serve__movable_uri(const char *uri);

/* runtime.c, for the follower (called on the poller thread only):
 * serve__slot_follow makes version `version` of registered model `name` the one served under
 * that name -- a new slot when the name is new, a hot swap when another version is served, a
 * no-op when this one already is; label is the URI that selects it ("models:/N@champion"), kept
 * as the version's source. allow_cache as serve__fetch's. A failure keeps what is served and
 * warns once per version. Returns 0 or an EF_E* code.
 * serve__slot_unfollow stops serving name (requests then get the protocol's "unknown model";
 * in-flight ones finish on their reference); why goes into the log line. Only slots made by
 * serve__slot_follow are touched. */
int serve__slot_follow(serve__ctx *s, const char *name, const char *version, const char *label,
                       int allow_cache);
void serve__slot_unfollow(serve__ctx *s, const char *name, const char *why);

/* Starts the poller thread when there is something to poll (following the registry, or movable
 * models:/ URIs with poll_ms > 0); tracking_uri (copied; NULL keeps the options') is where it
 * looks. serve__poller_stop joins it (also done by serve__ctx_free). 0 or EF_E* with err. */
int serve__poller_start(serve__ctx *s, const char *tracking_uri, ef_ml_err *err);
void serve__poller_stop(serve__ctx *s);

/* follow.c: the follower's state (NULL on ENOMEM), and one round: search the registry, serve
 * what is in Production or has the alias champion (the alias wins), drop what left. An
 * unreachable tracking server keeps everything served and warns once per outage; at the first
 * round, the models of the last known list (cache_dir/following.json) are served from the
 * cache. */
serve__follow *serve__follow_new(void);
void serve__follow_free(serve__follow *f);
void serve__follow_poll(serve__ctx *s, serve__follow *f);

/* ---- added by H-batch: micro-batching (batch.c) --------------------------------------------- */
struct ef_histogram;
typedef struct serve__batcher serve__batcher;

/* How a batcher scores a matrix: serve__predict's contract (X preprocessed in place, out
 * released on failure). */
typedef int (*serve__predict_fn)(void *arg, ef_mat *X, int want_proba, serve__result *out,
                                 ef_ml_err *err);

/* A batcher for one model version: requests of at most max_rows/2 rows with n_features columns
 * are stacked, up to max_rows rows per call of run(arg, ...), waiting at most delay_us for more,
 * and meanwhile while as many calls are running as there are CPUs (delay 0: only requests that
 * queued while every CPU was scoring go together); max_rows <= 1 = off (every request calls run
 * directly). rows (may be NULL, borrowed) observes the rows of every call of run.
 * NULL on ENOMEM. */
serve__batcher *serve__batcher_new(size_t max_rows, int64_t delay_us, size_t n_features,
                                   serve__predict_fn run, void *arg, struct ef_histogram *rows);
/* No request may be in flight. NULL is fine. */
void serve__batcher_free(serve__batcher *b);
/* Scores X like run(arg, X, ...) would, possibly within a batch of other threads' requests (X is
 * then left as it was). out: the caller releases it with serve__result_release (empty on
 * failure). Returns 0 or the EF_E* code of this request's own failure, message in err.
 * Thread-safe; blocks the caller until its rows are scored. */
int serve__batcher_predict(serve__batcher *b, ef_mat *X, int want_proba, serve__result *out,
                           ef_ml_err *err);

#endif
