"""The artifact proxy of `edgeflow server` with an S3 destination
(`--artifacts-destination s3://<bucket>/<prefix>`, issue 3: "Storage: a local folder by default, or
S3"), against s3rver (npm, tests/node_modules) and read behind the server's back with boto3
(path-style addressing).

Model files go up through PUT /api/2.0/mlflow-artifacts/artifacts/..., come back byte-identical,
are listed like MLflow 2.12.2 lists an S3 repository (base names, sorted, file_size for files
only, no "files" key for an empty or missing folder) and deleted (a folder: every key under it,
nothing beside it); the objects are really in the bucket under the prefix and nowhere else. The
run listing /api/2.0/mlflow/artifacts/list works for a proxied run (mlflow-artifacts:/...) and for
a run whose experiment's artifact_location is an s3:// URI written directly by clients. Path
traversal is refused before S3 is touched. Configuration errors (no credentials, no bucket) stop
the server at start with a message; S3 going away answers 500 and the server recovers when it
comes back.

S3 client configuration is the MLflow one: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
MLFLOW_S3_ENDPOINT_URL (the server has no S3 flags). s3rver accepts the key id S3RVER.
"""
import json
import os
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import EDGEFLOW, EdgeflowServer, free_port
from s3rver import S3rver

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ART = "/api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow"
PREFIX = "mlruns/proxied"


@pytest.fixture(scope="module")
def s3rver(tmp_path_factory):
    """One s3rver for the module; every test uses its own bucket."""
    s = S3rver(str(tmp_path_factory.mktemp("s3rver")))
    yield s
    s.stop()


_buckets = iter(range(1, 1000))


@pytest.fixture
def bucket(s3rver):
    name = f"arts-{next(_buckets)}"
    s3rver.client().create_bucket(Bucket=name)
    return name


def keys(s3, bucket):
    """Every key in the bucket -> its bytes."""
    c = s3.client()
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


class Server(EdgeflowServer):
    def __init__(self, ws, s3, dest, *extra, name="server", env=None):
        super().__init__(ws, "--artifacts-destination", dest, *extra, name=name,
                         env=dict(s3.env(), **(env or {})))


@pytest.fixture
def server(ws, s3rver, bucket):
    s = Server(ws, s3rver, f"s3://{bucket}/{PREFIX}")
    s.bucket = bucket
    yield s
    s.close()


MODEL = {
    "1/r1/artifacts/model/MLmodel": b"artifact_path: model\nflavors: {}\n",
    "1/r1/artifacts/model/model.pkl": bytes(range(256)) * 40,
    "1/r1/artifacts/model/metadata/conda.yaml": b"name: x\n",
    "1/r1/artifacts/model/metadata/requirements.txt": b"scikit-learn==1.4.2\n",
    "1/r1/artifacts/predictions_head.csv": b"a,b\n1,2\n",
    "1/r1/artifacts/input_example.json": b'{"x": 1}',
    "1/r1/artifacts/big.bin": os.urandom(3 << 20) + b"\x00\r\n\xff",
    "1/r1/artifacts/empty.txt": b"",
}


