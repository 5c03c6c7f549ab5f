//! Runs the producer's whole decision (verify, parse, build the message) on a sample many times,
//! for a profiler: `valgrind --tool=callgrind target/release/examples/profile_accept [SAMPLE] [N]`
//! then `callgrind_annotate`. Instruction counts are repeatable on a busy machine, unlike time.
//! With `PROFILE_HASHING=caller`, the work the producer's direct path leaves to wasm: the
//! signature already judged and the key's SHA-256 left to the caller (Web Crypto in workerd).

use shared::ingress::envelope::KeyHash;
use shared::ingress::signature::{sign, WebhookSecrets};
use shared::ingress::{accept_checked, accept_webhook, Ingress};

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
    let caller = std::env::var("PROFILE_HASHING").is_ok_and(|h| h == "caller");
    let received_at = "2026-12-01T09:00:00.000Z";
    let mut queued = 0;
    for _ in 0..n {
        let ingress = if caller {
            accept_checked(true, Ok(()), &body, received_at, KeyHash::Caller)
        } else {
            accept_webhook(&secrets, Some(&signature), &body, received_at)
        };
        if let Ingress::Enqueue { body, .. } = ingress {
            queued += body.len();
        }
    }
    println!("{n} × {} B body → {} B of messages", body.len(), queued);
}
