//! SendGrid failing in seeded mixes: every booking ends sent or dead-lettered with its reason,
//! nothing vanishes, and a second email only comes where SendGrid accepted an email but the
//! consumer could not know it (an unknown outcome) and the policy allows a resend.
//!
//! Which request fails is chosen by the stub from hash(seed, idempotency key, attempt), so a run
//! replays whatever the arrival order: `FAULT_SEED=<printed seed> cargo test -p e2e --test faults`.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::calcom::{post_signed, sample_with_uid};
use e2e::pipeline::{poll_until, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::stub::{Chaos, Fault};
use serde_json::Value;

const BOOKINGS: usize = 40;

fn seed() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        })
}

/// Runs the mix under `policy` and returns (emails per uid, dead letters per uid, unknown-outcome
/// acceptances per uid) after checking that every booking was accounted for.
fn run(
    policy: &str,
    faults: Vec<Fault>,
    prefix: &str,
) -> (Pipeline, BTreeMap<String, usize>, BTreeMap<String, Value>) {
    let seed = seed();
    println!("{prefix}: FAULT_SEED={seed} UNKNOWN_OUTCOME={policy}");
    let mut options = PipelineOptions::default();
    options.vars.insert("UNKNOWN_OUTCOME".into(), policy.into());
    options
        .vars
        .insert("SENDGRID_TIMEOUT_MS".into(), "1000".into());
    let p = Pipeline::start(options).unwrap();
    p.stub.set_chaos(Some(Chaos {
        seed,
        share_percent: 40,
        faults,
    }));

    let uids: Vec<String> = (0..BOOKINGS).map(|i| format!("{prefix}-{i}")).collect();
    std::thread::scope(|s| {
        for chunk in uids.chunks(BOOKINGS / 4) {
            let p = &p;
            s.spawn(move || {
                for uid in chunk {
                    let body =
                        serde_json::to_vec(&sample_with_uid("booking-created", uid)).unwrap();
                    let res =
                        post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &body)
                            .unwrap();
                    assert_eq!(res.status, 202, "seed {seed}: {}", res.body);
                }
            });
        }
    });

    let settled = |p: &Pipeline| {
        let emails = emails_per_uid(p, prefix);
        let dead = dead_per_uid(p, prefix);
        uids.iter()
            .all(|u| emails.contains_key(u) || dead.contains_key(u))
            .then_some((emails, dead))
    };
    poll_until(Duration::from_secs(240), || settled(&p)).unwrap_or_else(|| {
        panic!(
            "seed {seed}: not every booking ended sent or dead-lettered; logs:\n{}",
            p.logs()
        )
    });
    // Let in-flight retries of already-settled bookings finish before counting duplicates.
    std::thread::sleep(Duration::from_secs(3));
    let emails = emails_per_uid(&p, prefix);
    let dead = dead_per_uid(&p, prefix);
    println!(
        "{prefix}: {} bookings, {} emailed, {} dead-lettered, {} SendGrid attempts",
        BOOKINGS,
        emails.len(),
        dead.len(),
        p.stub.attempts().len()
    );
    for (uid, letter) in &dead {
        let reason = letter["dead_letter"]["reason"].as_str().unwrap_or("");
        assert!(
            !reason.is_empty(),
            "seed {seed}: dead letter of {uid} without a reason"
        );
    }
    // Count both sides: every booking is emailed or dead-lettered, never neither.
    assert_eq!(
        uids.iter()
            .filter(|u| emails.contains_key(*u) || dead.contains_key(*u))
            .count(),
        BOOKINGS,
        "seed {seed}"
    );
    (p, emails, dead)
}

fn emails_per_uid(p: &Pipeline, prefix: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in p.stub.emails() {
        if let Some(uid) = e.body["custom_args"]["booking_uid"]
            .as_str()
            .filter(|u| u.starts_with(prefix))
        {
            *out.entry(uid.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

fn dead_per_uid(p: &Pipeline, prefix: &str) -> BTreeMap<String, Value> {
    p.stub
        .dead_letters()
        .into_iter()
        .filter_map(|r| {
            let uid = r["body"]["original"]["booking"]["uid"].as_str()?.to_owned();
            uid.starts_with(prefix).then(|| (uid, r["body"].clone()))
        })
        .collect()
}

fn status(status: u16) -> Fault {
    Fault::Status {
        status,
        retry_after: None,
    }
}

#[test]
fn status_errors_timeouts_and_dropped_connections_lose_nothing_and_duplicate_nothing() {
    let faults = vec![
        status(500),
        status(502),
        status(503),
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        Fault::Hang,
        Fault::Close,
        Fault::AcceptThenClose,
    ];
    let (p, emails, _dead) = run("retry", faults, "mix");
    // Only an accepted-then-cut-off send lets the stub take an email the consumer cannot know
    // about: under `retry`, that is the one way to a second email.
    let accepted_unknown = uids_with_fault(&p, "accept_then_close");
    let duplicated: Vec<_> = emails
        .iter()
        .filter(|(uid, n)| **n > 1 && !accepted_unknown.contains(*uid))
        .collect();
    assert!(
        duplicated.is_empty(),
        "duplicates without an accepted unknown outcome: {duplicated:?}"
    );
    // The ledger agrees with the stub: every `sent` row was emailed, and every emailed booking
    // is recorded as sent unless its only email was one the consumer could not know about.
    let rows = p
        .ledger_sql("SELECT booking_uid, state FROM deliveries WHERE booking_uid LIKE 'mix-%'")
        .unwrap();
    let sent: Vec<&str> = rows
        .iter()
        .filter(|r| r["state"] == "sent")
        .filter_map(|r| r["booking_uid"].as_str())
        .collect();
    assert!(
        sent.iter().all(|uid| emails.contains_key(*uid)),
        "ledger rows: {rows:?}"
    );
    for uid in emails.keys() {
        assert!(
            sent.contains(&uid.as_str()) || accepted_unknown.contains(uid),
            "{uid} was emailed but is not recorded as sent; ledger rows: {rows:?}"
        );
    }
}

/// Booking uids with at least one SendGrid attempt that met `fault`.
fn uids_with_fault(p: &Pipeline, fault: &str) -> std::collections::BTreeSet<String> {
    p.stub
        .attempts()
        .iter()
        .filter(|a| a.fault.as_deref() == Some(fault))
        .filter_map(|a| {
            a.body["custom_args"]["booking_uid"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn under_the_dead_letter_policy_unknown_outcomes_are_never_resent() {
    let faults = vec![
        status(503),
        Fault::Hang,
        Fault::Close,
        Fault::AcceptThenClose,
    ];
    let (p, emails, dead) = run("dead-letter", faults, "strict");
    assert!(emails.values().all(|n| *n == 1), "{emails:?}");
    // Every booking whose send timed out or was cut off went to a person, not to SendGrid again.
    let unknown: Vec<_> = dead
        .values()
        .filter(|d| {
            d["dead_letter"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("outcome unknown"))
        })
        .collect();
    let attempts_cut_off = p
        .stub
        .attempts()
        .iter()
        .filter(|a| {
            a.fault
                .as_deref()
                .is_some_and(|f| ["hang", "close", "accept_then_close"].contains(&f))
        })
        .count();
    println!(
        "strict: {} unknown outcomes dead-lettered, {attempts_cut_off} attempts cut off",
        unknown.len()
    );
    assert_eq!(
        unknown.len(),
        attempts_cut_off,
        "each cut-off attempt is its booking's last"
    );
}
