"""Linear-model parity: edgeflow's elasticnet, lasso, ridge, linear_regression and
logistic_regression (src/ml/linear.c, linear_cd.c, logistic.c) against scikit-learn 1.2 run live
on the same wine split (train_test_split(random_state=42)).

The C side is driven through ef_ml_probe (tests/integration/ml_probe.c): it fits on a plain CSV
written here with 17 significant digits (so both sides see the same doubles), predicts the test
rows and prints weights and fit_info. Coordinate descent follows sklearn's cd_fast step for step,
so coefficients must agree to 1e-6 relative and n_iter_ exactly; Ridge and LinearRegression are
direct solvers (1e-8); LogisticRegression's L-BFGS follows scipy's L-BFGS-B, so on standardised
features predictions must be equal, probabilities within 1e-4 and n_iter_ equal.
"""
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mlprobe import Probe
from conftest import ROOT

DATA = os.path.join(ROOT, "examples", "data")


@pytest.fixture(scope="module")
def wine():
    df = pd.read_csv(os.path.join(DATA, "winequality-red.csv"), sep=";")
    X = df.drop(columns=["quality"]).to_numpy(dtype=float)
    y = df["quality"].to_numpy(dtype=float)
    return train_test_split(X, y, random_state=42)


@pytest.fixture(scope="module")
def wine_scaled(wine):
    Xtr, Xte, ytr, yte = wine
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


@pytest.fixture
def probe(ws):
    return Probe(ws)


def rel_diff(got, want):
    """max |got - want| / |want| over the entries where want != 0."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    nz = want != 0
    return float(np.max(np.abs(got[nz] - want[nz]) / np.abs(want[nz]))) if nz.any() else 0.0


def fit_quiet(model, X, y):
    """Fits with warnings recorded; returns (model, converged) like sklearn reports it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    return model, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def check_regressor(out, ref, Xte, rtol):
    coef = np.asarray(out["weights"]["coef"])
    assert coef.shape == ref.coef_.shape
    # exact zeros (the L1 penalty's) must be the same coordinates
    assert np.array_equal(coef == 0, ref.coef_ == 0), (coef, ref.coef_)
    rd = rel_diff(coef, ref.coef_)
    assert rd <= rtol, f"coef relative difference {rd:.3g} > {rtol}"
    np.testing.assert_allclose(out["weights"]["intercept"], ref.intercept_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(out["predict"], ref.predict(Xte), rtol=rtol, atol=1e-10)
    return rd


ENET_CASES = [(0.5, 0.5), (0.1, 0.1), (0.01, 0.9), (1.0, 1.0), (0.001, 0.5)]


@pytest.mark.parametrize("alpha,l1_ratio", ENET_CASES)
def test_elasticnet_matches_sklearn(probe, wine, alpha, l1_ratio):
    Xtr, Xte, ytr, yte = wine
    out = probe.run("elasticnet", Xtr, ytr, Xte, {"alpha": alpha, "l1_ratio": l1_ratio})
    ref, converged = fit_quiet(ElasticNet(alpha=alpha, l1_ratio=l1_ratio), Xtr, ytr)
    rd = check_regressor(out, ref, Xte, 1e-6)
    info = out["fit_info"]
    print(f"elasticnet alpha={alpha} l1_ratio={l1_ratio}: coef rel diff {rd:.3g}, "
          f"n_iter {info['n_iter']} / sklearn {ref.n_iter_}")
    assert info["n_iter"] == ref.n_iter_
    assert info["converged"] == converged
    np.testing.assert_allclose(info["dual_gap"], ref.dual_gap_, rtol=1e-6, atol=1e-12)
    assert out["params"]["alpha"] == alpha and out["params"]["selection"] == "cyclic"


@pytest.mark.parametrize("params", [
    {"alpha": 0.01, "l1_ratio": 0.5, "precompute": True},
    {"alpha": 0.01, "l1_ratio": 0.5, "selection": "random", "random_state": 0},
    {"alpha": 0.1, "l1_ratio": 0.7, "selection": "random", "random_state": 12345},
    {"alpha": 0.05, "l1_ratio": 0.5, "positive": True},
    {"alpha": 0.02, "l1_ratio": 0.3, "fit_intercept": False},
    {"alpha": 0.001, "l1_ratio": 0.5, "max_iter": 5},  # stops before converging
], ids=["gram", "random0", "random12345", "positive", "no_intercept", "max_iter5"])
def test_elasticnet_options_match_sklearn(probe, wine, params):
    Xtr, Xte, ytr, yte = wine
    out = probe.run("elasticnet", Xtr, ytr, Xte, params)
    ref, converged = fit_quiet(ElasticNet(**params), Xtr, ytr)
    rd = check_regressor(out, ref, Xte, 1e-6)
    print(f"elasticnet {params}: coef rel diff {rd:.3g}, n_iter {out['fit_info']['n_iter']}")
    assert out["fit_info"]["n_iter"] == ref.n_iter_
    assert out["fit_info"]["converged"] == converged
    if params.get("max_iter") == 5:
        assert not converged


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.1, 1.0])
def test_lasso_matches_sklearn(probe, wine, alpha):
    Xtr, Xte, ytr, yte = wine
    out = probe.run("lasso", Xtr, ytr, Xte, {"alpha": alpha})
    ref, converged = fit_quiet(Lasso(alpha=alpha), Xtr, ytr)
    rd = check_regressor(out, ref, Xte, 1e-6)
    print(f"lasso alpha={alpha}: coef rel diff {rd:.3g}, n_iter {out['fit_info']['n_iter']}")
    assert out["fit_info"]["n_iter"] == ref.n_iter_
    assert out["fit_info"]["converged"] == converged
    assert "l1_ratio" not in out["params"]


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("solver", ["auto", "cholesky", "svd"])
def test_ridge_matches_sklearn(probe, wine, alpha, solver):
    Xtr, Xte, ytr, yte = wine
    out = probe.run("ridge", Xtr, ytr, Xte, {"alpha": alpha, "solver": solver})
    ref = Ridge(alpha=alpha, solver=solver).fit(Xtr, ytr)
    rd = check_regressor(out, ref, Xte, 1e-8)
    print(f"ridge alpha={alpha} solver={solver}: coef rel diff {rd:.3g}")
    assert out["fit_info"]["solver"] == ("cholesky" if solver == "auto" else solver)


