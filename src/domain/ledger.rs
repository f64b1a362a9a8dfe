//! The ledger's pure rules: what an entry is, and how a usage debit is split between prepaid
//! credits and the credit line. Money moves only through entries; balances are sums of them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Money, Period};

/// What an entry records. The sign of its amount says which way the balance of its bucket
/// moves (positive: the bucket grows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Prepaid credits bought through a payment provider (+prepaid).
    TopUp,
    /// Credits from a coupon or promo code (+prepaid; credits never expire).
    Coupon,
    /// Money held as a guarantee for a large credit line (+deposit); never spent on usage.
    Deposit,
    /// A held deposit released by an admin (-deposit, then +prepaid).
    DepositRelease,
    /// Usage: -prepaid for the part prepaid credits cover, -credit for the part on the line.
    Usage,
    /// An admin's correction with a reason (either sign, prepaid).
    Adjustment,
    /// A bill for the credit used in a period (+receivable).
    Bill,
    /// A payment of bills (-receivable; anything beyond what is owed becomes +prepaid).
    Payment,
    /// Prepaid credit the account asked to hold as its guarantee (-prepaid, then +deposit).
    PrepaidHeld,
    /// A held deposit applied by an admin to the unpaid bills it guarantees once the line
    /// closed unpaid (-deposit, then -receivable).
    DepositApplied,
}

impl EntryKind {
    pub const ALL: [EntryKind; 10] = [
        EntryKind::TopUp,
        EntryKind::Coupon,
        EntryKind::Deposit,
        EntryKind::DepositRelease,
        EntryKind::Usage,
        EntryKind::Adjustment,
        EntryKind::Bill,
        EntryKind::Payment,
        EntryKind::PrepaidHeld,
        EntryKind::DepositApplied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::TopUp => "top_up",
            EntryKind::Coupon => "coupon",
            EntryKind::Deposit => "deposit",
            EntryKind::DepositRelease => "deposit_release",
            EntryKind::Usage => "usage",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Bill => "bill",
            EntryKind::Payment => "payment",
            EntryKind::PrepaidHeld => "prepaid_held",
            EntryKind::DepositApplied => "deposit_applied",
        }
    }
}

impl std::str::FromStr for EntryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown ledger entry kind {s:?}"))
    }
}

/// Which balance an entry moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Prepaid credits: never below zero.
    Prepaid,
    /// The deposit held as a guarantee: never below zero, never spent on usage.
    Deposit,
    /// Credit-line usage of one period (entries are negative: credit drawn).
    Credit,
    /// What the account owes on bills: +bill, -payment.
    Receivable,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Prepaid => "prepaid",
            Bucket::Deposit => "deposit",
            Bucket::Credit => "credit",
            Bucket::Receivable => "receivable",
        }
    }
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Bucket::Prepaid, Bucket::Deposit, Bucket::Credit, Bucket::Receivable]
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| format!("unknown ledger bucket {s:?}"))
    }
}

/// How a debit is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub prepaid: Money,
    pub credit: Money,
}

