//! The delivery ledger: one row per idempotency key in D1 (SQLite), so that staff get each
//! notification once although Queues delivers at least once, Cal.com may send a delivery twice,
//! SendGrid has no idempotency key, and a dead letter may be replayed after it was sent.
//!
//! The guarantee: **never a second email for a key whose row says `sent`**, and never an email
//! without a claim. The statements here are the whole vocabulary; [`super::protocol`] decides
//! when to run which, and the consumer only runs them. Each is one SQL text plus typed
//! [`SqlValue`] parameters, and works on a whole batch at once: the batch's rows travel as one
//! JSON parameter that SQLite's `json_each` unrolls, so a batch costs one D1 round trip to claim
//! ([`claim_call`]) and one to record ([`record_call`]), whatever its size.
//!
//! 1. **Claim** before sending: insert each key as `sending` under the batch's claim id with a
//!    lease, or take over a row that is `failed` or `dead` (a known failure released it), or,
//!    under [`UnknownOutcomePolicy::Retry`], one that is `unknown` or whose lease ran out (the
//!    sender died mid-send). The same call reads the rows back: a key is ours when its row
//!    carries our claim id and is `sending`. The unique key makes this atomic: of two concurrent
//!    deliveries only one gets the row.
//! 2. **Send**, then **record**: `sent` with SendGrid's `X-Message-ID` after a 2xx (whoever holds
//!    the claim by then: the email went out either way); `failed` after an answer that says
//!    nothing was sent; `dead` when the message is dead-lettered; `unknown` after a timeout or a
//!    dropped connection. All but `sent` apply only while our claim holds.

use std::fmt::Write;

use serde::Deserialize;

use crate::delivery::sendgrid::json_string;
use crate::text::truncate_bytes;

/// The Worker var that selects the [`UnknownOutcomePolicy`].
pub const UNKNOWN_OUTCOME_ENV: &str = "UNKNOWN_OUTCOME";

/// The longest one D1 call may take before the consumer stops waiting for it.
pub const LEDGER_TIMEOUT_MS: u32 = 5_000;

/// What a lease adds beyond the calls and sends it has to cover (clock skew between isolates,
/// the time between the claim and the first send).
pub const LEASE_MARGIN_MS: u64 = 30_000;

/// The command that creates the ledger's table, for the operator.
pub const MIGRATE_COMMAND: &str =
    "npx wrangler d1 migrations apply booking-deliveries --remote -c wrangler.consumer.toml (locally: --local instead of --remote)";

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
                truncate_bytes(other, 40).0
            )),
        }
    }
}

/// A row's `state` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerState {
    /// A claim holds it: an attempt is (or was, if its lease ran out) sending.
    Sending,
    /// SendGrid accepted the email. Final.
    Sent,
    /// A known failure released it: nothing was sent; the message is being retried.
    Failed,
    /// It may or may not have been sent (timeout, dropped connection).
    Unknown,
    /// The message was dead-lettered after a known failure; a replay may claim it again.
    Dead,
}

impl LedgerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Dead => "dead",
        }
    }
}

/// One bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Text(String),
}

/// One SQL statement with its parameters in bind order (`?1`, `?2`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

/// Statements run in one D1 call (`D1Database::batch`: one round trip, one transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerCall {
    pub statements: Vec<Statement>,
    /// How long the caller waits for the answer: past it, the call counts as [`LedgerAnswer::TimedOut`].
    pub timeout_ms: u32,
}

/// How a [`LedgerCall`] ended, as the caller saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerAnswer {
    /// It ran; the rows of its last statement (none for an update).
    Rows(Vec<LedgerRow>),
    /// It failed (the error's text, for the log and for [`LedgerError::classify`]).
    Failed(String),
    /// No answer in time: it may or may not have been committed.
    TimedOut,
}

impl LedgerAnswer {
    /// Whether the call is known to have been written.
    pub fn is_written(&self) -> bool {
        matches!(self, LedgerAnswer::Rows(_))
    }
}

