#!/usr/bin/python3
"""ml_bench.py - edgeflow's training core against scikit-learn / xgboost / pandas (bench/ml.sh).

For every estimator: the fit time and the predict time of edgeflow and of the Python reference,
on the same data, with the same hyper-parameters, measured in the same run on the same machine.
Both sides are timed in-process: the reference with time.perf_counter() around .fit() / .predict()
/ pandas.read_csv(), edgeflow by its probes (tests/integration/ml_probe.c with EF_PROBE_REPEAT=N,
tests/integration/ml_data_probe.c's `bench` mode), which time with CLOCK_MONOTONIC around
ef_estimator_fit / ef_estimator_predict / ef_dataset_load. Process start, Python imports and the
probe's own CSV parsing are outside every figure. Each figure is the minimum over its repeats,
taken in R rounds that alternate the two sides (reference, edgeflow, reference, edgeflow, ...) so
that a burst of load on the machine hits both.

Workloads (data as the parity tests prepare it, tests/integration/test_6*_ml_*.py):
  wine   examples/data/winequality-red.csv, train_test_split(test_size=0.25, random_state=42)
         (1199 train / 400 test rows, 11 features); "std" = StandardScaler fitted on train.
  eeg    examples/data/eeg-letters-{train,test}.csv, features = the columns after '# Letter',
         rows L2-normalised (sklearn.preprocessing.normalize), as in the reference experiment.
  ElasticNet(alpha=0.5, l1_ratio=0.5), Lasso(alpha=0.1), Ridge(alpha=1), LinearRegression on
  wine; LogisticRegression() on std wine with target quality >= 6; LDA() on eeg;
  MLPClassifier(hidden (500,), adam, relu, alpha 1e-4, random_state 0, max_iter 1000) on eeg
  (one fit each side, 12-20 s in scikit-learn, then 5 predicts each); MLPRegressor(hidden (100,),
  max_iter 200, random_state 0) on std wine; XGBRegressor(n_estimators 100, max_depth 6) through
  python3-xgboost's scikit-learn API against edgeflow's xgboost estimator -- the same libxgboost
  underneath, so this row measures the wrappers, not two implementations. The MLP rows print both
  sides' epoch counts (n_iter) and the time per epoch, the fair comparison.
  CSV load: pandas.read_csv(path[, sep]) against ef_dataset_load (with the target column split
  off and the float64 matrix built, which read_csv's figure does not include) on the wine file,
  the EEG training file and a synthetic 100,000-row file written here into a temp dir.
Every row is checked to be the same work: predictions are compared (max |difference| for
regressors, share of equal labels for classifiers) and iteration counts printed side by side.

Usage: ml_bench.py --build-dir DIR [--repeat N] [--rounds R] [--rows N] [--summary FILE]
                   [--results FILE] [--skip-mlp-eeg] [--keep]
Prints the table; appends "metric|edgeflow|reference|ratio|note" lines to --summary (run.sh);
writes the same output to --results. Exit status 0, or 1 when a side cannot run or the two sides
disagree (never for a figure).
"""
import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler, normalize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "examples", "data")
WINE = os.path.join(DATA, "winequality-red.csv")
EEG_TRAIN = os.path.join(DATA, "eeg-letters-train.csv")
EEG_TEST = os.path.join(DATA, "eeg-letters-test.csv")

OUT = io.StringIO()


def say(line=""):
    print(line, flush=True)
    OUT.write(line + "\n")


class BenchError(Exception):
    pass


# ---- data -----------------------------------------------------------------------------------

def load_data():
    df = pd.read_csv(WINE, sep=";")
    X = df.drop(columns=["quality"]).to_numpy(dtype=float)
    y = df["quality"].to_numpy(dtype=float)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=42)
    sc = StandardScaler().fit(Xtr)

    def eeg(path):
        d = pd.read_csv(path)
        cols = list(d.columns)
        return (normalize(d[cols[cols.index("# Letter") + 1:]].to_numpy(dtype=float)),
                d["# Letter"].to_numpy(dtype=float))

    Etr, eytr = eeg(EEG_TRAIN)
    Ete, eyte = eeg(EEG_TEST)
    return {
        "wine": (Xtr, ytr, Xte),
        "wine_std": (sc.transform(Xtr), ytr, sc.transform(Xte)),
        "wine_std_bin": (sc.transform(Xtr), (ytr >= 6).astype(float), sc.transform(Xte)),
        "eeg": (Etr, eytr, Ete),
    }


