//! iCalendar (RFC 5545) text for one event with an iTIP method (RFC 5546): the `.ics` attached to
//! every booking email, so staff calendars keep one event per booking that moves when it is
//! rescheduled and disappears when it is cancelled.
//!
//! Written here rather than taken from a crate: the maintained one (`icalendar`) builds on `chrono`
//! and `uuid` (random ids through `getrandom`), where this core already has `jiff` and needs no
//! randomness, and what we write is one event of a dozen properties. The tests check it against
//! that crate's parser (a dev-dependency), not only against itself.
//!
//! The rules kept (RFC 5545 §3.1, §3.3.11):
//! - lines end in CRLF and are folded so that no line is longer than 75 octets, a continuation
//!   line starting with one space; folds fall between UTF-8 characters, never inside one;
//! - TEXT values escape `\`, `;`, `,` and line breaks (`\n`); other control characters are dropped;
//! - parameter values (`CN`) are quoted, without `"` or control characters;
//! - URIs (`URL`, `mailto:`) are written as they are, so only checked `http(s)` URLs and plausible
//!   addresses are given here;
//! - date-times are UTC (`20260217T180000Z`).

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The iTIP method: the invitation (new or updated) or its cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }

    /// The attachment's MIME type. Exactly this: SendGrid refuses any other parameter (a
    /// `charset`, for one) with a 400; iCalendar text is UTF-8 by default.
    pub fn content_type(self) -> &'static str {
        match self {
            Method::Request => "text/calendar; method=REQUEST",
            Method::Cancel => "text/calendar; method=CANCEL",
        }
    }

    /// The attachment's file name.
    pub fn filename(self) -> &'static str {
        match self {
            Method::Request => "invite.ics",
            Method::Cancel => "cancel.ics",
        }
    }
}

/// The event's `STATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Confirmed,
    /// Waiting for the host to confirm.
    Tentative,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Confirmed => "CONFIRMED",
            Status::Tentative => "TENTATIVE",
            Status::Cancelled => "CANCELLED",
        }
    }
}

/// A person with an email address (`ORGANIZER`, `ATTENDEE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: Option<String>,
    /// A plausible address (written into a `mailto:` URI as it is).
    pub email: String,
}

/// One event, as data. [`Event::to_ics`] writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub method: Method,
    pub status: Status,
    /// Stays the same across every revision of the event.
    pub uid: String,
    /// The revision: a calendar applies an update whose `SEQUENCE` is not lower than its own.
    pub sequence: u32,
    /// When this revision was made.
    pub stamp: Timestamp,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    /// An `http(s)` URL.
    pub url: Option<String>,
    pub organizer: Option<Party>,
    pub attendees: Vec<Party>,
}

/// The longest content line, in octets, without its CRLF (RFC 5545 §3.1).
pub const MAX_LINE_OCTETS: usize = 75;

/// Product identifier (`PRODID`).
pub const PRODID: &str = "-//Cal.com booking notifier//Staff email//EN";

