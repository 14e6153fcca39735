/* train.c - the `edgeflow train` job: data -> split -> (grid of) fit + cross-validation + test
 * scores -> model directory, with every step reported to the tracker (train_track.c) when a
 * tracking server is configured. The reference it reproduces is the notebook flow
 *   train, test = train_test_split(data, random_state=seed)
 *   model = Estimator(**params).fit(train_x, train_y); rmse/mae/r2 (or accuracy...) on test
 *   cross_val_score(model, train_x, train_y, cv=k)
 * so the rows, splits and folds are scikit-learn's (split.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sig.h"
#include "json/json.h"
#include "ml/dataset.h"
#include "ml/model.h"
#include "ml/score.h"
#include "ml/split.h"
#include "ml/train.h"
#include "ml/train_int.h"

/* ---- progress ---- */

static int on_progress(void *ctx, long iter, long max_iter, double loss)
{
    train__job *j = ctx;
    if (ef_sig_stop_requested())
        return 1;
    if (!j->o->progress)
        return 0;
    int64_t now = ef_mono_ms();
    if (now - j->last_draw_ms < 100 && iter != max_iter)
        return 0;
    j->last_draw_ms = now;
    int width = 30, fill = max_iter > 0 ? (int)(width * iter / max_iter) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r  %s [%s] fit %d/%d  iter %ld/%ld  loss %.6g   ", j->est_name, bar, j->fit_no,
            j->fit_total, iter, max_iter, loss);
    fflush(stderr);
    return 0;
}

static void progress_step(train__job *j, const char *what)
{
    j->fit_no++;
    if (j->o->progress) {
        fprintf(stderr, "\r  %s fit %d/%d (%s)%40s", j->est_name, j->fit_no, j->fit_total, what, "");
        fflush(stderr);
    }
}

static void progress_done(train__job *j)
{
    if (j->o->progress)
        fprintf(stderr, "\r%100s\r", "");
}

/* ---- data ---- */

static int load_data(train__job *j, ef_ml_err *err)
{
    const ef_train_opts *o = j->o;
    ef_dataset_opts dopt = {.target = o->target, .drop = o->drop, .n_drop = o->n_drop,
                            .features = o->features};
    int rc = ef_dataset_load(o->data, &dopt, &j->data, err);
    if (!rc && (rc = ef_dataset_check_finite(&j->data, err)))
        return ef_ml_err_prefix(err, rc, o->data);
    if (rc)
        return rc;
    if (!j->data.y)
        return ef_ml_errf(err, EF_EINVAL, "--target is required");
    size_t n = j->data.X.rows;
    if (o->test_data) {
        rc = ef_dataset_load(o->test_data, &dopt, &j->test, err);
        if (!rc && (rc = ef_dataset_check_finite(&j->test, err)))
            return ef_ml_err_prefix(err, rc, o->test_data);
        if (rc)
            return rc;
        if (j->test.X.cols != j->data.X.cols)
            return ef_ml_errf(err, EF_EINVAL, "%s has %zu feature columns but %s has %zu", o->test_data,
                              j->test.X.cols, o->data, j->data.X.cols);
        if (j->data.class_names || j->test.class_names)
            return ef_ml_errf(err, EF_EUNSUPPORTED,
                              "text class labels with a separate --test-data are not supported yet; "
                              "encode the labels as numbers");
        j->n_train = n;
        j->n_test = j->test.X.rows;
        j->train_idx = malloc(n * sizeof *j->train_idx);
        if (!j->train_idx)
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            j->train_idx[i] = i;
        rc = ef_mat_gather(&j->Xtr, &j->data.X, j->train_idx, n);
        if (!rc)
            rc = ef_mat_init(&j->Xte, j->n_test, j->test.X.cols);
        if (!rc && j->n_test)
            memcpy(j->Xte.v, j->test.X.v, j->n_test * j->test.X.cols * sizeof(double));
        j->ytr = malloc(n * sizeof(double));
        j->yte = malloc((j->n_test ? j->n_test : 1) * sizeof(double));
        if (rc || !j->ytr || !j->yte)
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        memcpy(j->ytr, j->data.y, n * sizeof(double));
        memcpy(j->yte, j->test.y, j->n_test * sizeof(double));
    } else {
        rc = ef_split_train_test(n, o->test_size, o->shuffle, o->seed, &j->train_idx, &j->n_train,
                                 &j->test_idx, &j->n_test, err);
        if (rc)
            return rc;
        rc = ef_mat_gather(&j->Xtr, &j->data.X, j->train_idx, j->n_train);
        if (!rc)
            rc = ef_mat_gather(&j->Xte, &j->data.X, j->test_idx, j->n_test);
        j->ytr = malloc((j->n_train ? j->n_train : 1) * sizeof(double));
        j->yte = malloc((j->n_test ? j->n_test : 1) * sizeof(double));
        if (rc || !j->ytr || !j->yte)
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        ef_ml_gather_y(j->ytr, j->data.y, j->train_idx, j->n_train);
        ef_ml_gather_y(j->yte, j->data.y, j->test_idx, j->n_test);
    }
    if (j->n_train == 0 || j->n_test == 0)
        return ef_ml_errf(err, EF_EINVAL, "the split leaves %zu training and %zu test rows; adjust "
                          "--test-size", j->n_train, j->n_test);
    /* the input example is raw (before preprocessing), from the test rows */
    size_t ex = j->n_test < 5 ? j->n_test : 5;
    rc = ef_mat_init(&j->example, ex, j->Xte.cols);
    if (rc)
        return ef_ml_errf(err, rc, "out of memory");
    memcpy(j->example.v, j->Xte.v, ex * j->Xte.cols * sizeof(double));
    return EF_OK;
}

