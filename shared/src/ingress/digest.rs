//! SHA-256 as the webhook path uses it, behind a trait: the signature (HMAC-SHA256 over the
//! body) and the idempotency key (SHA-256 over the payload's canonical form) hash about twice
//! the body per webhook.
//!
//! Natively (tests, benches, tools) [`Sha2`] does it in this process. In workerd the producer
//! passes the runtime's SHA-256 instead (BoringSSL, in C++): wasm has no SHA instructions, and
//! `sha2` compiled to wasm was the largest part of the producer's own CPU per webhook
//! (docs/PERFORMANCE.md). Either way the core decides; only who runs the compression differs.

/// Bytes in a SHA-256 digest.
pub const DIGEST_LEN: usize = 32;

/// One SHA-256 implementation.
pub trait Sha256Engine {
    /// SHA-256 of `parts`, concatenated.
    fn sha256(&self, parts: &[&[u8]]) -> [u8; DIGEST_LEN];
}

/// The `sha2` crate, in this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha2;

impl Sha256Engine for Sha2 {
    fn sha256(&self, parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for part in parts {
            hash.update(part);
        }
        hash.finalize().into()
    }
}
