/* mlp_batch.c - one minibatch step of the MLP solvers (forward pass, loss, backprop, adam or sgd
 * update), spread over a small team of threads.
 *
 * scikit-learn's batches are small (200 rows), so a threaded BLAS gains little on each product;
 * instead the team splits the network by units. Worker w of T owns a contiguous slice of every
 * hidden layer's units and computes, for its slice only, the layer's activations, the matching
 * columns of the deltas, the gradients of the weights into those units, and their optimiser
 * update. The output layer is split by batch rows (forward, softmax, loss, output delta), its
 * weight gradient by the rows (input units) of the last coef matrix. The phases of one step:
 *
 *   (caller gathers the rows) start barrier | forward hidden l (by units), barrier after each |
 *   output layer (by rows), barrier | backward from the top: grads of the last coefs (by their
 *   rows), then per hidden layer its delta (own units), its coef / intercept grads (own units,
 *   no barrier needed), and a barrier before the delta below | [more than one hidden layer: a
 *   barrier] update own parameters, partial |W|^2 | end barrier.
 *
 * Each product is one single-threaded cblas_dgemm per worker (the fit runs OpenBLAS with one
 * thread meanwhile, see mlp__trainer_new). With T = 1 the same code runs on the calling thread.
 * Arithmetic per element is the one of mlp_train.c's reference formulas; only the order of the
 * few cross-worker sums (loss, |W|^2) depends on T.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ml/mlp_int.h"

#define MAX_WORKERS 8
#define BARRIER_SPINS 4000

/* A reusable barrier: spin briefly on the round number, then sleep on a condition variable. */
typedef struct team_barrier {
    atomic_uint count;
    atomic_uint round;
    unsigned n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} team_barrier;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static void barrier_wait(team_barrier *b)
{
    if (b->n == 1) return;
    unsigned r = atomic_load_explicit(&b->round, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) + 1 == b->n) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        pthread_mutex_lock(&b->mu);
        atomic_store_explicit(&b->round, r + 1, memory_order_release);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        return;
    }
    for (int i = 0; i < BARRIER_SPINS; i++) {
        if (atomic_load_explicit(&b->round, memory_order_acquire) != r) return;
        cpu_relax();
    }
    pthread_mutex_lock(&b->mu);
    while (atomic_load_explicit(&b->round, memory_order_acquire) == r)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

struct mlp__trainer {
    mlp__net *net;
    size_t bs, T;
    double **act;   /* n_layers + 1 blocks of bs x units[i]; act[0] = the batch's inputs */
    double **delta; /* n_layers blocks of bs x units[i + 1] */
    double *grad;   /* n_params, laid out like net->params */
    double *mom1;   /* adam's first moments / sgd's velocities */
    double *mom2;   /* adam's second moments */
    double sumsq;   /* |coefs|^2 of the current parameters (the L2 term) */
    /* the job of the current step, set by the calling thread before the start barrier */
    const ef_mat *X;
    const double *ytab;
    const size_t *idx;
    size_t B;
    mlp__step step;
    double part_loss[MAX_WORKERS], part_sumsq[MAX_WORKERS];
    team_barrier bar;
    int quit;
    pthread_t threads[MAX_WORKERS];
    size_t n_threads; /* helper threads started (T - 1 when all went well) */
    int blas_threads; /* OpenBLAS's thread count before the trainer, restored by _free */
};

typedef struct worker_arg {
    mlp__trainer *t;
    size_t wid;
} worker_arg;

/* Worker wid's slice [*lo, *hi) of n items, cut at multiples of 8 so slices stay aligned. */
static void slice(size_t n, size_t wid, size_t T, size_t *lo, size_t *hi)
{
    size_t a = wid == 0 ? 0 : (n * wid / T) & ~(size_t)7;
    size_t b = wid + 1 == T ? n : (n * (wid + 1) / T) & ~(size_t)7;
    *lo = a < n ? a : n;
    *hi = b < *lo ? *lo : b;
}

/* ---- elementwise pieces ---- */

