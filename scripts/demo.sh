#!/usr/bin/env bash
# demo.sh - what `make demo` runs after installing and building: `edgeflow demo` with its own
# fresh data dir (kept afterwards so you can look at it). The demo starts `edgeflow up` (Mosquitto,
# ingest, the tracking/registry/store/model server on one port, the hourly export), narrates every
# step, then stops it. Pass demo options through, e.g. scripts/demo.sh --keep-running.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EDGEFLOW_BIN:-$PWD/build/edgeflow}
HOME_DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgeflow-demo.XXXXXX")
exec "$BIN" demo --home "$HOME_DIR" --data-dir "$PWD/examples/data" "$@"
