//! The Cal.com delivery envelope: `{"triggerEvent", "createdAt", "payload"}`, read *after* the
//! signature was verified over the raw bytes.
//!
//! Only `triggerEvent` is required of every body (some triggers send flat bodies without `payload`
//! or `createdAt`). Booking triggers also need a `payload` object with a `uid`.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::contract::calcom::json::{number_text, Json, JsonError, JsonStr, Parser, MAX_LEVELS};
use crate::contract::calcom::payload::{self, CalPayload, Limits, Repeated};
use crate::contract::message::{
    BookingMessage, BookingTrigger, MAX_MESSAGE_BYTES, MESSAGE_VERSION,
};
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
    trigger: Option<Json<'a>>,
    created_at: Option<Json<'a>>,
    payload: Option<Json<'a>>,
}

/// Why an envelope could not be read.
enum ReadError<'a> {
    Json(JsonError),
    /// A field that may appear once appeared again (its second key).
    Repeated(&'static str, JsonStr<'a>),
}

impl From<JsonError> for ReadError<'_> {
    fn from(e: JsonError) -> Self {
        Self::Json(e)
    }
}

impl<'a> Envelope<'a> {
    /// Reads the body's object in one pass: the three fields into trees, every other value
    /// checked and skipped.
    fn read(text: &'a str) -> Result<Self, BodyError> {
        let mut parser = Parser::new(text);
        if parser.peek() != Some(b'{') {
            return Err(not_an_envelope(text));
        }
        let mut envelope = Envelope::default();
        parser
            .object(|p, key| envelope.entry(p, key))
            .and_then(|()| Ok(parser.end()?))
            .map_err(|e| read_error(text, e))?;
        Ok(envelope)
    }

