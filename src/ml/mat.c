/* mat.c - the estimator core shared by every model type: matrices, errors, typed
 * hyper-parameters (parsed from the text users write: `--param alpha=0.5`), the estimator
 * lifecycle with the input validation scikit-learn does in check_X_y, and JSON (de)serialisation
 * helpers for model.json. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml.h"

int ef_ml_errf(ef_ml_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int ef_ml_err_prefix(ef_ml_err *err, int code, const char *prefix)
{
    if (err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        ef_ml_errf(err, code, "%s: %s", prefix, msg);
    }
    return code;
}

/* ---- matrices ---- */

int ef_mat_init(ef_mat *m, size_t rows, size_t cols)
{
    m->rows = rows;
    m->cols = cols;
    m->v = NULL;
    if (cols && rows > SIZE_MAX / sizeof(double) / cols)
        return EF_ETOOBIG;
    if (rows * cols == 0)
        return EF_OK;
    m->v = calloc(rows * cols, sizeof(double));
    return m->v ? EF_OK : EF_ENOMEM;
}

void ef_mat_release(ef_mat *m)
{
    if (!m)
        return;
    free(m->v);
    m->v = NULL;
    m->rows = m->cols = 0;
}

int ef_mat_gather(ef_mat *dst, const ef_mat *src, const size_t *idx, size_t n)
{
    int rc = ef_mat_init(dst, n, src->cols);
    if (rc)
        return rc;
    for (size_t k = 0; k < n; k++)
        memcpy(dst->v + k * src->cols, src->v + idx[k] * src->cols, src->cols * sizeof(double));
    return EF_OK;
}

void ef_ml_gather_y(double *out, const double *y, const size_t *idx, size_t n)
{
    for (size_t k = 0; k < n; k++)
        out[k] = y[idx[k]];
}

/* ---- parameters ---- */

static const ef_ml_param *param_spec(const ef_ml_type *t, const char *name)
{
    for (const ef_ml_param *p = t->params; p && p->name; p++)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

static int is_none(const char *s)
{
    return !strcmp(s, "None") || !strcmp(s, "none") || !strcmp(s, "null");
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* Parses `text` for spec p into a JSON value; NULL with a message on a bad value. */
static json_t *param_parse(const ef_ml_param *p, const char *text, ef_ml_err *err)
{
    if (is_none(text)) {
        if (p->nullable)
            return json_null();
        ef_ml_errf(err, EF_EINVAL, "parameter %s cannot be None", p->name);
        return NULL;
    }
    switch (p->kind) {
    case EF_ML_PDOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v)) {
            ef_ml_errf(err, EF_EINVAL, "parameter %s expects a finite number, got '%s'", p->name, text);
            return NULL;
        }
        return json_real(v);
    }
    case EF_ML_PINT: {
        long v;
        if (parse_long(text, &v)) {
            ef_ml_errf(err, EF_EINVAL, "parameter %s expects an integer, got '%s'", p->name, text);
            return NULL;
        }
        return json_integer(v);
    }
    case EF_ML_PBOOL:
        if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "1"))
            return json_true();
        if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "0"))
            return json_false();
        ef_ml_errf(err, EF_EINVAL, "parameter %s expects true or false, got '%s'", p->name, text);
        return NULL;
    case EF_ML_PSTRING:
        if (p->choices) {
            size_t n = strlen(text);
            const char *c = p->choices;
            while (*c) {
                const char *bar = strchr(c, '|');
                size_t len = bar ? (size_t)(bar - c) : strlen(c);
                if (len == n && !strncmp(c, text, n))
                    return json_string(text);
                c += len + (bar ? 1 : 0);
            }
            ef_ml_errf(err, EF_EINVAL, "parameter %s expects one of %s, got '%s'", p->name, p->choices,
                       text);
            return NULL;
        }
        return json_string(text);
    case EF_ML_PINTLIST: {
        json_t *a = json_array();
        const char *s = text;
        while (*s == ' ' || *s == '(' || *s == '[')
            s++;
        while (*s && *s != ')' && *s != ']') {
            char *end;
            errno = 0;
            long v = strtol(s, &end, 10);
            if (errno || end == s || v <= 0) {
                json_decref(a);
                ef_ml_errf(err, EF_EINVAL,
                           "parameter %s expects positive integers like 100 or 100,50, got '%s'",
                           p->name, text);
                return NULL;
            }
            json_array_append_new(a, json_integer(v));
            s = end;
            while (*s == ' ' || *s == ',')
                s++;
        }
        if (json_array_size(a) == 0) {
            json_decref(a);
            ef_ml_errf(err, EF_EINVAL, "parameter %s needs at least one value", p->name);
            return NULL;
        }
        return a;
    }
    }
    return NULL;
}

ef_estimator *ef_estimator_new(const ef_ml_type *t)
{
    ef_estimator *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->type = t;
    e->params = json_object();
    e->fit_info = json_object();
    if (!e->params || !e->fit_info)
        goto fail;
    for (const ef_ml_param *p = t->params; p && p->name; p++) {
        ef_ml_err err;
        json_t *v = param_parse(p, p->def, &err);
        if (!v || json_object_set_new(e->params, p->name, v))
            goto fail; /* a bad default is a programming error; tests catch it */
    }
    return e;
fail:
    ef_estimator_free(e);
    return NULL;
}

