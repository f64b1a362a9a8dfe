//! Applying workflow steps: read the instance, let the engine pick the transition, write
//! state + event + outbox in one transaction guarded by the version the caller saw.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::domain::{
    ApplicantKind, ApplicationId, DecisionId, EmailAddress, EventId, Money, OutboxId, SubjectId, TaskId,
};
use crate::store::{
    ApplicationRecord, Instance, NewApplication, NewInstance, OutboxWrite, Store, StoreError, StoreResult, TaskWrite,
    TransitionWrite,
};
use crate::workflow::names;
use crate::workflow::{Definition, Effect, EngineError, Outcomes, Workflows, step};

use super::Clock;
use super::group_commit::{BatchWriter, GroupCommit};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown workflow {0:?}")]
    UnknownWorkflow(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The code firing a step did not pass a fact its transition declares (`data = [...]`):
    /// its email could not be written, so nothing is.
    #[error("workflow {workflow}: event {event:?} from {from:?} declares data {key:?}, which the step was not given")]
    MissingData { workflow: String, event: String, from: String, key: String },
}

impl ServiceError {
    /// A stale version: the caller should reload and decide again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ServiceError::Store(StoreError::Conflict { .. }))
    }
}

/// A recorded rule decision a guard may read.
#[derive(Debug, Clone)]
pub struct AppliedDecision {
    pub rule: String,
    pub outcome: String,
    pub id: DecisionId,
}

