/* cmd_train.c - `edgeflow train ESTIMATOR`: options -> ef_train_run (ml/train.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sig.h"
#include "cli/commands.h"
#include "ml/train.h"

static const char *o_data, *o_test_data, *o_target, *o_features, *o_normalize, *o_output;
static const char *o_tracking_uri, *o_experiment, *o_run_name, *o_register, *o_best_metric;
static ef_strlist o_drop, o_param, o_grid;
static double o_test_size = 0.25;
static int64_t o_seed = 42, o_cv;
static int o_shuffle = 1, o_scale, o_overwrite, o_progress = -1, o_list;

static const ef_opt opts[] = {
    {"data", EF_OPT_STR, &o_data, "CSV", "training data: a CSV with a header (, ; or tab)"},
    {"target", EF_OPT_STR, &o_target, "COLUMN", "the column to predict (required)"},
    {"drop", EF_OPT_LIST, &o_drop, "COLUMN", "leave this column out (repeatable)"},
    {"features", EF_OPT_STR, &o_features, "SPEC",
     "feature columns: names and 0-based python slices, e.g. '2:' or 'a,b,5:9' (default: all "
     "but the target and dropped ones)"},
    {"test-data", EF_OPT_STR, &o_test_data, "CSV",
     "a separate held-out CSV (default: split --data with --test-size)"},
    {"test-size", EF_OPT_DOUBLE, &o_test_size, "F",
     "held-out part: a fraction in (0,1) or a row count (default 0.25, like train_test_split)"},
    {"seed", EF_OPT_INT, &o_seed, "N", "random_state of the split (default 42)"},
    {"shuffle", EF_OPT_BOOL, &o_shuffle, NULL, "shuffle before splitting (default on)"},
    {"cv", EF_OPT_INT, &o_cv, "K",
     "K-fold cross_val_score on the training part (StratifiedKFold for classifiers; default off)"},
    {"normalize", EF_OPT_STR, &o_normalize, "l2", "normalise each row to unit L2 norm"},
    {"standard-scale", EF_OPT_BOOL, &o_scale, NULL,
     "standardise features with the training part's mean and std (default off)"},
    {"param", EF_OPT_LIST, &o_param, "NAME=VALUE",
     "estimator hyper-parameter, scikit-learn's name (repeatable; see --list)"},
    {"grid", EF_OPT_LIST, &o_grid, "NAME=V1,V2",
     "search these values (repeatable: the cartesian product; use | between values that "
     "contain commas); one child run each, the best is marked"},
    {"best-metric", EF_OPT_STR, &o_best_metric, "NAME",
     "grid: the test metric that picks the best (default rmse, or accuracy for classifiers)"},
    {"output", EF_OPT_STR, &o_output, "DIR", "write the (best) model directory here"},
    {"overwrite", EF_OPT_BOOL, &o_overwrite, NULL, "replace an existing --output directory"},
    {"tracking-uri", EF_OPT_STR, &o_tracking_uri, "URL",
     "MLflow-compatible tracking server (default $MLFLOW_TRACKING_URI; none: offline)"},
    {"experiment", EF_OPT_STR, &o_experiment, "NAME",
     "experiment name, created when missing (default $MLFLOW_EXPERIMENT_NAME or Default)"},
    {"run-name", EF_OPT_STR, &o_run_name, "NAME", "name of the run (grid: of the parent run)"},
    {"register-model", EF_OPT_STR, &o_register, "NAME",
     "register the (best) model as a new version of NAME"},
    {"progress", EF_OPT_BOOL, &o_progress, NULL,
     "progress bar on stderr (default: when stderr is a terminal)"},
    {"list", EF_OPT_BOOL, &o_list, NULL, "list the estimators and their parameters, then exit"},
    {0},
};

const ef_command ef_cmd_train_spec = {
    "train",
    "fit an estimator on a CSV, score it, log it to a tracking server, register the model",
    "edgeflow train ESTIMATOR --data FILE.csv --target COLUMN [--param NAME=VALUE ...] [options]",
    "Estimators (scikit-learn 1.2's defaults and results): elasticnet, lasso, ridge,\n"
    "linear_regression, logistic_regression, lda, mlp_classifier, mlp_regressor, and xgboost /\n"
    "xgboost_classifier (libxgboost). `edgeflow train --list` shows every parameter; XGBoost's\n"
    "own names (max_bin, nthread, ...) also pass through --param.\n"
    "\n"
    "The data is split like train_test_split(data, test_size, random_state=seed), so the same\n"
    "seed selects the same rows as a notebook. Test metrics: rmse, mae, r2 (regressors) or\n"
    "accuracy, precision/recall/f1_macro, log_loss (classifiers); with --cv K also cv_score per\n"
    "fold and cv_score_mean/std. With a tracking server (MLflow REST: `edgeflow server` or MLflow)\n"
    "each fit is a run with its params, metrics, the data set as a run input and the model\n"
    "directory as the `model` artifact; --grid makes a parent run with one child run per\n"
    "combination. --output DIR writes the model directory without any server.\n"
    "\n"
    "Example:\n"
    "  edgeflow train elasticnet --data winequality-red.csv --target quality \\\n"
    "    --param alpha=0.5 --param l1_ratio=0.5 --experiment SkLearnWineQuality \\\n"
    "    --register-model WineQuality\n"
    "\n"
    "Exit status: 0 trained; 1 failed (one line on stderr says why); 2 bad usage.",
    opts,
};

static void list_estimators(void)
{
    for (const ef_ml_type *const *t = ef_ml_types(); *t; t++) {
        printf("%s  (%s, %s)\n", (*t)->name, (*t)->sklearn_class,
               (*t)->task == EF_ML_CLASSIFIER ? "classifier" : "regressor");
        for (const ef_ml_param *p = (*t)->params; p && p->name; p++)
            printf("    %-22s default %-10s %s\n", p->name, p->def, p->help ? p->help : "");
    }
}

int ef_cmd_train(int argc, char **argv)
{
    ef_strlist pos;
    ef_strlist_init(&pos);
    int rc = ef_config_parse(&ef_cmd_train_spec, argc, argv, &pos);
    if (rc != EF_CONFIG_RUN) {
        ef_strlist_release(&pos);
        return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    }
    ef_log_set_tag("train");
    if (o_list) {
        list_estimators();
        ef_strlist_release(&pos);
        return 0;
    }
    const char *why = NULL;
    if (pos.n != 1)
        why = "give exactly one ESTIMATOR (see `edgeflow train --list`)";
    else if (!o_data)
        why = "--data is required";
    else if (!o_target)
        why = "--target is required";
    else if (o_seed < 0 || o_seed > 4294967295LL)
        why = "--seed must be in 0..4294967295";
    else if (!(o_test_size > 0))
        why = "--test-size must be a fraction in (0,1) or a row count";
    else if (o_cv < 0 || o_cv > 100)
        why = "--cv must be 0..100";
    if (why) {
        fprintf(stderr, "edgeflow train: %s\n", why);
        ef_strlist_release(&pos);
        return 2;
    }
    ef_sig_install();
    ef_train_opts o = {
        .estimator = pos.v[0],
        .data = o_data,
        .test_data = o_test_data,
        .target = o_target,
        .drop = (const char *const *)o_drop.v,
        .n_drop = o_drop.n,
        .features = o_features,
        .params = (const char *const *)o_param.v,
        .n_params = o_param.n,
        .grid = (const char *const *)o_grid.v,
        .n_grid = o_grid.n,
        .test_size = o_test_size,
        .seed = (uint32_t)o_seed,
        .shuffle = o_shuffle,
        .cv = (int)o_cv,
        .normalize = o_normalize,
        .standard_scale = o_scale,
        .output = o_output,
        .overwrite = o_overwrite,
        .tracking_uri = o_tracking_uri ? o_tracking_uri : getenv("MLFLOW_TRACKING_URI"),
        .experiment = o_experiment ? o_experiment : getenv("MLFLOW_EXPERIMENT_NAME"),
        .run_name = o_run_name,
        .register_model = o_register,
        .best_metric = o_best_metric,
        .progress = o_progress < 0 ? isatty(2) : o_progress,
    };
    ef_ml_err err = {{0}};
    rc = ef_train_run(&o, &err);
    if (rc)
        fprintf(stderr, "edgeflow train: %s\n", err.msg);
    ef_strlist_release(&pos);
    ef_strlist_release(&o_drop);
    ef_strlist_release(&o_param);
    ef_strlist_release(&o_grid);
    return rc ? 1 : 0;
}
