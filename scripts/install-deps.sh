#!/usr/bin/env bash
# install-deps.sh - installs everything edgeflow's build, demo, tests and benchmarks need on
# Debian 12: Debian packages with apt-get, and npm test tools into tests/node_modules (locked by
# tests/package-lock.json). Idempotent: does nothing (and needs no network) when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libjansson-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libyaml-dev
  libpq-dev libcmocka-dev zlib1g-dev libsodium-dev libopenblas-dev liblapacke-dev libxgboost-dev
  # runtime peers for the demo and tests
  mosquitto mosquitto-clients postgresql sqlite3 curl ca-certificates rabbitmq-server
  # integration tests and benchmarks
  python3 python3-pytest python3-requests python3-boto3 python3-paho-mqtt python3-yaml
  python3-pandas python3-sklearn python3-xgboost
  python3-flask gunicorn nginx-light
  wrk time nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  # nodejs may come from another repository on developer machines: accept any node binary.
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm test tools (s3rver, the mlflow client), pinned by the lock file.
if [ -f tests/package.json ]; then
  if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules ]; then
    echo "install-deps: npm ci in tests/"
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
    touch tests/node_modules
  fi
fi
echo "install-deps: all dependencies present"
