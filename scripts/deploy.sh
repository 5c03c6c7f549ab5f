#!/usr/bin/env bash
# One command from `wrangler login` to a deployed pipeline. Idempotent: safe to re-run; what
# exists already is kept.
#
#   scripts/deploy.sh --plan free|paid [--dry-run] [--env-file PATH]
#
# 1. Reads your values from deploy.env (git-ignored; start from deploy.env.example) and refuses
#    placeholders (example.com, your-domain, …) in EMAIL_FROM / EMAIL_TO.
# 2. Checks which secrets each worker lacks and asks for them now (hidden input), or takes them
#    from environment variables of the same name (for automation). Never printed, never in argv.
# 3. Creates the queues booking-events and booking-events-dlq if missing, with the message
#    retention the plan allows: 86400 s (24 h) on Workers Free, 1209600 s (14 days) on Paid.
# 4. Creates the D1 database booking-deliveries if missing (its id is recorded in deploy.env) and
#    applies the remote migrations.
# 5. Writes the configs to deploy (.deploy/, git-ignored): the tracked ones plus your values
#    (and, on Free, a consumer batch of 1 message to stay within 10 ms of CPU per invocation).
# 6. Deploys the consumer, sets its missing secrets, then the same for the producer, then the
#    replay worker (POST /admin/replay; ADMIN_TOKEN enables it, see the end of the output).
# 7. Prints the webhook URL to paste into Cal.com, and the replay worker's URL.
#
# --dry-run prints every step and the exact wrangler commands without running any of them.
# WRANGLER (default "npx wrangler") is the wrangler command to run; tests put a stand-in there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

QUEUES=(booking-events booking-events-dlq)
DATABASE=booking-deliveries
CONSUMER_TOML=wrangler.consumer.toml
PRODUCER_TOML=wrangler.producer.toml
REPLAY_TOML=wrangler.replay.toml
# Where the generated configs go (git-ignored); tests point it elsewhere.
OUT_DIR="${DEPLOY_OUT_DIR:-.deploy}"
# Required secrets per worker ("config:NAME"); optional ones are only mentioned at the end.
REQUIRED_SECRETS=("$CONSUMER_TOML:SENDGRID_API_KEY" "$PRODUCER_TOML:CALCOM_WEBHOOK_SECRET")
# Keys deploy.env may hold: consumer vars, and the database id.
CONSUMER_VARS=(EMAIL_FROM EMAIL_TO EMAIL_ROUTES)
SECRET_NAMES=(SENDGRID_API_KEY CALCOM_WEBHOOK_SECRET ADMIN_TOKEN SENTRY_DSN)

usage() {
  cat <<'USAGE'
usage: scripts/deploy.sh --plan free|paid [--dry-run] [--env-file PATH]
  --plan free|paid   your Workers plan: sets the queues' message retention (24 h on Free,
                     14 days on Paid). Asked when run from a terminal.
  --dry-run          print every step and wrangler command; call nothing
  --env-file PATH    your values (default: deploy.env; see deploy.env.example)
environment: WRANGLER (default "npx wrangler"); SENDGRID_API_KEY, CALCOM_WEBHOOK_SECRET
  (used instead of asking, when set)
USAGE
}

# "consumer" for wrangler.consumer.toml.
role() { local r="${1#wrangler.}"; printf '%s' "${r%.toml}"; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

plan=""
dry_run=0
env_file="deploy.env"
while [ $# -gt 0 ]; do
  case "$1" in
    --plan) [ $# -ge 2 ] || { usage >&2; exit 2; }; plan="$2"; shift 2 ;;
    --plan=*) plan="${1#--plan=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    --env-file) [ $# -ge 2 ] || { usage >&2; exit 2; }; env_file="$2"; shift 2 ;;
    --env-file=*) env_file="${1#--env-file=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'deploy: unknown argument: %s\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done

read -r -a wrangler <<< "${WRANGLER:-npx wrangler}"
[ "${#wrangler[@]}" -gt 0 ] || die "WRANGLER is empty"

# The command as it would be typed, for the plan and the log.
show() { local out; printf -v out '%q ' "${wrangler[@]}" "$@"; printf '%s\n' "${out% }"; }
# Runs wrangler (printing the command first); in a dry run only prints it.
wr() {
  if [ "$dry_run" = 1 ]; then
    printf '    [dry-run] %s\n' "$(show "$@")"
    return 0
  fi
  printf '    $ %s\n' "$(show "$@")"
  "${wrangler[@]}" "$@"
}
# Runs a read-only wrangler command quietly, its output in $out (both streams) and status in $rc.
query() {
  rc=0
  out="$("${wrangler[@]}" "$@" 2>&1)" || rc=$?
}

