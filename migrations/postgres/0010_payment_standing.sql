-- Pending payments, failed payments and chargebacks (issue 16); see the SQLite migration of
-- the same name.
CREATE TABLE pending_payments (
    id            UUID PRIMARY KEY,
    account_email TEXT NOT NULL,
    provider      TEXT NOT NULL,
    reference     TEXT NOT NULL,
    amount_cents  BIGINT NOT NULL CHECK (amount_cents > 0),
    purpose       TEXT NOT NULL CHECK (purpose IN ('top_up', 'bill_payment', 'deposit')),
    state         TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'dropped')),
    actor         TEXT NOT NULL,
    note          TEXT,
    reason        TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, reference)
);
CREATE INDEX pending_payments_account ON pending_payments (account_email, state);

CREATE TABLE payment_incidents (
    id            UUID PRIMARY KEY,
    account_email TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('failed_payment', 'chargeback')),
    provider      TEXT NOT NULL,
    reference     TEXT NOT NULL,
    amount_cents  BIGINT NOT NULL CHECK (amount_cents >= 0),
    reason        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, provider, reference)
);
CREATE INDEX payment_incidents_account ON payment_incidents (account_email, occurred_at);
