"""`edgeflow serve`: the Open Inference Protocol's binary tensor data extension (issue 5; spec
oip-v2.md section 3), driven with numpy's .tobytes()/frombuffer and requests.

- ElasticNet on wine (one model input: [N, 11], or 11 per-feature inputs of shape [N]):
  binary FP64 / FP32 / INT32 / INT64 / BOOL inputs give exactly the JSON path's predictions for
  the same rows (FP64 also equal to scikit-learn's to 1e-9); per-feature inputs (the only form
  with several inputs, so where JSON and binary can mix) with some as JSON "data", some as [N] /
  [N, 1] binary blobs, equal the one-input JSON request; binary
  outputs (request-level binary_data_output) decoded with numpy equal the JSON outputs exactly,
  with Inference-Header-Content-Length and application/octet-stream; JSON-only replies stay
  application/json; GET /v2 lists binary_tensor_data;
- LDA on EEG letters: predict_proba (FP64) and predict (INT64) as binary outputs, together and
  one of them only (per-output binary_data), equal to the JSON outputs and to scikit-learn's;
- every malformed binary request (header length over the body, not a number, cutting the JSON,
  sizes that do not match the shape or do not add up, trailing bytes, data and binary at once,
  FP16/BYTES, NaN, bad BOOL bytes, huge shapes, no header) answers 400 {"error": ...} saying
  what is wrong, an oversized one 413, and the server keeps serving (and, under ASan, stops
  cleanly with no reports).
"""
import json

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.preprocessing import normalize

from servetest import (REF_ROW, lda_sklearn, serve, tensor, train_lda, train_wine,
                                      wine_sklearn)

IHCL = "Inference-Header-Content-Length"
DT = {"FP64": "<f8", "FP32": "<f4", "INT32": "<i4", "INT64": "<i8", "BOOL": "?"}


def bin_tensor(x, datatype, name="input-0"):
    """A binary input tensor: (header dict, blob bytes)."""
    blob = np.ascontiguousarray(np.asarray(x).astype(DT[datatype])).tobytes()
    return ({"name": name, "shape": list(np.shape(x)), "datatype": datatype,
             "parameters": {"binary_data_size": len(blob)}}, blob)


def post_raw(base, path, head, blob=b"", ihcl=None, extra_headers=None):
    """POSTs JSON head + blob with Inference-Header-Content-Length (ihcl overrides the value)."""
    js = head if isinstance(head, bytes) else json.dumps(head).encode()
    headers = {"Content-Type": "application/octet-stream",
               IHCL: str(len(js)) if ihcl is None else ihcl}
    headers.update(extra_headers or {})
    return requests.post(base + path, data=js + blob, headers=headers, timeout=30)


