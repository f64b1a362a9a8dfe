//! Outgoing emails: queued with the step that caused them, handed to one delivery job at a
//! time, each attempt recorded.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::{EventId, OutboxId, SubjectId};

/// An effect to record in the outbox. The idempotency key is unique across the outbox, so
/// an effect can never be written twice.
#[derive(Debug, Clone)]
pub struct OutboxWrite {
    pub id: OutboxId,
    pub kind: String,
    pub name: String,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub instance_id: SubjectId,
    pub event_id: EventId,
    pub kind: String,
    pub name: String,
    pub idempotency_key: String,
    #[sqlx(json)]
    pub payload: serde_json::Value,
    /// pending, queued, sending, sent or failed (emails); tasks open as reviewer tasks.
    pub status: String,
    /// Delivery attempts made so far.
    pub attempts: i64,
    /// How many send jobs were queued for it (each job's key is `id:enqueues`).
    pub enqueues: i64,
    pub last_error: Option<String>,
    /// The Message-ID it went out with.
    pub message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// An email outbox row handed to a send job: the job carries both numbers, and only the
/// job for the row's current `enqueues` may claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEmail {
    pub id: OutboxId,
    pub enqueues: i64,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Sent {
        message_id: String,
    },
    /// A transient failure: try again from `available_at`.
    Retry {
        available_at: DateTime<Utc>,
        error: String,
    },
    /// A permanent failure (or the last attempt): no more tries, and a reviewer task.
    Failed {
        error: String,
        task: TaskWrite,
    },
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Outbox rows of an instance, oldest first.
    async fn outbox_for(&self, id: SubjectId) -> StoreResult<Vec<OutboxRecord>>;

    /// Marks up to `limit` deliverable email rows (pending, due by `now`) as queued, oldest
    /// first, and returns them with their new job number. Concurrent relays never take the
    /// same row.
    async fn queue_outbox(&self, now: chrono::DateTime<chrono::Utc>, limit: i64) -> StoreResult<Vec<QueuedEmail>>;