/* Bias and hidden activation on columns [c0, c1) of a rows x cols block. */
static void bias_activate(mlp__act a, double *z, size_t rows, size_t cols, size_t c0, size_t c1,
                          const double *restrict b)
{
    for (size_t r = 0; r < rows; r++) {
        double *restrict o = z + r * cols;
        switch (a) {
        case MLP_RELU:
            for (size_t c = c0; c < c1; c++) {
                double v = o[c] + b[c];
                o[c] = v > 0 ? v : 0.0;
            }
            break;
        case MLP_TANH:
            for (size_t c = c0; c < c1; c++)
                o[c] = tanh(o[c] + b[c]);
            break;
        case MLP_LOGISTIC:
            for (size_t c = c0; c < c1; c++)
                o[c] = 1.0 / (1.0 + exp(-(o[c] + b[c])));
            break;
        default:
            for (size_t c = c0; c < c1; c++)
                o[c] += b[c];
            break;
        }
    }
}

/* delta *= f'(activation) on columns [c0, c1), f' written through the activation's output. */
static void derivative(mlp__act a, double *delta, const double *act, size_t rows, size_t cols,
                       size_t c0, size_t c1)
{
    for (size_t r = 0; r < rows; r++) {
        double *restrict d = delta + r * cols;
        const double *restrict z = act + r * cols;
        switch (a) {
        case MLP_RELU:
            for (size_t c = c0; c < c1; c++)
                d[c] = z[c] == 0 ? 0.0 : d[c];
            break;
        case MLP_TANH:
            for (size_t c = c0; c < c1; c++)
                d[c] *= 1 - z[c] * z[c];
            break;
        case MLP_LOGISTIC:
            for (size_t c = c0; c < c1; c++) {
                d[c] *= z[c];
                d[c] *= 1 - z[c];
            }
            break;
        default:
            break;
        }
    }
}

/* Output rows [r0, r1): activation, this slice's loss sum (before normalisation) and the output
 * delta (activation - target). */
static double output_rows(const mlp__trainer *t, size_t r0, size_t r1)
{
    const mlp__net *net = t->net;
    size_t L = net->n_layers, k = net->units[L];
    const double *b = net->params + net->b_off[L - 1];
    const double eps = 2.220446049250313e-16; /* np.finfo(float64).eps: log-loss clipping */
    double s = 0;
    for (size_t r = r0; r < r1; r++) {
        double *restrict p = t->act[L] + r * k, *restrict d = t->delta[L - 1] + r * k;
        const double *restrict y = t->ytab + t->idx[r] * k;
        for (size_t c = 0; c < k; c++)
            p[c] += b[c];
        if (net->out_act == MLP_SOFTMAX) {
            double mx = p[0], sum = 0;
            for (size_t c = 1; c < k; c++)
                mx = p[c] > mx ? p[c] : mx;
            for (size_t c = 0; c < k; c++) {
                p[c] = exp(p[c] - mx);
                sum += p[c];
            }
            for (size_t c = 0; c < k; c++)
                p[c] /= sum;
        } else if (net->out_act == MLP_LOGISTIC) {
            p[0] = 1.0 / (1.0 + exp(-p[0]));
        }
        for (size_t c = 0; c < k; c++) {
            if (net->out_act == MLP_IDENTITY) {
                s += (y[c] - p[c]) * (y[c] - p[c]);
            } else if (net->out_act == MLP_LOGISTIC) {
                double q = p[c] < eps ? eps : p[c] > 1 - eps ? 1 - eps : p[c];
                s += y[c] != 0 ? log(q) : log(1 - q);
            } else if (y[c] != 0) {
                double q = p[c] < eps ? eps : p[c] > 1 - eps ? 1 - eps : p[c];
                s += log(q);
            }
            d[c] = p[c] - y[c];
        }
    }
    return s;
}

/* The optimiser step on params[lo, hi) (coefs: finishing their gradient as
 * (A^T delta + alpha W) / B first); returns |W|^2 of the updated coefs in the range. */
