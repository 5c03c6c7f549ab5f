//! The producer's decisions, as data: which route a request takes, and what to answer and
//! enqueue for a webhook body. The producer worker only reads the request, calls these, sends the
//! message and writes the [`Reply`].
//!
//! The producer's side of the queue, with its parts:
//! - [`signature`]: Cal.com's `X-Cal-Signature-256` check (HMAC-SHA256, constant time).
//! - [`envelope`]: the delivery envelope (`triggerEvent`, `createdAt`, `payload`) and its trigger.
//! - [`payload`]: tolerant extraction of a booking from Cal.com's payload (and the hand-written
//!   JSON object reader both of those use).
//! - [`replay`]: `POST /admin/replay`, putting dead letters back on the queue.
//!
//! It writes messages through [`crate::contract`] and never uses the consumer's side (`delivery`).

pub mod envelope;
pub mod payload;
pub mod replay;
pub mod signature;

use serde_json::json;

use crate::contract::message::BookingMessage;
use envelope::{BodyError, Delivery};
use signature::WebhookSecrets;

/// The webhook route.
pub const WEBHOOK_PATH: &str = "/api/calcom-webhook";

/// Largest body we read. Real deliveries are 2–5 KB; Cal.com does not retry, so the limit is
/// generous (a booking form with long answers must not be lost). The message we enqueue is capped
/// separately at [`crate::contract::message::MAX_MESSAGE_BYTES`].
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The producer's health route.
pub const HEALTH_PATH: &str = "/healthz";

/// Where a request goes, decided from method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Webhook,
    /// `GET /healthz`: version and whether the configuration is complete.
    Health,
    /// `POST /admin/replay` (see [`crate::ingress::replay`]).
    Replay,
    /// Known path, wrong method: answer 405 with `Allow`.
    MethodNotAllowed {
        allow: &'static str,
    },
    NotFound,
}

/// Cal.com posts without following redirects, so the trailing-slash form is served as is.
pub fn route(method: &str, path: &str) -> Route {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    match (path, method) {
        (WEBHOOK_PATH, "POST") => Route::Webhook,
        (HEALTH_PATH, "GET" | "HEAD") => Route::Health,
        (crate::ingress::replay::REPLAY_PATH, "POST") => Route::Replay,
        (WEBHOOK_PATH | crate::ingress::replay::REPLAY_PATH, _) => {
            Route::MethodNotAllowed { allow: "POST" }
        }
        (HEALTH_PATH, _) => Route::MethodNotAllowed { allow: "GET" },
        _ => Route::NotFound,
    }
}

/// An HTTP answer: status, JSON body and an optional `Allow` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub allow: Option<&'static str>,
}

impl Reply {
    fn new(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body,
            allow: None,
        }
    }

    /// `{"status":"error","error":code,"message":…}`
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::new(
            status,
            json!({ "status": "error", "error": code, "message": message }),
        )
    }

    pub fn for_route(route: Route, method: &str, path: &str) -> Option<Self> {
        match route {
            Route::Webhook | Route::Health | Route::Replay => None,
            Route::MethodNotAllowed { allow } => Some(Self {
                allow: Some(allow),
                ..Self::error(
                    405,
                    "method_not_allowed",
                    &format!("{path} accepts {allow} only, not {method}."),
                )
            }),
            Route::NotFound => Some(Self::error(
                404,
                "not_found",
                &format!("Nothing here. The Cal.com webhook endpoint is POST {WEBHOOK_PATH}."),
            )),
        }
    }

    pub fn body_too_large() -> Self {
        Self::error(
            413,
            "body_too_large",
            &format!(
                "The body is larger than {} KiB; Cal.com webhooks are a few KB.",
                MAX_BODY_BYTES / 1024
            ),
        )
    }

    /// The queue refused the message even after retrying: tell Cal.com it failed.
    pub fn queue_unavailable() -> Self {
        Self::error(
            503,
            "queue_unavailable",
            "The booking could not be queued. It was not stored; the operator has been alerted in the logs.",
        )
    }

    /// `GET /healthz`: the version and, per setting, whether it is present (never its value).
    /// 200 when everything is configured, 503 otherwise, so a monitor can alert on it.
    pub fn health(version: &str, checks: &[(&str, bool)]) -> Self {
        let complete = checks.iter().all(|(_, ok)| *ok);
        let config: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|(name, ok)| ((*name).to_owned(), serde_json::Value::from(*ok)))
            .collect();
        Self::new(
            if complete { 200 } else { 503 },
            json!({ "status": if complete { "ok" } else { "incomplete" }, "version": version, "config": config }),
        )
    }

    /// The JSON text of the body.
    pub fn body_text(&self) -> String {
        self.body.to_string()
    }

    /// A short label for logs: the `error` code, else the `status` word.
    pub fn outcome(&self) -> &str {
        self.body
            .get("error")
            .or_else(|| self.body.get("status"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
}

/// What to do with a webhook request whose body was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingress {
    /// Answer without enqueuing anything.
    Reply(Reply),
    /// Send `body` (the message's JSON, serialized once) to the queue as a `text` message, then
    /// answer `reply` (or [`Reply::queue_unavailable`]).
    Enqueue {
        message: Box<BookingMessage>,
        body: String,
        reply: Reply,
    },
}

/// The whole decision for one webhook body: configuration, signature, parsing, classification.
pub fn accept_webhook(
    secrets: &WebhookSecrets,
    signature_header: Option<&str>,
    body: &[u8],
    received_at: &str,
) -> Ingress {
    // Fail closed: with no secret configured, nothing can be verified, so nothing is accepted.
    if secrets.is_empty() {
        return Ingress::Reply(Reply::error(
            500,
            "secret_not_configured",
            "The receiver has no webhook secret configured (CALCOM_WEBHOOK_SECRET). The operator must set it; nothing is accepted until then.",
        ));
    }
    if let Err(e) = signature::verify(secrets, signature_header, body) {
        return Ingress::Reply(Reply::error(401, e.code(), e.message()));
    }
    match envelope::parse_delivery_for_queue(body, received_at) {
        Err(e) => Ingress::Reply(body_error(&e)),
        Ok((Delivery::Ping, _)) => Ingress::Reply(Reply::new(
            200,
            json!({ "status": "ok", "event": envelope::PING }),
        )),
        Ok((Delivery::Ignored { trigger }, _)) => Ingress::Reply(Reply::new(
            200,
            json!({ "status": "ignored", "event": trigger }),
        )),
        Ok((Delivery::Booking(message), json)) => {
            let reply = Reply::new(
                202,
                json!({ "status": "queued", "event": message.trigger.as_str(), "uid": message.booking.uid }),
            );
            let body = json.unwrap_or_else(|| message.to_json());
            Ingress::Enqueue {
                message,
                body,
                reply,
            }
        }
    }
}

fn body_error(e: &BodyError) -> Reply {
    Reply::error(400, e.code(), &e.message())
}
