//! Real HTTP tests of the Cloudflare Queues pull-consumer stub: auth and error envelopes, body
//! encodings, leases and their expiry, acks, retries, and the `max_retries` rule.

use e2e::http::{self, Answer};
use e2e::queues_stub::{base64_decode, ContentType, QueuesStub, ACCOUNT_ID, API_TOKEN, QUEUE_ID};
use serde_json::{json, Value};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Short enough to wait out in a test, long enough not to pass between two calls.
const SHORT_LEASE_MS: u64 = 200;
const PAST_SHORT_LEASE: Duration = Duration::from_millis(300);

fn post_with(url: &str, authorization: Option<&str>, body: &str) -> Answer {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    http::send("POST", url, &headers, body.as_bytes().to_vec()).expect("an HTTP answer")
}

fn bearer() -> String {
    format!("Bearer {API_TOKEN}")
}

/// Posts with the right token and expects a 200 success envelope; returns its `result`.
fn call(url: &str, body: Value) -> Value {
    let answer = post_with(url, Some(&bearer()), &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.body);
    let envelope = answer.json();
    assert_eq!(envelope["success"], true);
    assert_eq!(envelope["errors"], json!([]));
    assert_eq!(envelope["messages"], json!([]));
    envelope["result"].clone()
}

fn pull(stub: &QueuesStub, body: Value) -> Value {
    call(&stub.pull_url(), body)
}

/// The messages of one pull.
fn pull_messages(stub: &QueuesStub, body: Value) -> Vec<Value> {
    pull(stub, body)["messages"]
        .as_array()
        .expect("a messages list")
        .clone()
}

fn ack(stub: &QueuesStub, body: Value) -> Value {
    call(&stub.ack_url(), body)
}

fn lease_of(message: &Value) -> String {
    message["lease_id"].as_str().expect("a lease id").to_owned()
}

fn assert_error(answer: &Answer, status: u16, code: u64, message_part: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let envelope = answer.json();
    assert_eq!(envelope["success"], false, "{}", answer.body);
    assert_eq!(envelope["messages"], json!([]));
    assert_eq!(envelope["result"], Value::Null);
    let errors = envelope["errors"].as_array().expect("an errors list");
    assert_eq!(errors.len(), 1, "{}", answer.body);
    assert_eq!(errors[0]["code"], code, "{}", answer.body);
    let message = errors[0]["message"].as_str().expect("a message");
    assert!(message.contains(message_part), "{message:?}");
}

fn is_hex32(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn unix_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

#[test]
fn wrong_or_missing_token_gets_the_401_envelope_and_touches_nothing() {
    let stub = QueuesStub::start();
    stub.publish_text("hello");
    let wrong = format!("Bearer {API_TOKEN}x");
    let basic = format!("Basic {API_TOKEN}");
    for authorization in [None, Some(wrong.as_str()), Some(basic.as_str())] {
        for url in [stub.pull_url(), stub.ack_url()] {
            let answer = post_with(&url, authorization, "{}");
            assert_error(&answer, 401, 10000, "Authentication error");
            assert_eq!(
                answer.json(),
                json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}],
                       "messages": [], "result": null})
            );
        }
    }
    assert_eq!(stub.stored()[0].attempts, 0, "nothing was pulled");
    let requests = stub.requests();
    assert_eq!(requests.len(), 6);
    assert!(requests.iter().all(|r| r.status == 401 && !r.auth_valid));
    assert!(!format!("{requests:?}").contains(API_TOKEN));
}

#[test]
fn unknown_account_or_queue_is_404() {
    let stub = QueuesStub::start();
    let other = "ffffffffffffffffffffffffffffffff";
    let base = stub.base_url();
    for op in ["pull", "ack"] {
        for (account, queue) in [(ACCOUNT_ID, other), (other, QUEUE_ID)] {
            let url = format!("{base}/accounts/{account}/queues/{queue}/messages/{op}");
            let answer = post_with(&url, Some(&bearer()), "{}");
            assert_error(&answer, 404, 11000, "queue not found");
        }
    }
}

