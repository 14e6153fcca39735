/* model.c - writes and reads MLflow model directories with the `edgeflow` flavour
 * (docs/model-format.md). MLmodel is YAML written with libyaml's emitter from a JSON tree, so
 * quoting of odd feature names is libyaml's job; it is read back with libyaml's document loader.
 * The directory is assembled under a temporary name beside the destination and renamed into
 * place. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/version.h"
#include "json/json.h"
#include "ml/model.h"
#include "ml/model_int.h"
#include "ml/preprocess.h"

#define MODEL_FILE "model.json"
#define EXAMPLE_FILE "input_example.json"
#define MAX_MODEL_JSON (512u << 20)

/* ---- lifecycle ---- */

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

ef_model *ef_model_new(ef_estimator *est, const char *const *feature_names)
{
    ef_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->est = est;
    m->preprocess = json_array();
    m->artifact_path = strdup("model");
    m->feature_names = calloc(est->n_features ? est->n_features : 1, sizeof(char *));
    if (!m->preprocess || !m->artifact_path || !m->feature_names)
        goto fail;
    for (size_t j = 0; j < est->n_features; j++) {
        char name[32];
        snprintf(name, sizeof name, "f%zu", j);
        m->feature_names[j] = strdup(feature_names ? feature_names[j] : name);
        if (!m->feature_names[j])
            goto fail;
    }
    return m;
fail:
    m->est = NULL; /* the caller keeps est on failure */
    ef_model_free(m);
    return NULL;
}

void ef_model_free(ef_model *m)
{
    if (!m)
        return;
    size_t d = m->est ? m->est->n_features : 0, k = m->est ? m->est->n_classes : 0;
    free_strv(m->feature_names, d);
    free_strv(m->class_names, k);
    ef_estimator_free(m->est);
    free(m->target);
    json_decref(m->preprocess);
    json_decref(m->input_example);
    free(m->run_id);
    free(m->artifact_path);
    free(m);
}

/* ---- preprocessing ---- */

int ef_model_add_normalize_l2(ef_model *m)
{
    return json_array_append_new(m->preprocess, json_pack("{s:s,s:s}", "op", "normalize", "norm", "l2"))
               ? EF_ENOMEM
               : EF_OK;
}

int ef_model_add_standard_scaler(ef_model *m, const double *mean, const double *scale)
{
    size_t d = m->est->n_features;
    json_t *op = json_pack("{s:s,s:o,s:o}", "op", "standard_scaler", "mean", ef_ml_json_vec(mean, d),
                           "scale", ef_ml_json_vec(scale, d));
    return op && !json_array_append_new(m->preprocess, op) ? EF_OK : EF_ENOMEM;
}

/* Checks one preprocessing step's shape; NULL op = fine. */
static int check_step(const json_t *op, size_t d, ef_mat *mean_scale, ef_ml_err *err)
{
    const char *name = json_string_value(json_object_get(op, "op"));
    if (!name)
        return ef_ml_errf(err, EF_EINVAL, "model.json: preprocess step without \"op\"");
    if (!strcmp(name, "normalize")) {
        const char *norm = json_string_value(json_object_get(op, "norm"));
        if (!norm || strcmp(norm, "l2"))
            return ef_ml_errf(err, EF_EINVAL, "model.json: only the l2 norm is supported by normalize");
        return EF_OK;
    }
    if (!strcmp(name, "standard_scaler")) {
        int rc = ef_mat_init(mean_scale, 2, d);
        if (!rc)
            rc = ef_ml_json_get_vec(json_object_get(op, "mean"), mean_scale->v, d, "preprocess mean", err);
        if (!rc)
            rc = ef_ml_json_get_vec(json_object_get(op, "scale"), mean_scale->v + d, d,
                                    "preprocess scale", err);
        for (size_t j = 0; !rc && j < d; j++)
            if (mean_scale->v[d + j] == 0)
                rc = ef_ml_errf(err, EF_EINVAL, "model.json: preprocess scale[%zu] is 0", j);
        if (rc)
            ef_mat_release(mean_scale);
        return rc;
    }
    return ef_ml_errf(err, EF_EINVAL, "model.json: unknown preprocess op '%s' (known: normalize, "
                      "standard_scaler)", name);
}