static double update(mlp__trainer *t, size_t lo, size_t hi, int coefs)
{
    const mlp__step *s = &t->step;
    const double nb = (double)t->B, alpha = s->alpha, lr = s->lr;
    double *restrict p = t->net->params, *restrict m = t->mom1;
    const double *restrict g = t->grad;
    double sq = 0;
    if (s->adam) {
        const double b1 = s->beta_1, b2 = s->beta_2, eps = s->epsilon;
        double *restrict v = t->mom2;
        if (coefs) {
            for (size_t i = lo; i < hi; i++) {
                double gi = (g[i] + alpha * p[i]) / nb;
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * (gi * gi);
                p[i] += -lr * m[i] / (sqrt(v[i]) + eps);
                sq += p[i] * p[i];
            }
        } else {
            for (size_t i = lo; i < hi; i++) {
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * (g[i] * g[i]);
                p[i] += -lr * m[i] / (sqrt(v[i]) + eps);
            }
        }
        return sq;
    }
    const double mu = s->momentum; /* sgd: u = mu v - lr g; v = u; nesterov: u = mu v - lr g */
    for (size_t i = lo; i < hi; i++) {
        double gi = coefs ? (g[i] + alpha * p[i]) / nb : g[i];
        double u = mu * m[i] - lr * gi;
        m[i] = u;
        if (s->nesterov) u = mu * m[i] - lr * gi;
        p[i] += u;
        if (coefs) sq += p[i] * p[i];
    }
    return sq;
}

/* ---- one step, as worker wid ---- */

static void step_work(mlp__trainer *t, size_t wid)
{
    const mlp__net *net = t->net;
    const size_t L = net->n_layers, B = t->B, T = t->T, *u = net->units;
    const size_t k = u[L];
    size_t lo, hi;

    for (size_t l = 0; l + 1 < L; l++) { /* hidden layers, by units */
        size_t fi = u[l], fo = u[l + 1];
        slice(fo, wid, T, &lo, &hi);
        if (hi > lo) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)(hi - lo), (int)fi,
                        1.0, t->act[l], (int)fi, net->params + net->w_off[l] + lo, (int)fo, 0.0,
                        t->act[l + 1] + lo, (int)fo);
            bias_activate(net->act, t->act[l + 1], B, fo, lo, hi, net->params + net->b_off[l]);
        }
        barrier_wait(&t->bar);
    }

    slice(B, wid, T, &lo, &hi); /* the output layer, by rows */
    t->part_loss[wid] = 0;
    if (hi > lo) {
        size_t fi = u[L - 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), (int)k, (int)fi, 1.0,
                    t->act[L - 1] + lo * fi, (int)fi, net->params + net->w_off[L - 1], (int)k, 0.0,
                    t->act[L] + lo * k, (int)k);
        t->part_loss[wid] = output_rows(t, lo, hi);
    }
    barrier_wait(&t->bar);

    /* grads of the last coefs by input unit (their rows), intercepts by output column */
    double sq = 0;
    size_t fi = u[L - 1];
    slice(fi, wid, T, &lo, &hi);
    if (hi > lo)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(hi - lo), (int)k, (int)B, 1.0,
                    t->act[L - 1] + lo, (int)fi, t->delta[L - 1], (int)k, 0.0,
                    t->grad + net->w_off[L - 1] + lo * k, (int)k);
    size_t k0, k1;
    slice(k, wid, T, &k0, &k1);
    double *gb = t->grad + net->b_off[L - 1];
    for (size_t c = k0; c < k1; c++) {
        double v = 0;
        for (size_t r = 0; r < B; r++)
            v += t->delta[L - 1][r * k + c];
        gb[c] = v / (double)B;
    }
    for (size_t l = L - 1; l-- > 0;) {
        /* delta of hidden layer l (its output units) = delta_{l+1} . W_{l+1}^T, own units */
        size_t h = u[l + 1], fo = u[l + 2];
        if (l + 2 < L)
            barrier_wait(&t->bar); /* delta_{l+1} was written by units: wait for all of it */
        slice(h, wid, T, &lo, &hi);
        if (hi > lo) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(hi - lo), (int)fo,
                        1.0, t->delta[l + 1], (int)fo, net->params + net->w_off[l + 1] + lo * fo,
                        (int)fo, 0.0, t->delta[l] + lo, (int)h);
            derivative(net->act, t->delta[l], t->act[l + 1], B, h, lo, hi);
            /* grads of layer l's coefs (u[l] x h) and intercepts, own output units */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)u[l], (int)(hi - lo), (int)B,
                        1.0, t->act[l], (int)u[l], t->delta[l] + lo, (int)h, 0.0,
                        t->grad + net->w_off[l] + lo, (int)h);
            double *gbl = t->grad + net->b_off[l];
            for (size_t c = lo; c < hi; c++)
                gbl[c] = 0;
            for (size_t r = 0; r < B; r++) {
                const double *restrict dr = t->delta[l] + r * h;
                for (size_t c = lo; c < hi; c++)
                    gbl[c] += dr[c];
            }
            for (size_t c = lo; c < hi; c++)
                gbl[c] /= (double)B;
        }
    }
    /* With more than one hidden layer the deltas above read rows of hidden coefs that other
     * workers update: let everyone finish reading first. */
    if (L > 2) barrier_wait(&t->bar);

    /* update own parameters: last coefs rows, last intercept columns, hidden units' columns */
    slice(fi, wid, T, &lo, &hi);
    sq += update(t, net->w_off[L - 1] + lo * k, net->w_off[L - 1] + hi * k, 1);
    update(t, net->b_off[L - 1] + k0, net->b_off[L - 1] + k1, 0);
    for (size_t l = 0; l + 1 < L; l++) {
        size_t h = u[l + 1];
        slice(h, wid, T, &lo, &hi);
        for (size_t i = 0; hi > lo && i < u[l]; i++)
            sq += update(t, net->w_off[l] + i * h + lo, net->w_off[l] + i * h + hi, 1);
        update(t, net->b_off[l] + lo, net->b_off[l] + hi, 0);
    }
    t->part_sumsq[wid] = sq;
    barrier_wait(&t->bar);
}

