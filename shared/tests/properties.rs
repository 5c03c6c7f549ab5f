//! Property tests of the pure core: the signature check over arbitrary bodies and secrets, the
//! producer's parsing of arbitrary bytes and JSON, the consumer's decoding of arbitrary JSON, and
//! rendering / the SendGrid request for arbitrary messages.
//!
//! Case counts are kept modest (see [`config`]) so the whole file runs in well under 30 s in a
//! debug build on two cores; `PROPTEST_CASES` does not override them. A failure prints the
//! minimal input proptest shrank it to; nothing is persisted to disk.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};

use shared::contract::calcom::envelope::{parse_delivery, Delivery};
use shared::contract::decode::{decode_message, decode_message_str};
use shared::contract::message::{
    is_valid_key, Answer, Booking, BookingMessage, BookingTrigger, Cancellation, Person,
    PreviousSlot, MAX_MESSAGE_BYTES, MESSAGE_VERSION,
};
use shared::ingress::signature::{sign, verify, SignatureError, WebhookSecrets};
use shared::ingress::{accept_webhook, Ingress};

/// The fuzz targets' checks (`fuzz/targets.rs`): what a rendered email and its SendGrid request
/// must satisfy is written once. A panic in them fails the property, and proptest shrinks it.
#[allow(dead_code)] // the fuzz entry points are used by `fuzz_corpus.rs`, not here
mod targets {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/targets.rs"));
}

const SECRET: &str = "whsec_property_secret";
const NOW: &str = "2026-02-10T17:03:13.000Z";

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

/// A secret as an operator could configure it in a list: non-empty, no comma, no line break,
/// no white space at either end. White space inside belongs to it: Cal.com's secret is free text,
/// so a phrase such as `correct horse battery staple` is one secret.
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        // Arbitrary Unicode, including white space inside and control characters.
        prop::collection::vec(
            any::<char>().prop_filter("list separator", |c| *c != ',' && *c != '\n'),
            1..40,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>().trim().to_owned())
        .prop_filter("blank", |s| !s.is_empty()),
        "whsec_[A-Za-z0-9+/=_-]{8,48}",
        // A phrase: words separated by spaces or tabs.
        "[A-Za-z0-9]{1,10}([ \t]{1,3}[A-Za-z0-9]{1,10}){1,5}",
        // Longer than HMAC-SHA256's 64-byte block: the key is hashed first.
        "[!-+\\--~]{65,200}",
    ]
}

/// One to three distinct secrets.
fn secrets() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(secret(), 1..=3).prop_map(|mut list| {
        let mut seen = Vec::new();
        list.retain(|s| {
            let new = !seen.contains(s);
            seen.push(s.clone());
            new
        });
        list
    })
}

/// The secrets as `CALCOM_WEBHOOK_SECRET` holds them: separated (and surrounded) by commas and
/// line breaks, with white space of any kind around them.
fn configured(list: &[String], seps: &[&str], edges: (&str, &str)) -> String {
    let mut raw = edges.0.to_owned();
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            raw.push_str(seps[i % seps.len()]);
        }
        raw.push_str(s);
    }
    raw.push_str(edges.1);
    raw
}

/// Only a comma or a line break separates secrets; white space around them is trimmed.
fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        ",",
        "\n",
        "\r\n",
        ", ",
        " ,\r\n\t",
        ",,",
        "\n\n",
        "\u{3000},",
        "\u{a0},\n",
    ])
}

fn edge() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", ",", "\n", " , \n", "\t"])
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..600)
}

/// Every accepted spelling of one digest: case per digit, optional `sha256=` prefix in any case,
/// surrounding spaces or tabs.
#[derive(Debug, Clone)]
struct Form {
    upper: Vec<bool>,
    prefix: &'static str,
    before: &'static str,
    after: &'static str,
}

fn form() -> impl Strategy<Value = Form> {
    let case = prop_oneof![
        Just(vec![false; 64]),
        Just(vec![true; 64]),
        prop::collection::vec(any::<bool>(), 64),
    ];
    (
        case,
        prop::sample::select(vec!["", "sha256=", "SHA256=", "Sha256="]),
        prop::sample::select(vec!["", " ", "  ", "\t", " \t "]),
        prop::sample::select(vec!["", " ", "   ", "\t", "\r\n"]),
    )
        .prop_map(|(upper, prefix, before, after)| Form {
            upper,
            prefix,
            before,
            after,
        })
}

