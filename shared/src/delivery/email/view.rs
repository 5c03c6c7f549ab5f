//! What the templates show, computed once from the message: every value formatted, labelled and
//! cleaned here, so the templates only lay it out (and escape it, in the HTML part).

use crate::contract::message::{BookingMessage, BookingTrigger, Person};
use crate::delivery::when::{self, Clock, Zone};
use crate::text::single_line;

use super::links::Links;
use super::location;

/// Longest event name and person name in a subject (characters), and the whole subject.
const SUBJECT_EVENT_CHARS: usize = 90;
const SUBJECT_PERSON_CHARS: usize = 60;
pub(crate) const MAX_SUBJECT_CHARS: usize = 200;

/// An answer longer than this is shown as a block under its label in the text part.
const INLINE_ANSWER_CHARS: usize = 60;

pub(crate) struct View {
    pub subject: String,
    /// The booking's own title as Cal.com sent it, one line ("Manuscript review: Alex Student").
    pub title: Option<String>,
    /// Colour of the kind (top border, kicker).
    pub accent: &'static str,
    /// Event name: event type, else title, else "Booking".
    pub event: String,
    /// The booker as a person reads them: name, else email, else phone; "No attendee" without one.
    pub who: String,
    pub has_attendee: bool,
    /// The organizer as a sentence names them: name, else email, else "the organizer".
    pub organizer_name: String,
    /// The booking's time in the organizer's zone (the new time, when rescheduled).
    pub when: String,
    /// Whether the booking has a start time at all (else `when` says "(no time given)").
    pub has_time: bool,
    /// Rescheduled: the old time, in the organizer's zone.
    pub previous_when: Option<String>,
    /// Who rescheduled or cancelled, as a sentence names them.
    pub actor: Option<String>,
    /// The booker rescheduled or cancelled themselves.
    pub actor_is_booker: bool,
    /// Cancelled: the reason given.
    pub reason: Option<String>,
    /// Cancelled as a request to reschedule.
    pub reschedule_requested: bool,
    /// The details table.
    pub rows: Vec<Row>,
    pub notes: Option<String>,
    /// "Notes from Alex Student", or "Notes" without a booker.
    pub notes_title: String,
    pub answers: Vec<AnswerView>,
    pub truncated: bool,
    /// The booker, when replying to the email can reach them.
    pub reply_to: Option<Person>,
    /// Links to the booking in Cal.com, as far as they are allowed.
    pub links: Links,
    /// What the attached invitation does, when there is one (a readable start time).
    pub calendar_note: Option<&'static str>,
}

/// One line of the details table: `Label: text [link]`. Continuation lines have an empty label.
pub(crate) struct Row {
    pub label: &'static str,
    /// The label with its colon, padded so the text part's values line up.
    pub padded: String,
    pub text: String,
    /// An `http(s)` URL shown after the text (a link in HTML, the URL itself in text).
    pub href: Option<String>,
}

impl Row {
    /// The whole value for the text part.
    pub fn plain(&self) -> String {
        match (&self.href, self.text.is_empty()) {
            (Some(href), true) => href.clone(),
            (Some(href), false) => [self.text.as_str(), " ", href].concat(),
            (None, _) => self.text.clone(),
        }
    }
}

pub(crate) struct AnswerView {
    pub label: String,
    pub value: String,
    /// Shown as a block under the label in the text part.
    pub block: bool,
}

impl AnswerView {
    /// The label with a colon, unless it already ends in punctuation ("What brings you here?").
    pub fn text_label(&self) -> String {
        if self.label.ends_with(['?', ':', '.', '!']) {
            self.label.clone()
        } else {
            [self.label.as_str(), ":"].concat()
        }
    }
}

