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
    for name in ["wrangler.producer.toml", "wrangler.consumer.toml"] {
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
    let producer = config("wrangler.producer.toml");
    let queue = &producer["queues"]["producers"][0];
    assert_eq!(
        (queue["queue"].as_str(), queue["binding"].as_str()),
        (Some("booking-events"), Some("BOOKING_QUEUE"))
    );
}
