//! The delivery protocol proven natively: the real SQL from `migrations/` in SQLite, the state
//! machine of `shared::delivery::protocol` driven through interleavings of two consumers holding
//! the same key, the same key twice in one batch, and a fault injected at every step.
//!
//! Invariants, checked on every run:
//! 1. no email is sent after a recorded send (SendGrid never accepts a key whose row is `sent`);
//! 2. no message is acked unless its send is recorded, SendGrid accepted it in this attempt, it
//!    is a known duplicate, or its dead letter (with a reason) was written;
//! 3. nothing is lost: every message ends emailed, a duplicate of one that was, or dead-lettered
//!    with its reason; under `UNKNOWN_OUTCOME=dead-letter` no key is emailed twice, and under
//!    `retry` a key is emailed twice only after an attempt whose outcome was unknown.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::types::Value as SqlParam;
use serde_json::{json, Value};
use shared::delivery::ledger::{
    LedgerAnswer, LedgerCall, LedgerRow, SqlValue, UnknownOutcomePolicy,
};
use shared::delivery::policy::RetryPolicy;
use shared::delivery::protocol::{
    Action, Batch, Body, Config, Event, Inbound, SendAnswer, Settlement, Step,
};
use shared::delivery::sendgrid::SendResult;
use shared::delivery::settings::Settings;

// ── The ledger: the real migrations in SQLite ──

struct Ledger {
    conn: rusqlite::Connection,
}

