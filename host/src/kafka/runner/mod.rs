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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::Producer;

use super::KafkaRunError;
use super::broker_watch::BrokerWatch;
use super::clients::{consumer_config, max_message_bytes, producer_config};
use super::delivery::{CommitCounters, Delivery, Outcome, for_mode};
use super::failure_source::{Moved, RedriveCounts, RedriveFilter, Redriven, failure_to_input};
use super::faults::Faults;
use super::group::GroupContext;
use super::held::Held;
use super::late::{LateClaims, attempt_of, due_ms};
use super::progress::EndMarks;
use super::records::{DeliveryTracker, EnricherProducer, Target, Topics, produce_batch, to_input};
use super::topics::ensure_topic_like;
use crate::bindings::{InputRecord, Output};
use crate::clock::now_ms;
use crate::config::{DeliveryMode, KafkaConfig, RetrySchedule};
use crate::health::Health;
use crate::observe::{PipelineState, StreamMeter};
use crate::pipeline::{Pipeline, Routed};

/// How long an empty poll waits at most before the loop looks at commits again.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// How long the last flush may take at a shutdown that does not commit.
const QUICK_FLUSH: Duration = Duration::from_secs(1);
/// How long outputs may take to be acknowledged at a normal shutdown.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

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

/// What the loop reads.
pub(crate) enum Source {
    /// The payment events, and with late claims on the retry topic as well.
    Stream(Option<LateClaims>),
    /// The failed topic, failure records turned back into inputs (`redrive`).
    Redrive(RedriveFilter),
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

/// Where a polled record came from (parallel to the batch of inputs).
struct Position {
    /// From the retry topic (else from the input topic).
    retry: bool,
    partition: i32,
    offset: i64,
    /// Which retry it is (0: a first try).
    attempt: u32,
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
    /// Redrive: the reason each input of the batch had failed for (parallel to `batch`).
    reasons: Vec<String>,
    /// Redrive: (partition, offset) of records read but not re-driven (filtered out, unusable).
    passed: Vec<(i32, i64)>,
    redrive: RedriveCounts,
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
}

/// Names this run in commit-unit headers: the transactional id (or, in
/// at-least-once mode, the group), the process id and the start time, so units
/// of a restarted instance (or of another in the same process) never collide.
fn instance_tag(config: &KafkaConfig) -> String {
    let base = match config.delivery {
        DeliveryMode::ExactlyOnce => config.transactional_id(),
        DeliveryMode::AtLeastOnce => config.group_id.clone(),
    };
    let started_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() % 1_000_000_000);
    format!("{base}-{}-{started_us}", std::process::id())
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
            let routed = pipeline.process(&run.batch);
            if let Err(e) = run.produce(routed, shutdown) {
                run.recover(e, shutdown)?;
                continue;
            }
        } else if !run.passed.is_empty()
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

impl<'a> Loop<'a> {
    /// Create the clients, prepare the delivery mode and subscribe.
    fn start(
        config: &'a KafkaConfig,
        options: RunOptions,
        source: Source,
        health: &Health,
        meter: Arc<StreamMeter>,
    ) -> Result<Self, KafkaRunError> {
        let started = Instant::now();
        let consumer: BaseConsumer<GroupContext> = consumer_config(config)
            .create_with_context(GroupContext::default())
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let watch = Arc::new(BrokerWatch::new(
            &config.bootstrap_servers,
            config.stall_warning,
            health.clone(),
        ));
        consumer.context().watch_brokers(Arc::clone(&watch));
        let producer: EnricherProducer = producer_config(config)
            .create_with_context(DeliveryTracker::default())
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let delivery = for_mode(config.delivery, Arc::new(producer), Arc::clone(&watch));
        consumer.context().attach(Arc::clone(&delivery));
        consumer.context().report_lag_to(Arc::clone(&meter));
        delivery.init()?;
        let input_topic = match &source {
            Source::Stream(_) => config.payment_events_topic.clone(),
            Source::Redrive(_) => config.failed_payments_topic.clone(),
        };
        let end = if options.stop_at_end {
            Some(EndMarks::capture(config, &input_topic)?)
        } else {
            None
        };
        let mut topics = vec![input_topic.as_str()];
        if let Source::Stream(Some(late)) = &source {
            ensure_topic_like(&consumer, config, &late.topic, &input_topic)?;
            topics.push(late.topic.as_str());
        }
        consumer
            .subscribe(&topics)
            .map_err(|e| KafkaRunError::Client(format!("subscribe to {topics:?}: {e}")))?;
        tracing::info!(topics = ?topics, group = %config.group_id, delivery = ?config.delivery, "consuming");
        let seen_generation = delivery.generation();
        let batch_size = options.batch_size;
        Ok(Self {
            consumer,
            delivery,
            config,
            options,
            source,
            input_topic,
            held: Held::default(),
            held_generation: seen_generation,
            reasons: Vec::new(),
            passed: Vec::new(),
            redrive: RedriveCounts::default(),
            end,
            max_bytes: max_message_bytes(config),
            instance: instance_tag(config),
            batch: Vec::with_capacity(batch_size),
            positions: Vec::with_capacity(batch_size),
            last_commit: Instant::now(),
            since_commit: 0,
            seen_generation,
            report: KafkaRunReport::default(),
            started,
            faults: Faults::new(health.clone(), watch),
            abandoned: false,
            last_progress: Instant::now(),
            meter,
        })
    }

