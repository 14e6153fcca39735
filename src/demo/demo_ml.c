/* demo_ml.c - the machine-learning steps of `edgeflow demo`: the wine-quality ElasticNet grid
 * (tracked, registered, moved to Production), the prediction through the model server (Seldon v1
 * and OIP v2, checked against `edgeflow predict` offline), and the EEG-letters training jobs (LDA
 * and MLP with cross-validation, registered).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/sig.h"
#include "demo/demo_int.h"

#define REF_ROW "[6.4,0.57,0.02,1.8,0.067,4.0,11.0,0.997,3.46,0.68,9.5]"
#define WINE "WineQuality"

static json_t *models(demo *d)
{
    json_t *m = json_object_get(d->summary, "models");
    if (!m)
        json_object_set_new(d->summary, "models", m = json_array());
    return m;
}

/* The newest version of a registered model that is still in stage None (just registered). */
static int newest_version(demo *d, const char *name, char version[32])
{
    json_t *r = demo__mlflow(d, "registered-models/get-latest-versions",
                       json_pack("{s:s,s:[s]}", "name", name, "stages", "None"));
    const char *v = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "model_versions"), 0), "version"));
    int rc = v ? 0 : r ? demo__fail(d, EF_ENOTFOUND, "no new version of %s in the registry", name)
                       : EF_EIO;
    if (v)
        snprintf(version, 32, "%s", v);
    json_decref(r);
    return rc;
}

/* ---- 3. the wine-quality grid --------------------------------------------------------------- */

int demo__train_wine(demo *d)
{
    demo__step(d, "training: the wine-quality ElasticNet as a grid, one child run per combination");
    char data[4200], alpha[64], l1[64];
    snprintf(data, sizeof data, "%s/winequality-red.csv", d->o->data_dir);
    snprintf(alpha, sizeof alpha, "alpha=%s", d->o->quick ? "0.5,1.0" : "0.1,0.5,1.0");
    snprintf(l1, sizeof l1, "l1_ratio=%s", d->o->quick ? "0.5" : "0.2,0.5,0.8");
    char *argv[] = {(char *)d->o->bin, "train", "elasticnet", "--data", data, "--target",
                    "quality", "--grid", alpha, "--grid", l1, "--experiment",
                    "SkLearnWineQuality", "--run-name", "wine-grid", "--register-model", WINE,
                    "--tracking-uri", d->http, NULL};
    demo__say(d, "edgeflow train elasticnet --data %s --target quality --grid %s --grid %s "
              "--experiment SkLearnWineQuality --register-model " WINE " --tracking-uri %s",
              data, alpha, l1, d->http);
    int rc = demo__run_shown(d, "train-wine", argv, NULL);
    char v[32];
    if (rc || (rc = newest_version(d, WINE, v)))
        return rc;
    json_t *mv = demo__mlflow(d, "model-versions/transition-stage",
                              json_pack("{s:s,s:s,s:s,s:b}", "name", WINE, "version", v, "stage",
                                        "Production", "archive_existing_versions", 1));
    if (!mv)
        return EF_EIO;
    json_decref(mv);
    demo__say(d, WINE " version %s -> Production (POST /api/2.0/mlflow/model-versions/"
              "transition-stage; older versions archived)", v);
    json_object_set_new(d->summary, "wine", json_pack("{s:s,s:s}", "version", v, "experiment",
                                                      "SkLearnWineQuality"));
    return 0;
}

/* ---- 4. the prediction ---------------------------------------------------------------------- */

/* `edgeflow predict` on the reference row with the registered version, offline (the model
 * downloaded into the cache): the value, or NAN after demo__fail. */
