//! Policy changes in the console (issue 21): the rule policy versions, and one version's page
//! with its Rhai diff against the version in force, its backtest over the recorded decisions
//! beside it, its shadow run (live against shadow per rule, the changed decisions), and the
//! forms to approve, reject, run in shadow or roll back, which the services refuse to the
//! proposer (maker-checker).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::page::{ConsoleError, Form, render};
use super::queue::REVIEWERS;
use super::session::Signed;
use crate::app::App;
use crate::services::rule_policy::{self, POLICY_MAKERS, PolicyError};

/// Versions listed.
const LISTED: i64 = 200;
/// Changed decisions listed from a shadow run or a backtest.
const CHANGES: usize = 100;

fn policy_error(e: PolicyError) -> ConsoleError {
    match e {
        PolicyError::Store(f) => f.into(),
        PolicyError::NotFound(id) => ConsoleError::NotFound(format!("no policy version {id}")),
        e @ (PolicyError::NotAllowed | PolicyError::MakerIsChecker(_)) => ConsoleError::Forbidden(e.to_string()),
        e @ (PolicyError::NotProposed(..) | PolicyError::FolderMode | PolicyError::Unchanged(_)) => {
            ConsoleError::Stale(e.to_string())
        }
        e @ PolicyError::Backtest(_) => ConsoleError::Internal(e.to_string()),
        e => ConsoleError::BadRequest(e.to_string()),
    }
}

pub async fn versions(State(app): State<Arc<App>>, signed: Signed) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let versions = rule_policy::list(&app, LISTED).await?;
    render(
        "policies.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            versions, from_folder => app.config.rules.from_folder,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct VersionQuery {
    #[serde(default)]
    backtest: String,
}

pub async fn version(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let Query(q) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let not_found = || ConsoleError::NotFound(format!("no policy version {id:?}"));
    let id: uuid::Uuid = id.parse().map_err(|_| not_found())?;
    let view = rule_policy::view(&app, id).await?.ok_or_else(not_found)?;
    let shadow = rule_policy::shadow_report(&app, id, CHANGES as i64).await?;
    let backtest = match q.backtest.as_str() {
        "on" => {
            let mut found = rule_policy::backtest(&app, id).await.map_err(policy_error)?;
            found.affected.truncate(CHANGES);
            Some(found)
        }
        _ => None,
    };
    let me = &signed.0.caller;
    render(
        "policy.html",
        minijinja::context! {
            me => &me.name, role => me.role.as_str(), csrf => &signed.0.csrf,
            view, shadow, backtest, from_folder => app.config.rules.from_folder,
            may_decide => POLICY_MAKERS.contains(&me.role),
            is_proposer => view.policy.proposed_by == me.name,
        },
    )
}

/// Each rule version's performance: outcomes per month, reviewers' agreement with the
/// suggested limit and the overrides, repayment of the lines offered (the last year).
pub async fn analytics(State(app): State<Arc<App>>, signed: Signed) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let since = app.workflow.clock().now() - chrono::Duration::days(365);
    let found = crate::services::rule_analytics::analytics(&app, since).await?;
    render(
        "rule_analytics.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            a => found,
        },
    )
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    action: String,
    version: i64,
    #[serde(default)]
    note: String,
}

pub async fn act(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Result<Redirect, ConsoleError> {
    signed.check(&form.csrf)?;
    let id: uuid::Uuid = id.parse().map_err(|_| ConsoleError::NotFound(format!("no policy version {id:?}")))?;
    let caller = &signed.0.caller;
    let note = form.note.trim();
    let done = match form.action.as_str() {
        "approve" => {
            let note = (!note.is_empty()).then_some(note);
            rule_policy::approve(&app, caller, id, Some(form.version), note).await
        }
        "reject" => rule_policy::reject(&app, caller, id, note).await,
        "shadow" => rule_policy::shadow(&app, caller, id, true).await,
        "stop_shadow" => rule_policy::shadow(&app, caller, id, false).await,
        "rollback" => rule_policy::rollback(&app, caller, id, note).await,
        other => return Err(ConsoleError::BadRequest(format!("no action {other:?}"))),
    };
    let record = done.map_err(policy_error)?;
    Ok(Redirect::to(&format!("/console/rules/{}", record.id)))
}
