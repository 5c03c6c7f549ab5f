//! The consumer's log lines, built by `shared::delivery::protocol` (one JSON line per message
//! decision, one per batch with its `d1_calls`): this writes them to the console if `LOG_LEVEL`
//! lets them through. Never an email address, a secret or a body. Error lines also go to Sentry
//! when `SENTRY_DSN` is set.

use std::cell::RefCell;
use std::collections::BTreeSet;

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
        write(self.level, line);
    }
}

/// [`Logger::emit`] outside a batch (in `ctx.wait_until`): the report is sent before returning.
pub async fn emit_detached(env: &Env, level: Level, line: &LogLine) {
    if let Some(report) = line.report(WORKER) {
        crate::report::report_now(env, &report).await;
    }
    write(level, line);
}

fn write(level: Level, line: &LogLine) {
    if !line.enabled(level) {
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

thread_local! {
    // Per isolate: a Worker isolate runs one thread.
    static SAID: RefCell<BTreeSet<&'static str>> = const { RefCell::new(BTreeSet::new()) };
}

/// Runs `say` the first time this isolate meets `name`.
pub fn once(name: &'static str, say: impl FnOnce()) {
    if SAID.with(|said| said.borrow_mut().insert(name)) {
        say();
    }
}

/// The consumer cannot send until its settings are fixed.
pub fn misconfigured(logger: &Logger, problems: &str) {
    logger.emit(&LogLine::new(Level::Error, "consumer_misconfigured").with("problems", problems));
}
