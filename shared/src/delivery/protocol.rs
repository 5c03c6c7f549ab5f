//! The consumer's whole protocol for one queue batch, as a state machine that does no I/O.
//!
//! The shell feeds it the batch ([`Batch::new`]) and then, in a loop, the answers to what it
//! asked for ([`Batch::advance`]); each call returns the next [`Step`] as data: ledger calls to
//! run, emails to send, dead letters to write, and finally the [`Settlement`]: every message's
//! ack or retry, the log lines, and the records to keep writing in the background. It is the
//! model of rustls' unbuffered API: the core returns a state, the caller does the I/O.
//!
//! ```text
//! Start ─▶ claim (1 D1 call) ─▶ send (≤ 6 in flight) ─▶ record (1 D1 call) ─▶ dead letters ─▶ settle
//!            │ failed: one call per message             │ failed: one call per message
//!            │ timed out: not ours, retry later         │ timed out: accepted stays acked, record in the background
//! ```
//!
//! The rules that make "never a second email once a send is recorded" hold:
//! - nothing is sent without a claim from the ledger ([`super::ledger`]);
//! - a send SendGrid accepted is acked even when its record cannot be written: it is recorded in
//!   the background, and never sent again by this message;
//! - a claim's lease covers the claim, every wave of sends and the record, so no other delivery
//!   takes the key over while this batch may still send it;
//! - a lost claim is read with the same clock the claim used, under the configured
//!   [`UnknownOutcomePolicy`];
//! - a message is acked only when its send is recorded, SendGrid accepted it, it is a known
//!   duplicate, or its dead letter was written; everything else is retried.

use serde_json::Value;

use crate::contract::dead_letter::DeadLetter;
use crate::contract::decode::{decode, Decoded, UndecodableReason};
use crate::contract::forward;
use crate::contract::message::BookingMessage;
use crate::delivery::email;
use crate::delivery::ledger::{
    self, claim_call, record_call, ClaimRequest, LedgerAnswer, LedgerCall, LedgerError, LedgerRow,
    LedgerState, Record, UnknownOutcomePolicy,
};
use crate::delivery::policy::{self, Decision};
use crate::delivery::sendgrid::{self, mail_send_url, SendResult};
use crate::delivery::settings::{Misconfigured, Settings};
use crate::logging::{Level, LogLine};
use crate::text::{base64_encode, truncate_bytes};

/// Workers allow 6 simultaneous outbound connections per invocation.
pub const MAX_IN_FLIGHT: usize = 6;

/// Pauses before each background try of a record the foreground could not write.
pub const RECORD_PAUSES_MS: &[u32] = &[1_000, 5_000, 15_000, 30_000];

/// The retry delay of a message whose dead letter could not be written: on its last attempt the
/// queue itself moves it to the dead-letter queue, unchanged.
pub const DEAD_LETTER_SEND_FAILED_DELAY_SECS: u32 = 60;

/// One message as the queue hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// Queues' delivery count, from 1.
    pub attempts: u32,
    pub body: Body,
}

/// A queue body as the runtime gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A `json` message, as JSON text.
    Json(String),
    /// A `text` message (e.g. pasted in the dashboard).
    Text(String),
    /// A `bytes` message.
    Bytes(Vec<u8>),
    /// The runtime could not give the body (the error's text).
    Unreadable(String),
}

/// What the shell reports back.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Nothing yet: the first call.
    Start,
    /// The answers to a [`Step::Ledger`], in order.
    Ledger(Vec<LedgerAnswer>),
    /// The answers to a [`Step::Send`], in order.
    Sent(Vec<SendAnswer>),
    /// Whether each dead letter of a [`Step::DeadLetter`] was written, in order.
    DeadLettered(Vec<Result<(), String>>),
}

