"""The reference flow of issue 3 end to end, against a live `edgeflow server`, with real clients.

What the MLflow Python client does for a notebook that trains and registers a scikit-learn model
(shared/specs/mlflow-api.md §7, captured from MLflow 2.12.2), call by call and in that order:
every call the npm `mlflow` client (2.0.7, tests/node_modules) has goes through it
(mlflow_flow.mjs, a line-protocol bridge to the client), the rest through Python requests with the
exact requests the Python client sends (run_uuid + run_id, max_results=10000/25000, the artifact
proxy). Every response is asserted: statuses, shapes (spec §11: field names, omitted unset
fields, enums as names, int64 as numbers, ids as strings) and values.

The same flow runs on both backends ("both pass the same API test suite"): the default SQLite
database in $EDGEFLOW_HOME, and PostgreSQL (`--backend-store-uri postgresql://...`) on a
throwaway cluster (pgcluster.py). After the flow, the backend's own tables are checked, so a
server that silently used another database would fail.
"""
import json
import os
import random
import re
import select
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import free_port
from pgcluster import PgCluster

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
FLOW_JS = os.path.join(HERE, "mlflow_flow.mjs")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
EXPERIMENT = "wine-quality-elasticnet"
MODEL = "wine-elasticnet"
RUN_NAME = "elasticnet-a0.5-l0.5"
FILTER = "metrics.rmse < 0.8 and params.alpha = '0.5'"
# the metrics of the notebook's run (spec §7, rows 8-10)
RMSE, MAE, R2 = 0.7436470886830184, 0.60427617171513, 0.10601910784464108


# --- the server and its backend ---------------------------------------------------------------
class Backend:
    """Where the tracking server keeps its state; rows() reads it behind the server's back."""

    def __init__(self, kind, ws):
        self.kind = kind
        self.pg = None
        self.args = []
        if kind == "postgresql":
            if not PgCluster.available():
                pytest.skip("PostgreSQL server binaries are not installed")
            self.pg = PgCluster()
            self.args = ["--backend-store-uri", self.pg.uri]
        self.sqlite_path = os.path.join(ws.path, "home", "tracking.db")

    def scalar(self, sql):
        if self.pg:
            return self.pg.scalar(sql)
        con = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql).fetchone()[0]
        finally:
            con.close()

    def close(self):
        if self.pg:
            self.pg.stop()


def start_server(ws, backend, *extra):
    port = free_port()
    proc = ws.edgeflow("server", "--port", port, *backend.args, *extra, name="server")
    proc.wait_log("listening on", timeout=30)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, ws):
    b = Backend(request.param, ws)
    yield b
    b.close()


# --- the npm client -------------------------------------------------------------------------------
class NpmError(Exception):
    def __init__(self, answer):
        super().__init__(json.dumps(answer))
        self.status = answer.get("status")
        self.data = answer.get("data")


class NpmMlflow:
    """The npm `mlflow` client behind mlflow_flow.mjs; call("Runs.get", run_id=...) returns the
    client's parsed response or raises NpmError (HTTP status + MLflow error body)."""

    def __init__(self, ws, uri):
        if not os.path.isdir(os.path.join(TESTS, "node_modules", "mlflow")):
            pytest.fail("npm package mlflow missing: run `npm ci` in tests/ (scripts/install-deps.sh)")
        self.log = open(os.path.join(ws.path, "npm-client.log"), "ab")
        self.p = subprocess.Popen(["node", FLOW_JS, uri], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log, cwd=HERE)
        self.next_id = 0
        self.calls = []

    def call(self, name, /, **args):
        timeout = 60
        self.next_id += 1
        self.calls.append(name)
        self.p.stdin.write((json.dumps({"id": self.next_id, "call": name, "args": args}) + "\n").encode())
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert ready, f"npm client: no answer to {name} within {timeout}s"
        line = self.p.stdout.readline()
        assert line, f"npm client exited (rc {self.p.poll()}) during {name}"
        answer = json.loads(line)
        assert answer["id"] == self.next_id
        if answer.get("error"):
            raise AssertionError(f"npm client could not make {name}: {answer['error']}")
        if not answer["ok"]:
            raise NpmError(answer)
        return answer["data"]

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(10)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.log.close()


