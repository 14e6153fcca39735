"""clients/python/edgeflow_sklearn.py: scikit-learn models exported into the edgeflow flavour.

Each supported estimator is fitted live with scikit-learn on wine / EEG subsets and exported.
Then:
  * the exported model.json is scored with the formulas docs/model-format.md gives (numpy, in
    this file) and must reproduce scikit-learn's predictions: this checks the documented layout;
  * `edgeflow predict --model DIR --data file.csv --output out.csv` (the C side) must reproduce
    them too: classes exactly, regression within 1e-9 relative (skipped, with the reason, while
    the binary has no `predict` command);
  * MLmodel / input_example.json follow the format, the CLI works, and unsupported estimators
    are refused with a message that lists the supported ones.
"""
import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit, softmax
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler, normalize

from conftest import EDGEFLOW, ROOT

CLIENT_DIR = os.path.join(ROOT, "clients", "python")
sys.path.insert(0, CLIENT_DIR)
import edgeflow_sklearn as efs  # noqa: E402

DATA = os.path.join(ROOT, "examples", "data")
REG_RTOL = 1e-9


# ---- data -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wine():
    df = pd.read_csv(os.path.join(DATA, "winequality-red.csv"), sep=";")
    names = [c for c in df.columns if c != "quality"]
    tr, te = train_test_split(df, test_size=0.25, random_state=42)
    return names, tr, te


@pytest.fixture(scope="module")
def eeg():
    """Letters 0-3 of the EEG set; feature names without the file's leading spaces."""
    def load(name):
        df = pd.read_csv(os.path.join(DATA, name))
        df = df[df["# Letter"] < 4]
        cols = list(df.columns)
        feats = cols[cols.index("# Letter") + 1:]
        out = df[feats].copy()
        out.columns = [c.strip() for c in feats]
        out["letter"] = df["# Letter"].to_numpy()
        return out
    tr, te = load("eeg-letters-train.csv"), load("eeg-letters-test.csv")
    return [c for c in tr.columns if c != "letter"], tr, te


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


# Each case: (id, data set, estimator factory, target function, preprocess given to save_model,
# whether X is L2-normalised before fit/predict by the user).
def wine_quality(df):
    return df["quality"].to_numpy(dtype=float)


def wine_good(df):
    return np.where(df["quality"] >= 6, "good", "bad")


def wine_quality_int(df):
    return df["quality"].to_numpy()


def letter(df):
    return df["letter"].to_numpy()


CASES = [
    ("elasticnet", "wine", lambda: ElasticNet(alpha=0.1, l1_ratio=0.3), wine_quality, None),
    ("lasso", "wine", lambda: Lasso(alpha=0.05), wine_quality, None),
    ("ridge", "wine", lambda: Ridge(alpha=2.0), wine_quality, None),
    ("linear_regression", "wine", lambda: LinearRegression(), wine_quality, None),
    ("linear_regression_no_intercept", "wine", lambda: LinearRegression(fit_intercept=False),
     wine_quality, None),
    ("scaler_ridge", "wine", lambda: make_pipeline(StandardScaler(), Ridge(alpha=10.0)),
     wine_quality, None),
    ("logistic_binary_text", "wine",
     lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), wine_good, None),
    ("logistic_binary_multinomial", "wine",
     lambda: make_pipeline(StandardScaler(), LogisticRegression(multi_class="multinomial",
                                                                max_iter=1000)),
     wine_good, None),
    ("logistic_multinomial_eeg", "eeg",
     lambda: make_pipeline(Normalizer(), LogisticRegression(C=10.0, max_iter=300)), letter, None),
    ("lda_wine", "wine", lambda: LinearDiscriminantAnalysis(), wine_quality_int, None),
    ("lda_binary", "wine", lambda: LinearDiscriminantAnalysis(priors=[0.4, 0.6]), wine_good, None),
    ("lda_eeg_normalize", "eeg", lambda: LinearDiscriminantAnalysis(), letter, "normalize"),
    ("mlp_classifier_eeg", "eeg",
     lambda: make_pipeline(Normalizer(), MLPClassifier(hidden_layer_sizes=(24,), max_iter=200,
                                                       random_state=0)), letter, None),
    ("mlp_classifier_binary", "wine",
     lambda: make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8, 6),
                                                           activation="tanh", max_iter=300,
                                                           random_state=1)), wine_good, None),
    ("mlp_regressor", "wine",
     lambda: make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16, 8),
                                                          max_iter=300, random_state=2)),
     wine_quality, None),
]