static void *worker_main(void *arg)
{
    worker_arg *a = arg;
    mlp__trainer *t = a->t;
    size_t wid = a->wid;
    free(a);
    for (;;) {
        barrier_wait(&t->bar); /* the start of a step (or the end of the team) */
        if (t->quit) break;
        step_work(t, wid);
    }
    return NULL;
}

/* ---- lifecycle ---- */

static size_t pick_workers(const mlp__net *net, size_t bs)
{
    const char *env = getenv("EF_ML_THREADS");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t T = cpus > 0 ? (size_t)cpus : 1, widest = 0;
    if (env && *env) T = (size_t)strtoul(env, NULL, 10);
    double macs = 0;
    for (size_t l = 0; l < net->n_layers; l++) {
        macs += (double)net->units[l] * (double)net->units[l + 1];
        if (l + 1 < net->n_layers && net->units[l + 1] > widest) widest = net->units[l + 1];
    }
    /* below ~2M multiply-adds per batch the barriers cost more than a second core gains */
    if (!(env && *env) && macs * (double)bs * 3 < 2e6) T = 1;
    T = T < 1 ? 1 : T > MAX_WORKERS ? MAX_WORKERS : T;
    while (T > 1 && widest / T < 16) /* keep a useful slice of units per worker */
        T--;
    return T;
}

