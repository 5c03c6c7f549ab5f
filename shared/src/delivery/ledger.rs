//! The delivery ledger: one row per idempotency key in D1 (SQLite), so that staff get each
//! notification once although Queues delivers at least once, Cal.com may send a delivery twice,
//! SendGrid has no idempotency key, and a dead letter may be replayed after it was sent.
//!
//! The guarantee: never a second email for a key whose row says `sent`. The protocol:
//! 1. **Claim** before sending ([`CLAIM_SQL`]): insert the row as `sending` with a fresh claim id,
//!    or take over a row that is `failed` (a known failure released it), or, under
//!    [`UnknownOutcomePolicy::Retry`], one whose outcome is `unknown` or whose claim expired (the
//!    worker died mid-send). The unique key makes the claim atomic: of two concurrent deliveries
//!    only one gets the claim id back.
//! 2. **Send**, then record: `sent` with SendGrid's `X-Message-ID` after a 2xx ([`MARK_SENT_SQL`]);
//!    `failed` after an answer that says nothing was sent ([`RELEASE_SQL`]); `unknown` after a
//!    timeout or a dropped connection ([`MARK_UNKNOWN_SQL`]).
//! 3. A delivery that does not get the claim reads the row ([`ROW_SQL`]) and
//!    [`after_lost_claim`] decides: `sent` → ack as a duplicate; `sending` → retry when the claim
//!    expires; `unknown` / expired (only reachable under [`UnknownOutcomePolicy::DeadLetter`]) →
//!    dead-letter for a person to decide.
//!
//! A send whose outcome is unknown (timeout, connection closed, or a 2xx whose record could not be
//! written) falls under [`UnknownOutcomePolicy`]: retry and accept the risk of a duplicate, or
//! dead-letter. The ledger being unreachable is transient: retry, never send blind.

use serde::Deserialize;

use crate::delivery::policy::{self, Decision, RetryPolicy};
use crate::delivery::sendgrid::SendResult;

/// The Worker var that selects the [`UnknownOutcomePolicy`].
pub const UNKNOWN_OUTCOME_ENV: &str = "UNKNOWN_OUTCOME";

/// How long a claim holds beyond the SendGrid timeout before another delivery may treat the
/// sender as dead.
pub const CLAIM_MARGIN_MS: u64 = 30_000;

/// What to do when it is not known whether SendGrid accepted an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownOutcomePolicy {
    /// Send again (at-least-once): staff may, rarely, get a duplicate. The default.
    Retry,
    /// Dead-letter the message for a person to check the inbox / SendGrid activity first
    /// (at-most-once until someone decides).
    DeadLetter,
}

impl UnknownOutcomePolicy {
    /// `retry` (default when unset) or `dead-letter`; anything else is an error naming the var.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None | Some("retry") => Ok(Self::Retry),
            Some("dead-letter") => Ok(Self::DeadLetter),
            Some(other) => Err(format!(
                "{UNKNOWN_OUTCOME_ENV} must be \"retry\" or \"dead-letter\", not {:?}",
                crate::text::truncate_bytes(other, 40).0
            )),
        }
    }

    /// Bound as `?6` of [`CLAIM_SQL`].
    pub fn retries_unknown(self) -> bool {
        self == Self::Retry
    }
}

/// Claims `key` for one send attempt. Binds: ?1 key, ?2 claim id, ?3 now (ms), ?4 trigger,
/// ?5 booking uid, ?6 1 when unknown outcomes may be retried, ?7 the oldest `claimed_at` (ms)
/// that still holds. Returns one row (`claim_id`) when the claim is ours, none otherwise.
pub const CLAIM_SQL: &str = "INSERT INTO deliveries (key, state, claim_id, claimed_at, attempts, trigger, booking_uid, updated_at) \
VALUES (?1, 'sending', ?2, ?3, 1, ?4, ?5, ?3) \
ON CONFLICT(key) DO UPDATE SET state = 'sending', claim_id = excluded.claim_id, claimed_at = excluded.claimed_at, \
attempts = deliveries.attempts + 1, updated_at = excluded.updated_at \
WHERE deliveries.state = 'failed' \
OR (?6 = 1 AND (deliveries.state = 'unknown' OR (deliveries.state = 'sending' AND deliveries.claimed_at < ?7))) \
RETURNING claim_id";

