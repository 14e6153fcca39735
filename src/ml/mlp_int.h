/* mlp_int.h - internals shared by mlp.c (types, prediction, model.json) and mlp_train.c (the
 * stochastic solvers) of the MLPClassifier / MLPRegressor implementation.
 *
 * The network keeps every parameter in one buffer in scikit-learn's order: all layers' coefs
 * (layer i is units[i] x units[i+1], row-major, i.e. sklearn's coefs_[i]), then all layers'
 * intercepts (units[i+1] each). The optimisers then update one flat array.
 */
#ifndef EF_ML_MLP_INT_H
#define EF_ML_MLP_INT_H

#include <stddef.h>

#include "ml/ml.h"

typedef enum {
    MLP_IDENTITY,
    MLP_LOGISTIC,
    MLP_TANH,
    MLP_RELU,
    MLP_SOFTMAX, /* output layer only */
} mlp__act;

typedef struct mlp__net {
    size_t n_layers; /* weight layers (hidden layers + 1) */
    size_t *units;   /* n_layers + 1 sizes: n_features, hidden sizes..., n_outputs */
    size_t *w_off;   /* n_layers offsets of the coefs in params */
    size_t *b_off;   /* n_layers offsets of the intercepts in params */
    size_t n_coefs;  /* params[0 .. n_coefs) are coefs, the rest intercepts */
    size_t n_params;
    double *params;
    mlp__act act;     /* hidden layers */
    mlp__act out_act; /* output layer */
} mlp__net;

/* Sets up net for the given layer sizes (n_units = n_layers + 1 >= 2 entries) with zeroed
 * parameters. EF_ENOMEM / EF_ETOOBIG; net is then released. */
int mlp__net_init(mlp__net *net, const size_t *units, size_t n_units, mlp__act act,
                  mlp__act out_act);
void mlp__net_release(mlp__net *net);

/* "relu" -> MLP_RELU ...; -1 for an unknown name. mlp__act_name is the inverse. */
int mlp__act_parse(const char *name);
const char *mlp__act_name(mlp__act a);

/* out (rows x units[layer+1]) = act(in . coefs[layer] + intercepts[layer]) with the hidden
 * activation, or the output activation for the last layer. in is rows x units[layer]. */
void mlp__layer_forward(const mlp__net *net, size_t layer, const double *in, size_t rows,
                        double *out);

/* The network's output for every row of X: out (initialised by the callee) is
 * X->rows x n_outputs. Works through X in blocks to bound memory. EF_ENOMEM. */
int mlp__predict_raw(const mlp__net *net, const ef_mat *X, ef_mat *out, ef_ml_err *err);

/* ---- minibatch steps (mlp_batch.c) ---- */

/* How one minibatch step updates the parameters. */
typedef struct mlp__step {
    int adam;                       /* else sgd */
    double alpha;                   /* L2 penalty */
    double lr;                      /* adam: this step's bias-corrected rate; sgd: the rate */
    double beta_1, beta_2, epsilon; /* adam */
    double momentum;                /* sgd */
    int nesterov;                   /* sgd */
} mlp__step;

typedef struct mlp__trainer mlp__trainer;

/* Work buffers, optimiser state (zeroed) and a team of worker threads for minibatch steps of up
 * to bs rows on net (which must outlive the trainer). The team has one worker per CPU (at most 8;
 * env EF_ML_THREADS overrides), or only the calling thread for small networks. While a team of
 * more than one runs, OpenBLAS is set to one thread (process-wide; restored by _free). EF_ENOMEM.
 */
int mlp__trainer_new(mlp__trainer **out, mlp__net *net, size_t bs, int adam);
void mlp__trainer_free(mlp__trainer *t);
size_t mlp__trainer_workers(const mlp__trainer *t);
/* One minibatch: rows idx[0..B) of X with targets ytab[idx[i] * n_outputs ...]: forward pass,
 * loss, backprop, one optimiser step. Returns the batch loss including the L2 term
 * 0.5 * alpha * |W|^2 / B, like scikit-learn's _backprop. */
double mlp__trainer_step(mlp__trainer *t, const ef_mat *X, const double *ytab, const size_t *idx,
                         size_t B, const mlp__step *s);

/* The solvers (mlp_train.c): fit for both MLP types (see ef_ml_type.fit). */
int mlp__fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx, ef_ml_err *err);

#endif
