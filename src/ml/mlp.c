/* mlp.c - MLPClassifier and MLPRegressor (scikit-learn 1.2.1, sklearn/neural_network): the two
 * estimator types, their parameters with scikit-learn's names and defaults, the forward pass used
 * by predict / predict_proba, and model.json's weights. Training lives in mlp_train.c.
 *
 * Network: layers of units n_features -> hidden_layer_sizes... -> n_outputs; hidden layers use
 * `activation`, the output layer softmax (more than two classes), logistic (two classes, one
 * output unit) or identity (regression). Classifier predictions: argmax of the outputs, or for two
 * classes classes[1] when the output is > 0.5 (LabelBinarizer.inverse_transform's threshold).
 *
 * Weights (docs/model-format.md): {"activation", "out_activation", "coefs": [layer i: units[i]
 * rows of units[i+1] numbers], "intercepts": [layer i: units[i+1] numbers]}.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml.h"
#include "ml/mlp_int.h"

static const ef_ml_param mlp_params[] = {
    {"hidden_layer_sizes", EF_ML_PINTLIST, "(100,)", 0, NULL,
     "units per hidden layer, e.g. 500 or 100,50"},
    {"activation", EF_ML_PSTRING, "relu", 0, "identity|logistic|tanh|relu",
     "activation of the hidden layers"},
    {"solver", EF_ML_PSTRING, "adam", 0, "lbfgs|sgd|adam",
     "adam or sgd (lbfgs is not available in edgeflow)"},
    {"alpha", EF_ML_PDOUBLE, "0.0001", 0, NULL, "L2 penalty strength, >= 0"},
    {"batch_size", EF_ML_PSTRING, "auto", 0, NULL,
     "minibatch size: auto = min(200, n_samples), or a positive integer"},
    {"learning_rate", EF_ML_PSTRING, "constant", 0, "constant|invscaling|adaptive",
     "learning-rate schedule of the sgd solver"},
    {"learning_rate_init", EF_ML_PDOUBLE, "0.001", 0, NULL, "initial step size, > 0"},
    {"power_t", EF_ML_PDOUBLE, "0.5", 0, NULL, "exponent of the invscaling schedule (sgd)"},
    {"max_iter", EF_ML_PINT, "200", 0, NULL, "maximum number of epochs"},
    {"shuffle", EF_ML_PBOOL, "True", 0, NULL, "shuffle the samples every epoch"},
    {"random_state", EF_ML_PINT, "None", 1, NULL,
     "seed (0 .. 2^32-1) of the weight initialisation, shuffling and validation split; None = "
     "a fresh seed, recorded in fit_info.random_state_used"},
    {"tol", EF_ML_PDOUBLE, "0.0001", 0, NULL,
     "improvement of the loss (or validation score) that counts as progress"},
    {"verbose", EF_ML_PBOOL, "False", 0, NULL, "print the loss of every epoch on stderr"},
    {"warm_start", EF_ML_PBOOL, "False", 0, NULL,
     "accepted for compatibility; every edgeflow fit starts from a fresh initialisation"},
    {"momentum", EF_ML_PDOUBLE, "0.9", 0, NULL, "momentum of the sgd solver, in [0, 1]"},
    {"nesterovs_momentum", EF_ML_PBOOL, "True", 0, NULL, "Nesterov momentum (sgd)"},
    {"early_stopping", EF_ML_PBOOL, "False", 0, NULL,
     "hold out validation_fraction of the data and stop when its score stops improving"},
    {"validation_fraction", EF_ML_PDOUBLE, "0.1", 0, NULL,
     "fraction held out for early stopping, in (0, 1)"},
    {"beta_1", EF_ML_PDOUBLE, "0.9", 0, NULL, "adam: decay of the first moment, in [0, 1)"},
    {"beta_2", EF_ML_PDOUBLE, "0.999", 0, NULL, "adam: decay of the second moment, in [0, 1)"},
    {"epsilon", EF_ML_PDOUBLE, "1e-08", 0, NULL, "adam: numerical stability term, > 0"},
    {"n_iter_no_change", EF_ML_PINT, "10", 0, NULL,
     "epochs without tol improvement before stopping"},
    {"max_fun", EF_ML_PINT, "15000", 0, NULL, "lbfgs only (not available)"},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* ---- the network ---- */

