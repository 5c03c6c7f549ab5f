//! The HTTP side: routing, auth, body validation and Cloudflare's response envelope.
//!
//! One fallback handler does the routing itself, so that every answer (unknown paths and
//! methods, bodies too large or not JSON) carries the JSON envelope rather than axum's plain-text
//! rejections, and every request is recorded with the status it got.

use super::queue::{ContentType, Pulled, Queue, RecordedRequest};
use super::{lock, ACCOUNT_ID, API_TOKEN, QUEUE_ID};
use crate::base64::base64_encode;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path prefix every route lives under (the real API's is the same).
pub const API_PREFIX: &str = "/client/v4";

/// Bodies past this are refused with 413 before being parsed.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Cloudflare's documented limits for a pull.
const BATCH_SIZE: RangeInclusive<u64> = 1..=100;
const DEFAULT_BATCH_SIZE: u64 = 5;
const VISIBILITY_TIMEOUT_MS: RangeInclusive<u64> = 0..=43_200_000;
const DEFAULT_VISIBILITY_TIMEOUT_MS: u64 = 30_000;
/// A retry's delay is capped at 12 hours, like every Queues delay.
const DELAY_SECONDS: RangeInclusive<u64> = 0..=43_200;

// Error codes. 10000 is Cloudflare's authentication error code. The others are our choice:
// the docs do not pin them down, and no client should branch on them.
const CODE_AUTH: u32 = 10000;
const CODE_QUEUE_NOT_FOUND: u32 = 11000;
const CODE_BAD_REQUEST: u32 = 11001;
const CODE_TOO_LARGE: u32 = 11002;
const CODE_NO_ROUTE: u32 = 7003;
const CODE_METHOD: u32 = 7001;

type Shared = Arc<Mutex<Queue>>;

pub(crate) fn router(queue: Shared) -> Router {
    Router::new().fallback(handle).with_state(queue)
}

/// Answers one request and records it (without the token).
async fn handle(State(queue): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let auth_valid = bearer_is_valid(request.headers());
    let body = to_bytes(request.into_body(), MAX_BODY_BYTES).await.ok();
    let response = answer(&queue, &method, &path, auth_valid, body);
    lock(&queue).record(RecordedRequest {
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
        auth_valid,
    });
    response
}

fn bearer_is_valid(headers: &HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == API_TOKEN)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Pull,
    Ack,
}

/// A path this API serves: the operation and the two ids in it (not yet checked).
struct Route<'a> {
    operation: Operation,
    account_id: &'a str,
    queue_id: &'a str,
}

/// `/client/v4/accounts/{account_id}/queues/{queue_id}/messages/{pull|ack}`
fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix(API_PREFIX)?.strip_prefix("/accounts/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let [account_id, "queues", queue_id, "messages", operation] = segments.as_slice() else {
        return None;
    };
    let operation = match *operation {
        "pull" => Operation::Pull,
        "ack" => Operation::Ack,
        _ => return None,
    };
    Some(Route {
        operation,
        account_id,
        queue_id,
    })
}

/// Checks the route, the method, the token, the ids, then the body: auth comes before the ids so
/// that a caller without the token learns nothing about which queues exist.
fn answer(
    queue: &Mutex<Queue>,
    method: &Method,
    path: &str,
    auth_valid: bool,
    body: Option<Bytes>,
) -> Response {
    let Some(route) = route(path) else {
        let message =
            format!("Could not route to {path}, perhaps your object identifier is invalid?");
        return error(StatusCode::NOT_FOUND, CODE_NO_ROUTE, &message);
    };
    if method != Method::POST {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            CODE_METHOD,
            "Method not allowed",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !auth_valid {
        return error(StatusCode::UNAUTHORIZED, CODE_AUTH, "Authentication error");
    }
    // Unknown account and unknown queue look the same from outside: the queue is not there.
    if route.account_id != ACCOUNT_ID || route.queue_id != QUEUE_ID {
        return error(
            StatusCode::NOT_FOUND,
            CODE_QUEUE_NOT_FOUND,
            "queue not found",
        );
    }
    let Some(body) = body else {
        let message = format!("request body is larger than {MAX_BODY_BYTES} bytes");
        return error(StatusCode::PAYLOAD_TOO_LARGE, CODE_TOO_LARGE, &message);
    };
    let outcome = json_object(&body).and_then(|fields| match route.operation {
        Operation::Pull => pull(queue, &fields),
        Operation::Ack => ack(queue, &fields),
    });
    match outcome {
        Ok(result) => success(result),
        Err(message) => error(StatusCode::BAD_REQUEST, CODE_BAD_REQUEST, &message),
    }
}

/// The body as a JSON object. An empty body is refused too: the real API is only documented
/// with a JSON body, so a client that sends none should find out here rather than in production.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("request body must be a JSON object".to_owned()),
        Err(e) => Err(format!("request body is not valid JSON: {e}")),
    }
}

