//! What the producer and the consumer agree on, and the only thing they share: the versioned queue
//! message ([`message`]), reading a queue body back into it ([`decode`]), and the wrapper the
//! consumer puts around a message it dead-letters ([`dead_letter`]).
//!
//! Nothing here uses either side (`ingress`, `delivery`).

pub mod dead_letter;
pub mod decode;
pub mod message;
