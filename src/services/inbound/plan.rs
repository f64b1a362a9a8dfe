//! `Plan`: everything one message will write, built up while its flow decides, and the
//! triage task that is the outcome when nothing else fits.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::report::{Report, outcome};
use crate::app::App;
use crate::domain::{ApplicationId, DecisionId, Domain, SubjectId, TaskId};
use crate::intake::extract::{Extracted, Found, field};
use crate::intake::mail::Mail;
use crate::intake::text::excerpt;
use crate::intake::{authres, billing_csv};
use crate::rules::{Decision, DecisionRecord};
use crate::services::{Cursor, Fire, ServiceError};
use crate::store::{AttachmentWrite, EvidenceWrite, FieldWrite, IntakeWrite, StoreError, TaskWrite};

#[derive(Debug, thiserror::Error)]
pub(super) enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workflow(#[from] ServiceError),
}

tokio::task_local! {
    static RULES_INLINE: ();
}

/// Runs `work` with intake's rules evaluated on its own task instead of the blocking pool:
/// for a process that answers no one else while it works (`creditline ingest`), where the
/// hand-off to a blocking thread for each rule costs more than the rule (four a message; the
/// batched ingest bench measured a quarter to two fifths more messages a second without them).
pub async fn rules_inline<F: std::future::Future>(work: F) -> F::Output {
    RULES_INLINE.scope((), work).await
}

/// Everything one message will write, built up while deciding.
pub(super) struct Plan<'a> {
    pub(super) app: &'a App,
    pub(super) mail: &'a Mail,
    pub(super) write: IntakeWrite,
    pub(super) report: Report,
    /// Where this message's answers go when that is not the account's address: the sender,
    /// who may only have named the account.
    pub(super) reply_to: Option<String>,
}

impl<'a> Plan<'a> {
    pub(super) fn new(app: &'a App, mail: &'a Mail, report: Report, now: DateTime<Utc>) -> Plan<'a> {
        let attachments = mail
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| AttachmentWrite {
                position: i as i64,
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size as i64,
                sha256: a.sha256.clone(),
            })
            .collect();
        let write =
            IntakeWrite { message_sha256: mail.sha256.clone(), processed_at: now, attachments, ..Default::default() };
        Plan { app, mail, write, report, reply_to: None }
    }

    pub(super) fn finish(mut self, outcome: &str) -> (IntakeWrite, Report) {
        self.report.outcome = outcome.to_string();
        self.report.findings.sort();
        self.report.findings.dedup();
        self.write.outcome = outcome.to_string();
        self.write.application_id = self.report.application_id.as_deref().and_then(|s| s.parse().ok());
        self.write.report = json!(self.report);
        (self.write, self.report)
    }

    /// Evaluates a rule on the blocking pool: a slow script must not stall the async workers
    /// that serve HTTP and other messages. Within [`rules_inline`], on this task.
    pub(super) async fn evaluate<I: Serialize + Sync>(
        &mut self,
        rule: &str,
        input: &I,
        subject: Option<SubjectId>,
    ) -> Decision {
        let (decision, record): (Decision, DecisionRecord) = if RULES_INLINE.try_with(|_| ()).is_ok() {
            self.app.rules.evaluate(rule, input, subject)
        } else {
            self.app.rules.evaluate_async(rule, input, subject).await
        };
        self.write.workflow.decisions.push(record);
        decision
    }

    pub(super) fn fire(&mut self, cursor: &mut Cursor, fire: Fire) -> Result<(), ServiceError> {
        let (mut write, _) = self.app.workflow.plan(cursor, &fire)?;
        self.address(write.effect_payloads_mut());
        self.write.workflow.steps.push(write);
        self.report.state = Some(cursor.state.clone());
        Ok(())
    }

    /// Sends this message's answers to `reply_to`, when set, greeting the sender by name.
    pub(super) fn address<'v>(&self, payloads: impl Iterator<Item = &'v mut serde_json::Value>) {
        for payload in payloads {
            if let Some(to) = &self.reply_to {
                payload["to"] = json!(to);
            }
            if let Some(name) = &self.mail.from_name
                && payload.get("name").is_none_or(|n| n.is_null())
            {
                payload["name"] = json!(name);
            }
        }
    }

    /// Whether our receiving server vouches for this message's sender at `domain`, recorded
    /// as evidence the reviewer sees (and as a finding when it does not).
    pub(super) fn authenticate(&mut self, subject: ApplicationId, domain: &Domain) -> SenderCheck {
        let check = sender_check(self.app, self.mail, domain);
        let (verdict, detail) = match &check {
            SenderCheck::Authenticated(d) => ("authenticated", d.clone()),
            SenderCheck::Failed(d) => ("failed", d.clone()),
            SenderCheck::NotConfigured => (
                "not_checked",
                "intake.authserv_id is not configured: no Authentication-Results header is trusted".to_string(),
            ),
        };
        match check {
            SenderCheck::Authenticated(_) => {}
            SenderCheck::Failed(_) => self.report.findings.push("sender_authentication_failed".into()),
            SenderCheck::NotConfigured => self.report.findings.push("sender_not_authenticated".into()),
        }
        self.write.evidence.push((
            subject,
            EvidenceWrite {
                kind: "sender_authentication".into(),
                data: json!({
                    "sender": self.mail.envelope_from,
                    "domain": domain.as_str(),
                    "verdict": verdict,
                    "detail": detail,
                }),
                message_id: self.mail.message_id.clone(),
            },
        ));
        check
    }

    pub(super) fn task(&mut self, kind: &str, subject: Option<SubjectId>, title: String, details: serde_json::Value) {
        self.write.tasks.push(TaskWrite {
            id: TaskId::new(),
            kind: kind.to_string(),
            subject_id: subject,
            message_sha256: Some(self.mail.sha256.clone()),
            title,
            details,
            idempotency_key: format!("message:{}:{kind}", self.mail.sha256),
        });
    }

    pub(super) fn record_fields(&mut self, app: ApplicationId, x: &Extracted) {
        // The website check (src/services/website.rs) is asked for in this message's
        // transaction; a pair of application and address asked for before adds nothing.
        if self.app.config.website_check.enabled
            && let Some(url) = x.get(field::WEBSITE)
        {
            let request = crate::store::WebsiteCheckRequest {
                id: uuid::Uuid::now_v7(),
                application_id: app,
                url: url.to_string(),
            };
            self.write.website_checks.push(request);
        }
        for (key, Found { value, excerpt }) in &x.fields {
            self.write.fields.push((
                app,
                FieldWrite {
                    field: key.clone(),
                    value: value.clone(),
                    message_id: self.mail.message_id.clone(),
                    excerpt: excerpt.clone(),
                },
            ));
        }
        for a in &self.mail.attachments {
            if let Some(months) = a.csv.as_deref().and_then(billing_csv::parse) {
                self.write.evidence.push((
                    app,
                    EvidenceWrite {
                        kind: "aws_billing".into(),
                        data: json!({ "file": a.filename, "sha256": a.sha256, "months": months }),
                        message_id: self.mail.message_id.clone(),
                    },
                ));
            }
        }
    }
}

