/* lda.c - LinearDiscriminantAnalysis (scikit-learn 1.2.1, sklearn/discriminant_analysis.py):
 * the estimator type and its parameters, fit's validation and class statistics (priors = class
 * frequencies or the parameter, means, xbar = priors . means), prediction, transform and
 * model.json. The solvers (svd, lsqr, eigen) are in lda_solve.c.
 *
 * decision = X . coef^T + intercept, with one row for two classes (coef_1 - coef_0, like
 * sklearn's coef_); predict = argmax (two classes: decision > 0 -> classes[1]); predict_proba =
 * softmax (two classes: expit); transform = (X - xbar) . scalings (xbar = 0 for eigen; lsqr has
 * no transform). State layout and model.json "weights": docs/model-format.md.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/lda.h"
#include "ml/lda_int.h"
#include "ml/ml.h"

static const ef_ml_param lda_params[] = {
    {"solver", EF_ML_PSTRING, "svd", 0, "svd|lsqr|eigen",
     "svd (no covariance matrix, the default), lsqr (least squares, no transform) or eigen"},
    {"shrinkage", EF_ML_PSTRING, "None", 1, NULL,
     "None, 'auto' (Ledoit-Wolf) or a float in [0, 1]; lsqr and eigen only"},
    {"priors", EF_ML_PSTRING, "None", 1, NULL,
     "class prior probabilities as a list like 0.2,0.8 (in sorted class order); None = class "
     "frequencies"},
    {"n_components", EF_ML_PINT, "None", 1, NULL,
     "dimensions kept by transform, <= min(n_classes - 1, n_features); None = that maximum"},
    {"store_covariance", EF_ML_PBOOL, "False", 0, NULL,
     "also compute the weighted within-class covariance matrix (weights \"covariance\")"},
    {"tol", EF_ML_PDOUBLE, "0.0001", 0, NULL,
     "singular values below tol (relative in the second SVD) count as zero"},
    {"covariance_estimator", EF_ML_PSTRING, "None", 1, NULL,
     "not supported: edgeflow has no covariance estimator objects; use shrinkage"},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static void lda_state_free(lda__state *s)
{
    if (!s) return;
    free(s->coef);
    free(s->intercept);
    free(s->scalings);
    free(s->xbar);
    free(s->means);
    free(s->priors);
    free(s->evr);
    free(s->covariance);
    free(s);
}

static void lda_release(ef_estimator *e)
{
    lda_state_free(e->state);
    e->state = NULL;
}

/* ---- fitting ---- */

/* Parses the priors parameter ("0.2,0.8", "[0.2, 0.8]") into k values; renormalises like
 * sklearn when they do not sum to 1 (within 1e-5). */
static int parse_priors(const char *text, double *priors, size_t k, ef_ml_err *err)
{
    const char *s = text;
    size_t n = 0;
    while (*s == ' ' || *s == '[' || *s == '(')
        s++;
    while (*s && *s != ']' && *s != ')') {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v) || n == k)
            return ef_ml_errf(err, EF_EINVAL,
                              "priors must be %zu numbers separated by commas (one per class, in "
                              "sorted class order), got '%s'",
                              k, text);
        if (v <= 0)
            return ef_ml_errf(
                err, EF_EINVAL,
                "priors must be positive (a zero prior gives log(0) = -inf), got '%s'", text);
        priors[n++] = v;
        s = end;
        while (*s == ' ' || *s == ',')
            s++;
    }
    if (n != k)
        return ef_ml_errf(err, EF_EINVAL, "priors has %zu values but the data has %zu classes", n,
                          k);
    double sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += priors[i];
    if (fabs(sum - 1.0) > 1e-5)
        for (size_t i = 0; i < k; i++)
            priors[i] /= sum;
    return EF_OK;
}

