//! Benchmarks of the pure core's hot paths (`cargo bench -p shared --bench core`).
//!
//! - `verify+parse+build-message`: [`accept_webhook`] on signed bodies of ~1 KB, ~2.5 KB and
//!   ~64 KB (the producer's whole work for one request, minus the queue send).
//! - `stage/…`: the producer's work split into its stages on the ~2.5 KB and ~64 KB bodies, so a
//!   regression names its stage: `read-tree` (the body read into `contract::calcom::json`'s tree),
//!   `key` (the idempotency key: canonical form hashed), `build-message` (the booking extracted
//!   and the message serialized).
//! - `forward` (the producer's decision as it ships, the signature already judged): the body
//!   checked and written whole into a `v: 2` message; `decode-forwarded`: the consumer reading
//!   that message into the booking message (its key and booking), the work `forward` leaves to it.
//! - `verify`: the HMAC-SHA256 check alone on the same bodies, next to `sha256-floor`, a bare
//!   SHA-256 over the same bytes (the least any signature check can cost).
//! - `render+build-request`: the consumer's work for one message, per trigger: the staff email
//!   (Askama), the `.ics` invitation and the SendGrid Mail Send JSON.
//! - `render` and `build-request`: the two stages of `render+build-request` apart (the email with
//!   its `.ics`; the SendGrid JSON for an email rendered beforehand).
//! - `ics`: the invitation alone for the created sample: `ics::Event::to_ics` (escaping, folding)
//!   and its base64 for the attachment, the part of `render+build-request` the invitation adds.
//!
//! Measurement is kept short (3 s per bench, 30 samples) so the whole run stays under a few
//! minutes on two cores. Results are in `docs/PERFORMANCE.md`. Nothing here asserts on time; the
//! only assertions check that the inputs take the path being measured.
//!
//! Note: `cargo bench` uses the `bench` profile, which inherits the workspace's `[profile.release]`
//! (`opt-level = "z"`, fat LTO): the figures are for size-optimised code, as in the workers.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use shared::contract::calcom::envelope::{self, Delivery};
use shared::contract::calcom::json::{Parser, MAX_LEVELS};
use shared::contract::calcom::payload::CalPayload;
use shared::contract::decode::decode_message_str;
use shared::contract::message::BookingMessage;
use shared::contract::message::BookingTrigger;
use shared::delivery::email;
use shared::delivery::ics::{Event, Method, Party, Status};
use shared::delivery::sendgrid::{self, SendgridConfig};
use shared::delivery::when::parse_instant;
use shared::ingress::signature::{self, WebhookSecrets};
use shared::ingress::{accept_checked, accept_webhook, Form, Ingress};

const SECRET: &str = "whsec_bench_0123456789abcdef";
const RECEIVED_AT: &str = "2026-02-10T17:03:13.000Z";

const CREATED: &str = include_str!("../../samples/booking-created.json");
const RESCHEDULED: &str = include_str!("../../samples/booking-rescheduled.json");
const CANCELLED: &str = include_str!("../../samples/booking-cancelled.json");
const REQUESTED: &str = include_str!("../../samples/booking-requested.json");

/// One signed webhook body.
struct Signed {
    label: &'static str,
    body: Vec<u8>,
    signature: String,
}

fn created() -> Value {
    serde_json::from_str(CREATED).expect("samples/booking-created.json is JSON")
}

fn payload(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v["payload"].as_object_mut().expect("payload object")
}

/// ~1 KB: the created sample with the optional fields a minimal booking form leaves out.
fn small() -> Value {
    let mut v = created();
    let p = payload(&mut v);
    for key in [
        "description",
        "customInputs",
        "userFieldsResponses",
        "conferenceCredentialId",
        "destinationCalendar",
        "hideCalendarNotes",
        "seatsShowAttendees",
        "seatsPerTimeSlot",
        "seatsShowAvailabilityCount",
        "schedulingType",
        "iCalSequence",
        "eventDescription",
        "price",
        "currency",
        "metadata",
        "videoCallData",
        "customReplyToEmail",
        "hideOrganizerEmail",
        "bookerUrl",
        "iCalUID",
    ] {
        p.remove(key);
    }
    p["attendees"]
        .as_array_mut()
        .expect("attendees")
        .truncate(1);
    for key in ["id", "username", "language", "timeFormat", "utcOffset"] {
        p["organizer"]
            .as_object_mut()
            .expect("organizer")
            .remove(key);
    }
    for key in ["firstName", "lastName", "language", "utcOffset"] {
        p["attendees"][0]
            .as_object_mut()
            .expect("attendee")
            .remove(key);
    }
    let responses = p["responses"].as_object_mut().expect("responses");
    for key in [
        "company",
        "topics",
        "guests",
        "rescheduleReason",
        "attendeePhoneNumber",
    ] {
        responses.remove(key);
    }
    v
}

