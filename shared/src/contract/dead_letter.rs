//! The dead-letter wrapper the consumer writes itself:
//! `{"dead_letter": {...}, "original": <the message, intact>}`, kept within Queues' size limit.
//! Wrappers never nest, and [`unwrap_original`] opens them again (pasting a wrapper back onto the
//! main queue redelivers its message).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::text::truncate_bytes;

/// Longest reason kept in a dead letter.
pub const MAX_REASON_BYTES: usize = 2_000;
/// Upper bound for a serialized dead letter: Queues takes 128 KB including ~100 bytes of
/// metadata; stay clearly below.
pub const MAX_DEAD_LETTER_BYTES: usize = 120 * 1024;
/// The worker named in dead letters written by the consumer.
pub const CONSUMER: &str = "consumer";
/// The original inside a body: dead-letter wrappers are opened and JSON strings holding an object
/// parsed (a few levels deep). Anything else comes back as it is (a string that is not a JSON
/// object stays a string).
pub fn unwrap_original(body: &Value) -> Value {
    let mut current = body.clone();
    for _ in 0..8 {
        current = match current {
            Value::String(ref text) => match serde_json::from_str::<Value>(text) {
                Ok(inner @ Value::Object(_)) => inner,
                _ => return current,
            },
            Value::Object(mut map) if is_wrapper(&map) => {
                map.remove("original").unwrap_or(Value::Null)
            }
            other => return other,
        };
    }
    current
}

fn is_wrapper(map: &serde_json::Map<String, Value>) -> bool {
    map.get("dead_letter").is_some_and(Value::is_object) && map.contains_key("original")
}

/// Why and when a message was dead-lettered by the consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterInfo {
    pub reason: String,
    /// The last SendGrid status, when there was one.
    pub last_status: Option<u16>,
    pub attempts: u32,
    /// RFC 3339, given by the caller.
    pub dead_lettered_at: String,
    pub worker: String,
    /// Set when `original` had to be replaced by the start of its JSON text to fit the queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub original_truncated: bool,
}

/// The wrapper the consumer sends to the dead-letter queue itself:
/// `{"dead_letter": {...}, "original": <the message, intact>}`. Sending `original` (or the whole
/// wrapper) back to the main queue redelivers the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub dead_letter: DeadLetterInfo,
    pub original: Value,
}

impl DeadLetter {
    /// Wraps a body. A body that is already a wrapper (or a JSON string of one) is unwrapped
    /// first, so wrappers never nest. The reason is capped at [`MAX_REASON_BYTES`].
    pub fn new(
        body: &Value,
        reason: &str,
        last_status: Option<u16>,
        attempts: u32,
        dead_lettered_at: &str,
    ) -> DeadLetter {
        let original = unwrap_original(body);
        DeadLetter {
            dead_letter: DeadLetterInfo {
                reason: truncate_bytes(reason, MAX_REASON_BYTES).0,
                last_status,
                attempts,
                dead_lettered_at: truncate_bytes(dead_lettered_at, 64).0,
                worker: CONSUMER.to_owned(),
                original_truncated: false,
            },
            original,
        }
    }

    /// The JSON to send, at most [`MAX_DEAD_LETTER_BYTES`]. Messages are ≤ 64 KB by construction,
    /// so `original` normally stays intact; a larger foreign body is replaced by the start of its
    /// JSON text and `original_truncated` is set.
    pub fn to_json(&self) -> String {
        let json = serde_json::to_string(self).expect("dead letter serializes");
        if json.len() <= MAX_DEAD_LETTER_BYTES {
            return json;
        }
        let mut cut = self.clone();
        cut.dead_letter.original_truncated = true;
        // Escaping can grow text up to 6×; halve until it fits.
        let text = serde_json::to_string(&self.original).unwrap_or_default();
        let mut budget = MAX_DEAD_LETTER_BYTES / 2;
        loop {
            cut.original = Value::String(truncate_bytes(&text, budget).0);
            let json = serde_json::to_string(&cut).expect("dead letter serializes");
            if json.len() <= MAX_DEAD_LETTER_BYTES || budget == 0 {
                return json;
            }
            budget /= 2;
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn message_json() -> Value {
        let m = crate::contract::message::fixtures::booking_created();
        serde_json::from_str(&m.to_json()).unwrap()
    }

    #[test]
    fn dead_letters_fit_the_queue() {
        let long_reason = "r".repeat(10_000);
        let w = DeadLetter::new(&message_json(), &long_reason, None, 1, "t");
        assert!(w.dead_letter.reason.len() <= MAX_REASON_BYTES);
        // A largest-possible message stays intact.
        let mut big = message_json();
        big["booking"]["notes"] = Value::String("\u{1}".repeat(10_000)); // 6 bytes each in JSON
        let json = DeadLetter::new(&big, &long_reason, Some(500), 3, "t").to_json();
        assert!(json.len() <= MAX_DEAD_LETTER_BYTES);
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap()["original"],
            big
        );
        // A foreign body too large to carry is cut, and says so.
        let huge = Value::String("\"".repeat(200_000));
        let json = DeadLetter::new(&huge, "undecodable", None, 1, "t").to_json();
        assert!(json.len() <= MAX_DEAD_LETTER_BYTES, "{}", json.len());
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["dead_letter"]["original_truncated"], true);
    }
}
