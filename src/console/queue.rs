//! The queue: open tasks oldest first, filtered by kind, state, assignee and age against the
//! SLA; claim and release.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::page::{ConsoleError, Form, render};
use super::session::Signed;
use crate::app::App;
use crate::domain::{Role, TaskId};
use crate::services::task_view::{TaskItem, item};
pub use crate::services::tasks::REVIEWERS;
use crate::services::tasks::{self, Actor, created_before};
use crate::services::views::{self, TaskFilter};
use crate::workflow::TaskKind;
use crate::workflow::names::task_state;

/// Tasks shown a page at a time.
const PAGE: i64 = 50;

impl Signed {
    /// Refuses callers outside `roles` (the services check again).
    pub fn require(&self, roles: &[Role]) -> Result<(), ConsoleError> {
        if roles.contains(&self.0.caller.role) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(format!("the {} role cannot do this", self.0.caller.role.as_str())))
        }
    }
}

/// The queue's filters, as the filter form sends them (an empty field is no filter).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    #[serde(default)]
    kind: String,
    /// `open` (default), `awaiting_second_approval`, `done`, `obsolete` or `all`.
    #[serde(default)]
    state: String,
    /// `me`, or empty for anyone.
    #[serde(default)]
    assignee: String,
    /// `on` for tasks past their SLA only.
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    after: String,
}

/// One row of the queue.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    item: TaskItem,
    age: String,
    mine: bool,
    claimable: bool,
}

/// `90061` seconds → `1 d 1 h`.
fn age(seconds: i64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, h) => format!("{h} h {m} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

pub async fn queue(
    State(app): State<Arc<App>>,
    signed: Signed,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let Query(q) = query.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let me = &signed.0.caller.name;
    let now = app.workflow.clock().now();
    let sla = app.config.task_sla_hours;
    let kinds: Vec<&str> = TaskKind::ALL.iter().map(|k| k.as_str()).collect();
    if !q.kind.is_empty() && !kinds.contains(&q.kind.as_str()) {
        return Err(ConsoleError::BadRequest(format!("no task kind {:?}", q.kind)));
    }
    let states = [task_state::OPEN, task_state::AWAITING_SECOND_APPROVAL, task_state::DONE, task_state::OBSOLETE];
    let state = match q.state.as_str() {
        "" => Some(task_state::OPEN.to_string()),
        "all" => None,
        s if states.contains(&s) => Some(s.to_string()),
        s => return Err(ConsoleError::BadRequest(format!("no task state {s:?}"))),
    };
    let after = match q.after.as_str() {
        "" => None,
        a => {
            Some(a.parse::<TaskId>().map_err(|_| ConsoleError::BadRequest("the page cursor is not a task id".into()))?)
        }
    };
    let filter = TaskFilter {
        kind: (!q.kind.is_empty()).then(|| q.kind.clone()),
        state,
        assignee: (q.assignee == "me").then(|| me.clone()),
        created_before: (q.overdue == "on").then(|| created_before(now, sla)),
        after,
        limit: PAGE,
    };
    let page = views::tasks(&app, filter).await?;
    let counts = tasks::counts(&app, now).await?;
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|t| {
            let item = item(t, now, sla);
            Row {
                age: age(item.age_seconds),
                mine: t.assignee.as_deref() == Some(me.as_str()),
                claimable: t.state == task_state::OPEN && t.assignee.is_none(),
                item,
            }
        })
        .collect();
    render(
        "queue.html",
        minijinja::context! {
            me => me, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            rows, kinds, states, filter => &q, counts, next_cursor => page.next_cursor, sla_hours => sla,
        },
    )
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    /// The task version the page showed: a task that moved since is refused, not changed.
    version: i64,
}

pub async fn claim(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, ConsoleError> {
    let id = assign(&app, &signed, &id, form, true).await?;
    Ok(Redirect::to(&format!("/console/tasks/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct NextForm {
    #[serde(default)]
    csrf: String,
    /// A task kind, or empty for any.
    #[serde(default)]
    kind: String,
}

/// "Take the next": claims the oldest unclaimed open task (of the kind the queue is filtered
/// to) and opens it.
pub async fn next(
    State(app): State<Arc<App>>,
    signed: Signed,
    Form(form): Form<NextForm>,
) -> Result<Response, ConsoleError> {
    signed.check(&form.csrf)?;
    signed.require(REVIEWERS)?;
    let kind = (!form.kind.is_empty()).then_some(form.kind.as_str());
    if let Some(k) = kind
        && !TaskKind::ALL.iter().any(|t| t.as_str() == k)
    {
        return Err(ConsoleError::BadRequest(format!("no task kind {k:?}")));
    }
    let request_id = uuid::Uuid::now_v7().to_string();
    let actor = Actor { caller: &signed.0.caller, request_id: &request_id, now: app.workflow.clock().now() };
    match tasks::claim_next(&app, &actor, kind).await? {
        Some(task) => Ok(Redirect::to(&format!("/console/tasks/{}", task.id)).into_response()),
        None => Err(ConsoleError::NotFound("no unclaimed task is waiting; the queue is clear".into())),
    }
}

pub async fn release(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, ConsoleError> {
    assign(&app, &signed, &id, form, false).await?;
    Ok(Redirect::to("/console/queue").into_response())
}

async fn assign(app: &App, signed: &Signed, id: &str, form: AssignForm, claim: bool) -> Result<TaskId, ConsoleError> {
    signed.check(&form.csrf)?;
    signed.require(REVIEWERS)?;
    let id: TaskId = id.parse().map_err(|_| ConsoleError::NotFound(format!("no task {id:?}")))?;
    let request_id = uuid::Uuid::now_v7().to_string();
    let actor = Actor { caller: &signed.0.caller, request_id: &request_id, now: app.workflow.clock().now() };
    if claim {
        tasks::claim(app, &actor, id, Some(form.version)).await?;
    } else {
        tasks::release(app, &actor, id, Some(form.version)).await?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_units() {
        assert_eq!(age(59), "0 min");
        assert_eq!(age(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(age(90_061), "1 d 1 h");
    }
}
