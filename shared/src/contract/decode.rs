//! Reading a queue body back into a [`BookingMessage`]: the consumer decodes it fully
//! ([`decode_message`]); the replay worker only checks it ([`original_message`]). A body may be
//! the message object (`v: 1`, or a forwarded delivery, `v: 2`: [`crate::contract::forward`]), a
//! JSON string holding it, or a dead-letter wrapper around either.
//! Why a body cannot be read is an [`UndecodableReason`] with a stable code.

use serde_json::Value;

use crate::contract::dead_letter::unwrap_original;
use crate::contract::forward::{self, FORWARD_VERSION};
use crate::contract::message::{is_valid_key, BookingMessage, KEY_LEN, MESSAGE_VERSION};
use crate::text::truncate_bytes;

/// Why a queue body is not a message this consumer can send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndecodableReason {
    /// Not JSON (or a JSON string whose content is not JSON).
    NotJson,
    /// JSON, but not an object.
    NotAnObject { found: &'static str },
    /// No `v` field.
    MissingVersion,
    /// A `v` this consumer does not know (written by a newer or older producer).
    UnknownVersion { found: String },
    /// The right version, but fields are missing or have the wrong type.
    Invalid { detail: String },
}

impl UndecodableReason {
    /// A short stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson => "body_not_json",
            Self::NotAnObject { .. } => "body_not_an_object",
            Self::MissingVersion => "missing_version",
            Self::UnknownVersion { .. } => "unknown_version",
            Self::Invalid { .. } => "invalid_message",
        }
    }
}

impl std::fmt::Display for UndecodableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotJson => f.write_str("undecodable message: the body is not JSON"),
            Self::NotAnObject { found } => write!(f, "undecodable message: the body is JSON {found}, not a message object"),
            Self::MissingVersion => f.write_str("undecodable message: no version field \"v\""),
            Self::UnknownVersion { found } => write!(
                f,
                "unknown message version v={found}: this consumer reads v={MESSAGE_VERSION} and v={FORWARD_VERSION}; deploy a consumer that knows it, then send the original back to the main queue"
            ),
            Self::Invalid { detail } => write!(f, "undecodable message: {detail}"),
        }
    }
}
/// Reads a queue body into a message. The body may be the message object, a JSON string holding
/// it (a text queue message), or a dead-letter wrapper around either (pasted back into the main
/// queue to redeliver).
pub fn decode_message(body: &Value) -> Result<BookingMessage, UndecodableReason> {
    decode(body).map(|decoded| decoded.message)
}

/// A message read from a queue body, and whether it came as a forwarded delivery (`v: 2`).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub message: BookingMessage,
    pub forwarded: bool,
}

/// [`decode_message`], saying whether the body was a forwarded delivery: the consumer keeps
/// such a body as the message it was read into.
pub fn decode(body: &Value) -> Result<Decoded, UndecodableReason> {
    let original = original_message(body)?;
    let forwarded = original.as_object().is_some_and(is_forward);
    let message = match original {
        Value::Object(map) if forwarded => forward::read(&map)?,
        original => serde_json::from_value(original).map_err(|e| UndecodableReason::Invalid {
            detail: truncate_bytes(&e.to_string(), 300).0,
        })?,
    };
    Ok(Decoded { message, forwarded })
}

