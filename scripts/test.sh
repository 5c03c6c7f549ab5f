#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, release build of both workers, then the
# workspace's tests (unit tests of the pure core, the SendGrid stub's own tests, and end-to-end
# tests that run the real workers in workerd through `wrangler dev`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh

echo; echo "==> building the workers (release, wasm)"
for crate in producer consumer; do
  [ -f "$crate/Cargo.toml" ] && grep -q 'crate-type = \["cdylib"\]' "$crate/Cargo.toml" && [ -f "wrangler.$crate.toml" ] \
    && bash scripts/build-worker.sh "$crate"
done

echo; echo "==> cargo test --workspace"
# The end-to-end tests reuse the build above instead of building again.
E2E_SKIP_BUILD=1 cargo test --workspace --locked "$@"
