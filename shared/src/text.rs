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

/// Folds every run of control characters (CR, LF, tabs, …) and spaces into one space and trims
/// the ends: for email subjects and one-line fields, where a CR/LF could inject headers.
pub fn single_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
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

/// Standard base64 (RFC 4648, padded) of `bytes`: raw bodies kept whole in a dead letter.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn single_line_removes_crlf_and_collapses_space() {
        assert_eq!(single_line("  Hello\r\nBcc: x@y\t z  "), "Hello Bcc: x@y z");
        assert_eq!(single_line("\n\n"), "");
    }

    #[test]
    fn masks_emails() {
        assert_eq!(mask_email("alex@example.com"), "a***@example.com");
        assert_eq!(mask_email("Ünal@exämple.de"), "Ü***@exämple.de");
        assert_eq!(mask_email("not-an-address"), "***");
        assert_eq!(mask_email("@example.com"), "***");
    }
}
