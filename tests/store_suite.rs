//! The store contract, run on SQLite always and on PostgreSQL when configured.

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::TestStore;
use creditline::domain::{ApplicantKind, DecisionId, EmailAddress, EventId, Money, OutboxId};
use creditline::services::{Fire, NewApplicationInput, ServiceError};
use creditline::store::{ApplicationFilter, OutboxWrite, StoreError, TransitionWrite};
use creditline::workflow::EngineError;

fn input(email: &str) -> NewApplicationInput {
    NewApplicationInput {
        account_email: EmailAddress::parse(email).unwrap(),
        applicant_kind: Some(ApplicantKind::Enterprise),
        requested_limit: Some(Money::parse("$200").unwrap()),
        details: serde_json::json!({ "legal_company_name": "Lumenforge Ltd" }),
    }
}

async fn opening_an_application_records_event_and_email(t: TestStore) {
    let svc = t.service();
    let app = svc.open_application(input("billing@lumenforge.io"), "test").await.unwrap();
    assert_eq!(app.state, "received");
    assert_eq!(app.version, 1);
    assert!(app.reference.starts_with("CL-"));
    assert_eq!(app.requested_limit_cents, Some(20_000));
    assert_eq!(app.details["legal_company_name"], "Lumenforge Ltd");

    let events = t.store.events(app.id.into()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "created");
    assert_eq!(events[0].from_state, None);
    assert_eq!(events[0].to_state, "received");

    let outbox = t.store.outbox_for(app.id.into()).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!((outbox[0].kind.as_str(), outbox[0].name.as_str()), ("email", "application_received"));
    assert_eq!(outbox[0].payload["to"], "billing@lumenforge.io");
    assert_eq!(outbox[0].status, "pending");

    let by_ref = t.store.application_by_reference(&app.reference).await.unwrap().unwrap();
    assert_eq!(by_ref.id, app.id);
}

async fn a_guarded_transition_follows_the_rule_outcome(t: TestStore) {
    let svc = t.service();
    let app = svc.open_application(input("a@lumenforge.io"), "test").await.unwrap();
    let decision = DecisionId::new();
    let fired = svc
        .fire(Fire::new(app.id, "materials_complete", "intake").decision("applicant_type", "enterprise", decision))
        .await
        .unwrap();
    assert_eq!(
        (fired.from.as_str(), fired.to.as_str(), fired.version),
        ("received", "awaiting_domain_confirmation", 2)
    );

    let events = t.store.events(app.id.into()).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].decision_ids, vec![decision]);
    assert_eq!(events[1].actor, "intake");
    let outbox = t.store.outbox_for(app.id.into()).await.unwrap();
    assert_eq!(outbox.last().unwrap().name, "domain_confirmation_request");
    assert_eq!(outbox.last().unwrap().event_id, fired.event_id);

    // Same event, other outcome, other application: another branch of the workflow.
    let other = svc.open_application(input("b@example.org"), "test").await.unwrap();
    let fired = svc
        .fire(Fire::new(other.id, "materials_complete", "intake").decision(
            "applicant_type",
            "individual_with_product",
            DecisionId::new(),
        ))
        .await
        .unwrap();
    assert_eq!(fired.to, "business_verification");
}

