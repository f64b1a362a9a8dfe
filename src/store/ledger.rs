//! The double-entry ledger: entries, guarded balances, coupons, and the sums `ledger verify` compares.

use async_trait::async_trait;

use super::*;
use crate::domain::SubjectId;

#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends the entries and moves the balances in one transaction. An idempotency key or
    /// provider reference already used is `Duplicate`; a balance that would go below zero, a
    /// draw beyond the limit, or a coupon used up, expired or already redeemed by the account
    /// is `Refused`. Either way nothing is written.
    async fn post_ledger(&self, write: &LedgerWrite) -> StoreResult<()>;

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

    /// A new coupon code; a code in use is `Duplicate`.
    async fn create_coupon(&self, coupon: &CouponRecord, at: chrono::DateTime<chrono::Utc>) -> StoreResult<()>;

    async fn coupon(&self, code: &str) -> StoreResult<Option<CouponRecord>>;

    /// What `ledger verify` compares.
    async fn ledger_sums(&self) -> StoreResult<LedgerSums>;

    /// What the ledger's CHECKs forbid, found anyway: balances below zero, credit used over
    /// its period's limit (one line each).
    async fn ledger_breaches(&self) -> StoreResult<Vec<String>>;
}

/// Implements [`LedgerStore`] for a backend (see [`super::sql`]).
macro_rules! impl_ledger_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            /// Ledger entries as multi-row statements: (account, entry, time) each.
            async fn insert_entries(
                tx: &mut Tx,
                w: &mut Writer,
                rows: &[(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)],
            ) -> Result<(), sqlx::Error> {
                let size = |(a, e, _): &(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)| {
                    200 + a.len() + e.idempotency_key.len() + e.actor.len() + e.reason.as_ref().map_or(0, String::len)
                };
                for chunk in crate::store::statements::runs(rows, 500, size) {
                    w.run(tx, |q| {
                        q.push(
                            "INSERT INTO ledger_entries (id, account_email, kind, bucket, amount_cents, line_id, period, \
                             idempotency_key, provider, provider_ref, actor, reason, created_at) ",
                        );
                        q.push_values(chunk, |mut b, (a, e, at)| {
                            b.push_bind(e.id)
                                .push_bind(a.to_string())
                                .push_bind(e.kind.as_str())
                                .push_bind(e.bucket.as_str())
                                .push_bind(e.amount_cents)
                                .push_bind(e.line_id.map(|l| l.0))
                                .push_bind(e.period.map(|p| p.to_string()))
                                .push_bind(e.idempotency_key.clone())
                                .push_bind(e.provider.clone())
                                .push_bind(e.provider_ref.clone())
                                .push_bind(e.actor.clone())
                                .push_bind(e.reason.clone())
                                .push_bind(*at);
                        });
                    })
                    .await?;
                }
                Ok(())
            }

            /// A zero balance row for each account that has none yet.
            async fn ensure_accounts(
                tx: &mut Tx,
                w: &mut Writer,
                accounts: &[&str],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                for chunk in crate::store::statements::runs(accounts, 500, |a| 60 + a.len()) {
                    w.run(tx, |q| {
                        q.push("INSERT INTO ledger_accounts (account_email, prepaid_cents, deposit_cents, version, updated_at) ");
                        q.push_values(chunk, |mut b, a| {
                            b.push_bind(a.to_string()).push_bind(0i64).push_bind(0i64).push_bind(1i64).push_bind(at);
                        });
                        q.push(" ON CONFLICT (account_email) DO NOTHING");
                    })
                    .await?;
                }
                Ok(())
            }

            /// The entries and the balances they move, inside the caller's transaction.
            async fn ledger_in(tx: &mut Tx, w: &crate::store::LedgerWrite) -> crate::store::StoreResult<()> {
                use crate::domain::Bucket;
                use crate::store::StoreError;
                let mut out = Writer::immediate();
                let rows: Vec<_> = w.entries.iter().map(|e| (w.account_email.as_str(), e, w.at)).collect();
                Self::insert_entries(tx, &mut out, &rows).await?;
                let delta = |b: Bucket| w.entries.iter().filter(|e| e.bucket == b).map(|e| e.amount_cents).sum::<i64>();
                let (prepaid, deposit) = (delta(Bucket::Prepaid), delta(Bucket::Deposit));
                Self::ensure_accounts(tx, &mut out, &[w.account_email.as_str()], w.at).await?;
                if prepaid != 0 || deposit != 0 {
                    // Guarded in the statement: a concurrent debit that got there first makes
                    // this one match no row instead of going below zero.
                    let done = sqlx::query(
                        "UPDATE ledger_accounts SET prepaid_cents = prepaid_cents + $2, deposit_cents = deposit_cents + $3, \
                         version = version + 1, updated_at = $4 \
                         WHERE account_email = $1 AND prepaid_cents + $2 >= 0 AND deposit_cents + $3 >= 0",
                    )
                    .bind(&w.account_email)
                    .bind(prepaid)
                    .bind(deposit)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!("the balance of {} is too low", w.account_email)));
                    }
                }
                if let Some(d) = &w.draw {
                    sqlx::query(
                        "INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) \
                         VALUES ($1, $2, $3, $4, 0, 1) ON CONFLICT (line_id, period) DO NOTHING",
                    )
                    .bind(d.line_id.0)
                    .bind(d.period.to_string())
                    .bind(&w.account_email)
                    .bind(d.limit_cents)
                    .execute(&mut **tx)
                    .await?;
                    // The billing-cycle gate, checked against what the tables hold now: a month
                    // before `paid_before` that used credit and is unbilled, or billed and not paid
                    // in full, shuts the line whatever the caller planned from.
                    let done = sqlx::query(
                        "UPDATE credit_usage SET used_cents = used_cents + $3, version = version + 1 \
                         WHERE line_id = $1 AND period = $2 AND used_cents + $3 >= 0 AND used_cents + $3 <= limit_cents \
                         AND ($3 <= 0 OR (used_cents + $3 <= $4 \
                         AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = $1 AND b.period < $5 AND b.paid_cents < b.amount_cents) \
                         AND NOT EXISTS (SELECT 1 FROM credit_usage o WHERE o.line_id = $1 AND o.period < $5 AND o.used_cents > 0 \
                         AND NOT EXISTS (SELECT 1 FROM bills c WHERE c.line_id = o.line_id AND c.period = o.period))))",
                    )
                    .bind(d.line_id.0)
                    .bind(d.period.to_string())
                    .bind(d.cents)
                    .bind(d.cap_cents)
                    .bind(d.paid_before.to_string())
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!(
                            "the credit line's limit for {} is reached, or a month before {} is unpaid",
                            d.period, d.paid_before
                        )));
                    }
                }
                if let Some(code) = &w.coupon {
                    let done = sqlx::query(
                        "UPDATE coupons SET redeemed = redeemed + 1 WHERE code = $1 AND redeemed < max_redemptions AND expires_at > $2",
                    )
                    .bind(code)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!("coupon {code} is unknown, used up or expired")));
                    }
                    let entry = w.entries.first().map(|e| e.id).unwrap_or_default();
                    let inserted = sqlx::query(
                        "INSERT INTO coupon_redemptions (code, account_email, entry_id, redeemed_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (code, account_email) DO NOTHING",
                    )
                    .bind(code)
                    .bind(&w.account_email)
                    .bind(entry)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await?;
                    if inserted.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!("coupon {code} was already redeemed by {}", w.account_email)));
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::LedgerStore for $store {
            async fn post_ledger(&self, w: &crate::store::LedgerWrite) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::ledger_in(&mut tx, w).await?;
                tx.commit().await?;
                Ok(())
            }

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

            async fn create_coupon(
                &self,
                c: &crate::store::CouponRecord,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO coupons (code, credit_cents, max_redemptions, redeemed, expires_at, created_at) \
                     VALUES ($1, $2, $3, 0, $4, $5)",
                )
                .bind(&c.code)
                .bind(c.credit_cents)
                .bind(c.max_redemptions)
                .bind(c.expires_at)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn coupon(&self, code: &str) -> crate::store::StoreResult<Option<crate::store::CouponRecord>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT * FROM coupons WHERE code = $1").bind(code).fetch_optional(self.pool()).await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(crate::store::CouponRecord {
                    code: r.try_get("code")?,
                    credit_cents: r.try_get("credit_cents")?,
                    max_redemptions: r.try_get("max_redemptions")?,
                    redeemed: r.try_get("redeemed")?,
                    expires_at: r.try_get("expires_at")?,
                }))
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

pub(crate) use impl_ledger_store;