/* Applies --normalize / --standard-scale to the train and test parts (the scaler is fitted on the
 * training part only, as a Pipeline would). */
static int preprocess(train__job *j, ef_ml_err *err)
{
    const ef_train_opts *o = j->o;
    if (o->normalize) {
        if (strcmp(o->normalize, "l2"))
            return ef_ml_errf(err, EF_EINVAL, "--normalize supports only l2, not '%s'", o->normalize);
        ef_normalize_l2(&j->Xtr);
        ef_normalize_l2(&j->Xte);
    }
    if (o->standard_scale) {
        int rc = ef_scaler_fit(&j->scaler, &j->Xtr);
        if (rc)
            return ef_ml_errf(err, rc, "out of memory");
        ef_scaler_transform(&j->scaler, &j->Xtr);
        ef_scaler_transform(&j->scaler, &j->Xte);
    }
    return EF_OK;
}

/* ---- grid ---- */

/* Splits "name=v1,v2" (or "name=v1|v2" when values contain commas) into a name and values. */
static int grid_parse(train__job *j, ef_ml_err *err)
{
    const ef_train_opts *o = j->o;
    j->combos = 1;
    for (size_t g = 0; g < o->n_grid; g++) {
        const char *eq = strchr(o->grid[g], '=');
        if (!eq || eq == o->grid[g] || !eq[1])
            return ef_ml_errf(err, EF_EINVAL, "--grid expects name=v1,v2,..., got '%s'", o->grid[g]);
        train__axis *a = &j->axes[j->n_axes];
        if (j->n_axes == TRAIN_MAX_AXES)
            return ef_ml_errf(err, EF_ETOOBIG, "at most %d --grid parameters", TRAIN_MAX_AXES);
        snprintf(a->name, sizeof a->name, "%.*s", (int)(eq - o->grid[g]), o->grid[g]);
        a->text = strdup(eq + 1);
        if (!a->text)
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        j->n_axes++;
        char sep = strchr(a->text, '|') ? '|' : ',';
        for (char *s = a->text; s;) {
            char *next = strchr(s, sep);
            if (next)
                *next++ = 0;
            if (a->n == TRAIN_MAX_VALUES)
                return ef_ml_errf(err, EF_ETOOBIG, "at most %d values per --grid parameter",
                                  TRAIN_MAX_VALUES);
            a->values[a->n++] = s;
            s = next;
        }
        if (j->combos > 10000 / a->n)
            return ef_ml_errf(err, EF_ETOOBIG, "the grid has more than 10000 combinations");
        j->combos *= a->n;
    }
    return EF_OK;
}

/* A configured estimator for grid combination `combo` (--param first, then the grid values). */
static int make_estimator(train__job *j, size_t combo, ef_estimator **out, ef_ml_err *err)
{
    const ef_train_opts *o = j->o;
    ef_estimator *e = ef_estimator_new(j->type);
    if (!e)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    int rc = EF_OK;
    for (size_t i = 0; i < o->n_params && !rc; i++) {
        char name[128];
        const char *eq = strchr(o->params[i], '=');
        if (!eq || eq == o->params[i]) {
            rc = ef_ml_errf(err, EF_EINVAL, "--param expects name=value, got '%s'", o->params[i]);
            break;
        }
        snprintf(name, sizeof name, "%.*s", (int)(eq - o->params[i]), o->params[i]);
        rc = ef_estimator_set(e, name, eq + 1, err);
    }
    for (size_t a = 0; a < j->n_axes && !rc; a++) {
        train__axis *ax = &j->axes[a];
        rc = ef_estimator_set(e, ax->name, ax->values[combo % ax->n], err);
        combo /= ax->n;
    }
    if (rc) {
        ef_estimator_free(e);
        return rc;
    }
    e->progress = on_progress;
    *out = e;
    return EF_OK;
}

