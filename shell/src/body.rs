//! Reading a request: its body with a size cap, and its headers. Works on the runtime's
//! `Request` directly: `worker::Request` would also read the request's `cf` object, which the
//! runtime builds anew for each request, and which nothing here uses.

use futures_util::StreamExt;
use shared::ingress::BodyRead;
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::ByteStream;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// Larger than allowed (answered 413).
    TooLarge,
    /// The upload broke off or the stream failed (answered `body_read_failed`, 400).
    Broken,
}

/// Reads at most `max` bytes. `BodyRead` decides how: a declared oversize body is refused
/// unread, a declared length is read in one copy (`arrayBuffer`), and only a body without one is
/// streamed.
pub async fn read_capped(req: &web_sys::Request, max: usize) -> Result<Vec<u8>, Unread> {
    match BodyRead::plan(header(req, "Content-Length").as_deref(), max) {
        BodyRead::TooLarge => Err(Unread::TooLarge),
        BodyRead::Whole => {
            let read = req.array_buffer().map_err(|_| Unread::Broken)?;
            let buffer = JsFuture::from(read).await.map_err(|_| Unread::Broken)?;
            let body = Uint8Array::new(&buffer).to_vec();
            // The runtime ends a body at its declared length; this only guards that.
            if body.len() > max {
                return Err(Unread::TooLarge);
            }
            Ok(body)
        }
        BodyRead::Chunked => read_chunked(req, max).await,
    }
}

/// Streams a body without a declared length, stopping as soon as it passes `max`.
async fn read_chunked(req: &web_sys::Request, max: usize) -> Result<Vec<u8>, Unread> {
    // No body at all reads as an empty one (then refused by whoever needs one).
    let Some(body) = req.body() else {
        return Ok(Vec::new());
    };
    let mut stream = ByteStream::from(body);
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Unread::Broken)?;
        if body.len() + chunk.len() > max {
            return Err(Unread::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request header's value, if present.
pub fn header(req: &web_sys::Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}