int mlp__net_init(mlp__net *net, const size_t *units, size_t n_units, mlp__act act,
                  mlp__act out_act)
{
    memset(net, 0, sizeof *net);
    net->act = act;
    net->out_act = out_act;
    if (n_units < 2) return EF_EINVAL;
    net->n_layers = n_units - 1;
    net->units = malloc(n_units * sizeof *net->units);
    net->w_off = malloc(net->n_layers * sizeof *net->w_off);
    net->b_off = malloc(net->n_layers * sizeof *net->b_off);
    if (!net->units || !net->w_off || !net->b_off) goto nomem;
    memcpy(net->units, units, n_units * sizeof *units);
    size_t off = 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        size_t a = units[i], b = units[i + 1];
        if (a == 0 || b == 0 || a > SIZE_MAX / 8 / b || off > SIZE_MAX / 8 - a * b) goto toobig;
        net->w_off[i] = off;
        off += a * b;
    }
    net->n_coefs = off;
    for (size_t i = 0; i < net->n_layers; i++) {
        if (off > SIZE_MAX / 8 - units[i + 1]) goto toobig;
        net->b_off[i] = off;
        off += units[i + 1];
    }
    net->n_params = off;
    net->params = calloc(off, sizeof *net->params);
    if (!net->params) goto nomem;
    return EF_OK;
nomem:
    mlp__net_release(net);
    return EF_ENOMEM;
toobig:
    mlp__net_release(net);
    return EF_ETOOBIG;
}

void mlp__net_release(mlp__net *net)
{
    if (!net) return;
    free(net->units);
    free(net->w_off);
    free(net->b_off);
    free(net->params);
    memset(net, 0, sizeof *net);
}

static const char *const act_names[] = {"identity", "logistic", "tanh", "relu", "softmax"};

int mlp__act_parse(const char *name)
{
    for (int i = 0; name && i < (int)(sizeof act_names / sizeof *act_names); i++)
        if (!strcmp(act_names[i], name)) return i;
    return -1;
}

const char *mlp__act_name(mlp__act a)
{
    return act_names[a];
}

/* In-place activation of a rows x cols block (scikit-learn's ACTIVATIONS). */
static void activate(mlp__act a, double *z, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    switch (a) {
    case MLP_IDENTITY:
        break;
    case MLP_LOGISTIC:
        for (size_t i = 0; i < n; i++)
            z[i] = 1.0 / (1.0 + exp(-z[i])); /* scipy.special.expit */
        break;
    case MLP_TANH:
        for (size_t i = 0; i < n; i++)
            z[i] = tanh(z[i]);
        break;
    case MLP_RELU:
        for (size_t i = 0; i < n; i++)
            z[i] = z[i] > 0 ? z[i] : 0.0;
        break;
    case MLP_SOFTMAX:
        for (size_t r = 0; r < rows; r++) {
            double *row = z + r * cols, mx = row[0], sum = 0;
            for (size_t c = 1; c < cols; c++)
                mx = row[c] > mx ? row[c] : mx;
            for (size_t c = 0; c < cols; c++) {
                row[c] = exp(row[c] - mx);
                sum += row[c];
            }
            for (size_t c = 0; c < cols; c++)
                row[c] /= sum;
        }
        break;
    }
}

void mlp__layer_forward(const mlp__net *net, size_t layer, const double *in, size_t rows,
                        double *out)
{
    size_t fi = net->units[layer], fo = net->units[layer + 1];
    const double *w = net->params + net->w_off[layer];
    const double *restrict b = net->params + net->b_off[layer];
    mlp__act a = layer + 1 == net->n_layers ? net->out_act : net->act;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)fo, (int)fi, 1.0, in,
                (int)fi, w, (int)fo, 0.0, out, (int)fo);
    /* bias, fused with relu (the common case) so the block is walked once */
    for (size_t r = 0; r < rows; r++) {
        double *restrict o = out + r * fo;
        if (a == MLP_RELU) {
            for (size_t c = 0; c < fo; c++) {
                double z = o[c] + b[c];
                o[c] = z > 0 ? z : 0.0;
            }
        } else {
            for (size_t c = 0; c < fo; c++)
                o[c] += b[c];
        }
    }
    if (a != MLP_RELU) activate(a, out, rows, fo);
}

/* Rows per forward block: small enough that the two scratch buffers stay in the heap instead of
 * fresh mmap pages faulted in on every call (that cost more than the products), large enough
 * for dgemm to run at full speed. */
