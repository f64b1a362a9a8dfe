//! Applications as intake left them: their rows, extracted fields, evidence, email threads and
//! website checks.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::ApplicationId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ApplicationRecord {
    pub id: ApplicationId,
    pub reference: String,
    pub account_email: String,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    #[sqlx(json)]
    pub details: serde_json::Value,
    pub state: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub state: Option<String>,
    pub account_email: Option<String>,
    /// Return applications created after this one (cursor pagination).
    pub after: Option<ApplicationId>,
    pub limit: i64,
}

/// One value read from a message, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldWrite {
    pub field: String,
    pub value: String,
    pub message_id: String,
    pub excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldRecord {
    pub field: String,
    pub value: String,
    pub message_id: String,
    pub excerpt: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceWrite {
    pub kind: String,
    pub data: serde_json::Value,
    pub message_id: String,
}

/// A message of an application's email thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageRecord {
    pub sha256: String,
    pub message_id: String,
    pub outcome: Option<String>,
    pub report: Option<serde_json::Value>,
    pub received_at: DateTime<Utc>,
}

/// New facts for an existing application (kind and requested limit as last read).
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationUpdate {
    pub id: ApplicationId,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    pub details: serde_json::Value,
}

/// A website check to run for an application (`website_checks`, issue 23 item 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsiteCheckRequest {
    pub id: uuid::Uuid,
    pub application_id: ApplicationId,
    pub url: String,
}

/// A website check handed to its job: only the job of the row's current `enqueues` may
/// finish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteCheckJob {
    pub id: uuid::Uuid,
    pub enqueues: i64,
}

/// A website check with what it found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct WebsiteCheckRecord {
    pub id: uuid::Uuid,
    pub application_id: ApplicationId,
    pub url: String,
    /// `pending`, `queued` (its job exists) or `done`.
    pub status: String,
    pub enqueues: i64,
    pub requested_at: DateTime<Utc>,
    pub checked_at: Option<DateTime<Utc>>,
    /// What the fetch found, once done.
    #[sqlx(json(nullable))]
    pub evidence: Option<crate::website::WebsiteEvidence>,
}

/// What a finished website check writes in one transaction: the evidence, and on an
/// application still open the decision the rules made with it and its `website_checked`
/// event.
#[derive(Debug, Clone)]
pub struct WebsiteCheckFinish {
    pub job: WebsiteCheckJob,
    pub evidence: crate::website::WebsiteEvidence,
    pub at: DateTime<Utc>,
    /// The rules' decision on the evidence and, on an application still open, its step.
    pub workflow: WorkflowChanges,
}

#[async_trait]
pub trait ApplicationStore: Send + Sync {
    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>>;

    async fn application_by_reference(&self, reference: &str) -> StoreResult<Option<ApplicationRecord>>;

    /// Applications, oldest first, optionally in one state, starting after a cursor id.
    async fn list_applications(&self, filter: &ApplicationFilter) -> StoreResult<Vec<ApplicationRecord>>;

    /// The application a message thread belongs to: the first of `message_ids` that is a
    /// known inbound message linked to an application.
    async fn application_for_thread(&self, message_ids: &[String]) -> StoreResult<Option<ApplicationId>>;

    /// Extracted values of an application, oldest first (each with its provenance).
    async fn application_fields(&self, id: ApplicationId) -> StoreResult<Vec<FieldRecord>>;

    /// Evidence of an application (kind, data), oldest first.
    async fn evidence_for(&self, id: ApplicationId) -> StoreResult<Vec<EvidenceWrite>>;

    /// The inbound messages linked to an application, oldest first.
    async fn messages_for(&self, id: ApplicationId) -> StoreResult<Vec<MessageRecord>>;

    /// Accounts whose address contains `fragment` (matched literally, lower-case), with how
    /// many applications each has, by address; at most `limit`.
    async fn find_accounts(&self, fragment: &str, limit: i64) -> StoreResult<Vec<(String, i64)>>;

