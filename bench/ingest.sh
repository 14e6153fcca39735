#!/usr/bin/env bash
# bench/ingest.sh - sustained ingest throughput: MQTT readings -> committed rows, per second.
#
# Design (one broker; every consumer drains the same queued stream):
#   1. Start Mosquitto on a free 127.0.0.1 port with limits raised so nothing is dropped
#      (max_queued_messages 10000000, max_inflight_messages 0, no persistence, no memory limit).
#   Then, for each of EF_BENCH_ROUNDS rounds:
#   2. Create one persistent session per consumer (subscribed to sensor/+ at QoS 1, clean session
#      off / MQTT 5 session expiry), then disconnect them all.
#   3. Queue N readings (the agent's JSON, D devices, topic sensor/<device>) with
#      mosquitto_pub -l -q 1, so the broker holds N readings for every session.
#   4. Drain each session in turn (order rotated each round) and time it from process start to
#      "all N consumed":
#        limit     mosquitto_sub -C N: reads and acknowledges, stores nothing. It connects with
#                  MQTT 5 and Receive Maximum 2000, the same flow-control window edgeflow ingest
#                  uses by default, so both get the same treatment from the broker.
#        edgeflow  edgeflow ingest --no-durable and --durable (defaults otherwise: batches of
#                  1000 or 50 ms) until /metrics edgeflow_ingest_committed_total reaches N
#                  (polled every 20 ms); then the store's row count is checked.
#        glue      bench/glue_paho_sqlite.py --mode batched (commit every 1000 rows or 50 ms);
#                  in round 1 only, also --mode per-message (commit per reading), bounded by
#                  EF_BENCH_GLUE_SECONDS and measured on the prefix it managed.
# Prints readings/s (median of the rounds), CPU per reading (user+sys of the consumer only, not
# the broker's) and peak RSS of each consumer, and the ratios edgeflow/limit and edgeflow/glue.
# No assertion on figures: this only reports. It fails only if a consumer loses readings.
#
# Environment: EDGEFLOW_BIN (default build/edgeflow), EF_BENCH_N (100000), EF_BENCH_ROUNDS (3),
# EF_BENCH_DEVICES (4), EF_BENCH_TIMEOUT (per consumer, 180 s), EF_BENCH_GLUE_SECONDS
# (per-message glue, 20 s), EF_BENCH_SUMMARY (file to append "metric|edgeflow|reference|ratio|note"
# lines to, for run.sh), EF_BENCH_KEEP=1 keeps the temp dir, EF_BENCH_MOSQ_LOG=all logs the broker.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
BU="$PY $HERE/benchutil.py"
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
N=${EF_BENCH_N:-100000}
ROUNDS=${EF_BENCH_ROUNDS:-3}
RECEIVE_MAX=2000 # edgeflow ingest's default window (2 x --batch-size); the limit gets the same
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

# --- 2-4. rounds: sessions, queue, drain --------------------------------------------------------
# Each round measures every consumer once on a fresh queue and a fresh store, in an order rotated
# from round to round; the summary takes the median rate of the rounds (a shared 2-core machine is
# noisy, and whoever drains first or last should not decide the result).
SUB_ARGS=(-h 127.0.0.1 -p "$PORT" -q 1 -t 'sensor/+' -c -V mqttv5 -x 86400
    -D connect receive-maximum "$RECEIVE_MAX")
CONSUMERS=(sub nodurable durable glue-batched)
declare -A LABEL=([sub]="mosquitto_sub (limit)" [nodurable]="edgeflow --no-durable"
    [durable]="edgeflow --durable" [glue-batched]="python glue batched"
    [glue-per-message]="python glue per-message")
declare -A RATES CPUS RSSS BCPUS NOTE

ingest_args() { # $1 = mode, $2 = round; the common options of every edgeflow ingest run
    printf '%s\n' ingest --mqtt "$URL" --client-id "bench-ingest-$1-$2" \
        --store "sqlite:$T/ingest-$1-$2.db" --log-level info
}

# The broker's CPU time (clock ticks) so far: its share during a drain tells whether the broker or
# the consumer was the bottleneck (a single-threaded Mosquitto near 100% is the ceiling).
broker_ticks() { awk '{ print $14 + $15 }' "/proc/$MOSQ_PID/stat"; }
TICK=$(getconf CLK_TCK)

# record KEY RUNFILE COUNT ELAPSED BROKER_TICKS: readings/s, µs CPU per reading, peak RSS (MiB)
# of one drain, and the broker's CPU use (% of one core) meanwhile
record() {
    local key=$1 runf=$2 count=$3 elapsed=$4 bt=$5 user sys rss rate cpu bcpu
    user=$($BU field "$runf" user)
    sys=$($BU field "$runf" sys)
    rss=$($BU field "$runf" maxrss_kib)
    rate=$(calc '%.0f' "$count / $elapsed")
    cpu=$(calc '%.1f' "($user + $sys) * 1e6 / $count")
    rss=$(calc '%.1f' "$rss / 1024")
    bcpu=$(calc '%.0f' "100 * $bt / $TICK / $elapsed")
    RATES[$key]+="$rate "
    CPUS[$key]+="$cpu "
    RSSS[$key]+="$rss "
    BCPUS[$key]+="$bcpu "
    log "$(printf '  %-24s %7d readings in %7.3f s = %7d/s  cpu %6.1f us/reading  rss %5.1f MiB  broker %3d%% cpu' \
        "${LABEL[$key]}" "$count" "$elapsed" "$rate" "$cpu" "$rss" "$bcpu")"
}

