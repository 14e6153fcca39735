"""`edgeflow serve` with the Seldon Core v1 protocol (issue 5), judged by scikit-learn run live.

- the reference curl against an ElasticNet trained on wine answers Seldon's exact shape with
  scikit-learn's prediction (1e-9); ndarray, tensor, names (reordered columns) and jsonData forms;
- LDA on EEG letters (L2-normalised): labels, and probabilities with the class labels as names,
  through meta.tags and ?method=predict_proba; two models routed by /seldon/<ns>/<model>/...;
- models:/ through a live `edgeflow server`, then a restart with the server gone serves the cache;
- every error shape (invalid JSON, feature count, non-numeric, NaN, null, empty batch, tensor
  mismatch, oversized body, unknown model), health routes, feedback, /metrics counters.
"""
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import normalize

from conftest import free_port, wait_port
from servetest import (EEG_TEST, EEG_TRAIN, REF_ROW, post, serve, train_lda, train_wine,
                       wine_sklearn)

SELDON_ERROR_KEYS = {"code", "info", "reason", "status"}












def assert_seldon_error(status, doc, http_status, info_part):
    assert status == http_status, doc
    assert set(doc) == {"status"} and set(doc["status"]) == SELDON_ERROR_KEYS, doc
    st = doc["status"]
    assert st["code"] == -1 and st["status"] == 1 and st["reason"].startswith("MICROSERVICE_")
    assert info_part in st["info"], st["info"]


@pytest.fixture
def wine(ws):
    return train_wine(ws, os.path.join(ws.path, "wine"))


