#!/usr/bin/env bash
# bench/serve.sh - model serving (issue 5): `edgeflow serve --model-dir` against the Python
# reference and the HTTP ceiling, all measured in this run with wrk on loopback, 1 and 16
# connections, the reference Seldon payload (one wine row) POSTed to /api/v1.0/predictions:
#   - edgeflow serve --model-dir DIR, an ElasticNet trained by `edgeflow train elasticnet`
#     (alpha=0.5, l1_ratio=0.5) on examples/data/winequality-red.csv;
#   - the reference: bench/serve_ref.py, a Flask app of the Seldon Python wrapper's shape with
#     the same scikit-learn ElasticNet, under gunicorn as the wrapper runs it by default: one sync
#     worker (Seldon Core 1 docs, "Seldon Python server configuration": "By default, Seldon will
#     only use a single worker process"; GUNICORN_WORKERS raises it). Seldon's wrapper itself is a
#     PyPI package, which this machine and CI cannot reach. The same app with one worker per core
#     (a tuned deployment) is measured too and printed beside it;
#   - the ceiling: nginx answering every request with 200 and a fixed JSON body of the same size
#     as edgeflow's answer (config written to the temp dir at run time).
# Before any timing, edgeflow's answer must equal the reference's prediction (relative 1e-9) in
# the same JSON shape, and nginx's body must be edgeflow's; a server answering anything but 2xx
# during the timing fails the benchmark. Figures: requests/s, p50 and p99 latency, and the
# ratios against the issue's targets (>= 30x the reference's throughput, >= 0.7x the ceiling's,
# p99 within 2x the ceiling's), plus the ratio against the tuned reference. They only report: no figure fails the run.
#
# Environment: EDGEFLOW_BIN (default build/edgeflow), EF_BENCH_SERVE_SECONDS (timed seconds per
# server and connection count, 5), EF_BENCH_SERVE_WARMUP (seconds of untimed load first, 1),
# EF_BENCH_SERVE_CONNS ("1 16"), EF_BENCH_SERVE_WORKERS (the tuned reference's gunicorn workers,
# default nproc),
# EF_BENCH_SUMMARY (run.sh's summary file), EF_BENCH_KEEP=1 keeps the temp dir.
# Needs wrk, nginx, gunicorn and python3-flask (scripts/install-deps.sh), /usr/bin/python3 with
# python3-sklearn and python3-pandas. Takes about 45 s.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
SECS=${EF_BENCH_SERVE_SECONDS:-5}
WARM=${EF_BENCH_SERVE_WARMUP:-1}
CONNS=(${EF_BENCH_SERVE_CONNS:-1 16})
CORES=$(nproc)
WORKERS=${EF_BENCH_SERVE_WORKERS:-$CORES}
WINE=$ROOT/examples/data/winequality-red.csv
LUA=$HERE/serve_post.lua
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

die() { echo "serve bench: $*" >&2; exit 1; }
[ -x "$EDGEFLOW_BIN" ] || die "no edgeflow binary at $EDGEFLOW_BIN"
command -v wrk >/dev/null || die "wrk not found (scripts/install-deps.sh installs it)"
[ -x "$NGINX" ] || die "nginx not found (Debian package nginx; scripts/install-deps.sh)"
/usr/bin/python3 -c 'import flask, gunicorn, sklearn, pandas' 2>/dev/null ||
    die "/usr/bin/python3 needs python3-flask, gunicorn, python3-sklearn, python3-pandas"