/// SendGrid's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SendAnswer {
    pub result: SendResult,
    /// `X-Message-ID`, when SendGrid gave one.
    pub message_id: Option<String>,
    pub duration_ms: u64,
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run each call (each one D1 round trip) and answer them in order.
    Ledger(Vec<LedgerCall>),
    /// Send each request body to `url`, at most `max_in_flight` at once, each within `timeout_ms`.
    Send(SendPlan),
    /// Send each body to the dead-letter queue (as JSON) and answer in order.
    DeadLetter(Vec<String>),
    /// The end: carry it out.
    Settle(Settlement),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendPlan {
    pub url: String,
    pub timeout_ms: u32,
    pub max_in_flight: usize,
    pub bodies: Vec<String>,
}

/// What becomes of the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// One per message, in the batch's order.
    pub actions: Vec<Action>,
    /// The log lines to write: one per message, then one for the batch.
    pub lines: Vec<LogLine>,
    /// Problems to log once per isolate, by a stable name.
    pub notices: Vec<(&'static str, LogLine)>,
    /// Records to keep trying after the batch is settled (`ctx.wait_until`).
    pub background: Vec<Background>,
    /// Foreground ledger calls this batch made.
    pub d1_calls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ack,
    Retry { delay_seconds: u32 },
}

/// A record to write in the background: try `call` after each pause; log `gave_up` if no try
/// succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    pub call: LedgerCall,
    pub pauses_ms: &'static [u32],
    pub gave_up: LogLine,
}

/// The configuration a batch runs under.
pub type Config = Result<Settings, Misconfigured>;

/// One batch in progress.
pub struct Batch<'a> {
    config: &'a Config,
    claim_id: String,
    rng: u64,
    now_ms: i64,
    items: Vec<Item>,
    phase: Phase,
    d1_calls: u32,
    notices: Vec<(&'static str, LogLine)>,
    background: Vec<Background>,
    /// The records of this batch's sends, by item, while they are being written.
    records: Vec<(usize, Record)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Claiming { per_message: bool },
    Sending,
    Recording { per_message: bool },
    DeadLettering,
    Settled,
}

struct Item {
    attempts: u32,
    /// What a dead letter of this message carries.
    original: Original,
    message: Option<BookingMessage>,
    line: LogLine,
    fate: Fate,
    status: Option<u16>,
}

/// A message's original, for its dead letter: made only when one is written, as most messages
/// never need it.
enum Original {
    /// The body as JSON.
    Body(Value),
    /// A forwarded delivery: the message it was read into (`v: 1`), so that a dead letter shows
    /// the booking and its key like any other, and replays to the same key.
    Decoded,
}

#[derive(Debug, Clone, PartialEq)]
enum Fate {
    /// Decoded; its claim is pending.
    Open,
    /// The same key as an earlier message of this batch, which carries it.
    SameKeyAs(usize),
    /// Ours: to send.
    Claimed,
    /// The ledger says it was sent already.
    Duplicate,
    Decided(Decision),
    /// Its dead letter is written (with this reason).
    DeadLettered(String),
    /// Its dead letter could not be written.
    DeadLetterFailed(String),
}

