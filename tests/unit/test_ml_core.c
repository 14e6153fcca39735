/* test_ml_core.c - the data utilities of the ML core on small hand-checkable cases: the CSV
 * loader (dataset.h), splits and folds (split.h), preprocessing (preprocess.h), metrics
 * (score.h) and the numpy RandomState they rest on (base/rng.h), error paths included.
 * Reference values that are not hand-derivable were printed by numpy 1.24 / scikit-learn 1.2.1 /
 * pandas 1.5.3 (the one-liner is next to each); tests/integration/test_60_ml_data.py compares
 * against those libraries live on larger inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rng.h"
#include "ml/dataset.h"
#include "ml/preprocess.h"
#include "ml/score.h"
#include "ml/split.h"

static ef_ml_err err;

static int parse(const char *text, const ef_dataset_opts *o, ef_dataset *d)
{
    memset(&err, 0, sizeof err);
    return ef_dataset_parse(text, strlen(text), o, d, &err);
}

/* Expects a parse failure with code rc whose message contains want. */
static void parse_fails(const char *text, const ef_dataset_opts *o, int rc, const char *want)
{
    ef_dataset d;
    assert_int_equal(parse(text, o, &d), rc);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    assert_null(d.X.v);
    assert_null(d.feature_names);
}

static void assert_bits(double got, double want)
{
    if (memcmp(&got, &want, sizeof got)) fail_msg("got %.17g, want %.17g", got, want);
}

/* ---- rng ---- */

static void test_rng_numpy(void **state)
{
    (void)state;
    ef_rng r;
    size_t p[10];
    /* python3 -c "import numpy as np; print(np.random.RandomState(42).permutation(10))" */
    static const size_t want[10] = {8, 1, 5, 0, 7, 2, 9, 4, 3, 6};
    ef_rng_seed(&r, 42);
    ef_rng_permutation(&r, p, 10);
    assert_memory_equal(p, want, sizeof want);
    /* python3 -c "import numpy as np; print(repr(np.random.RandomState(42).random_sample()))" */
    ef_rng_seed(&r, 42);
    assert_bits(ef_rng_random_sample(&r), 0.3745401188473625);
}

/* ---- dataset ---- */

static void test_dataset_basic(void **state)
{
    (void)state;
    ef_dataset d;
    ef_dataset_opts o = {.target = "t"};
    assert_int_equal(parse("a;b;t\n1;2.5;3\n-4;5e1;6\n", &o, &d), 0);
    assert_int_equal(d.delimiter, ';');
    assert_int_equal(d.X.rows, 2);
    assert_int_equal(d.X.cols, 2);
    assert_int_equal(d.n_columns, 3);
    assert_string_equal(d.feature_names[0], "a");
    assert_string_equal(d.feature_names[1], "b");
    assert_string_equal(d.target_name, "t");
    assert_bits(EF_MAT_AT(&d.X, 1, 0), -4.0);
    assert_bits(EF_MAT_AT(&d.X, 1, 1), 50.0);
    assert_bits(d.y[0], 3.0);
    assert_null(d.class_names);
    assert_int_equal(d.row_line[0], 2);
    assert_int_equal(d.row_line[1], 3);
    assert_int_equal(ef_dataset_check_finite(&d, &err), 0);
    ef_dataset_release(&d);
    ef_dataset_release(&d); /* idempotent */
    assert_null(d.X.v);
}

