//! Emails that keep staff calendars in step, through the real workers in workerd: one booking
//! created → rescheduled → cancelled carries one calendar event (same UID, rising SEQUENCE, the
//! new DTSTART, then METHOD:CANCEL), every `.ics` read back by an independent parser (the
//! `icalendar` crate); and `EMAIL_ROUTES` sends each event type to its own staff.

use std::sync::OnceLock;
use std::time::Duration;

use e2e::base64::base64_decode;
use e2e::calcom::{post_signed, sample};
use e2e::pipeline::{poll_until, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::stub::ReceivedEmail;
use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const ROUTES: &str = "consultation=alice@example.com; billing=bob@example.com, carol@example.com";

/// One pipeline for this file, with routes configured.
fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let mut options = PipelineOptions::default();
        options
            .vars
            .insert("EMAIL_ROUTES".to_owned(), ROUTES.to_owned());
        Pipeline::start(options).unwrap_or_else(|e| panic!("pipeline: {e}"))
    })
}

/// Posts a sample with payload fields replaced.
fn post(p: &Pipeline, kind: &str, fields: &[(&str, Value)]) {
    let mut body = sample(kind);
    for (key, value) in fields {
        body["payload"][*key] = value.clone();
    }
    let bytes = serde_json::to_vec(&body).unwrap();
    let res = post_signed(&p.url("/api/calcom-webhook"), TEST_WEBHOOK_SECRET, &bytes).unwrap();
    assert_eq!(res.status, 202, "{kind}: {}", res.body);
}

/// Waits for the one email of booking `uid` and `trigger`.
fn wait_email(p: &Pipeline, uid: &str, trigger: &str) -> ReceivedEmail {
    poll_until(WAIT, || {
        p.emails_for(uid)
            .into_iter()
            .find(|e| e.body["custom_args"]["trigger"] == trigger)
    })
    .unwrap_or_else(|| panic!("no {trigger} email for {uid}; logs:\n{}", p.logs()))
}

fn text_part(email: &ReceivedEmail) -> &str {
    email.body["content"][0]["value"].as_str().unwrap()
}

/// The email's one attachment: SendGrid's shape, the exact type, and the `.ics` read by
/// `icalendar` (raw parser and typed calendar), with its single event.
fn invitation(email: &ReceivedEmail, method: &str) -> (Calendar, icalendar::Event) {
    let attachments = email.body["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    let a = &attachments[0];
    assert_eq!(
        a["type"].as_str(),
        Some(format!("text/calendar; method={method}").as_str())
    );
    assert_eq!(a["disposition"], "attachment");
    assert!(a["filename"].as_str().unwrap().ends_with(".ics"));
    let bytes = base64_decode(a["content"].as_str().unwrap()).expect("base64 content");
    let text = String::from_utf8(bytes).expect("UTF-8");
    for line in text.split_terminator("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains(['\r', '\n']), "bare CR/LF in {line:?}");
    }
    let unfolded = icalendar::parser::unfold(&text);
    let raw = icalendar::parser::read_calendar(&unfolded).expect("icalendar's parser reads it");
    assert_eq!(raw.components.len(), 1);
    let calendar: Calendar = text.parse().expect("icalendar reads it");
    assert_eq!(calendar.property_value("METHOD"), Some(method));
    let event = calendar.events().next().expect("one event").clone();
    (calendar, event)
}

fn start(event: &icalendar::Event) -> String {
    match event.get_start() {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(dt))) => dt.to_rfc3339(),
        other => panic!("DTSTART not in UTC: {other:?}"),
    }
}

