//! The consumer's decision for one queue message, as data: ack, retry after a delay, or
//! dead-letter with a reason.
//!
//! Rules ([`decide`]):
//! - 2xx → [`Decision::Ack`].
//! - 429, 5xx, network errors, timeouts (and any other status SendGrid should not send) →
//!   [`Decision::Retry`] with exponential backoff `base · 2^(attempt−1)`, capped at `max`, with
//!   **equal jitter**: the delay is drawn from `[d/2, d)` where `d` is the capped backoff, so
//!   retries spread out but never come back immediately. A `Retry-After` or `X-RateLimit-Reset`
//!   later than that delay wins (still capped at `max`).
//! - 401, 403, 404 (and 3xx) → [`Decision::Retry`] after `config_error_delay_secs`: they heal only
//!   when an operator fixes the configuration, and the reason says what to fix.
//! - 400, 413 and other 4xx → [`Decision::DeadLetter`] at once: the same request never succeeds.
//! - A retry on the last attempt (`attempt >= max_attempts`) becomes a dead letter
//!   ("gave up after N attempts: …"), sent by the consumer itself so the reason travels with it.
//! - Every delay is clamped to 12 h (43,200 s): Queues' limit for retry delays (some of its pages
//!   say 24 h; the limits page and the platform cap at 12 h, and a lower clamp is always safe).
//!
//! Bodies that cannot be read ([`decode_message`](crate::contract::decode::decode_message)) are
//! dead-lettered at once ([`decide_undecodable`]).

use crate::contract::decode::UndecodableReason;
use crate::delivery::sendgrid::SendResult;
use crate::text::truncate_bytes;

/// Queues' longest retry delay: 12 h.
pub const MAX_QUEUE_DELAY_SECS: u32 = 43_200;

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Ack,
    Retry { delay_seconds: u32, reason: String },
    DeadLetter { reason: String },
}

impl Decision {
    /// The reason, for logs (none for an ack).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Ack => None,
            Decision::Retry { reason, .. } | Decision::DeadLetter { reason } => Some(reason),
        }
    }
}

/// How patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry's backoff (before jitter), e.g. 30.
    pub base_delay_secs: u32,
    /// The longest backoff, e.g. 3600.
    pub max_delay_secs: u32,
    /// The delay after a configuration error (401/403/404), e.g. 3600.
    pub config_error_delay_secs: u32,
    /// The queue's `max_retries + 1`: the attempt on which the consumer gives up.
    pub max_attempts: u32,
}

/// The values `wrangler.consumer.toml` ships in `[vars]` (a test holds them equal), so a
/// setting left out behaves as the documented one. A configuration error retries hourly: a key,
/// sender or base URL is fixed by a person, and with `MAX_RETRIES = 5` a message waits about five
/// hours for that before it is dead-lettered (half-hourly gave only two and a half).
impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay_secs: 30,
            max_delay_secs: 3600,
            config_error_delay_secs: 3600,
            max_attempts: 6,
        }
    }
}

/// Decides what a send result means for the message. `attempt` is Queues' 1-based `attempts`;
/// `jitter` a random number in `[0, 1)`; `now_unix` the current time (for `X-RateLimit-Reset`).
pub fn decide(
    result: &SendResult,
    attempt: u32,
    policy: &RetryPolicy,
    jitter: f64,
    now_unix: u64,
) -> Decision {
    let attempt = attempt.max(1);
    let (delay, reason) = match result {
        SendResult::Status { status, retry_after_secs, rate_limit_reset_unix, error_summary } => {
            let detail = error_summary.as_deref().map(|s| format!(": {s}")).unwrap_or_default();
            match *status {
                200..=299 => return Decision::Ack,
                400 => return dead(format!("SendGrid rejected the email (400 Bad Request){detail}")),
                413 => return dead(format!("SendGrid rejected the email as too large (413 Payload Too Large){detail}")),
                401 => (
                    policy.config_error_delay_secs,
                    format!("SendGrid rejected the API key (401 Unauthorized): set SENDGRID_API_KEY to a valid key with the Mail Send permission (wrangler secret put SENDGRID_API_KEY){detail}"),
                ),
                403 => (
                    policy.config_error_delay_secs,
                    format!("SendGrid refused to send (403 Forbidden): the sender is not verified or the key lacks the Mail Send scope: verify EMAIL_FROM in SendGrid (Settings → Sender Authentication) and check the API key's permissions{detail}"),
                ),
                404 => (
                    policy.config_error_delay_secs,
                    format!("SendGrid's Mail Send endpoint was not found (404 Not Found): check SENDGRID_API_BASE (normally https://api.sendgrid.com, without /v3){detail}"),
                ),
                300..=399 => (
                    policy.config_error_delay_secs,
                    format!("SendGrid answered with a redirect ({status}): check SENDGRID_API_BASE (normally https://api.sendgrid.com){detail}"),
                ),
                429 => {
                    let reason = format!("SendGrid rate limit (429 Too Many Requests){detail}");
                    (backoff(attempt, policy, jitter, *retry_after_secs, *rate_limit_reset_unix, now_unix), reason)
                }
                500..=599 => {
                    let reason = format!("SendGrid server error ({status}){detail}");
                    (backoff(attempt, policy, jitter, *retry_after_secs, *rate_limit_reset_unix, now_unix), reason)
                }
                402..=499 => return dead(format!("SendGrid rejected the email ({status}){detail}")),
                _ => {
                    let reason = format!("unexpected answer from SendGrid ({status}){detail}");
                    (backoff(attempt, policy, jitter, *retry_after_secs, *rate_limit_reset_unix, now_unix), reason)
                }
            }
        }
        SendResult::NetworkError(e) => (
            backoff(attempt, policy, jitter, None, None, now_unix),
            format!("network error reaching SendGrid: {}", truncate_bytes(e, 500).0),
        ),
        SendResult::Timeout => (
            backoff(attempt, policy, jitter, None, None, now_unix),
            "no answer from SendGrid in time (the email may have been sent; a retry can send it twice)".to_owned(),
        ),
    };
    if attempt >= policy.max_attempts {
        return dead(format!("gave up after {attempt} attempts: {reason}"));
    }
    Decision::Retry {
        delay_seconds: delay.min(MAX_QUEUE_DELAY_SECS),
        reason,
    }
}