int ef_model_preprocess(const ef_model *m, ef_mat *X, ef_ml_err *err)
{
    size_t i;
    json_t *op;
    json_array_foreach(m->preprocess, i, op) {
        ef_mat ms = {0};
        int rc = check_step(op, X->cols, &ms, err);
        if (rc)
            return rc;
        if (!ms.v) {
            ef_normalize_l2(X);
            continue;
        }
        ef_scaler sc = {0};
        rc = ef_scaler_init(&sc, ms.v, ms.v + X->cols, X->cols);
        if (!rc)
            rc = ef_scaler_transform(&sc, X);
        ef_scaler_release(&sc);
        ef_mat_release(&ms);
        if (rc)
            return ef_ml_errf(err, rc, "out of memory");
    }
    return EF_OK;
}

int ef_model_set_input_example(ef_model *m, const ef_mat *X)
{
    size_t n = X->rows < 5 ? X->rows : 5, d = X->cols;
    json_t *cols = json_array(), *data = json_array();
    for (size_t j = 0; cols && j < d; j++)
        json_array_append_new(cols, json_string(m->feature_names[j]));
    for (size_t i = 0; data && i < n; i++)
        json_array_append_new(data, ef_ml_json_vec(X->v + i * d, d));
    json_t *ex = json_pack("{s:o*,s:o*}", "columns", cols, "data", data);
    if (!ex)
        return EF_ENOMEM;
    json_decref(m->input_example);
    m->input_example = ex;
    return EF_OK;
}

int ef_model_predict(const ef_model *m, ef_mat *X, double *out, ef_ml_err *err)
{
    if (X->cols != m->est->n_features)
        return ef_ml_errf(err, EF_EINVAL, "the model expects %zu features, the input has %zu",
                          m->est->n_features, X->cols);
    int rc = ef_model_preprocess(m, X, err);
    return rc ? rc : ef_estimator_predict(m->est, X, out, err);
}

const char *ef_model_label(const ef_model *m, double y, char *buf, size_t len)
{
    if (m->class_names) {
        int k = ef_ml_class_index(m->est, y);
        if (k >= 0) {
            snprintf(buf, len, "%s", m->class_names[k]);
            return buf;
        }
    }
    if (m->est->type->task == EF_ML_CLASSIFIER && y == floor(y) && fabs(y) < 1e15)
        snprintf(buf, len, "%.0f", y);
    else if (ef_json_format_double(y, buf, len) < 0)
        snprintf(buf, len, "%.17g", y);
    return buf;
}

/* ---- saving ---- */

static json_t *model_json(const ef_model *m, const char *dir, ef_ml_err *err)
{
    const ef_estimator *e = m->est;
    json_t *weights = json_object();
    if (!weights || e->type->save(e, weights, dir, err)) {
        json_decref(weights);
        return NULL;
    }
    json_t *names = json_array(), *types = json_array();
    for (size_t j = 0; j < e->n_features; j++) {
        json_array_append_new(names, json_string(m->feature_names[j]));
        json_array_append_new(types, json_string("double"));
    }
    json_t *doc = json_pack("{s:s,s:i,s:s,s:s,s:s,s:O,s:I,s:o,s:o}", "format", "edgeflow-model",
                            "format_version", 1, "estimator", e->type->name, "sklearn_class",
                            e->type->sklearn_class, "task",
                            e->type->task == EF_ML_CLASSIFIER ? "classification" : "regression",
                            "params", e->params, "n_features", (json_int_t)e->n_features,
                            "feature_names", names, "feature_types", types);
    if (!doc) {
        json_decref(weights);
        ef_ml_errf(err, EF_ENOMEM, "out of memory");
        return NULL;
    }
    if (m->target)
        json_object_set_new(doc, "target", json_string(m->target));
    if (e->type->task == EF_ML_CLASSIFIER) {
        json_t *classes = json_array();
        for (size_t k = 0; k < e->n_classes; k++) {
            double c = e->classes[k];
            json_array_append_new(classes, c == floor(c) && fabs(c) < 9e15 ? json_integer((json_int_t)c)
                                                                          : json_real(c));
        }
        json_object_set_new(doc, "classes", classes);
        if (m->class_names) {
            json_t *cn = json_array();
            for (size_t k = 0; k < e->n_classes; k++)
                json_array_append_new(cn, json_string(m->class_names[k]));
            json_object_set_new(doc, "class_names", cn);
        }
    }
    json_object_set(doc, "preprocess", m->preprocess);
    json_object_set_new(doc, "weights", weights);
    return doc;
}

