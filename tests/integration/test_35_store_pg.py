"""The store on PostgreSQL: ingest commits to a real PostgreSQL cluster started by the test, and the
store query API answers the same over PostgreSQL as over SQLite.

Each test starts its own cluster (scripts/pg-test-cluster.sh: temp dir, free port, 127.0.0.1),
Mosquitto and edgeflow processes, and stops them. Skips only when the PostgreSQL server binaries
are not installed, or (for the query API) while `edgeflow server` is not part of the binary yet.
"""
import json
import signal
import subprocess
import time

import pytest

from conftest import EDGEFLOW, free_port, http_json, wait_for, wait_port
from datapath import assert_complete, start_agent, start_ingest
from pgcluster import PgCluster

pytestmark = pytest.mark.skipif(not PgCluster.available(),
                                reason="PostgreSQL server binaries (initdb, pg_ctl) not installed")


@pytest.fixture
def pg():
    c = PgCluster()
    yield c
    c.stop()


def pg_rows(pg):
    """Stored documents as dicts (with _index, _key, _collected), [] before the schema exists."""
    r = pg.psql("SELECT idx, key, collected, source FROM docs ORDER BY id", check=False)
    if r.returncode != 0:
        return []
    out = []
    for line in r.stdout.split("\n"):
        if not line:
            continue
        idx, key, collected, source = line.split("\x1f", 3)
        d = json.loads(source)
        d["_index"], d["_key"], d["_collected"] = idx, key, int(collected)
        out.append(d)
    return out


def gapless(pg, devices, min_each):
    docs = pg_rows(pg)
    by = {}
    for d in docs:
        by.setdefault(d["device"], []).append(d["seq"])
    if sorted(by) != sorted(devices):
        return None
    for seqs in by.values():
        if len(seqs) < min_each or len(seqs) != max(seqs) or len(set(seqs)) != len(seqs):
            return None
    return docs


def test_ingest_commits_to_postgres(ws, mosquitto, pg):
    ingest = start_ingest(ws, mosquitto, "--store", pg.uri)
    devices = ["pg-d1", "pg-d2", "pg-d3"]
    agents = [start_agent(ws, mosquitto.url(), d, "30ms", "--count", "30") for d in devices]
    for a in agents:
        assert a.wait(60) == 0, a.output()
    docs = wait_for(lambda: gapless(pg, devices, 30), 30, what="90 readings in PostgreSQL")
    assert len(docs) == 90
    assert_complete(docs, devices, min_each=30)
    d = docs[0]
    assert d["_key"] == f"{d['device']}:s{d['seq']}:t{d['ts']}"
    assert isinstance(d["collected"], int) and d["collected"] == d["_collected"]
    assert d["_index"] == time.strftime("sensor-%Y-%m", time.gmtime(d["collected"] / 1000))

    # a bad payload lands in dead_letters with its raw bytes (bytea) and a reason
    raw = b'{"device":"pg-bad","temp":\xff\x00 oops'
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-q", "1",
                    "-t", "sensor/pg-bad", "-s"], input=raw, check=True, timeout=10)
    dead = wait_for(lambda: pg.query("SELECT topic, reason, encode(payload, 'hex') "
                                     "FROM dead_letters"), 20, what="a dead letter")
    assert dead[0][0] == "sensor/pg-bad"
    assert dead[0][1]
    assert bytes.fromhex(dead[0][2]) == raw
    assert ingest.stop() == 0
    assert "committed 90" in ingest.output()
    # the store's own integrity view agrees
    assert pg.scalar("SELECT count(*) FROM docs") == "90"
    assert pg.scalar("SELECT count(DISTINCT key) FROM docs") == "90"