# --- Python requests, the way the MLflow Python client sends them ---------------------------------
class Rest:
    def __init__(self, uri, prefix="/api/2.0"):
        self.base = uri + prefix
        self.uri = uri
        self.s = requests.Session()

    def _check(self, r, status):
        assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text[:2000]}"
        if r.headers.get("Content-Type", "").startswith("application/json"):
            return r.json()
        return r

    def get(self, path, params=None, status=200):
        return self._check(self.s.get(self.base + path, params=params, timeout=60), status)

    def post(self, path, body, status=200):
        return self._check(self.s.post(self.base + path, json=body, timeout=60), status)

    def close(self):
        self.s.close()


def assert_error(body, code, message=None):
    assert isinstance(body, dict), body
    assert body.get("error_code") == code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    if message:
        assert message in body["message"], body


def npm_error(fn, status, code):
    with pytest.raises(NpmError) as ei:
        fn()
    assert ei.value.status == status, (ei.value.status, ei.value.data)
    assert_error(ei.value.data, code)
    return ei.value.data


# --- the model directory the notebook uploads -------------------------------------------------------
def model_files(run_id):
    """The 10 files of an sklearn model dir (spec §7 rows 13-22) with realistic content; the pickle
    is binary (every byte value, NULs, high bytes) so a text-mangling server would be caught."""
    rng = random.Random(20261122)
    mlmodel = (
        "artifact_path: model\nflavors:\n  python_function:\n    env:\n      conda: conda.yaml\n"
        "      virtualenv: python_env.yaml\n    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n    predict_fn: predict\n    python_version: 3.11.2\n"
        "  sklearn:\n    code: null\n    pickled_model: model.pkl\n    serialization_format: "
        "cloudpickle\n    sklearn_version: 1.2.1\nmlflow_version: 2.12.2\nmodel_size_bytes: 859\n"
        f"model_uuid: {rng.getrandbits(128):032x}\nrun_id: {run_id}\n"
        "saved_input_example_info:\n  artifact_path: input_example.json\n  pandas_orient: split\n"
        "  type: dataframe\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"fixed acidity\","
        " \"required\": true}]'\n  outputs: '[{\"type\": \"tensor\"}]'\n"
        "utc_time_created: '2026-11-22 13:09:00.000000'\n").encode()
    pkl = bytes(range(256)) + rng.randbytes(603)
    conda = (b"channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip<=23.0.1\n- pip:\n"
             b"  - mlflow==2.12.2\n  - cloudpickle==2.2.0\n  - scikit-learn==1.2.1\nname: mlflow-env\n")
    pyenv = b"python: 3.11.2\nbuild_dependencies:\n- pip==23.0.1\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n"
    reqs = b"mlflow==2.12.2\ncloudpickle==2.2.0\nscikit-learn==1.2.1\n"
    example = json.dumps({"columns": ["fixed acidity", "volatile acidity", "alcohol"],
                          "data": [[7.4, 0.7, 9.4], [7.8, 0.88, 9.8], [11.2, 0.28, 9.8]]}).encode()
    files = {
        "requirements.txt": reqs, "MLmodel": mlmodel, "python_env.yaml": pyenv,
        "conda.yaml": conda, "input_example.json": example, "model.pkl": pkl,
        "metadata/requirements.txt": reqs, "metadata/MLmodel": mlmodel,
        "metadata/python_env.yaml": pyenv, "metadata/conda.yaml": conda,
    }
    assert len(files) == 10
    return files


def check_experiment(e, exp_id, name):
    assert e["experiment_id"] == exp_id and e["name"] == name, e
    assert e["artifact_location"] == f"mlflow-artifacts:/{exp_id}", e
    assert e["lifecycle_stage"] == "active", e
    for k in ("creation_time", "last_update_time"):
        assert isinstance(e[k], int) and abs(e[k] - time.time() * 1000) < 600_000, e


