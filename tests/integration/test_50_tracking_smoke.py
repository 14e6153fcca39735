"""Smoke test of the MLflow tracking server inside `edgeflow server`: the default data dir
layout, experiment 0 "Default", create + get-by-name, MLflow's error shape (404, 400 with its
exact Content-Type texts), the same routes under /ajax-api, /version, the byte layout of replies
(pretty-printed with a 2-space indent like the real server), --no-tracking, MLflow's environment
variables, restart keeping data, and a clean exit on SIGTERM."""
import os

import pytest
import requests

from conftest import EdgeflowServer, free_port
from pgcluster import PgCluster


Server = EdgeflowServer


@pytest.fixture
def server(ws):
    s = Server(ws)
    yield s
    s.close()


def test_default_experiment_and_layout(ws, server):
    home = os.path.join(ws.path, "home")
    assert os.path.exists(os.path.join(home, "tracking.db"))
    assert os.path.isdir(os.path.join(home, "artifacts"))

    r = requests.get(server.url + "/api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "Default"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    exp = r.json()["experiment"]
    assert exp["experiment_id"] == "0"
    assert exp["name"] == "Default"
    assert exp["artifact_location"] == "mlflow-artifacts:/0"
    assert exp["lifecycle_stage"] == "active"
    # pretty-printed like MLflow's json.dumps(indent=2), int64 as numbers
    assert r.text.startswith('{\n  "experiment": {\n    "experiment_id": "0",\n')
    assert isinstance(exp["creation_time"], int)

    r = requests.get(server.url + "/version", timeout=10)
    assert (r.status_code, r.text) == (200, "2.12.2")
    assert r.headers["Content-Type"].startswith("text/html")
    # the store server's /health stays
    assert requests.get(server.url + "/health", timeout=10).status_code == 200


def test_create_and_get_by_name(server):
    base = server.url + "/api/2.0/mlflow"
    r = requests.get(base + "/experiments/get-by-name", params={"experiment_name": "smoke"},
                     timeout=10)
    assert r.status_code == 404
    assert r.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                        "message": "Could not find experiment with name 'smoke'"}
    # error bodies are one line, json.dumps' default separators
    assert r.text.startswith('{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ')

    r = requests.post(base + "/experiments/create", json={"name": "smoke"}, timeout=10)
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    assert exp_id.isdigit() and exp_id != "0"

    r = requests.get(base + "/experiments/get-by-name", params={"experiment_name": "smoke"},
                     timeout=10)
    assert r.status_code == 200
    exp = r.json()["experiment"]
    assert exp["experiment_id"] == exp_id
    assert exp["artifact_location"] == f"mlflow-artifacts:/{exp_id}"

    r = requests.post(base + "/experiments/create", json={"name": "smoke"}, timeout=10)
    assert r.status_code == 400
    assert r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"

    r = requests.post(base + "/experiments/create", json={}, timeout=10)
    assert r.status_code == 400
    assert r.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Missing value for required parameter 'name'. See the API docs for more "
                   "information about request parameters."}