static int lda_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                   ef_ml_err *err)
{
    (void)y;
    size_t n = X->rows, d = X->cols, k = e->n_classes;
    const char *solver = ef_ml_pstring(e, "solver");
    double tol = ef_ml_pdouble(e, "tol");
    lda__shrink mode = LDA_SHRINK_NONE;
    double shrinkage = 0;
    if (!ef_ml_pnull(e, "shrinkage")) {
        const char *sh = ef_ml_pstring(e, "shrinkage");
        char *end;
        if (!strcmp(solver, "svd"))
            return ef_ml_errf(err, EF_EUNSUPPORTED,
                              "shrinkage is not supported with the 'svd' solver (as in "
                              "scikit-learn); use solver=lsqr or solver=eigen");
        if (!strcmp(sh, "auto")) {
            mode = LDA_SHRINK_AUTO;
        } else {
            shrinkage = strtod(sh, &end);
            if (end == sh || *end || !(shrinkage >= 0 && shrinkage <= 1))
                return ef_ml_errf(err, EF_EINVAL,
                                  "shrinkage must be 'auto' or a number in [0, 1], got '%s'", sh);
            mode = LDA_SHRINK_FIXED;
        }
    }
    if (!ef_ml_pnull(e, "covariance_estimator"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "covariance_estimator is not supported by edgeflow; use shrinkage with "
                          "solver=lsqr or eigen");
    if (tol < 0) return ef_ml_errf(err, EF_EINVAL, "tol must be >= 0, got %g", tol);
    if (n < 2 || n <= k)
        return ef_ml_errf(err, EF_EINVAL,
                          "LDA needs more samples than classes (%zu samples, %zu classes)", n, k);
    size_t max_comp = k - 1 < d ? k - 1 : d;
    if (!ef_ml_pnull(e, "n_components")) {
        long nc = ef_ml_pint(e, "n_components");
        if (nc < 1 || (size_t)nc > max_comp)
            return ef_ml_errf(err, EF_EINVAL,
                              "n_components must be in 1..%zu = min(n_features, n_classes - 1), "
                              "got %ld",
                              max_comp, nc);
        max_comp = (size_t)nc;
    }

    int rc = EF_ENOMEM;
    lda__state *s = calloc(1, sizeof *s);
    size_t *cnt = calloc(k, sizeof *cnt);
    if (!s || !cnt) goto nomem;
    s->d = d;
    s->k = k;
    if (!(s->priors = lda__alloc(1, k)) || !(s->means = lda__alloc(k, d)) ||
        !(s->xbar = lda__alloc(1, d)))
        goto nomem;
    for (size_t i = 0; i < n; i++)
        cnt[y_idx[i]]++;
    if (ef_ml_pnull(e, "priors")) {
        for (size_t c = 0; c < k; c++)
            s->priors[c] = (double)cnt[c] / (double)n;
    } else if ((rc = parse_priors(ef_ml_pstring(e, "priors"), s->priors, k, err))) {
        goto out;
    }
    /* Class means: sum the rows in data order, then divide (np.add.at, then /= count). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            s->means[(size_t)y_idx[i] * d + j] += X->v[i * d + j];
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            s->means[c * d + j] /= (double)cnt[c];
    for (size_t j = 0; j < d; j++) {
        double v = 0;
        for (size_t c = 0; c < k; c++)
            v += s->priors[c] * s->means[c * d + j];
        s->xbar[j] = v;
    }
    if (!strcmp(solver, "svd")) {
        if (ef_ml_pbool(e, "store_covariance") &&
            (!(s->covariance = lda__alloc(d, d)) ||
             lda__class_cov(s, X, y_idx, LDA_SHRINK_NONE, 0, s->covariance)))
            goto nomem;
        rc = lda__solve_svd(s, X, y_idx, max_comp, tol, e->fit_info, err);
    } else if (!strcmp(solver, "lsqr")) {
        rc = lda__solve_lsqr(s, X, y_idx, mode, shrinkage, e->fit_info, err);
    } else {
        rc = lda__solve_eigen(s, X, y_idx, max_comp, mode, shrinkage, e->fit_info, err);
    }
    if (rc) goto out;
    s->r = k;
    if (k == 2) { /* sklearn keeps one row for two classes: class 1 minus class 0 */
        for (size_t j = 0; j < d; j++)
            s->coef[j] = s->coef[d + j] - s->coef[j];
        s->intercept[0] = s->intercept[1] - s->intercept[0];
        s->r = 1;
    }
    json_object_set_new(e->fit_info, "n_components", json_integer((json_int_t)s->n_comp));
    json_object_set_new(e->fit_info, "solver", json_string(solver));
    e->state = s;
    s = NULL;
    rc = EF_OK;
    goto out;
nomem:
    rc = ef_ml_errf(err, EF_ENOMEM, "out of memory fitting LDA on %zu x %zu", n, d);
out:
    lda_state_free(s);
    free(cnt);
    return rc;
}

/* ---- prediction ---- */

/* scores (initialised here, n x r) = X . coef^T + intercept. */
static int lda_decision(const lda__state *s, const ef_mat *X, ef_mat *scores, ef_ml_err *err)
{
    int rc = ef_mat_init(scores, X->rows, s->r);
    if (rc) return ef_ml_errf(err, rc, "out of memory scoring %zu rows", X->rows);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)X->rows, (int)s->r, (int)s->d, 1.0,
                X->v, (int)s->d, s->coef, (int)s->d, 0.0, scores->v, (int)s->r);
    for (size_t i = 0; i < X->rows; i++)
        for (size_t c = 0; c < s->r; c++)
            scores->v[i * s->r + c] += s->intercept[c];
    return EF_OK;
}