impl<'a> Batch<'a> {
    /// `seed` is a random number (the claim id and every jitter come from it).
    pub fn new(inbound: Vec<Inbound>, config: &'a Config, seed: u64) -> Batch<'a> {
        let mut rng = seed;
        let claim_id = format!("{:016x}", next_random(&mut rng));
        let mut batch = Batch {
            config,
            claim_id,
            rng,
            now_ms: 0,
            items: Vec::with_capacity(inbound.len()),
            phase: Phase::Start,
            d1_calls: 0,
            notices: Vec::new(),
            background: Vec::new(),
            records: Vec::new(),
        };
        for message in inbound {
            batch.admit(message);
        }
        batch
    }

    /// The claim id this batch writes into the ledger.
    pub fn claim_id(&self) -> &str {
        &self.claim_id
    }

    /// Takes what the shell saw (the answers to the last step) and the time now; returns the
    /// next step. Answers missing or of the wrong kind count as failures of the step.
    pub fn advance(&mut self, event: Event, now_ms: i64) -> Step {
        self.now_ms = now_ms;
        let ledger = |event: Event| match event {
            Event::Ledger(answers) => answers,
            _ => Vec::new(),
        };
        match self.phase {
            Phase::Start => self.claim(),
            Phase::Claiming { per_message } => self.claimed(ledger(event), per_message),
            Phase::Sending => match event {
                Event::Sent(answers) => self.sent(answers),
                _ => self.sent(Vec::new()),
            },
            Phase::Recording { per_message } => self.recorded(ledger(event), per_message),
            Phase::DeadLettering => match event {
                Event::DeadLettered(answers) => self.dead_lettered(answers),
                _ => self.dead_lettered(Vec::new()),
            },
            Phase::Settled => Step::Settle(self.settlement()),
        }
    }

    /// Reads one message into an item: decoded and open, a copy of an earlier key, or decided
    /// at once (settings incomplete, body undecodable).
    fn admit(&mut self, inbound: Inbound) {
        let attempts = inbound.attempts.max(1);
        let mut line = LogLine::new(Level::Info, "message").with("attempt", attempts);
        let (original, decoded) = read_body(inbound.body);
        let (message, fate) = match (self.config, decoded) {
            // Decided at once, but its message kept: a dead letter of a forwarded delivery
            // carries it.
            (Err(misconfigured), decoded) => {
                let decision = policy::decide_misconfigured(
                    &misconfigured.summary(),
                    attempts,
                    &misconfigured.retry,
                );
                (decoded.ok(), Fate::Decided(decision))
            }
            (Ok(_), Err(reason)) => {
                line.set("undecodable", reason.code());
                (None, Fate::Decided(policy::decide_undecodable(&reason)))
            }
            (Ok(_), Ok(message)) => {
                line.set("trigger", message.trigger.as_str());
                line.set("uid", message.booking.uid.as_str());
                line.set("key", message.key.as_str());
                let first = self
                    .items
                    .iter()
                    .position(|item| item.message.as_ref().is_some_and(|m| m.key == message.key));
                let fate = first.map_or(Fate::Open, Fate::SameKeyAs);
                (Some(message), fate)
            }
        };
        self.items.push(Item {
            attempts,
            original,
            message,
            line,
            fate,
            status: None,
        });
    }

    fn settings(&self) -> &'a Settings {
        self.config
            .as_ref()
            .expect("only messages of a configured batch reach the ledger")
    }

