//! Finishing the tasks that are not application reviews (those are decided in
//! [`super::decisions`]): limit-increase review, deposit confirmation, triage, invoice
//! request and email failure. Each action checks the task version and the caller's role,
//! writes the task, any workflow step and the audit entry, and keeps its answer for the
//! `Idempotency-Key`. A task whose subject moved on (its increase was closed, expired or
//! decided elsewhere) is closed as `obsolete` when someone tries to finish it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::actions::{self, Actor, Answer, EventStep, IdempotencyKey, Outcome};
use super::billing::escalation;
use super::workflow::{Cursor, Fire, ServiceError};
use crate::app::App;
use crate::domain::{Money, Role, SubjectId, TaskId};
use crate::store::{ActionWrite, AuditRecord, StoreError, TaskRecord, TaskUpdate, TransitionWrite, WorkflowChanges};
use crate::workflow::TaskKind;
use crate::workflow::names::{application, aws_login, invoice_request, limit_increase, task_state};

/// What a reviewer does to finish a task; which actions a kind takes is in [`allowed`].
#[derive(Debug, Clone, PartialEq)]
pub enum TaskAction {
    /// Raise the line's limit (four-eyes from `four_eyes_from_cents`).
    Approve { note: Option<String> },
    /// Decline an increase; `reason` reaches the account in the decline email.
    Decline { reason: String },
    /// Ask the account for more before deciding an increase; the task stays open.
    RequestInfo { message: String },
    /// The guarantee is held: the increase proceeds (approved, four-eyes as above).
    Confirm { note: Option<String> },
    /// The guarantee is not what it should be: the increase is declined with the note.
    Reject { note: String },
    /// Attach a triaged message to an application (by reference) or a credit line (by id).
    Attach { application: Option<String>, credit_line: Option<SubjectId>, note: Option<String> },
    /// The invoice was sent.
    MarkSent { note: String, invoice_reference: Option<String> },
    /// Send the failed email again (after its cause was fixed).
    Retry { note: Option<String> },
    /// Nothing more to do.
    Close { note: String },
}

/// The action, by task kind: `limit_increase_review`: approve, decline (`reason`),
/// request_info (`message`); `aws_login_review`: approve, decline (`reason`);
/// `deposit_confirmation`: confirm, reject (`note`); `triage`:
/// attach (`application` reference or `credit_line` id), close (`note`); `invoice_request`:
/// mark_sent (`note`, optional `invoice_reference`), close (`note`); `email_failure`: retry,
/// close (`note`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Approve,
    Decline,
    RequestInfo,
    Confirm,
    Reject,
    Attach,
    MarkSent,
    Retry,
    Close,
}

impl ActionName {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionName::Approve => "approve",
            ActionName::Decline => "decline",
            ActionName::RequestInfo => "request_info",
            ActionName::Confirm => "confirm",
            ActionName::Reject => "reject",
            ActionName::Attach => "attach",
            ActionName::MarkSent => "mark_sent",
            ActionName::Retry => "retry",
            ActionName::Close => "close",
        }
    }
}

