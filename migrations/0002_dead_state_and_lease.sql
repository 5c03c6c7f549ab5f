-- Two additions to the delivery ledger (see shared/src/delivery/ledger.rs):
-- - state 'dead': the message was dead-lettered after a known failure (nothing was sent); a
--   replay may claim it again, like 'failed';
-- - lease_until: until when (Unix ms) a claim holds. The claim's holder sets it to cover its
--   whole batch (claim, every wave of sends, record), so readers need not guess.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt, rows kept.
CREATE TABLE deliveries_v2 (
  key TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'unknown', 'dead')),
  claim_id TEXT NOT NULL,
  claimed_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,
  trigger TEXT,
  booking_uid TEXT,
  sendgrid_message_id TEXT,
  sent_at INTEGER,
  last_status INTEGER,
  note TEXT,
  updated_at INTEGER NOT NULL
);

-- Claims written before this migration held for the SendGrid timeout plus 30 s (40 s by default).
INSERT INTO deliveries_v2 (key, state, claim_id, claimed_at, lease_until, attempts, trigger,
  booking_uid, sendgrid_message_id, sent_at, last_status, note, updated_at)
SELECT key, state, claim_id, claimed_at, claimed_at + 40000, attempts, trigger,
  booking_uid, sendgrid_message_id, sent_at, last_status, note, updated_at
FROM deliveries;

DROP TABLE deliveries;
ALTER TABLE deliveries_v2 RENAME TO deliveries;

CREATE INDEX deliveries_updated_at ON deliveries (updated_at);
CREATE INDEX deliveries_booking_uid ON deliveries (booking_uid);
