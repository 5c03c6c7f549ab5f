//! The producer's decisions, as data: which route a request takes, and what to answer and
//! enqueue for a webhook body. The producer worker only reads the request, calls these, sends the
//! message and writes the [`Reply`].
//!
//! The producer's side of the queue, with its parts:
//! - [`signature`]: Cal.com's `X-Cal-Signature-256` check (HMAC-SHA256, constant time).
//! - [`replay`]: `POST /admin/replay`, putting dead letters back on the queue (the replay
//!   worker's, kept out of the producer so the webhook path stays small and fast).
//!
//! Cal.com's body itself is read by [`crate::contract::calcom`], which the consumer uses too: a
//! booking is forwarded whole ([`crate::contract::forward`]) and read into its key and booking by
//! the consumer, or, when too large to forward, read here into a `v: 1` message. It writes
//! messages through [`crate::contract`] and never uses the consumer's side (`delivery`).

pub mod replay;
pub mod signature;

use serde_json::{json, Value};

use crate::contract::calcom::envelope::{self, BodyError, Delivery};
use crate::contract::calcom::payload;
use crate::contract::forward;
use crate::contract::message::BookingMessage;
use crate::contract::message::BookingTrigger;
use crate::logging::{Level, LogLine};
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
    /// `/admin/replay`, which the replay worker serves, not the producer (see
    /// [`crate::ingress::replay`]): a 404 that says where it went.
    ReplayElsewhere,
    /// Known path, wrong method: answer 405 with `Allow`.
    MethodNotAllowed {
        allow: &'static str,
    },
    NotFound,
}

/// The path of a request's URL as the runtime serializes it (`https://host/path?query`): the
/// first `/` after the host starts it, and `?` or `#` ends it (inside a path they are always
/// percent-encoded). Read without a URL parser, which the producer's size budget cannot afford.
pub fn url_path(url: &str) -> &str {
    let Some(host) = url.find("://").map(|i| i + 3) else {
        return "/";
    };
    let rest = &url[host..];
    let Some(path) = rest.find(['/', '?', '#']).map(|i| &rest[i..]) else {
        return "/";
    };
    if !path.starts_with('/') {
        return "/";
    }
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
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
        (WEBHOOK_PATH, _) => Route::MethodNotAllowed { allow: "POST" },
        (replay::REPLAY_PATH, _) => Route::ReplayElsewhere,
        (HEALTH_PATH, _) => Route::MethodNotAllowed { allow: "GET" },
        _ => Route::NotFound,
    }
}

/// How to read a request body of at most `max` bytes, decided from its `Content-Length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRead {
    /// Declared larger than allowed: refuse (413) without reading it.
    TooLarge,
    /// Declared within the limit: read it whole, in one copy (the runtime ends a body at its
    /// declared length).
    Whole,
    /// No usable length (a chunked upload): read it piece by piece, stopping past the limit.
    Chunked,
}

impl BodyRead {
    pub fn plan(content_length: Option<&str>, max: usize) -> Self {
        match content_length.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(n) if n > max as u64 => Self::TooLarge,
            Some(_) => Self::Whole,
            None => Self::Chunked,
        }
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
            Route::Webhook | Route::Health => None,
            Route::MethodNotAllowed { allow } => Some(Self::method_not_allowed(path, allow, method)),
            Route::ReplayElsewhere => Some(Self::error(
                404,
                "not_found",
                "POST /admin/replay is served by the replay worker (wrangler.replay.toml), not by the producer.",
            )),
            Route::NotFound => Some(Self::error(
                404,
                "not_found",
                &format!("Nothing here. The Cal.com webhook endpoint is POST {WEBHOOK_PATH}."),
            )),
        }
    }

    /// 405 with `Allow`: `path` is served, but not to `method`.
    pub fn method_not_allowed(path: &str, allow: &'static str, method: &str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::error(
                405,
                "method_not_allowed",
                &format!("{path} accepts {allow} only, not {method}."),
            )
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

    /// 202: the booking is on the queue.
    fn queued(trigger: BookingTrigger, uid: &str) -> Self {
        Self::new(
            202,
            json!({ "status": "queued", "event": trigger.as_str(), "uid": uid }),
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

    /// The request body could not be read (the upload broke off or the stream failed): 400,
    /// distinct from `body_too_large` (413) and `body_unreadable` (read, but not a JSON object).
    pub fn body_read_failed() -> Self {
        Self::error(
            400,
            "body_read_failed",
            "The request body could not be read to its end; send it again.",
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

/// `GET /healthz`: whether the producer's settings are complete and sound.
#[derive(Debug, Clone, PartialEq)]
pub struct Health<'a> {
    /// Per required setting, whether it is present (never its value).
    pub checks: Vec<(&'a str, bool)>,
    /// Settings that work but are weak (a short secret, a short admin token): sentences that
    /// name the setting and never its value.
    pub weaknesses: Vec<String>,
}

impl Health<'_> {
    /// `incomplete` when a required setting is missing, `degraded` when one is weak, else `ok`.
    pub fn status(&self) -> &'static str {
        if self.checks.iter().any(|(_, ok)| !ok) {
            "incomplete"
        } else if !self.weaknesses.is_empty() {
            "degraded"
        } else {
            "ok"
        }
    }

    /// What is wrong, for the log line: each missing setting, then each weakness.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, ok) in &self.checks {
            if !ok {
                problems.push(format!("{name} is not set"));
            }
        }
        problems.extend(self.weaknesses.iter().cloned());
        problems
    }

    /// The answer: 503 when `incomplete` (a monitor alerts), else 200. Anyone sees only the
    /// status word; `detail` (a valid admin token was shown) adds the version, each setting's
    /// presence and the problems.
    pub fn reply(&self, version: &str, detail: bool) -> Reply {
        let status = self.status();
        // Built by hand, not collected or serialized: each would link more code (size budget).
        let mut map = serde_json::Map::new();
        map.insert("status".into(), Value::from(status));
        if detail {
            let mut config = serde_json::Map::new();
            for (name, ok) in &self.checks {
                config.insert((*name).to_owned(), Value::Bool(*ok));
            }
            let problems = self.problems().into_iter().map(Value::String).collect();
            map.insert("version".into(), Value::from(version));
            map.insert("config".into(), Value::Object(config));
            map.insert("problems".into(), Value::Array(problems));
        }
        let body = Value::Object(map);
        Reply::new(if status == "incomplete" { 503 } else { 200 }, body)
    }

    /// The log line: the only place, without an admin token, that names the problems. Debug
    /// when `ok`, a warning when `degraded`, an error when `incomplete`.
    pub fn log_line(&self) -> LogLine {
        let level = match self.status() {
            "ok" => Level::Debug,
            "degraded" => Level::Warn,
            _ => Level::Error,
        };
        let line = LogLine::new(level, "health_checked");
        match self.problems() {
            problems if problems.is_empty() => line,
            problems => line.with("problems", problems.join("; ")),
        }
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
    /// The same for a booking forwarded whole ([`forward`], `v: 2`): its key and booking are
    /// read by the consumer, so only the trigger and uid (as the answer shows it) are known here.
    Forward {
        body: String,
        reply: Reply,
        trigger: BookingTrigger,
        uid: String,
    },
}

/// How a booking goes on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// As its key and booking (`v: 1`), read here.
    Booking,
    /// Forwarded whole (`v: 2`) when it fits ([`forward::fits`]), else as [`Form::Booking`]:
    /// what the producer sends.
    Forward,
}