impl View {
    pub fn build(message: &BookingMessage) -> View {
        let b = &message.booking;
        let zone = Zone::named(b.organizer.time_zone.as_deref());
        let clock = Clock::from_time_format(b.time_format.as_deref());
        let range = |start: Option<&str>, end: Option<&str>, zone: &Zone| {
            start.map(|s| when::format_range(s, end, zone, clock))
        };

        let event = b
            .event_type
            .as_deref()
            .or(b.title.as_deref())
            .map(single_line)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "Booking".to_owned());
        let booker = b.booker.as_ref();
        let who = booker.map_or_else(
            || "No attendee".to_owned(),
            |p| person_name(p).unwrap_or_else(|| "The attendee".to_owned()),
        );
        let organizer_name =
            person_name(&b.organizer).unwrap_or_else(|| "the organizer".to_owned());
        let when = range(b.start.as_deref(), b.end.as_deref(), &zone)
            .unwrap_or_else(|| "(no time given)".to_owned());
        let previous_when = b
            .rescheduled_from
            .as_ref()
            .and_then(|p| range(p.start.as_deref(), p.end.as_deref(), &zone));
        let actor = Actor::of(message);
        let reason = b
            .cancellation
            .as_ref()
            .and_then(|c| c.reason.as_deref())
            .map(block_text)
            .filter(|r| !r.is_empty());
        let title = b
            .title
            .as_deref()
            .map(single_line)
            .filter(|t| !t.is_empty());
        let rows = detail_rows(
            message,
            title.as_deref(),
            &who,
            &when,
            clock,
            actor.long.as_deref(),
        );

        let notes_title = if booker.is_some() {
            ["Notes from ", who.as_str()].concat()
        } else {
            "Notes".to_owned()
        };
        let subject_title = title
            .as_deref()
            .filter(|t| title_is_news(message, t, &event));
        View {
            subject: subject(message, &event, subject_title, &zone, clock),
            title,
            accent: accent(message.trigger),
            event,
            has_attendee: booker.is_some(),
            who,
            organizer_name,
            has_time: b.start.is_some(),
            when,
            previous_when,
            actor: actor.short,
            actor_is_booker: actor.is_booker,
            reason,
            reschedule_requested: b
                .cancellation
                .as_ref()
                .is_some_and(|c| c.reschedule_requested),
            rows,
            notes_title,
            notes: b.notes.as_deref().map(block_text).filter(|n| !n.is_empty()),
            answers: answers(message),
            truncated: b.truncated,
            reply_to: reply_to(booker),
            links: Links::of(message),
            calendar_note: b
                .start
                .as_deref()
                .and_then(when::parse_instant)
                .map(|_| calendar_note(message.trigger)),
        }
    }
}

fn calendar_note(trigger: BookingTrigger) -> &'static str {
    match trigger {
        BookingTrigger::BookingCreated => {
            "The attached invitation (invite.ics) puts this booking in your calendar."
        }
        BookingTrigger::BookingRescheduled => {
            "The attached invitation (invite.ics) moves this booking in your calendar."
        }
        BookingTrigger::BookingRequested => {
            "The attached invitation (invite.ics) puts this booking in your calendar as tentative."
        }
        BookingTrigger::BookingCancelled => {
            "The attached cancellation (cancel.ics) takes this booking out of your calendar."
        }
    }
}

/// Whether the title says more than the event type's name: it is not that name, nor Cal.com's
/// default English title "{event type} between {organizer} and {attendee}" (compared without
/// ASCII case and extra white space). The host is the organizer's or the team's name when either
/// is known; the attendee is not compared: Cal.com names whoever booked first, and a delivery
/// may come without attendees.
fn title_is_news(message: &BookingMessage, title: &str, event: &str) -> bool {
    let b = &message.booking;
    // ASCII case only: `str::to_lowercase` would link Unicode's case tables into the worker.
    let norm = |s: &str| single_line(s).to_ascii_lowercase();
    let title = norm(title);
    if title == norm(event) {
        return false;
    }
    let Some(event_type) = b.event_type.as_deref().map(norm) else {
        return true;
    };
    if title == event_type {
        return false;
    }
    let Some(rest) = title
        .strip_prefix(event_type.as_str())
        .and_then(|rest| rest.strip_prefix(" between "))
    else {
        return true;
    };
    let hosts: Vec<String> = [b.organizer.name.as_deref(), b.team.as_deref()]
        .into_iter()
        .flatten()
        .map(norm)
        .filter(|h| !h.is_empty())
        .collect();
    let is_default = if hosts.is_empty() {
        rest.contains(" and ")
    } else {
        hosts.iter().any(|h| {
            rest.strip_prefix(h.as_str())
                .is_some_and(|rest| rest.starts_with(" and "))
        })
    };
    !is_default
}

