//! Policy changes as data (issue 21): a new version of the rules is proposed (every rule file
//! as one set, compiled before it is kept), and only a *different* admin or senior reviewer
//! puts it in force (maker-checker); a rollback is a proposal of an earlier version, approved
//! the same way. Each step is in the audit log with who and why; every rule version ever
//! loaded is kept. With `rules.from_folder = false` (production) the version in force in the
//! database is what every process evaluates: each one looks for a newly activated version
//! every `rules.poll_seconds`. With the default `true` (development) the folder is the policy
//! and SIGHUP reloads it; versions can be proposed but not activated. A proposal may run in
//! shadow first ([`shadow`]): evaluated beside every live decision of `serve` and `worker`,
//! stored apart, never acting; rejecting it drops its results.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::access::Caller;
use super::error::Failure;
use crate::app::App;
use crate::domain::Role;
use crate::rules::policy::{FileDiff, diff, policy_state};
use crate::rules::{CONTRACTS, PolicyFiles};
use crate::store::PolicyDecision;
pub use crate::store::PolicyRecord;

/// Who may propose, approve, reject and roll back rule versions.
pub const POLICY_MAKERS: &[Role] = &[Role::Admin, Role::SeniorReviewer];
pub use super::policy_in_force::{BOOTSTRAP, MAX_NOTE_CHARS, PolicyError};
use super::policy_in_force::{audit, compile};

fn check_maker(caller: &Caller) -> Result<(), PolicyError> {
    if POLICY_MAKERS.contains(&caller.role) { Ok(()) } else { Err(PolicyError::NotAllowed) }
}

fn check_note(note: &str) -> Result<String, PolicyError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(PolicyError::BadNote);
    }
    Ok(note.replace('\0', ""))
}

/// Proposes `files` as the next policy version (or, with `rollback_of`, as the return to an
/// earlier one). Refused when it does not compile, lacks a rule the service evaluates, or is
/// the version in force.
pub async fn propose(
    app: &App,
    caller: &Caller,
    files: PolicyFiles,
    note: &str,
    rollback_of: Option<uuid::Uuid>,
) -> Result<PolicyRecord, PolicyError> {
    check_maker(caller)?;
    let note = check_note(note)?;
    let hash = files.hash();
    let names: Vec<&str> = files.rules().map(|(n, _, _)| n).collect();
    let missing: Vec<&str> = CONTRACTS.iter().map(|c| c.rule).filter(|r| !names.contains(r)).collect();
    if !missing.is_empty() {
        return Err(PolicyError::MissingRules(missing.join(", ")));
    }
    compile(&app.rules, &files, format!("proposal {}", &hash[..12])).await?;
    if app.rules.current().policy() == hash {
        return Err(PolicyError::Unchanged(hash[..12].to_string()));
    }
    let now = app.workflow.clock().now();
    let policy = PolicyRecord {
        id: uuid::Uuid::now_v7(),
        hash,
        files,
        note,
        proposed_by: caller.name.clone(),
        proposed_at: now,
        state: policy_state::PROPOSED.to_string(),
        rollback_of,
        decided_by: None,
        decided_at: None,
        decision_note: None,
        version: 1,
        shadow: false,
    };
    let action = if rollback_of.is_some() { "rules.propose_rollback" } else { "rules.propose" };
    let detail = json!({ "hash": policy.hash, "note": policy.note, "rollback_of": rollback_of });
    app.store.add_policy(&policy, &audit(&caller.name, action, policy.id, now, detail)).await?;
    Ok(policy)
}

/// Proposes going back to the earlier version `to`.
pub async fn rollback(app: &App, caller: &Caller, to: uuid::Uuid, note: &str) -> Result<PolicyRecord, PolicyError> {
    let earlier = app.store.policy(to).await?.ok_or(PolicyError::NotFound(to))?;
    propose(app, caller, earlier.files, note, Some(to)).await
}

/// Puts a proposed version in force: by an admin or senior reviewer who did not propose it,
/// at the version the caller saw (`None`: as it is now). This process evaluates it from the
/// next decision on; the others within `rules.poll_seconds`.
pub async fn approve(
    app: &App,
    caller: &Caller,
    id: uuid::Uuid,
    expected_version: Option<i64>,
    note: Option<&str>,
) -> Result<PolicyRecord, PolicyError> {
    check_maker(caller)?;
    let note = note.map(check_note).transpose()?;
    let policy = proposed(app, id).await?;
    if policy.proposed_by == caller.name {
        return Err(PolicyError::MakerIsChecker(policy.proposed_by));
    }
    if app.config.rules.from_folder {
        return Err(PolicyError::FolderMode);
    }
    let set = compile(&app.rules, &policy.files, format!("policy {id}")).await?;
    let now = app.workflow.clock().now();
    let decision = PolicyDecision {
        id,
        expected_version: expected_version.unwrap_or(policy.version),
        to_state: policy_state::IN_FORCE,
        by: caller.name.clone(),
        at: now,
        note: note.clone(),
    };
    let before = app.rules.current().policy().to_string();
    let detail = json!({ "hash": policy.hash, "replaces": before, "proposed_by": policy.proposed_by, "note": note });
    let record = app.store.decide_policy(&decision, &audit(&caller.name, "rules.activate", id, now, detail)).await?;
    app.rules.replace(set);
    tracing::info!(policy = %id, hash = %record.hash, by = %caller.name, "rule policy version in force");
    Ok(record)
}

