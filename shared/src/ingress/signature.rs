//! Verifying Cal.com's `X-Cal-Signature-256` header.
//!
//! Cal.com signs the exact body bytes with HMAC-SHA256, keyed with the secret string exactly as
//! typed in its webhook form, and sends the digest as bare lowercase hex. There is no `sha256=`
//! prefix (some guides show one); we accept either hex case and tolerate the prefix. When the
//! Cal.com webhook has no secret, it still sends the header, with the value `no-secret-provided`.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::text::hex_lower;

/// The header Cal.com puts its signature in.
pub const SIGNATURE_HEADER: &str = "X-Cal-Signature-256";

/// What Cal.com sends in [`SIGNATURE_HEADER`] when its webhook has no secret set.
pub const NO_SECRET_SENTINEL: &str = "no-secret-provided";

/// The environment variable (a Worker secret) that holds our webhook secret(s).
pub const SECRET_ENV: &str = "CALCOM_WEBHOOK_SECRET";

const DIGEST_LEN: usize = 32;

/// Below this many bytes a secret is weak: it still verifies (refusing it would lose real
/// bookings, since Cal.com does not resend), but the producer reports it.
pub const MIN_SECRET_BYTES: usize = 16;

/// The webhook secrets we accept. Several may be configured at once, one per line or separated
/// by commas, so that a secret can be rotated without losing a delivery: add the new one, switch
/// Cal.com to it, then drop the old one. Cal.com's secret is free text, so spaces belong to it:
/// `correct horse battery staple` is one secret. Only a comma or a line break separates, and
/// white space around each secret is trimmed.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    keys: Vec<Key>,
}

/// One secret, kept as HMAC-SHA256's two keyed hash states (RFC 2104): a request starts from
/// them instead of hashing the two padded key blocks again, and the secret itself is not kept.
/// Written on `sha2` directly: the `hmac` crate's generic layers cost the producer about 0.8 KB
/// gzip of its 100 KB budget. Held against the `hmac` crate on random keys and bodies
/// (tests/properties.rs) and RFC 4231.
#[derive(Clone)]
struct Key {
    /// The secret's length in bytes (for [`WebhookSecrets::weak`]).
    len: usize,
    inner: Sha256,
    outer: Sha256,
}

impl Key {
    fn new(key: &[u8]) -> Self {
        const BLOCK: usize = 64;
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..DIGEST_LEN].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let keyed = |pad: u8| {
            let mut h = Sha256::new();
            h.update(block.map(|b| b ^ pad));
            h
        };
        Self {
            len: key.len(),
            inner: keyed(0x36),
            outer: keyed(0x5c),
        }
    }

    /// HMAC-SHA256 of `body` under this key.
    fn mac(&self, body: &[u8]) -> [u8; DIGEST_LEN] {
        let mut inner = self.inner.clone();
        inner.update(body);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

impl WebhookSecrets {
    /// Parses the value of [`SECRET_ENV`]. Empty entries are ignored, so a trailing comma or a
    /// newline left by a shell does not create an empty (and thus guessable) key.
    pub fn parse(raw: &str) -> Self {
        let keys = Self::split(raw).map(|s| Key::new(s.as_bytes())).collect();
        Self { keys }
    }

    /// The secrets in [`SECRET_ENV`]'s value, each as Cal.com keys its HMAC with: what
    /// [`parse`](Self::parse) keys, and what the producer's entry module imports into Web Crypto.
    pub fn split(raw: &str) -> impl Iterator<Item = &str> {
        raw.split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The 1-based positions of the secrets shorter than [`MIN_SECRET_BYTES`] (never their
    /// values): what the producer reports once per isolate.
    pub fn weak(&self) -> Vec<usize> {
        (1..=self.keys.len())
            .filter(|i| self.keys[i - 1].len < MIN_SECRET_BYTES)
            .collect()
    }

    /// The weak secrets as a sentence for an error log line, by position only; `None` when every
    /// secret is long enough.
    pub fn weakness(&self) -> Option<String> {
        let weak = self.weak();
        let mut told = String::from(SECRET_ENV);
        for (n, i) in weak.iter().enumerate() {
            told.push_str(if n == 0 { ": secret " } else { ", " });
            told.push_str(&i.to_string());
        }
        if weak.is_empty() {
            return None;
        }
        told.push_str(" of ");
        told.push_str(&self.keys.len().to_string());
        told.push_str(" is shorter than 16 bytes: it verifies, but set a longer one");
        Some(told)
    }

    /// True when no usable secret is configured: the producer must then refuse everything.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many secrets are configured (never their values).
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

// Never print secret material, not even in a debug log.
impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebhookSecrets({} configured, redacted)",
            self.keys.len()
        )
    }
}

/// Why a signature was refused. Each maps to its own 401 answer; none carries the header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Cal-Signature-256` header at all.
    Missing,
    /// The header says `no-secret-provided`: the Cal.com webhook has no secret set.
    NoSecretInCalcom,
    /// The header is not 64 hex characters (optionally prefixed with `sha256=`).
    Malformed,
    /// Well-formed, but no configured secret produces it for this body.
    Mismatch,
}

