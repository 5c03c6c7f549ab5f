//! The Cal.com delivery envelope: `{"triggerEvent", "createdAt", "payload"}`, read *after* the
//! signature was verified over the raw bytes.
//!
//! Only `triggerEvent` is required of every body (some triggers send flat bodies without `payload`
//! or `createdAt`). Booking triggers also need a `payload` object with a `uid`.

use serde::de::MapAccess;
use std::fmt::Write as _;

use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::contract::message::{
    BookingMessage, BookingTrigger, MAX_MESSAGE_BYTES, MESSAGE_VERSION,
};
use crate::ingress::payload::json_object::{read_object, set_once, skip_value, ObjectReader};
use crate::ingress::payload::{self, CalPayload, Limits};
use crate::text::hex_lower;

/// The dashboard's "Ping test" trigger (not in Cal.com's trigger enum).
pub const PING: &str = "PING";

/// What a verified delivery asks of us.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Cal.com's "Ping test": answer OK, send nothing.
    Ping,
    /// A trigger we do not email about (known or new): answer OK, send nothing.
    Ignored { trigger: String },
    /// A booking notification to queue.
    Booking(Box<BookingMessage>),
}

/// Why a verified body is not a Cal.com delivery we can use. Each is a 400 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    NotUtf8,
    /// Not JSON at all (e.g. a custom payload template's form text).
    NotJson,
    /// JSON, but not an object (e.g. a template that renders `false`).
    NotAnObject {
        found: &'static str,
    },
    /// Nested deeper than the JSON parser allows.
    TooDeep,
    /// A JSON object we still cannot read (e.g. a duplicated key); `detail` names the problem.
    Unreadable {
        detail: String,
    },
    MissingTrigger,
    /// A booking trigger without a `payload` object.
    MissingPayload {
        trigger: BookingTrigger,
    },
    /// A booking trigger whose payload has no usable `uid`.
    MissingUid {
        trigger: BookingTrigger,
    },
}

impl BodyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotUtf8 => "body_not_utf8",
            Self::NotJson => "body_not_json",
            Self::NotAnObject { .. } => "body_not_an_object",
            Self::TooDeep => "body_too_deep",
            Self::Unreadable { .. } => "body_unreadable",
            Self::MissingTrigger => "missing_trigger_event",
            Self::MissingPayload { .. } => "missing_payload",
            Self::MissingUid { .. } => "missing_payload_uid",
        }
    }

    pub fn message(&self) -> String {
        const TEMPLATE_HINT: &str = "If the Cal.com webhook has a custom payload template, clear it: this endpoint reads Cal.com's default JSON body.";
        match self {
            Self::NotUtf8 => "The body is not valid UTF-8 JSON.".to_owned(),
            Self::NotJson => format!("The body is not JSON. {TEMPLATE_HINT}"),
            Self::NotAnObject { found } => {
                format!(
                    "The body is JSON {found}, not an object with a triggerEvent. {TEMPLATE_HINT}"
                )
            }
            Self::TooDeep => "The body is nested too deeply to be a Cal.com webhook.".to_owned(),
            Self::Unreadable { detail } => {
                format!("The body cannot be read as a Cal.com webhook: {detail}.")
            }
            Self::MissingTrigger => format!("The body has no string triggerEvent. {TEMPLATE_HINT}"),
            Self::MissingPayload { trigger } => format!("{trigger} needs a payload object."),
            Self::MissingUid { trigger } => {
                format!("{trigger} needs payload.uid (the booking's uid).")
            }
        }
    }
}

/// The envelope's fields; any other key is skipped, a repeated one refused.
#[derive(Default)]
struct Envelope<'a> {
    trigger: Option<Value>,
    created_at: Option<Value>,
    payload: Option<Option<&'a RawValue>>,
}

impl<'de: 'a, 'a> ObjectReader<'de> for Envelope<'a> {
    type Output = Self;

    fn entry<A: MapAccess<'de>>(&mut self, key: String, map: &mut A) -> Result<(), A::Error> {
        match key.as_str() {
            "triggerEvent" => set_once(&mut self.trigger, map.next_value()?, "triggerEvent"),
            "createdAt" => set_once(&mut self.created_at, map.next_value()?, "createdAt"),
            "payload" => set_once(&mut self.payload, map.next_value()?, "payload"),
            _ => skip_value(map),
        }
    }

    fn finish<E: serde::de::Error>(self) -> Result<Self, E> {
        Ok(self)
    }
}

