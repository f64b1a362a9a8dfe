//! Group commit for usage debits, apart from the ledger service so that `App` can hold the
//! queue without the queue knowing `App`.

use std::sync::Arc;

use crate::services::clock::Clock;
use crate::services::group_commit::{BatchWriter, GroupCommit};
use crate::store::{DebitRequest, DebitResult, DrawingLines, Store};
use crate::workflow::Workflows;
use crate::workflow::names::credit_line;

/// Debits one transaction takes at most.
const DEBIT_BATCH: usize = 512;

/// Group commit for usage debits ([`GroupCommit`]): a hot account (or a busy database) pays
/// one commit per batch instead of one per debit.
pub struct DebitQueue {
    queue: Arc<GroupCommit<DebitRequest, DebitResult>>,
    write: BatchWriter<DebitRequest, DebitResult>,
}

impl DebitQueue {
    pub fn new(store: Arc<dyn Store>, workflows: &Workflows, clock: Arc<dyn Clock>) -> DebitQueue {
        // The line a debit draws on: the account's newest in a state the file lets draw.
        let drawing: Arc<Vec<String>> = Arc::new(
            workflows.states_where(credit_line::WORKFLOW, |s| s.draws_credit).into_iter().map(String::from).collect(),
        );
        let write: BatchWriter<DebitRequest, DebitResult> = Arc::new(move |requests: Vec<DebitRequest>| {
            let (store, clock, drawing) = (store.clone(), clock.clone(), drawing.clone());
            Box::pin(async move {
                let states: Vec<&str> = drawing.iter().map(String::as_str).collect();
                let lines = DrawingLines { workflow: credit_line::WORKFLOW, states: &states };
                match store.post_debits(&requests, &lines, &|| clock.now()).await {
                    Ok(results) => Some(results),
                    Err(e) => {
                        tracing::debug!(error = %e, debits = requests.len(), "batch not written; each debit goes alone");
                        None
                    }
                }
            })
        });
        DebitQueue { queue: Arc::new(GroupCommit::new(DEBIT_BATCH)), write }
    }

    /// Queues a debit; its result once its batch is written, `None` when the batch could not
    /// be (the caller then posts it on its own; its keys make that safe either way).
    pub async fn submit(&self, request: DebitRequest) -> Option<DebitResult> {
        self.queue.submit(request, &self.write).await
    }
}
