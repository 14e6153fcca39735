/* ml_probe.c - drives one estimator for the scikit-learn parity tests (built as ef_ml_probe).
 *
 *   ef_ml_probe TYPE TRAIN.csv TEST.csv [name=value ...]
 *
 * TRAIN/TEST: plain numeric CSV written by the test, no header, comma-separated, the last column
 * is the target. Fits TYPE with the given parameters on TRAIN and prints one JSON document:
 *   {"predict": [...], "proba": [[...]] | null, "classes": [...] | null,
 *    "weights": {...}, "fit_info": {...}}
 * Types that keep a side file (XGBoost) write it into $EF_PROBE_DIR (default: the current dir).
 * Exit 1 with the error on stderr when anything fails (tests assert on that too).
 *
 * Timing mode (bench/ml.sh): with EF_PROBE_REPEAT=N (1..1000) the probe fits a fresh estimator
 * and predicts TEST N times, and adds "fit_seconds" and "predict_seconds" (the minimum over the
 * N repeats, CLOCK_MONOTONIC; CSV parsing and process start excluded) to the JSON; the rest of
 * the document comes from the last repeat. EF_PROBE_PREDICT_REPEAT=M (1..1000, default 1) predicts
 * M times after each fit (for fits too slow to repeat). Without EF_PROBE_REPEAT nothing changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ml/ml.h"

static int read_csv(const char *path, ef_mat *X, double **y)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t cap = 0, n = 0, cols = 0;
    double *vals = NULL;
    size_t rows = 0;
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        size_t c = 0;
        for (char *s = line; *s && *s != '\n';) {
            char *end;
            double v = strtod(s, &end);
            if (end == s)
                goto bad;
            if (n == cap) {
                cap = cap ? cap * 2 : 4096;
                double *nv = realloc(vals, cap * sizeof *nv);
                if (!nv)
                    goto bad;
                vals = nv;
            }
            vals[n++] = v;
            c++;
            s = end;
            if (*s == ',')
                s++;
        }
        if (c == 0)
            continue;
        if (cols && c != cols)
            goto bad;
        cols = c;
        rows++;
    }
    free(line);
    fclose(f);
    if (cols < 2 || ef_mat_init(X, rows, cols - 1))
        goto bad2;
    *y = malloc(rows * sizeof **y);
    for (size_t i = 0; i < rows; i++) {
        memcpy(X->v + i * (cols - 1), vals + i * cols, (cols - 1) * sizeof(double));
        (*y)[i] = vals[i * cols + cols - 1];
    }
    free(vals);
    return 0;
bad:
    free(line);
    fclose(f);
bad2:
    free(vals);
    return -1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the count in environment variable name (absent: *out unchanged). -1 with a message on
 * stderr when it is not an integer in 1..1000. */
static int env_count(const char *name, long *out)
{
    const char *v = getenv(name);
    if (!v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < 1 || n > 1000) {
        fprintf(stderr, "%s must be an integer in 1..1000, got '%s'\n", name, v);
        return -1;
    }
    *out = n;
    return 0;
}

/* A new estimator of type t with the name=value parameters of params[0..n) applied (the
 * strings are not modified). NULL with err filled on failure; the caller frees the result. */
static ef_estimator *new_estimator(const ef_ml_type *t, char **params, int n, ef_ml_err *err)
{
    ef_estimator *e = ef_estimator_new(t);
    if (!e) {
        ef_ml_errf(err, EF_ENOMEM, "out of memory creating %s", t->name);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(params[i], '=');
        char name[128];
        if (!eq || (size_t)(eq - params[i]) >= sizeof name) {
            ef_ml_errf(err, EF_EINVAL, "expected name=value, got %s", params[i]);
            goto fail;
        }
        memcpy(name, params[i], (size_t)(eq - params[i]));
        name[eq - params[i]] = 0;
        if (ef_estimator_set(e, name, eq + 1, err))
            goto fail;
    }
    return e;
fail:
    ef_estimator_free(e);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ef_ml_probe TYPE TRAIN.csv TEST.csv [name=value ...]\n");
        return 2;
    }
    const ef_ml_type *t = ef_ml_type_find(argv[1]);
    if (!t) {
        fprintf(stderr, "unknown estimator %s\n", argv[1]);
        return 1;
    }
    const char *rep_env = getenv("EF_PROBE_REPEAT");
    long repeat = 1, predict_repeat = 1;
    if (rep_env && (env_count("EF_PROBE_REPEAT", &repeat) ||
                    env_count("EF_PROBE_PREDICT_REPEAT", &predict_repeat)))
        return 2;
    ef_mat Xtr = {0}, Xte = {0};
    double *ytr = NULL, *yte = NULL;
    if (read_csv(argv[2], &Xtr, &ytr) || read_csv(argv[3], &Xte, &yte)) {
        fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
        ef_mat_release(&Xtr);
        free(ytr);
        return 1;
    }
    ef_estimator *e = NULL;
    ef_ml_err err = {{0}};
    int rc = 0;
    double *pred = calloc(Xte.rows + 1, sizeof *pred);
    double fit_s = -1, predict_s = -1;
    if (!pred)
        rc = ef_ml_errf(&err, EF_ENOMEM, "out of memory");
    for (long r = 0; r < repeat && !rc; r++) {
        ef_estimator_free(e);
        e = new_estimator(t, argv + 4, argc - 4, &err);
        if (!e) {
            rc = 1;
            break;
        }
        double t0 = now_seconds();
        rc = ef_estimator_fit(e, &Xtr, ytr, &err);
        double t1 = now_seconds();
        if (fit_s < 0 || t1 - t0 < fit_s)
            fit_s = t1 - t0;
        for (long p = 0; p < predict_repeat && !rc; p++) {
            t1 = now_seconds();
            rc = ef_estimator_predict(e, &Xte, pred, &err);
            double t2 = now_seconds();
            if (predict_s < 0 || t2 - t1 < predict_s)
                predict_s = t2 - t1;
        }
    }
    json_t *out = json_object();
    ef_mat proba = {0};
    if (!rc && t->predict_proba) {
        rc = ef_estimator_predict_proba(e, &Xte, &proba, &err);
        if (!rc)
            json_object_set_new(out, "proba", ef_ml_json_mat(&proba));
    }
    json_t *weights = json_object();
    if (!rc)
        rc = t->save(e, weights, getenv("EF_PROBE_DIR") ? getenv("EF_PROBE_DIR") : ".", &err);
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else {
        json_object_set_new(out, "predict", ef_ml_json_vec(pred, Xte.rows));
        if (e->n_classes)
            json_object_set_new(out, "classes", ef_ml_json_vec(e->classes, e->n_classes));
        json_object_set_new(out, "weights", json_incref(weights));
        json_object_set(out, "fit_info", e->fit_info);
        json_object_set(out, "params", e->params);
        if (rep_env) {
            json_object_set_new(out, "fit_seconds", json_real(fit_s));
            json_object_set_new(out, "predict_seconds", json_real(predict_s));
            json_object_set_new(out, "repeat", json_integer(repeat));
            json_object_set_new(out, "predict_repeat", json_integer(predict_repeat));
        }
        json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
        printf("\n");
    }
    json_decref(weights);
    json_decref(out);
    ef_mat_release(&proba);
    free(pred);
    ef_estimator_free(e);
    ef_mat_release(&Xtr);
    ef_mat_release(&Xte);
    free(ytr);
    free(yte);
    return rc;
}
