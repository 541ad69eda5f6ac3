#!/usr/bin/env bash
# Run `ublk-realdev twoq --mode MODE` N times, one VM boot each (an oops poisons the kernel),
# and print one line per run: the scenario's verdict and the kernel's first BUG/WARNING line.
#
#   scripts/vm/twoq.sh KERNEL MODE N [ARGS...]    e.g. scripts/vm/twoq.sh 7.2 close 10
#                                                  scripts/vm/twoq.sh 6.12 restart 3 --queues 1
#
# ARGS go to `ublk-realdev twoq`. Logs (program output and kernel log) go to $TWOQ_LOGS
# (default out/twoq), one file per run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KERNEL=$1 MODE=$2 N=$3
shift 3
EXTRA=("$@")
TAG=$(printf '%s' "${EXTRA[*]:-}" | tr -c 'a-zA-Z0-9' '_')
LOGS=${TWOQ_LOGS:-$HERE/../../out/twoq}
mkdir -p "$LOGS"
BUILD=()
for i in $(seq 1 "$N"); do
    log="$LOGS/$KERNEL-$MODE${TAG:+-$TAG}-$i.log"
    rc=0
    UBLK_VM_KERNEL=$KERNEL "$HERE/run.sh" "${BUILD[@]}" --payload-timeout 60 twoq --mode "$MODE" \
        --timeout-ms 3000 ${EXTRA[@]+"${EXTRA[@]}"} > "$log" 2>&1 || rc=$?
    BUILD=(--no-build)
    verdict=$(sed -n 's/.*"event":"twoq_result".*"verdict":"\([^"]*\)".*/\1/p' "$log" | head -1)
    err=$(sed -n 's/.*"event":"twoq_result".*"error":"\([^"]*\)".*/\1/p' "$log" | head -1)
    bug=$(grep -m1 -E "BUG:|WARNING:" "$log" | sed 's/^\[ *[0-9.]*\] //' || true)
    rip=$(grep -m1 "RIP: 0010" "$log" | sed 's/^\[ *[0-9.]*\] //' || true)
    echo "$KERNEL $MODE ${EXTRA[*]:-} #$i rc=$rc | ${verdict:-${err:-no result}} | ${bug:-no BUG/WARNING} | ${rip:-}"
done
