//! Group commit for usage debits, apart from the ledger service so that `App` can hold the
//! queue without the queue knowing `App`.

use std::sync::Arc;

use crate::store::{DebitRequest, DebitResult, DrawingLines, Store};
use crate::workflow::Workflows;
use crate::workflow::names::credit_line;

/// Group commit for usage debits. The first debit to arrive while none is being written
/// starts a drain task; debits arriving meanwhile queue up and go into the next transaction
/// together, so a hot account (or a busy database) pays one commit per batch instead of one
/// per debit. Nothing waits for a batch to fill: a lone debit is written at once.
#[derive(Default)]
pub struct DebitQueue {
    waiting: std::sync::Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    queue: Vec<(DebitRequest, tokio::sync::oneshot::Sender<DebitResult>)>,
    draining: bool,
}

/// Debits one transaction takes at most.
const DEBIT_BATCH: usize = 512;

impl DebitQueue {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The lock guards a plain queue: a panic elsewhere leaves it consistent.
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a debit; its result once its batch is written, `None` when the batch could not
    /// be (the caller then posts it on its own; its keys make that safe either way).
    pub async fn submit(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        workflows: &Arc<Workflows>,
        request: DebitRequest,
    ) -> Option<DebitResult> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut w = self.waiting();
            w.queue.push((request, tx));
            !std::mem::replace(&mut w.draining, true)
        };
        if start {
            // A task of its own: a caller that gives up waiting cannot strand the others.
            tokio::spawn(Arc::clone(self).drain(Arc::clone(store), Arc::clone(workflows)));
        }
        rx.await.ok()
    }

    async fn drain(self: Arc<Self>, store: Arc<dyn Store>, workflows: Arc<Workflows>) {
        // The line a debit draws on: the account's newest in a state the file lets draw.
        let drawing = workflows.states_where(credit_line::WORKFLOW, |s| s.draws_credit);
        // Should the task die mid-batch, the queue is released and every waiting debit is
        // answered `None` (its sender dropped), so each goes on alone.
        struct Release<'a>(&'a DebitQueue, bool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                if self.1 {
                    let mut w = self.0.waiting();
                    w.queue.clear();
                    w.draining = false;
                }
            }
        }
        let mut release = Release(&self, true);
        loop {
            let batch: Vec<_> = {
                let mut w = self.waiting();
                if w.queue.is_empty() {
                    w.draining = false;
                    release.1 = false;
                    return;
                }
                let n = w.queue.len().min(DEBIT_BATCH);
                w.queue.drain(..n).collect()
            };
            let (requests, replies): (Vec<DebitRequest>, Vec<_>) = batch.into_iter().unzip();
            match store
                .post_debits(&requests, &DrawingLines { workflow: credit_line::WORKFLOW, states: &drawing })
                .await
            {
                Ok(results) => {
                    for (result, reply) in results.into_iter().zip(replies) {
                        // A caller that stopped waiting has its debit posted all the same.
                        let _ = reply.send(result);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, debits = requests.len(), "batch not written; each debit goes alone")
                }
            }
        }
    }
}