/// Who rescheduled or cancelled the booking, when Cal.com says.
struct Actor {
    /// As a sentence names them.
    short: Option<String>,
    /// As the details table shows them.
    long: Option<String>,
    /// The booker did it themselves.
    is_booker: bool,
}

impl Actor {
    fn of(message: &BookingMessage) -> Actor {
        let b = &message.booking;
        let booker = b.booker.as_ref();
        let raw = match message.trigger {
            BookingTrigger::BookingRescheduled => b.rescheduled_by.as_deref(),
            BookingTrigger::BookingCancelled => b
                .cancellation
                .as_ref()
                .and_then(|c| c.cancelled_by.as_deref()),
            _ => None,
        };
        let (short, long) = raw
            .map(|raw| describe_actor(raw, booker, &b.organizer))
            .unzip();
        let is_booker = raw.is_some_and(|raw| {
            booker
                .and_then(|p| p.email.as_deref())
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(&single_line(raw)))
        });
        Actor {
            short,
            long,
            is_booker,
        }
    }
}

/// The details table: the title, time and attendee, place, then the other people and the
/// booking ids.
fn detail_rows(
    message: &BookingMessage,
    title: Option<&str>,
    who: &str,
    when: &str,
    clock: Clock,
    actor_long: Option<&str>,
) -> Vec<Row> {
    let mut rows = Rows::default();
    if let Some(title) = title {
        rows.push("Title", title);
    }
    time_and_attendee_rows(&mut rows, message, who, when, clock);
    place_rows(&mut rows, message);
    people_and_id_rows(&mut rows, message, actor_long);
    rows.finish()
}

/// When (also in the attendee's zone, when it differs), how long, and the attendee.
fn time_and_attendee_rows(
    rows: &mut Rows,
    message: &BookingMessage,
    who: &str,
    when: &str,
    clock: Clock,
) {
    let b = &message.booking;
    let booker = b.booker.as_ref();
    rows.push("When", when);
    // The attendee's own time, when their zone shows a different clock.
    if let (Some(tz), Some(start)) = (
        booker.and_then(|p| p.time_zone.as_deref()),
        b.start.as_deref(),
    ) {
        if when::parse_instant(start).is_some() {
            let theirs = when::format_range(start, b.end.as_deref(), &Zone::named(Some(tz)), clock);
            if theirs != when {
                rows.push("Attendee time", &theirs);
            }
        }
    }
    let minutes = b
        .length_minutes
        .or_else(|| when::minutes_between(b.start.as_deref()?, b.end.as_deref()?));
    if let Some(minutes) = minutes {
        rows.push("Duration", &when::format_duration(minutes));
    }
    match booker {
        Some(p) => {
            rows.push("Attendee", who);
            if let Some(email) = p
                .email
                .as_deref()
                .filter(|e| person_name(p).as_deref() != Some(*e))
            {
                rows.push("Email", email);
            }
            if let Some(phone) = &p.phone {
                rows.push("Phone", phone);
            }
        }
        None => rows.push(
            "Attendee",
            "None: Cal.com sent no attendee for this booking",
        ),
    }
}

