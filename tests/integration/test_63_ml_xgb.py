"""XGBoost parity: edgeflow's xgboost / xgboost_classifier estimators (src/ml/xgb.c) against
Python's xgboost 1.7 scikit-learn wrapper, run live on the same splits.

The C side is driven through ef_ml_probe (tests/integration/ml_probe.c): it fits on a plain CSV,
predicts the test rows and saves the booster (xgb_model.json) into $EF_PROBE_DIR. XGBoost is
deterministic for fixed parameters (whatever the thread count), so predictions must agree to
1e-6; the saved booster must load in Python's xgboost.Booster / XGBRegressor / XGBClassifier and
predict the same.
"""
import os

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize

from mlprobe import Probe
from conftest import ROOT

DATA = os.path.join(ROOT, "examples", "data")
ATOL = 1e-6


@pytest.fixture(scope="module")
def wine():
    df = pd.read_csv(os.path.join(DATA, "winequality-red.csv"), sep=";")
    X = df.drop(columns=["quality"]).to_numpy(dtype=float)
    y = df["quality"].to_numpy(dtype=float)
    return train_test_split(X, y, test_size=0.25, random_state=42)


@pytest.fixture(scope="module")
def eeg():
    """Letters 0-5 of the EEG set, rows L2-normalised like the reference experiment."""
    def load(name):
        df = pd.read_csv(os.path.join(DATA, name))
        df = df[df["# Letter"] < 6]
        cols = list(df.columns)
        X = df[cols[cols.index("# Letter") + 1:]].to_numpy(dtype=float)
        return normalize(X), df["# Letter"].to_numpy(dtype=float)
    return (*load("eeg-letters-train.csv"), *load("eeg-letters-test.csv"))


@pytest.fixture
def probe(ws):
    return Probe(ws, skip_unknown="this build has no XGBoost (EF_WITH_XGBOOST=OFF)")


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


REG_CASES = [
    {"n_estimators": 60, "max_depth": 4, "learning_rate": 0.1},
    {"n_estimators": 40, "max_depth": 5, "learning_rate": 0.2, "subsample": 0.8,
     "colsample_bytree": 0.7, "random_state": 3, "tree_method": "hist"},
    {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.3, "min_child_weight": 3,
     "gamma": 0.1, "reg_lambda": 2.5, "reg_alpha": 0.5, "tree_method": "approx"},
    {"n_estimators": 25, "objective": "reg:absoluteerror", "tree_method": "exact"},
]


@pytest.mark.parametrize("params", REG_CASES, ids=lambda p: p.get("tree_method", "auto"))
def test_regressor_matches_python(probe, wine, params):
    Xtr, Xte, ytr, yte = wine
    out = probe.run("xgboost", Xtr, ytr, Xte, params)
    ref = xgb.XGBRegressor(**params).fit(Xtr, ytr)
    want = ref.predict(Xte)
    d = max_diff(out["predict"], want)
    print(f"xgboost {params}: max |C - python| = {d:.3g}")
    np.testing.assert_allclose(out["predict"], want, rtol=0, atol=ATOL)
    # the trees are not trivial: they must beat predicting the training mean
    rmse = np.sqrt(np.mean((want - yte) ** 2))
    assert rmse < np.std(yte)
    # fit_info's loss is XGBoost's own training metric
    metric = ref.get_booster().eval(xgb.DMatrix(Xtr, label=ytr))
    assert out["fit_info"]["eval_metric"] in metric
    assert float(metric.rsplit(":", 1)[1]) == pytest.approx(out["fit_info"]["loss"], rel=1e-9)
    assert out["weights"] == {"booster_file": "xgb_model.json",
                              "objective": params.get("objective", "reg:squarederror"),
                              "num_class": 0}

    # the saved booster is XGBoost's JSON model: Python loads it and predicts the same
    path = os.path.join(out["dir"], "xgb_model.json")
    bst = xgb.Booster(model_file=path)
    np.testing.assert_allclose(bst.inplace_predict(Xte), want, rtol=0, atol=ATOL)
    # ... and the scikit-learn wrapper (what mlflow.xgboost uses) restores its parameters
    sk = xgb.XGBRegressor()
    sk.load_model(path)
    assert sk.n_estimators == params["n_estimators"]
    assert sk.get_params()["max_depth"] == params.get("max_depth", 6)
    np.testing.assert_allclose(sk.predict(Xte), want, rtol=0, atol=ATOL)


def classifier_parity(probe, Xtr, ytr, Xte, params, what):
    classes = np.unique(ytr)
    out = probe.run("xgboost_classifier", Xtr, ytr, Xte, params)
    assert out["classes"] == classes.tolist()
    # XGBClassifier wants 0..K-1; edgeflow maps its labels the same way (sorted)
    ref = xgb.XGBClassifier(**params).fit(Xtr, np.searchsorted(classes, ytr))
    proba = ref.predict_proba(Xte)
    want = classes[ref.predict(Xte)]
    d = max_diff(out["proba"], proba)
    agree = np.mean(np.asarray(out["predict"]) == want)
    print(f"{what} {params}: max |proba C - python| = {d:.3g}, labels agree {agree:.4f}")
    np.testing.assert_allclose(out["proba"], proba, rtol=0, atol=ATOL)
    assert out["predict"] == want.tolist()
    k = len(classes)
    assert out["weights"]["num_class"] == k
    assert out["weights"]["objective"] == ("binary:logistic" if k == 2 else "multi:softprob")

    path = os.path.join(out["dir"], "xgb_model.json")
    bst = xgb.Booster(model_file=path)
    raw = bst.inplace_predict(Xte)
    np.testing.assert_allclose(raw if k > 2 else np.column_stack([1 - raw, raw]), proba,
                               rtol=0, atol=ATOL)
    sk = xgb.XGBClassifier()
    sk.load_model(path)
    assert sk.n_classes_ == k
    np.testing.assert_allclose(sk.predict_proba(Xte), proba, rtol=0, atol=ATOL)
    assert (classes[sk.predict(Xte)] == want).all()
    return out


