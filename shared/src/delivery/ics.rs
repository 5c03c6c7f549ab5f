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
        // Written into one buffer, each value escaped and folded as it goes in: no string per
        // line or per escaped value (this was a fifth of rendering an email at opt-level "z").
        let texts = self.uid.len() + self.summary.len() + self.description.len();
        let mut w = Writer::with_capacity(640 + texts + texts / 8);
        w.line("BEGIN", "VCALENDAR");
        w.line("PRODID", PRODID);
        w.line("VERSION", "2.0");
        w.line("CALSCALE", "GREGORIAN");
        w.line("METHOD", self.method.as_str());
        w.line("BEGIN", "VEVENT");
        w.text_line("UID", &self.uid);
        w.line("SEQUENCE", &self.sequence.to_string());
        w.utc_line("DTSTAMP", self.stamp);
        w.utc_line("DTSTART", self.start);
        if let Some(end) = self.end.filter(|end| *end > self.start) {
            w.utc_line("DTEND", end);
        }
        w.text_line("SUMMARY", &self.summary);
        if !self.description.is_empty() {
            w.text_line("DESCRIPTION", &self.description);
        }
        if let Some(location) = self.location.as_deref().filter(|l| !l.trim().is_empty()) {
            w.text_line("LOCATION", location);
        }
        if let Some(url) = &self.url {
            w.line("URL", url);
        }
        if let Some(organizer) = &self.organizer {
            w.party_line("ORGANIZER", organizer, &[]);
        }
        for attendee in &self.attendees {
            let params = [
                ("ROLE", "REQ-PARTICIPANT"),
                ("PARTSTAT", "ACCEPTED"),
                ("RSVP", "FALSE"),
            ];
            w.party_line("ATTENDEE", attendee, &params);
        }
        w.line("STATUS", self.status.as_str());
        let transparency = if self.method == Method::Cancel {
            "TRANSPARENT"
        } else {
            "OPAQUE"
        };
        w.line("TRANSP", transparency);
        w.line("END", "VEVENT");
        w.line("END", "VCALENDAR");
        w.out
    }
}

/// The object being written. A content line is put in pieces (name, parameters, value, each
/// escaped piece) and folded as they arrive; pieces end on character boundaries, so the folds
/// fall where folding the whole line would put them.
struct Writer {
    out: String,
    /// Octets on the current physical line, a continuation's leading space included.
    col: usize,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Writer {
        Writer {
            out: String::with_capacity(capacity),
            col: 0,
        }
    }

    /// Appends `s` to the current content line, folding before a physical line would pass
    /// [`MAX_LINE_OCTETS`] octets (between characters; a continuation starts with a space).
    fn put(&mut self, mut s: &str) {
        while self.col + s.len() > MAX_LINE_OCTETS {
            let mut cut = MAX_LINE_OCTETS - self.col;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.push_str(&s[..cut]);
            self.out.push_str("\r\n ");
            self.col = 1;
            s = &s[cut..];
        }
        self.out.push_str(s);
        self.col += s.len();
    }

    fn end_line(&mut self) {
        self.out.push_str("\r\n");
        self.col = 0;
    }

    /// `NAME:value`, `value` already in its value type's form.
    fn line(&mut self, name: &str, value: &str) {
        self.put(name);
        self.put(":");
        self.put(value);
        self.end_line();
    }

    /// `NAME:value` for a TEXT value, escaped ([`escape_text`]).
    fn text_line(&mut self, name: &str, value: &str) {
        self.put(name);
        self.put(":");
        escape_text_pieces(value, |piece| self.put(piece));
        self.end_line();
    }

    /// `NAME:20260217T180000Z`.
    fn utc_line(&mut self, name: &str, ts: Timestamp) {
        self.put(name);
        self.put(":");
        let mut value = String::with_capacity(16);
        push_utc(&mut value, ts);
        self.put(&value);
        self.end_line();
    }

    /// `NAME;CN="Name";P=v…:mailto:address`, without `CN` when the name has nothing left.
    fn party_line(&mut self, name: &str, party: &Party, params: &[(&str, &str)]) {
        self.put(name);
        if let Some(cn) = party.name.as_deref().and_then(quoted_param) {
            self.put(";CN=");
            self.put(&cn);
        }
        for (key, value) in params {
            self.put(";");
            self.put(key);
            self.put("=");
            self.put(value);
        }
        self.put(":mailto:");
        self.put(&party.email);
        self.end_line();
    }
}

/// Appends `line` folded to at most [`MAX_LINE_OCTETS`] octets per physical line, each ended by
/// CRLF; continuation lines start with a space (which counts toward their 75).
pub fn fold_into(out: &mut String, line: &str) {
    let mut w = Writer {
        out: std::mem::take(out),
        col: 0,
    };
    w.put(line);
    w.end_line();
    *out = w.out;
}

/// A TEXT value (RFC 5545 §3.3.11): `\` `;` `,` escaped, any line break as `\n`, other control
/// characters (but tab) dropped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_text_pieces(s, |piece| out.push_str(piece));
    out
}

