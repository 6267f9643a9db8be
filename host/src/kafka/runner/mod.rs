//! The Kafka loop, one small step each: poll a batch → process it → produce
//! its outputs → maybe commit (every `commit-interval` or
//! `commit-max-records`). On revocation the consumer context commits first
//! (`group`). Stops on the shutdown flag (SIGTERM) or, with `--stop-at-end`,
//! once the input as it was at start is committed; either way it commits
//! before leaving. The delivery mode decides what "commit" means.
//!
//! The loop reads one of two sources: the payment events (and, with late
//! claims on, the retry topic too: `late`, `held`), or for `redrive` the
//! failure records turned back into inputs (`redrive`). Broker faults
//! (`faults`): each iteration beats the heartbeat; a fatal producer is
//! recreated and the input rewound; at shutdown with the broker unreachable
//! nothing more is committed (those inputs are processed again).
//!
//! The loop's steps, one file each:
//! - `start`: the clients, the delivery mode and the subscription;
//! - `poll`: filling a batch (held retries, redrive, positions, the input's end);
//! - `produce`: sending the batch's outputs and marking its inputs processed;
//! - `commit`: the commit cadence and the `--stop-at-end` condition;
//! - `finish`: the last commit and flush at the stop, and the report;
//! - `source`: what the loop reads, and redrive's own state (reasons, records passed over, counts).
//!
//! This file holds the loop itself and the recovery from a failed step.

mod commit;
mod finish;
mod poll;
mod produce;
mod source;
mod start;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;

use super::KafkaRunError;
use super::delivery::{CommitCounters, Delivery};
use super::failure_source::RedriveCounts;
use super::faults::Faults;
use super::group::GroupContext;
use super::held::Held;
use super::late::LateClaims;
use super::progress::EndMarks;
use crate::bindings::InputRecord;
use crate::config::{KafkaConfig, RetrySchedule};
use crate::health::Health;
use crate::observe::{PipelineState, StreamMeter};
use crate::pipeline::{Pipeline, Routed};
use poll::Position;
pub(crate) use source::{RedriveSource, Source};

/// What the loop runs each batch through: the plugin pipeline, or (for the
/// benchmark's baseline) a plain copy.
pub trait BatchTransform {
    fn process(&mut self, batch: &[InputRecord]) -> Vec<Routed>;
    /// No transaction is open: the only moment the transform may change (plugin swap).
    fn at_commit_boundary(&mut self) {}
    /// Where the loop reports commits, lag and backpressure for `/metrics`.
    fn meter(&self) -> Option<Arc<StreamMeter>> {
        None
    }
}

impl BatchTransform for Pipeline {
    fn process(&mut self, batch: &[InputRecord]) -> Vec<Routed> {
        Pipeline::process(self, batch)
    }

    fn at_commit_boundary(&mut self) {
        Pipeline::at_commit_boundary(self);
    }

    fn meter(&self) -> Option<Arc<StreamMeter>> {
        Some(Arc::clone(Pipeline::meter(self)))
    }
}

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub batch_size: usize,
    pub stop_at_end: bool,
    /// Late claims: retry delays of CLAIM_NOT_FOUND payments (`lookup.retry-not-found`; empty: off).
    pub retry_not_found: RetrySchedule,
}

/// What a Kafka run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaRunReport {
    pub consumed: u64,
    pub produced: u64,
    pub commits: CommitCounters,
    pub elapsed: Duration,
    /// When the first record arrived, from the start (group join and assignment before it).
    pub first_record_after: Option<Duration>,
    /// Late claims: CLAIM_NOT_FOUND payments sent to the retry topic.
    pub retries_sent: u64,
    /// Late claims: retry records enriched again (when due).
    pub retries_taken: u64,
}

/// One run's clients, settings and progress.
struct Loop<'a> {
    consumer: BaseConsumer<GroupContext>,
    delivery: Arc<dyn Delivery<GroupContext>>,
    config: &'a KafkaConfig,
    options: RunOptions,
    source: Source,
    /// The topic read as input: the payment events, or the failed topic (redrive).
    input_topic: String,
    /// Retry partitions waiting for their head record.
    held: Held,
    held_generation: u64,
    /// Where the input ended at start (`--stop-at-end`).
    end: Option<EndMarks>,
    max_bytes: usize,
    /// Names this run in commit-unit headers.
    instance: String,
    batch: Vec<InputRecord>,
    positions: Vec<Position>,
    last_commit: Instant,
    since_commit: usize,
    seen_generation: u64,
    report: KafkaRunReport,
    started: Instant,
    faults: Faults,
    /// A batch was given up half-sent (shutdown while the producer queue was full).
    abandoned: bool,
    /// The last commit, or the last time nothing was pending.
    last_progress: Instant,
    meter: Arc<StreamMeter>,
    /// Missing input topics and foreign group members (its own thread).
    _group_watch: Option<super::group_watch::GroupWatch>,
}

