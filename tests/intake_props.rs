//! Whatever arrives in the inbox, parsing and extraction never panic: arbitrary bytes,
//! mail-shaped bytes with broken structure, and arbitrary text.

mod common;

use chrono::NaiveDate;
use creditline::intake::{billing_csv, classify, extract, mail, text};
use creditline::services::inbound;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 16).expect("valid date")
}

/// Runs everything intake does with a message short of the database.
fn read_everything(raw: &[u8]) {
    if let Ok(m) = mail::parse(raw) {
        let x = extract::extract(&m.subject, &m.body, today());
        let _ = classify::intent(&m.subject, &m.body, &x);
        for a in &m.attachments {
            if let Some(csv) = &a.csv {
                let _ = billing_csv::parse(csv);
            }
        }
    }
}

/// Pieces of real mail that random recombination turns into nasty inputs.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=\"b\"\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Type: text/html; charset=iso-2022-jp\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
        Just(b"Subject: =?GBK?B?1tDOxA==?= =?utf-8?Q?=E2=80?=\r\n".to_vec()),
        Just(b"Content-Disposition: attachment; filename=\"aws.csv\"\r\n".to_vec()),
        Just(b"\r\n--b\r\n".to_vec()),
        Just(b"\r\n--b--\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"Website: https://x.vercel.app\r\nRequested credit line: $5k/month\r\n".to_vec()),
        Just(b"AWS account: 1234-5678-9012 opened 99 years old\r\n".to_vec()),
        Just(b"---------- Forwarded message ---------\r\nFrom: a@b.c\r\n".to_vec()),
        Just(b"> quoted\r\nOn Mon, someone wrote:\r\n".to_vec()),
        Just(b"=?\xff\xfe?=\r\n".to_vec()),
        Just(b"<html><li><b>Website:</b> <a href=\"\">".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        read_everything(&raw);
    }

    #[test]
    fn mail_shaped_bytes_never_panic(pieces in proptest::collection::vec(fragment(), 0..40)) {
        let raw: Vec<u8> = pieces.concat();
        read_everything(&raw);
    }

    #[test]
    fn arbitrary_text_never_panics(subject in ".{0,80}", body in "(.|\n){0,2000}") {
        let cleaned = text::clean(&body);
        let _ = text::split_inline_forward(&body);
        let x = extract::extract(&subject, &cleaned, today());
        let _ = classify::intent(&subject, &cleaned, &x);
        let _ = billing_csv::parse(&body);
        let _ = extract::amount_cents(&body, true);
    }

    #[test]
    fn parsing_keeps_the_bytes_hash(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = mail::parse(&raw) {
            prop_assert_eq!(m.sha256, mail::sha256_hex(&raw));
        }
    }
}

#[test]
fn deeply_nested_multipart_is_refused_not_overflowed() {
    let mut raw = String::from("From: a@example.com\r\nSubject: nest\r\n");
    for i in 0..200 {
        raw.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nhello\r\n");
    match mail::parse(raw.as_bytes()) {
        Err(e) => assert!(e.to_string().contains("nest") || e.to_string().contains("deep"), "{e}"),
        Ok(m) => panic!("a 200-deep message was accepted: {:?}", m.subject),
    }
}

#[test]
fn too_many_parts_are_refused() {
    let mut raw = String::from("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    for _ in 0..500 {
        raw.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    raw.push_str("--b--\r\n");
    match mail::parse(raw.as_bytes()) {
        Err(e) => assert!(e.to_string().contains("part"), "{e}"),
        Ok(_) => panic!("a message of 500 parts was accepted"),
    }
}

/// Found by `mail_shaped_bytes_never_panic`: mail-parser's internal assertion fires on an
/// empty message/rfc822 part followed by more parts. It must become an outcome, not a crash.
#[test]
fn empty_forwarded_parts_in_a_multipart_do_not_crash_the_parser() {
    let raw = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
                --b\r\nContent-Type: message/rfc822\r\n\r\n--b\r\n\r\n--b--\r\n";
    read_everything(raw);
}

/// A message of random pieces, NUL bytes among them, mostly with a sender and a subject so
/// that it gets as far as the database.
fn hostile_message() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => fragment(),
        1 => Just(b"\0".to_vec()),
        1 => Just(b"Subject: =?utf-8?q?credit=00line?=\r\n".to_vec()),
        1 => Just(b"Account email: a\0b@example.com\r\nWebsite: https://ex\0ample.com\r\n".to_vec()),
    ];
    (any::<bool>(), any::<u16>(), proptest::collection::vec(piece, 0..24)).prop_map(|(headed, n, pieces)| {
        let mut raw = Vec::new();
        if headed {
            raw.extend_from_slice(format!("From: user{n}@ex\0ample.com\r\nSubject: credit line {n}\0\r\n").as_bytes());
        }
        raw.extend(pieces.concat());
        raw
    })
}

/// Issue 15: whatever bytes arrive, NUL included, a batch never fails and every message gets
/// an outcome, on the store given.
fn arbitrary_bytes_never_stop_a_batch(postgres: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let store = rt.block_on(async { if postgres { common::postgres().await } else { Some(common::sqlite().await) } });
    let Some(store) = store else {
        eprintln!("CREDITLINE_TEST_DATABASE_URL not set: PostgreSQL run skipped");
        return;
    };
    let app = store.app();
    let mut runner = TestRunner::new(RunnerConfig { cases: 24, failure_persistence: None, ..RunnerConfig::default() });
    let batches = proptest::collection::vec(hostile_message(), 1..8);
    let result = runner.run(&batches, |batch| {
        let named: Vec<(String, Vec<u8>)> = batch.into_iter().enumerate().map(|(i, r)| (format!("p{i}"), r)).collect();
        let reports =
            rt.block_on(inbound::ingest_many(&app, &named)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reports.len(), named.len());
        for r in &reports {
            prop_assert!(!r.outcome.is_empty(), "no outcome: {:?}", r);
        }
        let single = rt
            .block_on(inbound::ingest(&app, "single", &named[0].1))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(single.outcome, "duplicate");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn arbitrary_bytes_never_stop_a_batch_on_sqlite() {
    arbitrary_bytes_never_stop_a_batch(false);
}

#[test]
fn arbitrary_bytes_never_stop_a_batch_on_postgres() {
    arbitrary_bytes_never_stop_a_batch(true);
}
