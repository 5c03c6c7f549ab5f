//! One structured JSON log line per decision, for Workers Logs (`[observability]` indexes the
//! fields). Lines name bookings by uid and idempotency key; email addresses only masked; never a
//! secret, a signature or a body. `LOG_LEVEL` (error, warn, info, debug; default info) sets how
//! much is written: in local workerd each console line costs about 1 ms of CPU.

use serde_json::Value;

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
    /// Each field once, sorted by name as the line is written. A line has a dozen fields at
    /// most, and most lines are built for a decision and never written (below `LOG_LEVEL`): a
    /// sorted `Vec` is one allocation where a map made a node and a `String` key per field
    /// (docs/PERFORMANCE.md).
    fields: Vec<(&'static str, Value)>,
}

impl LogLine {
    pub fn new(level: Level, event: &str) -> Self {
        let mut fields = Vec::with_capacity(8);
        fields.push(("event", event.into()));
        Self { level, fields }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        let value = value.into();
        match self.fields.binary_search_by(|(name, _)| name.cmp(&key)) {
            Ok(at) => self.fields[at].1 = value,
            Err(at) => self.fields.insert(at, (key, value)),
        }
    }

    /// Adds an address, masked (`a***@example.com`).
    pub fn email(self, key: &'static str, email: &str) -> Self {
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

    fn get(&self, key: &str) -> Option<&Value> {
        let at = self.fields.binary_search_by(|(name, _)| (*name).cmp(key));
        at.ok().map(|at| &self.fields[at].1)
    }

    /// The Sentry report this line warrants, if any: every error line, and rejected webhook
    /// signatures (someone may be probing the URL, or the secrets differ). Kind = event name.
    pub fn report<'a>(&'a self, worker: &'a str) -> Option<Report<'a>> {
        let text = |key: &str| self.get(key).and_then(Value::as_str);
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

    /// The JSON text, with `level` and `worker` added: one object, its names in order.
    pub fn render(&self, worker: &str) -> String {
        let (level, worker) = (Value::from(self.level.as_str()), Value::from(worker));
        let mut added = [("level", &level), ("worker", &worker)]
            .into_iter()
            .peekable();
        let mut out = Vec::with_capacity(256);
        let mut write = |name: &str, value: &Value| {
            out.push(if out.is_empty() { b'{' } else { b',' });
            // Writing into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut out, name);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, value);
        };
        for (name, value) in &self.fields {
            while let Some((added_name, added_value)) = added.next_if(|(n, _)| n <= name) {
                write(added_name, added_value);
            }
            if !matches!(*name, "level" | "worker") {
                write(name, value);
            }
        }
        added.for_each(|(name, value)| write(name, value));
        out.push(b'}');
        // serde_json writes UTF-8.
        String::from_utf8(out).unwrap_or_default()
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
    fn a_line_is_one_object_its_names_sorted_each_once_the_last_value_kept() {
        let line = LogLine::new(Level::Warn, "message_retried")
            .with("uid", "bkg_\"1")
            .with("attempt", 2)
            .with("level", "not the line's")
            .with("attempt", 3);
        assert_eq!(
            line.render("consumer"),
            r#"{"attempt":3,"event":"message_retried","level":"warn","uid":"bkg_\"1","worker":"consumer"}"#
        );
        let mut same = LogLine::new(Level::Warn, "message_retried")
            .with("attempt", 3)
            .with("level", "not the line's")
            .with("uid", "bkg_\"1");
        assert_eq!(line, same);
        same.retitle(Level::Error, "message_dead_lettered");
        assert_ne!(line, same);
        assert!(same
            .render("consumer")
            .contains(r#""event":"message_dead_lettered","level":"error""#));
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
