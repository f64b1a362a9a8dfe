//! Data-driven rule tests: `rules/tests/<rule>.toml` holds cases (an input and what the
//! decision must say). `creditline rules test` and `cargo test` both run them.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Decision, RuleSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    input: toml::Value,
    outcome: String,
    /// Each must appear in some reason (substring).
    #[serde(default)]
    reasons: Vec<String>,
    /// Exact set of finding codes, when given.
    findings: Option<Vec<String>>,
    /// Exact set of missing-material keys, when given.
    missing: Option<Vec<String>>,
    /// Fields that must equal these values.
    #[serde(default)]
    fields: toml::Table,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub rule: String,
    pub name: String,
    /// `None` when it passed; otherwise what differed.
    pub failure: Option<String>,
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn check(case: &Case, d: &Decision) -> Option<String> {
    let mut problems = Vec::new();
    if d.outcome != case.outcome {
        problems.push(format!("outcome {:?}, expected {:?}", d.outcome, case.outcome));
    }
    for r in &case.reasons {
        if !d.reasons.iter().any(|x| x.contains(r.as_str())) {
            problems.push(format!("no reason contains {r:?} (reasons: {:?})", d.reasons));
        }
    }
    if let Some(f) = &case.findings
        && sorted(f.clone()) != sorted(d.findings.clone())
    {
        problems.push(format!("findings {:?}, expected {:?}", d.findings, f));
    }
    if let Some(m) = &case.missing
        && sorted(m.clone()) != sorted(d.missing.clone())
    {
        problems.push(format!("missing {:?}, expected {:?}", d.missing, m));
    }
    for (k, v) in &case.fields {
        let expected = serde_json::to_value(v).unwrap_or(Value::Null);
        if d.fields.get(k) != Some(&expected) {
            problems.push(format!("field {k} = {:?}, expected {expected}", d.fields.get(k)));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Runs every fixture file in `dir` (normally `rules/tests/`) against `rules`.
pub fn run(rules: &RuleSet, dir: &Path) -> Result<Vec<CaseResult>, String> {
    let paths = crate::folders::files_with_extension(dir, "toml").map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut results = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: FixtureFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let rule = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        for case in file.case {
            let raw = serde_json::to_value(&case.input).unwrap_or(Value::Null);
            let failure = match super::inputs::normalize(&rule, raw) {
                Ok(input) => check(&case, &rules.evaluate(&rule, &input, None).0),
                Err(e) => Some(format!("invalid input: {e}")),
            };
            results.push(CaseResult { rule: rule.clone(), name: case.name.clone(), failure });
        }
    }
    Ok(results)
}
