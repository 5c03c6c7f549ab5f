#!/usr/bin/env bash
# A local stand-in for the wrangler CLI, for tests of scripts/deploy.sh and scripts/smoke.sh
# (WRANGLER="bash tests/standins/wrangler.sh"). It answers the commands those scripts use the way
# wrangler 4.86 does against an account, keeps that account's state in files, and records every
# invocation.
#
# Environment:
#   STANDIN_STATE  folder for the account's state and the records (required)
#   STANDIN_PLAN   free (default) or paid: free refuses a retention over 86400 s, as Cloudflare does
#   STANDIN_LEDGER_STATE, STANDIN_LEDGER_NOTE, STANDIN_LEDGER_STATUS
#                  the row `d1 execute` answers for a booking (no row when STANDIN_LEDGER_STATE is
#                  unset); STANDIN_LEDGER_STATE=no-table answers as wrangler does without the table,
#                  =not-logged-in as it does without a login;
#                  STANDIN_LEDGER_AFTER=N answers no row for the first N queries;
#                  STANDIN_LEDGER_BUSY=N fails the first N queries with SQLITE_BUSY
#
# Records, in $STANDIN_STATE:
#   calls     one line per invocation: the arguments separated by the unit separator (\x1f)
#   stdin-N   what invocation N (1-based) read on stdin, for `secret put`
set -euo pipefail
state="${STANDIN_STATE:?STANDIN_STATE is required}"
mkdir -p "$state/queues" "$state/d1" "$state/workers"

n=$(( $(wc -l < "$state/calls" 2>/dev/null || echo 0) + 1 ))
( IFS=$'\x1f'; printf '%s\n' "$*" ) >> "$state/calls"

