-- Reviewer task queue: one assignee at a time; and the audit log of every API mutation.
ALTER TABLE tasks ADD COLUMN assignee TEXT;
ALTER TABLE tasks ADD COLUMN claimed_at TEXT;
CREATE INDEX tasks_assignee ON tasks (assignee, state);

CREATE TABLE audit_log (
    id             BLOB PRIMARY KEY NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    version_before INTEGER,
    version_after  INTEGER,
    request_id     TEXT NOT NULL,
    detail         TEXT NOT NULL DEFAULT '{}',
    at             TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
