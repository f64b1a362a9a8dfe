-- Reviewer notes: internal remarks on an application, a credit line or an AWS login, never
-- sent to the applicant. A note is added once per form: the form's key is unique per author,
-- so a double-submitted form adds one note.
CREATE TABLE reviewer_notes (
    id              UUID PRIMARY KEY,
    subject_id      UUID NOT NULL REFERENCES workflow_instances (id),
    author          TEXT NOT NULL,
    body            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (author, idempotency_key)
);
CREATE INDEX reviewer_notes_subject ON reviewer_notes (subject_id, created_at);

-- One-time console sign-in links (`creditline console link --name N`): the link's secret kept
-- only as its SHA-256; used once (`used_at`), before `expires_at`, by the API token it names.
CREATE TABLE console_links (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    token_id      TEXT NOT NULL REFERENCES api_tokens (id),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ
);

-- The console's dashboard counts this month's reviewer decisions by event.
CREATE INDEX workflow_events_event_time ON workflow_events (event, occurred_at);