#define PREDICT_BLOCK 128

int mlp__predict_raw(const mlp__net *net, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    size_t n_out = net->units[net->n_layers], widest = 0;
    for (size_t i = 1; i < net->n_layers; i++)
        widest = net->units[i] > widest ? net->units[i] : widest;
    int rc = ef_mat_init(out, X->rows, n_out);
    if (rc) return ef_ml_errf(err, rc, "out of memory predicting %zu rows", X->rows);
    double *buf[2] = {NULL, NULL};
    size_t block = X->rows < PREDICT_BLOCK ? X->rows : PREDICT_BLOCK;
    if (widest && (!(buf[0] = malloc(block * widest * sizeof(double))) ||
                   !(buf[1] = malloc(block * widest * sizeof(double))))) {
        free(buf[0]);
        ef_mat_release(out);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory predicting %zu rows", X->rows);
    }
    for (size_t r0 = 0; r0 < X->rows; r0 += block) {
        size_t rows = X->rows - r0 < block ? X->rows - r0 : block;
        const double *in = X->v + r0 * X->cols;
        for (size_t l = 0; l < net->n_layers; l++) {
            double *dst = l + 1 == net->n_layers ? out->v + r0 * n_out : buf[l & 1];
            mlp__layer_forward(net, l, in, rows, dst);
            in = dst;
        }
    }
    free(buf[0]);
    free(buf[1]);
    return EF_OK;
}

/* ---- the estimator interface ---- */

static int mlp_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    const mlp__net *net = e->state;
    ef_mat raw;
    int rc = mlp__predict_raw(net, X, &raw, err);
    if (rc) return rc;
    size_t k = raw.cols;
    for (size_t i = 0; i < X->rows; i++) {
        const double *row = raw.v + i * k;
        if (e->type->task == EF_ML_REGRESSOR) {
            out[i] = row[0];
        } else if (k == 1) {
            out[i] = e->classes[row[0] > 0.5];
        } else {
            size_t best = 0;
            for (size_t c = 1; c < k; c++)
                if (row[c] > row[best]) best = c;
            out[i] = e->classes[best];
        }
    }
    ef_mat_release(&raw);
    return EF_OK;
}

static int mlp_predict_proba(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    const mlp__net *net = e->state;
    int rc = mlp__predict_raw(net, X, out, err);
    if (rc || out->cols != 1) return rc;
    ef_mat two;
    if ((rc = ef_mat_init(&two, X->rows, 2))) {
        ef_mat_release(out);
        return ef_ml_errf(err, rc, "out of memory predicting %zu rows", X->rows);
    }
    for (size_t i = 0; i < X->rows; i++) {
        two.v[2 * i] = 1 - out->v[i];
        two.v[2 * i + 1] = out->v[i];
    }
    ef_mat_release(out);
    *out = two;
    return EF_OK;
}

static void mlp_release(ef_estimator *e)
{
    mlp__net_release(e->state);
    free(e->state);
    e->state = NULL;
}

static int mlp_save(const ef_estimator *e, json_t *w, const char *dir, ef_ml_err *err)
{
    (void)dir;
    const mlp__net *net = e->state;
    json_t *coefs = json_array(), *icpts = json_array();
    int bad = !coefs || !icpts;
    for (size_t l = 0; !bad && l < net->n_layers; l++) {
        ef_mat m = {net->units[l], net->units[l + 1], net->params + net->w_off[l]};
        bad |= json_array_append_new(coefs, ef_ml_json_mat(&m));
        bad |= json_array_append_new(
            icpts, ef_ml_json_vec(net->params + net->b_off[l], net->units[l + 1]));
    }
    bad |= json_object_set_new(w, "activation", json_string(mlp__act_name(net->act)));
    bad |= json_object_set_new(w, "out_activation", json_string(mlp__act_name(net->out_act)));
    bad |= json_object_set_new(w, "coefs", coefs);
    bad |= json_object_set_new(w, "intercepts", icpts);
    return bad ? ef_ml_errf(err, EF_ENOMEM, "out of memory writing the MLP weights") : EF_OK;
}

