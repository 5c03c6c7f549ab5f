//! Optional error reporting to Sentry (`SENTRY_DSN`), as a small tested module: the Sentry Rust
//! SDK does not target wasm32-unknown-unknown Workers (it needs threads and a transport), and the
//! part we need is two functions: parse the DSN and write one envelope.
//!
//! Events carry tags (worker, trigger, outcome) and a fixed message; never personal data, a body,
//! a secret or a signature. A [`RateLimit`] keeps it to one event per kind per isolate per
//! minute, so a burst of bad signatures cannot flood the project.
//!
//! The state (the rate limit and the event counter) belongs to the caller: each worker keeps one
//! of each per isolate and passes them to [`outgoing`]; nothing here holds state of its own.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

/// The Worker secret that enables reporting.
pub const SENTRY_DSN_ENV: &str = "SENTRY_DSN";

/// One event per kind per this many milliseconds (per isolate).
pub const RATE_LIMIT_MS: f64 = 60_000.0;

/// Where and how to send events, from a DSN `https://<key>@<host>[:port]/<project>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `https://<host>[:port]/api/<project>/envelope/`
    pub envelope_url: String,
    /// The value of the `X-Sentry-Auth` header.
    pub auth_header: String,
}

impl Dsn {
    /// Parses a DSN; `Err` says what is wrong without echoing the key.
    pub fn parse(raw: &str) -> Result<Dsn, String> {
        let raw = raw.trim();
        let (scheme, rest) = raw
            .split_once("://")
            .filter(|(s, _)| *s == "https" || *s == "http")
            .ok_or_else(|| format!("{SENTRY_DSN_ENV} must start with https://"))?;
        let (key, rest) = rest
            .split_once('@')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                format!("{SENTRY_DSN_ENV} has no public key (https://<key>@<host>/<project>)")
            })?;
        let key = key.split(':').next().unwrap_or(key);
        let (host, path) = rest
            .split_once('/')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| format!("{SENTRY_DSN_ENV} has no project id"))?;
        let (prefix, project) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((prefix, project)) => (format!("/{prefix}"), project),
            None => (String::new(), path.trim_end_matches('/')),
        };
        if project.is_empty() || !project.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{SENTRY_DSN_ENV} must end in a numeric project id"));
        }
        Ok(Dsn {
            envelope_url: format!("{scheme}://{host}{prefix}/api/{project}/envelope/"),
            auth_header: format!(
                "Sentry sentry_version=7, sentry_client=calcom-notifier/{}, sentry_key={key}",
                env!("CARGO_PKG_VERSION")
            ),
        })
    }
}

/// What happened, without personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<'a> {
    /// The rate-limit kind and a stable name, e.g. `dead_letter`, `signature_rejected`.
    pub kind: &'a str,
    pub level: &'a str,
    /// A fixed sentence (a code, not user text).
    pub message: &'a str,
    pub worker: &'a str,
    pub trigger: Option<&'a str>,
    pub outcome: &'a str,
}

/// The envelope body for one event: header line, item header, event (newline-separated JSON).
/// `event_id` is 32 hex characters; `timestamp` RFC 3339.
pub fn envelope(report: &Report, event_id: &str, timestamp: &str) -> String {
    let event = json!({
        "event_id": event_id,
        "timestamp": timestamp,
        "platform": "other",
        "level": report.level,
        "logger": report.worker,
        "release": concat!("calcom-notifier@", env!("CARGO_PKG_VERSION")),
        "message": { "formatted": report.message },
        "fingerprint": [report.worker, report.kind, report.outcome],
        "tags": {
            "worker": report.worker,
            "kind": report.kind,
            "trigger": report.trigger.unwrap_or("none"),
            "outcome": report.outcome,
        },
    })
    .to_string();
    let header = json!({ "event_id": event_id, "sent_at": timestamp });
    let item = json!({ "type": "event", "length": event.len() });
    format!("{header}\n{item}\n{event}\n")
}

/// An event ready to post: `POST url` with `X-Sentry-Auth: auth` and
/// `Content-Type: application/x-sentry-envelope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    pub auth: String,
    pub body: String,
}

/// The event to send for `report`, if reporting is configured (`dsn` is `SENTRY_DSN`, valid) and
/// `limit` lets this kind through at `now_ms`. The event id is derived from the time, the kind and
/// the caller's `counter`, bumped once per event (unique enough for Sentry, no randomness needed).
/// The worker owns `limit` and `counter`, one of each per isolate.
pub fn outgoing(
    dsn: Option<&str>,
    report: &Report,
    now_ms: f64,
    now_iso: &str,
    limit: &mut RateLimit,
    counter: &AtomicU64,
) -> Option<Outgoing> {
    let dsn = Dsn::parse(dsn?).ok()?;
    if !limit.allow(report.kind, now_ms) {
        return None;
    }
    let n = counter.fetch_add(1, Ordering::Relaxed);
    // The time goes in as its bits: formatting an f64 would link Rust's float formatting (about
    // 10 KB) into the producer's wasm.
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    for part in [
        &now_ms.to_bits().to_le_bytes()[..],
        report.worker.as_bytes(),
        b"/",
        report.kind.as_bytes(),
        &n.to_le_bytes(),
    ] {
        sha2::Digest::update(&mut hasher, part);
    }
    let digest = sha2::Digest::finalize(hasher);
    let event_id = crate::text::hex_lower(&digest[..16]);
    Some(Outgoing {
        url: dsn.envelope_url,
        auth: dsn.auth_header,
        body: envelope(report, &event_id, now_iso),
    })
}