class Case:
    def __init__(self, request, spec):
        cid, data, factory, target_fn, preprocess = spec
        names, tr, te = request.getfixturevalue(data)
        Xtr, Xte = tr[names].to_numpy(dtype=float), te[names].to_numpy(dtype=float)
        if preprocess == "normalize":  # the user normalised before fitting (like the reference)
            Xtr, Xte = normalize(Xtr), normalize(Xte)
        self.id, self.names, self.preprocess = cid, names, preprocess
        self.ytr, self.yte = target_fn(tr), target_fn(te)
        self.Xtr_raw = tr[names].to_numpy(dtype=float)
        self.Xte_raw = te[names].to_numpy(dtype=float)  # what edgeflow receives
        self.est = fit_quiet(factory(), Xtr, self.ytr)
        self.pred = self.est.predict(Xte)
        self.proba = self.est.predict_proba(Xte) if hasattr(self.est, "predict_proba") else None
        self.classifier = self.proba is not None
        self.target = "quality" if data == "wine" else "letter"

    def export(self, path):
        efs.save_model(self.est, path, feature_names=self.names, input_example=self.Xtr_raw[:3],
                       preprocess=self.preprocess, target=self.target)
        with open(os.path.join(path, "model.json")) as f:
            return json.load(f)


_fitted = {}


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def case(request):
    """The fitted case, shared by the tests of this file (each estimator is fitted once)."""
    if request.param[0] not in _fitted:
        _fitted[request.param[0]] = Case(request, request.param)
    return _fitted[request.param[0]]


def label_text(v):
    """How edgeflow prints a label: integral numbers without a fraction, text as is."""
    if isinstance(v, (str, np.str_)):
        return str(v)
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


# ---- the documented semantics, in numpy -----------------------------------------------------

def doc_predict(doc, X):
    """Scores X with model.json exactly as docs/model-format.md describes; returns (predictions,
    probabilities or None) with predictions as labels (class names when the model has them)."""
    X = np.array(X, dtype=float)
    for op in doc["preprocess"]:
        if op["op"] == "normalize":
            X = normalize(X)
        else:
            X = (X - np.array(op["mean"])) / np.array(op["scale"])
    w, est = doc["weights"], doc["estimator"]
    proba = None
    if est in ("elasticnet", "lasso", "ridge", "linear_regression"):
        return X @ np.array(w["coef"]) + w["intercept"], None
    if est in ("logistic_regression", "lda"):
        dec = X @ np.array(w["coef"]).T + np.array(w["intercept"])
        if dec.shape[1] == 1:
            p = expit(dec[:, 0])
            proba = np.column_stack([1 - p, p])
        else:
            proba = softmax(dec, axis=1)
        idx = (dec[:, 0] > 0).astype(int) if dec.shape[1] == 1 else dec.argmax(axis=1)
    elif est in ("mlp_classifier", "mlp_regressor"):
        acts = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "logistic": expit,
                "identity": lambda z: z}
        a = X
        n = len(w["coefs"])
        for i, (W, b) in enumerate(zip(w["coefs"], w["intercepts"])):
            a = a @ np.array(W) + np.array(b)
            if i < n - 1:
                a = acts[w["activation"]](a)
        if w["out_activation"] == "identity":
            return a[:, 0], None
        if w["out_activation"] == "logistic":
            p = expit(a[:, 0])
            proba = np.column_stack([1 - p, p])
            idx = (p > 0.5).astype(int)
        else:
            proba = softmax(a, axis=1)
            idx = proba.argmax(axis=1)
    else:
        raise AssertionError(f"no documented semantics for {est}")
    labels = doc.get("class_names") or doc["classes"]
    return np.array([labels[i] for i in idx], dtype=object), proba