create_sessions() { # $1 = round
    local r=$1 mode pid
    mosquitto_sub "${SUB_ARGS[@]}" -i "bench-sub-$r" -E
    for mode in nodurable durable; do
        mapfile -t args < <(ingest_args $mode "$r")
        EDGEFLOW_HOME=$T/home "$EDGEFLOW_BIN" "${args[@]}" >"$T/session-$mode-$r.log" 2>&1 &
        pid=$!
        for _ in $(seq 200); do grep -q "subscribed to" "$T/session-$mode-$r.log" && break; sleep 0.05; done
        if ! grep -q "subscribed to" "$T/session-$mode-$r.log"; then
            kill "$pid" 2>/dev/null
            echo "ingest bench: edgeflow ingest did not subscribe:" >&2
            cat "$T/session-$mode-$r.log" >&2
            exit 1
        fi
        kill -TERM "$pid"
        wait "$pid" || { echo "ingest bench: edgeflow ingest exited non-zero on SIGTERM" >&2; cat "$T/session-$mode-$r.log" >&2; exit 1; }
    done
    $PY "$HERE/glue_paho_sqlite.py" --port "$PORT" --client-id "bench-glue-batched-$r" --create-session
    if [ "$r" = 1 ]; then
        $PY "$HERE/glue_paho_sqlite.py" --port "$PORT" --client-id bench-glue-per-message --create-session
    fi
}

queue_readings() { # $1 = round, $2 = sessions
    local t0 t1 k pubs=()
    t0=$(now)
    for k in $(seq "$DEVICES"); do
        mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -M 1000 -i "bench-pub-$k" -t "sensor/lab-d$k" \
            -l <"$T/lab-d$k.jsonl" &
        pubs+=($!)
    done
    for k in "${pubs[@]}"; do wait "$k"; done
    t1=$(now)
    broker_alive "mosquitto_pub"
    log "round $1: queued $N readings for $2 sessions in $(calc '%.2f' "$t1 - $t0") s"
}

drain_sub() { # $1 = round
    local b0 bt got
    b0=$(broker_ticks)
    $BU run -o "$T/run-sub-$1" --timeout "$TIMEOUT" -- \
        mosquitto_sub "${SUB_ARGS[@]}" -i "bench-sub-$1" -C "$N" -W "$TIMEOUT" >"$T/sub.out" || true
    broker_alive mosquitto_sub
    bt=$(($(broker_ticks) - b0))
    got=$(wc -l <"$T/sub.out")
    rm -f "$T/sub.out"
    [ "$got" -eq "$N" ] || { echo "ingest bench: mosquitto_sub got $got of $N readings" >&2; exit 1; }
    record sub "$T/run-sub-$1" "$N" "$($BU field "$T/run-sub-$1" wall)" "$bt"
}

drain_edgeflow() { # $1 = nodurable|durable, $2 = round
    local mode=$1 r=$2 flag=--no-durable mport pid res st=0 elapsed rows b0 bt
    [ "$mode" = durable ] && flag=--durable
    mport=$($BU free-port)
    mapfile -t args < <(ingest_args "$mode" "$r")
    b0=$(broker_ticks)
    # started directly (not through a shell function) so that $! is the measuring process,
    # which forwards our SIGTERM to edgeflow
    EDGEFLOW_HOME=$T/home $PY "$HERE/benchutil.py" run -o "$T/run-$mode-$r" \
        --timeout "$((TIMEOUT + 30))" --t0-file "$T/t0-$mode-$r" -- \
        "$EDGEFLOW_BIN" "${args[@]}" "$flag" --metrics-port "$mport" >"$T/ingest-$mode-$r.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! res=$($BU wait-metric --url "http://127.0.0.1:$mport/metrics" \
        --name edgeflow_ingest_committed_total --count "$N" --t0-file "$T/t0-$mode-$r" \
        --timeout "$TIMEOUT"); then
        broker_alive "${LABEL[$mode]}"
        echo "ingest bench: ${LABEL[$mode]} did not commit $N readings within ${TIMEOUT}s ($res)" >&2
        tail -20 "$T/ingest-$mode-$r.log" >&2
        exit 1
    fi
    bt=$(($(broker_ticks) - b0))
    kill -TERM "$pid"
    wait "$pid" || st=$?
    unwatch "$pid"
    [ $st -eq 0 ] || { echo "ingest bench: ${LABEL[$mode]} exited with status $st" >&2; tail -20 "$T/ingest-$mode-$r.log" >&2; exit 1; }
    elapsed=${res#elapsed=}
    elapsed=${elapsed%% *}
    rows=$($BU count "$T/ingest-$mode-$r.db" "SELECT count(*) FROM docs")
    [ "$rows" -eq "$N" ] || { echo "ingest bench: ${LABEL[$mode]} stored $rows rows, expected $N" >&2; exit 1; }
    record "$mode" "$T/run-$mode-$r" "$N" "$elapsed" "$bt"
    rm -f "$T/ingest-$mode-$r.db"*
}

