//! No secret and no personal data in the workers' logs.
//!
//! Runs the whole pipeline (its own `wrangler dev`, log level `info`), sends a realistic mix of
//! deliveries (each booking kind, a booking signed with the rotated secret, a Ping test, refused
//! signatures, ignored triggers, a booking whose first SendGrid send fails with 500, one
//! dead-lettered by a SendGrid 400), waits until every email and dead letter arrived and every
//! decision was logged, then reads everything wrangler printed (the workers' `console.*` lines
//! included) and looks for the webhook secrets, the SendGrid key, every signature sent, and the
//! attendees' email addresses, names and phone numbers as they appeared in the bodies. Masked
//! addresses (`a***@example.org`) are fine.
//!
//! The test proves the logs were captured before it trusts their silence: they must name every
//! booking uid and idempotency key sent.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::calcom::{post_with_signature, sample, sample_with_uid};
use e2e::http::Answer;
use e2e::pipeline::{
    poll_until, Pipeline, PipelineOptions, TEST_SENDGRID_KEY, TEST_WEBHOOK_SECRET,
    TEST_WEBHOOK_SECRET_NEXT,
};
use e2e::stub::{Fault, FaultRule};
use serde_json::{json, Value};
use shared::ingress::signature::sign;

const WAIT: Duration = Duration::from_secs(90);

/// Everything sent, for the search afterwards.
struct Sender {
    url: String,
    bodies: Vec<Value>,
    signatures: Vec<String>,
}

impl Sender {
    /// Posts `body` (compact JSON) with `signature` as the header value (None = no header).
    fn post(&mut self, body: &Value, signature: Option<String>) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        let res = post_with_signature(&self.url, signature.as_deref(), &bytes).unwrap();
        self.bodies.push(body.clone());
        self.signatures.extend(signature);
        res
    }

    fn post_signed(&mut self, body: &Value, secret: &str) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = sign(secret.as_bytes(), &bytes);
        self.post(body, Some(signature))
    }
}

/// Email addresses, attendee names and phone numbers found anywhere in a delivery.
#[derive(Default)]
struct Personal {
    emails: BTreeSet<String>,
    names: BTreeSet<String>,
    phones: BTreeSet<String>,
}

impl Personal {
    fn collect(&mut self, key: &str, v: &Value, in_attendees: bool) {
        match v {
            Value::String(s) => {
                let s = s.trim();
                // iCalUID looks like an address (`…@Cal.com`) but names no one.
                if key != "iCalUID" && looks_like_email(s) {
                    self.emails.insert(s.to_owned());
                }
                if key == "phoneNumber" && !s.is_empty() {
                    self.phones.insert(s.to_owned());
                }
                if in_attendees && key == "name" && s.chars().count() >= 5 {
                    self.names.insert(s.to_owned());
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.collect(key, item, in_attendees || key == "attendees");
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    self.collect(k, item, in_attendees);
                }
            }
            _ => {}
        }
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !s.contains(char::is_whitespace)
                && !s.contains('/')
        }
        None => false,
    }
}

/// Waits until one log line satisfies `pred`.
fn wait_for_line(p: &Pipeline, what: &str, pred: impl Fn(&str) -> bool) {
    let found = poll_until(WAIT, || p.logs().lines().any(&pred).then_some(()));
    assert!(
        found.is_some(),
        "no log line for {what}; logs:\n{}",
        p.logs()
    );
}

