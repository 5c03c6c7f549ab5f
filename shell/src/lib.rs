//! The thin shells' shared I/O glue: what the producer, the replay worker and the consumer each
//! need from the runtime and would otherwise write three times. Nothing here decides; the
//! decisions are `shared`'s, unit-tested natively.
//!
//! - [`body`]: reading a request body with a size cap, and request headers.
//! - [`reply`]: writing a `shared::ingress::Reply` as the HTTP response.
//! - [`log`]: one JSON log line to the console, and to Sentry when it warrants a report.
//! - [`report`]: the Sentry post itself (`SENTRY_DSN`).
//! - [`settings`]: a setting parsed once per isolate, again only when its text changes.
//! - [`error`]: a `worker::Error` described for a log line without linking float formatting.

pub mod body;
pub mod error;
pub mod log;
pub mod reply;
pub mod report;
pub mod settings;
