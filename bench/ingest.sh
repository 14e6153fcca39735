#!/usr/bin/env bash
# bench/ingest.sh - sustained ingest throughput: MQTT readings -> committed rows, per second.
#
# Design (one run, one broker, the same queued stream for every consumer):
#   1. Start Mosquitto on a free 127.0.0.1 port with limits raised so nothing is dropped
#      (max_queued_messages 10000000, unlimited in-flight, no persistence, no memory limit).
#   2. Create one persistent session per consumer (clean session off / MQTT 5 session expiry,
#      subscribed to sensor/+ at QoS 1), then disconnect them all.
#   3. Queue N readings (agent JSON format, D devices, topic sensor/<device>) with mosquitto_pub -l
#      -q 1, so the broker holds N readings for every session.
#   4. Drain each session in turn and time it from process start to "all N consumed":
#        limit      mosquitto_sub -C N (reads and acks, stores nothing)
#        edgeflow   edgeflow ingest --no-durable and --durable, until the committed counter
#                   (/metrics edgeflow_ingest_committed_total) reaches N; then the store's
#                   row count is checked
#        glue       bench/glue_paho_sqlite.py --mode batched (1000 rows / 50 ms per commit) and
#                   --mode per-message (commit per reading; bounded by EF_BENCH_GLUE_SECONDS, its
#                   rate is measured on the prefix it managed)
# Prints readings/s, CPU per reading and peak RSS of each consumer, and the ratios
# edgeflow/limit and edgeflow/glue. No assertion on timings: this only reports.
#
# Environment: EDGEFLOW_BIN (default build/edgeflow), EF_BENCH_N (200000), EF_BENCH_DEVICES (4),
# EF_BENCH_TIMEOUT (per consumer, 180 s), EF_BENCH_GLUE_SECONDS (per-message glue, 20 s),
# EF_BENCH_SUMMARY (file to append "name|edgeflow|reference|ratio|note" lines to, for run.sh),
# EF_BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
BU="$PY $HERE/benchutil.py"
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
N=${EF_BENCH_N:-200000}
DEVICES=${EF_BENCH_DEVICES:-4}
TIMEOUT=${EF_BENCH_TIMEOUT:-180}
GLUE_SECONDS=${EF_BENCH_GLUE_SECONDS:-20}
SUMMARY=${EF_BENCH_SUMMARY:-}

