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

/// Like [`send`], but the body goes with `Transfer-Encoding: chunked` and no `Content-Length`,
/// over a plain socket that reads the answer *while* still writing.
///
/// A server may answer before the upload ends (the producer's 413 for an oversize body) and then
/// close. A client that reads only after writing everything (reqwest does) then sees a reset
/// instead of the answer, depending on timing. Here a reader thread takes the answer as soon as
/// it arrives and the writer stops at once, so the early answer is what the caller gets.
pub fn send_chunked(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> io::Result<Answer> {
    chunked::send(method, url, headers, &body)
}

mod chunked {
    use super::Answer;
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    const CHUNK: usize = 16 * 1024;

    pub(super) fn send(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Answer> {
        let url = reqwest::Url::parse(url).map_err(io::Error::other)?;
        let host = url.host_str().ok_or_else(|| io::Error::other("no host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let mut stream = TcpStream::connect((host, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;

        let answered = Arc::new(AtomicBool::new(false));
        let reader = {
            let stream = stream.try_clone()?;
            let answered = Arc::clone(&answered);
            thread::spawn(move || read_answer(stream, &answered))
        };

        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // A write error after an early answer is expected; without an answer it is the result.
        let written = write_chunked(&mut stream, head.as_bytes(), body, &answered);
        let read = reader
            .join()
            .map_err(|_| io::Error::other("reader panicked"))?;
        match (read, written) {
            (Ok(answer), _) => Ok(answer),
            (Err(e), Ok(())) | (Err(_), Err(e)) => Err(e),
        }
    }

    fn write_chunked(
        stream: &mut TcpStream,
        head: &[u8],
        body: &[u8],
        answered: &AtomicBool,
    ) -> io::Result<()> {
        stream.write_all(head)?;
        for chunk in body.chunks(CHUNK) {
            if answered.load(Ordering::Acquire) {
                return Ok(());
            }
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            stream.write_all(chunk)?;
            stream.write_all(b"\r\n")?;
        }
        stream.write_all(b"0\r\n\r\n")
    }

    /// Reads until one whole answer is in; flags `answered` as soon as its head is.
    fn read_answer(mut stream: TcpStream, answered: &AtomicBool) -> io::Result<Answer> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                // A reset after the whole answer arrived is the early answer's normal end.
                Err(e) => return parse(&buf, true).ok_or(e),
            };
            buf.extend_from_slice(&chunk[..n]);
            if find(&buf, b"\r\n\r\n").is_some() {
                answered.store(true, Ordering::Release);
            }
            if let Some(answer) = parse(&buf, n == 0) {
                return Ok(answer);
            }
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("closed after {} bytes of answer", buf.len()),
                ));
            }
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    /// The answer in `buf` once it is complete (`closed`: the server has closed the stream).
    fn parse(buf: &[u8], closed: bool) -> Option<Answer> {
        let end = find(buf, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&buf[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let rest = &buf[end + 4..];
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(rest)?
        } else if let Some(len) = header("content-length") {
            let len: usize = len.parse().ok()?;
            rest.get(..len)?.to_vec()
        } else if closed {
            rest.to_vec()
        } else {
            return None;
        };
        Some(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// A chunked body, once its last chunk is in.
    pub(super) fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = find(rest, b"\r\n")?;
            let size = std::str::from_utf8(&rest[..line]).ok()?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[line + 2..];
            if size == 0 {
                return Some(body);
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;

    /// A server that answers 413 after the first bytes of a large chunked upload and closes
    /// with the rest unread (a reset on the wire): the client still reports the 413, every time.
    #[test]
    fn an_early_answer_to_a_chunked_upload_is_what_the_caller_gets() {
        for _ in 0..20 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut first = [0u8; 4096];
                let _ = conn.read(&mut first).unwrap();
                let body = r#"{"status":"error","error":"body_too_large"}"#;
                let answer = format!(
                    "HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(answer.as_bytes()).unwrap();
            });
            let url = format!("http://127.0.0.1:{port}/api/calcom-webhook");
            let res = send_chunked("POST", &url, &[("X-Test", "1")], vec![b'x'; 1 << 20])
                .expect("the early answer, not a reset");
            server.join().unwrap();
            assert_eq!(res.status, 413);
            assert_eq!(res.header("Content-Type"), Some("application/json"));
            assert_eq!(res.json()["error"], "body_too_large");
        }
    }

    /// A server that reads the whole chunked body gets it intact and may answer chunked too.
    #[test]
    fn a_chunked_upload_arrives_whole_and_a_chunked_answer_is_decoded() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let expected = body.clone();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            while !got.ends_with(b"\r\n0\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
            }
            let start = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert!(chunked::dechunk(&got[start..]).unwrap() == expected);
            conn.write_all(b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                .unwrap();
        });
        let url = format!("http://127.0.0.1:{port}/x?y=1");
        let res = send_chunked("POST", &url, &[], body).unwrap();
        server.join().unwrap();
        assert_eq!(res.status, 202);
        assert_eq!(res.body, "hello world");
    }
}
