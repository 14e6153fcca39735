/* xgb_io.c - saving and loading the XGBoost estimators (xgb.c): the booster file beside
 * model.json with the "scikit_learn" attribute Python's XGBModel.save_model writes, model.json's
 * "weights" ({"booster_file", "objective", "num_class"}), and ef_ml_xgb_from_booster (xgb.h),
 * which builds an estimator straight from a booster file Python's xgboost saved (MLflow's
 * xgboost flavour). Only built with EF_WITH_XGBOOST.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml.h"
#include "ml/xgb.h"
#include "ml/xgb_int.h"

/* ---- save / load ---- */

/* The "scikit_learn" attribute XGBModel.save_model stores, so XGBRegressor/XGBClassifier
 * .load_model (and mlflow.xgboost) restore the wrapper's state: its parameters, the estimator
 * type and, for classifiers, n_classes_ and classes_ (0..K-1, what the booster predicts). */
static char *sklearn_meta(const ef_estimator *e)
{
    static const char *const names[] = {"n_estimators", "max_depth",        "learning_rate",
                                         "subsample",    "colsample_bytree", "min_child_weight",
                                         "gamma",        "reg_lambda",       "reg_alpha",
                                         "tree_method",  "random_state"};
    const xgb_state *st = e->state;
    json_t *m = json_object();
    char *s = NULL;
    int bad = !m;
    for (size_t i = 0; !bad && i < sizeof names / sizeof names[0]; i++) {
        json_t *v = json_object_get(e->params, names[i]);
        bad = json_object_set(m, names[i], v ? v : json_null());
    }
    if (!bad)
        bad = json_object_set_new(m, "objective", json_string(st->objective));
    if (!bad && e->type->task == EF_ML_CLASSIFIER) {
        json_t *c = json_array();
        bad = !c || json_object_set_new(m, "classes_", c); /* m owns c from here */
        for (size_t k = 0; !bad && k < e->n_classes; k++)
            bad = json_array_append_new(c, json_integer((json_int_t)k));
        if (!bad)
            bad = json_object_set_new(m, "n_classes_", json_integer((json_int_t)e->n_classes));
    }
    if (!bad)
        bad = json_object_set_new(m, "_estimator_type",
                                  json_string(e->type->task == EF_ML_CLASSIFIER ? "classifier"
                                                                                : "regressor"));
    if (!bad)
        s = json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(m);
    return s;
}

int xgb__save(const ef_estimator *e, json_t *weights, const char *dir, ef_ml_err *err)
{
    const xgb_state *st = e->state;
    char path[4096];
    char *meta = NULL;
    int rc = EF_OK;
    if (snprintf(path, sizeof path, "%s/%s", dir, XGB_BOOSTER_FILE) >= (int)sizeof path)
        return ef_ml_errf(err, EF_EINVAL, "model directory path is too long");
    meta = sklearn_meta(e);
    if (!meta) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    /* The attribute lives on the booster only while it is written (like XGBModel.save_model);
     * attributes are not read by prediction. */
    if (XGBoosterSetAttr(st->bst, "scikit_learn", meta)) {
        rc = xgb__fail(err, EF_ENOMEM, "XGBoost could not set the scikit_learn attribute");
        goto out;
    }
    if (XGBoosterSaveModel(st->bst, path))
        rc = xgb__fail(err, EF_EIO, "XGBoost could not write " XGB_BOOSTER_FILE);
    XGBoosterSetAttr(st->bst, "scikit_learn", NULL);
    if (rc)
        goto out;
    if (json_object_set_new(weights, "booster_file", json_string(XGB_BOOSTER_FILE)) ||
        json_object_set_new(weights, "objective", json_string(st->objective)) ||
        json_object_set_new(weights, "num_class",
                            json_integer(e->type->task == EF_ML_CLASSIFIER
                                             ? (json_int_t)e->n_classes
                                             : 0)))
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
out:
    free(meta);
    return rc;
}

/* 1 if objective is one this type trains (the choices of its "objective" parameter, plus
 * multi:softprob for classifiers). */
static int objective_known(const ef_ml_type *t, const char *objective)
{
    const char *c = t->params[0].choices;
    size_t n = strlen(objective);
    if (t->task == EF_ML_CLASSIFIER && !strcmp(objective, "multi:softprob"))
        return 1;
    while (n && *c) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !strncmp(c, objective, n))
            return 1;
        c += len + (bar ? 1 : 0);
    }
    return 0;
}

/* A new state holding the booster read from path, and its number of features. */
static int open_booster(const char *path, xgb_state **out, bst_ulong *nf, ef_ml_err *err)
{
    xgb_state *st = calloc(1, sizeof *st);
    int rc = EF_OK;
    *out = NULL;
    if (!st)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    if (XGBoosterCreate(NULL, 0, &st->bst)) {
        rc = xgb__fail(err, EF_ENOMEM, "XGBoost could not create a booster");
    } else if (XGBoosterLoadModel(st->bst, path)) {
        char what[4200];
        snprintf(what, sizeof what, "cannot load the XGBoost model %.4000s", path);
        rc = xgb__fail(err, EF_EIO, what);
    } else if (XGBoosterGetNumFeature(st->bst, nf)) {
        rc = xgb__fail(err, EF_EINVAL, "XGBoost could not read the model");
    }
    if (rc)
        xgb__state_free(st);
    else
        *out = st;
    return rc;
}