impl TaskAction {
    pub fn kind(&self) -> ActionName {
        match self {
            TaskAction::Approve { .. } => ActionName::Approve,
            TaskAction::Decline { .. } => ActionName::Decline,
            TaskAction::RequestInfo { .. } => ActionName::RequestInfo,
            TaskAction::Confirm { .. } => ActionName::Confirm,
            TaskAction::Reject { .. } => ActionName::Reject,
            TaskAction::Attach { .. } => ActionName::Attach,
            TaskAction::MarkSent { .. } => ActionName::MarkSent,
            TaskAction::Retry { .. } => ActionName::Retry,
            TaskAction::Close { .. } => ActionName::Close,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// What finishing a task answers (an `Idempotency-Key` replay sends the same again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskActed {
    pub action: ActionName,
    /// The task as it now is: `done`, `awaiting_second_approval` after a first approval, or
    /// still `open` after request_info.
    pub task: TaskRecord,
    /// The workflow event the action fired, if any.
    pub event: Option<EventStep>,
    /// What was done, as recorded in the audit log.
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl Answer for TaskActed {
    fn version(&self) -> Option<i64> {
        Some(self.task.version)
    }
}

/// The actions each kind takes. Application reviews are decided through their own routes.
pub fn allowed(kind: &str) -> &'static [&'static str] {
    match kind.parse::<TaskKind>() {
        Ok(TaskKind::LimitIncreaseReview) => &["approve", "decline", "request_info"],
        Ok(TaskKind::AwsLoginReview) => &["approve", "decline"],
        Ok(TaskKind::DepositConfirmation) => &["confirm", "reject"],
        Ok(TaskKind::Triage) => &["attach", "close"],
        Ok(TaskKind::InvoiceRequest) => &["mark_sent", "close"],
        Ok(TaskKind::EmailFailure) => &["retry", "close"],
        _ => &[],
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no task {0}")]
    NotFound(TaskId),
    #[error("task {0} is {1}: it takes no more actions")]
    Closed(TaskId, String),
    #[error("task {id} is claimed by {assignee}")]
    ClaimedByOther { id: TaskId, assignee: String },
    #[error("task {id} is a {kind} task; it takes {}", takes(kind))]
    WrongAction { id: TaskId, kind: String },
    /// The subject moved on; the task was closed as `obsolete` (its reason is the message).
    #[error("task {0} is obsolete and was closed: {1}")]
    Obsolete(TaskId, String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Replay(#[from] actions::ActionError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn takes(kind: &str) -> String {
    match (kind, allowed(kind)) {
        ("application_review", _) => "approve, decline, defer or request-info at /api/v1/tasks/{id}/<decision>".into(),
        (_, []) => "no actions here".into(),
        (_, a) => format!("action {}", a.join(", ")),
    }
}

impl ResolveError {
    /// Trouble of ours (the engine, the database) rather than an answer about the task.
    pub fn is_internal(&self) -> bool {
        matches!(self, ResolveError::Service(_) | ResolveError::Store(StoreError::Database(_)))
    }

    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::NotFound(_) => "not_found",
            ResolveError::Closed(..) => "task_closed",
            ResolveError::ClaimedByOther { .. } => "already_claimed",
            ResolveError::WrongAction { .. } => "action_not_allowed",
            ResolveError::Obsolete(..) => "task_obsolete",
            ResolveError::Forbidden(_) => "decision_forbidden",
            ResolveError::Refused(_) => "action_refused",
            ResolveError::Replay(e) => e.code(),
            ResolveError::Store(StoreError::Conflict { .. }) => "version_conflict",
            ResolveError::Service(_) | ResolveError::Store(_) => "internal",
        }
    }
}

impl From<super::billing::CycleError> for ResolveError {
    fn from(e: super::billing::CycleError) -> Self {
        match e {
            super::billing::CycleError::Service(s) => ResolveError::Service(s),
            super::billing::CycleError::Store(s) => ResolveError::Store(s),
            other => ResolveError::Refused(other.to_string()),
        }
    }
}

/// Finishes task `id` with `action`. `expected` is the task version the caller saw; the same
/// idempotency key again returns the first answer.
pub async fn resolve(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    action: TaskAction,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome<TaskActed>, ResolveError> {
    actions::once(app, actor, key, || commit(app, actor, id, expected, &action, key)).await
}

async fn commit(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    action: &TaskAction,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome<TaskActed>, ResolveError> {
    match run(app, actor, id, expected, action, key, Mode::Commit).await? {
        Ran::Committed(outcome) => Ok(*outcome),
        Ran::Previewed(_) => Err(StoreError::Corrupt("a committed action came back as a preview".into()).into()),
    }
}

/// The emails `action` would send, rendered, without taking it: the same checks and plan as
/// [`resolve`], stopped before the write (a retry shows the email it would send again).
pub async fn preview(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    action: &TaskAction,
) -> Result<Vec<super::previews::EmailPreview>, ResolveError> {
    match run(app, actor, id, expected, action, None, Mode::Preview).await? {
        Ran::Previewed(emails) => Ok(emails),
        Ran::Committed(_) => Err(StoreError::Corrupt("a previewed action was committed".into()).into()),
    }
}

/// Whether an action is taken or only shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Commit,
    Preview,
}

enum Ran {
    Committed(Box<Outcome<TaskActed>>),
    Previewed(Vec<super::previews::EmailPreview>),
}

async fn previewed(app: &App, write: &ActionWrite) -> Result<Ran, ResolveError> {
    Ok(Ran::Previewed(super::previews::emails(app, &write.workflow).await?))
}

async fn run(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    action: &TaskAction,
    key: Option<&IdempotencyKey>,
    mode: Mode,
) -> Result<Ran, ResolveError> {
    let store = app.store.as_ref();
    let task = crate::services::tasks::at_version(store, id, expected).await?.ok_or(ResolveError::NotFound(id))?;
    if !allowed(&task.kind).contains(&action.name()) {
        return Err(ResolveError::WrongAction { id, kind: task.kind });
    }
    let second = match task.state.as_str() {
        task_state::OPEN => false,
        task_state::AWAITING_SECOND_APPROVAL => true,
        other => return Err(ResolveError::Closed(id, other.to_string())),
    };
    if let Some(a) = task.assignee.as_deref()
        && a != actor.caller.name
    {
        return Err(ResolveError::ClaimedByOther { id, assignee: a.to_string() });
    }
    if !matches!(actor.caller.role, Role::Reviewer | Role::SeniorReviewer) {
        return Err(ResolveError::Forbidden(format!("a {} token cannot finish tasks", actor.caller.role.as_str())));
    }
    let mut plan = Plan::new(actor, &task, action);
    if task.kind == TaskKind::AwsLoginReview.as_str() {
        let notes = aws_login(app, actor, &mut plan, action).await?;
        let outcome = plan.outcome();
        let write = plan.into_write(actor, key, &outcome)?;
        if mode == Mode::Preview {
            return previewed(app, &write).await;
        }
        store.commit_action_noting(&write, &notes).await?;
        return Ok(Ran::Committed(Box::new(outcome)));
    }
    // An invoice request's own task: `mark_sent` issues and sends the invoice.
    if let TaskAction::MarkSent { note, .. } = action
        && let Some(subject) = task.subject_id
        && let Some(request) = store.invoice_request(subject).await?
    {
        return send_invoice(app, actor, plan, request, note, key, mode).await;
    }
    match action {
        TaskAction::Approve { note } | TaskAction::Confirm { note } => {
            increase_approve(app, actor, &mut plan, second, note).await?
        }
        TaskAction::Decline { reason: text } | TaskAction::Reject { note: text } => {
            let (increase, line, cursor) = open_increase(app, &task).await?;
            let fire = Fire::new(increase.id, "decline", &actor.caller.name)
                .reason(text)
                .data("message", text)
                .data("monthly_limit_cents", line.monthly_limit_cents);
            plan.transition = Some(app.workflow.plan(&mut cursor.clone(), &fire)?.0);
            plan.detail = json!({ "increase": increase.id, "reason": text });
        }
        TaskAction::RequestInfo { message } => {
            let (increase, _, cursor) = open_increase(app, &task).await?;
            let fire = Fire::new(increase.id, "request_info", &actor.caller.name)
                .reason("information requested by a reviewer")
                .data("message", message);
            plan.transition = Some(app.workflow.plan(&mut cursor.clone(), &fire)?.0);
            // The increase waits for the account's answer; the task stays with its reviewer.
            plan.state = task.state.clone();
            plan.detail = json!({ "increase": increase.id, "message": message });
        }
        TaskAction::Attach { application, credit_line, note } => {
            let target = match (application, credit_line) {
                (Some(r), None) => {
                    let a = store
                        .application_by_reference(r)
                        .await?
                        .ok_or_else(|| ResolveError::Refused(format!("application: no application {r}")))?;
                    json!({ "application": a.id, "reference": a.reference })
                }
                (None, Some(l)) => {
                    store
                        .credit_line(*l)
                        .await?
                        .ok_or_else(|| ResolveError::Refused(format!("credit_line: no credit line {l}")))?;
                    json!({ "credit_line": l })
                }
                _ => return Err(ResolveError::Refused("attach: give either application or credit_line".into())),
            };
            plan.details["attached_to"] = target.clone();
            plan.detail = json!({ "attached_to": target, "note": note });
        }
        TaskAction::MarkSent { note, invoice_reference } => {
            // A task opened before invoices were issued here (no request behind it): the
            // reviewer sent the invoice by hand and says which.
            plan.details["invoice_reference"] = json!(invoice_reference);
            plan.detail = json!({ "note": note, "invoice_reference": invoice_reference });
        }
        TaskAction::Retry { note } => {
            let outbox = task
                .details
                .get("outbox_id")
                .and_then(|v| serde_json::from_value::<crate::domain::OutboxId>(v.clone()).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("task {id}: no outbox_id in its details")))?;
            let row = store.outbox_row(outbox).await?.ok_or(StoreError::NotFound(format!("outbox row {outbox}")))?;
            if mode == Mode::Preview {
                let again = crate::store::OutboxWrite {
                    id: row.id,
                    kind: row.kind.clone(),
                    name: row.name.clone(),
                    idempotency_key: row.idempotency_key.clone(),
                    payload: row.payload.clone(),
                };
                return Ok(Ran::Previewed(vec![super::previews::email(app, row.instance_id, &again).await?]));
            }
            // A row that is no longer failed (sent or queued again by a concurrent retry)
            // needs nothing more: the task just closes.
            let requeued = row.status == "failed" && store.requeue_outbox(outbox, actor.now).await?;
            plan.detail = json!({ "outbox_id": outbox, "requeued": requeued, "note": note });
        }
        TaskAction::Close { note } => {
            // An invoice request's task closes its request too (no invoice, the note as reason).
            if task.kind == TaskKind::InvoiceRequest.as_str()
                && let Some(subject) = task.subject_id
                && let Some(request) = store.invoice_request(subject).await?
                && request.state == invoice_request::PENDING_REVIEW
            {
                let instance =
                    store.instance(subject).await?.ok_or(StoreError::NotFound(format!("invoice request {subject}")))?;
                let fire = Fire::new(subject, "close", &actor.caller.name).reason(note);
                plan.transition = Some(app.workflow.plan(&mut Cursor::from(&instance), &fire)?.0);
            }
            plan.detail = json!({ "note": note });
        }
    }
    let outcome = plan.outcome();
    let write = plan.into_write(actor, key, &outcome)?;
    if mode == Mode::Preview {
        return previewed(app, &write).await;
    }
    store.commit_action(&write).await?;
    tracing::info!(task = %id, kind = %task.kind, action = action.name(), actor = %actor.caller.name, "task resolved");
    Ok(Ran::Committed(Box::new(outcome)))
}

/// `mark_sent` on a request's task (policy: "Email support ... specify the billing period or
/// transaction IDs, provide any required business information"): the invoice is made from the
/// ledger, numbered, kept, and sent as a PDF (and HTML) attachment to the account, all in one
/// transaction with the task, the workflow step, the audit entry and the kept answer. The
/// number is the counter's next; when a concurrent issue took it first the invoice is made
/// again with the one after (nothing was written). A request that has its invoice reuses it.
async fn send_invoice(
    app: &App,
    actor: &Actor<'_>,
    plan: Plan,
    request: crate::store::InvoiceRequestRecord,
    note: &str,
    key: Option<&IdempotencyKey>,
    mode: Mode,
) -> Result<Ran, ResolveError> {
    let store = app.store.as_ref();
    if let Some(why) = moved_on(app, &plan.task).await? {
        return Err(obsolete(app, &plan.task, why).await);
    }
    let instance =
        store.instance(request.id).await?.ok_or(StoreError::NotFound(format!("invoice request {}", request.id)))?;
    let existing = store.invoice_for_request(request.id).await?;
    for _ in 0..MAX_NUMBER_RACES {
        let (invoice, fresh) = match &existing {
            Some(i) => (i.clone(), false),
            None => {
                let number = store.last_invoice_number().await? + 1;
                let built = super::invoices::build(app, &request, number, &actor.caller.name, actor.now).await;
                (
                    built.map_err(|e| match e {
                        super::invoices::IssueError::Refused(m) => ResolveError::Refused(m),
                        super::invoices::IssueError::Store(s) => ResolveError::Store(s),
                    })?,
                    true,
                )
            }
        };
        let doc = super::invoices::document(&invoice)?;
        let files = [
            crate::email::message::Attachment {
                filename: format!("{}.pdf", doc.number_text),
                content_type: "application/pdf".into(),
                bytes: invoice.pdf.clone(),
            },
            crate::email::message::Attachment {
                filename: format!("{}.html", doc.number_text),
                content_type: "text/html; charset=utf-8".into(),
                bytes: invoice.html.clone().into_bytes(),
            },
        ];
        let fire = Fire::new(request.id, "invoice_sent", &actor.caller.name)
            .data("reference", &request.reference)
            .data("account_email", &request.account_email)
            .data("invoice_number", &doc.number_text)
            .data("amount_cents", doc.total_cents)
            .data("period", &doc.covers)
            .data("attachments", files.iter().map(|f| f.to_payload()).collect::<Vec<_>>());
        let mut step = plan.clone();
        step.transition = Some(app.workflow.plan(&mut Cursor::from(&instance), &fire)?.0);
        step.details["invoice_number"] = json!(invoice.number);
        step.details["invoice"] = json!(doc.number_text);
        step.detail = json!({
            "invoice": doc.number_text,
            "invoice_number": invoice.number,
            "total_cents": doc.total_cents,
            "covers": doc.covers,
            "note": note,
        });
        let outcome = step.outcome();
        let issue = crate::store::InvoiceIssue {
            invoice: fresh.then_some(invoice.clone()),
            action: step.into_write(actor, key, &outcome)?,
        };
        if mode == Mode::Preview {
            return previewed(app, &issue.action).await;
        }
        match store.issue_invoice(&issue).await {
            Ok(()) => {
                tracing::info!(invoice = %doc.number_text, request = %request.reference, actor = %actor.caller.name, "invoice issued");
                return Ok(Ran::Committed(Box::new(outcome)));
            }
            Err(StoreError::Conflict { expected, actual }) if fresh => {
                // The task moved (another reviewer finished it): that is the caller's conflict.
                let task = store.task(plan.task.id).await?;
                if task.is_none_or(|t| t.version != plan.task.version) {
                    return Err(
                        StoreError::Conflict { expected: plan.task.version, actual: plan.task.version + 1 }.into()
                    );
                }
                // Another issue took this number: the counter moved, so make it again with the next.
                if store.last_invoice_number().await? == invoice.number - 1 {
                    return Err(StoreError::Conflict { expected, actual }.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ResolveError::Refused("invoice numbering is busy: try again".into()))
}

/// How often one `mark_sent` makes its invoice again because others took the number first.
const MAX_NUMBER_RACES: usize = 200;

/// The increase a limit-increase or deposit task is about, its line and its instance, while
/// it is still waiting for a reviewer; otherwise the task is closed as obsolete.
async fn open_increase(
    app: &App,
    task: &TaskRecord,
) -> Result<(crate::store::IncreaseRecord, crate::store::CreditLineRecord, Cursor), ResolveError> {
    let store = app.store.as_ref();
    let subject = task.subject_id.ok_or_else(|| StoreError::Corrupt(format!("task {}: no subject", task.id)))?;
    let (increase, _) =
        store.increase(subject).await?.ok_or_else(|| StoreError::Corrupt(format!("task {}: no increase", task.id)))?;
    let instance = store.instance(subject).await?.ok_or(StoreError::NotFound(format!("instance {subject}")))?;
    let line = store
        .credit_line(increase.line_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("increase {subject}: no credit line")))?;
    if instance.state != limit_increase::PENDING_REVIEW {
        let why = format!("the limit increase is {}, not waiting for a reviewer", instance.state);
        return Err(obsolete(app, task, why).await);
    }
    if let Some(why) = escalation::line_moved(&increase, &line) {
        // The increase cannot stand as assessed: it closes (with its email) and so does this.
        escalation::close_increase(app, &increase, &line, &why).await?;
        return Err(obsolete(app, task, why).await);
    }
    Ok((increase, line, Cursor::from(&instance)))
}

/// Why an open task's subject no longer waits for it (an increase or application decided,
/// closed or timed out by another path), if it moved on.
pub async fn moved_on(app: &App, task: &TaskRecord) -> Result<Option<String>, StoreError> {
    let waits: &[&str] = match task.kind.parse::<TaskKind>() {
        Ok(TaskKind::LimitIncreaseReview | TaskKind::DepositConfirmation) => &[limit_increase::PENDING_REVIEW],
        Ok(TaskKind::ApplicationReview) => &[application::PENDING_REVIEW, application::AWAITING_SECOND_APPROVAL],
        Ok(TaskKind::AwsLoginReview) => &[aws_login::UNDER_REVIEW],
        // Only a request's own task (the legacy ones have no subject).
        Ok(TaskKind::InvoiceRequest) => &[invoice_request::PENDING_REVIEW],
        _ => return Ok(None),
    };
    if !task_state::WAITING.contains(&task.state.as_str()) {
        return Ok(None);
    }
    let Some(subject) = task.subject_id else { return Ok(None) };
    let Some(instance) = app.store.instance(subject).await? else { return Ok(None) };
    Ok((!waits.contains(&instance.state.as_str())).then(|| {
        format!("its {} is {}, no longer waiting for this task", instance.workflow.replace('_', " "), instance.state)
    }))
}

/// The task as it is now: one whose subject moved on is closed as `obsolete` first (so a
/// reader never sees a task that can no longer be finished as open).
pub async fn settled(app: &App, task: TaskRecord) -> Result<TaskRecord, StoreError> {
    let Some(why) = moved_on(app, &task).await? else { return Ok(task) };
    match obsolete(app, &task, why).await {
        ResolveError::Store(e) => Err(e),
        _ => Ok(app.store.task(task.id).await?.unwrap_or(task)),
    }
}

/// Closes `task` as obsolete (recorded in the audit log) and answers why.
pub async fn obsolete(app: &App, task: &TaskRecord, why: String) -> ResolveError {
    let entry = AuditRecord {
        id: uuid::Uuid::now_v7(),
        actor: "system:tasks".into(),
        action: "task.obsolete".into(),
        target: format!("task:{}", task.id),
        version_before: Some(task.version),
        version_after: Some(task.version + 1),
        request_id: String::new(),
        detail: json!({ "reason": why }),
        at: app.workflow.clock().now(),
    };
    let mut details = task.details.clone();
    details["obsolete_reason"] = json!(why);
    let write = ActionWrite {
        task: Some(TaskUpdate {
            id: task.id,
            expected_version: task.version,
            state: task_state::OBSOLETE.into(),
            assignee: task.assignee.clone(),
            claimed_at: task.claimed_at,
            details,
        }),
        workflow: WorkflowChanges::default(),
        credit_line: None,
        audit: entry,
        idempotency: None,
    };
    match app.store.commit_action(&write).await {
        // Someone else closed it first: the answer is the same.
        Ok(()) | Err(StoreError::Conflict { .. }) => ResolveError::Obsolete(task.id, why),
        Err(e) => e.into(),
    }
}

/// AWS login (policy: "Users apply for AWS login first"): approved, or declined with a reason
/// for the account (Google/GitHub login and prepaid stay available). Returns the notes for the
/// review tasks of the applications that wait for it (written in the same transaction).
async fn aws_login(
    app: &App,
    actor: &Actor<'_>,
    plan: &mut Plan,
    action: &TaskAction,
) -> Result<Vec<TaskUpdate>, ResolveError> {
    let task = plan.task.clone();
    if let Some(why) = moved_on(app, &task).await? {
        return Err(obsolete(app, &task, why).await);
    }
    let subject = task.subject_id.ok_or_else(|| StoreError::Corrupt(format!("task {}: no subject", task.id)))?;
    let instance = app.store.instance(subject).await?.ok_or(StoreError::NotFound(format!("instance {subject}")))?;
    let mut fire = match action {
        TaskAction::Decline { reason } => {
            Fire::new(subject, "decline", &actor.caller.name).reason(reason).data("message", reason)
        }
        _ => Fire::new(subject, "approve", &actor.caller.name),
    };
    // The applicant is greeted by the name their request gave (kept with the task).
    if let Some(name) = task.details.get("name").and_then(Value::as_str) {
        fire = fire.data("name", name);
    }
    let transition = app.workflow.plan(&mut Cursor::from(&instance), &fire)?.0;
    let store = app.store.as_ref();
    let notes =
        super::aws_login::review_notes(store, &instance, &transition.to_state, &actor.caller.name, actor.now).await?;
    let applications = super::aws_login::linked_applications(store, &instance).await?;
    plan.transition = Some(transition);
    plan.detail = json!({ "aws_login": subject, "event": fire.event, "applications": applications });
    Ok(notes)
}

/// Approving an increase (or confirming its deposit): below `four_eyes_from_cents` one
/// reviewer raises the limit; at or above it the first approval waits for a second, from a
/// different senior reviewer. The limit is raised by [`escalation::approve`].
async fn increase_approve(
    app: &App,
    actor: &Actor<'_>,
    plan: &mut Plan,
    second: bool,
    note: &Option<String>,
) -> Result<(), ResolveError> {
    let (increase, _, _) = open_increase(app, &plan.task).await?;
    let four_eyes = increase.next_limit_cents >= app.config.four_eyes_from_cents;
    if second {
        let first = plan.details["first_approval"]["by"].as_str().unwrap_or_default().to_string();
        if actor.caller.role != Role::SeniorReviewer {
            return Err(ResolveError::Forbidden(
                "this increase awaits a second approval: only a senior reviewer decides it now".into(),
            ));
        }
        if first == actor.caller.name {
            return Err(ResolveError::Forbidden(
                "four-eyes: the second approval must come from a different senior reviewer than the first".into(),
            ));
        }
    } else if four_eyes {
        plan.state = task_state::AWAITING_SECOND_APPROVAL.into();
        plan.assignee = None;
        plan.details["first_approval"] = json!({ "by": actor.caller.name, "at": actor.now, "note": note });
        plan.detail = json!({
            "increase": increase.id, "next_limit_cents": increase.next_limit_cents, "four_eyes": true, "note": note,
        });
        return Ok(());
    }
    let approval = escalation::approve(app, increase.id, &actor.caller.name).await?;
    if approval.state != limit_increase::APPROVED {
        let why = approval.reason.unwrap_or_else(|| "the increase was closed".into());
        return Err(obsolete(app, &plan.task, why).await);
    }
    plan.detail = json!({
        "increase": increase.id,
        "limit_cents_before": increase.current_limit_cents,
        "limit_cents_after": increase.next_limit_cents,
        "limit_after": Money::from_cents(increase.next_limit_cents).to_string(),
        "second_approval": second,
        "note": note,
    });
    Ok(())
}

/// What finishing a task writes, gathered before its transaction.
#[derive(Clone)]
struct Plan {
    task: TaskRecord,
    action: ActionName,
    state: String,
    assignee: Option<String>,
    details: Value,
    detail: Value,
    transition: Option<TransitionWrite>,
    now: chrono::DateTime<chrono::Utc>,
}

impl Plan {
    fn new(actor: &Actor<'_>, task: &TaskRecord, action: &TaskAction) -> Plan {
        Plan {
            task: task.clone(),
            action: action.kind(),
            state: task_state::DONE.into(),
            // Finishing takes the task: the history shows who did it.
            assignee: Some(actor.caller.name.clone()),
            details: task.details.clone(),
            detail: Value::Null,
            transition: None,
            now: actor.now,
        }
    }

    fn next_task(&self) -> TaskRecord {
        let mut t = self.task.clone();
        t.state = self.state.clone();
        if t.assignee != self.assignee {
            t.claimed_at = self.assignee.as_ref().map(|_| self.now);
        }
        t.assignee = self.assignee.clone();
        t.details = self.details.clone();
        t.version += 1;
        t
    }

    fn outcome(&self) -> Outcome<TaskActed> {
        Outcome::new(TaskActed {
            action: self.action,
            task: self.next_task(),
            event: self.transition.as_ref().map(EventStep::from),
            detail: self.detail.clone(),
        })
    }

    fn into_write(
        self,
        actor: &Actor<'_>,
        key: Option<&IdempotencyKey>,
        outcome: &Outcome<TaskActed>,
    ) -> Result<ActionWrite, StoreError> {
        let next = self.next_task();
        let audit = AuditRecord {
            id: uuid::Uuid::now_v7(),
            actor: actor.caller.name.clone(),
            action: format!("task.{}", self.action.as_str()),
            target: format!("task:{}", self.task.id),
            version_before: Some(self.task.version),
            version_after: Some(next.version),
            request_id: actor.request_id.to_string(),
            detail: json!({ "kind": self.task.kind, "task_state": next.state, "detail": self.detail }),
            at: actor.now,
        };
        Ok(ActionWrite {
            task: Some(TaskUpdate {
                id: next.id,
                expected_version: self.task.version,
                state: next.state.clone(),
                assignee: next.assignee.clone(),
                claimed_at: next.claimed_at,
                details: next.details.clone(),
            }),
            workflow: WorkflowChanges { steps: self.transition.into_iter().collect(), ..WorkflowChanges::default() },
            credit_line: None,
            audit,
            idempotency: actions::record(actor, key, outcome)?,
        })
    }
}
