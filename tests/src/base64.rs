//! RFC 4648 base64, standard alphabet with padding: the pull API's encoding of `json` and `bytes`
//! message bodies (the queues stub), and a signature variant Cal.com does not send (the hostile
//! tests). Written here rather than pulled in as a dependency because it is this small. Kept
//! apart from `shared`'s decoder on purpose: a test oracle should not share the code it checks.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        // A chunk of n bytes carries n + 1 significant sextets; the rest of the 4 is padding.
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((group >> (18 - 6 * i)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` for anything else (wrong length, a character
/// outside the alphabet, misplaced padding, or non-zero bits hidden in the padding), so a test
/// notices an encoder that is only almost right.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let groups = bytes.len() / 4;
    for (index, group) in bytes.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut value = 0u32;
        for &c in &group[..4 - padding] {
            value = (value << 6) | sextet(c)?;
        }
        value <<= 6 * padding as u32;
        let decoded = value.to_be_bytes();
        let keep = 3 - padding;
        // Bits below the last kept byte must be zero in canonical base64.
        if decoded[1 + keep..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[1..1 + keep]);
    }
    Some(out)
}

/// The value of one alphabet character.
fn sextet(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
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
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        let all: Vec<u8> = (0..=255).collect();
        let encoded = base64_encode(&all);
        assert!(
            encoded.contains('+') && encoded.contains('/'),
            "standard alphabet"
        );
        assert_eq!(base64_decode(&encoded), Some(all));
        for bad in [
            "Zg", "Zg=", "Z===", "Zm9v=", "Zg==Zg==", "Zh==", "Zm9-", "Zm9_", "Zm 9v",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }
}
