//! Going to the store with a time budget: the store runs on its own worker
//! thread, so a slow query cannot hold a batch past the lookup timeout (the
//! query is interrupted and the ids answer DB_TIMEOUT); transient failures are
//! retried with exponential backoff and jitter, then answer DB_ERROR.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ClaimRow;
use super::store::{ClaimsStore, Interrupter};
use crate::error::StoreError;
use crate::observe::{AtomicHistogram, IO_BUCKETS};

/// Why a fetch gave no rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The store failed (after retries, or for good): DB_ERROR.
    Unavailable(String),
    /// The budget ran out while the store was working: DB_TIMEOUT.
    Timeout(String),
}

/// Timeout and retry settings of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Budget for one fetch, retries included.
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

/// Counters of the store side, all since start.
#[derive(Debug)]
pub struct FetchCounters {
    pub queries: AtomicU64,
    pub retries: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    /// Each attempt, from sending it to the worker to its answer (or giving up).
    pub query_duration: AtomicHistogram,
}

impl Default for FetchCounters {
    fn default() -> Self {
        Self {
            queries: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            query_duration: AtomicHistogram::new(IO_BUCKETS),
        }
    }
}

type Rows = Vec<(String, ClaimRow)>;

enum Request {
    Some(Vec<String>),
    All,
}

struct Job {
    request: Request,
    /// A job whose caller has given up is skipped, not run.
    deadline: Instant,
    reply: mpsc::SyncSender<Result<Rows, StoreError>>,
}

/// The store on its worker thread, plus the retry loop.
pub struct Fetcher {
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    interrupter: Option<Interrupter>,
    policy: RetryPolicy,
    pub counters: FetchCounters,
}

impl Fetcher {
    pub fn spawn(store: Box<dyn ClaimsStore>, policy: RetryPolicy) -> Self {
        let interrupter = store.interrupter();
        let (jobs, queue) = mpsc::channel::<Job>();
        let worker = std::thread::Builder::new()
            .name("claims-store".into())
            .spawn(move || run_worker(store, queue))
            .ok();
        Self {
            jobs: worker.as_ref().map(|_| jobs),
            worker,
            interrupter,
            policy,
            counters: FetchCounters::default(),
        }
    }

    /// Rows for those of `ids` that exist.
    pub fn fetch(&self, ids: Vec<String>) -> Result<Rows, FetchError> {
        self.with_retries(self.policy.timeout, || Request::Some(ids.clone()))
    }

    /// Every row, with `budget` instead of the lookup timeout (a full load is long).
    pub fn fetch_all(&self, budget: Duration) -> Result<Rows, FetchError> {
        self.with_retries(budget, || Request::All)
    }

    fn with_retries(
        &self,
        budget: Duration,
        request: impl Fn() -> Request,
    ) -> Result<Rows, FetchError> {
        let deadline = Instant::now() + budget;
        let mut attempt = 0u32;
        loop {
            self.counters.queries.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let answer = self.run_once(request(), deadline);
            self.counters.query_duration.observe(started.elapsed());
            let error = match answer {
                Ok(rows) => return Ok(rows),
                Err(AttemptError::TimedOut) => {
                    self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(FetchError::Timeout(format!("no answer within {budget:?}")));
                }
                Err(AttemptError::Store(e)) => e,
            };
            let retriable = error.is_retriable() || matches!(error, StoreError::Interrupted(_));
            if !retriable || attempt >= self.policy.max_retries {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                let tries = attempt + 1;
                return Err(FetchError::Unavailable(format!(
                    "{error} (after {tries} attempt(s))"
                )));
            }
            let pause = self.backoff(attempt);
            if Instant::now() + pause >= deadline {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(FetchError::Unavailable(format!(
                    "{error} (gave up after {} attempt(s): no time left in {budget:?})",
                    attempt + 1
                )));
            }
            std::thread::sleep(pause);
            attempt += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn run_once(&self, request: Request, deadline: Instant) -> Result<Rows, AttemptError> {
        let Some(jobs) = &self.jobs else {
            return Err(AttemptError::Store(StoreError::Permanent(
                "the store's worker thread could not start".into(),
            )));
        };
        let (reply, answer) = mpsc::sync_channel(1);
        jobs.send(Job {
            request,
            deadline,
            reply,
        })
        .map_err(|_| {
            AttemptError::Store(StoreError::Permanent(
                "the store's worker thread has stopped".into(),
            ))
        })?;
        let wait = deadline.saturating_duration_since(Instant::now());
        match answer.recv_timeout(wait) {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(StoreError::Interrupted(_))) if Instant::now() >= deadline => {
                Err(AttemptError::TimedOut)
            }
            Ok(Err(e)) => Err(AttemptError::Store(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(interrupt) = &self.interrupter {
                    interrupt();
                }
                Err(AttemptError::TimedOut)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(AttemptError::Store(
                StoreError::Permanent("the store's worker thread stopped while answering".into()),
            )),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        backoff(&self.policy, attempt)
    }
}

/// `min(backoff * 2^attempt, backoff_max)`, scaled by a random factor in
/// [0.5, 1), so that hosts that failed together do not retry together.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let base = policy
        .backoff
        .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
        .min(policy.backoff_max);
    // fastrand's thread-local generator, seeded at random per thread.
    let factor = 0.5 + fastrand::f64() / 2.0;
    base.mul_f64(factor)
}

enum AttemptError {
    TimedOut,
    Store(StoreError),
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.jobs = None; // closes the queue: the worker ends after its current job
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn run_worker(mut store: Box<dyn ClaimsStore>, queue: mpsc::Receiver<Job>) {
    for job in queue {
        if Instant::now() >= job.deadline {
            continue; // the caller has given up; its reply channel is gone
        }
        let result = match &job.request {
            Request::Some(ids) => store.fetch(ids),
            Request::All => store.fetch_all(),
        };
        let _ = job.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_pauses_double_up_to_the_cap_and_spread_over_the_upper_half() {
        let policy = RetryPolicy {
            timeout: Duration::from_secs(10),
            max_retries: 5,
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1_000),
        };
        for (attempt, base_ms) in [
            (0, 100.0),
            (1, 200.0),
            (3, 800.0),
            (4, 1_000.0),
            (40, 1_000.0),
        ] {
            let samples: Vec<f64> = (0..4_000)
                .map(|_| backoff(&policy, attempt).as_secs_f64() * 1_000.0 / base_ms)
                .collect();
            // Every pause in [0.5, 1) of its base.
            assert!(
                samples.iter().all(|f| (0.5..1.0).contains(f)),
                "attempt {attempt}"
            );
            // Uniform over it: the mean near 0.75 (its standard error is
            // ~0.0023 for 4,000 draws, so 0.02 is ~9 of them), and each
            // quarter of the range holds about a quarter of the draws.
            let mean = samples.iter().sum::<f64>() / samples.len() as f64;
            assert!((mean - 0.75).abs() < 0.02, "attempt {attempt}: mean {mean}");
            for quarter in 0..4 {
                let low = 0.5 + f64::from(quarter) * 0.125;
                let share = samples
                    .iter()
                    .filter(|f| (low..low + 0.125).contains(*f))
                    .count() as f64
                    / samples.len() as f64;
                assert!(
                    (share - 0.25).abs() < 0.05,
                    "attempt {attempt}, quarter {quarter}: {share}"
                );
            }
        }
    }
}
