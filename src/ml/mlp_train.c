/* mlp_train.c - the stochastic solvers of MLPClassifier / MLPRegressor, re-expressed from
 * scikit-learn 1.2.1 (sklearn/neural_network/_multilayer_perceptron.py, _stochastic_optimizers.py,
 * _base.py) so that a fixed random_state gives the same initial weights, the same minibatches and
 * therefore the same loss curve as scikit-learn, up to floating-point summation order.
 *
 * One fit:
 *   1. RandomState(random_state) (random_state=None: a fresh seed from the OS, recorded in
 *      fit_info.random_state_used);
 *   2. Glorot init per layer, coef (fan_in x fan_out, row-major) then intercept, each drawn
 *      uniform(-b, b) with b = sqrt(6 / (fan_in + fan_out)) (factor 2 for logistic);
 *   3. early_stopping: train_test_split(X, y, test_size=validation_fraction, random_state=<the same
 *      RandomState>), reproduced exactly: StratifiedShuffleSplit for two classes (sklearn
 *      stratifies only a one-column binarized target), ShuffleSplit otherwise;
 *   4. every epoch: shuffle the sample order (sklearn.utils.shuffle on the index array, i.e. a
 *      Fisher-Yates pass of the same RandomState), minibatches of batch_size in that order; per
 *      batch a forward pass, loss = log-loss (softmax / logistic output) or half squared error,
 *      plus 0.5 * alpha * |W|^2 / batch_n; backprop with grad_W = (A^T delta + alpha W) / batch_n;
 *      then an adam or sgd (momentum, Nesterov, constant / invscaling / adaptive) step;
 *   5. stop when the training loss (or the validation score) has not improved by tol for more
 *      than n_iter_no_change epochs, or after max_iter epochs.
 * The minibatch steps themselves (products through cblas_dgemm, spread over a few threads) are in
 * mlp_batch.c; fit_info gets n_iter, loss, loss_curve, best_loss, converged, t, validation_scores,
 * random_state_used, batch_size, threads.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "ml/ml.h"
#include "ml/mlp_int.h"

enum { LR_CONSTANT, LR_INVSCALING, LR_ADAPTIVE };

/* The validated hyper-parameters of one fit. */
typedef struct mlp_cfg {
    size_t *units; /* n_features, hidden..., n_outputs */
    size_t n_units;
    mlp__act act, out_act;
    int sgd; /* else adam */
    double alpha;
    long batch_size; /* 0 = auto */
    int lr_schedule;
    double lr_init, power_t, tol, momentum, val_frac, beta_1, beta_2, epsilon;
    long max_iter, n_iter_no_change;
    int shuffle, verbose, nesterov, early_stopping;
    uint32_t seed;
} mlp_cfg;

static uint32_t fresh_seed(void)
{
    uint32_t s;
    if (getrandom(&s, sizeof s, 0) == (ssize_t)sizeof s) return s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ ((uint32_t)getpid() << 16);
}

