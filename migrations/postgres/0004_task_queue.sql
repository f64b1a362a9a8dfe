-- Reviewer task queue: one assignee at a time; and the audit log of every API mutation.
ALTER TABLE tasks ADD COLUMN assignee TEXT;
ALTER TABLE tasks ADD COLUMN claimed_at TIMESTAMPTZ;
CREATE INDEX tasks_assignee ON tasks (assignee, state);

CREATE TABLE audit_log (
    id             UUID PRIMARY KEY,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    version_before BIGINT,
    version_after  BIGINT,
    request_id     TEXT NOT NULL,
    detail         JSONB NOT NULL DEFAULT '{}',
    at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION creditline_append_only();