fn spell(hex: &str, f: &Form) -> String {
    let digits: String = hex
        .chars()
        .zip(f.upper.iter().cycle())
        .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
        .collect();
    format!("{}{}{}{}", f.before, f.prefix, digits, f.after)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_configured_secret_verifies_in_every_accepted_form(
        list in secrets(),
        seps in prop::collection::vec(separator(), 1..3),
        edges in (edge(), edge()),
        which in any::<Index>(),
        body in body(),
        form in form(),
    ) {
        let raw = configured(&list, &seps, edges);
        let secrets = WebhookSecrets::parse(&raw);
        prop_assert_eq!(secrets.len(), list.len(), "parsed {:?}", raw);
        let key = which.get(&list);
        let sig = sign(key.as_bytes(), &body);
        prop_assert_eq!(sig.len(), 64);
        prop_assert!(sig.bytes().all(|b| HEX.contains(&b)), "not lowercase hex: {}", sig);
        let header = spell(&sig, &form);
        prop_assert_eq!(verify(&secrets, Some(&header), &body), Ok(()), "header {:?}", header);
        // Through the producer's whole decision too: never refused for its signature.
        if let Ingress::Reply(r) = accept_webhook(&secrets, Some(&header), &body, NOW) {
            prop_assert!(r.status != 401 && r.status != 500, "{} {}", r.status, r.body);
        }
    }

    #[test]
    fn any_flipped_body_bit_is_a_mismatch(
        list in secrets(),
        which in any::<Index>(),
        body in prop::collection::vec(any::<u8>(), 1..600),
        at in any::<Index>(),
        bit in 0u8..8,
        form in form(),
    ) {
        let secrets = WebhookSecrets::parse(&list.join(","));
        let sig = spell(&sign(which.get(&list).as_bytes(), &body), &form);
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= 1 << bit;
        prop_assert_eq!(verify(&secrets, Some(&sig), &changed), Err(SignatureError::Mismatch));
    }

    #[test]
    fn any_changed_hex_digit_is_a_mismatch(
        list in secrets(),
        which in any::<Index>(),
        body in body(),
        at in 0usize..64,
        delta in 1u8..16,
        form in form(),
    ) {
        let secrets = WebhookSecrets::parse(&list.join("\n"));
        let mut sig = sign(which.get(&list).as_bytes(), &body).into_bytes();
        let old = HEX.iter().position(|d| *d == sig[at]).expect("hex digit");
        // A different value, not just a different case of the same digit.
        sig[at] = HEX[(old + usize::from(delta)) % 16];
        let sig = spell(&String::from_utf8(sig).unwrap(), &form);
        prop_assert_eq!(verify(&secrets, Some(&sig), &body), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_secret_that_is_not_configured_is_a_mismatch(
        list in secrets(),
        other in secret(),
        body in body(),
        form in form(),
    ) {
        // HMAC pads short keys with zero bytes, so "k" and "k\0" are the same key: not "another
        // secret" in any useful sense.
        let same_key = |a: &str, b: &str| a.trim_end_matches('\0') == b.trim_end_matches('\0');
        prop_assume!(!list.iter().any(|s| same_key(s, &other)));
        let secrets = WebhookSecrets::parse(&list.join(",\n"));
        let sig = spell(&sign(other.as_bytes(), &body), &form);
        prop_assert_eq!(verify(&secrets, Some(&sig), &body), Err(SignatureError::Mismatch));
        // A comma-joined list is not a key either.
        if list.len() > 1 {
            let joined = sign(list.join(",").as_bytes(), &body);
            prop_assert_eq!(verify(&secrets, Some(&joined), &body), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn a_phrase_is_one_secret_and_none_of_its_words_is(
        words in prop::collection::vec("[A-Za-z0-9]{1,12}", 2..6),
        gaps in prop::collection::vec(prop::sample::select(vec![" ", "  ", "\t", " \t "]), 1..4),
        edges in (edge(), edge()),
        body in body(),
        form in form(),
    ) {
        let mut phrase = words[0].clone();
        for (i, word) in words.iter().enumerate().skip(1) {
            phrase.push_str(gaps[i % gaps.len()]);
            phrase.push_str(word);
        }
        let secrets = WebhookSecrets::parse(&format!("{}{phrase}{}", edges.0, edges.1));
        prop_assert_eq!(secrets.len(), 1, "{:?} is one secret", phrase);
        let sig = spell(&sign(phrase.as_bytes(), &body), &form);
        prop_assert_eq!(verify(&secrets, Some(&sig), &body), Ok(()));
        for word in &words {
            let sig = spell(&sign(word.as_bytes(), &body), &form);
            prop_assert_eq!(verify(&secrets, Some(&sig), &body), Err(SignatureError::Mismatch), "word {:?}", word);
        }
        // Weak exactly when shorter than 16 bytes, and reported by position only.
        prop_assert_eq!(secrets.weak().is_empty(), phrase.len() >= 16);
        // The message is fixed whatever the phrase: it names the position, never the value.
        // (Asserting only that it does not contain the phrase failed for the phrase "f 1",
        // which "secret 1 of 1" contains.)
        if let Some(told) = secrets.weakness() {
            prop_assert_eq!(
                told,
                "CALCOM_WEBHOOK_SECRET: secret 1 of 1 is shorter than 16 bytes: it verifies, but set a longer one"
            );
        }
    }

    #[test]
    fn weak_secrets_are_those_shorter_than_16_bytes(
        list in secrets(),
        seps in prop::collection::vec(separator(), 1..3),
        edges in (edge(), edge()),
    ) {
        let secrets = WebhookSecrets::parse(&configured(&list, &seps, edges));
        let expected: Vec<usize> = (1..=list.len()).filter(|i| list[i - 1].len() < 16).collect();
        prop_assert_eq!(secrets.weak(), expected);
    }

    #[test]
    fn wrong_lengths_are_malformed(
        list in secrets(),
        which in any::<Index>(),
        body in body(),
        extra in 0usize..16,
        form in form(),
    ) {
        let secrets = WebhookSecrets::parse(&list.join(","));
        let sig = sign(which.get(&list).as_bytes(), &body);
        let short = spell(&sig[..63], &form);
        prop_assert_eq!(verify(&secrets, Some(&short), &body), Err(SignatureError::Malformed));
        let long = spell(&format!("{sig}{}", HEX[extra] as char), &form);
        prop_assert_eq!(verify(&secrets, Some(&long), &body), Err(SignatureError::Malformed));
    }
}

// ---------------------------------------------------------------------------------------------
// Text, dates and zones that break things
// ---------------------------------------------------------------------------------------------

/// Strings meant to hurt: control characters, CR/LF, markup, non-ASCII, occasionally huge.
fn wild_text() -> BoxedStrategy<String> {
    let fragment = prop_oneof![
        3 => "[a-zA-Z0-9 .,:'\"&<>/=-]{0,12}",
        2 => "[\\x00-\\x1f\\x7f\\u{85}\\u{2028}\\u{2029}\\u{feff}\\u{200b}]{1,4}",
        1 => any::<String>(),
        1 => prop::sample::select(vec![
            "<script>alert(1)</script>",
            "<SCRIPT SRC=//evil.example/x.js>",
            "<ScRiPt>",
            "</textarea><script>",
            "\"><img src=x onerror=alert(1)>",
            "{{ v.subject }}{% if true %}",
            "\r\nBcc: victim@example.com\r\n",
            "\n.\n",
            "Zoë Ångström-Łukasz 日本語 🎉 مرحبا",
            "\u{202e}gpj.exe",
            "javascript:alert(1)",
            "https://example.com/<script>?a=1&b=\"2\"",
            "&amp;&lt;&#x3c;script&gt;",
            "\\u003cscript\\u003e",
        ])
        .prop_map(str::to_owned),
    ];
    let normal = prop::collection::vec(fragment, 0..6).prop_map(|parts| parts.concat());
    let huge = (
        prop::sample::select(vec!["a", "é", "<script>", "\r\n", "\u{0}", "日本 ", "\"\\"]),
        600usize..10_000,
    )
        .prop_map(|(unit, n)| unit.repeat(n));
    prop_oneof![60 => normal, 1 => huge].boxed()
}

/// Times as Cal.com sends them, and as nobody should.
fn date_text() -> BoxedStrategy<String> {
    let made = (
        0u32..10_000,
        0u32..14,
        0u32..33,
        0u32..26,
        0u32..62,
        0u32..62,
        prop::sample::select(vec![
            "Z", "z", "+00:00", "-09:00", "+05:45", "+14:00", "-23:59", "+24:00", "+0530", "",
        ]),
        prop::sample::select(vec!["", ".000", ".5", ".123456789123", "."]),
    )
        .prop_map(|(y, mo, d, h, mi, s, off, frac)| {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}")
        });
    let fixed = prop::sample::select(vec![
        "2026-02-17T18:00:00Z",
        "2026-02-19T20:00:00+00:00",
        "2026-02-30T25:61:00Z",
        "+275760-09-13T00:00:00Z",
        "-271821-04-20T00:00:00Z",
        "9999-12-31T23:59:60.999999999-23:59",
        "0000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2200-12-31T23:59:59Z",
        "2024-02-29T12:00:00Z",
        "2026-03-08T10:30:00Z",
        "2026-02-17 18:00",
        "2026-02-17",
        "1739815200",
        "",
        " ",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => made, 3 => fixed, 1 => wild_text()].boxed()
}

fn zone_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "America/Anchorage",
            "Europe/London",
            "Asia/Kathmandu",
            "Pacific/Chatham",
            "Australia/Lord_Howe",
            "America/St_Johns",
            "UTC",
            "Etc/GMT+12",
            "Etc/GMT-14",
            "Mars/Olympus",
            "../../../etc/passwd",
            "America/Argentina/ComodRivadavia",
            "",
            "EST5EDT",
            "+05:30",
        ])
        .prop_map(str::to_owned),
        1 => wild_text(),
    ]
    .boxed()
}

fn email_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z0-9._+-]{1,20}@[a-z0-9-]{1,12}\\.[a-z]{2,6}",
        1 => prop::sample::select(vec![
            "alex@example.com",
            "host@example.com",
            "<script>@example.com",
            "a@b.co\r\nBcc: victim@example.com",
            "\"Alex, Student\" <alex@example.com>",
            "ALEX@EXAMPLE.COM",
            "nobody",
            "@",
            "",
        ])
        .prop_map(str::to_owned),
        1 => wild_text(),
    ]
    .boxed()
}

