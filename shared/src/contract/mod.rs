//! What the producer and the consumer agree on, and the only thing they share: Cal.com's delivery
//! and how it is read ([`calcom`]), the versioned queue message ([`message`], `v: 1`), the
//! forwarded delivery ([`forward`], `v: 2`: Cal.com's body whole, read by the consumer), reading a
//! queue body back into a message ([`decode`]), and the wrapper the consumer puts around a
//! message it dead-letters ([`dead_letter`]).
//!
//! Nothing here uses either side (`ingress`, `delivery`).

pub mod calcom;
pub mod dead_letter;
pub mod decode;
pub mod forward;
pub mod message;
