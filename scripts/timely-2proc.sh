#!/usr/bin/env bash
# Issue #14: the timely explorer run as 2 processes on localhost (1 worker each) reaches the
# single-threaded explorer's state and transition counts on a scenario (default:
# stale-tag-lookup, K72). Process 1 starts in the background, process 0 prints the report;
# `wait` collects process 1 (no sleeps: timely retries the connection itself).
# Usage: scripts/timely-2proc.sh [SCENARIO]   (builds nothing: needs target/release/ublksim)
set -euo pipefail
cd "$(dirname "$0")/.."
sc=${1:-stale-tag-lookup}
B=target/release/ublksim
port=$((20000 + $$ % 20000))
count() { grep -oE "\"$1\": [0-9]+" | head -1 | grep -oE '[0-9]+$'; }
one=$(timeout 300 "$B" bench --scenario "$sc" --runs 1 --json)
timeout 300 "$B" check --engine timely -n 2 -p 1 --port "$port" -s "$sc" --out target/ci-traces \
  --json >/dev/null 2>&1 &
p1=$!
two=$(timeout 300 "$B" check --engine timely -n 2 -p 0 --port "$port" -s "$sc" --out target/ci-traces \
  --json 2>/dev/null) || { echo "timely process 0 failed" >&2; kill "$p1" 2>/dev/null; exit 1; }
wait "$p1" || { echo "timely process 1 failed" >&2; exit 1; }
s1=$(echo "$one" | count states); t1=$(echo "$one" | count transitions)
s2=$(echo "$two" | count states); t2=$(echo "$two" | count transitions)
echo "$sc: single-threaded explorer $s1 states, $t1 transitions; timely 2 processes $s2 states, $t2 transitions"
if [ -z "$s1" ] || [ "$s1" != "$s2" ] || [ "$t1" != "$t2" ]; then
  echo "timely: 2 processes disagree with the single-threaded explorer" >&2
  exit 1
fi
