#!/usr/bin/env bash
# bench/ml.sh - edgeflow's training core against scikit-learn 1.2, xgboost 1.7 and pandas 1.5:
# fit and predict time of every estimator (ElasticNet, Lasso, Ridge, LinearRegression,
# LogisticRegression, LDA, MLPClassifier, MLPRegressor, XGBRegressor) on the same data with the
# same hyper-parameters, and CSV load time against pandas.read_csv, all measured in this run.
# Both sides are timed in-process (min of N); the work is done by bench/ml_bench.py (see its
# header for the workloads, the data and the checks that both sides did the same work).
#
# Environment: EDGEFLOW_BIN (default build/edgeflow; the probes are taken from its build dir),
# EF_BUILD_DIR (the build dir holding src/ml/ef_ml_probe and ef_ml_data_probe; wins over
# EDGEFLOW_BIN), EF_BENCH_ML_REPEAT (repeats of the fast tasks per round, 20; slower tasks scale
# down from it), EF_BENCH_ML_ROUNDS (2), EF_BENCH_ML_ROWS (rows of the synthetic CSV, 100000),
# EF_BENCH_ML_MLP_EEG=0 (skip the ~25 s MLPClassifier run), EF_BENCH_ML_RESULTS (file the output
# is written to; default bench/results/ml-<UTC date>.txt; empty = none), EF_BENCH_SUMMARY
# (run.sh's summary file), EF_BENCH_KEEP=1 keeps the temp dir.
# Needs /usr/bin/python3 with python3-sklearn, python3-pandas and python3-xgboost
# (scripts/install-deps.sh). Takes about 1.5 minutes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
BUILD=${EF_BUILD_DIR:-$(dirname "$EDGEFLOW_BIN")}
RESULTS=${EF_BENCH_ML_RESULTS-$HERE/results/ml-$(date -u +%Y-%m-%d).txt}

/usr/bin/python3 -c 'import sklearn, pandas, xgboost' 2>/dev/null || {
    echo "ml bench: /usr/bin/python3 needs python3-sklearn, python3-pandas and python3-xgboost" >&2
    exit 1
}

args=(--build-dir "$BUILD" --repeat "${EF_BENCH_ML_REPEAT:-20}" --rounds "${EF_BENCH_ML_ROUNDS:-2}"
      --rows "${EF_BENCH_ML_ROWS:-100000}")
[ -n "${EF_BENCH_SUMMARY:-}" ] && args+=(--summary "$EF_BENCH_SUMMARY")
[ -n "$RESULTS" ] && args+=(--results "$RESULTS")
[ "${EF_BENCH_ML_MLP_EEG:-1}" = 0 ] && args+=(--skip-mlp-eeg)
[ "${EF_BENCH_KEEP:-0}" = 1 ] && args+=(--keep)

exec /usr/bin/python3 "$HERE/ml_bench.py" "${args[@]}"
