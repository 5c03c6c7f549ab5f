//! Runs the consumer's whole core for batches of forwarded deliveries (`v: 2`, as the producer
//! sends them), every step answered as on the happy path: claimed, accepted by SendGrid,
//! recorded. For a profiler: `valgrind --tool=callgrind target/release/examples/profile_batch
//! [SAMPLE] [BATCHES]`, then `callgrind_annotate`; per message, (BATCHES = 11 − BATCHES = 1) / 100
//! with batches of 10. Instruction counts are repeatable on a busy machine, unlike time.

use shared::delivery::ledger::{LedgerAnswer, LedgerCall, LedgerRow, LedgerState, SqlValue};
use shared::delivery::protocol::{Batch, Body, Event, Inbound, SendAnswer, Step};
use shared::delivery::sendgrid::SendResult;
use shared::delivery::settings::Settings;
use shared::ingress::{accept_checked, Form, Ingress};

const BATCH: usize = 10;
const UID: &str = "profile-uid-placeholder";

fn main() {
    let mut args = std::env::args().skip(1);
    let sample = args.next().unwrap_or_else(|| "booking-created".into());
    let batches: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let path = format!("{}/../samples/{sample}.json", env!("CARGO_MANIFEST_DIR"));
    let mut delivery: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // One forwarded message; each booking of the run is it with its own uid (a plain replace,
    // so that the profile counts the consumer's work, not the making of its input).
    delivery["payload"]["uid"] = UID.into();
    let template = forwarded(&delivery);
    let settings = Settings::from_lookup(|name| {
        let value = match name {
            "SENDGRID_API_KEY" => "SG.profile",
            "EMAIL_FROM" => "Bookings <bookings@example.com>",
            "EMAIL_TO" => "staff@example.com",
            _ => return None,
        };
        Some(value.to_owned())
    });
    let mut emails = 0;
    for b in 0..batches {
        let inbound = (0..BATCH)
            .map(|i| Inbound {
                attempts: 1,
                body: Body::Text(template.replace(UID, &format!("profile-{b:05}-{i}"))),
            })
            .collect();
        emails += run(Batch::new(inbound, &settings, b as u64));
    }
    println!("{batches} batches of {BATCH} → {emails} emails");
}

/// The queue message the producer sends for `delivery`.
fn forwarded(delivery: &serde_json::Value) -> String {
    let body = serde_json::to_vec(delivery).unwrap();
    match accept_checked(
        true,
        Ok(()),
        &body,
        "2026-12-01T09:00:00.000Z",
        Form::Forward,
    ) {
        Ingress::Forward { body, .. } => body,
        other => panic!("the sample is not forwarded: {other:?}"),
    }
}

/// Drives one batch to its settlement; the number of emails sent.
fn run(mut batch: Batch<'_>) -> usize {
    let now = 1_764_579_600_000;
    let mut event = Event::Start;
    let mut emails = 0;
    loop {
        event = match batch.advance(event, now) {
            Step::Ledger(calls) if emails == 0 => Event::Ledger(vec![claimed(&batch, &calls[0])]),
            Step::Ledger(_) => Event::Ledger(vec![LedgerAnswer::Rows(Vec::new())]),
            Step::Send(plan) => {
                emails = plan.bodies.len();
                Event::Sent(plan.bodies.iter().map(|_| accepted()).collect())
            }
            Step::DeadLetter(_) => panic!("nothing is dead-lettered on the happy path"),
            Step::Settle(_) => return emails,
        };
    }
}

/// The claim's answer: every key of the call is this batch's.
fn claimed(batch: &Batch<'_>, call: &LedgerCall) -> LedgerAnswer {
    let SqlValue::Text(keys) = &call.statements[0].params[0] else {
        panic!("the claim's first parameter is its keys as JSON")
    };
    let keys: Vec<serde_json::Value> = serde_json::from_str(keys).unwrap();
    LedgerAnswer::Rows(
        keys.iter()
            .map(|k| LedgerRow {
                key: k["key"].as_str().unwrap().to_owned(),
                state: LedgerState::Sending,
                claim_id: batch.claim_id().to_owned(),
                lease_until: i64::MAX,
                sendgrid_message_id: None,
            })
            .collect(),
    )
}

fn accepted() -> SendAnswer {
    SendAnswer {
        result: SendResult::from_response(202, None, None, "", 1_764_579_600),
        message_id: Some("profile-message-id".into()),
        duration_ms: 120,
    }
}
