#!/usr/bin/env bash
# Runs the whole pipeline locally: set-up, build, the SendGrid stub and both workers in workerd.
# See README.md ("Run it locally").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
exec cargo run -q -p e2e --bin pipeline
