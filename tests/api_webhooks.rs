//! `POST /api/v1/webhooks/stripe` over real HTTP, on SQLite and PostgreSQL: a signed payment
//! is credited once however often (and however concurrently) it is delivered; a bad, stale or
//! missing signature is 401, an unreadable event 400, an unknown provider 404.

mod common;

use common::{Api, Response, run, stdout};
use creditline::payments::stripe::Stripe;
use serde_json::{Value, json};

const SECRET: &str = "whsec_creditline_test";

fn with_secret(dir: &tempfile::TempDir) {
    let path = dir.path().join("creditline.toml");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!("\n[payments]\nstripe_webhook_secret = {SECRET:?}\n"));
    std::fs::write(path, text).unwrap();
}

fn event(id: &str, intent: &str, cents: i64, account: &str, purpose: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "type": "payment_intent.succeeded",
        "data": { "object": { "id": intent, "amount": cents, "currency": "usd",
                              "metadata": { "account_email": account, "purpose": purpose } } }
    }))
    .unwrap()
}

fn deliver(api: &Api, body: &[u8], signature: &str) -> Response {
    deliver_to(&api.server.addr, body, signature)
}

fn deliver_to(addr: &str, body: &[u8], signature: &str) -> Response {
    let headers = [("Content-Type", "application/json"), ("Stripe-Signature", signature)];
    common::http(addr, "POST", "/api/v1/webhooks/stripe", &headers, body)
}

fn assert_problem(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], code, "{}", String::from_utf8_lossy(&r.body));
}

fn signed(body: &[u8]) -> String {
    Stripe::sign(SECRET, chrono::Utc::now().timestamp(), body)
}

fn prepaid(dir: &std::path::Path, account: &str) -> i64 {
    let o = run(dir, &["ledger", "balance", account, "--json"]);
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    v["prepaid_cents"].as_i64().unwrap()
}

