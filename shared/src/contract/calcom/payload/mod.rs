//! Extracting a [`Booking`] from Cal.com's `payload`, tolerantly.
//!
//! Cal.com does not retry a rejected delivery, so a strict schema loses bookings. Every field is
//! read as "whatever JSON came" and converted leniently: nulls, missing keys, numbers where
//! strings were expected and unknown extra fields all degrade to "not shown" instead of failing.
//! Only the booking `uid` is required.

use std::borrow::Cow;

use crate::contract::calcom::json::{number_text, plain_integer, Json, JsonStr};
use crate::contract::message::{Answer, Booking, Cancellation, Person, PreviousSlot};
use crate::text::truncate_bytes;

/// The payload object, as read from the body (see [`crate::contract::calcom::json`](mod@crate::contract::calcom::json)). Every field is read
/// as "whatever JSON came" (`CalPayload::field` is `null` when missing), so no field can fail.
/// The form responses are read in the order the form sent them.
pub struct CalPayload<'a> {
    value: Json<'a>,
}

/// A payload key that may appear once only (which booking, which answers would be meant?), and
/// where its second appearance starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated<'a> {
    pub field: &'static str,
    pub key: JsonStr<'a>,
}

impl<'a> CalPayload<'a> {
    /// The payload from its tree; refuses a repeated `uid` or `responses`.
    pub fn new(value: Json<'a>) -> Result<Self, Repeated<'a>> {
        for field in ["uid", "responses"] {
            if let Some((key, _)) = value.entries().iter().filter(|(k, _)| k.is(field)).nth(1) {
                return Err(Repeated { field, key: *key });
            }
        }
        Ok(Self { value })
    }

    /// The whole payload, e.g. for the idempotency key.
    pub fn value(&self) -> &Json<'a> {
        &self.value
    }

    fn field(&self, key: &str) -> &Json<'a> {
        self.value.get(key)
    }

    /// `responses` entry by entry, in written order; empty when it is not an object.
    fn responses(&self) -> &[(JsonStr<'a>, Json<'a>)] {
        self.field("responses").entries()
    }

    /// The booking uid, if the payload has a usable one.
    pub fn uid(&self) -> Option<String> {
        text(self.field("uid"))
    }
}

/// Size caps for the text copied into a message. Tighter levels are tried until the serialized
/// message fits [`crate::contract::message::MAX_MESSAGE_BYTES`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Names, titles, zones, locations, links, reasons.
    pub short: usize,
    pub notes: usize,
    pub answers: usize,
    pub answer_label: usize,
    pub answer_value: usize,
    pub guests: usize,
}

impl Limits {
    pub const NORMAL: Limits = Limits {
        short: 512,
        notes: 8000,
        answers: 40,
        answer_label: 200,
        answer_value: 2000,
        guests: 40,
    };
    pub const TIGHT: Limits = Limits {
        short: 300,
        notes: 3000,
        answers: 12,
        answer_label: 120,
        answer_value: 600,
        guests: 10,
    };
    /// Small enough that any input fits even when every character needs a 6-byte JSON escape.
    pub const MINIMAL: Limits = Limits {
        short: 160,
        notes: 1000,
        answers: 0,
        answer_label: 0,
        answer_value: 0,
        guests: 0,
    };
    pub const LEVELS: [Limits; 3] = [Self::NORMAL, Self::TIGHT, Self::MINIMAL];
}

const MAX_URL_BYTES: usize = 2048;

/// Response fields shown elsewhere in the email, so not repeated as "answers".
const SHOWN_ELSEWHERE: [&str; 7] = [
    "name",
    "email",
    "attendeePhoneNumber",
    "notes",
    "guests",
    "location",
    "smsReminderNumber",
];

