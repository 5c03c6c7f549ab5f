#!/usr/bin/env bash
# Proves a deployed pipeline end to end: sends one signed, clearly labelled test booking to the
# producer (a real email reaches the staff: "SMOKE TEST" in the title), then reads the delivery
# ledger until the consumer has dealt with it, and reports one of:
#   sent                       SendGrid accepted the email            (exit 0)
#   retrying: <reason>         a failure the consumer retries          (exit 1)
#   dead-lettered: <reason>    given up, in booking-events-dlq         (exit 1)
# A configuration failure (bad SendGrid key, unverified sender, wrong base URL) and a missing
# ledger table are named as soon as the ledger shows them, within a minute.
#
#   CALCOM_WEBHOOK_SECRET=… scripts/smoke.sh https://<producer>.<subdomain>.workers.dev
#
# Options:
#   --local              read the ledger of a local `wrangler dev` (default: --remote)
#   --config PATH        the consumer's wrangler config (default: .deploy/wrangler.consumer.toml
#                        written by scripts/deploy.sh; with --local: wrangler.consumer.toml)
#   --persist-to DIR     with --local: wrangler's local state folder, when not the default
#   --timeout SECS       how long to wait for an outcome (default 90)
#   --uid UID            the booking uid to use (default smoke-<unix time>; [A-Za-z0-9_-] only)
# Environment: CALCOM_WEBHOOK_SECRET (required; the first secret of a list is used; never
# printed), WRANGLER (default "npx wrangler"), SMOKE_POLL_SECS (default 5).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
  echo "usage: CALCOM_WEBHOOK_SECRET=… scripts/smoke.sh URL [--local] [--config PATH] [--persist-to DIR] [--timeout SECS] [--uid UID]" >&2
  exit 2
}
die() { printf 'smoke: %s\n' "$*" >&2; exit 1; }

url=""
where=--remote
config=""
persist_to=""
timeout=90
uid="smoke-$(date +%s)"
while [ $# -gt 0 ]; do
  case "$1" in
    --local) where=--local; shift ;;
    --remote) where=--remote; shift ;;
    --config) [ $# -ge 2 ] || usage; config="$2"; shift 2 ;;
    --persist-to) [ $# -ge 2 ] || usage; persist_to="$2"; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; timeout="$2"; shift 2 ;;
    --uid) [ $# -ge 2 ] || usage; uid="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) printf 'smoke: unknown option: %s\n' "$1" >&2; usage ;;
    *) [ -z "$url" ] || usage; url="$1"; shift ;;
  esac
done
[ -n "$url" ] || usage
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout: not a number of seconds: $timeout"
poll="${SMOKE_POLL_SECS:-5}"
[[ "$poll" =~ ^[1-9][0-9]*$ ]] || die "SMOKE_POLL_SECS: not a number of seconds: $poll"
# The uid goes into SQL below: only a safe charset, checked here.
[[ "$uid" =~ ^[A-Za-z0-9_-]{1,100}$ ]] || die "--uid: only letters, digits, '-' and '_' (at most 100): $uid"
[ -n "${CALCOM_WEBHOOK_SECRET:-}" ] \
  || die "set CALCOM_WEBHOOK_SECRET to the producer's webhook secret (the one typed in Cal.com)"

if [ -z "$config" ]; then
  if [ "$where" = --local ]; then config=wrangler.consumer.toml; else config=.deploy/wrangler.consumer.toml; fi
fi
[ -f "$config" ] || die "no consumer config at $config: run scripts/deploy.sh first (it writes .deploy/wrangler.consumer.toml with your database id), or pass --config"
read -r -a wrangler <<< "${WRANGLER:-npx wrangler}"
ledger_args=(d1 execute booking-deliveries "$where" --json -c "$config")
[ -z "$persist_to" ] || ledger_args+=(--persist-to "$persist_to")
migrate_hint="npx wrangler d1 migrations apply booking-deliveries $where -c $config"

# The webhook: URL may be the producer's base URL or the webhook itself.
base="${url%/}"
base="${base%/api/calcom-webhook}"
webhook="$base/api/calcom-webhook"

# 1. Send the labelled booking, signed as Cal.com signs (HMAC-SHA256 of the exact body, hex).
#    The secret reaches node through its environment, never its arguments.
echo "smoke: sending test booking $uid to $webhook"
answer="$(SMOKE_URL="$webhook" SMOKE_UID="$uid" node - <<'JS'
const crypto = require("crypto");
const fs = require("fs");
const body = JSON.parse(fs.readFileSync("samples/booking-created.json", "utf8"));
const now = new Date();
const start = new Date(Math.ceil(now.getTime() / 3600e3) * 3600e3 + 86400e3);
const p = body.payload;
body.createdAt = now.toISOString();
p.uid = process.env.SMOKE_UID;
p.bookingId = Math.floor(now.getTime() / 1000);
p.title = p.eventTitle = "SMOKE TEST: please ignore (scripts/smoke.sh)";
p.additionalNotes = "Sent by scripts/smoke.sh to check the deployed pipeline. Not a real booking.";
p.startTime = start.toISOString().replace(/\.\d{3}Z$/, "Z");
p.endTime = new Date(start.getTime() + 30 * 60e3).toISOString().replace(/\.\d{3}Z$/, "Z");
p.attendees = [{ ...p.attendees[0], name: "Smoke Test", firstName: "Smoke", lastName: "Test",
                 email: "smoke-test@example.com", phoneNumber: null }];