# --- the plan ---------------------------------------------------------------------------------
if [ -z "$plan" ]; then
  if [ -t 0 ]; then
    read -r -p "Your Cloudflare Workers plan, free or paid? " plan
  else
    die "--plan free|paid is required when not run from a terminal (it sets the queues' retention)"
  fi
fi
case "$plan" in
  # Free: 10 ms of CPU per invocation, so one message per consumer invocation (about 4-6 ms,
  # an estimate: docs/OPERATIONS.md "Free and Paid plans"). Paid: 30 s, the tracked batch of 10.
  free|Free|FREE) plan=free; retention=86400; batch_size=1 ;;
  paid|Paid|PAID) plan=paid; retention=1209600; batch_size="" ;;
  *) die "--plan must be free or paid, not '$plan'" ;;
esac

# --- deploy.env -------------------------------------------------------------------------------
declare -A conf=()
problems=()
if [ -f "$env_file" ]; then
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    [[ "$line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]] \
      || die "$env_file line $n: expected KEY=value"
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    for secret in "${SECRET_NAMES[@]}"; do
      [ "$key" != "$secret" ] \
        || die "$env_file line $n: $key is a secret and must not be in a file; deploy.sh asks for it (or reads it from the environment) and stores it with wrangler secret put"
    done
    case " ${CONSUMER_VARS[*]} D1_DATABASE_ID " in
      *" $key "*) ;;
      *) die "$env_file line $n: unknown key $key (known: ${CONSUMER_VARS[*]} D1_DATABASE_ID)" ;;
    esac
    [[ "$value" != *[[:cntrl:]]* ]] || die "$env_file line $n: $key contains a control character"
    conf[$key]="$value"
  done < "$env_file"
else
  problems+=("$env_file not found: cp deploy.env.example deploy.env, then set EMAIL_FROM and EMAIL_TO")
fi

# Why an address list is not deployable yet (empty when it is).
placeholder_reason() {
  local value="$1" addresses domain lower
  [ -n "$value" ] || { echo "is not set"; return; }
  addresses="$(grep -oE '[^<>,;[:space:]]+@[^<>,;[:space:]]+' <<< "$value" || true)"
  [ -n "$addresses" ] || { echo "has no email address"; return; }
  while IFS= read -r address; do
    domain="${address##*@}"
    lower="${domain,,}"
    if [[ "$lower" =~ (^|\.)example\.(com|org|net)$ || "$lower" =~ (^|\.)(example|invalid|test|localhost)$ \
          || "$lower" == *your-domain* || "$lower" == *yourdomain* ]]; then
      echo "still has the placeholder address $address"
      return
    fi
  done <<< "$addresses"
}
for key in EMAIL_FROM EMAIL_TO; do
  reason="$(placeholder_reason "${conf[$key]:-}")"
  case "$key" in
    EMAIL_FROM) want="the verified SendGrid sender" ;;
    *) want="the staff addresses, comma-separated" ;;
  esac
  [ -z "$reason" ] || problems+=("$key in $env_file $reason: set $want")
done
if [ "${#problems[@]}" -gt 0 ]; then
  if [ "$dry_run" = 1 ]; then
    printf 'deploy (dry run): a real run would stop here:\n' >&2
    printf '  - %s\n' "${problems[@]}" >&2
  else
    printf 'deploy: refusing to deploy:\n' >&2
    printf '  - %s\n' "${problems[@]}" >&2
    exit 1
  fi
fi

if [ "$dry_run" = 1 ]; then
  echo "deploy: DRY RUN for the $plan plan: nothing below is run; each command is printed."
else
  echo "deploy: $plan plan, wrangler: $(show)"
fi

# --- secrets: find the missing ones and get their values before changing anything ------------
declare -A secret_value=()
missing_secrets=()
step "secrets: which ones each worker lacks"
for entry in "${REQUIRED_SECRETS[@]}"; do
  toml="${entry%%:*}"
  name="${entry#*:}"
  if [ "$dry_run" = 1 ]; then
    printf '    [dry-run] %s\n' "$(show secret list -c "$toml" --format json)"
    note "if $name is not listed: ask for it (hidden), then after deploying: $(show secret put "$name" -c "$OUT_DIR/$toml") with the value on stdin"
    continue
  fi
  query secret list -c "$toml" --format json
  if [ "$rc" -eq 0 ]; then
    if grep -q "\"name\": *\"$name\"" <<< "$out"; then
      note "$name: set on the worker"
      continue
    fi
  elif ! grep -qi "not found" <<< "$out"; then
    die "could not list the secrets of $toml (are you logged in? npx wrangler login):"$'\n'"$out"
  fi
  missing_secrets+=("$entry")
  if [ -n "${!name:-}" ]; then
    secret_value[$entry]="${!name}"
    note "$name: missing; taken from the environment variable $name"
  elif [ -t 0 ]; then
    value=""
    while [ -z "$value" ]; do
      read -r -s -p "    $name for the $(role "$toml") (input hidden): " value
      echo
    done
    secret_value[$entry]="$value"
    unset value
  else
    die "$name is not set on the worker of $toml: run deploy.sh from a terminal to be asked for it, or set the environment variable $name"
  fi
