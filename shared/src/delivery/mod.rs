//! The consumer's side: everything it decides for one queue message, as data.
//!
//! - [`policy`]: the ack / retry / dead-letter decision (backoff with jitter, server hints,
//!   configuration errors, giving up).
//! - [`protocol`]: a whole batch as a state machine: claim, send, record, dead-letter, settle.
//! - [`ledger`]: the delivery ledger's statements and states (one D1 call to claim a batch, one
//!   to record it).
//! - [`email`]: the staff email for a message (subject, text and HTML via Askama templates, links
//!   to act, the calendar invitation).
//! - [`ics`]: iCalendar text (RFC 5545/5546) for the invitation attached to every email.
//! - [`sendgrid`]: the Mail Send request body and reading SendGrid's answer.
//! - [`settings`]: the consumer's vars and secrets, validated.
//! - [`when`]: Cal.com times shown in IANA zones (bundled tz database), ranges and durations.
//!
//! It reads messages through [`crate::contract`] and never uses the producer's side (`ingress`).

pub mod email;
pub mod ics;
pub mod ledger;
pub mod policy;
pub mod protocol;
pub mod sendgrid;
pub mod settings;
pub mod when;
