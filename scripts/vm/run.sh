#!/usr/bin/env bash
# Boot Debian's current cloud kernel (with ublk_drv) under QEMU TCG and run `ublk-realdev`
# inside it. Implements shared/reference/kernel-vm.md.
#
#   scripts/vm/run.sh [--no-build] [--no-realdev] [--payload-timeout S] [--cmd 'shell line'] [--file F]... [ARGS...]
#
# --file F copies F into the guest's /payload/ (e.g. a batch of programs for `run-batch`).
# --no-realdev: carry no ublk-realdev (neither built nor copied): the payload is a --file
# binary run with --cmd (e.g. a static program of `ublksim export-c`).
# ARGS go to `ublk-realdev` (default: smoke); --cmd runs an arbitrary line of shell in the
# guest instead (the binary is /payload/ublk-realdev, on PATH). Program output comes from the
# guest's second serial port; then the kernel log of the run, then an exit marker.
# Exit status: the payload's, or 2 when the VM gave no exit marker (crash, hang, timeout).
#
# Environment: UBLK_VM_KERNEL (kernel line: one with a scripts/vm/kernel-<line>.pin, which names
# its Debian suite; 7.2 = Debian sid's cloud kernel, the default; 6.12 = Debian trixie's), UBLK_VM_CACHE (default <repo>/.cache/vm), UBLK_VM_TIMEOUT (whole
# VM, default 300 s), UBLK_VM_KVER (kernel version to use instead of
# scripts/vm/kernel-<line>.pin), UBLK_VM_REFRESH=1 (re-resolve the line's current kernel even
# when the pinned one is cached), UBLK_VM_APPEND (extra kernel command line),
# UBLK_VM_KERNEL_IMAGE (boot this kernel image — a bzImage you built — instead of Debian's;
# UBLK_VM_MODULE: its ublk_drv.ko, .ko.xz or .ko.zst, or none when ublk_drv is built in),
# UBLK_VM_ACCEL (kvm | tcg | auto, the default: KVM when a probe boot works, cached per host).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
C=${UBLK_VM_CACHE:-$REPO/.cache/vm}
VM_TIMEOUT=${UBLK_VM_TIMEOUT:-300}
PAYLOAD_TIMEOUT=120
BUILD=1
REALDEV=1
CMDLINE=""
FILES=()
ARGS=()

while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --no-realdev) BUILD=0; REALDEV=0 ;;
        --payload-timeout) PAYLOAD_TIMEOUT=$2; shift ;;
        --cmd) CMDLINE=$2; shift ;;
        --file) FILES+=("$2"); shift ;;
        --) shift; ARGS+=("$@"); break ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
