"""The model registry RPCs of the tracking server (src/tracking/registry.c) against a live
`edgeflow server`, on SQLite and on PostgreSQL.

Reference: shared/specs/mlflow-api.md §3.2 (the 21 registry rpcs), §6.1 (observed errors),
§7 (the Python client's registry calls in the notebook flow), §8 (registry search grammar),
§9 (page tokens), §10 (limits), §11 (RegisteredModel / ModelVersion shapes). Every request is
the one the MLflow clients send (JSON bodies for POST/PATCH/DELETE, query strings for GET).
"""
import base64
import json
import os

import pytest
import requests

from conftest import free_port
from pgcluster import PgCluster

MISSING = "Missing value for required parameter"


class Server:
    def __init__(self, uri):
        self.uri = uri

    def call(self, method, rpc, body=None, params=None):
        url = f"{self.uri}/api/2.0/mlflow/{rpc}"
        kw = {"timeout": 30}
        if method == "GET":
            kw["params"] = body if params is None else params
        elif body is not None:
            kw["json"] = body
        return requests.request(method, url, **kw)

    def ok(self, method, rpc, body=None, **kw):
        r = self.call(method, rpc, body, **kw)
        assert r.status_code == 200, (method, rpc, body, r.status_code, r.text[:600])
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()

    def err(self, method, rpc, body, status, code, text=None):
        r = self.call(method, rpc, body)
        assert r.status_code == status, (method, rpc, body, r.status_code, r.text[:600])
        j = r.json()
        assert j["error_code"] == code, j
        if text:
            assert text in j["message"], j
        return j


@pytest.fixture(params=["sqlite", "postgresql"])
def srv(request, ws):
    pg = None
    args = []
    if request.param == "postgresql":
        if not PgCluster.available():
            pytest.skip("PostgreSQL server binaries are not installed")
        pg = PgCluster()
        args = ["--backend-store-uri", pg.uri]
    port = free_port()
    proc = ws.edgeflow("server", "--port", port, *args, name="server")
    try:
        proc.wait_log("listening on", timeout=30)
        yield Server(f"http://127.0.0.1:{port}")
        assert proc.stop() == 0, proc.output()[-3000:]
    finally:
        if pg:
            pg.stop()


def make_run(s, exp_name="registry-exp"):
    r = s.call("GET", "experiments/get-by-name", {"experiment_name": exp_name})
    if r.status_code == 200:
        exp_id = r.json()["experiment"]["experiment_id"]
    else:
        exp_id = s.ok("POST", "experiments/create", {"name": exp_name})["experiment_id"]
    run = s.ok("POST", "runs/create", {"experiment_id": exp_id, "start_time": 1})["run"]
    return run["info"]["run_id"], run["info"]["artifact_uri"]


def create_version(s, name, run_id, artifact_uri, **extra):
    body = {"name": name, "source": f"{artifact_uri}/model", "run_id": run_id, **extra}
    return s.ok("POST", "model-versions/create", body)["model_version"]