drain_glue() { # $1 = batched|per-message, $2 = client id suffix
    local mode=$1 id=bench-glue-$1$2 max=0 rows key=glue-$1 b0 bt
    [ "$mode" = per-message ] && max=$GLUE_SECONDS
    b0=$(broker_ticks)
    $BU run -o "$T/run-$id" --timeout "$((TIMEOUT + 30))" -- \
        $PY "$HERE/glue_paho_sqlite.py" --port "$PORT" --client-id "$id" \
        --db "$T/$id.db" --mode "$mode" --count "$N" --max-seconds "$max" \
        >"$T/$id.out" 2>"$T/$id.err" || {
        echo "ingest bench: ${LABEL[$key]} failed:" >&2
        cat "$T/$id.err" >&2
        exit 1
    }
    bt=$(($(broker_ticks) - b0))
    rows=$($BU count "$T/$id.db" "SELECT count(*) FROM readings")
    if [ "$rows" -lt "$N" ]; then
        if [ "$mode" = batched ]; then
            echo "ingest bench: ${LABEL[$key]} stored only $rows of $N rows in ${TIMEOUT}s" >&2
            exit 1
        fi
        NOTE[$key]="measured on the first $rows readings (${GLUE_SECONDS}s)"
    fi
    record "$key" "$T/run-$id" "$rows" "$($BU field "$T/run-$id" wall)" "$bt"
    rm -f "$T/$id.db"*
}

$BU gen --n "$N" --devices "$DEVICES" --outdir "$T"
for r in $(seq "$ROUNDS"); do
    create_sessions "$r"
    nsess=4
    [ "$r" = 1 ] && nsess=5
    queue_readings "$r" "$nsess"
    # rotate the order of the consumers by one each round
    order=("${CONSUMERS[@]:$(((r - 1) % ${#CONSUMERS[@]}))}" "${CONSUMERS[@]:0:$(((r - 1) % ${#CONSUMERS[@]}))}")
    for c in "${order[@]}"; do
        case $c in
        sub) drain_sub "$r" ;;
        nodurable | durable) drain_edgeflow "$c" "$r" ;;
        glue-batched) drain_glue batched "-$r" ;;
        esac
    done
    [ "$r" = 1 ] && drain_glue per-message ""
done

# --- 5. summary ---------------------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maximum() { tr ' ' '\n' | grep . | sort -g | tail -1; }
declare -A RATE
for key in "${!RATES[@]}"; do RATE[$key]=$(median <<<"${RATES[$key]}"); done
ratio() { calc '%.2f' "$1 / $2"; }
echo
echo "ingest throughput, MQTT QoS 1 -> committed rows ($N readings, $DEVICES devices, $ROUNDS rounds, $(nproc) cores)"
printf '  %-26s %11s %15s %10s %11s   %s\n' consumer "readings/s" "CPU us/reading" "peak RSS" \
    "broker CPU" "rounds (readings/s)"
for key in sub nodurable durable glue-batched glue-per-message; do
    printf '  %-26s %11.0f %15s %6s MiB %10s%%   %s %s\n' "${LABEL[$key]}" "${RATE[$key]}" \
        "$(median <<<"${CPUS[$key]}")" "$(maximum <<<"${RSSS[$key]}")" \
        "$(median <<<"${BCPUS[$key]}")" "${RATES[$key]}" "${NOTE[$key]:-}"
done
echo "  (medians of the rounds; peak RSS is the largest of the rounds; broker CPU is Mosquitto's"
echo "   use of one core while that consumer drained: near 100% the broker is the ceiling)"
echo "  ratios (target: >= 0.7x the limit, >= 10x the Python glue):"
for e in nodurable durable; do
    printf '    %-22s %6sx limit   %7sx glue batched   %8sx glue per-message\n' "${LABEL[$e]}" \
        "$(ratio "${RATE[$e]}" "${RATE[sub]}")" "$(ratio "${RATE[$e]}" "${RATE[glue-batched]}")" \
        "$(ratio "${RATE[$e]}" "${RATE[glue-per-message]}")"
done
if [ -n "$SUMMARY" ]; then
    for e in nodurable durable; do
        r=${RATE[$e]}
        for ref in sub glue-batched glue-per-message; do
            target=">= 10"
            [ $ref = sub ] && target=">= 0.7"
            echo "ingest readings/s, ${LABEL[$e]} vs ${LABEL[$ref]% (limit)}|$(calc '%.0f' "$r")|$(calc '%.0f' "${RATE[$ref]}")|$(ratio "$r" "${RATE[$ref]}")|target $target"
        done
    done >>"$SUMMARY"
fi
