//! Rows as the services see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ApplicationId, DecisionId, EventId, OutboxId, SubjectId};

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
    pub at: DateTime<Utc>,
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
    pub at: DateTime<Utc>,
}

/// An effect to record in the outbox. The idempotency key is unique across the outbox, so
/// an effect can never be written twice.
#[derive(Debug, Clone)]
pub struct OutboxWrite {
    pub id: OutboxId,
    pub kind: String,
    pub name: String,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: SubjectId,
    pub workflow: String,
    pub subject_kind: String,
    pub state: String,
    pub version: i64,
    pub account_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: EventId,
    pub instance_id: SubjectId,
    /// The instance's version after this event.
    pub version: i64,
    pub event: String,
    /// `None` for the event that created the instance.
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub reason: Option<String>,
    pub decision_ids: Vec<DecisionId>,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub instance_id: SubjectId,
    pub event_id: EventId,
    pub kind: String,
    pub name: String,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationRecord {
    pub id: ApplicationId,
    pub reference: String,
    pub account_email: String,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    pub details: serde_json::Value,
    pub state: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub state: Option<String>,
    pub account_email: Option<String>,
    /// Return applications created after this one (cursor pagination).
    pub after: Option<ApplicationId>,
    pub limit: i64,
}
