#!/usr/bin/env bash
# bench/serve_batch.sh - micro-batching in `edgeflow serve` (issue 5): the same model served with
# batching off (--batch-max 1) and on (--batch-max 32, --batch-delay 0 and 200us), wrk on
# loopback with single-row Seldon requests (the first test row) at 16 connections (and 1), every
# server with --threads 16 so that up to 16 requests can be in flight at once (a request only
# joins a batch while other requests are in flight: with --threads = CPUs that is at most the
# number of CPUs). Models, all trained here by `edgeflow train`:
#   - mlp: MLPClassifier (100 hidden units, relu, 26 classes) on EEG letters (160 features, L2);
#   - xgb: XGBoost classifier (EF_BENCH_BATCH_XGB_TREES rounds, 26 classes) on EEG letters;
#   - wine: the ElasticNet of bench/serve.sh (11 features).
# Before timing, each server's answer must equal batching-off's answer for the same row; any
# non-2xx answer during the timing fails the benchmark. Figures: requests/s, p50, p99, mean rows
# per predict call (from /metrics edgeflow_serve_batch_rows), and on/off ratios. Reports only.
#
# Environment: EDGEFLOW_BIN (default build/edgeflow), EF_BENCH_SERVE_SECONDS (timed seconds per
# run, 5), EF_BENCH_SERVE_WARMUP (1), EF_BENCH_BATCH_CONNS ("1 16"), EF_BENCH_BATCH_MODELS
# ("mlp xgb wine"), EF_BENCH_BATCH_XGB_TREES (20), EF_BENCH_SUMMARY, EF_BENCH_KEEP=1.
# Needs wrk, curl and /usr/bin/python3. Takes about 2 minutes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
SECS=${EF_BENCH_SERVE_SECONDS:-5}
WARM=${EF_BENCH_SERVE_WARMUP:-1}
CONNS=(${EF_BENCH_BATCH_CONNS:-1 16})
MODELS=(${EF_BENCH_BATCH_MODELS:-mlp xgb wine})
TREES=${EF_BENCH_BATCH_XGB_TREES:-20}
CORES=$(nproc)
DATA=$ROOT/examples/data
LUA=$HERE/serve_post.lua

die() { echo "serve_batch bench: $*" >&2; exit 1; }
[ -x "$EDGEFLOW_BIN" ] || die "no edgeflow binary at $EDGEFLOW_BIN"
command -v wrk >/dev/null || die "wrk not found (scripts/install-deps.sh installs it)"

TMP=$(mktemp -d /tmp/edgeflow-bench-batch.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    if [ "${EF_BENCH_KEEP:-0}" = 1 ]; then echo "serve_batch bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# first_row CSV SEP SKIP_COLS: the Seldon body of the CSV's first data row (columns SKIP_COLS..)
first_row() {
    /usr/bin/python3 - "$@" <<'PY'
import csv, json, sys
with open(sys.argv[1]) as f:
    rows = csv.reader(f, delimiter=sys.argv[2])
    head, row = next(rows), next(rows)
drop = set(sys.argv[4:])
vals = [float(v) for h, v in list(zip(head, row))[int(sys.argv[3]):] if h not in drop]
print(json.dumps({"data": {"ndarray": [vals]}}, separators=(",", ":")))
PY
}

train() {
    local out=$TMP/$1
    case $1 in
    mlp) "$EDGEFLOW_BIN" train mlp_classifier --data "$DATA/eeg-letters-train.csv" \
            --target "# Letter" --features 2: --normalize l2 --output "$out" ;;
    xgb) "$EDGEFLOW_BIN" train xgboost_classifier --data "$DATA/eeg-letters-train.csv" \
            --target "# Letter" --features 2: --param "n_estimators=$TREES" --output "$out" ;;
    wine) "$EDGEFLOW_BIN" train elasticnet --data "$DATA/winequality-red.csv" --target quality \
            --param alpha=0.5 --param l1_ratio=0.5 --output "$out" ;;
    esac >"$TMP/train-$1.log" 2>&1 || die "edgeflow train $1 failed: $(tail -1 "$TMP/train-$1.log")"
}

body_of() {
    case $1 in
    mlp | xgb) first_row "$DATA/eeg-letters-test.csv" , 2 ;;
    wine) first_row "$DATA/winequality-red.csv" ';' 0 quality ;;
    esac
}

