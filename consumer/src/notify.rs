//! Sending the email for one decoded message, through the delivery ledger: claim, send, record.
//! Every branch ends in a `Decision` from `shared`; nothing is sent without a claim.

use shared::contract::message::BookingMessage;
use shared::delivery::email;
use shared::delivery::ledger::{self, LostClaim};
use shared::delivery::policy::{self as delivery, Decision};
use shared::delivery::sendgrid::{self, SendResult};
use shared::delivery::settings::Settings;
use worker::js_sys::Date as JsDate;
use worker::Env;

use crate::ledger::{Claim, Ledger};
use crate::log::Trace;
use crate::{jitter, now_unix, random_hex, send};

/// Tries to record an accepted send this many times before calling its outcome unknown.
const MARK_SENT_TRIES: usize = 3;

pub async fn notify(
    message: &BookingMessage,
    settings: &Settings,
    env: &Env,
    attempt: u32,
    trace: &mut Trace<'_>,
) -> Decision {
    let ledger_down = |e: worker::Error, trace: &mut Trace<'_>| {
        trace.note("ledger_error", &e.to_string());
        let delay = delivery::backoff_delay(attempt, &settings.retry, jitter());
        delivery::decide_transient(
            "the delivery ledger (D1) is unavailable; nothing was sent",
            delay,
            attempt,
            &settings.retry,
        )
    };
    let ledger = match Ledger::open(env) {
        Ok(ledger) => ledger,
        Err(e) => return ledger_down(e, trace),
    };
    let claim_id = random_hex();
    let ttl_ms = settings.claim_ttl_ms();
    match ledger
        .claim(
            message,
            &claim_id,
            JsDate::now(),
            ttl_ms,
            settings.unknown_outcome,
        )
        .await
    {
        Err(e) => return ledger_down(e, trace),
        Ok(Claim::Lost(row)) => {
            let recheck_secs = settings.timeout_ms.div_ceil(1000) + 1;
            let lost = ledger::after_lost_claim(row.as_ref(), JsDate::now(), ttl_ms, recheck_secs);
            if let LostClaim::AlreadySent { message_id } = &lost {
                trace.duplicate(message_id.as_deref());
            }
            return ledger::decide_lost_claim(&lost, &message.key, attempt, &settings.retry);
        }
        Ok(Claim::Claimed) => {}
    }

    let email = email::render(message);
    let request = sendgrid::build_request(&email, message, &settings.sendgrid);
    let started = JsDate::now();
    let sent = send::mail_send(settings, request).await;
    trace.sent(sent.result.status(), JsDate::now() - started);

    let decision = ledger::decide_send(
        &sent.result,
        &message.key,
        attempt,
        &settings.retry,
        settings.unknown_outcome,
        jitter(),
        now_unix(),
    );
    match (&sent.result, &decision) {
        (SendResult::Status { status, .. }, Decision::Ack) => {
            for _ in 0..MARK_SENT_TRIES {
                match ledger
                    .mark_sent(
                        &message.key,
                        sent.message_id.as_deref(),
                        *status,
                        JsDate::now(),
                    )
                    .await
                {
                    Ok(()) => return Decision::Ack,
                    Err(e) => trace.note("ledger_error", &e.to_string()),
                }
            }
            ledger::decide_unrecorded_send(
                &message.key,
                attempt,
                &settings.retry,
                settings.unknown_outcome,
            )
        }
        (result, decision) => {
            let unknown = ledger::is_unknown_outcome(result);
            let note = decision.reason().unwrap_or("");
            // Best effort: if this fails, the claim expires and the next delivery reads it as
            // in flight, then as unknown.
            if let Err(e) = ledger
                .settle(
                    &message.key,
                    &claim_id,
                    unknown,
                    result.status(),
                    note,
                    JsDate::now(),
                )
                .await
            {
                trace.note("ledger_error", &e.to_string());
            }
            decision.clone()
        }
    }
}
