#!/usr/bin/env bash
# Run `ublk-realdev quiesce --mode MODE` N times, one VM boot each, and print one line per run:
# QUIESCE_DEV's result and time, the CQEs after it, the reads, the verdict, and the kernel's
# first BUG/WARNING line.
#
#   scripts/vm/quiesce.sh KERNEL MODE N [ARGS...]   e.g. scripts/vm/quiesce.sh 7.2 busy 5
#                                                     scripts/vm/quiesce.sh 6.12 busy 2
#
# ARGS go to `ublk-realdev quiesce` (e.g. --wait-ms 2000, QUIESCE_DEV's data[0]). Logs go to
# $QUIESCE_LOGS (default out/quiesce), one file per run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KERNEL=$1 MODE=$2 N=$3
shift 3
EXTRA=("$@")
TAG=$(printf '%s' "${EXTRA[*]:-}" | tr -c 'a-zA-Z0-9' '_')
LOGS=${QUIESCE_LOGS:-$HERE/../../out/quiesce}
mkdir -p "$LOGS"
BUILD=()
field() { # field NAME LOG [EVENT]: the value of "NAME" in the EVENT (quiesce_result) line
    grep -m1 "\"event\":\"${3:-quiesce_result}\"" "$2" |
        sed -n 's/.*"'"$1"'":\(\[[^]]*\]\|"[^"]*"\|[^,}]*\).*/\1/p' | head -1
}
for i in $(seq 1 "$N"); do
    log="$LOGS/$KERNEL-$MODE${TAG:+-$TAG}-$i.log"
    rc=0
    UBLK_VM_KERNEL=$KERNEL "$HERE/run.sh" "${BUILD[@]}" --payload-timeout 60 quiesce --mode "$MODE" \
        --timeout-ms 3000 ${EXTRA[@]+"${EXTRA[@]}"} > "$log" 2>&1 || rc=$?
    BUILD=(--no-build)
    bug=$(grep -m1 -E "BUG:|WARNING:" "$log" | sed 's/^\[ *[0-9.]*\] //' || true)
    # the kernel log of the run: the lines between the @@DMESG and @@EXIT markers
    dmesg=$(sed -n '/^@@DMESG/,/^@@EXIT/p' "$log" | grep -vc '^@@' || true)
    echo "$KERNEL $MODE ${EXTRA[*]:-} #$i rc=$rc | quiesce_dev=$(field quiesce_dev "$log") \
$(field quiesce_elapsed_ms "$log") ms | after: $(field cqes_after_quiesce "$log") | read1=$(field read1 "$log") \
rearmed=$(field rearmed_fetch_cqe "$log") read2=$(field read2 "$log") \
(after cleanup: $(field read2 "$log" after_cleanup)) | $(field verdict "$log")$(field error "$log") \
| dmesg lines: $dmesg, ${bug:-no BUG/WARNING}"
done
