//! The reviewer task queue: claiming and releasing (one assignee at a time), each change
//! recorded in the audit log in the same transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

pub use super::task_counts::CountCache;
use crate::app::App;
use crate::domain::{Role, TaskId};
use crate::services::access::Caller;
pub use crate::store::TaskCount;
use crate::store::{AuditRecord, Store, StoreError, TaskRecord};
use crate::workflow::names::task_state;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("no task {0}")]
    NotFound(TaskId),
    #[error("task {0} is {1}, not open")]
    Closed(TaskId, String),
    #[error("task {id} is claimed by {assignee}")]
    ClaimedByOther { id: TaskId, assignee: String },
    #[error("task {0} is not claimed")]
    NotClaimed(TaskId),
    #[error("only the assignee or an admin may release task {0}")]
    NotAssignee(TaskId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who may work the queue (the API's and the console's reviewers).
pub const REVIEWERS: &[Role] = &[Role::Reviewer, Role::SeniorReviewer, Role::Admin];

/// The moment a task `hours` old was created. Ages reaching back past 1970 (as far as
/// u32::MAX hours, beyond what a date can hold) match no task either way: they stop there.
pub fn created_before(now: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    now.checked_sub_signed(chrono::Duration::hours(i64::from(hours)))
        .unwrap_or(DateTime::UNIX_EPOCH)
        .max(DateTime::UNIX_EPOCH)
}

/// Who acts, and the request it came with (for the audit log).
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub now: DateTime<Utc>,
}

/// The audit entry of a change that moves `task` to its next version.
fn audit(actor: &Actor<'_>, action: &str, task: &TaskRecord, detail: serde_json::Value) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::now_v7(),
        actor: actor.caller.name.clone(),
        action: action.to_string(),
        target: format!("task:{}", task.id),
        version_before: Some(task.version),
        version_after: Some(task.version + 1),
        request_id: actor.request_id.to_string(),
        detail,
        at: actor.now,
    }
}

/// Task `id` as the caller saw it: `Conflict` when `expected` is not its version now, `None`
/// when there is no such task. Every task change (claims, decisions, resolutions) starts here.
pub async fn at_version(
    store: &dyn Store,
    id: TaskId,
    expected: Option<i64>,
) -> Result<Option<TaskRecord>, StoreError> {
    let Some(task) = store.task(id).await? else { return Ok(None) };
    if let Some(v) = expected
        && v != task.version
    {
        return Err(StoreError::Conflict { expected: v, actual: task.version });
    }
    Ok(Some(task))
}

async fn load(store: &dyn Store, id: TaskId, expected: Option<i64>) -> Result<TaskRecord, TaskError> {
    at_version(store, id, expected).await?.ok_or(TaskError::NotFound(id))
}

/// Claims an open task for the caller. Claiming one's own task again changes nothing.
pub async fn claim(app: &App, actor: &Actor<'_>, id: TaskId, expected: Option<i64>) -> Result<TaskRecord, TaskError> {
    let store = app.store.as_ref();
    let task = load(store, id, expected).await?;
    if task.state != task_state::OPEN {
        return Err(TaskError::Closed(id, task.state));
    }
    match task.assignee.as_deref() {
        Some(a) if a == actor.caller.name => return Ok(task),
        Some(other) => return Err(TaskError::ClaimedByOther { id, assignee: other.to_string() }),
        None => {}
    }
    let entry = audit(actor, "task.claim", &task, json!({ "assignee": actor.caller.name }));
    // The version check inside the update settles a race: one claim wins, the other sees a
    // newer version and gets a conflict.
    let claimed = store.assign_task(id, task.version, Some(&actor.caller.name), &entry).await?;
    app.task_counts.clear();
    Ok(claimed)
}

/// Gives a claimed task back to the queue: its assignee may, and so may an admin.
pub async fn release(app: &App, actor: &Actor<'_>, id: TaskId, expected: Option<i64>) -> Result<TaskRecord, TaskError> {
    let store = app.store.as_ref();
    let task = load(store, id, expected).await?;
    let Some(assignee) = task.assignee.clone() else { return Err(TaskError::NotClaimed(id)) };
    if assignee != actor.caller.name && actor.caller.role != Role::Admin {
        return Err(TaskError::NotAssignee(id));
    }
    let entry = audit(actor, "task.release", &task, json!({ "previous_assignee": assignee }));
    let released = store.assign_task(id, task.version, None, &entry).await?;
    app.task_counts.clear();
    Ok(released)
}

/// How many times [`claim_next`] tries again when another reviewer took the task it chose.
const NEXT_ATTEMPTS: usize = 5;

/// Claims the oldest open task (of `kind`, if given) that nobody has claimed: what a reviewer
/// who wants "the next one" means. Losing a race for it moves on to the next; `None` when no
/// unclaimed task is waiting.
pub async fn claim_next(app: &App, actor: &Actor<'_>, kind: Option<&str>) -> Result<Option<TaskRecord>, TaskError> {
    for _ in 0..NEXT_ATTEMPTS {
        let Some(task) = app.store.next_unassigned(task_state::OPEN, kind).await? else { return Ok(None) };
        match claim(app, actor, task.id, Some(task.version)).await {
            Ok(claimed) => return Ok(Some(claimed)),
            Err(
                TaskError::Store(StoreError::Conflict { .. })
                | TaskError::ClaimedByOther { .. }
                | TaskError::Closed(..),
            ) => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Open tasks per kind: how many, how many are past the SLA, how many nobody has claimed (at
/// most [`super::task_counts::COUNTS_FRESH_FOR`] old).
pub async fn counts(app: &App, now: DateTime<Utc>) -> Result<Vec<TaskCount>, TaskError> {
    if let Some(counts) = app.task_counts.kept_unless_due() {
        return Ok(counts);
    }
    let overdue_before = created_before(now, app.config.task_sla_hours);
    let counts = app.store.count_tasks(task_state::OPEN, overdue_before).await;
    app.task_counts.keep(counts.as_deref().ok());
    Ok(counts?)
}
