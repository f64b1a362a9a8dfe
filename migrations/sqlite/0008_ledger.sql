-- The ledger (issue 8): append-only entries in integer cents, and per-account balances that
-- the entries must add up to (`creditline ledger verify`). The CHECKs are the last line of
-- defence against overspending: a guarded UPDATE that would break one changes nothing.
CREATE TABLE ledger_entries (
    id              BLOB PRIMARY KEY NOT NULL,
    account_email   TEXT NOT NULL,
    kind            TEXT NOT NULL,
    bucket          TEXT NOT NULL CHECK (bucket IN ('prepaid', 'deposit', 'credit', 'receivable')),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents <> 0),
    line_id         BLOB,
    period          TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    provider        TEXT,
    provider_ref    TEXT,
    actor           TEXT NOT NULL,
    reason          TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (provider, provider_ref, bucket)
) STRICT;
CREATE INDEX ledger_entries_account ON ledger_entries (account_email, id);
-- `ledger verify` sums the credit drawn per line and month.
CREATE INDEX ledger_entries_line ON ledger_entries (line_id, period);
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;

CREATE TABLE ledger_accounts (
    account_email TEXT PRIMARY KEY NOT NULL,
    prepaid_cents INTEGER NOT NULL DEFAULT 0 CHECK (prepaid_cents >= 0),
    deposit_cents INTEGER NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL
) STRICT;

-- Credit drawn on a line in one calendar month, against that month's limit.
CREATE TABLE credit_usage (
    line_id       BLOB NOT NULL,
    period        TEXT NOT NULL,
    account_email TEXT NOT NULL,
    limit_cents   INTEGER NOT NULL CHECK (limit_cents >= 0),
    used_cents    INTEGER NOT NULL DEFAULT 0 CHECK (used_cents >= 0 AND used_cents <= limit_cents),
    version       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (line_id, period)
) STRICT;

CREATE TABLE coupons (
    code            TEXT PRIMARY KEY NOT NULL,
    credit_cents    INTEGER NOT NULL CHECK (credit_cents > 0),
    max_redemptions INTEGER NOT NULL CHECK (max_redemptions > 0),
    redeemed        INTEGER NOT NULL DEFAULT 0 CHECK (redeemed >= 0 AND redeemed <= max_redemptions),
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE coupon_redemptions (
    code          TEXT NOT NULL REFERENCES coupons (code),
    account_email TEXT NOT NULL,
    entry_id      BLOB NOT NULL,
    redeemed_at   TEXT NOT NULL,
    PRIMARY KEY (code, account_email)
) STRICT;

-- One bill per credit line and calendar month (the unique key is the cycle close's claim:
-- a rerun after a crash skips what was billed). `paid_cents` grows with payments, never past
-- the amount.
CREATE TABLE bills (
    id            BLOB PRIMARY KEY NOT NULL,
    line_id       BLOB NOT NULL,
    account_email TEXT NOT NULL,
    period        TEXT NOT NULL,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    paid_cents    INTEGER NOT NULL DEFAULT 0 CHECK (paid_cents >= 0 AND paid_cents <= amount_cents),
    due_at        TEXT NOT NULL,
    issued_at     TEXT NOT NULL,
    paid_at       TEXT,
    version       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (line_id, period)
) STRICT;
CREATE INDEX bills_account ON bills (account_email, period);

-- Webhook events handled, by provider and event id: a redelivery is answered as a duplicate.
CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) STRICT;

-- Limit increases: what was proposed for which line; the state is the limit_increase
-- workflow instance of the same id.
CREATE TABLE limit_increases (
    id                  BLOB PRIMARY KEY NOT NULL,
    line_id             BLOB NOT NULL,
    account_email       TEXT NOT NULL,
    current_limit_cents INTEGER NOT NULL,
    next_limit_cents    INTEGER NOT NULL CHECK (next_limit_cents > current_limit_cents),
    deposit_cents       INTEGER NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    created_at          TEXT NOT NULL
) STRICT;
CREATE INDEX limit_increases_line ON limit_increases (line_id);

-- The scheduler's idempotency key per closed month: once a close has billed every line,
-- later ticks (on any worker) skip the month.
CREATE TABLE cycle_runs (
    period    TEXT PRIMARY KEY NOT NULL,
    closed_at TEXT NOT NULL
) STRICT;
