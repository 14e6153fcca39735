"""Data utilities of the ML core (src/ml/dataset.c, split.c, preprocess.c, score.c) against
pandas 1.5 and scikit-learn 1.2, run live on the same inputs.

Everything goes through ef_ml_data_probe (tests/integration/ml_data_probe.c, built next to
ef_ml_probe in $EF_BUILD_DIR/src/ml). The probe prints floats with 17 significant digits, so the
comparisons below are bit for bit unless a tolerance is named:
  - the CSV loader equals pandas.read_csv (values, NaN/Inf, -0.0, column names) on the example
    data sets, on crafted files (quotes, CRLF, CR, BOM, tabs, NA and inf spellings, long digit
    strings, big integers) and on random numeric tokens;
  - train_test_split / KFold / StratifiedKFold give the same rows and folds for the same seeds;
  - the metrics, StandardScaler and normalize equal sklearn's exactly (fed a DataFrame, as in the
    notebook: numpy then reduces in the order the C code uses);
  - every bad input exits 1 with a message that names the line and/or the column.
"""
import io
import json
import math
import os
import statistics
import subprocess
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler, normalize

from conftest import ROOT, SANITIZED

BUILD = os.environ.get("EF_BUILD_DIR") or os.path.join(ROOT, "build")
PROBE = os.path.join(BUILD, "src", "ml", "ef_ml_data_probe")
DATA = os.path.join(ROOT, "examples", "data")
WINE = os.path.join(DATA, "winequality-red.csv")
EEG = os.path.join(DATA, "eeg-letters-train.csv")


def bits(a):
    """float64 values as their bit patterns (NaN payloads normalised) for exact comparisons."""
    a = np.array(a, dtype=np.float64)
    a = np.where(np.isnan(a), np.nan, a)
    return a.view(np.uint64)


def jnum(v):
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    return float(v)


class Probe:
    def __init__(self, ws):
        if not os.path.exists(PROBE):
            pytest.fail(f"{PROBE} is missing: build the ef_ml_data_probe target")
        self.ws = ws
        self.n = 0

    def file(self, data, name=None):
        self.n += 1
        path = os.path.join(self.ws.path, name or f"in{self.n}.csv")
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def run(self, *args, ok=True):
        r = subprocess.run([PROBE, *map(str, args)], capture_output=True, text=True,
                           env=self.ws.env(), timeout=120)
        if ok:
            assert r.returncode == 0, f"probe {args} failed: {r.stderr}"
            return json.loads(r.stdout)
        assert r.returncode == 1, f"probe {args} exited {r.returncode}: {r.stdout[:300]} {r.stderr}"
        assert r.stderr.startswith("error: "), r.stderr
        return r.stderr[len("error: "):].strip()

    def load(self, path, *opts):
        d = self.run("load", path, *opts)
        X = np.array([[jnum(v) for v in row] for row in d["X"]], dtype=np.float64)
        X = X.reshape(len(d["X"]), len(d["X"][0]) if d["X"] else len(d["columns"]))
        y = None if d["y"] is None else np.array([jnum(v) for v in d["y"]], dtype=np.float64)
        return d, X, y


@pytest.fixture
def probe(ws):
    return Probe(ws)


# ---- loader vs pandas.read_csv --------------------------------------------------------------


def test_wine_equals_pandas(probe):
    df = pd.read_csv(WINE, sep=";")
    d, X, y = probe.load(WINE, "--target", "quality")
    assert d["delimiter"] == ";" and d["target"] == "quality" and d["n_columns"] == 12
    assert d["columns"] == [c for c in df.columns if c != "quality"]
    assert X.shape == (1599, 11)
    assert np.array_equal(bits(X), bits(df.drop(columns=["quality"]).to_numpy(dtype=np.float64)))
    assert np.array_equal(bits(y), bits(df["quality"].to_numpy(dtype=np.float64)))
    assert d["class_names"] is None
    assert d["row_line"][:3] == [2, 3, 4] and d["row_line"][-1] == 1600