#[test]
fn other_paths_are_404_and_other_methods_405_in_the_envelope() {
    let stub = QueuesStub::start();
    let base = stub.base_url();
    let queue = format!("{base}/accounts/{ACCOUNT_ID}/queues/{QUEUE_ID}");
    for url in [
        format!("{queue}/messages/peek"),
        format!("{queue}/messages"),
        format!("{queue}/messages/pull/"),
        format!("{base}/accounts/{ACCOUNT_ID}/queues"),
        format!("http://127.0.0.1:{}/", stub.port()),
    ] {
        let answer = post_with(&url, Some(&bearer()), "{}");
        assert_error(&answer, 404, 7003, "Could not route");
    }
    for method in ["GET", "PUT", "DELETE"] {
        let answer = http::send(method, &stub.pull_url(), &[], Vec::new()).unwrap();
        assert_error(&answer, 405, 7001, "Method not allowed");
        assert_eq!(answer.header("allow"), Some("POST"));
    }
}

#[test]
fn bad_bodies_are_400_naming_the_field() {
    let stub = QueuesStub::start();
    let id = stub.publish_text("untouched");
    let pull_cases = [
        ("", "not valid JSON"),
        ("batch_size=5", "not valid JSON"),
        ("[]", "JSON object"),
        (
            r#"{"batch_size": 0}"#,
            "batch_size must be an integer from 1 to 100",
        ),
        (r#"{"batch_size": 101}"#, "batch_size"),
        (r#"{"batch_size": "5"}"#, "batch_size"),
        (r#"{"batch_size": 2.5}"#, "batch_size"),
        (r#"{"batch_size": -1}"#, "batch_size"),
        (
            r#"{"visibility_timeout_ms": 43200001}"#,
            "visibility_timeout_ms",
        ),
        (
            r#"{"visibility_timeout_ms": "1000"}"#,
            "visibility_timeout_ms",
        ),
    ];
    for (body, message) in pull_cases {
        let answer = post_with(&stub.pull_url(), Some(&bearer()), body);
        assert_error(&answer, 400, 11001, message);
    }
    let ack_cases = [
        (r#"{"acks": {"lease_id": "x"}}"#, "acks must be an array"),
        (r#"{"acks": ["x"]}"#, "acks[0] must be an object"),
        (r#"{"acks": [{"lease_id": "a"}, {}]}"#, "acks[1].lease_id"),
        (r#"{"retries": [{"lease_id": 7}]}"#, "retries[0].lease_id"),
        (
            r#"{"retries": [{"lease_id": "x", "delay_seconds": -1}]}"#,
            "retries[0].delay_seconds",
        ),
        (
            r#"{"retries": [{"lease_id": "x", "delay_seconds": 43201}]}"#,
            "delay_seconds",
        ),
    ];
    for (body, message) in ack_cases {
        let answer = post_with(&stub.ack_url(), Some(&bearer()), body);
        assert_error(&answer, 400, 11001, message);
    }
    // The extremes of each range are accepted.
    pull(
        &stub,
        json!({"batch_size": 100, "visibility_timeout_ms": 43_200_000}),
    );
    assert_eq!(stub.stored()[0].id, id);
    assert_eq!(stub.stored()[0].attempts, 1);
}

#[test]
fn pull_encodes_json_and_bytes_as_base64_and_text_as_is() {
    let stub = QueuesStub::start();
    let before = unix_ms();
    let original = json!({"v": 1, "uid": "bk_1", "note": "crème brûlée ✓"});
    let json_id = stub.publish_json(&original);
    let text_id = stub.publish_text("plain text, not base64");
    let bytes_id = stub.publish_bytes(&[0, 159, 255, 10]);
    let after = unix_ms();

    let result = pull(&stub, json!({"batch_size": 10}));
    assert_eq!(result["message_backlog_count"], 3);
    let messages = result["messages"].as_array().unwrap();
    let ids: Vec<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&json_id, &text_id, &bytes_id], "oldest first");

    let decoded = base64_decode(messages[0]["body"].as_str().unwrap()).expect("base64");
    let decoded: Value = serde_json::from_slice(&decoded).expect("JSON inside");
    assert_eq!(decoded, original);
    assert_eq!(messages[1]["body"], "plain text, not base64");
    assert_eq!(
        base64_decode(messages[2]["body"].as_str().unwrap()),
        Some(vec![0, 159, 255, 10])
    );

    for (message, content_type) in messages.iter().zip(["json", "text", "bytes"]) {
        assert!(is_hex32(message["id"].as_str().unwrap()), "{message}");
        assert_eq!(message["attempts"], 1);
        assert_eq!(
            message["metadata"],
            json!({"CF-sourceMessageSource": "api", "CF-Content-Type": content_type})
        );
        let timestamp = message["timestamp_ms"].as_u64().unwrap();
        assert!((before..=after).contains(&timestamp), "{message}");
        assert!(!lease_of(message).is_empty());
    }
    let leases: Vec<String> = messages.iter().map(lease_of).collect();
    assert!(leases[0] != leases[1] && leases[1] != leases[2]);
    assert!(leases.iter().all(|l| !ids.contains(&l.as_str())));

    let stored = stub.stored();
    assert_eq!(stored[0].content_type, ContentType::Json);
    assert_eq!(
        serde_json::from_str::<Value>(&stored[0].body).unwrap(),
        original
    );
    assert_eq!(stored[1].content_type, ContentType::Text);
    assert_eq!(stored[1].body, "plain text, not base64");
    assert_eq!(stored[2].content_type, ContentType::Bytes);
}

#[test]
fn an_empty_queue_answers_at_once_with_no_messages() {
    let stub = QueuesStub::start();
    let started = Instant::now();
    let result = pull(&stub, json!({}));
    assert!(started.elapsed() < Duration::from_secs(2), "short polling");
    assert_eq!(result, json!({"message_backlog_count": 0, "messages": []}));
}

#[test]
fn default_batch_is_five_and_a_lease_hides_the_message() {
    let stub = QueuesStub::start();
    let ids: Vec<String> = (0..7)
        .map(|i| stub.publish_text(&format!("m{i}")))
        .collect();

    let first = pull_messages(&stub, json!({}));
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|m| m["attempts"] == 1));
    let second = pull(&stub, json!({}));
    assert_eq!(second["message_backlog_count"], 7, "leased is not acked");
    let rest: Vec<&str> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, [&ids[5], &ids[6]]);
    assert_eq!(pull_messages(&stub, json!({})), Vec::<Value>::new());

    let stored = stub.stored();
    assert!(stored.iter().all(|m| m.leased && m.attempts == 1));
}

#[test]
fn an_expired_lease_shows_the_message_again_with_a_new_lease() {
    let stub = QueuesStub::start();
    let id = stub.publish_json(&json!({"n": 1}));
    let body = json!({"visibility_timeout_ms": SHORT_LEASE_MS});

    let first = pull_messages(&stub, body.clone());
    assert_eq!(first[0]["attempts"], 1);
    sleep(PAST_SHORT_LEASE);
    assert!(!stub.stored()[0].leased);

    let second = pull_messages(&stub, body);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], id.as_str());
    assert_eq!(second[0]["attempts"], 2);
    assert_eq!(second[0]["body"], first[0]["body"]);
    assert_eq!(second[0]["timestamp_ms"], first[0]["timestamp_ms"]);
    assert_ne!(lease_of(&second[0]), lease_of(&first[0]));
}

#[test]
fn ack_deletes_the_message() {
    let stub = QueuesStub::start();
    let kept = stub.publish_text("kept");
    let gone = stub.publish_text("gone");
    let messages = pull_messages(&stub, json!({"batch_size": 2}));

    let result = ack(
        &stub,
        json!({"acks": [{"lease_id": lease_of(&messages[1])}]}),
    );
    assert_eq!(
        result,
        json!({"ackCount": 1, "retryCount": 0, "warnings": []})
    );
    assert_eq!(stub.acked(), [gone]);
    let stored = stub.stored();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, kept);
    assert_eq!(pull(&stub, json!({}))["message_backlog_count"], 1);

    // Either list may be missing or empty.
    assert_eq!(
        ack(&stub, json!({})),
        json!({"ackCount": 0, "retryCount": 0, "warnings": []})
    );
    assert_eq!(
        ack(&stub, json!({"acks": [], "retries": null})),
        json!({"ackCount": 0, "retryCount": 0, "warnings": []})
    );
}