async fn refused_events_write_nothing(t: TestStore) {
    let svc = t.service();
    let app = svc.open_application(input("c@lumenforge.io"), "test").await.unwrap();
    // No decision for the guard.
    let err = svc.fire(Fire::new(app.id, "materials_complete", "intake")).await.unwrap_err();
    assert!(matches!(err, ServiceError::Engine(EngineError::DecisionMissing { .. })), "{err}");
    // An event the state does not have.
    let err = svc.fire(Fire::new(app.id, "approve", "reviewer")).await.unwrap_err();
    assert!(matches!(err, ServiceError::Engine(EngineError::NotPossible { .. })), "{err}");
    // A decline without a reason.
    let err = svc
        .fire(Fire::new(app.id, "classified", "intake").decision(
            "applicant_type",
            "individual_without_product",
            DecisionId::new(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Engine(EngineError::ReasonRequired { .. })), "{err}");
    // A stale version.
    let err = svc.fire(Fire::new(app.id, "materials_missing", "intake").at_version(7)).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");

    let now = t.store.application(app.id).await.unwrap().unwrap();
    assert_eq!((now.state.as_str(), now.version), ("received", 1));
    assert_eq!(t.store.events(app.id.into()).await.unwrap().len(), 1);
    assert_eq!(t.store.outbox_for(app.id.into()).await.unwrap().len(), 1);
}

async fn sixteen_concurrent_transitions_one_wins(t: TestStore) {
    let svc = Arc::new(t.service());
    let app = svc.open_application(input("race@lumenforge.io"), "test").await.unwrap();
    let mut handles = Vec::new();
    for i in 0..16 {
        let svc = svc.clone();
        handles.push(tokio::spawn(async move {
            svc.fire(
                Fire::new(app.id, "materials_missing", &format!("worker-{i}"))
                    .data("missing", ["website"])
                    .at_version(1),
            )
            .await
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(fired) => {
                ok += 1;
                assert_eq!(fired.version, 2);
            }
            Err(e) if e.is_conflict() => conflicts += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 15));
    let events = t.store.events(app.id.into()).await.unwrap();
    assert_eq!(events.len(), 2, "exactly one new event row");
    let outbox = t.store.outbox_for(app.id.into()).await.unwrap();
    assert_eq!(outbox.iter().filter(|o| o.name == "materials_requested").count(), 1);
    let now = t.store.instance(app.id.into()).await.unwrap().unwrap();
    assert_eq!((now.state.as_str(), now.version), ("awaiting_materials", 2));
}

/// `materials_missing` of an application from `version`, with an email row per outbox key.
fn materials_missing(app: &creditline::store::ApplicationRecord, version: i64, keys: &[&str]) -> TransitionWrite {
    let effect = |key: &&str| OutboxWrite {
        id: OutboxId::new(),
        kind: "email".into(),
        name: "materials_requested".into(),
        idempotency_key: key.to_string(),
        payload: serde_json::json!({}),
    };
    TransitionWrite {
        instance_id: app.id.into(),
        expected_version: version,
        event_id: EventId::new(),
        event: "materials_missing".into(),
        from_state: "received".into(),
        to_state: "awaiting_materials".into(),
        actor: "test".into(),
        reason: None,
        decision_ids: vec![],
        outbox: keys.iter().map(effect).collect(),
        tasks: vec![],
        at: Utc::now(),
    }
}

async fn a_failure_while_writing_effects_rolls_everything_back(t: TestStore) {
    let svc = t.service();
    let app = svc.open_application(input("atomic@lumenforge.io"), "test").await.unwrap();
    let before_events = t.store.events(app.id.into()).await.unwrap();
    let before_outbox = t.store.outbox_for(app.id.into()).await.unwrap();
    // The second outbox row breaks the unique idempotency key: the failure happens after
    // the state update, the event row and one outbox row were written.
    let write = materials_missing(&app, 1, &["same-key", "same-key"]);
    let err = t.store.apply_transition(&write).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err}");

    let now = t.store.instance(app.id.into()).await.unwrap().unwrap();
    assert_eq!((now.state.as_str(), now.version), ("received", 1));
    assert_eq!(t.store.events(app.id.into()).await.unwrap(), before_events);
    assert_eq!(t.store.outbox_for(app.id.into()).await.unwrap(), before_outbox);

    // And the same write without the fault goes through.
    let mut fixed = write.clone();
    fixed.outbox = materials_missing(&app, 1, &["key-1", "key-2"]).outbox;
    assert_eq!(t.store.apply_transition(&fixed).await.unwrap(), 2);
}

/// Group commit: transitions written together each commit or fail on their own. A fault in
/// one (a duplicate outbox key, a stale version) undoes that one alone; the answers come back
/// in the order the writes were given, whatever order the store wrote them in.
async fn transitions_written_together_commit_or_fail_each_on_its_own(t: TestStore) {
    let svc = t.service();
    let mut apps = Vec::new();
    for who in ["one", "two", "three"] {
        apps.push(svc.open_application(input(&format!("{who}@lumenforge.io")), "test").await.unwrap());
    }
    let write = |app: &creditline::store::ApplicationRecord, version: i64, keys: [&str; 2]| {
        let keys: Vec<String> = keys.iter().map(|k| format!("{}:{k}", app.id)).collect();
        materials_missing(app, version, &keys.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let writes = [
        write(&apps[0], 1, ["a", "b"]),
        write(&apps[1], 1, ["same", "same"]),
        write(&apps[2], 1, ["a", "b"]),
        write(&apps[2], 1, ["c", "d"]),
    ];
    let done = t.store.apply_transitions(&writes).await.unwrap();
    assert_eq!(done.len(), 4);
    assert_eq!(done[0].as_ref().ok(), Some(&2));
    assert!(matches!(done[1], Err(StoreError::Duplicate(_))), "{:?}", done[1]);
    assert_eq!(done[2].as_ref().ok(), Some(&2));
    assert!(matches!(done[3], Err(StoreError::Conflict { expected: 1, actual: 2 })), "{:?}", done[3]);
    for (app, state, events, emails) in
        [(&apps[0], "awaiting_materials", 2, 3), (&apps[1], "received", 1, 1), (&apps[2], "awaiting_materials", 2, 3)]
    {
        let now = t.store.instance(app.id.into()).await.unwrap().unwrap();
        assert_eq!(now.state, state, "{}", app.account_email);
        assert_eq!(t.store.events(app.id.into()).await.unwrap().len(), events, "{}", app.account_email);
        assert_eq!(t.store.outbox_for(app.id.into()).await.unwrap().len(), emails, "{}", app.account_email);
    }
}

/// Group commit with nothing failing but the guards (SQLite writes such a batch in one call,
/// its guards read first): a stale version and a missing instance are refused alone, and a
/// second step of one instance in the same batch is checked against the state the first
/// leaves.
async fn transitions_written_together_are_guarded_each_against_the_batch_so_far(t: TestStore) {
    let svc = t.service();
    let mut apps = Vec::new();
    for who in ["first", "second"] {
        apps.push(svc.open_application(input(&format!("{who}@lumenforge.io")), "test").await.unwrap());
    }
    let keys = |app: &creditline::store::ApplicationRecord, k: &str| format!("{}:{k}", app.id);
    let mut again = materials_missing(&apps[0], 2, &[&keys(&apps[0], "again")]);
    again.from_state = "awaiting_materials".into();
    again.event = "materials_reminded".into();
    let mut gone = materials_missing(&apps[1], 1, &["gone"]);
    gone.instance_id = creditline::domain::SubjectId(uuid::Uuid::now_v7());
    let writes = [
        materials_missing(&apps[0], 1, &[&keys(&apps[0], "first")]),
        materials_missing(&apps[1], 5, &[&keys(&apps[1], "stale")]),
        again.clone(),
        gone,
        // The same step again: the first `again` moved the instance past version 2.
        TransitionWrite { event_id: EventId::new(), outbox: vec![], ..again },
    ];
    let done = t.store.apply_transitions(&writes).await.unwrap();
    assert_eq!(done.len(), 5);
    assert_eq!(done[0].as_ref().ok(), Some(&2));
    assert!(matches!(done[1], Err(StoreError::Conflict { expected: 5, actual: 1 })), "{:?}", done[1]);
    assert_eq!(done[2].as_ref().ok(), Some(&3));
    assert!(matches!(done[3], Err(StoreError::NotFound(_))), "{:?}", done[3]);
    assert!(matches!(done[4], Err(StoreError::Conflict { expected: 2, actual: 3 })), "{:?}", done[4]);
    let first = t.store.instance(apps[0].id.into()).await.unwrap().unwrap();
    assert_eq!((first.state.as_str(), first.version), ("awaiting_materials", 3));
    let events: Vec<String> = t.store.events(apps[0].id.into()).await.unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["created", "materials_missing", "materials_reminded"]);
    assert_eq!(t.store.outbox_for(apps[0].id.into()).await.unwrap().len(), 3);
    let second = t.store.instance(apps[1].id.into()).await.unwrap().unwrap();
    assert_eq!((second.state.as_str(), second.version), ("received", 1));
    assert_eq!(t.store.outbox_for(apps[1].id.into()).await.unwrap().len(), 1, "the refused step wrote nothing");
}

async fn listing_filters_and_pages_oldest_first(t: TestStore) {
    let svc = t.service();
    let mut ids = Vec::new();
    for i in 0..5 {
        let app = svc.open_application(input(&format!("list{i}@example.com")), "test").await.unwrap();
        ids.push(app.id);
    }
    svc.fire(Fire::new(ids[1], "materials_missing", "intake").data("missing", ["website"])).await.unwrap();
    svc.fire(Fire::new(ids[3], "materials_missing", "intake").data("missing", ["website"])).await.unwrap();

    let all = t.store.list_applications(&ApplicationFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), ids);

    let waiting = t
        .store
        .list_applications(&ApplicationFilter {
            state: Some("awaiting_materials".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(waiting.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[1], ids[3]]);

    let page1 = t.store.list_applications(&ApplicationFilter { limit: 2, ..Default::default() }).await.unwrap();
    let page2 = t
        .store
        .list_applications(&ApplicationFilter { limit: 2, after: Some(page1[1].id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page2.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ids[2], ids[3]]);

    let one = t
        .store
        .list_applications(&ApplicationFilter {
            account_email: Some("list4@example.com".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
}

async fn other_workflows_run_on_the_same_store(t: TestStore) {
    let svc = t.service();
    let line = creditline::domain::SubjectId::new();
    let inst = svc.start("credit_line", line, Some("owner@lumenforge.io"), "test").await.unwrap();
    assert_eq!(inst.state, "active");
    // With the data a real gating step carries (see `cycles::gate`).
    let gate = |outcome: &str| {
        Fire::new(line, "gated", "cycle")
            .decision("cycle_gating", outcome, DecisionId::new())
            .data("period", "2026-10")
            .data("monthly_limit_cents", 20_000)
    };
    assert_eq!(svc.fire(gate("pause")).await.unwrap().to, "paused");
    let restored =
        svc.fire(Fire::new(line, "payment_confirmed", "stripe").data("monthly_limit_cents", 20_000)).await.unwrap();
    assert_eq!(restored.to, "active");
    assert_eq!(restored.effects.len(), 1);
    // A bill is recorded without changing state.
    let bill = Fire::new(line, "bill_issued", "cycle")
        .data("amount_cents", 15_000)
        .data("due_date", "2026-11-10")
        .data("period", "2026-10");
    let bill = svc.fire(bill).await.unwrap();
    assert_eq!((bill.from.as_str(), bill.to.as_str()), ("active", "active"));
    let names: Vec<String> = t.store.outbox_for(line).await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(names, vec!["line_paused", "line_restored", "bill_issued"]);
    assert!(matches!(
        svc.start("no_such_workflow", creditline::domain::SubjectId::new(), None, "t").await,
        Err(ServiceError::UnknownWorkflow(_))
    ));
}

async fn rule_decisions_are_recorded_and_feed_guards(t: TestStore) {
    let rules = creditline::rules::RuleSet::load(&common::repo().join("rules")).unwrap();
    let svc = t.service();
    let app = svc.open_application(input("d@lumenforge.io"), "test").await.unwrap();
    let typed = creditline::rules::inputs::ApplicantTypeInput {
        declared_type: "enterprise".into(),
        legal_company_name: "Lumenforge Ltd".into(),
        ..Default::default()
    };
    let (decision, record) = rules.evaluate("applicant_type", &typed, Some(app.id.into()));
    t.store.record_decision(&record).await.unwrap();
    let fired = svc
        .fire(Fire::new(app.id, "materials_complete", "intake").decision(
            "applicant_type",
            &decision.outcome,
            record.id,
        ))
        .await
        .unwrap();
    assert_eq!(fired.to, "awaiting_domain_confirmation");
    let stored = t.store.decisions_for(app.id.into()).await.unwrap();
    assert_eq!(stored, vec![record.clone()]);
    assert_eq!(stored[0].version.len(), 64);
    let events = t.store.events(app.id.into()).await.unwrap();
    assert_eq!(events.last().unwrap().decision_ids, vec![record.id]);
}

/// The account view and the ledger read every application and line of an account, page by
/// page, never stopping at a cap (issue 19: no silent cap). A page size of 2 over 5
/// applications needs three reads; 5 needs a last, empty one.
async fn an_accounts_records_are_read_to_the_last_page(t: TestStore) {
    let svc = t.service();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(svc.open_application(input("many@example.com"), "test").await.unwrap().id);
        if i == 2 {
            svc.open_application(input("other@example.com"), "test").await.unwrap();
        }
    }
    for page in [1, 2, 5, 500] {
        let all =
            creditline::services::views::applications_of(t.store.as_ref(), "many@example.com", page).await.unwrap();
        assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), ids, "page size {page}");
    }
    let none = creditline::services::views::credit_lines_of(t.store.as_ref(), "many@example.com", 2).await.unwrap();
    assert!(none.is_empty());
}

async fn readiness_ping_answers(t: TestStore) {
    t.store.ping().await.unwrap();
    // Migrating twice is harmless.
    t.store.migrate().await.unwrap();
}

/// A bulk job on a young database first brings its statistics up to date (the cycle close
/// does, `OperationsStore::refresh_statistics`); a table analyzed just now is left alone.
async fn statistics_are_refreshed_where_missing_or_stale(t: TestStore) {
    let app = t.app();
    // Over the 1,000 changed rows that make a table worth analyzing.
    for i in 0..1_200 {
        let account = format!("line{i}@stats.io");
        app.workflow.start("credit_line", creditline::domain::SubjectId::new(), Some(&account), "test").await.unwrap();
    }
    let tables = ["workflow_instances", "no_such_table"];
    if !matches!(t.store.backend(), "postgres") {
        assert!(t.store.refresh_statistics(&tables).await.unwrap().is_empty());
        return;
    }
    // PostgreSQL counts a transaction's changes a moment after it commits: ask until it has.
    let mut analyzed = Vec::new();
    for _ in 0..60 {
        analyzed = t.store.refresh_statistics(&tables).await.unwrap();
        if !analyzed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(analyzed, ["workflow_instances"]);
    assert!(t.store.refresh_statistics(&tables).await.unwrap().is_empty(), "analyzed just now");
}

store_suite!(
    statistics_are_refreshed_where_missing_or_stale,
    opening_an_application_records_event_and_email,
    a_guarded_transition_follows_the_rule_outcome,
    refused_events_write_nothing,
    sixteen_concurrent_transitions_one_wins,
    a_failure_while_writing_effects_rolls_everything_back,
    transitions_written_together_commit_or_fail_each_on_its_own,
    transitions_written_together_are_guarded_each_against_the_batch_so_far,
    listing_filters_and_pages_oldest_first,
    an_accounts_records_are_read_to_the_last_page,
    other_workflows_run_on_the_same_store,
    readiness_ping_answers,
    rule_decisions_are_recorded_and_feed_guards,
);
