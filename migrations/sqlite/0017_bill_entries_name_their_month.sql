-- The cycle close wrote each bill's receivable entry without its month, so an invoice asked
-- for by month found no charges (found by the simulation). New entries carry it; this fills
-- it in for the entries written before, from their idempotency key `bill:<line>:<YYYY-MM>`.
-- The append-only trigger steps aside for this one repair, inside the migration's transaction.
DROP TRIGGER ledger_entries_no_update;
UPDATE ledger_entries SET period = substr(idempotency_key, -7)
 WHERE kind = 'bill' AND period IS NULL AND idempotency_key LIKE 'bill:%:____-__';
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
