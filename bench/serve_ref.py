"""bench/serve_ref.py - the Python reference for bench/serve.sh: a Flask app shaped like Seldon
Core's Python wrapper (seldon-core is a PyPI package, unreachable here), run under gunicorn.

It serves POST /api/v1.0/predictions with {"data": {"ndarray": [[...], ...]}} and answers
Seldon's shape, {"data": {"names": [], "ndarray": [...]}, "meta": {}}, from a scikit-learn
ElasticNet fitted the way `edgeflow train elasticnet --data examples/data/winequality-red.csv
--target quality --param alpha=0.5 --param l1_ratio=0.5` fits (train_test_split with
test_size=0.25, random_state=42; the estimator's random_state=42 as in the parity tests).
Like the wrapper, every request is parsed, turned into a float64 array, predicted and
serialised; errors answer Seldon's error shape with status 400.

Run: gunicorn --preload -w N -b 127.0.0.1:PORT --chdir bench serve_ref:app
Environment: EF_BENCH_WINE (default examples/data/winequality-red.csv next to this file).
"""
import os

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
WINE = os.environ.get("EF_BENCH_WINE",
                      os.path.join(HERE, "..", "examples", "data", "winequality-red.csv"))


def fit_model():
    d = pd.read_csv(WINE, sep=";")
    tr, _ = train_test_split(d, test_size=0.25, random_state=42)
    x, y = tr.drop(columns=["quality"]), tr["quality"]
    # fitted on the bare array so that predict() on request arrays raises no feature-name warning
    return ElasticNet(alpha=0.5, l1_ratio=0.5, random_state=42).fit(x.values, y.values)


MODEL = fit_model()
app = Flask(__name__)


def seldon_error(info, http_status=400):
    return jsonify({"status": {"code": -1, "info": info, "reason": "MICROSERVICE_BAD_DATA",
                               "status": 1}}), http_status


@app.route("/api/v1.0/predictions", methods=["POST"])
def predictions():
    doc = request.get_json(force=True, silent=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict) \
            or "ndarray" not in doc["data"]:
        return seldon_error("expected {\"data\": {\"ndarray\": [[...]]}}")
    try:
        x = np.asarray(doc["data"]["ndarray"], dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        y = MODEL.predict(x)
    except (ValueError, TypeError) as e:
        return seldon_error(str(e))
    return jsonify({"data": {"names": [], "ndarray": y.tolist()}, "meta": {}})


@app.route("/health/ping")
def ping():
    return "pong"
