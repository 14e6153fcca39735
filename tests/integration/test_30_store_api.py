"""Store query API of `edgeflow server`: the Elasticsearch subset (_bulk, _search, _count) driven
by plain HTTP clients (urllib, requests, curl), /api/v1/indices and /api/v1/series (JSON and
CSV), Elasticsearch-shaped errors, body limits, and a clean exit on SIGTERM."""
import csv
import io
import json
import subprocess
import time
import urllib.request

import pytest
import requests

from conftest import EdgeflowServer, http_json


class Server(EdgeflowServer):
    def __init__(self, ws, *extra, name="server"):
        super().__init__(ws, "--max-body", "1MiB", *extra, name=name)


@pytest.fixture
def server(ws):
    s = Server(ws)
    yield s
    s.close()


def month_index(ms):
    return time.strftime("sensor-%Y-%m", time.gmtime(ms / 1000))


def ndjson(lines):
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def readings(now, n, minutes_apart, device_count=3):
    """n readings, newest first, one every minutes_apart minutes back from now."""
    out = []
    for i in range(n):
        c = now - i * minutes_apart * 60000
        out.append({"device": f"pi-{i % device_count}", "seq": i, "temp": 40000 + i,
                    "load": round(0.1 * (i % 10), 1), "collected": c})
    return out


