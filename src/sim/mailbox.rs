//! The applicants' mailboxes: what the SMTP server received, one file a message.

use chrono::NaiveDate;

/// One email as an applicant received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope recipient (the applicant's address).
    pub rcpt: String,
    /// The Message-ID, without angle brackets (`outbox.ID@wavespeed.ai`).
    pub message_id: String,
    /// The template it was rendered from (the outbox row's name), when the row is known.
    pub template: Option<String>,
    pub subject: String,
    /// The Message-IDs it answers (In-Reply-To, then References), without brackets.
    pub thread: Vec<String>,
    /// The whole message as delivered.
    pub raw: Vec<u8>,
    /// The simulated day it arrived.
    pub day: NaiveDate,
}

/// Reads the messages the SMTP server stored since the last call (Maildir `new/`), moves
/// them to `cur/`, and names each one's template from our outbox (`<outbox.ID@…>`). The
/// order is by recipient, template and subject: the order of arrival depends on the workers'
/// timing, the simulation must not.
pub async fn collect(maildir: &std::path::Path, app: &crate::app::App, day: NaiveDate) -> anyhow::Result<Vec<Mail>> {
    let mut out = Vec::new();
    let new = maildir.join("new");
    let Ok(entries) = std::fs::read_dir(&new) else { return Ok(out) };
    let cur = maildir.join("cur");
    std::fs::create_dir_all(&cur)?;
    let mut paths: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let raw = std::fs::read(&path)?;
        if let Some(name) = path.file_name() {
            std::fs::rename(&path, cur.join(name))?;
        }
        out.extend(read(&raw, app, day).await?);
    }
    out.sort_by(|a, b| {
        (&a.rcpt, &a.template, &a.subject, &a.message_id).cmp(&(&b.rcpt, &b.template, &b.subject, &b.message_id))
    });
    Ok(out)
}

/// One stored message, once per envelope recipient.
async fn read(raw: &[u8], app: &crate::app::App, day: NaiveDate) -> anyhow::Result<Vec<Mail>> {
    let rcpts: Vec<String> = String::from_utf8_lossy(raw)
        .lines()
        .map_while(|l| l.strip_prefix("X-Sim-Rcpt: ").map(|r| r.trim().to_lowercase()))
        .collect();
    let parsed =
        crate::intake::mail::parse(raw).map_err(|e| anyhow::anyhow!("a delivered email does not parse: {e}"))?;
    let template = match outbox_id(&parsed.message_id) {
        Some(id) => app.store.outbox_row(id).await?.map(|row| row.name),
        None => None,
    };
    let mut thread = parsed.in_reply_to.clone();
    thread.extend(parsed.references.iter().rev().cloned());
    Ok(rcpts
        .into_iter()
        .map(|rcpt| Mail {
            rcpt,
            message_id: parsed.message_id.clone(),
            template: template.clone(),
            subject: parsed.subject.clone(),
            thread: thread.clone(),
            raw: raw.to_vec(),
            day,
        })
        .collect())
}

/// The outbox row a Message-ID of ours names (`outbox.ID@domain`).
pub fn outbox_id(message_id: &str) -> Option<crate::domain::OutboxId> {
    let id = message_id.strip_prefix("outbox.")?.split('@').next()?;
    id.parse().ok()
}
