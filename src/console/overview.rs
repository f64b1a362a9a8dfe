//! The overview pages: the dashboard a team lead checks first, and the workflow diagrams that
//! show where each kind of case can go next.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::page::{ConsoleError, render};
use super::queue::REVIEWERS;
use super::session::Signed;
use crate::app::App;
use crate::services::dashboard::{self, DashboardError};
use crate::workflow::layout;

/// The dashboard: queue depth and overdue by kind, decisions this month, credit outstanding,
/// unpaid bills, failing emails.
pub async fn dashboard(State(app): State<Arc<App>>, signed: Signed) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let now = app.workflow.clock().now();
    let figures = dashboard::dashboard(&app, now).await.map_err(|e| match e {
        DashboardError::Tasks(e) => ConsoleError::from(e),
        DashboardError::Store(f) => ConsoleError::from(f),
    })?;
    render(
        "dashboard.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            d => figures, sla_hours => app.config.task_sla_hours,
        },
    )
}

/// Every workflow as a diagram, with its states and transitions as tables (the diagram's
/// text equivalent).
pub async fn workflows(State(app): State<Arc<App>>, signed: Signed) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let diagrams: Vec<_> =
        app.workflows.iter().map(|def| minijinja::context! { def => def, layout => layout(def) }).collect();
    render(
        "workflows.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            diagrams,
        },
    )
}
