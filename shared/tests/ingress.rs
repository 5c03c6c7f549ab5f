//! The producer's decisions on realistic Cal.com deliveries (see `samples/`).

use serde_json::{json, Value};
use shared::contract::calcom::envelope::{idempotency_key, parse_delivery, BodyError, Delivery};
use shared::contract::decode::decode_message_str;
use shared::contract::message::{BookingMessage, BookingTrigger, MAX_MESSAGE_BYTES};
use shared::ingress::signature::{sign, WebhookSecrets};
use shared::ingress::{
    accept_checked, accept_webhook, replay, route, Form, Health, Ingress, Reply, Route,
};

const SECRET: &str = "whsec_test_only_secret";
const NOW: &str = "2026-02-10T17:03:13.000Z";

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../samples/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // Cal.com sends compact JSON without a trailing newline.
    text.trim_end().as_bytes().to_vec()
}

fn accept(body: &[u8]) -> Ingress {
    let secrets = WebhookSecrets::parse(SECRET);
    accept_webhook(&secrets, Some(&sign(SECRET.as_bytes(), body)), body, NOW)
}

fn reply_of(ingress: Ingress) -> Reply {
    match ingress {
        Ingress::Reply(r) => r,
        Ingress::Enqueue { message, .. } => panic!("unexpected enqueue of {}", message.key),
        Ingress::Forward { uid, .. } => panic!("unexpected forward of {uid}"),
    }
}

fn message_of(ingress: Ingress) -> (BookingMessage, Reply) {
    match ingress {
        Ingress::Enqueue {
            message,
            body,
            reply,
        } => {
            assert_eq!(
                body,
                message.to_json(),
                "the queued body is the message, serialized once"
            );
            (*message, reply)
        }
        Ingress::Reply(r) => panic!("expected a message, got {} {}", r.status, r.body),
        Ingress::Forward { uid, .. } => panic!("accept_webhook forwarded {uid}"),
    }
}

fn booking_json(trigger: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"triggerEvent": trigger, "createdAt": "2026-02-10T17:03:12.512Z", "payload": payload})).unwrap()
}

#[test]
fn routes_by_method_and_path() {
    assert_eq!(route("POST", "/api/calcom-webhook"), Route::Webhook);
    assert_eq!(route("POST", "/api/calcom-webhook/"), Route::Webhook);
    assert_eq!(
        route("GET", "/api/calcom-webhook"),
        Route::MethodNotAllowed { allow: "POST" }
    );
    assert_eq!(
        route("PUT", "/api/calcom-webhook"),
        Route::MethodNotAllowed { allow: "POST" }
    );
    assert_eq!(route("POST", "/"), Route::NotFound);
    assert_eq!(route("POST", "/api/calcom-webhook2"), Route::NotFound);
    assert_eq!(route("POST", "/API/calcom-webhook"), Route::NotFound);
    let r = Reply::for_route(
        route("GET", "/api/calcom-webhook"),
        "GET",
        "/api/calcom-webhook",
    )
    .unwrap();
    assert_eq!((r.status, r.allow), (405, Some("POST")));
    assert_eq!(r.body["error"], "method_not_allowed");
    let r = Reply::for_route(Route::NotFound, "GET", "/x").unwrap();
    assert_eq!(r.status, 404);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("/api/calcom-webhook"));
    assert!(Reply::for_route(Route::Webhook, "POST", "/api/calcom-webhook").is_none());
}

