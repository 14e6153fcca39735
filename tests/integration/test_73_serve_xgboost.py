"""Models saved by Python's xgboost in MLflow's `xgboost` flavour (issue 5), served by edgeflow.

The MLflow layout is written by hand as mlflow 2.12's mlflow.xgboost.save_model writes it (no
mlflow package here): MLmodel with flavors.xgboost {data, model_class, model_format, xgb_version}
and python_function, a column signature, the booster saved by XGBModel.save_model - no edgeflow
flavour and no model.json. Judged by python3-xgboost run live on the same rows:
- XGBRegressor (model.xgb binary and model.json) and a multi-class XGBClassifier (quality coded
  0..5, multi:softprob) through `edgeflow predict --model DIR`;
- a binary XGBClassifier saved as UBJSON and a tensor signature (no column names: f0..f10);
- `edgeflow serve --model-dir`: Seldon ndarray and names, ?method=predict_proba, OIP v2 infer
  and metadata (feature names from the signature);
- an MLmodel with neither readable flavour fails with a message naming both.
Tolerance 1e-6: XGBoost predicts float32 values in both.
"""
import csv
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.model_selection import train_test_split

xgb = pytest.importorskip("xgboost")

from conftest import ROOT  # noqa: E402
from servetest import post, serve  # noqa: E402

WINE = os.path.join(ROOT, "examples", "data", "winequality-red.csv")


def wine_split():
    d = pd.read_csv(WINE, sep=";")
    tr, te = train_test_split(d, test_size=0.25, random_state=42)
    return tr.drop(columns=["quality"]), tr["quality"], te.drop(columns=["quality"])


def write_mlflow_xgb(path, model, fmt, cls, columns):
    """The directory mlflow.xgboost.save_model(model, path, model_format=fmt) writes (2.12)."""
    os.makedirs(path)
    data = f"model.{fmt}"
    model.save_model(os.path.join(path, data))
    if columns is None:  # a numpy-trained model: tensor signature
        inputs = [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 11]}}]
    else:
        inputs = [{"type": "double", "name": c, "required": True} for c in columns]
    outputs = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]
    with open(os.path.join(path, "MLmodel"), "w") as f:
        f.write(f"""artifact_path: model
flavors:
  python_function:
    data: {data}
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.2
  xgboost:
    code: null
    data: {data}
    model_class: {cls}
    model_format: {fmt}
    xgb_version: {xgb.__version__}
mlflow_version: 2.12.2
model_size_bytes: {os.path.getsize(os.path.join(path, data))}
model_uuid: 5f1e0c2a9b8d4e7fa1b2c3d4e5f60718
run_id: null
signature:
  inputs: '{json.dumps(inputs)}'
  outputs: '{json.dumps(outputs)}'
  params: null
utc_time_created: '2026-11-22 10:00:00.000000'
""")
    for name, text in (("requirements.txt", "mlflow==2.12.2\nxgboost==1.7.4\n"),
                       ("python_env.yaml", "python: 3.11.2\n"), ("conda.yaml", "name: env\n")):
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("xgbmodels"))
    xtr, ytr, xte = wine_split()
    codes = np.searchsorted(np.unique(ytr), ytr)  # XGBClassifier wants 0..K-1
    reg = xgb.XGBRegressor(n_estimators=30, max_depth=4, random_state=0).fit(xtr, ytr)
    clf = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(xtr, codes)
    binary = xgb.XGBClassifier(n_estimators=15, max_depth=3, random_state=0).fit(
        xtr.values, (ytr.values >= 6).astype(int))
    m = {
        "reg": reg, "clf": clf, "binary": binary, "xte": xte,
        "reg_xgb": write_mlflow_xgb(os.path.join(base, "wine_reg"), reg, "xgb",
                                    "xgboost.sklearn.XGBRegressor", list(xtr.columns)),
        "reg_json": write_mlflow_xgb(os.path.join(base, "reg_json"), reg, "json",
                                     "xgboost.sklearn.XGBRegressor", list(xtr.columns)),
        "clf_json": write_mlflow_xgb(os.path.join(base, "wine_clf"), clf, "json",
                                     "xgboost.sklearn.XGBClassifier", list(xtr.columns)),
        "binary_ubj": write_mlflow_xgb(os.path.join(base, "binary"), binary, "ubj",
                                       "xgboost.sklearn.XGBClassifier", None),
    }
    m["test_csv"] = os.path.join(base, "test.csv")
    xte.to_csv(m["test_csv"], index=False)
    m["test_csv_f"] = os.path.join(base, "test_f.csv")
    xte.set_axis([f"f{j}" for j in range(xte.shape[1])], axis=1).to_csv(m["test_csv_f"],
                                                                        index=False)
    return m


def predict_cli(ws, model_dir, data, *extra):
    r = ws.run("predict", "--model", model_dir, "--data", data, *extra)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(r.stdout.splitlines()))
    assert rows[0][0] == "prediction"
    return rows[0], rows[1:]