fn location_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "integrations:daily",
            "integrations:google:meet",
            "integrations:zoom",
            "integrations:office365_video",
            "integrations:unknown_app",
            "https://zoom.us/j/123456789?pwd=abc",
            "http://example.com/<script>alert(1)</script>",
            "https://exa mple.com/\"onmouseover=alert(1)",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "tel:+15555550123",
            "+1 555 555 0123",
            "1 Main St, Springfield",
            "link",
            "attendeeInPerson",
            "",
        ])
        .prop_map(str::to_owned),
        1 => wild_text(),
    ]
    .boxed()
}

fn opt<S: Strategy + 'static>(s: S) -> BoxedStrategy<Option<S::Value>> {
    prop::option::weighted(0.7, s).boxed()
}

// ---------------------------------------------------------------------------------------------
// Arbitrary messages: email rendering and the SendGrid request
// ---------------------------------------------------------------------------------------------

fn trigger() -> impl Strategy<Value = BookingTrigger> {
    prop::sample::select(BookingTrigger::ALL.to_vec())
}

fn person() -> BoxedStrategy<Person> {
    (
        opt(wild_text()),
        opt(email_text()),
        opt(wild_text()),
        opt(zone_text()),
    )
        .prop_map(|(name, email, phone, time_zone)| Person {
            name,
            email,
            phone,
            time_zone,
        })
        .boxed()
}

