//! One JSON log line per decision, for Workers Logs. Never an email address, a secret or a body:
//! bookings are named by uid and idempotency key.

use serde_json::{json, Map, Value};
use shared::message::BookingMessage;
use worker::{console_error, console_log, console_warn};

/// What is known about one message while it is handled.
pub struct Trace {
    fields: Map<String, Value>,
    status: Option<u16>,
}

impl Trace {
    pub fn new(attempt: u32) -> Self {
        let mut fields = Map::new();
        fields.insert("attempt".into(), attempt.into());
        Self {
            fields,
            status: None,
        }
    }

    pub fn message(&mut self, m: &BookingMessage) {
        self.fields
            .insert("trigger".into(), m.trigger.as_str().into());
        self.fields
            .insert("uid".into(), m.booking.uid.clone().into());
        self.fields.insert("key".into(), m.key.clone().into());
    }

    pub fn undecodable(&mut self, code: &str) {
        self.fields.insert("undecodable".into(), code.into());
    }

    pub fn sent(&mut self, status: Option<u16>, duration_ms: f64) {
        self.status = status;
        self.fields.insert(
            "sendgrid_status".into(),
            status.map_or(Value::Null, Value::from),
        );
        self.fields
            .insert("duration_ms".into(), (duration_ms.round() as u64).into());
    }

    /// The last SendGrid status, if a request got an answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn log(&self, event: &str, reason: Option<&str>) {
        let line = self.line(event, reason, None);
        match event {
            "message_sent" => console_log!("{line}"),
            _ => console_error!("{line}"),
        }
    }

    pub fn log_retry(&self, delay_seconds: u32, reason: &str) {
        console_warn!(
            "{}",
            self.line("message_retried", Some(reason), Some(delay_seconds))
        );
    }

    fn line(&self, event: &str, reason: Option<&str>, delay: Option<u32>) -> String {
        let mut fields = self.fields.clone();
        fields.insert("event".into(), event.into());
        if let Some(reason) = reason {
            fields.insert("reason".into(), reason.into());
        }
        if let Some(delay) = delay {
            fields.insert("retry_delay_seconds".into(), delay.into());
        }
        Value::Object(fields).to_string()
    }
}

/// The consumer cannot send until its settings are fixed.
pub fn misconfigured(problems: &str) {
    console_error!(
        "{}",
        json!({"event": "consumer_misconfigured", "problems": problems})
    );
}
