//! Producer worker: `POST /api/calcom-webhook`.
//!
//! A thin shell: it reads the request (body capped), asks `shared::ingress` what to do, sends the
//! message to the `booking-events` queue when told to, and writes the JSON answer. Every decision
//! lives in `shared`, where it is unit-tested natively.

use futures_util::StreamExt;
use shared::ingress::replay::{self, ADMIN_TOKEN_ENV, MAX_REPLAY_BODY_BYTES};
use shared::ingress::signature::{SECRET_ENV, SIGNATURE_HEADER};
use shared::ingress::{self, BodyRead, Health, Ingress, Reply, Route, MAX_BODY_BYTES};
use shared::logging::{Level, LogLine};
use worker::js_sys::{Date as JsDate, Uint8Array, JSON};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::*;

mod error;
mod log;
mod report;
mod settings;

use crate::error::describe;
use crate::log::Logger;
use crate::settings::webhook_secrets;

/// Producer binding of the `booking-events` queue.
const QUEUE_BINDING: &str = "BOOKING_QUEUE";

/// Pauses between send attempts. Cal.com waits for our answer before showing the booker their
/// confirmation, so the whole retry budget stays well under a second.
const SEND_RETRY_DELAYS_MS: [u64; 2] = [50, 250];

/// The fetch handler, exported by hand instead of `#[event(fetch)]`: the macro formats
/// `worker::Error` with `Display`, which drags Rust's float formatting (about 10 KB) into the
/// module; here no error is ever formatted that way (see `error::describe`).
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
    let reply = handle(&req, &env, &ctx).await;
    respond(&reply).map(JsValue::from)
}

/// Works on the runtime's `Request` directly: `worker::Request` would also read the request's
/// `cf` object, which the runtime builds anew for each request, and which nothing here uses.
async fn handle(req: &web_sys::Request, env: &Env, ctx: &Context) -> Reply {
    let started = JsDate::now();
    let level = settings::log_level(env);
    let logger = Logger { level, env, ctx };
    let method = req.method();
    let url = req.url();
    let path = ingress::url_path(&url);
    let route = ingress::route(&method, path);
    let (reply, mut line) = match route {
        Route::Webhook => handle_webhook(req, env, &logger).await,
        Route::Health => health(req, env, &logger),
        Route::Replay => handle_replay(req, env).await,
        _ => (
            Reply::for_route(route, &method, path)
                .unwrap_or_else(|| Reply::error(404, "not_found", "Nothing here.")),
            LogLine::new(Level::Warn, "request_refused").with("method", method.as_str()),
        ),
    };
    line.set("status", reply.status);
    line.set("outcome", reply.outcome());
    line.set("duration_ms", (JsDate::now() - started).round() as u64);
    logger.emit(&line);
    reply
}

async fn handle_webhook(
    req: &web_sys::Request,
    env: &Env,
    logger: &Logger<'_>,
) -> (Reply, LogLine) {
    let rejected = |reply: Reply| (reply, LogLine::new(Level::Warn, "webhook_rejected"));
    let body = match read_body_capped(req, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(true) => return rejected(Reply::body_too_large()),
        Err(false) => return rejected(Reply::body_read_failed()),
    };
    let secrets = webhook_secrets(env, logger);
    if secrets.is_empty() {
        let problem = format!("{SECRET_ENV} is not set: every webhook is refused until it is (wrangler secret put {SECRET_ENV})");
        logger
            .emit(&LogLine::new(Level::Error, "producer_misconfigured").with("problems", problem));
    }
    let signature = header(req, SIGNATURE_HEADER);
    let received_at = String::from(JsDate::new_0().to_iso_string());

    match ingress::accept_webhook(&secrets, signature.as_deref(), &body, &received_at) {
        Ingress::Reply(reply) if reply.status >= 400 => rejected(reply),
        Ingress::Reply(reply) => {
            let event = if reply.outcome() == "ok" {
                "webhook_ping"
            } else {
                "webhook_ignored"
            };
            let trigger = reply.body["event"].as_str().unwrap_or("").to_owned();
            (
                reply,
                LogLine::new(Level::Info, event).with("trigger", trigger),
            )
        }
        Ingress::Enqueue {
            message,
            body,
            reply,
        } => {
            let line = |level, event| {
                LogLine::new(level, event)
                    .with("trigger", message.trigger.as_str())
                    .with("uid", message.booking.uid.as_str())
                    .with("key", message.key.as_str())
            };
            match enqueue(env, &body).await {
                Ok(()) => (reply, line(Level::Info, "webhook_queued")),
                // Cal.com does not retry by default: this booking is lost unless someone acts.
                Err(e) => (
                    Reply::queue_unavailable(),
                    line(Level::Error, "webhook_queue_failed")
                        .with("error", describe(&e))
                        .with("impact", "booking NOT stored; Cal.com will not resend it"),
                ),
            }
        }
    }
}

