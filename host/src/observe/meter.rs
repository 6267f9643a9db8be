//! [`StreamMeter`]: the one set of counters the stream keeps, as atomics it
//! updates without waiting (no lock it could block on, no allocation after a
//! status is first seen). Every view reads it: `/metrics` at each scrape, the
//! status line, the end-of-run summary and `--summary-json`
//! ([`crate::metrics::PipelineMetrics::read`]), so they cannot disagree.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use super::histogram::{AtomicHistogram, IO_BUCKETS, LATENCY_BUCKETS};

/// Distinct `enrichment_status` values counted per output; a plugin that
/// invents more shares the label `OTHER` (labels stay a bounded set).
const STATUS_SLOTS: usize = 32;
/// The label of statuses past [`STATUS_SLOTS`].
pub const OTHER_STATUS: &str = "OTHER";

/// The outputs records are routed to, as `/metrics` labels them.
pub const OUTPUTS: [&str; 2] = ["enriched", "failed"];

/// What the pipeline is doing, for `enricher_pipeline_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PipelineState {
    Starting = 0,
    Running = 1,
    /// Stopping: committing and flushing what is in flight.
    Draining = 2,
    /// The input ended (file mode) or the run stopped.
    Stopped = 3,
}

impl PipelineState {
    pub const ALL: [PipelineState; 4] = [
        PipelineState::Starting,
        PipelineState::Running,
        PipelineState::Draining,
        PipelineState::Stopped,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PipelineState::Starting => "starting",
            PipelineState::Running => "running",
            PipelineState::Draining => "draining",
            PipelineState::Stopped => "stopped",
        }
    }
}

/// Counters of one output: a slot per status, claimed on first sight.
#[derive(Debug)]
struct StatusCounts {
    names: [OnceLock<Box<str>>; STATUS_SLOTS],
    counts: [AtomicU64; STATUS_SLOTS],
    other: AtomicU64,
}

impl StatusCounts {
    fn new() -> Self {
        Self {
            names: std::array::from_fn(|_| OnceLock::new()),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            other: AtomicU64::new(0),
        }
    }

