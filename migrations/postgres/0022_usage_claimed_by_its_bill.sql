-- A month's usage row is claimed by its bill, in the bill's transaction: no debit changes a
-- billed month afterwards (it is planned again in the month it now is), and a bill whose
-- amount a debit changed since it was read is given up and read again. Before this, a debit
-- planned in the last moments of a month and committed after its close was drawn from the
-- line but missing from the bill (found by the scale-out run).
ALTER TABLE credit_usage ADD COLUMN billed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE credit_usage SET billed = TRUE
 WHERE EXISTS (SELECT 1 FROM bills b WHERE b.line_id = credit_usage.line_id AND b.period = credit_usage.period);
