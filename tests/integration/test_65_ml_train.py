"""`edgeflow train` and `edgeflow predict` end to end (issue 4), judged by scikit-learn run live.

- the reference experiment (wine, ElasticNet, train_test_split(random_state=42)) logged to a live
  `edgeflow server`: params, metrics equal to sklearn's, MLflow's conventional tags, the data set
  as a run input, the model artifacts, a registered version; `predict --model models:/...`;
- a --grid as a parent run with child runs, the best one marked and registered;
- --cv 5 fold scores equal to cross_val_score;
- EEG letters with LDA (--normalize l2, --test-data), offline --output, predictions equal;
- bad inputs: exit 1 with one readable line, nothing written.
"""
import csv
import json
import os

import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import ElasticNet
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.preprocessing import normalize

from conftest import ROOT, free_port, wait_port

DATA = os.path.join(ROOT, "examples", "data")
WINE = os.path.join(DATA, "winequality-red.csv")
EEG_TRAIN = os.path.join(DATA, "eeg-letters-train.csv")
EEG_TEST = os.path.join(DATA, "eeg-letters-test.csv")


def wine_split(seed=42):
    d = pd.read_csv(WINE, sep=";")
    tr, te = train_test_split(d, random_state=seed)
    return (tr.drop(columns=["quality"]), tr["quality"], te.drop(columns=["quality"]), te["quality"])


@pytest.fixture
def server(ws):
    port = free_port()
    proc = ws.edgeflow("server", "--port", port, name="server")
    wait_port(port)
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def api(base, method, path, **kw):
    r = requests.request(method, f"{base}/api/2.0/mlflow/{path}", timeout=30, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def read_predictions(path_or_text, is_text=False):
    rows = list(csv.reader((path_or_text if is_text else open(path_or_text).read()).splitlines()))
    assert rows[0][0] == "prediction"
    return rows[0], rows[1:]


def test_reference_experiment_logged_and_registered(ws, server):
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality",
               "--param", "alpha=0.5", "--param", "l1_ratio=0.5", "--test-size", "0.25",
               "--seed", "42", "--experiment", "SkLearnWineQuality",
               "--register-model", "WineQuality", env={"MLFLOW_TRACKING_URI": server})
    assert r.returncode == 0, r.stderr
    assert "registered model WineQuality version 1" in r.stdout

    xtr, ytr, xte, yte = wine_split()
    sk = ElasticNet(alpha=0.5, l1_ratio=0.5, random_state=42).fit(xtr, ytr)
    pred = sk.predict(xte)

    exp = api(server, "GET", "experiments/get-by-name",
              params={"experiment_name": "SkLearnWineQuality"})["experiment"]
    runs = api(server, "POST", "runs/search", json={"experiment_ids": [exp["experiment_id"]]})["runs"]
    assert len(runs) == 1
    run = runs[0]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["alpha"] == "0.5" and params["l1_ratio"] == "0.5"
    assert params["max_iter"] == "1000" and params["fit_intercept"] == "True"
    assert params["random_state"] == "None" and params["split_seed"] == "42"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["rmse"] == pytest.approx(np.sqrt(mean_squared_error(yte, pred)), rel=1e-9)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(yte, pred), rel=1e-9)
    assert metrics["r2"] == pytest.approx(r2_score(yte, pred), rel=1e-9)
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    for k in ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.log-model.history"):
        assert k in tags, k
    history = json.loads(tags["mlflow.log-model.history"])
    assert history[0]["artifact_path"] == "model" and "edgeflow" in history[0]["flavors"]
    assert run["info"]["status"] == "FINISHED"
    ds = run["inputs"]["dataset_inputs"][0]
    assert ds["dataset"]["name"] == "winequality-red" and len(ds["dataset"]["digest"]) == 8
    assert json.loads(ds["dataset"]["profile"])["num_rows"] == 1599
    assert {"key": "mlflow.data.context", "value": "training"} in ds["tags"]

    files = api(server, "GET", "artifacts/list",
                params={"run_id": run["info"]["run_id"], "path": "model"})["files"]
    assert {f["path"] for f in files} >= {"model/MLmodel", "model/model.json",
                                          "model/input_example.json"}
    mv = api(server, "GET", "model-versions/get",
             params={"name": "WineQuality", "version": "1"})["model_version"]
    assert mv["run_id"] == run["info"]["run_id"] and mv["status"] == "READY"

    # batch inference through the registry equals scikit-learn's predictions
    test_csv = os.path.join(ws.path, "test.csv")
    xte.to_csv(test_csv, index=False)
    out = os.path.join(ws.path, "pred.csv")
    r = ws.run("predict", "--model", "models:/WineQuality/1", "--data", test_csv, "--output", out,
               env={"MLFLOW_TRACKING_URI": server})
    assert r.returncode == 0, r.stderr
    _, rows = read_predictions(out)
    assert np.allclose([float(x[0]) for x in rows], pred, rtol=1e-12, atol=0)


