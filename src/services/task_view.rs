//! One task as a reviewer sees it: its age against the SLA, its application (or AWS login)
//! with everything read and decided about it, the limit the rules suggest and the history.
//! A task whose subject moved on is closed first ([`super::task_actions::settled`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{ApplicationId, TaskId};
use crate::store::{EventRecord, TaskRecord};
use crate::workflow::TaskKind;
use crate::workflow::names::application;

use super::decisions::DecisionError;

/// A task as the queue shows it: its fields plus its age against the SLA.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskItem {
    #[serde(flatten)]
    pub task: TaskRecord,
    pub age_seconds: i64,
    /// The SLA (config `task_sla_hours`) in seconds.
    pub sla_seconds: i64,
    pub overdue: bool,
}

pub fn item(task: &TaskRecord, now: DateTime<Utc>, sla_hours: u32) -> TaskItem {
    let age = (now - task.created_at).num_seconds().max(0);
    let sla = i64::from(sla_hours) * 3600;
    TaskItem { task: task.clone(), age_seconds: age, sla_seconds: sla, overdue: age > sla }
}

/// One task with its application and the application's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub task: TaskItem,
    /// The application with its extracted `fields` (each with the message and excerpt it
    /// came from), `evidence`, rule `decisions` with reasons, and the `messages` of its thread.
    #[schema(value_type = Option<Object>)]
    pub application: Option<Value>,
    /// For an `aws_login_review` task: the AWS login (`id`, `state`, `account_email`) and the
    /// credit-line `applications` of the account that apply through it (`id`, `reference`,
    /// `state`), which cannot be approved before it is.
    #[schema(value_type = Option<Object>)]
    pub aws_login: Option<Value>,
    /// For an application in review: the monthly limit in cents the `initial_limit` rule
    /// suggests, which any reviewer may approve (above it only a senior reviewer, with a
    /// reason); `null` when the rule leaves the limit to a person.
    pub suggested_limit_cents: Option<i64>,
    /// The workflow events of the application (or of the AWS login), oldest first.
    pub events: Vec<EventRecord>,
}

/// The task's view; `None` when there is no such task.
pub async fn view(app: &App, id: TaskId) -> Result<Option<TaskView>, DecisionError> {
    let Some(task) = app.store.task(id).await? else { return Ok(None) };
    let task = super::task_actions::settled(app, task).await?;
    let now = app.workflow.clock().now();
    let mut body = TaskView {
        task: item(&task, now, app.config.task_sla_hours),
        application: None,
        aws_login: None,
        suggested_limit_cents: None,
        events: Vec::new(),
    };
    let application = match task.subject_id {
        Some(s) => app.store.application(ApplicationId(s.0)).await?,
        None => None,
    };
    if let Some(a) = application {
        body.application = Some(super::views::application(app.store.as_ref(), &a).await?);
        if task.kind == TaskKind::ApplicationReview.as_str() && a.state == application::PENDING_REVIEW {
            body.suggested_limit_cents = super::decisions::suggested_limit(app, &a).await?.map(|m| m.cents());
        }
        body.events = app.store.events(a.id.into()).await?;
    } else if let Some(s) = task.subject_id.filter(|_| task.kind == "aws_login_review")
        && let Some(login) = app.store.instance(s).await?
    {
        let applications = super::aws_login::linked_applications(app.store.as_ref(), &login).await?;
        body.aws_login = Some(serde_json::json!({
            "id": login.id,
            "state": login.state,
            "account_email": login.account_email,
            "applications": applications,
        }));
        body.events = app.store.events(s).await?;
    }
    Ok(Some(body))
}