/// The original message inside a body (see [`decode_message`]), checked for shape and version but
/// not decoded into types: what the producer's replay route needs, without the size of the full
/// decoder.
pub fn original_message(body: &Value) -> Result<Value, UndecodableReason> {
    let original = unwrap_original(body);
    let map = match &original {
        Value::Object(map) => map,
        Value::String(text) => {
            return Err(match serde_json::from_str::<Value>(text) {
                Ok(inner) => UndecodableReason::NotAnObject {
                    found: json_kind(&inner),
                },
                Err(_) => UndecodableReason::NotJson,
            })
        }
        other => {
            return Err(UndecodableReason::NotAnObject {
                found: json_kind(other),
            })
        }
    };
    match map.get("v") {
        None => return Err(UndecodableReason::MissingVersion),
        Some(v) if v.as_u64() == Some(u64::from(MESSAGE_VERSION)) => {}
        Some(_) if is_forward(map) && forward::is_well_formed(map) => return Ok(original),
        Some(_) if is_forward(map) => {
            return Err(UndecodableReason::Invalid {
                detail: "a forwarded delivery (v=2) needs received_at and delivery as text"
                    .to_owned(),
            })
        }
        Some(v) => {
            return Err(UndecodableReason::UnknownVersion {
                found: truncate_bytes(&v.to_string(), 40).0,
            })
        }
    }
    let has_text = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let booking_uid = map.get("booking").and_then(|b| b.get("uid"));
    if !(has_text(map.get("key")) && has_text(map.get("trigger")) && has_text(booking_uid)) {
        return Err(UndecodableReason::Invalid {
            detail: "a message needs key, trigger and booking.uid".to_owned(),
        });
    }
    // The key reaches log lines, SQL parameters and the operator's commands: never as sent.
    if !map
        .get("key")
        .and_then(Value::as_str)
        .is_some_and(is_valid_key)
    {
        return Err(UndecodableReason::Invalid {
            detail: format!("the key must be {KEY_LEN} lowercase hex characters"),
        });
    }
    Ok(original)
}

fn is_forward(map: &serde_json::Map<String, Value>) -> bool {
    map.get("v").and_then(Value::as_u64) == Some(u64::from(FORWARD_VERSION))
}