/* ---- fit + score ---- */

/* The estimator's own score(): R^2 for regressors, accuracy for classifiers (what
 * cross_val_score reports by default). */
static double default_score(const ef_ml_type *t, const double *y, const double *pred, size_t n)
{
    return t->task == EF_ML_REGRESSOR ? ef_score_r2(y, pred, n) : ef_score_accuracy(y, pred, n);
}

static int cross_validate(train__job *j, size_t combo, train__result *r, ef_ml_err *err)
{
    int k = j->o->cv;
    size_t n = j->n_train;
    int *fold = malloc(n * sizeof *fold);
    size_t *idx = malloc(n * sizeof *idx), *tidx = malloc(n * sizeof *tidx);
    double *y = malloc(n * sizeof *y), *pred = malloc(n * sizeof *pred);
    int rc = fold && idx && tidx && y && pred ? EF_OK : ef_ml_errf(err, EF_ENOMEM, "out of memory");
    /* cross_val_score(cv=k): StratifiedKFold(k) for classifiers, KFold(k) otherwise; no shuffle */
    if (!rc && j->type->task == EF_ML_CLASSIFIER) {
        ef_ml_err warn = {{0}};
        rc = ef_stratified_kfold(j->ytr, n, k, 0, 0, fold, &warn);
        if (rc)
            ef_ml_errf(err, rc, "%s", warn.msg);
        else if (warn.msg[0] && combo == 0)
            EF_WARN("%s", warn.msg); /* scikit-learn's "least populated class" warning */
    } else if (!rc) {
        rc = ef_kfold(n, k, 0, 0, fold, err);
    }
    for (int f = 0; !rc && f < k; f++) {
        size_t ntr, nte = ef_fold_rows(fold, n, f, idx, &ntr, tidx);
        ef_mat Xf = {0}, Xv = {0};
        ef_estimator *e = NULL;
        rc = make_estimator(j, combo, &e, err);
        if (!rc)
            rc = ef_mat_gather(&Xf, &j->Xtr, idx, ntr);
        if (!rc)
            rc = ef_mat_gather(&Xv, &j->Xtr, tidx, nte);
        if (!rc) {
            ef_ml_gather_y(y, j->ytr, idx, ntr);
            e->progress_ctx = j;
            progress_step(j, "cross-validation");
            rc = ef_estimator_fit(e, &Xf, y, err);
        }
        if (!rc)
            rc = ef_estimator_predict(e, &Xv, pred, err);
        if (!rc) {
            ef_ml_gather_y(y, j->ytr, tidx, nte);
            r->cv[f] = default_score(j->type, y, pred, nte);
        }
        ef_estimator_free(e);
        ef_mat_release(&Xf);
        ef_mat_release(&Xv);
    }
    if (!rc) {
        double s = 0, ss = 0;
        for (int f = 0; f < k; f++)
            s += r->cv[f];
        r->cv_mean = s / k;
        for (int f = 0; f < k; f++)
            ss += (r->cv[f] - r->cv_mean) * (r->cv[f] - r->cv_mean);
        r->cv_std = sqrt(ss / k);
    }
    free(fold);
    free(idx);
    free(tidx);
    free(y);
    free(pred);
    return rc;
}

static void add_metric(train__result *r, const char *name, double v)
{
    if (r->n_metrics < TRAIN_MAX_METRICS) {
        snprintf(r->metrics[r->n_metrics].name, sizeof r->metrics[0].name, "%s", name);
        r->metrics[r->n_metrics++].value = v;
    }
}

