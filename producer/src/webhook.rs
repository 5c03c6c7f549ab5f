//! The webhook's path once its body is read, shared by both entries: the Rust `fetch` (every
//! route, and webhooks whose body arrives without a length) and `entry.js`'s direct path (a
//! webhook with a `Content-Length`, the signature compared with Web Crypto).

use shared::ingress::envelope::KeyHash;
use shared::ingress::signature::{self, SignatureError, SECRET_ENV};
use shared::ingress::{self, Ingress, Reply, MAX_BODY_BYTES};
use shared::logging::{Level, LogLine};
use shell::body::Unread;
use shell::log::Logger;
use worker::js_sys::Date as JsDate;
use worker::Env;

use crate::settings::webhook_secrets;

/// Where the request's two SHA-256 jobs are done: the signature's HMAC and the key's digest.
pub enum Hashing<'a> {
    /// Here, in wasm: the signature header (if any) is compared with each secret's HMAC.
    Here(Option<&'a str>),
    /// By `entry.js`, with Web Crypto: the verdict on the signature, and the key's bytes handed
    /// out to hash ([`Step::Enqueue`]'s `key_input`).
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
        /// With [`Hashing::WebCrypto`]: the bytes whose SHA-256 gives the key, which
        /// `envelope::fill_key` writes into `message` (until then the key is pending).
        key_input: Option<Vec<u8>>,
    },
}

/// What the log lines about a queued booking name: never a person, only the booking.
pub struct Booking {
    trigger: String,
    uid: String,
    key: String,
}

impl Booking {
    pub fn line(&self, level: Level, event: &str) -> LogLine {
        LogLine::new(level, event)
            .with("trigger", self.trigger.as_str())
            .with("uid", self.uid.as_str())
            .with("key", self.key.as_str())
    }

    /// The fields read back from a message this producer wrote (`entry.js` holds only its text
    /// between the decision and the send's outcome).
    pub fn of_message(message: &str) -> Self {
        use shared::ingress::json::{Json, Parser, MAX_LEVELS};
        let tree = Parser::new(message).value(MAX_LEVELS).unwrap_or(Json::Null);
        let text = |value: &Json| match value {
            Json::String(s) => s.text().into_owned(),
            _ => String::new(),
        };
        Self {
            trigger: text(tree.get("trigger")),
            uid: text(tree.get("booking").get("uid")),
            key: text(tree.get("key")),
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
    let (verdict, key_hash) = match hashing {
        Hashing::Here(header) => (signature::verify(&secrets, header, body), KeyHash::Here),
        Hashing::WebCrypto(verdict) => (verdict, KeyHash::Caller),
    };
    let received_at = shared::text::iso_utc_millis(now_ms as u64);
    let configured = !secrets.is_empty();
    match ingress::accept_checked(configured, verdict, body, &received_at, key_hash) {
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
            key_input,
        } => Step::Enqueue {
            key_input,
            booking: Booking {
                trigger: message.trigger.as_str().to_owned(),
                uid: message.booking.uid.clone(),
                key: message.key.clone(),
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
