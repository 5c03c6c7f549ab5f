//! Describing a `worker::Error` for a log line without its `Display`.
//!
//! `Display for worker::Error` covers every variant, one of which debug-prints a raw `JsValue`
//! (a number among them), so calling it links Rust's float formatting into the module: about
//! 10 KB of the producer's 100 KB gzip budget. The errors the workers meet here (a failed queue
//! send, a missing binding) carry their text already.

use worker::js_sys::JSON;
use worker::Error;

pub fn describe(error: &Error) -> String {
    match error {
        Error::JsError(text) | Error::RustError(text) => text.clone(),
        Error::BindingError(name) => format!("no binding found for `{name}`"),
        Error::UnknownJsError {
            name,
            message,
            code,
            ..
        } => {
            let name = name.as_deref().unwrap_or("Error");
            match code {
                Some(code) => format!("{name} [{code}]: {message}"),
                None => format!("{name}: {message}"),
            }
        }
        // JSON.stringify does the formatting on the JS side.
        Error::Internal(value) => JSON::stringify(value)
            .ok()
            .and_then(|json| json.as_string())
            .map_or_else(
                || "a JavaScript value that is not an Error".to_owned(),
                |json| format!("JavaScript value {json}"),
            ),
        other => {
            let variant: &'static str = other.into();
            format!("worker error {variant}")
        }
    }
}