/// The row of a key. Binds: ?1 key.
pub const ROW_SQL: &str =
    "SELECT state, claimed_at, sendgrid_message_id FROM deliveries WHERE key = ?1";

/// Records a send SendGrid accepted, whoever holds the claim now (the email went out either way).
/// Binds: ?1 key, ?2 X-Message-ID (or null), ?3 now (ms), ?4 status.
pub const MARK_SENT_SQL: &str =
    "UPDATE deliveries SET state = 'sent', sendgrid_message_id = ?2, sent_at = ?3, \
last_status = ?4, note = NULL, updated_at = ?3 WHERE key = ?1";

/// Releases our claim after an answer that means nothing was sent. Binds: ?1 key, ?2 claim id,
/// ?3 status (or null), ?4 note, ?5 now (ms).
pub const RELEASE_SQL: &str =
    "UPDATE deliveries SET state = 'failed', last_status = ?3, note = ?4, updated_at = ?5 \
WHERE key = ?1 AND claim_id = ?2 AND state = 'sending'";

/// Marks our claim's outcome unknown. Binds as [`RELEASE_SQL`].
pub const MARK_UNKNOWN_SQL: &str =
    "UPDATE deliveries SET state = 'unknown', last_status = ?3, note = ?4, updated_at = ?5 \
WHERE key = ?1 AND claim_id = ?2 AND state = 'sending'";

/// A ledger row as [`ROW_SQL`] reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LedgerRow {
    pub state: String,
    pub claimed_at: f64,
    #[serde(default)]
    pub sendgrid_message_id: Option<String>,
}

/// What a delivery that did not get the claim does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostClaim {
    /// The email was sent already: ack without sending.
    AlreadySent { message_id: Option<String> },
    /// Another delivery is sending it now: come back when its claim expires.
    InFlight { retry_after_secs: u32 },
    /// A previous attempt may have sent it, and the policy says a person decides.
    OutcomeUnknown,
}

/// Reads the row found after a lost claim. `ttl_ms` is how long a claim holds; an in-flight
/// delivery is checked again after at most `recheck_secs` (a send ends within its timeout, so
/// there is no need to wait for the whole claim).
pub fn after_lost_claim(
    row: Option<&LedgerRow>,
    now_ms: f64,
    ttl_ms: u64,
    recheck_secs: u32,
) -> LostClaim {
    match row {
        Some(row) if row.state == "sent" => LostClaim::AlreadySent {
            message_id: row.sendgrid_message_id.clone(),
        },
        Some(row) if row.state == "unknown" => LostClaim::OutcomeUnknown,
        Some(row) if row.state == "sending" => {
            let remaining_ms = row.claimed_at + ttl_ms as f64 - now_ms;
            if remaining_ms <= 0.0 {
                LostClaim::OutcomeUnknown
            } else {
                let remaining_secs = (remaining_ms / 1000.0).ceil() as u32;
                LostClaim::InFlight {
                    retry_after_secs: remaining_secs.min(recheck_secs).max(1),
                }
            }
        }
        // Released or gone between our two statements: try again shortly.
        _ => LostClaim::InFlight {
            retry_after_secs: 1,
        },
    }
}

