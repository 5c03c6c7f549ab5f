//! A small blocking HTTP client for tests and tools (reqwest underneath).

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("http client")
    })
}

/// Sends a request with the given method, headers and body.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> io::Result<Answer> {
    send_body(method, url, headers, body.into())
}

/// Like [`send`], but the body is a reader of unknown length: reqwest then sends it with
/// `Transfer-Encoding: chunked` and no `Content-Length`.
pub fn send_chunked(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> io::Result<Answer> {
    let reader = reqwest::blocking::Body::new(io::Cursor::new(body));
    send_body(method, url, headers, reader)
}

fn send_body(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: reqwest::blocking::Body,
) -> io::Result<Answer> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(io::Error::other)?;
    let mut req = client().request(method, url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().map_err(io::Error::other)?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = res.text().map_err(io::Error::other)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// `GET url` → (status, body).
pub fn get(url: &str) -> io::Result<(u16, String)> {
    send("GET", url, &[], Vec::new()).map(|a| (a.status, a.body))
}
