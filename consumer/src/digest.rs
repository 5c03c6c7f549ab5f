//! SHA-256 by the runtime's Web Crypto, for the idempotency keys the core asks to have hashed
//! (`Step::Digest`). V8 runs SHA-256 compiled to wasm at about twice the instructions of the
//! runtime's native code (docs/PERFORMANCE.md). A digest that fails is answered `None`, and the
//! core hashes that key itself.

use futures_util::future::join_all;
use worker::js_sys::{Promise, Uint8Array};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, js_sys = ::worker::js_sys)]
extern "C" {
    /// `crypto.subtle.digest(algorithm, data)`.
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = digest, catch)]
    fn subtle_digest(algorithm: &str, data: &Uint8Array) -> Result<Promise, JsValue>;
}

/// Each input's SHA-256, in order.
pub async fn sha256_all(inputs: &[Vec<u8>]) -> Vec<Option<[u8; 32]>> {
    join_all(inputs.iter().map(|input| sha256(input))).await
}

async fn sha256(input: &[u8]) -> Option<[u8; 32]> {
    let digest = subtle_digest("SHA-256", &Uint8Array::from(input)).ok()?;
    let digest = JsFuture::from(digest).await.ok()?;
    Uint8Array::new(&digest).to_vec().try_into().ok()
}
