/* test_serving_batch.c - unit tests of src/serving/batch.c, the micro-batcher: many threads send
 * small requests through one batcher whose scoring function is a fake model (prediction = the
 * row's sum, probabilities = the row's first two values); each thread checks that it got its
 * own rows' results back, with probabilities exactly when it asked, that no call exceeded
 * max_rows, that requests were combined, that a failing row fails only its own request and a
 * failure of every call reaches every waiter, and that max_rows 1 turns batching off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "metrics/metrics.h"
#include "serving/serve_int.h"

#define COLS 3
#define POISON -1.0

typedef struct fake_model {
    pthread_mutex_t mu;
    size_t calls, max_seen, rows_seen, multi_calls;
    int fail_all;
} fake_model;

static int fake_run(void *arg, ef_mat *X, int want_proba, serve__result *out, ef_ml_err *err)
{
    fake_model *f = arg;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->mu);
    f->calls++;
    f->rows_seen += X->rows;
    f->multi_calls += X->rows > 1;
    if (X->rows > f->max_seen)
        f->max_seen = X->rows;
    int fail_all = f->fail_all;
    pthread_mutex_unlock(&f->mu);
    usleep(300); /* a model that takes a while: requests queue meanwhile */
    if (fail_all)
        return ef_ml_errf(err, EF_EIO, "the model is broken");
    for (size_t i = 0; i < X->rows * X->cols; i++)
        if (X->v[i] == POISON)
            return ef_ml_errf(err, EF_EINVAL, "poisoned row %zu", i / X->cols);
    out->pred = malloc(X->rows * sizeof *out->pred);
    if (!out->pred || (want_proba && ef_mat_init(&out->proba, X->rows, 2))) {
        serve__result_release(out);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < X->rows; i++) {
        const double *row = X->v + i * X->cols;
        out->pred[i] = row[0] + row[1] + row[2];
        if (want_proba) {
            out->proba.v[2 * i] = row[0];
            out->proba.v[2 * i + 1] = row[1];
        }
    }
    return EF_OK;
}

typedef struct client {
    pthread_t th;
    serve__batcher *b;
    int id, n_requests, poison_every;
    int ok, failed, wrong;
    char last_err[600];
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    for (int j = 0; j < c->n_requests; j++) {
        size_t rows = 1 + (size_t)((c->id + j) % 3 == 0); /* 1 or 2 rows */
        int want = (c->id + j) % 2;
        int poison = c->poison_every && j % c->poison_every == 0;
        ef_mat X = {0};
        serve__result res;
        ef_ml_err err = {{0}};
        if (ef_mat_init(&X, rows, COLS)) {
            c->wrong++;
            continue;
        }
        for (size_t i = 0; i < rows; i++) {
            X.v[i * COLS] = c->id * 1000.0 + j;
            X.v[i * COLS + 1] = (double)i;
            X.v[i * COLS + 2] = poison ? POISON : 0.5;
        }
        int rc = serve__batcher_predict(c->b, &X, want, &res, &err);
        if (rc) {
            c->failed++;
            snprintf(c->last_err, sizeof c->last_err, "%d %s", rc, err.msg);
            if (!poison && c->poison_every)
                c->wrong++; /* only poisoned requests may fail */
            if (res.pred || res.proba.rows)
                c->wrong++;
        } else {
            c->ok++;
            if (poison || (want ? res.proba.rows != rows || res.proba.cols != 2
                                : res.proba.rows != 0))
                c->wrong++;
            for (size_t i = 0; i < rows; i++) {
                if (res.pred[i] != c->id * 1000.0 + j + (double)i + 0.5)
                    c->wrong++;
                if (want && (EF_MAT_AT(&res.proba, i, 0) != c->id * 1000.0 + j ||
                             EF_MAT_AT(&res.proba, i, 1) != (double)i))
                    c->wrong++;
            }
        }
        serve__result_release(&res);
        ef_mat_release(&X);
    }
    return NULL;
}

/* Runs n_clients threads of n_requests each through a batcher of max_rows / delay_us. */
static void run_clients(fake_model *f, size_t max_rows, int64_t delay_us, int n_clients,
                        int n_requests, int poison_every, client *cl, ef_metrics *metrics)
{
    ef_histogram *h = metrics ? ef_metrics_histogram(metrics, "rows", "rows", NULL, NULL, 0) : NULL;
    serve__batcher *b = serve__batcher_new(max_rows, delay_us, COLS, fake_run, f, h);
    assert_non_null(b);
    for (int t = 0; t < n_clients; t++) {
        cl[t] = (client){.b = b, .id = t, .n_requests = n_requests, .poison_every = poison_every};
        assert_int_equal(pthread_create(&cl[t].th, NULL, client_main, &cl[t]), 0);
    }
    for (int t = 0; t < n_clients; t++)
        pthread_join(cl[t].th, NULL);
    serve__batcher_free(b);
}

