//! What every API mutation shares: who acts, the answer it gives, and `Idempotency-Key`
//! replays (the answer is kept in the mutation's own transaction, so a retried request
//! gets the first answer and causes nothing twice). Also the admin's hand-posted workflow
//! event, which goes through the same engine as everything else.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

pub use super::tasks::Actor;
use crate::app::App;
use crate::domain::{ApplicationId, EventId, SubjectId};
use crate::email::context::context;
pub use crate::services::in_flight::{InFlight, Turn};
use crate::services::workflow::{Cursor, Fire, ServiceError};
use crate::store::{
    ActionWrite, AuditRecord, IdempotentResponse, Instance, Store, StoreError, TransitionWrite, WorkflowChanges,
};
use crate::workflow::names;

/// A client's idempotency key and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// A mutation's answer: what the HTTP adapter sends, and what a replay sends again.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<T> {
    pub status: u16,
    /// The version of the changed resource, for the next If-Match.
    pub etag: Option<i64>,
    pub body: T,
    /// True when this is a kept answer sent again.
    pub replayed: bool,
}

/// A mutation's typed answer. It is kept as JSON with its idempotency key and read back
/// into the same type for a replay, so a replay answers what the first request did.
pub trait Answer: Serialize + DeserializeOwned {
    /// The version of the changed resource, for the next If-Match.
    fn version(&self) -> Option<i64>;
}

impl<T: Answer> Outcome<T> {
    /// A first answer (200).
    pub fn new(body: T) -> Outcome<T> {
        Outcome { status: 200, etag: body.version(), body, replayed: false }
    }
}

/// The workflow step a mutation took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventStep {
    pub id: EventId,
    pub event: String,
    pub from: String,
    pub to: String,
}

impl From<&TransitionWrite> for EventStep {
    fn from(t: &TransitionWrite) -> EventStep {
        EventStep { id: t.event_id, event: t.event.clone(), from: t.from_state.clone(), to: t.to_state.clone() }
    }
}

/// Where a hand-posted event left its workflow instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceStep {
    pub id: SubjectId,
    pub workflow: String,
    pub state: String,
    pub version: i64,
}

/// The answer to a hand-posted event (an `Idempotency-Key` replay sends the same again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPosted {
    pub instance: InstanceStep,
    pub event: EventStep,
    /// The effects the step queued, e.g. `email:line_restored`.
    pub effects: Vec<String>,
}

