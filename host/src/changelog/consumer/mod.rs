//! The `claims-apply` thread: reads the claims changelog from the offsets
//! stored in this host's DuckDB file (partitions assigned by hand: no
//! consumer group, no offsets in Kafka), applies what it read in batches
//! (`apply`), and keeps the applied lag up to date. A batch that fails to
//! apply is tried again (nothing is skipped). Records are ours or Debezium's
//! change events (`claims.changelog-format`); a record that is no valid change
//! is logged with its partition and offset, then by `claims.bad-change`
//! counted and passed over (`skip`, the default), or the thread applies what
//! came before it and stops there until a restart (`stop`): never half.
//! `lag`: the applied lag, and a topic that vanished (a broker restarted
//! without its data) recreated and read again from its start.

mod lag;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::apply::{Batch, ClaimsWriter};
use super::{codec, debezium};
use crate::config::{BadChange, ChangelogFormat, ClaimsConfig, KafkaConfig};
use crate::kafka::{KafkaRunError, partition_watermarks};
use crate::lookup::{ChangelogProgress, ClaimChange, ClaimsLookup};

/// Records applied in one DuckDB transaction at most.
const MAX_BATCH: usize = 5000;
/// How long the thread waits for a first record before looking at the lag again.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// How often the topic's end is asked for (the lag).
const LAG_EVERY: Duration = Duration::from_secs(1);
/// Pause before trying a batch that failed to apply again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The running apply thread. Dropping it stops it (after its current batch).
pub struct ChangelogApplier {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<ChangelogProgress>,
}

/// The reader's settings: any user key, then ours (read committed records, no group commits).
fn consumer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = crate::kafka::client_config(kafka);
    c.set("group.id", format!("{}-claims-changelog", kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    if !kafka.properties.contains_key("fetch.wait.max.ms") {
        c.set("fetch.wait.max.ms", "20");
    }
    c
}

/// Whether `topic` exists on the broker (a changelog that was never created is
/// not read: the host then serves the claims its file holds, as before).
pub fn topic_exists(kafka: &KafkaConfig, topic: &str) -> Result<bool, KafkaRunError> {
    let consumer: BaseConsumer = consumer_config(kafka)
        .create()
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| KafkaRunError::GaveUp(format!("metadata of {topic}: {e}")))?;
    Ok(metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
}

impl ChangelogApplier {
    /// Assign every partition of `topic` at its stored offset (the start
    /// when none is stored), start the thread, and wait up to `catch_up` for
    /// it to apply what the topic held when it started.
    pub fn start(
        kafka: &KafkaConfig,
        claims: &ClaimsConfig,
        topic: &str,
        writer: ClaimsWriter,
        lookup: Arc<ClaimsLookup>,
        catch_up: Duration,
    ) -> Result<Self, KafkaRunError> {
        let consumer: BaseConsumer = consumer_config(kafka)
            .create()
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let ends = partition_watermarks(&consumer, topic)?;
        let stored = writer.stored_offsets(topic).map_err(|e| {
            KafkaRunError::GaveUp(format!("reading the stored changelog offsets: {e}"))
        })?;
        let mut assignment = TopicPartitionList::new();
        let mut next = BTreeMap::new();
        for &(partition, _, _) in &ends {
            let offset = match stored.get(&partition) {
                Some(&at) => Offset::Offset(at),
                None => Offset::Beginning,
            };
            assignment
                .add_partition_offset(topic, partition, offset)
                .map_err(|e| KafkaRunError::Client(e.to_string()))?;
            next.insert(partition, stored.get(&partition).copied().unwrap_or(0));
        }
        consumer
            .assign(&assignment)
            .map_err(|e| KafkaRunError::Client(format!("assign {topic}: {e}")))?;
        let progress = Arc::new(ChangelogProgress::new(topic));
        lookup.track_changelog(Arc::clone(&progress));
        let end_at_start: HashMap<i32, i64> = ends.iter().map(|&(p, _, high)| (p, high)).collect();
        let caught_up = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut apply = ApplyLoop {
            consumer,
            kafka: kafka.clone(),
            looked_for_topic: None,
            topic: topic.to_owned(),
            writer,
            lookup,
            progress: Arc::clone(&progress),
            next,
            end_at_start,
            caught_up: Arc::clone(&caught_up),
            last_caught_up: Instant::now(),
            format: claims.changelog_format,
            bad_change: claims.bad_change,
            stopped: None,
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("claims-apply".into())
            .spawn(move || apply.run(&flag))
            .map_err(|e| KafkaRunError::Client(format!("starting the claims-apply thread: {e}")))?;
        let deadline = Instant::now() + catch_up;
        while !caught_up.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = progress.snapshot();
        if caught_up.load(Ordering::Acquire) {
            tracing::info!(
                topic,
                applied = status.applied,
                "claims changelog caught up"
            );
        } else {
            tracing::warn!(
                topic,
                applied = status.applied,
                lag = status.lag_records,
                "claims changelog not caught up yet; starting anyway"
            );
        }
        Ok(Self {
            stop,
            thread: Some(thread),
            progress,
        })
    }

    pub fn progress(&self) -> &Arc<ChangelogProgress> {
        &self.progress
    }
}

impl Drop for ChangelogApplier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the claims-apply thread panicked");
        }
    }
}