int xgb__load(ef_estimator *e, const json_t *weights, const char *dir, ef_ml_err *err)
{
    const char *file = json_string_value(json_object_get(weights, "booster_file"));
    const char *objective = json_string_value(json_object_get(weights, "objective"));
    const json_t *nc = json_object_get(weights, "num_class");
    size_t want_nc = e->type->task == EF_ML_CLASSIFIER ? e->n_classes : 0;
    xgb_state *st = NULL;
    bst_ulong nf = 0;
    char path[4096];
    int rc = EF_OK;

    if (!file || !file[0] || strchr(file, '/') || file[0] == '.')
        return ef_ml_errf(err, EF_EINVAL, "model.json: weights.booster_file must be a file name "
                          "inside the model directory, like \"" XGB_BOOSTER_FILE "\"");
    if (!objective || !objective_known(e->type, objective) ||
        (e->type->task == EF_ML_CLASSIFIER && e->n_classes > 2 && !xgb__is_multi(objective)))
        return ef_ml_errf(err, EF_EINVAL, "model.json: weights.objective '%s' is not one %s "
                          "trains", objective ? objective : "(missing)", e->type->name);
    if (!json_is_integer(nc) || json_integer_value(nc) != (json_int_t)want_nc)
        return ef_ml_errf(err, EF_EINVAL, "model.json: weights.num_class must be %zu", want_nc);
    if (!dir || snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return ef_ml_errf(err, EF_EINVAL, "model.json: no model directory for %s", file);
    rc = open_booster(path, &st, &nf, err);
    if (rc)
        goto out;
    snprintf(st->objective, sizeof st->objective, "%s", objective);
    if ((size_t)nf != e->n_features) {
        rc = ef_ml_errf(err, EF_EINVAL, "%s has %zu features, model.json says %zu", file,
                        (size_t)nf, e->n_features);
        goto out;
    }
    e->state = st;
    st = NULL;
out:
    xgb__state_free(st);
    return rc;
}

int ef_ml_xgb_from_booster(const char *path, int classifier, ef_estimator **out, ef_ml_err *err)
{
    const ef_ml_type *t = classifier ? &ef_ml_xgboost_classifier : &ef_ml_xgboost;
    xgb_state *st = NULL;
    ef_estimator *e = NULL;
    json_t *cfg = NULL;
    const char *conf = NULL;
    bst_ulong nf = 0, conf_len = 0;
    ef_ml_err ignored;
    *out = NULL;
    int rc = open_booster(path, &st, &nf, err);
    if (rc)
        goto out;
    if (XGBoosterSaveJsonConfig(st->bst, &conf_len, &conf)) {
        rc = xgb__fail(err, EF_EINVAL, "XGBoost could not give the model's configuration");
        goto out;
    }
    cfg = json_loadb(conf, (size_t)conf_len, 0, NULL);
    const json_t *learner = json_object_get(cfg, "learner");
    const char *obj = json_string_value(json_object_get(json_object_get(learner, "objective"),
                                                        "name"));
    const char *ncs = json_string_value(
        json_object_get(json_object_get(learner, "learner_model_param"), "num_class"));
    long k = ncs ? strtol(ncs, NULL, 10) : 0;
    if (!obj || strlen(obj) >= sizeof st->objective || nf < 1) {
        rc = ef_ml_errf(err, EF_EINVAL, "%s: the booster has no objective or no features; is it "
                        "a trained XGBoost model?", path);
        goto out;
    }
    snprintf(st->objective, sizeof st->objective, "%s", obj);
    if (classifier && !strcmp(obj, "binary:logistic"))
        k = 2;
    if (classifier && (k < 2 || k > 1000000 || (k > 2 && !xgb__is_multi(obj)))) {
        rc = ef_ml_errf(err, EF_EUNSUPPORTED, "%s: an XGBClassifier with objective %s is not "
                        "supported; train it with binary:logistic, multi:softprob or "
                        "multi:softmax", path, obj);
        goto out;
    }
    if (!classifier && !strcmp(obj, "multi:softprob")) {
        rc = ef_ml_errf(err, EF_EUNSUPPORTED, "%s: a booster with objective multi:softprob "
                        "predicts probabilities; log it as an XGBClassifier", path);
        goto out;
    }
    e = ef_estimator_new(t);
    if (e && classifier)
        e->classes = malloc((size_t)k * sizeof *e->classes);
    if (!e || (classifier && !e->classes)) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    e->n_features = (size_t)nf;
    for (long i = 0; classifier && i < k; i++)
        e->classes[i] = (double)i;
    e->n_classes = classifier ? (size_t)k : 0;
    /* informational only (prediction follows st->objective); a choice this type does not list
     * keeps the default */
    ef_estimator_set(e, "objective", obj, &ignored);
    e->state = st;
    st = NULL;
    *out = e;
    e = NULL;
out:
    json_decref(cfg);
    xgb__state_free(st);
    ef_estimator_free(e);
    return rc;
}
