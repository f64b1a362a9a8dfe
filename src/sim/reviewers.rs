//! The simulated reviewers: three people (a reviewer and two senior reviewers) who work the
//! task queue through the HTTP API with their own tokens, each task after a delay drawn from
//! the seed. What they decide follows what the evidence would show a careful reviewer: the
//! simulation knows each applicant's truth ([`Applicant`]) and stands in for reading it.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::client::{Answer, Client};
use super::population::{Applicant, Kind, Quirk};
use crate::workflow::names::{application, task_state};

/// Every task kind the reviewers know how to finish; a task of another kind is a finding.
pub const FINISHABLE: &[&str] = &[
    "application_review",
    "limit_increase_review",
    "deposit_confirmation",
    "aws_login_review",
    "triage",
    "invoice_request",
    "email_failure",
];

/// Longest a reviewer leaves a task before acting on it, in days.
pub const MAX_DELAY_DAYS: i64 = 2;

pub struct Tokens {
    pub reviewer: String,
    pub senior: String,
    pub second_senior: String,
    pub admin: String,
    pub inbox: String,
}

/// One action the reviewers took, for the report and the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub kind: String,
    pub action: &'static str,
    pub status: u16,
    pub code: String,
}

/// What the reviewer does with an application in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve(i64),
    Decline(&'static str, &'static str),
    Defer,
    RequestInfo,
}

/// The careful reviewer's verdict on an applicant (pure). `asked` is true once more
/// information was asked for this application.
pub fn verdict(a: Option<&Applicant>, asked: bool, draw: u64) -> Verdict {
    let Some(a) = a else { return Verdict::Decline("other", "We could not match this application to an account.") };
    match (a.kind, a.quirk) {
        (_, Quirk::FreshAws) => {
            Verdict::Decline("aws_history_insufficient", "Your AWS account is too new to show a billing history.")
        }
        (_, Quirk::ToolDirectory) | (_, Quirk::PlatformSite) => Verdict::Decline(
            "website_not_owned",
            "The website you named is not a site your business owns (a directory profile or a hosted preview).",
        ),
        (Kind::Enterprise, Quirk::FreeMail) => {
            Verdict::Decline("business_not_verified", "We could not verify the business from a free-mail address.")
        }
        (Kind::IndividualWithoutProduct, _) => {
            Verdict::Decline("no_product", "A credit line needs a product; prepaid credits stay available.")
        }
        _ if !asked && draw.is_multiple_of(10) => Verdict::RequestInfo,
        _ if draw % 25 == 1 => Verdict::Defer,
        _ => Verdict::Approve(20_000),
    }
}

/// How many days a reviewer lets a task wait (0 to [`MAX_DELAY_DAYS`]), from the seed, the
/// task's kind and its account (stable across runs, unlike its id).
pub fn delay_days(seed: u64, kind: &str, account: &str) -> i64 {
    let h = fnv(seed, &[kind, account]);
    i64::try_from(h % (MAX_DELAY_DAYS as u64 + 1)).unwrap_or(0)
}

