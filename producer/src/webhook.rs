//! The webhook's path once its body is read, shared by both entries: the Rust `fetch` (every
//! route, and webhooks whose body arrives without a length) and `entry.js`'s direct path (a
//! webhook with a `Content-Length`, the signature compared with Web Crypto).

use shared::ingress::signature::{self, SignatureError, SECRET_ENV};
use shared::ingress::{self, Form, Ingress, Reply, MAX_BODY_BYTES};
use shared::logging::{Level, LogLine};
use shell::body::Unread;
use shell::log::Logger;
use worker::js_sys::Date as JsDate;
use worker::Env;

use crate::settings::webhook_secrets;

/// Where the signature's HMAC is computed.
pub enum Hashing<'a> {
    /// Here, in wasm: the signature header (if any) is compared with each secret's HMAC.
    Here(Option<&'a str>),
    /// By `entry.js`, with Web Crypto: the verdict on the signature.
    WebCrypto(Result<(), SignatureError>),
}

/// What the webhook path does next.
pub enum Step {
    /// Answer now; the line says why (its status, outcome and duration are added when written).
    Answer(Reply, LogLine),
    /// Send `message` (the JSON text) to the queue, then answer `reply` (or 503 if it fails).
    Enqueue {
        message: String,
        reply: Reply,
        booking: Booking,
    },
}

/// What the log lines about a queued booking name: never a person, only the booking (its key
/// when this producer computed it; for a forwarded delivery the consumer does, and logs it).
pub struct Booking {
    trigger: String,
    uid: String,
    key: Option<String>,
}

impl Booking {
    pub fn line(&self, level: Level, event: &str) -> LogLine {
        let line = LogLine::new(level, event)
            .with("trigger", self.trigger.as_str())
            .with("uid", self.uid.as_str());
        match &self.key {
            Some(key) => line.with("key", key.as_str()),
            None => line,
        }
    }

    /// The booking an accepted webhook's answer names (`{"status":"queued","event","uid"}`):
    /// `entry.js` holds only the answer's text between the decision and the send's outcome.
    pub fn of_reply(reply: &str) -> Self {
        use shared::contract::calcom::json::{Json, Parser, MAX_LEVELS};
        let tree = Parser::new(reply).value(MAX_LEVELS).unwrap_or(Json::Null);
        let text = |value: &Json| match value {
            Json::String(s) => s.text().into_owned(),
            _ => String::new(),
        };
        Self {
            trigger: text(tree.get("event")),
            uid: text(tree.get("uid")),
            key: None,
        }
    }
}

/// Decides a webhook whose body was read (or not), writing the misconfiguration line if no
/// secret is set. `now_ms`: the request's arrival, the message's `received_at`.
pub fn decide(
    env: &Env,
    logger: &Logger<'_>,
    body: Result<&[u8], Unread>,
    hashing: Hashing<'_>,
    now_ms: f64,
) -> Step {
    let rejected =
        |reply: Reply| Step::Answer(reply, LogLine::new(Level::Warn, "webhook_rejected"));
    let body = match body {
        Ok(body) if body.len() <= MAX_BODY_BYTES => body,
        Ok(_) | Err(Unread::TooLarge) => return rejected(Reply::body_too_large()),
        Err(Unread::Broken) => return rejected(Reply::body_read_failed()),
    };
    let secrets = webhook_secrets(env, logger);
    if secrets.is_empty() {
        let problem = format!("{SECRET_ENV} is not set: every webhook is refused until it is (wrangler secret put {SECRET_ENV})");
        logger
            .emit(&LogLine::new(Level::Error, "producer_misconfigured").with("problems", problem));
    }
    let verdict = match hashing {
        Hashing::Here(header) => signature::verify(&secrets, header, body),
        Hashing::WebCrypto(verdict) => verdict,
    };
    let received_at = shared::text::iso_utc_millis(now_ms as u64);
    let configured = !secrets.is_empty();
    match ingress::accept_checked(configured, verdict, body, &received_at, Form::Forward) {
        Ingress::Reply(reply) if reply.status >= 400 => rejected(reply),
        Ingress::Reply(reply) => {
            let event = if reply.outcome() == "ok" {
                "webhook_ping"
            } else {
                "webhook_ignored"
            };
            let trigger = reply.body["event"].as_str().unwrap_or("").to_owned();
            Step::Answer(
                reply,
                LogLine::new(Level::Info, event).with("trigger", trigger),
            )
        }
        Ingress::Enqueue {
            message,
            body,
            reply,
        } => Step::Enqueue {
            booking: Booking {
                trigger: message.trigger.as_str().to_owned(),
                uid: message.booking.uid.clone(),
                key: Some(message.key.clone()),
            },
            message: body,
            reply,
        },
        Ingress::Forward {
            body,
            reply,
            trigger,
            uid,
        } => Step::Enqueue {
            booking: Booking {
                trigger: trigger.as_str().to_owned(),
                uid,
                key: None,
            },
            message: body,
            reply,
        },
    }
}

/// The line for a queued booking, or for one the queue refused (`error`: what the queue said).
pub fn sent_line(booking: &Booking, error: Option<String>) -> LogLine {
    match error {
        None => booking.line(Level::Info, "webhook_queued"),
        // Cal.com does not retry by default: this booking is lost unless someone acts.
        Some(error) => booking
            .line(Level::Error, "webhook_queue_failed")
            .with("error", error)
            .with("impact", "booking NOT stored; Cal.com will not resend it"),
    }
}

/// Writes the request's line with the answer's status and outcome, and the request's duration.
pub fn finish(logger: &Logger<'_>, status: u16, outcome: &str, mut line: LogLine, started: f64) {
    line.set("status", status);
    line.set("outcome", outcome);
    line.set("duration_ms", (JsDate::now() - started).round() as u64);
    logger.emit(&line);
}
