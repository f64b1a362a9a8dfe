//! The rules' recorded decisions read in bulk: what a backtest replays under candidate rules,
//! and what the rule analytics count. (Single subjects' decisions are read through
//! [`super::WorkflowStore`].)

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::domain::DecisionId;

/// Which recorded decisions to read, a page at a time.
#[derive(Debug, Clone, Default)]
pub struct DecisionScan {
    /// One rule's decisions only.
    pub rule: Option<String>,
    /// Decided at or after this moment.
    pub since: Option<DateTime<Utc>>,
    /// After this decision (ids are UUIDv7: their order is the order they were made).
    pub after: Option<DecisionId>,
    pub limit: i64,
}

/// A subject's newest decision of one rule, with what became of the subject: its state now,
/// the line it opened (if any) and the reason given with the reviewer's approval.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReviewedSuggestion {
    pub version: String,
    pub outcome: String,
    #[sqlx(json)]
    pub output: serde_json::Value,
    pub state: String,
    pub line_id: Option<crate::domain::SubjectId>,
    pub line_limit_cents: Option<i64>,
    pub reason: Option<String>,
}

#[async_trait]
pub trait RuleHistoryStore: Send + Sync {
    async fn scan_decisions(&self, scan: &DecisionScan) -> StoreResult<Vec<crate::rules::DecisionRecord>>;

    /// Decisions made since `since`, counted by rule, version, calendar month (UTC,
    /// `YYYY-MM`) and outcome.
    async fn outcomes_by_month(&self, since: DateTime<Utc>) -> StoreResult<Vec<(String, String, String, String, i64)>>;

    /// Who each subject is: its application reference (when it is an application) and its
    /// account, read for many subjects at once.
    async fn subject_names(
        &self,
        ids: &[crate::domain::SubjectId],
    ) -> StoreResult<Vec<(crate::domain::SubjectId, Option<String>, Option<String>)>>;

    /// For each subject `rule` decided about, its newest decision of `rule` and what became of
    /// it; `approvals` are the events whose reason is the reviewer's (at most `limit` rows).
    async fn reviewed_suggestions(
        &self,
        rule: &str,
        approvals: &[&str],
        limit: i64,
    ) -> StoreResult<Vec<ReviewedSuggestion>>;
}

/// Implements [`RuleHistoryStore`] for a backend (see [`super::sql`]).
macro_rules! impl_rule_history_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::RuleHistoryStore for $store {
            async fn scan_decisions(
                &self,
                scan: &crate::store::DecisionScan,
            ) -> crate::store::StoreResult<Vec<crate::rules::DecisionRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM rule_decisions WHERE 1 = 1");
                if let Some(rule) = &scan.rule {
                    q.push(" AND rule = ").push_bind(rule.clone());
                }
                if let Some(since) = scan.since {
                    q.push(" AND decided_at >= ").push_bind(since);
                }
                if let Some(after) = scan.after {
                    q.push(" AND id > ").push_bind(after.0);
                }
                q.push(" ORDER BY id LIMIT ").push_bind(scan.limit);
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::rules::DecisionRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn outcomes_by_month(
                &self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<(String, String, String, String, i64)>> {
                // SQLite keeps times as RFC 3339 text (UTC): the month is its first 7 characters.
                let month = if $backend == "postgres" {
                    "to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM')"
                } else {
                    "substr(decided_at, 1, 7)"
                };
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT rule, version, {month} AS month, outcome, COUNT(*) FROM rule_decisions \
                     WHERE decided_at >= $1 GROUP BY rule, version, {month}, outcome ORDER BY rule, month, version, outcome"
                ));
                Ok(sqlx::query_as(sql).bind(since).fetch_all(self.pool()).await?)
            }

            async fn subject_names(
                &self,
                ids: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::domain::SubjectId, Option<String>, Option<String>)>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT i.id, a.reference, i.account_email FROM workflow_instances i \
                         LEFT JOIN applications a ON a.id = i.id WHERE i.id IN (",
                    );
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.0);
                    }
                    q.push(")");
                    out.extend(q.build_query_as().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }

            async fn reviewed_suggestions(
                &self,
                rule: &str,
                approvals: &[&str],
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::ReviewedSuggestion>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT l.version, l.outcome, l.output, i.state, c.id AS line_id, \
                     c.monthly_limit_cents AS line_limit_cents, \
                     (SELECT e.reason FROM workflow_events e WHERE e.instance_id = l.subject_id AND e.event IN (",
                );
                let mut names = q.separated(", ");
                for a in approvals {
                    names.push_bind(a.to_string());
                }
                q.push(") ORDER BY e.version DESC LIMIT 1) AS reason FROM (SELECT subject_id, version, outcome, output, \
                        ROW_NUMBER() OVER (PARTITION BY subject_id ORDER BY decided_at DESC, id DESC) AS rn \
                        FROM rule_decisions WHERE subject_id IS NOT NULL AND rule = ")
                    .push_bind(rule.to_string())
                    .push(") l JOIN workflow_instances i ON i.id = l.subject_id \
                           LEFT JOIN credit_lines c ON c.application_id = l.subject_id WHERE l.rn = 1 LIMIT ")
                    .push_bind(limit);
                Ok(q.build_query_as().fetch_all(self.pool()).await?)
            }
        }
    };
}

pub(crate) use impl_rule_history_store;
