//! The double-entry ledger's writes: entries posted with guarded balances (never below zero,
//! never above a line's limit), and coupons.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::domain::SubjectId;

/// One ledger entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryWrite {
    pub id: uuid::Uuid,
    pub kind: crate::domain::EntryKind,
    pub bucket: crate::domain::Bucket,
    /// Signed: positive grows the bucket.
    pub amount_cents: i64,
    pub line_id: Option<SubjectId>,
    pub period: Option<crate::domain::Period>,
    pub idempotency_key: String,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
}

impl EntryWrite {
    /// An entry with a fresh id and nothing but its essentials; callers add the rest.
    pub fn new(
        kind: crate::domain::EntryKind,
        bucket: crate::domain::Bucket,
        amount_cents: i64,
        idempotency_key: String,
        actor: &str,
    ) -> EntryWrite {
        EntryWrite {
            id: uuid::Uuid::now_v7(),
            kind,
            bucket,
            amount_cents,
            line_id: None,
            period: None,
            idempotency_key,
            provider: None,
            provider_ref: None,
            actor: actor.to_string(),
            reason: None,
        }
    }
}

/// Credit drawn on a line for one period, against the period's limit and the billing-cycle
/// gate ([`crate::domain::Gate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditDraw {
    pub line_id: SubjectId,
    pub period: crate::domain::Period,
    pub limit_cents: i64,
    pub cents: i64,
    /// The most the period may have drawn after this draw: the limit, or less while a closed
    /// month's bill is being paid (`Gate::cap`).
    pub cap_cents: i64,
    /// Every month of the line before this one that used credit must be billed and paid in
    /// full (`domain::paid_before`); the store refuses the draw otherwise.
    pub paid_before: crate::domain::Period,
}

/// Everything one ledger operation writes, in one transaction: the entries, the balances they
/// move (guarded: never below zero, never above the line's limit), a coupon redemption.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerWrite {
    pub account_email: String,
    pub entries: Vec<EntryWrite>,
    pub draw: Option<CreditDraw>,
    /// A coupon code to redeem (once per account, within its limit and before it expires).
    pub coupon: Option<String>,
    pub at: DateTime<Utc>,
}

/// A coupon code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CouponRecord {
    pub code: String,
    pub credit_cents: i64,
    pub max_redemptions: i64,
    pub redeemed: i64,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends the entries and moves the balances in one transaction. An idempotency key or
    /// provider reference already used is `Duplicate`; a balance that would go below zero, a
    /// draw beyond the limit, or a coupon used up, expired or already redeemed by the account
    /// is `Refused`. Either way nothing is written.
    async fn post_ledger(&self, write: &LedgerWrite) -> StoreResult<()>;

    /// A new coupon code; a code in use is `Duplicate`.
    async fn create_coupon(&self, coupon: &CouponRecord, at: chrono::DateTime<chrono::Utc>) -> StoreResult<()>;

    async fn coupon(&self, code: &str) -> StoreResult<Option<CouponRecord>>;
}

/// Implements [`LedgerStore`] for a backend (see [`super::sql`]).
macro_rules! impl_ledger_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            /// One `INSERT` of ledger entries: (account, entry, time) each.
            fn push_entry_insert(q: &mut Builder, rows: &[(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)]) {
                q.push(
                    "INSERT INTO ledger_entries (id, account_email, kind, bucket, amount_cents, line_id, period, \
                     idempotency_key, provider, provider_ref, actor, reason, created_at) ",
                );
                q.push_values(rows, |mut b, (a, e, at)| {
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
            }

            /// Ledger entries as multi-row statements: (account, entry, time) each.
            async fn insert_entries(
                tx: &mut Conn,
                w: &mut Writer,
                rows: &[(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)],
            ) -> Result<(), sqlx::Error> {
                let size = |(a, e, _): &(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)| {
                    200 + a.len() + e.idempotency_key.len() + e.actor.len() + e.reason.as_ref().map_or(0, String::len)
                };
                for chunk in crate::store::statements::runs(rows, 500, size) {
                    w.run(tx, |q| Self::push_entry_insert(q, chunk))
                    .await?;
                }
                Ok(())
            }

            /// A zero balance row for each account that has none yet.
            async fn ensure_accounts(
                tx: &mut Conn,
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
                         WHERE line_id = $1 AND period = $2 AND NOT billed AND used_cents + $3 >= 0 AND used_cents + $3 <= limit_cents \
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

        }
    };
}

pub(crate) use impl_ledger_store;