# --- the reference flow's registry steps (spec §7 rows 24-37) -----------------------------------
def test_reference_flow_registry_steps(srv):
    s = srv
    run_id, art = make_run(s)
    rm = s.ok("POST", "registered-models/create", {"name": "wine-elasticnet"})["registered_model"]
    assert rm["name"] == "wine-elasticnet"
    assert isinstance(rm["creation_timestamp"], int) and rm["creation_timestamp"] > 0
    assert rm["last_updated_timestamp"] == rm["creation_timestamp"]
    assert rm["description"] == ""
    assert "latest_versions" not in rm and "tags" not in rm and "aliases" not in rm
    # the client treats RESOURCE_ALREADY_EXISTS as "model exists, add a version"
    s.err("POST", "registered-models/create", {"name": "wine-elasticnet"}, 400,
          "RESOURCE_ALREADY_EXISTS", "Registered Model (name=wine-elasticnet) already exists")

    mv = s.ok("POST", "model-versions/create",
              {"name": "wine-elasticnet", "source": f"{art}/model", "run_id": run_id})["model_version"]
    assert mv["name"] == "wine-elasticnet" and mv["version"] == "1"
    assert mv["status"] == "READY"  # at once: no polling needed
    assert mv["current_stage"] == "None"
    assert mv["source"] == f"{art}/model" and mv["run_id"] == run_id
    assert mv["run_link"] == "" and mv["description"] == ""
    assert isinstance(mv["creation_timestamp"], int)
    assert mv["last_updated_timestamp"] == mv["creation_timestamp"]
    assert "aliases" not in mv and "tags" not in mv and "status_message" not in mv
    assert list(mv) == ["name", "version", "creation_timestamp", "last_updated_timestamp",
                        "current_stage", "description", "source", "run_id", "status", "run_link"]

    found = s.ok("GET", "model-versions/search",
                 {"filter": "name='wine-elasticnet'", "max_results": 10000})
    assert [v["version"] for v in found["model_versions"]] == ["1"]
    assert "next_page_token" not in found

    st = s.ok("POST", "model-versions/transition-stage",
              {"name": "wine-elasticnet", "version": "1", "stage": "Staging",
               "archive_existing_versions": False})["model_version"]
    assert st["current_stage"] == "Staging" and st["version"] == "1"
    assert st["last_updated_timestamp"] >= mv["last_updated_timestamp"]
    pr = s.ok("POST", "model-versions/transition-stage",
              {"name": "wine-elasticnet", "version": "1", "stage": "Production",
               "archive_existing_versions": True})["model_version"]
    assert pr["current_stage"] == "Production"

    assert s.ok("POST", "registered-models/alias",
                {"name": "wine-elasticnet", "alias": "champion", "version": "1"}) == {}
    got = s.ok("GET", "registered-models/alias",
               {"name": "wine-elasticnet", "alias": "champion"})["model_version"]
    assert got["version"] == "1" and got["aliases"] == ["champion"]
    assert got["current_stage"] == "Production" and got["run_id"] == run_id

    latest = s.ok("POST", "registered-models/get-latest-versions",
                  {"name": "wine-elasticnet", "stages": ["Production"]})["model_versions"]
    assert [(v["version"], v["current_stage"], v["aliases"]) for v in latest] == \
        [("1", "Production", ["champion"])]

    uri = s.ok("GET", "model-versions/get-download-uri",
               {"name": "wine-elasticnet", "version": "1"})
    assert uri == {"artifact_uri": f"{art}/model"}


