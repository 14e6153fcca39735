"""`edgeflow serve` hot swap and canary (issue 5), judged by scikit-learn run live.

- serving models:/WineQuality/Production with --poll-interval 500ms while a thread hammers Seldon
  predictions: registering v2 (another alpha) and moving it to Production swaps it in with zero
  non-2xx replies; afterwards replies come from v2 (meta.requestPath, X-Model-Version) with v2's
  scikit-learn prediction (1e-9); moving Production back to v1 rolls back (v1 was kept warm);
- --canary models:/WineQuality/2 --traffic 30 over 300 requests: v2's share is within 15..45%, and
  each reply's value is the prediction of the version it names (Seldon, OIP model_version, KServe
  header).
"""
import os
import threading
import time

import pandas as pd
import pytest
import requests
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import train_test_split

from conftest import free_port, wait_for, wait_port
from servetest import REF_ROW, WINE, post, serve

ALPHAS = {"1": 0.5, "2": 0.1}


def sk_predict(alpha):
    d = pd.read_csv(WINE, sep=";")
    tr, _ = train_test_split(d, test_size=0.25, random_state=42)
    sk = ElasticNet(alpha=alpha, l1_ratio=0.5, random_state=42)
    sk.fit(tr.drop(columns=["quality"]), tr["quality"])
    return sk.predict(pd.DataFrame([REF_ROW], columns=sk.feature_names_in_))[0]


def register(ws, uri, alpha):
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--param",
               f"alpha={alpha}", "--param", "l1_ratio=0.5", "--test-size", "0.25", "--seed", "42",
               "--register-model", "WineQuality", env={"MLFLOW_TRACKING_URI": uri})
    assert r.returncode == 0, r.stderr


def transition(uri, version, stage):
    r = requests.post(uri + "/api/2.0/mlflow/model-versions/transition-stage",
                      json={"name": "WineQuality", "version": version, "stage": stage,
                            "archive_existing_versions": True}, timeout=10)
    assert r.status_code == 200, r.text


def answered_by(doc):
    return doc["meta"]["requestPath"]["WineQuality"].split(":")[1]


@pytest.fixture
def registry(ws):
    sport = free_port()
    server = ws.edgeflow("server", "--port", sport, name="server")
    wait_port(sport)
    uri = f"http://127.0.0.1:{sport}"
    register(ws, uri, ALPHAS["1"])
    transition(uri, "1", "Production")
    yield uri
    server.stop()


def test_hot_swap_and_rollback(ws, registry):
    uri = registry
    expect = {v: sk_predict(a) for v, a in ALPHAS.items()}
    assert abs(expect["1"] - expect["2"]) > 1e-3
    proc, base = serve(ws, "--model", "models:/WineQuality/Production", "--poll-interval",
                       "500ms", env={"MLFLOW_TRACKING_URI": uri})
    st, doc = post(base, "/api/v1.0/predictions", {"data": {"ndarray": [REF_ROW]}})
    assert st == 200 and answered_by(doc) == "1"
    assert doc["data"]["ndarray"][0] == pytest.approx(expect["1"], rel=1e-9)

    stop, seen, bad = threading.Event(), [], []

    def hammer():
        s = requests.Session()
        while not stop.is_set():
            r = s.post(base + "/api/v1.0/predictions", json={"data": {"ndarray": [REF_ROW]}},
                       timeout=30)
            if r.status_code != 200:
                bad.append((r.status_code, r.text))
                continue
            d = r.json()
            v = answered_by(d)
            seen.append(v)
            if r.headers.get("X-Model-Version") != v or \
                    d["data"]["ndarray"][0] != pytest.approx(expect[v], rel=1e-9):
                bad.append((v, r.headers.get("X-Model-Version"), d))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        register(ws, uri, ALPHAS["2"])
        transition(uri, "2", "Production")
        wait_for(lambda: seen and seen[-1] == "2", timeout=15, what="v2 being served")
        n_v2 = len(seen)
        time.sleep(1.0)
        assert set(seen[n_v2:]) == {"2"}, "a reply came from v1 after the swap"
        # rollback: v1 is still loaded, so it comes back at the next poll
        transition(uri, "1", "Production")
        wait_for(lambda: seen and seen[-1] == "1", timeout=15, what="rollback to v1")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not bad, bad[:3]
    assert seen.count("1") > 0 and seen.count("2") > 0
    assert "moved to version 2 (was 1)" in proc.output()
    assert "moved to version 1 (was 2)" in proc.output()
    assert proc.stop() == 0


def test_canary_split(ws, registry):
    uri = registry
    register(ws, uri, ALPHAS["2"])
    expect = {v: sk_predict(a) for v, a in ALPHAS.items()}
    proc, base = serve(ws, "--model", "models:/WineQuality/1", "--canary",
                       "models:/WineQuality/2", "--traffic", "30",
                       env={"MLFLOW_TRACKING_URI": uri})
    s = requests.Session()
    versions = []
    for _ in range(300):
        r = s.post(base + "/api/v1.0/predictions", json={"data": {"ndarray": [REF_ROW]}},
                   timeout=30)
        assert r.status_code == 200, r.text
        d = r.json()
        v = answered_by(d)
        assert r.headers["X-Model-Version"] == v
        assert d["data"]["ndarray"][0] == pytest.approx(expect[v], rel=1e-9)
        versions.append(v)
    share = versions.count("2") / len(versions)
    assert 0.15 <= share <= 0.45, share
    assert set(versions) == {"1", "2"}

    # OIP names the version in model_version; KServe in the header
    oip = {"inputs": [{"name": "x", "shape": [1, 11], "datatype": "FP64", "data": REF_ROW}]}
    got = set()
    for _ in range(40):
        r = s.post(base + "/v2/models/WineQuality/infer", json=oip, timeout=30)
        assert r.status_code == 200, r.text
        d = r.json()
        assert r.headers["X-Model-Version"] == d["model_version"]
        assert d["outputs"][0]["data"][0] == pytest.approx(expect[d["model_version"]], rel=1e-9)
        r = s.post(base + "/v1/models/WineQuality:predict", json={"instances": [REF_ROW]},
                   timeout=30)
        assert r.status_code == 200, r.text
        v = r.headers["X-Model-Version"]
        assert r.json()["predictions"][0] == pytest.approx(expect[v], rel=1e-9)
        got |= {d["model_version"], v}
    assert got == {"1", "2"}
    # a version named in the path is served as asked (the canary is loaded)
    r = s.post(base + "/v2/models/WineQuality/versions/2/infer", json=oip, timeout=30)
    assert r.status_code == 200 and r.json()["model_version"] == "2"
    assert proc.stop() == 0

    # a canary for a model that is not served: exit 1, one line naming the URI
    local = os.path.join(ws.path, "local-wine")
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--output", local)
    assert r.returncode == 0, r.stderr
    r = ws.run("serve", "--model", "models:/WineQuality/1", "--model-dir", local,
               "--canary", "models:/Other/1", "--port", free_port(),
               env={"MLFLOW_TRACKING_URI": uri})
    assert r.returncode == 1 and "models:/Other/1" in r.stderr
