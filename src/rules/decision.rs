//! What a rule returns, checked against the contract of its rule set, and what is recorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{DecisionId, SubjectId};

/// The outcome every rule may produce when it fails: a person decides instead.
pub const MANUAL_REVIEW: &str = "manual_review";

/// A rule's answer, decoded and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub rule: String,
    pub outcome: String,
    /// Sentences a reviewer can read.
    pub reasons: Vec<String>,
    /// Stable finding codes (verification and history rules).
    #[serde(default)]
    pub findings: Vec<String>,
    /// Missing-material keys (applicant_type).
    #[serde(default)]
    pub missing: Vec<String>,
    /// Every other field the script returned (limits, deposits).
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl Decision {
    pub fn manual_review(rule: &str, error: &str) -> Decision {
        Decision {
            rule: rule.to_string(),
            outcome: MANUAL_REVIEW.to_string(),
            reasons: vec![format!("rule_error: {error}")],
            findings: Vec::new(),
            missing: Vec::new(),
            fields: Map::new(),
        }
    }

    pub fn is_rule_error(&self) -> bool {
        self.outcome == MANUAL_REVIEW && self.reasons.iter().any(|r| r.starts_with("rule_error:"))
    }

    /// An integer field in cents (`limit_cents`, `next_limit_cents`, ...).
    pub fn cents(&self, field: &str) -> Option<i64> {
        self.fields.get(field).and_then(Value::as_i64)
    }
}

/// The persisted record of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DecisionRecord {
    pub id: DecisionId,
    pub rule: String,
    /// SHA-256 of the script's source: which version of the policy decided.
    pub version: String,
    #[sqlx(json)]
    pub input: Value,
    #[sqlx(json)]
    pub output: Value,
    pub outcome: String,
    #[sqlx(json)]
    pub reasons: Vec<String>,
    pub duration_us: i64,
    pub decided_at: DateTime<Utc>,
    #[sqlx(rename = "subject_id")]
    pub subject: Option<SubjectId>,
}

impl DecisionRecord {
    /// The decision this record holds, its output checked again against the contract. A
    /// record of a failed evaluation is manual review whatever its output says: the output is
    /// kept for the audit (an out-of-range offer, say), never to be acted on.
    pub fn decision(&self, max_limit_cents: i64) -> Result<Decision, String> {
        if self.outcome == MANUAL_REVIEW {
            return Ok(Decision {
                rule: self.rule.clone(),
                outcome: MANUAL_REVIEW.to_string(),
                reasons: self.reasons.clone(),
                findings: Vec::new(),
                missing: Vec::new(),
                fields: Map::new(),
            });
        }
        decode(&self.rule, &self.output, max_limit_cents)
    }
}

/// How a number a rule returns is bounded. A rule is data an operator edits, so a slip (a
/// sign, a digit too many, an overflow) must reach a person rather than a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// A monthly limit: more than 0, at most the configured maximum (`rules.max_limit_cents`).
    Limit,
    /// An amount of money: 0 or more, at most the configured maximum.
    Amount,
}

impl Number {
    fn range(self, max_limit_cents: i64) -> std::ops::RangeInclusive<i64> {
        match self {
            Number::Limit => 1..=max_limit_cents,
            Number::Amount => 0..=max_limit_cents,
        }
    }
}

/// The numeric fields an outcome must carry, each with its bound.
pub type Numbers = &'static [(&'static str, Number)];

/// Outcomes a rule set may return, with the numeric fields each outcome must carry.
pub struct Contract {
    pub rule: &'static str,
    pub outcomes: &'static [(&'static str, Numbers)],
    /// Lists every outcome must carry.
    pub lists: &'static [&'static str],
}

/// What a rule's output breaching its contract's bounds says: the reason carries this code.
pub const OUT_OF_RANGE: &str = "rule_output_out_of_range";

