//! The operator's side in workerd: `/healthz`, `/admin/replay`, and Sentry reports.

use std::time::Duration;

use e2e::calcom::{post_signed, post_with_signature, sample_with_uid};
use e2e::http;
use e2e::pipeline::{poll_until, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::sentry_stub::SentryStub;
use e2e::stub::{Fault, FaultRule};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
/// At least 32 characters: a shorter token keeps the route disabled.
const ADMIN_TOKEN: &str = "e2e-admin-token-value-0123456789abcdef";

fn post_booking(p: &Pipeline, uid: &str) {
    let body = serde_json::to_vec(&sample_with_uid("booking-created", uid)).unwrap();
    assert_eq!(
        post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &body)
            .unwrap()
            .status,
        202
    );
}

fn health(p: &Pipeline, token: Option<&str>) -> http::Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http::send("GET", &p.url("/healthz"), &headers, vec![]).unwrap()
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

    // Health: anyone sees the status word only; the admin token shows which settings are present
    // (never their values).
    for token in [None, Some("wrong")] {
        let health = health(&p, token);
        assert_eq!(health.status, 200, "{}", health.body);
        assert_eq!(health.json(), json!({"status": "ok"}));
    }
    let health = health(&p, Some(ADMIN_TOKEN));
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(
        health.json()["config"],
        json!({"CALCOM_WEBHOOK_SECRET": true, "BOOKING_QUEUE": true})
    );
    assert_eq!(health.json()["problems"], json!([]));
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
    assert_eq!(res.json()["failed"], json!([]));
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

    // Six originals of ~60 KB: more than one queue batch may hold (256 KB), so they go in two
    // sendBatch calls; all six are accepted and emailed.
    let big: Vec<Value> = (0..6)
        .map(|n| {
            let mut m = dead["original"].clone();
            m["key"] = json!(format!("{:032x}", 0xb16_0000 + n));
            m["booking"]["uid"] = json!(format!("adm-big-{n}"));
            m["booking"]["notes"] = json!(format!("{n} {}", "long answer ".repeat(5_000)));
            m
        })
        .collect();
    assert!(big
        .iter()
        .all(|m| (60_000..64_000).contains(&m.to_string().len())));
    let res = replay(&p, Some(ADMIN_TOKEN), &json!(big));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        (
            &res.json()["replayed"],
            &res.json()["failed"],
            &res.json()["rejected"]
        ),
        (&json!(6), &json!([]), &json!([]))
    );
    for n in 0..6 {
        let uid = format!("adm-big-{n}");
        poll_until(WAIT, || (p.emails_for(&uid).len() == 1).then_some(()))
            .unwrap_or_else(|| panic!("{uid} not delivered; logs:\n{}", p.logs()));
    }

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
    assert!(
        p.wait_for_log_lines(&["\"replay_refused\"", "ADMIN_TOKEN is not set"], 1, WAIT),
        "{}",
        p.logs()
    );
    // Publicly only the word; the log line names what is missing.
    let health = health(&p, None);
    assert_eq!(health.status, 503);
    assert_eq!(health.json(), json!({"status": "incomplete"}));
    assert!(
        p.wait_for_log_lines(
            &[
                "\"health_checked\"",
                "\"error\"",
                "CALCOM_WEBHOOK_SECRET is not set"
            ],
            1,
            WAIT
        ),
        "{}",
        p.logs()
    );
}

#[test]
fn a_short_admin_token_keeps_replay_disabled_and_a_weak_secret_degrades_health() {
    const SHORT_TOKEN: &str = "e2e-short-admin-token-012345678"; // 31 characters
    const WEAK_SECRET: &str = "short-secret";
    assert_eq!(SHORT_TOKEN.len(), 31);
    let mut options = PipelineOptions {
        with_consumer: false,
        ..PipelineOptions::default()
    };
    options
        .secrets
        .insert("ADMIN_TOKEN".into(), SHORT_TOKEN.into());
    options.secrets.insert(
        "CALCOM_WEBHOOK_SECRET".into(),
        format!("{WEAK_SECRET},{TEST_WEBHOOK_SECRET}"),
    );
    let p = Pipeline::start(options).unwrap();

    // Even with that very token the route stays disabled, and the log says why.
    let res = replay(&p, Some(SHORT_TOKEN), &json!({}));
    assert_eq!(
        (res.status, res.json()["error"].as_str()),
        (404, Some("replay_disabled")),
        "{}",
        res.body
    );
    assert!(
        p.wait_for_log_lines(
            &["\"replay_refused\"", "shorter than 32 characters"],
            1,
            WAIT
        ),
        "{}",
        p.logs()
    );

    // The weak secret still verifies (Cal.com would not resend a refused booking) …
    for n in 0..2 {
        let body = serde_json::to_vec(&sample_with_uid(
            "booking-created",
            &format!("adm-weak-{n}"),
        ))
        .unwrap();
        let res = post_signed(&p.url("/api/calcom-webhook"), WEAK_SECRET, &body).unwrap();
        assert_eq!(res.status, 202, "{}", res.body);
    }
    // … health says `degraded` and nothing more, with or without the (short) token …
    for token in [None, Some(SHORT_TOKEN)] {
        let health = health(&p, token);
        assert_eq!(health.status, 200, "{}", health.body);
        assert_eq!(health.json(), json!({"status": "degraded"}));
    }
    // … and one error line per isolate names it by position, never by value.
    assert!(
        p.wait_for_log_lines(
            &[
                "\"producer_misconfigured\"",
                "secret 1 of 2 is shorter than 16 bytes"
            ],
            1,
            WAIT
        ),
        "{}",
        p.logs()
    );
    assert!(p.wait_for_log_lines(
        &[
            "\"health_checked\"",
            "ADMIN_TOKEN is shorter than 32 characters"
        ],
        2,
        WAIT
    ));
    assert_eq!(
        p.count_log_lines(&["\"producer_misconfigured\"", "shorter than 16 bytes"]),
        1,
        "once per isolate:\n{}",
        p.logs()
    );
    let logs = p.logs();
    assert!(!logs.contains(WEAK_SECRET), "a secret in the log");
    assert!(!logs.contains(SHORT_TOKEN), "the admin token in the log");
}