/// Run until `shutdown` is set (or the end, with `stop_at_end`).
pub fn run(
    pipeline: &mut impl BatchTransform,
    config: &KafkaConfig,
    options: RunOptions,
    shutdown: &AtomicBool,
) -> Result<KafkaRunReport, KafkaRunError> {
    run_observed(pipeline, config, options, shutdown, &Health::default())
}

/// [`run`], publishing its heartbeat, assignment and broker state to `health`.
pub fn run_observed(
    pipeline: &mut impl BatchTransform,
    config: &KafkaConfig,
    options: RunOptions,
    shutdown: &AtomicBool,
    health: &Health,
) -> Result<KafkaRunReport, KafkaRunError> {
    let late = (!options.retry_not_found.is_off()).then(|| LateClaims {
        topic: config.retry_topic.clone(),
        schedule: options.retry_not_found.clone(),
    });
    let source = Source::Stream(late);
    run_source(pipeline, config, options, source, shutdown, health).map(|(report, _)| report)
}

/// Run the loop over `source`.
pub(crate) fn run_source(
    pipeline: &mut impl BatchTransform,
    config: &KafkaConfig,
    options: RunOptions,
    source: Source,
    shutdown: &AtomicBool,
    health: &Health,
) -> Result<(KafkaRunReport, RedriveCounts), KafkaRunError> {
    let meter = pipeline.meter().unwrap_or_default();
    let mut run = Loop::start(config, options, source, health, Arc::clone(&meter))?;
    // What the loop subscribed to (the input, and the retry topic with late claims on).
    let mut topics = vec![run.input_topic.clone()];
    if let Source::Stream(Some(late)) = &run.source {
        topics.push(late.topic.clone());
    }
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    meter.set_state(PipelineState::Running);
    while !shutdown.load(Ordering::Relaxed) {
        run.faults.tick(&run.consumer, &topics);
        if run.delivery.at_boundary() {
            pipeline.at_commit_boundary();
        }
        if let Err(e) = run.poll_batch() {
            run.recover(e, shutdown)?;
            continue;
        }
        if !run.batch.is_empty() {
            let mut routed = pipeline.process(&run.batch);
            run.name_tombstones(&mut routed);
            if let Err(e) = run.produce(routed, shutdown) {
                run.recover(e, shutdown)?;
                continue;
            }
        } else if !run.source.passed().is_empty()
            && let Err(e) = run.produce(Vec::new(), shutdown)
        {
            run.recover(e, shutdown)?;
            continue;
        }
        match run.maybe_commit() {
            Ok(true) => {
                tracing::info!("input committed up to where it ended at start: stopping");
                break;
            }
            Ok(false) => run.unstick(shutdown),
            Err(e) => run.recover(e, shutdown)?,
        }
    }
    meter.set_state(PipelineState::Draining);
    let report = run.finish();
    meter.set_state(PipelineState::Stopped);
    report
}

impl Loop<'_> {
    /// Forget the batch read (it is read again after the rewind).
    fn clear_batch(&mut self) {
        self.batch.clear();
        self.positions.clear();
        self.source.clear_batch();
    }

    /// Outputs pending for long without a commit while the broker answers:
    /// the producer is stuck; recreate it (see `faults`).
    fn unstick(&mut self, stop: &AtomicBool) {
        let pending = self.delivery.has_pending();
        let limit = self.config.delivery_timeout;
        self.faults
            .note_outputs(pending.then_some(self.last_progress), limit);
        if pending && self.faults.producer_stuck(self.last_progress) {
            let why = format!(
                "outputs not acknowledged for {:.0}s while the broker answers",
                self.last_progress.elapsed().as_secs_f64()
            );
            self.clear_batch();
            self.faults
                .recreate(&why, &self.delivery, &self.consumer, self.config, stop);
            self.last_progress = Instant::now();
            self.faults.note_outputs(None, limit);
        }
    }

    /// A step failed: recover a fatal producer (see `faults`) or stop with `error`.
    fn recover(&mut self, error: KafkaRunError, stop: &AtomicBool) -> Result<(), KafkaRunError> {
        self.clear_batch();
        self.faults
            .recover(error, &self.delivery, &self.consumer, self.config, stop)
    }
}