/// Builds the message's booking from a payload. `uid` must be the payload's uid (checked by the
/// caller). Text longer than `limits` allows is cut and `truncated` is set.
pub fn extract(p: &CalPayload<'_>, uid: &str, limits: &Limits) -> Booking {
    let mut cut = Cutter {
        limits,
        truncated: false,
    };

    let attendees: Vec<&Json> = p
        .field("attendees")
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let seated = !p.field("seatsPerTimeSlot").is_null()
        && number(p.field("seatsPerTimeSlot")).unwrap_or(1) > 0;
    // The booker is attendees[0]; for a seated event it is the newly seated attendee, appended last.
    let booker_index = if seated {
        attendees.len().checked_sub(1)
    } else if attendees.is_empty() {
        None
    } else {
        Some(0)
    };
    let phone_answer = p
        .responses()
        .iter()
        .find(|(k, _)| k.is("attendeePhoneNumber"))
        .and_then(|(_, v)| text(v.get("value")));

    let booker = booker_index.map(|i| {
        let mut person = cut.person(attendees[i]);
        if person.phone.is_none() {
            person.phone = phone_answer.map(|s| cut.short(s));
        }
        person
    });
    let others: Vec<&Json> = attendees
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != booker_index)
        .map(|(_, v)| *v)
        .collect();
    let kept = others.len().min(limits.guests);
    if kept < others.len() {
        cut.truncated = true;
    }
    let guests = others[..kept].iter().map(|v| cut.person(v)).collect();

    let meeting_url = text(p.field("videoCallData").get("url"))
        .or_else(|| text(p.field("metadata").get("videoCallUrl")))
        // A cut link would be a broken link: keep it whole or drop it.
        .filter(|url| {
            let ok = url.len() <= MAX_URL_BYTES;
            cut.truncated |= !ok;
            ok
        });

    let rescheduled_from = [
        p.field("rescheduleUid"),
        p.field("rescheduleStartTime"),
        p.field("rescheduleEndTime"),
    ]
    .iter()
    .any(|v| text(v).is_some())
    .then(|| PreviousSlot {
        uid: cut.opt_short(p.field("rescheduleUid")),
        start: cut.opt_short(p.field("rescheduleStartTime")),
        end: cut.opt_short(p.field("rescheduleEndTime")),
    });

    let reschedule_requested = p.field("requestReschedule").as_bool().unwrap_or(false);
    let cancellation = (text(p.field("cancellationReason")).is_some()
        || text(p.field("cancelledBy")).is_some()
        || reschedule_requested)
        .then(|| Cancellation {
            reason: cut.opt(p.field("cancellationReason"), limits.notes),
            cancelled_by: cut.opt_short(p.field("cancelledBy")),
            reschedule_requested,
        });

    let answers = cut.answers(p.responses());
    let (uid, uid_cut) = truncate_bytes(uid, limits.short.max(64));
    cut.truncated |= uid_cut;

    Booking {
        uid,
        title: cut.opt_short(p.field("title")),
        event_type: cut.opt_short(p.field("eventTitle")),
        event_slug: cut.opt_short(p.field("type")),
        start: cut.opt_short(p.field("startTime")),
        end: cut.opt_short(p.field("endTime")),
        length_minutes: number(p.field("length")).and_then(|n| u32::try_from(n).ok()),
        organizer: cut.person(p.field("organizer")),
        time_format: cut.opt_short(p.field("organizer").get("timeFormat")),
        booker,
        guests_omitted: u32::try_from(others.len() - kept).unwrap_or(u32::MAX),
        guests,
        seated,
        location: cut.opt_short(p.field("location")),
        meeting_url,
        notes: cut.opt(p.field("additionalNotes"), limits.notes),
        answers,
        status: cut.opt_short(p.field("status")),
        team: cut.opt_short(p.field("team").get("name")),
        rescheduled_from,
        rescheduled_by: cut.opt_short(p.field("rescheduledBy")),
        cancellation,
        ical_uid: cut.opt_short(p.field("iCalUID")),
        ical_sequence: number(p.field("iCalSequence")).and_then(|n| u32::try_from(n).ok()),
        // A cut link would be a broken link: keep it whole or drop it.
        booker_url: text(p.field("bookerUrl")).filter(|url| url.len() <= MAX_URL_BYTES),
        disable_rescheduling: p.field("disableRescheduling").as_bool() == Some(true),
        disable_cancelling: p.field("disableCancelling").as_bool() == Some(true),
        // Last, so it sees every cut made while filling the fields above.
        truncated: cut.truncated,
    }
}

