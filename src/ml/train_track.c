/* train_track.c - what `edgeflow train` reports to an MLflow-compatible tracking server, in the
 * shapes MLflow's own clients produce: params as Python's str() of the value, the test metrics
 * under the names the reference notebook uses, cross-validation scores per fold (step = fold),
 * the loss curve per epoch, the training file as a run input (mlflow.data), the model directory
 * as the run's `model` artifact plus runs/log-model, and a registered model version. A grid is a
 * parent run with one child run per combination (tag mlflow.parentRunId); the best child is
 * tagged and its metrics are copied to the parent. */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "json/json.h"
#include "ml/train_int.h"

static int tc_fail(ef_ml_err *err, int rc, const char *what, const ef_tc_error *e)
{
    return ef_ml_errf(err, rc, "tracking server: %s failed: %s", what, e->message);
}

int train__track_open(train__job *j, ef_ml_err *err)
{
    const ef_train_opts *o = j->o;
    if (!o->tracking_uri || !*o->tracking_uri) {
        if (o->register_model)
            return ef_ml_errf(err, EF_EINVAL, "--register-model needs a tracking server: set "
                              "--tracking-uri or MLFLOW_TRACKING_URI");
        if (!o->output)
            EF_WARN("no --output and no tracking server: the model will not be kept");
        return EF_OK;
    }
    ef_tc_error e;
    ef_tc_options topt = {.tracking_uri = o->tracking_uri};
    j->tc = ef_tc_new(&topt, &e);
    if (!j->tc)
        return ef_ml_errf(err, EF_EINVAL, "tracking server %s: %s", o->tracking_uri, e.message);
    int rc = ef_tc_experiment_get_or_create(j->tc, o->experiment ? o->experiment : "Default",
                                            &j->experiment_id, &e);
    return rc ? tc_fail(err, rc, "getting the experiment", &e) : EF_OK;
}

/* Python's str() of a parameter value, as MLflow's sklearn integration logs it. */
static void param_text(const json_t *v, char *out, size_t len)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        snprintf(out, len, "None");
        break;
    case JSON_TRUE:
        snprintf(out, len, "True");
        break;
    case JSON_FALSE:
        snprintf(out, len, "False");
        break;
    case JSON_INTEGER:
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        ef_json_format_double(json_real_value(v), out, len);
        break;
    case JSON_STRING:
        snprintf(out, len, "%s", json_string_value(v));
        break;
    case JSON_ARRAY: {
        size_t i, off = 0, n = json_array_size(v);
        json_t *x;
        off += (size_t)snprintf(out, len, "(");
        json_array_foreach(v, i, x) if (off < len) off +=
            (size_t)snprintf(out + off, len - off, "%s%" JSON_INTEGER_FORMAT, i ? ", " : "",
                             json_integer_value(x));
        if (off < len)
            snprintf(out + off, len - off, n == 1 ? ",)" : ")");
        break;
    }
    default:
        snprintf(out, len, "?");
    }
}

/* The first 8 hex digits of the file's SHA-256 (MLflow digests are 8 hex characters). */
static void file_digest(const char *path, char out[9])
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0;
    snprintf(out, 9, "00000000");
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (f && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            EVP_DigestUpdate(ctx, buf, n);
        if (EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen >= 4)
            snprintf(out, 9, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
    }
    EVP_MD_CTX_free(ctx);
    if (f)
        fclose(f);
}