/* Reads and validates the parameters like scikit-learn's _parameter_constraints. */
static int read_cfg(const ef_estimator *e, size_t n_features, size_t n_out, mlp_cfg *c,
                    ef_ml_err *err)
{
    memset(c, 0, sizeof *c);
    const char *solver = ef_ml_pstring(e, "solver");
    if (!strcmp(solver, "lbfgs"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "solver 'lbfgs' is not available in edgeflow; use solver=adam or sgd");
    c->sgd = !strcmp(solver, "sgd");
    c->act = (mlp__act)mlp__act_parse(ef_ml_pstring(e, "activation"));
    c->out_act = e->type->task == EF_ML_REGRESSOR ? MLP_IDENTITY
                 : n_out == 1                     ? MLP_LOGISTIC
                                                  : MLP_SOFTMAX;
    c->alpha = ef_ml_pdouble(e, "alpha");
    c->lr_init = ef_ml_pdouble(e, "learning_rate_init");
    c->power_t = ef_ml_pdouble(e, "power_t");
    c->max_iter = ef_ml_pint(e, "max_iter");
    c->tol = ef_ml_pdouble(e, "tol");
    c->momentum = ef_ml_pdouble(e, "momentum");
    c->val_frac = ef_ml_pdouble(e, "validation_fraction");
    c->beta_1 = ef_ml_pdouble(e, "beta_1");
    c->beta_2 = ef_ml_pdouble(e, "beta_2");
    c->epsilon = ef_ml_pdouble(e, "epsilon");
    c->n_iter_no_change = ef_ml_pint(e, "n_iter_no_change");
    c->shuffle = ef_ml_pbool(e, "shuffle");
    c->verbose = ef_ml_pbool(e, "verbose");
    c->nesterov = ef_ml_pbool(e, "nesterovs_momentum");
    c->early_stopping = ef_ml_pbool(e, "early_stopping");
    const char *lr = ef_ml_pstring(e, "learning_rate");
    c->lr_schedule = !strcmp(lr, "invscaling") ? LR_INVSCALING
                     : !strcmp(lr, "adaptive") ? LR_ADAPTIVE
                                               : LR_CONSTANT;
    const char *bs = ef_ml_pstring(e, "batch_size");
    if (strcmp(bs, "auto")) {
        char *end;
        long v = strtol(bs, &end, 10);
        if (end == bs || *end || v < 1)
            return ef_ml_errf(err, EF_EINVAL,
                              "batch_size must be 'auto' or a positive integer, got '%s'", bs);
        c->batch_size = v;
    }
    if (!(c->alpha >= 0)) return ef_ml_errf(err, EF_EINVAL, "alpha must be >= 0, got %g", c->alpha);
    if (!(c->lr_init > 0))
        return ef_ml_errf(err, EF_EINVAL, "learning_rate_init must be > 0, got %g", c->lr_init);
    if (!(c->power_t >= 0))
        return ef_ml_errf(err, EF_EINVAL, "power_t must be >= 0, got %g", c->power_t);
    if (c->max_iter < 1)
        return ef_ml_errf(err, EF_EINVAL, "max_iter must be >= 1, got %ld", c->max_iter);
    if (!(c->tol >= 0)) return ef_ml_errf(err, EF_EINVAL, "tol must be >= 0, got %g", c->tol);
    if (!(c->momentum >= 0 && c->momentum <= 1))
        return ef_ml_errf(err, EF_EINVAL, "momentum must be in [0, 1], got %g", c->momentum);
    if (!(c->val_frac >= 0 && c->val_frac < 1))
        return ef_ml_errf(err, EF_EINVAL, "validation_fraction must be in [0, 1), got %g",
                          c->val_frac);
    if (!(c->beta_1 >= 0 && c->beta_1 < 1) || !(c->beta_2 >= 0 && c->beta_2 < 1))
        return ef_ml_errf(err, EF_EINVAL, "beta_1 and beta_2 must be in [0, 1), got %g and %g",
                          c->beta_1, c->beta_2);
    if (!(c->epsilon > 0))
        return ef_ml_errf(err, EF_EINVAL, "epsilon must be > 0, got %g", c->epsilon);
    if (c->n_iter_no_change < 1)
        return ef_ml_errf(err, EF_EINVAL, "n_iter_no_change must be >= 1, got %ld",
                          c->n_iter_no_change);
    if (ef_ml_pint(e, "max_fun") < 1)
        return ef_ml_errf(err, EF_EINVAL, "max_fun must be >= 1, got %ld",
                          ef_ml_pint(e, "max_fun"));
    if (ef_ml_pnull(e, "random_state")) {
        c->seed = fresh_seed();
    } else {
        long rs = ef_ml_pint(e, "random_state");
        if (rs < 0 || rs > (long)UINT32_MAX)
            return ef_ml_errf(
                err, EF_EINVAL,
                "random_state must be in 0..4294967295 (numpy's RandomState), got %ld", rs);
        c->seed = (uint32_t)rs;
    }
    size_t n_hidden = ef_ml_pintlist(e, "hidden_layer_sizes", NULL, 0);
    long *hidden = malloc((n_hidden ? n_hidden : 1) * sizeof *hidden);
    c->units = malloc((n_hidden + 2) * sizeof *c->units);
    if (!hidden || !c->units) {
        free(hidden);
        free(c->units);
        c->units = NULL;
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    ef_ml_pintlist(e, "hidden_layer_sizes", hidden, n_hidden);
    c->n_units = n_hidden + 2;
    c->units[0] = n_features;
    for (size_t i = 0; i < n_hidden; i++)
        c->units[i + 1] = (size_t)hidden[i];
    c->units[n_hidden + 1] = n_out;
    free(hidden);
    return EF_OK;
}

/* ---- early stopping's validation split (train_test_split) ---- */

/* sklearn.utils._approximate_mode: how many of n_draws each class gets, ties broken by rng. */
static int approximate_mode(const size_t *counts, size_t k, size_t n_draws, ef_rng *rng,
                            size_t *out)
{
    double total = 0, fsum = 0;
    for (size_t i = 0; i < k; i++)
        total += (double)counts[i];
    double *rem = malloc(k * sizeof *rem), *vals = malloc(k * sizeof *vals);
    size_t *inds = malloc(k * sizeof *inds), *perm = malloc(k * sizeof *perm);
    if (!rem || !vals || !inds || !perm) {
        free(rem);
        free(vals);
        free(inds);
        free(perm);
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        double cont = (double)counts[i] / total * (double)n_draws;
        double fl = floor(cont);
        out[i] = (size_t)fl;
        rem[i] = cont - fl;
        fsum += fl;
    }
    long need = (long)((double)n_draws - fsum);
    /* distinct remainders, largest first */
    size_t nv = 0;
    for (size_t i = 0; i < k; i++) {
        size_t j = 0;
        while (j < nv && vals[j] != rem[i])
            j++;
        if (j == nv) vals[nv++] = rem[i];
    }
    for (size_t i = 1; i < nv; i++)
        for (size_t j = i; j > 0 && vals[j] > vals[j - 1]; j--) {
            double t = vals[j];
            vals[j] = vals[j - 1];
            vals[j - 1] = t;
        }
    for (size_t v = 0; need > 0 && v < nv; v++) {
        size_t ni = 0;
        for (size_t i = 0; i < k; i++)
            if (rem[i] == vals[v]) inds[ni++] = i;
        size_t add = (size_t)need < ni ? (size_t)need : ni;
        /* rng.choice(inds, add, replace=False) = inds[permutation(len(inds))[:add]] */
        ef_rng_permutation(rng, perm, ni);
        for (size_t a = 0; a < add; a++)
            out[inds[perm[a]]]++;
        need -= (long)add;
    }
    free(rem);
    free(vals);
    free(inds);
    free(perm);
    return EF_OK;
}

/* train_test_split(arange(n), test_size=frac, random_state=rng, stratify=strata): *train and
 * *test (malloc'd) in the order scikit-learn returns them. strata[i] in 0..k-1 is row i's stratum
 * in numpy's sorted order, or strata is NULL (ShuffleSplit). */
static int split_validation(ef_rng *rng, size_t n, double frac, const int *strata, size_t k,
                            size_t **train, size_t *n_train, size_t **test, size_t *n_test,
                            ef_ml_err *err)
{
    size_t nte = (size_t)ceil(frac * (double)n), ntr = n - nte;
    *train = *test = NULL;
    if (!(frac > 0) || nte >= n || ntr == 0)
        return ef_ml_errf(err, EF_EINVAL,
                          "early_stopping: validation_fraction=%g of %zu samples leaves an empty "
                          "training or validation set; use a fraction in (0, 1) and more data",
                          frac, n);
    size_t *perm = malloc(n * sizeof *perm), *tr = malloc(ntr * sizeof *tr);
    size_t *te = malloc(nte * sizeof *te), *counts = NULL, *n_i = NULL, *t_i = NULL;
    size_t *start = NULL, *order = NULL;
    int rc = EF_ENOMEM;
    if (!perm || !tr || !te) goto out;
    if (!strata) {
        ef_rng_permutation(rng, perm, n);
        memcpy(te, perm, nte * sizeof *te);
        memcpy(tr, perm + nte, ntr * sizeof *tr);
        rc = EF_OK;
        goto out;
    }
    counts = calloc(k, sizeof *counts);
    n_i = calloc(k, sizeof *n_i);
    t_i = calloc(k, sizeof *t_i);
    start = calloc(k + 1, sizeof *start);
    order = malloc(n * sizeof *order);
    if (!counts || !n_i || !t_i || !start || !order) goto out;
    for (size_t i = 0; i < n; i++)
        counts[strata[i]]++;
    for (size_t c = 0; c < k; c++) {
        if (counts[c] < 2) {
            rc = ef_ml_errf(err, EF_EINVAL,
                            "early_stopping: a class has only %zu sample(s); the stratified "
                            "validation split needs >= 2 per class",
                            counts[c]);
            goto out;
        }
        start[c + 1] = start[c] + counts[c];
    }
    if (ntr < k || nte < k) {
        rc = ef_ml_errf(err, EF_EINVAL,
                        "early_stopping: the validation split (%zu train / %zu validation rows) "
                        "needs at least one row per class (%zu classes); raise "
                        "validation_fraction or turn early_stopping off",
                        ntr, nte, k);
        goto out;
    }
    /* rows of each stratum in ascending order (a stable argsort) */
    {
        size_t *fill = n_i; /* reused as a cursor, reset below */
        for (size_t i = 0; i < n; i++)
            order[start[strata[i]] + fill[strata[i]]++] = i;
        memset(n_i, 0, k * sizeof *n_i);
    }
    if (approximate_mode(counts, k, ntr, rng, n_i)) goto out;
    for (size_t c = 0; c < k; c++)
        counts[c] -= n_i[c];
    if (approximate_mode(counts, k, nte, rng, t_i)) goto out;
    for (size_t c = 0; c < k; c++)
        counts[c] += n_i[c];
    size_t a = 0, b = 0;
    for (size_t c = 0; c < k; c++) {
        ef_rng_permutation(rng, perm, counts[c]);
        for (size_t j = 0; j < n_i[c]; j++)
            tr[a++] = order[start[c] + perm[j]];
        for (size_t j = n_i[c]; j < n_i[c] + t_i[c]; j++)
            te[b++] = order[start[c] + perm[j]];
    }
    ef_rng_shuffle(rng, tr, a);
    ef_rng_shuffle(rng, te, b);
    ntr = a;
    nte = b;
    rc = EF_OK;
out:
    if (rc == EF_ENOMEM) ef_ml_errf(err, rc, "out of memory splitting the validation set");
    free(perm);
    free(counts);
    free(n_i);
    free(t_i);
    free(start);
    free(order);
    if (rc) {
        free(tr);
        free(te);
        return rc;
    }
    *train = tr;
    *test = te;
    *n_train = ntr;
    *n_test = nte;
    return EF_OK;
}

/* ---- validation score (early stopping) ---- */

static int validation_score(const ef_estimator *e, const mlp__net *net, const ef_mat *Xv,
                            const double *yv, const int *yv_idx, double *score, ef_ml_err *err)
{
    ef_mat out;
    int rc = mlp__predict_raw(net, Xv, &out, err);
    if (rc) return rc;
    size_t n = Xv->rows, k = out.cols;
    if (e->type->task == EF_ML_CLASSIFIER) {
        size_t hit = 0;
        for (size_t i = 0; i < n; i++) {
            const double *r = out.v + i * k;
            int best = 0;
            if (k == 1) {
                best = r[0] > 0.5;
            } else {
                for (size_t c = 1; c < k; c++)
                    if (r[c] > r[best]) best = (int)c;
            }
            hit += best == yv_idx[i];
        }
        *score = (double)hit / (double)n;
    } else { /* r2_score with force_finite */
        double mean = 0, num = 0, den = 0;
        for (size_t i = 0; i < n; i++)
            mean += yv[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            num += (yv[i] - out.v[i]) * (yv[i] - out.v[i]);
            den += (yv[i] - mean) * (yv[i] - mean);
        }
        *score = den != 0 ? 1 - num / den : num == 0 ? 1.0 : 0.0;
    }
    ef_mat_release(&out);
    return EF_OK;
}

/* ---- fit ---- */

/* Everything one fit owns, released in one place. */
typedef struct mlp_fit {
    mlp_cfg cfg;
    mlp__net *net;
    mlp__trainer *trainer;
    double *best;  /* early stopping: the parameters of the best validation score */
    size_t *bidx;  /* the rows of the current minibatch */
    double *ytab;  /* n x n_outputs targets (one-hot / 0-1 / values) */
    size_t *rows;  /* training rows (all rows, or the early-stopping training part) */
    size_t *vrows; /* early stopping: validation rows */
    size_t *order; /* sample order of the current epoch (indices into rows) */
    ef_mat xval;
    double *yval;
    int *yval_idx;
    int *strata;
    json_t *curve, *vscores;
} mlp_fit;

static void fit_release(mlp_fit *f)
{
    mlp__trainer_free(f->trainer);
    if (f->net) {
        mlp__net_release(f->net);
        free(f->net);
    }
    free(f->best);
    free(f->bidx);
    free(f->cfg.units);
    free(f->ytab);
    free(f->rows);
    free(f->vrows);
    free(f->order);
    ef_mat_release(&f->xval);
    free(f->yval);
    free(f->yval_idx);
    free(f->strata);
    json_decref(f->curve);
    json_decref(f->vscores);
}

static void glorot_init(mlp__net *net, ef_rng *rng)
{
    for (size_t l = 0; l < net->n_layers; l++) {
        size_t fi = net->units[l], fo = net->units[l + 1];
        double factor = net->act == MLP_LOGISTIC ? 2.0 : 6.0;
        double b = sqrt(factor / (double)(fi + fo));
        double *wl = net->params + net->w_off[l], *bl = net->params + net->b_off[l];
        for (size_t j = 0; j < fi * fo; j++)
            wl[j] = ef_rng_uniform(rng, -b, b);
        for (size_t j = 0; j < fo; j++)
            bl[j] = ef_rng_uniform(rng, -b, b);
    }
}

int mlp__fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx, ef_ml_err *err)
{
    int clf = e->type->task == EF_ML_CLASSIFIER;
    size_t n = X->rows, d = X->cols, k = e->n_classes;
    size_t n_out = !clf ? 1 : k == 2 ? 1 : k;
    mlp_fit f;
    memset(&f, 0, sizeof f);
    int rc = read_cfg(e, d, n_out, &f.cfg, err);
    if (rc) return rc;
    mlp_cfg *c = &f.cfg;
    ef_rng rng;
    ef_rng_seed(&rng, c->seed);
    rc = EF_ENOMEM;
    f.curve = json_array();
    f.ytab = malloc(n * n_out * sizeof *f.ytab);
    f.net = calloc(1, sizeof *f.net);
    if (!f.curve || !f.ytab || !f.net) goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!clf)
            f.ytab[i] = y[i];
        else if (n_out == 1)
            f.ytab[i] = y_idx[i] == 1;
        else
            for (size_t j = 0; j < n_out; j++)
                f.ytab[i * n_out + j] = (int)j == y_idx[i];
    }
    if ((rc = mlp__net_init(f.net, c->units, c->n_units, c->act, c->out_act))) {
        free(f.net);
        f.net = NULL;
        rc = ef_ml_errf(err, rc, "the network is too large (out of memory)");
        goto out;
    }
    glorot_init(f.net, &rng);

    size_t n_train = n, n_val = 0;
    if (c->early_stopping) {
        /* scikit-learn stratifies only when the binarized target has one column, i.e. for two
         * classes (its strata "False" < "True" are the class order); a multiclass target is
         * one-hot and split like a regressor's. */
        int stratify = clf && n_out == 1;
        if (stratify && !(f.strata = malloc(n * sizeof *f.strata))) goto nomem;
        for (size_t i = 0; stratify && i < n; i++)
            f.strata[i] = y_idx[i];
        if ((rc = split_validation(&rng, n, c->val_frac, f.strata, 2, &f.rows, &n_train, &f.vrows,
                                   &n_val, err)))
            goto out;
        rc = EF_ENOMEM;
        if (ef_mat_gather(&f.xval, X, f.vrows, n_val) ||
            !(f.yval = malloc(n_val * sizeof *f.yval)) ||
            !(f.yval_idx = malloc(n_val * sizeof *f.yval_idx)) || !(f.vscores = json_array()))
            goto nomem;
        for (size_t i = 0; i < n_val; i++) {
            f.yval[i] = y[f.vrows[i]];
            f.yval_idx[i] = clf ? y_idx[f.vrows[i]] : 0;
        }
    } else {
        if (!(f.rows = malloc(n * sizeof *f.rows))) goto nomem;
        for (size_t i = 0; i < n; i++)
            f.rows[i] = i;
    }
    size_t bs = c->batch_size == 0                ? (n_train < 200 ? n_train : 200)
                : (size_t)c->batch_size > n_train ? n_train
                                                  : (size_t)c->batch_size;
    if (!(f.order = malloc(n_train * sizeof *f.order))) goto nomem;
    for (size_t i = 0; i < n_train; i++)
        f.order[i] = i;
    if (!(f.bidx = malloc(bs * sizeof *f.bidx)) ||
        (c->early_stopping && !(f.best = malloc(f.net->n_params * sizeof *f.best))) ||
        mlp__trainer_new(&f.trainer, f.net, bs, !c->sgd))
        goto nomem;
    if (f.best) memcpy(f.best, f.net->params, f.net->n_params * sizeof *f.best);

    mlp__net *net = f.net;
    mlp__step st = {.adam = !c->sgd,
                    .alpha = c->alpha,
                    .beta_1 = c->beta_1,
                    .beta_2 = c->beta_2,
                    .epsilon = c->epsilon,
                    .momentum = c->momentum,
                    .nesterov = c->nesterov};
    double sgd_lr = c->lr_init; /* sgd's current rate (invscaling / adaptive change it) */
    long adam_t = 0;
    double best_loss = INFINITY, best_score = -INFINITY, loss = 0;
    long n_iter = 0, no_improve = 0, t_samples = 0;
    int converged = 0;
    for (long it = 0; it < c->max_iter; it++) {
        if (c->shuffle) ef_rng_shuffle(&rng, f.order, n_train);
        double acc = 0;
        for (size_t s0 = 0; s0 < n_train; s0 += bs) {
            size_t B = n_train - s0 < bs ? n_train - s0 : bs;
            for (size_t r = 0; r < B; r++)
                f.bidx[r] = f.rows[f.order[s0 + r]];
            if (c->sgd) {
                st.lr = sgd_lr;
            } else { /* adam's bias-corrected rate for step t */
                adam_t++;
                st.lr = c->lr_init * sqrt(1 - pow(c->beta_2, (double)adam_t)) /
                        (1 - pow(c->beta_1, (double)adam_t));
            }
            acc += mlp__trainer_step(f.trainer, X, f.ytab, f.bidx, B, &st) * (double)B;
        }
        n_iter++;
        loss = acc / (double)n_train;
        t_samples += (long)n_train;
        if (!isfinite(loss)) {
            rc = ef_ml_errf(err, EF_EINVAL,
                            "the training loss diverged (%g) in epoch %ld: scale the inputs (e.g. "
                            "normalize) or lower learning_rate_init",
                            loss, n_iter);
            goto out;
        }
        if (json_array_append_new(f.curve, json_real(loss))) goto nomem;
        if (c->verbose) fprintf(stderr, "Iteration %ld, loss = %.8f\n", n_iter, loss);
        if (c->early_stopping) {
            double score;
            if ((rc = validation_score(e, net, &f.xval, f.yval, f.yval_idx, &score, err))) goto out;
            if (!isfinite(score)) {
                rc = ef_ml_errf(err, EF_EINVAL,
                                "the validation score diverged (%g) in epoch %ld: scale the "
                                "inputs or lower learning_rate_init",
                                score, n_iter);
                goto out;
            }
            rc = EF_ENOMEM;
            if (json_array_append_new(f.vscores, json_real(score))) goto nomem;
            if (c->verbose) fprintf(stderr, "Validation score: %f\n", score);
            no_improve = score < best_score + c->tol ? no_improve + 1 : 0;
            if (score > best_score) {
                best_score = score;
                memcpy(f.best, net->params, net->n_params * sizeof(double));
            }
        } else {
            no_improve = loss > best_loss - c->tol ? no_improve + 1 : 0;
            if (loss < best_loss) best_loss = loss;
        }
        if (c->sgd && c->lr_schedule == LR_INVSCALING)
            sgd_lr = c->lr_init / pow((double)t_samples + 1, c->power_t);
        if (e->progress && e->progress(e->progress_ctx, n_iter, c->max_iter, loss)) {
            rc = ef_ml_errf(err, EF_EAGAIN, "cancelled after %ld of at most %ld epochs", n_iter,
                            c->max_iter);
            goto out;
        }
        if (no_improve > c->n_iter_no_change) {
            /* sgd with the adaptive schedule divides the rate by 5 until it is <= 1e-6 */
            if (c->sgd && c->lr_schedule == LR_ADAPTIVE && sgd_lr > 1e-6) {
                sgd_lr /= 5.0;
                no_improve = 0;
            } else {
                converged = 1;
                break;
            }
        }
    }
    if (c->early_stopping) memcpy(net->params, f.best, net->n_params * sizeof(double));
    for (size_t i = 0; i < net->n_params; i++)
        if (!isfinite(net->params[i])) {
            rc = ef_ml_errf(err, EF_EINVAL,
                            "the solver produced non-finite weights: scale the inputs (e.g. "
                            "normalize) or lower learning_rate_init");
            goto out;
        }

    json_t *fi = e->fit_info;
    int bad = 0;
    bad |= json_object_set_new(fi, "n_iter", json_integer(n_iter));
    bad |= json_object_set_new(fi, "loss", json_real(loss));
    bad |= json_object_set_new(fi, "loss_curve", f.curve);
    f.curve = NULL;
    bad |= json_object_set_new(fi, "best_loss",
                               c->early_stopping ? json_null() : json_real(best_loss));
    bad |= json_object_set_new(fi, "converged", json_boolean(converged));
    bad |= json_object_set_new(fi, "t", json_integer(t_samples));
    bad |= json_object_set_new(fi, "random_state_used", json_integer(c->seed));
    bad |= json_object_set_new(fi, "batch_size", json_integer((json_int_t)bs));
    bad |= json_object_set_new(fi, "n_layers", json_integer((json_int_t)c->n_units));
    bad |= json_object_set_new(fi, "n_outputs", json_integer((json_int_t)n_out));
    bad |= json_object_set_new(fi, "out_activation", json_string(mlp__act_name(c->out_act)));
    if (c->early_stopping) {
        bad |= json_object_set_new(fi, "validation_scores", f.vscores);
        f.vscores = NULL;
        bad |= json_object_set_new(fi, "best_validation_score", json_real(best_score));
        bad |= json_object_set_new(fi, "n_validation", json_integer((json_int_t)n_val));
    }
    bad |= json_object_set_new(fi, "threads",
                               json_integer((json_int_t)mlp__trainer_workers(f.trainer)));
    if (bad) goto nomem;
    mlp__trainer_free(f.trainer); /* before the network it points to changes hands */
    f.trainer = NULL;
    e->state = f.net;
    f.net = NULL;
    rc = EF_OK;
    goto out;
nomem:
    rc = ef_ml_errf(err, EF_ENOMEM, "out of memory training the MLP");
out:
    fit_release(&f);
    return rc;
}
