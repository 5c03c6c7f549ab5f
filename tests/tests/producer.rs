//! The producer in workerd (`wrangler dev`), with the real local queue: what Cal.com gets back, and
//! what reaches `booking-events` (tapped by the dev gateway in place of the consumer).

use std::time::Duration;

use e2e::calcom::{post_signed, post_with_signature, sample, sample_with_uid};
use e2e::http;
use std::sync::OnceLock;

use e2e::pipeline::{poll_until, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use serde_json::{json, Value};
use shared::contract::decode::decode_message;

const WEBHOOK: &str = "/api/calcom-webhook";

/// The producer and a queue tap, shared by the tests of this file (they tell bookings apart by uid).
fn shared_pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        Pipeline::start(PipelineOptions {
            with_consumer: false,
            ..PipelineOptions::default()
        })
        .unwrap_or_else(|e| panic!("pipeline: {e}"))
    })
}

fn webhook_url(p: &Pipeline) -> String {
    p.url(WEBHOOK)
}

/// What the queue delivered so far for booking `uid`: each message as sent, and as the consumer
/// reads it (a forwarded delivery, `v: 2`, read into its booking message, `v: 1`). The producer
/// serializes a message once and sends it as a `text` message: the tap sees a string
/// (`body_kind`).
fn queued_as_sent(p: &Pipeline, uid: &str) -> Vec<(Value, Value)> {
    let mut found = Vec::new();
    for record in p.stub.queue_tap() {
        let Ok(message) = decode_message(&record["body"]) else {
            continue;
        };
        if message.booking.uid == uid {
            assert_eq!(record["body_kind"], "string", "sent as text: {record}");
            found.push((
                record["body"].clone(),
                serde_json::to_value(message).unwrap(),
            ));
        }
    }
    found
}

/// The messages for booking `uid`, as the consumer reads them.
fn queued(p: &Pipeline, uid: &str) -> Vec<Value> {
    queued_as_sent(p, uid)
        .into_iter()
        .map(|(_, read)| read)
        .collect()
}

/// Polls until `n` messages for `uid` reached the queue's consumer.
fn wait_queued(p: &Pipeline, uid: &str, n: usize) -> Vec<Value> {
    poll_until(Duration::from_secs(30), || {
        Some(queued(p, uid)).filter(|found| found.len() >= n)
    });
    let found = queued(p, uid);
    assert_eq!(found.len(), n, "messages for {uid}; logs:\n{}", p.logs());
    found
}

fn body_of(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn each_booking_kind_is_queued_as_a_versioned_self_contained_message() {
    let p = shared_pipeline();
    for (kind, trigger) in [
        ("booking-created", "BOOKING_CREATED"),
        ("booking-rescheduled", "BOOKING_RESCHEDULED"),
        ("booking-cancelled", "BOOKING_CANCELLED"),
        ("booking-requested", "BOOKING_REQUESTED"),
    ] {
        let uid = format!("e2e-kind-{kind}");
        let body = body_of(&sample_with_uid(kind, &uid));
        let res = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, &body).unwrap();
        assert_eq!(res.status, 202, "{kind}: {}", res.body);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(
            res.json(),
            json!({"status": "queued", "event": trigger, "uid": uid})
        );

        let msg = &wait_queued(p, &uid, 1)[0];
        // Sent as the delivery itself, byte for byte, with the producer's clock …
        let (sent, _) = &queued_as_sent(p, &uid)[0];
        assert_eq!(sent["v"], 2, "{sent}");
        assert_eq!(
            sent["delivery"].as_str().map(str::as_bytes),
            Some(&body[..])
        );
        assert_eq!(sent["received_at"], msg["received_at"]);
        // … and read by the consumer into the booking message.
        assert_eq!(msg["v"], 1);
        assert_eq!(msg["trigger"], trigger);
        assert_eq!(msg["key"].as_str().unwrap().len(), 32);
        assert!(msg["received_at"].as_str().unwrap().ends_with('Z'));
        assert!(
            msg["booking"]["organizer"]["time_zone"].is_string(),
            "{msg}"
        );
    }
    let created = &queued(p, "e2e-kind-booking-created")[0];
    assert_eq!(
        created["booking"]["booker"]["email"],
        "alex.student@example.org"
    );
    assert_eq!(
        created["booking"]["meeting_url"],
        "https://meetco.daily.co/abc"
    );
    let rescheduled = &queued(p, "e2e-kind-booking-rescheduled")[0];
    assert_eq!(
        rescheduled["booking"]["rescheduled_from"]["uid"],
        "bkg_8Jq2Xz4TnR5wLm3Yv"
    );
    let cancelled = &queued(p, "e2e-kind-booking-cancelled")[0];
    assert_eq!(
        cancelled["booking"]["cancellation"]["reason"],
        "Feeling unwell, sorry!"
    );
}