def test_grid_is_parent_and_children_with_best_registered(ws, server):
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality",
               "--grid", "alpha=0.1,0.5,1", "--grid", "l1_ratio=0.1,0.5,0.9",
               "--experiment", "grid", "--run-name", "search", "--register-model", "WineGrid",
               env={"MLFLOW_TRACKING_URI": server})
    assert r.returncode == 0, r.stderr
    xtr, ytr, xte, yte = wine_split()
    best = min(((a, l) for a in (0.1, 0.5, 1) for l in (0.1, 0.5, 0.9)),
               key=lambda p: mean_squared_error(
                   yte, ElasticNet(alpha=p[0], l1_ratio=p[1]).fit(xtr, ytr).predict(xte)))

    exp = api(server, "GET", "experiments/get-by-name", params={"experiment_name": "grid"})
    runs = api(server, "POST", "runs/search",
               json={"experiment_ids": [exp["experiment"]["experiment_id"]]})["runs"]
    assert len(runs) == 10
    tags = [{t["key"]: t["value"] for t in x["data"]["tags"]} for x in runs]
    parent = [x for x, t in zip(runs, tags) if "mlflow.parentRunId" not in t]
    assert len(parent) == 1
    pid = parent[0]["info"]["run_id"]
    children = [(x, t) for x, t in zip(runs, tags) if t.get("mlflow.parentRunId") == pid]
    assert len(children) == 9
    best_children = [x for x, t in children if t.get("edgeflow.best") == "true"]
    assert len(best_children) == 1
    bparams = {p["key"]: p["value"] for p in best_children[0]["data"]["params"]}
    assert (float(bparams["alpha"]), float(bparams["l1_ratio"])) == best
    ptags = {t["key"]: t["value"] for t in parent[0]["data"]["tags"]}
    assert ptags["best_run_id"] == best_children[0]["info"]["run_id"]
    mv = api(server, "GET", "model-versions/get", params={"name": "WineGrid", "version": "1"})
    assert mv["model_version"]["run_id"] == best_children[0]["info"]["run_id"]


def test_cv_scores_equal_cross_val_score(ws, server):
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--cv", "5",
               "--param", "alpha=0.1", "--experiment", "cv", env={"MLFLOW_TRACKING_URI": server})
    assert r.returncode == 0, r.stderr
    xtr, ytr, _, _ = wine_split()
    expect = cross_val_score(ElasticNet(alpha=0.1), xtr, ytr, cv=5)
    exp = api(server, "GET", "experiments/get-by-name", params={"experiment_name": "cv"})
    run_id = api(server, "POST", "runs/search", json={
        "experiment_ids": [exp["experiment"]["experiment_id"]]})["runs"][0]["info"]["run_id"]
    hist = api(server, "GET", "metrics/get-history",
               params={"run_id": run_id, "metric_key": "cv_score"})["metrics"]
    got = [m["value"] for m in sorted(hist, key=lambda m: m["step"])]
    assert np.allclose(got, expect, rtol=1e-9, atol=0)


