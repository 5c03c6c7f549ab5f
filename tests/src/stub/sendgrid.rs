//! What the real SendGrid v3 Mail Send API checks and how it words its errors.
//!
//! Error bodies look like `{"errors":[{"field":...,"message":...,"help":...}]}`.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest request body accepted (SendGrid: "less than 30MB"); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 30 * 1024 * 1024;
/// At most this many personalizations per request.
pub const MAX_PERSONALIZATIONS: usize = 1000;
/// At most this many categories per request.
pub const MAX_CATEGORIES: usize = 10;
/// `custom_args` must serialize to fewer bytes than this.
pub const MAX_CUSTOM_ARGS_BYTES: usize = 10_000;

/// Message of the 401 answer for a missing or wrong API key.
pub const UNAUTHORIZED_MESSAGE: &str =
    "The provided authorization grant is invalid, expired, or revoked";

const HELP_BASE: &str =
    "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message";

/// One entry of a SendGrid `errors` array (serialized in SendGrid's order: field, message, help).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub field: Option<String>,
    pub message: String,
    pub help: Option<String>,
}

impl ApiError {
    /// An error not tied to a field (`field` and `help` null), as for 401/404/5xx.
    pub fn general(message: impl Into<String>) -> ApiError {
        ApiError {
            field: None,
            message: message.into(),
            help: None,
        }
    }

    fn field(field: impl Into<String>, anchor: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            message: message.into(),
            help: Some(format!("{HELP_BASE}.{anchor}")),
        }
    }
}

/// `{"errors":[...]}` for these errors, keys in SendGrid's order.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub errors: &'a [ApiError],
}

/// True when `mail_settings.sandbox_mode.enable` is `true`.
pub fn is_sandbox(body: &Value) -> bool {
    body.pointer("/mail_settings/sandbox_mode/enable") == Some(&Value::Bool(true))
}

/// A plausible address: one `@`, non-empty local part, a dotted domain, no whitespace, no
/// control characters (so no CR/LF).
pub fn plausible_email(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// Checks a parsed request body as SendGrid does; an empty result means valid.
pub fn validate(body: &Value) -> Vec<ApiError> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        errors.push(ApiError::general("The request body must be a JSON object."));
        return errors;
    };
    let every_personalization_has_subject = check_personalizations(obj, &mut errors);
    check_from(obj, &mut errors);
    check_reply_to(obj, &mut errors);
    check_subject(obj, every_personalization_has_subject, &mut errors);
    check_content(obj, &mut errors);
    check_categories(obj, &mut errors);
    check_attachments(obj, &mut errors);
    if let Some(args) = obj.get("custom_args") {
        check_custom_args(args, "custom_args", &mut errors);
    }
    check_mail_settings(body, &mut errors);
    errors
}

/// Returns whether every personalization carries its own non-empty subject.
fn check_personalizations(obj: &Map<String, Value>, errors: &mut Vec<ApiError>) -> bool {
    let list = match obj.get("personalizations") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            errors.push(ApiError::field(
                "personalizations",
                "personalizations",
                "The personalizations field is required and must have at least one personalization.",
            ));
            return false;
        }
    };
    if list.len() > MAX_PERSONALIZATIONS {
        errors.push(ApiError::field(
            "personalizations",
            "personalizations",
            format!(
                "The personalizations field may contain at most {MAX_PERSONALIZATIONS} personalizations."
            ),
        ));
    }
    let mut all_have_subject = true;
    for (i, p) in list.iter().enumerate() {
        let prefix = format!("personalizations.{i}");
        let Some(p) = p.as_object() else {
            errors.push(ApiError::field(
                prefix,
                "personalizations",
                "Each personalization must be an object.",
            ));
            all_have_subject = false;
            continue;
        };
        let mut seen = HashSet::new();
        match p.get("to") {
            Some(Value::Array(to)) if !to.is_empty() => {
                check_addresses(to, &format!("{prefix}.to"), &mut seen, errors);
            }
            _ => errors.push(ApiError::field(
                format!("{prefix}.to"),
                "personalizations.to",
                "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
            )),
        }
        for key in ["cc", "bcc"] {
            match p.get(key) {
                None => {}
                Some(Value::Array(list)) if !list.is_empty() => {
                    check_addresses(list, &format!("{prefix}.{key}"), &mut seen, errors);
                }
                Some(_) => errors.push(ApiError::field(
                    format!("{prefix}.{key}"),
                    &format!("personalizations.{key}"),
                    format!(
                        "The {key} field, if present, must be a non-empty array of email objects."
                    ),
                )),
            }
        }
        match p.get("subject") {
            Some(Value::String(s)) if !s.is_empty() => {
                if has_cr_lf(s) {
                    errors.push(ApiError::field(
                        format!("{prefix}.subject"),
                        "personalizations.subject",
                        "The subject must not contain CR or LF characters.",
                    ));
                }
            }
            None | Some(Value::Null) | Some(Value::String(_)) => all_have_subject = false,
            Some(_) => {
                all_have_subject = false;
                errors.push(ApiError::field(
                    format!("{prefix}.subject"),
                    "personalizations.subject",
                    "The subject must be a string.",
                ));
            }
        }
        if let Some(args) = p.get("custom_args") {
            check_custom_args(args, &format!("{prefix}.custom_args"), errors);
        }
    }
    all_have_subject
}