/* The MLflow signature's column specs as the JSON text MLmodel carries. */
static char *signature_inputs(const ef_model *m)
{
    json_t *a = json_array();
    for (size_t j = 0; j < m->est->n_features; j++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "type", "double", "name",
                                           m->feature_names[j], "required", 1));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *signature_outputs(const ef_model *m)
{
    const char *type = "double";
    if (m->class_names)
        type = "string";
    else if (m->est->type->task == EF_ML_CLASSIFIER) {
        type = "long";
        for (size_t k = 0; k < m->est->n_classes; k++)
            if (m->est->classes[k] != floor(m->est->classes[k]))
                type = "double";
    }
    json_t *a = json_pack("[{s:s,s:b}]", "type", type, "required", 1);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[32] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, nbytes, f) != nbytes) {
        unsigned long x = (unsigned long)time(NULL) ^ (unsigned long)getpid();
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)(x >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    if (f)
        fclose(f);
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static json_t *mlmodel_tree(const ef_model *m, json_t *extra_flavours)
{
    char uuid[65], when[64];
    random_hex(uuid, 16);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t off = strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(when + off, sizeof when - off, ".%06ld", ts.tv_nsec / 1000);
    char *in = signature_inputs(m), *out = signature_outputs(m);
    json_t *flavours = json_pack("{s:{s:s,s:s,s:s,s:i}}", "edgeflow", "estimator", m->est->type->name,
                                 "model_file", MODEL_FILE, "edgeflow_version", EF_VERSION,
                                 "format_version", 1);
    if (flavours && extra_flavours)
        json_object_update(flavours, extra_flavours);
    json_t *t = json_pack("{s:s,s:o*,s:s,s:s}", "artifact_path", m->artifact_path, "flavors",
                          flavours, "mlflow_version", "2.12.2", "model_uuid", uuid);
    if (t && m->run_id)
        json_object_set_new(t, "run_id", json_string(m->run_id));
    if (t && m->input_example)
        json_object_set_new(t, "saved_input_example_info",
                            json_pack("{s:s,s:s,s:s}", "artifact_path", EXAMPLE_FILE, "type",
                                      "dataframe", "pandas_orient", "split"));
    if (t)
        json_object_set_new(t, "signature", json_pack("{s:s?,s:s?,s:n}", "inputs", in, "outputs",
                                                      out, "params"));
    if (t)
        json_object_set_new(t, "utc_time_created", json_string(when));
    free(in);
    free(out);
    return t;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, int plain_ok)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain_ok, 1,
                                 plain_ok ? YAML_ANY_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE);
    return emit(em, &ev);
}

/* Emits a JSON value as YAML: strings quoted when they would read back as another type. */
static int emit_json(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char num[EF_JSON_DOUBLE_MAX];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (emit(em, &ev))
            return -1;
        json_object_foreach((json_t *)v, k, x) if (emit_scalar(em, k, 1) || emit_json(em, x)) return -1;
        yaml_mapping_end_event_initialize(&ev);
        return emit(em, &ev);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
        if (emit(em, &ev))
            return -1;
        json_array_foreach(v, i, x) if (emit_json(em, x)) return -1;
        yaml_sequence_end_event_initialize(&ev);
        return emit(em, &ev);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        char *end;
        /* quoted when YAML would read it back as null, a bool, a number or a timestamp */
        int looks_typed = !*s || !strcmp(s, "null") || !strcmp(s, "true") || !strcmp(s, "false") ||
                          (strtod(s, &end), *end == 0) ||
                          (strlen(s) >= 10 && isdigit((unsigned char)s[0]) && s[4] == '-' && s[7] == '-');
        return emit_scalar(em, s, !looks_typed);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(em, num, 1);
    case JSON_REAL:
        ef_json_format_double(json_real_value(v), num, sizeof num);
        return emit_scalar(em, num, 1);
    case JSON_TRUE:
        return emit_scalar(em, "true", 1);
    case JSON_FALSE:
        return emit_scalar(em, "false", 1);
    default:
        return emit_scalar(em, "null", 1);
    }
}

static int yaml_write_cb(void *ctx, unsigned char *buf, size_t size)
{
    return ef_buf_append((ef_buf *)ctx, buf, size) == 0;
}

