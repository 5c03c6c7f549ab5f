#!/usr/bin/env bash
# Builds one worker crate (producer, consumer or replay) to <crate>/build/ with worker-build, offline:
# worker-build would otherwise download wasm-bindgen, wasm-opt and esbuild from the internet.
# The tools come from `scripts/setup.sh` (cargo install + npm ci). Paths must be absolute:
# worker-build resolves them from its own working directory and silently falls back to
# downloading on a miss.
set -euo pipefail
crate="${1:?usage: build-worker.sh producer|consumer|replay}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-worker: '$1' not found; run scripts/setup.sh first" >&2; exit 1; }; }
need worker-build
need wasm-bindgen
for tool in wasm-opt esbuild; do
  [ -x "$root/node_modules/.bin/$tool" ] || { echo "build-worker: node_modules/.bin/$tool missing; run 'npm ci' (or scripts/setup.sh)" >&2; exit 1; }
done

export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
cd "$root/$crate"
# The release profile: size first, the core (`shared`) at full speed (Cargo.toml); wasm SIMD on
# (.cargo/config.toml). wasm-opt runs below, once, instead of inside worker-build.
worker-build --release --no-opt

# worker-build keeps the wasm name section (function names for panic stack traces): about a
# fifth of the gzip size, and startup time grows with the module. Strip it; a panic is a bug the
# tests find, and its message still reaches the logs. -O as worker-build would run it, then -Oz
# (size first) saves another 1.2 KB gzip on the producer, 1.4 KB on the consumer; --gufa before
# it (whole-program type and constant flow) another 0.16 KB on the producer.
# --no-inline: the producer's reading of a body it cannot forward (`read_whole`, a rare path)
# stays a function of its own, as Rust left it, instead of being inlined into its one caller, the
# webhook's decision, which V8 then compiles at half the size (docs/PERFORMANCE.md).
features=()
for f in simd mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling; do
  features+=("--enable-$f")
done
# KEEP_NAMES=1 keeps the names, for a profiler (scripts/profile-producer.sh).
names=(--strip-debug --strip-producers)
[ -n "${KEEP_NAMES:-}" ] && names=(-g)
"$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm '--no-inline=*read_whole*' -O --gufa -Oz \
  "${names[@]}" "${features[@]}"

# wasm-bindgen's futures schedule each wake-up with the global `queueMicrotask` when there is
# one, else with `then` on a resolved promise (its own fallback). In workerd `queueMicrotask` is
# a C++ API call that wraps its callback anew each time: 4-5 % of the producer isolate's CPU
# profile (docs/PERFORMANCE.md). The getter through which wasm-bindgen asks whether
# `queueMicrotask` exists answers "no". If wasm-bindgen's output changes shape, the build stops
# here rather than silently losing that.
node -e '
const fs = require("fs");
const file = process.argv[1];
const text = fs.readFileSync(file, "utf8");
const getter = /(__wbg_queueMicrotask_[0-9a-f]+:function\((\w+)\)\{)return \2\.queueMicrotask\}/g;
const found = (text.match(getter) || []).length;
if (found !== 1) {
  console.error(`build-worker: expected one queueMicrotask getter in ${file}, found ${found}`);
  process.exit(1);
}
fs.writeFileSync(file, text.replace(getter, "$1return undefined}"));
' build/index.js
