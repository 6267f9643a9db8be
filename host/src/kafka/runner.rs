//! The Kafka loop, one small step each: poll a batch → process it → produce
//! its outputs → maybe commit (every `commit-interval` or
//! `commit-max-records`). On revocation the consumer context commits first
//! (`group`). Stops on the shutdown flag (SIGTERM) or, with `--stop-at-end`,
//! once the input as it was at start is committed; either way it commits
//! before leaving. The delivery mode decides what "commit" means.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::Producer;

use super::KafkaRunError;
use super::clients::{consumer_config, max_message_bytes, producer_config};
use super::delivery::{CommitCounters, Delivery, for_mode};
use super::group::GroupContext;
use super::progress::EndMarks;
use super::records::{DeliveryTracker, EnricherProducer, Topics, produce_batch, to_input};
use crate::bindings::InputRecord;
use crate::config::{DeliveryMode, KafkaConfig};
use crate::observe::{PipelineState, StreamMeter};
use crate::pipeline::{Pipeline, Routed};

/// How long an empty poll waits at most before the loop looks at commits again.
const POLL_WAIT: Duration = Duration::from_millis(50);

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
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub batch_size: usize,
    pub stop_at_end: bool,
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
}

/// Where a polled record came from (parallel to the batch of inputs).
struct Position {
    partition: i32,
    offset: i64,
}

/// One run's clients, settings and progress.
struct Loop<'a> {
    consumer: BaseConsumer<GroupContext>,
    delivery: Arc<dyn Delivery<GroupContext>>,
    config: &'a KafkaConfig,
    options: RunOptions,
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
    let meter = pipeline.meter().unwrap_or_default();
    let mut run = Loop::start(config, options, Arc::clone(&meter))?;
    meter.set_state(PipelineState::Running);
    while !shutdown.load(Ordering::Relaxed) {
        if run.delivery.at_boundary() {
            pipeline.at_commit_boundary();
        }
        run.poll_batch()?;
        if !run.batch.is_empty() {
            let routed = pipeline.process(&run.batch);
            run.produce(routed)?;
        }
        if run.maybe_commit()? {
            tracing::info!("input committed up to where it ended at start: stopping");
            break;
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
        meter: Arc<StreamMeter>,
    ) -> Result<Self, KafkaRunError> {
        let started = Instant::now();
        let consumer: BaseConsumer<GroupContext> = consumer_config(config)
            .create_with_context(GroupContext::default())
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let producer: EnricherProducer = producer_config(config)
            .create_with_context(DeliveryTracker::default())
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let delivery = for_mode(config.delivery, Arc::new(producer));
        consumer.context().attach(Arc::clone(&delivery));
        consumer.context().report_lag_to(Arc::clone(&meter));
        delivery.init()?;
        let input_topic = config.payment_events_topic.as_str();
        let end = if options.stop_at_end {
            Some(EndMarks::capture(&consumer, input_topic)?)
        } else {
            None
        };
        consumer
            .subscribe(&[input_topic])
            .map_err(|e| KafkaRunError::Client(format!("subscribe to {input_topic}: {e}")))?;
        tracing::info!(topic = input_topic, group = %config.group_id, delivery = ?config.delivery, "consuming");
        let seen_generation = delivery.generation();
        Ok(Self {
            consumer,
            delivery,
            config,
            options,
            end,
            max_bytes: max_message_bytes(config),
            instance: instance_tag(config),
            batch: Vec::with_capacity(options.batch_size),
            positions: Vec::with_capacity(options.batch_size),
            last_commit: Instant::now(),
            since_commit: 0,
            seen_generation,
            report: KafkaRunReport::default(),
            started,
            meter,
        })
    }

    /// Fill the batch: wait for a first record (not past the next commit
    /// time), then take what is already there. A revocation or rewind while
    /// polling empties it (those records will be read again).
    fn poll_batch(&mut self) -> Result<(), KafkaRunError> {
        self.batch.clear();
        self.positions.clear();
        let generation = self.delivery.generation();
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
                    self.batch.push(to_input(&msg));
                    self.positions.push(Position {
                        partition: msg.partition(),
                        offset: msg.offset(),
                    });
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
                break;
            }
        }
        if !self.batch.is_empty() {
            let started = self.started;
            self.report
                .first_record_after
                .get_or_insert_with(|| started.elapsed());
            self.report.consumed += self.batch.len() as u64;
            // Exactly-once: the transaction opens before the plugin runs.
            self.delivery.before_produce()?;
        }
        Ok(())
    }

    /// `--stop-at-end`: a partition's end was reached at the consumer's position.
    fn saw_eof(&mut self, partition: i32) {
        let topic = self.config.payment_events_topic.as_str();
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
    fn produce(&mut self, routed: Vec<Routed>) -> Result<(), KafkaRunError> {
        let topics = Topics {
            enriched: &self.config.enriched_payments_topic,
            failed: &self.config.failed_payments_topic,
        };
        let seq = self.delivery.next_batch();
        let unit = format!("{}/{}", self.instance, self.delivery.unit());
        let producer = self.delivery.producer();
        let sent = produce_batch(
            producer,
            &topics,
            &self.batch,
            routed,
            self.max_bytes,
            seq,
            &unit,
        );
        let blocked = producer.context().blocked_ns.load(Ordering::Relaxed);
        self.meter.backpressure_ns.store(blocked, Ordering::Relaxed);
        match sent {
            Ok(n) => {
                self.report.produced += n;
                let topic = self.config.payment_events_topic.as_str();
                for p in &self.positions {
                    self.delivery.mark_processed(topic, p.partition, p.offset);
                }
                self.delivery.seal_batch();
                self.since_commit += self.batch.len();
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
            committed?;
            self.since_commit = 0;
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

    /// Commit everything, flush, and report.
    fn finish(mut self) -> Result<KafkaRunReport, KafkaRunError> {
        let started = Instant::now();
        let committed = self.delivery.commit_all(&self.consumer);
        if self.delivery.counters().commits > self.meter.commits.load(Ordering::Relaxed) {
            self.meter.commit_duration.observe(started.elapsed());
        }
        self.publish_commits();
        committed?;
        self.delivery
            .producer()
            .flush(Duration::from_secs(30))
            .map_err(|e| KafkaRunError::GaveUp(format!("flushing at shutdown: {e}")))?;
        self.report.commits = self.delivery.counters();
        self.report.elapsed = self.started.elapsed();
        Ok(self.report)
    }
}
