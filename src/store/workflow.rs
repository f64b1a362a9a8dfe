//! Workflow instances, their event logs and the rule decisions behind their steps.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::{DecisionId, EventId, SubjectId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
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
    #[sqlx(json)]
    pub decision_ids: Vec<DecisionId>,
    pub occurred_at: DateTime<Utc>,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Creates a workflow instance in its initial state with its creation event, its
    /// initial effects and, for applications, the application row: all or nothing.
    async fn create_instance(&self, new: &NewInstance) -> StoreResult<()>;

    /// Moves an instance from `expected_version`, appends the event and writes the outbox
    /// rows in one transaction. A stale version is [`StoreError::Conflict`] and writes
    /// nothing. Returns the new version.
    async fn apply_transition(&self, t: &TransitionWrite) -> StoreResult<i64>;

    /// Several [`apply_transition`](WorkflowStore::apply_transition)s in one transaction (group
    /// commit), each under a savepoint of its own: one that fails (a stale version) writes
    /// nothing and is answered its error, the others commit. The outer error means none was
    /// written.
    async fn apply_transitions(&self, writes: &[TransitionWrite]) -> StoreResult<Vec<StoreResult<i64>>>;

    async fn instance(&self, id: SubjectId) -> StoreResult<Option<Instance>>;

    /// The event log of an instance, oldest first.
    async fn events(&self, id: SubjectId) -> StoreResult<Vec<EventRecord>>;

    /// The events of these instances (only those into `to_state`, when given), by instance
    /// and then oldest first.
    async fn events_of(&self, ids: &[SubjectId], to_state: Option<&str>) -> StoreResult<Vec<EventRecord>>;

    /// Instances of `workflow` for an account, newest first.
    async fn instances_for_account(&self, account_email: &str, workflow: &str) -> StoreResult<Vec<Instance>>;

    /// Instances of `workflow` in any of `states`.
    async fn waiting_instances(&self, workflow: &str, states: &[&str]) -> StoreResult<Vec<Instance>>;

    /// Workflow events with an id above `after` (ids are time-ordered), oldest first, up to
    /// `limit`, each with its instance's workflow and account: what the simulation's checker
    /// reads each day.
    async fn events_after(
        &self,
        after: uuid::Uuid,
        limit: i64,
    ) -> StoreResult<Vec<(EventRecord, String, Option<String>)>>;

    /// Appends a rule decision (rule, version hash, input, output, reasons, timing).
    async fn record_decision(&self, record: &crate::rules::DecisionRecord) -> StoreResult<()>;

    /// Decisions about a subject, oldest first.
    async fn decisions_for(&self, subject: SubjectId) -> StoreResult<Vec<crate::rules::DecisionRecord>>;

    /// The rule decisions with these ids (whatever their subject).
    async fn decisions_by_ids(
        &self,
        ids: &[crate::domain::DecisionId],
    ) -> StoreResult<Vec<crate::rules::DecisionRecord>>;
}