static int log_dataset(train__job *j, const char *run_id, ef_ml_err *err)
{
    const ef_train_opts *o = j->o;
    char digest[9], abs[PATH_MAX], name[256];
    file_digest(o->data, digest);
    if (!realpath(o->data, abs))
        snprintf(abs, sizeof abs, "%s", o->data);
    const char *base = strrchr(o->data, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : o->data);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = 0;
    json_t *cols = json_array();
    for (size_t c = 0; c < j->data.X.cols; c++)
        json_array_append_new(cols, json_pack("{s:s,s:s,s:b}", "type", "double", "name",
                                              j->data.feature_names[c], "required", 1));
    json_array_append_new(cols, json_pack("{s:s,s:s,s:b}", "type", j->data.class_names ? "string" : "double",
                                          "name", o->target, "required", 1));
    json_t *schema = json_pack("{s:o}", "mlflow_colspec", cols);
    json_t *profile = json_pack("{s:I,s:I}", "num_rows", (json_int_t)j->data.X.rows, "num_elements",
                                (json_int_t)(j->data.X.rows * (j->data.X.cols + 1)));
    json_t *source = json_pack("{s:s}", "uri", abs);
    char *schema_s = json_dumps(schema, JSON_COMPACT), *profile_s = json_dumps(profile, JSON_COMPACT),
         *source_s = json_dumps(source, JSON_COMPACT);
    ef_tc_dataset ds = {.name = name, .digest = digest, .source_type = "local", .source = source_s,
                        .schema = schema_s, .profile = profile_s, .context = "training"};
    ef_tc_error e;
    int rc = schema_s && profile_s && source_s ? ef_tc_log_inputs(j->tc, run_id, &ds, 1, &e) : EF_ENOMEM;
    if (rc)
        rc = rc == EF_ENOMEM ? ef_ml_errf(err, rc, "out of memory") : tc_fail(err, rc, "log-inputs", &e);
    free(schema_s);
    free(profile_s);
    free(source_s);
    json_decref(schema);
    json_decref(profile);
    json_decref(source);
    return rc;
}

/* Params of the training job itself (not the estimator's), logged with every run. */
static void job_params(const train__job *j, char vals[][64], ef_tc_tag *p, size_t *n)
{
    const ef_train_opts *o = j->o;
    p[(*n)++] = (ef_tc_tag){"target", o->target};
    if (o->test_data) {
        p[(*n)++] = (ef_tc_tag){"test_data", o->test_data};
    } else {
        ef_json_format_double(o->test_size, vals[0], 64);
        snprintf(vals[1], 64, "%u", o->seed);
        p[(*n)++] = (ef_tc_tag){"test_size", vals[0]};
        p[(*n)++] = (ef_tc_tag){"split_seed", vals[1]};
    }
    if (o->cv) {
        snprintf(vals[2], 64, "%d", o->cv);
        p[(*n)++] = (ef_tc_tag){"cv_folds", vals[2]};
    }
    if (o->normalize)
        p[(*n)++] = (ef_tc_tag){"normalize", o->normalize};
    if (o->standard_scale)
        p[(*n)++] = (ef_tc_tag){"standard_scale", "True"};
}

int train__track_begin(train__job *j, ef_ml_err *err)
{
    if (!j->tc || j->combos == 1)
        return EF_OK;
    char name[256];
    snprintf(name, sizeof name, "%s", j->o->run_name ? j->o->run_name : j->type->name);
    ef_tc_tag tags[] = {{"edgeflow.estimator", j->type->name}, {"estimator_class", j->type->sklearn_class}};
    ef_tc_run_create_opts ro = {.experiment_id = j->experiment_id, .run_name = name,
                                .source_name = "edgeflow train", .tags = tags, .ntags = 2};
    ef_tc_error e;
    int rc = ef_tc_run_create(j->tc, &ro, &j->parent, &e);
    if (rc)
        return tc_fail(err, rc, "creating the parent run", &e);
    char vals[3][64];
    ef_tc_tag params[8];
    size_t np = 0;
    job_params(j, vals, params, &np);
    rc = ef_tc_log_batch(j->tc, j->parent.run_id, NULL, 0, params, np, NULL, 0, &e);
    if (rc)
        return tc_fail(err, rc, "log-batch", &e);
    return log_dataset(j, j->parent.run_id, err);
}

