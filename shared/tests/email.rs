//! The staff email for the samples in `samples/`: they go through the producer's parser
//! (`ingress`) and then the consumer's renderer (`delivery`), so these tests live here, where both
//! sides may be used, and not beside the renderer.

use serde_json::Value;
use shared::contract::calcom::envelope::{parse_delivery, Delivery};
use shared::contract::message::{
    Answer, Booking, BookingMessage, BookingTrigger, Cancellation, Person, PreviousSlot,
    MESSAGE_VERSION,
};
use shared::delivery::email::{render, Email, MAX_SUBJECT_CHARS};

/// A sample from `samples/`, through the producer's parser.
fn sample(name: &str) -> BookingMessage {
    let path = format!("{}/../samples/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match parse_delivery(&body, "2026-02-10T17:03:13.000Z") {
        Ok(Delivery::Booking(m)) => *m,
        other => panic!("{name}: {other:?}"),
    }
}

/// A message with nothing but a uid.
fn bare(trigger: BookingTrigger) -> BookingMessage {
    BookingMessage {
        v: MESSAGE_VERSION,
        key: "k".into(),
        trigger,
        received_at: "2026-02-10T17:03:13.000Z".into(),
        sent_at: None,
        booking: Booking {
            uid: "bkg_only".into(),
            ..Default::default()
        },
    }
}

fn assert_no_raw_integrations(e: &Email) {
    for part in [&e.subject, &e.text, &e.html] {
        assert!(!part.contains("integrations:"), "{part}");
    }
}

#[test]
fn booking_created_sample() {
    let e = render(&sample("booking-created"));
    assert_eq!(
        e.subject,
        "New booking: 30 Min Consultation with Alex Student — Tue 17 Feb, 9:00am AKST"
    );
    assert_eq!(e.category, "booking-created");
    let reply_to = e.reply_to.as_ref().unwrap();
    assert_eq!(reply_to.email.as_deref(), Some("alex.student@example.org"));
    assert_eq!(reply_to.name.as_deref(), Some("Alex Student"));
    for line in [
        "NEW BOOKING: 30 Min Consultation",
        "Alex Student booked 30 Min Consultation with Cal Host.",
        "When:          Tue 17 Feb 2026, 9:00am–9:30am AKST",
        "Attendee time: Tue 17 Feb 2026, 7:00pm–7:30pm CET",
        "Duration:      30 min",
        "Attendee:      Alex Student",
        "Email:         alex.student@example.org",
        "Phone:         +1 907 555 0142",
        "Location:      Cal Video",
        "Meeting link:  https://meetco.daily.co/abc",
        "Guests:        parent@example.org",
        "Organizer:     Cal Host <host@example.com>",
        "Booking:       bkg_8Jq2Xz4TnR5wLm3Yv",
        "Notes from Alex Student:",
        "  I'd like to talk about the <b>spring</b> schedule & fees.",
        "  Company or school: Northern Lights Academy",
        "  Topics: Scheduling, Pricing",
    ] {
        assert!(
            e.text.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            e.text
        );
    }
    assert!(
        e.html.contains("<a href=\"https://meetco.daily.co/abc\""),
        "{}",
        e.html
    );
    assert!(e.html.contains(
        "I&#39;d like to talk about the &#60;b&#62;spring&#60;/b&#62; schedule &#38; fees."
    ));
    assert!(e.html.contains("Tue 17 Feb 2026, 9:00am–9:30am AKST"));
    assert_no_raw_integrations(&e);
}