    /// Fill the batch: wait for a first record (not past the next commit
    /// time), then take what is already there. A revocation or rewind while
    /// polling empties it (those records will be read again).
    fn poll_batch(&mut self) -> Result<(), KafkaRunError> {
        self.batch.clear();
        self.positions.clear();
        self.reasons.clear();
        self.passed.clear();
        let generation = self.delivery.generation();
        if generation != self.held_generation {
            // Rewound or revoked: positions were reset; what waits is decided again.
            self.held.release_all(&self.consumer);
            self.held_generation = generation;
        } else if self.held.len() > 0 {
            self.held.release_due(&self.consumer, now_ms());
        }
        let wait_until =
            (Instant::now() + POLL_WAIT).min(self.last_commit + self.config.commit_interval);
        while self.batch.len() < self.options.batch_size {
            let timeout = if self.batch.is_empty() {
                wait_until.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(msg)) => {
                    let retry = msg.topic() != self.input_topic;
                    let (partition, offset) = (msg.partition(), msg.offset());
                    let input = to_input(&msg);
                    drop(msg);
                    self.take(retry, partition, offset, input)?;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => self.saw_eof(partition),
                Some(Err(e)) => {
                    tracing::warn!("consumer: {e}");
                    break;
                }
            }
            if self.delivery.generation() != generation {
                self.batch.clear();
                self.positions.clear();
                self.reasons.clear();
                self.passed.clear();
                break;
            }
        }
        if !self.batch.is_empty() || !self.passed.is_empty() {
            let started = self.started;
            self.report
                .first_record_after
                .get_or_insert_with(|| started.elapsed());
            self.report.consumed += (self.batch.len() + self.passed.len()) as u64;
            // Exactly-once: the transaction opens before the plugin runs.
            self.delivery.before_produce()?;
        }
        Ok(())
    }

    /// One polled message: into the batch, held back (a retry not yet due), or
    /// passed over (redrive: filtered out or not re-drivable).
    fn take(
        &mut self,
        retry: bool,
        partition: i32,
        offset: i64,
        input: InputRecord,
    ) -> Result<(), KafkaRunError> {
        let retry_topic = self.config.retry_topic.as_str();
        if retry && self.held.is_held(retry_topic, partition) {
            // Read before the partition was held: it will be read again.
            return Ok(());
        }
        let position = |attempt| Position {
            retry,
            partition,
            offset,
            attempt,
        };
        match &self.source {
            Source::Stream(_) if retry => {
                let due = due_ms(&input.headers);
                if due > now_ms() {
                    return self
                        .held
                        .hold(&self.consumer, retry_topic, partition, offset, due);
                }
                self.report.retries_taken += 1;
                self.positions.push(position(attempt_of(&input)));
                self.batch.push(input);
            }
            Source::Stream(_) => {
                self.positions.push(position(0));
                self.batch.push(input);
            }
            Source::Redrive(filter) => match failure_to_input(input, filter) {
                Redriven::Input { input, reason } => {
                    self.positions.push(position(0));
                    self.batch.push(input);
                    self.reasons.push(reason);
                }
                Redriven::PassedOver => {
                    self.redrive.passed_over += 1;
                    self.passed.push((partition, offset));
                }
                Redriven::Unusable(why) => {
                    *self.redrive.not_redrivable.entry(why).or_default() += 1;
                    self.passed.push((partition, offset));
                }
            },
        }
        Ok(())
    }

    /// Where each routed record goes: late claims send CLAIM_NOT_FOUND to the retry topic.
    fn targets(&self, routed: Vec<Routed>) -> Vec<(Target, Routed)> {
        match &self.source {
            Source::Stream(Some(late)) => {
                let attempts: Vec<u32> = self.positions.iter().map(|p| p.attempt).collect();
                late.route(&self.batch, &attempts, routed, now_ms())
            }
            _ => routed.into_iter().map(|r| (Target::of(&r), r)).collect(),
        }
    }