#[test]
fn ack_is_accepted_after_the_lease_ran_out_with_the_latest_or_an_earlier_lease() {
    let stub = QueuesStub::start();
    let late = stub.publish_text("acked late");
    let earlier = stub.publish_text("acked with its first lease");
    let short = json!({"batch_size": 2, "visibility_timeout_ms": SHORT_LEASE_MS});

    let first = pull_messages(&stub, short.clone());
    sleep(PAST_SHORT_LEASE);
    // `late`'s lease ran out and it is visible again, but its latest lease still acks it.
    let result = ack(&stub, json!({"acks": [{"lease_id": lease_of(&first[0])}]}));
    assert_eq!(result["ackCount"], 1, "{result}");

    let second = pull_messages(&stub, short);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["id"], earlier.as_str());
    let result = ack(&stub, json!({"acks": [{"lease_id": lease_of(&first[1])}]}));
    assert_eq!(result["ackCount"], 1, "{result}");

    assert_eq!(stub.acked(), [late, earlier]);
    assert!(stub.stored().is_empty());
}

#[test]
fn retry_shows_the_message_again_after_its_delay() {
    let stub = QueuesStub::start();
    let now_id = stub.publish_text("retry now");
    let later_id = stub.publish_text("retry in a second");
    let messages = pull_messages(&stub, json!({"batch_size": 2}));

    let result = ack(
        &stub,
        json!({"retries": [
            {"lease_id": lease_of(&messages[0])},
            {"lease_id": lease_of(&messages[1]), "delay_seconds": 1}
        ]}),
    );
    assert_eq!(
        result,
        json!({"ackCount": 0, "retryCount": 2, "warnings": []})
    );
    let delayed_at = Instant::now();
    assert!(stub.stored().iter().all(|m| !m.leased));

    let again = pull_messages(&stub, json!({"batch_size": 2}));
    assert_eq!(again.len(), 1, "only the undelayed one: {again:?}");
    assert_eq!(again[0]["id"], now_id.as_str());
    assert_eq!(again[0]["attempts"], 2);

    let later = loop {
        let pulled = pull_messages(&stub, json!({}));
        if !pulled.is_empty() || delayed_at.elapsed() > Duration::from_secs(3) {
            break pulled;
        }
        sleep(Duration::from_millis(50));
    };
    assert!(delayed_at.elapsed() >= Duration::from_secs(1));
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["id"], later_id.as_str());
    assert_eq!(later[0]["attempts"], 2);
}