done

# --- queues -----------------------------------------------------------------------------------
step "queues (retention ${retention} s on the $plan plan)"
for queue in "${QUEUES[@]}"; do
  if [ "$dry_run" = 1 ]; then
    printf '    [dry-run] %s\n' "$(show queues info "$queue")"
    note "if it does not exist:"
    wr queues create "$queue" --message-retention-period-secs "$retention"
    continue
  fi
  query queues info "$queue"
  if [ "$rc" -eq 0 ]; then
    note "$queue exists (retention unchanged; to change it: $(show queues update "$queue" --message-retention-period-secs "$retention"))"
  elif grep -q "does not exist" <<< "$out"; then
    wr queues create "$queue" --message-retention-period-secs "$retention"
  else
    die "could not look up queue $queue (are you logged in? npx wrangler login):"$'\n'"$out"
  fi
done

# --- the D1 ledger ----------------------------------------------------------------------------
step "D1 database $DATABASE"
db_id="${conf[D1_DATABASE_ID]:-}"
# The uuid of the database called $DATABASE (or with id $1) in `d1 list --json`'s output $out.
find_database() {
  node -e '
    const [name, id] = process.argv.slice(1);
    let list;
    try { list = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch (e) { process.exit(2); }
    const db = list.find((d) => (id ? d.uuid === id : d.name === name));
    if (db) console.log(db.uuid);
  ' "$DATABASE" "${1:-}" <<< "$out"
}
if [ "$dry_run" = 1 ]; then
  printf '    [dry-run] %s\n' "$(show d1 list --json)"
  note "if $DATABASE is missing (and D1_DATABASE_ID is not in $env_file):"
  wr d1 create "$DATABASE"
  note "then record its id as D1_DATABASE_ID in $env_file"
  db_id="${db_id:-<id of $DATABASE>}"
else
  query d1 list --json
  [ "$rc" -eq 0 ] || die "could not list D1 databases (are you logged in? npx wrangler login):"$'\n'"$out"
  if [ -n "$db_id" ]; then
    found="$(find_database "$db_id")" || die "unexpected answer from d1 list --json:"$'\n'"$out"
    [ -n "$found" ] || die "D1_DATABASE_ID in $env_file ($db_id) is not a D1 database of this account; remove that line to find or create $DATABASE by name"
    note "$DATABASE ($db_id, from $env_file)"
  else
    db_id="$(find_database)" || die "unexpected answer from d1 list --json:"$'\n'"$out"
    if [ -z "$db_id" ]; then
      wr d1 create "$DATABASE"
      query d1 list --json
      [ "$rc" -eq 0 ] || die "could not list D1 databases:"$'\n'"$out"
      db_id="$(find_database)" || die "unexpected answer from d1 list --json:"$'\n'"$out"
      [ -n "$db_id" ] || die "created $DATABASE but d1 list does not show it"
    else
      note "$DATABASE exists ($db_id)"
    fi
    [[ "$db_id" =~ ^[0-9a-fA-F-]+$ ]] || die "unexpected database id '$db_id'"
    printf '\n# Written by scripts/deploy.sh: the id of the D1 database %s.\nD1_DATABASE_ID=%s\n' \
      "$DATABASE" "$db_id" >> "$env_file"
    note "recorded D1_DATABASE_ID=$db_id in $env_file"
  fi
fi

# --- the configs to deploy: the tracked ones plus the values from deploy.env ------------------
step "configs to deploy in $OUT_DIR/ (git-ignored)${batch_size:+; consumer batch size $batch_size on the $plan plan}"
toml_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}
# Copies a tracked config into $OUT_DIR: absolute paths (main, migrations), the build run from
# the repository, and (consumer) the database id and the vars from deploy.env.
generate() {
  local source="$1" vars="" keys="" key
  if [ "$source" = "$CONSUMER_TOML" ]; then
    for key in "${CONSUMER_VARS[@]}"; do
      [ -n "${conf[$key]+set}" ] || continue
      vars+="$key = $(toml_string "${conf[$key]}")"$'\n'
      keys+="$key "
    done
  fi
  DEPLOY_VARS="$vars" DEPLOY_DB_ID="$db_id" DEPLOY_KEYS="$keys" DEPLOY_ROOT="$(toml_string "$root")" \
    DEPLOY_BATCH="$batch_size" awk '
    BEGIN { n = split(ENVIRON["DEPLOY_KEYS"], k, " "); for (i = 1; i <= n; i++) ours[k[i]] = 1
            root = substr(ENVIRON["DEPLOY_ROOT"], 2, length(ENVIRON["DEPLOY_ROOT"]) - 2) }
    /^\[/ { section = $0 }
    /^main = "/ { print "main = \"" root "/" substr($0, 9); next }
    /^\[build\]$/ { print; print "cwd = \"" root "\""; next }
    section == "[build]" && /^watch_dir = / { next }
    /^migrations_dir = "/ { print "migrations_dir = \"" root "/" substr($0, 19); next }
    /^max_batch_size = / && ENVIRON["DEPLOY_BATCH"] != "" { print "max_batch_size = " ENVIRON["DEPLOY_BATCH"]; next }
    /^database_id = / { print "database_id = \"" ENVIRON["DEPLOY_DB_ID"] "\""; next }
    /^\[vars\]$/ { print; printf "%s", ENVIRON["DEPLOY_VARS"]; next }
    section == "[vars]" && match($0, /^[A-Z_][A-Z0-9_]* = /) {
      if (substr($0, 1, RLENGTH - 3) in ours) next
    }
    { print }
  ' "$source" > "$OUT_DIR/$source"
  note "$OUT_DIR/$source"
}
mkdir -p "$OUT_DIR"
printf '# Generated by scripts/deploy.sh from the tracked configs and deploy.env.\n*\n' > "$OUT_DIR/.gitignore"
generate "$CONSUMER_TOML"
generate "$PRODUCER_TOML"
generate "$REPLAY_TOML"

