/* xgb.c - gradient-boosted trees through libxgboost's C API (built with EF_WITH_XGBOOST).
 *
 * Two estimator types share this code: `xgboost` (XGBRegressor) and `xgboost_classifier`
 * (XGBClassifier). Training mirrors what xgboost.sklearn does in 1.7: the data goes to a DMatrix
 * as float32 (missing = NaN), the booster gets the scikit-learn wrapper's parameters under their
 * native names plus validate_parameters=1, and is updated once per round. Prediction is XGBoost's
 * in-place prediction on the float64 rows (what XGBModel.predict calls; a float32 DMatrix for
 * boosters without it, gblinear), so a model fitted here predicts what the same parameters fitted
 * in Python predict. Prediction may run on several threads at once (XGBoost's in-place
 * prediction is thread-safe for gbtree/dart).
 *
 * Classifiers train on class indices 0..K-1 (e->classes maps them back): binary:logistic for two
 * classes, multi:softprob with num_class = K otherwise (multi:softmax when asked for; it has no
 * probabilities).
 *
 * Parameters XGBoost has but this type does not list go through the text parameter "extra":
 * "name=value;name=value" (e.g. "max_bin=64;nthread=1"); each pair is given to XGBoosterSetParam
 * as is. A name in extra that XGBoost does not use fails the fit (XGBoost's parameter
 * validation; this type's own parameters that the chosen booster ignores only give XGBoost's
 * warning), and names that have a parameter of their own here ("eta", "seed", ...) are refused.
 *
 * Saved state (model.json "weights"): {"booster_file": "xgb_model.json", "objective": ...,
 * "num_class": K for classifiers, 0 for regressors}; the booster itself is XGBoost's JSON model
 * in <dir>/xgb_model.json, with the "scikit_learn" attribute XGBModel.save_model writes, so
 * mlflow.xgboost / XGBRegressor.load_model read it as their own. ef_ml_xgb_from_booster (xgb.h)
 * builds either type straight from a booster file Python's xgboost saved (MLflow's flavour).
 *
 * Files: xgb.c (this: parameters, fit, predict, the two types), xgb_io.c (save, load and
 * ef_ml_xgb_from_booster), xgb_int.h (what they share).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml.h"
#include "ml/xgb.h"
#include "ml/xgb_int.h"

/* ---- errors and XGBoost's log ---- */

/* XGBoost's last error as one line: drops the "[hh:mm:ss] file:line: " prefix and any stack
 * trace, joins the remaining lines with "; ". */
