-- Email delivery state on the outbox (issue 7). A row goes pending -> queued (a send job
-- exists, keyed by `id:enqueues`) -> sending (one worker holds it until `lease_until`) ->
-- sent | failed, or back to pending with `available_at` for a retry. `attempts` counts
-- SMTP attempts; `enqueues` makes every job key unique, so a stale or duplicated job finds
-- its row moved on and does nothing.
ALTER TABLE outbox ADD COLUMN enqueues INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN available_at TEXT;
ALTER TABLE outbox ADD COLUMN queued_at TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN message_id TEXT;
CREATE INDEX outbox_deliverable ON outbox (kind, status, available_at);
