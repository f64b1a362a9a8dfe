//! How each rule version performs (issue 21, point 5): its decisions by outcome per month;
//! for the limit it suggests, how reviewers then decided (approved at the suggestion, at
//! another limit with the reason given, declined); and how the lines it offered were repaid
//! (bills paid on time, late, unpaid).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::Failure;
use crate::app::App;
use crate::domain::SubjectId;
use crate::store::{BillRecord, ReviewedSuggestion};
use crate::workflow::names::application;

/// The rule whose suggestion reviewers act on.
const SUGGESTING_RULE: &str = "initial_limit";
/// The events that approve an application (their reason is the reviewer's).
const APPROVALS: &[&str] = &["approve", "first_approval"];
/// Applications read at most for the agreement figures.
const MAX_REVIEWED: i64 = 200_000;
/// Overrides listed per version.
const OVERRIDES_LISTED: usize = 50;

/// Reviewers' decisions against one version's suggestions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Agreement {
    /// Suggestions not decided by a person yet.
    pub undecided: u64,
    /// Approved at the suggested limit.
    pub approved_as_suggested: u64,
    /// Approved at another limit (an override, with its reason).
    pub approved_otherwise: u64,
    /// Declined although a limit was suggested.
    pub declined_despite_offer: u64,
    /// Declined where the rule suggested no line.
    pub declined_as_suggested: u64,
    /// Approved where the rule suggested no line.
    pub approved_without_offer: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub suggested_cents: Option<i64>,
    pub approved_cents: i64,
    pub reason: Option<String>,
}

/// How the bills of the lines a version offered were repaid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Repayment {
    pub lines: u64,
    pub bills: u64,
    /// Paid in full by the due date.
    pub on_time: u64,
    /// Paid in full after the due date.
    pub late: u64,
    /// Not paid in full yet (due or not).
    pub unpaid: u64,
    pub unpaid_cents: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VersionFigures {
    pub rule: String,
    pub version: String,
    /// Month (`YYYY-MM`) → outcome → decisions.
    pub by_month: BTreeMap<String, BTreeMap<String, i64>>,
    pub agreement: Option<Agreement>,
    pub overrides: Vec<Override>,
    pub repayment: Option<Repayment>,
}

#[derive(Debug, Serialize)]
pub struct Analytics {
    pub since: DateTime<Utc>,
    pub versions: Vec<VersionFigures>,
}

/// Every rule version's figures, decisions counted from `since`.
pub async fn analytics(app: &App, since: DateTime<Utc>) -> Result<Analytics, Failure> {
    let store = app.store.as_ref();
    let mut versions: BTreeMap<(String, String), VersionFigures> = BTreeMap::new();
    for (rule, version, month, outcome, n) in store.outcomes_by_month(since).await? {
        *entry(&mut versions, &rule, &version).by_month.entry(month).or_default().entry(outcome).or_default() += n;
    }
    let reviewed = store.reviewed_suggestions(SUGGESTING_RULE, APPROVALS, MAX_REVIEWED).await?;
    let folded = agreement(&reviewed);
    for (version, (agreement, overrides, lines)) in folded {
        let bills = store.bills_for_lines(&lines).await?;
        let figures = entry(&mut versions, SUGGESTING_RULE, &version);
        figures.agreement = Some(agreement);
        figures.overrides = overrides;
        figures.repayment = Some(repayment(lines.len(), &bills));
    }
    Ok(Analytics { since, versions: versions.into_values().collect() })
}

fn entry<'a>(
    versions: &'a mut BTreeMap<(String, String), VersionFigures>,
    rule: &str,
    version: &str,
) -> &'a mut VersionFigures {
    versions.entry((rule.to_string(), version.to_string())).or_insert_with(|| VersionFigures {
        rule: rule.to_string(),
        version: version.to_string(),
        ..Default::default()
    })
}

