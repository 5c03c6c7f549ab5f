#!/usr/bin/env node
// Drains the dead-letter queue through Cloudflare's HTTP pull API into the replay worker's
// POST /admin/replay, and acks only what it accepted. Node 18+ (global fetch), no
// dependencies. See docs/OPERATIONS.md, "Inspect and replay the dead-letter queue".
//
//   node scripts/dlq-drain.mjs [--dry-run] [--max N] [--batch-size N] [--visibility-timeout-secs S]
//
// Environment:
//   CLOUDFLARE_ACCOUNT_ID   the account id
//   CLOUDFLARE_API_TOKEN    an API token with Queues Edit (pulling and acking both write)
//   DLQ_ID                  the id (not the name) of booking-events-dlq:
//                           npx wrangler queues info booking-events-dlq
//   REPLAY_URL              where the replay worker answers (wrangler.replay.toml), e.g.
//                           https://calcom-booking-replay.<subdomain>.workers.dev
//   ADMIN_TOKEN             the replay worker's ADMIN_TOKEN secret (not needed with --dry-run)
//   CLOUDFLARE_API_BASE     default https://api.cloudflare.com/client/v4 (tests point it at a stub)
//
// Order of work, per batch: pull (the batch is hidden for the visibility timeout) → replay →
// ack what was replayed. A crash between replay and ack leaves those messages in the DLQ, and
// replaying them again later sends nothing twice (the consumer's delivery ledger). A message the
// replay worker rejects is not acked: it stays hidden until its lease runs out, then is back in the DLQ
// for a person to look at. --dry-run lists the messages and hands them straight back.
//
// Exit status: 0 all pulled messages replayed (or listed), 1 an error (nothing of the failed
// batch acked; messages the queue refused are handed back), 2 bad arguments, 3 some messages were
// rejected and left in the DLQ.

const USAGE =
  "usage: node scripts/dlq-drain.mjs [--dry-run] [--max N] [--batch-size 1..100] [--visibility-timeout-secs S]";

function parseArgs(argv) {
  const options = { dryRun: false, max: Infinity, batchSize: 50, visibilitySecs: 600 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const number = (min, max) => {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < min || value > max) {
        fail(2, `${flag} needs a whole number from ${min} to ${max}\n${USAGE}`);
      }
      return value;
    };
    if (flag === "--dry-run") options.dryRun = true;
    else if (flag === "--max") options.max = number(1, 1_000_000);
    else if (flag === "--batch-size") options.batchSize = number(1, 100);
    // The pull API allows leases of up to 12 hours.
    else if (flag === "--visibility-timeout-secs") options.visibilitySecs = number(1, 43_200);
    else if (flag === "--help" || flag === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else fail(2, `unknown argument ${flag}\n${USAGE}`);
  }
  return options;
}

function fail(status, message) {
  console.error(`dlq-drain: ${message}`);
  process.exit(status);
}

function environment(dryRun) {
  const names = ["CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "DLQ_ID"];
  if (!dryRun) names.push("REPLAY_URL", "ADMIN_TOKEN");
  const missing = names.filter((name) => !process.env[name]);
  // The producer served /admin/replay before the replay worker did: say where it went.
  const moved =
    missing.includes("REPLAY_URL") && process.env.PRODUCER_URL
      ? "; PRODUCER_URL is no longer used: /admin/replay is the replay worker's (wrangler.replay.toml)"
      : "";
  if (missing.length > 0) fail(2, `set ${missing.join(", ")} (see the top of this script)${moved}`);
  const base = (process.env.CLOUDFLARE_API_BASE || "https://api.cloudflare.com/client/v4").replace(/\/+$/, "");
  return {
    queueUrl: `${base}/accounts/${process.env.CLOUDFLARE_ACCOUNT_ID}/queues/${process.env.DLQ_ID}/messages`,
    apiToken: process.env.CLOUDFLARE_API_TOKEN,
    replayUrl: `${(process.env.REPLAY_URL || "").replace(/\/+$/, "")}/admin/replay`,
    adminToken: process.env.ADMIN_TOKEN,
  };
}

/// POSTs JSON and reads the answer; never prints a token.
async function postJson(url, token, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    return { status: 0, json: null, text: `cannot reach ${url}: ${error.cause?.message ?? error.message}` };
  }
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: reported with its status below
  }
  return { status: response.status, json, text };
}

/// The Cloudflare API's own error list, or the raw answer.
function cloudflareError(answer) {
  const errors = answer.json?.errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors.map((e) => `${e.message ?? "error"} (code ${e.code ?? "?"})`).join("; ");
  }
  return answer.text.slice(0, 300) || "no answer";
}

async function pull(env, options, batchSize) {
  const answer = await postJson(`${env.queueUrl}/pull`, env.apiToken, {
    batch_size: batchSize,
    visibility_timeout_ms: options.visibilitySecs * 1000,
  });
  if (answer.status !== 200 || answer.json?.success !== true) {
    throw new Error(`pull failed with HTTP ${answer.status}: ${cloudflareError(answer)}`);
  }
  return answer.json.result?.messages ?? [];
}

async function ack(env, acks, retries) {
  if (acks.length === 0 && retries.length === 0) return;
  const answer = await postJson(`${env.queueUrl}/ack`, env.apiToken, {
    acks: acks.map((m) => ({ lease_id: m.lease_id })),
    retries: retries.map((m) => ({ lease_id: m.lease_id })),
  });
  if (answer.status !== 200 || answer.json?.success !== true) {
    throw new Error(`ack failed with HTTP ${answer.status}: ${cloudflareError(answer)}`);
  }
}

