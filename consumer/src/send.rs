//! The HTTP calls of a send step: `POST {SENDGRID_API_BASE}/v3/mail/send` for each request body,
//! at most `max_in_flight` at once, each within the timeout. Reports SendGrid's answers;
//! `shared` reads them.
//!
//! It calls the runtime's `fetch` directly: workers-rs would build the request twice, read the
//! answer's `cf` object, and read a body through a stream reader, whose release alone costs more
//! than the rest of the call (docs/PERFORMANCE.md).

use futures_util::StreamExt;
use shared::delivery::protocol::{SendAnswer, SendPlan};
use shared::delivery::sendgrid::SendResult;
use shell::error::describe;
use worker::js_sys::{self, Date as JsDate, Promise, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys::{
    AbortSignal, Headers, RequestInit, RequestRedirect, Response, WorkerGlobalScope,
};

/// Sends every body of the plan; the answers in the plan's order.
pub async fn send_all(plan: &SendPlan, api_key: &str) -> Vec<SendAnswer> {
    let authorization = format!("Bearer {api_key}");
    futures_util::stream::iter(plan.bodies.iter())
        .map(|body| mail_send(plan, &authorization, body))
        .buffered(plan.max_in_flight.max(1))
        .collect()
        .await
}

/// One request. A redirect is not followed (it means `SENDGRID_API_BASE` is wrong); no answer
/// within the timeout (the body's reading included) aborts the request.
async fn mail_send(plan: &SendPlan, authorization: &str, body: &str) -> SendAnswer {
    let started = JsDate::now();
    let deadline = AbortSignal::timeout_with_u32(plan.timeout_ms);
    let (result, message_id) = match answer(plan, authorization, body, &deadline).await {
        Ok(answer) => answer,
        Err(_) if deadline.aborted() => (SendResult::Timeout, None),
        Err(e) => (SendResult::NetworkError(describe(&e.into())), None),
    };
    SendAnswer {
        result,
        message_id,
        duration_ms: (JsDate::now() - started).max(0.0).round() as u64,
    }
}

async fn answer(
    plan: &SendPlan,
    authorization: &str,
    body: &str,
    deadline: &AbortSignal,
) -> Result<(SendResult, Option<String>), JsValue> {
    let headers = Headers::new()?;
    headers.set("Authorization", authorization)?;
    headers.set("Content-Type", "application/json")?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(deadline));
    // Bytes, copied once: a string would be decoded from UTF-8 into a UTF-16 JS string and
    // encoded back by `fetch`, two passes over ~20 KB per email.
    init.set_body(&Uint8Array::from(body.as_bytes()));
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = settled(global.fetch_with_str_and_init(&plan.url, &init))
        .await?
        .unchecked_into();
    // From here the answer is SendGrid's, told by its status: a body that breaks off (or runs
    // past the timeout) changes nothing, least of all an accepted send into an unknown one.
    let status = response.status();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let message_id = header("X-Message-ID");
    if SendResult::is_accepted(status) {
        // The body is empty; reading it to its end lets the connection be reused.
        read_to_end(response.array_buffer()).await;
        let result = SendResult::from_response(status, None, None, "", crate::now_unix());
        return Ok((result, message_id));
    }
    // A refusal's headers and body say when to retry and why.
    let (retry_after, reset) = (header("Retry-After"), header("X-RateLimit-Reset"));
    let text = read_to_end(response.text())
        .await
        .and_then(|text| text.as_string());
    let result = SendResult::from_response(
        status,
        retry_after.as_deref(),
        reset.as_deref(),
        text.as_deref().unwrap_or_default(),
        crate::now_unix(),
    );
    Ok((result, message_id))
}

/// A body read to its end, or `None` if it could not be.
async fn read_to_end(read: Result<Promise, JsValue>) -> Option<JsValue> {
    settled(read.ok()?).await.ok()
}

async fn settled(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}
