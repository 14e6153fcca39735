/* model_mlflow.c - reading MLflow model directories written by MLflow itself rather than by
 * edgeflow: today the `xgboost` flavour (mlflow.xgboost.save_model / log_model):
 *
 *   flavors:
 *     xgboost: {data: model.xgb, model_class: xgboost.sklearn.XGBClassifier, model_format: xgb,
 *               xgb_version: 1.7.4, code: null}
 *     python_function: {loader_module: mlflow.xgboost, data: model.xgb, ...}
 *   signature: {inputs: '[{"type": "double", "name": "fixed acidity", ...}, ...]', ...}
 *
 * The booster file is read by XGBoost (xgb.c); the feature names come from the signature's
 * column names (a tensor signature or none gives f0..f<d-1>). A classifier predicts the class
 * indices 0..K-1 like XGBClassifier.predict (what mlflow.pyfunc serves); a regressor or a raw
 * Booster predicts the booster's output. There is no preprocessing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ml/model_int.h"
#ifdef EF_ML_HAVE_XGBOOST
#include "ml/xgb.h"
#endif

/* The value node under key in mapping node n, or NULL. */
static yaml_node_t *yaml_get(yaml_document_t *doc, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, pr->value);
    }
    return NULL;
}

/* The scalar text under key, or NULL (also for YAML's null). */
static const char *yaml_str(yaml_document_t *doc, yaml_node_t *n, const char *key)
{
    yaml_node_t *v = yaml_get(doc, n, key);
    if (!v || v->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)v->data.scalar.value;
    if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!strcmp(s, "null") || !*s))
        return NULL;
    return s;
}

/* Feature names from the signature's inputs (a JSON text of column specs): a malloc'd array of
 * d pointers into the parsed *specs (kept by the caller), or NULL when the signature has no
 * column names (tensor spec, no signature). A column-name signature of another width is
 * EF_EINVAL. */
static int signature_names(const char *inputs, size_t d, json_t **specs, const char ***names,
                           const char *path, ef_ml_err *err)
{
    *names = NULL;
    *specs = inputs ? json_loads(inputs, 0, NULL) : NULL;
    size_t n = json_array_size(*specs);
    for (size_t j = 0; j < n; j++)
        if (!json_is_string(json_object_get(json_array_get(*specs, j), "name")))
            return EF_OK;
    if (!n)
        return EF_OK;
    if (n != d)
        return ef_ml_errf(err, EF_EINVAL, "%s: the signature has %zu input columns, the booster "
                          "%zu features", path, n, d);
    *names = malloc(d * sizeof **names);
    if (!*names)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    for (size_t j = 0; j < d; j++)
        (*names)[j] = json_string_value(json_object_get(json_array_get(*specs, j), "name"));
    return EF_OK;
}

/* Builds the model from the xgboost flavour node fl of the MLmodel at path. */
static int load_xgboost(const char *dir, const char *path, yaml_document_t *doc, yaml_node_t *fl,
                        const char *inputs, ef_model **out, ef_ml_err *err)
{
#ifdef EF_ML_HAVE_XGBOOST
    const char *data = yaml_str(doc, fl, "data");
    const char *cls = yaml_str(doc, fl, "model_class");
    char file[4096];
    ef_estimator *e = NULL;
    json_t *specs = NULL;
    const char **names = NULL;
    int rc;
    if (!data || strchr(data, '/') || data[0] == '.')
        return ef_ml_errf(err, EF_EINVAL, "%s: flavors.xgboost.data must be the booster's file "
                          "name inside the model directory, like model.xgb", path);
    if (snprintf(file, sizeof file, "%s/%s", dir, data) >= (int)sizeof file)
        return ef_ml_errf(err, EF_EINVAL, "model path too long");
    /* XGBClassifier, XGBRFClassifier: class indices; XGBRegressor, XGBRFRegressor, Booster,
     * XGBRanker: the booster's output */
    rc = ef_ml_xgb_from_booster(file, cls && strstr(cls, "Classifier") != NULL, &e, err);
    if (!rc)
        rc = signature_names(inputs, e->n_features, &specs, &names, path, err);
    if (!rc) {
        *out = ef_model_new(e, names);
        if (!*out)
            rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    if (rc)
        ef_estimator_free(e);
    free(names);
    json_decref(specs);
    return rc;
#else
    (void)dir, (void)doc, (void)fl, (void)inputs, (void)out;
    return ef_ml_errf(err, EF_EUNSUPPORTED, "%s: an XGBoost model, but this edgeflow was built "
                      "without XGBoost (EF_WITH_XGBOOST=OFF)", path);
#endif
}

int ef_model__load_mlflow(const char *dir, ef_model **out, ef_ml_err *err)
{
    char path[4096];
    yaml_parser_t p;
    yaml_document_t doc;
    int rc;
    *out = NULL;
    snprintf(path, sizeof path, "%s/MLmodel", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ef_ml_errf(err, errno == ENOENT ? EF_ENOTFOUND : EF_EIO, "%s: %s", path,
                          strerror(errno));
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        rc = ef_ml_errf(err, EF_EINVAL, "%s is not valid YAML (line %zu: %s)", path,
                        p.problem_mark.line + 1, p.problem ? p.problem : "?");
        goto out;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *xgb = yaml_get(&doc, yaml_get(&doc, root, "flavors"), "xgboost");
    const char *inputs = yaml_str(&doc, yaml_get(&doc, root, "signature"), "inputs");
    if (xgb && xgb->type == YAML_MAPPING_NODE)
        rc = load_xgboost(dir, path, &doc, xgb, inputs, out, err);
    else
        rc = ef_ml_errf(err, EF_EINVAL, "%s has neither the 'edgeflow' nor the 'xgboost' "
                        "flavour (export scikit-learn models with "
                        "clients/python/edgeflow_sklearn.py)", path);
    yaml_document_delete(&doc);
out:
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}
