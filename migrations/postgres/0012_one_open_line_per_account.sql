-- One credit line per account (policy: a monthly credit line per reviewed account): at most
-- one line that is not closed. The service refuses a second approval first; this index is the
-- guard when two approvals for one account commit at once.
CREATE UNIQUE INDEX one_open_line_per_account
    ON workflow_instances (account_email)
    WHERE workflow = 'credit_line' AND state <> 'closed';
