//! A local stand-in for Cloudflare Queues' HTTP **pull consumer** REST API, for testing tools
//! that drain a queue (the dead-letter queue) from outside Workers.
//!
//! [`QueuesStub::start`] serves `http://127.0.0.1:PORT/client/v4` (the real base is
//! `https://api.cloudflare.com/client/v4`) from a dedicated thread with its own tokio runtime, so
//! plain `#[test]` functions can use it. Dropping the stub stops the server. One account
//! ([`ACCOUNT_ID`]) holds one queue ([`QUEUE_ID`]); [`API_TOKEN`] is the only Bearer token taken.
//!
//! Routes (everything else: 404, or 405 with `Allow: POST`; every answer is JSON in Cloudflare's
//! `{"success", "errors", "messages", "result"}` envelope):
//! - `POST /client/v4/accounts/{account_id}/queues/{queue_id}/messages/pull`, body
//!   `{"batch_size": 1..=100 (5), "visibility_timeout_ms": 0..=43200000 (30000)}`: short poll,
//!   oldest visible first. `json` and `bytes` bodies come base64-encoded, `text` ones as is.
//! - `POST …/messages/ack`, body `{"acks": [{"lease_id"}], "retries": [{"lease_id",
//!   "delay_seconds"}]}`: answers `{"ackCount", "retryCount", "warnings"}`; unknown leases are
//!   only warned about.
//!
//! Errors: 401 (code 10000) for a missing or wrong token, 404 for an unknown account or queue,
//! 400 naming the field for a body that is not a JSON object or a field out of range.
//!
//! Like the real service, a pull counts as a delivery attempt whether or not it is acked: when a
//! lease runs out (or a retry is asked for) and the message's attempts have reached
//! `max_retries`, the message is deleted for good ([`QueuesStub::expired`]).

mod api;
mod queue;

pub use crate::base64::{base64_decode, base64_encode};
pub use api::API_PREFIX;
pub use queue::{ContentType, RecordedRequest, StoredMessage};

use queue::Queue;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// The only account id served (32 hex, like Cloudflare's).
pub const ACCOUNT_ID: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// The only queue id served: the dead-letter queue's.
pub const QUEUE_ID: &str = "d1e0d1e0a5a5b6b6c7c7d8d8e9e9f0f0";
/// The only Bearer token accepted (40 characters, like a Cloudflare API token; not a secret).
pub const API_TOKEN: &str = "queues-stub-token-0123456789abcdefghijkl";
/// `max_retries` of [`QueuesStub::start`], Cloudflare's default for a consumer.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Handle to a running stub; dropping it stops the server and joins its thread.
pub struct QueuesStub {
    queue: Arc<Mutex<Queue>>,
    port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl QueuesStub {
    /// Starts on a free port with `max_retries` 3.
    ///
    /// # Panics
    /// When no port can be bound or the thread cannot start (a test cannot go on then anyway).
    pub fn start() -> QueuesStub {
        QueuesStub::start_with_max_retries(DEFAULT_MAX_RETRIES)
    }

    /// Starts on a free port with the consumer's `max_retries` set like
    /// `wrangler queues consumer http add --message-retries N`.
    ///
    /// # Panics
    /// As [`QueuesStub::start`].
    pub fn start_with_max_retries(max_retries: u32) -> QueuesStub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("queues stub binds");
        listener
            .set_nonblocking(true)
            .expect("queues stub listener");
        let port = listener.local_addr().expect("queues stub address").port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("queues stub runtime");
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("queues stub listener")
        };
        let queue = Arc::new(Mutex::new(Queue::new(max_retries)));
        let router = api::router(queue.clone());
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("queues-stub-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, router).into_future() => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Dropping the runtime cancels open connections, keep-alive ones included.
                drop(runtime);
            })
            .expect("queues stub thread");
        QueuesStub {
            queue,
            port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/client/v4`, to use where `https://api.cloudflare.com/client/v4`
    /// would go.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}{API_PREFIX}", self.port)
    }

    /// `{base_url}/accounts/{ACCOUNT_ID}/queues/{QUEUE_ID}/messages/pull`
    pub fn pull_url(&self) -> String {
        format!("{}/messages/pull", self.queue_url())
    }

    /// `{base_url}/accounts/{ACCOUNT_ID}/queues/{QUEUE_ID}/messages/ack`
    pub fn ack_url(&self) -> String {
        format!("{}/messages/ack", self.queue_url())
    }

    fn queue_url(&self) -> String {
        format!(
            "{}/accounts/{ACCOUNT_ID}/queues/{QUEUE_ID}",
            self.base_url()
        )
    }

    /// Puts a JSON message on the queue (content type `json`); returns its id.
    pub fn publish_json(&self, body: &serde_json::Value) -> String {
        self.publish(body.to_string().into_bytes(), ContentType::Json)
    }

    /// Puts a text message on the queue (content type `text`); returns its id.
    pub fn publish_text(&self, body: &str) -> String {
        self.publish(body.as_bytes().to_vec(), ContentType::Text)
    }

    /// Puts a raw message on the queue (content type `bytes`); returns its id.
    pub fn publish_bytes(&self, body: &[u8]) -> String {
        self.publish(body.to_vec(), ContentType::Bytes)
    }

    fn publish(&self, bytes: Vec<u8>, content_type: ContentType) -> String {
        lock(&self.queue).publish(bytes, content_type, unix_ms())
    }

    /// Messages neither acked nor expired, in publish order.
    pub fn stored(&self) -> Vec<StoredMessage> {
        lock(&self.queue).stored(Instant::now())
    }

    /// Ids of acked messages, in ack order.
    pub fn acked(&self) -> Vec<String> {
        lock(&self.queue).acked()
    }

    /// Ids of messages deleted by the `max_retries` rule, in the order they went.
    pub fn expired(&self) -> Vec<String> {
        lock(&self.queue).expired(Instant::now())
    }

    /// Every HTTP request answered, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.queue).requests()
    }
}

impl Drop for QueuesStub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for QueuesStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuesStub")
            .field("port", &self.port)
            .finish()
    }
}

/// The queue's lock. A panic while it was held (an assertion in a test thread, say) must not
/// turn every later request into a second panic, so poisoning is ignored.
fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
