"""Helpers for the sensor data-path tests: start agents/ingest, read the SQLite store directly."""
import collections
import json
import os
import sqlite3

from conftest import wait_for


def store_path(ws):
    return os.path.join(ws.path, "home", "series.db")


def rows(db):
    """All stored documents as dicts (with _index and _key), or [] before the store exists."""
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        cur = con.execute("SELECT idx, key, collected, source FROM docs ORDER BY id")
        out = []
        for idx, key, collected, source in cur:
            d = json.loads(source)
            d["_index"], d["_key"], d["_collected"] = idx, key, collected
            out.append(d)
        return out
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def dead_letters(db):
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT topic, reason, payload FROM dead_letters ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def seqs_by_device(docs):
    by = collections.defaultdict(list)
    for d in docs:
        by[d["device"]].append(d["seq"])
    return by


def assert_complete(docs, devices, min_each=1):
    """Every device has readings seq 1..max, each exactly once (nothing lost, nothing doubled)."""
    by = seqs_by_device(docs)
    assert sorted(by) == sorted(devices), f"devices in store: {sorted(by)}"
    for dev, seqs in by.items():
        c = collections.Counter(seqs)
        dups = [s for s, n in c.items() if n > 1]
        assert not dups, f"{dev}: duplicated seqs {dups[:10]}"
        top = max(seqs)
        missing = sorted(set(range(1, top + 1)) - set(seqs))
        assert not missing, f"{dev}: lost seqs {missing[:20]} (of 1..{top})"
        assert top >= min_each, f"{dev}: only {top} readings"
    return {dev: max(seqs) for dev, seqs in by.items()}


def start_ingest(ws, broker, *extra, name="ingest", client_id="ingest-test"):
    p = ws.edgeflow("ingest", "--mqtt", broker.url(), "--client-id", client_id,
                    "--batch-time", "20ms", *extra, name=name)
    p.wait_log("subscribed to", timeout=20)
    return p


def start_agent(ws, broker_url, device, interval="100ms", *extra):
    return ws.edgeflow("agent", "--mqtt", broker_url, "--device", device, "--interval", interval,
                       "--simulate", "--no-spool-fsync", *extra, name=f"agent-{device}")


def spool_pending(ws, device):
    r = ws.run("agent", "--check-spool", os.path.join(ws.path, "home", "spool", device))
    assert r.returncode == 0, r.stdout + r.stderr
    return int(r.stdout.split(" pending")[0].rsplit(" ", 1)[1])


def wait_rows(db, n, timeout=30):
    return wait_for(lambda: len(rows(db)) >= n and rows(db), timeout, what=f"{n} stored readings")


def gapless_rows(db, min_total):
    """The stored rows once every device's seqs are exactly 1..max and there are >= min_total."""
    r = rows(db)
    if len(r) < min_total:
        return None
    for seqs in seqs_by_device(r).values():
        if len(seqs) != max(seqs) or len(set(seqs)) != len(seqs):
            return None
    return r