    /// The kept bytes of an inbound message of this application (`None` when the message is
    /// not the application's, or its bytes were not kept).
    async fn message_raw(&self, id: ApplicationId, sha256: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Marks up to `limit` website checks as queued, oldest first: those pending, and those
    /// queued before `queued_before` whose job never finished them. Each gets a new job
    /// number; concurrent relays never take the same row.
    async fn queue_website_checks(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        queued_before: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> StoreResult<Vec<WebsiteCheckJob>>;

    async fn website_check(&self, id: uuid::Uuid) -> StoreResult<Option<WebsiteCheckRecord>>;

    /// An application's website checks, oldest first.
    async fn website_checks_for(&self, id: ApplicationId) -> StoreResult<Vec<WebsiteCheckRecord>>;

    /// Records a check's evidence, its decision and its event in one transaction, if the row
    /// is still queued under the job's number (false, nothing written, when it is not). A
    /// moved application is `Conflict`, with nothing written.
    async fn finish_website_check(&self, finish: &WebsiteCheckFinish) -> StoreResult<bool>;
}

/// Implements [`ApplicationStore`] for a backend (see [`super::sql`]).
macro_rules! impl_applications_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        const APPLICATION_SELECT: &str = "SELECT a.id, a.reference, a.account_email, a.applicant_kind, \
             a.requested_limit_cents, a.details, i.state, i.version, a.created_at, i.updated_at \
             FROM applications a JOIN workflow_instances i ON i.id = a.id";

        #[async_trait::async_trait]
        impl crate::store::ApplicationStore for $store {
            async fn application(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Option<crate::store::ApplicationRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("{APPLICATION_SELECT} WHERE a.id = $1"));
                let row = sqlx::query(sql).bind(id.0).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(crate::store::ApplicationRecord::from_row).transpose()?)
            }

