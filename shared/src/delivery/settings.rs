//! The consumer's configuration, read from Worker vars and secrets through a lookup function so it
//! is tested natively. Problems are collected, not thrown: the consumer logs them all at once and
//! retries its messages until the operator fixes the setting.

use crate::delivery::ledger::{UnknownOutcomePolicy, UNKNOWN_OUTCOME_ENV};
use crate::delivery::policy::RetryPolicy;
use crate::delivery::sendgrid::{parse_mailbox, parse_recipients, parse_routes, SendgridConfig};

pub const SENDGRID_API_KEY: &str = "SENDGRID_API_KEY";
pub const EMAIL_FROM: &str = "EMAIL_FROM";
pub const EMAIL_TO: &str = "EMAIL_TO";
/// Staff per event type: `slug=addresses; slug=addresses` (optional; `EMAIL_TO` for the rest).
pub const EMAIL_ROUTES: &str = "EMAIL_ROUTES";
pub const SENDGRID_API_BASE: &str = "SENDGRID_API_BASE";
/// Must equal `max_retries` of the `booking-events` consumer in `wrangler.consumer.toml`.
pub const MAX_RETRIES: &str = "MAX_RETRIES";
pub const RETRY_BASE_DELAY_SECS: &str = "RETRY_BASE_DELAY_SECS";
pub const RETRY_MAX_DELAY_SECS: &str = "RETRY_MAX_DELAY_SECS";
pub const CONFIG_ERROR_RETRY_DELAY_SECS: &str = "CONFIG_ERROR_RETRY_DELAY_SECS";
pub const SENDGRID_TIMEOUT_MS: &str = "SENDGRID_TIMEOUT_MS";

pub const DEFAULT_API_BASE: &str = "https://api.sendgrid.com";
pub const DEFAULT_MAX_RETRIES: u32 = 5;
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// Everything the consumer needs to send.
#[derive(Clone)]
pub struct Settings {
    pub api_key: String,
    pub api_base: String,
    pub sendgrid: SendgridConfig,
    pub retry: RetryPolicy,
    pub timeout_ms: u32,
    /// What to do when it is not known whether SendGrid accepted an email.
    pub unknown_outcome: UnknownOutcomePolicy,
}

// The API key never reaches a log.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("api_key", &"(redacted)")
            .field("api_base", &self.api_base)
            .field("recipients", &self.sendgrid.to.len())
            .field("routes", &self.sendgrid.routes.len())
            .field("retry", &self.retry)
            .field("timeout_ms", &self.timeout_ms)
            .field("unknown_outcome", &self.unknown_outcome)
            .finish()
    }
}

/// Settings that cannot be used yet: what is wrong, and the retry policy (read as far as it
/// could be) so messages are retried, not dropped, until the operator fixes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Misconfigured {
    pub problems: Vec<String>,
    pub retry: RetryPolicy,
}

impl Misconfigured {
    pub fn summary(&self) -> String {
        self.problems.join("; ")
    }
}

