//! Small string helpers shared by parsing, rendering and logging.

/// The marker appended to text cut to fit a budget.
pub const ELLIPSIS: &str = "…";

/// Cuts `s` to at most `max_bytes` bytes (ellipsis included) on a character boundary.
/// Returns the text and whether anything was cut.
pub fn truncate_bytes(s: &str, max_bytes: usize) -> (String, bool) {
    if s.len() <= max_bytes {
        return (s.to_owned(), false);
    }
    let room = max_bytes.saturating_sub(ELLIPSIS.len());
    let mut end = room;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + ELLIPSIS.len());
    out.push_str(&s[..end]);
    out.push_str(ELLIPSIS);
    (out, true)
}

/// True for the invisible format characters that make text display other than it reads: zero
/// width characters and marks (U+200B–U+200F), bidi embeddings and overrides (U+202A–U+202E),
/// bidi isolates (U+2066–U+2069) and the byte-order mark / zero width no-break space (U+FEFF).
pub fn is_spoofing_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Folds every run of control characters (CR, LF, tabs, …) and spaces into one space and trims
/// the ends: for email subjects, display names and other one-line fields, where a CR/LF could
/// inject headers. Drops the format characters of [`is_spoofing_format_char`], so a subject or a
/// sender's name cannot be made to read backwards or hide characters (visual spoofing).
pub fn single_line(s: &str) -> String {
    if is_one_plain_line(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    let mut rest = s;
    while !rest.is_empty() {
        // Printable ASCII but space, the common case, is copied a run at a time: a call per
        // character was a tenth of rendering an email at opt-level "z".
        let run = rest
            .bytes()
            .position(|b| !b.is_ascii_graphic())
            .unwrap_or(rest.len());
        let (kept, c) = if run > 0 {
            (&rest[..run], None)
        } else {
            let c = rest.chars().next().unwrap_or_default();
            (&rest[..c.len_utf8()], Some(c))
        };
        rest = &rest[kept.len()..];
        match c {
            Some(c) if is_spoofing_format_char(c) => {}
            Some(c) if c.is_control() || c.is_whitespace() => pending_space = !out.is_empty(),
            _ => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push_str(kept);
            }
        }
    }
    out
}

/// Whether `s` is printable ASCII words separated by single spaces, which [`single_line`] keeps
/// as they are: most names, labels and addresses, checked in one pass.
pub(crate) fn is_one_plain_line(s: &str) -> bool {
    // Starting "after a space" refuses a leading space; the end refuses a trailing one.
    let mut after_space = true;
    for &b in s.as_bytes() {
        match b {
            b' ' if after_space => return false,
            b' ' => after_space = true,
            b if b.is_ascii_graphic() => after_space = false,
            _ => return false,
        }
    }
    !after_space || s.is_empty()
}

