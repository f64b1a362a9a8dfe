//! Credit lines as approvals opened them (their state is their workflow instance), and their
//! limit increases.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::{ApplicationId, SubjectId};

/// The credit line an approval opens (its state lives in its workflow instance).
#[derive(Debug, Clone, PartialEq)]
pub struct CreditLineWrite {
    pub id: SubjectId,
    pub account_email: String,
    pub application_id: ApplicationId,
    pub monthly_limit_cents: i64,
    pub approved_by: String,
    pub second_approver: Option<String>,
}

/// A credit line with its workflow state and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct CreditLineRecord {
    pub id: SubjectId,
    pub account_email: String,
    pub application_id: ApplicationId,
    pub monthly_limit_cents: i64,
    pub approved_by: String,
    pub second_approver: Option<String>,
    pub state: String,
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct CreditLineFilter {
    pub account_email: Option<String>,
    pub state: Option<String>,
    pub after: Option<SubjectId>,
    pub limit: i64,
    /// Only lines with a bill not paid in full (the scans that gate and remind).
    pub owing: bool,
}

/// A proposed or requested higher limit for a credit line (its state is the
/// `limit_increase` workflow instance with the same id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct IncreaseRecord {
    pub id: SubjectId,
    pub line_id: SubjectId,
    pub account_email: String,
    pub current_limit_cents: i64,
    pub next_limit_cents: i64,
    /// The deposit to hold first (0 below the deposit tier).
    pub deposit_cents: i64,
    pub created_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait CreditLineStore: Send + Sync {
    async fn credit_line(&self, id: SubjectId) -> StoreResult<Option<CreditLineRecord>>;

    /// Credit lines, oldest first, after the cursor.
    async fn list_credit_lines(&self, filter: &CreditLineFilter) -> StoreResult<Vec<CreditLineRecord>>;

    /// A line's limit increases with their workflow states, oldest first.
    async fn increases_for_line(&self, line: SubjectId) -> StoreResult<Vec<(IncreaseRecord, String)>>;

    /// The limit increases of these lines with their workflow states, oldest first.
    async fn increases_for_lines(&self, lines: &[SubjectId]) -> StoreResult<Vec<(IncreaseRecord, String)>>;

    /// One limit increase with its workflow state.
    async fn increase(&self, id: SubjectId) -> StoreResult<Option<(IncreaseRecord, String)>>;
}

/// Implements [`CreditLineStore`] for a backend (see [`super::sql`]).
macro_rules! impl_credit_lines_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        const CREDIT_LINE_SELECT: &str = "SELECT l.id, l.account_email, l.application_id, l.monthly_limit_cents, \
             l.approved_by, l.second_approver, i.state, i.version, l.opened_at, i.updated_at \
             FROM credit_lines l JOIN workflow_instances i ON i.id = l.id";

        impl $store {
            async fn insert_increase(tx: &mut Tx, w: &mut Writer, r: &crate::store::IncreaseRecord) -> Result<(), sqlx::Error> {
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO limit_increases (id, line_id, account_email, current_limit_cents, next_limit_cents, \
                         deposit_cents, created_at) ",
                    );
                    q.push_values([r], |mut b, r| {
                        b.push_bind(r.id.0)
                            .push_bind(r.line_id.0)
                            .push_bind(r.account_email.clone())
                            .push_bind(r.current_limit_cents)
                            .push_bind(r.next_limit_cents)
                            .push_bind(r.deposit_cents)
                            .push_bind(r.created_at);
                    });
                })
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::CreditLineStore for $store {
            async fn credit_line(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::CreditLineRecord>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("{CREDIT_LINE_SELECT} WHERE l.id = $1")))
                    .bind(id.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(crate::store::CreditLineRecord::from_row).transpose()?)
            }

            async fn list_credit_lines(
                &self,
                f: &crate::store::CreditLineFilter,
            ) -> crate::store::StoreResult<Vec<crate::store::CreditLineRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(CREDIT_LINE_SELECT);
                q.push(" WHERE 1 = 1");
                if let Some(a) = &f.account_email {
                    q.push(" AND l.account_email = ").push_bind(a.clone());
                }
                if let Some(s) = &f.state {
                    q.push(" AND i.state = ").push_bind(s.clone());
                }
                if let Some(after) = f.after {
                    // Every table joined by line (here and for `owing` below): given only the
                    // line's, PostgreSQL merge-joined against every instance from the first,
                    // each page reading all before it.
                    q.push(" AND l.id > ").push_bind(after.0).push(" AND i.id > ").push_bind(after.0);
                }
                if f.owing {
                    q.push(" AND EXISTS (SELECT 1 FROM bills b WHERE b.line_id = l.id AND b.paid_cents < b.amount_cents");
                    if let Some(after) = f.after {
                        q.push(" AND b.line_id > ").push_bind(after.0);
                    }
                    q.push(")");
                }
                q.push(" ORDER BY l.id LIMIT ").push_bind(f.limit.clamp(1, 10_000));
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::CreditLineRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn increases_for_line(&self, line: crate::domain::SubjectId) -> crate::store::StoreResult<Vec<(crate::store::IncreaseRecord, String)>> {
                self.increases_for_lines(&[line]).await
            }

            async fn increases_for_lines(
                &self,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::store::IncreaseRecord, String)>> {
                let head = "SELECT x.*, i.state FROM limit_increases x JOIN workflow_instances i ON i.id = x.id WHERE x.line_id IN (";
                let found = self.rows_of_lines(head, lines, ") ORDER BY x.id").await?;
                Ok(found.iter().map(with_state::<crate::store::IncreaseRecord>).collect::<Result<_, _>>()?)
            }

            async fn increase(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<(crate::store::IncreaseRecord, String)>> {
                let row = sqlx::query("SELECT x.*, i.state FROM limit_increases x JOIN workflow_instances i ON i.id = x.id WHERE x.id = $1")
                    .bind(id.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(with_state::<crate::store::IncreaseRecord>).transpose()?)
            }
        }
    };
}

pub(crate) use impl_credit_lines_store;
