//! The booking as one calendar event ([`crate::delivery::ics`]): what each field is made of.
//!
//! - `UID`: Cal.com's `iCalUID` when it sent one (it keeps it across reschedules, so the event
//!   moves). Otherwise one derived from the *original* booking's uid: `rescheduleUid` for a
//!   rescheduled booking, else the uid, as `{uid}@calcom-booking-notifier`. The fallback links a
//!   created booking, its first reschedule and a cancellation of the booking *before* any
//!   reschedule. It cannot link:
//!   - a cancellation (or a second reschedule) of a booking that was already rescheduled: Cal.com
//!     then sends the new booking's uid only, not the first one's, so the cancel names an event
//!     the calendar never had and the moved event stays;
//!   - anything to a booking whose first email had no `iCalUID` while a later one has it.
//! - `SEQUENCE`: Cal.com's `iCalSequence`; without it 0 for created and requested bookings, 1 for
//!   rescheduled and 2 for cancelled ones (always above what the first invitation said).
//! - `DTSTAMP`: when the producer accepted the webhook (`received_at`), so a retried email carries
//!   the same invitation.
//! - `METHOD:REQUEST` (`STATUS:CONFIRMED`; `TENTATIVE` while it needs confirmation) or
//!   `METHOD:CANCEL` (`STATUS:CANCELLED`).
//!
//! No invitation when the booking has no readable start time (a request needs `DTSTART`).

use jiff::Timestamp;

use crate::contract::message::{BookingMessage, BookingTrigger, Person};
use crate::delivery::ics::{Event, Method, Party, Status};
use crate::delivery::sendgrid::is_plausible_email;
use crate::delivery::when::parse_instant;
use crate::text::single_line;

use super::location;
use super::view::View;

/// The right-hand side of a derived `UID`.
pub const DERIVED_UID_DOMAIN: &str = "calcom-booking-notifier";

/// The `.ics` attached to a booking email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub method: Method,
    pub uid: String,
    pub sequence: u32,
    /// The iCalendar object (UTF-8, CRLF).
    pub text: String,
}

impl Invitation {
    /// The attachment's MIME type, exactly as SendGrid takes it.
    pub fn content_type(&self) -> &'static str {
        self.method.content_type()
    }

    pub fn filename(&self) -> &'static str {
        self.method.filename()
    }
}

/// The invitation for `message`, or `None` without a readable start time.
pub(crate) fn invitation(message: &BookingMessage, v: &View) -> Option<Invitation> {
    let event = event(message, v)?;
    Some(Invitation {
        method: event.method,
        text: event.to_ics(),
        uid: event.uid,
        sequence: event.sequence,
    })
}

fn event(message: &BookingMessage, v: &View) -> Option<Event> {
    let b = &message.booking;
    let start = parse_instant(b.start.as_deref()?)?;
    let end = b
        .end
        .as_deref()
        .and_then(parse_instant)
        .filter(|end| *end > start)
        .or_else(|| {
            let minutes = i64::from(b.length_minutes.filter(|m| *m > 0)?);
            Timestamp::from_second(start.as_second().checked_add(minutes * 60)?).ok()
        });
    let stamp = [
        Some(message.received_at.as_str()),
        message.sent_at.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(parse_instant)
    .unwrap_or(start);
    let (method, status, fallback_sequence) = match message.trigger {
        BookingTrigger::BookingCreated => (Method::Request, Status::Confirmed, 0),
        BookingTrigger::BookingRequested => (Method::Request, Status::Tentative, 0),
        BookingTrigger::BookingRescheduled => (Method::Request, Status::Confirmed, 1),
        BookingTrigger::BookingCancelled => (Method::Cancel, Status::Cancelled, 2),
    };
    let link = [b.meeting_url.as_deref(), b.location.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|u| location::is_http_url(u))
        .map(str::to_owned);
    let place = link.clone().or_else(|| {
        let place = location::describe(b.location.as_deref()?)?;
        // An address is the place itself; other values read as their label ("Phone: …").
        Some(match place.label.strip_prefix("In person: ") {
            Some(address) => address.to_owned(),
            None => place.label,
        })
    });
    Some(Event {
        method,
        status,
        uid: uid(message),
        sequence: b.ical_sequence.unwrap_or(fallback_sequence),
        stamp,
        start,
        end,
        summary: v.title.clone().unwrap_or_else(|| v.event.clone()),
        description: description(v),
        location: place,
        url: link.or_else(|| v.links.booking.clone()),
        organizer: party(&b.organizer),
        attendees: b.booker.iter().chain(&b.guests).filter_map(party).collect(),
    })
}

/// Cal.com's `iCalUID`, else one derived from the original booking's uid.
pub fn uid(message: &BookingMessage) -> String {
    let b = &message.booking;
    if let Some(uid) = b
        .ical_uid
        .as_deref()
        .map(single_line)
        .filter(|u| !u.is_empty())
    {
        return uid;
    }
    let original = b
        .rescheduled_from
        .as_ref()
        .and_then(|p| p.uid.as_deref())
        .map(single_line)
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| single_line(&b.uid));
    [&original, "@", DERIVED_UID_DOMAIN].concat()
}

fn party(p: &Person) -> Option<Party> {
    let email = p.email.as_deref()?.trim();
    is_plausible_email(email).then(|| Party {
        name: p.name.as_deref().map(single_line).filter(|n| !n.is_empty()),
        email: email.to_owned(),
    })
}

/// The event type (when the title is something else), the attendee, the reason of a
/// cancellation, the notes and the form's answers, then the links.
fn description(v: &View) -> String {
    // One line (or block) per part, pushed into one String.
    let mut out = String::with_capacity(512);
    let mut part = |pieces: &[&str]| {
        if !out.is_empty() {
            out.push('\n');
        }
        pieces.iter().for_each(|p| out.push_str(p));
    };
    if v.title.as_deref().is_some_and(|t| t != v.event) {
        part(&[&v.event]);
    }
    if v.has_attendee {
        part(&["Attendee: ", &v.who]);
    }
    if let Some(reason) = &v.reason {
        part(&["Reason: ", reason]);
    }
    if let Some(notes) = &v.notes {
        part(&[&v.notes_title, ":\n", notes]);
    }
    for a in &v.answers {
        part(&[&a.text_label(), " ", &a.value]);
    }
    let l = &v.links;
    for (label, link) in [
        ("Booking", &l.booking),
        ("Reschedule", &l.reschedule),
        ("Cancel", &l.cancel),
    ] {
        if let Some(link) = link {
            part(&[label, ": ", link]);
        }
    }
    out
}