/// The decision for a lost claim (duplicates are acked, in-flight ones retried, unknown outcomes
/// dead-lettered with what the operator can do).
pub fn decide_lost_claim(
    lost: &LostClaim,
    key: &str,
    attempt: u32,
    policy: &RetryPolicy,
) -> Decision {
    match lost {
        LostClaim::AlreadySent { .. } => Decision::Ack,
        LostClaim::InFlight { retry_after_secs } => policy::decide_transient(
            "another delivery of this message is being sent",
            *retry_after_secs,
            attempt,
            policy,
        ),
        LostClaim::OutcomeUnknown => Decision::DeadLetter {
            reason: unknown_outcome_reason(key),
        },
    }
}

/// True for results after which SendGrid may or may not have accepted the email.
pub fn is_unknown_outcome(result: &SendResult) -> bool {
    matches!(result, SendResult::Timeout | SendResult::NetworkError(_))
}

/// The decision after a send, with unknown outcomes under `unknown`: [`policy::decide`], except
/// that under [`UnknownOutcomePolicy::DeadLetter`] an unknown outcome is dead-lettered at once.
pub fn decide_send(
    result: &SendResult,
    key: &str,
    attempt: u32,
    policy: &RetryPolicy,
    unknown: UnknownOutcomePolicy,
    jitter: f64,
    now_unix: u64,
) -> Decision {
    if unknown == UnknownOutcomePolicy::DeadLetter && is_unknown_outcome(result) {
        return Decision::DeadLetter {
            reason: unknown_outcome_reason(key),
        };
    }
    policy::decide(result, attempt, policy, jitter, now_unix)
}

/// SendGrid accepted the email but the ledger could not record it: the outcome is unknown to the
/// next delivery. Under `Retry` the message is retried (a duplicate is then likely); under
/// `DeadLetter` it goes to a person.
pub fn decide_unrecorded_send(
    key: &str,
    attempt: u32,
    policy: &RetryPolicy,
    unknown: UnknownOutcomePolicy,
) -> Decision {
    match unknown {
        UnknownOutcomePolicy::DeadLetter => Decision::DeadLetter { reason: unknown_outcome_reason(key) },
        UnknownOutcomePolicy::Retry => policy::decide_transient(
            "SendGrid accepted the email but the delivery ledger could not record it (a retry may send it twice)",
            policy.base_delay_secs,
            attempt,
            policy,
        ),
    }
}