/// `GET /healthz`: `ok`, `incomplete` or `degraded` for anyone; which settings are present
/// (never their values) only with the admin token. The log line names the problems.
fn health(req: &web_sys::Request, env: &Env, logger: &Logger<'_>) -> (Reply, LogLine) {
    let secrets = webhook_secrets(env, logger);
    let token = env.secret(ADMIN_TOKEN_ENV).ok().map(|s| s.to_string());
    let mut weaknesses: Vec<String> = secrets.weakness().into_iter().collect();
    if token.as_deref().is_some_and(|t| !t.trim().is_empty()) {
        weaknesses.extend(replay::token_problem(token.as_deref()).map(str::to_owned));
    }
    let health = Health {
        checks: vec![
            (SECRET_ENV, !secrets.is_empty()),
            (QUEUE_BINDING, env.queue(QUEUE_BINDING).is_ok()),
        ],
        weaknesses,
    };
    let authorization = header(req, "Authorization");
    let detail = replay::authorize(token.as_deref(), authorization.as_deref()).is_ok();
    (
        health.reply(env!("CARGO_PKG_VERSION"), detail),
        health.log_line(),
    )
}

/// `POST /admin/replay`: dead letters back onto `booking-events` (see `shared::ingress::replay`),
/// in `sendBatch` calls the queue accepts, each item reported.
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
    let body = match read_body_capped(req, MAX_REPLAY_BODY_BYTES).await {
        Ok(body) => body,
        Err(true) => {
            return refused(Reply::error(
                413,
                "body_too_large",
                "Replay at most 100 messages per request.",
            ))
        }
        Err(false) => return refused(Reply::body_read_failed()),
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

/// Reads at most `max` bytes: `Err(true)` when the body is larger, `Err(false)` when the upload
/// broke off (answered `body_read_failed`, not 413). `BodyRead` decides how: a declared oversize
/// body is refused unread, a declared length is read in one copy (`arrayBuffer`), and only a
/// body without one is streamed.
async fn read_body_capped(
    req: &web_sys::Request,
    max: usize,
) -> std::result::Result<Vec<u8>, bool> {
    match BodyRead::plan(header(req, "Content-Length").as_deref(), max) {
        BodyRead::TooLarge => Err(true),
        BodyRead::Whole => {
            let read = req.array_buffer().map_err(|_| false)?;
            let buffer = JsFuture::from(read).await.map_err(|_| false)?;
            let body = Uint8Array::new(&buffer).to_vec();
            // The runtime ends a body at its declared length; this only guards that.
            if body.len() > max {
                return Err(true);
            }
            Ok(body)
        }
        BodyRead::Chunked => read_chunked(req, max).await,
    }
}

/// Streams a body without a declared length, stopping as soon as it passes `max`.
async fn read_chunked(req: &web_sys::Request, max: usize) -> std::result::Result<Vec<u8>, bool> {
    // No body at all reads as an empty one (then refused by the signature check).
    let Some(body) = req.body() else {
        return Ok(Vec::new());
    };
    let mut stream = ByteStream::from(body);
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| false)?;
        if body.len() + chunk.len() > max {
            return Err(true);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends the message's JSON as a `text` message, retrying briefly. Serialized once, in Rust: the
/// queue takes the string as it is (a `json` message would be parsed into a JS object and
/// serialized again). The dashboard previews `text` bodies too, and every reader (the consumer,
/// `/admin/replay`, `scripts/dlq-drain.mjs`) takes both forms, so messages queued as `json`
/// before this change stay readable.
async fn enqueue(env: &Env, json: &str) -> Result<()> {
    let queue = env.queue(QUEUE_BINDING)?;
    let body = JsValue::from_str(json);
    let mut last_error = None;
    for delay_ms in std::iter::once(0).chain(SEND_RETRY_DELAYS_MS) {
        if delay_ms > 0 {
            Delay::from(std::time::Duration::from_millis(delay_ms)).await;
        }
        let send =
            RawMessageBuilder::new(body.clone()).build_with_content_type(QueueContentType::Text);
        match queue.send_raw(send).await {
            Ok(()) => return Ok(()),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::RustError("queue send failed".into())))
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

/// A request header's value, if present.
fn header(req: &web_sys::Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn respond(reply: &Reply) -> std::result::Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    if let Some(allow) = reply.allow {
        headers.set("Allow", allow)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(&reply.body_text()), &init)
}
