//! Optional Sentry events (`SENTRY_DSN`): `shared::sentry` decides whether and what to send, with
//! the rate limit and event counter this isolate keeps here; this posts it after the answer
//! or the batch with `ctx.wait_until`.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;

use shared::sentry::{outgoing, Outgoing, RateLimit, Report, SENTRY_DSN_ENV};
use worker::js_sys::Date as JsDate;
use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, Fetch, Headers, Method, Request, RequestInit};

thread_local! {
    // Per isolate: a Worker isolate runs one thread.
    static LIMIT: RefCell<RateLimit> = RefCell::default();
}

/// Events sent by this isolate, for their ids.
static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn report(env: &Env, ctx: &Context, report: &Report) {
    if let Some(event) = prepare(env, report) {
        ctx.wait_until(post(event));
    }
}

/// [`report`] from inside `ctx.wait_until` (a background record that never landed): posts now.
pub async fn report_now(env: &Env, report: &Report<'_>) {
    if let Some(event) = prepare(env, report) {
        post(event).await;
    }
}

fn prepare(env: &Env, report: &Report) -> Option<Outgoing> {
    let dsn = env.secret(SENTRY_DSN_ENV).ok().map(|s| s.to_string());
    let now_iso = String::from(JsDate::new_0().to_iso_string());
    LIMIT.with(|limit| {
        outgoing(
            dsn.as_deref(),
            report,
            JsDate::now(),
            &now_iso,
            &mut limit.borrow_mut(),
            &COUNTER,
        )
    })
}

async fn post(event: Outgoing) {
    let headers = Headers::new();
    let _ = headers.set("X-Sentry-Auth", &event.auth);
    let _ = headers.set("Content-Type", "application/x-sentry-envelope");
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&event.body)));
    if let Ok(request) = Request::new_with_init(&event.url, &init) {
        let _ = Fetch::Request(request).send().await;
    }
}