def test_reference_curl_matches_sklearn(ws, wine):
    sk, _ = wine_sklearn()
    expect = sk.predict(pd.DataFrame([REF_ROW], columns=sk.feature_names_in_))[0]
    proc, base = serve(ws, "--model-dir", wine)
    ref = json.dumps({"data": {"ndarray": [REF_ROW]}})
    out = subprocess.run(["curl", "-sS", "-X", "POST", f"{base}/api/v1.0/predictions", "-H",
                          "Content-Type: application/json", "-d", ref],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    doc = json.loads(out)
    assert set(doc) == {"data", "meta"} and doc["meta"] == {}
    assert set(doc["data"]) == {"names", "ndarray"} and doc["data"]["names"] == []
    assert len(doc["data"]["ndarray"]) == 1
    assert doc["data"]["ndarray"][0] == pytest.approx(expect, rel=1e-9, abs=0)
    # the older path and the wrapper's /predict answer the same
    for path in ("/api/v0.1/predictions", "/predict"):
        assert post(base, path, ref) == (200, doc)
    assert proc.stop() == 0


def test_input_forms(ws, wine):
    sk, xte = wine_sklearn()
    x = xte.iloc[:40]
    expect = sk.predict(x)
    _, base = serve(ws, "--model-dir", wine)

    st, doc = post(base, "/api/v1.0/predictions",
                   {"data": {"ndarray": x.values.tolist()}, "meta": {"puid": "p-1"}})
    assert st == 200 and doc["meta"] == {"puid": "p-1"}
    assert np.allclose(doc["data"]["ndarray"], expect, rtol=1e-9, atol=0)

    # tensor in -> tensor out (flat values, shape [n])
    st, doc = post(base, "/api/v1.0/predictions", {"data": {"tensor": {
        "shape": list(x.shape), "values": x.values.ravel().tolist()}}})
    assert st == 200 and doc["data"]["names"] == []
    assert doc["data"]["tensor"]["shape"] == [len(x)]
    assert np.allclose(doc["data"]["tensor"]["values"], expect, rtol=1e-9, atol=0)

    # names select columns by name: reversed column order gives the same predictions
    cols = list(x.columns)[::-1]
    st, doc = post(base, "/api/v1.0/predictions",
                   {"data": {"names": cols, "ndarray": x[cols].values.tolist()}})
    assert st == 200 and doc["data"]["names"] == []  # request names are never echoed
    assert np.allclose(doc["data"]["ndarray"], expect, rtol=1e-9, atol=0)

    # jsonData: columns object and records; no `data` in -> numeric tensor out
    for jd in (x.to_dict(orient="list"), x.to_dict(orient="records")):
        st, doc = post(base, "/api/v1.0/predictions", {"jsonData": jd})
        assert st == 200, doc
        assert np.allclose(doc["data"]["tensor"]["values"], expect, rtol=1e-9, atol=0)


def test_lda_classifier_labels_and_probabilities(ws, wine):
    lda_dir = train_lda(ws, os.path.join(ws.path, "lda"))
    tr, te = pd.read_csv(EEG_TRAIN), pd.read_csv(EEG_TEST)
    feats = list(tr.columns[2:])
    lda = LinearDiscriminantAnalysis().fit(normalize(tr[feats].values), tr["# Letter"])
    x = te[feats].values[:60]
    labels = lda.predict(normalize(x))
    proba = lda.predict_proba(normalize(x))
    _, base = serve(ws, "--model-dir", lda_dir, "--model-dir", wine, "--name", "", "--name",
                    "winequality")

    st, doc = post(base, "/api/v1.0/predictions", {"data": {"ndarray": x.tolist()}})
    assert st == 200 and doc["data"]["names"] == []
    assert [str(v) for v in doc["data"]["ndarray"]] == [str(v) for v in labels]

    st, doc = post(base, "/api/v1.0/predictions",
                   {"data": {"ndarray": x.tolist()}, "meta": {"tags": {"predict_proba": True}}})
    assert st == 200
    assert doc["data"]["names"] == [str(c) for c in lda.classes_]
    assert doc["meta"]["tags"] == {"predict_proba": True}
    assert np.allclose(doc["data"]["ndarray"], proba, rtol=0, atol=1e-9)

    st, doc = post(base, "/seldon/ns/lda/api/v1.0/predictions?method=predict_proba",
                   {"data": {"tensor": {"shape": list(x.shape), "values": x.ravel().tolist()}}})
    assert st == 200 and doc["data"]["tensor"]["shape"] == list(proba.shape)
    assert np.allclose(doc["data"]["tensor"]["values"], proba.ravel(), rtol=0, atol=1e-9)

    # the second model by its --name, through the ingress path
    sk, _ = wine_sklearn()
    st, doc = post(base, "/seldon/default/winequality/api/v1.0/predictions",
                   {"data": {"ndarray": [REF_ROW]}})
    assert st == 200
    assert doc["data"]["ndarray"][0] == pytest.approx(
        sk.predict(pd.DataFrame([REF_ROW], columns=sk.feature_names_in_))[0], rel=1e-9)


def test_registry_model_and_cache_restart(ws):
    sport = free_port()
    server = ws.edgeflow("server", "--port", sport, name="server")
    wait_port(sport)
    uri = f"http://127.0.0.1:{sport}"
    train_wine(ws, None, ["--register-model", "WineQuality"], env={"MLFLOW_TRACKING_URI": uri})
    sk, _ = wine_sklearn()
    expect = sk.predict(pd.DataFrame([REF_ROW], columns=sk.feature_names_in_))[0]

    proc, base = serve(ws, "--model", "models:/WineQuality/1", env={"MLFLOW_TRACKING_URI": uri})
    st, doc = post(base, "/api/v1.0/predictions", {"data": {"ndarray": [REF_ROW]}})
    assert st == 200 and doc["data"]["ndarray"][0] == pytest.approx(expect, rel=1e-9)
    st, status = requests.get(base + "/health/status", timeout=10).status_code, \
        requests.get(base + "/health/status", timeout=10).json()
    assert st == 200 and status["jsonData"]["models"][0]["version"] == "1"
    assert proc.stop() == 0
    assert server.stop() == 0
    assert os.path.isdir(os.path.join(ws.path, "home", "models", "WineQuality", "1"))

    # tracking server gone: the cached version is served, with a warning
    proc, base = serve(ws, "--model", "models:/WineQuality/Production", name="serve2",
                       env={"MLFLOW_TRACKING_URI": uri})
    st, doc = post(base, "/api/v1.0/predictions", {"data": {"ndarray": [REF_ROW]}})
    assert st == 200 and doc["data"]["ndarray"][0] == pytest.approx(expect, rel=1e-9)
    assert "serving the cached version 1" in proc.output()
    assert proc.stop() == 0

    # nothing cached for an unknown model and no server: exit 1 with one line
    r = ws.run("serve", "--model", "models:/Nope/1", "--port", free_port(),
               env={"MLFLOW_TRACKING_URI": uri})
    assert r.returncode == 1 and "no version of Nope is cached" in r.stderr


def test_error_shapes(ws, wine):
    _, base = serve(ws, "--model-dir", wine, "--max-body", "4k")
    p = "/api/v1.0/predictions"
    assert_seldon_error(*post(base, p, "{not json"), 400, "Can't find JSON in data")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": [[1.0, 2.0]]}}), 400,
                        "expects 11 features")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": [REF_ROW, REF_ROW[:5]]}}), 400,
                        "row 1 has 5 values")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": [REF_ROW[:10] + ["abc"]]}}), 400,
                        "non-numeric value at row 0, column 10")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": [REF_ROW[:10] + [True]]}}), 400,
                        "non-numeric")
    # Python's json writes NaN as a bare token, which is not JSON
    assert_seldon_error(*post(base, p, json.dumps({"data": {"ndarray": [REF_ROW[:10] + [
        float("nan")]]}})), 400, "Can't find JSON in data")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": [REF_ROW[:10] + [None]]}}), 400,
                        "missing value")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": []}}), 400, "empty batch")
    assert_seldon_error(*post(base, p, {"data": {"tensor": {"shape": [0, 11], "values": []}}}),
                        400, "empty batch")
    assert_seldon_error(*post(base, p, {"data": {"tensor": {"shape": [2, 11],
                                                            "values": REF_ROW}}}),
                        400, "has 11 values")
    assert_seldon_error(*post(base, p, {"strData": "hello"}), 400, "not supported")
    assert_seldon_error(*post(base, p, {"meta": {}}), 400, "no input")
    assert_seldon_error(*post(base, p, {"data": {"ndarray": [REF_ROW]}, "jsonData": {}}), 400,
                        "only one of")
    assert_seldon_error(*post(base, p, {"jsonData": {"alcohol": [1]}}), 400, "no column")
    big = json.dumps({"data": {"ndarray": [REF_ROW] * 80}})
    assert len(big) > 4096
    assert_seldon_error(*post(base, p, big), 413, "larger than 4096 bytes")
    # far over the limit the HTTP layer refuses it before reading it (its own shape)
    huge = json.dumps({"data": {"ndarray": [REF_ROW] * 30000}})
    assert post(base, p, huge)[0] == 413
    assert_seldon_error(*post(base, "/seldon/ns/unknown/api/v1.0/predictions",
                              {"data": {"ndarray": [REF_ROW]}}), 404, "no model named 'unknown'")
    assert_seldon_error(*post(base, p + "?method=decision_function",
                              {"data": {"ndarray": [REF_ROW]}}), 400, "method=")
    # still serving after all of that
    assert post(base, p, {"data": {"ndarray": [REF_ROW]}})[0] == 200


