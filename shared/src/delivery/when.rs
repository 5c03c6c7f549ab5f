//! Times for people: Cal.com's instants shown in an IANA time zone, the way staff read them.
//!
//! - Input is whatever Cal.com sent (`2026-02-17T18:00:00Z`, `…00.000Z`, `…+00:00`). Anything
//!   that does not parse, or parses to an absurd year (before 1970 or after 2200), is shown
//!   exactly as sent: formatting degrades, it never fails.
//! - Output is `Tue 17 Feb 2026, 09:00 AKST` (24-hour) or `Tue 17 Feb 2026, 9:00am AKST`
//!   ([`Clock::H12`], the organizer's `h:mma`). Where the zone has no letter abbreviation (the
//!   tz database writes numbers such as `+0530` or `-03`), the offset is shown as `UTC+05:30`.
//! - An unknown zone name falls back to UTC and says so:
//!   `Tue 17 Feb 2026, 18:00 UTC (time zone "Mars/Olympus" unknown)`. A missing zone is plain UTC.
//!
//! Zones come from the IANA database bundled into the binary by `jiff` (`tzdb-bundle-always`):
//! there is no file system on wasm32-unknown-unknown.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

use crate::text::{single_line, truncate_bytes};

/// Earliest and latest years shown as dates; anything else is shown as sent.
const MIN_YEAR: i16 = 1970;
const MAX_YEAR: i16 = 2200;

/// Longest zone name quoted back in the "unknown" note.
const MAX_ZONE_NAME_BYTES: usize = 64;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// 12- or 24-hour clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// `09:00`
    #[default]
    H24,
    /// `9:00am`
    H12,
}

impl Clock {
    /// From Cal.com's organizer `timeFormat`: `"h:mma"` is 12-hour, `"HH:mm"` (or nothing) 24-hour.
    pub fn from_time_format(format: Option<&str>) -> Clock {
        match format {
            Some(f) if f.contains('h') || f.contains('a') || f.contains('A') => Clock::H12,
            _ => Clock::H24,
        }
    }
}

/// The zone times are shown in, resolved once.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    /// The name asked for, when it is not a zone we know (times are then shown in UTC).
    unknown: Option<String>,
}

/// Zones looked up so far in this isolate, by the name asked for. Reading a zone from the bundled
/// database parses its transitions (most of an email's rendering time); the answer for a name
/// never changes, so it is remembered: a memo of a pure function, not state that decides.
const ZONE_MEMO_SIZE: usize = 16;

thread_local! {
    static ZONES: std::cell::RefCell<Vec<(String, TimeZone)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn lookup(name: &str) -> Option<TimeZone> {
    let found = ZONES.with(|zones| {
        zones
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, tz)| tz.clone())
    });
    if found.is_some() {
        return found;
    }
    let tz = jiff::tz::db().get(name).ok()?;
    ZONES.with(|zones| {
        let mut zones = zones.borrow_mut();
        if zones.len() == ZONE_MEMO_SIZE {
            zones.remove(0);
        }
        zones.push((name.to_owned(), tz.clone()));
    });
    Some(tz)
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            unknown: None,
        }
    }

    /// Looks an IANA name up (case-insensitively). Missing or blank → UTC; unknown → UTC, and
    /// every formatted time says the zone was unknown.
    pub fn named(name: Option<&str>) -> Zone {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return Zone::utc();
        };
        match lookup(name) {
            Some(tz) => Zone { tz, unknown: None },
            None => {
                let shown = truncate_bytes(&single_line(name), MAX_ZONE_NAME_BYTES).0;
                Zone {
                    tz: TimeZone::UTC,
                    unknown: Some(shown),
                }
            }
        }
    }

    /// Whether the name asked for was not found (times are shown in UTC).
    pub fn is_unknown(&self) -> bool {
        self.unknown.is_some()
    }

    /// The canonical IANA name, when the zone is a known named zone.
    pub fn iana_name(&self) -> Option<&str> {
        self.tz.iana_name()
    }

    /// ` (time zone "Mars/Base" unknown)` after a time shown in UTC instead, else nothing.
    fn push_note(&self, out: &mut String) {
        if let Some(name) = &self.unknown {
            out.push_str(" (time zone \"");
            out.push_str(name);
            out.push_str("\" unknown)");
        }
    }

    fn local(&self, ts: Timestamp) -> Local {
        let info = self.tz.to_offset_info(ts);
        Local {
            // `TimeZone::to_datetime` would look the offset up a second time.
            dt: info.offset().to_datetime(ts),
            label: zone_label(info.abbreviation(), info.offset()),
        }
    }
}