fn a_signed_payment_is_credited_once_however_often_it_arrives(dir: tempfile::TempDir) {
    with_secret(&dir);
    let path = dir.path().to_path_buf();
    let api = Api::start(dir);
    let body = event("evt_1", "pi_1", 5000, "Ana@Acme.io", "top_up");
    let r = deliver(&api, &body, &signed(&body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({ "event_id": "evt_1", "duplicate": false, "outcome": "top_up" }));
    let again = deliver(&api, &body, &signed(&body));
    assert_eq!(again.json()["duplicate"], true);
    // The same payment inside another event (a provider resend) still counts once.
    let other = event("evt_2", "pi_1", 5000, "ana@acme.io", "top_up");
    assert_eq!(deliver(&api, &other, &signed(&other)).json()["outcome"], "already_recorded");
    // A new payment delivered eight times at once: credited once.
    let burst = event("evt_3", "pi_3", 1234, "ana@acme.io", "top_up");
    let sig = signed(&burst);
    let answers: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8).map(|_| s.spawn(|| deliver(&api, &burst, &sig).status)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    assert_eq!(prepaid(&path, "ana@acme.io"), 6234);
    // A bill payment with nothing owed becomes prepaid credit.
    let bill = event("evt_4", "pi_4", 100, "ana@acme.io", "bill_payment");
    assert_eq!(deliver(&api, &bill, &signed(&bill)).json()["outcome"], "bill_payment");
    assert_eq!(prepaid(&path, "ana@acme.io"), 6334);
    let o = run(&path, &["ledger", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

fn bad_signatures_and_payloads_are_refused_and_change_nothing(dir: tempfile::TempDir) {
    with_secret(&dir);
    let path = dir.path().to_path_buf();
    let api = Api::start(dir);
    let body = event("evt_9", "pi_9", 5000, "bob@acme.io", "top_up");
    let problem = |r: &Response, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json()["code"], code);
    };
    problem(
        &deliver(&api, &body, &Stripe::sign("whsec_wrong", chrono::Utc::now().timestamp(), &body)),
        401,
        "bad_signature",
    );
    problem(
        &deliver(&api, &body, &Stripe::sign(SECRET, chrono::Utc::now().timestamp() - 3600, &body)),
        401,
        "bad_signature",
    );
    let headers = [("Content-Type", "application/json")];
    problem(&common::http(&api.server.addr, "POST", "/api/v1/webhooks/stripe", &headers, &body), 401, "bad_signature");
    let junk = b"{not json";
    problem(&deliver(&api, junk, &signed(junk)), 400, "bad_payload");
    let no_account =
        br#"{"id":"e","type":"payment_intent.succeeded","data":{"object":{"id":"pi","amount":5,"currency":"usd"}}}"#;
    let r = deliver(&api, no_account, &signed(no_account));
    problem(&r, 400, "bad_payload");
    assert!(r.json()["detail"].as_str().unwrap().contains("account_email"));
    let r = common::http(&api.server.addr, "POST", "/api/v1/webhooks/paypal", &headers, &body);
    problem(&r, 404, "unknown_provider");
    assert_eq!(prepaid(&path, "bob@acme.io"), 0, "nothing was credited");
}

/// Providers retry a 5xx for days: an event that can never be recorded must be a 400.
fn out_of_range_amounts_and_control_characters_are_400_and_change_nothing(dir: tempfile::TempDir) {
    with_secret(&dir);
    let server = common::serve(dir.path());
    let send = |body: &[u8]| deliver_to(&server.addr, body, &signed(body));
    for purpose in ["top_up", "bill_payment", "deposit"] {
        for cents in [i64::MAX, 100_000_001, 0, -1, i64::MIN] {
            let body = event(
                &format!("evt_{purpose}_{cents}"),
                &format!("pi_{purpose}_{cents}"),
                cents,
                "eve@acme.io",
                purpose,
            );
            let r = send(&body);
            assert_problem(&r, 400, "amount_out_of_range");
            assert!(r.json()["detail"].as_str().unwrap().contains("$1,000,000.00") || cents <= 0, "{}", r.json());
        }
    }
    for amount in ["9223372036854775808", "-9223372036854775809", "1e30", "12.5"] {
        let body = format!(
            r#"{{"id":"evt_n","type":"payment_intent.succeeded","data":{{"object":{{"id":"pi_n","amount":{amount},"currency":"usd","metadata":{{"account_email":"eve@acme.io"}}}}}}}}"#
        );
        assert_problem(&send(body.as_bytes()), 400, "amount_out_of_range");
    }
    // NUL (and other control characters) cannot be stored as PostgreSQL text.
    let nul = |id: &str, kind: &str, intent: &str| {
        serde_json::to_vec(&json!({
            "id": id, "type": kind,
            "data": { "object": { "id": intent, "amount": 500, "currency": "usd",
                                  "metadata": { "account_email": "eve@acme.io" } } }
        }))
        .unwrap()
    };
    for (body, field) in [
        (nul("evt_\u{0}1", "payment_intent.succeeded", "pi_a"), "event id"),
        (nul("evt_a", "payment_intent.succeeded", "pi_\u{0}"), "transaction id"),
        (nul("evt_b", "charge.\u{0}refunded", "ch_b"), "event type"),
        (nul("evt_\u{0}2", "charge.refunded", "ch_c"), "event id"),
        (nul("evt_c", "payment_intent.succeeded", "pi_\r\n"), "transaction id"),
        (nul("", "payment_intent.succeeded", "pi_d"), "event id"),
        (nul(&"e".repeat(201), "payment_intent.succeeded", "pi_e"), "event id"),
    ] {
        let r = send(&body);
        assert_problem(&r, 400, "bad_payload");
        assert!(r.json()["detail"].as_str().unwrap().starts_with(field), "{}", r.json());
    }
    // The maximum itself is an amount like any other.
    let max = event("evt_max", "pi_max", 100_000_000, "eve@acme.io", "top_up");
    assert_eq!(send(&max).json()["outcome"], "top_up");
    assert_eq!(prepaid(dir.path(), "eve@acme.io"), 100_000_000);
    let o = run(dir.path(), &["ledger", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// `(now - t).abs()` wrapped for t = now - 2^63, so a signature that old passed the check.
fn a_signature_from_2_63_seconds_ago_is_refused(dir: tempfile::TempDir) {
    with_secret(&dir);
    let server = common::serve(dir.path());
    let body = event("evt_old", "pi_old", 5000, "old@acme.io", "top_up");
    for t in [chrono::Utc::now().timestamp() + i64::MIN, i64::MIN, i64::MAX] {
        let r = deliver_to(&server.addr, &body, &Stripe::sign(SECRET, t, &body));
        assert_problem(&r, 401, "bad_signature");
        assert!(r.json()["detail"].as_str().unwrap().contains("tolerance"), "{}", r.json());
    }
    assert_eq!(prepaid(dir.path(), "old@acme.io"), 0, "nothing was credited");
}

fn intent_event(id: &str, kind: &str, intent: &str, cents: i64, account: &str, purpose: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "type": kind,
        "data": { "object": { "id": intent, "amount": cents, "amount_received": 0, "currency": "usd",
                              "last_payment_error": { "code": "card_declined", "message": "Your card was declined." },
                              "metadata": { "account_email": account, "purpose": purpose } } }
    }))
    .unwrap()
}

fn dispute_event(id: &str, dispute: &str, intent: Option<&str>, cents: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "type": "charge.dispute.created",
        "data": { "object": { "id": dispute, "object": "dispute", "amount": cents, "currency": "usd",
                              "charge": "ch_1", "payment_intent": intent, "reason": "fraudulent", "metadata": {} } }
    }))
    .unwrap()
}

