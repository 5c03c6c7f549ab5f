// Dev-only front door for local runs and end-to-end tests. NEVER deployed: it can put arbitrary
// messages on the queue without authentication.
//
// With several configs in one `wrangler dev`, only the first is served on the port, so this
// worker goes first and forwards every ordinary request, unchanged, through a service binding:
// /admin/* to the replay worker (in production it has a URL of its own), everything else to the
// producer. It adds what tests and a person running the pipeline locally need:
//   POST /__dev/enqueue[?type=json|text]  put the raw body on booking-events (a "pasted" message)
//   queue consumer of booking-events-dlq  posts what was dead-lettered to the stub
//     (Miniflare drops messages of a queue without a consumer; in production nothing consumes the
//     DLQ, so the dashboard and the HTTP pull API can show its messages)

// Forwards `request` to `target`. A body without a length (a chunked upload) goes through a copy
// that is read to its end whatever the target reads: the producer answers an oversize upload
// (413) and stops reading, and without the copy that cut runs back up the chain to wrangler's
// proxy in front, which may then answer 503 "Your worker restarted mid-request" instead of the
// producer's 413, depending on timing. A body with a length is forwarded as it is.
function forward(request, target, ctx) {
  if (request.body === null || request.headers.has("content-length")) {
    return target.fetch(request);
  }
  const { readable, writable } = new TransformStream();
  ctx.waitUntil(drainInto(request.body, writable));
  return target.fetch(new Request(request, { body: readable }));
}

async function drainInto(body, writable) {
  const reader = body.getReader();
  const writer = writable.getWriter();
  let open = true; // until the target stops reading
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (open) await writer.write(value).catch(() => (open = false));
    }
  } catch (error) {
    // The upload broke off: so does the target's copy of it.
    if (open) await writer.abort(error).catch(() => {});
    return;
  }
  if (open) await writer.close().catch(() => {});
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__dev/enqueue") {
      if (request.method !== "POST") {
        return Response.json({ error: "method_not_allowed" }, { status: 405, headers: { Allow: "POST" } });
      }
      const type = url.searchParams.get("type") === "text" ? "text" : "json";
      const text = await request.text();
      let body = text;
      if (type === "json") {
        try {
          body = JSON.parse(text);
        } catch {
          return Response.json({ error: "not_json" }, { status: 400 });
        }
      }
      await env.BOOKING_QUEUE.send(body, { contentType: type });
      return Response.json({ status: "enqueued", contentType: type }, { status: 202 });
    }
    if (url.pathname.startsWith("/admin/")) {
      return forward(request, env.REPLAY, ctx);
    }
    return forward(request, env.PRODUCER, ctx);
  },

  async queue(batch, env) {
    const sink = batch.queue === "booking-events-dlq" ? "dead-letters" : "queue-tap";
    // A `text` message (what the producer sends) arrives as a string: observers see the JSON in
    // it, and `body_kind` says how it travelled ("string" for text, "object" for json).
    const records = batch.messages.map((m) => ({
      queue: batch.queue,
      id: m.id,
      attempts: m.attempts,
      body_kind: typeof m.body,
      body: typeof m.body === "string" ? parseOr(m.body) : m.body,
    }));
    const res = await fetch(`${env.STUB_URL}/__stub/${sink}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(records),
    });
    if (!res.ok) {
      throw new Error(`observer: stub answered ${res.status}`); // whole batch retried
    }
    batch.ackAll();
  },
};

function parseOr(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
