//! The rules in force, from where they live: the folder (development, `rules.from_folder`)
//! or the policy version in force in the database (production). What a process does at
//! start-up and at each poll, apart from the proposals and decisions of
//! [`super::rule_policy`], so that building the [`crate::app::App`] can call it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::error::Failure;
use crate::rules::policy::policy_state;
use crate::rules::{PolicyFiles, RuleSet, Rules};
use crate::store::{AuditRecord, PolicyRecord, Store, StoreError};

/// Who the first version in force is recorded as, when the folder seeds an empty database.
pub const BOOTSTRAP: &str = "bootstrap";
/// The longest note kept with a proposal or a decision.
pub const MAX_NOTE_CHARS: usize = 2000;

/// What the rules in force come from, for one process.
pub struct Parts<'a> {
    pub store: &'a dyn Store,
    pub rules: &'a Rules,
    pub from_folder: bool,
    /// The database's URL: versions are kept once per database and policy.
    pub database: &'a str,
    pub now: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("only admins and senior reviewers may propose, approve or reject rule versions")]
    NotAllowed,
    #[error("say why (a note of 1 to {MAX_NOTE_CHARS} characters)")]
    BadNote,
    #[error("the proposed rules do not compile; nothing was kept:\n{0}")]
    DoesNotCompile(String),
    #[error("the proposal lacks rules the service evaluates: {0}")]
    MissingRules(String),
    #[error("this is the version in force already ({0})")]
    Unchanged(String),
    #[error("no policy version {0}")]
    NotFound(uuid::Uuid),
    #[error("policy version {0} is {1}, not proposed; nothing was changed")]
    NotProposed(uuid::Uuid, String),
    #[error("{0} proposed this version; another admin or senior reviewer must approve it (maker-checker)")]
    MakerIsChecker(String),
    #[error(
        "rules.from_folder is on: the rules folder is the policy here (development). Set it to false to put \
         versions in force from the database"
    )]
    FolderMode,
    #[error("the backtest stopped: {0}")]
    Backtest(String),
    #[error(transparent)]
    Store(#[from] Failure),
}

impl From<StoreError> for PolicyError {
    fn from(e: StoreError) -> PolicyError {
        PolicyError::Store(e.into())
    }
}

/// Compiles a policy under the configured limits (on the blocking pool: scripts compile in
/// milliseconds, but a policy is as large as its author makes it).
pub(super) async fn compile(rules: &Rules, files: &PolicyFiles, origin: String) -> Result<RuleSet, PolicyError> {
    let limits = rules.limits();
    let files = files.clone();
    let compiled = tokio::task::spawn_blocking(move || RuleSet::from_policy(&files, limits, &origin)).await;
    match compiled {
        Ok(Ok(set)) => Ok(set),
        Ok(Err(errors)) => {
            Err(PolicyError::DoesNotCompile(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))
        }
        Err(e) => Err(PolicyError::DoesNotCompile(format!("the compiler stopped: {e}"))),
    }
}

pub(super) fn audit(
    caller: &str,
    action: &str,
    id: uuid::Uuid,
    at: DateTime<Utc>,
    detail: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::now_v7(),
        actor: caller.to_string(),
        action: action.to_string(),
        target: format!("rule_policy:{id}"),
        version_before: None,
        version_after: None,
        request_id: uuid::Uuid::now_v7().to_string(),
        detail,
        at,
    }
}

/// At start-up: in development, keeps the folder's rule versions; in production, puts the
/// version in force in the database to work (the folder seeds it once, when there is none).
pub async fn start(parts: &Parts<'_>) -> Result<(), PolicyError> {
    let now = parts.now;
    if parts.from_folder {
        return keep_folder_versions(parts).await;
    }
    if parts.store.policy_in_force().await?.is_none() {
        let files = folder_policy(parts.rules)?;
        let id = uuid::Uuid::now_v7();
        let seed = PolicyRecord {
            id,
            hash: files.hash(),
            files,
            note: "the rules folder, as the first version in force".into(),
            proposed_by: BOOTSTRAP.into(),
            proposed_at: now,
            state: policy_state::IN_FORCE.to_string(),
            rollback_of: None,
            decided_by: Some(BOOTSTRAP.into()),
            decided_at: Some(now),
            decision_note: None,
            version: 1,
            shadow: false,
        };
        let detail = json!({ "hash": seed.hash, "from": parts.rules.dir().display().to_string() });
        match parts.store.add_policy(&seed, &audit(BOOTSTRAP, "rules.bootstrap", id, now, detail)).await {
            // Another process seeded it first: use theirs.
            Ok(()) | Err(StoreError::Duplicate(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    sync(parts.store, parts.rules).await.map(|_| ())
}

/// The database and policy hash whose rule versions this process last kept (development: a
/// SIGHUP reload brings new ones, kept at the next poll).
static KEPT: std::sync::Mutex<Option<(String, String)>> = std::sync::Mutex::new(None);

/// The rules folder read as a policy version.
fn folder_policy(rules: &Rules) -> Result<PolicyFiles, PolicyError> {
    PolicyFiles::read(rules.dir())
        .map_err(|e| PolicyError::DoesNotCompile(e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))
}

/// Development: keeps the rule versions of the folder the rules were loaded from, once per
/// policy hash.
pub async fn keep_folder_versions(parts: &Parts<'_>) -> Result<(), PolicyError> {
    let key = (parts.database.to_string(), parts.rules.current().policy().to_string());
    if KEPT.lock().unwrap_or_else(|p| p.into_inner()).as_ref() == Some(&key) {
        return Ok(());
    }
    let files = folder_policy(parts.rules)?;
    // The folder may have changed since it was compiled: keep only what is in force.
    if files.hash() != key.1 {
        return Ok(());
    }
    let versions: Vec<_> = files.rules().map(|(n, v, s)| (n.to_string(), v, s.to_string())).collect();
    parts.store.keep_rule_versions(&versions, parts.now).await?;
    *KEPT.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
    Ok(())
}

/// Puts the version in force in the database to work in this process, if it is not already;
/// true when it changed.
pub async fn sync(store: &dyn Store, rules: &Rules) -> Result<bool, PolicyError> {
    let Some((id, hash)) = store.policy_in_force().await? else { return Ok(false) };
    if rules.current().policy() == hash {
        return Ok(false);
    }
    let policy = store.policy(id).await?.ok_or(PolicyError::NotFound(id))?;
    let set = compile(rules, &policy.files, format!("policy {id}")).await?;
    rules.replace(set);
    tracing::info!(policy = %id, hash = %hash, "rule policy version in force (from the database)");
    Ok(true)
}
