"""`edgeflow export`: a window of the store as CSV to a folder and to S3 (s3rver), read back with
boto3 and compared with the store and with real pandas; failure, retry, schedule and the SigV4
signature checked against botocore as an oracle.

The store is populated with tests/integration/store_seed.c (built as ef_store_seed next to the
binary) so these tests do not depend on the server or the MQTT path.

s3rver does NOT verify SigV4 signatures (a wrong secret is accepted; only an unknown key id is
refused). "A wrong secret is refused" is therefore shown with an oracle: botocore signs the very
request edgeflow sent; with the right secret the signatures are equal, with a wrong one they
differ, so a verifying server (AWS S3, MinIO) would refuse it with SignatureDoesNotMatch.
"""
import csv
import datetime
import hashlib
import http.server
import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import pytest

from conftest import EDGEFLOW, free_port, wait_for
from s3rver import CREDS, S3rver

T0 = 1795000000000  # 2026-11-18T11:06:40Z; windows below are whole hours from HOUR
HOUR = T0 // 3600000 * 3600000

try:
    import pandas  # Debian python3-pandas
except ImportError:  # pragma: no cover - install-deps.sh installs it
    pandas = None


def seed_bin():
    build = os.environ.get("EF_BUILD_DIR") or os.path.dirname(EDGEFLOW)
    return os.path.join(build, "src", "export", "ef_store_seed")


def readings():
    """Documents of varied shape: in the window [HOUR, HOUR+1h), before it, at its end."""
    docs = []
    for i in range(40):
        d = {"device": f"dev{i % 3}", "temp": 41000 + i, "seq": i,
             "collected": HOUR + 60000 * i + 7}
        if i % 4:
            d["load"] = round(0.25 * i, 2)
        if i == 5:
            d["note"] = 'comma, "quote"\nand newline'
        if i == 7:
            d["ok"] = True
        if i == 9:
            d["meta"] = {"fw": "1.2", "tags": ["a", 2.5, None]}
        if i == 11:
            d["tiny"] = 1e-05
        docs.append(d)
    docs.append({"device": "dev0", "temp": 1, "seq": 100, "collected": HOUR - 1})
    docs.append({"device": "dev0", "temp": 2, "seq": 101, "collected": HOUR + 3600000})
    return docs


def in_window(docs, device=None):
    return [d for d in docs if HOUR <= d["collected"] < HOUR + 3600000
            and (device is None or d["device"] == device)]


