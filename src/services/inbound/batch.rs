//! Many messages at once, with the outcomes of one-by-one ingest: what a message could read
//! that an earlier one of the batch writes decides whether it waits for that commit.

use std::collections::HashSet;

use serde_json::json;

use super::invoice_requests::INVOICE_REFERENCE_PREFIX;
use super::{Report, commit_one, duplicate, plan_parsed, prepare};
use crate::app::App;
use crate::intake::extract::field;
use crate::intake::{Parsed, parse};
use crate::store::{IntakeWrite, Kept, RawMessage, StoreError};

/// Most messages a batch commits together.
const BATCH: usize = 64;
/// Messages of a batch decided at once (each mostly waits on store reads).
const PLANNING: usize = 16;

/// Ingests many messages with the same outcomes as [`super::ingest`] one by one, in order, but
/// with one commit per batch (a commit costs far more than reading and deciding a message),
/// and with the next batch decided while the previous one commits. All raw messages are
/// kept (one transaction) before any is read. A message that could depend on one not yet
/// committed (same thread, account or sender) waits for that commit, so every message is
/// decided on committed state. If a batch commit fails, each of its writes is committed on
/// its own (and planned again on a conflict).
pub async fn ingest_many(app: &App, messages: &[(String, Vec<u8>)]) -> Result<Vec<Report>, StoreError> {
    let (raws, blanks): (Vec<RawMessage>, Vec<Report>) = messages.iter().map(|(s, raw)| prepare(app, s, raw)).unzip();
    let kept = app.store.keep_messages(&raws).await?;
    let mut reports: Vec<Option<Report>> = vec![None; messages.len()];
    let mut first_copy: std::collections::HashMap<&str, usize> = Default::default();
    let mut copies = Vec::new();
    let mut todo = Vec::new();
    for (i, ((raw_message, blank), keep)) in raws.iter().zip(&blanks).zip(kept).enumerate() {
        if let Kept::Processed { report } = keep {
            reports[i] = Some(duplicate(blank.clone(), &report));
        } else if let Some(first) = first_copy.get(raw_message.sha256.as_str()) {
            // The same bytes twice in one call: the first copy is the message.
            copies.push((i, *first));
        } else {
            first_copy.insert(&raw_message.sha256, i);
            todo.push(i);
        }
    }
    let work = Work { app, messages, raws: &raws, blanks: &blanks, todo: &todo };
    let mut next = 0;
    let mut committing = Batch::default();
    loop {
        let busy = std::mem::take(&mut committing.keys);
        let (committed, planned) = tokio::join!(committing.commit(&work), work.plan_batch(&mut next, &busy));
        for (i, report) in committed? {
            reports[i] = Some(report);
        }
        committing = planned?;
        if committing.writes.is_empty() && next == todo.len() {
            break;
        }
    }
    for (copy, first) in copies {
        let earlier = json!(reports[first]);
        reports[copy] = Some(duplicate(blanks[copy].clone(), &earlier));
    }
    Ok(reports.into_iter().map(|r| r.expect("every message got a report")).collect())
}

/// The messages of one [`ingest_many`] call still to decide.
struct Work<'a> {
    app: &'a App,
    messages: &'a [(String, Vec<u8>)],
    raws: &'a [RawMessage],
    blanks: &'a [Report],
    todo: &'a [usize],
}

