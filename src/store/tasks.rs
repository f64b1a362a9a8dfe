//! Reviewer tasks and the actions taken on them, with the answers kept for idempotency keys.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::SubjectId;

/// A reviewer task to open (unique by its key, so a replay opens none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskWrite {
    pub id: crate::domain::TaskId,
    pub kind: String,
    pub subject_id: Option<SubjectId>,
    pub message_sha256: Option<String>,
    pub title: String,
    pub details: serde_json::Value,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TaskRecord {
    pub id: crate::domain::TaskId,
    pub kind: String,
    pub state: String,
    pub subject_id: Option<SubjectId>,
    pub message_sha256: Option<String>,
    pub title: String,
    #[sqlx(json)]
    pub details: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// The reviewer working on it (a token name), if claimed.
    pub assignee: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
}

/// Tasks of one kind in one state, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TaskCount {
    pub kind: String,
    pub total: i64,
    /// Created before the moment asked about (past their SLA, as the services ask).
    pub older: i64,
    pub unassigned: i64,
}

/// Which tasks to list: oldest first, after the cursor.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub kind: Option<String>,
    pub state: Option<String>,
    pub assignee: Option<String>,
    /// Only tasks created before this moment (an age filter).
    pub created_before: Option<DateTime<Utc>>,
    pub after: Option<crate::domain::TaskId>,
    pub limit: i64,
}

/// A task's next state, written only if the task is still at `expected_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub id: crate::domain::TaskId,
    pub expected_version: i64,
    pub state: String,
    pub assignee: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub details: serde_json::Value,
}

/// The answer to a mutation sent with an `Idempotency-Key`, kept with the mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotentResponse {
    /// The token name that sent the key: keys of different callers never collide.
    pub caller: String,
    pub key: String,
    /// SHA-256 of method, path and body: the same key with another request is refused.
    pub request_hash: String,
    pub status: u16,
    pub response: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A reviewer's or admin's action, all of it in one transaction: the task, the workflow
/// step with its event and outbox rows, what the step opens, the audit entry and the
/// response kept for the idempotency key.
#[derive(Debug, Clone)]
pub struct ActionWrite {
    pub task: Option<TaskUpdate>,
    /// The step, the instance it opens (a credit line, with `credit_line` its row) and the
    /// rule decisions. The steps are written before the opened instances (see `action_in`).
    pub workflow: WorkflowChanges,
    pub credit_line: Option<CreditLineWrite>,
    pub audit: AuditRecord,
    pub idempotency: Option<IdempotentResponse>,
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Tasks matching the filter, oldest first.
    async fn list_tasks(&self, filter: &TaskFilter) -> StoreResult<Vec<TaskRecord>>;

    async fn task(&self, id: crate::domain::TaskId) -> StoreResult<Option<TaskRecord>>;

    /// The tasks about a subject (an application, an AWS login, ...), oldest first.
    async fn tasks_for(&self, subject: SubjectId) -> StoreResult<Vec<TaskRecord>>;

    /// Sets (or clears) a task's assignee if it is still at `expected_version`, and records
    /// `audit` in the same transaction. A newer version is `Conflict`.
    async fn assign_task(
        &self,
        id: crate::domain::TaskId,
        expected_version: i64,
        assignee: Option<&str>,
        audit: &AuditRecord,
    ) -> StoreResult<TaskRecord>;

    /// Writes a reviewer's or admin's action in one transaction. A task or instance that moved
    /// meanwhile is `Conflict`; an idempotency key already used is `Duplicate`: either way
    /// nothing is written.
    async fn commit_action(&self, action: &ActionWrite) -> StoreResult<()>;

    /// [`Store::commit_action`] that also writes `notes` (versioned updates of other tasks,
    /// e.g. the AWS-login decision noted on the review tasks of the applications waiting for
    /// it) in the same transaction: a note on a task that moved meanwhile is `Conflict`.
    async fn commit_action_noting(&self, action: &ActionWrite, notes: &[TaskUpdate]) -> StoreResult<()>;

    /// The oldest task in `state` (of `kind`, if given) that nobody has claimed.
    async fn next_unassigned(&self, state: &str, kind: Option<&str>) -> StoreResult<Option<TaskRecord>>;

    /// How many tasks are in `state`, per kind (kinds without any left out): all of them,
    /// those created before `created_before`, and those nobody has claimed.
    async fn count_tasks(&self, state: &str, created_before: DateTime<Utc>) -> StoreResult<Vec<TaskCount>>;

    /// The response kept for a caller's idempotency key.
    async fn idempotent_response(&self, caller: &str, key: &str) -> StoreResult<Option<IdempotentResponse>>;
}

