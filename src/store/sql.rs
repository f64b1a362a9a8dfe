//! The SQL both backends share. SQLite accepts PostgreSQL's `$1` placeholders (sqlx binds
//! them by number), so one text serves both; only column types (in the migrations) and the
//! way a write transaction begins differ. The macro stamps the same method bodies out for
//! each backend's types, because sqlx's generic bounds over `Database` would drown them.

/// Implements [`super::Store`] for a type with `fn pool(&self) -> &Pool<DB>` and
/// `async fn begin_write(&self) -> Result<Transaction<'static, DB>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr) => {
        mod rows {
            use sqlx::Row;
            use sqlx::types::Json;

            use crate::domain::{ApplicationId, DecisionId, EventId, OutboxId, SubjectId};
            use crate::store::{ApplicationRecord, EventRecord, Instance, OutboxRecord};

            type DbRow = <$db as sqlx::Database>::Row;

            pub(super) fn instance(r: &DbRow) -> Result<Instance, sqlx::Error> {
                Ok(Instance {
                    id: SubjectId(r.try_get("id")?),
                    workflow: r.try_get("workflow")?,
                    subject_kind: r.try_get("subject_kind")?,
                    state: r.try_get("state")?,
                    version: r.try_get("version")?,
                    account_email: r.try_get("account_email")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            pub(super) fn event(r: &DbRow) -> Result<EventRecord, sqlx::Error> {
                let ids: Json<Vec<DecisionId>> = r.try_get("decision_ids")?;
                Ok(EventRecord {
                    id: EventId(r.try_get("id")?),
                    instance_id: SubjectId(r.try_get("instance_id")?),
                    version: r.try_get("version")?,
                    event: r.try_get("event")?,
                    from_state: r.try_get("from_state")?,
                    to_state: r.try_get("to_state")?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
                    decision_ids: ids.0,
                    occurred_at: r.try_get("occurred_at")?,
                })
            }

            pub(super) fn outbox(r: &DbRow) -> Result<OutboxRecord, sqlx::Error> {
                let payload: Json<serde_json::Value> = r.try_get("payload")?;
                Ok(OutboxRecord {
                    id: OutboxId(r.try_get("id")?),
                    instance_id: SubjectId(r.try_get("instance_id")?),
                    event_id: EventId(r.try_get("event_id")?),
                    kind: r.try_get("kind")?,
                    name: r.try_get("name")?,
                    idempotency_key: r.try_get("idempotency_key")?,
                    payload: payload.0,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            pub(super) fn decision(r: &DbRow) -> Result<crate::rules::DecisionRecord, sqlx::Error> {
                let input: Json<serde_json::Value> = r.try_get("input")?;
                let output: Json<serde_json::Value> = r.try_get("output")?;
                let reasons: Json<Vec<String>> = r.try_get("reasons")?;
                let subject: Option<uuid::Uuid> = r.try_get("subject_id")?;
                Ok(crate::rules::DecisionRecord {
                    id: DecisionId(r.try_get("id")?),
                    rule: r.try_get("rule")?,
                    version: r.try_get("version")?,
                    input: input.0,
                    output: output.0,
                    outcome: r.try_get("outcome")?,
                    reasons: reasons.0,
                    duration_us: r.try_get("duration_us")?,
                    decided_at: r.try_get("decided_at")?,
                    subject: subject.map(SubjectId),
                })
            }

            pub(super) fn application(r: &DbRow) -> Result<ApplicationRecord, sqlx::Error> {
                let details: Json<serde_json::Value> = r.try_get("details")?;
                Ok(ApplicationRecord {
                    id: ApplicationId(r.try_get("id")?),
                    reference: r.try_get("reference")?,
                    account_email: r.try_get("account_email")?,
                    applicant_kind: r.try_get("applicant_kind")?,
                    requested_limit_cents: r.try_get("requested_limit_cents")?,
                    details: details.0,
                    state: r.try_get("state")?,
                    version: r.try_get("version")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }
        }

        const APPLICATION_SELECT: &str = "SELECT a.id, a.reference, a.account_email, a.applicant_kind, \
             a.requested_limit_cents, a.details, i.state, i.version, a.created_at, i.updated_at \
             FROM applications a JOIN workflow_instances i ON i.id = a.id";

        impl $store {
            async fn insert_outbox(
                tx: &mut sqlx::Transaction<'static, $db>,
                instance: crate::domain::SubjectId,
                event: crate::domain::EventId,
                rows: &[crate::store::OutboxWrite],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                for o in rows {
                    sqlx::query(
                        "INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(o.id.0)
                    .bind(instance.0)
                    .bind(event.0)
                    .bind(&o.kind)
                    .bind(&o.name)
                    .bind(&o.idempotency_key)
                    .bind(sqlx::types::Json(&o.payload))
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            #[allow(clippy::too_many_arguments)]
            async fn insert_event(
                tx: &mut sqlx::Transaction<'static, $db>,
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
                sqlx::query(
                    "INSERT INTO workflow_events \
                     (id, instance_id, version, event, from_state, to_state, actor, reason, decision_ids, occurred_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(id.0)
                .bind(instance.0)
                .bind(version)
                .bind(event)
                .bind(from)
                .bind(to)
                .bind(actor)
                .bind(reason)
                .bind(sqlx::types::Json(decisions))
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn migrate(&self) -> crate::store::StoreResult<()> {
                let mut migrator = $migrator;
                // Other components (the job queue) may keep their own rows in sqlx's table.
                migrator.set_ignore_missing(true);
                migrator.run(self.pool()).await?;
                Ok(())
            }

            async fn ping(&self) -> crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.pool()).await?;
                Ok(())
            }

            async fn create_instance(
                &self,
                new: &crate::store::NewInstance,
                application: Option<&crate::store::NewApplication>,
            ) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO workflow_instances \
                     (id, workflow, subject_kind, state, version, account_email, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
                )
                .bind(new.id.0)
                .bind(&new.workflow)
                .bind(&new.subject_kind)
                .bind(&new.state)
                .bind(&new.account_email)
                .bind(new.at)
                .execute(&mut *tx)
                .await?;
                if let Some(a) = application {
                    sqlx::query(
                        "INSERT INTO applications \
                         (id, reference, account_email, applicant_kind, requested_limit_cents, details, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(new.id.0)
                    .bind(&a.reference)
                    .bind(&a.account_email)
                    .bind(&a.applicant_kind)
                    .bind(a.requested_limit_cents)
                    .bind(sqlx::types::Json(&a.details))
                    .bind(new.at)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::insert_event(
                    &mut tx,
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
                Self::insert_outbox(&mut tx, new.id, new.created_event, &new.outbox, new.at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn apply_transition(&self, t: &crate::store::TransitionWrite) -> crate::store::StoreResult<i64> {
                let mut tx = self.begin_write().await?;
                // The version check and the state change are one statement: whoever updates
                // first wins, everyone else sees zero rows and writes nothing.
                let updated = sqlx::query(
                    "UPDATE workflow_instances SET state = $1, version = version + 1, updated_at = $2 \
                     WHERE id = $3 AND version = $4 AND state = $5",
                )
                .bind(&t.to_state)
                .bind(t.at)
                .bind(t.instance_id.0)
                .bind(t.expected_version)
                .bind(&t.from_state)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    let actual: Option<i64> = sqlx::query_scalar("SELECT version FROM workflow_instances WHERE id = $1")
                        .bind(t.instance_id.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.rollback().await?;
                    return Err(match actual {
                        Some(actual) => crate::store::StoreError::Conflict { expected: t.expected_version, actual },
                        None => crate::store::StoreError::NotFound(format!("workflow instance {}", t.instance_id)),
                    });
                }
                let version = t.expected_version + 1;
                Self::insert_event(
                    &mut tx,
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
                Self::insert_outbox(&mut tx, t.instance_id, t.event_id, &t.outbox, t.at).await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn instance(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::Instance>> {
                let row = sqlx::query("SELECT * FROM workflow_instances WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(rows::instance).transpose()?)
            }

            async fn events(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::EventRecord>> {
                let rows = sqlx::query("SELECT * FROM workflow_events WHERE instance_id = $1 ORDER BY version")
                    .bind(id.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::event).collect::<Result<_, _>>()?)
            }

            async fn outbox_for(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::OutboxRecord>> {
                let rows = sqlx::query("SELECT * FROM outbox WHERE instance_id = $1 ORDER BY id")
                    .bind(id.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::outbox).collect::<Result<_, _>>()?)
            }

            async fn record_decision(&self, d: &crate::rules::DecisionRecord) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO rule_decisions \
                     (id, subject_id, rule, version, input, output, outcome, reasons, duration_us, decided_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(d.id.0)
                .bind(d.subject.map(|s| s.0))
                .bind(&d.rule)
                .bind(&d.version)
                .bind(sqlx::types::Json(&d.input))
                .bind(sqlx::types::Json(&d.output))
                .bind(&d.outcome)
                .bind(sqlx::types::Json(&d.reasons))
                .bind(d.duration_us)
                .bind(d.decided_at)
                .execute(self.pool())
                .await?;
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
                Ok(rows.iter().map(rows::decision).collect::<Result<_, _>>()?)
            }

            async fn application(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Option<crate::store::ApplicationRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("{APPLICATION_SELECT} WHERE a.id = $1"));
                let row = sqlx::query(sql).bind(id.0).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(rows::application).transpose()?)
            }

            async fn application_by_reference(
                &self,
                reference: &str,
            ) -> crate::store::StoreResult<Option<crate::store::ApplicationRecord>> {
                let sql = sqlx::AssertSqlSafe(format!("{APPLICATION_SELECT} WHERE a.reference = $1"));
                let row = sqlx::query(sql).bind(reference).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(rows::application).transpose()?)
            }

            async fn list_applications(
                &self,
                f: &crate::store::ApplicationFilter,
            ) -> crate::store::StoreResult<Vec<crate::store::ApplicationRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{APPLICATION_SELECT} WHERE ($1 IS NULL OR i.state = $1) \
                     AND ($2 IS NULL OR a.account_email = $2) AND ($3 IS NULL OR a.id > $3) \
                     ORDER BY a.id LIMIT $4"
                ));
                let rows = sqlx::query(sql)
                    .bind(&f.state)
                    .bind(&f.account_email)
                    .bind(f.after.map(|a| a.0))
                    .bind(f.limit.clamp(1, 10_000))
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::application).collect::<Result<_, _>>()?)
            }
        }
    };
}

pub(crate) use impl_store;
