//! Usage debits posted in batches: prepaid credits first, then the account's usable credit
//! line.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::{Bucket, EntryKind, Funds, Gate, Period, SubjectId, Unpaid};

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
    /// Posts many usage debits at once, all or none, planned in order (each takes prepaid
    /// credits first, then its account's usable line for its period, from what the debits
    /// before it left): on SQLite in one transaction under the write lock, on PostgreSQL as
    /// one statement after reads that take no lock. The writes stay guarded: a writer outside
    /// the batch that got there first makes the whole batch fail, with nothing written.
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

/// What a batch of debits read before it is planned ([`plan_debits`]).
#[derive(Debug, Default)]
pub(crate) struct DebitReads {
    /// The entries under the batch's keys (replays), by key.
    pub existing: HashMap<String, Vec<EntryRecord>>,
    pub prepaid: HashMap<String, i64>,
    /// Each account's usable line (the newest credit line in a state that draws) and its
    /// monthly limit.
    pub lines: HashMap<String, (SubjectId, i64)>,
    /// What each line drew in the batch's periods.
    pub used: HashMap<(uuid::Uuid, String), i64>,
    /// Months whose bill claimed their usage: no debit draws in them any more.
    pub billed: HashSet<(uuid::Uuid, String)>,
    /// What each line owes for closed months (the billing-cycle gate).
    pub owing: HashMap<uuid::Uuid, Vec<Unpaid>>,
}

/// One line's draw in one month, summed over a batch.
#[derive(Debug, PartialEq)]
pub(crate) struct CreditMove<'a> {
    pub line: uuid::Uuid,
    pub period: String,
    pub account: &'a str,
    pub limit_cents: i64,
    pub cents: i64,
    /// The highest cap among the batch's debits on it: the write is guarded by it.
    pub cap_cents: i64,
    /// The earliest month its debits needed paid (`paid_before`), for the same guard.
    pub paid_before: String,
}

