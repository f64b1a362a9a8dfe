-- AWS login (policy: "Users apply for AWS login first"): one request per account that is
-- open or approved. A second request joins the open one; after a decline the account may ask
-- again. Intake checks first; this index is the guard when two requests commit at once.
CREATE UNIQUE INDEX one_aws_login_per_account
    ON workflow_instances (account_email)
    WHERE workflow = 'aws_login' AND state <> 'declined';

-- The tasks about one subject (an application's review tasks, noted when its AWS login is
-- decided).
CREATE INDEX tasks_subject ON tasks (subject_id, id);