fail() { printf '\xe2\x9c\x98 [ERROR] %s\n' "$*" >&2; exit 1; }
# The value of option $1 in the remaining arguments.
opt() {
  local name="$1"; shift
  while [ $# -gt 0 ]; do
    if [ "$1" = "$name" ]; then printf '%s' "${2:-}"; return; fi
    shift
  done
}
# The worker name in config $1.
worker_name() { sed -n 's/^name = "\(.*\)"$/\1/p' "$1" | head -n 1; }

case "${1:-} ${2:-}" in
  "queues info")
    [ -f "$state/queues/$3" ] \
      || fail "Queue \"$3\" does not exist. To create it, run: wrangler queues create $3"
    printf 'Queue Name: %s\nMessage Retention: %s s\n' "$3" "$(cat "$state/queues/$3")"
    ;;
  "queues create")
    queue="$3"
    retention="$(opt --message-retention-period-secs "$@")"
    retention="${retention:-345600}"
    [ ! -f "$state/queues/$queue" ] || fail "A queue with name \"$queue\" already exists. [code: 11009]"
    if [ "${STANDIN_PLAN:-free}" = free ] && [ "$retention" -gt 86400 ]; then
      fail "message_retention_period must be between 60 and 86400 seconds on the Workers Free plan [code: 100128]"
    fi
    printf '%s' "$retention" > "$state/queues/$queue"
    printf '\xf0\x9f\x8c\x80 Creating queue '"'"'%s'"'"'\nCreated queue '"'"'%s'"'"'\n' "$queue" "$queue"
    ;;
  "d1 list")
    printf '['
    sep=""
    for f in "$state"/d1/*; do
      [ -e "$f" ] || continue
      printf '%s{"uuid":"%s","name":"%s","version":"production"}' "$sep" "$(cat "$f")" "$(basename "$f")"
      sep=","
    done
    printf ']\n'
    ;;
  "d1 create")
    [ ! -f "$state/d1/$3" ] || fail "A database with that name already exists [code: 7502]"
    count=$(find "$state/d1" -type f | wc -l)
    uuid="$(printf '5d4c3b2a-1111-4222-8333-%012d' $((count + 1)))"
    printf '%s' "$uuid" > "$state/d1/$3"
    printf "Successfully created DB '%s'\n\n[[d1_databases]]\nbinding = \"DB\"\ndatabase_name = \"%s\"\ndatabase_id = \"%s\"\n" "$3" "$3" "$uuid"
    ;;
  "d1 migrations")
    config="$(opt -c "$@")"
    id="$(sed -n 's/^database_id = "\(.*\)"$/\1/p' "$config")"
    if [ ! -f "$state/d1/$4" ] || [ "$(cat "$state/d1/$4")" != "$id" ]; then
      fail "Couldn't find a D1 DB with the name or binding '$4' in your wrangler config (database_id '$id')"
    fi
    echo "Migrations to be applied: 0001_deliveries.sql"
    echo "0001_deliveries.sql ✅"
    ;;
  "d1 execute")
    ledger="${STANDIN_LEDGER_STATE:-}"
    after="${STANDIN_LEDGER_AFTER:-0}"
    queries=$(grep -c $'^d1\x1fexecute' "$state/calls" || true)
    if [ "$queries" -le "${STANDIN_LEDGER_BUSY:-0}" ]; then
      fail "internal error; D1_ERROR: database is locked: SQLITE_BUSY"
    elif [ "$ledger" = not-logged-in ]; then
      fail "Not logged in. Please run \`wrangler login\`."
    elif [ "$ledger" = no-table ]; then
      fail "no such table: deliveries: SQLITE_ERROR [code: 7500]"
    elif [ -z "$ledger" ] || [ "$queries" -le "$after" ]; then
      printf '[{"results":[],"success":true,"meta":{}}]\n'
    else
      status="${STANDIN_LEDGER_STATUS:-null}"
      note="${STANDIN_LEDGER_NOTE:-}"
      printf '[{"results":[{"state":"%s","note":%s,"last_status":%s}],"success":true,"meta":{}}]\n' \
        "$ledger" "$( [ -n "$note" ] && printf '"%s"' "$note" || printf null)" "$status"
    fi
    ;;
  "secret list")
    config="$(opt -c "$@")"
    worker="$(worker_name "$config")"
    [ -d "$state/workers/$worker" ] || fail "Worker \"$worker\" not found.

If this is a new Worker, run \`wrangler deploy\` first to create it.
Otherwise, check that the Worker name is correct and you're logged into the right account."
    printf '['
    sep=""
    for f in "$state/workers/$worker"/secret-*; do
      [ -e "$f" ] || continue
      printf '%s\n  {\n    "name": "%s",\n    "type": "secret_text"\n  }' "$sep" "${f##*/secret-}"
      sep=","
    done
    printf '\n]\n'
    ;;
  "secret put")
    config="$(opt -c "$@")"
    worker="$(worker_name "$config")"
    [ ! -t 0 ] || fail "the stand-in reads secrets from stdin only"
    cat > "$state/stdin-$n"
    [ -d "$state/workers/$worker" ] || fail "Worker \"$worker\" not found (deploy it first)"
    cp "$state/stdin-$n" "$state/workers/$worker/secret-$3"
    printf '\xf0\x9f\x8c\x80 Creating the secret for the Worker "%s"\n\xe2\x9c\xa8 Success! Uploaded secret %s\n' "$worker" "$3"
    ;;
  "deploy -c")
    config="$3"
    worker="$(worker_name "$config")"
    [ -n "$worker" ] || fail "no name in $config"
    mkdir -p "$state/workers/$worker"
    cp "$config" "$state/workers/$worker/deployed.toml"
    printf 'Total Upload: 300.00 KiB / gzip: 100.00 KiB\nUploaded %s (3.10 sec)\n' "$worker"
    if grep -q '^\[\[queues.consumers\]\]' "$config"; then
      printf 'Deployed %s triggers (1.20 sec)\n  Consumer for booking-events\n' "$worker"
    else
      printf 'Deployed %s triggers (0.90 sec)\n  https://%s.standin-sub.workers.dev\n' "$worker" "$worker"
    fi
    printf 'Current Version ID: 0f1e2d3c-0000-4000-8000-000000000000\n'
    ;;
  *)
    fail "the stand-in does not know: wrangler $*"
    ;;
esac
