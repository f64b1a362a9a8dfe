-- Workflow instances, their append-only event log and the transactional outbox.
-- Every mutable row carries `version` for optimistic concurrency.

CREATE TABLE workflow_instances (
    id            BLOB PRIMARY KEY NOT NULL,
    workflow      TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    state         TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    account_email TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX workflow_instances_account ON workflow_instances (account_email, workflow);
CREATE INDEX workflow_instances_state ON workflow_instances (workflow, state);

CREATE TABLE applications (
    id                    BLOB PRIMARY KEY NOT NULL REFERENCES workflow_instances (id),
    reference             TEXT NOT NULL UNIQUE,
    account_email         TEXT NOT NULL,
    applicant_kind        TEXT,
    requested_limit_cents INTEGER,
    details               TEXT NOT NULL DEFAULT '{}',
    created_at            TEXT NOT NULL
) STRICT;
CREATE INDEX applications_account ON applications (account_email);

CREATE TABLE workflow_events (
    id           BLOB PRIMARY KEY NOT NULL,
    instance_id  BLOB NOT NULL REFERENCES workflow_instances (id),
    version      INTEGER NOT NULL,
    event        TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    decision_ids TEXT NOT NULL DEFAULT '[]',
    occurred_at  TEXT NOT NULL,
    -- One event per version: a second writer from the same version cannot append.
    UNIQUE (instance_id, version)
) STRICT;

CREATE TABLE outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    instance_id     BLOB NOT NULL REFERENCES workflow_instances (id),
    event_id        BLOB NOT NULL REFERENCES workflow_events (id),
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'task')),
    name            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    processed_at    TEXT
) STRICT;
CREATE INDEX outbox_pending ON outbox (status, created_at);
CREATE INDEX outbox_instance ON outbox (instance_id);

CREATE TABLE rule_decisions (
    id          BLOB PRIMARY KEY NOT NULL,
    subject_id  BLOB,
    rule        TEXT NOT NULL,
    version     TEXT NOT NULL,
    input       TEXT NOT NULL,
    output      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    reasons     TEXT NOT NULL,
    duration_us INTEGER NOT NULL,
    decided_at  TEXT NOT NULL
) STRICT;
CREATE INDEX rule_decisions_subject ON rule_decisions (subject_id, decided_at);

-- History is append-only: the database refuses to rewrite it.
CREATE TRIGGER workflow_events_no_update BEFORE UPDATE ON workflow_events
BEGIN SELECT RAISE(ABORT, 'workflow_events is append-only'); END;
CREATE TRIGGER workflow_events_no_delete BEFORE DELETE ON workflow_events
BEGIN SELECT RAISE(ABORT, 'workflow_events is append-only'); END;
CREATE TRIGGER rule_decisions_no_update BEFORE UPDATE ON rule_decisions
BEGIN SELECT RAISE(ABORT, 'rule_decisions is append-only'); END;
CREATE TRIGGER rule_decisions_no_delete BEFORE DELETE ON rule_decisions
BEGIN SELECT RAISE(ABORT, 'rule_decisions is append-only'); END;