    /// Only the stream thread claims slots, so `set` never waits on another writer.
    fn add(&self, status: &str, n: u64) {
        for (name, count) in self.names.iter().zip(&self.counts) {
            match name.get() {
                Some(known) if &**known == status => {
                    count.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                Some(_) => {}
                None => {
                    if name.set(status.into()).is_ok() {
                        count.fetch_add(n, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
        self.other.fetch_add(n, Ordering::Relaxed);
    }

    fn read(&self, into: &mut Vec<(String, u64)>) {
        for (name, count) in self.names.iter().zip(&self.counts) {
            if let Some(name) = name.get() {
                into.push((name.to_string(), count.load(Ordering::Relaxed)));
            }
        }
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            into.push((OTHER_STATUS.to_owned(), other));
        }
    }
}

/// Consumer lag per `(topic, partition)`, as the consumer's statistics last
/// reported it.
pub type Lag = Vec<(String, i32, i64)>;

/// Lag reported longer ago than this is unknown (statistics come every second).
pub const LAG_STALE: Duration = Duration::from_secs(5);

/// Everything the stream path counts for `/metrics`.
#[derive(Debug)]
pub struct StreamMeter {
    pub records_in: AtomicU64,
    out: [StatusCounts; 2],
    pub plugin_calls: AtomicU64,
    pub plugin_traps: AtomicU64,
    pub invalid_outputs: AtomicU64,
    pub plugin_swaps: AtomicU64,
    /// Records that failed under a version failing its probation, run again
    /// through the previous version before their commit.
    pub rerun_records: AtomicU64,
    /// Enriched outputs marked `claim_stale` (served from an expired row while the store failed).
    pub stale_outputs: AtomicU64,
    /// Record timestamp (or, without one, its arrival) → its output routed.
    pub processing_latency: AtomicHistogram,
    /// Kafka mode: one commit (a transaction, or an offset commit).
    pub commit_duration: AtomicHistogram,
    pub commits: AtomicU64,
    /// Transactions aborted (or batches abandoned) and rewound.
    pub aborts: AtomicU64,
    /// Time spent waiting on a full producer queue.
    pub backpressure_ns: AtomicU64,
    /// The lag table and when it was reported (older than [`LAG_STALE`]: unknown).
    lag: Mutex<(Option<Instant>, Lag)>,
    /// What the status line adds about the consumer group (members that
    /// are not enricher hosts), set by the group watch.
    group_note: Mutex<Option<String>>,
    state: AtomicU8,
    /// When the meter (the pipeline) was made: rates are per second of this clock.
    pub started: Instant,
}

impl Default for StreamMeter {
    fn default() -> Self {
        Self {
            records_in: AtomicU64::new(0),
            out: [StatusCounts::new(), StatusCounts::new()],
            plugin_calls: AtomicU64::new(0),
            plugin_traps: AtomicU64::new(0),
            invalid_outputs: AtomicU64::new(0),
            plugin_swaps: AtomicU64::new(0),
            rerun_records: AtomicU64::new(0),
            stale_outputs: AtomicU64::new(0),
            processing_latency: AtomicHistogram::new(LATENCY_BUCKETS),
            commit_duration: AtomicHistogram::new(IO_BUCKETS),
            commits: AtomicU64::new(0),
            aborts: AtomicU64::new(0),
            backpressure_ns: AtomicU64::new(0),
            lag: Mutex::new((None, Vec::new())),
            group_note: Mutex::new(None),
            state: AtomicU8::new(PipelineState::Starting as u8),
            started: Instant::now(),
        }
    }
}

impl StreamMeter {
    /// Count `n` records routed to `enriched` (or `failed`) with `status`.
    pub fn count_out(&self, enriched: bool, status: &str, n: u64) {
        self.out[usize::from(!enriched)].add(status, n);
    }

    /// `(output, status, count)` of every status seen.
    pub fn records_out(&self) -> Vec<(&'static str, String, u64)> {
        let mut all = Vec::new();
        for (output, counts) in OUTPUTS.iter().zip(&self.out) {
            let mut seen = Vec::new();
            counts.read(&mut seen);
            all.extend(seen.into_iter().map(|(s, n)| (*output, s, n)));
        }
        all
    }

    pub fn add_backpressure(&self, waited: Duration) {
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.backpressure_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Replace the lag table, unless a scrape is reading it right now (then
    /// this report is skipped: the next one comes within seconds).
    pub fn set_lag(&self, lag: Lag) {
        let now = Some(Instant::now());
        match self.lag.try_lock() {
            Ok(mut table) => *table = (now, lag),
            Err(TryLockError::Poisoned(p)) => *p.into_inner() = (now, lag),
            Err(TryLockError::WouldBlock) => {}
        }
    }

    /// The lag per partition; empty (unknown) when none was reported within
    /// [`LAG_STALE`] (the stream waits on a silent broker, so its statistics stop).
    pub fn lag(&self) -> Lag {
        let table = self
            .lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match table.0 {
            Some(at) if at.elapsed() <= LAG_STALE => table.1.clone(),
            _ => Vec::new(),
        }
    }

    /// Set (or clear) what the status line says about the consumer group.
    pub fn set_group_note(&self, note: Option<String>) {
        *self
            .group_note
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = note;
    }

    pub fn group_note(&self) -> Option<String> {
        self.group_note
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn set_state(&self, state: PipelineState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> PipelineState {
        let now = self.state.load(Ordering::Relaxed);
        PipelineState::ALL
            .into_iter()
            .find(|s| *s as u8 == now)
            .unwrap_or(PipelineState::Starting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_counted_per_output_and_bounded() {
        let m = StreamMeter::default();
        m.count_out(true, "SUCCESS", 3);
        m.count_out(false, "CLAIM_NOT_FOUND", 1);
        m.count_out(true, "SUCCESS", 1);
        for i in 0..STATUS_SLOTS + 5 {
            m.count_out(false, &format!("S{i}"), 1);
        }
        let out = m.records_out();
        assert!(out.contains(&("enriched", "SUCCESS".into(), 4)));
        assert!(out.contains(&("failed", "CLAIM_NOT_FOUND".into(), 1)));
        // 31 slots left for S0..: the other 6 share OTHER.
        assert!(out.contains(&("failed", OTHER_STATUS.into(), 6)));
        assert_eq!(out.len(), 1 + STATUS_SLOTS + 1);
    }
}
