//! The forwarded delivery, message `"v": 2`: Cal.com's verified body as it came, in a JSON
//! string, with the producer's clock:
//!
//! `{"v":2,"received_at":"2026-12-02T10:00:00.000Z","delivery":"{\"triggerEvent\":…}"}`
//!
//! The producer writes it for every booking whose body fits ([`fits`]): it checks the body
//! (`contract::calcom::envelope::booking_head`) and leaves the key and the booking to the consumer, which
//! reads them with the producer's own reader ([`read`]), so a forwarded body becomes the very
//! [`BookingMessage`] (key, booking, `received_at`) the producer would have written as `v: 1`.
//! Why: reading the body into a tree, its canonical form and the key's SHA-256 were most of the
//! producer's CPU, and the producer answers Cal.com while it waits (docs/PERFORMANCE.md).
//!
//! The body travels as a string, not as an object, so every reader that passes a message through
//! `serde_json::Value` (the dead-letter wrapper, the replay worker, `dlq-drain.mjs`) keeps it byte
//! for byte: a `Value` would sort its keys, and the email shows the form's answers in the order
//! Cal.com sent them.

use serde_json::Value;

use crate::contract::calcom::envelope::{parse_delivery, Delivery};
use crate::contract::decode::UndecodableReason;
use crate::contract::message::{BookingMessage, MAX_MESSAGE_BYTES};

/// The version of a forwarded delivery.
pub const FORWARD_VERSION: u32 = 2;

/// The body's share kept for its escapes when sizing the message: a real delivery (2–5 KB,
/// a quote every seven bytes or so) needs about an eighth.
const ESCAPE_ROOM: usize = 8;

/// Whether a body of `len` bytes is forwarded: its message stays within [`MAX_MESSAGE_BYTES`]
/// even if every byte needed a two-byte escape, the most a JSON text can need (a control
/// character, escaped in six, is JSON only as `\t`, `\n` or `\r` white space). A larger body
/// goes as `v: 1`, whose booking is cut to fit.
pub fn fits(len: usize) -> bool {
    len.saturating_mul(2) + 128 <= MAX_MESSAGE_BYTES
}

/// The message for a verified `body` (UTF-8, checked by the caller) that arrived at `received_at`.
pub fn write(received_at: &str, body: &str) -> String {
    let mut out = Vec::with_capacity(body.len() + body.len() / ESCAPE_ROOM + 80);
    out.extend_from_slice(b"{\"v\":2,\"received_at\":");
    push_json_string(&mut out, received_at);
    out.extend_from_slice(b",\"delivery\":");
    push_json_string(&mut out, body);
    out.push(b'}');
    // UTF-8 from `&str`s, ASCII around and inside escapes.
    String::from_utf8(out).unwrap_or_default()
}

/// `text` as a JSON string, escaped as serde_json escapes it. A JSON body has a quote every few
/// bytes: runs between escapes are found with a table and copied whole. The consumer's writer
/// (`delivery::sendgrid::json_string`) tests sixteen bytes at a time, made for HTML and text with
/// an escape every few dozen; on a Cal.com body it costs the producer 85 k instructions where
/// this costs 72 k (natively, `PROFILE_FORM=forward profile_accept`), so each keeps its own.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.push(b'"');
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        let letter = ESCAPE[usize::from(bytes[i])];
        if letter == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        if letter == b'u' {
            let byte = usize::from(bytes[i]);
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[byte >> 4], HEX[byte & 15]]);
        } else {
            out.extend_from_slice(&[b'\\', letter]);
        }
        i += 1;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Per byte, the letter after the backslash of its escape (`u` for `\u00XX`), or 0 for none.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether a `v: 2` message's fields have the right shape: `received_at` and `delivery` non-empty
/// strings. What it says is only checked by [`read`].
pub fn is_well_formed(map: &serde_json::Map<String, Value>) -> bool {
    let text = |name| {
        map.get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    text("received_at") && text("delivery")
}

/// The booking message a `v: 2` message stands for, read as the producer reads a webhook body.
pub fn read(map: &serde_json::Map<String, Value>) -> Result<BookingMessage, UndecodableReason> {
    let field = |name| map.get(name).and_then(Value::as_str).unwrap_or_default();
    booking_of(field("delivery").as_bytes(), field("received_at"))
}

/// [`read`] of a message exactly as [`write`] wrote it, without a `serde_json::Value` in
/// between; `None` for any other text (re-encoded, pasted, another version), which the general
/// reader takes. On a real delivery it halves the consumer's reading of the envelope
/// (docs/PERFORMANCE.md).
pub fn read_written(text: &str) -> Option<Result<BookingMessage, UndecodableReason>> {
    let rest = text.strip_prefix("{\"v\":2,\"received_at\":\"")?;
    let (received_at, rest) = rest.split_once('"')?;
    if received_at.is_empty() || received_at.contains('\\') {
        return None;
    }
    let escaped = rest.strip_prefix(",\"delivery\":\"")?.strip_suffix("\"}")?;
    let delivery = unescape(escaped)?;
    if delivery.is_empty() {
        return None;
    }
    Some(booking_of(delivery.as_bytes(), received_at))
}

/// The text of a JSON string's inside with [`push_json_string`]'s escapes; `None` for an
/// unescaped quote or control character, or an escape it does not write.
fn unescape(escaped: &str) -> Option<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    // Runs between escapes are found with the writer's table and copied whole.
    while let Some(run) = bytes[i..].iter().position(|&b| ESCAPE[usize::from(b)] != 0) {
        let at = i + run;
        out.extend_from_slice(&bytes[i..at]);
        if bytes[at] != b'\\' {
            return None;
        }
        let letter = *bytes.get(at + 1)?;
        let (byte, len) = match letter {
            b'"' | b'\\' => (letter, 2),
            b'b' => (0x08, 2),
            b't' => (b'\t', 2),
            b'n' => (b'\n', 2),
            b'f' => (0x0c, 2),
            b'r' => (b'\r', 2),
            b'u' => (control(bytes.get(at + 2..at + 6)?)?, 6),
            _ => return None,
        };
        out.push(byte);
        i = at + len;
    }
    out.extend_from_slice(&bytes[i..]);
    // Escapes are ASCII and the runs between them whole UTF-8 of a `&str`.
    String::from_utf8(out).ok()
}

