//! Typed views of the rule sets' decisions, so Rust callers match on variants instead
//! of comparing outcome strings. A decision was already checked against its contract (and its
//! numbers against their bounds) when it was decoded ([`super::decision::decode`]); converting
//! it here fails only when it belongs to another rule, its outcome is not in the contract, or
//! an amount is negative (a decision built by hand rather than decoded).

use super::decision::{Decision, MANUAL_REVIEW};
use crate::domain::{ApplicantKind, Money};

/// Why a decision does not fit the typed view asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decision of rule {rule:?} with outcome {outcome:?} is not a {expected} decision")]
pub struct TypedError {
    pub rule: String,
    pub outcome: String,
    pub expected: &'static str,
}

fn check(d: &Decision, rule: &'static str) -> Result<(), TypedError> {
    if d.rule == rule { Ok(()) } else { Err(mismatch(d, rule)) }
}

fn mismatch(d: &Decision, expected: &'static str) -> TypedError {
    TypedError { rule: d.rule.clone(), outcome: d.outcome.clone(), expected }
}

fn money(d: &Decision, field: &str, expected: &'static str) -> Result<Money, TypedError> {
    d.cents(field).filter(|c| *c >= 0).map(Money::from_cents).ok_or_else(|| mismatch(d, expected))
}

/// `applicant_type`: who applies and what is still missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicantType {
    Known {
        kind: ApplicantKind,
        missing: Vec<String>,
    },
    /// The rule could not tell; `missing` names `applicant_type` and anything else.
    Unknown {
        missing: Vec<String>,
    },
    ManualReview,
}

impl TryFrom<&Decision> for ApplicantType {
    type Error = TypedError;
    fn try_from(d: &Decision) -> Result<Self, TypedError> {
        check(d, "applicant_type")?;
        let missing = d.missing.clone();
        Ok(match d.outcome.as_str() {
            "enterprise" => ApplicantType::Known { kind: ApplicantKind::Enterprise, missing },
            "individual_with_product" => ApplicantType::Known { kind: ApplicantKind::IndividualWithProduct, missing },
            "individual_without_product" => {
                ApplicantType::Known { kind: ApplicantKind::IndividualWithoutProduct, missing }
            }
            "unknown" => ApplicantType::Unknown { missing },
            MANUAL_REVIEW => ApplicantType::ManualReview,
            _ => return Err(mismatch(d, "applicant_type")),
        })
    }
}

/// `business_verification` and `aws_history`: a check with finding codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Pass { findings: Vec<String> },
    Concern { findings: Vec<String> },
    Fail { findings: Vec<String> },
    ManualReview,
}

impl Check {
    fn from(d: &Decision, rule: &'static str) -> Result<Check, TypedError> {
        check(d, rule)?;
        let findings = d.findings.clone();
        Ok(match d.outcome.as_str() {
            "pass" => Check::Pass { findings },
            "concern" => Check::Concern { findings },
            "fail" => Check::Fail { findings },
            MANUAL_REVIEW => Check::ManualReview,
            _ => return Err(mismatch(d, rule)),
        })
    }

    pub fn business_verification(d: &Decision) -> Result<Check, TypedError> {
        Check::from(d, "business_verification")
    }

    pub fn aws_history(d: &Decision) -> Result<Check, TypedError> {
        Check::from(d, "aws_history")
    }

    pub fn findings(&self) -> &[String] {
        match self {
            Check::Pass { findings } | Check::Concern { findings } | Check::Fail { findings } => findings,
            Check::ManualReview => &[],
        }
    }
}

/// `initial_limit`: the first monthly limit to suggest to the reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialLimit {
    Offer { limit: Money },
    NotAvailable,
    ManualReview,
}

impl TryFrom<&Decision> for InitialLimit {
    type Error = TypedError;
    fn try_from(d: &Decision) -> Result<Self, TypedError> {
        const RULE: &str = "initial_limit";
        check(d, RULE)?;
        Ok(match d.outcome.as_str() {
            "offer" => InitialLimit::Offer { limit: money(d, "limit_cents", RULE)? },
            "not_available" => InitialLimit::NotAvailable,
            MANUAL_REVIEW => InitialLimit::ManualReview,
            _ => return Err(mismatch(d, RULE)),
        })
    }
}

/// `limit_increase`: the next step up the ladder, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitIncrease {
    Propose {
        next: Money,
    },
    /// `deposit` is what is asked (the shortfall); `guarantee` what must be held in all (the
    /// new limit when the rule does not say).
    DepositRequired {
        next: Money,
        deposit: Money,
        guarantee: Money,
    },
    Hold,
    Decline,
    ManualReview,
}

