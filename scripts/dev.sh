#!/usr/bin/env bash
# Runs the whole pipeline locally: set-up, build, the SendGrid stub and both workers in workerd.
# See README.md ("Two commands").
#
# Ctrl-C (SIGINT to the terminal's process group), SIGTERM or SIGHUP to this script stop
# everything it started: the script becomes the pipeline program (exec), which stops wrangler's
# process group (wrangler and its workerd processes) and its in-process SendGrid stub, then exits.
#
# Environment:
#   DEV_PORT=8787            the webhook's port (http://127.0.0.1:$DEV_PORT/api/calcom-webhook)
#   DEV_STUB_PORT=8025       the SendGrid stub's port (its inbox at http://127.0.0.1:$DEV_STUB_PORT/)
#   DEV_SKIP_SETUP=1         skip scripts/setup.sh (tools already installed)
#   DEV_PIPELINE_BIN=PATH    run this already built pipeline binary instead of `cargo run`
#   E2E_SKIP_BUILD=1         do not rebuild the workers (producer/, consumer/, replay/ build/ are current)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

port="${DEV_PORT:-8787}"
stub_port="${DEV_STUB_PORT:-8025}"
for p in "$port" "$stub_port"; do
  if ! [[ "$p" =~ ^[0-9]+$ ]] || (( p < 1 || p > 65535 )); then
    echo "dev.sh: not a port number: '$p' (DEV_PORT / DEV_STUB_PORT)" >&2
    exit 2
  fi
done

if [ "${DEV_SKIP_SETUP:-}" != 1 ]; then
  bash scripts/setup.sh
fi

if [ -n "${DEV_PIPELINE_BIN:-}" ]; then
  exec "$DEV_PIPELINE_BIN" --port "$port" --stub-port "$stub_port"
fi
# cargo run replaces itself with the program (exec) on Unix: signals reach it directly.
exec cargo run -q -p e2e --bin pipeline -- --port "$port" --stub-port "$stub_port"