def test_archive_existing_versions_and_latest(srv):
    s = srv
    run_id, art = make_run(s)
    s.ok("POST", "registered-models/create", {"name": "m"})
    for _ in range(4):
        create_version(s, "m", run_id, art)
    s.ok("POST", "model-versions/transition-stage", {"name": "m", "version": "1", "stage": "production"})
    s.ok("POST", "model-versions/transition-stage", {"name": "m", "version": "2", "stage": "PRODUCTION"})
    s.ok("POST", "model-versions/transition-stage", {"name": "m", "version": "3", "stage": "staging"})
    # archive_existing_versions moves every other Production version to Archived, only those
    v4 = s.ok("POST", "model-versions/transition-stage",
              {"name": "m", "version": "4", "stage": "Production",
               "archive_existing_versions": True})["model_version"]
    assert v4["current_stage"] == "Production"
    stages = {v["version"]: v["current_stage"] for v in
              s.ok("GET", "model-versions/search", {"filter": "name = 'm'"})["model_versions"]}
    assert stages == {"1": "Archived", "2": "Archived", "3": "Staging", "4": "Production"}

    # latest per stage, stages ordered by their lowest version (MLflow's latest_versions)
    rm = s.ok("GET", "registered-models/get", {"name": "m"})["registered_model"]
    assert [(v["current_stage"], v["version"]) for v in rm["latest_versions"]] == \
        [("Archived", "2"), ("Staging", "3"), ("Production", "4")]
    assert rm["last_updated_timestamp"] >= rm["creation_timestamp"]
    # all stages when none given; case-insensitive stage names; GET with repeated keys
    lv = s.ok("POST", "registered-models/get-latest-versions", {"name": "m"})["model_versions"]
    assert sorted(v["version"] for v in lv) == ["2", "3", "4"]
    lv = s.ok("GET", "registered-models/get-latest-versions", None,
              params=[("name", "m"), ("stages", "staging"), ("stages", "archived")])["model_versions"]
    assert sorted(v["version"] for v in lv) == ["2", "3"]
    assert s.ok("POST", "registered-models/get-latest-versions",
                {"name": "m", "stages": ["None"]}) == {}
    s.err("POST", "registered-models/get-latest-versions", {"name": "m", "stages": ["Prod"]},
          400, "INVALID_PARAMETER_VALUE", "Invalid Model Version stage: Prod")
    s.err("POST", "registered-models/get-latest-versions", {"name": "nope"}, 404,
          "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=nope not found")
    # archive_existing_versions only for Staging/Production
    s.err("POST", "model-versions/transition-stage",
          {"name": "m", "version": "1", "stage": "Archived", "archive_existing_versions": True},
          400, "INVALID_PARAMETER_VALUE", "is not an Active stage")
    s.err("POST", "model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Prod"},
          400, "INVALID_PARAMETER_VALUE", "Value must be one of None, Staging, Production, Archived")
    s.err("POST", "model-versions/transition-stage", {"name": "m", "version": "9", "stage": "None"},
          404, "RESOURCE_DOES_NOT_EXIST", "Model Version (name=m, version=9) not found")


def test_errors_and_required_fields(srv):
    s = srv
    run_id, art = make_run(s)
    s.err("GET", "registered-models/get", {"name": "ghost"}, 404, "RESOURCE_DOES_NOT_EXIST",
          "Registered Model with name=ghost not found")
    s.err("POST", "registered-models/create", {}, 400, "INVALID_PARAMETER_VALUE", MISSING + " 'name'")
    s.err("POST", "registered-models/create", {"name": ""}, 400, "INVALID_PARAMETER_VALUE", MISSING)
    s.err("POST", "model-versions/create", {"name": "ghost", "source": "s3://b/m"}, 404,
          "RESOURCE_DOES_NOT_EXIST")
    s.err("POST", "model-versions/create", {"name": "ghost"}, 400, "INVALID_PARAMETER_VALUE",
          MISSING + " 'source'")
    s.ok("POST", "registered-models/create", {"name": "e"})
    create_version(s, "e", run_id, art)
    s.err("GET", "model-versions/get", {"name": "e", "version": "abc"}, 400,
          "INVALID_PARAMETER_VALUE", "must be an integer")
    s.err("GET", "model-versions/get", {"name": "e", "version": "2"}, 404,
          "RESOURCE_DOES_NOT_EXIST", "Model Version (name=e, version=2) not found")
    s.err("GET", "model-versions/get", {"name": "e"}, 400, "INVALID_PARAMETER_VALUE",
          MISSING + " 'version'")
    assert s.ok("GET", "model-versions/get", {"name": "e", "version": " 1 "})["model_version"]["version"] == "1"
    # aliases: reserved names and bad characters (spec §6.1, §10)
    for alias, text in [("v1", "Version alias name 'v1' is reserved."),
                        ("V22", "is reserved"),
                        ("latest", "'latest' alias name (case insensitive) is reserved."),
                        ("Latest", "is reserved"),
                        ("bad alias", "Invalid alias name"),
                        ("a.b", "Invalid alias name"),
                        ("x" * 256, "exceeded length limit of 255")]:
        s.err("POST", "registered-models/alias", {"name": "e", "alias": alias, "version": "1"},
              400, "INVALID_PARAMETER_VALUE", text)
    s.ok("POST", "registered-models/alias", {"name": "e", "alias": "v1x-_ok", "version": "1"})
    s.err("POST", "registered-models/alias", {"name": "e", "alias": "a", "version": "7"}, 404,
          "RESOURCE_DOES_NOT_EXIST")
    s.err("GET", "registered-models/alias", {"name": "e", "alias": "nobody"}, 400,
          "INVALID_PARAMETER_VALUE", "Registered model alias nobody not found.")
    # local paths and relative references as sources are refused (MLflow's CVE fixes)
    for src in ["/etc/passwd", "file:///etc/passwd", f"{art}/../../other/model",
                f"{art}/%2E%2E/%2e%2e/x", "s3://bucket/a/%252E%252E/b"]:
        s.err("POST", "model-versions/create", {"name": "e", "source": src}, 400,
              "INVALID_PARAMETER_VALUE", "Invalid model version source")
    # errors are MLflow's JSON, single line
    r = s.call("GET", "registered-models/get", {"name": "ghost"})
    assert "\n" not in r.text.strip()