#[test]
fn one_booking_created_rescheduled_cancelled_is_one_calendar_event() {
    let p = pipeline();
    let (first, second) = ("cal-flow-first", "cal-flow-second");
    let ical_uid = "cal-flow-3f9a1c@Cal.com";

    // Each step is posted only once the previous email arrived: queue order is best effort.
    post(
        p,
        "booking-created",
        &[
            ("uid", first.into()),
            ("iCalUID", ical_uid.into()),
            ("iCalSequence", 0.into()),
        ],
    );
    let created = wait_email(p, first, "BOOKING_CREATED");
    post(
        p,
        "booking-rescheduled",
        &[
            ("uid", second.into()),
            ("rescheduleUid", first.into()),
            ("iCalUID", ical_uid.into()),
            ("iCalSequence", 1.into()),
        ],
    );
    let rescheduled = wait_email(p, second, "BOOKING_RESCHEDULED");
    post(
        p,
        "booking-cancelled",
        &[
            ("uid", second.into()),
            ("bookerUrl", "https://cal.com".into()),
            ("startTime", "2026-03-10T17:00:00+00:00".into()),
            ("endTime", "2026-03-10T17:30:00+00:00".into()),
            ("iCalUID", ical_uid.into()),
            ("iCalSequence", 2.into()),
        ],
    );
    let cancelled = wait_email(p, second, "BOOKING_CANCELLED");

    let (_, e1) = invitation(&created, "REQUEST");
    let (_, e2) = invitation(&rescheduled, "REQUEST");
    let (_, e3) = invitation(&cancelled, "CANCEL");
    for e in [&e1, &e2, &e3] {
        assert_eq!(e.get_uid(), Some(ical_uid));
    }
    let sequences: Vec<u32> = [&e1, &e2, &e3]
        .iter()
        .map(|e| e.get_sequence().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert_eq!(start(&e1), "2026-02-17T18:00:00+00:00");
    assert_eq!(start(&e2), "2026-03-10T17:00:00+00:00", "the new time");
    assert_eq!(start(&e3), "2026-03-10T17:00:00+00:00");
    assert_eq!(e1.property_value("STATUS"), Some("CONFIRMED"));
    assert_eq!(e3.property_value("STATUS"), Some("CANCELLED"));

    // Links to act: all three while the booking stands, the booking page only once cancelled.
    let text = text_part(&created);
    for link in [
        "https://cal.com/booking/cal-flow-first",
        "https://cal.com/reschedule/cal-flow-first",
        "https://cal.com/booking/cal-flow-first?cancel=true",
    ] {
        assert!(text.contains(link), "{link} in\n{text}");
    }
    let text = text_part(&cancelled);
    assert!(text.contains("Open in Cal.com: https://cal.com/booking/cal-flow-second\n"));
    assert!(
        !text.contains("/reschedule/") && !text.contains("cancel=true"),
        "{text}"
    );
    // The default title is in the body, not in the subject.
    assert!(text_part(&created)
        .contains("Title:         30 Min Consultation between Cal Host and Alex Student"));
    assert!(!created.body["subject"]
        .as_str()
        .unwrap()
        .contains("between"));
}

#[test]
fn routes_send_each_event_type_to_its_staff_and_the_rest_to_email_to() {
    let p = pipeline();
    let cases: [(&str, &str, &[&str]); 3] = [
        ("route-consultation", "consultation", &["alice@example.com"]),
        (
            "route-billing",
            "billing",
            &["bob@example.com", "carol@example.com"],
        ),
        ("route-other", "30min", &["staff@example.com"]),
    ];
    for (uid, slug, _) in cases {
        post(
            p,
            "booking-created",
            &[
                ("uid", uid.into()),
                ("type", slug.into()),
                ("title", format!("Custom {slug} title").into()),
            ],
        );
    }
    for (uid, slug, expected) in cases {
        let email = wait_email(p, uid, "BOOKING_CREATED");
        let to: Vec<&str> = email.body["personalizations"][0]["to"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap())
            .collect();
        assert_eq!(to, expected, "{slug}");
        // A custom title leads the subject.
        let subject = email.body["subject"].as_str().unwrap();
        assert!(
            subject.starts_with(&format!(
                "New booking: Custom {slug} title (30 Min Consultation with Alex Student)"
            )),
            "{subject}"
        );
        invitation(&email, "REQUEST");
    }
}
