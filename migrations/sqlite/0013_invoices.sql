-- Invoice requests (policy: "Email support ... include your account email, specify the billing
-- period or transaction IDs, provide any required business information") and the invoices
-- issued for them. A request's state is its `invoice_request` workflow instance (same id).

CREATE TABLE invoice_requests (
    id            BLOB PRIMARY KEY NOT NULL REFERENCES workflow_instances (id),
    -- IR-XXXXXXXX: in the subject of every email about the request, so a reply finds it.
    reference     TEXT NOT NULL UNIQUE,
    account_email TEXT NOT NULL,
    -- Who asked: acknowledgements and questions go there (the invoice goes to the account).
    requester     TEXT NOT NULL,
    -- What is known so far (period, transaction ids, company, address, tax id, with the
    -- message each came from) and the request's message ids, oldest first.
    details       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX invoice_requests_account ON invoice_requests (account_email);

-- The last invoice number issued. Incremented (compare-and-set) in the transaction that inserts
-- the invoice, so a rolled-back issue burns no number and two issues never share one.
CREATE TABLE invoice_counter (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_number INTEGER NOT NULL CHECK (last_number >= 0)
) STRICT;
INSERT INTO invoice_counter (id, last_number) VALUES (1, 0);

CREATE TABLE invoices (
    number        INTEGER PRIMARY KEY NOT NULL CHECK (number >= 1),
    -- One invoice per request: issuing again reuses it.
    request_id    BLOB UNIQUE REFERENCES invoice_requests (id),
    account_email TEXT NOT NULL,
    total_cents   INTEGER NOT NULL,
    -- The invoice as issued (issuer, customer, lines, totals): never changed.
    document      TEXT NOT NULL,
    html          TEXT NOT NULL,
    pdf           BLOB NOT NULL,
    issued_by     TEXT NOT NULL,
    issued_at     TEXT NOT NULL
) STRICT;
CREATE INDEX invoices_account ON invoices (account_email, number);

-- An issued invoice is immutable.
CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'invoices are immutable'); END;
CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'invoices are immutable'); END;