/// Why a message whose outcome is unknown was dead-lettered, and how to force a resend.
pub fn unknown_outcome_reason(key: &str) -> String {
    format!(
        "outcome unknown: a previous attempt may already have sent this email (UNKNOWN_OUTCOME=dead-letter). \
Check SendGrid's activity for idempotency_key {key}; to send it anyway, run \
`wrangler d1 execute booking-deliveries --remote --command \"UPDATE deliveries SET state='failed' WHERE key='{key}'\"` \
and replay the original message"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, claimed_at: f64) -> LedgerRow {
        LedgerRow {
            state: state.into(),
            claimed_at,
            sendgrid_message_id: Some("msg-1".into()),
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        base_delay_secs: 10,
        max_delay_secs: 3600,
        config_error_delay_secs: 1800,
        max_attempts: 6,
    };

    #[test]
    fn the_policy_is_read_from_its_var() {
        assert_eq!(
            UnknownOutcomePolicy::parse(None),
            Ok(UnknownOutcomePolicy::Retry)
        );
        assert_eq!(
            UnknownOutcomePolicy::parse(Some(" retry ")),
            Ok(UnknownOutcomePolicy::Retry)
        );
        assert_eq!(
            UnknownOutcomePolicy::parse(Some("dead-letter")),
            Ok(UnknownOutcomePolicy::DeadLetter)
        );
        assert!(UnknownOutcomePolicy::parse(Some("maybe"))
            .unwrap_err()
            .contains("UNKNOWN_OUTCOME"));
    }

    #[test]
    fn a_lost_claim_is_read_from_the_row() {
        let now = 1_000_000.0;
        let lost = |r: Option<&LedgerRow>| after_lost_claim(r, now, 40_000, 11);
        assert_eq!(
            lost(Some(&row("sent", 0.0))),
            LostClaim::AlreadySent {
                message_id: Some("msg-1".into())
            }
        );
        assert_eq!(
            lost(Some(&row("sending", now - 35_000.0))),
            LostClaim::InFlight {
                retry_after_secs: 5
            }
        );
        assert_eq!(
            lost(Some(&row("sending", now - 1_000.0))),
            LostClaim::InFlight {
                retry_after_secs: 11
            },
            "capped"
        );
        assert_eq!(
            lost(Some(&row("sending", now - 50_000.0))),
            LostClaim::OutcomeUnknown
        );
        assert_eq!(lost(Some(&row("unknown", now))), LostClaim::OutcomeUnknown);
        assert_eq!(
            lost(Some(&row("failed", now))),
            LostClaim::InFlight {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            lost(None),
            LostClaim::InFlight {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn duplicates_are_acked_and_unknown_outcomes_go_to_a_person() {
        let sent = LostClaim::AlreadySent { message_id: None };
        assert_eq!(decide_lost_claim(&sent, "k", 1, &POLICY), Decision::Ack);
        let in_flight = LostClaim::InFlight {
            retry_after_secs: 7,
        };
        assert!(matches!(
            decide_lost_claim(&in_flight, "k", 1, &POLICY),
            Decision::Retry {
                delay_seconds: 7,
                ..
            }
        ));
        assert!(matches!(
            decide_lost_claim(&in_flight, "k", 6, &POLICY),
            Decision::DeadLetter { .. }
        ));
        let Decision::DeadLetter { reason } =
            decide_lost_claim(&LostClaim::OutcomeUnknown, "abc123", 1, &POLICY)
        else {
            panic!("dead letter expected")
        };
        assert!(
            reason.contains("outcome unknown") && reason.contains("key='abc123'"),
            "{reason}"
        );
    }

    #[test]
    fn unknown_outcomes_follow_the_policy() {
        for result in [
            SendResult::Timeout,
            SendResult::NetworkError("connection reset".into()),
        ] {
            let retry = decide_send(
                &result,
                "k",
                1,
                &POLICY,
                UnknownOutcomePolicy::Retry,
                0.5,
                0,
            );
            assert!(matches!(retry, Decision::Retry { .. }), "{retry:?}");
            let dead = decide_send(
                &result,
                "k",
                1,
                &POLICY,
                UnknownOutcomePolicy::DeadLetter,
                0.5,
                0,
            );
            assert!(
                matches!(dead, Decision::DeadLetter { ref reason } if reason.starts_with("outcome unknown")),
                "{dead:?}"
            );
        }
        // A known answer is decided as usual under either policy.
        let busy = SendResult::Status {
            status: 503,
            retry_after_secs: None,
            rate_limit_reset_unix: None,
            error_summary: None,
        };
        assert!(matches!(
            decide_send(
                &busy,
                "k",
                1,
                &POLICY,
                UnknownOutcomePolicy::DeadLetter,
                0.5,
                0
            ),
            Decision::Retry { .. }
        ));
        let ok = SendResult::Status {
            status: 202,
            retry_after_secs: None,
            rate_limit_reset_unix: None,
            error_summary: None,
        };
        assert_eq!(
            decide_send(
                &ok,
                "k",
                1,
                &POLICY,
                UnknownOutcomePolicy::DeadLetter,
                0.5,
                0
            ),
            Decision::Ack
        );
    }

    #[test]
    fn an_unrecorded_send_follows_the_policy() {
        assert!(matches!(
            decide_unrecorded_send("k", 1, &POLICY, UnknownOutcomePolicy::Retry),
            Decision::Retry {
                delay_seconds: 10,
                ..
            }
        ));
        assert!(matches!(
            decide_unrecorded_send("k", 1, &POLICY, UnknownOutcomePolicy::DeadLetter),
            Decision::DeadLetter { .. }
        ));
    }
}
