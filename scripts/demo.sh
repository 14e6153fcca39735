#!/usr/bin/env bash
# demo.sh - the sensor data path on one machine, on embedded defaults (what `make demo` runs):
# a Mosquitto broker, 3 simulated agents, ingest into the embedded SQLite store, the store's
# query API, a CSV export, then an orderly stop. Everything binds to 127.0.0.1 on free ports and
# lives in a fresh data dir under /tmp (kept afterwards so you can look at it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EDGEFLOW_BIN:-$PWD/build/edgeflow}
SECONDS_TO_RUN=${DEMO_SECONDS:-8}

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export EDGEFLOW_HOME
EDGEFLOW_HOME=$(mktemp -d "${TMPDIR:-/tmp}/edgeflow-demo.XXXXXX")
LOGS=$EDGEFLOW_HOME/logs
mkdir -p "$LOGS" "$EDGEFLOW_HOME/mosquitto"
MQTT_PORT=$(free_port)
HTTP_PORT=$(free_port)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "data dir $EDGEFLOW_HOME (logs in $LOGS)"
cat > "$EDGEFLOW_HOME/mosquitto/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
user $(id -un)
persistence true
persistence_location $EDGEFLOW_HOME/mosquitto/
max_queued_messages 1000000
max_inflight_messages 0
CONF
say "starting Mosquitto on 127.0.0.1:$MQTT_PORT (persistence on, queue limit raised: no silent drops)"
mosquitto -c "$EDGEFLOW_HOME/mosquitto/mosquitto.conf" >"$LOGS/mosquitto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$MQTT_PORT) 2>/dev/null && break; sleep 0.1; done

say "starting the store API: edgeflow server --port $HTTP_PORT"
"$BIN" server --port "$HTTP_PORT" >"$LOGS/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=($SERVER_PID)
say "starting ingest: MQTT sensor/+ -> transforms -> SQLite ($EDGEFLOW_HOME/series.db)"
"$BIN" ingest --mqtt "mqtt://127.0.0.1:$MQTT_PORT" >"$LOGS/ingest.log" 2>&1 &
INGEST_PID=$!
PIDS+=($INGEST_PID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null && break; sleep 0.1; done

AGENT_PIDS=()
for d in lab-d1 lab-d2 lab-d3; do
  say "starting agent $d (simulated sensors, every 1s)"
  "$BIN" agent --mqtt "mqtt://127.0.0.1:$MQTT_PORT" --device "$d" --interval 1s --simulate \
    >"$LOGS/agent-$d.log" 2>&1 &
  AGENT_PIDS+=($!)
  PIDS+=($!)
done

say "readings arriving (count via the Elasticsearch-style API: GET /sensor-*/_count)"
for i in $(seq "$SECONDS_TO_RUN"); do
  sleep 1
  n=$(curl -s "http://127.0.0.1:$HTTP_PORT/sensor-*/_count" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))')
  printf '  t=%2ds  %s readings stored\n' "$i" "$n"
done

say "the reference hourly-dump query: POST /sensor-$(date -u +%Y-%m)/_search"
curl -s -H 'Content-Type: application/json' \
  -d '{"size":10000,"query":{"range":{"collected":{"gte":"now-1h"}}}}' \
  "http://127.0.0.1:$HTTP_PORT/sensor-$(date -u +%Y-%m)/_search" |
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); h=r["hits"]["hits"]
print("  hits.total.value =", r["hits"]["total"]["value"])
for x in h[:3]: print("  ", x["_index"], x["_id"], json.dumps(x["_source"]))'

say "stopping the agents (SIGTERM: drain the spool, exit 0)"
for pid in "${AGENT_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${AGENT_PIDS[@]}"; do wait "$pid"; done
sleep 0.5

say "exporting the last 10 minutes to CSV: edgeflow export --from now-10m --to now"
"$BIN" export --from now-10m --to now --key-pattern 'demo-%Y%m%d-%H%M.csv'
f=$(ls "$EDGEFLOW_HOME"/exports/*.csv | head -1)
echo "  $f: $(($(wc -l <"$f") - 1)) rows"
head -4 "$f" | sed 's/^/  /'

say "stopping ingest and the server (SIGTERM: commit the open batch, exit 0)"
kill -TERM "$INGEST_PID" "$SERVER_PID"
wait "$INGEST_PID"
wait "$SERVER_PID"
tail -1 "$LOGS/ingest.log" | sed 's/^/  /'
say "done. Data kept in $EDGEFLOW_HOME"
