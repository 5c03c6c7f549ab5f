//! Writing a `shared::ingress::Reply` as the runtime's `Response`: JSON, never cached.

use shared::ingress::Reply;
use worker::wasm_bindgen::JsValue;
use worker::worker_sys::web_sys;

pub fn respond(reply: &Reply) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    if let Some(allow) = reply.allow {
        headers.set("Allow", allow)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(&reply.body_text()), &init)
}
