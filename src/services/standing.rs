//! An account's standing for a credit line. Policy: one monthly credit line per account, and
//! none for an account that left a bill unpaid ("To receive or continue a credit line for the
//! next month, the account must complete payment for the previous month's bill"). Approval
//! checks it (with a unique index as the last guard against two approvals at once), and
//! intake sends a new application from such an account to its existing line.

use crate::app::App;
use crate::domain::{Money, SubjectId};
use crate::store::StoreError;
use crate::workflow::names::credit_line;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// No line, or only closed lines with nothing owed: a new line may be opened.
    Clear,
    /// A line that is not closed (active, paused, reduced, ...).
    HasLine { line: SubjectId, state: String },
    /// Only closed lines, and bills still unpaid.
    InDefault { line: SubjectId, owed: Money },
}

impl Standing {
    /// Why a new line is refused, in the reviewer's words; `None` when it is not.
    pub fn refusal(&self, account: &str) -> Option<String> {
        match self {
            Standing::Clear => None,
            Standing::HasLine { line, state } => {
                Some(format!("{account} already has credit line {line} ({state}); an account has one line"))
            }
            Standing::InDefault { line, owed } => {
                Some(format!("{account} owes {owed} on closed credit line {line}; no new line until it is paid"))
            }
        }
    }

    pub fn code(&self) -> Option<&'static str> {
        match self {
            Standing::Clear => None,
            Standing::HasLine { .. } => Some("line_exists"),
            Standing::InDefault { .. } => Some("account_in_default"),
        }
    }

    /// The line a message about a new line belongs to.
    pub fn line(&self) -> Option<SubjectId> {
        match self {
            Standing::Clear => None,
            Standing::HasLine { line, .. } | Standing::InDefault { line, .. } => Some(*line),
        }
    }
}

pub async fn standing(app: &App, account: &str) -> Result<Standing, StoreError> {
    let lines = app.store.instances_for_account(account, credit_line::WORKFLOW).await?;
    if let Some(open) = lines.iter().find(|l| l.state != credit_line::CLOSED) {
        return Ok(Standing::HasLine { line: open.id, state: open.state.clone() });
    }
    let unpaid = app.store.unpaid_bills(account).await?;
    let owed = unpaid.iter().map(|b| b.amount_cents.saturating_sub(b.paid_cents)).fold(0i64, i64::saturating_add);
    match unpaid.first() {
        Some(bill) if owed > 0 => Ok(Standing::InDefault { line: bill.line_id, owed: Money::from_cents(owed) }),
        _ => Ok(Standing::Clear),
    }
}

/// Whether a store error is the unique index that keeps one open line per account (two
/// approvals for one account committing at once: the second loses here).
pub fn is_second_line(e: &StoreError) -> bool {
    matches!(e, StoreError::Duplicate(m) if m.contains("one_open_line_per_account") || m.contains("workflow_instances.account_email"))
}
