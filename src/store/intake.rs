//! Inbound messages kept by content hash, and everything processing one writes, in one
//! transaction.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::ApplicationId;

/// A raw inbound message, kept (content-addressed) before anything is read from it.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub sha256: String,
    pub message_id: String,
    pub size: i64,
    /// `None` only for a message rejected for its size: its bytes are not kept.
    pub raw: Option<Vec<u8>>,
    pub source: String,
    pub received_at: DateTime<Utc>,
}

/// What the store already knew of a message when asked to keep it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Stored now, or stored before but never processed (a crash in between): process it.
    ToProcess,
    /// Processed before (same bytes or same Message-ID): its earlier report.
    Processed { report: serde_json::Value },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentWrite {
    pub position: i64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// Everything one processed message changes, written in one transaction together with the
/// message's outcome. If the message was processed meanwhile, nothing is written.
#[derive(Debug, Clone, Default)]
pub struct IntakeWrite {
    pub message_sha256: String,
    pub outcome: String,
    pub application_id: Option<ApplicationId>,
    pub report: serde_json::Value,
    pub processed_at: DateTime<Utc>,
    /// The instances the message opens, the steps it takes and the rule decisions it made.
    pub workflow: WorkflowChanges,
    pub application_update: Option<ApplicationUpdate>,
    pub fields: Vec<(ApplicationId, FieldWrite)>,
    pub evidence: Vec<(ApplicationId, EvidenceWrite)>,
    pub attachments: Vec<AttachmentWrite>,
    pub tasks: Vec<TaskWrite>,
    /// Limit increases requested by the message (their instances are opened in `workflow`).
    pub increases: Vec<IncreaseRecord>,
    /// Website checks the message asks for (an application's website became known); a pair
    /// of application and address asked for before adds nothing.
    pub website_checks: Vec<WebsiteCheckRequest>,
    /// Invoice requests the message opens or adds details to (inserted, or their details
    /// replaced); their instances and steps are in `workflow`.
    pub invoice_requests: Vec<InvoiceRequestWrite>,
}

#[async_trait]
pub trait IntakeStore: Send + Sync {
    /// Keeps a raw inbound message (by content hash) unless it or its Message-ID is known.
    async fn keep_message(&self, message: &RawMessage) -> StoreResult<Kept>;

    /// Several [`Store::keep_message`]s in one transaction (one commit for a batch).
    async fn keep_messages(&self, messages: &[RawMessage]) -> StoreResult<Vec<Kept>>;

    /// Writes everything a processed message changes, and its outcome, in one transaction.
    /// `Duplicate` when the message was processed meanwhile (nothing is written then).
    async fn commit_intake(&self, write: &IntakeWrite) -> StoreResult<()>;

    /// Several intake writes in one transaction: all or none. A write that another write of
    /// the batch depends on (the same instance) is refused as `Conflict`; callers then commit
    /// them one by one.
    async fn commit_intakes(&self, writes: &[IntakeWrite]) -> StoreResult<()>;

    /// How many inbound messages are kept, and how many of them are processed.
    async fn message_counts(&self) -> StoreResult<(i64, i64)>;
}

/// Implements [`IntakeStore`] for a backend (see [`super::sql`]).
macro_rules! impl_intake_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            /// Keeps a raw message unless its bytes or its Message-ID are known; says whether it
            /// still needs processing.
            async fn keep_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                m: &crate::store::RawMessage,
            ) -> crate::store::StoreResult<crate::store::Kept> {
                let inserted: Option<String> = sqlx::query_scalar(
                    "INSERT INTO inbound_messages (sha256, message_id, size, raw, source, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING sha256",
                )
                .bind(&m.sha256)
                .bind(&m.message_id)
                .bind(m.size)
                .bind(&m.raw)
                .bind(&m.source)
                .bind(m.received_at)
                .fetch_optional(&mut *conn)
                .await?;
                // New bytes and a new Message-ID: the common case, settled in one round trip.
                if inserted.is_some() {
                    return Ok(crate::store::Kept::ToProcess);
                }
                let rows = sqlx::query(
                    "SELECT sha256, processed_at, report FROM inbound_messages WHERE sha256 = $1 OR message_id = $2",
                )
                .bind(&m.sha256)
                .bind(&m.message_id)
                .fetch_all(&mut *conn)
                .await?;
                let mut own_unprocessed = false;
                for r in &rows {
                    use sqlx::Row;
                    let sha: String = r.try_get("sha256")?;
                    let done: Option<chrono::DateTime<chrono::Utc>> = r.try_get("processed_at")?;
                    let report: Option<sqlx::types::Json<serde_json::Value>> = r.try_get("report")?;
                    if done.is_some() {
                        return Ok(crate::store::Kept::Processed {
                            report: report.map(|j| j.0).unwrap_or(serde_json::Value::Null),
                        });
                    }
                    own_unprocessed |= sha == m.sha256;
                }
                // Same Message-ID, other bytes, first copy not yet processed: that copy wins.
                Ok(if own_unprocessed {
                    crate::store::Kept::ToProcess
                } else {
                    crate::store::Kept::Processed { report: serde_json::Value::Null }
                })
            }

            /// The state an intake write changes (claim, instances, transitions, events, outbox,
            /// tasks), through `out` (see [`Writer`]); its rows follow in [`Self::write_intake_rows`].
            async fn write_intake(tx: &mut Tx, out: &mut Writer, w: &crate::store::IntakeWrite) -> crate::store::StoreResult<()> {
                let claimed = out
                    .run(tx, |q| {
                        q.push("UPDATE inbound_messages SET outcome = ")
                            .push_bind(w.outcome.clone())
                            .push(", application_id = ")
                            .push_bind(w.application_id.map(|a| a.0))
                            .push(", report = ")
                            .push_bind(sqlx::types::Json(w.report.clone()))
                            .push(", processed_at = ")
                            .push_bind(w.processed_at)
                            .push(" WHERE sha256 = ")
                            .push_bind(w.message_sha256.clone())
                            .push(" AND processed_at IS NULL");
                    })
                    .await?;
                if claimed == Some(0) {
                    return Err(crate::store::StoreError::Duplicate(format!("message {} already processed", w.message_sha256)));
                }
                // Instances first: the increase and invoice-request rows are keyed by theirs.
                Self::open_in(tx, out, &w.workflow).await?;
                for r in &w.increases {
                    Self::insert_increase(tx, out, r).await?;
                }
                for r in &w.invoice_requests {
                    out.run(tx, |q| {
                        q.push(
                            "INSERT INTO invoice_requests (id, reference, account_email, requester, details, created_at, \
                             updated_at) ",
                        );
                        q.push_values([r], |mut b, r| {
                            b.push_bind(r.id.0)
                                .push_bind(r.reference.clone())
                                .push_bind(r.account_email.clone())
                                .push_bind(r.requester.clone())
                                .push_bind(sqlx::types::Json(r.details.clone()))
                                .push_bind(r.at)
                                .push_bind(r.at);
                        });
                        q.push(" ON CONFLICT (id) DO UPDATE SET details = excluded.details, updated_at = excluded.updated_at");
                    })
                    .await?;
                }
                if let Some(u) = &w.application_update {
                    out.run(tx, |q| {
                        q.push("UPDATE applications SET applicant_kind = COALESCE(")
                            .push_bind(u.applicant_kind.clone())
                            .push(", applicant_kind), requested_limit_cents = COALESCE(")
                            .push_bind(u.requested_limit_cents)
                            .push(", requested_limit_cents), details = ")
                            .push_bind(sqlx::types::Json(u.details.clone()))
                            .push(" WHERE id = ")
                            .push_bind(u.id.0);
                    })
                    .await?;
                }
                Self::steps_in(tx, out, &w.workflow).await?;
                for t in &w.tasks {
                    Self::insert_task(tx, out, t, w.processed_at).await?;
                }
                Ok(())
            }

            /// The rows many intake writes add (decisions, fields, evidence, attachments), one
            /// multi-row statement per table: fewer statements for the database to prepare.
            async fn write_intake_rows(
                tx: &mut Tx,
                out: &mut Writer,
                writes: &[crate::store::IntakeWrite],
            ) -> crate::store::StoreResult<()> {
                let decisions: Vec<&crate::rules::DecisionRecord> =
                    writes.iter().flat_map(|w| &w.workflow.decisions).collect();
                Self::insert_decisions(tx, out, &decisions).await?;
                let fields: Vec<_> =
                    writes.iter().flat_map(|w| w.fields.iter().map(move |(app, f)| (app, f, w.processed_at))).collect();
                if !fields.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO application_fields (application_id, field, value, message_id, excerpt, recorded_at) ");
                        q.push_values(&fields, |mut b, (app, f, at)| {
                            b.push_bind(app.0)
                                .push_bind(f.field.clone())
                                .push_bind(f.value.clone())
                                .push_bind(f.message_id.clone())
                                .push_bind(f.excerpt.clone())
                                .push_bind(*at);
                        });
                    })
                    .await?;
                }
                let evidence: Vec<_> =
                    writes.iter().flat_map(|w| w.evidence.iter().map(move |(app, e)| (app, e, w.processed_at))).collect();
                if !evidence.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO evidence (application_id, kind, data, message_id, recorded_at) ");
                        q.push_values(&evidence, |mut b, (app, e, at)| {
                            b.push_bind(app.0)
                                .push_bind(e.kind.clone())
                                .push_bind(sqlx::types::Json(e.data.clone()))
                                .push_bind(e.message_id.clone())
                                .push_bind(*at);
                        });
                    })
                    .await?;
                }
                let checks: Vec<_> =
                    writes.iter().flat_map(|w| w.website_checks.iter().map(move |c| (c, w.processed_at))).collect();
                if !checks.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO website_checks (id, application_id, url, requested_at) ");
                        q.push_values(&checks, |mut b, (c, at)| {
                            b.push_bind(c.id).push_bind(c.application_id.0).push_bind(c.url.clone()).push_bind(*at);
                        });
                        // Asked for before (the same address again, a replayed message): once.
                        q.push(" ON CONFLICT (application_id, url) DO NOTHING");
                    })
                    .await?;
                }
                let attachments: Vec<_> =
                    writes.iter().flat_map(|w| w.attachments.iter().map(move |a| (&w.message_sha256, a))).collect();
                if !attachments.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO message_attachments (message_sha256, position, filename, content_type, size, sha256) ");
                        q.push_values(&attachments, |mut b, (message, a)| {
                            b.push_bind((*message).clone())
                                .push_bind(a.position)
                                .push_bind(a.filename.clone())
                                .push_bind(a.content_type.clone())
                                .push_bind(a.size)
                                .push_bind(a.sha256.clone());
                        });
                    })
                    .await?;
                }
                Ok(())
            }

            /// The guards of an intake write, checked before anything is written: the message
            /// is still unclaimed, and every existing instance a transition moves is at the
            /// version and state the plan started from.
            async fn intake_guards(tx: &mut Tx, w: &crate::store::IntakeWrite) -> crate::store::StoreResult<()> {
                let unclaimed: Option<bool> =
                    sqlx::query_scalar("SELECT processed_at IS NULL FROM inbound_messages WHERE sha256 = $1")
                        .bind(&w.message_sha256)
                        .fetch_optional(&mut **tx)
                        .await?;
                if unclaimed != Some(true) {
                    return Err(crate::store::StoreError::Duplicate(format!("message {} already processed", w.message_sha256)));
                }
                let mut seen = std::collections::HashSet::new();
                for t in w.workflow.stored_steps() {
                    // Only the first transition of each instance starts from stored state.
                    if !seen.insert(t.instance_id) {
                        continue;
                    }
                    let row: Option<(i64, String)> =
                        sqlx::query_as("SELECT version, state FROM workflow_instances WHERE id = $1")
                            .bind(t.instance_id.0)
                            .fetch_optional(&mut **tx)
                            .await?;
                    match row {
                        Some((v, s)) if v == t.expected_version && s == t.from_state => {}
                        Some((actual, _)) => {
                            return Err(crate::store::StoreError::Conflict { expected: t.expected_version, actual });
                        }
                        None => {
                            return Err(crate::store::StoreError::NotFound(format!("workflow instance {}", t.instance_id)));
                        }
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::IntakeStore for $store {
            async fn keep_message(&self, m: &crate::store::RawMessage) -> crate::store::StoreResult<crate::store::Kept> {
                let mut conn = self.writer().acquire().await?;
                Self::keep_in(&mut conn, m).await
            }

            async fn keep_messages(
                &self,
                messages: &[crate::store::RawMessage],
            ) -> crate::store::StoreResult<Vec<crate::store::Kept>> {
                let mut tx = self.begin_write().await?;
                let mut kept = Vec::with_capacity(messages.len());
                for m in messages {
                    kept.push(Self::keep_in(&mut tx, m).await?);
                }
                tx.commit().await?;
                Ok(kept)
            }

            async fn commit_intake(&self, w: &crate::store::IntakeWrite) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut out = Writer::fusing();
                if $fuse {
                    Self::intake_guards(&mut tx, w).await?;
                }
                Self::write_intake(&mut tx, &mut out, w).await?;
                Self::write_intake_rows(&mut tx, &mut out, std::slice::from_ref(w)).await?;
                out.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn commit_intakes(&self, writes: &[crate::store::IntakeWrite]) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut out = Writer::fusing();
                let mut touched = std::collections::HashSet::new();
                for w in writes {
                    // Guards read committed state, so a write moving an instance that an
                    // earlier write of this batch moved would pass them wrongly. Callers keep
                    // such messages apart; refuse the batch if one slips through.
                    if w.workflow.stored_steps().any(|t| !touched.insert(t.instance_id)) {
                        return Err(crate::store::StoreError::Conflict { expected: 0, actual: 0 });
                    }
                    if $fuse {
                        Self::intake_guards(&mut tx, w).await?;
                    }
                    Self::write_intake(&mut tx, &mut out, w).await?;
                }
                Self::write_intake_rows(&mut tx, &mut out, writes).await?;
                out.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn message_counts(&self) -> crate::store::StoreResult<(i64, i64)> {
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages").fetch_one(self.pool()).await?;
                let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE processed_at IS NOT NULL")
                    .fetch_one(self.pool())
                    .await?;
                Ok((total, done))
            }
        }
    };
}

pub(crate) use impl_intake_store;
