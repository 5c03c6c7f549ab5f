// The bodies of the fuzz targets, written once and `include!`d twice:
//
// - by `fuzz/fuzz_targets/<name>.rs` (cargo fuzz, libFuzzer), and
// - by `shared/tests/fuzz_corpus.rs`, an ordinary stable `cargo test` that replays every file of
//   `fuzz/corpus/<name>/` and `fuzz/seeds/<name>/` through the same code.
//
// An included file cannot have inner attributes or `//!` docs, so this is plain comments. Each
// function panics (fails the target) when a property of the pipeline does not hold.

use serde_json::Value;
use shared::contract::decode::{decode_message, decode_message_str};
use shared::contract::forward;
use shared::delivery::email::{render, MAX_SUBJECT_CHARS};
use shared::ingress::{accept_checked, accept_webhook, Form, Ingress};
use shared::contract::message::{BookingMessage, MAX_MESSAGE_BYTES};
use shared::delivery::sendgrid::{build_request, Mailbox, SendgridConfig};
use shared::ingress::signature::{sign, verify, SignatureError, WebhookSecrets};
use shared::contract::calcom::envelope::{parse_delivery, Delivery};

/// The producer's clock, fixed.
pub const RECEIVED_AT: &str = "2026-02-10T17:03:13.000Z";

/// At most this many configured keys are signed with one by one (each check runs HMAC for every
/// configured key, so a long list would make one input slow without covering anything new).
const KEYS_CHECKED: usize = 3;

/// Splits a `verify_parse` input: the first byte is the length of the secret part (capped at what
/// follows), then the secret part (the value of `CALCOM_WEBHOOK_SECRET`, lossy UTF-8, possibly a
/// list separated by commas or line breaks), then the body.
pub fn split_verify_input(data: &[u8]) -> (String, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (String::new(), data);
    };
    let (raw, body) = rest.split_at(usize::from(n).min(rest.len()));
    (String::from_utf8_lossy(raw).into_owned(), body)
}

