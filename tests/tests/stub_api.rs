//! Real HTTP tests of the SendGrid stub: status codes, error bodies, faults, observers, inbox.

use e2e::stub::{Chaos, Fault, FaultRule, Stub};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KEY: &str = "SG.test";

fn stub() -> Stub {
    Stub::start(0, KEY).expect("stub starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn mail(subject: &str) -> Value {
    json!({
        "personalizations": [{"to": [{"email": "attendee@example.com", "name": "Ann Attendee"}]}],
        "from": {"email": "bookings@example.com", "name": "Bookings"},
        "reply_to": {"email": "organizer@example.com"},
        "subject": subject,
        "content": [
            {"type": "text/plain", "value": "Your booking is confirmed."},
            {"type": "text/html", "value": "<p>Your booking is <b>confirmed</b>.</p>"}
        ],
        "categories": ["booking"],
        "custom_args": {"booking_uid": "uid-1"}
    })
}

async fn send(stub: &Stub, body: &Value) -> reqwest::Response {
    send_with(&client(), stub, body)
        .await
        .expect("an HTTP answer")
}

async fn send_with(
    client: &reqwest::Client,
    stub: &Stub,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{}/v3/mail/send", stub.base_url()))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
}

async fn errors_of(response: reqwest::Response) -> Vec<Value> {
    let body: Value = response.json().await.expect("a JSON error body");
    body["errors"].as_array().expect("an errors array").clone()
}

fn statuses(stub: &Stub) -> Vec<u16> {
    stub.attempts().iter().map(|a| a.status).collect()
}

#[tokio::test]
async fn valid_mail_gets_202_and_message_id_and_is_recorded() {
    let stub = stub();
    let response = send(&stub, &mail("Booking confirmed")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.headers()["x-message-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 22);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(response.bytes().await.unwrap().is_empty());

    let second = send(&stub, &mail("Second")).await;
    assert_ne!(second.headers()["x-message-id"].to_str().unwrap(), id);

    let emails = stub.emails();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0].message_id, id);
    assert_eq!(emails[0].body, mail("Booking confirmed"));
    assert_eq!(emails[1].body["subject"], "Second");
    assert_eq!(statuses(&stub), [202, 202]);
    assert!(stub.attempts().iter().all(|a| a.fault.is_none()));

    // The same through the observer route.
    let listed: Value = client()
        .get(format!("{}/__stub/emails", stub.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["message_id"], id.as_str());
    assert_eq!(listed[1]["body"]["subject"], "Second");
}

#[tokio::test]
async fn wrong_or_missing_key_gets_401_with_sendgrid_body() {
    let stub = stub();
    let expected = json!({"errors":[{
        "field": null,
        "message": "The provided authorization grant is invalid, expired, or revoked",
        "help": null
    }]});
    let url = format!("{}/v3/mail/send", stub.base_url());
    let wrong = client()
        .post(&url)
        .bearer_auth("SG.wrong")
        .json(&mail("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.text().await.unwrap(),
        r#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked","help":null}]}"#
    );

    let missing = client().post(&url).json(&mail("x")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.json::<Value>().await.unwrap(), expected);

    assert!(stub.emails().is_empty());
    assert_eq!(statuses(&stub), [401, 401]);
}

#[tokio::test]
async fn html_before_plain_is_400_on_content() {
    let stub = stub();
    let mut body = mail("x");
    body["content"] = json!([
        {"type": "text/html", "value": "<p>hi</p>"},
        {"type": "text/plain", "value": "hi"}
    ]);
    let response = send(&stub, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let errors = errors_of(response).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["field"], "content");
    assert_eq!(
        errors[0]["message"],
        "If present, text/plain and text/html may only be provided in that order."
    );
    assert!(errors[0]["help"].is_string());
    assert!(stub.emails().is_empty());
    assert_eq!(statuses(&stub), [400]);
}

#[tokio::test]
async fn calendar_attachments_take_only_the_method_parameter() {
    let stub = stub();
    let ics = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
    let mut body = mail("Invitation");
    body["attachments"] = json!([{
        "content": e2e::base64::base64_encode(ics.as_bytes()),
        "filename": "invite.ics",
        "type": "text/calendar; method=REQUEST",
        "disposition": "attachment"
    }]);
    assert_eq!(send(&stub, &body).await.status(), StatusCode::ACCEPTED);
    let stored = &stub.emails()[0].body["attachments"][0];
    assert_eq!(stored["type"], "text/calendar; method=REQUEST");

    // What SendGrid refuses: another parameter on the type, content that is not base64.
    body["attachments"][0]["type"] = json!("text/calendar; method=REQUEST; charset=utf-8");
    body["attachments"][0]["content"] = json!(ics);
    let response = send(&stub, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let errors = errors_of(response).await;
    let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["attachments.0.content", "attachments.0.type"]);
    assert!(errors
        .iter()
        .all(|e| e["message"].is_string() && e["help"].is_string()));
    assert_eq!(stub.emails().len(), 1);
    assert_eq!(statuses(&stub), [202, 400]);
}

#[tokio::test]
async fn missing_personalizations_and_other_problems_are_400_one_entry_each() {
    let stub = stub();
    let mut body = mail("x");
    body.as_object_mut().unwrap().remove("personalizations");
    let errors = errors_of(send(&stub, &body).await).await;
    let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["personalizations"]);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("personalizations field is required"));

    let mut body = mail("x");
    body["personalizations"] = json!([{"to": []}]);
    body["from"] = json!({"email": "not-an-address"});
    body["subject"] = json!("");
    body["content"] = json!([{"type": "text/plain", "value": ""}]);
    let response = send(&stub, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let errors = errors_of(response).await;
    let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(
        fields,
        [
            "personalizations.0.to",
            "from.email",
            "subject",
            "content.0.value"
        ]
    );
    assert!(errors
        .iter()
        .all(|e| e["message"].is_string() && e["help"].is_string()));

    // Not JSON at all.
    let response = client()
        .post(format!("{}/v3/mail/send", stub.base_url()))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(errors_of(response).await.len(), 1);
    assert!(stub.emails().is_empty());
    assert_eq!(statuses(&stub), [400, 400, 400]);
    assert!(stub.attempts()[2].body.is_null());
}

#[tokio::test]
async fn sandbox_mode_gets_200_and_is_not_recorded_as_email() {
    let stub = stub();
    let mut body = mail("sandboxed");
    body["mail_settings"] = json!({"sandbox_mode": {"enable": true}});
    let response = send(&stub, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-message-id").is_none());
    assert!(response.bytes().await.unwrap().is_empty());
    assert!(stub.emails().is_empty());
    assert_eq!(statuses(&stub), [200]);
    assert_eq!(stub.attempts()[0].body["subject"], "sandboxed");
}

#[tokio::test]
async fn status_fault_for_next_two_then_normal() {
    let stub = stub();
    // Pushed over HTTP to check the wire shape of a FaultRule.
    let pushed = client()
        .post(format!("{}/__stub/faults", stub.base_url()))
        .json(&json!({"fault": {"kind": "status", "status": 500}, "count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::NO_CONTENT);

    for _ in 0..2 {
        let response = send(&stub, &mail("retry me")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let errors = errors_of(response).await;
        assert_eq!(errors.len(), 1);
        assert!(errors[0]["field"].is_null());
        assert!(errors[0]["message"].is_string());
    }
    assert_eq!(
        send(&stub, &mail("retry me")).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(stub.emails().len(), 1);
    assert_eq!(statuses(&stub), [500, 500, 202]);
    let faults: Vec<Option<String>> = stub.attempts().into_iter().map(|a| a.fault).collect();
    assert_eq!(
        faults,
        [
            Some("status:500".to_owned()),
            Some("status:500".to_owned()),
            None
        ]
    );
}

#[tokio::test]
async fn rate_limit_fault_sets_retry_after_and_reset_headers() {
    let stub = stub();
    stub.push_fault(FaultRule::times(
        Fault::Status {
            status: 429,
            retry_after: Some(3),
        },
        1,
    ));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let response = send(&stub, &mail("x")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let header = |name: &str| {
        response.headers()[name]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(header("retry-after"), 3);
    assert_eq!(header("x-ratelimit-remaining"), 0);
    assert!(header("x-ratelimit-limit") > 0);
    let reset = header("x-ratelimit-reset");
    assert!(
        (now + 2..=now + 5).contains(&reset),
        "reset {reset} vs now {now}"
    );
    let errors = errors_of(response).await;
    assert_eq!(errors[0]["message"], "Too many requests");
    assert_eq!(send(&stub, &mail("x")).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn matching_fault_only_hits_requests_containing_the_substring() {
    let stub = stub();
    stub.push_fault(FaultRule::always(Fault::status(503)).matching("poison-pill"));
    assert_eq!(
        send(&stub, &mail("contains poison-pill")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&stub, &mail("harmless")).await.status(),
        StatusCode::ACCEPTED
    );
    // A rule without a count stays.
    assert_eq!(
        send(&stub, &mail("again poison-pill")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let emails = stub.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].body["subject"], "harmless");
    assert_eq!(statuses(&stub), [503, 202, 503]);

    // DELETE clears it.
    let cleared = client()
        .delete(format!("{}/__stub/faults", stub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        send(&stub, &mail("poison-pill")).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn close_fault_gives_a_connection_error_not_a_response() {
    let stub = stub();
    stub.push_fault(FaultRule::times(Fault::Close, 1));
    let client = client();
    let started = Instant::now();
    let error = send_with(&client, &stub, &mail("closed"))
        .await
        .expect_err("no HTTP answer on a closed connection");
    assert!(error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Not retried behind our back, and recorded as an attempt without an answer.
    assert!(stub.emails().is_empty());
    assert_eq!(stub.attempts().len(), 1);
    assert_eq!(stub.attempts()[0].status, 0);
    assert_eq!(stub.attempts()[0].fault.as_deref(), Some("close"));
    // The rule is used up: the same client gets through next.
    let response = send_with(&client, &stub, &mail("after")).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn accept_then_close_delivers_the_email_but_gives_no_answer() {
    let stub = stub();
    stub.push_fault(FaultRule::times(Fault::AcceptThenClose, 1));
    let client = client();
    let error = send_with(&client, &stub, &mail("accepted"))
        .await
        .expect_err("no HTTP answer after the accept");
    assert!(error.status().is_none(), "{error:?}");
    // The email went out all the same: that is what makes the outcome unknown to the sender.
    assert_eq!(stub.emails().len(), 1);
    assert_eq!(stub.attempts()[0].status, 202);
    assert_eq!(
        stub.attempts()[0].fault.as_deref(),
        Some("accept_then_close")
    );
    // An invalid request is still refused as usual under the rule.
    stub.push_fault(FaultRule::times(Fault::AcceptThenClose, 1));
    let response = send_with(&client, &stub, &json!({"personalizations": []}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stub.emails().len(), 1);
}

#[test]
fn close_fault_resets_a_raw_tcp_connection_without_a_runtime() {
    let stub = stub();
    stub.push_fault(FaultRule::times(Fault::Close, 1));
    let body = mail("raw").to_string();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", stub.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        tcp,
        "POST /v3/mail/send HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = Vec::new();
    let result = tcp.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "got bytes: {:?}",
        String::from_utf8_lossy(&answer)
    );
    match result {
        Ok(0) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("read {n} bytes"),
    }
}

#[tokio::test]
async fn hang_fault_makes_a_short_timeout_client_time_out() {
    let stub = stub();
    stub.push_fault(FaultRule::times(Fault::Hang, 1));
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = send_with(&impatient, &stub, &mail("hung"))
        .await
        .expect_err("a hung request times out");
    assert!(error.is_timeout(), "{error:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert_eq!(stub.attempts()[0].fault.as_deref(), Some("hang"));
    // The stub keeps serving others while a request hangs.
    assert_eq!(
        send(&stub, &mail("next")).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn observer_routes_round_trip() {
    let stub = stub();
    let client = client();
    let url = |path: &str| format!("{}/__stub/{path}", stub.base_url());

    let posted = client
        .post(url("dead-letters"))
        .json(&json!({"booking_uid": "b1", "error": "400 from SendGrid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::NO_CONTENT);
    client
        .post(url("dead-letters"))
        .json(&json!([{"booking_uid": "b2"}, {"booking_uid": "b3"}]))
        .send()
        .await
        .unwrap();
    let listed: Value = client
        .get(url("dead-letters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed,
        json!([{"booking_uid": "b1", "error": "400 from SendGrid"}, {"booking_uid": "b2"}, {"booking_uid": "b3"}])
    );
    assert_eq!(Value::Array(stub.dead_letters()), listed);

    client
        .post(url("queue-tap"))
        .json(&json!({"event": "BOOKING_CREATED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stub.queue_tap(), [json!({"event": "BOOKING_CREATED"})]);

    client
        .post(url("logs"))
        .json(&json!(["one", "two"]))
        .send()
        .await
        .unwrap();
    let logs: Vec<String> = client
        .get(url("logs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logs, ["one", "two"]);
    assert_eq!(stub.logs(), ["one", "two"]);

    let bad = client
        .post(url("logs"))
        .json(&json!({"not": "strings"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    send(&stub, &mail("x")).await;
    stub.push_fault(FaultRule::always(Fault::Hang));
    let reset = client.post(url("reset")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert!(stub.emails().is_empty() && stub.attempts().is_empty());
    assert!(
        stub.dead_letters().is_empty() && stub.queue_tap().is_empty() && stub.logs().is_empty()
    );
    // Faults were cleared too: this does not hang.
    assert_eq!(send(&stub, &mail("x")).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn unknown_paths_404_and_wrong_methods_405() {
    let stub = stub();
    let client = client();
    let response = client
        .get(format!("{}/v3/nope", stub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"errors":[{"field":null,"message":"Not Found","help":null}]})
    );
    let response = client
        .get(format!("{}/v3/mail/send", stub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(stub.attempts().is_empty());
}

#[tokio::test]
async fn body_over_30_mb_is_413() {
    let stub = stub();
    let big = vec![b' '; 30 * 1024 * 1024 + 1];
    let response = client()
        .post(format!("{}/v3/mail/send", stub.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(errors_of(response).await.len(), 1);
    assert_eq!(statuses(&stub), [413]);
}

#[tokio::test]
async fn inbox_page_escapes_what_it_shows() {
    let stub = stub();
    let mut body = mail("<script>alert('pwned')</script> Booking");
    body["content"][1]["value"] = json!("<h1 class=\"t\">Hello & welcome</h1>");
    assert_eq!(send(&stub, &body).await.status(), StatusCode::ACCEPTED);
    client()
        .post(format!("{}/__stub/dead-letters", stub.base_url()))
        .json(&json!({"why": "<img src=x>"}))
        .send()
        .await
        .unwrap();

    let response = client().get(stub.base_url() + "/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; Booking"));
    assert!(!page.contains("<script>"));
    assert!(!page.contains("<img src=x>"));
    assert!(page.contains("&lt;img src=x&gt;"));
    assert!(page.contains(
        "<iframe sandbox srcdoc=\"&lt;h1 class=&quot;t&quot;&gt;Hello &amp; welcome&lt;/h1&gt;\""
    ));
    assert!(page.contains("Your booking is confirmed."));
    assert!(page.contains(&stub.emails()[0].message_id));
    assert!(page.contains("1 emails"));
    assert!(page.contains("1 dead letters"));
    assert!(page.contains("http-equiv=\"refresh\""));

    let raw = client()
        .get(stub.base_url() + "/emails/0.html")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);
    assert_eq!(
        raw.text().await.unwrap(),
        "<h1 class=\"t\">Hello & welcome</h1>"
    );
    let missing = client()
        .get(stub.base_url() + "/emails/7.html")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

// ---- seeded chaos ----

fn keyed_mail(key: &str) -> Value {
    let mut body = mail(&format!("chaos {key}"));
    body["custom_args"]["idempotency_key"] = json!(key);
    body
}

fn status_fault(status: u16) -> Fault {
    Fault::Status {
        status,
        retry_after: None,
    }
}

fn chaos_mix(seed: u64, share_percent: u32) -> Chaos {
    Chaos {
        seed,
        share_percent,
        faults: vec![
            status_fault(500),
            status_fault(503),
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
        ],
    }
}

/// What the stub should answer for a decision: the fault's status, or 202.
fn expected_status(decision: &Option<Fault>) -> u16 {
    match decision {
        Some(Fault::Status { status, .. }) => *status,
        Some(other) => panic!("unexpected fault {other:?}"),
        None => 202,
    }
}

async fn post_chaos(stub: &Stub, body: &str) -> reqwest::Response {
    client()
        .post(format!("{}/__stub/chaos", stub.base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn get_chaos(stub: &Stub) -> Value {
    client()
        .get(format!("{}/__stub/chaos", stub.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn chaos_route_round_trip_validation_and_reset() {
    let stub = stub();
    assert_eq!(get_chaos(&stub).await, Value::Null);
    let setting = r#"{"seed":7,"share_percent":20,"faults":[{"kind":"status","status":503},{"kind":"status","status":429,"retry_after":1},{"kind":"close"}]}"#;
    assert_eq!(
        post_chaos(&stub, setting).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown = get_chaos(&stub).await;
    assert_eq!(shown, serde_json::from_str::<Value>(setting).unwrap());
    assert_eq!(
        stub.chaos(),
        Some(serde_json::from_str::<Chaos>(setting).unwrap())
    );

    for bad in [
        r#"{"seed":1,"share_percent":20,"faults":[{"kind":"status","status":202}]}"#,
        r#"{"seed":1,"share_percent":20,"faults":[{"kind":"status","status":200}]}"#,
        r#"{"seed":1,"share_percent":20,"faults":[{"kind":"status","status":700}]}"#,
        r#"{"seed":1,"share_percent":101,"faults":[{"kind":"hang"}]}"#,
        r#"{"seed":1,"share_percent":20,"faults":[]}"#,
        r#"{"seed":-1,"share_percent":20,"faults":[{"kind":"hang"}]}"#,
        r#"{"share_percent":20}"#,
        "not json",
    ] {
        let response = post_chaos(&stub, bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(errors_of(response).await.len(), 1, "{bad}");
        // A rejected setting leaves the current one alone.
        assert_eq!(get_chaos(&stub).await, shown, "{bad}");
    }

    assert_eq!(
        post_chaos(&stub, "null").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(get_chaos(&stub).await, Value::Null);
    assert_eq!(stub.chaos(), None);

    stub.set_chaos(Some(chaos_mix(1, 50)));
    assert_eq!(get_chaos(&stub).await["seed"], 1);
    let reset = client()
        .post(format!("{}/__stub/reset", stub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(get_chaos(&stub).await, Value::Null);

    let invalid = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stub.set_chaos(Some(Chaos {
            faults: vec![status_fault(202)],
            ..chaos_mix(1, 50)
        }))
    }));
    assert!(invalid.is_err(), "set_chaos accepts a 2xx fault");
    assert_eq!(stub.chaos(), None);
}

/// Sends each key `rounds` times (keys interleaved) and returns the statuses per key.
async fn statuses_per_key(stub: &Stub, keys: &[String], rounds: usize) -> Vec<Vec<u16>> {
    let client = client();
    let mut seen = vec![Vec::new(); keys.len()];
    for _ in 0..rounds {
        for (i, key) in keys.iter().enumerate() {
            let response = send_with(&client, stub, &keyed_mail(key)).await.unwrap();
            seen[i].push(response.status().as_u16());
        }
    }
    seen
}

#[tokio::test]
async fn chaos_follows_the_hash_of_seed_key_and_attempt_and_replays() {
    let chaos = chaos_mix(20_260_501, 50);
    let keys: Vec<String> = (0..20).map(|i| format!("bk-{i}")).collect();
    let expected: Vec<Vec<u16>> = keys
        .iter()
        .map(|key| {
            (0..4)
                .map(|n| expected_status(&chaos.decide(key, n)))
                .collect()
        })
        .collect();
    // The seed mixes outcomes: some keys fail at least once, some get through at once.
    assert!(expected.iter().flatten().any(|s| *s != 202));
    assert!(expected.iter().flatten().any(|s| *s == 202));

    let stub = stub();
    stub.set_chaos(Some(chaos.clone()));
    assert_eq!(statuses_per_key(&stub, &keys, 4).await, expected);

    // Each attempt carries its key and, when chaos hit, the fault's label.
    let attempts = stub.attempts();
    assert_eq!(attempts.len(), 80);
    for attempt in &attempts {
        let key = attempt.key.as_deref().expect("key recorded");
        assert!(keys.iter().any(|k| k == key));
        match attempt.status {
            202 => assert_eq!(attempt.fault, None),
            status => assert_eq!(attempt.fault, Some(format!("status:{status}"))),
        }
    }
    let accepted = expected.iter().flatten().filter(|s| **s == 202).count();
    assert_eq!(stub.emails().len(), accepted);

    // A second stub with the same seed, keys sent in another order: the same decisions.
    let again = Stub::start(0, KEY).unwrap();
    again.set_chaos(Some(chaos));
    let reversed: Vec<String> = keys.iter().rev().cloned().collect();
    let mut replay = statuses_per_key(&again, &reversed, 4).await;
    replay.reverse();
    assert_eq!(replay, expected);

    // Reset starts the attempt numbers over (and turns chaos off).
    again.reset();
    again.set_chaos(Some(chaos_mix(20_260_501, 50)));
    assert_eq!(statuses_per_key(&again, &keys[..1], 4).await, expected[..1]);
}

#[tokio::test]
async fn fault_rules_win_over_chaos_and_still_count_as_attempts() {
    let stub = stub();
    stub.set_chaos(Some(Chaos {
        seed: 3,
        share_percent: 100,
        faults: vec![status_fault(503)],
    }));
    stub.push_fault(FaultRule::times(status_fault(500), 1));
    assert_eq!(
        send(&stub, &keyed_mail("k")).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        send(&stub, &keyed_mail("k")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Requests without an idempotency key are left alone.
    assert_eq!(
        send(&stub, &mail("no key")).await.status(),
        StatusCode::ACCEPTED
    );
    let faults: Vec<Option<String>> = stub.attempts().into_iter().map(|a| a.fault).collect();
    assert_eq!(
        faults,
        [Some("status:500".into()), Some("status:503".into()), None]
    );
    let keys: Vec<Option<String>> = stub.attempts().into_iter().map(|a| a.key).collect();
    assert_eq!(keys, [Some("k".into()), Some("k".into()), None]);

    // The rule-hit request counted as attempt 0 of its key, so chaos decides the next one as
    // attempt 1; a request failing auth is not counted (and not faulted).
    let chaos = chaos_mix(11, 50);
    stub.reset();
    stub.set_chaos(Some(chaos.clone()));
    stub.push_fault(FaultRule::times(status_fault(500), 1));
    let unauthorized = client()
        .post(format!("{}/v3/mail/send", stub.base_url()))
        .bearer_auth("SG.wrong")
        .json(&keyed_mail("k2"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(&stub, &keyed_mail("k2")).await.status().as_u16());
    }
    let mut expected = vec![500];
    expected.extend((1..4).map(|n| expected_status(&chaos.decide("k2", n))));
    assert_eq!(statuses, expected);
    assert_eq!(stub.attempts()[0].fault, None);
    assert_eq!(stub.attempts()[0].key.as_deref(), Some("k2"));
}

/// Polls until the stub has no open connection; the count when giving up.
async fn wait_for_no_connections(stub: &Stub, timeout: Duration) -> Result<(), usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let open = stub.open_connections();
        if open == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(open);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_faults_under_load_leave_no_connection_behind() {
    let stub = std::sync::Arc::new(stub());
    stub.set_chaos(Some(Chaos {
        seed: 1,
        share_percent: 100,
        faults: vec![Fault::Close],
    }));
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let (stub, client) = (stub.clone(), client.clone());
        tasks.spawn(async move {
            let mut errors = 0;
            for i in 0..20 {
                let body = keyed_mail(&format!("close-{worker}-{i}"));
                let result = send_with(&client, &stub, &body).await;
                assert!(result.is_err(), "an answer despite a close fault");
                errors += 1;
            }
            errors
        });
    }
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        errors += done.unwrap();
    }
    assert_eq!(errors, 640);
    let attempts = stub.attempts();
    assert_eq!(attempts.len(), 640);
    assert!(attempts
        .iter()
        .all(|a| a.status == 0 && a.fault.as_deref() == Some("close")));
    assert_eq!(
        wait_for_no_connections(&stub, Duration::from_secs(5)).await,
        Ok(())
    );
    // Still serving.
    stub.set_chaos(None);
    let response = send_with(&client, &stub, &keyed_mail("after"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_requests_end_when_their_client_gives_up() {
    let stub = std::sync::Arc::new(stub());
    stub.set_chaos(Some(Chaos {
        seed: 1,
        share_percent: 100,
        faults: vec![Fault::Hang],
    }));
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (stub, client) = (stub.clone(), impatient.clone());
        tasks.spawn(async move {
            let error = send_with(&client, &stub, &keyed_mail(&format!("hang-{i}")))
                .await
                .expect_err("a hung request times out");
            assert!(error.is_timeout(), "{error:?}");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(stub.attempts().len(), 64);
    // The client dropped its connections on timeout; the stub lets go of them (and of the
    // hanging handlers) instead of holding them for HANG_LIMIT.
    drop(impatient);
    assert_eq!(
        wait_for_no_connections(&stub, Duration::from_secs(5)).await,
        Ok(())
    );
    stub.set_chaos(None);
    assert_eq!(
        send(&stub, &keyed_mail("next")).await.status(),
        StatusCode::ACCEPTED
    );
}
