-- Website evidence (issue 23 item 6); see the SQLite migration of the same name.
CREATE TABLE website_checks (
    id             UUID PRIMARY KEY,
    application_id UUID NOT NULL REFERENCES applications (id),
    url            TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'queued', 'done')),
    enqueues       BIGINT NOT NULL DEFAULT 0,
    requested_at   TIMESTAMPTZ NOT NULL,
    queued_at      TIMESTAMPTZ,
    checked_at     TIMESTAMPTZ,
    evidence       JSONB,
    UNIQUE (application_id, url)
);
CREATE INDEX website_checks_open ON website_checks (status, requested_at);
