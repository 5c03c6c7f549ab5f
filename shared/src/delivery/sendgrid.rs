//! SendGrid v3 Mail Send, as data: the request body for one staff email and what its answer
//! means. The consumer does the HTTP call; everything it decides from is here.
//!
//! - `POST {base}/v3/mail/send` ([`mail_send_url`]) with [`build_request`]'s JSON.
//! - The answer becomes a [`SendResult`] ([`SendResult::from_response`]), which
//!   [`crate::delivery::policy::decide`] turns into ack / retry / dead-letter.

use serde_json::Value;

use crate::contract::message::BookingMessage;
use crate::delivery::email::Email;
use crate::text::{base64_encode_into, is_one_plain_line, mask_email, single_line, truncate_bytes};

/// SendGrid's limit on recipients of one personalization.
pub const MAX_RECIPIENTS: usize = 1000;
/// SendGrid's limit on the bytes of all `custom_args`; we stay well below.
pub const MAX_CUSTOM_ARGS_BYTES: usize = 10_000;
/// Longest display name we send.
const MAX_NAME_CHARS: usize = 100;
/// Longest error summary kept from an error body.
pub const MAX_ERROR_SUMMARY_BYTES: usize = 300;

/// An address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub email: String,
    pub name: Option<String>,
}

/// Who the staff emails come from and go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendgridConfig {
    /// A sender verified in SendGrid.
    pub from: Mailbox,
    /// The staff for every event type without a route (`EMAIL_TO`), in one personalization
    /// (everyone sees the others).
    pub to: Vec<Mailbox>,
    /// Event types whose emails go to their own list instead (`EMAIL_ROUTES`).
    pub routes: Vec<Route>,
}

impl SendgridConfig {
    /// Who gets the email of a booking of event type `slug`: its route's list, else [`Self::to`].
    pub fn recipients(&self, slug: Option<&str>) -> &[Mailbox] {
        slug.map(str::trim)
            .and_then(|slug| {
                self.routes
                    .iter()
                    .find(|r| r.slug.eq_ignore_ascii_case(slug))
            })
            .map_or(&self.to, |r| &r.to)
    }
}

/// The staff for one event type (by its slug, Cal.com's `type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub slug: String,
    pub to: Vec<Mailbox>,
}

/// Parses `EMAIL_ROUTES`: `slug=addresses` entries separated by `;`, each list as in
/// [`parse_recipients`] (comma-separated), e.g. `consultation=alice@example.com;
/// billing=bob@example.com, Carol <carol@example.com>`. Blank entries are skipped; an empty
/// value means no routes. A slug is letters, digits, `-`, `_` or `.`, named once. Errors name the
/// entry by position and slug, with addresses masked.
pub fn parse_routes(raw: &str) -> Result<Vec<Route>, String> {
    let entries = split_outside_quotes(raw, &[';']);
    let total = entries.iter().filter(|e| !e.trim().is_empty()).count();
    let mut routes: Vec<Route> = Vec::new();
    for (i, entry) in entries.iter().filter(|e| !e.trim().is_empty()).enumerate() {
        let at = format!("entry {} of {total}", i + 1);
        let Some((slug, list)) = entry.split_once('=') else {
            return Err(format!(
                "{at} has no '=': write event-type-slug=address, address"
            ));
        };
        let slug = slug.trim();
        if slug.is_empty()
            || !slug
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "{at}: the event type slug must be letters, digits, '-', '_' or '.' (as in the booking page's URL)"
            ));
        }
        if routes.iter().any(|r| r.slug.eq_ignore_ascii_case(slug)) {
            return Err(format!("{at}: \"{slug}\" is routed twice"));
        }
        if list.contains('=') {
            return Err(format!(
                "{at} (\"{slug}\") has a second '=': separate routes with ';'"
            ));
        }
        let to = parse_recipients(list).map_err(|e| format!("{at} (\"{slug}\"): {e}"))?;
        routes.push(Route {
            slug: slug.to_owned(),
            to,
        });
    }
    Ok(routes)
}

/// Parses `a@x.com`, `Staff <b@y.com>`, `"Staff, Front desk" <b@y.com>` or `<b@y.com>`.
/// Errors name the entry with its address masked.
pub fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("empty address".to_owned());
    }
    let (name, email) = match raw.rfind('<') {
        Some(open) => {
            let Some(inner) = raw[open + 1..].strip_suffix('>') else {
                return Err(format!(
                    "\"{}\" has a '<' without a closing '>' at the end",
                    mask_entry(raw)
                ));
            };
            let name = raw[..open].trim().trim_matches('"').trim();
            (
                Some(name).filter(|n| !n.is_empty()).map(str::to_owned),
                inner.trim(),
            )
        }
        None => (None, raw),
    };
    if !is_plausible_email(email) {
        return Err(format!("\"{}\" is not an email address", mask_email(email)));
    }
    Ok(Mailbox {
        email: email.to_owned(),
        name,
    })
}

