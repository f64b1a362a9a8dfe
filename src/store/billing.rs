//! The monthly billing cycles of credit lines: bills, what lines owe, closed periods.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::domain::SubjectId;

/// A bill to issue: the credit used on a line in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct BillWrite {
    pub id: uuid::Uuid,
    pub line_id: SubjectId,
    pub account_email: String,
    pub period: crate::domain::Period,
    pub amount_cents: i64,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct BillRecord {
    pub id: uuid::Uuid,
    pub line_id: SubjectId,
    pub account_email: String,
    pub period: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    pub due_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// Part of a payment applied to one bill (guarded by the bill's version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillPayment {
    pub bill_id: uuid::Uuid,
    pub expected_version: i64,
    pub cents: i64,
}

/// One billing-cycle step in one transaction: a bill issued (at most once per line and
/// period: `false` when it existed), payments applied, ledger entries, the credit line's
/// workflow step and limit, the rule decisions behind them.
#[derive(Debug, Clone, Default)]
pub struct CycleWrite {
    pub bill: Option<BillWrite>,
    pub payments: Vec<BillPayment>,
    pub ledger: Option<LedgerWrite>,
    /// The instance it opens first (a limit increase, with `increase` its row), the steps in
    /// order (which may move that instance) and the rule decisions.
    pub workflow: WorkflowChanges,
    pub increase: Option<IncreaseRecord>,
    pub new_limit: Option<(SubjectId, i64)>,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait BillingStore: Send + Sync {
    /// Writes one billing-cycle step atomically. With a bill: `false` (and nothing written)
    /// when that line already has its bill for the period. A moved instance or bill is
    /// `Conflict`.
    async fn commit_cycle(&self, write: &CycleWrite) -> StoreResult<bool>;

    /// Writes many bill steps (each a bill, its receivable entries, its workflow step) in one
    /// transaction with multi-row statements: what a cycle close does per batch. Says, per
    /// write, whether its bill was new; a line billed already is skipped with nothing written.
    /// A moved instance is `Conflict` and nothing of the batch is written. Writes of any
    /// other shape are `Refused` (they go through [`Store::commit_cycle`]).
    async fn commit_bills(&self, writes: &[CycleWrite]) -> StoreResult<Vec<bool>>;

    /// Up to `limit` credit lines after `after` (in id order), in none of the `ended` states
    /// and opened before the period ended, that have no bill for it yet (what a cycle close
    /// still has to do), each with the credit it used in the period.
    async fn lines_to_bill(
        &self,
        period: crate::domain::Period,
        after: Option<SubjectId>,
        limit: i64,
        ended: &[&str],
    ) -> StoreResult<Vec<(CreditLineRecord, i64)>>;

    /// A line's bills, oldest period first.
    async fn bills_for_line(&self, line: SubjectId) -> StoreResult<Vec<BillRecord>>;

    /// The bills of these lines, by line, oldest period first.
    async fn bills_for_lines(&self, lines: &[SubjectId]) -> StoreResult<Vec<BillRecord>>;

    /// An account's bills not paid in full, oldest first.
    async fn unpaid_bills(&self, account_email: &str) -> StoreResult<Vec<BillRecord>>;

    /// What these lines owe, by month: each bill not paid in full (what is left of it), and
    /// each month that used credit and has no bill yet (what it used, the month in progress
    /// included). The billing-cycle gate ([`crate::domain::Gate`]) is made of these.
    async fn owed_months(&self, lines: &[SubjectId]) -> StoreResult<Vec<(SubjectId, crate::domain::Unpaid)>>;

    /// Whether the scheduler recorded `period` as closed.
    async fn cycle_closed(&self, period: crate::domain::Period) -> StoreResult<bool>;

    /// Records `period` as closed (a second record is ignored).
    async fn mark_cycle_closed(
        &self,
        period: crate::domain::Period,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()>;

    /// Bills with an id above `after`, oldest first, up to `limit`.
    async fn bills_after(&self, after: uuid::Uuid, limit: i64) -> StoreResult<Vec<BillRecord>>;
}

/// Implements [`BillingStore`] for a backend (see [`super::sql`]).
macro_rules! impl_billing_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            /// The rows `head` + a list of line ids + `tail` selects, 500 ids a query (the
            /// ORDER BY in `tail` holds within each 500).
            async fn rows_of_lines(
                &self,
                head: &str,
                lines: &[crate::domain::SubjectId],
                tail: &str,
            ) -> Result<Vec<<$db as sqlx::Database>::Row>, sqlx::Error> {
                let mut out = Vec::new();
                for chunk in lines.chunks(500) {
                    let mut q = Builder::new(head);
                    let mut list = q.separated(", ");
                    for l in chunk {
                        list.push_bind(l.0);
                    }
                    q.push(tail);
                    out.extend(q.build().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }

            /// [`crate::store::Store::owed_months`] on the caller's connection.
            async fn owed_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::domain::SubjectId, crate::domain::Unpaid)>> {
                use sqlx::Row;
                let mut out = Vec::new();
                for chunk in lines.chunks(400) {
                    let mut q = Builder::new(
                        "SELECT line_id, period, amount_cents - paid_cents AS owed FROM bills \
                         WHERE paid_cents < amount_cents AND line_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for l in chunk {
                        list.push_bind(l.0);
                    }
                    q.push(
                        ") UNION ALL SELECT u.line_id, u.period, u.used_cents AS owed FROM credit_usage u \
                         WHERE u.used_cents > 0 AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = u.line_id AND b.period = u.period) \
                         AND u.line_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for l in chunk {
                        list.push_bind(l.0);
                    }
                    q.push(")");
                    for r in &q.build().fetch_all(&mut *conn).await? {
                        let period: String = r.try_get("period")?;
                        let period = period.parse().map_err(|e| crate::store::StoreError::Corrupt(format!("{e}")))?;
                        let unpaid = crate::domain::Unpaid {
                            period,
                            owed: crate::domain::Money::from_cents(r.try_get("owed")?),
                        };
                        out.push((crate::domain::SubjectId(r.try_get("line_id")?), unpaid));
                    }
                }
                out.sort_by_key(|(line, u)| (line.0, u.period));
                Ok(out)
            }
        }

        impl $store {
            /// Claims each bill's month of usage, in the bill's transaction: the usage row (made
            /// here for a line that used nothing) is marked billed when it still holds what the
            /// bill charges. A debit committed since the amount was read leaves its row
            /// unmatched and the write is given up (`Conflict`: the caller reads the usage
            /// again); a debit after the claim finds the month billed and is planned again in
            /// the month it now is (see the debits' `NOT billed`).
            async fn claim_usage(
                tx: &mut sqlx::Transaction<'_, $db>,
                bills: &[&crate::store::BillWrite],
            ) -> crate::store::StoreResult<()> {
                use crate::store::statements::runs;
                for chunk in runs(bills, 500, |b| 120 + b.account_email.len()) {
                    let mut q = Builder::new(
                        "INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) ",
                    );
                    q.push_values(chunk.iter(), |mut r, b| {
                        r.push_bind(b.line_id.0)
                            .push_bind(b.period.to_string())
                            .push_bind(b.account_email.clone())
                            .push_bind(0i64)
                            .push_bind(0i64)
                            .push_bind(1i64);
                    });
                    q.push(" ON CONFLICT (line_id, period) DO NOTHING");
                    q.build().execute(&mut **tx).await?;
                    let mut q = Builder::new("WITH v (vline, vperiod, vamount) AS (");
                    q.push_values(chunk.iter(), |mut r, b| {
                        r.push_bind(b.line_id.0).push_bind(b.period.to_string()).push_bind(b.amount_cents);
                    });
                    q.push(
                        ") UPDATE credit_usage SET billed = TRUE, version = version + 1 FROM v \
                         WHERE credit_usage.line_id = v.vline AND credit_usage.period = v.vperiod \
                         AND NOT credit_usage.billed AND credit_usage.used_cents = v.vamount",
                    );
                    let done = q.build().execute(&mut **tx).await?.rows_affected();
                    if done != chunk.len() as u64 {
                        return Err(crate::store::StoreError::Conflict { expected: 0, actual: -1 });
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::BillingStore for $store {
            async fn commit_cycle(&self, c: &crate::store::CycleWrite) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                if let Some(b) = &c.bill {
                    // One bill per line and period, whoever gets there first: a rerun after a
                    // crash, or a second worker closing the same month, finds it and stops.
                    let inserted = sqlx::query(
                        "INSERT INTO bills (id, line_id, account_email, period, amount_cents, paid_cents, due_at, issued_at, version) \
                         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, 1) ON CONFLICT (line_id, period) DO NOTHING",
                    )
                    .bind(b.id)
                    .bind(b.line_id.0)
                    .bind(&b.account_email)
                    .bind(b.period.to_string())
                    .bind(b.amount_cents)
                    .bind(b.due_at)
                    .bind(c.at)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        return Ok(false);
                    }
                    Self::claim_usage(&mut tx, &[b]).await?;
                }
                for p in &c.payments {
                    let done = sqlx::query(
                        "UPDATE bills SET paid_cents = paid_cents + $2, version = version + 1, \
                         paid_at = CASE WHEN paid_cents + $2 = amount_cents THEN $3 ELSE paid_at END \
                         WHERE id = $1 AND version = $4 AND paid_cents + $2 <= amount_cents",
                    )
                    .bind(p.bill_id)
                    .bind(p.cents)
                    .bind(c.at)
                    .bind(p.expected_version)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(crate::store::StoreError::Conflict { expected: p.expected_version, actual: -1 });
                    }
                }
                if let Some(l) = &c.ledger {
                    Self::ledger_in(&mut tx, l).await?;
                }
                let mut w = Writer::immediate();
                Self::open_in(&mut tx, &mut w, &c.workflow).await?;
                if let Some(r) = &c.increase {
                    Self::insert_increase(&mut tx, &mut w, r).await?;
                }
                Self::steps_in(&mut tx, &mut w, &c.workflow).await?;
                if let Some((line, cents)) = c.new_limit {
                    sqlx::query("UPDATE credit_lines SET monthly_limit_cents = $2 WHERE id = $1")
                        .bind(line.0)
                        .bind(cents)
                        .execute(&mut *tx)
                        .await?;
                    // The month in progress draws against the new limit from now on (never below
                    // what it already drew); billed months keep theirs.
                    sqlx::query(
                        "UPDATE credit_usage SET limit_cents = CASE WHEN used_cents > $2 THEN used_cents ELSE $2 END, \
                         version = version + 1 WHERE line_id = $1 AND period = $3",
                    )
                    .bind(line.0)
                    .bind(cents)
                    .bind(crate::domain::Period::containing(c.at).to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                let decisions: Vec<&crate::rules::DecisionRecord> = c.workflow.decisions.iter().collect();
                Self::insert_decisions(&mut tx, &mut w, &decisions).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn commit_bills(&self, writes: &[crate::store::CycleWrite]) -> crate::store::StoreResult<Vec<bool>> {
                use crate::domain::Bucket;
                use crate::store::statements::runs;
                // Rows per statement, well below either backend's limit on bound values.
                const ROWS: usize = 500;
                let plain = |c: &crate::store::CycleWrite| {
                    c.bill.is_some()
                        && c.payments.is_empty()
                        && c.workflow.opened.is_empty()
                        && c.increase.is_none()
                        && c.new_limit.is_none()
                        && c.ledger.as_ref().is_none_or(|l| {
                            l.draw.is_none() && l.coupon.is_none() && l.entries.iter().all(|e| e.bucket == Bucket::Receivable)
                        })
                        && c.workflow.steps.iter().all(|t| t.tasks.is_empty())
                };
                if let Some(odd) = writes.iter().find(|c| !plain(c)) {
                    return Err(crate::store::StoreError::Refused(format!(
                        "a batched bill write carries more than a bill, receivable entries and steps: {:?}",
                        odd.bill.as_ref().map(|b| b.line_id)
                    )));
                }
                if writes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                // The bill's unique key is the claim: the lines another run billed first come
                // back missing here, and nothing else of theirs is written.
                let mut fresh = std::collections::HashSet::new();
                for chunk in runs(writes, ROWS, |c| 140 + c.bill.as_ref().map_or(0, |b| b.account_email.len())) {
                    let mut q = Builder::new(
                        "INSERT INTO bills (id, line_id, account_email, period, amount_cents, paid_cents, due_at, issued_at, version) ",
                    );
                    q.push_values(chunk.iter().filter_map(|c| c.bill.as_ref().map(|b| (b, c.at))), |mut r, (b, at)| {
                        r.push_bind(b.id)
                            .push_bind(b.line_id.0)
                            .push_bind(b.account_email.clone())
                            .push_bind(b.period.to_string())
                            .push_bind(b.amount_cents)
                            .push_bind(0i64)
                            .push_bind(b.due_at)
                            .push_bind(at)
                            .push_bind(1i64);
                    });
                    q.push(" ON CONFLICT (line_id, period) DO NOTHING RETURNING id");
                    let ids: Vec<uuid::Uuid> = q.build_query_scalar().fetch_all(&mut *tx).await?;
                    fresh.extend(ids);
                }
                let billed: Vec<bool> =
                    writes.iter().map(|c| c.bill.as_ref().is_some_and(|b| fresh.contains(&b.id))).collect();
                let kept: Vec<&crate::store::CycleWrite> =
                    writes.iter().zip(&billed).filter(|(_, b)| **b).map(|(c, _)| c).collect();
                let claims: Vec<&crate::store::BillWrite> = kept.iter().filter_map(|c| c.bill.as_ref()).collect();
                Self::claim_usage(&mut tx, &claims).await?;
                let entries: Vec<(&crate::store::LedgerWrite, &crate::store::EntryWrite)> = kept
                    .iter()
                    .filter_map(|c| c.ledger.as_ref())
                    .flat_map(|l| l.entries.iter().map(move |e| (l, e)))
                    .collect();
                let mut w = Writer::immediate();
                let rows: Vec<_> = entries.iter().map(|(l, e)| (l.account_email.as_str(), *e, l.at)).collect();
                Self::insert_entries(&mut tx, &mut w, &rows).await?;
                let mut accounts: Vec<&str> = entries.iter().map(|(l, _)| l.account_email.as_str()).collect();
                accounts.sort_unstable();
                accounts.dedup();
                Self::ensure_accounts(&mut tx, &mut w, &accounts, kept.iter().map(|c| c.at).max().unwrap_or_default()).await?;
                let steps: Vec<&crate::store::TransitionWrite> = kept.iter().flat_map(|c| c.workflow.steps.iter()).collect();
                let mut seen = std::collections::HashSet::new();
                if steps.iter().any(|t| !seen.insert(t.instance_id)) {
                    return Err(crate::store::StoreError::Refused("a batch steps one instance twice".into()));
                }
                for chunk in runs(&steps, ROWS, |t| {
                    220 + 2 * (t.from_state.len() + t.to_state.len()) + t.event.len() + t.actor.len() + t.reason.as_ref().map_or(0, String::len)
                }) {
                    // The version check of every step in one statement: all of them match, or
                    // the batch is given up (and the caller bills those lines one by one).
                    let mut q = Builder::new("WITH v (vid, vversion, vfrom, vto, vat) AS (");
                    q.push_values(chunk, |mut r, t| {
                        r.push_bind(t.instance_id.0)
                            .push_bind(t.expected_version)
                            .push_bind(t.from_state.clone())
                            .push_bind(t.to_state.clone())
                            .push_bind(t.at);
                    });
                    q.push(
                        ") UPDATE workflow_instances SET state = v.vto, version = version + 1, updated_at = v.vat \
                         FROM v WHERE workflow_instances.id = v.vid AND workflow_instances.version = v.vversion \
                         AND workflow_instances.state = v.vfrom",
                    );
                    let done = q.build().execute(&mut *tx).await?.rows_affected();
                    if done != chunk.len() as u64 {
                        return Err(crate::store::StoreError::Conflict { expected: 0, actual: -1 });
                    }
                    let mut q = Builder::new(
                        "INSERT INTO workflow_events \
                         (id, instance_id, version, event, from_state, to_state, actor, reason, decision_ids, occurred_at) ",
                    );
                    q.push_values(chunk, |mut r, t| {
                        r.push_bind(t.event_id.0)
                            .push_bind(t.instance_id.0)
                            .push_bind(t.expected_version + 1)
                            .push_bind(t.event.clone())
                            .push_bind(Some(t.from_state.clone()))
                            .push_bind(t.to_state.clone())
                            .push_bind(t.actor.clone())
                            .push_bind(t.reason.clone())
                            .push_bind(sqlx::types::Json(t.decision_ids.clone()))
                            .push_bind(t.at);
                    });
                    q.build().execute(&mut *tx).await?;
                    let effects: Vec<(&crate::store::TransitionWrite, &crate::store::OutboxWrite)> =
                        chunk.iter().flat_map(|t| t.outbox.iter().map(move |o| (*t, o))).collect();
                    for part in runs(&effects, ROWS, |(_, o)| 160 + o.name.len() + o.idempotency_key.len() + o.payload.to_string().len()) {
                        let mut q = Builder::new(
                            "INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, created_at) ",
                        );
                        q.push_values(part, |mut r, (t, o)| {
                            r.push_bind(o.id.0)
                                .push_bind(t.instance_id.0)
                                .push_bind(t.event_id.0)
                                .push_bind(o.kind.clone())
                                .push_bind(o.name.clone())
                                .push_bind(o.idempotency_key.clone())
                                .push_bind(sqlx::types::Json(o.payload.clone()))
                                .push_bind(t.at);
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                }
                let decisions: Vec<&crate::rules::DecisionRecord> = kept.iter().flat_map(|c| c.workflow.decisions.iter()).collect();
                for chunk in decisions.chunks(ROWS / 4) {
                    Self::insert_decisions(&mut tx, &mut w, chunk).await?;
                }
                tx.commit().await?;
                Ok(billed)
            }

            async fn lines_to_bill(
                &self,
                period: crate::domain::Period,
                after: Option<crate::domain::SubjectId>,
                limit: i64,
                ended: &[&str],
            ) -> crate::store::StoreResult<Vec<(crate::store::CreditLineRecord, i64)>> {
                use sqlx::Row;
                // Keyset paging: each batch starts where the last one ended instead of walking
                // past every line billed so far. The bound goes on every table joined by line:
                // given only the line's, PostgreSQL merge-joined the instances, this month's
                // usage and its bills from their first row on every page, so each page read
                // all the pages before it.
                let from = |q: &mut Builder, column: &str| {
                    if let Some(after) = after {
                        q.push(format!(" AND {column} > ")).push_bind(after.0);
                    }
                };
                let mut q = Builder::new(
                    "SELECT l.id, l.account_email, l.application_id, l.monthly_limit_cents, \
                     l.approved_by, l.second_approver, i.state, i.version, l.opened_at, i.updated_at, \
                     COALESCE(u.used_cents, 0) AS used_cents \
                     FROM credit_lines l JOIN workflow_instances i ON i.id = l.id \
                     LEFT JOIN credit_usage u ON u.line_id = l.id AND u.period = ",
                );
                q.push_bind(period.to_string());
                from(&mut q, "u.line_id");
                q.push(" WHERE l.opened_at < ").push_bind(period.end());
                if !ended.is_empty() {
                    q.push(" AND i.state NOT IN (");
                    let mut list = q.separated(", ");
                    for st in ended {
                        list.push_bind(*st);
                    }
                    q.push(")");
                }
                from(&mut q, "l.id");
                from(&mut q, "i.id");
                q.push(" AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = l.id AND b.period = ")
                    .push_bind(period.to_string());
                from(&mut q, "b.line_id");
                q.push(") ORDER BY l.id LIMIT ").push_bind(limit);
                let rows = q.build().fetch_all(self.pool()).await?;
                let mut lines = Vec::with_capacity(rows.len());
                for r in &rows {
                    lines.push((crate::store::CreditLineRecord::from_row(r)?, r.try_get::<i64, _>("used_cents")?));
                }
                Ok(lines)
            }

            async fn bills_for_line(&self, line: crate::domain::SubjectId) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let rows = sqlx::query("SELECT * FROM bills WHERE line_id = $1 ORDER BY period").bind(line.0).fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::BillRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn bills_for_lines(
                &self,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let found = self.rows_of_lines("SELECT * FROM bills WHERE line_id IN (", lines, ") ORDER BY line_id, period").await?;
                Ok(found.iter().map(crate::store::BillRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn unpaid_bills(&self, account_email: &str) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM bills WHERE account_email = $1 AND paid_cents < amount_cents ORDER BY period, id",
                )
                .bind(account_email)
                .fetch_all(self.pool())
                .await?;
                Ok(rows.iter().map(crate::store::BillRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn owed_months(
                &self,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::domain::SubjectId, crate::domain::Unpaid)>> {
                let mut conn = self.pool().acquire().await?;
                Self::owed_in(&mut conn, lines).await
            }

            async fn cycle_closed(&self, period: crate::domain::Period) -> crate::store::StoreResult<bool> {
                let found: Option<String> = sqlx::query_scalar("SELECT period FROM cycle_runs WHERE period = $1")
                    .bind(period.to_string())
                    .fetch_optional(self.pool())
                    .await?;
                Ok(found.is_some())
            }

            async fn mark_cycle_closed(
                &self,
                period: crate::domain::Period,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                sqlx::query("INSERT INTO cycle_runs (period, closed_at) VALUES ($1, $2) ON CONFLICT (period) DO NOTHING")
                    .bind(period.to_string())
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn bills_after(&self, after: uuid::Uuid, limit: i64) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let rows = sqlx::query("SELECT * FROM bills WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::BillRecord::from_row).collect::<Result<_, _>>()?)
            }
        }
    };
}

pub(crate) use impl_billing_store;