fn pull(queue: &Mutex<Queue>, fields: &Map<String, Value>) -> Result<Value, String> {
    let batch_size = integer_field(fields, "", "batch_size", BATCH_SIZE, DEFAULT_BATCH_SIZE)?;
    let visibility_ms = integer_field(
        fields,
        "",
        "visibility_timeout_ms",
        VISIBILITY_TIMEOUT_MS,
        DEFAULT_VISIBILITY_TIMEOUT_MS,
    )?;
    let now = Instant::now();
    let mut queue = lock(queue);
    // Both values are range-checked above, so these conversions cannot truncate.
    let pulled = queue.pull(
        batch_size as usize,
        Duration::from_millis(visibility_ms),
        now,
    );
    let messages: Vec<Value> = pulled.iter().map(pulled_json).collect();
    Ok(json!({
        "message_backlog_count": queue.backlog(now),
        "messages": messages,
    }))
}

/// One message of a pull answer. `json` and `bytes` bodies travel as base64, `text` as is.
fn pulled_json(message: &Pulled) -> Value {
    let body = match message.content_type {
        ContentType::Text => String::from_utf8_lossy(&message.bytes).into_owned(),
        ContentType::Json | ContentType::Bytes => base64_encode(&message.bytes),
    };
    json!({
        "body": body,
        "id": message.id,
        "timestamp_ms": message.timestamp_ms,
        "attempts": message.attempts,
        "metadata": {
            "CF-sourceMessageSource": "api",
            "CF-Content-Type": message.content_type.as_str(),
        },
        "lease_id": message.lease_id,
    })
}

/// What an ack request asks for, validated before anything is changed.
struct AckRequest {
    acks: Vec<String>,
    retries: Vec<(String, Duration)>,
}

fn ack(queue: &Mutex<Queue>, fields: &Map<String, Value>) -> Result<Value, String> {
    let request = ack_request(fields)?;
    let now = Instant::now();
    let mut queue = lock(queue);
    let mut warnings = Vec::new();
    let mut ack_count = 0;
    for lease_id in &request.acks {
        if queue.ack(lease_id, now) {
            ack_count += 1;
        } else {
            warnings.push(unknown_lease_warning("acks", lease_id));
        }
    }
    let mut retry_count = 0;
    for (lease_id, delay) in &request.retries {
        if queue.retry(lease_id, *delay, now) {
            retry_count += 1;
        } else {
            warnings.push(unknown_lease_warning("retries", lease_id));
        }
    }
    Ok(json!({
        "ackCount": ack_count,
        "retryCount": retry_count,
        "warnings": warnings,
    }))
}

fn unknown_lease_warning(list: &str, lease_id: &str) -> String {
    format!("{list}: lease_id {lease_id:?} matches no message on the queue; ignored")
}

fn ack_request(fields: &Map<String, Value>) -> Result<AckRequest, String> {
    let acks = list_field(fields, "acks")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("acks[{i}].");
            lease_id_in(item_object(item, &at)?, &at)
        })
        .collect::<Result<_, _>>()?;
    let retries = list_field(fields, "retries")?
        .iter()
        .enumerate()
        .map(|(i, item)| retry_of(item, &format!("retries[{i}].")))
        .collect::<Result<_, _>>()?;
    Ok(AckRequest { acks, retries })
}

/// One `retries` item; `at` (`retries[2].`) prefixes the field names in error messages.
fn retry_of(item: &Value, at: &str) -> Result<(String, Duration), String> {
    let fields = item_object(item, at)?;
    let lease_id = lease_id_in(fields, at)?;
    let delay = integer_field(fields, at, "delay_seconds", DELAY_SECONDS, 0)?;
    Ok((lease_id, Duration::from_secs(delay)))
}

fn item_object<'a>(item: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    item.as_object().ok_or_else(|| {
        let at = at.trim_end_matches('.');
        format!("{at} must be an object with a lease_id")
    })
}

fn lease_id_in(fields: &Map<String, Value>, at: &str) -> Result<String, String> {
    match fields.get("lease_id") {
        Some(Value::String(lease_id)) => Ok(lease_id.clone()),
        _ => Err(format!("{at}lease_id must be a string")),
    }
}

/// A list field; missing or `null` counts as empty.
fn list_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a [Value], String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{name} must be an array")),
    }
}

/// An integer field within `range`; missing or `null` gives `default`. `at` prefixes the name
/// in the error message (empty at the top level).
fn integer_field(
    fields: &Map<String, Value>,
    at: &str,
    name: &str,
    range: RangeInclusive<u64>,
    default: u64,
) -> Result<u64, String> {
    let value = match fields.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(value) => value.as_u64(),
    };
    value.filter(|v| range.contains(v)).ok_or_else(|| {
        format!(
            "{at}{name} must be an integer from {} to {}",
            range.start(),
            range.end()
        )
    })
}

/// `{"success": true, "errors": [], "messages": [], "result": …}` with 200.
fn success(result: Value) -> Response {
    let envelope = json!({"success": true, "errors": [], "messages": [], "result": result});
    json_response(StatusCode::OK, &envelope)
}

/// Cloudflare's error envelope, with one error.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let envelope = json!({
        "success": false,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": null,
    });
    json_response(status, &envelope)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
