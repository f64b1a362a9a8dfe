//! Invoices, pure: what an invoice request still lacks (policy: "include your account email,
//! specify the billing period or transaction IDs, provide any required business
//! information"), and an invoice's lines and totals built from ledger records. The store keeps
//! what is built here; nothing here reads a clock or a database.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Money, Period};

/// Items a request can lack, as the `missing` list of the details email names them
/// (`email::context::material_words` says them in the customer's words).
pub mod item {
    /// Neither a billing period (a calendar month) nor transaction ids.
    pub const PERIOD_OR_TRANSACTIONS: &str = "billing_period_or_transactions";
    /// The legal name of the company the invoice is made out to.
    pub const COMPANY: &str = "legal_company_name";
    /// The company's billing address.
    pub const ADDRESS: &str = "billing_address";
}

/// What an invoice request says so far. "Required business information" is the legal
/// company name and the billing address (what an invoice must show of its customer); a tax
/// or VAT id is printed when given but not required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDetails {
    /// `YYYY-MM`.
    pub billing_period: Option<String>,
    pub transaction_ids: Vec<String>,
    pub company: Option<String>,
    pub billing_address: Option<String>,
    pub tax_id: Option<String>,
    /// The request's messages (Message-IDs, oldest first): its thread.
    pub messages: Vec<String>,
}

impl RequestDetails {
    /// What an invoice still needs, in a fixed order.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.period().is_none() && self.transaction_ids.is_empty() {
            missing.push(item::PERIOD_OR_TRANSACTIONS);
        }
        if blank(&self.company) {
            missing.push(item::COMPANY);
        }
        if blank(&self.billing_address) {
            missing.push(item::ADDRESS);
        }
        missing
    }

    pub fn period(&self) -> Option<Period> {
        self.billing_period.as_deref().and_then(|p| p.parse().ok())
    }

    /// A later message's details over these: each value it has wins, transaction ids add up,
    /// its messages follow.
    pub fn merge(&mut self, newer: RequestDetails) {
        let take = |old: &mut Option<String>, new: Option<String>| {
            if !blank(&new) {
                *old = new;
            }
        };
        take(&mut self.billing_period, newer.billing_period);
        take(&mut self.company, newer.company);
        take(&mut self.billing_address, newer.billing_address);
        take(&mut self.tax_id, newer.tax_id);
        for id in newer.transaction_ids {
            if !self.transaction_ids.contains(&id) {
                self.transaction_ids.push(id);
            }
        }
        for m in newer.messages {
            if !self.messages.contains(&m) {
                self.messages.push(m);
            }
        }
    }

    /// What the invoice covers: the named transactions when there are any (exactly those),
    /// else the period.
    pub fn scope(&self) -> Option<Scope> {
        if !self.transaction_ids.is_empty() {
            return Some(Scope::Transactions(self.transaction_ids.clone()));
        }
        self.period().map(Scope::Period)
    }
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// What one invoice covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The month's bills (credit-line usage billed for it) and the prepaid credits bought in it.
    Period(Period),
    /// Exactly these provider transactions of the account (top-ups, bill payments, deposits).
    Transactions(Vec<String>),
}

impl Scope {
    /// "October 2026", or "transactions ch_1, ch_2".
    pub fn label(&self) -> String {
        match self {
            Scope::Period(p) => p.name(),
            Scope::Transactions(ids) => format!("transactions {}", ids.join(", ")),
        }
    }
}

/// One ledger entry as an invoice reads it (the store's entry, without the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCharge {
    /// The entry kind (`bill`, `top_up`, `payment`, `deposit`, ...).
    pub kind: String,
    /// Signed, as in the ledger.
    pub amount_cents: i64,
    /// `YYYY-MM` for bills.
    pub period: Option<String>,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub at: DateTime<Utc>,
}

