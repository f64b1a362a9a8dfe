//! Usage debits posted in batches: prepaid credits first, then the account's usable credit
//! line.

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::SubjectId;

/// One usage debit of a batch ([`Store::post_debits`](crate::store::Store::post_debits)).
#[derive(Debug, Clone)]
pub struct DebitRequest {
    pub account_email: String,
    pub amount: crate::domain::Money,
    /// The idempotency keys of its prepaid and its credit entry.
    pub keys: [String; 2],
    pub period: crate::domain::Period,
    pub at: DateTime<Utc>,
    /// `cycle_gating`'s `draw_days_while_unpaid()`, for the billing-cycle gate.
    pub draw_days: i64,
}

/// What became of one debit of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum DebitResult {
    Posted {
        split: crate::domain::Split,
        line_id: Option<SubjectId>,
    },
    /// Its keys were used before: the entries recorded then.
    Existing(Vec<EntryRecord>),
    Refused(crate::domain::DebitError),
    /// Its keys appear twice in the batch: to be posted on its own.
    Alone,
}

/// Which workflow instances are credit lines and in which states they draw credit: both named
/// by the workflow files, not by the store.
#[derive(Debug, Clone, Copy)]
pub struct DrawingLines<'a> {
    pub workflow: &'a str,
    pub states: &'a [&'a str],
}

#[async_trait]
pub trait DebitStore: Send + Sync {
    /// Posts many usage debits in one transaction, planned in order under the write lock
    /// (each takes prepaid credits first, then its account's usable line for its period, from
    /// what the debits before it left). The balance updates stay guarded in the statements: a
    /// writer outside the batch that got there first makes the whole batch `Conflict`, with
    /// nothing written.
    ///
    /// `now` is read once the batch's state is read, and every debit is stamped no earlier:
    /// a payment that committed before those reads was stamped before that reading (clocks
    /// only move forward), so a debit's time never comes before what it saw. A debit whose
    /// month ended meanwhile is answered `Alone`, to be planned again in the month it now is.
    async fn post_debits(
        &self,
        requests: &[DebitRequest],
        lines: &DrawingLines<'_>,
        now: &(dyn Fn() -> DateTime<Utc> + Sync),
    ) -> StoreResult<Vec<DebitResult>>;
}