/// Per version of the suggesting rule: reviewers' agreement, the overrides (newest kept
/// first, at most [`OVERRIDES_LISTED`]) and the lines it led to.
pub fn agreement(rows: &[ReviewedSuggestion]) -> BTreeMap<String, (Agreement, Vec<Override>, Vec<SubjectId>)> {
    let mut out: BTreeMap<String, (Agreement, Vec<Override>, Vec<SubjectId>)> = BTreeMap::new();
    for r in rows {
        let (a, overrides, lines) = out.entry(r.version.clone()).or_default();
        let suggested = r.output.get("limit_cents").and_then(serde_json::Value::as_i64);
        let offered = suggested.is_some();
        match (r.line_limit_cents, r.state.as_str()) {
            (Some(approved), _) => {
                if let Some(line) = r.line_id {
                    lines.push(line);
                }
                if suggested == Some(approved) {
                    a.approved_as_suggested += 1;
                } else {
                    if offered {
                        a.approved_otherwise += 1;
                    } else {
                        a.approved_without_offer += 1;
                    }
                    if overrides.len() < OVERRIDES_LISTED {
                        overrides.push(Override {
                            suggested_cents: suggested,
                            approved_cents: approved,
                            reason: r.reason.clone(),
                        });
                    }
                }
            }
            (None, application::DECLINED) if offered => a.declined_despite_offer += 1,
            (None, application::DECLINED) => a.declined_as_suggested += 1,
            (None, _) => a.undecided += 1,
        }
    }
    out
}

/// The repayment of `lines` lines from their bills.
pub fn repayment(lines: usize, bills: &[BillRecord]) -> Repayment {
    let mut r = Repayment { lines: lines as u64, bills: bills.len() as u64, ..Default::default() };
    for b in bills {
        match b.paid_at {
            Some(paid) if b.paid_cents >= b.amount_cents && paid <= b.due_at => r.on_time += 1,
            Some(_) if b.paid_cents >= b.amount_cents => r.late += 1,
            _ => {
                r.unpaid += 1;
                r.unpaid_cents += b.amount_cents - b.paid_cents;
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn row(
        version: &str,
        suggested: Option<i64>,
        state: &str,
        line: Option<i64>,
        reason: Option<&str>,
    ) -> ReviewedSuggestion {
        ReviewedSuggestion {
            version: version.into(),
            outcome: if suggested.is_some() { "offer".into() } else { "not_available".into() },
            output: suggested.map(|c| json!({ "limit_cents": c })).unwrap_or(json!({})),
            state: state.into(),
            line_id: line.map(|_| SubjectId::new()),
            line_limit_cents: line,
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn reviewers_agree_override_or_decline_per_version() {
        let rows = vec![
            row("v1", Some(20000), application::APPROVED, Some(20000), None),
            row("v1", Some(20000), application::APPROVED, Some(50000), Some("three years of AWS spend")),
            row("v1", Some(20000), application::DECLINED, None, None),
            row("v1", Some(20000), application::PENDING_REVIEW, None, None),
            row("v1", None, application::DECLINED, None, None),
            row("v2", None, application::APPROVED, Some(10000), Some("known customer")),
        ];
        let out = agreement(&rows);
        let (a, overrides, lines) = &out["v1"];
        assert_eq!(
            a,
            &Agreement {
                undecided: 1,
                approved_as_suggested: 1,
                approved_otherwise: 1,
                declined_despite_offer: 1,
                declined_as_suggested: 1,
                approved_without_offer: 0,
            }
        );
        assert_eq!(overrides[0].reason.as_deref(), Some("three years of AWS spend"));
        assert_eq!((overrides[0].suggested_cents, overrides[0].approved_cents), (Some(20000), 50000));
        assert_eq!(lines.len(), 2);
        assert_eq!(out["v2"].0.approved_without_offer, 1);
    }

    #[test]
    fn bills_are_on_time_late_or_unpaid() {
        let due = Utc.with_ymd_and_hms(2026, 11, 15, 0, 0, 0).unwrap();
        let bill = |paid: i64, at: Option<DateTime<Utc>>| BillRecord {
            id: uuid::Uuid::now_v7(),
            line_id: SubjectId::new(),
            account_email: "a@b.c".into(),
            period: "2026-10".into(),
            amount_cents: 10000,
            paid_cents: paid,
            due_at: due,
            issued_at: due - chrono::Duration::days(14),
            paid_at: at,
            version: 1,
        };
        let r = repayment(
            3,
            &[
                bill(10000, Some(due - chrono::Duration::days(1))),
                bill(10000, Some(due + chrono::Duration::days(3))),
                bill(4000, Some(due - chrono::Duration::days(2))),
                bill(0, None),
            ],
        );
        assert_eq!((r.lines, r.bills, r.on_time, r.late, r.unpaid, r.unpaid_cents), (3, 4, 1, 1, 2, 16000));
    }
}
