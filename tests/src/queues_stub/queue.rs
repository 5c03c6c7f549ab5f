//! The queue itself, without HTTP: messages, leases, visibility and the `max_retries` rule.
//!
//! Every operation takes `now` and first applies what time has done (expired leases, elapsed
//! retry delays), so the answers are the same whether the queue is driven by requests or looked
//! at from a test.

use crate::base64::base64_encode;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// How a message body was published (`CF-Content-Type` in its metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// JSON text; pulled as base64 of that text.
    Json,
    /// A string; pulled as the plain string.
    Text,
    /// Raw bytes; pulled as base64.
    Bytes,
}

impl ContentType {
    /// The `CF-Content-Type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => "json",
            ContentType::Text => "text",
            ContentType::Bytes => "bytes",
        }
    }
}

/// A message still on the queue (neither acked nor expired), as seen by a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// 32 lowercase hex characters.
    pub id: String,
    /// How many times it was pulled.
    pub attempts: u32,
    pub content_type: ContentType,
    /// The body as text (bytes that are not UTF-8 are shown lossily).
    pub body: String,
    /// Publish time, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Whether a pull's lease hides it right now.
    pub leased: bool,
}

/// One HTTP request the stub answered. The token is never kept, only whether it was right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub status: u16,
    pub auth_valid: bool,
}

/// A message as handed out by one pull.
#[derive(Debug, Clone)]
pub(crate) struct Pulled {
    pub id: String,
    pub bytes: Vec<u8>,
    pub content_type: ContentType,
    pub timestamp_ms: u64,
    pub attempts: u32,
    pub lease_id: String,
}

/// Why a message cannot be pulled right now.
#[derive(Debug, Clone, Copy)]
enum Visibility {
    Visible,
    /// Pulled; hidden until the lease's visibility timeout passes.
    Leased {
        until: Instant,
    },
    /// Retried with a delay; hidden until then, with no lease running.
    Delayed {
        until: Instant,
    },
}

struct Message {
    id: String,
    bytes: Vec<u8>,
    content_type: ContentType,
    timestamp_ms: u64,
    attempts: u32,
    /// Every lease id ever handed out for it, latest last: acks with any of them are accepted.
    leases: Vec<String>,
    visibility: Visibility,
}

/// All state of one stubbed queue, behind the stub's lock.
pub(crate) struct Queue {
    /// In publish order, so "oldest visible first" is a filter over this list.
    messages: Vec<Message>,
    max_retries: u32,
    acked: Vec<String>,
    expired: Vec<String>,
    requests: Vec<RecordedRequest>,
    ids: IdSource,
}

impl Queue {
    pub fn new(max_retries: u32) -> Queue {
        Queue {
            messages: Vec::new(),
            max_retries,
            acked: Vec::new(),
            expired: Vec::new(),
            requests: Vec::new(),
            ids: IdSource::new(),
        }
    }

    /// Adds a visible message; returns its id.
    pub fn publish(&mut self, bytes: Vec<u8>, content_type: ContentType, now_ms: u64) -> String {
        let id = self.ids.message_id();
        self.messages.push(Message {
            id: id.clone(),
            bytes,
            content_type,
            timestamp_ms: now_ms,
            attempts: 0,
            leases: Vec::new(),
            visibility: Visibility::Visible,
        });
        id
    }

    /// Leases up to `batch_size` visible messages, oldest first: each gets one more attempt and a
    /// new lease id, and is hidden for `visibility`.
    pub fn pull(&mut self, batch_size: usize, visibility: Duration, now: Instant) -> Vec<Pulled> {
        self.sweep(now);
        let ids = &mut self.ids;
        self.messages
            .iter_mut()
            .filter(|m| matches!(m.visibility, Visibility::Visible))
            .take(batch_size)
            .map(|m| {
                let lease_id = ids.lease_id();
                m.attempts += 1;
                m.leases.push(lease_id.clone());
                m.visibility = Visibility::Leased {
                    until: now + visibility,
                };
                Pulled {
                    id: m.id.clone(),
                    bytes: m.bytes.clone(),
                    content_type: m.content_type,
                    timestamp_ms: m.timestamp_ms,
                    attempts: m.attempts,
                    lease_id,
                }
            })
            .collect()
    }