impl Event {
    /// The whole `VCALENDAR` object, CRLF line endings, folded.
    pub fn to_ics(&self) -> String {
        let mut w = Writer::default();
        w.line("BEGIN", &[], "VCALENDAR");
        w.line("PRODID", &[], PRODID);
        w.line("VERSION", &[], "2.0");
        w.line("CALSCALE", &[], "GREGORIAN");
        w.line("METHOD", &[], self.method.as_str());
        w.line("BEGIN", &[], "VEVENT");
        w.line("UID", &[], &escape_text(&self.uid));
        w.line("SEQUENCE", &[], &self.sequence.to_string());
        w.line("DTSTAMP", &[], &utc(self.stamp));
        w.line("DTSTART", &[], &utc(self.start));
        if let Some(end) = self.end.filter(|end| *end > self.start) {
            w.line("DTEND", &[], &utc(end));
        }
        w.line("SUMMARY", &[], &escape_text(&self.summary));
        if !self.description.is_empty() {
            w.line("DESCRIPTION", &[], &escape_text(&self.description));
        }
        if let Some(location) = self.location.as_deref().filter(|l| !l.trim().is_empty()) {
            w.line("LOCATION", &[], &escape_text(location));
        }
        if let Some(url) = &self.url {
            w.line("URL", &[], url);
        }
        if let Some(organizer) = &self.organizer {
            let cn = organizer.name.as_deref().and_then(quoted_param);
            let params: Vec<(&str, &str)> = cn.iter().map(|cn| ("CN", cn.as_str())).collect();
            w.line("ORGANIZER", &params, &format!("mailto:{}", organizer.email));
        }
        for attendee in &self.attendees {
            let cn = attendee.name.as_deref().and_then(quoted_param);
            let mut params: Vec<(&str, &str)> = cn.iter().map(|cn| ("CN", cn.as_str())).collect();
            params.extend([
                ("ROLE", "REQ-PARTICIPANT"),
                ("PARTSTAT", "ACCEPTED"),
                ("RSVP", "FALSE"),
            ]);
            w.line("ATTENDEE", &params, &format!("mailto:{}", attendee.email));
        }
        w.line("STATUS", &[], self.status.as_str());
        let transparency = if self.method == Method::Cancel {
            "TRANSPARENT"
        } else {
            "OPAQUE"
        };
        w.line("TRANSP", &[], transparency);
        w.line("END", &[], "VEVENT");
        w.line("END", &[], "VCALENDAR");
        w.0
    }
}

#[derive(Default)]
struct Writer(String);

impl Writer {
    /// `NAME;P1=v1;P2=v2:value`, folded, with CRLF. `value` is already in its value type's form.
    fn line(&mut self, name: &str, params: &[(&str, &str)], value: &str) {
        let mut line = String::with_capacity(name.len() + value.len() + 16);
        line.push_str(name);
        for (key, param) in params {
            line.push(';');
            line.push_str(key);
            line.push('=');
            line.push_str(param);
        }
        line.push(':');
        line.push_str(value);
        fold_into(&mut self.0, &line);
    }
}

/// Appends `line` folded to at most [`MAX_LINE_OCTETS`] octets per physical line, each ended by
/// CRLF; continuation lines start with a space (which counts toward their 75).
pub fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut budget = MAX_LINE_OCTETS;
    loop {
        if rest.len() <= budget {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = budget;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        budget = MAX_LINE_OCTETS - 1;
    }
}

/// A TEXT value (RFC 5545 §3.3.11): `\` `;` `,` escaped, any line break as `\n`, other control
/// characters (but tab) dropped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value as a quoted string (no `"`, no control characters); `None` when nothing is
/// left.
fn quoted_param(s: &str) -> Option<String> {
    let kept: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| *c != '"')
        .collect();
    let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    (!kept.is_empty()).then(|| format!("\"{kept}\""))
}

