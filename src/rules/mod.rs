//! The rules engine: the business policy as sandboxed Rhai scripts in `rules/*.rhai`.
//!
//! Each script receives one typed input as the variable `input` and returns a map
//! `#{ outcome: "...", reasons: [...], ... }` that is checked against its rule set's contract
//! ([`decision::CONTRACTS`]). Any error, limit hit or contract breach fails closed: the
//! decision becomes `manual_review` with a `rule_error: ...` reason, never an approval.
//!
//! An evaluation is synchronous and may take up to its time budget, so async code calls
//! [`Rules::evaluate_async`] (or [`Rules::evaluate_many_async`]), which run it on the
//! blocking pool.

pub mod backtest;
pub mod decision;
pub mod fixtures;
pub mod inputs;
pub mod lists;
pub mod policy;
pub mod sandbox;
pub mod shadow;
pub mod typed;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};
use serde::Serialize;

pub use decision::{CONTRACTS, Decision, DecisionRecord, MANUAL_REVIEW};
use lists::HostLists;
pub use policy::PolicyFiles;

use crate::domain::{DecisionId, SubjectId};

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{file}:{line}:{column}: {message}")]
    Compile { file: String, line: usize, column: usize, message: String },
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("no rule named {0:?}")]
    UnknownRule(String),
    /// A number Rust reads from a rule ([`Constant`]) is missing, fails or is out of range.
    #[error("{file}: {message}")]
    Constant { file: String, message: String },
}

/// A number Rust reads from a rule: a function of no arguments in the rule's script, so the
/// policy states it once, in the rule, and Rust never repeats it. It is read when the rules
/// are loaded (and reloaded); a value outside its range, or a function that fails, refuses
/// the rule set like a compile error does. A rule without the function gets the fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    pub rule: &'static str,
    pub function: &'static str,
    pub range: std::ops::RangeInclusive<i64>,
    /// What is used while the rule or its function is missing: the strictest value.
    pub fallback: i64,
}

/// `cycle_gating`'s `fn draw_days_while_unpaid()`: for how many days after a month ends its
/// credit line may keep drawing while that month's bill is unpaid (the billing-cycle gate).
pub const DRAW_DAYS_WHILE_UNPAID: Constant =
    Constant { rule: "cycle_gating", function: "draw_days_while_unpaid", range: 0..=31, fallback: 0 };

/// Every number Rust reads from the rules.
pub const CONSTANTS: &[Constant] = &[DRAW_DAYS_WHILE_UNPAID];

/// What one evaluation may take and return (`[rules]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one evaluation may run before it is stopped.
    pub budget: Duration,
    /// The highest monthly limit or amount a rule may return.
    pub max_limit_cents: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&crate::config::RulesConfig::default())
    }
}

impl From<&crate::config::RulesConfig> for Limits {
    fn from(c: &crate::config::RulesConfig) -> Self {
        Limits { budget: Duration::from_millis(c.budget_ms), max_limit_cents: c.max_limit_cents }
    }
}

struct CompiledRule {
    version: String,
    ast: AST,
}

/// Every rule of a folder, compiled once.
pub struct RuleSet {
    engine: Engine,
    rules: BTreeMap<String, CompiledRule>,
    limits: Limits,
    deposit_tier: crate::domain::Money,
    /// The [`CONSTANTS`] of the loaded rules, by function name.
    constants: BTreeMap<&'static str, i64>,
    /// The host lists the scripts read (`data/`).
    lists: Arc<HostLists>,
    /// The policy version compiled ([`PolicyFiles::hash`]).
    policy: String,
}

/// A scope with `input` declared, so strict variables accept scripts that read it.
fn scope_with_input(input: Dynamic) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant_dynamic("input", input);
    scope
}

impl RuleSet {
    /// Compiles `dir/*.rhai` with the host lists of `dir/data/` and the default limits.
    pub fn load(dir: &Path) -> Result<RuleSet, Vec<RulesError>> {
        RuleSet::load_with(dir, Limits::default())
    }

    /// Compiles `dir/*.rhai` with the host lists of `dir/data/`. Every compile error is
    /// reported, each with file, line and column.
    pub fn load_with(dir: &Path, limits: Limits) -> Result<RuleSet, Vec<RulesError>> {
        RuleSet::from_policy(&PolicyFiles::read(dir)?, limits, &dir.display().to_string())
    }

