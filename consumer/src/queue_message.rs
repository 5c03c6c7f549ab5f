//! One queue message as the JS runtime hands it over: body, `attempts`, ack and retry.
//!
//! workers-rs 0.8 keeps the JS message private and has no `attempts()`, so this reads the
//! `worker_sys` objects directly.

use serde_json::Value;
use worker::js_sys::{self, Object, Reflect, Uint8Array, JSON};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{Message, MessageBatch};

pub struct QueueMessage {
    inner: Message,
}

/// Every message of the batch, each with its own ack/retry handle: one unreadable body cannot
/// fail the others (unlike `MessageBatch::messages()`, which is all-or-nothing).
pub fn messages(batch: &MessageBatch) -> Vec<QueueMessage> {
    batch
        .messages()
        .map(|array| {
            array
                .iter()
                .map(|m| QueueMessage {
                    inner: m.unchecked_into(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl QueueMessage {
    /// Queues' delivery count, starting at 1.
    pub fn attempts(&self) -> u32 {
        Reflect::get(&self.inner, &JsValue::from_str("attempts"))
            .ok()
            .and_then(|v| v.as_f64())
            .map_or(1, |n| n.max(1.0) as u32)
    }

    /// The body as JSON: an object sent as `json`, or a string (a `text` message, or one pasted in
    /// the dashboard) that `shared::contract::decode::decode_message` parses. Bytes become a
    /// string.
    pub fn body(&self) -> Value {
        let Ok(body) = self.inner.body() else {
            return Value::Null;
        };
        if let Some(text) = body.as_string() {
            return Value::String(text);
        }
        if body.is_instance_of::<js_sys::ArrayBuffer>() || body.is_instance_of::<Uint8Array>() {
            let bytes = Uint8Array::new(&body).to_vec();
            return Value::String(String::from_utf8_lossy(&bytes).into_owned());
        }
        JSON::stringify(&body)
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    }

    pub fn ack(&self) {
        let _ = self.inner.ack();
    }

    pub fn retry_after(&self, delay_seconds: u32) {
        let options = Object::new();
        let _ = Reflect::set(
            &options,
            &JsValue::from_str("delaySeconds"),
            &JsValue::from(delay_seconds),
        );
        let _ = self.inner.retry(options.into());
    }
}
