//! `POST /admin/replay`: the way back from the dead-letter queue without dashboard clicks.
//!
//! The operator posts one or many dead-lettered messages (the consumer's wrappers, originals, JSON
//! strings of either, or records from Cloudflare's HTTP pull API, whose `body` is base64 for JSON
//! messages; `scripts/dlq-drain.mjs` posts those), authenticated with
//! `ADMIN_TOKEN`. Each is validated as a message this pipeline can send, unwrapped to its original
//! and put back on `booking-events`; the delivery ledger keeps an already-sent one from being sent
//! twice. The route is disabled while `ADMIN_TOKEN` is unset.
//!
//! The replay worker (`replay/`, `wrangler.replay.toml`) serves it; the producer does not, so its
//! webhook path carries none of this code (its size budget buys speed instead).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::contract::decode::original_message;
use crate::ingress::Reply;

pub const REPLAY_PATH: &str = "/admin/replay";
/// The secret that enables the route.
pub const ADMIN_TOKEN_ENV: &str = "ADMIN_TOKEN";
/// A shorter `ADMIN_TOKEN` keeps the route disabled: it guards a way onto the queue.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// At most this many messages per request (and per queue `sendBatch`).
pub const MAX_REPLAY_MESSAGES: usize = 100;
/// At most this many bytes of message bodies per `sendBatch`: the queue takes 256 KB (262,144
/// bytes) per batch, including about 100 bytes of metadata per message, so 100 messages still fit.
pub const MAX_BATCH_BYTES: usize = 250_000;
/// Largest original we put back: a queue message takes 128 KB, metadata included.
pub const MAX_REPLAY_MESSAGE_BYTES: usize = 128_000;
/// Largest replay body: 100 wrapped messages of up to ~120 KB each, plus JSON framing.
pub const MAX_REPLAY_BODY_BYTES: usize = 13 * 1024 * 1024;

/// The replay worker's one route: `Ok` for `POST /admin/replay` (a trailing slash allowed), else
/// the answer: 405 with `Allow` on the right path, 404 elsewhere.
pub fn route(method: &str, path: &str) -> Result<(), Reply> {
    let path = path.strip_suffix('/').unwrap_or(path);
    match (path, method) {
        (REPLAY_PATH, "POST") => Ok(()),
        (REPLAY_PATH, _) => Err(Reply::method_not_allowed(REPLAY_PATH, "POST", method)),
        _ => Err(Reply::error(
            404,
            "not_found",
            "Nothing here. This worker serves POST /admin/replay only.",
        )),
    }
}

/// A replay body over [`MAX_REPLAY_BODY_BYTES`]: 413.
pub fn body_too_large() -> Reply {
    Reply::error(
        413,
        "body_too_large",
        "Replay at most 100 messages per request.",
    )
}

/// Why the route is disabled, for the operator's log line; `None` when `configured` (the value
/// of `ADMIN_TOKEN`) enables it.
pub fn token_problem(configured: Option<&str>) -> Option<&'static str> {
    let token = configured.map(str::trim).unwrap_or("");
    if token.is_empty() {
        Some("ADMIN_TOKEN is not set")
    } else if token.chars().nth(MIN_ADMIN_TOKEN_CHARS - 1).is_none() {
        Some("ADMIN_TOKEN is shorter than 32 characters: it unlocks nothing (not /admin/replay, not the detail of /healthz)")
    } else {
        None
    }
}

