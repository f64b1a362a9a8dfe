//! One task on one screen: what it is about, what was read from the applicant's emails (with
//! where each value came from), what the rules decided and why, and the history.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Html;

use super::page::{ConsoleError, render};
use super::queue::REVIEWERS;
use super::session::Signed;
use crate::app::App;
use crate::domain::TaskId;
use crate::services::task_view;
use crate::workflow::names::task_state;

pub async fn task(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let not_found = || ConsoleError::NotFound(format!("no task {id:?}"));
    let task_id: TaskId = id.parse().map_err(|_| not_found())?;
    let view = task_view::view(&app, task_id).await.map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let view = view.ok_or_else(not_found)?;
    let me = &signed.0.caller.name;
    let task = &view.task.task;
    let forms = super::decide::forms(&app, &view, &signed).await?;
    render(
        "task.html",
        minijinja::context! {
            me => me, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            view => &view, forms,
            mine => task.assignee.as_deref() == Some(me.as_str()),
            claimable => task.state == task_state::OPEN && task.assignee.is_none(),
        },
    )
}