/// The location, and the meeting link when it is not the location itself.
fn place_rows(rows: &mut Rows, message: &BookingMessage) {
    let b = &message.booking;
    if let Some(place) = b.location.as_deref().and_then(location::describe) {
        match place.url {
            Some(url) => rows.link("Location", &[place.label.as_str(), ":"].concat(), url),
            None => rows.push("Location", &place.label),
        }
    }
    let location_url = b
        .location
        .as_deref()
        .map(str::trim)
        .filter(|l| location::is_http_url(l));
    if let Some(url) = b
        .meeting_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty() && Some(*u) != location_url)
    {
        if location::is_http_url(url) {
            rows.link("Meeting link", "", url.to_owned());
        } else {
            rows.push("Meeting link", url);
        }
    }
}

/// Guests (or other seats), organizer, team, who rescheduled or cancelled, and the booking ids.
fn people_and_id_rows(rows: &mut Rows, message: &BookingMessage, actor_long: Option<&str>) {
    let b = &message.booking;
    let guests: Vec<String> = b.guests.iter().filter_map(mailbox_text).collect();
    let guests_label = if b.seated { "Other seats" } else { "Guests" };
    for (i, guest) in guests.iter().enumerate() {
        rows.push(if i == 0 { guests_label } else { "" }, guest);
    }
    if b.guests_omitted > 0 {
        let more = format!("and {} more", b.guests_omitted);
        rows.push(if guests.is_empty() { guests_label } else { "" }, &more);
    }
    let organizer = mailbox_text(&b.organizer).unwrap_or_default();
    if !organizer.is_empty() {
        rows.push("Organizer", &organizer);
    }
    if let Some(team) = &b.team {
        rows.push("Team", team);
    }
    if let Some(actor) = actor_long {
        let label = if message.trigger == BookingTrigger::BookingCancelled {
            "Cancelled by"
        } else {
            "Rescheduled by"
        };
        rows.push(label, actor);
    }
    rows.push("Booking", &b.uid);
    if let Some(old_uid) = b.rescheduled_from.as_ref().and_then(|p| p.uid.as_deref()) {
        rows.push("Previous booking", old_uid);
    }
}

/// The form's answers that have a value, labelled for people; long or multi-line ones as blocks.
fn answers(message: &BookingMessage) -> Vec<AnswerView> {
    message
        .booking
        .answers
        .iter()
        .map(|a| {
            let value = block_text(&a.value);
            let block = value.contains('\n') || value.chars().count() > INLINE_ANSWER_CHARS;
            AnswerView {
                label: humanize_label(&a.label),
                value,
                block,
            }
        })
        .filter(|a| !a.value.is_empty())
        .collect()
}

/// The booker, when they have a usable email address.
fn reply_to(booker: Option<&Person>) -> Option<Person> {
    booker
        .filter(|p| {
            p.email
                .as_deref()
                .is_some_and(crate::delivery::sendgrid::is_plausible_email)
        })
        .cloned()
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn push(&mut self, label: &'static str, text: &str) {
        self.0.push(Row {
            label,
            padded: String::new(),
            text: single_line(text),
            href: None,
        });
    }

    fn link(&mut self, label: &'static str, text: &str, href: String) {
        self.0.push(Row {
            label,
            padded: String::new(),
            text: single_line(text),
            href: Some(href),
        });
    }

    fn finish(mut self) -> Vec<Row> {
        let width = self.0.iter().map(|r| r.label.len()).max().unwrap_or(0) + 2;
        for row in &mut self.0 {
            // As `format!("{label:<width$}")` pads (labels are ASCII), without its formatter.
            let mut padded = String::with_capacity(width);
            if !row.label.is_empty() {
                padded.push_str(row.label);
                padded.push(':');
            }
            let pad = width.saturating_sub(padded.chars().count());
            padded.extend(std::iter::repeat_n(' ', pad));
            row.padded = padded;
        }
        self.0
    }
}

