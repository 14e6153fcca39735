#!/usr/bin/env bash
# bench/run.sh - runs every edgeflow benchmark against its reference and prints a summary table.
#
# Each bench/<name>.sh measures edgeflow and its reference in the same run, prints its own
# section, and appends "metric|edgeflow|reference|ratio|note" lines to $EF_BENCH_SUMMARY, which
# this script collects into one table. Benchmarks only report: no figure makes this script fail;
# a benchmark that cannot run (missing tool, a consumer losing readings) does.
#
# Usage: bench/run.sh [name...]        (default: all of BENCHES below; `make bench` runs this)
# Environment: EDGEFLOW_BIN (default build/edgeflow) and each benchmark's EF_BENCH_* knobs,
# documented at the top of its script and in bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BENCHES=(ingest agent tracking ml serve serve_batch)
export EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac

[ $# -gt 0 ] && BENCHES=("$@")
SUMMARY=$(mktemp /tmp/edgeflow-bench-summary.XXXXXX)
trap 'rm -f "$SUMMARY"' EXIT
export EF_BENCH_SUMMARY=$SUMMARY

echo "edgeflow benchmarks: $("$EDGEFLOW_BIN" --version 2>/dev/null | head -1 || echo "$EDGEFLOW_BIN")"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)," \
    "$(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
failed=()
start=$SECONDS
for b in "${BENCHES[@]}"; do
    [ -x "$HERE/$b.sh" ] || { echo "bench/run.sh: no benchmark bench/$b.sh" >&2; exit 2; }
    echo
    echo "== $b =="
    if ! "$HERE/$b.sh"; then
        failed+=("$b")
    fi
done

echo
echo "== summary ($((SECONDS - start)) s) =="
printf '%-68s %10s %10s %8s  %s\n' metric edgeflow reference ratio note
while IFS='|' read -r metric ef ref ratio note; do
    printf '%-68s %10s %10s %7sx  %s\n' "$metric" "$ef" "$ref" "$ratio" "$note"
done <"$SUMMARY"
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench/run.sh: failed to run: ${failed[*]}" >&2
    exit 1
fi
