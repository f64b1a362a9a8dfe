-- Email delivery state on the outbox (issue 7); see the SQLite migration of the same name.
ALTER TABLE outbox ADD COLUMN enqueues BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN available_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN queued_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN message_id TEXT;
CREATE INDEX outbox_deliverable ON outbox (kind, status, available_at);
