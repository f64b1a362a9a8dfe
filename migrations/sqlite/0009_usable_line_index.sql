-- A debit batch looks up each account's usable credit line: "this account's credit_line
-- instances in a drawing state, newest first". With (account_email, workflow) alone, SQLite
-- without statistics chose the (workflow, state) index instead and read every active line
-- for each account. With the state in the index the lookup is an index range per account.
-- It replaces (account_email, workflow), its prefix.
DROP INDEX workflow_instances_account;
CREATE INDEX workflow_instances_account_state ON workflow_instances (account_email, workflow, state, id);