#[test]
fn booking_rescheduled_sample() {
    let e = render(&sample("booking-rescheduled"));
    assert_eq!(
        e.subject,
        "Rescheduled: 30 Min Consultation with Alex Student — Tue 10 Mar, 9:00am AKDT"
    );
    assert_eq!(e.category, "booking-rescheduled");
    for line in [
        "Alex Student moved their booking to a new time.",
        "  Was: Tue 17 Feb 2026, 9:00am–9:30am AKST",
        "  Now: Tue 10 Mar 2026, 9:00am–9:30am AKDT",
        "Rescheduled by:   Alex Student (attendee)",
        "Location:         Link: https://zoom.us/j/123456789",
        "Previous booking: bkg_8Jq2Xz4TnR5wLm3Yv",
        "  Reason for reschedule: Exam moved to that week",
    ] {
        assert!(
            e.text.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            e.text
        );
    }
    // The meeting link equals the location URL: shown once.
    assert_eq!(
        e.text.matches("https://zoom.us/j/123456789").count(),
        1,
        "{}",
        e.text
    );
    assert!(e
        .html
        .contains("text-decoration:line-through;\">Tue 17 Feb 2026, 9:00am–9:30am AKST"));
    assert!(e.html.contains("<a href=\"https://zoom.us/j/123456789\""));
}

#[test]
fn booking_cancelled_sample() {
    let e = render(&sample("booking-cancelled"));
    assert_eq!(
        e.subject,
        "Cancelled: 30 Min Consultation with Alex Student — Thu 19 Feb, 11:00am AKST"
    );
    assert_eq!(e.category, "booking-cancelled");
    for line in [
        "Alex Student cancelled their booking on Thu 19 Feb 2026, 11:00am–11:30am AKST.",
        "Reason:",
        "  Feeling unwell, sorry!",
        "Cancelled by: Alex Student (attendee)",
        "Location:     In person: Room 4, 12 Harbour Street, Anchorage",
    ] {
        assert!(
            e.text.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            e.text
        );
    }
    // The attendee is in the organizer's zone: no second time.
    assert!(!e.text.contains("Attendee time"));
    assert!(!e.text.contains("REQUEST TO RESCHEDULE"));
}

#[test]
fn cancelled_as_request_to_reschedule() {
    let mut m = sample("booking-cancelled");
    m.booking.cancellation = Some(Cancellation {
        reason: None,
        cancelled_by: Some("host@example.com".into()),
        reschedule_requested: true,
    });
    let e = render(&m);
    assert!(e.text.contains("REQUEST TO RESCHEDULE: the booking was cancelled so that Alex Student can pick a new time."), "{}", e.text);
    assert!(e.text.contains("The booking with Alex Student on Thu 19 Feb 2026, 11:00am–11:30am AKST was cancelled by Cal Host."), "{}", e.text);
    assert!(
        e.text.contains("Cancelled by: Cal Host (organizer)"),
        "{}",
        e.text
    );
    assert!(e.html.contains("Request to reschedule."));
    assert!(!e.text.contains("Reason:"));
}

#[test]
fn booking_requested_sample_with_non_ascii_names() {
    let e = render(&sample("booking-requested"));
    assert_eq!(
        e.subject,
        "Needs confirmation: Intro Call with Søren Ølgaard — Mon 2 Mar, 10:00 EST"
    );
    assert_eq!(e.category, "booking-requested");
    assert!(
        e.text
            .contains("Søren Ølgaard asked for Intro Call with Cal Host. It is NOT CONFIRMED YET."),
        "{}",
        e.text
    );
    assert!(e.text.contains("Confirm or reject it in Cal.com"));
    assert!(
        e.text.contains("Location:      Phone: +45 20 12 34 56"),
        "{}",
        e.text
    );
    assert!(
        e.text
            .contains("Attendee time: Mon 2 Mar 2026, 16:00–16:45 CET"),
        "{}",
        e.text
    );
    assert!(e.html.contains("<strong>Søren Ølgaard</strong>"));
    assert!(e.html.contains("Confirm or reject it in Cal.com"));
    // The confirmation link is built from Cal.com's `bookerUrl`, never hard-coded.
    assert!(e
        .html
        .contains("href=\"https://cal.com/bookings/unconfirmed\""));
    assert!(
        e.text.contains(">> https://cal.com/bookings/unconfirmed\n"),
        "{}",
        e.text
    );
    assert!(!e.html.contains("app.cal.com") && !e.text.contains("app.cal.com"));
    let mut m = sample("booking-requested");
    m.booking.booker_url = None;
    let e = render(&m);
    assert!(e.text.contains("Confirm or reject it in Cal.com"));
    assert!(!e.html.contains("unconfirmed\"") && !e.text.contains("https://"));
}