impl SignatureError {
    /// A stable machine-readable code for JSON answers and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::NoSecretInCalcom => "signature_not_configured_in_calcom",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
        }
    }

    /// A sentence for the sender (and for the operator testing the webhook).
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "The X-Cal-Signature-256 header is missing. Cal.com sends it on every webhook; set a secret on the Cal.com webhook.",
            Self::NoSecretInCalcom => "The Cal.com webhook has no secret set (X-Cal-Signature-256 is 'no-secret-provided'). Type the same secret into the Cal.com webhook form as in CALCOM_WEBHOOK_SECRET.",
            Self::Malformed => "The X-Cal-Signature-256 header is not a hex HMAC-SHA256 digest (64 hex characters).",
            Self::Mismatch => "The X-Cal-Signature-256 header does not match the body for any configured secret. Check that the Cal.com webhook secret equals CALCOM_WEBHOOK_SECRET and that nothing rewrites the body.",
        }
    }
}

/// Computes the signature Cal.com would send for `body` under `secret`: lowercase hex.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex_lower(&Key::new(secret).mac(body))
}

/// Checks `header` (the raw `X-Cal-Signature-256` value, if any) against `body` for every
/// configured secret. The comparison is constant-time and looks at every secret whatever matches,
/// so timing reveals neither the digest nor which secret is in use.
pub fn verify(
    secrets: &WebhookSecrets,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let expected = claimed_digest(header)?;
    let mut matched = Choice::from(0);
    for key in &secrets.keys {
        matched |= key.mac(body).ct_eq(&expected);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The digest `header` claims, or why it is refused before any MAC is computed. The producer's
/// entry module compares it with Web Crypto's `verify` (constant time, in the runtime's C++),
/// then hands the outcome to [`judge`].
pub fn claimed_digest(header: Option<&str>) -> Result<[u8; DIGEST_LEN], SignatureError> {
    let header = header.map(str::trim).ok_or(SignatureError::Missing)?;
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    if header.eq_ignore_ascii_case(NO_SECRET_SENTINEL) {
        return Err(SignatureError::NoSecretInCalcom);
    }
    parse_hex_digest(header).ok_or(SignatureError::Malformed)
}

/// The verdict on `header`, given whether some configured secret's MAC of the body equals its
/// [`claimed_digest`] (`matched`, computed wherever the MACs were).
pub fn judge(header: Option<&str>, matched: bool) -> Result<(), SignatureError> {
    claimed_digest(header)?;
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `sha256=`-prefixed or bare, either hex case, exactly 64 hex digits.
fn parse_hex_digest(header: &str) -> Option<[u8; DIGEST_LEN]> {
    let hex = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &header[7..],
        _ => header,
    };
    let bytes = hex.as_bytes();
    if bytes.len() != DIGEST_LEN * 2 {
        return None;
    }
    let mut out = [0u8; DIGEST_LEN];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"triggerEvent":"PING","createdAt":"2026-02-17T18:00:00.000Z","payload":{}}"#;

    #[test]
    fn known_vector_matches_an_independent_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn accepts_bare_hex_in_either_case_and_an_optional_prefix() {
        let secrets = WebhookSecrets::parse("whsec_abc123");
        let sig = sign(b"whsec_abc123", BODY);
        assert_eq!(verify(&secrets, Some(&sig), BODY), Ok(()));
        assert_eq!(verify(&secrets, Some(&sig.to_uppercase()), BODY), Ok(()));
        assert_eq!(
            verify(&secrets, Some(&format!("sha256={sig}")), BODY),
            Ok(())
        );
        assert_eq!(
            verify(&secrets, Some(&format!("SHA256={sig}")), BODY),
            Ok(())
        );
        assert_eq!(verify(&secrets, Some(&format!("  {sig} ")), BODY), Ok(()));
    }

    #[test]
    fn the_whsec_prefix_is_part_of_the_key_not_decoded() {
        let secrets = WebhookSecrets::parse("whsec_abc123");
        let sig_without_prefix = sign(b"abc123", BODY);
        assert_eq!(
            verify(&secrets, Some(&sig_without_prefix), BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn each_failure_has_its_own_reason() {
        let secrets = WebhookSecrets::parse("s3cret");
        assert_eq!(verify(&secrets, None, BODY), Err(SignatureError::Missing));
        assert_eq!(
            verify(&secrets, Some("  "), BODY),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secrets, Some("no-secret-provided"), BODY),
            Err(SignatureError::NoSecretInCalcom)
        );
        let sig = sign(b"s3cret", BODY);
        assert_eq!(
            verify(&secrets, Some(&sig[..63]), BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secrets, Some(&format!("{sig}0")), BODY),
            Err(SignatureError::Malformed)
        );
        let not_hex = format!("{}g", &sig[..63]);
        assert_eq!(
            verify(&secrets, Some(&not_hex), BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secrets, Some(&format!("{sig}, {sig}")), BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secrets, Some(&sign(b"other", BODY)), BODY),
            Err(SignatureError::Mismatch)
        );
        let mut changed = BODY.to_vec();
        changed[3] ^= 1;
        assert_eq!(
            verify(&secrets, Some(&sig), &changed),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_secrets_verifies_for_rotation() {
        let secrets = WebhookSecrets::parse(" old-secret,\n new-secret \r\n third ");
        assert_eq!(secrets.len(), 3);
        for key in ["old-secret", "new-secret", "third"] {
            let sig = sign(key.as_bytes(), BODY);
            assert_eq!(verify(&secrets, Some(&sig), BODY), Ok(()), "{key}");
        }
        let sig = sign(b"old-secret,new-secret", BODY);
        assert_eq!(
            verify(&secrets, Some(&sig), BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_phrase_with_spaces_is_one_secret() {
        let secrets = WebhookSecrets::parse("  correct horse battery staple \n");
        assert_eq!(secrets.len(), 1);
        let sig = sign(b"correct horse battery staple", BODY);
        assert_eq!(verify(&secrets, Some(&sig), BODY), Ok(()));
        for word in ["correct", "horse", "battery", "staple"] {
            let sig = sign(word.as_bytes(), BODY);
            assert_eq!(
                verify(&secrets, Some(&sig), BODY),
                Err(SignatureError::Mismatch),
                "{word}"
            );
        }
        // Tabs and inner runs of spaces are part of the phrase; only the ends are trimmed.
        let secrets = WebhookSecrets::parse("a  b\tc, second phrase here");
        assert_eq!(secrets.len(), 2);
        let sig = sign(b"a  b\tc", BODY);
        assert_eq!(verify(&secrets, Some(&sig), BODY), Ok(()));
    }

    #[test]
    fn short_secrets_verify_but_are_reported_by_position_only() {
        let secrets = WebhookSecrets::parse("whsec_long_enough_secret, s3cret\nfifteen-bytes!!");
        assert_eq!(secrets.weak(), [2, 3]);
        let sig = sign(b"s3cret", BODY);
        assert_eq!(
            verify(&secrets, Some(&sig), BODY),
            Ok(()),
            "weak still verifies"
        );
        let told = secrets.weakness().unwrap();
        assert!(told.contains("secret 2, 3 of 3"), "{told}");
        assert!(told.contains("shorter than 16 bytes"), "{told}");
        for value in ["s3cret", "fifteen", "whsec_long"] {
            assert!(!told.contains(value), "{told}");
        }
        // Exactly 16 bytes is long enough; bytes, not characters, count.
        assert!(WebhookSecrets::parse("0123456789abcdef").weak().is_empty());
        assert_eq!(WebhookSecrets::parse("ééééééé").weak(), [1]); // 14 bytes
        assert_eq!(WebhookSecrets::parse("éééééééé").weakness(), None); // 16 bytes
        assert_eq!(WebhookSecrets::default().weakness(), None);
    }

    #[test]
    fn empty_configuration_has_no_keys_and_verifies_nothing() {
        for raw in ["", " ", ",", " , \n"] {
            let secrets = WebhookSecrets::parse(raw);
            assert!(secrets.is_empty());
            // Even the HMAC of an empty key must not pass with no secret configured.
            let sig = sign(b"", BODY);
            assert_eq!(
                verify(&secrets, Some(&sig), BODY),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secrets = WebhookSecrets::parse("whsec_super_secret_value");
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("super_secret"), "{shown}");
        assert!(shown.contains("1 configured"));
    }

    #[test]
    fn judging_a_match_made_elsewhere_gives_verify_s_verdicts() {
        // The producer's entry module computes `matched` with Web Crypto; every header the
        // verdict depends on must be judged as `verify` judges it.
        let secrets = WebhookSecrets::parse("s3cret");
        let sig = sign(b"s3cret", BODY);
        let headers = [
            None,
            Some("  ".to_owned()),
            Some("No-Secret-Provided".to_owned()),
            Some(sig[..63].to_owned()),
            Some(format!("sha256={sig}")),
            Some(format!(" {sig} ")),
            Some(sign(b"other", BODY)),
        ];
        for header in &headers {
            let verdict = verify(&secrets, header.as_deref(), BODY);
            let matched =
                claimed_digest(header.as_deref()).is_ok_and(|digest| hex_lower(&digest) == sig);
            assert_eq!(judge(header.as_deref(), matched), verdict, "{header:?}");
        }
    }

    #[test]
    fn split_yields_the_secrets_parse_keys() {
        let raw = " first secret ,\n\nsecond,  ,third\n";
        assert_eq!(
            WebhookSecrets::split(raw).collect::<Vec<_>>(),
            ["first secret", "second", "third"]
        );
        let body = b"{}";
        let secrets = WebhookSecrets::parse(raw);
        for secret in WebhookSecrets::split(raw) {
            let sig = sign(secret.as_bytes(), body);
            assert_eq!(verify(&secrets, Some(&sig), body), Ok(()), "{secret}");
        }
    }
}