static void estimator_clear_fit(ef_estimator *e)
{
    if (e->state && e->type->release)
        e->type->release(e);
    e->state = NULL;
    free(e->classes);
    e->classes = NULL;
    e->n_classes = 0;
    json_object_clear(e->fit_info);
}

void ef_estimator_free(ef_estimator *e)
{
    if (!e)
        return;
    estimator_clear_fit(e);
    json_decref(e->params);
    json_decref(e->fit_info);
    free(e);
}

int ef_estimator_set(ef_estimator *e, const char *name, const char *value, ef_ml_err *err)
{
    const ef_ml_param *p = param_spec(e->type, name);
    const ef_ml_param *extra = param_spec(e->type, "extra");
    if (!p && extra && extra->kind == EF_ML_PSTRING && strcmp(name, "extra")) {
        /* a type with an "extra" parameter (XGBoost) passes unknown names through to its library,
         * which validates them at fit */
        const char *prev = ef_ml_pstring(e, "extra");
        size_t len = (prev ? strlen(prev) : 0) + strlen(name) + strlen(value) + 3;
        char *joined = malloc(len);
        if (!joined)
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        snprintf(joined, len, "%s%s%s=%s", prev && *prev ? prev : "", prev && *prev ? ";" : "", name,
                 value);
        int rc = ef_estimator_set(e, "extra", joined, err);
        free(joined);
        return rc;
    }
    if (!p) {
        char known[384] = "";
        size_t off = 0;
        for (const ef_ml_param *q = e->type->params; q && q->name && off < sizeof known; q++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", off ? ", " : "", q->name);
        return ef_ml_errf(err, EF_ENOTFOUND, "%s has no parameter '%s' (known: %s)", e->type->name, name,
                          known);
    }
    json_t *v = param_parse(p, value, err);
    if (!v)
        return EF_EINVAL;
    return json_object_set_new(e->params, name, v) ? EF_ENOMEM : EF_OK;
}

int ef_estimator_set_json(ef_estimator *e, const char *name, const json_t *v, ef_ml_err *err)
{
    char text[512];
    switch (json_typeof(v)) {
    case JSON_NULL:
        snprintf(text, sizeof text, "None");
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
        break;
    case JSON_INTEGER:
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(text, sizeof text, "%.17g", json_real_value(v));
        break;
    case JSON_STRING:
        if (json_string_length(v) >= sizeof text)
            return ef_ml_errf(err, EF_EINVAL, "parameter %s: value too long", name);
        snprintf(text, sizeof text, "%s", json_string_value(v));
        break;
    case JSON_ARRAY: {
        size_t i, off = 0;
        json_t *x;
        text[0] = 0;
        json_array_foreach(v, i, x) {
            if (!json_is_integer(x) || off > sizeof text - 32)
                return ef_ml_errf(err, EF_EINVAL, "parameter %s: expected a list of integers", name);
            off += (size_t)snprintf(text + off, sizeof text - off, "%s%" JSON_INTEGER_FORMAT,
                                    i ? "," : "", json_integer_value(x));
        }
        break;
    }
    default:
        return ef_ml_errf(err, EF_EINVAL, "parameter %s: objects are not parameter values", name);
    }
    return ef_estimator_set(e, name, text, err);
}

static const json_t *pget(const ef_estimator *e, const char *name)
{
    const json_t *v = json_object_get(e->params, name);
    return v;
}

double ef_ml_pdouble(const ef_estimator *e, const char *name)
{
    return json_number_value(pget(e, name));
}

long ef_ml_pint(const ef_estimator *e, const char *name)
{
    return (long)json_integer_value(pget(e, name));
}

int ef_ml_pbool(const ef_estimator *e, const char *name)
{
    return json_is_true(pget(e, name));
}

const char *ef_ml_pstring(const ef_estimator *e, const char *name)
{
    return json_string_value(pget(e, name));
}

int ef_ml_pnull(const ef_estimator *e, const char *name)
{
    const json_t *v = pget(e, name);
    return !v || json_is_null(v);
}

size_t ef_ml_pintlist(const ef_estimator *e, const char *name, long *out, size_t max)
{
    const json_t *a = pget(e, name);
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = (long)json_integer_value(json_array_get(a, i));
    return n;
}

/* ---- fit / predict ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ef_ml_class_index(const ef_estimator *e, double y)
{
    size_t lo = 0, hi = e->n_classes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->classes[mid] < y)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->n_classes && e->classes[lo] == y ? (int)lo : -1;
}

static int check_X(const ef_mat *X, const char *what, ef_ml_err *err)
{
    if (!X || X->rows == 0)
        return ef_ml_errf(err, EF_EINVAL, "%s has no rows", what);
    if (X->cols == 0)
        return ef_ml_errf(err, EF_EINVAL, "%s has no feature columns", what);
    for (size_t i = 0; i < X->rows; i++)
        for (size_t j = 0; j < X->cols; j++)
            if (!isfinite(EF_MAT_AT(X, i, j)))
                return ef_ml_errf(err, EF_EINVAL,
                                  "%s row %zu, feature %zu is %g: remove or impute NaN/Inf values first",
                                  what, i, j, EF_MAT_AT(X, i, j));
    return EF_OK;
}

int ef_estimator_fit(ef_estimator *e, const ef_mat *X, const double *y, ef_ml_err *err)
{
    int rc = check_X(X, "training data", err);
    if (rc)
        return rc;
    for (size_t i = 0; i < X->rows; i++)
        if (!isfinite(y[i]))
            return ef_ml_errf(err, EF_EINVAL, "target of row %zu is %g: targets must be finite", i, y[i]);
    estimator_clear_fit(e);
    e->n_features = X->cols;
    int *y_idx = NULL;
    if (e->type->task == EF_ML_CLASSIFIER) {
        double *sorted = malloc(X->rows * sizeof *sorted);
        y_idx = malloc(X->rows * sizeof *y_idx);
        if (!sorted || !y_idx) {
            free(sorted);
            free(y_idx);
            return ef_ml_errf(err, EF_ENOMEM, "out of memory");
        }
        memcpy(sorted, y, X->rows * sizeof *sorted);
        qsort(sorted, X->rows, sizeof *sorted, cmp_double);
        size_t k = 0;
        for (size_t i = 0; i < X->rows; i++)
            if (i == 0 || sorted[i] != sorted[k - 1])
                sorted[k++] = sorted[i];
        if (k < 2) {
            free(sorted);
            free(y_idx);
            return ef_ml_errf(err, EF_EINVAL,
                              "%s needs at least 2 classes in the target; the data has only %g",
                              e->type->name, y[0]);
        }
        e->classes = sorted; /* keeps the whole buffer; only the first k are used */
        e->n_classes = k;
        for (size_t i = 0; i < X->rows; i++)
            y_idx[i] = ef_ml_class_index(e, y[i]);
    }
    rc = e->type->fit(e, X, y, y_idx, err);
    free(y_idx);
    if (rc) {
        int keep = rc;
        estimator_clear_fit(e);
        return keep;
    }
    return EF_OK;
}