int mlp__trainer_new(mlp__trainer **out, mlp__net *net, size_t bs, int adam)
{
    size_t L = net->n_layers;
    mlp__trainer *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) return EF_ENOMEM;
    t->net = net;
    t->bs = bs;
    t->blas_threads = -1;
    t->T = pick_workers(net, bs);
    atomic_init(&t->bar.count, 0);
    atomic_init(&t->bar.round, 0);
    t->bar.n = 1;
    pthread_mutex_init(&t->bar.mu, NULL);
    pthread_cond_init(&t->bar.cv, NULL);
    t->act = calloc(L + 1, sizeof *t->act);
    t->delta = calloc(L, sizeof *t->delta);
    if (!t->act || !t->delta) goto nomem;
    for (size_t i = 0; i <= L; i++)
        if (!(t->act[i] = malloc(bs * net->units[i] * sizeof(double)))) goto nomem;
    for (size_t i = 0; i < L; i++)
        if (!(t->delta[i] = malloc(bs * net->units[i + 1] * sizeof(double)))) goto nomem;
    t->grad = malloc(net->n_params * sizeof(double));
    t->mom1 = calloc(net->n_params, sizeof(double));
    if (!t->grad || !t->mom1 || (adam && !(t->mom2 = calloc(net->n_params, 8)))) goto nomem;
    t->sumsq = 0;
    for (size_t l = 0; l < L; l++) {
        const double *w = net->params + net->w_off[l];
        t->sumsq += cblas_ddot((int)(net->units[l] * net->units[l + 1]), w, 1, w, 1);
    }
    if (t->T > 1) {
        /* each worker's products run on its own thread: OpenBLAS must not fan out as well */
        t->blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
        t->bar.n = (unsigned)t->T;
        for (size_t w = 1; w < t->T; w++) {
            worker_arg *a = malloc(sizeof *a);
            if (!a) break;
            a->t = t;
            a->wid = w;
            if (pthread_create(&t->threads[w - 1], NULL, worker_main, a)) {
                free(a);
                break;
            }
            t->n_threads++;
        }
        if (t->n_threads + 1 < t->T) { /* could not start them all: stop those and run alone */
            t->bar.n = (unsigned)t->n_threads + 1;
            t->quit = 1;
            barrier_wait(&t->bar);
            for (size_t w = 0; w < t->n_threads; w++)
                pthread_join(t->threads[w], NULL);
            t->n_threads = 0;
            t->quit = 0;
            t->T = 1;
            t->bar.n = 1;
        }
    }
    *out = t;
    return EF_OK;
nomem:
    mlp__trainer_free(t);
    return EF_ENOMEM;
}

void mlp__trainer_free(mlp__trainer *t)
{
    if (!t) return;
    if (t->n_threads) {
        t->quit = 1;
        barrier_wait(&t->bar);
        for (size_t w = 0; w < t->n_threads; w++)
            pthread_join(t->threads[w], NULL);
    }
    if (t->blas_threads > 0) openblas_set_num_threads(t->blas_threads);
    pthread_mutex_destroy(&t->bar.mu);
    pthread_cond_destroy(&t->bar.cv);
    size_t L = t->net->n_layers;
    for (size_t i = 0; t->act && i <= L; i++)
        free(t->act[i]);
    for (size_t i = 0; t->delta && i < L; i++)
        free(t->delta[i]);
    free(t->act);
    free(t->delta);
    free(t->grad);
    free(t->mom1);
    free(t->mom2);
    free(t);
}

size_t mlp__trainer_workers(const mlp__trainer *t)
{
    return t->T;
}

double mlp__trainer_step(mlp__trainer *t, const ef_mat *X, const double *ytab, const size_t *idx,
                         size_t B, const mlp__step *s)
{
    t->X = X;
    t->ytab = ytab;
    t->idx = idx;
    t->B = B;
    t->step = *s;
    size_t d = X->cols;
    for (size_t r = 0; r < B; r++) /* gather the batch's rows (before the helpers read them) */
        memcpy(t->act[0] + r * d, X->v + idx[r] * d, d * sizeof(double));
    double l2 = (0.5 * s->alpha) * t->sumsq / (double)B;
    barrier_wait(&t->bar); /* start the helpers */
    step_work(t, 0);
    double loss = 0, sq = 0;
    for (size_t w = 0; w < t->T; w++) {
        loss += t->part_loss[w];
        sq += t->part_sumsq[w];
    }
    t->sumsq = sq;
    size_t k = t->net->units[t->net->n_layers];
    loss = t->net->out_act == MLP_IDENTITY ? loss / (double)(B * k) / 2 : -loss / (double)B;
    return loss + l2;
}