static void xgb_last_error(char *buf, size_t len)
{
    const char *s = XGBGetLastError();
    size_t o = 0;
    if (!s)
        s = "unknown error";
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        const char *colon = close ? strstr(close, ": ") : NULL;
        if (colon && (size_t)(colon - s) < 200)
            s = colon + 2;
    }
    const char *trace = strstr(s, "Stack trace");
    const char *end = trace ? trace : s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    for (; s < end && o + 3 < len; s++) {
        if (*s == '\n') {
            while (s + 1 < end && (s[1] == '\n' || s[1] == ' '))
                s++;
            buf[o++] = ';';
            buf[o++] = ' ';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = 0;
}

int xgb__fail(ef_ml_err *err, int code, const char *what)
{
    char msg[400];
    xgb_last_error(msg, sizeof msg);
    return ef_ml_errf(err, code, "%s: %s", what, msg);
}

/* While a fit validates its parameters, XGBoost's "Parameters: { ... } are not used" warning is
 * captured here instead of printed. The log callback is per thread in XGBoost, so is this. */
static _Thread_local char *xgb_capture;
static _Thread_local size_t xgb_capture_len;

static void xgb_log(const char *msg)
{
    const char *open = strstr(msg, "Parameters: {");
    const char *close = open ? strchr(open, '}') : NULL;
    if (xgb_capture && close && strstr(close, "not used")) {
        open += strlen("Parameters: {");
        while (*open == ' ')
            open++;
        size_t n = (size_t)(close - open);
        while (n && open[n - 1] == ' ')
            n--;
        if (n >= xgb_capture_len)
            n = xgb_capture_len - 1;
        memcpy(xgb_capture, open, n);
        xgb_capture[n] = 0;
        return;
    }
    fprintf(stderr, "%s\n", msg); /* what XGBoost's default callback does */
}

/* ---- parameters ---- */

/* Shared by both types; the objective differs (first entry). */
#define XGB_COMMON_PARAMS                                                                          \
    {"n_estimators", EF_ML_PINT, "100", 0, NULL, "boosting rounds (>= 1)"},                       \
        {"max_depth", EF_ML_PINT, "6", 1, NULL, "maximum tree depth (None: XGBoost's 6)"},        \
        {"learning_rate", EF_ML_PDOUBLE, "0.3", 0, NULL, "step size shrinkage (eta)"},             \
        {"subsample", EF_ML_PDOUBLE, "1", 0, NULL, "row subsample ratio per tree"},                \
        {"colsample_bytree", EF_ML_PDOUBLE, "1", 0, NULL, "column subsample ratio per tree"},      \
        {"min_child_weight", EF_ML_PDOUBLE, "1", 0, NULL, "minimum hessian sum in a leaf"},        \
        {"gamma", EF_ML_PDOUBLE, "0", 0, NULL, "minimum loss reduction to split"},                 \
        {"reg_lambda", EF_ML_PDOUBLE, "1", 0, NULL, "L2 regularisation of leaf weights"},          \
        {"reg_alpha", EF_ML_PDOUBLE, "0", 0, NULL, "L1 regularisation of leaf weights"},           \
        {"tree_method", EF_ML_PSTRING, "auto", 0, "auto|exact|approx|hist", "tree construction"},  \
        {"random_state", EF_ML_PINT, "0", 1, NULL, "XGBoost's seed (None: XGBoost's default)"},    \
    {                                                                                              \
        "extra", EF_ML_PSTRING, "", 0, NULL,                                                       \
            "other XGBoost parameters as name=value;name=value (e.g. max_bin=64;nthread=1)"        \
    }

static const ef_ml_param xgb_reg_params[] = {
    {"objective", EF_ML_PSTRING, "reg:squarederror", 0,
     "reg:squarederror|reg:squaredlogerror|reg:logistic|reg:pseudohubererror|reg:absoluteerror|"
     "reg:gamma|reg:tweedie|count:poisson",
     "learning objective"},
    XGB_COMMON_PARAMS,
    {0},
};

static const ef_ml_param xgb_clf_params[] = {
    {"objective", EF_ML_PSTRING, "binary:logistic", 0,
     "binary:logistic|multi:softprob|multi:softmax",
     "learning objective (more than two classes: multi:softprob unless multi:softmax)"},
    XGB_COMMON_PARAMS,
    {0},
};

/* Native names that have a parameter of their own here, refused in "extra". */
static const char *const xgb_reserved[][2] = {
    {"objective", "objective"},        {"num_class", "(set from the classes)"},
    {"eta", "learning_rate"},          {"learning_rate", "learning_rate"},
    {"max_depth", "max_depth"},        {"subsample", "subsample"},
    {"colsample_bytree", "colsample_bytree"}, {"min_child_weight", "min_child_weight"},
    {"gamma", "gamma"},                {"min_split_loss", "gamma"},
    {"lambda", "reg_lambda"},          {"reg_lambda", "reg_lambda"},
    {"alpha", "reg_alpha"},            {"reg_alpha", "reg_alpha"},
    {"tree_method", "tree_method"},    {"seed", "random_state"},
    {"random_state", "random_state"},  {"n_estimators", "n_estimators"},
    {"num_boost_round", "n_estimators"}, {"validate_parameters", "(always on)"},
};

/* Writes v the way Python's str(float) does (shortest text that reads back as v), which is what
 * the scikit-learn wrapper hands to XGBoosterSetParam. */
static void fmt_double(char *buf, size_t len, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int set_param(BoosterHandle bst, const char *name, const char *value, ef_ml_err *err)
{
    if (XGBoosterSetParam(bst, name, value)) {
        char what[600];
        snprintf(what, sizeof what, "XGBoost rejected %.200s=%.300s", name, value);
        return xgb__fail(err, EF_EINVAL, what);
    }
    return EF_OK;
}

/* Checks "extra" and, when bst is not NULL, sets its pairs. Names are [A-Za-z0-9_.]+, values
 * anything but ';' (surrounding spaces are trimmed). */
static int apply_extra(const char *extra, BoosterHandle bst, ef_ml_err *err)
{
    const char *s = extra ? extra : "";
    while (*s) {
        char name[64], value[256];
        size_t n = strcspn(s, ";");
        const char *eq = memchr(s, '=', n);
        const char *a = s, *b = eq ? eq : s + n;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b == a && !eq && a == s + n) { /* empty item: "a=1;;b=2" or trailing ';' */
            s += n + (s[n] == ';');
            continue;
        }
        if (!eq || b == a || (size_t)(b - a) >= sizeof name)
            return ef_ml_errf(err, EF_EINVAL,
                              "parameter extra: expected name=value;name=value, got '%.*s'",
                              (int)n, s);
        memcpy(name, a, (size_t)(b - a));
        name[b - a] = 0;
        for (const char *c = name; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.')
                return ef_ml_errf(err, EF_EINVAL, "parameter extra: '%s' is not an XGBoost "
                                  "parameter name", name);
        for (size_t i = 0; i < sizeof xgb_reserved / sizeof xgb_reserved[0]; i++)
            if (!strcmp(name, xgb_reserved[i][0]))
                return ef_ml_errf(err, EF_EINVAL, "parameter extra: do not set %s there; use %s",
                                  name, xgb_reserved[i][1]);
        a = eq + 1;
        b = s + n;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if ((size_t)(b - a) >= sizeof value)
            return ef_ml_errf(err, EF_EINVAL, "parameter extra: the value of %s is too long", name);
        memcpy(value, a, (size_t)(b - a));
        value[b - a] = 0;
        if (bst) {
            int rc = set_param(bst, name, value, err);
            if (rc)
                return rc;
        }
        s += n + (s[n] == ';');
    }
    return EF_OK;
}

/* 1 if one of the quoted names in XGBoost's unused-parameter list (`"a", "b"`) was given in
 * extra (a typo there, as opposed to one of this type's own parameters that the chosen booster
 * ignores). */
static int extra_unused(const char *extra, const char *unused)
{
    for (const char *q = strchr(unused, '"'); q; q = strchr(q, '"')) {
        const char *end = strchr(q + 1, '"');
        if (!end)
            break;
        size_t len = (size_t)(end - q - 1);
        for (const char *s = extra ? extra : ""; *s;) {
            size_t n = strcspn(s, ";");
            const char *a = s, *b = memchr(s, '=', n);
            b = b ? b : s + n;
            while (a < b && isspace((unsigned char)*a))
                a++;
            while (b > a && isspace((unsigned char)b[-1]))
                b--;
            if ((size_t)(b - a) == len && !strncmp(a, q + 1, len))
                return 1;
            s += n + (s[n] == ';');
        }
        q = end + 1;
    }
    return 0;
}

/* The objective a fit uses, like XGBClassifier.fit: more than two classes switch to
 * multi:softprob unless multi:softmax was asked for. */
static const char *fit_objective(const ef_estimator *e)
{
    const char *obj = ef_ml_pstring(e, "objective");
    if (e->type->task == EF_ML_CLASSIFIER && e->n_classes > 2 && strcmp(obj, "multi:softmax"))
        return "multi:softprob";
    return obj;
}

int xgb__is_multi(const char *objective)
{
    return !strncmp(objective, "multi:", 6);
}

/* Sets every parameter of e on bst, in the native names. */
static int configure(const ef_estimator *e, BoosterHandle bst, const char *objective,
                     ef_ml_err *err)
{
    static const char *const dbl[][2] = {
        {"learning_rate", "eta"},         {"subsample", "subsample"},
        {"colsample_bytree", "colsample_bytree"}, {"min_child_weight", "min_child_weight"},
        {"gamma", "gamma"},               {"reg_lambda", "lambda"},
        {"reg_alpha", "alpha"},
    };
    char v[64];
    int rc = set_param(bst, "validate_parameters", "1", err);
    if (!rc)
        rc = set_param(bst, "objective", objective, err);
    if (!rc && xgb__is_multi(objective)) {
        snprintf(v, sizeof v, "%zu", e->n_classes);
        rc = set_param(bst, "num_class", v, err);
    }
    if (!rc && !ef_ml_pnull(e, "max_depth")) {
        snprintf(v, sizeof v, "%ld", ef_ml_pint(e, "max_depth"));
        rc = set_param(bst, "max_depth", v, err);
    }
    for (size_t i = 0; !rc && i < sizeof dbl / sizeof dbl[0]; i++) {
        fmt_double(v, sizeof v, ef_ml_pdouble(e, dbl[i][0]));
        rc = set_param(bst, dbl[i][1], v, err);
    }
    if (!rc)
        rc = set_param(bst, "tree_method", ef_ml_pstring(e, "tree_method"), err);
    if (!rc && !ef_ml_pnull(e, "random_state")) {
        snprintf(v, sizeof v, "%ld", ef_ml_pint(e, "random_state"));
        rc = set_param(bst, "seed", v, err);
    }
    if (!rc)
        rc = apply_extra(ef_ml_pstring(e, "extra"), bst, err);
    return rc;
}

/* ---- fit ---- */

/* The training metric after the last round ("train-rmse:0.25" -> 0.25, name "rmse"). */
static int train_metric(BoosterHandle bst, int iter, DMatrixHandle dm, double *value, char *name,
                        size_t name_len, ef_ml_err *err)
{
    const char *names[] = {"train"};
    const char *out = NULL;
    if (XGBoosterEvalOneIter(bst, iter, &dm, names, 1, &out))
        return xgb__fail(err, EF_EINVAL, "XGBoost evaluation failed");
    const char *tab = out ? strrchr(out, '\t') : NULL;
    const char *colon = tab ? strrchr(tab, ':') : NULL;
    if (!colon)
        return ef_ml_errf(err, EF_EINVAL, "XGBoost evaluation gave '%s'", out ? out : "");
    const char *dash = strchr(tab, '-');
    const char *from = dash && dash < colon ? dash + 1 : tab + 1;
    snprintf(name, name_len, "%.*s", (int)(colon - from), from);
    *value = strtod(colon + 1, NULL);
    return EF_OK;
}

void xgb__state_free(xgb_state *st)
{
    if (!st)
        return;
    if (st->bst)
        XGBoosterFree(st->bst);
    free(st);
}

static int xgb_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                   ef_ml_err *err)
{
    size_t n = X->rows, d = X->cols;
    long rounds = ef_ml_pint(e, "n_estimators");
    const char *objective = fit_objective(e);
    float *xf = NULL, *yf = NULL;
    DMatrixHandle dm = NULL;
    xgb_state *st = NULL;
    char unused[256] = "";
    double loss = NAN;
    char metric[64] = "";
    int rc;

    if (rounds < 1 || rounds > 1000000) {
        rc = ef_ml_errf(err, EF_EINVAL, "n_estimators must be between 1 and 1000000, got %ld",
                        rounds);
        goto out;
    }
    rc = apply_extra(ef_ml_pstring(e, "extra"), NULL, err);
    if (rc)
        goto out;
    xf = malloc(n * d * sizeof *xf);
    yf = malloc(n * sizeof *yf);
    st = calloc(1, sizeof *st);
    if (!xf || !yf || !st) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory for %zu x %zu training rows", n, d);
        goto out;
    }
    snprintf(st->objective, sizeof st->objective, "%s", objective);
    for (size_t i = 0; i < n * d; i++)
        xf[i] = (float)X->v[i];
    for (size_t i = 0; i < n; i++)
        yf[i] = y_idx ? (float)y_idx[i] : (float)y[i];
    if (XGDMatrixCreateFromMat(xf, (bst_ulong)n, (bst_ulong)d, NAN, &dm)) {
        rc = xgb__fail(err, EF_EINVAL, "XGBoost could not take the training data");
        goto out;
    }
    free(xf);
    xf = NULL;
    if (XGDMatrixSetFloatInfo(dm, "label", yf, (bst_ulong)n)) {
        rc = xgb__fail(err, EF_EINVAL, "XGBoost could not take the target");
        goto out;
    }
    if (XGBoosterCreate(&dm, 1, &st->bst)) {
        rc = xgb__fail(err, EF_ENOMEM, "XGBoost could not create a booster");
        goto out;
    }
    rc = configure(e, st->bst, objective, err);
    if (rc)
        goto out;
    XGBRegisterLogCallback(xgb_log);
    for (long it = 0; it < rounds; it++) {
        if (it == 0)
            xgb_capture = unused, xgb_capture_len = sizeof unused;
        if (XGBoosterUpdateOneIter(st->bst, (int)it, dm)) {
            rc = xgb__fail(err, EF_EINVAL, "XGBoost training failed (check the parameters)");
            goto out;
        }
        xgb_capture = NULL;
        if (unused[0] && extra_unused(ef_ml_pstring(e, "extra"), unused)) {
            rc = ef_ml_errf(err, EF_EINVAL,
                            "XGBoost does not use the parameter(s) %s: check the names in extra",
                            unused);
            goto out;
        }
        if (unused[0]) /* only our own names (e.g. max_depth with booster=gblinear): warn */
            fprintf(stderr, "XGBoost: parameters { %s } are not used.\n", unused);
        unused[0] = 0;
        if (e->progress) {
            rc = train_metric(st->bst, (int)it, dm, &loss, metric, sizeof metric, err);
            if (rc)
                goto out;
            if (e->progress(e->progress_ctx, it + 1, rounds, loss)) {
                rc = ef_ml_errf(err, EF_EAGAIN, "cancelled after %ld of %ld rounds", it + 1,
                                rounds);
                goto out;
            }
        }
    }
    if (!e->progress) {
        rc = train_metric(st->bst, (int)rounds - 1, dm, &loss, metric, sizeof metric, err);
        if (rc)
            goto out;
    }
    if (json_object_set_new(e->fit_info, "n_iter", json_integer(rounds)) ||
        json_object_set_new(e->fit_info, "loss", json_real(isfinite(loss) ? loss : 0.0)) ||
        json_object_set_new(e->fit_info, "eval_metric", json_string(metric)) ||
        json_object_set_new(e->fit_info, "objective", json_string(objective))) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    e->state = st;
    st = NULL;
out:
    xgb_capture = NULL;
    xgb__state_free(st);
    if (dm)
        XGDMatrixFree(dm);
    free(yf);
    free(xf);
    return rc;
}

