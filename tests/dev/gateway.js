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
export default {
  async fetch(request, env) {
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
      return env.REPLAY.fetch(request);
    }
    return env.PRODUCER.fetch(request);
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
