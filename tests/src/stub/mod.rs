//! A local HTTP stub that speaks the SendGrid v3 Mail Send API, with observer endpoints.
//!
//! [`Stub::start`] serves on `127.0.0.1` from a dedicated thread that owns its own tokio
//! runtime, so it works from plain `#[test]` functions as well as from async code. Dropping the
//! [`Stub`] stops the server.
//!
//! Routes:
//! - `POST /v3/mail/send`: Bearer auth (401), injected faults, JSON + SendGrid validation (400),
//!   413 past 30 MB, 200 in sandbox mode (not recorded as an email), else 202 + `X-Message-ID`.
//! - `GET /__stub/{emails,attempts,dead-letters,queue-tap,logs,faults}`: JSON observers.
//! - `POST /__stub/{dead-letters,queue-tap,logs,faults}`: append (one value or an array), 204.
//! - `DELETE /__stub/faults`, `POST /__stub/reset`: clear, 204 (reset also turns chaos off).
//! - `GET /__stub/chaos`, `POST /__stub/chaos` (a [`Chaos`] or `null`): seeded chaos, see
//!   [`chaos`](Chaos). Fault rules win over chaos; 400 for an unusable setting.
//! - `GET /`: an HTML inbox; `GET /emails/{index}.html`: one mail's HTML part.

mod chaos;
mod console;
mod control;
mod faults;
mod inbox_html;
mod mail_send;
mod sendgrid;
mod server;
mod state;

pub use chaos::{chaos_hash, Chaos};
pub use console::{describe_attempt, mask_email};
pub use faults::{Fault, FaultRule};
pub use inbox_html::escape as html_escape;
pub use mail_send::HANG_LIMIT;
pub use sendgrid::{plausible_email, validate, ApiError, MAX_BODY_BYTES};
pub use state::{Attempt, ReceivedEmail};

use serde_json::Value;
use state::State;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Handle to a running stub; dropping it stops the server and its thread.
pub struct Stub {
    state: Arc<State>,
    port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    /// Binds `127.0.0.1:port` (0 = pick a free port) and serves from a dedicated thread with its
    /// own runtime, so callers need no runtime. `api_key` is the only Bearer token accepted.
    pub fn start(port: u16, api_key: &str) -> std::io::Result<Stub> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::new(State::new(api_key));
        let router = server::router(state.clone());
        let serve_state = state.clone();
        let (shutdown, shutdown_rx) = oneshot::channel();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let thread = std::thread::Builder::new()
            .name(format!("sendgrid-stub-{port}"))
            .spawn(move || {
                runtime.block_on(server::serve(listener, router, serve_state, shutdown_rx));
                // Dropping the runtime cancels open connections, hanging requests included.
                drop(runtime);
            })?;
        Ok(Stub {
            state,
            port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The port the stub listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Accepted mails (202), in arrival order.
    pub fn emails(&self) -> Vec<ReceivedEmail> {
        self.state.lock().emails.clone()
    }

    /// Every `POST /v3/mail/send` with the status answered, in arrival order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.state.lock().attempts.clone()
    }

    /// Values posted to `/__stub/dead-letters`.
    pub fn dead_letters(&self) -> Vec<Value> {
        self.state.lock().dead_letters.clone()
    }

    /// Values posted to `/__stub/queue-tap`.
    pub fn queue_tap(&self) -> Vec<Value> {
        self.state.lock().queue_tap.clone()
    }

    /// Lines posted to `/__stub/logs`.
    pub fn logs(&self) -> Vec<String> {
        self.state.lock().logs.clone()
    }

    /// Adds a fault rule after the existing ones.
    pub fn push_fault(&self, fault: FaultRule) {
        self.state.push_faults([fault]);
    }

    /// Clears everything recorded, all fault rules and chaos.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Turns seeded chaos on (replacing an earlier setting) or off (`None`). Fault rules still
    /// win over chaos.
    ///
    /// # Panics
    /// When the setting is unusable (see [`Chaos::validate`]); the HTTP route answers 400 instead.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        if let Some(Err(e)) = chaos.as_ref().map(Chaos::validate) {
            panic!("set_chaos: {e}");
        }
        self.state.lock().chaos = chaos;
    }

    /// The current chaos setting.
    pub fn chaos(&self) -> Option<Chaos> {
        self.state.lock().chaos.clone()
    }

    /// Accepted mails from index `start` on (for polling without copying everything each time).
    pub fn emails_since(&self, start: usize) -> Vec<ReceivedEmail> {
        let records = self.state.lock();
        records.emails.get(start..).unwrap_or_default().to_vec()
    }

    /// Dead letters from index `start` on.
    pub fn dead_letters_since(&self, start: usize) -> Vec<Value> {
        let records = self.state.lock();
        records
            .dead_letters
            .get(start..)
            .unwrap_or_default()
            .to_vec()
    }

    /// Client connections currently open (including ones with a hanging request).
    pub fn open_connections(&self) -> usize {
        self.state.open_connections()
    }

    /// Waits until at least `count` mails were accepted; `None` on timeout.
    pub fn wait_for_emails(&self, count: usize, timeout: Duration) -> Option<Vec<ReceivedEmail>> {
        let deadline = Instant::now() + timeout;
        loop {
            let emails = self.emails();
            if emails.len() >= count {
                return Some(emails);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A channel that receives every later mail-send attempt as it is recorded.
    pub fn watch_attempts(&self) -> mpsc::Receiver<Attempt> {
        let (sender, receiver) = mpsc::channel();
        self.state.watch(sender);
        receiver
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Stub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub").field("port", &self.port).finish()
    }
}
