//! The one HTTP call: `POST {SENDGRID_API_BASE}/v3/mail/send`, raced against a timeout.

use std::time::Duration;

use futures_util::future::{select, Either};
use shared::delivery::sendgrid::{mail_send_url, SendResult};
use shared::delivery::settings::Settings;
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

/// SendGrid's answer, and its `X-Message-ID` when it accepted the email.
pub struct Sent {
    pub result: SendResult,
    pub message_id: Option<String>,
}

/// Sends the request body and reads SendGrid's answer. A redirect is not followed (it means
/// `SENDGRID_API_BASE` is wrong); no answer within the timeout aborts the request.
pub async fn mail_send(settings: &Settings, body: String) -> Sent {
    let controller = AbortController::default();
    let signal = controller.signal();
    let attempt = async move {
        let headers = Headers::new();
        headers.set("Authorization", &format!("Bearer {}", settings.api_key))?;
        headers.set("Content-Type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(JsValue::from_str(&body)));
        let request = Request::new_with_init(&mail_send_url(&settings.api_base), &init)?;
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let (retry_after, reset) = (header("Retry-After"), header("X-RateLimit-Reset"));
        let message_id = header("X-Message-ID");
        // Only error bodies are read (for the reason); a 202 has none.
        let text = if status >= 300 {
            response.text().await.unwrap_or_default()
        } else {
            String::new()
        };
        Ok::<_, worker::Error>((status, retry_after, reset, text, message_id))
    };
    let timeout = Delay::from(Duration::from_millis(u64::from(settings.timeout_ms)));
    let outcome = select(Box::pin(attempt), timeout).await;
    let (result, message_id) = match outcome {
        Either::Left((Ok((status, retry_after, reset, text, message_id)), _)) => {
            let result = SendResult::from_response(
                status,
                retry_after.as_deref(),
                reset.as_deref(),
                &text,
                crate::now_unix(),
            );
            (result, message_id)
        }
        Either::Left((Err(e), _)) => (SendResult::NetworkError(e.to_string()), None),
        Either::Right((_, pending)) => {
            drop(pending);
            controller.abort();
            (SendResult::Timeout, None)
        }
    };
    Sent { result, message_id }
}