/// A UTC DATE-TIME: `20260217T180000Z`.
pub fn utc(ts: Timestamp) -> String {
    let dt = TimeZone::UTC.to_datetime(ts);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        crate::delivery::when::parse_instant(s).unwrap()
    }

    fn event() -> Event {
        Event {
            method: Method::Request,
            status: Status::Confirmed,
            uid: "a1b2c3d4e5@Cal.com".into(),
            sequence: 0,
            stamp: ts("2026-02-10T17:03:13.000Z"),
            start: ts("2026-02-17T18:00:00Z"),
            end: Some(ts("2026-02-17T18:30:00Z")),
            summary: "30 Min Consultation between Cal Host and Alex Student".into(),
            description: "Topics: Scheduling, Pricing\nNotes; more".into(),
            location: Some("Room 4, 12 Harbour Street".into()),
            url: Some("https://meetco.daily.co/abc".into()),
            organizer: Some(Party {
                name: Some("Cal \"The\" Host".into()),
                email: "host@example.com".into(),
            }),
            attendees: vec![
                Party {
                    name: Some("Alex Student".into()),
                    email: "alex.student@example.org".into(),
                },
                Party {
                    name: None,
                    email: "parent@example.org".into(),
                },
            ],
        }
    }

    /// Undoes the folding (RFC 5545 §3.1) to read logical lines back.
    fn unfold(text: &str) -> Vec<String> {
        text.replace("\r\n ", "")
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn writes_a_complete_request() {
        let text = event().to_ics();
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "only CRLF");
        let lines = unfold(&text);
        for expected in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "METHOD:REQUEST",
            "BEGIN:VEVENT",
            "UID:a1b2c3d4e5@Cal.com",
            "SEQUENCE:0",
            "DTSTAMP:20260210T170313Z",
            "DTSTART:20260217T180000Z",
            "DTEND:20260217T183000Z",
            "SUMMARY:30 Min Consultation between Cal Host and Alex Student",
            "DESCRIPTION:Topics: Scheduling\\, Pricing\\nNotes\\; more",
            "LOCATION:Room 4\\, 12 Harbour Street",
            "URL:https://meetco.daily.co/abc",
            "ORGANIZER;CN=\"Cal The Host\":mailto:host@example.com",
            "ATTENDEE;CN=\"Alex Student\";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:alex.student@example.org",
            "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:parent@example.org",
            "STATUS:CONFIRMED",
            "END:VEVENT",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected} in {lines:#?}");
        }
    }

    #[test]
    fn a_cancel_and_what_is_left_out() {
        let mut e = event();
        e.method = Method::Cancel;
        e.status = Status::Cancelled;
        e.sequence = 2;
        e.end = Some(e.start); // not after the start: left out
        e.location = Some("  ".into());
        e.url = None;
        e.description.clear();
        e.organizer = None;
        let lines = unfold(&e.to_ics());
        for expected in ["METHOD:CANCEL", "STATUS:CANCELLED", "SEQUENCE:2"] {
            assert!(lines.iter().any(|l| l == expected), "{expected}");
        }
        for absent in ["DTEND", "LOCATION", "URL", "DESCRIPTION", "ORGANIZER"] {
            assert!(!lines.iter().any(|l| l.starts_with(absent)), "{absent}");
        }
        assert_eq!(
            Method::Cancel.content_type(),
            "text/calendar; method=CANCEL"
        );
        assert_eq!(
            Method::Request.content_type(),
            "text/calendar; method=REQUEST"
        );
    }

    #[test]
    fn text_escaping() {
        assert_eq!(escape_text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(
            escape_text("one\r\ntwo\nthree\rfour"),
            r"one\ntwo\nthree\nfour"
        );
        assert_eq!(escape_text("bell\u{7}\ttab"), "bell\ttab");
        assert_eq!(escape_text("Søren: ok"), "Søren: ok");
        assert_eq!(quoted_param("A \"B\"\r\nC"), Some("\"A B C\"".into()));
        assert_eq!(quoted_param(" \" "), None);
    }

    #[test]
    fn folds_at_75_octets_between_characters() {
        for unit in ["a", "é", "€", "😀", "ab€"] {
            for len in [0, 1, 74, 75, 76, 149, 150, 151, 400] {
                let value: String = unit.repeat(len);
                let mut out = String::new();
                fold_into(&mut out, &format!("SUMMARY:{value}"));
                assert!(out.ends_with("\r\n"));
                for (i, physical) in out.split_terminator("\r\n").enumerate() {
                    assert!(
                        physical.len() <= MAX_LINE_OCTETS,
                        "{unit} × {len}: {physical}"
                    );
                    assert_eq!(i > 0, physical.starts_with(' '), "{unit} × {len}");
                    assert!(!physical.is_empty() && physical != " ");
                }
                assert_eq!(out.replace("\r\n ", ""), format!("SUMMARY:{value}\r\n"));
            }
        }
    }

    #[test]
    fn utc_date_times() {
        assert_eq!(utc(ts("2026-02-19T20:00:00+00:00")), "20260219T200000Z");
        assert_eq!(utc(ts("2026-03-10T09:05:07-08:00")), "20260310T170507Z");
        assert_eq!(utc(ts("1999-12-31T23:59:59.999Z")), "19991231T235959Z");
    }
}