def test_ingest_sigkill_postgres_loses_and_duplicates_nothing(ws, mosquitto, pg):
    devices = ["pg-k1", "pg-k2"]
    ingest = start_ingest(ws, mosquitto, "--store", pg.uri, "--batch-size", "50")
    agents = [start_agent(ws, mosquitto.url(), d, "10ms") for d in devices]
    wait_for(lambda: len(pg_rows(pg)) >= 150, 30, what="150 readings in PostgreSQL")
    ingest.kill(signal.SIGKILL)
    time.sleep(1.5)  # readings queue in the broker for ingest's persistent session
    ingest = start_ingest(ws, mosquitto, "--store", pg.uri, "--batch-size", "50", name="ingest2")
    time.sleep(1.5)
    for a in agents:
        assert a.stop() == 0
    docs = wait_for(lambda: gapless(pg, devices, 150), 60, what="gapless store in PostgreSQL")
    totals = assert_complete(docs, devices, min_each=150)
    assert len(docs) == sum(totals.values())
    assert ingest.stop() == 0


# --- the query API: PostgreSQL answers like SQLite ----------------------------------------------

def server_available():
    try:
        r = subprocess.run([EDGEFLOW, "server", "--help"], capture_output=True, text=True,
                           timeout=20)
    except OSError:
        return False
    return r.returncode == 0 and "--store" in (r.stdout + r.stderr)


def start_server(ws, store, name):
    port = free_port()
    p = ws.edgeflow("server", "--port", port, "--store", store, name=name)
    wait_port(port)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_json("GET", base + "/health")[0] == 200, 20, what=f"{name} /health")
    return p, base


def bulk_body(now_ms, index):
    lines = []
    for i in range(60):
        # 45 readings in the last hour, 15 older; numbers, strings, bools, a nested object
        collected = now_ms - (i * 60_000 if i < 45 else 3 * 3600_000 + i * 1000)
        lines.append(json.dumps({"index": {"_index": index, "_id": f"r{i}"}}))
        lines.append(json.dumps({"device": f"lab-d{i % 3}", "seq": i, "temp": 40_000 + 17 * i,
                                 "load": round(i / 7.0, 3), "ok": i % 2 == 0,
                                 "tag": f"t{i % 5}", "meta": {"fw": f"1.{i % 4}"},
                                 "collected": collected}))
    # create on an existing id is a conflict; a doc without _id gets a generated one
    lines.append(json.dumps({"create": {"_index": index, "_id": "r1"}}))
    lines.append(json.dumps({"device": "dup"}))
    lines.append(json.dumps({"index": {"_index": "other-1"}}))
    lines.append(json.dumps({"device": "other", "temp": "hot", "collected": now_ms}))
    return "\n".join(lines) + "\n"


QUERIES = [
    ("{index}", {"size": 10000, "query": {"range": {"collected": {"gte": "now-1h"}}}}),
    ("sensor-*", {"size": 10000, "query": {"range": {"collected": {"gte": "now-1h"}}}}),
    ("sensor-*", {"query": {"match_all": {}}, "size": 5, "sort": [{"seq": "desc"}]}),
    ("sensor-*", {"query": {"term": {"device": "lab-d1"}}, "size": 100, "sort": ["seq"]}),
    ("sensor-*", {"query": {"term": {"device.keyword": "lab-d2"}}, "size": 0}),
    ("_all", {"query": {"terms": {"tag": ["t1", "t3"]}}, "size": 100, "sort": ["seq"]}),
    ("sensor-*", {"query": {"range": {"temp": {"gte": 40_170, "lt": 40_340}}}, "sort": ["seq"]}),
    ("sensor-*", {"query": {"range": {"load": {"gt": 5.5}}}, "sort": ["seq"], "size": 100}),
    ("sensor-*", {"query": {"term": {"ok": True}}, "size": 100, "sort": ["seq"]}),
    ("sensor-*", {"query": {"term": {"seq": 7}}}),
    # a real: jsonb compares numbers as decimals, so the parameter must be "0.857", not 17 digits
    ("sensor-*", {"query": {"term": {"load": 0.857}}}),
    ("sensor-*", {"query": {"term": {"meta.fw": "1.2"}}, "size": 100, "sort": ["seq"]}),
    ("sensor-*", {"query": {"bool": {"filter": [{"term": {"device": "lab-d0"}}],
                                     "must": [{"range": {"collected": {"gte": "now-30m"}}}]}},
                  "sort": [{"collected": "asc"}], "size": 100}),
    ("sensor-*", {"query": {"bool": {"filter": [{"term": {"device": "lab-d0"}},
                                                {"range": {"collected": {"gte": "now-30m"}}}],
                                     "must_not": [{"term": {"tag": "t0"}}]}},
                  "sort": ["seq"], "size": 100}),
    ("sensor-*", {"query": {"bool": {"should": [{"term": {"seq": 1}}, {"term": {"seq": 2}}]}},
                  "sort": ["seq"]}),
    ("*", {"query": {"exists": {"field": "tag"}}, "size": 0}),
    ("sensor-*", {"query": {"match_all": {}}, "from": 55, "size": 10, "sort": ["seq"]}),
    ("*", {"query": {"range": {"temp": {"gte": "h"}}}}),
    ("sensor-*", {"query": {"term": {"_id": "r3"}}}),
    ("sensor-*", {"query": {"nope": {}}}),
]


