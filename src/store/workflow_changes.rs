//! What a write changes in workflows: the instances it opens and the steps it takes, as the
//! services planned them. Every area that writes workflow changes (intake, tasks, billing,
//! applications) carries these; the SQL that writes them is in [`super::workflow`].

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::{DecisionId, EventId, SubjectId};

/// A workflow instance to create.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub id: SubjectId,
    pub workflow: String,
    pub subject_kind: String,
    pub state: String,
    pub account_email: Option<String>,
    pub created_event: EventId,
    pub actor: String,
    pub reason: Option<String>,
    pub outbox: Vec<OutboxWrite>,
    /// The reviewer tasks the first state opens, planned by the service.
    pub tasks: Vec<TaskWrite>,
    pub at: DateTime<Utc>,
    /// The subject's row, for an application: written right after the instance (its key is
    /// the instance's).
    pub application: Option<NewApplication>,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub reference: String,
    pub account_email: String,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    pub details: serde_json::Value,
}

/// One step of a workflow, ready to be written.
#[derive(Debug, Clone)]
pub struct TransitionWrite {
    pub instance_id: SubjectId,
    pub expected_version: i64,
    pub event_id: EventId,
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    pub actor: String,
    pub reason: Option<String>,
    pub decision_ids: Vec<DecisionId>,
    pub outbox: Vec<OutboxWrite>,
    /// The reviewer tasks the step opens, planned by the service.
    pub tasks: Vec<TaskWrite>,
    pub at: DateTime<Utc>,
}

/// The workflow side of one write: the instances it opens, the steps it takes in order (an
/// opened instance may be stepped too, from its initial state) and the rule decisions behind
/// them. Each write places these among its own rows (foreign keys: an instance before the
/// rows keyed by it) and inserts the decisions where it can batch them.
#[derive(Debug, Clone, Default)]
pub struct WorkflowChanges {
    /// Instances to create, each with its creation event, initial effects and subject row.
    pub opened: Vec<NewInstance>,
    pub steps: Vec<TransitionWrite>,
    pub decisions: Vec<crate::rules::DecisionRecord>,
}

impl WorkflowChanges {
    /// One step, nothing opened or decided.
    pub fn step(t: TransitionWrite) -> Self {
        WorkflowChanges { steps: vec![t], ..WorkflowChanges::default() }
    }

    /// One instance opened, nothing stepped or decided.
    pub fn open(i: NewInstance) -> Self {
        WorkflowChanges { opened: vec![i], ..WorkflowChanges::default() }
    }

    /// Whether this write opens the instance `id`.
    pub fn opens(&self, id: SubjectId) -> bool {
        self.opened.iter().any(|i| i.id == id)
    }

    /// Adds another write's changes after these: its instances, steps and decisions.
    pub fn extend(&mut self, other: WorkflowChanges) {
        self.opened.extend(other.opened);
        self.steps.extend(other.steps);
        self.decisions.extend(other.decisions);
    }

    /// The steps that move an instance stored before this write (not one it opens): those
    /// that start from stored state, so what the guards check.
    pub fn stored_steps(&self) -> impl Iterator<Item = &TransitionWrite> {
        self.steps.iter().filter(|t| !self.opens(t.instance_id))
    }
}

/// What intake addresses to the applicant (the `to` and greeting of a step's emails and
/// tasks): the payload of each email and the details of each task a write makes.
macro_rules! effect_payloads {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn effect_payloads_mut(&mut self) -> impl Iterator<Item = &mut serde_json::Value> {
                self.outbox.iter_mut().map(|o| &mut o.payload).chain(self.tasks.iter_mut().map(|t| &mut t.details))
            }
        }
    )*};
}
effect_payloads!(NewInstance, TransitionWrite);