static int lda_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    const lda__state *s = e->state;
    ef_mat sc;
    int rc = lda_decision(s, X, &sc, err);
    if (rc) return rc;
    for (size_t i = 0; i < X->rows; i++) {
        const double *row = sc.v + i * s->r;
        size_t best = 0;
        if (s->r == 1) {
            best = row[0] > 0;
        } else {
            for (size_t c = 1; c < s->r; c++)
                if (row[c] > row[best]) best = c;
        }
        out[i] = e->classes[best];
    }
    ef_mat_release(&sc);
    return EF_OK;
}

static int lda_predict_proba(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    const lda__state *s = e->state;
    ef_mat sc;
    int rc = lda_decision(s, X, &sc, err);
    if (rc) return rc;
    rc = ef_mat_init(out, X->rows, s->k);
    if (rc) {
        ef_mat_release(&sc);
        return ef_ml_errf(err, rc, "out of memory scoring %zu rows", X->rows);
    }
    for (size_t i = 0; i < X->rows; i++) {
        const double *row = sc.v + i * s->r;
        double *p = out->v + i * s->k;
        if (s->r == 1) {
            double q = 1.0 / (1.0 + exp(-row[0])); /* scipy's expit */
            p[0] = 1 - q;
            p[1] = q;
            continue;
        }
        double mx = row[0], sum = 0;
        for (size_t c = 1; c < s->k; c++)
            mx = row[c] > mx ? row[c] : mx;
        for (size_t c = 0; c < s->k; c++) {
            p[c] = exp(row[c] - mx);
            sum += p[c];
        }
        for (size_t c = 0; c < s->k; c++)
            p[c] /= sum;
    }
    ef_mat_release(&sc);
    return EF_OK;
}

int ef_ml_lda_transform(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    out->rows = out->cols = 0;
    out->v = NULL;
    if (!e || e->type != &ef_ml_lda)
        return ef_ml_errf(err, EF_EINVAL,
                          "transform needs a LinearDiscriminantAnalysis (lda) model");
    const lda__state *s = e->state;
    if (!s) return ef_ml_errf(err, EF_EINVAL, "lda is not fitted yet");
    if (X->cols != s->d)
        return ef_ml_errf(err, EF_EINVAL, "the model expects %zu features, the data has %zu", s->d,
                          X->cols);
    if (s->n_comp == 0)
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "this LDA (solver=lsqr) has no transform; fit with solver=svd or eigen");
    for (size_t i = 0; i < X->rows * X->cols; i++)
        if (!isfinite(X->v[i]))
            return ef_ml_errf(err, EF_EINVAL,
                              "input row %zu, feature %zu is %g: remove or impute NaN/Inf values",
                              i / X->cols, i % X->cols, X->v[i]);
    int rc = ef_mat_init(out, X->rows, s->n_comp);
    if (rc) return ef_ml_errf(err, rc, "out of memory transforming %zu rows", X->rows);
    if (X->rows == 0) return EF_OK;
    double *xc = lda__alloc(X->rows, s->d);
    if (!xc) {
        ef_mat_release(out);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory transforming %zu rows", X->rows);
    }
    for (size_t i = 0; i < X->rows; i++)
        for (size_t j = 0; j < s->d; j++)
            xc[i * s->d + j] = X->v[i * s->d + j] - s->xbar[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)X->rows, (int)s->n_comp, (int)s->d,
                1.0, xc, (int)s->d, s->scalings, (int)s->n_comp, 0.0, out->v, (int)s->n_comp);
    free(xc);
    return EF_OK;
}

/* ---- model.json ---- */

static json_t *json_rows(const double *v, size_t rows, size_t cols)
{
    if (cols == 0) { /* rows of nothing (lsqr's scalings) */
        json_t *a = json_array();
        for (size_t i = 0; a && i < rows; i++)
            if (json_array_append_new(a, json_array())) {
                json_decref(a);
                a = NULL;
            }
        return a;
    }
    ef_mat m = {rows, cols, (double *)v};
    return ef_ml_json_mat(&m);
}

static int lda_save(const ef_estimator *e, json_t *w, const char *dir, ef_ml_err *err)
{
    (void)dir;
    const lda__state *s = e->state;
    int bad = 0;
    bad |= json_object_set_new(w, "coef", json_rows(s->coef, s->r, s->d));
    bad |= json_object_set_new(w, "intercept", ef_ml_json_vec(s->intercept, s->r));
    bad |= json_object_set_new(w, "scalings", json_rows(s->scalings, s->d, s->n_comp));
    bad |= json_object_set_new(w, "xbar", ef_ml_json_vec(s->xbar, s->d));
    bad |= json_object_set_new(w, "means", json_rows(s->means, s->k, s->d));
    bad |= json_object_set_new(w, "priors", ef_ml_json_vec(s->priors, s->k));
    bad |= json_object_set_new(w, "explained_variance_ratio", ef_ml_json_vec(s->evr, s->n_evr));
    if (s->covariance)
        bad |= json_object_set_new(w, "covariance", json_rows(s->covariance, s->d, s->d));
    return bad ? ef_ml_errf(err, EF_ENOMEM, "out of memory writing the LDA weights") : EF_OK;
}

