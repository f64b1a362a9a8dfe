-- Support-inbox intake: every raw message kept before it is parsed, what was read from it
-- (with provenance), attachments, evidence, and reviewer tasks.

CREATE TABLE inbound_messages (
    sha256         TEXT PRIMARY KEY NOT NULL,
    message_id     TEXT NOT NULL UNIQUE,
    size           BIGINT NOT NULL,
    raw            BYTEA,
    source         TEXT NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL,
    outcome        TEXT,
    application_id UUID,
    report         JSONB,
    processed_at   TIMESTAMPTZ
);
CREATE INDEX inbound_messages_application ON inbound_messages (application_id);

CREATE TABLE message_attachments (
    message_sha256 TEXT NOT NULL REFERENCES inbound_messages (sha256),
    position       BIGINT NOT NULL,
    filename       TEXT,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    PRIMARY KEY (message_sha256, position)
);

CREATE TABLE application_fields (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id UUID NOT NULL REFERENCES applications (id),
    field          TEXT NOT NULL,
    value          TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    excerpt        TEXT NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX application_fields_application ON application_fields (application_id, id);

CREATE TABLE evidence (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id UUID NOT NULL REFERENCES applications (id),
    kind           TEXT NOT NULL,
    data           JSONB NOT NULL,
    message_id     TEXT NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE tasks (
    id              UUID PRIMARY KEY,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'open',
    subject_id      UUID,
    message_sha256  TEXT,
    title           TEXT NOT NULL,
    details         JSONB NOT NULL DEFAULT '{}',
    idempotency_key TEXT NOT NULL UNIQUE,
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_kind_state ON tasks (kind, state, created_at);