/// A transient failure that is not SendGrid's answer (the delivery ledger unreachable, another
/// delivery in flight): retry after `delay_secs`, or dead-letter on the last attempt.
pub fn decide_transient(
    reason: &str,
    delay_secs: u32,
    attempt: u32,
    policy: &RetryPolicy,
) -> Decision {
    if attempt.max(1) >= policy.max_attempts {
        return dead(format!("gave up after {attempt} attempts: {reason}"));
    }
    Decision::Retry {
        delay_seconds: delay_secs.clamp(1, MAX_QUEUE_DELAY_SECS),
        reason: reason.to_owned(),
    }
}

/// The exponential backoff (with equal jitter) for `attempt`, for transient failures of our own.
pub fn backoff_delay(attempt: u32, policy: &RetryPolicy, jitter: f64) -> u32 {
    backoff(attempt.max(1), policy, jitter, None, None, 0)
}

/// The decision when the consumer's own settings are incomplete (see
/// [`crate::delivery::settings`]): like a SendGrid configuration error, it heals only when the
/// operator fixes it, so retry after the configuration-error delay and dead-letter on the last
/// attempt.
pub fn decide_misconfigured(problems: &str, attempt: u32, policy: &RetryPolicy) -> Decision {
    let reason = format!("consumer configuration incomplete: {problems}");
    if attempt.max(1) >= policy.max_attempts {
        return dead(format!("gave up after {attempt} attempts: {reason}"));
    }
    Decision::Retry {
        delay_seconds: policy.config_error_delay_secs.min(MAX_QUEUE_DELAY_SECS),
        reason,
    }
}

fn dead(reason: String) -> Decision {
    Decision::DeadLetter { reason }
}

