//! Input: one length byte, the secret part (`CALCOM_WEBHOOK_SECRET`), then the body. Checks the
//! signature for every configured secret and for garbage, then `accept_webhook` and
//! `parse_delivery`. The body of the target is `fuzz/targets.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod targets {
    include!("../targets.rs");
}

fuzz_target!(|data: &[u8]| targets::verify_parse(data));
