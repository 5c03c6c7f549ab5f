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
    /// The message's JSON: exactly what serde_json writes for it (the `Serialize` derive, held
    /// as the oracle in the tests below), written by hand. serde_json's generic path escapes
    /// every field name and string byte by byte and grows its buffer from 128 bytes: a third
    /// of the producer's time to build a message.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut o = Object::open(&mut out);
        o.key("v").push_str(&self.v.to_string());
        o.str("key", &self.key);
        o.str("trigger", self.trigger.as_str());
        o.str("received_at", &self.received_at);
        o.opt("sent_at", &self.sent_at);
        self.booking.write(o.key("booking"));
        o.close();
        out
    }
}

impl Booking {
    fn write(&self, out: &mut String) {
        let mut o = Object::open(out);
        o.str("uid", &self.uid);
        o.opt("title", &self.title);
        o.opt("event_type", &self.event_type);
        o.opt("event_slug", &self.event_slug);
        o.opt("start", &self.start);
        o.opt("end", &self.end);
        if let Some(n) = self.length_minutes {
            o.key("length_minutes").push_str(&n.to_string());
        }
        self.organizer.write(o.key("organizer"));
        o.opt("time_format", &self.time_format);
        if let Some(booker) = &self.booker {
            booker.write(o.key("booker"));
        }
        if !self.guests.is_empty() {
            array(o.key("guests"), &self.guests, |out, p| p.write(out));
        }
        if self.guests_omitted != 0 {
            o.key("guests_omitted")
                .push_str(&self.guests_omitted.to_string());
        }
        o.bool("seated", self.seated);
        o.opt("location", &self.location);
        o.opt("meeting_url", &self.meeting_url);
        o.opt("notes", &self.notes);
        if !self.answers.is_empty() {
            array(o.key("answers"), &self.answers, |out, a| {
                let mut o = Object::open(out);
                o.str("label", &a.label);
                o.str("value", &a.value);
                o.close();
            });
        }
        o.opt("status", &self.status);
        o.opt("team", &self.team);
        if let Some(slot) = &self.rescheduled_from {
            let mut s = Object::open(o.key("rescheduled_from"));
            s.opt("uid", &slot.uid);
            s.opt("start", &slot.start);
            s.opt("end", &slot.end);
            s.close();
        }
        o.opt("rescheduled_by", &self.rescheduled_by);
        if let Some(c) = &self.cancellation {
            let mut s = Object::open(o.key("cancellation"));
            s.opt("reason", &c.reason);
            s.opt("cancelled_by", &c.cancelled_by);
            s.bool("reschedule_requested", c.reschedule_requested);
            s.close();
        }
        o.opt("ical_uid", &self.ical_uid);
        if let Some(n) = self.ical_sequence {
            o.key("ical_sequence").push_str(&n.to_string());
        }
        o.opt("booker_url", &self.booker_url);
        if self.disable_rescheduling {
            o.bool("disable_rescheduling", true);
        }
        if self.disable_cancelling {
            o.bool("disable_cancelling", true);
        }
        o.bool("truncated", self.truncated);
        o.close();
    }
}

impl Person {
    fn write(&self, out: &mut String) {
        let mut o = Object::open(out);
        o.opt("name", &self.name);
        o.opt("email", &self.email);
        o.opt("phone", &self.phone);
        o.opt("time_zone", &self.time_zone);
        o.close();
    }
}

/// A JSON object being written: `{`, then each field with its comma, then `}`.
struct Object<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Object<'o> {
    fn open(out: &'o mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    /// Writes `"name":` (field names need no escape) and returns the output for the value.
    fn key(&mut self, name: &str) -> &mut String {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        self.out
    }

    fn str(&mut self, name: &str, value: &str) {
        string(self.key(name), value);
    }

    /// Skipped when `None`, as `skip_serializing_if = "Option::is_none"` does.
    fn opt(&mut self, name: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.str(name, value);
        }
    }

    fn bool(&mut self, name: &str, value: bool) {
        self.key(name)
            .push_str(if value { "true" } else { "false" });
    }

    fn close(self) {
        self.out.push('}');
    }
}