def test_tags_descriptions_and_deletes_with_bodies(srv):
    s = srv
    run_id, art = make_run(s)
    rm = s.ok("POST", "registered-models/create",
              {"name": "t", "description": "first", "tags": [{"key": "team", "value": "edge"},
                                                            {"key": "a.b/c d-e", "value": "x"}]})
    rm = rm["registered_model"]
    assert rm["description"] == "first"
    assert rm["tags"] == [{"key": "a.b/c d-e", "value": "x"}, {"key": "team", "value": "edge"}]
    up = s.ok("PATCH", "registered-models/update", {"name": "t", "description": "second"})
    assert up["registered_model"]["description"] == "second"
    assert s.ok("POST", "registered-models/set-tag", {"name": "t", "key": "team", "value": "core"}) == {}
    s.ok("POST", "registered-models/set-tag", {"name": "t", "key": "novalue"})
    tags = s.ok("GET", "registered-models/get", {"name": "t"})["registered_model"]["tags"]
    assert {t["key"]: t["value"] for t in tags} == {"a.b/c d-e": "x", "team": "core", "novalue": ""}
    # DELETE carries a JSON body (the Python client) ...
    assert s.ok("DELETE", "registered-models/delete-tag", {"name": "t", "key": "team"}) == {}
    # ... or a query string; deleting a tag that is not there is fine
    r = requests.delete(f"{s.uri}/api/2.0/mlflow/registered-models/delete-tag",
                        params={"name": "t", "key": "novalue"}, timeout=30)
    assert r.status_code == 200, r.text
    s.ok("DELETE", "registered-models/delete-tag", {"name": "t", "key": "never-set"})
    tags = s.ok("GET", "registered-models/get", {"name": "t"})["registered_model"]["tags"]
    assert tags == [{"key": "a.b/c d-e", "value": "x"}]
    s.err("POST", "registered-models/set-tag", {"name": "ghost", "key": "k", "value": "v"}, 404,
          "RESOURCE_DOES_NOT_EXIST")
    for key, text in [("bad*key", "Invalid tag name"), ("../up", "would resolve to"),
                      ("a//b", "would resolve to 'a/b'"), ("/abs", "would resolve to"),
                      ("k" * 251, "exceeded length limit of 250")]:
        s.err("POST", "registered-models/set-tag", {"name": "t", "key": key, "value": "v"}, 400,
              "INVALID_PARAMETER_VALUE", text)
    s.err("POST", "registered-models/set-tag", {"name": "t", "key": "k", "value": "v" * 5001}, 400,
          "INVALID_PARAMETER_VALUE", "exceeded length limit of 5000")
    s.ok("POST", "registered-models/set-tag", {"name": "t", "key": "k", "value": "v" * 5000})

    mv = create_version(s, "t", run_id, art, description="d1", run_link="http://x/run",
                        tags=[{"key": "stage", "value": "candidate"}])
    assert mv["description"] == "d1" and mv["run_link"] == "http://x/run"
    assert mv["tags"] == [{"key": "stage", "value": "candidate"}]
    mv = s.ok("PATCH", "model-versions/update", {"name": "t", "version": "1", "description": "d2"})
    assert mv["model_version"]["description"] == "d2"
    s.ok("POST", "model-versions/set-tag", {"name": "t", "version": "1", "key": "q", "value": "0.9"})
    got = s.ok("GET", "model-versions/get", {"name": "t", "version": "1"})["model_version"]
    assert got["tags"] == [{"key": "q", "value": "0.9"}, {"key": "stage", "value": "candidate"}]
    s.ok("DELETE", "model-versions/delete-tag", {"name": "t", "version": "1", "key": "stage"})
    got = s.ok("GET", "model-versions/get", {"name": "t", "version": "1"})["model_version"]
    assert got["tags"] == [{"key": "q", "value": "0.9"}]
    s.err("POST", "model-versions/set-tag", {"name": "t", "version": "5", "key": "q", "value": "1"},
          404, "RESOURCE_DOES_NOT_EXIST")
    s.err("POST", "model-versions/set-tag", {"name": "t", "version": "1", "key": "b@d", "value": "1"},
          400, "INVALID_PARAMETER_VALUE")
    # latest_versions entries carry their tags
    rm = s.ok("GET", "registered-models/get", {"name": "t"})["registered_model"]
    assert rm["latest_versions"][0]["tags"] == [{"key": "q", "value": "0.9"}]


