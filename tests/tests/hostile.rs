//! Hostile or misconfigured requests against the whole pipeline in workerd (gateway → producer →
//! `booking-events` → consumer → SendGrid stub), as one data-driven table.
//!
//! Each case names its method, path, extra headers, body, transport (sized or chunked) and
//! signature mode, and the status and `error` code (or `status` word for 2xx) it must get. Every
//! booking in the table has its own uid (`hostile-<n>`): after the table a valid marker booking
//! is posted, and once its email arrived no case that was refused may have produced an email, a
//! SendGrid attempt or a dead letter. Cases that are accepted (202) degrade instead of failing:
//! their emails are checked for a one-line subject, escaped HTML, dates shown as sent, unknown
//! zones named, and the booking uid.
//!
//! Where workerd (or the HTTP client) normalises a request before the producer sees it, the
//! comment next to the case says what was observed.

use std::io;
use std::time::{Duration, Instant};

use e2e::calcom::{sample, sample_with_uid};
use e2e::http::{self, Answer};
use e2e::pipeline::{
    poll_until, shared_pipeline, Pipeline, TEST_WEBHOOK_PHRASE, TEST_WEBHOOK_SECRET,
    TEST_WEBHOOK_SECRET_NEXT,
};
use e2e::stub::ReceivedEmail;
use serde_json::{json, Value};
use shared::ingress::signature::{sign, SIGNATURE_HEADER};

const WEBHOOK: &str = "/api/calcom-webhook";
/// The producer's body limit (`shared::ingress::MAX_BODY_BYTES`).
const LIMIT: usize = 256 * 1024;
const WAIT: Duration = Duration::from_secs(90);
/// How many cases the table holds.
const CASES: usize = 133;
/// Attendees in the "thousands of attendees" case (the booker plus guests).
const MANY_ATTENDEES: usize = 3000;

/// How the `X-Cal-Signature-256` header is made for a case.
enum Sig {
    /// No header at all.
    None,
    /// The HMAC of the exact body with our (first) secret.
    Valid,
    /// The HMAC of the exact body with this key.
    ValidWith(&'static str),
    /// A valid signature, but of these other bytes.
    ValidFor(Vec<u8>),
    /// The HMAC of the exact body with a secret we do not have.
    WrongSecret,
    /// This literal header value.
    Custom(String),
    /// Header values derived from the valid signature; several = the header sent several times.
    Derived(Vec<fn(&str) -> String>),
}

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    /// `Content-Length` set (reqwest's default for a byte body).
    Sized,
    /// `Transfer-Encoding: chunked`, no `Content-Length`.
    Chunked,
}

/// What the tests look at in an accepted booking's email.
struct Mail {
    subject: String,
    text: String,
    html: String,
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    transport: Transport,
    sig: Sig,
    status: u16,
    /// `error` for answers ≥ 400, `status` for 2xx; empty for HEAD (no body).
    code: &'static str,
    /// The booking uid in the body (for refused cases: must never reach SendGrid).
    uid: String,
    /// Extra checks of the email of an accepted (202) case.
    check: Option<fn(&Mail)>,
}

impl Case {
    fn expect(&mut self, status: u16, code: &'static str) -> &mut Self {
        self.status = status;
        self.code = code;
        self
    }

    fn content_type(&mut self, ct: Option<&'static str>) -> &mut Self {
        self.content_type = ct;
        self
    }

    fn header(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name, value.into()));
        self
    }

    fn path(&mut self, path: &str) -> &mut Self {
        self.path = path.to_owned();
        self
    }

    fn chunked(&mut self) -> &mut Self {
        self.transport = Transport::Chunked;
        self
    }

    fn uid(&mut self, uid: &str) -> &mut Self {
        self.uid = uid.to_owned();
        self
    }

    fn check(&mut self, check: fn(&Mail)) -> &mut Self {
        self.check = Some(check);
        self
    }
}

#[derive(Default)]
struct Table {
    cases: Vec<Case>,
}

impl Table {
    /// The uid the next case's booking gets.
    fn uid(&self) -> String {
        format!("hostile-{}", self.cases.len() + 1)
    }

    fn add(
        &mut self,
        name: &'static str,
        method: &'static str,
        body: Vec<u8>,
        sig: Sig,
    ) -> &mut Case {
        let uid = self.uid();
        self.cases.push(Case {
            name,
            method,
            path: WEBHOOK.to_owned(),
            content_type: Some("application/json"),
            headers: Vec::new(),
            body,
            transport: Transport::Sized,
            sig,
            status: 0,
            code: "",
            uid,
            check: None,
        });
        self.cases.last_mut().expect("just pushed")
    }

    fn post(&mut self, name: &'static str, body: Vec<u8>, sig: Sig) -> &mut Case {
        self.add(name, "POST", body, sig)
    }
}

fn compact(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

/// A BOOKING_CREATED delivery for `uid`, as Cal.com sends it.
fn booking(uid: &str) -> Value {
    sample_with_uid("booking-created", uid)
}

/// A BOOKING_CREATED delivery for `uid`, changed by `edit`, as compact bytes.
fn booking_with(uid: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = booking(uid);
    edit(&mut v);
    compact(&v)
}

/// `bytes` followed by spaces (valid JSON white space) up to exactly `len` bytes.
fn padded_to(mut bytes: Vec<u8>, len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len);
    bytes.resize(len, b' ');
    bytes
}

