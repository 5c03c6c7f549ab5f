//! Consumer worker: takes batches from `booking-events`, sends one staff email per message through
//! SendGrid, and acks, retries or dead-letters each message on its own.
//!
//! A thin shell: `shared` reads the message (`shared::contract`), renders the email, builds the
//! request and makes every decision (`shared::delivery`); this crate reads the queue, does the
//! HTTP call, and carries out the decision. It never returns an error from the handler
//! (workers-rs would panic and kill the isolate): every message is acked, retried or
//! dead-lettered explicitly.

mod ledger;
mod log;
mod notify;
mod queue_message;
mod report;
mod send;

use futures_util::StreamExt;
use shared::contract::dead_letter::DeadLetter;
use shared::contract::decode::decode_message;
use shared::delivery::policy::{self, Decision};
use shared::delivery::settings::{Misconfigured, Settings};
use shared::logging::{Level, LOG_LEVEL_ENV};
use worker::js_sys::{Date as JsDate, JSON};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::{Env, QueueContentType, RawMessageBuilder};

use crate::log::Logger;
use crate::queue_message::QueueMessage;

/// Producer binding of `booking-events-dlq`, for dead letters that carry their reason.
const DEAD_LETTERS: &str = "DEAD_LETTERS";

/// Workers allow 6 simultaneous outbound connections per invocation.
const MAX_IN_FLIGHT: usize = 6;

/// The queue handler, exported by hand instead of `#[event(queue)]` so that each message's
/// `attempts` (not exposed by workers-rs 0.8) can be read from the JS objects.
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
pub async fn queue(
    batch: worker::worker_sys::MessageBatch,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> Result<JsValue, JsValue> {
    let ctx = worker::Context::new(ctx);
    let settings = Settings::from_lookup(|name| lookup(&env, name));
    let level = Level::parse(lookup(&env, LOG_LEVEL_ENV).as_deref()).unwrap_or(Level::Info);
    let logger = Logger {
        level,
        env: &env,
        ctx: &ctx,
    };
    if let Err(misconfigured) = &settings {
        log::misconfigured(&logger, &misconfigured.summary());
    }
    let messages = queue_message::messages(&batch);
    futures_util::stream::iter(messages.iter())
        .map(|message| deliver(message, &env, &settings, &logger))
        .buffer_unordered(MAX_IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    Ok(JsValue::UNDEFINED)
}

/// A var or a secret by name.
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

/// One message, start to finish: decide, then act on the decision.
async fn deliver(
    message: &QueueMessage,
    env: &Env,
    settings: &Result<Settings, Misconfigured>,
    logger: &Logger<'_>,
) {
    let attempt = message.attempts();
    let body = message.body();
    let mut trace = log::Trace::new(attempt, logger);

    let decision = match settings {
        Err(misconfigured) => {
            policy::decide_misconfigured(&misconfigured.summary(), attempt, &misconfigured.retry)
        }
        Ok(settings) => match decode_message(&body) {
            Err(reason) => {
                trace.undecodable(reason.code());
                policy::decide_undecodable(&reason)
            }
            Ok(booking_message) => {
                trace.message(&booking_message);
                notify::notify(&booking_message, settings, env, attempt, &mut trace).await
            }
        },
    };
    act(message, env, &body, decision, &trace).await;
}

async fn act(
    message: &QueueMessage,
    env: &Env,
    body: &serde_json::Value,
    decision: Decision,
    trace: &log::Trace<'_>,
) {
    match decision {
        Decision::Ack => {
            message.ack();
            trace.log_ack();
        }
        Decision::Retry {
            delay_seconds,
            reason,
        } => {
            message.retry_after(delay_seconds);
            trace.log_retry(delay_seconds, &reason);
        }
        Decision::DeadLetter { reason } => {
            let wrapper = DeadLetter::new(
                body,
                &reason,
                trace.status(),
                message.attempts(),
                &now_iso(),
            );
            match send_dead_letter(env, &wrapper.to_json()).await {
                Ok(()) => {
                    message.ack();
                    trace.log_dead_letter("message_dead_lettered", &reason);
                }
                Err(e) => {
                    // Not lost: retried, and on its last attempt the queue itself moves it to
                    // the dead-letter queue unchanged.
                    message.retry_after(60);
                    trace.log_dead_letter(
                        "dead_letter_send_failed",
                        &format!("{reason}; DLQ send failed: {e}"),
                    );
                }
            }
        }
    }
}

async fn send_dead_letter(env: &Env, json: &str) -> worker::Result<()> {
    let queue = env.queue(DEAD_LETTERS)?;
    let body = JSON::parse(json)
        .map_err(|_| worker::Error::RustError("dead letter is not JSON".into()))?;
    queue
        .send_raw(RawMessageBuilder::new(body).build_with_content_type(QueueContentType::Json))
        .await
}

/// 16 random hex characters (a claim id in the delivery ledger).
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness, the clock still makes claim ids distinct enough between attempts.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = JsDate::now().to_bits().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A uniform number in [0, 1) for backoff jitter; 0.5 if the runtime gives no randomness.
fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

fn now_unix() -> u64 {
    (JsDate::now() / 1000.0) as u64
}

fn now_iso() -> String {
    String::from(JsDate::new_0().to_iso_string())
}
