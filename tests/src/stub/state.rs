//! What the stub has recorded, shared between the server and the [`super::Stub`] handle.

use super::chaos::Chaos;
use super::faults::{take_fault, Fault, FaultRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
    /// The injected fault (by a rule or by chaos), if any: `status:500`, `hang` or `close`.
    pub fault: Option<String>,
    /// `custom_args.idempotency_key` of the request, when it had one.
    #[serde(default)]
    pub key: Option<String>,
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
    pub chaos: Option<Chaos>,
    /// Authorized mail-send requests seen per idempotency key (the next one's attempt number).
    key_counts: HashMap<String, u64>,
    watchers: Vec<Sender<Attempt>>,
}

/// Shared state of one stub.
pub(crate) struct State {
    pub api_key: String,
    records: Mutex<Records>,
    /// Open client connections (see [`ConnectionGuard`]).
    connections: AtomicUsize,
}

/// Counts one open connection while it lives.
pub(crate) struct ConnectionGuard(Arc<State>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    pub fn new(api_key: &str) -> State {
        State {
            api_key: api_key.to_owned(),
            records: Mutex::new(Records::default()),
            connections: AtomicUsize::new(0),
        }
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(self.clone())
    }

    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
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

    /// The fault for an authorized mail-send request, if any: the first applying rule, else the
    /// chaos decision for (`key`, its attempt number). Counts the request against `key` either
    /// way, in the same critical section, so concurrent requests get distinct attempt numbers.
    pub fn take_fault(&self, raw_body: &str, key: Option<&str>) -> Option<Fault> {
        let mut records = self.lock();
        let attempt = key.map(|key| {
            let count = records.key_counts.entry(key.to_owned()).or_insert(0);
            let attempt = *count;
            *count += 1;
            attempt
        });
        if let Some(fault) = take_fault(&mut records.faults, raw_body) {
            return Some(fault);
        }
        let (Some(chaos), Some(key), Some(attempt)) = (&records.chaos, key, attempt) else {
            return None;
        };
        chaos.decide(key, attempt)
    }

    pub fn push_faults(&self, rules: impl IntoIterator<Item = FaultRule>) {
        self.lock()
            .faults
            .extend(rules.into_iter().filter(|rule| rule.count != Some(0)));
    }

    pub fn watch(&self, watcher: Sender<Attempt>) {
        self.lock().watchers.push(watcher);
    }

    /// Clears everything recorded, all faults and chaos (watchers stay subscribed).
    pub fn reset(&self) {
        let mut records = self.lock();
        records.emails.clear();
        records.attempts.clear();
        records.dead_letters.clear();
        records.queue_tap.clear();
        records.logs.clear();
        records.faults.clear();
        records.chaos = None;
        records.key_counts.clear();
    }
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
