/* logistic.c - LogisticRegression with scikit-learn 1.2's parameters, defaults and solver:
 * L2-penalised (or unpenalised) log-loss minimised by L-BFGS as scipy's L-BFGS-B runs it without
 * bounds (sklearn's default solver='lbfgs').
 *
 * Objective (sklearn's LinearModelLoss, 1.2 scaling): sum_i sw_i * loss_i + 0.5 / C * ||W||^2,
 * the intercept unpenalised; loss_i is the half binomial loss for two classes (multi_class auto
 * or ovr: one coefficient row) and the half multinomial loss (softmax) for K > 2 classes or
 * multi_class=multinomial. sw_i = 1, or n / (K * count(class)) for class_weight=balanced.
 *
 * The optimiser reproduces L-BFGS-B's unconstrained path: first step -g scaled to unit length,
 * then d = -H g from the last 10 corrections (maxcor) with H0 = s'y / y'y; the Moré-Thuente line
 * search (dcsrch: ftol 1e-3, gtol 0.9, xtol 0.1, at most 20 evaluations, memory reset and retry
 * when it fails); stop when max |g| <= tol (pgtol), when the relative decrease of f is <= 2.2e-9
 * (scipy's default ftol = factr * eps), or after max_iter iterations (then "converged": false
 * and a warning like sklearn's ConvergenceWarning). n_iter counts iterations like scipy's nit.
 *
 * Fitted state and model.json "weights": {"coef": [[d] x r], "intercept": [r]}; r = 1 for two
 * classes (decision = x.coef + b, classes[1] when > 0, p = expit), r = K otherwise (softmax).
 * For two classes fitted with multi_class=multinomial the stored row is w1 - w0, i.e. twice
 * sklearn's coef_, which is what makes expit(x.coef + b) equal sklearn's probabilities.
 */
#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "ml/ml.h"
#include "ml/score.h" /* ef_score_sum: numpy's pairwise np.sum, so losses add up like sklearn's */

static const ef_ml_param logit_params[] = {
    {"penalty", EF_ML_PSTRING, "l2", 1, "l1|l2|elasticnet|none",
     "l2, or None/none for no penalty; l1 and elasticnet are not implemented"},
    {"dual", EF_ML_PBOOL, "false", 0, NULL, "true is not supported (liblinear only)"},
    {"tol", EF_ML_PDOUBLE, "0.0001", 0, NULL,
     "stop when the largest gradient component is <= tol (scipy's pgtol)"},
    {"C", EF_ML_PDOUBLE, "1.0", 0, NULL, "inverse of the L2 regularisation strength (> 0)"},
    {"fit_intercept", EF_ML_PBOOL, "true", 0, NULL, "fit an unpenalised intercept per row"},
    {"intercept_scaling", EF_ML_PDOUBLE, "1", 0, NULL,
     "accepted and ignored: only the liblinear solver uses it"},
    {"class_weight", EF_ML_PSTRING, "None", 1, "balanced",
     "None, or balanced: weight samples by n / (n_classes * class count)"},
    {"random_state", EF_ML_PINT, "None", 1, NULL, "accepted and ignored: lbfgs is deterministic"},
    {"solver", EF_ML_PSTRING, "lbfgs", 0, "lbfgs|liblinear|newton-cg|newton-cholesky|sag|saga",
     "lbfgs; the other solvers are not implemented"},
    {"max_iter", EF_ML_PINT, "100", 0, NULL, "maximum number of L-BFGS iterations (>= 0)"},
    {"multi_class", EF_ML_PSTRING, "auto", 0, "auto|ovr|multinomial",
     "auto: binary for two classes, multinomial (softmax) otherwise; ovr only for two classes"},
    {"verbose", EF_ML_PINT, "0", 0, NULL, "accepted and ignored: progress goes to the callback"},
    {"warm_start", EF_ML_PBOOL, "false", 0, NULL,
     "accepted and ignored: every fit starts from zero coefficients"},
    {"n_jobs", EF_ML_PINT, "None", 1, NULL, "accepted and ignored: fitting is single-threaded"},
    {"l1_ratio", EF_ML_PDOUBLE, "None", 1, NULL,
     "accepted and ignored: only penalty=elasticnet uses it, which is not implemented"},
    {0},
};

