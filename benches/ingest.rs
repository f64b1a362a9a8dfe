//! End-to-end intake speed on the embedded SQLite store: parse, clean, extract, run the
//! rules, plan the workflow steps and commit, one message at a time as `creditline ingest`
//! does (batched) and as the API and IMAP poller do (one by one). The mix is typical inbox traffic: complete and incomplete applications (plain,
//! HTML-only, base64), invoice requests and auto-replies, each with its own Message-ID and
//! account so every one is real work. Run: `cargo bench --bench ingest`.

use creditline::store::OperationsStore as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use creditline::app::App;
use creditline::config::Config;
use creditline::services::SystemClock;
use creditline::store::sqlite::SqliteStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Message `i` of the mix.
fn message(i: usize) -> Vec<u8> {
    let head = |from: &str, subject: &str, ctype: &str| {
        format!(
            "Message-ID: <bench-{i}@{from}>\r\nFrom: {from}\r\nTo: support@wavespeed.ai\r\nSubject: {subject}\r\n\
             Date: Mon, 16 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}\r\n"
        )
    };
    match i % 6 {
        0 | 1 => format!(
            "{}\r\nHello,\r\n\r\nAccount email: ops{i}@company{i}.com\r\nApplicant type: Enterprise\r\n\
             Legal company name: Company {i} Ltd\r\nRegistration country: United Kingdom\r\n\
             Website: https://www.company{i}.com\r\nProduct: Studio {i}, catalogue images\r\n\
             Use case: product photos\r\nAWS account: 4821-9937-1204, opened March 2021, in good standing, \
             about $3,400/month spend\r\nExpected monthly usage: around $180\r\nRequested credit line: $200/month\r\n\
             Business contact: Slack\r\n\r\nBest regards,\r\nMaya\r\n",
            head(&format!("maya@company{i}.com"), "Credit line application", "text/plain; charset=utf-8")
        )
        .into_bytes(),
        2 => {
            let body = format!(
                "I'm an independent developer.\n- Account email: dev{i}@gmail.com\n- Applying as an individual\n\
                 - Product: App {i}, an iOS app for doodles\n- Website: https://app{i}.app\n\
                 - Expected usage about $120/month, requesting $200/month\n"
            );
            let mut raw = head(&format!("dev{i}@gmail.com"), "credit line", "text/plain; charset=utf-8")
                .replace("\r\n\r\n", "\r\n");
            raw.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            raw.push_str(&base64::engine::general_purpose::STANDARD.encode(body));
            raw.push_str("\r\n");
            raw.into_bytes()
        }
        3 => format!(
            "{}\r\n<html><body><p>Hi, we'd like a credit line.</p><ul><li><b>Account email:</b> a{i}@firm{i}.de</li>\
             <li><b>Applicant type:</b> Enterprise</li><li><b>Legal company name:</b> Firm {i} GmbH</li>\
             <li><b>Website:</b> https://firm{i}.de</li></ul></body></html>\r\n",
            head(&format!("a{i}@firm{i}.de"), "Kreditlinie", "text/html; charset=utf-8")
        )
        .into_bytes(),
        4 => format!(
            "{}\r\nPlease send an invoice for account acc{i}@shop{i}.com for October 2026 \
             (transaction pi_3Q8xYz2eZvKYlo{i:06}).\r\nCompany: Shop {i} GmbH\r\n",
            head(&format!("acc{i}@shop{i}.com"), "Invoice request", "text/plain")
        )
        .into_bytes(),
        _ => format!(
            "Auto-Submitted: auto-replied\r\n{}\r\nI am out of the office until Monday.\r\n",
            head(&format!("ooo{i}@corp{i}.com"), "Out of office: Re: your application", "text/plain")
        )
        .into_bytes(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = SqliteStore::connect(&url).await.expect("open sqlite");
        store.migrate().await.expect("migrate");
        let config = Config {
            rules_dir: repo().join("rules"),
            workflows_dir: repo().join("workflows"),
            templates_dir: repo().join("templates"),
            ..Default::default()
        };
        App::assemble(config, Arc::new(store), Arc::new(SystemClock)).expect("app")
    });
    let next = AtomicUsize::new(0);
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));
    // As `creditline ingest` does it: chunks of 256, committed in batches.
    group.bench_function("typical_message_sqlite_batched", |b| {
        b.iter_custom(|iters| {
            let messages: Vec<(String, Vec<u8>)> =
                (0..iters).map(|_| ("bench".to_string(), message(next.fetch_add(1, Ordering::Relaxed)))).collect();
            let start = Instant::now();
            rt.block_on(async {
                for chunk in messages.chunks(256) {
                    let batch = creditline::services::inbound::ingest_many(&app, chunk);
                    let reports = creditline::services::inbound::rules_inline(batch).await.expect("ingest");
                    assert!(reports.iter().all(|r| r.outcome != "duplicate"));
                }
            });
            start.elapsed()
        })
    });
    // As the inbox endpoint and the IMAP poller do it: one message, one commit.
    group.bench_function("typical_message_sqlite_one_by_one", |b| {
        b.iter_custom(|iters| {
            let messages: Vec<Vec<u8>> = (0..iters).map(|_| message(next.fetch_add(1, Ordering::Relaxed))).collect();
            let start = Instant::now();
            rt.block_on(async {
                for raw in &messages {
                    let report = creditline::services::inbound::ingest(&app, "bench", raw).await.expect("ingest");
                    assert_ne!(report.outcome, "duplicate");
                }
            });
            start.elapsed()
        })
    });
    // The pure part alone (no database): what the store costs is the difference.
    let sample: Vec<Vec<u8>> = (0..600).map(message).collect();
    let mut k = 0;
    group.bench_function("parse_extract_classify", |b| {
        b.iter(|| {
            k = (k + 1) % sample.len();
            let m = creditline::intake::mail::parse(&sample[k]).expect("parses");
            let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 16).expect("date");
            let x = creditline::intake::extract::extract(&m.subject, &m.body, today);
            creditline::intake::classify::intent(&m.subject, &m.body, &x)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