fn booking() -> BoxedStrategy<Booking> {
    let who = (
        wild_text(),
        opt(wild_text()),
        opt(wild_text()),
        opt(date_text()),
        opt(date_text()),
        opt(any::<u32>()),
        person(),
        opt(prop_oneof![
            Just("h:mma".to_owned()),
            Just("HH:mm".to_owned()),
            wild_text()
        ]
        .boxed()),
        opt(person()),
        prop::collection::vec(person(), 0..4),
        any::<u32>(),
        any::<bool>(),
    );
    let rest = (
        opt(location_text()),
        opt(prop_oneof![location_text(), wild_text()].boxed()),
        opt(wild_text()),
        prop::collection::vec(
            (wild_text(), wild_text()).prop_map(|(label, value)| Answer { label, value }),
            0..5,
        ),
        opt(wild_text()),
        opt(wild_text()),
        opt((opt(wild_text()), opt(date_text()), opt(date_text()))
            .prop_map(|(uid, start, end)| PreviousSlot { uid, start, end })
            .boxed()),
        opt(prop_oneof![email_text(), wild_text()].boxed()),
        opt((opt(wild_text()), opt(email_text()), any::<bool>())
            .prop_map(
                |(reason, cancelled_by, reschedule_requested)| Cancellation {
                    reason,
                    cancelled_by,
                    reschedule_requested,
                },
            )
            .boxed()),
        any::<bool>(),
    );
    let calendar = (
        opt(wild_text()),
        opt(wild_text()),
        opt(any::<u32>()),
        opt(prop_oneof![
            Just("https://cal.com".to_owned()),
            location_text(),
            wild_text()
        ]
        .boxed()),
        any::<bool>(),
        any::<bool>(),
    );
    (who, rest, calendar)
        .prop_map(
            |(
                (
                    uid,
                    title,
                    event_type,
                    start,
                    end,
                    length_minutes,
                    organizer,
                    time_format,
                    booker,
                    guests,
                    guests_omitted,
                    seated,
                ),
                (
                    location,
                    meeting_url,
                    notes,
                    answers,
                    status,
                    team,
                    rescheduled_from,
                    rescheduled_by,
                    cancellation,
                    truncated,
                ),
                (
                    event_slug,
                    ical_uid,
                    ical_sequence,
                    booker_url,
                    disable_rescheduling,
                    disable_cancelling,
                ),
            )| Booking {
                uid,
                title,
                event_type,
                start,
                end,
                length_minutes,
                organizer,
                time_format,
                booker,
                guests,
                guests_omitted,
                seated,
                location,
                meeting_url,
                notes,
                answers,
                status,
                team,
                rescheduled_from,
                rescheduled_by,
                cancellation,
                event_slug,
                ical_uid,
                ical_sequence,
                booker_url,
                disable_rescheduling,
                disable_cancelling,
                truncated,
            },
        )
        .boxed()
}

