//! Delivering one outbox email: claim the row for one attempt, render its template, build the
//! message (its Message-ID comes from the outbox id, so every retry sends the *same* message),
//! hand it to the transport and record how it ended. A transient failure comes back later
//! with exponential backoff and jitter; a permanent one (a 5xx, a template or address that
//! cannot work) or the last allowed attempt stops, and opens a reviewer task in the same
//! transaction that marks the row failed.

use std::time::Duration;

use serde_json::json;

use crate::app::App;
use crate::config::MailConfig;
use crate::domain::{ApplicationId, TaskId};
use crate::email::context::context;
use crate::email::message::{self, Envelope};
use crate::email::transport::{Mailer, SendError};
use crate::store::{DeliveryOutcome, OutboxRecord, QueuedEmail, StoreResult, TaskWrite};

pub use crate::email::transport::Attempted;

/// The kind of reviewer task a failed email opens.
pub const EMAIL_FAILURE_TASK: &str = crate::workflow::TaskKind::EmailFailure.as_str();

/// Runs one send job.
pub async fn deliver(app: &App, mailer: &Mailer, job: QueuedEmail) -> StoreResult<Attempted> {
    let cfg = &app.config.mail;
    let now = app.workflow.clock().now();
    let lease = chrono::Duration::seconds(i64::try_from(cfg.lease_seconds).unwrap_or(i64::MAX / 1000));
    let Some(row) = app.store.claim_outbox(&job, now + lease).await? else { return Ok(Attempted::Skipped) };
    let sent = match compose(app, &row).await? {
        Ok(msg) => mailer.send(row.id, msg).await,
        Err(e) => Err(e),
    };
    let done_at = app.workflow.clock().now();
    let (outcome, attempted) = match sent {
        Ok(()) => {
            let message_id = message_id_for(app, &row);
            (DeliveryOutcome::Sent { message_id: message_id.clone() }, Attempted::Sent { message_id })
        }
        Err(SendError::Transient(error)) if row.attempts < i64::from(cfg.max_attempts) => {
            let after = retry_delay(row.attempts, cfg, random_fraction());
            let available_at = done_at + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
            (DeliveryOutcome::Retry { available_at, error: error.clone() }, Attempted::Retrying { after, error })
        }
        Err(e) => {
            let error = match e {
                SendError::Transient(e) => format!("gave up after {} attempts: {e}", row.attempts),
                SendError::Permanent(e) => e,
            };
            (
                DeliveryOutcome::Failed { error: error.clone(), task: failure_task(&row, &error) },
                Attempted::Failed { error },
            )
        }
    };
    if app.store.finish_outbox(row.id, row.attempts, &outcome, done_at).await? {
        Ok(attempted)
    } else {
        Ok(Attempted::Superseded)
    }
}

fn message_id_for(app: &App, row: &OutboxRecord) -> String {
    match app.config.mail.from.parse::<lettre::message::Mailbox>() {
        Ok(from) => message::message_id(row.id, &from),
        Err(_) => format!("<outbox.{}>", row.id),
    }
}

