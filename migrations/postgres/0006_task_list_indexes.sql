-- Indexes for the task queue listing (`Store::list_tasks`): every page is "the filters'
-- equalities, then id > cursor, in id order", so each index ends in id and the page is a
-- range read that stops after `limit` rows, however deep the cursor. created_at rides along
-- so the age filter is checked in the index, without reading the row.
-- They replace the two earlier indexes, which only that query read: (kind, state, created_at)
-- made it sort every task of a kind by id, and (assignee, state) could not start at a cursor.
DROP INDEX tasks_kind_state;
DROP INDEX tasks_assignee;
CREATE INDEX tasks_state_id ON tasks (state, id, created_at);
CREATE INDEX tasks_kind_state_id ON tasks (kind, state, id, created_at);
CREATE INDEX tasks_assignee_state_id ON tasks (assignee, state, id, created_at);
-- `state=all` with a kind (no state to match): still a range in id order.
CREATE INDEX tasks_kind_id ON tasks (kind, id, created_at);