@pytest.fixture
def store(ws):
    path = os.path.join(ws.path, "series.db")
    uri = f"sqlite:{path}"
    docs = readings()
    text = "".join(json.dumps(d) + "\n" for d in docs)
    r = subprocess.run([seed_bin(), uri, "sensor-2026-11"], input=text, capture_output=True,
                       text=True, env=ws.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"inserted {len(docs)}" in r.stdout
    # another index that the default pattern sensor-* must not pick up
    r = subprocess.run([seed_bin(), uri, "other-2026-11"],
                       input=json.dumps({"device": "x", "collected": HOUR + 5}) + "\n",
                       capture_output=True, text=True, env=ws.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return uri, docs


def S3(ws, **kw):
    """An s3rver stopped with the workspace (s3rver.py)."""
    return S3rver(ws.path, procs=ws.procs, **kw)


@pytest.fixture
def s3(ws):
    s = S3(ws)
    yield s
    s.stop()


def window_args(uri):
    return ["--store", uri, "--from", str(HOUR), "--to", str(HOUR + 3600000)]


def parse_csv(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_rows_equal_store(text, docs):
    rows = parse_csv(text)
    assert len(rows) == len(docs)
    for i, (row, doc) in enumerate(zip(rows, docs)):
        assert row["idx"] == str(i)
        assert row["device"] == doc["device"]
        assert int(row["temp"]) == doc["temp"]
        assert int(row["seq"]) == doc["seq"]
        assert int(row["collected"]) == doc["collected"]
        if "load" in doc:
            assert float(row["load"]) == doc["load"]
        else:
            assert row["load"] == ""
        assert row["note"] == doc.get("note", "")


def assert_same_as_pandas(text, docs):
    if pandas is None:
        pytest.skip("python3-pandas not installed")
    want = pandas.DataFrame(docs).to_csv(index_label="idx")
    assert text == want


def test_export_to_s3_roundtrip_boto3_and_pandas(ws, store, s3):
    uri, docs = store
    r = ws.run("export", *window_args(uri), "--target", "s3://exports/edge/hourly/",
               "--s3-endpoint", s3.url, env=CREDS)
    assert r.returncode == 0, r.stderr
    key = "edge/hourly/" + time.strftime("%Y/%m-%d-%H.csv", time.gmtime(HOUR / 1000))
    want = in_window(docs)
    assert r.stdout.strip() == f"exported {len(want)} readings to s3://exports/{key}"
    c = s3.client()
    assert "exports" in [b["Name"] for b in c.list_buckets()["Buckets"]]  # auto-created
    obj = c.get_object(Bucket="exports", Key=key)
    assert obj["ContentType"].startswith("text/csv")
    body = obj["Body"].read().decode()
    assert_rows_equal_store(body, want)
    assert_same_as_pandas(body, want)
    # exporting the same window again replaces the object (bucket already owned is fine)
    r = ws.run("export", *window_args(uri), "--target", "s3://exports/edge/hourly",
               "--s3-endpoint", s3.url, "--device", "dev1", env=CREDS)
    assert r.returncode == 0, r.stderr
    body = c.get_object(Bucket="exports", Key=key)["Body"].read().decode()
    assert_same_as_pandas(body, in_window(docs, "dev1"))


def test_export_env_endpoint_and_multipart(ws, store):
    uri, docs = store
    s3 = S3(ws, silent=False)  # its request log shows the multipart steps
    env = dict(CREDS, MLFLOW_S3_ENDPOINT_URL=s3.url)
    r = ws.run("export", *window_args(uri), "--target", "s3://big", "--key-pattern",
               "dump-%Y%m%dT%H.csv", "--s3-multipart-threshold", "512", env=env)
    assert r.returncode == 0, r.stderr
    key = time.strftime("dump-%Y%m%dT%H.csv", time.gmtime(HOUR / 1000))
    c = s3.client()
    body = c.get_object(Bucket="big", Key=key)["Body"].read().decode()
    assert len(body) > 3 * 512  # really went through several parts
    assert_rows_equal_store(body, in_window(docs))
    assert_same_as_pandas(body, in_window(docs))
    log = s3.proc.output()
    assert "?uploads= 200" in log and "partNumber=3&uploadId=" in log, log[-2000:]
    assert [o["Key"] for o in c.list_objects_v2(Bucket="big")["Contents"]] == [key]
    s3.stop()


def test_export_to_folder_atomic(ws, store):
    uri, docs = store
    target = os.path.join(ws.path, "exports")
    r = ws.run("export", *window_args(uri), "--target", f"file://{target}")
    assert r.returncode == 0, r.stderr
    rel = time.strftime("%Y/%m-%d-%H.csv", time.gmtime(HOUR / 1000))
    path = os.path.join(target, rel)
    assert r.stdout.strip() == f"exported {len(in_window(docs))} readings to {path}"
    files = [os.path.join(d, f) for d, _, fs in os.walk(target) for f in fs]
    assert files == [path]  # no temp files left behind
    with open(path, newline="") as f:
        text = f.read()
    assert_rows_equal_store(text, in_window(docs))
    assert_same_as_pandas(text, in_window(docs))


def test_export_default_target_and_empty_window(ws, store):
    uri, _ = store
    r = ws.run("export", "--store", uri, "--from", "2020-01-01T00:00:00Z")
    assert r.returncode == 0, r.stderr
    path = os.path.join(ws.path, "home", "exports", "2020", "01-01-00.csv")
    assert r.stdout.strip() == f"exported 0 readings to {path}"
    with open(path) as f:
        assert f.read() == "idx\n"


def test_export_s3_down_fails_cleanly(ws, store):
    uri, _ = store
    port = free_port()
    t = time.time()
    r = ws.run("export", *window_args(uri), "--target", "s3://exports/p",
               "--s3-endpoint", f"http://127.0.0.1:{port}", "--retries", "2",
               "--retry-delay", "100ms", env=CREDS)
    assert r.returncode == 1
    assert time.time() - t < 10
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeflow export: cannot reach S3 endpoint http://127.0.0.1:")
    assert "check --s3-endpoint" in last
    assert r.stderr.count("retrying in") == 2  # two back-offs, three attempts
    assert r.stdout == ""
    # nothing was written anywhere: a server started now holds no bucket and no object
    s = S3(ws, port=port)
    assert s.client().list_buckets()["Buckets"] == []
    s.stop()


def test_export_bad_usage_and_missing_credentials(ws, store, s3):
    uri, _ = store
    r = ws.run("export", "--store", uri, "--from", "yesterday-ish")
    assert r.returncode == 2 and "bad --from" in r.stderr
    r = ws.run("export", "--store", uri, "--from", "now", "--to", "now-1h")
    assert r.returncode == 2
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    r = ws.run("export", *window_args(uri), "--target", "s3://b", "--s3-endpoint", s3.url,
               env=env)
    assert r.returncode == 1 and "AWS_ACCESS_KEY_ID" in r.stderr
    r = ws.run("export", "--store", f"sqlite:{ws.path}/no/such/dir/x.db", "--from", "now-1h")
    assert r.returncode == 1 and "check --store" in r.stderr
    # an unknown key id is refused by s3rver (EF_EAUTH) -> a hint about credentials
    r = ws.run("export", *window_args(uri), "--target", "s3://b", "--s3-endpoint", s3.url,
               "--retries", "0", env={"AWS_ACCESS_KEY_ID": "NOPE", "AWS_SECRET_ACCESS_KEY": "x"})
    assert r.returncode == 1 and "InvalidAccessKeyId" in r.stderr
    assert "check AWS_ACCESS_KEY_ID" in r.stderr


def test_export_retry_succeeds_when_server_comes_up(ws, store):
    uri, docs = store
    s = S3(ws, start=False)
    p = ws.edgeflow("export", *window_args(uri), "--target", "s3://late/x", "--s3-endpoint",
                    s.url, "--retries", "8", "--retry-delay", "500ms", name="export-retry",
                    env=CREDS)
    p.wait_log("retrying in", timeout=20)
    s.start()
    assert p.wait(timeout=60) == 0, p.output()
    out = p.output()
    assert "exported" in out and "s3://late/x/" in out
    key = "x/" + time.strftime("%Y/%m-%d-%H.csv", time.gmtime(HOUR / 1000))
    body = s.client().get_object(Bucket="late", Key=key)["Body"].read().decode()
    assert_rows_equal_store(body, in_window(docs))
    s.stop()


def test_export_every_runs_on_schedule_and_stops_on_sigterm(ws, store):
    uri, _ = store
    target = os.path.join(ws.path, "sched")
    p = ws.edgeflow("export", "--store", uri, "--every", "2s", "--target", f"file://{target}",
                    "--key-pattern", "%Y%m%d-%H%M%S.csv", name="export-every")
    wait_for(lambda: p.output().count("exported ") >= 2, timeout=20, what="two scheduled runs")
    assert p.stop(signal.SIGTERM) == 0, p.output()
    names = sorted(f for _, _, fs in os.walk(target) for f in fs)
    assert len(names) >= 2 and all(n.endswith(".csv") for n in names)
    secs = [int(n[13:15]) for n in names]  # window starts aligned to 2 s
    assert all(s % 2 == 0 for s in secs), names


# ---- SigV4 oracle ------------------------------------------------------------------------


class Capture(http.server.BaseHTTPRequestHandler):
    """Answers 200 to everything and records what libcurl sent."""
    requests = []

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Capture.requests.append((self.command, self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"abc"')
        self.end_headers()

    do_PUT = do_GET = do_POST = do_HEAD = do_DELETE = _any

    def log_message(self, *a):
        pass


def botocore_authorization(method, url, headers, body, secret, token=None):
    """The Authorization header botocore computes for this request, signing exactly the headers
    edgeflow declared as signed, at edgeflow's own X-Amz-Date."""
    amz_date = headers["x-amz-date"]
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return when

    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                         headers={k: v for k, v in headers.items()
                                                  if k not in ("host", "x-amz-date",
                                                               "x-amz-security-token")})
    creds = botocore.credentials.Credentials("S3RVER", secret, token)
    with mock.patch.object(botocore.auth.datetime, "datetime", Fixed):
        botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    return req.headers["Authorization"]


def captured_put(ws, store, env):
    uri, _ = store
    Capture.requests = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    port = srv.server_address[1]
    try:
        r = ws.run("export", *window_args(uri), "--target", "s3://sig-bucket/a b/ü+",
                   "--s3-endpoint", f"http://127.0.0.1:{port}", env=env)
        assert r.returncode == 0, r.stderr
    finally:
        srv.shutdown()
        srv.server_close()
    assert [m for m, *_ in Capture.requests] == ["PUT", "PUT"]  # CreateBucket, PutObject
    return port, Capture.requests


def check_signed(port, req, secret, token=None):
    method, path, hdrs, body = req
    lower = {k.lower(): v for k, v in hdrs.items()}
    auth = lower["authorization"]
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=S3RVER/(\d{8})/us-east-1/s3/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", auth)
    assert m, auth
    signed = m.group(2).split(";")
    for h in ("host", "x-amz-date", "x-amz-content-sha256"):
        assert h in signed, signed
    assert lower["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    headers = {h: lower[h] for h in signed}
    want = botocore_authorization(method, f"http://127.0.0.1:{port}{path}", headers, body,
                                  secret, token)
    return auth, want


def test_sigv4_matches_botocore_and_wrong_secret_is_refused(ws, store):
    port, reqs = captured_put(ws, store, CREDS)
    put = reqs[1]
    assert put[1].startswith("/sig-bucket/a%20b/%C3%BC%2B/")  # path-style, SigV4-encoded key
    assert put[3].startswith(b"idx,device,")
    for req in reqs:
        got, want = check_signed(port, req, "S3RVER")
        assert got == want
    # same request, signed by edgeflow with a wrong secret: botocore (knowing the real secret,
    # as S3 does) computes a different signature -> a verifying server answers 403
    port, reqs = captured_put(ws, store, dict(CREDS, AWS_SECRET_ACCESS_KEY="WRONG"))
    got, want = check_signed(port, reqs[1], "S3RVER")
    assert got != want
    got, want = check_signed(port, reqs[1], "WRONG")
    assert got == want  # ...and it is exactly what that wrong secret yields


def test_sigv4_session_token_is_signed(ws, store):
    env = dict(CREDS, AWS_SESSION_TOKEN="tok/en+=")
    port, reqs = captured_put(ws, store, env)
    lower = {k.lower(): v for k, v in reqs[1][2].items()}
    assert lower["x-amz-security-token"] == "tok/en+="
    got, want = check_signed(port, reqs[1], "S3RVER", token="tok/en+=")
    assert "x-amz-security-token" in got
    assert got == want