TMP=$(mktemp -d /tmp/edgeflow-bench-serve.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${EF_BENCH_KEEP:-0}" = 1 ]; then echo "serve bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_http NAME PID URL: until URL answers (any status), 30 s, or the process dies
wait_http() {
    local i
    for i in $(seq 300); do
        curl -s -o /dev/null "$3" && return 0
        kill -0 "$2" 2>/dev/null || die "$1 exited at start; its log: $(tail -3 "$TMP/$1.log")"
        sleep 0.1
    done
    die "$1 did not answer on $3 within 30 s"
}
PAYLOAD=$(sed -n "s/^local reference = '\(.*\)'$/\1/p" "$LUA")
[ -n "$PAYLOAD" ] || die "cannot read the payload from $LUA"
predict() { curl -sS -X POST "$1/api/v1.0/predictions" -H 'Content-Type: application/json' -d "$PAYLOAD"; }

# --- the three servers ------------------------------------------------------------------------
"$EDGEFLOW_BIN" train elasticnet --data "$WINE" --target quality --param alpha=0.5 \
    --param l1_ratio=0.5 --output "$TMP/wine" >"$TMP/train.log" 2>&1 ||
    die "edgeflow train failed: $(tail -1 "$TMP/train.log")"

EF_PORT=$(free_port)
"$EDGEFLOW_BIN" serve --model-dir "$TMP/wine" --port "$EF_PORT" --log-level warn \
    >"$TMP/edgeflow.log" 2>&1 &
EF_PID=$!
PIDS+=("$EF_PID")

# start_reference NAME WORKERS: starts the reference app; sets PORT_<NAME> and PID_<NAME>
start_reference() {
    local port
    port=$(free_port)
    EF_BENCH_WINE=$WINE /usr/bin/python3 -m gunicorn --preload -w "$2" -b "127.0.0.1:$port" \
        --chdir "$HERE" --log-level warning serve_ref:app >"$TMP/$1.log" 2>&1 &
    PIDS+=("$!")
    printf -v "PORT_$1" '%s' "$port"
    printf -v "PID_$1" '%s' "$!"
}
start_reference seldon 1
start_reference tuned "$WORKERS"
PY_PORT=$PORT_seldon

wait_http edgeflow "$EF_PID" "http://127.0.0.1:$EF_PORT/health/ping"
wait_http seldon "$PID_seldon" "http://127.0.0.1:$PORT_seldon/health/ping"
wait_http tuned "$PID_tuned" "http://127.0.0.1:$PORT_tuned/health/ping"
EF_BODY=$(predict "http://127.0.0.1:$EF_PORT")
PY_BODY=$(predict "http://127.0.0.1:$PY_PORT")
/usr/bin/python3 - "$EF_BODY" "$PY_BODY" <<'PY' || die "edgeflow's answer differs from the reference's"
import json, math, sys
ef, py = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def shape(d):
    return {k: sorted(v) if isinstance(v, dict) else v for k, v in d.items() if k != "data"}, \
        sorted(d["data"]), d["data"]["names"], len(d["data"]["ndarray"])
assert shape(ef) == shape(py), (ef, py)
a, b = ef["data"]["ndarray"][0], py["data"]["ndarray"][0]
assert math.isclose(a, b, rel_tol=1e-9, abs_tol=0), (a, b)
print(f"same answer: edgeflow {a!r}, reference (scikit-learn) {b!r}")
PY

NG_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
printf '%s' "$EF_BODY" >"$TMP/nginx/body.json"
case $EF_BODY in *"'"* | *'\'*) die "edgeflow's body cannot be quoted for nginx: $EF_BODY" ;; esac
cat >"$TMP/nginx/nginx.conf" <<NGX
worker_processes $CORES;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NG_PORT;
        location / {
            default_type application/json;
            return 200 '$EF_BODY';
        }
    }
}
NGX
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
wait_http nginx "$NG_PID" "http://127.0.0.1:$NG_PORT/"
[ "$(predict "http://127.0.0.1:$NG_PORT")" = "$EF_BODY" ] || die "nginx does not answer edgeflow's body"

# --- timing -----------------------------------------------------------------------------------
# run NAME URL CONNS: prints "rps p50_us p99_us" (the warm-up's figures are discarded)
run() {
    local t=$(( $3 < CORES ? $3 : CORES )) out line
    [ "$WARM" -gt 0 ] && wrk -t"$t" -c"$3" -d"${WARM}s" -s "$LUA" "$2" >/dev/null 2>&1
    out=$(wrk -t"$t" -c"$3" -d"${SECS}s" --latency -s "$LUA" "$2" 2>&1) ||
        die "wrk failed against $1: $out"
    line=$(grep '^EFBENCH ' <<<"$out") || die "no result from wrk against $1: $out"
    set -- $line
    [ "$5" = 0 ] || die "$1 answered $5 of $7 requests with a non-2xx status"
    [ "$6" = 0 ] && echo "$2 $3 $4" || echo "$2 $3 $4 ($6 socket errors)"
}

echo "payload: $PAYLOAD ($(printf '%s' "$PAYLOAD" | wc -c) bytes); answer: $EF_BODY ($(printf '%s' "$EF_BODY" | wc -c) bytes)"
echo "wrk on 127.0.0.1, ${SECS} s per run after ${WARM} s of warm-up, threads = min(connections, $CORES);" \
    "edgeflow --threads default ($CORES), gunicorn 1 sync worker (Seldon's default) and $WORKERS" \
    "(tuned), nginx $CORES workers;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A R
for c in "${CONNS[@]}"; do
    for s in edgeflow seldon tuned nginx; do
        case $s in
        edgeflow) port=$EF_PORT ;; seldon) port=$PORT_seldon ;; tuned) port=$PORT_tuned ;;
        nginx) port=$NG_PORT ;;
        esac
        R[$s,$c]=$(run "$s" "http://127.0.0.1:$port" "$c")
    done