/// Entry kinds that are money the account was charged, and how a line names them.
fn charged(kind: &str) -> Option<&'static str> {
    match kind {
        "bill" => Some("Credit line usage"),
        "top_up" => Some("Prepaid credits"),
        "payment" => Some("Credit line bill payment"),
        "deposit" => Some("Deposit held as guarantee"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    #[error("no charges to invoice for {0}")]
    Empty(String),
    #[error("transaction ids not found on this account: {}", .0.join(", "))]
    UnknownTransactions(Vec<String>),
    #[error("the invoice total is out of range")]
    Overflow,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Line {
    pub description: String,
    /// The provider's transaction id, or the bill's month.
    pub reference: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub amount_cents: i64,
}

/// The lines an invoice for `scope` has, from the account's ledger `charges` (oldest first):
/// for a period, each bill issued for the month and each top-up bought in it; for
/// transactions, one line per id with everything the account paid in it (a bill payment's
/// part that paid bills and the part left as prepaid credit both count).
pub fn lines(scope: &Scope, charges: &[LedgerCharge]) -> Result<Vec<Line>, InvoiceError> {
    let date = |at: DateTime<Utc>| at.date_naive().to_string();
    let mut out = Vec::new();
    match scope {
        Scope::Period(p) => {
            let month = p.to_string();
            for c in charges {
                let description = match c.kind.as_str() {
                    "bill" if c.period.as_deref() == Some(month.as_str()) && c.amount_cents > 0 => {
                        format!("Credit line usage, {}", p.name())
                    }
                    "top_up" if p.contains(c.at) && c.amount_cents > 0 => "Prepaid credits".to_string(),
                    _ => continue,
                };
                let reference = c.provider_ref.clone().unwrap_or_else(|| month.clone());
                out.push(Line { description, reference, date: date(c.at), amount_cents: c.amount_cents });
            }
            if out.is_empty() {
                return Err(InvoiceError::Empty(p.name()));
            }
        }
        Scope::Transactions(ids) => {
            let mut unknown = Vec::new();
            for id in ids {
                let mine: Vec<&LedgerCharge> = charges
                    .iter()
                    .filter(|c| c.provider_ref.as_deref() == Some(id.as_str()) && charged(&c.kind).is_some())
                    .collect();
                let Some(first) = mine.first() else {
                    unknown.push(id.clone());
                    continue;
                };
                let mut cents: i64 = 0;
                for c in &mine {
                    cents = cents
                        .checked_add(c.amount_cents.checked_abs().ok_or(InvoiceError::Overflow)?)
                        .ok_or(InvoiceError::Overflow)?;
                }
                let description = charged(&first.kind).unwrap_or("Payment").to_string();
                out.push(Line { description, reference: id.clone(), date: date(first.at), amount_cents: cents });
            }
            if !unknown.is_empty() {
                return Err(InvoiceError::UnknownTransactions(unknown));
            }
        }
    }
    Ok(out)
}

/// The sum of the lines, in cents.
pub fn total(lines: &[Line]) -> Result<Money, InvoiceError> {
    Money::checked_sum(lines.iter().map(|l| Money::from_cents(l.amount_cents))).map_err(|_| InvoiceError::Overflow)
}

/// A party on an invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Party {
    pub name: String,
    /// Address lines.
    pub address: Vec<String>,
    pub tax_id: Option<String>,
    pub email: Option<String>,
}

/// An invoice as issued: everything the HTML and PDF show, kept unchanged once issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Document {
    pub number: i64,
    /// The printed number, e.g. `INV-000042`.
    pub number_text: String,
    pub issued_on: NaiveDate,
    pub issuer: Party,
    pub customer: Party,
    pub account_email: String,
    /// What it covers ("October 2026", "transactions ch_1, ch_2").
    pub covers: String,
    pub currency: String,
    pub lines: Vec<Line>,
    pub total_cents: i64,
}

/// The printed number: `prefix` and at least six digits.
pub fn number_text(prefix: &str, number: i64) -> String {
    format!("{prefix}{number:06}")
}

/// A company line that carries its address too ("Company: ACME Robotics GmbH, Hauptstrasse 5,
/// 10115 Berlin, Germany"): the name up to the first comma-separated part with a digit in
/// it (a street number or postcode), the rest as the address. A name alone, or one whose
/// parts have no digit ("Acme, Inc."), stays whole.
pub fn split_company(value: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    match parts.iter().skip(1).position(|p| p.chars().any(|c| c.is_ascii_digit())) {
        Some(k) => (parts[..=k].join(", "), Some(parts[k + 1..].join(", "))),
        None => (value.trim().to_string(), None),
    }
}