#[test]
fn hostile_text_is_escaped_in_html_and_kept_in_text() {
    let mut m = sample("booking-created");
    let evil = "<script>alert(\"x\")</script>";
    let b = &mut m.booking;
    b.event_type = Some(format!("Call {evil}"));
    b.booker.as_mut().unwrap().name = Some(format!("Eve \"The\" {evil}"));
    b.notes = Some(format!("Hi {evil}\nsecond line"));
    b.answers.push(Answer {
        label: format!("Q {evil}"),
        value: format!("A {evil}"),
    });
    b.team = Some(evil.into());
    b.location = Some(format!("Street {evil}"));
    let e = render(&m);
    assert!(!e.html.contains("<script"), "{}", e.html);
    assert!(!e.html.contains("\"x\""), "{}", e.html);
    assert!(e
        .html
        .contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;"));
    assert!(e.html.contains("Eve &#34;The&#34;"));
    // Notes keep their line break as <br>.
    assert!(
        e.html
            .contains("Hi &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;<br/>second line"),
        "{}",
        e.html
    );
    // The text part is not HTML: nothing escaped.
    assert!(
        e.text
            .contains("Attendee:      Eve \"The\" <script>alert(\"x\")</script>"),
        "{}",
        e.text
    );
    assert!(
        e.text
            .contains("  Hi <script>alert(\"x\")</script>\n  second line"),
        "{}",
        e.text
    );
    assert!(
        e.text
            .contains("  Q <script>alert(\"x\")</script>: A <script>alert(\"x\")</script>"),
        "{}",
        e.text
    );
    assert!(!e.text.contains("&#"));
    assert!(
        e.subject.contains("<script>"),
        "the subject is plain text: {}",
        e.subject
    );
}

#[test]
fn only_http_links_become_links() {
    let mut m = sample("booking-created");
    // Only the links of this test: none to act on the booking.
    m.booking.booker_url = None;
    m.booking.meeting_url = Some("javascript:alert(1)".into());
    m.booking.location = Some("https://example.com/a\"onmouseover=\"alert(1)".into());
    let e = render(&m);
    assert!(!e.html.contains("href=\"javascript"), "{}", e.html);
    assert!(e.html.contains("javascript:alert(1)"));
    assert!(
        e.text.contains("Meeting link:  javascript:alert(1)"),
        "{}",
        e.text
    );
    assert!(
        e.html
            .contains("<a href=\"https://example.com/a&#34;onmouseover=&#34;alert(1)\""),
        "{}",
        e.html
    );
    assert!(!e.html.contains("\"onmouseover"));
    assert_eq!(e.html.matches("<a href=").count(), 1, "{}", e.html);
}

#[test]
fn subjects_are_one_line_and_capped() {
    let mut m = sample("booking-created");
    m.booking.title = None;
    m.booking.event_type = Some("Consult\r\nBcc: evil@example.com".into());
    m.booking.booker.as_mut().unwrap().name = Some("Alex\nStudent\r".into());
    let e = render(&m);
    assert!(!e.subject.contains('\r') && !e.subject.contains('\n'));
    assert_eq!(
        e.subject,
        "New booking: Consult Bcc: evil@example.com with Alex Student — Tue 17 Feb, 9:00am AKST"
    );

    m.booking.event_type = Some("Ø".repeat(400));
    m.booking.booker.as_mut().unwrap().name = Some("ß".repeat(400));
    let e = render(&m);
    let chars = e.subject.chars().count();
    assert!(chars <= MAX_SUBJECT_CHARS, "{chars}");
    // Both long parts are cut, so the time stays visible.
    assert!(
        e.subject.ends_with("— Tue 17 Feb, 9:00am AKST"),
        "{}",
        e.subject
    );
}

#[test]
fn subject_names() {
    let mut m = sample("booking-created");
    m.booking.event_type = None;
    assert!(render(&m).subject.starts_with(
        "New booking: 30 Min Consultation between Cal Host and Alex Student with Alex Student"
    ));
    m.booking.title = None;
    m.booking.booker.as_mut().unwrap().name = None;
    assert!(render(&m)
        .subject
        .starts_with("New booking: Booking with alex.student@example.org — "));
    m.booking.booker = None;
    assert!(render(&m)
        .subject
        .starts_with("New booking: Booking (no attendee) — "));
}

#[test]
fn a_booking_with_only_a_uid() {
    for trigger in BookingTrigger::ALL {
        let e = render(&bare(trigger));
        assert!(!e.text.is_empty() && e.html.contains("</html>"));
        assert!(
            e.text.contains("Booking:  bkg_only") || e.text.contains("bkg_only"),
            "{}",
            e.text
        );
        assert!(e.text.contains("no attendee"), "{}", e.text);
        assert!(e.text.contains("(no time given)"), "{}", e.text);
        assert!(e.reply_to.is_none());
        assert!(!e.subject.contains('—'), "no time, no dash: {}", e.subject);
        assert!(
            e.subject.ends_with("Booking (no attendee)"),
            "{}",
            e.subject
        );
    }
    assert_eq!(
        render(&bare(BookingTrigger::BookingRequested)).subject,
        "Needs confirmation: Booking (no attendee)"
    );
}

#[test]
fn no_attendee_names_the_organizer() {
    let mut m = sample("booking-created");
    m.booking.booker = None;
    let e = render(&m);
    assert!(
        e.text
            .contains("A booking with no attendee was made for Cal Host."),
        "{}",
        e.text
    );
    assert!(
        e.text
            .contains("Attendee:     None: Cal.com sent no attendee for this booking"),
        "{}",
        e.text
    );
    assert!(e.text.contains("Organizer:    Cal Host <host@example.com>"));
    assert!(e.text.contains("\nNotes:\n"), "{}", e.text);
    assert!(e.reply_to.is_none());
    assert!(!e.text.contains("Replying to this email"));
    assert!(!e.text.contains("Attendee time"));
}

#[test]
fn guests_seats_and_omitted() {
    let mut m = sample("booking-created");
    m.booking.guests.push(Person {
        name: Some("Pat Parent".into()),
        email: Some("pat@example.org".into()),
        ..Default::default()
    });
    m.booking.guests_omitted = 3;
    let e = render(&m);
    assert!(e.text.contains("Guests:        parent@example.org\n               Pat Parent <pat@example.org>\n               and 3 more\n"), "{}", e.text);
    m.booking.seated = true;
    assert!(render(&m).text.contains("Other seats:"));
}

#[test]
fn truncated_bookings_say_so() {
    let mut m = sample("booking-created");
    assert!(!render(&m).text.contains("shortened"));
    m.booking.truncated = true;
    let e = render(&m);
    assert!(e.text.contains(
        "Some long text in this booking was shortened to fit. The full booking is in Cal.com."
    ));
    assert!(e.html.contains("The full booking is in Cal.com."));
}

#[test]
fn unknown_zone_is_named() {
    let mut m = sample("booking-created");
    m.booking.organizer.time_zone = Some("Mars/Olympus".into());
    let e = render(&m);
    assert!(e.text.contains("When:          Tue 17 Feb 2026, 6:00pm–6:30pm UTC (time zone \"Mars/Olympus\" unknown)"), "{}", e.text);
    assert!(e
        .html
        .contains("UTC (time zone &#34;Mars/Olympus&#34; unknown)"));
    assert!(
        e.subject.ends_with("— Tue 17 Feb, 6:00pm UTC"),
        "{}",
        e.subject
    );
}

#[test]
fn duration_from_the_times_when_length_is_missing() {
    let mut m = sample("booking-created");
    m.booking.length_minutes = None;
    m.booking.end = Some("2026-02-17T19:15:00Z".into());
    assert!(render(&m).text.contains("Duration:      1 h 15 min"));
    m.booking.end = None;
    assert!(!render(&m).text.contains("Duration:"));
}

#[test]
fn unparseable_times_are_shown_as_sent() {
    let mut m = sample("booking-rescheduled");
    m.booking.start = Some("next Tuesday".into());
    m.booking.rescheduled_from = Some(PreviousSlot {
        uid: None,
        start: Some("1900-01-01T00:00:00Z".into()),
        end: None,
    });
    let e = render(&m);
    assert!(e.subject.ends_with("— next Tuesday"), "{}", e.subject);
    assert!(e.text.contains("  Was: 1900-01-01T00:00:00Z"), "{}", e.text);
    assert!(e.text.contains("  Now: next Tuesday"), "{}", e.text);
}

#[test]
fn html_is_phone_friendly() {
    let e = render(&sample("booking-created"));
    assert!(e.html.starts_with("<!DOCTYPE html>"));
    assert!(e
        .html
        .contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    assert!(e.html.contains("max-width:600px"));
    assert!(!e.html.contains("<style"), "inline styles only");
    assert!(!e.html.contains("class="));
}

#[test]
fn reply_to_needs_a_usable_address() {
    let mut m = sample("booking-created");
    m.booking.booker.as_mut().unwrap().email = Some("not an address".into());
    assert!(render(&m).reply_to.is_none());
    m.booking.booker.as_mut().unwrap().email = None;
    let e = render(&m);
    assert!(e.reply_to.is_none());
    assert!(e.subject.contains("with Alex Student"));
}

#[test]
fn multi_line_and_long_answers_are_blocks() {
    let mut m = sample("booking-created");
    m.booking.answers = vec![
        Answer {
            label: "Goals".into(),
            value: "one\r\ntwo".into(),
        },
        Answer {
            label: "Short".into(),
            value: "yes".into(),
        },
        Answer {
            label: "Empty".into(),
            value: " \u{7} ".into(),
        },
    ];
    let e = render(&m);
    assert!(
        e.text
            .contains("  Goals:\n    one\n    two\n  Short: yes\n"),
        "{}",
        e.text
    );
    assert!(!e.text.contains("Empty"));
    assert!(e.html.contains("one<br/>two"));
}

#[test]
fn rescheduled_by_someone_else_or_nobody_known() {
    let mut m = sample("booking-rescheduled");
    m.booking.rescheduled_by = Some("host@example.com".into());
    let e = render(&m);
    assert!(
        e.text.contains(
            "The booking with Alex Student moved to a new time, rescheduled by Cal Host."
        ),
        "{}",
        e.text
    );
    assert!(e
        .html
        .contains("moved to a new time, rescheduled by Cal Host."));
    m.booking.rescheduled_by = None;
    let e = render(&m);
    assert!(
        e.text
            .contains("The booking with Alex Student moved to a new time.\n"),
        "{}",
        e.text
    );
    assert!(!e.text.contains("Rescheduled by"));
}

#[test]
fn question_labels_keep_their_punctuation_and_text_ends_with_a_newline() {
    let mut m = sample("booking-created");
    m.booking.answers = vec![Answer {
        label: "Why now?".into(),
        value: "Exams".into(),
    }];
    let e = render(&m);
    assert!(e.text.contains("  Why now? Exams\n"), "{}", e.text);
    assert!(
        e.text.ends_with("notifier.\n"),
        "{:?}",
        &e.text[e.text.len() - 20..]
    );
}

#[test]
fn cancelled_without_a_time_does_not_say_on_no_time() {
    let e = render(&bare(BookingTrigger::BookingCancelled));
    assert!(
        e.text.contains("The booking was cancelled.\n"),
        "{}",
        e.text
    );
    assert!(e.html.contains("The booking was cancelled."), "{}", e.html);
}

#[test]
fn blank_meeting_links_are_left_out() {
    let mut m = sample("booking-created");
    m.booking.meeting_url = Some("  ".into());
    assert!(!render(&m).text.contains("Meeting link"));
}

/// `shared/tests/fixtures/booking-created.message.json` is the message the producer makes of
/// `samples/booking-created.json`: the unit tests in `contract` and `delivery` read it instead of
/// calling the producer's parser.
#[test]
fn the_message_fixture_is_what_the_parser_makes_of_the_sample() {
    let path = format!(
        "{}/tests/fixtures/booking-created.message.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let parsed: Value = serde_json::from_str(&sample("booking-created").to_json()).unwrap();
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&parsed).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixture: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        fixture, parsed,
        "regenerate with UPDATE_FIXTURES=1 cargo test -p shared --test email"
    );
}

#[test]
fn the_title_is_in_the_body_always_and_in_the_subject_when_it_says_more() {
    // Cal.com's default title: in the body, not in the subject.
    let e = render(&sample("booking-created"));
    assert!(
        e.text
            .lines()
            .any(|l| l == "Title:         30 Min Consultation between Cal Host and Alex Student"),
        "{}",
        e.text
    );
    assert!(e
        .html
        .contains("30 Min Consultation between Cal Host and Alex Student"));
    assert!(!e.subject.contains("between"), "{}", e.subject);

    // A custom title leads the subject.
    let mut m = sample("booking-created");
    m.booking.title = Some("Manuscript review: Alex Student".into());
    let e = render(&m);
    assert_eq!(
        e.subject,
        "New booking: Manuscript review: Alex Student (30 Min Consultation with Alex Student) — Tue 17 Feb, 9:00am AKST"
    );
    assert!(e
        .text
        .contains("Title:         Manuscript review: Alex Student\n"));

    // The event type's own name, or the default form in any case and spacing: not repeated.
    for same in [
        "30 min consultation",
        " 30 Min  Consultation between cal host and ALEX STUDENT ",
    ] {
        m.booking.title = Some(same.into());
        let e = render(&m);
        assert!(
            e.subject
                .starts_with("New booking: 30 Min Consultation with Alex Student — "),
            "{same:?}: {}",
            e.subject
        );
        assert!(e.text.contains("Title:"), "{same:?}");
    }
    // Whoever the attendee is (Cal.com names whoever booked first; a delivery may have none).
    m.booking.title = Some("30 Min Consultation between Cal Host and Someone Else".into());
    assert!(!render(&m).subject.contains("between"));
    m.booking.booker = None;
    assert_eq!(
        render(&m).subject,
        "New booking: 30 Min Consultation (no attendee) — Tue 17 Feb, 9:00am AKST"
    );
    m.booking.organizer.name = None;
    assert!(!render(&m).subject.contains("between"));
    m = sample("booking-created");
    // Another host is not the default.
    m.booking.title = Some("30 Min Consultation between Dana Other and Alex Student".into());
    assert!(render(&m).subject.contains("between Dana Other"));
    // A team event's default names the team as host.
    m.booking.title = Some("30 Min Consultation between Northern Team and Alex Student".into());
    m.booking.team = Some("Northern Team".into());
    assert!(!render(&m).subject.contains("between"));

    // One line, escaped in HTML, and the subject keeps its time when the title is long.
    m.booking.title = Some(format!("Review\r\n<script>x</script> {}", "ü".repeat(300)));
    let e = render(&m);
    assert!(e
        .subject
        .starts_with("New booking: Review <script>x</script> üü"));
    assert!(
        e.subject.ends_with(" — Tue 17 Feb, 9:00am AKST"),
        "{}",
        e.subject
    );
    assert!(e.subject.chars().count() <= MAX_SUBJECT_CHARS);
    assert!(e
        .text
        .contains("Title:         Review <script>x</script> üü"));
    assert!(!e.html.contains("<script>"));
    assert!(e.html.contains("Review &#60;script&#62;x&#60;/script&#62;"));

    // No title: no row.
    m.booking.title = None;
    assert!(!render(&m).text.contains("Title:"));
}

fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

#[test]
fn links_to_act_appear_only_when_allowed() {
    let base = "https://cal.com";
    let uid = "bkg_8Jq2Xz4TnR5wLm3Yv";
    let booking = format!("{base}/booking/{uid}");
    let reschedule = format!("{base}/reschedule/{uid}");
    let cancel = format!("{base}/booking/{uid}?cancel=true");

    let mut m = sample("booking-created");
    let e = render(&m);
    for line in [
        format!("Open in Cal.com: {booking}"),
        format!("Reschedule:      {reschedule}"),
        format!("Cancel:          {cancel}"),
    ] {
        assert!(e.text.lines().any(|l| l == line), "{line} in\n{}", e.text);
    }
    let links = hrefs(&e.html);
    for link in [&booking, &reschedule, &cancel] {
        assert!(links.contains(link), "{link} in {links:?}");
    }

    m.booking.disable_rescheduling = true;
    let e = render(&m);
    assert!(!hrefs(&e.html).contains(&reschedule) && !e.text.contains(&reschedule));
    assert!(hrefs(&e.html).contains(&cancel) && e.text.contains(&cancel));
    m.booking.disable_cancelling = true;
    let e = render(&m);
    assert!(!hrefs(&e.html).contains(&cancel) && !e.text.contains(&cancel));
    assert!(hrefs(&e.html).contains(&booking));

    // Cancelled: the booking page only.
    let e = render(&sample("booking-cancelled"));
    let page = format!("{base}/booking/bkg_Canc42x");
    assert!(
        e.text.contains(&format!("Open in Cal.com: {page}\n")),
        "{}",
        e.text
    );
    assert!(!e.text.contains("/reschedule/") && !e.text.contains("cancel=true"));
    assert_eq!(hrefs(&e.html), [page]);

    // The rescheduled booking's links name the new uid.
    let e = render(&sample("booking-rescheduled"));
    assert!(e.text.contains("https://cal.com/reschedule/bkg_NEW9pQ2"));

    // No bookerUrl, or not http(s): no link to act at all.
    for bad in [None, Some("javascript:alert(1)//"), Some("cal.com")] {
        let mut m = sample("booking-created");
        m.booking.booker_url = bad.map(str::to_owned);
        let e = render(&m);
        assert!(!e.text.contains("Open in Cal.com"), "{bad:?}");
        assert!(
            hrefs(&e.html).iter().all(|h| !h.contains("/booking/")),
            "{bad:?}"
        );
    }

    // Escaped in HTML.
    let mut m = sample("booking-created");
    m.booking.booker_url = Some("https://acme.example/a&b".into());
    m.booking.uid = "x\"><script>".into();
    let e = render(&m);
    assert!(!e.html.contains("<script>"));
    assert!(hrefs(&e.html)
        .contains(&"https://acme.example/a&#38;b/booking/x%22%3E%3Cscript%3E".to_owned()));
}

#[test]
fn the_footer_names_the_attachment() {
    let e = render(&sample("booking-created"));
    assert!(e
        .text
        .contains("The attached invitation (invite.ics) puts this booking in your calendar."));
    let e = render(&sample("booking-cancelled"));
    assert!(e
        .text
        .contains("(cancel.ics) takes this booking out of your calendar"));
    assert!(e
        .html
        .contains("(cancel.ics) takes this booking out of your calendar"));
    let e = render(&bare(BookingTrigger::BookingCreated));
    assert!(e.calendar.is_none() && !e.text.contains(".ics"));
}