def post_json(base, path, doc):
    r = requests.post(base + path, data=json.dumps(doc),
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json") and IHCL not in r.headers
    return r.json()


def decode(r):
    """A 200 reply -> (JSON header, {output name: numpy array}) for binary and JSON outputs."""
    assert r.status_code == 200, r.text
    if IHCL not in r.headers:
        assert r.headers["Content-Type"].startswith("application/json")
        doc = r.json()
        return doc, {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in doc["outputs"]}
    assert r.headers["Content-Type"] == "application/octet-stream"
    n = int(r.headers[IHCL])
    body = r.content
    assert int(r.headers["Content-Length"]) == len(body)
    doc = json.loads(body[:n])
    at, outs = n, {}
    for o in doc["outputs"]:
        if "parameters" in o and "binary_data_size" in o["parameters"]:
            assert "data" not in o
            size = o["parameters"]["binary_data_size"]
            a = np.frombuffer(body[at:at + size], dtype=DT[o["datatype"]])
            outs[o["name"]] = a.reshape(o["shape"])
            at += size
        else:
            outs[o["name"]] = np.array(o["data"]).reshape(o["shape"])
    assert at == len(body), "reply blobs do not add up to the body"
    return doc, outs


def assert_error(r, status, part):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert set(doc) == {"error"} and isinstance(doc["error"], str), doc
    assert part in doc["error"], doc["error"]


def test_binary_inputs_and_outputs_wine(ws):
    wine = train_wine(ws, ws.path + "/wine")
    sk, xte = wine_sklearn()
    x = xte.iloc[:40]
    feats = list(x.columns)
    infer = "/v2/models/wine/infer"
    proc, base = serve(ws, "--model-dir", wine)

    meta = requests.get(base + "/v2", timeout=10).json()
    assert "binary_tensor_data" in meta["extensions"]

    rows = {
        "FP64": x.values,
        "FP32": x.values.astype(np.float32),
        "INT32": np.rint(x.values).astype(np.int32),
        "INT64": np.rint(x.values * 10).astype(np.int64),
        "BOOL": x.values > np.median(x.values, axis=0),
    }
    for dt, arr in rows.items():
        want = post_json(base, infer, {"inputs": [tensor(arr, datatype=dt)]})
        want = np.array(want["outputs"][0]["data"])
        head, blob = bin_tensor(arr, dt)
        assert len(blob) == arr.size * np.dtype(DT[dt]).itemsize
        doc, outs = decode(post_raw(base, infer, {"id": dt, "inputs": [head]}, blob))
        assert doc["id"] == dt and doc["model_name"] == "wine"
        assert doc["outputs"][0]["datatype"] == "FP64" and "data" in doc["outputs"][0]
        assert np.array_equal(outs["predict"], want), dt
        if dt == "FP64":
            assert np.allclose(want, sk.predict(x), rtol=1e-9, atol=0)

    # binary outputs: same numbers as the JSON reply, bit for bit
    json_doc = post_json(base, infer, {"inputs": [tensor(x.values)]})
    head, blob = bin_tensor(x.values, "FP64")
    r = post_raw(base, infer, {"inputs": [head], "parameters": {"binary_data_output": True}}, blob)
    doc, outs = decode(r)
    (o,) = doc["outputs"]
    assert o["datatype"] == "FP64" and o["shape"] == [len(x)]
    assert o["parameters"] == {"binary_data_size": 8 * len(x)}
    assert np.array_equal(outs["predict"], np.array(json_doc["outputs"][0]["data"]))
    # the reference row, binary out from a plain JSON request (no header on the request)
    r = requests.post(base + infer, json={"inputs": [tensor([REF_ROW])],
                                          "outputs": [{"name": "predict",
                                                       "parameters": {"binary_data": True}}]},
                      timeout=30)
    _, outs = decode(r)
    ref = sk.predict(pd.DataFrame([REF_ROW], columns=feats))[0]
    assert outs["predict"][0] == pytest.approx(ref, rel=1e-9, abs=0)

    # one input per feature (the model's other input form), JSON and binary mixed, blobs in
    # input order, [N] and [N, 1] shapes; reversed feature order
    inputs, blobs = [], []
    for k, name in enumerate(reversed(feats)):
        col = x[name].values
        if k % 3 == 0:
            inputs.append(tensor(col, name=name))
        else:
            h, b = bin_tensor(col.reshape(-1, 1) if k % 3 == 1 else col, "FP64", name=name)
            inputs.append(h)
            blobs.append(b)
    _, outs = decode(post_raw(base, infer, {"inputs": inputs}, b"".join(blobs)))
    assert np.array_equal(outs["predict"], np.array(json_doc["outputs"][0]["data"]))

    # the header on a JSON-only request (no binary inputs, no trailing bytes) is fine
    _, outs = decode(post_raw(base, infer, {"inputs": [tensor(x.values)]}))
    assert np.array_equal(outs["predict"], np.array(json_doc["outputs"][0]["data"]))
    assert proc.stop() == 0


def test_binary_classifier_outputs(ws):
    lda_dir = train_lda(ws, ws.path + "/lda")
    lda, x = lda_sklearn()
    labels, proba = lda.predict(normalize(x)), lda.predict_proba(normalize(x))
    infer = "/v2/models/lda/infer"
    proc, base = serve(ws, "--model-dir", lda_dir)

    outputs = [{"name": "predict_proba"}, {"name": "predict"}]
    json_doc = post_json(base, infer, {"inputs": [tensor(x)], "outputs": outputs})
    jproba = np.array(json_doc["outputs"][0]["data"])
    jlabels = np.array(json_doc["outputs"][1]["data"])

    head, blob = bin_tensor(x, "FP64")
    r = post_raw(base, infer, {"inputs": [head], "outputs": outputs,
                               "parameters": {"binary_data_output": True}}, blob)
    doc, outs = decode(r)
    pr, lab = doc["outputs"]
    assert pr["name"] == "predict_proba" and pr["datatype"] == "FP64"
    assert pr["parameters"]["binary_data_size"] == 8 * proba.size
    assert lab["name"] == "predict" and lab["datatype"] == "INT64"
    assert outs["predict_proba"].shape == proba.shape
    assert np.array_equal(outs["predict_proba"].ravel(), jproba)
    assert np.array_equal(outs["predict"], jlabels)
    assert outs["predict"].tolist() == labels.tolist()
    assert np.allclose(outs["predict_proba"], proba, rtol=0, atol=1e-9)

    # per-output choice: only predict_proba binary; JSON predict in the same reply
    r = post_raw(base, infer, {"inputs": [head], "outputs": [
        {"name": "predict", "parameters": {"binary_data": False}},
        {"name": "predict_proba", "parameters": {"binary_data": True}}]}, blob)
    doc, outs = decode(r)
    assert "data" in doc["outputs"][0] and "data" not in doc["outputs"][1]
    assert int(r.headers[IHCL]) + 8 * proba.size == len(r.content)
    assert outs["predict"].tolist() == labels.tolist()
    assert np.array_equal(outs["predict_proba"].ravel(), jproba)

    # FP32 binary input == FP32 JSON input
    want = post_json(base, infer, {"inputs": [tensor(x.astype(np.float32), datatype="FP32")],
                                   "parameters": {"predict_proba": True}})
    head, blob = bin_tensor(x, "FP32")
    _, outs = decode(post_raw(base, infer, {"inputs": [head],
                                            "parameters": {"predict_proba": True,
                                                           "binary_data_output": True}}, blob))
    assert np.array_equal(outs["predict"], np.array(want["outputs"][0]["data"]))
    assert np.array_equal(outs["predict_proba"].ravel(), np.array(want["outputs"][1]["data"]))
    assert proc.stop() == 0


def test_binary_errors(ws):
    wine = train_wine(ws, ws.path + "/wine")
    proc, base = serve(ws, "--model-dir", wine, "--max-body", "65536")
    infer = "/v2/models/wine/infer"
    x = np.array([REF_ROW, REF_ROW])
    head, blob = bin_tensor(x, "FP64")
    good = {"inputs": [head]}
    js = json.dumps(good).encode()
    cases = [
        # (head, blob, ihcl override, part of the message)
        (good, blob, str(len(js) + len(blob) + 1), "but the body has only"),
        (good, blob, "12abc", "decimal number"),
        (good, blob, "-3", "decimal number"),
        (good, blob, "0", "is 0"),
        (good, blob, str(len(js) - 1), "is not valid JSON"),
        (good, blob[:-8], None, "needs 176 bytes of binary data but only 168 are left"),
        (good, blob + b"\0", None, "177 bytes follow the JSON header"),
        (good, b"", None, "only 0 are left"),
        ({"inputs": [dict(head, parameters={"binary_data_size": 88})]}, blob, None,
         "binary_data_size is 88 but shape [2, 11] of FP64 needs 176 bytes"),
        ({"inputs": [dict(head, data=x.ravel().tolist())]}, blob, None, "both \"data\" and"),
        ({"inputs": [dict(head, datatype="FP16", parameters={"binary_data_size": 44})]},
         blob[:44], None, "FP16 is not supported"),
        ({"inputs": [dict(head, datatype="BYTES")]}, blob, None, "BYTES is not supported"),
        ({"inputs": [dict(head, parameters={"binary_data_size": -1})]}, blob, None,
         "byte count >= 0"),
        ({"inputs": [dict(head, shape=[1 << 40, 1 << 40])]}, blob, None, "shape is too large"),
        ({"inputs": [dict(head, shape=[1 << 40, 11],
                          parameters={"binary_data_size": (1 << 40) * 88})]}, blob, None,
         "only 176 are left"),
        (good, np.array([[np.nan] * 11] * 2).tobytes(), None, "element 0 is not a finite"),
        ({"inputs": [bin_tensor(x > 1, "BOOL")[0]]}, bytes([1, 0, 2] + [0] * 19), None,
         "is BOOL but byte 2 is 2"),
        (dict(good, parameters={"binary_data_output": "yes"}), blob, None,
         "binary_data_output must be true or false"),
        ({"inputs": [head], "outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]},
         blob, None, "binary_data must be true or false"),
    ]
    for h, b, ihcl, part in cases:
        assert_error(post_raw(base, infer, h, b, ihcl=ihcl), 400, part)
    # a binary input without the header: the body is JSON, and says binary_data_size
    r = requests.post(base + infer, json=good, timeout=30)
    assert_error(r, 400, "no Inference-Header-Content-Length header")
    # over --max-body, in the OIP error shape
    big_head, big_blob = bin_tensor(np.ones((800, 11)), "FP64")
    assert_error(post_raw(base, infer, {"inputs": [big_head]}, big_blob), 413, "--max-body")
    # still serving
    _, outs = decode(post_raw(base, infer, good, blob))
    assert outs["predict"].shape == (2,) and outs["predict"][0] == outs["predict"][1]
    metrics = requests.get(base + "/metrics", timeout=10).text
    n400 = sum(float(ln.rsplit(" ", 1)[1]) for ln in metrics.splitlines()
               if ln.startswith("edgeflow_serve_requests_total{") and 'protocol="oip"' in ln
               and 'code="400"' in ln)
    assert n400 == len(cases) + 1
    assert proc.stop() == 0
