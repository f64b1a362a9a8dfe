//! Replaying recorded decisions under candidate rules: what a policy change would have
//! decided differently, before anyone activates it. Pure: the caller reads the records and
//! loads the candidate [`RuleSet`]; this compares and counts.
//!
//! A decision is replayed from the input it recorded. When today's input type has fields
//! that record lacks (it was made before they existed), the candidate would be judging on
//! defaults the applicant never supplied: such decisions are counted apart, never guessed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{DecisionRecord, RuleSet, inputs};
use crate::domain::{DecisionId, SubjectId};

/// The money fields a rule's output carries, by rule: the limit it offers, proposes or cuts
/// to, and the deposit it asks. A change in any is a changed decision even when the outcome
/// stays (an offer of $300 instead of $200 is still an `offer`).
const LIMIT_FIELDS: &[&str] = &["limit_cents", "next_limit_cents", "new_limit_cents"];
const DEPOSIT_FIELD: &str = "deposit_cents";

/// What replaying one decision found.
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    Same,
    Changed(Change),
    /// Why the record cannot be replayed faithfully.
    Unreplayable(String),
}

/// One decision the candidate decides differently.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub decision: DecisionId,
    pub rule: String,
    pub subject: Option<SubjectId>,
    pub decided_at: chrono::DateTime<chrono::Utc>,
    pub from: String,
    pub to: String,
    /// The limit (offered, proposed or cut to) before and after, in cents.
    pub from_limit_cents: Option<i64>,
    pub to_limit_cents: Option<i64>,
    pub from_deposit_cents: Option<i64>,
    pub to_deposit_cents: Option<i64>,
    /// The candidate's reasons.
    pub reasons: Vec<String>,
}

fn limit_of(output: &Value) -> Option<i64> {
    LIMIT_FIELDS.iter().find_map(|f| output.get(*f).and_then(Value::as_i64))
}

/// Replays `record` under `candidate`. A rule the candidate does not have is unreplayable.
pub fn replay(candidate: &RuleSet, record: &DecisionRecord) -> Replay {
    if candidate.version(&record.rule).is_none() {
        return Replay::Unreplayable(format!("the candidate has no rule {}", record.rule));
    }
    let input = match inputs::normalize(&record.rule, record.input.clone()) {
        Ok(v) => v,
        Err(e) => return Replay::Unreplayable(format!("the recorded input does not fit today's type: {e}")),
    };
    if let (Some(typed), Some(recorded)) = (input.as_object(), record.input.as_object()) {
        let mut lacks: Vec<&str> = typed.keys().filter(|k| !recorded.contains_key(*k)).map(String::as_str).collect();
        if !lacks.is_empty() {
            lacks.sort_unstable();
            return Replay::Unreplayable(format!("recorded before the input had {}", lacks.join(", ")));
        }
    }
    let (decision, now) = candidate.evaluate(&record.rule, &input, record.subject);
    let (from_limit, to_limit) = (limit_of(&record.output), limit_of(&now.output));
    let deposit = |o: &Value| o.get(DEPOSIT_FIELD).and_then(Value::as_i64);
    let (from_deposit, to_deposit) = (deposit(&record.output), deposit(&now.output));
    if record.outcome == decision.outcome && from_limit == to_limit && from_deposit == to_deposit {
        return Replay::Same;
    }
    Replay::Changed(Change {
        decision: record.id,
        rule: record.rule.clone(),
        subject: record.subject,
        decided_at: record.decided_at,
        from: record.outcome.clone(),
        to: decision.outcome,
        from_limit_cents: from_limit,
        to_limit_cents: to_limit,
        from_deposit_cents: from_deposit,
        to_deposit_cents: to_deposit,
        reasons: decision.reasons,
    })
}