    /// `--stop-at-end`: a partition's end was reached at the consumer's position.
    fn saw_eof(&mut self, partition: i32) {
        let topic = self.input_topic.as_str();
        if let (Some(end), Ok(position)) = (self.end.as_mut(), self.consumer.position())
            && let Some(Some(at)) = position
                .find_partition(topic, partition)
                .map(|e| e.offset().to_raw())
        {
            end.saw_eof(partition, at);
        }
    }

    /// Send the batch's outputs and mark its inputs processed; a failed send
    /// abandons the batch (abort and rewind), a fatal producer stops the run.
    fn produce(&mut self, routed: Vec<Routed>, stop: &AtomicBool) -> Result<(), KafkaRunError> {
        let routed = self.targets(routed);
        let retries = routed.iter().filter(|(t, _)| *t == Target::Retry).count() as u64;
        let topics = Topics {
            enriched: &self.config.enriched_payments_topic,
            failed: &self.config.failed_payments_topic,
            retry: &self.config.retry_topic,
        };
        let seq = self.delivery.next_batch();
        let unit = format!("{}/{}", self.instance, self.delivery.unit());
        let producer = self.delivery.producer();
        let redriven = redriven_counts(&self.reasons, &routed);
        let health = self.faults.health().clone();
        let mut keep_waiting = || {
            health.beat();
            !stop.load(Ordering::Relaxed)
        };
        let sent = produce_batch(
            &producer,
            &topics,
            &self.batch,
            routed,
            self.max_bytes,
            seq,
            &unit,
            &mut keep_waiting,
        );
        let blocked = producer.context().blocked_ns.load(Ordering::Relaxed);
        self.meter.backpressure_ns.store(blocked, Ordering::Relaxed);
        match sent {
            Ok(n) => {
                self.report.produced += n;
                self.report.retries_sent += retries;
                for (reason, m) in redriven {
                    let moved = self.redrive.by_reason.entry(reason).or_default();
                    moved.redriven += m.redriven;
                    moved.enriched += m.enriched;
                    moved.failed_again += m.failed_again;
                }
                // Once per partition and batch (not per record: each mark takes a lock).
                let passed = self
                    .passed
                    .iter()
                    .map(|&(partition, offset)| (false, partition, offset));
                let read = self
                    .positions
                    .iter()
                    .map(|p| (p.retry, p.partition, p.offset));
                for (retry, partition, offset) in last_per_partition(read.chain(passed)) {
                    let topic = if retry {
                        self.config.retry_topic.as_str()
                    } else {
                        self.input_topic.as_str()
                    };
                    self.delivery.mark_processed(topic, partition, offset);
                }
                self.delivery.seal_batch();
                self.since_commit += self.batch.len() + self.passed.len();
                Ok(())
            }
            Err(KafkaError::Canceled) => {
                // Stopping while the broker makes no room: not sealed, not committed.
                self.abandoned = true;
                Ok(())
            }
            Err(e) => {
                if let Some((code, why)) = producer.client().fatal_error() {
                    return Err(KafkaRunError::Fatal(format!("producer: {code:?} {why}")));
                }
                tracing::warn!("producing failed ({e}); abandoning the batch");
                let aborted = self.delivery.abort(&self.consumer);
                self.publish_commits();
                aborted
            }
        }
    }

    /// Commit when due; returns whether `--stop-at-end` says the run is done.
    fn maybe_commit(&mut self) -> Result<bool, KafkaRunError> {
        let due = self.since_commit >= self.config.commit_max_records
            || self.last_commit.elapsed() >= self.config.commit_interval;
        if !due {
            return Ok(false);
        }
        if self.delivery.has_pending() {
            let started = Instant::now();
            let committed = self.delivery.commit(&self.consumer);
            self.meter.commit_duration.observe(started.elapsed());
            self.publish_commits();
            if committed? == Outcome::Committed {
                self.last_progress = Instant::now();
            }
            self.since_commit = 0;
        } else {
            self.last_progress = Instant::now();
        }
        self.last_commit = Instant::now();
        let generation = self.delivery.generation();
        if generation != self.seen_generation {
            // Rewound or revoked: partitions are read again from their committed offsets.
            if let Some(end) = self.end.as_mut() {
                end.forget_eofs();
            }
            self.seen_generation = generation;
        }
        match &self.end {
            Some(end) => end.reached(&self.consumer, !self.delivery.has_pending()),
            None => Ok(false),
        }
    }

    /// Mirror the delivery mode's commit counters into the meter.
    fn publish_commits(&self) {
        let counters = self.delivery.counters();
        let meter = &self.meter;
        meter.commits.store(counters.commits, Ordering::Relaxed);
        meter.aborts.store(counters.rewinds, Ordering::Relaxed);
    }

    /// Forget the batch read (it is read again after the rewind).
    fn clear_batch(&mut self) {
        self.batch.clear();
        self.positions.clear();
        self.reasons.clear();
        self.passed.clear();
    }

