//! What `entry.js` calls for a webhook with a declared length: the request's I/O (the body, the
//! signature's HMAC with Web Crypto, the queue send and its retries, the `Response`) stays in
//! JavaScript, and each decision is one synchronous call here. That spares the request the glue
//! an `async` Rust handler costs (a closure and a finalizer per awaited promise, strings copied
//! both ways), and the runtime's C++ hashes in a fraction of the time SHA-256 compiled to wasm
//! takes: docs/PERFORMANCE.md has the measurements.
//!
//! The order: `webhook_route` once per isolate; per request `signature_digest`, then
//! `webhook_decide`, then for a booking the send, and `webhook_sent` (only when asked to) or
//! `webhook_unsent`. Values go back as JS values (arrays, strings, `undefined`),
//! not Rust `String`s or `Option`s, whose return shims cost the size budget.

use shared::ingress::signature::{self, WebhookSecrets, SIGNATURE_HEADER};
use shared::ingress::{Reply, MAX_BODY_BYTES, WEBHOOK_PATH};
use shared::logging::Level;
use shell::body::Unread;
use shell::error::describe;
use worker::js_sys::{Array, Uint8Array};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::{worker_sys, Context, Env, Error};

use crate::webhook::{self, Booking, Hashing, Step};
use crate::{MISSING_QUEUE, SEND_RETRY_DELAYS_MS};

/// `[path, max body bytes, signature header, send retry delays in ms]`: which requests
/// `entry.js` takes on its own path, and how it retries a refused send. Anything else goes to
/// the Rust `fetch`, which routes every request.
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
pub fn webhook_route() -> Array {
    let delays: Array = SEND_RETRY_DELAYS_MS
        .iter()
        .map(|&ms| JsValue::from(ms as f64))
        .collect();
    Array::of4(
        &WEBHOOK_PATH.into(),
        &(MAX_BODY_BYTES as f64).into(),
        &SIGNATURE_HEADER.into(),
        &delays,
    )
}

/// The secrets in `CALCOM_WEBHOOK_SECRET`'s value (`raw`), for Web Crypto's `importKey`.
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
pub fn webhook_secret_list(raw: Option<String>) -> Array {
    let raw = raw.unwrap_or_default();
    WebhookSecrets::split(&raw).map(JsValue::from_str).collect()
}

/// The digest the signature header claims (a `Uint8Array`), for Web Crypto's `verify`;
/// `undefined` when the header is refused before any MAC (`webhook_decide` says why).
/// `header`: its UTF-8 bytes from `TextEncoder` (so too for `webhook_decide`), because
/// wasm-bindgen copies a string in with a loop in JS, and bytes with one native copy.
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
pub fn signature_digest(header: Option<Vec<u8>>) -> JsValue {
    signature::claimed_digest(text(&header)).map_or(JsValue::UNDEFINED, |digest| {
        Uint8Array::from(&digest[..]).into()
    })
}

/// A header's bytes as text: always UTF-8 from `TextEncoder`, so `None` only when absent.
fn text(header: &Option<Vec<u8>>) -> Option<&str> {
    std::str::from_utf8(header.as_deref()?).ok()
}

/// The decision for a webhook: `[status, reply, message, follow]`. `body` is `undefined` when it
/// could not be read; `matched`: whether Web Crypto found a secret whose HMAC of the body is the
/// header's digest. For a booking, `message` is the queue message's text and `follow` says
/// whether `webhook_sent` must write the queued line after the send; without a message, the
/// answer's line is written here.
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
pub fn webhook_decide(
    env: Env,
    ctx: worker_sys::Context,
    body: Option<Vec<u8>>,
    header: Option<Vec<u8>>,
    matched: bool,
    started: f64,
) -> Array {
    let ctx = Context::new(ctx);
    let logger = crate::logger(&env, &ctx);
    let body = body.as_deref().ok_or(Unread::Broken);
    let hashing = Hashing::WebCrypto(signature::judge(text(&header), matched));
    match webhook::decide(&env, &logger, body, hashing, started) {
        Step::Answer(reply, line) => {
            webhook::finish(&logger, reply.status, reply.outcome(), line, started);
            answer(&reply)
        }
        Step::Enqueue { message, reply, .. } => {
            let follow = Level::Info <= logger.level;
            Array::of4(
                &reply.status.into(),
                &reply.body_text().into(),
                &message.into(),
                &follow.into(),
            )
        }
    }
}

/// After the message was sent (and `webhook_decide` asked to follow): the queued line, naming
/// the booking of `reply` (the answer `webhook_decide` gave).
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
pub fn webhook_sent(env: Env, ctx: worker_sys::Context, reply: String, started: f64) {
    let ctx = Context::new(ctx);
    let logger = crate::logger(&env, &ctx);
    let line = webhook::sent_line(&Booking::of_reply(&reply), None);
    webhook::finish(&logger, 202, "queued", line, started);
}

/// After every attempt to send failed (`error`: the queue's last refusal): the error line that
/// names the booking of `reply` (the answer `webhook_decide` gave), and `[status, reply]` (503).
#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
pub fn webhook_unsent(
    env: Env,
    ctx: worker_sys::Context,
    reply: String,
    error: JsValue,
    started: f64,
) -> Array {
    let ctx = Context::new(ctx);
    let logger = crate::logger(&env, &ctx);
    let error = match crate::queue(&env) {
        None => MISSING_QUEUE.to_owned(),
        Some(_) => describe(&Error::from(error)),
    };
    let line = webhook::sent_line(&Booking::of_reply(&reply), Some(error));
    let reply = Reply::queue_unavailable();
    webhook::finish(&logger, reply.status, reply.outcome(), line, started);
    answer(&reply)
}

/// `[status, reply]`.
fn answer(reply: &Reply) -> Array {
    Array::of2(&reply.status.into(), &reply.body_text().into())
}
