#!/usr/bin/env bash
# One-time set-up of a fresh machine for building and running the workers. Idempotent: tools
# already at the pinned version are kept. Needs only the Rust and npm registries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

WORKER_BUILD_VERSION="0.8.7"
# wasm-bindgen-cli must match the wasm-bindgen library in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"

step() { printf '\n==> %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "rustup component add $component"
    rustup component add "$component"
  fi
done

if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  step "cargo install worker-build $WORKER_BUILD_VERSION (about 3 minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  # Not --locked: its published lock pins a crate version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci (wrangler, esbuild, binaryen's wasm-opt)"
  npm ci --no-audit --no-fund
fi

# The local delivery ledger that plain `npx wrangler dev -c wrangler.producer.toml -c
# wrangler.consumer.toml` uses (.wrangler/state): without its table the consumer retries every
# booking with "no such table: deliveries". Applying is idempotent ("No migrations to apply!");
# stdin from /dev/null keeps wrangler from asking.
step "local D1 migrations (booking-deliveries)"
if ! out="$(CI=true WRANGLER_SEND_METRICS=false npx wrangler d1 migrations apply booking-deliveries \
    --local -c wrangler.consumer.toml < /dev/null 2>&1)"; then
  printf '%s\n' "$out" >&2
  echo "setup: applying the local D1 migrations failed (see above)" >&2
  exit 1
fi
grep -E "No migrations to apply|commands executed|✅" <<< "$out" || true

echo "setup: ok (worker-build $WORKER_BUILD_VERSION, wasm-bindgen $WASM_BINDGEN_VERSION)"