/// The control character of `00XX` (lowercase hex, as written).
fn control(hex: &[u8]) -> Option<u8> {
    let digit = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    match hex {
        [b'0', b'0', high, low] => {
            let byte = digit(*high)? << 4 | digit(*low)?;
            (byte < 0x20).then_some(byte)
        }
        _ => None,
    }
}

fn booking_of(delivery: &[u8], received_at: &str) -> Result<BookingMessage, UndecodableReason> {
    let invalid = |detail: String| UndecodableReason::Invalid { detail };
    match parse_delivery(delivery, received_at) {
        Ok(Delivery::Booking(message)) => Ok(*message),
        Ok(Delivery::Ping) => Err(invalid("the delivery is a ping, not a booking".to_owned())),
        Ok(Delivery::Ignored { trigger }) => Err(invalid(format!(
            "the delivery's trigger {trigger} is not one this consumer emails about"
        ))),
        Err(e) => Err(invalid(format!("the delivery: {}", e.message()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_goes_whole_in_a_string_and_reads_back_as_written() {
        let body = "{\"triggerEvent\": \"BOOKING_CREATED\",\n \"a\\\"b\": \"é\"}";
        let message = write("2026-12-02T10:00:00.000Z", body);
        assert!(message.starts_with("{\"v\":2,\"received_at\":\"2026-12-02T10:00:00.000Z\","));
        let value: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(value["delivery"].as_str(), Some(body));
        assert!(is_well_formed(value.as_object().unwrap()));
    }

    #[test]
    fn the_written_form_reads_as_the_general_reader_reads_it() {
        let sample = include_str!("../../../samples/booking-created.json");
        let delivery: Value = serde_json::from_str(sample).unwrap();
        let all: String = (0u8..0x80).map(char::from).chain("é€😀".chars()).collect();
        let mut bodies = vec![
            serde_json::to_string(&delivery).unwrap(),
            sample.to_owned(),
            "{\"triggerEvent\":\"PING\"}".to_owned(),
            "not json".to_owned(),
        ];
        let mut odd = delivery.clone();
        odd["payload"]["additionalNotes"] = all.into();
        bodies.push(serde_json::to_string(&odd).unwrap());
        for body in bodies {
            let message = write("2026-12-02T10:00:00.000Z", &body);
            let general = crate::contract::decode::decode_message(&Value::String(message.clone()));
            assert_eq!(read_written(&message), Some(general), "{body}");
        }
    }

    #[test]
    fn any_other_text_is_left_to_the_general_reader() {
        let body = serde_json::to_string(include_str!("../../../samples/booking-created.json"));
        let delivery = body.unwrap();
        for text in [
            // Re-encoded: spaces, another key order, an escape the writer does not use.
            format!("{{\"v\": 2, \"received_at\": \"2026-12-02T10:00:00.000Z\", \"delivery\": {delivery}}}"),
            format!("{{\"v\":2,\"delivery\":{delivery},\"received_at\":\"2026-12-02T10:00:00.000Z\"}}"),
            "{\"v\":2,\"received_at\":\"x\",\"delivery\":\"\\/\"}".to_owned(),
            "{\"v\":2,\"received_at\":\"x\",\"delivery\":\"\\u0041\"}".to_owned(),
            "{\"v\":2,\"received_at\":\"x\",\"delivery\":\"a\"b\"}".to_owned(),
            "{\"v\":2,\"received_at\":\"x\",\"delivery\":\"\"}".to_owned(),
            "{\"v\":2,\"received_at\":\"x\",\"delivery\":\"{}\"} ".to_owned(),
            "{\"v\":1}".to_owned(),
        ] {
            assert_eq!(read_written(&text), None, "{text}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0u8..0x80).map(char::from).chain("é€😀".chars()).collect();
        for text in ["", "plain", "\"quoted\" \\ back", all.as_str()] {
            let mut out = Vec::new();
            push_json_string(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn a_body_is_forwarded_only_while_its_escaped_message_stays_within_the_cap() {
        let most = (MAX_MESSAGE_BYTES - 128) / 2;
        assert!(fits(5 * 1024));
        assert!(fits(most));
        assert!(!fits(most + 1));
        // The worst a JSON body can need: a two-byte escape for every byte.
        let worst = format!("{{\"{}\":1}}", "\\\"".repeat(most / 2 - 4));
        assert!(worst.len() <= most);
        assert!(write("2026-12-02T10:00:00.000Z", &worst).len() <= MAX_MESSAGE_BYTES);
    }
}
