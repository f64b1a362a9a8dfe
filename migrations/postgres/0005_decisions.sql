-- Reviewer decisions: the credit lines approvals open, and the responses kept for
-- Idempotency-Key replays.

CREATE TABLE credit_lines (
    id                  UUID PRIMARY KEY REFERENCES workflow_instances (id),
    account_email       TEXT NOT NULL,
    -- One line per application, however often an approval is retried.
    application_id      UUID NOT NULL UNIQUE REFERENCES applications (id),
    monthly_limit_cents BIGINT NOT NULL CHECK (monthly_limit_cents > 0),
    approved_by         TEXT NOT NULL,
    second_approver     TEXT,
    opened_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX credit_lines_account ON credit_lines (account_email);

-- A mutation's answer, kept in the mutation's transaction: the same key again gets the same
-- answer and causes nothing. Keys belong to the caller (the token name) that sent them.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    response     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (caller, key)
);
