//! What every API mutation shares: who acts, the answer it gives, and `Idempotency-Key`
//! replays (the answer is kept in the mutation's own transaction, so a retried request
//! gets the first answer and causes nothing twice). Also the admin's hand-posted workflow
//! event, which goes through the same engine as everything else.

use serde_json::{Value, json};

pub use super::tasks::Actor;
use crate::app::App;
use crate::domain::SubjectId;
use crate::services::workflow::{Cursor, Fire, ServiceError};
use crate::store::{ActionWrite, AuditRecord, IdempotentResponse, Store, StoreError};

/// A client's idempotency key and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// A mutation's answer: what the HTTP adapter sends, and what a replay sends again.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u16,
    /// The version of the changed resource, for the next If-Match.
    pub etag: Option<i64>,
    pub body: Value,
    /// True when this is a kept answer sent again.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("Idempotency-Key {0:?} was already used for a different request")]
    KeyReused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ActionError {
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::KeyReused(_) => "idempotency_key_reused",
            ActionError::Store(_) => "internal",
        }
    }
}

/// The kept answer for this caller's key, if the key was used before with the same request.
pub async fn replay(
    store: &dyn Store,
    actor: &Actor<'_>,
    key: Option<&IdempotencyKey>,
) -> Result<Option<Outcome>, ActionError> {
    let Some(k) = key else { return Ok(None) };
    let Some(kept) = store.idempotent_response(&actor.caller.name, &k.key).await? else { return Ok(None) };
    if kept.request_hash != k.request_hash {
        return Err(ActionError::KeyReused(k.key.clone()));
    }
    let etag = kept.response.pointer("/task/version").or_else(|| kept.response.pointer("/instance/version"));
    Ok(Some(Outcome { status: kept.status, etag: etag.and_then(Value::as_i64), body: kept.response, replayed: true }))
}

/// The row that keeps `outcome` for the key, written with the mutation.
pub fn record(actor: &Actor<'_>, key: Option<&IdempotencyKey>, outcome: &Outcome) -> Option<IdempotentResponse> {
    key.map(|k| IdempotentResponse {
        caller: actor.caller.name.clone(),
        key: k.key.clone(),
        request_hash: k.request_hash.clone(),
        status: outcome.status,
        response: outcome.body.clone(),
        created_at: actor.now,
    })
}

/// Settles `result`; when it lost a race against a request with the same key (a version
/// conflict or the key's unique row, found by `store_error`), answers as the winner did.
pub async fn settle<E>(
    store: &dyn Store,
    actor: &Actor<'_>,
    key: Option<&IdempotencyKey>,
    result: Result<Outcome, E>,
    store_error: impl Fn(&E) -> Option<&StoreError>,
) -> Result<Outcome, E>
where
    E: From<ActionError>,
{
    let lost_race = |e: &E| matches!(store_error(e), Some(StoreError::Conflict { .. } | StoreError::Duplicate(_)));
    match result {
        Err(e) if key.is_some() && lost_race(&e) => match replay(store, actor, key).await? {
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

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("no workflow instance {0}")]
    NotFound(SubjectId),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EventError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            EventError::Store(s) | EventError::Service(ServiceError::Store(s)) => Some(s),
            _ => None,
        }
    }
}

/// Posts `e` through the workflow engine, as the admin: state, event, effects, audit entry
/// and kept answer in one transaction. Guarded transitions still need their rule decision,
/// which a hand-posted event cannot supply.
pub async fn post_event(
    app: &App,
    actor: &Actor<'_>,
    e: ManualEvent,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome, EventError> {
    let store = app.store.as_ref();
    if let Some(done) = replay(store, actor, key).await? {
        return Ok(done);
    }
    let result = write_event(app, actor, &e, key).await;
    settle(store, actor, key, result, EventError::store_error).await
}

async fn write_event(
    app: &App,
    actor: &Actor<'_>,
    e: &ManualEvent,
    key: Option<&IdempotencyKey>,
) -> Result<Outcome, EventError> {
    let instance = app.store.instance(e.subject).await?.ok_or(EventError::NotFound(e.subject))?;
    if let Some(v) = e.expected_version
        && v != instance.version
    {
        return Err(StoreError::Conflict { expected: v, actual: instance.version }.into());
    }
    let mut fire = Fire::new(e.subject, &e.event, &actor.caller.name).reason(&e.reason);
    fire.data = e.data.clone();
    let mut cursor = Cursor::from(&instance);
    let (write, fired) = app.workflow.plan(&mut cursor, &fire)?;
    let outcome = Outcome {
        status: 200,
        etag: Some(fired.version),
        body: json!({
            "instance": {
                "id": instance.id,
                "workflow": instance.workflow,
                "state": fired.to,
                "version": fired.version,
            },
            "event": { "id": fired.event_id, "event": e.event, "from": fired.from, "to": fired.to },
            "effects": fired.effects.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        }),
        replayed: false,
    };
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
        transition: Some(write),
        new_instance: None,
        credit_line: None,
        decisions: Vec::new(),
        audit,
        idempotency: record(actor, key, &outcome),
    };
    app.store.commit_action(&action).await?;
    tracing::info!(instance = %instance.id, event = %e.event, actor = %actor.caller.name, "workflow event posted by hand");
    Ok(outcome)
}