static int mlp_load(ef_estimator *e, const json_t *w, const char *dir, ef_ml_err *err)
{
    (void)dir;
    const json_t *coefs = json_object_get(w, "coefs"), *icpts = json_object_get(w, "intercepts");
    int act = mlp__act_parse(json_string_value(json_object_get(w, "activation")));
    int out_act = mlp__act_parse(json_string_value(json_object_get(w, "out_activation")));
    size_t n_out = e->type->task == EF_ML_REGRESSOR ? 1 : e->n_classes == 2 ? 1 : e->n_classes;
    mlp__act want_out = e->type->task == EF_ML_REGRESSOR ? MLP_IDENTITY
                        : e->n_classes == 2              ? MLP_LOGISTIC
                                                         : MLP_SOFTMAX;
    if (act < 0 || act == MLP_SOFTMAX)
        return ef_ml_errf(
            err, EF_EINVAL,
            "model.json: weights.activation must be identity, logistic, tanh or relu");
    if (out_act != (int)want_out)
        return ef_ml_errf(err, EF_EINVAL, "model.json: weights.out_activation must be \"%s\" here",
                          mlp__act_name(want_out));
    size_t n_layers = json_array_size(coefs);
    if (!json_is_array(coefs) || n_layers == 0 || !json_is_array(icpts) ||
        json_array_size(icpts) != n_layers)
        return ef_ml_errf(err, EF_EINVAL,
                          "model.json: weights.coefs and weights.intercepts must be arrays with "
                          "one entry per layer");
    size_t *units = malloc((n_layers + 1) * sizeof *units);
    mlp__net *net = calloc(1, sizeof *net);
    int rc = EF_ENOMEM;
    if (!units || !net) {
        ef_ml_errf(err, rc, "out of memory");
        goto out;
    }
    units[0] = e->n_features;
    rc = EF_EINVAL;
    for (size_t l = 0; l < n_layers; l++) {
        const json_t *m = json_array_get(coefs, l);
        units[l + 1] = json_array_size(json_array_get(m, 0));
        if (json_array_size(m) != units[l] || units[l + 1] == 0) {
            ef_ml_errf(err, rc,
                       "model.json: weights.coefs[%zu] must be %zu rows (the previous layer's "
                       "units) of equal, nonzero length",
                       l, units[l]);
            goto out;
        }
    }
    if (units[n_layers] != n_out) {
        ef_ml_errf(err, rc, "model.json: the last layer has %zu outputs, this model needs %zu",
                   units[n_layers], n_out);
        goto out;
    }
    if ((rc = mlp__net_init(net, units, n_layers + 1, (mlp__act)act, (mlp__act)out_act))) {
        ef_ml_errf(err, rc, "model.json: the MLP is too large to load");
        goto out;
    }
    for (size_t l = 0; l < n_layers; l++) {
        char what[64];
        const json_t *m = json_array_get(coefs, l);
        for (size_t r = 0; r < units[l]; r++) {
            snprintf(what, sizeof what, "weights.coefs[%zu][%zu]", l, r);
            if ((rc = ef_ml_json_get_vec(json_array_get(m, r),
                                         net->params + net->w_off[l] + r * units[l + 1],
                                         units[l + 1], what, err)))
                goto out;
        }
        snprintf(what, sizeof what, "weights.intercepts[%zu]", l);
        if ((rc = ef_ml_json_get_vec(json_array_get(icpts, l), net->params + net->b_off[l],
                                     units[l + 1], what, err)))
            goto out;
    }
    e->state = net;
    net = NULL;
out:
    if (net) {
        mlp__net_release(net);
        free(net);
    }
    free(units);
    return rc;
}

const ef_ml_type ef_ml_mlp_classifier = {
    .name = "mlp_classifier",
    .sklearn_class = "sklearn.neural_network.MLPClassifier",
    .task = EF_ML_CLASSIFIER,
    .params = mlp_params,
    .fit = mlp__fit,
    .predict = mlp_predict,
    .predict_proba = mlp_predict_proba,
    .save = mlp_save,
    .load = mlp_load,
    .release = mlp_release,
};

const ef_ml_type ef_ml_mlp_regressor = {
    .name = "mlp_regressor",
    .sklearn_class = "sklearn.neural_network.MLPRegressor",
    .task = EF_ML_REGRESSOR,
    .params = mlp_params,
    .fit = mlp__fit,
    .predict = mlp_predict,
    .predict_proba = NULL,
    .save = mlp_save,
    .load = mlp_load,
    .release = mlp_release,
};