/// A batch planned in order, each debit from what the ones before it left: what to answer
/// and what to write.
#[derive(Debug)]
pub(crate) struct DebitPlan<'a> {
    pub results: Vec<DebitResult>,
    pub entries: Vec<(&'a str, EntryWrite)>,
    /// Each account's change of prepaid credits, by account.
    pub prepaid_moves: Vec<(&'a str, i64)>,
    /// By line and month, so concurrent writers take their row locks in one order.
    pub credit_moves: Vec<CreditMove<'a>>,
    /// The accounts with entries: each gets a balance row should it have none.
    pub touched: Vec<&'a str>,
    /// Those of them that had no balance row when read.
    pub fresh: HashSet<&'a str>,
    /// When the entries are stamped: no earlier than the reads (see [`DebitStore::post_debits`]).
    pub at: DateTime<Utc>,
}

/// Plans a batch from what it read (pure): prepaid first, then the usable line, each debit
/// from the funds the ones before it left.
pub(crate) fn plan_debits(requests: &[DebitRequest], mut reads: DebitReads, read_at: DateTime<Utc>) -> DebitPlan<'_> {
    // Per line and month drawn on: the highest cap and the earliest month that had to be
    // paid among its debits, for the guard of the write.
    let mut gates: HashMap<(uuid::Uuid, String), (i64, Period)> = HashMap::new();
    let mut funds: HashMap<(&str, String), Funds> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut results = Vec::with_capacity(requests.len());
    let mut entries: Vec<(&str, EntryWrite)> = Vec::new();
    for r in requests {
        let found: Vec<EntryRecord> =
            r.keys.iter().flat_map(|k| reads.existing.get(k).cloned().unwrap_or_default()).collect();
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
        let line = reads.lines.get(&r.account_email).copied();
        if Period::containing(at) != r.period
            || line.is_some_and(|(id, _)| reads.billed.contains(&(id.0, period.clone())))
        {
            // Planned in a month that has ended (or been billed) since: alone, the debit is
            // planned again in the month it now is.
            results.push(DebitResult::Alone);
            continue;
        }
        let f = funds.entry((r.account_email.as_str(), period.clone())).or_insert_with(|| Funds {
            prepaid_cents: reads.prepaid.get(&r.account_email).copied().unwrap_or(0),
            line_limit_cents: line.map_or(0, |(_, limit)| limit),
            line_used_cents: line.map_or(0, |(id, _)| reads.used.get(&(id.0, period.clone())).copied().unwrap_or(0)),
            gate: Gate::Open,
        });
        f.gate = line.map_or(Gate::Open, |(id, limit)| {
            let months = reads.owing.get(&id.0).map(Vec::as_slice).unwrap_or_default();
            Gate::of(months, r.period, at, r.draw_days, limit)
        });
        let cap = f.gate.cap(f.line_limit_cents);
        match f.draw(r.amount) {
            Ok(split) => {
                if split.prepaid.cents() > 0 {
                    let e = EntryWrite::new(
                        EntryKind::Usage,
                        Bucket::Prepaid,
                        -split.prepaid.cents(),
                        r.keys[0].clone(),
                        "usage",
                    );
                    entries.push((r.account_email.as_str(), e));
                }
                let line_id = (split.credit.cents() > 0).then(|| line.map(|(id, _)| id)).flatten();
                if let Some(id) = line_id {
                    // A later debit of the batch in a later month sees this one owed.
                    reads.owing.entry(id.0).or_default().push(Unpaid { period: r.period, owed: split.credit });
                    let before = crate::domain::paid_before(at, r.draw_days);
                    let g = gates.entry((id.0, period.clone())).or_insert((cap, before));
                    *g = (g.0.max(cap), g.1.min(before));
                    let mut e = EntryWrite::new(
                        EntryKind::Usage,
                        Bucket::Credit,
                        -split.credit.cents(),
                        r.keys[1].clone(),
                        "usage",
                    );
                    e.line_id = Some(id);
                    e.period = Some(r.period);
                    entries.push((r.account_email.as_str(), e));
                }
                results.push(DebitResult::Posted { split, line_id });
            }
            Err(e) => results.push(DebitResult::Refused(e)),
        }
    }
    let at = requests.iter().map(|r| r.at).max().unwrap_or_default().max(read_at);
    let mut prepaid_moves: BTreeMap<&str, i64> = BTreeMap::new();
    let mut credit_moves: BTreeMap<(uuid::Uuid, String), CreditMove> = BTreeMap::new();
    for (a, e) in &entries {
        match (e.bucket, e.line_id, e.period) {
            (Bucket::Prepaid, _, _) => *prepaid_moves.entry(a).or_default() += e.amount_cents,
            (Bucket::Credit, Some(line), Some(period)) => {
                let key = (line.0, period.to_string());
                let m = credit_moves.entry(key.clone()).or_insert_with(|| {
                    let limit = reads.lines.get(*a).map_or(0, |(_, limit)| *limit);
                    // Every draw was planned with its gate; a move without one is held to the strictest.
                    let (cap, before) = gates.get(&key).map_or((limit, period), |(c, b)| (*c, *b));
                    CreditMove {
                        line: line.0,
                        period: key.1.clone(),
                        account: a,
                        limit_cents: limit,
                        cents: 0,
                        cap_cents: cap,
                        paid_before: before.to_string(),
                    }
                });
                m.cents -= e.amount_cents;
            }
            _ => {}
        }
    }
    let mut touched: Vec<&str> = entries.iter().map(|(a, _)| *a).collect();
    touched.sort_unstable();
    touched.dedup();
    let fresh = touched.iter().copied().filter(|a| !reads.prepaid.contains_key(*a)).collect();
    DebitPlan {
        results,
        entries,
        prepaid_moves: prepaid_moves.into_iter().collect(),
        credit_moves: credit_moves.into_values().collect(),
        touched,
        fresh,
        at,
    }
}

