//! The whole pipeline in workerd: producer → real local queue → consumer → SendGrid stub, with the
//! dead-letter queue observed by the dev gateway. Tests share one pipeline and tell their bookings
//! apart by uid; faults are injected per booking (stub rules matching the uid).

use std::time::{Duration, Instant};

use e2e::calcom::{post_signed, post_with_signature, sample, sample_with_uid};
use e2e::http;
use e2e::pipeline::{poll_until, shared_pipeline, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::stub::{Fault, FaultRule, ReceivedEmail};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn post_booking(p: &Pipeline, kind: &str, uid: &str) {
    let body = serde_json::to_vec(&sample_with_uid(kind, uid)).unwrap();
    let res = post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &body).unwrap();
    assert_eq!(res.status, 202, "{kind} {uid}: {}", res.body);
}

fn wait_emails(p: &Pipeline, uid: &str, n: usize) -> Vec<ReceivedEmail> {
    poll_until(WAIT, || Some(p.emails_for(uid)).filter(|e| e.len() >= n));
    let found = p.emails_for(uid);
    assert_eq!(found.len(), n, "emails for {uid}; logs:\n{}", p.logs());
    found
}

fn wait_dead_letter(p: &Pipeline, uid: &str) -> Value {
    p.wait_dead_letter(uid, WAIT)
}

fn mail_attempts_for(p: &Pipeline, uid: &str) -> usize {
    p.stub
        .attempts()
        .iter()
        .filter(|a| a.body.to_string().contains(uid))
        .count()
}

fn text_part(email: &ReceivedEmail) -> &str {
    email.body["content"][0]["value"].as_str().unwrap()
}

fn enqueue_raw(p: &Pipeline, body: &str, content_type: &str) {
    let res = http::send(
        "POST",
        &p.url(&format!("/__dev/enqueue?type={content_type}")),
        &[],
        body.as_bytes().to_vec(),
    )
    .unwrap();
    assert_eq!(res.status, 202, "{}", res.body);
}

