//! Observer and control routes under `/__stub/`, plus the 404/405 answers.

use super::chaos::Chaos;
use super::faults::FaultRule;
use super::mail_send::errors;
use super::sendgrid::ApiError;
use super::state::State;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::header::ALLOW;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

type Shared = Extract<Arc<State>>;

pub(crate) async fn emails(Extract(state): Shared) -> Response {
    Json(state.lock().emails.clone()).into_response()
}

pub(crate) async fn attempts(Extract(state): Shared) -> Response {
    Json(state.lock().attempts.clone()).into_response()
}

pub(crate) async fn dead_letters(Extract(state): Shared) -> Response {
    Json(state.lock().dead_letters.clone()).into_response()
}

pub(crate) async fn queue_tap(Extract(state): Shared) -> Response {
    Json(state.lock().queue_tap.clone()).into_response()
}

pub(crate) async fn logs(Extract(state): Shared) -> Response {
    Json(state.lock().logs.clone()).into_response()
}

pub(crate) async fn faults(Extract(state): Shared) -> Response {
    Json(state.lock().faults.clone()).into_response()
}

pub(crate) async fn add_dead_letters(Extract(state): Shared, body: Bytes) -> Response {
    match one_or_many::<Value>(&body) {
        Ok(values) => {
            state.lock().dead_letters.extend(values);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

pub(crate) async fn add_queue_tap(Extract(state): Shared, body: Bytes) -> Response {
    match one_or_many::<Value>(&body) {
        Ok(values) => {
            state.lock().queue_tap.extend(values);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

/// Body: a JSON array of strings (a single string is accepted too).
pub(crate) async fn add_logs(Extract(state): Shared, body: Bytes) -> Response {
    match one_or_many::<String>(&body) {
        Ok(lines) => {
            state.lock().logs.extend(lines);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

/// Body: one [`FaultRule`] or an array of them.
pub(crate) async fn add_faults(Extract(state): Shared, body: Bytes) -> Response {
    let rules = match one_or_many::<FaultRule>(&body) {
        Ok(rules) => rules,
        Err(e) => return bad_request(e),
    };
    for rule in &rules {
        if let super::Fault::Status { status, .. } = rule.fault {
            if !(200..600).contains(&status) {
                return bad_request(format!("fault status {status} is not within 200..=599"));
            }
        }
    }
    state.push_faults(rules);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn clear_faults(Extract(state): Shared) -> Response {
    state.lock().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// The chaos setting, or `null` when off.
pub(crate) async fn chaos(Extract(state): Shared) -> Response {
    Json(state.lock().chaos.clone()).into_response()
}

/// Body: a [`Chaos`] to turn chaos on (replacing any earlier one), or `null` to turn it off.
pub(crate) async fn set_chaos(Extract(state): Shared, body: Bytes) -> Response {
    let chaos: Option<Chaos> = match serde_json::from_slice(&body) {
        Ok(chaos) => chaos,
        Err(e) => return bad_request(format!("expected a chaos object or null: {e}")),
    };
    if let Some(Err(e)) = chaos.as_ref().map(Chaos::validate) {
        return bad_request(e);
    }
    state.lock().chaos = chaos;
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn reset(Extract(state): Shared) -> Response {
    state.reset();
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn not_found() -> Response {
    errors(StatusCode::NOT_FOUND, &[ApiError::general("Not Found")])
}

pub(crate) async fn method_not_allowed() -> Response {
    let mut response = errors(
        StatusCode::METHOD_NOT_ALLOWED,
        &[ApiError::general("Method Not Allowed")],
    );
    response
        .headers_mut()
        .insert(ALLOW, axum::http::HeaderValue::from_static("POST"));
    response
}

/// Parses `T` or `[T, ...]`: an array body contributes each element.
fn one_or_many<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let values = match value {
        Value::Array(values) => values,
        single => vec![single],
    };
    values
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| format!("unexpected shape: {e}")))
        .collect()
}

fn bad_request(message: impl Into<String>) -> Response {
    errors(StatusCode::BAD_REQUEST, &[ApiError::general(message)])
}
