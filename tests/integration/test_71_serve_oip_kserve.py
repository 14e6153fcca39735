"""`edgeflow serve` with the Open Inference Protocol v2 and KServe v1 (issue 5), judged by
scikit-learn run live.

- OIP v2 on an ElasticNet trained on wine: health, server and model metadata (the features as
  inputs), ready, infer with one [N, d] input (flat and nested data, FP64/FP32/INT64), with one
  input per feature named like the metadata says (shuffled, [N] and [N, 1]), the id echoed;
  predictions equal scikit-learn's to 1e-9;
- LDA on EEG letters (L2-normalised): integer labels as INT64, predict_proba through "outputs"
  and through the predict_proba parameter, equal to scikit-learn's;
- KServe v1: model list, model ready, :predict with instances (rows, records), columnar inputs,
  labels for the classifier, :explain 501, unknown verbs and models 404;
- text class labels come back as BYTES (OIP) and strings (KServe);
- every error shape: {"error": "..."} and nothing else, 400 for bad input (invalid JSON, shape
  mismatch, feature count, non-numeric, NaN, null, empty batch, unknown datatype, unknown
  feature input, predict_proba on a regressor), 404 unknown model/version, 413 oversized body.
"""
import json
import os

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize

from servetest import (REF_ROW, WINE, get, lda_sklearn, post, serve, tensor, train_lda,
                       train_wine, wine_sklearn)



















def assert_error(status, doc, http_status, part):
    assert status == http_status, doc
    assert set(doc) == {"error"} and isinstance(doc["error"], str), doc
    assert part in doc["error"], doc["error"]


@pytest.fixture
def wine(ws):
    return train_wine(ws, os.path.join(ws.path, "wine"))