/// Checks `[{email, name?}, ...]`; `seen` catches an address repeated across to/cc/bcc.
fn check_addresses(
    list: &[Value],
    field: &str,
    seen: &mut HashSet<String>,
    errors: &mut Vec<ApiError>,
) {
    let anchor = format!(
        "personalizations.{}",
        field.rsplit('.').next().unwrap_or("to")
    );
    for (j, entry) in list.iter().enumerate() {
        let email = entry.get("email").and_then(Value::as_str);
        match email {
            Some(email) if plausible_email(email) => {
                if !seen.insert(email.to_ascii_lowercase()) {
                    errors.push(ApiError::field(
                        format!("{field}.{j}.email"),
                        &anchor,
                        "Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of ["
                            .to_owned()
                            + email
                            + "] in the personalizations.",
                    ));
                }
            }
            _ => errors.push(ApiError::field(
                format!("{field}.{j}.email"),
                &anchor,
                "Does not contain a valid address.",
            )),
        }
        if let Some(name) = entry.get("name") {
            if !(name.is_string() || name.is_null()) {
                errors.push(ApiError::field(
                    format!("{field}.{j}.name"),
                    &anchor,
                    "The name must be a string.",
                ));
            }
        }
    }
}

fn check_from(obj: &Map<String, Value>, errors: &mut Vec<ApiError>) {
    match obj.get("from") {
        Some(Value::Object(from)) => match from.get("email").and_then(Value::as_str) {
            Some(email) if plausible_email(email) => {}
            _ => errors.push(ApiError::field(
                "from.email",
                "from",
                "The from email does not contain a valid address.",
            )),
        },
        _ => errors.push(ApiError::field(
            "from.email",
            "from",
            "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.",
        )),
    }
}

fn check_reply_to(obj: &Map<String, Value>, errors: &mut Vec<ApiError>) {
    match obj.get("reply_to") {
        None | Some(Value::Null) => {}
        Some(reply_to) => match reply_to.get("email").and_then(Value::as_str) {
            Some(email) if plausible_email(email) => {}
            _ => errors.push(ApiError::field(
                "reply_to.email",
                "reply_to",
                "The reply_to email does not contain a valid address.",
            )),
        },
    }
}

fn check_subject(
    obj: &Map<String, Value>,
    every_personalization_has_subject: bool,
    errors: &mut Vec<ApiError>,
) {
    const REQUIRED: &str = "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.";
    match obj.get("subject") {
        Some(Value::String(s)) if !s.is_empty() => {
            if has_cr_lf(s) {
                errors.push(ApiError::field(
                    "subject",
                    "subject",
                    "The subject must not contain CR or LF characters.",
                ));
            }
        }
        None | Some(Value::Null) | Some(Value::String(_)) => {
            if !every_personalization_has_subject {
                errors.push(ApiError::field("subject", "subject", REQUIRED));
            }
        }
        Some(_) => errors.push(ApiError::field(
            "subject",
            "subject",
            "The subject must be a string.",
        )),
    }
}

