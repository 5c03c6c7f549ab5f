//! The idempotency key must never change: production ledger rows are keyed by it, so a new key
//! for the same delivery would send its email again. These keys were computed by the code that
//! wrote the first ledger rows; any change to how the key is computed must keep every one.

use shared::ingress::envelope::{parse_delivery, Delivery};

fn key_of(body: &[u8]) -> String {
    match parse_delivery(body, "2026-12-01T09:00:00.000Z").expect("a sample parses") {
        Delivery::Booking(message) => message.key,
        _ => panic!("a booking sample"),
    }
}

/// The samples as they were when the keys were pinned (`samples/` may grow new fields; these
/// inputs must not).
fn sample(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/key-golden");
    std::fs::read(format!("{dir}/{name}.json")).unwrap()
}

/// Each booking sample as it is stored (pretty-printed) and compact, as Cal.com sends it: white
/// space and key order never change the key.
#[test]
fn the_keys_of_the_samples_are_pinned() {
    let golden = [
        ("booking-created", "5790d01b7bd92b0f74c8837091fc4d41"),
        ("booking-rescheduled", "0022ea426ad9aaad787977aef6705f4e"),
        ("booking-cancelled", "77ead0f95daf63349fa2291d7729ff20"),
        ("booking-requested", "b620622a5e1a7385bb3f0cee04d9d95e"),
    ];
    for (name, expected) in golden {
        let raw = sample(name);
        assert_eq!(key_of(&raw), expected, "{name}, as stored");
        let value: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let compact = serde_json::to_vec(&value).unwrap();
        assert_eq!(key_of(&compact), expected, "{name}, compact");
    }
}

/// Escapes, unicode, numbers of every kind, nesting and key order: the canonical form's corners.
#[test]
fn the_key_of_an_awkward_payload_is_pinned() {
    let body = r#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-12-01T09:00:00.000Z","payload":{"uid":"u-1","zeta":[1,-2,3.5,1e21,0.1,null,true,false],"alpha":{"b":"line\nbreak \"quoted\" \\ tab\t","a":"Zoë 李 🗓️ \u0001"},"attendees":[{"name":"Ünï","email":"a@example.com","timeZone":"Europe/Berlin"}],"Beta":{},"empty":[]}}"#;
    assert_eq!(key_of(body.as_bytes()), "ba2a2aedbb5f5c2e1a5faa72071fa7bb");
    // The same payload, keys in another order and with white space.
    let reordered = r#"{ "payload": { "empty": [ ], "Beta": { }, "attendees": [ { "timeZone": "Europe/Berlin", "email": "a@example.com", "name": "Ünï" } ], "alpha": { "a": "Zoë 李 🗓️ \u0001", "b": "line\nbreak \"quoted\" \\ tab\t" }, "zeta": [ 1, -2, 3.5, 1e21, 0.1, null, true, false ], "uid": "u-1" }, "createdAt": "2026-12-01T10:00:00.000Z", "triggerEvent": "BOOKING_CREATED" }"#;
    assert_eq!(
        key_of(reordered.as_bytes()),
        "ba2a2aedbb5f5c2e1a5faa72071fa7bb"
    );
}
