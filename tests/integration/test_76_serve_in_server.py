"""The model server mounted in `edgeflow server --serve`, following the registry (issues 5, 6).

- one port: before any model is in Production the Seldon / OIP / KServe routes answer their own
  "unknown model" errors while the store (_bulk, _search) and tracking routes work;
- the wine ElasticNet registered and moved to Production is picked up and answers the reference
  request on /seldon/<any namespace>/WineQuality/api/v1.0/predictions, /v2/models/.../infer and
  KServe with the value `edgeflow predict` gives offline for the same version (1e-12);
- alias champion on v2 wins over Production v1 (hot swap, X-Model-Version 2, swaps counter and
  model_info in the server's own /metrics); deleting the alias swaps back; archiving removes the
  model (unknown model again);
- `edgeflow serve --registry` standalone: an outage of the tracking server keeps serving and
  warns once; a restart with the server gone serves the last selection from the cache;
- bad combinations exit 2 with one line.
"""
import os
import re
import time

import pandas as pd
import requests

from conftest import free_port, wait_for, wait_port
from servetest import REF_ROW, WINE, serve

SELDON = {"data": {"ndarray": [REF_ROW]}}
OIP = {"inputs": [{"name": "x", "shape": [1, 11], "datatype": "FP64", "data": REF_ROW}]}


def register(ws, uri, alpha):
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--param",
               f"alpha={alpha}", "--param", "l1_ratio=0.5", "--test-size", "0.25", "--seed", "42",
               "--register-model", "WineQuality", env={"MLFLOW_TRACKING_URI": uri})
    assert r.returncode == 0, r.stderr