def test_eeg_equals_pandas(probe):
    df = pd.read_csv(EEG)
    d, X, y = probe.load(EEG, "--target", "# Letter", "--features", "2:")
    assert d["delimiter"] == ","
    assert d["columns"] == list(df.columns[2:])  # names keep pandas' leading space
    assert d["columns"][0] == " Cz/theta"
    assert np.array_equal(bits(X), bits(df.iloc[:, 2:].to_numpy(dtype=np.float64)))
    assert np.array_equal(bits(y), bits(df["# Letter"].to_numpy(dtype=np.float64)))
    # no target, every column (prediction data)
    d2, X2, y2 = probe.load(EEG)
    assert y2 is None and d2["columns"] == list(df.columns)
    assert np.array_equal(bits(X2), bits(df.to_numpy(dtype=np.float64)))


CRAFTED = [
    # (name, bytes, read_csv kwargs)
    ("quotes", b'"a ""q""","b,c",d\n"1.5","2",3\n"4","5,",6\n', {}, ["b,c"]),
    ("quoted_newline", b'a,txt,b\n1,"line\none",2\n3,"x ""y""",4\n', {}, ["txt"]),
    ("crlf", b"a,b\r\n1,2\r\n3.5,-4\r\n", {}, []),
    ("lone_cr", b"a,b\r1,2\r3,4", {}, []),
    ("bom", b"\xef\xbb\xbfa;b\n1;2\n", {"sep": ";"}, []),
    ("tabs", b"x\ty\tz\n1\t2\t3\n4.25\t5\t6e3\n", {"sep": "\t"}, []),
    ("blank_lines", b"\na,b\n\n1,2\n   \n\t\n3,4\n\n", {}, []),
    ("no_final_newline", b"a,b\n1,2\n3,4", {}, []),
    ("na_spellings", b"a,b\nNaN,1\nnan,2\n,3\nNA,4\nN/A,5\nNULL,6\n#N/A,7\n-nan,8\n<NA>,9\n1.5,10\n",
     {}, []),
    ("inf_spellings", b"a,b\ninf,1\n-Inf,2\nINFINITY,3\n+inf,4\n-infinity,5\n1.5,6\n", {}, []),
    ("blanks_around", b"a,b\n 4.5 , 1\n-2 ,\t7\t\n", {}, []),
    ("long_digits", b"a\n0.30000000000000004\n0.1000000000000000055511151231257827\n"
     b"123456789012345678.0\n00000000000000000001.5\n1e-330\n-1e-330\n2.5e-324\n1e308\n"
     b"1.7976931348623157e308\n1e-0000000000000005\n.5\n5.\n+.5e1\n-0.0\n0.000000000000000000001\n",
     {}, []),
    ("big_ints", b"i,u,n\n9223372036854775807,18446744073709551615,1\n"
     b"-9223372036854775808,9223372036854775808,\n123456789012345678,12345678901234567890,3\n",
     {}, []),
    ("int_vs_float", b"a,b\n9007199254740993,1\n1.5,2\n", {}, []),
    ("minus_zero", b"a,b\n-0,-0.0\n1,2\n", {}, []),
    ("bools", b"a,b\nTrue,1\nfalse,2\nTRUE,3\n", {}, []),
    ("unnamed_dups", b"a,,a,a.1, s ,\"q\"\n1,2,3,4,5,6\n", {}, []),
    ("semicolon_decimals_text", b"name;v\n\"x;y\";1.25\n\"z\";2\n", {"sep": ";"}, ["name"]),
]