def test_model_json_follows_the_documented_format(case, tmp_path):
    d = str(tmp_path / "model")
    doc = case.export(d)
    assert doc["format"] == "edgeflow-model" and doc["format_version"] == 1
    assert doc["n_features"] == len(case.names) == len(doc["feature_names"])
    assert doc["feature_names"] == case.names
    assert doc["feature_types"] == ["double"] * len(case.names)
    assert doc["target"] == case.target
    assert doc["task"] == ("classification" if case.classifier else "regression")
    final = case.est.steps[-1][1] if hasattr(case.est, "steps") else case.est
    assert doc["sklearn_class"].endswith("." + type(final).__name__)
    # params come from get_params() with their values
    for k, v in final.get_params(deep=False).items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            assert doc["params"][k] == v, k
    if case.classifier:
        if doc.get("class_names"):
            assert doc["class_names"] == [str(c) for c in final.classes_]
            assert doc["classes"] == list(range(len(final.classes_)))
        else:
            assert doc["classes"] == [int(c) for c in final.classes_]
    assert ("classes" in doc) == case.classifier
    # scoring the file the documented way reproduces scikit-learn
    pred, proba = doc_predict(doc, case.Xte_raw)
    if case.classifier:
        assert [label_text(p) for p in pred] == [label_text(p) for p in case.pred]
        np.testing.assert_allclose(proba, case.proba, rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(pred.astype(float), case.pred, rtol=REG_RTOL, atol=1e-12)

    # MLmodel and the input example
    with open(os.path.join(d, "MLmodel")) as f:
        ml = yaml.safe_load(f)
    assert ml["flavors"]["edgeflow"] == {"estimator": doc["estimator"], "model_file": "model.json",
                                         "edgeflow_version": "0.1.0", "format_version": 1}
    assert ml["artifact_path"] == "model" and len(ml["model_uuid"]) == 32
    inputs = json.loads(ml["signature"]["inputs"])
    assert [i["name"] for i in inputs] == case.names
    assert all(i["type"] == "double" for i in inputs)
    out_type = json.loads(ml["signature"]["outputs"])[0]["type"]
    assert out_type == ("double" if not case.classifier else
                        "string" if doc.get("class_names") else "long")
    assert ml["saved_input_example_info"] == {"artifact_path": "input_example.json",
                                              "type": "dataframe", "pandas_orient": "split"}
    with open(os.path.join(d, "input_example.json")) as f:
        ex = json.load(f)
    assert ex["columns"] == case.names
    assert np.array_equal(np.array(ex["data"]), case.Xtr_raw[:3])  # repr precision: exact


# ---- the C side -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def predict_help():
    if not os.path.exists(EDGEFLOW):
        pytest.skip(f"{EDGEFLOW} is not built")
    r = subprocess.run([EDGEFLOW, "predict", "--help"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        pytest.skip(f"`edgeflow predict` is not in this build yet ({EDGEFLOW} predict --help "
                    f"exited {r.returncode}: {(r.stderr or r.stdout).strip()[:200]}); the lead "
                    "lands it")
    return r.stdout + r.stderr


def test_edgeflow_predict_matches_sklearn(case, ws, predict_help):
    d = os.path.join(ws.path, "model")
    case.export(d)
    data = os.path.join(ws.path, "score.csv")
    df = pd.DataFrame(case.Xte_raw, columns=case.names)
    df.insert(0, "row_id", np.arange(len(df)))  # extra columns are ignored, order is by name
    df = df[list(reversed(df.columns))]
    df.to_csv(data, index=False)  # floats at repr precision
    out = os.path.join(ws.path, "out.csv")
    want_proba = case.classifier and "--proba" in predict_help
    args = ["predict", "--model", d, "--data", data, "--output", out]
    ws.run(*args, *(["--proba"] if want_proba else []), check=True)
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(got) == len(case.pred)
    if case.classifier:
        want = [label_text(p) for p in case.pred]
        agree = np.mean(got["prediction"].tolist() == np.array(want))
        print(f"{case.id}: labels agree {agree:.4f}")
        assert got["prediction"].tolist() == want
        if want_proba:
            final = case.est.steps[-1][1] if hasattr(case.est, "steps") else case.est
            cols = [f"proba_{label_text(c)}" for c in final.classes_]
            p = got[cols].to_numpy(dtype=float)
            print(f"{case.id}: max |proba C - sklearn| = {np.max(np.abs(p - case.proba)):.3g}")
            np.testing.assert_allclose(p, case.proba, rtol=0, atol=1e-9)
    else:
        c = got["prediction"].to_numpy(dtype=float)
        rel = np.max(np.abs(c - case.pred) / np.maximum(np.abs(case.pred), 1e-300))
        print(f"{case.id}: max relative |C - sklearn| = {rel:.3g}")
        np.testing.assert_allclose(c, case.pred, rtol=REG_RTOL, atol=1e-12)


# ---- refusals, CLI, directory handling ------------------------------------------------------

def test_unsupported_estimators_are_refused(wine, tmp_path):
    names, tr, _ = wine
    X, y = tr[names].to_numpy(), tr["quality"].to_numpy(dtype=float)
    rf = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(efs.ExportError) as e:
        efs.save_model(rf, str(tmp_path / "rf"))
    msg = str(e.value)
    assert "RandomForestRegressor is not supported" in msg
    for name in ("ElasticNet", "Lasso", "Ridge", "LinearRegression", "LogisticRegression",
                 "LinearDiscriminantAnalysis", "MLPClassifier", "MLPRegressor"):
        assert name in msg
    assert not os.path.exists(tmp_path / "rf")

    with pytest.raises(efs.ExportError, match="not fitted"):
        efs.save_model(Ridge(), str(tmp_path / "unfitted"))
    ovr = fit_quiet(LogisticRegression(multi_class="ovr", max_iter=200), X, y)
    with pytest.raises(efs.ExportError, match="multinomial"):
        efs.save_model(ovr, str(tmp_path / "ovr"))
    lsqr = LinearDiscriminantAnalysis(solver="lsqr").fit(X, y)
    with pytest.raises(efs.ExportError, match="solver='svd'"):
        efs.save_model(lsqr, str(tmp_path / "lsqr"))
    with pytest.raises(efs.ExportError, match="Normalizer"):
        efs.save_model(make_pipeline(Normalizer(norm="l1"), Ridge()).fit(X, y),
                       str(tmp_path / "l1"))
    with pytest.raises(efs.ExportError, match="11 distinct names"):
        efs.save_model(Ridge().fit(X, y), str(tmp_path / "names"), feature_names=["a", "b"])
    two = LinearRegression().fit(X, np.column_stack([y, y]))
    with pytest.raises(efs.ExportError, match="2 targets"):
        efs.save_model(two, str(tmp_path / "two"))


def test_existing_directory_and_overwrite(wine, tmp_path):
    names, tr, _ = wine
    est = Ridge().fit(tr[names], tr["quality"])  # a DataFrame: names come from the estimator
    d = str(tmp_path / "m")
    efs.save_model(est, d)
    with open(os.path.join(d, "model.json")) as f:
        assert json.load(f)["feature_names"] == names
    assert not os.path.exists(os.path.join(d, "input_example.json"))
    with pytest.raises(FileExistsError):
        efs.save_model(est, d)
    efs.save_model(Lasso(alpha=0.1).fit(tr[names], tr["quality"]), d, overwrite=True)
    with open(os.path.join(d, "model.json")) as f:
        assert json.load(f)["estimator"] == "lasso"
    assert sorted(os.listdir(tmp_path)) == ["m"]  # no temporary directory left behind


def test_cli(wine, tmp_path):
    script = os.path.join(CLIENT_DIR, "edgeflow_sklearn.py")
    r = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "LogisticRegression" in r.stdout
    names, tr, _ = wine
    est = LinearRegression().fit(tr[names].to_numpy(), tr["quality"])
    pkl, csv = str(tmp_path / "m.pkl"), str(tmp_path / "train.csv")
    with open(pkl, "wb") as f:
        pickle.dump(est, f)
    tr.to_csv(csv, sep=";", index=False)
    out = str(tmp_path / "model")
    r = subprocess.run([sys.executable, script, pkl, out, "--example", csv, "--target",
                        "quality"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(out, "model.json")) as f:
        doc = json.load(f)
    assert doc["feature_names"] == names and doc["target"] == "quality"
    assert doc["weights"]["coef"] == est.coef_.tolist()  # repr precision round-trips exactly
    with open(os.path.join(out, "input_example.json")) as f:
        assert json.load(f)["columns"] == names
    r = subprocess.run([sys.executable, script, pkl, out], capture_output=True, text=True)
    assert r.returncode == 1 and "already exists" in r.stderr
