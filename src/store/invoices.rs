//! Invoice requests and issued invoices, numbered without gaps.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::domain::SubjectId;

/// An invoice request to insert, or whose details to replace (same id).
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceRequestWrite {
    pub id: SubjectId,
    pub reference: String,
    pub account_email: String,
    pub requester: String,
    /// [`crate::domain::invoice::RequestDetails`] as JSON.
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// An invoice request with its workflow state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct InvoiceRequestRecord {
    pub id: SubjectId,
    pub reference: String,
    pub account_email: String,
    pub requester: String,
    #[sqlx(json)]
    pub details: serde_json::Value,
    pub state: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An issued invoice (immutable).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct InvoiceRecord {
    pub number: i64,
    pub request_id: Option<SubjectId>,
    pub account_email: String,
    pub total_cents: i64,
    /// [`crate::domain::invoice::Document`] as JSON.
    #[sqlx(json)]
    pub document: serde_json::Value,
    #[serde(skip)]
    pub html: String,
    #[serde(skip)]
    pub pdf: Vec<u8>,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub account_email: Option<String>,
    /// Invoices numbered after this one.
    pub after: Option<i64>,
    pub limit: i64,
}

/// A reviewer's `mark_sent`: the invoice to issue (numbered `invoice.number`, which must be
/// the counter's next; `None` when the request's invoice exists and is reused) and the task,
/// workflow step (with the email and its attachment), audit entry and kept answer, all in one
/// transaction.
#[derive(Debug, Clone)]
pub struct InvoiceIssue {
    pub invoice: Option<InvoiceRecord>,
    pub action: ActionWrite,
}

#[async_trait]
pub trait InvoiceStore: Send + Sync {
    /// An invoice request with its workflow state.
    async fn invoice_request(&self, id: SubjectId) -> StoreResult<Option<InvoiceRequestRecord>>;

    /// The invoice request with this `IR-…` reference.
    async fn invoice_request_by_reference(&self, reference: &str) -> StoreResult<Option<InvoiceRequestRecord>>;

    /// The number of the last invoice issued (0 before the first).
    async fn last_invoice_number(&self) -> StoreResult<i64>;

    /// Issues an invoice and writes the action that sends it, in one transaction. The counter
    /// moves from `number - 1` to `number` in it: when another issue took that number first
    /// this is `Conflict` (nothing written; plan again with the next number); a request that
    /// has its invoice already is `Duplicate`. A rolled-back issue leaves the counter as it was,
    /// so numbers have no gaps.
    async fn issue_invoice(&self, issue: &InvoiceIssue) -> StoreResult<()>;

    async fn invoice(&self, number: i64) -> StoreResult<Option<InvoiceRecord>>;

    async fn invoice_for_request(&self, request: SubjectId) -> StoreResult<Option<InvoiceRecord>>;

    /// Invoices by number, after the cursor.
    async fn list_invoices(&self, filter: &InvoiceFilter) -> StoreResult<Vec<InvoiceRecord>>;
}

/// Implements [`InvoiceStore`] for a backend (see [`super::sql`]).
macro_rules! impl_invoices_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::InvoiceStore for $store {
            async fn invoice_request(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::InvoiceRequestRecord>> {
                let row = sqlx::query(
                    "SELECT r.*, i.state, i.version FROM invoice_requests r JOIN workflow_instances i ON i.id = r.id \
                     WHERE r.id = $1",
                )
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.as_ref().map(crate::store::InvoiceRequestRecord::from_row).transpose()?)
            }

            async fn invoice_request_by_reference(
                &self,
                reference: &str,
            ) -> crate::store::StoreResult<Option<crate::store::InvoiceRequestRecord>> {
                let row = sqlx::query(
                    "SELECT r.*, i.state, i.version FROM invoice_requests r JOIN workflow_instances i ON i.id = r.id \
                     WHERE r.reference = $1",
                )
                .bind(reference)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.as_ref().map(crate::store::InvoiceRequestRecord::from_row).transpose()?)
            }

            async fn last_invoice_number(&self) -> crate::store::StoreResult<i64> {
                let n: i64 = sqlx::query_scalar("SELECT last_number FROM invoice_counter WHERE id = 1")
                    .fetch_one(self.pool())
                    .await?;
                Ok(n)
            }

            async fn issue_invoice(&self, issue: &crate::store::InvoiceIssue) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut w = Writer::immediate();
                if let Some(v) = &issue.invoice {
                    // Compare-and-set: only the issue that saw the counter at `number - 1` takes
                    // `number`; a rollback below undoes it, so no number is ever burnt.
                    let moved =
                        sqlx::query("UPDATE invoice_counter SET last_number = $1 WHERE id = 1 AND last_number = $2")
                            .bind(v.number)
                            .bind(v.number - 1)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    if moved == 0 {
                        let actual: i64 = sqlx::query_scalar("SELECT last_number FROM invoice_counter WHERE id = 1")
                            .fetch_one(&mut *tx)
                            .await?;
                        return Err(crate::store::StoreError::Conflict { expected: v.number - 1, actual });
                    }
                    sqlx::query(
                        "INSERT INTO invoices (number, request_id, account_email, total_cents, document, html, pdf, \
                         issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(v.number)
                    .bind(v.request_id.map(|r| r.0))
                    .bind(&v.account_email)
                    .bind(v.total_cents)
                    .bind(sqlx::types::Json(&v.document))
                    .bind(&v.html)
                    .bind(&v.pdf)
                    .bind(&v.issued_by)
                    .bind(v.issued_at)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::action_in(&mut tx, &mut w, &issue.action).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn invoice(&self, number: i64) -> crate::store::StoreResult<Option<crate::store::InvoiceRecord>> {
                let row = sqlx::query("SELECT * FROM invoices WHERE number = $1")
                    .bind(number)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(crate::store::InvoiceRecord::from_row).transpose()?)
            }

            async fn invoice_for_request(
                &self,
                request: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::InvoiceRecord>> {
                let row = sqlx::query("SELECT * FROM invoices WHERE request_id = $1")
                    .bind(request.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(crate::store::InvoiceRecord::from_row).transpose()?)
            }

            async fn list_invoices(
                &self,
                filter: &crate::store::InvoiceFilter,
            ) -> crate::store::StoreResult<Vec<crate::store::InvoiceRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM invoices WHERE number > ");
                q.push_bind(filter.after.unwrap_or(0));
                if let Some(a) = &filter.account_email {
                    q.push(" AND account_email = ").push_bind(a.clone());
                }
                q.push(" ORDER BY number LIMIT ").push_bind(filter.limit.max(1));
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::InvoiceRecord::from_row).collect::<Result<_, _>>()?)
            }
        }
    };
}

pub(crate) use impl_invoices_store;
