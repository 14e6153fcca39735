"""`edgeflow serve` micro-batching (issue 5: "concurrent single-row requests are micro-batched
into one predict call; max batch and max delay are flags; off must be possible").

An MLP classifier on EEG letters (L2-normalised) and an ElasticNet on wine are served twice:
batching on (--batch-max 32 --batch-delay 5ms, 32 HTTP threads) and off (--batch-max 1). 32
client threads send single-row requests concurrently: Seldon v1 with and without probabilities
and OIP v2 to the classifier, OIP v2 to the regressor. Judged by `edgeflow predict` run offline
on the whole CSV, and by the other server:
- every reply carries the answer of the row it sent: labels equal offline and off-vs-on;
  probabilities equal to 1e-12 relative (MLP scoring is a BLAS dgemm whose kernels differ by
  ulps between a 1-row and a many-row product - the same difference as between serve and
  predict without batching); the ElasticNet's predictions are bit-identical (dgemv);
- /metrics edgeflow_serve_batch_rows: calls of more than one row with batching on, only
  one-row calls (one per request) with it off;
- bad flags are refused with exit status 2 and one line.
"""
import os
import threading

import numpy as np
import pandas as pd
import requests

from conftest import ROOT
from servetest import serve

DATA = os.path.join(ROOT, "examples", "data")
EEG_TRAIN = os.path.join(DATA, "eeg-letters-train.csv")
EEG_TEST = os.path.join(DATA, "eeg-letters-test.csv")
WINE = os.path.join(DATA, "winequality-red.csv")
CLIENTS = 32
PER_CLIENT = 8


def offline(ws, model, data, proba):
    out = os.path.join(ws.path, os.path.basename(model) + "-offline.csv")
    ws.run("predict", "--model", model, "--data", data, "--output", out,
           *(["--proba"] if proba else []), check=True)
    return pd.read_csv(out, float_precision="round_trip")


def serve_threads(ws, name, *args):
    """32 HTTP threads, so that requests can queue for a batch."""
    return serve(ws, "--threads", 32, "--log-level", "warn", *args, name=name)