/// Checks `Authorization: Bearer <token>` against the configured token. `configured` is
/// `ADMIN_TOKEN`; unset, blank or shorter than [`MIN_ADMIN_TOKEN_CHARS`], the route is disabled
/// (the answer does not say which: [`token_problem`] tells the log). The SHA-256 digests are
/// compared in constant time, so neither the bytes nor the length of the token leak.
pub fn authorize(configured: Option<&str>, authorization: Option<&str>) -> Result<(), Reply> {
    let token = match (token_problem(configured), configured) {
        (None, Some(token)) => token.trim(),
        _ => {
            return Err(Reply::error(
                404,
                "replay_disabled",
                "The replay endpoint is disabled. Set the ADMIN_TOKEN secret (at least 32 characters) on the replay worker to enable it.",
            ))
        }
    };
    let presented = authorization
        .and_then(|h| h.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let same = Sha256::digest(presented.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(token.as_bytes()).as_slice());
    if bool::from(same) {
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
    /// The originals to send, as JSON text, each with its index in the request.
    pub messages: Vec<(usize, String)>,
    /// `{index, error, message}` for every item that is not a sendable message.
    pub rejected: Vec<Value>,
}

impl ReplayPlan {
    /// The `sendBatch` calls to make: consecutive runs of `messages`, each of at most
    /// [`MAX_REPLAY_MESSAGES`] messages and [`MAX_BATCH_BYTES`] bytes of bodies.
    pub fn batches(&self) -> Vec<std::ops::Range<usize>> {
        let mut batches = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (i, (_, json)) in self.messages.iter().enumerate() {
            if i > start
                && (bytes + json.len() > MAX_BATCH_BYTES || i - start == MAX_REPLAY_MESSAGES)
            {
                batches.push(start..i);
                (start, bytes) = (i, 0);
            }
            bytes += json.len();
        }
        if start < self.messages.len() {
            batches.push(start..self.messages.len());
        }
        batches
    }

    /// The answer once the batches were sent; `unsent` holds the positions in `messages` whose
    /// batch the queue refused. Each item is reported: queued (counted in `replayed`), `rejected`
    /// (not a sendable message: fix it) or `failed` (the queue refused it: send it again).
    /// 200 when something was queued, 503 when the queue refused everything sendable, 400 when
    /// nothing was sendable.
    pub fn reply(&self, unsent: &[usize]) -> Reply {
        let replayed = self.messages.len() - unsent.len();
        let failed: Vec<Value> = unsent
            .iter()
            .map(|&i| json!({"index": self.messages[i].0, "error": "queue_unavailable"}))
            .collect();
        let (status, word) = match (replayed, failed.is_empty()) {
            (0, true) => (400, "error"),
            (0, false) => (503, "error"),
            (_, true) => (200, "replayed"),
            (_, false) => (200, "partial"),
        };
        // Values moved in, not serialized (size budget).
        let mut map = serde_json::Map::new();
        map.insert("status".into(), Value::from(word));
        if status == 503 {
            map.insert("error".into(), Value::from("queue_unavailable"));
        }
        map.insert("replayed".into(), Value::from(replayed));
        map.insert("rejected".into(), Value::Array(self.rejected.clone()));
        map.insert("failed".into(), Value::Array(failed));
        let body = Value::Object(map);
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
        let outcome = outcome.and_then(|original| {
            let json = original.to_string();
            if json.len() > MAX_REPLAY_MESSAGE_BYTES {
                return Err((
                    "message_too_large",
                    "over the queue's 128 KB message limit".to_owned(),
                ));
            }
            Ok(json)
        });
        match outcome {
            Ok(json) => plan.messages.push((index, json)),
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
        match crate::contract::calcom::envelope::parse_delivery(&body, "2026-02-10T17:03:13.000Z")
            .unwrap()
        {
            crate::contract::calcom::envelope::Delivery::Booking(m) => {
                serde_json::to_value(*m).unwrap()
            }
            _ => unreachable!(),
        }
    }

    /// The consumer's wrapper around `original`, as it lands in the DLQ.
    fn dead_letter(original: &Value) -> Value {
        let wrapper = DeadLetter::new(original, "400", Some(400), 1, "2026-01-01T00:00:00Z");
        serde_json::to_value(wrapper).unwrap()
    }

    const TOKEN: &str = "s3cret-token-0123456789abcdefghij"; // 33 characters

    #[test]
    fn the_token_is_required_and_compared_exactly() {
        assert_eq!(authorize(None, Some("Bearer x")).unwrap_err().status, 404);
        assert_eq!(
            authorize(Some("  "), Some("Bearer ")).unwrap_err().status,
            404
        );
        assert_eq!(authorize(Some(TOKEN), None).unwrap_err().status, 401);
        let short_by_one = &TOKEN[..TOKEN.len() - 1];
        for (header, status) in [
            (format!("Bearer {short_by_one}"), 401),
            (format!("Bearer {TOKEN}x"), 401),
            (format!("Basic {TOKEN}"), 401),
            ("Bearer ".to_owned(), 401),
            (format!("Bearer {TOKEN}"), 200),
            (format!("  Bearer  {TOKEN} "), 200),
        ] {
            let got = authorize(Some(TOKEN), Some(&header)).map_or_else(|r| r.status, |()| 200);
            assert_eq!(got, status, "{header:?}");
        }
        let refused = authorize(Some(TOKEN), Some("Bearer wrong")).unwrap_err();
        assert!(
            !refused.body_text().contains("s3cret"),
            "{}",
            refused.body_text()
        );
    }

    #[test]
    fn a_short_token_keeps_the_route_disabled_and_says_why() {
        let short = "x".repeat(MIN_ADMIN_TOKEN_CHARS - 1);
        let refused = authorize(Some(&short), Some(&format!("Bearer {short}"))).unwrap_err();
        assert_eq!(
            (refused.status, refused.outcome()),
            (404, "replay_disabled"),
            "even with the right token"
        );
        assert!(!refused.body_text().contains(&short));
        let why = token_problem(Some(&short)).unwrap();
        assert!(why.contains("shorter than 32 characters"), "{why}");
        assert!(!why.contains(&short), "{why}");
        assert_eq!(token_problem(None), Some("ADMIN_TOKEN is not set"));
        assert_eq!(token_problem(Some(" \n")), Some("ADMIN_TOKEN is not set"));
        // Characters, not bytes; surrounding white space does not count.
        let long = "é".repeat(MIN_ADMIN_TOKEN_CHARS);
        assert_eq!(token_problem(Some(&format!(" {long} "))), None);
        assert_eq!(
            authorize(Some(&long), Some(&format!("Bearer {long}"))),
            Ok(())
        );
        assert!(token_problem(Some(&"é".repeat(MIN_ADMIN_TOKEN_CHARS - 1))).is_some());
    }

    /// A message with its own key and uid, padded with notes to about `bytes` bytes of JSON.
    fn sized_message(n: usize, bytes: usize) -> Value {
        let mut m = message();
        m["key"] = json!(format!("{n:032x}"));
        m["booking"]["uid"] = json!(format!("replay-{n}"));
        let short = m.to_string().len();
        m["booking"]["notes"] = json!("n".repeat(bytes.saturating_sub(short + 20)));
        m
    }

    #[test]
    fn batches_keep_within_the_queue_limits() {
        // Six messages of ~60 KB: four fit under 250,000 bytes, then the other two.
        let six: Vec<Value> = (0..6).map(|n| sized_message(n, 60_000)).collect();
        let plan = plan_for(json!(six));
        assert_eq!(plan.messages.len(), 6, "{:?}", plan.rejected);
        assert_eq!(plan.batches(), [0..4, 4..6]);
        // 100 small ones: one batch; sizes always within the limits.
        let small: Vec<Value> = (0..100).map(|n| sized_message(n, 600)).collect();
        assert_eq!(plan_for(json!(small)).batches(), vec![(0..100)]);
        let mixed: Vec<Value> = (0..40)
            .map(|n| sized_message(n, [1_000, 120_000, 30_000, 64_000][n % 4]))
            .collect();
        let plan = plan_for(json!(mixed));
        let batches = plan.batches();
        assert_eq!(batches.first().map(|b| b.start), Some(0));
        assert_eq!(batches.last().map(|b| b.end), Some(40));
        for pair in batches.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "consecutive, nothing skipped");
        }
        for b in &batches {
            let bytes: usize = plan.messages[b.clone()].iter().map(|(_, m)| m.len()).sum();
            assert!(
                bytes <= MAX_BATCH_BYTES && b.len() <= MAX_REPLAY_MESSAGES,
                "{b:?}"
            );
            assert!(!b.is_empty());
        }
        assert!(ReplayPlan {
            messages: vec![],
            rejected: vec![]
        }
        .batches()
        .is_empty());
        // One message larger than a queue message may be is rejected, not sent.
        let plan = plan_for(json!([sized_message(1, 130_000), sized_message(2, 1_000)]));
        assert_eq!(plan.messages.len(), 1);
        assert_eq!(plan.rejected[0]["error"], "message_too_large");
    }

    #[test]
    fn each_item_is_reported_queued_rejected_or_failed() {
        let items = json!([sized_message(0, 60_000), {"v": 99}, sized_message(2, 60_000)]);
        let plan = plan_for(items);
        assert_eq!(
            plan.messages.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 2]
        );
        let all = plan.reply(&[]);
        assert_eq!((all.status, all.outcome()), (200, "replayed"));
        assert_eq!(all.body["replayed"], 2);
        assert_eq!(all.body["failed"], json!([]));
        let partial = plan.reply(&[1]);
        assert_eq!((partial.status, partial.outcome()), (200, "partial"));
        assert_eq!(partial.body["replayed"], 1);
        assert_eq!(
            partial.body["failed"][0]["index"], 2,
            "its index in the request"
        );
        assert_eq!(partial.body["failed"][0]["error"], "queue_unavailable");
        assert_eq!(partial.body["rejected"][0]["index"], 1);
        let none = plan.reply(&[0, 1]);
        assert_eq!((none.status, none.outcome()), (503, "queue_unavailable"));
        assert_eq!(none.body["failed"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_key_that_is_not_32_lowercase_hex_is_rejected_without_echo() {
        let mut bad = message();
        bad["key"] = json!("$(rm -rf /)");
        let plan = plan_for(json!([bad, message()]));
        assert_eq!(plan.messages.len(), 1);
        assert_eq!(plan.rejected[0]["error"], "invalid_message");
        let text = plan.reply(&[]).body_text();
        assert!(text.contains("32 lowercase hex"), "{text}");
        assert!(!text.contains("rm -rf"), "{text}");
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
        for (_, m) in &plan.messages {
            let v: Value = serde_json::from_str(m).unwrap();
            assert_eq!(v, message(), "always the original, never the wrapper");
        }
        assert_eq!(plan.reply(&[]).status, 200);
        assert_eq!(plan.reply(&[]).body["replayed"], 5);
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
            (
                none.reply(&[]).status,
                none.reply(&[]).body["status"].as_str()
            ),
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
        for (_, m) in &plan.messages {
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