/// `n` nested arrays: `[[[…]]]`.
fn nested_arrays(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// Inserts `insert` right after the first occurrence of `marker` in `body`.
fn splice(body: &[u8], marker: &str, insert: &[u8]) -> Vec<u8> {
    let at = body
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap_or_else(|| panic!("{marker} not in body"))
        + marker.len();
    let mut out = body[..at].to_vec();
    out.extend_from_slice(insert);
    out.extend_from_slice(&body[at..]);
    out
}

/// A gzip member holding `data` in one stored (uncompressed) deflate block.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= 0xffff);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let len = data.len() as u16;
    out.push(1); // final block, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The whole table. Comments marked RUNTIME record what workerd / the client did to the request.
fn table() -> Table {
    let mut t = Table::default();
    let secret = TEST_WEBHOOK_SECRET;

    // ── Wrong methods on the route: 405 + `Allow: POST`, a signed booking is never queued. ──
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let uid = t.uid();
        t.add("wrong method", method, compact(&booking(&uid)), Sig::Valid)
            .expect(405, "method_not_allowed");
    }
    // RUNTIME: the producer writes its JSON 405 for HEAD too; the answer on the wire has the
    // status and the `Allow: POST` header but no body.
    t.add("HEAD on the route", "HEAD", Vec::new(), Sig::None)
        .expect(405, "");
    let uid = t.uid();
    t.add(
        "GET on the trailing-slash route",
        "GET",
        compact(&booking(&uid)),
        Sig::Valid,
    )
    .path("/api/calcom-webhook/")
    .expect(405, "method_not_allowed");
    // RUNTIME: an extension method (WebDAV) is passed through by workerd and the gateway to the
    // producer, which answers its own JSON 405.
    let uid = t.uid();
    t.add(
        "WebDAV method",
        "PROPFIND",
        compact(&booking(&uid)),
        Sig::Valid,
    )
    .expect(405, "method_not_allowed");

    // ── Unknown paths: 404, nothing queued even when signed. ──
    for path in [
        "/",
        "/api",
        "/api/calcom-webhook/extra",
        "/API/CALCOM-WEBHOOK",
        "/api/calcom-webhook//",
        "/api/calcom-webhook.json",
        "/api/calcom-webhook%2F",
    ] {
        let uid = t.uid();
        t.post("unknown path", compact(&booking(&uid)), Sig::Valid)
            .path(path)
            .expect(404, "not_found");
    }
    t.add("GET unknown path", "GET", Vec::new(), Sig::None)
        .path("/favicon.ico")
        .expect(404, "not_found");
    // Served as is (Cal.com follows no redirects), query strings ignored.
    let uid = t.uid();
    t.post("trailing slash", compact(&booking(&uid)), Sig::Valid)
        .path("/api/calcom-webhook/")
        .expect(202, "queued");
    let uid = t.uid();
    t.post("query string", compact(&booking(&uid)), Sig::Valid)
        .path("/api/calcom-webhook?source=calcom&x=%0d%0a")
        .expect(202, "queued");

    // ── Size. ──
    let uid = t.uid();
    t.post(
        "oversize 256 KiB + 1, Content-Length",
        padded_to(compact(&booking(&uid)), LIMIT + 1),
        Sig::Valid,
    )
    .expect(413, "body_too_large");
    // RUNTIME: reqwest sends a reader body with `Transfer-Encoding: chunked` and no
    // Content-Length; through workerd and the gateway's service binding the producer still gets
    // the same 413 (its cap while reading). After such an early 413 the dev server fails the
    // next request: see `absorb_dev_server_hiccup`.
    let uid = t.uid();
    t.post(
        "oversize 256 KiB + 1, chunked",
        padded_to(compact(&booking(&uid)), LIMIT + 1),
        Sig::Valid,
    )
    .chunked()
    .expect(413, "body_too_large");
    let uid = t.uid();
    t.post(
        "oversize 1 MiB, chunked",
        padded_to(compact(&booking(&uid)), 1024 * 1024),
        Sig::Valid,
    )
    .chunked()
    .expect(413, "body_too_large");
    let uid = t.uid();
    t.post(
        "exactly 256 KiB, Content-Length",
        padded_to(compact(&booking(&uid)), LIMIT),
        Sig::Valid,
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "exactly 256 KiB, chunked",
        padded_to(compact(&booking(&uid)), LIMIT),
        Sig::Valid,
    )
    .chunked()
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "small booking, chunked",
        compact(&booking(&uid)),
        Sig::Valid,
    )
    .chunked()
    .expect(202, "queued");

    // ── Bodies that are not a Cal.com envelope (all signed unless said). ──
    t.post("empty body, unsigned", Vec::new(), Sig::None)
        .expect(401, "signature_missing");
    t.post("empty body, signed", Vec::new(), Sig::Valid)
        .expect(400, "body_not_json");
    t.post("white space only", b" \n\t ".to_vec(), Sig::Valid)
        .expect(400, "body_not_json");
    let uid = t.uid();
    t.post(
        "invalid UTF-8 in a string",
        splice(
            &compact(&booking(&uid)),
            "\"title\":\"",
            &[0xc3, 0x28, 0xff],
        ),
        Sig::Valid,
    )
    .expect(400, "body_not_utf8");
    let uid = t.uid();
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend(compact(&booking(&uid)));
    t.post("UTF-8 BOM before the JSON", bom, Sig::Valid)
        .expect(400, "body_not_json");
    t.post(
        "100k nested arrays",
        nested_arrays(100_000).into_bytes(),
        Sig::Valid,
    )
    .expect(400, "body_too_deep");
    // An object nested under an unknown top-level key is skipped (iteratively, no depth
    // limit, no stack risk) while reading the envelope: what is wrong is the missing trigger.
    t.post(
        "40k nested objects under an unknown key",
        format!("{}1{}", "{\"a\":".repeat(40_000), "}".repeat(40_000)).into_bytes(),
        Sig::Valid,
    )
    .expect(400, "missing_trigger_event");
    t.post(
        "40k nested objects as the triggerEvent",
        format!(
            "{{\"triggerEvent\":{}1{}}}",
            "{\"a\":".repeat(40_000),
            "}".repeat(40_000)
        )
        .into_bytes(),
        Sig::Valid,
    )
    .expect(400, "body_too_deep");
    let uid = t.uid();
    let deep_attendees = String::from_utf8(booking_with(&uid, |v| {
        v["payload"]["attendees"] = json!("DEEP");
    }))
    .unwrap()
    .replace("\"DEEP\"", &nested_arrays(50_000));
    t.post(
        "deep nesting as the attendees",
        deep_attendees.into_bytes(),
        Sig::Valid,
    )
    .expect(400, "body_too_deep");
    // The payload is parsed whole (for the idempotency key), so its nesting is limited like the
    // envelope's: 50,000 levels inside an unknown field is not a Cal.com webhook.
    let uid = t.uid();
    t.post(
        "deep nesting in an unknown payload field",
        splice(
            &compact(&booking(&uid)),
            "\"payload\":{",
            format!("\"x-junk\":{},", nested_arrays(50_000)).as_bytes(),
        ),
        Sig::Valid,
    )
    .expect(400, "body_too_deep");
    for (name, body, code) in [
        ("literal false", "false", "body_not_an_object"),
        ("literal null", "null", "body_not_an_object"),
        ("literal true", "true", "body_not_an_object"),
        ("literal 0", "0", "body_not_an_object"),
        ("a JSON string", "\"str\"", "body_not_an_object"),
        ("an empty array", "[]", "body_not_an_object"),
        (
            "an array of envelopes",
            "[{\"triggerEvent\":\"PING\"}]",
            "body_not_an_object",
        ),
        ("a number out of range", "1e999", "body_not_json"),
        ("an empty object", "{}", "missing_trigger_event"),
        (
            "truncated JSON",
            "{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":",
            "body_not_json",
        ),
    ] {
        t.post(name, body.as_bytes().to_vec(), Sig::Valid)
            .expect(400, code);
    }
    let uid = t.uid();
    t.post(
        "form-encoded template output",
        format!("triggerEvent=BOOKING_CREATED&payload%5Buid%5D={uid}&title=Consultation")
            .into_bytes(),
        Sig::Valid,
    )
    .content_type(Some("application/x-www-form-urlencoded"))
    .expect(400, "body_not_json");
    let uid = t.uid();
    t.post(
        "plain-text template output",
        format!("New booking {uid}: Alex Student, 2026-02-17T18:00:00Z").into_bytes(),
        Sig::Valid,
    )
    .content_type(Some("application/x-www-form-urlencoded"))
    .expect(400, "body_not_json");
    // The Content-Type is not what decides: a valid signed booking is read whatever it says.
    let uid = t.uid();
    t.post(
        "JSON sent as text/plain",
        compact(&booking(&uid)),
        Sig::Valid,
    )
    .content_type(Some("text/plain"))
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "JSON without Content-Type",
        compact(&booking(&uid)),
        Sig::Valid,
    )
    .content_type(None)
    .expect(202, "queued");
    let uid = t.uid();
    t.post("JSON with a charset", compact(&booking(&uid)), Sig::Valid)
        .content_type(Some("application/json; charset=utf-8"))
        .expect(202, "queued");
    // RUNTIME: workerd does not decode a `Content-Encoding: gzip` request body: the worker gets
    // the compressed bytes, the signature over them verifies, and they are not UTF-8.
    let uid = t.uid();
    t.post(
        "gzip body signed over the compressed bytes",
        gzip_stored(&compact(&booking(&uid))),
        Sig::Valid,
    )
    .header("Content-Encoding", "gzip")
    .expect(400, "body_not_utf8");

    // ── Signatures (on a valid booking unless said). ──
    let uid = t.uid();
    t.post("no signature header", compact(&booking(&uid)), Sig::None)
        .expect(401, "signature_missing");
    // RUNTIME: whether workerd hands an empty (or all-blank, trimmed to empty) header to the
    // worker or drops it cannot be told apart from outside: both read as a missing signature.
    let uid = t.uid();
    t.post(
        "empty signature header",
        compact(&booking(&uid)),
        Sig::Custom(String::new()),
    )
    .expect(401, "signature_missing");
    let uid = t.uid();
    t.post(
        "blank signature header",
        compact(&booking(&uid)),
        Sig::Custom("   ".into()),
    )
    .expect(401, "signature_missing");
    let uid = t.uid();
    t.post(
        "no-secret-provided",
        compact(&booking(&uid)),
        Sig::Custom("no-secret-provided".into()),
    )
    .expect(401, "signature_not_configured_in_calcom");
    let uid = t.uid();
    t.post(
        "NO-SECRET-PROVIDED upper case",
        compact(&booking(&uid)),
        Sig::Custom("NO-SECRET-PROVIDED".into()),
    )
    .expect(401, "signature_not_configured_in_calcom");
    t.post(
        "Ping test without a Cal.com secret",
        compact(&sample("ping")),
        Sig::Custom("no-secret-provided".into()),
    )
    .expect(401, "signature_not_configured_in_calcom");
    let uid = t.uid();
    t.post(
        "sha256= prefix",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("sha256={s}")]),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "SHA256= prefix",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("SHA256={s}")]),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "upper-case hex",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| s.to_uppercase()]),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "63 hex characters",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| s[..63].to_owned()]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "65 hex characters",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("{s}0")]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "non-hex character",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("{}g", &s[..63])]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "non-ASCII character",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("{}é", &s[..62])]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "the digest twice (128 hex)",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("{s}{s}")]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "0x prefix",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("0x{s}")]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "sha256= prefix with 63 hex",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("sha256={}", &s[..63])]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "sha512= prefix",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("sha512={s}")]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "SHA-1 length (40 hex)",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| s[..40].to_owned()]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "base64 of the digest",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| base64_of_hex(s)]),
    )
    .expect(401, "signature_malformed");
    // RUNTIME: two `X-Cal-Signature-256` headers reach the worker joined into one value,
    // "<first>, <second>" (Fetch `Headers.get`): "wrong then valid" is malformed, not a mismatch
    // (only the first kept) nor accepted (only the last kept).
    let uid = t.uid();
    t.post(
        "duplicate header, both valid",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| s.to_owned(), |s| s.to_owned()]),
    )
    .expect(401, "signature_malformed");
    let uid = t.uid();
    t.post(
        "duplicate header, wrong then valid",
        compact(&booking(&uid)),
        Sig::Derived(vec![|_| "0".repeat(64), |s| s.to_owned()]),
    )
    .expect(401, "signature_malformed");
    // RUNTIME: accepted. Spaces and tabs around a field value are optional white space in
    // HTTP/1.1 (RFC 9110 §5.5): reqwest sends them as given, an HTTP parser should strip them,
    // and `shared::ingress::signature::verify` trims as well, so which layer trimmed is not
    // observable from outside.
    let uid = t.uid();
    t.post(
        "signature padded with spaces",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("   {s}  ")]),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "signature padded with tabs",
        compact(&booking(&uid)),
        Sig::Derived(vec![|s| format!("\t{s}\t")]),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post("wrong secret", compact(&booking(&uid)), Sig::WrongSecret)
        .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post(
        "signature of another body",
        compact(&booking(&uid)),
        Sig::ValidFor(compact(&booking("hostile-other-body"))),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post(
        "the rotated (second) secret",
        compact(&booking(&uid)),
        Sig::ValidWith(TEST_WEBHOOK_SECRET_NEXT),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "the whole secret list as the key",
        compact(&booking(&uid)),
        Sig::ValidWith("whsec_e2e_test_secret,whsec_e2e_rotated_secret"),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post("an empty key", compact(&booking(&uid)), Sig::ValidWith(""))
        .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post(
        "the secret without its whsec_ prefix",
        compact(&booking(&uid)),
        Sig::ValidWith("e2e_test_secret"),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post(
        "a secret that is a phrase with spaces (one secret)",
        compact(&booking(&uid)),
        Sig::ValidWith(TEST_WEBHOOK_PHRASE),
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "one word of the phrase secret",
        compact(&booking(&uid)),
        Sig::ValidWith("horse"),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post(
        "the phrase secret with its spaces changed",
        compact(&booking(&uid)),
        Sig::ValidWith("correct  horse battery staple"),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    let pretty = serde_json::to_vec_pretty(&booking(&uid)).unwrap();
    t.post(
        "compact body, signature of the pretty-printed JSON",
        compact(&booking(&uid)),
        Sig::ValidFor(pretty.clone()),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    t.post(
        "pretty-printed body, signature of the compact JSON",
        serde_json::to_vec_pretty(&booking(&uid)).unwrap(),
        Sig::ValidFor(compact(&booking(&uid))),
    )
    .expect(401, "signature_mismatch");
    let uid = t.uid();
    let mut newline = compact(&booking(&uid));
    let signed_without_newline = newline.clone();
    newline.push(b'\n');
    t.post(
        "trailing newline added after signing",
        newline,
        Sig::ValidFor(signed_without_newline),
    )
    .expect(401, "signature_mismatch");
    // HTTP header names are case-insensitive (and hyper sends them lower-case anyway).
    let uid = t.uid();
    t.post("lower-case header name", compact(&booking(&uid)), Sig::None)
        .header(
            "x-cal-signature-256",
            sign(secret.as_bytes(), &compact(&booking(&uid))),
        )
        .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "signature in X-Cal-Signature",
        compact(&booking(&uid)),
        Sig::None,
    )
    .header(
        "X-Cal-Signature",
        sign(secret.as_bytes(), &compact(&booking(&uid))),
    )
    .expect(401, "signature_missing");

    // ── Envelope and payload shape (signed). ──
    let uid = t.uid();
    t.post(
        "missing triggerEvent",
        booking_with(&uid, |v| {
            v.as_object_mut().unwrap().remove("triggerEvent");
        }),
        Sig::Valid,
    )
    .expect(400, "missing_trigger_event");
    for (name, trigger) in [
        ("triggerEvent a number", json!(1)),
        ("triggerEvent null", json!(null)),
        ("triggerEvent empty", json!("")),
        ("triggerEvent an object", json!({"name": "BOOKING_CREATED"})),
        ("triggerEvent a list", json!(["BOOKING_CREATED"])),
    ] {
        let uid = t.uid();
        t.post(
            name,
            booking_with(&uid, |v| v["triggerEvent"] = trigger),
            Sig::Valid,
        )
        .expect(400, "missing_trigger_event");
    }
    let uid = t.uid();
    t.post(
        "booking without payload",
        booking_with(&uid, |v| {
            v.as_object_mut().unwrap().remove("payload");
        }),
        Sig::Valid,
    )
    .expect(400, "missing_payload");
    for (name, payload) in [
        ("payload a string", json!("payload")),
        ("payload a list", json!([{"uid": "x"}])),
        ("payload null", json!(null)),
    ] {
        let uid = t.uid();
        t.post(
            name,
            booking_with(&uid, |v| v["payload"] = payload),
            Sig::Valid,
        )
        .expect(400, "missing_payload");
    }
    let uid = t.uid();
    t.post(
        "payload without uid",
        booking_with(&uid, |v| {
            v["payload"].as_object_mut().unwrap().remove("uid");
        }),
        Sig::Valid,
    )
    .expect(400, "missing_payload_uid");
    for (name, uid_value) in [
        ("uid empty string", json!("")),
        ("uid blank", json!("   ")),
        ("uid null", json!(null)),
        ("uid an object", json!({"id": 1})),
        ("uid a list", json!(["hostile"])),
    ] {
        let uid = t.uid();
        t.post(
            name,
            booking_with(&uid, |v| v["payload"]["uid"] = uid_value),
            Sig::Valid,
        )
        .expect(400, "missing_payload_uid");
    }
    // A number is read as text (`shared::contract::calcom::payload::text`).
    t.post(
        "uid a number",
        booking_with("", |v| v["payload"]["uid"] = json!(7_770_042)),
        Sig::Valid,
    )
    .uid("7770042")
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "duplicate triggerEvent keys",
        splice(&compact(&booking(&uid)), "{", b"\"triggerEvent\":\"PING\","),
        Sig::Valid,
    )
    .expect(400, "body_unreadable");
    let uid = t.uid();
    t.post(
        "duplicate payload keys",
        splice(
            &compact(&booking(&uid)),
            "{",
            format!("\"payload\":{{\"uid\":\"{uid}-shadow\"}},").as_bytes(),
        ),
        Sig::Valid,
    )
    .expect(400, "body_unreadable");
    let uid = t.uid();
    t.post(
        "duplicate uid keys",
        splice(
            &compact(&booking(&uid)),
            "\"payload\":{",
            format!("\"uid\":\"{uid}-shadow\",").as_bytes(),
        ),
        Sig::Valid,
    )
    .expect(400, "body_unreadable");
    for (name, trigger) in [
        ("unknown trigger", "SOMETHING_NEW_IN_2027"),
        ("known trigger we do not email", "BOOKING_PAID"),
        ("lower-case booking trigger", "booking_created"),
    ] {
        let uid = t.uid();
        t.post(
            name,
            booking_with(&uid, |v| v["triggerEvent"] = json!(trigger)),
            Sig::Valid,
        )
        .expect(200, "ignored");
    }
    t.post(
        "flat MEETING_STARTED",
        compact(&sample("meeting-started")),
        Sig::Valid,
    )
    .expect(200, "ignored");
    t.post("Ping test", compact(&sample("ping")), Sig::Valid)
        .expect(200, "ok");
    let uid = t.uid();
    t.post(
        "trigger with white space around it",
        booking_with(&uid, |v| v["triggerEvent"] = json!(" BOOKING_CREATED\n")),
        Sig::Valid,
    )
    .expect(202, "queued");

    // ── Odd content, signed: accepted (202), and the email degrades instead of failing. ──
    let uid = t.uid();
    t.post(
        "HTML and script in names, title and notes",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["eventTitle"] = json!("<script>alert('title')</script><img src=x onerror=alert(1)>");
            p["title"] = json!("<script>alert('t')</script>");
            p["attendees"][0]["name"] = json!("<script>alert(\"name\")</script>Alex");
            p["organizer"]["name"] = json!("<b onmouseover=alert(1)>Host</b>");
            p["additionalNotes"] =
                json!("</td></tr></table><script>document.location='//evil'</script>");
            p["location"] = json!("javascript:alert(1)");
            p["responses"]["company"]["value"] = json!("<iframe src=//evil></iframe>");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        for raw in ["<script", "<img", "<iframe", "<b onmouseover"] {
            assert!(!m.html.contains(raw), "raw {raw} in HTML:\n{}", m.html);
        }
        assert!(
            m.html.contains("&#60;script&#62;alert(&#34;name&#34;)"),
            "escaped in HTML:\n{}",
            m.html
        );
        assert!(!m.html.contains("href=\"javascript:"), "{}", m.html);
        assert!(
            m.text.contains("<script>alert(\"name\")</script>Alex"),
            "the text part shows names as sent:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "CR/LF in names and titles",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["eventTitle"] = json!("Consultation\r\nBcc: victim@example.com");
            p["title"] = json!("T\r\n\r\nX-Injected: yes");
            p["attendees"][0]["name"] = json!("Alex\r\nBcc: attacker@example.net\r\n");
            p["organizer"]["name"] = json!("Host\nSubject: spoofed");
            p["responses"]["company"]["value"] = json!("Line one\r\nLine two");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.subject.contains("Consultation Bcc: victim@example.com"),
            "folded onto one line: {}",
            m.subject
        );
        assert!(!m.text.contains("\r"), "no CR in the text part");
        assert!(
            !m.text.contains("\nBcc: attacker"),
            "a name stays on its line:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "control characters and bidi overrides",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["eventTitle"] = json!("Call\u{0}\u{7}\u{1b}[31m red\u{202e}txet\u{202c}");
            p["attendees"][0]["name"] = json!("Alex\u{0b}\u{0c}Student\u{85}");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            !m.subject.chars().any(|c| c.is_control()),
            "no control characters in the subject: {:?}",
            m.subject
        );
        assert!(
            !m.subject.contains('\u{202E}'),
            "no bidi override: {:?}",
            m.subject
        );
    });
    let uid = t.uid();
    t.post(
        "zero-width and bidi format characters in the title and names",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["eventTitle"] = json!("In\u{200B}voice \u{2066}paid\u{2069}\u{FEFF} \u{202D}ok\u{202C}");
            p["attendees"][0]["name"] = json!("\u{200F}Alex\u{200D} \u{202E}tnedutS");
            p["organizer"]["name"] = json!("Host\u{200E}\u{2067}");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        let spoofing = |c: char| {
            matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        };
        assert!(!m.subject.chars().any(spoofing), "{:?}", m.subject);
        assert!(m.subject.contains("Invoice paid ok"), "{:?}", m.subject);
        assert!(m.subject.contains("Alex tnedutS"), "{:?}", m.subject);
    });
    let uid = t.uid();
    t.post(
        "thousands of attendees",
        booking_with(&uid, |v| {
            let attendees = v["payload"]["attendees"].as_array_mut().unwrap();
            attendees.truncate(1);
            for i in 1..MANY_ATTENDEES {
                attendees.push(json!({
                    "email": format!("guest{i}@example.net"),
                    "name": format!("Guest {i}"),
                    "timeZone": "Europe/Berlin",
                }));
            }
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        let more = format!("and {} more", MANY_ATTENDEES - 1 - 40);
        assert!(m.text.contains(&more), "{more}:\n{}", m.text);
        assert!(
            m.text.contains("shortened to fit"),
            "the message says it was trimmed:\n{}",
            m.text
        );
        assert!(
            m.text.contains("Guest 1 <guest1@example.net>"),
            "{}",
            m.text
        );
        assert!(!m.text.contains("guest41@example.net"), "{}", m.text);
    });
    let uid = t.uid();
    t.post(
        "a 100 KB title and notes",
        booking_with(&uid, |v| {
            v["payload"]["eventTitle"] = json!("Very long title ".repeat(6_000));
            v["payload"]["additionalNotes"] = json!("n".repeat(100_000));
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(m.subject.chars().count() <= 200, "{}", m.subject);
        assert!(m.text.contains("shortened to fit"), "{}", m.text);
    });
    let uid = t.uid();
    t.post(
        "unknown organizer time zone",
        booking_with(&uid, |v| {
            v["payload"]["organizer"]["timeZone"] = json!("Mars/Olympus")
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.text.contains(
                "Tue 17 Feb 2026, 6:00pm–6:30pm UTC (time zone \"Mars/Olympus\" unknown)"
            ),
            "shown in UTC, naming the zone:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "unknown attendee time zone",
        booking_with(&uid, |v| {
            v["payload"]["attendees"][0]["timeZone"] = json!("Europe/Atlantis")
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(m.text.contains("\"Europe/Atlantis\" unknown"), "{}", m.text);
        assert!(
            m.text.contains("AKST"),
            "the organizer's zone still works:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "hostile time zone names",
        booking_with(&uid, |v| {
            v["payload"]["organizer"]["timeZone"] = json!("<script>x</script>\r\nZone");
            v["payload"]["attendees"][0]["timeZone"] = json!("../../../../etc/localtime");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.text
                .contains("(time zone \"<script>x</script> Zone\" unknown)"),
            "{}",
            m.text
        );
        assert!(
            m.text.contains("\"../../../../etc/localtime\" unknown"),
            "{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "year 275760 (the largest JS date)",
        booking_with(&uid, |v| {
            v["payload"]["startTime"] = json!("+275760-09-13T00:00:00.000Z");
            v["payload"]["endTime"] = json!("+275760-09-13T00:00:00.000Z");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.text.contains("+275760-09-13T00:00:00.000Z"),
            "as sent:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "year 9999",
        booking_with(&uid, |v| {
            v["payload"]["startTime"] = json!("9999-12-31T23:00:00Z");
            v["payload"]["endTime"] = json!("9999-12-31T23:30:00Z");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.text
                .contains("9999-12-31T23:00:00Z – 9999-12-31T23:30:00Z"),
            "as sent:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "30 February",
        booking_with(&uid, |v| {
            v["payload"]["startTime"] = json!("2026-02-30T10:00:00Z");
            v["payload"]["endTime"] = json!("2026-02-30T10:30:00Z");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.text.contains("2026-02-30T10:00:00Z"),
            "as sent:\n{}",
            m.text
        );
        assert!(m.subject.contains("2026-02-30T10:00:00Z"), "{}", m.subject);
    });
    let uid = t.uid();
    t.post(
        "\"tomorrow\" as the time",
        booking_with(&uid, |v| {
            v["payload"]["startTime"] = json!("tomorrow");
            v["payload"]["endTime"] = json!("the day after");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(
            m.text.contains("tomorrow – the day after"),
            "as sent:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "end before start",
        booking_with(&uid, |v| {
            v["payload"]["startTime"] = json!("2026-02-17T18:00:00Z");
            v["payload"]["endTime"] = json!("2026-02-17T17:00:00Z");
            v["payload"]["length"] = json!(null);
        }),
        Sig::Valid,
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "no attendees",
        booking_with(&uid, |v| v["payload"]["attendees"] = json!([])),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(m.subject.contains("(no attendee)"), "{}", m.subject);
        assert!(m.text.contains("no attendee"), "{}", m.text);
    });
    let uid = t.uid();
    t.post(
        "attendees and organizer missing",
        booking_with(&uid, |v| {
            let p = v["payload"].as_object_mut().unwrap();
            p.remove("attendees");
            p.remove("organizer");
            p.remove("responses");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| assert!(m.subject.contains("(no attendee)"), "{}", m.subject));
    let uid = t.uid();
    t.post(
        "numbers where strings are expected",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["eventTitle"] = json!(4242);
            p["title"] = json!(17);
            p["startTime"] = json!(1_771_351_200_000_u64);
            p["endTime"] = json!(1_771_353_000_000_u64);
            p["length"] = json!("30");
            p["organizer"] = json!({"name": 7, "email": 8, "timeZone": 9, "timeFormat": 12});
            p["attendees"] =
                json!([{"name": 12345, "email": 67890, "timeZone": 3, "phoneNumber": 5550142}]);
            p["location"] = json!(99);
            p["responses"] = json!({"company": {"label": 1, "value": 2}});
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(m.text.contains("12345"), "{}", m.text);
        assert!(
            m.text.contains("1771351200000"),
            "the time as sent:\n{}",
            m.text
        );
    });
    let uid = t.uid();
    t.post(
        "wrong types everywhere else",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["attendees"] = json!("alex.student@example.org");
            p["organizer"] = json!(["host@example.com"]);
            p["responses"] = json!([1, 2, 3]);
            p["videoCallData"] = json!("https://meetco.daily.co/abc");
            p["metadata"] = json!(null);
            p["seatsPerTimeSlot"] = json!("lots");
            p["startTime"] = json!({"date": "2026-02-17"});
            p["length"] = json!(-30);
        }),
        Sig::Valid,
    )
    .expect(202, "queued");
    // BUG (shared::contract::calcom::envelope::parse_delivery / serde_json): JSON.stringify writes a lone
    // UTF-16 surrogate (e.g. a JS string cut in the middle of an emoji) as the escape `\ud83d`, which is
    // valid JSON grammar (RFC 8259 §7). serde_json refuses it when reading a string, so the
    // producer answers 400 `body_not_json` ("The body is not JSON …", which it is) and the
    // booking is lost (Cal.com does not retry). Expected: 202, the text degraded (e.g. U+FFFD).
    // Until fixed, this case fails.
    let uid = t.uid();
    t.post(
        "escaped lone surrogate in the notes",
        splice(
            &compact(&booking(&uid)),
            "\"additionalNotes\":\"",
            b"half an emoji \\ud83d ",
        ),
        Sig::Valid,
    )
    .expect(202, "queued");
    let uid = t.uid();
    t.post(
        "non-ASCII everywhere",
        booking_with(&uid, |v| {
            let p = &mut v["payload"];
            p["eventTitle"] = json!("Beratung 🗓️ 相談 استشارة");
            p["attendees"][0]["name"] = json!("Zoë Ñúñez-Ørsted 李");
        }),
        Sig::Valid,
    )
    .expect(202, "queued")
    .check(|m| {
        assert!(m.subject.contains("Zoë Ñúñez-Ørsted 李"), "{}", m.subject);
    });

    t
}

/// `s` (hex) as standard base64.
fn base64_of_hex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    e2e::base64::base64_encode(&bytes)
}

/// The `X-Cal-Signature-256` values a case sends (none, one, or several).
fn signature_values(case: &Case) -> Vec<String> {
    let valid = || sign(TEST_WEBHOOK_SECRET.as_bytes(), &case.body);
    match &case.sig {
        Sig::None => Vec::new(),
        Sig::Valid => vec![valid()],
        Sig::ValidWith(key) => vec![sign(key.as_bytes(), &case.body)],
        Sig::ValidFor(other) => vec![sign(TEST_WEBHOOK_SECRET.as_bytes(), other)],
        Sig::WrongSecret => vec![sign(b"whsec_not_our_secret", &case.body)],
        Sig::Custom(value) => vec![value.clone()],
        Sig::Derived(fs) => fs.iter().map(|f| f(&valid())).collect(),
    }
}

fn send(p: &Pipeline, case: &Case) -> io::Result<Answer> {
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(ct) = case.content_type {
        headers.push(("Content-Type", ct.to_owned()));
    }
    for value in signature_values(case) {
        headers.push((SIGNATURE_HEADER, value));
    }
    headers.extend(case.headers.iter().map(|(k, v)| (*k, v.clone())));
    let url = p.url(&case.path);
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match case.transport {
        Transport::Sized => http::send(case.method, &url, &refs, case.body.clone()),
        Transport::Chunked => http::send_chunked(case.method, &url, &refs, case.body.clone()),
    }
}

fn mail(email: &ReceivedEmail) -> Mail {
    let part = |i: usize| {
        email.body["content"][i]["value"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    Mail {
        subject: email.body["subject"].as_str().unwrap_or("").to_owned(),
        text: part(0),
        html: part(1),
    }
}

/// RUNTIME (wrangler dev only): when the producer answers 413 to a *chunked* upload before
/// reading all of it, the NEXT request to wrangler's dev server fails: a POST gets Miniflare's
/// own plain-text 503 "Your worker restarted mid-request. Please try sending the request again.
/// Only GET or HEAD requests are retried automatically." at once, a GET or HEAD hangs (its
/// automatic retry never answers; seen > 30 s). No worker log line, no crash, and the request
/// after that one is served normally. Seen after 300 KiB and 1 MiB chunked uploads (usually, not
/// always after 256 KiB + 1), never after sized ones (Content-Length is checked before reading).
/// A throw-away POST takes that hit instead of the next case.
fn absorb_dev_server_hiccup(p: &Pipeline) {
    let res = http::send("POST", &p.url("/__absorb"), &[], Vec::new()).expect("absorber");
    assert!(
        matches!(res.status, 404 | 503),
        "absorber: {} {}",
        res.status,
        res.body
    );
    if res.status == 503 {
        println!("dev-server hiccup after a chunked 413: {}", res.body);
    }
    let res = http::send("GET", &p.url("/__ready"), &[], Vec::new()).expect("probe");
    assert_eq!(res.status, 404, "the pipeline is still up: {}", res.body);
}

/// Checks one answer against its case; returns a description of what is wrong, if anything.
fn verify_answer(case: &Case, res: &Answer) -> Result<(), String> {
    if res.status != case.status {
        return Err(format!("status {} (expected {})", res.status, case.status));
    }
    if case.method == "HEAD" {
        if !res.body.is_empty() {
            return Err(format!("HEAD answer has a body: {:?}", res.body));
        }
    } else {
        let json = res.json();
        if !json.is_object() {
            return Err(format!("answer is not a JSON object: {:?}", res.body));
        }
        if res.header("content-type") != Some("application/json") {
            return Err(format!("content-type {:?}", res.header("content-type")));
        }
        let field = if case.status >= 400 {
            "error"
        } else {
            "status"
        };
        if json[field] != case.code {
            return Err(format!(
                "{field} = {} (expected {:?})",
                json[field], case.code
            ));
        }
        if case.status >= 400 && json["status"] != "error" {
            return Err(format!("status word {}", json["status"]));
        }
        if case.status == 202 && json["uid"] != case.uid {
            return Err(format!("uid {} (expected {:?})", json["uid"], case.uid));
        }
    }
    if case.status == 405 && res.header("allow") != Some("POST") {
        return Err(format!("Allow {:?}", res.header("allow")));
    }
    // Answers never echo a signature (any run of 16+ hex digits sent in the header, or the
    // valid digest of the body) or a secret.
    let mut digests = signature_values(case);
    digests.push(sign(TEST_WEBHOOK_SECRET.as_bytes(), &case.body));
    for value in &digests {
        for run in value.split(|c: char| !c.is_ascii_hexdigit()) {
            if run.len() >= 16 && res.body.contains(&run[..16]) {
                return Err("the answer echoes the signature".into());
            }
        }
    }
    if res.body.contains(TEST_WEBHOOK_SECRET) || res.body.contains(TEST_WEBHOOK_SECRET_NEXT) {
        return Err("the answer contains a secret".into());
    }
    Ok(())
}

/// The table alone (no workerd): its exact size, so a case lost in an edit is noticed at once.
#[test]
fn the_table_holds_every_case() {
    assert_eq!(table().cases.len(), CASES, "cases in the table");
}

#[test]
fn hostile_and_misconfigured_requests_get_their_contract_answer_and_queue_nothing() {
    let p = shared_pipeline();
    let started = Instant::now();
    let table = table();
    // The real count: a case lost in an edit fails here.
    assert_eq!(table.cases.len(), CASES, "cases in the table");

    let mut failures = Vec::new();
    for (i, case) in table.cases.iter().enumerate() {
        let n = i + 1;
        match send(p, case) {
            Ok(res) => {
                if let Err(why) = verify_answer(case, &res) {
                    failures.push(format!(
                        "#{n} {} ({} {}): {why}; body: {}",
                        case.name,
                        case.method,
                        case.path,
                        res.body.chars().take(300).collect::<String>()
                    ));
                }
            }
            Err(e) => failures.push(format!("#{n} {}: request failed: {e}", case.name)),
        }
        if case.transport == Transport::Chunked && case.status == 413 {
            absorb_dev_server_hiccup(p);
        }
    }
    println!(
        "{} cases answered in {:?}",
        table.cases.len(),
        started.elapsed()
    );

    // A valid marker booking: once its email arrived, anything refused before it had its chance.
    let marker = "hostile-marker";
    let res = send(
        p,
        &Case {
            name: "marker",
            method: "POST",
            path: WEBHOOK.to_owned(),
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: compact(&booking(marker)),
            transport: Transport::Sized,
            sig: Sig::Valid,
            status: 202,
            code: "queued",
            uid: marker.to_owned(),
            check: None,
        },
    )
    .unwrap();
    assert_eq!(res.status, 202, "{}", res.body);

    let accepted: Vec<&Case> = table.cases.iter().filter(|c| c.status == 202).collect();
    // The marker went last: once it arrived, the others had their turn (allow a little for
    // best-effort order).
    let marker_arrived = poll_until(WAIT, || (!p.emails_for(marker).is_empty()).then_some(()));
    assert!(
        marker_arrived.is_some(),
        "the marker never arrived; logs:\n{}",
        p.logs()
    );
    let arrived = poll_until(Duration::from_secs(20), || {
        let emails = p.stub.emails();
        let has = |uid: &str| {
            emails
                .iter()
                .any(|e| e.body["custom_args"]["booking_uid"] == uid)
        };
        (has(marker) && accepted.iter().all(|c| has(&c.uid))).then_some(())
    });
    if arrived.is_none() {
        let missing: Vec<&str> = accepted
            .iter()
            .filter(|c| p.emails_for(&c.uid).is_empty())
            .map(|c| c.name)
            .collect();
        failures.push(format!("accepted bookings without an email: {missing:?}"));
    }

    // Accepted cases: exactly one email each, degraded but safe.
    for case in &accepted {
        let emails = p.emails_for(&case.uid);
        if emails.len() != 1 {
            failures.push(format!("{}: {} emails", case.name, emails.len()));
            continue;
        }
        let m = mail(&emails[0]);
        let checked = std::panic::catch_unwind(|| {
            assert!(
                !m.subject.contains('\r') && !m.subject.contains('\n'),
                "CR/LF in subject {:?}",
                m.subject
            );
            assert!(!m.html.contains("<script"), "raw <script in HTML");
            assert!(m.text.contains(&case.uid), "uid not in text:\n{}", m.text);
            assert!(m.html.contains(&case.uid), "uid not in HTML");
            if let Some(check) = case.check {
                check(&m);
            }
        });
        if let Err(e) = checked {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: email check failed: {why}", case.name));
        }
    }

    // Refused (or ignored) cases: nothing sent, attempted or dead-lettered.
    let attempts = p.stub.attempts();
    let dead = p.stub.dead_letters();
    for case in table.cases.iter().filter(|c| c.status != 202) {
        let uid = case.uid.as_str();
        let attempted = attempts
            .iter()
            .any(|a| a.body["custom_args"]["booking_uid"] == uid);
        let dead_lettered = dead
            .iter()
            .any(|d| d["body"]["original"]["booking"]["uid"] == uid);
        if attempted || dead_lettered {
            failures.push(format!(
                "{} ({uid}): refused with {} but reached the consumer (attempted {attempted}, dead-lettered {dead_lettered})",
                case.name, case.status
            ));
        }
    }
    assert!(
        dead.iter().all(|d| !d["body"]["original"]["booking"]["uid"]
            .as_str()
            .is_some_and(|u| u.starts_with("hostile-"))),
        "no table booking is dead-lettered: {dead:?}"
    );
    let logs = p.logs();
    for crash in ["panicked at", "Uncaught", "RuntimeError: unreachable"] {
        if logs.contains(crash) {
            failures.push(format!("the workers' log shows a crash ({crash})"));
        }
    }

    println!(
        "{} cases ({} accepted) done in {:?}",
        table.cases.len(),
        accepted.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} problem(s) in {} cases:\n{}\n\nlogs:\n{}",
        failures.len(),
        table.cases.len(),
        failures.join("\n"),
        logs.lines()
            .filter(|l| !l.contains("[wrangler:info]"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
