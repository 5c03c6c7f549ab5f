//! The `.ics` invitation of every sample, read back with an independent parser (the `icalendar`
//! crate), not only with our own code: the samples go through the producer's parser (`ingress`)
//! and the consumer's renderer (`delivery`), as in the workers.

use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime, EventLike};
use shared::contract::calcom::envelope::{parse_delivery, Delivery};
use shared::contract::message::{BookingMessage, BookingTrigger, PreviousSlot};
use shared::delivery::email::calendar::DERIVED_UID_DOMAIN;
use shared::delivery::email::{render, Invitation};
use shared::delivery::ics::Method;

const RECEIVED_AT: &str = "2026-02-10T17:03:13.000Z";

fn sample(name: &str) -> BookingMessage {
    let path = format!("{}/../samples/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match parse_delivery(&body, RECEIVED_AT) {
        Ok(Delivery::Booking(m)) => *m,
        other => panic!("{name}: {other:?}"),
    }
}

/// The invitation of `message`, checked line by line (CRLF, ≤ 75 octets) and parsed by
/// `icalendar`: its raw parser must accept it whole, and its typed calendar is returned with the
/// one event in it.
fn parse(message: &BookingMessage) -> (Invitation, Calendar, icalendar::Event) {
    let invitation = render(message).calendar.expect("an invitation");
    let text = &invitation.text;
    assert!(text.ends_with("\r\n"));
    assert!(
        !text.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR or LF"
    );
    for line in text.split_terminator("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let raw = icalendar::parser::unfold(text);
    let parsed = icalendar::parser::read_calendar(&raw).expect("icalendar's parser reads it");
    assert_eq!(parsed.components.len(), 1, "one VEVENT");
    assert_eq!(parsed.components[0].name.as_str(), "VEVENT");
    let calendar: Calendar = text.parse().expect("icalendar reads it");
    let events: Vec<icalendar::Event> = calendar.events().cloned().collect();
    assert_eq!(events.len(), 1);
    let event = events.into_iter().next().unwrap();
    (invitation, calendar, event)
}

fn utc(t: Option<DatePerhapsTime>) -> String {
    match t {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(dt))) => dt.to_rfc3339(),
        other => panic!("not a UTC date-time: {other:?}"),
    }
}

#[test]
fn the_created_sample_invites() {
    let m = sample("booking-created");
    let (invitation, calendar, event) = parse(&m);
    assert_eq!(invitation.method, Method::Request);
    assert_eq!(invitation.content_type(), "text/calendar; method=REQUEST");
    assert_eq!(invitation.filename(), "invite.ics");
    assert_eq!(calendar.property_value("METHOD"), Some("REQUEST"));
    assert_eq!(calendar.property_value("VERSION"), Some("2.0"));
    assert_eq!(event.get_uid(), Some("a1b2c3d4e5@Cal.com"));
    assert_eq!(event.get_sequence(), Some(0));
    assert_eq!(utc(event.get_start()), "2026-02-17T18:00:00+00:00");
    assert_eq!(utc(event.get_end()), "2026-02-17T18:30:00+00:00");
    assert_eq!(
        event.get_timestamp().map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-02-10T17:03:13+00:00")
    );
    assert_eq!(
        event.get_summary(),
        Some("30 Min Consultation between Cal Host and Alex Student")
    );
    assert_eq!(event.get_location(), Some("https://meetco.daily.co/abc"));
    assert_eq!(event.get_url(), Some("https://meetco.daily.co/abc"));
    assert_eq!(event.property_value("STATUS"), Some("CONFIRMED"));
    let description = event.get_description().unwrap();
    for line in [
        "Attendee: Alex Student",
        "Company or school: Northern Lights Academy",
        "Topics: Scheduling, Pricing",
        "Booking: https://cal.com/booking/bkg_8Jq2Xz4TnR5wLm3Yv",
        "Reschedule: https://cal.com/reschedule/bkg_8Jq2Xz4TnR5wLm3Yv",
    ] {
        assert!(
            description.lines().any(|l| l == line),
            "{line:?} in {description:?}"
        );
    }
    assert!(description.contains("I'd like to talk about the <b>spring</b> schedule & fees."));
    let organizer = event.properties().get("ORGANIZER").unwrap();
    assert_eq!(organizer.value(), "mailto:host@example.com");
    let attendees: Vec<String> = event
        .multi_properties()
        .get("ATTENDEE")
        .unwrap()
        .iter()
        .map(|p| p.value().to_owned())
        .collect();
    assert_eq!(
        attendees,
        [
            "mailto:alex.student@example.org",
            "mailto:parent@example.org"
        ]
    );
}

#[test]
fn the_rescheduled_sample_moves_the_same_event() {
    let (_, _, created) = parse(&sample("booking-created"));
    let (invitation, calendar, moved) = parse(&sample("booking-rescheduled"));
    assert_eq!(invitation.method, Method::Request);
    assert_eq!(calendar.property_value("METHOD"), Some("REQUEST"));
    assert_eq!(moved.get_uid(), created.get_uid());
    assert!(moved.get_sequence() > created.get_sequence());
    assert_eq!(utc(moved.get_start()), "2026-03-10T17:00:00+00:00");
    assert_eq!(moved.get_location(), Some("https://zoom.us/j/123456789"));
}