fn check_content(obj: &Map<String, Value>, errors: &mut Vec<ApiError>) {
    let list = match obj.get("content") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            errors.push(ApiError::field(
                "content",
                "content",
                "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.",
            ));
            return;
        }
    };
    let mut plain_at = None;
    let mut html_at = None;
    for (i, part) in list.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some(t) if !t.is_empty() && !t.contains(';') && !has_cr_lf(t) => {
                let t = t.trim().to_ascii_lowercase();
                if t == "text/plain" {
                    plain_at.get_or_insert(i);
                } else if t == "text/html" {
                    html_at.get_or_insert(i);
                }
            }
            _ => errors.push(ApiError::field(
                format!("content.{i}.type"),
                "content.type",
                "The content type cannot contain ';', or CRLF characters, and must be at least 1 character.",
            )),
        }
        match part.get("value").and_then(Value::as_str) {
            Some(v) if !v.is_empty() => {}
            _ => errors.push(ApiError::field(
                format!("content.{i}.value"),
                "content.value",
                "The content value must be a string at least one character in length.",
            )),
        }
    }
    if let (Some(plain), Some(html)) = (plain_at, html_at) {
        if html < plain {
            errors.push(ApiError::field(
                "content",
                "content",
                "If present, text/plain and text/html may only be provided in that order.",
            ));
        }
    }
}

/// iTIP methods (RFC 5546), the one parameter an attachment's `type` may carry, and only on
/// `text/calendar`.
pub const CALENDAR_METHODS: [&str; 8] = [
    "PUBLISH",
    "REQUEST",
    "REPLY",
    "ADD",
    "CANCEL",
    "REFRESH",
    "COUNTER",
    "DECLINECOUNTER",
];

/// `attachments`: a non-empty array of `{content (base64), filename, type?, disposition?,
/// content_id?}`. A `type` is a MIME type without parameters, except `text/calendar;
/// method=<iTIP method>`: SendGrid refuses any other parameter (a `charset`, for one).
fn check_attachments(obj: &Map<String, Value>, errors: &mut Vec<ApiError>) {
    let Some(value) = obj.get("attachments") else {
        return;
    };
    let list = match value.as_array() {
        Some(list) if !list.is_empty() => list,
        _ => {
            errors.push(ApiError::field(
                "attachments",
                "attachments",
                "The attachments parameter, if present, must be a non-empty array of attachment objects.",
            ));
            return;
        }
    };
    for (i, attachment) in list.iter().enumerate() {
        let field = |name: &str| format!("attachments.{i}.{name}");
        let Some(a) = attachment.as_object() else {
            errors.push(ApiError::field(
                format!("attachments.{i}"),
                "attachments",
                "Each attachment must be an object.",
            ));
            continue;
        };
        match a.get("content").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => {
                if crate::base64::base64_decode(c).is_none() {
                    errors.push(ApiError::field(
                        field("content"),
                        "attachments.content",
                        "The attachment content must be base64 encoded.",
                    ));
                }
            }
            _ => errors.push(ApiError::field(
                field("content"),
                "attachments.content",
                "The attachment content is required.",
            )),
        }
        match a.get("filename").and_then(Value::as_str) {
            Some(f) if !f.trim().is_empty() && !has_cr_lf(f) => {}
            _ => errors.push(ApiError::field(
                field("filename"),
                "attachments.filename",
                "The attachment filename is required.",
            )),
        }
        if let Some(t) = a.get("type") {
            if !t.as_str().is_some_and(valid_attachment_type) {
                errors.push(ApiError::field(
                    field("type"),
                    "attachments.type",
                    "The attachment type must be a MIME type without parameters, or text/calendar; method=<method>; it cannot contain CRLF characters.",
                ));
            }
        }
        match a.get("disposition").map(Value::as_str) {
            None | Some(Some("attachment")) => {}
            Some(Some("inline")) => {
                if a.get("content_id")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    errors.push(ApiError::field(
                        field("content_id"),
                        "attachments.content_id",
                        "The content_id parameter is required if the disposition is set to inline.",
                    ));
                }
            }
            Some(_) => errors.push(ApiError::field(
                field("disposition"),
                "attachments.disposition",
                "The disposition of the attachment must be either inline or attachment.",
            )),
        }
    }
}