def test_rename_and_delete_cascade(srv):
    s = srv
    run_id, art = make_run(s)
    s.ok("POST", "registered-models/create", {"name": "old", "tags": [{"key": "k", "value": "v"}]})
    s.ok("POST", "registered-models/create", {"name": "taken"})
    for _ in range(3):
        create_version(s, "old", run_id, art)
    s.ok("POST", "model-versions/set-tag", {"name": "old", "version": "2", "key": "x", "value": "y"})
    s.ok("POST", "registered-models/alias", {"name": "old", "alias": "champ", "version": "2"})
    s.err("POST", "registered-models/rename", {"name": "old", "new_name": "taken"}, 400,
          "RESOURCE_ALREADY_EXISTS")
    s.err("POST", "registered-models/rename", {"name": "old"}, 400, "INVALID_PARAMETER_VALUE",
          MISSING + " 'new_name'")
    s.err("POST", "registered-models/rename", {"name": "ghost", "new_name": "g2"}, 404,
          "RESOURCE_DOES_NOT_EXIST")
    rm = s.ok("POST", "registered-models/rename", {"name": "old", "new_name": "new"})["registered_model"]
    assert rm["name"] == "new" and rm["tags"] == [{"key": "k", "value": "v"}]
    assert rm["aliases"] == [{"alias": "champ", "version": "2"}]
    s.err("GET", "registered-models/get", {"name": "old"}, 404, "RESOURCE_DOES_NOT_EXIST")
    v2 = s.ok("GET", "registered-models/alias", {"name": "new", "alias": "champ"})["model_version"]
    assert v2["name"] == "new" and v2["tags"] == [{"key": "x", "value": "y"}]
    assert s.call("GET", "model-versions/search", {"filter": "name='old'"}).json() == {}

    # deleting a version hides it, drops its aliases and never reuses its number
    assert s.ok("DELETE", "model-versions/delete", {"name": "new", "version": "2"}) == {}
    s.err("GET", "model-versions/get", {"name": "new", "version": "2"}, 404, "RESOURCE_DOES_NOT_EXIST")
    s.err("GET", "registered-models/alias", {"name": "new", "alias": "champ"}, 400,
          "INVALID_PARAMETER_VALUE")
    s.err("DELETE", "model-versions/delete", {"name": "new", "version": "2"}, 404,
          "RESOURCE_DOES_NOT_EXIST")
    assert create_version(s, "new", run_id, art)["version"] == "4"
    vs = s.ok("GET", "model-versions/search", {"filter": "name='new'"})["model_versions"]
    assert sorted(v["version"] for v in vs) == ["1", "3", "4"]

    # deleting the model removes versions, tags and aliases: a new model of that name is empty
    s.ok("POST", "registered-models/alias", {"name": "new", "alias": "a1", "version": "1"})
    assert s.ok("DELETE", "registered-models/delete", {"name": "new"}) == {}
    s.err("DELETE", "registered-models/delete", {"name": "new"}, 404, "RESOURCE_DOES_NOT_EXIST")
    rm = s.ok("POST", "registered-models/create", {"name": "new"})["registered_model"]
    assert "tags" not in rm and "aliases" not in rm and "latest_versions" not in rm
    assert create_version(s, "new", run_id, art)["version"] == "1"
    s.err("GET", "registered-models/alias", {"name": "new", "alias": "a1"}, 400,
          "INVALID_PARAMETER_VALUE")
    # deleting an alias that does not exist is fine
    assert s.ok("DELETE", "registered-models/alias", {"name": "new", "alias": "zzz"}) == {}


