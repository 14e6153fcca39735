"""The artifact proxy of `edgeflow server` (/api/2.0/mlflow-artifacts/...) and the run artifact
listing (/api/2.0/mlflow/artifacts/list), driven over real HTTP: upload, download, listing and
deletion as MLflow 2.12.2 answers them; path traversal in every spelling (plain, percent-encoded,
double-encoded, backslashes, absolute, symlinks planted under the root) refused with 400
INVALID_PARAMETER_VALUE and nothing written outside the root; oversized bodies 413; multipart
501; and the optional auth (basic with argon2id hashes from --hash-password, bearer tokens)
answering 401 with WWW-Authenticate.

Every test runs on both backends of the tracking server: the default SQLite database in
$EDGEFLOW_HOME, and PostgreSQL (`--backend-store-uri postgresql://...`) on one throwaway cluster
per module (pgcluster.py) with a fresh database per test; the artifacts stay in the default
folder ($EDGEFLOW_HOME/artifacts) either way.

Raw requests go through http.client so that no client library squashes "../" before it reaches
the server."""
import base64
import json
import os

import pytest
import requests

from conftest import EdgeflowServer
from trkbackend import backend, pg_cluster  # noqa: F401  (pytest fixtures)

ART = "/api/2.0/mlflow-artifacts/artifacts"


class Server(EdgeflowServer):
    def __init__(self, ws, backend, *extra, name="server", env=None):
        super().__init__(ws, *backend.args, *extra, name=name, env=env)
        self.dest = os.path.join(ws.path, "home", "artifacts")


@pytest.fixture
def server(ws, backend):
    s = Server(ws, backend)
    yield s
    s.close()


def error_code(body):
    return json.loads(body)["error_code"]


def test_upload_download_list_delete(server):
    files = {
        "1/r1/artifacts/model/MLmodel": b"artifact_path: model\nflavors: {}\n",
        "1/r1/artifacts/model/model.pkl": bytes(range(256)) * 40,
        "1/r1/artifacts/model/metadata/conda.yaml": b"name: x\n",
        "1/r1/artifacts/predictions_head.csv": b"a,b\n1,2\n",
        "1/r1/artifacts/input_example.json": b'{"x": 1}',
    }
    for path, data in files.items():
        r = requests.put(f"{server.url}{ART}/{path}", data=data, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {}
        with open(os.path.join(server.dest, path), "rb") as f:
            assert f.read() == data

    types = {"MLmodel": "text/plain", "model.pkl": "application/octet-stream",
             "conda.yaml": "text/plain", "predictions_head.csv": "text/plain",
             "input_example.json": "text/plain"}
    for path, data in files.items():
        r = requests.get(f"{server.url}{ART}/{path}", timeout=10)
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["Content-Type"] == types[path.rsplit("/", 1)[1]]
        assert r.headers["Content-Disposition"] == "attachment; filename=" + path.rsplit("/", 1)[1]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    # the same route under /ajax-api
    r = requests.get(f"{server.url}/ajax-api/2.0/mlflow-artifacts/artifacts/"
                     "1/r1/artifacts/model/MLmodel", timeout=10)
    assert r.content == files["1/r1/artifacts/model/MLmodel"]

    r = requests.get(f"{server.url}{ART}", params={"path": "1/r1/artifacts/model"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"files": [
        {"path": "MLmodel", "is_dir": False, "file_size": 33},
        {"path": "metadata", "is_dir": True},
        {"path": "model.pkl", "is_dir": False, "file_size": 10240},
    ]}
    r = requests.get(f"{server.url}{ART}", timeout=10)
    assert r.json() == {"files": [{"path": "1", "is_dir": True}]}
    r = requests.get(f"{server.url}{ART}", params={"path": "no/such/dir"}, timeout=10)
    assert (r.status_code, r.json()) == (200, {})

    # a missing file answers 500 INTERNAL_ERROR, like MLflow 2.12.2
    r = requests.get(f"{server.url}{ART}/0/none/file.txt", timeout=10)
    assert r.status_code == 500
    assert r.json()["error_code"] == "INTERNAL_ERROR"

    r = requests.delete(f"{server.url}{ART}/1/r1/artifacts/model", timeout=10)
    assert r.status_code == 200
    assert not os.path.exists(os.path.join(server.dest, "1/r1/artifacts/model"))
    r = requests.delete(f"{server.url}{ART}/1/r1/artifacts/predictions_head.csv", timeout=10)
    assert r.status_code == 200
    r = requests.get(f"{server.url}{ART}", params={"path": "1/r1/artifacts"}, timeout=10)
    assert [f["path"] for f in r.json()["files"]] == ["input_example.json"]


def test_run_artifact_listing(server, backend):
    api = server.url + "/api/2.0/mlflow"
    r = requests.post(api + "/runs/create", json={"experiment_id": "0", "start_time": 1},
                      timeout=10)
    if r.status_code != 200:
        pytest.skip(f"runs/create not available yet: {r.status_code} {r.text[:200]}")
    info = r.json()["run"]["info"]
    run_id, root = info["run_id"], info["artifact_uri"]
    assert root == f"mlflow-artifacts:/0/{run_id}/artifacts"
    assert backend.scalar(f"SELECT count(*) FROM runs WHERE run_uuid = '{run_id}' "
                          f"AND artifact_uri = '{root}'") == 1
    for name in ("model/MLmodel", "model/metadata/MLmodel", "metrics.csv"):
        r = requests.put(f"{server.url}{ART}/0/{run_id}/artifacts/{name}", data=b"x", timeout=10)
        assert r.status_code == 200

    r = requests.get(api + "/artifacts/list", params={"run_id": run_id}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"root_uri": root, "files": [
        {"path": "metrics.csv", "is_dir": False, "file_size": 1},
        {"path": "model", "is_dir": True},
    ]}
    r = requests.get(api + "/artifacts/list", params={"run_uuid": run_id, "path": "model"},
                     timeout=10)
    assert [f["path"] for f in r.json()["files"]] == ["model/MLmodel", "model/metadata"]
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id, "path": "nothing"},
                     timeout=10)
    assert r.json() == {"root_uri": root}
    r = requests.get(api + "/artifacts/list", params={"run_id": "f" * 32}, timeout=10)
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id, "path": "../.."},
                     timeout=10)
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