    /// Takes a queued row for one delivery attempt (counted) until `lease_until`. `None` when
    /// the job is stale: the row was sent, failed, or queued again under a newer number.
    async fn claim_outbox(
        &self,
        job: &QueuedEmail,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<OutboxRecord>>;

    /// Records how attempt `attempt` ended, if the row is still that attempt's (false when a
    /// lease ran out and the row moved on). A failure opens its reviewer task in the same
    /// transaction.
    async fn finish_outbox(
        &self,
        id: crate::domain::OutboxId,
        attempt: i64,
        outcome: &DeliveryOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// Makes rows deliverable again whose sender's lease ran out, or that were queued before
    /// `queued_before` without their job ever claiming them. Returns how many.
    async fn recover_outbox(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        queued_before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64>;

    async fn outbox_row(&self, id: crate::domain::OutboxId) -> StoreResult<Option<OutboxRecord>>;

    /// Puts a failed email back in the queue with a fresh count of attempts (a reviewer fixed
    /// its cause). False when the row is not failed.
    async fn requeue_outbox(
        &self,
        id: crate::domain::OutboxId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// Email outbox rows per status.
    async fn outbox_counts(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Emails not yet delivered: (pending and deliverable at `now`, queued or being sent).
    async fn outbox_due(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<(i64, i64)>;

    /// Outbox rows with an id above `after`, oldest first, up to `limit`.
    async fn outbox_after(&self, after: uuid::Uuid, limit: i64) -> StoreResult<Vec<OutboxRecord>>;

    /// The outbox rows with these ids.
    async fn outbox_rows(&self, ids: &[crate::domain::OutboxId]) -> StoreResult<Vec<OutboxRecord>>;
}

/// Implements [`OutboxStore`] for a backend (see [`super::sql`]).
macro_rules! impl_outbox_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            async fn insert_outbox(
                tx: &mut Tx,
                w: &mut Writer,
                instance: crate::domain::SubjectId,
                event: crate::domain::EventId,
                rows: &[crate::store::OutboxWrite],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                for o in rows {
                    w.run(tx, |q| {
                        q.push("INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, created_at) ");
                        q.push_values([o], |mut b, o| {
                            b.push_bind(o.id.0)
                                .push_bind(instance.0)
                                .push_bind(event.0)
                                .push_bind(o.kind.clone())
                                .push_bind(o.name.clone())
                                .push_bind(o.idempotency_key.clone())
                                .push_bind(sqlx::types::Json(o.payload.clone()))
                                .push_bind(at);
                        });
                    })
                    .await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::OutboxStore for $store {
            async fn outbox_for(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::OutboxRecord>> {
                let rows = sqlx::query("SELECT * FROM outbox WHERE instance_id = $1 ORDER BY id")
                    .bind(id.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::OutboxRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn queue_outbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::QueuedEmail>> {
                use sqlx::Row;
                let mut tx = self.begin_write().await?;
                // PostgreSQL: rows another relay is queueing are skipped, not waited for. SQLite:
                // BEGIN IMMEDIATE already makes relays take turns.
                let rows = sqlx::query(concat!(
                    "UPDATE outbox SET status = 'queued', enqueues = enqueues + 1, queued_at = $1 \
                     WHERE id IN (SELECT id FROM outbox WHERE kind = 'email' AND status = 'pending' \
                     AND (available_at IS NULL OR available_at <= $1) ORDER BY created_at, id LIMIT $2",
                    $skip_locked,
                    ") RETURNING id, enqueues"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::QueuedEmail {
                        id: crate::domain::OutboxId(r.try_get("id")?),
                        enqueues: r.try_get("enqueues")?,
                    });
                }
                Ok(out)
            }

            async fn claim_outbox(
                &self,
                job: &crate::store::QueuedEmail,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Option<crate::store::OutboxRecord>> {
                // One statement is atomic on its own: no BEGIN and COMMIT around it (two
                // round trips to the connection's thread saved on every email).
                let row = sqlx::query(
                    "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $1 \
                     WHERE id = $2 AND status = 'queued' AND enqueues = $3 RETURNING *",
                )
                .bind(lease_until)
                .bind(job.id.0)
                .bind(job.enqueues)
                .fetch_optional(self.writer())
                .await?;
                Ok(row.as_ref().map(crate::store::OutboxRecord::from_row).transpose()?)
            }

            async fn finish_outbox(
                &self,
                id: crate::domain::OutboxId,
                attempt: i64,
                outcome: &crate::store::DeliveryOutcome,
                now: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                use crate::store::DeliveryOutcome;
                // Sent and retry are one statement each, atomic without a transaction; a
                // failure also opens a task, so it takes one.
                let done = match outcome {
                    DeliveryOutcome::Sent { message_id } => sqlx::query(
                        "UPDATE outbox SET status = 'sent', processed_at = $3, message_id = $4, \
                         lease_until = NULL, last_error = NULL WHERE id = $1 AND status = 'sending' AND attempts = $2",
                    )
                    .bind(id.0)
                    .bind(attempt)
                    .bind(now)
                    .bind(message_id)
                    .execute(self.writer())
                    .await?,
                    DeliveryOutcome::Retry { available_at, error } => sqlx::query(
                        "UPDATE outbox SET status = 'pending', available_at = $3, last_error = $4, \
                         lease_until = NULL WHERE id = $1 AND status = 'sending' AND attempts = $2",
                    )
                    .bind(id.0)
                    .bind(attempt)
                    .bind(*available_at)
                    .bind(error)
                    .execute(self.writer())
                    .await?,
                    DeliveryOutcome::Failed { error, task } => {
                        let mut tx = self.begin_write().await?;
                        let done = sqlx::query(
                            "UPDATE outbox SET status = 'failed', processed_at = $3, last_error = $4, \
                             lease_until = NULL WHERE id = $1 AND status = 'sending' AND attempts = $2",
                        )
                        .bind(id.0)
                        .bind(attempt)
                        .bind(now)
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 1 {
                            Self::insert_task(&mut tx, &mut Writer::immediate(), task, now).await?;
                        }
                        tx.commit().await?;
                        done
                    }
                };
                Ok(done.rows_affected() == 1)
            }

            async fn recover_outbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                queued_before: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                // A sender that died keeps its lease until it runs out; a job that was never
                // pushed (a relay that died between its two steps) leaves its row queued.
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'pending', available_at = $1, lease_until = NULL \
                     WHERE kind = 'email' AND ((status = 'sending' AND lease_until < $1) \
                     OR (status = 'queued' AND queued_at < $2))",
                )
                .bind(now)
                .bind(queued_before)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn outbox_row(
                &self,
                id: crate::domain::OutboxId,
            ) -> crate::store::StoreResult<Option<crate::store::OutboxRecord>> {
                let row = sqlx::query("SELECT * FROM outbox WHERE id = $1").bind(id.0).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(crate::store::OutboxRecord::from_row).transpose()?)
            }

            async fn requeue_outbox(
                &self,
                id: crate::domain::OutboxId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'pending', attempts = 0, available_at = $2, lease_until = NULL, \
                     processed_at = NULL WHERE id = $1 AND kind = 'email' AND status = 'failed'",
                )
                .bind(id.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn outbox_counts(&self) -> crate::store::StoreResult<Vec<(String, i64)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT status, COUNT(*) AS n FROM outbox WHERE kind = 'email' GROUP BY status ORDER BY status",
                )
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push((r.try_get("status")?, r.try_get("n")?));
                }
                Ok(out)
            }

            async fn outbox_due(&self, now: chrono::DateTime<chrono::Utc>) -> crate::store::StoreResult<(i64, i64)> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT \
                     COUNT(CASE WHEN status = 'pending' AND (available_at IS NULL OR available_at <= $1) THEN 1 END) AS due, \
                     COUNT(CASE WHEN status IN ('queued', 'sending') THEN 1 END) AS in_flight \
                     FROM outbox WHERE kind = 'email' AND status IN ('pending', 'queued', 'sending')",
                )
                .bind(now)
                .fetch_one(self.pool())
                .await?;
                Ok((row.try_get("due")?, row.try_get("in_flight")?))
            }

            async fn outbox_after(&self, after: uuid::Uuid, limit: i64) -> crate::store::StoreResult<Vec<crate::store::OutboxRecord>> {
                let rows = sqlx::query("SELECT * FROM outbox WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::OutboxRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn outbox_rows(&self, ids: &[crate::domain::OutboxId]) -> crate::store::StoreResult<Vec<crate::store::OutboxRecord>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM outbox WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.0);
                    }
                    q.push(") ORDER BY id");
                    for r in q.build().fetch_all(self.pool()).await? {
                        out.push(crate::store::OutboxRecord::from_row(&r)?);
                    }
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use impl_outbox_store;