/// What a backtest found for one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleReport {
    pub replayed: u64,
    pub unchanged: u64,
    /// Counted apart: records today's input type cannot be filled from, by why.
    pub unreplayable: BTreeMap<String, u64>,
    /// Changed decisions by `from -> to` outcome (an outcome that stays with another amount
    /// counts as `offer -> offer`).
    pub matrix: BTreeMap<String, u64>,
    /// The limits offered, proposed or cut to, summed after minus before (cents): positive is
    /// credit the candidate would have offered more, negative withdrawn.
    pub limit_delta_cents: i64,
    /// Deposits asked, after minus before (cents).
    pub deposit_delta_cents: i64,
    /// Billing outcomes the candidate newly reaches (`pause`, `reduce`, `decline`, `propose`,
    /// ...): how many lines would have been paused, reduced, closed or increased.
    pub newly: BTreeMap<String, u64>,
    pub changes: Vec<Change>,
}

/// A backtest's findings, per rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub rules: BTreeMap<String, RuleReport>,
}

impl Report {
    pub fn add(&mut self, rule: &str, replay: Replay) {
        let r = self.rules.entry(rule.to_string()).or_default();
        match replay {
            Replay::Same => {
                r.replayed += 1;
                r.unchanged += 1;
            }
            Replay::Unreplayable(why) => *r.unreplayable.entry(why).or_default() += 1,
            Replay::Changed(c) => {
                r.replayed += 1;
                *r.matrix.entry(format!("{} -> {}", c.from, c.to)).or_default() += 1;
                r.limit_delta_cents += c.to_limit_cents.unwrap_or(0) - c.from_limit_cents.unwrap_or(0);
                r.deposit_delta_cents += c.to_deposit_cents.unwrap_or(0) - c.from_deposit_cents.unwrap_or(0);
                if c.from != c.to {
                    *r.newly.entry(c.to.clone()).or_default() += 1;
                }
                r.changes.push(c);
            }
        }
    }

    /// Adds another part's findings (the replay runs in parts on several threads).
    pub fn merge(&mut self, other: Report) {
        for (rule, o) in other.rules {
            let r = self.rules.entry(rule).or_default();
            r.replayed += o.replayed;
            r.unchanged += o.unchanged;
            add_counts(&mut r.unreplayable, o.unreplayable);
            add_counts(&mut r.matrix, o.matrix);
            add_counts(&mut r.newly, o.newly);
            r.limit_delta_cents += o.limit_delta_cents;
            r.deposit_delta_cents += o.deposit_delta_cents;
            r.changes.extend(o.changes);
        }
    }

    /// Changes oldest first whatever order the parts finished in.
    pub fn sort(&mut self) {
        for r in self.rules.values_mut() {
            r.changes.sort_by_key(|c| c.decision.0);
        }
    }
}

/// Adds `more`'s counts to `into`'s, key by key.
fn add_counts(into: &mut BTreeMap<String, u64>, more: BTreeMap<String, u64>) {
    for (k, n) in more {
        *into.entry(k).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(from: &str, to: &str, before: Option<i64>, after: Option<i64>) -> Replay {
        Replay::Changed(Change {
            decision: DecisionId::new(),
            rule: "initial_limit".into(),
            subject: None,
            decided_at: chrono::Utc::now(),
            from: from.into(),
            to: to.into(),
            from_limit_cents: before,
            to_limit_cents: after,
            from_deposit_cents: None,
            to_deposit_cents: None,
            reasons: vec![],
        })
    }

    #[test]
    fn reports_count_changes_by_outcome_and_sum_the_money_moved() {
        let mut a = Report::default();
        a.add("initial_limit", Replay::Same);
        a.add("initial_limit", change("offer", "offer", Some(20_000), Some(30_000)));
        let mut b = Report::default();
        b.add("initial_limit", change("not_available", "offer", None, Some(15_000)));
        b.add("initial_limit", Replay::Unreplayable("old".into()));
        a.merge(b);
        let r = &a.rules["initial_limit"];
        assert_eq!((r.replayed, r.unchanged), (3, 1));
        assert_eq!(r.matrix["offer -> offer"], 1);
        assert_eq!(r.matrix["not_available -> offer"], 1);
        assert_eq!(r.limit_delta_cents, 25_000);
        assert_eq!(r.newly.get("offer"), Some(&1), "only an outcome that changed counts as newly reached");
        assert_eq!(r.unreplayable["old"], 1);
    }
}