/// Implements [`DebitStore`] for a backend (see [`super::sql`]).
macro_rules! impl_debits_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::DebitStore for $store {
            async fn post_debits(
                &self,
                requests: &[crate::store::DebitRequest],
                lines_drawing: &crate::store::DrawingLines<'_>,
                now: &(dyn Fn() -> chrono::DateTime<chrono::Utc> + Sync),
            ) -> crate::store::StoreResult<Vec<crate::store::DebitResult>> {
                use std::collections::{HashMap, HashSet};
                use sqlx::Row;
                use crate::domain::{Bucket, EntryKind, Funds};
                use crate::store::{DebitResult, EntryWrite, StoreError};
                use crate::store::statements::runs;
                if requests.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                // Keys used before (replays), read under the write lock with everything else.
                let mut existing: HashMap<String, Vec<crate::store::EntryRecord>> = HashMap::new();
                let keys: Vec<&String> = requests.iter().flat_map(|r| r.keys.iter()).collect();
                for chunk in keys.chunks(400) {
                    let mut q = Builder::new("SELECT * FROM ledger_entries WHERE idempotency_key IN (");
                    let mut list = q.separated(", ");
                    for k in chunk {
                        list.push_bind((*k).clone());
                    }
                    q.push(") ORDER BY id");
                    for r in &q.build().fetch_all(&mut *tx).await? {
                        let e = crate::store::EntryRecord::from_row(r)?;
                        existing.entry(e.idempotency_key.clone()).or_default().push(e);
                    }
                }
                let mut accounts: Vec<&str> = requests.iter().map(|r| r.account_email.as_str()).collect();
                accounts.sort_unstable();
                accounts.dedup();
                let mut periods: Vec<String> = requests.iter().map(|r| r.period.to_string()).collect();
                periods.sort_unstable();
                periods.dedup();
                let mut prepaid: HashMap<String, i64> = HashMap::new();
                // Each account's usable line (the newest credit line in a state that draws)
                // and what it drew in the batch's periods, with the prepaid balance: one query.
                let mut lines: HashMap<String, (crate::domain::SubjectId, i64)> = HashMap::new();
                let mut used: HashMap<(uuid::Uuid, String), i64> = HashMap::new();
                // Months whose bill claimed their usage: no debit draws in them any more.
                let mut billed: HashSet<(uuid::Uuid, String)> = HashSet::new();
                for chunk in accounts.chunks(400) {
                    let mut q = Builder::new("WITH a (email) AS (");
                    q.push_values(chunk, |mut b, a| {
                        b.push_bind(a.to_string());
                    });
                    q.push(
                        "), x AS MATERIALIZED (SELECT a.email, (SELECT i.id FROM workflow_instances i WHERE i.account_email = a.email \
                         AND i.workflow = ",
                    );
                    q.push_bind(lines_drawing.workflow);
                    q.push(" AND i.state IN (");
                    let mut list = q.separated(", ");
                    for st in lines_drawing.states {
                        list.push_bind(*st);
                    }
                    q.push(
                        ") ORDER BY i.id DESC LIMIT 1) AS line_id FROM a) \
                         SELECT x.email, acc.prepaid_cents, x.line_id, l.monthly_limit_cents, u.period, u.used_cents, u.billed \
                         FROM x LEFT JOIN ledger_accounts acc ON acc.account_email = x.email \
                         LEFT JOIN credit_lines l ON l.id = x.line_id \
                         LEFT JOIN credit_usage u ON u.line_id = x.line_id AND u.period IN (",
                    );
                    let mut list = q.separated(", ");
                    for p in &periods {
                        list.push_bind(p.clone());
                    }
                    q.push(")");
                    for r in &q.build().fetch_all(&mut *tx).await? {
                        let email: String = r.try_get("email")?;
                        if let Some(cents) = r.try_get::<Option<i64>, _>("prepaid_cents")? {
                            prepaid.insert(email.clone(), cents);
                        }
                        let line: Option<uuid::Uuid> = r.try_get("line_id")?;
                        let limit: Option<i64> = r.try_get("monthly_limit_cents")?;
                        if let (Some(id), Some(limit)) = (line, limit) {
                            lines.insert(email, (crate::domain::SubjectId(id), limit));
                            if let (Some(period), Some(cents)) =
                                (r.try_get::<Option<String>, _>("period")?, r.try_get::<Option<i64>, _>("used_cents")?)
                            {
                                if r.try_get::<Option<bool>, _>("billed")?.unwrap_or(false) {
                                    billed.insert((id, period.clone()));
                                }
                                used.insert((id, period), cents);
                            }
                        }
                    }
                }
                // The billing-cycle gate of each line: what it owes for closed months.
                let ids: Vec<crate::domain::SubjectId> = lines.values().map(|(id, _)| *id).collect();
                let mut owing: HashMap<uuid::Uuid, Vec<crate::domain::Unpaid>> = HashMap::new();
                for (line, unpaid) in Self::owed_in(&mut tx, &ids).await? {
                    owing.entry(line.0).or_default().push(unpaid);
                }
                // After the reads: see the trait's note.
                let read_at = now();
                // Per line and period drawn on: the highest cap and the earliest month that had
                // to be paid among its debits, for the guard of the write below.
                let mut gates: HashMap<(uuid::Uuid, String), (i64, crate::domain::Period)> = HashMap::new();
                // Plan in order, each debit from what the ones before it left.
                let mut funds: HashMap<(String, String), Funds> = HashMap::new();
                let mut seen: HashSet<&str> = HashSet::new();
                let mut results = Vec::with_capacity(requests.len());
                let mut entries: Vec<(&str, EntryWrite)> = Vec::new();
                for r in requests {
                    let found: Vec<crate::store::EntryRecord> =
                        r.keys.iter().flat_map(|k| existing.get(k).cloned().unwrap_or_default()).collect();
                    if !found.is_empty() {
                        results.push(DebitResult::Existing(found));
                        continue;
                    }
                    if !r.keys.iter().all(|k| seen.insert(k.as_str())) {
                        results.push(DebitResult::Alone);
                        continue;
                    }
                    let at = r.at.max(read_at);
                    let period = r.period.to_string();
                    let line = lines.get(&r.account_email).copied();
                    if crate::domain::Period::containing(at) != r.period
                        || line.is_some_and(|(id, _)| billed.contains(&(id.0, period.clone())))
                    {
                        // Planned in a month that has ended (or been billed) since: alone, the
                        // debit is planned again in the month it now is.
                        results.push(DebitResult::Alone);
                        continue;
                    }
                    let f = funds.entry((r.account_email.clone(), period.clone())).or_insert_with(|| Funds {
                        prepaid_cents: prepaid.get(&r.account_email).copied().unwrap_or(0),
                        line_limit_cents: line.map_or(0, |(_, limit)| limit),
                        line_used_cents: line.map_or(0, |(id, _)| used.get(&(id.0, period.clone())).copied().unwrap_or(0)),
                        gate: crate::domain::Gate::Open,
                    });
                    f.gate = line.map_or(crate::domain::Gate::Open, |(id, limit)| {
                        let months = owing.get(&id.0).map(Vec::as_slice).unwrap_or_default();
                        crate::domain::Gate::of(months, r.period, at, r.draw_days, limit)
                    });
                    let cap = f.gate.cap(f.line_limit_cents);
                    match f.draw(r.amount) {
                        Ok(split) => {
                            if split.prepaid.cents() > 0 {
                                let e = EntryWrite::new(EntryKind::Usage, Bucket::Prepaid, -split.prepaid.cents(), r.keys[0].clone(), "usage");
                                entries.push((r.account_email.as_str(), e));
                            }
                            let line_id = (split.credit.cents() > 0).then(|| line.map(|(id, _)| id)).flatten();
                            if let Some(id) = line_id {
                                // A later debit of the batch in a later month sees this one owed.
                                owing.entry(id.0).or_default().push(crate::domain::Unpaid { period: r.period, owed: split.credit });
                                let before = crate::domain::paid_before(at, r.draw_days);
                                let g = gates.entry((id.0, period.clone())).or_insert((cap, before));
                                *g = (g.0.max(cap), g.1.min(before));
                                let mut e = EntryWrite::new(EntryKind::Usage, Bucket::Credit, -split.credit.cents(), r.keys[1].clone(), "usage");
                                e.line_id = Some(id);
                                e.period = Some(r.period);
                                entries.push((r.account_email.as_str(), e));
                            }
                            results.push(DebitResult::Posted { split, line_id });
                        }
                        Err(e) => results.push(DebitResult::Refused(e)),
                    }
                }
                if entries.is_empty() {
                    tx.commit().await?;
                    return Ok(results);
                }
                let at = requests.iter().map(|r| r.at).max().unwrap_or_default().max(read_at);
                // The planned writes go in as one call on SQLite (a fusing writer, see above).
                // They need no guard in their WHERE: the plan was made under the write lock, and
                // the tables' CHECKs (balances >= 0, used <= limit) abort the transaction should
                // anything have moved anyway (another process on PostgreSQL); the batch is then
                // given up and each debit goes alone.
                let mut w = Writer::fusing();
                let rows: Vec<_> = entries.iter().map(|(a, e)| (*a, e, at)).collect();
                Self::insert_entries(&mut tx, &mut w, &rows).await?;
                let mut prepaid_moves: HashMap<&str, i64> = HashMap::new();
                let mut credit_moves: HashMap<(uuid::Uuid, String), (&str, i64, i64)> = HashMap::new();
                for (a, e) in &entries {
                    match (e.bucket, e.line_id, e.period) {
                        (Bucket::Prepaid, _, _) => *prepaid_moves.entry(a).or_default() += e.amount_cents,
                        (Bucket::Credit, Some(line), Some(period)) => {
                            let limit = lines.get(*a).map_or(0, |(_, limit)| *limit);
                            credit_moves.entry((line.0, period.to_string())).or_insert((a, limit, 0)).2 -= e.amount_cents;
                        }
                        _ => {}
                    }
                }
                // Every account with entries has its balance row, as a single debit makes it.
                let mut touched: Vec<&str> = entries.iter().map(|(a, _)| *a).collect();
                touched.sort_unstable();
                touched.dedup();
                Self::ensure_accounts(&mut tx, &mut w, &touched, at).await?;
                let moved = |done: Option<u64>, n: usize| match done {
                    Some(d) if d != n as u64 => Err(StoreError::Conflict { expected: 0, actual: -1 }),
                    _ => Ok(()),
                };
                let prepaid_moves: Vec<(&str, i64)> = prepaid_moves.into_iter().collect();
                for chunk in runs(&prepaid_moves, 500, |(a, _)| 60 + a.len()) {
                    let done = w
                        .run(&mut tx, |q| {
                            q.push("WITH v (vemail, vdelta, vat) AS (");
                            q.push_values(chunk, |mut b, (a, d)| {
                                b.push_bind(a.to_string()).push_bind(*d).push_bind(at);
                            });
                            q.push(
                                ") UPDATE ledger_accounts SET prepaid_cents = prepaid_cents + v.vdelta, version = version + 1, \
                                 updated_at = v.vat FROM v WHERE ledger_accounts.account_email = v.vemail",
                            );
                        })
                        .await?;
                    moved(done, chunk.len())?;
                }
                let credit_moves: Vec<((uuid::Uuid, String), (&str, i64, i64))> = credit_moves.into_iter().collect();
                for chunk in runs(&credit_moves, 500, |((_, p), (a, _, _))| 120 + 2 * p.len() + a.len()) {
                    w.run(&mut tx, |q| {
                        q.push("INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) ");
                        q.push_values(chunk, |mut b, ((line, period), (a, limit, _))| {
                            b.push_bind(*line)
                                .push_bind(period.clone())
                                .push_bind(a.to_string())
                                .push_bind(*limit)
                                .push_bind(0i64)
                                .push_bind(1i64);
                        });
                        q.push(" ON CONFLICT (line_id, period) DO NOTHING");
                    })
                    .await?;
                    let done = w
                        .run(&mut tx, |q| {
                            q.push("WITH v (vline, vperiod, vdelta, vcap, vbefore) AS (");
                            q.push_values(chunk, |mut b, ((line, period), (_, limit, d))| {
                                // Every draw was planned with its gate; a move without one is held to the strictest.
                                let (cap, before) = gates.get(&(*line, period.clone())).map_or((*limit, period.clone()), |(c, b)| (*c, b.to_string()));
                                b.push_bind(*line).push_bind(period.clone()).push_bind(*d).push_bind(cap).push_bind(before);
                            });
                            // The gate guards the write as it guards a single debit: should a month
                            // before have become owed since the plan, no row matches and the batch
                            // is given up.
                            q.push(
                                ") UPDATE credit_usage SET used_cents = used_cents + v.vdelta, version = version + 1 FROM v \
                                 WHERE credit_usage.line_id = v.vline AND credit_usage.period = v.vperiod \
                                 AND NOT credit_usage.billed AND credit_usage.used_cents + v.vdelta <= v.vcap \
                                 AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = v.vline AND b.period < v.vbefore AND b.paid_cents < b.amount_cents) \
                                 AND NOT EXISTS (SELECT 1 FROM credit_usage o WHERE o.line_id = v.vline AND o.period < v.vbefore AND o.used_cents > 0 \
                                 AND NOT EXISTS (SELECT 1 FROM bills c WHERE c.line_id = o.line_id AND c.period = o.period))",
                            );
                        })
                        .await?;
                    moved(done, chunk.len())?;
                }
                w.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(results)
            }
        }
    };
}

pub(crate) use impl_debits_store;