if (p.responses && p.responses.name) p.responses.name.value = "Smoke Test";
if (p.responses && p.responses.email) p.responses.email.value = "smoke-test@example.com";
const raw = JSON.stringify(body);
const secret = process.env.CALCOM_WEBHOOK_SECRET.split(/[,\s]+/).find((s) => s.length > 0) || "";
const signature = crypto.createHmac("sha256", secret).update(raw, "utf8").digest("hex");
fetch(process.env.SMOKE_URL, {
  method: "POST",
  redirect: "manual",
  headers: { "Content-Type": "application/json", "X-Cal-Signature-256": signature },
  body: raw,
  signal: AbortSignal.timeout(30000),
}).then(async (r) => console.log(`${r.status} ${(await r.text()).slice(0, 500)}`),
        (e) => console.log(`000 ${e.cause ? e.cause.message || e.cause.code : e.message}`));
JS
)"
status="${answer%% *}"
reply="${answer#* }"
case "$status" in
  202) echo "smoke: the producer queued it: $reply" ;;
  000) die "could not reach $webhook: $reply" ;;
  401) die "the producer refused the signature ($status $reply): CALCOM_WEBHOOK_SECRET here differs from the producer's (npx wrangler secret put CALCOM_WEBHOOK_SECRET -c .deploy/wrangler.producer.toml)" ;;
  500) die "the producer is not configured ($status $reply): set its CALCOM_WEBHOOK_SECRET (scripts/deploy.sh asks for it)" ;;
  *) die "the producer did not queue the booking: $status $reply" ;;
esac

# 2. Read the ledger until the outcome is known.
# Prints "kind<TAB>reason" for the ledger's rows of this booking: kind is sent, dead, config
# (401/403/404/3xx: heals only when the operator fixes a setting, so reported at once), retrying
# (failed or unknown otherwise: may still heal before the deadline), sending or none.
classify() {
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  node -e '
    let rows;
    try { rows = JSON.parse(require("fs").readFileSync(0, "utf8"))[0].results; }
    catch (e) { console.log("error\tunexpected answer from wrangler d1 execute"); process.exit(0); }
    const reason = (r) => {
      const parts = [];
      if (r.note) parts.push(r.note);
      if (r.last_status !== null && r.last_status !== undefined) parts.push(`last SendGrid status ${r.last_status}`);
      return parts.join("; ") || "no reason recorded";
    };
    const pick = (s) => rows.find((r) => r.state === s);
    let r;
    if (rows.length === 0) console.log("none\t");
    else if ((r = pick("sent"))) console.log("sent\t" + reason(r));
    else if ((r = pick("dead"))) console.log("dead\t" + reason(r));
    else if ((r = rows.find((x) => (x.state === "failed" || x.state === "unknown")
                               && ([401, 403, 404].includes(x.last_status)
                                   || (x.last_status >= 300 && x.last_status < 400)))))
      console.log("config\t" + reason(r));
    else if ((r = rows.find((x) => x.state === "failed" || x.state === "unknown")))
      console.log("retrying\t" + (r.state === "unknown" ? "outcome unknown: " : "") + reason(r));
    else console.log("sending\t");
  '
}

sql="SELECT state, note, last_status FROM deliveries WHERE booking_uid = '$uid'"
deadline=$(( $(date +%s) + timeout ))
last=""
while :; do
  rc=0
  out="$("${wrangler[@]}" "${ledger_args[@]}" --command "$sql" < /dev/null 2>&1)" || rc=$?
  if grep -q "no such table: deliveries" <<< "$out"; then
    echo "smoke: the ledger has no table 'deliveries' (migrations not applied). Fix:" >&2
    echo "  $migrate_hint" >&2
    echo "then replay or resend (the consumer retries the booking meanwhile)." >&2
    exit 1
  fi
  read_error=""
  if [ "$rc" -ne 0 ]; then
    read_error="reading the ledger failed ($(printf '%q ' "${wrangler[@]}" "${ledger_args[@]}")--command …):"$'\n'"$out"
    # A busy database (local: wrangler dev writing at the same moment) or a passing API or
    # network failure is read again at the next poll; anything else (not logged in, no such
    # database) is reported at once.
    grep -qiE "SQLITE_BUSY|database is locked|internal error|timed out|ETIMEDOUT|ECONNRESET|fetch failed|\b5[0-9][0-9]\b" <<< "$out" \
      || die "$read_error"
    kind=unreadable
    reason=""
  else
    # wrangler may print a banner before the JSON: keep from the first "[".
    json="[${out#*[}"
    result="$(classify <<< "$json")"
    kind="${result%%$'\t'*}"
    reason="${result#*$'\t'}"
  fi
  case "$kind" in
    sent) echo "smoke result: sent"; exit 0 ;;
    dead) echo "smoke result: dead-lettered: $reason"; exit 1 ;;
    config) echo "smoke result: retrying: $reason"
            echo "smoke: the consumer cannot send: fix the setting named above (see docs/OPERATIONS.md), then replay" >&2
            exit 1 ;;
    error) die "$reason:"$'\n'"$out" ;;
  esac
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    case "$kind" in
      unreadable) die "$read_error" ;;
      retrying) echo "smoke result: retrying: $reason"; exit 1 ;;
      sending) echo "smoke result: retrying: still sending after ${timeout} s (SendGrid slow or the consumer stuck)"; exit 1 ;;
      *) echo "smoke result: retrying: nothing in the ledger after ${timeout} s: the consumer has not taken the message (deployed? npx wrangler tail calcom-booking-consumer)"; exit 1 ;;
    esac
  fi
  if [ "$kind" != "$last" ]; then
    case "$kind" in
      none) echo "smoke: queued, not yet in the ledger; waiting (up to ${timeout} s)" ;;
      sending) echo "smoke: the consumer is sending it" ;;
      retrying) echo "smoke: a failure the consumer retries: $reason; waiting" ;;
      unreadable) echo "smoke: the ledger could not be read this time; reading it again" ;;
    esac
    last="$kind"
  fi
  sleep "$poll"
done