/* ---- predict ---- */

/* XGBoost's predictions for X: in-place prediction on the float64 rows (XGBModel.predict's path),
 * or, for boosters without it (gblinear), a float32 DMatrix like Python's fallback. On success
 * *out is a malloc'd copy (the caller frees it) of X->rows * cols values, cols = K for
 * multi:softprob, else 1. */
static int raw_predict(const ef_estimator *e, const ef_mat *X, float **out, size_t *cols,
                       ef_ml_err *err)
{
    const xgb_state *st = e->state;
    char iface[256];
    static const char config[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false, "
                                 "\"missing\": NaN, \"cache_id\": 0}";
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const char *typestr = ">f8";
#else
    const char *typestr = "<f8";
#endif
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *r = NULL;
    float *xf = NULL;
    DMatrixHandle dm = NULL;
    int rc = EF_OK;
    *out = NULL;
    *cols = !strcmp(st->objective, "multi:softprob") ? e->n_classes : 1;
    snprintf(iface, sizeof iface,
             "{\"data\": [%" PRIuPTR ", true], \"shape\": [%zu, %zu], \"strides\": null, "
             "\"typestr\": \"%s\", \"version\": 3}",
             (uintptr_t)X->v, X->rows, X->cols, typestr);
    if (XGBoosterPredictFromDense(st->bst, iface, config, NULL, &shape, &dim, &r)) {
        xf = malloc(X->rows * X->cols * sizeof *xf);
        if (!xf) {
            rc = ef_ml_errf(err, EF_ENOMEM, "out of memory for %zu rows", X->rows);
            goto out;
        }
        for (size_t i = 0; i < X->rows * X->cols; i++)
            xf[i] = (float)X->v[i];
        if (XGDMatrixCreateFromMat(xf, (bst_ulong)X->rows, (bst_ulong)X->cols, NAN, &dm) ||
            XGBoosterPredictFromDMatrix(st->bst, dm, config, &shape, &dim, &r)) {
            rc = xgb__fail(err, EF_EINVAL, "XGBoost prediction failed");
            goto out;
        }
    }
    size_t total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= (size_t)shape[i];
    if (dim < 1 || dim > 2 || total != X->rows * *cols) {
        rc = ef_ml_errf(err, EF_EINVAL,
                        "XGBoost predicted %zu values for %zu rows, expected %zu per row: the "
                        "booster does not match model.json",
                        total, X->rows, *cols);
        goto out;
    }
    *out = malloc(total * sizeof **out);
    if (!*out) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory for %zu predictions", total);
        goto out;
    }
    memcpy(*out, r, total * sizeof **out);
out:
    if (dm)
        XGDMatrixFree(dm);
    free(xf);
    return rc;
}