/// Why a debit was refused, and what there was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("debit of {requested} refused: only {available} available ({prepaid} prepaid, {credit} on the credit line)")]
pub struct Refused {
    pub requested: Money,
    pub available: Money,
    pub prepaid: Money,
    pub credit: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DebitError {
    #[error("a debit must be more than $0.00, not {0}")]
    NotPositive(Money),
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The credit line is shut by the billing-cycle gate and prepaid credits do not cover it.
    #[error(transparent)]
    Gated(#[from] Gated),
    /// The funds read are beyond what arithmetic on cents can hold (a damaged balance).
    #[error("the balances of this account are out of range")]
    OutOfRange,
}

/// Prepaid credits first, then the credit line's available amount, never more than both
/// together. `prepaid` and `credit_available` below zero count as zero.
pub fn split_debit(amount: Money, prepaid: Money, credit_available: Money) -> Result<Split, DebitError> {
    if amount.cents() <= 0 {
        return Err(DebitError::NotPositive(amount));
    }
    let prepaid = prepaid.cents().max(0);
    let credit = credit_available.cents().max(0);
    let available = prepaid.saturating_add(credit);
    if amount.cents() > available {
        return Err(Refused {
            requested: amount,
            available: Money::from_cents(available),
            prepaid: Money::from_cents(prepaid),
            credit: Money::from_cents(credit),
        }
        .into());
    }
    // 0 <= from_prepaid <= amount: the rest cannot overflow.
    let from_prepaid = amount.cents().min(prepaid);
    Ok(Split { prepaid: Money::from_cents(from_prepaid), credit: Money::from_cents(amount.cents() - from_prepaid) })
}

/// The most one account's balance may hold: $10 trillion. No real account comes near it, and
/// it leaves room for the sum of every bucket of an account (and for writes racing past the
/// check of [`grown`]) within an `i64`.
pub const MAX_BALANCE: Money = Money::from_cents(1_000_000_000_000_000);

/// Why an amount may not enter the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BoundError {
    /// The most one entry may move is configured (`ledger.max_amount_cents`).
    #[error("amount {amount} is over the maximum of {max}")]
    Amount { amount: Money, max: Money },
    #[error("the {bucket} balance would exceed {}, the most an account can hold", MAX_BALANCE)]
    Balance { bucket: &'static str },
}

/// `amount` (of either sign) is at most `max` in size.
pub fn within(amount: Money, max: Money) -> Result<Money, BoundError> {
    if amount.cents().unsigned_abs() > max.cents().unsigned_abs() {
        return Err(BoundError::Amount { amount, max });
    }
    Ok(amount)
}

/// `balance` moved by `delta`, refused above [`MAX_BALANCE`]. Below zero is left to the
/// store, whose guarded update refuses it against the balance it holds at that moment.
pub fn grown(bucket: Bucket, balance: Money, delta: Money) -> Result<Money, BoundError> {
    match balance.checked_add(delta) {
        Ok(b) if b <= MAX_BALANCE => Ok(b),
        _ => Err(BoundError::Balance { bucket: bucket.as_str() }),
    }
}

/// A closed month a credit line still owes for: its bill not paid in full, or, before the
/// month's close has billed it, the credit it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpaid {
    pub period: Period,
    pub owed: Money,
}

/// A debit refused because the billing-cycle gate shut the credit line, and prepaid credits
/// alone do not cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "debit of {requested} refused: the bill for {}, {}, is unpaid, so the credit line draws nothing until it is paid; only {prepaid} prepaid available",
    .unpaid.period.name(),
    .unpaid.owed
)]
pub struct Gated {
    pub requested: Money,
    pub prepaid: Money,
    pub unpaid: Unpaid,
}

/// What the billing-cycle gate lets a line draw in a month (policy: "To receive or continue a
/// credit line for the next month, the account must complete payment for the previous
/// month's bill"). It holds from the first instant after a month that used credit, whether
/// or not the close has billed it yet, so no scheduler delay opens a second month of credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Gate {
    /// Nothing closed is owed: the line draws up to its limit.
    #[default]
    Open,
    /// A closed month is owed, within the days `cycle_gating` allows for paying it: the month
    /// in progress draws at most its limit pro rata for those days, in all.
    Paying { cap_cents: i64, unpaid: Unpaid },
    /// A closed month is owed past those days: the line draws nothing until it is paid.
    Shut(Unpaid),
}

impl Gate {
    /// The gate of a line drawing in `period` at `now`: `owing` lists its months with something
    /// owed (any order; the month in progress and months owing nothing are ignored),
    /// `draw_days` is `cycle_gating`'s `draw_days_while_unpaid()`.
    pub fn of(owing: &[Unpaid], period: Period, now: DateTime<Utc>, draw_days: i64, limit_cents: i64) -> Gate {
        let Some(oldest) =
            owing.iter().filter(|u| u.period < period && u.owed.cents() > 0).min_by_key(|u| u.period).copied()
        else {
            return Gate::Open;
        };
        if oldest.period < paid_before(now, draw_days) {
            return Gate::Shut(oldest);
        }
        // Whole cents, rounded down: the allowance never exceeds the days it stands for.
        let cap = i128::from(limit_cents.max(0)) * i128::from(draw_days.max(0)) / i128::from(period.days().max(1));
        Gate::Paying { cap_cents: i64::try_from(cap).unwrap_or(0).min(limit_cents), unpaid: oldest }
    }

    /// The most the line may have drawn in the month, in all, after a debit.
    pub fn cap(self, limit_cents: i64) -> i64 {
        match self {
            Gate::Open => limit_cents,
            Gate::Paying { cap_cents, .. } => cap_cents.min(limit_cents),
            Gate::Shut(_) => 0,
        }
    }
}

