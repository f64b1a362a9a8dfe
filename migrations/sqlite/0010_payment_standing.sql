-- Payments announced but not yet confirmed (issue 16): a bank transfer an admin reports, a
-- provider's `processing` event. A pending payment never credits anything; it is confirmed
-- through the ordinary payment path (then `confirmed`) or dropped. One per provider reference.
CREATE TABLE pending_payments (
    id            BLOB PRIMARY KEY NOT NULL,
    account_email TEXT NOT NULL,
    provider      TEXT NOT NULL,
    reference     TEXT NOT NULL,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents > 0),
    purpose       TEXT NOT NULL CHECK (purpose IN ('top_up', 'bill_payment', 'deposit')),
    state         TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'dropped')),
    actor         TEXT NOT NULL,
    note          TEXT,
    reason        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (provider, reference)
) STRICT;
CREATE INDEX pending_payments_account ON pending_payments (account_email, state);

-- Failed payments and chargebacks, beside the ledger (they move no money here; see the
-- README): what `re_review`, `limit_increase` and `cycle_gating` count. One per kind and
-- provider reference, so a redelivered event or a repeated command counts once.
CREATE TABLE payment_incidents (
    id            BLOB PRIMARY KEY NOT NULL,
    account_email TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('failed_payment', 'chargeback')),
    provider      TEXT NOT NULL,
    reference     TEXT NOT NULL,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    reason        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    UNIQUE (kind, provider, reference)
) STRICT;
CREATE INDEX payment_incidents_account ON payment_incidents (account_email, occurred_at);