#[test]
fn a_new_booking_is_queued_with_everything_the_email_needs() {
    let (msg, reply) = message_of(accept(&sample("booking-created")));
    assert_eq!(reply.status, 202);
    assert_eq!(
        reply.body,
        json!({"status": "queued", "event": "BOOKING_CREATED", "uid": "bkg_8Jq2Xz4TnR5wLm3Yv"})
    );
    assert_eq!(msg.v, 1);
    assert_eq!(msg.trigger, BookingTrigger::BookingCreated);
    assert_eq!(msg.received_at, NOW);
    assert_eq!(msg.sent_at.as_deref(), Some("2026-02-10T17:03:12.512Z"));
    assert_eq!(msg.key.len(), 32);
    let b = &msg.booking;
    assert_eq!(b.uid, "bkg_8Jq2Xz4TnR5wLm3Yv");
    assert_eq!(b.event_type.as_deref(), Some("30 Min Consultation"));
    assert_eq!(b.start.as_deref(), Some("2026-02-17T18:00:00Z"));
    assert_eq!(b.length_minutes, Some(30));
    assert_eq!(b.organizer.time_zone.as_deref(), Some("America/Anchorage"));
    assert_eq!(b.time_format.as_deref(), Some("h:mma"));
    let booker = b.booker.as_ref().unwrap();
    assert_eq!(booker.name.as_deref(), Some("Alex Student"));
    assert_eq!(booker.email.as_deref(), Some("alex.student@example.org"));
    assert_eq!(booker.phone.as_deref(), Some("+1 907 555 0142"));
    assert_eq!(booker.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(b.guests.len(), 1);
    assert_eq!(b.guests[0].email.as_deref(), Some("parent@example.org"));
    assert_eq!(b.guests[0].name, None, "empty guest names are not names");
    assert!(!b.seated);
    assert_eq!(b.location.as_deref(), Some("integrations:daily"));
    assert_eq!(
        b.meeting_url.as_deref(),
        Some("https://meetco.daily.co/abc")
    );
    assert!(
        b.notes.as_deref().unwrap().contains("<b>spring</b>"),
        "kept raw; escaped when rendered"
    );
    // Form order kept; fields shown elsewhere and hidden ones left out.
    let labels: Vec<&str> = b.answers.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["Company or school", "Topics"]);
    assert_eq!(b.answers[1].value, "Scheduling, Pricing");
    assert!(!b.truncated);
}

#[test]
fn requested_rescheduled_and_cancelled_carry_their_specifics() {
    let (req, reply) = message_of(accept(&sample("booking-requested")));
    assert_eq!(reply.body["event"], "BOOKING_REQUESTED");
    assert_eq!(req.trigger, BookingTrigger::BookingRequested);
    assert_eq!(req.booking.status.as_deref(), Some("PENDING"));
    assert_eq!(
        req.booking.booker.as_ref().unwrap().name.as_deref(),
        Some("Søren Ølgaard")
    );
    assert_eq!(req.booking.booker.as_ref().unwrap().phone, None);

    let (re, _) = message_of(accept(&sample("booking-rescheduled")));
    assert_eq!(re.booking.uid, "bkg_NEW9pQ2", "the new booking's uid");
    let from = re.booking.rescheduled_from.as_ref().unwrap();
    assert_eq!(from.uid.as_deref(), Some("bkg_8Jq2Xz4TnR5wLm3Yv"));
    assert_eq!(from.start.as_deref(), Some("2026-02-17T18:00:00Z"));
    assert_eq!(
        re.booking.rescheduled_by.as_deref(),
        Some("alex.student@example.org")
    );
    assert_eq!(re.booking.answers[0].value, "Exam moved to that week");

    let (c, _) = message_of(accept(&sample("booking-cancelled")));
    assert_eq!(
        c.booking.start.as_deref(),
        Some("2026-02-19T20:00:00+00:00")
    );
    let cancel = c.booking.cancellation.as_ref().unwrap();
    assert_eq!(cancel.reason.as_deref(), Some("Feeling unwell, sorry!"));
    assert_eq!(
        cancel.cancelled_by.as_deref(),
        Some("alex.student@example.org")
    );
    assert!(!cancel.reschedule_requested);
    assert_eq!(
        c.booking.booker.as_ref().unwrap().phone,
        None,
        "null phone is no phone"
    );
}

#[test]
fn ping_and_other_triggers_answer_200_and_queue_nothing() {
    let r = reply_of(accept(&sample("ping")));
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"status": "ok", "event": "PING"}))
    );

    let r = reply_of(accept(&sample("meeting-started")));
    assert_eq!(
        (r.status, r.body.clone()),
        (
            200,
            json!({"status": "ignored", "event": "MEETING_STARTED"})
        )
    );

    for trigger in [
        "BOOKING_PAID",
        "BOOKING_REJECTED",
        "FORM_SUBMITTED",
        "SOMETHING_NEW_IN_2027",
    ] {
        let r = reply_of(accept(&booking_json(trigger, json!({"uid": "x"}))));
        assert_eq!(r.status, 200, "{trigger}");
        assert_eq!(r.body["status"], "ignored");
        assert_eq!(r.body["event"], trigger);
    }
}