/// Why the ledger cannot be used, as far as the error text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerError {
    /// The table does not exist: the migrations were never applied. Heals only by an operator.
    MissingTable,
    /// Anything else (unreachable, overloaded, a bad binding): may heal by itself.
    Unavailable,
}

impl LedgerError {
    pub fn classify(error: &str) -> LedgerError {
        if error.contains("no such table") {
            LedgerError::MissingTable
        } else {
            LedgerError::Unavailable
        }
    }
}

/// A ledger row as [`ROWS_SQL`] reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LedgerRow {
    pub key: String,
    pub state: LedgerState,
    pub claim_id: String,
    /// Unix ms until which the claim holds.
    pub lease_until: i64,
    #[serde(default)]
    pub sendgrid_message_id: Option<String>,
}

/// Claims every key of `?1` (a JSON array of `{key, trigger, uid}`). Binds: ?2 claim id,
/// ?3 now (ms), ?4 lease until (ms), ?5 1 when unknown outcomes may be retried.
pub const CLAIM_SQL: &str = "INSERT INTO deliveries \
(key, state, claim_id, claimed_at, lease_until, attempts, trigger, booking_uid, updated_at) \
SELECT json_extract(value, '$.key'), 'sending', ?2, ?3, ?4, 1, json_extract(value, '$.trigger'), \
json_extract(value, '$.uid'), ?3 FROM json_each(?1) WHERE true \
ON CONFLICT(key) DO UPDATE SET state = 'sending', claim_id = excluded.claim_id, \
claimed_at = excluded.claimed_at, lease_until = excluded.lease_until, \
attempts = deliveries.attempts + 1, updated_at = excluded.updated_at \
WHERE deliveries.state IN ('failed', 'dead') \
OR (?5 = 1 AND (deliveries.state = 'unknown' OR (deliveries.state = 'sending' AND deliveries.lease_until < ?3)))";

/// The rows of the keys in `?1` (a JSON array of keys).
pub const ROWS_SQL: &str = "SELECT key, state, claim_id, lease_until, sendgrid_message_id \
FROM deliveries WHERE key IN (SELECT value FROM json_each(?1))";

/// Records outcomes: `?1` is a JSON array of `{key, state, status, note, message_id}`. Binds:
/// ?2 claim id, ?3 now (ms). `sent` applies whoever holds the row now (the email went out);
/// every other state only while our claim holds it.
pub const RECORD_SQL: &str = "UPDATE deliveries SET \
state = json_extract(r.value, '$.state'), \
last_status = json_extract(r.value, '$.status'), \
note = json_extract(r.value, '$.note'), \
sendgrid_message_id = CASE WHEN json_extract(r.value, '$.state') = 'sent' \
THEN json_extract(r.value, '$.message_id') ELSE deliveries.sendgrid_message_id END, \
sent_at = CASE WHEN json_extract(r.value, '$.state') = 'sent' THEN ?3 ELSE deliveries.sent_at END, \
updated_at = ?3 \
FROM json_each(?1) AS r \
WHERE deliveries.key = json_extract(r.value, '$.key') \
AND (json_extract(r.value, '$.state') = 'sent' \
OR (deliveries.claim_id = ?2 AND deliveries.state = 'sending'))";

/// A key to claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest<'a> {
    pub key: &'a str,
    pub trigger: &'a str,
    pub booking_uid: &'a str,
}

/// The outcome of one attempt, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    /// `Sent`, `Failed`, `Unknown` or `Dead` (never `Sending`).
    pub state: LedgerState,
    pub status: Option<u16>,
    pub note: Option<String>,
    pub message_id: Option<String>,
}

/// Longest note kept in a row.
const MAX_NOTE_BYTES: usize = 500;

