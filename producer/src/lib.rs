//! Producer worker: `POST /api/calcom-webhook`.
//!
//! A thin shell: it reads the request (body capped), asks `shared::ingress` what to do, sends the
//! message to the `booking-events` queue when told to, and writes the JSON answer. Every decision
//! lives in `shared`, where it is unit-tested natively.

use futures_util::StreamExt;
use shared::ingress::{self, Ingress, Reply, MAX_BODY_BYTES};
use shared::message::BookingMessage;
use shared::signature::{WebhookSecrets, SECRET_ENV, SIGNATURE_HEADER};
use worker::js_sys::{Date as JsDate, JSON};
use worker::*;

/// Producer binding of the `booking-events` queue.
const QUEUE_BINDING: &str = "BOOKING_QUEUE";

/// Pauses between send attempts. Cal.com waits for our answer before showing the booker their
/// confirmation, so the whole retry budget stays well under a second.
const SEND_RETRY_DELAYS_MS: [u64; 2] = [50, 250];

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let method = req.method().to_string();
    let path = req.path();
    let reply = match Reply::for_route(ingress::route(&method, &path), &method, &path) {
        Some(reply) => reply,
        None => handle_webhook(&mut req, &env).await,
    };
    if reply.status >= 400 {
        console_warn!(
            "webhook rejected status={} outcome={}",
            reply.status,
            reply.outcome()
        );
    }
    respond(&reply)
}

async fn handle_webhook(req: &mut Request, env: &Env) -> Reply {
    let Some(body) = read_body_capped(req).await else {
        return Reply::body_too_large();
    };
    let secrets = env
        .secret(SECRET_ENV)
        .map(|s| WebhookSecrets::parse(&s.to_string()))
        .unwrap_or_default();
    if secrets.is_empty() {
        console_error!("{SECRET_ENV} is not set: every webhook is refused until it is (wrangler secret put {SECRET_ENV})");
    }
    let signature = req.headers().get(SIGNATURE_HEADER).ok().flatten();
    let received_at = String::from(JsDate::new_0().to_iso_string());

    match ingress::accept_webhook(&secrets, signature.as_deref(), &body, &received_at) {
        Ingress::Reply(reply) => {
            if reply.status < 400 {
                console_log!(
                    "webhook answered status={} outcome={} event={}",
                    reply.status,
                    reply.outcome(),
                    reply.body["event"]
                );
            }
            reply
        }
        Ingress::Enqueue { message, reply } => match enqueue(env, &message).await {
            Ok(()) => {
                console_log!(
                    "webhook queued event={} uid={} key={}",
                    message.trigger,
                    message.booking.uid,
                    message.key
                );
                reply
            }
            Err(e) => {
                // Cal.com does not retry by default: this booking is lost unless someone acts.
                console_error!(
                    "QUEUE SEND FAILED, booking not stored: event={} uid={} key={} error={e}",
                    message.trigger,
                    message.booking.uid,
                    message.key
                );
                Reply::queue_unavailable()
            }
        },
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; `None` when the body is larger. Checks `Content-Length`
/// first so an oversized upload is refused without reading it.
async fn read_body_capped(req: &mut Request) -> Option<Vec<u8>> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return None;
    }
    // No body at all reads as an empty one (then refused by the signature check).
    let Ok(mut stream) = req.stream() else {
        return Some(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// Sends the message as a JSON object (previewable in the dashboard), retrying briefly.
async fn enqueue(env: &Env, message: &BookingMessage) -> Result<()> {
    let queue = env.queue(QUEUE_BINDING)?;
    let body = JSON::parse(&message.to_json())
        .map_err(|_| Error::RustError("message is not JSON".into()))?;
    let mut last_error = None;
    for delay_ms in std::iter::once(0).chain(SEND_RETRY_DELAYS_MS) {
        if delay_ms > 0 {
            Delay::from(std::time::Duration::from_millis(delay_ms)).await;
        }
        let send =
            RawMessageBuilder::new(body.clone()).build_with_content_type(QueueContentType::Json);
        match queue.send_raw(send).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                console_warn!("queue send failed, retrying: key={} error={e}", message.key);
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| Error::RustError("queue send failed".into())))
}

fn respond(reply: &Reply) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    if let Some(allow) = reply.allow {
        headers.set("Allow", allow)?;
    }
    Ok(Response::ok(reply.body_text())?
        .with_status(reply.status)
        .with_headers(headers))
}