typedef struct logit_state {
    ef_mat coef;       /* r x d */
    double *intercept; /* r */
} logit_state;

/* ---- the loss: value and gradient ---------------------------------------------------------- */

typedef struct logit_problem {
    const ef_mat *X;
    const int *yk;    /* class index per sample; binary: 0/1 */
    const double *sw; /* sample weights */
    size_t K;         /* 1: binomial; >= 2: multinomial with K classes */
    int fit_intercept;
    double l2;   /* 1 / C, 0 without penalty */
    double *raw; /* n x K scratch */
    double *lo;  /* n scratch: per-sample losses */
} logit_problem;

/* sklearn's closs_grad_half_binomial: loss log(1 + e^r) - y r and gradient expit(r) - y. */
static void half_binomial(double y, double r, double *loss, double *grad)
{
    double e;
    if (r <= 0) {
        e = exp(r);
        *loss = (r <= -37 ? e : log1p(e)) - y * r;
        *grad = ((1 - y) * e - y) / (1 + e);
    } else {
        e = exp(-r);
        *loss = (r <= 18 ? log1p(e) : e) + (1 - y) * r;
        *grad = ((1 - y) - y * e) / (1 + e);
    }
}

/* theta layout (sklearn's): binomial [w_0..w_{d-1}, b]; multinomial the (K, d+1) matrix in
 * Fortran order, theta[j * K + k], so the first d * K entries are W' as a row-major d x K matrix.
 * Writes the gradient into g and returns the objective. */
static double logit_fg(void *ctx, const double *theta, double *g)
{
    const logit_problem *p = ctx;
    const ef_mat *X = p->X;
    int n = (int)X->rows, d = (int)X->cols, K = (int)p->K;
    double *raw = p->raw;
    double pen;
    if (K == 1) {
        double b = p->fit_intercept ? theta[d] : 0.0;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, 1.0, X->v, d, theta, 1, 0.0, raw, 1);
        for (int i = 0; i < n; i++) {
            double l, gr;
            half_binomial((double)p->yk[i], raw[i] + b, &l, &gr);
            p->lo[i] = p->sw[i] * l;
            raw[i] = p->sw[i] * gr; /* raw now holds the pointwise gradient */
        }
        pen = cblas_ddot(d, theta, 1, theta, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, n, d, 1.0, X->v, d, raw, 1, 0.0, g, 1);
        if (p->fit_intercept) g[d] = ef_score_sum(raw, (size_t)n);
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, K, d, 1.0, X->v, d, theta, K, 0.0,
                    raw, K);
        const double *b = theta + (size_t)d * (size_t)K;
        for (int i = 0; i < n; i++) {
            double *ri = raw + (size_t)i * (size_t)K;
            if (p->fit_intercept)
                for (int k = 0; k < K; k++)
                    ri[k] += b[k];
            double mx = ri[0], sum = 0.0;
            for (int k = 1; k < K; k++)
                if (ri[k] > mx) mx = ri[k];
            double l = 0.0;
            for (int k = 0; k < K; k++) {
                if (p->yk[i] == k) l = -ri[k];
                ri[k] = exp(ri[k] - mx);
                sum += ri[k];
            }
            p->lo[i] = p->sw[i] * (log(sum) + mx + l);
            for (int k = 0; k < K; k++)
                ri[k] = p->sw[i] * (ri[k] / sum - (p->yk[i] == k ? 1.0 : 0.0));
        }
        pen = cblas_ddot(d * K, theta, 1, theta, 1);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, K, n, 1.0, X->v, d, raw, K, 0.0, g,
                    K);
        if (p->fit_intercept) {
            double *gb = g + (size_t)d * (size_t)K;
            memset(gb, 0, (size_t)K * sizeof *gb);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < K; k++)
                    gb[k] += raw[(size_t)i * (size_t)K + k];
        }
    }
    size_t nw = (size_t)d * (size_t)K;
    for (size_t j = 0; j < nw; j++)
        g[j] += p->l2 * theta[j];
    return ef_score_sum(p->lo, (size_t)n) + 0.5 * p->l2 * pen;
}

