//! Rule policy versions: every rule version ever loaded, and the policy versions proposed,
//! put in force by a second person, rejected or superseded (issue 21).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::rules::PolicyFiles;

/// A policy version as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyRecord {
    pub id: uuid::Uuid,
    /// [`PolicyFiles::hash`].
    pub hash: String,
    #[serde(skip)]
    pub files: PolicyFiles,
    pub note: String,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    /// [`crate::rules::policy::policy_state`].
    pub state: String,
    /// The earlier version this one restores, for a rollback.
    pub rollback_of: Option<uuid::Uuid>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub version: i64,
    /// Evaluated beside every live decision, never acting.
    pub shadow: bool,
}

/// Approving (putting in force) or rejecting a proposed version, as its page showed it.
#[derive(Debug, Clone)]
pub struct PolicyDecision {
    pub id: uuid::Uuid,
    pub expected_version: i64,
    /// The state it moves to: in force, or rejected.
    pub to_state: &'static str,
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

#[async_trait]
pub trait RulePolicyStore: Send + Sync {
    /// Keeps each rule version (name, version, source) not kept yet.
    async fn keep_rule_versions(&self, rules: &[(String, String, String)], at: DateTime<Utc>) -> StoreResult<()>;

    /// Stores a policy version (proposed, or in force when it is the first one) with its rule
    /// versions and its audit entry, in one transaction. A second version in force is
    /// `Duplicate`, with nothing written.
    async fn add_policy(&self, policy: &PolicyRecord, audit: &AuditRecord) -> StoreResult<()>;

    /// Moves a proposed version to `to_state` if it is still proposed at the version the
    /// caller saw (else `Conflict`); putting it in force supersedes the one in force, in the
    /// same transaction as the audit entry.
    async fn decide_policy(&self, decision: &PolicyDecision, audit: &AuditRecord) -> StoreResult<PolicyRecord>;

    async fn policy(&self, id: uuid::Uuid) -> StoreResult<Option<PolicyRecord>>;

    /// Policy versions, newest first (at most `limit`), without their files.
    async fn policies(&self, limit: i64) -> StoreResult<Vec<PolicyRecord>>;

    /// The kept versions of a rule, oldest first: (version, when first seen, source).
    async fn rule_versions(&self, rule: &str) -> StoreResult<Vec<(String, DateTime<Utc>, String)>>;

    /// The version in force: its id and hash (a cheap read, for polling).
    async fn policy_in_force(&self) -> StoreResult<Option<(uuid::Uuid, String)>>;

    /// Starts (stopping any other) or stops the shadow run of a proposed version, with its
    /// audit entry; `Conflict` when the version is no longer proposed.
    async fn set_shadow(&self, id: uuid::Uuid, on: bool, audit: &AuditRecord) -> StoreResult<()>;

    /// The proposed version running in shadow, if any.
    async fn policy_in_shadow(&self) -> StoreResult<Option<uuid::Uuid>>;

    async fn add_shadow_decisions(&self, records: &[crate::rules::shadow::ShadowRecord]) -> StoreResult<()>;

    /// A shadow run's results counted per rule, live outcome, shadow outcome and whether
    /// the outputs (limits, deposits) differ.
    async fn shadow_counts(&self, policy: uuid::Uuid) -> StoreResult<Vec<ShadowCount>>;