def upload(server, files):
    for path, data in files.items():
        r = requests.put(f"{server.url}{ART}/{path}", data=data, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.json() == {}
        if data:  # let s3rver finish writing the file (see get_settled) before anyone reads it
            get_settled(f"{server.url}{ART}/{path}")


def test_upload_download_list_delete(server, s3rver, ws):
    b = server.bucket
    c = s3rver.client()
    # objects beside the prefix, which the server must neither list nor delete
    beside = {"mlruns/proxied-sibling/1/r1/artifacts/model/MLmodel": b"sibling",
              "mlruns/proxiedX": b"not a folder of ours", "elsewhere.txt": b"e"}
    for k, v in beside.items():
        c.put_object(Bucket=b, Key=k, Body=v)

    upload(server, MODEL)
    # really in the bucket, under the prefix, byte for byte; nothing in the default folder
    stored = keys(s3rver, b)
    assert stored == dict(beside, **{f"{PREFIX}/{k}": v for k, v in MODEL.items()})
    assert not os.path.exists(os.path.join(ws.path, "home", "artifacts"))
    # a second upload overwrites
    r = requests.put(f"{server.url}{ART}/1/r1/artifacts/predictions_head.csv", data=b"a,b\n3,4\n",
                     timeout=30)
    assert r.status_code == 200
    got = c.get_object(Bucket=b, Key=f"{PREFIX}/1/r1/artifacts/predictions_head.csv")
    assert got["Body"].read() == b"a,b\n3,4\n"
    files = dict(MODEL, **{"1/r1/artifacts/predictions_head.csv": b"a,b\n3,4\n"})

    types = {"MLmodel": "text/plain", "model.pkl": "application/octet-stream",
             "conda.yaml": "text/plain", "requirements.txt": "text/plain",
             "predictions_head.csv": "text/plain", "input_example.json": "text/plain",
             "big.bin": "application/octet-stream", "empty.txt": "text/plain"}
    for path, data in files.items():
        r = requests.get(f"{server.url}{ART}/{path}", timeout=30)
        assert r.status_code == 200, (path, r.text[:300])
        assert r.content == data, path
        leaf = path.rsplit("/", 1)[1]
        assert r.headers["Content-Type"] == types[leaf]
        assert r.headers["Content-Disposition"] == "attachment; filename=" + leaf
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = requests.get(f"{server.url}/ajax-api/2.0/mlflow-artifacts/artifacts/"
                     "1/r1/artifacts/model/MLmodel", timeout=30)
    assert r.content == MODEL["1/r1/artifacts/model/MLmodel"]
    # an object written behind the server's back is served too
    c.put_object(Bucket=b, Key=f"{PREFIX}/1/r1/artifacts/model/README.md", Body=b"# model\n")
    r = requests.get(f"{server.url}{ART}/1/r1/artifacts/model/README.md", timeout=30)
    assert (r.status_code, r.content) == (200, b"# model\n")

    r = requests.get(f"{server.url}{ART}", params={"path": "1/r1/artifacts/model"}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {"files": [
        {"path": "MLmodel", "is_dir": False, "file_size": 33},
        {"path": "README.md", "is_dir": False, "file_size": 8},
        {"path": "metadata", "is_dir": True},
        {"path": "model.pkl", "is_dir": False, "file_size": 10240},
    ]}
    r = requests.get(f"{server.url}{ART}", params={"path": "1/r1/artifacts"}, timeout=30)
    assert r.json() == {"files": [
        {"path": "big.bin", "is_dir": False, "file_size": len(MODEL["1/r1/artifacts/big.bin"])},
        {"path": "empty.txt", "is_dir": False, "file_size": 0},
        {"path": "input_example.json", "is_dir": False, "file_size": 8},
        {"path": "model", "is_dir": True},
        {"path": "predictions_head.csv", "is_dir": False, "file_size": 8},
    ]}
    # the root of the destination is the prefix: nothing beside it shows
    r = requests.get(f"{server.url}{ART}", timeout=30)
    assert r.json() == {"files": [{"path": "1", "is_dir": True}]}
    r = requests.get(f"{server.url}{ART}", params={"path": "no/such/dir"}, timeout=30)
    assert (r.status_code, r.json()) == (200, {})
    # a prefix of a name is not a folder
    r = requests.get(f"{server.url}{ART}", params={"path": "1/r1/artifacts/mod"}, timeout=30)
    assert (r.status_code, r.json()) == (200, {})

    # a missing file answers 500 INTERNAL_ERROR, like MLflow 2.12.2
    r = requests.get(f"{server.url}{ART}/0/none/file.txt", timeout=30)
    assert r.status_code == 500
    assert r.json()["error_code"] == "INTERNAL_ERROR"

    # deleting a folder removes every key under it, and only those
    c.put_object(Bucket=b, Key=f"{PREFIX}/1/r1/artifacts/model2/MLmodel", Body=b"keep")
    r = requests.delete(f"{server.url}{ART}/1/r1/artifacts/model", timeout=30)
    assert (r.status_code, r.json()) == (200, {})
    r = requests.delete(f"{server.url}{ART}/1/r1/artifacts/predictions_head.csv", timeout=30)
    assert r.status_code == 200
    r = requests.get(f"{server.url}{ART}/1/r1/artifacts/model/MLmodel", timeout=30)
    assert r.status_code == 500
    r = requests.get(f"{server.url}{ART}", params={"path": "1/r1/artifacts"}, timeout=30)
    assert [f["path"] for f in r.json()["files"]] == ["big.bin", "empty.txt",
                                                      "input_example.json", "model2"]
    left = {f"{PREFIX}/1/r1/artifacts/{n}" for n in ("big.bin", "empty.txt",
                                                      "input_example.json", "model2/MLmodel")}
    assert set(keys(s3rver, b)) == left | set(beside)
    # deleting what is not there is not an error
    r = requests.delete(f"{server.url}{ART}/1/r1/artifacts/model", timeout=30)
    assert r.status_code == 200
    assert set(keys(s3rver, b)) == left | set(beside)


def test_bucket_root_destination(ws, s3rver, bucket):
    """s3://bucket (no prefix): keys are the artifact paths themselves."""
    s = Server(ws, s3rver, f"s3://{bucket}/")
    try:
        upload(s, {"0/r/artifacts/model/MLmodel": b"m", "0/r/artifacts/x.txt": b"xx"})
        assert keys(s3rver, bucket) == {"0/r/artifacts/model/MLmodel": b"m",
                                        "0/r/artifacts/x.txt": b"xx"}
        r = requests.get(f"{s.url}{ART}", timeout=30)
        assert r.json() == {"files": [{"path": "0", "is_dir": True}]}
        r = requests.get(f"{s.url}{ART}", params={"path": "0/r/artifacts"}, timeout=30)
        assert r.json() == {"files": [{"path": "model", "is_dir": True},
                                      {"path": "x.txt", "is_dir": False, "file_size": 2}]}
        assert requests.get(f"{s.url}{ART}/0/r/artifacts/x.txt", timeout=30).content == b"xx"
        assert requests.delete(f"{s.url}{ART}/0/r", timeout=30).status_code == 200
        assert keys(s3rver, bucket) == {}
    finally:
        assert s.stop() == 0


def get_settled(url, timeout=5.0):
    """GET right after a PUT through the proxy. s3rver 3.7 answers a PutObject when its MD5
    stream finishes, before its file write completes (stores/filesystem.js putObject), so on a
    busy machine an immediate GetObject can read the still-empty file. Re-reads an empty body for
    a few seconds; any other answer is returned at once."""
    deadline = time.time() + timeout
    while True:
        r = requests.get(url, timeout=30)
        if r.status_code != 200 or r.content or time.time() > deadline:
            return r.status_code, r.content
        time.sleep(0.05)


def test_key_names_with_special_characters(ws, s3rver, bucket):
    """Names that need escaping in an S3 request (SigV4 canonical URI, query of ListObjectsV2)
    land under exactly that key, and come back and list under exactly that name; the prefix
    may need escaping too."""
    names = ["my plot (1).png", "a+b=c.txt", "résumé.txt", "tilde~x.txt", "semi;colon,comma.txt",
             "at@sign.txt", "dollar$&amp.txt", "q'uote.txt", "star*.txt", "日本.csv"]
    s = Server(ws, s3rver, f"s3://{bucket}/pre fix+/")
    try:
        for n in names:
            url = f"{s.url}{ART}/1/d ir/" + urllib.parse.quote(n)
            r = requests.put(url, data=n.encode(), timeout=30)
            assert r.status_code == 200, (n, r.text)
            assert get_settled(url) == (200, n.encode()), n
        assert keys(s3rver, bucket) == {f"pre fix+/1/d ir/{n}": n.encode() for n in names}
        r = requests.get(f"{s.url}{ART}", params={"path": "1/d ir"}, timeout=30)
        assert r.json() == {"files": [{"path": n, "is_dir": False, "file_size": len(n.encode())}
                                      for n in sorted(names, key=lambda x: x.encode())]}
        r = requests.get(f"{s.url}{ART}", params={"path": "1"}, timeout=30)
        assert r.json() == {"files": [{"path": "d ir", "is_dir": True}]}
        r = requests.delete(f"{s.url}{ART}/1/d%20ir", timeout=30)
        assert r.status_code == 200
        assert keys(s3rver, bucket) == {}
    finally:
        assert s.stop() == 0


def test_run_artifact_listing(server, s3rver):
    api = server.url + API
    r = requests.post(api + "/runs/create", json={"experiment_id": "0", "start_time": 1},
                      timeout=30)
    assert r.status_code == 200, r.text
    info = r.json()["run"]["info"]
    run_id, root = info["run_id"], info["artifact_uri"]
    assert root == f"mlflow-artifacts:/0/{run_id}/artifacts"
    for name in ("model/MLmodel", "model/metadata/MLmodel", "metrics.csv"):
        r = requests.put(f"{server.url}{ART}/0/{run_id}/artifacts/{name}", data=b"x", timeout=30)
        assert r.status_code == 200
    assert set(keys(s3rver, server.bucket)) == {
        f"{PREFIX}/0/{run_id}/artifacts/{n}"
        for n in ("model/MLmodel", "model/metadata/MLmodel", "metrics.csv")}

    r = requests.get(api + "/artifacts/list", params={"run_id": run_id}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {"root_uri": root, "files": [
        {"path": "metrics.csv", "is_dir": False, "file_size": 1},
        {"path": "model", "is_dir": True},
    ]}
    r = requests.get(api + "/artifacts/list", params={"run_uuid": run_id, "path": "model"},
                     timeout=30)
    assert r.json()["files"] == [{"path": "model/MLmodel", "is_dir": False, "file_size": 1},
                                 {"path": "model/metadata", "is_dir": True}]
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id, "path": "nothing"},
                     timeout=30)
    assert r.json() == {"root_uri": root}
    r = requests.get(api + "/artifacts/list", params={"run_id": "f" * 32}, timeout=30)
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id, "path": "../.."},
                     timeout=30)
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_run_listing_of_a_direct_s3_location(server, s3rver):
    """An experiment whose artifact_location is s3://...: clients write there directly (not
    through the proxy) and the server lists the run's artifacts from that location."""
    api = server.url + API
    b = server.bucket
    loc = f"s3://{b}/direct"
    r = requests.post(api + "/experiments/create", json={"name": "direct",
                                                         "artifact_location": loc}, timeout=30)
    assert r.status_code == 200, r.text
    eid = r.json()["experiment_id"]
    r = requests.post(api + "/runs/create", json={"experiment_id": eid}, timeout=30)
    assert r.status_code == 200, r.text
    run_id, root = r.json()["run"]["info"]["run_id"], r.json()["run"]["info"]["artifact_uri"]
    assert root == f"{loc}/{run_id}/artifacts"
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id}, timeout=30)
    assert (r.status_code, r.json()) == (200, {"root_uri": root})
    c = s3rver.client()
    for name, body in (("model/MLmodel", b"mm"), ("model/model.pkl", b"p" * 100),
                       ("loss.png", b"png")):
        c.put_object(Bucket=b, Key=f"direct/{run_id}/artifacts/{name}", Body=body)
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id}, timeout=30)
    assert (r.status_code, r.json()) == (200, {"root_uri": root, "files": [
        {"path": "loss.png", "is_dir": False, "file_size": 3},
        {"path": "model", "is_dir": True},
    ]}), r.text
    r = requests.get(api + "/artifacts/list", params={"run_id": run_id, "path": "model"},
                     timeout=30)
    assert r.json()["files"] == [{"path": "model/MLmodel", "is_dir": False, "file_size": 2},
                                 {"path": "model/model.pkl", "is_dir": False, "file_size": 100}]