[ ${#ARGS[@]} -gt 0 ] || ARGS=(smoke)

log() { echo "[vm] $*" >&2; }
loud() {
    echo "[vm] ################################################################" >&2
    echo "[vm] ## $*" >&2
    echo "[vm] ################################################################" >&2
}

mkdir -p "$C/apt/lists/partial" "$C/debs" "$C/kernel"

# --- host tools --------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v dpkg-deb >/dev/null || { log "dpkg-deb missing: a Debian-like host is required"; exit 1; }
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# --- static busybox (cached) -------------------------------------------------------------
BB=$C/busybox
if [ ! -x "$BB" ]; then
    log "fetching busybox-static"
    (cd "$C/debs" && apt-get download busybox-static >&2)
    rm -rf "$C/debs/bb" && mkdir -p "$C/debs/bb"
    dpkg-deb -x "$(ls -t "$C"/debs/busybox-static_*.deb | head -1)" "$C/debs/bb"
    cp "$C/debs/bb/bin/busybox" "$BB.tmp" && mv "$BB.tmp" "$BB"
fi

# --- kernel: vmlinuz + ublk_drv.ko + version (cached) ------------------------------------
LINE=${UBLK_VM_KERNEL:-7.2}
if [ -n "${UBLK_VM_KERNEL_IMAGE:-}" ]; then
    # the user's own kernel: no download; cached by content so the base initramfs is reused
    [ -f "$UBLK_VM_KERNEL_IMAGE" ] || { log "no kernel image at $UBLK_VM_KERNEL_IMAGE"; exit 1; }
    MOD=${UBLK_VM_MODULE:-}
    [ -z "$MOD" ] || [ -f "$MOD" ] || { log "no module at $MOD"; exit 1; }
    SUM=$(cat "$UBLK_VM_KERNEL_IMAGE" ${MOD:+"$MOD"} | sha256sum | cut -c1-16)
    KVER=custom-$SUM
    K=$C/kernel/$KVER
    if [ ! -f "$K/version" ]; then
        rm -rf "$K.tmp" && mkdir -p "$K.tmp"
        cp "$UBLK_VM_KERNEL_IMAGE" "$K.tmp/vmlinuz"
        case "$MOD" in
            "") : ;; # ublk_drv built in: the guest finds /dev/ublk-control without insmod
            *.xz) xz -dc "$MOD" > "$K.tmp/ublk_drv.ko" ;;
            *.zst) zstd -qdc "$MOD" > "$K.tmp/ublk_drv.ko" ;;
            *) cp "$MOD" "$K.tmp/ublk_drv.ko" ;;
        esac
        echo "$KVER (${UBLK_VM_KERNEL_IMAGE}${MOD:+, $MOD})" > "$K.tmp/version"
        rm -rf "$K" && mv "$K.tmp" "$K"
    fi
    # the I/O scheduler modules for programs with an elevator (realdev/src/sched.rs), when
    # they are modules: beside the ublk module (iosched/, as this cache keeps Debian's) or where
    # a kernel build tree has them (block/, two levels up from drivers/block/ublk_drv.ko)
    if [ -n "$MOD" ] && [ ! -d "$K/iosched" ]; then
        mkdir -p "$K/iosched.tmp"
        for m in mq-deadline kyber-iosched; do
            for f in "$(dirname "$MOD")/iosched/$m.ko" "$(dirname "$MOD")/../../block/$m".ko{,.xz,.zst}; do
                [ -f "$f" ] || continue
                case "$f" in
                    *.xz) xz -dc "$f" > "$K/iosched.tmp/$m.ko" ;;
                    *.zst) zstd -qdc "$f" > "$K/iosched.tmp/$m.ko" ;;
                    *) cp "$f" "$K/iosched.tmp/$m.ko" ;;
                esac
                break
            done
        done
        if [ "$(ls "$K/iosched.tmp" | wc -l)" = 2 ]; then mv "$K/iosched.tmp" "$K/iosched"
        else rm -rf "$K/iosched.tmp"; log "no I/O scheduler modules beside $MOD: programs with an elevator are refused unless the kernel has them built in"
        fi
    fi
fi
# Each line has a pin file: its pinned kernel (line 1), its Debian suite, apt sources and how
# to find the suite's current kernel. A new line is a new pin file; nothing here lists them.
PINF=$HERE/kernel-$LINE.pin
if [ ! -f "$PINF" ]; then
    known=$(cd "$HERE" && ls kernel-*.pin | sed 's/^kernel-//; s/\.pin$//' | sort -rV | paste -sd' ' | sed 's/ / or /g')
    log "unknown kernel line '$LINE' (UBLK_VM_KERNEL: $known)"; exit 1
fi
pin_field() { sed -n "s/^$1 //p" "$PINF"; }
if [ -z "${UBLK_VM_KERNEL_IMAGE:-}" ]; then
SUITE=$(pin_field suite)
PIN=${UBLK_VM_KVER:-$(head -1 "$PINF" | tr -d ' \n')}
# one private apt view per line (the pin file's sources, e.g. trixie and its security updates)
AD=$C/apt-$LINE
mkdir -p "$AD/lists/partial" "$AD/cache/archives/partial"
APT=(-o "Dir::Etc::SourceList=$AD/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$AD/lists" -o "Dir::Cache=$AD/cache" -o Debug::NoLocking=1)