    /// Messages not yet acked or expired, leased or not (`message_backlog_count`).
    pub fn backlog(&mut self, now: Instant) -> usize {
        self.sweep(now);
        self.messages.len()
    }

    /// Deletes the message `lease_id` was handed out for; `false` when no stored message has
    /// that lease (already acked, expired, or never issued).
    pub fn ack(&mut self, lease_id: &str, now: Instant) -> bool {
        self.sweep(now);
        let Some(index) = self.position_of_lease(lease_id) else {
            return false;
        };
        let message = self.messages.remove(index);
        self.acked.push(message.id);
        true
    }

    /// Makes the message visible again after `delay`, or deletes it when its attempts already
    /// reached `max_retries` (an explicit retry spends an attempt like an expired lease does).
    /// `false` when no stored message has that lease.
    pub fn retry(&mut self, lease_id: &str, delay: Duration, now: Instant) -> bool {
        self.sweep(now);
        let Some(index) = self.position_of_lease(lease_id) else {
            return false;
        };
        if self.messages[index].attempts >= self.max_retries {
            let message = self.messages.remove(index);
            self.expired.push(message.id);
        } else {
            self.messages[index].visibility = Visibility::Delayed { until: now + delay };
        }
        true
    }

    pub fn stored(&mut self, now: Instant) -> Vec<StoredMessage> {
        self.sweep(now);
        self.messages
            .iter()
            .map(|m| StoredMessage {
                id: m.id.clone(),
                attempts: m.attempts,
                content_type: m.content_type,
                body: String::from_utf8_lossy(&m.bytes).into_owned(),
                timestamp_ms: m.timestamp_ms,
                leased: matches!(m.visibility, Visibility::Leased { .. }),
            })
            .collect()
    }

    pub fn acked(&self) -> Vec<String> {
        self.acked.clone()
    }

    pub fn expired(&mut self, now: Instant) -> Vec<String> {
        self.sweep(now);
        self.expired.clone()
    }

    pub fn record(&mut self, request: RecordedRequest) {
        self.requests.push(request);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.clone()
    }

    fn position_of_lease(&self, lease_id: &str) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.leases.iter().any(|l| l == lease_id))
    }

    /// Applies elapsed time: a passed retry delay makes its message visible; an expired lease
    /// does too, unless the message's attempts reached `max_retries`, in which case it is
    /// deleted for good. That is how pulling without acking uses up a message.
    fn sweep(&mut self, now: Instant) {
        let max_retries = self.max_retries;
        let mut expired = Vec::new();
        self.messages.retain_mut(|m| match m.visibility {
            Visibility::Leased { until } if until <= now => {
                if m.attempts >= max_retries {
                    expired.push(m.id.clone());
                    return false;
                }
                m.visibility = Visibility::Visible;
                true
            }
            Visibility::Delayed { until } if until <= now => {
                m.visibility = Visibility::Visible;
                true
            }
            _ => true,
        });
        self.expired.extend(expired);
    }
}

/// Unpredictable ids without a random-number dependency: std's randomly keyed SipHash over a
/// counter. Uniqueness comes from the counter; the keys make ids differ between stubs and runs.
struct IdSource {
    keys: RandomState,
    counter: u64,
}

impl IdSource {
    fn new() -> IdSource {
        IdSource {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        self.keys.hash_one(self.counter)
    }

    /// 32 lowercase hex characters, like Cloudflare's message ids.
    fn message_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }

    /// An opaque token (base64 of 24 bytes) that looks nothing like a message id, so a client
    /// cannot get away with confusing the two.
    fn lease_id(&mut self) -> String {
        let bytes: Vec<u8> = (0..3).flat_map(|_| self.next_u64().to_be_bytes()).collect();
        base64_encode(&bytes)
    }
}