/// `base · 2^(attempt−1)` capped at `max`, equal jitter (`[d/2, d)`), then any later server hint
/// (capped at `max`).
fn backoff(
    attempt: u32,
    policy: &RetryPolicy,
    jitter: f64,
    retry_after_secs: Option<u64>,
    rate_limit_reset_unix: Option<u64>,
    now_unix: u64,
) -> u32 {
    let max = u64::from(policy.max_delay_secs.min(MAX_QUEUE_DELAY_SECS));
    let exponential =
        u64::from(policy.base_delay_secs).saturating_mul(1u64 << (attempt - 1).min(40));
    let capped = exponential.min(max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = capped / 2;
    // `jitter < 1` keeps the draw below `capped`; `jitter == 1` (out of contract) reaches it.
    let delay = half + ((capped - half) as f64 * jitter) as u64;
    let hint = [
        retry_after_secs,
        rate_limit_reset_unix.map(|reset| reset.saturating_sub(now_unix)),
    ]
    .into_iter()
    .flatten()
    .max();
    let delay = match hint {
        Some(hint) if hint > delay => hint.min(max),
        _ => delay,
    };
    // At least a second: an immediate redelivery only adds load to a struggling SendGrid.
    u32::try_from(delay).unwrap_or(MAX_QUEUE_DELAY_SECS).max(1)
}
/// The decision for a body that cannot be read: dead-letter it at once (retrying cannot help).
pub fn decide_undecodable(reason: &UndecodableReason) -> Decision {
    Decision::DeadLetter {
        reason: reason.to_string(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_771_351_200;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base_delay_secs: 10,
            max_delay_secs: 3600,
            config_error_delay_secs: 1800,
            max_attempts: 6,
        }
    }

    fn status(status: u16) -> SendResult {
        SendResult::Status {
            status,
            retry_after_secs: None,
            rate_limit_reset_unix: None,
            error_summary: None,
        }
    }

    fn delay(d: &Decision) -> u32 {
        match d {
            Decision::Retry { delay_seconds, .. } => *delay_seconds,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    fn dead_reason(d: Decision) -> String {
        match d {
            Decision::DeadLetter { reason } => reason,
            other => panic!("expected a dead letter, got {other:?}"),
        }
    }

    #[test]
    fn success_acks() {
        for s in [200, 202, 204, 299] {
            assert_eq!(decide(&status(s), 1, &policy(), 0.5, NOW), Decision::Ack);
            // Even on the last attempt.
            assert_eq!(decide(&status(s), 99, &policy(), 0.5, NOW), Decision::Ack);
        }
    }

    #[test]
    fn transient_failures_back_off_exponentially_with_equal_jitter() {
        for result in [
            status(429),
            status(500),
            status(502),
            status(503),
            status(504),
            SendResult::Timeout,
            SendResult::NetworkError("reset".into()),
        ] {
            // jitter 0 → the lower bound d/2; jitter → 1 → just under d.
            assert_eq!(delay(&decide(&result, 1, &policy(), 0.0, NOW)), 5);
            assert_eq!(delay(&decide(&result, 1, &policy(), 0.999_999, NOW)), 9);
            assert_eq!(delay(&decide(&result, 2, &policy(), 0.0, NOW)), 10);
            assert_eq!(delay(&decide(&result, 3, &policy(), 0.0, NOW)), 20);
            assert_eq!(delay(&decide(&result, 5, &policy(), 0.5, NOW)), 120);
        }
        // Capped at max, then jittered within [max/2, max).
        let p = RetryPolicy {
            max_attempts: 100,
            ..policy()
        };
        for attempt in [10, 30, 64, 99] {
            let lo = delay(&decide(&status(503), attempt, &p, 0.0, NOW));
            let hi = delay(&decide(&status(503), attempt, &p, 0.999_999, NOW));
            assert_eq!((lo, hi), (1800, 3599), "attempt {attempt}");
        }
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let p = RetryPolicy {
            max_attempts: 100,
            ..policy()
        };
        for attempt in 1..=12 {
            let d = u64::from(p.base_delay_secs * (1 << (attempt - 1))).min(3600) as u32;
            for i in 0..100 {
                let jitter = f64::from(i) / 100.0;
                let got = delay(&decide(&status(500), attempt, &p, jitter, NOW));
                assert!(
                    got >= d / 2 && got < d.max(1),
                    "attempt {attempt} jitter {jitter}: {got} not in [{}, {d})",
                    d / 2
                );
            }
        }
        // Out-of-contract jitter is clamped, never negative or beyond the cap.
        for jitter in [-1.0, 7.0, f64::NAN, f64::INFINITY] {
            let got = delay(&decide(&status(500), 1, &p, jitter, NOW));
            assert!((5..=10).contains(&got), "{jitter}: {got}");
        }
    }

    #[test]
    fn server_hints_win_when_later() {
        let with = |retry_after: Option<u64>, reset: Option<u64>| SendResult::Status {
            status: 429,
            retry_after_secs: retry_after,
            rate_limit_reset_unix: reset,
            error_summary: None,
        };
        // Retry-After later than the backoff.
        assert_eq!(
            delay(&decide(&with(Some(120), None), 1, &policy(), 0.0, NOW)),
            120
        );
        // Earlier than the backoff: the backoff stays.
        assert_eq!(
            delay(&decide(&with(Some(1), None), 3, &policy(), 0.0, NOW)),
            20
        );
        // X-RateLimit-Reset is a unix time.
        assert_eq!(
            delay(&decide(
                &with(None, Some(NOW + 300)),
                1,
                &policy(),
                0.0,
                NOW
            )),
            300
        );
        assert_eq!(
            delay(&decide(
                &with(None, Some(NOW - 300)),
                1,
                &policy(),
                0.0,
                NOW
            )),
            5
        );
        // Both: the later one.
        assert_eq!(
            delay(&decide(
                &with(Some(200), Some(NOW + 90)),
                1,
                &policy(),
                0.0,
                NOW
            )),
            200
        );
        // Capped at max.
        assert_eq!(
            delay(&decide(&with(Some(999_999), None), 1, &policy(), 0.0, NOW)),
            3600
        );
        // Also for 503 with Retry-After.
        let r = SendResult::Status {
            status: 503,
            retry_after_secs: Some(60),
            rate_limit_reset_unix: None,
            error_summary: None,
        };
        assert_eq!(delay(&decide(&r, 1, &policy(), 0.0, NOW)), 60);
    }

    #[test]
    fn delays_never_exceed_twelve_hours() {
        assert_eq!(MAX_QUEUE_DELAY_SECS, 43_200);
        let p = RetryPolicy {
            base_delay_secs: 1_000_000,
            max_delay_secs: u32::MAX,
            config_error_delay_secs: u32::MAX,
            max_attempts: 10,
        };
        assert!(delay(&decide(&status(500), 1, &p, 0.99, NOW)) <= MAX_QUEUE_DELAY_SECS);
        assert_eq!(
            delay(&decide(&status(401), 1, &p, 0.5, NOW)),
            MAX_QUEUE_DELAY_SECS
        );
        let hint = SendResult::Status {
            status: 429,
            retry_after_secs: Some(u64::MAX),
            rate_limit_reset_unix: None,
            error_summary: None,
        };
        assert_eq!(delay(&decide(&hint, 1, &p, 0.0, NOW)), MAX_QUEUE_DELAY_SECS);
    }

    #[test]
    fn configuration_errors_wait_and_say_what_to_fix() {
        let cases = [
            (401, "SENDGRID_API_KEY"),
            (403, "verify EMAIL_FROM"),
            (404, "SENDGRID_API_BASE"),
            (301, "SENDGRID_API_BASE"),
        ];
        for (s, fix) in cases {
            let d = decide(&status(s), 1, &policy(), 0.3, NOW);
            assert_eq!(delay(&d), 1800, "{s}");
            assert!(d.reason().unwrap().contains(fix), "{s}: {d:?}");
        }
        assert!(decide(&status(403), 1, &policy(), 0.3, NOW)
            .reason()
            .unwrap()
            .contains("Mail Send scope"));
    }

    #[test]
    fn permanent_rejections_dead_letter_at_once() {
        let r = SendResult::Status {
            status: 400,
            retry_after_secs: None,
            rate_limit_reset_unix: None,
            error_summary: Some("content: text/plain must come first".into()),
        };
        let reason = dead_reason(decide(&r, 1, &policy(), 0.5, NOW));
        assert_eq!(
            reason,
            "SendGrid rejected the email (400 Bad Request): content: text/plain must come first"
        );
        assert!(dead_reason(decide(&status(413), 1, &policy(), 0.5, NOW)).contains("413"));
        for s in [402, 405, 409, 410, 422, 451] {
            assert!(
                dead_reason(decide(&status(s), 1, &policy(), 0.5, NOW)).contains(&s.to_string())
            );
        }
    }

    #[test]
    fn the_last_attempt_dead_letters_what_would_retry() {
        let p = policy(); // max_attempts 6
        assert!(matches!(
            decide(&status(503), 5, &p, 0.5, NOW),
            Decision::Retry { .. }
        ));
        let reason = dead_reason(decide(&status(503), 6, &p, 0.5, NOW));
        assert_eq!(
            reason,
            "gave up after 6 attempts: SendGrid server error (503)"
        );
        let reason = dead_reason(decide(&status(401), 7, &p, 0.5, NOW));
        assert!(
            reason.starts_with("gave up after 7 attempts: SendGrid rejected the API key"),
            "{reason}"
        );
        let reason = dead_reason(decide(&SendResult::Timeout, 6, &p, 0.5, NOW));
        assert!(
            reason.starts_with("gave up after 6 attempts: no answer from SendGrid"),
            "{reason}"
        );
        // max_attempts 1: no retries at all.
        let once = RetryPolicy {
            max_attempts: 1,
            ..p
        };
        assert!(matches!(
            decide(&SendResult::NetworkError("x".into()), 1, &once, 0.5, NOW),
            Decision::DeadLetter { .. }
        ));
        // attempt 0 is read as 1.
        assert_eq!(delay(&decide(&status(500), 0, &p, 0.0, NOW)), 5);
    }

    #[test]
    fn undecodable_bodies_dead_letter_at_once() {
        use crate::contract::decode::decode_message;
        use serde_json::Value;
        for body in [
            Value::String("not json".into()),
            json!([1, 2]),
            json!(null),
            json!({"key": "k"}),
            json!({"v": 2, "key": "k"}),
            json!({"v": 1, "key": "k"}),
        ] {
            let err = decode_message(&body).unwrap_err();
            let decision = decide_undecodable(&err);
            assert!(
                matches!(&decision, Decision::DeadLetter { reason } if !reason.is_empty()),
                "{decision:?}"
            );
        }
    }
}
