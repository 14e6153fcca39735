#!/usr/bin/python3
"""glue_paho_sqlite.py - the reference for `edgeflow ingest`: the MQTT -> SQLite glue people write.

This is the Python subscriber teams write today instead of a NiFi flow: paho-mqtt (Debian's
python3-paho-mqtt 1.6) subscribed to sensor/+ at QoS 1 with a persistent session, each reading
parsed with json, given `collected` = now (epoch ms) if missing (the NiFi Jolt reference), and
inserted into SQLite with Python's sqlite3 module at its default settings (rollback journal,
synchronous=FULL). Two ways of writing it are measured:

  --mode per-message  INSERT + commit() in on_message, the way it is usually written. paho sends
                      the PUBACK after on_message returns, so this one is also "ack after commit".
  --mode batched      rows buffered and committed with executemany every --batch-size rows or
                      --batch-time seconds, the usual optimisation. paho still acknowledges each
                      message when on_message returns, i.e. BEFORE its commit: a crash loses up
                      to a batch of acknowledged readings (edgeflow acks only after commit).

It stops after --count readings are committed or after --max-seconds, and prints
"committed=N elapsed=S" (seconds since the process started connecting).
--create-session only connects, subscribes (clean session off) and disconnects, so the broker
queues the benchmark's readings for this client id.
"""
import argparse
import json
import sqlite3
import sys
import time

import paho.mqtt.client as mqtt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--topic", default="sensor/+")
    ap.add_argument("--db", default="glue.db")
    ap.add_argument("--mode", choices=("per-message", "batched"), default="per-message")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--batch-time", type=float, default=0.05)
    ap.add_argument("--count", type=int, default=0, help="stop after N committed (0: never)")
    ap.add_argument("--max-seconds", type=float, default=0, help="stop after S seconds (0: never)")
    ap.add_argument("--create-session", action="store_true")
    a = ap.parse_args()

    t0 = time.time()
    client = mqtt.Client(client_id=a.client_id, clean_session=False)
    state = {"subscribed": False, "committed": 0, "pending": [], "first": 0.0, "stop": False}

    def on_connect(c, _userdata, _flags, rc):
        if rc != 0:
            sys.exit(f"glue: connect refused: {mqtt.connack_string(rc)}")
        c.subscribe(a.topic, qos=1)

    def on_subscribe(_c, _userdata, _mid, _granted):
        state["subscribed"] = True

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe

    if a.create_session:
        client.connect(a.host, a.port, keepalive=60)
        deadline = time.time() + 10
        while not state["subscribed"] and time.time() < deadline:
            client.loop(timeout=0.1)
        client.disconnect()
        return 0 if state["subscribed"] else 1

    db = sqlite3.connect(a.db)
    db.execute("CREATE TABLE IF NOT EXISTS readings(id INTEGER PRIMARY KEY, topic TEXT, "
               "device TEXT, ts INTEGER, collected INTEGER, doc TEXT)")
    db.commit()
    insert = "INSERT INTO readings(topic, device, ts, collected, doc) VALUES (?, ?, ?, ?, ?)"

    def row(msg):
        reading = json.loads(msg.payload)
        if "collected" not in reading:
            reading["collected"] = int(time.time() * 1000)
        reading["collected"] = int(reading["collected"])
        return (msg.topic, reading.get("device"), reading.get("ts"), reading["collected"],
                json.dumps(reading))

    def flush():
        if state["pending"]:
            db.executemany(insert, state["pending"])
            db.commit()
            state["committed"] += len(state["pending"])
            state["pending"] = []

    def check_done():
        if a.count and state["committed"] >= a.count:
            state["stop"] = True

    def on_message_per_message(_c, _userdata, msg):
        try:
            db.execute(insert, row(msg))
            db.commit()
        except (ValueError, TypeError) as e:
            print(f"glue: bad reading on {msg.topic}: {e}", file=sys.stderr)
            return
        state["committed"] += 1
        check_done()

    def on_message_batched(_c, _userdata, msg):
        try:
            r = row(msg)
        except (ValueError, TypeError) as e:
            print(f"glue: bad reading on {msg.topic}: {e}", file=sys.stderr)
            return
        if not state["pending"]:
            state["first"] = time.time()
        state["pending"].append(r)
        if len(state["pending"]) >= a.batch_size:
            flush()
            check_done()

    client.on_message = on_message_per_message if a.mode == "per-message" else on_message_batched
    client.connect(a.host, a.port, keepalive=60)
    while not state["stop"]:
        client.loop(timeout=0.01)
        if state["pending"] and time.time() - state["first"] >= a.batch_time:
            flush()
            check_done()
        if a.max_seconds and time.time() - t0 >= a.max_seconds:
            break
    flush()
    elapsed = time.time() - t0
    client.disconnect()
    db.close()
    print(f"committed={state['committed']} elapsed={elapsed:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
