-- Support-inbox intake: every raw message kept before it is parsed, what was read from it
-- (with provenance), attachments, evidence, and reviewer tasks.

CREATE TABLE inbound_messages (
    sha256         TEXT PRIMARY KEY NOT NULL,
    message_id     TEXT NOT NULL UNIQUE,
    size           INTEGER NOT NULL,
    raw            BLOB,
    source         TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    outcome        TEXT,
    application_id BLOB,
    report         TEXT,
    processed_at   TEXT
) STRICT;
CREATE INDEX inbound_messages_application ON inbound_messages (application_id);

CREATE TABLE message_attachments (
    message_sha256 TEXT NOT NULL REFERENCES inbound_messages (sha256),
    position       INTEGER NOT NULL,
    filename       TEXT,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    PRIMARY KEY (message_sha256, position)
) STRICT;

CREATE TABLE application_fields (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id BLOB NOT NULL REFERENCES applications (id),
    field          TEXT NOT NULL,
    value          TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    excerpt        TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
) STRICT;
CREATE INDEX application_fields_application ON application_fields (application_id, id);

CREATE TABLE evidence (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id BLOB NOT NULL REFERENCES applications (id),
    kind           TEXT NOT NULL,
    data           TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
) STRICT;

CREATE TABLE tasks (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'open',
    subject_id      BLOB,
    message_sha256  TEXT,
    title           TEXT NOT NULL,
    details         TEXT NOT NULL DEFAULT '{}',
    idempotency_key TEXT NOT NULL UNIQUE,
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX tasks_kind_state ON tasks (kind, state, created_at);
