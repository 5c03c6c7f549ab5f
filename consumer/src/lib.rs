//! Consumer worker: takes batches from `booking-events`, sends one staff email per message through
//! SendGrid, and acks, retries or dead-letters each message.
//!
//! A thin shell around `shared::delivery::protocol`: the core decides every step of a batch
//! (claim in the ledger, send, record, dead-letter, ack or retry) and returns it as data; this
//! crate runs the D1 calls, the HTTP requests and the queue calls it asks for, and feeds the
//! answers back. The loop in [`queue`] holds no decision.

mod ledger;
mod log;
mod queue_message;
mod send;

use shared::delivery::protocol::{Action, Background, Batch, Event, Settlement, Step};
use shared::delivery::settings::Settings;
use shared::logging::{Level, LOG_LEVEL_ENV};
use worker::js_sys::{Date as JsDate, JSON};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::{Context, Env, QueueContentType, RawMessageBuilder};

use crate::log::Logger;
use crate::queue_message::QueueMessage;

/// Producer binding of `booking-events-dlq`, for dead letters that carry their reason.
const DEAD_LETTERS: &str = "DEAD_LETTERS";

/// The queue handler, exported by hand instead of `#[event(queue)]` so that each message's
/// `attempts` (not exposed by workers-rs 0.8) can be read from the JS objects.
///
/// Because it is exported by hand, an `Err` rejects the handler's promise (no panic, the isolate
/// lives): Queues then retries every message of the batch that was not acked or retried
/// explicitly. It returns one when the runtime would not list the batch's messages or refused an
/// ack or a retry; every other outcome is a per-message decision.
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
    let ctx = Context::new(ctx);
    let config = Settings::from_lookup(|name| lookup(&env, name));
    let logger = Logger {
        worker: log::WORKER,
        level: log_level(&env),
        env: &env,
        ctx: &ctx,
    };
    if let Err(misconfigured) = &config {
        log::misconfigured(&logger, &misconfigured.summary());
    }
    let messages = queue_message::messages(&batch)?;
    let inbound = messages.iter().map(QueueMessage::inbound).collect();
    let api_key = config.as_ref().map_or("", |s| s.api_key.as_str());
    let db = env.d1(ledger::BINDING).ok();

    let mut batch = Batch::new(inbound, &config, random_seed());
    let mut event = Event::Start;
    let settlement = loop {
        event = match batch.advance(event, now_ms()) {
            Step::Ledger(calls) => Event::Ledger(ledger::run_all(db.as_ref(), &calls).await),
            Step::Send(plan) => Event::Sent(send::send_all(&plan, api_key).await),
            Step::DeadLetter(letters) => Event::DeadLettered(dead_letters(&env, &letters).await),
            Step::Settle(settlement) => break settlement,
        };
    };
    settle(&messages, settlement, &logger)
}

/// Carries out the settlement: acks and retries, log lines, background records.
fn settle(
    messages: &[QueueMessage],
    settlement: Settlement,
    logger: &Logger<'_>,
) -> Result<JsValue, JsValue> {
    let mut refused = Ok(JsValue::UNDEFINED);
    for (message, action) in messages.iter().zip(&settlement.actions) {
        let done = match *action {
            Action::Ack => message.ack(),
            Action::Retry { delay_seconds } => message.retry_after(delay_seconds),
        };
        if let Err(e) = done {
            refused = Err(e);
        }
    }
    for line in &settlement.lines {
        logger.emit(line);
    }
    for (name, line) in &settlement.notices {
        log::once(name, || logger.emit(line));
    }
    if !settlement.background.is_empty() {
        let (env, level) = (logger.env.clone(), logger.level);
        logger
            .ctx
            .wait_until(record_in_background(env, level, settlement.background));
    }
    refused
}

/// Keeps writing records the batch could not, with pauses; logs each that never lands.
async fn record_in_background(env: Env, level: Level, jobs: Vec<Background>) {
    let db = env.d1(ledger::BINDING).ok();
    for job in jobs {
        let mut written = false;
        for pause in job.pauses_ms {
            worker::Delay::from(std::time::Duration::from_millis(u64::from(*pause))).await;
            written = ledger::run(db.as_ref(), &job.call).await.is_written();
            if written {
                break;
            }
        }
        if !written {
            shell::log::emit_detached(log::WORKER, &env, level, &job.gave_up).await;
        }
    }
}

async fn dead_letters(env: &Env, letters: &[String]) -> Vec<Result<(), String>> {
    let mut answers = Vec::with_capacity(letters.len());
    for letter in letters {
        answers.push(
            send_dead_letter(env, letter)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    answers
}

async fn send_dead_letter(env: &Env, json: &str) -> worker::Result<()> {
    let queue = env.queue(DEAD_LETTERS)?;
    let body = JSON::parse(json)
        .map_err(|_| worker::Error::RustError("dead letter is not JSON".into()))?;
    queue
        .send_raw(RawMessageBuilder::new(body).build_with_content_type(QueueContentType::Json))
        .await
}

/// A var or a secret by name.
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

fn log_level(env: &Env) -> Level {
    Level::parse(lookup(env, LOG_LEVEL_ENV).as_deref()).unwrap_or(Level::Info)
}

/// A random seed for the batch's claim id and jitter; the clock if the runtime gives none.
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return JsDate::now().to_bits();
    }
    u64::from_le_bytes(bytes)
}

fn now_ms() -> i64 {
    JsDate::now() as i64
}

pub(crate) fn now_unix() -> u64 {
    (JsDate::now() / 1000.0) as u64
}
