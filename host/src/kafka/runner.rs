//! The Kafka loop: poll a batch, run it through the pipeline, produce its
//! outputs, mark its offsets processed, commit every `commit-interval` or
//! `commit-max-records`; on revocation the consumer context commits first.
//! Stops on the shutdown flag (SIGTERM) or, with `--stop-at-end`, once the
//! input as it was at start is committed; either way it commits before leaving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::Producer;

use super::KafkaRunError;
use super::clients::{consumer_config, max_message_bytes, producer_config};
use super::commit::{CommitCounters, Committer};
use super::progress::EndMarks;
use super::records::{DeliveryTracker, EnricherProducer, Topics, produce_batch, to_input};
use crate::bindings::InputRecord;
use crate::config::KafkaConfig;
use crate::pipeline::{Pipeline, Routed};

/// The consumer's context: commits (or aborts) before partitions are revoked.
#[derive(Default)]
pub struct GroupContext {
    committer: OnceLock<Arc<Committer>>,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(error, reason);
    }
}

/// librdkafka's global errors, minus the end-of-partition events we asked for.
pub fn log_client_error(error: KafkaError, reason: &str) {
    match error {
        KafkaError::PartitionEOF(_) => {}
        KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF) => {}
        e => tracing::warn!("kafka client: {e}: {reason}"),
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(
                    partitions = partitions.count(),
                    "partitions revoked: committing first"
                );
                if let Some(committer) = self.committer.get() {
                    committer.on_revoke(consumer);
                }
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions assigned")
            }
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
        }
    }
}

/// What the loop runs each batch through: the plugin pipeline, or (for the
/// benchmark's baseline) a plain copy.
pub trait BatchTransform {
    fn process(&mut self, batch: &[InputRecord]) -> Vec<Routed>;
    /// No transaction is open: the only moment the transform may change (plugin swap).
    fn at_commit_boundary(&mut self) {}
}

impl BatchTransform for Pipeline {
    fn process(&mut self, batch: &[InputRecord]) -> Vec<Routed> {
        Pipeline::process(self, batch)
    }

    fn at_commit_boundary(&mut self) {
        Pipeline::at_commit_boundary(self);
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

/// Names this run in commit-unit headers: the transactional id (or, in
/// at-least-once mode, the group), the process id and the start time, so units
/// of a restarted instance (or of another in the same process) never collide.
fn instance_tag(config: &KafkaConfig) -> String {
    let base = match config.delivery {
        crate::config::DeliveryMode::ExactlyOnce => config.transactional_id(),
        crate::config::DeliveryMode::AtLeastOnce => config.group_id.clone(),
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
    let started = Instant::now();
    let consumer: BaseConsumer<GroupContext> = consumer_config(config)
        .create_with_context(GroupContext::default())
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let producer: EnricherProducer = producer_config(config)
        .create_with_context(DeliveryTracker::default())
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let committer = Arc::new(Committer::new(config.delivery, Arc::new(producer)));
    let _ = consumer.context().committer.set(Arc::clone(&committer));
    committer.init()?;
    let input_topic = config.payment_events_topic.as_str();
    let mut end = if options.stop_at_end {
        Some(EndMarks::capture(&consumer, input_topic)?)
    } else {
        None
    };
    consumer
        .subscribe(&[input_topic])
        .map_err(|e| KafkaRunError::Client(format!("subscribe to {input_topic}: {e}")))?;
    tracing::info!(topic = input_topic, group = %config.group_id, delivery = ?config.delivery, "consuming");

    let topics = Topics {
        enriched: &config.enriched_payments_topic,
        failed: &config.failed_payments_topic,
    };
    let max_bytes = max_message_bytes(config);
    let mut report = KafkaRunReport::default();
    let mut batch: Vec<InputRecord> = Vec::with_capacity(options.batch_size);
    let mut positions: Vec<Position> = Vec::with_capacity(options.batch_size);
    let mut last_commit = Instant::now();
    let mut since_commit = 0usize;
    let mut seen_generation = committer.generation();
    let instance = instance_tag(config);
    while !shutdown.load(Ordering::Relaxed) {
        if !committer.in_transaction() {
            pipeline.at_commit_boundary();
        }
        let generation = committer.generation();
        let wait_until =
            (Instant::now() + Duration::from_millis(50)).min(last_commit + config.commit_interval);
        while batch.len() < options.batch_size {
            let timeout = if batch.is_empty() {
                wait_until.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match consumer.poll(timeout) {
                None => break,
                Some(Ok(msg)) => {
                    batch.push(to_input(&msg));
                    positions.push(Position {
                        partition: msg.partition(),
                        offset: msg.offset(),
                    });
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    if let (Some(end), Ok(position)) = (end.as_mut(), consumer.position())
                        && let Some(Some(at)) = position
                            .find_partition(input_topic, partition)
                            .map(|e| e.offset().to_raw())
                    {
                        end.saw_eof(partition, at);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!("consumer: {e}");
                    break;
                }
            }
            if committer.generation() != generation {
                batch.clear(); // revoked or rewound while polling: these will be read again
                positions.clear();
                break;
            }
        }
        if !batch.is_empty() {
            report
                .first_record_after
                .get_or_insert_with(|| started.elapsed());
            report.consumed += batch.len() as u64;
            committer.before_produce()?;
            let routed = pipeline.process(&batch);
            let seq = committer.next_batch();
            let unit = format!("{instance}/{}", committer.unit());
            match produce_batch(
                committer.producer(),
                &topics,
                &batch,
                routed,
                max_bytes,
                seq,
                &unit,
            ) {
                Ok(n) => {
                    report.produced += n;
                    for p in &positions {
                        committer.mark_processed(input_topic, p.partition, p.offset);
                    }
                    committer.seal_batch();
                    since_commit += batch.len();
                }
                Err(e) => {
                    if let Some((code, why)) = committer.producer().client().fatal_error() {
                        return Err(KafkaRunError::Fatal(format!("producer: {code:?} {why}")));
                    }
                    tracing::warn!("producing failed ({e}); abandoning the batch");
                    committer.abort(&consumer)?;
                }
            }
            batch.clear();
            positions.clear();
        }
        let due = since_commit >= config.commit_max_records
            || last_commit.elapsed() >= config.commit_interval;
        if due {
            if committer.has_pending() {
                committer.commit(&consumer)?;
                since_commit = 0;
            }
            last_commit = Instant::now();
            if committer.generation() != seen_generation {
                // Rewound or revoked: partitions are read again from their committed offsets.
                if let Some(end) = end.as_mut() {
                    end.forget_eofs();
                }
                seen_generation = committer.generation();
            }
            if let Some(end) = &end
                && end.reached(&consumer, !committer.has_pending())?
            {
                tracing::info!("input committed up to where it ended at start: stopping");
                break;
            }
        }
    }
    committer.commit_all(&consumer)?;
    committer
        .producer()
        .flush(Duration::from_secs(30))
        .map_err(|e| KafkaRunError::GaveUp(format!("flushing at shutdown: {e}")))?;
    report.commits = committer.counters();
    report.elapsed = started.elapsed();
    Ok(report)
}