            async fn application_by_reference(
                &self,
                reference: &str,
            ) -> crate::store::StoreResult<Option<crate::store::ApplicationRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("{APPLICATION_SELECT} WHERE a.reference = $1"));
                let row = sqlx::query(sql).bind(reference).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(crate::store::ApplicationRecord::from_row).transpose()?)
            }

            async fn list_applications(
                &self,
                f: &crate::store::ApplicationFilter,
            ) -> crate::store::StoreResult<Vec<crate::store::ApplicationRecord>> {
                // The page's start on both sides of the join (see `list_credit_lines`).
                let sql = sqlx::AssertSqlSafe(format!(
                    "{APPLICATION_SELECT} WHERE ($1 IS NULL OR i.state = $1) \
                     AND ($2 IS NULL OR a.account_email = $2) AND ($3 IS NULL OR a.id > $3) \
                     AND ($3 IS NULL OR i.id > $3) ORDER BY a.id LIMIT $4"
                ));
                let rows = sqlx::query(sql)
                    .bind(&f.state)
                    .bind(&f.account_email)
                    .bind(f.after.map(|a| a.0))
                    .bind(f.limit.clamp(1, 10_000))
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::ApplicationRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn application_for_thread(
                &self,
                message_ids: &[String],
            ) -> crate::store::StoreResult<Option<crate::domain::ApplicationId>> {
                for id in message_ids.iter().take(50) {
                    let found: Option<Option<uuid::Uuid>> =
                        sqlx::query_scalar("SELECT application_id FROM inbound_messages WHERE message_id = $1")
                            .bind(id)
                            .fetch_optional(self.pool())
                            .await?;
                    if let Some(Some(app)) = found {
                        return Ok(Some(crate::domain::ApplicationId(app)));
                    }
                }
                Ok(None)
            }

            async fn application_fields(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::FieldRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT field, value, message_id, excerpt, recorded_at FROM application_fields \
                     WHERE application_id = $1 ORDER BY id",
                )
                .bind(id.0)
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::FieldRecord {
                        field: r.try_get("field")?,
                        value: r.try_get("value")?,
                        message_id: r.try_get("message_id")?,
                        excerpt: r.try_get("excerpt")?,
                        recorded_at: r.try_get("recorded_at")?,
                    });
                }
                Ok(out)
            }

            async fn evidence_for(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::EvidenceWrite>> {
                use sqlx::Row;
                let rows =
                    sqlx::query("SELECT kind, data, message_id FROM evidence WHERE application_id = $1 ORDER BY id")
                        .bind(id.0)
                        .fetch_all(self.pool())
                        .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let data: sqlx::types::Json<serde_json::Value> = r.try_get("data")?;
                    out.push(crate::store::EvidenceWrite {
                        kind: r.try_get("kind")?,
                        data: data.0,
                        message_id: r.try_get("message_id")?,
                    });
                }
                Ok(out)
            }

            async fn find_accounts(&self, fragment: &str, limit: i64) -> crate::store::StoreResult<Vec<(String, i64)>> {
                let escaped: String = fragment
                    .to_lowercase()
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                Ok(sqlx::query_as(
                    "SELECT account_email, COUNT(*) FROM applications WHERE account_email LIKE $1 ESCAPE '\\' \
                     GROUP BY account_email ORDER BY account_email LIMIT $2",
                )
                .bind(format!("%{escaped}%"))
                .bind(limit)
                .fetch_all(self.pool())
                .await?)
            }

            async fn message_raw(
                &self,
                id: crate::domain::ApplicationId,
                sha256: &str,
            ) -> crate::store::StoreResult<Option<Vec<u8>>> {
                let raw: Option<Option<Vec<u8>>> =
                    sqlx::query_scalar("SELECT raw FROM inbound_messages WHERE sha256 = $1 AND application_id = $2")
                        .bind(sha256)
                        .bind(id.0)
                        .fetch_optional(self.pool())
                        .await?;
                Ok(raw.flatten())
            }

            async fn messages_for(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::MessageRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT sha256, message_id, outcome, report, received_at FROM inbound_messages \
                     WHERE application_id = $1 ORDER BY received_at, sha256",
                )
                .bind(id.0)
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let report: Option<sqlx::types::Json<serde_json::Value>> = r.try_get("report")?;
                    out.push(crate::store::MessageRecord {
                        sha256: r.try_get("sha256")?,
                        message_id: r.try_get("message_id")?,
                        outcome: r.try_get("outcome")?,
                        report: report.map(|j| j.0),
                        received_at: r.try_get("received_at")?,
                    });
                }
                Ok(out)
            }

            async fn queue_website_checks(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                queued_before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::WebsiteCheckJob>> {
                let mut tx = self.begin_write().await?;
                let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as(concat!(
                    "UPDATE website_checks SET status = 'queued', enqueues = enqueues + 1, queued_at = $1 \
                     WHERE id IN (SELECT id FROM website_checks WHERE status = 'pending' \
                     OR (status = 'queued' AND queued_at < $2) ORDER BY requested_at, id LIMIT $3",
                    $skip_locked,
                    ") RETURNING id, enqueues"
                ))
                .bind(now)
                .bind(queued_before)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(|(id, enqueues)| crate::store::WebsiteCheckJob { id, enqueues }).collect())
            }

            async fn website_check(
                &self,
                id: uuid::Uuid,
            ) -> crate::store::StoreResult<Option<crate::store::WebsiteCheckRecord>> {
                let row = sqlx::query("SELECT * FROM website_checks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(crate::store::WebsiteCheckRecord::from_row).transpose()?)
            }

            async fn website_checks_for(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::WebsiteCheckRecord>> {
                let rows =
                    sqlx::query("SELECT * FROM website_checks WHERE application_id = $1 ORDER BY requested_at, id")
                        .bind(id.0)
                        .fetch_all(self.pool())
                        .await?;
                Ok(rows.iter().map(crate::store::WebsiteCheckRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn finish_website_check(
                &self,
                f: &crate::store::WebsiteCheckFinish,
            ) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE website_checks SET status = 'done', checked_at = $1, evidence = $2 \
                     WHERE id = $3 AND status = 'queued' AND enqueues = $4",
                )
                .bind(f.at)
                .bind(sqlx::types::Json(&f.evidence))
                .bind(f.job.id)
                .bind(f.job.enqueues)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    // Finished already, or queued again under a newer number: that job's.
                    return Ok(false);
                }
                let mut out = Writer::immediate();
                let decisions: Vec<&crate::rules::DecisionRecord> = f.workflow.decisions.iter().collect();
                Self::insert_decisions(&mut tx, &mut out, &decisions).await?;
                Self::workflow_in(&mut tx, &mut out, &f.workflow).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(crate) use impl_applications_store;