# start MODEL ARGS...: starts a server, sets PID and URL
start() {
    local m=$1 port i
    shift
    port=$(free_port)
    "$EDGEFLOW_BIN" serve --model-dir "$TMP/$m" --port "$port" --threads 16 --log-level warn \
        "$@" >"$TMP/serve.log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$port
    for i in $(seq 300); do
        curl -s -o /dev/null "$URL/health/ping" && return 0
        kill -0 "$PID" 2>/dev/null || die "edgeflow serve exited: $(tail -3 "$TMP/serve.log")"
        sleep 0.1
    done
    die "edgeflow serve did not answer within 30 s"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
predict() { curl -sS -X POST "$URL/api/v1.0/predictions" -H 'Content-Type: application/json' -d "$BODY"; }
# rows per predict call so far: "<calls> <rows>"
calls_rows() {
    curl -sS "$URL/metrics" | awk '/^edgeflow_serve_batch_rows_count/ {c += $2}
        /^edgeflow_serve_batch_rows_sum/ {s += $2} END {printf "%d %d", c, s}'
}
# run CONNS: prints "rps p50_us p99_us rows_per_call"
run() {
    local t=$(( $1 < CORES ? $1 : CORES )) out line c0 r0 c1 r1
    [ "$WARM" -gt 0 ] && EF_BENCH_BODY=$BODY wrk -t"$t" -c"$1" -d"${WARM}s" -s "$LUA" "$URL" >/dev/null 2>&1
    read -r c0 r0 <<<"$(calls_rows)"
    out=$(EF_BENCH_BODY=$BODY wrk -t"$t" -c"$1" -d"${SECS}s" --latency -s "$LUA" "$URL" 2>&1) ||
        die "wrk failed: $out"
    read -r c1 r1 <<<"$(calls_rows)"
    line=$(grep '^EFBENCH ' <<<"$out") || die "no result from wrk: $out"
    set -- $line
    [ "$5" = 0 ] || die "edgeflow answered $5 of $7 requests with a non-2xx status"
    echo "$2 $3 $4 $(awk -v c=$((c1 - c0)) -v r=$((r1 - r0)) 'BEGIN {printf "%.2f", c ? r / c : 0}')"
}

CONFIGS=("off|--batch-max 1" "on, delay 0|--batch-max 32 --batch-delay 0"
         "on, delay 200us|--batch-max 32 --batch-delay 200us")
echo "wrk on 127.0.0.1, ${SECS} s per run after ${WARM} s of warm-up, threads = min(connections," \
    "$CORES); edgeflow serve --threads 16; load average $(cut -d' ' -f1-3 /proc/loadavg)"
fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
summary() { [ -n "${EF_BENCH_SUMMARY:-}" ] && echo "$*" >>"$EF_BENCH_SUMMARY" || true; }
declare -A R
for m in "${MODELS[@]}"; do
    train "$m"
    BODY=$(body_of "$m")
    REF=
    for cfg in "${CONFIGS[@]}"; do
        name=${cfg%%|*}
        start "$m" ${cfg#*|}
        ans=$(predict)
        [ -z "$REF" ] && REF=$ans
        [ "$ans" = "$REF" ] || die "$m, batching $name answers $ans, batching off $REF"
        for c in "${CONNS[@]}"; do R[$m,$name,$c]=$(run "$c"); done
        stop
    done
done

printf '\n| model | batching | connections | requests/s | p50 ms | p99 ms | rows per predict |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
for m in "${MODELS[@]}"; do
    for cfg in "${CONFIGS[@]}"; do
        name=${cfg%%|*}
        for c in "${CONNS[@]}"; do
            read -r rps p50 p99 rpc <<<"${R[$m,$name,$c]}"
            printf '| %s | %s | %s | %.0f | %s | %s | %s |\n' "$m" "$name" "$c" "$rps" \
                "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$rpc"
        done
    done
done
printf '\n| model | batching vs off | connections | requests/s ratio | p99 ratio |\n'
printf '|---|---|---:|---:|---:|\n'
for m in "${MODELS[@]}"; do
    for c in "${CONNS[@]}"; do
        read -r o_rps _ o_p99 _ <<<"${R[$m,off,$c]}"
        for cfg in "${CONFIGS[@]:1}"; do
            name=${cfg%%|*}
            read -r b_rps _ b_p99 _ <<<"${R[$m,$name,$c]}"
            awk -v m="$m" -v n="$name" -v c="$c" -v a="$b_rps" -v b="$o_rps" -v p="$b_p99" -v q="$o_p99" \
                'BEGIN { printf "| %s | %s | %s | %.2fx | %.2fx |\n", m, n, c, a / b, p / q }'
            summary "serve batching $m ($name vs off), requests/s, $c conn|$(printf '%.0f' "$b_rps")|$(printf '%.0f' "$o_rps")|$(awk -v a="$b_rps" -v b="$o_rps" 'BEGIN{printf "%.2f", a/b}')|ratio > 1: batching pays"
        done
    done
done