/// A request to fire an event on a workflow instance.
#[derive(Debug, Clone)]
pub struct Fire {
    pub subject: SubjectId,
    pub event: String,
    pub actor: String,
    pub reason: Option<String>,
    pub decisions: Vec<AppliedDecision>,
    /// The version the caller decided on; `None` to use whatever is current (the version
    /// check still protects against a writer that slips in between read and write).
    pub expected_version: Option<i64>,
    /// Extra facts for the effects (the missing materials an email must list, ...), merged
    /// into each outbox payload; the step's own fields (recipient, event, state, reason) win.
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl Fire {
    pub fn new(subject: impl Into<SubjectId>, event: &str, actor: &str) -> Fire {
        Fire {
            subject: subject.into(),
            event: event.to_string(),
            actor: actor.to_string(),
            reason: None,
            decisions: Vec::new(),
            expected_version: None,
            data: serde_json::Map::new(),
        }
    }

    pub fn data(mut self, key: &str, value: impl Serialize) -> Fire {
        self.data.insert(key.to_string(), serde_json::to_value(value).unwrap_or(serde_json::Value::Null));
        self
    }

    pub fn reason(mut self, reason: &str) -> Fire {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn decision(mut self, rule: &str, outcome: &str, id: DecisionId) -> Fire {
        self.decisions.push(AppliedDecision { rule: rule.to_string(), outcome: outcome.to_string(), id });
        self
    }

    pub fn at_version(mut self, version: i64) -> Fire {
        self.expected_version = Some(version);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub from: String,
    pub to: String,
    pub version: i64,
    pub event_id: EventId,
    pub effects: Vec<Effect>,
}

/// What an application starts with.
#[derive(Debug, Clone)]
pub struct NewApplicationInput {
    pub account_email: EmailAddress,
    pub applicant_kind: Option<ApplicantKind>,
    pub requested_limit: Option<Money>,
    pub details: serde_json::Value,
}

pub struct WorkflowService {
    store: Arc<dyn Store>,
    workflows: Arc<Workflows>,
    clock: Arc<dyn Clock>,
    /// Transitions fired together commit together (group commit), where the database lets
    /// one writer in at a time ([`OperationsStore::writes_one_at_a_time`](crate::store::OperationsStore::writes_one_at_a_time)).
    transitions: Option<TransitionQueue>,
}

/// The queue transitions wait in, and what writes its batches.
type TransitionQueue =
    (Arc<GroupCommit<TransitionWrite, StoreResult<i64>>>, BatchWriter<TransitionWrite, StoreResult<i64>>);

/// Transitions one transaction takes at most.
const TRANSITION_BATCH: usize = 64;

impl WorkflowService {
    pub fn new(store: Arc<dyn Store>, workflows: Arc<Workflows>, clock: Arc<dyn Clock>) -> Self {
        // Built only where it is used: PostgreSQL takes writers side by side.
        let transitions = store.writes_one_at_a_time().then(|| {
            let batch_store = store.clone();
            let write: BatchWriter<TransitionWrite, StoreResult<i64>> = Arc::new(move |writes: Vec<TransitionWrite>| {
                let store = batch_store.clone();
                Box::pin(async move {
                    match store.apply_transitions(&writes).await {
                        Ok(done) => Some(done),
                        Err(e) => {
                            tracing::debug!(error = %e, transitions = writes.len(), "batch not written; each goes alone");
                            None
                        }
                    }
                })
            });
            (Arc::new(GroupCommit::new(TRANSITION_BATCH)), write)
        });
        WorkflowService { store, workflows, clock, transitions }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn definition(&self, name: &str) -> Result<&Definition, ServiceError> {
        self.workflows.get(name).ok_or_else(|| ServiceError::UnknownWorkflow(name.to_string()))
    }

    /// What `workflow`'s file says of `state` (`None` for a state or workflow it does not
    /// know): the code asks the flags (`open`, `terminal` …), never names the state.
    pub fn state(&self, workflow: &str, state: &str) -> Option<&crate::workflow::State> {
        self.workflows.state(workflow, state)
    }

    /// Whether `state` of `workflow` has a property; false for a state the file lacks.
    pub fn is(&self, workflow: &str, state: &str, property: impl Fn(&crate::workflow::State) -> bool) -> bool {
        self.state(workflow, state).is_some_and(property)
    }

    /// The states of `workflow` with a property, as the file flags them.
    pub fn states_where(&self, workflow: &str, property: impl Fn(&crate::workflow::State) -> bool) -> Vec<&str> {
        self.workflows.states_where(workflow, property)
    }

    /// The whole definition of `workflow`, for questions the flags do not answer.
    pub fn workflow(&self, workflow: &str) -> Option<&Definition> {
        self.workflows.get(workflow)
    }

    /// Opens a credit-line application in the initial state of `credit_line_application`,
    /// with its initial effects (the "application received" email).
    pub async fn open_application(
        &self,
        input: NewApplicationInput,
        actor: &str,
    ) -> Result<ApplicationRecord, ServiceError> {
        let (instance, cursor) = self.plan_application(input, actor)?;
        self.store.create_instance(&instance).await?;
        let id = ApplicationId(cursor.subject.0);
        let reference = instance.application.as_ref().map_or("", |a| a.reference.as_str());
        tracing::info!(application = %id, reference = %reference, actor, "application opened");
        self.store
            .application(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("application {id} after creating it")))
    }

    /// The rows that open an application (the instance with its application row), for a
    /// caller that writes them in its own transaction, and the cursor to plan its next steps
    /// from.
    pub fn plan_application(
        &self,
        input: NewApplicationInput,
        actor: &str,
    ) -> Result<(NewInstance, Cursor), ServiceError> {
        let def = self.definition(names::application::WORKFLOW)?;
        let id = ApplicationId::new();
        let mut instance = self.new_instance(def, id.into(), Some(input.account_email.as_str()), actor);
        instance.application = Some(NewApplication {
            reference: reference_for(id),
            account_email: input.account_email.to_string(),
            applicant_kind: input.applicant_kind.map(|k| k.as_str().to_string()),
            requested_limit_cents: input.requested_limit.map(Money::cents),
            details: input.details,
        });
        let cursor = Cursor::created(&instance);
        Ok((instance, cursor))
    }

    /// Starts an instance of any workflow for `subject`.
    pub async fn start(
        &self,
        workflow: &str,
        subject: SubjectId,
        account_email: Option<&str>,
        actor: &str,
    ) -> Result<Instance, ServiceError> {
        let (instance, _) = self.plan_start(workflow, subject, account_email, actor)?;
        self.store.create_instance(&instance).await?;
        self.store.instance(subject).await?.ok_or_else(|| ServiceError::NotFound(format!("instance {subject}")))
    }

    pub fn plan_start(
        &self,
        workflow: &str,
        subject: SubjectId,
        account_email: Option<&str>,
        actor: &str,
    ) -> Result<(NewInstance, Cursor), ServiceError> {
        let def = self.definition(workflow)?;
        let instance = self.new_instance(def, subject, account_email, actor);
        let cursor = Cursor::created(&instance);
        Ok((instance, cursor))
    }

    fn new_instance(&self, def: &Definition, id: SubjectId, account_email: Option<&str>, actor: &str) -> NewInstance {
        let event = EventId::new();
        let none = serde_json::Map::new();
        let (outbox, tasks) =
            effect_rows(def, id, event, "created", &def.initial, account_email, None, &def.initial_effects, &none);
        NewInstance {
            id,
            workflow: def.name.clone(),
            subject_kind: def.subject.as_str().to_string(),
            state: def.initial.clone(),
            account_email: account_email.map(str::to_string),
            created_event: event,
            actor: actor.to_string(),
            reason: None,
            outbox,
            tasks,
            at: self.clock.now(),
            application: None,
        }
    }

    /// Fires an event: the engine decides, the store writes atomically with a version check.
    pub async fn fire(&self, req: Fire) -> Result<Fired, ServiceError> {
        let current = self
            .store
            .instance(req.subject)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("workflow instance {}", req.subject)))?;
        if let Some(expected) = req.expected_version
            && expected != current.version
        {
            return Err(StoreError::Conflict { expected, actual: current.version }.into());
        }
        let mut cursor = Cursor::from(&current);
        let (write, fired) = self.plan(&mut cursor, &req)?;
        let batched = match &self.transitions {
            Some((queue, write_batch)) => queue.submit(write.clone(), write_batch).await,
            None => None,
        };
        match batched {
            Some(done) => done?,
            // Not batched, or its batch could not be written: on its own, where the version
            // check still holds.
            None => self.store.apply_transition(&write).await?,
        };
        Ok(fired)
    }

    /// Lets the engine decide one step from `cursor` and advances the cursor, without
    /// writing: the caller writes the returned rows (possibly with others) in one transaction,
    /// where the version check still guards them.
    pub fn plan(&self, cursor: &mut Cursor, req: &Fire) -> Result<(TransitionWrite, Fired), ServiceError> {
        let def = self.definition(&cursor.workflow)?;
        let outcomes: Outcomes = req.decisions.iter().map(|d| (d.rule.clone(), d.outcome.clone())).collect();
        let s = step(def, &cursor.state, &req.event, &outcomes, req.reason.as_deref())?;
        if let Some(key) = s.data.iter().find(|k| req.data.get(k.as_str()).is_none_or(serde_json::Value::is_null)) {
            return Err(ServiceError::MissingData {
                workflow: def.name.clone(),
                event: s.event.clone(),
                from: s.from.clone(),
                key: key.clone(),
            });
        }
        let event_id = EventId::new();
        let (outbox, tasks) = effect_rows(
            def,
            cursor.subject,
            event_id,
            &s.event,
            &s.to,
            cursor.account_email.as_deref(),
            req.reason.as_deref(),
            &s.effects,
            &req.data,
        );
        let write = TransitionWrite {
            instance_id: cursor.subject,
            expected_version: cursor.version,
            event_id,
            event: s.event.clone(),
            from_state: s.from.clone(),
            to_state: s.to.clone(),
            actor: req.actor.clone(),
            reason: req.reason.clone(),
            decision_ids: req.decisions.iter().map(|d| d.id).collect(),
            outbox,
            tasks,
            at: self.clock.now(),
        };
        cursor.state = s.to.clone();
        cursor.version += 1;
        let fired = Fired { from: s.from, to: s.to, version: cursor.version, event_id, effects: s.effects };
        Ok((write, fired))
    }
}

/// Where an instance stands while steps are planned for one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub subject: SubjectId,
    pub workflow: String,
    pub state: String,
    pub version: i64,
    pub account_email: Option<String>,
}

