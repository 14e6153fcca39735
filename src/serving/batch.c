/* batch.c - micro-batching of `edgeflow serve`: concurrent small requests for one model version
 * are stacked into one matrix and scored by one predict call (--batch-max, --batch-delay).
 *
 * Leader/follower, one batcher per loaded version (serve__version.batch):
 *
 *   a request of at most max_rows/2 rows (with the model's feature count) joins the queue.
 *   The first one to find no leader becomes the leader; the others (followers) sleep on their
 *   own condition variable until their results are there. The leader collects: it takes the
 *   queue when it holds max_rows rows, or once delay_us has passed since it became leader and
 *   fewer batches of this version are being scored than there are CPUs (so with delay 0 the
 *   requests that queue while every CPU is busy scoring go together into the next call, with no
 *   added wait while a CPU is free).
 *   It hands the leadership to the first request left in the queue, scores the stacked rows
 *   outside the lock (predict_proba too when any of them asked), copies each request's rows of
 *   the results back and wakes the followers.
 *
 *   When a combined call fails, every request of it is scored again on its own, so a request is
 *   only ever failed by its own rows (a persistent failure, e.g. out of memory, reaches every
 *   waiter with its own message).
 *
 * Requests of more than max_rows/2 rows, requests whose width is not the model's, and every
 * request when max_rows <= 1 (batching off) are scored directly by the caller's thread. Every
 * scoring call (batched or not) is observed in the rows histogram.
 *
 * Numerics: preprocessing (L2 row normalisation, standard scaling) and every estimator score
 * each row independently, so a batched row gets the same prediction as alone, bit for bit for
 * the dgemv-based linear models and XGBoost. The estimators built on dgemm (MLP, LDA, logistic
 * regression) go through OpenBLAS kernels that differ by a few ulps between a 1-row and a
 * many-row product (and by the row's position in the block); labels are the same, probabilities
 * agree to ~1e-15 relative - the same difference as between `edgeflow serve` with one row and
 * `edgeflow predict` on a whole CSV.
 *
 * Locking: b->mu guards the queue, the leader pointer, `busy` and each queued request's state.
 * A request lives on its caller's stack until its state is DONE under the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"

enum { REQ_QUEUED, REQ_LEADER, REQ_DONE };

typedef struct batch_req {
    ef_mat *X;
    int want_proba;
    serve__result *out;
    ef_ml_err *err;
    int rc;
    int state; /* REQ_*, under b->mu */
    pthread_cond_t cv;
    struct batch_req *next;
} batch_req;

struct serve__batcher {
    pthread_mutex_t mu;
    pthread_condattr_t cattr; /* CLOCK_MONOTONIC, for the requests' condition variables */
    batch_req *head, *tail;   /* queued requests; the leader (when any) is head */
    size_t queued_rows;
    batch_req *leader;
    int busy;         /* batches being scored */
    int max_inflight; /* a batch waits while this many are being scored: the number of CPUs */
    size_t max_rows, n_features;
    int64_t delay_us;
    serve__predict_fn run;
    void *arg;
    ef_histogram *rows; /* may be NULL */
};

serve__batcher *serve__batcher_new(size_t max_rows, int64_t delay_us, size_t n_features,
                                   serve__predict_fn run, void *arg, ef_histogram *rows)
{
    serve__batcher *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (pthread_mutex_init(&b->mu, NULL)) {
        free(b);
        return NULL;
    }
    if (pthread_condattr_init(&b->cattr)) {
        pthread_mutex_destroy(&b->mu);
        free(b);
        return NULL;
    }
    pthread_condattr_setclock(&b->cattr, CLOCK_MONOTONIC);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    b->max_inflight = cpus > 0 ? (int)cpus : 1;
    b->max_rows = max_rows;
    b->delay_us = delay_us < 0 ? 0 : delay_us;
    b->n_features = n_features;
    b->run = run;
    b->arg = arg;
    b->rows = rows;
    return b;
}