/// Implements [`DebitStore`] for a backend (see [`super::sql`]).
///
/// SQLite plans a batch under its write lock: `BEGIN IMMEDIATE` and the reads go as one call
/// to the connection's thread, the planned writes and `COMMIT` as another (two hand-offs for
/// the batch instead of five). PostgreSQL has no such lock to plan under: it reads on a pooled
/// connection and writes the batch as one statement, atomic on its own, whose guards (the
/// tables' CHECKs, the line's gate, `creditline_guard`) undo all of it should anything have
/// moved since the reads. Three round trips instead of seven (BEGIN, two reads, three writes,
/// COMMIT).
macro_rules! impl_debits_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            /// What a batch must know before it is planned, read on `conn`. On SQLite the
            /// reads go as one call (each statement is a hand-off to the connection's thread),
            /// after `begin` when given: `BEGIN IMMEDIATE`, so the batch's transaction and
            /// its reads cost one hand-off.
            async fn debit_reads(
                conn: &mut <$db as sqlx::Database>::Connection,
                requests: &[crate::store::DebitRequest],
                lines_drawing: &crate::store::DrawingLines<'_>,
                begin: Option<&'static str>,
            ) -> crate::store::StoreResult<crate::store::debits::DebitReads> {
                use sqlx::Row;
                let mut statements: Vec<Builder> = Vec::new();
                if $fuse && let Some(b) = begin {
                    statements.push(Builder::new(b));
                }
                let keys: Vec<&String> = requests.iter().flat_map(|r| r.keys.iter()).collect();
                for chunk in keys.chunks(400) {
                    let q = Self::next_statement(&mut statements);
                    q.push("SELECT * FROM ledger_entries WHERE idempotency_key IN (");
                    let mut list = q.separated(", ");
                    for k in chunk {
                        list.push_bind((*k).clone());
                    }
                    q.push(") ORDER BY id");
                }
                let mut accounts: Vec<&str> = requests.iter().map(|r| r.account_email.as_str()).collect();
                accounts.sort_unstable();
                accounts.dedup();
                let mut periods: Vec<String> = requests.iter().map(|r| r.period.to_string()).collect();
                periods.sort_unstable();
                periods.dedup();
                // Each account's usable line and what it drew in the batch's periods, with the
                // prepaid balance: one query.
                for chunk in accounts.chunks(400) {
                    let q = Self::next_statement(&mut statements);
                    q.push("WITH a (email) AS (");
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
                }
                let mut reads = crate::store::debits::DebitReads::default();
                for mut q in statements {
                    for r in &q.build().fetch_all(&mut *conn).await? {
                        // The two reads' rows come back together on SQLite: an entry has a key.
                        if r.try_column("idempotency_key").is_ok() {
                            let e = crate::store::EntryRecord::from_row(r)?;
                            reads.existing.entry(e.idempotency_key.clone()).or_default().push(e);
                            continue;
                        }
                        let email: String = r.try_get("email")?;
                        if let Some(cents) = r.try_get::<Option<i64>, _>("prepaid_cents")? {
                            reads.prepaid.insert(email.clone(), cents);
                        }
                        let line: Option<uuid::Uuid> = r.try_get("line_id")?;
                        let limit: Option<i64> = r.try_get("monthly_limit_cents")?;
                        if let (Some(id), Some(limit)) = (line, limit) {
                            reads.lines.insert(email, (crate::domain::SubjectId(id), limit));
                            if let (Some(period), Some(cents)) =
                                (r.try_get::<Option<String>, _>("period")?, r.try_get::<Option<i64>, _>("used_cents")?)
                            {
                                if r.try_get::<Option<bool>, _>("billed")?.unwrap_or(false) {
                                    reads.billed.insert((id, period.clone()));
                                }
                                reads.used.insert((id, period), cents);
                            }
                        }
                    }
                }
                let ids: Vec<crate::domain::SubjectId> = reads.lines.values().map(|(id, _)| *id).collect();
                for (line, unpaid) in Self::owed_in(&mut *conn, &ids).await? {
                    reads.owing.entry(line.0).or_default().push(unpaid);
                }
                Ok(reads)
            }

            /// The builder the next read goes into: on SQLite the one call's, after a `;`; on
            /// PostgreSQL a statement of its own.
            fn next_statement(statements: &mut Vec<Builder>) -> &mut Builder {
                match statements.last_mut() {
                    Some(q) if $fuse => {
                        q.push(";\n");
                    }
                    _ => statements.push(Builder::new("")),
                }
                let last = statements.len() - 1;
                &mut statements[last]
            }

            /// The planned writes, queued and sent as one call on SQLite (a fusing writer).
            /// They need no guard in their WHERE: the plan was made under the write lock, and
            /// the tables' CHECKs (balances >= 0, used <= limit) abort the transaction should
            /// anything have moved anyway; the batch is then given up and each debit goes alone.
            async fn write_debits_fused(
                tx: &mut Conn,
                plan: &crate::store::debits::DebitPlan<'_>,
                end: &'static str,
            ) -> crate::store::StoreResult<()> {
                use crate::store::StoreError;
                use crate::store::statements::runs;
                let at = plan.at;
                let mut w = Writer::fusing();
                let rows: Vec<_> = plan.entries.iter().map(|(a, e)| (*a, e, at)).collect();
                Self::insert_entries(tx, &mut w, &rows).await?;
                // Every account with entries has its balance row, as a single debit makes it.
                Self::ensure_accounts(tx, &mut w, &plan.touched, at).await?;
                let moved = |done: Option<u64>, n: usize| match done {
                    Some(d) if d != n as u64 => Err(StoreError::Conflict { expected: 0, actual: -1 }),
                    _ => Ok(()),
                };
                for chunk in runs(&plan.prepaid_moves, 500, |(a, _)| 60 + a.len()) {
                    let done = w
                        .run(tx, |q| {
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
                for chunk in runs(&plan.credit_moves, 500, |m| 120 + 2 * m.period.len() + m.account.len()) {
                    w.run(tx, |q| {
                        q.push("INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) ");
                        q.push_values(chunk, |mut b, m| {
                            b.push_bind(m.line)
                                .push_bind(m.period.clone())
                                .push_bind(m.account.to_string())
                                .push_bind(m.limit_cents)
                                .push_bind(0i64)
                                .push_bind(1i64);
                        });
                        q.push(" ON CONFLICT (line_id, period) DO NOTHING");
                    })
                    .await?;
                    let done = w
                        .run(tx, |q| {
                            q.push("WITH v (vline, vperiod, vdelta, vcap, vbefore) AS (");
                            Self::push_credit_moves(q, chunk);
                            q.push(") UPDATE credit_usage SET used_cents = used_cents + v.vdelta, version = version + 1 FROM v WHERE ");
                            Self::push_credit_guard(q);
                        })
                        .await?;
                    moved(done, chunk.len())?;
                }
                // The transaction ends in the same call.
                w.run(tx, |q| {
                    q.push(end);
                })
                .await?;
                w.flush(tx).await?;
                Ok(())
            }

            /// `(line, period, cents, cap, paid_before)` of each move, as `VALUES` rows.
            fn push_credit_moves(q: &mut Builder, moves: &[crate::store::debits::CreditMove<'_>]) {
                q.push_values(moves, |mut b, m| {
                    b.push_bind(m.line)
                        .push_bind(m.period.clone())
                        .push_bind(m.cents)
                        .push_bind(m.cap_cents)
                        .push_bind(m.paid_before.clone());
                });
            }

            /// The gate guards a batch's draw on an existing usage row as it guards a single
            /// debit: should a month before have become owed since the plan, or the month
            /// been billed, no row matches and the batch is given up.
            fn push_credit_guard(q: &mut Builder) {
                q.push(
                    "credit_usage.line_id = v.vline AND credit_usage.period = v.vperiod \
                     AND NOT credit_usage.billed AND credit_usage.used_cents + v.vdelta <= v.vcap",
                );
                Self::push_no_month_owed(q);
            }

            /// No month of line `v.vline` before `v.vbefore` is owed: neither a bill unpaid
            /// nor usage not yet billed. The gate's condition for a draw, new row or moved.
            fn push_no_month_owed(q: &mut Builder) {
                q.push(
                    " AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = v.vline AND b.period < v.vbefore AND b.paid_cents < b.amount_cents) \
                     AND NOT EXISTS (SELECT 1 FROM credit_usage o WHERE o.line_id = v.vline AND o.period < v.vbefore AND o.used_cents > 0 \
                     AND NOT EXISTS (SELECT 1 FROM bills c WHERE c.line_id = o.line_id AND c.period = o.period))",
                );
            }

            /// The planned writes as one statement (PostgreSQL): the entries, each account's
            /// balance (created or moved in one upsert), and each line's month of usage
            /// (inserted when new, else moved under the gate's guard). The parts of one
            /// statement share its snapshot, so a usage row is either new (the insert takes
            /// it) or was there (the update does): `creditline_guard` fails the statement
            /// unless every move landed exactly once. A balance going below zero fails its
            /// CHECK; a key used meanwhile fails its unique index. Either way nothing is
            /// written, and each debit goes alone.
            async fn write_debits_as_one_statement(
                conn: &mut <$db as sqlx::Database>::Connection,
                plan: &crate::store::debits::DebitPlan<'_>,
            ) -> crate::store::StoreResult<()> {
                let at = plan.at;
                let mut q = Builder::new("WITH e AS (");
                let rows: Vec<_> = plan.entries.iter().map(|(a, e)| (*a, e, at)).collect();
                Self::push_entry_insert(&mut q, &rows);
                // Each account's balance: moved where it is, made where it is not. A row made
                // with a negative balance fails its CHECK; one made by another writer since the
                // reads is seen by neither part, and the count below fails the statement.
                let moves: std::collections::HashMap<&str, i64> = plan.prepaid_moves.iter().copied().collect();
                let delta = |a: &str| moves.get(a).copied().unwrap_or(0);
                q.push("), va (vemail, vdelta) AS (");
                q.push_values(&plan.touched, |mut b, a| {
                    b.push_bind(a.to_string()).push_bind(delta(a));
                });
                q.push("), a AS (UPDATE ledger_accounts SET prepaid_cents = prepaid_cents + va.vdelta, version = version + 1, updated_at = ");
                q.push_bind(at);
                q.push(
                    " FROM va WHERE ledger_accounts.account_email = va.vemail AND va.vdelta <> 0 RETURNING 1), \
                     n AS (INSERT INTO ledger_accounts (account_email, prepaid_cents, deposit_cents, version, updated_at) \
                     SELECT va.vemail, va.vdelta, 0, 1, ",
                );
                q.push_bind(at);
                q.push(
                    " FROM va WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts x WHERE x.account_email = va.vemail) \
                     ON CONFLICT (account_email) DO NOTHING RETURNING 1)",
                );
                // Every account moved or made once, and every line's month once.
                let expected = plan.touched.iter().filter(|a| delta(a) != 0 || plan.fresh.contains(*a)).count()
                    + plan.credit_moves.len();
                let mut landed = String::from("(SELECT count(*) FROM a) + (SELECT count(*) FROM n)");
                if !plan.credit_moves.is_empty() {
                    q.push(", v (vline, vperiod, vdelta, vcap, vbefore, vaccount, vlimit) AS (");
                    q.push_values(&plan.credit_moves, |mut b, m| {
                        b.push_bind(m.line)
                            .push_bind(m.period.clone())
                            .push_bind(m.cents)
                            .push_bind(m.cap_cents)
                            .push_bind(m.paid_before.clone())
                            .push_bind(m.account.to_string())
                            .push_bind(m.limit_cents);
                    });
                    // A new row: the gate's month guards, checked against the batch's values.
                    q.push(
                        "), ins AS (INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) \
                         SELECT v.vline, v.vperiod, v.vaccount, v.vlimit, v.vdelta, 1 FROM v WHERE v.vdelta <= v.vcap",
                    );
                    Self::push_no_month_owed(&mut q);
                    q.push(
                        " ON CONFLICT (line_id, period) DO NOTHING RETURNING 1), \
                         upd AS (UPDATE credit_usage SET used_cents = used_cents + v.vdelta, version = version + 1 FROM v WHERE ",
                    );
                    Self::push_credit_guard(&mut q);
                    q.push(" RETURNING 1)");
                    landed.push_str(" + (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd)");
                }
                q.push(" SELECT creditline_guard(");
                q.push(landed);
                q.push(" = ");
                q.push_bind(expected as i64);
                q.push(", 'a balance or a line moved since the batch of debits was planned')");
                q.build().execute(&mut *conn).await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::DebitStore for $store {
            async fn post_debits(
                &self,
                requests: &[crate::store::DebitRequest],
                lines_drawing: &crate::store::DrawingLines<'_>,
                now: &(dyn Fn() -> chrono::DateTime<chrono::Utc> + Sync),
            ) -> crate::store::StoreResult<Vec<crate::store::DebitResult>> {
                use crate::store::debits::plan_debits;
                if requests.is_empty() {
                    return Ok(Vec::new());
                }
                if $fuse {
                    // BEGIN IMMEDIATE goes with the reads and COMMIT with the writes: two
                    // hand-offs to the connection's thread for the whole batch.
                    let mut tx = HandTx::acquire(self.writer()).await?;
                    let written = async {
                        let reads = Self::debit_reads(&mut tx, requests, lines_drawing, Some("BEGIN IMMEDIATE")).await?;
                        // After the reads: see the trait's note.
                        let plan = plan_debits(requests, reads, now());
                        Self::write_debits_fused(&mut tx, &plan, "COMMIT").await?;
                        crate::store::StoreResult::Ok(plan.results)
                    }
                    .await;
                    match written {
                        Ok(results) => {
                            tx.finished();
                            Ok(results)
                        }
                        Err(e) => {
                            tx.roll_back().await;
                            Err(e)
                        }
                    }
                } else {
                    let mut conn = self.pool.acquire().await?;
                    let reads = Self::debit_reads(&mut conn, requests, lines_drawing, None).await?;
                    let plan = plan_debits(requests, reads, now());
                    if !plan.entries.is_empty() {
                        Self::write_debits_as_one_statement(&mut conn, &plan).await?;
                    }
                    Ok(plan.results)
                }
            }
        }
    };
}

pub(crate) use impl_debits_store;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;
    use chrono::TimeZone;

    #[test]
    fn a_batch_is_planned_in_order_and_its_moves_summed_per_account_and_line_month() {
        let at = Utc.with_ymd_and_hms(2026, 10, 15, 12, 0, 0).unwrap();
        let line = SubjectId(uuid::Uuid::now_v7());
        let ask = |account: &str, cents: i64, key: &str| DebitRequest {
            account_email: account.into(),
            amount: Money::from_cents(cents),
            keys: [format!("{key}:prepaid"), format!("{key}:credit")],
            period: Period::containing(at),
            at,
            draw_days: 0,
        };
        let mut reads = DebitReads::default();
        reads.prepaid.insert("a@x.io".into(), 500);
        reads.lines.insert("b@x.io".into(), (line, 1_000));
        reads.used.insert((line.0, "2026-10".into()), 100);
        let requests =
            [ask("a@x.io", 300, "1"), ask("b@x.io", 200, "2"), ask("a@x.io", 300, "3"), ask("b@x.io", 50, "4")];
        let plan = plan_debits(&requests, reads, at);
        let split = |r: &DebitResult| match r {
            DebitResult::Posted { split, line_id } => Some((split.prepaid.cents(), split.credit.cents(), *line_id)),
            _ => None,
        };
        assert_eq!(split(&plan.results[0]), Some((300, 0, None)));
        assert_eq!(split(&plan.results[1]), Some((0, 200, Some(line))));
        assert!(matches!(plan.results[2], DebitResult::Refused(_)), "200 left of a's prepaid, no line");
        assert_eq!(split(&plan.results[3]), Some((0, 50, Some(line))));
        assert_eq!(plan.prepaid_moves, vec![("a@x.io", -300)]);
        let m = &plan.credit_moves[..];
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].line, m[0].period.as_str(), m[0].cents, m[0].cap_cents), (line.0, "2026-10", 250, 1_000));
        assert_eq!(plan.touched, vec!["a@x.io", "b@x.io"]);
        assert_eq!(plan.fresh, HashSet::from(["b@x.io"]), "b had no balance row when read");
        assert_eq!(plan.entries.len(), 3);
    }
}
