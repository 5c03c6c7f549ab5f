//! Replay worker: `POST /admin/replay`, the operator's way back from the dead-letter queue.
//!
//! A thin shell over `shared::ingress::replay`, which decides everything: the route, the admin
//! token, which posted items are messages this pipeline can send, and how they are split into
//! `sendBatch` calls. This reads the request, sends the batches and writes the answer.
//!
//! It is a worker of its own so that the producer, on every webhook's path, carries none of this
//! code: the producer's size budget goes to speed instead (docs/PERFORMANCE.md).

use shared::ingress::replay::{self, ADMIN_TOKEN_ENV, MAX_REPLAY_BODY_BYTES};
use shared::ingress::{self, Reply};
use shared::logging::{Level, LogLine};
use shell::body::{header, read_capped, Unread};
use shell::error::describe;
use shell::log::Logger;
use worker::js_sys::{Date as JsDate, JSON};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::worker_sys::web_sys;
use worker::*;

/// The replay worker's binding of the `booking-events` queue.
const QUEUE_BINDING: &str = "BOOKING_QUEUE";

/// The fetch handler, exported by hand as the producer's is (`#[event(fetch)]` links float
/// formatting through `worker::Error`'s `Display`).
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
pub async fn fetch(
    req: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> std::result::Result<JsValue, JsValue> {
    let ctx = Context::new(ctx);
    let started = JsDate::now();
    let logger = Logger {
        worker: "replay",
        level: shell::settings::log_level(&env),
        env: &env,
        ctx: &ctx,
    };
    let method = req.method();
    let url = req.url();
    let path = ingress::url_path(&url);
    let (reply, mut line) = match replay::route(&method, path) {
        Ok(()) => handle_replay(&req, &env).await,
        Err(reply) => (
            reply,
            LogLine::new(Level::Warn, "request_refused").with("method", method.as_str()),
        ),
    };
    line.set("status", reply.status);
    line.set("outcome", reply.outcome());
    line.set("duration_ms", (JsDate::now() - started).round() as u64);
    logger.emit(&line);
    shell::reply::respond(&reply).map(JsValue::from)
}

/// `POST /admin/replay`: dead letters back onto `booking-events`, in `sendBatch` calls the queue
/// accepts, each item reported.
async fn handle_replay(req: &web_sys::Request, env: &Env) -> (Reply, LogLine) {
    let refused = |reply: Reply| (reply, LogLine::new(Level::Warn, "replay_refused"));
    let token = env.secret(ADMIN_TOKEN_ENV).ok().map(|s| s.to_string());
    let authorization = header(req, "Authorization");
    if let Err(reply) = replay::authorize(token.as_deref(), authorization.as_deref()) {
        let (reply, mut line) = refused(reply);
        if let Some(why) = replay::token_problem(token.as_deref()) {
            line.set("reason", why);
        }
        return (reply, line);
    }
    let body = match read_capped(req, MAX_REPLAY_BODY_BYTES).await {
        Ok(body) => body,
        Err(Unread::TooLarge) => return refused(replay::body_too_large()),
        Err(Unread::Broken) => return refused(Reply::body_read_failed()),
    };
    let plan = match replay::plan(&body) {
        Ok(plan) => plan,
        Err(reply) => return refused(reply),
    };
    let mut unsent = Vec::new();
    let mut error = None;
    for batch in plan.batches() {
        if let Err(e) = enqueue_batch(env, &plan.messages[batch.clone()]).await {
            unsent.extend(batch);
            error = Some(describe(&e));
        }
    }
    let reply = plan.reply(&unsent);
    let mut line = match error {
        Some(e) => LogLine::new(Level::Error, "replay_queue_failed").with("error", e),
        None => LogLine::new(Level::Info, "replay_queued"),
    };
    line.set("replayed", plan.messages.len() - unsent.len());
    line.set("rejected", plan.rejected.len());
    line.set("failed", unsent.len());
    (reply, line)
}

/// Sends replayed originals in one `sendBatch` (within the queue's limits, as
/// `ReplayPlan::batches` guarantees).
async fn enqueue_batch(env: &Env, messages: &[(usize, String)]) -> Result<()> {
    let queue = env.queue(QUEUE_BINDING)?;
    let mut batch = Vec::with_capacity(messages.len());
    for (_, json) in messages {
        let body = JSON::parse(json).map_err(|_| Error::RustError("message is not JSON".into()))?;
        batch.push(RawMessageBuilder::new(body).build_with_content_type(QueueContentType::Json));
    }
    queue.send_raw_batch(batch).await
}