def bulk_urllib(url, docs, index):
    body = ndjson(sum(([{"index": {"_index": index, "_id": f"{d['device']}-{d['seq']}"}}, d]
                       for d in docs), []))
    req = urllib.request.Request(url + "/_bulk", data=body, method="POST",
                                 headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_bulk_search_count(server):
    now = int(time.time() * 1000)
    docs = readings(now - 1000, 90, 2)  # 3 hours of readings, every 2 minutes
    by_index = {}
    for d in docs:
        by_index.setdefault(month_index(d["collected"]), []).append(d)
    for index, part in by_index.items():
        status, res = bulk_urllib(server.url, part, index)
        assert status == 200 and res["errors"] is False, res
        assert all(it["index"]["status"] == 201 for it in res["items"])
    # the same request again: overwrites, not duplicates
    for index, part in by_index.items():
        status, res = bulk_urllib(server.url, part, index)
        assert {it["index"]["result"] for it in res["items"]} == {"updated"}

    # the reference hourly-dump query on sensor-YYYY-MM
    idx = month_index(now)
    want = [d for d in docs if d["collected"] >= now - 3600 * 1000 and month_index(d["collected"]) == idx]
    st, res = http_json("POST", f"{server.url}/{idx}/_search",
                        {"size": 10000, "query": {"range": {"collected": {"gte": "now-1h"}}}})
    assert st == 200, res
    assert res["hits"]["total"] == {"value": len(want), "relation": "eq"}
    assert sorted(h["_source"]["seq"] for h in res["hits"]["hits"]) == sorted(d["seq"] for d in want)
    h0 = res["hits"]["hits"][0]
    assert set(h0) >= {"_index", "_id", "_score", "_source"} and h0["_index"] == idx
    assert res["timed_out"] is False and res["_shards"]["failed"] == 0

    # _count with GET + body, with requests
    r = requests.get(f"{server.url}/sensor-*/_count", timeout=10,
                     json={"query": {"range": {"collected": {"gte": "now-1h"}}}})
    assert r.status_code == 200 and r.json()["count"] == len([d for d in docs if d["collected"] >= now - 3600000])
    r = requests.get(f"{server.url}/sensor-*/_count", timeout=10)
    assert r.json()["count"] == len(docs)

    # other clauses
    def search(body, index="sensor-*"):
        st, res = http_json("POST", f"{server.url}/{index}/_search", body)
        assert st == 200, res
        return res

    res = search({"size": 100, "query": {"term": {"device": "pi-1"}}})
    assert res["hits"]["total"]["value"] == 30
    assert {h["_source"]["device"] for h in res["hits"]["hits"]} == {"pi-1"}
    res = search({"query": {"terms": {"seq": [1, 2, 3, 999]}}})
    assert res["hits"]["total"]["value"] == 3
    res = search({"query": {"bool": {"filter": [{"term": {"device": "pi-0"}},
                                                {"range": {"temp": {"gte": 40030, "lt": 40060}}}],
                                     "must_not": [{"term": {"load": 0.0}}]}}, "size": 50})
    assert sorted(h["_source"]["seq"] for h in res["hits"]["hits"]) == [33, 36, 39, 42, 45, 48, 51, 54, 57]
    res = search({"sort": [{"seq": "desc"}], "from": 5, "size": 3, "_source": ["seq"]})
    assert [h["_source"] for h in res["hits"]["hits"]] == [{"seq": 84}, {"seq": 83}, {"seq": 82}]
    assert [h["sort"] for h in res["hits"]["hits"]] == [[84], [83], [82]]
    assert res["hits"]["max_score"] is None
    res = search({"query": {"exists": {"field": "nope"}}})
    assert res["hits"]["total"]["value"] == 0 and res["hits"]["hits"] == []
    res = search(None, index="nothing-*")  # wildcard matching nothing -> 0 hits, not 404
    assert res["hits"]["total"]["value"] == 0
    # URL parameters
    r = requests.get(f"{server.url}/sensor-*/_search?size=2&sort=seq:asc", timeout=10)
    assert [h["_source"]["seq"] for h in r.json()["hits"]["hits"]] == [0, 1]


def test_bulk_with_curl_and_create_conflicts(server, ws):
    body = ('{"create":{"_index":"logs-a","_id":"1"}}\n{"msg":"one","collected":"2026-01-01T00:00:00Z"}\n'
            '{"create":{"_index":"logs-a","_id":"1"}}\n{"msg":"again"}\n'
            '{"index":{"_index":"logs-a"}}\n{"msg":"generated id"}\n'
            '{"delete":{"_index":"logs-a","_id":"1"}}\n'
            '{"index":{"_index":"logs-a","_id":"2"}}\n{"msg": broken}\n')
    path = f"{ws.path}/bulk.ndjson"
    with open(path, "w") as f:
        f.write(body)
    out = subprocess.run(["curl", "-sS", "-XPOST", f"{server.url}/_bulk", "-H",
                          "Content-Type: application/x-ndjson", "--data-binary", f"@{path}"],
                         capture_output=True, text=True, timeout=20, check=True).stdout
    res = json.loads(out)
    assert res["errors"] is True
    items = res["items"]
    assert items[0]["create"]["status"] == 201
    assert items[1]["create"]["status"] == 409
    assert items[1]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert items[2]["index"]["status"] == 201 and len(items[2]["index"]["_id"]) == 20
    assert items[3]["delete"]["status"] == 400
    assert items[4]["index"]["error"]["type"] == "mapper_parsing_exception"
    st, res = http_json("GET", f"{server.url}/logs-a/_search")
    assert res["hits"]["total"]["value"] == 2
    # the index from the URL
    st, res = http_json("POST", f"{server.url}/logs-b/_bulk", b'{"index":{}}\n{"x":1}\n',
                        headers={"Content-Type": "application/json"})
    assert st == 200 and res["items"][0]["index"]["_index"] == "logs-b"
    st, res = http_json("POST", f"{server.url}/logs-a/_search",
                        {"query": {"range": {"collected": {"gte": "2026-01-01", "lt": "2026-01-02"}}}})
    assert [h["_id"] for h in res["hits"]["hits"]] == ["1"]


def test_indices_and_series(server):
    now = int(time.time() * 1000)
    docs = readings(now - 1000, 10, 1, device_count=2)
    idx = month_index(now)
    docs = [d for d in docs if month_index(d["collected"]) == idx]
    docs[0]["extra"] = "a,b"  # forces CSV quoting
    status, res = bulk_urllib(server.url, docs, idx)
    assert res["errors"] is False
    st, res = http_json("GET", f"{server.url}/api/v1/indices")
    assert st == 200
    entry = [e for e in res if e["index"] == idx][0]
    assert entry["docs"] == len(docs)
    assert entry["first"] == min(d["collected"] for d in docs)
    assert entry["last"] == max(d["collected"] for d in docs)

    st, res = http_json("GET", f"{server.url}/api/v1/series?index=sensor-*&device=pi-1&from=now-1h&to=now")
    assert st == 200, res
    want = sorted((d for d in docs if d["device"] == "pi-1"), key=lambda d: d["collected"])
    assert res["count"] == len(want) and res["readings"] == want

    r = requests.get(f"{server.url}/api/v1/series", params={"index": "sensor-*", "format": "csv"},
                     timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:6] == ["idx", "device", "seq", "temp", "load", "collected"]
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(len(docs))]
    ordered = sorted(docs, key=lambda d: d["collected"])
    assert [int(row[2]) for row in rows[1:]] == [d["seq"] for d in ordered]
    assert rows[-1][rows[0].index("extra")] == "a,b"

    st, res = http_json("GET", f"{server.url}/api/v1/series?index=sensor-*&limit=3")
    assert res["count"] == 3
    st, res = http_json("GET", f"{server.url}/api/v1/series?from=yesterday-ish")
    assert st == 400