/// Parses a comma-separated list of mailboxes (commas inside quotes or `<…>` do not split).
/// Blank entries are skipped; repeats of one address (any case) are kept once, because SendGrid
/// rejects a personalization that names an address twice. At least one, at most
/// [`MAX_RECIPIENTS`].
pub fn parse_recipients(raw: &str) -> Result<Vec<Mailbox>, String> {
    let entries = split_outside_quotes(raw, &[',', ';']);
    let total = entries.len();
    let mut out: Vec<Mailbox> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let mailbox =
            parse_mailbox(entry).map_err(|e| format!("recipient {} of {total}: {e}", i + 1))?;
        if !out
            .iter()
            .any(|m| m.email.eq_ignore_ascii_case(&mailbox.email))
        {
            out.push(mailbox);
        }
    }
    if out.is_empty() {
        return Err("no recipients: give at least one email address (comma-separated)".to_owned());
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(format!(
            "{} recipients: SendGrid takes at most {MAX_RECIPIENTS}",
            out.len()
        ));
    }
    Ok(out)
}

/// A conservative check that SendGrid will take `s` as an address: printable ASCII without
/// spaces or the characters that delimit addresses, one `@`, a dotted domain, ≤ 254 bytes.
pub fn is_plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '<' | '>' | ',' | ';' | '"' | '(' | ')' | '[' | ']' | '\\'
                )
        })
}

/// `{base}/v3/mail/send`; `base` is e.g. `https://api.sendgrid.com`, trailing slashes tolerated.
pub fn mail_send_url(base: &str) -> String {
    format!("{}/v3/mail/send", base.trim().trim_end_matches('/'))
}

/// The JSON body of `POST /v3/mail/send` for one staff email: one personalization with the staff
/// of the booking's event type ([`SendgridConfig::recipients`]), `reply_to` the booker (when
/// their address is usable), `content` text/plain then text/html (SendGrid's required order),
/// the calendar invitation as an attachment (type exactly `text/calendar; method=…`, no
/// charset), categories and string-only `custom_args`. Click and open tracking are off: links
/// stay as Cal.com sent them.
pub fn build_request(email: &Email, message: &BookingMessage, config: &SendgridConfig) -> String {
    let parts = email.text.len() + email.html.len();
    let attachment = email
        .calendar
        .as_ref()
        .map_or(0, |i| i.text.len().div_ceil(3) * 4);
    // One buffer, sized for the parts, the attachment and a few escapes: no regrowth.
    let mut out = String::with_capacity(parts + parts / 8 + attachment + 1024);
    // The body is written directly rather than built as a `serde_json::Value` and serialized (a
    // `Value` per field, then a serializer whose escaping at opt-level "z" cost ~30 instructions
    // a byte: more than half of render + build-request). Keys come in the order a `Value` wrote
    // them (serde_json's `Map` without `preserve_order` is sorted), so the bytes SendGrid gets
    // are unchanged; `tests::writer_matches_serde_json` holds the two equal.
    out.push('{');
    if let Some(invitation) = &email.calendar {
        // Base64 needs no JSON escaping.
        out.push_str("\"attachments\":[{\"content\":\"");
        base64_encode_into(&mut out, invitation.text.as_bytes());
        out.push_str("\",\"disposition\":\"attachment\",\"filename\":");
        json_string(&mut out, invitation.filename());
        out.push_str(",\"type\":");
        json_string(&mut out, invitation.content_type());
        out.push_str("}],");
    }
    out.push_str("\"categories\":[\"calcom-booking\"");
    if email.category != "calcom-booking" && !email.category.is_empty() {
        out.push(',');
        json_string(&mut out, email.category);
    }
    out.push_str("],\"content\":[{\"type\":\"text/plain\",\"value\":");
    json_string(&mut out, &email.text);
    out.push_str("},{\"type\":\"text/html\",\"value\":");
    json_string(&mut out, &email.html);
    out.push_str("}],\"custom_args\":");
    write_custom_args(&mut out, message);
    out.push_str(",\"from\":");
    write_mailbox(&mut out, &config.from);
    out.push_str(",\"personalizations\":[{\"to\":[");
    let to = config.recipients(message.booking.event_slug.as_deref());
    for (i, mailbox) in to.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_mailbox(&mut out, mailbox);
    }
    out.push_str("]}]");
    if let Some(reply_to) = reply_to(email) {
        out.push_str(",\"reply_to\":");
        write_mailbox(&mut out, &reply_to);
    }
    out.push_str(",\"subject\":");
    json_string(&mut out, &single_line(&email.subject));
    out.push_str(concat!(
        ",\"tracking_settings\":{\"click_tracking\":{\"enable\":false,\"enable_text\":false},",
        "\"open_tracking\":{\"enable\":false}}}"
    ));
    out
}

