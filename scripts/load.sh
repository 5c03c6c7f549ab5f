#!/usr/bin/env bash
# Load benchmark of the local pipeline (see docs/LOAD.md): set-up, release build of both workers,
# then `cargo run --release -p e2e --bin load -- "$@"`, e.g.
#   bash scripts/load.sh --n 2000 --concurrency 32 --fail-percent 20 --seed 42
# A benchmark, not a test: it exits non-zero only when a booking was lost (no email and no dead
# letter at the SendGrid stub) or the pipeline did not start.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh

echo; echo "==> building the workers (release, wasm)"
for crate in producer consumer; do
  bash scripts/build-worker.sh "$crate"
done

echo; echo "==> cargo run --release -p e2e --bin load -- $*"
# The harness reuses the build above instead of building again.
E2E_SKIP_BUILD=1 exec cargo run --release --locked -q -p e2e --bin load -- "$@"