fn message() -> impl Strategy<Value = BookingMessage> {
    (
        trigger(),
        // The producer's keys: 32 lowercase hex characters (anything else is refused).
        "[0-9a-f]{32}",
        prop_oneof![Just(NOW.to_owned()), date_text()],
        opt(date_text()),
        booking(),
    )
        .prop_map(
            |(trigger, key, received_at, sent_at, booking)| BookingMessage {
                v: MESSAGE_VERSION,
                key,
                trigger,
                received_at,
                sent_at,
                booking,
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_message_renders_and_builds_a_request(message in message()) {
        targets::check_email(&message);
    }

    #[test]
    fn any_message_survives_the_queue(mut message in message()) {
        // The producer always sets a uid (non-blank); the consumer refuses a message without
        // one, so only those are the producer's messages.
        if message.booking.uid.is_empty() {
            message.booking.uid = "u".to_owned();
        }
        prop_assert_eq!(decode_message_str(&message.to_json()), Ok(message.clone()));
    }

    #[test]
    fn a_key_that_is_not_32_lowercase_hex_never_decodes(mut message in message(), key in wild_text()) {
        prop_assume!(!is_valid_key(&key));
        message.key = key;
        let err = decode_message_str(&message.to_json()).unwrap_err();
        prop_assert_eq!(err.code(), "invalid_message");
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary JSON: the producer's parsing and the consumer's decoding
// ---------------------------------------------------------------------------------------------

/// Keys Cal.com and our messages use, so random objects hit the fields that are read.
const KEYS: &[&str] = &[
    "triggerEvent",
    "createdAt",
    "payload",
    "uid",
    "bookingId",
    "title",
    "eventTitle",
    "type",
    "startTime",
    "endTime",
    "length",
    "organizer",
    "attendees",
    "seatsPerTimeSlot",
    "location",
    "videoCallData",
    "url",
    "metadata",
    "videoCallUrl",
    "additionalNotes",
    "responses",
    "label",
    "value",
    "optionValue",
    "isHidden",
    "status",
    "team",
    "name",
    "email",
    "firstName",
    "lastName",
    "phoneNumber",
    "timeZone",
    "timeFormat",
    "language",
    "locale",
    "rescheduleUid",
    "rescheduleStartTime",
    "rescheduleEndTime",
    "rescheduledBy",
    "cancellationReason",
    "cancelledBy",
    "requestReschedule",
    "guests",
    "notes",
    "attendeePhoneNumber",
    "v",
    "key",
    "trigger",
    "received_at",
    "sent_at",
    "booking",
    "start",
    "end",
    "booker",
    "answers",
    "dead_letter",
    "original",
];

fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{0,8}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn json_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![0i64, 1, -1, 30, 4_294_967_296, i64::MIN]).prop_map(Value::from),
    ]
    .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        json_number(),
        wild_text().prop_map(Value::from),
        date_text().prop_map(Value::from),
        zone_text().prop_map(Value::from),
        email_text().prop_map(Value::from),
        location_text().prop_map(Value::from),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((json_key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

fn object(entries: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect(),
    )
}

/// A value that is usually of the kind Cal.com sends for a field, sometimes anything at all.
fn usually(typical: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop::option::weighted(0.8, prop_oneof![4 => typical, 1 => json_value()]).boxed()
}

fn text_value(s: BoxedStrategy<String>) -> BoxedStrategy<Value> {
    s.prop_map(Value::from).boxed()
}

fn cal_person() -> BoxedStrategy<Value> {
    (
        usually(text_value(wild_text())),
        usually(text_value(email_text())),
        usually(text_value(wild_text())),
        usually(text_value(zone_text())),
        usually(text_value(
            prop::sample::select(vec!["h:mma", "HH:mm", ""])
                .prop_map(str::to_owned)
                .boxed(),
        )),
        usually(Just(json!({"locale": "en"})).boxed()),
        usually(json_number()),
    )
        .prop_map(|(name, email, phone, tz, format, language, offset)| {
            object(vec![
                ("name", name),
                ("email", email),
                ("phoneNumber", phone),
                ("timeZone", tz),
                ("timeFormat", format),
                ("language", language),
                ("utcOffset", offset),
            ])
        })
        .boxed()
}

fn cal_responses() -> BoxedStrategy<Value> {
    prop::collection::vec(
        (
            json_key(),
            usually(text_value(wild_text())),
            usually(
                prop_oneof![
                    text_value(wild_text()),
                    Just(json!({"firstName": "Alex", "lastName": "Student"})),
                    location_text().prop_map(|l| json!({"value": l, "optionValue": ""})),
                    prop::collection::vec(email_text(), 0..3).prop_map(|g| json!(g)),
                ]
                .boxed(),
            ),
            usually(any::<bool>().prop_map(Value::from).boxed()),
        ),
        0..6,
    )
    .prop_map(|fields| {
        Value::Object(
            fields
                .into_iter()
                .map(|(k, label, value, hidden)| {
                    let field = object(vec![
                        ("label", label),
                        ("value", value),
                        ("isHidden", hidden),
                    ]);
                    (k, field)
                })
                .collect(),
        )
    })
    .boxed()
}

/// A Cal.com booking payload with every field Cal.com may send, each usually of its usual kind,
/// sometimes null, a number, a nested list or missing, plus random extra fields.
fn cal_payload() -> BoxedStrategy<Value> {
    let texts = prop::collection::vec(
        (
            prop::sample::select(vec![
                "title",
                "eventTitle",
                "type",
                "additionalNotes",
                "description",
                "status",
                "rescheduledBy",
                "cancellationReason",
                "cancelledBy",
                "rescheduleUid",
                "bookerUrl",
            ]),
            usually(text_value(wild_text())),
        ),
        0..8,
    );
    let times = prop::collection::vec(
        (
            prop::sample::select(vec![
                "startTime",
                "endTime",
                "rescheduleStartTime",
                "rescheduleEndTime",
            ]),
            usually(text_value(date_text())),
        ),
        0..4,
    );
    (
        (
            usually(
                prop_oneof![
                    4 => "[a-zA-Z0-9]{1,22}".prop_map(Value::from),
                    1 => text_value(wild_text()),
                    1 => json_number(),
                ]
                .boxed(),
            ),
            texts,
            times,
            usually(cal_person()),
            usually(
                prop::collection::vec(cal_person(), 0..5)
                    .prop_map(Value::from)
                    .boxed(),
            ),
            usually(cal_responses()),
            usually(text_value(location_text())),
        ),
        (
            usually(
                location_text()
                    .prop_map(|url| json!({"type": "daily_video", "id": "x", "url": url}))
                    .boxed(),
            ),
            usually(
                location_text()
                    .prop_map(|url| json!({"videoCallUrl": url}))
                    .boxed(),
            ),
            usually(json_number()),
            usually(json_number()),
            usually(any::<bool>().prop_map(Value::from).boxed()),
            usually(json_value()),
            prop::collection::vec((json_key(), json_value()), 0..4),
        ),
    )
        .prop_map(
            |(
                (uid, texts, times, organizer, attendees, responses, location),
                (video, metadata, length, seats, reschedule, team, extra),
            )| {
                let mut map = Map::new();
                for (k, v) in extra {
                    map.insert(k, v);
                }
                let fields = [
                    ("uid", uid),
                    ("organizer", organizer),
                    ("attendees", attendees),
                    ("responses", responses),
                    ("location", location),
                    ("videoCallData", video),
                    ("metadata", metadata),
                    ("length", length),
                    ("seatsPerTimeSlot", seats),
                    ("requestReschedule", reschedule),
                    ("team", team),
                ];
                for (k, v) in fields.into_iter().chain(texts).chain(times) {
                    if let Some(v) = v {
                        map.insert(k.to_owned(), v);
                    }
                }
                Value::Object(map)
            },
        )
        .boxed()
}

fn trigger_name() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "BOOKING_CREATED",
            "BOOKING_RESCHEDULED",
            "BOOKING_CANCELLED",
            "BOOKING_REQUESTED",
        ])
        .prop_map(Value::from),
        1 => prop::sample::select(vec![
            "PING", " BOOKING_CREATED ", "booking_created", "MEETING_STARTED", "BOOKING_PAID",
            "", "undefined",
        ])
        .prop_map(Value::from),
        1 => json_value(),
    ]
    .boxed()
}

