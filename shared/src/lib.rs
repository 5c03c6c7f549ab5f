//! The pure core of the pipeline. Both workers are thin shells around it: they read requests and
//! queue messages, call into this crate for every decision, and do the I/O the decision asks for.
//! Nothing here touches the network, the clock or the runtime, so all of it is tested natively.
//!
//! The folders are the architecture, one per side of the queue:
//!
//! - [`contract`]: the only thing both sides share: the versioned queue message, decoding a queue
//!   body back into it, and the dead-letter wrapper.
//! - [`ingress`]: the producer's side: the request routing and webhook decision, the signature
//!   check, the Cal.com envelope and payload, and `POST /admin/replay`.
//! - [`delivery`]: the consumer's side: the ack / retry / dead-letter policy, the delivery ledger,
//!   the staff email, the SendGrid request and answer, the consumer's settings, and times for
//!   people.
//! - Plain helpers used by both: [`text`] (byte-budget truncation, masking emails for logs,
//!   hex), [`logging`] (structured JSON log lines and `LOG_LEVEL`) and [`sentry`] (optional error
//!   reports: DSN, envelope, rate limit; the state lives with the caller).
//!
//! `ingress` never uses `delivery` and `delivery` never uses `ingress`; `shared/tests/layout.rs`
//! holds that.

pub mod contract;
pub mod delivery;
pub mod ingress;
pub mod logging;
pub mod sentry;
pub mod text;
