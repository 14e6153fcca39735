#!/usr/bin/env bash
# bench/agent.sh - agent footprint: peak RSS and CPU per sample, edgeflow agent vs the bash loop.
#
# The reference is the sensor DaemonSet's shell loop that edgeflow agent replaces:
#   while :; do temp=$(cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null || echo 45000)
#     load=$(cut -d' ' -f1 /proc/loadavg)
#     mosquitto_pub -h 127.0.0.1 -p PORT -q 1 -t sensor/bash -m "{...}"; sleep 0.1; done
# run here for a fixed number of iterations instead of forever. Both publish to the same local
# Mosquitto every 100 ms, EF_BENCH_SAMPLES times (default 200, i.e. ~20 s each):
#   edgeflow agent --simulate --interval 100ms --count N           (spool fsync per reading)
#   edgeflow agent --simulate --interval 100ms --count N --no-spool-fsync
#   the bash loop, N iterations
# Measured (bench/benchutil.py run): CPU = user+sys of the process and every child it waited
# for (wait4, µs resolution), divided by the samples the broker delivered to a subscriber;
# RSS = peak VmHWM of the process. For the loop, RSS = the shell's VmHWM + the peak RSS of one
# mosquitto_pub (both are resident at once while it publishes), measured with GNU time's %M
# over 5 runs of the same command (the loop's children are too short-lived to poll).
# Also printed for edgeflow: its peak RssAnon, the private part of its RSS (the rest are pages of
# shared libraries, which the one all-roles binary links many of).
# Prints the figures and the ratios bash/edgeflow (how many times lighter edgeflow is).
#
# Environment: EDGEFLOW_BIN (default build/edgeflow), EF_BENCH_SAMPLES (200),
# EF_BENCH_SUMMARY (file to append "name|edgeflow|reference|ratio|note" lines to, for run.sh),
# EF_BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
BU="$PY $HERE/benchutil.py"
EDGEFLOW_BIN=${EDGEFLOW_BIN:-$ROOT/build/edgeflow}
case $EDGEFLOW_BIN in /*) ;; *) EDGEFLOW_BIN=$ROOT/$EDGEFLOW_BIN ;; esac
SAMPLES=${EF_BENCH_SAMPLES:-200}
SUMMARY=${EF_BENCH_SUMMARY:-}

for tool in mosquitto mosquitto_pub mosquitto_sub; do
    command -v "$tool" >/dev/null || { echo "agent bench: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done
[ -x "$EDGEFLOW_BIN" ] || { echo "agent bench: no edgeflow binary at $EDGEFLOW_BIN (set EDGEFLOW_BIN)" >&2; exit 2; }

T=$(mktemp -d /tmp/edgeflow-bench-agent.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${EF_BENCH_KEEP:-0}" = 1 ]; then echo "agent bench: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[agent] %s\n' "$*" >&2; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- broker and a subscriber counting what arrives --------------------------------------------
PORT=$($BU free-port)
cat >"$T/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
user $(id -un)
max_queued_messages 100000
persistence false
log_dest file $T/mosquitto.log
log_type error
log_type warning
EOF
mosquitto -c "$T/mosquitto.conf" &
PIDS+=($!)
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done
mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -t 'sensor/#' -v >"$T/received.txt" &
PIDS+=($!)
sleep 0.3
log "mosquitto on 127.0.0.1:$PORT; $SAMPLES samples every 100 ms per run (~$((SAMPLES / 10)) s each)"

received() { grep -c "^sensor/$1 " "$T/received.txt" || true; }

declare -A CPU RSS ANON NOTE

# record NAME RUNFILE SAMPLES [EXTRA_RSS_KIB]
record() {
    local name=$1 runf=$2 n=$3 extra=${4:-0} user sys rss wall
    user=$($BU field "$runf" user)
    sys=$($BU field "$runf" sys)
    rss=$($BU field "$runf" maxrss_kib)
    wall=$($BU field "$runf" wall)
    CPU[$name]=$(calc '%.0f' "($user + $sys) * 1e6 / $n")
    RSS[$name]=$(calc '%.2f' "($rss + $extra) / 1024")
    ANON[$name]=$(calc '%.2f' "$($BU field "$runf" anon_kib) / 1024")
    log "$(printf '%-32s %4d samples in %6.2f s  cpu %7s us/sample  rss %6s MiB (anon %s MiB)' \
        "$name" "$n" "$wall" "${CPU[$name]}" "${RSS[$name]}" "${ANON[$name]}")"
}

# --- edgeflow agent, both spool policies ------------------------------------------------------
for variant in fsync nofsync; do
    name="edgeflow agent"
    extra=()
    if [ $variant = nofsync ]; then name="edgeflow agent --no-spool-fsync"; extra=(--no-spool-fsync); fi
    dev=bench-$variant
    $BU run -o "$T/run-$variant" --timeout $((SAMPLES / 10 + 60)) -- \
        "$EDGEFLOW_BIN" agent --simulate --interval 100ms --count "$SAMPLES" --device "$dev" \
        --mqtt "mqtt://127.0.0.1:$PORT" --spool-dir "$T/spool-$variant" "${extra[@]}" \
        2>"$T/agent-$variant.log" || {
        echo "agent bench: $name failed:" >&2
        tail -20 "$T/agent-$variant.log" >&2
        exit 1
    }
    sleep 0.2 # let the subscriber write the last readings
    n=$(received "$dev")
    [ "$n" -gt 0 ] || { echo "agent bench: no readings from $name arrived" >&2; exit 1; }
    [ "$n" -eq "$SAMPLES" ] || NOTE[$name]="$n of $SAMPLES samples arrived"
    record "$name" "$T/run-$variant" "$n"
done

# --- the bash loop --------------------------------------------------------------------------------
# shellcheck disable=SC2016 # the loop is expanded by the inner bash
LOOP='for ((i = 0; i < $2; i++)); do
    temp=$(cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null || echo 45000)
    load=$(cut -d" " -f1 /proc/loadavg)
    mosquitto_pub -h 127.0.0.1 -p "$1" -q 1 -t sensor/bash -m "{\"device\":\"bash\",\"temp\":$temp,\"load\":$load}"
    sleep 0.1
done'
$BU run -o "$T/run-bash" --timeout $((SAMPLES + 60)) -- bash -c "$LOOP" bash "$PORT" "$SAMPLES" \
    2>"$T/bash.log" || { echo "agent bench: the bash loop failed:" >&2; tail "$T/bash.log" >&2; exit 1; }
sleep 0.2
n=$(received bash)
[ "$n" -gt 0 ] || { echo "agent bench: no readings from the bash loop arrived" >&2; exit 1; }
[ "$n" -eq "$SAMPLES" ] || NOTE["bash loop + mosquitto_pub"]="$n of $SAMPLES samples arrived"
pub_kib=0
if [ -x /usr/bin/time ]; then
    for _ in 1 2 3 4 5; do
        k=$(/usr/bin/time -f '%M' mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t sensor/bash-rss \
            -m '{"device":"bash","temp":45000,"load":0.42}' 2>&1 >/dev/null | tail -1)
        [ "$k" -gt "$pub_kib" ] && pub_kib=$k
    done
    log "mosquitto_pub peak RSS: $(calc '%.2f' "$pub_kib / 1024") MiB (GNU time, max of 5 runs)"
else
    NOTE["bash loop + mosquitto_pub"]="RSS without mosquitto_pub (/usr/bin/time missing: apt-get install time)"
fi
record "bash loop + mosquitto_pub" "$T/run-bash" "$n" "$pub_kib"

# --- summary ----------------------------------------------------------------------------------------
ref="bash loop + mosquitto_pub"
echo
echo "agent footprint, one sample every 100 ms ($SAMPLES samples, $(nproc) cores)"
printf '  %-34s %14s %10s %10s   %s\n' process "CPU us/sample" "peak RSS" "anon" "bash/edgeflow (CPU, RSS)"
for name in "edgeflow agent" "edgeflow agent --no-spool-fsync" "$ref"; do
    r=""
    anon="${ANON[$name]} MiB"
    if [ "$name" = "$ref" ]; then
        anon="n/a"
    else
        r="$(calc '%.1f' "${CPU[$ref]} / ${CPU[$name]}")x, $(calc '%.1f' "${RSS[$ref]} / ${RSS[$name]}")x"
    fi
    printf '  %-34s %14s %6s MiB %10s   %s %s\n' "$name" "${CPU[$name]}" "${RSS[$name]}" "$anon" "$r" \
        "${NOTE[$name]:-}"
done
if [ -n "$SUMMARY" ]; then
    for name in "edgeflow agent" "edgeflow agent --no-spool-fsync"; do
        echo "agent CPU us/sample, $name vs bash loop|${CPU[$name]}|${CPU[$ref]}|$(calc '%.3f' "${CPU[$name]} / ${CPU[$ref]}")|lower is better (bash/edgeflow $(calc '%.1f' "${CPU[$ref]} / ${CPU[$name]}")x)"
        echo "agent peak RSS MiB, $name vs bash loop|${RSS[$name]}|${RSS[$ref]}|$(calc '%.2f' "${RSS[$name]} / ${RSS[$ref]}")|lower is better (bash/edgeflow $(calc '%.2f' "${RSS[$ref]} / ${RSS[$name]}")x)"
    done >>"$SUMMARY"
fi