#[test]
fn one_email_per_booking_kind_with_subject_and_fields_staff_need() {
    let p = shared_pipeline();
    let kinds = [
        (
            "booking-created",
            "New booking: 30 Min Consultation with Alex Student",
        ),
        (
            "booking-rescheduled",
            "Rescheduled: 30 Min Consultation with Alex Student",
        ),
        (
            "booking-cancelled",
            "Cancelled: 30 Min Consultation with Alex Student",
        ),
        (
            "booking-requested",
            "Needs confirmation: Intro Call with Søren Ølgaard",
        ),
    ];
    for (kind, _) in kinds {
        post_booking(p, kind, &format!("c-kind-{kind}"));
    }
    for (kind, subject_start) in kinds {
        let uid = format!("c-kind-{kind}");
        let email = &wait_emails(p, &uid, 1)[0];
        let body = &email.body;
        let subject = body["subject"].as_str().unwrap();
        assert!(subject.starts_with(subject_start), "{kind}: {subject}");
        assert!(!email.message_id.is_empty());
        assert_eq!(body["content"][0]["type"], "text/plain");
        assert_eq!(body["content"][1]["type"], "text/html");
        assert_eq!(
            body["personalizations"][0]["to"][0]["email"],
            "staff@example.com"
        );
        assert_eq!(body["from"]["email"], "bookings@example.com");
        assert_eq!(
            body["custom_args"]["trigger"],
            kind.to_uppercase().replace('-', "_")
        );
        assert_eq!(
            body["custom_args"]["idempotency_key"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
        assert!(body["categories"].as_array().unwrap().len() <= 10);
        let text = text_part(email);
        assert!(
            text.contains(&uid),
            "{kind}: the booking uid is in the email"
        );
        if kind == "booking-requested" {
            assert_eq!(body["reply_to"]["email"], "soren@example.dk");
        } else {
            assert_eq!(body["reply_to"]["email"], "alex.student@example.org");
        }
    }
    let created = &p.emails_for("c-kind-booking-created")[0];
    let subject = created.body["subject"].as_str().unwrap();
    assert!(
        subject.ends_with("Tue 17 Feb, 9:00am AKST"),
        "organizer's zone and 12h format: {subject}"
    );
    let text = text_part(created);
    for needed in [
        "Alex Student",
        "alex.student@example.org",
        "+1 907 555 0142",
        "Cal Video",
        "https://meetco.daily.co/abc",
        "Northern Lights Academy",
        "parent@example.org",
    ] {
        assert!(
            text.contains(needed),
            "created email lacks {needed}:\n{text}"
        );
    }
    assert!(
        text.contains("CET"),
        "the attendee's own zone (Berlin) too:\n{text}"
    );
    assert!(!text.contains("integrations:daily"));
    let html = created.body["content"][1]["value"].as_str().unwrap();
    assert!(
        html.contains("spring") && !html.contains("<b>spring</b>"),
        "booker text is escaped in HTML"
    );

    let cancelled = text_part(&p.emails_for("c-kind-booking-cancelled")[0]).to_owned();
    assert!(cancelled.contains("Feeling unwell, sorry!"), "{cancelled}");
    let rescheduled = text_part(&p.emails_for("c-kind-booking-rescheduled")[0]).to_owned();
    assert!(
        rescheduled.contains("Tue 17 Feb") && rescheduled.contains("Tue 10 Mar"),
        "old → new:\n{rescheduled}"
    );
}

#[test]
fn refused_webhooks_and_pings_send_no_email() {
    let p = shared_pipeline();
    let body = serde_json::to_vec(&sample_with_uid("booking-created", "c-refused")).unwrap();
    let bad = shared::ingress::signature::sign(b"wrong-secret", &body);
    let res = post_with_signature(&p.url("/api/calcom-webhook"), Some(&bad), &body).unwrap();
    assert_eq!(res.status, 401);
    let ping = serde_json::to_vec(&sample("ping")).unwrap();
    assert_eq!(
        post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &ping)
            .unwrap()
            .status,
        200
    );

    post_booking(p, "booking-created", "c-refused-marker");
    wait_emails(p, "c-refused-marker", 1);
    assert!(p.emails_for("c-refused").is_empty());
    assert!(
        !p.stub
            .emails()
            .iter()
            .any(|e| e.body.to_string().contains("jdoe@example.com")),
        "the ping's attendee never gets into an email"
    );
}

#[test]
fn sendgrid_failing_twice_then_recovering_sends_exactly_one_email() {
    let p = shared_pipeline();
    let uid = "c-flaky";
    p.stub
        .push_fault(FaultRule::times(Fault::status(500), 1).matching(uid));
    p.stub.push_fault(
        FaultRule::times(
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
            1,
        )
        .matching(uid),
    );
    post_booking(p, "booking-created", uid);
    wait_emails(p, uid, 1);
    assert_eq!(mail_attempts_for(p, uid), 3, "500, 429, then 202");
    // Nothing more for it after a later booking went through.
    post_booking(p, "booking-created", "c-flaky-marker");
    wait_emails(p, "c-flaky-marker", 1);
    assert_eq!(p.emails_for(uid).len(), 1);
    assert!(p.dead_letters_for(uid).is_empty());
    assert!(p.logs().contains("message_retried"));
}

#[test]
fn a_hanging_sendgrid_times_out_and_the_retry_delivers() {
    let p = shared_pipeline();
    let uid = "c-hang";
    p.stub
        .push_fault(FaultRule::times(Fault::Hang, 1).matching(uid));
    post_booking(p, "booking-cancelled", uid);
    wait_emails(p, uid, 1);
    assert!(p.wait_for_log("no answer from SendGrid in time", WAIT));
}

#[test]
fn a_bad_key_is_a_configuration_error_retried_with_a_fix_in_the_log() {
    let p = shared_pipeline();
    let uid = "c-401";
    p.stub
        .push_fault(FaultRule::times(Fault::status(401), 1).matching(uid));
    post_booking(p, "booking-created", uid);
    wait_emails(p, uid, 1);
    assert!(p.wait_for_log("set SENDGRID_API_KEY", WAIT), "{}", p.logs());
}

#[test]
fn always_failing_is_dead_lettered_after_max_retries_with_its_reason() {
    let p = shared_pipeline();
    let uid = "c-always-503";
    p.stub
        .push_fault(FaultRule::always(Fault::status(503)).matching(uid));
    post_booking(p, "booking-created", uid);
    let dead = wait_dead_letter(p, uid);
    let info = &dead["dead_letter"];
    assert_eq!(
        info["attempts"], 6,
        "max_retries = 5, so the 6th attempt gives up: {dead}"
    );
    assert_eq!(info["last_status"], 503);
    assert!(
        info["reason"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 6 attempts"),
        "{info}"
    );
    assert_eq!(dead["original"]["v"], 1, "the original travels intact");
    assert_eq!(mail_attempts_for(p, uid), 6);
    assert!(p.emails_for(uid).is_empty());
}

#[test]
fn a_400_is_dead_lettered_at_once_and_a_pasted_back_copy_is_delivered() {
    let p = shared_pipeline();
    let uid = "c-400";
    p.stub
        .push_fault(FaultRule::times(Fault::status(400), 1).matching(uid));
    post_booking(p, "booking-requested", uid);
    let dead = wait_dead_letter(p, uid);
    assert_eq!(dead["dead_letter"]["attempts"], 1);
    assert_eq!(dead["dead_letter"]["last_status"], 400);
    assert!(
        dead["dead_letter"]["reason"]
            .as_str()
            .unwrap()
            .contains("400"),
        "{dead}"
    );
    assert_eq!(mail_attempts_for(p, uid), 1, "no pointless retries");

    // The operator pastes the whole wrapper back into booking-events (as JSON): delivered.
    enqueue_raw(p, &dead.to_string(), "json");
    wait_emails(p, uid, 1);
    // Pasting it again (just the original, as text, as the dashboard's "Send message" may) finds
    // it sent in the delivery ledger: acked as a duplicate, no second email.
    let key = dead["original"]["key"].as_str().unwrap().to_owned();
    enqueue_raw(p, &dead["original"].to_string(), "text");
    assert!(
        p.wait_for_log_lines(&["message_duplicate", &key], 1, WAIT),
        "{}",
        p.logs()
    );
    assert_eq!(p.emails_for(uid).len(), 1);
}

#[test]
fn a_malformed_message_is_dead_lettered_and_its_batch_still_delivered() {
    let p = shared_pipeline();
    enqueue_raw(p, "this is not a message", "text");
    enqueue_raw(
        p,
        r#"{"v":99,"key":"c-future","trigger":"BOOKING_CREATED"}"#,
        "json",
    );
    post_booking(p, "booking-created", "c-batch-neighbour");
    wait_emails(p, "c-batch-neighbour", 1);
    let found = poll_until(WAIT, || {
        let reasons: Vec<String> = p
            .stub
            .dead_letters()
            .iter()
            .map(|r| {
                r["body"]["dead_letter"]["reason"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        let not_json = reasons.iter().any(|r| r.contains("not JSON"));
        let version = reasons
            .iter()
            .any(|r| r.contains("unknown message version v=99"));
        (not_json && version).then_some(())
    });
    assert!(found.is_some(), "dead letters: {:?}", p.stub.dead_letters());
    let future = p
        .stub
        .dead_letters()
        .into_iter()
        .find(|r| r["body"]["original"]["v"] == 99)
        .unwrap();
    assert_eq!(
        future["body"]["dead_letter"]["attempts"], 1,
        "no retries for what cannot heal"
    );
}

#[test]
fn two_hundred_bookings_reach_the_stub() {
    let p = shared_pipeline();
    let started = Instant::now();
    std::thread::scope(|s| {
        for worker in 0..8 {
            s.spawn(move || {
                for i in (worker..200).step_by(8) {
                    post_booking(p, "booking-created", &format!("c-many-{i}"));
                }
            });
        }
    });
    let posted = started.elapsed();
    let all = poll_until(Duration::from_secs(120), || {
        let n = p
            .stub
            .emails()
            .iter()
            .filter(|e| {
                e.body["custom_args"]["booking_uid"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("c-many-"))
            })
            .count();
        (n >= 200).then_some(n)
    });
    let n = all.unwrap_or_else(|| panic!("not all 200 arrived; logs:\n{}", p.logs()));
    assert_eq!(n, 200, "exactly one email each");
    println!(
        "200 bookings: posted in {posted:?}, all emails at the stub after {:?}",
        started.elapsed()
    );
}

#[test]
fn an_unconfigured_consumer_retries_and_then_dead_letters_with_the_reason() {
    let mut options = PipelineOptions::default();
    options.secrets.remove("SENDGRID_API_KEY");
    let p = Pipeline::start(options).unwrap();
    let uid = "c-unconfigured";
    post_booking(&p, "booking-created", uid);
    let dead = wait_dead_letter(&p, uid);
    let reason = dead["dead_letter"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("consumer configuration incomplete") && reason.contains("SENDGRID_API_KEY"),
        "{reason}"
    );
    assert_eq!(dead["dead_letter"]["attempts"], 6);
    assert!(
        p.stub.attempts().is_empty(),
        "nothing was sent without a key"
    );
    assert!(p.logs().contains("consumer_misconfigured"));
}
