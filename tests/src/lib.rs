//! End-to-end tests and local tools.
//!
//! - [`base64`]: standard base64 (RFC 4648), as Cloudflare's pull API and signature variants use it.
//! - [`stub`]: a local SendGrid v3 Mail Send stub with observer endpoints (also the
//!   `sendgrid-stub` binary).
//! - [`pipeline`]: runs the real workers in workerd through `wrangler dev` next to a stub.
//! - [`calcom`]: signs and posts webhooks the way Cal.com does.
//! - [`http`]: a small blocking client.
//! - [`sentry_stub`]: a local stand-in for Sentry's envelope endpoint.
//! - [`proc_cpu`]: CPU seconds of processes from `/proc`, for the load and CPU tools.
//! - [`queues_stub`]: a local stand-in for Cloudflare Queues' HTTP pull-consumer API (pull, ack).
pub mod base64;
pub mod calcom;
pub mod http;
pub mod pipeline;
pub mod proc_cpu;
pub mod queues_stub;
pub mod sentry_stub;
pub mod stub;
