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
    version       BIGINT NOT NULL DEFAULT 1,
    -- A proposal evaluated beside every live decision, never acting (one at a time).
    shadow        BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX rule_policies_one_in_force ON rule_policies (state) WHERE state = 'in_force';
CREATE INDEX rule_policies_proposed_at ON rule_policies (proposed_at);
CREATE UNIQUE INDEX rule_policies_one_shadow ON rule_policies (shadow) WHERE shadow;

-- What a proposal in shadow decided beside each live decision (never acted on).
CREATE TABLE shadow_decisions (
    id               UUID PRIMARY KEY,
    policy_id        UUID NOT NULL REFERENCES rule_policies (id),
    live_decision_id UUID NOT NULL,
    rule             TEXT NOT NULL,
    subject_id       UUID,
    live_version     TEXT NOT NULL,
    live_outcome     TEXT NOT NULL,
    live_output      JSONB NOT NULL,
    shadow_version   TEXT NOT NULL,
    shadow_outcome   TEXT NOT NULL,
    shadow_output    JSONB NOT NULL,
    shadow_reasons   JSONB NOT NULL,
    decided_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX shadow_decisions_policy ON shadow_decisions (policy_id, rule, decided_at);