static int xgb_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    const xgb_state *st = e->state;
    float *r;
    size_t cols;
    int rc = raw_predict(e, X, &r, &cols, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < X->rows && !rc; i++) {
        size_t k = 0;
        if (e->type->task == EF_ML_REGRESSOR) {
            out[i] = r[i];
            continue;
        }
        if (cols > 1) { /* softprob: argmax, first of equal maxima like numpy */
            for (size_t j = 1; j < cols; j++)
                if (r[i * cols + j] > r[i * cols + k])
                    k = j;
        } else if (!strcmp(st->objective, "multi:softmax")) {
            float c = r[i];
            if (!(c >= 0 && c < (float)e->n_classes)) {
                rc = ef_ml_errf(err, EF_EINVAL, "XGBoost predicted class %g of %zu", (double)c,
                                e->n_classes);
                break;
            }
            k = (size_t)c;
        } else {
            k = r[i] > 0.5f ? 1 : 0; /* XGBClassifier.predict's threshold */
        }
        out[i] = e->classes[k];
    }
    free(r);
    return rc;
}

static int xgb_predict_proba(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    const xgb_state *st = e->state;
    float *r = NULL;
    size_t cols;
    out->v = NULL;
    out->rows = out->cols = 0;
    if (!strcmp(st->objective, "multi:softmax"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "objective multi:softmax has no probabilities; train with "
                          "multi:softprob");
    int rc = raw_predict(e, X, &r, &cols, err);
    if (rc)
        return rc;
    rc = ef_mat_init(out, X->rows, e->n_classes);
    if (rc) {
        free(r);
        return ef_ml_errf(err, rc, "out of memory for %zu x %zu probabilities", X->rows,
                          e->n_classes);
    }
    for (size_t i = 0; i < X->rows; i++) {
        if (cols > 1) {
            for (size_t j = 0; j < cols; j++)
                EF_MAT_AT(out, i, j) = r[i * cols + j];
        } else { /* binary:logistic; 1 - p in float32 like XGBClassifier.predict_proba */
            EF_MAT_AT(out, i, 0) = 1.0f - r[i];
            EF_MAT_AT(out, i, 1) = r[i];
        }
    }
    free(r);
    return EF_OK;
}

static void xgb_release(ef_estimator *e)
{
    xgb__state_free(e->state);
    e->state = NULL;
}

const ef_ml_type ef_ml_xgboost = {
    .name = "xgboost",
    .sklearn_class = "xgboost.sklearn.XGBRegressor",
    .task = EF_ML_REGRESSOR,
    .params = xgb_reg_params,
    .fit = xgb_fit,
    .predict = xgb_predict,
    .predict_proba = NULL,
    .save = xgb__save,
    .load = xgb__load,
    .release = xgb_release,
};

const ef_ml_type ef_ml_xgboost_classifier = {
    .name = "xgboost_classifier",
    .sklearn_class = "xgboost.sklearn.XGBClassifier",
    .task = EF_ML_CLASSIFIER,
    .params = xgb_clf_params,
    .fit = xgb_fit,
    .predict = xgb_predict,
    .predict_proba = xgb_predict_proba,
    .save = xgb__save,
    .load = xgb__load,
    .release = xgb_release,
};