/// The booker as `reply_to`, when their address is usable.
fn reply_to(email: &Email) -> Option<Mailbox> {
    let p = email.reply_to.as_ref()?;
    let address = p.email.as_deref()?.trim();
    is_plausible_email(address).then(|| Mailbox {
        email: address.to_owned(),
        name: p.name.clone(),
    })
}

/// `trigger`, `idempotency_key`, `booking_uid` (sorted, as always): strings, together far below
/// SendGrid's limit (the uid is capped).
fn write_custom_args(out: &mut String, message: &BookingMessage) {
    out.push_str("{\"booking_uid\":");
    json_string(out, &truncate_bytes(&message.booking.uid, 1024).0);
    out.push_str(",\"idempotency_key\":");
    json_string(out, &truncate_bytes(&message.key, 256).0);
    out.push_str(",\"trigger\":");
    json_string(out, message.trigger.as_str());
    out.push('}');
}

/// `{"email":…}` or `{"email":…,"name":…}`.
fn write_mailbox(out: &mut String, m: &Mailbox) {
    out.push_str("{\"email\":");
    json_string(out, &m.email);
    if let Some(name) = m.name.as_deref().and_then(clean_name) {
        out.push_str(",\"name\":");
        json_string(out, &name);
    }
    out.push('}');
}

/// `s` as a JSON string, escaped byte for byte as serde_json escapes it: `"` and `\`, the short
/// forms `\b \t \n \f \r`, other control characters below U+0020 as `\u00xx` (lowercase hex);
/// everything else (U+007F and all non-ASCII included) as it is.
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    // Clean text between escapes is copied in one piece, and sixteen bytes are tested at a time:
    // the parts are kilobytes of text with an escape every few dozen bytes (line breaks, HTML
    // attributes), and a byte-at-a-time loop was most of this function's cost.
    let mut run = 0;
    let mut chunks = s.as_bytes().chunks_exact(16);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut marks =
            <[u8; 16]>::try_from(chunk).map_or(0, |w| escape_marks(u128::from_le_bytes(w)));
        while marks != 0 {
            let i = at + marks.trailing_zeros() as usize / 8;
            marks &= marks - 1;
            escape_at(out, s, &mut run, i);
        }
        at += 16;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b < 0x20 || b == b'"' || b == b'\\' {
            escape_at(out, s, &mut run, at + i);
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// The high bit of each of the sixteen bytes of `w` that is below 0x20, `"` or `\`, exactly: each
/// byte is tested on its low seven bits, so no carry crosses into the next byte.
fn escape_marks(w: u128) -> u128 {
    const ONES: u128 = u128::MAX / 0xff;
    const HIGH: u128 = ONES * 0x80;
    let low7 = |v: u128| v & (ONES * 0x7f);
    let below_space = !((low7(w) + ONES * 0x60) | w);
    let zero = |v: u128| !((low7(v) + ONES * 0x7f) | v);
    let quote = zero(w ^ (ONES * u128::from(b'"')));
    let backslash = zero(w ^ (ONES * u128::from(b'\\')));
    (below_space | quote | backslash) & HIGH
}

/// Writes the clean text from `run` up to the byte at `i`, then that byte's escape.
fn escape_at(out: &mut String, s: &str, run: &mut usize, i: usize) {
    // Escaped bytes are ASCII, so the text before them ends on a character boundary.
    out.push_str(&s[*run..i]);
    *run = i + 1;
    push_escape(out, s.as_bytes()[i]);
}

/// The escape of a byte below 0x20, `"` or `\`, as serde_json writes it (`\u00xx` with
/// lowercase hex).
fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(match b {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        0x08 => "\\b",
        0x0c => "\\f",
        _ => {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
            return;
        }
    });
}

/// SendGrid mangles display names containing `,` or `;` (it splits the address on them): replace
/// them, keep one line, cap the length.
fn clean_name(name: &str) -> Option<String> {
    // Printable ASCII words, single-spaced, short enough, without `,` or `;`: kept as they are.
    if !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && is_one_plain_line(name)
        && !name.contains([',', ';'])
    {
        return Some(name.to_owned());
    }
    let replaced: String = name
        .chars()
        .map(|c| if matches!(c, ',' | ';') { ' ' } else { c })
        .collect();
    let one_line = single_line(&replaced);
    let capped: String = one_line.chars().take(MAX_NAME_CHARS).collect();
    let capped = capped.trim().to_owned();
    (!capped.is_empty()).then_some(capped)
}

