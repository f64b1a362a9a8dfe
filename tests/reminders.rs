//! Reminders and time-outs with a controlled clock, and the delivery service on both stores:
//! an application waiting for materials or for the company-domain confirmation gets one
//! reminder after `remind_after_days` (listing what is still missing) and is deferred after
//! `time_out_after_days`, through the workflow; the emails render and deliver.

mod common;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use common::{TestStore, repo};
use creditline::app::App;
use creditline::config::{Config, ReminderConfig};
use creditline::email::transport::{FileTransport, Mailer};
use creditline::services::ManualClock;
use creditline::services::delivery::{Attempted, deliver};
use creditline::services::reminders::scan;
use creditline::store::OutboxRecord;

fn app(t: &TestStore, clock: Arc<ManualClock>) -> Arc<App> {
    let config = Config {
        rules_dir: repo().join("rules"),
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        reminders: ReminderConfig {
            remind_after_days: 5,
            time_out_after_days: 14,
            scan_interval_seconds: 60,
            ..Default::default()
        },
        ..Default::default()
    };
    App::assemble(config, t.store.clone(), clock).unwrap()
}

async fn ingest(app: &App, corpus_file: &str) -> creditline::domain::ApplicationId {
    let raw = std::fs::read(repo().join("tests/corpus").join(corpus_file)).unwrap();
    let report = creditline::services::inbound::ingest(app, corpus_file, &raw).await.unwrap();
    let id = serde_json::to_value(&report).unwrap()["application_id"].clone();
    serde_json::from_value(id).unwrap_or_else(|e| panic!("{corpus_file}: no application ({e}): {report:?}"))
}

async fn state(app: &App, id: creditline::domain::ApplicationId) -> String {
    app.store.instance(id.into()).await.unwrap().unwrap().state
}

async fn emails(app: &App, id: creditline::domain::ApplicationId, name: &str) -> Vec<OutboxRecord> {
    app.store.outbox_for(id.into()).await.unwrap().into_iter().filter(|o| o.name == name).collect()
}

async fn reminders_then_time_outs_through_the_workflow(t: TestStore) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()));
    let app = app(&t, clock.clone());
    let materials = ingest(&app, "14-quoted-reply-ignored.eml").await;
    let domain = ingest(&app, "01-html-only-enterprise.eml").await;
    assert_eq!(state(&app, materials).await, "awaiting_materials");
    assert_eq!(state(&app, domain).await, "awaiting_domain_confirmation");

    clock.advance(Duration::days(4));
    assert_eq!(scan(&app).await.unwrap().reminded, 0, "too early");

    // Day 5: one reminder each, even with two scanners at once (every worker runs the scan).
    clock.advance(Duration::days(1));
    let (a, b) = tokio::join!(scan(&app), scan(&app));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.reminded + b.reminded, 2, "{a:?} {b:?}");
    assert_eq!(scan(&app).await.unwrap().reminded, 0, "one reminder per wait");
    let reminder = emails(&app, materials, "materials_reminder").await;
    assert_eq!(reminder.len(), 1);
    assert_eq!(reminder[0].payload["missing"], serde_json::json!(["expected_monthly_spend"]), "lists what is missing");
    assert_eq!(emails(&app, domain, "domain_confirmation_reminder").await.len(), 1);
    assert_eq!(state(&app, materials).await, "awaiting_materials", "a reminder does not move the application");

    // Day 14: deferred, with the reason, and the deferral email (prepaid access stays).
    clock.advance(Duration::days(9));
    let r = scan(&app).await.unwrap();
    assert_eq!(r.timed_out, 2, "{r:?}");
    for id in [materials, domain] {
        assert_eq!(state(&app, id).await, "deferred");
        let deferred = emails(&app, id, "application_deferred").await;
        assert_eq!(deferred.len(), 1);
        assert!(deferred[0].payload["reason"].as_str().unwrap().contains("14 days"), "{:?}", deferred[0].payload);
        let events = app.store.events(id.into()).await.unwrap();
        let last = events.last().unwrap();
        assert_eq!((last.event.as_str(), last.actor.as_str()), ("timed_out", "system:reminders"));
    }
    assert_eq!(scan(&app).await.unwrap(), Default::default(), "nothing waits any more");

    // Every email these steps queued renders and is delivered, once.
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::File(FileTransport::new(dir.path()));
    let jobs = app.store.queue_outbox(creditline::services::Clock::now(clock.as_ref()), 100).await.unwrap();
    assert!(jobs.len() >= 6, "{jobs:?}");
    for job in &jobs {
        let done = deliver(&app, &mailer, *job).await.unwrap();
        assert!(matches!(done, Attempted::Sent { .. }), "{done:?}");
        assert_eq!(
            deliver(&app, &mailer, *job).await.unwrap(),
            Attempted::Skipped,
            "a second run of a job does nothing"
        );
    }
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, jobs.len());
    let text = std::fs::read_to_string(dir.path().join(format!("{}.eml", reminder[0].id))).unwrap();
    assert!(text.contains("expected_monthly_spend") || text.contains("expected monthly"), "{text}");
}

/// Issue 23, item 4. Policy: "Individual user without a product or project: ... Not
/// available" (prepaid credits only). An individual asked whether there is a product, who
/// never names one, is closed to the prepaid path when the wait times out (not deferred, which
/// a reply would reopen); any other wait for materials is still deferred.
async fn an_individual_who_never_names_a_product_gets_the_prepaid_path_on_time_out(t: TestStore) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()));
    let app = app(&t, clock.clone());
    let individual = ingest(&app, "49-individual-no-product-named.eml").await;
    let other = ingest(&app, "14-quoted-reply-ignored.eml").await;
    for id in [individual, other] {
        assert_eq!(state(&app, id).await, "awaiting_materials");
    }
    clock.advance(Duration::days(5));
    assert_eq!(scan(&app).await.unwrap().reminded, 2);
    clock.advance(Duration::days(9));
    let r = scan(&app).await.unwrap();
    assert_eq!(r.timed_out, 2, "{r:?}");

    assert_eq!(state(&app, individual).await, "closed_prepaid");
    let last = app.store.events(individual.into()).await.unwrap().pop().unwrap();
    assert_eq!((last.event.as_str(), last.actor.as_str()), ("product_timed_out", "system:reminders"));
    assert!(last.reason.as_deref().unwrap_or_default().contains("prepaid path"), "{last:?}");
    assert_eq!(emails(&app, individual, "prepaid_path").await.len(), 1);
    assert!(emails(&app, individual, "application_deferred").await.is_empty());

    assert_eq!(state(&app, other).await, "deferred", "a wait for other materials is deferred as before");
    assert!(emails(&app, other, "prepaid_path").await.is_empty());

    // The prepaid-path email renders and is delivered.
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::File(FileTransport::new(dir.path()));
    for job in app.store.queue_outbox(creditline::services::Clock::now(clock.as_ref()), 100).await.unwrap() {
        assert!(matches!(deliver(&app, &mailer, job).await.unwrap(), Attempted::Sent { .. }));
    }
    let prepaid = &emails(&app, individual, "prepaid_path").await[0];
    let text = std::fs::read_to_string(dir.path().join(format!("{}.eml", prepaid.id))).unwrap();
    assert!(text.contains("top up credits"), "{text}");
}

store_suite!(
    reminders_then_time_outs_through_the_workflow,
    an_individual_who_never_names_a_product_gets_the_prepaid_path_on_time_out
);