#[test]
fn bodies_that_are_not_envelopes_get_400_naming_the_problem() {
    let cases: &[(&[u8], &str)] = &[
        (b"false", "body_not_an_object"),
        (b"null", "body_not_an_object"),
        (b"[1,2]", "body_not_an_object"),
        (b"name=Alex&email=a%40b.c", "body_not_json"),
        (b"", "body_not_json"),
        (b"{\"payload\":{}}", "missing_trigger_event"),
        (b"{\"triggerEvent\":42}", "missing_trigger_event"),
        (b"{\"triggerEvent\":\"BOOKING_CREATED\"}", "missing_payload"),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":null}",
            "missing_payload",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":\"x\"}",
            "missing_payload",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CANCELLED\",\"payload\":{}}",
            "missing_payload_uid",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"  \"}}",
            "missing_payload_uid",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"a\",\"uid\":\"b\"}}",
            "body_unreadable",
        ),
        (b"\xff\xfe{}", "body_not_utf8"),
    ];
    for (body, code) in cases {
        let r = reply_of(accept(body));
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.body["error"], *code, "{}", String::from_utf8_lossy(body));
        assert!(!r.body["message"].as_str().unwrap().is_empty());
    }
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(
        reply_of(accept(deep.as_bytes())).body["error"],
        "body_too_deep"
    );
}

#[test]
fn a_repeated_key_is_named_with_its_position() {
    for (body, field) in [
        (
            &b"{\"triggerEvent\":\"BOOKING_CREATED\",\"triggerEvent\":\"PING\",\"payload\":{\"uid\":\"a\"}}"[..],
            "triggerEvent",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"a\"},\"payload\":{\"uid\":\"b\"}}",
            "payload",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"a\",\"uid\":\"b\"}}",
            "uid",
        ),
        (
            b"{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"a\",\"responses\":{},\"responses\":[]}}",
            "responses",
        ),
    ] {
        let r = reply_of(accept(body));
        assert_eq!(r.body["error"], "body_unreadable");
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("duplicate field `{field}` at line 1 column")),
            "{message}"
        );
    }
    // Any other key may repeat; the last one counts, as in serde_json.
    let (message, _) = message_of(accept(
        b"{\"triggerEvent\":\"BOOKING_CREATED\",\"x\":1,\"x\":2,\"payload\":{\"uid\":\"a\",\"title\":\"One\",\"title\":\"Two\"}}",
    ));
    assert_eq!(message.booking.title.as_deref(), Some("Two"));
}

#[test]
fn signature_and_configuration_failures() {
    let body = sample("booking-created");
    let none = WebhookSecrets::parse("");
    let r = reply_of(accept_webhook(&none, Some(&sign(b"", &body)), &body, NOW));
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (500, Some("secret_not_configured"))
    );

    let secrets = WebhookSecrets::parse(SECRET);
    let good = sign(SECRET.as_bytes(), &body);
    let cases = [
        (None, "signature_missing"),
        (
            Some("no-secret-provided".to_owned()),
            "signature_not_configured_in_calcom",
        ),
        (Some(good[..63].to_owned()), "signature_malformed"),
        (Some(sign(b"wrong", &body)), "signature_mismatch"),
    ];
    for (header, code) in cases {
        let r = reply_of(accept_webhook(&secrets, header.as_deref(), &body, NOW));
        assert_eq!(r.status, 401);
        assert_eq!(r.body["error"], code);
        let text = r.body_text();
        assert!(
            !text.contains(SECRET) && !text.contains(&good[..20]),
            "{text}"
        );
    }
    // Signed over other bytes: the re-serialised JSON no longer verifies.
    let reserialised =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    let r = reply_of(accept_webhook(&secrets, Some(&good), &reserialised, NOW));
    assert_eq!(r.body["error"], "signature_mismatch");
}

