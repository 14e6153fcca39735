"""`edgeflow up`: the whole platform under one supervisor (real Mosquitto, server, ingest, export).

One long test walks the life of a data dir: start -> readings flow -> a child crashes and is
restarted -> a second `up` is refused -> orderly stop -> restart with the data still there ->
the supervisor is SIGKILLed (children follow) -> a new `up` starts despite the stale lock.
A second, short test checks that a child failing to start is named with its log.
"""
import json
import os
import re
import signal

from conftest import free_port, http_json, wait_for

CHILDREN = ["mosquitto", "server", "ingest", "export"]


def state(home):
    with open(os.path.join(home, "up.json")) as f:
        return json.load(f)


def pids(st):
    return {c["name"]: c["pid"] for c in st["children"]}


def gone(pid):
    """True when pid no longer runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def count(http):
    status, body = http_json("GET", f"{http}/sensor-*/_count")
    return body.get("count") if status == 200 else None


def start_up(ws, name, *args):
    p = ws.edgeflow("up", *args, name=name)
    p.wait_log("edgeflow up: ready", timeout=60)
    return p


def test_up_lifecycle(ws):
    home = os.path.realpath(os.path.join(ws.path, "home"))
    port, mqtt_port = free_port(), free_port()
    up = start_up(ws, "up1", "--port", port, "--mqtt-port", mqtt_port)
    st = state(home)
    http, mqtt = st["http"], st["mqtt"]
    assert http == f"http://127.0.0.1:{port}" and mqtt == f"mqtt://127.0.0.1:{mqtt_port}"
    assert st["pid"] == up.p.pid and st["home"] == home
    assert [c["name"] for c in st["children"]] == CHILDREN
    assert all(c["pid"] > 0 and not gone(c["pid"]) and c["restarts"] == 0
               for c in st["children"])
    out = up.output()
    assert f"MLFLOW_TRACKING_URI={http}" in out and mqtt in out and home in out

    # The one HTTP port serves /health and the MLflow API; the data path works end to end.
    assert http_json("GET", f"{http}/health")[0] == 200
    status, body = http_json("POST", f"{http}/api/2.0/mlflow/experiments/create",
                             {"name": "up-test"})
    assert status == 200, body
    exp_id = body["experiment_id"]
    ws.run("agent", "--count", 5, "--simulate", "--interval", "50ms", "--mqtt", mqtt,
           "--device", "up-d1", check=True)
    wait_for(lambda: count(http) == 5, 20, what="5 readings committed")
    for name in CHILDREN + ["up"]:
        assert os.path.getsize(os.path.join(home, "logs", f"{name}.log")) > 0, name
    with open(os.path.join(home, "mosquitto", "mosquitto.conf")) as f:
        conf = f.read()
    assert f"listener {mqtt_port} 127.0.0.1" in conf and "persistence true" in conf
    assert "max_queued_messages 1000000" in conf

    # A crashed child is restarted: new pid in up.json, restart logged, readings still arrive.
    old = pids(st)
    os.kill(old["ingest"], signal.SIGKILL)
    st = wait_for(lambda: (lambda s: s if pids(s)["ingest"] not in (0, old["ingest"]) else None)(
        state(home)), 20, what="ingest restarted")
    ingest = next(c for c in st["children"] if c["name"] == "ingest")
    assert ingest["restarts"] == 1
    assert {k: v for k, v in pids(st).items() if k != "ingest"} == \
        {k: v for k, v in old.items() if k != "ingest"}
    with open(os.path.join(home, "logs", "up.log")) as f:
        assert re.search(rf"ingest \(pid {old['ingest']}\) died \(signal 9 .*restarting in 1s",
                         f.read())
    ws.run("agent", "--count", 1, "--simulate", "--mqtt", mqtt, "--device", "up-d2", check=True)
    wait_for(lambda: count(http) == 6, 20, what="a reading after the restart")

    # A second `up` on the same data dir is refused and leaves the first alone.
    r = ws.run("up", "--port", free_port(), "--mqtt-port", free_port(), timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"edgeflow up: already running on {home} (pid {up.p.pid}); "
                                f"stop it (kill {up.p.pid}) or use another EDGEFLOW_HOME")
    assert up.alive() and state(home)["pid"] == up.p.pid and pids(state(home)) == pids(st)
    assert http_json("GET", f"{http}/health")[0] == 200

    # SIGTERM: exit 0, children stopped in order, nothing left behind.
    final = pids(state(home))
    assert up.stop(signal.SIGTERM, timeout=60) == 0
    assert all(gone(p) for p in final.values()), final
    assert not os.path.exists(os.path.join(home, "up.json"))
    with open(os.path.join(home, "logs", "up.log")) as f:
        log = f.read()
    order = [log.rindex(f"stopping {n} (pid") for n in ["ingest", "export", "server", "mosquitto"]]
    assert order == sorted(order), log[-2000:]
    with open(os.path.join(home, "logs", "ingest.log")) as f:
        assert "ingest stopped: received" in f.read().splitlines()[-1]

    # Again on the same data dir, without --mqtt-port: the broker keeps its port, data is there.
    up2 = start_up(ws, "up2", "--port", port)
    assert state(home)["mqtt"] == mqtt
    assert count(http) == 6
    status, body = http_json("GET", f"{http}/api/2.0/mlflow/experiments/get?experiment_id={exp_id}")
    assert status == 200 and body["experiment"]["name"] == "up-test"

    # SIGKILL the supervisor: every child gets SIGTERM from the kernel and exits.
    children = pids(state(home))
    up2.kill(signal.SIGKILL)
    wait_for(lambda: all(gone(p) for p in children.values()), 40, what="orphans to exit")
    # The stale lock file and up.json do not block a new `up`. A small --log-max-size rotates
    # each log that is over it to <name>.log.1 when its child starts.
    assert os.path.exists(os.path.join(home, "up.lock"))
    logs = os.path.join(home, "logs")
    up3 = start_up(ws, "up3", "--port", port, "--mqtt-port", mqtt_port, "--log-max-size", "1k")
    assert state(home)["pid"] == up3.p.pid
    assert count(http) == 6
    with open(os.path.join(logs, "ingest.log.1")) as f:
        assert "ingest stopped: received" in f.read()  # the run SIGKILL's PDEATHSIG ended
    with open(os.path.join(logs, "up.log.1")) as f:
        assert f"edgeflow up (pid {up2.p.pid})" in f.read()
    with open(os.path.join(logs, "up.log")) as f:
        assert f"edgeflow up (pid {up3.p.pid})" in f.read()
    # Ctrl-C as a terminal sends it: SIGINT to up's whole process group. The children have their
    # own groups, so only up gets it and stops them in order.
    children = pids(state(home))
    os.killpg(up3.p.pid, signal.SIGINT)
    assert up3.wait(timeout=60) == 0
    assert all(gone(p) for p in children.values())
    with open(os.path.join(logs, "up.log")) as f:
        log = f.read()
    for name in ["ingest", "export", "server", "mosquitto"]:
        assert f"{name} stopped (exit 0)" in log, log[-2000:]


def test_up_external_broker_no_export(ws, mosquitto):
    home = os.path.realpath(os.path.join(ws.path, "home"))
    port = free_port()
    # one config file for up and its children: the server child reads its own section
    cfg = os.path.join(ws.path, "edgeflow.yaml")
    with open(cfg, "w") as f:
        f.write("server:\n  access-log: true\n")
    up = start_up(ws, "up", "--port", port, "--mqtt", mosquitto.url(), "--export-every", "0",
                  "--config", cfg)
    st = state(home)
    assert st["mqtt"] == mosquitto.url()
    assert http_json("GET", f"{st['http']}/api/v1/indices")[0] == 200
    wait_for(lambda: "/api/v1/indices" in open(os.path.join(home, "logs", "server.log")).read(),
             10, what="the server child's access log line (access-log from the --config file)")
    assert [c["name"] for c in st["children"]] == ["server", "ingest"]
    assert not os.path.exists(os.path.join(home, "mosquitto"))
    ws.run("agent", "--count", 2, "--simulate", "--interval", "50ms", "--mqtt", mosquitto.url(),
           "--device", "ext-d1", check=True)
    wait_for(lambda: count(st["http"]) == 2, 20, what="2 readings via the external broker")
    assert up.stop(signal.SIGTERM, timeout=60) == 0
    assert mosquitto.proc.alive()  # not ours to stop
    assert all(gone(p) for p in pids(st).values())


def test_up_start_failure_names_the_child(ws):
    home = os.path.realpath(os.path.join(ws.path, "home"))
    r = ws.run("up", "--port", free_port(), "--mqtt-port", free_port(), "--mosquitto",
               "/bin/false", timeout=60)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last == (f"edgeflow up: mosquitto exited while starting (exit 1); see "
                    f"{home}/logs/mosquitto.log"), r.stderr
    assert not os.path.exists(os.path.join(home, "up.json"))
    # Busy HTTP port: refused up front, no child started.
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        r = ws.run("up", "--port", busy, "--mqtt-port", free_port(), timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == \
        f"edgeflow up: HTTP port {busy} on 127.0.0.1 is in use; choose another --port"
