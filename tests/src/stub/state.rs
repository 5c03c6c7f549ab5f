//! What the stub has recorded, shared between the server and the [`super::Stub`] handle.

use super::faults::{take_fault, Fault, FaultRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::mpsc::Sender;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// A mail the stub accepted (answered 202), as received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceivedEmail {
    /// The `X-Message-ID` header the stub answered with.
    pub message_id: String,
    /// The request JSON.
    pub body: Value,
    /// Unix time in milliseconds when the stub received it.
    pub received_at_ms: u64,
}

/// One `POST /v3/mail/send`, whatever the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The status answered; 0 when no HTTP answer was written (a `close` or `hang` fault).
    pub status: u16,
    /// The request JSON, or `null` when the body was not JSON (or too large).
    pub body: Value,
    /// The injected fault, if any: `status:500`, `hang` or `close`.
    pub fault: Option<String>,
}

/// Everything recorded, behind one lock.
#[derive(Default)]
pub(crate) struct Records {
    pub emails: Vec<ReceivedEmail>,
    pub attempts: Vec<Attempt>,
    pub dead_letters: Vec<Value>,
    pub queue_tap: Vec<Value>,
    pub logs: Vec<String>,
    pub faults: Vec<FaultRule>,
    watchers: Vec<Sender<Attempt>>,
}

/// Shared state of one stub.
pub(crate) struct State {
    pub api_key: String,
    records: Mutex<Records>,
}

impl State {
    pub fn new(api_key: &str) -> State {
        State {
            api_key: api_key.to_owned(),
            records: Mutex::new(Records::default()),
        }
    }

    /// Locks the records; a panic elsewhere while holding the lock does not poison the stub.
    pub fn lock(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn record_attempt(&self, attempt: Attempt) {
        let mut records = self.lock();
        records
            .watchers
            .retain(|watcher| watcher.send(attempt.clone()).is_ok());
        records.attempts.push(attempt);
    }

    pub fn record_email(&self, message_id: String, body: Value) {
        self.lock().emails.push(ReceivedEmail {
            message_id,
            body,
            received_at_ms: now_ms(),
        });
    }

    pub fn take_fault(&self, raw_body: &str) -> Option<Fault> {
        take_fault(&mut self.lock().faults, raw_body)
    }

    pub fn push_faults(&self, rules: impl IntoIterator<Item = FaultRule>) {
        self.lock()
            .faults
            .extend(rules.into_iter().filter(|rule| rule.count != Some(0)));
    }

    pub fn watch(&self, watcher: Sender<Attempt>) {
        self.lock().watchers.push(watcher);
    }

    /// Clears everything recorded and all faults (watchers stay subscribed).
    pub fn reset(&self) {
        let mut records = self.lock();
        records.emails.clear();
        records.attempts.clear();
        records.dead_letters.clear();
        records.queue_tap.clear();
        records.logs.clear();
        records.faults.clear();
    }
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