/// Implements [`TaskStore`] for a backend (see [`super::sql`]).
macro_rules! impl_tasks_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            async fn insert_task(
                tx: &mut Tx,
                w: &mut Writer,
                t: &crate::store::TaskWrite,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO tasks \
                         (id, kind, subject_id, message_sha256, title, details, idempotency_key, created_at, updated_at) ",
                    );
                    q.push_values([t], |mut b, t| {
                        b.push_bind(t.id.0)
                            .push_bind(t.kind.clone())
                            .push_bind(t.subject_id.map(|s| s.0))
                            .push_bind(t.message_sha256.clone())
                            .push_bind(t.title.clone())
                            .push_bind(sqlx::types::Json(t.details.clone()))
                            .push_bind(t.idempotency_key.clone())
                            .push_bind(at)
                            .push_bind(at);
                    });
                    q.push(" ON CONFLICT (idempotency_key) DO NOTHING");
                })
                .await?;
                Ok(())
            }

            /// Moves a task if it is still at the version the caller saw.
            async fn update_task(
                tx: &mut Tx,
                t: &crate::store::TaskUpdate,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE tasks SET state = $1, assignee = $2, claimed_at = $7, details = $3, version = version + 1, \
                     updated_at = $4 WHERE id = $5 AND version = $6",
                )
                .bind(&t.state)
                .bind(&t.assignee)
                .bind(sqlx::types::Json(&t.details))
                .bind(at)
                .bind(t.id.0)
                .bind(t.expected_version)
                .bind(t.claimed_at)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                Err(Self::task_refused(tx, t.id, t.expected_version).await)
            }

            /// Why a versioned task update matched nothing: a newer version, or no such task.
            async fn task_refused(tx: &mut Tx, id: crate::domain::TaskId, expected: i64) -> crate::store::StoreError {
                let actual: Result<Option<i64>, sqlx::Error> =
                    sqlx::query_scalar("SELECT version FROM tasks WHERE id = $1").bind(id.0).fetch_optional(&mut **tx).await;
                match actual {
                    Ok(Some(actual)) => crate::store::StoreError::Conflict { expected, actual },
                    Ok(None) => crate::store::StoreError::NotFound(format!("task {id}")),
                    Err(e) => e.into(),
                }
            }

            /// Everything an [`crate::store::ActionWrite`] writes, inside the caller's transaction.
            async fn action_in(tx: &mut Tx, w: &mut Writer, a: &crate::store::ActionWrite) -> crate::store::StoreResult<()> {
                if let Some(t) = &a.task {
                    Self::update_task(tx, t, a.audit.at).await?;
                }
                // The step before what it opens: an approval that lost the race to another
                // decision on the application is that step's `Conflict`, not the `Duplicate`
                // its credit line would meet (one open line per account). So an action steps
                // no instance it opens.
                Self::steps_in(tx, w, &a.workflow).await?;
                Self::open_in(tx, w, &a.workflow).await?;
                if let Some(l) = &a.credit_line {
                    sqlx::query(
                        "INSERT INTO credit_lines (id, account_email, application_id, monthly_limit_cents, approved_by, \
                         second_approver, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(l.id.0)
                    .bind(&l.account_email)
                    .bind(l.application_id.0)
                    .bind(l.monthly_limit_cents)
                    .bind(&l.approved_by)
                    .bind(&l.second_approver)
                    .bind(a.audit.at)
                    .execute(&mut **tx)
                    .await?;
                }
                let decisions: Vec<&crate::rules::DecisionRecord> = a.workflow.decisions.iter().collect();
                Self::insert_decisions(tx, w, &decisions).await?;
                Self::insert_audit(tx, &a.audit).await?;
                if let Some(k) = &a.idempotency {
                    sqlx::query(
                        "INSERT INTO idempotency_keys (caller, key, request_hash, status, response, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&k.caller)
                    .bind(&k.key)
                    .bind(&k.request_hash)
                    .bind(i64::from(k.status))
                    .bind(sqlx::types::Json(&k.response))
                    .bind(k.created_at)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::TaskStore for $store {
            async fn list_tasks(&self, f: &crate::store::TaskFilter) -> crate::store::StoreResult<Vec<crate::store::TaskRecord>> {
                // Only the filters given go into the WHERE clause: `($1 IS NULL OR kind = $1)`
                // hides the column from the planner, which then walks the id index from the
                // first task and skips everything before the cursor (a deep page read most of
                // the table). As plain terms they meet the indexes of 0006: equalities, then
                // `id > cursor` as a range in id order, so a page costs its own rows.
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM tasks");
                let mut glue = " WHERE ";
                if let Some(kind) = &f.kind {
                    q.push(glue).push("kind = ").push_bind(kind.clone());
                    glue = " AND ";
                }
                if let Some(state) = &f.state {
                    q.push(glue).push("state = ").push_bind(state.clone());
                    glue = " AND ";
                }
                if let Some(assignee) = &f.assignee {
                    q.push(glue).push("assignee = ").push_bind(assignee.clone());
                    glue = " AND ";
                }
                if let Some(before) = f.created_before {
                    q.push(glue).push("created_at < ").push_bind(before);
                    glue = " AND ";
                }
                if let Some(after) = f.after {
                    q.push(glue).push("id > ").push_bind(after.0);
                }
                q.push(" ORDER BY id LIMIT ").push_bind(f.limit.clamp(1, 10_000));
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::TaskRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn next_unassigned(
                &self,
                state: &str,
                kind: Option<&str>,
            ) -> crate::store::StoreResult<Option<crate::store::TaskRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM tasks WHERE assignee IS NULL AND state = ");
                q.push_bind(state.to_string());
                if let Some(kind) = kind {
                    q.push(" AND kind = ").push_bind(kind.to_string());
                }
                q.push(" ORDER BY id LIMIT 1");
                let row = q.build().fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(crate::store::TaskRecord::from_row).transpose()?)
            }

            async fn count_tasks(
                &self,
                state: &str,
                created_before: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::TaskCount>> {
                Ok(sqlx::query_as(
                    "SELECT kind, COUNT(*) AS total, \
                     COALESCE(SUM(CASE WHEN created_at < $2 THEN 1 ELSE 0 END), 0) AS older, \
                     COALESCE(SUM(CASE WHEN assignee IS NULL THEN 1 ELSE 0 END), 0) AS unassigned \
                     FROM tasks WHERE state = $1 GROUP BY kind ORDER BY kind",
                )
                .bind(state)
                .bind(created_before)
                .fetch_all(self.pool())
                .await?)
            }

            async fn task(&self, id: crate::domain::TaskId) -> crate::store::StoreResult<Option<crate::store::TaskRecord>> {
                let row = sqlx::query("SELECT * FROM tasks WHERE id = $1").bind(id.0).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(crate::store::TaskRecord::from_row).transpose()?)
            }

            async fn tasks_for(
                &self,
                subject: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::TaskRecord>> {
                let rows = sqlx::query("SELECT * FROM tasks WHERE subject_id = $1 ORDER BY id LIMIT 1000")
                    .bind(subject.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::TaskRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn assign_task(
                &self,
                id: crate::domain::TaskId,
                expected_version: i64,
                assignee: Option<&str>,
                audit: &crate::store::AuditRecord,
            ) -> crate::store::StoreResult<crate::store::TaskRecord> {
                let mut tx = self.begin_write().await?;
                let claimed_at = assignee.map(|_| audit.at);
                let row = sqlx::query(
                    "UPDATE tasks SET assignee = $1, claimed_at = $2, version = version + 1, updated_at = $3 \
                     WHERE id = $4 AND version = $5 RETURNING *",
                )
                .bind(assignee)
                .bind(claimed_at)
                .bind(audit.at)
                .bind(id.0)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Err(Self::task_refused(&mut tx, id, expected_version).await) };
                let task = crate::store::TaskRecord::from_row(&row)?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(task)
            }

            async fn commit_action(&self, a: &crate::store::ActionWrite) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut w = Writer::immediate();
                Self::action_in(&mut tx, &mut w, a).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn commit_action_noting(
                &self,
                a: &crate::store::ActionWrite,
                notes: &[crate::store::TaskUpdate],
            ) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for n in notes {
                    Self::update_task(&mut tx, n, a.audit.at).await?;
                }
                let mut w = Writer::immediate();
                Self::action_in(&mut tx, &mut w, a).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn idempotent_response(
                &self,
                caller: &str,
                key: &str,
            ) -> crate::store::StoreResult<Option<crate::store::IdempotentResponse>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT * FROM idempotency_keys WHERE caller = $1 AND key = $2")
                    .bind(caller)
                    .bind(key)
                    .fetch_optional(self.pool())
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let response: sqlx::types::Json<serde_json::Value> = r.try_get("response")?;
                let status: i64 = r.try_get("status")?;
                Ok(Some(crate::store::IdempotentResponse {
                    caller: r.try_get("caller")?,
                    key: r.try_get("key")?,
                    request_hash: r.try_get("request_hash")?,
                    status: u16::try_from(status).map_err(|_| crate::store::StoreError::Corrupt(format!("status {status}")))?,
                    response: response.0,
                    created_at: r.try_get("created_at")?,
                }))
            }
        }
    };
}

pub(crate) use impl_tasks_store;
