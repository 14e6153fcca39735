/* cmd_predict.c - `edgeflow predict`: options -> ef_predict_run (ml/train.h). */
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "cli/commands.h"
#include "config/config.h"
#include "ml/train.h"

static const char *o_model, *o_data, *o_output, *o_tracking_uri, *o_cache;
static int o_proba;

static const ef_opt opts[] = {
    {"model", EF_OPT_STR, &o_model, "DIR|URI",
     "a model directory, or models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS"},
    {"data", EF_OPT_STR, &o_data, "CSV",
     "rows to score: a CSV with a header holding the model's feature columns (by name)"},
    {"output", EF_OPT_STR, &o_output, "CSV", "where to write the predictions (default: stdout)"},
    {"proba", EF_OPT_BOOL, &o_proba, NULL, "classifiers: add a proba_<class> column per class"},
    {"tracking-uri", EF_OPT_STR, &o_tracking_uri, "URL",
     "tracking server for models:/ URIs (default $MLFLOW_TRACKING_URI)"},
    {"cache-dir", EF_OPT_STR, &o_cache, "DIR",
     "where downloaded models are kept (default $EDGEFLOW_HOME/models)"},
    {0},
};

const ef_command ef_cmd_predict_spec = {
    "predict",
    "score a CSV with a trained model (batch inference)",
    "edgeflow predict --model DIR|models:/NAME/STAGE --data FILE.csv [--output OUT.csv]",
    "Writes a CSV with a `prediction` column (class labels for classifiers), one row per input\n"
    "row, in order. The model's preprocessing (e.g. L2 row normalisation) is applied first.\n"
    "\n"
    "Exit status: 0 scored; 1 failed (one line on stderr says why); 2 bad usage.",
    opts,
};

int ef_cmd_predict(int argc, char **argv)
{
    int rc = ef_config_parse(&ef_cmd_predict_spec, argc, argv, NULL);
    if (rc != EF_CONFIG_RUN)
        return rc == EF_CONFIG_EXIT_OK ? 0 : 2;
    ef_log_set_tag("predict");
    if (!o_model || !o_data) {
        fprintf(stderr, "edgeflow predict: --model and --data are required\n");
        return 2;
    }
    char cache[4096];
    if (!o_cache) {
        ef_config_default_models(cache, sizeof cache);
        o_cache = cache;
    }
    ef_predict_opts o = {
        .model = o_model,
        .data = o_data,
        .output = o_output,
        .proba = o_proba,
        .tracking_uri = o_tracking_uri ? o_tracking_uri : getenv("MLFLOW_TRACKING_URI"),
        .cache_dir = o_cache,
    };
    ef_ml_err err = {{0}};
    rc = ef_predict_run(&o, &err);
    if (rc)
        fprintf(stderr, "edgeflow predict: %s\n", err.msg);
    return rc ? 1 : 0;
}
