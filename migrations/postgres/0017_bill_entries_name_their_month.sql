-- The cycle close wrote each bill's receivable entry without its month, so an invoice asked
-- for by month found no charges (found by the simulation). New entries carry it; this fills
-- it in for the entries written before, from their idempotency key `bill:<line>:<YYYY-MM>`.
-- The append-only trigger steps aside for this one repair, inside the migration's transaction.
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries SET period = right(idempotency_key, 7)
 WHERE kind = 'bill' AND period IS NULL AND idempotency_key LIKE 'bill:%:____-__';
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;