def test_oip_regressor_matches_sklearn(ws, wine):
    sk, xte = wine_sklearn()
    x = xte.iloc[:40]
    expect = sk.predict(x)
    proc, base = serve(ws, "--model-dir", wine)

    assert get(base, "/v2/health/live") == (200, {"live": True})
    assert get(base, "/v2/health/ready") == (200, {"ready": True})
    st, meta = get(base, "/v2")
    assert st == 200 and meta["name"] == "edgeflow" and isinstance(meta["extensions"], list)
    assert get(base, "/v2/models/wine/ready") == (200, {"name": "wine", "ready": True})

    st, md = get(base, "/v2/models/wine")
    assert st == 200 and md["name"] == "wine" and md["platform"] == "edgeflow"
    assert [i["name"] for i in md["inputs"]] == list(sk.feature_names_in_)
    assert all(i["datatype"] == "FP64" and i["shape"] == [-1, 1] for i in md["inputs"])
    assert md["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]

    # the reference row, one [1, d] input
    st, doc = post(base, "/v2/models/wine/infer", {"id": "req-42", "inputs": [tensor([REF_ROW])]})
    assert st == 200, doc
    ref = sk.predict(pd.DataFrame([REF_ROW], columns=sk.feature_names_in_))[0]
    assert doc["model_name"] == "wine" and doc["id"] == "req-42" and "model_version" not in doc
    (out,) = doc["outputs"]
    assert out["name"] == "predict" and out["datatype"] == "FP64" and out["shape"] == [1]
    assert out["data"][0] == pytest.approx(ref, rel=1e-9, abs=0)

    # [N, d], flat and nested data
    for nested in (False, True):
        st, doc = post(base, "/v2/models/wine/infer", {"inputs": [tensor(x.values, nested=nested)]})
        assert st == 200 and "id" not in doc
        assert doc["outputs"][0]["shape"] == [len(x)]
        assert np.allclose(doc["outputs"][0]["data"], expect, rtol=1e-9, atol=0)

    # FP32 inputs hold float32 values; INT64 integers
    st, doc = post(base, "/v2/models/wine/infer", {"inputs": [tensor(x.values, datatype="FP32")]})
    assert st == 200, doc
    x32 = x.values.astype(np.float32).astype(np.float64)
    assert np.allclose(doc["outputs"][0]["data"], sk.predict(pd.DataFrame(x32, columns=x.columns)),
                       rtol=1e-9, atol=0)
    xi = np.rint(x.values).astype(np.int64)
    st, doc = post(base, "/v2/models/wine/infer", {"inputs": [tensor(xi, datatype="INT64")]})
    assert st == 200, doc
    assert np.allclose(doc["outputs"][0]["data"],
                       sk.predict(pd.DataFrame(xi.astype(float), columns=x.columns)),
                       rtol=1e-9, atol=0)

    # one input per feature, named like the metadata's inputs, shuffled, [N] and [N, 1]
    inputs = []
    for k, name in enumerate(i["name"] for i in md["inputs"]):
        col = x[name].values
        inputs.append(tensor(col.reshape(-1, 1) if k % 2 else col, name=name))
    inputs.reverse()
    st, doc = post(base, "/v2/models/wine/infer",
                   {"inputs": inputs, "outputs": [{"name": "predict"}]})
    assert st == 200, doc
    assert np.allclose(doc["outputs"][0]["data"], expect, rtol=1e-9, atol=0)
    assert proc.stop() == 0


def test_oip_and_kserve_classifier(ws, wine):
    lda_dir = train_lda(ws, os.path.join(ws.path, "lda"))
    lda, x = lda_sklearn()
    labels = lda.predict(normalize(x))
    proba = lda.predict_proba(normalize(x))
    _, base = serve(ws, "--model-dir", lda_dir, "--model-dir", wine)

    st, md = get(base, "/v2/models/lda")
    assert st == 200
    # integer class labels (the letters are coded 0..25): INT64, like sklearn's int64 predict
    assert md["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]},
                             {"name": "predict_proba", "datatype": "FP64",
                              "shape": [-1, len(lda.classes_)]}]
    assert len(md["inputs"]) == x.shape[1]

    st, doc = post(base, "/v2/models/lda/infer",
                   {"inputs": [tensor(x)], "outputs": [{"name": "predict_proba"},
                                                       {"name": "predict"}]})
    assert st == 200, doc
    pr, lab = doc["outputs"]
    assert pr["name"] == "predict_proba" and pr["shape"] == list(proba.shape)
    assert np.allclose(np.array(pr["data"]).reshape(proba.shape), proba, rtol=0, atol=1e-9)
    assert lab["datatype"] == "INT64" and lab["data"] == labels.tolist()

    st, doc = post(base, "/v2/models/lda/infer",
                   {"inputs": [tensor(x)], "parameters": {"predict_proba": True}})
    assert st == 200 and [o["name"] for o in doc["outputs"]] == ["predict", "predict_proba"]
    assert np.allclose(doc["outputs"][1]["data"], proba.ravel(), rtol=0, atol=1e-9)

    # KServe v1
    st, doc = get(base, "/v1/models")
    assert st == 200 and sorted(doc["models"]) == ["lda", "wine"]
    assert get(base, "/v1/models/lda") == (200, {"name": "lda", "ready": True})
    st, doc = post(base, "/v1/models/lda:predict", {"instances": x.tolist()})
    assert st == 200 and doc == {"predictions": labels.tolist()}

    sk, xte = wine_sklearn()
    xw = xte.iloc[:30]
    expect = sk.predict(xw)
    for body in ({"instances": xw.values.tolist()}, {"inputs": xw.values.tolist()},
                 {"instances": xw.to_dict(orient="records")},
                 {"inputs": xw.to_dict(orient="list")}):
        st, doc = post(base, "/v1/models/wine:predict", body)
        assert st == 200 and set(doc) == {"predictions"}, doc
        assert np.allclose(doc["predictions"], expect, rtol=1e-9, atol=0)

    # a regressor has no probabilities
    assert_error(*post(base, "/v2/models/wine/infer",
                       {"inputs": [tensor(xw.values)], "outputs": [{"name": "predict_proba"}]}),
                 400, "regressor")
    assert_error(*post(base, "/v1/models/lda:explain", {"instances": x.tolist()}), 501, "explain")
    assert_error(*post(base, "/v1/models/lda:frobnicate", {"instances": x.tolist()}), 404,
                 "unknown verb")
    assert_error(*post(base, "/v1/models/nope:predict", {"instances": [[1]]}), 404, "nope")
    assert_error(*get(base, "/v1/models/nope"), 404, "does not exist")


def test_error_shapes(ws, wine):
    _, base = serve(ws, "--model-dir", wine, "--max-body", "4096")
    row = REF_ROW
    infer = "/v2/models/wine/infer"
    cases = [
        ("{not json", "", 400),
        ({"inputs": []}, "non-empty", 400),
        ({"inputs": [tensor([row])], "id": 5}, "\"id\" must be a string", 400),
        ({"inputs": [dict(tensor([row]), shape=[2, 11])]}, "needs 22 values but data has 11", 400),
        ({"inputs": [tensor([row[:10]])]}, "takes [N, 11]", 400),
        ({"inputs": [dict(tensor([row]), datatype="FLOAT")]}, "unknown datatype", 400),
        ({"inputs": [dict(tensor([row]), datatype="BYTES")]}, "not supported", 400),
        ({"inputs": [dict(tensor([row]), data=["x"] * 11)]}, "is a string", 400),
        ({"inputs": [dict(tensor([row]), data=[None] * 11)]}, "is null", 400),
        ({"inputs": [dict(tensor([row]), datatype="INT32")]}, "not integral", 400),
        ({"inputs": [{"name": "x", "shape": [0, 11], "datatype": "FP64", "data": []}]},
         "empty batch", 400),
        ({"inputs": [tensor([1.0], name="salt")] * 11}, "'salt' is not a feature", 400),
        ({"inputs": [tensor([row])], "outputs": [{"name": "scores"}]}, "unknown output", 400),
    ]
    for body, part, code in cases:
        assert_error(*post(base, infer, body), code, part)
    # NaN is not JSON: refused by the parser, still the OIP shape
    nan_body = json.dumps({"inputs": [tensor([[float("nan")] * 11])]})
    assert "NaN" in nan_body
    assert_error(*post(base, infer, nan_body), 400, "")
    assert_error(*post(base, "/v2/models/nope/infer", {"inputs": [tensor([row])]}), 404,
                 "unknown model 'nope'")
    assert_error(*get(base, "/v2/models/nope"), 404, "wine")
    assert_error(*get(base, "/v2/models/wine/versions/7"), 404, "no version '7'")
    assert_error(*post(base, "/v2/models/wine/versions/7/infer", {"inputs": [tensor([row])]}),
                 404, "no version '7'")
    big = {"inputs": [tensor([row] * 100)]}
    assert_error(*post(base, infer, big), 413, "--max-body")
    assert_error(*post(base, "/v1/models/wine:predict", {"instances": [row] * 100}), 413,
                 "--max-body")

    kserve = "/v1/models/wine:predict"
    for body, part in [
        ("{not json", ""),
        ({"instances": []}, "empty batch"),
        ({"instances": [row[:5]]}, "has 5 values; this model takes 11"),
        ({"instances": [row[:10] + ["x"]]}, "expected a number, got a string"),
        ({"instances": [row[:10] + [None]]}, "got null"),
        ({"rows": [row]}, "expected {\"instances\""),
        ({"instances": [row], "inputs": [row]}, "not both"),
    ]:
        assert_error(*post(base, kserve, body), 400, part)
    # still serving after all that
    st, doc = post(base, kserve, {"instances": [row]})
    assert st == 200 and len(doc["predictions"]) == 1
    # every answered prediction request is counted per protocol and status
    metrics = requests.get(base + "/metrics", timeout=10).text
    lines = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in metrics.splitlines()
             if ln.startswith("edgeflow_serve_requests_total{")}
    def count(proto, code):
        return sum(v for k, v in lines.items()
                   if f'protocol="{proto}"' in k and f'code="{code}"' in k)
    assert count("oip", 400) == len(cases) + 1
    assert count("oip", 413) == 1 and count("kserve", 413) == 1
    assert count("kserve", 400) == 7 and count("kserve", 200) == 1


