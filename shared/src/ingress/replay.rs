//! `POST /admin/replay`: the way back from the dead-letter queue without dashboard clicks.
//!
//! The operator posts one or many dead-lettered messages (the consumer's wrappers, originals, JSON
//! strings of either, or records from Cloudflare's HTTP pull API, whose `body` is base64 for JSON
//! messages; `scripts/dlq-drain.mjs` posts those), authenticated with
//! `ADMIN_TOKEN`. Each is validated as a message this pipeline can send, unwrapped to its original
//! and put back on `booking-events`; the delivery ledger keeps an already-sent one from being sent
//! twice. The route is disabled while `ADMIN_TOKEN` is unset.

use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::contract::decode::original_message;
use crate::ingress::Reply;

pub const REPLAY_PATH: &str = "/admin/replay";
/// The secret that enables the route.
pub const ADMIN_TOKEN_ENV: &str = "ADMIN_TOKEN";
/// At most this many messages per request (one queue `sendBatch`).
pub const MAX_REPLAY_MESSAGES: usize = 100;
/// Largest replay body: 100 wrapped messages of up to ~120 KB each, plus JSON framing.
pub const MAX_REPLAY_BODY_BYTES: usize = 13 * 1024 * 1024;

/// Checks `Authorization: Bearer <token>` against the configured token in constant time.
/// `configured` is `ADMIN_TOKEN` (None or blank: the route is disabled).
pub fn authorize(configured: Option<&str>, authorization: Option<&str>) -> Result<(), Reply> {
    let Some(token) = configured.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(Reply::error(
            404,
            "replay_disabled",
            "The replay endpoint is disabled. Set the ADMIN_TOKEN secret on the producer to enable it.",
        ));
    };
    let presented = authorization
        .and_then(|h| h.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    // Lengths are compared in the clear (they say nothing useful); the bytes in constant time.
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(Reply::error(
            401,
            "admin_token_invalid",
            "Send Authorization: Bearer <ADMIN_TOKEN>.",
        ))
    }
}

/// What to put back on the queue, and what was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlan {
    /// The originals to send, as JSON text.
    pub messages: Vec<String>,
    /// `{index, error, message}` for every item that is not a sendable message.
    pub rejected: Vec<Value>,
}

impl ReplayPlan {
    /// The answer once `messages` were queued.
    pub fn reply(&self) -> Reply {
        let status = if self.messages.is_empty() { 400 } else { 200 };
        let body = json!({
            "status": if self.messages.is_empty() { "error" } else { "replayed" },
            "replayed": self.messages.len(),
            "rejected": self.rejected,
        });
        Reply {
            status,
            body,
            allow: None,
        }
    }
}

/// Reads a replay body: a JSON array of items, `{"messages": [...]}` (as the pull API lists
/// them), or a single item.
pub fn plan(body: &[u8]) -> Result<ReplayPlan, Reply> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        Reply::error(
            400,
            "body_not_json",
            "Post a dead-lettered message, or a JSON array of them.",
        )
    })?;
    let items = match value {
        Value::Array(items) => items,
        // The pull API's whole answer, saved as it came (its top-level `messages` is the API's
        // list of notices, not queue messages).
        Value::Object(ref map) if pulled_list(map).is_some() => {
            pulled_list(map).cloned().unwrap_or_default()
        }
        Value::Object(ref map) if map.get("messages").is_some_and(Value::is_array) => {
            map["messages"].as_array().cloned().unwrap_or_default()
        }
        single => vec![single],
    };
    if items.is_empty() {
        return Err(Reply::error(
            400,
            "nothing_to_replay",
            "The body holds no messages.",
        ));
    }
    if items.len() > MAX_REPLAY_MESSAGES {
        return Err(Reply::error(
            413,
            "too_many_messages",
            &format!(
                "At most {MAX_REPLAY_MESSAGES} messages per request; send the rest in another."
            ),
        ));
    }
    let mut plan = ReplayPlan {
        messages: Vec::new(),
        rejected: Vec::new(),
    };
    for (index, item) in items.iter().enumerate() {
        let outcome = match item {
            // A pull-API record carries the message in `body` (next to `id`, `lease_id`, …).
            Value::Object(map)
                if map.contains_key("lease_id")
                    || (map.contains_key("body") && !map.contains_key("v")) =>
            {
                pulled_body(map)
            }
            other => Ok(other.clone()),
        }
        .and_then(|item| {
            original_message(&item).map_err(|reason| (reason.code(), reason.to_string()))
        });
        match outcome {
            Ok(original) => plan.messages.push(original.to_string()),
            Err((code, message)) => plan
                .rejected
                .push(json!({"index": index, "error": code, "message": message})),
        }
    }
    Ok(plan)
}

