"""The tracking server's HTTP edges: unknown routes (404), wrong methods (405), content types,
oversized bodies (413), and every MLflow route also answering under /ajax-api/2.0.

Reference: shared/specs/mlflow-api.md §2 (conventions), §3 (the 54 method/path pairs of the 52
rpcs of MLflow 2.12.2), §6.1 (observed errors). Routing errors on the real server are Flask HTML
pages; clients only look at the status, so that is what is asserted for them, plus that no
MLflow handler answered (no "error_code" body).
"""
import json
import socket
import time

import pytest
import requests

from conftest import free_port

# (method, path after /api/2.0 and /ajax-api/2.0) for every rpc of MLflow 2.12.2 (spec §3.1-3.3)
ROUTES = [
    ("GET", "/mlflow/experiments/get-by-name"),
    ("POST", "/mlflow/experiments/create"),
    ("POST", "/mlflow/experiments/search"),
    ("GET", "/mlflow/experiments/search"),
    ("GET", "/mlflow/experiments/get"),
    ("POST", "/mlflow/experiments/delete"),
    ("POST", "/mlflow/experiments/restore"),
    ("POST", "/mlflow/experiments/update"),
    ("POST", "/mlflow/runs/create"),
    ("POST", "/mlflow/runs/update"),
    ("POST", "/mlflow/runs/delete"),
    ("POST", "/mlflow/runs/restore"),
    ("POST", "/mlflow/runs/log-metric"),
    ("POST", "/mlflow/runs/log-parameter"),
    ("POST", "/mlflow/experiments/set-experiment-tag"),
    ("POST", "/mlflow/runs/set-tag"),
    ("POST", "/mlflow/runs/delete-tag"),
    ("GET", "/mlflow/runs/get"),
    ("POST", "/mlflow/runs/search"),
    ("GET", "/mlflow/artifacts/list"),
    ("GET", "/mlflow/metrics/get-history"),
    ("GET", "/mlflow/metrics/get-history-bulk-interval"),
    ("POST", "/mlflow/runs/log-batch"),
    ("POST", "/mlflow/runs/log-model"),
    ("POST", "/mlflow/runs/log-inputs"),
    ("POST", "/mlflow/registered-models/create"),
    ("POST", "/mlflow/registered-models/rename"),
    ("PATCH", "/mlflow/registered-models/update"),
    ("DELETE", "/mlflow/registered-models/delete"),
    ("GET", "/mlflow/registered-models/get"),
    ("GET", "/mlflow/registered-models/search"),
    ("POST", "/mlflow/registered-models/get-latest-versions"),
    ("GET", "/mlflow/registered-models/get-latest-versions"),
    ("POST", "/mlflow/model-versions/create"),
    ("PATCH", "/mlflow/model-versions/update"),
    ("POST", "/mlflow/model-versions/transition-stage"),
    ("DELETE", "/mlflow/model-versions/delete"),
    ("GET", "/mlflow/model-versions/get"),
    ("GET", "/mlflow/model-versions/search"),
    ("GET", "/mlflow/model-versions/get-download-uri"),
    ("POST", "/mlflow/registered-models/set-tag"),
    ("POST", "/mlflow/model-versions/set-tag"),
    ("DELETE", "/mlflow/registered-models/delete-tag"),
    ("DELETE", "/mlflow/model-versions/delete-tag"),
    ("POST", "/mlflow/registered-models/alias"),
    ("DELETE", "/mlflow/registered-models/alias"),
    ("GET", "/mlflow/registered-models/alias"),
    ("GET", "/mlflow-artifacts/artifacts/0/nosuchrun/artifacts/none.txt"),
    ("PUT", "/mlflow-artifacts/artifacts/0/ajaxcheck/artifacts/{prefix}.txt"),
    ("GET", "/mlflow-artifacts/artifacts"),
    ("DELETE", "/mlflow-artifacts/artifacts/0/nosuchrun/artifacts/none.txt"),
    ("POST", "/mlflow-artifacts/mpu/create/0/nosuchrun/artifacts/big.bin"),
    ("POST", "/mlflow-artifacts/mpu/complete/0/nosuchrun/artifacts/big.bin"),
    ("POST", "/mlflow-artifacts/mpu/abort/0/nosuchrun/artifacts/big.bin"),
]
# every rpc whose only required fields are missing in an empty message answers MLflow's
# "Missing value for required parameter" (spec §3, fields marked *)
REQUIRES = {
    "/mlflow/experiments/get-by-name": "experiment_name", "/mlflow/experiments/create": "name",
    "/mlflow/experiments/get": "experiment_id", "/mlflow/experiments/delete": "experiment_id",
    "/mlflow/experiments/restore": "experiment_id", "/mlflow/experiments/update": "experiment_id",
    "/mlflow/runs/update": None, "/mlflow/runs/delete": "run_id", "/mlflow/runs/restore": "run_id",
    "/mlflow/runs/log-metric": None, "/mlflow/runs/log-parameter": None,
    "/mlflow/experiments/set-experiment-tag": "experiment_id", "/mlflow/runs/set-tag": None,
    "/mlflow/runs/delete-tag": None, "/mlflow/runs/get": None, "/mlflow/artifacts/list": None,
    "/mlflow/metrics/get-history": None, "/mlflow/runs/log-batch": None,
    "/mlflow/runs/log-model": None, "/mlflow/runs/log-inputs": None,
    "/mlflow/registered-models/create": "name", "/mlflow/registered-models/rename": "name",
    "/mlflow/registered-models/update": "name", "/mlflow/registered-models/delete": "name",
    "/mlflow/registered-models/get": "name", "/mlflow/model-versions/create": "name",
    "/mlflow/model-versions/update": "name", "/mlflow/model-versions/transition-stage": "name",
    "/mlflow/model-versions/delete": "name", "/mlflow/model-versions/get": "name",
    "/mlflow/registered-models/set-tag": "name", "/mlflow/model-versions/set-tag": "name",
    "/mlflow/registered-models/delete-tag": "name", "/mlflow/model-versions/delete-tag": "name",
}
MISSING = "Missing value for required parameter"


