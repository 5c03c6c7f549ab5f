//! `POST /v3/mail/send`: authorization, injected faults (rules, then chaos), validation, and
//! recording.

use super::faults::Fault;
use super::sendgrid::{
    is_sandbox, new_message_id, validate, ApiError, ErrorBody, MAX_BODY_BYTES, UNAUTHORIZED_MESSAGE,
};
use super::server::ConnControl;
use super::state::{now_ms, Attempt, State};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State as Extract;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a `hang` fault holds a request before answering 504.
pub const HANG_LIMIT: Duration = Duration::from_secs(600);

pub(crate) async fn mail_send(
    Extract(state): Extract<Arc<State>>,
    control: Option<Extension<ConnControl>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let raw = read_body(body, MAX_BODY_BYTES).await;
    let parsed: Option<Value> = raw
        .as_deref()
        .and_then(|bytes| serde_json::from_slice(bytes).ok());
    let key = parsed
        .as_ref()
        .and_then(|body| body.pointer("/custom_args/idempotency_key"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let recorded_body = parsed.clone().unwrap_or(Value::Null);
    let record = |status: u16, fault: Option<String>| {
        state.record_attempt(Attempt {
            status,
            body: recorded_body.clone(),
            fault,
            key: key.clone(),
        });
    };

    if !authorized(&headers, &state.api_key) {
        record(401, None);
        return errors(
            StatusCode::UNAUTHORIZED,
            &[ApiError::general(UNAUTHORIZED_MESSAGE)],
        );
    }
    let Some(raw) = raw else {
        record(413, None);
        return errors(
            StatusCode::PAYLOAD_TOO_LARGE,
            &[ApiError::general(
                "The JSON payload you have included in your request is too large. Please limit your request to 30MB.",
            )],
        );
    };
    // Explicit rules first, then chaos (which counts this request against its key).
    let fault = state.take_fault(&String::from_utf8_lossy(&raw), key.as_deref());
    let accept_then_close = fault == Some(Fault::AcceptThenClose);
    if let Some(fault) = fault.filter(|_| !accept_then_close) {
        let status = match &fault {
            Fault::Status { status, .. } => effective_status(*status).as_u16(),
            Fault::Hang | Fault::Close | Fault::AcceptThenClose => 0,
        };
        record(status, Some(fault.label()));
        return apply_fault(fault, control).await;
    }
    let Some(parsed) = parsed else {
        record(400, None);
        return errors(
            StatusCode::BAD_REQUEST,
            &[ApiError::general(
                "Bad Request: the request body must be valid JSON.",
            )],
        );
    };
    let problems = validate(&parsed);
    if !problems.is_empty() {
        record(400, None);
        return errors(StatusCode::BAD_REQUEST, &problems);
    }
    if is_sandbox(&parsed) {
        record(200, None);
        return StatusCode::OK.into_response();
    }
    let message_id = new_message_id();
    state.record_email(message_id.clone(), parsed);
    if accept_then_close {
        record(202, Some(Fault::AcceptThenClose.label()));
        return apply_fault(Fault::Close, control).await;
    }
    record(202, None);
    (StatusCode::ACCEPTED, [("x-message-id", message_id)]).into_response()
}

/// Reads the body; `None` past `limit` bytes (or if the client breaks off). An oversized body is
/// still drained (up to twice the limit), so the client can finish sending and read the 413.
async fn read_body(mut body: Body, limit: usize) -> Option<Bytes> {
    let mut buffer = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers
        };
        total += data.len();
        if total > limit {
            buffer = Vec::new();
            if total > limit.saturating_mul(2) {
                break;
            }
        } else {
            buffer.extend_from_slice(&data);
        }
    }
    (total <= limit).then(|| Bytes::from(buffer))
}

/// `Authorization: Bearer <key>` (scheme case-insensitive, key exact).
fn authorized(headers: &HeaderMap, api_key: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match value.split_once(' ') {
        Some((scheme, key)) => scheme.eq_ignore_ascii_case("bearer") && key.trim() == api_key,
        None => false,
    }
}

/// A JSON `{"errors":[...]}` answer.
pub(crate) fn errors(status: StatusCode, errors: &[ApiError]) -> Response {
    (status, Json(ErrorBody { errors })).into_response()
}

/// Status codes a fault may answer: a final status (200..=599); anything else becomes 500.
pub(crate) fn effective_status(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(code) if (200..600).contains(&status) => code,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn apply_fault(fault: Fault, control: Option<Extension<ConnControl>>) -> Response {
    match fault {
        Fault::Status {
            status,
            retry_after,
        } => status_fault(effective_status(status), retry_after),
        Fault::Hang => {
            tokio::time::sleep(HANG_LIMIT).await;
            errors(
                StatusCode::GATEWAY_TIMEOUT,
                &[ApiError::general("Gateway Timeout")],
            )
        }
        Fault::Close | Fault::AcceptThenClose => match control {
            Some(Extension(control)) => {
                control.close_now();
                // The connection task drops this future together with the connection.
                std::future::pending().await
            }
            None => errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &[ApiError::general(
                    "close fault: connection control unavailable",
                )],
            ),
        },
    }
}

fn status_fault(status: StatusCode, retry_after: Option<u32>) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(seconds) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let reset = now_ms() / 1000 + u64::from(retry_after.unwrap_or(1));
        headers.insert("x-ratelimit-limit", HeaderValue::from(600u32));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    if status.as_u16() < 400 {
        return (status, headers).into_response();
    }
    let message = match status.as_u16() {
        401 => UNAUTHORIZED_MESSAGE,
        403 => "The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.",
        413 => "The JSON payload you have included in your request is too large.",
        429 => "Too many requests",
        _ => status.canonical_reason().unwrap_or("Injected fault"),
    };
    (
        status,
        headers,
        Json(ErrorBody {
            errors: &[ApiError::general(message)],
        }),
    )
        .into_response()
}