def check_run_info(info, run_id, exp_id, status="RUNNING"):
    assert info["run_id"] == run_id and info["run_uuid"] == run_id, info
    assert HEX32.match(run_id), info
    assert info["experiment_id"] == exp_id, info
    assert info["status"] == status, info
    assert info["lifecycle_stage"] == "active", info
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts", info
    assert isinstance(info["start_time"], int), info


def kv(items):
    return {i["key"]: i["value"] for i in items or []}


def check_model_version(mv, version, stage, run_id, source):
    assert mv["name"] == MODEL and mv["version"] == str(version), mv
    assert mv["current_stage"] == stage, mv
    assert mv["status"] == "READY", mv
    assert mv["source"] == source and mv["run_id"] == run_id, mv
    for k in ("creation_timestamp", "last_updated_timestamp"):
        assert isinstance(mv[k], int), mv


def new_run(npm, exp_id, name, alpha, rmse_points, start_time):
    """A run of the same experiment logged by the npm client (distractors for the search)."""
    run = npm.call("Runs.create", experiment_id=exp_id, user_id="root", start_time=start_time,
                   tags=[{"key": "mlflow.runName", "value": name}])["run"]
    rid = run["info"]["run_id"]
    npm.call("Runs.logParameter", run_id=rid, key="alpha", value=alpha)
    npm.call("Runs.logBatch", run_id=rid, metrics=[
        {"key": "rmse", "value": v, "timestamp": start_time + i, "step": step}
        for i, (step, v) in enumerate(rmse_points)], params=[], tags=[])
    return rid


# --- the flow ---------------------------------------------------------------------------------------
def test_reference_flow(ws, backend):
    server, uri = start_server(ws, backend)
    npm = NpmMlflow(ws, uri)
    rest = Rest(uri)
    try:
        run_flow(ws, backend, npm, rest)
    finally:
        npm.close()
        rest.close()
    assert server.stop() == 0, server.output()[-3000:]


