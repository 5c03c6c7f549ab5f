#!/usr/bin/env bash
# Prints each worker's wasm size, raw and gzip (-9), against the budget. Builds first unless
# SIZE_SKIP_BUILD=1. Usage: scripts/size.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -z "${SIZE_SKIP_BUILD:-}" ]; then
  for crate in producer consumer; do bash scripts/build-worker.sh "$crate" >/dev/null; done
fi
printf '%-10s %12s %12s %14s\n' worker "raw (KB)" "gzip (KB)" "budget (gzip)"
for crate in producer consumer; do
  wasm="$crate/build/index_bg.wasm"
  [ -f "$wasm" ] || { echo "missing $wasm (build first)" >&2; exit 1; }
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9c "$wasm" | wc -c)
  budget=$([ "$crate" = producer ] && echo 100 || echo 300)
  awk -v c="$crate" -v r="$raw" -v g="$gz" -v b="$budget" 'BEGIN { printf "%-10s %12.1f %12.1f %11s KB\n", c, r / 1024, g / 1024, b }'
done
