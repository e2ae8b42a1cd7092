//! Group commit: requests that arrive together are written together.
//!
//! SQLite has one writer at a time, and every statement costs a round trip
//! to the connection's thread. A hot write path (tasks-api's `POST
//! /v1/tasks`) therefore hands its job to a [`Batcher`]: one task takes
//! every job waiting (up to a batch), writes them in one transaction with a
//! few multi-row statements, and answers each. A lone request is written at
//! once (no timer, no added latency); under load the batch grows by itself
//! while the previous one is being written.
//!
//! Batching never couples requests: the batch function is all or nothing
//! (one transaction), and when it fails for a batch of several jobs, each
//! job is written again alone, so one job the database refuses (or one
//! that breaks a rule) fails only its own caller, and the others are
//! written as if they had come alone.

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

/// Hands jobs of type `J` to a batch function; each caller gets its own
/// `Result<R, E>`.
pub struct Batcher<J, R, E> {
    jobs: mpsc::Sender<Job<J, Result<R, E>>>,
}

impl<J, R, E> Clone for Batcher<J, R, E> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<J, R, E> std::fmt::Debug for Batcher<J, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<J, R, E> Batcher<J, R, E>
where
    J: Clone + Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    /// Starts the batching task. `write` gets up to `max_batch` jobs in
    /// arrival order and either writes them all, returning one answer per
    /// job in the same order, or writes none and returns the error. A
    /// batch of several that fails is written again one job at a time, so
    /// the error reaches only the job that causes it. The task ends when
    /// every `Batcher` clone is dropped.
    pub fn spawn<F, Fut>(max_batch: usize, write: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, E>> + Send,
    {
        let (jobs, mut queue) = mpsc::channel::<Job<J, Result<R, E>>>(QUEUE);
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while queue.recv_many(&mut batch, max_batch).await > 0 {
                let (inputs, replies): (Vec<J>, Vec<_>) = batch.drain(..).unzip();
                let alone = inputs.len() == 1;
                match write(inputs.clone()).await {
                    Ok(answers) => answer(replies, answers.into_iter().map(Ok)),
                    Err(error) if alone => answer(replies, [Err(error)]),
                    Err(_) => {
                        for (input, reply) in inputs.into_iter().zip(replies) {
                            let answer_alone = match write(vec![input]).await {
                                Ok(mut answers) => answers.pop().map(Ok),
                                Err(error) => Some(Err(error)),
                            };
                            answer([reply], answer_alone);
                        }
                    }
                }
            }
        });
        Self { jobs }
    }

    /// Queues `job` and waits for its answer.
    pub async fn submit(&self, job: J) -> Result<Result<R, E>, BatcherStopped> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((job, reply))
            .await
            .map_err(|_| BatcherStopped)?;
        answer.await.map_err(|_| BatcherStopped)
    }
}

/// Sends each answer to its caller; a caller without an answer sees
/// [`BatcherStopped`].
fn answer<T>(
    replies: impl IntoIterator<Item = oneshot::Sender<T>>,
    answers: impl IntoIterator<Item = T>,
) {
    for (reply, answer) in replies.into_iter().zip(answers) {
        // The caller may have gone (client disconnected).
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A batch function over numbers that refuses 13 (all or nothing) and
    /// records the batches it was given.
    fn doubling(calls: Arc<Mutex<Vec<Vec<u32>>>>) -> Batcher<u32, u32, String> {
        Batcher::spawn(8, move |jobs: Vec<u32>| {
            let calls = calls.clone();
            async move {
                calls.lock().unwrap().push(jobs.clone());
                tokio::task::yield_now().await;
                if jobs.contains(&13) {
                    return Err(format!("13 refused in a batch of {}", jobs.len()));
                }
                Ok(jobs.into_iter().map(|job| job * 2).collect())
            }
        })
    }

    /// Submits every job at once; the answers in the order of `jobs`.
    async fn submit_all(
        batcher: &Batcher<u32, u32, String>,
        jobs: impl Iterator<Item = u32>,
    ) -> Vec<(u32, Result<u32, String>)> {
        let calls: Vec<_> = jobs
            .map(|job| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (job, batcher.submit(job).await) })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            let (job, answer) = call.await.expect("joined");
            answers.push((job, answer.expect("answered")));
        }
        answers
    }

    #[tokio::test]
    async fn answers_every_job_in_batches_no_larger_than_asked() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let batcher = doubling(calls.clone());
        for (job, answer) in submit_all(&batcher, (0..100u32).filter(|job| *job != 13)).await {
            assert_eq!(answer, Ok(job * 2));
        }
        let calls = calls.lock().unwrap();
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 99);
        assert!(calls.iter().all(|batch| (1..=8).contains(&batch.len())));
        assert!(calls.iter().any(|batch| batch.len() > 1), "{calls:?}");
    }

    #[tokio::test]
    async fn a_refused_job_fails_alone_and_the_rest_of_its_batch_is_written() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let batcher = doubling(calls.clone());
        for (job, answer) in submit_all(&batcher, 10..16u32).await {
            let expected = if job == 13 {
                Err("13 refused in a batch of 1".to_owned())
            } else {
                Ok(job * 2)
            };
            assert_eq!(answer, expected, "job {job}");
        }
        let calls = calls.lock().unwrap();
        // The 13 shared a batch with others (which failed as a whole),
        // then every job of that batch was written alone.
        let shared = calls
            .iter()
            .position(|batch| batch.len() > 1 && batch.contains(&13))
            .unwrap_or_else(|| panic!("13 was never batched with others: {calls:?}"));
        let retried: Vec<u32> = calls[shared + 1..]
            .iter()
            .take(calls[shared].len())
            .map(|batch| {
                assert_eq!(batch.len(), 1, "{calls:?}");
                batch[0]
            })
            .collect();
        assert_eq!(retried, calls[shared]);
    }

    #[tokio::test]
    async fn a_job_left_unanswered_is_an_error_not_a_hang() {
        let batcher = Batcher::spawn(4, |_jobs: Vec<u32>| async {
            Ok::<_, ()>(Vec::<u32>::new())
        });
        assert!(batcher.submit(1).await.is_err());
    }
}
