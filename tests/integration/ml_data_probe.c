/* ml_data_probe.c - drives the data utilities of edgeflow's ML core for the scikit-learn / pandas
 * parity tests (tests/integration/test_60_ml_data.py); built as ef_ml_data_probe.
 *
 *   split N TEST_SIZE SEED [SHUFFLE]        {"train": [...], "test": [...]}
 *   kfold N K SHUFFLE SEED                  {"folds": [fold of each row]}
 *   skfold Y.csv K SHUFFLE SEED             {"folds": [...], "warning": "..."}; Y.csv: columns
 *                                           i,y (labels may be text)
 *   load FILE [--target T] [--drop C]... [--features SPEC] [--columns a|b|c] [--delimiter C]
 *        [--max-bytes N] [--check-finite] [--select a|b]
 *                                           {"columns", "target", "X", "y", "class_names",
 *                                            "delimiter", "row_line", "n_columns"}
 *   score KIND YTRUE.csv YPRED.csv [--labels 0,1,2]
 *        KIND: rmse mae r2 accuracy prf log_loss confusion; files with a header, YPRED of
 *        log_loss has one column per class     {"value": x} / {"precision", "recall", "f1"} /
 *                                           {"labels", "matrix"}
 *   normalize FILE | scale FILE             {"X": [...]} (+ "mean", "var", "scale")
 *   bench FILE REPEAT [load options]        {"ms_min": x, "ms_median": y, "rows": n}
 *
 * Numbers are printed with 17 significant digits (exact round trip); NaN and infinities as the
 * strings "NaN", "Infinity", "-Infinity". Errors: exit 1 with "error: <message>" on stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ml/dataset.h"
#include "ml/preprocess.h"
#include "ml/score.h"
#include "ml/split.h"

static json_t *num(double v)
{
    if (isnan(v)) return json_string("NaN");
    if (isinf(v)) return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *vec(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, num(v[i]));
    return a;
}

static json_t *mat(const ef_mat *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->rows; i++)
        json_array_append_new(a, vec(m->v + i * m->cols, m->cols));
    return a;
}

static json_t *idx(const size_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)v[i]));
    return a;
}

static json_t *strv(char *const *v, size_t n)
{
    if (!v) return json_null();
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *ints(const int *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static int emit(json_t *o)
{
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
    printf("\n");
    json_decref(o);
    return 0;
}

static int fail(const ef_ml_err *err)
{
    fprintf(stderr, "error: %s\n", err->msg);
    return 1;
}

/* Splits "a|b|c" (in place) into up to max pointers. */
static size_t split_list(char *s, char sep, const char **out, size_t max)
{
    size_t n = 0;
    while (s && n < max) {
        out[n++] = s;
        s = strchr(s, sep);
        if (s) *s++ = 0;
    }
    return n;
}

typedef struct load_args {
    ef_dataset_opts o;
    const char *drop[64], *cols[512], *sel[512];
    size_t n_sel;
    int check_finite, select;
} load_args;

static int parse_load_args(int argc, char **argv, load_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--check-finite")) {
            a->check_finite = 1;
            continue;
        }
        if (!v) return -1;
        i++;
        if (!strcmp(k, "--target"))
            a->o.target = v;
        else if (!strcmp(k, "--drop") && a->o.n_drop < 64)
            a->drop[a->o.n_drop++] = v;
        else if (!strcmp(k, "--features"))
            a->o.features = v;
        else if (!strcmp(k, "--columns"))
            a->o.n_columns = split_list(argv[i], '|', a->cols, 512), a->o.columns = a->cols;
        else if (!strcmp(k, "--select"))
            a->n_sel = split_list(argv[i], '|', a->sel, 512), a->select = 1;
        else if (!strcmp(k, "--delimiter"))
            a->o.delimiter = !strcmp(v, "\\t") ? '\t' : v[0];
        else if (!strcmp(k, "--max-bytes"))
            a->o.max_bytes = (size_t)strtoull(v, NULL, 10);
        else
            return -1;
    }
    a->o.drop = a->drop;
    return 0;
}

