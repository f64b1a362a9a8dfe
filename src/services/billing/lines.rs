//! What every billing step shares: the credit lines and their bills read page by page, the
//! workflow step planned from the version a line was read with, and the ledger entry.

use std::collections::HashMap;

use crate::app::App;
use crate::domain::{Bucket, EntryKind, SubjectId};
use crate::services::workflow::{Cursor, Fire};
use crate::store::{BillRecord, CreditLineFilter, CreditLineRecord, EntryWrite, StoreError, TransitionWrite};

use super::error::CycleError;

/// Who the billing steps are recorded as.
pub(crate) const ACTOR: &str = "system:cycle";
/// The `credit_line` event that moves an overdue line (credit_line.toml says where to).
pub(crate) const GATED: &str = "gated";
/// A write that lost a race (another worker, a payment) is planned again this many times.
pub(crate) const TRIES: usize = 8;

/// The step `fire` makes on a line, from the state and version it was read with.
pub(crate) fn plan(app: &App, line: &CreditLineRecord, fire: &Fire) -> Result<TransitionWrite, CycleError> {
    let (write, _) = app.workflow.plan(&mut Cursor::from(line), fire)?;
    Ok(write)
}

pub(crate) fn entry(kind: EntryKind, bucket: Bucket, cents: i64, key: String) -> EntryWrite {
    EntryWrite::new(kind, bucket, cents, key, ACTOR)
}

/// The bills of these lines, grouped by line (oldest period first), read in one go.
pub(crate) async fn bills_by_line<'a>(
    app: &App,
    lines: impl Iterator<Item = &'a CreditLineRecord>,
) -> Result<HashMap<SubjectId, Vec<BillRecord>>, StoreError> {
    let ids: Vec<SubjectId> = lines.map(|l| l.id).collect();
    let mut bills: HashMap<SubjectId, Vec<BillRecord>> = std::collections::HashMap::new();
    for b in app.store.bills_for_lines(&ids).await? {
        bills.entry(b.line_id).or_default().push(b);
    }
    Ok(bills)
}

/// The next page of every credit line in id order (`billing.close_batch` lines), advancing
/// `after`; empty at the end. The scans over all lines (escalation) read them this way.
pub(crate) async fn next_lines(
    app: &App,
    after: &mut Option<crate::domain::SubjectId>,
) -> Result<Vec<CreditLineRecord>, StoreError> {
    next_page(app, after, false).await
}

/// As [`next_lines`], only the lines with a bill not paid in full: all that gating and the
/// bill reminders can act on (a line whose bills are paid has nothing overdue or coming due).
/// Most lines pay, so the daily scans read a fraction of them.
pub(crate) async fn next_owing_lines(
    app: &App,
    after: &mut Option<crate::domain::SubjectId>,
) -> Result<Vec<CreditLineRecord>, StoreError> {
    next_page(app, after, true).await
}

async fn next_page(
    app: &App,
    after: &mut Option<crate::domain::SubjectId>,
    owing: bool,
) -> Result<Vec<CreditLineRecord>, StoreError> {
    let limit = app.config.billing.close_batch.max(1);
    let filter = CreditLineFilter { account_email: None, state: None, after: *after, limit, owing };
    let lines = app.store.list_credit_lines(&filter).await?;
    if let Some(last) = lines.last() {
        *after = Some(last.id);
    }
    Ok(lines)
}