static void test_dataset_tokenizer(void **state)
{
    (void)state;
    ef_dataset d;
    /* BOM, CRLF, blank and blank-only lines, a lone CR, quotes with "" and a quoted line break
     * in a dropped column, no final newline */
    const char *text =
        "\xef\xbb\xbf\"x \"\"1\"\"\",note,y\r\n\r\n  \n\"1.5\",\"a,\nb\",2\r3,\"q\"\"\"z,4";
    const char *drop[] = {"note"};
    ef_dataset_opts o = {.drop = drop, .n_drop = 1};
    assert_int_equal(parse(text, &o, &d), 0);
    assert_int_equal(d.delimiter, ',');
    assert_string_equal(d.feature_names[0], "x \"1\"");
    assert_string_equal(d.feature_names[1], "y");
    assert_int_equal(d.X.rows, 2);
    assert_bits(EF_MAT_AT(&d.X, 0, 0), 1.5);
    assert_bits(EF_MAT_AT(&d.X, 1, 1), 4.0);
    assert_int_equal(d.row_line[0], 4);
    assert_int_equal(d.row_line[1], 6);
    ef_dataset_release(&d);
    /* tab sniffing; a quote inside an unquoted field is data */
    assert_int_equal(parse("a\tb\"c\n1\t2\n", NULL, &d), 0);
    assert_int_equal(d.delimiter, '\t');
    assert_string_equal(d.feature_names[1], "b\"c");
    ef_dataset_release(&d);
    /* an explicit delimiter wins over sniffing (which would pick ';') */
    ef_dataset_opts comma = {.delimiter = ','};
    parse_fails("a;b;c,d\n1;2;3,4\n", &comma, EF_EINVAL, "column 'a;b;c': '1;2;3' is not a number");
}

static void test_dataset_names(void **state)
{
    (void)state;
    ef_dataset d;
    /* python3 -c "import pandas as pd, io; print(list(pd.read_csv(io.StringIO(
     *   'a,,a,a.1, s ,\"q\"\n1,2,3,4,5,6\n')).columns))"
     * -> ['a', 'Unnamed: 1', 'a.2', 'a.1', ' s ', 'q'] */
    static const char *want[] = {"a", "Unnamed: 1", "a.2", "a.1", " s ", "q"};
    assert_int_equal(parse("a,,a,a.1, s ,\"q\"\n1,2,3,4,5,6\n", NULL, &d), 0);
    for (size_t j = 0; j < 6; j++)
        assert_string_equal(d.feature_names[j], want[j]);
    ef_dataset_release(&d);
    /* lookups match the trimmed name too: " s " is found as "s" */
    ef_dataset_opts o = {.target = "s", .features = "a.1,a"};
    assert_int_equal(parse("a,,a,a.1, s ,\"q\"\n1,2,3,4,5,6\n", &o, &d), 0);
    assert_string_equal(d.target_name, " s ");
    assert_int_equal(d.X.cols, 2);
    assert_bits(EF_MAT_AT(&d.X, 0, 0), 4.0);
    assert_bits(EF_MAT_AT(&d.X, 0, 1), 1.0);
    ef_dataset_release(&d);
}