    fn entry(&mut self, p: &mut Parser<'a>, key: JsonStr<'a>) -> Result<(), ReadError<'a>> {
        // Levels as serde_json counted them: the payload was read on its own, the other two
        // inside the envelope's object.
        let (slot, field, levels) = if key.is("triggerEvent") {
            (&mut self.trigger, "triggerEvent", MAX_LEVELS - 1)
        } else if key.is("createdAt") {
            (&mut self.created_at, "createdAt", MAX_LEVELS - 1)
        } else if key.is("payload") {
            (&mut self.payload, "payload", MAX_LEVELS)
        } else {
            return Ok(p.skip_value()?);
        };
        let value = p.value(levels)?;
        if slot.is_some() {
            return Err(ReadError::Repeated(field, key));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// A delivery as read for the queue.
#[derive(Debug)]
pub struct ForQueue {
    pub delivery: Delivery,
    /// A booking message's JSON as it goes on the queue: serialized once, while fitting it into
    /// [`MAX_MESSAGE_BYTES`].
    pub json: Option<String>,
}

/// Reads a verified body. `received_at` is the producer's clock (RFC 3339) for the message.
pub fn parse_delivery(body: &[u8], received_at: &str) -> Result<Delivery, BodyError> {
    parse_delivery_for_queue(body, received_at).map(|read| read.delivery)
}

/// [`parse_delivery`], plus a booking message's JSON as it goes on the queue.
pub fn parse_delivery_for_queue(body: &[u8], received_at: &str) -> Result<ForQueue, BodyError> {
    let answer = |delivery| ForQueue {
        delivery,
        json: None,
    };
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    let repaired = replace_lone_surrogates(text);
    let text = repaired.as_deref().unwrap_or(text);
    let envelope = Envelope::read(text)?;
    let trigger_text = match &envelope.trigger {
        Some(Json::String(s)) => s.text(),
        _ => Cow::Borrowed(""),
    };
    let trigger = trigger_text.trim();
    if trigger.is_empty() {
        return Err(BodyError::MissingTrigger);
    }
    if trigger == PING {
        return Ok(answer(Delivery::Ping));
    }
    let Some(booking_trigger) = BookingTrigger::from_calcom(trigger) else {
        // Echoed in the answer and logs: keep a hostile trigger name short.
        let trigger = crate::text::truncate_bytes(trigger, 64).0;
        return Ok(answer(Delivery::Ignored { trigger }));
    };

    let missing_payload = BodyError::MissingPayload {
        trigger: booking_trigger,
    };
    let payload = match envelope.payload {
        Some(payload @ Json::Object(_)) => CalPayload::new(payload)
            .map_err(|Repeated { field, key }| read_error(text, ReadError::Repeated(field, key)))?,
        _ => return Err(missing_payload),
    };
    let uid = payload.uid().ok_or(BodyError::MissingUid {
        trigger: booking_trigger,
    })?;
    let key = payload_key(booking_trigger, payload.value());
    let sent_at = envelope.created_at.as_ref().and_then(payload::text);
    let (message, json) = build_message(&payload, &uid, booking_trigger, key, received_at, sent_at);
    Ok(ForQueue {
        delivery: Delivery::Booking(Box::new(message)),
        json: Some(json),
    })
}

/// A body that [`parse_delivery`] reads as a booking, told without building its tree, the key
/// or the message: its text, trigger and uid, what the producer needs to forward it whole
/// (`contract::forward`). `None` for anything else (a ping, an ignored trigger, a body with a
/// problem, a uid written with escapes): [`parse_delivery`] then reads it and says what it is.
/// It refuses what [`parse_delivery`] refuses, by the same reader's checks
/// ([`Parser::check_value`] where that reads a tree); `check_forward` in `fuzz/targets.rs` holds
/// the two to the same answers. A lone surrogate elsewhere in the body is left to the consumer's
/// reading, which repairs it as [`parse_delivery`] does.
pub fn booking_head(body: &[u8]) -> Option<(&str, BookingTrigger, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut parser = Parser::new(text);
    if parser.peek() != Some(b'{') {
        return None;
    }
    let mut head = Head::default();
    parser.object(|p, key| head.entry(p, key)).ok()?;
    parser.end().ok()?;
    let trigger = match &head.trigger {
        Some(Json::String(s)) => BookingTrigger::from_calcom(s.text().trim())?,
        _ => return None,
    };
    // The uid as `parse_delivery` reads it after repairing lone surrogates: the same when it
    // has no escape.
    let uid = match head.uid? {
        Json::String(s) if !s.is_plain() => return None,
        uid => payload::text(&uid)?,
    };
    Some((text, trigger, uid))
}

/// What [`booking_head`] keeps of an envelope: the trigger, the payload's uid, and which of
/// the fields that may appear once it has seen.
#[derive(Default)]
struct Head<'a> {
    trigger: Option<Json<'a>>,
    created_at: bool,
    payload: bool,
    uid: Option<Json<'a>>,
    responses: bool,
}

/// Anything [`booking_head`] leaves to [`parse_delivery`].
struct NotPlain;

impl From<JsonError> for NotPlain {
    fn from(_: JsonError) -> Self {
        NotPlain
    }
}

/// Marks a field that may appear once as seen; a second one is [`NotPlain`].
fn once(seen: &mut bool) -> Result<(), NotPlain> {
    if std::mem::replace(seen, true) {
        return Err(NotPlain);
    }
    Ok(())
}

impl<'a> Head<'a> {
    /// As [`Envelope::entry`], with the payload's entries checked instead of read into a tree.
    fn entry(&mut self, p: &mut Parser<'a>, key: JsonStr<'a>) -> Result<(), NotPlain> {
        if key.is("triggerEvent") {
            if self.trigger.is_some() {
                return Err(NotPlain);
            }
            self.trigger = Some(p.value(MAX_LEVELS - 1)?);
        } else if key.is("createdAt") {
            once(&mut self.created_at)?;
            p.check_value(MAX_LEVELS - 1)?;
        } else if key.is("payload") {
            once(&mut self.payload)?;
            if p.peek() != Some(b'{') {
                return Err(NotPlain);
            }
            p.object(|p, key| self.payload_entry(p, key))?;
        } else {
            p.skip_value()?;
        }
        Ok(())
    }