def test_binary_classifier_matches_python(probe, wine):
    Xtr, Xte, ytr, _ = wine
    # labels -1 / +1 (not 0/1) so the label mapping is exercised
    classifier_parity(probe, Xtr, np.where(ytr >= 6, 1.0, -1.0), Xte,
                      {"n_estimators": 40, "max_depth": 4, "learning_rate": 0.15,
                       "subsample": 0.9, "random_state": 5}, "binary wine")


def test_multiclass_classifier_matches_python(probe, wine):
    Xtr, Xte, ytr, _ = wine
    # quality 3..8: six classes, labels not starting at 0
    classifier_parity(probe, Xtr, ytr, Xte, {"n_estimators": 30, "max_depth": 3}, "wine quality")


def test_eeg_classifier_matches_python(probe, eeg):
    Xtr, ytr, Xte, _ = eeg
    classifier_parity(probe, Xtr, ytr, Xte,
                      {"n_estimators": 15, "max_depth": 3, "colsample_bytree": 0.5,
                       "tree_method": "hist"}, "eeg letters 0-5")


def test_extra_reaches_xgboost(probe, wine):
    Xtr, Xte, ytr, _ = wine
    base = {"n_estimators": 20, "tree_method": "hist"}
    out = probe.run("xgboost", Xtr, ytr, Xte, {**base, "extra": "max_bin=16; nthread=1"})
    want = xgb.XGBRegressor(**base, max_bin=16, n_jobs=1).fit(Xtr, ytr).predict(Xte)
    np.testing.assert_allclose(out["predict"], want, rtol=0, atol=ATOL)
    default_bins = xgb.XGBRegressor(**base).fit(Xtr, ytr).predict(Xte)
    assert max_diff(default_bins, want) > 1e-3  # 16 bins really is a different model


def test_gblinear_matches_python(probe, wine):
    """gblinear has no in-place prediction; both sides predict through a DMatrix. One thread:
    the parallel coordinate descent (shotgun) is only reproducible single-threaded."""
    Xtr, Xte, ytr, _ = wine
    base = {"n_estimators": 30, "learning_rate": 0.5, "reg_lambda": 0.1, "reg_alpha": 0.01}
    out = probe.run("xgboost", Xtr, ytr, Xte, {**base, "extra": "booster=gblinear;nthread=1"})
    ref = xgb.XGBRegressor(**base, booster="gblinear", n_jobs=1).fit(Xtr, ytr)
    want = ref.predict(Xte)
    print(f"gblinear: max |C - python| = {max_diff(out['predict'], want):.3g}")
    np.testing.assert_allclose(out["predict"], want, rtol=0, atol=ATOL)
    bst = xgb.Booster(model_file=os.path.join(out["dir"], "xgb_model.json"))
    np.testing.assert_allclose(bst.predict(xgb.DMatrix(Xte)), want, rtol=0, atol=ATOL)


@pytest.mark.parametrize("typ,params,needle", [
    ("xgboost", {"learning_rate": "-1"}, "learning_rate"),
    ("xgboost", {"extra": "max_bni=16"}, '"max_bni"'),
    ("xgboost", {"extra": "seed=3"}, "random_state"),
    ("xgboost", {"extra": "booster=dart;rate_dorp=0.1"}, '"rate_dorp"'),
    ("xgboost", {"n_estimators": "0"}, "n_estimators"),
    ("xgboost", {"objective": "multi:softprob"}, "reg:squarederror"),
    ("xgboost_classifier", {"objective": "multi:softmax"}, "multi:softprob"),
])
def test_bad_parameters_give_readable_errors(probe, wine, typ, params, needle):
    Xtr, Xte, ytr, _ = wine
    msg = probe.run(typ, Xtr[:200], ytr[:200], Xte[:5], {"n_estimators": 3, **params}, ok=False)
    assert needle in msg, msg
    assert len(msg.splitlines()) == 1, msg


def test_missing_library_is_one_readable_line(ws, tmp_path):
    """libxgboost is loaded on first use (src/ml/xgb_dl.c): a library that cannot be loaded makes
    `edgeflow train xgboost` exit 1 with one line naming what to install, and costs nothing to
    commands that never use XGBoost."""
    env = {"EDGEFLOW_XGBOOST_LIBRARY": str(tmp_path / "no-such-libxgboost.so")}
    wine_csv = os.path.join(DATA, "winequality-red.csv")
    r = ws.run("train", "xgboost", "--data", wine_csv, "--target", "quality", "--output",
               tmp_path / "m", env=env)
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeflow train: ") and "no-such-libxgboost.so" in last, last
    assert "install Debian's libxgboost0" in last
    r = ws.run("train", "elasticnet", "--data", wine_csv, "--target", "quality", "--output",
               tmp_path / "e", env=env)
    assert r.returncode == 0, r.stderr
