//! Cal.com's webhook delivery and how it is read, after its signature was verified: by the
//! producer, to answer Cal.com and forward the body, and by the consumer, which reads a forwarded
//! body into its key and booking ([`crate::contract::forward`]). Both sides must read a body the
//! same way to the byte (the key keys the ledger), so there is one reader:
//!
//! - [`envelope`]: the delivery envelope (`triggerEvent`, `createdAt`, `payload`), its trigger,
//!   the idempotency key, and the `v: 1` message built from it.
//! - [`payload`]: tolerant extraction of a booking from Cal.com's payload.
//! - [`json`](mod@json): the one-pass JSON reader both of those use (slices of the body, no copies).

pub mod envelope;
pub mod json;
pub mod payload;