#[test]
fn worker_logs_carry_no_secret_signature_or_personal_data() {
    let started = Instant::now();
    let p = Pipeline::start(PipelineOptions::default()).unwrap();
    let mut s = Sender {
        url: p.url("/api/calcom-webhook"),
        bodies: Vec::new(),
        signatures: Vec::new(),
    };

    // SendGrid fails once with 500 for one booking, and rejects another with 400.
    p.stub
        .push_fault(FaultRule::times(Fault::status(500), 1).matching("lh-flaky"));
    p.stub
        .push_fault(FaultRule::times(Fault::status(400), 1).matching("lh-dead"));

    let mut delivered = Vec::new();
    for kind in [
        "booking-created",
        "booking-rescheduled",
        "booking-cancelled",
        "booking-requested",
    ] {
        let uid = format!("lh-{kind}");
        let res = s.post_signed(&sample_with_uid(kind, &uid), TEST_WEBHOOK_SECRET);
        assert_eq!(res.status, 202, "{kind}: {}", res.body);
        delivered.push(uid);
    }
    let res = s.post_signed(
        &sample_with_uid("booking-created", "lh-rotated"),
        TEST_WEBHOOK_SECRET_NEXT,
    );
    assert_eq!(res.status, 202, "{}", res.body);
    delivered.push("lh-rotated".to_owned());
    let res = s.post_signed(
        &sample_with_uid("booking-cancelled", "lh-flaky"),
        TEST_WEBHOOK_SECRET,
    );
    assert_eq!(res.status, 202, "{}", res.body);
    delivered.push("lh-flaky".to_owned());
    let res = s.post_signed(
        &sample_with_uid("booking-requested", "lh-dead"),
        TEST_WEBHOOK_SECRET,
    );
    assert_eq!(res.status, 202, "{}", res.body);

    // Answered without queuing anything.
    let res = s.post_signed(&sample("ping"), TEST_WEBHOOK_SECRET);
    assert_eq!(res.status, 200, "{}", res.body);
    let res = s.post_signed(&sample("meeting-started"), TEST_WEBHOOK_SECRET);
    assert_eq!(res.json()["status"], "ignored");
    let mut paid = sample_with_uid("booking-created", "lh-paid");
    paid["triggerEvent"] = json!("BOOKING_PAID");
    assert_eq!(s.post_signed(&paid, TEST_WEBHOOK_SECRET).status, 200);
    let mut new_trigger = sample_with_uid("booking-created", "lh-new-trigger");
    new_trigger["triggerEvent"] = json!("SOMETHING_NEW");
    assert_eq!(s.post_signed(&new_trigger, TEST_WEBHOOK_SECRET).status, 200);

    // Refused signatures.
    let res = s.post_signed(
        &sample_with_uid("booking-created", "lh-wrong-secret"),
        "whsec_an_old_secret",
    );
    assert_eq!(res.json()["error"], "signature_mismatch");
    let res = s.post(
        &sample_with_uid("booking-created", "lh-no-secret"),
        Some("no-secret-provided".to_owned()),
    );
    assert_eq!(res.json()["error"], "signature_not_configured_in_calcom");
    let body = sample_with_uid("booking-created", "lh-malformed");
    let valid = sign(
        TEST_WEBHOOK_SECRET.as_bytes(),
        &serde_json::to_vec(&body).unwrap(),
    );
    let res = s.post(&body, Some(format!("{}z", &valid[..63])));
    assert_eq!(res.json()["error"], "signature_malformed");
    let res = s.post(&sample_with_uid("booking-created", "lh-unsigned"), None);
    assert_eq!(res.json()["error"], "signature_missing");
    // Signed with the real secret, but the body changed on the way.
    let original = sample_with_uid("booking-created", "lh-tampered");
    let valid = sign(
        TEST_WEBHOOK_SECRET.as_bytes(),
        &serde_json::to_vec(&original).unwrap(),
    );
    let mut tampered = original.clone();
    tampered["payload"]["attendees"][0]["email"] = json!("mallory@example.net");
    let res = s.post(&tampered, Some(valid));
    assert_eq!(res.json()["error"], "signature_mismatch");

    // Everything arrived, and every decision was logged.
    let emails = poll_until(WAIT, || {
        let emails = p.stub.emails();
        delivered
            .iter()
            .all(|uid| {
                emails
                    .iter()
                    .any(|e| e.body["custom_args"]["booking_uid"] == uid.as_str())
            })
            .then_some(emails)
    })
    .unwrap_or_else(|| panic!("not every email arrived; logs:\n{}", p.logs()));
    let dead = poll_until(WAIT, || {
        p.stub
            .dead_letters()
            .into_iter()
            .find(|d| d["body"]["original"]["booking"]["uid"] == "lh-dead")
    })
    .unwrap_or_else(|| panic!("no dead letter; logs:\n{}", p.logs()));
    for uid in &delivered {
        let quoted = format!("\"uid\":\"{uid}\"");
        wait_for_line(&p, &format!("{uid} sent"), |l| {
            l.contains(&quoted) && l.contains("message_sent")
        });
    }
    wait_for_line(&p, "lh-flaky retried", |l| {
        l.contains("\"uid\":\"lh-flaky\"") && l.contains("message_retried")
    });
    wait_for_line(&p, "lh-dead dead-lettered", |l| {
        l.contains("\"uid\":\"lh-dead\"") && l.contains("message_dead_lettered")
    });

    let logs = p.logs();

    // The logs were captured: they name every booking and every idempotency key.
    assert!(!logs.trim().is_empty(), "no logs captured");
    let mut keys: Vec<String> = emails
        .iter()
        .filter(|e| {
            e.body["custom_args"]["booking_uid"]
                .as_str()
                .is_some_and(|u| delivered.iter().any(|d| d == u))
        })
        .map(|e| {
            e.body["custom_args"]["idempotency_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    keys.push(dead["body"]["original"]["key"].as_str().unwrap().to_owned());
    assert_eq!(keys.len(), delivered.len() + 1);
    for uid in delivered.iter().chain([&"lh-dead".to_owned()]) {
        assert!(logs.contains(uid.as_str()), "uid {uid} not in the logs");
    }
    for key in &keys {
        assert_eq!(key.len(), 32);
        assert!(logs.contains(key.as_str()), "key {key} not in the logs");
    }
    for outcome in [
        "signature_mismatch",
        "signature_not_configured_in_calcom",
        "signature_malformed",
        "signature_missing",
        "message_retried",
        "message_dead_lettered",
    ] {
        assert!(logs.contains(outcome), "{outcome} not in the logs");
    }

    // What must never be there.
    let mut leaks = Vec::new();
    let mut forbidden: Vec<(&str, String)> = vec![
        ("webhook secret", TEST_WEBHOOK_SECRET.to_owned()),
        (
            "rotated webhook secret",
            TEST_WEBHOOK_SECRET_NEXT.to_owned(),
        ),
        ("SendGrid key", TEST_SENDGRID_KEY.to_owned()),
        // Without their prefixes too, in case something strips `whsec_` / `SG.`.
        (
            "webhook secret (unprefixed)",
            TEST_WEBHOOK_SECRET["whsec_".len()..].to_owned(),
        ),
        (
            "rotated secret (unprefixed)",
            TEST_WEBHOOK_SECRET_NEXT["whsec_".len()..].to_owned(),
        ),
        (
            "SendGrid key (unprefixed)",
            TEST_SENDGRID_KEY["SG.".len()..].to_owned(),
        ),
        ("the wrong secret sent", "whsec_an_old_secret".to_owned()),
    ];
    for signature in &s.signatures {
        // The whole value, and any 16 hex digits of it (a cut or prefixed log would still leak).
        forbidden.push(("signature", signature.clone()));
        for run in signature.split(|c: char| !c.is_ascii_hexdigit()) {
            if run.len() >= 16 {
                forbidden.push(("signature prefix", run[..16].to_owned()));
            }
        }
    }
    let mut personal = Personal::default();
    for body in &s.bodies {
        personal.collect("", body, false);
    }
    for must in [
        "alex.student@example.org",
        "host@example.com",
        "soren@example.dk",
        "parent@example.org",
        "jdoe@example.com",
        "mallory@example.net",
    ] {
        assert!(
            personal.emails.contains(must),
            "collector missed {must}: {:?}",
            personal.emails
        );
    }
    assert!(
        personal.names.contains("Alex Student"),
        "{:?}",
        personal.names
    );
    assert!(
        personal.phones.contains("+1 907 555 0142"),
        "{:?}",
        personal.phones
    );
    for email in &personal.emails {
        forbidden.push(("email address", email.clone()));
    }
    for name in &personal.names {
        forbidden.push(("attendee name", name.clone()));
    }
    for phone in &personal.phones {
        forbidden.push(("phone number", phone.clone()));
    }
    for (what, needle) in &forbidden {
        for (i, line) in logs.lines().enumerate() {
            if line.contains(needle.as_str()) {
                leaks.push(format!("{what} {needle:?} in log line {}: {line}", i + 1));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leak(s) in the workers' logs:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    println!(
        "{} log lines checked against {} forbidden strings ({} addresses) in {:?}",
        logs.lines().count(),
        forbidden.len(),
        personal.emails.len(),
        started.elapsed()
    );
}