pub const CONTRACTS: &[Contract] = &[
    Contract {
        rule: "applicant_type",
        outcomes: &[
            ("enterprise", &[]),
            ("individual_with_product", &[]),
            ("individual_without_product", &[]),
            ("unknown", &[]),
        ],
        lists: &["missing"],
    },
    Contract {
        rule: "business_verification",
        outcomes: &[("pass", &[]), ("concern", &[]), ("fail", &[])],
        lists: &["findings"],
    },
    Contract { rule: "aws_history", outcomes: &[("pass", &[]), ("concern", &[]), ("fail", &[])], lists: &["findings"] },
    Contract {
        rule: "initial_limit",
        outcomes: &[("offer", &[("limit_cents", Number::Limit)]), ("not_available", &[])],
        lists: &[],
    },
    Contract {
        rule: "limit_increase",
        outcomes: &[
            ("propose", &[("next_limit_cents", Number::Limit)]),
            ("deposit_required", &[("next_limit_cents", Number::Limit), ("deposit_cents", Number::Amount)]),
            ("hold", &[]),
            ("decline", &[]),
        ],
        lists: &[],
    },
    Contract {
        rule: "cycle_gating",
        outcomes: &[
            ("continue", &[]),
            ("grace", &[]),
            ("pause", &[]),
            ("reduce", &[("new_limit_cents", Number::Limit)]),
            ("decline", &[]),
        ],
        lists: &[],
    },
    Contract { rule: "re_review", outcomes: &[("eligible", &[]), ("not_eligible", &[])], lists: &[] },
    Contract { rule: "line_restore", outcomes: &[("restore", &[]), ("keep", &[])], lists: &[] },
];

fn strings(map: &Map<String, Value>, key: &str, required: bool) -> Result<Vec<String>, String> {
    match map.get(key) {
        None if !required => Ok(Vec::new()),
        None => Err(format!("missing field `{key}`")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("`{key}` must hold only strings")))
            .collect(),
        Some(_) => Err(format!("`{key}` must be an array of strings")),
    }
}

