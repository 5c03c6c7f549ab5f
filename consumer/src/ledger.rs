//! Runs the delivery ledger's calls (`shared::delivery::ledger`) on D1 (binding `LEDGER`): each
//! call is one `batch` (one round trip, one transaction), raced against its time limit. It only
//! reports what happened; `shared::delivery::protocol` decides what that means.

use std::time::Duration;

use futures_util::future::{join_all, select, Either};
use shared::delivery::ledger::{LedgerAnswer, LedgerCall, LedgerRow, SqlValue};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Delay};

pub const BINDING: &str = "LEDGER";

/// Runs every call at once; the answers in order.
pub async fn run_all(db: Option<&D1Database>, calls: &[LedgerCall]) -> Vec<LedgerAnswer> {
    join_all(calls.iter().map(|call| run(db, call))).await
}

pub async fn run(db: Option<&D1Database>, call: &LedgerCall) -> LedgerAnswer {
    let Some(db) = db else {
        return LedgerAnswer::Failed(format!(
            "no D1 binding {BINDING} (see wrangler.consumer.toml)"
        ));
    };
    let statements: worker::Result<Vec<D1PreparedStatement>> = call
        .statements
        .iter()
        .map(|s| {
            db.prepare(s.sql)
                .bind(&s.params.iter().map(param).collect::<Vec<_>>())
        })
        .collect();
    let statements = match statements {
        Ok(statements) => statements,
        Err(e) => return LedgerAnswer::Failed(e.to_string()),
    };
    let work = async move {
        let results = db.batch(statements).await?;
        match results.last() {
            Some(last) => last.results::<LedgerRow>(),
            None => Ok(Vec::new()),
        }
    };
    let limit = Delay::from(Duration::from_millis(u64::from(call.timeout_ms)));
    match select(Box::pin(work), limit).await {
        Either::Left((Ok(rows), _)) => LedgerAnswer::Rows(rows),
        Either::Left((Err(e), _)) => LedgerAnswer::Failed(e.to_string()),
        Either::Right(_) => LedgerAnswer::TimedOut,
    }
}

fn param(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Integer(n) => JsValue::from_f64(*n as f64),
        SqlValue::Text(text) => JsValue::from_str(text),
    }
}
