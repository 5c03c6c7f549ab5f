//! The producer's log lines (`shared::logging`): one JSON line per request, with the event,
//! trigger, booking uid and idempotency key, status, outcome and duration; error lines and
//! rejected signatures also go to Sentry when `SENTRY_DSN` is set.

use shared::logging::{Level, LogLine};
use worker::wasm_bindgen::JsValue;
use worker::web_sys::console;
use worker::{Context, Env};

pub struct Logger<'a> {
    pub level: Level,
    pub env: &'a Env,
    pub ctx: &'a Context,
}

impl Logger<'_> {
    /// Writes `line` if `LOG_LEVEL` lets it through, and reports it if it warrants a report.
    pub fn emit(&self, line: &LogLine) {
        if let Some(report) = line.report("producer") {
            crate::report::report(self.env, self.ctx, &report);
        }
        if !line.enabled(self.level) {
            return;
        }
        let write: fn(&JsValue) = match line.level() {
            Level::Error => console::error_1,
            Level::Warn => console::warn_1,
            Level::Info => console::log_1,
            Level::Debug => console::debug_1,
        };
        write(&JsValue::from_str(&line.render("producer")));
    }
}