/// What came of one Mail Send call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// SendGrid answered.
    Status {
        status: u16,
        /// `Retry-After`, as seconds from now.
        retry_after_secs: Option<u64>,
        /// `X-RateLimit-Reset`: unix time when the rate limit resets.
        rate_limit_reset_unix: Option<u64>,
        /// From the error body ([`summarize_error_body`]).
        error_summary: Option<String>,
    },
    /// The request did not complete (DNS, TLS, connection reset …).
    NetworkError(String),
    /// No answer in time. The email may have been sent (SendGrid has no idempotency key).
    Timeout,
}

impl SendResult {
    /// Whether SendGrid took the email (2xx). Its body and retry headers say nothing then, and
    /// the consumer does not read them.
    pub fn is_accepted(status: u16) -> bool {
        (200..300).contains(&status)
    }

    /// Reads an answer: `retry_after` and `rate_limit_reset` are the raw header values, `body` the
    /// response body (empty on success), `now_unix` the current time (for an HTTP-date
    /// `Retry-After`).
    pub fn from_response(
        status: u16,
        retry_after: Option<&str>,
        rate_limit_reset: Option<&str>,
        body: &str,
        now_unix: u64,
    ) -> SendResult {
        let error_summary = if SendResult::is_accepted(status) {
            None
        } else {
            summarize_error_body(body)
        };
        SendResult::Status {
            status,
            retry_after_secs: retry_after.and_then(|v| parse_retry_after(v, now_unix)),
            rate_limit_reset_unix: rate_limit_reset.and_then(parse_rate_limit_reset),
            error_summary,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendResult::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `Retry-After` as seconds from now: delay-seconds, or an HTTP-date (`Sun, 06 Nov 1994
/// 08:49:37 GMT`; a past date is 0).
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = u64::try_from(parse_http_date(value)?).unwrap_or(0);
    Some(at.saturating_sub(now_unix))
}

/// An IMF-fixdate (RFC 9110's preferred HTTP-date) as unix seconds.
fn parse_http_date(value: &str) -> Option<i64> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    // "Sun, 06 Nov 1994 08:49:37 GMT": the weekday is not checked.
    let rest = value.split_once(", ")?.1.as_bytes();
    let mut p = crate::delivery::when::Cursor(rest);
    let day = p.digits(2)?;
    p.expect(b" ")?;
    let month = MONTHS.iter().position(|m| p.0.starts_with(m))? as u32 + 1;
    p.0 = &p.0[3..];
    p.expect(b" ")?;
    let year = p.digits(4)?;
    p.expect(b" ")?;
    let (hour, minute, second) = p.time_of_day(false)?;
    if p.0 != b" GMT" {
        return None;
    }
    crate::delivery::when::unix_seconds(year, month, day, hour, minute, second)
}

/// `X-RateLimit-Reset`: a unix time in seconds.
pub fn parse_rate_limit_reset(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok()
}

/// `field: message; message` from SendGrid's `{"errors":[{"message","field","help"}]}`; for any
/// other non-empty body, its first bytes on one line. At most [`MAX_ERROR_SUMMARY_BYTES`].
pub fn summarize_error_body(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let summary = match parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
    {
        Some(errors) => {
            let parts: Vec<String> = errors.iter().filter_map(describe_error).collect();
            if parts.is_empty() {
                return None;
            }
            parts.join("; ")
        }
        None => single_line(body),
    };
    Some(truncate_bytes(&summary, MAX_ERROR_SUMMARY_BYTES).0)
}

/// One SendGrid error as `field: message`.
fn describe_error(error: &Value) -> Option<String> {
    let text = |k: &str| {
        error
            .get(k)
            .and_then(Value::as_str)
            .map(single_line)
            .filter(|s| !s.is_empty())
    };
    match (text("field"), text("message")) {
        (Some(field), Some(message)) => Some(format!("{field}: {message}")),
        (None, Some(message)) => Some(message),
        (Some(field), None) => Some(format!("{field}: (no message)")),
        (None, None) => None,
    }
}

/// Splits on any of `seps` outside `"…"` and `<…>`.
fn split_outside_quotes(raw: &str, seps: &[char]) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let (mut quoted, mut angle) = (false, false);
    for c in raw.chars() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            c if seps.contains(&c) && !quoted && !angle => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// An entry for an error message: its address masked, its name dropped.
fn mask_entry(entry: &str) -> String {
    match entry.rfind('<') {
        Some(open) => format!("<{}", mask_email(entry[open + 1..].trim_end_matches('>'))),
        None => mask_email(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::message::Person;
    use crate::delivery::email::{render, Email};
    use crate::text::base64_encode;
    use serde_json::{json, Map};

    /// The request as it was built before it was written directly: a `serde_json::Value`,
    /// serialized by serde_json. The oracle for [`build_request`]'s bytes.
    fn build_request_value(
        email: &Email,
        message: &BookingMessage,
        config: &SendgridConfig,
    ) -> String {
        let mailbox_json = |m: &Mailbox| match m.name.as_deref().and_then(clean_name) {
            Some(name) => json!({ "email": m.email, "name": name }),
            None => json!({ "email": m.email }),
        };
        let to: Vec<Value> = config
            .recipients(message.booking.event_slug.as_deref())
            .iter()
            .map(mailbox_json)
            .collect();
        let mut body = Map::new();
        body.insert("personalizations".into(), json!([{ "to": to }]));
        body.insert("from".into(), mailbox_json(&config.from));
        if let Some(reply_to) = reply_to(email) {
            body.insert("reply_to".into(), mailbox_json(&reply_to));
        }
        body.insert("subject".into(), Value::String(single_line(&email.subject)));
        body.insert(
            "content".into(),
            json!([
                { "type": "text/plain", "value": email.text },
                { "type": "text/html", "value": email.html },
            ]),
        );
        if let Some(invitation) = &email.calendar {
            body.insert(
                "attachments".into(),
                json!([{
                    "content": base64_encode(invitation.text.as_bytes()),
                    "filename": invitation.filename(),
                    "type": invitation.content_type(),
                    "disposition": "attachment",
                }]),
            );
        }
        let mut categories = vec!["calcom-booking"];
        if !categories.contains(&email.category) && !email.category.is_empty() {
            categories.push(email.category);
        }
        body.insert("categories".into(), json!(categories));
        body.insert(
            "custom_args".into(),
            json!({
                "trigger": message.trigger.as_str(),
                "idempotency_key": truncate_bytes(&message.key, 256).0,
                "booking_uid": truncate_bytes(&message.booking.uid, 1024).0,
            }),
        );
        body.insert(
            "tracking_settings".into(),
            json!({ "click_tracking": { "enable": false, "enable_text": false }, "open_tracking": { "enable": false } }),
        );
        serde_json::to_string(&Value::Object(body)).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every ASCII byte and some non-ASCII at every offset from a sixteen-byte boundary.
        let bytes: String = (0u8..0x80).map(char::from).collect();
        for offset in 0..17 {
            for tail in ["", "é☃𝄞\u{2028}\u{80}", "\"\\"] {
                let s = format!("{}{bytes}{tail}{}", "x".repeat(offset), "é".repeat(offset));
                let mut out = String::new();
                json_string(&mut out, &s);
                assert_eq!(out, serde_json::to_string(&s).unwrap(), "offset {offset}");
            }
        }
    }

    #[test]
    fn plain_display_names_are_kept_as_cleaned_ones() {
        let oracle = |name: &str| {
            let replaced: String = name
                .chars()
                .map(|c| if matches!(c, ',' | ';') { ' ' } else { c })
                .collect();
            let capped: String = single_line(&replaced)
                .chars()
                .take(MAX_NAME_CHARS)
                .collect();
            let capped = capped.trim().to_owned();
            (!capped.is_empty()).then_some(capped)
        };
        let mut names: Vec<String> = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = names
                .iter()
                .flat_map(|s| ['a', ' ', ',', ';', '\n', 'é'].map(|c| format!("{s}{c}")))
                .collect();
            names.extend(longer);
        }
        for len in [99, 100, 101] {
            names.push("a".repeat(len));
            names.push(format!("{} b", "a".repeat(len - 2)));
        }
        for name in &names {
            assert_eq!(clean_name(name), oracle(name), "{name:?}");
        }
    }

    #[test]
    fn writer_matches_serde_json() {
        // Every byte JSON escapes differently from text, and the characters around them.
        let hostile = "\"q\" \\b\\ </p>&amp; \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}\u{80} ü ☃ 𝄞 \u{202E}\u{2028}";
        let mut config = config();
        config.to.push(Mailbox {
            email: "third@school.example".into(),
            name: Some(format!("Third, {hostile}")),
        });
        config.routes.push(Route {
            slug: "routed".into(),
            to: vec![config.to[1].clone()],
        });
        let mut message = crate::contract::message::fixtures::booking_created();
        for slug in [None, Some("routed")] {
            message.booking.event_slug = slug.map(str::to_owned);
            let mut email = render(&message);
            assert_eq!(
                build_request(&email, &message, &config),
                build_request_value(&email, &message, &config)
            );
            email.subject = format!("S {hostile}");
            email.text = format!("{hostile}{}{hostile}", email.text);
            email.html = format!("{hostile}{}{hostile}", email.html);
            email.category = "calcom-booking";
            email.reply_to.as_mut().unwrap().name = Some(hostile.to_owned());
            message.key = format!("k{hostile}");
            message.booking.uid = format!("u{hostile}");
            assert_eq!(
                build_request(&email, &message, &config),
                build_request_value(&email, &message, &config)
            );
            email.calendar = None;
            email.reply_to = None;
            email.category = "";
            email.text.clear();
            assert_eq!(
                build_request(&email, &message, &config),
                build_request_value(&email, &message, &config)
            );
        }
    }

    #[test]
    fn parses_mailboxes() {
        assert_eq!(
            parse_mailbox(" a@x.com ").unwrap(),
            Mailbox {
                email: "a@x.com".into(),
                name: None
            }
        );
        assert_eq!(
            parse_mailbox("Staff <b@y.com>").unwrap(),
            Mailbox {
                email: "b@y.com".into(),
                name: Some("Staff".into())
            }
        );
        assert_eq!(
            parse_mailbox("\"Front, desk\" <b@y.com>").unwrap(),
            Mailbox {
                email: "b@y.com".into(),
                name: Some("Front, desk".into())
            }
        );
        assert_eq!(
            parse_mailbox("<b@y.com>").unwrap(),
            Mailbox {
                email: "b@y.com".into(),
                name: None
            }
        );
        let err = parse_mailbox("Staff <secret.person@example").unwrap_err();
        assert!(err.contains("s***@example"), "{err}");
        assert!(!err.contains("secret.person"), "{err}");
        assert!(parse_mailbox("Staff <b@y.com")
            .unwrap_err()
            .contains("closing"));
        assert!(parse_mailbox("").is_err());
        assert!(parse_mailbox("not an address").is_err());
    }

    #[test]
    fn parses_recipient_lists() {
        let list =
            parse_recipients("a@x.com, Staff <b@y.com>,, \"Desk, Front\" <c@z.org>; A@X.com")
                .unwrap();
        let emails: Vec<&str> = list.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(emails, ["a@x.com", "b@y.com", "c@z.org"]);
        assert_eq!(list[2].name.as_deref(), Some("Desk, Front"));
        let err = parse_recipients("a@x.com, bob.smith@nowhere, c@z.org").unwrap_err();
        assert!(err.starts_with("recipient 2 of 3"), "{err}");
        assert!(
            err.contains("b***@nowhere") && !err.contains("bob.smith"),
            "{err}"
        );
        assert!(parse_recipients(" , ")
            .unwrap_err()
            .contains("no recipients"));
        let many: Vec<String> = (0..1001).map(|i| format!("s{i}@x.com")).collect();
        assert!(parse_recipients(&many.join(","))
            .unwrap_err()
            .contains("at most 1000"));
    }

    #[test]
    fn parses_routes() {
        let routes = parse_routes(
            " consultation=alice@example.com; billing=bob@example.com, \"Carol; Billing\" <carol@example.com> ;; ",
        )
        .unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].slug, "consultation");
        assert_eq!(routes[0].to.len(), 1);
        assert_eq!(routes[1].slug, "billing");
        let emails: Vec<&str> = routes[1].to.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(emails, ["bob@example.com", "carol@example.com"]);
        assert_eq!(routes[1].to[1].name.as_deref(), Some("Carol; Billing"));
        assert_eq!(parse_routes("  ").unwrap(), []);

        for (raw, needle) in [
            ("consultation alice@example.com", "entry 1 of 1 has no '='"),
            (
                "a=x@y.com; =bob@example.com",
                "entry 2 of 2: the event type slug",
            ),
            ("two words=bob@example.com", "slug must be"),
            ("a=x@y.com; A=z@y.com", "\"A\" is routed twice"),
            ("a=x@y.com, b=z@y.com", "separate routes with ';'"),
            ("a=", "entry 1 of 1 (\"a\"): no recipients"),
            ("a=secret.person@nowhere", "s***@nowhere"),
        ] {
            let err = parse_routes(raw).unwrap_err();
            assert!(err.contains(needle), "{raw}: {err}");
            assert!(!err.contains("secret.person"), "{err}");
        }
    }