step "D1 migrations (remote)"
wr d1 migrations apply "$DATABASE" --remote -c "$OUT_DIR/$CONSUMER_TOML" < /dev/null

# --- deploy: the consumer first (it must understand what the producer sends) ------------------
put_missing_secrets() {
  local toml="$1" entry name
  for entry in "${missing_secrets[@]}"; do
    [ "${entry%%:*}" = "$toml" ] || continue
    name="${entry#*:}"
    printf '    $ %s   (value on stdin)\n' "$(show secret put "$name" -c "$OUT_DIR/$toml")"
    printf '%s' "${secret_value[$entry]}" | "${wrangler[@]}" secret put "$name" -c "$OUT_DIR/$toml" \
      || die "wrangler secret put $name failed"
  done
}
deploy_worker() {
  local toml="$1" log
  step "deploy the $(role "$toml")"
  if [ "$dry_run" = 1 ]; then
    wr deploy -c "$OUT_DIR/$toml"
    return
  fi
  log="$(mktemp)"
  printf '    $ %s\n' "$(show deploy -c "$OUT_DIR/$toml")"
  if ! "${wrangler[@]}" deploy -c "$OUT_DIR/$toml" < /dev/null 2>&1 | tee "$log"; then
    rm -f "$log"
    die "deploying $toml failed (see above)"
  fi
  deploy_output="$(cat "$log")"
  rm -f "$log"
  put_missing_secrets "$toml"
}
deploy_output=""
deploy_worker "$CONSUMER_TOML"
deploy_worker "$PRODUCER_TOML"
producer_output="$deploy_output"
deploy_worker "$REPLAY_TOML"
replay_output="$deploy_output"

step "done"
if [ "$dry_run" = 1 ]; then
  note "then: the webhook URL, https://<producer>.<your-subdomain>.workers.dev/api/calcom-webhook, from the producer's deploy output"
  exit 0
fi
# The first workers.dev URL a deploy printed (empty for a worker on routes only).
workers_dev_url() { grep -oE 'https://[A-Za-z0-9.-]+\.workers\.dev' <<< "$1" | head -n 1 || true; }
url="$(workers_dev_url "$producer_output")"
replay_url="$(workers_dev_url "$replay_output")"
if [ -n "$url" ]; then
  echo
  echo "Webhook URL for Cal.com (Settings → Developer → Webhooks → Subscriber URL):"
  echo "  $url/api/calcom-webhook"
  echo
  echo "Check it end to end (sends one labelled test booking, a real email to staff):"
  echo "  CALCOM_WEBHOOK_SECRET=… scripts/smoke.sh $url"
else
  echo "Deployed. wrangler printed no workers.dev URL (routes only?): the webhook is"
  echo "  https://<your route's host>/api/calcom-webhook"
fi
echo
echo "Dead letters go back onto the queue through the replay worker:"
echo "  POST ${replay_url:-https://<replay host>}/admin/replay (docs/OPERATIONS.md)"
echo "Optional secrets: ADMIN_TOKEN (replay worker: enables /admin/replay; producer: the detail of"
echo "/healthz), SENTRY_DSN (each worker):"
echo "  $(show secret put ADMIN_TOKEN -c "$OUT_DIR/$REPLAY_TOML")"
echo "  $(show secret put ADMIN_TOKEN -c "$OUT_DIR/$PRODUCER_TOML")"
