//! Settings read once per isolate: each request looks the setting up in `env` (a new deploy or
//! `wrangler secret put` can change it) but parses it again only when its value changed. The
//! value is compared as the runtime holds it (`===` on two JS strings), so a request copies no
//! setting's text into wasm unless it changed.

use std::cell::RefCell;
use std::rc::Rc;
use std::thread::LocalKey;

use shared::logging::{Level, LOG_LEVEL_ENV};
use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::Env;

/// A setting's last value (the JS string `env` held, kept to compare) and what it parsed to.
pub type Memo<T> = RefCell<Option<(JsValue, Rc<T>)>>;

thread_local! {
    static LEVEL: Memo<Level> = const { RefCell::new(None) };
    /// The names looked up so far, as JS strings: making one from Rust text decodes it anew.
    static NAMES: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// The var, secret or binding `name` as `env` holds it (`undefined` when unset).
pub fn raw(env: &Env, name: &'static str) -> JsValue {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        let at = match names.iter().position(|(known, _)| *known == name) {
            Some(at) => at,
            None => {
                names.push((name, JsValue::from_str(name)));
                names.len() - 1
            }
        };
        Reflect::get(env, &names[at].1).unwrap_or(JsValue::UNDEFINED)
    })
}

/// `parse(text)` of the setting's `value` (empty text when it is not a string), or the value
/// parsed from the same setting before. `fresh` is true when it was parsed now (what the caller
/// reports once).
pub fn memo<T>(
    cell: &'static LocalKey<Memo<T>>,
    value: JsValue,
    parse: impl FnOnce(&str) -> T,
) -> (Rc<T>, bool) {
    cell.with(|memo| {
        if let Some((seen, parsed)) = &*memo.borrow() {
            if *seen == value {
                return (parsed.clone(), false);
            }
        }
        let parsed = Rc::new(parse(&value.as_string().unwrap_or_default()));
        *memo.borrow_mut() = Some((value, parsed.clone()));
        (parsed, true)
    })
}

/// `LOG_LEVEL` (info when unset or unreadable).
pub fn log_level(env: &Env) -> Level {
    let (level, _) = memo(&LEVEL, raw(env, LOG_LEVEL_ENV), |t| {
        Level::parse(Some(t).filter(|t| !t.is_empty())).unwrap_or(Level::Info)
    });
    *level
}