def test_search_filters_order_and_paging(srv):
    s = srv
    run_a, art_a = make_run(s)
    run_b, art_b = make_run(s)
    names = [f"model-{i}" for i in range(7)] + ["Other_X"]
    for i, n in enumerate(names):
        s.ok("POST", "registered-models/create",
             {"name": n, "tags": [{"key": "parity", "value": "even" if i % 2 == 0 else "odd"}]})
    # registered-models/search: default order name ASC; paging by max_results + token
    seen, token, pages = [], None, 0
    while True:
        q = {"max_results": 3, **({"page_token": token} if token else {})}
        page = s.ok("GET", "registered-models/search", q)
        seen += [m["name"] for m in page.get("registered_models", [])]
        pages += 1
        token = page.get("next_page_token")
        if not token:
            break
        assert json.loads(base64.b64decode(token)) == {"offset": len(seen)}
    assert seen == sorted(names) and pages == 3
    got = s.ok("GET", "registered-models/search", {"filter": "name LIKE 'model-%'",
                                                   "order_by": "name DESC"})
    assert [m["name"] for m in got["registered_models"]] == sorted(names[:7], reverse=True)
    got = s.ok("GET", "registered-models/search", {"filter": "name ILIKE 'other%'"})
    assert [m["name"] for m in got["registered_models"]] == ["Other_X"]
    got = s.ok("GET", "registered-models/search", {"filter": "tags.parity = 'odd'"})
    assert [m["name"] for m in got["registered_models"]] == ["Other_X", "model-1", "model-3",
                                                             "model-5"]
    assert got["registered_models"][1]["tags"] == [{"key": "parity", "value": "odd"}]
    s.err("GET", "registered-models/search", {"max_results": 1001}, 400, "INVALID_PARAMETER_VALUE")
    s.err("GET", "registered-models/search", {"page_token": "not a token!"}, 400,
          "INVALID_PARAMETER_VALUE")
    s.err("GET", "registered-models/search", {"filter": "name = 'a' OR name = 'b'"}, 400,
          "INVALID_PARAMETER_VALUE")

    # model-versions/search: 3 versions of model-0 from run a, 2 of model-1 from run b
    for _ in range(3):
        create_version(s, "model-0", run_a, art_a)
    for _ in range(2):
        create_version(s, "model-1", run_b, art_b)
    s.ok("POST", "registered-models/alias", {"name": "model-0", "alias": "best", "version": "2"})
    allv = s.ok("GET", "model-versions/search", {})["model_versions"]
    # default order: last_updated_timestamp DESC, name ASC, version_number DESC
    keys = [(-v["last_updated_timestamp"], v["name"], -int(v["version"])) for v in allv]
    assert keys == sorted(keys) and len(allv) == 5
    got = s.ok("GET", "model-versions/search", {"filter": f"run_id = '{run_b}'"})["model_versions"]
    assert sorted((v["name"], v["version"]) for v in got) == [("model-1", "1"), ("model-1", "2")]
    got = s.ok("GET", "model-versions/search",
               {"filter": "name = 'model-0' and version_number >= 2",
                "order_by": ["version_number ASC"]})["model_versions"]
    assert [v["version"] for v in got] == ["2", "3"]
    assert got[0]["aliases"] == ["best"] and "aliases" not in got[1]
    # paging through versions: stable and complete
    seen, token = [], None
    while True:
        q = {"max_results": 2, "order_by": ["name ASC", "version_number ASC"],
             **({"page_token": token} if token else {})}
        page = s.ok("GET", "model-versions/search", q)
        seen += [(v["name"], v["version"]) for v in page.get("model_versions", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == [("model-0", "1"), ("model-0", "2"), ("model-0", "3"),
                    ("model-1", "1"), ("model-1", "2")]
    s.err("GET", "model-versions/search", {"max_results": 200001}, 400, "INVALID_PARAMETER_VALUE")
    s.err("GET", "model-versions/search", {"max_results": 0}, 400, "INVALID_PARAMETER_VALUE")
    # deleted versions never show
    s.ok("DELETE", "model-versions/delete", {"name": "model-0", "version": "1"})
    got = s.ok("GET", "model-versions/search", {"filter": "name = 'model-0'"})["model_versions"]
    assert sorted(v["version"] for v in got) == ["2", "3"]


def test_download_uri_resolution(srv):
    s = srv
    run_id, art = make_run(s)
    s.ok("POST", "registered-models/create", {"name": "d"})
    # runs:/<run>/<path> resolves to the run's artifact_uri + path
    v1 = s.ok("POST", "model-versions/create",
              {"name": "d", "source": f"runs:/{run_id}/model", "run_id": run_id})["model_version"]
    assert v1["source"] == f"runs:/{run_id}/model"
    assert s.ok("GET", "model-versions/get-download-uri", {"name": "d", "version": "1"}) == \
        {"artifact_uri": f"{art}/model"}
    # mlflow-artifacts:/ sources come back as they are
    create_version(s, "d", run_id, art)
    assert s.ok("GET", "model-versions/get-download-uri", {"name": "d", "version": "2"}) == \
        {"artifact_uri": f"{art}/model"}
    # models:/<name>/<version> and models:/<name>@<alias> resolve to that version's location
    s.ok("POST", "registered-models/alias", {"name": "d", "alias": "prod", "version": "1"})
    s.ok("POST", "model-versions/create", {"name": "d", "source": "models:/d/2"})
    s.ok("POST", "model-versions/create", {"name": "d", "source": "models:/d@prod"})
    for v in ("3", "4"):
        assert s.ok("GET", "model-versions/get-download-uri", {"name": "d", "version": v}) == \
            {"artifact_uri": f"{art}/model"}
    s.err("POST", "model-versions/create", {"name": "d", "source": "models:/d/99"}, 400,
          "INVALID_PARAMETER_VALUE", "Unable to fetch model from model URI source")
    s.err("GET", "model-versions/get-download-uri", {"name": "d", "version": "99"}, 404,
          "RESOURCE_DOES_NOT_EXIST")
    # the same routes answer under /ajax-api/2.0 (the web UI's prefix)
    r = requests.get(f"{s.uri}/ajax-api/2.0/mlflow/registered-models/get", params={"name": "d"},
                     timeout=30)
    assert r.status_code == 200 and r.json()["registered_model"]["name"] == "d"
    # replies are MLflow's pretty JSON with a 2-space indent
    r = s.call("GET", "registered-models/get", {"name": "d"})
    assert r.text.startswith('{\n  "registered_model": {\n    "name": "d",')