    #[test]
    fn routes_pick_the_recipients() {
        let mut config = config();
        config.routes = parse_routes(
            "consultation=alice@example.com; billing=bob@example.com, carol@example.com",
        )
        .unwrap();
        let to = |slug: Option<&str>| -> Vec<String> {
            config
                .recipients(slug)
                .iter()
                .map(|m| m.email.clone())
                .collect()
        };
        assert_eq!(to(Some("consultation")), ["alice@example.com"]);
        assert_eq!(
            to(Some(" Billing ")),
            ["bob@example.com", "carol@example.com"]
        );
        assert_eq!(
            to(Some("30min")),
            ["staff@school.example", "desk@school.example"]
        );
        assert_eq!(to(None), ["staff@school.example", "desk@school.example"]);

        let mut message = crate::contract::message::fixtures::booking_created();
        message.booking.event_slug = Some("billing".into());
        let body: Value =
            serde_json::from_str(&build_request(&render(&message), &message, &config)).unwrap();
        assert_eq!(
            body["personalizations"][0]["to"],
            json!([{ "email": "bob@example.com" }, { "email": "carol@example.com" }])
        );
    }

    #[test]
    fn the_invitation_is_attached() {
        let message = crate::contract::message::fixtures::booking_created();
        let email = render(&message);
        let body: Value =
            serde_json::from_str(&build_request(&email, &message, &config())).unwrap();
        let invitation = email.calendar.as_ref().unwrap();
        assert_eq!(
            body["attachments"],
            json!([{
                "content": base64_encode(invitation.text.as_bytes()),
                "filename": "invite.ics",
                "type": "text/calendar; method=REQUEST",
                "disposition": "attachment",
            }])
        );
        let mut without = email.clone();
        without.calendar = None;
        let body: Value =
            serde_json::from_str(&build_request(&without, &message, &config())).unwrap();
        assert!(body.get("attachments").is_none());
    }