impl Answer for EventPosted {
    fn version(&self) -> Option<i64> {
        Some(self.instance.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("Idempotency-Key {0:?} was already used for a different request")]
    KeyReused(String),
    #[error("a request with Idempotency-Key {0:?} is still being processed; retry for its answer")]
    InProgress(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::services::in_flight::Busy> for ActionError {
    fn from(busy: crate::services::in_flight::Busy) -> Self {
        ActionError::InProgress(busy.0)
    }
}

impl ActionError {
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::KeyReused(_) => "idempotency_key_reused",
            ActionError::InProgress(_) => "idempotency_in_progress",
            ActionError::Store(_) => "internal",
        }
    }
}

/// How long a request waits for another one with its key to finish before it answers
/// `idempotency_in_progress`. A decision takes milliseconds; this only bounds a stuck one.
pub const IN_PROGRESS_WAIT: Duration = Duration::from_secs(10);

/// The kept answer for this caller's key, if the key was used before with the same request.
pub async fn replay<T: Answer>(
    store: &dyn Store,
    actor: &Actor<'_>,
    key: Option<&IdempotencyKey>,
) -> Result<Option<Outcome<T>>, ActionError> {
    let Some(k) = key else { return Ok(None) };
    let Some(kept) = store.idempotent_response(&actor.caller.name, &k.key).await? else { return Ok(None) };
    if kept.request_hash != k.request_hash {
        return Err(ActionError::KeyReused(k.key.clone()));
    }
    // The same request came to the same endpoint, whose answer has this type.
    let body: T = serde_json::from_value(kept.response)
        .map_err(|e| StoreError::Corrupt(format!("the answer kept for Idempotency-Key {:?}: {e}", k.key)))?;
    Ok(Some(Outcome { status: kept.status, etag: body.version(), body, replayed: true }))
}

/// The row that keeps `outcome` for the key, written with the mutation.
pub fn record<T: Answer>(
    actor: &Actor<'_>,
    key: Option<&IdempotencyKey>,
    outcome: &Outcome<T>,
) -> Result<Option<IdempotentResponse>, StoreError> {
    let Some(k) = key else { return Ok(None) };
    let response = serde_json::to_value(&outcome.body)
        .map_err(|e| StoreError::Corrupt(format!("the answer for Idempotency-Key {:?}: {e}", k.key)))?;
    Ok(Some(IdempotentResponse {
        caller: actor.caller.name.clone(),
        key: k.key.clone(),
        request_hash: k.request_hash.clone(),
        status: outcome.status,
        response,
        created_at: actor.now,
    }))
}

/// Runs `mutation` once for its idempotency key: waits for this process's other requests
/// with the key (up to [`IN_PROGRESS_WAIT`], then `InProgress`), replays a kept answer,
/// else runs it and settles the result.
pub async fn once<T, E, Fut>(
    app: &App,
    actor: &Actor<'_>,
    key: Option<&IdempotencyKey>,
    mutation: impl FnOnce() -> Fut,
) -> Result<Outcome<T>, E>
where
    T: Answer,
    E: From<ActionError>,
    Fut: std::future::Future<Output = Result<Outcome<T>, E>>,
{
    let _turn = match key {
        Some(k) => {
            Some(app.idempotency.enter(&actor.caller.name, &k.key, IN_PROGRESS_WAIT).await.map_err(ActionError::from)?)
        }
        None => None,
    };
    let store = app.store.as_ref();
    if let Some(done) = replay(store, actor, key).await? {
        return Ok(done);
    }
    let result = mutation().await;
    settle(store, actor, key, result).await
}

/// Settles `result`. A failure with a key whose answer is kept by now lost to a request with
/// the same key (in another process, or one that committed between our replay check and our
/// read: then we saw its effect as "task closed" or "application moved"): the answer is the
/// winner's, never that failure.
pub async fn settle<T, E>(
    store: &dyn Store,
    actor: &Actor<'_>,
    key: Option<&IdempotencyKey>,
    result: Result<Outcome<T>, E>,
) -> Result<Outcome<T>, E>
where
    T: Answer,
    E: From<ActionError>,
{
    match result {
        Err(e) if key.is_some() => match replay(store, actor, key).await? {
            Some(done) => Ok(done),
            None => Err(e),
        },
        other => other,
    }
}

/// An event posted by hand (a payment confirmed by bank transfer, a withdrawal by phone).
#[derive(Debug, Clone)]
pub struct ManualEvent {
    pub subject: SubjectId,
    pub event: String,
    pub reason: String,
    pub expected_version: Option<i64>,
    pub data: serde_json::Map<String, Value>,
}

/// The one fact a hand-posted event may add: a note for the applicant, shown in its email
/// where the template has a message. Recipients, amounts and references are never taken
/// from the request: they come from the records.
pub const MANUAL_DATA: &[&str] = &["message"];

/// The longest `message` a hand-posted event may carry (as a reviewer's decline message).
const MAX_MESSAGE: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("no workflow instance {0}")]
    NotFound(SubjectId),
    /// A `data` key a hand-posted event may not carry, or a bad value (names the key).
    #[error("data.{key}: {problem}")]
    Data { key: String, problem: String },
    /// The step's email needs facts only the system's own records carry (a bill's amount
    /// and due date, ...): the event is the system's to fire.
    #[error("{event} cannot be posted by hand: {detail}")]
    SystemEvent { event: String, detail: String },
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Posts `e` through the workflow engine, as the admin: state, event, effects, audit entry
/// and kept answer in one transaction. Guarded transitions still need their rule decision,
/// which a hand-posted event cannot supply.
pub async fn post_event(
    app: &App,
    actor: &Actor<'_>,
    e: ManualEvent,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome<EventPosted>, EventError> {
    check_data(&e.data)?;
    once(app, actor, key, || write_event(app, actor, &e, key)).await
}

fn check_data(data: &serde_json::Map<String, Value>) -> Result<(), EventError> {
    let refuse = |key: &str, problem: String| Err(EventError::Data { key: key.to_string(), problem });
    for (key, value) in data {
        if !MANUAL_DATA.contains(&key.as_str()) {
            return refuse(
                key,
                format!(
                    "not accepted on a hand-posted event: recipients, amounts and references come from the \
                     records (allowed: {})",
                    MANUAL_DATA.join(", ")
                ),
            );
        }
        match value.as_str() {
            Some(v) if v.trim().is_empty() => return refuse(key, "must not be blank".into()),
            Some(v) if v.chars().count() > MAX_MESSAGE => {
                return refuse(key, format!("at most {MAX_MESSAGE} characters"));
            }
            Some(_) => {}
            None => return refuse(key, "must be a string".into()),
        }
    }
    Ok(())
}

/// The facts of the subject's own record its emails quote (a line's limit, ...): a
/// hand-posted step says what the records say, as the system's own steps do.
async fn record_facts(
    app: &App,
    instance: &Instance,
    event: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Map<String, Value>, EventError> {
    let mut facts = serde_json::Map::new();
    match instance.subject_kind.as_str() {
        names::credit_line::WORKFLOW => {
            if let Some(line) = app.store.credit_line(instance.id).await? {
                facts.insert("monthly_limit_cents".into(), json!(line.monthly_limit_cents));
            }
            // Closing a line says what is still owed on it, bill by bill.
            let bills = app.store.bills_for_line(instance.id).await?;
            for (key, value) in super::billing::owed_facts(&bills) {
                facts.insert(key.into(), value);
            }
        }
        names::limit_increase::WORKFLOW => {
            if let Some((increase, _)) = app.store.increase(instance.id).await? {
                // An approval quotes the new limit, from today; anything else leaves the line
                // at the limit it has now, which is what its email names.
                let limit = if event == "approve" {
                    increase.next_limit_cents
                } else {
                    match app.store.credit_line(increase.line_id).await? {
                        Some(line) => line.monthly_limit_cents,
                        None => increase.current_limit_cents,
                    }
                };
                facts.insert("monthly_limit_cents".into(), json!(limit));
                facts.insert("deposit_cents".into(), json!(increase.deposit_cents));
                facts.insert("effective_date".into(), json!(now.date_naive().to_string()));
            }
        }
        _ => {}
    }
    Ok(facts)
}

/// Refuses a step whose email cannot be written from the records and the request: rendered
/// here as the worker would, a variable left undefined means the fact comes only with the
/// system's own step (a bill with `bill_issued`).
async fn check_emails(app: &App, instance: &Instance, event: &str, write: &TransitionWrite) -> Result<(), EventError> {
    let reference = match instance.subject_kind.as_str() {
        "application" => app.store.application(ApplicationId(instance.id.0)).await?.map(|a| a.reference),
        _ => None,
    };
    for row in write.outbox.iter().filter(|o| o.kind == "email") {
        let data = context(&row.payload, reference.as_deref());
        if let Err(e) = app.templates.render(&row.name, &data) {
            return Err(EventError::SystemEvent {
                event: event.to_string(),
                detail: format!(
                    "its email {} needs facts that only the system's own records carry, e.g. a bill ({e})",
                    row.name
                ),
            });
        }
    }
    Ok(())
}

async fn write_event(
    app: &App,
    actor: &Actor<'_>,
    e: &ManualEvent,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome<EventPosted>, EventError> {
    let instance = app.store.instance(e.subject).await?.ok_or(EventError::NotFound(e.subject))?;
    if let Some(v) = e.expected_version
        && v != instance.version
    {
        return Err(StoreError::Conflict { expected: v, actual: instance.version }.into());
    }
    let mut fire = Fire::new(e.subject, &e.event, &actor.caller.name).reason(&e.reason);
    fire.data = e.data.clone();
    fire.data.extend(record_facts(app, &instance, &e.event, actor.now).await?);
    let mut cursor = Cursor::from(&instance);
    let (write, fired) = app.workflow.plan(&mut cursor, &fire).map_err(|err| match err {
        ServiceError::MissingData { key, .. } => EventError::SystemEvent {
            event: e.event.clone(),
            detail: format!("its step needs {key:?}, which only the system's own records carry, e.g. a bill"),
        },
        other => other.into(),
    })?;
    check_emails(app, &instance, &e.event, &write).await?;
    let outcome = Outcome::new(EventPosted {
        instance: InstanceStep {
            id: instance.id,
            workflow: instance.workflow.clone(),
            state: fired.to.clone(),
            version: fired.version,
        },
        event: EventStep { id: fired.event_id, event: e.event.clone(), from: fired.from.clone(), to: fired.to.clone() },
        effects: fired.effects.iter().map(|x| x.to_string()).collect(),
    });
    let audit = AuditRecord {
        id: uuid::Uuid::now_v7(),
        actor: actor.caller.name.clone(),
        action: format!("workflow.{}", e.event),
        target: format!("{}:{}", instance.subject_kind, instance.id),
        version_before: Some(instance.version),
        version_after: Some(fired.version),
        request_id: actor.request_id.to_string(),
        detail: json!({ "workflow": instance.workflow, "from": fired.from, "to": fired.to, "reason": e.reason }),
        at: actor.now,
    };
    let action = ActionWrite {
        task: None,
        workflow: WorkflowChanges::step(write),
        credit_line: None,
        audit,
        idempotency: record(actor, key, &outcome)?,
    };
    app.store.commit_action(&action).await?;
    tracing::info!(instance = %instance.id, event = %e.event, actor = %actor.caller.name, "workflow event posted by hand");
    Ok(outcome)
}