def test_ridge_wide_data_kernel_path(probe, wine):
    """More features than samples: sklearn's cholesky solves the kernel (dual) system."""
    Xtr, Xte, ytr, yte = wine
    rng = np.random.RandomState(0)
    Xw = np.column_stack([Xtr[:8], rng.normal(size=(8, 6))])
    Xw_te = np.column_stack([Xte[:20], rng.normal(size=(20, 6))])
    out = probe.run("ridge", Xw, ytr[:8], Xw_te, {"alpha": 0.5})
    ref = Ridge(alpha=0.5).fit(Xw, ytr[:8])
    check_regressor(out, ref, Xw_te, 1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_matches_sklearn(probe, wine, fit_intercept):
    Xtr, Xte, ytr, yte = wine
    out = probe.run("linear_regression", Xtr, ytr, Xte, {"fit_intercept": fit_intercept})
    ref = LinearRegression(fit_intercept=fit_intercept).fit(Xtr, ytr)
    rd = check_regressor(out, ref, Xte, 1e-8)
    print(f"linear_regression fit_intercept={fit_intercept}: coef rel diff {rd:.3g}")
    assert out["fit_info"]["rank"] == ref.rank_


LOGIT_CASES = [
    ("binary", {}),
    ("binary", {"C": 0.1}),
    ("binary", {"penalty": None}),
    ("binary", {"class_weight": "balanced"}),
    ("binary", {"multi_class": "multinomial"}),
    ("binary", {"fit_intercept": False, "C": 10.0}),
    ("multiclass", {}),
    ("multiclass", {"C": 0.1}),
    ("multiclass", {"class_weight": "balanced"}),
    ("multiclass", {"fit_intercept": False}),
]


@pytest.mark.parametrize("target,params", LOGIT_CASES,
                         ids=[f"{t}-{p}" for t, p in LOGIT_CASES])
def test_logistic_matches_sklearn(probe, wine_scaled, target, params):
    Xtr, Xte, ytr, yte = wine_scaled
    if target == "binary":
        ytr = (ytr >= 6).astype(float)
    out = probe.run("logistic_regression", Xtr, ytr, Xte, params)
    ref, converged = fit_quiet(LogisticRegression(**params), Xtr, ytr)
    np.testing.assert_array_equal(out["classes"], ref.classes_)
    np.testing.assert_array_equal(out["predict"], ref.predict(Xte))
    proba = np.asarray(out["proba"])
    pd_ = float(np.max(np.abs(proba - ref.predict_proba(Xte))))
    assert pd_ <= 1e-4, f"predict_proba differs by {pd_:.3g}"
    coef = np.asarray(out["weights"]["coef"])
    # two classes fitted as multinomial: edgeflow keeps w1 - w0 = 2 * sklearn's coef_ so that
    # expit(x.coef + b) gives the probabilities (see the header of src/ml/logistic.c)
    scale = 2 if len(ref.classes_) == 2 and params.get("multi_class") == "multinomial" else 1
    want = scale * ref.coef_
    assert coef.shape == want.shape
    rd = float(np.max(np.abs(coef - want)) / np.max(np.abs(want)))
    print(f"logistic {target} {params}: coef rel diff {rd:.3g}, proba diff {pd_:.3g}, "
          f"n_iter {out['fit_info']['n_iter']} / sklearn {ref.n_iter_[0]}")
    assert rd <= 1e-4
    np.testing.assert_allclose(out["weights"]["intercept"],
                               scale * ref.intercept_, atol=1e-4)
    assert out["fit_info"]["n_iter"] == ref.n_iter_[0]
    assert out["fit_info"]["converged"] == converged


def test_logistic_unscaled_reports_non_convergence(probe, wine):
    """Raw wine features: lbfgs hits max_iter in sklearn (ConvergenceWarning) and here."""
    Xtr, Xte, ytr, yte = wine
    out = probe.run("logistic_regression", Xtr, ytr, Xte, {})
    ref, converged = fit_quiet(LogisticRegression(), Xtr, ytr)
    assert not converged and out["fit_info"]["converged"] is False
    assert out["fit_info"]["n_iter"] == ref.n_iter_[0] == 100
    # both stopped early on an ill-conditioned problem: close, not equal
    agree = np.mean(np.asarray(out["predict"]) == ref.predict(Xte))
    assert agree > 0.95


@pytest.mark.parametrize("typ,params,words", [
    ("logistic_regression", {"penalty": "l1"}, "penalty"),
    ("logistic_regression", {"solver": "liblinear"}, "solver"),
    ("ridge", {"solver": "sag"}, "solver"),
    ("linear_regression", {"positive": True}, "positive"),
    ("elasticnet", {"l1_ratio": 2}, "l1_ratio"),
    ("elasticnet", {"selection": "shuffle"}, "selection"),
    ("lasso", {"l1_ratio": 0.5}, "l1_ratio"),
])
def test_unsupported_and_invalid_parameters(probe, wine, typ, params, words):
    Xtr, Xte, ytr, yte = wine
    msg = probe.run(typ, Xtr[:50], (ytr[:50] >= 6).astype(float), Xte[:5], params, ok=False)
    assert words in msg, msg