#[test]
fn the_idempotency_key_collapses_repeats_but_not_new_deliveries() {
    let body = sample("booking-created");
    let (a, _) = message_of(accept(&body));
    let (b, _) = message_of(accept(&body));
    assert_eq!(a.key, b.key, "the same bytes twice");

    // Cal.com's queued retry path re-sends the payload with a new createdAt.
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    v["createdAt"] = json!("2026-02-10T17:04:12.000Z");
    let (retry, _) = message_of(accept(&serde_json::to_vec(&v).unwrap()));
    assert_eq!(a.key, retry.key, "a retry of the same delivery");

    // A seated event: a second seat is the same uid with one more attendee.
    let mut seat1 = v.clone();
    seat1["payload"]["seatsPerTimeSlot"] = json!(5);
    seat1["payload"]["attendees"] = json!([v["payload"]["attendees"][0]]);
    let mut seat2 = seat1.clone();
    seat2["payload"]["attendees"].as_array_mut().unwrap().push(
        json!({"email": "sam@example.net", "name": "Sam Second", "timeZone": "Asia/Kolkata"}),
    );
    let (m1, _) = message_of(accept(&serde_json::to_vec(&seat1).unwrap()));
    let (m2, _) = message_of(accept(&serde_json::to_vec(&seat2).unwrap()));
    assert_eq!(m1.booking.uid, m2.booking.uid);
    assert_ne!(m1.key, m2.key, "a new seat is a new notification");
    assert!(m2.booking.seated);
    let booker = m2.booking.booker.as_ref().unwrap();
    assert_eq!(
        booker.email.as_deref(),
        Some("sam@example.net"),
        "the newly seated attendee"
    );
    assert_eq!(m2.booking.guests[0].name.as_deref(), Some("Alex Student"));

    // Requested, then confirmed: same uid, another trigger, another key.
    let raw = r#"{"uid":"u1"}"#;
    assert_ne!(
        idempotency_key(BookingTrigger::BookingRequested, raw),
        idempotency_key(BookingTrigger::BookingCreated, raw)
    );
}

#[test]
fn odd_but_signed_bookings_degrade_instead_of_failing() {
    let payload = json!({
        "uid": 12345,
        "title": null,
        "startTime": "not a date",
        "endTime": "9999-99-99T99:99:99Z",
        "length": "45",
        "organizer": {"name": {"firstName": "Ana", "lastName": "Lima"}, "email": null, "timeZone": "Mars/Olympus"},
        "attendees": [],
        "responses": [],
        "location": null,
        "team": {"name": "Front desk", "members": []},
        "unknownFutureField": {"deep": [1, 2, 3]},
        "price": null,
        "requiresConfirmation": null,
        "cancellationReason": null,
    });
    let (m, reply) = message_of(accept(&booking_json("BOOKING_CREATED", payload)));
    assert_eq!(reply.body["uid"], "12345");
    let b = &m.booking;
    assert_eq!(b.uid, "12345");
    assert_eq!(b.start.as_deref(), Some("not a date"), "shown as sent");
    assert_eq!(b.length_minutes, Some(45));
    assert_eq!(b.organizer.name.as_deref(), Some("Ana Lima"));
    assert_eq!(b.organizer.time_zone.as_deref(), Some("Mars/Olympus"));
    assert_eq!(b.booker, None, "no attendees: organizer only");
    assert!(b.guests.is_empty() && b.answers.is_empty());
    assert_eq!(b.team.as_deref(), Some("Front desk"));
    assert_eq!(b.cancellation, None);

    // A body with only the required fields.
    let (m, _) = message_of(accept(
        br#"{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"only-uid"}}"#,
    ));
    assert_eq!(m.booking.uid, "only-uid");
    assert_eq!(m.sent_at, None);
}

#[test]
fn non_ascii_text_survives_verbatim() {
    let body = booking_json(
        "BOOKING_CREATED",
        json!({"uid": "ü1", "eventTitle": "Beratung – 30 Min 🗓️", "attendees": [{"name": "Zoë Ångström", "email": "zoe@exämple.de"}]}),
    );
    let (m, _) = message_of(accept(&body));
    assert_eq!(
        m.booking.event_type.as_deref(),
        Some("Beratung – 30 Min 🗓️")
    );
    assert_eq!(
        m.booking.booker.unwrap().name.as_deref(),
        Some("Zoë Ångström")
    );
}