def run_flow(ws, backend, npm, rest):
    # 1-3: get-by-name (404) -> create -> get-by-name
    body = rest.get("/mlflow/experiments/get-by-name", {"experiment_name": EXPERIMENT}, status=404)
    assert_error(body, "RESOURCE_DOES_NOT_EXIST")
    exp_id = npm.call("Experiments.create", name=EXPERIMENT)["experiment_id"]
    assert exp_id == "1", exp_id  # "0" is Default; ids count up from 1 like MLflow's SQL store
    exp = rest.get("/mlflow/experiments/get-by-name", {"experiment_name": EXPERIMENT})["experiment"]
    check_experiment(exp, exp_id, EXPERIMENT)
    assert npm.call("Experiments.get", experiment_id=exp_id)["experiment"] == exp
    default = npm.call("Experiments.get", experiment_id="0")["experiment"]
    assert default["name"] == "Default" and default["lifecycle_stage"] == "active", default
    npm_error(lambda: npm.call("Experiments.create", name=EXPERIMENT), 400, "RESOURCE_ALREADY_EXISTS")

    # 4: start_run (the Python client's system tags; the npm client has no run_name field, so the
    # name comes from mlflow.runName as MLflow does)
    t0 = int(time.time() * 1000)
    sys_tags = {"mlflow.user": "root", "mlflow.source.name": "notebook_flow.py",
                "mlflow.source.type": "LOCAL", "mlflow.runName": RUN_NAME}
    run = npm.call("Runs.create", experiment_id=exp_id, user_id="root", start_time=t0,
                   tags=[{"key": k, "value": v} for k, v in sys_tags.items()])["run"]
    run_id = run["info"]["run_id"]
    check_run_info(run["info"], run_id, exp_id)
    assert run["info"]["start_time"] == t0 and run["info"]["user_id"] == "root", run
    assert run["info"]["run_name"] == RUN_NAME, run
    assert "end_time" not in run["info"], run
    assert kv(run["data"].get("tags")) == sys_tags, run
    assert not run["data"].get("metrics") and not run["data"].get("params"), run

    # 5: set_tags -> log-batch with tags only
    assert npm.call("Runs.logBatch", run_id=run_id, metrics=[], params=[],
                    tags=[{"key": "project", "value": "edge-ml"},
                          {"key": "dataset", "value": "winequality-red"}]) == {}
    # 6-7: log_param x2; the same value again is fine, a different one is refused like MLflow
    assert npm.call("Runs.logParameter", run_id=run_id, key="alpha", value="0.5") == {}
    assert npm.call("Runs.logParameter", run_id=run_id, key="l1_ratio", value="0.5") == {}
    assert npm.call("Runs.logParameter", run_id=run_id, key="alpha", value="0.5") == {}
    npm_error(lambda: npm.call("Runs.logParameter", run_id=run_id, key="alpha", value="0.7"),
              400, "INVALID_PARAMETER_VALUE")
    # 8-10: log_metric x3 with client-side timestamps, step 0
    stamps = {}
    for key, value in (("rmse", RMSE), ("mae", MAE), ("r2", R2)):
        stamps[key] = int(time.time() * 1000)
        assert npm.call("Runs.logMetric", run_id=run_id, key=key, value=value,
                        timestamp=stamps[key], step=0) == {}
    npm_error(lambda: npm.call("Runs.logMetric", run_id="0" * 32, key="rmse", value=1.0,
                               timestamp=t0, step=0), 404, "RESOURCE_DOES_NOT_EXIST")

    # 11: runs/get, as the Python client asks (run_uuid + run_id) and as the npm client asks
    got = rest.get("/mlflow/runs/get", {"run_uuid": run_id, "run_id": run_id})["run"]
    assert npm.call("Runs.get", run_id=run_id)["run"] == got
    check_run_info(got["info"], run_id, exp_id)
    metrics = {m["key"]: m for m in got["data"]["metrics"]}
    assert set(metrics) == {"rmse", "mae", "r2"}, got
    for key, value in (("rmse", RMSE), ("mae", MAE), ("r2", R2)):
        assert metrics[key] == {"key": key, "value": value, "timestamp": stamps[key], "step": 0}
    assert kv(got["data"]["params"]) == {"alpha": "0.5", "l1_ratio": "0.5"}, got
    assert kv(got["data"]["tags"]) == {**sys_tags, "project": "edge-ml",
                                       "dataset": "winequality-red"}, got

    # 12-22: log_artifact + the 10 model files through the artifact proxy (raw PUT bodies)
    art = f"{rest.uri}/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts"
    csv = b"fixed acidity,volatile acidity,alcohol,quality,prediction\n" + b"".join(
        b"7.%d,0.%d,9.%d,5,5.%d\n" % (i, i, i, i) for i in range(20))
    r = rest.s.put(f"{art}/predictions_head.csv", data=csv, timeout=60)
    assert r.status_code == 200, r.text
    files = model_files(run_id)
    for rel, data in files.items():
        headers = {"Content-Type": "application/octet-stream"} if rel == "model.pkl" else {}
        r = rest.s.put(f"{art}/model/{rel}", data=data, headers=headers, timeout=60)
        assert r.status_code == 200, (rel, r.status_code, r.text)
    # where --artifacts-destination ($EDGEFLOW_HOME/artifacts by default) keeps them
    on_disk = os.path.join(ws.path, "home", "artifacts", exp_id, run_id, "artifacts", "model", "model.pkl")
    with open(on_disk, "rb") as f:
        assert f.read() == files["model.pkl"]

    # 23: log-model; MLflow records it in the mlflow.log-model.history tag
    model_json = json.dumps({"run_id": run_id, "artifact_path": "model",
                             "utc_time_created": "2026-11-22 13:09:00.000000",
                             "flavors": {"sklearn": {"pickled_model": "model.pkl"}}})
    assert rest.post("/mlflow/runs/log-model", {"run_id": run_id, "model_json": model_json}) == {}
    bad = json.dumps({"run_id": run_id, "artifact_path": "model"})  # no flavors, utc_time_created
    assert_error(rest.post("/mlflow/runs/log-model", {"run_id": run_id, "model_json": bad}, status=400),
                 "INVALID_PARAMETER_VALUE")
    tags = kv(rest.get("/mlflow/runs/get", {"run_uuid": run_id, "run_id": run_id})["run"]["data"]["tags"])
    history = json.loads(tags["mlflow.log-model.history"])
    assert [(h["run_id"], h["artifact_path"]) for h in history] == [(run_id, "model")], history

    # 24-26: registered-models/create, runs/get, model-versions/create (READY at once)
    rm = rest.post("/mlflow/registered-models/create", {"name": MODEL})["registered_model"]
    assert rm["name"] == MODEL and isinstance(rm["creation_timestamp"], int), rm
    assert rm["last_updated_timestamp"] >= rm["creation_timestamp"], rm
    assert_error(rest.post("/mlflow/registered-models/create", {"name": MODEL}, status=400),
                 "RESOURCE_ALREADY_EXISTS")
    rest.get("/mlflow/runs/get", {"run_uuid": run_id, "run_id": run_id})
    source = f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts/model"
    mv = rest.post("/mlflow/model-versions/create",
                   {"name": MODEL, "source": source, "run_id": run_id})["model_version"]
    check_model_version(mv, 1, "None", run_id, source)

    # 27: end_run
    t_end = int(time.time() * 1000)
    info = npm.call("Runs.update", run_id=run_id, status="FINISHED", end_time=t_end)["run_info"]
    check_run_info(info, run_id, exp_id, status="FINISHED")
    assert info["end_time"] == t_end and info["run_name"] == RUN_NAME, info

    # 28: search_model_versions
    found = rest.get("/mlflow/model-versions/search",
                     {"filter": f"name='{MODEL}'", "max_results": 10000})["model_versions"]
    assert [(v["name"], v["version"], v["current_stage"]) for v in found] == [(MODEL, "1", "None")]

    # 29-30: Staging, then Production with archive_existing_versions
    mv = rest.post("/mlflow/model-versions/transition-stage",
                   {"name": MODEL, "version": "1", "stage": "Staging",
                    "archive_existing_versions": False})["model_version"]
    check_model_version(mv, 1, "Staging", run_id, source)
    mv = rest.post("/mlflow/model-versions/transition-stage",
                   {"name": MODEL, "version": "1", "stage": "Production",
                    "archive_existing_versions": True})["model_version"]
    check_model_version(mv, 1, "Production", run_id, source)

    # 31-33: set alias, get by alias, get-latest-versions
    assert rest.post("/mlflow/registered-models/alias",
                     {"name": MODEL, "alias": "champion", "version": "1"}) == {}
    mv = rest.get("/mlflow/registered-models/alias", {"name": MODEL, "alias": "champion"})["model_version"]
    check_model_version(mv, 1, "Production", run_id, source)
    assert mv["aliases"] == ["champion"], mv
    latest = rest.post("/mlflow/registered-models/get-latest-versions",
                       {"name": MODEL, "stages": ["Production"]})["model_versions"]
    assert [(v["version"], v["current_stage"]) for v in latest] == [("1", "Production")], latest
    rm = rest.get("/mlflow/registered-models/get", {"name": MODEL})["registered_model"]
    assert rm["aliases"] == [{"alias": "champion", "version": "1"}], rm

    # archive_existing_versions with something to archive: version 2 replaces 1 in Production
    mv2 = rest.post("/mlflow/model-versions/create",
                    {"name": MODEL, "source": source, "run_id": run_id})["model_version"]
    check_model_version(mv2, 2, "None", run_id, source)
    rest.post("/mlflow/model-versions/transition-stage",
              {"name": MODEL, "version": "2", "stage": "Staging", "archive_existing_versions": True})
    v1 = rest.get("/mlflow/model-versions/get", {"name": MODEL, "version": "1"})["model_version"]
    assert v1["current_stage"] == "Production", v1  # only versions in the target stage are archived
    mv2 = rest.post("/mlflow/model-versions/transition-stage",
                    {"name": MODEL, "version": "2", "stage": "Production",
                     "archive_existing_versions": True})["model_version"]
    assert mv2["current_stage"] == "Production", mv2
    v1 = rest.get("/mlflow/model-versions/get", {"name": MODEL, "version": "1"})["model_version"]
    assert v1["current_stage"] == "Archived", v1
    latest = rest.post("/mlflow/registered-models/get-latest-versions",
                       {"name": MODEL, "stages": ["Production"]})["model_versions"]
    assert [(v["version"], v["current_stage"]) for v in latest] == [("2", "Production")], latest
    latest = rest.get("/mlflow/registered-models/get-latest-versions", {"name": MODEL})["model_versions"]
    assert sorted((v["version"], v["current_stage"]) for v in latest) == [("1", "Archived"),
                                                                          ("2", "Production")]
    mv = rest.get("/mlflow/registered-models/alias", {"name": MODEL, "alias": "champion"})["model_version"]
    assert (mv["version"], mv["current_stage"]) == ("1", "Archived"), mv  # the alias stays on 1

    # 34: search_runs with the notebook's filter, against runs that must not match
    base = int(time.time() * 1000)
    wrong_alpha = new_run(npm, exp_id, "alpha-0.3", "0.3", [(0, 0.6)], base + 1)
    high_rmse = new_run(npm, exp_id, "rmse-0.85", "0.5", [(0, 0.85)], base + 2)
    latest_high = new_run(npm, exp_id, "rmse-was-low", "0.5", [(0, 0.7), (1, 0.95)], base + 3)
    string_alpha = new_run(npm, exp_id, "alpha-0.50", "0.50", [(0, 0.5)], base + 4)
    deleted = new_run(npm, exp_id, "deleted", "0.5", [(0, 0.1)], base + 5)
    assert npm.call("Runs.delete", run_id=deleted) == {}
    other_exp = npm.call("Experiments.create", name="other")["experiment_id"]
    elsewhere = new_run(npm, other_exp, "elsewhere", "0.5", [(0, 0.1)], base + 6)
    res = npm.call("Runs.search", experiment_ids=[exp_id], filter=FILTER, run_view_type="ACTIVE_ONLY",
                   max_results=10000)
    assert [r["info"]["run_id"] for r in res["runs"]] == [run_id], res
    assert "next_page_token" not in res, res
    found = res["runs"][0]
    assert found["info"]["status"] == "FINISHED" and kv(found["data"]["params"])["alpha"] == "0.5"
    assert {m["key"]: m["value"] for m in found["data"]["metrics"]}["rmse"] == RMSE
    body = {"experiment_ids": [exp_id], "run_view_type": "ACTIVE_ONLY", "filter": FILTER,
            "max_results": 10000}
    assert rest.post("/mlflow/runs/search", body)["runs"] == res["runs"]
    both = npm.call("Runs.search", experiment_ids=[exp_id, other_exp], filter=FILTER,
                    run_view_type="ALL", max_results=100)
    assert sorted(r["info"]["run_id"] for r in both["runs"]) == sorted([run_id, deleted, elsewhere])
    del wrong_alpha, high_rmse, latest_high, string_alpha

    # 35: get_metric_history (max_results=25000 and the client's paging token loop)
    hist = rest.get("/mlflow/metrics/get-history",
                    {"run_uuid": run_id, "metric_key": "rmse", "run_id": run_id, "max_results": 25000})
    assert hist["metrics"] == [{"key": "rmse", "value": RMSE, "timestamp": stamps["rmse"], "step": 0}]
    assert "next_page_token" not in hist, hist
    assert npm.call("Metrics.getHistory", run_id=run_id, metric_key="rmse")["metrics"] == hist["metrics"]
    # a training curve of 3000 points in 3 log-batch calls of 1000 (MLflow's batch limit)
    curve = [{"key": "loss", "value": 1.0 / (1 + s), "timestamp": base + s, "step": s}
             for s in range(3000)]
    random.Random(7).shuffle(curve)  # the history is ordered by the server, not by arrival
    for i in range(0, 3000, 1000):
        assert npm.call("Runs.logBatch", run_id=run_id, metrics=curve[i:i + 1000], params=[], tags=[]) == {}
    pts = []
    token = None
    while True:
        q = {"run_uuid": run_id, "metric_key": "loss", "run_id": run_id, "max_results": 25000}
        if token:
            q["page_token"] = token
        page = rest.get("/mlflow/metrics/get-history", q)
        pts += page["metrics"]
        token = page.get("next_page_token")
        if not token:
            break
    assert sorted((p["step"], p["timestamp"], p["value"]) for p in pts) == \
        [(s, base + s, 1.0 / (1 + s)) for s in range(3000)]
    assert all(p["key"] == "loss" for p in pts)
    with pytest.raises(NpmError) as ei:  # removed in MLflow 2.0: the npm client's list() gets 404
        npm.call("Experiments.list")
    assert ei.value.status == 404

    # 36-50: load_model_by_alias: alias -> download uri -> listings -> file GETs, byte-identical
    mv = rest.get("/mlflow/registered-models/alias", {"name": MODEL, "alias": "champion"})["model_version"]
    dl = rest.get("/mlflow/model-versions/get-download-uri",
                  {"name": MODEL, "version": mv["version"]})["artifact_uri"]
    assert dl == source, dl
    prefix = dl[len("mlflow-artifacts:/"):]
    fetched = download_tree(rest, prefix)
    assert fetched == files, sorted(fetched)
    top = npm.call("Artifacts.list", run_id=run_id)
    assert top["root_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts", top
    assert {(f["path"], f["is_dir"]) for f in top["files"]} == {("predictions_head.csv", False),
                                                               ("model", True)}, top
    assert {f["path"]: f.get("file_size") for f in top["files"]}["predictions_head.csv"] == len(csv)
    sub = npm.call("Artifacts.list", run_id=run_id, path="model")
    assert {f["path"] for f in sub["files"]} == {
        "model/" + p for p in files if "/" not in p} | {"model/metadata"}, sub
    for f in sub["files"]:
        if not f["is_dir"]:
            assert f["file_size"] == len(files[f["path"][len("model/"):]]), f
    r = rest.s.get(f"{art}/predictions_head.csv", timeout=60)
    assert r.status_code == 200 and r.content == csv

    # the backend really holds it (not some other database)
    assert int(backend.scalar(f"SELECT count(*) FROM runs WHERE run_uuid = '{run_id}'")) == 1
    assert int(backend.scalar(f"SELECT count(*) FROM metrics WHERE run_uuid = '{run_id}'")) == 3003
    assert int(backend.scalar(f"SELECT count(*) FROM model_versions WHERE name = '{MODEL}'")) == 2


def download_tree(rest, prefix):
    """Lists prefix recursively through GET /api/2.0/mlflow-artifacts/artifacts?path= and GETs
    every file, like mlflow.pyfunc.load_model; returns {relative path: bytes}."""
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        path = f"{prefix}/{rel}" if rel else prefix
        listing = rest.get("/mlflow-artifacts/artifacts", {"path": path})
        assert listing.get("files"), (path, listing)
        for f in listing["files"]:
            assert "/" not in f["path"], f  # the proxy lists base names
            child = f"{rel}/{f['path']}" if rel else f["path"]
            if f["is_dir"]:
                assert "file_size" not in f, f
                stack.append(child)
                continue
            r = rest.s.get(f"{rest.base}/mlflow-artifacts/artifacts/{prefix}/{child}", timeout=60)
            assert r.status_code == 200, (child, r.status_code, r.text[:500])
            assert f["file_size"] == len(r.content), (f, len(r.content))
            out[child] = r.content
    return out