/// The inverse of [`split_verify_input`], for writing seeds.
pub fn join_verify_input(secret: &str, body: &[u8]) -> Vec<u8> {
    let n = u8::try_from(secret.len()).expect("a secret part of at most 255 bytes");
    let mut out = vec![n];
    out.extend_from_slice(secret.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Target `verify_parse`: signature checks for a body signed with each configured secret and with
/// garbage, then the producer's whole decision (`accept_webhook`) and `parse_delivery`.
pub fn verify_parse(data: &[u8]) {
    let (raw, body) = split_verify_input(data);
    let secrets = WebhookSecrets::parse(&raw);
    // Only commas and line breaks separate; each secret is trimmed, inner spaces are kept.
    let keys: Vec<&str> = raw
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(secrets.len(), keys.len(), "secrets parsed from {raw:?}");

    // Garbage: the start of the body (or all of it) as the header.
    let garbage = String::from_utf8_lossy(&body[..body.len().min(72)]).into_owned();
    let garbage_verdict = verify(&secrets, Some(&garbage), body);
    let _ = verify(&secrets, Some(&String::from_utf8_lossy(body)), body);
    assert_eq!(
        verify(&secrets, None, body),
        Err(SignatureError::Missing),
        "no header"
    );

    for key in keys.iter().take(KEYS_CHECKED) {
        let sig = sign(key.as_bytes(), body);
        assert_eq!(verify(&secrets, Some(&sig), body), Ok(()), "key {key:?}");
        let loose = format!(" sha256={} ", sig.to_uppercase());
        assert_eq!(verify(&secrets, Some(&loose), body), Ok(()), "{loose:?}");
        // One digit changed to another value.
        let mut wrong = sig.clone().into_bytes();
        let at = body.len() % wrong.len();
        wrong[at] = if wrong[at] == b'0' { b'f' } else { b'0' };
        let wrong = String::from_utf8(wrong).expect("hex is ASCII");
        assert_eq!(
            verify(&secrets, Some(&wrong), body),
            Err(SignatureError::Mismatch),
            "changed digit"
        );
        assert_eq!(
            verify(&secrets, Some(&sig[..63]), body),
            Err(SignatureError::Malformed),
            "63 digits"
        );
        assert_eq!(
            verify(&secrets, Some(&format!("{sig}0")), body),
            Err(SignatureError::Malformed),
            "65 digits"
        );
    }

    // The producer's decision with a correct signature (for the first key, if any) …
    let good = keys.first().map(|key| sign(key.as_bytes(), body));
    let parsed = parse_delivery(body, RECEIVED_AT);
    match accept_webhook(&secrets, good.as_deref(), body, RECEIVED_AT) {
        Ingress::Enqueue { message, reply, .. } => {
            assert!(good.is_some(), "enqueued without a secret");
            assert_eq!(reply.status, 202);
            assert_eq!(parsed, Ok(Delivery::Booking(message.clone())));
            check_queued(&message);
        }
        Ingress::Reply(reply) => {
            let expected = match (&parsed, good.is_some()) {
                (_, false) => 500,
                (Ok(Delivery::Booking(_)), true) => panic!("parsed a booking, answered {reply:?}"),
                (Ok(_), true) => 200,
                (Err(_), true) => 400,
            };
            assert_eq!(reply.status, expected, "{}", reply.body);
        }
        Ingress::Forward { .. } => panic!("accept_webhook reads every booking whole"),
    }
    check_forward(body);
    // … and with garbage: only a body whose signature verified may ever be enqueued.
    if let Ingress::Enqueue { message, .. } =
        accept_webhook(&secrets, Some(&garbage), body, RECEIVED_AT)
    {
        assert_eq!(garbage_verdict, Ok(()), "enqueued with a failing signature");
        check_queued(&message);
    }
}

/// The producer's decision as it ships (`Form::Forward`) answers every body as the whole reading
/// (`Form::Booking`) does, and a body it forwards whole is one the consumer reads into the very
/// message the producer would otherwise have written: the same key, booking and `received_at`.
pub fn check_forward(body: &[u8]) {
    let whole = accept_checked(true, Ok(()), body, RECEIVED_AT, Form::Booking);
    match accept_checked(true, Ok(()), body, RECEIVED_AT, Form::Forward) {
        Ingress::Forward {
            body: queued,
            reply,
            ..
        } => {
            let Ingress::Enqueue {
                message,
                reply: expected,
                ..
            } = whole
            else {
                panic!("forwarded a body the whole reading answers: {whole:?}")
            };
            assert_eq!(reply, expected, "the answer to Cal.com");
            assert!(queued.len() <= MAX_MESSAGE_BYTES, "{} bytes", queued.len());
            assert_eq!(decode_message_str(&queued), Ok(*message), "what the consumer reads");
            let general = decode_message(&Value::String(queued.clone()));
            assert_eq!(
                forward::read_written(&queued),
                Some(general),
                "the written form's reader and the general one"
            );
        }
        forward => assert_eq!(forward, whole),
    }
}

/// What the producer enqueues fits the queue, reads back as sent, and renders.
fn check_queued(message: &BookingMessage) {
    let json = message.to_json();
    assert!(
        json.len() <= MAX_MESSAGE_BYTES,
        "message of {} bytes",
        json.len()
    );
    assert_eq!(decode_message_str(&json).as_ref(), Ok(message));
    check_email(message);
}

/// Target `decode_render`: bytes as a queue body (text, and parsed JSON), then for a message the
/// consumer can read, the email and the SendGrid request.
pub fn decode_render(data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    if let Some((text, read)) = text.and_then(|t| Some((t, forward::read_written(t)?))) {
        // The written form's reader answers only what the general reader would.
        let general = decode_message(&Value::String(text.into()));
        assert_eq!(read, general, "the written form's reader and the general one");
    }
    let from_text = text.map(decode_message_str);
    let from_value = serde_json::from_slice::<Value>(data)
        .ok()
        .map(|v| decode_message(&v));
    if let (Some(text), Some(value)) = (&from_text, &from_value) {
        assert_eq!(
            text, value,
            "decode_message_str and decode_message disagree"
        );
    }
    if let Some(Ok(message)) = from_text.or(from_value) {
        check_email(&message);
        // What the consumer decoded survives another trip through the queue unchanged.
        assert_eq!(decode_message_str(&message.to_json()), Ok(message));
    }
}

/// A fixed consumer configuration: the sender and two staff addresses.
pub fn sendgrid_config() -> SendgridConfig {
    SendgridConfig {
        from: Mailbox {
            email: "bookings@example.com".to_owned(),
            name: Some("Bookings".to_owned()),
        },
        to: vec![
            Mailbox {
                email: "staff@example.com".to_owned(),
                name: None,
            },
            Mailbox {
                email: "front.desk@example.com".to_owned(),
                name: Some("Front desk".to_owned()),
            },
        ],
        routes: Vec::new(),
    }
}

/// The email and the Mail Send request of any message: one-line subject, no markup from the
/// message, `text/plain` then `text/html`.
pub fn check_email(message: &BookingMessage) {
    let email = render(message);
    assert!(
        !email.subject.contains(['\r', '\n']),
        "subject with CR/LF: {:?}",
        email.subject
    );
    assert!(
        email.subject.chars().count() <= MAX_SUBJECT_CHARS,
        "subject of {} chars",
        email.subject.chars().count()
    );
    // The templates have no script element: one in the HTML part came from the message.
    assert!(
        !email.html.to_ascii_lowercase().contains("<script"),
        "raw <script in the HTML part"
    );
    let request = build_request(&email, message, &sendgrid_config());
    let json: Value = serde_json::from_str(&request).expect("the request is JSON");
    let subject = json["subject"].as_str().expect("a subject");
    assert!(!subject.is_empty(), "empty subject");
    assert!(
        !subject.contains(['\r', '\n']),
        "request subject with CR/LF: {subject:?}"
    );
    let content = json["content"].as_array().expect("content is a list");
    assert_eq!(content.len(), 2);
    assert_eq!(content[0]["type"], "text/plain");
    assert_eq!(content[1]["type"], "text/html");
    assert_eq!(content[0]["value"].as_str(), Some(email.text.as_str()));
    assert_eq!(content[1]["value"].as_str(), Some(email.html.as_str()));
    // The calendar invitation: SendGrid's exact type, CRLF lines of at most 75 octets, no
    // control characters but tab.
    match &email.calendar {
        Some(invitation) => {
            let attachment = &json["attachments"][0];
            assert_eq!(attachment["type"].as_str(), Some(invitation.content_type()));
            assert!(
                matches!(
                    invitation.content_type(),
                    "text/calendar; method=REQUEST" | "text/calendar; method=CANCEL"
                ),
                "{}",
                invitation.content_type()
            );
            let text = &invitation.text;
            assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text:?}");
            assert!(text.ends_with("END:VCALENDAR\r\n"), "{text:?}");
            for line in text.split_terminator("\r\n") {
                assert!(line.len() <= 75, "ics line of {} octets: {line:?}", line.len());
                assert!(
                    !line.chars().any(|c| c.is_control() && c != '\t'),
                    "ics line with a control character: {line:?}"
                );
            }
        }
        None => assert!(json.get("attachments").is_none(), "attachments without an invitation"),
    }
    let args = json["custom_args"].as_object().expect("custom_args");
    assert!(
        args.values().all(Value::is_string),
        "custom_args: {args:?}"
    );
    if let Some(reply_to) = json.get("reply_to") {
        let address = reply_to["email"].as_str().unwrap_or_default();
        assert!(
            !address.contains(['\r', '\n', '<', '>', ',']),
            "reply_to {address:?}"
        );
    }
}