/// A delivery body: usually a booking trigger with a Cal.com-like payload.
fn delivery_json() -> BoxedStrategy<Value> {
    (
        trigger_name(),
        usually(text_value(date_text())),
        prop_oneof![6 => cal_payload(), 1 => json_value()],
        prop::collection::vec((json_key(), json_value()), 0..3),
    )
        .prop_map(|(trigger, created_at, payload, extra)| {
            let mut map: Map<String, Value> = extra.into_iter().collect();
            map.insert("triggerEvent".into(), trigger);
            if let Some(c) = created_at {
                map.insert("createdAt".into(), c);
            }
            map.insert("payload".into(), payload);
            Value::Object(map)
        })
        .boxed()
}

/// Real bodies from `samples/`, for byte-level mutation.
fn samples() -> Vec<Vec<u8>> {
    let dir = format!("{}/../samples", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no samples in {dir}");
    out
}

/// A sample body with a few random byte edits (replace, insert, delete).
fn mutated_sample() -> BoxedStrategy<Vec<u8>> {
    let edits = prop::collection::vec((any::<Index>(), 0u8..3, any::<u8>()), 1..8);
    (prop::sample::select(samples()), edits)
        .prop_map(|(mut body, edits)| {
            for (at, op, byte) in edits {
                let i = at.index(body.len() + 1);
                match op {
                    0 if i < body.len() => body[i] = byte,
                    1 => body.insert(i, byte),
                    _ if i < body.len() => {
                        body.remove(i);
                    }
                    _ => body.push(byte),
                }
            }
            body
        })
        .boxed()
}

/// What must hold for any body the producer sees, correctly signed.
fn check_body(body: &[u8]) -> Result<(), TestCaseError> {
    targets::check_forward(body);
    let parsed = parse_delivery(body, NOW);
    let secrets = WebhookSecrets::parse(SECRET);
    let sig = sign(SECRET.as_bytes(), body);
    match accept_webhook(&secrets, Some(&sig), body, NOW) {
        Ingress::Enqueue { message, reply, .. } => {
            prop_assert_eq!(reply.status, 202);
            let json = message.to_json();
            prop_assert!(
                json.len() <= MAX_MESSAGE_BYTES,
                "message of {} bytes",
                json.len()
            );
            prop_assert_eq!(&parsed, &Ok(Delivery::Booking(message.clone())));
            // Whatever the producer enqueues, the consumer reads back as it was sent …
            let decoded = decode_message_str(&json);
            prop_assert_eq!(decoded.as_ref(), Ok(&*message));
            // … and can email.
            targets::check_email(&message);
        }
        Ingress::Reply(r) => {
            prop_assert!(
                !matches!(parsed, Ok(Delivery::Booking(_))),
                "parsed a booking but answered {}",
                r.status
            );
            let expected = if parsed.is_ok() { 200 } else { 400 };
            prop_assert_eq!(r.status, expected, "{}", r.body);
        }
        Ingress::Forward { .. } => panic!("accept_webhook reads every booking whole"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_body(&body)?;
    }

    #[test]
    fn mutated_samples_never_panic(body in mutated_sample()) {
        check_body(&body)?;
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check_body(&serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn cal_like_deliveries_fit_the_queue(value in delivery_json(), pretty in any::<bool>()) {
        let body = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        check_body(&body)?;
    }
}

/// Every field a little over its cap, in characters that all need 6-byte JSON escapes: the case
/// the size cap is built for.
#[test]
fn a_payload_of_escapes_still_fits_the_queue() {
    let ugly = "\u{1}".repeat(600);
    let notes = "\u{1}".repeat(9_000);
    let person = json!({"name": ugly, "email": ugly, "phoneNumber": ugly, "timeZone": ugly});
    let mut responses = Map::new();
    for i in 0..45 {
        responses.insert(format!("q{i}"), json!({"label": ugly, "value": notes}));
    }
    let body = json!({
        "triggerEvent": "BOOKING_RESCHEDULED",
        "createdAt": ugly,
        "payload": {
            "uid": ugly, "title": ugly, "eventTitle": ugly, "startTime": ugly, "endTime": ugly,
            "organizer": person, "attendees": vec![person.clone(); 45], "location": ugly,
            "additionalNotes": notes, "responses": responses, "status": ugly,
            "team": {"name": ugly}, "rescheduleUid": ugly, "rescheduleStartTime": ugly,
            "rescheduleEndTime": ugly, "rescheduledBy": ugly,
            "cancelledBy": ugly, "requestReschedule": true, "cancellationReason": notes,
            "videoCallData": {"url": "https://x.example/".repeat(100)},
            "metadata": {"videoCallUrl": "https://x.example/".repeat(100)},
        },
    });
    check_body(&serde_json::to_vec(&body).unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The consumer's decoding
// ---------------------------------------------------------------------------------------------

/// Queue bodies: anything, message-like objects with random fields, messages wrapped in JSON
/// strings and dead-letter wrappers.
fn queue_body() -> BoxedStrategy<Value> {
    let message_like = (
        prop_oneof![
            4 => Just(json!(MESSAGE_VERSION)),
            1 => json_value(),
            1 => Just(json!(1.0)),
            1 => Just(json!("1")),
        ],
        prop::collection::vec((json_key(), json_value()), 0..8),
        usually(json_value()),
    )
        .prop_map(|(v, fields, booking)| {
            let mut map: Map<String, Value> = fields.into_iter().collect();
            map.insert("v".into(), v);
            if let Some(b) = booking {
                map.insert("booking".into(), b);
            }
            Value::Object(map)
        });
    let real = message().prop_map(|m| serde_json::to_value(m).unwrap());
    let base = prop_oneof![json_value(), message_like, real].boxed();
    base.prop_recursive(3, 8, 1, |inner| {
        prop_oneof![
            inner.clone().prop_map(|v| Value::String(v.to_string())),
            (inner, json_value()).prop_map(|(original, info)| {
                json!({"dead_letter": {"reason": info, "attempts": 3}, "original": original})
            }),
        ]
    })
    .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decode_message_never_panics(body in queue_body()) {
        let decoded = decode_message(&body);
        // The same body received as text decodes the same way (floats may differ in their last
        // digit through a text round trip, so compare outcomes, not error details).
        let from_text = decode_message_str(&body.to_string());
        prop_assert_eq!(
            from_text.as_ref().map_err(|e| e.code()),
            decoded.as_ref().map_err(|e| e.code())
        );
        if let Ok(message) = decoded {
            prop_assert_eq!(message.v, MESSAGE_VERSION);
            targets::check_email(&message);
        }
    }

    #[test]
    fn decode_message_str_never_panics(text in prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
        message().prop_map(|m| m.to_json()),
    ]) {
        if let Ok(message) = decode_message_str(&text) {
            targets::check_email(&message);
        }
    }
}

proptest! {
    /// Our HMAC-SHA256 (on `sha2` directly, for the producer's size budget) equals the `hmac`
    /// crate's for any key (shorter than, equal to and longer than the 64-byte block) and body.
    #[test]
    fn our_hmac_equals_the_hmac_crate(
        key in proptest::collection::vec(any::<u8>(), 0..200),
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(&body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        prop_assert_eq!(shared::ingress::signature::sign(&key, &body), expected);
    }
}
