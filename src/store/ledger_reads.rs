//! Reads of the ledger: entries, balances, credit used, account figures, and the sums and
//! breaches `ledger verify` compares.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::domain::SubjectId;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct EntryRecord {
    pub id: uuid::Uuid,
    pub account_email: String,
    pub kind: String,
    pub bucket: String,
    pub amount_cents: i64,
    pub line_id: Option<SubjectId>,
    pub period: Option<String>,
    pub idempotency_key: String,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An account's balances as stored (each must equal the sum of its entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balances {
    pub prepaid_cents: i64,
    pub deposit_cents: i64,
}

/// What an account holds and what it bought lately, read for many accounts at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFigures {
    pub account_email: String,
    pub balances: Balances,
    pub topups_cents: i64,
}

/// Stored balances next to the sums of the entries, per account and per line and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSums {
    /// (account, stored prepaid, stored deposit, sum of prepaid entries, sum of deposit entries)
    pub accounts: Vec<(String, i64, i64, i64, i64)>,
    /// (line, period, stored used, limit, minus the sum of its credit entries)
    pub usage: Vec<(SubjectId, String, i64, i64, i64)>,
    /// Accounts with entries but no balance row.
    pub orphans: Vec<String>,
    /// (account, owed on its bills, sum of its receivable entries)
    pub receivables: Vec<(String, i64, i64)>,
}

#[async_trait::async_trait]
pub trait LedgerReadStore: Send + Sync {
    async fn balances(&self, account_email: &str) -> StoreResult<Balances>;

    /// Credit drawn on a line in a period (0 when nothing was).
    async fn credit_used(&self, line: SubjectId, period: crate::domain::Period) -> StoreResult<i64>;

    /// An account's entries, oldest first.
    async fn ledger_entries(&self, account_email: &str) -> StoreResult<Vec<EntryRecord>>;

