"""edgeflow's own MQTT client (src/mqtt/) against a second broker: RabbitMQ 3.10 + MQTT plugin.

agent -> RabbitMQ -> ingest -> store, checking that every reading is stored exactly once, that
RabbitMQ keeps and redelivers the QoS 1 messages of ingest's persistent 3.1.1 session (clean
session off) when ingest is SIGKILLed with PUBACKs held, and how a v5 CONNECT fares.

RabbitMQ 3.10 speaks MQTT 3.1.1 only, so both roles run with --mqtt-version 4 (agent's default;
ingest defaults to 5). Skipped, with the reason, when rabbitmq-server is not installed or the node
does not start here. One node serves the whole module (start-up ~10 s); each test uses its own
client ids and devices.
"""
import re
import signal
import time
import urllib.request

import pytest

from conftest import free_port, wait_for
from datapath import assert_complete, rows, spool_pending, start_agent, start_ingest, store_path
from rabbitmq import RabbitMQ, StartError, missing

# RabbitMQ's MQTT plugin consumes each subscription queue with an AMQP prefetch (mqtt.prefetch,
# default 10): at most that many QoS 1 deliveries per connection wait for their PUBACK. ingest
# sends PUBACKs only after the batch holding the readings is committed, so with 10 every batch
# would hold at most 10 readings and a batch could only close on --batch-time (throughput capped
# at 10 readings per batch-time), and the "held PUBACKs are redelivered" test below could not see
# more than 10 readings in flight. 2000 matches ingest's own in-flight budget (its v5 Receive
# Maximum defaults to 2 x --batch-size = 2000), which a 3.1.1 broker has no way to learn.
MQTT_CONFIG = "mqtt.prefetch = 2000\n"

V4 = ("--mqtt-version", "4")


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    why = missing()
    if why:
        pytest.skip(why)
    try:
        node = RabbitMQ(str(tmp_path_factory.mktemp("rabbitmq")), free_port, MQTT_CONFIG)
    except StartError as e:
        pytest.skip(f"RabbitMQ node did not start in this environment: {e}")
    yield node
    node.stop()


def agent_totals(agent):
    """(samples taken, left in spool) from an agent's final log line."""
    m = re.search(r"agent stopped: (\d+) samples taken, \d+ acknowledged this run, (\d+) left",
                  agent.output())
    assert m, agent.output()[-2000:]
    return int(m.group(1)), int(m.group(2))


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def test_rabbitmq_agents_to_store_exactly_once(ws, rabbit):
    ingest = start_ingest(ws, rabbit, *V4, client_id="ingest-rmq")
    assert "(MQTT 3.1.1, session present 0)" in ingest.output()
    devices = ["lab-r1", "lab-r2"]
    agents = [start_agent(ws, rabbit.url(), d, "50ms", "--count", "30") for d in devices]
    for a in agents:
        assert a.wait(60) == 0, a.output()[-3000:]
        assert "(MQTT 3.1.1, session present 0)" in a.output()
    db = store_path(ws)
    docs = wait_for(lambda: len(rows(db)) >= 60 and rows(db), 30, what="60 stored readings")
    time.sleep(0.3)  # a 61st row would be a duplicate
    docs = rows(db)
    assert len(docs) == 60
    assert_complete(docs, devices, min_each=30)
    assert ingest.stop() == 0, ingest.output()[-3000:]
    assert "received 60, committed 60, duplicates 0, dead letters 0" in ingest.output()
    for d in devices:
        assert spool_pending(ws, d) == 0


def test_rabbitmq_redelivers_readings_whose_puback_ingest_held(ws, rabbit):
    """ingest receives everything but commits nothing (long batch), is SIGKILLed: RabbitMQ must
    still hold every reading in the session's durable queue and redeliver it to the next ingest."""
    cid = "ingest-rmq-held"
    mport = free_port()
    first = start_ingest(ws, rabbit, *V4, "--batch-time", "60s", "--metrics-port", mport,
                         client_id=cid)
    devices = ["lab-h1", "lab-h2"]
    agents = [start_agent(ws, rabbit.url(), d, "10ms", "--count", "50") for d in devices]
    for a in agents:  # RabbitMQ PUBACKed all 100 to the agents
        assert a.wait(60) == 0, a.output()[-3000:]
    wait_for(lambda: metric(mport, "edgeflow_ingest_received_total") == 100, 20,
             what="first ingest received all 100 (PUBACKs held)")
    db = store_path(ws)
    assert rows(db) == []  # nothing committed, so nothing acknowledged
    first.kill(signal.SIGKILL)
    queue = f"mqtt-subscription-{cid}qos1"  # the 3.1.1 persistent session's queue
    wait_for(lambda: rabbit.queues().get(queue) == (100, True), 20, interval=0.5,
             what=f"100 messages back in durable queue {queue}")
    second = start_ingest(ws, rabbit, *V4, name="ingest2", client_id=cid)
    assert "(MQTT 3.1.1, session present 1)" in second.output()
    docs = wait_for(lambda: len(rows(db)) >= 100 and rows(db), 30, what="100 stored readings")
    time.sleep(0.3)
    docs = rows(db)
    assert len(docs) == 100
    assert_complete(docs, devices, min_each=50)
    assert second.stop() == 0, second.output()[-3000:]
    assert "received 100, committed 100, duplicates 0" in second.output()
    assert rabbit.queues().get(queue) == (0, True)  # PUBACKs after commit removed them


def test_rabbitmq_ingest_sigkill_mid_stream_loses_nothing(ws, rabbit):
    cid = "ingest-rmq-kill"
    ingest = start_ingest(ws, rabbit, *V4, "--batch-size", "50", client_id=cid)
    devices = ["lab-m1", "lab-m2"]
    agents = [start_agent(ws, rabbit.url(), d, "10ms") for d in devices]
    db = store_path(ws)
    wait_for(lambda: len(rows(db)) >= 100, 30, what="100 stored readings")
    ingest.kill(signal.SIGKILL)
    time.sleep(1)  # readings queue in RabbitMQ for the session meanwhile
    ingest = start_ingest(ws, rabbit, *V4, "--batch-size", "50", name="ingest2", client_id=cid)
    assert "(MQTT 3.1.1, session present 1)" in ingest.output()
    time.sleep(1)
    total = 0
    for a in agents:
        assert a.stop() == 0, a.output()[-3000:]
        taken, left = agent_totals(a)
        assert left == 0, a.output()[-3000:]
        total += taken
    assert total >= 200
    wait_for(lambda: len(rows(db)) >= total, 30, what=f"{total} stored readings")
    time.sleep(0.3)
    docs = rows(db)
    totals = assert_complete(docs, devices, min_each=100)
    assert len(docs) == sum(totals.values()) == total
    assert ingest.stop() == 0, ingest.output()[-3000:]


def test_rabbitmq_mqtt5_connect_is_refused_and_retried(ws, rabbit):
    """RabbitMQ 3.10 closes a v5 CONNECT without CONNACK: ingest (v5 by default) must keep
    retrying with back-off, never subscribe, and still stop cleanly."""
    ingest = ws.edgeflow("ingest", "--mqtt", rabbit.url(), "--client-id", "ingest-rmq-v5",
                         "--reconnect-max", "500ms", name="ingest-v5")
    refused = "failed (connection closed; the broker may not support MQTT 5: try --mqtt-version 4)"
    wait_for(lambda: ingest.output().count(refused) >= 3, 15,
             what="three refused v5 connection attempts, each with the hint")
    assert ingest.alive()
    assert "subscribed to" not in ingest.output()
    assert ingest.stop() == 0, ingest.output()[-3000:]
