-- Rule policy versions as data (issue 21): every version of each rule ever loaded, and the
-- policy versions (all rule files as one set) proposed, approved by a second person and put
-- in force, rejected, or superseded. Exactly one version is in force at a time.
CREATE TABLE rule_versions (
    rule          TEXT NOT NULL,
    version       TEXT NOT NULL,
    source        TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (rule, version)
) STRICT;

CREATE TABLE rule_policies (
    id            BLOB PRIMARY KEY NOT NULL,
    hash          TEXT NOT NULL,
    files         TEXT NOT NULL,
    note          TEXT NOT NULL,
    proposed_by   TEXT NOT NULL,
    proposed_at   TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('proposed', 'in_force', 'superseded', 'rejected')),
    rollback_of   BLOB REFERENCES rule_policies (id),
    decided_by    TEXT,
    decided_at    TEXT,
    decision_note TEXT,
    version       INTEGER NOT NULL DEFAULT 1,
    -- A proposal evaluated beside every live decision, never acting (one at a time).
    shadow        INTEGER NOT NULL DEFAULT 0 CHECK (shadow IN (0, 1))
) STRICT;
CREATE UNIQUE INDEX rule_policies_one_in_force ON rule_policies (state) WHERE state = 'in_force';
CREATE INDEX rule_policies_proposed_at ON rule_policies (proposed_at);
CREATE UNIQUE INDEX rule_policies_one_shadow ON rule_policies (shadow) WHERE shadow = 1;

-- What a proposal in shadow decided beside each live decision (never acted on).
CREATE TABLE shadow_decisions (
    id               BLOB PRIMARY KEY NOT NULL,
    policy_id        BLOB NOT NULL REFERENCES rule_policies (id),
    live_decision_id BLOB NOT NULL,
    rule             TEXT NOT NULL,
    subject_id       BLOB,
    live_version     TEXT NOT NULL,
    live_outcome     TEXT NOT NULL,
    live_output      TEXT NOT NULL,
    shadow_version   TEXT NOT NULL,
    shadow_outcome   TEXT NOT NULL,
    shadow_output    TEXT NOT NULL,
    shadow_reasons   TEXT NOT NULL,
    decided_at       TEXT NOT NULL
) STRICT;
CREATE INDEX shadow_decisions_policy ON shadow_decisions (policy_id, rule, decided_at);
