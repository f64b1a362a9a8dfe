//! The SQL both backends share. SQLite accepts PostgreSQL's `$1` placeholders (sqlx binds
//! them by number), so one text serves both; only column types (in the migrations) and the
//! way a write transaction begins differ. The macro stamps the same method bodies out for
//! each backend's types, because sqlx's generic bounds over `Database` would drown them.

/// Implements [`super::Store`] for a type with `fn pool(&self) -> &Pool<DB>` (reads),
/// `fn writer(&self) -> &Pool<DB>` (single-statement writes) and
/// `async fn begin_write(&self) -> Result<Transaction<'static, DB>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        mod rows {
            use sqlx::Row;
            use sqlx::types::Json;

            use crate::domain::{ApplicationId, DecisionId, EventId, OutboxId, SubjectId};
            use crate::store::{ApplicationRecord, EventRecord, Instance, OutboxRecord};

            type DbRow = <$db as sqlx::Database>::Row;

            pub(super) fn token(r: &DbRow) -> crate::store::StoreResult<crate::store::TokenRecord> {
                let role: String = r.try_get("role")?;
                Ok(crate::store::TokenRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: role.parse().map_err(|e| crate::store::StoreError::Corrupt(format!("api_tokens.role: {e}")))?,
                    secret_sha256: r.try_get("secret_sha256")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            }

            pub(super) fn website_check(r: &DbRow) -> Result<crate::store::WebsiteCheckRecord, sqlx::Error> {
                let evidence: Option<Json<crate::website::WebsiteEvidence>> = r.try_get("evidence")?;
                Ok(crate::store::WebsiteCheckRecord {
                    id: r.try_get("id")?,
                    application_id: ApplicationId(r.try_get("application_id")?),
                    url: r.try_get("url")?,
                    status: r.try_get("status")?,
                    enqueues: r.try_get("enqueues")?,
                    requested_at: r.try_get("requested_at")?,
                    checked_at: r.try_get("checked_at")?,
                    evidence: evidence.map(|j| j.0),
                })
            }

            pub(super) fn credit_line(r: &DbRow) -> Result<crate::store::CreditLineRecord, sqlx::Error> {
                Ok(crate::store::CreditLineRecord {
                    id: SubjectId(r.try_get("id")?),
                    account_email: r.try_get("account_email")?,
                    application_id: ApplicationId(r.try_get("application_id")?),
                    monthly_limit_cents: r.try_get("monthly_limit_cents")?,
                    approved_by: r.try_get("approved_by")?,
                    second_approver: r.try_get("second_approver")?,
                    state: r.try_get("state")?,
                    version: r.try_get("version")?,
                    opened_at: r.try_get("opened_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            pub(super) fn task(r: &DbRow) -> Result<crate::store::TaskRecord, sqlx::Error> {
                let details: Json<serde_json::Value> = r.try_get("details")?;
                let subject: Option<uuid::Uuid> = r.try_get("subject_id")?;
                Ok(crate::store::TaskRecord {
                    id: crate::domain::TaskId(r.try_get("id")?),
                    kind: r.try_get("kind")?,
                    state: r.try_get("state")?,
                    subject_id: subject.map(SubjectId),
                    message_sha256: r.try_get("message_sha256")?,
                    title: r.try_get("title")?,
                    details: details.0,
                    version: r.try_get("version")?,
                    created_at: r.try_get("created_at")?,
                    assignee: r.try_get("assignee")?,
                    claimed_at: r.try_get("claimed_at")?,
                })
            }

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
                    enqueues: r.try_get("enqueues")?,
                    last_error: r.try_get("last_error")?,
                    message_id: r.try_get("message_id")?,
                    created_at: r.try_get("created_at")?,
                    processed_at: r.try_get("processed_at")?,
                })
            }

            pub(super) fn bill(r: &DbRow) -> Result<crate::store::BillRecord, sqlx::Error> {
                Ok(crate::store::BillRecord {
                    id: r.try_get("id")?,
                    line_id: SubjectId(r.try_get("line_id")?),
                    account_email: r.try_get("account_email")?,
                    period: r.try_get("period")?,
                    amount_cents: r.try_get("amount_cents")?,
                    paid_cents: r.try_get("paid_cents")?,
                    due_at: r.try_get("due_at")?,
                    issued_at: r.try_get("issued_at")?,
                    paid_at: r.try_get("paid_at")?,
                    version: r.try_get("version")?,
                })
            }

            pub(super) fn entry(r: &DbRow) -> Result<crate::store::EntryRecord, sqlx::Error> {
                let line: Option<uuid::Uuid> = r.try_get("line_id")?;
                Ok(crate::store::EntryRecord {
                    id: r.try_get("id")?,
                    account_email: r.try_get("account_email")?,
                    kind: r.try_get("kind")?,
                    bucket: r.try_get("bucket")?,
                    amount_cents: r.try_get("amount_cents")?,
                    line_id: line.map(SubjectId),
                    period: r.try_get("period")?,
                    idempotency_key: r.try_get("idempotency_key")?,
                    provider: r.try_get("provider")?,
                    provider_ref: r.try_get("provider_ref")?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
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

            pub(super) fn increase(r: &DbRow) -> Result<(crate::store::IncreaseRecord, String), sqlx::Error> {
                Ok((
                    crate::store::IncreaseRecord {
                        id: SubjectId(r.try_get("id")?),
                        line_id: SubjectId(r.try_get("line_id")?),
                        account_email: r.try_get("account_email")?,
                        current_limit_cents: r.try_get("current_limit_cents")?,
                        next_limit_cents: r.try_get("next_limit_cents")?,
                        deposit_cents: r.try_get("deposit_cents")?,
                        created_at: r.try_get("created_at")?,
                    },
                    r.try_get("state")?,
                ))
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

        const CREDIT_LINE_SELECT: &str = "SELECT l.id, l.account_email, l.application_id, l.monthly_limit_cents, \
             l.approved_by, l.second_approver, i.state, i.version, l.opened_at, i.updated_at \
             FROM credit_lines l JOIN workflow_instances i ON i.id = l.id";
        const APPLICATION_SELECT: &str = "SELECT a.id, a.reference, a.account_email, a.applicant_kind, \
             a.requested_limit_cents, a.details, i.state, i.version, a.created_at, i.updated_at \
             FROM applications a JOIN workflow_instances i ON i.id = a.id";

        /// The statements of one write transaction. On SQLite every statement is a hand-off
        /// to the connection's own thread, so a fusing writer queues them and sends them as one
        /// multi-statement call (`?` placeholders bind in order across statements); PostgreSQL
        /// cannot prepare several statements at once, so there each runs as it comes. A fusing
        /// writer cannot see row counts: its caller checks the guards first, under the write
        /// lock that `BEGIN IMMEDIATE` took, so the guarded statements are sure to match.
        struct Writer {
            queued: Option<sqlx::QueryBuilder<$db>>,
            pending: usize,
        }

        type Tx = sqlx::Transaction<'static, $db>;
        type Builder = sqlx::QueryBuilder<$db>;

        impl Writer {
            /// Runs every statement at once and checks guards by row counts.
            fn immediate() -> Writer {
                Writer { queued: None, pending: 0 }
            }

            /// Queues statements when the backend allows it (see above).
            fn fusing() -> Writer {
                Writer { queued: $fuse.then(|| sqlx::QueryBuilder::new("")), pending: 0 }
            }

            /// Runs (or queues) the statement `build` writes; returns the rows it changed, or
            /// `None` when queued.
            async fn run(&mut self, tx: &mut Tx, build: impl FnOnce(&mut Builder)) -> Result<Option<u64>, sqlx::Error> {
                match &mut self.queued {
                    Some(q) => {
                        build(q);
                        q.push(";\n");
                        self.pending += 1;
                        Ok(None)
                    }
                    None => {
                        let mut q = sqlx::QueryBuilder::new("");
                        build(&mut q);
                        Ok(Some(q.build().execute(&mut **tx).await?.rows_affected()))
                    }
                }
            }

            /// Sends whatever is queued.
            async fn flush(&mut self, tx: &mut Tx) -> Result<(), sqlx::Error> {
                if self.pending > 0
                    && let Some(mut q) = self.queued.replace(sqlx::QueryBuilder::new(""))
                {
                    self.pending = 0;
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }
        }

        impl $store {
            async fn insert_outbox(
                tx: &mut Tx,
                w: &mut Writer,
                instance: crate::domain::SubjectId,
                event: crate::domain::EventId,
                rows: &[crate::store::OutboxWrite],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                for o in rows {
                    // Reviewer tasks are not sent anywhere: they open in the task queue.
                    if o.kind == "task" {
                        let state = o.payload.get("state").and_then(|s| s.as_str()).unwrap_or_default();
                        let task = crate::store::TaskWrite {
                            id: crate::domain::TaskId::new(),
                            kind: o.name.clone(),
                            subject_id: Some(instance),
                            message_sha256: None,
                            title: format!("{} ({state})", o.name.replace('_', " ")),
                            details: o.payload.clone(),
                            idempotency_key: o.idempotency_key.clone(),
                        };
                        Self::insert_task(tx, w, &task, at).await?;
                        continue;
                    }
                    w.run(tx, |q| {
                        q.push("INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, created_at) ");
                        q.push_values([o], |mut b, o| {
                            b.push_bind(o.id.0)
                                .push_bind(instance.0)
                                .push_bind(event.0)
                                .push_bind(o.kind.clone())
                                .push_bind(o.name.clone())
                                .push_bind(o.idempotency_key.clone())
                                .push_bind(sqlx::types::Json(o.payload.clone()))
                                .push_bind(at);
                        });
                    })
                    .await?;
                }
                Ok(())
            }

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
                application: Option<&crate::store::NewApplication>,
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
                if let Some(a) = application {
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
                Ok(())
            }

            /// The rows `head` + a list of line ids + `tail` selects, 500 ids a query (the
            /// ORDER BY in `tail` holds within each 500).
            async fn rows_of_lines(
                &self,
                head: &str,
                lines: &[crate::domain::SubjectId],
                tail: &str,
            ) -> Result<Vec<<$db as sqlx::Database>::Row>, sqlx::Error> {
                let mut out = Vec::new();
                for chunk in lines.chunks(500) {
                    let mut q = Builder::new(head);
                    let mut list = q.separated(", ");
                    for l in chunk {
                        list.push_bind(l.0);
                    }
                    q.push(tail);
                    out.extend(q.build().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }

            /// Why a transition would not apply: a newer version, or no such instance.
            async fn transition_refused(tx: &mut Tx, t: &crate::store::TransitionWrite) -> crate::store::StoreError {
                let actual: Result<Option<i64>, sqlx::Error> =
                    sqlx::query_scalar("SELECT version FROM workflow_instances WHERE id = $1")
                        .bind(t.instance_id.0)
                        .fetch_optional(&mut **tx)
                        .await;
                match actual {
                    Ok(Some(actual)) => crate::store::StoreError::Conflict { expected: t.expected_version, actual },
                    Ok(None) => crate::store::StoreError::NotFound(format!("workflow instance {}", t.instance_id)),
                    Err(e) => e.into(),
                }
            }

            async fn transition_in(
                tx: &mut Tx,
                w: &mut Writer,
                t: &crate::store::TransitionWrite,
            ) -> crate::store::StoreResult<i64> {
                // The version check and the state change are one statement: whoever updates
                // first wins, everyone else sees zero rows and writes nothing.
                let updated = w
                    .run(tx, |q| {
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
                    })
                    .await?;
                if updated == Some(0) {
                    return Err(Self::transition_refused(tx, t).await);
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
                Ok(version)
            }

            /// Ledger entries as multi-row statements: (account, entry, time) each.
            async fn insert_entries(
                tx: &mut Tx,
                w: &mut Writer,
                rows: &[(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)],
            ) -> Result<(), sqlx::Error> {
                let size = |(a, e, _): &(&str, &crate::store::EntryWrite, chrono::DateTime<chrono::Utc>)| {
                    200 + a.len() + e.idempotency_key.len() + e.actor.len() + e.reason.as_ref().map_or(0, String::len)
                };
                for chunk in crate::store::sql::runs(rows, 500, size) {
                    w.run(tx, |q| {
                        q.push(
                            "INSERT INTO ledger_entries (id, account_email, kind, bucket, amount_cents, line_id, period, \
                             idempotency_key, provider, provider_ref, actor, reason, created_at) ",
                        );
                        q.push_values(chunk, |mut b, (a, e, at)| {
                            b.push_bind(e.id)
                                .push_bind(a.to_string())
                                .push_bind(e.kind.as_str())
                                .push_bind(e.bucket.as_str())
                                .push_bind(e.amount_cents)
                                .push_bind(e.line_id.map(|l| l.0))
                                .push_bind(e.period.map(|p| p.to_string()))
                                .push_bind(e.idempotency_key.clone())
                                .push_bind(e.provider.clone())
                                .push_bind(e.provider_ref.clone())
                                .push_bind(e.actor.clone())
                                .push_bind(e.reason.clone())
                                .push_bind(*at);
                        });
                    })
                    .await?;
                }
                Ok(())
            }

            /// A zero balance row for each account that has none yet.
            async fn ensure_accounts(
                tx: &mut Tx,
                w: &mut Writer,
                accounts: &[&str],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                for chunk in crate::store::sql::runs(accounts, 500, |a| 60 + a.len()) {
                    w.run(tx, |q| {
                        q.push("INSERT INTO ledger_accounts (account_email, prepaid_cents, deposit_cents, version, updated_at) ");
                        q.push_values(chunk, |mut b, a| {
                            b.push_bind(a.to_string()).push_bind(0i64).push_bind(0i64).push_bind(1i64).push_bind(at);
                        });
                        q.push(" ON CONFLICT (account_email) DO NOTHING");
                    })
                    .await?;
                }
                Ok(())
            }

            async fn insert_increase(tx: &mut Tx, w: &mut Writer, r: &crate::store::IncreaseRecord) -> Result<(), sqlx::Error> {
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO limit_increases (id, line_id, account_email, current_limit_cents, next_limit_cents, \
                         deposit_cents, created_at) ",
                    );
                    q.push_values([r], |mut b, r| {
                        b.push_bind(r.id.0)
                            .push_bind(r.line_id.0)
                            .push_bind(r.account_email.clone())
                            .push_bind(r.current_limit_cents)
                            .push_bind(r.next_limit_cents)
                            .push_bind(r.deposit_cents)
                            .push_bind(r.created_at);
                    });
                })
                .await?;
                Ok(())
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

            /// [`crate::store::Store::owed_months`] on the caller's connection.
            async fn owed_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::domain::SubjectId, crate::domain::Unpaid)>> {
                use sqlx::Row;
                let mut out = Vec::new();
                for chunk in lines.chunks(400) {
                    let mut q = Builder::new(
                        "SELECT line_id, period, amount_cents - paid_cents AS owed FROM bills \
                         WHERE paid_cents < amount_cents AND line_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for l in chunk {
                        list.push_bind(l.0);
                    }
                    q.push(
                        ") UNION ALL SELECT u.line_id, u.period, u.used_cents AS owed FROM credit_usage u \
                         WHERE u.used_cents > 0 AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = u.line_id AND b.period = u.period) \
                         AND u.line_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for l in chunk {
                        list.push_bind(l.0);
                    }
                    q.push(")");
                    for r in &q.build().fetch_all(&mut *conn).await? {
                        let period: String = r.try_get("period")?;
                        let period = period.parse().map_err(|e| crate::store::StoreError::Corrupt(format!("{e}")))?;
                        let unpaid = crate::domain::Unpaid {
                            period,
                            owed: crate::domain::Money::from_cents(r.try_get("owed")?),
                        };
                        out.push((crate::domain::SubjectId(r.try_get("line_id")?), unpaid));
                    }
                }
                out.sort_by_key(|(line, u)| (line.0, u.period));
                Ok(out)
            }

            /// The entries and the balances they move, inside the caller's transaction.
            async fn ledger_in(tx: &mut Tx, w: &crate::store::LedgerWrite) -> crate::store::StoreResult<()> {
                use crate::domain::Bucket;
                use crate::store::StoreError;
                let mut out = Writer::immediate();
                let rows: Vec<_> = w.entries.iter().map(|e| (w.account_email.as_str(), e, w.at)).collect();
                Self::insert_entries(tx, &mut out, &rows).await?;
                let delta = |b: Bucket| w.entries.iter().filter(|e| e.bucket == b).map(|e| e.amount_cents).sum::<i64>();
                let (prepaid, deposit) = (delta(Bucket::Prepaid), delta(Bucket::Deposit));
                Self::ensure_accounts(tx, &mut out, &[w.account_email.as_str()], w.at).await?;
                if prepaid != 0 || deposit != 0 {
                    // Guarded in the statement: a concurrent debit that got there first makes
                    // this one match no row instead of going below zero.
                    let done = sqlx::query(
                        "UPDATE ledger_accounts SET prepaid_cents = prepaid_cents + $2, deposit_cents = deposit_cents + $3, \
                         version = version + 1, updated_at = $4 \
                         WHERE account_email = $1 AND prepaid_cents + $2 >= 0 AND deposit_cents + $3 >= 0",
                    )
                    .bind(&w.account_email)
                    .bind(prepaid)
                    .bind(deposit)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!("the balance of {} is too low", w.account_email)));
                    }
                }
                if let Some(d) = &w.draw {
                    sqlx::query(
                        "INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) \
                         VALUES ($1, $2, $3, $4, 0, 1) ON CONFLICT (line_id, period) DO NOTHING",
                    )
                    .bind(d.line_id.0)
                    .bind(d.period.to_string())
                    .bind(&w.account_email)
                    .bind(d.limit_cents)
                    .execute(&mut **tx)
                    .await?;
                    // The billing-cycle gate, checked against what the tables hold now: a month
                    // before `paid_before` that used credit and is unbilled, or billed and not paid
                    // in full, shuts the line whatever the caller planned from.
                    let done = sqlx::query(
                        "UPDATE credit_usage SET used_cents = used_cents + $3, version = version + 1 \
                         WHERE line_id = $1 AND period = $2 AND used_cents + $3 >= 0 AND used_cents + $3 <= limit_cents \
                         AND ($3 <= 0 OR (used_cents + $3 <= $4 \
                         AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = $1 AND b.period < $5 AND b.paid_cents < b.amount_cents) \
                         AND NOT EXISTS (SELECT 1 FROM credit_usage o WHERE o.line_id = $1 AND o.period < $5 AND o.used_cents > 0 \
                         AND NOT EXISTS (SELECT 1 FROM bills c WHERE c.line_id = o.line_id AND c.period = o.period))))",
                    )
                    .bind(d.line_id.0)
                    .bind(d.period.to_string())
                    .bind(d.cents)
                    .bind(d.cap_cents)
                    .bind(d.paid_before.to_string())
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!(
                            "the credit line's limit for {} is reached, or a month before {} is unpaid",
                            d.period, d.paid_before
                        )));
                    }
                }
                if let Some(code) = &w.coupon {
                    let done = sqlx::query(
                        "UPDATE coupons SET redeemed = redeemed + 1 WHERE code = $1 AND redeemed < max_redemptions AND expires_at > $2",
                    )
                    .bind(code)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!("coupon {code} is unknown, used up or expired")));
                    }
                    let entry = w.entries.first().map(|e| e.id).unwrap_or_default();
                    let inserted = sqlx::query(
                        "INSERT INTO coupon_redemptions (code, account_email, entry_id, redeemed_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (code, account_email) DO NOTHING",
                    )
                    .bind(code)
                    .bind(&w.account_email)
                    .bind(entry)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await?;
                    if inserted.rows_affected() != 1 {
                        return Err(StoreError::Refused(format!("coupon {code} was already redeemed by {}", w.account_email)));
                    }
                }
                Ok(())
            }

            async fn insert_task(
                tx: &mut Tx,
                w: &mut Writer,
                t: &crate::store::TaskWrite,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), sqlx::Error> {
                w.run(tx, |q| {
                    q.push(
                        "INSERT INTO tasks \
                         (id, kind, subject_id, message_sha256, title, details, idempotency_key, created_at, updated_at) ",
                    );
                    q.push_values([t], |mut b, t| {
                        b.push_bind(t.id.0)
                            .push_bind(t.kind.clone())
                            .push_bind(t.subject_id.map(|s| s.0))
                            .push_bind(t.message_sha256.clone())
                            .push_bind(t.title.clone())
                            .push_bind(sqlx::types::Json(t.details.clone()))
                            .push_bind(t.idempotency_key.clone())
                            .push_bind(at)
                            .push_bind(at);
                    });
                    q.push(" ON CONFLICT (idempotency_key) DO NOTHING");
                })
                .await?;
                Ok(())
            }

            /// Keeps a raw message unless its bytes or its Message-ID are known; says whether it
            /// still needs processing.
            async fn keep_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                m: &crate::store::RawMessage,
            ) -> crate::store::StoreResult<crate::store::Kept> {
                let inserted: Option<String> = sqlx::query_scalar(
                    "INSERT INTO inbound_messages (sha256, message_id, size, raw, source, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING sha256",
                )
                .bind(&m.sha256)
                .bind(&m.message_id)
                .bind(m.size)
                .bind(&m.raw)
                .bind(&m.source)
                .bind(m.received_at)
                .fetch_optional(&mut *conn)
                .await?;
                // New bytes and a new Message-ID: the common case, settled in one round trip.
                if inserted.is_some() {
                    return Ok(crate::store::Kept::ToProcess);
                }
                let rows = sqlx::query(
                    "SELECT sha256, processed_at, report FROM inbound_messages WHERE sha256 = $1 OR message_id = $2",
                )
                .bind(&m.sha256)
                .bind(&m.message_id)
                .fetch_all(&mut *conn)
                .await?;
                let mut own_unprocessed = false;
                for r in &rows {
                    use sqlx::Row;
                    let sha: String = r.try_get("sha256")?;
                    let done: Option<chrono::DateTime<chrono::Utc>> = r.try_get("processed_at")?;
                    let report: Option<sqlx::types::Json<serde_json::Value>> = r.try_get("report")?;
                    if done.is_some() {
                        return Ok(crate::store::Kept::Processed {
                            report: report.map(|j| j.0).unwrap_or(serde_json::Value::Null),
                        });
                    }
                    own_unprocessed |= sha == m.sha256;
                }
                // Same Message-ID, other bytes, first copy not yet processed: that copy wins.
                Ok(if own_unprocessed {
                    crate::store::Kept::ToProcess
                } else {
                    crate::store::Kept::Processed { report: serde_json::Value::Null }
                })
            }

            /// The state an intake write changes (claim, instances, transitions, events, outbox,
            /// tasks), through `out` (see [`Writer`]); its rows follow in [`Self::write_intake_rows`].
            async fn write_intake(tx: &mut Tx, out: &mut Writer, w: &crate::store::IntakeWrite) -> crate::store::StoreResult<()> {
                let claimed = out
                    .run(tx, |q| {
                        q.push("UPDATE inbound_messages SET outcome = ")
                            .push_bind(w.outcome.clone())
                            .push(", application_id = ")
                            .push_bind(w.application_id.map(|a| a.0))
                            .push(", report = ")
                            .push_bind(sqlx::types::Json(w.report.clone()))
                            .push(", processed_at = ")
                            .push_bind(w.processed_at)
                            .push(" WHERE sha256 = ")
                            .push_bind(w.message_sha256.clone())
                            .push(" AND processed_at IS NULL");
                    })
                    .await?;
                if claimed == Some(0) {
                    return Err(crate::store::StoreError::Duplicate(format!("message {} already processed", w.message_sha256)));
                }
                for (instance, application) in &w.new_instances {
                    Self::insert_instance(tx, out, instance, application.as_ref()).await?;
                }
                for r in &w.increases {
                    Self::insert_increase(tx, out, r).await?;
                }
                for r in &w.invoice_requests {
                    out.run(tx, |q| {
                        q.push(
                            "INSERT INTO invoice_requests (id, reference, account_email, requester, details, created_at, \
                             updated_at) ",
                        );
                        q.push_values([r], |mut b, r| {
                            b.push_bind(r.id.0)
                                .push_bind(r.reference.clone())
                                .push_bind(r.account_email.clone())
                                .push_bind(r.requester.clone())
                                .push_bind(sqlx::types::Json(r.details.clone()))
                                .push_bind(r.at)
                                .push_bind(r.at);
                        });
                        q.push(" ON CONFLICT (id) DO UPDATE SET details = excluded.details, updated_at = excluded.updated_at");
                    })
                    .await?;
                }
                if let Some(u) = &w.application_update {
                    out.run(tx, |q| {
                        q.push("UPDATE applications SET applicant_kind = COALESCE(")
                            .push_bind(u.applicant_kind.clone())
                            .push(", applicant_kind), requested_limit_cents = COALESCE(")
                            .push_bind(u.requested_limit_cents)
                            .push(", requested_limit_cents), details = ")
                            .push_bind(sqlx::types::Json(u.details.clone()))
                            .push(" WHERE id = ")
                            .push_bind(u.id.0);
                    })
                    .await?;
                }
                for t in &w.transitions {
                    Self::transition_in(tx, out, t).await?;
                }
                for t in &w.tasks {
                    Self::insert_task(tx, out, t, w.processed_at).await?;
                }
                Ok(())
            }

            /// The rows many intake writes add (decisions, fields, evidence, attachments), one
            /// multi-row statement per table: fewer statements for the database to prepare.
            async fn write_intake_rows(
                tx: &mut Tx,
                out: &mut Writer,
                writes: &[crate::store::IntakeWrite],
            ) -> crate::store::StoreResult<()> {
                let decisions: Vec<&crate::rules::DecisionRecord> = writes.iter().flat_map(|w| &w.decisions).collect();
                Self::insert_decisions(tx, out, &decisions).await?;
                let fields: Vec<_> =
                    writes.iter().flat_map(|w| w.fields.iter().map(move |(app, f)| (app, f, w.processed_at))).collect();
                if !fields.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO application_fields (application_id, field, value, message_id, excerpt, recorded_at) ");
                        q.push_values(&fields, |mut b, (app, f, at)| {
                            b.push_bind(app.0)
                                .push_bind(f.field.clone())
                                .push_bind(f.value.clone())
                                .push_bind(f.message_id.clone())
                                .push_bind(f.excerpt.clone())
                                .push_bind(*at);
                        });
                    })
                    .await?;
                }
                let evidence: Vec<_> =
                    writes.iter().flat_map(|w| w.evidence.iter().map(move |(app, e)| (app, e, w.processed_at))).collect();
                if !evidence.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO evidence (application_id, kind, data, message_id, recorded_at) ");
                        q.push_values(&evidence, |mut b, (app, e, at)| {
                            b.push_bind(app.0)
                                .push_bind(e.kind.clone())
                                .push_bind(sqlx::types::Json(e.data.clone()))
                                .push_bind(e.message_id.clone())
                                .push_bind(*at);
                        });
                    })
                    .await?;
                }
                let checks: Vec<_> =
                    writes.iter().flat_map(|w| w.website_checks.iter().map(move |c| (c, w.processed_at))).collect();
                if !checks.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO website_checks (id, application_id, url, requested_at) ");
                        q.push_values(&checks, |mut b, (c, at)| {
                            b.push_bind(c.id).push_bind(c.application_id.0).push_bind(c.url.clone()).push_bind(*at);
                        });
                        // Asked for before (the same address again, a replayed message): once.
                        q.push(" ON CONFLICT (application_id, url) DO NOTHING");
                    })
                    .await?;
                }
                let attachments: Vec<_> =
                    writes.iter().flat_map(|w| w.attachments.iter().map(move |a| (&w.message_sha256, a))).collect();
                if !attachments.is_empty() {
                    out.run(tx, |q| {
                        q.push("INSERT INTO message_attachments (message_sha256, position, filename, content_type, size, sha256) ");
                        q.push_values(&attachments, |mut b, (message, a)| {
                            b.push_bind((*message).clone())
                                .push_bind(a.position)
                                .push_bind(a.filename.clone())
                                .push_bind(a.content_type.clone())
                                .push_bind(a.size)
                                .push_bind(a.sha256.clone());
                        });
                    })
                    .await?;
                }
                Ok(())
            }

            /// Moves a task if it is still at the version the caller saw.
            async fn update_task(
                tx: &mut Tx,
                t: &crate::store::TaskUpdate,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE tasks SET state = $1, assignee = $2, claimed_at = $7, details = $3, version = version + 1, \
                     updated_at = $4 WHERE id = $5 AND version = $6",
                )
                .bind(&t.state)
                .bind(&t.assignee)
                .bind(sqlx::types::Json(&t.details))
                .bind(at)
                .bind(t.id.0)
                .bind(t.expected_version)
                .bind(t.claimed_at)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                Err(Self::task_refused(tx, t.id, t.expected_version).await)
            }

            /// Why a versioned task update matched nothing: a newer version, or no such task.
            async fn task_refused(tx: &mut Tx, id: crate::domain::TaskId, expected: i64) -> crate::store::StoreError {
                let actual: Result<Option<i64>, sqlx::Error> =
                    sqlx::query_scalar("SELECT version FROM tasks WHERE id = $1").bind(id.0).fetch_optional(&mut **tx).await;
                match actual {
                    Ok(Some(actual)) => crate::store::StoreError::Conflict { expected, actual },
                    Ok(None) => crate::store::StoreError::NotFound(format!("task {id}")),
                    Err(e) => e.into(),
                }
            }

            async fn insert_audit(tx: &mut Tx, a: &crate::store::AuditRecord) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO audit_log (id, actor, action, target, version_before, version_after, request_id, detail, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(a.id)
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.target)
                .bind(a.version_before)
                .bind(a.version_after)
                .bind(&a.request_id)
                .bind(sqlx::types::Json(&a.detail))
                .bind(a.at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// The guards of an intake write, checked before anything is written: the message
            /// is still unclaimed, and every existing instance a transition moves is at the
            /// version and state the plan started from.
            async fn intake_guards(tx: &mut Tx, w: &crate::store::IntakeWrite) -> crate::store::StoreResult<()> {
                let unclaimed: Option<bool> =
                    sqlx::query_scalar("SELECT processed_at IS NULL FROM inbound_messages WHERE sha256 = $1")
                        .bind(&w.message_sha256)
                        .fetch_optional(&mut **tx)
                        .await?;
                if unclaimed != Some(true) {
                    return Err(crate::store::StoreError::Duplicate(format!("message {} already processed", w.message_sha256)));
                }
                let mut seen = std::collections::HashSet::new();
                for t in &w.transitions {
                    let created_here = w.new_instances.iter().any(|(i, _)| i.id == t.instance_id);
                    // Only the first transition of each instance starts from stored state.
                    if created_here || !seen.insert(t.instance_id) {
                        continue;
                    }
                    let row: Option<(i64, String)> =
                        sqlx::query_as("SELECT version, state FROM workflow_instances WHERE id = $1")
                            .bind(t.instance_id.0)
                            .fetch_optional(&mut **tx)
                            .await?;
                    match row {
                        Some((v, s)) if v == t.expected_version && s == t.from_state => {}
                        Some((actual, _)) => {
                            return Err(crate::store::StoreError::Conflict { expected: t.expected_version, actual });
                        }
                        None => {
                            return Err(crate::store::StoreError::NotFound(format!("workflow instance {}", t.instance_id)));
                        }
                    }
                }
                Ok(())
            }

            /// Everything an [`crate::store::ActionWrite`] writes, inside the caller's transaction.
            async fn action_in(tx: &mut Tx, w: &mut Writer, a: &crate::store::ActionWrite) -> crate::store::StoreResult<()> {
                if let Some(t) = &a.task {
                    Self::update_task(tx, t, a.audit.at).await?;
                }
                if let Some(t) = &a.transition {
                    Self::transition_in(tx, w, t).await?;
                }
                if let Some(i) = &a.new_instance {
                    Self::insert_instance(tx, w, i, None).await?;
                }
                if let Some(l) = &a.credit_line {
                    sqlx::query(
                        "INSERT INTO credit_lines (id, account_email, application_id, monthly_limit_cents, approved_by, \
                         second_approver, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(l.id.0)
                    .bind(&l.account_email)
                    .bind(l.application_id.0)
                    .bind(l.monthly_limit_cents)
                    .bind(&l.approved_by)
                    .bind(&l.second_approver)
                    .bind(a.audit.at)
                    .execute(&mut **tx)
                    .await?;
                }
                let decisions: Vec<&crate::rules::DecisionRecord> = a.decisions.iter().collect();
                Self::insert_decisions(tx, w, &decisions).await?;
                Self::insert_audit(tx, &a.audit).await?;
                if let Some(k) = &a.idempotency {
                    sqlx::query(
                        "INSERT INTO idempotency_keys (caller, key, request_hash, status, response, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&k.caller)
                    .bind(&k.key)
                    .bind(&k.request_hash)
                    .bind(i64::from(k.status))
                    .bind(sqlx::types::Json(&k.response))
                    .bind(k.created_at)
                    .execute(&mut **tx)
                    .await?;
                }
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
                Self::insert_instance(&mut tx, &mut Writer::immediate(), new, application).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn apply_transition(&self, t: &crate::store::TransitionWrite) -> crate::store::StoreResult<i64> {
                let mut tx = self.begin_write().await?;
                let version = Self::transition_in(&mut tx, &mut Writer::immediate(), t).await?;
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
                    out.extend(rows.iter().map(rows::event).collect::<Result<Vec<_>, _>>()?);
                }
                Ok(out)
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

            async fn keep_message(&self, m: &crate::store::RawMessage) -> crate::store::StoreResult<crate::store::Kept> {
                let mut conn = self.writer().acquire().await?;
                Self::keep_in(&mut conn, m).await
            }

            async fn commit_intake(&self, w: &crate::store::IntakeWrite) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut out = Writer::fusing();
                if $fuse {
                    Self::intake_guards(&mut tx, w).await?;
                }
                Self::write_intake(&mut tx, &mut out, w).await?;
                Self::write_intake_rows(&mut tx, &mut out, std::slice::from_ref(w)).await?;
                out.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn commit_intakes(&self, writes: &[crate::store::IntakeWrite]) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut out = Writer::fusing();
                let mut touched = std::collections::HashSet::new();
                for w in writes {
                    // Guards read committed state, so a write moving an instance that an
                    // earlier write of this batch moved would pass them wrongly. Callers keep
                    // such messages apart; refuse the batch if one slips through.
                    if w.transitions.iter().any(|t| {
                        !w.new_instances.iter().any(|(i, _)| i.id == t.instance_id) && !touched.insert(t.instance_id)
                    }) {
                        return Err(crate::store::StoreError::Conflict { expected: 0, actual: 0 });
                    }
                    if $fuse {
                        Self::intake_guards(&mut tx, w).await?;
                    }
                    Self::write_intake(&mut tx, &mut out, w).await?;
                }
                Self::write_intake_rows(&mut tx, &mut out, writes).await?;
                out.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn keep_messages(
                &self,
                messages: &[crate::store::RawMessage],
            ) -> crate::store::StoreResult<Vec<crate::store::Kept>> {
                let mut tx = self.begin_write().await?;
                let mut kept = Vec::with_capacity(messages.len());
                for m in messages {
                    kept.push(Self::keep_in(&mut tx, m).await?);
                }
                tx.commit().await?;
                Ok(kept)
            }

            async fn application_for_thread(
                &self,
                message_ids: &[String],
            ) -> crate::store::StoreResult<Option<crate::domain::ApplicationId>> {
                for id in message_ids.iter().take(50) {
                    let found: Option<Option<uuid::Uuid>> =
                        sqlx::query_scalar("SELECT application_id FROM inbound_messages WHERE message_id = $1")
                            .bind(id)
                            .fetch_optional(self.pool())
                            .await?;
                    if let Some(Some(app)) = found {
                        return Ok(Some(crate::domain::ApplicationId(app)));
                    }
                }
                Ok(None)
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
                Ok(rows.iter().map(rows::instance).collect::<Result<_, _>>()?)
            }

            async fn application_fields(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::FieldRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT field, value, message_id, excerpt, recorded_at FROM application_fields \
                     WHERE application_id = $1 ORDER BY id",
                )
                .bind(id.0)
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::FieldRecord {
                        field: r.try_get("field")?,
                        value: r.try_get("value")?,
                        message_id: r.try_get("message_id")?,
                        excerpt: r.try_get("excerpt")?,
                        recorded_at: r.try_get("recorded_at")?,
                    });
                }
                Ok(out)
            }

            async fn evidence_for(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::EvidenceWrite>> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT kind, data, message_id FROM evidence WHERE application_id = $1 ORDER BY id")
                    .bind(id.0)
                    .fetch_all(self.pool())
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let data: sqlx::types::Json<serde_json::Value> = r.try_get("data")?;
                    out.push(crate::store::EvidenceWrite {
                        kind: r.try_get("kind")?,
                        data: data.0,
                        message_id: r.try_get("message_id")?,
                    });
                }
                Ok(out)
            }

            async fn messages_for(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::MessageRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT sha256, message_id, outcome, report, received_at FROM inbound_messages \
                     WHERE application_id = $1 ORDER BY received_at, sha256",
                )
                .bind(id.0)
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let report: Option<sqlx::types::Json<serde_json::Value>> = r.try_get("report")?;
                    out.push(crate::store::MessageRecord {
                        sha256: r.try_get("sha256")?,
                        message_id: r.try_get("message_id")?,
                        outcome: r.try_get("outcome")?,
                        report: report.map(|j| j.0),
                        received_at: r.try_get("received_at")?,
                    });
                }
                Ok(out)
            }

            async fn list_tasks(&self, f: &crate::store::TaskFilter) -> crate::store::StoreResult<Vec<crate::store::TaskRecord>> {
                // Only the filters given go into the WHERE clause: `($1 IS NULL OR kind = $1)`
                // hides the column from the planner, which then walks the id index from the
                // first task and skips everything before the cursor (a deep page read most of
                // the table). As plain terms they meet the indexes of 0006: equalities, then
                // `id > cursor` as a range in id order, so a page costs its own rows.
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM tasks");
                let mut glue = " WHERE ";
                if let Some(kind) = &f.kind {
                    q.push(glue).push("kind = ").push_bind(kind.clone());
                    glue = " AND ";
                }
                if let Some(state) = &f.state {
                    q.push(glue).push("state = ").push_bind(state.clone());
                    glue = " AND ";
                }
                if let Some(assignee) = &f.assignee {
                    q.push(glue).push("assignee = ").push_bind(assignee.clone());
                    glue = " AND ";
                }
                if let Some(before) = f.created_before {
                    q.push(glue).push("created_at < ").push_bind(before);
                    glue = " AND ";
                }
                if let Some(after) = f.after {
                    q.push(glue).push("id > ").push_bind(after.0);
                }
                q.push(" ORDER BY id LIMIT ").push_bind(f.limit.clamp(1, 10_000));
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(rows::task).collect::<Result<_, _>>()?)
            }

            async fn task(&self, id: crate::domain::TaskId) -> crate::store::StoreResult<Option<crate::store::TaskRecord>> {
                let row = sqlx::query("SELECT * FROM tasks WHERE id = $1").bind(id.0).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(rows::task).transpose()?)
            }

            async fn assign_task(
                &self,
                id: crate::domain::TaskId,
                expected_version: i64,
                assignee: Option<&str>,
                audit: &crate::store::AuditRecord,
            ) -> crate::store::StoreResult<crate::store::TaskRecord> {
                let mut tx = self.begin_write().await?;
                let claimed_at = assignee.map(|_| audit.at);
                let row = sqlx::query(
                    "UPDATE tasks SET assignee = $1, claimed_at = $2, version = version + 1, updated_at = $3 \
                     WHERE id = $4 AND version = $5 RETURNING *",
                )
                .bind(assignee)
                .bind(claimed_at)
                .bind(audit.at)
                .bind(id.0)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Err(Self::task_refused(&mut tx, id, expected_version).await) };
                let task = rows::task(&row)?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(task)
            }

            async fn list_audit(&self, f: &crate::store::AuditFilter) -> crate::store::StoreResult<Vec<crate::store::AuditRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT * FROM audit_log WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
                     AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5",
                )
                .bind(&f.actor)
                .bind(&f.action)
                .bind(&f.target)
                .bind(f.after)
                .bind(f.limit.clamp(1, 10_000))
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let detail: sqlx::types::Json<serde_json::Value> = r.try_get("detail")?;
                    out.push(crate::store::AuditRecord {
                        id: r.try_get("id")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                        version_before: r.try_get("version_before")?,
                        version_after: r.try_get("version_after")?,
                        request_id: r.try_get("request_id")?,
                        detail: detail.0,
                        at: r.try_get("at")?,
                    });
                }
                Ok(out)
            }

            async fn commit_action(&self, a: &crate::store::ActionWrite) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut w = Writer::immediate();
                Self::action_in(&mut tx, &mut w, a).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn idempotent_response(
                &self,
                caller: &str,
                key: &str,
            ) -> crate::store::StoreResult<Option<crate::store::IdempotentResponse>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT * FROM idempotency_keys WHERE caller = $1 AND key = $2")
                    .bind(caller)
                    .bind(key)
                    .fetch_optional(self.pool())
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let response: sqlx::types::Json<serde_json::Value> = r.try_get("response")?;
                let status: i64 = r.try_get("status")?;
                Ok(Some(crate::store::IdempotentResponse {
                    caller: r.try_get("caller")?,
                    key: r.try_get("key")?,
                    request_hash: r.try_get("request_hash")?,
                    status: u16::try_from(status).map_err(|_| crate::store::StoreError::Corrupt(format!("status {status}")))?,
                    response: response.0,
                    created_at: r.try_get("created_at")?,
                }))
            }

            async fn credit_line(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::CreditLineRecord>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("{CREDIT_LINE_SELECT} WHERE l.id = $1")))
                    .bind(id.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(rows::credit_line).transpose()?)
            }

            async fn list_credit_lines(
                &self,
                f: &crate::store::CreditLineFilter,
            ) -> crate::store::StoreResult<Vec<crate::store::CreditLineRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new(CREDIT_LINE_SELECT);
                q.push(" WHERE 1 = 1");
                if let Some(a) = &f.account_email {
                    q.push(" AND l.account_email = ").push_bind(a.clone());
                }
                if let Some(s) = &f.state {
                    q.push(" AND i.state = ").push_bind(s.clone());
                }
                if let Some(after) = f.after {
                    q.push(" AND l.id > ").push_bind(after.0);
                }
                if f.owing {
                    q.push(" AND EXISTS (SELECT 1 FROM bills b WHERE b.line_id = l.id AND b.paid_cents < b.amount_cents)");
                }
                q.push(" ORDER BY l.id LIMIT ").push_bind(f.limit.clamp(1, 10_000));
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(rows::credit_line).collect::<Result<_, _>>()?)
            }

            async fn message_counts(&self) -> crate::store::StoreResult<(i64, i64)> {
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages").fetch_one(self.pool()).await?;
                let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE processed_at IS NOT NULL")
                    .fetch_one(self.pool())
                    .await?;
                Ok((total, done))
            }

            async fn create_token(&self, t: &crate::store::TokenRecord) -> crate::store::StoreResult<()> {
                sqlx::query("INSERT INTO api_tokens (id, name, role, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&t.id)
                    .bind(&t.name)
                    .bind(t.role.as_str())
                    .bind(&t.secret_sha256)
                    .bind(t.created_at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn token(&self, id: &str) -> crate::store::StoreResult<Option<crate::store::TokenRecord>> {
                let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
                row.as_ref().map(rows::token).transpose()
            }

            async fn tokens(&self) -> crate::store::StoreResult<Vec<crate::store::TokenRecord>> {
                let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, name").fetch_all(self.pool()).await?;
                rows.iter().map(rows::token).collect()
            }

            async fn revoke_token(&self, name: &str, at: chrono::DateTime<chrono::Utc>) -> crate::store::StoreResult<bool> {
                let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(name)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn queue_outbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::QueuedEmail>> {
                use sqlx::Row;
                let mut tx = self.begin_write().await?;
                // PostgreSQL: rows another relay is queueing are skipped, not waited for. SQLite:
                // BEGIN IMMEDIATE already makes relays take turns.
                let rows = sqlx::query(concat!(
                    "UPDATE outbox SET status = 'queued', enqueues = enqueues + 1, queued_at = $1 \
                     WHERE id IN (SELECT id FROM outbox WHERE kind = 'email' AND status = 'pending' \
                     AND (available_at IS NULL OR available_at <= $1) ORDER BY created_at, id LIMIT $2",
                    $skip_locked,
                    ") RETURNING id, enqueues"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::QueuedEmail {
                        id: crate::domain::OutboxId(r.try_get("id")?),
                        enqueues: r.try_get("enqueues")?,
                    });
                }
                Ok(out)
            }

            async fn claim_outbox(
                &self,
                job: &crate::store::QueuedEmail,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Option<crate::store::OutboxRecord>> {
                // One statement is atomic on its own: no BEGIN and COMMIT around it (two
                // round trips to the connection's thread saved on every email).
                let row = sqlx::query(
                    "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $1 \
                     WHERE id = $2 AND status = 'queued' AND enqueues = $3 RETURNING *",
                )
                .bind(lease_until)
                .bind(job.id.0)
                .bind(job.enqueues)
                .fetch_optional(self.writer())
                .await?;
                Ok(row.as_ref().map(rows::outbox).transpose()?)
            }

            async fn finish_outbox(
                &self,
                id: crate::domain::OutboxId,
                attempt: i64,
                outcome: &crate::store::DeliveryOutcome,
                now: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                use crate::store::DeliveryOutcome;
                // Sent and retry are one statement each, atomic without a transaction; a
                // failure also opens a task, so it takes one.
                let done = match outcome {
                    DeliveryOutcome::Sent { message_id } => sqlx::query(
                        "UPDATE outbox SET status = 'sent', processed_at = $3, message_id = $4, \
                         lease_until = NULL, last_error = NULL WHERE id = $1 AND status = 'sending' AND attempts = $2",
                    )
                    .bind(id.0)
                    .bind(attempt)
                    .bind(now)
                    .bind(message_id)
                    .execute(self.writer())
                    .await?,
                    DeliveryOutcome::Retry { available_at, error } => sqlx::query(
                        "UPDATE outbox SET status = 'pending', available_at = $3, last_error = $4, \
                         lease_until = NULL WHERE id = $1 AND status = 'sending' AND attempts = $2",
                    )
                    .bind(id.0)
                    .bind(attempt)
                    .bind(*available_at)
                    .bind(error)
                    .execute(self.writer())
                    .await?,
                    DeliveryOutcome::Failed { error, task } => {
                        let mut tx = self.begin_write().await?;
                        let done = sqlx::query(
                            "UPDATE outbox SET status = 'failed', processed_at = $3, last_error = $4, \
                             lease_until = NULL WHERE id = $1 AND status = 'sending' AND attempts = $2",
                        )
                        .bind(id.0)
                        .bind(attempt)
                        .bind(now)
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 1 {
                            Self::insert_task(&mut tx, &mut Writer::immediate(), task, now).await?;
                        }
                        tx.commit().await?;
                        done
                    }
                };
                Ok(done.rows_affected() == 1)
            }

            async fn recover_outbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                queued_before: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                // A sender that died keeps its lease until it runs out; a job that was never
                // pushed (a relay that died between its two steps) leaves its row queued.
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'pending', available_at = $1, lease_until = NULL \
                     WHERE kind = 'email' AND ((status = 'sending' AND lease_until < $1) \
                     OR (status = 'queued' AND queued_at < $2))",
                )
                .bind(now)
                .bind(queued_before)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn outbox_row(
                &self,
                id: crate::domain::OutboxId,
            ) -> crate::store::StoreResult<Option<crate::store::OutboxRecord>> {
                let row = sqlx::query("SELECT * FROM outbox WHERE id = $1").bind(id.0).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(rows::outbox).transpose()?)
            }

            async fn requeue_outbox(
                &self,
                id: crate::domain::OutboxId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'pending', attempts = 0, available_at = $2, lease_until = NULL, \
                     processed_at = NULL WHERE id = $1 AND kind = 'email' AND status = 'failed'",
                )
                .bind(id.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn outbox_counts(&self) -> crate::store::StoreResult<Vec<(String, i64)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT status, COUNT(*) AS n FROM outbox WHERE kind = 'email' GROUP BY status ORDER BY status",
                )
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push((r.try_get("status")?, r.try_get("n")?));
                }
                Ok(out)
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
                Ok(rows.iter().map(rows::instance).collect::<Result<_, _>>()?)
            }

            async fn post_debits(
                &self,
                requests: &[crate::store::DebitRequest],
                drawing: &[&str],
            ) -> crate::store::StoreResult<Vec<crate::store::DebitResult>> {
                use std::collections::{HashMap, HashSet};
                use sqlx::Row;
                use crate::domain::{Bucket, EntryKind, Funds};
                use crate::store::{DebitResult, EntryWrite, StoreError};
                use crate::store::sql::runs;
                if requests.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                // Keys used before (replays), read under the write lock with everything else.
                let mut existing: HashMap<String, Vec<crate::store::EntryRecord>> = HashMap::new();
                let keys: Vec<&String> = requests.iter().flat_map(|r| r.keys.iter()).collect();
                for chunk in keys.chunks(400) {
                    let mut q = Builder::new("SELECT * FROM ledger_entries WHERE idempotency_key IN (");
                    let mut list = q.separated(", ");
                    for k in chunk {
                        list.push_bind((*k).clone());
                    }
                    q.push(") ORDER BY id");
                    for r in &q.build().fetch_all(&mut *tx).await? {
                        let e = rows::entry(r)?;
                        existing.entry(e.idempotency_key.clone()).or_default().push(e);
                    }
                }
                let mut accounts: Vec<&str> = requests.iter().map(|r| r.account_email.as_str()).collect();
                accounts.sort_unstable();
                accounts.dedup();
                let mut periods: Vec<String> = requests.iter().map(|r| r.period.to_string()).collect();
                periods.sort_unstable();
                periods.dedup();
                let mut prepaid: HashMap<String, i64> = HashMap::new();
                // Each account's usable line (the newest credit line in a state that draws)
                // and what it drew in the batch's periods, with the prepaid balance: one query.
                let mut lines: HashMap<String, (crate::domain::SubjectId, i64)> = HashMap::new();
                let mut used: HashMap<(uuid::Uuid, String), i64> = HashMap::new();
                for chunk in accounts.chunks(400) {
                    let mut q = Builder::new("WITH a (email) AS (");
                    q.push_values(chunk, |mut b, a| {
                        b.push_bind(a.to_string());
                    });
                    q.push(
                        "), x AS MATERIALIZED (SELECT a.email, (SELECT i.id FROM workflow_instances i WHERE i.account_email = a.email \
                         AND i.workflow = 'credit_line' AND i.state IN (",
                    );
                    let mut list = q.separated(", ");
                    for st in drawing {
                        list.push_bind(*st);
                    }
                    q.push(
                        ") ORDER BY i.id DESC LIMIT 1) AS line_id FROM a) \
                         SELECT x.email, acc.prepaid_cents, x.line_id, l.monthly_limit_cents, u.period, u.used_cents \
                         FROM x LEFT JOIN ledger_accounts acc ON acc.account_email = x.email \
                         LEFT JOIN credit_lines l ON l.id = x.line_id \
                         LEFT JOIN credit_usage u ON u.line_id = x.line_id AND u.period IN (",
                    );
                    let mut list = q.separated(", ");
                    for p in &periods {
                        list.push_bind(p.clone());
                    }
                    q.push(")");
                    for r in &q.build().fetch_all(&mut *tx).await? {
                        let email: String = r.try_get("email")?;
                        if let Some(cents) = r.try_get::<Option<i64>, _>("prepaid_cents")? {
                            prepaid.insert(email.clone(), cents);
                        }
                        let line: Option<uuid::Uuid> = r.try_get("line_id")?;
                        let limit: Option<i64> = r.try_get("monthly_limit_cents")?;
                        if let (Some(id), Some(limit)) = (line, limit) {
                            lines.insert(email, (crate::domain::SubjectId(id), limit));
                            if let (Some(period), Some(cents)) =
                                (r.try_get::<Option<String>, _>("period")?, r.try_get::<Option<i64>, _>("used_cents")?)
                            {
                                used.insert((id, period), cents);
                            }
                        }
                    }
                }
                // The billing-cycle gate of each line: what it owes for closed months.
                let ids: Vec<crate::domain::SubjectId> = lines.values().map(|(id, _)| *id).collect();
                let mut owing: HashMap<uuid::Uuid, Vec<crate::domain::Unpaid>> = HashMap::new();
                for (line, unpaid) in Self::owed_in(&mut tx, &ids).await? {
                    owing.entry(line.0).or_default().push(unpaid);
                }
                // Per line and period drawn on: the highest cap and the earliest month that had
                // to be paid among its debits, for the guard of the write below.
                let mut gates: HashMap<(uuid::Uuid, String), (i64, crate::domain::Period)> = HashMap::new();
                // Plan in order, each debit from what the ones before it left.
                let mut funds: HashMap<(String, String), Funds> = HashMap::new();
                let mut seen: HashSet<&str> = HashSet::new();
                let mut results = Vec::with_capacity(requests.len());
                let mut entries: Vec<(&str, EntryWrite)> = Vec::new();
                for r in requests {
                    let found: Vec<crate::store::EntryRecord> =
                        r.keys.iter().flat_map(|k| existing.get(k).cloned().unwrap_or_default()).collect();
                    if !found.is_empty() {
                        results.push(DebitResult::Existing(found));
                        continue;
                    }
                    if !r.keys.iter().all(|k| seen.insert(k.as_str())) {
                        results.push(DebitResult::Alone);
                        continue;
                    }
                    let period = r.period.to_string();
                    let line = lines.get(&r.account_email).copied();
                    let f = funds.entry((r.account_email.clone(), period.clone())).or_insert_with(|| Funds {
                        prepaid_cents: prepaid.get(&r.account_email).copied().unwrap_or(0),
                        line_limit_cents: line.map_or(0, |(_, limit)| limit),
                        line_used_cents: line.map_or(0, |(id, _)| used.get(&(id.0, period.clone())).copied().unwrap_or(0)),
                        gate: crate::domain::Gate::Open,
                    });
                    f.gate = line.map_or(crate::domain::Gate::Open, |(id, limit)| {
                        let months = owing.get(&id.0).map(Vec::as_slice).unwrap_or_default();
                        crate::domain::Gate::of(months, r.period, r.at, r.draw_days, limit)
                    });
                    let cap = f.gate.cap(f.line_limit_cents);
                    match f.draw(r.amount) {
                        Ok(split) => {
                            if split.prepaid.cents() > 0 {
                                let e = EntryWrite::new(EntryKind::Usage, Bucket::Prepaid, -split.prepaid.cents(), r.keys[0].clone(), "usage");
                                entries.push((r.account_email.as_str(), e));
                            }
                            let line_id = (split.credit.cents() > 0).then(|| line.map(|(id, _)| id)).flatten();
                            if let Some(id) = line_id {
                                // A later debit of the batch in a later month sees this one owed.
                                owing.entry(id.0).or_default().push(crate::domain::Unpaid { period: r.period, owed: split.credit });
                                let before = crate::domain::paid_before(r.at, r.draw_days);
                                let g = gates.entry((id.0, period.clone())).or_insert((cap, before));
                                *g = (g.0.max(cap), g.1.min(before));
                                let mut e = EntryWrite::new(EntryKind::Usage, Bucket::Credit, -split.credit.cents(), r.keys[1].clone(), "usage");
                                e.line_id = Some(id);
                                e.period = Some(r.period);
                                entries.push((r.account_email.as_str(), e));
                            }
                            results.push(DebitResult::Posted { split, line_id });
                        }
                        Err(e) => results.push(DebitResult::Refused(e)),
                    }
                }
                if entries.is_empty() {
                    tx.commit().await?;
                    return Ok(results);
                }
                let at = requests.iter().map(|r| r.at).max().unwrap_or_default();
                // The planned writes go in as one call on SQLite (a fusing writer, see above).
                // They need no guard in their WHERE: the plan was made under the write lock, and
                // the tables' CHECKs (balances >= 0, used <= limit) abort the transaction should
                // anything have moved anyway (another process on PostgreSQL); the batch is then
                // given up and each debit goes alone.
                let mut w = Writer::fusing();
                let rows: Vec<_> = entries.iter().map(|(a, e)| (*a, e, at)).collect();
                Self::insert_entries(&mut tx, &mut w, &rows).await?;
                let mut prepaid_moves: HashMap<&str, i64> = HashMap::new();
                let mut credit_moves: HashMap<(uuid::Uuid, String), (&str, i64, i64)> = HashMap::new();
                for (a, e) in &entries {
                    match (e.bucket, e.line_id, e.period) {
                        (Bucket::Prepaid, _, _) => *prepaid_moves.entry(a).or_default() += e.amount_cents,
                        (Bucket::Credit, Some(line), Some(period)) => {
                            let limit = lines.get(*a).map_or(0, |(_, limit)| *limit);
                            credit_moves.entry((line.0, period.to_string())).or_insert((a, limit, 0)).2 -= e.amount_cents;
                        }
                        _ => {}
                    }
                }
                // Every account with entries has its balance row, as a single debit makes it.
                let mut touched: Vec<&str> = entries.iter().map(|(a, _)| *a).collect();
                touched.sort_unstable();
                touched.dedup();
                Self::ensure_accounts(&mut tx, &mut w, &touched, at).await?;
                let moved = |done: Option<u64>, n: usize| match done {
                    Some(d) if d != n as u64 => Err(StoreError::Conflict { expected: 0, actual: -1 }),
                    _ => Ok(()),
                };
                let prepaid_moves: Vec<(&str, i64)> = prepaid_moves.into_iter().collect();
                for chunk in runs(&prepaid_moves, 500, |(a, _)| 60 + a.len()) {
                    let done = w
                        .run(&mut tx, |q| {
                            q.push("WITH v (vemail, vdelta, vat) AS (");
                            q.push_values(chunk, |mut b, (a, d)| {
                                b.push_bind(a.to_string()).push_bind(*d).push_bind(at);
                            });
                            q.push(
                                ") UPDATE ledger_accounts SET prepaid_cents = prepaid_cents + v.vdelta, version = version + 1, \
                                 updated_at = v.vat FROM v WHERE ledger_accounts.account_email = v.vemail",
                            );
                        })
                        .await?;
                    moved(done, chunk.len())?;
                }
                let credit_moves: Vec<((uuid::Uuid, String), (&str, i64, i64))> = credit_moves.into_iter().collect();
                for chunk in runs(&credit_moves, 500, |((_, p), (a, _, _))| 120 + 2 * p.len() + a.len()) {
                    w.run(&mut tx, |q| {
                        q.push("INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) ");
                        q.push_values(chunk, |mut b, ((line, period), (a, limit, _))| {
                            b.push_bind(*line)
                                .push_bind(period.clone())
                                .push_bind(a.to_string())
                                .push_bind(*limit)
                                .push_bind(0i64)
                                .push_bind(1i64);
                        });
                        q.push(" ON CONFLICT (line_id, period) DO NOTHING");
                    })
                    .await?;
                    let done = w
                        .run(&mut tx, |q| {
                            q.push("WITH v (vline, vperiod, vdelta, vcap, vbefore) AS (");
                            q.push_values(chunk, |mut b, ((line, period), (_, limit, d))| {
                                // Every draw was planned with its gate; a move without one is held to the strictest.
                                let (cap, before) = gates.get(&(*line, period.clone())).map_or((*limit, period.clone()), |(c, b)| (*c, b.to_string()));
                                b.push_bind(*line).push_bind(period.clone()).push_bind(*d).push_bind(cap).push_bind(before);
                            });
                            // The gate guards the write as it guards a single debit: should a month
                            // before have become owed since the plan, no row matches and the batch
                            // is given up.
                            q.push(
                                ") UPDATE credit_usage SET used_cents = used_cents + v.vdelta, version = version + 1 FROM v \
                                 WHERE credit_usage.line_id = v.vline AND credit_usage.period = v.vperiod \
                                 AND credit_usage.used_cents + v.vdelta <= v.vcap \
                                 AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = v.vline AND b.period < v.vbefore AND b.paid_cents < b.amount_cents) \
                                 AND NOT EXISTS (SELECT 1 FROM credit_usage o WHERE o.line_id = v.vline AND o.period < v.vbefore AND o.used_cents > 0 \
                                 AND NOT EXISTS (SELECT 1 FROM bills c WHERE c.line_id = o.line_id AND c.period = o.period))",
                            );
                        })
                        .await?;
                    moved(done, chunk.len())?;
                }
                w.flush(&mut tx).await?;
                tx.commit().await?;
                Ok(results)
            }

            async fn post_ledger(&self, w: &crate::store::LedgerWrite) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::ledger_in(&mut tx, w).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn commit_cycle(&self, c: &crate::store::CycleWrite) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                if let Some(b) = &c.bill {
                    // One bill per line and period, whoever gets there first: a rerun after a
                    // crash, or a second worker closing the same month, finds it and stops.
                    let inserted = sqlx::query(
                        "INSERT INTO bills (id, line_id, account_email, period, amount_cents, paid_cents, due_at, issued_at, version) \
                         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, 1) ON CONFLICT (line_id, period) DO NOTHING",
                    )
                    .bind(b.id)
                    .bind(b.line_id.0)
                    .bind(&b.account_email)
                    .bind(b.period.to_string())
                    .bind(b.amount_cents)
                    .bind(b.due_at)
                    .bind(c.at)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        return Ok(false);
                    }
                }
                for p in &c.payments {
                    let done = sqlx::query(
                        "UPDATE bills SET paid_cents = paid_cents + $2, version = version + 1, \
                         paid_at = CASE WHEN paid_cents + $2 = amount_cents THEN $3 ELSE paid_at END \
                         WHERE id = $1 AND version = $4 AND paid_cents + $2 <= amount_cents",
                    )
                    .bind(p.bill_id)
                    .bind(p.cents)
                    .bind(c.at)
                    .bind(p.expected_version)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(crate::store::StoreError::Conflict { expected: p.expected_version, actual: -1 });
                    }
                }
                if let Some(l) = &c.ledger {
                    Self::ledger_in(&mut tx, l).await?;
                }
                let mut w = Writer::immediate();
                if let Some(i) = &c.new_instance {
                    Self::insert_instance(&mut tx, &mut w, i, None).await?;
                }
                if let Some(r) = &c.increase {
                    Self::insert_increase(&mut tx, &mut w, r).await?;
                }
                for t in &c.transitions {
                    Self::transition_in(&mut tx, &mut w, t).await?;
                }
                if let Some((line, cents)) = c.new_limit {
                    sqlx::query("UPDATE credit_lines SET monthly_limit_cents = $2 WHERE id = $1")
                        .bind(line.0)
                        .bind(cents)
                        .execute(&mut *tx)
                        .await?;
                    // The month in progress draws against the new limit from now on (never below
                    // what it already drew); billed months keep theirs.
                    sqlx::query(
                        "UPDATE credit_usage SET limit_cents = CASE WHEN used_cents > $2 THEN used_cents ELSE $2 END, \
                         version = version + 1 WHERE line_id = $1 AND period = $3",
                    )
                    .bind(line.0)
                    .bind(cents)
                    .bind(crate::domain::Period::containing(c.at).to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                let decisions: Vec<&crate::rules::DecisionRecord> = c.decisions.iter().collect();
                Self::insert_decisions(&mut tx, &mut w, &decisions).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn commit_bills(&self, writes: &[crate::store::CycleWrite]) -> crate::store::StoreResult<Vec<bool>> {
                use crate::domain::Bucket;
                use crate::store::sql::runs;
                // Rows per statement, well below either backend's limit on bound values.
                const ROWS: usize = 500;
                let plain = |c: &crate::store::CycleWrite| {
                    c.bill.is_some()
                        && c.payments.is_empty()
                        && c.new_instance.is_none()
                        && c.increase.is_none()
                        && c.new_limit.is_none()
                        && c.ledger.as_ref().is_none_or(|l| {
                            l.draw.is_none() && l.coupon.is_none() && l.entries.iter().all(|e| e.bucket == Bucket::Receivable)
                        })
                        && c.transitions.iter().all(|t| t.outbox.iter().all(|o| o.kind != "task"))
                };
                if let Some(odd) = writes.iter().find(|c| !plain(c)) {
                    return Err(crate::store::StoreError::Refused(format!(
                        "a batched bill write carries more than a bill, receivable entries and steps: {:?}",
                        odd.bill.as_ref().map(|b| b.line_id)
                    )));
                }
                if writes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                // The bill's unique key is the claim: the lines another run billed first come
                // back missing here, and nothing else of theirs is written.
                let mut fresh = std::collections::HashSet::new();
                for chunk in runs(writes, ROWS, |c| 140 + c.bill.as_ref().map_or(0, |b| b.account_email.len())) {
                    let mut q = Builder::new(
                        "INSERT INTO bills (id, line_id, account_email, period, amount_cents, paid_cents, due_at, issued_at, version) ",
                    );
                    q.push_values(chunk.iter().filter_map(|c| c.bill.as_ref().map(|b| (b, c.at))), |mut r, (b, at)| {
                        r.push_bind(b.id)
                            .push_bind(b.line_id.0)
                            .push_bind(b.account_email.clone())
                            .push_bind(b.period.to_string())
                            .push_bind(b.amount_cents)
                            .push_bind(0i64)
                            .push_bind(b.due_at)
                            .push_bind(at)
                            .push_bind(1i64);
                    });
                    q.push(" ON CONFLICT (line_id, period) DO NOTHING RETURNING id");
                    let ids: Vec<uuid::Uuid> = q.build_query_scalar().fetch_all(&mut *tx).await?;
                    fresh.extend(ids);
                }
                let billed: Vec<bool> =
                    writes.iter().map(|c| c.bill.as_ref().is_some_and(|b| fresh.contains(&b.id))).collect();
                let kept: Vec<&crate::store::CycleWrite> =
                    writes.iter().zip(&billed).filter(|(_, b)| **b).map(|(c, _)| c).collect();
                let entries: Vec<(&crate::store::LedgerWrite, &crate::store::EntryWrite)> = kept
                    .iter()
                    .filter_map(|c| c.ledger.as_ref())
                    .flat_map(|l| l.entries.iter().map(move |e| (l, e)))
                    .collect();
                let mut w = Writer::immediate();
                let rows: Vec<_> = entries.iter().map(|(l, e)| (l.account_email.as_str(), *e, l.at)).collect();
                Self::insert_entries(&mut tx, &mut w, &rows).await?;
                let mut accounts: Vec<&str> = entries.iter().map(|(l, _)| l.account_email.as_str()).collect();
                accounts.sort_unstable();
                accounts.dedup();
                Self::ensure_accounts(&mut tx, &mut w, &accounts, kept.iter().map(|c| c.at).max().unwrap_or_default()).await?;
                let steps: Vec<&crate::store::TransitionWrite> = kept.iter().flat_map(|c| c.transitions.iter()).collect();
                let mut seen = std::collections::HashSet::new();
                if steps.iter().any(|t| !seen.insert(t.instance_id)) {
                    return Err(crate::store::StoreError::Refused("a batch steps one instance twice".into()));
                }
                for chunk in runs(&steps, ROWS, |t| {
                    220 + 2 * (t.from_state.len() + t.to_state.len()) + t.event.len() + t.actor.len() + t.reason.as_ref().map_or(0, String::len)
                }) {
                    // The version check of every step in one statement: all of them match, or
                    // the batch is given up (and the caller bills those lines one by one).
                    let mut q = Builder::new("WITH v (vid, vversion, vfrom, vto, vat) AS (");
                    q.push_values(chunk, |mut r, t| {
                        r.push_bind(t.instance_id.0)
                            .push_bind(t.expected_version)
                            .push_bind(t.from_state.clone())
                            .push_bind(t.to_state.clone())
                            .push_bind(t.at);
                    });
                    q.push(
                        ") UPDATE workflow_instances SET state = v.vto, version = version + 1, updated_at = v.vat \
                         FROM v WHERE workflow_instances.id = v.vid AND workflow_instances.version = v.vversion \
                         AND workflow_instances.state = v.vfrom",
                    );
                    let done = q.build().execute(&mut *tx).await?.rows_affected();
                    if done != chunk.len() as u64 {
                        return Err(crate::store::StoreError::Conflict { expected: 0, actual: -1 });
                    }
                    let mut q = Builder::new(
                        "INSERT INTO workflow_events \
                         (id, instance_id, version, event, from_state, to_state, actor, reason, decision_ids, occurred_at) ",
                    );
                    q.push_values(chunk, |mut r, t| {
                        r.push_bind(t.event_id.0)
                            .push_bind(t.instance_id.0)
                            .push_bind(t.expected_version + 1)
                            .push_bind(t.event.clone())
                            .push_bind(Some(t.from_state.clone()))
                            .push_bind(t.to_state.clone())
                            .push_bind(t.actor.clone())
                            .push_bind(t.reason.clone())
                            .push_bind(sqlx::types::Json(t.decision_ids.clone()))
                            .push_bind(t.at);
                    });
                    q.build().execute(&mut *tx).await?;
                    let effects: Vec<(&crate::store::TransitionWrite, &crate::store::OutboxWrite)> =
                        chunk.iter().flat_map(|t| t.outbox.iter().map(move |o| (*t, o))).collect();
                    for part in runs(&effects, ROWS, |(_, o)| 160 + o.name.len() + o.idempotency_key.len() + o.payload.to_string().len()) {
                        let mut q = Builder::new(
                            "INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, created_at) ",
                        );
                        q.push_values(part, |mut r, (t, o)| {
                            r.push_bind(o.id.0)
                                .push_bind(t.instance_id.0)
                                .push_bind(t.event_id.0)
                                .push_bind(o.kind.clone())
                                .push_bind(o.name.clone())
                                .push_bind(o.idempotency_key.clone())
                                .push_bind(sqlx::types::Json(o.payload.clone()))
                                .push_bind(t.at);
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                }
                let decisions: Vec<&crate::rules::DecisionRecord> = kept.iter().flat_map(|c| c.decisions.iter()).collect();
                for chunk in decisions.chunks(ROWS / 4) {
                    Self::insert_decisions(&mut tx, &mut w, chunk).await?;
                }
                tx.commit().await?;
                Ok(billed)
            }

            async fn lines_to_bill(
                &self,
                period: crate::domain::Period,
                after: Option<crate::domain::SubjectId>,
                limit: i64,
                ended: &[&str],
            ) -> crate::store::StoreResult<Vec<(crate::store::CreditLineRecord, i64)>> {
                use sqlx::Row;
                let mut q = Builder::new(
                    "SELECT l.id, l.account_email, l.application_id, l.monthly_limit_cents, \
                     l.approved_by, l.second_approver, i.state, i.version, l.opened_at, i.updated_at, \
                     COALESCE(u.used_cents, 0) AS used_cents \
                     FROM credit_lines l JOIN workflow_instances i ON i.id = l.id \
                     LEFT JOIN credit_usage u ON u.line_id = l.id AND u.period = ",
                );
                q.push_bind(period.to_string());
                q.push(" WHERE l.opened_at < ").push_bind(period.end());
                if !ended.is_empty() {
                    q.push(" AND i.state NOT IN (");
                    let mut list = q.separated(", ");
                    for st in ended {
                        list.push_bind(*st);
                    }
                    q.push(")");
                }
                if let Some(after) = after {
                    // Keyset paging: each batch starts where the last one ended instead of
                    // walking past every line billed so far.
                    q.push(" AND l.id > ").push_bind(after.0);
                }
                q.push(" AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = l.id AND b.period = ")
                    .push_bind(period.to_string())
                    .push(") ORDER BY l.id LIMIT ")
                    .push_bind(limit);
                let rows = q.build().fetch_all(self.pool()).await?;
                let mut lines = Vec::with_capacity(rows.len());
                for r in &rows {
                    lines.push((rows::credit_line(r)?, r.try_get::<i64, _>("used_cents")?));
                }
                Ok(lines)
            }

            async fn bills_for_line(&self, line: crate::domain::SubjectId) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let rows = sqlx::query("SELECT * FROM bills WHERE line_id = $1 ORDER BY period").bind(line.0).fetch_all(self.pool()).await?;
                Ok(rows.iter().map(rows::bill).collect::<Result<_, _>>()?)
            }

            async fn increases_for_line(&self, line: crate::domain::SubjectId) -> crate::store::StoreResult<Vec<(crate::store::IncreaseRecord, String)>> {
                self.increases_for_lines(&[line]).await
            }

            async fn increases_for_lines(
                &self,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::store::IncreaseRecord, String)>> {
                let head = "SELECT x.*, i.state FROM limit_increases x JOIN workflow_instances i ON i.id = x.id WHERE x.line_id IN (";
                let found = self.rows_of_lines(head, lines, ") ORDER BY x.id").await?;
                Ok(found.iter().map(rows::increase).collect::<Result<_, _>>()?)
            }

            async fn increase(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<(crate::store::IncreaseRecord, String)>> {
                let row = sqlx::query("SELECT x.*, i.state FROM limit_increases x JOIN workflow_instances i ON i.id = x.id WHERE x.id = $1")
                    .bind(id.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(rows::increase).transpose()?)
            }

            async fn bills_for_lines(
                &self,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let found = self.rows_of_lines("SELECT * FROM bills WHERE line_id IN (", lines, ") ORDER BY line_id, period").await?;
                Ok(found.iter().map(rows::bill).collect::<Result<_, _>>()?)
            }

            async fn account_figures(
                &self,
                accounts: &[String],
                topups_since: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::AccountFigures>> {
                use sqlx::Row;
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new(
                        "SELECT a.account_email, a.prepaid_cents, a.deposit_cents, \
                         CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e WHERE e.account_email = a.account_email \
                         AND e.kind = 'top_up' AND e.created_at > ",
                    );
                    q.push_bind(topups_since);
                    q.push("), 0) AS BIGINT) AS topups FROM ledger_accounts a WHERE a.account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(")");
                    for r in &q.build().fetch_all(self.pool()).await? {
                        out.push(crate::store::AccountFigures {
                            account_email: r.try_get("account_email")?,
                            balances: crate::store::Balances {
                                prepaid_cents: r.try_get("prepaid_cents")?,
                                deposit_cents: r.try_get("deposit_cents")?,
                            },
                            topups_cents: r.try_get("topups")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn cycle_closed(&self, period: crate::domain::Period) -> crate::store::StoreResult<bool> {
                let found: Option<String> = sqlx::query_scalar("SELECT period FROM cycle_runs WHERE period = $1")
                    .bind(period.to_string())
                    .fetch_optional(self.pool())
                    .await?;
                Ok(found.is_some())
            }

            async fn mark_cycle_closed(
                &self,
                period: crate::domain::Period,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                sqlx::query("INSERT INTO cycle_runs (period, closed_at) VALUES ($1, $2) ON CONFLICT (period) DO NOTHING")
                    .bind(period.to_string())
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn webhook_outcome(&self, provider: &str, event_id: &str) -> crate::store::StoreResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT outcome FROM webhook_events WHERE provider = $1 AND event_id = $2")
                    .bind(provider)
                    .bind(event_id)
                    .fetch_optional(self.pool())
                    .await?)
            }

            async fn record_webhook(
                &self,
                provider: &str,
                event_id: &str,
                outcome: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO webhook_events (provider, event_id, outcome, received_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (provider, event_id) DO NOTHING",
                )
                .bind(provider)
                .bind(event_id)
                .bind(outcome)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn add_pending_payment(&self, p: &crate::store::PendingPaymentRecord) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO pending_payments (id, account_email, provider, reference, amount_cents, purpose, state, \
                     actor, note, reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (provider, reference) DO NOTHING",
                )
                .bind(p.id)
                .bind(&p.account_email)
                .bind(&p.provider)
                .bind(&p.reference)
                .bind(p.amount_cents)
                .bind(&p.purpose)
                .bind(&p.state)
                .bind(&p.actor)
                .bind(&p.note)
                .bind(&p.reason)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn pending_payment(
                &self,
                provider: &str,
                reference: &str,
            ) -> crate::store::StoreResult<Option<crate::store::PendingPaymentRecord>> {
                Ok(sqlx::query_as("SELECT * FROM pending_payments WHERE provider = $1 AND reference = $2")
                    .bind(provider)
                    .bind(reference)
                    .fetch_optional(self.pool())
                    .await?)
            }

            async fn settle_pending_payment(
                &self,
                provider: &str,
                reference: &str,
                state: &str,
                reason: Option<&str>,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE pending_payments SET state = $1, reason = COALESCE($2, reason), updated_at = $3 \
                     WHERE provider = $4 AND reference = $5 AND state = 'pending'",
                )
                .bind(state)
                .bind(reason)
                .bind(at)
                .bind(provider)
                .bind(reference)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn pending_payments(
                &self,
                accounts: &[String],
                open_only: bool,
            ) -> crate::store::StoreResult<Vec<crate::store::PendingPaymentRecord>> {
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM pending_payments WHERE account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(")");
                    if open_only {
                        q.push(" AND state = 'pending'");
                    }
                    q.push(" ORDER BY created_at, id");
                    out.extend(q.build_query_as::<crate::store::PendingPaymentRecord>().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }

            async fn record_incident(&self, i: &crate::store::IncidentRecord) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO payment_incidents (id, account_email, kind, provider, reference, amount_cents, reason, \
                     actor, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (kind, provider, reference) DO NOTHING",
                )
                .bind(i.id)
                .bind(&i.account_email)
                .bind(&i.kind)
                .bind(&i.provider)
                .bind(&i.reference)
                .bind(i.amount_cents)
                .bind(&i.reason)
                .bind(&i.actor)
                .bind(i.occurred_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn payment_incidents(&self, accounts: &[String]) -> crate::store::StoreResult<Vec<crate::store::IncidentRecord>> {
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM payment_incidents WHERE account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(") ORDER BY occurred_at, id");
                    out.extend(q.build_query_as::<crate::store::IncidentRecord>().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }

            async fn entries_by_provider_ref(
                &self,
                provider: &str,
                reference: &str,
            ) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let rows = sqlx::query("SELECT * FROM ledger_entries WHERE provider = $1 AND provider_ref = $2 ORDER BY id")
                    .bind(provider)
                    .bind(reference)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::entry).collect::<Result<_, _>>()?)
            }

            async fn unpaid_bills(&self, account_email: &str) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM bills WHERE account_email = $1 AND paid_cents < amount_cents ORDER BY period, id",
                )
                .bind(account_email)
                .fetch_all(self.pool())
                .await?;
                Ok(rows.iter().map(rows::bill).collect::<Result<_, _>>()?)
            }

            async fn balances(&self, account_email: &str) -> crate::store::StoreResult<crate::store::Balances> {
                let row: Option<(i64, i64)> =
                    sqlx::query_as("SELECT prepaid_cents, deposit_cents FROM ledger_accounts WHERE account_email = $1")
                        .bind(account_email)
                        .fetch_optional(self.pool())
                        .await?;
                let (prepaid_cents, deposit_cents) = row.unwrap_or_default();
                Ok(crate::store::Balances { prepaid_cents, deposit_cents })
            }

            async fn credit_used(
                &self,
                line: crate::domain::SubjectId,
                period: crate::domain::Period,
            ) -> crate::store::StoreResult<i64> {
                let used: Option<i64> = sqlx::query_scalar("SELECT used_cents FROM credit_usage WHERE line_id = $1 AND period = $2")
                    .bind(line.0)
                    .bind(period.to_string())
                    .fetch_optional(self.pool())
                    .await?;
                Ok(used.unwrap_or(0))
            }

            async fn owed_months(
                &self,
                lines: &[crate::domain::SubjectId],
            ) -> crate::store::StoreResult<Vec<(crate::domain::SubjectId, crate::domain::Unpaid)>> {
                let mut conn = self.pool().acquire().await?;
                Self::owed_in(&mut conn, lines).await
            }

            async fn ledger_entries(&self, account_email: &str) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let rows = sqlx::query("SELECT * FROM ledger_entries WHERE account_email = $1 ORDER BY id")
                    .bind(account_email)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::entry).collect::<Result<_, _>>()?)
            }

            async fn entries_since(
                &self,
                accounts: &[String],
                since: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM ledger_entries WHERE created_at > ");
                    q.push_bind(since);
                    q.push(" AND account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(") ORDER BY id");
                    let rows = q.build().fetch_all(self.pool()).await?;
                    out.extend(rows.iter().map(rows::entry).collect::<Result<Vec<_>, _>>()?);
                }
                Ok(out)
            }

            async fn entries_by_keys(&self, keys: &[String]) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM ledger_entries WHERE idempotency_key IN (");
                let mut list = q.separated(", ");
                for k in keys {
                    list.push_bind(k.clone());
                }
                q.push(") ORDER BY id");
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(rows::entry).collect::<Result<_, _>>()?)
            }

            async fn create_coupon(
                &self,
                c: &crate::store::CouponRecord,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO coupons (code, credit_cents, max_redemptions, redeemed, expires_at, created_at) \
                     VALUES ($1, $2, $3, 0, $4, $5)",
                )
                .bind(&c.code)
                .bind(c.credit_cents)
                .bind(c.max_redemptions)
                .bind(c.expires_at)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn coupon(&self, code: &str) -> crate::store::StoreResult<Option<crate::store::CouponRecord>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT * FROM coupons WHERE code = $1").bind(code).fetch_optional(self.pool()).await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(crate::store::CouponRecord {
                    code: r.try_get("code")?,
                    credit_cents: r.try_get("credit_cents")?,
                    max_redemptions: r.try_get("max_redemptions")?,
                    redeemed: r.try_get("redeemed")?,
                    expires_at: r.try_get("expires_at")?,
                }))
            }

            async fn ledger_sums(&self) -> crate::store::StoreResult<crate::store::LedgerSums> {
                let accounts: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT a.account_email, a.prepaid_cents, a.deposit_cents, \
                     CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.account_email = a.account_email AND e.bucket = 'prepaid'), 0) AS BIGINT), \
                     CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.account_email = a.account_email AND e.bucket = 'deposit'), 0) AS BIGINT) \
                     FROM ledger_accounts a ORDER BY a.account_email",
                )
                .fetch_all(self.pool())
                .await?;
                let usage: Vec<(uuid::Uuid, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT u.line_id, u.period, u.used_cents, u.limit_cents, \
                     CAST(-COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.line_id = u.line_id AND e.period = u.period AND e.bucket = 'credit'), 0) AS BIGINT) \
                     FROM credit_usage u ORDER BY u.line_id, u.period",
                )
                .fetch_all(self.pool())
                .await?;
                let orphans: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT e.account_email FROM ledger_entries e \
                     WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.account_email = e.account_email) \
                     ORDER BY e.account_email",
                )
                .fetch_all(self.pool())
                .await?;
                let receivables: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT b.account_email, CAST(SUM(b.amount_cents - b.paid_cents) AS BIGINT), \
                     CAST(COALESCE((SELECT SUM(e.amount_cents) FROM ledger_entries e \
                       WHERE e.account_email = b.account_email AND e.bucket = 'receivable'), 0) AS BIGINT) \
                     FROM bills b GROUP BY b.account_email ORDER BY b.account_email",
                )
                .fetch_all(self.pool())
                .await?;
                Ok(crate::store::LedgerSums {
                    receivables,
                    accounts,
                    usage: usage.into_iter().map(|(l, p, u, lim, s)| (crate::domain::SubjectId(l), p, u, lim, s)).collect(),
                    orphans,
                })
            }

            async fn commit_action_noting(
                &self,
                a: &crate::store::ActionWrite,
                notes: &[crate::store::TaskUpdate],
            ) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for n in notes {
                    Self::update_task(&mut tx, n, a.audit.at).await?;
                }
                let mut w = Writer::immediate();
                Self::action_in(&mut tx, &mut w, a).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn tasks_for(
                &self,
                subject: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::TaskRecord>> {
                let rows = sqlx::query("SELECT * FROM tasks WHERE subject_id = $1 ORDER BY id LIMIT 1000")
                    .bind(subject.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::task).collect::<Result<_, _>>()?)
            }

            async fn queue_website_checks(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                queued_before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::WebsiteCheckJob>> {
                let mut tx = self.begin_write().await?;
                let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as(concat!(
                    "UPDATE website_checks SET status = 'queued', enqueues = enqueues + 1, queued_at = $1 \
                     WHERE id IN (SELECT id FROM website_checks WHERE status = 'pending' \
                     OR (status = 'queued' AND queued_at < $2) ORDER BY requested_at, id LIMIT $3",
                    $skip_locked,
                    ") RETURNING id, enqueues"
                ))
                .bind(now)
                .bind(queued_before)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(|(id, enqueues)| crate::store::WebsiteCheckJob { id, enqueues }).collect())
            }

            async fn website_check(
                &self,
                id: uuid::Uuid,
            ) -> crate::store::StoreResult<Option<crate::store::WebsiteCheckRecord>> {
                let row = sqlx::query("SELECT * FROM website_checks WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(rows::website_check).transpose()?)
            }

            async fn website_checks_for(
                &self,
                id: crate::domain::ApplicationId,
            ) -> crate::store::StoreResult<Vec<crate::store::WebsiteCheckRecord>> {
                let rows =
                    sqlx::query("SELECT * FROM website_checks WHERE application_id = $1 ORDER BY requested_at, id")
                        .bind(id.0)
                        .fetch_all(self.pool())
                        .await?;
                Ok(rows.iter().map(rows::website_check).collect::<Result<_, _>>()?)
            }

            async fn finish_website_check(
                &self,
                f: &crate::store::WebsiteCheckFinish,
            ) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE website_checks SET status = 'done', checked_at = $1, evidence = $2 \
                     WHERE id = $3 AND status = 'queued' AND enqueues = $4",
                )
                .bind(f.at)
                .bind(sqlx::types::Json(&f.evidence))
                .bind(f.job.id)
                .bind(f.job.enqueues)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    // Finished already, or queued again under a newer number: that job's.
                    return Ok(false);
                }
                let mut out = Writer::immediate();
                if let Some(d) = &f.decision {
                    Self::insert_decisions(&mut tx, &mut out, &[d]).await?;
                }
                if let Some(t) = &f.transition {
                    Self::transition_in(&mut tx, &mut out, t).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn invoice_request(
                &self,
                id: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::InvoiceRequestRecord>> {
                let row = sqlx::query(
                    "SELECT r.*, i.state, i.version FROM invoice_requests r JOIN workflow_instances i ON i.id = r.id \
                     WHERE r.id = $1",
                )
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.as_ref().map(invoice_rows::request).transpose()?)
            }

            async fn invoice_request_by_reference(
                &self,
                reference: &str,
            ) -> crate::store::StoreResult<Option<crate::store::InvoiceRequestRecord>> {
                let row = sqlx::query(
                    "SELECT r.*, i.state, i.version FROM invoice_requests r JOIN workflow_instances i ON i.id = r.id \
                     WHERE r.reference = $1",
                )
                .bind(reference)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.as_ref().map(invoice_rows::request).transpose()?)
            }

            async fn last_invoice_number(&self) -> crate::store::StoreResult<i64> {
                let n: i64 = sqlx::query_scalar("SELECT last_number FROM invoice_counter WHERE id = 1")
                    .fetch_one(self.pool())
                    .await?;
                Ok(n)
            }

            async fn issue_invoice(&self, issue: &crate::store::InvoiceIssue) -> crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let mut w = Writer::immediate();
                if let Some(v) = &issue.invoice {
                    // Compare-and-set: only the issue that saw the counter at `number - 1` takes
                    // `number`; a rollback below undoes it, so no number is ever burnt.
                    let moved = sqlx::query("UPDATE invoice_counter SET last_number = $1 WHERE id = 1 AND last_number = $2")
                        .bind(v.number)
                        .bind(v.number - 1)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if moved == 0 {
                        let actual: i64 = sqlx::query_scalar("SELECT last_number FROM invoice_counter WHERE id = 1")
                            .fetch_one(&mut *tx)
                            .await?;
                        return Err(crate::store::StoreError::Conflict { expected: v.number - 1, actual });
                    }
                    sqlx::query(
                        "INSERT INTO invoices (number, request_id, account_email, total_cents, document, html, pdf, \
                         issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(v.number)
                    .bind(v.request_id.map(|r| r.0))
                    .bind(&v.account_email)
                    .bind(v.total_cents)
                    .bind(sqlx::types::Json(&v.document))
                    .bind(&v.html)
                    .bind(&v.pdf)
                    .bind(&v.issued_by)
                    .bind(v.issued_at)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::action_in(&mut tx, &mut w, &issue.action).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn invoice(&self, number: i64) -> crate::store::StoreResult<Option<crate::store::InvoiceRecord>> {
                let row = sqlx::query("SELECT * FROM invoices WHERE number = $1")
                    .bind(number)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(invoice_rows::invoice).transpose()?)
            }

            async fn invoice_for_request(
                &self,
                request: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Option<crate::store::InvoiceRecord>> {
                let row = sqlx::query("SELECT * FROM invoices WHERE request_id = $1")
                    .bind(request.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.as_ref().map(invoice_rows::invoice).transpose()?)
            }

            async fn list_invoices(
                &self,
                filter: &crate::store::InvoiceFilter,
            ) -> crate::store::StoreResult<Vec<crate::store::InvoiceRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM invoices WHERE number > ");
                q.push_bind(filter.after.unwrap_or(0));
                if let Some(a) = &filter.account_email {
                    q.push(" AND account_email = ").push_bind(a.clone());
                }
                q.push(" ORDER BY number LIMIT ").push_bind(filter.limit.max(1));
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(invoice_rows::invoice).collect::<Result<_, _>>()?)
            }

            async fn worker_beat(&self, beat: &crate::store::WorkerBeat) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO worker_heartbeats (worker, started_at, beat_at, clock_at, scheduled_clock_at, ticks) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (worker) DO UPDATE SET beat_at = excluded.beat_at, clock_at = excluded.clock_at, \
                     scheduled_clock_at = excluded.scheduled_clock_at, ticks = excluded.ticks",
                )
                .bind(&beat.worker)
                .bind(beat.started_at)
                .bind(beat.beat_at)
                .bind(beat.clock_at)
                .bind(beat.scheduled_clock_at)
                .bind(beat.ticks)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn worker_beats(&self) -> crate::store::StoreResult<Vec<crate::store::WorkerBeat>> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT * FROM worker_heartbeats ORDER BY beat_at DESC, worker")
                    .fetch_all(self.pool())
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::WorkerBeat {
                        worker: r.try_get("worker")?,
                        started_at: r.try_get("started_at")?,
                        beat_at: r.try_get("beat_at")?,
                        clock_at: r.try_get("clock_at")?,
                        scheduled_clock_at: r.try_get("scheduled_clock_at")?,
                        ticks: r.try_get("ticks")?,
                    });
                }
                Ok(out)
            }

            async fn outbox_due(&self, now: chrono::DateTime<chrono::Utc>) -> crate::store::StoreResult<(i64, i64)> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT \
                     COUNT(CASE WHEN status = 'pending' AND (available_at IS NULL OR available_at <= $1) THEN 1 END) AS due, \
                     COUNT(CASE WHEN status IN ('queued', 'sending') THEN 1 END) AS in_flight \
                     FROM outbox WHERE kind = 'email' AND status IN ('pending', 'queued', 'sending')",
                )
                .bind(now)
                .fetch_one(self.pool())
                .await?;
                Ok((row.try_get("due")?, row.try_get("in_flight")?))
            }

            async fn report_figures(
                &self,
                w: &crate::store::ReportWindow,
            ) -> crate::store::StoreResult<crate::store::ReportFigures> {
                use sqlx::Row;
                use crate::workflow::names::task_state;
                let mut tx = self.pool().begin().await?;
                if crate::store::Store::backend(self) == "postgres" {
                    // One snapshot for every statement below (SQLite's read transaction is one
                    // already): the figures then add up even while workers write.
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
                }
                let applications: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT i.state, COUNT(*) FROM applications a JOIN workflow_instances i ON i.id = a.id \
                     WHERE a.created_at >= $1 AND a.created_at < $2 GROUP BY i.state ORDER BY i.state",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let lines: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT state, COUNT(*) FROM workflow_instances WHERE workflow = 'credit_line' \
                     GROUP BY state ORDER BY state",
                )
                .fetch_all(&mut *tx)
                .await?;
                let billed_unpaid_cents: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(amount_cents - paid_cents), 0) AS BIGINT) FROM bills \
                     WHERE paid_cents < amount_cents",
                )
                .fetch_one(&mut *tx)
                .await?;
                let unbilled_cents: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(u.used_cents), 0) AS BIGINT) FROM credit_usage u \
                     WHERE NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = u.line_id AND b.period = u.period)",
                )
                .fetch_one(&mut *tx)
                .await?;
                // Bills of nothing (a month without usage) have nothing to pay: issued, never due.
                let b = sqlx::query(
                    "SELECT \
                     CAST(COALESCE(SUM(CASE WHEN issued_at >= $1 AND issued_at < $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS issued, \
                     CAST(COALESCE(SUM(CASE WHEN issued_at >= $1 AND issued_at < $2 THEN amount_cents ELSE 0 END), 0) AS BIGINT) AS issued_cents, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS due, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 THEN amount_cents ELSE 0 END), 0) AS BIGINT) AS due_cents, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 \
                       AND paid_cents = amount_cents AND paid_at <= due_at THEN 1 ELSE 0 END), 0) AS BIGINT) AS on_time, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 \
                       AND paid_cents = amount_cents AND paid_at > due_at THEN 1 ELSE 0 END), 0) AS BIGINT) AS late, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND paid_cents < amount_cents \
                       THEN 1 ELSE 0 END), 0) AS BIGINT) AS unpaid, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND paid_cents < amount_cents \
                       THEN amount_cents - paid_cents ELSE 0 END), 0) AS BIGINT) AS unpaid_cents \
                     FROM bills WHERE (issued_at >= $1 AND issued_at < $2) OR (due_at >= $1 AND due_at < $2)",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_one(&mut *tx)
                .await?;
                let bills = crate::store::ReportBills {
                    issued: b.try_get("issued")?,
                    issued_cents: b.try_get("issued_cents")?,
                    due: b.try_get("due")?,
                    due_cents: b.try_get("due_cents")?,
                    paid_on_time: b.try_get("on_time")?,
                    paid_late: b.try_get("late")?,
                    unpaid: b.try_get("unpaid")?,
                    unpaid_cents: b.try_get("unpaid_cents")?,
                };
                let increases: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT i.state, COUNT(*) FROM limit_increases l JOIN workflow_instances i ON i.id = l.id \
                     WHERE l.created_at >= $1 AND l.created_at < $2 GROUP BY i.state ORDER BY i.state",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let deposits_held_cents: i64 =
                    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(deposit_cents), 0) AS BIGINT) FROM ledger_accounts")
                        .fetch_one(&mut *tx)
                        .await?;
                let emails_sent: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT name, COUNT(*) FROM outbox WHERE kind = 'email' AND status = 'sent' \
                     AND processed_at >= $1 AND processed_at < $2 GROUP BY name ORDER BY name",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let tasks_opened: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT kind, COUNT(*) FROM tasks WHERE created_at >= $1 AND created_at < $2 \
                     GROUP BY kind ORDER BY kind",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let tasks_closed: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT kind, COUNT(*) FROM tasks WHERE state NOT IN ($3, $4) \
                     AND updated_at >= $1 AND updated_at < $2 GROUP BY kind ORDER BY kind",
                )
                .bind(w.from)
                .bind(w.to)
                .bind(task_state::WAITING[0])
                .bind(task_state::WAITING[1])
                .fetch_all(&mut *tx)
                .await?;
                let mut q = Builder::new("SELECT kind, CAST(CASE");
                for (i, cutoff) in w.open_task_cutoffs.iter().enumerate() {
                    q.push(" WHEN created_at > ");
                    q.push_bind(*cutoff);
                    q.push(format_args!(" THEN {i}"));
                }
                q.push(format_args!(
                    " ELSE {} END AS BIGINT) AS bucket, COUNT(*) AS n FROM tasks WHERE state IN (",
                    w.open_task_cutoffs.len()
                ));
                let mut waiting = q.separated(", ");
                for st in task_state::WAITING {
                    waiting.push_bind(st);
                }
                q.push(") GROUP BY 1, 2 ORDER BY 1, 2");
                let tasks_open: Vec<(String, i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(crate::store::ReportFigures {
                    applications,
                    lines,
                    billed_unpaid_cents,
                    unbilled_cents,
                    bills,
                    increases,
                    deposits_held_cents,
                    emails_sent,
                    tasks_opened,
                    tasks_closed,
                    tasks_open,
                })
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
                    out.push((rows::event(r)?, r.try_get("instance_workflow")?, r.try_get("instance_account")?));
                }
                Ok(out)
            }

            async fn outbox_after(&self, after: uuid::Uuid, limit: i64) -> crate::store::StoreResult<Vec<crate::store::OutboxRecord>> {
                let rows = sqlx::query("SELECT * FROM outbox WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::outbox).collect::<Result<_, _>>()?)
            }

            async fn outbox_rows(&self, ids: &[crate::domain::OutboxId]) -> crate::store::StoreResult<Vec<crate::store::OutboxRecord>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM outbox WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.0);
                    }
                    q.push(") ORDER BY id");
                    for r in q.build().fetch_all(self.pool()).await? {
                        out.push(rows::outbox(&r)?);
                    }
                }
                Ok(out)
            }

            async fn entries_after(&self, after: uuid::Uuid, limit: i64) -> crate::store::StoreResult<Vec<crate::store::EntryRecord>> {
                let rows = sqlx::query("SELECT * FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::entry).collect::<Result<_, _>>()?)
            }

            async fn bills_after(&self, after: uuid::Uuid, limit: i64) -> crate::store::StoreResult<Vec<crate::store::BillRecord>> {
                let rows = sqlx::query("SELECT * FROM bills WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.iter().map(rows::bill).collect::<Result<_, _>>()?)
            }

            async fn ledger_breaches(&self) -> crate::store::StoreResult<Vec<String>> {
                use sqlx::Row;
                let mut out = Vec::new();
                let rows = sqlx::query(
                    "SELECT account_email, prepaid_cents, deposit_cents FROM ledger_accounts \
                     WHERE prepaid_cents < 0 OR deposit_cents < 0 ORDER BY account_email",
                )
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    let (account, prepaid, deposit): (String, i64, i64) =
                        (r.try_get("account_email")?, r.try_get("prepaid_cents")?, r.try_get("deposit_cents")?);
                    out.push(format!("{account}: prepaid {prepaid} cents, deposit {deposit} cents: below zero"));
                }
                let rows = sqlx::query(
                    "SELECT line_id, period, used_cents, limit_cents FROM credit_usage \
                     WHERE used_cents > limit_cents ORDER BY line_id, period",
                )
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    let line: uuid::Uuid = r.try_get("line_id")?;
                    let (period, used, limit): (String, i64, i64) =
                        (r.try_get("period")?, r.try_get("used_cents")?, r.try_get("limit_cents")?);
                    out.push(format!("line {line} {period}: used {used} cents over its limit {limit} cents"));
                }
                Ok(out)
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
                        out.push(rows::decision(&r)?);
                    }
                }
                Ok(out)
            }
        }

        mod invoice_rows {
            use sqlx::Row;
            use sqlx::types::Json;

            type DbRow = <$db as sqlx::Database>::Row;

            pub(super) fn request(r: &DbRow) -> Result<crate::store::InvoiceRequestRecord, sqlx::Error> {
                let details: Json<serde_json::Value> = r.try_get("details")?;
                Ok(crate::store::InvoiceRequestRecord {
                    id: crate::domain::SubjectId(r.try_get("id")?),
                    reference: r.try_get("reference")?,
                    account_email: r.try_get("account_email")?,
                    requester: r.try_get("requester")?,
                    details: details.0,
                    state: r.try_get("state")?,
                    version: r.try_get("version")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            pub(super) fn invoice(r: &DbRow) -> Result<crate::store::InvoiceRecord, sqlx::Error> {
                let document: Json<serde_json::Value> = r.try_get("document")?;
                let request: Option<uuid::Uuid> = r.try_get("request_id")?;
                Ok(crate::store::InvoiceRecord {
                    number: r.try_get("number")?,
                    request_id: request.map(crate::domain::SubjectId),
                    account_email: r.try_get("account_email")?,
                    total_cents: r.try_get("total_cents")?,
                    document: document.0,
                    html: r.try_get("html")?,
                    pdf: r.try_get("pdf")?,
                    issued_by: r.try_get("issued_by")?,
                    issued_at: r.try_get("issued_at")?,
                })
            }
        }
    };
}

pub(crate) use impl_store;

/// How many bytes of a statement's message `runs` lets one statement carry. sqlx does not set
/// TCP_NODELAY, and a message bigger than the socket's send buffer (16 KiB by default on
/// Linux) waits for the server's delayed ACK: 40 ms a statement, measured on PostgreSQL over
/// loopback with 500-row inserts. Staying below it costs a few more round trips instead.
const STATEMENT_BYTES: usize = 12 * 1024;

/// Splits rows for multi-row statements: at most `max_rows` a run, and no more bound data
/// (as `size` estimates it, placeholders included) than [`STATEMENT_BYTES`], but at least one
/// row a run.
pub(crate) fn runs<T>(rows: &[T], max_rows: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let n = size(row);
        if i > start && (i - start >= max_rows || bytes + n > STATEMENT_BYTES) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn runs_cover_every_row_once_within_the_row_and_byte_limits() {
        let rows: Vec<usize> = (0..1000).map(|i| 100 + i % 700).collect();
        let parts = runs(&rows, 64, |n| *n);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), rows.len());
        assert_eq!(parts.concat(), rows);
        for p in &parts {
            assert!(p.len() <= 64);
            assert!(p.len() == 1 || p.iter().sum::<usize>() <= super::STATEMENT_BYTES, "{p:?}");
        }
        assert_eq!(runs(&[20_000usize], 64, |n| *n).len(), 1, "an oversized row still gets its statement");
        assert!(runs(&[] as &[usize], 64, |n| *n).is_empty());
    }
}