for tool in mosquitto mosquitto_pub mosquitto_sub sqlite3; do
    command -v "$tool" >/dev/null || { echo "ingest bench: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done
[ -x "$EDGEFLOW_BIN" ] || { echo "ingest bench: no edgeflow binary at $EDGEFLOW_BIN (set EDGEFLOW_BIN)" >&2; exit 2; }
$PY -c 'import paho.mqtt.client' 2>/dev/null || { echo "ingest bench: python3-paho-mqtt missing" >&2; exit 2; }

T=$(mktemp -d /tmp/edgeflow-bench-ingest.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${EF_BENCH_KEEP:-0}" = 1 ]; then echo "ingest bench: kept $T"; else rm -rf "$T"; fi
}
unwatch() { # $1 = a pid we have waited for: never signal it again (the pid may be reused)
    local keep=() pid
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[ingest] %s\n' "$*" >&2; }
broker_alive() { # $1 = what just ran
    kill -0 "$MOSQ_PID" 2>/dev/null && return 0
    local st=0
    wait "$MOSQ_PID" 2>/dev/null || st=$?
    echo "ingest bench: mosquitto exited (status $st) during $1; its log:" >&2
    tail -20 "$T/mosquitto.log" >&2
    exit 1
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- 1. broker ---------------------------------------------------------------------------------
PORT=$($BU free-port)
cat >"$T/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
user $(id -un)
max_queued_messages 10000000
max_queued_bytes 0
max_inflight_messages 0
persistence false
memory_limit 0
log_dest file $T/mosquitto.log
log_type ${EF_BENCH_MOSQ_LOG:-error}
log_type warning
EOF
mosquitto -c "$T/mosquitto.conf" &
PIDS+=($!)
MOSQ_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done
log "mosquitto $(mosquitto -h 2>/dev/null | awk 'NR==1 {print $3}') on 127.0.0.1:$PORT, N=$N readings over $DEVICES devices"
URL=mqtt://127.0.0.1:$PORT

# --- 2. persistent sessions ----------------------------------------------------------------------
mosquitto_sub -h 127.0.0.1 -p "$PORT" -c -i bench-sub -q 1 -t 'sensor/+' -E

ingest_args() { # $1 = name; the common options of every edgeflow ingest run
    printf '%s\n' ingest --mqtt "$URL" --client-id "bench-ingest-$1" \
        --store "sqlite:$T/ingest-$1.db" --log-level info
}
for mode in nodurable durable; do
    mapfile -t args < <(ingest_args $mode)
    EDGEFLOW_HOME=$T/home "$EDGEFLOW_BIN" "${args[@]}" >"$T/session-$mode.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do grep -q "subscribed to" "$T/session-$mode.log" && break; sleep 0.05; done
    grep -q "subscribed to" "$T/session-$mode.log" || {
        kill "$pid" 2>/dev/null
        echo "ingest bench: edgeflow ingest did not subscribe:" >&2
        cat "$T/session-$mode.log" >&2
        exit 1
    }
    kill -TERM "$pid"
    wait "$pid" || { echo "ingest bench: edgeflow ingest exited non-zero on SIGTERM" >&2; cat "$T/session-$mode.log" >&2; exit 1; }
done
for mode in batched per-message; do
    $PY "$HERE/glue_paho_sqlite.py" --port "$PORT" --client-id "bench-glue-$mode" --create-session
done

# --- 3. queue N readings --------------------------------------------------------------------------
$BU gen --n "$N" --devices "$DEVICES" --outdir "$T"
t0=$(now)
pubs=()
for k in $(seq "$DEVICES"); do
    mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -M 1000 -i "bench-pub-$k" -t "sensor/lab-d$k" \
        -l <"$T/lab-d$k.jsonl" &
    pubs+=($!)
done
for pid in "${pubs[@]}"; do wait "$pid"; done
t1=$(now)
log "queued $N readings for 5 sessions in $(calc '%.2f' "$t1 - $t0") s ($(calc '%.0f' "$N / ($t1 - $t0)") readings/s published)"

# --- 4. drain each session ----------------------------------------------------------------------
declare -A RATE CPU RSS NOTE

# record NAME RUNFILE COUNT ELAPSED: readings/s, µs CPU per reading, peak RSS (MiB)
record() {
    local name=$1 runf=$2 count=$3 elapsed=$4 user sys rss
    user=$($BU field "$runf" user)
    sys=$($BU field "$runf" sys)
    rss=$($BU field "$runf" maxrss_kib)
    RATE[$name]=$(calc '%.0f' "$count / $elapsed")
    CPU[$name]=$(calc '%.1f' "($user + $sys) * 1e6 / $count")
    RSS[$name]=$(calc '%.1f' "$rss / 1024")
    log "$(printf '%-22s %8d readings in %7.3f s = %8d/s  cpu %6.1f us/reading  rss %5.1f MiB' \
        "$name" "$count" "$elapsed" "${RATE[$name]}" "${CPU[$name]}" "${RSS[$name]}")"
}

# limit: mosquitto_sub reads the stream and acknowledges it, nothing else
$BU run -o "$T/run-sub" --timeout "$TIMEOUT" -- \
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -c -i bench-sub -q 1 -t 'sensor/+' -C "$N" \
    -W "$TIMEOUT" >"$T/sub.out" || true
got=$(wc -l <"$T/sub.out")
broker_alive mosquitto_sub
[ "$got" -eq "$N" ] || { echo "ingest bench: mosquitto_sub got $got of $N readings" >&2; exit 1; }
record "mosquitto_sub (limit)" "$T/run-sub" "$N" "$($BU field "$T/run-sub" wall)"
rm -f "$T/sub.out"

# edgeflow ingest, both durability policies
for mode in nodurable durable; do
    name="edgeflow --no-durable"
    flag=--no-durable
    if [ $mode = durable ]; then name="edgeflow --durable"; flag=--durable; fi
    mport=$($BU free-port)
    mapfile -t args < <(ingest_args $mode)
    rm -f "$T/t0-$mode"
    # started directly (not through a shell function) so that $! is the measuring process,
    # which forwards our SIGTERM to edgeflow
    EDGEFLOW_HOME=$T/home $PY "$HERE/benchutil.py" run -o "$T/run-$mode" --timeout "$((TIMEOUT + 30))" \
        --t0-file "$T/t0-$mode" -- "$EDGEFLOW_BIN" "${args[@]}" "$flag" --metrics-port "$mport" \
        >"$T/ingest-$mode.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    if ! res=$($BU wait-metric --url "http://127.0.0.1:$mport/metrics" \
        --name edgeflow_ingest_committed_total --count "$N" --t0-file "$T/t0-$mode" \
        --timeout "$TIMEOUT"); then
        broker_alive "$name"
        echo "ingest bench: $name did not commit $N readings within ${TIMEOUT}s ($res)" >&2
        tail -20 "$T/ingest-$mode.log" >&2
        exit 1
    fi
    kill -TERM "$pid"
    st=0
    wait "$pid" || st=$?
    unwatch "$pid"
    [ $st -eq 0 ] || { echo "ingest bench: $name exited with status $st" >&2; tail -20 "$T/ingest-$mode.log" >&2; exit 1; }
    elapsed=${res#elapsed=}
    elapsed=${elapsed%% *}
    rows=$($BU count "$T/ingest-$mode.db" "SELECT count(*) FROM docs")
    [ "$rows" -eq "$N" ] || { echo "ingest bench: $name stored $rows rows, expected $N" >&2; exit 1; }
    record "$name" "$T/run-$mode" "$N" "$elapsed"
done

# the Python glue, batched then per-message (bounded)
for mode in batched per-message; do
    name="python glue $mode"
    max=0
    [ $mode = per-message ] && max=$GLUE_SECONDS
    $BU run -o "$T/run-glue-$mode" --timeout "$((TIMEOUT + 30))" -- \
        $PY "$HERE/glue_paho_sqlite.py" --port "$PORT" --client-id "bench-glue-$mode" \
        --db "$T/glue-$mode.db" --mode "$mode" --count "$N" --max-seconds "${max:-0}" \
        >"$T/glue-$mode.out" 2>"$T/glue-$mode.err" || {
        echo "ingest bench: $name failed:" >&2
        cat "$T/glue-$mode.err" >&2
        exit 1
    }
    rows=$($BU count "$T/glue-$mode.db" "SELECT count(*) FROM readings")
    if [ "$rows" -lt "$N" ]; then
        if [ $mode = batched ]; then
            echo "ingest bench: $name stored only $rows of $N rows in ${TIMEOUT}s" >&2
            exit 1
        fi
        NOTE[$name]="$rows of $N readings in ${GLUE_SECONDS}s"
    fi
    record "$name" "$T/run-glue-$mode" "$rows" "$($BU field "$T/run-glue-$mode" wall)"
done

# --- 5. summary ---------------------------------------------------------------------------------
ratio() { calc '%.2f' "$1 / $2"; }
echo
echo "ingest throughput, MQTT QoS 1 -> committed rows ($N readings, $DEVICES devices, $(nproc) cores)"
printf '  %-26s %12s %14s %10s\n' consumer "readings/s" "CPU us/reading" "peak RSS"
for name in "mosquitto_sub (limit)" "edgeflow --no-durable" "edgeflow --durable" \
    "python glue batched" "python glue per-message"; do
    printf '  %-26s %12s %14s %6s MiB  %s\n' "$name" "${RATE[$name]}" "${CPU[$name]}" "${RSS[$name]}" \
        "${NOTE[$name]:-}"
done
lim=${RATE["mosquitto_sub (limit)"]}
gb=${RATE["python glue batched"]}
gp=${RATE["python glue per-message"]}
echo "  ratios (target: >= 0.7x the limit, >= 10x the Python glue):"
for e in "edgeflow --no-durable" "edgeflow --durable"; do
    r=${RATE[$e]}
    printf '    %-22s %6sx limit   %7sx glue batched   %8sx glue per-message\n' "$e" \
        "$(ratio "$r" "$lim")" "$(ratio "$r" "$gb")" "$(ratio "$r" "$gp")"
done
if [ -n "$SUMMARY" ]; then
    {
        for e in "edgeflow --no-durable" "edgeflow --durable"; do
            r=${RATE[$e]}
            echo "ingest readings/s, $e vs mosquitto_sub|$r|$lim|$(ratio "$r" "$lim")|target >= 0.7"
            echo "ingest readings/s, $e vs glue batched|$r|$gb|$(ratio "$r" "$gb")|target >= 10"
            echo "ingest readings/s, $e vs glue per-message|$r|$gp|$(ratio "$r" "$gp")|target >= 10"
        done
    } >>"$SUMMARY"
fi
