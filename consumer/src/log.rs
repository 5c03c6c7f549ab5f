//! The consumer's log lines are built by `shared::delivery::protocol` (one JSON line per message
//! decision, one per batch with its `d1_calls`) and written by `shell::log`. Here: saying a thing
//! once per isolate, and the misconfiguration line.

use std::cell::RefCell;
use std::collections::BTreeSet;

use shared::logging::{Level, LogLine};
pub use shell::log::Logger;

/// The consumer's name in its log lines and reports.
pub const WORKER: &str = "consumer";

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
