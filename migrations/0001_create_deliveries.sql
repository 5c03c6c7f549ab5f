-- The delivery ledger (D1 database booking-deliveries, binding LEDGER). One row per idempotency
-- key; see shared/src/delivery/ledger.rs for the protocol. Times are Unix milliseconds.
CREATE TABLE deliveries (
  key TEXT PRIMARY KEY,              -- the queue message's idempotency key
  state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'unknown')),
  claim_id TEXT NOT NULL,            -- which attempt holds (or last held) the claim
  claimed_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,  -- how many times it was claimed
  trigger TEXT,
  booking_uid TEXT,
  sendgrid_message_id TEXT,          -- X-Message-ID of the accepted send
  sent_at INTEGER,
  last_status INTEGER,               -- the last SendGrid status, if any
  note TEXT,                         -- why it failed or is unknown
  updated_at INTEGER NOT NULL
);

-- The operator's audit queries: recent deliveries, and a booking's history.
CREATE INDEX deliveries_updated_at ON deliveries (updated_at);
CREATE INDEX deliveries_booking_uid ON deliveries (booking_uid);
