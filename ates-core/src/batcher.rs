//! Group commit: requests that arrive together are written together.
//!
//! SQLite has one writer at a time, and every statement costs a round trip
//! to the connection's thread. A hot write path (tasks-api's `POST
//! /v1/tasks`) therefore hands its job to a [`Batcher`]: one task takes
//! every job waiting (up to a batch), writes them in one transaction with a
//! few multi-row statements, and answers each. A lone request is written at
//! once (no timer, no added latency); under load the batch grows by itself
//! while the previous one is being written.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Jobs waiting beyond this make `submit` wait too (back-pressure).
const QUEUE: usize = 4096;

/// Why a job got no answer: the batcher stopped (the service is shutting
/// down) or the batch function dropped it.
#[derive(Debug, thiserror::Error)]
#[error("the write batcher stopped")]
pub struct BatcherStopped;

type Job<J, R> = (J, oneshot::Sender<R>);

/// Hands jobs of type `J` to a batch function that answers each with an `R`.
pub struct Batcher<J, R> {
    jobs: mpsc::Sender<Job<J, R>>,
}

impl<J, R> Clone for Batcher<J, R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<J, R> std::fmt::Debug for Batcher<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the batching task. `write` gets up to `max_batch` jobs in
    /// arrival order and returns one answer per job, in the same order.
    /// The task ends when every `Batcher` clone is dropped.
    pub fn spawn<F, Fut>(max_batch: usize, write: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (jobs, mut queue) = mpsc::channel::<Job<J, R>>(QUEUE);
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while queue.recv_many(&mut batch, max_batch).await > 0 {
                let (inputs, replies): (Vec<J>, Vec<oneshot::Sender<R>>) = batch.drain(..).unzip();
                let answers = write(inputs).await;
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // The caller may have gone (client disconnected).
                    let _ = reply.send(answer);
                }
            }
        });
        Self { jobs }
    }

    /// Queues `job` and waits for its answer.
    pub async fn submit(&self, job: J) -> Result<R, BatcherStopped> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((job, reply))
            .await
            .map_err(|_| BatcherStopped)?;
        answer.await.map_err(|_| BatcherStopped)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn answers_every_job_in_batches_no_larger_than_asked() {
        let largest = Arc::new(AtomicUsize::new(0));
        let seen = largest.clone();
        let batcher = Batcher::spawn(8, move |jobs: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.fetch_max(jobs.len(), Ordering::Relaxed);
                tokio::task::yield_now().await;
                jobs.into_iter().map(|job| job * 2).collect()
            }
        });
        let calls: Vec<_> = (0..100u32)
            .map(|job| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (job, batcher.submit(job).await) })
            })
            .collect();
        for call in calls {
            let (job, answer) = call.await.expect("joined");
            assert_eq!(answer.expect("answered"), job * 2);
        }
        let largest = largest.load(Ordering::Relaxed);
        assert!((1..=8).contains(&largest), "largest batch {largest}");
    }

    #[tokio::test]
    async fn a_job_left_unanswered_is_an_error_not_a_hang() {
        let batcher = Batcher::spawn(4, |_jobs: Vec<u32>| async { Vec::<u32>::new() });
        assert!(batcher.submit(1).await.is_err());
    }
}