impl Settings {
    /// Reads settings through `get` (a var or secret by name, `None` when unset). Returns every
    /// problem found, each naming the setting and what to do; values are never echoed except
    /// masked addresses.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Misconfigured> {
        let mut problems = Vec::new();
        let value = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let api_key = value(SENDGRID_API_KEY).unwrap_or_else(|| {
            problems.push(format!("{SENDGRID_API_KEY} is not set: wrangler secret put {SENDGRID_API_KEY} -c wrangler.consumer.toml"));
            String::new()
        });
        let from = match value(EMAIL_FROM).map(|v| parse_mailbox(&v)) {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                problems.push(format!("{EMAIL_FROM} is not a valid sender: {e}"));
                None
            }
            None => {
                problems.push(format!("{EMAIL_FROM} is not set: the verified SendGrid sender, e.g. \"Bookings <bookings@example.com>\""));
                None
            }
        };
        let to = match value(EMAIL_TO).map(|v| parse_recipients(&v)) {
            Some(Ok(list)) if !list.is_empty() => list,
            Some(Ok(_)) | None => {
                problems.push(format!(
                    "{EMAIL_TO} is not set: one or more staff addresses, comma-separated"
                ));
                Vec::new()
            }
            Some(Err(e)) => {
                problems.push(format!("{EMAIL_TO} is not valid: {e}"));
                Vec::new()
            }
        };
        let routes = value(EMAIL_ROUTES)
            .map(|v| parse_routes(&v))
            .transpose()
            .unwrap_or_else(|e| {
                problems.push(format!("{EMAIL_ROUTES} is not valid: {e}"));
                None
            })
            .unwrap_or_default();
        let api_base = value(SENDGRID_API_BASE).unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            problems.push(format!(
                "{SENDGRID_API_BASE} must be an http(s) URL such as {DEFAULT_API_BASE}"
            ));
        }

        let defaults = RetryPolicy::default();
        let mut number = |name: &str, default: u32| match value(name) {
            None => default,
            Some(v) => v.parse::<u32>().unwrap_or_else(|_| {
                problems.push(format!("{name} must be a whole number, not {v:?}"));
                default
            }),
        };
        let max_retries = number(MAX_RETRIES, DEFAULT_MAX_RETRIES);
        let retry = RetryPolicy {
            base_delay_secs: number(RETRY_BASE_DELAY_SECS, defaults.base_delay_secs),
            max_delay_secs: number(RETRY_MAX_DELAY_SECS, defaults.max_delay_secs),
            config_error_delay_secs: number(
                CONFIG_ERROR_RETRY_DELAY_SECS,
                defaults.config_error_delay_secs,
            ),
            max_attempts: max_retries.saturating_add(1),
        };
        let timeout_ms = number(SENDGRID_TIMEOUT_MS, DEFAULT_TIMEOUT_MS).max(1);
        let unknown_outcome = UnknownOutcomePolicy::parse(value(UNKNOWN_OUTCOME_ENV).as_deref())
            .unwrap_or_else(|e| {
                problems.push(e);
                UnknownOutcomePolicy::Retry
            });

        match from {
            Some(from) if problems.is_empty() => Ok(Settings {
                api_key,
                api_base,
                sendgrid: SendgridConfig { from, to, routes },
                retry,
                timeout_ms,
                unknown_outcome,
            }),
            _ => Err(Misconfigured { problems, retry }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const COMPLETE: [(&str, &str); 3] = [
        ("SENDGRID_API_KEY", "SG.secret-key-value"),
        ("EMAIL_FROM", "Bookings <bookings@example.com>"),
        ("EMAIL_TO", "front@example.com, Owner <owner@example.com>"),
    ];

    #[test]
    fn complete_settings_with_defaults() {
        let s = Settings::from_lookup(lookup(&COMPLETE)).unwrap();
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.sendgrid.to.len(), 2);
        assert_eq!(s.sendgrid.from.email, "bookings@example.com");
        assert_eq!(s.retry.max_attempts, DEFAULT_MAX_RETRIES + 1);
        assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(s.unknown_outcome, UnknownOutcomePolicy::Retry);
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret-key-value"), "{shown}");
    }

    #[test]
    fn overrides_are_read() {
        let mut pairs = COMPLETE.to_vec();
        pairs.extend([
            ("SENDGRID_API_BASE", "http://127.0.0.1:8025"),
            ("MAX_RETRIES", "3"),
            ("RETRY_BASE_DELAY_SECS", "1"),
            ("RETRY_MAX_DELAY_SECS", "4"),
            ("CONFIG_ERROR_RETRY_DELAY_SECS", "2"),
            ("SENDGRID_TIMEOUT_MS", "1500"),
            ("UNKNOWN_OUTCOME", "dead-letter"),
        ]);
        let s = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(s.api_base, "http://127.0.0.1:8025");
        assert_eq!(
            s.retry,
            RetryPolicy {
                base_delay_secs: 1,
                max_delay_secs: 4,
                config_error_delay_secs: 2,
                max_attempts: 4
            }
        );
        assert_eq!(s.timeout_ms, 1500);
        assert_eq!(s.unknown_outcome, UnknownOutcomePolicy::DeadLetter);
    }

    #[test]
    fn every_problem_is_reported_at_once_without_values() {
        let problems = Settings::from_lookup(lookup(&[
            ("EMAIL_TO", "not-an-address"),
            ("SENDGRID_API_BASE", "api.sendgrid.com"),
            ("MAX_RETRIES", "five"),
        ]))
        .unwrap_err()
        .problems;
        let all = problems.join("\n");
        for needle in [
            "SENDGRID_API_KEY is not set",
            "EMAIL_FROM is not set",
            "EMAIL_TO is not valid",
            "SENDGRID_API_BASE must be",
            "MAX_RETRIES must be",
        ] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
        assert!(!all.contains("not-an-address"), "{all}");
    }

    #[test]
    fn routes_are_read_and_bad_ones_are_a_configuration_error() {
        let mut pairs = COMPLETE.to_vec();
        pairs.push((
            "EMAIL_ROUTES",
            "consultation=alice@example.com; billing=bob@example.com, carol@example.com",
        ));
        let s = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(s.sendgrid.routes.len(), 2);
        assert_eq!(s.sendgrid.recipients(Some("billing")).len(), 2);
        assert_eq!(s.sendgrid.recipients(Some("other")).len(), 2);
        assert!(format!("{s:?}").contains("routes: 2"));

        pairs.pop();
        pairs.push(("EMAIL_ROUTES", "consultation: alice@example.com"));
        let err = Settings::from_lookup(lookup(&pairs)).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{:?}", err.problems);
        assert!(
            err.problems[0].starts_with("EMAIL_ROUTES is not valid: entry 1 of 1 has no '='"),
            "{}",
            err.problems[0]
        );
        assert!(!err.summary().contains("alice@"), "{}", err.summary());

        pairs.pop();
        pairs.push(("EMAIL_ROUTES", "  "));
        assert!(Settings::from_lookup(lookup(&pairs))
            .unwrap()
            .sendgrid
            .routes
            .is_empty());
    }

    #[test]
    fn blank_values_count_as_unset() {
        let problems = Settings::from_lookup(lookup(&[
            ("SENDGRID_API_KEY", "  "),
            ("EMAIL_FROM", ""),
            ("EMAIL_TO", " , "),
        ]))
        .unwrap_err()
        .problems;
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn the_retry_policy_survives_other_problems() {
        let err = Settings::from_lookup(lookup(&[
            ("MAX_RETRIES", "2"),
            ("CONFIG_ERROR_RETRY_DELAY_SECS", "7"),
        ]))
        .unwrap_err();
        assert_eq!(err.retry.max_attempts, 3);
        assert_eq!(err.retry.config_error_delay_secs, 7);
    }
}
