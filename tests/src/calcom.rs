//! Sending webhooks the way Cal.com does: compact JSON body, `X-Cal-Signature-256` = lowercase
//! hex HMAC-SHA256 of the exact bytes, `Content-Type: application/json`.

use std::io;

use serde_json::Value;
use shared::ingress::signature::{sign, SIGNATURE_HEADER};

use crate::http::{self, Answer};

/// The sample deliveries in `samples/`, by file stem.
pub const SAMPLES: [&str; 6] = [
    "booking-created",
    "booking-rescheduled",
    "booking-cancelled",
    "booking-requested",
    "ping",
    "meeting-started",
];

/// A sample as compact JSON (Cal.com sends no trailing newline and no indentation).
pub fn sample(name: &str) -> Value {
    let path = crate::pipeline::repo_root()
        .join("samples")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sample with its booking uid (and `createdAt`) replaced, so concurrent tests can tell their
/// bookings apart.
pub fn sample_with_uid(name: &str, uid: &str) -> Value {
    let mut v = sample(name);
    if v.get("payload").is_some_and(Value::is_object) {
        v["payload"]["uid"] = Value::from(uid);
    }
    v
}

/// Posts `body` signed with `secret` to `url`.
pub fn post_signed(url: &str, secret: &str, body: &[u8]) -> io::Result<Answer> {
    let signature = sign(secret.as_bytes(), body);
    post_with_signature(url, Some(&signature), body)
}

/// Posts `body` with the given signature header (or none) as Cal.com would.
pub fn post_with_signature(url: &str, signature: Option<&str>, body: &[u8]) -> io::Result<Answer> {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(sig) = signature {
        headers.push((SIGNATURE_HEADER, sig));
    }
    http::send("POST", url, &headers, body.to_vec())
}