/// Every month before the one returned must be paid for a line to draw at `now`: the months
/// whose `draw_days` after their end have passed. What the store's guarded write checks.
pub fn paid_before(now: DateTime<Utc>, draw_days: i64) -> Period {
    Period::containing(now.checked_sub_signed(Duration::days(draw_days.clamp(0, 366))).unwrap_or(now))
}

/// Plans one debit: prepaid credits first, then what the gate leaves of the line. A debit the
/// shut line would have had to cover says which bill is unpaid.
pub fn plan_debit(
    amount: Money,
    prepaid: Money,
    line_limit_cents: i64,
    used_cents: i64,
    gate: Gate,
) -> Result<Split, DebitError> {
    let line_left = gate.cap(line_limit_cents).checked_sub(used_cents).ok_or(DebitError::OutOfRange)?;
    match (split_debit(amount, prepaid, Money::from_cents(line_left)), gate) {
        (Err(DebitError::Refused(r)), Gate::Shut(unpaid)) => {
            Err(Gated { requested: r.requested, prepaid: r.prepaid, unpaid }.into())
        }
        (other, _) => other,
    }
}

/// What an account can still spend while a batch of debits is planned in order: each debit
/// draws from the funds the ones before it left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Funds {
    pub prepaid_cents: i64,
    /// The usable line's limit and what was drawn on it this period.
    pub line_limit_cents: i64,
    pub line_used_cents: i64,
    /// The billing-cycle gate of the line for this debit.
    pub gate: Gate,
}

impl Funds {
    /// Plans one debit and takes it from the funds; a refused one leaves them as they were.
    pub fn draw(&mut self, amount: Money) -> Result<Split, DebitError> {
        let split = plan_debit(
            amount,
            Money::from_cents(self.prepaid_cents),
            self.line_limit_cents,
            self.line_used_cents,
            self.gate,
        )?;
        let prepaid = self.prepaid_cents.checked_sub(split.prepaid.cents()).ok_or(DebitError::OutOfRange)?;
        let used = self.line_used_cents.checked_add(split.credit.cents()).ok_or(DebitError::OutOfRange)?;
        (self.prepaid_cents, self.line_used_cents) = (prepaid, used);
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: i64) -> Money {
        Money::from_cents(c)
    }

    #[test]
    fn a_batch_of_draws_takes_each_from_what_the_ones_before_left() {
        let mut f = Funds { prepaid_cents: 500, line_limit_cents: 1000, line_used_cents: 200, gate: Gate::Open };
        assert_eq!(f.draw(m(300)).unwrap(), Split { prepaid: m(300), credit: m(0) });
        assert_eq!(f.draw(m(400)).unwrap(), Split { prepaid: m(200), credit: m(200) });
        let before = f;
        let e = f.draw(m(601)).unwrap_err();
        assert_eq!(
            e,
            DebitError::Refused(Refused { requested: m(601), available: m(600), prepaid: m(0), credit: m(600) })
        );
        assert_eq!(f, before, "a refused draw takes nothing");
        assert_eq!(f.draw(m(600)).unwrap().credit, m(600));
        assert_eq!((f.prepaid_cents, f.line_used_cents), (0, 1000));
        assert!(f.draw(m(1)).is_err());
    }