impl Work<'_> {
    /// Decides messages from `todo[*next]` on, up to a batch, stopping before one that could
    /// depend on a write not yet committed (`busy`: the batch being committed; or this one).
    ///
    /// The batch's messages are decided side by side: none reads what another writes (their
    /// keys are apart), and none sees another's write anyway, as none is committed yet; so
    /// their store reads overlap instead of queueing one message after another. A message
    /// that would read what an earlier one of the batch turns out to write ([`written_keys`],
    /// known once decided) ends the batch there and is decided again in the next.
    async fn plan_batch(&self, next: &mut usize, busy: &HashSet<String>) -> Result<Batch, StoreError> {
        use futures_util::StreamExt;
        let rules = self.app.rules.current();
        let material = rules.material_hosts();
        let start = *next;
        let mut read = HashSet::new();
        let mut chosen: Vec<(usize, Parsed, Vec<String>)> = Vec::new();
        while start + chosen.len() < self.todo.len() && chosen.len() < BATCH {
            let i = self.todo[start + chosen.len()];
            let parsed = parse(&self.messages[i].1, self.raws[i].received_at, material);
            let keys = batch_keys(&parsed);
            if keys.iter().any(|k| busy.contains(k) || read.contains(k)) {
                break;
            }
            read.extend(keys.iter().cloned());
            chosen.push((i, parsed, keys));
        }
        let planned: Vec<_> = futures_util::stream::iter(&chosen)
            .map(|(i, parsed, _)| {
                let (kept, blank) = (&self.raws[*i], &self.blanks[*i]);
                plan_parsed(self.app, &kept.sha256, parsed, blank, kept.received_at)
            })
            .buffered(PLANNING)
            .collect()
            .await;
        let mut batch = Batch::default();
        for ((index, parsed, keys), planned) in chosen.into_iter().zip(planned) {
            if keys.iter().any(|k| batch.keys.contains(k)) {
                break;
            }
            let (write, report) = planned?;
            batch.keys.extend(keys);
            batch.keys.extend(written_keys(&write));
            batch.writes.push(write);
            batch.pending.push(Pending { index, parsed, report });
        }
        *next = start + batch.writes.len();
        Ok(batch)
    }
}

/// A decided message of a batch (its index into the call's messages), with what it takes
/// to decide it again.
struct Pending {
    index: usize,
    parsed: Parsed,
    report: Report,
}

#[derive(Default)]
struct Batch {
    writes: Vec<IntakeWrite>,
    pending: Vec<Pending>,
    keys: HashSet<String>,
}

impl Batch {
    /// Commits the batch; returns each message's report by its index.
    async fn commit(self, work: &Work<'_>) -> Result<Vec<(usize, Report)>, StoreError> {
        if self.writes.is_empty() {
            return Ok(Vec::new());
        }
        match work.app.store.commit_intakes(&self.writes).await {
            Ok(()) => Ok(self.pending.into_iter().map(|p| (p.index, p.report)).collect()),
            Err(e @ (StoreError::Duplicate(_) | StoreError::Conflict { .. } | StoreError::Database(_))) => {
                if let StoreError::Database(_) = e
                    && !e.is_data_fault()
                {
                    return Err(e);
                }
                // One message's write spoils the batch: each goes on its own, so only that
                // one is rejected (or planned again on a conflict).
                let mut out = Vec::with_capacity(self.writes.len());
                for (write, p) in self.writes.into_iter().zip(self.pending) {
                    let (kept, blank) = (&work.raws[p.index], &work.blanks[p.index]);
                    out.push((p.index, commit_one(work.app, kept, &p.parsed, blank, (write, p.report)).await?));
                }
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }
}

/// What deciding this message reads that an earlier message of a batch could have written:
/// its thread (message ids, reference tokens), its sender and its account.
fn batch_keys(parsed: &Parsed) -> Vec<String> {
    let Ok(mail) = &parsed.mail else { return Vec::new() };
    let mut keys: Vec<String> = mail.in_reply_to.iter().chain(&mail.references).map(|id| format!("id:{id}")).collect();
    keys.push(format!("id:{}", mail.message_id));
    keys.extend(mail.from.iter().map(|f| format!("addr:{}", f.to_lowercase())));
    keys.extend(parsed.extracted.get(field::ACCOUNT_EMAIL).map(|a| format!("addr:{}", a.to_lowercase())));
    keys.extend(
        mail.subject
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| {
                let w = w.to_ascii_uppercase();
                w.starts_with("CL-") || w.starts_with(INVOICE_REFERENCE_PREFIX)
            })
            .map(|w| format!("ref:{}", w.to_ascii_uppercase())),
    );
    keys
}

/// What a planned write creates or changes that a later message could look up.
fn written_keys(w: &IntakeWrite) -> Vec<String> {
    let mut keys: Vec<String> = w
        .workflow
        .opened
        .iter()
        .flat_map(|i| {
            i.account_email
                .iter()
                .map(|e| format!("addr:{}", e.to_lowercase()))
                .chain(i.application.iter().map(|a| format!("ref:{}", a.reference)))
        })
        .collect();
    keys.extend(w.application_id.map(|id| format!("app:{id}")));
    keys.extend(w.invoice_requests.iter().map(|r| format!("ref:{}", r.reference)));
    keys
}
