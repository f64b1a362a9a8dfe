//! Money in and out of an account: prepaid top-ups (once per provider transaction), coupon
//! credits (once per account, within the code's limit and expiry), deposits held as a
//! guarantee, admin releases and adjustments, and usage debits (prepaid first, then the
//! credit line of the current calendar month, never more than both, and nothing from a line
//! whose last month's bill is unpaid: the billing-cycle gate, [`Gate`]). Every operation is one
//! [`LedgerWrite`]: entries and balances in one transaction, guarded in the database, so
//! concurrent debits can never overspend and a repeated request changes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::{
    BoundError, Bucket, DebitError, EmailAddress, EntryKind, Gate, Money, Period, Refused, SubjectId, Unpaid, grown,
    paid_before, plan_debit, within,
};
use crate::store::{
    Balances, BillPayment, CouponRecord, CreditDraw, CreditLineRecord, CycleWrite, DebitRequest, DebitResult,
    EntryRecord, EntryWrite, LedgerSums, LedgerWrite, StoreError,
};
use crate::workflow::names::credit_line;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Debit(#[from] DebitError),
    /// An amount over `ledger.max_amount_cents`, or a balance it would take out of range.
    #[error(transparent)]
    Bound(#[from] BoundError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
    #[error("idempotency key {0:?} was used for a different request")]
    KeyReused(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(m) => LedgerError::Refused(m),
            e => LedgerError::Store(e),
        }
    }
}

/// What `ledger verify` found, and over how many accounts and line-months.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub problems: Vec<String>,
    pub accounts: usize,
    pub line_months: usize,
}

/// Applying a deposit is planned again this many times when a payment moves a bill first.
const APPLY_TRIES: usize = 8;

/// What applying a deposit did: how much went to which bill, and what was released.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Applied {
    pub applied: Money,
    pub released: Money,
    /// (period, cents) per bill paid from the deposit, oldest first.
    pub bills: Vec<(String, i64)>,
    pub replayed: bool,
}

impl Applied {
    fn replayed(done: &[EntryRecord]) -> Applied {
        let sum = |kind: &str, bucket: &str| {
            done.iter().filter(|e| e.kind == kind && e.bucket == bucket).map(|e| e.amount_cents.saturating_abs()).sum()
        };
        Applied {
            applied: Money::from_cents(sum("deposit_applied", "deposit")),
            released: Money::from_cents(sum("deposit_release", "deposit")),
            bills: Vec::new(),
            replayed: true,
        }
    }
}

/// Concurrent writers on one account make a guarded write miss; it is planned again from fresh
/// numbers. Each miss means another write to the account committed, so this bounds how many
/// concurrent writers one debit can lose to before it gives up.
const DEBIT_TRIES: usize = 256;

/// What a credit operation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Posted {
    pub entries: Vec<EntryRecord>,
    /// True when the same request was recorded before: nothing new was written.
    pub replayed: bool,
}

/// A usage debit's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Debited {
    pub prepaid: Money,
    pub credit: Money,
    pub line_id: Option<SubjectId>,
    pub replayed: bool,
}

pub struct Ledger<'a> {
    app: &'a App,
}

impl<'a> Ledger<'a> {
    pub fn new(app: &'a App) -> Self {
        Ledger { app }
    }

    fn now(&self) -> DateTime<Utc> {
        self.app.workflow.clock().now()
    }

    fn entry(kind: EntryKind, bucket: Bucket, cents: i64, key: String, actor: &str) -> EntryWrite {
        EntryWrite::new(kind, bucket, cents, key, actor)
    }

    /// `amount` within `ledger.max_amount_cents` (in size: adjustments go either way).
    pub fn bounded(&self, amount: Money) -> Result<Money, LedgerError> {
        Ok(within(amount, self.app.config.ledger.max_amount())?)
    }