@pytest.fixture
def server(ws):
    port = free_port()
    proc = ws.edgeflow("server", "--port", port, "--max-body", "1MiB", name="server")
    proc.wait_log("listening on", timeout=30)
    yield f"http://127.0.0.1:{port}", port
    assert proc.stop() == 0, proc.output()[-3000:]


def call(method, url, body=None, **kw):
    if body is not None and method in ("POST", "PATCH", "DELETE"):
        kw.setdefault("json", body)
    return requests.request(method, url, timeout=30, **kw)


def is_mlflow_error(r):
    try:
        return "error_code" in r.json()
    except ValueError:
        return False


def test_unknown_routes_are_404(server):
    uri, _ = server
    for method, path in [("GET", "/api/2.0/mlflow/runs/does-not-exist"),
                         ("GET", "/api/2.0/mlflow/experiments/list"),  # removed in 2.0
                         ("POST", "/api/2.0/mlflow/runs/does-not-exist"),
                         ("GET", "/ajax-api/2.0/mlflow/runs/does-not-exist"),
                         ("GET", "/api/2.0/mlflow/runs"),
                         ("GET", "/api/2.0/mlflow/runs/get/extra"),
                         ("GET", "/api/2.1/mlflow/runs/get"),
                         ("POST", "/api/3.0/mlflow/traces"),  # MLflow 3.x only
                         ("GET", "/api/2.0/mlflowx/runs/get"),
                         ("GET", "/api/2.0/mlflow-artifacts/nope")]:
        r = requests.request(method, uri + path, timeout=30,
                             **({"json": {}} if method == "POST" else {}))
        assert r.status_code == 404, (method, path, r.status_code, r.text[:300])
        assert not is_mlflow_error(r), (path, r.text[:300])
    # the npm client's Experiments.setExperimentTag drops a slash: /experimentsset-experiment-tag
    r = call("POST", uri + "/api/2.0/mlflow/experimentsset-experiment-tag", {"experiment_id": "0"})
    assert r.status_code == 404