/// Masks an email address for logs: `alex@example.com` → `a***@example.com`. Anything that is not
/// an address is masked whole.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first = local.chars().next().unwrap_or('*');
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// Lowercase hex of `bytes` (signatures, idempotency keys, event ids).
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// `unix_ms` (milliseconds since 1970, UTC, before the year 10000) as JavaScript's
/// `toISOString` writes it, `2026-12-01T09:00:00.000Z`: the producer's `received_at`, from the
/// clock reading it already has, without a `Date` object and its string for every request.
pub fn iso_utc_millis(unix_ms: u64) -> String {
    let (days, ms) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`), in eras of
    // 400 years starting on 0000-03-01.
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let (h, m, sec, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    // Digit by digit rather than `format!`: the producer stamps every message with this, and the
    // formatting machinery cost more than the calendar arithmetic above.
    let mut out = String::with_capacity(24);
    let fields: [(u64, usize, char); 7] = [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (h, 2, ':'),
        (m, 2, ':'),
        (sec, 2, '.'),
        (milli, 3, 'Z'),
    ];
    for (value, width, after) in fields {
        for place in (0..width).rev() {
            let digit = value / 10u64.pow(place as u32) % 10;
            out.push(char::from(b'0' + digit as u8));
        }
        out.push(after);
    }
    out
}

/// Standard base64 (RFC 4648, padded) of `bytes`: raw bodies kept whole in a dead letter.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    base64_encode_into(&mut out, bytes);
    out
}

/// [`base64_encode`] appended to `out` (the consumer writes the `.ics` straight into the SendGrid
/// request with this).
pub fn base64_encode_into(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digit = |n: u32, i: usize| ALPHABET[(n >> (18 - 6 * i) & 63) as usize];
    // 192 bytes at a time into 256 on the stack, then one UTF-8 check and one copy: a
    // `String::push` per character, or a copy per group of four, is a call each at opt-level "z".
    let mut buf = [b'='; 256];
    for block in bytes.chunks(192) {
        let mut groups = block.chunks_exact(3);
        let mut len = 0;
        for group in &mut groups {
            let (Ok([a, b, c]), Some(quad)) =
                (<[u8; 3]>::try_from(group), buf.get_mut(len..len + 4))
            else {
                break;
            };
            let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
            quad.copy_from_slice(&[digit(n, 0), digit(n, 1), digit(n, 2), digit(n, 3)]);
            len += 4;
        }
        let tail = groups.remainder();
        if !tail.is_empty() {
            let n = tail
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                buf[len + i] = if i <= tail.len() { digit(n, i) } else { b'=' };
            }
            len += 4;
        }
        out.push_str(std::str::from_utf8(&buf[..len]).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_utc_millis_writes_what_to_iso_string_writes() {
        assert_eq!(iso_utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_utc_millis(1_764_579_600_123),
            "2025-12-01T09:00:00.123Z"
        );
        assert_eq!(iso_utc_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            iso_utc_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        // Every day of four centuries (leap years, the 100- and 400-year rules), against jiff.
        for day in 0..146_097u64 {
            let ms = day * 86_400_000 + (day * 7_919_993) % 86_400_000;
            let expected = jiff::Timestamp::from_millisecond(ms as i64)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S.%3fZ")
                .to_string();
            assert_eq!(iso_utc_millis(ms), expected, "{ms}");
        }
    }

    #[test]
    fn base64_follows_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64_encode(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64_encode(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn base64_in_blocks_as_one_group_at_a_time() {
        // The first, per-group encoder, as the oracle, across the 192-byte blocks.
        let oracle = |bytes: &[u8]| -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
                for i in 0..4 {
                    out.push(if i <= chunk.len() {
                        ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
                    } else {
                        '='
                    });
                }
            }
            out
        };
        let bytes: Vec<u8> = (0..=600u32).map(|i| (i * 37 % 256) as u8).collect();
        for len in 0..=bytes.len() {
            let mut into = String::from("x");
            base64_encode_into(&mut into, &bytes[..len]);
            assert_eq!(into[1..], oracle(&bytes[..len]), "{len}");
            assert_eq!(base64_encode(&bytes[..len]), oracle(&bytes[..len]), "{len}");
        }
    }

    #[test]
    fn truncation_respects_char_boundaries_and_budget() {
        assert_eq!(truncate_bytes("short", 10), ("short".to_owned(), false));
        let (cut, was_cut) = truncate_bytes("ééééé", 8); // 10 bytes
        assert!(was_cut);
        assert!(cut.len() <= 8, "{cut}");
        assert!(cut.ends_with(ELLIPSIS));
        assert_eq!(cut, "éé…");
        let (cut, _) = truncate_bytes("abcdef", 2);
        assert_eq!(cut, "…");
    }

    /// [`single_line`] as it was written first, a character at a time: the oracle for the run
    /// copying.
    fn single_line_by_char(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut pending_space = false;
        for c in s.chars() {
            if is_spoofing_format_char(c) {
                continue;
            }
            if c.is_control() || c.is_whitespace() {
                pending_space = !out.is_empty();
            } else {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn single_line_copies_runs_as_it_kept_characters() {
        // Every string of up to three characters from an alphabet of each kind single_line
        // tells apart: printable ASCII, space, ASCII and C1 controls, Unicode spaces, spoofing
        // format characters, other non-ASCII.
        let alphabet = [
            'a', '~', ' ', '\t', '\r', '\n', '\u{0}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}',
            '\u{3000}', '\u{200b}', '\u{202e}', '\u{feff}', 'é', '☃', '𝄞',
        ];
        let mut strings = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(longer);
        }
        strings.push("  Alex\u{200B} Student,\r\n\tBcc: x@y \u{a0}é ".repeat(3));
        for s in &strings {
            assert_eq!(single_line(s), single_line_by_char(s), "{s:?}");
        }
    }

    #[test]
    fn single_line_removes_crlf_and_collapses_space() {
        assert_eq!(single_line("  Hello\r\nBcc: x@y\t z  "), "Hello Bcc: x@y z");
        assert_eq!(single_line("\n\n"), "");
    }

    #[test]
    fn single_line_drops_bidi_overrides_and_zero_width_characters() {
        // "Invoice paid" shown as if reversed, a zero width space hiding inside a word, …
        assert_eq!(
            single_line("Call \u{202E}dexif\u{202C} now"),
            "Call dexif now"
        );
        assert_eq!(single_line("pay\u{200B}pal\u{FEFF}"), "paypal");
        assert_eq!(
            single_line("\u{2066}a\u{2067}b\u{2068}c\u{2069} \u{200E}d\u{200F}"),
            "abc d"
        );
        // Every character of the four ranges, and only those.
        let banned = ('\u{200B}'..='\u{200F}')
            .chain('\u{202A}'..='\u{202E}')
            .chain('\u{2066}'..='\u{2069}')
            .chain(['\u{FEFF}']);
        for c in banned {
            assert_eq!(single_line(&format!("x{c}y")), "xy", "U+{:04X}", c as u32);
        }
        for kept in [
            '\u{200A}', '\u{2010}', '\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}',
        ] {
            assert!(!is_spoofing_format_char(kept), "U+{:04X}", kept as u32);
        }
        // Only format characters between two words: no double space, and nothing left at all.
        assert_eq!(single_line("a \u{200B} b"), "a b");
        assert_eq!(single_line("\u{202E}\u{200B}"), "");
    }

    #[test]
    fn masks_emails() {
        assert_eq!(mask_email("alex@example.com"), "a***@example.com");
        assert_eq!(mask_email("Ünal@exämple.de"), "Ü***@exämple.de");
        assert_eq!(mask_email("not-an-address"), "***");
        assert_eq!(mask_email("@example.com"), "***");
    }
}