fn array<T>(out: &mut String, items: &[T], mut write: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(']');
}

/// A JSON string as serde_json writes it. It escapes only `"`, `\\` and control characters, so
/// text without them (nearly all) is copied as is; checked without an early exit, which the
/// compiler can do many bytes at a time.
fn string(out: &mut String, s: &str) {
    let plain = !s.bytes().fold(false, |bad, b| {
        bad | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serializing a string cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages with every optional field present or absent in turn, every string from a set
    /// that needs each kind of escape.
    fn variants() -> Vec<BookingMessage> {
        const TEXTS: [&str; 6] = [
            "plain text, long enough to span several words",
            "",
            "quote \" back\\slash / slash",
            "tab\t new\nline \u{1} \u{1f} del\u{7f}",
            "Zoë 李 🗓️ \u{2028} \u{FFFD}",
            "</script>&<>'",
        ];
        (0..256u32)
            .map(|i| {
                // A pseudo-random bit per message and field, so fields come and go independently.
                let bit =
                    |n: u32| (i ^ n.wrapping_mul(0x9E37_79B9)).wrapping_mul(0x85EB_CA6B) >> 31 == 1;
                let text = |n: usize| TEXTS[(i as usize + n) % TEXTS.len()].to_owned();
                let opt = |n: u32| bit(n).then(|| text(n as usize));
                let person = |n: u32| Person {
                    name: opt(n),
                    email: opt(n + 1),
                    phone: opt(n + 2),
                    time_zone: opt(n + 3),
                };
                BookingMessage {
                    v: i,
                    key: text(0),
                    trigger: BookingTrigger::ALL[i as usize % 4],
                    received_at: text(1),
                    sent_at: opt(1),
                    booking: Booking {
                        uid: text(2),
                        title: opt(2),
                        event_type: opt(3),
                        event_slug: opt(4),
                        start: opt(5),
                        end: opt(6),
                        length_minutes: bit(7).then_some(i * 1000),
                        organizer: person(8),
                        time_format: opt(9),
                        booker: bit(10).then(|| person(11)),
                        guests: (0..i % 3).map(|n| person(n + 12)).collect(),
                        guests_omitted: if bit(13) { i } else { 0 },
                        seated: bit(14),
                        location: opt(15),
                        meeting_url: opt(16),
                        notes: opt(17),
                        answers: (0..i % 4)
                            .map(|n| Answer {
                                label: text(n as usize),
                                value: text(n as usize + 3),
                            })
                            .collect(),
                        status: opt(18),
                        team: opt(19),
                        rescheduled_from: bit(20).then(|| PreviousSlot {
                            uid: opt(21),
                            start: opt(22),
                            end: opt(23),
                        }),
                        rescheduled_by: opt(24),
                        cancellation: bit(25).then(|| Cancellation {
                            reason: opt(26),
                            cancelled_by: opt(27),
                            reschedule_requested: bit(28),
                        }),
                        ical_uid: opt(29),
                        ical_sequence: bit(30).then_some(u32::MAX - i),
                        booker_url: opt(31),
                        disable_rescheduling: bit(32),
                        disable_cancelling: bit(33),
                        truncated: bit(34),
                    },
                }
            })
            .collect()
    }

    #[test]
    fn to_json_writes_what_serde_json_writes() {
        let mut messages = variants();
        messages.push(fixtures::booking_created());
        messages.push(BookingMessage {
            v: MESSAGE_VERSION,
            key: String::new(),
            trigger: BookingTrigger::BookingCreated,
            received_at: String::new(),
            sent_at: None,
            booking: Booking::default(),
        });
        for m in &messages {
            assert_eq!(m.to_json(), serde_json::to_string(m).unwrap(), "{m:?}");
        }
    }
}
