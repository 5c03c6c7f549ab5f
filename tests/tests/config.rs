//! The deployable wrangler configs keep the promises the code and the docs rely on.

use e2e::pipeline::repo_root;
use toml_edit::DocumentMut;

fn config(name: &str) -> DocumentMut {
    std::fs::read_to_string(repo_root().join(name))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_consumer_gives_up_exactly_when_the_queue_would() {
    let doc = config("wrangler.consumer.toml");
    let consumer = &doc["queues"]["consumers"][0];
    assert_eq!(consumer["queue"].as_str(), Some("booking-events"));
    assert_eq!(
        consumer["dead_letter_queue"].as_str(),
        Some("booking-events-dlq")
    );
    let max_retries = consumer["max_retries"].as_integer().unwrap();
    let var: i64 = doc["vars"]["MAX_RETRIES"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(var, max_retries, "vars.MAX_RETRIES must equal max_retries");
    for setting in [
        "max_batch_size",
        "max_batch_timeout",
        "max_retries",
        "retry_delay",
    ] {
        assert!(
            consumer.get(setting).is_some(),
            "{setting} is written out (local defaults differ)"
        );
    }
    let dlq = &doc["queues"]["producers"][0];
    assert_eq!(
        (dlq["queue"].as_str(), dlq["binding"].as_str()),
        (Some("booking-events-dlq"), Some("DEAD_LETTERS"))
    );
}

#[test]
fn deployable_configs_carry_no_test_hooks() {
    for name in [
        "wrangler.producer.toml",
        "wrangler.consumer.toml",
        "wrangler.replay.toml",
    ] {
        let text = std::fs::read_to_string(repo_root().join(name)).unwrap();
        let doc: DocumentMut = text.parse().unwrap();
        assert!(
            doc.get("services").is_none(),
            "{name}: no service bindings to dev workers"
        );
        assert!(
            !text.contains("__dev") && !text.contains("gateway"),
            "{name}"
        );
        assert_eq!(
            doc["observability"]["enabled"].as_bool(),
            Some(true),
            "{name}"
        );
        // Nothing in production consumes the DLQ, so the dashboard and the pull API can show it.
        if let Some(consumers) = doc
            .get("queues")
            .and_then(|q| q.get("consumers"))
            .and_then(|c| c.as_array_of_tables())
        {
            assert!(
                consumers
                    .iter()
                    .all(|c| c["queue"].as_str() != Some("booking-events-dlq")),
                "{name}"
            );
        }
    }
    // The producer and the replay worker both send to booking-events, under the binding name
    // their code reads.
    for name in ["wrangler.producer.toml", "wrangler.replay.toml"] {
        let doc = config(name);
        let queue = &doc["queues"]["producers"][0];
        assert_eq!(
            (queue["queue"].as_str(), queue["binding"].as_str()),
            (Some("booking-events"), Some("BOOKING_QUEUE")),
            "{name}"
        );
    }
}

/// Every default the consumer falls back to (`RetryPolicy::default()`, `Settings`' constants)
/// equals the value `wrangler.consumer.toml` ships in `[vars]`: leaving a var out of a deploy
/// behaves as documented, and the code's documentation of a default cannot drift from the file.
#[test]
fn every_consumer_default_equals_the_var_shipped_in_the_config() {
    use shared::delivery::ledger::{UnknownOutcomePolicy, UNKNOWN_OUTCOME_ENV};
    use shared::delivery::policy::RetryPolicy;
    use shared::delivery::settings::*;
    use shared::logging::{Level, LOG_LEVEL_ENV};

    let doc = config("wrangler.consumer.toml");
    let vars = doc["vars"].as_table().expect("[vars]");
    let var = |name: &str| -> String {
        vars.get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("vars.{name} is shipped"))
            .to_owned()
    };
    let retry = RetryPolicy::default();
    let numbers = [
        (RETRY_BASE_DELAY_SECS, retry.base_delay_secs),
        (RETRY_MAX_DELAY_SECS, retry.max_delay_secs),
        (CONFIG_ERROR_RETRY_DELAY_SECS, retry.config_error_delay_secs),
        (MAX_RETRIES, DEFAULT_MAX_RETRIES),
        (MAX_RETRIES, retry.max_attempts - 1),
        (SENDGRID_TIMEOUT_MS, DEFAULT_TIMEOUT_MS),
    ];
    for (name, default) in numbers {
        assert_eq!(
            var(name),
            default.to_string(),
            "vars.{name} vs the code's default"
        );
    }
    assert_eq!(var(SENDGRID_API_BASE), DEFAULT_API_BASE);
    assert_eq!(
        UnknownOutcomePolicy::parse(Some(&var(UNKNOWN_OUTCOME_ENV))),
        UnknownOutcomePolicy::parse(None)
    );
    assert_eq!(Level::parse(Some(&var(LOG_LEVEL_ENV))), Level::parse(None));

    // The same, whole: settings read with every shipped var equal settings read without them.
    let required = |name: &str| match name {
        SENDGRID_API_KEY => Some("SG.key".to_owned()),
        EMAIL_FROM => Some("Bookings <bookings@example.com>".to_owned()),
        EMAIL_TO => Some("staff@example.com".to_owned()),
        _ => None,
    };
    let bare = Settings::from_lookup(required).expect("complete");
    let shipped = Settings::from_lookup(|name| {
        required(name).or_else(|| vars.get(name).and_then(|v| v.as_str()).map(str::to_owned))
    })
    .expect("complete");
    assert_eq!(shipped.retry, bare.retry);
    assert_eq!(shipped.timeout_ms, bare.timeout_ms);
    assert_eq!(shipped.api_base, bare.api_base);
    assert_eq!(shipped.unknown_outcome, bare.unknown_outcome);

    // Every var is accounted for: a new one needs its default checked above.
    let known = [
        LOG_LEVEL_ENV,
        EMAIL_FROM,
        EMAIL_TO,
        SENDGRID_API_BASE,
        MAX_RETRIES,
        RETRY_BASE_DELAY_SECS,
        RETRY_MAX_DELAY_SECS,
        CONFIG_ERROR_RETRY_DELAY_SECS,
        SENDGRID_TIMEOUT_MS,
        UNKNOWN_OUTCOME_ENV,
    ];
    for (name, _) in vars.iter() {
        assert!(
            known.contains(&name),
            "vars.{name} has no default checked here"
        );
    }
}
