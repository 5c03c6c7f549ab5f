//! One queue message as the JS runtime hands it over: body, `attempts`, ack and retry.
//!
//! workers-rs 0.8 keeps the JS message private and has no `attempts()`, so this reads the
//! `worker_sys` objects directly.

use shared::delivery::protocol::{Body, Inbound};
use worker::js_sys::{self, Object, Reflect, Uint8Array, JSON};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use worker::worker_sys::{Message, MessageBatch};

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
extern "C" {
    /// The runtime's `TextEncoder`. wasm-bindgen hands a JS string to wasm by copying its ASCII
    /// characters one at a time in a JS loop: 80 k instructions per 2.5 KB body once V8 has
    /// optimized it, twenty times that while it runs in the interpreter (docs/PERFORMANCE.md).
    /// `encode` is one native call, and its bytes come in with one copy.
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    #[wasm_bindgen(method)]
    fn encode(this: &TextEncoder, text: &JsValue) -> Uint8Array;
}

thread_local! {
    static ENCODER: TextEncoder = TextEncoder::new();
}

/// A JS string's text; `None` if `value` is not a string.
fn text_of(value: &JsValue) -> Option<String> {
    if !value.is_string() {
        return None;
    }
    let bytes = ENCODER.with(|encoder| encoder.encode(value)).to_vec();
    // TextEncoder writes UTF-8 (a lone surrogate becomes U+FFFD, as in wasm-bindgen's copy).
    String::from_utf8(bytes).ok()
}

pub struct QueueMessage {
    inner: Message,
}

/// Every message of the batch, each with its own ack/retry handle: one unreadable body cannot
/// fail the others. An error here fails the handler, so Queues retries the whole batch.
pub fn messages(batch: &MessageBatch) -> Result<Vec<QueueMessage>, JsValue> {
    Ok(batch
        .messages()?
        .iter()
        .map(|m| QueueMessage {
            inner: m.unchecked_into(),
        })
        .collect())
}

impl QueueMessage {
    pub fn inbound(&self) -> Inbound {
        Inbound {
            attempts: self.attempts(),
            body: self.body(),
        }
    }

    /// Queues' delivery count, starting at 1.
    fn attempts(&self) -> u32 {
        Reflect::get(&self.inner, &JsValue::from_str("attempts"))
            .ok()
            .and_then(|v| v.as_f64())
            .map_or(1, |n| n.max(1.0) as u32)
    }

    /// The body as the runtime gives it: a string (`text`), bytes (`bytes`), or anything else
    /// as its JSON text (`json`).
    fn body(&self) -> Body {
        let body = match self.inner.body() {
            Ok(body) => body,
            Err(e) => return Body::Unreadable(format!("{e:?}")),
        };
        if let Some(text) = text_of(&body) {
            return Body::Text(text);
        }
        if body.is_instance_of::<js_sys::ArrayBuffer>() || body.is_instance_of::<Uint8Array>() {
            return Body::Bytes(Uint8Array::new(&body).to_vec());
        }
        match JSON::stringify(&body).ok().and_then(|s| text_of(&s)) {
            Some(json) => Body::Json(json),
            None => Body::Unreadable("the body has no JSON form".into()),
        }
    }

    pub fn ack(&self) -> Result<(), JsValue> {
        self.inner.ack()
    }

    pub fn retry_after(&self, delay_seconds: u32) -> Result<(), JsValue> {
        let options = Object::new();
        Reflect::set(
            &options,
            &JsValue::from_str("delaySeconds"),
            &JsValue::from(delay_seconds),
        )?;
        self.inner.retry(options.into())
    }
}
