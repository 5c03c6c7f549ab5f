//! Input: a queue body. Decodes it (`decode_message_str`, and as a JSON value `decode_message`);
//! a message that decodes is rendered and turned into a SendGrid request. The body of the target
//! is `fuzz/targets.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod targets {
    include!("../targets.rs");
}

fuzz_target!(|data: &[u8]| targets::decode_render(data));