impl TryFrom<&Decision> for LimitIncrease {
    type Error = TypedError;
    fn try_from(d: &Decision) -> Result<Self, TypedError> {
        const RULE: &str = "limit_increase";
        check(d, RULE)?;
        Ok(match d.outcome.as_str() {
            "propose" => LimitIncrease::Propose { next: money(d, "next_limit_cents", RULE)? },
            "deposit_required" => {
                let next = money(d, "next_limit_cents", RULE)?;
                let guarantee = match d.fields.get("guarantee_cents") {
                    Some(_) => money(d, "guarantee_cents", RULE)?,
                    None => next,
                };
                LimitIncrease::DepositRequired { next, deposit: money(d, "deposit_cents", RULE)?, guarantee }
            }
            "hold" => LimitIncrease::Hold,
            "decline" => LimitIncrease::Decline,
            MANUAL_REVIEW => LimitIncrease::ManualReview,
            _ => return Err(mismatch(d, RULE)),
        })
    }
}

/// `cycle_gating`: what happens to next month's line after a bill falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleGating {
    Continue,
    Grace,
    Pause,
    Reduce { new_limit: Money },
    Decline,
    ManualReview,
}

impl TryFrom<&Decision> for CycleGating {
    type Error = TypedError;
    fn try_from(d: &Decision) -> Result<Self, TypedError> {
        const RULE: &str = "cycle_gating";
        check(d, RULE)?;
        Ok(match d.outcome.as_str() {
            "continue" => CycleGating::Continue,
            "grace" => CycleGating::Grace,
            "pause" => CycleGating::Pause,
            "reduce" => CycleGating::Reduce { new_limit: money(d, "new_limit_cents", RULE)? },
            "decline" => CycleGating::Decline,
            MANUAL_REVIEW => CycleGating::ManualReview,
            _ => return Err(mismatch(d, RULE)),
        })
    }
}

/// `re_review`: whether a declined or deferred account gets another look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReReview {
    Eligible,
    NotEligible,
    ManualReview,
}

impl TryFrom<&Decision> for ReReview {
    type Error = TypedError;
    fn try_from(d: &Decision) -> Result<Self, TypedError> {
        const RULE: &str = "re_review";
        check(d, RULE)?;
        Ok(match d.outcome.as_str() {
            "eligible" => ReReview::Eligible,
            "not_eligible" => ReReview::NotEligible,
            MANUAL_REVIEW => ReReview::ManualReview,
            _ => return Err(mismatch(d, RULE)),
        })
    }
}

/// `line_restore`: whether a reduced line, paid up, gets its limit from before the reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRestore {
    Restore,
    Keep,
    ManualReview,
}

impl TryFrom<&Decision> for LineRestore {
    type Error = TypedError;
    fn try_from(d: &Decision) -> Result<Self, TypedError> {
        const RULE: &str = "line_restore";
        check(d, RULE)?;
        Ok(match d.outcome.as_str() {
            "restore" => LineRestore::Restore,
            "keep" => LineRestore::Keep,
            MANUAL_REVIEW => LineRestore::ManualReview,
            _ => return Err(mismatch(d, RULE)),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::decision::decode;

    fn decided(rule: &str, output: serde_json::Value) -> Decision {
        match decode(rule, &output, crate::rules::Limits::default().max_limit_cents) {
            Ok(d) => d,
            Err(e) => panic!("{rule}: {e}"),
        }
    }

    #[test]
    fn outcomes_become_variants_with_their_fields() {
        let d = decided("initial_limit", json!({"outcome": "offer", "limit_cents": 15000, "reasons": []}));
        assert_eq!(InitialLimit::try_from(&d), Ok(InitialLimit::Offer { limit: Money::from_cents(15000) }));
        let d = decided(
            "limit_increase",
            json!({"outcome": "deposit_required", "next_limit_cents": 500000, "deposit_cents": 500000, "reasons": []}),
        );
        assert_eq!(
            LimitIncrease::try_from(&d),
            Ok(LimitIncrease::DepositRequired {
                next: Money::from_cents(500000),
                deposit: Money::from_cents(500000),
                guarantee: Money::from_cents(500000)
            })
        );
        let d = decided("applicant_type", json!({"outcome": "enterprise", "reasons": [], "missing": ["website"]}));
        assert_eq!(
            ApplicantType::try_from(&d),
            Ok(ApplicantType::Known { kind: ApplicantKind::Enterprise, missing: vec!["website".into()] })
        );
        let d = decided("business_verification", json!({"outcome": "fail", "reasons": [], "findings": ["x"]}));
        assert_eq!(Check::business_verification(&d).map(|c| c.findings().to_vec()), Ok(vec!["x".to_string()]));
    }

    #[test]
    fn a_failed_rule_is_manual_review_and_another_rule_is_refused() {
        let d = Decision::manual_review("cycle_gating", "boom");
        assert_eq!(CycleGating::try_from(&d), Ok(CycleGating::ManualReview));
        assert!(ReReview::try_from(&d).is_err());
        assert!(Check::aws_history(&d).is_err());
    }

    #[test]
    fn a_negative_amount_built_by_hand_is_refused() {
        let mut d = decided("cycle_gating", json!({"outcome": "reduce", "new_limit_cents": 5000, "reasons": []}));
        d.fields.insert("new_limit_cents".into(), json!(-5000));
        assert!(CycleGating::try_from(&d).is_err());
    }
}