    fn open(&self, fate: &Fate) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| &self.items[i].fate == fate)
            .collect()
    }

    // ── Claim ──

    fn claim(&mut self) -> Step {
        let open = self.open(&Fate::Open);
        if open.is_empty() {
            return self.dead_letter();
        }
        self.phase = Phase::Claiming { per_message: false };
        Step::Ledger(vec![self.claim_call(&open)])
    }

    fn claim_call(&self, indices: &[usize]) -> LedgerCall {
        let settings = self.settings();
        let keys: Vec<ClaimRequest<'_>> = indices
            .iter()
            .filter_map(|&i| self.items[i].message.as_ref())
            .map(|m| ClaimRequest {
                key: &m.key,
                trigger: m.trigger.as_str(),
                booking_uid: &m.booking.uid,
            })
            .collect();
        // One lease for the batch: it must cover every message this batch may send.
        let lease = ledger::lease_ms(
            self.open(&Fate::Open).len(),
            MAX_IN_FLIGHT,
            settings.timeout_ms,
        );
        claim_call(
            &keys,
            &self.claim_id,
            self.now_ms,
            self.now_ms.saturating_add(lease as i64),
            settings.unknown_outcome,
        )
    }

    fn claimed(&mut self, answers: Vec<LedgerAnswer>, per_message: bool) -> Step {
        let open = self.open(&Fate::Open);
        self.d1_calls += if per_message { open.len() } else { 1 } as u32;
        if per_message {
            for (n, &i) in open.iter().enumerate() {
                let answer = answers.get(n).cloned().unwrap_or(LedgerAnswer::TimedOut);
                self.apply_claim_answer(&[i], answer);
            }
            return self.send();
        }
        match answers.into_iter().next().unwrap_or(LedgerAnswer::TimedOut) {
            LedgerAnswer::Failed(error)
                if LedgerError::classify(&error) == LedgerError::Unavailable =>
            {
                // One bad call should not cost the whole batch: claim one message at a time.
                self.phase = Phase::Claiming { per_message: true };
                let calls = open.iter().map(|&i| self.claim_call(&[i])).collect();
                Step::Ledger(calls)
            }
            answer => {
                self.apply_claim_answer(&open, answer);
                self.send()
            }
        }
    }

    fn apply_claim_answer(&mut self, indices: &[usize], answer: LedgerAnswer) {
        match answer {
            LedgerAnswer::Rows(rows) => {
                for &i in indices {
                    let key = &self.items[i]
                        .message
                        .as_ref()
                        .expect("open items are decoded")
                        .key;
                    let row = rows.iter().find(|r| &r.key == key);
                    let fate = self.after_claim(i, row);
                    self.items[i].fate = fate;
                }
            }
            LedgerAnswer::Failed(error) => {
                let kind = LedgerError::classify(&error);
                for &i in indices {
                    self.items[i]
                        .line
                        .set("ledger_error", truncate_bytes(&error, 300).0);
                    self.items[i].fate = Fate::Decided(self.ledger_down(i, kind));
                }
                if kind == LedgerError::MissingTable {
                    let line = LogLine::new(Level::Error, "ledger_missing")
                        .with("problem", ledger::missing_table_problem());
                    self.notices.push(("ledger_missing", line));
                }
            }
            LedgerAnswer::TimedOut => {
                for &i in indices {
                    let reason =
                        "the delivery ledger (D1) did not answer the claim in time; nothing was sent";
                    let decision = self.transient(i, reason);
                    self.items[i].fate = Fate::Decided(decision);
                    // The claim may have been written: release it, so that the retry (or a
                    // replay) does not wait for its lease or read it as an unknown outcome.
                    let key = self.items[i].message.as_ref().expect("decoded").key.clone();
                    let release = Record {
                        key,
                        state: LedgerState::Failed,
                        status: None,
                        note: Some(reason.to_owned()),
                        message_id: None,
                    };
                    self.record_later(i, release, "the claim timed out");
                }
            }
        }
    }

    /// What a claim's row means for message `i`.
    fn after_claim(&mut self, i: usize, row: Option<&LedgerRow>) -> Fate {
        let Some(row) = row else {
            return Fate::Decided(self.retry_soon(i, "the claim was not recorded; trying again"));
        };
        if row.claim_id == self.claim_id && row.state == LedgerState::Sending {
            return Fate::Claimed;
        }
        if let Some(id) = &row.sendgrid_message_id {
            self.items[i].line.set("sendgrid_message_id", id.as_str());
        }
        let settings = self.settings();
        let key = &self.items[i].message.as_ref().expect("decoded").key;
        let expired = row.lease_until < self.now_ms;
        match (row.state, settings.unknown_outcome) {
            (LedgerState::Sent, _) => Fate::Duplicate,
            (LedgerState::Sending, _) if !expired => {
                // Check again when the other delivery's send must have ended.
                let remaining = (row.lease_until - self.now_ms).max(0) as u64;
                let recheck = u64::from(settings.timeout_ms) + 1_000;
                let delay = remaining.min(recheck).div_ceil(1_000).max(1) as u32;
                Fate::Decided(policy::decide_transient(
                    "another delivery of this message is being sent",
                    delay,
                    self.items[i].attempts,
                    &settings.retry,
                ))
            }
            (LedgerState::Sending | LedgerState::Unknown, UnknownOutcomePolicy::DeadLetter) => {
                Fate::Decided(Decision::DeadLetter {
                    reason: ledger::unknown_outcome_reason(key),
                })
            }
            // Under `retry` the claim takes such rows over; `failed`/`dead` are always taken. Not
            // ours all the same: someone else's claim came between; look again shortly.
            _ => Fate::Decided(
                self.retry_soon(i, "another delivery claimed this message; trying again"),
            ),
        }
    }

    fn ledger_down(&mut self, i: usize, kind: LedgerError) -> Decision {
        match kind {
            LedgerError::MissingTable => {
                let settings = self.settings();
                policy::decide_transient(
                    &ledger::missing_table_problem(),
                    settings.retry.config_error_delay_secs,
                    self.items[i].attempts,
                    &settings.retry,
                )
            }
            LedgerError::Unavailable => self.transient(
                i,
                "the delivery ledger (D1) is unavailable; nothing was sent",
            ),
        }
    }

    /// Retry with backoff (the last attempt dead-letters).
    fn transient(&mut self, i: usize, reason: &str) -> Decision {
        let retry = self.settings().retry;
        let jitter = self.jitter();
        let delay = policy::backoff_delay(self.items[i].attempts, &retry, jitter);
        policy::decide_transient(reason, delay, self.items[i].attempts, &retry)
    }

    fn retry_soon(&self, i: usize, reason: &str) -> Decision {
        policy::decide_transient(reason, 1, self.items[i].attempts, &self.settings().retry)
    }

    // ── Send ──

    fn send(&mut self) -> Step {
        let claimed = self.open(&Fate::Claimed);
        if claimed.is_empty() {
            return self.dead_letter();
        }
        let settings = self.settings();
        let bodies = claimed
            .iter()
            .map(|&i| {
                let message = self.items[i]
                    .message
                    .as_ref()
                    .expect("claimed items are decoded");
                let email = email::render(message);
                sendgrid::build_request(&email, message, &settings.sendgrid)
            })
            .collect();
        self.phase = Phase::Sending;
        Step::Send(SendPlan {
            url: mail_send_url(&settings.api_base),
            timeout_ms: settings.timeout_ms,
            max_in_flight: MAX_IN_FLIGHT,
            bodies,
        })
    }

    fn sent(&mut self, answers: Vec<SendAnswer>) -> Step {
        let claimed = self.open(&Fate::Claimed);
        let mut answers = answers.into_iter();
        for i in claimed {
            let answer = answers.next().unwrap_or(SendAnswer {
                result: SendResult::NetworkError("no answer reported".into()),
                message_id: None,
                duration_ms: 0,
            });
            let record = self.decide_send(i, answer);
            self.records.push((i, record));
        }
        self.phase = Phase::Recording { per_message: false };
        let records: Vec<Record> = self.records.iter().map(|(_, r)| r.clone()).collect();
        Step::Ledger(vec![record_call(&records, &self.claim_id, self.now_ms)])
    }

    /// The decision for one send and the record that goes with it.
    fn decide_send(&mut self, i: usize, answer: SendAnswer) -> Record {
        let settings = self.settings();
        let jitter = self.jitter();
        let now_unix = (self.now_ms / 1_000).max(0) as u64;
        let status = answer.result.status();
        let item = &mut self.items[i];
        item.status = status;
        item.line.set("sendgrid_status", status);
        item.line.set("duration_ms", answer.duration_ms);
        if let Some(id) = &answer.message_id {
            item.line.set("sendgrid_message_id", id.as_str());
        }
        let key = item.message.as_ref().expect("decoded").key.clone();
        let attempts = item.attempts;
        let unknown = matches!(
            answer.result,
            SendResult::Timeout | SendResult::NetworkError(_)
        );
        let decision = if unknown && settings.unknown_outcome == UnknownOutcomePolicy::DeadLetter {
            Decision::DeadLetter {
                reason: ledger::unknown_outcome_reason(&key),
            }
        } else {
            policy::decide(&answer.result, attempts, &settings.retry, jitter, now_unix)
        };
        let state = match (&decision, unknown) {
            (Decision::Ack, _) => LedgerState::Sent,
            (_, true) => LedgerState::Unknown,
            (Decision::DeadLetter { .. }, false) => LedgerState::Dead,
            (Decision::Retry { .. }, false) => LedgerState::Failed,
        };
        let record = Record {
            key,
            state,
            status,
            note: decision.reason().map(str::to_owned),
            message_id: answer.message_id,
        };
        self.items[i].fate = Fate::Decided(decision);
        record
    }

    // ── Record ──

    fn recorded(&mut self, answers: Vec<LedgerAnswer>, per_message: bool) -> Step {
        let records = std::mem::take(&mut self.records);
        self.d1_calls += if per_message { records.len() } else { 1 } as u32;
        if per_message {
            for (n, (i, record)) in records.into_iter().enumerate() {
                match answers.get(n).cloned().unwrap_or(LedgerAnswer::TimedOut) {
                    LedgerAnswer::Rows(_) => {}
                    LedgerAnswer::Failed(e) => self.record_later(i, record, &e),
                    LedgerAnswer::TimedOut => self.record_later(i, record, "the record timed out"),
                }
            }
            return self.dead_letter();
        }
        match answers.into_iter().next().unwrap_or(LedgerAnswer::TimedOut) {
            LedgerAnswer::Rows(_) => self.dead_letter(),
            // It may have been written: writing it again is harmless, waiting for it is not.
            LedgerAnswer::TimedOut => {
                for (i, record) in records {
                    self.record_later(i, record, "the record timed out");
                }
                self.dead_letter()
            }
            LedgerAnswer::Failed(_) => {
                self.phase = Phase::Recording { per_message: true };
                let calls = records
                    .iter()
                    .map(|(_, r)| record_call(std::slice::from_ref(r), &self.claim_id, self.now_ms))
                    .collect();
                self.records = records;
                Step::Ledger(calls)
            }
        }
    }

    fn record_later(&mut self, i: usize, record: Record, error: &str) {
        let item = &mut self.items[i];
        item.line.set("ledger_error", truncate_bytes(error, 300).0);
        let mut gave_up = item.line.clone().with("state", record.state.as_str());
        gave_up.retitle(Level::Error, "ledger_record_failed");
        self.background.push(Background {
            call: record_call(&[record], &self.claim_id, self.now_ms),
            pauses_ms: RECORD_PAUSES_MS,
            gave_up,
        });
    }

    // ── Dead letters ──

    fn dead_letter(&mut self) -> Step {
        let dead = self.dead_letter_indices();
        if dead.is_empty() {
            return Step::Settle(self.settlement());
        }
        let iso = iso_time(self.now_ms);
        let letters = dead
            .iter()
            .map(|&i| {
                let item = &self.items[i];
                let reason = item
                    .decision()
                    .and_then(Decision::reason)
                    .unwrap_or_default();
                let decoded;
                let body = match &item.original {
                    Original::Body(body) => body,
                    // `admit` keeps every message it read.
                    Original::Decoded => {
                        decoded = item
                            .message
                            .as_ref()
                            .and_then(|m| serde_json::to_value(m).ok());
                        decoded.as_ref().unwrap_or(&Value::Null)
                    }
                };
                DeadLetter::new(body, reason, item.status, item.attempts, &iso).to_json()
            })
            .collect();
        self.phase = Phase::DeadLettering;
        Step::DeadLetter(letters)
    }

    fn dead_letter_indices(&self) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| matches!(self.items[i].decision(), Some(Decision::DeadLetter { .. })))
            .collect()
    }

    fn dead_lettered(&mut self, answers: Vec<Result<(), String>>) -> Step {
        for (n, i) in self.dead_letter_indices().into_iter().enumerate() {
            let reason = self.items[i]
                .decision()
                .and_then(Decision::reason)
                .unwrap_or_default()
                .to_owned();
            self.items[i].fate = match answers.get(n) {
                Some(Ok(())) => Fate::DeadLettered(reason),
                Some(Err(e)) => Fate::DeadLetterFailed(format!("{reason}; DLQ send failed: {e}")),
                None => Fate::DeadLetterFailed(format!("{reason}; DLQ send not reported")),
            };
        }
        Step::Settle(self.settlement())
    }

    // ── Settle ──

    fn settlement(&mut self) -> Settlement {
        self.phase = Phase::Settled;
        let mut counts = Counts::default();
        let mut actions = Vec::with_capacity(self.items.len());
        let mut lines = Vec::with_capacity(self.items.len() + 1);
        for i in 0..self.items.len() {
            let (action, line) = self.settle(i, &mut counts);
            actions.push(action);
            lines.push(line);
        }
        let d1_calls = self.d1_calls;
        lines.push(
            LogLine::new(Level::Info, "batch_settled")
                .with("messages", self.items.len())
                .with("sent", counts.sent)
                .with("duplicates", counts.duplicates)
                .with("retried", counts.retried)
                .with("dead_lettered", counts.dead_lettered)
                .with("d1_calls", d1_calls),
        );
        Settlement {
            actions,
            lines,
            notices: std::mem::take(&mut self.notices),
            background: std::mem::take(&mut self.background),
            d1_calls,
        }
    }

    fn settle(&self, i: usize, counts: &mut Counts) -> (Action, LogLine) {
        let item = &self.items[i];
        let mut line = item.line.clone();
        let mut write = |level: Level, event: &str| {
            line.retitle(level, event);
            line.set("outcome", event.trim_start_matches("message_"));
        };
        let action = match &item.fate {
            Fate::Duplicate | Fate::SameKeyAs(_) => {
                counts.duplicates += 1;
                write(Level::Info, "message_duplicate");
                Action::Ack
            }
            Fate::Decided(Decision::Ack) => {
                counts.sent += 1;
                write(Level::Info, "message_sent");
                Action::Ack
            }
            Fate::Decided(Decision::Retry {
                delay_seconds,
                reason,
            }) => {
                counts.retried += 1;
                write(Level::Warn, "message_retried");
                line.set("reason", reason.as_str());
                line.set("retry_delay_seconds", *delay_seconds);
                Action::Retry {
                    delay_seconds: *delay_seconds,
                }
            }
            Fate::DeadLettered(reason) => {
                counts.dead_lettered += 1;
                write(Level::Error, "message_dead_lettered");
                line.set("reason", reason.as_str());
                Action::Ack
            }
            Fate::DeadLetterFailed(reason) | Fate::Decided(Decision::DeadLetter { reason }) => {
                counts.retried += 1;
                write(Level::Error, "dead_letter_send_failed");
                line.set("reason", reason.as_str());
                Action::Retry {
                    delay_seconds: DEAD_LETTER_SEND_FAILED_DELAY_SECS,
                }
            }
            // Not reached: every item is decided before the batch settles. Kept safe all the same.
            Fate::Open | Fate::Claimed => {
                counts.retried += 1;
                write(Level::Error, "message_retried");
                line.set("reason", "the batch ended before this message was decided");
                Action::Retry { delay_seconds: 1 }
            }
        };
        (action, line)
    }

    fn jitter(&mut self) -> f64 {
        (next_random(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Item {
    fn decision(&self) -> Option<&Decision> {
        match &self.fate {
            Fate::Decided(decision) => Some(decision),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Counts {
    sent: u32,
    duplicates: u32,
    retried: u32,
    dead_lettered: u32,
}

/// What a dead letter of the body would carry, and the message in it.
fn read_body(body: Body) -> (Original, Result<BookingMessage, UndecodableReason>) {
    let value = match body {
        Body::Json(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Body::Text(text) => match forward::read_written(&text) {
            Some(Ok(message)) => return (Original::Decoded, Ok(message)),
            Some(Err(reason)) => return (Original::Body(Value::String(text)), Err(reason)),
            None => Value::String(text),
        },
        Body::Bytes(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Value::String(text),
            Err(e) => {
                // Kept whole in the dead letter, so nothing of it is lost.
                let raw = serde_json::json!({ "raw_base64": base64_encode(e.as_bytes()) });
                return (Original::Body(raw), Err(UndecodableReason::NotJson));
            }
        },
        Body::Unreadable(error) => {
            let reason = UndecodableReason::Invalid {
                detail: format!(
                    "the queue could not give the body: {}",
                    truncate_bytes(&error, 200).0
                ),
            };
            return (Original::Body(Value::Null), Err(reason));
        }
    };
    match decode(&value) {
        Ok(Decoded {
            message,
            forwarded: true,
        }) => (Original::Decoded, Ok(message)),
        decoded => (
            Original::Body(value),
            decoded.map(|decoded| decoded.message),
        ),
    }
}

/// splitmix64: small, good enough for jitter and claim ids from one random seed.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// RFC 3339 in UTC with milliseconds.
fn iso_time(now_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
