-- Workflow instances, their append-only event log and the transactional outbox.
-- Every mutable row carries `version` for optimistic concurrency.

CREATE TABLE workflow_instances (
    id            UUID PRIMARY KEY,
    workflow      TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    state         TEXT NOT NULL,
    version       BIGINT NOT NULL CHECK (version >= 1),
    account_email TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX workflow_instances_account ON workflow_instances (account_email, workflow);
CREATE INDEX workflow_instances_state ON workflow_instances (workflow, state);

CREATE TABLE applications (
    id                    UUID PRIMARY KEY REFERENCES workflow_instances (id),
    reference             TEXT NOT NULL UNIQUE,
    account_email         TEXT NOT NULL,
    applicant_kind        TEXT,
    requested_limit_cents BIGINT,
    details               JSONB NOT NULL DEFAULT '{}',
    created_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX applications_account ON applications (account_email);

CREATE TABLE workflow_events (
    id           UUID PRIMARY KEY,
    instance_id  UUID NOT NULL REFERENCES workflow_instances (id),
    version      BIGINT NOT NULL,
    event        TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    decision_ids JSONB NOT NULL DEFAULT '[]',
    occurred_at  TIMESTAMPTZ NOT NULL,
    -- One event per version: a second writer from the same version cannot append.
    UNIQUE (instance_id, version)
);

CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    instance_id     UUID NOT NULL REFERENCES workflow_instances (id),
    event_id        UUID NOT NULL REFERENCES workflow_events (id),
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'task')),
    name            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         JSONB NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    processed_at    TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (status, created_at);
CREATE INDEX outbox_instance ON outbox (instance_id);

CREATE TABLE rule_decisions (
    id          UUID PRIMARY KEY,
    subject_id  UUID,
    rule        TEXT NOT NULL,
    version     TEXT NOT NULL,
    input       JSONB NOT NULL,
    output      JSONB NOT NULL,
    outcome     TEXT NOT NULL,
    reasons     JSONB NOT NULL,
    duration_us BIGINT NOT NULL,
    decided_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX rule_decisions_subject ON rule_decisions (subject_id, decided_at);

-- History is append-only: the database refuses to rewrite it.
CREATE FUNCTION creditline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER workflow_events_append_only BEFORE UPDATE OR DELETE ON workflow_events
    FOR EACH ROW EXECUTE FUNCTION creditline_append_only();
CREATE TRIGGER rule_decisions_append_only BEFORE UPDATE OR DELETE ON rule_decisions
    FOR EACH ROW EXECUTE FUNCTION creditline_append_only();
