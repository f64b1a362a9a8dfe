//! Reviewer decisions on an application-review task: approve (four-eyes at and above a
//! configurable limit), decline, defer and request_info. Each is a workflow event the
//! engine must allow; the task, the workflow step with its event and email, the credit line
//! an approval opens, the audit entry and the idempotency record commit in one transaction.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::actions::{self, Actor, Answer, EventStep, IdempotencyKey, Outcome};
use crate::app::App;
use crate::domain::{ApplicationId, Money, Role, SubjectId, TaskId};
use crate::rules::DecisionRecord;
use crate::rules::inputs::InitialLimitInput;
use crate::rules::typed::InitialLimit;
use crate::services::workflow::{Cursor, Fire, ServiceError};
use crate::store::{
    ActionWrite, ApplicationRecord, AuditRecord, CreditLineRecord, CreditLineWrite, StoreError, TaskRecord, TaskUpdate,
    WorkflowChanges,
};
use crate::workflow::names::{application, credit_line, task_state};

/// The task kind reviewers decide on here; other kinds are worked elsewhere.
const REVIEW_TASK: &str = "application_review";

/// What a reviewer decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Approve {
        monthly_limit: Money,
        /// Required to approve above the rule's suggestion (senior reviewers only).
        override_reason: Option<String>,
        note: Option<String>,
    },
    Decline {
        reason_code: String,
        /// Shown to the applicant in the decline email.
        message: String,
    },
    Defer {
        until: Option<NaiveDate>,
        condition: Option<String>,
        reason: String,
    },
    RequestInfo {
        items: Vec<String>,
        message: Option<String>,
    },
}

impl Decision {
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Approve { .. } => "approve",
            Decision::Decline { .. } => "decline",
            Decision::Defer { .. } => "defer",
            Decision::RequestInfo { .. } => "request_info",
        }
    }
}

/// Why an application is declined (stable codes for reports and re-review).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    BusinessNotVerified,
    WebsiteNotOwned,
    AwsHistoryInsufficient,
    NoProduct,
    LimitNotJustified,
    IncompleteMaterials,
    Other,
}

impl DeclineReason {
    pub const ALL: [DeclineReason; 7] = [
        DeclineReason::BusinessNotVerified,
        DeclineReason::WebsiteNotOwned,
        DeclineReason::AwsHistoryInsufficient,
        DeclineReason::NoProduct,
        DeclineReason::LimitNotJustified,
        DeclineReason::IncompleteMaterials,
        DeclineReason::Other,
    ];