static fake_model *fake_new(void)
{
    fake_model *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

static void fake_free(fake_model *f)
{
    pthread_mutex_destroy(&f->mu);
    free(f);
}

enum { N_CLIENTS = 24, N_REQUESTS = 40 };

static void test_scatter_and_max(void **st)
{
    (void)st;
    int64_t delays[] = {0, 2000};
    for (int d = 0; d < 2; d++) {
        fake_model *f = fake_new();
        client cl[N_CLIENTS];
        ef_metrics *m = ef_metrics_new();
        assert_non_null(m);
        run_clients(f, 8, delays[d], N_CLIENTS, N_REQUESTS, 0, cl, m);
        size_t requests = 0;
        for (int t = 0; t < N_CLIENTS; t++) {
            if (cl[t].wrong || cl[t].failed)
                fail_msg("client %d: %d wrong, %d failed (%s)", t, cl[t].wrong, cl[t].failed,
                         cl[t].last_err);
            requests += (size_t)cl[t].ok;
        }
        assert_int_equal(requests, N_CLIENTS * N_REQUESTS);
        assert_true(f->max_seen <= 8);
        assert_true(f->multi_calls > 0);  /* requests were combined */
        assert_true(f->calls < requests); /* ... into fewer predict calls */
        /* the histogram saw every call and every row */
        ef_buf out = {0};
        assert_int_equal(ef_metrics_render(m, &out), 0);
        char want[128];
        snprintf(want, sizeof want, "rows_count %zu\n", f->calls);
        if (!strstr(out.data, want))
            fail_msg("no '%s' in:\n%s", want, out.data);
        snprintf(want, sizeof want, "rows_sum %zu\n", f->rows_seen);
        if (!strstr(out.data, want))
            fail_msg("no '%s' in:\n%s", want, out.data);
        ef_buf_release(&out);
        ef_metrics_free(m);
        fake_free(f);
    }
}

static void test_poisoned_row_fails_alone(void **st)
{
    (void)st;
    fake_model *f = fake_new();
    client cl[N_CLIENTS];
    run_clients(f, 16, 1000, N_CLIENTS, N_REQUESTS, 5, cl, NULL);
    for (int t = 0; t < N_CLIENTS; t++) {
        if (cl[t].wrong)
            fail_msg("client %d: %d wrong (%s)", t, cl[t].wrong, cl[t].last_err);
        assert_int_equal(cl[t].failed, N_REQUESTS / 5);
        assert_int_equal(cl[t].ok, N_REQUESTS - N_REQUESTS / 5);
        assert_non_null(strstr(cl[t].last_err, "poisoned row"));
    }
    fake_free(f);
}

static void test_failure_reaches_every_waiter(void **st)
{
    (void)st;
    fake_model *f = fake_new();
    f->fail_all = 1;
    client cl[N_CLIENTS];
    run_clients(f, 16, 1000, N_CLIENTS, 10, 0, cl, NULL);
    for (int t = 0; t < N_CLIENTS; t++) {
        assert_int_equal(cl[t].ok, 0);
        assert_int_equal(cl[t].failed, 10);
        assert_int_equal(cl[t].wrong, 0);
        char want[128];
        snprintf(want, sizeof want, "%d the model is broken", EF_EIO);
        assert_string_equal(cl[t].last_err, want);
    }
    assert_true(f->multi_calls > 0); /* failures came from combined calls too */
    fake_free(f);
}

static void test_off_and_bypass(void **st)
{
    (void)st;
    /* max_rows 1: every request is its own call */
    fake_model *f = fake_new();
    client cl[8];
    run_clients(f, 1, 1000, 8, 20, 0, cl, NULL);
    for (int t = 0; t < 8; t++) {
        assert_int_equal(cl[t].wrong, 0);
        assert_int_equal(cl[t].ok, 20);
    }
    assert_int_equal(f->calls, 8 * 20);
    assert_int_equal(f->max_seen, 2);
    fake_free(f);
    /* max_rows 3: 2-row requests (> 3/2) go alone, 1-row ones may be combined */
    f = fake_new();
    run_clients(f, 3, 1000, 8, 20, 0, cl, NULL);
    for (int t = 0; t < 8; t++) {
        assert_int_equal(cl[t].wrong, 0);
        assert_int_equal(cl[t].ok, 20);
    }
    assert_true(f->max_seen <= 3);
    fake_free(f);
    /* a request whose width is not the model's is scored alone (and gets the model's answer) */
    f = fake_new();
    serve__batcher *b = serve__batcher_new(8, 0, COLS + 1, fake_run, f, NULL);
    assert_non_null(b);
    ef_mat X = {0};
    serve__result res;
    ef_ml_err err = {{0}};
    assert_int_equal(ef_mat_init(&X, 1, COLS), 0);
    X.v[0] = 1, X.v[1] = 2, X.v[2] = 3;
    assert_int_equal(serve__batcher_predict(b, &X, 0, &res, &err), 0);
    assert_true(res.pred[0] == 6);
    serve__result_release(&res);
    ef_mat_release(&X);
    serve__batcher_free(b);
    assert_int_equal(f->calls, 1);
    fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scatter_and_max),
        cmocka_unit_test(test_poisoned_row_fails_alone),
        cmocka_unit_test(test_failure_reaches_every_waiter),
        cmocka_unit_test(test_off_and_bypass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
