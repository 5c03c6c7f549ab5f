//! The operator's side in workerd: `/healthz`, `/admin/replay`, and Sentry reports.

use std::time::Duration;

use e2e::calcom::{post_signed, post_with_signature, sample_with_uid};
use e2e::http;
use e2e::pipeline::{poll_until, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::sentry_stub::SentryStub;
use e2e::stub::{Fault, FaultRule};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
const ADMIN_TOKEN: &str = "e2e-admin-token-value";

fn post_booking(p: &Pipeline, uid: &str) {
    let body = serde_json::to_vec(&sample_with_uid("booking-created", uid)).unwrap();
    assert_eq!(
        post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &body)
            .unwrap()
            .status,
        202
    );
}

fn replay(p: &Pipeline, token: Option<&str>, body: &Value) -> http::Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    http::send(
        "POST",
        &p.url("/admin/replay"),
        &headers,
        body.to_string().into_bytes(),
    )
    .unwrap()
}

#[test]
fn health_replay_and_sentry_reports() {
    let sentry = SentryStub::start().unwrap();
    let mut options = PipelineOptions::default();
    options
        .secrets
        .insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    options.secrets.insert("SENTRY_DSN".into(), sentry.dsn());
    let p = Pipeline::start(options).unwrap();

    // Health: complete configuration, no values shown.
    let health = http::send("GET", &p.url("/healthz"), &[], vec![]).unwrap();
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(
        health.json()["config"],
        json!({"CALCOM_WEBHOOK_SECRET": true, "BOOKING_QUEUE": true})
    );
    assert!(!health.body.contains(TEST_WEBHOOK_SECRET));

    // A booking SendGrid refuses once with 400: dead-lettered at once, reported to Sentry.
    let uid = "adm-replayed";
    p.stub
        .push_fault(FaultRule::times(Fault::status(400), 1).matching(uid));
    post_booking(&p, uid);
    let dead = p.wait_dead_letter(uid, WAIT);

    // Replay: refused without the token, then accepted; invalid items are listed, not sent.
    assert_eq!(replay(&p, None, &dead).status, 401);
    assert_eq!(
        replay(&p, Some("wrong"), &dead).json()["error"],
        "admin_token_invalid"
    );
    let res = replay(&p, Some(ADMIN_TOKEN), &json!([dead, {"v": 99}, "not json"]));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["replayed"], 1);
    assert_eq!(res.json()["rejected"].as_array().unwrap().len(), 2);
    poll_until(WAIT, || (p.emails_for(uid).len() == 1).then_some(()))
        .unwrap_or_else(|| panic!("not delivered; logs:\n{}", p.logs()));

    // Replaying it again sends nothing: the ledger has it as sent.
    let key = dead["original"]["key"].as_str().unwrap();
    assert_eq!(
        replay(&p, Some(ADMIN_TOKEN), &dead["original"]).json()["replayed"],
        1
    );
    assert!(
        p.wait_for_log_lines(&["\"message_duplicate\"", key], 1, WAIT),
        "{}",
        p.logs()
    );
    assert_eq!(p.emails_for(uid).len(), 1);

    // Sentry: the dead letter from the consumer; three rejected signatures give one event.
    let body = serde_json::to_vec(&sample_with_uid("booking-created", "adm-probe")).unwrap();
    for _ in 0..3 {
        let res = post_with_signature(&p.url("/api/calcom-webhook"), Some(&"0".repeat(64)), &body)
            .unwrap();
        assert_eq!(res.status, 401);
    }
    let events = poll_until(WAIT, || {
        let all = sentry.envelopes();
        let dead = all
            .iter()
            .any(|e| e.event["tags"]["kind"] == "message_dead_lettered");
        let probe = all
            .iter()
            .any(|e| e.event["tags"]["kind"] == "signature_rejected");
        (dead && probe).then_some(all)
    })
    .unwrap_or_else(|| panic!("sentry got {:?}; logs:\n{}", sentry.envelopes(), p.logs()));
    std::thread::sleep(Duration::from_secs(1));
    let events = if sentry.envelopes().len() > events.len() {
        sentry.envelopes()
    } else {
        events
    };
    let signature_events: Vec<_> = events
        .iter()
        .filter(|e| e.event["tags"]["kind"] == "signature_rejected")
        .collect();
    assert_eq!(
        signature_events.len(),
        1,
        "rate-limited to one per minute per isolate"
    );
    let probe = &signature_events[0].event;
    assert_eq!(probe["tags"]["worker"], "producer");
    assert_eq!(probe["tags"]["outcome"], "signature_mismatch");
    let dead_event = events
        .iter()
        .find(|e| e.event["tags"]["kind"] == "message_dead_lettered")
        .unwrap();
    assert_eq!(dead_event.event["tags"]["worker"], "consumer");
    assert_eq!(dead_event.event["tags"]["trigger"], "BOOKING_CREATED");
    for e in &events {
        for secret in [
            TEST_WEBHOOK_SECRET,
            ADMIN_TOKEN,
            "alex.student@example.org",
            "Alex Student",
        ] {
            assert!(
                !e.raw.contains(secret),
                "personal data or a secret in a Sentry event: {}",
                e.raw
            );
        }
    }
}

#[test]
fn replay_is_disabled_and_health_incomplete_without_settings() {
    let mut options = PipelineOptions {
        with_consumer: false,
        ..PipelineOptions::default()
    };
    options.secrets.remove("CALCOM_WEBHOOK_SECRET");
    let p = Pipeline::start(options).unwrap();
    let res = replay(&p, Some("anything"), &json!({}));
    assert_eq!(
        (res.status, res.json()["error"].as_str()),
        (404, Some("replay_disabled"))
    );
    let health = http::send("GET", &p.url("/healthz"), &[], vec![]).unwrap();
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["status"], "incomplete");
    assert_eq!(health.json()["config"]["CALCOM_WEBHOOK_SECRET"], false);
}