    #[test]
    fn amounts_and_balances_are_bounded_without_wrapping() {
        let max = m(100_000_000);
        assert_eq!(within(m(100_000_000), max), Ok(m(100_000_000)));
        assert_eq!(within(m(-100_000_000), max), Ok(m(-100_000_000)));
        let e = within(m(i64::MAX), max).unwrap_err();
        assert_eq!(e.to_string(), "amount $92,233,720,368,547,758.07 is over the maximum of $1,000,000.00");
        assert!(within(m(i64::MIN), max).is_err(), "i64::MIN has no positive counterpart");
        assert_eq!(grown(Bucket::Prepaid, m(5), m(-7)), Ok(m(-2)), "below zero is the store's to refuse");
        assert_eq!(grown(Bucket::Prepaid, MAX_BALANCE, m(0)), Ok(MAX_BALANCE));
        let e = grown(Bucket::Deposit, MAX_BALANCE, m(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the deposit balance would exceed $10,000,000,000,000.00, the most an account can hold"
        );
        assert!(grown(Bucket::Prepaid, m(i64::MAX), m(i64::MAX)).is_err(), "overflow is refused, not wrapped");
        let mut f = Funds { prepaid_cents: 0, line_limit_cents: i64::MAX, line_used_cents: -1, gate: Gate::Open };
        assert_eq!(f.draw(m(1)), Err(DebitError::OutOfRange));
    }

    #[test]
    fn prepaid_first_then_the_line_never_more_than_both() {
        assert_eq!(split_debit(m(300), m(500), m(1000)).unwrap(), Split { prepaid: m(300), credit: m(0) });
        assert_eq!(split_debit(m(800), m(500), m(1000)).unwrap(), Split { prepaid: m(500), credit: m(300) });
        assert_eq!(split_debit(m(1500), m(500), m(1000)).unwrap(), Split { prepaid: m(500), credit: m(1000) });
        let e = split_debit(m(1501), m(500), m(1000)).unwrap_err();
        assert_eq!(
            e,
            DebitError::Refused(Refused { requested: m(1501), available: m(1500), prepaid: m(500), credit: m(1000) })
        );
        assert!(e.to_string().contains("only $15.00 available"), "{e}");
        assert_eq!(split_debit(m(0), m(5), m(5)), Err(DebitError::NotPositive(m(0))));
        assert!(split_debit(m(1), m(-5), m(-5)).is_err(), "negative balances count as nothing");
    }

    fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn owed(period: &str, cents: i64) -> Unpaid {
        Unpaid { period: period.parse().unwrap(), owed: m(cents) }
    }

    #[test]
    fn a_month_that_used_credit_shuts_the_line_from_the_first_instant_after_it_until_paid() {
        let nov: Period = "2026-11".parse().unwrap();
        let oct = [owed("2026-10", 15_000)];
        // Zero days allowed: shut at one second past midnight, before any close has run.
        let first = at(2026, 11, 1, 0) + Duration::seconds(1);
        assert_eq!(Gate::of(&oct, nov, first, 0, 20_000), Gate::Shut(oct[0]));
        assert_eq!(Gate::of(&[], nov, first, 0, 20_000), Gate::Open, "nothing owed");
        assert_eq!(Gate::of(&[owed("2026-10", 0)], nov, first, 0, 20_000), Gate::Open, "a $0 month gates nothing");
        assert_eq!(Gate::of(&[owed("2026-11", 500)], nov, first, 0, 20_000), Gate::Open, "the month in progress");
        // The oldest month owed is the one named.
        let two = [owed("2026-10", 100), owed("2026-09", 200)];
        assert_eq!(Gate::of(&two, nov, first, 0, 20_000), Gate::Shut(two[1]));
        // Three days allowed: three days' worth of a $200 line (of 30), then shut.
        let paying = Gate::of(&oct, nov, at(2026, 11, 3, 23), 3, 20_000);
        assert_eq!(paying, Gate::Paying { cap_cents: 2_000, unpaid: oct[0] });
        assert_eq!(Gate::of(&oct, nov, at(2026, 11, 4, 0), 3, 20_000), Gate::Shut(oct[0]));
        assert_eq!(paid_before(at(2026, 11, 4, 0), 3), nov);
        assert_eq!(paid_before(at(2026, 11, 3, 23), 3).to_string(), "2026-10");
    }

    #[test]
    fn a_shut_line_leaves_prepaid_working_and_says_which_bill_is_unpaid() {
        let shut = Gate::Shut(owed("2026-10", 15_000));
        let mut f = Funds { prepaid_cents: 500, line_limit_cents: 20_000, line_used_cents: 0, gate: shut };
        assert_eq!(f.draw(m(500)).unwrap(), Split { prepaid: m(500), credit: m(0) });
        let e = f.draw(m(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "debit of $0.01 refused: the bill for October 2026, $150.00, is unpaid, so the credit line draws \
             nothing until it is paid; only $0.00 prepaid available"
        );
        let paying = Gate::Paying { cap_cents: 2_000, unpaid: owed("2026-10", 15_000) };
        let mut f = Funds { prepaid_cents: 0, line_limit_cents: 20_000, line_used_cents: 1_500, gate: paying };
        assert_eq!(f.draw(m(500)).unwrap().credit, m(500));
        assert!(matches!(f.draw(m(1)), Err(DebitError::Refused(_))), "the allowance is used up");
    }
}