#[test]
fn the_cancelled_sample_cancels() {
    let (invitation, calendar, event) = parse(&sample("booking-cancelled"));
    assert_eq!(invitation.method, Method::Cancel);
    assert_eq!(invitation.content_type(), "text/calendar; method=CANCEL");
    assert_eq!(calendar.property_value("METHOD"), Some("CANCEL"));
    assert_eq!(event.property_value("STATUS"), Some("CANCELLED"));
    assert_eq!(event.get_uid(), Some("f6g7h8i9j0@Cal.com"));
    assert_eq!(event.get_sequence(), Some(1));
    assert_eq!(utc(event.get_start()), "2026-02-19T20:00:00+00:00");
    assert_eq!(
        event.get_location(),
        Some("Room 4, 12 Harbour Street, Anchorage")
    );
    let description = event.get_description().unwrap();
    assert!(description.contains("Reason: Feeling unwell, sorry!"));
    assert!(
        !description.contains("Reschedule:") && !description.contains("Cancel:"),
        "{description}"
    );
}

#[test]
fn the_requested_sample_is_tentative() {
    let (invitation, _, event) = parse(&sample("booking-requested"));
    assert_eq!(invitation.method, Method::Request);
    assert_eq!(event.property_value("STATUS"), Some("TENTATIVE"));
    assert_eq!(event.get_location(), Some("Phone: +45 20 12 34 56"));
    // No iCalUID in this sample: derived from the booking uid.
    assert_eq!(
        event.get_uid(),
        Some(format!("bkg_Req77aa@{DERIVED_UID_DOMAIN}").as_str())
    );
    assert_eq!(event.get_sequence(), Some(0));
    assert_eq!(utc(event.get_end()), "2026-03-02T15:45:00+00:00");
}

#[test]
fn without_ical_uid_the_original_booking_names_the_event() {
    let mut created = sample("booking-created");
    created.booking.ical_uid = None;
    created.booking.ical_sequence = None;
    let mut moved = sample("booking-rescheduled");
    moved.booking.ical_uid = None;
    moved.booking.ical_sequence = None;
    let mut cancelled = sample("booking-cancelled");
    cancelled.booking.ical_uid = None;
    cancelled.booking.ical_sequence = None;
    cancelled.booking.uid = created.booking.uid.clone();
    let events: Vec<icalendar::Event> = [&created, &moved, &cancelled]
        .into_iter()
        .map(|m| parse(m).2)
        .collect();
    let expected = format!("bkg_8Jq2Xz4TnR5wLm3Yv@{DERIVED_UID_DOMAIN}");
    for e in &events {
        assert_eq!(e.get_uid(), Some(expected.as_str()));
    }
    let sequences: Vec<u32> = events.iter().filter_map(|e| e.get_sequence()).collect();
    assert_eq!(sequences, [0, 1, 2]);
    // Where the fallback cannot link: a cancellation of the already-rescheduled booking names
    // the new uid only.
    let mut late_cancel = cancelled.clone();
    late_cancel.booking.uid = moved.booking.uid.clone();
    assert_ne!(parse(&late_cancel).2.get_uid(), Some(expected.as_str()));
}

#[test]
fn hostile_and_long_text_stays_inside_its_property() {
    let mut m = sample("booking-created");
    let b = &mut m.booking;
    b.title = Some("Evil\r\nEND:VEVENT\r\nBEGIN:VEVENT;x, y\\z".into());
    b.notes = Some(format!("{}\nline two; three, four\\", "Ø€😀".repeat(80)));
    b.ical_uid = Some("uid;with,odd\\chars".into());
    b.booker.as_mut().unwrap().name = Some("Eve \"Quote\"\r\nX-INJECT:1".into());
    let (invitation, _, event) = parse(&m);
    assert_eq!(
        event.get_summary(),
        Some("Evil END:VEVENT BEGIN:VEVENT;x, y\\z")
    );
    assert_eq!(event.get_uid(), Some("uid;with,odd\\chars"));
    let description = event.get_description().unwrap();
    assert!(description.contains(&format!("{}\nline two; three, four\\", "Ø€😀".repeat(80))));
    assert!(!invitation.text.contains("\r\nX-INJECT"));
    let begins = invitation
        .text
        .split("\r\n")
        .filter(|l| l.starts_with("BEGIN:"));
    assert_eq!(begins.count(), 2, "VCALENDAR and one VEVENT");
}

#[test]
fn no_invitation_without_a_readable_start() {
    let mut m = sample("booking-created");
    m.booking.start = Some("next Tuesday".into());
    let e = render(&m);
    assert_eq!(e.calendar, None);
    assert!(!e.text.contains("invite.ics"));
    m.booking.start = None;
    assert_eq!(render(&m).calendar, None);
    // An end before the start is left out; the length gives it instead.
    let mut m = sample("booking-created");
    m.booking.end = Some("2026-02-17T17:00:00Z".into());
    assert_eq!(utc(parse(&m).2.get_end()), "2026-02-17T18:30:00+00:00");
    m.trigger = BookingTrigger::BookingRescheduled;
    m.booking.rescheduled_from = Some(PreviousSlot::default());
    assert!(parse(&m).2.get_uid().is_some());
}
