#!/usr/bin/env bash
# bench/tracking.sh - the MLflow-compatible tracking server: log-metric calls/s (sequential, one
# client, keep-alive), log-batch of 1,000 metrics (calls/s), get-history of 10,000 points (ms),
# runs/search over 1,000 runs with "metrics.rmse < 0.8 and params.alpha = '0.5'" (ms), and the
# server's peak RSS, printed next to the MLflow 2.12.2 figures recorded in issue 3.
#
# Unlike the other benchmarks, the reference is NOT measured in the same run: the MLflow server is
# a PyPI package, PyPI cannot be reached from this machine or CI (Debian packages and npm only),
# and Debian does not package MLflow. The reference figures were recorded on this kind of machine
# with the same workloads when the issue was written; the output says so next to every ratio.
# The work is done by bench/tracking_bench.py (see its header for the exact workloads and checks).
#
# Environment: EDGEFLOW_BIN (default build/edgeflow), EF_BENCH_TRK_BACKEND (sqlite | postgresql:
# the latter on a throwaway cluster from scripts/pg-test-cluster.sh), EF_BENCH_TRK_SECONDS
# (log-metric duration, 10), EF_BENCH_TRK_DURABLE_SECONDS (the same on a --durable server, 5;
# 0 skips; SQLite only), EF_BENCH_TRK_BATCHES (log-batch calls, 100), EF_BENCH_TRK_REPEAT
# (get-history and search calls, 20), EF_BENCH_TRK_RUNS (runs searched, 1000), EF_BENCH_SUMMARY
# (run.sh's summary file), EF_BENCH_KEEP=1 keeps the temp dir.
# Needs /usr/bin/python3 and, for the log-metric figure, wrk (scripts/install-deps.sh installs it;
# without it a Python raw-socket client is used and the output says so).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
BACKEND=${EF_BENCH_TRK_BACKEND:-sqlite}

[ -x "$EDGEFLOW_BIN" ] || { echo "tracking bench: no edgeflow binary at $EDGEFLOW_BIN" >&2; exit 1; }
command -v wrk >/dev/null || echo "tracking bench: wrk not found; log-metric uses a Python client"

args=(--bin "$EDGEFLOW_BIN" --seconds "${EF_BENCH_TRK_SECONDS:-10}"
      --durable-seconds "${EF_BENCH_TRK_DURABLE_SECONDS:-5}" --batches "${EF_BENCH_TRK_BATCHES:-100}"
      --repeat "${EF_BENCH_TRK_REPEAT:-20}" --runs "${EF_BENCH_TRK_RUNS:-1000}")
[ -n "${EF_BENCH_SUMMARY:-}" ] && args+=(--summary "$EF_BENCH_SUMMARY")
[ "${EF_BENCH_KEEP:-0}" = 1 ] && args+=(--keep)

PGDIR=
cleanup() {
    if [ -n "$PGDIR" ]; then "$ROOT/scripts/pg-test-cluster.sh" stop "$PGDIR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
case $BACKEND in
sqlite) ;;
postgresql)
    out=$(EF_PG_WATCH_PID=$$ "$ROOT/scripts/pg-test-cluster.sh" start) || {
        echo "tracking bench: cannot start a PostgreSQL cluster" >&2
        exit 1
    }
    PGDIR=$(sed -n 2p <<<"$out")
    args+=(--backend-store-uri "$(sed -n 1p <<<"$out")")
    ;;
*) echo "tracking bench: EF_BENCH_TRK_BACKEND must be sqlite or postgresql" >&2; exit 2 ;;
esac

/usr/bin/python3 "$HERE/tracking_bench.py" "${args[@]}"
