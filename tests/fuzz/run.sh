#!/bin/sh
# run.sh FUZZER CORPUS_DIR: replays the checked-in corpus, then fuzzes for EF_FUZZ_SECONDS (5).
# New inputs go to a temp dir so the checked-in corpus is never modified.
set -eu
fuzzer=$1
corpus=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$corpus"
"$fuzzer" -max_total_time="${EF_FUZZ_SECONDS:-5}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=0 "$tmp" "$corpus" 2>"$tmp.log" || { cat "$tmp.log"; rm -f "$tmp.log"; exit 1; }
tail -n 3 "$tmp.log"
rm -f "$tmp.log"