/// `type/subtype` with no parameter, or `text/calendar; method=<iTIP method>`.
fn valid_attachment_type(t: &str) -> bool {
    let mime = |m: &str| {
        let (kind, sub) = m.split_once('/').unwrap_or(("", ""));
        let token = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '!' | '#' | '$' | '&' | '-' | '^' | '_' | '.' | '+')
                })
        };
        token(kind) && token(sub)
    };
    if has_cr_lf(t) {
        return false;
    }
    match t.split_once(';') {
        None => mime(t.trim()),
        Some((m, param)) => {
            let m = m.trim();
            let Some((key, value)) = param.trim().split_once('=') else {
                return false;
            };
            m.eq_ignore_ascii_case("text/calendar")
                && key.eq_ignore_ascii_case("method")
                && CALENDAR_METHODS.contains(&value)
        }
    }
}

fn check_categories(obj: &Map<String, Value>, errors: &mut Vec<ApiError>) {
    let Some(value) = obj.get("categories") else {
        return;
    };
    let Some(list) = value.as_array() else {
        errors.push(ApiError::field(
            "categories",
            "categories",
            "The categories parameter must be an array of strings.",
        ));
        return;
    };
    if list.len() > MAX_CATEGORIES {
        errors.push(ApiError::field(
            "categories",
            "categories",
            format!("You may not have more than {MAX_CATEGORIES} categories per request."),
        ));
    }
    let mut seen = HashSet::new();
    for (i, category) in list.iter().enumerate() {
        match category.as_str() {
            Some(c) if !c.is_empty() && c.len() <= 255 => {
                if !seen.insert(c) {
                    errors.push(ApiError::field(
                        format!("categories.{i}"),
                        "categories",
                        "The categories must be unique.",
                    ));
                }
            }
            _ => errors.push(ApiError::field(
                format!("categories.{i}"),
                "categories",
                "A category must be a string of 1 to 255 characters.",
            )),
        }
    }
}

fn check_custom_args(value: &Value, field: &str, errors: &mut Vec<ApiError>) {
    let Some(args) = value.as_object() else {
        errors.push(ApiError::field(
            field,
            "custom_args",
            "The custom_args parameter must be an object.",
        ));
        return;
    };
    if args.values().any(|v| !v.is_string()) {
        errors.push(ApiError::field(
            field,
            "custom_args",
            "Invalid type. Expected: string, given: other. custom_args values must be strings.",
        ));
    }
    if value.to_string().len() >= MAX_CUSTOM_ARGS_BYTES {
        errors.push(ApiError::field(
            field,
            "custom_args",
            format!("The custom_args must total less than {MAX_CUSTOM_ARGS_BYTES} bytes."),
        ));
    }
}

fn check_mail_settings(body: &Value, errors: &mut Vec<ApiError>) {
    if let Some(enable) = body.pointer("/mail_settings/sandbox_mode/enable") {
        if !enable.is_boolean() {
            errors.push(ApiError::field(
                "mail_settings.sandbox_mode.enable",
                "mail_settings.sandbox_mode.enable",
                "The sandbox_mode enable parameter must be a boolean.",
            ));
        }
    }
}

fn has_cr_lf(s: &str) -> bool {
    s.contains('\r') || s.contains('\n')
}

