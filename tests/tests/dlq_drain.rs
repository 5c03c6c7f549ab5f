//! The way back from the dead-letter queue through Cloudflare's HTTP pull API:
//! `scripts/dlq-drain.mjs` pulls from a local stub of that API (`e2e::queues_stub`), posts the
//! records to the replay worker's `/admin/replay` in workerd (through the dev gateway, which
//! forwards `/admin/*` to it), and acks only what was replayed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use e2e::calcom::{post_signed, sample_with_uid};
use e2e::pipeline::{poll_until, repo_root, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::queues_stub::{QueuesStub, ACCOUNT_ID, API_TOKEN, QUEUE_ID};
use e2e::stub::{Fault, FaultRule};
use serde_json::Value;
use shared::contract::forward;

const WAIT: Duration = Duration::from_secs(60);
const ADMIN_TOKEN: &str = "e2e-drain-admin-token-0123456789abcdef";

struct Drain<'a> {
    pipeline: &'a Pipeline,
    queues: &'a QueuesStub,
    api_token: &'a str,
    admin_token: &'a str,
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Drain<'_> {
    fn run(&self, args: &[&str]) -> Run {
        let script = repo_root().join("scripts/dlq-drain.mjs");
        let output: Output = Command::new("node")
            .arg(&script)
            .args(args)
            .env("CLOUDFLARE_API_BASE", self.queues.base_url())
            .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID)
            .env("CLOUDFLARE_API_TOKEN", self.api_token)
            .env("DLQ_ID", QUEUE_ID)
            .env("REPLAY_URL", self.pipeline.url(""))
            .env("ADMIN_TOKEN", self.admin_token)
            .current_dir(Path::new(&repo_root()))
            .output()
            .expect("node runs scripts/dlq-drain.mjs");
        let run = Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        for secret in [API_TOKEN, ADMIN_TOKEN, TEST_WEBHOOK_SECRET] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "a secret in the drain's output:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
        run
    }
}

/// Posts a booking that SendGrid refuses once with 400, and returns its dead letter (the wrapper
/// the consumer wrote to the DLQ).
fn dead_letter_for(p: &Pipeline, uid: &str) -> Value {
    p.stub
        .push_fault(FaultRule::times(Fault::status(400), 1).matching(uid));
    let body = serde_json::to_vec(&sample_with_uid("booking-created", uid)).unwrap();
    let answer = post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &body).unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    p.wait_dead_letter(uid, WAIT)
}

