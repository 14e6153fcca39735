"""Shared pieces of the model-server tests (test_70..76): data paths, the reference row, the
wine ElasticNet and EEG LDA trained by `edgeflow train` and by scikit-learn on the same split,
starting `edgeflow serve`, and JSON requests."""
import json
import os

import numpy as np
import pandas as pd
import requests
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize

from conftest import ROOT, free_port, wait_port

DATA = os.path.join(ROOT, "examples", "data")
WINE = os.path.join(DATA, "winequality-red.csv")
EEG_TRAIN = os.path.join(DATA, "eeg-letters-train.csv")
EEG_TEST = os.path.join(DATA, "eeg-letters-test.csv")
REF_ROW = [6.4, 0.57, 0.02, 1.8, 0.067, 4.0, 11.0, 0.997, 3.46, 0.68, 9.5]


def wine_sklearn():
    """scikit-learn's ElasticNet(alpha=0.5, l1_ratio=0.5) on the 75% split, and the test rows."""
    d = pd.read_csv(WINE, sep=";")
    tr, te = train_test_split(d, test_size=0.25, random_state=42)
    xtr, ytr = tr.drop(columns=["quality"]), tr["quality"]
    sk = ElasticNet(alpha=0.5, l1_ratio=0.5, random_state=42).fit(xtr, ytr)
    return sk, te.drop(columns=["quality"])


def train_wine(ws, out, extra=(), env=None):
    """The same model by `edgeflow train` (into out when given)."""
    r = ws.run("train", "elasticnet", "--data", WINE, "--target", "quality", "--param",
               "alpha=0.5", "--param", "l1_ratio=0.5", "--test-size", "0.25", "--seed", "42",
               *extra, *(["--output", out] if out else []), env=env)
    assert r.returncode == 0, r.stderr
    return out


def train_lda(ws, out):
    r = ws.run("train", "lda", "--data", EEG_TRAIN, "--test-data", EEG_TEST, "--target",
               "# Letter", "--features", "2:", "--normalize", "l2", "--output", out)
    assert r.returncode == 0, r.stderr
    return out


def lda_sklearn():
    """scikit-learn's LDA on the L2-normalised EEG training rows, and 50 test rows."""
    tr, te = pd.read_csv(EEG_TRAIN), pd.read_csv(EEG_TEST)
    feats = list(tr.columns[2:])
    lda = LinearDiscriminantAnalysis().fit(normalize(tr[feats].values), tr["# Letter"])
    return lda, te[feats].values[:50]


def serve(ws, *args, name="serve", env=None):
    """`edgeflow serve --port <free> *args`; returns (process, base URL) once the port accepts."""
    port = free_port()
    proc = ws.edgeflow("serve", "--port", port, *args, name=name, env=env)
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def post(base, path, body, **kw):
    """POSTs JSON (a document, or text/bytes as is); returns (status, parsed answer)."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    r = requests.post(base + path, data=data, headers={"Content-Type": "application/json"},
                      timeout=30, **kw)
    return r.status_code, r.json()


def get(base, path):
    r = requests.get(base + path, timeout=30)
    return r.status_code, r.json()


def tensor(x, name="input-0", datatype="FP64", nested=False):
    """An OIP v2 input tensor from rows x."""
    x = np.asarray(x)
    data = x.tolist() if nested else x.ravel().tolist()
    return {"name": name, "shape": list(x.shape), "datatype": datatype, "data": data}