#[test]
fn huge_bookings_are_trimmed_to_fit_the_queue() {
    let attendees: Vec<Value> = (0..3000)
        .map(|i| json!({"name": format!("Guest {i} \u{1}\u{2}"), "email": format!("g{i}@example.com"), "timeZone": "UTC"}))
        .collect();
    let mut responses = serde_json::Map::new();
    for i in 0..200 {
        responses.insert(
            format!("q{i}"),
            json!({"label": format!("Question {i}"), "value": "\u{7}".repeat(5000)}),
        );
    }
    let payload = json!({
        "uid": "big",
        "eventTitle": "x".repeat(100_000),
        "additionalNotes": "\"".repeat(150_000),
        "attendees": attendees,
        "responses": responses,
    });
    let body = booking_json("BOOKING_CREATED", payload);
    assert!(body.len() > 200_000);
    let (m, _) = message_of(accept(&body));
    let size = m.to_json().len();
    assert!(size <= MAX_MESSAGE_BYTES, "{size}");
    assert!(m.booking.truncated);
    assert_eq!(
        m.booking.booker.as_ref().unwrap().name.as_deref(),
        Some("Guest 0 \u{1}\u{2}")
    );
    assert!(m.booking.guests_omitted > 0);
    assert_eq!(
        m.booking.guests.len() as u32 + m.booking.guests_omitted,
        2999
    );
    assert!(m.booking.event_type.as_deref().unwrap().ends_with('…'));

    // An ordinary booking keeps everything.
    let (m, _) = message_of(accept(&sample("booking-created")));
    assert!(!m.booking.truncated);
}

#[test]
fn the_message_round_trips_as_json() {
    let (m, _) = message_of(accept(&sample("booking-rescheduled")));
    let text = m.to_json();
    let back: BookingMessage = serde_json::from_str(&text).unwrap();
    assert_eq!(back, m);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["v"], 1);
    assert_eq!(v["trigger"], "BOOKING_RESCHEDULED");
}

#[test]
fn parse_errors_are_values() {
    assert_eq!(
        parse_delivery(b"true", NOW),
        Err(BodyError::NotAnObject { found: "true" })
    );
    assert!(matches!(
        parse_delivery(&sample("ping"), NOW),
        Ok(Delivery::Ping)
    ));
}