#[test]
fn the_drain_replays_what_the_replay_worker_accepts_and_acks_only_that() {
    let mut options = PipelineOptions::default();
    options
        .secrets
        .insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    let p = Pipeline::start(options).unwrap();
    let queues = QueuesStub::start_with_max_retries(100);
    let drain = Drain {
        pipeline: &p,
        queues: &queues,
        api_token: API_TOKEN,
        admin_token: ADMIN_TOKEN,
    };

    // Two dead letters as the consumer wrote them, one moved by the queue unchanged (the bare
    // original), a forwarded delivery the queue moved as the producer wrote it, and one that is
    // no message of ours.
    let first = dead_letter_for(&p, "drain-first");
    let second = dead_letter_for(&p, "drain-second");
    assert_eq!(p.emails_for("drain-first").len(), 0);
    let first_id = queues.publish_json(&first);
    let second_id = queues.publish_json(&second["original"]);
    let forwarded = serde_json::to_string(&sample_with_uid("booking-created", "drain-forwarded"));
    let forwarded = forward::write("2026-12-02T10:00:00.000Z", &forwarded.unwrap());
    let forwarded_id = queues.publish_text(&forwarded);
    let junk_id = queues.publish_text("not a booking message");

    // A dry run lists them (reason, uid, no personal data), acks nothing and hands them back.
    let listed = drain.run(&["--dry-run"]);
    assert_eq!(listed.status, 0, "{}\n{}", listed.stdout, listed.stderr);
    assert!(
        listed.stdout.contains("booking drain-first"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("reason: SendGrid"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("moved by the queue"),
        "{}",
        listed.stdout
    );
    assert!(
        listed
            .stdout
            .contains("booking drain-forwarded  key (the consumer computes it)"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("4 message(s) listed"),
        "{}",
        listed.stdout
    );
    for personal in ["alex.student@example.org", "Alex Student"] {
        assert!(!listed.stdout.contains(personal), "{}", listed.stdout);
    }
    assert!(queues.acked().is_empty());
    assert_eq!(queues.stored().len(), 4);
    assert!(
        queues.stored().iter().all(|m| !m.leased),
        "a dry run hands its leases back"
    );

    // A wrong Cloudflare token: a clear error, nothing acked, nothing replayed.
    let refused = Drain {
        api_token: "not-the-token",
        ..drain
    }
    .run(&[]);
    assert_eq!(refused.status, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("HTTP 401") && refused.stderr.contains("Authentication error"),
        "{}",
        refused.stderr
    );

    // A wrong admin token: the batch is handed back, not acked.
    let refused = Drain {
        admin_token: "wrong-admin-token",
        ..drain
    }
    .run(&[]);
    assert_eq!(refused.status, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("replay failed with HTTP 401"),
        "{}",
        refused.stderr
    );
    assert!(queues.acked().is_empty());
    assert!(queues.stored().iter().all(|m| !m.leased));

    // The real drain: three replayed and acked, the junk left (leased, so not pulled again).
    let drained = drain.run(&["--batch-size", "2"]);
    assert_eq!(drained.status, 3, "{}\n{}", drained.stdout, drained.stderr);
    assert!(
        drained
            .stdout
            .contains("done: 4 pulled, 3 replayed, 1 left in the DLQ"),
        "{}",
        drained.stdout
    );
    assert!(
        drained.stdout.contains(&junk_id) && drained.stdout.contains("body_not_json"),
        "{}",
        drained.stdout
    );
    let mut acked = queues.acked();
    acked.sort();
    let mut expected = vec![first_id.clone(), second_id.clone(), forwarded_id];
    expected.sort();
    assert_eq!(acked, expected);
    let left: Vec<String> = queues.stored().into_iter().map(|m| m.id).collect();
    assert_eq!(left, [junk_id]);
    for uid in ["drain-first", "drain-second", "drain-forwarded"] {
        poll_until(WAIT, || (p.emails_for(uid).len() == 1).then_some(()))
            .unwrap_or_else(|| panic!("{uid} not delivered; logs:\n{}", p.logs()));
    }

    // Replaying a dead letter whose email was sent meanwhile sends nothing (the ledger).
    let again_id = queues.publish_json(&first);
    let again = drain.run(&[]);
    assert_eq!(again.status, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("done: 1 pulled, 1 replayed"),
        "{}",
        again.stdout
    );
    assert!(queues.acked().contains(&again_id));
    let key = first["original"]["key"].as_str().unwrap();
    assert!(
        p.wait_for_log_lines(&["\"message_duplicate\"", key], 1, WAIT),
        "{}",
        p.logs()
    );
    assert_eq!(p.emails_for("drain-first").len(), 1);
}

#[test]
fn bad_arguments_and_missing_settings_are_refused_before_any_request() {
    let queues = QueuesStub::start();
    let script = repo_root().join("scripts/dlq-drain.mjs");
    for (args, needle) in [
        (
            vec!["--batch-size", "0"],
            "--batch-size needs a whole number",
        ),
        (
            vec!["--visibility-timeout-secs", "50000"],
            "from 1 to 43200",
        ),
        (vec!["--frobnicate"], "unknown argument --frobnicate"),
    ] {
        let output = Command::new("node")
            .arg(&script)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = Command::new("node")
        .arg(&script)
        .env("CLOUDFLARE_API_BASE", queues.base_url())
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("DLQ_ID")
        .env_remove("REPLAY_URL")
        .env_remove("ADMIN_TOKEN")
        // Set as for the drain of old, when the producer served /admin/replay.
        .env("PRODUCER_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "set CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN, DLQ_ID, REPLAY_URL, ADMIN_TOKEN"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("PRODUCER_URL is no longer used: /admin/replay is the replay worker's"),
        "{stderr}"
    );
    assert!(queues.requests().is_empty());
}
