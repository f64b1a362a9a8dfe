//! Billing periods are calendar months in UTC ("2026-10").

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a billing period (expected YYYY-MM between 1970-01 and 9999-12): {0:?}")]
pub struct PeriodError(String);

impl Period {
    pub fn new(year: i32, month: u32) -> Result<Period, PeriodError> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError(format!("{year:04}-{month:02}")));
        }
        Ok(Period { year, month })
    }

    /// The period a moment falls in.
    pub fn containing(at: DateTime<Utc>) -> Period {
        Period { year: at.year().clamp(1970, 9999), month: at.month() }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The following month; `None` after 9999-12.
    pub fn next(self) -> Option<Period> {
        if self.month == 12 { Period::new(self.year + 1, 1).ok() } else { Period::new(self.year, self.month + 1).ok() }
    }

    /// The month before; `None` before 1970-01.
    pub fn previous(self) -> Option<Period> {
        if self.month == 1 { Period::new(self.year - 1, 12).ok() } else { Period::new(self.year, self.month - 1).ok() }
    }

    /// First instant of the month, UTC.
    pub fn start(self) -> DateTime<Utc> {
        first_instant(self.year, self.month)
    }

    /// First instant of the following month (exclusive end), UTC.
    pub fn end(self) -> DateTime<Utc> {
        if self.month == 12 { first_instant(self.year + 1, 1) } else { first_instant(self.year, self.month + 1) }
    }

    pub fn contains(self, at: DateTime<Utc>) -> bool {
        self.start() <= at && at < self.end()
    }

    pub fn days(self) -> i64 {
        (self.end() - self.start()).num_days()
    }

    /// The month as people write it: "October 2026".
    pub fn name(self) -> String {
        let month = u8::try_from(self.month).ok().and_then(|m| chrono::Month::try_from(m).ok());
        match month {
            Some(m) => format!("{} {}", m.name(), self.year),
            None => self.to_string(),
        }
    }
}

/// The last day a bill due at `due_at` may be paid on time, as its emails state it. A bill is
/// overdue strictly after `due_at`, which the billing cycle sets at midnight (the month's end
/// plus `billing.due_days`): that midnight is the first day *late*, so the last day to pay is
/// the day before it. A `due_at` within a day is on time through that day.
pub fn last_day_to_pay(due_at: DateTime<Utc>) -> NaiveDate {
    (due_at - chrono::Duration::nanoseconds(1)).date_naive()
}

/// Whether a bill due at `due_at` (unpaid) is due for its reminder at `now`: from `days_before`
/// days before its last day to pay, through that day; never once it is overdue (then gating
/// writes to the account).
pub fn reminder_window(due_at: DateTime<Utc>, now: DateTime<Utc>, days_before: u32) -> bool {
    let last = last_day_to_pay(due_at);
    let from = last - chrono::Duration::days(i64::from(days_before));
    now <= due_at && now.date_naive() >= from
}

fn first_instant(year: i32, month: u32) -> DateTime<Utc> {
    // Valid by construction: year within 1970..=10000 and month within 1..=12.
    let date = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodError(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        Period::new(y.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?).map_err(|_| err())
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_steps_through_months() {
        let p: Period = "2026-12".parse().unwrap();
        assert_eq!(p.next().unwrap().to_string(), "2027-01");
        assert_eq!(p.previous().unwrap().to_string(), "2026-11");
        assert_eq!("2026-01".parse::<Period>().unwrap().previous().unwrap().to_string(), "2025-12");
        assert_eq!(p.start().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert_eq!("2028-02".parse::<Period>().unwrap().days(), 29);
        assert!(Period::new(9999, 12).unwrap().next().is_none());
        assert_eq!("2026-10".parse::<Period>().unwrap().name(), "October 2026");
    }

    #[test]
    fn the_last_day_to_pay_is_the_day_before_the_first_late_midnight() {
        let october: Period = "2026-10".parse().unwrap();
        let due_at = october.end() + chrono::Duration::days(10);
        assert_eq!(due_at.to_rfc3339(), "2026-11-11T00:00:00+00:00");
        assert_eq!(last_day_to_pay(due_at).to_string(), "2026-11-10");
        let noon = Utc.with_ymd_and_hms(2026, 11, 10, 12, 0, 0).unwrap();
        assert_eq!(last_day_to_pay(noon).to_string(), "2026-11-10");
    }

    #[test]
    fn the_reminder_window_runs_up_to_the_last_day_and_not_after() {
        let due_at = Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap();
        let at = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        assert!(!reminder_window(due_at, at(6, 23), 3), "four days before the last day: not yet");
        assert!(reminder_window(due_at, at(7, 0), 3), "three days before the last day");
        assert!(reminder_window(due_at, at(10, 23), 3), "on the last day");
        assert!(!reminder_window(due_at, at(11, 1), 3), "overdue: gating's turn");
        assert!(reminder_window(due_at, at(10, 1), 0), "0: on the last day only");
        assert!(!reminder_window(due_at, at(9, 1), 0));
    }

    #[test]
    fn rejects_bad_periods() {
        for bad in ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "", "abcd-ef", "1969-12"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn contains_its_instants_only() {
        let p: Period = "2026-10".parse().unwrap();
        assert!(p.contains(p.start()));
        assert!(!p.contains(p.end()));
        assert_eq!(Period::containing(p.end()), p.next().unwrap());
    }
}