def mlflow(uri, method, path, body):
    r = requests.request(method, f"{uri}/api/2.0/mlflow/{path}", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def stage(uri, version, st):
    mlflow(uri, "POST", "model-versions/transition-stage",
           {"name": "WineQuality", "version": version, "stage": st})


def offline(ws, uri, model_uri):
    """`edgeflow predict` on the reference row, with its own cache."""
    cols = pd.read_csv(WINE, sep=";", nrows=1).drop(columns=["quality"]).columns
    path = os.path.join(ws.path, "ref.csv")
    pd.DataFrame([REF_ROW], columns=cols).to_csv(path, index=False)
    r = ws.run("predict", "--model", model_uri, "--data", path, "--cache-dir",
               os.path.join(ws.path, "predict-cache"), env={"MLFLOW_TRACKING_URI": uri})
    assert r.returncode == 0, r.stderr
    return float(r.stdout.splitlines()[1])


def seldon(base, ns="default"):
    r = requests.post(f"{base}/seldon/{ns}/WineQuality/api/v1.0/predictions", json=SELDON,
                      timeout=10)
    return r.status_code, r.headers.get("X-Model-Version"), r.json()


def metric(base, name, labels):
    text = requests.get(base + "/metrics", timeout=10).text
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


def assert_unknown(base):
    st, _, doc = seldon(base)
    assert st == 404 and doc["status"]["reason"] == "MICROSERVICE_BAD_DATA", doc
    assert "WineQuality" in doc["status"]["info"]
    r = requests.post(base + "/v2/models/WineQuality/infer", json=OIP, timeout=10)
    assert r.status_code == 404 and "unknown model" in r.json()["error"], r.text
    r = requests.post(base + "/v1/models/WineQuality:predict", json={"instances": [REF_ROW]},
                      timeout=10)
    assert r.status_code == 404 and "does not exist" in r.json()["error"], r.text


def store_works(base, n):
    bulk = "".join('{"index":{}}\n{"device":"d%d","ts":"2024-01-01T00:00:0%dZ","t":%d}\n'
                   % (i, i, i) for i in range(2))
    r = requests.post(base + "/sensor-lab/_bulk", data=bulk,
                      headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert r.status_code == 200 and not r.json()["errors"], r.text
    r = requests.get(base + "/sensor-lab/_search", timeout=10)
    assert r.status_code == 200 and r.json()["hits"]["total"]["value"] == n, r.text


def test_server_serves_what_the_registry_says(ws):
    port = free_port()
    proc = ws.edgeflow("server", "--port", port, "--serve", "--serve-poll-interval", "300ms",
                       name="server")
    wait_port(port)
    base = f"http://127.0.0.1:{port}"

    # nothing in Production yet: every protocol's own "unknown model"; store + tracking work
    assert_unknown(base)
    assert requests.get(base + "/ready", timeout=10).status_code == 200
    store_works(base, 2)
    assert mlflow(base, "GET", "experiments/get-by-name",
                  {"experiment_name": "Default"})["experiment"]["experiment_id"] == "0"

    register(ws, base, 0.5)
    stage(base, "1", "Production")
    want1 = offline(ws, base, "models:/WineQuality/1")
    st, ver, doc = wait_for(lambda: (lambda x: x[0] == 200 and x)(seldon(base, "prod-ns")),
                            timeout=20, what="WineQuality served")
    assert ver == "1" and abs(doc["data"]["ndarray"][0] - want1) <= 1e-12, doc
    r = requests.post(base + "/v2/models/WineQuality/infer", json=OIP, timeout=10)
    assert r.status_code == 200 and r.json()["model_version"] == "1", r.text
    assert abs(r.json()["outputs"][0]["data"][0] - want1) <= 1e-12
    r = requests.post(base + "/v1/models/WineQuality:predict", json={"instances": [REF_ROW]},
                      timeout=10)
    assert r.status_code == 200 and abs(r.json()["predictions"][0] - want1) <= 1e-12, r.text
    assert metric(base, "edgeflow_serve_model_info",
                  'model="WineQuality",version="1",stage="Production"') == 1
    assert metric(base, "edgeflow_serve_swaps_total", 'model="WineQuality"') is None

    # v2 with alias champion wins over Production v1: a hot swap
    register(ws, base, 0.1)
    mlflow(base, "POST", "registered-models/alias",
           {"name": "WineQuality", "alias": "champion", "version": "2"})
    want2 = offline(ws, base, "models:/WineQuality@champion")
    assert abs(want1 - want2) > 1e-3
    st, ver, doc = wait_for(lambda: (lambda x: x[1] == "2" and x)(seldon(base)), timeout=20,
                            what="v2 swapped in")
    assert st == 200 and abs(doc["data"]["ndarray"][0] - want2) <= 1e-12, doc
    assert metric(base, "edgeflow_serve_swaps_total", 'model="WineQuality"') == 1
    assert metric(base, "edgeflow_serve_model_info",
                  'model="WineQuality",version="2",stage="None"') == 1
    assert metric(base, "edgeflow_serve_model_info",
                  'model="WineQuality",version="1",stage="Production"') == 0
    assert "alias champion (version 2) wins over stage Production (version 1)" in proc.output()

    # alias deleted: Production v1 again (kept warm); archived: the model is gone
    r = requests.delete(base + "/api/2.0/mlflow/registered-models/alias",
                        json={"name": "WineQuality", "alias": "champion"}, timeout=10)
    assert r.status_code == 200, r.text
    wait_for(lambda: seldon(base)[1] == "1", timeout=20, what="back to v1")
    assert metric(base, "edgeflow_serve_swaps_total", 'model="WineQuality"') == 2
    stage(base, "1", "Archived")
    wait_for(lambda: seldon(base)[0] == 404, timeout=20, what="model removed")
    assert_unknown(base)
    assert "'WineQuality': no longer served" in proc.output()
    assert metric(base, "edgeflow_serve_model_info",
                  'model="WineQuality",version="1",stage="Production"') == 0

    store_works(base, 4)
    text = requests.get(base + "/metrics", timeout=10).text
    assert "edgeflow_store_documents" in text and "edgeflow_serve_requests_total" in text
    assert proc.stop() == 0


def test_standalone_registry_outage_and_cache(ws):
    sport = free_port()
    server = ws.edgeflow("server", "--port", sport, name="server")
    wait_port(sport)
    uri = f"http://127.0.0.1:{sport}"
    register(ws, uri, 0.5)
    stage(uri, "1", "Production")
    want = offline(ws, uri, "models:/WineQuality/1")
    cache = os.path.join(ws.path, "serve-cache")
    args = ("--registry", "--tracking-uri", uri, "--poll-interval", "200ms", "--cache-dir", cache)
    proc, base = serve(ws, *args)
    st, ver, doc = wait_for(lambda: (lambda x: x[0] == 200 and x)(seldon(base)), timeout=20,
                            what="served")
    assert ver == "1" and abs(doc["data"]["ndarray"][0] - want) <= 1e-12

    # the tracking server goes away: still served, one warning for the whole outage
    assert server.stop() == 0
    wait_for(lambda: "cannot search the model registry" in proc.output(), timeout=10,
             what="outage warning")
    time.sleep(1.5)  # several polls
    assert proc.output().count("cannot search the model registry") == 1
    assert seldon(base)[0] == 200
    assert proc.stop() == 0

    # restart with the server still gone: the last selection comes from the cache
    proc, base = serve(ws, *args, name="serve2")
    st, ver, doc = wait_for(lambda: (lambda x: x[0] == 200 and x)(seldon(base)), timeout=20,
                            what="served from the cache")
    assert ver == "1" and abs(doc["data"]["ndarray"][0] - want) <= 1e-12
    assert proc.stop() == 0


def test_auth_tokens(ws, tmp_path):
    """With --auth-tokens the mounted model server reads the registry with the file's first
    token; prediction routes need a token like every other route."""
    tokens = tmp_path / "tokens"
    tokens.write_text("# comment\n\n  s3cret-1  \nother\n")
    port = free_port()
    proc = ws.edgeflow("server", "--port", port, "--serve", "--serve-poll-interval", "200ms",
                       "--auth-tokens", tokens, name="server")
    wait_port(port)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer other"}
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality",
               "--register-model", "WineQuality",
               env={"MLFLOW_TRACKING_URI": base, "MLFLOW_TRACKING_TOKEN": "other"})
    assert r.returncode == 0, r.stderr
    r = requests.post(base + "/api/2.0/mlflow/model-versions/transition-stage", headers=auth,
                      json={"name": "WineQuality", "version": "1", "stage": "Production"},
                      timeout=10)
    assert r.status_code == 200, r.text
    url = base + "/seldon/default/WineQuality/api/v1.0/predictions"
    wait_for(lambda: requests.post(url, json=SELDON, headers=auth, timeout=10).status_code == 200,
             timeout=20, what="served with auth on")
    assert requests.post(url, json=SELDON, timeout=10).status_code == 401
    assert "cannot search the model registry" not in proc.output()
    assert proc.stop() == 0


def test_bad_combinations(ws, tmp_path):
    users = tmp_path / "users"
    users.write_text("u:$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n")
    for args, text in [
        (["server", "--serve", "--no-tracking"], "--no-tracking"),
        (["server", "--serve", "--auth-users", str(users)], "--auth-tokens"),
        (["serve", "--registry", "--model", "models:/X/1"], "--registry"),
        (["serve", "--registry"], "MLFLOW_TRACKING_URI"),
    ]:
        r = ws.run(*args, "--port", free_port(), env={"MLFLOW_TRACKING_URI": ""})
        assert r.returncode == 2 and text in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
