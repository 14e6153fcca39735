"""`edgeflow demo` end to end (what `make demo` runs), then `edgeflow up` again on the same data dir.

The demo starts its own `edgeflow up` (free ports), runs every step with a short publishing window
and the --quick training settings, stops `up`, and leaves <home>/demo-summary.json. The test checks
each step's result independently of the demo's own checks: readings committed and stored, the
exported CSV on disk, the registry (WineQuality in Production, the EEG models registered), and
the served prediction against `edgeflow predict` run offline on the cached model directory. Then
`up` restarts on the same data dir with everything still there, a second `up` on that dir is
refused with a clear message, and SIGTERM stops the first with exit 0. A second run exports to
S3 (s3rver) instead of a folder and leaves its `up` running (--keep-running).
"""
import json
import os
import signal
import urllib.request

from conftest import free_port, wait_for
from s3rver import S3rver

REF = [6.4, 0.57, 0.02, 1.8, 0.067, 4.0, 11.0, 0.997, 3.46, 0.68, 9.5]
WINE_COLS = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
             "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol"]


def http(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def offline_predict(ws, model_dir):
    rows = os.path.join(ws.path, "ref.csv")
    with open(rows, "w") as f:
        f.write(",".join(WINE_COLS) + "\n" + ",".join(map(str, REF)) + "\n")
    r = ws.run("predict", "--model", model_dir, "--data", rows, check=True)
    lines = r.stdout.split()
    assert lines[0] == "prediction", r.stdout
    return float(lines[1])


def test_demo_then_up_restarts_with_everything(ws):
    home = os.path.join(ws.path, "home")
    port, mqtt = free_port(), free_port()
    r = ws.run("demo", "--home", home, "--quick", "--publish-for", "3s", "--interval", "500ms",
               "--port", port, "--mqtt-port", mqtt, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    for step in range(1, 7):
        assert f"==> [{step}/6]" in out, out[-3000:]
    with open(os.path.join(home, "demo-summary.json")) as f:
        s = json.load(f)
    assert s["ok"] is True

    # 1. readings: committed while the demo watched, all stored after the agents drained
    sens = s["sensors"]
    assert sens["agents"] == ["lab-d1", "lab-d2", "lab-d3"]
    assert sens["committed"] >= 3 and sens["rate"] > 0
    assert sens["stored"] >= sens["committed"]
    # 2. the export: a CSV with a header and exactly the rows the export reported
    exp = s["export"]
    with open(exp["file"]) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("idx,device,"), lines[0]
    assert len(lines) - 1 == exp["rows"] >= exp["search_hits"] > 0
    # 3.-5. registry and runs: a grid of 2 child runs + parent, 2 EEG runs
    names = {m["name"]: m for m in s["models"]}
    assert set(names) == {"WineQuality", "EEGLettersLDA", "EEGLettersMLP"}
    assert s["runs"] >= 5
    version = s["wine"]["version"]
    pred = s["prediction"]
    assert pred["version"] == version and pred["reply"]["data"]["ndarray"] == [pred["value"]]

    # `up` again on the same data dir: everything is still there
    up = ws.edgeflow("up", "--home", home, "--port", port, "--mqtt-port", mqtt, name="up2")
    up.wait_log("edgeflow up: ready", timeout=60)
    base = f"http://127.0.0.1:{port}"
    st, doc = http(base, "/sensor-*/_count")
    assert st == 200 and doc["count"] == sens["stored"], doc
    st, doc = http(base, "/api/2.0/mlflow/registered-models/get?name=WineQuality")
    assert st == 200, doc
    prod = [v for v in doc["registered_model"]["latest_versions"] if v["current_stage"] ==
            "Production"]
    assert [v["version"] for v in prod] == [version], doc

    # the served prediction equals the model's own offline prediction (cached model dir)
    model_dir = os.path.join(home, "models", "WineQuality", version)
    offline = offline_predict(ws, model_dir)
    assert abs(offline - pred["value"]) <= 1e-12 * max(1, abs(offline))
    path = "/seldon/default/WineQuality/api/v1.0/predictions"
    served = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(
        http(base, path, {"data": {"ndarray": [REF]}})), timeout=60, what="served prediction")
    assert abs(served["data"]["ndarray"][0] - offline) <= 1e-12 * max(1, abs(offline))

    # a second `up` on the same data dir is refused and leaves the first alone
    r2 = ws.run("up", "--home", home, "--port", free_port(), "--mqtt-port", free_port(),
                timeout=60)
    assert r2.returncode == 1, r2.stdout + r2.stderr
    assert "already running" in r2.stderr and home in r2.stderr, r2.stderr
    assert http(base, "/health")[0] == 200

    assert up.stop(signal.SIGTERM, timeout=90) == 0, up.output()[-3000:]
    assert not os.path.exists(os.path.join(home, "up.json"))


def test_demo_exports_to_s3_when_configured(ws):
    s3 = S3rver(ws.path, procs=ws.procs)
    home = os.path.join(ws.path, "home-s3")
    r = ws.run("demo", "--home", home, "--quick", "--publish-for", "2s", "--interval", "500ms",
               "--port", free_port(), "--mqtt-port", free_port(), "--export-target",
               "s3://demo-dumps/hourly", "--keep-running", env=s3.env(), timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    # --keep-running: the `up` the demo started outlives it, until SIGTERM
    with open(os.path.join(home, "up.json")) as f:
        up = json.load(f)
    try:
        assert http(up["http"], "/health")[0] == 200
        assert http(up["http"], "/seldon/x/WineQuality/api/v1.0/predictions",
                    {"data": {"ndarray": [REF]}})[0] == 200
    finally:
        os.kill(up["pid"], signal.SIGTERM)
    wait_for(lambda: not os.path.exists(os.path.join(home, "up.json")), timeout=90,
             what="the kept `up` to stop on SIGTERM")
    with open(os.path.join(home, "demo-summary.json")) as f:
        exp = json.load(f)["export"]
    prefix = "s3://demo-dumps/hourly/demo-"
    assert exp["location"].startswith(prefix) and exp["location"].endswith(".csv"), exp
    assert "file" not in exp
    key = exp["location"][len("s3://demo-dumps/"):]
    body = s3.client().get_object(Bucket="demo-dumps", Key=key)["Body"].read().decode()
    lines = body.splitlines()
    assert lines[0].startswith("idx,device,") and len(lines) - 1 == exp["rows"] > 0