impl<'a> Envelope<'a> {
    fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let envelope = read_object(&mut de, Envelope::default())?;
        de.end()?;
        Ok(envelope)
    }
}

/// Reads a verified body. `received_at` is the producer's clock (RFC 3339) for the message.
pub fn parse_delivery(body: &[u8], received_at: &str) -> Result<Delivery, BodyError> {
    parse_delivery_for_queue(body, received_at).map(|(delivery, _)| delivery)
}

/// [`parse_delivery`], plus a booking message's JSON as it goes on the queue: serialized once,
/// while fitting it into [`MAX_MESSAGE_BYTES`].
pub fn parse_delivery_for_queue(
    body: &[u8],
    received_at: &str,
) -> Result<(Delivery, Option<String>), BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    let repaired = replace_lone_surrogates(text);
    let text = repaired.as_deref().unwrap_or(text);
    let envelope = Envelope::parse(text).map_err(|e| describe_json_error(text, &e))?;
    let Some(trigger) = envelope
        .trigger
        .as_ref()
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(BodyError::MissingTrigger);
    };
    if trigger == PING {
        return Ok((Delivery::Ping, None));
    }
    let Some(booking_trigger) = BookingTrigger::from_calcom(trigger) else {
        // Echoed in the answer and logs: keep a hostile trigger name short.
        let trigger = crate::text::truncate_bytes(trigger, 64).0;
        return Ok((Delivery::Ignored { trigger }, None));
    };

    let raw_payload = envelope
        .payload
        .flatten()
        .filter(|raw| raw.get().starts_with('{'))
        .ok_or(BodyError::MissingPayload {
            trigger: booking_trigger,
        })?;
    let payload = CalPayload::parse(raw_payload.get())
        .map_err(|e| describe_json_error(raw_payload.get(), &e))?;
    let uid = payload.uid().ok_or(BodyError::MissingUid {
        trigger: booking_trigger,
    })?;

    let key = payload_key(booking_trigger, payload.value());
    let sent_at = envelope.created_at.as_ref().and_then(payload::text);
    let (message, json) = build_message(&payload, &uid, booking_trigger, key, received_at, sent_at);
    Ok((Delivery::Booking(Box::new(message)), Some(json)))
}

/// Hashes the trigger and the payload (canonical JSON, see [`canonical_json`]). A repeat of one
/// delivery (Cal.com's queued retry, a proxy) carries the same payload, so it gets the same key
/// even when `createdAt` differs or a proxy re-encoded the JSON; a new seat on a seated event changes the attendee list, and a confirmation
/// (`BOOKING_REQUESTED` → `BOOKING_CREATED`) changes the trigger, so those get new keys.
pub fn idempotency_key(trigger: BookingTrigger, raw_payload: &str) -> String {
    key_of(trigger, |h| h.update(raw_payload.as_bytes()))
}

/// [`idempotency_key`] of a parsed payload, in its canonical form: streamed into the hash, never
/// built as a string (bit-identical to hashing the text of [`write_canonical`]).
fn payload_key(trigger: BookingTrigger, payload: &Value) -> String {
    key_of(trigger, |h| write_canonical(payload, h))
}

fn key_of(trigger: BookingTrigger, payload: impl FnOnce(&mut Sha256)) -> String {
    let mut h = Sha256::new();
    h.update(b"calcom-delivery/v1\n");
    h.update(trigger.as_str().as_bytes());
    h.update(b"\n");
    payload(&mut h);
    let digest = h.finalize();
    // 128 bits: collision-free for any realistic volume, and short enough to read in logs.
    hex_lower(&digest[..16])
}