def write_plain(path, X, y):
    """The probe's input: no header, comma-separated, 17 significant digits, target last."""
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.17g")


# ---- one side each --------------------------------------------------------------------------

def sk_time(make, X, y, Xte, n, n_pred=1):
    """Min-of-n fit seconds of fresh estimators and min predict seconds (n_pred predicts after
    each fit, like the probe's EF_PROBE_PREDICT_REPEAT); returns (fit, predict, est, pred)."""
    best_fit = best_pred = float("inf")
    est = pred = None
    for _ in range(n):
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(X, y)
            best_fit = min(best_fit, time.perf_counter() - t0)
        for _ in range(n_pred):
            t1 = time.perf_counter()
            pred = est.predict(Xte)
            best_pred = min(best_pred, time.perf_counter() - t1)
    return best_fit, best_pred, est, pred


def ef_time(probe, typ, train_csv, test_csv, params, n, workdir, n_pred=1):
    args = [probe, typ, train_csv, test_csv] + [f"{k}={v}" for k, v in params.items()]
    env = dict(os.environ, EF_PROBE_REPEAT=str(n), EF_PROBE_PREDICT_REPEAT=str(n_pred),
               EF_PROBE_DIR=workdir)
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        raise BenchError(f"ef_ml_probe {typ} failed: {r.stderr.strip()}")
    out = json.loads(r.stdout)
    return out["fit_seconds"], out["predict_seconds"], out


def n_iter_of(est):
    it = getattr(est, "n_iter_", None)
    if it is None:
        return None
    return int(np.max(it)) if np.ndim(it) else int(it)


# ---- the estimator table --------------------------------------------------------------------

def text(v):
    return ",".join(str(x) for x in v) if isinstance(v, tuple) else str(v)


def tasks(skip_mlp_eeg):
    """(label, data key, sklearn factory, edgeflow type, params, repeats per round, classifier)."""
    mlp_eeg = {"hidden_layer_sizes": (500,), "solver": "adam", "activation": "relu",
               "alpha": 0.0001, "random_state": 0, "max_iter": 1000}
    mlp_wine = {"hidden_layer_sizes": (100,), "max_iter": 200, "random_state": 0}
    xgb_p = {"n_estimators": 100, "max_depth": 6}
    t = [
        ("ElasticNet(alpha=0.5, l1_ratio=0.5)", "wine", lambda: ElasticNet(alpha=0.5, l1_ratio=0.5),
         "elasticnet", {"alpha": 0.5, "l1_ratio": 0.5}, 20, False),
        ("Lasso(alpha=0.1)", "wine", lambda: Lasso(alpha=0.1), "lasso", {"alpha": 0.1}, 20, False),
        ("Ridge(alpha=1)", "wine", lambda: Ridge(alpha=1.0), "ridge", {"alpha": 1.0}, 20, False),
        ("LinearRegression", "wine", LinearRegression, "linear_regression", {}, 20, False),
        ("LogisticRegression (wine std, q>=6)", "wine_std_bin", LogisticRegression,
         "logistic_regression", {}, 20, True),
        ("LDA (EEG, normalised)", "eeg", LinearDiscriminantAnalysis, "lda", {}, 10, True),
        ("MLPRegressor (100,) x200 (wine std)", "wine_std", lambda: MLPRegressor(**mlp_wine),
         "mlp_regressor", {k: text(v) for k, v in mlp_wine.items()}, 3, False),
        ("XGBRegressor 100 x depth 6 (wine)", "wine", lambda: xgb.XGBRegressor(**xgb_p),
         "xgboost", xgb_p, 5, False),
    ]
    if not skip_mlp_eeg:
        # last: the longest, and the one most sensitive to other work on the machine
        t.append(("MLPClassifier (500,) adam (EEG)", "eeg", lambda: MLPClassifier(**mlp_eeg),
                  "mlp_classifier", {k: text(v) for k, v in mlp_eeg.items()}, 1, True))
    return t