resolve_current() {
    local m k='[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]'
    m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$m" ] || m=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$m" ] || m=http://deb.debian.org/debian
    pin_field source | while read -r first rest; do
        case "$first" in
            -*) printf 'deb %s %s%s %s\n' "$k" "$m" "$first" "$rest" ;;
            *) printf 'deb %s %s %s %s\n' "$k" "$m" "$first" "$rest" ;;
        esac
    done > "$AD/sources.list"
    apt-get "${APT[@]}" update -qq >&2
    local how pkg
    read -r how pkg <<< "$(pin_field current)"
    case "$how" in
        meta)
            apt-cache "${APT[@]}" depends "$pkg" | awk '/Depends: linux-image-[0-9]/{print $2; exit}' | sed 's/^linux-image-//' ;;
        newest)
            apt-cache "${APT[@]}" search --names-only "^linux-image-${LINE//./\\.}\\.[0-9]+\\+deb[0-9]+[.0-9]*-cloud-amd64\$" |
                awk '{print $1}' | sed 's/^linux-image-//' | sort -V | tail -1 ;;
        *) log "$PINF: unknown 'current' rule '$how'" ;;
    esac
}

# The I/O scheduler modules (mq-deadline, kyber) of the kernel extracted in $1 (version $2)
# into $3/iosched/: programs with an elevator load them (realdev/src/sched.rs).
iosched_from() {
    mkdir -p "$3/iosched"
    for m in mq-deadline kyber-iosched; do
        xz -dc "$1/usr/lib/modules/$2/kernel/block/$m.ko.xz" > "$3/iosched/$m.ko"
    done
}