/// The message for a row, or why it can never be sent.
async fn compose(app: &App, row: &OutboxRecord) -> StoreResult<Result<lettre::Message, SendError>> {
    let permanent = |m: String| Ok(Err(SendError::Permanent(m)));
    let Some(to) = row.payload.get("to").and_then(|v| v.as_str()).map(str::to_string) else {
        return permanent(format!("outbox row {} names no recipient", row.id));
    };
    // An email about an application threads into the applicant's conversation.
    let application = ApplicationId(row.instance_id.0);
    let (reference, thread) = match app.store.application(application).await? {
        Some(a) => {
            // Never in reply to an auto-reply (an out-of-office kept with the application):
            // answering machine mail is how mail loops start (found by the simulation).
            let thread = app
                .store
                .messages_for(application)
                .await?
                .into_iter()
                .filter(|m| m.outcome.as_deref() != Some(crate::services::inbound::report::outcome::AUTO_REPLY))
                .map(|m| angle(&m.message_id))
                .collect();
            (Some(a.reference), thread)
        }
        // An email about an invoice request threads into the request's conversation.
        None => match app.store.invoice_request(row.instance_id).await? {
            Some(r) => {
                let thread = r
                    .details
                    .get("messages")
                    .and_then(|m| m.as_array())
                    .map(|m| m.iter().filter_map(|id| id.as_str()).map(angle).collect())
                    .unwrap_or_default();
                (Some(r.reference), thread)
            }
            None => (None, Vec::new()),
        },
    };
    let data = context(&row.payload, reference.as_deref());
    let rendered = match app.templates.render(&row.name, &data) {
        Ok(r) => r,
        Err(e) => return permanent(e.to_string()),
    };
    let envelope = Envelope { from: app.config.mail.from.clone(), to, thread };
    let at = std::time::SystemTime::from(app.workflow.clock().now());
    let attachments = match message::attachments_of(&row.payload) {
        Ok(a) => a,
        Err(e) => return permanent(e.to_string()),
    };
    match message::build_with(row.id, &envelope, &rendered, &attachments, at) {
        Ok(m) => Ok(Ok(m)),
        Err(e) => permanent(e.to_string()),
    }
}

fn angle(id: &str) -> String {
    if id.starts_with('<') { id.to_string() } else { format!("<{id}>") }
}

fn failure_task(row: &OutboxRecord, error: &str) -> TaskWrite {
    let to = row.payload.get("to").and_then(|v| v.as_str()).unwrap_or("(no recipient)");
    TaskWrite {
        id: TaskId::new(),
        kind: EMAIL_FAILURE_TASK.into(),
        subject_id: Some(row.instance_id),
        message_sha256: None,
        title: format!("Email {} to {to} could not be delivered", row.name),
        details: json!({
            "outbox_id": row.id,
            "template": row.name,
            "to": to,
            "attempts": row.attempts,
            "error": error,
        }),
        idempotency_key: format!("{EMAIL_FAILURE_TASK}:{}", row.id),
    }
}

/// The wait after failed attempt `attempt` (1 = the first): the base doubled per attempt,
/// capped, and "equal jitter": half of it fixed, half random, so that a server coming back
/// is not hit by every waiting message in the same second. `fraction` is in [0, 1).
pub fn retry_delay(attempt: i64, cfg: &MailConfig, fraction: f64) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 32)).unwrap_or(32);
    let full = cfg.retry_base_ms.saturating_mul(1u64 << doublings).min(cfg.retry_max_ms);
    let half = full / 2;
    // Truncation is fine: this is a wait, not money.
    let jitter = (half as f64 * fraction.clamp(0.0, 1.0)) as u64;
    Duration::from_millis(half + jitter)
}

fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    // Without randomness the wait is still bounded and correct, only less spread.
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MailConfig {
        MailConfig { retry_base_ms: 1000, retry_max_ms: 60_000, ..MailConfig::default() }
    }

    #[test]
    fn the_wait_doubles_per_attempt_up_to_the_cap_with_half_of_it_random() {
        let c = cfg();
        assert_eq!(retry_delay(1, &c, 0.0), Duration::from_millis(500));
        assert_eq!(retry_delay(1, &c, 0.999_999), Duration::from_millis(999));
        assert_eq!(retry_delay(2, &c, 0.0), Duration::from_millis(1000));
        assert_eq!(retry_delay(4, &c, 0.0), Duration::from_millis(4000));
        assert_eq!(retry_delay(30, &c, 0.0), Duration::from_millis(30_000), "capped at the maximum");
        assert_eq!(retry_delay(10_000, &c, 1.0), Duration::from_millis(60_000));
        assert_eq!(retry_delay(0, &c, 0.0), Duration::from_millis(500), "no attempt counts as the first");
    }

    #[test]
    fn random_fractions_stay_in_range() {
        for _ in 0..1000 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }
}