static void test_dataset_numbers(void **state)
{
    (void)state;
    ef_dataset d;
    /* NA spellings, inf spellings, blanks around numbers, pandas' 17-digit truncation */
    assert_int_equal(parse("a,b,c\nNaN,inf, 4.5 \n,-Infinity,0.30000000000000004\n"
                           "NA,+inf,00000000000000000001.5\n",
                           NULL, &d),
                     0);
    assert_true(isnan(EF_MAT_AT(&d.X, 0, 0)) && isnan(EF_MAT_AT(&d.X, 1, 0)));
    assert_true(isinf(EF_MAT_AT(&d.X, 0, 1)) && EF_MAT_AT(&d.X, 1, 1) < 0);
    assert_bits(EF_MAT_AT(&d.X, 0, 2), 4.5);
    /* pandas.read_csv gives 0.3 and 0.0 here (its parser keeps 17 digits, leading zeros
     * included): python3 -c "import pandas as pd, io; print(pd.read_csv(io.StringIO(
     *   'c\n0.30000000000000004\n00000000000000000001.5\n'))['c'].tolist())" -> [0.3, 0.0] */
    assert_bits(EF_MAT_AT(&d.X, 1, 2), 0.3);
    assert_bits(EF_MAT_AT(&d.X, 2, 2), 0.0);
    memset(&err, 0, sizeof err);
    assert_int_equal(ef_dataset_check_finite(&d, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "line 2, column 'a' is NaN"));
    ef_dataset_release(&d);
    /* integer columns convert exactly (pandas' int64 path): -0 is 0, a long zero-padded
     * integer is 1; the same token among decimals takes the float parser's value (0) */
    assert_int_equal(parse("i,j,u\n-0,00000000000000000001,18446744073709551615\n"
                           "2,1.5,9223372036854775808\n",
                           NULL, &d),
                     0);
    assert_bits(EF_MAT_AT(&d.X, 0, 0), 0.0);
    assert_bits(EF_MAT_AT(&d.X, 0, 1), 0.0);
    assert_bits(EF_MAT_AT(&d.X, 0, 2), 18446744073709551615.0);
    ef_dataset_release(&d);
    assert_int_equal(parse("i\n00000000000000000001\n2\n", NULL, &d), 0);
    assert_bits(EF_MAT_AT(&d.X, 0, 0), 1.0);
    ef_dataset_release(&d);
    /* -0.0 as a decimal keeps its sign; a bool column is 1/0 */
    assert_int_equal(parse("a,b\n-0.0,True\n1,false\n", NULL, &d), 0);
    assert_bits(EF_MAT_AT(&d.X, 0, 0), -0.0);
    assert_bits(EF_MAT_AT(&d.X, 0, 1), 1.0);
    assert_bits(EF_MAT_AT(&d.X, 1, 1), 0.0);
    ef_dataset_release(&d);
}

static void test_dataset_text_target(void **state)
{
    (void)state;
    ef_dataset d;
    ef_dataset_opts o = {.target = "label"};
    assert_int_equal(parse("f,label\n1,b\n2,a\n3,b\n4,C\n", &o, &d), 0);
    assert_int_equal(d.n_class_names, 3);
    assert_string_equal(d.class_names[0], "C"); /* bytewise, like Python's sorted() */
    assert_string_equal(d.class_names[1], "a");
    assert_string_equal(d.class_names[2], "b");
    assert_bits(d.y[0], 2.0);
    assert_bits(d.y[1], 1.0);
    assert_bits(d.y[3], 0.0);
    ef_dataset_release(&d);
    parse_fails("f,label\n1,b\n2,\n", &o, EF_EINVAL, "line 3: the target 'label' is missing");
}