def bench_estimators(a, probe, data, workdir):
    rows = []
    files = {}
    for key, (X, y, Xte) in data.items():
        tr, te = os.path.join(workdir, f"{key}-train.csv"), os.path.join(workdir, f"{key}-test.csv")
        write_plain(tr, X, y)
        write_plain(te, Xte, np.zeros(len(Xte)))
        files[key] = (tr, te)
    for label, key, make, typ, params, reps, clf in tasks(a.skip_mlp_eeg):
        X, y, Xte = data[key]
        n = max(1, reps * a.repeat // 20) if reps > 1 else 1
        rounds = a.rounds if reps > 1 else 1
        n_pred = 1 if reps > 1 else 5  # one slow fit: predict 5 times after it, both sides
        skf = skp = eff = efp = float("inf")
        for _ in range(rounds):
            f, p, est, sk_pred = sk_time(make, X, y, Xte, n, n_pred)
            skf, skp = min(skf, f), min(skp, p)
            f, p, out = ef_time(probe, typ, *files[key], params, n, workdir, n_pred)
            eff, efp = min(eff, f), min(efp, p)
        ef_pred = np.asarray(out["predict"], dtype=float)
        if clf:
            agree = float(np.mean(ef_pred == sk_pred))
            check = f"labels agree {agree:.1%}"
            same = agree >= 0.98
        else:
            diff = float(np.max(np.abs(ef_pred - sk_pred)))
            check = f"max |dpred| {diff:.2g}"
            same = diff <= (0.5 if typ.startswith("mlp") else 1e-4)
        it_sk, it_ef = n_iter_of(est), out["fit_info"].get("n_iter")
        iters = f"n_iter {it_sk}/{it_ef}" if it_sk is not None and it_ef is not None else ""
        if typ.startswith("mlp"):
            iters += (f"; {1e3 * skf / it_sk:.2f}/{1e3 * eff / it_ef:.2f} ms per epoch")
        rows.append((label, "fit", skf, eff, n * rounds, f"{iters}{'; ' if iters else ''}{check}"))
        rows.append((label, "predict", skp, efp, n * rounds * n_pred, f"{len(Xte)} rows"))
        print(f"  .. {label}: fit {1e3 * skf:.3f} / {1e3 * eff:.3f} ms", file=sys.stderr,
              flush=True)
        if not same:
            raise BenchError(f"{label}: edgeflow and the reference disagree ({check})")
    return rows


# ---- CSV load -------------------------------------------------------------------------------

def synthetic_csv(path, rows):
    """rows x (10 sensor-like float columns + integer label), header, comma-separated."""
    rng = np.random.RandomState(7)
    X = rng.normal(20.0, 5.0, size=(rows, 10))
    for j, decimals in enumerate(rng.randint(1, 5, size=10)):
        X[:, j] = np.round(X[:, j], decimals)
    y = rng.randint(0, 4, size=rows)
    df = pd.DataFrame(X, columns=[f"s{i}" for i in range(10)])
    df["label"] = y
    df.to_csv(path, index=False)


def bench_csv(a, data_probe, workdir):
    syn = os.path.join(workdir, f"synthetic-{a.rows}.csv")
    synthetic_csv(syn, a.rows)
    cases = [
        ("winequality-red.csv (1599 x 12)", WINE, {"sep": ";"}, ["--target", "quality",
                                                                  "--delimiter", ";"], 20),
        ("eeg-letters-train.csv (1300 x 162)", EEG_TRAIN, {}, ["--target", "# Letter"], 10),
        (f"synthetic {a.rows} x 11", syn, {}, ["--target", "label"], 5),
    ]
    rows = []
    for label, path, kw, opts, reps in cases:
        n = max(1, reps * a.repeat // 20)
        pd_best = ef_best = float("inf")
        for _ in range(a.rounds):
            for _ in range(n):
                t0 = time.perf_counter()
                df = pd.read_csv(path, **kw)
                pd_best = min(pd_best, time.perf_counter() - t0)
            r = subprocess.run([data_probe, "bench", path, str(n)] + opts, capture_output=True,
                               text=True, timeout=600)
            if r.returncode != 0:
                raise BenchError(f"ef_ml_data_probe bench {path} failed: {r.stderr.strip()}")
            out = json.loads(r.stdout)
            ef_best = min(ef_best, out["ms_min"] / 1e3)
            if out["rows"] != len(df):
                raise BenchError(f"{label}: edgeflow read {out['rows']} rows, pandas {len(df)}")
        mib = os.path.getsize(path) / 2**20
        rows.append((f"CSV load {label}", "", pd_best, ef_best, n * a.rounds,
                     f"{mib:.2f} MiB; {len(df)} rows both"))
    return rows


# ---- output ---------------------------------------------------------------------------------

def fmt_ms(s):
    ms = 1e3 * s
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def report(rows, summary):
    say(f"  {'task':<46} {'sklearn/pandas ms':>17} {'edgeflow ms':>12} {'ratio':>8}  "
        f"{'n':>3}  notes")
    slower = []
    for label, what, ref, ours, n, note in rows:
        task = f"{label} {what}".strip()
        ratio = ref / ours
        flag = "  SLOWER" if ratio < 1 else ""
        say(f"  {task:<46} {fmt_ms(ref):>17} {fmt_ms(ours):>12} {ratio:>7.2f}x  {n:>3}  "
            f"{note}{flag}")
        if ratio < 1:
            slower.append(f"{task} ({1 / ratio:.2f}x slower)")
        summary.append(f"ml {task}, ms|{fmt_ms(ours)}|{fmt_ms(ref)}|{ratio:.2f}|"
                       f"reference scikit-learn 1.2 / pandas 1.5 / xgboost 1.7, same run")
    say("  ratio = reference ms / edgeflow ms (edgeflow's speed-up; > 1 = edgeflow faster); "
        "n = repeats (min taken)")
    if slower:
        say("  edgeflow is SLOWER than the reference on: " + "; ".join(slower))
    else:
        say("  edgeflow is at least as fast as the reference on every row")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--repeat", type=int, default=20, help="repeats of the fastest tasks per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rows", type=int, default=100000, help="rows of the synthetic CSV")
    ap.add_argument("--summary")
    ap.add_argument("--results")
    ap.add_argument("--skip-mlp-eeg", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    probe = os.path.join(a.build_dir, "src", "ml", "ef_ml_probe")
    data_probe = os.path.join(a.build_dir, "src", "ml", "ef_ml_data_probe")
    for p in (probe, data_probe):
        if not os.access(p, os.X_OK):
            print(f"ml bench: {p} is missing: build the ef_ml_probe and ef_ml_data_probe targets "
                  f"(or set EF_BUILD_DIR)", file=sys.stderr)
            return 1
    workdir = tempfile.mkdtemp(prefix="edgeflow-bench-ml-")
    start = time.monotonic()
    try:
        with open("/proc/loadavg") as f:
            load0 = " ".join(f.read().split()[:3])
        say(f"ml bench: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} cores, {platform.release()}, load average {load0} at start")
        say(f"  reference: Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
            f"numpy {np.__version__}, pandas {pd.__version__}, xgboost {xgb.__version__}")
        say(f"  edgeflow probes: {a.build_dir}; CMAKE_BUILD_TYPE "
            f"{build_type(a.build_dir)}; threads: library defaults on both sides "
            f"(OpenBLAS, OpenMP in libxgboost)")
        data = load_data()
        rows = bench_estimators(a, probe, data, workdir)
        rows += bench_csv(a, data_probe, workdir)
        with open("/proc/loadavg") as f:
            load1 = " ".join(f.read().split()[:3])
        say()
        summary = []
        report(rows, summary)
        say(f"  took {time.monotonic() - start:.0f} s; load average {load1} at the end")
        if a.summary:
            with open(a.summary, "a") as f:
                f.write("\n".join(summary) + "\n")
    except BenchError as e:
        print(f"ml bench: {e}", file=sys.stderr)
        return 1
    finally:
        if a.keep:
            print(f"ml bench: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if a.results:
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            f.write(OUT.getvalue())
        say(f"  written to {a.results}")
    return 0


def build_type(build_dir):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "(none)"
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