def test_health_feedback_metrics(ws, wine):
    _, base = serve(ws, "--model-dir", wine, "--name", "wq")
    g = lambda path: requests.get(base + path, timeout=10)
    assert g("/live").status_code == 200
    assert g("/ready").status_code == 200
    r = g("/health/ping")
    assert r.status_code == 200 and r.text == "pong"
    st = g("/health/status").json()
    assert st["jsonData"]["status"] == "healthy" and st["jsonData"]["models"][0]["name"] == "wq"
    md = g("/api/v1.0/metadata").json()
    assert md["name"] == "wq" and len(md["inputs"][0]["schema"]["names"]) == 11

    def counter(text, prefix):
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(prefix))

    m0 = g("/metrics").text
    for _ in range(3):
        assert post(base, "/api/v1.0/predictions", {"data": {"ndarray": [REF_ROW]}})[0] == 200
    assert post(base, "/api/v1.0/predictions", {"data": {"ndarray": [[1]]}})[0] == 400
    st, doc = post(base, "/api/v1.0/feedback", {"request": {"data": {"ndarray": [REF_ROW]}},
                                                "reward": 1.0})
    assert st == 200 and doc == {"data": {"ndarray": []}, "meta": {}}
    assert_seldon_error(*post(base, "/api/v1.0/feedback", "nope"), 400, "Can't find JSON")
    m1 = g("/metrics").text
    ok = 'edgeflow_serve_requests_total{model="wq",version="",protocol="seldon",code="200"}'
    bad = 'edgeflow_serve_requests_total{model="wq",version="",protocol="seldon",code="400"}'
    assert counter(m1, ok) - counter(m0, ok) == 3
    assert counter(m1, bad) - counter(m0, bad) == 1
    assert counter(m1, 'edgeflow_serve_feedback_total{model="wq"') == 1
    assert counter(m1, 'edgeflow_serve_request_duration_seconds_count{model="wq"') >= 4
    # CORS pre-flight
    r = requests.options(base + "/api/v1.0/predictions", timeout=10)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