/// [`escape_text`] as pieces handed to `put`: the text between escapes as it is, each escape on
/// its own. Byte by byte: everything it changes is ASCII, or a C1 control (U+0080–U+009F, `C2 80`
/// to `C2 9F` in UTF-8), so the pieces always end on character boundaries.
fn escape_text_pieces(s: &str, mut put: impl FnMut(&str)) {
    // The bytes the match below looks at; everything else is skipped by one table lookup.
    const SPECIAL: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = b != b'\t' as usize;
            b += 1;
        }
        table[0x7f] = true;
        table[0xc2] = true;
        table[b'\\' as usize] = true;
        table[b';' as usize] = true;
        table[b',' as usize] = true;
        table
    };
    let bytes = s.as_bytes();
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        if !SPECIAL[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        let (escape, len) = match bytes[i] {
            b'\\' => ("\\\\", 1),
            b';' => ("\\;", 1),
            b',' => ("\\,", 1),
            b'\n' => ("\\n", 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => ("\\n", 2),
            b'\r' => ("\\n", 1),
            b'\t' => {
                i += 1;
                continue;
            }
            0x00..=0x1f | 0x7f => ("", 1),
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => ("", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        put(&s[run..i]);
        put(escape);
        i += len;
        run = i;
    }
    put(&s[run..]);
}

/// A parameter value as a quoted string (no `"`, no control characters); `None` when nothing is
/// left.
fn quoted_param(s: &str) -> Option<String> {
    // A name of printable ASCII words, single-spaced and without `"`, is kept as it is.
    let mut after_space = true;
    let plain = s.bytes().all(|b| {
        let ok = b.is_ascii_graphic() && b != b'"' || b == b' ' && !after_space;
        after_space = b == b' ';
        ok
    });
    if plain && !after_space {
        return Some(["\"", s, "\""].concat());
    }
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
    let mut out = String::with_capacity(16);
    push_utc(&mut out, ts);
    out
}

/// [`utc`] into `out`, digits written by hand: `format!`'s padded integers cost a few thousand
/// instructions per date-time at opt-level "z".
fn push_utc(out: &mut String, ts: Timestamp) {
    let dt = TimeZone::UTC.to_datetime(ts);
    let Ok(year) = u16::try_from(dt.year()) else {
        // Before year 0: never a booking, written as it always was.
        out.push_str(&format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        ));
        return;
    };
    let mut text = *b"00000000T000000Z";
    // Each field's value and the index just past its last digit (jiff's years end at 9999).
    let fields = [
        (year, 4),
        (dt.month().unsigned_abs().into(), 6),
        (dt.day().unsigned_abs().into(), 8),
        (dt.hour().unsigned_abs().into(), 11),
        (dt.minute().unsigned_abs().into(), 13),
        (dt.second().unsigned_abs().into(), 15),
    ];
    let mut start = 0;
    for (mut value, end) in fields {
        for digit in text[start..end].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        start = if end == 8 { 9 } else { end };
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
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
    fn folding_pieces_as_they_come_folds_as_the_whole_line() {
        for unit in ["a", "é", "€", "😀", "ab€"] {
            for len in [0, 1, 73, 74, 75, 76, 149, 150, 151, 200] {
                let line = format!("SUMMARY:{}", unit.repeat(len));
                let mut whole = String::new();
                fold_into(&mut whole, &line);
                // The line cut into three pieces at every pair of character boundaries.
                let cuts: Vec<usize> = (0..=line.len())
                    .filter(|i| line.is_char_boundary(*i))
                    .step_by(3)
                    .collect();
                for &a in &cuts {
                    for &b in cuts.iter().filter(|b| **b >= a) {
                        let mut w = Writer::with_capacity(0);
                        for piece in [&line[..a], &line[a..b], &line[b..]] {
                            w.put(piece);
                        }
                        w.end_line();
                        assert_eq!(w.out, whole, "{unit} × {len}, cut at {a} and {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn plain_names_are_quoted_as_cleaned_ones() {
        let oracle = |s: &str| {
            let kept: String = s
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .filter(|c| *c != '"')
                .collect();
            let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
            (!kept.is_empty()).then(|| format!("\"{kept}\""))
        };
        let alphabet = ['a', ' ', '"', '\t', '\u{7}', '\u{a0}', 'é'];
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(longer);
        }
        for s in strings {
            assert_eq!(quoted_param(&s), oracle(&s), "{s:?}");
        }
    }

    #[test]
    fn utc_is_written_as_format_wrote_it() {
        let old = |ts: Timestamp| {
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
        };
        for second in [
            Timestamp::MIN.as_second(),
            -62_167_219_201, // the last second of year -1
            -62_167_219_200, // 0000-01-01T00:00:00Z
            -1,
            0,
            1_771_351_200,
            253_402_207_199, // 9999-12-30T21:59:59Z, a second before jiff's last
            Timestamp::MAX.as_second(),
        ] {
            let ts = Timestamp::from_second(second).expect("in range");
            assert_eq!(utc(ts), old(ts), "{second}");
        }
    }

    #[test]
    fn utc_date_times() {
        assert_eq!(utc(ts("2026-02-19T20:00:00+00:00")), "20260219T200000Z");
        assert_eq!(utc(ts("2026-03-10T09:05:07-08:00")), "20260310T170507Z");
        assert_eq!(utc(ts("1999-12-31T23:59:59.999Z")), "19991231T235959Z");
    }
}
