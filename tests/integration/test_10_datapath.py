"""agent -> Mosquitto -> ingest -> store, end to end, with outages and crashes."""
import json
import re
import signal
import subprocess
import time

from conftest import Mosquitto, free_port, http_json, wait_for
from datapath import (assert_complete, dead_letters, gapless_rows, rows, spool_pending,
                      start_agent, start_ingest, store_path, wait_rows)


def test_agent_to_store_counts_every_reading(ws, mosquitto):
    ingest = start_ingest(ws, mosquitto)
    agents = [start_agent(ws, mosquitto.url(), f"lab-d{i}", "50ms", "--count", "40")
              for i in (1, 2, 3)]
    for a in agents:
        assert a.wait(60) == 0, a.output()
    db = store_path(ws)
    docs = wait_rows(db, 120)
    assert len(docs) == 120
    assert_complete(docs, ["lab-d1", "lab-d2", "lab-d3"], min_each=40)
    d = docs[0]
    assert d["simulated"] is True and isinstance(d["temp"], int) and isinstance(d["load"], float)
    assert isinstance(d["collected"], int) and d["collected"] == d["_collected"]
    assert d["_index"] == time.strftime("sensor-%Y-%m", time.gmtime(d["collected"] / 1000))
    assert d["_key"] == f"{d['device']}:s{d['seq']}:t{d['ts']}"
    assert ingest.stop() == 0
    assert "committed 120" in ingest.output()
    for dev in ("lab-d1", "lab-d2", "lab-d3"):
        assert spool_pending(ws, dev) == 0


def test_broker_down_30s_loses_and_duplicates_nothing(ws):
    port = free_port()
    broker = Mosquitto(ws, port=port)
    ingest = start_ingest(ws, broker)
    devices = ["lab-d1", "lab-d2", "lab-d3"]
    agents = [start_agent(ws, broker.url(), d, "200ms") for d in devices]
    db = store_path(ws)
    wait_rows(db, 15)
    broker.stop()
    time.sleep(30)
    for d in devices:  # readings taken during the outage wait in the spools
        assert spool_pending(ws, d) >= 100
    broker.start()
    # agents reconnect within their back-off cap (--reconnect-max, 10 s) and drain in order
    wait_for(lambda: all(spool_pending(ws, d) < 5 for d in devices), 45, interval=0.5,
             what="spools drained")
    for a in agents:
        assert a.stop() == 0, a.output()
    for d, a in zip(devices, agents):
        assert spool_pending(ws, d) == 0, a.output()[-2000:]
    docs = wait_for(lambda: gapless_rows(db, 3 * 160), 60, what="all readings stored")
    totals = assert_complete(docs, devices, min_each=160)
    assert len(docs) == sum(totals.values())
    assert ingest.stop() == 0


def test_ingest_sigkill_mid_stream_loses_nothing(ws, mosquitto):
    devices = ["lab-d1", "lab-d2", "lab-d3"]
    ingest = start_ingest(ws, mosquitto, "--batch-size", "50")
    agents = [start_agent(ws, mosquitto.url(), d, "10ms") for d in devices]
    db = store_path(ws)
    wait_rows(db, 200)
    ingest.kill(signal.SIGKILL)
    time.sleep(2)  # readings queue in the broker for ingest's persistent session
    ingest = start_ingest(ws, mosquitto, "--batch-size", "50", name="ingest2")
    time.sleep(2)
    for a in agents:
        assert a.stop() == 0
    docs = wait_for(lambda: gapless_rows(db, 600), 60, what="gapless store")
    totals = assert_complete(docs, devices, min_each=200)
    assert len(docs) == sum(totals.values())
    assert ingest.stop() == 0


def test_agent_sigkill_offline_spool_intact_and_drains(ws):
    port = free_port()  # nothing listens yet: the agent is offline
    url = f"mqtt://127.0.0.1:{port}"
    agent = start_agent(ws, url, "lab-d7", "50ms")
    time.sleep(2)
    agent.kill(signal.SIGKILL)
    pending = spool_pending(ws, "lab-d7")
    assert pending >= 20
    broker = Mosquitto(ws, port=port)
    ingest = start_ingest(ws, broker)
    agent = start_agent(ws, url, "lab-d7", "50ms", "--count", "10")
    assert agent.wait(60) == 0, agent.output()
    db = store_path(ws)
    docs = wait_rows(db, pending + 10)
    totals = assert_complete(docs, ["lab-d7"], min_each=pending + 10)
    assert totals["lab-d7"] == len(docs)
    assert spool_pending(ws, "lab-d7") == 0
    assert ingest.stop() == 0