/* Test-part metrics (the names the reference notebook logs) and training scores. */
static int score(train__job *j, ef_estimator *e, train__result *r, ef_ml_err *err)
{
    size_t n = j->n_test;
    double *pred = malloc(n * sizeof *pred), *tpred = malloc(j->n_train * sizeof *tpred);
    int rc = pred && tpred ? EF_OK : ef_ml_errf(err, EF_ENOMEM, "out of memory");
    if (!rc)
        rc = ef_estimator_predict(e, &j->Xte, pred, err);
    if (!rc)
        rc = ef_estimator_predict(e, &j->Xtr, tpred, err);
    if (!rc && j->type->task == EF_ML_REGRESSOR) {
        add_metric(r, "rmse", ef_score_rmse(j->yte, pred, n));
        add_metric(r, "mae", ef_score_mae(j->yte, pred, n));
        add_metric(r, "r2", ef_score_r2(j->yte, pred, n));
        add_metric(r, "training_rmse", ef_score_rmse(j->ytr, tpred, j->n_train));
        add_metric(r, "training_r2", ef_score_r2(j->ytr, tpred, j->n_train));
    } else if (!rc) {
        double p, rec, f1;
        add_metric(r, "accuracy", ef_score_accuracy(j->yte, pred, n));
        ef_score_prf_macro(j->yte, pred, n, &p, &rec, &f1);
        add_metric(r, "precision_macro", p);
        add_metric(r, "recall_macro", rec);
        add_metric(r, "f1_macro", f1);
        add_metric(r, "training_accuracy", ef_score_accuracy(j->ytr, tpred, j->n_train));
        ef_mat proba = {0};
        if (e->type->predict_proba && !ef_estimator_predict_proba(e, &j->Xte, &proba, NULL)) {
            double ll;
            if (!ef_score_log_loss(j->yte, n, &proba, e->classes, e->n_classes, &ll))
                add_metric(r, "log_loss", ll);
        }
        ef_mat_release(&proba);
    }
    free(pred);
    free(tpred);
    return rc;
}

static int fit_one(train__job *j, size_t combo, train__result *r, ef_ml_err *err)
{
    int rc = EF_OK;
    if (j->o->cv)
        rc = cross_validate(j, combo, r, err);
    if (!rc)
        rc = make_estimator(j, combo, &r->est, err);
    if (!rc) {
        r->est->progress_ctx = j;
        progress_step(j, "fit");
        int64_t t0 = ef_mono_us();
        rc = ef_estimator_fit(r->est, &j->Xtr, j->ytr, err);
        r->fit_seconds = (double)(ef_mono_us() - t0) / 1e6;
    }
    if (!rc)
        rc = score(j, r->est, r, err);
    if (!rc && j->o->cv) {
        add_metric(r, "cv_score_mean", r->cv_mean);
        add_metric(r, "cv_score_std", r->cv_std);
    }
    if (rc == EF_EAGAIN || ef_sig_stop_requested())
        rc = ef_ml_errf(err, EF_EAGAIN, "training cancelled");
    return rc;
}

double train__metric(const train__result *r, const char *name, int *found)
{
    for (size_t i = 0; i < r->n_metrics; i++)
        if (!strcmp(r->metrics[i].name, name)) {
            *found = 1;
            return r->metrics[i].value;
        }
    *found = 0;
    return NAN;
}

/* Picks the best result: the lowest value of an error metric (rmse, mae, log_loss), the highest
 * of a score. */
static int pick_best(train__job *j, ef_ml_err *err)
{
    const char *m = j->o->best_metric;
    if (!m)
        m = j->type->task == EF_ML_REGRESSOR ? "rmse" : "accuracy";
    int lower = !strcmp(m, "rmse") || !strcmp(m, "mae") || !strcmp(m, "log_loss") ||
                !strcmp(m, "training_rmse") || !strcmp(m, "cv_score_std");
    snprintf(j->best_metric, sizeof j->best_metric, "%s", m);
    j->best = 0;
    double best = lower ? INFINITY : -INFINITY;
    for (size_t c = 0; c < j->combos; c++) {
        int found;
        double v = train__metric(&j->results[c], m, &found);
        if (!found)
            return ef_ml_errf(err, EF_EINVAL, "--best-metric %s is not among the metrics of %s", m,
                              j->type->name);
        if (lower ? v < best : v > best) {
            best = v;
            j->best = c;
        }
    }
    return EF_OK;
}

/* ---- model ---- */

