// The producer's entry module: a plain module-worker object around worker-build's output.
//
// A webhook with a declared length (every Cal.com delivery) takes a direct path: this module
// does its I/O (the body, the signature's HMAC with Web Crypto, the queue send, the `Response`) and
// asks the Rust core (producer/src/entry.rs) for every decision, one synchronous call each.
// Everything else (health, wrong routes or methods, a body without a length, the first request
// after a wasm trap) goes to the Rust `fetch`, which routes and answers every request by itself.
// Why: an `async` Rust handler pays glue per awaited promise, and SHA-256 compiled to wasm costs
// several times the runtime's own (docs/PERFORMANCE.md).
//
// worker-build exports a class behind a Proxy that constructs an instance and two Proxies per
// request; its `fetch` needs only `this.env` and `this.ctx`, so it is called with those directly.
// After a wasm trap (a panic aborts) the shim's state says so, and requests go through the
// class, whose constructor starts a fresh wasm instance.
import Entrypoint from "./build/index.js";

const {
  fetch: handle,
  webhook_route,
  webhook_secret_list,
  signature_digest,
  webhook_decide,
  webhook_sent,
  webhook_unsent,
} = Entrypoint.prototype;

const [WEBHOOK_PATH, MAX_BODY_BYTES, SIGNATURE_HEADER, SEND_RETRY_DELAYS_MS] = webhook_route();
const JSON_HEADERS = { "Content-Type": "application/json", "Cache-Control": "no-store" };
const TEXT_MESSAGE = { contentType: "text" };
const HMAC = { name: "HMAC", hash: "SHA-256" };
const encoder = new TextEncoder();

function trapped(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    globalThis.__worker_init_state.criticalError = true;
  }
  throw error;
}

// Only a sound filter: a request it lets through is a POST to the webhook path (no query) with
// a decimal Content-Length within the cap. Anything it refuses, the Rust `fetch` routes.
function direct(request) {
  if (request.method !== "POST") return false;
  const length = request.headers.get("Content-Length");
  if (length === null || !/^[0-9]{1,9}$/.test(length) || Number(length) > MAX_BODY_BYTES) {
    return false;
  }
  const url = request.url;
  const path = url.indexOf("/", url.indexOf("://") + 3);
  return path === url.length - WEBHOOK_PATH.length && url.endsWith(WEBHOOK_PATH);
}

// The webhook secrets as Web Crypto keys, imported again only when the secret's value changes
// (a deploy or `wrangler secret put`).
let keysFor;
let keys;
function hmacKeys(raw) {
  if (raw !== keysFor || keys === undefined) {
    keysFor = raw;
    keys = Promise.all(
      webhook_secret_list(typeof raw === "string" ? raw : undefined).map((secret) =>
        crypto.subtle.importKey("raw", encoder.encode(secret), HMAC, false, ["verify"]),
      ),
    ).catch((error) => {
      if (keysFor === raw) keys = undefined; // the next request imports them again
      throw error;
    });
  }
  return keys;
}

// After the queue refused a message once: the remaining attempts, after the core's delays
// (Cal.com waits for the answer). Returns the queue's last refusal, or undefined once sent.
async function retrySend(queue, message, refusal) {
  for (const delay of SEND_RETRY_DELAYS_MS) {
    await new Promise((resume) => setTimeout(resume, delay));
    try {
      await queue.send(message, TEXT_MESSAGE);
      return undefined;
    } catch (error) {
      refusal = error;
    }
  }
  return refusal ?? "the queue refused the message without saying why";
}

function answer(status, text) {
  return new Response(text, { status, headers: JSON_HEADERS });
}

async function webhook(request, env, ctx) {
  const started = Date.now();
  // As bytes: the core reads them with one copy, where a string is copied a character at a time.
  const signature = request.headers.get(SIGNATURE_HEADER);
  const header = signature === null ? undefined : encoder.encode(signature);
  let body;
  try {
    body = new Uint8Array(await request.arrayBuffer());
  } catch {
    body = undefined; // the upload broke off: the core answers body_read_failed
  }
  // Whether some secret's HMAC of the body is the digest the header claims. Every key is tried
  // whatever matched, and Web Crypto's `verify` compares in constant time, so timing shows
  // neither which secret is in use nor the digest.
  const claimed = signature_digest(header);
  let matched = false;
  if (body !== undefined && claimed !== undefined) {
    for (const key of await hmacKeys(env.CALCOM_WEBHOOK_SECRET)) {
      matched = (await crypto.subtle.verify(HMAC, key, claimed, body)) || matched;
    }
  }
  const [status, reply, message, follow] = webhook_decide(env, ctx, body, header, matched, started);
  if (message === undefined) return answer(status, reply);
  // Sent as a `text` message: serialized once, in Rust. No Error is made up front: with the
  // shim's stack trace limit, each one costs about as much as the send.
  let refusal;
  try {
    await env.BOOKING_QUEUE.send(message, TEXT_MESSAGE);
  } catch (error) {
    refusal = await retrySend(env.BOOKING_QUEUE, message, error);
  }
  if (refusal !== undefined) {
    // Not stored, and Cal.com will not resend it: the core writes the error line and the 503.
    const [failed, failure] = webhook_unsent(env, ctx, reply, refusal, started);
    return answer(failed, failure);
  }
  if (follow) webhook_sent(env, ctx, reply, started);
  return answer(status, reply);
}

export default {
  fetch(request, env, ctx) {
    if (globalThis.__worker_init_state.criticalError) {
      return new Entrypoint(ctx, env).fetch(request);
    }
    const answered = direct(request)
      ? webhook(request, env, ctx)
      : handle.call({ env, ctx }, request);
    return answered.catch(trapped);
  },
};