def hammer(base, eeg, wine):
    """CLIENTS threads x PER_CLIENT requests; returns {(kind, row): answer}."""
    answers, errors, lock = {}, [], threading.Lock()

    def client(t):
        s = requests.Session()
        for j in range(PER_CLIENT):
            k = t * PER_CLIENT + j
            kind = ("seldon", "seldon_proba", "oip", "oip_wine")[k % 4]
            try:
                if kind == "oip_wine":
                    i = k % len(wine)
                    body = {"inputs": [{"name": "x", "shape": [1, wine.shape[1]],
                                        "datatype": "FP64", "data": wine[i].tolist()}]}
                    r = s.post(base + "/v2/models/wine/infer", json=body, timeout=60)
                    ans = r.json()["outputs"][0]["data"][0] if r.status_code == 200 else None
                elif kind == "oip":
                    i = k % len(eeg)
                    body = {"inputs": [{"name": "x", "shape": [1, eeg.shape[1]],
                                        "datatype": "FP64", "data": eeg[i].tolist()}],
                            "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
                    r = s.post(base + "/v2/models/mlp/infer", json=body, timeout=60)
                    out = r.json()["outputs"] if r.status_code == 200 else None
                    ans = (out[0]["data"][0], out[1]["data"]) if out else None
                else:
                    i = k % len(eeg)
                    body = {"data": {"ndarray": [eeg[i].tolist()]}}
                    if kind == "seldon_proba":
                        body["meta"] = {"tags": {"predict_proba": True}}
                    r = s.post(base + "/api/v1.0/predictions", json=body, timeout=60)
                    ans = r.json()["data"]["ndarray"][0] if r.status_code == 200 else None
                with lock:
                    if ans is None:
                        errors.append((kind, r.status_code, r.text[:200]))
                    answers[(kind, i)] = ans
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append((kind, repr(e)))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    assert len(answers) >= CLIENTS * PER_CLIENT // 2
    return answers


def batch_rows(base, model):
    """edgeflow_serve_batch_rows of model: (count, sum, count of calls with one row)."""
    text = requests.get(base + "/metrics", timeout=10).text
    lab = f'{{model="{model}",version=""'
    vals = {}
    for line in text.splitlines():
        if line.startswith("edgeflow_serve_batch_rows") and lab in line:
            name, value = line.rsplit(" ", 1)
            vals[name] = float(value)
    return (vals[f"edgeflow_serve_batch_rows_count{lab}}}"],
            vals[f"edgeflow_serve_batch_rows_sum{lab}}}"],
            vals[f'edgeflow_serve_batch_rows_bucket{lab},le="1"}}'])


def test_batched_replies_equal_unbatched_and_offline(ws):
    mlp = os.path.join(ws.path, "mlp")
    ws.run("train", "mlp_classifier", "--data", EEG_TRAIN, "--target", "# Letter", "--features",
           "2:", "--normalize", "l2", "--param", "max_iter=20", "--output", mlp, check=True)
    wine_dir = os.path.join(ws.path, "wine")
    ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--param", "alpha=0.5",
           "--param", "l1_ratio=0.5", "--output", wine_dir, check=True)

    eeg_df = pd.read_csv(EEG_TEST, float_precision="round_trip")
    eeg = eeg_df.iloc[:, 2:].values
    wine = pd.read_csv(WINE, sep=";", float_precision="round_trip").drop(columns=["quality"]).values
    ref_eeg = offline(ws, mlp, EEG_TEST, proba=True)
    ref_labels = ref_eeg["prediction"].values
    ref_proba = ref_eeg.drop(columns=["prediction"]).values
    ref_wine = offline(ws, wine_dir, WINE, proba=False)["prediction"].values

    models = ("--model-dir", mlp, "--model-dir", wine_dir)
    on, on_base = serve_threads(ws, "serve-on", *models, "--batch-max", 32, "--batch-delay", "5ms")
    off, off_base = serve_threads(ws, "serve-off", *models, "--batch-max", 1)
    got_on = hammer(on_base, eeg, wine)
    got_off = hammer(off_base, eeg, wine)
    assert got_on.keys() == got_off.keys()

    for (kind, i), a in got_on.items():
        b = got_off[(kind, i)]
        if kind == "oip_wine":  # dgemv: the same bits batched, alone and offline
            assert a == b == ref_wine[i], (i, a, b, ref_wine[i])
        elif kind == "seldon":
            assert a == b == ref_labels[i], (i, a, b, ref_labels[i])
        else:
            if kind == "oip":
                assert a[0] == b[0] == ref_labels[i], (i, a[0], b[0], ref_labels[i])
                a, b = a[1], b[1]
            assert len(a) == len(b) == ref_proba.shape[1]
            assert np.allclose(a, b, rtol=1e-12, atol=1e-300), (kind, i)
            assert np.allclose(a, ref_proba[i], rtol=1e-12, atol=1e-300), (kind, i)
            # and the probabilities belong to this row: its label is their argmax class
            assert int(np.argmax(a)) == list(ref_eeg.columns[1:]).index(f"proba_{ref_labels[i]}")

    n_mlp = sum(1 for (kind, _) in got_on if kind != "oip_wine")
    # batching on: fewer predict calls than requests, some of several rows
    count, total, ones = batch_rows(on_base, "mlp")
    assert total == CLIENTS * PER_CLIENT * 3 // 4 and n_mlp <= total
    assert ones < count < total, (ones, count, total)
    # off: one call of one row per request
    count, total, ones = batch_rows(off_base, "mlp")
    assert count == total == ones == CLIENTS * PER_CLIENT * 3 // 4
    count, total, ones = batch_rows(off_base, "wine")
    assert count == total == ones == CLIENTS * PER_CLIENT // 4
    assert on.stop() == 0 and off.stop() == 0


def test_bad_batch_flags(ws):
    for args in (["--batch-max", "0"], ["--batch-max", "100000"], ["--batch-delay", "fast"],
                 ["--batch-delay", "-1ms"], ["--batch-delay", "5parsecs"]):
        r = ws.run("serve", "--model-dir", "/nonexistent", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "--batch-max" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
