//! Settings read once per isolate: each request reads the setting's text from `env` (a new
//! deploy or `wrangler secret put` can change it) but parses it again only when that text
//! changed.

use std::cell::RefCell;
use std::rc::Rc;
use std::thread::LocalKey;

use shared::logging::{Level, LOG_LEVEL_ENV};
use worker::Env;

/// A setting's last text (the same text `env` holds, kept to compare) and what it parsed to.
pub type Memo<T> = RefCell<Option<(String, Rc<T>)>>;

thread_local! {
    static LEVEL: Memo<Level> = const { RefCell::new(None) };
}

/// `parse(text)`, or the value parsed from the same text before. `fresh` is true when it was
/// parsed now (what the caller reports once).
pub fn memo<T>(
    cell: &'static LocalKey<Memo<T>>,
    text: String,
    parse: impl FnOnce(&str) -> T,
) -> (Rc<T>, bool) {
    cell.with(|memo| {
        if let Some((seen, value)) = &*memo.borrow() {
            if *seen == text {
                return (value.clone(), false);
            }
        }
        let value = Rc::new(parse(&text));
        *memo.borrow_mut() = Some((text, value.clone()));
        (value, true)
    })
}

/// `LOG_LEVEL` (info when unset or unreadable).
pub fn log_level(env: &Env) -> Level {
    let text = env.var(LOG_LEVEL_ENV).map(|v| v.to_string());
    let (level, _) = memo(&LEVEL, text.unwrap_or_default(), |t| {
        Level::parse(Some(t).filter(|t| !t.is_empty())).unwrap_or(Level::Info)
    });
    *level
}
