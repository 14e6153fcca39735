"""Tracking RPCs of `edgeflow server` (experiments, runs, metrics) against MLflow 2.12.2's
behaviour: happy paths and main errors with exact status/error_code, the search filter grammar
(spec §8), paging stability (§9), limits (§10), 8 concurrent log-batch clients, and durability of
acknowledged writes across SIGKILL.

Every test runs on both backends ("both pass the same API test suite"): the default SQLite
database in $EDGEFLOW_HOME, and PostgreSQL (`--backend-store-uri postgresql://...`) on one
throwaway cluster per module (pgcluster.py) with a fresh database per test. After each test the
backend's own tables are read behind the server's back, so a server that silently used another
database would fail.

Reference: shared/specs/mlflow-api.md §2, §3.1, §6.1, §8-§11.
"""
import threading
import time

import pytest
import requests

from conftest import free_port
from trkbackend import backend, pg_cluster  # noqa: F401  (pytest fixtures)

API = "/api/2.0/mlflow"


class Client:
    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def post(self, path, body):
        return self.s.post(self.base + API + path, json=body, timeout=30)

    def get(self, path, params=None):
        return self.s.get(self.base + API + path, params=params, timeout=30)

    def ok(self, method, path, body=None):
        r = self.post(path, body) if method == "POST" else self.get(path, body)
        assert r.status_code == 200, r.text
        return r.json()

    def err(self, method, path, body, status, code):
        r = self.post(path, body) if method == "POST" else self.get(path, body)
        assert r.status_code == status, r.text
        assert r.json()["error_code"] == code, r.text
        return r.json()["message"]

    def experiment(self, name):
        return self.ok("POST", "/experiments/create", {"name": name})["experiment_id"]

    def run(self, exp, **kw):
        body = {"experiment_id": exp, **kw}
        return self.ok("POST", "/runs/create", body)["run"]["info"]["run_id"]




def start_server(ws, port, backend, name="server"):
    proc = ws.edgeflow("server", "--port", port, *backend.args, name=name)
    proc.wait_log("listening on", timeout=30)
    return proc


@pytest.fixture
def client(ws, backend):
    port = free_port()
    proc = start_server(ws, port, backend)
    yield Client(f"http://127.0.0.1:{port}")
    assert proc.stop() == 0, proc.output()[-3000:]