/// ~64 KB: the created sample with long notes and many long form answers (a large intake form).
fn large() -> Value {
    const TARGET: usize = 64 * 1024;
    let mut v = created();
    let sentence = "We would like to go over the spring schedule, the fees for siblings, \
                    and whether sessions can move to Thursday afternoons. ";
    let notes = sentence.repeat(6000 / sentence.len());
    payload(&mut v)["additionalNotes"] = json!(notes);
    v["payload"]["responses"]["notes"]["value"] = json!(notes);
    let answer = sentence.repeat(1200 / sentence.len());
    for i in 0.. {
        let len = serde_json::to_vec(&v).expect("serialize").len();
        if len >= TARGET - 1200 {
            break;
        }
        v["payload"]["responses"][format!("question_{i}")] = json!({
            "label": format!("Intake question {i}: tell us about it"),
            "value": answer,
        });
    }
    v
}

fn signed(label: &'static str, v: &Value) -> Signed {
    // serde_json writes compact JSON.
    let body = serde_json::to_vec(v).expect("serialize");
    let signature = signature::sign(SECRET.as_bytes(), &body);
    Signed {
        label,
        body,
        signature,
    }
}

fn bodies() -> Vec<Signed> {
    vec![
        signed("1KB", &small()),
        signed("2.5KB", &created()),
        signed("64KB", &large()),
    ]
}

fn secrets() -> WebhookSecrets {
    WebhookSecrets::parse(SECRET)
}

fn id(b: &Signed) -> BenchmarkId {
    BenchmarkId::from_parameter(format!("{} ({} B)", b.label, b.body.len()))
}

fn bench_accept(c: &mut Criterion) {
    let secrets = secrets();
    let mut group = c.benchmark_group("verify+parse+build-message");
    for b in bodies() {
        // The input must take the full path: verified, parsed, message built.
        match accept_webhook(&secrets, Some(&b.signature), &b.body, RECEIVED_AT) {
            Ingress::Enqueue { message, .. } => eprintln!(
                "{}: body {} B -> message {} B, {} answers, truncated: {}",
                b.label,
                b.body.len(),
                message.to_json().len(),
                message.booking.answers.len(),
                message.booking.truncated
            ),
            other => panic!("{} body is not enqueued as v1: {other:?}", b.label),
        }
        group.throughput(Throughput::Bytes(b.body.len() as u64));
        group.bench_function(id(&b), |bench| {
            bench.iter(|| {
                accept_webhook(
                    black_box(&secrets),
                    black_box(Some(b.signature.as_str())),
                    black_box(&b.body),
                    black_box(RECEIVED_AT),
                )
            })
        });
    }
    group.finish();
}

fn bench_forward(c: &mut Criterion) {
    let mut forward = c.benchmark_group("forward");
    let mut messages = Vec::new();
    for b in bodies() {
        let accept = || accept_checked(true, Ok(()), &b.body, RECEIVED_AT, Form::Forward);
        // A body too large to forward goes as v1 and is measured by `verify+parse+build-message`.
        let Ingress::Forward { body, .. } = accept() else {
            continue;
        };
        messages.push((id(&b), body));
        forward.throughput(Throughput::Bytes(b.body.len() as u64));
        forward.bench_function(id(&b), |bench| bench.iter(|| black_box(accept())));
    }
    forward.finish();
    let mut decode = c.benchmark_group("decode-forwarded");
    for (id, message) in &messages {
        decode_message_str(message).expect("the consumer reads a forwarded body");
        decode.bench_function(id.clone(), |bench| {
            bench.iter(|| decode_message_str(black_box(message)))
        });
    }
    decode.finish();
}