def test_predict_cli_matches_xgboost(ws, models):
    xte = models["xte"]
    expect = models["reg"].predict(xte)
    for key in ("reg_xgb", "reg_json"):
        _, rows = predict_cli(ws, models[key], models["test_csv"])
        assert len(rows) == len(xte)
        assert np.allclose([float(r[0]) for r in rows], expect, rtol=1e-6, atol=0), key
    # a classifier predicts XGBClassifier's class indices 0..K-1 (what mlflow.pyfunc gives)
    clf = models["clf"]
    _, rows = predict_cli(ws, models["clf_json"], models["test_csv"])
    assert [int(r[0]) for r in rows] == clf.predict(xte).tolist()
    assert len(set(int(r[0]) for r in rows)) > 2  # really multi-class
    header, rows = predict_cli(ws, models["clf_json"], models["test_csv"], "--proba")
    proba = np.array([[float(v) for v in r[1:]] for r in rows])
    assert proba.shape == (len(xte), len(clf.classes_))
    assert np.allclose(proba, clf.predict_proba(xte), rtol=0, atol=1e-6)
    # binary:logistic in UBJSON with a tensor signature: features are f0..f10
    binary = models["binary"]
    _, rows = predict_cli(ws, models["binary_ubj"], models["test_csv_f"])
    assert [int(r[0]) for r in rows] == binary.predict(xte.values).tolist()
    r = ws.run("predict", "--model", models["binary_ubj"], "--data", models["test_csv"])
    assert r.returncode != 0 and "f0" in r.stderr






def test_serve_seldon_and_oip(ws, models):
    xte = models["xte"].iloc[:50]
    reg, clf = models["reg"], models["clf"]
    proc, base = serve(ws, "--model-dir", models["reg_xgb"], "--model-dir", models["clf_json"])

    st, doc = post(base, "/seldon/ns/wine_reg/api/v1.0/predictions",
                   {"data": {"ndarray": xte.values.tolist()}})
    assert st == 200, doc
    assert np.allclose(doc["data"]["ndarray"], reg.predict(xte), rtol=1e-6, atol=0)
    # names from the signature select columns: reversed order, same predictions
    cols = list(xte.columns)[::-1]
    st, doc = post(base, "/seldon/ns/wine_reg/api/v1.0/predictions",
                   {"data": {"names": cols, "ndarray": xte[cols].values.tolist()}})
    assert st == 200 and np.allclose(doc["data"]["ndarray"], reg.predict(xte), rtol=1e-6, atol=0)

    st, doc = post(base, "/seldon/ns/wine_clf/api/v1.0/predictions",
                   {"data": {"ndarray": xte.values.tolist()}})
    assert st == 200 and [int(v) for v in doc["data"]["ndarray"]] == clf.predict(xte).tolist()
    st, doc = post(base, "/seldon/ns/wine_clf/api/v1.0/predictions?method=predict_proba",
                   {"data": {"ndarray": xte.values.tolist()}})
    assert st == 200, doc
    assert np.allclose(doc["data"]["ndarray"], clf.predict_proba(xte), rtol=0, atol=1e-6)

    # OIP v2: metadata names come from the MLflow signature
    md = requests.get(base + "/v2/models/wine_reg", timeout=30).json()
    assert [i["name"] for i in md["inputs"]] == list(xte.columns)
    tensor = {"name": "input-0", "shape": list(xte.shape), "datatype": "FP64",
              "data": xte.values.ravel().tolist()}
    st, doc = post(base, "/v2/models/wine_reg/infer", {"inputs": [tensor]})
    assert st == 200, doc
    assert np.allclose(doc["outputs"][0]["data"], reg.predict(xte), rtol=1e-6, atol=0)
    st, doc = post(base, "/v2/models/wine_clf/infer", {"inputs": [tensor]})
    assert st == 200 and doc["outputs"][0]["data"] == clf.predict(xte).tolist()
    assert proc.stop() == 0


def test_unreadable_flavour(ws, models):
    bad = os.path.join(ws.path, "sk")
    os.makedirs(bad)
    with open(os.path.join(bad, "MLmodel"), "w") as f:
        f.write("flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
                "  python_function:\n    loader_module: mlflow.sklearn\n")
    r = ws.run("predict", "--model", bad, "--data", models["test_csv"])
    assert r.returncode != 0 and "'edgeflow'" in r.stderr and "'xgboost'" in r.stderr
    # the xgboost flavour pointing at a missing booster names the file
    gone = shutil.copytree(models["reg_json"], os.path.join(ws.path, "gone"))
    os.remove(os.path.join(gone, "model.json"))
    r = ws.run("predict", "--model", gone, "--data", models["test_csv"])
    assert r.returncode != 0 and "model.json" in r.stderr