/// One call that claims `keys` and reads their rows back.
pub fn claim_call(
    keys: &[ClaimRequest<'_>],
    claim_id: &str,
    now_ms: i64,
    lease_until_ms: i64,
    policy: UnknownOutcomePolicy,
) -> LedgerCall {
    let rows = json_array(keys, |out, k| {
        json_object(out, |row| {
            row.string("key", k.key);
            row.string("trigger", k.trigger);
            row.string("uid", k.booking_uid);
        })
    });
    let key_list = json_array(keys, |out, k| json_string(out, k.key));
    LedgerCall {
        statements: vec![
            Statement {
                sql: CLAIM_SQL,
                params: vec![
                    SqlValue::Text(rows),
                    SqlValue::Text(claim_id.to_owned()),
                    SqlValue::Integer(now_ms),
                    SqlValue::Integer(lease_until_ms),
                    SqlValue::Integer(i64::from(policy == UnknownOutcomePolicy::Retry)),
                ],
            },
            Statement {
                sql: ROWS_SQL,
                params: vec![SqlValue::Text(key_list)],
            },
        ],
        timeout_ms: LEDGER_TIMEOUT_MS,
    }
}

/// One call that records `records`.
pub fn record_call(records: &[Record], claim_id: &str, now_ms: i64) -> LedgerCall {
    let rows = json_array(records, |out, r| {
        json_object(out, |row| {
            row.string("key", &r.key);
            row.string("state", r.state.as_str());
            row.number("status", r.status);
            let note = r
                .note
                .as_deref()
                .map(|n| truncate_bytes(n, MAX_NOTE_BYTES).0);
            row.string_or_null("note", note.as_deref());
            row.string_or_null("message_id", r.message_id.as_deref());
        })
    });
    LedgerCall {
        statements: vec![Statement {
            sql: RECORD_SQL,
            params: vec![
                SqlValue::Text(rows),
                SqlValue::Text(claim_id.to_owned()),
                SqlValue::Integer(now_ms),
            ],
        }],
        timeout_ms: LEDGER_TIMEOUT_MS,
    }
}

/// A JSON array of `items`, each written by `write`: the ledger's `json_each` parameters,
/// written directly (a `serde_json::Value` per row, then serialized, was 3 % of the consumer's
/// core).
fn json_array<T>(items: &[T], mut write: impl FnMut(&mut String, &T)) -> String {
    let mut out = String::with_capacity(2 + items.len() * 160);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(&mut out, item);
    }
    out.push(']');
    out
}

/// One JSON object, its fields written by `write`.
fn json_object(out: &mut String, write: impl FnOnce(&mut JsonObject<'_>)) {
    out.push('{');
    write(&mut JsonObject { out, empty: true });
    out.push('}');
}

/// The fields of one object of [`json_object`]; names are the SQL's own literals, never escaped.
struct JsonObject<'a> {
    out: &'a mut String,
    empty: bool,
}

impl JsonObject<'_> {
    fn name(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
    }

    fn string(&mut self, name: &str, value: &str) {
        self.name(name);
        json_string(self.out, value);
    }

    fn string_or_null(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.string(name, value),
            None => self.null(name),
        }
    }

    fn number(&mut self, name: &str, value: Option<u16>) {
        match value {
            Some(value) => {
                self.name(name);
                // Writing to a String cannot fail.
                let _ = write!(self.out, "{value}");
            }
            None => self.null(name),
        }
    }

    fn null(&mut self, name: &str) {
        self.name(name);
        self.out.push_str("null");
    }
}

/// How long a batch's claim must hold: both ledger calls, the sends in waves of `in_flight`, and
/// a margin. `sends` is how many emails the batch sends.
pub fn lease_ms(sends: usize, in_flight: usize, send_timeout_ms: u32) -> u64 {
    let waves = sends.div_ceil(in_flight.max(1)).max(1) as u64;
    2 * u64::from(LEDGER_TIMEOUT_MS) + waves * u64::from(send_timeout_ms) + LEASE_MARGIN_MS
}

/// Why a message whose outcome is unknown was dead-lettered, and how to force a resend. The
/// command cannot overwrite a row that says `sent`.
pub fn unknown_outcome_reason(key: &str) -> String {
    format!(
        "outcome unknown: a previous attempt may already have sent this email (UNKNOWN_OUTCOME=dead-letter). \
Check SendGrid's activity for idempotency_key {key}; to send it anyway, run \
`npx wrangler d1 execute booking-deliveries --remote -c .deploy/wrangler.consumer.toml --command \"UPDATE deliveries SET state='failed' WHERE key='{key}' AND state <> 'sent'\"` \
and replay the original message"
    )
}

