//! How an account has been paying, beyond its bills: payments announced but not confirmed,
//! failed payments and chargebacks, as `cycle_gating`, `limit_increase` and `re_review` read
//! them.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::rules::inputs::LimitIncreaseInput;
use crate::store::{IncidentRecord, PendingPaymentRecord, StoreError};

/// How an account has been paying, beyond its bills: what `cycle_gating`, `limit_increase`
/// and `re_review` are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PaymentStanding {
    /// Bill payments announced and neither confirmed nor dropped yet, in cents.
    pub pending_bill_cents: i64,
    pub failed_payments_6m: i64,
    pub chargebacks_6m: i64,
    /// Every chargeback on record.
    pub chargebacks: i64,
}

/// The window of "recent" payment problems, as in `re_review`'s six months.
const RECENT_DAYS: i64 = 182;

impl PaymentStanding {
    /// One account's standing from its records (pure).
    pub fn from_records(pending: &[PendingPaymentRecord], incidents: &[IncidentRecord], now: DateTime<Utc>) -> Self {
        let recent = now - Duration::days(RECENT_DAYS);
        let count = |kind: &str, since: Option<DateTime<Utc>>| {
            let n = incidents.iter().filter(|i| i.kind == kind && since.is_none_or(|s| i.occurred_at > s)).count();
            i64::try_from(n).unwrap_or(i64::MAX)
        };
        PaymentStanding {
            pending_bill_cents: pending
                .iter()
                .filter(|p| p.state == "pending" && p.purpose == "bill_payment")
                .fold(0i64, |sum, p| sum.saturating_add(p.amount_cents)),
            failed_payments_6m: count("failed_payment", Some(recent)),
            chargebacks_6m: count("chargeback", Some(recent)),
            chargebacks: count("chargeback", None),
        }
    }

    /// Whether the bill payments announced cover `owed`: a token transfer buys no grace.
    pub fn pending_covers(&self, owed_cents: i64) -> bool {
        self.pending_bill_cents > 0 && self.pending_bill_cents >= owed_cents
    }

    /// Adds the account's payment problems to a `limit_increase` input.
    pub fn fill_increase(&self, input: &mut LimitIncreaseInput) {
        input.failed_payments_6m = self.failed_payments_6m;
        input.chargebacks_6m = self.chargebacks_6m;
    }
}

/// The standing of several accounts, read in two queries.
#[derive(Debug, Clone, Default)]
pub struct Standings(HashMap<String, PaymentStanding>);

impl Standings {
    pub fn of(&self, account: &str) -> PaymentStanding {
        self.0.get(account).copied().unwrap_or_default()
    }
}

pub async fn standings<'a>(
    app: &App,
    accounts: impl IntoIterator<Item = &'a String>,
    now: DateTime<Utc>,
) -> Result<Standings, StoreError> {
    let mut accounts: Vec<String> = accounts.into_iter().cloned().collect();
    accounts.sort();
    accounts.dedup();
    let mut pending: HashMap<String, Vec<PendingPaymentRecord>> = HashMap::new();
    for p in app.store.pending_payments(&accounts, true).await? {
        pending.entry(p.account_email.clone()).or_default().push(p);
    }
    let mut incidents: HashMap<String, Vec<IncidentRecord>> = HashMap::new();
    for i in app.store.payment_incidents(&accounts).await? {
        incidents.entry(i.account_email.clone()).or_default().push(i);
    }
    let mut out = HashMap::new();
    for a in accounts {
        let p = pending.get(&a).map(Vec::as_slice).unwrap_or_default();
        let i = incidents.get(&a).map(Vec::as_slice).unwrap_or_default();
        if !p.is_empty() || !i.is_empty() {
            out.insert(a, PaymentStanding::from_records(p, i, now));
        }
    }
    Ok(Standings(out))
}

/// One account's standing.
pub async fn standing(app: &App, account: &str, now: DateTime<Utc>) -> Result<PaymentStanding, StoreError> {
    let key = account.to_string();
    Ok(standings(app, [&key], now).await?.of(account))
}