struct ApplyLoop {
    consumer: BaseConsumer,
    /// The settings, to recreate the topic when it vanishes.
    kafka: KafkaConfig,
    /// When the broker was last asked whether the topic exists (it could not be read).
    looked_for_topic: Option<Instant>,
    topic: String,
    writer: ClaimsWriter,
    lookup: Arc<ClaimsLookup>,
    progress: Arc<ChangelogProgress>,
    /// Next offset to apply per partition (as stored once the batch commits).
    next: BTreeMap<i32, i64>,
    /// The topic's end when the host started: reaching it is "caught up".
    end_at_start: HashMap<i32, i64>,
    caught_up: Arc<AtomicBool>,
    last_caught_up: Instant,
    /// How records are written (`claims.changelog-format`).
    format: ChangelogFormat,
    /// What a record that is no valid change does (`claims.bad-change`).
    bad_change: BadChange,
    /// Why reading stopped (`bad-change = stop`): nothing more is read.
    stopped: Option<String>,
}

/// The change a record stands for in `format`: `None` for a record that
/// changes nothing (Debezium's tombstone after a delete).
fn decode(
    format: ChangelogFormat,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Option<ClaimChange>, String> {
    match format {
        ChangelogFormat::Enricher => codec::decode(key, value).map(Some),
        ChangelogFormat::Debezium => debezium::decode(key, value),
    }
}

impl ApplyLoop {
    fn run(&mut self, stop: &AtomicBool) {
        let mut lag_checked = Instant::now() - LAG_EVERY;
        self.check_caught_up();
        while !stop.load(Ordering::Relaxed) {
            if self.stopped.is_some() {
                // `bad-change = stop`: what came before is applied; wait for the restart.
                std::thread::sleep(POLL_WAIT);
                if lag_checked.elapsed() >= LAG_EVERY {
                    self.update_lag();
                    lag_checked = Instant::now();
                }
                continue;
            }
            let (batch, rejected, deleted) = self.poll_batch();
            if !batch.offsets.is_empty() {
                self.apply(&batch, stop);
                let count = batch.changes.len() as u64;
                let next: Vec<(i32, i64)> = self.next.iter().map(|(&p, &o)| (p, o)).collect();
                self.progress.update(|s| {
                    s.applied += count;
                    s.deleted += deleted;
                    s.rejected += rejected;
                    s.next_offsets = next;
                    s.last_applied_ms = Some(crate::clock::now_ms());
                });
                self.check_caught_up();
            }
            if lag_checked.elapsed() >= LAG_EVERY || batch.offsets.is_empty() && self.lagging() {
                self.update_lag();
                lag_checked = Instant::now();
            }
        }
    }

    /// Read up to `MAX_BATCH` records: wait for a first one, then take what is there.
    fn poll_batch(&mut self) -> (Batch, u64, u64) {
        let mut batch = Batch::default();
        let (mut rejected, mut deleted) = (0, 0);
        let mut reached: BTreeMap<i32, i64> = BTreeMap::new();
        while batch.changes.len() < MAX_BATCH {
            let wait = if reached.is_empty() {
                POLL_WAIT
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(msg)) => {
                    let (partition, offset) = (msg.partition(), msg.offset());
                    match decode(self.format, msg.key(), msg.payload()) {
                        Ok(Some(change)) => {
                            deleted += u64::from(change.row.is_none());
                            batch.changes.push(change);
                        }
                        Ok(None) => {}
                        Err(why) if self.bad_change == BadChange::Stop => {
                            // Not passed: the stored offset stays on it, so a
                            // restart reads it again.
                            reached.entry(partition).or_insert(offset);
                            let text = format!(
                                "stopped at partition {partition} offset {offset}: {why} \
                                 (claims.bad-change = stop: fix the record, or set CLAIMS_BAD_CHANGE=skip, then restart)"
                            );
                            tracing::error!(topic = %self.topic, partition, offset, "claims changelog: a record that is no valid change; \
                                applying stops here (claims.bad-change = stop): {why}");
                            self.progress.update(|s| s.last_error = Some(text.clone()));
                            self.stopped = Some(text);
                            break;
                        }
                        Err(why) => {
                            rejected += 1;
                            tracing::warn!(topic = %self.topic, partition, offset, "claims changelog record skipped: {why}");
                        }
                    }
                    reached.insert(partition, offset + 1);
                }
                Some(Err(e)) => {
                    tracing::warn!(topic = %self.topic, "claims changelog: {e}");
                    break;
                }
            }
        }
        for (&partition, &at) in &reached {
            self.next.insert(partition, at);
            batch.offsets.push((self.topic.clone(), partition, at));
        }
        if self.stopped.is_some() {
            // The partitions are paused where they stand: nothing more is read.
            let _ = self.consumer.unassign();
        }
        (batch, rejected, deleted)
    }

    /// Apply until it succeeds (or the host stops): a batch is never skipped.
    fn apply(&mut self, batch: &Batch, stop: &AtomicBool) {
        loop {
            match self.writer.apply(batch, &self.lookup) {
                Ok(()) => {
                    let stopped = self.stopped.clone();
                    self.progress.update(|s| s.last_error = stopped);
                    return;
                }
                Err(e) => {
                    tracing::warn!(topic = %self.topic, error = %e, "applying a claims changelog batch failed; trying again");
                    let why = e.to_string();
                    self.progress.update(|s| s.last_error = Some(why));
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(RETRY_PAUSE);
                }
            }
        }
    }

    fn check_caught_up(&mut self) {
        if self.caught_up.load(Ordering::Relaxed) {
            return;
        }
        let done = self
            .end_at_start
            .iter()
            .all(|(p, &end)| self.next.get(p).copied().unwrap_or(0) >= end);
        if done {
            self.caught_up.store(true, Ordering::Release);
        }
    }

    fn lagging(&self) -> bool {
        self.progress.snapshot().lag_records > 0
    }
}
