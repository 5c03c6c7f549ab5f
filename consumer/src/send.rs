//! The HTTP calls of a send step: `POST {SENDGRID_API_BASE}/v3/mail/send` for each request body,
//! at most `max_in_flight` at once, each raced against the timeout. Reports SendGrid's answers;
//! `shared` reads them.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use shared::delivery::protocol::{SendAnswer, SendPlan};
use shared::delivery::sendgrid::SendResult;
use worker::js_sys::{Date as JsDate, Uint8Array};
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

/// Sends every body of the plan; the answers in the plan's order.
pub async fn send_all(plan: &SendPlan, api_key: &str) -> Vec<SendAnswer> {
    futures_util::stream::iter(plan.bodies.iter())
        .map(|body| mail_send(plan, api_key, body))
        .buffered(plan.max_in_flight.max(1))
        .collect()
        .await
}

/// One request. A redirect is not followed (it means `SENDGRID_API_BASE` is wrong); no answer
/// within the timeout aborts the request.
async fn mail_send(plan: &SendPlan, api_key: &str, body: &str) -> SendAnswer {
    let controller = AbortController::default();
    let signal = controller.signal();
    let started = JsDate::now();
    let attempt = async move {
        let headers = Headers::new();
        headers.set("Authorization", &format!("Bearer {api_key}"))?;
        headers.set("Content-Type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(bytes(body)));
        let request = Request::new_with_init(&plan.url, &init)?;
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let (retry_after, reset) = (header("Retry-After"), header("X-RateLimit-Reset"));
        let message_id = header("X-Message-ID");
        let status = response.status_code();
        // An accepted send has an empty body; an error's body says why.
        let text = response.text().await.unwrap_or_default();
        let result = SendResult::from_response(
            status,
            retry_after.as_deref(),
            reset.as_deref(),
            &text,
            crate::now_unix(),
        );
        Ok::<_, worker::Error>((result, message_id))
    };
    let timeout = Delay::from(Duration::from_millis(u64::from(plan.timeout_ms)));
    let (result, message_id) = match select(Box::pin(attempt), timeout).await {
        Either::Left((Ok(answer), _)) => answer,
        Either::Left((Err(e), _)) => (SendResult::NetworkError(e.to_string()), None),
        Either::Right((_, pending)) => {
            drop(pending);
            controller.abort();
            (SendResult::Timeout, None)
        }
    };
    SendAnswer {
        result,
        message_id,
        duration_ms: (JsDate::now() - started).max(0.0).round() as u64,
    }
}

/// The body as bytes, copied once: as a string it would be decoded from UTF-8 into a UTF-16 JS
/// string and encoded back by `fetch`, two passes over ~20 KB per email (`docs/PERFORMANCE.md`).
fn bytes(body: &str) -> JsValue {
    Uint8Array::from(body.as_bytes()).into()
}