def test_experiment_lifecycle(client):
    c = client
    msg = c.err("GET", "/experiments/get-by-name", {"experiment_name": "wine"}, 404,
                "RESOURCE_DOES_NOT_EXIST")
    assert msg == "Could not find experiment with name 'wine'"
    eid = c.experiment("wine")
    assert eid != "0"
    exp = c.ok("GET", "/experiments/get-by-name", {"experiment_name": "wine"})["experiment"]
    assert exp["experiment_id"] == eid and exp["name"] == "wine"
    assert exp["artifact_location"] == f"mlflow-artifacts:/{eid}"
    assert exp["lifecycle_stage"] == "active"
    assert exp["creation_time"] > 0 and exp["last_update_time"] >= exp["creation_time"]
    c.err("POST", "/experiments/create", {"name": "wine"}, 400, "RESOURCE_ALREADY_EXISTS")
    c.err("POST", "/experiments/create", {}, 400, "INVALID_PARAMETER_VALUE")
    c.err("GET", "/experiments/get", {"experiment_id": "12345"}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert c.ok("GET", "/experiments/get", {"experiment_id": "0"})["experiment"]["name"] == "Default"
    c.ok("POST", "/experiments/set-experiment-tag", {"experiment_id": eid, "key": "team",
                                                     "value": "edge"})
    tags = c.ok("GET", "/experiments/get", {"experiment_id": eid})["experiment"]["tags"]
    assert tags == [{"key": "team", "value": "edge"}]
    c.ok("POST", "/experiments/update", {"experiment_id": eid, "new_name": "wine2"})
    assert c.ok("GET", "/experiments/get", {"experiment_id": eid})["experiment"]["name"] == "wine2"
    # delete cascades to the runs; deleted names stay taken
    rid = c.run(eid)
    c.ok("POST", "/experiments/delete", {"experiment_id": eid})
    c.err("POST", "/experiments/delete", {"experiment_id": eid}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert c.ok("GET", "/runs/get", {"run_id": rid})["run"]["info"]["lifecycle_stage"] == "deleted"
    c.err("POST", "/experiments/create", {"name": "wine2"}, 400, "RESOURCE_ALREADY_EXISTS")
    c.err("POST", "/runs/create", {"experiment_id": eid}, 400, "INVALID_PARAMETER_VALUE")
    c.ok("POST", "/experiments/restore", {"experiment_id": eid})
    assert c.ok("GET", "/runs/get", {"run_id": rid})["run"]["info"]["lifecycle_stage"] == "active"
    # search: POST needs max_results on 2.12.2; GET with query string
    c.err("POST", "/experiments/search", {}, 400, "INVALID_PARAMETER_VALUE")
    names = [e["name"] for e in c.ok("POST", "/experiments/search",
                                     {"max_results": 100})["experiments"]]
    assert "wine2" in names and "Default" in names
    got = c.ok("GET", "/experiments/search", {"max_results": 10, "filter": "name LIKE 'wine%'"})
    assert [e["name"] for e in got["experiments"]] == ["wine2"]


def test_run_rpcs(client):
    c = client
    eid = c.experiment("runs")
    c.err("POST", "/runs/create", {"experiment_id": "999999"}, 404, "RESOURCE_DOES_NOT_EXIST")
    r = c.ok("POST", "/runs/create", {"experiment_id": eid, "user_id": "ann", "run_name": "first",
                                      "start_time": 1700000000000,
                                      "tags": [{"key": "mlflow.user", "value": "ann"}]})["run"]
    info = r["info"]
    rid = info["run_id"]
    assert len(rid) == 32 and int(rid, 16) >= 0 and info["run_uuid"] == rid
    assert info["run_name"] == "first" and info["status"] == "RUNNING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{eid}/{rid}/artifacts"
    assert info["start_time"] == 1700000000000 and "end_time" not in info
    assert {"key": "mlflow.runName", "value": "first"} in r["data"]["tags"]
    assert list(info)[0] == "run_uuid" and list(info)[-1] == "run_id"
    # generated names look like MLflow's adjective-noun-NNN
    gen = c.ok("POST", "/runs/create", {"experiment_id": eid})["run"]["info"]["run_name"]
    assert len(gen.split("-")) == 3 and gen.split("-")[2].isdigit()

    c.ok("POST", "/runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.5"})
    c.ok("POST", "/runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.5"})
    msg = c.err("POST", "/runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.6"},
                400, "INVALID_PARAMETER_VALUE")
    assert "Changing param values is not allowed" in msg
    c.ok("POST", "/runs/log-parameter", {"run_id": rid, "key": "long", "value": "x" * 6001})
    c.err("POST", "/runs/log-parameter", {"run_id": rid, "key": "k" * 251, "value": "1"}, 400,
          "INVALID_PARAMETER_VALUE")
    c.ok("POST", "/runs/set-tag", {"run_id": rid, "key": "big", "value": "y" * 5001})
    c.ok("POST", "/runs/set-tag", {"run_id": rid, "key": "gone", "value": "1"})
    c.ok("POST", "/runs/delete-tag", {"run_id": rid, "key": "gone"})
    c.err("POST", "/runs/delete-tag", {"run_id": rid, "key": "gone"}, 404,
          "RESOURCE_DOES_NOT_EXIST")

    ts = int(time.time() * 1000)
    c.ok("POST", "/runs/log-metric", {"run_uuid": rid, "run_id": rid, "key": "rmse",
                                      "value": 0.74, "timestamp": ts, "step": 0})
    c.ok("POST", "/runs/log-metric", {"run_id": rid, "key": "nan", "value": "NaN",
                                      "timestamp": ts})
    c.ok("POST", "/runs/log-metric", {"run_id": rid, "key": "inf", "value": "Infinity",
                                      "timestamp": ts})
    c.err("POST", "/runs/log-metric", {"key": "rmse", "value": 1, "timestamp": ts}, 400,
          "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/log-metric", {"run_id": rid, "key": "rmse", "value": 1}, 400,
          "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/log-metric", {"run_id": rid, "key": "rmse", "value": "abc",
                                       "timestamp": ts}, 400, "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/log-metric", {"run_id": "f" * 32, "key": "rmse", "value": 1,
                                       "timestamp": ts}, 404, "RESOURCE_DOES_NOT_EXIST")
    c.err("POST", "/runs/log-metric", {"run_id": rid, "key": "bad*key", "value": 1,
                                       "timestamp": ts}, 400, "INVALID_PARAMETER_VALUE")

    run = c.ok("GET", "/runs/get", {"run_id": rid})["run"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert params["alpha"] == "0.5" and len(params["long"]) == 6000
    assert len(tags["big"]) == 5000 and "gone" not in tags
    assert metrics["rmse"] == 0.74 and metrics["nan"] == "NaN"
    assert metrics["inf"] == 1.7976931348623157e308
    c.err("GET", "/runs/get", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST")

    upd = c.ok("POST", "/runs/update", {"run_id": rid, "status": "FINISHED", "end_time": ts + 5,
                                        "run_name": "renamed"})["run_info"]
    assert upd["status"] == "FINISHED" and upd["end_time"] == ts + 5
    assert upd["run_name"] == "renamed"
    tags = {t["key"]: t["value"] for t in c.ok("GET", "/runs/get", {"run_id": rid})["run"]
            ["data"]["tags"]}
    assert tags["mlflow.runName"] == "renamed"

    model = {"run_id": rid, "artifact_path": "model", "utc_time_created": "2026-01-01",
             "flavors": {"sklearn": {"pickled_model": "model.pkl", "data": "x"}}}
    import json as _json
    c.ok("POST", "/runs/log-model", {"run_id": rid, "model_json": _json.dumps(model)})
    c.ok("POST", "/runs/log-model", {"run_id": rid, "model_json": _json.dumps(model)})
    c.err("POST", "/runs/log-model", {"run_id": rid, "model_json": "{"}, 400,
          "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/log-model", {"run_id": rid, "model_json": "{}"}, 400,
          "INVALID_PARAMETER_VALUE")
    tags = {t["key"]: t["value"] for t in c.ok("GET", "/runs/get", {"run_id": rid})["run"]
            ["data"]["tags"]}
    hist = _json.loads(tags["mlflow.log-model.history"])
    assert len(hist) == 2 and "data" not in hist[0]["flavors"]["sklearn"]

    ds = {"tags": [{"key": "mlflow.data.context", "value": "train"}],
          "dataset": {"name": "wine", "digest": "abc123", "source_type": "local",
                      "source": "{\"uri\": \"/x.csv\"}"}}
    c.ok("POST", "/runs/log-inputs", {"run_id": rid, "datasets": [ds]})
    c.ok("POST", "/runs/log-inputs", {"run_id": rid, "datasets": [ds]})
    c.err("POST", "/runs/log-inputs", {"run_id": rid}, 400, "INVALID_PARAMETER_VALUE")
    inputs = c.ok("GET", "/runs/get", {"run_id": rid})["run"]["inputs"]["dataset_inputs"]
    assert len(inputs) == 1 and inputs[0]["dataset"]["digest"] == "abc123"
    assert inputs[0]["tags"] == [{"key": "mlflow.data.context", "value": "train"}]

    c.ok("POST", "/runs/delete", {"run_id": rid})
    assert c.ok("GET", "/runs/get", {"run_id": rid})["run"]["info"]["lifecycle_stage"] == "deleted"
    msg = c.err("POST", "/runs/log-metric", {"run_id": rid, "key": "m", "value": 1,
                                             "timestamp": ts}, 400, "INVALID_PARAMETER_VALUE")
    assert msg == f"The run {rid} must be in the 'active' state. Current state is deleted."
    c.ok("POST", "/runs/restore", {"run_id": rid})
    c.ok("POST", "/runs/log-metric", {"run_id": rid, "key": "m", "value": 1, "timestamp": ts})


def test_log_batch_limits_and_history(client, backend):
    c = client
    rid = c.run(c.experiment("batch"))
    m = lambda i: {"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1000 + i, "step": i}
    c.err("POST", "/runs/log-batch", {"run_id": rid, "metrics": [m(i) for i in range(1001)]},
          400, "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/log-batch", {"run_id": rid, "params": [
        {"key": f"p{i}", "value": "1"} for i in range(101)]}, 400, "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/log-batch", {"run_id": rid, "metrics": [m(i) for i in range(950)],
                                      "params": [{"key": f"p{i}", "value": "1"}
                                                 for i in range(51)]},
          400, "INVALID_PARAMETER_VALUE")
    # steps logged out of order, plus an exact repeat that must be ignored
    pts = [m(i) for i in reversed(range(1000))]
    c.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": pts[:999],
                                     "params": [{"key": "a", "value": "1"}]})
    c.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": pts[999:]})
    c.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": pts[:10]})
    hist = c.ok("GET", "/metrics/get-history", {"run_id": rid, "metric_key": "loss",
                                                "max_results": 25000})["metrics"]
    assert [h["step"] for h in hist] == list(range(1000))
    latest = c.ok("GET", "/runs/get", {"run_id": rid})["run"]["data"]["metrics"][0]
    assert latest["step"] == 999
    # a conflicting batch lands nothing
    c.err("POST", "/runs/log-batch", {"run_id": rid, "metrics": [m(5000)],
                                      "params": [{"key": "a", "value": "2"}]},
          400, "INVALID_PARAMETER_VALUE")
    assert len(c.ok("GET", "/metrics/get-history",
                    {"run_id": rid, "metric_key": "loss"})["metrics"]) == 1000
    assert backend.scalar(f"SELECT count(*) FROM metrics WHERE run_uuid = '{rid}'") == 1000
    assert backend.scalar(f"SELECT count(*) FROM params WHERE run_uuid = '{rid}'") == 1
    # unknown run: 200 and no metrics
    assert c.ok("GET", "/metrics/get-history", {"run_id": "a" * 32, "metric_key": "loss"}) == {}
    bulk = c.ok("GET", "/metrics/get-history-bulk-interval",
                {"run_ids": [rid], "metric_key": "loss", "max_results": 10})["metrics"]
    steps = [b["step"] for b in bulk]
    assert steps[0] == 0 and steps[-1] == 999 and len(steps) <= 12 and steps == sorted(steps)
    assert all(b["run_id"] == rid for b in bulk)


def test_search_grammar_and_paging(client):
    c = client
    eid = c.experiment("search")
    ids = []
    for i in range(12):
        rid = c.run(eid, run_name=f"run-{i}", start_time=1000 + i)
        ids.append(rid)
        c.ok("POST", "/runs/log-batch", {
            "run_id": rid,
            "metrics": [{"key": "rmse", "value": 0.5 + i * 0.05, "timestamp": 1, "step": 0}],
            "params": [{"key": "alpha", "value": str(i % 3 / 2)}, {"key": "n", "value": str(i)}],
            "tags": [{"key": "team", "value": "Edge" if i % 2 else "cloud"},
                     {"key": "my tag", "value": "x"}]})

    def search(flt, **kw):
        body = {"experiment_ids": [eid], "filter": flt, **kw}
        return [r["info"]["run_name"] for r in c.ok("POST", "/runs/search", body).get("runs", [])]

    assert sorted(search("metrics.rmse < 0.8 and params.alpha = '0.5'")) == \
        sorted(f"run-{i}" for i in range(12) if 0.5 + i * 0.05 < 0.8 and i % 3 == 1)
    assert len(search("params.alpha = \"0.5\"")) == 4          # double quotes accepted
    assert len(search("tags.team LIKE 'Ed%'")) == 6
    assert len(search("tags.team ILIKE 'ed%'")) == 6
    assert len(search("tags.team = 'edge'")) == 0              # = is case-sensitive
    assert len(search("tags.`my tag` = 'x'")) == 12
    assert search("attributes.run_name = 'run-3'") == ["run-3"]
    assert sorted(search(f"attributes.run_id IN ('{ids[0]}', '{ids[1]}')")) == ["run-0", "run-1"]
    assert len(search("attributes.status = 'RUNNING'")) == 12
    assert len(search("attributes.start_time >= 1006")) == 6
    assert search("params.n = '10'") == ["run-10"]             # strings, not numbers
    assert len(search("metrics.rmse >= 0.5")) == 12
    assert len(search("metrics.missing > 0")) == 0
    for bad in ["metrics.rmse < 0.8 or params.alpha = '0.5'", "metrics.rmse < 'a'",
                "params.alpha > '0.4'", "foo.bar = 1", "(metrics.rmse < 1)"]:
        c.err("POST", "/runs/search", {"experiment_ids": [eid], "filter": bad}, 400,
              "INVALID_PARAMETER_VALUE")
    # ordering and paging: pages concatenate to the full ordered list, no duplicates
    full = search("", order_by=["metrics.rmse DESC"])
    assert full == [f"run-{i}" for i in reversed(range(12))]
    pages, token = [], None
    for _ in range(20):
        body = {"experiment_ids": [eid], "max_results": 5, "order_by": ["metrics.rmse DESC"]}
        if token:
            body["page_token"] = token
        res = c.ok("POST", "/runs/search", body)
        pages += [r["info"]["run_name"] for r in res.get("runs", [])]
        token = res.get("next_page_token")
        if not token:
            break
    assert pages == full
    default_order = search("")
    assert default_order == [f"run-{i}" for i in reversed(range(12))]  # start_time DESC
    c.err("POST", "/runs/search", {"experiment_ids": [eid], "max_results": 50001}, 400,
          "INVALID_PARAMETER_VALUE")
    c.err("POST", "/runs/search", {"experiment_ids": [eid], "page_token": "%%%"}, 400,
          "INVALID_PARAMETER_VALUE")
    # view types
    c.ok("POST", "/runs/delete", {"run_id": ids[0]})
    assert len(search("")) == 11
    assert search("", run_view_type="DELETED_ONLY") == ["run-0"]
    assert len(search("", run_view_type="ALL")) == 12


def test_concurrent_log_batch(client, backend):
    c = client
    eid = c.experiment("concurrent")
    rid = c.run(eid)
    errors = []

    def worker(w):
        s = Client(c.base)
        try:
            for b in range(10):
                pts = [{"key": "shared", "value": float(w * 1000 + b * 50 + i),
                        "timestamp": 1000 + b * 50 + i, "step": w * 1000 + b * 50 + i}
                       for i in range(50)]
                mine = [{"key": f"w{w}", "value": float(i), "timestamp": b * 50 + i,
                         "step": b * 50 + i} for i in range(50)]
                s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": pts + mine})
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    hist = c.ok("GET", "/metrics/get-history", {"run_id": rid, "metric_key": "shared"})["metrics"]
    assert len(hist) == 8 * 500
    steps = [h["step"] for h in hist]
    assert steps == sorted(steps) and len(set(steps)) == 4000
    for w in range(8):
        h = c.ok("GET", "/metrics/get-history", {"run_id": rid, "metric_key": f"w{w}"})["metrics"]
        assert [x["step"] for x in h] == list(range(500))
    latest = {m["key"]: m for m in c.ok("GET", "/runs/get", {"run_id": rid})["run"]["data"]
              ["metrics"]}
    assert latest["shared"]["step"] == 7499
    assert backend.scalar(f"SELECT count(*) FROM metrics WHERE run_uuid = '{rid}'") == 8 * 1000


def test_sigkill_keeps_acknowledged_writes(ws, backend):
    port = free_port()
    proc = start_server(ws, port, backend, name="server-a")
    c = Client(f"http://127.0.0.1:{port}")
    rid = c.run(c.experiment("crash"))
    acked = []
    stop = threading.Event()

    def writer():
        s = Client(c.base)
        i = 0
        while not stop.is_set():
            try:
                r = s.post("/runs/log-metric", {"run_id": rid, "key": "m", "value": float(i),
                                                "timestamp": i, "step": i})
            except requests.RequestException:
                return
            if r.status_code == 200:
                acked.append(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.time() + 10
    while len(acked) < 300 and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    stop.set()
    t.join()
    assert len(acked) >= 300
    start_server(ws, port, backend, name="server-b")
    hist = c.ok("GET", "/metrics/get-history", {"run_id": rid, "metric_key": "m"})["metrics"]
    have = {h["step"] for h in hist}
    assert set(acked) <= have
    assert backend.scalar(f"SELECT count(*) FROM metrics WHERE run_uuid = '{rid}' "
                          "AND key = 'm'") == len(hist)
