//! Money as integer cents of USD. Never a float: rounding errors in a ledger are bugs
//! that surface months later, so every amount is an `i64` count of cents and every
//! operation is checked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount of US dollars in cents. May be negative (adjustments, balances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("empty amount")]
    Empty,
    #[error("not an amount: {0:?}")]
    Invalid(String),
    #[error("amount has more precision than a cent: {0:?}")]
    TooPrecise(String),
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// Whole dollars; `None` when the result would not fit.
    pub const fn from_dollars(dollars: i64) -> Option<Self> {
        match dollars.checked_mul(100) {
            Some(c) => Some(Money(c)),
            None => None,
        }
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_add(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_sub(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.0.checked_mul(factor).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        self.0.checked_neg().map(Money).ok_or(MoneyError::Overflow)
    }

    /// Sum of many amounts, failing on overflow instead of wrapping.
    pub fn checked_sum<I: IntoIterator<Item = Money>>(items: I) -> Result<Money, MoneyError> {
        items.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    /// "$200" for whole dollars, "$1,000.50" otherwise: the form used in emails.
    pub fn short(self) -> String {
        if self.0 % 100 == 0 {
            let s = self.to_string();
            s.trim_end_matches(".00").to_string()
        } else {
            self.to_string()
        }
    }

    /// Parses the ways applicants write amounts: "$200", "$1,000.50", "USD 5,000",
    /// "5k", "200 USD", "US$ 1.5K", "-$20". A per-period suffix ("/month", "per month",
    /// "/mo") is accepted and ignored.
    pub fn parse(input: &str) -> Result<Money, MoneyError> {
        let original = input;
        let mut s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        for suffix in ["per month", "a month", "/month", "/mo", "monthly", "/ month"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest.trim_end().to_string();
                break;
            }
        }
        let mut negative = false;
        if let Some(rest) = s.strip_prefix('-') {
            negative = true;
            s = rest.trim_start().to_string();
        }
        for prefix in ["us$", "usd", "$"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest.trim_start().to_string();
                break;
            }
        }
        for suffix in ["usd", "dollars", "dollar", "$"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest.trim_end().to_string();
                break;
            }
        }
        if !negative && let Some(rest) = s.strip_prefix('-') {
            negative = true;
            s = rest.trim_start().to_string();
        }
        let (number, multiplier) = if let Some(n) = s.strip_suffix('k') {
            (n.trim_end(), 1_000i128)
        } else if let Some(n) = s.strip_suffix('m') {
            (n.trim_end(), 1_000_000i128)
        } else {
            (s.as_str(), 1i128)
        };
        let cents = parse_decimal_cents(number, multiplier).map_err(|e| e.with_input(original))?;
        // Computed in i128 so that i64::MIN, whose magnitude has no positive i64, parses back.
        let signed = if negative { -cents } else { cents };
        i64::try_from(signed).map(Money).map_err(|_| MoneyError::Overflow)
    }
}

impl MoneyError {
    fn with_input(self, input: &str) -> MoneyError {
        match self {
            MoneyError::Invalid(_) => MoneyError::Invalid(input.to_string()),
            MoneyError::TooPrecise(_) => MoneyError::TooPrecise(input.to_string()),
            other => other,
        }
    }
}

/// "1,000.50" with a multiplier (1 or 1,000 for "k") into cents, integer arithmetic only.
fn parse_decimal_cents(number: &str, multiplier: i128) -> Result<i128, MoneyError> {
    let invalid = || MoneyError::Invalid(number.to_string());
    if number.is_empty() {
        return Err(invalid());
    }
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(invalid());
    }
    // Thousands separators must group by three ("1,000", not "10,00").
    if int_part.contains(',') {
        let groups: Vec<&str> = int_part.split(',').collect();
        let first_ok = !groups[0].is_empty() && groups[0].len() <= 3;
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return Err(invalid());
        }
    }
    let digits: String = int_part.chars().filter(|c| *c != ',').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !frac_part.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    if digits.len() > 30 {
        return Err(MoneyError::Overflow);
    }
    let whole: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| MoneyError::Overflow)? };
    // Scale: cents per unit, times the multiplier; the fraction must land on whole cents.
    let scale = 100i128.checked_mul(multiplier).ok_or(MoneyError::Overflow)?;
    let mut frac_cents: i128 = 0;
    let mut unit = scale;
    for c in frac_part.chars() {
        let d = i128::from(c as u8 - b'0');
        if unit % 10 != 0 {
            if d != 0 {
                return Err(MoneyError::TooPrecise(number.to_string()));
            }
            continue;
        }
        unit /= 10;
        frac_cents += d * unit;
    }
    whole.checked_mul(scale).and_then(|w| w.checked_add(frac_cents)).ok_or(MoneyError::Overflow)
}

impl fmt::Display for Money {
    /// "$1,000.50", "-$3.07": always two decimals so the text parses back to the same cents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let dollars = abs / 100;
        let cents = abs % 100;
        let digits = dollars.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}${grouped}.{cents:02}")
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> i64 {
        Money::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).cents()
    }

    #[test]
    fn parses_the_common_wordings() {
        assert_eq!(p("$200"), 20_000);
        assert_eq!(p("$1,000.50"), 100_050);
        assert_eq!(p("USD 5,000"), 500_000);
        assert_eq!(p("5k"), 500_000);
        assert_eq!(p("200 USD"), 20_000);
        assert_eq!(p("US$ 1.5K"), 150_000);
        assert_eq!(p("$200/month"), 20_000);
        assert_eq!(p("-$20"), -2_000);
        assert_eq!(p("0.07"), 7);
        assert_eq!(p("1.2345k"), 123_450);
        assert_eq!(p("$2m"), 200_000_000);
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for bad in ["", "$", "abc", "1,00", "12.345", "1.2.3", "$ 1 000", "--5", "5kk"] {
            assert!(Money::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(Money::parse("99999999999999999999"), Err(MoneyError::Overflow));
    }

    #[test]
    fn formats_with_grouping_and_cents() {
        assert_eq!(Money::from_cents(100_050).to_string(), "$1,000.50");
        assert_eq!(Money::from_cents(-307).to_string(), "-$3.07");
        assert_eq!(Money::from_cents(0).to_string(), "$0.00");
        assert_eq!(Money::from_cents(123_456_789).to_string(), "$1,234,567.89");
        assert_eq!(Money::from_cents(20_000).short(), "$200");
        assert_eq!(Money::from_cents(i64::MIN).to_string(), "-$92,233,720,368,547,758.08");
    }

    #[test]
    fn arithmetic_reports_overflow() {
        let max = Money::from_cents(i64::MAX);
        assert_eq!(max.checked_add(Money::from_cents(1)), Err(MoneyError::Overflow));
        assert_eq!(Money::from_cents(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(Money::checked_sum([Money::from_cents(1), Money::from_cents(2)]), Ok(Money::from_cents(3)));
    }
}
