"""LDA and MLP parity: edgeflow's lda, mlp_classifier and mlp_regressor (src/ml/lda.c, mlp.c,
mlp_train.c) against scikit-learn 1.2.1, run live on the same data.

The C side runs through ef_ml_probe (tests/integration/ml_probe.c): it fits on a plain CSV and
prints predictions, probabilities, the model.json weights and fit_info. Data: the EEG letters set
(rows L2-normalised with sklearn.preprocessing.normalize, as in the reference experiment) and the
red-wine set (standardised on the training part).

- LDA re-expresses sklearn's _solve_svd / _solve_lstsq / _solve_eigen (and the Ledoit-Wolf
  shrinkage) over the same LAPACK drivers (gesdd, gelsd, sygvd): the predictions must be
  identical and the probabilities within 1e-8; transform (computed from the saved xbar /
  scalings) equal up to the sign of each column.
- MLP: same Glorot initialisation, same shuffles, same minibatches, so with a fixed random_state
  the per-epoch losses must agree to 1e-9 (relative) with sklearn's loss_curve_ and the epoch
  counts must be equal; the full EEG run (hidden_layer_sizes=(500,), max_iter=1000) must be
  within 1 accuracy point of sklearn's (skipped under EF_SANITIZE=1: too slow under ASan).
"""
import os
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler, normalize

from mlprobe import Probe
from conftest import ROOT, SANITIZED

DATA = os.path.join(ROOT, "examples", "data")
LOSS_RTOL = 1e-9


def load_eeg(name):
    df = pd.read_csv(os.path.join(DATA, name))
    cols = list(df.columns)
    X = df[cols[cols.index("# Letter") + 1:]].to_numpy(dtype=float)
    return normalize(X), df["# Letter"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def eeg():
    return (*load_eeg("eeg-letters-train.csv"), *load_eeg("eeg-letters-test.csv"))


@pytest.fixture(scope="module")
def wine():
    df = pd.read_csv(os.path.join(DATA, "winequality-red.csv"), sep=";")
    X = df.drop(columns=["quality"]).to_numpy(dtype=float)
    y = df["quality"].to_numpy(dtype=float)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=42)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


@pytest.fixture
def probe(ws):
    return Probe(ws, timeout=600)  # the full EEG MLP run


def sk_text(v):
    """A scikit-learn parameter value as the probe's name=value text."""
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    return str(v)


