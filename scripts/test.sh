#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, release build of the three workers, then the
# workspace's tests (unit tests of the pure core, the SendGrid stub's own tests, and end-to-end
# tests that run the real workers in workerd through `wrangler dev`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh

echo; echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo; echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo; echo "==> building the workers (release, wasm)"
for crate in producer consumer replay; do
  bash scripts/build-worker.sh "$crate"
done

echo; echo "==> wasm size against the budget"
SIZE_SKIP_BUILD=1 bash scripts/size.sh

echo; echo "==> cargo test --workspace"
# The end-to-end tests reuse the build above instead of building again.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
E2E_SKIP_BUILD=1 cargo test --workspace --locked "$@" 2>&1 | tee "$out" || status=$?
# One closing line for the whole run (cargo's own last line is the doc-tests' count).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nworkspace tests: %d passed, %d failed\n", p, f }' "$out"
exit "$status"