static int yaml_dump(const json_t *tree, ef_buf *out)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int rc = -1;
    if (!yaml_emitter_initialize(&em))
        return -1;
    yaml_emitter_set_output(&em, yaml_write_cb, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (emit(&em, &ev))
        goto out;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (emit(&em, &ev) || emit_json(&em, tree))
        goto out;
    yaml_document_end_event_initialize(&ev, 1);
    if (emit(&em, &ev))
        goto out;
    yaml_stream_end_event_initialize(&ev);
    rc = emit(&em, &ev);
out:
    yaml_emitter_delete(&em);
    return rc;
}

static int write_json_file(const char *dir, const char *name, const json_t *doc, ef_ml_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    if (!text)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory writing %s", name);
    int rc = ef_fs_write_atomic(path, text, strlen(text), 0);
    free(text);
    return rc ? ef_ml_errf(err, EF_EIO, "cannot write %s: %s", path, strerror(errno)) : EF_OK;
}

/* MLflow's xgboost flavour, when the estimator keeps its booster in xgb_model.json. */
static json_t *xgboost_flavours(const ef_model *m, const json_t *weights)
{
    const char *file = json_string_value(json_object_get(weights, "booster_file"));
    if (!file)
        return NULL;
    const char *cls = m->est->type->task == EF_ML_CLASSIFIER ? "xgboost.sklearn.XGBClassifier"
                                                             : "xgboost.sklearn.XGBRegressor";
    return json_pack("{s:{s:n,s:s,s:s,s:s,s:s},s:{s:s,s:s,s:{s:s,s:s},s:s}}", "xgboost", "code",
                     "data", file, "model_class", cls, "model_format", "json", "xgb_version",
                     "1.7.4", "python_function", "loader_module", "mlflow.xgboost", "data", file,
                     "env", "conda", "conda.yaml", "virtualenv", "python_env.yaml",
                     "python_version", "3.11.2");
}

static int write_xgb_env(const char *dir, ef_ml_err *err)
{
    static const char *const files[][2] = {
        {"requirements.txt", "mlflow==2.12.2\nxgboost==1.7.4\n"},
        {"conda.yaml", "channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip\n- pip:\n"
                       "  - mlflow==2.12.2\n  - xgboost==1.7.4\nname: mlflow-env\n"},
        {"python_env.yaml", "python: 3.11.2\nbuild_dependencies:\n- pip\ndependencies:\n"
                            "- -r requirements.txt\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        if (ef_fs_write_atomic(path, files[i][1], strlen(files[i][1]), 0))
            return ef_ml_errf(err, EF_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return EF_OK;
}

int ef_model_save(const ef_model *m, const char *dir, int overwrite, json_t **mlmodel,
                  ef_ml_err *err)
{
    char tmp[4096];
    int rc;
    json_t *doc = NULL, *tree = NULL;
    ef_buf yaml = {0};
    if (ef_fs_exists(dir) && !overwrite)
        return ef_ml_errf(err, EF_EEXIST, "%s already exists; choose another --output or remove it", dir);
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)getpid()) >= (int)sizeof tmp)
        return ef_ml_errf(err, EF_EINVAL, "model path too long");
    ef_fs_rm_rf(tmp);
    if (ef_fs_mkdir_p(tmp))
        return ef_ml_errf(err, EF_EIO, "cannot create %s: %s", tmp, strerror(errno));
    doc = model_json(m, tmp, err);
    if (!doc) {
        rc = EF_EINVAL;
        goto out;
    }
    rc = write_json_file(tmp, MODEL_FILE, doc, err);
    if (!rc && m->input_example)
        rc = write_json_file(tmp, EXAMPLE_FILE, m->input_example, err);
    json_t *xgb = rc ? NULL : xgboost_flavours(m, json_object_get(doc, "weights"));
    if (xgb)
        rc = write_xgb_env(tmp, err);
    tree = rc ? NULL : mlmodel_tree(m, xgb);
    json_decref(xgb);
    if (!rc && (!tree || yaml_dump(tree, &yaml))) {
        rc = ef_ml_errf(err, EF_ENOMEM, "cannot render MLmodel");
    }
    if (!rc) {
        char path[4200];
        snprintf(path, sizeof path, "%s/MLmodel", tmp);
        if (ef_fs_write_atomic(path, yaml.data, yaml.len, 0))
            rc = ef_ml_errf(err, EF_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    if (!rc && overwrite)
        ef_fs_rm_rf(dir);
    if (!rc && rename(tmp, dir))
        rc = ef_ml_errf(err, EF_EIO, "cannot move the model into %s: %s", dir, strerror(errno));
out:
    if (rc)
        ef_fs_rm_rf(tmp);
    if (!rc && mlmodel)
        *mlmodel = json_incref(tree);
    ef_buf_release(&yaml);
    json_decref(doc);
    json_decref(tree);
    return rc;
}

/* ---- loading ---- */

static char **json_strv(const json_t *a, size_t n, const char *what, ef_ml_err *err)
{
    if (!json_is_array(a) || json_array_size(a) != n) {
        ef_ml_errf(err, EF_EINVAL, "model.json: %s must be an array of %zu strings", what, n);
        return NULL;
    }
    char **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s) {
            ef_ml_errf(err, EF_EINVAL, "model.json: %s[%zu] is not a string", what, i);
            free_strv(v, n);
            return NULL;
        }
        if (!(v[i] = strdup(s))) {
            free_strv(v, n);
            v = NULL;
        }
    }
    if (!v)
        ef_ml_errf(err, EF_ENOMEM, "out of memory");
    return v;
}

