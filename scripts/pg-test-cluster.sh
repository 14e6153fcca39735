#!/usr/bin/env bash
# pg-test-cluster.sh - a throwaway PostgreSQL cluster for tests (C unit tests and pytest).
#
#   pg-test-cluster.sh start [DIR]   creates a cluster in DIR (default: a new temp dir), starts it on
#                                    a free port of 127.0.0.1 (socket in DIR, fsync off, trust auth),
#                                    creates database "edgeflow", and prints two lines on stdout:
#                                      postgresql://postgres@127.0.0.1:PORT/edgeflow
#                                      DIR
#   pg-test-cluster.sh stop DIR      stops the cluster (fast shutdown) and removes DIR.
#   EF_PG_WATCH_PID=PID ... start    also stops the cluster and removes DIR once process PID is
#                                    gone, so a test that crashes leaves no server behind.
#   pg-test-cluster.sh check         exits 0 when the PostgreSQL server binaries are present.
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user (created by
# Debian's postgresql package) and the server commands run through runuser; as any other user they
# run directly. Exit codes: 0 ok, 77 PostgreSQL binaries missing (a test should skip), 1 failure
# (the server log is copied to stderr).
set -euo pipefail

find_bindir() {
  if [ -n "${EF_PG_BINDIR:-}" ] && [ -x "$EF_PG_BINDIR/initdb" ]; then
    echo "$EF_PG_BINDIR"
    return 0
  fi
  local d
  for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# as_owner CMD...: runs CMD as the cluster's owner, from inside the cluster dir (so the owner can
# read its working directory).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$DIR" && runuser -u postgres -- "$@")
  else
    (cd "$DIR" && "$@")
  fi
}

die_with_log() {
  echo "pg-test-cluster: $1" >&2
  if [ -f "$DIR/server.log" ]; then
    tail -n 30 "$DIR/server.log" >&2 || true
  fi
  exit 1
}

cmd_start() {
  local bindir port attempt
  if ! bindir=$(find_bindir); then
    echo "pg-test-cluster: PostgreSQL server binaries (initdb, pg_ctl) not found" >&2
    exit 77
  fi
  if [ -n "${1:-}" ]; then
    DIR=$1
    mkdir -p "$DIR"
  else
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/ef-pg.XXXXXX")
  fi
  chmod 700 "$DIR"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "pg-test-cluster: running as root and no postgres user" >&2; exit 1; }
    chown postgres: "$DIR"
  fi
  as_owner "$bindir/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --locale=C --no-sync \
    >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die_with_log "initdb failed"; }
  # A port found free can be taken before the server binds it: try a few.
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$bindir/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
      echo "$port" >"$DIR/port"
      "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres edgeflow >/dev/null 2>&1 ||
        die_with_log "createdb failed"
      if [ -n "${EF_PG_WATCH_PID:-}" ]; then
        # detached, with no inherited stdout: the caller reads ours until EOF
        setsid "$0" watch "$EF_PG_WATCH_PID" "$DIR" </dev/null >/dev/null 2>&1 &
      fi
      echo "postgresql://postgres@127.0.0.1:$port/edgeflow"
      echo "$DIR"
      return 0
    fi
    [ "$attempt" -lt 5 ] || die_with_log "pg_ctl start failed"
  done
}

cmd_stop() {
  DIR=${1:?usage: pg-test-cluster.sh stop DIR}
  [ -d "$DIR" ] || return 0
  local bindir
  if bindir=$(find_bindir) && [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      as_owner "$bindir/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

cmd_watch() {
  local pid=$1 dir=$2
  while kill -0 "$pid" 2>/dev/null && [ -d "$dir" ]; do
    sleep 1
  done
  cmd_stop "$dir"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  watch) shift; cmd_watch "$@" ;;
  check) find_bindir >/dev/null || exit 77 ;;
  *) echo "usage: $0 start [DIR] | stop DIR | check" >&2; exit 2 ;;
esac
