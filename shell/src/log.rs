//! Writing `shared::logging` lines: one JSON line per decision, written to the console when
//! `LOG_LEVEL` lets it through. Lines that warrant a report (errors, rejected signatures) also
//! go to Sentry when `SENTRY_DSN` is set. Which fields a line holds is `shared`'s business: never
//! an email address, a secret or a body.

use shared::logging::{Level, LogLine};
use worker::wasm_bindgen::JsValue;
use worker::web_sys::console;
use worker::{Context, Env};

use crate::report;

pub struct Logger<'a> {
    /// The worker's name in each line (`producer`, `replay`, `consumer`).
    pub worker: &'static str,
    pub level: Level,
    pub env: &'a Env,
    pub ctx: &'a Context,
}

impl Logger<'_> {
    /// Writes `line` if `LOG_LEVEL` lets it through, and reports it if it warrants a report
    /// (posted after the answer, with `ctx.wait_until`).
    pub fn emit(&self, line: &LogLine) {
        if let Some(report) = line.report(self.worker) {
            report::report(self.env, self.ctx, &report);
        }
        write(self.worker, self.level, line);
    }
}

/// [`Logger::emit`] from inside `ctx.wait_until` (no answer left to wait for): the report is
/// posted before returning.
pub async fn emit_detached(worker: &'static str, env: &Env, level: Level, line: &LogLine) {
    if let Some(report) = line.report(worker) {
        report::report_now(env, &report).await;
    }
    write(worker, level, line);
}

fn write(worker: &str, level: Level, line: &LogLine) {
    if !line.enabled(level) {
        return;
    }
    // The console functions themselves, not `console_log!`: its `format!` is code we need not ship.
    let write: fn(&JsValue) = match line.level() {
        Level::Error => console::error_1,
        Level::Warn => console::warn_1,
        Level::Info => console::log_1,
        Level::Debug => console::debug_1,
    };
    write(&JsValue::from_str(&line.render(worker)));
}