struct Cutter<'a> {
    limits: &'a Limits,
    truncated: bool,
}

impl Cutter<'_> {
    /// `s` itself when it fits: the text was copied out of the body once already.
    fn cap(&mut self, s: String, max: usize) -> String {
        if s.len() <= max {
            return s;
        }
        self.truncated = true;
        truncate_bytes(&s, max).0
    }

    fn short(&mut self, s: String) -> String {
        self.cap(s, self.limits.short)
    }

    fn opt(&mut self, v: &Json, max: usize) -> Option<String> {
        text(v).map(|s| self.cap(s, max))
    }

    fn opt_short(&mut self, v: &Json) -> Option<String> {
        self.opt(v, self.limits.short)
    }

    fn person(&mut self, v: &Json) -> Person {
        let field = |k: &str| v.get(k);
        let name = person_name(field("name"))
            .or_else(|| join_names(field("firstName"), field("lastName")));
        // An email cut short is a wrong address: keep it whole or not at all (254 is the SMTP limit).
        let email = text(field("email")).filter(|e| {
            let ok = e.len() <= 254;
            self.truncated |= !ok;
            ok
        });
        Person {
            name: name.map(|n| self.short(n)),
            email,
            phone: self.opt_short(field("phoneNumber")),
            time_zone: self.opt_short(field("timeZone")),
        }
    }

    fn answers(&mut self, responses: &[(JsonStr, Json)]) -> Vec<Answer> {
        let mut out = Vec::new();
        for (key, response) in responses {
            let key = key.text();
            if SHOWN_ELSEWHERE.contains(&&*key) || response.get("isHidden").as_bool() == Some(true)
            {
                continue;
            }
            let Some(value) = answer_text(response.get("value")) else {
                continue;
            };
            if out.len() == self.limits.answers {
                self.truncated = true;
                break;
            }
            let label = text(response.get("label")).unwrap_or_else(|| key.into_owned());
            out.push(Answer {
                label: self.cap(label, self.limits.answer_label),
                value: self.cap(value, self.limits.answer_value),
            });
        }
        out
    }
}

/// A non-empty trimmed string from a string or a number; anything else is "not given".
pub(crate) fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => {
            let s = s.text();
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Json::Number(n) => number_text(n).map(Cow::into_owned),
        _ => None,
    }
}

/// A whole number of at least 0 (a fraction is cut), from a number or a string of digits.
fn number(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) if plain_integer(n).is_some() => n.parse().ok(),
        Json::Number(n) => {
            let n: serde_json::Number = serde_json::from_str(n).ok()?;
            n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
        }
        Json::String(s) => s.text().trim().parse().ok(),
        _ => None,
    }
}

/// A name given as a string or as `{firstName, lastName}`.
fn person_name(v: &Json) -> Option<String> {
    match v {
        Json::Object(_) => join_names(v.get("firstName"), v.get("lastName")),
        _ => text(v),
    }
}

fn join_names(first: &Json, last: &Json) -> Option<String> {
    let parts: Vec<String> = [first, last].into_iter().filter_map(text).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// How an answer's `value` reads to a person: lists joined, `{value, optionValue}` locations by
/// their option, split names joined, booleans as Yes/No.
fn answer_text(v: &Json) -> Option<String> {
    match v {
        Json::Bool(b) => Some(if *b { "Yes" } else { "No" }.to_owned()),
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(answer_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Json::Object(_) => {
            if v.has_key("firstName") || v.has_key("lastName") {
                return person_name(v);
            }
            answer_text(v.get("optionValue")).or_else(|| answer_text(v.get("value")))
        }
        _ => text(v),
    }
}