@pytest.mark.parametrize("name,data,kw,drop", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_equals_pandas(probe, name, data, kw, drop):
    df = pd.read_csv(io.BytesIO(data), **kw)
    path = probe.file(data)
    opts = []
    for c in drop:
        opts += ["--drop", c]
    d, X, _ = probe.load(path, *opts)
    keep = [c for c in df.columns if c not in drop]
    assert d["columns"] == keep
    expect = df[keep].astype(np.float64).to_numpy()
    assert X.shape == expect.shape
    assert np.array_equal(bits(X), bits(expect)), f"{X} != {expect}"


def test_random_tokens_equal_pandas(probe):
    """Random decimal tokens (1-25 digits, exponents -330..280, signs, some integers among them)
    bit for bit: the float parser, its 17-digit truncation and its power-of-ten scaling."""
    rng = np.random.default_rng(7)
    toks = []
    while len(toks) < 3000:
        k = int(rng.choice([1, 2, 3, 5, 8, 15, 16, 17, 18, 20, 25]))
        digs = "".join(rng.choice(list("0123456789"), size=k))
        pos = int(rng.integers(0, k + 1))
        t = digs[:pos] + "." + digs[pos:]
        if rng.random() < 0.3:
            t += "e" + str(int(rng.integers(-330, 280)))
        if rng.random() < 0.1:
            t = digs[:18]  # an integer in a float column: parsed by the float parser
        if rng.random() < 0.2:
            t = "-" + t
        toks.append(t)
    # a decimal first: a column whose first int64 failure is an overflow (a 20+ digit integer
    # part) is text to pandas (see test_bad_inputs/overflow_first)
    rows = ["0.5,0.5,0.5"] + [",".join(toks[i:i + 3]) for i in range(0, len(toks), 3)]
    text = "a,b,c\n" + "\n".join(rows) + "\n"
    df = pd.read_csv(io.StringIO(text))
    assert all(df[c].dtype == np.float64 for c in df.columns), df.dtypes
    d, X, _ = probe.load(probe.file(text))
    assert np.array_equal(bits(X), bits(df.to_numpy(dtype=np.float64)))


def test_text_target_classes(probe):
    data = "f,label\n1,setosa\n2,virginica\n3,setosa\n4,Versicolor\n5,virginica\n"
    d, X, y = probe.load(probe.file(data), "--target", "label")
    labels = pd.read_csv(io.StringIO(data))["label"].to_numpy()
    classes, inv = np.unique(labels, return_inverse=True)  # what LabelEncoder gives
    assert d["class_names"] == list(classes)
    assert np.array_equal(y, inv.astype(float))
    # a bool target: pandas reads bool, classes False < True
    d, _, y = probe.load(probe.file("f,ok\n1,True\n2,false\n3,TRUE\n"), "--target", "ok")
    assert d["class_names"] == ["False", "True"] and list(y) == [1.0, 0.0, 1.0]


def test_features_spec_and_lookup(probe):
    df = pd.read_csv(WINE, sep=";")
    cols = list(df.columns)
    for spec, expect in [
        ("0:5,7", cols[0:5] + [cols[7]]),
        ("alcohol,pH", ["alcohol", "pH"]),
        ("-3:", cols[-3:-1]),            # the target (last) is skipped by slices
        ("::2", [c for c in cols[::2] if c != "quality"]),
        ("10:2:-3", cols[10:2:-3]),
        ("pH, 0 ,pH,1", ["pH", cols[0], cols[1]]),  # each column once, blanks ignored
    ]:
        d, X, _ = probe.load(WINE, "--target", "quality", "--features", spec)
        assert d["columns"] == expect, spec
        assert np.array_equal(bits(X), bits(df[expect].to_numpy(dtype=np.float64)))
    d, _, _ = probe.load(WINE, "--target", "quality", "--drop", "density", "--drop", "pH")
    assert d["columns"] == [c for c in cols if c not in ("density", "pH", "quality")]
    # trimmed lookup: " Cz/theta" is found as Cz/theta; --columns keeps names with commas
    d, X, y = probe.load(EEG, "--target", "# Letter", "--features", "Cz/theta, Fz/alpha")
    assert d["columns"] == [" Cz/theta", " Fz/alpha"]
    d, X, _ = probe.load(probe.file('"a,b",c,d\n1,2,3\n'), "--columns", "d|a,b")
    assert d["columns"] == ["d", "a,b"] and X.tolist() == [[3.0, 1.0]]
    # prediction data: select the model's feature names by name, in the model's order
    d, X, _ = probe.load(WINE, "--select", "pH|alcohol|fixed acidity")
    assert np.array_equal(bits(X), bits(df[["pH", "alcohol", "fixed acidity"]].to_numpy(float)))


BAD = [
    # (name, data, load options, substrings the message must hold)
    ("text_cell", "a,b\n1,2\n3,x1\n", [], ["line 3, column 'b'", "'x1' is not a number"]),
    ("text_cell_quoted_multiline", 'a,b\n1,"2\n"\n"3\n",abc\n', [],
     ["line 4, column 'b'", "'abc'"]),
    ("too_many_fields", "a,b\n1,2\n3,4,5\n", [], ["line 3 has 3 fields", "header has 2"]),
    ("too_few_fields", "a;b;c\n1;2;3\n\n4;5\n", [], ["line 4 has 2 fields"]),
    ("open_quote", 'a,b\n1,2\n"3,4\n5,6\n', [], ["line 3", "never closed"]),
    ("empty", "", [], ["empty"]),
    ("blank_only", "\n  \n\r\n", [], ["empty"]),
    ("header_only", "a,b\n", [], ["no data rows", "line 1"]),
    ("missing_target", "a,b\n1,2\n", ["--target", "zz"], ["target column 'zz' not found",
                                                          "columns are: a, b"]),
    ("missing_drop", "a,b\n1,2\n", ["--drop", "c"], ["column to drop 'c' not found"]),
    ("missing_feature", "a,b,t\n1,2,3\n", ["--target", "t", "--features", "a,q"],
     ["feature 'q' not found", "a, b, t"]),
    ("index_out_of_range", "a,b\n1,2\n", ["--features", "5"], ["index 5 is out of range"]),
    ("step_zero", "a,b\n1,2\n", ["--features", "::0"], ["step 0"]),
    ("target_as_feature", "a,b\n1,2\n", ["--target", "b", "--features", "a,b"],
     ["'b' is the target"]),
    ("no_features", "a,b\n1,2\n", ["--target", "b", "--drop", "a"], ["no feature columns"]),
    ("nan_check", "a,b\n1,2\n3,\n", ["--check-finite"], ["line 3, column 'b' is NaN"]),
    ("inf_check", "a,t\n1,2\n\n-inf,3\n", ["--target", "t", "--check-finite"],
     ["line 4, column 'a' is -inf"]),
    ("target_nan", "a,t\n1,2\n2,NA\n", ["--target", "t", "--check-finite"],
     ["line 3: the target 't' is NaN"]),
    ("text_target_missing", "a,t\n1,x\n2,\n", ["--target", "t"], ["line 3", "target 't' is missing"]),
    ("overflow_int", "a\n99999999999999999999999\n", [], ["line 2, column 'a'"]),
    ("overflow_float", "a\n1.8e308\n", [], ["'1.8e308' is not a number"]),
    ("overflow_first", "a\n952743494239564743358.3551\n1.5\n", [],
     ["line 2, column 'a': '952743494239564743358.3551' overflows"]),
    ("uint_and_negative", "a\n18446744073709551615\n-1\n", [], ["line 2, column 'a'"]),
    ("bool_mixed", "a\nTrue\n1\n", [], ["line 2, column 'a'", "'True'"]),
    ("too_big", "a,b\n" + "1,2\n" * 100, ["--max-bytes", "50"], ["limit of 50 bytes"]),
    ("select_missing", "a,b\n1,2\n", ["--select", "b|zz"], ["no column 'zz'", "a, b"]),
]


@pytest.mark.parametrize("name,data,opts,expect", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(probe, name, data, opts, expect):
    path = probe.file(data)
    msg = probe.run("load", path, *opts, ok=False)
    assert msg.startswith(path + ": "), msg
    assert "\n" not in msg
    for e in expect:
        assert e in msg, f"{e!r} not in {msg!r}"


def test_bad_inputs_are_bad_for_pandas_too():
    """The numeric rejections above are exactly the columns pandas reads as text (object)."""
    for data in ["a,b\n1,2\n3,x1\n", "a\n99999999999999999999999\n", "a\n1.8e308\n", "a\nTrue\n1\n",
                 "a\n952743494239564743358.3551\n1.5\n", "a\n18446744073709551615\n-1\n"]:
        df = pd.read_csv(io.StringIO(data))
        assert any(df[c].dtype == object for c in df.columns), data


def test_missing_file(probe):
    msg = probe.run("load", os.path.join(probe.ws.path, "nope.csv"), ok=False)
    assert "nope.csv: cannot open" in msg


def test_row_lines(probe):
    """row_line: the physical line each row starts on (blank lines and quoted breaks count)."""
    data = 'a,t\n\n1,"x\ny"\r\n2,z\r3,"w"\n\n\n4,v'
    d, _, _ = probe.load(probe.file(data), "--target", "t")
    assert d["row_line"] == [3, 5, 6, 9]


# ---- splits and folds vs scikit-learn ----------------------------------------------------------


@pytest.mark.parametrize("n,test_size,seed", [
    (1599, 0.25, 42), (10, 0.3, 0), (100, 0.2, 123), (7, 3, 5), (1000, 0.1, 4294967295),
    (5, 0.5, 1), (1300, 0.33, 7), (2, 0.5, 9)])
def test_train_test_split(probe, n, test_size, seed):
    ts = int(test_size) if test_size >= 1 else test_size
    tr, te = train_test_split(np.arange(n), test_size=ts, random_state=seed)
    got = probe.run("split", n, test_size, seed)
    assert got["train"] == tr.tolist() and got["test"] == te.tolist()
    tr, te = train_test_split(np.arange(n), test_size=ts, shuffle=False)
    got = probe.run("split", n, test_size, seed, 0)
    assert got["train"] == tr.tolist() and got["test"] == te.tolist()


def test_wine_split_rows(probe):
    """The reference notebook's split: same rows in the same order as train_test_split."""
    df = pd.read_csv(WINE, sep=";")
    Xtr, Xte = train_test_split(df.drop(columns=["quality"]), test_size=0.25, random_state=42)
    got = probe.run("split", 1599, 0.25, 42)
    _, X, _ = probe.load(WINE, "--target", "quality")
    assert np.array_equal(bits(X[got["train"]]), bits(Xtr.to_numpy(float)))
    assert np.array_equal(bits(X[got["test"]]), bits(Xte.to_numpy(float)))


@pytest.mark.parametrize("n,test_size", [(10, 0), (10, 1.0 + 0.5), (10, 10), (10, -0.5), (0, 0.25),
                                         (1, 0.5)])
def test_split_errors(probe, n, test_size):
    ts = int(test_size) if test_size >= 1 and test_size == int(test_size) else test_size
    with pytest.raises((ValueError, TypeError)):
        train_test_split(np.arange(n), test_size=ts, random_state=0)
    msg = probe.run("split", n, test_size, 0, ok=False)
    assert "test_size" in msg or "no rows" in msg


def folds_of(splitter, n, y=None):
    fold = [-1] * n
    for f, (tr, te) in enumerate(splitter.split(np.zeros((n, 1)), y)):
        for i in te:
            fold[i] = f
        assert sorted(set(range(n)) - set(te)) == tr.tolist()  # train = the rest, sorted
    return fold


@pytest.mark.parametrize("n,k,shuffle,seed", [(10, 3, 0, 0), (10, 3, 1, 42), (1599, 5, 1, 42),
                                              (1599, 10, 0, 0), (7, 7, 1, 3), (100, 4, 1, 2**32 - 1)])
def test_kfold(probe, n, k, shuffle, seed):
    sk = KFold(k, shuffle=bool(shuffle), random_state=seed if shuffle else None)
    assert probe.run("kfold", n, k, shuffle, seed)["folds"] == folds_of(sk, n)


def test_kfold_errors(probe):
    with pytest.raises(ValueError):
        list(KFold(5).split(np.zeros((3, 1))))
    assert "greater than the number of samples" in probe.run("kfold", 3, 5, 0, 0, ok=False)
    assert "at least 2 folds" in probe.run("kfold", 10, 1, 0, 0, ok=False)


def skfold_case(probe, y, k, shuffle, seed):
    path = probe.file("i,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(y)))
    got = probe.run("skfold", path, k, shuffle, seed)
    sk = StratifiedKFold(k, shuffle=bool(shuffle), random_state=seed if shuffle else None)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        expect = folds_of(sk, len(y), np.asarray(y))
    assert got["folds"] == expect
    texts = [str(x.message) for x in w if issubclass(x.category, UserWarning)]
    assert got["warning"] == (texts[0] if texts else "")


@pytest.mark.parametrize("shuffle,seed", [(0, 0), (1, 0), (1, 42), (1, 2**31)])
def test_stratified_kfold(probe, shuffle, seed):
    rng = np.random.default_rng(seed)
    skfold_case(probe, rng.integers(0, 3, 50).tolist(), 5, shuffle, seed)
    skfold_case(probe, [3, 3, 1, 1, 1, 2, 2, 2, 2, 3, 1, 9, 9, 9, 9], 3, shuffle, seed)
    skfold_case(probe, ["b", "a", "b", "c", "a", "b", "c", "c", "a", "b"], 2, shuffle, seed)
    skfold_case(probe, [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 2], 3, shuffle, seed)  # warns: class of 1


@pytest.mark.parametrize("shuffle,seed", [(0, 0), (1, 42)])
def test_stratified_kfold_eeg(probe, shuffle, seed):
    y = pd.read_csv(EEG)["# Letter"].tolist()
    skfold_case(probe, y, 5, shuffle, seed)


def test_stratified_kfold_errors(probe):
    for y, k, what in [([0, 1, 0], 5, "greater than the number of samples"),
                       ([0, 0, 1, 1, 2, 2], 3, "number of members in each class"),
                       ([0.5, 1.0, 1.5, 2.0], 2, "continuous")]:
        with pytest.raises(ValueError):
            list(StratifiedKFold(k).split(np.zeros((len(y), 1)), y))
        path = probe.file("i,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(y)))
        assert what in probe.run("skfold", path, k, 0, 0, ok=False)


# ---- metrics and preprocessing vs scikit-learn ------------------------------------------------


def col_file(probe, values, name="v"):
    """Writes values (1-d or 2-d) as a CSV with a header; returns the path and the values as
    pandas reads the file back (repr() of a double can have 17 digits, which pandas' parser
    truncates: the reference must see the same numbers as the probe)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    head = ",".join(f"{name}{j}" for j in range(values.shape[1]))
    body = "".join(",".join(repr(float(x)) for x in row) + "\n" for row in values)
    path = probe.file(head + "\n" + body)
    back = pd.read_csv(path).to_numpy(dtype=np.float64)
    return path, back[:, 0] if back.shape[1] == 1 else back


@pytest.mark.parametrize("n", [1, 7, 100, 1000, 9000])
def test_regression_metrics(probe, n):
    rng = np.random.default_rng(n)
    t, yt = col_file(probe, rng.normal(5, 2, n) * 10 ** rng.uniform(-2, 2, n))
    p, yp = col_file(probe, yt + rng.normal(0, 1, n))
    assert probe.run("score", "rmse", t, p)["value"] == metrics.mean_squared_error(yt, yp,
                                                                                  squared=False)
    assert probe.run("score", "mae", t, p)["value"] == metrics.mean_absolute_error(yt, yp)
    r2 = probe.run("score", "r2", t, p)["value"]
    if n < 2:
        assert r2 == "NaN"
    else:
        assert r2 == metrics.r2_score(yt, yp)


def test_r2_constant_target(probe):
    c = np.full(5, 3.0)
    for pred in [c, c + np.arange(5)]:
        got = probe.run("score", "r2", col_file(probe, c)[0], col_file(probe, pred)[0])["value"]
        assert got == metrics.r2_score(c, pred)  # 1.0 for a perfect fit, else 0.0


@pytest.mark.parametrize("k,n", [(2, 50), (3, 200), (6, 1000), (10, 37)])
def test_classification_metrics(probe, k, n):
    rng = np.random.default_rng(k * n)
    yt = rng.integers(0, k, n).astype(float)
    yp = np.where(rng.random(n) < 0.6, yt, rng.integers(0, k + 1, n)).astype(float)  # k: unseen
    t, p = col_file(probe, yt)[0], col_file(probe, yp)[0]
    assert probe.run("score", "accuracy", t, p)["value"] == metrics.accuracy_score(yt, yp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expect = [metrics.precision_score(yt, yp, average="macro"),
                  metrics.recall_score(yt, yp, average="macro"),
                  metrics.f1_score(yt, yp, average="macro")]
    got = probe.run("score", "prf", t, p)
    assert [got["precision"], got["recall"], got["f1"]] == expect
    cm = probe.run("score", "confusion", t, p)
    labels = np.unique(np.concatenate([yt, yp]))
    assert cm["labels"] == labels.tolist()
    assert cm["matrix"] == metrics.confusion_matrix(yt, yp).tolist()
    # log-loss of random probabilities (some rows not normalised, some 0 / 1 to hit the clip)
    P = rng.random((n, k)) ** 3
    P[::7] = 0.0
    P[::7, 0] = 1.0
    P[1::5] /= P[1::5].sum(axis=1, keepdims=True)
    classes = np.arange(k, dtype=float)
    pp, P = col_file(probe, P)
    got = probe.run("score", "log_loss", t, pp, "--labels",
                    ",".join(str(c) for c in classes))["value"]
    assert got == metrics.log_loss(yt, P, labels=classes)


def test_log_loss_binary_column(probe):
    rng = np.random.default_rng(3)
    yt = rng.integers(0, 2, 40).astype(float)
    p1 = rng.random(40)
    p1[:3] = [0.0, 1.0, 0.5]
    pp, p1 = col_file(probe, p1)
    got = probe.run("score", "log_loss", col_file(probe, yt)[0], pp)["value"]
    assert got == metrics.log_loss(yt, p1)
    msg = probe.run("score", "log_loss", col_file(probe, np.ones(4))[0],
                    col_file(probe, p1[:4])[0], ok=False)
    assert "log_loss" in msg
    with pytest.raises(ValueError):
        metrics.log_loss(np.ones(4), p1[:4])


def test_normalize(probe):
    """Bit for bit against normalize() of a DataFrame (column-major: numpy's einsum then sums each
    row's squares left to right, as the C code does); within 1e-15 of a C-ordered array's result
    (einsum's SIMD order)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 9)) * 10 ** rng.uniform(-3, 3, (200, 9))
    X[3] = 0.0
    X[4] = 1e-17  # norm below 10 * eps: sklearn leaves the row alone
    path, _ = col_file(probe, X)
    df = pd.read_csv(path)
    got = np.array(probe.run("normalize", path)["X"], dtype=float)
    assert np.array_equal(bits(got), bits(normalize(df)))
    np.testing.assert_allclose(got, normalize(np.ascontiguousarray(df)), rtol=1e-15, atol=0)
    assert np.array_equal(got[3], df.iloc[3]) and np.array_equal(got[4], df.iloc[4])
    eeg = pd.read_csv(EEG).iloc[:, 2:]
    _, X, _ = probe.load(EEG, "--features", "2:")
    path, _ = col_file(probe, X)
    got = np.array(probe.run("normalize", path)["X"], dtype=float)
    assert np.array_equal(bits(got), bits(normalize(pd.read_csv(path))))
    np.testing.assert_allclose(got, normalize(eeg), rtol=2e-15, atol=0)


@pytest.mark.parametrize("cols", [1, 4])
def test_standard_scaler(probe, cols):
    rng = np.random.default_rng(cols)
    X = rng.normal(3, 5, size=(300, cols)) * 10 ** rng.uniform(-2, 2, cols)
    if cols > 1:
        X[:, 1] = 7.25                         # constant: scale 1
        X[:, 2] = 1e8 + rng.normal(0, 1e-9, 300)  # near-constant by sklearn's bound
    path, X = col_file(probe, X)
    df = pd.read_csv(path)
    got = probe.run("scale", path)
    sc = StandardScaler().fit(df)  # a DataFrame, as in the notebook (column-major sums)
    X = df
    assert np.array_equal(bits(got["mean"]), bits(sc.mean_))
    assert np.array_equal(bits(got["var"]), bits(sc.var_))
    assert np.array_equal(bits(got["scale"]), bits(sc.scale_))
    assert np.array_equal(bits(np.array(got["X"], dtype=float)), bits(sc.transform(X)))


def test_standard_scaler_wine(probe):
    path = probe.file(pd.read_csv(WINE, sep=";").drop(columns=["quality"]).to_csv(index=False))
    got = probe.run("scale", path)
    sc = StandardScaler().fit(pd.read_csv(path))
    assert np.array_equal(bits(got["mean"]), bits(sc.mean_))
    assert np.array_equal(bits(got["var"]), bits(sc.var_))
    assert np.array_equal(bits(got["scale"]), bits(sc.scale_))


# ---- speed ---------------------------------------------------------------------------------------


@pytest.mark.skipif(SANITIZED, reason="timings are meaningless under ASan")
@pytest.mark.parametrize("path,opts,kw", [(WINE, ["--target", "quality"], {"sep": ";"}),
                                          (EEG, ["--target", "# Letter"], {})])
def test_faster_than_pandas(probe, path, opts, kw):
    pd_times = []
    for _ in range(7):
        t0 = time.perf_counter()
        pd.read_csv(path, **kw)
        pd_times.append((time.perf_counter() - t0) * 1e3)
    ours = probe.run("bench", path, 7, *opts)
    assert ours["ms_median"] < statistics.median(pd_times), (ours, pd_times)