/// `result.messages` of a saved pull answer (`{"success": true, "result": {"messages": […]}}`).
fn pulled_list(map: &serde_json::Map<String, Value>) -> Option<&Vec<Value>> {
    map.get("result")?.get("messages")?.as_array()
}

/// The message inside a pull-API record. The pull API base64-encodes the bodies of `json` and
/// `bytes` messages (`metadata["CF-Content-Type"]`), and the consumer sends JSON ones; `text`
/// bodies come as they are. A record without the metadata (pasted by hand) is read as JSON
/// first, then as base64.
fn pulled_body(record: &serde_json::Map<String, Value>) -> Result<Value, (&'static str, String)> {
    let body = record.get("body").cloned().unwrap_or(Value::Null);
    let content_type = record
        .get("metadata")
        .and_then(|m| m.get("CF-Content-Type"))
        .and_then(Value::as_str);
    let Value::String(text) = &body else {
        return Ok(body);
    };
    let from_base64 = || {
        base64_decode(text)
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .ok_or_else(|| {
                (
                    "body_not_base64_json",
                    "the pull record's body is not base64 of a JSON message (CF-Content-Type json)"
                        .to_owned(),
                )
            })
    };
    match content_type {
        Some("json" | "bytes") => from_base64(),
        Some(_) => Ok(body),
        None => match serde_json::from_str::<Value>(text) {
            Ok(_) => Ok(body),
            Err(_) => from_base64().or(Ok(body)),
        },
    }
}