/// `New booking: 30 Min Consultation with Alex Student — Tue 17 Feb, 09:00 AKST`, one line, at
/// most [`MAX_SUBJECT_CHARS`] characters. A title that says more than the event type leads:
/// `New booking: Manuscript review: Alex (Editing with Alex Student) — …`.
fn subject(
    message: &BookingMessage,
    event: &str,
    title: Option<&str>,
    zone: &Zone,
    clock: Clock,
) -> String {
    let b = &message.booking;
    let prefix = match message.trigger {
        BookingTrigger::BookingCreated => "New booking",
        BookingTrigger::BookingRescheduled => "Rescheduled",
        BookingTrigger::BookingCancelled => "Cancelled",
        BookingTrigger::BookingRequested => "Needs confirmation",
    };
    let event_chars = if title.is_some() {
        SUBJECT_EVENT_CHARS / 2
    } else {
        SUBJECT_EVENT_CHARS
    };
    let event = cap_chars(event, event_chars);
    let about = match &b.booker {
        Some(p) => {
            let person = person_name(p).unwrap_or_else(|| "(unnamed attendee)".to_owned());
            [&event, " with ", &cap_chars(&person, SUBJECT_PERSON_CHARS)].concat()
        }
        None if title.is_some() => [&event, ", no attendee"].concat(),
        None => [&event, " (no attendee)"].concat(),
    };
    let head = match title {
        Some(title) => [
            prefix,
            ": ",
            &cap_chars(title, SUBJECT_EVENT_CHARS),
            " (",
            &about,
            ")",
        ]
        .concat(),
        None => [prefix, ": ", &about].concat(),
    };
    // The time goes last and always fits: the head is cut to what it leaves.
    let tail = b.start.as_deref().map_or_else(String::new, |start| {
        let short = when::format_short(start, zone, clock);
        [" — ", &single_line(&cap_chars(&short, 60))].concat()
    });
    let head = cap_chars(
        &single_line(&head),
        MAX_SUBJECT_CHARS - tail.chars().count(),
    );
    head + &tail
}

fn accent(trigger: BookingTrigger) -> &'static str {
    match trigger {
        BookingTrigger::BookingCreated => "#1a7f37",
        BookingTrigger::BookingRescheduled => "#0969da",
        BookingTrigger::BookingCancelled => "#cf222e",
        BookingTrigger::BookingRequested => "#9a6700",
    }
}

/// Name, else email, else phone.
fn person_name(p: &Person) -> Option<String> {
    [&p.name, &p.email, &p.phone]
        .into_iter()
        .flatten()
        .map(|s| single_line(s))
        .find(|s| !s.is_empty())
}

/// `Name <email>`, or whichever of them (or the phone) is there.
fn mailbox_text(p: &Person) -> Option<String> {
    let name = p.name.as_deref().map(single_line).filter(|n| !n.is_empty());
    let email = p
        .email
        .as_deref()
        .map(single_line)
        .filter(|e| !e.is_empty());
    match (name, email) {
        (Some(n), Some(e)) if n != e => Some([&n, " <", &e, ">"].concat()),
        (Some(n), _) => Some(n),
        (None, Some(e)) => Some(e),
        (None, None) => p
            .phone
            .as_deref()
            .map(single_line)
            .filter(|s| !s.is_empty()),
    }
}

/// Cal.com names who rescheduled or cancelled by email: say who that is when we know them.
/// Returns the short form for sentences ("Alex Student") and the long one for the details table
/// ("Alex Student (attendee)").
fn describe_actor(raw: &str, booker: Option<&Person>, organizer: &Person) -> (String, String) {
    let raw = single_line(raw);
    let is = |p: &Person| {
        p.email
            .as_deref()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case(&raw))
    };
    let role = match booker {
        Some(p) if is(p) => Some((p, "attendee")),
        _ if is(organizer) => Some((organizer, "organizer")),
        _ => None,
    };
    match role {
        Some((p, role)) => match p.name.as_deref().map(single_line).filter(|n| !n.is_empty()) {
            Some(name) => (name.clone(), [&name, " (", role, ")"].concat()),
            None => (["the ", role].concat(), [&raw, " (", role, ")"].concat()),
        },
        None => (raw.clone(), raw),
    }
}