static int load_params(ef_estimator *e, const json_t *params, ef_ml_err *err)
{
    if (!params)
        return EF_OK;
    if (!json_is_object(params))
        return ef_ml_errf(err, EF_EINVAL, "model.json: params must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)params, k, v) {
        int rc = ef_estimator_set_json(e, k, v, err);
        if (rc)
            return rc;
    }
    return EF_OK;
}

static int load_classes(ef_estimator *e, const json_t *classes, ef_ml_err *err)
{
    size_t k = json_array_size(classes);
    if (!json_is_array(classes) || k < 2)
        return ef_ml_errf(err, EF_EINVAL, "model.json: a classifier needs \"classes\" with >= 2 labels");
    e->classes = malloc(k * sizeof *e->classes);
    if (!e->classes)
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    e->n_classes = k;
    int rc = ef_ml_json_get_vec(classes, e->classes, k, "classes", err);
    for (size_t i = 1; !rc && i < k; i++)
        if (!(e->classes[i] > e->classes[i - 1]))
            rc = ef_ml_errf(err, EF_EINVAL, "model.json: classes must be sorted and distinct");
    return rc;
}

int ef_model_parse(const char *json_text, size_t len, const char *dir, ef_model **out, ef_ml_err *err)
{
    json_error_t jerr;
    *out = NULL;
    json_t *doc = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return ef_ml_errf(err, EF_EINVAL, "model.json is not valid JSON (line %d: %s)", jerr.line, jerr.text);
    int rc = EF_EINVAL;
    ef_model *m = NULL;
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    const char *name = json_string_value(json_object_get(doc, "estimator"));
    const json_t *nf = json_object_get(doc, "n_features");
    const ef_ml_type *t = name ? ef_ml_type_find(name) : NULL;
    if (!json_is_object(doc) || !fmt || strcmp(fmt, "edgeflow-model")) {
        ef_ml_errf(err, rc, "model.json: \"format\" is not \"edgeflow-model\"");
        goto out;
    }
    if (json_integer_value(json_object_get(doc, "format_version")) != 1) {
        ef_ml_errf(err, rc, "model.json: format_version must be 1 (this edgeflow reads version 1)");
        goto out;
    }
    if (!t) {
        ef_ml_errf(err, rc, "model.json: unknown estimator '%s'", name ? name : "(missing)");
        goto out;
    }
    if (!json_is_integer(nf) || json_integer_value(nf) < 1 || json_integer_value(nf) > 1000000) {
        ef_ml_errf(err, rc, "model.json: n_features must be an integer in 1..1000000");
        goto out;
    }
    ef_estimator *e = ef_estimator_new(t);
    if (!e) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    e->n_features = (size_t)json_integer_value(nf);
    m = ef_model_new(e, NULL);
    if (!m) {
        ef_estimator_free(e);
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    const json_t *fn = json_object_get(doc, "feature_names");
    if (fn) {
        char **names = json_strv(fn, e->n_features, "feature_names", err);
        if (!names)
            goto out;
        free_strv(m->feature_names, e->n_features);
        m->feature_names = names;
    }
    if ((rc = load_params(e, json_object_get(doc, "params"), err)))
        goto out;
    rc = EF_EINVAL;
    if (t->task == EF_ML_CLASSIFIER) {
        if ((rc = load_classes(e, json_object_get(doc, "classes"), err)))
            goto out;
        const json_t *cn = json_object_get(doc, "class_names");
        if (cn && !(m->class_names = json_strv(cn, e->n_classes, "class_names", err))) {
            rc = EF_EINVAL;
            goto out;
        }
    }
    const json_t *target = json_object_get(doc, "target");
    if (json_is_string(target) && !(m->target = strdup(json_string_value(target)))) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    const json_t *pre = json_object_get(doc, "preprocess");
    if (pre) {
        size_t i;
        json_t *op;
        if (!json_is_array(pre)) {
            ef_ml_errf(err, rc, "model.json: preprocess must be an array");
            goto out;
        }
        json_array_foreach(pre, i, op) {
            ef_mat ms = {0};
            if ((rc = check_step(op, e->n_features, &ms, err)))
                goto out;
            ef_mat_release(&ms);
        }
        json_decref(m->preprocess);
        m->preprocess = json_deep_copy(pre);
    }
    const json_t *w = json_object_get(doc, "weights");
    if (!json_is_object(w)) {
        rc = ef_ml_errf(err, EF_EINVAL, "model.json: \"weights\" must be an object");
        goto out;
    }
    rc = t->load(e, w, dir, err);
out:
    json_decref(doc);
    if (rc) {
        ef_model_free(m);
        return rc;
    }
    *out = m;
    return EF_OK;
}

/* Reads MLmodel and returns the edgeflow flavour's model_file (malloc'd), default model.json;
 * NULL when MLmodel has no edgeflow flavour. */
static int read_mlmodel(const char *dir, char **model_file, ef_ml_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/MLmodel", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ef_ml_errf(err, errno == ENOENT ? EF_ENOTFOUND : EF_EIO,
                          "%s: %s (is this an MLflow model directory?)", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t doc;
    int rc = EF_EINVAL;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        ef_ml_errf(err, rc, "%s is not valid YAML (line %zu: %s)", path, p.problem_mark.line + 1,
                   p.problem ? p.problem : "?");
        yaml_parser_delete(&p);
        fclose(f);
        return rc;
    }
    const char *keys[] = {"flavors", "edgeflow"};
    yaml_node_t *n = yaml_document_get_root_node(&doc);
    for (size_t i = 0; n && i < 2; i++) {
        yaml_node_t *next = NULL;
        if (n->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
                if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, keys[i]))
                    next = yaml_document_get_node(&doc, pr->value);
            }
        n = next;
    }
    if (!n || n->type != YAML_MAPPING_NODE) {
        *model_file = NULL; /* another flavour: model_mlflow.c */
        rc = EF_OK;
    } else {
        *model_file = strdup(MODEL_FILE);
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&doc, pr->key), *v = yaml_document_get_node(&doc, pr->value);
            if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
                !strcmp((char *)k->data.scalar.value, "model_file")) {
                free(*model_file);
                *model_file = strdup((char *)v->data.scalar.value);
            }
        }
        rc = *model_file ? EF_OK : ef_ml_errf(err, EF_ENOMEM, "out of memory");
        if (!rc && (strchr(*model_file, '/') || !strcmp(*model_file, "..") || !**model_file)) {
            rc = ef_ml_errf(err, EF_EINVAL, "%s: model_file must be a plain file name", path);
            free(*model_file);
            *model_file = NULL;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int ef_model_load(const char *dir, ef_model **out, ef_ml_err *err)
{
    char *file = NULL, path[4096];
    ef_buf text = {0};
    *out = NULL;
    int rc = read_mlmodel(dir, &file, err);
    if (rc)
        return rc;
    if (!file)
        return ef_model__load_mlflow(dir, out, err);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    free(file);
    rc = ef_fs_read(path, MAX_MODEL_JSON, &text);
    if (rc) {
        ef_ml_errf(err, rc == EF_ETOOBIG ? rc : EF_EIO, "cannot read %s: %s", path,
                   rc == EF_ETOOBIG ? "larger than 512 MiB" : strerror(errno));
        return rc == EF_ETOOBIG ? rc : EF_EIO;
    }
    rc = ef_model_parse(text.data ? text.data : "", text.len, dir, out, err);
    ef_buf_release(&text);
    return rc;
}