static double offline_predict(demo *d, const char *version)
{
    char row[4200], model[128], *out = NULL;
    snprintf(row, sizeof row, "%s/demo-reference-row.csv", d->o->home);
    snprintf(model, sizeof model, "models:/" WINE "/%s", version);
    static const char csv[] =
        "fixed acidity,volatile acidity,citric acid,residual sugar,chlorides,free sulfur dioxide,"
        "total sulfur dioxide,density,pH,sulphates,alcohol\n"
        "6.4,0.57,0.02,1.8,0.067,4.0,11.0,0.997,3.46,0.68,9.5\n";
    double value = NAN;
    if (ef_fs_write_atomic(row, csv, sizeof csv - 1, 0)) {
        demo__fail(d, EF_EIO, "cannot write %s", row);
        return NAN;
    }
    char *argv[] = {(char *)d->o->bin, "predict", "--model", model, "--data", row,
                    "--tracking-uri", d->http, NULL};
    demo__say(d, "offline: edgeflow predict --model %s --data %s", model, row);
    if (!demo__run_shown(d, "predict", argv, &out)) {
        const char *nl = out ? strchr(out, '\n') : NULL; /* "prediction\n<value>\n" */
        char *end = NULL;
        value = nl ? strtod(nl + 1, &end) : NAN;
        if (!nl || end == nl + 1) {
            value = NAN;
            demo__fail(d, EF_EPROTO, "edgeflow predict printed no prediction");
        }
    }
    free(out);
    return value;
}

int demo__predict(demo *d)
{
    demo__step(d, "serving: the model server picks up " WINE "/Production; the reference request");
    const char *version = json_string_value(
        json_object_get(json_object_get(d->summary, "wine"), "version"));
    const char *path = "/seldon/default/" WINE "/api/v1.0/predictions";
    const char *body = "{\"data\":{\"ndarray\":[" REF_ROW "]}}";
    char *reply = NULL, served[32] = "";
    long st = 0;
    int64_t t0 = ef_mono_ms();
    for (;;) { /* until the new version answers: the server polls the registry */
        free(reply);
        reply = NULL;
        if (!demo__http(d, "POST", path, body, &st, &reply, served) && st == 200 &&
            !strcmp(served, version))
            break;
        if (ef_mono_ms() - t0 > 60000 || ef_sig_stop_requested()) {
            demo__fail(d, EF_ETIMEDOUT, "%s%s did not answer with version %s within 60 s (last: "
                       "%ld %.200s); see %s/server.log", d->http, path, version, st,
                       reply ? reply : "", d->logs);
            free(reply);
            return EF_ETIMEDOUT;
        }
        ef_sleep_ms(250);
    }
    demo__say(d, "picked up %.1f s after the stage change; POST %s%s", (double)(ef_mono_ms() - t0)
              / 1000.0, d->http, path);
    demo__say(d, "request: %s", body);
    demo__say(d, "reply:   %s   (X-Model-Version: %s)", reply, served);
    demo__say(d, "try it:  curl -s -X POST -H 'Content-Type: application/json' -d '%s' %s%s%s",
              body, d->http, path, d->up > 0 && !d->o->keep_running
                                       ? "   (while up runs: edgeflow demo --keep-running)"
                                       : "");
    json_t *doc = json_loads(reply, 0, NULL);
    json_t *val = json_array_get(json_object_get(json_object_get(doc, "data"), "ndarray"), 0);
    double value = json_number_value(val);
    int rc = json_is_number(val) ? 0 : demo__fail(d, EF_EPROTO, "the reply has no prediction");
    json_t *p = json_pack("{s:s,s:s,s:o,s:f,s:s}", "url", "", "request", body, "reply",
                          doc ? doc : json_null(), "value", value, "version", version);
    json_object_set_new(p, "url", json_sprintf("%s%s", d->http, path));
    json_object_set_new(d->summary, "prediction", p);
    free(reply);
    double offline = rc ? NAN : offline_predict(d, version);
    if (!rc && isnan(offline))
        rc = EF_EIO;
    if (!rc && fabs(offline - value) > 1e-9 * fmax(1.0, fabs(offline)))
        rc = demo__fail(d, EF_EPROTO, "served %.17g but edgeflow predict gives %.17g", value,
                        offline);
    if (rc)
        return rc;
    json_object_set_new(p, "offline", json_real(offline));
    demo__say(d, "the same value as the served one");

    /* the same row over the Open Inference Protocol v2 */
    char oip[160];
    snprintf(oip, sizeof oip, "/v2/models/" WINE "/infer");
    const char *ob = "{\"inputs\":[{\"name\":\"input-0\",\"shape\":[1,11],\"datatype\":\"FP64\","
                     "\"data\":" REF_ROW "}]}";
    json_t *o = demo__http_json(d, "POST", oip, ob, &st);
    json_t *ov = json_array_get(
        json_object_get(json_array_get(json_object_get(o, "outputs"), 0), "data"), 0);
    if (!json_is_number(ov))
        rc = demo__fail(d, EF_EPROTO, "POST %s%s answered %ld without outputs", d->http, oip, st);
    else
        demo__say(d, "Open Inference Protocol v2: POST %s%s -> outputs[0].data = [%.17g]",
                  d->http, oip, json_number_value(ov));
    json_decref(o);
    json_array_append_new(models(d), json_pack("{s:s,s:s,s:s,s:[s+,s+]}", "name", WINE,
                                               "version", version, "stage", "Production", "urls",
                                               d->http, path, d->http, oip));
    return rc;
}