    /// The code from its name, as a form sends it.
    pub fn parse(code: &str) -> Option<DeclineReason> {
        DeclineReason::ALL.into_iter().find(|r| r.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::BusinessNotVerified => "business_not_verified",
            DeclineReason::WebsiteNotOwned => "website_not_owned",
            DeclineReason::AwsHistoryInsufficient => "aws_history_insufficient",
            DeclineReason::NoProduct => "no_product",
            DeclineReason::LimitNotJustified => "limit_not_justified",
            DeclineReason::IncompleteMaterials => "incomplete_materials",
            DeclineReason::Other => "other",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no task {0}")]
    TaskNotFound(TaskId),
    #[error("task {0} is {1}: it takes no more decisions")]
    TaskClosed(TaskId, String),
    #[error("task {id} is claimed by {assignee}")]
    ClaimedByOther { id: TaskId, assignee: String },
    #[error("task {0} is a {1} task; decisions are taken on application_review tasks")]
    NotReviewable(TaskId, String),
    #[error("the application of task {0} is {1}, not waiting for a decision")]
    ApplicationMoved(TaskId, String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Refused(String),
    /// The account already has a line, or owes on a closed one (`code` says which).
    #[error("{1}")]
    LineRefused(&'static str, String),
    /// The application applies through AWS login, which is not approved (yet): `code` is
    /// `aws_login_pending` or `aws_login_declined`.
    #[error("{1}")]
    AwsLoginNotApproved(&'static str, String),
    #[error(transparent)]
    Replay(#[from] actions::ActionError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DecisionError {
    pub fn code(&self) -> &'static str {
        match self {
            DecisionError::TaskNotFound(_) => "not_found",
            DecisionError::TaskClosed(..) => "task_closed",
            DecisionError::ClaimedByOther { .. } => "already_claimed",
            DecisionError::NotReviewable(..) => "not_reviewable",
            DecisionError::ApplicationMoved(..) => "application_moved",
            DecisionError::Forbidden(_) => "decision_forbidden",
            DecisionError::Refused(_) => "decision_refused",
            DecisionError::LineRefused(code, _) => code,
            DecisionError::AwsLoginNotApproved(code, _) => code,
            DecisionError::Replay(e) => e.code(),
            DecisionError::Service(_) | DecisionError::Store(_) => "internal",
        }
    }
}

/// A decision's answer (an `Idempotency-Key` replay sends the same again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decided {
    /// approve, decline, defer or request_info.
    pub decision: String,
    /// The task as it now is: `done`, or `awaiting_second_approval` after a first approval.
    pub task: TaskRecord,
    pub application: ApplicationStep,
    /// The workflow event the decision fired.
    pub event: Option<EventStep>,
    /// The line an approval opened (not after a first approval that awaits its second).
    pub credit_line: Option<CreditLineRecord>,
}

impl Answer for Decided {
    fn version(&self) -> Option<i64> {
        Some(self.task.version)
    }
}

/// Where a decision left the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApplicationStep {
    pub id: ApplicationId,
    pub reference: String,
    pub state: String,
    pub version: i64,
}

/// A first approval waiting for its second, as kept in the task's details.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct FirstApproval {
    by: String,
    monthly_limit_cents: i64,
    decision_id: crate::domain::DecisionId,
    override_reason: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
}

/// Decides on a task. `expected` is the task version the reviewer saw (If-Match or the
/// body's `version`); the same idempotency key again returns the first answer.
pub async fn decide(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    decision: Decision,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome<Decided>, DecisionError> {
    // A concurrent request with the same key waits for it, or finds its kept answer.
    actions::once(app, actor, key, || plan_and_write(app, actor, id, expected, &decision, key)).await
}

/// The emails `decision` would send, rendered, without taking it: the same checks and the
/// same plan as [`decide`], stopped before the write. A decision that would be refused is
/// refused here with the same error.
pub async fn preview(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    decision: &Decision,
) -> Result<Vec<super::previews::EmailPreview>, DecisionError> {
    let (plan, instance) = plan(app, actor, id, expected, decision).await?;
    let outcome = plan.outcome(decision.name(), &instance);
    let write = plan.into_write(actor, decision.name(), &instance, None, &outcome)?;
    Ok(super::previews::emails(app, &write.workflow).await?)
}

async fn plan_and_write(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    decision: &Decision,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome<Decided>, DecisionError> {
    let (plan, instance) = plan(app, actor, id, expected, decision).await?;
    let application = plan.application.clone();
    let outcome = plan.outcome(decision.name(), &instance);
    let write = plan.into_write(actor, decision.name(), &instance, key, &outcome)?;
    app.store.commit_action(&write).await.map_err(|e| {
        if super::standing::is_second_line(&e) {
            let why = format!("{} had another line approved at the same moment", application.account_email);
            DecisionError::LineRefused("line_exists", why)
        } else {
            e.into()
        }
    })?;
    tracing::info!(
        task = %id, application = %application.reference, decision = decision.name(),
        to = %outcome.body.application.state, actor = %actor.caller.name, "decision recorded"
    );
    Ok(outcome)
}

/// Everything a decision checks and plans, read from the store, before its one write.
async fn plan(
    app: &App,
    actor: &Actor<'_>,
    id: TaskId,
    expected: Option<i64>,
    decision: &Decision,
) -> Result<(Planned, crate::store::Instance), DecisionError> {
    let store = app.store.as_ref();
    let task = crate::services::tasks::at_version(store, id, expected).await?.ok_or(DecisionError::TaskNotFound(id))?;
    if task.kind != REVIEW_TASK {
        return Err(DecisionError::NotReviewable(id, task.kind));
    }
    let second = match task.state.as_str() {
        task_state::OPEN => false,
        task_state::AWAITING_SECOND_APPROVAL => true,
        other => return Err(DecisionError::TaskClosed(id, other.to_string())),
    };
    if let Some(a) = task.assignee.as_deref()
        && a != actor.caller.name
    {
        return Err(DecisionError::ClaimedByOther { id, assignee: a.to_string() });
    }
    let role = actor.caller.role;
    if !matches!(role, Role::Reviewer | Role::SeniorReviewer) {
        return Err(DecisionError::Forbidden(format!("a {} token cannot take review decisions", role.as_str())));
    }
    if second && role != Role::SeniorReviewer {
        return Err(DecisionError::Forbidden(
            "this application awaits a second approval: only a senior reviewer decides it now".into(),
        ));
    }
    let subject = task.subject_id.ok_or_else(|| DecisionError::NotReviewable(id, "subjectless".into()))?;
    let application = store
        .application(ApplicationId(subject.0))
        .await?
        .ok_or_else(|| DecisionError::NotReviewable(id, "application-less".into()))?;
    // The step is planned from this read of the instance, so its state is the one checked: a
    // decision that committed after the task was read shows here (409), not as a step the
    // engine refuses; one that commits after this read fails the write's version check (409).
    let instance = store.instance(subject).await?.ok_or(StoreError::NotFound(format!("instance {subject}")))?;
    let wanted = if second { application::AWAITING_SECOND_APPROVAL } else { application::PENDING_REVIEW };
    if instance.state != wanted {
        // Decided by another path: the task can never be finished, so it closes here.
        let why = format!("the application is {}, no longer waiting for this task", instance.state);
        if let super::task_actions::ResolveError::Store(e) = super::task_actions::obsolete(app, &task, why).await {
            return Err(e.into());
        }
        return Err(DecisionError::ApplicationMoved(id, instance.state));
    }
    let mut cursor = Cursor::from(&instance);
    let mut plan = Planned::new(actor, &task, &application);

    match decision {
        Decision::Approve { monthly_limit, override_reason, note } => {
            // One line per account, none while a closed line's bills are unpaid; checked on
            // the first approval too, so four-eyes never starts on a line that cannot open.
            let standing = super::standing::standing(app, &application.account_email).await?;
            if let (Some(code), Some(why)) = (standing.code(), standing.refusal(&application.account_email)) {
                return Err(DecisionError::LineRefused(code, why));
            }
            // Policy: "Users apply for AWS login first": an application made through AWS login
            // is reviewed separately, but approved only once that AWS login is (checked on the
            // first and the second approval).
            if super::aws_login::applies_through(store, application.id).await? {
                let login = super::aws_login::of_account(store, &application.account_email).await?;
                let state = login.as_ref().map(|i| i.state.as_str());
                if let Some((code, why)) = super::aws_login::approval_block(&application.account_email, state) {
                    return Err(DecisionError::AwsLoginNotApproved(code, why));
                }
            }
            if second {
                approve_second(app, actor, &mut plan, &mut cursor, *monthly_limit)?;
            } else {
                approve_first(app, actor, &mut plan, &mut cursor, *monthly_limit, override_reason, note).await?;
            }
        }
        Decision::Decline { reason_code, message } => {
            let fire =
                plan.fire("decline").reason(reason_code).data("reason_code", reason_code).data("message", message);
            plan.step(app, &mut cursor, fire, task_state::DONE)?;
            plan.detail = json!({ "reason_code": reason_code, "message": message });
        }
        Decision::Defer { until, condition, reason } => {
            if let Some(d) = until
                && *d <= actor.now.date_naive()
            {
                return Err(DecisionError::Refused(format!("until: {d} is not in the future")));
            }
            let fire = plan.fire("defer").reason(reason).data("until", until).data("condition", condition);
            plan.step(app, &mut cursor, fire, task_state::DONE)?;
            plan.detail = json!({ "reason": reason, "until": until, "condition": condition });
        }
        Decision::RequestInfo { items, message } => {
            // `missing` is what the materials email lists, as when intake asks.
            let fire = plan
                .fire("request_info")
                .reason("information requested by a reviewer")
                .data("missing", items)
                .data("message", message);
            plan.step(app, &mut cursor, fire, task_state::DONE)?;
            plan.detail = json!({ "items": items, "message": message });
        }
    }
    Ok((plan, instance))
}

/// The approval by the first reviewer: within the rule's suggestion (or above it with a
/// senior's reason); at the deposit tier it first waits for the guarantee (`awaiting_deposit`);
/// at or above the four-eyes limit it waits for a second senior reviewer instead of opening
/// the line.
async fn approve_first(
    app: &App,
    actor: &Actor<'_>,
    plan: &mut Planned,
    cursor: &mut Cursor,
    limit: Money,
    override_reason: &Option<String>,
    note: &Option<String>,
) -> Result<(), DecisionError> {
    let (suggestion, decision) = suggestion(app, &plan.application).await?;
    let suggested = match InitialLimit::try_from(&decode_record(app, &decision)?) {
        Ok(InitialLimit::Offer { limit }) => Some(limit),
        Ok(InitialLimit::ManualReview) => None,
        Ok(InitialLimit::NotAvailable) | Err(_) => {
            return Err(DecisionError::Refused(format!(
                "the initial_limit rule offers no credit line to this applicant ({}); they keep prepaid access",
                decision.reasons.join("; ")
            )));
        }
    };
    let above = suggested.is_none_or(|s| limit > s);
    if above {
        let shown = suggested.map(|s| s.to_string()).unwrap_or_else(|| "no suggestion".into());
        if actor.caller.role != Role::SeniorReviewer {
            return Err(DecisionError::Forbidden(format!(
                "monthly_limit: {limit}/month is above the rule's suggestion ({shown}); only a senior reviewer may override it"
            )));
        }
        if override_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(DecisionError::Refused(format!(
                "override_reason: required to approve {limit}/month above the rule's suggestion ({shown})"
            )));
        }
    }
    // The deposit tier (the rules' `data/deposit_tier.txt`): the line waits until a guarantee
    // of the limit is held, asking only for the shortfall (policy: "first deposit or top up the
    // corresponding amount as a guarantee"); once held, the application is decided again.
    let tier = app.rules.deposit_tier();
    let held = store_deposit(app, &plan.application.account_email).await?;
    if limit >= tier && held < limit.cents() {
        let asked = limit.cents() - held;
        plan.detail = json!({
            "monthly_limit_cents": limit.cents(),
            "suggested_limit_cents": suggested.map(Money::cents),
            "override_reason": override_reason,
            "note": note,
            "deposit_cents": asked,
            "guarantee_cents": limit.cents(),
        });
        let mut fire = plan
            .fire("deposit_required")
            .decision("initial_limit", &decision.outcome, decision.id)
            .reason(&format!("{limit}/month is at the deposit tier ({tier}): a guarantee of {limit} is held first"))
            .data("monthly_limit_cents", limit.cents())
            .data("deposit_cents", asked)
            .data("guarantee_cents", limit.cents())
            .data("deposit_tier_cents", tier.cents());
        if held > 0 {
            fire = fire.data("held_cents", held);
        }
        if suggestion == Suggestion::EvaluatedNow {
            plan.write_decisions.push(decision.clone());
        }
        return plan.step(app, cursor, fire, task_state::DONE);
    }
    let reason = override_reason.clone().or_else(|| note.clone());
    let four_eyes = limit.cents() >= app.config.four_eyes_from_cents;
    plan.detail = json!({
        "monthly_limit_cents": limit.cents(),
        "suggested_limit_cents": suggested.map(Money::cents),
        "override_reason": override_reason,
        "note": note,
        "four_eyes": four_eyes,
    });
    let mut fire = plan
        .fire(if four_eyes { "first_approval" } else { "approve" })
        .decision("initial_limit", &decision.outcome, decision.id)
        .data("monthly_limit_cents", limit.cents());
    if let Some(r) = &reason {
        fire = fire.reason(r);
    }
    if suggestion == Suggestion::EvaluatedNow {
        plan.write_decisions.push(decision.clone());
    }
    if four_eyes {
        plan.step(app, cursor, fire, task_state::AWAITING_SECOND_APPROVAL)?;
        plan.assignee = None;
        let first = FirstApproval {
            by: actor.caller.name.clone(),
            monthly_limit_cents: limit.cents(),
            decision_id: decision.id,
            override_reason: override_reason.clone(),
            at: actor.now,
        };
        plan.details["first_approval"] = serde_json::to_value(&first).unwrap_or(Value::Null);
    } else {
        plan.step(app, cursor, fire, task_state::DONE)?;
        open_line(app, plan, limit, &actor.caller.name, None)?;
    }
    Ok(())
}

/// The second approval: a different senior reviewer confirms the first approval's limit.
fn approve_second(
    app: &App,
    actor: &Actor<'_>,
    plan: &mut Planned,
    cursor: &mut Cursor,
    limit: Money,
) -> Result<(), DecisionError> {
    let first: FirstApproval = serde_json::from_value(plan.details["first_approval"].clone())
        .map_err(|e| StoreError::Corrupt(format!("task {}: first approval: {e}", plan.task.id)))?;
    if first.by == actor.caller.name {
        return Err(DecisionError::Forbidden(
            "four-eyes: the second approval must come from a different senior reviewer than the first".into(),
        ));
    }
    if limit.cents() != first.monthly_limit_cents {
        return Err(DecisionError::Refused(format!(
            "monthly_limit: the first approval was for {}/month; approve that amount, or decline and let it be decided again",
            Money::from_cents(first.monthly_limit_cents)
        )));
    }
    plan.detail =
        json!({ "monthly_limit_cents": limit.cents(), "first_approval_by": first.by, "second_approval": true });
    let fire = plan
        .fire("approve")
        .decision("initial_limit", "offer", first.decision_id)
        .reason(&format!("second approval of {}'s approval", first.by))
        .data("monthly_limit_cents", limit.cents());
    plan.step(app, cursor, fire, task_state::DONE)?;
    open_line(app, plan, limit, &first.by, Some(&actor.caller.name))
}

/// The deposit `account` holds as a guarantee.
async fn store_deposit(app: &App, account: &str) -> Result<i64, DecisionError> {
    Ok(app.store.balances(account).await?.deposit_cents)
}

/// The credit line an approval opens: its own workflow instance and row.
fn open_line(
    app: &App,
    plan: &mut Planned,
    limit: Money,
    approved_by: &str,
    second: Option<&str>,
) -> Result<(), DecisionError> {
    let id = SubjectId::new();
    let account = plan.application.account_email.clone();
    let (instance, _) = app.workflow.plan_start(credit_line::WORKFLOW, id, Some(&account), approved_by)?;
    plan.new_instance = Some(instance);
    plan.credit_line = Some(CreditLineWrite {
        id,
        account_email: account,
        application_id: plan.application.id,
        monthly_limit_cents: limit.cents(),
        approved_by: approved_by.to_string(),
        second_approver: second.map(str::to_string),
    });
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suggestion {
    Recorded,
    EvaluatedNow,
}

/// The latest `initial_limit` decision about the application, or a new one from what is
/// known about it (applications that reached review without one, e.g. by triage).
/// The monthly limit the `initial_limit` rule suggests for an application (what a reviewer
/// may approve without a senior's override); `None` when it leaves the limit to a person or
/// offers no line.
pub async fn suggested_limit(app: &App, a: &ApplicationRecord) -> Result<Option<Money>, DecisionError> {
    let (_, decision) = suggestion(app, a).await?;
    Ok(match InitialLimit::try_from(&decode_record(app, &decision)?) {
        Ok(InitialLimit::Offer { limit }) => Some(limit),
        _ => None,
    })
}

async fn suggestion(app: &App, a: &ApplicationRecord) -> Result<(Suggestion, DecisionRecord), DecisionError> {
    let decisions = app.store.decisions_for(a.id.into()).await?;
    if let Some(d) = decisions.iter().rev().find(|d| d.rule == "initial_limit") {
        return Ok((Suggestion::Recorded, d.clone()));
    }
    let latest =
        |rule: &str| decisions.iter().rev().find(|d| d.rule == rule).map(|d| d.outcome.clone()).unwrap_or_default();
    let fields = app.store.application_fields(a.id).await?;
    let field_cents = |name: &str| {
        fields.iter().rev().find(|f| f.field == name).and_then(|f| f.value.parse::<i64>().ok()).unwrap_or(0)
    };
    let input = InitialLimitInput {
        applicant_type: a.applicant_kind.clone().unwrap_or_default(),
        requested_limit_cents: a.requested_limit_cents.unwrap_or_else(|| field_cents("requested_limit_cents")),
        expected_monthly_spend_cents: field_cents("expected_monthly_spend_cents"),
        business_verification: latest("business_verification"),
        aws_history: latest("aws_history"),
    };
    let (_, record) = app.rules.evaluate_async("initial_limit", &input, Some(a.id.into())).await;
    Ok((Suggestion::EvaluatedNow, record))
}

/// A failed evaluation stays manual review, whatever output it recorded (an out-of-range
/// offer is kept for the audit, never suggested).
fn decode_record(app: &App, d: &DecisionRecord) -> Result<crate::rules::decision::Decision, DecisionError> {
    d.decision(app.config.rules.max_limit_cents)
        .map_err(|e| StoreError::Corrupt(format!("decision {}: {e}", d.id)).into())
}

/// What a decision will write, gathered before the one transaction.
struct Planned {
    task: TaskRecord,
    application: ApplicationRecord,
    actor: String,
    transition: Option<crate::store::TransitionWrite>,
    next_task_state: String,
    assignee: Option<String>,
    details: Value,
    detail: Value,
    new_instance: Option<crate::store::NewInstance>,
    credit_line: Option<CreditLineWrite>,
    write_decisions: Vec<DecisionRecord>,
    fired: Option<crate::services::Fired>,
    now: chrono::DateTime<chrono::Utc>,
}

impl Planned {
    fn new(actor: &Actor<'_>, task: &TaskRecord, application: &ApplicationRecord) -> Planned {
        Planned {
            task: task.clone(),
            application: application.clone(),
            actor: actor.caller.name.clone(),
            transition: None,
            next_task_state: task.state.clone(),
            // Deciding takes the task: the history shows who decided.
            assignee: Some(actor.caller.name.clone()),
            details: task.details.clone(),
            detail: Value::Null,
            new_instance: None,
            credit_line: None,
            write_decisions: Vec::new(),
            fired: None,
            now: actor.now,
        }
    }

    fn fire(&self, event: &str) -> Fire {
        Fire::new(self.application.id, event, &self.actor).data("reference", &self.application.reference)
    }

    /// Lets the engine decide the step (a transition it does not allow is an error here,
    /// before anything is written).
    fn step(&mut self, app: &App, cursor: &mut Cursor, fire: Fire, next_task_state: &str) -> Result<(), DecisionError> {
        let (write, fired) = app.workflow.plan(cursor, &fire)?;
        self.transition = Some(write);
        self.fired = Some(fired);
        self.next_task_state = next_task_state.to_string();
        Ok(())
    }

    fn next_task(&self) -> TaskRecord {
        let mut t = self.task.clone();
        t.state = self.next_task_state.clone();
        if t.assignee != self.assignee {
            t.claimed_at = self.assignee.as_ref().map(|_| self.now);
        }
        t.assignee = self.assignee.clone();
        t.details = self.details.clone();
        t.version += 1;
        t
    }

    /// The response: the task as it now is, where the application went, the event and the
    /// line an approval opened.
    fn outcome(&self, decision: &str, instance: &crate::store::Instance) -> Outcome<Decided> {
        let fired = self.fired.as_ref();
        let line = self.credit_line.as_ref().map(|l| CreditLineRecord {
            id: l.id,
            account_email: l.account_email.clone(),
            application_id: l.application_id,
            monthly_limit_cents: l.monthly_limit_cents,
            approved_by: l.approved_by.clone(),
            second_approver: l.second_approver.clone(),
            state: credit_line::ACTIVE.into(),
            version: 1,
            opened_at: self.now,
            updated_at: self.now,
        });
        Outcome::new(Decided {
            decision: decision.to_string(),
            task: self.next_task(),
            // Every decision takes a step; were there none, the application is where it was.
            application: ApplicationStep {
                id: self.application.id,
                reference: self.application.reference.clone(),
                state: fired.map_or_else(|| instance.state.clone(), |f| f.to.clone()),
                version: fired.map_or(instance.version, |f| f.version),
            },
            event: self.transition.as_ref().map(EventStep::from),
            credit_line: line,
        })
    }

    fn into_write(
        self,
        actor: &Actor<'_>,
        decision: &str,
        instance: &crate::store::Instance,
        key: Option<&IdempotencyKey>,
        outcome: &Outcome<Decided>,
    ) -> Result<ActionWrite, DecisionError> {
        let next = self.next_task();
        let mut detail = json!({
            "task": self.task.id,
            "task_version_before": self.task.version,
            "task_version_after": next.version,
            "task_state": next.state,
        });
        if let (Some(o), Value::Object(extra)) = (detail.as_object_mut(), &self.detail) {
            o.extend(extra.clone());
        }
        let fired = self.fired.as_ref();
        let audit = AuditRecord {
            id: uuid::Uuid::now_v7(),
            actor: actor.caller.name.clone(),
            action: format!("application.{}", self.transition.as_ref().map_or(decision, |t| t.event.as_str())),
            target: format!("application:{}", self.application.id),
            version_before: Some(instance.version),
            version_after: fired.map(|f| f.version),
            request_id: actor.request_id.to_string(),
            detail,
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
            workflow: WorkflowChanges {
                opened: self.new_instance.into_iter().collect(),
                steps: self.transition.into_iter().collect(),
                decisions: self.write_decisions,
            },
            credit_line: self.credit_line,
            audit,
            idempotency: actions::record(actor, key, outcome)?,
        })
    }
}