fn balance(dir: &std::path::Path, account: &str) -> Value {
    let o = run(dir, &["ledger", "balance", account, "--json"]);
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// Policy: "WaveSpeedAI may pause, reduce, or decline the next month's credit line if the
/// previous bill is unpaid or payment cannot be confirmed." `payment_intent.processing` records
/// a pending payment that credits nothing; `succeeded` confirms it (credited once, by the
/// ordinary path); `payment_failed` and `canceled` drop it, in whatever order they arrive.
fn a_processing_payment_is_pending_until_the_provider_settles_it(dir: tempfile::TempDir) {
    with_secret(&dir);
    let path = dir.path().to_path_buf();
    let server = common::serve(dir.path());
    let send = |body: &[u8]| deliver_to(&server.addr, body, &signed(body));
    let a = "ana@acme.io";
    let processing = intent_event("evt_p1", "payment_intent.processing", "pi_p1", 15_000, a, "bill_payment");
    let r = send(&processing);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({ "event_id": "evt_p1", "duplicate": false, "outcome": "payment_pending" }));
    assert_eq!(send(&processing).json()["duplicate"], true);
    let b = balance(&path, a);
    assert_eq!((b["prepaid_cents"].as_i64(), b["pending_bill_payments_cents"].as_i64()), (Some(0), Some(15_000)));
    // It succeeds: credited once (no bill is owed, so as prepaid credit), no longer pending.
    let succeeded = event("evt_p2", "pi_p1", 15_000, a, "bill_payment");
    assert_eq!(send(&succeeded).json()["outcome"], "bill_payment");
    let b = balance(&path, a);
    assert_eq!((b["prepaid_cents"].as_i64(), b["pending_bill_payments_cents"].as_i64()), (Some(15_000), Some(0)));
    // Another one fails: dropped, counted as a failed payment, nothing credited.
    let second = intent_event("evt_p3", "payment_intent.processing", "pi_p2", 9_000, a, "bill_payment");
    assert_eq!(send(&second).json()["outcome"], "payment_pending");
    let failed = intent_event("evt_p4", "payment_intent.payment_failed", "pi_p2", 9_000, a, "bill_payment");
    assert_eq!(send(&failed).json()["outcome"], "payment_failed");
    // A third is canceled before its `processing` arrives: the late event leaves nothing pending.
    let canceled = intent_event("evt_p5", "payment_intent.canceled", "pi_p3", 7_000, a, "bill_payment");
    assert_eq!(send(&canceled).json()["outcome"], "payment_canceled");
    let late = intent_event("evt_p6", "payment_intent.processing", "pi_p3", 7_000, a, "bill_payment");
    assert_eq!(send(&late).json()["outcome"], "already_recorded");
    let b = balance(&path, a);
    assert_eq!(
        (b["prepaid_cents"].as_i64(), b["pending_bill_payments_cents"].as_i64(), b["failed_payments_6m"].as_i64()),
        (Some(15_000), Some(0), Some(1)),
        "{b}"
    );
    let o = run(&path, &["ledger", "payments", a]);
    let states: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["payment"]["state"].as_str().map(str::to_string))
        .collect();
    assert_eq!(states, ["confirmed", "dropped", "dropped"]);
    // A `processing` amount the ledger could never take is refused like a payment's.
    let huge = intent_event("evt_p7", "payment_intent.processing", "pi_p4", 100_000_001, a, "bill_payment");
    assert_problem(&send(&huge), 400, "amount_out_of_range");
    let o = run(&path, &["ledger", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// Policy: "WaveSpeedAI may use recent monthly transaction volume, payment history, and account
/// usage as review factors". A dispute (`charge.dispute.created`) is a chargeback against the
/// account the disputed payment was credited to, once per dispute however it is delivered; it
/// moves no money, so the ledger still verifies.
fn a_dispute_is_a_chargeback_recorded_once(dir: tempfile::TempDir) {
    with_secret(&dir);
    let path = dir.path().to_path_buf();
    let server = common::serve(dir.path());
    let send = |body: &[u8]| deliver_to(&server.addr, body, &signed(body));
    let paid = event("evt_d1", "pi_d1", 5_000, "bob@acme.io", "top_up");
    assert_eq!(send(&paid).json()["outcome"], "top_up");
    let dispute = dispute_event("evt_d2", "dp_1", Some("pi_d1"), 5_000);
    let r = send(&dispute);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["outcome"], "chargeback");
    assert_eq!(send(&dispute).json()["duplicate"], true);
    let resent = dispute_event("evt_d3", "dp_1", Some("pi_d1"), 5_000);
    assert_eq!(send(&resent).json()["outcome"], "already_recorded");
    let b = balance(&path, "bob@acme.io");
    assert_eq!((b["chargebacks"].as_i64(), b["prepaid_cents"].as_i64()), (Some(1), Some(5_000)), "{b}");
    // A dispute of a payment never recorded, naming no account, cannot be attributed.
    let unknown = dispute_event("evt_d4", "dp_2", Some("pi_nobody"), 5_000);
    let r = send(&unknown);
    assert_problem(&r, 422, "payment_refused");
    assert!(r.json()["detail"].as_str().unwrap().contains("pi_nobody"), "{}", r.json());
    let eur = serde_json::to_vec(&json!({ "id": "evt_d5", "type": "charge.dispute.created",
        "data": { "object": { "id": "dp_3", "amount": 5, "currency": "eur", "payment_intent": "pi_d1" } } }))
    .unwrap();
    assert_problem(&send(&eur), 400, "bad_payload");
    let o = run(&path, &["ledger", "payments", "bob@acme.io"]);
    assert!(stdout(&o).contains("\"record\":\"chargeback\""), "{}", stdout(&o));
    let o = run(&path, &["ledger", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

black_box_suite!(
    a_processing_payment_is_pending_until_the_provider_settles_it,
    a_dispute_is_a_chargeback_recorded_once,
    a_signed_payment_is_credited_once_however_often_it_arrives,
    bad_signatures_and_payloads_are_refused_and_change_nothing,
    out_of_range_amounts_and_control_characters_are_400_and_change_nothing,
    a_signature_from_2_63_seconds_ago_is_refused,
);