/// The error line's text when the ledger's table is missing.
pub fn missing_table_problem() -> String {
    format!(
        "the delivery ledger has no table `deliveries`: apply the migrations: {MIGRATE_COMMAND}"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

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
    fn a_claim_is_one_call_with_the_batch_as_one_parameter() {
        let keys = [
            ClaimRequest {
                key: "k1",
                trigger: "BOOKING_CREATED",
                booking_uid: "u1",
            },
            ClaimRequest {
                key: "k2",
                trigger: "BOOKING_CANCELLED",
                booking_uid: "u\"2",
            },
        ];
        let call = claim_call(&keys, "c1", 1_000, 61_000, UnknownOutcomePolicy::DeadLetter);
        assert_eq!(call.statements.len(), 2);
        assert_eq!(call.statements[0].sql, CLAIM_SQL);
        let SqlValue::Text(rows) = &call.statements[0].params[0] else {
            panic!("rows as JSON text")
        };
        let rows: Value = serde_json::from_str(rows).unwrap();
        assert_eq!(
            rows[1]["uid"], "u\"2",
            "escaped as JSON, not spliced into SQL"
        );
        assert_eq!(call.statements[0].params[4], SqlValue::Integer(0));
        assert_eq!(
            call.statements[1].params,
            vec![SqlValue::Text(r#"["k1","k2"]"#.into())]
        );
    }

    #[test]
    fn a_record_is_one_call_whose_rows_read_as_the_json_they_say() {
        let records = [
            Record {
                key: "k1".into(),
                state: LedgerState::Sent,
                status: Some(202),
                note: None,
                message_id: Some("msg-1".into()),
            },
            Record {
                key: "k2".into(),
                state: LedgerState::Failed,
                status: None,
                note: Some(format!(
                    "line\nbreak \"quoted\" \u{1} é {}",
                    "x".repeat(600)
                )),
                message_id: None,
            },
        ];
        let call = record_call(&records, "c1", 5);
        assert_eq!(call.statements.len(), 1);
        let SqlValue::Text(rows) = &call.statements[0].params[0] else {
            panic!("rows as JSON text")
        };
        let rows: Value = serde_json::from_str(rows).unwrap();
        let note = truncate_bytes(records[1].note.as_deref().unwrap(), MAX_NOTE_BYTES).0;
        assert_eq!(
            rows,
            json!([
                {"key": "k1", "state": "sent", "status": 202, "note": null, "message_id": "msg-1"},
                {"key": "k2", "state": "failed", "status": null, "note": note, "message_id": null},
            ])
        );
        assert_eq!(
            call.statements[0].params[1..],
            [SqlValue::Text("c1".into()), SqlValue::Integer(5)]
        );
    }

    #[test]
    fn a_lease_covers_both_calls_and_every_wave_of_sends() {
        assert_eq!(lease_ms(1, 6, 10_000), 10_000 + 10_000 + 30_000);
        assert_eq!(lease_ms(6, 6, 10_000), 50_000);
        assert_eq!(lease_ms(7, 6, 10_000), 60_000);
        assert_eq!(lease_ms(0, 6, 10_000), 50_000);
    }

    #[test]
    fn the_operator_command_never_overwrites_a_sent_row() {
        let reason = unknown_outcome_reason("abc");
        assert!(
            reason.contains("WHERE key='abc' AND state <> 'sent'"),
            "{reason}"
        );
    }

    #[test]
    fn a_missing_table_is_told_apart() {
        assert_eq!(
            LedgerError::classify("D1_ERROR: no such table: deliveries: SQLITE_ERROR"),
            LedgerError::MissingTable
        );
        assert_eq!(
            LedgerError::classify("Network connection lost."),
            LedgerError::Unavailable
        );
    }
}
