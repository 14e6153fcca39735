/* predict.c - `edgeflow predict`: batch inference of a CSV with a model directory or a
 * registered model (models:/name/stage|version, models:/name@alias, resolved through the tracking
 * server and cached locally). Input columns are matched to the model's features by name, so
 * extra columns (the target, ids) are ignored and the order does not matter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/log.h"
#include "json/json.h"
#include "ml/dataset.h"
#include "ml/model.h"
#include "ml/train.h"
#include "tracking/client.h"

/* Downloads models:/... into cache_dir/<name>/<version> (kept for later runs) and returns the
 * local directory in out. */
static int fetch_registered(const ef_predict_opts *o, char *out, size_t len, ef_ml_err *err)
{
    ef_tc_error e;
    ef_tc_options topt = {.tracking_uri = o->tracking_uri};
    ef_tc *tc = ef_tc_new(&topt, &e);
    if (!tc)
        return ef_ml_errf(err, EF_EINVAL, "%s needs a tracking server (--tracking-uri or "
                          "MLFLOW_TRACKING_URI): %s", o->model, e.message);
    ef_tc_model_version mv = {0};
    int rc = ef_tc_model_resolve(tc, o->model, &mv, &e);
    if (rc) {
        ef_tc_free(tc);
        return ef_ml_errf(err, rc, "cannot resolve %s: %s", o->model, e.message);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s/%s", o->cache_dir, mv.name, mv.version);
    snprintf(out, len, "%s", dir);
    if (!ef_fs_exists(dir)) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp-%d", dir, (int)getpid());
        ef_fs_rm_rf(tmp);
        rc = ef_fs_mkdir_p(tmp);
        if (rc)
            rc = ef_ml_errf(err, EF_EIO, "cannot create %s: %s", tmp, strerror(errno));
        if (!rc && (rc = ef_tc_artifacts_download(tc, mv.download_uri ? mv.download_uri : mv.source, "", tmp, &e)))
            rc = ef_ml_errf(err, rc, "cannot download %s: %s", o->model, e.message);
        if (!rc && rename(tmp, dir))
            rc = ef_ml_errf(err, EF_EIO, "cannot move the model into %s: %s", dir, strerror(errno));
        if (rc)
            ef_fs_rm_rf(tmp);
    }
    ef_tc_model_version_release(&mv);
    ef_tc_free(tc);
    return rc;
}

static int write_csv(const ef_predict_opts *o, const ef_model *m, const double *pred,
                     const ef_mat *proba, size_t n, ef_ml_err *err)
{
    ef_buf b = {0};
    char label[256];
    int rc = ef_buf_appends(&b, "prediction");
    for (size_t k = 0; !rc && proba && k < proba->cols; k++) {
        ef_buf_appends(&b, ",proba_");
        const char *l = ef_model_label(m, m->est->classes[k], label, sizeof label);
        rc = ef_buf_append_csv_field(&b, l, strlen(l));
    }
    ef_buf_appendc(&b, '\n');
    for (size_t i = 0; !rc && i < n; i++) {
        const char *l = ef_model_label(m, pred[i], label, sizeof label);
        rc = ef_buf_append_csv_field(&b, l, strlen(l));
        for (size_t k = 0; !rc && proba && k < proba->cols; k++) {
            char num[EF_JSON_DOUBLE_MAX];
            ef_json_format_double(EF_MAT_AT(proba, i, k), num, sizeof num);
            rc = ef_buf_appendf(&b, ",%s", num);
        }
        if (!rc)
            rc = ef_buf_appendc(&b, '\n');
    }
    if (rc) {
        ef_buf_release(&b);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    if (!o->output || !strcmp(o->output, "-")) {
        if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len)
            rc = ef_ml_errf(err, EF_EIO, "cannot write to stdout: %s", strerror(errno));
        fflush(stdout);
    } else if (ef_fs_write_atomic(o->output, b.data ? b.data : "", b.len, 0)) {
        rc = ef_ml_errf(err, EF_EIO, "cannot write %s: %s", o->output, strerror(errno));
    }
    ef_buf_release(&b);
    return rc;
}

int ef_predict_run(const ef_predict_opts *o, ef_ml_err *err)
{
    char dir[4096];
    int rc;
    if (!strncmp(o->model, "models:/", 8)) {
        if ((rc = fetch_registered(o, dir, sizeof dir, err)))
            return rc;
    } else {
        snprintf(dir, sizeof dir, "%s", o->model);
    }
    ef_model *m = NULL;
    ef_dataset ds = {0};
    ef_mat *X = NULL, proba = {0};
    double *pred = NULL;
    if ((rc = ef_model_load(dir, &m, err)))
        return rc;
    /* only the model's columns are parsed: other columns may hold text (ids, labels) */
    ef_dataset_opts dopt = {.columns = (const char *const *)m->feature_names,
                            .n_columns = m->est->n_features};
    if ((rc = ef_dataset_load(o->data, &dopt, &ds, err)))
        goto out;
    if ((rc = ef_dataset_check_finite(&ds, err))) {
        ef_ml_err_prefix(err, rc, o->data);
        goto out;
    }
    /* the dataset's columns are exactly the model's features, in order */
    X = &ds.X;
    pred = malloc((X->rows ? X->rows : 1) * sizeof *pred);
    if (!pred) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ef_model_predict(m, X, pred, err)))
        goto out;
    if (o->proba && (rc = ef_estimator_predict_proba(m->est, X, &proba, err)))
        goto out;
    rc = write_csv(o, m, pred, o->proba ? &proba : NULL, X->rows, err);
    if (!rc)
        EF_INFO("scored %zu rows of %s with %s", X->rows, o->data, o->model);
out:
    free(pred);
    ef_mat_release(&proba);
    ef_dataset_release(&ds);
    ef_model_free(m);
    return rc;
}
