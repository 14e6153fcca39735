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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    ef_mat Xtr = {0}, Xte = {0};
    double *ytr = NULL, *yte = NULL;
    if (read_csv(argv[2], &Xtr, &ytr) || read_csv(argv[3], &Xte, &yte)) {
        fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
        return 1;
    }
    ef_estimator *e = ef_estimator_new(t);
    ef_ml_err err = {{0}};
    int rc = 0;
    for (int i = 4; i < argc && !rc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "expected name=value, got %s\n", argv[i]);
            rc = 1;
            break;
        }
        *eq = 0;
        rc = ef_estimator_set(e, argv[i], eq + 1, &err);
    }
    if (!rc)
        rc = ef_estimator_fit(e, &Xtr, ytr, &err);
    double *pred = calloc(Xte.rows + 1, sizeof *pred);
    if (!rc)
        rc = ef_estimator_predict(e, &Xte, pred, &err);
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
