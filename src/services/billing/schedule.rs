//! The scheduled billing job: closes the months nobody closed, gates overdue lines and runs
//! the re-review scan.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::Period;

use super::close::{CloseReport, close};
use super::error::CycleError;
use super::gate::{GateReport, gate};

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ScheduleReport {
    /// Months closed by this tick (more than one when ticks were missed).
    pub closed: Vec<CloseReport>,
    pub gating: GateReport,
    pub re_review: crate::services::rereview::ReReviewReport,
}

/// How far back a tick looks for months nobody closed (workers down for a while).
const CATCH_UP_MONTHS: usize = 24;

/// The scheduled job (every worker, every `billing.tick_seconds`): closes every completed
/// month not yet recorded as closed, oldest first (so missed ticks are caught up), gates
/// overdue lines, and runs the re-review scan. Each month's record is its idempotency key;
/// bills are unique per line and month, so workers running this at once bill nothing twice.
pub async fn scheduled(app: &App) -> Result<ScheduleReport, CycleError> {
    let now = app.workflow.clock().now();
    let mut report = ScheduleReport::default();
    if let Some(last) = last_closed_period(now) {
        let mut periods = vec![last];
        while periods.len() < CATCH_UP_MONTHS {
            match periods.last().and_then(|p| p.previous()) {
                Some(p) => periods.push(p),
                None => break,
            }
        }
        for period in periods.into_iter().rev() {
            if app.store.cycle_closed(period).await? {
                continue;
            }
            let r = close(app, period, None).await?;
            app.store.mark_cycle_closed(period, now).await?;
            if r.billed > 0 {
                report.closed.push(r);
            }
        }
    }
    let began = std::time::Instant::now();
    report.gating = gate(app).await?;
    let gated = began.elapsed();
    report.re_review = crate::services::rereview::scan(app).await?;
    tracing::debug!(
        gating_ms = gated.as_millis(),
        re_review_ms = (began.elapsed() - gated).as_millis(),
        "billing cycle job parts"
    );
    Ok(report)
}

/// The last completed calendar month at `now`.
pub fn last_closed_period(now: DateTime<Utc>) -> Option<Period> {
    Period::containing(now).previous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_last_closed_period_is_the_previous_calendar_month() {
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 30, 0).unwrap();
        assert_eq!(last_closed_period(now).unwrap().to_string(), "2026-12");
    }
}