void serve__batcher_free(serve__batcher *b)
{
    if (!b)
        return;
    pthread_condattr_destroy(&b->cattr);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int run_one(serve__batcher *b, ef_mat *X, int want_proba, serve__result *out,
                   ef_ml_err *err)
{
    if (b->rows)
        ef_histogram_observe(b->rows, (double)X->rows);
    return b->run(b->arg, X, want_proba, out, err);
}

/* Copies rows [off, off + r->X->rows) of the combined results into r->out. */
static int scatter(const batch_req *r, size_t off, const serve__result *all)
{
    size_t n = r->X->rows;
    serve__result *o = r->out;
    memset(o, 0, sizeof *o);
    if (!(o->pred = malloc(n * sizeof *o->pred)))
        return EF_ENOMEM;
    memcpy(o->pred, all->pred + off, n * sizeof *o->pred);
    if (r->want_proba && all->proba.rows) {
        size_t k = all->proba.cols;
        if (ef_mat_init(&o->proba, n, k)) {
            serve__result_release(o);
            return EF_ENOMEM;
        }
        memcpy(o->proba.v, all->proba.v + off * k, n * k * sizeof *o->proba.v);
    }
    return EF_OK;
}

/* Scores the requests of list (n_rows rows in all) with one call; on failure each alone. */
static void score_batch(serve__batcher *b, batch_req *list, size_t n_rows)
{
    if (!list->next) {
        list->rc = run_one(b, list->X, list->want_proba, list->out, list->err);
        return;
    }
    ef_mat X = {0};
    serve__result all = {0};
    ef_ml_err berr = {{0}};
    int want = 0, rc = ef_mat_init(&X, n_rows, b->n_features);
    size_t off = 0;
    for (batch_req *r = list; !rc && r; r = r->next) {
        memcpy(X.v + off * X.cols, r->X->v, r->X->rows * X.cols * sizeof *X.v);
        off += r->X->rows;
        want |= r->want_proba;
    }
    if (!rc)
        rc = run_one(b, &X, want, &all, &berr);
    off = 0;
    for (batch_req *r = list; !rc && r; r = r->next) {
        if ((r->rc = scatter(r, off, &all)))
            r->rc = ef_ml_errf(r->err, EF_ENOMEM, "out of memory");
        off += r->X->rows;
    }
    if (rc) /* the combined call failed: let each request find its own error */
        for (batch_req *r = list; r; r = r->next)
            r->rc = run_one(b, r->X, r->want_proba, r->out, r->err);
    serve__result_release(&all);
    ef_mat_release(&X);
}

/* Under b->mu: the leader r waits until its batch should go, then detaches it. */
static batch_req *collect(serve__batcher *b, batch_req *r, size_t *n_rows)
{
    int64_t deadline = ef_mono_us() + b->delay_us;
    for (;;) {
        int64_t now = ef_mono_us();
        if (b->queued_rows >= b->max_rows || (now >= deadline && b->busy < b->max_inflight))
            break;
        if (now < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = ts.tv_nsec + (deadline - now) * 1000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&r->cv, &b->mu, &ts);
        } else {
            pthread_cond_wait(&r->cv, &b->mu); /* until a batch finishes or max_rows queue */
        }
    }
    /* take whole requests from the head up to max_rows rows (at least the leader's own) */
    batch_req *list = b->head, *last = b->head;
    size_t n = last->X->rows;
    while (last->next && n + last->next->X->rows <= b->max_rows) {
        last = last->next;
        n += last->X->rows;
    }
    b->head = last->next;
    last->next = NULL;
    if (!b->head)
        b->tail = NULL;
    b->queued_rows -= n;
    b->leader = b->head;
    if (b->leader) {
        b->leader->state = REQ_LEADER;
        pthread_cond_signal(&b->leader->cv);
    }
    *n_rows = n;
    return list;
}

int serve__batcher_predict(serve__batcher *b, ef_mat *X, int want_proba, serve__result *out,
                           ef_ml_err *err)
{
    memset(out, 0, sizeof *out);
    if (b->max_rows <= 1 || X->rows == 0 || X->rows > b->max_rows / 2 ||
        X->cols != b->n_features)
        return run_one(b, X, want_proba, out, err);
    batch_req r = {.X = X, .want_proba = want_proba, .out = out, .err = err};
    if (pthread_cond_init(&r.cv, &b->cattr))
        return run_one(b, X, want_proba, out, err);
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = &r;
    else
        b->head = &r;
    b->tail = &r;
    b->queued_rows += X->rows;
    if (!b->leader) {
        b->leader = &r;
        r.state = REQ_LEADER;
    } else if (b->queued_rows >= b->max_rows) {
        pthread_cond_signal(&b->leader->cv);
    }
    while (r.state == REQ_QUEUED)
        pthread_cond_wait(&r.cv, &b->mu);
    if (r.state == REQ_LEADER) {
        size_t n_rows;
        batch_req *list = collect(b, &r, &n_rows);
        b->busy++;
        pthread_mutex_unlock(&b->mu);
        score_batch(b, list, n_rows);
        pthread_mutex_lock(&b->mu);
        b->busy--;
        for (batch_req *q = list, *next; q; q = next) {
            next = q->next;
            q->state = REQ_DONE;
            if (q != &r)
                pthread_cond_signal(&q->cv);
        }
        if (b->leader)
            pthread_cond_signal(&b->leader->cv); /* it may be waiting for this batch to end */
    }
    int rc = r.rc;
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&r.cv);
    return rc;
}