/// One event per kind per [`RATE_LIMIT_MS`]. A plain value: the worker keeps one per isolate.
#[derive(Debug, Default)]
pub struct RateLimit {
    last_sent_ms: Vec<(String, f64)>,
}

impl RateLimit {
    /// True (and remembered) when an event of `kind` may be sent at `now_ms`.
    pub fn allow(&mut self, kind: &str, now_ms: f64) -> bool {
        match self.last_sent_ms.iter_mut().find(|(k, _)| k == kind) {
            Some((_, last)) if now_ms - *last < RATE_LIMIT_MS => false,
            Some((_, last)) => {
                *last = now_ms;
                true
            }
            None => {
                self.last_sent_ms.push((kind.to_owned(), now_ms));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn dsns_parse_into_the_envelope_endpoint() {
        let dsn = Dsn::parse("https://abc123@o42.ingest.sentry.io/4501").unwrap();
        assert_eq!(
            dsn.envelope_url,
            "https://o42.ingest.sentry.io/api/4501/envelope/"
        );
        assert!(dsn.auth_header.starts_with("Sentry sentry_version=7,"));
        assert!(dsn.auth_header.ends_with("sentry_key=abc123"));
        let local = Dsn::parse("http://key:legacy-secret@127.0.0.1:9000/sub/7").unwrap();
        assert_eq!(
            local.envelope_url,
            "http://127.0.0.1:9000/sub/api/7/envelope/"
        );
        assert!(!local.auth_header.contains("legacy-secret"));
        for bad in [
            "",
            "abc@host/1",
            "https://host/1",
            "https://k@host",
            "https://k@host/x",
        ] {
            let err = Dsn::parse(bad).unwrap_err();
            assert!(err.contains("SENTRY_DSN"), "{bad}: {err}");
        }
        assert!(!Dsn::parse("https://topsecretkey@host")
            .unwrap_err()
            .contains("topsecretkey"));
    }

    #[test]
    fn the_envelope_is_three_json_lines_with_tags_and_no_personal_data() {
        let report = Report {
            kind: "dead_letter",
            level: "error",
            message: "message dead-lettered",
            worker: "consumer",
            trigger: Some("BOOKING_CREATED"),
            outcome: "sendgrid_400",
        };
        let text = envelope(
            &report,
            "0123456789abcdef0123456789abcdef",
            "2026-02-10T17:03:13.000Z",
        );
        let lines: Vec<&str> = text.trim_end().split('\n').collect();
        assert_eq!(lines.len(), 3);
        let header: Value = serde_json::from_str(lines[0]).unwrap();
        let item: Value = serde_json::from_str(lines[1]).unwrap();
        let event: Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(header["event_id"], "0123456789abcdef0123456789abcdef");
        assert_eq!(item["type"], "event");
        assert_eq!(item["length"], lines[2].len());
        assert_eq!(event["tags"]["worker"], "consumer");
        assert_eq!(event["tags"]["trigger"], "BOOKING_CREATED");
        assert_eq!(event["tags"]["outcome"], "sendgrid_400");
        assert_eq!(event["level"], "error");
        assert_eq!(event["message"]["formatted"], "message dead-lettered");
    }

    #[test]
    fn outgoing_events_need_a_dsn_and_respect_the_rate_limit() {
        let report = Report {
            kind: "test_kind_outgoing",
            level: "warning",
            message: "m",
            worker: "producer",
            trigger: None,
            outcome: "signature_mismatch",
        };
        let mut limit = RateLimit::default();
        let counter = AtomicU64::new(0);
        let mut event = |dsn, now_ms| outgoing(dsn, &report, now_ms, "t", &mut limit, &counter);
        assert_eq!(event(None, 0.0), None);
        assert_eq!(event(Some("not a dsn"), 0.0), None);
        let first = event(Some("http://k@127.0.0.1:9/1"), 0.0).unwrap();
        assert_eq!(first.url, "http://127.0.0.1:9/api/1/envelope/");
        assert!(first.body.contains("signature_mismatch"));
        assert_eq!(
            event(Some("http://k@127.0.0.1:9/1"), 1_000.0),
            None,
            "rate-limited"
        );
        let later = event(Some("http://k@127.0.0.1:9/1"), 61_000.0).unwrap();
        assert_ne!(
            first.body.lines().next(),
            later.body.lines().next(),
            "distinct event ids"
        );
        assert_eq!(
            counter.load(Ordering::Relaxed),
            2,
            "one count per event sent"
        );
    }

    #[test]
    fn one_event_per_kind_per_minute() {
        let mut limit = RateLimit::default();
        assert!(limit.allow("dead_letter", 0.0));
        assert!(!limit.allow("dead_letter", 59_999.0));
        assert!(
            limit.allow("signature_rejected", 1.0),
            "kinds are limited separately"
        );
        assert!(limit.allow("dead_letter", 60_000.0));
        assert!(!limit.allow("dead_letter", 60_001.0));
    }
}
