-- The console's counts per kind (`count_tasks`): open tasks grouped by kind, with their age and
-- assignee, read from the index alone instead of from every row.
CREATE INDEX tasks_state_kind_counts ON tasks (state, kind, assignee, created_at);
