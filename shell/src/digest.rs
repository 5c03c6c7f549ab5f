//! The runtime's SHA-256 as the core's `Sha256Engine`: `node:crypto`'s `createHash`, which
//! workerd runs in C++ (BoringSSL, with the CPU's SHA instructions). Compiled to wasm, `sha2`
//! has neither, and hashing was most of the producer's own CPU per webhook.
//!
//! `node:crypto` needs the `nodejs_compat` flag (wrangler.producer.toml). Where the module
//! cannot be had, `sha2` does the work: slower, the same digest.

use shared::ingress::digest::{Sha2, Sha256Engine, DIGEST_LEN};
use worker::js_sys::{self, Function, Reflect};
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};

#[wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
extern "C" {
    /// The `node:crypto` module.
    type NodeCrypto;
    #[wasm_bindgen(method, catch, js_name = createHash)]
    fn create_hash(this: &NodeCrypto, algorithm: &str) -> Result<NodeHash, JsValue>;

    /// A `Hash` from `createHash`.
    type NodeHash;
    /// Returns the hash itself, which is not needed here.
    #[wasm_bindgen(method, catch)]
    fn update(this: &NodeHash, data: &[u8]) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn digest(this: &NodeHash) -> Result<Vec<u8>, JsValue>;
}

thread_local! {
    /// Loaded once per isolate.
    static NODE_CRYPTO: Option<NodeCrypto> = load();
}

/// `process.getBuiltinModule("node:crypto")`, if this isolate has it.
fn load() -> Option<NodeCrypto> {
    let process = Reflect::get(&js_sys::global(), &JsValue::from_str("process")).ok()?;
    let get = Reflect::get(&process, &JsValue::from_str("getBuiltinModule")).ok()?;
    let module = get
        .dyn_into::<Function>()
        .ok()?
        .call1(&process, &JsValue::from_str("node:crypto"))
        .ok()?;
    module.is_object().then(|| module.unchecked_into())
}

/// The runtime's SHA-256 where the isolate has `node:crypto`, else `sha2`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeSha256;

impl Sha256Engine for RuntimeSha256 {
    fn sha256(&self, parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
        NODE_CRYPTO
            .with(|crypto| crypto.as_ref().and_then(|crypto| hash(crypto, parts)))
            .unwrap_or_else(|| Sha2.sha256(parts))
    }
}

/// Three calls into the runtime whatever the parts: they are joined here first, a copy that
/// costs less than a call per part.
fn hash(crypto: &NodeCrypto, parts: &[&[u8]]) -> Option<[u8; DIGEST_LEN]> {
    let hash = crypto.create_hash("sha256").ok()?;
    match parts {
        [one] => hash.update(one).ok()?,
        _ => hash.update(&parts.concat()).ok()?,
    }
    hash.digest().ok()?.try_into().ok()
}