#[test]
fn unknown_leases_are_ignored_with_a_warning() {
    let stub = QueuesStub::start();
    stub.publish_text("one");
    let lease = lease_of(&pull_messages(&stub, json!({}))[0]);

    let result = ack(
        &stub,
        json!({"acks": [{"lease_id": "no-such-lease"}, {"lease_id": lease}],
               "retries": [{"lease_id": lease}]}),
    );
    assert_eq!(result["ackCount"], 1);
    assert_eq!(
        result["retryCount"], 0,
        "acked before the retry was looked at"
    );
    let warnings = result["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{result}");
    assert!(warnings[0].as_str().unwrap().contains("no-such-lease"));
    assert!(warnings[1].as_str().unwrap().contains(&lease));

    let again = ack(&stub, json!({"acks": [{"lease_id": lease}]}));
    assert_eq!(again["ackCount"], 0);
    assert_eq!(again["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(stub.acked().len(), 1);
}

#[test]
fn pulling_without_acking_uses_up_max_retries() {
    let stub = QueuesStub::start_with_max_retries(2);
    let id = stub.publish_json(&json!({"dead": "letter"}));
    let short = json!({"visibility_timeout_ms": SHORT_LEASE_MS});

    let first = pull_messages(&stub, short.clone());
    sleep(PAST_SHORT_LEASE);
    let second = pull_messages(&stub, short.clone());
    assert_eq!(second[0]["attempts"], 2);
    assert!(stub.expired().is_empty(), "still leased");
    sleep(PAST_SHORT_LEASE);

    assert!(stub.stored().is_empty());
    assert_eq!(stub.expired(), [id]);
    assert!(stub.acked().is_empty());
    assert_eq!(
        pull(&stub, short),
        json!({"message_backlog_count": 0, "messages": []})
    );
    // Its leases are now unknown.
    let result = ack(
        &stub,
        json!({"acks": [{"lease_id": lease_of(&first[0])}, {"lease_id": lease_of(&second[0])}]}),
    );
    assert_eq!(result["ackCount"], 0);
    assert_eq!(result["warnings"].as_array().unwrap().len(), 2);
}

#[test]
fn a_retry_at_max_retries_deletes_the_message_and_default_max_retries_is_three() {
    let stub = QueuesStub::start();
    let id = stub.publish_text("retried to death");
    for attempt in 1..=3 {
        let pulled = pull_messages(&stub, json!({}));
        assert_eq!(pulled.len(), 1, "attempt {attempt}");
        assert_eq!(pulled[0]["attempts"], attempt);
        let result = ack(
            &stub,
            json!({"retries": [{"lease_id": lease_of(&pulled[0])}]}),
        );
        assert_eq!(result["retryCount"], 1);
    }
    assert!(stub.stored().is_empty());
    assert_eq!(stub.expired(), [id]);
    assert!(pull_messages(&stub, json!({})).is_empty());
}

#[test]
fn requests_are_recorded_without_the_token() {
    let stub = QueuesStub::start();
    pull(&stub, json!({}));
    post_with(&stub.ack_url(), Some("Bearer nope"), "{}");
    post_with(&stub.pull_url(), Some(&bearer()), "{");
    http::send("GET", &format!("{}?x=1", stub.pull_url()), &[], Vec::new()).unwrap();

    let requests = stub.requests();
    let seen: Vec<(&str, u16, bool)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.status, r.auth_valid))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", 200, true),
            ("POST", 401, false),
            ("POST", 400, true),
            ("GET", 405, false)
        ]
    );
    let pull_path = format!("/client/v4/accounts/{ACCOUNT_ID}/queues/{QUEUE_ID}/messages/pull");
    assert_eq!(requests[0].path, pull_path);
    assert_eq!(requests[3].path, pull_path, "without the query");
    assert!(requests[1].path.ends_with("/messages/ack"));
}

#[test]
fn every_answer_is_json() {
    let stub = QueuesStub::start();
    let answers = [
        post_with(&stub.pull_url(), Some(&bearer()), "{}"),
        post_with(&stub.ack_url(), Some(&bearer()), "{}"),
        post_with(&stub.pull_url(), None, "{}"),
        post_with(&stub.pull_url(), Some(&bearer()), "nope"),
        http::send("GET", &stub.base_url(), &[], Vec::new()).unwrap(),
    ];
    for answer in answers {
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(answer.json().is_object(), "{}", answer.body);
    }
}

#[test]
fn dropping_the_stub_stops_the_server() {
    let stub = QueuesStub::start();
    let url = stub.pull_url();
    pull(&stub, json!({}));
    drop(stub);
    assert!(http::send("POST", &url, &[], b"{}".to_vec()).is_err());
}