static int build_model(train__job *j, train__result *r, ef_model **out, ef_ml_err *err)
{
    ef_model *m = ef_model_new(r->est, (const char *const *)j->data.feature_names);
    if (!m)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    r->est = NULL; /* owned by the model now */
    int rc = EF_OK;
    m->target = strdup(j->o->target);
    if (j->data.class_names) {
        m->class_names = calloc(m->est->n_classes, sizeof(char *));
        for (size_t k = 0; m->class_names && k < m->est->n_classes; k++) {
            size_t label = (size_t)m->est->classes[k];
            m->class_names[k] = strdup(label < j->data.n_class_names ? j->data.class_names[label] : "?");
        }
    }
    if (j->o->normalize)
        rc = ef_model_add_normalize_l2(m);
    if (!rc && j->o->standard_scale)
        rc = ef_model_add_standard_scaler(m, j->scaler.mean, j->scaler.scale);
    if (!rc)
        rc = ef_model_set_input_example(m, &j->example);
    if (rc || !m->target) {
        ef_model_free(m);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    *out = m;
    return EF_OK;
}

static void print_result(const train__job *j, size_t c, const train__result *r)
{
    char params[512] = "";
    size_t off = 0, combo = c;
    for (size_t a = 0; a < j->n_axes && off < sizeof params; a++) {
        const train__axis *ax = &j->axes[a];
        off += (size_t)snprintf(params + off, sizeof params - off, "%s=%s ", ax->name,
                                ax->values[combo % ax->n]);
        combo /= ax->n;
    }
    printf("%s%s", j->combos > 1 ? (c == j->best ? "* " : "  ") : "", params);
    for (size_t i = 0; i < r->n_metrics; i++)
        if (strncmp(r->metrics[i].name, "training_", 9))
            printf("%s%s=%.6g", i ? "  " : "", r->metrics[i].name, r->metrics[i].value);
    printf("  (fit %.3fs)\n", r->fit_seconds);
}

static void job_release(train__job *j)
{
    train__track_release(j);
    for (size_t c = 0; j->results && c < j->combos; c++) {
        ef_estimator_free(j->results[c].est);
        ef_model_free(j->results[c].model);
    }
    free(j->results);
    for (size_t a = 0; a < j->n_axes; a++)
        free(j->axes[a].text);
    ef_dataset_release(&j->data);
    ef_dataset_release(&j->test);
    ef_mat_release(&j->Xtr);
    ef_mat_release(&j->Xte);
    ef_mat_release(&j->example);
    ef_scaler_release(&j->scaler);
    free(j->train_idx);
    free(j->test_idx);
    free(j->ytr);
    free(j->yte);
}

int ef_train_run(const ef_train_opts *o, ef_ml_err *err)
{
    train__job j = {.o = o};
    int rc;
    j.type = ef_ml_type_find(o->estimator ? o->estimator : "");
    if (!j.type) {
        char known[512] = "";
        size_t off = 0;
        for (const ef_ml_type *const *t = ef_ml_types(); *t && off < sizeof known; t++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", off ? ", " : "", (*t)->name);
        return ef_ml_errf(err, EF_ENOTFOUND, "unknown estimator '%s' (known: %s)",
                          o->estimator ? o->estimator : "", known);
    }
    snprintf(j.est_name, sizeof j.est_name, "%s", j.type->name);
    if (o->cv == 1 || o->cv < 0 || o->cv > TRAIN_MAX_FOLDS)
        return ef_ml_errf(err, EF_EINVAL, "--cv must be 0 (none) or 2..%d", TRAIN_MAX_FOLDS);
    if ((rc = grid_parse(&j, err)))
        goto out;
    /* parameters are checked before any data is read, so a typo fails fast */
    for (size_t c = 0; c < j.combos; c++) {
        ef_estimator *e = NULL;
        if ((rc = make_estimator(&j, c, &e, err)))
            goto out;
        ef_estimator_free(e);
    }
    if ((rc = train__track_open(&j, err)))
        goto out;
    if ((rc = load_data(&j, err)) || (rc = preprocess(&j, err)))
        goto out;
    EF_INFO("%s: %zu training rows, %zu test rows, %zu features, %zu fit(s)", o->data, j.n_train,
            j.n_test, j.Xtr.cols, j.combos);
    j.results = calloc(j.combos, sizeof *j.results);
    if (!j.results) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    j.fit_total = (int)(j.combos * (size_t)(1 + o->cv));
    if ((rc = train__track_begin(&j, err)))
        goto out;
    for (size_t c = 0; c < j.combos; c++) {
        train__result *r = &j.results[c];
        rc = fit_one(&j, c, r, err);
        if (!rc)
            rc = build_model(&j, r, &r->model, err);
        if (!rc)
            rc = train__track_result(&j, c, err);
        if (rc) {
            progress_done(&j);
            train__track_fail(&j, c);
            goto out;
        }
    }
    progress_done(&j);
    if ((rc = pick_best(&j, err)))
        goto out;
    for (size_t c = 0; c < j.combos; c++)
        print_result(&j, c, &j.results[c]);
    if (o->output) {
        if ((rc = ef_model_save(j.results[j.best].model, o->output, o->overwrite, NULL, err)))
            goto out;
        printf("model written to %s\n", o->output);
    }
    rc = train__track_finish(&j, err);
out:
    progress_done(&j);
    job_release(&j);
    return rc;
}