/// Parses a Cal.com instant (RFC 3339: `2026-02-17T18:00:00Z`, optional fraction, `Z` or an
/// offset such as `+00:00`). `None` when it does not parse or its year is outside 1970–2200.
///
/// Hand-written rather than jiff's general parser: this is all Cal.com sends, and jiff's
/// parser would add ~50 KB (gzip) to the wasm.
pub fn parse_instant(raw: &str) -> Option<Timestamp> {
    let mut p = Cursor(raw.trim().as_bytes());
    let year = p.digits(4)?;
    p.expect(b"-")?;
    let month = p.digits(2)?;
    p.expect(b"-")?;
    let day = p.digits(2)?;
    p.expect(b"Tt ")?;
    let (hour, minute, second) = p.time_of_day(true)?;
    if p.peek() == Some(b'.') || p.peek() == Some(b',') {
        p.0 = &p.0[1..];
        let n = p.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        p.0 = &p.0[n..];
    }
    let offset_secs = match p.0 {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let mut q = Cursor(rest);
            let hours = q.digits(2)?;
            let minutes = match q.0 {
                [] => 0,
                [b':', ..] => {
                    q.expect(b":")?;
                    q.digits(2)?
                }
                _ => q.digits(2)?,
            };
            if !q.0.is_empty() || hours > 23 || minutes > 59 {
                return None;
            }
            let secs = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let local = unix_seconds(year, month, day, hour, minute, second)?;
    let ts = Timestamp::from_second(local - offset_secs).ok()?;
    // Its UTC year within MIN_YEAR..=MAX_YEAR, compared as seconds: no civil date-time needed.
    let first = unix_seconds(MIN_YEAR.unsigned_abs().into(), 1, 1, 0, 0, 0)?;
    let past_last = unix_seconds(u32::from(MAX_YEAR.unsigned_abs()) + 1, 1, 1, 0, 0, 0)?;
    (first..past_last).contains(&ts.as_second()).then_some(ts)
}

/// Unix seconds of a UTC civil time; `None` when a field is out of range. A leap second (`:60`)
/// reads as the second before it.
pub(crate) fn unix_seconds(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    let secs = hour * 3600 + minute * 60 + second.min(59);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + i64::from(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// A tiny byte cursor for the fixed-shape formats above.
pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

impl Cursor<'_> {
    /// Exactly `n` ASCII digits.
    pub(crate) fn digits(&mut self, n: usize) -> Option<u32> {
        let head = self.0.get(..n)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[n..];
        Some(head.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
    }

    /// One byte out of `options`.
    pub(crate) fn expect(&mut self, options: &[u8]) -> Option<()> {
        let (first, rest) = self.0.split_first()?;
        options.contains(first).then(|| self.0 = rest)
    }

    /// `HH:MM:SS`, or `HH:MM` when `optional_seconds` (seconds 0).
    pub(crate) fn time_of_day(&mut self, optional_seconds: bool) -> Option<(u32, u32, u32)> {
        let hour = self.digits(2)?;
        self.expect(b":")?;
        let minute = self.digits(2)?;
        let second = if optional_seconds && self.peek() != Some(b':') {
            0
        } else {
            self.expect(b":")?;
            self.digits(2)?
        };
        Some((hour, minute, second))
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }
}

/// `Tue 17 Feb 2026, 09:00 AKST`; `raw` as sent when it is not a usable time.
pub fn format_instant(raw: &str, zone: &Zone, clock: Clock) -> String {
    match parse_instant(raw) {
        Some(ts) => {
            let local = zone.local(ts);
            let mut out = String::with_capacity(40);
            push_long_date(&mut out, local.dt);
            out.push_str(", ");
            push_clock_time(&mut out, local.dt, clock);
            out.push(' ');
            out.push_str(&local.label);
            zone.push_note(&mut out);
            out
        }
        None => raw.to_owned(),
    }
}

/// The short form for subjects: `Tue 17 Feb, 09:00 AKST` (no year, no "unknown zone" note: the
/// body has it).
pub fn format_short(raw: &str, zone: &Zone, clock: Clock) -> String {
    match parse_instant(raw) {
        Some(ts) => {
            let local = zone.local(ts);
            let mut out = String::with_capacity(32);
            out.push_str(weekday(local.dt));
            out.push(' ');
            push_int(&mut out, local.dt.day().into(), 1);
            out.push(' ');
            out.push_str(month(local.dt));
            out.push_str(", ");
            push_clock_time(&mut out, local.dt, clock);
            out.push(' ');
            out.push_str(&local.label);
            out
        }
        None => raw.to_owned(),
    }
}

/// A meeting's time span for bodies: `Tue 17 Feb 2026, 09:00–09:30 AKST` on one day;
/// `Sun 8 Mar 2026, 01:30 EST–03:30 EDT` across a clock change; both ends in full across days.
/// A missing or unusable `end` leaves the start alone (an unusable one is appended as sent).
pub fn format_range(start: &str, end: Option<&str>, zone: &Zone, clock: Clock) -> String {
    let Some(start_ts) = parse_instant(start) else {
        return match end {
            Some(end) => format!("{start} – {end}"),
            None => start.to_owned(),
        };
    };
    let Some(end) = end.map(str::trim).filter(|e| !e.is_empty()) else {
        return format_instant(start, zone, clock);
    };
    let Some(end_ts) = parse_instant(end) else {
        return format!("{} – {end}", format_instant(start, zone, clock));
    };
    let (a, b) = (zone.local(start_ts), zone.local(end_ts));
    // Pushed piece by piece rather than through `format!` (a formatter per piece at opt-level
    // "z"); the shapes are in the doc comment above.
    let mut out = String::with_capacity(64);
    push_long_date(&mut out, a.dt);
    out.push_str(", ");
    push_clock_time(&mut out, a.dt, clock);
    if a.dt.date() != b.dt.date() {
        out.push(' ');
        out.push_str(&a.label);
        out.push_str(" – ");
        push_long_date(&mut out, b.dt);
        out.push_str(", ");
    } else if a.label == b.label {
        out.push('–');
    } else {
        out.push(' ');
        out.push_str(&a.label);
        out.push('–');
    }
    push_clock_time(&mut out, b.dt, clock);
    out.push(' ');
    out.push_str(&b.label);
    zone.push_note(&mut out);
    out
}

/// Whole minutes from `start` to `end`, when both parse and `end` is not before `start`.
pub fn minutes_between(start: &str, end: &str) -> Option<u32> {
    let (a, b) = (parse_instant(start)?, parse_instant(end)?);
    let secs = b.as_second().checked_sub(a.as_second())?;
    u32::try_from(secs / 60).ok().filter(|_| secs >= 0)
}

/// `30 min`, `1 h`, `1 h 30 min`, `2 days 1 h`.
pub fn format_duration(minutes: u32) -> String {
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} {}", if days == 1 { "day" } else { "days" }));
    }
    if hours > 0 {
        parts.push(format!("{hours} h"));
    }
    if mins > 0 || parts.is_empty() {
        parts.push(format!("{mins} min"));
    }
    parts.join(" ")
}

struct Local {
    dt: DateTime,
    label: String,
}

/// The zone's abbreviation (`AKST`, `CET`, `IST`), or `UTC+05:30` when the database only has a
/// number for it (`+0530`, `-03`) or nothing.
fn zone_label(abbreviation: &str, offset: Offset) -> String {
    let numeric = abbreviation
        .chars()
        .all(|c| c.is_ascii_digit() || c == '+' || c == '-');
    if !numeric {
        return abbreviation.to_owned();
    }
    let secs = offset.seconds();
    if secs == 0 {
        return "UTC".to_owned();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

fn weekday(dt: DateTime) -> &'static str {
    WEEKDAYS[dt.date().weekday().to_monday_zero_offset() as usize]
}

fn month(dt: DateTime) -> &'static str {
    MONTHS[(dt.month() - 1) as usize]
}

/// `Tue 17 Feb 2026`.
fn push_long_date(out: &mut String, dt: DateTime) {
    out.push_str(weekday(dt));
    out.push(' ');
    push_int(out, dt.day().into(), 1);
    out.push(' ');
    out.push_str(month(dt));
    out.push(' ');
    push_int(out, dt.year().into(), 1);
}

/// `09:05` or `9:05am`.
fn push_clock_time(out: &mut String, dt: DateTime, clock: Clock) {
    let (h, m) = (i32::from(dt.hour()), i32::from(dt.minute()));
    match clock {
        Clock::H24 => push_int(out, h, 2),
        Clock::H12 => push_int(out, if h % 12 == 0 { 12 } else { h % 12 }, 1),
    }
    out.push(':');
    push_int(out, m, 2);
    if clock == Clock::H12 {
        out.push_str(if h < 12 { "am" } else { "pm" });
    }
}

/// `n` in decimal with at least `digits` digits, zero-padded, as `format!("{n:0digits$}")`
/// writes it (a minus sign counts toward the width).
fn push_int(out: &mut String, n: i32, digits: usize) {
    let mut text = [b'0'; 12];
    let mut start = text.len();
    let mut rest = n.unsigned_abs();
    while rest > 0 || start == text.len() {
        start -= 1;
        text[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let sign = usize::from(n < 0);
    start = start.min(text.len().saturating_sub(digits.saturating_sub(sign)));
    if n < 0 {
        start -= 1;
        text[start] = b'-';
    }
    out.push_str(std::str::from_utf8(&text[start..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str, zone: &str) -> String {
        format_instant(raw, &Zone::named(Some(zone)), Clock::H24)
    }

    #[test]
    fn parses_calcom_instant_shapes() {
        for raw in [
            "2026-02-17T18:00:00Z",
            "2026-02-17T18:00:00.000Z",
            "2026-02-17T19:00:00+01:00",
            "2026-02-17T18:00:00+00:00",
            " 2026-02-17T18:00:00Z ",
            "2026-02-17t18:00:00z",
            "2026-02-17 18:00:00Z",
            "2026-02-17T18:00Z",
            "2026-02-17T18:00:00.123456789Z",
            "2026-02-17T13:00:00-05:00",
            "2026-02-17T23:30:00+0530",
            "2026-02-17T20:00:00+02",
        ] {
            let ts = parse_instant(raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(ts.as_second(), 1_771_351_200, "{raw}");
        }
    }

    #[test]
    fn unusable_times_are_shown_as_sent() {
        let zone = Zone::named(Some("Europe/Berlin"));
        for raw in [
            "",
            "tomorrow",
            "2026-02-17",
            "2026-02-17T18:00:00",
            "1969-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "9999-01-01T00:00:00Z",
        ] {
            assert_eq!(format_instant(raw, &zone, Clock::H24), raw);
            assert_eq!(format_short(raw, &zone, Clock::H12), raw);
        }
        assert_eq!(
            format_range("soon", Some("later"), &zone, Clock::H24),
            "soon – later"
        );
        assert_eq!(format_range("soon", None, &zone, Clock::H24), "soon");
        assert_eq!(
            format_range("2026-02-17T18:00:00Z", Some("?"), &zone, Clock::H24),
            "Tue 17 Feb 2026, 19:00 CET – ?"
        );
        assert_eq!(
            parse_instant("1970-01-01T00:00:00Z").map(|t| t.as_second()),
            Some(0)
        );
        // 2024 is a leap year, 2100 is not, 2000 is.
        assert_eq!(
            parse_instant("2024-02-29T00:00:00Z").map(|t| t.as_second()),
            Some(1_709_164_800)
        );
        assert!(parse_instant("2100-02-29T00:00:00Z").is_none());
        assert_eq!(
            parse_instant("2000-02-29T12:00:00Z").map(|t| t.as_second()),
            Some(951_825_600)
        );
        // Near the lower bound an offset decides the year.
        assert!(parse_instant("1970-01-01T00:30:00+01:00").is_none());
        // A leap second reads as :59.
        assert_eq!(
            parse_instant("2016-12-31T23:59:60Z").map(|t| t.as_second()),
            Some(1_483_228_799)
        );
        assert!(parse_instant("2200-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn formats_in_the_zone_with_its_abbreviation() {
        let anchorage = Zone::named(Some("America/Anchorage"));
        assert_eq!(
            format_instant("2026-02-17T18:00:00Z", &anchorage, Clock::H24),
            "Tue 17 Feb 2026, 09:00 AKST"
        );
        assert_eq!(
            format_instant("2026-02-17T18:00:00Z", &anchorage, Clock::H12),
            "Tue 17 Feb 2026, 9:00am AKST"
        );
        assert_eq!(
            format_short("2026-02-17T18:00:00Z", &anchorage, Clock::H24),
            "Tue 17 Feb, 09:00 AKST"
        );
        assert_eq!(
            at("2026-02-17T18:00:00Z", "UTC"),
            "Tue 17 Feb 2026, 18:00 UTC"
        );
        assert_eq!(
            at("2026-02-17T18:00:00Z", "Etc/UTC"),
            "Tue 17 Feb 2026, 18:00 UTC"
        );
        // Lookups ignore ASCII case and accept old link names.
        assert_eq!(
            at("2026-02-17T18:00:00Z", "europe/berlin"),
            "Tue 17 Feb 2026, 19:00 CET"
        );
        assert_eq!(
            at("2026-02-17T18:00:00Z", "Asia/Calcutta"),
            "Tue 17 Feb 2026, 23:30 IST"
        );
    }

    #[test]
    fn new_york_across_both_dst_changes() {
        // 2026: clocks go forward on Sun 8 March, back on Sun 1 November.
        assert_eq!(
            at("2026-03-07T17:00:00Z", "America/New_York"),
            "Sat 7 Mar 2026, 12:00 EST"
        );
        assert_eq!(
            at("2026-03-08T06:59:00Z", "America/New_York"),
            "Sun 8 Mar 2026, 01:59 EST"
        );
        assert_eq!(
            at("2026-03-08T07:00:00Z", "America/New_York"),
            "Sun 8 Mar 2026, 03:00 EDT"
        );
        assert_eq!(
            at("2026-03-09T16:00:00Z", "America/New_York"),
            "Mon 9 Mar 2026, 12:00 EDT"
        );
        assert_eq!(
            at("2026-10-31T16:00:00Z", "America/New_York"),
            "Sat 31 Oct 2026, 12:00 EDT"
        );
        // The repeated hour on 1 November is told apart by its abbreviation.
        assert_eq!(
            at("2026-11-01T05:30:00Z", "America/New_York"),
            "Sun 1 Nov 2026, 01:30 EDT"
        );
        assert_eq!(
            at("2026-11-01T06:30:00Z", "America/New_York"),
            "Sun 1 Nov 2026, 01:30 EST"
        );
        assert_eq!(
            at("2026-11-02T17:00:00Z", "America/New_York"),
            "Mon 2 Nov 2026, 12:00 EST"
        );
    }

    #[test]
    fn berlin_across_dst() {
        assert_eq!(
            at("2026-03-29T00:30:00Z", "Europe/Berlin"),
            "Sun 29 Mar 2026, 01:30 CET"
        );
        assert_eq!(
            at("2026-03-29T01:30:00Z", "Europe/Berlin"),
            "Sun 29 Mar 2026, 03:30 CEST"
        );
        assert_eq!(
            at("2026-10-25T00:30:00Z", "Europe/Berlin"),
            "Sun 25 Oct 2026, 02:30 CEST"
        );
        assert_eq!(
            at("2026-10-25T01:30:00Z", "Europe/Berlin"),
            "Sun 25 Oct 2026, 02:30 CET"
        );
    }

    #[test]
    fn odd_offsets_and_numeric_abbreviations() {
        assert_eq!(
            at("2026-02-17T18:00:00Z", "Asia/Kolkata"),
            "Tue 17 Feb 2026, 23:30 IST"
        );
        // Lord Howe: +11 in the southern summer, +10:30 in winter (a half-hour DST shift).
        assert_eq!(
            at("2026-02-17T18:00:00Z", "Australia/Lord_Howe"),
            "Wed 18 Feb 2026, 05:00 UTC+11:00"
        );
        assert_eq!(
            at("2026-07-17T18:00:00Z", "Australia/Lord_Howe"),
            "Sat 18 Jul 2026, 04:30 UTC+10:30"
        );
        assert_eq!(
            at("2026-02-17T18:00:00Z", "America/Sao_Paulo"),
            "Tue 17 Feb 2026, 15:00 UTC-03:00"
        );
        assert_eq!(
            at("2026-02-17T18:00:00Z", "Asia/Kathmandu"),
            "Tue 17 Feb 2026, 23:45 UTC+05:45"
        );
        assert_eq!(zone_label("+00", Offset::UTC), "UTC");
        assert_eq!(
            zone_label("", Offset::from_seconds(-3 * 3600).unwrap()),
            "UTC-03:00"
        );
    }

    #[test]
    fn unknown_and_missing_zones_fall_back_to_utc() {
        assert_eq!(
            at("2026-02-17T18:00:00Z", "Mars/Olympus"),
            "Tue 17 Feb 2026, 18:00 UTC (time zone \"Mars/Olympus\" unknown)"
        );
        let mars = Zone::named(Some("Mars/Olympus"));
        assert!(mars.is_unknown());
        assert_eq!(
            format_short("2026-02-17T18:00:00Z", &mars, Clock::H24),
            "Tue 17 Feb, 18:00 UTC"
        );
        for missing in [None, Some(""), Some("  ")] {
            let zone = Zone::named(missing);
            assert!(!zone.is_unknown());
            assert_eq!(
                format_instant("2026-02-17T18:00:00Z", &zone, Clock::H24),
                "Tue 17 Feb 2026, 18:00 UTC"
            );
        }
        // A hostile zone name is quoted on one line and short.
        let long = format!("Evil\r\nBcc: x@y/{}", "z".repeat(200));
        let shown = format_instant(
            "2026-02-17T18:00:00Z",
            &Zone::named(Some(&long)),
            Clock::H24,
        );
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.len() < 140, "{shown}");
    }

    #[test]
    fn twelve_hour_clock() {
        let utc = Zone::utc();
        let t = |raw: &str| format_instant(raw, &utc, Clock::H12);
        assert_eq!(t("2026-02-17T00:00:00Z"), "Tue 17 Feb 2026, 12:00am UTC");
        assert_eq!(t("2026-02-17T00:05:00Z"), "Tue 17 Feb 2026, 12:05am UTC");
        assert_eq!(t("2026-02-17T11:59:00Z"), "Tue 17 Feb 2026, 11:59am UTC");
        assert_eq!(t("2026-02-17T12:00:00Z"), "Tue 17 Feb 2026, 12:00pm UTC");
        assert_eq!(t("2026-02-17T13:30:00Z"), "Tue 17 Feb 2026, 1:30pm UTC");
        assert_eq!(Clock::from_time_format(Some("h:mma")), Clock::H12);
        assert_eq!(Clock::from_time_format(Some("HH:mm")), Clock::H24);
        assert_eq!(Clock::from_time_format(None), Clock::H24);
    }

    #[test]
    fn ranges() {
        let ak = Zone::named(Some("America/Anchorage"));
        let (s, e) = ("2026-02-17T18:00:00Z", "2026-02-17T18:30:00Z");
        assert_eq!(
            format_range(s, Some(e), &ak, Clock::H24),
            "Tue 17 Feb 2026, 09:00–09:30 AKST"
        );
        assert_eq!(
            format_range(s, Some(e), &ak, Clock::H12),
            "Tue 17 Feb 2026, 9:00am–9:30am AKST"
        );
        assert_eq!(
            format_range(s, None, &ak, Clock::H24),
            "Tue 17 Feb 2026, 09:00 AKST"
        );
        assert_eq!(
            format_range(s, Some(" "), &ak, Clock::H24),
            "Tue 17 Feb 2026, 09:00 AKST"
        );
        // Across midnight: both ends in full.
        let berlin = Zone::named(Some("Europe/Berlin"));
        assert_eq!(
            format_range(
                "2026-02-17T22:30:00Z",
                Some("2026-02-17T23:30:00Z"),
                &berlin,
                Clock::H24
            ),
            "Tue 17 Feb 2026, 23:30 CET – Wed 18 Feb 2026, 00:30 CET"
        );
        // Across a clock change: each end keeps its abbreviation.
        let ny = Zone::named(Some("America/New_York"));
        assert_eq!(
            format_range(
                "2026-03-08T06:30:00Z",
                Some("2026-03-08T07:30:00Z"),
                &ny,
                Clock::H24
            ),
            "Sun 8 Mar 2026, 01:30 EST–03:30 EDT"
        );
        let mars = Zone::named(Some("Mars/Olympus"));
        assert_eq!(
            format_range(s, Some(e), &mars, Clock::H24),
            "Tue 17 Feb 2026, 18:00–18:30 UTC (time zone \"Mars/Olympus\" unknown)"
        );
    }

    #[test]
    fn the_year_range_is_checked_in_utc_at_its_edges() {
        for (raw, kept) in [
            ("1969-12-31T23:59:59Z", false),
            ("1970-01-01T00:00:00Z", true),
            ("1970-01-01T00:30:00+01:00", false),
            ("1969-12-31T23:30:00-01:00", true),
            ("2200-12-31T23:59:59Z", true),
            ("2201-01-01T00:00:00Z", false),
            ("2201-01-01T00:30:00+01:00", true),
            ("2200-12-31T23:30:00-01:00", false),
        ] {
            let ts = parse_instant(raw);
            assert_eq!(ts.is_some(), kept, "{raw}");
            if let Some(ts) = ts {
                let year = TimeZone::UTC.to_datetime(ts).year();
                assert!((MIN_YEAR..=MAX_YEAR).contains(&year), "{raw}");
            }
        }
    }

    #[test]
    fn integers_are_padded_as_format_pads_them() {
        for n in [
            i32::MIN,
            -10_000,
            -123,
            -5,
            0,
            3,
            9,
            10,
            59,
            99,
            100,
            2026,
            i32::MAX,
        ] {
            for digits in 0..6 {
                let mut out = String::new();
                push_int(&mut out, n, digits);
                assert_eq!(out, format!("{n:0digits$}"), "{n} in {digits}");
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            minutes_between("2026-02-17T18:00:00Z", "2026-02-17T18:30:00Z"),
            Some(30)
        );
        assert_eq!(
            minutes_between("2026-02-17T18:00:00Z", "2026-02-17T19:00:00+01:00"),
            Some(0)
        );
        assert_eq!(
            minutes_between("2026-02-17T18:30:00Z", "2026-02-17T18:00:00Z"),
            None
        );
        assert_eq!(minutes_between("x", "2026-02-17T18:00:00Z"), None);
        assert_eq!(format_duration(0), "0 min");
        assert_eq!(format_duration(30), "30 min");
        assert_eq!(format_duration(60), "1 h");
        assert_eq!(format_duration(90), "1 h 30 min");
        assert_eq!(format_duration(1440), "1 day");
        assert_eq!(format_duration(2 * 1440 + 61), "2 days 1 h 1 min");
    }
}