def test_text_labels_are_bytes(ws):
    # wine quality as text classes: labels come back as strings (BYTES), like sklearn's predict
    d = pd.read_csv(WINE, sep=";")
    d["quality"] = np.where(d["quality"] <= 5, "low", np.where(d["quality"] == 6, "mid", "high"))
    csv_path = os.path.join(ws.path, "wine-text.csv")
    d.to_csv(csv_path, index=False)
    out = os.path.join(ws.path, "winecls")
    r = ws.run("train", "lda", "--data", csv_path, "--target", "quality", "--test-size", "0.25",
               "--seed", "42", "--output", out)
    assert r.returncode == 0, r.stderr
    tr, te = train_test_split(d, test_size=0.25, random_state=42)
    lda = LinearDiscriminantAnalysis().fit(tr.drop(columns=["quality"]), tr["quality"])
    x = te.drop(columns=["quality"]).iloc[:40]
    labels, proba = lda.predict(x), lda.predict_proba(x)
    _, base = serve(ws, "--model-dir", out)

    st, doc = post(base, "/v2/models/winecls/infer",
                   {"inputs": [tensor(x.values)], "parameters": {"predict_proba": True}})
    assert st == 200, doc
    lab, pr = doc["outputs"]
    assert lab["datatype"] == "BYTES" and lab["data"] == list(labels)
    # the probability columns follow sklearn's classes_ order (sorted names)
    assert np.allclose(np.array(pr["data"]).reshape(proba.shape), proba, rtol=0, atol=1e-9)
    st, doc = post(base, "/v1/models/winecls:predict", {"instances": x.values.tolist()})
    assert st == 200 and doc == {"predictions": list(labels)}
