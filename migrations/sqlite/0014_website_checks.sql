-- Website evidence (issue 23 item 6). One check per application and website address, asked
-- for in the intake transaction that learns the address (so re-running intake or the job
-- adds nothing: the pair is unique). A row goes pending -> queued (a job exists, keyed by
-- `id:enqueues`) -> done, with what the fetch found in `evidence`; a queued row whose job
-- never ran is queued again after a while under a new number, so a stale job does nothing.
CREATE TABLE website_checks (
    id             BLOB PRIMARY KEY NOT NULL,
    application_id BLOB NOT NULL REFERENCES applications (id),
    url            TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'queued', 'done')),
    enqueues       INTEGER NOT NULL DEFAULT 0,
    requested_at   TEXT NOT NULL,
    queued_at      TEXT,
    checked_at     TEXT,
    evidence       TEXT,
    UNIQUE (application_id, url)
) STRICT;
CREATE INDEX website_checks_open ON website_checks (status, requested_at);
