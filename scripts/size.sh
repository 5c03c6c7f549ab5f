#!/usr/bin/env bash
# Prints each worker's wasm size, raw and gzip (-9), against its budget (docs/PERFORMANCE.md),
# and exits 1 when a worker is over it. Builds first unless SIZE_SKIP_BUILD=1.
# Usage: scripts/size.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -z "${SIZE_SKIP_BUILD:-}" ]; then
  for crate in producer consumer replay; do bash scripts/build-worker.sh "$crate" >/dev/null 2>&1; done
fi
printf '%-10s %10s %10s %15s\n' worker "raw (KB)" "gzip (KB)" "budget (gzip)"
over=0
for crate in producer consumer replay; do
  wasm="$crate/build/index_bg.wasm"
  [ -f "$wasm" ] || { echo "missing $wasm (build first)" >&2; exit 1; }
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9c "$wasm" | wc -c)
  # The replay worker is the producer's kind (a small HTTP worker), with the same budget.
  budget_kb=$([ "$crate" = consumer ] && echo 300 || echo 100)
  verdict=$([ "$gz" -le $((budget_kb * 1024)) ] && echo within || echo OVER)
  [ "$verdict" = within ] || over=1
  awk -v c="$crate" -v r="$raw" -v g="$gz" -v b="$budget_kb" -v v="$verdict" \
    'BEGIN { printf "%-10s %10.1f %10.1f %8s KB %s\n", c, r / 1024, g / 1024, b, v }'
done
exit "$over"