impl Cursor {
    pub fn created(i: &NewInstance) -> Cursor {
        Cursor {
            subject: i.id,
            workflow: i.workflow.clone(),
            state: i.state.clone(),
            version: 1,
            account_email: i.account_email.clone(),
        }
    }
}

/// A credit line carries its instance's state and version (read in the same query).
impl From<&crate::store::CreditLineRecord> for Cursor {
    fn from(l: &crate::store::CreditLineRecord) -> Cursor {
        Cursor {
            subject: l.id,
            workflow: names::credit_line::WORKFLOW.into(),
            state: l.state.clone(),
            version: l.version,
            account_email: Some(l.account_email.clone()),
        }
    }
}

impl From<&Instance> for Cursor {
    fn from(i: &Instance) -> Cursor {
        Cursor {
            subject: i.id,
            workflow: i.workflow.clone(),
            state: i.state.clone(),
            version: i.version,
            account_email: i.account_email.clone(),
        }
    }
}

/// The rows a step's effects write: an outbox row per email, a reviewer task per task
/// effect (titled after its kind and the state it waits in). The key ties each effect to its
/// event, so replaying the same write can never queue a second copy or open a second task.
#[allow(clippy::too_many_arguments)]
fn effect_rows(
    def: &Definition,
    subject: SubjectId,
    event_id: EventId,
    event: &str,
    state: &str,
    account_email: Option<&str>,
    reason: Option<&str>,
    effects: &[Effect],
    data: &serde_json::Map<String, serde_json::Value>,
) -> (Vec<OutboxWrite>, Vec<TaskWrite>) {
    let mut outbox = Vec::new();
    let mut tasks = Vec::new();
    for e in effects {
        // The step's own facts are written last: no extra fact may redirect the email
        // (`to`) or restate the step.
        let mut payload = data.clone();
        payload.extend([
            ("workflow".into(), json!(def.name)),
            ("subject_id".into(), json!(subject)),
            ("event".into(), json!(event)),
            ("state".into(), json!(state)),
            ("to".into(), json!(account_email)),
            ("reason".into(), json!(reason)),
        ]);
        let payload = serde_json::Value::Object(payload);
        let idempotency_key = format!("{event_id}:{e}");
        match e {
            Effect::Email(name) => outbox.push(OutboxWrite {
                id: OutboxId::new(),
                kind: e.kind().to_string(),
                name: name.clone(),
                idempotency_key,
                payload,
            }),
            Effect::Task(kind) => tasks.push(TaskWrite {
                id: TaskId::new(),
                kind: kind.as_str().to_string(),
                subject_id: Some(subject),
                message_sha256: None,
                title: task_title(kind.as_str(), account_email, data),
                details: payload,
                idempotency_key,
            }),
        }
    }
    (outbox, tasks)
}