/// Address lines from what a customer wrote (commas or line breaks), blanks dropped.
pub fn address_lines(address: &str) -> Vec<String> {
    let parts: Vec<&str> =
        if address.contains('\n') { address.lines().collect() } else { address.split(',').collect() };
    parts.into_iter().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn charge(kind: &str, cents: i64, period: Option<&str>, r: Option<&str>, when: DateTime<Utc>) -> LedgerCharge {
        LedgerCharge {
            kind: kind.into(),
            amount_cents: cents,
            period: period.map(str::to_string),
            provider: r.map(|_| "stripe".into()),
            provider_ref: r.map(str::to_string),
            at: when,
        }
    }

    /// Policy: "specify the billing period or transaction IDs, provide any required business
    /// information": each missing piece is named, and a transaction id stands in for a period.
    #[test]
    fn a_request_lacks_the_period_or_transactions_and_the_business_details() {
        let mut d = RequestDetails::default();
        assert_eq!(d.missing(), vec![item::PERIOD_OR_TRANSACTIONS, item::COMPANY, item::ADDRESS]);
        d.merge(RequestDetails {
            transaction_ids: vec!["ch_1".into()],
            company: Some("Acme Ltd".into()),
            ..Default::default()
        });
        assert_eq!(d.missing(), vec![item::ADDRESS]);
        d.merge(RequestDetails { billing_address: Some("  ".into()), ..Default::default() });
        assert_eq!(d.missing(), vec![item::ADDRESS], "a blank value is not an address");
        d.merge(RequestDetails { billing_address: Some("1 Main St, London".into()), ..Default::default() });
        assert!(d.missing().is_empty());
        let period_only = RequestDetails {
            billing_period: Some("2026-10".into()),
            company: Some("Acme".into()),
            billing_address: Some("x".into()),
            ..Default::default()
        };
        assert!(period_only.missing().is_empty());
        assert_eq!(period_only.scope(), Some(Scope::Period("2026-10".parse().unwrap())));
    }

    #[test]
    fn a_period_invoice_has_the_months_bills_and_top_ups_only() {
        let charges = vec![
            charge("top_up", 5_000, None, Some("ch_sept0001"), at(2026, 9, 30)),
            charge("top_up", 2_500, None, Some("ch_oct00001"), at(2026, 10, 3)),
            charge("usage", -1_000, Some("2026-10"), None, at(2026, 10, 4)),
            charge("coupon", 900, None, None, at(2026, 10, 5)),
            charge("bill", 12_345, Some("2026-10"), None, at(2026, 11, 1)),
            charge("bill", 777, Some("2026-09"), None, at(2026, 10, 1)),
        ];
        let p: Period = "2026-10".parse().unwrap();
        let l = lines(&Scope::Period(p), &charges).unwrap();
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(l[0].reference, "ch_oct00001");
        assert_eq!(l[1].description, "Credit line usage, October 2026");
        assert_eq!(total(&l).unwrap().cents(), 14_845);
        let empty = lines(&Scope::Period("2026-12".parse().unwrap()), &charges).unwrap_err();
        assert_eq!(empty, InvoiceError::Empty("December 2026".into()));
    }

    #[test]
    fn named_transactions_are_invoiced_whole_and_unknown_ones_refused() {
        let charges = vec![
            charge("payment", -10_000, None, Some("ch_pay00001"), at(2026, 11, 2)),
            charge("payment", 500, None, Some("ch_pay00001"), at(2026, 11, 2)),
            charge("top_up", 2_500, None, Some("ch_top00001"), at(2026, 10, 3)),
        ];
        let scope = Scope::Transactions(vec!["ch_pay00001".into(), "ch_top00001".into()]);
        let l = lines(&scope, &charges).unwrap();
        assert_eq!(l.iter().map(|l| l.amount_cents).collect::<Vec<_>>(), vec![10_500, 2_500]);
        let bad = Scope::Transactions(vec!["ch_top00001".into(), "ch_nope0001".into()]);
        assert_eq!(lines(&bad, &charges).unwrap_err(), InvoiceError::UnknownTransactions(vec!["ch_nope0001".into()]));
    }

    #[test]
    fn a_company_line_may_carry_the_address() {
        assert_eq!(
            split_company("ACME Robotics GmbH, Hauptstrasse 5, 10115 Berlin, Germany"),
            ("ACME Robotics GmbH".into(), Some("Hauptstrasse 5, 10115 Berlin, Germany".into()))
        );
        assert_eq!(split_company("Acme, Inc., 1 Main St"), ("Acme, Inc.".into(), Some("1 Main St".into())));
        assert_eq!(split_company("Bright Labs LLC"), ("Bright Labs LLC".into(), None));
        assert_eq!(split_company("Acme, Inc."), ("Acme, Inc.".into(), None));
    }

    #[test]
    fn numbers_and_addresses_print_as_expected() {
        assert_eq!(number_text("INV-", 42), "INV-000042");
        assert_eq!(number_text("INV-", 1_234_567), "INV-1234567");
        assert_eq!(address_lines("1 Main St, Suite 2 ,, London"), vec!["1 Main St", "Suite 2", "London"]);
        assert_eq!(address_lines("1 Main St, Suite 2\nLondon"), vec!["1 Main St, Suite 2", "London"]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn any_charge() -> impl Strategy<Value = LedgerCharge> {
            let kinds =
                prop::sample::select(vec!["bill", "top_up", "usage", "coupon", "payment", "deposit", "adjustment"]);
            (kinds, -1_000_000i64..1_000_000, 1u32..=12, 1u32..=28, prop::option::of(0u8..20)).prop_map(
                |(kind, cents, m, d, r)| LedgerCharge {
                    kind: kind.to_string(),
                    amount_cents: cents,
                    period: Some(format!("2026-{m:02}")),
                    provider: r.map(|_| "stripe".into()),
                    provider_ref: r.map(|r| format!("ch_{r:010}")),
                    at: Utc.with_ymd_and_hms(2026, m, d, 0, 0, 0).unwrap(),
                },
            )
        }

        proptest! {
            /// The total of a month's invoice is exactly what the ledger recorded for it: the
            /// month's bills plus the prepaid credits bought in the month, in cents.
            #[test]
            fn a_period_invoice_totals_the_ledger(charges in prop::collection::vec(any_charge(), 0..60), m in 1u32..=12) {
                let p = Period::new(2026, m).unwrap();
                let expected: i64 = charges
                    .iter()
                    .filter(|c| c.amount_cents > 0)
                    .filter(|c| (c.kind == "bill" && c.period.as_deref() == Some(p.to_string().as_str()))
                        || (c.kind == "top_up" && p.contains(c.at)))
                    .map(|c| c.amount_cents)
                    .sum();
                match lines(&Scope::Period(p), &charges) {
                    Ok(l) => prop_assert_eq!(total(&l).unwrap().cents(), expected),
                    Err(e) => prop_assert!(expected == 0 && matches!(e, InvoiceError::Empty(_))),
                }
            }

            /// A transactions invoice totals the absolute amounts the ledger holds under those
            /// provider references (money in), and knows every id or refuses.
            #[test]
            fn a_transactions_invoice_totals_the_ledger(charges in prop::collection::vec(any_charge(), 0..60), ids in prop::collection::btree_set(0u8..20, 1..4)) {
                let ids: Vec<String> = ids.into_iter().map(|r| format!("ch_{r:010}")).collect();
                let money_in = |c: &&LedgerCharge| ["bill", "top_up", "payment", "deposit"].contains(&c.kind.as_str());
                let known = ids.iter().all(|id| charges.iter().filter(money_in).any(|c| c.provider_ref.as_ref() == Some(id)));
                let expected: i64 = charges
                    .iter()
                    .filter(money_in)
                    .filter(|c| c.provider_ref.as_ref().is_some_and(|r| ids.contains(r)))
                    .map(|c| c.amount_cents.abs())
                    .sum();
                match lines(&Scope::Transactions(ids.clone()), &charges) {
                    Ok(l) => {
                        prop_assert!(known);
                        prop_assert_eq!(l.len(), ids.len());
                        prop_assert_eq!(total(&l).unwrap().cents(), expected);
                    }
                    Err(e) => prop_assert!(!known && matches!(e, InvoiceError::UnknownTransactions(_))),
                }
            }
        }
    }
}