static void test_dataset_features(void **state)
{
    (void)state;
    ef_dataset d;
    const char *text = "c0,c1,c2,c3,c4,t\n0,1,2,3,4,5\n";
    struct {
        const char *spec;
        const char *want; /* feature indices as digits */
    } cases[] = {{"2:", "234"},    {"0:2,4", "014"},    {"-2:", "4"},  {"::2", "024"},
                 {"4:0:-2", "42"}, {"c3, 1 ,c3", "31"}, {":", "01234"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ef_dataset_opts o = {.target = "t", .features = cases[i].spec};
        assert_int_equal(parse(text, &o, &d), 0);
        assert_int_equal(d.X.cols, strlen(cases[i].want));
        for (size_t k = 0; k < d.X.cols; k++)
            assert_bits(EF_MAT_AT(&d.X, 0, k), (double)(cases[i].want[k] - '0'));
        ef_dataset_release(&d);
    }
    const char *cols[] = {"c4", "c0"};
    ef_dataset_opts o = {.columns = cols, .n_columns = 2, .features = "ignored"};
    assert_int_equal(parse(text, &o, &d), 0);
    assert_string_equal(d.feature_names[0], "c4");
    ef_mat X;
    const char *names[] = {"c0", "t", "c4"};
    assert_int_equal(ef_dataset_select(&d, names, 3, &X, &err), EF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no column 't'"));
    assert_int_equal(ef_dataset_select(&d, names, 1, &X, &err), 0);
    assert_bits(EF_MAT_AT(&X, 0, 0), 0.0);
    ef_mat_release(&X);
    ef_dataset_release(&d);
}

static void test_dataset_errors(void **state)
{
    (void)state;
    ef_dataset_opts tgt = {.target = "zz"}, big = {.max_bytes = 4}, t_b = {.target = "b"};
    const char *drop_a[] = {"a"}, *drop_q[] = {"q"};
    ef_dataset_opts none_left = {.target = "b", .drop = drop_a, .n_drop = 1};
    ef_dataset_opts bad_drop = {.drop = drop_q, .n_drop = 1};
    ef_dataset_opts idx = {.features = "7"}, step = {.features = "::0"}, unk = {.features = "a,x"};
    ef_dataset_opts as_feat = {.target = "b", .features = "b"};
    parse_fails("", NULL, EF_EINVAL, "empty");
    parse_fails("\n \r\n", NULL, EF_EINVAL, "empty");
    parse_fails("a,b\n", NULL, EF_EINVAL, "no data rows after the header (line 1)");
    parse_fails("a,b\n1,2\n3,x\n", NULL, EF_EINVAL, "line 3, column 'b': 'x' is not a number");
    parse_fails("a,b\n1,2\n\n3,4,5\n", NULL, EF_EINVAL, "line 4 has 3 fields but the header has 2");
    parse_fails("a,b\n1\n", NULL, EF_EINVAL, "line 2 has 1 fields");
    parse_fails("a,b\n1,\"2\n3,4\n", NULL, EF_EINVAL, "line 2: a quoted field is never closed");
    parse_fails("a,b\n1,2\n", &tgt, EF_EINVAL,
                "target column 'zz' not found; the columns are: a, b");
    parse_fails("a,b\n1,2\n", &big, EF_ETOOBIG, "over the limit of 4");
    parse_fails("a,b\n1,2\n", &none_left, EF_EINVAL, "no feature columns are left");
    parse_fails("a,b\n1,2\n", &bad_drop, EF_EINVAL, "column to drop 'q' not found");
    parse_fails("a,b\n1,2\n", &idx, EF_EINVAL, "feature index 7 is out of range");
    parse_fails("a,b\n1,2\n", &step, EF_EINVAL, "step 0");
    parse_fails("a,b\n1,2\n", &unk, EF_EINVAL, "feature 'x' not found");
    parse_fails("a,b\n1,2\n", &as_feat, EF_EINVAL, "'b' is the target");
    parse_fails("a\n99999999999999999999999\n", NULL, EF_EINVAL, "line 2, column 'a'");
    parse_fails("a\nTrue\n2\n", NULL, EF_EINVAL, "'True' is not a number");
    parse_fails("a\n1e309\n", NULL, EF_EINVAL, "'1e309' is not a number");
    ef_dataset d;
    assert_int_equal(parse("a,b\n1,2\n", &t_b, &d), 0);
    ef_dataset_release(&d);
    memset(&err, 0, sizeof err);
    assert_int_equal(ef_dataset_load("/nonexistent/x.csv", NULL, &d, &err), EF_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.csv: cannot open"));
}

static void test_dataset_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ef-ml-core-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "a,b\n1,2\n3,oops\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ef_dataset d;
    memset(&err, 0, sizeof err);
    assert_int_equal(ef_dataset_load(path, NULL, &d, &err), EF_EINVAL);
    assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
    assert_non_null(strstr(err.msg, ": line 3, column 'b'"));
    ef_dataset_opts o = {.target = "b"};
    assert_int_equal(ef_dataset_load(path, &o, &d, &err), 0);
    assert_int_equal(d.n_class_names, 2);
    ef_dataset_release(&d);
    unlink(path);
}

/* ---- split ---- */

static void test_split(void **state)
{
    (void)state;
    size_t *tr, *te, ntr, nte;
    /* python3 -c "import numpy as np; from sklearn.model_selection import train_test_split as s;
     *   print(*s(np.arange(10), test_size=0.3, random_state=42))" -> [0 7 2 9 4 3 6] [8 1 5] */
    static const size_t want_tr[] = {0, 7, 2, 9, 4, 3, 6}, want_te[] = {8, 1, 5};
    assert_int_equal(ef_split_train_test(10, 0.3, 1, 42, &tr, &ntr, &te, &nte, &err), 0);
    assert_int_equal(ntr, 7);
    assert_int_equal(nte, 3);
    assert_memory_equal(tr, want_tr, sizeof want_tr);
    assert_memory_equal(te, want_te, sizeof want_te);
    free(tr);
    free(te);
    /* ... (np.arange(7), test_size=2, random_state=0) -> [1 3 0 5 4] [6 2] */
    static const size_t want_tr2[] = {1, 3, 0, 5, 4}, want_te2[] = {6, 2};
    assert_int_equal(ef_split_train_test(7, 2, 1, 0, &tr, &ntr, &te, &nte, &err), 0);
    assert_memory_equal(tr, want_tr2, sizeof want_tr2);
    assert_memory_equal(te, want_te2, sizeof want_te2);
    free(tr);
    free(te);
    /* no shuffle: head / tail; ceil(0.25 * 10) = 3 test rows */
    assert_int_equal(ef_split_train_test(10, 0.25, 0, 0, &tr, &ntr, &te, &nte, &err), 0);
    assert_int_equal(ntr, 7);
    assert_int_equal(tr[6], 6);
    assert_int_equal(te[0], 7);
    free(tr);
    free(te);
    static const double bad[] = {0, -1, 1.5, 10, 11, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ef_split_train_test(10, bad[i], 1, 0, &tr, &ntr, &te, &nte, &err),
                         EF_EINVAL);
        assert_null(tr);
        assert_non_null(strstr(err.msg, "test_size"));
    }
    assert_int_equal(ef_split_train_test(1, 0.5, 1, 0, &tr, &ntr, &te, &nte, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "train set would be empty"));
    assert_int_equal(ef_split_train_test(0, 0.5, 1, 0, &tr, &ntr, &te, &nte, &err), EF_EINVAL);
}

static void test_kfold(void **state)
{
    (void)state;
    int fold[10];
    static const int plain[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2}; /* sizes 4, 3, 3 */
    assert_int_equal(ef_kfold(10, 3, 0, 0, fold, &err), 0);
    assert_memory_equal(fold, plain, sizeof plain);
    /* python3 -c "import numpy as np; from sklearn.model_selection import KFold; f=[0]*10
     *   [f.__setitem__(i, k) for k, (a, b) in enumerate(KFold(3, shuffle=True,
     *   random_state=0).split(np.zeros(10))) for i in b]; print(f)" */
    static const int shuffled[10] = {2, 1, 0, 2, 0, 2, 1, 1, 0, 0};
    assert_int_equal(ef_kfold(10, 3, 1, 0, fold, &err), 0);
    assert_memory_equal(fold, shuffled, sizeof shuffled);
    assert_int_equal(ef_kfold(3, 4, 0, 0, fold, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "n_splits=4 greater than the number of samples"));
    assert_int_equal(ef_kfold(3, 1, 0, 0, fold, &err), EF_EINVAL);
    size_t tr[10], te[10], ntr;
    assert_int_equal(ef_fold_rows(plain, 10, 1, tr, &ntr, te), 3);
    assert_int_equal(ntr, 7);
    assert_int_equal(te[0], 4);
    assert_int_equal(tr[4], 7);
}

static void test_stratified_kfold(void **state)
{
    (void)state;
    int fold[10];
    const double y[10] = {1, 1, 0, 0, 1, 0, 2, 2, 2, 1};
    /* by hand: classes by first appearance 1, 0, 2; round robin over the sorted encoding gives
     * fold 0 two of class "1"; sklearn's StratifiedKFold(3).split agrees */
    static const int plain[10] = {0, 0, 0, 1, 1, 2, 0, 1, 2, 2};
    memset(&err, 0, sizeof err);
    assert_int_equal(ef_stratified_kfold(y, 10, 3, 0, 0, fold, &err), 0);
    assert_memory_equal(fold, plain, sizeof plain);
    assert_string_equal(err.msg, "");
    /* python3 -c "...StratifiedKFold(3, shuffle=True, random_state=1)..." (as for KFold) */
    static const int shuffled[10] = {2, 1, 0, 2, 0, 1, 0, 2, 1, 0};
    assert_int_equal(ef_stratified_kfold(y, 10, 3, 1, 1, fold, &err), 0);
    assert_memory_equal(fold, shuffled, sizeof shuffled);
    assert_int_equal(ef_stratified_kfold(y, 10, 4, 0, 0, fold, &err), 0);
    assert_string_equal(err.msg, "The least populated class in y has only 3 members, which is less "
                                 "than n_splits=4.");
    assert_int_equal(ef_stratified_kfold(y, 10, 5, 0, 0, fold, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "number of members in each class"));
    const double cont[4] = {0.5, 1, 2, 3}, nan[3] = {0, NAN, 1};
    assert_int_equal(ef_stratified_kfold(cont, 4, 2, 0, 0, fold, &err), EF_EINVAL);
    assert_non_null(strstr(err.msg, "continuous"));
    assert_int_equal(ef_stratified_kfold(nan, 3, 2, 0, 0, fold, &err), EF_EINVAL);
    assert_int_equal(ef_stratified_kfold(y, 10, 11, 0, 0, fold, &err), EF_EINVAL);
}

/* ---- preprocess ---- */

static void test_preprocess(void **state)
{
    (void)state;
    ef_mat X;
    assert_int_equal(ef_mat_init(&X, 3, 2), 0);
    double v[] = {3, 4, 0, 0, 1e-17, 0};
    memcpy(X.v, v, sizeof v);
    ef_normalize_l2(&X);
    assert_bits(EF_MAT_AT(&X, 0, 0), 0.6);
    assert_bits(EF_MAT_AT(&X, 0, 1), 0.8);
    assert_bits(EF_MAT_AT(&X, 1, 0), 0.0);   /* zero row stays */
    assert_bits(EF_MAT_AT(&X, 2, 0), 1e-17); /* norm < 10 eps: unchanged, like sklearn */
    double w[] = {1, 5, 3, 5, NAN, 5};
    memcpy(X.v, w, sizeof w);
    ef_scaler s;
    assert_int_equal(ef_scaler_fit(&s, &X), 0);
    assert_bits(s.mean[0], 2.0); /* NaN ignored */
    assert_bits(s.var[0], 1.0);
    assert_bits(s.scale[0], 1.0);
    assert_bits(s.mean[1], 5.0);
    assert_bits(s.scale[1], 1.0); /* constant column */
    assert_int_equal(ef_scaler_transform(&s, &X), 0);
    assert_bits(EF_MAT_AT(&X, 0, 0), -1.0);
    assert_bits(EF_MAT_AT(&X, 1, 0), 1.0);
    assert_true(isnan(EF_MAT_AT(&X, 2, 0)));
    assert_bits(EF_MAT_AT(&X, 2, 1), 0.0);
    ef_mat one;
    assert_int_equal(ef_mat_init(&one, 1, 1), 0);
    assert_int_equal(ef_scaler_transform(&s, &one), EF_EINVAL);
    ef_scaler s2;
    assert_int_equal(ef_scaler_init(&s2, s.mean, s.scale, 2), 0);
    assert_bits(s2.scale[0], 1.0);
    ef_scaler_release(&s2);
    ef_scaler_release(&s);
    ef_scaler_release(&s);
    ef_mat empty = {0};
    assert_int_equal(ef_scaler_fit(&s, &empty), EF_EINVAL);
    ef_mat_release(&one);
    ef_mat_release(&X);
}

/* ---- score ---- */

static void test_scores(void **state)
{
    (void)state;
    const double t[] = {1, 2, 3, 4}, p[] = {1, 2, 3, 6};
    assert_bits(ef_score_rmse(t, p, 4), 1.0);
    assert_bits(ef_score_mae(t, p, 4), 0.5);
    assert_bits(ef_score_r2(t, p, 4), 1 - 4.0 / 5.0); /* ss_res 4, ss_tot 5 */
    assert_bits(ef_score_accuracy(t, p, 4), 0.75);
    const double c[] = {2, 2, 2};
    assert_bits(ef_score_r2(c, c, 3), 1.0); /* constant y, perfect */
    assert_bits(ef_score_r2(c, t, 3), 0.0); /* constant y, not perfect */
    assert_true(isnan(ef_score_r2(t, p, 1)));
    assert_true(isnan(ef_score_rmse(t, p, 0)));
    /* labels {0,1,2}: 2 is never true -> its recall is 0, like sklearn's zero_division */
    const double yt[] = {0, 0, 1, 1}, yp[] = {0, 1, 1, 2};
    double pr, rc, f1;
    assert_int_equal(ef_score_prf_macro(yt, yp, 4, &pr, &rc, &f1), 0);
    assert_bits(pr, (1.0 + 0.5 + 0.0) / 3); /* per label 1, 1/2, 0 */
    assert_bits(rc, (0.5 + 0.5 + 0.0) / 3);
    assert_bits(f1, (2.0 * 1 * 0.5 / 1.5 + 2.0 * 0.5 * 0.5 / 1.0 + 0.0) / 3);
    assert_int_equal(ef_score_prf_macro(yt, yp, 0, &pr, &rc, &f1), EF_EINVAL);
    double *labels;
    size_t k, *cm;
    assert_int_equal(ef_score_confusion(yt, yp, 4, &labels, &k, &cm), 0);
    static const size_t want_cm[9] = {1, 1, 0, 0, 1, 1, 0, 0, 0};
    assert_int_equal(k, 3);
    assert_memory_equal(cm, want_cm, sizeof want_cm);
    free(labels);
    free(cm);
    /* log-loss: -(log 0.8 + log 0.6) / 2 on two classes */
    ef_mat P;
    assert_int_equal(ef_mat_init(&P, 2, 2), 0);
    double pv[] = {0.8, 0.2, 0.4, 0.6};
    memcpy(P.v, pv, sizeof pv);
    const double yl[] = {0, 1}, cls[] = {0, 1};
    double ll;
    assert_int_equal(ef_score_log_loss(yl, 2, &P, cls, 2, &ll), 0);
    assert_bits(ll, (-log(0.8 / 1.0) + -log(0.6 / 1.0)) / 2);
    assert_int_equal(ef_score_log_loss(yl, 2, &P, NULL, 0, &ll), 0);
    const double bad_y[] = {0, 7}, one[] = {1, 1};
    assert_int_equal(ef_score_log_loss(bad_y, 2, &P, cls, 2, &ll), EF_EINVAL);
    assert_int_equal(ef_score_log_loss(one, 2, &P, NULL, 0, &ll), EF_EINVAL);
    ef_mat_release(&P);
    /* numpy's pairwise order: python3 -c "import numpy as np;
     *   print(repr(np.sum(np.array([1e16] + [1.0] * 8))))" -> 1.0000000000000008e+16, where
     * summing left to right gives 1e16 (each 1 is absorbed) */
    double v[9] = {1e16, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_bits(ef_score_sum(v, 9), 1.0000000000000008e+16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_numpy),
        cmocka_unit_test(test_dataset_basic),
        cmocka_unit_test(test_dataset_tokenizer),
        cmocka_unit_test(test_dataset_names),
        cmocka_unit_test(test_dataset_numbers),
        cmocka_unit_test(test_dataset_text_target),
        cmocka_unit_test(test_dataset_features),
        cmocka_unit_test(test_dataset_errors),
        cmocka_unit_test(test_dataset_load_file),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_kfold),
        cmocka_unit_test(test_stratified_kfold),
        cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