/// What a person needs to decide about a dead letter, without its personal data.
function describe(record) {
  let message = null;
  try {
    const type = record.metadata?.["CF-Content-Type"];
    const text = type === "text" ? record.body : Buffer.from(record.body, "base64").toString("utf8");
    message = JSON.parse(text);
  } catch {
    // shown as undecodable below
  }
  const original = message?.original ?? message;
  const reason = message?.dead_letter?.reason ?? (message?.dead_letter ? "?" : "moved by the queue (no reason attached)");
  const age = record.timestamp_ms ? `${Math.round((Date.now() - record.timestamp_ms) / 3_600_000)} h old` : "age ?";
  if (!original || typeof original !== "object") {
    return `${record.id}  attempts ${record.attempts}  ${age}  undecodable body`;
  }
  const { trigger, uid, key } = bookingOf(original);
  return `${record.id}  attempts ${record.attempts}  ${age}  ${trigger}  booking ${uid}  key ${key}  reason: ${reason}`;
}

/// Which booking a message is about: a booking message (v 1) names it; a forwarded delivery
/// (v 2, Cal.com's body as a string, which the queue moved here without the consumer's wrapper)
/// carries it in its delivery, and its key is the consumer's to compute.
function bookingOf(original) {
  if (original.v === 2 && typeof original.delivery === "string") {
    let delivery = null;
    try {
      delivery = JSON.parse(original.delivery);
    } catch {
      // named as unreadable below
    }
    return {
      trigger: delivery?.triggerEvent ?? "?",
      uid: delivery?.payload?.uid ?? "?",
      key: delivery ? "(the consumer computes it)" : "? (unreadable delivery)",
    };
  }
  return { trigger: original.trigger ?? "?", uid: original.booking?.uid ?? "?", key: original.key ?? "?" };
}

/// The replay worker reads at most 13 MiB per replay request (MAX_REPLAY_BODY_BYTES); pulled records
/// of up to 128 KB (base64: a third more) could exceed that at 100 per batch, so a batch is posted
/// in parts of at most 12 MB. It splits each part into sendBatch calls within
/// the queue's limits (100 messages, 256 KB) and reports every item.
const MAX_REPLAY_REQUEST_BYTES = 12_000_000;

function withinReplayLimit(batch) {
  const parts = [];
  let part = [];
  let bytes = 0;
  for (const record of batch) {
    const size = JSON.stringify(record).length + 1;
    if (part.length > 0 && bytes + size > MAX_REPLAY_REQUEST_BYTES) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(record);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const env = environment(options.dryRun);
  const totals = { pulled: 0, replayed: 0, left: 0, failed: 0 };
  const listed = [];
  while (totals.pulled < options.max) {
    const batch = await pull(env, options, Math.min(options.batchSize, options.max - totals.pulled));
    if (batch.length === 0) break;
    totals.pulled += batch.length;

    if (options.dryRun) {
      for (const record of batch) console.log(describe(record));
      // Held (hidden) until the end, so the next pull shows the next messages.
      listed.push(...batch);
      continue;
    }

    for (const part of withinReplayLimit(batch)) {
      const answer = await postJson(env.replayUrl, env.adminToken, { messages: part });
      const rejected = Array.isArray(answer.json?.rejected) ? answer.json.rejected : null;
      const failed = Array.isArray(answer.json?.failed) ? answer.json.failed : [];
      // 200: some replayed (each item reported); 400 with a `rejected` list: none were sendable.
      // Anything else (401, 404 disabled, 413, 503 queue unavailable) means nothing was queued:
      // hand the batch back.
      if (!((answer.status === 200 || answer.status === 400) && rejected)) {
        await ack(env, [], part).catch(() => {});
        const detail = answer.json?.message ?? answer.json?.error ?? answer.text.slice(0, 300);
        const hint = answer.status === 413 ? " (try a smaller --batch-size)" : "";
        throw new Error(`replay failed with HTTP ${answer.status}: ${detail}${hint}; nothing of this batch was acked`);
      }
      // Per item: replayed (ack), rejected (left for a person), failed (the queue refused it:
      // handed back at once, and the run ends with an error).
      const rejectedAt = new Map(rejected.map((r) => [r.index, r]));
      const failedAt = new Set(failed.map((f) => f.index));
      const replayed = part.filter((_, i) => !rejectedAt.has(i) && !failedAt.has(i));
      const handBack = part.filter((_, i) => failedAt.has(i));
      await ack(env, replayed, handBack);
      totals.replayed += replayed.length;
      totals.left += rejectedAt.size;
      totals.failed += handBack.length;
      for (const [index, r] of rejectedAt) {
        console.log(`left in the DLQ: ${part[index]?.id ?? "?"}  ${r.error}: ${r.message}`);
      }
      for (const record of handBack) console.log(`handed back (queue unavailable): ${record.id}`);
      console.log(
        `batch: ${part.length} pulled, ${replayed.length} replayed and acked, ${rejectedAt.size} left` +
          (handBack.length > 0 ? `, ${handBack.length} handed back` : ""),
      );
    }
    if (totals.failed > 0) {
      throw new Error(`the queue refused ${totals.failed} message(s); they were handed back to the DLQ, run again later`);
    }
  }

  if (options.dryRun) {
    // Hand them all back, so a real drain (or the dashboard) sees them at once.
    for (let i = 0; i < listed.length; i += 100) await ack(env, [], listed.slice(i, i + 100));
    console.log(`dry run: ${totals.pulled} message(s) listed, none replayed, all handed back`);
    return 0;
  }
  console.log(
    `done: ${totals.pulled} pulled, ${totals.replayed} replayed, ${totals.left} left in the DLQ` +
      (totals.left > 0 ? ` (back in view after the ${options.visibilitySecs} s lease)` : ""),
  );
  return totals.left > 0 ? 3 : 0;
}

main().then(
  (status) => process.exit(status),
  (error) => fail(1, error.message),
);