    /// The shadow results that differ from the live decision, newest first.
    async fn shadow_changes(&self, policy: uuid::Uuid, limit: i64) -> StoreResult<Vec<ShadowChange>>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ShadowCount {
    pub rule: String,
    pub live_outcome: String,
    pub shadow_outcome: String,
    /// The outputs differ (same outcome, another limit, say).
    pub output_differs: bool,
    pub decisions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ShadowChange {
    pub live_decision_id: uuid::Uuid,
    pub rule: String,
    pub subject_id: Option<crate::domain::SubjectId>,
    pub live_outcome: String,
    #[sqlx(json)]
    pub live_output: serde_json::Value,
    pub shadow_outcome: String,
    #[sqlx(json)]
    pub shadow_output: serde_json::Value,
    #[sqlx(json)]
    pub shadow_reasons: Vec<String>,
    pub decided_at: DateTime<Utc>,
}

pub(crate) fn policy_from_row<R>(row: &R, with_files: bool) -> Result<PolicyRecord, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> uuid::Uuid: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> sqlx::types::Json<PolicyFiles>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let files =
        if with_files { row.try_get::<sqlx::types::Json<PolicyFiles>, _>("files")?.0 } else { PolicyFiles::default() };
    Ok(PolicyRecord {
        id: row.try_get("id")?,
        hash: row.try_get("hash")?,
        files,
        note: row.try_get("note")?,
        proposed_by: row.try_get("proposed_by")?,
        proposed_at: row.try_get("proposed_at")?,
        state: row.try_get("state")?,
        rollback_of: row.try_get("rollback_of")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        decision_note: row.try_get("decision_note")?,
        version: row.try_get("version")?,
        shadow: row.try_get("shadow")?,
    })
}

/// Implements [`RulePolicyStore`] for a backend (see [`super::sql`]).
macro_rules! impl_rule_policies_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            async fn keep_rule_versions_in(
                tx: &mut Tx,
                rules: &[(String, String, String)],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                for (rule, version, source) in rules {
                    sqlx::query(
                        "INSERT INTO rule_versions (rule, version, source, first_seen_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (rule, version) DO NOTHING",
                    )
                    .bind(rule)
                    .bind(version)
                    .bind(source)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::RulePolicyStore for $store {
            async fn keep_rule_versions(
                &self,
                rules: &[(String, String, String)],
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::keep_rule_versions_in(&mut tx, rules, at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_policy(
                &self,
                p: &crate::store::PolicyRecord,
                audit: &crate::store::AuditRecord,
            ) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let rules: Vec<(String, String, String)> =
                    p.files.rules().map(|(n, v, s)| (n.to_string(), v, s.to_string())).collect();
                Self::keep_rule_versions_in(&mut tx, &rules, p.proposed_at).await?;
                sqlx::query(
                    "INSERT INTO rule_policies (id, hash, files, note, proposed_by, proposed_at, state, rollback_of, \
                     decided_by, decided_at, decision_note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(p.id)
                .bind(&p.hash)
                .bind(sqlx::types::Json(&p.files))
                .bind(&p.note)
                .bind(&p.proposed_by)
                .bind(p.proposed_at)
                .bind(&p.state)
                .bind(p.rollback_of)
                .bind(&p.decided_by)
                .bind(p.decided_at)
                .bind(&p.decision_note)
                .execute(&mut *tx)
                .await?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn decide_policy(
                &self,
                d: &crate::store::PolicyDecision,
                audit: &crate::store::AuditRecord,
            ) -> crate::store::StoreResult<crate::store::PolicyRecord> {
                use crate::rules::policy::policy_state;
                let mut tx = self.begin_write().await?;
                let current: Option<(String, i64)> =
                    sqlx::query_as("SELECT state, version FROM rule_policies WHERE id = $1")
                        .bind(d.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match current {
                    None => return Err(crate::store::StoreError::NotFound(format!("policy version {}", d.id))),
                    Some((state, version)) if state != policy_state::PROPOSED || version != d.expected_version => {
                        return Err(crate::store::StoreError::Conflict { expected: d.expected_version, actual: version });
                    }
                    Some(_) => {}
                }
                // A decided version runs in shadow no more; a rejected one's shadow results go.
                sqlx::query("UPDATE rule_policies SET shadow = $1 WHERE id = $2").bind(false).bind(d.id).execute(&mut *tx).await?;
                if d.to_state == policy_state::REJECTED {
                    sqlx::query("DELETE FROM shadow_decisions WHERE policy_id = $1").bind(d.id).execute(&mut *tx).await?;
                }
                if d.to_state == policy_state::IN_FORCE {
                    sqlx::query("UPDATE rule_policies SET state = $1, version = version + 1 WHERE state = $2")
                        .bind(policy_state::SUPERSEDED)
                        .bind(policy_state::IN_FORCE)
                        .execute(&mut *tx)
                        .await?;
                }
                let row = sqlx::query(
                    "UPDATE rule_policies SET state = $1, decided_by = $2, decided_at = $3, decision_note = $4, \
                     version = version + 1 WHERE id = $5 AND version = $6 RETURNING *",
                )
                .bind(d.to_state)
                .bind(&d.by)
                .bind(d.at)
                .bind(&d.note)
                .bind(d.id)
                .bind(d.expected_version)
                .fetch_one(&mut *tx)
                .await?;
                let record = crate::store::rule_policies::policy_from_row(&row, true)?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn policy(&self, id: uuid::Uuid) -> crate::store::StoreResult<Option<crate::store::PolicyRecord>> {
                let row = sqlx::query("SELECT * FROM rule_policies WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(|r| crate::store::rule_policies::policy_from_row(r, true)).transpose()?)
            }

            async fn policies(&self, limit: i64) -> crate::store::StoreResult<Vec<crate::store::PolicyRecord>> {
                let rows = sqlx::query(
                    "SELECT id, hash, note, proposed_by, proposed_at, state, rollback_of, decided_by, decided_at, \
                     decision_note, version, shadow FROM rule_policies ORDER BY proposed_at DESC, id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| crate::store::rule_policies::policy_from_row(r, false))
                    .collect::<Result<_, _>>()?)
            }

            async fn set_shadow(
                &self,
                id: uuid::Uuid,
                on: bool,
                audit: &crate::store::AuditRecord,
            ) -> crate::store::StoreResult<()> {
                use crate::rules::policy::policy_state;
                let mut tx = self.begin_write().await?;
                if on {
                    sqlx::query("UPDATE rule_policies SET shadow = $1 WHERE shadow = $2")
                        .bind(false)
                        .bind(true)
                        .execute(&mut *tx)
                        .await?;
                }
                let done = sqlx::query("UPDATE rule_policies SET shadow = $1 WHERE id = $2 AND state = $3")
                    .bind(on)
                    .bind(id)
                    .bind(policy_state::PROPOSED)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(crate::store::StoreError::Conflict { expected: 0, actual: 0 });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn policy_in_shadow(&self) -> crate::store::StoreResult<Option<uuid::Uuid>> {
                Ok(sqlx::query_scalar("SELECT id FROM rule_policies WHERE shadow = $1")
                    .bind(true)
                    .fetch_optional(self.pool())
                    .await?)
            }

            async fn add_shadow_decisions(
                &self,
                records: &[crate::rules::shadow::ShadowRecord],
            ) -> crate::store::StoreResult<()> {
                if records.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for chunk in records.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO shadow_decisions (id, policy_id, live_decision_id, rule, subject_id, live_version, \
                         live_outcome, live_output, shadow_version, shadow_outcome, shadow_output, shadow_reasons, decided_at) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id)
                            .push_bind(r.policy)
                            .push_bind(r.live.id.0)
                            .push_bind(r.live.rule.clone())
                            .push_bind(r.live.subject.map(|s| s.0))
                            .push_bind(r.live.version.clone())
                            .push_bind(r.live.outcome.clone())
                            .push_bind(sqlx::types::Json(r.live.output.clone()))
                            .push_bind(r.shadow.version.clone())
                            .push_bind(r.shadow.outcome.clone())
                            .push_bind(sqlx::types::Json(r.shadow.output.clone()))
                            .push_bind(sqlx::types::Json(r.shadow.reasons.clone()))
                            .push_bind(r.live.decided_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn shadow_counts(
                &self,
                policy: uuid::Uuid,
            ) -> crate::store::StoreResult<Vec<crate::store::ShadowCount>> {
                Ok(sqlx::query_as(
                    "SELECT rule, live_outcome, shadow_outcome, \
                     (CASE WHEN live_output = shadow_output THEN 0 ELSE 1 END) = 1 AS output_differs, COUNT(*) AS decisions \
                     FROM shadow_decisions WHERE policy_id = $1 \
                     GROUP BY rule, live_outcome, shadow_outcome, CASE WHEN live_output = shadow_output THEN 0 ELSE 1 END \
                     ORDER BY rule, live_outcome, shadow_outcome",
                )
                .bind(policy)
                .fetch_all(self.pool())
                .await?)
            }

            async fn shadow_changes(
                &self,
                policy: uuid::Uuid,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::ShadowChange>> {
                Ok(sqlx::query_as(
                    "SELECT live_decision_id, rule, subject_id, live_outcome, live_output, shadow_outcome, shadow_output, \
                     shadow_reasons, decided_at FROM shadow_decisions \
                     WHERE policy_id = $1 AND (live_outcome <> shadow_outcome OR live_output <> shadow_output) \
                     ORDER BY decided_at DESC, id DESC LIMIT $2",
                )
                .bind(policy)
                .bind(limit)
                .fetch_all(self.pool())
                .await?)
            }

            async fn rule_versions(
                &self,
                rule: &str,
            ) -> crate::store::StoreResult<Vec<(String, chrono::DateTime<chrono::Utc>, String)>> {
                Ok(sqlx::query_as(
                    "SELECT version, first_seen_at, source FROM rule_versions WHERE rule = $1 ORDER BY first_seen_at, version",
                )
                .bind(rule)
                .fetch_all(self.pool())
                .await?)
            }

            async fn policy_in_force(&self) -> crate::store::StoreResult<Option<(uuid::Uuid, String)>> {
                Ok(sqlx::query_as("SELECT id, hash FROM rule_policies WHERE state = $1")
                    .bind(crate::rules::policy::policy_state::IN_FORCE)
                    .fetch_optional(self.pool())
                    .await?)
            }
        }
    };
}

pub(crate) use impl_rule_policies_store;