/// A task's title as the queue lists it: what it is and who it is about, so a reviewer can
/// tell tasks apart without opening them ("Application review: Daniel Park
/// <dpark@example.com> (CL-4K7Q2M9X)"). The state is on the task itself.
fn task_title(kind: &str, account: Option<&str>, data: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut words = kind.replace('_', " ").replace("aws", "AWS");
    if let Some(first) = words.get(..1) {
        words.replace_range(..1, &first.to_uppercase());
    }
    let name = data.get("name").and_then(|v| v.as_str()).filter(|n| !n.trim().is_empty());
    let who = match (name, account) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => return words,
    };
    match data.get("reference").and_then(|v| v.as_str()) {
        Some(r) => format!("{words}: {who} ({r})"),
        None => format!("{words}: {who}"),
    }
}

/// A short reference for subjects and replies ("CL-4K7Q2M9X"), from the id's random bits
/// in Crockford base32 (no I, L, O, U to misread).
pub fn reference_for(id: ApplicationId) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bits = id.0.as_u128();
    let code: String = (0..8).map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect();
    format!("CL-{code}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Catalog;

    #[test]
    fn extra_facts_never_override_the_steps_own_recipient_or_reason() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::scan(&root.join("rules"), &root.join("templates")).unwrap();
        let workflows = Workflows::load(&root.join("workflows"), &catalog).unwrap();
        let def = workflows.get("credit_line_application").unwrap();
        let mut data = serde_json::Map::new();
        data.insert("to".into(), json!("evil@attacker.example"));
        data.insert("reason".into(), json!("forged"));
        data.insert("event".into(), json!("approve"));
        data.insert("missing".into(), json!(["website"]));
        let effects = [Effect::Email("application_withdrawn".into())];
        let subject = SubjectId::new();
        let (rows, _) = effect_rows(
            def,
            subject,
            EventId::new(),
            "withdraw",
            "withdrawn",
            Some("ops@acme.io"),
            Some("by phone"),
            &effects,
            &data,
        );
        let payload = &rows[0].payload;
        assert_eq!(payload["to"], "ops@acme.io");
        assert_eq!(payload["reason"], "by phone");
        assert_eq!(payload["event"], "withdraw");
        assert_eq!(payload["missing"], json!(["website"]), "other facts still travel");
    }

    /// Issue 19, point 3: the task an effect opens is planned here, not in the store.
    #[test]
    fn a_task_effect_plans_a_titled_task_and_no_outbox_row() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::scan(&root.join("rules"), &root.join("templates")).unwrap();
        let workflows = Workflows::load(&root.join("workflows"), &catalog).unwrap();
        let def = workflows.get("credit_line_application").unwrap();
        let effects =
            [Effect::Task(crate::workflow::TaskKind::ApplicationReview), Effect::Email("application_received".into())];
        let (subject, event) = (SubjectId::new(), EventId::new());
        let (outbox, tasks) = effect_rows(
            def,
            subject,
            event,
            "verified",
            "awaiting_review",
            Some("ops@acme.io"),
            None,
            &effects,
            &serde_json::Map::new(),
        );
        assert_eq!(outbox.len(), 1, "only the email goes to the outbox");
        assert_eq!(outbox[0].kind, "email");
        let [task] = tasks.as_slice() else { panic!("one task: {tasks:?}") };
        assert_eq!(task.kind, "application_review");
        assert_eq!(task.title, "Application review: ops@acme.io");
        assert_eq!(task.subject_id, Some(subject));
        assert_eq!(task.idempotency_key, format!("{event}:task:application_review"));
        assert_eq!(task.details["state"], "awaiting_review");
    }

    #[test]
    fn a_task_title_names_whom_it_is_about() {
        let data = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let full = data(json!({ "name": "Daniel Park", "reference": "CL-84T4CMAE" }));
        assert_eq!(
            task_title("application_review", Some("dpark@example.com"), &full),
            "Application review: Daniel Park <dpark@example.com> (CL-84T4CMAE)"
        );
        assert_eq!(task_title("deposit_confirmation", None, &data(json!({ "name": " " }))), "Deposit confirmation");
        assert_eq!(task_title("aws_login_review", Some("a@b.io"), &data(json!({}))), "AWS login review: a@b.io");
    }
}
