//! AWS billing statements attached as CSV: months and amounts, as evidence for the
//! aws_history check. Column names vary by export; the first column that looks like a
//! period and the first that looks like a total are used. Pure.

use serde::Serialize;

use super::extract::amount_cents;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthAmount {
    /// `YYYY-MM`.
    pub period: String,
    pub amount_cents: i64,
}

const MAX_ROWS: usize = 1_000;

fn period_of(text: &str) -> Option<String> {
    let t = text.trim();
    // 2026-10, 2026-10-01, 2026/10, 10/2026
    let digits: Vec<&str> = t.split(['-', '/', ' ', 'T']).filter(|p| !p.is_empty()).collect();
    match digits.as_slice() {
        [y, m, ..] if y.len() == 4 => {
            let m: u32 = m.parse().ok()?;
            let y: u32 = y.parse().ok()?;
            (1..=12).contains(&m).then(|| format!("{y:04}-{m:02}"))
        }
        [m, y] if y.len() == 4 => {
            let m: u32 = m.parse().ok()?;
            let y: u32 = y.parse().ok()?;
            (1..=12).contains(&m).then(|| format!("{y:04}-{m:02}"))
        }
        _ => None,
    }
}

/// Months and amounts, oldest first, one row per month (amounts of the same month summed).
/// `None` when the file has no recognisable period and amount columns.
pub fn parse(text: &str) -> Option<Vec<MonthAmount>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().ok()?.iter().map(|h| h.trim().to_lowercase()).collect();
    let find = |words: &[&str]| headers.iter().position(|h| words.iter().any(|w| h.contains(w)));
    let period_col = find(&["billing period", "period", "month", "invoice date", "date"])?;
    let amount_col = find(&["total", "amount", "cost", "charge", "usd"])?;
    let mut months: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for record in reader.records().take(MAX_ROWS) {
        let Ok(record) = record else { continue };
        let (Some(p), Some(a)) = (record.get(period_col), record.get(amount_col)) else { continue };
        let (Some(period), Some(cents)) = (period_of(p), amount_cents(a, true)) else { continue };
        let slot = months.entry(period).or_insert(0);
        *slot = slot.saturating_add(cents);
    }
    (!months.is_empty())
        .then(|| months.into_iter().map(|(period, amount_cents)| MonthAmount { period, amount_cents }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_amounts() {
        let csv = "Billing Period,Service,Total Cost (USD)\n2026-08,EC2,\"1,200.00\"\n2026-08,S3,200\n2026-09,EC2,1500.5\nbad,row,x\n";
        let rows = parse(csv).unwrap();
        assert_eq!(
            rows,
            vec![
                MonthAmount { period: "2026-08".into(), amount_cents: 140_000 },
                MonthAmount { period: "2026-09".into(), amount_cents: 150_050 },
            ]
        );
        assert_eq!(parse("a,b\n1,2\n"), None);
    }
}