impl Ledger {
    fn new() -> Ledger {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        for file in files {
            conn.execute_batch(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        Ledger { conn }
    }

    /// Runs a call as D1's `batch` does: one transaction; the last statement's rows.
    fn run(&mut self, call: &LedgerCall) -> Result<Vec<LedgerRow>, String> {
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        for statement in &call.statements {
            let mut prepared = tx.prepare(statement.sql).map_err(|e| e.to_string())?;
            let params: Vec<SqlParam> = statement.params.iter().map(param).collect();
            let names: Vec<String> = prepared.column_names().map(|s| s.to_string()).collect();
            rows.clear();
            let mut result = prepared
                .query(rusqlite::params_from_iter(params))
                .map_err(|e| e.to_string())?;
            while let Some(row) = result.next().map_err(|e| e.to_string())? {
                let mut object = serde_json::Map::new();
                for (n, name) in names.iter().enumerate() {
                    let value = match row.get::<_, SqlParam>(n).unwrap() {
                        SqlParam::Null => Value::Null,
                        SqlParam::Integer(i) => json!(i),
                        SqlParam::Real(f) => json!(f),
                        SqlParam::Text(t) => json!(t),
                        SqlParam::Blob(_) => Value::Null,
                    };
                    object.insert(name.clone(), value);
                }
                rows.push(
                    serde_json::from_value(Value::Object(object)).map_err(|e| e.to_string())?,
                );
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(rows)
    }

    fn state(&self, key: &str) -> Option<String> {
        self.conn
            .query_row("SELECT state FROM deliveries WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .ok()
    }
}

fn param(value: &SqlValue) -> SqlParam {
    match value {
        SqlValue::Null => SqlParam::Null,
        SqlValue::Integer(i) => SqlParam::Integer(*i),
        SqlValue::Text(t) => SqlParam::Text(t.clone()),
    }
}

// ── Faults ──

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LedgerFault {
    Ok,
    /// Down: fails before running anything.
    Down,
    /// Runs and commits, but the answer is lost (the caller times out).
    CommitThenTimeout,
    /// Runs and commits, but the caller gets an error.
    CommitThenError,
    /// No answer in time, nothing committed.
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendFault {
    Accept,
    ServerError,
    BadRequest,
    /// Times out before SendGrid took it.
    TimeoutUnsent,
    /// SendGrid took it, but the answer never came.
    TimeoutSent,
    /// SendGrid took it, then the connection dropped (the stub's `AcceptThenClose`).
    AcceptThenClose,
}

impl SendFault {
    fn sends(self) -> bool {
        matches!(
            self,
            Self::Accept | Self::TimeoutSent | Self::AcceptThenClose
        )
    }
    fn unknown(self) -> bool {
        matches!(
            self,
            Self::TimeoutSent | Self::TimeoutUnsent | Self::AcceptThenClose
        )
    }
}

/// Where faults come from: a script (first entries), then a seeded random draw or `Ok`.
struct Faults {
    ledger: Vec<LedgerFault>,
    sends: Vec<SendFault>,
    rng: Option<u64>,
}

impl Faults {
    fn none() -> Faults {
        Faults {
            ledger: Vec::new(),
            sends: Vec::new(),
            rng: None,
        }
    }
    fn random(seed: u64) -> Faults {
        Faults {
            ledger: Vec::new(),
            sends: Vec::new(),
            rng: Some(seed),
        }
    }
    fn draw(&mut self, n: u64) -> u64 {
        let state = self.rng.as_mut().expect("random");
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 33) % n
    }
    fn ledger(&mut self) -> LedgerFault {
        if !self.ledger.is_empty() {
            return self.ledger.remove(0);
        }
        if self.rng.is_none() {
            return LedgerFault::Ok;
        }
        match self.draw(12) {
            0 => LedgerFault::Down,
            1 => LedgerFault::CommitThenTimeout,
            2 => LedgerFault::CommitThenError,
            3 => LedgerFault::Timeout,
            _ => LedgerFault::Ok,
        }
    }
    fn send(&mut self) -> SendFault {
        if !self.sends.is_empty() {
            return self.sends.remove(0);
        }
        if self.rng.is_none() {
            return SendFault::Accept;
        }
        match self.draw(14) {
            0 => SendFault::ServerError,
            1 => SendFault::BadRequest,
            2 => SendFault::TimeoutUnsent,
            3 => SendFault::TimeoutSent,
            4 => SendFault::AcceptThenClose,
            _ => SendFault::Accept,
        }
    }
}

// ── The world: ledger, SendGrid, queue, dead-letter queue, clock ──

#[derive(Debug, Clone)]
struct Queued {
    id: usize,
    body: String,
    key: String,
    attempts: u32,
    available_at: i64,
}

struct World {
    ledger: Ledger,
    faults: Faults,
    now_ms: i64,
    config: Config,
    /// Emails SendGrid took, by key.
    emails: HashMap<String, u32>,
    /// Keys with an attempt whose outcome was unknown to the consumer.
    unknown_attempts: HashSet<String>,
    queue: Vec<Queued>,
    /// Dead letters by message id: the reason.
    dead: BTreeMap<usize, String>,
    /// Acked message ids.
    acked: HashSet<usize>,
    violations: Vec<String>,
    seed: u64,
}

fn settings(unknown: UnknownOutcomePolicy) -> Config {
    let mut settings = Settings::from_lookup(|name| match name {
        "SENDGRID_API_KEY" => Some("SG.test".into()),
        "EMAIL_FROM" => Some("Bookings <bookings@example.com>".into()),
        "EMAIL_TO" => Some("staff@example.com".into()),
        _ => None,
    })
    .expect("valid settings");
    settings.unknown_outcome = unknown;
    settings.retry = RetryPolicy {
        base_delay_secs: 10,
        max_delay_secs: 600,
        config_error_delay_secs: 600,
        max_attempts: 6,
    };
    Ok(settings)
}

fn message(uid: &str, key: &str) -> String {
    json!({
        "v": 1,
        "key": key,
        "trigger": "BOOKING_CREATED",
        "received_at": "2026-12-01T09:00:00Z",
        "booking": {"uid": uid, "title": "Consultation", "start": "2026-12-02T10:00:00Z",
                     "end": "2026-12-02T10:30:00Z", "organizer": {"name": "Jane"}}
    })
    .to_string()
}

fn key_of(n: usize) -> String {
    format!("{n:032x}")
}

impl World {
    fn new(unknown: UnknownOutcomePolicy, faults: Faults, seed: u64) -> World {
        World {
            ledger: Ledger::new(),
            faults,
            now_ms: 1_800_000_000_000,
            config: settings(unknown),
            emails: HashMap::new(),
            unknown_attempts: HashSet::new(),
            queue: Vec::new(),
            dead: BTreeMap::new(),
            acked: HashSet::new(),
            violations: Vec::new(),
            seed,
        }
    }

    fn enqueue(&mut self, id: usize, key: &str) {
        self.queue.push(Queued {
            id,
            body: message(&format!("uid-{id}"), key),
            key: key.to_owned(),
            attempts: 1,
            available_at: self.now_ms,
        });
    }

    fn policy(&self) -> UnknownOutcomePolicy {
        self.config.as_ref().unwrap().unknown_outcome
    }

    fn ledger_call(&mut self, call: &LedgerCall) -> LedgerAnswer {
        let fault = self.faults.ledger();
        self.now_ms += 3;
        match fault {
            LedgerFault::Down => LedgerAnswer::Failed("D1_ERROR: Network connection lost.".into()),
            LedgerFault::Timeout => {
                self.now_ms += i64::from(call.timeout_ms);
                LedgerAnswer::TimedOut
            }
            LedgerFault::Ok | LedgerFault::CommitThenTimeout | LedgerFault::CommitThenError => {
                let result = self.ledger.run(call);
                match (fault, result) {
                    (_, Err(e)) => panic!("the real SQL must run: {e}"),
                    (LedgerFault::Ok, Ok(rows)) => LedgerAnswer::Rows(rows),
                    (LedgerFault::CommitThenTimeout, Ok(_)) => {
                        self.now_ms += i64::from(call.timeout_ms);
                        LedgerAnswer::TimedOut
                    }
                    (_, Ok(_)) => LedgerAnswer::Failed("D1_ERROR: internal error".into()),
                }
            }
        }
    }

    fn send(&mut self, body: &str, timeout_ms: u32) -> SendAnswer {
        let request: Value = serde_json::from_str(body).expect("the request is JSON");
        let key = request["custom_args"]["idempotency_key"]
            .as_str()
            .expect("the request names its key")
            .to_owned();
        let fault = self.faults.send();
        if fault.sends() {
            if self.ledger.state(&key).as_deref() == Some("sent") {
                self.violations.push(format!(
                    "invariant 1: {key} was emailed after its send was recorded"
                ));
            }
            *self.emails.entry(key.clone()).or_default() += 1;
        }
        if fault.unknown() {
            self.unknown_attempts.insert(key.clone());
        }
        let status = |status: u16| SendResult::Status {
            status,
            retry_after_secs: None,
            rate_limit_reset_unix: None,
            error_summary: None,
        };
        let (result, message_id, took) = match fault {
            SendFault::Accept => (status(202), Some(format!("msg-{key}")), 40),
            SendFault::ServerError => (status(503), None, 40),
            SendFault::BadRequest => (status(400), None, 40),
            SendFault::TimeoutUnsent | SendFault::TimeoutSent => {
                (SendResult::Timeout, None, i64::from(timeout_ms))
            }
            SendFault::AcceptThenClose => (
                SendResult::NetworkError("connection closed".into()),
                None,
                40,
            ),
        };
        self.now_ms += took;
        SendAnswer {
            result,
            message_id,
            duration_ms: took as u64,
        }
    }
}

/// One consumer's batch, advanced one I/O step at a time (so two can interleave).
struct Run<'a> {
    batch: Batch<'a>,
    messages: Vec<Queued>,
    event: Option<Event>,
    /// Keys SendGrid accepted in this batch, and messages whose dead letter was written.
    accepted: HashSet<String>,
    dead_lettered: HashSet<usize>,
    settlement: Option<Settlement>,
}

impl<'a> Run<'a> {
    fn new(messages: Vec<Queued>, config: &'a Config, seed: u64) -> Run<'a> {
        let inbound = messages
            .iter()
            .map(|m| Inbound {
                attempts: m.attempts,
                body: Body::Json(m.body.clone()),
            })
            .collect();
        Run {
            batch: Batch::new(inbound, config, seed),
            messages,
            event: Some(Event::Start),
            accepted: HashSet::new(),
            dead_lettered: HashSet::new(),
            settlement: None,
        }
    }

    fn done(&self) -> bool {
        self.settlement.is_some()
    }

    /// Advances the machine and does the I/O it asks for.
    fn step(&mut self, world: &mut World) {
        let event = self.event.take().expect("not settled");
        match self.batch.advance(event, world.now_ms) {
            Step::Ledger(calls) => {
                let answers = calls.iter().map(|c| world.ledger_call(c)).collect();
                self.event = Some(Event::Ledger(answers));
            }
            Step::Send(plan) => {
                assert!(plan.bodies.len() <= self.messages.len());
                let mut answers = Vec::new();
                for body in &plan.bodies {
                    let answer = world.send(body, plan.timeout_ms);
                    if matches!(
                        answer.result,
                        SendResult::Status {
                            status: 200..=299,
                            ..
                        }
                    ) {
                        let request: Value = serde_json::from_str(body).unwrap();
                        let key = request["custom_args"]["idempotency_key"].as_str().unwrap();
                        self.accepted.insert(key.to_owned());
                    }
                    answers.push(answer);
                }
                self.event = Some(Event::Sent(answers));
            }
            Step::DeadLetter(letters) => {
                let mut answers = Vec::new();
                for letter in &letters {
                    let letter: Value = serde_json::from_str(letter).unwrap();
                    let reason = letter["dead_letter"]["reason"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let key = letter["original"]["key"].as_str().unwrap_or("");
                    let id = self
                        .messages
                        .iter()
                        .find(|m| m.key == key && !self.dead_lettered.contains(&m.id))
                        .map(|m| m.id)
                        .expect("a dead letter of a message of this batch");
                    if reason.is_empty() {
                        world
                            .violations
                            .push(format!("dead letter of message {id} has no reason"));
                    }
                    self.dead_lettered.insert(id);
                    world.dead.insert(id, reason);
                    answers.push(Ok(()));
                }
                self.event = Some(Event::DeadLettered(answers));
            }
            Step::Settle(settlement) => self.settle(world, settlement),
        }
    }

    fn settle(&mut self, world: &mut World, settlement: Settlement) {
        assert_eq!(settlement.actions.len(), self.messages.len());
        for background in &settlement.background {
            for _ in background.pauses_ms {
                world.now_ms += 1_000;
                if matches!(world.ledger_call(&background.call), LedgerAnswer::Rows(_)) {
                    break;
                }
            }
        }
        let mut held: HashSet<String> = HashSet::new();
        for (message, action) in self.messages.iter().zip(&settlement.actions) {
            match action {
                Action::Ack => {
                    let recorded = world.ledger.state(&message.key).as_deref() == Some("sent");
                    let ok = recorded
                        || self.accepted.contains(&message.key)
                        || self.dead_lettered.contains(&message.id)
                        || held.contains(&message.key);
                    if !ok {
                        world.violations.push(format!(
                            "invariant 2: message {} ({}) acked without a recorded or accepted send, duplicate or dead letter",
                            message.id, message.key
                        ));
                    }
                    world.acked.insert(message.id);
                }
                Action::Retry { delay_seconds } => {
                    let max = world.config.as_ref().unwrap().retry.max_attempts;
                    let mut again = message.clone();
                    if again.attempts >= max {
                        // The queue moves it to the DLQ itself, unchanged: no reason travels.
                        world.dead.insert(message.id, String::new());
                        world.violations.push(format!(
                            "message {} moved to the DLQ without a reason",
                            message.id
                        ));
                    } else {
                        again.attempts += 1;
                        again.available_at = world.now_ms + i64::from(*delay_seconds) * 1_000;
                        world.queue.push(again);
                    }
                }
            }
            held.insert(message.key.clone());
        }
        self.settlement = Some(settlement);
    }
}

impl World {
    /// Delivers everything still queued, batch by batch, until the queue is empty.
    fn drain(&mut self, batch_size: usize) {
        let config = self.config.clone();
        for round in 0..200 {
            if self.queue.is_empty() {
                return;
            }
            self.queue.sort_by_key(|m| (m.available_at, m.id));
            self.now_ms = self.now_ms.max(self.queue[0].available_at);
            let ready = self
                .queue
                .iter()
                .take_while(|m| m.available_at <= self.now_ms)
                .count();
            let batch: Vec<Queued> = self.queue.drain(..ready.min(batch_size)).collect();
            let mut run = Run::new(batch, &config, self.seed ^ round);
            while !run.done() {
                run.step(self);
            }
        }
        panic!("the queue did not drain");
    }

    /// Invariant 3 and the duplicate rules, for messages `0..n`.
    fn check_end(&mut self, n: usize) {
        for id in 0..n {
            let emailed = self.acked.contains(&id);
            let dead = self.dead.get(&id).is_some_and(|r| !r.is_empty());
            if !(emailed || dead) {
                self.violations
                    .push(format!("invariant 3: message {id} was lost"));
            }
        }
        for (key, count) in &self.emails {
            if *count > 1 {
                let allowed = self.policy() == UnknownOutcomePolicy::Retry
                    && self.unknown_attempts.contains(key);
                if !allowed {
                    self.violations
                        .push(format!("{key} was emailed {count} times"));
                }
            }
        }
    }

    fn assert_clean(&self, context: &str) {
        assert!(
            self.violations.is_empty(),
            "{context}:\n{}",
            self.violations.join("\n")
        );
    }
}

const POLICIES: [UnknownOutcomePolicy; 2] = [
    UnknownOutcomePolicy::Retry,
    UnknownOutcomePolicy::DeadLetter,
];

// ── Tests ──

#[test]
fn a_clean_batch_claims_in_one_call_and_records_in_one_call() {
    let mut world = World::new(UnknownOutcomePolicy::Retry, Faults::none(), 1);
    for id in 0..10 {
        world.enqueue(id, &key_of(id));
    }
    let config = world.config.clone();
    let batch: Vec<Queued> = world.queue.drain(..).collect();
    let mut run = Run::new(batch, &config, 7);
    while !run.done() {
        run.step(&mut world);
    }
    let settlement = run.settlement.unwrap();
    assert_eq!(settlement.d1_calls, 2);
    assert!(settlement.actions.iter().all(|a| *a == Action::Ack));
    assert!(settlement.background.is_empty());
    for id in 0..10 {
        assert_eq!(world.ledger.state(&key_of(id)).as_deref(), Some("sent"));
        assert_eq!(world.emails[&key_of(id)], 1);
    }
    let line = settlement.lines.last().unwrap().render("consumer");
    assert!(line.contains(r#""d1_calls":2"#), "{line}");
    world.check_end(10);
    world.assert_clean("clean batch");
}

/// The defect this protocol fixes: SendGrid answers 202, then D1 fails every try at recording
/// it. The old consumer retried such a message under `UNKNOWN_OUTCOME=retry`, and once the claim
/// expired the retry sent a second email. Now the message is acked (the send is known) and the
/// record is written in the background.
#[test]
fn an_accepted_send_whose_record_fails_is_acked_and_never_sent_again() {
    for policy in POLICIES {
        // claim ok; record: batch call fails, then the per-message call fails; the background
        // gets through on its second try.
        let faults = Faults {
            ledger: vec![
                LedgerFault::Ok,
                LedgerFault::Down,
                LedgerFault::Down,
                LedgerFault::Down,
            ],
            sends: vec![SendFault::Accept],
            rng: None,
        };
        let mut world = World::new(policy, faults, 42);
        world.enqueue(0, &key_of(0));
        world.drain(10);
        assert!(world.acked.contains(&0));
        assert_eq!(world.ledger.state(&key_of(0)).as_deref(), Some("sent"));
        // The same delivery again (a Cal.com repeat or a replay): acked, not sent.
        world.enqueue(1, &key_of(0));
        world.drain(10);
        assert_eq!(world.emails[&key_of(0)], 1, "{policy:?}");
        world.check_end(2);
        world.assert_clean(&format!("{policy:?}"));
    }
}

#[test]
fn an_accepted_send_whose_record_times_out_is_acked_and_recorded_in_the_background() {
    let faults = Faults {
        ledger: vec![LedgerFault::Ok, LedgerFault::Timeout],
        sends: vec![SendFault::Accept],
        rng: None,
    };
    let mut world = World::new(UnknownOutcomePolicy::Retry, faults, 3);
    world.enqueue(0, &key_of(0));
    let config = world.config.clone();
    let batch: Vec<Queued> = world.queue.drain(..).collect();
    let mut run = Run::new(batch, &config, 9);
    while !run.done() {
        run.step(&mut world);
    }
    let settlement = run.settlement.unwrap();
    assert_eq!(settlement.actions, vec![Action::Ack]);
    assert_eq!(settlement.background.len(), 1);
    assert_eq!(world.ledger.state(&key_of(0)).as_deref(), Some("sent"));
    world.assert_clean("record timeout");
}

#[test]
fn the_same_key_twice_in_one_batch_is_sent_once() {
    for policy in POLICIES {
        let mut world = World::new(policy, Faults::none(), 5);
        world.enqueue(0, &key_of(0));
        world.enqueue(1, &key_of(0));
        world.enqueue(2, &key_of(2));
        world.drain(10);
        assert_eq!(world.emails[&key_of(0)], 1);
        world.check_end(3);
        world.assert_clean(&format!("{policy:?}"));
    }
}

/// A missing table is named once, at error level, with the command that fixes it; the messages
/// are retried, not lost, and nothing is sent.
#[test]
fn a_missing_table_retries_and_names_the_fix() {
    let mut world = World::new(UnknownOutcomePolicy::Retry, Faults::none(), 1);
    world
        .ledger
        .conn
        .execute_batch("DROP TABLE deliveries")
        .unwrap();
    world.enqueue(0, &key_of(0));
    let config = world.config.clone();
    let batch: Vec<Queued> = world.queue.drain(..).collect();
    let mut run = Run::new(batch, &config, 1);
    let mut steps = 0;
    while !run.done() {
        let event = run.event.take().unwrap();
        match run.batch.advance(event, world.now_ms) {
            Step::Ledger(calls) => {
                steps += 1;
                let answers = calls
                    .iter()
                    .map(|c| match world.ledger.run(c) {
                        Ok(rows) => LedgerAnswer::Rows(rows),
                        Err(e) => LedgerAnswer::Failed(e),
                    })
                    .collect();
                run.event = Some(Event::Ledger(answers));
            }
            Step::Settle(s) => run.settlement = Some(s),
            other => panic!("nothing may be sent without a ledger: {other:?}"),
        }
    }
    assert_eq!(steps, 1, "no per-message fallback for a missing table");
    let settlement = run.settlement.unwrap();
    assert!(matches!(settlement.actions[0], Action::Retry { .. }));
    assert_eq!(settlement.notices.len(), 1);
    let notice = settlement.notices[0].1.render("consumer");
    assert!(notice.contains(r#""level":"error""#), "{notice}");
    assert!(
        notice.contains("d1 migrations apply booking-deliveries"),
        "{notice}"
    );
    assert!(world.emails.is_empty());
}

/// Every fault at every step of one message's first attempt, under both policies; then the
/// queue drains fault-free and every invariant holds.
#[test]
fn a_fault_at_every_step_keeps_every_invariant() {
    let ledger_faults = [
        LedgerFault::Down,
        LedgerFault::CommitThenTimeout,
        LedgerFault::CommitThenError,
        LedgerFault::Timeout,
    ];
    let send_faults = [
        SendFault::Accept,
        SendFault::ServerError,
        SendFault::BadRequest,
        SendFault::TimeoutUnsent,
        SendFault::TimeoutSent,
        SendFault::AcceptThenClose,
    ];
    for policy in POLICIES {
        for send in send_faults {
            // The fault at the claim, at the record, or at the fallback's first call.
            for at in 0..3 {
                for fault in ledger_faults {
                    let mut ledger = vec![LedgerFault::Ok; 3];
                    ledger[at] = fault;
                    let faults = Faults {
                        ledger,
                        sends: vec![send],
                        rng: None,
                    };
                    let mut world = World::new(policy, faults, at as u64);
                    world.enqueue(0, &key_of(0));
                    world.enqueue(1, &key_of(1));
                    world.drain(10);
                    // A Cal.com repeat of the first, after everything settled.
                    world.enqueue(2, &key_of(0));
                    world.drain(10);
                    world.check_end(3);
                    world.assert_clean(&format!(
                        "{policy:?}, send {send:?}, {fault:?} at call {at}"
                    ));
                }
            }
        }
    }
}

/// Two consumers hold the same key (a repeat delivered as two queue messages): every order of
/// their I/O steps, with and without faults on the first one's send and record.
#[test]
fn two_consumers_with_the_same_key_in_every_interleaving() {
    let scripts: [(Vec<LedgerFault>, Vec<SendFault>); 5] = [
        (vec![], vec![]),
        (vec![], vec![SendFault::TimeoutSent]),
        (vec![], vec![SendFault::AcceptThenClose]),
        (
            vec![LedgerFault::Ok, LedgerFault::Down, LedgerFault::Down],
            vec![],
        ),
        (
            vec![LedgerFault::Ok, LedgerFault::CommitThenTimeout],
            vec![SendFault::ServerError],
        ),
    ];
    let mut runs = 0;
    for policy in POLICIES {
        for (ledger, sends) in &scripts {
            for schedule in 0u32..(1 << 8) {
                let faults = Faults {
                    ledger: ledger.clone(),
                    sends: sends.clone(),
                    rng: None,
                };
                let mut world = World::new(policy, faults, u64::from(schedule));
                world.enqueue(0, &key_of(0));
                world.enqueue(1, &key_of(0));
                let config = world.config.clone();
                let a: Vec<Queued> = world.queue.drain(..1).collect();
                let b: Vec<Queued> = world.queue.drain(..).collect();
                let mut first = Run::new(a, &config, 11);
                let mut second = Run::new(b, &config, 22);
                let mut bit = 0;
                while !(first.done() && second.done()) {
                    let pick_second = (schedule >> (bit % 8)) & 1 == 1;
                    bit += 1;
                    if (pick_second && !second.done()) || first.done() {
                        second.step(&mut world);
                    } else {
                        first.step(&mut world);
                    }
                }
                world.drain(10);
                world.check_end(2);
                world.assert_clean(&format!(
                    "{policy:?}, script {ledger:?} {sends:?}, schedule {schedule:08b}"
                ));
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 2 * 5 * 256);
}

/// Random faults everywhere, many seeds, batches with repeats: the invariants always hold.
#[test]
fn seeded_random_faults_never_break_an_invariant() {
    for seed in 0..300u64 {
        for policy in POLICIES {
            let mut world = World::new(policy, Faults::random(seed), seed);
            for id in 0..12 {
                // Every third message repeats an earlier key.
                let key = if id % 3 == 2 {
                    key_of(id - 1)
                } else {
                    key_of(id)
                };
                world.enqueue(id, &key);
            }
            world.drain(5);
            world.check_end(12);
            world.assert_clean(&format!("seed {seed}, {policy:?}"));
        }
    }
}

/// Runs `batch` against the world's ledger, `send` answering each email, every dead letter
/// written; the settlement and the dead letters.
fn run_to_settlement(
    mut batch: Batch<'_>,
    world: &mut World,
    mut send: impl FnMut(&mut World, &str) -> SendAnswer,
) -> (Settlement, Vec<String>) {
    let mut event = Event::Start;
    let mut letters = Vec::new();
    loop {
        event = match batch.advance(event, world.now_ms) {
            Step::Ledger(calls) => {
                Event::Ledger(calls.iter().map(|c| world.ledger_call(c)).collect())
            }
            Step::Send(plan) => Event::Sent(plan.bodies.iter().map(|b| send(world, b)).collect()),
            Step::DeadLetter(bodies) => {
                letters.extend(bodies.iter().cloned());
                Event::DeadLettered(bodies.iter().map(|_| Ok(())).collect())
            }
            Step::Settle(settlement) => return (settlement, letters),
        };
    }
}

/// A body the consumer cannot read still reaches the dead-letter queue whole: raw bytes as
/// base64, an unreadable one with the runtime's error; the good message beside them is sent.
#[test]
fn unreadable_bodies_are_dead_lettered_with_what_there_was() {
    let mut world = World::new(UnknownOutcomePolicy::Retry, Faults::none(), 1);
    let config = world.config.clone();
    let inbound = vec![
        Inbound {
            attempts: 1,
            body: Body::Bytes(vec![0xff, 0xfe, b'{']),
        },
        Inbound {
            attempts: 1,
            body: Body::Unreadable("DataCloneError".into()),
        },
        Inbound {
            attempts: 1,
            body: Body::Text(message("uid-ok", &key_of(9))),
        },
    ];
    let batch = Batch::new(inbound, &config, 5);
    let (settlement, letters) =
        run_to_settlement(batch, &mut world, |world, body| world.send(body, 1_000));
    assert_eq!(settlement.actions, vec![Action::Ack; 3]);
    assert_eq!(world.emails[&key_of(9)], 1);
    assert_eq!(letters.len(), 2);
    let first: Value = serde_json::from_str(&letters[0]).unwrap();
    assert_eq!(first["original"]["raw_base64"], "//57");
    assert!(
        first["dead_letter"]["reason"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{first}"
    );
    let second: Value = serde_json::from_str(&letters[1]).unwrap();
    assert!(
        second["dead_letter"]["reason"]
            .as_str()
            .unwrap()
            .contains("DataCloneError"),
        "{second}"
    );
    // A dead letter that cannot be written is retried, not acked.
    let mut batch = Batch::new(
        vec![Inbound {
            attempts: 1,
            body: Body::Text("not json".into()),
        }],
        &config,
        6,
    );
    let Step::DeadLetter(_) = batch.advance(Event::Start, world.now_ms) else {
        panic!("a dead letter")
    };
    let Step::Settle(settlement) = batch.advance(
        Event::DeadLettered(vec![Err("queue unavailable".into())]),
        world.now_ms,
    ) else {
        panic!("settled")
    };
    assert_eq!(
        settlement.actions,
        vec![Action::Retry { delay_seconds: 60 }]
    );
    assert!(settlement.lines[0]
        .render("consumer")
        .contains("dead_letter_send_failed"));
}

/// `samples/booking-created.json`, the `v: 2` message the producer sends for it, and the
/// booking message the consumer reads it into.
fn forwarded_sample() -> (Value, String, shared::contract::message::BookingMessage) {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/booking-created.json"
    );
    let delivery: Value = serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap();
    let forwarded = shared::contract::forward::write(
        "2026-12-02T10:00:00.000Z",
        &serde_json::to_string(&delivery).unwrap(),
    );
    let expected = shared::contract::decode::decode_message_str(&forwarded).unwrap();
    (delivery, forwarded, expected)
}

#[test]
fn a_forwarded_delivery_is_dead_lettered_as_the_message_it_was_read_into() {
    let mut world = World::new(UnknownOutcomePolicy::Retry, Faults::none(), 1);
    let config = world.config.clone();
    let (delivery, forwarded, expected) = forwarded_sample();
    let inbound = vec![Inbound {
        attempts: 1,
        body: Body::Text(forwarded),
    }];
    let batch = Batch::new(inbound, &config, 7);
    // SendGrid refuses it for good: a 400 is not retried.
    let (settlement, letters) = run_to_settlement(batch, &mut world, |_, _| SendAnswer {
        result: SendResult::from_response(
            400,
            None,
            None,
            r#"{"errors":[{"message":"Invalid from address","field":"from"}]}"#,
            0,
        ),
        message_id: None,
        duration_ms: 10,
    });
    assert_eq!(settlement.actions, vec![Action::Ack]);
    assert_eq!(letters.len(), 1);
    let letter: Value = serde_json::from_str(&letters[0]).unwrap();
    // The booking and its key, as a `v: 1` message: an operator reads it, a replay keeps the key.
    assert_eq!(letter["original"]["v"], 1);
    assert_eq!(letter["original"]["key"], expected.key.as_str());
    assert_eq!(
        letter["original"]["booking"]["uid"],
        delivery["payload"]["uid"]
    );
    assert_eq!(
        shared::contract::decode::decode_message(&letter).unwrap(),
        expected
    );
    assert_eq!(letter["dead_letter"]["last_status"], 400);
}

#[test]
fn a_forwarded_delivery_dead_lettered_for_missing_settings_carries_its_booking() {
    let (_, forwarded, expected) = forwarded_sample();
    // No SendGrid key: a configuration error, dead-lettered once its retries are spent.
    let config: Config = Settings::from_lookup(|name| match name {
        "EMAIL_FROM" => Some("Bookings <bookings@example.com>".into()),
        "EMAIL_TO" => Some("staff@example.com".into()),
        "MAX_RETRIES" => Some("1".into()),
        _ => None,
    });
    assert!(config.is_err());
    let inbound = vec![Inbound {
        attempts: 9,
        body: Body::Text(forwarded),
    }];
    let mut batch = Batch::new(inbound, &config, 8);
    let Step::DeadLetter(letters) = batch.advance(Event::Start, 0) else {
        panic!("a dead letter")
    };
    let letter: Value = serde_json::from_str(&letters[0]).unwrap();
    assert_eq!(letter["original"]["key"], expected.key.as_str());
    assert_eq!(
        shared::contract::decode::decode_message(&letter).unwrap(),
        expected
    );
    assert!(letter["dead_letter"]["reason"]
        .as_str()
        .unwrap()
        .contains("SENDGRID_API_KEY"));
}