/// The id of the decision just recorded, to cite in the step that used it.
pub(super) fn last_decision_id(p: &Plan<'_>) -> DecisionId {
    p.write.workflow.decisions.last().map(|d| d.id).unwrap_or_default()
}

pub(super) fn triage(app: &App, mail: &Mail, report: Report, now: DateTime<Utc>, why: &str) -> (IntakeWrite, Report) {
    let mut p = Plan::new(app, mail, report, now);
    p.task(
        "triage",
        None,
        format!("Triage: {}", if mail.subject.is_empty() { "(no subject)" } else { &mail.subject }),
        json!({ "from": mail.from, "subject": mail.subject, "reason": why, "excerpt": excerpt(&mail.body) }),
    );
    p.finish(outcome::TRIAGE)
}

/// What our receiving mail server found about a message's sender (see [`authres`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SenderCheck {
    /// Our server's `Authentication-Results` vouch for the sender's domain.
    Authenticated(String),
    /// They do not (or our server's header is missing); says what was found.
    Failed(String),
    /// No `intake.authserv_id`: nothing in the message can be trusted to say.
    NotConfigured,
}

fn sender_check(app: &App, mail: &Mail, domain: &Domain) -> SenderCheck {
    let Some(authserv_id) = app.config.intake.authserv_id.as_deref() else { return SenderCheck::NotConfigured };
    match authres::trusted(mail.authentication_results.iter().map(String::as_str), authserv_id) {
        None => SenderCheck::Failed(format!("no Authentication-Results header from {authserv_id}")),
        Some(results) => match authres::verdict(&results, domain) {
            authres::Verdict::Pass(d) => SenderCheck::Authenticated(d),
            authres::Verdict::Fail(d) => SenderCheck::Failed(d),
        },
    }
}