/// The whole decision for one webhook body: configuration, signature, parsing, classification.
pub fn accept_webhook(
    secrets: &WebhookSecrets,
    signature_header: Option<&str>,
    body: &[u8],
    received_at: &str,
) -> Ingress {
    let signature = signature::verify(secrets, signature_header, body);
    accept_checked(
        !secrets.is_empty(),
        signature,
        body,
        received_at,
        Form::Booking,
    )
}

/// [`accept_webhook`] with the signature already checked (`signature`: the verdict of
/// [`signature::verify`], or of [`signature::judge`] when the MACs were computed elsewhere).
/// `configured`: whether any secret is set; `form`: how a booking goes on the queue.
pub fn accept_checked(
    configured: bool,
    signature: Result<(), signature::SignatureError>,
    body: &[u8],
    received_at: &str,
    form: Form,
) -> Ingress {
    // Fail closed: with no secret configured, nothing can be verified, so nothing is accepted.
    if !configured {
        return Ingress::Reply(Reply::error(
            500,
            "secret_not_configured",
            "The receiver has no webhook secret configured (CALCOM_WEBHOOK_SECRET). The operator must set it; nothing is accepted until then.",
        ));
    }
    if let Err(e) = signature {
        return Ingress::Reply(Reply::error(401, e.code(), e.message()));
    }
    if form == Form::Forward && forward::fits(body.len()) {
        if let Some((text, trigger, uid)) = envelope::booking_head(body) {
            return forwarded(text, received_at, trigger, uid);
        }
    }
    read_whole(body, received_at)
}

/// The body read whole: its answer, and for a booking its `v: 1` message. Never inlined: the
/// forwarding path stays a small function for V8 to compile (docs/PERFORMANCE.md).
#[inline(never)]
fn read_whole(body: &[u8], received_at: &str) -> Ingress {
    let read = match envelope::parse_delivery_for_queue(body, received_at) {
        Ok(read) => read,
        Err(e) => return Ingress::Reply(body_error(&e)),
    };
    match read.delivery {
        Delivery::Ping => Ingress::Reply(Reply::new(
            200,
            json!({ "status": "ok", "event": envelope::PING }),
        )),
        Delivery::Ignored { trigger } => Ingress::Reply(Reply::new(
            200,
            json!({ "status": "ignored", "event": trigger }),
        )),
        Delivery::Booking(message) => {
            let reply = Reply::queued(message.trigger, &message.booking.uid);
            let body = read.json.unwrap_or_else(|| message.to_json());
            Ingress::Enqueue {
                message,
                body,
                reply,
            }
        }
    }
}

/// A booking whose body [`envelope::booking_head`] read, forwarded whole. The answer names the
/// uid as a `v: 1` message would carry it (cut as [`payload::Limits::NORMAL`] cuts it).
fn forwarded(text: &str, received_at: &str, trigger: BookingTrigger, uid: String) -> Ingress {
    let uid = crate::text::truncate_bytes(&uid, payload::Limits::NORMAL.short).0;
    Ingress::Forward {
        body: forward::write(received_at, text),
        reply: Reply::queued(trigger, &uid),
        trigger,
        uid,
    }
}

fn body_error(e: &BodyError) -> Reply {
    Reply::error(400, e.code(), &e.message())
}
