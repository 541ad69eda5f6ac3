#!/usr/bin/env bash
# The teaching aid's CI checks (needs graphviz, chromium, chromium-driver and
# python3-selenium from Debian; .ci/run installs them):
#  1. the guide's diagrams, regenerated into a temp folder, equal the committed
#     docs/img (DOT and SVG);
#  2. the trace viewer, in headless Chromium: a bug-zoo trace (B-8) and a
#     lasso (O-7) are opened, stepped to the end, and the violation / hang
#     text must be shown, and the page's folded sequence chart (the SVG of
#     `ublksim chart`) must unfold with a lane per acting actor, a row per
#     step and the ending marked; screenshots go to out/ci-artefacts/;
#  3. the diff picture (docs/diff) is regenerated equal and shown in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/ublksim
cargo build --release --locked -q -p ublk-checker
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== diagrams: regenerate and compare with docs/img"
"$bin" graph --all --out "$tmp/img" >/dev/null
if ! diff -r "$tmp/img" docs/img; then
  echo "docs/img is stale: run  cargo run --release -- graph --all --out docs/img" >&2
  exit 1
fi

echo "== viewer in headless Chromium"
art=out/ci-artefacts
mkdir -p "$art"
# check exits 1 on FAIL (B-8 seeded); the trace is what we want
"$bin" check --with B-8 -s register-vs-server-exit --out "$tmp/traces" >/dev/null || true
"$bin" check -s exit-before-unregister --out "$tmp/traces" >/dev/null
"$bin" view "$tmp/traces/K72+B-8-register-vs-server-exit.jsonl" -o "$art/viewer-b8.html"
"$bin" view "$tmp/traces/K72-exit-before-unregister.jsonl" -o "$art/viewer-o7.html"
/usr/bin/python3 scripts/viewer-test.py "$art/viewer-b8.html" "VIOLATION S4" "$art/viewer.png"
/usr/bin/python3 scripts/viewer-test.py "$art/viewer-o7.html" "HANG L2" "$art/viewer-lasso.png"

echo "== diff picture: regenerate and compare with docs/diff, then open it in Chromium"
"$bin" diff --base PRE --patch POST -s daemon-unreg-after-commit \
  --dot "$tmp/diff.dot" --svg "$tmp/diff.svg" >/dev/null
for f in dot svg; do
  cmp "$tmp/diff.$f" "docs/diff/daemon-unreg-after-commit-PRE-POST.$f" || {
    echo "docs/diff is stale: run  cargo run --release -- diff --base PRE --patch POST -s daemon-unreg-after-commit --dot docs/diff/daemon-unreg-after-commit-PRE-POST.dot --svg docs/diff/daemon-unreg-after-commit-PRE-POST.svg" >&2
    exit 1
  }
done
/usr/bin/python3 scripts/viewer-test.py --diff-svg "$tmp/diff.svg" "$art/diff.png"
