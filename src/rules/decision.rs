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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub id: DecisionId,
    pub rule: String,
    /// SHA-256 of the script's source: which version of the policy decided.
    pub version: String,
    pub input: Value,
    pub output: Value,
    pub outcome: String,
    pub reasons: Vec<String>,
    pub duration_us: i64,
    pub decided_at: DateTime<Utc>,
    pub subject: Option<SubjectId>,
}

/// Outcomes a rule set may return, with the fields each outcome must carry.
pub struct Contract {
    pub rule: &'static str,
    pub outcomes: &'static [(&'static str, &'static [&'static str])],
    /// Lists every outcome must carry.
    pub lists: &'static [&'static str],
}

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
    Contract { rule: "initial_limit", outcomes: &[("offer", &["limit_cents"]), ("not_available", &[])], lists: &[] },
    Contract {
        rule: "limit_increase",
        outcomes: &[
            ("propose", &["next_limit_cents"]),
            ("deposit_required", &["next_limit_cents", "deposit_cents"]),
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
            ("reduce", &["new_limit_cents"]),
            ("decline", &[]),
        ],
        lists: &[],
    },
    Contract { rule: "re_review", outcomes: &[("eligible", &[]), ("not_eligible", &[])], lists: &[] },
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

/// Checks a script's returned map against its rule's contract. Rules without a contract
/// (added by operators) may return any outcome.
pub fn decode(rule: &str, output: &Value) -> Result<Decision, String> {
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
        for field in *required {
            if !map.get(*field).is_some_and(Value::is_i64) {
                return Err(format!("outcome {outcome:?} needs integer field `{field}`"));
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
