//! The staff email for one booking message: subject, plain text and HTML.
//!
//! Rendering is split in two:
//! - [`view`] computes everything shown (times in the organizer's and the attendee's zones,
//!   location labels, who did what, cleaned free text) as plain strings;
//! - Askama templates in `shared/templates/email/` lay it out. Each kind has a pair
//!   (`created`, `rescheduled`, `cancelled`, `requested` × `.html`/`.txt`) that extends
//!   `layout.html`/`layout.txt` and only says what is particular to it (kicker, lead sentence,
//!   call-out); the details table, notes and answers come from `details.html`/`details.txt`, and
//!   call-out boxes from `macros.html`.
//!
//! The HTML part is escaped by Askama (everything the booker typed is data, never markup); only
//! `http(s)://` URLs become links. The text part is not escaped.
//!
//! Next to the parts: [`links`] (where to open, reschedule, cancel or confirm the booking in
//! Cal.com) and [`calendar`] (the `.ics` invitation for the booking).

pub mod calendar;
pub mod links;
mod location;
mod view;

use askama::Template;

pub use calendar::Invitation;
pub use links::Links;
pub use location::{describe as describe_location, is_http_url, Location};

use crate::contract::message::{BookingMessage, BookingTrigger, Person};
use view::View;

/// A rendered staff email.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// One line (no CR/LF), at most 200 characters.
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The booker, when they have a usable email address: staff can answer them directly.
    pub reply_to: Option<Person>,
    /// The SendGrid category for this kind, e.g. `booking-created`.
    pub category: &'static str,
    /// The calendar invitation to attach; `None` only without a readable start time.
    pub calendar: Option<Invitation>,
}

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = view::MAX_SUBJECT_CHARS;

/// Renders the email for one message. Never fails: whatever is missing or unreadable in the
/// booking is left out or shown as sent.
pub fn render(message: &BookingMessage) -> Email {
    let v = View::build(message);
    let (html, text) = render_parts(message.trigger, &v);
    // Rendering only fails if writing to a String fails, which it does not; still, never panic
    // in the worker: fall back to the subject alone.
    let text = text.unwrap_or_else(|_| format!("{}\n", v.subject));
    let html = html.unwrap_or_else(|_| "<p>See the plain-text part of this email.</p>".to_owned());
    let calendar = calendar::invitation(message, &v);
    Email {
        calendar,
        subject: v.subject,
        text,
        html,
        reply_to: v.reply_to,
        category: category(message.trigger),
    }
}

/// The SendGrid category of a trigger's emails.
pub fn category(trigger: BookingTrigger) -> &'static str {
    match trigger {
        BookingTrigger::BookingCreated => "booking-created",
        BookingTrigger::BookingRescheduled => "booking-rescheduled",
        BookingTrigger::BookingCancelled => "booking-cancelled",
        BookingTrigger::BookingRequested => "booking-requested",
    }
}

/// Each kind's template pair: `.html` (escaped) and `.txt` (not escaped).
#[derive(Template)]
enum Part<'a> {
    #[template(path = "email/created.html")]
    CreatedHtml { v: &'a View },
    #[template(path = "email/created.txt")]
    CreatedText { v: &'a View },
    #[template(path = "email/rescheduled.html")]
    RescheduledHtml { v: &'a View },
    #[template(path = "email/rescheduled.txt")]
    RescheduledText { v: &'a View },
    #[template(path = "email/cancelled.html")]
    CancelledHtml { v: &'a View },
    #[template(path = "email/cancelled.txt")]
    CancelledText { v: &'a View },
    #[template(path = "email/requested.html")]
    RequestedHtml { v: &'a View },
    #[template(path = "email/requested.txt")]
    RequestedText { v: &'a View },
}

/// Renders both parts (HTML, text) of the trigger's template pair.
fn render_parts(
    trigger: BookingTrigger,
    v: &View,
) -> (askama::Result<String>, askama::Result<String>) {
    let (html, text) = match trigger {
        BookingTrigger::BookingCreated => (Part::CreatedHtml { v }, Part::CreatedText { v }),
        BookingTrigger::BookingRescheduled => {
            (Part::RescheduledHtml { v }, Part::RescheduledText { v })
        }
        BookingTrigger::BookingCancelled => (Part::CancelledHtml { v }, Part::CancelledText { v }),
        BookingTrigger::BookingRequested => (Part::RequestedHtml { v }, Part::RequestedText { v }),
    };
    (html.render(), text.render())
}
