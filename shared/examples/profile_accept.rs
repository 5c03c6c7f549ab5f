//! Runs the producer's whole decision (verify, parse, build the message) on a sample many times,
//! for a profiler: `valgrind --tool=callgrind target/release/examples/profile_accept [SAMPLE] [N]`
//! then `callgrind_annotate`. Instruction counts are repeatable on a busy machine, unlike time.
//! With `PROFILE_FORM=forward`, the work the producer's direct path leaves to wasm: the signature
//! already judged (Web Crypto in workerd), the body checked and forwarded whole (`v: 2`); with
//! `PROFILE_FORM=decode`, the consumer's reading of that message into the booking message.

use shared::contract::decode::decode_message_str;
use shared::ingress::signature::{sign, WebhookSecrets};
use shared::ingress::{accept_checked, accept_webhook, Form, Ingress};

fn main() {
    let mut args = std::env::args().skip(1);
    let sample = args.next().unwrap_or_else(|| "booking-created".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let path = if sample.ends_with(".json") {
        sample.clone()
    } else {
        format!("{}/../samples/{sample}.json", env!("CARGO_MANIFEST_DIR"))
    };
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Compact, as Cal.com sends it.
    let body = serde_json::to_vec(&value).unwrap();
    let secrets = WebhookSecrets::parse("whsec_profile");
    let signature = sign(b"whsec_profile", &body);
    let form = std::env::var("PROFILE_FORM").unwrap_or_default();
    let received_at = "2026-12-01T09:00:00.000Z";
    let forwarded = match accept_checked(true, Ok(()), &body, received_at, Form::Forward) {
        Ingress::Forward { body, .. } => body,
        other => panic!("the sample is not forwarded: {other:?}"),
    };
    let mut queued = 0;
    for _ in 0..n {
        let ingress = match form.as_str() {
            "forward" => accept_checked(true, Ok(()), &body, received_at, Form::Forward),
            "decode" => {
                let message = decode_message_str(&forwarded).expect("a forwarded booking");
                queued += message.key.len();
                continue;
            }
            _ => accept_webhook(&secrets, Some(&signature), &body, received_at),
        };
        if let Ingress::Enqueue { body, .. } | Ingress::Forward { body, .. } = ingress {
            queued += body.len();
        }
    }
    println!("{n} × {} B body → {} B of messages", body.len(), queued);
}