    /// Refuses entries that would take a balance of `account` above what it may hold, in the
    /// domain's words, before the database would fail on (or wrap) the sum. Falling below zero
    /// stays the store's guard.
    pub async fn room_for(&self, account: &EmailAddress, entries: &[EntryWrite]) -> Result<(), LedgerError> {
        let growing = |b: Bucket| entries.iter().any(|e| e.bucket == b && e.amount_cents > 0);
        if !growing(Bucket::Prepaid) && !growing(Bucket::Deposit) {
            return Ok(());
        }
        let balances = self.app.store.balances(account.as_str()).await?;
        for (bucket, balance) in [(Bucket::Prepaid, balances.prepaid_cents), (Bucket::Deposit, balances.deposit_cents)]
        {
            let delta = Money::checked_sum(
                entries.iter().filter(|e| e.bucket == bucket).map(|e| Money::from_cents(e.amount_cents)),
            )
            .map_err(|_| BoundError::Balance { bucket: bucket.as_str() })?;
            grown(bucket, Money::from_cents(balance), delta)?;
        }
        Ok(())
    }

    /// Writes `entries` (and the coupon); a key already used returns the entries recorded then.
    async fn post(
        &self,
        account: &EmailAddress,
        entries: Vec<EntryWrite>,
        coupon: Option<String>,
    ) -> Result<Posted, LedgerError> {
        let keys: Vec<String> = entries.iter().map(|e| e.idempotency_key.clone()).collect();
        if let Err(e) = self.room_for(account, &entries).await {
            // A request recorded before is still answered as such on a full balance.
            let done = self.app.store.entries_by_keys(&keys).await?;
            return if done.is_empty() { Err(e) } else { Ok(Posted { entries: done, replayed: true }) };
        }
        let write = LedgerWrite { account_email: account.to_string(), entries, draw: None, coupon, at: self.now() };
        match self.app.store.post_ledger(&write).await {
            Ok(()) => Ok(Posted { entries: self.app.store.entries_by_keys(&keys).await?, replayed: false }),
            Err(StoreError::Duplicate(_)) => {
                let entries = self.app.store.entries_by_keys(&keys).await?;
                if entries.is_empty() {
                    // The provider reference was used under another key: a second delivery of
                    // the same payment spelled differently is still the same payment.
                    return Err(LedgerError::Refused("this payment is already recorded".into()));
                }
                Ok(Posted { entries, replayed: true })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Prepaid credits bought through `provider`; its transaction id makes it count once, however
    /// often (or concurrently) the payment is reported.
    pub async fn top_up(
        &self,
        account: &EmailAddress,
        amount: Money,
        provider: &str,
        txn: &str,
    ) -> Result<Posted, LedgerError> {
        positive(amount)?;
        self.bounded(amount)?;
        let provider = provider.trim().to_ascii_lowercase();
        let txn = txn.trim();
        if provider.is_empty() || txn.is_empty() || txn.len() > 200 {
            return Err(LedgerError::Invalid(
                "a top-up needs a provider and its transaction id (at most 200 characters)".into(),
            ));
        }
        let mut e = Self::entry(
            EntryKind::TopUp,
            Bucket::Prepaid,
            amount.cents(),
            format!("top_up:{provider}:{txn}"),
            &provider,
        );
        e.provider = Some(provider.clone());
        e.provider_ref = Some(txn.to_string());
        self.post(account, vec![e], None).await
    }

    pub async fn create_coupon(
        &self,
        code: &str,
        credit: Money,
        max_redemptions: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<CouponRecord, LedgerError> {
        positive(credit)?;
        self.bounded(credit)?;
        let code = normalize_code(code)?;
        if max_redemptions <= 0 {
            return Err(LedgerError::Invalid("max_redemptions: at least 1".into()));
        }
        if expires_at <= self.now() {
            return Err(LedgerError::Invalid("expires_at: must be in the future".into()));
        }
        let c = CouponRecord { code, credit_cents: credit.cents(), max_redemptions, redeemed: 0, expires_at };
        self.app.store.create_coupon(&c, self.now()).await?;
        Ok(c)
    }

    /// The coupon's credit, once per account. The code expires; the credits never do.
    pub async fn redeem(&self, account: &EmailAddress, code: &str) -> Result<Posted, LedgerError> {
        let code = normalize_code(code)?;
        let coupon =
            self.app.store.coupon(&code).await?.ok_or_else(|| LedgerError::Refused(format!("no coupon {code}")))?;
        // A coupon created under a higher maximum than today's is held to today's.
        self.bounded(Money::from_cents(coupon.credit_cents))?;
        let e = Self::entry(
            EntryKind::Coupon,
            Bucket::Prepaid,
            coupon.credit_cents,
            format!("coupon:{code}:{account}"),
            "coupon",
        );
        match self.post(account, vec![e], Some(code)).await {
            Ok(p) if p.replayed => {
                Err(LedgerError::Refused(format!("coupon {} was already redeemed by {account}", coupon.code)))
            }
            other => other,
        }
    }

    /// Money held as a guarantee (for a line at the deposit tier, `rules/data/deposit_tier.txt`):
    /// it sits in the deposit bucket, which usage never draws on.
    pub async fn hold_deposit(
        &self,
        account: &EmailAddress,
        amount: Money,
        provider: &str,
        reference: &str,
    ) -> Result<Posted, LedgerError> {
        positive(amount)?;
        self.bounded(amount)?;
        let provider = provider.trim().to_ascii_lowercase();
        if provider.is_empty() || reference.trim().is_empty() {
            return Err(LedgerError::Invalid("a deposit needs a provider and its reference".into()));
        }
        let mut e = Self::entry(
            EntryKind::Deposit,
            Bucket::Deposit,
            amount.cents(),
            format!("deposit:{provider}:{}", reference.trim()),
            &provider,
        );
        e.provider = Some(provider);
        e.provider_ref = Some(reference.trim().to_string());
        self.post(account, vec![e], None).await
    }

    /// An admin releases (part of) a held deposit back into prepaid credits. Refused while a
    /// bill is unpaid or a line of the deposit tier relies on it (policy: the deposit is "a
    /// guarantee before granting that level of credit"): only what is held beyond the
    /// guarantee of the account's open lines may leave.
    pub async fn release_deposit(
        &self,
        account: &EmailAddress,
        amount: Money,
        actor: &str,
        reason: &str,
        key: &str,
    ) -> Result<Posted, LedgerError> {
        positive(amount)?;
        self.bounded(amount)?;
        let reason = required_reason(reason)?;
        let keys = [format!("release:{key}:deposit"), format!("release:{key}:prepaid")];
        // A release recorded before is answered as such, whatever is held or owed now.
        let done = self.app.store.entries_by_keys(&keys).await?;
        if !done.is_empty() {
            return Ok(Posted { entries: done, replayed: true });
        }
        self.releasable(account, amount).await?;
        let [out_key, into_key] = keys;
        let mut out = Self::entry(EntryKind::DepositRelease, Bucket::Deposit, -amount.cents(), out_key, actor);
        let mut into = Self::entry(EntryKind::DepositRelease, Bucket::Prepaid, amount.cents(), into_key, actor);
        out.reason = Some(reason.clone());
        into.reason = Some(reason);
        self.post(account, vec![out, into], None).await
    }

    /// Refuses releasing `amount` of the deposit while it guarantees something.
    async fn releasable(&self, account: &EmailAddress, amount: Money) -> Result<(), LedgerError> {
        let owed = owed_on(&self.app.store.unpaid_bills(account.as_str()).await?)?;
        if owed > 0 {
            return Err(LedgerError::Refused(format!(
                "{account} owes {} on unpaid bills, which the deposit guarantees: it cannot be released \
                 (once the line is closed, `ledger apply-deposit` applies it to them and releases the rest)",
                Money::from_cents(owed)
            )));
        }
        let tier = self.app.rules.deposit_tier();
        let relying = self
            .lines_of(account)
            .await?
            .into_iter()
            .filter(|l| l.state != credit_line::CLOSED && l.monthly_limit_cents >= tier.cents())
            .max_by_key(|l| l.monthly_limit_cents);
        let Some(line) = relying else { return Ok(()) };
        let held = self.app.store.balances(account.as_str()).await?.deposit_cents;
        let free = held.saturating_sub(line.monthly_limit_cents).max(0);
        if amount.cents() > free {
            return Err(LedgerError::Refused(format!(
                "line {} of {}/month relies on a guarantee of {}: {} is held, so at most {} can be released",
                line.id,
                Money::from_cents(line.monthly_limit_cents),
                Money::from_cents(line.monthly_limit_cents),
                Money::from_cents(held),
                Money::from_cents(free)
            )));
        }
        Ok(())
    }

    async fn lines_of(&self, account: &EmailAddress) -> Result<Vec<CreditLineRecord>, LedgerError> {
        Ok(super::views::credit_lines_of(self.app.store.as_ref(), account.as_str(), super::views::PAGE).await?)
    }

    /// Prepaid credit the account already bought, held as its guarantee at its request
    /// (policy: "first deposit or top up the corresponding amount as a guarantee"): moved from
    /// prepaid to the deposit by an explicit pair of entries with the admin and the reason, and
    /// never spent on usage from then on. The same key again changes nothing.
    pub async fn hold_prepaid(
        &self,
        account: &EmailAddress,
        amount: Money,
        actor: &str,
        reason: &str,
        key: &str,
    ) -> Result<Posted, LedgerError> {
        positive(amount)?;
        self.bounded(amount)?;
        let reason = required_reason(reason)?;
        let key = required_key(key)?;
        let keys = [format!("hold_prepaid:{account}:{key}:prepaid"), format!("hold_prepaid:{account}:{key}:deposit")];
        let done = self.app.store.entries_by_keys(&keys).await?;
        if !done.is_empty() {
            return Ok(Posted { entries: done, replayed: true });
        }
        let prepaid = self.app.store.balances(account.as_str()).await?.prepaid_cents;
        if prepaid < amount.cents() {
            return Err(LedgerError::Refused(format!(
                "{account} has {} of prepaid credit, less than the {amount} to hold as guarantee",
                Money::from_cents(prepaid)
            )));
        }
        let [from_key, to_key] = keys;
        let mut from = Self::entry(EntryKind::PrepaidHeld, Bucket::Prepaid, -amount.cents(), from_key, actor);
        let mut to = Self::entry(EntryKind::PrepaidHeld, Bucket::Deposit, amount.cents(), to_key, actor);
        from.reason = Some(reason.clone());
        to.reason = Some(reason);
        self.post(account, vec![from, to], None).await
    }

    /// Once the account's line is closed with bills unpaid, an admin applies the held deposit
    /// to the bills it guarantees (oldest first) and releases the rest into prepaid credits, in
    /// one transaction of explicit entries with the admin and the reason. Refused while a line
    /// of the account is still open: the deposit guarantees it.
    pub async fn apply_deposit(
        &self,
        account: &EmailAddress,
        actor: &str,
        reason: &str,
        key: &str,
    ) -> Result<Applied, LedgerError> {
        let reason = required_reason(reason)?;
        let key = required_key(key)?;
        let keys = ["deposit", "receivable", "release_deposit", "release_prepaid"]
            .map(|part| format!("apply_deposit:{account}:{key}:{part}"));
        for _ in 0..APPLY_TRIES {
            let done = self.app.store.entries_by_keys(&keys).await?;
            if !done.is_empty() {
                return Ok(Applied::replayed(&done));
            }
            if let Some(open) = self.lines_of(account).await?.into_iter().find(|l| l.state != credit_line::CLOSED) {
                return Err(LedgerError::Refused(format!(
                    "line {} of {account} is {}: the deposit still guarantees it (close the line first)",
                    open.id, open.state
                )));
            }
            let held = self.app.store.balances(account.as_str()).await?.deposit_cents;
            if held <= 0 {
                return Err(LedgerError::Refused(format!("{account} holds no deposit")));
            }
            let bills = self.app.store.unpaid_bills(account.as_str()).await?;
            let mut left = held;
            let mut out = Applied::default();
            let mut payments = Vec::new();
            for b in &bills {
                let owed = b.amount_cents.checked_sub(b.paid_cents).ok_or(DebitError::OutOfRange)?;
                let cents = left.min(owed);
                if cents <= 0 {
                    continue;
                }
                left -= cents;
                payments.push(BillPayment { bill_id: b.id, expected_version: b.version, cents });
                out.bills.push((b.period.clone(), cents));
            }
            let applied = held - left;
            let mut entries = Vec::new();
            let [k_deposit, k_receivable, k_release, k_prepaid] = keys.clone();
            if applied > 0 {
                entries.push(Self::entry(EntryKind::DepositApplied, Bucket::Deposit, -applied, k_deposit, actor));
                entries.push(Self::entry(EntryKind::DepositApplied, Bucket::Receivable, -applied, k_receivable, actor));
            }
            if left > 0 {
                entries.push(Self::entry(EntryKind::DepositRelease, Bucket::Deposit, -left, k_release, actor));
                entries.push(Self::entry(EntryKind::DepositRelease, Bucket::Prepaid, left, k_prepaid, actor));
            }
            for e in &mut entries {
                e.reason = Some(reason.clone());
            }
            self.room_for(account, &entries).await?;
            let now = self.now();
            let write = CycleWrite {
                payments,
                ledger: Some(LedgerWrite {
                    account_email: account.to_string(),
                    entries,
                    draw: None,
                    coupon: None,
                    at: now,
                }),
                at: now,
                ..CycleWrite::default()
            };
            match self.app.store.commit_cycle(&write).await {
                Ok(_) => {
                    out.applied = Money::from_cents(applied);
                    out.released = Money::from_cents(left);
                    return Ok(out);
                }
                // A payment or another admin moved a bill or the balance first: plan again.
                Err(StoreError::Conflict { .. } | StoreError::Refused(_) | StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LedgerError::Refused("the account's bills kept changing; try again".into()))
    }

    /// An admin's correction of prepaid credits, either way, with a reason; never below zero.
    pub async fn adjust(
        &self,
        account: &EmailAddress,
        amount_cents: i64,
        actor: &str,
        reason: &str,
        key: &str,
    ) -> Result<Posted, LedgerError> {
        if amount_cents == 0 {
            return Err(LedgerError::Invalid("an adjustment of $0.00 changes nothing".into()));
        }
        self.bounded(Money::from_cents(amount_cents))?;
        let mut e =
            Self::entry(EntryKind::Adjustment, Bucket::Prepaid, amount_cents, format!("adjustment:{key}"), actor);
        e.reason = Some(required_reason(reason)?);
        self.post(account, vec![e], None).await
    }

    /// The credit line `account` can draw on now, if any.
    pub async fn usable_line(&self, account: &EmailAddress) -> Result<Option<CreditLineRecord>, LedgerError> {
        // By the account's workflow instances (indexed by account and workflow), newest first:
        // this runs on every debit, and a line listing filtered by account can end up walking
        // every line in id order.
        let instances = self.app.store.instances_for_account(account.as_str(), credit_line::WORKFLOW).await?;
        match instances.into_iter().find(|i| self.app.workflow.is(credit_line::WORKFLOW, &i.state, |s| s.draws_credit))
        {
            Some(i) => Ok(self.app.store.credit_line(i.id).await?),
            None => Ok(None),
        }
    }

    /// `cycle_gating`'s `draw_days_while_unpaid()`: the days a line keeps drawing after a month
    /// ends while that month's bill is unpaid. Read from the rules in force, never from Rust.
    pub fn draw_days(&self) -> i64 {
        self.app.rules.current().constant(&crate::rules::DRAW_DAYS_WHILE_UNPAID)
    }

    /// The billing-cycle gate of `line` for a debit at `now` (policy: "To receive or continue
    /// a credit line for the next month, the account must complete payment for the previous
    /// month's bill").
    pub async fn gate(&self, line: &CreditLineRecord, now: DateTime<Utc>) -> Result<Gate, LedgerError> {
        let owing = self.owing(line).await?;
        Ok(self.gate_of(&owing, line, now))
    }

    /// What `line` owes for closed months, by month.
    async fn owing(&self, line: &CreditLineRecord) -> Result<Vec<Unpaid>, LedgerError> {
        Ok(self.app.store.owed_months(&[line.id]).await?.into_iter().map(|(_, u)| u).collect())
    }

    /// The gate of `line` at `now` from what it owes (read before).
    fn gate_of(&self, owing: &[Unpaid], line: &CreditLineRecord, now: DateTime<Utc>) -> Gate {
        Gate::of(owing, Period::containing(now), now, self.draw_days(), line.monthly_limit_cents)
    }

    /// What `account` could spend right now: prepaid credits and what the gate leaves of the
    /// line's limit for this month.
    pub async fn available(&self, account: &EmailAddress) -> Result<(Money, Money), LedgerError> {
        let prepaid = self.app.store.balances(account.as_str()).await?.prepaid_cents;
        let credit = match self.usable_line(account).await? {
            Some(line) => {
                let now = self.now();
                let used = self.app.store.credit_used(line.id, Period::containing(now)).await?;
                let cap = self.gate(&line, now).await?.cap(line.monthly_limit_cents);
                line_left(cap, used)?.max(0)
            }
            None => 0,
        };
        Ok((Money::from_cents(prepaid), Money::from_cents(credit)))
    }

    /// A usage debit under the caller's idempotency key: prepaid credits first, then the
    /// credit line for the current month. The same key again returns the first outcome.
    ///
    /// Debits arriving together are posted together ([`DebitQueue`](crate::services::debit_queue::DebitQueue)): one transaction for all
    /// of them, planned in order under the write lock. A batch that cannot be written (another
    /// process moved a balance first) is posted debit by debit instead.
    pub async fn debit(&self, account: &EmailAddress, amount: Money, key: &str) -> Result<Debited, LedgerError> {
        if key.is_empty() || key.len() > 200 {
            return Err(LedgerError::Invalid("an idempotency key of 1 to 200 characters is required".into()));
        }
        // A debit of $0.00 or less is the domain's to refuse (`DebitError::NotPositive`).
        self.bounded(amount)?;
        // Keys are the caller's, per account: two accounts may both send "req-1".
        let keys = [format!("usage:{account}:{key}:prepaid"), format!("usage:{account}:{key}:credit")];
        let now = self.now();
        let request = DebitRequest {
            account_email: account.to_string(),
            amount,
            keys: keys.clone(),
            period: Period::containing(now),
            at: now,
            draw_days: self.draw_days(),
        };
        match self.app.debits.submit(request).await {
            Some(DebitResult::Posted { split, line_id }) => {
                Ok(Debited { prepaid: split.prepaid, credit: split.credit, line_id, replayed: false })
            }
            Some(DebitResult::Existing(entries)) => Self::replayed(account, amount, &keys, &entries),
            Some(DebitResult::Refused(e)) => Err(e.into()),
            Some(DebitResult::Alone) | None => self.debit_alone(account, amount, &keys).await,
        }
    }

    /// One debit in its own transaction, planned again whenever a guarded write misses.
    async fn debit_alone(
        &self,
        account: &EmailAddress,
        amount: Money,
        keys: &[String; 2],
    ) -> Result<Debited, LedgerError> {
        for _ in 0..DEBIT_TRIES {
            let done = self.app.store.entries_by_keys(keys).await?;
            if !done.is_empty() {
                return Self::replayed(account, amount, keys, &done);
            }
            let prepaid = self.app.store.balances(account.as_str()).await?.prepaid_cents;
            let line = self.usable_line(account).await?;
            let owing = match &line {
                Some(l) => self.owing(l).await?,
                None => Vec::new(),
            };
            // The clock is read after the line's state and what it owes, as the batch does
            // (`DebitStore::post_debits`): the debit is never stamped before a payment it saw.
            let now = self.now();
            let period = Period::containing(now);
            let (line_limit, used, gate) = match &line {
                Some(l) => (
                    l.monthly_limit_cents,
                    self.app.store.credit_used(l.id, period).await?,
                    self.gate_of(&owing, l, now),
                ),
                None => (0, 0, Gate::Open),
            };
            let split = plan_debit(amount, Money::from_cents(prepaid), line_limit, used, gate)?;
            let mut entries = Vec::new();
            if split.prepaid.cents() > 0 {
                entries.push(Self::entry(
                    EntryKind::Usage,
                    Bucket::Prepaid,
                    -split.prepaid.cents(),
                    keys[0].clone(),
                    "usage",
                ));
            }
            let mut draw = None;
            if split.credit.cents() > 0
                && let Some(l) = &line
            {
                let mut e =
                    Self::entry(EntryKind::Usage, Bucket::Credit, -split.credit.cents(), keys[1].clone(), "usage");
                e.line_id = Some(l.id);
                e.period = Some(period);
                entries.push(e);
                draw = Some(CreditDraw {
                    line_id: l.id,
                    period,
                    limit_cents: l.monthly_limit_cents,
                    cents: split.credit.cents(),
                    cap_cents: gate.cap(l.monthly_limit_cents),
                    paid_before: paid_before(now, self.draw_days()),
                });
            }
            let write = LedgerWrite { account_email: account.to_string(), entries, draw, coupon: None, at: now };
            match self.app.store.post_ledger(&write).await {
                Ok(()) => {
                    return Ok(Debited {
                        prepaid: split.prepaid,
                        credit: split.credit,
                        line_id: draw.map(|d| d.line_id),
                        replayed: false,
                    });
                }
                // Another debit moved the balance or the line first: plan again from fresh numbers.
                Err(StoreError::Refused(_)) | Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let (prepaid, credit) = self.available(account).await?;
        Err(DebitError::Refused(Refused { requested: amount, available: sum(prepaid, credit)?, prepaid, credit })
            .into())
    }

    /// The first outcome of a debit whose keys were used before; a different amount or
    /// account under the same key is an error.
    fn replayed(
        account: &EmailAddress,
        amount: Money,
        keys: &[String; 2],
        done: &[EntryRecord],
    ) -> Result<Debited, LedgerError> {
        let part = |b: &str| {
            Money::checked_sum(done.iter().filter(|e| e.bucket == b).map(|e| Money::from_cents(e.amount_cents)))
                .and_then(Money::checked_neg)
                .map_err(|_| DebitError::OutOfRange)
        };
        let (prepaid, credit) = (part("prepaid")?, part("credit")?);
        if sum(prepaid, credit)? != amount || done.iter().any(|e| e.account_email != account.as_str()) {
            return Err(LedgerError::KeyReused(
                keys[0].trim_start_matches("usage:").trim_end_matches(":prepaid").to_string(),
            ));
        }
        Ok(Debited { prepaid, credit, line_id: done.iter().find_map(|e| e.line_id), replayed: true })
    }

    /// Every stored balance against the sum of its entries; the problems found (none: sound).
    pub async fn verify(&self) -> Result<Vec<String>, LedgerError> {
        Ok(self.audit().await?.problems)
    }

    /// [`Ledger::verify`] with how much it looked at.
    pub async fn audit(&self) -> Result<Verified, LedgerError> {
        let sums = self.app.store.ledger_sums().await?;
        Ok(Verified { problems: problems(&sums), accounts: sums.accounts.len(), line_months: sums.usage.len() })
    }

    /// The account's stored balances.
    pub async fn balances(&self, account: &EmailAddress) -> Result<Balances, LedgerError> {
        Ok(self.app.store.balances(account.as_str()).await?)
    }

    /// The account's entries, oldest first.
    pub async fn entries(&self, account: &EmailAddress) -> Result<Vec<EntryRecord>, LedgerError> {
        Ok(self.app.store.ledger_entries(account.as_str()).await?)
    }
}

/// The mismatches between stored balances and entries (pure).
pub fn problems(sums: &LedgerSums) -> Vec<String> {
    let mut out = Vec::new();
    for (account, prepaid, deposit, prepaid_sum, deposit_sum) in &sums.accounts {
        if prepaid != prepaid_sum {
            out.push(format!(
                "{account}: prepaid balance {} but its entries add up to {}",
                Money::from_cents(*prepaid),
                Money::from_cents(*prepaid_sum)
            ));
        }
        if deposit != deposit_sum {
            out.push(format!(
                "{account}: deposit held {} but its entries add up to {}",
                Money::from_cents(*deposit),
                Money::from_cents(*deposit_sum)
            ));
        }
        if *prepaid < 0 || *deposit < 0 {
            out.push(format!("{account}: a balance is below zero"));
        }
    }
    for (line, period, used, limit, drawn) in &sums.usage {
        if used != drawn {
            out.push(format!(
                "line {line} {period}: {} used but its entries draw {}",
                Money::from_cents(*used),
                Money::from_cents(*drawn)
            ));
        }
        if used > limit {
            out.push(format!(
                "line {line} {period}: {} used over its limit {}",
                Money::from_cents(*used),
                Money::from_cents(*limit)
            ));
        }
    }
    for (account, owed, receivable) in &sums.receivables {
        if owed != receivable {
            out.push(format!(
                "{account}: {} owed on bills but its bill and payment entries leave {}",
                Money::from_cents(*owed),
                Money::from_cents(*receivable)
            ));
        }
    }
    for account in &sums.orphans {
        out.push(format!("{account}: entries without a balance"));
    }
    out
}

fn positive(m: Money) -> Result<(), LedgerError> {
    if m.cents() <= 0 {
        Err(LedgerError::Invalid(format!("the amount must be more than $0.00, not {m}")))
    } else {
        Ok(())
    }
}

/// What is left of a line's monthly limit after `used`.
fn line_left(limit_cents: i64, used_cents: i64) -> Result<i64, DebitError> {
    limit_cents.checked_sub(used_cents).ok_or(DebitError::OutOfRange)
}

/// Two amounts together, or the debit-side refusal when they cannot be added.
pub fn sum(a: Money, b: Money) -> Result<Money, DebitError> {
    a.checked_add(b).map_err(|_| DebitError::OutOfRange)
}

/// What is still owed on `bills`.
fn owed_on(bills: &[crate::store::BillRecord]) -> Result<i64, LedgerError> {
    bills.iter().try_fold(0i64, |sum, b| {
        b.amount_cents.checked_sub(b.paid_cents).and_then(|o| sum.checked_add(o)).ok_or(DebitError::OutOfRange.into())
    })
}

fn required_key(key: &str) -> Result<&str, LedgerError> {
    let k = key.trim();
    if k.is_empty() || k.len() > 200 {
        return Err(LedgerError::Invalid("an idempotency key of 1 to 200 characters is required".into()));
    }
    Ok(k)
}

fn required_reason(reason: &str) -> Result<String, LedgerError> {
    let r = reason.trim();
    if r.is_empty() || r.len() > 500 {
        return Err(LedgerError::Invalid("a reason of 1 to 500 characters is required".into()));
    }
    Ok(r.to_string())
}

fn normalize_code(code: &str) -> Result<String, LedgerError> {
    let c = code.trim().to_ascii_uppercase();
    if c.is_empty() || c.len() > 64 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
        return Err(LedgerError::Invalid(format!("coupon code {code:?}: 1 to 64 letters, digits, '-' or '_'")));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_names_every_mismatch() {
        let line = SubjectId(uuid::Uuid::nil());
        let sums = LedgerSums {
            accounts: vec![("a@x.io".into(), 500, 0, 500, 0), ("b@x.io".into(), 100, 50, 90, 50)],
            usage: vec![(line, "2026-10".into(), 300, 200, 300)],
            orphans: vec!["c@x.io".into()],
            receivables: vec![("d@x.io".into(), 100, 100), ("e@x.io".into(), 100, 0)],
        };
        let p = problems(&sums);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].contains("b@x.io") && p[0].contains("$0.90"), "{p:#?}");
        assert!(p[1].contains("over its limit"), "{p:#?}");
        assert!(p[2].contains("e@x.io") && p[2].contains("owed on bills"), "{p:#?}");
        assert!(p[3].contains("c@x.io"), "{p:#?}");
        assert!(problems(&LedgerSums::default()).is_empty());
    }

    #[test]
    fn coupon_codes_are_normalized_and_checked() {
        assert_eq!(normalize_code(" welcome-50 ").unwrap(), "WELCOME-50");
        assert!(normalize_code("no spaces").is_err());
        assert!(normalize_code("").is_err());
    }
}
