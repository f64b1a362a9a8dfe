-- Rule policy versions as data (issue 21): every version of each rule ever loaded, and the
-- policy versions (all rule files as one set) proposed, approved by a second person and put
-- in force, rejected, or superseded. Exactly one version is in force at a time.
CREATE TABLE rule_versions (
    rule          TEXT NOT NULL,
    version       TEXT NOT NULL,
    source        TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rule, version)
);

CREATE TABLE rule_policies (
    id            UUID PRIMARY KEY,
    hash          TEXT NOT NULL,
    files         JSONB NOT NULL,
    note          TEXT NOT NULL,
    proposed_by   TEXT NOT NULL,
    proposed_at   TIMESTAMPTZ NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('proposed', 'in_force', 'superseded', 'rejected')),
    rollback_of   UUID REFERENCES rule_policies (id),
    decided_by    TEXT,
    decided_at    TIMESTAMPTZ,
    decision_note TEXT,
    version       BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX rule_policies_one_in_force ON rule_policies (state) WHERE state = 'in_force';
CREATE INDEX rule_policies_proposed_at ON rule_policies (proposed_at);
