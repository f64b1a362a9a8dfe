//! A small bar chart of AWS billing months, drawn as SVG shapes computed here (pure) and
//! written by the template with presentation attributes only (the CSP forbids inline style).

use serde::Serialize;

pub const WIDTH: i64 = 480;
pub const HEIGHT: i64 = 160;
/// Room under the bars for the month labels.
const LABELS: i64 = 20;
/// At most this many months are drawn (the newest); the table beside it has them all.
pub const MONTHS: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    /// `YYYY-MM`.
    pub period: String,
    pub amount_cents: i64,
    /// The label under the bar: the month's number, or "Jan 26" style for January.
    pub label: String,
}

/// The bars for `months` (period, cents), oldest first, scaled to the largest amount. Negative
/// amounts (credits) draw as empty bars; the table shows their value.
pub fn bars(months: &[(String, i64)]) -> Vec<Bar> {
    let months = &months[months.len().saturating_sub(MONTHS)..];
    let Ok(count) = i64::try_from(months.len()) else { return Vec::new() };
    if count == 0 {
        return Vec::new();
    }
    let max = months.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let slot = WIDTH / count;
    let width = (slot * 3 / 4).max(1);
    let room = HEIGHT - LABELS;
    months
        .iter()
        .zip(0..)
        .map(|((period, cents), i)| {
            let height =
                i64::try_from(i128::from((*cents).max(0)) * i128::from(room) / i128::from(max)).unwrap_or(room);
            Bar {
                x: i * slot + (slot - width) / 2,
                y: room - height,
                width,
                height,
                period: period.clone(),
                amount_cents: *cents,
                label: period.get(5..7).unwrap_or(period).to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_month_and_stay_inside_the_chart() {
        let months = vec![("2026-01".to_string(), 10_000), ("2026-02".to_string(), 40_000), ("2026-03".into(), -500)];
        let b = bars(&months);
        assert_eq!(b.len(), 3);
        assert_eq!(b[1].height, HEIGHT - LABELS, "the largest month fills the height");
        assert_eq!(b[0].height, (HEIGHT - LABELS) / 4);
        assert_eq!(b[2].height, 0, "a credit draws no bar");
        for bar in &b {
            assert!(bar.x >= 0 && bar.x + bar.width <= WIDTH && bar.y >= 0 && bar.y + bar.height <= HEIGHT);
        }
        assert_eq!(b[0].label, "01");
    }

    #[test]
    fn only_the_newest_months_are_drawn_and_huge_amounts_do_not_overflow() {
        let months: Vec<_> = (0..30).map(|i| (format!("2024-{:02}", i % 12 + 1), i64::MAX - i)).collect();
        let b = bars(&months);
        assert_eq!(b.len(), MONTHS);
        assert!(b.iter().all(|bar| bar.height <= HEIGHT - LABELS));
        assert!(bars(&[]).is_empty());
    }
}
