//! Dynamic batching: a bounded queue of task requests, served by stake, drained in batches by
//! one inference thread.
//!
//! Request handlers [`submit`](Batcher::submit) a request with its caller's stake and await
//! the answer. The inference thread takes the first waiting request, waits at most
//! `max_batch_wait` for the batch to fill to `max_batch_size`, runs the [`Solver`] on it and
//! sends each answer back. When the queue holds `queue_depth` requests, a new request from a
//! caller with more stake than the lowest-staked waiting one displaces it (that caller gets
//! `busy`); otherwise the new request is refused with `busy`. Batches are taken highest stake
//! first; equal stakes are first come, first served.
//!
//! The thread is a plain OS thread, so inference never blocks the async executor; it stops
//! once the batcher is [closed](Batcher::close) and the queue is empty.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use subnet_protocol::RejectReason;
use subnet_protocol::ids::Rao;
use subnet_protocol::task::Task;
use tokio::sync::oneshot;

use crate::metrics::MinerMetrics;
use crate::solver::Solver;

/// Batching limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchLimits {
    pub(crate) max_batch_size: usize,
    pub(crate) max_batch_wait: Duration,
    pub(crate) queue_depth: usize,
}

/// The answer channel of one queued request.
type Reply<T> = oneshot::Sender<Result<<T as Task>::Answer, RejectReason>>;

/// A queued request.
struct Job<T: Task> {
    request: T::Request,
    reply: Reply<T>,
}

/// Queue order: stake, then arrival (earlier first). The largest key is served first; the
/// smallest is displaced first.
type Priority = (Rao, Reverse<u64>);

struct State<T: Task> {
    jobs: BTreeMap<Priority, Job<T>>,
    next_seq: u64,
    /// Shutting down: batches run at once instead of waiting to fill.
    draining: bool,
    /// No more submissions; the thread exits once the queue is empty.
    closed: bool,
}

struct Shared<T: Task> {
    state: Mutex<State<T>>,
    /// Signalled on every submit and on close.
    wake: Condvar,
    limits: BatchLimits,
    metrics: MinerMetrics,
}

/// The submitting side of the queue; cheap to clone.
pub(crate) struct Batcher<T: Task> {
    shared: Arc<Shared<T>>,
}

impl<T: Task> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Task> std::fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("limits", &self.shared.limits)
            .field("depth", &self.depth())
            .finish()
    }
}

impl<T: Task> Batcher<T> {
    /// Starts the inference thread running `solver`.
    ///
    /// # Errors
    /// The OS error if the thread cannot be spawned.
    pub(crate) fn start<S: Solver<T> + 'static>(
        solver: S,
        limits: BatchLimits,
        metrics: MinerMetrics,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: BTreeMap::new(),
                next_seq: 0,
                draining: false,
                closed: false,
            }),
            wake: Condvar::new(),
            limits,
            metrics,
        });
        let worker = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("miner-inference".into())
            .spawn(move || run_worker(&worker, solver))?;
        Ok((Self { shared }, handle))
    }

    /// Queues `request` from a caller with `stake`; the receiver yields its answer.
    ///
    /// # Errors
    /// [`RejectReason::Busy`] if the queue is full of requests from callers with at least as
    /// much stake, or the batcher is closed.
    pub(crate) fn submit(
        &self,
        request: T::Request,
        stake: Rao,
    ) -> Result<oneshot::Receiver<Result<T::Answer, RejectReason>>, RejectReason> {
        let (reply, answer) = oneshot::channel();
        let mut state = self.shared.lock();
        if state.closed {
            return Err(RejectReason::Busy);
        }
        let key = (stake, Reverse(state.next_seq));
        if state.jobs.len() >= self.shared.limits.queue_depth {
            match state.jobs.first_key_value() {
                Some((lowest, _)) if *lowest < key => {
                    if let Some((_, displaced)) = state.jobs.pop_first() {
                        // The displaced caller may have gone already; nothing to do then.
                        let _ = displaced.reply.send(Err(RejectReason::Busy));
                        self.shared.metrics.displaced();
                    }
                }
                _ => return Err(RejectReason::Busy),
            }
        }
        state.next_seq = state.next_seq.wrapping_add(1);
        state.jobs.insert(key, Job { request, reply });
        self.shared.metrics.set_queue_depth(state.jobs.len());
        drop(state);
        self.shared.wake.notify_one();
        Ok(answer)
    }

    /// Requests waiting for inference.
    pub(crate) fn depth(&self) -> usize {
        self.shared.lock().jobs.len()
    }

    /// Stops waiting for batches to fill: from now on each batch runs as soon as the thread
    /// is free. Requests are still accepted (those in flight when shutdown began).
    pub(crate) fn drain(&self) {
        self.shared.lock().draining = true;
        self.shared.wake.notify_all();
    }

    /// Refuses further requests; the thread finishes the queued ones, then exits.
    pub(crate) fn close(&self) {
        let mut state = self.shared.lock();
        state.draining = true;
        state.closed = true;
        drop(state);
        self.shared.wake.notify_all();
    }
}