    /// Compiles a policy version; errors name each file under `origin` (the folder, or the
    /// policy's id).
    pub fn from_policy(policy: &PolicyFiles, limits: Limits, origin: &str) -> Result<RuleSet, Vec<RulesError>> {
        let file = |path: &str| format!("{origin}/{path}");
        let lists = Arc::new(
            HostLists::from_texts(|name| Ok(policy.data(name).map(|t| (t.to_string(), format!("data/{name}")))))
                .map_err(|e| vec![RulesError::Io { path: file("data"), message: e }])?,
        );
        let deposit_tier = lists.deposit_tier;
        let engine = sandbox::engine(lists.clone());
        let mut rules = BTreeMap::new();
        let mut errors = Vec::new();
        let scope = scope_with_input(Dynamic::UNIT);
        for (name, version, source) in policy.rules() {
            match engine.compile_with_scope(&scope, source) {
                Ok(ast) => {
                    rules.insert(name.to_string(), CompiledRule { version, ast });
                }
                Err(e) => {
                    let pos = e.position();
                    errors.push(RulesError::Compile {
                        file: file(&format!("{name}.rhai")),
                        line: pos.line().unwrap_or(0),
                        column: pos.position().unwrap_or(0),
                        message: e.err_type().to_string(),
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut set =
            RuleSet { engine, rules, limits, deposit_tier, lists, constants: BTreeMap::new(), policy: policy.hash() };
        for c in CONSTANTS {
            match set.read_constant(c) {
                Ok(Some(v)) => {
                    set.constants.insert(c.function, v);
                }
                Ok(None) => {}
                Err(message) => errors.push(RulesError::Constant { file: file(&format!("{}.rhai", c.rule)), message }),
            }
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// The policy version these rules were compiled from ([`PolicyFiles::hash`]).
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// Calls the constant's function (without running the rest of the script); `None` when
    /// the rule or the function is missing.
    fn read_constant(&self, c: &Constant) -> Result<Option<i64>, String> {
        let Some(rule) = self.rules.get(c.rule) else { return Ok(None) };
        let options = rhai::CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let called = sandbox::with_budget(self.limits.budget, || {
            self.engine.call_fn_with_options::<i64>(options, &mut Scope::new(), &rule.ast, c.function, ())
        });
        let value = match called {
            Ok(v) => v,
            // A rule without the function gets the strictest value, and says so in the log.
            Err(e) if matches!(&*e, EvalAltResult::ErrorFunctionNotFound(sig, _) if sig.starts_with(c.function)) => {
                tracing::warn!(
                    rule = c.rule,
                    function = c.function,
                    value = c.fallback,
                    "rule states no value; the strictest applies"
                );
                return Ok(None);
            }
            Err(e) => return Err(format!("fn {}(), which Rust reads: {e}", c.function)),
        };
        if !c.range.contains(&value) {
            return Err(format!(
                "fn {}() returns {value}, outside {}..={}",
                c.function,
                c.range.start(),
                c.range.end()
            ));
        }
        Ok(Some(value))
    }

    /// The value of a [`Constant`] in these rules (its fallback when the rule does not state it).
    pub fn constant(&self, c: &Constant) -> i64 {
        self.constants.get(c.function).copied().unwrap_or(c.fallback)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    pub fn version(&self, rule: &str) -> Option<&str> {
        self.rules.get(rule).map(|r| r.version.as_str())
    }

    /// The monthly limit from which a line needs a deposit guarantee (`data/deposit_tier.txt`).
    pub fn deposit_tier(&self) -> crate::domain::Money {
        self.deposit_tier
    }

    /// The project-material hosts of this policy (`data/project_material_hosts.txt`), which
    /// intake also reads to tell material links from the website. A policy version from
    /// before the file judges links in its script; intake then reads the shipped list.
    pub fn material_hosts(&self) -> &lists::MaterialHosts {
        if self.lists.material.is_empty() { lists::MaterialHosts::shipped() } else { &self.lists.material }
    }

    /// Whether a host serves pages of many owners: a deployment platform
    /// (`generic_platform_hosts.txt`), a tool directory (`tool_directory_hosts.txt`) or free
    /// mail. Such a host is nobody's company domain.
    pub fn is_shared_host(&self, host: &crate::domain::Domain) -> bool {
        let l = &self.lists;
        l.generic_platforms.matches(host) || l.tool_directories.matches(host) || l.free_mail.matches(host)
    }

    /// Runs one rule, on this thread, for up to the time budget. Never fails: errors become
    /// a `manual_review` decision. Async code calls [`Rules::evaluate_async`] instead.
    pub fn evaluate<I: Serialize + ?Sized>(
        &self,
        rule: &str,
        input: &I,
        subject: Option<SubjectId>,
    ) -> (Decision, DecisionRecord) {
        let started = Instant::now();
        self.decide(rule, serde_json::to_value(input), subject, started)
    }

    /// [`Self::evaluate`] of an input already serialized (the async paths serialize before
    /// moving it to the blocking pool): it goes to the record as it is, not serialized again.
    pub fn evaluate_value(
        &self,
        rule: &str,
        input: serde_json::Value,
        subject: Option<SubjectId>,
    ) -> (Decision, DecisionRecord) {
        self.decide(rule, Ok(input), subject, Instant::now())
    }

    /// Serialized once: the record keeps the input, and the script gets it converted from it.
    fn decide(
        &self,
        rule: &str,
        input_json: Result<serde_json::Value, serde_json::Error>,
        subject: Option<SubjectId>,
        started: Instant,
    ) -> (Decision, DecisionRecord) {
        let (decision, output, version) = match (self.rules.get(rule), &input_json) {
            (None, _) => (
                Decision::manual_review(rule, &format!("no rule named {rule:?}")),
                serde_json::Value::Null,
                String::new(),
            ),
            (Some(compiled), Err(e)) => (
                Decision::manual_review(rule, &format!("input: {e}")),
                serde_json::Value::Null,
                compiled.version.clone(),
            ),
            (Some(compiled), Ok(json)) => {
                let (decision, output) = self.run(rule, compiled, json);
                (decision, output, compiled.version.clone())
            }
        };
        let input_json = input_json.unwrap_or(serde_json::Value::Null);
        let duration_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
        let record = record_of(&decision, version, input_json, output, duration_us, subject);
        (decision, record)
    }

    fn run(&self, rule: &str, compiled: &CompiledRule, input: &serde_json::Value) -> (Decision, serde_json::Value) {
        let mut scope = scope_with_input(values::to_dynamic(input));
        let budget = self.limits.budget;
        let evaluated =
            sandbox::with_budget(budget, || self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &compiled.ast));
        let result = match evaluated {
            Ok(r) => r,
            // Through any function-call wrapper: the stop is ours wherever the script was.
            Err(e) if matches!(e.unwrap_inner(), EvalAltResult::ErrorTerminated(..)) => {
                tracing::warn!(rule, budget_ms = budget.as_millis(), "rule stopped at its time budget");
                let why = format!("{}: stopped after its {} ms budget", sandbox::BUDGET_EXCEEDED, budget.as_millis());
                return (Decision::manual_review(rule, &why), serde_json::Value::Null);
            }
            Err(e) => return (Decision::manual_review(rule, &e.to_string()), serde_json::Value::Null),
        };
        let output = match values::from_dynamic(&result) {
            Ok(v) => v,
            Err(e) => return (Decision::manual_review(rule, &format!("output: {e}")), serde_json::Value::Null),
        };
        match decision::decode(rule, &output, self.limits.max_limit_cents) {
            Ok(d) => (d, output),
            Err(e) => (Decision::manual_review(rule, &e), output),
        }
    }
}

fn record_of(
    decision: &Decision,
    version: String,
    input: serde_json::Value,
    output: serde_json::Value,
    duration_us: i64,
    subject: Option<SubjectId>,
) -> DecisionRecord {
    DecisionRecord {
        id: DecisionId::new(),
        rule: decision.rule.clone(),
        version,
        input,
        output,
        outcome: decision.outcome.clone(),
        reasons: decision.reasons.clone(),
        duration_us,
        // Microseconds: what PostgreSQL keeps, so a stored record reads back equal.
        decided_at: Utc::now().trunc_subsecs(6),
        subject,
    }
}

/// A decision whose evaluation never ran to its end (its input could not be serialized, or
/// its blocking task was lost): manual review, recorded without input or output.
fn aborted(rule: &str, why: &str, subject: Option<SubjectId>) -> (Decision, DecisionRecord) {
    let d = Decision::manual_review(rule, why);
    let record = record_of(&d, String::new(), serde_json::Value::Null, serde_json::Value::Null, 0, subject);
    (d, record)
}

/// Inputs one blocking task of [`Rules::evaluate_many_async`] evaluates at most.
const MANY_PER_TASK: usize = 256;

/// The rules in force, swappable at run time (SIGHUP) without a restart.
pub struct Rules {
    dir: PathBuf,
    limits: Limits,
    current: RwLock<Arc<RuleSet>>,
    /// A proposed policy evaluated beside the live one (issue 21's shadow runs).
    pub shadows: shadow::Shadows,
}

impl Rules {
    pub fn load(dir: &Path) -> Result<Rules, Vec<RulesError>> {
        Rules::load_with(dir, Limits::default())
    }

    pub fn load_with(dir: &Path, limits: Limits) -> Result<Rules, Vec<RulesError>> {
        let set = RuleSet::load_with(dir, limits)?;
        Ok(Rules { dir: dir.to_path_buf(), limits, current: RwLock::new(Arc::new(set)), shadows: Default::default() })
    }

    pub fn current(&self) -> Arc<RuleSet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The deposit tier of the rules in force: the one the rules themselves apply.
    pub fn deposit_tier(&self) -> crate::domain::Money {
        self.current().deposit_tier()
    }

    /// [`RuleSet::is_shared_host`] of the rules in force.
    pub fn is_shared_host(&self, host: &crate::domain::Domain) -> bool {
        self.current().is_shared_host(host)
    }

    /// Puts a compiled policy in force (an activation read from the database).
    pub fn replace(&self, set: RuleSet) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The folder the rules were first read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Recompiles the folder. A version that fails to compile is rejected and the rules in
    /// force stay; the error is returned (and logged by the caller).
    pub fn reload(&self) -> Result<Vec<(String, String)>, Vec<RulesError>> {
        let set = RuleSet::load_with(&self.dir, self.limits)?;
        let versions = set.rules.iter().map(|(n, r)| (n.clone(), r.version.clone())).collect();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(versions)
    }

    /// Evaluates on this thread: for synchronous code only (a CLI command, a blocking task).
    pub fn evaluate<I: Serialize + ?Sized>(
        &self,
        rule: &str,
        input: &I,
        subject: Option<SubjectId>,
    ) -> (Decision, DecisionRecord) {
        let (decision, record) = self.current().evaluate(rule, input, subject);
        self.shadows.after(&record);
        (decision, record)
    }

    /// Evaluates on the blocking pool, so a slow script never holds an async worker thread.
    /// The input is serialized here; only the copy moves to the blocking thread.
    pub async fn evaluate_async<I: Serialize + ?Sized>(
        &self,
        rule: &str,
        input: &I,
        subject: Option<SubjectId>,
    ) -> (Decision, DecisionRecord) {
        let input = match serde_json::to_value(input) {
            Ok(v) => v,
            Err(e) => return aborted(rule, &format!("input: {e}"), subject),
        };
        let set = self.current();
        let name = rule.to_string();
        match tokio::task::spawn_blocking(move || set.evaluate_value(&name, input, subject)).await {
            Ok(result) => {
                self.shadows.after(&result.1);
                result
            }
            Err(e) => aborted(rule, &format!("evaluation aborted: {e}"), subject),
        }
    }

    /// Evaluates `rule` for many inputs in a few blocking tasks of up to [`MANY_PER_TASK`]
    /// each (a scan over many lines would otherwise pay a thread hand-off per line; a page of
    /// lines goes to two tasks, so both cores evaluate it). Results come back in input order.
    pub async fn evaluate_many_async<I: Serialize + Send + 'static>(
        &self,
        rule: &str,
        mut inputs: Vec<(I, Option<SubjectId>)>,
    ) -> Vec<(Decision, DecisionRecord)> {
        let set = self.current();
        let mut tasks = Vec::new();
        while !inputs.is_empty() {
            let rest = inputs.split_off(inputs.len().min(MANY_PER_TASK));
            let chunk = std::mem::replace(&mut inputs, rest);
            let subjects: Vec<Option<SubjectId>> = chunk.iter().map(|(_, s)| *s).collect();
            let (set, name) = (set.clone(), rule.to_string());
            let run = move || -> Vec<(Decision, DecisionRecord)> {
                chunk.iter().map(|(input, subject)| set.evaluate(&name, input, *subject)).collect()
            };
            // Started now, each on its own thread; awaited in order below.
            tasks.push((subjects, tokio::task::spawn_blocking(run)));
        }
        let mut out = Vec::new();
        for (subjects, task) in tasks {
            match task.await {
                Ok(results) => {
                    for (_, record) in &results {
                        self.shadows.after(record);
                    }
                    out.extend(results);
                }
                Err(e) => out.extend(
                    subjects.into_iter().map(|subject| aborted(rule, &format!("evaluation aborted: {e}"), subject)),
                ),
            }
        }
        out
    }
}