/// FNV-1a over the seed and parts: a stable hash (std's is randomised per process).
pub fn fnv(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The open tasks, in an order that does not depend on ids or timing.
pub async fn open_tasks(client: &Client, tokens: &Tokens) -> anyhow::Result<Vec<Value>> {
    let mut items = client.all("/api/v1/tasks?state=open", &tokens.senior).await?;
    // The queue lists oldest first; a stable sort by kind and account keeps that order
    // within each (ids and titles are not stable across runs, accounts are).
    items.sort_by_key(|v| (v["kind"].as_str().unwrap_or("").to_string(), account_of(v)));
    Ok(items)
}

/// The account a task is about (the address its emails go to, the account or the sender),
/// or else its title. Never the title first: a title may name an id, and ids differ from run
/// to run, so a delay drawn from it would too.
pub fn account_of(item: &Value) -> String {
    let d = &item["details"];
    ["to", "account_email", "from"]
        .iter()
        .find_map(|k| d[*k].as_str())
        .or_else(|| item["title"].as_str())
        .unwrap_or("")
        .to_string()
}

/// The request one task gets today, if it is due: `(path, token, body, action name)`.
pub struct Planned {
    pub path: String,
    pub token: String,
    pub body: Value,
    pub action: &'static str,
    pub kind: String,
    /// The Idempotency-Key: the same for the same decision on the same task version.
    pub key: String,
    /// After a first approval at four-eyes, the second senior reviewer's request.
    pub then: Option<Box<Planned>>,
}

/// Plans what the reviewers do with one task today (`None`: not due yet, or nothing to do).
pub async fn plan(
    client: &Client,
    tokens: &Tokens,
    seed: u64,
    now: DateTime<Utc>,
    item: &Value,
    truth: &(dyn Fn(&str) -> Option<Applicant> + Sync),
) -> anyhow::Result<Option<Planned>> {
    // A queue item is the task's fields with its age beside them.
    let (Some(id), Some(kind)) = (item["id"].as_str(), item["kind"].as_str()) else {
        return Ok(None);
    };
    let version = item["version"].as_i64().unwrap_or(0);
    let age_days = item["age_seconds"].as_i64().unwrap_or(0) / 86_400;
    if age_days < delay_days(seed, kind, &account_of(item)) {
        return Ok(None);
    }
    let key = format!("sim-{id}-{version}");
    let base = |path: String, token: &str, body: Value, action: &'static str| Planned {
        path,
        token: token.to_string(),
        body,
        action,
        kind: kind.to_string(),
        key: key.clone(),
        then: None,
    };
    let resolve = |body: Value, action: &'static str, token: &str| {
        base(format!("/api/v1/tasks/{id}/resolve"), token, body, action)
    };
    let planned = match kind {
        "application_review" => {
            let view = client.get(&format!("/api/v1/tasks/{id}"), &tokens.senior).await?;
            let app = &view.body["application"];
            let account = app["account_email"].as_str().unwrap_or("").to_string();
            let state = app["state"].as_str().unwrap_or("");
            let asked =
                view.body["events"].as_array().is_some_and(|es| es.iter().any(|e| e["event"] == "request_info"));
            if state == application::AWAITING_SECOND_APPROVAL {
                let limit = app["approved_limit_cents"]
                    .as_i64()
                    .or_else(|| app["requested_limit_cents"].as_i64())
                    .unwrap_or(20_000);
                let body = json!({ "monthly_limit_cents": limit, "version": version });
                return Ok(Some(base(
                    format!("/api/v1/tasks/{id}/approve"),
                    &tokens.second_senior,
                    body,
                    "approve_second",
                )));
            }
            match verdict(truth(&account).as_ref(), asked, fnv(seed, &[&account, "verdict"])) {
                Verdict::Approve(most) => match view.body["suggested_limit_cents"].as_i64() {
                    // Within the rule's suggestion any reviewer approves.
                    Some(suggested) => {
                        let body = json!({ "monthly_limit_cents": most.min(suggested), "note": "simulated review", "version": version });
                        base(format!("/api/v1/tasks/{id}/approve"), &tokens.reviewer, body, "approve")
                    }
                    // The rule left the limit to a person: a senior sets it, with the reason.
                    None => {
                        let body = json!({ "monthly_limit_cents": most, "override_reason": "limit set by hand after review",
                                           "version": version });
                        base(format!("/api/v1/tasks/{id}/approve"), &tokens.senior, body, "approve_override")
                    }
                },
                Verdict::Decline(code, message) => {
                    let body = json!({ "reason_code": code, "message": message, "version": version });
                    base(format!("/api/v1/tasks/{id}/decline"), &tokens.reviewer, body, "decline")
                }
                Verdict::Defer => {
                    let until = (now + chrono::Duration::days(30)).date_naive();
                    let body =
                        json!({ "until": until, "reason": "We will look again next month.", "version": version });
                    base(format!("/api/v1/tasks/{id}/defer"), &tokens.reviewer, body, "defer")
                }
                Verdict::RequestInfo => {
                    let body = json!({ "items": ["Your last three AWS billing statements"], "version": version });
                    base(format!("/api/v1/tasks/{id}/request-info"), &tokens.reviewer, body, "request_info")
                }
            }
        }
        "limit_increase_review" => {
            let mut first = resolve(json!({ "action": "approve", "version": version }), "approve", &tokens.senior);
            // At four-eyes the first approval leaves the task open for a second senior.
            first.then =
                Some(Box::new(resolve(json!({ "action": "approve" }), "approve_second", &tokens.second_senior)));
            first
        }
        "deposit_confirmation" => {
            let mut first = resolve(json!({ "action": "confirm", "version": version }), "confirm", &tokens.senior);
            first.then =
                Some(Box::new(resolve(json!({ "action": "approve" }), "approve_second", &tokens.second_senior)));
            first
        }
        "aws_login_review" => resolve(json!({ "action": "approve", "version": version }), "approve", &tokens.senior),
        "triage" => resolve(
            json!({ "action": "close", "note": "read by the simulated support team", "version": version }),
            "close",
            &tokens.reviewer,
        ),
        "invoice_request" => resolve(
            json!({ "action": "mark_sent", "note": "issued by the simulated support team", "version": version }),
            "mark_sent",
            &tokens.reviewer,
        ),
        "email_failure" => resolve(json!({ "action": "retry", "version": version }), "retry", &tokens.reviewer),
        _ => return Ok(None),
    };
    Ok(Some(planned))
}