static int log_params_metrics(train__job *j, train__result *r, const char *run_id, ef_ml_err *err)
{
    const json_t *params = r->model->est->params;
    size_t np = json_object_size(params), n = 0;
    ef_tc_tag *p = calloc(np + 8, sizeof *p);
    char (*text)[256] = calloc(np + 1, sizeof *text), vals[3][64];
    size_t cap = TRAIN_MAX_METRICS + TRAIN_MAX_FOLDS + 64 + 4096;
    ef_tc_metric *m = calloc(cap, sizeof *m);
    int rc = p && text && m ? EF_OK : ef_ml_errf(err, EF_ENOMEM, "out of memory");
    if (!rc) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)params, k, v) {
            param_text(v, text[n], sizeof text[n]);
            p[n] = (ef_tc_tag){k, text[n]};
            n++;
        }
        job_params(j, vals, p, &n);
        size_t nm = 0;
        for (size_t i = 0; i < r->n_metrics; i++)
            m[nm++] = (ef_tc_metric){r->metrics[i].name, r->metrics[i].value, 0, 0};
        for (int f = 0; f < j->o->cv; f++)
            m[nm++] = (ef_tc_metric){"cv_score", r->cv[f], 0, f};
        /* fit diagnostics: numbers as fit_<name>, the loss curve per epoch */
        char (*fit_names)[64] = calloc(64, sizeof *fit_names);
        size_t nf = 0;
        const char *k2;
        json_t *v2;
        json_object_foreach(r->model->est->fit_info, k2, v2) {
            if (json_is_number(v2) && fit_names && nf < 64) {
                snprintf(fit_names[nf], 64, "fit_%s", k2);
                m[nm++] = (ef_tc_metric){fit_names[nf++], json_number_value(v2), 0, 0};
            }
        }
        const json_t *curve = json_object_get(r->model->est->fit_info, "loss_curve");
        for (size_t i = 0; i < json_array_size(curve) && nm < cap; i++)
            m[nm++] = (ef_tc_metric){"training_loss", json_number_value(json_array_get(curve, i)), 0,
                                     (int64_t)i};
        ef_tc_error e;
        rc = ef_tc_log_batch(j->tc, run_id, m, nm, p, n, NULL, 0, &e);
        if (rc)
            rc = tc_fail(err, rc, "log-batch", &e);
        free(fit_names);
    }
    free(p);
    free(text);
    free(m);
    return rc;
}

/* Saves the model into a temp dir, uploads it as the run's `model` artifact, calls log-model. */
static int log_model(train__job *j, train__result *r, ef_ml_err *err)
{
    char tmpl[] = "/tmp/edgeflow-model-XXXXXX", dir[64];
    if (!mkdtemp(tmpl))
        return ef_ml_errf(err, EF_EIO, "cannot create a temp dir: %s", strerror(errno));
    snprintf(dir, sizeof dir, "%s/model", tmpl);
    free(r->model->run_id);
    r->model->run_id = strdup(r->run.run_id);
    json_t *mlmodel = NULL;
    int rc = ef_model_save(r->model, dir, 0, &mlmodel, err);
    ef_tc_error e;
    if (!rc) {
        rc = ef_tc_artifacts_upload(j->tc, r->run.artifact_uri, "model", dir, &e);
        if (rc)
            rc = tc_fail(err, rc, "uploading the model", &e);
    }
    if (!rc) {
        char *text = json_dumps(mlmodel, JSON_COMPACT);
        rc = text ? ef_tc_log_model(j->tc, r->run.run_id, text, &e) : EF_ENOMEM;
        if (rc)
            rc = text ? tc_fail(err, rc, "log-model", &e) : ef_ml_errf(err, rc, "out of memory");
        free(text);
    }
    json_decref(mlmodel);
    ef_fs_rm_rf(tmpl);
    return rc;
}

