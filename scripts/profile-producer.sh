#!/usr/bin/env bash
# A V8 CPU profile of the producer's isolate under load, with the wasm's function names: where
# a request's CPU goes inside workerd (docs/PERFORMANCE.md, #10). Builds the producer as it
# ships but with its names (KEEP_NAMES=1; build-worker.sh strips them), runs it alone in
# `wrangler dev` through the bench kit, warms it up, then samples it with the inspector's
# Profiler while oha sends the same signed sample, and prints the functions with the most
# samples (self time). The normal build is put back at the end.
#
#   bash ../shared/bench/setup.sh /tmp/calcom-bench   # once: the kit (its run-pair.sh)
#   bash scripts/profile-producer.sh [--kit DIR] [--warmup 3000] [--n 6000] [--out FILE]
#
# Needs oha (cargo install oha --locked) and Python's websocket-client (pip install
# websocket-client). --out keeps the raw profile (a .cpuprofile that Chrome's DevTools opens).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit=/tmp/calcom-bench warmup=3000 n=6000 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kit) kit=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--kit DIR] [--warmup N] [--n N] [--out FILE]" >&2; exit 2 ;;
  esac
done
[ -f "$kit/run-pair.sh" ] || { echo "no bench kit in $kit: bash ../shared/bench/setup.sh $kit" >&2; exit 1; }
command -v oha >/dev/null || { echo "needs oha: cargo install oha --locked" >&2; exit 1; }
python3 -c 'import websocket' 2>/dev/null || { echo "needs websocket-client: pip install websocket-client" >&2; exit 1; }

scratch="$(mktemp -d)"
export BENCH_RUN="$scratch/run" CONFIGS=wrangler.producer.toml
port=8803
cleanup() {
  trap '' PIPE # a reader that stopped early (| head) must not stop the clean-up
  bash "$kit/run-pair.sh" stop profile-producer 2>/dev/null || true
  echo "==> putting the normal build back" >&2 || true
  bash "$root/scripts/build-worker.sh" producer > "$scratch/build.log" 2>&1 ||
    { cat "$scratch/build.log" >&2; echo "the normal build failed: bash scripts/build-worker.sh producer" >&2; }
  rm -rf "$scratch"
}
trap cleanup EXIT INT TERM

echo "==> building the producer with its function names" >&2
KEEP_NAMES=1 bash "$root/scripts/build-worker.sh" producer > "$scratch/build.log" 2>&1 ||
  { cat "$scratch/build.log" >&2; exit 1; }

project="$scratch/project"
mkdir -p "$project"
sed -e "s|^main = \"\(.*\)\"$|main = \"$root/\1\"|" "$root/wrangler.producer.toml" |
  awk '/^\[build\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' > "$project/wrangler.producer.toml"
secret="profile-secret-$(date +%s)"
printf 'CALCOM_WEBHOOK_SECRET="%s"\nLOG_LEVEL="warn"\n' "$secret" > "$project/.dev.vars"
ln -s "$root/node_modules" "$project/node_modules"
body="$root/samples/booking-created.json"
sig=$(openssl dgst -sha256 -hmac "$secret" -r < "$body" | cut -d' ' -f1)
url="http://127.0.0.1:$port/api/calcom-webhook"

bash "$kit/run-pair.sh" start profile-producer "$project" "$port" -- --log-level warn >/dev/null
echo "==> $warmup warm-up requests, then $n profiled (concurrency 4)" >&2
oha -n "$warmup" -c 4 -m POST -H "X-Cal-Signature-256: $sig" -T application/json -D "$body" \
  --no-tui "$url" >/dev/null

# run-pair.sh gives wrangler's inspector the port + 1000.
python3 - "$((port + 1000))" "$url" "$sig" "$body" "$n" "$out" <<'PY'
import collections, json, subprocess, sys, urllib.request
import websocket

inspector, url, sig, body, n, out = sys.argv[1:7]
target = json.load(urllib.request.urlopen(f"http://127.0.0.1:{inspector}/json"))[0]
ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=600)
calls = 0

def call(method, **params):
    global calls
    calls += 1
    ws.send(json.dumps({"id": calls, "method": method, "params": params}))
    while True:
        reply = json.loads(ws.recv())
        if reply.get("id") == calls:
            return reply.get("result", {})

call("Profiler.enable")
call("Profiler.setSamplingInterval", interval=50)
call("Profiler.start")
subprocess.run(["oha", "-n", n, "-c", "4", "-m", "POST", "-H", f"X-Cal-Signature-256: {sig}",
                "-T", "application/json", "-D", body, "--no-tui", url],
               stdout=subprocess.DEVNULL, check=True)
profile = call("Profiler.stop")["profile"]
if out:
    json.dump(profile, open(out, "w"))

samples = collections.Counter()
for node in profile["nodes"]:
    frame = node["callFrame"]
    kind = "wasm" if "wasm" in frame.get("url", "") else ("js" if frame.get("url") else "-")
    samples[(kind, frame["functionName"] or "(anonymous)")] += node.get("hitCount", 0)
busy = sum(v for (kind, name), v in samples.items() if name != "(idle)")
wasm = sum(v for (kind, _), v in samples.items() if kind == "wasm")
print(f"{busy} busy samples of 50 µs over {n} requests ({busy / int(n):.2f} per request); "
      f"wasm {100 * wasm / busy:.1f} % of them")
print("  % busy  kind  function (self samples)")
for (kind, name), v in samples.most_common(45):
    if name != "(idle)":
        print(f"{100 * v / busy:7.2f}  {kind:4}  {name[:110]}")
PY