    /// Outputs pending for long without a commit while the broker answers:
    /// the producer is stuck; recreate it (see `faults`).
    fn unstick(&mut self, stop: &AtomicBool) {
        if self.delivery.has_pending()
            && self
                .faults
                .producer_stuck(self.last_progress, self.config.stall_warning)
        {
            let why = format!(
                "outputs not acknowledged for {:.0}s while the broker answers",
                self.last_progress.elapsed().as_secs_f64()
            );
            self.clear_batch();
            self.faults
                .recreate(&why, &self.delivery, &self.consumer, self.config, stop);
            self.last_progress = Instant::now();
        }
    }

    /// A step failed: recover a fatal producer (see `faults`) or stop with `error`.
    fn recover(&mut self, error: KafkaRunError, stop: &AtomicBool) -> Result<(), KafkaRunError> {
        self.clear_batch();
        self.faults
            .recover(error, &self.delivery, &self.consumer, self.config, stop)
    }

    /// Commit everything, flush, and report. With the broker unreachable, a
    /// fatal producer or a batch given up half-sent, nothing more is
    /// committed (those inputs are processed again after a restart): a
    /// shutdown does not wait for a broker that is not there.
    fn finish(mut self) -> Result<(KafkaRunReport, RedriveCounts), KafkaRunError> {
        let producer = self.delivery.producer();
        let why_not = if self.abandoned {
            Some("a batch was given up half-sent")
        } else if !self.faults.broker_reachable() {
            Some("the broker is unreachable")
        } else if producer.client().fatal_error().is_some() {
            Some("the producer is fatal")
        } else {
            None
        };
        if let Some(why) = why_not {
            tracing::warn!(
                "stopping without a last commit ({why}): uncommitted inputs are processed again after a restart"
            );
            let _ = producer.flush(QUICK_FLUSH);
            self.report.commits = self.delivery.counters();
            self.report.elapsed = self.started.elapsed();
            return Ok((self.report, self.redrive));
        }
        // Outputs not acknowledged within the grace are not committed: the
        // stop does not wait out a broker that does not answer.
        if let Err(e) = producer.flush(SHUTDOWN_FLUSH) {
            tracing::warn!(
                "outputs not acknowledged within {SHUTDOWN_FLUSH:?} at shutdown ({e}): \
                 their inputs are not committed and are processed again after a restart"
            );
            self.report.commits = self.delivery.counters();
            self.report.elapsed = self.started.elapsed();
            return Ok((self.report, self.redrive));
        }
        let started = Instant::now();
        let committed = self.delivery.commit_all(&self.consumer);
        if self.delivery.counters().commits > self.meter.commits.load(Ordering::Relaxed) {
            self.meter.commit_duration.observe(started.elapsed());
        }
        self.publish_commits();
        committed?;
        producer
            .flush(Duration::from_secs(30))
            .map_err(|e| KafkaRunError::GaveUp(format!("flushing at shutdown: {e}")))?;
        self.report.commits = self.delivery.counters();
        self.report.elapsed = self.started.elapsed();
        Ok((self.report, self.redrive))
    }
}

/// The highest offset read per (retry topic?, partition): what a batch marks processed.
fn last_per_partition(read: impl Iterator<Item = (bool, i32, i64)>) -> Vec<(bool, i32, i64)> {
    let mut last: Vec<(bool, i32, i64)> = Vec::new();
    for (retry, partition, offset) in read {
        match last
            .iter_mut()
            .find(|(r, p, _)| *r == retry && *p == partition)
        {
            Some(entry) => entry.2 = entry.2.max(offset),
            None => last.push((retry, partition, offset)),
        }
    }
    last
}

/// Redrive: a batch's outcomes by the reason each input had failed for.
fn redriven_counts(reasons: &[String], routed: &[(Target, Routed)]) -> BTreeMap<String, Moved> {
    let mut counts: BTreeMap<String, Moved> = BTreeMap::new();
    for reason in reasons {
        counts.entry(reason.clone()).or_default().redriven += 1;
    }
    for (_, r) in routed {
        if let Some(reason) = reasons.get(r.input_index) {
            let moved = counts.entry(reason.clone()).or_default();
            match r.output {
                Output::Enriched => moved.enriched += 1,
                Output::Failed => moved.failed_again += 1,
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::last_per_partition;

    #[test]
    fn a_batch_marks_each_partition_once_at_its_highest_offset() {
        let read = [
            (false, 0, 10),
            (false, 1, 4),
            (false, 0, 12),
            (true, 0, 3),
            (false, 0, 11),
            (true, 0, 2),
        ];
        let mut last = last_per_partition(read.into_iter());
        last.sort();
        assert_eq!(last, vec![(false, 0, 12), (false, 1, 4), (true, 0, 3)]);
    }
}
