//! The queue message: what the producer puts on `booking-events` and the consumer reads.
//!
//! It is self-contained (the consumer never calls Cal.com back), versioned (`"v": 1`) and plain
//! JSON, so the Cloudflare dashboard previews it and an operator can paste it back. Version rule:
//! adding an optional field keeps `v`; renaming, removing or changing the meaning of a field bumps
//! it, and the consumer dead-letters versions it does not know instead of guessing.

use serde::{Deserialize, Serialize};

/// The version this code writes and reads.
pub const MESSAGE_VERSION: u32 = 1;

/// Upper bound for one serialized message. The queue takes 128 KB; staying at half leaves room for
/// a dead-letter wrapper around the original message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Length of an idempotency key: 32 lowercase hex characters (128 bits of SHA-256).
pub const KEY_LEN: usize = 32;

/// True when `key` is an idempotency key as the producer writes it: exactly [`KEY_LEN`]
/// lowercase hex characters. Checked before a key reaches a log line, a SQL parameter or an
/// operator command, since a pasted or replayed message can carry anything there.
pub fn is_valid_key(key: &str) -> bool {
    key.len() == KEY_LEN && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The booking triggers that become staff emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingTrigger {
    BookingCreated,
    BookingRescheduled,
    BookingCancelled,
    /// A booking that waits for the host to confirm or reject it.
    BookingRequested,
}

impl BookingTrigger {
    pub const ALL: [BookingTrigger; 4] = [
        Self::BookingCreated,
        Self::BookingRescheduled,
        Self::BookingCancelled,
        Self::BookingRequested,
    ];

    /// Cal.com's name for the trigger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingCreated => "BOOKING_CREATED",
            Self::BookingRescheduled => "BOOKING_RESCHEDULED",
            Self::BookingCancelled => "BOOKING_CANCELLED",
            Self::BookingRequested => "BOOKING_REQUESTED",
        }
    }

    pub fn from_calcom(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for BookingTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One queued notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingMessage {
    /// Format version, [`MESSAGE_VERSION`].
    pub v: u32,
    /// Idempotency key: equal for repeats of the same Cal.com delivery, different otherwise.
    pub key: String,
    pub trigger: BookingTrigger,
    /// When the producer accepted the webhook (RFC 3339, UTC).
    pub received_at: String,
    /// Cal.com's `createdAt`: when it sent the webhook, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    pub booking: Booking,
}

impl BookingMessage {
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string(self).expect("message serializes")
    }
}

/// A person on the booking. Every field may be missing in what Cal.com sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// IANA zone name as sent (may be unknown to us; rendering falls back to UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// A question from the booking form that the booker answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub label: String,
    pub value: String,
}

/// The slot a rescheduled booking moved from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreviousSlot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// Why and by whom a booking was cancelled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cancellation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// Cancelled pending a rebook (Cal.com's `requestReschedule`).
    #[serde(default)]
    pub reschedule_requested: bool,
}

/// The booking, reduced to what a staff email shows. Strings are kept as Cal.com sent them
/// (dates too), so the consumer decides how to present what it cannot parse.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    pub uid: String,
    /// The booking's title, e.g. "30 Min Consultation between Cal and Alex".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The event type's title, e.g. "30 Min Consultation".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The event type's slug (Cal.com's `type`, e.g. `30min`): what `EMAIL_ROUTES` is keyed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_minutes: Option<u32>,
    #[serde(default)]
    pub organizer: Person,
    /// `"h:mma"` (12-hour) or `"HH:mm"` (24-hour), the organizer's preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_format: Option<String>,
    /// The person who booked: attendees[0], or for a seated event the newly seated attendee.
    /// `None` when Cal.com sent no attendees (the email then names the organizer only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booker: Option<Person>,
    /// Everyone else on the booking: guests, or other seat holders of a seated event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<Person>,
    /// Guests left out to keep the message small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub guests_omitted: u32,
    #[serde(default)]
    pub seated: bool,
    /// Cal.com's internal location value (`integrations:daily`, a URL, an address, a phone …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The link to join, when there is one (video call data or metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_url: Option<String>,
    /// The booker's "Additional notes".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Other answered questions of the booking form, in form order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Answer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescheduled_from: Option<PreviousSlot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescheduled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    /// Cal.com's `iCalUID`: the calendar event's UID, kept across reschedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
    /// Cal.com's `iCalSequence`: the calendar event's revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ical_sequence: Option<u32>,
    /// Cal.com's `bookerUrl` (e.g. `https://cal.com`), the base of the links to act on the booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booker_url: Option<String>,
    /// The event type forbids rescheduling (Cal.com's `disableRescheduling`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_rescheduling: bool,
    /// The event type forbids cancelling (Cal.com's `disableCancelling`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_cancelling: bool,
    /// Some text was shortened to fit the queue's message size; the email says so.
    #[serde(default)]
    pub truncated: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Messages for unit tests, without the producer's parser.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::BookingMessage;

    /// The message the producer makes of `samples/booking-created.json` (kept equal to the
    /// parser's output by `shared/tests/email.rs`).
    pub(crate) fn booking_created() -> BookingMessage {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/booking-created.message.json"
        ))
        .expect("the fixture is a message")
    }
}