/// A unique, random-looking 22-character base62 id, like SendGrid's `X-Message-ID`.
pub fn new_message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64's finalizer is a bijection, so distinct counters give distinct `high`.
    let high = splitmix64(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x005E_ED0F_57AB);
    let low = splitmix64(now ^ high.rotate_left(17));
    let mut x = (u128::from(high) << 64) | u128::from(low);
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(22);
    for _ in 0..22 {
        id.push(DIGITS[(x % 62) as usize] as char);
        x /= 62;
    }
    id
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "personalizations": [{"to": [{"email": "ann@example.com", "name": "Ann"}]}],
            "from": {"email": "bookings@example.com"},
            "subject": "Booking confirmed",
            "content": [
                {"type": "text/plain", "value": "hi"},
                {"type": "text/html", "value": "<p>hi</p>"}
            ]
        })
    }

    fn fields(body: &Value) -> Vec<String> {
        validate(body)
            .into_iter()
            .map(|e| e.field.unwrap_or_default())
            .collect()
    }

    #[test]
    fn valid_mail_passes() {
        assert!(validate(&valid()).is_empty());
    }

    #[test]
    fn reports_each_problem_with_its_field() {
        let mut body = valid();
        body["personalizations"][0]["to"][0]["email"] = json!("not an email");
        body["from"] = json!({"email": "x"});
        body["reply_to"] = json!({"email": "a@b@c.com"});
        body["subject"] = json!("line\nbreak");
        body["content"] = json!([{"type": "", "value": ""}]);
        assert_eq!(
            fields(&body),
            [
                "personalizations.0.to.0.email",
                "from.email",
                "reply_to.email",
                "subject",
                "content.0.type",
                "content.0.value"
            ]
        );
    }

    #[test]
    fn subject_may_come_from_every_personalization() {
        let mut body = valid();
        body.as_object_mut().unwrap().remove("subject");
        assert_eq!(fields(&body), ["subject"]);
        body["personalizations"][0]["subject"] = json!("Per recipient");
        assert!(validate(&body).is_empty());
    }

    #[test]
    fn categories_and_custom_args() {
        let mut body = valid();
        body["categories"] = json!(["a", "a"]);
        body["custom_args"] = json!({"booking": 1});
        assert_eq!(fields(&body), ["categories.1", "custom_args"]);
        body["categories"] = json!(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);
        body["custom_args"] = json!({"booking": "1"});
        assert_eq!(fields(&body), ["categories"]);
    }

    #[test]
    fn attachments() {
        let ics = "QkVHSU46VkNBTEVOREFSDQo="; // "BEGIN:VCALENDAR\r\n"
        let mut body = valid();
        body["attachments"] = json!([{"content": ics, "filename": "invite.ics", "type": "text/calendar; method=REQUEST", "disposition": "attachment"}]);
        assert!(validate(&body).is_empty());
        for ok in [
            "text/calendar; method=CANCEL",
            "text/calendar;method=PUBLISH",
            "application/pdf",
        ] {
            body["attachments"][0]["type"] = json!(ok);
            assert!(validate(&body).is_empty(), "{ok}");
        }
        for bad in [
            "text/calendar; method=REQUEST; charset=utf-8",
            "text/calendar; charset=utf-8",
            "text/calendar; method=request",
            "text/plain; method=REQUEST",
            "text/calendar\r\n",
            "text",
            "",
        ] {
            body["attachments"][0]["type"] = json!(bad);
            assert_eq!(fields(&body), ["attachments.0.type"], "{bad:?}");
        }
        body["attachments"][0]["type"] = json!("text/calendar; method=REQUEST");
        body["attachments"][0]["content"] = json!("not base64!");
        body["attachments"][0]["filename"] = json!("");
        body["attachments"][0]["disposition"] = json!("inline");
        assert_eq!(
            fields(&body),
            [
                "attachments.0.content",
                "attachments.0.filename",
                "attachments.0.content_id"
            ]
        );
        body["attachments"] = json!([{"filename": "x.ics", "disposition": "download"}]);
        assert_eq!(
            fields(&body),
            ["attachments.0.content", "attachments.0.disposition"]
        );
        body["attachments"] = json!([]);
        assert_eq!(fields(&body), ["attachments"]);
    }

    #[test]
    fn duplicate_recipient_across_to_and_cc() {
        let mut body = valid();
        body["personalizations"][0]["cc"] = json!([{"email": "ANN@example.com"}]);
        assert_eq!(fields(&body), ["personalizations.0.cc.0.email"]);
    }

    #[test]
    fn emails() {
        assert!(plausible_email("a.b+c@mail.example.com"));
        for bad in [
            "",
            "a",
            "@x.com",
            "a@",
            "a@b",
            "a b@x.com",
            "a@x.com\r\n",
            "a@@x.com",
        ] {
            assert!(!plausible_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_unique_22_chars() {
        let ids: HashSet<String> = (0..1000).map(|_| new_message_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 22 && id.chars().all(|c| c.is_ascii_alphanumeric())));
    }
}
