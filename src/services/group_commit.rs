//! Group commit: writes arriving while a batch is being written queue up and go into the next
//! transaction together, so a busy database pays one commit per batch instead of one per
//! write. Nothing waits for a batch to fill: a lone write is written at once. Used for usage
//! debits and for workflow transitions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Writes one batch in one transaction: an answer per request, in order, or `None` when the
/// batch could not be written (each caller then writes its request on its own).
pub type BatchWriter<R, A> = Arc<dyn Fn(Vec<R>) -> Pin<Box<dyn Future<Output = Option<Vec<A>>> + Send>> + Send + Sync>;

pub struct GroupCommit<R, A> {
    waiting: std::sync::Mutex<Waiting<R, A>>,
    /// Requests one transaction takes at most.
    most: usize,
}

type Reply<A> = tokio::sync::oneshot::Sender<A>;

struct Waiting<R, A> {
    queue: Vec<(R, Reply<A>)>,
    draining: bool,
}

impl<R: Send + 'static, A: Send + 'static> GroupCommit<R, A> {
    pub fn new(most: usize) -> Self {
        GroupCommit {
            waiting: std::sync::Mutex::new(Waiting { queue: Vec::new(), draining: false }),
            most: most.max(1),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting<R, A>> {
        // The lock guards a plain queue: a panic elsewhere leaves it consistent.
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `request`; its answer once its batch is written, `None` when the batch could not
    /// be (the caller then writes it on its own, which its idempotency key or version check
    /// makes safe either way). `write` writes the batches should this request start a drain.
    pub async fn submit(self: &Arc<Self>, request: R, write: &BatchWriter<R, A>) -> Option<A> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut w = self.waiting();
            w.queue.push((request, tx));
            !std::mem::replace(&mut w.draining, true)
        };
        if start {
            // A task of its own: a caller that gives up waiting cannot strand the others.
            tokio::spawn(Arc::clone(self).drain(Arc::clone(write)));
        }
        rx.await.ok()
    }

    async fn drain(self: Arc<Self>, write: BatchWriter<R, A>) {
        // Should the task die mid-batch, the queue is released and every waiting request is
        // answered `None` (its sender dropped), so each goes on alone.
        struct Release<'a, R, A>(&'a GroupCommit<R, A>, bool);
        impl<R, A> Drop for Release<'_, R, A> {
            fn drop(&mut self) {
                if self.1 {
                    let mut w = self.0.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
                let n = w.queue.len().min(self.most);
                w.queue.drain(..n).collect()
            };
            let (requests, replies): (Vec<R>, Vec<Reply<A>>) = batch.into_iter().unzip();
            let n = requests.len();
            match write(requests).await {
                Some(answers) if answers.len() == n => {
                    for (answer, reply) in answers.into_iter().zip(replies) {
                        // A caller that stopped waiting has its request written all the same.
                        let _ = reply.send(answer);
                    }
                }
                // Dropping the replies answers `None`: each request goes alone.
                _ => tracing::debug!(requests = n, "batch not written; each request goes alone"),
            }
            // The callers just answered usually have their next write ready: letting them run
            // first puts those writes in the next batch instead of a batch of one or two.
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling(calls: Arc<std::sync::Mutex<Vec<usize>>>) -> BatchWriter<u32, u32> {
        Arc::new(move |batch: Vec<u32>| {
            let calls = calls.clone();
            Box::pin(async move {
                calls.lock().unwrap().push(batch.len());
                tokio::task::yield_now().await;
                (!batch.contains(&13)).then(|| batch.iter().map(|x| x * 2).collect())
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_request_gets_its_own_answer_and_batches_stay_under_their_bound() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let write = doubling(calls.clone());
        let queue = Arc::new(GroupCommit::new(4));
        let handles: Vec<_> = (0..50u32)
            .map(|i| {
                let (queue, write) = (queue.clone(), write.clone());
                tokio::spawn(async move { (i, queue.submit(i, &write).await) })
            })
            .collect();
        for h in handles {
            let (i, answer) = h.await.unwrap();
            if i == 13 {
                continue;
            }
            // A request batched with 13 is answered `None`, to go alone; never a wrong answer.
            assert!(answer.is_none_or(|a| a == i * 2), "{i}: {answer:?}");
        }
        let calls = calls.lock().unwrap();
        assert!(calls.iter().all(|n| (1..=4).contains(n)), "{calls:?}");
        assert_eq!(calls.iter().sum::<usize>(), 50, "every request written once");
    }

    #[tokio::test]
    async fn a_batch_that_fails_answers_none() {
        let write = doubling(Arc::default());
        let queue = Arc::new(GroupCommit::new(8));
        assert_eq!(queue.submit(13, &write).await, None);
        assert_eq!(queue.submit(2, &write).await, Some(4), "the queue works after a failed batch");
    }
}
