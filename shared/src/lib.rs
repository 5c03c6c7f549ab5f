//! The pure core of the pipeline. Both workers are thin shells around it: they read requests and
//! queue messages, call into this crate for every decision, and do the I/O the decision asks for.
//! Nothing here touches the network, the clock or the runtime, so all of it is tested natively.
//!
//! - [`signature`]: Cal.com's `X-Cal-Signature-256` check (HMAC-SHA256, constant time).
//! - [`webhook`]: the delivery envelope (`triggerEvent`, `createdAt`, `payload`) and its trigger.
//! - [`booking`]: tolerant extraction of a booking from Cal.com's payload.
//! - `json_object`: the hand-written serde visitor both of those read their objects with.
//! - [`message`]: the versioned queue message the producer sends and the consumer reads.
//! - [`ingress`]: the producer's whole decision for one HTTP request, as data.
//! - [`replay`]: `POST /admin/replay`, putting dead letters back on the queue.
//! - [`text`]: small string helpers (byte-budget truncation, masking emails for logs).
//! - [`when`]: Cal.com times shown in IANA zones (bundled tz database), ranges and durations.
//! - [`email`]: the staff email for a message (subject, text and HTML via Askama templates).
//! - [`sendgrid`]: the Mail Send request body and reading SendGrid's answer.
//! - [`delivery`]: the consumer's ack / retry / dead-letter decision, the dead-letter wrapper and
//!   decoding of queue bodies.
//! - [`sentry`]: optional error reports (DSN, envelope, rate limit).
//! - [`settings`]: the consumer's vars and secrets, validated.
//! - [`logging`]: structured JSON log lines and `LOG_LEVEL`.
//! - [`ledger`]: the delivery ledger protocol (claim, record, duplicates, unknown outcomes).

pub mod booking;
pub mod delivery;
pub mod email;
pub mod ingress;
mod json_object;
pub mod ledger;
pub mod logging;
pub mod message;
pub mod replay;
pub mod sendgrid;
pub mod sentry;
pub mod settings;
pub mod signature;
pub mod text;
pub mod webhook;
pub mod when;
