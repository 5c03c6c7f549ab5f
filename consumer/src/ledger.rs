//! The delivery ledger in D1 (binding `LEDGER`): runs the statements `shared::delivery::ledger`
//! defines.
//! Every error is returned: the caller treats an unreachable ledger as transient and retries,
//! never sending blind.

use serde::Deserialize;
use shared::contract::message::BookingMessage;
use shared::delivery::ledger::{self, LedgerRow, UnknownOutcomePolicy};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, Result};

const BINDING: &str = "LEDGER";

pub struct Ledger {
    db: D1Database,
}

/// The outcome of a claim.
pub enum Claim {
    /// Ours: send now.
    Claimed,
    /// Someone else's, or the key is done: the row as it stands (if any).
    Lost(Option<LedgerRow>),
}

#[derive(Deserialize)]
struct ClaimedRow {
    claim_id: String,
}

impl Ledger {
    pub fn open(env: &Env) -> Result<Ledger> {
        Ok(Ledger {
            db: env.d1(BINDING)?,
        })
    }

    pub async fn claim(
        &self,
        message: &BookingMessage,
        claim_id: &str,
        now_ms: f64,
        ttl_ms: u64,
        policy: UnknownOutcomePolicy,
    ) -> Result<Claim> {
        let claimed: Option<ClaimedRow> = self
            .db
            .prepare(ledger::CLAIM_SQL)
            .bind(&[
                message.key.as_str().into(),
                claim_id.into(),
                now_ms.into(),
                message.trigger.as_str().into(),
                message.booking.uid.as_str().into(),
                JsValue::from(u8::from(policy.retries_unknown())),
                (now_ms - ttl_ms as f64).into(),
            ])?
            .first(None)
            .await?;
        if claimed.is_some_and(|row| row.claim_id == claim_id) {
            return Ok(Claim::Claimed);
        }
        let row = self
            .db
            .prepare(ledger::ROW_SQL)
            .bind(&[message.key.as_str().into()])?
            .first(None)
            .await?;
        Ok(Claim::Lost(row))
    }

    pub async fn mark_sent(
        &self,
        key: &str,
        message_id: Option<&str>,
        status: u16,
        now_ms: f64,
    ) -> Result<()> {
        let message_id = message_id.map_or(JsValue::NULL, JsValue::from);
        self.db
            .prepare(ledger::MARK_SENT_SQL)
            .bind(&[key.into(), message_id, now_ms.into(), status.into()])?
            .run()
            .await?;
        Ok(())
    }

    /// Records a failed (`unknown == false`) or unknown-outcome attempt, releasing our claim.
    pub async fn settle(
        &self,
        key: &str,
        claim_id: &str,
        unknown: bool,
        status: Option<u16>,
        note: &str,
        now_ms: f64,
    ) -> Result<()> {
        let sql = if unknown {
            ledger::MARK_UNKNOWN_SQL
        } else {
            ledger::RELEASE_SQL
        };
        let status = status.map_or(JsValue::NULL, JsValue::from);
        self.db
            .prepare(sql)
            .bind(&[
                key.into(),
                claim_id.into(),
                status,
                note.into(),
                now_ms.into(),
            ])?
            .run()
            .await?;
        Ok(())
    }
}