int train__track_result(train__job *j, size_t c, ef_ml_err *err)
{
    if (!j->tc)
        return EF_OK;
    train__result *r = &j->results[c];
    char name[256];
    if (j->combos > 1)
        snprintf(name, sizeof name, "%s-%zu", j->o->run_name ? j->o->run_name : j->type->name, c + 1);
    else
        snprintf(name, sizeof name, "%s", j->o->run_name ? j->o->run_name : "");
    ef_tc_tag tags[] = {{"edgeflow.estimator", j->type->name}, {"estimator_class", j->type->sklearn_class}};
    ef_tc_run_create_opts ro = {.experiment_id = j->experiment_id, .run_name = *name ? name : NULL,
                                .source_name = "edgeflow train",
                                .parent_run_id = j->parent.run_id, .tags = tags, .ntags = 2};
    ef_tc_error e;
    int rc = ef_tc_run_create(j->tc, &ro, &r->run, &e);
    if (rc)
        return tc_fail(err, rc, "creating a run", &e);
    if ((rc = log_params_metrics(j, r, r->run.run_id, err)) || (rc = log_dataset(j, r->run.run_id, err)) ||
        (rc = log_model(j, r, err)))
        return rc;
    rc = ef_tc_run_end(j->tc, r->run.run_id, "FINISHED", &e);
    return rc ? tc_fail(err, rc, "ending the run", &e) : EF_OK;
}

void train__track_fail(train__job *j, size_t c)
{
    if (!j->tc)
        return;
    ef_tc_error e;
    if (j->results && j->results[c].run.run_id)
        ef_tc_run_end(j->tc, j->results[c].run.run_id, "FAILED", &e);
    if (j->parent.run_id)
        ef_tc_run_end(j->tc, j->parent.run_id, "FAILED", &e);
}

static int register_best(train__job *j, ef_ml_err *err)
{
    train__result *b = &j->results[j->best];
    ef_tc_error e;
    int rc = ef_tc_registered_model_create(j->tc, j->o->register_model, &e);
    if (rc && rc != EF_EEXIST)
        return tc_fail(err, rc, "creating the registered model", &e);
    char source[4096];
    snprintf(source, sizeof source, "%s/model", b->run.artifact_uri);
    ef_tc_model_version mv = {0};
    rc = ef_tc_model_version_create(j->tc, j->o->register_model, source, b->run.run_id, 60000, &mv, &e);
    if (rc)
        return tc_fail(err, rc, "creating the model version", &e);
    printf("registered model %s version %s\n", j->o->register_model, mv.version);
    j->model_version = mv.version ? strdup(mv.version) : NULL;
    ef_tc_model_version_release(&mv);
    return EF_OK;
}

int train__track_finish(train__job *j, ef_ml_err *err)
{
    if (!j->tc)
        return EF_OK;
    ef_tc_error e;
    train__result *b = &j->results[j->best];
    int rc = EF_OK;
    if (j->parent.run_id) {
        ef_tc_metric m[TRAIN_MAX_METRICS];
        for (size_t i = 0; i < b->n_metrics; i++)
            m[i] = (ef_tc_metric){b->metrics[i].name, b->metrics[i].value, 0, 0};
        ef_tc_tag tags[] = {{"best_run_id", b->run.run_id}, {"edgeflow.best_metric", j->best_metric}};
        rc = ef_tc_log_batch(j->tc, j->parent.run_id, m, b->n_metrics, NULL, 0, tags, 2, &e);
        if (!rc)
            rc = ef_tc_set_tag(j->tc, b->run.run_id, "edgeflow.best", "true", &e);
        if (!rc)
            rc = ef_tc_run_end(j->tc, j->parent.run_id, "FINISHED", &e);
        if (rc)
            return tc_fail(err, rc, "finishing the parent run", &e);
    }
    if (j->o->register_model && (rc = register_best(j, err)))
        return rc;
    printf("run %s in experiment %s (%s)\n", j->parent.run_id ? j->parent.run_id : b->run.run_id,
           j->experiment_id, j->o->tracking_uri);
    return EF_OK;
}

void train__track_release(train__job *j)
{
    for (size_t c = 0; j->results && c < j->combos; c++)
        ef_tc_run_release(&j->results[c].run);
    ef_tc_run_release(&j->parent);
    free(j->experiment_id);
    free(j->model_version);
    ef_tc_free(j->tc);
}