impl<T: Task> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every state the queue can be in is valid, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until a batch is ready (or returns `None` once closed and empty).
    fn next_batch(&self) -> Option<Vec<Job<T>>> {
        let limits = self.limits;
        let mut state = self.lock();
        while state.jobs.is_empty() {
            if state.closed {
                return None;
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // The configuration bounds the wait by the request timeout, so this cannot overflow.
        let deadline = Instant::now()
            .checked_add(limits.max_batch_wait)
            .unwrap_or_else(Instant::now);
        while state.jobs.len() < limits.max_batch_size && !state.draining {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let take = state.jobs.len().min(limits.max_batch_size);
        let batch: Vec<Job<T>> = (0..take)
            .filter_map(|_| state.jobs.pop_last().map(|(_, job)| job))
            .collect();
        self.metrics.set_queue_depth(state.jobs.len());
        Some(batch)
    }
}

fn run_worker<T: Task, S: Solver<T>>(shared: &Shared<T>, mut solver: S) {
    while let Some(batch) = shared.next_batch() {
        // Callers that timed out or disconnected while waiting need no inference.
        let (requests, replies): (Vec<T::Request>, Vec<Reply<T>>) = batch
            .into_iter()
            .filter(|job| !job.reply.is_closed())
            .map(|job| (job.request, job.reply))
            .unzip();
        if requests.is_empty() {
            continue;
        }
        let started = Instant::now();
        let results = catch_unwind(AssertUnwindSafe(|| solver.solve(&requests)));
        shared.metrics.batch_done(requests.len(), started.elapsed());
        let mut results = match results {
            Ok(results) => results.into_iter(),
            Err(_) => {
                tracing::error!(batch = requests.len(), "solver panicked");
                Vec::new().into_iter()
            }
        };
        for reply in replies {
            let answer = match results.next() {
                Some(Ok(answer)) => Ok(answer),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "request not answered");
                    Err(RejectReason::Internal)
                }
                None => Err(RejectReason::Internal),
            };
            // The caller may have gone while the batch ran.
            let _ = reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use subnet_protocol::task::{NextByte, NextByteAnswer, NextByteError, NextByteRequest};

    use super::*;

    /// Answers with the context's first byte in a one-row answer, and records batch sizes.
    struct Echo {
        batches: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Solver<NextByte> for Echo {
        type Error = NextByteError;

        fn solve(
            &mut self,
            requests: &[NextByteRequest],
        ) -> Vec<Result<NextByteAnswer, NextByteError>> {
            self.batches
                .lock()
                .unwrap()
                .push(requests.iter().map(|r| r.context()[0]).collect());
            requests
                .iter()
                .map(|r| Ok(NextByteAnswer::new(vec![f32::from(r.context()[0])])))
                .collect()
        }
    }

    fn request(b: u8) -> NextByteRequest {
        NextByteRequest::new(vec![b], 1).unwrap()
    }

    fn limits(max_batch_size: usize, queue_depth: usize) -> BatchLimits {
        BatchLimits {
            max_batch_size,
            max_batch_wait: Duration::from_millis(1),
            queue_depth,
        }
    }

    /// A batcher whose thread is not started, to look at the queue alone.
    fn idle(limits: BatchLimits) -> Batcher<NextByte> {
        Batcher {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    jobs: BTreeMap::new(),
                    next_seq: 0,
                    draining: false,
                    closed: false,
                }),
                wake: Condvar::new(),
                limits,
                metrics: MinerMetrics::new().unwrap(),
            }),
        }
    }

    #[test]
    fn a_full_queue_serves_callers_by_stake() {
        let batcher = idle(limits(2, 3));
        let mut low = batcher.submit(request(1), Rao(10)).unwrap();
        let _mid = batcher.submit(request(2), Rao(20)).unwrap();
        let _high = batcher.submit(request(3), Rao(30)).unwrap();
        // Full: equal or lower stake than the lowest waiting is refused...
        assert_eq!(
            batcher.submit(request(4), Rao(10)).err(),
            Some(RejectReason::Busy)
        );
        assert_eq!(
            batcher.submit(request(4), Rao(5)).err(),
            Some(RejectReason::Busy)
        );
        // ...more stake displaces the lowest, who is told it is busy.
        let _top = batcher.submit(request(5), Rao(40)).unwrap();
        assert_eq!(low.try_recv().unwrap(), Err(RejectReason::Busy));
        assert_eq!(batcher.depth(), 3);
        // Batches come highest stake first.
        let batch = batcher.shared.next_batch().unwrap();
        let firsts: Vec<u8> = batch.iter().map(|j| j.request.context()[0]).collect();
        assert_eq!(firsts, vec![5, 3]);
        let batch = batcher.shared.next_batch().unwrap();
        assert_eq!(batch[0].request.context()[0], 2);
    }

    #[test]
    fn equal_stakes_are_first_come_first_served() {
        let batcher = idle(limits(1, 8));
        for b in 0..4 {
            batcher.submit(request(b), Rao(1)).unwrap();
        }
        for b in 0..4 {
            let batch = batcher.shared.next_batch().unwrap();
            assert_eq!(batch[0].request.context()[0], b);
        }
    }

    #[tokio::test]
    async fn the_thread_answers_in_batches_and_drains_on_close() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let solver = Echo {
            batches: Arc::clone(&batches),
        };
        let limits = BatchLimits {
            max_batch_size: 4,
            // Long enough that all eight submits below land before the first batch closes.
            max_batch_wait: Duration::from_secs(5),
            queue_depth: 16,
        };
        let metrics = MinerMetrics::new().unwrap();
        let (batcher, handle) = Batcher::start(solver, limits, metrics.clone()).unwrap();
        let receivers: Vec<_> = (0..8u8)
            .map(|b| batcher.submit(request(b), Rao(1)).unwrap())
            .collect();
        for (b, rx) in receivers.into_iter().enumerate() {
            let answer = rx.await.unwrap().unwrap();
            assert_eq!(answer.as_slice(), &[b as f32]);
        }
        batcher.close();
        assert_eq!(
            batcher.submit(request(9), Rao(1)).err(),
            Some(RejectReason::Busy)
        );
        handle.join().unwrap();
        let sizes: Vec<usize> = batches.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4, 4]);
        assert_eq!(metrics.inferences(), 8);
    }
}