/* ---- L-BFGS with the Moré-Thuente line search (MINPACK-2 dcsrch/dcstep) -------------------- */

typedef struct ls_state { /* dcsrch's saved variables */
    int brackt, stage;
    double ginit, gtest, gx, gy, finit, fx, fy, stx, sty, stmin, stmax, width, width1;
} ls_state;

enum { LS_FG, LS_CONV, LS_WARN };

/* dcstep: safeguarded cubic/quadratic step between the best step stx and the other end sty. */
static void ls_step(double *stx, double *fx, double *dx, double *sty, double *fy, double *dy,
                    double *stp, double fp, double dp, int *brackt, double stpmin, double stpmax)
{
    double sgnd = dp * (*dx / fabs(*dx)), stpf, stpc, stpq, theta, s, gamma, p, q, r;
    if (fp > *fx) { /* higher value: the minimum is bracketed */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp < *stx) gamma = -gamma;
        p = (gamma - *dx) + theta;
        q = ((gamma - *dx) + gamma) + dp;
        r = p / q;
        stpc = *stx + r * (*stp - *stx);
        stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        stpf = fabs(stpc - *stx) < fabs(stpq - *stx) ? stpc : stpc + (stpq - stpc) / 2.0;
        *brackt = 1;
    } else if (sgnd < 0.0) { /* derivatives of opposite sign: bracketed */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = ((gamma - dp) + gamma) + *dx;
        r = p / q;
        stpc = *stp + r * (*stx - *stp);
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
        *brackt = 1;
    } else if (fabs(dp) < fabs(*dx)) { /* same sign, derivative magnitude decreases */
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        gamma = s * sqrt(fmax(0.0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = (gamma + (*dx - dp)) + gamma;
        r = p / q;
        if (r < 0.0 && gamma != 0.0)
            stpc = *stp + r * (*stx - *stp);
        else
            stpc = *stp > *stx ? stpmax : stpmin;
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (*brackt) {
            stpf = fabs(stpc - *stp) < fabs(stpq - *stp) ? stpc : stpq;
            if (*stp > *stx)
                stpf = fmin(*stp + 0.66 * (*sty - *stp), stpf);
            else
                stpf = fmax(*stp + 0.66 * (*sty - *stp), stpf);
        } else {
            stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
            stpf = fmax(stpmin, fmin(stpmax, stpf));
        }
    } else { /* same sign, derivative does not decrease */
        if (*brackt) {
            theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
            s = fmax(fabs(theta), fmax(fabs(*dy), fabs(dp)));
            gamma = s * sqrt((theta / s) * (theta / s) - (*dy / s) * (dp / s));
            if (*stp > *sty) gamma = -gamma;
            p = (gamma - dp) + theta;
            q = ((gamma - dp) + gamma) + *dy;
            r = p / q;
            stpf = *stp + r * (*sty - *stp);
        } else {
            stpf = *stp > *stx ? stpmax : stpmin;
        }
    }
    if (fp > *fx) {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if (sgnd < 0.0) {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

#define LS_FTOL 1e-3
#define LS_GTOL 0.9
#define LS_XTOL 0.1

static void ls_start(ls_state *s, double f, double g, double stp)
{
    memset(s, 0, sizeof *s);
    s->finit = s->fx = s->fy = f;
    s->ginit = s->gx = s->gy = g;
    s->gtest = LS_FTOL * g;
    s->stage = 1;
    s->width = 1e10; /* stpmax - stpmin */
    s->width1 = s->width / 0.5;
    s->stmax = stp + 4.0 * stp;
}

/* One dcsrch step after evaluating f and the directional derivative g at *stp. */
static int ls_next(ls_state *s, double f, double g, double *stp, double stpmax)
{
    double ftest = s->finit + *stp * s->gtest;
    int task = LS_FG;
    if (s->stage == 1 && f <= ftest && g >= 0.0) s->stage = 2;
    if (s->brackt && (*stp <= s->stmin || *stp >= s->stmax))
        task = LS_WARN; /* rounding errors prevent progress */
    if (s->brackt && s->stmax - s->stmin <= LS_XTOL * s->stmax) task = LS_WARN;
    if (*stp == stpmax && f <= ftest && g <= s->gtest) task = LS_WARN;
    if (*stp == 0.0 && (f > ftest || g >= s->gtest)) task = LS_WARN;
    if (f <= ftest && fabs(g) <= LS_GTOL * (-s->ginit)) task = LS_CONV;
    if (task != LS_FG) return task;
    if (s->stage == 1 && f <= s->fx && f > ftest) { /* modified function */
        double fm = f - *stp * s->gtest, fxm = s->fx - s->stx * s->gtest;
        double fym = s->fy - s->sty * s->gtest, gm = g - s->gtest;
        double gxm = s->gx - s->gtest, gym = s->gy - s->gtest;
        ls_step(&s->stx, &fxm, &gxm, &s->sty, &fym, &gym, stp, fm, gm, &s->brackt, s->stmin,
                s->stmax);
        s->fx = fxm + s->stx * s->gtest;
        s->fy = fym + s->sty * s->gtest;
        s->gx = gxm + s->gtest;
        s->gy = gym + s->gtest;
    } else {
        ls_step(&s->stx, &s->fx, &s->gx, &s->sty, &s->fy, &s->gy, stp, f, g, &s->brackt, s->stmin,
                s->stmax);
    }
    if (s->brackt) {
        if (fabs(s->sty - s->stx) >= 0.66 * s->width1) *stp = s->stx + 0.5 * (s->sty - s->stx);
        s->width1 = s->width;
        s->width = fabs(s->sty - s->stx);
        s->stmin = fmin(s->stx, s->sty);
        s->stmax = fmax(s->stx, s->sty);
    } else {
        s->stmin = *stp + 1.1 * (*stp - s->stx);
        s->stmax = *stp + 4.0 * (*stp - s->stx);
    }
    *stp = fmin(fmax(*stp, 0.0), stpmax);
    if ((s->brackt && (*stp <= s->stmin || *stp >= s->stmax)) ||
        (s->brackt && s->stmax - s->stmin <= LS_XTOL * s->stmax))
        *stp = s->stx;
    return LS_FG;
}

#define LBFGS_M 10
#define LBFGS_MAXLS 20
#define LBFGS_STPMAX 1e10

typedef double (*lbfgs_fn)(void *ctx, const double *x, double *g);

typedef struct lbfgs_result {
    long nit;
    double f;
    int status; /* 0 converged, 1 iteration limit, 2 line search failed */
    const char *message;
} lbfgs_result;

static double inf_norm(const double *v, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

/* Minimises fn from x (updated in place). Returns 0, EF_ENOMEM, or EF_EAGAIN when cancelled. */
static int lbfgs(lbfgs_fn fn, void *ctx, double *x, size_t n, long max_iter, double pgtol,
                 const ef_estimator *e, lbfgs_result *res)
{
    const double ftol = 2.2204460492503131e-09 / DBL_EPSILON * DBL_EPSILON; /* factr * epsmch */
    int N = (int)n, rc = EF_OK;
    double *buf = malloc((6 + 2 * LBFGS_M) * n * sizeof *buf);
    if (!buf) return EF_ENOMEM;
    double *g = buf, *d = g + n, *z = d + n, *t = z + n, *r = t + n, *q = r + n;
    double *S = q + n, *Y = S + LBFGS_M * n, sy[LBFGS_M], alph[LBFGS_M];
    int col = 0, head = 0;
    double theta = 1.0;
    memset(res, 0, sizeof *res);
    double f = fn(ctx, x, g);
    if (inf_norm(g, n) <= pgtol) {
        res->message = "CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL";
        goto done;
    }
    for (;;) {
        if (col == 0) { /* Cauchy step with B = I */
            for (size_t i = 0; i < n; i++)
                d[i] = -g[i];
        } else { /* d = -H g, two-loop recursion over the newest col corrections */
            memcpy(q, g, n * sizeof *q);
            for (int c = col - 1; c >= 0; c--) {
                int k = (head + c) % LBFGS_M;
                alph[k] = cblas_ddot(N, S + k * n, 1, q, 1) / sy[k];
                cblas_daxpy(N, -alph[k], Y + k * n, 1, q, 1);
            }
            cblas_dscal(N, 1.0 / theta, q, 1);
            for (int c = 0; c < col; c++) {
                int k = (head + c) % LBFGS_M;
                double beta = cblas_ddot(N, Y + k * n, 1, q, 1) / sy[k];
                cblas_daxpy(N, alph[k] - beta, S + k * n, 1, q, 1);
            }
            for (size_t i = 0; i < n; i++)
                d[i] = -q[i];
        }
        for (size_t i = 0; i < n; i++) { /* z = the model's minimiser, d = z - x */
            z[i] = x[i] + d[i];
            d[i] = z[i] - x[i];
        }
        double dnorm = cblas_dnrm2(N, d, 1);
        double stp = res->nit == 0 ? fmin(1.0 / dnorm, LBFGS_STPMAX) : 1.0;
        memcpy(t, x, n * sizeof *t);
        memcpy(r, g, n * sizeof *r);
        double fold = f, gd = 0.0, gdold = 0.0;
        int ifun = 0, ok = 0;
        ls_state ls;
        for (;;) {
            gd = cblas_ddot(N, g, 1, d, 1);
            if (ifun == 0) {
                gdold = gd;
                if (gd >= 0.0) /* not a descent direction */
                    break;
                ls_start(&ls, f, gd, stp);
            } else if (ls_next(&ls, f, gd, &stp, LBFGS_STPMAX) != LS_FG) {
                ok = 1;
                break;
            }
            ifun++;
            if (ifun - 1 >= LBFGS_MAXLS) break;
            if (stp == 1.0)
                memcpy(x, z, n * sizeof *x);
            else
                for (size_t i = 0; i < n; i++)
                    x[i] = stp * d[i] + t[i];
            f = fn(ctx, x, g);
        }
        if (!ok) { /* restore the previous iterate; restart from a clean memory or give up */
            memcpy(x, t, n * sizeof *x);
            memcpy(g, r, n * sizeof *g);
            f = fold;
            if (col == 0) {
                res->status = 2;
                res->message = "ABNORMAL_TERMINATION_IN_LNSRCH";
                goto done;
            }
            col = head = 0;
            theta = 1.0;
            continue;
        }
        res->nit++;
        if (e->progress && e->progress(e->progress_ctx, res->nit, max_iter, f)) {
            rc = EF_EAGAIN;
            goto done;
        }
        if (res->nit >= max_iter) {
            res->status = 1;
            res->message = "STOP: TOTAL NO. of ITERATIONS REACHED LIMIT";
            goto done;
        }
        if (inf_norm(g, n) <= pgtol) {
            res->message = "CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL";
            goto done;
        }
        if (fold - f <= ftol * fmax(fmax(fabs(fold), fabs(f)), 1.0)) {
            res->message = "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH";
            goto done;
        }
        for (size_t i = 0; i < n; i++) /* y = g_new - g_old */
            r[i] = g[i] - r[i];
        double rr = cblas_ddot(N, r, 1, r, 1), dr, ddum;
        if (stp == 1.0) {
            dr = gd - gdold;
            ddum = -gdold;
        } else {
            dr = (gd - gdold) * stp;
            cblas_dscal(N, stp, d, 1);
            ddum = -gdold * stp;
        }
        if (dr <= DBL_EPSILON * ddum)
            continue; /* skip the update: curvature condition fails numerically */
        int k = col < LBFGS_M ? (head + col) % LBFGS_M : head;
        if (col < LBFGS_M)
            col++;
        else
            head = (head + 1) % LBFGS_M;
        memcpy(S + k * n, d, n * sizeof *S);
        memcpy(Y + k * n, r, n * sizeof *Y);
        sy[k] = dr;
        theta = rr / dr;
    }
done:
    res->f = f;
    free(buf);
    return rc;
}

/* ---- fit ------------------------------------------------------------------------------------ */

static int logit_fit(ef_estimator *e, const ef_mat *X, const double *y, const int *y_idx,
                     ef_ml_err *err)
{
    (void)y;
    const char *penalty = ef_ml_pstring(e, "penalty"), *solver = ef_ml_pstring(e, "solver");
    const char *mc = ef_ml_pstring(e, "multi_class");
    double C = ef_ml_pdouble(e, "C"), tol = ef_ml_pdouble(e, "tol");
    long max_iter = ef_ml_pint(e, "max_iter");
    int fit_intercept = ef_ml_pbool(e, "fit_intercept");
    size_t n = X->rows, d = X->cols, nc = e->n_classes;
    if (strcmp(solver, "lbfgs"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "logistic_regression: solver '%s' is not implemented; use solver=lbfgs",
                          solver);
    if (penalty && (!strcmp(penalty, "l1") || !strcmp(penalty, "elasticnet")))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "logistic_regression: penalty='%s' is not supported by the lbfgs "
                          "solver; use penalty=l2 or penalty=None",
                          penalty);
    if (ef_ml_pbool(e, "dual"))
        return ef_ml_errf(
            err, EF_EUNSUPPORTED,
            "logistic_regression: dual=true needs the liblinear solver; set dual=false");
    if (!(C > 0))
        return ef_ml_errf(err, EF_EINVAL, "logistic_regression: C must be > 0, got %g", C);
    if (!(tol >= 0))
        return ef_ml_errf(err, EF_EINVAL, "logistic_regression: tol must be >= 0, got %g", tol);
    if (max_iter < 0)
        return ef_ml_errf(err, EF_EINVAL, "logistic_regression: max_iter must be >= 0, got %ld",
                          max_iter);
    if (nc > 2 && !strcmp(mc, "ovr"))
        return ef_ml_errf(err, EF_EUNSUPPORTED,
                          "logistic_regression: multi_class=ovr with %zu classes is not "
                          "implemented; use multi_class=auto or multinomial",
                          nc);
    if (n > INT_MAX || d > INT_MAX || (d + 1) * nc > INT_MAX || n * (nc > 2 ? nc : 2) > INT_MAX)
        return ef_ml_errf(err, EF_ETOOBIG,
                          "logistic_regression: %zu x %zu is too large for one fit", n, d);
    int binomial = nc == 2 && strcmp(mc, "multinomial");
    size_t K = binomial ? 1 : nc, nth = (d + (fit_intercept ? 1 : 0)) * K;
    logit_problem p = {.X = X,
                       .yk = y_idx,
                       .K = K,
                       .fit_intercept = fit_intercept,
                       .l2 = (penalty && strcmp(penalty, "none")) ? 1.0 / C : 0.0};
    double *sw = malloc(n * sizeof *sw), *theta = calloc(nth, sizeof *theta);
    size_t *count = calloc(nc, sizeof *count);
    p.raw = malloc(n * K * sizeof *p.raw);
    p.lo = malloc(n * sizeof *p.lo);
    logit_state *s = calloc(1, sizeof *s);
    size_t r = binomial || nc == 2 ? 1 : nc;
    int rc = EF_ENOMEM;
    if (!sw || !theta || !count || !p.raw || !p.lo || !s || ef_mat_init(&s->coef, r, d) ||
        !(s->intercept = calloc(r, sizeof *s->intercept))) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sw[i] = 1.0;
        count[y_idx[i]]++;
    }
    if (!ef_ml_pnull(e, "class_weight")) /* "balanced" */
        for (size_t i = 0; i < n; i++)
            sw[i] = (double)n / ((double)nc * (double)count[y_idx[i]]);
    p.sw = sw;
    lbfgs_result res;
    rc = lbfgs(logit_fg, &p, theta, nth, max_iter, tol, e, &res);
    if (rc) {
        rc = rc == EF_EAGAIN ? ef_ml_errf(err, rc, "logistic_regression: cancelled")
                             : ef_ml_errf(err, rc, "out of memory");
        goto out;
    }
    long n_iter = res.nit < max_iter ? res.nit : max_iter;
    if (res.status)
        EF_WARN("logistic_regression: lbfgs failed to converge (status=%d): %s; increase max_iter "
                "or scale the features (standard_scaler)",
                res.status, res.message);
    if (!json_is_object(e->fit_info) ||
        json_object_set_new(e->fit_info, "n_iter", json_integer(n_iter)) ||
        json_object_set_new(e->fit_info, "loss", json_real(res.f)) ||
        json_object_set_new(e->fit_info, "converged", json_boolean(res.status == 0)) ||
        json_object_set_new(e->fit_info, "message", json_string(res.message))) {
        rc = ef_ml_errf(err, EF_ENOMEM, "out of memory");
        goto out;
    }
    if (binomial) {
        memcpy(s->coef.v, theta, d * sizeof *theta);
        s->intercept[0] = fit_intercept ? theta[d] : 0.0;
    } else if (nc == 2) { /* multinomial with two classes: row 1 minus row 0 */
        for (size_t j = 0; j < d; j++)
            s->coef.v[j] = theta[j * 2 + 1] - theta[j * 2];
        s->intercept[0] = fit_intercept ? theta[d * 2 + 1] - theta[d * 2] : 0.0;
    } else {
        for (size_t k = 0; k < K; k++) {
            for (size_t j = 0; j < d; j++)
                s->coef.v[k * d + j] = theta[j * K + k];
            s->intercept[k] = fit_intercept ? theta[d * K + k] : 0.0;
        }
    }
    for (size_t i = 0; i < r * d; i++)
        if (!isfinite(s->coef.v[i])) {
            rc = ef_ml_errf(err, EF_EINVAL,
                            "logistic_regression: non-finite coefficients; scale "
                            "the features (standard_scaler) and retry");
            goto out;
        }
    e->state = s;
    s = NULL;
    rc = EF_OK;
out:
    if (s) {
        ef_mat_release(&s->coef);
        free(s->intercept);
        free(s);
    }
    free(p.lo);
    free(p.raw);
    free(count);
    free(theta);
    free(sw);
    return rc;
}

/* ---- predict, save, load ------------------------------------------------------------------- */

/* out (n x r) = X coef' + intercept, like sklearn's decision_function. */
static int decision(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    const logit_state *s = e->state;
    size_t r = s->coef.rows;
    if (X->rows > INT_MAX || X->cols > INT_MAX || X->rows * r > INT_MAX)
        return ef_ml_errf(err, EF_ETOOBIG, "logistic_regression: too many rows for one call");
    int n = (int)X->rows, d = (int)X->cols;
    if (r == 1)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, 1.0, X->v, d, s->coef.v, 1, 0.0, out, 1);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)r, d, 1.0, X->v, d, s->coef.v,
                    d, 0.0, out, (int)r);
    for (size_t i = 0; i < X->rows; i++)
        for (size_t k = 0; k < r; k++)
            out[i * r + k] += s->intercept[k];
    return EF_OK;
}

static int logit_predict(const ef_estimator *e, const ef_mat *X, double *out, ef_ml_err *err)
{
    const logit_state *s = e->state;
    size_t r = s->coef.rows;
    double *dec = malloc(X->rows * r * sizeof *dec);
    if (!dec) return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    int rc = decision(e, X, dec, err);
    for (size_t i = 0; !rc && i < X->rows; i++) {
        size_t best = 0;
        if (r == 1) {
            best = dec[i] > 0 ? 1 : 0;
        } else {
            for (size_t k = 1; k < r; k++)
                if (dec[i * r + k] > dec[i * r + best]) best = k;
        }
        out[i] = e->classes[best];
    }
    free(dec);
    return rc;
}

static int logit_proba(const ef_estimator *e, const ef_mat *X, ef_mat *out, ef_ml_err *err)
{
    const logit_state *s = e->state;
    size_t r = s->coef.rows, K = e->n_classes;
    int rc = ef_mat_init(out, X->rows, K);
    if (rc) return ef_ml_errf(err, rc, "out of memory");
    double *dec = r == 1 ? malloc(X->rows * sizeof *dec) : out->v;
    if (!dec) {
        ef_mat_release(out);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    rc = decision(e, X, dec, err);
    for (size_t i = 0; !rc && i < X->rows; i++) {
        double *o = out->v + i * K;
        if (r == 1) {
            double p = 1.0 / (1.0 + exp(-dec[i])); /* expit */
            o[0] = 1.0 - p;
            o[1] = p;
            continue;
        }
        double mx = o[0], sum = 0.0;
        for (size_t k = 1; k < K; k++)
            if (o[k] > mx) mx = o[k];
        for (size_t k = 0; k < K; k++) {
            o[k] = exp(o[k] - mx);
            sum += o[k];
        }
        for (size_t k = 0; k < K; k++)
            o[k] /= sum;
    }
    if (r == 1) free(dec);
    if (rc) ef_mat_release(out);
    return rc;
}

static int logit_save(const ef_estimator *e, json_t *weights, const char *dir, ef_ml_err *err)
{
    (void)dir;
    const logit_state *s = e->state;
    if (!s) return ef_ml_errf(err, EF_EINVAL, "logistic_regression is not fitted yet");
    if (json_object_set_new(weights, "coef", ef_ml_json_mat(&s->coef)) ||
        json_object_set_new(weights, "intercept", ef_ml_json_vec(s->intercept, s->coef.rows)))
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    return EF_OK;
}

static void logit_release(ef_estimator *e)
{
    logit_state *s = e->state;
    if (s) {
        ef_mat_release(&s->coef);
        free(s->intercept);
        free(s);
    }
    e->state = NULL;
}

static int logit_load(ef_estimator *e, const json_t *weights, const char *dir, ef_ml_err *err)
{
    (void)dir;
    if (e->n_classes < 2 || e->n_features == 0)
        return ef_ml_errf(err, EF_EINVAL,
                          "model.json: classes (>= 2) and n_features must be set before weights");
    if (!json_is_object(weights))
        return ef_ml_errf(err, EF_EINVAL,
                          "model.json: weights must be an object with coef and "
                          "intercept");
    size_t r = e->n_classes == 2 ? 1 : e->n_classes;
    logit_state *s = calloc(1, sizeof *s);
    if (!s || !(s->intercept = malloc(r * sizeof *s->intercept))) {
        free(s);
        return ef_ml_errf(err, EF_ENOMEM, "out of memory");
    }
    int rc = ef_ml_json_get_mat(json_object_get(weights, "coef"), &s->coef, r, e->n_features,
                                "weights.coef", err);
    if (!rc)
        rc = ef_ml_json_get_vec(json_object_get(weights, "intercept"), s->intercept, r,
                                "weights.intercept", err);
    if (rc) {
        ef_mat_release(&s->coef);
        free(s->intercept);
        free(s);
        return rc;
    }
    if (e->state) logit_release(e);
    e->state = s;
    return EF_OK;
}

const ef_ml_type ef_ml_logistic_regression = {
    .name = "logistic_regression",
    .sklearn_class = "sklearn.linear_model.LogisticRegression",
    .task = EF_ML_CLASSIFIER,
    .params = logit_params,
    .fit = logit_fit,
    .predict = logit_predict,
    .predict_proba = logit_proba,
    .save = logit_save,
    .load = logit_load,
    .release = logit_release,
};