TRAVERSALS = [
    "..%2F..%2Fetc%2Fx",
    "../../escape.txt",
    "1/../../escape.txt",
    "1/%2e%2e/%2e%2e/escape.txt",
    "%252e%252e%252fescape.txt",
    "a%5C..%5C..%5Cescape.txt",
    "%2Ftmp%2Fescape.txt",
    "a%0Ab",
]


def test_path_traversal_refused(server, s3rver):
    """Nothing reaches the bucket outside the prefix (nor anywhere), nothing is read or deleted
    outside it."""
    c = s3rver.client()
    b = server.bucket
    c.put_object(Bucket=b, Key="escape.txt", Body=b"outside")
    c.put_object(Bucket=b, Key="mlruns/escape.txt", Body=b"outside")
    for path in TRAVERSALS:
        for method, body in (("PUT", b"pwned"), ("GET", None), ("DELETE", None)):
            st, _, out = server.raw(method, f"{ART}/{path}", body=body)
            assert st == 400, (method, path, st, out[:200])
            assert json.loads(out)["error_code"] == "INVALID_PARAMETER_VALUE"
            assert json.loads(out)["message"] == "Invalid path"
            assert b"outside" not in out
        st, _, out = server.raw("GET", f"{ART}?path={path}")
        assert (st, json.loads(out)["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), path
    assert keys(s3rver, b) == {"escape.txt": b"outside", "mlruns/escape.txt": b"outside"}


def test_concurrent_uploads(server, s3rver):
    """8 clients upload at once (the server's S3 handles are shared between HTTP threads)."""
    def client(w):
        sess = requests.Session()
        for i in range(20):
            data = bytes([w, i]) * (500 + 37 * i)
            r = sess.put(f"{server.url}{ART}/3/w{w}/artifacts/f{i:02d}.bin", data=data, timeout=30)
            assert r.status_code == 200, r.text
            r = sess.get(f"{server.url}{ART}/3/w{w}/artifacts/f{i:02d}.bin", timeout=30)
            assert r.content == data

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    stored = keys(s3rver, server.bucket)
    assert stored == {f"{PREFIX}/3/w{w}/artifacts/f{i:02d}.bin": bytes([w, i]) * (500 + 37 * i)
                      for w in range(8) for i in range(20)}
    r = requests.get(f"{server.url}{ART}", params={"path": "3"}, timeout=30)
    assert r.json() == {"files": [{"path": f"w{w}", "is_dir": True} for w in range(8)]}


def test_multipart_not_supported(server):
    st, _, out = server.raw("POST", "/api/2.0/mlflow-artifacts/mpu/create/1/r/big.bin",
                            body=b'{"path": "big.bin", "num_parts": 3}',
                            headers={"Content-Type": "application/json"})
    assert (st, json.loads(out)["error_code"]) == (501, "NOT_IMPLEMENTED")


def test_configuration_errors_stop_the_server(ws, s3rver, bucket):
    # no credentials: refused at start, with the reason
    env = ws.env({"MLFLOW_S3_ENDPOINT_URL": s3rver.url})
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    r = subprocess.run([EDGEFLOW, "server", "--port", str(free_port()), "--artifacts-destination",
                        f"s3://{bucket}/x"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "AWS_ACCESS_KEY_ID" in r.stdout + r.stderr, r.stdout + r.stderr
    # no bucket name
    r = ws.run("server", "--port", free_port(), "--artifacts-destination", "s3:///x",
               env=s3rver.env(), timeout=30)
    assert r.returncode != 0
    assert "bucket" in r.stdout + r.stderr, r.stdout + r.stderr
    # a bucket that does not exist: the server starts, and uploads fail with S3's reason
    s = Server(ws, s3rver, "s3://no-such-bucket/p", name="server-nobucket")
    r = requests.put(f"{s.url}{ART}/1/a.txt", data=b"a", timeout=30)
    assert (r.status_code, r.json()["error_code"]) == (500, "INTERNAL_ERROR")
    assert "NoSuchBucket" in r.json()["message"], r.json()
    assert s.stop() == 0


def test_s3_down_answers_500_and_recovers(ws, tmp_path):
    s3 = S3rver(str(tmp_path / "s3-down"))
    try:
        s3.client().create_bucket(Bucket="flaky")
        s = Server(ws, s3, "s3://flaky/p")
        upload(s, {"1/a.txt": b"before"})
        s3.stop()
        r = requests.put(f"{s.url}{ART}/1/b.txt", data=b"lost", timeout=60)
        assert (r.status_code, r.json()["error_code"]) == (500, "INTERNAL_ERROR")
        r = requests.get(f"{s.url}{ART}/1/a.txt", timeout=60)
        assert (r.status_code, r.json()["error_code"]) == (500, "INTERNAL_ERROR")
        r = requests.get(f"{s.url}{ART}", params={"path": "1"}, timeout=60)
        assert (r.status_code, r.json()["error_code"]) == (500, "INTERNAL_ERROR")
        s3.start()  # same port, same data dir
        r = requests.get(f"{s.url}{ART}/1/a.txt", timeout=60)
        assert (r.status_code, r.content) == (200, b"before")
        upload(s, {"1/b.txt": b"after"})
        assert keys(s3, "flaky") == {"p/1/a.txt": b"before", "p/1/b.txt": b"after"}
        assert s.stop() == 0
    finally:
        s3.stop()


def test_listing_and_delete_span_several_s3_pages(server, s3rver):
    """S3 answers at most 1000 keys per ListObjectsV2 page: a folder with more keys than that is
    listed and deleted completely (continuation tokens followed)."""
    c = s3rver.client()
    b = server.bucket
    base = f"{PREFIX}/2/r/artifacts"
    names = [f"frames/{i:04d}.png" for i in range(1001)] + ["zz-last.txt"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: c.put_object(Bucket=b, Key=f"{base}/{n}", Body=b"f"), names))
    r = requests.get(f"{server.url}{ART}", params={"path": "2/r/artifacts"}, timeout=60)
    assert r.json() == {"files": [{"path": "frames", "is_dir": True},
                                  {"path": "zz-last.txt", "is_dir": False, "file_size": 1}]}
    r = requests.get(f"{server.url}{ART}", params={"path": "2/r/artifacts/frames"}, timeout=60)
    files = r.json()["files"]
    assert [f["path"] for f in files] == [f"{i:04d}.png" for i in range(1001)]
    assert all(f == {"path": f["path"], "is_dir": False, "file_size": 1} for f in files)
    r = requests.delete(f"{server.url}{ART}/2/r/artifacts/frames", timeout=120)
    assert r.status_code == 200
    assert list(keys(s3rver, b)) == [f"{base}/zz-last.txt"]