    /// One entry of the payload, at the depth [`Envelope::read`] reads it with.
    fn payload_entry(&mut self, p: &mut Parser<'a>, key: JsonStr<'a>) -> Result<(), NotPlain> {
        if key.is("uid") {
            if self.uid.is_some() {
                return Err(NotPlain);
            }
            self.uid = Some(p.value(MAX_LEVELS - 1)?);
            return Ok(());
        }
        if key.is("responses") {
            once(&mut self.responses)?;
        }
        Ok(p.check_value(MAX_LEVELS - 1)?)
    }
}

/// Hashes the trigger and the payload's text as given. The producer hashes the payload's
/// canonical form ([`payload_key`], see `write_canonical`): a repeat of one delivery (Cal.com's
/// queued retry, a proxy) carries the same payload, so it gets the same key even when `createdAt`
/// differs or a proxy re-encoded the JSON; a new seat on a seated event changes the attendee
/// list, and a confirmation (`BOOKING_REQUESTED` → `BOOKING_CREATED`) changes the trigger, so
/// those get new keys.
pub fn idempotency_key(trigger: BookingTrigger, raw_payload: &str) -> String {
    let mut prefix = Vec::with_capacity(40);
    key_prefix(&mut prefix, trigger);
    let digest = Sha256::new()
        .chain_update(&prefix)
        .chain_update(raw_payload)
        .finalize();
    key_from_digest(&digest)
}

/// [`idempotency_key`] of a parsed payload, in its canonical form (see `Canonical`).
pub fn payload_key(trigger: BookingTrigger, payload: &Json) -> String {
    // A real delivery's canonical form is 2-5 KB: one allocation, no regrowth.
    let mut bytes = Vec::with_capacity(8192);
    key_bytes(&mut bytes, trigger, payload);
    key_from_digest(&Sha256::digest(&bytes))
}

/// What the key hashes, ahead of the payload: the key's version and the trigger.
fn key_prefix(out: &mut Vec<u8>, trigger: BookingTrigger) {
    out.extend_from_slice(b"calcom-delivery/v1\n");
    out.extend_from_slice(trigger.as_str().as_bytes());
    out.push(b'\n');
}

/// Everything [`payload_key`] hashes, into `out`: written whole, then hashed in one pass (not by
/// Web Crypto: measured in workerd, the digest's promise and buffers cost more than SHA-256 in
/// wasm, docs/PERFORMANCE.md). A body is at most 256 KiB, and so is this.
fn key_bytes(out: &mut Vec<u8>, trigger: BookingTrigger, payload: &Json) {
    key_prefix(out, trigger);
    let mut canonical = Canonical {
        out,
        sorting: Vec::new(),
    };
    canonical.value(payload);
}

/// The key from the SHA-256 digest of its bytes: 128 bits, collision-free for any realistic
/// volume, and short enough to read in logs.
fn key_from_digest(digest: &[u8]) -> String {
    hex_lower(&digest[..16])
}

/// Writes compact JSON with object keys sorted, for the key's hash, so key order and white space (a
/// proxy re-encoding the body) do not change the idempotency key. This is the text serde_json
/// writes for the payload read as a `Value` with its keys sorted: a repeated key keeps its last
/// value, every string is written as serde_json escapes it, every number as serde_json reads
/// and writes it (`1E2` → `100.0`). The first ledger rows were keyed by exactly that text, and
/// `shared/tests/key_golden.rs` holds it.
struct Canonical<'t, 'a, 'o> {
    out: &'o mut Vec<u8>,
    /// The entries of the objects being written, each object's sorted by key text, innermost
    /// last: one buffer for the whole walk instead of one per object.
    sorting: Vec<(Cow<'t, str>, &'t (JsonStr<'a>, Json<'a>))>,
}

