//! `GET /`: an HTML inbox for a person, and `GET /emails/{index}.html`: one mail's HTML part.
//!
//! Everything taken from requests is HTML-escaped; mail HTML is shown only inside a sandboxed
//! `<iframe srcdoc>` (or, raw, under a `Content-Security-Policy: sandbox` header).

use super::control::not_found;
use super::state::{ReceivedEmail, State};
use axum::extract::{Path, State as Extract};
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use std::fmt::Write;
use std::sync::Arc;

pub(crate) async fn inbox(Extract(state): Extract<Arc<State>>) -> Html<String> {
    let records = state.lock();
    let failed = records
        .attempts
        .iter()
        .filter(|a| !(200..300).contains(&a.status))
        .count();
    Html(render(
        &records.emails,
        failed,
        records.attempts.len(),
        &records.dead_letters,
        records.queue_tap.len(),
        &records.logs,
    ))
}

pub(crate) async fn email_html(
    Extract(state): Extract<Arc<State>>,
    Path(file): Path<String>,
) -> Response {
    let index = file
        .strip_suffix(".html")
        .and_then(|i| i.parse::<usize>().ok());
    let html = index.and_then(|i| {
        let records = state.lock();
        records
            .emails
            .get(i)
            .and_then(|e| content_part(&e.body, "text/html"))
    });
    match html {
        Some(html) => (
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CONTENT_SECURITY_POLICY, "sandbox"),
            ],
            html,
        )
            .into_response(),
        None => not_found().await,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}\
header{background:#1a82e2;color:#fff;padding:.8em 1.5em}header h1{margin:0;font-size:1.3em}\
.counts span{margin-right:1.2em}main{padding:1em 1.5em}\
article{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin-bottom:1em}\
article h3{margin:0 0 .5em}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0 0 .8em}\
dt{font-weight:600;color:#555}dd{margin:0}pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}\
iframe{width:100%;height:420px;border:1px solid #ccc;background:#fff}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left}";

fn render(
    emails: &[ReceivedEmail],
    failed_attempts: usize,
    attempts: usize,
    dead_letters: &[Value],
    queue_tap: usize,
    logs: &[String],
) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <title>SendGrid stub inbox ({count})</title><style>{STYLE}</style></head><body>\
         <header><h1>SendGrid stub inbox</h1><p class=\"counts\">\
         <span id=\"count-emails\">{count} emails</span>\
         <span id=\"count-failed\">{failed_attempts} failed attempts (of {attempts})</span>\
         <span id=\"count-dead-letters\">{dead} dead letters</span>\
         <span>{queue_tap} queue messages tapped</span><span>{log_count} log lines</span></p></header><main>",
        count = emails.len(),
        dead = dead_letters.len(),
        log_count = logs.len(),
    );

    page.push_str("<section id=\"emails\"><h2>Emails (newest first)</h2>");
    if emails.is_empty() {
        page.push_str("<p>No email received yet.</p>");
    }
    for (index, email) in emails.iter().enumerate().rev() {
        render_email(&mut page, index, email);
    }
    page.push_str("</section><section id=\"dead-letters\"><h2>Dead letters</h2>");
    if dead_letters.is_empty() {
        page.push_str("<p>None.</p>");
    }
    for letter in dead_letters {
        let pretty = serde_json::to_string_pretty(letter).unwrap_or_default();
        let _ = write!(page, "<pre>{}</pre>", escape(&pretty));
    }
    page.push_str("</section><section id=\"logs\"><h2>Logs (last 50)</h2>");
    if logs.is_empty() {
        page.push_str("<p>None.</p>");
    } else {
        page.push_str("<pre>");
        for line in logs.iter().skip(logs.len().saturating_sub(50)) {
            let _ = writeln!(page, "{}", escape(line));
        }
        page.push_str("</pre>");
    }
    page.push_str("</section></main></body></html>\n");
    page
}

fn render_email(page: &mut String, index: usize, email: &ReceivedEmail) {
    let body = &email.body;
    let subject = body
        .get("subject")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| body.pointer("/personalizations/0/subject")?.as_str())
        .unwrap_or("(no subject)");
    let personalizations = body
        .get("personalizations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let recipients = |key: &str| -> String {
        personalizations
            .iter()
            .filter_map(|p| p.get(key)?.as_array())
            .flatten()
            .map(address)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = write!(
        page,
        "<article class=\"email\" id=\"email-{index}\"><h3>{}</h3><dl>",
        escape(subject)
    );
    let mut row = |label: &str, value: String| {
        if !value.is_empty() {
            let _ = write!(page, "<dt>{label}</dt><dd>{}</dd>", escape(&value));
        }
    };
    row("From", body.get("from").map(address).unwrap_or_default());
    row("To", recipients("to"));
    row("Cc", recipients("cc"));
    row("Bcc", recipients("bcc"));
    row(
        "Reply-To",
        body.get("reply_to").map(address).unwrap_or_default(),
    );
    row(
        "Categories",
        body.get("categories")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    );
    let mut args = key_values(body.get("custom_args"));
    for p in personalizations {
        args.extend(key_values(p.get("custom_args")));
    }
    row("Custom args", args.join(", "));
    row("X-Message-ID", email.message_id.clone());
    row("Received", format_utc(email.received_at_ms));
    page.push_str("</dl>");
    if let Some(text) = content_part(body, "text/plain") {
        let _ = write!(
            page,
            "<h4>text/plain</h4><pre class=\"text\">{}</pre>",
            escape(&text)
        );
    }
    if let Some(html) = content_part(body, "text/html") {
        let _ = write!(
            page,
            "<h4>text/html (<a href=\"/emails/{index}.html\">open alone</a>)</h4>\
             <iframe sandbox srcdoc=\"{}\" title=\"HTML part of email {index}\"></iframe>",
            escape(&html)
        );
    }
    page.push_str("</article>");
}

/// `Name <email>` or `email`.
fn address(value: &Value) -> String {
    let email = value.get("email").and_then(Value::as_str).unwrap_or("?");
    match value.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => format!("{name} <{email}>"),
        _ => email.to_owned(),
    }
}

fn key_values(args: Option<&Value>) -> Vec<String> {
    args.and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}={v}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the first content part of this MIME type.
pub(crate) fn content_part(body: &Value, mime: &str) -> Option<String> {
    body.get("content")?
        .as_array()?
        .iter()
        .find(|part| {
            part.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(mime))
        })?
        .get("value")?
        .as_str()
        .map(str::to_owned)
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix milliseconds.
fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_everything_from_requests() {
        let email = ReceivedEmail {
            message_id: "id\"<x>".into(),
            body: json!({
                "subject": "<script>alert(1)</script>",
                "from": {"email": "a@example.com", "name": "A & B"},
                "personalizations": [{"to": [{"email": "t@example.com"}]}],
                "content": [
                    {"type": "text/plain", "value": "</pre><b>"},
                    {"type": "text/html", "value": "<p class=\"x\">it's</p>"}
                ]
            }),
            received_at_ms: 0,
        };
        let page = render(&[email], 0, 1, &[json!({"k": "<dl>"})], 0, &[]);
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("A &amp; B &lt;a@example.com&gt;"));
        assert!(page.contains("&lt;/pre&gt;&lt;b&gt;"));
        assert!(page.contains("srcdoc=\"&lt;p class=&quot;x&quot;&gt;it&#39;s&lt;/p&gt;\""));
        assert!(page.contains("id&quot;&lt;x&gt;"));
        assert!(page.contains("&quot;&lt;dl&gt;&quot;"));
        assert!(page.contains("1970-01-01 00:00:00 UTC"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
    }
}
