//! The idempotency key must never change: production ledger rows are keyed by it, so a new key
//! for the same delivery would send its email again. These keys were computed by the code that
//! wrote the first ledger rows; any change to how the key is computed must keep every one.

use sha2::{Digest, Sha256};
use shared::contract::calcom::envelope::{parse_delivery_for_queue, Delivery};
use shared::contract::decode::decode_message_str;
use shared::ingress::{accept_checked, Form, Ingress};

/// The key of a booking body. Taken both ways a key is made, which must agree to the byte: by
/// the producer when it writes the booking (`v: 1`), and by the consumer from the delivery the
/// producer forwarded whole (`v: 2`).
fn key_of(body: &[u8]) -> String {
    let now = "2026-12-01T09:00:00.000Z";
    let here = parse_delivery_for_queue(body, now).expect("a sample parses");
    let Delivery::Booking(message) = here.delivery else {
        panic!("a booking sample")
    };
    // A body too large to forward goes as `v: 1` as well.
    let queued = match accept_checked(true, Ok(()), body, now, Form::Forward) {
        Ingress::Forward { body, .. } => body,
        Ingress::Enqueue { body, .. } => body,
        Ingress::Reply(reply) => panic!("a booking is queued, not answered {reply:?}"),
    };
    let decoded = decode_message_str(&queued).expect("the consumer reads it");
    assert_eq!(decoded, *message, "the booking the consumer reads");
    assert_eq!(
        decoded.to_json(),
        here.json.expect("a message"),
        "to the byte"
    );
    message.key
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

/// The key, computed the way the first ledger rows were keyed: the payload read by serde_json
/// as a `Value`, written compact with every object's keys sorted, hashed. An independent
/// oracle for the streaming writer in `contract::calcom::envelope`.
fn reference_key(trigger: &str, payload: &serde_json::Value) -> String {
    fn canonical(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    canonical(v, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(v, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut text = format!("calcom-delivery/v1\n{trigger}\n");
    canonical(payload, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

mod differential {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Writes `v` as JSON the way some other encoder might: white space anywhere, characters
    /// escaped that need no escape (`\u00e9`, `\/`, surrogate pairs), an earlier value of a key
    /// repeated before the one that counts, and number tokens serde_json reads as floats.
    struct Wild<'a> {
        choices: &'a [u8],
        at: usize,
        out: String,
    }

    impl Wild<'_> {
        fn choice(&mut self, n: u8) -> u8 {
            let c = self
                .choices
                .get(self.at % self.choices.len().max(1))
                .copied();
            self.at += 1;
            c.unwrap_or(0) % n
        }

        fn ws(&mut self) {
            let ws = ["", "", "", " ", "\n", "\t ", "\r\n  "][self.choice(7) as usize];
            self.out.push_str(ws);
        }

        fn string(&mut self, s: &str) {
            self.out.push('"');
            for c in s.chars() {
                match (c, self.choice(4)) {
                    ('"', _) => self.out.push_str("\\\""),
                    ('\\', _) => self.out.push_str("\\\\"),
                    ('/', 0) => self.out.push_str("\\/"),
                    (c, _) if (c as u32) < 0x20 => {
                        self.out.push_str(&format!("\\u{:04X}", c as u32))
                    }
                    (c, 0) => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            self.out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    (c, _) => self.out.push(c),
                }
            }
            self.out.push('"');
        }

        fn value(&mut self, v: &Value, top: bool) {
            self.ws();
            match v {
                Value::Object(map) => {
                    self.out.push('{');
                    let mut first = true;
                    for (k, v) in map {
                        // A repeated key: the earlier value is overwritten (never `uid` or
                        // `responses` at the top, which are refused when repeated).
                        let repeat =
                            !(top && (k == "uid" || k == "responses")) && self.choice(5) == 0;
                        if repeat {
                            let earlier = ["null", "\"earlier\"", "[1,{\"z\":2}]"];
                            let earlier = earlier[self.choice(3) as usize];
                            if !std::mem::take(&mut first) {
                                self.out.push(',');
                            }
                            self.string(k);
                            self.out.push(':');
                            self.out.push_str(earlier);
                        }
                        if !std::mem::take(&mut first) {
                            self.out.push(',');
                        }
                        self.ws();
                        self.string(k);
                        self.ws();
                        self.out.push(':');
                        self.value(v, false);
                    }
                    if self.choice(6) == 0 {
                        // A number token serde_json reads as a float or a big integer.
                        let tokens = [
                            "1E2",
                            "-0",
                            "0.10",
                            "1e-5",
                            "-1.5E+3",
                            "12345678901234567890123",
                            "0e0",
                        ];
                        if !first {
                            self.out.push(',');
                        }
                        self.string("zz-number");
                        self.out.push(':');
                        let token = tokens[self.choice(7) as usize];
                        self.out.push_str(token);
                    }
                    self.ws();
                    self.out.push('}');
                }
                Value::Array(items) => {
                    self.out.push('[');
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.value(v, false);
                    }
                    self.ws();
                    self.out.push(']');
                }
                Value::String(s) => self.string(s),
                scalar => self.out.push_str(&scalar.to_string()),
            }
            self.ws();
        }
    }

    fn leaf() -> BoxedStrategy<Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[a-z/\" \\\\é李🗓️\\x00-\\x1f]{0,12}".prop_map(Value::from),
        ]
        .boxed()
    }

    fn value() -> BoxedStrategy<Value> {
        leaf()
            .prop_recursive(4, 40, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec(("[a-zA-Z_]{0,6}|\\PC{0,4}", inner), 0..5)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// However a payload is written, its key is the reference key of what serde_json reads.
        #[test]
        fn the_key_is_the_reference_key_however_the_payload_is_written(
            mut payload in prop::collection::btree_map("[a-zA-Z]{1,8}", value(), 0..8),
            uid in "[a-z0-9-]{1,12}",
            choices in prop::collection::vec(any::<u8>(), 1..64),
        ) {
            payload.insert("uid".into(), Value::from(uid));
            let payload = Value::Object(payload.into_iter().collect());
            let mut wild = Wild { choices: &choices, at: 0, out: String::new() };
            wild.value(&payload, true);
            let body = format!(
                "{{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{}}}",
                wild.out
            );
            let read: Value = serde_json::from_str(&body).expect("the body is JSON");
            let expected = reference_key("BOOKING_CREATED", &read["payload"]);
            prop_assert_eq!(key_of(body.as_bytes()), expected, "{}", body);
        }
    }
}

/// Payloads larger than the hash's write buffer (4 KiB), with strings longer than it too: the
/// key is still the reference key.
#[test]
fn the_key_of_a_large_payload_is_the_reference_key() {
    let mut payload = serde_json::json!({ "uid": "u-large" });
    for i in 0..200 {
        payload[format!("k{i:03}")] = serde_json::json!(format!("{i} ").repeat(i % 40));
    }
    payload["long"] = serde_json::json!("x\u{e9}\"".repeat(5000));
    payload["nested"] = serde_json::json!([{"b": "y".repeat(4095), "a": 1.5}, "z".repeat(4097)]);
    let body = serde_json::json!({ "triggerEvent": "BOOKING_CREATED", "payload": payload });
    let body = serde_json::to_vec(&body).unwrap();
    assert!(body.len() > 40_000);
    assert_eq!(
        key_of(&body),
        reference_key("BOOKING_CREATED", &payload),
        "a payload of {} bytes",
        body.len()
    );
}