/// Sends a planned request; a second approval follows when the first left the task waiting.
pub async fn send(client: &Client, p: &Planned) -> anyhow::Result<Vec<(Taken, Answer)>> {
    let a = client.post(&p.path, &p.token, &p.key, &p.body).await?;
    let mut out = vec![(
        Taken { kind: p.kind.clone(), action: p.action, status: a.status, code: a.code().to_string() },
        a.clone(),
    )];
    if p.action == "mark_sent" && a.code() == "action_refused" {
        // Nothing to invoice: the request is closed with the reason, as support would.
        let path = p.path.clone();
        let note = format!("no invoice: {}", a.body["detail"].as_str().unwrap_or("nothing to bill"));
        let b = client
            .post(&path, &p.token, &format!("{}-close", p.key), &json!({ "action": "close", "note": note }))
            .await?;
        out.push((Taken { kind: p.kind.clone(), action: "close", status: b.status, code: b.code().to_string() }, b));
        return Ok(out);
    }
    let waiting = a.body["task"]["state"] == task_state::AWAITING_SECOND_APPROVAL;
    if let (true, Some(then)) = (waiting, &p.then) {
        let mut body = then.body.clone();
        if let Some(v) = a.body["task"]["version"].as_i64() {
            body["version"] = json!(v);
        }
        let key = format!("{}-second", p.key);
        let b = client.post(&then.path, &then.token, &key, &body).await?;
        out.push((
            Taken { kind: p.kind.clone(), action: then.action, status: b.status, code: b.code().to_string() },
            b,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_stable_and_within_the_policy() {
        for t in ["a", "b", "c", "Review CL-1"] {
            let d = delay_days(3, "application_review", t);
            assert!((0..=MAX_DELAY_DAYS).contains(&d));
            assert_eq!(d, delay_days(3, "application_review", t));
        }
        assert_ne!(fnv(1, &["x"]), fnv(2, &["x"]));
        assert_ne!(fnv(1, &["ab", "c"]), fnv(1, &["a", "bc"]), "parts are kept apart");
    }

    #[test]
    fn a_task_is_known_by_its_account_never_by_an_id_in_its_title() {
        let triage = json!({ "title": "Application from a@x.com: a@x.com already has credit line 01a2 (active)",
                             "details": { "account_email": "a@x.com", "from": "b@x.com" } });
        assert_eq!(account_of(&triage), "a@x.com");
        let email = json!({ "title": "t", "details": { "to": "c@x.com", "account_email": "a@x.com" } });
        assert_eq!(account_of(&email), "c@x.com");
        assert_eq!(account_of(&json!({ "title": "only a title" })), "only a title");
    }
}