    /// The entries of these accounts made after `since`, oldest first.
    async fn entries_since(
        &self,
        accounts: &[String],
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<EntryRecord>>;

    /// The entries with these idempotency keys.
    async fn entries_by_keys(&self, keys: &[String]) -> StoreResult<Vec<EntryRecord>>;

    /// The ledger entries of a provider's transaction, oldest first.
    async fn entries_by_provider_ref(&self, provider: &str, reference: &str) -> StoreResult<Vec<EntryRecord>>;

    /// Ledger entries with an id above `after`, oldest first, up to `limit`.
    async fn entries_after(&self, after: uuid::Uuid, limit: i64) -> StoreResult<Vec<EntryRecord>>;

    /// Balances and prepaid bought since `topups_since` of these accounts (those with a
    /// ledger account; the others have neither).
    async fn account_figures(
        &self,
        accounts: &[String],
        topups_since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<AccountFigures>>;

    /// What `ledger verify` compares.
    async fn ledger_sums(&self) -> StoreResult<LedgerSums>;

    /// What the ledger's CHECKs forbid, found anyway: balances below zero, credit used over
    /// its period's limit (one line each).
    async fn ledger_breaches(&self) -> StoreResult<Vec<String>>;
}

/// Implements [`LedgerReadStore`] for a backend (see [`super::sql`]).
macro_rules! impl_ledger_reads_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::LedgerReadStore for $store {
            async fn balances(&self, account_email: &str) -> crate::store::StoreResult<crate::store::Balances> {
                let row: Option<(i64, i64)> =
                    sqlx::query_as("SELECT prepaid_cents, deposit_cents FROM ledger_accounts WHERE account_email = $1")
                        .bind(account_email)
                        .fetch_optional(self.pool())
                        .await?;
                let (prepaid_cents, deposit_cents) = row.unwrap_or_default();
                Ok(crate::store::Balances { prepaid_cents, deposit_cents })
            }

            async fn credit_used(
                &self,
                line: crate::domain::SubjectId,
                period: crate::domain::Period,
            ) -> crate::store::StoreResult<i64> {
                let used: Option<i64> = sqlx::query_scalar("SELECT used_cents FROM credit_usage WHERE line_id = $1 AND period = $2")
                    .bind(line.0)
                    .bind(period.to_string())
                    .fetch_optional(self.pool())
                    .await?;
                Ok(used.unwrap_or(0))
            }

            async fn ledger_entries(&self, account_email: &str) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let rows = sqlx::query("SELECT * FROM ledger_entries WHERE account_email = $1 ORDER BY id")
                    .bind(account_email)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::EntryRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn entries_since(
                &self,
                accounts: &[String],
                since: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM ledger_entries WHERE created_at > ");
                    q.push_bind(since);
                    q.push(" AND account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(") ORDER BY id");
                    let rows = q.build().fetch_all(self.pool()).await?;
                    out.extend(rows.iter().map(crate::store::EntryRecord::from_row).collect::<Result<Vec<_>, _>>()?);
                }
                Ok(out)
            }

            async fn entries_by_keys(&self, keys: &[String]) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM ledger_entries WHERE idempotency_key IN (");
                let mut list = q.separated(", ");
                for k in keys {
                    list.push_bind(k.clone());
                }
                q.push(") ORDER BY id");
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::EntryRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn entries_by_provider_ref(
                &self,
                provider: &str,
                reference: &str,
            ) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let rows = sqlx::query("SELECT * FROM ledger_entries WHERE provider = $1 AND provider_ref = $2 ORDER BY id")
                    .bind(provider)
                    .bind(reference)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::EntryRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn entries_after(&self, after: uuid::Uuid, limit: i64) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let rows = sqlx::query("SELECT * FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::EntryRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn account_figures(
                &self,
                accounts: &[String],
                topups_since: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::AccountFigures>> {
                use sqlx::Row;
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new(
                        "SELECT a.account_email, a.prepaid_cents, a.deposit_cents, \
                         CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e WHERE e.account_email = a.account_email \
                         AND e.kind = 'top_up' AND e.created_at > ",
                    );
                    q.push_bind(topups_since);
                    q.push("), 0) AS BIGINT) AS topups FROM ledger_accounts a WHERE a.account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(")");
                    for r in &q.build().fetch_all(self.pool()).await? {
                        out.push(crate::store::AccountFigures {
                            account_email: r.try_get("account_email")?,
                            balances: crate::store::Balances {
                                prepaid_cents: r.try_get("prepaid_cents")?,
                                deposit_cents: r.try_get("deposit_cents")?,
                            },
                            topups_cents: r.try_get("topups")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn ledger_sums(&self) -> crate::store::StoreResult<crate::store::LedgerSums> {
                let accounts: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT a.account_email, a.prepaid_cents, a.deposit_cents, \
                     CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.account_email = a.account_email AND e.bucket = 'prepaid'), 0) AS BIGINT), \
                     CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.account_email = a.account_email AND e.bucket = 'deposit'), 0) AS BIGINT) \
                     FROM ledger_accounts a ORDER BY a.account_email",
                )
                .fetch_all(self.pool())
                .await?;
                let usage: Vec<(uuid::Uuid, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT u.line_id, u.period, u.used_cents, u.limit_cents, \
                     CAST(-COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.line_id = u.line_id AND e.period = u.period AND e.bucket = 'credit'), 0) AS BIGINT) \
                     FROM credit_usage u ORDER BY u.line_id, u.period",
                )
                .fetch_all(self.pool())
                .await?;
                let orphans: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT e.account_email FROM ledger_entries e \
                     WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.account_email = e.account_email) \
                     ORDER BY e.account_email",
                )
                .fetch_all(self.pool())
                .await?;
                let receivables: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT b.account_email, CAST(SUM(b.amount_cents - b.paid_cents) AS BIGINT), \
                     CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.account_email = b.account_email AND e.bucket = 'receivable'), 0) AS BIGINT) \
                     FROM bills b GROUP BY b.account_email ORDER BY b.account_email",
                )
                .fetch_all(self.pool())
                .await?;
                Ok(crate::store::LedgerSums {
                    receivables,
                    accounts,
                    usage: usage.into_iter().map(|(l, p, u, lim, s)| (crate::domain::SubjectId(l), p, u, lim, s)).collect(),
                    orphans,
                })
            }

            async fn ledger_breaches(&self) -> crate::store::StoreResult<Vec<String>> {
                use sqlx::Row;
                let mut out = Vec::new();
                let rows = sqlx::query(
                    "SELECT account_email, prepaid_cents, deposit_cents FROM ledger_accounts \
                     WHERE prepaid_cents < 0 OR deposit_cents < 0 ORDER BY account_email",
                )
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    let (account, prepaid, deposit): (String, i64, i64) =
                        (r.try_get("account_email")?, r.try_get("prepaid_cents")?, r.try_get("deposit_cents")?);
                    out.push(format!("{account}: prepaid {prepaid} cents, deposit {deposit} cents: below zero"));
                }
                let rows = sqlx::query(
                    "SELECT line_id, period, used_cents, limit_cents FROM credit_usage \
                     WHERE used_cents > limit_cents ORDER BY line_id, period",
                )
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    let line: uuid::Uuid = r.try_get("line_id")?;
                    let (period, used, limit): (String, i64, i64) =
                        (r.try_get("period")?, r.try_get("used_cents")?, r.try_get("limit_cents")?);
                    out.push(format!("line {line} {period}: used {used} cents over its limit {limit} cents"));
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use impl_ledger_reads_store;