def normalise(status, body):
    """What must be equal across backends: status, totals, hits (_index, _id, _source, sort)."""
    if not isinstance(body, dict):
        return status, body
    if "hits" in body:
        hits = [{k: h.get(k) for k in ("_index", "_id", "_source", "sort")}
                for h in body["hits"]["hits"]]
        return status, body["hits"]["total"]["value"], hits
    if "count" in body:
        return status, body["count"]
    if "error" in body:
        return status, body["error"].get("type")
    return status, body


@pytest.mark.skipif(not server_available(), reason="`edgeflow server --store` not built yet")
def test_store_api_postgres_answers_like_sqlite(ws, pg):
    sqlite_srv, sqlite_base = start_server(ws, "sqlite:" + ws.path + "/series.db", "server-sqlite")
    pg_srv, pg_base = start_server(ws, pg.uri, "server-pg")
    now_ms = int(time.time() * 1000)
    index = time.strftime("sensor-%Y-%m", time.gmtime(now_ms / 1000))
    body = bulk_body(now_ms, index)
    results = {}
    for name, base in (("sqlite", sqlite_base), ("pg", pg_base)):
        st, out = http_json("POST", base + "/_bulk", body.encode(),
                            headers={"Content-Type": "application/x-ndjson"})
        assert st == 200, out
        statuses = [next(iter(it.values()))["status"] for it in out["items"]]
        assert statuses == [201] * 60 + [409, 201], (name, statuses)
        assert out["errors"] is True
        res = []
        for pattern, q in QUERIES:
            pattern = pattern.format(index=index)
            s, o = http_json("POST", f"{base}/{pattern}/_search", q)
            if s == 200 and "hits" in o:
                for h in o["hits"]["hits"]:
                    if h["_index"] == "other-1":
                        h["_id"] = "<generated>"
            res.append(("search", pattern, normalise(s, o)))
            cq = {"query": q["query"]}
            s, o = http_json("POST", f"{base}/{pattern}/_count", cq)
            res.append(("count", pattern, normalise(s, o)))
        s, o = http_json("GET", base + "/api/v1/indices")
        assert s == 200, o
        res.append(("indices", o))
        results[name] = res
    # the reference hourly dump sees exactly the last hour
    assert results["pg"][0][2][1] == 45
    # the term on a real finds its document on both backends
    i = QUERIES.index(("sensor-*", {"query": {"term": {"load": 0.857}}}))
    assert results["pg"][2 * i][2][1] == 1, results["pg"][2 * i]
    for a, b in zip(results["sqlite"], results["pg"]):
        assert a == b, f"SQLite and PostgreSQL differ:\n  sqlite: {a}\n  pg:     {b}"
    # and the rows really are in PostgreSQL
    assert pg.scalar("SELECT count(*) FROM docs") == "61"
    assert sqlite_srv.stop() == 0
    assert pg_srv.stop() == 0
