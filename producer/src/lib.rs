//! Producer worker: `POST /api/calcom-webhook`.
//!
//! A thin shell: it reads the request (body capped), asks `shared::ingress` what to do, sends the
//! message to the `booking-events` queue when told to, and writes the JSON answer. Every decision
//! lives in `shared`, where it is unit-tested natively.

use shared::ingress::replay::{self, ADMIN_TOKEN_ENV};
use shared::ingress::signature::{SECRET_ENV, SIGNATURE_HEADER};
use shared::ingress::{self, Health, Reply, Route, MAX_BODY_BYTES};
use shared::logging::{Level, LogLine};
use shell::body::{header, read_capped};
use shell::error::describe;
use shell::log::Logger;
use worker::js_sys::{Date as JsDate, Object, Reflect};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::*;

mod entry;
mod settings;
mod webhook;

use crate::settings::webhook_secrets;
use crate::webhook::{Hashing, Step};

/// Producer binding of the `booking-events` queue.
const QUEUE_BINDING: &str = "BOOKING_QUEUE";

/// What a send fails with when the queue binding is missing.
const MISSING_QUEUE: &str =
    "the BOOKING_QUEUE binding is missing ([[queues.producers]] in wrangler.producer.toml)";

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
    shell::reply::respond(&reply).map(JsValue::from)
}

/// Works on the runtime's `Request` directly: `worker::Request` would also read the request's
/// `cf` object, which the runtime builds anew for each request, and which nothing here uses.
async fn handle(req: &web_sys::Request, env: &Env, ctx: &Context) -> Reply {
    let started = JsDate::now();
    let logger = logger(env, ctx);
    let method = req.method();
    let url = req.url();
    let path = ingress::url_path(&url);
    let route = ingress::route(&method, path);
    let (reply, line) = match route {
        Route::Webhook => handle_webhook(req, env, &logger, started).await,
        Route::Health => health(req, env, &logger),
        _ => (
            Reply::for_route(route, &method, path)
                .unwrap_or_else(|| Reply::error(404, "not_found", "Nothing here.")),
            LogLine::new(Level::Warn, "request_refused").with("method", method.as_str()),
        ),
    };
    webhook::finish(&logger, reply.status, reply.outcome(), line, started);
    reply
}

fn logger<'a>(env: &'a Env, ctx: &'a Context) -> Logger<'a> {
    Logger {
        worker: "producer",
        level: shell::settings::log_level(env),
        env,
        ctx,
    }
}

/// `now_ms`: the request's arrival (ms since 1970), the message's `received_at`.
async fn handle_webhook(
    req: &web_sys::Request,
    env: &Env,
    logger: &Logger<'_>,
    now_ms: f64,
) -> (Reply, LogLine) {
    let body = read_capped(req, MAX_BODY_BYTES).await;
    let header = header(req, SIGNATURE_HEADER);
    let hashing = Hashing::Here(header.as_deref());
    let body = body.as_deref().map_err(|e| *e);
    match webhook::decide(env, logger, body, hashing, now_ms) {
        Step::Answer(reply, line) => (reply, line),
        Step::Enqueue {
            message,
            reply,
            booking,
            ..
        } => match enqueue(env, &JsValue::from_str(&message)).await {
            Ok(()) => (reply, webhook::sent_line(&booking, None)),
            Err(e) => (
                Reply::queue_unavailable(),
                webhook::sent_line(&booking, Some(describe(&e))),
            ),
        },
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

/// Sends the message's JSON as a `text` message, retrying briefly (`entry.js` does the same on
/// its direct path, with these delays). Serialized once, in Rust: the queue takes the string as
/// it is (a `json` message would be parsed into a JS object and serialized again). The dashboard
/// previews `text` bodies too, and every reader (the consumer, `/admin/replay`,
/// `scripts/dlq-drain.mjs`) takes both forms, so messages queued as `json` before this change
/// stay readable.
async fn enqueue(env: &Env, body: &JsValue) -> Result<()> {
    let mut last_error = None;
    for delay_ms in std::iter::once(0).chain(SEND_RETRY_DELAYS_MS) {
        if delay_ms > 0 {
            Delay::from(std::time::Duration::from_millis(delay_ms)).await;
        }
        match send_text(env, body).await {
            Ok(_) => return Ok(()),
            Err(e) => last_error = Some(Error::from(e)),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::RustError("queue send failed".into())))
}

thread_local! {
    /// `{ contentType: "text" }`, built once per isolate.
    static TEXT_MESSAGE: JsValue = {
        let options = Object::new();
        let _ = Reflect::set(&options, &"contentType".into(), &"text".into());
        options.into()
    };
}

/// `env.BOOKING_QUEUE.send(body, { contentType: "text" })`, called on the binding directly:
/// `worker::Queue::send_raw` would check the binding's type and build the options object anew
/// for every message. A missing binding fails like a refused send, and says so.
async fn send_text(env: &Env, body: &JsValue) -> std::result::Result<JsValue, JsValue> {
    let queue = queue(env).ok_or_else(|| JsValue::from_str(MISSING_QUEUE))?;
    let sent = TEXT_MESSAGE.with(|options| queue.send(body.clone(), options.clone()))?;
    JsFuture::from(sent).await
}

/// The `BOOKING_QUEUE` binding, if the config declares it.
fn queue(env: &Env) -> Option<worker::worker_sys::Queue> {
    let binding = shell::settings::raw(env, QUEUE_BINDING);
    (!binding.is_undefined()).then(|| binding.unchecked_into())
}
