//! A local stand-in for Sentry's envelope endpoint (`POST /api/<project>/envelope/`): checks the
//! `X-Sentry-Auth` header and the envelope's three JSON lines like Sentry's ingest does, answers
//! 200 with `{"id": …}` (400 with `{"detail": …}` otherwise), and records what it accepted.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One accepted envelope: its event (third line) and the auth header.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub auth: String,
    pub event: serde_json::Value,
    pub raw: String,
}

pub struct SentryStub {
    port: u16,
    accepted: Arc<Mutex<Vec<Envelope>>>,
}

impl SentryStub {
    pub fn start() -> io::Result<SentryStub> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let sink = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &sink);
                });
            }
        });
        Ok(SentryStub { port, accepted })
    }

    /// A DSN pointing at this stub (project 4242).
    pub fn dsn(&self) -> String {
        format!("http://publickey123@127.0.0.1:{}/4242", self.port)
    }

    pub fn envelopes(&self) -> Vec<Envelope> {
        self.accepted.lock().expect("sentry stub state").clone()
    }
}

fn serve(stream: TcpStream, sink: &Mutex<Vec<Envelope>>) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let (mut length, mut auth) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "x-sentry-auth" => auth = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let raw = String::from_utf8_lossy(&body).into_owned();
    let verdict = check(&request_line, &auth, &raw);
    let (status, answer) = match verdict {
        Ok(event) => {
            let id = event["event_id"].as_str().unwrap_or("").to_owned();
            sink.lock()
                .expect("sentry stub state")
                .push(Envelope { auth, event, raw });
            ("200 OK", serde_json::json!({ "id": id }))
        }
        Err(detail) => ("400 Bad Request", serde_json::json!({ "detail": detail })),
    };
    let answer = answer.to_string();
    let mut stream = stream;
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}", answer.len())
}

fn check(request_line: &str, auth: &str, raw: &str) -> Result<serde_json::Value, String> {
    if !request_line.starts_with("POST /api/4242/envelope/ ") {
        return Err(format!("unexpected request {request_line:?}"));
    }
    if !(auth.starts_with("Sentry ")
        && auth.contains("sentry_version=7")
        && auth.contains("sentry_key=publickey123"))
    {
        return Err("missing or invalid X-Sentry-Auth".into());
    }
    let lines: Vec<&str> = raw.trim_end_matches('\n').split('\n').collect();
    let [header, item, event] = lines.as_slice() else {
        return Err(format!("expected 3 lines, got {}", lines.len()));
    };
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).map_err(|e| e.to_string());
    let (header, item, event) = (parse(header)?, parse(item)?, parse(event)?);
    if item["type"] != "event" || item["length"].as_u64() != Some(lines[2].len() as u64) {
        return Err("bad item header".into());
    }
    if header["event_id"] != event["event_id"]
        || event["event_id"].as_str().map(str::len) != Some(32)
    {
        return Err("event_id must match and be 32 hex characters".into());
    }
    Ok(event)
}
