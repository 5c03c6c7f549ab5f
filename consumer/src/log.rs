//! The consumer's log lines (`shared::logging`): one JSON line per decision, with trigger, booking
//! uid, idempotency key, attempt, outcome, SendGrid status and duration. Never an email address,
//! a secret or a body. Error lines also go to Sentry when `SENTRY_DSN` is set.

use shared::contract::message::BookingMessage;
use shared::logging::{Level, LogLine};
use worker::{console_debug, console_error, console_log, console_warn, Context, Env};

const WORKER: &str = "consumer";

pub struct Logger<'a> {
    pub level: Level,
    pub env: &'a Env,
    pub ctx: &'a Context,
}

impl Logger<'_> {
    /// Writes `line` if `LOG_LEVEL` lets it through, and reports it if it warrants a report.
    pub fn emit(&self, line: &LogLine) {
        if let Some(report) = line.report(WORKER) {
            crate::report::report(self.env, self.ctx, &report);
        }
        if !line.enabled(self.level) {
            return;
        }
        let text = line.render(WORKER);
        match line.level() {
            Level::Error => console_error!("{text}"),
            Level::Warn => console_warn!("{text}"),
            Level::Info => console_log!("{text}"),
            Level::Debug => console_debug!("{text}"),
        }
    }
}

/// What is known about one message while it is handled; logged once, with the decision.
pub struct Trace<'a> {
    line: LogLine,
    status: Option<u16>,
    duplicate: bool,
    logger: &'a Logger<'a>,
}

impl<'a> Trace<'a> {
    pub fn new(attempt: u32, logger: &'a Logger<'a>) -> Self {
        Self {
            line: LogLine::new(Level::Info, "message").with("attempt", attempt),
            status: None,
            duplicate: false,
            logger,
        }
    }

    pub fn message(&mut self, m: &BookingMessage) {
        self.line.set("trigger", m.trigger.as_str());
        self.line.set("uid", m.booking.uid.as_str());
        self.line.set("key", m.key.as_str());
    }

    pub fn undecodable(&mut self, code: &str) {
        self.line.set("undecodable", code);
    }

    pub fn sent(&mut self, status: Option<u16>, duration_ms: f64) {
        self.status = status;
        self.line.set("sendgrid_status", status);
        self.line.set("duration_ms", duration_ms.round() as u64);
    }

    /// The ledger says this key was sent already: the ack is a duplicate, nothing is sent.
    pub fn duplicate(&mut self, sendgrid_message_id: Option<&str>) {
        self.duplicate = true;
        if let Some(id) = sendgrid_message_id {
            self.line.set("sendgrid_message_id", id);
        }
    }

    /// Something worth knowing that did not decide the outcome (e.g. a ledger error).
    pub fn note(&mut self, name: &str, detail: &str) {
        self.line
            .set(name, shared::text::truncate_bytes(detail, 300).0);
    }

    /// The last SendGrid status, if a request got an answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn log_ack(&self) {
        let event = if self.duplicate {
            "message_duplicate"
        } else {
            "message_sent"
        };
        self.write(Level::Info, event, |_| {});
    }

    pub fn log_retry(&self, delay_seconds: u32, reason: &str) {
        self.write(Level::Warn, "message_retried", |l| {
            l.set("reason", reason);
            l.set("retry_delay_seconds", delay_seconds);
        });
    }

    pub fn log_dead_letter(&self, event: &str, reason: &str) {
        self.write(Level::Error, event, |l| l.set("reason", reason));
    }

    fn write(&self, level: Level, event: &str, extra: impl FnOnce(&mut LogLine)) {
        let mut line = self.line.clone();
        line.retitle(level, event);
        line.set("outcome", event.trim_start_matches("message_"));
        extra(&mut line);
        self.logger.emit(&line);
    }
}

/// The consumer cannot send until its settings are fixed.
pub fn misconfigured(logger: &Logger, problems: &str) {
    logger.emit(&LogLine::new(Level::Error, "consumer_misconfigured").with("problems", problems));
}