#[test]
fn health_and_replay_routes() {
    assert_eq!(route("GET", "/healthz"), Route::Health);
    assert_eq!(
        route("POST", "/healthz"),
        Route::MethodNotAllowed { allow: "GET" }
    );
    // The replay worker serves /admin/replay; the producer says so instead of a bare 404.
    for method in ["POST", "GET"] {
        assert_eq!(route(method, "/admin/replay"), Route::ReplayElsewhere);
        let reply = Reply::for_route(Route::ReplayElsewhere, method, "/admin/replay").unwrap();
        assert_eq!(reply.status, 404);
        assert!(reply.body["message"]
            .as_str()
            .unwrap()
            .contains("replay worker (wrangler.replay.toml)"));
    }
    assert_eq!(replay::route("POST", "/admin/replay"), Ok(()));
    assert_eq!(replay::route("POST", "/admin/replay/"), Ok(()));
    let refused = replay::route("GET", "/admin/replay").unwrap_err();
    assert_eq!((refused.status, refused.allow), (405, Some("POST")));
    let refused = replay::route("POST", "/api/calcom-webhook").unwrap_err();
    assert_eq!(refused.status, 404);
    assert_eq!(refused.body["error"], "not_found");

    let health = |secret: bool, weaknesses: &[&str]| Health {
        checks: vec![("CALCOM_WEBHOOK_SECRET", secret), ("BOOKING_QUEUE", true)],
        weaknesses: weaknesses.iter().map(|w| (*w).to_owned()).collect(),
    };
    // Anyone sees the status word and nothing else.
    let weak = "CALCOM_WEBHOOK_SECRET: secret 2 of 2 is shorter than 16 bytes";
    for (h, status, word) in [
        (health(true, &[]), 200, "ok"),
        (health(true, &[weak]), 200, "degraded"),
        (health(false, &[weak]), 503, "incomplete"),
    ] {
        let public = h.reply("0.1.0", false);
        assert_eq!(public.status, status);
        assert_eq!(public.body, json!({ "status": word }), "no setting named");
        assert_eq!(h.reply("0.1.0", true).status, status);
    }
    // With a valid admin token: the version, each setting and the problems.
    let detail = health(false, &[weak]).reply("0.1.0", true);
    assert_eq!(detail.body["version"], "0.1.0");
    assert_eq!(
        detail.body["config"],
        json!({"CALCOM_WEBHOOK_SECRET": false, "BOOKING_QUEUE": true})
    );
    assert_eq!(
        detail.body["problems"],
        json!(["CALCOM_WEBHOOK_SECRET is not set", weak])
    );
    // The log line names the problems, at a level that matches.
    let line = |h: Health| h.log_line().render("producer");
    assert!(line(health(true, &[])).contains(r#""level":"debug""#));
    let degraded = line(health(true, &[weak]));
    assert!(degraded.contains(r#""level":"warn""#), "{degraded}");
    assert!(degraded.contains("secret 2 of 2 is shorter"), "{degraded}");
    let incomplete = line(health(false, &[]));
    assert!(incomplete.contains(r#""level":"error""#), "{incomplete}");
    assert!(
        incomplete.contains("CALCOM_WEBHOOK_SECRET is not set"),
        "{incomplete}"
    );
}

#[test]
fn a_body_that_cannot_be_read_is_400_not_413() {
    let reply = Reply::body_read_failed();
    assert_eq!((reply.status, reply.outcome()), (400, "body_read_failed"));
    assert_ne!(reply.outcome(), Reply::body_too_large().outcome());
    assert_eq!(Reply::body_too_large().status, 413);
}

#[test]
fn a_lone_surrogate_from_javascript_is_repaired_not_refused() {
    // JSON.stringify("…🎉".slice(0, -1)) ends in a lone high surrogate escape.
    let body = br#"{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"sur1","additionalNotes":"cut \ud83d","title":"pair \ud83c\udf89 ok, \\ud83d is text, lone low \udc00"}}"#;
    let (m, reply) = message_of(accept(body));
    assert_eq!(reply.status, 202);
    assert_eq!(m.booking.notes.as_deref(), Some("cut \u{fffd}"));
    assert_eq!(
        m.booking.title.as_deref(),
        Some("pair 🎉 ok, \\ud83d is text, lone low \u{fffd}")
    );
}

#[test]
fn a_body_is_read_whole_when_its_length_is_declared_within_the_limit() {
    use shared::ingress::BodyRead;
    let max = 1024;
    for (content_length, plan) in [
        (Some("0"), BodyRead::Whole),
        (Some("1024"), BodyRead::Whole),
        (Some(" 512 "), BodyRead::Whole),
        (Some("1025"), BodyRead::TooLarge),
        (Some("99999999999999999999999"), BodyRead::Chunked),
        (Some("-1"), BodyRead::Chunked),
        (Some("12kb"), BodyRead::Chunked),
        (None, BodyRead::Chunked),
    ] {
        assert_eq!(
            BodyRead::plan(content_length, max),
            plan,
            "{content_length:?}"
        );
    }
}

#[test]
fn the_path_is_read_from_the_request_url() {
    use shared::ingress::url_path;
    for (url, path) in [
        (
            "https://hooks.example.com/api/calcom-webhook",
            "/api/calcom-webhook",
        ),
        (
            "http://127.0.0.1:8787/api/calcom-webhook?x=1",
            "/api/calcom-webhook",
        ),
        ("https://a.example/healthz#top", "/healthz"),
        ("https://a.example/", "/"),
        ("https://a.example", "/"),
        ("https://a.example?q=/x", "/"),
        ("https://a.example/a%3Fb/c?d", "/a%3Fb/c"),
        ("not a url", "/"),
    ] {
        assert_eq!(url_path(url), path, "{url}");
    }
}

/// The producer's decision as it ships: every booking sample is forwarded whole (`v: 2`), with
/// the answer a `v: 1` message gets, and the consumer reads it into that very message.
#[test]
fn the_producer_forwards_every_booking_sample_whole() {
    for name in [
        "booking-created",
        "booking-rescheduled",
        "booking-cancelled",
        "booking-requested",
    ] {
        let body = sample(name);
        let (expected, expected_reply) = message_of(accept(&body));
        let Ingress::Forward {
            body: queued,
            reply,
            trigger,
            uid,
        } = accept_checked(true, Ok(()), &body, NOW, Form::Forward)
        else {
            panic!("{name} is not forwarded")
        };
        assert_eq!(reply, expected_reply, "{name}");
        assert_eq!(
            (trigger, uid.as_str()),
            (expected.trigger, expected.booking.uid.as_str())
        );
        let message: Value = serde_json::from_str(&queued).unwrap();
        assert_eq!(message["v"], 2, "{name}");
        assert_eq!(message["received_at"], NOW, "{name}");
        assert_eq!(
            message["delivery"].as_str().map(str::as_bytes),
            Some(&body[..])
        );
        assert_eq!(decode_message_str(&queued), Ok(expected), "{name}");
    }
}

/// Whatever a forwarded body's check cannot vouch for is read whole, as before, and answered by
/// that reading: a ping, a trigger not emailed about, a problem named with its 400, a body too
/// large to forward.
#[test]
fn what_cannot_be_forwarded_is_read_whole() {
    let forward = |body: &[u8]| accept_checked(true, Ok(()), body, NOW, Form::Forward);
    let created: Value = serde_json::from_slice(&sample("booking-created")).unwrap();
    let mut repeated_uid = serde_json::to_string(&created).unwrap();
    repeated_uid.insert_str(repeated_uid.len() - 2, r#","uid":"other""#);
    let mut huge = created.clone();
    huge["payload"]["description"] = json!("x".repeat(40_000));
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"triggerEvent":"PING","payload":{}}"#.to_vec(),
        br#"{"triggerEvent":"MEETING_ENDED","payload":{"uid":"u"}}"#.to_vec(),
        br#"{"triggerEvent":"BOOKING_CREATED","payload":{}}"#.to_vec(),
        br#"{"triggerEvent":"BOOKING_CREATED","payload":[]}"#.to_vec(),
        br#"{"triggerEvent":"BOOKING_CREATED","triggerEvent":"BOOKING_CREATED","payload":{"uid":"u"}}"#.to_vec(),
        repeated_uid.into_bytes(),
        serde_json::to_vec(&huge).unwrap(),
    ];
    let statuses: Vec<u16> = bodies
        .iter()
        .map(|body| {
            let whole = accept_checked(true, Ok(()), body, NOW, Form::Booking);
            let shown = String::from_utf8_lossy(&body[..80.min(body.len())]).into_owned();
            assert_eq!(forward(body), whole, "{shown}");
            match whole {
                Ingress::Reply(reply) => reply.status,
                Ingress::Enqueue { reply, .. } => reply.status,
                Ingress::Forward { .. } => panic!("the whole reading never forwards"),
            }
        })
        .collect();
    assert_eq!(statuses, [200, 200, 400, 400, 400, 400, 202]);
}

/// Half an emoji, as JavaScript writes it (`\ud83d` alone), is forwarded as sent: the consumer
/// repairs it as the producer would have, into the very message `v: 1` carries.
#[test]
fn a_lone_surrogate_is_forwarded_and_repaired_by_the_consumer() {
    let mut body: Value = serde_json::from_slice(&sample("booking-created")).unwrap();
    body["payload"]["title"] = json!("cut here");
    let body = serde_json::to_string(&body)
        .unwrap()
        .replace("cut here", r"cut \ud83d here");
    let (expected, _) = message_of(accept(body.as_bytes()));
    assert_eq!(expected.booking.title.as_deref(), Some("cut \u{fffd} here"));
    let Ingress::Forward { body: queued, .. } =
        accept_checked(true, Ok(()), body.as_bytes(), NOW, Form::Forward)
    else {
        panic!("not forwarded")
    };
    assert_eq!(decode_message_str(&queued), Ok(expected));
}
