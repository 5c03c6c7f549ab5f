//! Never a second email for a delivery the ledger records as sent: repeats from Cal.com, queue
//! redeliveries, dead-letter replays; and both sides of the unknown-outcome policy.

use std::time::Duration;

use e2e::calcom::{post_signed, sample_with_uid};
use e2e::http;
use e2e::pipeline::{poll_until, shared_pipeline, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::stub::{Fault, FaultRule};
use serde_json::Value;
use shared::contract::calcom::envelope::{parse_delivery, Delivery};
use shared::contract::dead_letter::DeadLetter;
use shared::contract::message::BookingMessage;

const WAIT: Duration = Duration::from_secs(60);

fn body(uid: &str) -> Vec<u8> {
    serde_json::to_vec(&sample_with_uid("booking-created", uid)).unwrap()
}

fn post(p: &Pipeline, body: &[u8]) {
    let res = post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, body).unwrap();
    assert_eq!(res.status, 202, "{}", res.body);
}

/// The message the producer queues for `body` (the key depends only on trigger and payload).
fn message(body: &[u8]) -> BookingMessage {
    match parse_delivery(body, "2026-01-01T00:00:00.000Z").unwrap() {
        Delivery::Booking(m) => *m,
        other => panic!("not a booking: {other:?}"),
    }
}

fn wait_email(p: &Pipeline, uid: &str) {
    poll_until(WAIT, || (!p.emails_for(uid).is_empty()).then_some(()))
        .unwrap_or_else(|| panic!("no email for {uid}; logs:\n{}", p.logs()));
}

fn wait_duplicates(p: &Pipeline, key: &str, n: usize) {
    assert!(
        p.wait_for_log_lines(&["\"message_duplicate\"", key], n, WAIT),
        "expected {n} duplicate(s) of {key}; logs:\n{}",
        p.logs()
    );
}

fn enqueue(p: &Pipeline, json: &str) {
    let res = http::send(
        "POST",
        &p.url("/__dev/enqueue?type=json"),
        &[],
        json.as_bytes().to_vec(),
    )
    .unwrap();
    assert_eq!(res.status, 202, "{}", res.body);
}

fn ledger_row(p: &Pipeline, key: &str) -> Value {
    let rows = p
        .ledger_sql(&format!("SELECT * FROM deliveries WHERE key = '{key}'"))
        .unwrap();
    rows.into_iter().next().unwrap_or(Value::Null)
}

#[test]
fn the_same_webhook_twice_in_sequence_sends_one_email() {
    let p = shared_pipeline();
    let (uid, body) = ("x-seq", body("x-seq"));
    post(p, &body);
    wait_email(p, uid);
    post(p, &body);
    wait_duplicates(p, &message(&body).key, 1);
    assert_eq!(p.emails_for(uid).len(), 1);
    let row = ledger_row(p, &message(&body).key);
    assert_eq!(row["state"], "sent", "{row}");
    assert_eq!(
        row["sendgrid_message_id"],
        p.emails_for(uid)[0].message_id.as_str(),
        "the audit trail names SendGrid's id"
    );
}

#[test]
fn the_same_webhook_eight_times_at_once_sends_one_email() {
    let p = shared_pipeline();
    let (uid, body) = ("x-concurrent", body("x-concurrent"));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| post(p, &body));
        }
    });
    wait_email(p, uid);
    wait_duplicates(p, &message(&body).key, 7);
    assert_eq!(p.emails_for(uid).len(), 1);
    assert_eq!(
        p.stub
            .attempts()
            .iter()
            .filter(|a| a.body.to_string().contains(uid))
            .count(),
        1,
        "only one send was attempted"
    );
}

#[test]
fn a_redelivery_after_a_lost_ack_sends_nothing() {
    let p = shared_pipeline();
    let (uid, body) = ("x-redelivered", body("x-redelivered"));
    post(p, &body);
    wait_email(p, uid);
    // Queues may deliver a message again when an ack is lost: the same body arrives again.
    enqueue(p, &message(&body).to_json());
    wait_duplicates(p, &message(&body).key, 1);
    assert_eq!(p.emails_for(uid).len(), 1);
}

#[test]
fn replaying_a_dead_letter_of_a_sent_message_sends_nothing() {
    let p = shared_pipeline();
    let (uid, body) = ("x-replayed", body("x-replayed"));
    post(p, &body);
    wait_email(p, uid);
    let original = serde_json::to_value(message(&body)).unwrap();
    let wrapper = DeadLetter::new(
        &original,
        "operator test",
        Some(503),
        6,
        "2026-01-01T00:00:00Z",
    );
    enqueue(p, &wrapper.to_json());
    wait_duplicates(p, &message(&body).key, 1);
    assert_eq!(p.emails_for(uid).len(), 1);
}

#[test]
fn under_the_retry_policy_a_dropped_connection_is_sent_again() {
    let p = shared_pipeline();
    let (uid, body) = ("x-closed-retry", body("x-closed-retry"));
    p.stub
        .push_fault(FaultRule::times(Fault::Close, 1).matching(uid));
    post(p, &body);
    wait_email(p, uid);
    assert_eq!(p.emails_for(uid).len(), 1);
    let row = ledger_row(p, &message(&body).key);
    assert_eq!(
        (row["state"].as_str(), row["attempts"].as_i64()),
        (Some("sent"), Some(2)),
        "{row}"
    );
}

#[test]
fn under_the_dead_letter_policy_an_unknown_outcome_waits_for_a_person() {
    let mut options = PipelineOptions::default();
    options
        .vars
        .insert("UNKNOWN_OUTCOME".into(), "dead-letter".into());
    let p = Pipeline::start(options).unwrap();
    let (uid, body) = ("x-closed-dl", body("x-closed-dl"));
    let key = message(&body).key;
    p.stub
        .push_fault(FaultRule::times(Fault::Close, 1).matching(uid));
    post(&p, &body);

    let dead = |n: usize| {
        poll_until(WAIT, || {
            let found: Vec<Value> = p
                .stub
                .dead_letters()
                .into_iter()
                .map(|r| r["body"].clone())
                .filter(|b| b["original"]["key"] == key.as_str())
                .collect();
            (found.len() >= n).then_some(found)
        })
        .unwrap_or_else(|| panic!("expected {n} dead letter(s); logs:\n{}", p.logs()))
    };
    let first = dead(1).remove(0);
    let reason = first["dead_letter"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("outcome unknown") && reason.contains(&key),
        "{reason}"
    );
    assert_eq!(ledger_row(&p, &key)["state"], "unknown");

    // A replay follows the same policy: dead-lettered again, still nothing sent.
    enqueue(&p, &first.to_string());
    dead(2);
    assert!(p.emails_for(uid).is_empty());

    // The operator decides to send it: the command the dead letter names, then a replay.
    p.ledger_sql(&format!(
        "UPDATE deliveries SET state='failed' WHERE key='{key}'"
    ))
    .unwrap();
    enqueue(&p, &first.to_string());
    wait_email(&p, uid);
    assert_eq!(ledger_row(&p, &key)["state"], "sent");
}