def test_error_shapes_and_misc(server):
    def err(method, path, body=None, headers=None):
        st, res = http_json(method, server.url + path, body, headers)
        return st, res

    st, res = err("POST", "/_search", {"query": {"fuzzy": {"device": "pi"}}})
    assert st == 400
    assert res == {"error": {"root_cause": [{"type": "parsing_exception", "reason": "unknown query [fuzzy]"}],
                             "type": "parsing_exception", "reason": "unknown query [fuzzy]"},
                   "status": 400}
    st, res = err("POST", "/_search", b'{"query": {', {"Content-Type": "application/json"})
    assert st == 400 and res["status"] == 400 and res["error"]["type"] == "parsing_exception"
    st, res = err("GET", "/no-such-index/_search")
    assert st == 404 and res["error"]["type"] == "index_not_found_exception"
    assert res["error"]["root_cause"][0]["index"] == "no-such-index"
    st, res = err("POST", "/_count", {"size": 1})
    assert st == 400
    st, res = err("POST", "/_search", {"size": 10001})
    assert st == 400 and "Result window is too large" in res["error"]["reason"]
    st, res = err("POST", "/_bulk", b'{"index":{}}\nnot json\n{"bad action line"\n{}\n',
                  {"Content-Type": "application/x-ndjson"})
    assert st == 400 and res["error"]["type"] == "illegal_argument_exception"
    # over --max-body: refused by the http layer
    big = b'{"index":{"_index":"big"}}\n{"pad":"' + b"x" * (2 << 20) + b'"}\n'
    try:
        r = requests.post(server.url + "/_bulk", data=big, timeout=20,
                          headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 413
    except requests.exceptions.ConnectionError:
        pass  # the server may close the connection while the client still sends
    st, res = err("GET", "/big/_count")
    assert st == 404

    # ES client probes and index management
    st, res = err("GET", "/")
    assert st == 200 and res["version"]["number"].startswith("7.") and res["tagline"] == "You Know, for Search"
    assert requests.head(server.url + "/nope", timeout=5).status_code == 404
    st, res = err("PUT", "/made-up")
    assert st == 200 and res["acknowledged"] is True and res["index"] == "made-up"
    assert requests.head(server.url + "/made-up", timeout=5).status_code == 200
    st, res = err("GET", "/made-up/_count")
    assert st == 200 and res["count"] == 0
    st, res = err("PUT", "/Upper")
    assert st == 400 and res["error"]["type"] == "invalid_index_name_exception"
    st, res = err("GET", "/health")
    assert st == 200 and res == {"status": "ok"}
    r = requests.get(server.url + "/metrics", timeout=5)
    assert r.status_code == 200 and "edgeflow_store_documents" in r.text


def test_sigterm_exits_zero_and_data_persists(ws):
    s = Server(ws)
    status, res = bulk_urllib(s.url, readings(int(time.time() * 1000), 5, 1), "keep-me")
    assert res["errors"] is False
    assert s.stop() == 0
    s2 = Server(ws, name="server2")
    st, res = http_json("GET", f"{s2.url}/keep-me/_count")
    assert res["count"] == 5
    assert s2.stop() == 0
    assert "listening on http://127.0.0.1:" in s2.proc.output()