static int check_predict(const ef_estimator *e, const ef_mat *X, ef_ml_err *err)
{
    if (!e->state)
        return ef_ml_errf(err, EF_EINVAL, "%s is not fitted yet", e->type->name);
    if (X->cols != e->n_features)
        return ef_ml_errf(err, EF_EINVAL, "the model expects %zu features, the data has %zu",
                          e->n_features, X->cols);
    if (X->rows == 0)
        return EF_OK;
    return check_X(X, "input", err);
}

int ef_estimator_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    int rc = check_predict(e, X, err);
    if (rc || X->rows == 0)
        return rc;
    return e->type->predict(e, X, out, err);
}

int ef_estimator_predict_proba(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    if (!e->type->predict_proba)
        return ef_ml_errf(err, EF_EUNSUPPORTED, "%s does not predict probabilities", e->type->name);
    int rc = check_predict(e, X, err);
    if (rc)
        return rc;
    if (X->rows == 0)
        return ef_mat_init(out, 0, e->n_classes);
    return e->type->predict_proba(e, X, out, err);
}

/* ---- JSON helpers ---- */

json_t *ef_ml_json_vec(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *ef_ml_json_mat(const ef_mat *m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < m->rows; i++)
        if (json_array_append_new(a, ef_ml_json_vec(m->v + i * m->cols, m->cols))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int ef_ml_json_get_vec(const json_t *a, double *out, size_t n, const char *what, ef_ml_err *err)
{
    if (!json_is_array(a) || json_array_size(a) != n)
        return ef_ml_errf(err, EF_EINVAL, "model.json: %s must be an array of %zu numbers", what, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(a, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x)))
            return ef_ml_errf(err, EF_EINVAL, "model.json: %s[%zu] is not a finite number", what, i);
        out[i] = json_number_value(x);
    }
    return EF_OK;
}

int ef_ml_json_get_mat(const json_t *a, ef_mat *out, size_t rows, size_t cols, const char *what,
                       ef_ml_err *err)
{
    out->v = NULL;
    out->rows = out->cols = 0;
    if (!json_is_array(a) || (rows && json_array_size(a) != rows))
        return ef_ml_errf(err, EF_EINVAL, "model.json: %s must be an array of %zu rows", what, rows);
    rows = json_array_size(a);
    if (!cols && rows)
        cols = json_array_size(json_array_get(a, 0));
    int rc = ef_mat_init(out, rows, cols);
    if (rc)
        return ef_ml_errf(err, rc, "model.json: %s is too large", what);
    for (size_t i = 0; i < rows; i++) {
        char row_what[96];
        snprintf(row_what, sizeof row_what, "%s[%zu]", what, i);
        rc = ef_ml_json_get_vec(json_array_get(a, i), out->v + i * cols, cols, row_what, err);
        if (rc) {
            ef_mat_release(out);
            return rc;
        }
    }
    return EF_OK;
}
