//! One structured JSON log line per decision, for Workers Logs (`[observability]` indexes the
//! fields). Lines name bookings by uid and idempotency key; email addresses only masked; never a
//! secret, a signature or a body. `LOG_LEVEL` (error, warn, info, debug; default info) sets how
//! much is written: in local workerd each console line costs about 1 ms of CPU.

use serde_json::{Map, Value};

use crate::sentry::Report;

/// The Worker var that sets the level.
pub const LOG_LEVEL_ENV: &str = "LOG_LEVEL";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// Reads `LOG_LEVEL`; unset means info. An unknown value is reported and info is used (a
    /// typo must not silence errors).
    pub fn parse(raw: Option<&str>) -> Result<Level, String> {
        match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("info") => Ok(Level::Info),
            Some("error") => Ok(Level::Error),
            Some("warn") | Some("warning") => Ok(Level::Warn),
            Some("debug") => Ok(Level::Debug),
            Some(other) => Err(format!(
                "{LOG_LEVEL_ENV} must be error, warn, info or debug, not \"{}\"; using info",
                crate::text::truncate_bytes(other, 20).0
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// A log line being built: `{"level", "worker", "event", …fields}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    level: Level,
    fields: Map<String, Value>,
}

impl LogLine {
    pub fn new(level: Level, event: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("event".into(), event.into());
        Self { level, fields }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.into(), value.into());
    }

    /// Adds an address, masked (`a***@example.com`).
    pub fn email(self, key: &str, email: &str) -> Self {
        self.with(key, crate::text::mask_email(email))
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// Changes the level and the event name (e.g. a retry that became a dead letter).
    pub fn retitle(&mut self, level: Level, event: &str) {
        self.level = level;
        self.set("event", event);
    }

    /// Whether a worker configured at `configured` writes this line.
    pub fn enabled(&self, configured: Level) -> bool {
        self.level <= configured
    }

    /// The Sentry report this line warrants, if any: every error line, and rejected webhook
    /// signatures (someone may be probing the URL, or the secrets differ). Kind = event name.
    pub fn report<'a>(&'a self, worker: &'a str) -> Option<Report<'a>> {
        let text = |key: &str| self.fields.get(key).and_then(Value::as_str);
        let event = text("event")?;
        let outcome = text("outcome").unwrap_or(event);
        let signature = outcome.starts_with("signature_");
        if self.level != Level::Error && !signature {
            return None;
        }
        Some(Report {
            kind: if signature {
                "signature_rejected"
            } else {
                event
            },
            level: if signature { "warning" } else { "error" },
            message: event,
            worker,
            trigger: text("trigger"),
            outcome,
        })
    }

    /// The JSON text, with `level` and `worker` added.
    pub fn render(&self, worker: &str) -> String {
        let mut fields = self.fields.clone();
        fields.insert("level".into(), self.level.as_str().into());
        fields.insert("worker".into(), worker.into());
        Value::Object(fields).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_filter() {
        assert_eq!(Level::parse(None), Ok(Level::Info));
        assert_eq!(Level::parse(Some(" DEBUG ")), Ok(Level::Debug));
        assert_eq!(Level::parse(Some("warn")), Ok(Level::Warn));
        assert!(Level::parse(Some("loud"))
            .unwrap_err()
            .contains("LOG_LEVEL"));
        let info = LogLine::new(Level::Info, "message_sent");
        assert!(info.enabled(Level::Info) && info.enabled(Level::Debug));
        assert!(!info.enabled(Level::Warn));
        assert!(LogLine::new(Level::Error, "x").enabled(Level::Error));
    }

    #[test]
    fn lines_are_json_with_masked_emails() {
        let line = LogLine::new(Level::Warn, "message_retried")
            .with("attempt", 2)
            .with("uid", "bkg_1")
            .email("reply_to", "alex.student@example.org")
            .render("consumer");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "message_retried");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["worker"], "consumer");
        assert_eq!(v["attempt"], 2);
        assert_eq!(v["reply_to"], "a***@example.org");
        assert!(!line.contains("alex.student"));
    }

    #[test]
    fn errors_and_rejected_signatures_are_reported() {
        let sent = LogLine::new(Level::Info, "message_sent").with("outcome", "sent");
        assert_eq!(sent.report("consumer"), None);
        let dead = LogLine::new(Level::Error, "message_dead_lettered")
            .with("trigger", "BOOKING_CREATED")
            .with("outcome", "dead_lettered");
        let r = dead.report("consumer").unwrap();
        assert_eq!(
            (r.kind, r.level, r.trigger, r.outcome),
            (
                "message_dead_lettered",
                "error",
                Some("BOOKING_CREATED"),
                "dead_lettered"
            )
        );
        let probe =
            LogLine::new(Level::Warn, "webhook_rejected").with("outcome", "signature_mismatch");
        let r = probe.report("producer").unwrap();
        assert_eq!(
            (r.kind, r.level, r.outcome),
            ("signature_rejected", "warning", "signature_mismatch")
        );
        let bad_body =
            LogLine::new(Level::Warn, "webhook_rejected").with("outcome", "body_not_json");
        assert_eq!(bad_body.report("producer"), None);
    }
}