#[test]
fn a_repeated_delivery_gets_the_same_answer_and_the_same_key() {
    let p = shared_pipeline();
    let body = body_of(&sample_with_uid("booking-created", "e2e-repeat"));
    let first = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, &body).unwrap();
    let second = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, &body).unwrap();
    assert_eq!((first.status, first.json()), (second.status, second.json()));
    let msgs = wait_queued(p, "e2e-repeat", 2);
    assert_eq!(
        msgs[0]["key"], msgs[1]["key"],
        "the consumer deduplicates on this key"
    );
    // Both are forwarded as they came; the consumer in workerd computes the key the golden tests
    // pin (tests/exactly_once.rs finds its ledger rows by the natively computed key).
    let sent = queued_as_sent(p, "e2e-repeat");
    assert_eq!(sent[0].0["delivery"], sent[1].0["delivery"]);
}

#[test]
fn any_configured_secret_verifies_for_rotation() {
    let p = shared_pipeline();
    let body = body_of(&sample_with_uid("booking-created", "e2e-rotated"));
    let res = post_signed(
        &webhook_url(p),
        e2e::pipeline::TEST_WEBHOOK_SECRET_NEXT,
        &body,
    )
    .unwrap();
    assert_eq!(res.status, 202, "{}", res.body);
    wait_queued(p, "e2e-rotated", 1);
}

#[test]
fn bad_signatures_get_distinct_401s_and_queue_nothing() {
    let p = shared_pipeline();
    let body = body_of(&sample_with_uid("booking-created", "e2e-unsigned"));
    let good = shared::ingress::signature::sign(TEST_WEBHOOK_SECRET.as_bytes(), &body);
    let wrong_secret = shared::ingress::signature::sign(b"not-our-secret", &body);
    let cases: Vec<(Option<&str>, &str)> = vec![
        (None, "signature_missing"),
        (
            Some("no-secret-provided"),
            "signature_not_configured_in_calcom",
        ),
        (Some(&good[..63]), "signature_malformed"),
        (Some(&wrong_secret), "signature_mismatch"),
    ];
    for (signature, code) in cases {
        let res = post_with_signature(&webhook_url(p), signature, &body).unwrap();
        assert_eq!(res.status, 401, "{code}: {}", res.body);
        assert_eq!(res.json()["error"], code);
        assert!(!res.body.contains(&good[..16]) && !res.body.contains(TEST_WEBHOOK_SECRET));
    }
    // Signed, but for another body: the bytes are what counts.
    let other = body_of(&sample_with_uid("booking-created", "e2e-unsigned-other"));
    let res = post_with_signature(&webhook_url(p), Some(&good), &other).unwrap();
    assert_eq!(res.json()["error"], "signature_mismatch");

    // A marker sent afterwards arrives; the refused bookings never do.
    post_signed(
        &webhook_url(p),
        TEST_WEBHOOK_SECRET,
        &body_of(&sample_with_uid("booking-created", "e2e-unsigned-marker")),
    )
    .unwrap();
    wait_queued(p, "e2e-unsigned-marker", 1);
    assert!(queued(p, "e2e-unsigned").is_empty());
    assert!(queued(p, "e2e-unsigned-other").is_empty());
}

#[test]
fn ping_and_unhandled_triggers_answer_200_and_queue_nothing() {
    let p = shared_pipeline();
    let mut ping = sample("ping");
    ping["createdAt"] = json!("2026-02-10T16:59:59.123Z");
    let res = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, &body_of(&ping)).unwrap();
    assert_eq!(
        (res.status, res.json()),
        (200, json!({"status": "ok", "event": "PING"}))
    );

    let res = post_signed(
        &webhook_url(p),
        TEST_WEBHOOK_SECRET,
        &body_of(&sample("meeting-started")),
    )
    .unwrap();
    assert_eq!(
        (res.status, res.json()),
        (
            200,
            json!({"status": "ignored", "event": "MEETING_STARTED"})
        )
    );

    let mut paid = sample_with_uid("booking-created", "e2e-paid");
    paid["triggerEvent"] = json!("BOOKING_PAID");
    let res = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, &body_of(&paid)).unwrap();
    assert_eq!(
        (res.status, res.json()),
        (200, json!({"status": "ignored", "event": "BOOKING_PAID"}))
    );

    post_signed(
        &webhook_url(p),
        TEST_WEBHOOK_SECRET,
        &body_of(&sample_with_uid("booking-created", "e2e-ping-marker")),
    )
    .unwrap();
    wait_queued(p, "e2e-ping-marker", 1);
    assert!(queued(p, "e2e-paid").is_empty());
    let tap = p.stub.queue_tap();
    assert!(
        !tap.iter()
            .any(|r| r.to_string().contains("2026-02-10T16:59:59.123Z")),
        "PING must not be queued"
    );
}