# A kernel cached before the scheduler modules were: fetch its packages again for them alone.
fetch_iosched() { # $1 = version; fills $C/kernel/$1/iosched or returns 1
    local v=$1 x=$C/debs/xi-$1
    rm -rf "$x" && mkdir -p "$x"
    (cd "$C/debs" && { apt-get "${APT[@]}" download "linux-modules-$v" >&2 2>/dev/null ||
                       apt-get "${APT[@]}" download "linux-image-$v" >&2; }) || return 1
    for deb in "$C"/debs/*"$v"*.deb; do dpkg-deb -x "$deb" "$x"; done
    iosched_from "$x" "$v" "$C/kernel/$1.iosched" && mv "$C/kernel/$1.iosched/iosched" "$C/kernel/$1/iosched"
    rm -rf "$x" "$C/kernel/$1.iosched" "$C"/debs/*"$v"*.deb
}

fetch_kernel() { # $1 = version; fills $C/kernel/$1 or returns 1
    local v=$1 d=$C/kernel/$1 x=$C/debs/x-$1
    rm -rf "$x" && mkdir -p "$x"
    (cd "$C/debs" && { apt-get "${APT[@]}" download "linux-binary-$v" "linux-modules-$v" >&2 2>/dev/null ||
                       apt-get "${APT[@]}" download "linux-image-$v" >&2; }) || return 1
    for deb in "$C"/debs/*"$v"*.deb; do dpkg-deb -x "$deb" "$x"; done
    mkdir -p "$d.tmp"
    if [ -f "$x/usr/lib/modules/$v/vmlinuz" ]; then cp "$x/usr/lib/modules/$v/vmlinuz" "$d.tmp/vmlinuz"
    else cp "$x/boot/vmlinuz-$v" "$d.tmp/vmlinuz"; fi
    xz -dc "$x/usr/lib/modules/$v/kernel/drivers/block/ublk_drv.ko.xz" > "$d.tmp/ublk_drv.ko"
    iosched_from "$x" "$v" "$d.tmp"
    echo "$v" > "$d.tmp/version"
    rm -rf "$d" && mv "$d.tmp" "$d" && rm -rf "$x" "$C"/debs/*"$v"*.deb
}

KVER=""
if [ -f "$C/kernel/$PIN/version" ] && [ "${UBLK_VM_REFRESH:-0}" != 1 ]; then
    KVER=$PIN
else
    log "resolving $SUITE's current $LINE cloud kernel"
    CUR=$(resolve_current)
    [ -n "$CUR" ] || { log "could not resolve a $LINE cloud kernel in $SUITE"; exit 1; }
    if [ "$CUR" != "$PIN" ]; then
        loud "PINNED KERNEL $PIN IS NOT $SUITE's CURRENT ONE ($CUR). Trying the pin, then $CUR; update scripts/vm/kernel-$LINE.pin."
    fi
    if [ -f "$C/kernel/$PIN/version" ]; then KVER=$PIN
    elif fetch_kernel "$PIN"; then KVER=$PIN
    else
        [ "$CUR" != "$PIN" ] && loud "PINNED KERNEL $PIN NOT DOWNLOADABLE: USING $CUR — results are NOT for the pinned version"
        fetch_kernel "$CUR" || { log "download of $CUR failed"; exit 1; }
        KVER=$CUR
    fi
fi
K=$C/kernel/$KVER
if [ ! -d "$K/iosched" ]; then
    [ -f "$AD/sources.list" ] || resolve_current > /dev/null
    fetch_iosched "$KVER" || log "no I/O scheduler modules for $KVER: programs with an elevator will fail to load them"
fi
fi
log "kernel $KVER ($(du -sh "$K" | cut -f1) cached in $K)"

# --- base initramfs (cached per kernel and init script) ----------------------------------
KO=()
[ -f "$K/ublk_drv.ko" ] && KO=("$K/ublk_drv.ko")
IOS=()
for m in "$K"/iosched/*.ko; do [ -f "$m" ] && IOS+=("$m"); done
INIT_SUM=$(cat "$HERE/init" "$BB" "${KO[@]}" "${IOS[@]}" | sha256sum | cut -c1-16)
BASE=$C/base-$INIT_SUM.cpio.gz
if [ ! -f "$BASE" ]; then
    log "building base initramfs"
    R=$(mktemp -d); trap 'rm -rf "$R"' EXIT
    mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,lib,payload}
    cp "$BB" "$R/bin/busybox"
    [ ${#KO[@]} -eq 0 ] || cp "${KO[0]}" "$R/lib/ublk_drv.ko"
    [ ${#IOS[@]} -eq 0 ] || cp "${IOS[@]}" "$R/lib/"
    cp "$HERE/init" "$R/init" && chmod +x "$R/init"
    (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 > "$BASE.tmp") && mv "$BASE.tmp" "$BASE"
    rm -rf "$R"; trap - EXIT
fi

# --- payload: static ublk-realdev + run script -------------------------------------------
BIN=$REPO/target/x86_64-unknown-linux-gnu/release/ublk-realdev
if [ $BUILD = 1 ]; then
    log "building static ublk-realdev"
    (cd "$REPO" && RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release -p ublk-realdev \
        --target x86_64-unknown-linux-gnu) >&2
fi
[ $REALDEV = 0 ] || [ -x "$BIN" ] || { log "no binary at $BIN (drop --no-build)"; exit 1; }
RUN=$(mktemp -d /tmp/ublk-vm.XXXXXX)
trap 'rm -rf "$RUN"' EXIT
mkdir -p "$RUN/p/payload"
[ $REALDEV = 0 ] || cp "$BIN" "$RUN/p/payload/ublk-realdev"
for f in "${FILES[@]}"; do cp "$f" "$RUN/p/payload/"; done
echo "$PAYLOAD_TIMEOUT" > "$RUN/p/payload/timeout"
{
    echo '#!/bin/sh'
    echo 'export PATH=/payload:/bin:/sbin'
    if [ -n "$CMDLINE" ]; then echo "$CMDLINE"; else printf 'exec /payload/ublk-realdev'; printf ' %q' "${ARGS[@]}"; echo; fi
} > "$RUN/p/payload/run"
chmod +x "$RUN/p/payload/run"
(cd "$RUN/p" && find payload | cpio -o -H newc --quiet | gzip -1 > "$RUN/payload.cpio.gz")
cat "$BASE" "$RUN/payload.cpio.gz" > "$RUN/initrd"

# --- accelerator: KVM where a guest really runs on it, else TCG ------------------------------
# /dev/kvm may open and still fail every guest ("KVM internal error", these CI machines): a
# probe boot of the base initramfs (no payload: /init reports and powers off) decides, once per
# host kernel and QEMU (cached).
probe_kvm() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local d p
    d=$(mktemp -d /tmp/ublk-kvm.XXXXXX)
    # in a subshell whose stderr is dropped: an aborting qemu is no message of ours
    (qemu-system-x86_64 -accel kvm -cpu host -m 512 -smp 1 -kernel "$K/vmlinuz" -initrd "$BASE" \
        -append "console=ttyS0 quiet panic=-1" -display none -monitor none \
        -serial "file:$d/c" -serial "file:$d/o" -no-reboot </dev/null >"$d/q" 2>&1; true) 2>/dev/null &
    p=$!
    local ok=1
    for _ in $(seq 1 150); do
        grep -q "@@BOOT" "$d/o" 2>/dev/null && { ok=0; break; }
        grep -q "KVM internal error\|failed to initialize kvm\|Could not access KVM" "$d/q" 2>/dev/null && break
        kill -0 $p 2>/dev/null || break
        sleep 0.1
    done
    pkill -9 -P $p 2>/dev/null || true
    wait $p 2>/dev/null || true
    rm -rf "$d"
    return $ok
}
ACCEL=${UBLK_VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
    PROBE=$C/kvm-probe-$( (uname -r; qemu-system-x86_64 --version | head -1) | sha256sum | cut -c1-16)
    if [ ! -f "$PROBE" ]; then
        if probe_kvm; then echo kvm > "$PROBE"; else echo tcg > "$PROBE"; fi
    fi
    ACCEL=$(cat "$PROBE")
fi
case "$ACCEL" in
    kvm) QACCEL=(-accel kvm -cpu host) ;;
    tcg) QACCEL=(-accel tcg) ;;
    *) log "UBLK_VM_ACCEL must be kvm, tcg or auto, not '$ACCEL'"; exit 1 ;;
esac

# --- boot ----------------------------------------------------------------------------------
log "booting with $ACCEL (VM timeout ${VM_TIMEOUT}s, payload timeout ${PAYLOAD_TIMEOUT}s): ${CMDLINE:-ublk-realdev ${ARGS[*]}}"
T0=$(date +%s.%N)
set +e
timeout -s KILL "$VM_TIMEOUT" qemu-system-x86_64 "${QACCEL[@]}" -m 1024 -smp 2 -kernel "$K/vmlinuz" \
    -initrd "$RUN/initrd" -append "console=ttyS0 quiet loglevel=4 panic=-1 ${UBLK_VM_APPEND:-}" \
    -display none -monitor none -serial "file:$RUN/console.log" -serial "file:$RUN/out.log" -no-reboot \
    </dev/null >"$RUN/qemu.log" 2>&1
QRC=$?
set -e
T1=$(date +%s.%N)
# serial output has CR LF line ends
tr -d '\r' < "$RUN/out.log" > "$RUN/out.txt"
tr -d '\r' < "$RUN/console.log" > "$RUN/console.txt"
cat "$RUN/out.txt"
echo "---- kernel console (tail) ----"
tail -n 40 "$RUN/console.txt"
[ -s "$RUN/qemu.log" ] && { echo "---- qemu ----"; cat "$RUN/qemu.log"; }
if [ -n "${UBLK_VM_KEEP:-}" ]; then mkdir -p "$UBLK_VM_KEEP" && cp "$RUN"/*.txt "$UBLK_VM_KEEP"/; fi
awk -v a="$T0" -v b="$T1" -v q="$QRC" 'BEGIN { printf "[vm] qemu exit %s, VM wall time %.1f s\n", q, b - a }' >&2
RC=$(sed -n 's/^@@EXIT=\([0-9]*\).*/\1/p' "$RUN/out.txt" | tail -1)
if [ -z "$RC" ]; then
    loud "NO EXIT MARKER: the guest crashed, hung or timed out (qemu exit $QRC)"
    exit 2
fi
exit "$RC"
