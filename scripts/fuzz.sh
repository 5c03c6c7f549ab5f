#!/usr/bin/env bash
# Fuzzes the pure core (`shared`) with cargo-fuzz (libFuzzer + AddressSanitizer), then minimizes
# the corpus that the repository keeps.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      # default 60
#
# Targets (fuzz/fuzz_targets/, bodies in fuzz/targets.rs):
#   verify_parse   secret part + body: signature checks, accept_webhook, parse_delivery
#   decode_render  queue body: decode_message(_str), then email::render + sendgrid::build_request
#
# For each target: the hand-made seeds (fuzz/seeds/<target>/) are added to the corpus
# (fuzz/corpus/<target>/), the target runs for the given time, and `cargo fuzz cmin` minimizes the
# corpus. `cargo test -p shared --test fuzz_corpus` replays corpus and seeds on stable Rust.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes this script exit 1; reproduce it
# with `cargo fuzz run <target> fuzz/artifacts/<target>/<file>` (same toolchain set-up as below).
#
# Toolchain: cargo-fuzz needs nightly-only compiler flags (-Zsanitizer, sancov passes).
# - With a nightly toolchain installed (rustup), this runs `cargo +nightly fuzz …`.
# - Otherwise it runs the stable toolchain with RUSTC_BOOTSTRAP=1, which makes stable rustc accept
#   those flags (tested with stable 1.95). This is the usual case: the project's machines have only
#   stable Rust.
# - FUZZ_TOOLCHAIN=stable|nightly|<name> forces one; RUSTC_BOOTSTRAP=1 is set unless it is nightly.
# Other knobs: FUZZ_SANITIZER (address|none|…, default address), FUZZ_TARGETS (default both),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-fork=2").
#
# cargo-fuzz itself is installed from crates.io when missing (`cargo install cargo-fuzz --locked`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]  (a whole number ≥ 1, default 60)" >&2
  exit 2
fi
targets=(${FUZZ_TARGETS:-verify_parse decode_render})
sanitizer="${FUZZ_SANITIZER:-address}"
# shellcheck disable=SC2206
extra_args=(${FUZZ_ARGS:-})

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi

toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
  if command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=nightly
  else
    toolchain=stable
  fi
fi
if [[ "$toolchain" == nightly* ]]; then
  unset RUSTC_BOOTSTRAP
else
  export RUSTC_BOOTSTRAP=1
fi
cargo_fuzz=(cargo "+$toolchain" fuzz)
if ! command -v rustup >/dev/null 2>&1; then
  cargo_fuzz=(cargo fuzz) # no rustup: whatever `cargo` is, with RUSTC_BOOTSTRAP=1 set above
fi
echo "==> $(rustc "+$toolchain" --version 2>/dev/null || rustc --version)" \
  "${RUSTC_BOOTSTRAP:+(RUSTC_BOOTSTRAP=1)}, sanitizer $sanitizer, ${secs}s per target"

# Debug assertions on: integer overflow and other debug checks count as crashes.
build_flags=(--release --debug-assertions --sanitizer "$sanitizer")

mkdir -p target/logs
crashed=()
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  if [ -d "seeds/$t" ]; then
    cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  fi
  log="target/logs/$t.log"
  echo; echo "==> fuzzing $t for ${secs}s (corpus: $(ls "$corpus" | wc -l) files; log: fuzz/$log)"
  status=0
  "${cargo_fuzz[@]}" run "${build_flags[@]}" "$t" "$corpus" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${extra_args[@]}" >"$log" 2>&1 || status=$?
  grep -E '^(stat::|Done [0-9]+ runs)|^#[0-9]+\s+DONE' "$log" || true
  if [ "$status" -ne 0 ]; then
    crashed+=("$t")
    echo "!!! $t failed (exit $status): the input is in fuzz/artifacts/$t/; excerpt of the log:" >&2
    grep -E -A30 'panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY' "$log" | head -60 >&2 || tail -40 "$log" >&2
    ls -l "artifacts/$t" >&2
  fi

  # Kept small for the repository: a greedy set cover of edge coverage (hit counts ignored)
  # keeps a few hundred files where the default merge keeps many more for the same edges.
  echo "==> minimizing fuzz/$corpus"
  "${cargo_fuzz[@]}" cmin "${build_flags[@]}" "$t" "$corpus" -- \
    -set_cover_merge=1 -use_counters=0 >>"$log" 2>&1 ||
    echo "!!! cmin of $t failed: see fuzz/$log" >&2
  echo "    $(ls "$corpus" | wc -l) files, $(du -sk "$corpus" | cut -f1) KiB"
done

if [ "${#crashed[@]}" -gt 0 ]; then
  echo; echo "fuzz: crashes in: ${crashed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo; echo "fuzz: no crashes; check the corpus with: cargo test -p shared --test fuzz_corpus"