def test_ajax_api_is_the_same(server):
    r = requests.post(server.url + "/ajax-api/2.0/mlflow/experiments/create",
                      json={"name": "via-ajax"}, timeout=10)
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    for prefix in ("/api/2.0", "/ajax-api/2.0"):
        r = requests.get(server.url + prefix + "/mlflow/experiments/get",
                         params={"experiment_id": exp_id}, timeout=10)
        assert r.status_code == 200
        assert r.json()["experiment"]["name"] == "via-ajax"
    r = requests.get(server.url + "/ajax-api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "missing"}, timeout=10)
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_content_type_errors(server):
    url = server.url + "/api/2.0/mlflow/experiments/create"
    # no Content-Type at all
    r = requests.post(url, data=b'{"name": "ct"}', headers={"Content-Type": None}, timeout=10)
    assert r.status_code == 400
    assert r.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                        "message": "Bad Request. Content-Type header is missing."}
    r = requests.post(url, data=b'{"name": "ct"}', headers={"Content-Type": "text/plain"},
                      timeout=10)
    assert r.status_code == 400
    assert r.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                        "message": "Bad Request. Content-Type must be one of "
                                   "['application/json']."}
    # parameters after ';' are fine
    r = requests.post(url, data=b'{"name": "ct"}',
                      headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10)
    assert r.status_code == 200, r.text
    # a body that is not JSON counts as empty
    r = requests.post(url, data=b"name=ct", headers={"Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 400
    assert "Missing value for required parameter 'name'" in r.json()["message"]


def test_unknown_routes(server):
    r = requests.get(server.url + "/api/2.0/mlflow/runs/does-not-exist", timeout=10)
    assert r.status_code == 404
    r = requests.get(server.url + "/api/2.0/mlflow/experiments/list", timeout=10)
    assert r.status_code == 404  # removed in MLflow 2
    r = requests.get(server.url + "/api/2.0/mlflow/experiments/create", timeout=10)
    assert r.status_code == 405


def test_restart_keeps_data_and_sigterm(ws):
    s = Server(ws, name="first")
    r = requests.post(s.url + "/api/2.0/mlflow/experiments/create", json={"name": "kept"},
                      timeout=10)
    exp_id = r.json()["experiment_id"]
    assert s.stop() == 0
    s = Server(ws, name="second")
    r = requests.get(s.url + "/api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "kept"}, timeout=10)
    assert r.status_code == 200 and r.json()["experiment"]["experiment_id"] == exp_id
    # the schema is not migrated twice and Default is not duplicated
    assert "migrated to version" not in s.proc.output()
    r = requests.get(s.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"},
                     timeout=10)
    assert r.json()["experiment"]["name"] == "Default"
    assert s.stop() == 0


def test_flags_and_mlflow_env(ws, tmp_path):
    db = tmp_path / "elsewhere.db"
    art = tmp_path / "art"
    s = Server(ws, "--backend-store-uri", f"sqlite:{db}", "--default-artifact-root",
               "file:///srv/artifacts", name="flags",
               env={"MLFLOW_ARTIFACTS_DESTINATION": str(art)})
    r = requests.post(s.url + "/api/2.0/mlflow/experiments/create", json={"name": "f"},
                      timeout=10)
    exp_id = r.json()["experiment_id"]
    r = requests.get(s.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id},
                     timeout=10)
    assert r.json()["experiment"]["artifact_location"] == f"file:///srv/artifacts/{exp_id}"
    assert db.exists()
    assert art.is_dir()
    assert not os.path.exists(os.path.join(ws.path, "home", "tracking.db"))
    assert s.stop() == 0


def test_no_tracking(ws):
    s = Server(ws, "--no-tracking", name="notrk")
    r = requests.get(s.url + "/api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "Default"}, timeout=10)
    assert r.status_code == 404
    assert requests.get(s.url + "/health", timeout=10).status_code == 200
    assert not os.path.exists(os.path.join(ws.path, "home", "tracking.db"))
    assert s.stop() == 0


def test_bad_backend_fails_cleanly(ws, tmp_path):
    r = ws.run("server", "--port", free_port(), "--backend-store-uri",
               f"sqlite:{tmp_path}/no/such/dir/t.db", timeout=30)
    assert r.returncode != 0
    assert "tracking" in (r.stdout + r.stderr)


def test_auth_flags(ws, tmp_path):
    r = ws.run("server", "--hash-password", input="s3cret\n", timeout=60, check=True)
    h = r.stdout.strip()
    assert h.startswith("$argon2id$")
    users = tmp_path / "users"
    users.write_text(f"alice:{h}\n")
    s = Server(ws, "--auth-users", str(users), name="auth")
    url = s.url + "/api/2.0/mlflow/experiments/get-by-name"
    params = {"experiment_name": "Default"}
    r = requests.get(url, params=params, timeout=10)
    assert r.status_code == 401
    assert "Basic" in r.headers.get("WWW-Authenticate", "")
    assert requests.get(url, params=params, auth=("alice", "wrong"), timeout=30).status_code == 401
    r = requests.get(url, params=params, auth=("alice", "s3cret"), timeout=30)
    assert r.status_code == 200 and r.json()["experiment"]["experiment_id"] == "0"
    assert requests.get(s.url + "/health", timeout=10).status_code == 200
    assert requests.get(s.url + "/version", timeout=10).status_code == 200
    assert s.stop() == 0


@pytest.mark.skipif(not PgCluster.available(), reason="PostgreSQL server binaries not installed")
def test_postgresql_backend(ws):
    with PgCluster() as pg:
        # two servers starting together on an empty database: the migration runs once
        a = Server(ws, "--backend-store-uri", pg.uri, name="pg-a", wait=False)
        b = Server(ws, "--backend-store-uri", pg.uri, name="pg-b", wait=False)
        a.proc.wait_log("listening on", timeout=60)
        b.proc.wait_log("listening on", timeout=60)
        assert (a.proc.output() + b.proc.output()).count("migrated to version 1") == 1
        assert pg.query("SELECT component, version FROM schema_migrations") == [["tracking", "1"]]
        r = requests.post(a.url + "/api/2.0/mlflow/experiments/create", json={"name": "pg"},
                          timeout=10)
        assert r.status_code == 200, r.text
        exp_id = r.json()["experiment_id"]
        assert exp_id != "0"
        r = requests.get(b.url + "/api/2.0/mlflow/experiments/get-by-name",
                         params={"experiment_name": "pg"}, timeout=10)
        assert r.json()["experiment"]["experiment_id"] == exp_id
        r = requests.get(b.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"},
                         timeout=10)
        assert r.json()["experiment"]["artifact_location"] == "mlflow-artifacts:/0"
        assert a.stop() == 0 and b.stop() == 0
        c = Server(ws, "--backend-store-uri", pg.uri, name="pg-c")
        assert pg.query("SELECT count(*) FROM experiments") == [["2"]]
        assert c.stop() == 0