#[test]
fn bodies_that_are_not_cal_com_envelopes_get_400() {
    let p = shared_pipeline();
    for (body, code) in [
        (&b"false"[..], "body_not_an_object"),
        (b"name=Alex&email=alex%40example.org", "body_not_json"),
        (br#"{"payload":{"uid":"x"}}"#, "missing_trigger_event"),
        (
            br#"{"triggerEvent":"BOOKING_CREATED","payload":{}}"#,
            "missing_payload_uid",
        ),
    ] {
        let res = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, body).unwrap();
        assert_eq!(res.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(res.json()["error"], code);
    }
    // Custom templates switch Content-Type to form encoding; the answer is still a clear 400.
    let form = b"triggerEvent=BOOKING_CREATED";
    let sig = shared::ingress::signature::sign(TEST_WEBHOOK_SECRET.as_bytes(), form);
    let res = http::send(
        "POST",
        &webhook_url(p),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Cal-Signature-256", &sig),
        ],
        form.to_vec(),
    )
    .unwrap();
    assert_eq!(
        (res.status, res.json()["error"].as_str()),
        (400, Some("body_not_json"))
    );
}

#[test]
fn wrong_methods_paths_and_sizes_get_clear_json_answers() {
    let p = shared_pipeline();
    let res = http::send("GET", &webhook_url(p), &[], vec![]).unwrap();
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(res.json()["error"], "method_not_allowed");

    let res = http::send("POST", &p.url("/api/other"), &[], b"{}".to_vec()).unwrap();
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"], "not_found");

    // Trailing slash: served, not redirected (Cal.com treats a 3xx as a failure).
    let body = body_of(&sample_with_uid("booking-created", "e2e-slash"));
    let res = post_signed(&p.url("/api/calcom-webhook/"), TEST_WEBHOOK_SECRET, &body).unwrap();
    assert_eq!(res.status, 202);

    let big = vec![b' '; 300 * 1024];
    let res = post_signed(&webhook_url(p), TEST_WEBHOOK_SECRET, &big).unwrap();
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["error"], "body_too_large");
}

#[test]
fn without_a_configured_secret_everything_is_refused_with_500() {
    let mut options = PipelineOptions {
        with_consumer: false,
        ..PipelineOptions::default()
    };
    options.secrets.remove("CALCOM_WEBHOOK_SECRET");
    let p = Pipeline::start(options).unwrap();
    let body = body_of(&sample_with_uid("booking-created", "e2e-no-secret"));
    // Not even a body signed with an empty key gets through.
    for secret in [TEST_WEBHOOK_SECRET, ""] {
        let res = post_signed(&webhook_url(&p), secret, &body).unwrap();
        assert_eq!(res.status, 500);
        assert_eq!(res.json()["error"], "secret_not_configured");
        assert!(res.json()["message"]
            .as_str()
            .unwrap()
            .contains("CALCOM_WEBHOOK_SECRET"));
    }
    assert!(
        p.wait_for_log("CALCOM_WEBHOOK_SECRET is not set", Duration::from_secs(10)),
        "{}",
        p.logs()
    );
}

#[test]
fn a_queue_that_refuses_the_message_gets_503_and_an_error_line_naming_the_booking() {
    // No BOOKING_QUEUE binding: every send fails, as a queue that refuses messages would.
    let p = Pipeline::start(PipelineOptions {
        with_consumer: false,
        producer_queue: false,
        ..PipelineOptions::default()
    })
    .unwrap();
    // Sized (the entry module's direct path) and chunked (the Rust handler): the same answer.
    for (uid, chunked) in [("e2e-refused-sized", false), ("e2e-refused-chunked", true)] {
        let body = body_of(&sample_with_uid("booking-created", uid));
        let signature = shared::ingress::signature::sign(TEST_WEBHOOK_SECRET.as_bytes(), &body);
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Cal-Signature-256", signature.as_str()),
        ];
        let res = if chunked {
            http::send_chunked("POST", &webhook_url(&p), &headers, body)
        } else {
            http::send("POST", &webhook_url(&p), &headers, body)
        }
        .unwrap();
        assert_eq!(
            (res.status, res.json()["error"].as_str()),
            (503, Some("queue_unavailable")),
            "{uid}"
        );
        assert_eq!(res.header("Content-Type"), Some("application/json"));
        // The line that tells the operator this booking is lost names it and what the queue said.
        assert!(
            p.wait_for_log_lines(
                &[
                    "\"webhook_queue_failed\"",
                    uid,
                    "BOOKING_QUEUE binding is missing",
                    "\"status\":503"
                ],
                1,
                Duration::from_secs(10)
            ),
            "{uid}: {}",
            p.logs()
        );
    }
}