impl<'t, 'a> Canonical<'t, 'a, '_> {
    fn value(&mut self, v: &'t Json<'a>) {
        match v {
            Json::Object(entries) => self.object(entries),
            Json::Array(items) => {
                self.out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.value(v);
                }
                self.out.push(b']');
            }
            Json::String(s) => self.string(s),
            // The parser refused every number serde_json cannot read.
            Json::Number(n) => {
                let text = number_text(n).unwrap_or(Cow::Borrowed(n));
                self.out.extend_from_slice(text.as_bytes());
            }
            Json::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Null => self.out.extend_from_slice(b"null"),
        }
    }

    fn object(&mut self, entries: &'t [(JsonStr<'a>, Json<'a>)]) {
        let start = self.sorting.len();
        self.sorting
            .extend(entries.iter().map(|entry| (entry.0.text(), entry)));
        // Stable: of a repeated key, the last one written stays last.
        self.sorting[start..].sort_by(|a, b| a.0.cmp(&b.0));
        self.out.push(b'{');
        let mut first = true;
        // Nested objects sort above `end` and leave the buffer as they found it.
        let end = self.sorting.len();
        for i in start..end {
            let (text, entry) = &self.sorting[i];
            if i + 1 < end && self.sorting[i + 1].0 == *text {
                continue;
            }
            let (key, value) = *entry;
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            self.string(key);
            self.out.push(b':');
            self.value(value);
        }
        self.sorting.truncate(start);
        self.out.push(b'}');
    }

    /// A JSON string as serde_json writes it. Most are written without an escape, and
    /// serde_json escapes only `"`, `\\` and control characters: those go in as they are.
    fn string(&mut self, s: &JsonStr) {
        if !s.is_plain() {
            // Writing a string into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut *self.out, &s.text());
            return;
        }
        self.out.push(b'"');
        self.out.extend_from_slice(s.raw().as_bytes());
        self.out.push(b'"');
    }
}

/// Fills the message at the most generous size limits that keep it under
/// [`MAX_MESSAGE_BYTES`]; returns it with its JSON.
pub fn build_message(
    payload: &CalPayload<'_>,
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
    // A byte scan: `str::contains` sets up a two-way search, which costs the producer's request
    // path more than the scan itself for a needle this short.
    if !text.as_bytes().windows(2).any(|pair| pair == b"\\u") {
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

/// Names what is wrong with an envelope that could not be read. A syntax error in text nested
/// too deep is named for the depth, as serde_json did.
fn read_error(text: &str, e: ReadError<'_>) -> BodyError {
    match e {
        ReadError::Json(JsonError::TooDeep) => BodyError::TooDeep,
        ReadError::Json(JsonError::Syntax { .. }) if nesting_exceeds(text, MAX_JSON_DEPTH) => {
            BodyError::TooDeep
        }
        ReadError::Json(JsonError::Syntax { .. }) => BodyError::NotJson,
        ReadError::Repeated(field, key) => {
            // The key is a slice of `text`: its offset is where the second one starts.
            let at = (key.raw().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            let before = &text.as_bytes()[..at.min(text.len())];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let column = before.iter().rev().take_while(|&&b| b != b'\n').count();
            BodyError::Unreadable {
                detail: format!("duplicate field `{field}` at line {line} column {column}"),
            }
        }
    }
}

/// A body that does not start with `{`: JSON of another kind, or not JSON.
fn not_an_envelope(text: &str) -> BodyError {
    let mut parser = Parser::new(text);
    let read = parser
        .value(MAX_LEVELS)
        .and_then(|v| parser.end().map(|()| v));
    match read {
        Ok(v) => BodyError::NotAnObject { found: v.kind() },
        Err(e) => read_error(text, ReadError::Json(e)),
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
