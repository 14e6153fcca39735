/* fuzz_ml_dataset: arbitrary bytes -> ef_dataset_parse under option sets picked by the first byte
 * (delimiter, target, drop, feature spec, size limit). On success the dataset must be coherent:
 * rows and features > 0, names set, rows' file lines strictly increasing, y present exactly when
 * a target was asked for, text labels indexing sorted distinct names, and selecting the feature
 * columns by name giving back X bit for bit. On failure: a known code, a one-line message, an
 * empty dataset. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ml/dataset.h"

static const char *const specs[] = {NULL, "1:", "0,2", "::-1", "-1", "a,b", "0:3,a", "x:y"};
static const char *const targets[] = {NULL, "a", "b", "y"};

static void check(const ef_dataset *d, const ef_dataset_opts *o)
{
    if (!d->X.rows || !d->X.cols || !d->X.v || !d->feature_names || !d->row_line) abort();
    if (!o->target != !d->y || !o->target != !d->target_name) abort();
    for (size_t j = 0; j < d->X.cols; j++)
        if (!d->feature_names[j]) abort();
    for (size_t i = 1; i < d->X.rows; i++)
        if (d->row_line[i] <= d->row_line[i - 1]) abort();
    if (d->class_names) {
        for (size_t c = 1; c < d->n_class_names; c++)
            if (strcmp(d->class_names[c - 1], d->class_names[c]) >= 0) abort();
        for (size_t i = 0; i < d->X.rows; i++)
            if (!(d->y[i] >= 0 && d->y[i] < (double)d->n_class_names)) abort();
    }
    ef_ml_err err;
    ef_mat X;
    if (ef_dataset_select(d, (const char *const *)d->feature_names, d->X.cols, &X, &err) == EF_OK) {
        /* pandas' mangling makes exact names unique, and exact matches win */
        if (memcmp(X.v, d->X.v, d->X.rows * d->X.cols * sizeof(double))) abort();
        ef_mat_release(&X);
    } else {
        abort();
    }
    (void)ef_dataset_check_finite(d, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    static const char delims[] = {0, ',', ';', '\t'};
    const char *drop[] = {"b"};
    ef_dataset_opts o = {.delimiter = delims[sel & 3],
                         .target = targets[(sel >> 2) & 3],
                         .features = specs[(sel >> 4) & 7],
                         .max_bytes = (sel & 0x80) ? 4096 : 0};
    if ((sel & 0x40) && !(o.target && !strcmp(o.target, "b"))) {
        o.drop = drop;
        o.n_drop = 1;
    }
    ef_dataset d;
    ef_ml_err err = {{0}};
    int rc = ef_dataset_parse((const char *)data + 1, size - 1, &o, &d, &err);
    if (rc == EF_OK) {
        check(&d, &o);
    } else {
        if (rc != EF_EINVAL && rc != EF_ETOOBIG && rc != EF_ENOMEM) abort();
        if (!err.msg[0] || strchr(err.msg, '\n') || d.X.v || d.feature_names || d.y) abort();
    }
    ef_dataset_release(&d);
    return 0;
}