def fit_sklearn(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.monotonic()
        est.fit(X, y)
        return time.monotonic() - t0


# ---- LDA ----

def check_lda(probe, Xtr, ytr, Xte, params):
    sk = LinearDiscriminantAnalysis(**params)
    fit_sklearn(sk, Xtr, ytr)
    out = probe.run("lda", Xtr, ytr, Xte, {k: sk_text(v) for k, v in params.items()})
    w = out["weights"]
    solver = params.get("solver", "svd")
    np.testing.assert_array_equal(out["classes"], sk.classes_)
    np.testing.assert_array_equal(out["predict"], sk.predict(Xte))
    np.testing.assert_allclose(out["proba"], sk.predict_proba(Xte), rtol=0, atol=1e-8)
    np.testing.assert_allclose(w["coef"], sk.coef_, rtol=1e-7, atol=1e-9 * np.abs(sk.coef_).max())
    np.testing.assert_allclose(w["intercept"], sk.intercept_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(w["means"], sk.means_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(w["priors"], sk.priors_, rtol=1e-12, atol=0)
    if hasattr(sk, "covariance_"):
        np.testing.assert_allclose(w["covariance"], sk.covariance_, rtol=1e-9,
                                   atol=1e-12 * np.abs(sk.covariance_).max())
    if solver == "lsqr":  # no transform, no explained variance
        assert np.shape(w["scalings"]) == (Xtr.shape[1], 0)
        assert w["explained_variance_ratio"] == []
        return out, sk
    if solver == "svd":
        np.testing.assert_allclose(w["xbar"], sk.xbar_, rtol=1e-12, atol=1e-15)
    else:
        assert not np.any(w["xbar"])  # eigen: transform = X . scalings
    np.testing.assert_allclose(w["explained_variance_ratio"], sk.explained_variance_ratio_,
                               rtol=1e-8, atol=1e-12)
    # transform = (X - xbar) . scalings, equal up to the sign of each discriminant axis
    mine = (Xte - np.asarray(w["xbar"])) @ np.asarray(w["scalings"])
    ref = sk.transform(Xte)
    assert mine.shape == ref.shape
    signs = np.sign(np.sum(mine * ref, axis=0))
    assert np.all(signs != 0)
    np.testing.assert_allclose(mine * signs, ref, rtol=0, atol=1e-7 * np.abs(ref).max())
    return out, sk


def test_lda_eeg_matches_sklearn(probe, eeg):
    Xtr, ytr, Xte, yte = eeg
    out, sk = check_lda(probe, Xtr, ytr, Xte, {})
    acc = float(np.mean(np.asarray(out["predict"]) == yte))
    assert acc == pytest.approx(float(np.mean(sk.predict(Xte) == yte)), abs=0)
    assert out["fit_info"]["n_components"] == 25
    assert out["params"]["solver"] == "svd" and out["params"]["tol"] == 0.0001
    print(f"\nLDA EEG: test accuracy {acc:.4f} (sklearn identical), fit+predict "
          f"{out['seconds']:.2f} s")


@pytest.mark.parametrize("params", [
    {"n_components": 3},
    {"priors": (0.1, 0.2, 0.3, 0.2, 0.2), "store_covariance": True},
    {"tol": 1e-3},
    {"solver": "lsqr"},
    {"solver": "lsqr", "shrinkage": "auto"},
    {"solver": "lsqr", "shrinkage": 0.3, "priors": (0.3, 0.1, 0.2, 0.2, 0.2)},
    {"solver": "eigen"},
    {"solver": "eigen", "shrinkage": "auto", "n_components": 2},
    {"solver": "eigen", "shrinkage": 0.05},
], ids=["n_components", "priors+covariance", "tol", "lsqr", "lsqr-auto", "lsqr-0.3", "eigen",
        "eigen-auto", "eigen-0.05"])
def test_lda_variants_match_sklearn(probe, eeg, params):
    Xtr, ytr, Xte, _ = eeg
    keep, keep_te = ytr < 5, eeg[3] < 5  # five letters
    p = dict(params)
    if "priors" in p:
        p["priors"] = list(p["priors"])
    sk_params = dict(p)
    out, _ = check_lda(probe, Xtr[keep], ytr[keep], Xte[keep_te], sk_params)
    if "n_components" in p:
        assert np.shape(out["weights"]["scalings"]) == (Xtr.shape[1], p["n_components"])


def test_lda_binary_and_tiny_matches_sklearn(probe, eeg):
    Xtr, ytr, Xte, yte = eeg
    keep, keep_te = np.isin(ytr, (3, 7)), np.isin(yte, (3, 7))
    out, sk = check_lda(probe, Xtr[keep], ytr[keep], Xte[keep_te], {})
    assert np.asarray(out["weights"]["coef"]).shape == (1, Xtr.shape[1])
    # fewer samples than features: a rank-deficient within-class scatter
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 50))
    y = np.repeat([1.0, 2.0, 3.0], 10)
    check_lda(probe, X, y, rng.normal(size=(20, 50)), {})


def test_lda_refuses_what_it_cannot_do(probe, eeg):
    Xtr, ytr, Xte, _ = eeg
    msg = probe.run("lda", Xtr[::10], ytr[::10], Xte[:5], {"shrinkage": "auto"}, ok=False)
    assert "shrinkage" in msg  # not with the svd solver, as in scikit-learn
    msg = probe.run("lda", Xtr[::10], ytr[::10], Xte[:5], {"solver": "lsqr", "shrinkage": "1.5"},
                    ok=False)
    assert "shrinkage" in msg
    msg = probe.run("lda", Xtr[::10], ytr[::10], Xte[:5],
                    {"solver": "eigen", "covariance_estimator": "OAS()"}, ok=False)
    assert "covariance_estimator" in msg
    # fewer samples than features: the within-class covariance is singular for eigen (scipy's
    # eigh raises LinAlgError too)
    msg = probe.run("lda", Xtr[::10], ytr[::10], Xte[:5], {"solver": "eigen"}, ok=False)
    assert "shrinkage" in msg
    msg = probe.run("lda", Xtr[::10], ytr[::10], Xte[:5], {"n_components": 30}, ok=False)
    assert "n_components" in msg


# ---- MLP ----

def mlp_probe_params(params):
    return {k: sk_text(v) for k, v in params.items()}


def assert_same_curve(out, sk, rtol=LOSS_RTOL):
    mine = np.asarray(out["fit_info"]["loss_curve"])
    ref = np.asarray(sk.loss_curve_)
    assert out["fit_info"]["n_iter"] == sk.n_iter_, (len(mine), len(ref))
    np.testing.assert_allclose(mine, ref, rtol=rtol, atol=0)
    if getattr(sk, "validation_scores_", None) is not None:
        np.testing.assert_allclose(out["fit_info"]["validation_scores"], sk.validation_scores_,
                                   rtol=1e-12, atol=1e-12)
        assert out["fit_info"]["best_loss"] is None
    else:
        assert out["fit_info"]["best_loss"] == pytest.approx(sk.best_loss_, rel=rtol)


def test_mlp_first_epochs_match_sklearn_eeg(probe, eeg):
    """hidden_layer_sizes=(500,), random_state=0: the first 5 epochs, loss by loss."""
    Xtr, ytr, Xte, _ = eeg
    params = {"hidden_layer_sizes": (500,), "random_state": 0, "max_iter": 5, "tol": 1e-12}
    sk = MLPClassifier(**params)
    fit_sklearn(sk, Xtr, ytr)
    out = probe.run("mlp_classifier", Xtr, ytr, Xte, mlp_probe_params(params))
    assert_same_curve(out, sk)
    rel0 = abs(out["fit_info"]["loss_curve"][0] / sk.loss_curve_[0] - 1)
    assert rel0 < LOSS_RTOL
    # same weights after 5 epochs, same layout as sklearn's coefs_ (fan_in x fan_out)
    w = out["weights"]
    assert w["activation"] == "relu" and w["out_activation"] == "softmax"
    for mine, ref in zip(w["coefs"] + w["intercepts"], sk.coefs_ + sk.intercepts_):
        assert np.shape(mine) == ref.shape
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["proba"], sk.predict_proba(Xte), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(out["predict"], sk.predict(Xte))
    print(f"\nMLP EEG first epochs: loss_curve_[0] relative difference {rel0:.2e}, "
          f"max over 5 epochs {np.max(np.abs(np.asarray(out['fit_info']['loss_curve']) / sk.loss_curve_ - 1)):.2e}")


MLP_CASES = [
    {"hidden_layer_sizes": (40, 20), "activation": "tanh", "alpha": 0.01, "max_iter": 15},
    {"hidden_layer_sizes": (30,), "activation": "logistic", "solver": "sgd",
     "learning_rate_init": 0.2, "max_iter": 15},
    {"hidden_layer_sizes": (30,), "solver": "sgd", "learning_rate": "invscaling",
     "learning_rate_init": 0.5, "nesterovs_momentum": False, "momentum": 0.5, "max_iter": 15},
    {"hidden_layer_sizes": (30,), "solver": "sgd", "learning_rate": "adaptive",
     "learning_rate_init": 0.05, "n_iter_no_change": 2, "tol": 0.05, "max_iter": 30},
    {"hidden_layer_sizes": (30,), "activation": "identity", "batch_size": 64, "max_iter": 12},
    {"hidden_layer_sizes": (30,), "shuffle": False, "batch_size": 100, "max_iter": 8,
     "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "learning_rate_init": 0.003},
    {"hidden_layer_sizes": (30,), "early_stopping": True, "max_iter": 40,
     "n_iter_no_change": 3},
    {"hidden_layer_sizes": (30,), "early_stopping": True, "validation_fraction": 0.25,
     "max_iter": 40, "binary": True},
    {"hidden_layer_sizes": (20,), "max_iter": 200, "tol": 1e-3, "binary": True},
]


@pytest.mark.parametrize("case", MLP_CASES, ids=lambda c: "-".join(
    f"{k}={sk_text(v)}" for k, v in c.items() if k not in ("max_iter", "hidden_layer_sizes")))
def test_mlp_classifier_variants_match_sklearn(probe, eeg, case):
    Xtr, ytr, Xte, _ = eeg
    params = dict(case, random_state=3)
    if params.pop("binary", False):
        ytr = (ytr < 13).astype(float)  # two classes: one logistic output, stratified split
    sk = MLPClassifier(**params)
    fit_sklearn(sk, Xtr, ytr)
    out = probe.run("mlp_classifier", Xtr, ytr, Xte, mlp_probe_params(params))
    assert_same_curve(out, sk)
    np.testing.assert_allclose(out["proba"], sk.predict_proba(Xte), rtol=0, atol=1e-7)
    assert out["fit_info"]["converged"] == (sk.n_iter_ < params["max_iter"])


def test_mlp_random_state_none_is_recorded_and_replayable(probe, eeg):
    Xtr, ytr, Xte, _ = eeg
    base = {"hidden_layer_sizes": "20", "max_iter": "3"}
    a = probe.run("mlp_classifier", Xtr, ytr, Xte, base)
    seed = a["fit_info"]["random_state_used"]
    assert isinstance(seed, int) and 0 <= seed < 2**32
    b = probe.run("mlp_classifier", Xtr, ytr, Xte, dict(base, random_state=seed))
    assert a["fit_info"]["loss_curve"] == b["fit_info"]["loss_curve"]
    sk = MLPClassifier(hidden_layer_sizes=(20,), max_iter=3, random_state=seed)
    fit_sklearn(sk, Xtr, ytr)
    assert_same_curve(b, sk)


def test_mlp_refuses_what_it_cannot_do(probe, eeg):
    Xtr, ytr, Xte, _ = eeg
    msg = probe.run("mlp_classifier", Xtr[::20], ytr[::20], Xte[:5], {"solver": "lbfgs"}, ok=False)
    assert "lbfgs" in msg
    msg = probe.run("mlp_classifier", Xtr[::20], ytr[::20], Xte[:5], {"batch_size": "big"},
                    ok=False)
    assert "batch_size" in msg
    msg = probe.run("mlp_regressor", Xtr[::20], ytr[::20], Xte[:5], {"activation": "softmax"},
                    ok=False)
    assert "activation" in msg


def test_mlp_regressor_wine_matches_sklearn(probe, wine):
    Xtr, Xte, ytr, yte = wine
    params = {"hidden_layer_sizes": (50,), "random_state": 0, "max_iter": 300,
              "learning_rate_init": 0.001}
    sk = MLPRegressor(**params)
    sk_secs = fit_sklearn(sk, Xtr, ytr)
    out = probe.run("mlp_regressor", Xtr, ytr, Xte, mlp_probe_params(params))
    mine_curve = np.asarray(out["fit_info"]["loss_curve"])
    np.testing.assert_allclose(mine_curve[:20], sk.loss_curve_[:20], rtol=LOSS_RTOL, atol=0)
    r2_mine, r2_sk = r2_score(yte, out["predict"]), r2_score(yte, sk.predict(Xte))
    assert abs(r2_mine - r2_sk) < 0.02, (r2_mine, r2_sk)
    assert out["weights"]["out_activation"] == "identity"
    assert out["fit_info"]["n_iter"] == sk.n_iter_
    # early stopping on R2 over an unstratified split, epoch by epoch
    es = dict(params, early_stopping=True, max_iter=60, validation_fraction=0.15)
    sk2 = MLPRegressor(**es)
    fit_sklearn(sk2, Xtr, ytr)
    out2 = probe.run("mlp_regressor", Xtr, ytr, Xte, mlp_probe_params(es))
    assert_same_curve(out2, sk2)
    np.testing.assert_allclose(out2["predict"], sk2.predict(Xte), rtol=0, atol=1e-8)
    print(f"\nMLPRegressor wine: R2 {r2_mine:.4f} vs sklearn {r2_sk:.4f}, epochs "
          f"{out['fit_info']['n_iter']} vs {sk.n_iter_}, fit {out['seconds']:.2f} s vs "
          f"{sk_secs:.2f} s")


@pytest.mark.skipif(SANITIZED, reason="1000-epoch run is too slow under ASan")
def test_mlp_eeg_full_run_accuracy(probe, eeg):
    """The reference experiment: MLPClassifier(solver='adam', activation='relu', alpha=0.0001,
    hidden_layer_sizes=(500,), random_state=0, max_iter=1000)."""
    Xtr, ytr, Xte, yte = eeg
    params = {"solver": "adam", "activation": "relu", "alpha": 0.0001,
              "hidden_layer_sizes": (500,), "random_state": 0, "max_iter": 1000}
    sk = MLPClassifier(**params)
    sk_secs = fit_sklearn(sk, Xtr, ytr)
    out = probe.run("mlp_classifier", Xtr, ytr, Xte, mlp_probe_params(params))
    acc_sk = float(np.mean(sk.predict(Xte) == yte))
    acc = float(np.mean(np.asarray(out["predict"]) == yte))
    assert abs(acc - acc_sk) <= 0.01, (acc, acc_sk)
    fi = out["fit_info"]
    assert fi["loss_curve"][0] == pytest.approx(sk.loss_curve_[0], rel=LOSS_RTOL)
    print(f"\nMLP EEG full run: accuracy {acc:.4f} vs sklearn {acc_sk:.4f}; epochs {fi['n_iter']} "
          f"vs {sk.n_iter_}; final loss {fi['loss']:.6g} vs {sk.loss_:.6g}; probe "
          f"(fit+predict) {out['seconds']:.2f} s vs sklearn fit {sk_secs:.2f} s")
