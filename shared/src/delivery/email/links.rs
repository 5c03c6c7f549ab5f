//! Links to act on the booking, built from Cal.com's `bookerUrl` and the booking uid: the pages
//! Cal.com itself links to from its emails.
//!
//! - the booking page `{bookerUrl}/booking/{uid}`, always;
//! - reschedule `{bookerUrl}/reschedule/{uid}` and cancel `{bookerUrl}/booking/{uid}?cancel=true`,
//!   unless the event type disables them (`disableRescheduling` / `disableCancelling`) or the
//!   booking is already cancelled;
//! - for a booking that needs confirmation, the host's list of unconfirmed bookings
//!   `{bookerUrl}/bookings/unconfirmed`.
//!
//! No link at all without a usable `bookerUrl`: an absolute `http(s)` URL with a host and no
//! query, fragment, white space, quotes or angle brackets. The uid is percent-encoded as a path
//! segment. The HTML part escapes the links like any other text.

use crate::contract::message::{BookingMessage, BookingTrigger};

/// The links one email shows; `None` for each that is not allowed or not possible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    pub booking: Option<String>,
    pub reschedule: Option<String>,
    pub cancel: Option<String>,
    pub confirm: Option<String>,
}

impl Links {
    pub fn of(message: &BookingMessage) -> Links {
        let b = &message.booking;
        let Some(base) = b.booker_url.as_deref().and_then(base_url) else {
            return Links::default();
        };
        let uid = path_segment(b.uid.trim());
        if uid.is_empty() {
            return Links::default();
        }
        let booking = [&base, "/booking/", &uid].concat();
        let cancelled = message.trigger == BookingTrigger::BookingCancelled;
        Links {
            reschedule: (!cancelled && !b.disable_rescheduling)
                .then(|| [&base, "/reschedule/", &uid].concat()),
            cancel: (!cancelled && !b.disable_cancelling)
                .then(|| [&booking, "?cancel=true"].concat()),
            confirm: (message.trigger == BookingTrigger::BookingRequested)
                .then(|| [&base, "/bookings/unconfirmed"].concat()),
            booking: Some(booking),
        }
    }
}

/// `bookerUrl` without trailing slashes, when it is a usable `http(s)` base.
pub fn base_url(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('/');
    let scheme_len = if raw.get(..8)?.eq_ignore_ascii_case("https://") {
        8
    } else if raw.get(..7)?.eq_ignore_ascii_case("http://") {
        7
    } else {
        return None;
    };
    let rest = &raw[scheme_len..];
    let ok = !rest.is_empty()
        && !rest.starts_with('/')
        && rest.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(
                    c,
                    '?' | '#' | '"' | '\'' | '<' | '>' | '\\' | '`' | '{' | '}' | '|' | '^'
                )
        });
    ok.then(|| raw.to_owned())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn path_segment(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    // Unreserved (ASCII) runs are copied whole. A run is never empty when pushed, so it starts
    // after an encoded character's last byte and ends before an ASCII byte or a character's
    // first: always between characters.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            continue;
        }
        if run < i {
            out.push_str(&s[run..i]);
        }
        run = i + 1;
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out.push_str(&s[run..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::message::fixtures::booking_created;

    #[test]
    fn path_segments_are_encoded_byte_by_byte() {
        let oracle = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        for s in [
            "",
            "bkg_8Jq2-x.y~z",
            "a b/c?d#e",
            "é",
            "aé",
            "éa",
            "☃é𝄞",
            "a☃b%c",
            "%",
        ] {
            assert_eq!(path_segment(s), oracle(s), "{s:?}");
        }
    }

    #[test]
    fn all_links_for_a_new_booking() {
        let m = booking_created();
        let l = Links::of(&m);
        assert_eq!(
            l.booking.as_deref(),
            Some("https://cal.com/booking/bkg_8Jq2Xz4TnR5wLm3Yv")
        );
        assert_eq!(
            l.reschedule.as_deref(),
            Some("https://cal.com/reschedule/bkg_8Jq2Xz4TnR5wLm3Yv")
        );
        assert_eq!(
            l.cancel.as_deref(),
            Some("https://cal.com/booking/bkg_8Jq2Xz4TnR5wLm3Yv?cancel=true")
        );
        assert_eq!(l.confirm, None);
    }

    #[test]
    fn only_what_is_allowed() {
        let mut m = booking_created();
        m.booking.disable_rescheduling = true;
        let l = Links::of(&m);
        assert!(l.booking.is_some() && l.cancel.is_some());
        assert_eq!(l.reschedule, None);
        m.booking.disable_rescheduling = false;
        m.booking.disable_cancelling = true;
        let l = Links::of(&m);
        assert!(l.reschedule.is_some());
        assert_eq!(l.cancel, None);
        m.booking.disable_cancelling = false;
        m.trigger = BookingTrigger::BookingCancelled;
        let l = Links::of(&m);
        assert!(l.booking.is_some());
        assert_eq!((l.reschedule, l.cancel, l.confirm), (None, None, None));
        m.trigger = BookingTrigger::BookingRequested;
        assert_eq!(
            Links::of(&m).confirm.as_deref(),
            Some("https://cal.com/bookings/unconfirmed")
        );
    }

    #[test]
    fn no_links_without_a_usable_booker_url() {
        let mut m = booking_created();
        for bad in [
            None,
            Some(""),
            Some("cal.com"),
            Some("javascript:alert(1)"),
            Some("ftp://cal.com"),
            Some("https://"),
            Some("https:///path"),
            Some("https://cal.com?x=1"),
            Some("https://cal.com/#top"),
            Some("https://cal .com"),
            Some("https://cal.com/\"><script>"),
        ] {
            m.booking.booker_url = bad.map(str::to_owned);
            assert_eq!(Links::of(&m), Links::default(), "{bad:?}");
        }
        m.booking.booker_url = Some(" HTTP://acme.example/cal/ ".into());
        m.booking.uid = "a b/ü?".into();
        assert_eq!(
            Links::of(&m).booking.as_deref(),
            Some("HTTP://acme.example/cal/booking/a%20b%2F%C3%BC%3F")
        );
    }
}