/// RFC 4648 base64 (standard alphabet; padding optional), as the pull API writes it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be padding zeros, and one leftover sextet cannot end a byte.
    (bits < 6 && buffer == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::dead_letter::DeadLetter;

    fn message() -> Value {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../samples/booking-created.json"
        ))
        .unwrap();
        match crate::ingress::envelope::parse_delivery(&body, "2026-02-10T17:03:13.000Z").unwrap() {
            crate::ingress::envelope::Delivery::Booking(m) => serde_json::to_value(*m).unwrap(),
            _ => unreachable!(),
        }
    }

    /// The consumer's wrapper around `original`, as it lands in the DLQ.
    fn dead_letter(original: &Value) -> Value {
        let wrapper = DeadLetter::new(original, "400", Some(400), 1, "2026-01-01T00:00:00Z");
        serde_json::to_value(wrapper).unwrap()
    }

    #[test]
    fn the_token_is_required_and_compared_exactly() {
        assert_eq!(authorize(None, Some("Bearer x")).unwrap_err().status, 404);
        assert_eq!(
            authorize(Some("  "), Some("Bearer ")).unwrap_err().status,
            404
        );
        assert_eq!(
            authorize(Some("s3cret-token"), None).unwrap_err().status,
            401
        );
        assert_eq!(
            authorize(Some("s3cret-token"), Some("Bearer s3cret-toke"))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            authorize(Some("s3cret-token"), Some("Basic s3cret-token"))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            authorize(Some("s3cret-token"), Some("Bearer s3cret-token")),
            Ok(())
        );
        let refused = authorize(Some("s3cret-token"), Some("Bearer wrong")).unwrap_err();
        assert!(
            !refused.body_text().contains("s3cret"),
            "{}",
            refused.body_text()
        );
    }

    #[test]
    fn wrappers_originals_strings_and_pull_records_are_unwrapped() {
        let original = message();
        let wrapper = dead_letter(&original);
        let items = json!([
            original.clone(),
            wrapper.clone(),
            original.to_string(),
            {"id": "m1", "lease_id": "l1", "body": wrapper.to_string()},
            {"id": "m2", "lease_id": "l2", "body": original},
        ]);
        let plan = plan(items.to_string().as_bytes()).unwrap();
        assert!(plan.rejected.is_empty(), "{:?}", plan.rejected);
        assert_eq!(plan.messages.len(), 5);
        for m in &plan.messages {
            let v: Value = serde_json::from_str(m).unwrap();
            assert_eq!(v, message(), "always the original, never the wrapper");
        }
        assert_eq!(plan.reply().status, 200);
        assert_eq!(plan.reply().body["replayed"], 5);
    }

    #[test]
    fn what_cannot_be_sent_is_rejected_item_by_item() {
        let items = json!([message(), {"v": 99}, "not json", 42]);
        let plan = plan(items.to_string().as_bytes()).unwrap();
        assert_eq!(plan.messages.len(), 1);
        let codes: Vec<&str> = plan
            .rejected
            .iter()
            .map(|r| r["error"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            ["unknown_version", "body_not_json", "body_not_an_object"]
        );
        assert_eq!(plan.rejected[0]["index"], 1);

        let none = plan_for(json!([{"v": 99}]));
        assert_eq!(
            (none.reply().status, none.reply().body["status"].as_str()),
            (400, Some("error"))
        );
        assert_eq!(super::plan(b"nope").unwrap_err().status, 400);
        assert_eq!(
            super::plan(b"[]").unwrap_err().body["error"],
            "nothing_to_replay"
        );
        let many: Vec<Value> = (0..101).map(|_| message()).collect();
        assert_eq!(
            super::plan(&serde_json::to_vec(&many).unwrap())
                .unwrap_err()
                .status,
            413
        );
        let listed = plan_for(json!({"messages": [message()]}));
        assert_eq!(listed.messages.len(), 1);
    }

    /// Standard base64 with padding, written independently of the decoder under test.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn base64_decodes_what_rfc_4648_encodes() {
        for text in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "{\"k\":\"ü€😀\"}",
        ] {
            assert_eq!(
                base64_decode(&base64(text.as_bytes())).unwrap(),
                text.as_bytes(),
                "{text}"
            );
            let unpadded = base64(text.as_bytes()).trim_end_matches('=').to_owned();
            assert_eq!(base64_decode(&unpadded).unwrap(), text.as_bytes(), "{text}");
        }
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        for bad in ["Zm9v YmFy", "Zm9v-_", "Z", "Zm9vY", "Zh==", "{}"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn pull_records_are_decoded_by_their_content_type() {
        let original = message();
        let wrapper = dead_letter(&original);
        let record = |body: Value, content_type: Option<&str>| {
            let mut r = json!({"id": "0f", "lease_id": "lease", "attempts": 1, "timestamp_ms": 1, "body": body});
            if let Some(t) = content_type {
                r["metadata"] = json!({"CF-sourceMessageSource": "api", "CF-Content-Type": t});
            }
            r
        };
        let encoded = |v: &Value| Value::String(base64(v.to_string().as_bytes()));
        let pulled = json!({
            "success": true, "errors": [], "messages": [],
            "result": {"message_backlog_count": 5, "messages": [
                record(encoded(&wrapper), Some("json")),
                record(encoded(&original), Some("bytes")),
                record(Value::String(wrapper.to_string()), Some("text")),
                record(encoded(&original), None),
                record(Value::String(original.to_string()), None),
                record(Value::String(wrapper.to_string()), Some("json")),
                record(Value::String("bm90IGpzb24=".into()), Some("json")),
            ]}
        });
        let plan = plan_for(pulled);
        assert_eq!(plan.messages.len(), 5, "{:?}", plan.rejected);
        for m in &plan.messages {
            assert_eq!(serde_json::from_str::<Value>(m).unwrap(), original);
        }
        let rejected: Vec<(u64, &str)> = plan
            .rejected
            .iter()
            .map(|r| (r["index"].as_u64().unwrap(), r["error"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rejected,
            [(5, "body_not_base64_json"), (6, "body_not_base64_json")]
        );
    }

    fn plan_for(v: Value) -> ReplayPlan {
        super::plan(v.to_string().as_bytes()).unwrap()
    }
}
