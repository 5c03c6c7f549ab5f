//! `POST /admin/replay`: the way back from the dead-letter queue without dashboard clicks.
//!
//! The operator posts one or many dead-lettered messages (the consumer's wrappers, originals, JSON
//! strings of either, or records from Cloudflare's HTTP pull API with a `body`), authenticated with
//! `ADMIN_TOKEN`. Each is validated as a message this pipeline can send, unwrapped to its original
//! and put back on `booking-events`; the delivery ledger keeps an already-sent one from being sent
//! twice. The route is disabled while `ADMIN_TOKEN` is unset.

use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::delivery::original_message;
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
        // A pull-API record carries the message in `body` (next to `id`, `lease_id`, …).
        let item = match item {
            Value::Object(map)
                if map.contains_key("lease_id")
                    || (map.contains_key("body") && !map.contains_key("v")) =>
            {
                map.get("body").cloned().unwrap_or(Value::Null)
            }
            other => other.clone(),
        };
        match original_message(&item) {
            Ok(original) => plan.messages.push(original.to_string()),
            Err(reason) => plan.rejected.push(
                json!({"index": index, "error": reason.code(), "message": reason.to_string()}),
            ),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::DeadLetter;

    fn message() -> Value {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../samples/booking-created.json"
        ))
        .unwrap();
        match crate::webhook::parse_delivery(&body, "2026-02-10T17:03:13.000Z").unwrap() {
            crate::webhook::Delivery::Booking(m) => serde_json::to_value(*m).unwrap(),
            _ => unreachable!(),
        }
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
        let wrapper = serde_json::to_value(DeadLetter::new(
            &original,
            "400",
            Some(400),
            1,
            "2026-01-01T00:00:00Z",
        ))
        .unwrap();
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

    fn plan_for(v: Value) -> ReplayPlan {
        super::plan(v.to_string().as_bytes()).unwrap()
    }
}