def test_eeg_lda_offline_output_and_predict(ws):
    out = os.path.join(ws.path, "lda")
    r = ws.run("train", "lda", "--data", EEG_TRAIN, "--test-data", EEG_TEST, "--target", "# Letter",
               "--features", "2:", "--normalize", "l2", "--output", out)
    assert r.returncode == 0, r.stderr
    tr, te = pd.read_csv(EEG_TRAIN), pd.read_csv(EEG_TEST)
    feats = list(tr.columns)[2:]
    lda = LinearDiscriminantAnalysis().fit(normalize(tr[feats].values), tr["# Letter"])
    expect = lda.predict(normalize(te[feats].values))
    acc = accuracy_score(te["# Letter"], expect)
    assert f"accuracy={acc:.6g}" in r.stdout

    mlmodel = yaml.safe_load(open(os.path.join(out, "MLmodel")))
    assert mlmodel["flavors"]["edgeflow"]["estimator"] == "lda"
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [c["name"] for c in inputs] == feats
    example = json.load(open(os.path.join(out, "input_example.json")))
    assert example["columns"] == feats and len(example["data"]) == 5

    r = ws.run("predict", "--model", out, "--data", EEG_TEST, "--proba")
    assert r.returncode == 0, r.stderr
    header, rows = read_predictions(r.stdout, is_text=True)
    assert [int(x[0]) for x in rows] == list(expect)
    assert header[1] == "proba_0" and len(header) == 27
    proba = np.array([[float(v) for v in x[1:]] for x in rows])
    assert np.allclose(proba, lda.predict_proba(normalize(te[feats].values)), atol=1e-8)

    # the same --output again is refused, --overwrite replaces it
    r = ws.run("train", "lda", "--data", EEG_TRAIN, "--target", "# Letter", "--features", "2:",
               "--output", out)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = ws.run("train", "lda", "--data", EEG_TRAIN, "--target", "# Letter", "--features", "2:",
               "--output", out, "--overwrite")
    assert r.returncode == 0, r.stderr


def write(ws, name, text):
    p = os.path.join(ws.path, name)
    with open(p, "w") as f:
        f.write(text)
    return p


@pytest.mark.parametrize("case,args,expect", [
    ("missing target", ["elasticnet", "--target", "nope"], "nope"),
    ("unknown estimator", ["forest", "--target", "quality"], "unknown estimator 'forest'"),
    ("unknown param", ["elasticnet", "--target", "quality", "--param", "alpah=1"], "alpah"),
    ("bad param value", ["elasticnet", "--target", "quality", "--param", "alpha=x"],
     "finite number"),
    ("bad choice", ["elasticnet", "--target", "quality", "--param", "selection=best"], "cyclic"),
    ("cv 1", ["elasticnet", "--target", "quality", "--cv", "1"], "--cv"),
    ("unknown best metric", ["elasticnet", "--target", "quality", "--grid", "alpha=1,2",
                             "--best-metric", "auc"], "auc"),
    ("test size too big", ["elasticnet", "--target", "quality", "--test-size", "5000"], "test"),
    ("register offline", ["elasticnet", "--target", "quality", "--register-model", "X"],
     "tracking server"),
])
def test_bad_arguments(ws, case, args, expect):
    r = ws.run("train", *args[:1], "--data", WINE, *args[1:])
    assert r.returncode in (1, 2), (case, r.stdout)
    lines = [x for x in r.stderr.splitlines() if "edgeflow train" in x]
    assert len(lines) == 1 and expect in lines[0], (case, r.stderr)