def test_bad_payloads_go_to_dead_letters_and_stream_goes_on(ws, mosquitto, tmp_path):
    ingest = start_ingest(ws, mosquitto, "--max-payload", "256")
    bad_utf8 = tmp_path / "bad.bin"
    bad_utf8.write_bytes(b'{"device":"x","v":"\xc3\x28"}')
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"device": "x", "pad": "y" * 1000}))

    def pub(*args):
        subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t",
                        "sensor/x", *args], check=True)

    pub("-m", '{"device":"x","seq":1,"ts":1}')
    pub("-m", '{"device":"x","temp":')
    pub("-f", str(bad_utf8))
    pub("-m", '{"device":"x","seq":"two"}')
    pub("-m", "[1,2,3]")
    pub("-f", str(big))
    pub("-m", '{"device":"x","collected":"yesterday"}')
    pub("-m", '{"device":"x","seq":2,"ts":2}')
    db = store_path(ws)
    wait_for(lambda: len(dead_letters(db)) == 6 and len(rows(db)) == 2, 20, what="dead letters")
    reasons = [r for _, r, _ in dead_letters(db)]
    assert reasons[0].startswith("invalid JSON"), reasons
    assert reasons[1] == "invalid UTF-8 at byte 19", reasons
    assert '"seq" must be a non-negative integer' in reasons[2]
    assert reasons[3] == "not a JSON object"
    assert reasons[4].startswith("payload too large"), reasons
    assert reasons[5].startswith("transform failed"), reasons
    raw = dead_letters(db)[1][2]
    assert raw == bad_utf8.read_bytes()  # the raw payload is kept unchanged
    assert [d["seq"] for d in rows(db)] == [1, 2]
    assert ingest.stop() == 0


def test_shared_subscription_splits_the_load(ws, mosquitto):
    i1 = start_ingest(ws, mosquitto, "--share", "g", name="ingest-a", client_id="ing-a")
    i2 = start_ingest(ws, mosquitto, "--share", "g", name="ingest-b", client_id="ing-b")
    agents = [start_agent(ws, mosquitto.url(), f"lab-d{i}", "20ms", "--count", "50")
              for i in (1, 2)]
    for a in agents:
        assert a.wait(60) == 0
    db = store_path(ws)
    docs = wait_rows(db, 100)
    assert_complete(docs, ["lab-d1", "lab-d2"], min_each=50)
    assert len(docs) == 100
    assert i1.stop() == 0 and i2.stop() == 0
    got = [int(re.search(r"ingest stopped: received (\d+)", p.output()).group(1)) for p in (i1, i2)]
    assert all(n > 0 for n in got) and sum(got) >= 100, got


def test_agent_help_and_errors(ws):
    r = ws.run("agent", "--help")
    assert r.returncode == 0 and "--spool-max" in r.stdout
    r = ws.run("agent", "--interval", "soon")
    assert r.returncode == 2 and "invalid duration" in r.stderr
    r = ws.run("ingest", "--index", "Sensor/%Y")
    assert r.returncode == 2 and "--index" in r.stderr
    r = ws.run("--version")
    assert r.returncode == 0 and r.stdout.startswith("edgeflow ")


def test_ingest_metrics_and_health(ws, mosquitto):
    port = free_port()
    ingest = start_ingest(ws, mosquitto, "--metrics-port", port)
    agent = start_agent(ws, mosquitto.url(), "lab-m1", "20ms", "--count", "25")
    assert agent.wait(60) == 0
    subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t", "sensor/x",
                    "-m", "not json"], check=True)
    db = store_path(ws)
    wait_rows(db, 25)

    def metric(text, name):
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def scrape():
        status, text = http_json("GET", f"http://127.0.0.1:{port}/metrics")
        return text if status == 200 and metric(text, "edgeflow_ingest_dead_letters_total") else None

    text = wait_for(scrape, 20, what="metrics with the dead letter")
    assert metric(text, "edgeflow_ingest_received_total") == 26
    assert metric(text, "edgeflow_ingest_committed_total") == 25
    assert metric(text, "edgeflow_ingest_dead_letters_total") == 1
    assert metric(text, "edgeflow_ingest_duplicates_total") == 0
    assert metric(text, "edgeflow_ingest_broker_connected") == 1
    assert metric(text, "edgeflow_ingest_batch_latency_seconds_count") >= 1
    assert "# TYPE edgeflow_ingest_commit_seconds histogram" in text
    status, body = http_json("GET", f"http://127.0.0.1:{port}/health")
    assert status == 200 and body["status"] == "ok"
    mosquitto.stop()
    wait_for(lambda: http_json("GET", f"http://127.0.0.1:{port}/health")[0] == 503, 20,
             what="health 503 while the broker is down")
    assert ingest.stop() == 0