/// Rejects a proposed version (it is kept, never in force); a note says why.
pub async fn reject(app: &App, caller: &Caller, id: uuid::Uuid, note: &str) -> Result<PolicyRecord, PolicyError> {
    check_maker(caller)?;
    let note = check_note(note)?;
    let policy = proposed(app, id).await?;
    let now = app.workflow.clock().now();
    let decision = PolicyDecision {
        id,
        expected_version: policy.version,
        to_state: policy_state::REJECTED,
        by: caller.name.clone(),
        at: now,
        note: Some(note.clone()),
    };
    let detail = json!({ "hash": policy.hash, "note": note });
    Ok(app.store.decide_policy(&decision, &audit(&caller.name, "rules.reject", id, now, detail)).await?)
}

async fn proposed(app: &App, id: uuid::Uuid) -> Result<PolicyRecord, PolicyError> {
    let policy = app.store.policy(id).await?.ok_or(PolicyError::NotFound(id))?;
    if policy.state != policy_state::PROPOSED {
        return Err(PolicyError::NotProposed(id, policy.state));
    }
    Ok(policy)
}

/// Every version of `rule` this service has loaded or been proposed, oldest first: (version,
/// first seen, source).
pub async fn rule_history(app: &App, rule: &str) -> Result<Vec<(String, DateTime<Utc>, String)>, Failure> {
    Ok(app.store.rule_versions(rule).await?)
}

/// Policy versions, newest first.
pub async fn list(app: &App, limit: i64) -> Result<Vec<PolicyRecord>, Failure> {
    Ok(app.store.policies(limit).await?)
}

/// A version with what it changes against the version in force.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub policy: PolicyRecord,
    /// Each rule: name and version.
    pub rules: Vec<(String, String)>,
    pub in_force: Option<String>,
    pub diff: Vec<FileDiff>,
}

pub async fn view(app: &App, id: uuid::Uuid) -> Result<Option<PolicyView>, Failure> {
    let Some(policy) = app.store.policy(id).await? else { return Ok(None) };
    let in_force = match app.store.policy_in_force().await? {
        Some((id, _)) => app.store.policy(id).await?.map(|p| p.files),
        // Development: the folder is the policy in force.
        None => PolicyFiles::read(app.rules.dir()).ok(),
    };
    let base = in_force.clone().unwrap_or_default();
    Ok(Some(PolicyView {
        rules: policy.files.rules().map(|(n, v, _)| (n.to_string(), v)).collect(),
        diff: diff(&base, &policy.files),
        in_force: in_force.map(|f| f.hash()),
        policy,
    }))
}

/// Replays the recorded decisions under a policy version (see `services::backtest`).
pub async fn backtest(app: &App, id: uuid::Uuid) -> Result<super::backtest::Backtest, PolicyError> {
    let policy = app.store.policy(id).await?.ok_or(PolicyError::NotFound(id))?;
    let set = compile(&app.rules, &policy.files, format!("policy {id}")).await?;
    let scope = super::backtest::Scope::default();
    super::backtest::run(app, std::sync::Arc::new(set), &scope).await.map_err(|e| match e {
        super::backtest::BacktestError::Store(e) => PolicyError::Store(e.into()),
        other => PolicyError::Backtest(other.to_string()),
    })
}

/// Puts the version in force in the database to work in this process (production), if it is
/// not already; true when it changed.
pub async fn sync(app: &App) -> Result<bool, PolicyError> {
    super::policy_in_force::sync(app.store.as_ref(), &app.rules).await
}

fn parts(app: &App) -> super::policy_in_force::Parts<'_> {
    super::policy_in_force::Parts {
        store: app.store.as_ref(),
        rules: &app.rules,
        from_folder: app.config.rules.from_folder,
        database: &app.config.database_url,
        now: app.workflow.clock().now(),
    }
}

/// Starts (`on`) or stops the shadow run of a proposed version: from the next poll, every
/// process evaluates it beside each live decision and keeps what it decided apart. Starting
/// one stops any other.
pub async fn shadow(app: &App, caller: &Caller, id: uuid::Uuid, on: bool) -> Result<PolicyRecord, PolicyError> {
    check_maker(caller)?;
    let policy = proposed(app, id).await?;
    let now = app.workflow.clock().now();
    let action = if on { "rules.shadow_start" } else { "rules.shadow_stop" };
    app.store.set_shadow(id, on, &audit(&caller.name, action, id, now, json!({ "hash": policy.hash }))).await?;
    sync_shadow(app).await?;
    app.store.policy(id).await?.ok_or(PolicyError::NotFound(id))
}