@pytest.mark.parametrize("case,text,args,expect", [
    ("non-numeric cell", "a,b,y\n1,2,3\n4,abc,6\n", [], "line 3"),
    ("empty file", "", [], "empty"),
    ("NaN in a feature", "a,b,y\n1,2,3\n4,,6\n7,8,9\n1,1,1\n", [], "line 3"),
    ("Inf in a feature", "a,b,y\n1,2,3\n4,5,6\n7,-inf,9\n1,1,1\n", [], "line 4"),
    ("Inf in the target", "a,b,y\n1,2,3\n4,5,inf\n7,8,9\n1,1,1\n", [], "line 3"),
    ("single class", "a,b,y\n1,2,1\n4,5,1\n7,8,1\n1,1,1\n2,2,1\n", ["lda"], "2 classes"),
])
def test_bad_data(ws, case, text, args, expect):
    path = write(ws, "bad.csv", text)
    out = os.path.join(ws.path, "never")
    r = ws.run("train", *(args or ["elasticnet"]), "--data", path, "--target", "y",
               "--output", out)
    assert r.returncode == 1, (case, r.stdout)
    assert expect in r.stderr, (case, r.stderr)
    assert not os.path.exists(out)


def test_more_features_than_rows_matches_sklearn(ws):
    rng = np.random.RandomState(0)
    X = rng.rand(12, 20)
    y = X @ rng.rand(20) + 0.5
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).assign(y=y)
    path = os.path.join(ws.path, "wide.csv")
    df.to_csv(path, index=False)
    out = os.path.join(ws.path, "wide-model")
    r = ws.run("train", "elasticnet", "--data", path, "--target", "y", "--param", "alpha=0.01",
               "--test-size", "3", "--output", out)
    assert r.returncode == 0, r.stderr
    tr, te = train_test_split(df, test_size=3, random_state=42)
    sk = ElasticNet(alpha=0.01).fit(tr.drop(columns=["y"]), tr["y"])
    r = ws.run("predict", "--model", out, "--data", path)
    _, rows = read_predictions(r.stdout, is_text=True)
    assert np.allclose([float(x[0]) for x in rows], sk.predict(df.drop(columns=["y"])), rtol=1e-6)


def test_predict_errors(ws):
    out = os.path.join(ws.path, "m")
    ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--output", out, check=True)
    missing = write(ws, "missing.csv", "alcohol,pH\n9.4,3.5\n")
    r = ws.run("predict", "--model", out, "--data", missing)
    assert r.returncode == 1 and "fixed acidity" in r.stderr
    r = ws.run("predict", "--model", os.path.join(ws.path, "none"), "--data", WINE)
    assert r.returncode == 1 and "MLmodel" in r.stderr
    r = ws.run("predict", "--model", "models:/Nope/1", "--data", WINE,
               env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"})
    assert r.returncode == 1 and "Nope" in r.stderr


def test_progress_only_when_asked_or_on_a_tty(ws):
    args = ["train", "mlp_regressor", "--data", WINE, "--target", "quality",
            "--param", "max_iter=20", "--param", "random_state=0", "--standard-scale"]
    r = ws.run(*args, "--progress")
    assert r.returncode == 0, r.stderr
    assert "fit 1/1" in r.stderr and "iter 20/20" in r.stderr and "[####" in r.stderr
    r = ws.run(*args)  # stderr is a pipe here: no bar
    assert r.returncode == 0, r.stderr
    assert "fit 1/1" not in r.stderr and "iter 20/20" not in r.stderr


def test_xgboost_native_parameters_pass_through(ws):
    out = os.path.join(ws.path, "xgb")
    r = ws.run("train", "xgboost", "--data", WINE, "--target", "quality", "--param",
               "n_estimators=5", "--param", "max_bin=32", "--output", out)
    assert r.returncode == 0, r.stderr
    params = json.load(open(os.path.join(out, "model.json")))["params"]
    assert params["extra"] == "max_bin=32"
    r = ws.run("train", "xgboost", "--data", WINE, "--target", "quality", "--param",
               "max_bni=32")
    assert r.returncode == 1 and "max_bni" in r.stderr