done
EF_CPU=$(awk '{printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$EF_PID/stat")

fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
printf '\n| server | connections | requests/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|\n'
for c in "${CONNS[@]}"; do
    for s in edgeflow seldon tuned nginx; do
        read -r rps p50 p99 rest <<<"${R[$s,$c]}"
        case $s in
        edgeflow) name="edgeflow serve --model-dir" ;;
        seldon) name="gunicorn + Flask + scikit-learn, 1 worker like Seldon's wrapper (reference)" ;;
        tuned) name="the same with $WORKERS workers (tuned reference)" ;;
        nginx) name="nginx, fixed body (ceiling)" ;;
        esac
        printf '| %s | %s | %.0f | %s | %s |%s\n' "$name" "$c" "$rps" "$(fmt_ms "$p50")" \
            "$(fmt_ms "$p99")" "${rest:+ $rest}"
    done
done
echo "edgeflow serve CPU over the whole run (incl. warm-ups): ${EF_CPU} s"

printf '\n| ratio | connections | value | target | met? |\n|---|---:|---:|---:|---|\n'
summary() { [ -n "${EF_BENCH_SUMMARY:-}" ] && echo "$*" >>"$EF_BENCH_SUMMARY" || true; }
for c in "${CONNS[@]}"; do
    read -r e_rps e_p50 e_p99 _ <<<"${R[edgeflow,$c]}"
    read -r p_rps p_p50 p_p99 _ <<<"${R[seldon,$c]}"
    read -r t_rps _ <<<"${R[tuned,$c]}"
    read -r n_rps n_p50 n_p99 _ <<<"${R[nginx,$c]}"
    awk -v c="$c" -v e="$e_rps" -v p="$p_rps" -v t="$t_rps" -v n="$n_rps" -v ep="$e_p99" -v np="$n_p99" 'BEGIN {
        r1 = e / p; r2 = e / n; r3 = ep / np
        printf "| edgeflow / reference (1 worker), requests/s | %s | %.1fx | >= 30x | %s |\n", c, r1, (r1 >= 30 ? "**yes**" : "**no**")
        printf "| edgeflow / tuned reference, requests/s | %s | %.1fx | | |\n", c, e / t
        printf "| edgeflow / nginx, requests/s | %s | %.3fx | >= 0.7x | %s |\n", c, r2, (r2 >= 0.7 ? "**yes**" : "**no**")
        printf "| edgeflow p99 / nginx p99 | %s | %.3fx | <= 2x | %s |\n", c, r3, (r3 <= 2 ? "**yes**" : "**no**")
    }'
    summary "serve: requests/s, $c conn (ref: gunicorn+Flask, 1 worker like Seldon)|$(printf '%.0f' "$e_rps")|$(printf '%.0f' "$p_rps")|$(awk -v a="$e_rps" -v b="$p_rps" 'BEGIN{printf "%.1f", a/b}')|target >= 30x"
    summary "serve: requests/s, $c conn (ref: gunicorn+Flask, $WORKERS workers)|$(printf '%.0f' "$e_rps")|$(printf '%.0f' "$t_rps")|$(awk -v a="$e_rps" -v b="$t_rps" 'BEGIN{printf "%.1f", a/b}')|"
    summary "serve: requests/s, $c conn (ref: nginx fixed body)|$(printf '%.0f' "$e_rps")|$(printf '%.0f' "$n_rps")|$(awk -v a="$e_rps" -v b="$n_rps" 'BEGIN{printf "%.2f", a/b}')|target >= 0.7x"
    summary "serve: p99 ms, $c conn (ref: nginx fixed body)|$(fmt_ms "$e_p99")|$(fmt_ms "$n_p99")|$(awk -v a="$n_p99" -v b="$e_p99" 'BEGIN{printf "%.2f", a/b}')|target >= 0.5x (p99 within 2x)"
done