/* Reads weights[key] as a rows x cols matrix into a fresh buffer (*out; NULL when empty). */
static int get_rows(const json_t *w, const char *key, size_t rows, size_t cols, double **out,
                    ef_ml_err *err)
{
    ef_mat m;
    char what[64];
    snprintf(what, sizeof what, "weights.%s", key);
    const json_t *a = json_object_get(w, key);
    if (rows && cols == 0) { /* rows of zero length: an array of `rows` empty arrays */
        int ok = json_is_array(a) && json_array_size(a) == rows;
        for (size_t i = 0; ok && i < rows; i++)
            ok = json_is_array(json_array_get(a, i)) && json_array_size(json_array_get(a, i)) == 0;
        if (!ok)
            return ef_ml_errf(err, EF_EINVAL, "model.json: %s must be an array of %zu empty rows",
                              what, rows);
        *out = NULL;
        return EF_OK;
    }
    int rc = ef_ml_json_get_mat(a, &m, rows, cols, what, err);
    if (rc) return rc;
    if (m.rows != rows || m.cols != cols) {
        ef_mat_release(&m);
        return ef_ml_errf(err, EF_EINVAL, "model.json: %s must be %zu x %zu", what, rows, cols);
    }
    *out = m.v;
    return EF_OK;
}

static int get_vec(const json_t *w, const char *key, size_t n, double **out, ef_ml_err *err)
{
    char what[64];
    snprintf(what, sizeof what, "weights.%s", key);
    *out = NULL;
    if (n == 0) {
        const json_t *a = json_object_get(w, key);
        return json_is_array(a) && json_array_size(a) == 0
                   ? EF_OK
                   : ef_ml_errf(err, EF_EINVAL, "model.json: %s must be an empty array", what);
    }
    if (!(*out = lda__alloc(1, n)))
        return ef_ml_errf(err, EF_ENOMEM, "out of memory reading %s", what);
    return ef_ml_json_get_vec(json_object_get(w, key), *out, n, what, err);
}

static int lda_load(ef_estimator *e, const json_t *w, const char *dir, ef_ml_err *err)
{
    (void)dir;
    size_t d = e->n_features, k = e->n_classes;
    if (d == 0 || k < 2)
        return ef_ml_errf(err, EF_EINVAL, "model.json: lda needs n_features >= 1 and >= 2 classes");
    lda__state *s = calloc(1, sizeof *s);
    if (!s) return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    s->d = d;
    s->k = k;
    s->r = k == 2 ? 1 : k;
    const json_t *sc = json_object_get(w, "scalings");
    const json_t *sc0 = json_array_get(sc, 0);
    s->n_comp = json_array_size(sc0);
    s->n_evr = json_array_size(json_object_get(w, "explained_variance_ratio"));
    int rc = EF_EINVAL;
    if (s->n_comp > k - 1 || s->n_comp > d || s->n_evr > k - 1) {
        ef_ml_errf(err, rc,
                   "model.json: weights.scalings / explained_variance_ratio have more than "
                   "min(n_features, n_classes - 1) = %zu columns",
                   k - 1 < d ? k - 1 : d);
        goto out;
    }
    if ((rc = get_rows(w, "coef", s->r, d, &s->coef, err)) ||
        (rc = get_vec(w, "intercept", s->r, &s->intercept, err)) ||
        (rc = get_rows(w, "scalings", d, s->n_comp, &s->scalings, err)) ||
        (rc = get_vec(w, "xbar", d, &s->xbar, err)) ||
        (rc = get_rows(w, "means", k, d, &s->means, err)) ||
        (rc = get_vec(w, "priors", k, &s->priors, err)) ||
        (rc = get_vec(w, "explained_variance_ratio", s->n_evr, &s->evr, err)))
        goto out;
    if (json_object_get(w, "covariance") &&
        (rc = get_rows(w, "covariance", d, d, &s->covariance, err)))
        goto out;
    e->state = s;
    s = NULL;
out:
    lda_state_free(s);
    return rc;
}

const ef_ml_type ef_ml_lda = {
    .name = "lda",
    .sklearn_class = "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    .task = EF_ML_CLASSIFIER,
    .params = lda_params,
    .fit = lda_fit,
    .predict = lda_predict,
    .predict_proba = lda_predict_proba,
    .save = lda_save,
    .load = lda_load,
    .release = lda_release,
};