/// Implements [`WorkflowStore`] for a backend (see [`super::sql`]).
macro_rules! impl_workflow_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            #[allow(clippy::too_many_arguments)]
            async fn insert_event(
                tx: &mut Tx,
                w: &mut Writer,
                id: crate::domain::EventId,
                instance: crate::domain::SubjectId,
                version: i64,
                event: &str,
                from: Option<&str>,
                to: &str,
                actor: &str,
                reason: Option<&str>,
                decisions: &[crate::domain::DecisionId],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO workflow_events \
                         (id, instance_id, version, event, from_state, to_state, actor, reason, decision_ids, occurred_at) ",
                    );
                    q.push_values([()], |mut b, ()| {
                        b.push_bind(id.0)
                            .push_bind(instance.0)
                            .push_bind(version)
                            .push_bind(event.to_string())
                            .push_bind(from.map(str::to_string))
                            .push_bind(to.to_string())
                            .push_bind(actor.to_string())
                            .push_bind(reason.map(str::to_string))
                            .push_bind(sqlx::types::Json(decisions.to_vec()))
                            .push_bind(at);
                    });
                })
                .await?;
                Ok(())
            }

            async fn insert_instance(
                tx: &mut Tx,
                w: &mut Writer,
                new: &crate::store::NewInstance,
            ) -> Result<(), sqlx::Error> {
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO workflow_instances \
                         (id, workflow, subject_kind, state, version, account_email, created_at, updated_at) ",
                    );
                    q.push_values([new], |mut b, new| {
                        b.push_bind(new.id.0)
                            .push_bind(new.workflow.clone())
                            .push_bind(new.subject_kind.clone())
                            .push_bind(new.state.clone())
                            .push_bind(1i64)
                            .push_bind(new.account_email.clone())
                            .push_bind(new.at)
                            .push_bind(new.at);
                    });
                })
                .await?;
                if let Some(a) = &new.application {
                    w.run(tx, |q| {
                        q.push(
                            "INSERT INTO applications \
                             (id, reference, account_email, applicant_kind, requested_limit_cents, details, created_at) ",
                        );
                        q.push_values([a], |mut b, a| {
                            b.push_bind(new.id.0)
                                .push_bind(a.reference.clone())
                                .push_bind(a.account_email.clone())
                                .push_bind(a.applicant_kind.clone())
                                .push_bind(a.requested_limit_cents)
                                .push_bind(sqlx::types::Json(a.details.clone()))
                                .push_bind(new.at);
                        });
                    })
                    .await?;
                }
                Self::insert_event(
                    tx,
                    w,
                    new.created_event,
                    new.id,
                    1,
                    "created",
                    None,
                    &new.state,
                    &new.actor,
                    new.reason.as_deref(),
                    &[],
                    new.at,
                )
                .await?;
                Self::insert_outbox(tx, w, new.id, new.created_event, &new.outbox, new.at).await?;
                for task in &new.tasks {
                    Self::insert_task(tx, w, task, new.at).await?;
                }
                Ok(())
            }

            /// The instances a write opens, in order (see [`Self::insert_instance`]).
            async fn open_in(tx: &mut Tx, w: &mut Writer, c: &crate::store::WorkflowChanges) -> Result<(), sqlx::Error> {
                for new in &c.opened {
                    Self::insert_instance(tx, w, new).await?;
                }
                Ok(())
            }

            /// The steps a write takes, in order (see [`Self::transition_in`]).
            async fn steps_in(
                tx: &mut Tx,
                w: &mut Writer,
                c: &crate::store::WorkflowChanges,
            ) -> crate::store::StoreResult<()> {
                for t in &c.steps {
                    Self::transition_in(tx, w, t).await?;
                }
                Ok(())
            }

            /// A write's workflow changes with none of its own rows between them: the opened
            /// instances, then the steps (which may move them). The decisions are the caller's
            /// to insert, batched with its other rows where it can.
            async fn workflow_in(
                tx: &mut Tx,
                w: &mut Writer,
                c: &crate::store::WorkflowChanges,
            ) -> crate::store::StoreResult<()> {
                Self::open_in(tx, w, c).await?;
                Self::steps_in(tx, w, c).await
            }

            /// Why a transition would not apply: a newer version, or no such instance.
            async fn transition_refused<'e>(
                ex: impl sqlx::Executor<'e, Database = $db>,
                t: &crate::store::TransitionWrite,
            ) -> crate::store::StoreError {
                let actual: Result<Option<i64>, sqlx::Error> =
                    sqlx::query_scalar("SELECT version FROM workflow_instances WHERE id = $1")
                        .bind(t.instance_id.0)
                        .fetch_optional(ex)
                        .await;
                match actual {
                    Ok(Some(actual)) => crate::store::StoreError::Conflict { expected: t.expected_version, actual },
                    Ok(None) => crate::store::StoreError::NotFound(format!("workflow instance {}", t.instance_id)),
                    Err(e) => e.into(),
                }
            }

            /// The state change under its guard: the version and the state the step was
            /// planned from.
            fn push_guarded_update(q: &mut Builder, t: &crate::store::TransitionWrite) {
                q.push("UPDATE workflow_instances SET state = ")
                    .push_bind(t.to_state.clone())
                    .push(", version = version + 1, updated_at = ")
                    .push_bind(t.at)
                    .push(" WHERE id = ")
                    .push_bind(t.instance_id.0)
                    .push(" AND version = ")
                    .push_bind(t.expected_version)
                    .push(" AND state = ")
                    .push_bind(t.from_state.clone());
            }

            /// [`WorkflowStore::apply_transition`] on PostgreSQL: one statement, atomic on its
            /// own, whose data-modifying parts write the event, the emails and the tasks only
            /// where the guarded state change matched. One round trip instead of five or more
            /// (BEGIN, each statement, COMMIT), and one plan for the server.
            async fn apply_transition_as_one_statement(
                &self,
                t: &crate::store::TransitionWrite,
            ) -> crate::store::StoreResult<i64> {
                let version = t.expected_version + 1;
                let mut q = Builder::new("WITH u AS (");
                Self::push_guarded_update(&mut q, t);
                q.push(
                    " RETURNING id), e AS (INSERT INTO workflow_events \
                     (id, instance_id, version, event, from_state, to_state, actor, reason, decision_ids, occurred_at) \
                     SELECT ",
                )
                .push_bind(t.event_id.0)
                .push(", u.id, ")
                .push_bind(version)
                .push(", ")
                .push_bind(t.event.clone())
                .push(", ")
                .push_bind(t.from_state.clone())
                .push(", ")
                .push_bind(t.to_state.clone())
                .push(", ")
                .push_bind(t.actor.clone())
                .push(", ")
                .push_bind(t.reason.clone())
                .push(", ")
                .push_bind(sqlx::types::Json(t.decision_ids.clone()))
                .push(", ")
                .push_bind(t.at)
                .push(" FROM u)");
                if !t.outbox.is_empty() {
                    q.push(
                        ", o AS (INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, created_at) \
                         SELECT v.id, u.id, v.event_id, v.kind, v.name, v.idempotency_key, v.payload, v.created_at FROM u, (",
                    );
                    q.push_values(&t.outbox, |mut b, o| {
                        b.push_bind(o.id.0)
                            .push_bind(t.event_id.0)
                            .push_bind(o.kind.clone())
                            .push_bind(o.name.clone())
                            .push_bind(o.idempotency_key.clone())
                            .push_bind(sqlx::types::Json(o.payload.clone()))
                            .push_bind(t.at);
                    });
                    q.push(") AS v (id, event_id, kind, name, idempotency_key, payload, created_at))");
                }
                if !t.tasks.is_empty() {
                    q.push(
                        ", t AS (INSERT INTO tasks \
                         (id, kind, subject_id, message_sha256, title, details, idempotency_key, created_at, updated_at) \
                         SELECT v.id, v.kind, v.subject_id, v.message_sha256, v.title, v.details, v.idempotency_key, \
                         v.created_at, v.created_at FROM u, (",
                    );
                    q.push_values(&t.tasks, |mut b, task| {
                        b.push_bind(task.id.0)
                            .push_bind(task.kind.clone())
                            .push_bind(task.subject_id.map(|s| s.0))
                            .push_bind(task.message_sha256.clone())
                            .push_bind(task.title.clone())
                            .push_bind(sqlx::types::Json(task.details.clone()))
                            .push_bind(task.idempotency_key.clone())
                            .push_bind(t.at);
                    });
                    q.push(
                        ") AS v (id, kind, subject_id, message_sha256, title, details, idempotency_key, created_at) \
                         ON CONFLICT (idempotency_key) DO NOTHING)",
                    );
                }
                q.push(" SELECT count(*) FROM u");
                let changed: i64 = q.build_query_scalar().fetch_one(self.writer()).await?;
                if changed == 0 {
                    return Err(Self::transition_refused(self.pool(), t).await);
                }
                Ok(version)
            }

            /// [`WorkflowStore::apply_transitions`] on SQLite, the one writer at a time: the
            /// guards (version and state of each instance) are read in one statement under the
            /// write lock `BEGIN IMMEDIATE` took, so they cannot move before the commit, and
            /// the statements of every transition that passes go as one call (a fusing
            /// writer). Four hand-offs to the connection's thread for the batch instead of
            /// five or more for each transition and its savepoint.
            async fn apply_transitions_fused(
                &self,
                writes: &[crate::store::TransitionWrite],
            ) -> crate::store::StoreResult<Vec<crate::store::StoreResult<i64>>> {
                let mut tx = self.begin_write().await?;
                let mut ids: Vec<uuid::Uuid> = writes.iter().map(|t| t.instance_id.0).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut current: std::collections::HashMap<uuid::Uuid, (i64, String)> =
                    std::collections::HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = Builder::new("SELECT id, version, state FROM workflow_instances WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    let rows: Vec<(uuid::Uuid, i64, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    current.extend(rows.into_iter().map(|(id, version, state)| (id, (version, state))));
                }
                let mut w = Writer::fusing();
                let mut out = Vec::with_capacity(writes.len());
                // In arrival order: two steps of one instance keep theirs, the second checked
                // against the state the first leaves.
                for t in writes {
                    match current.get_mut(&t.instance_id.0) {
                        None => out.push(Err(crate::store::StoreError::NotFound(format!(
                            "workflow instance {}",
                            t.instance_id
                        )))),
                        Some((version, state)) if *version == t.expected_version && *state == t.from_state => {
                            let done = Self::transition_in(&mut tx, &mut w, t).await?;
                            *version = done;
                            state.clone_from(&t.to_state);
                            out.push(Ok(done));
                        }
                        Some((version, _)) => out
                            .push(Err(crate::store::StoreError::Conflict { expected: t.expected_version, actual: *version })),
                    }
                }
                w.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(out)
            }

            async fn transition_in(
                tx: &mut Tx,
                w: &mut Writer,
                t: &crate::store::TransitionWrite,
            ) -> crate::store::StoreResult<i64> {
                // The version check and the state change are one statement: whoever updates
                // first wins, everyone else sees zero rows and writes nothing.
                let updated = w.run(tx, |q| Self::push_guarded_update(q, t)).await?;
                if updated == Some(0) {
                    return Err(Self::transition_refused(&mut **tx, t).await);
                }
                let version = t.expected_version + 1;
                Self::insert_event(
                    tx,
                    w,
                    t.event_id,
                    t.instance_id,
                    version,
                    &t.event,
                    Some(&t.from_state),
                    &t.to_state,
                    &t.actor,
                    t.reason.as_deref(),
                    &t.decision_ids,
                    t.at,
                )
                .await?;
                Self::insert_outbox(tx, w, t.instance_id, t.event_id, &t.outbox, t.at).await?;
                for task in &t.tasks {
                    Self::insert_task(tx, w, task, t.at).await?;
                }
                Ok(version)
            }

            async fn insert_decisions(
                tx: &mut Tx,
                w: &mut Writer,
                decisions: &[&crate::rules::DecisionRecord],
            ) -> Result<(), sqlx::Error> {
                if decisions.is_empty() {
                    return Ok(());
                }
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO rule_decisions \
                         (id, subject_id, rule, version, input, output, outcome, reasons, duration_us, decided_at) ",
                    );
                    q.push_values(decisions, |mut b, d| {
                        b.push_bind(d.id.0)
                            .push_bind(d.subject.map(|s| s.0))
                            .push_bind(d.rule.clone())
                            .push_bind(d.version.clone())
                            .push_bind(sqlx::types::Json(d.input.clone()))
                            .push_bind(sqlx::types::Json(d.output.clone()))
                            .push_bind(d.outcome.clone())
                            .push_bind(sqlx::types::Json(d.reasons.clone()))
                            .push_bind(d.duration_us)
                            .push_bind(d.decided_at);
                    });
                })
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::WorkflowStore for $store {
            async fn create_instance(&self, new: &crate::store::NewInstance) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_instance(&mut tx, &mut Writer::immediate(), new).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn apply_transition(&self, t: &crate::store::TransitionWrite) -> crate::store::StoreResult<i64> {
                if !$fuse {
                    return self.apply_transition_as_one_statement(t).await;
                }
                let mut tx = self.begin_write().await?;
                let version = Self::transition_in(&mut tx, &mut Writer::immediate(), t).await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn apply_transitions(
                &self,
                writes: &[crate::store::TransitionWrite],
            ) -> crate::store::StoreResult<Vec<crate::store::StoreResult<i64>>> {
                if let [one] = writes {
                    return Ok(vec![self.apply_transition(one).await]);
                }
                // SQLite: all in one call, unless a statement fails (a duplicate key); that
                // call is undone whole, and the batch goes again below, where the failing
                // transition fails alone.
                if $fuse {
                    match self.apply_transitions_fused(writes).await {
                        Ok(done) => return Ok(done),
                        Err(e) => tracing::debug!(error = %e, "transitions batch: one at a time"),
                    }
                }
                // In instance order (stable: two steps of one instance keep theirs), so two
                // processes' batches lock their rows in the same order and cannot deadlock.
                let mut order: Vec<usize> = (0..writes.len()).collect();
                order.sort_by_key(|i| writes[*i].instance_id.0);
                let mut out: Vec<Option<crate::store::StoreResult<i64>>> = writes.iter().map(|_| None).collect();
                let mut tx = self.begin_write().await?;
                for i in order {
                    let t = &writes[i];
                    sqlx::query("SAVEPOINT transition").execute(&mut *tx).await?;
                    match Self::transition_in(&mut tx, &mut Writer::immediate(), t).await {
                        Ok(version) => out[i] = Some(Ok(version)),
                        // The database's own trouble (busy, a deadlock between processes'
                        // batches, a lost connection): nothing of the batch is written and each
                        // goes alone, where it meets the error it would have met without one.
                        Err(e @ crate::store::StoreError::Database(_)) => return Err(e),
                        // Its own refusal (a stale version): undone, the others go on.
                        Err(e) => {
                            sqlx::query("ROLLBACK TO SAVEPOINT transition").execute(&mut *tx).await?;
                            out[i] = Some(Err(e));
                        }
                    }
                    sqlx::query("RELEASE SAVEPOINT transition").execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(out.into_iter().flatten().collect())
            }

            async fn instance(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::Instance>> {
                let row = sqlx::query("SELECT * FROM workflow_instances WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(crate::store::Instance::from_row).transpose()?)
            }

            async fn events(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::EventRecord>> {
                let rows = sqlx::query("SELECT * FROM workflow_events WHERE instance_id = $1 ORDER BY version")
                    .bind(id.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::store::EventRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn events_of(
                &self,
                ids: &[crate::domain::SubjectId],
                to_state: Option<&str>,
            ) -> crate::store::StoreResult<Vec<crate::store::EventRecord>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM workflow_events WHERE ");
                    if let Some(state) = to_state {
                        q.push("to_state = ").push_bind(state.to_string()).push(" AND ");
                    }
                    q.push("instance_id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.0);
                    }
                    q.push(") ORDER BY instance_id, version");
                    let rows = q.build().fetch_all(self.pool()).await?;
                    out.extend(rows.iter().map(crate::store::EventRecord::from_row).collect::<Result<Vec<_>, _>>()?);
                }
                Ok(out)
            }

            async fn instances_for_account(
                &self,
                account_email: &str,
                workflow: &str,
            ) -> crate::store::StoreResult<Vec<crate::store::Instance>> {
                let rows = sqlx::query(
                    "SELECT * FROM workflow_instances WHERE account_email = $1 AND workflow = $2 ORDER BY id DESC LIMIT 100",
                )
                .bind(account_email)
                .bind(workflow)
                .fetch_all(self.pool())
                .await?;
                Ok(rows.iter().map(crate::store::Instance::from_row).collect::<Result<_, _>>()?)
            }

            async fn waiting_instances(
                &self,
                workflow: &str,
                states: &[&str],
            ) -> crate::store::StoreResult<Vec<crate::store::Instance>> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM workflow_instances WHERE workflow = ");
                q.push_bind(workflow.to_string());
                q.push(" AND state IN (");
                let mut list = q.separated(", ");
                for s in states {
                    list.push_bind(s.to_string());
                }
                q.push(") ORDER BY id");
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::Instance::from_row).collect::<Result<_, _>>()?)
            }

            async fn events_after(
                &self,
                after: uuid::Uuid,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<(crate::store::EventRecord, String, Option<String>)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT e.*, i.workflow AS instance_workflow, i.account_email AS instance_account \
                     FROM workflow_events e JOIN workflow_instances i ON i.id = e.instance_id \
                     WHERE e.id > $1 ORDER BY e.id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push((crate::store::EventRecord::from_row(r)?, r.try_get("instance_workflow")?, r.try_get("instance_account")?));
                }
                Ok(out)
            }

            async fn record_decision(&self, d: &crate::rules::DecisionRecord) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_decisions(&mut tx, &mut Writer::immediate(), &[d]).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn decisions_for(
                &self,
                subject: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::rules::DecisionRecord>> {
                let rows = sqlx::query("SELECT * FROM rule_decisions WHERE subject_id = $1 ORDER BY id")
                    .bind(subject.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(crate::rules::DecisionRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn decisions_by_ids(
                &self,
                ids: &[crate::domain::DecisionId],
            ) -> crate::store::StoreResult<Vec<crate::rules::DecisionRecord>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM rule_decisions WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.0);
                    }
                    q.push(") ORDER BY id");
                    for r in q.build().fetch_all(self.pool()).await? {
                        out.push(crate::rules::DecisionRecord::from_row(&r)?);
                    }
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use impl_workflow_store;