/// Writes compact JSON with object keys sorted into the hash, so key order and white space (a
/// proxy re-encoding the body) do not change the idempotency key. Sorted explicitly rather than
/// relying on serde_json's map order, which a feature elsewhere in the build could change.
/// Every string and scalar is written exactly as `Value::to_string` writes it.
fn write_canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                write_string(k, h);
                h.update(b":");
                write_canonical(v, h);
            }
            h.update(b"}");
        }
        Value::Array(items) => {
            h.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                write_canonical(v, h);
            }
            h.update(b"]");
        }
        Value::String(s) => write_string(s, h),
        // Through `Display`, the formatter `to_string` used (no second copy of serde_json's
        // writer in the module). Writing to a hash cannot fail.
        scalar => {
            let _ = write!(HashWriter(h), "{scalar}");
        }
    }
}

/// A JSON string as serde_json writes it. Most need no escape (serde_json escapes only `"`, `\`
/// and control characters), and go straight into the hash.
fn write_string(s: &str, h: &mut Sha256) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let _ = write!(HashWriter(h), "{}", Value::from(s));
        return;
    }
    h.update(b"\"");
    h.update(s.as_bytes());
    h.update(b"\"");
}

/// A `fmt::Write` that feeds a hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Fills the message at the most generous size limits that keep it under
/// [`MAX_MESSAGE_BYTES`]; returns it with its JSON.
fn build_message(
    payload: &CalPayload,
    uid: &str,
    trigger: BookingTrigger,
    key: String,
    received_at: &str,
    sent_at: Option<String>,
) -> (BookingMessage, String) {
    let mut message = BookingMessage {
        v: MESSAGE_VERSION,
        key,
        trigger,
        received_at: received_at.to_owned(),
        sent_at: sent_at.map(|s| crate::text::truncate_bytes(&s, 64).0),
        booking: Default::default(),
    };
    let mut json = String::new();
    for limits in Limits::LEVELS {
        message.booking = payload::extract(payload, uid, &limits);
        json = message.to_json();
        if json.len() <= MAX_MESSAGE_BYTES {
            break;
        }
    }
    (message, json)
}

/// JavaScript's `JSON.stringify` writes a lone UTF-16 surrogate (`\ud83d`, from a string cut in
/// the middle of an emoji) as an escape that serde_json refuses. Cal.com does not retry, so such a
/// booking would be lost: replace each lone surrogate escape with U+FFFD (`\ufffd`) before
/// parsing. Runs after the signature check, on a copy; `None` when there is nothing to repair.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    if !text.contains("\\u") {
        return None;
    }
    let bytes = text.as_bytes();
    let surrogate_at = |i: usize| -> Option<u16> {
        let hex = bytes.get(i + 2..i + 6)?;
        if bytes.get(i) != Some(&b'\\') || bytes.get(i + 1) != Some(&b'u') {
            return None;
        }
        let unit = u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        (0xD800..=0xDFFF).contains(&unit).then_some(unit)
    };
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match surrogate_at(i) {
            // A high surrogate followed by a low one is a valid pair: keep both.
            Some(0xD800..=0xDBFF) if surrogate_at(i + 6).is_some_and(|low| low >= 0xDC00) => {
                i += 12
            }
            Some(_) => {
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                changed = true;
                i += 6;
                copied = i;
            }
            // Any other escape (`\\`, `\"`, `\n`, `\u0041` …): skip the escaped character.
            None => i += 2,
        }
    }
    changed.then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Names what is wrong with text that did not parse as we need. On a well-formed object the only
/// errors our readers raise are their own short ones (a repeated field, see
/// `json_object::set_once`), so those are passed on with their position.
fn describe_json_error(text: &str, error: &serde_json::Error) -> BodyError {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => BodyError::Unreadable {
            detail: error.to_string(),
        },
        Err(_) if nesting_exceeds(text, MAX_JSON_DEPTH) => BodyError::TooDeep,
        Ok(v) => BodyError::NotAnObject {
            found: json_kind(&v),
        },
        Err(_) => BodyError::NotJson,
    }
}

/// serde_json's recursion limit.
const MAX_JSON_DEPTH: usize = 128;

/// Whether arrays and objects nest deeper than `limit` (brackets inside strings do not count).
fn nesting_exceeds(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
