-- The ledger (issue 8); see the SQLite migration of the same name.
CREATE TABLE ledger_entries (
    id              UUID PRIMARY KEY,
    account_email   TEXT NOT NULL,
    kind            TEXT NOT NULL,
    bucket          TEXT NOT NULL CHECK (bucket IN ('prepaid', 'deposit', 'credit', 'receivable')),
    amount_cents    BIGINT NOT NULL CHECK (amount_cents <> 0),
    line_id         UUID,
    period          TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    provider        TEXT,
    provider_ref    TEXT,
    actor           TEXT NOT NULL,
    reason          TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, provider_ref, bucket)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_email, id);
-- `ledger verify` sums the credit drawn per line and month.
CREATE INDEX ledger_entries_line ON ledger_entries (line_id, period);
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ledger_entries is append-only'; END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

CREATE TABLE ledger_accounts (
    account_email TEXT PRIMARY KEY,
    prepaid_cents BIGINT NOT NULL DEFAULT 0 CHECK (prepaid_cents >= 0),
    deposit_cents BIGINT NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    version       BIGINT NOT NULL DEFAULT 1,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE credit_usage (
    line_id       UUID NOT NULL,
    period        TEXT NOT NULL,
    account_email TEXT NOT NULL,
    limit_cents   BIGINT NOT NULL CHECK (limit_cents >= 0),
    used_cents    BIGINT NOT NULL DEFAULT 0 CHECK (used_cents >= 0 AND used_cents <= limit_cents),
    version       BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (line_id, period)
);

CREATE TABLE coupons (
    code            TEXT PRIMARY KEY,
    credit_cents    BIGINT NOT NULL CHECK (credit_cents > 0),
    max_redemptions BIGINT NOT NULL CHECK (max_redemptions > 0),
    redeemed        BIGINT NOT NULL DEFAULT 0 CHECK (redeemed >= 0 AND redeemed <= max_redemptions),
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE coupon_redemptions (
    code          TEXT NOT NULL REFERENCES coupons (code),
    account_email TEXT NOT NULL,
    entry_id      UUID NOT NULL,
    redeemed_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (code, account_email)
);

-- One bill per credit line and calendar month (the unique key is the cycle close's claim:
-- a rerun after a crash skips what was billed). `paid_cents` grows with payments, never past
-- the amount.
CREATE TABLE bills (
    id            UUID PRIMARY KEY,
    line_id       UUID NOT NULL,
    account_email TEXT NOT NULL,
    period        TEXT NOT NULL,
    amount_cents  BIGINT NOT NULL CHECK (amount_cents >= 0),
    paid_cents    BIGINT NOT NULL DEFAULT 0 CHECK (paid_cents >= 0 AND paid_cents <= amount_cents),
    due_at        TIMESTAMPTZ NOT NULL,
    issued_at     TIMESTAMPTZ NOT NULL,
    paid_at       TIMESTAMPTZ,
    version       BIGINT NOT NULL DEFAULT 1,
    UNIQUE (line_id, period)
);
CREATE INDEX bills_account ON bills (account_email, period);

-- Webhook events handled, by provider and event id: a redelivery is answered as a duplicate.
CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- Limit increases: what was proposed for which line; the state is the limit_increase
-- workflow instance of the same id.
CREATE TABLE limit_increases (
    id                  UUID PRIMARY KEY,
    line_id             UUID NOT NULL,
    account_email       TEXT NOT NULL,
    current_limit_cents BIGINT NOT NULL,
    next_limit_cents    BIGINT NOT NULL CHECK (next_limit_cents > current_limit_cents),
    deposit_cents       BIGINT NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX limit_increases_line ON limit_increases (line_id);

-- The scheduler's idempotency key per closed month: once a close has billed every line,
-- later ticks (on any worker) skip the month.
CREATE TABLE cycle_runs (
    period    TEXT PRIMARY KEY NOT NULL,
    closed_at TIMESTAMPTZ NOT NULL
);