fn bench_verify(c: &mut Criterion) {
    let secrets = secrets();
    let bodies = bodies();
    let mut group = c.benchmark_group("verify");
    for b in &bodies {
        assert_eq!(
            signature::verify(&secrets, Some(&b.signature), &b.body),
            Ok(())
        );
        group.throughput(Throughput::Bytes(b.body.len() as u64));
        group.bench_function(id(b), |bench| {
            bench.iter(|| {
                signature::verify(
                    black_box(&secrets),
                    black_box(Some(b.signature.as_str())),
                    black_box(&b.body),
                )
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sha256-floor");
    for b in &bodies {
        group.throughput(Throughput::Bytes(b.body.len() as u64));
        group.bench_function(id(b), |bench| {
            bench.iter(|| Sha256::digest(black_box(&b.body)))
        });
    }
    group.finish();
}

/// The payload's tree of a signed body (the stage benches' input).
fn payload_tree(body: &str) -> shared::contract::calcom::json::Json<'_> {
    let mut parser = Parser::new(body);
    let tree = parser.value(MAX_LEVELS).expect("a JSON body");
    tree.get("payload").clone()
}

fn bench_stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("stage");
    for b in bodies().into_iter().skip(1) {
        let text = std::str::from_utf8(&b.body).expect("UTF-8");
        group.throughput(Throughput::Bytes(b.body.len() as u64));
        group.bench_function(format!("read-tree/{}", b.label), |bench| {
            bench.iter(|| Parser::new(black_box(text)).value(MAX_LEVELS))
        });
        let payload = payload_tree(text);
        group.bench_function(format!("key/{}", b.label), |bench| {
            bench
                .iter(|| envelope::payload_key(BookingTrigger::BookingCreated, black_box(&payload)))
        });
        let payload = CalPayload::new(payload).expect("a payload");
        let uid = payload.uid().expect("a uid");
        group.bench_function(format!("build-message/{}", b.label), |bench| {
            bench.iter(|| {
                envelope::build_message(
                    black_box(&payload),
                    &uid,
                    BookingTrigger::BookingCreated,
                    "0".repeat(32),
                    RECEIVED_AT,
                    None,
                )
            })
        });
    }
    group.finish();
}

fn message(sample: &str) -> BookingMessage {
    match envelope::parse_delivery(sample.as_bytes(), RECEIVED_AT) {
        Ok(Delivery::Booking(message)) => *message,
        other => panic!("sample is not a booking delivery: {other:?}"),
    }
}

fn config() -> SendgridConfig {
    SendgridConfig {
        from: sendgrid::parse_mailbox("Bookings <bookings@example.com>").expect("from"),
        to: vec![
            sendgrid::parse_mailbox("staff@example.com").expect("to"),
            sendgrid::parse_mailbox("Front desk <front.desk@example.com>").expect("to"),
        ],
        routes: Vec::new(),
    }
}

const SAMPLES: [(&str, &str); 4] = [
    ("created", CREATED),
    ("rescheduled", RESCHEDULED),
    ("cancelled", CANCELLED),
    ("requested", REQUESTED),
];

fn bench_render(c: &mut Criterion) {
    let config = config();
    let mut group = c.benchmark_group("render+build-request");
    for (label, sample) in SAMPLES {
        let message = message(sample);
        group.bench_function(label, |bench| {
            bench.iter(|| {
                let message = black_box(&message);
                let email = email::render(message);
                sendgrid::build_request(&email, message, black_box(&config))
            })
        });
    }
    group.finish();
}

/// The two stages of `render+build-request` apart, so a regression names its stage.
fn bench_render_stages(c: &mut Criterion) {
    let config = config();
    let mut group = c.benchmark_group("render");
    for (label, sample) in SAMPLES {
        let message = message(sample);
        group.bench_function(label, |bench| {
            bench.iter(|| email::render(black_box(&message)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("build-request");
    for (label, sample) in SAMPLES {
        let message = message(sample);
        let email = email::render(&message);
        group.bench_function(label, |bench| {
            bench.iter(|| {
                sendgrid::build_request(black_box(&email), black_box(&message), black_box(&config))
            })
        });
    }
    group.finish();
}

fn bench_ics(c: &mut Criterion) {
    let message = message(CREATED);
    let b = &message.booking;
    let at = |s: Option<&str>| parse_instant(s.expect("a time")).expect("an instant");
    let description = email::render(&message)
        .text
        .lines()
        .filter(|l| l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n");
    let party = |p: &shared::contract::message::Person| Party {
        name: p.name.clone(),
        email: p.email.clone().expect("an email"),
    };
    let event = Event {
        method: Method::Request,
        status: Status::Confirmed,
        uid: b.ical_uid.clone().expect("iCalUID"),
        sequence: 0,
        stamp: at(Some(RECEIVED_AT)),
        start: at(b.start.as_deref()),
        end: Some(at(b.end.as_deref())),
        summary: b.title.clone().expect("a title"),
        description,
        location: b.meeting_url.clone(),
        url: b.meeting_url.clone(),
        organizer: Some(party(&b.organizer)),
        attendees: b.booker.iter().chain(&b.guests).map(party).collect(),
    };
    let mut group = c.benchmark_group("ics");
    group.bench_function("created", |bench| {
        bench.iter(|| {
            let text = black_box(&event).to_ics();
            shared::text::base64_encode(text.as_bytes())
        })
    });
    group.finish();
}

fn config_criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config_criterion();
    targets = bench_accept, bench_forward, bench_stages, bench_verify, bench_render, bench_render_stages, bench_ics
}
criterion_main!(benches);