/// Evaluates in shadow what the database says is in shadow (or nothing).
async fn sync_shadow(app: &App) -> Result<(), PolicyError> {
    let wanted = app.store.policy_in_shadow().await?;
    if wanted == app.rules.shadows.policy() {
        return Ok(());
    }
    let Some(id) = wanted else {
        app.rules.shadows.set(None);
        return Ok(());
    };
    let policy = app.store.policy(id).await?.ok_or(PolicyError::NotFound(id))?;
    let set = compile(&app.rules, &policy.files, format!("policy {id}")).await?;
    app.rules.shadows.set(Some((id, std::sync::Arc::new(set))));
    tracing::info!(policy = %id, hash = %policy.hash, "rule policy version running in shadow");
    Ok(())
}

/// Stores the shadow results this process made since the last call.
pub async fn flush_shadows(app: &App) -> Result<usize, PolicyError> {
    let (records, dropped) = app.rules.shadows.take();
    if dropped > 0 {
        tracing::warn!(dropped, "shadow results dropped: more were waiting than the process keeps");
    }
    // A result made just before the run was stopped (or the version decided) is not kept.
    let current = app.rules.shadows.policy();
    let records: Vec<_> = records.into_iter().filter(|r| Some(r.policy) == current).collect();
    app.store.add_shadow_decisions(&records).await?;
    Ok(records.len())
}

/// One poll: the version in force (production), the shadow run, and the shadow results.
pub async fn tick(app: &App) -> Result<(), PolicyError> {
    if app.config.rules.from_folder {
        super::policy_in_force::keep_folder_versions(&parts(app)).await?;
    } else {
        sync(app).await?;
    }
    sync_shadow(app).await?;
    flush_shadows(app).await?;
    Ok(())
}

/// Polls every `rules.poll_seconds` for as long as the process runs (serve and worker: the
/// processes that make live decisions).
pub fn watch(app: std::sync::Arc<App>) {
    tokio::spawn(async move {
        let mut tick_every = tokio::time::interval(std::time::Duration::from_secs(app.config.rules.poll_seconds));
        tick_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick_every.tick().await;
            if let Err(e) = tick(&app).await {
                tracing::error!(error = %e, "rule policy poll failed; the rules in force stay");
            }
        }
    });
}

/// Live against shadow for one rule.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RuleComparison {
    pub rule: String,
    pub decisions: i64,
    /// Outcome → decisions, live and in shadow (the hit rates).
    pub live: std::collections::BTreeMap<String, i64>,
    pub shadow: std::collections::BTreeMap<String, i64>,
    /// Decisions whose outcome or output (a limit, a deposit) differs.
    pub diverged: i64,
}

/// A shadow run's results: per rule, and the decisions that differ.
#[derive(Debug, Serialize)]
pub struct ShadowReport {
    pub rules: Vec<RuleComparison>,
    pub changes: Vec<crate::store::ShadowChange>,
}

/// Folds counts per (rule, live outcome, shadow outcome, output differs) into one comparison
/// per rule.
pub fn compare(counts: &[crate::store::ShadowCount]) -> Vec<RuleComparison> {
    let mut by_rule: std::collections::BTreeMap<&str, RuleComparison> = Default::default();
    for c in counts {
        let r = by_rule.entry(&c.rule).or_insert_with(|| RuleComparison { rule: c.rule.clone(), ..Default::default() });
        r.decisions += c.decisions;
        *r.live.entry(c.live_outcome.clone()).or_default() += c.decisions;
        *r.shadow.entry(c.shadow_outcome.clone()).or_default() += c.decisions;
        if c.live_outcome != c.shadow_outcome || c.output_differs {
            r.diverged += c.decisions;
        }
    }
    by_rule.into_values().collect()
}

pub async fn shadow_report(app: &App, id: uuid::Uuid, changes: i64) -> Result<ShadowReport, Failure> {
    Ok(ShadowReport {
        rules: compare(&app.store.shadow_counts(id).await?),
        changes: app.store.shadow_changes(id, changes).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShadowCount;

    #[test]
    fn counts_fold_into_hit_rates_and_divergences_per_rule() {
        let c = |rule: &str, live: &str, shadow: &str, differs: bool, n: i64| ShadowCount {
            rule: rule.into(),
            live_outcome: live.into(),
            shadow_outcome: shadow.into(),
            output_differs: differs,
            decisions: n,
        };
        let out = compare(&[
            c("initial_limit", "offer", "offer", false, 3),
            c("initial_limit", "offer", "offer", true, 5),
            c("initial_limit", "not_available", "offer", true, 1),
            c("aws_history", "pass", "pass", false, 9),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].rule.as_str(), out[0].decisions, out[0].diverged), ("aws_history", 9, 0));
        let limit = &out[1];
        assert_eq!((limit.decisions, limit.diverged), (9, 6));
        assert_eq!(limit.live["offer"], 8);
        assert_eq!(limit.shadow["offer"], 9);
        assert_eq!(limit.live["not_available"], 1);
    }
}