def test_wrong_method_is_405(server):
    uri, _ = server
    for method, path in [("GET", "/api/2.0/mlflow/runs/create"),       # spec §6.1
                         ("POST", "/api/2.0/mlflow/runs/get"),
                         ("PUT", "/api/2.0/mlflow/runs/log-metric"),
                         ("DELETE", "/api/2.0/mlflow/experiments/create"),
                         ("POST", "/api/2.0/mlflow/registered-models/update"),  # PATCH only
                         ("GET", "/api/2.0/mlflow/model-versions/delete"),      # DELETE only
                         ("PATCH", "/api/2.0/mlflow/registered-models/alias"),  # GET/POST/DELETE
                         ("POST", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/x.txt"),
                         ("GET", "/ajax-api/2.0/mlflow/runs/log-batch")]:
        r = requests.request(method, uri + path, timeout=30,
                             **({"json": {}} if method != "GET" else {}))
        assert r.status_code == 405, (method, path, r.status_code, r.text[:300])
        assert not is_mlflow_error(r), (path, r.text[:300])


def test_content_types(server):
    uri, _ = server
    url = uri + "/api/2.0/mlflow/experiments/create"
    body = json.dumps({"name": "ct"}).encode()
    # no Content-Type at all (spec §2: 400 INVALID_PARAMETER_VALUE), and non-JSON types
    # (MLflow compares the part before ';' with "application/json" exactly: case matters)
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                  "application/jsonx", "text/json", "Application/JSON"):
        headers = {"Content-Type": ctype} if ctype else {}
        r = requests.post(url, data=body, headers=headers, timeout=30)
        if ctype is None:
            assert "Content-Type" not in r.request.headers
        assert r.status_code == 400, (ctype, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (ctype, r.text)
        assert r.json()["message"] == ("Bad Request. Content-Type header is missing." if ctype is None
                                       else "Bad Request. Content-Type must be one of "
                                            "['application/json']."), r.text
    # nothing was created by the refused requests
    r = requests.get(uri + "/api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "ct"}, timeout=30)
    assert r.status_code == 404, r.text
    # parameters after ';' do not matter
    for i, ctype in enumerate(("application/json; charset=utf-8", "application/json;charset=UTF-8")):
        r = requests.post(url, data=json.dumps({"name": f"ct{i}"}), headers={"Content-Type": ctype},
                          timeout=30)
        assert r.status_code == 200, (ctype, r.text)
        assert r.json()["experiment_id"].isdigit()
    # a JSON content type with a body that is not JSON counts as an empty message
    r = requests.post(url, data=b"name=ct", headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    assert MISSING in r.json()["message"] and "'name'" in r.json()["message"], r.text
    # GETs carry the message in the query string and need no Content-Type
    r = requests.get(uri + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, timeout=30)
    assert r.status_code == 200 and r.json()["experiment"]["name"] == "Default", r.text
    # replies are JSON, pretty-printed with a 2-space indent like MLflow's; errors are one line
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.text.startswith('{\n  "experiment": {\n    "'), r.text[:80]
    # artifact uploads are raw bodies of any type
    r = requests.put(uri + "/api/2.0/mlflow-artifacts/artifacts/0/ct/artifacts/a.bin",
                     data=b"\x00\x01raw", headers={"Content-Type": "image/png"}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(uri + "/api/2.0/mlflow-artifacts/artifacts/0/ct/artifacts/a.bin", timeout=30)
    assert r.status_code == 200 and r.content == b"\x00\x01raw"


def test_oversized_bodies_are_413(server):
    uri, port = server
    run = requests.post(uri + "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"},
                        timeout=30).json()["run"]["info"]["run_id"]
    # a body just under --max-body 1MiB is served: a log-parameter with a 1,000,000-character
    # value, which MLflow 2.12.2 silently truncates to 6000 characters (spec §10)
    small = json.dumps({"run_id": run, "key": "long", "value": "v" * 1_000_000})
    assert 1_000_000 < len(small) < 1 << 20
    r = requests.post(uri + "/api/2.0/mlflow/runs/log-parameter", data=small,
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    got = requests.get(uri + "/api/2.0/mlflow/runs/get", params={"run_id": run},
                       timeout=30).json()["run"]["data"]["params"]
    assert got == [{"key": "long", "value": "v" * 6000}], [(p["key"], len(p["value"])) for p in got]
    # ...and one over it is refused with 413 before any handler sees it
    big = json.dumps({"run_id": run, "tags": [{"key": "t", "value": "x" * (1 << 20)}]})
    r = requests.post(uri + "/api/2.0/mlflow/runs/log-batch", data=big,
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    tags = requests.get(uri + "/api/2.0/mlflow/runs/get", params={"run_id": run},
                        timeout=30).json()["run"]["data"].get("tags", [])
    assert "t" not in {t["key"] for t in tags}
    # a Content-Length that announces too much is refused at once, without waiting for the body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{")
        t0 = time.time()
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
        assert time.time() - t0 < 5
    # the server is still fine
    r = requests.get(uri + "/api/2.0/mlflow/runs/get", params={"run_id": run}, timeout=30)
    assert r.status_code == 200


def test_every_route_under_ajax_api(server):
    uri, _ = server
    for method, path in ROUTES:
        answers = []
        for prefix in ("/api/2.0", "/ajax-api/2.0"):
            p = path.replace("{prefix}", prefix.strip("/").replace("/", "_"))
            kw = {}
            if method in ("POST", "PATCH", "DELETE"):
                kw["json"] = {}
            elif method == "PUT":
                kw["data"] = b"ajax"
            r = requests.request(method, uri + prefix + p, timeout=30, **kw)
            assert r.status_code not in (404, 405) or is_mlflow_error(r), \
                (method, prefix + p, r.status_code, r.text[:300])
            answers.append((r.status_code, r.json() if is_mlflow_error(r) else None))
        assert answers[0] == answers[1], (method, path, answers)
        required = REQUIRES.get(path, "-")
        if required != "-":
            status, err = answers[0]
            assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", (path, answers)
            assert MISSING in err["message"], (path, err)
            if required:
                assert f"'{required}'" in err["message"], (path, err)
    # the two copies share one state: write through one, read through the other
    r = requests.post(uri + "/ajax-api/2.0/mlflow/experiments/create", json={"name": "via-ajax"},
                      timeout=30)
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    r = requests.get(uri + "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id},
                     timeout=30)
    assert r.status_code == 200 and r.json()["experiment"]["name"] == "via-ajax", r.text
    r = requests.get(uri + "/ajax-api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "via-ajax"}, timeout=30)
    assert r.json()["experiment"]["experiment_id"] == exp_id, r.text
    for prefix in ("api", "ajax-api"):
        r = requests.get(f"{uri}/{prefix}/2.0/mlflow-artifacts/artifacts/0/ajaxcheck/artifacts/"
                         f"{prefix}_2.0.txt", timeout=30)
        assert r.status_code == 200 and r.content == b"ajax", (prefix, r.status_code, r.text[:200])
