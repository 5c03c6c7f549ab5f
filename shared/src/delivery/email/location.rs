//! Cal.com's internal location values as people read them. A raw `integrations:…` value is never
//! shown to a human.

/// A location for the email: a label, and the link to show after it when the location is a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub label: String,
    /// An `http(s)://` URL (the only kind that becomes a link).
    pub url: Option<String>,
}

impl Location {
    fn text(label: impl Into<String>) -> Location {
        Location {
            label: label.into(),
            url: None,
        }
    }
}

/// Describes Cal.com's `location` value. `None` for a blank one.
pub fn describe(raw: &str) -> Option<Location> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(app) = strip_prefix_ignore_case(raw, "integrations:") {
        return Some(Location::text(integration_name(app)));
    }
    if is_http_url(raw) {
        return Some(Location {
            label: "Link".to_owned(),
            url: Some(raw.to_owned()),
        });
    }
    let internal = match raw {
        "phone" => Some("Phone call (attendee's number)"),
        "userPhone" => Some("Phone call (organizer's number)"),
        "attendeeInPerson" => Some("In person (attendee's address)"),
        "inPerson" => Some("In person"),
        "link" => Some("Link (see the booking in Cal.com)"),
        "somewhereElse" => Some("Somewhere else (see the booking in Cal.com)"),
        "conferencing" => Some("Video call"),
        _ => None,
    };
    if let Some(label) = internal {
        return Some(Location::text(label));
    }
    let number = strip_prefix_ignore_case(raw, "tel:").unwrap_or(raw);
    if looks_like_phone(number) {
        return Some(Location::text(["Phone: ", number].concat()));
    }
    Some(Location::text(["In person: ", raw].concat()))
}

/// Whether `s` is an absolute `http://` or `https://` URL with something after the scheme and no
/// white space or control characters: the only values the HTML part turns into links.
pub fn is_http_url(s: &str) -> bool {
    let rest =
        strip_prefix_ignore_case(s, "https://").or_else(|| strip_prefix_ignore_case(s, "http://"));
    match rest {
        // Printable ASCII throughout, the usual URL, has neither: one pass over the bytes.
        Some(rest) => {
            !rest.is_empty()
                && (s.bytes().all(|b| b.is_ascii_graphic())
                    || !s.chars().any(|c| c.is_whitespace() || c.is_control()))
        }
        None => false,
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `daily` → Cal Video, `google:meet` → Google Meet, `zoom` → Zoom, `office365_video` →
/// Microsoft Teams; any other app by its title-cased name (`whereby_video` → Whereby).
fn integration_name(app: &str) -> String {
    let app = app.trim().to_ascii_lowercase();
    let known = if app == "daily" || app.starts_with("daily_") || app.starts_with("daily:") {
        Some("Cal Video")
    } else if app.starts_with("google") && (app.contains("meet") || app.contains("video")) {
        Some("Google Meet")
    } else if app.starts_with("zoom") {
        Some("Zoom")
    } else if app.starts_with("office365") || app.contains("teams") {
        Some("Microsoft Teams")
    } else {
        None
    };
    if let Some(name) = known {
        return name.to_owned();
    }
    let mut words: Vec<String> = app
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(title_case)
        .collect();
    // `whereby_video` is "Whereby": the suffix names the app's category, not the app.
    if words.len() > 1
        && matches!(
            words.last().map(String::as_str),
            Some("Video" | "Conferencing")
        )
    {
        words.pop();
    }
    if words.is_empty() {
        return "Video call".to_owned();
    }
    words.join(" ")
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `+45 20 12 34 56`, `(907) 555-0142`, `+1.907.555.0142`: digits with the usual separators,
/// at least 6 digits.
fn looks_like_phone(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    s.len() <= 40
        && (6..=20).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(raw: &str) -> String {
        describe(raw).map(|l| l.label).unwrap_or_default()
    }

    #[test]
    fn integrations_get_human_names() {
        assert_eq!(label("integrations:daily"), "Cal Video");
        assert_eq!(label("integrations:google:meet"), "Google Meet");
        assert_eq!(label("integrations:google_video"), "Google Meet");
        assert_eq!(label("integrations:zoom"), "Zoom");
        assert_eq!(label("integrations:zoom_video"), "Zoom");
        assert_eq!(label("integrations:office365_video"), "Microsoft Teams");
        assert_eq!(label("integrations:whereby_video"), "Whereby");
        assert_eq!(label("integrations:jitsi"), "Jitsi");
        assert_eq!(label("integrations:around_video"), "Around");
        assert_eq!(label("integrations:ms_teams"), "Microsoft Teams");
        assert_eq!(label("integrations:"), "Video call");
        assert_eq!(label("Integrations:Huddle01"), "Huddle01");
        for raw in [
            "integrations:daily",
            "integrations:foo_bar",
            "integrations:",
        ] {
            assert!(!label(raw).contains("integrations"), "{raw}");
        }
    }

    #[test]
    fn urls_are_links() {
        let l = describe("https://zoom.us/j/123456789").unwrap();
        assert_eq!(
            l,
            Location {
                label: "Link".into(),
                url: Some("https://zoom.us/j/123456789".into())
            }
        );
        assert_eq!(
            describe("HTTP://example.com/x").unwrap().url.as_deref(),
            Some("HTTP://example.com/x")
        );
        // Not http(s): never a link.
        assert_eq!(describe("javascript:alert(1)").unwrap().url, None);
        assert_eq!(describe("https://").unwrap().url, None);
        assert!(!is_http_url("https://a b"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(is_http_url("https://meet.google.com/abc-defg-hij"));
    }

    #[test]
    fn phones_internal_values_and_addresses() {
        assert_eq!(label("+45 20 12 34 56"), "Phone: +45 20 12 34 56");
        assert_eq!(label("(907) 555-0142"), "Phone: (907) 555-0142");
        assert_eq!(label("tel:+19075550142"), "Phone: +19075550142");
        assert_eq!(label("phone"), "Phone call (attendee's number)");
        assert_eq!(label("userPhone"), "Phone call (organizer's number)");
        assert_eq!(label("attendeeInPerson"), "In person (attendee's address)");
        assert_eq!(label("inPerson"), "In person");
        assert_eq!(
            label("Room 4, 12 Harbour Street, Anchorage"),
            "In person: Room 4, 12 Harbour Street, Anchorage"
        );
        assert_eq!(label("12"), "In person: 12");
        assert_eq!(describe("  "), None);
    }
}