static int cmd_load(const char *path, int argc, char **argv)
{
    load_args a;
    ef_dataset d;
    ef_ml_err err = {{0}};
    if (parse_load_args(argc, argv, &a)) return fprintf(stderr, "bad load options\n"), 2;
    int rc = ef_dataset_load(path, &a.o, &d, &err);
    if (!rc && a.check_finite) rc = ef_dataset_check_finite(&d, &err);
    ef_mat sel = {0};
    if (!rc && a.select) rc = ef_dataset_select(&d, a.sel, a.n_sel, &sel, &err);
    if (rc) {
        if (d.X.v) { /* loaded: check/select failed; name the file like the CLI does */
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s", err.msg);
            ef_ml_errf(&err, rc, "%s: %s", path, msg);
        }
        ef_dataset_release(&d);
        return fail(&err);
    }
    json_t *o = json_object();
    json_object_set_new(o, "columns", strv(d.feature_names, d.X.cols));
    json_object_set_new(o, "target", d.target_name ? json_string(d.target_name) : json_null());
    json_object_set_new(o, "X", mat(a.select ? &sel : &d.X));
    json_object_set_new(o, "y", d.y ? vec(d.y, d.X.rows) : json_null());
    json_object_set_new(o, "class_names", strv(d.class_names, d.n_class_names));
    json_object_set_new(o, "delimiter", json_stringn(&d.delimiter, 1));
    json_object_set_new(o, "row_line", idx(d.row_line, d.X.rows));
    json_object_set_new(o, "n_columns", json_integer((json_int_t)d.n_columns));
    ef_mat_release(&sel);
    ef_dataset_release(&d);
    return emit(o);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_bench(const char *path, int repeat, int argc, char **argv)
{
    load_args a;
    ef_ml_err err = {{0}};
    if (parse_load_args(argc, argv, &a) || repeat < 1 || repeat > 1000)
        return fprintf(stderr, "bad bench options\n"), 2;
    double *t = calloc((size_t)repeat, sizeof *t);
    size_t rows = 0;
    for (int i = 0; i < repeat; i++) {
        ef_dataset d;
        double t0 = now_ms();
        if (ef_dataset_load(path, &a.o, &d, &err)) {
            free(t);
            return fail(&err);
        }
        t[i] = now_ms() - t0;
        rows = d.X.rows;
        ef_dataset_release(&d);
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_d);
    json_t *o = json_pack("{s:f,s:f,s:I}", "ms_min", t[0], "ms_median", t[repeat / 2], "rows",
                          (json_int_t)rows);
    free(t);
    return emit(o);
}

/* The first column of a CSV with a header as n doubles (text labels -> class indices). */
static int load_column(const char *path, ef_dataset *d, ef_ml_err *err)
{
    ef_dataset_opts o = {.features = "0:"};
    return ef_dataset_load(path, &o, d, err);
}

static int cmd_skfold(const char *path, int k, int shuffle, uint32_t seed)
{
    ef_dataset d;
    ef_ml_err err = {{0}};
    ef_dataset_opts o = {.target = "y"};
    if (ef_dataset_load(path, &o, &d, &err)) return fail(&err);
    const double *y = d.y;
    size_t n = d.X.rows;
    int *fold = calloc(n ? n : 1, sizeof *fold);
    int rc = ef_stratified_kfold(y, n, k, shuffle, seed, fold, &err);
    if (rc) {
        free(fold);
        ef_dataset_release(&d);
        return fail(&err);
    }
    json_t *out = json_pack("{s:o,s:s}", "folds", ints(fold, n), "warning", err.msg);
    free(fold);
    ef_dataset_release(&d);
    return emit(out);
}

static int cmd_score(const char *kind, const char *tpath, const char *ppath, int argc, char **argv)
{
    ef_dataset t = {0}, p = {0};
    ef_ml_err err = {{0}};
    json_t *o = NULL;
    double labels[256];
    size_t n_labels = 0;
    if (argc == 2 && !strcmp(argv[0], "--labels")) {
        for (char *s = argv[1]; s && n_labels < 256; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
            labels[n_labels++] = strtod(s, NULL);
    }
    if (load_column(tpath, &t, &err) || load_column(ppath, &p, &err)) goto fail;
    size_t n = t.X.rows;
    if (p.X.rows != n) {
        ef_ml_errf(&err, EF_EINVAL, "%zu true values but %zu predictions", n, p.X.rows);
        goto fail;
    }
    const double *yt = t.X.v, *yp = p.X.v; /* first column when the file has one */
    double v;
    if (!strcmp(kind, "rmse"))
        o = json_pack("{s:o}", "value", num(ef_score_rmse(yt, yp, n)));
    else if (!strcmp(kind, "mae"))
        o = json_pack("{s:o}", "value", num(ef_score_mae(yt, yp, n)));
    else if (!strcmp(kind, "r2"))
        o = json_pack("{s:o}", "value", num(ef_score_r2(yt, yp, n)));
    else if (!strcmp(kind, "accuracy"))
        o = json_pack("{s:o}", "value", num(ef_score_accuracy(yt, yp, n)));
    else if (!strcmp(kind, "prf")) {
        double pr, rc, f1;
        if (ef_score_prf_macro(yt, yp, n, &pr, &rc, &f1)) {
            ef_ml_errf(&err, EF_EINVAL, "prf failed");
            goto fail;
        }
        o = json_pack("{s:o,s:o,s:o}", "precision", num(pr), "recall", num(rc), "f1", num(f1));
    } else if (!strcmp(kind, "log_loss")) {
        if (ef_score_log_loss(yt, n, &p.X, n_labels ? labels : NULL, n_labels, &v)) {
            ef_ml_errf(&err, EF_EINVAL, "log_loss rejected its input");
            goto fail;
        }
        o = json_pack("{s:o}", "value", num(v));
    } else if (!strcmp(kind, "confusion")) {
        double *lab;
        size_t k, *c;
        if (ef_score_confusion(yt, yp, n, &lab, &k, &c)) {
            ef_ml_errf(&err, EF_EINVAL, "confusion failed");
            goto fail;
        }
        json_t *m = json_array();
        for (size_t i = 0; i < k; i++)
            json_array_append_new(m, idx(c + i * k, k));
        o = json_pack("{s:o,s:o}", "labels", vec(lab, k), "matrix", m);
        free(lab);
        free(c);
    } else {
        ef_ml_errf(&err, EF_EINVAL, "unknown score kind %s", kind);
        goto fail;
    }
    ef_dataset_release(&t);
    ef_dataset_release(&p);
    return emit(o);
fail:
    ef_dataset_release(&t);
    ef_dataset_release(&p);
    return fail(&err);
}

static int cmd_pre(const char *what, const char *path)
{
    ef_dataset d;
    ef_ml_err err = {{0}};
    if (load_column(path, &d, &err)) return fail(&err);
    json_t *o = json_object();
    if (!strcmp(what, "normalize")) {
        ef_normalize_l2(&d.X);
    } else {
        ef_scaler s;
        if (ef_scaler_fit(&s, &d.X)) {
            ef_dataset_release(&d);
            json_decref(o);
            return fprintf(stderr, "error: scaler fit failed\n"), 1;
        }
        ef_scaler_transform(&s, &d.X);
        json_object_set_new(o, "mean", vec(s.mean, s.n));
        json_object_set_new(o, "var", vec(s.var, s.n));
        json_object_set_new(o, "scale", vec(s.scale, s.n));
        ef_scaler_release(&s);
    }
    json_object_set_new(o, "X", mat(&d.X));
    ef_dataset_release(&d);
    return emit(o);
}

int main(int argc, char **argv)
{
    ef_ml_err err = {{0}};
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "split") && argc >= 5) {
        size_t *tr, *te, ntr, nte;
        int shuffle = argc > 5 ? atoi(argv[5]) : 1;
        if (ef_split_train_test((size_t)strtoull(argv[2], NULL, 10), strtod(argv[3], NULL), shuffle,
                                (uint32_t)strtoul(argv[4], NULL, 10), &tr, &ntr, &te, &nte, &err))
            return fail(&err);
        json_t *o = json_pack("{s:o,s:o}", "train", idx(tr, ntr), "test", idx(te, nte));
        free(tr);
        free(te);
        return emit(o);
    }
    if (!strcmp(cmd, "kfold") && argc == 6) {
        size_t n = (size_t)strtoull(argv[2], NULL, 10);
        int *fold = calloc(n ? n : 1, sizeof *fold);
        if (ef_kfold(n, atoi(argv[3]), atoi(argv[4]), (uint32_t)strtoul(argv[5], NULL, 10), fold,
                     &err)) {
            free(fold);
            return fail(&err);
        }
        json_t *o = json_pack("{s:o}", "folds", ints(fold, n));
        free(fold);
        return emit(o);
    }
    if (!strcmp(cmd, "skfold") && argc == 6)
        return cmd_skfold(argv[2], atoi(argv[3]), atoi(argv[4]),
                          (uint32_t)strtoul(argv[5], NULL, 10));
    if (!strcmp(cmd, "load") && argc >= 3) return cmd_load(argv[2], argc - 3, argv + 3);
    if (!strcmp(cmd, "bench") && argc >= 4)
        return cmd_bench(argv[2], atoi(argv[3]), argc - 4, argv + 4);
    if (!strcmp(cmd, "score") && argc >= 5)
        return cmd_score(argv[2], argv[3], argv[4], argc - 5, argv + 5);
    if ((!strcmp(cmd, "normalize") || !strcmp(cmd, "scale")) && argc == 3)
        return cmd_pre(cmd, argv[2]);
    fprintf(stderr, "usage: see the comment at the top of ml_data_probe.c\n");
    return 2;
}