/// Cal.com sends some labels as translation keys (`reason_for_reschedule`): make those read as
/// words. Labels people typed are kept.
fn humanize_label(label: &str) -> String {
    let label = single_line(label);
    let is_key = label.contains('_')
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !is_key {
        return label;
    }
    let words = label
        .split('_')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => label,
    }
}

/// Free text (notes, answers, reasons): line breaks kept as `\n`, other control characters
/// dropped, blank ends trimmed.
fn block_text(s: &str) -> String {
    // One pass, copying the text between changes in pieces: everything changed is ASCII or a C1
    // control (U+0080–U+009F, `C2 80` to `C2 9F` in UTF-8), so pieces end between characters.
    // The same as replacing CRLF, then CR, by LF and dropping the other controls (tests).
    // The bytes the match below looks at; everything else is skipped by one table lookup.
    const SPECIAL: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = b != b'\n' as usize && b != b'\t' as usize;
            b += 1;
        }
        table[0x7f] = true;
        table[0xc2] = true;
        table
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        if !SPECIAL[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        let (kept, len) = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => ("\n", 2),
            b'\r' => ("\n", 1),
            b'\n' | b'\t' => {
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
        out.push_str(&s[run..i]);
        out.push_str(kept);
        i += len;
        run = i;
    }
    out.push_str(&s[run..]);
    match out.trim() {
        trimmed if trimmed.len() == out.len() => out,
        trimmed => trimmed.to_owned(),
    }
}

/// At most `max` characters, the last one an ellipsis when cut.
pub(crate) fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_text_cleaning() {
        assert_eq!(
            humanize_label("reason_for_reschedule"),
            "Reason for reschedule"
        );
        assert_eq!(humanize_label("Company or school"), "Company or school");
        assert_eq!(humanize_label("Topics"), "Topics");
        assert_eq!(block_text("  a\r\nb\rc\u{7}\n "), "a\nb\nc");
        assert_eq!(cap_chars("Søren Ølgaard", 5), "Søre…");
        assert_eq!(cap_chars("abc", 3), "abc");
    }

    /// Every string of up to four characters from an alphabet of each kind `chars` tells apart.
    fn short_strings(alphabet: &[char]) -> Vec<String> {
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(longer);
        }
        strings
    }

    #[test]
    fn block_text_in_one_pass_as_in_three() {
        let oracle = |s: &str| {
            let unified = s.replace("\r\n", "\n").replace('\r', "\n");
            let cleaned: String = unified
                .chars()
                .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
                .collect();
            cleaned.trim().to_owned()
        };
        let alphabet = [
            'a', ' ', '\r', '\n', '\t', '\u{0}', '\u{7f}', '\u{85}', '\u{9f}', '\u{a0}', 'é',
            '\u{3000}',
        ];
        for s in short_strings(&alphabet) {
            assert_eq!(block_text(&s), oracle(&s), "{s:?}");
        }
    }

    #[test]
    fn actors_are_named_when_known() {
        let booker = Person {
            name: Some("Alex".into()),
            email: Some("alex@example.org".into()),
            ..Default::default()
        };
        let host = Person {
            name: Some("Cal Host".into()),
            email: Some("host@example.com".into()),
            ..Default::default()
        };
        let actor = |raw: &str, host: &Person| describe_actor(raw, Some(&booker), host);
        assert_eq!(
            actor("ALEX@example.org", &host),
            ("Alex".into(), "Alex (attendee)".into())
        );
        assert_eq!(
            actor("host@example.com", &host),
            ("Cal Host".into(), "Cal Host (organizer)".into())
        );
        assert_eq!(
            actor("ops@example.com", &host),
            ("ops@example.com".into(), "ops@example.com".into())
        );
        let nameless = Person {
            email: Some("host@example.com".into()),
            ..Default::default()
        };
        assert_eq!(
            actor("host@example.com", &nameless),
            (
                "the organizer".into(),
                "host@example.com (organizer)".into()
            )
        );
    }
}