    #[test]
    fn plausible_emails() {
        assert!(is_plausible_email("alex.student+tag@example.org"));
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a b@x.com",
            "a@x.com>",
            "søren@example.dk",
            "a@.com",
            "a@x.com.",
            "a@@x.com",
            "a,b@x.com",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            mail_send_url("https://api.sendgrid.com"),
            "https://api.sendgrid.com/v3/mail/send"
        );
        assert_eq!(
            mail_send_url("https://api.sendgrid.com/"),
            "https://api.sendgrid.com/v3/mail/send"
        );
        assert_eq!(
            mail_send_url(" http://127.0.0.1:8788// "),
            "http://127.0.0.1:8788/v3/mail/send"
        );
    }

    fn config() -> SendgridConfig {
        SendgridConfig {
            from: Mailbox {
                email: "bookings@school.example".into(),
                name: Some("Bookings; School, Inc".into()),
            },
            to: parse_recipients("staff@school.example, Front Desk <desk@school.example>").unwrap(),
            routes: Vec::new(),
        }
    }

    #[test]
    fn request_shape() {
        let message = crate::contract::message::fixtures::booking_created();
        let email = render(&message);
        let body: Value =
            serde_json::from_str(&build_request(&email, &message, &config())).unwrap();
        let p = body["personalizations"].as_array().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0]["to"],
            json!([{ "email": "staff@school.example" }, { "email": "desk@school.example", "name": "Front Desk" }])
        );
        assert_eq!(
            body["from"],
            json!({ "email": "bookings@school.example", "name": "Bookings School Inc" })
        );
        assert_eq!(
            body["reply_to"],
            json!({ "email": "alex.student@example.org", "name": "Alex Student" })
        );
        assert_eq!(body["subject"], json!(email.subject));
        let content = body["content"].as_array().unwrap();
        assert_eq!(content[0]["type"], "text/plain");
        assert_eq!(content[0]["value"], json!(email.text));
        assert_eq!(content[1]["type"], "text/html");
        assert_eq!(content[1]["value"], json!(email.html));
        assert_eq!(
            body["categories"],
            json!(["calcom-booking", "booking-created"])
        );
        let args = body["custom_args"].as_object().unwrap();
        assert_eq!(args["trigger"], "BOOKING_CREATED");
        assert_eq!(args["idempotency_key"], json!(message.key));
        assert_eq!(args["booking_uid"], "bkg_8Jq2Xz4TnR5wLm3Yv");
        assert!(args.values().all(Value::is_string));
        assert!(serde_json::to_string(args).unwrap().len() < MAX_CUSTOM_ARGS_BYTES);
        assert_eq!(body["tracking_settings"]["click_tracking"]["enable"], false);
    }

    #[test]
    fn reply_to_only_for_usable_addresses() {
        let message = crate::contract::message::fixtures::booking_created();
        let mut email: Email = render(&message);
        email.reply_to = Some(Person {
            name: Some("X".into()),
            email: Some("not-an-address".into()),
            ..Default::default()
        });
        let body: Value =
            serde_json::from_str(&build_request(&email, &message, &config())).unwrap();
        assert!(body.get("reply_to").is_none());
        email.reply_to = None;
        let body: Value =
            serde_json::from_str(&build_request(&email, &message, &config())).unwrap();
        assert!(body.get("reply_to").is_none());
        email.subject = "Evil\r\nBcc: x@y".into();
        let body: Value =
            serde_json::from_str(&build_request(&email, &message, &config())).unwrap();
        assert_eq!(body["subject"], "Evil Bcc: x@y");
    }

    #[test]
    fn subjects_and_display_names_lose_bidi_and_zero_width_characters() {
        let mut message = crate::contract::message::fixtures::booking_created();
        message.booking.event_type = Some("Consult\u{202E}gnp.exe\u{202C}".into());
        message.booking.booker.as_mut().unwrap().name =
            Some("Al\u{200B}ex \u{2066}Student\u{2069}".into());
        let email = render(&message);
        let mut config = config();
        config.from.name = Some("\u{FEFF}Bookings\u{200D}".into());
        config.to[1].name = Some("Front\u{200C} Desk\u{202A}".into());
        let body: Value = serde_json::from_str(&build_request(&email, &message, &config)).unwrap();
        let subject = body["subject"].as_str().unwrap();
        assert!(subject.contains("Consultgnp.exe"), "{subject}");
        assert!(subject.contains("Alex Student"), "{subject}");
        assert_eq!(body["from"]["name"], "Bookings");
        assert_eq!(body["reply_to"]["name"], "Alex Student");
        assert_eq!(body["personalizations"][0]["to"][1]["name"], "Front Desk");
        let text = body.to_string();
        for c in [
            '\u{202E}', '\u{202C}', '\u{200B}', '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{200D}',
            '\u{200C}', '\u{202A}',
        ] {
            for field in [
                &body["subject"],
                &body["from"],
                &body["reply_to"],
                &body["personalizations"],
            ] {
                assert!(
                    !field.to_string().contains(c),
                    "U+{:04X} in {field}",
                    c as u32
                );
            }
        }
        assert!(!text.is_empty());
    }

    #[test]
    fn huge_uid_keeps_custom_args_small() {
        let mut message = crate::contract::message::fixtures::booking_created();
        message.booking.uid = "u".repeat(50_000);
        let email = render(&message);
        let body: Value =
            serde_json::from_str(&build_request(&email, &message, &config())).unwrap();
        assert!(body["custom_args"].to_string().len() < MAX_CUSTOM_ARGS_BYTES);
    }

    #[test]
    fn error_bodies() {
        let body = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":"https://sendgrid.com/docs"},{"message":"Bad\nthing","field":null}]}"#;
        assert_eq!(
            summarize_error_body(body).unwrap(),
            "from: The from address does not match a verified Sender Identity.; Bad thing"
        );
        assert_eq!(summarize_error_body(""), None);
        assert_eq!(summarize_error_body(r#"{"errors":[]}"#), None);
        assert_eq!(
            summarize_error_body("<html>\n502 Bad Gateway</html>").unwrap(),
            "<html> 502 Bad Gateway</html>"
        );
        let long = format!(r#"{{"errors":[{{"message":"{}"}}]}}"#, "é".repeat(500));
        let s = summarize_error_body(&long).unwrap();
        assert!(s.len() <= MAX_ERROR_SUMMARY_BYTES && s.ends_with('…'));
    }

    #[test]
    fn reads_responses() {
        let now = 1_771_351_200; // 2026-02-17T18:00:00Z
        assert_eq!(
            SendResult::from_response(202, None, None, "", now),
            SendResult::Status {
                status: 202,
                retry_after_secs: None,
                rate_limit_reset_unix: None,
                error_summary: None
            }
        );
        let r = SendResult::from_response(
            429,
            Some("30"),
            Some("1771351260"),
            r#"{"errors":[{"message":"too many"}]}"#,
            now,
        );
        assert_eq!(
            r,
            SendResult::Status {
                status: 429,
                retry_after_secs: Some(30),
                rate_limit_reset_unix: Some(1_771_351_260),
                error_summary: Some("too many".into())
            }
        );
        assert_eq!(r.status(), Some(429));
        assert_eq!(SendResult::Timeout.status(), None);
        assert_eq!(
            parse_retry_after("Tue, 17 Feb 2026 18:02:00 GMT", now),
            Some(120)
        );
        assert_eq!(
            parse_retry_after("Tue, 17 Feb 2026 17:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Tue, 17 Feb 2026 18:02:00 UTC", now),
            None
        );
        assert_eq!(
            parse_retry_after("Tue, 30 Feb 2026 18:02:00 GMT", now),
            None
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_rate_limit_reset(" 1771351260 "), Some(1_771_351_260));
        assert_eq!(parse_rate_limit_reset("-1"), None);
    }
}