/* ---- 5. the EEG training jobs --------------------------------------------------------------- */

int demo__eeg_jobs(demo *d)
{
    demo__step(d, "training jobs: EEG letters, LDA and MLP with cross-validation, registered");
    static const struct {
        const char *job, *estimator, *model;
    } jobs[] = {{"eeg-lda", "lda", "EEGLettersLDA"},
                {"eeg-mlp", "mlp_classifier", "EEGLettersMLP"}};
    char train[4200], test[4200];
    snprintf(train, sizeof train, "%s/eeg-letters-train.csv", d->o->data_dir);
    snprintf(test, sizeof test, "%s/eeg-letters-test.csv", d->o->data_dir);
    const char *cv = d->o->quick ? "3" : "5";
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)d->o->bin;
        char *rest[] = {"train", (char *)jobs[i].estimator, "--data", train, "--test-data", test,
                        "--target", "# Letter", "--features", "2:", "--normalize", "l2", "--cv",
                        (char *)cv, "--experiment", "EEGLetters", "--run-name",
                        (char *)jobs[i].job, "--register-model", (char *)jobs[i].model,
                        "--tracking-uri", d->http, NULL};
        for (char **a = rest; *a; a++)
            argv[n++] = *a;
        if (d->o->quick && !strcmp(jobs[i].estimator, "mlp_classifier")) {
            argv[n++] = "--param";
            argv[n++] = "max_iter=40";
        }
        argv[n] = NULL;
        demo__say(d, "job %s: edgeflow train %s --data %s --test-data %s --target '# Letter' "
                  "--features 2: --normalize l2 --cv %s --register-model %s", jobs[i].job,
                  jobs[i].estimator, train, test, cv, jobs[i].model);
        int64_t t0 = ef_mono_ms();
        int rc = demo__run_shown(d, jobs[i].job, argv, NULL);
        double secs = (double)(ef_mono_ms() - t0) / 1000.0;
        demo__say(d, "job %s: %s (1 completion, %s) in %.1f s", jobs[i].job,
                  rc ? "Failed" : "Complete", rc ? "0 succeeded" : "1 succeeded", secs);
        char v[32];
        if (rc || (rc = newest_version(d, jobs[i].model, v)))
            return rc;
        json_array_append_new(
            models(d), json_pack("{s:s,s:s,s:s,s:[s++]}", "name", jobs[i].model, "version", v,
                                 "stage", "None", "urls", d->http,
                                 "/api/2.0/mlflow/registered-models/get?name=", jobs[i].model));
    }
    return 0;
}