TRAVERSALS = [
    "..%2F..%2Fetc%2Fx",               # the spec's probe (decoded once by the server)
    "../../escape.txt",
    "1/../../escape.txt",
    "1/%2e%2e/%2e%2e/escape.txt",
    "%2e%2e%2f%2e%2e%2fescape.txt",
    "%252e%252e%252fescape.txt",       # double-encoded
    "..%252f..%252fescape.txt",
    "a%5C..%5C..%5Cescape.txt",        # backslashes
    "a\\..\\..\\escape.txt",
    "%2Ftmp%2Fescape.txt",             # absolute
    "C:%2Fescape.txt",
    "file:%2F%2F%2Ftmp%2Fescape.txt",
    "a%23b",                           # '#'
    "a%0Ab",                           # control byte
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_refused(server, ws, path):
    for method, body in (("PUT", b"pwned"), ("GET", None), ("DELETE", None)):
        st, _, out = server.raw(method, f"{ART}/{path}", body=body)
        assert st == 400, (method, path, st, out[:200])
        assert error_code(out) == "INVALID_PARAMETER_VALUE"
        assert json.loads(out)["message"] == "Invalid path"
    st, _, out = server.raw("GET", f"{ART}?path={path}")
    assert (st, error_code(out)) == (400, "INVALID_PARAMETER_VALUE")
    st, _, out = server.raw("POST", f"/api/2.0/mlflow-artifacts/mpu/create/{path}",
                            body=b'{"path": "x"}', headers={"Content-Type": "application/json"})
    assert st == 400
    for root, _, names in os.walk(ws.path):
        assert "escape.txt" not in names and "x" not in names, root


def test_symlink_under_root_refused(server, ws):
    outside = os.path.join(ws.path, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write("secret")
    os.makedirs(server.dest, exist_ok=True)
    os.symlink(outside, os.path.join(server.dest, "evil"))
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(server.dest, "leak.txt"))

    for path in ("evil/secret.txt", "leak.txt"):
        st, _, out = server.raw("GET", f"{ART}/{path}")
        assert (st, error_code(out)) == (400, "INVALID_PARAMETER_VALUE"), out
    st, _, out = server.raw("PUT", f"{ART}/evil/planted.txt", body=b"x")
    assert (st, error_code(out)) == (400, "INVALID_PARAMETER_VALUE")
    st, _, out = server.raw("GET", f"{ART}?path=evil")
    assert (st, error_code(out)) == (400, "INVALID_PARAMETER_VALUE")
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    # deleting the link removes the link, never its target
    st, _, _ = server.raw("DELETE", f"{ART}/evil")
    assert st == 200
    assert os.path.exists(os.path.join(outside, "secret.txt"))
    assert not os.path.lexists(os.path.join(server.dest, "evil"))


def test_multipart_not_supported_on_a_folder(server):
    st, _, out = server.raw("POST", "/api/2.0/mlflow-artifacts/mpu/create/1/r/big.bin",
                            body=b'{"path": "big.bin", "num_parts": 3}',
                            headers={"Content-Type": "application/json"})
    assert (st, error_code(out)) == (501, "NOT_IMPLEMENTED")
    st, _, out = server.raw("POST", "/api/2.0/mlflow-artifacts/mpu/abort/1/r/big.bin",
                            body=b'{}', headers={"Content-Type": "application/json"})
    assert (st, error_code(out)) == (400, "INVALID_PARAMETER_VALUE")


def test_oversized_body(ws, backend):
    s = Server(ws, backend, "--max-body", "4096")
    try:
        r = requests.put(f"{s.url}{ART}/1/big.bin", data=b"x" * 8192, timeout=10)
        assert r.status_code == 413
        assert not os.path.exists(os.path.join(s.dest, "1", "big.bin"))
        r = requests.put(f"{s.url}{ART}/1/small.bin", data=b"x" * 4000, timeout=10)
        assert r.status_code == 200
    finally:
        assert s.stop() == 0


def hash_password(ws, password):
    r = ws.run("server", "--hash-password", input=password + "\n", check=True)
    h = r.stdout.strip()
    assert h.startswith("$argon2id$"), r.stdout
    return h


def test_auth_basic_and_bearer(ws, backend):
    users = os.path.join(ws.path, "users")
    tokens = os.path.join(ws.path, "tokens")
    with open(users, "w") as f:
        f.write(f"# users\nalice:{hash_password(ws, 'wonder land')}\n")
    with open(tokens, "w") as f:
        f.write("ci-token-0123456789\n")
    s = Server(ws, backend, "--auth-users", users, "--auth-tokens", tokens)
    try:
        url = f"{s.url}{ART}/1/r/a.txt"
        r = requests.put(url, data=b"hello", timeout=10)
        assert r.status_code == 401
        assert r.json()["error_code"] == "UNAUTHENTICATED"
        assert 'Basic realm="edgeflow"' in r.headers["WWW-Authenticate"]
        assert 'Bearer realm="edgeflow"' in r.headers["WWW-Authenticate"]
        assert not os.path.exists(os.path.join(s.dest, "1", "r", "a.txt"))
        r = requests.put(url, data=b"hello", auth=("alice", "wrong"), timeout=10)
        assert r.status_code == 401
        r = requests.put(url, data=b"hello", auth=("alice", "wonder land"), timeout=10)
        assert r.status_code == 200
        r = requests.get(url, auth=("alice", "wonder land"), timeout=10)
        assert (r.status_code, r.content) == (200, b"hello")
        r = requests.get(url, headers={"Authorization": "Bearer ci-token-0123456789"}, timeout=10)
        assert (r.status_code, r.content) == (200, b"hello")
        r = requests.get(url, headers={"Authorization": "Bearer ci-token-012345678"}, timeout=10)
        assert r.status_code == 401
        basic = base64.b64encode(b"bob:wonder land").decode()
        r = requests.get(url, headers={"Authorization": "Basic " + basic}, timeout=10)
        assert r.status_code == 401
        # the tracking API is behind the same gate; /health and /metrics stay open
        r = requests.get(s.url + "/api/2.0/mlflow/experiments/get",
                         params={"experiment_id": "0"}, timeout=10)
        assert r.status_code == 401
        assert requests.get(s.url + "/health", timeout=10).status_code == 200
        assert requests.get(s.url + "/metrics", timeout=10).status_code == 200
    finally:
        assert s.stop() == 0


def test_auth_protect_health(ws, backend):
    tokens = os.path.join(ws.path, "tokens")
    with open(tokens, "w") as f:
        f.write("t0k\n")
    s = Server(ws, backend, "--auth-tokens", tokens, "--auth-protect-health")
    try:
        r = requests.get(s.url + "/health", timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="edgeflow"'
        r = requests.get(s.url + "/health", headers={"Authorization": "Bearer t0k"}, timeout=10)
        assert r.status_code == 200
    finally:
        assert s.stop() == 0