/// Checks a script's returned map against its rule's contract, numbers within their bounds
/// (`max_limit_cents` tops limits and amounts). Rules without a contract (added by
/// operators) may return any outcome.
pub fn decode(rule: &str, output: &Value, max_limit_cents: i64) -> Result<Decision, String> {
    let Value::Object(map) = output else { return Err(format!("rule must return a map, got {output}")) };
    let outcome = match map.get("outcome") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err("`outcome` must be a non-empty string".into()),
        None => return Err("missing field `outcome`".into()),
    };
    let reasons = strings(map, "reasons", true)?;
    let contract = CONTRACTS.iter().find(|c| c.rule == rule);
    if let Some(c) = contract {
        let Some((_, required)) = c.outcomes.iter().find(|(o, _)| *o == outcome) else {
            let known: Vec<&str> = c.outcomes.iter().map(|(o, _)| *o).collect();
            return Err(format!("unknown outcome {outcome:?} (expected one of {})", known.join(", ")));
        };
        for (field, number) in *required {
            let Some(value) = map.get(*field).and_then(Value::as_i64) else {
                return Err(format!("outcome {outcome:?} needs integer field `{field}`"));
            };
            let range = number.range(max_limit_cents);
            if !range.contains(&value) {
                return Err(format!(
                    "{OUT_OF_RANGE}: `{field}` = {value} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
        }
    }
    let needs = |key: &str| contract.is_some_and(|c| c.lists.contains(&key));
    let findings = strings(map, "findings", needs("findings"))?;
    let missing = strings(map, "missing", needs("missing"))?;
    let fields: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !["outcome", "reasons", "findings", "missing"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Decision { rule: rule.to_string(), outcome, reasons, findings, missing, fields })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MAX: i64 = 10_000_000;

    /// Every outcome that carries numbers, with each number in range.
    fn numeric_outcomes() -> Vec<(&'static str, &'static str, Numbers)> {
        CONTRACTS
            .iter()
            .flat_map(|c| c.outcomes.iter().filter(|(_, f)| !f.is_empty()).map(move |(o, f)| (c.rule, *o, *f)))
            .collect()
    }

    fn output(outcome: &str, fields: &[(&str, Number)], set: Option<(&str, i64)>) -> Value {
        let mut map = json!({ "outcome": outcome, "reasons": [] });
        for (field, _) in fields {
            map[*field] = json!(1000);
        }
        if let Some((field, value)) = set {
            map[field] = json!(value);
        }
        map
    }

    #[test]
    fn every_number_a_contract_names_is_bounded() {
        let outcomes = numeric_outcomes();
        let rules: Vec<&str> = outcomes.iter().map(|(r, _, _)| *r).collect();
        for rule in ["initial_limit", "limit_increase", "cycle_gating"] {
            assert!(rules.contains(&rule), "{rule} has no bounded number");
        }
        for (rule, outcome, fields) in outcomes {
            assert!(decode(rule, &output(outcome, fields, None), MAX).is_ok(), "{rule}/{outcome}");
            for (field, number) in fields {
                let at_max = output(outcome, fields, Some((field, MAX)));
                assert!(decode(rule, &at_max, MAX).is_ok(), "{rule}/{outcome}: {field} at the maximum");
                let mut bad = vec![-5, MAX + 1, i64::MAX, i64::MIN];
                if *number == Number::Limit {
                    bad.push(0);
                }
                for value in bad {
                    let e = decode(rule, &output(outcome, fields, Some((field, value))), MAX)
                        .expect_err(&format!("{rule}/{outcome}: {field} = {value} accepted"));
                    assert!(e.contains(OUT_OF_RANGE), "{e}");
                    assert!(e.contains(&format!("`{field}` = {value}")), "{e}");
                }
            }
        }
    }

    #[test]
    fn a_deposit_of_nothing_is_an_amount_but_a_limit_of_nothing_is_not() {
        let deposit =
            json!({"outcome": "deposit_required", "next_limit_cents": 500000, "deposit_cents": 0, "reasons": []});
        assert!(decode("limit_increase", &deposit, MAX).is_ok());
        let offer = json!({"outcome": "offer", "limit_cents": 0, "reasons": []});
        assert!(decode("initial_limit", &offer, MAX).unwrap_err().contains("`limit_cents` = 0"));
    }

    #[test]
    fn the_maximum_is_the_configured_one() {
        let offer = json!({"outcome": "offer", "limit_cents": 30000, "reasons": []});
        assert!(decode("initial_limit", &offer, 30000).is_ok());
        assert!(decode("initial_limit", &offer, 29999).unwrap_err().contains("outside 1..=29999"));
    }

    #[test]
    fn a_recorded_failure_is_manual_review_whatever_its_output_says() {
        let record = DecisionRecord {
            id: DecisionId::new(),
            rule: "initial_limit".into(),
            version: String::new(),
            input: Value::Null,
            output: json!({"outcome": "offer", "limit_cents": -5, "reasons": []}),
            outcome: MANUAL_REVIEW.into(),
            reasons: vec!["rule_error: rule_output_out_of_range: `limit_cents` = -5 is outside 1..=10000000".into()],
            duration_us: 1,
            decided_at: Utc::now(),
            subject: None,
        };
        let d = record.decision(MAX).unwrap();
        assert_eq!(d.outcome, MANUAL_REVIEW);
        assert!(d.fields.is_empty());
        assert_eq!(d.reasons, record.reasons);
        let offered = DecisionRecord {
            outcome: "offer".into(),
            output: json!({"outcome": "offer", "limit_cents": 15000, "reasons": []}),
            ..record
        };
        assert_eq!(offered.decision(MAX).unwrap().cents("limit_cents"), Some(15000));
    }
}