/// [`decode_message`] for a body received as text.
pub fn decode_message_str(body: &str) -> Result<BookingMessage, UndecodableReason> {
    if let Some(read) = forward::read_written(body) {
        return read;
    }
    let value: Value = serde_json::from_str(body).map_err(|_| UndecodableReason::NotJson)?;
    decode_message(&value)
}
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::dead_letter::DeadLetter;
    use serde_json::json;

    fn message_json() -> Value {
        let m = crate::contract::message::fixtures::booking_created();
        serde_json::from_str(&m.to_json()).unwrap()
    }

    #[test]
    fn decodes_messages_strings_and_wrappers() {
        let original = message_json();
        let expected = decode_message(&original).unwrap();
        assert_eq!(expected.booking.uid, "bkg_8Jq2Xz4TnR5wLm3Yv");
        assert_eq!(
            decode_message(&Value::String(original.to_string())).unwrap(),
            expected
        );
        assert_eq!(decode_message_str(&original.to_string()).unwrap(), expected);

        let wrapped = DeadLetter::new(
            &original,
            "SendGrid server error (503)",
            Some(503),
            6,
            "2026-02-10T18:00:00Z",
        );
        let wrapped_json = wrapped.to_json();
        let as_value: Value = serde_json::from_str(&wrapped_json).unwrap();
        assert_eq!(
            as_value["dead_letter"]["reason"],
            "SendGrid server error (503)"
        );
        assert_eq!(as_value["dead_letter"]["last_status"], 503);
        assert_eq!(as_value["dead_letter"]["attempts"], 6);
        assert_eq!(
            as_value["dead_letter"]["dead_lettered_at"],
            "2026-02-10T18:00:00Z"
        );
        assert_eq!(as_value["dead_letter"]["worker"], "consumer");
        assert!(as_value["dead_letter"].get("original_truncated").is_none());
        assert_eq!(
            as_value["original"], original,
            "the original travels intact"
        );
        // Pasting the wrapper (as JSON or as a text body) back delivers the original.
        assert_eq!(decode_message(&as_value).unwrap(), expected);
        assert_eq!(decode_message_str(&wrapped_json).unwrap(), expected);
        assert_eq!(
            decode_message(&Value::String(wrapped_json.clone())).unwrap(),
            expected
        );
        // A wrapper around a text body.
        let text_wrapped =
            DeadLetter::new(&Value::String(original.to_string()), "x", None, 1, "t").to_json();
        assert_eq!(decode_message_str(&text_wrapped).unwrap(), expected);
        // Wrapping a wrapper does not nest.
        let again = DeadLetter::new(&as_value, "again", None, 2, "t2");
        assert_eq!(again.original, original);
        assert_eq!(again.dead_letter.last_status, None);
        let null_status: Value = serde_json::from_str(&again.to_json()).unwrap();
        assert_eq!(null_status["dead_letter"]["last_status"], Value::Null);
    }
    #[test]
    fn undecodable_bodies_have_reasons() {
        let cases: [(Value, &str); 9] = [
            (Value::String("not json".into()), "body_not_json"),
            (json!([1, 2]), "body_not_an_object"),
            (json!(null), "body_not_an_object"),
            (json!({"key": "k"}), "missing_version"),
            (json!({"v": 3, "key": "k"}), "unknown_version"),
            (json!({"v": 1, "key": "k"}), "invalid_message"),
            (json!({"v": 2, "key": "k"}), "invalid_message"),
            (
                json!({"v": 2, "received_at": "t", "delivery": {}}),
                "invalid_message",
            ),
            (
                json!({"v": 2, "received_at": "t", "delivery": "{\"triggerEvent\":\"PING\"}"}),
                "invalid_message",
            ),
        ];
        for (body, code) in cases {
            let err = decode_message(&body).unwrap_err();
            assert_eq!(err.code(), code, "{body}");
        }
        let err = decode_message(&json!({"v": "1"})).unwrap_err();
        assert_eq!(
            err,
            UndecodableReason::UnknownVersion {
                found: "\"1\"".into()
            }
        );
        assert!(
            err.to_string().contains("this consumer reads v=1 and v=2"),
            "{err}"
        );
        let err = decode_message(&json!({"v": 1, "key": "k"})).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs key, trigger and booking.uid"),
            "{err}"
        );
        let mut no_received_at = message_json();
        no_received_at
            .as_object_mut()
            .unwrap()
            .remove("received_at");
        let err = decode_message(&no_received_at).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
        // A key that is not 32 lowercase hex characters is refused, and never echoed.
        for key in [
            "5790D01B7BD92B0F74C8837091FC4D41",
            "5790d01b7bd92b0f74c8837091fc4d4",
            "5790d01b7bd92b0f74c8837091fc4d411",
            "5790d01b7bd92b0f74c8837091fc4d4g",
            "'; DROP TABLE deliveries; --xxxxx",
            "k\n\u{1b}[31m",
        ] {
            let mut bad_key = message_json();
            bad_key["key"] = json!(key);
            let err = decode_message(&bad_key).unwrap_err();
            assert_eq!(err.code(), "invalid_message", "{key}");
            assert!(err.to_string().contains("32 lowercase hex"), "{err}");
            assert!(!err.to_string().contains(key), "{err}");
            assert_eq!(original_message(&bad_key).unwrap_err(), err);
            // Wrapped in a dead letter, or as text: refused all the same.
            let wrapped = DeadLetter::new(&bad_key, "x", None, 1, "t").to_json();
            assert_eq!(decode_message_str(&wrapped).unwrap_err(), err);
        }
        let mut bad_trigger = message_json();
        bad_trigger["trigger"] = json!("BOOKING_PAID");
        assert!(decode_message(&bad_trigger)
            .unwrap_err()
            .to_string()
            .contains("BOOKING_PAID"));
        assert_eq!(
            decode_message_str("{").unwrap_err(),
            UndecodableReason::NotJson
        );
        assert_eq!(
            decode_message(&Value::String("[1]".into()))
                .unwrap_err()
                .code(),
            "body_not_an_object"
        );
        // An undecodable text body is kept as text in its wrapper, also when re-wrapped.
        let w = DeadLetter::new(
            &Value::String("not json".into()),
            "undecodable",
            None,
            1,
            "t",
        );
        assert_eq!(w.original, Value::String("not json".into()));
        let again = DeadLetter::new(
            &serde_json::from_str(&w.to_json()).unwrap(),
            "again",
            None,
            1,
            "t",
        );
        assert_eq!(again.original, Value::String("not json".into()));
    }
}
