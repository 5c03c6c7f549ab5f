//! One batch, two ledger round trips: ten bookings that land in one queue batch are claimed in
//! one D1 call and recorded in one, whatever the batch's size (`d1_calls` in the consumer's
//! `batch_settled` line).

use std::time::Duration;

use e2e::calcom::{post_signed, sample_with_uid};
use e2e::pipeline::{poll_until, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use serde_json::Value;

const BOOKINGS: usize = 10;

/// The consumer's `batch_settled` lines so far.
fn batch_lines(p: &Pipeline) -> Vec<Value> {
    p.logs()
        .lines()
        .filter(|l| l.contains(r#""event":"batch_settled""#))
        .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
        .collect()
}

#[test]
fn a_batch_of_ten_makes_at_most_two_d1_calls() {
    // A long batch timeout: the ten messages wait for each other (max_batch_size is 10).
    let p = Pipeline::start(PipelineOptions {
        batch_timeout_secs: 20,
        ..PipelineOptions::default()
    })
    .unwrap();
    let uids: Vec<String> = (0..BOOKINGS).map(|i| format!("batch-{i}")).collect();
    for uid in &uids {
        let body = serde_json::to_vec(&sample_with_uid("booking-created", uid)).unwrap();
        let res = post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &body).unwrap();
        assert_eq!(res.status, 202, "{}", res.body);
    }
    let all_sent = poll_until(Duration::from_secs(60), || {
        uids.iter()
            .all(|u| p.emails_for(u).len() == 1)
            .then_some(())
    });
    assert!(
        all_sent.is_some(),
        "not every booking was emailed once; logs:\n{}",
        p.logs()
    );
    let lines = poll_until(Duration::from_secs(10), || {
        let lines = batch_lines(&p);
        let settled: u64 = lines.iter().filter_map(|l| l["messages"].as_u64()).sum();
        (settled >= BOOKINGS as u64).then_some(lines)
    })
    .unwrap_or_else(|| {
        panic!(
            "no batch_settled lines for every message; logs:\n{}",
            p.logs()
        )
    });
    let full = lines
        .iter()
        .find(|l| l["messages"] == BOOKINGS)
        .unwrap_or_else(|| panic!("the ten did not land in one batch: {lines:?}"));
    assert_eq!(full["sent"], BOOKINGS, "{full}");
    let calls = full["d1_calls"].as_u64().expect("d1_calls is logged");
    assert!(calls <= 2, "{calls} D1 calls for one batch: {full}");
    assert!(
        lines
            .iter()
            .all(|l| l["d1_calls"].as_u64().is_some_and(|c| c <= 2)),
        "{lines:?}"
    );
}
