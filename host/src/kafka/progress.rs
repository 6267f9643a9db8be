//! `--stop-at-end`: the end of every input partition when the run started, and
//! whether everything up to there has been processed and committed.
//!
//! The end is the broker's ListOffsets answer, confirmed by reading: some
//! brokers answer ListOffsets with the first offset of the partition's last
//! record batch + 1 rather than its end (Tansu does, whatever the batch
//! holds), which ended a run up to a batch early (issue 14). Fetch reports
//! the end right on those brokers too, so [`partition_ends`] reads from just
//! before the answer to the end-of-partition Fetch reports.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaRunError;
use super::clients::{log_client_error, tail_config};
use crate::config::KafkaConfig;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Asking for committed offsets is a progress check, not a reason to stop: short.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long confirming the ends by reading may take; past it (a producer
/// writing faster than the read catches up) the ends seen so far are used.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);

/// (partition, low, high watermark) of every partition of `topic`; an error
/// when the topic has none (it does not exist).
pub fn partition_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
) -> Result<Vec<(i32, i64, i64)>, KafkaRunError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| KafkaRunError::GaveUp(format!("metadata of {topic}: {e}")))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaRunError::GaveUp(format!(
            "topic {topic} has no partitions (does it exist?)"
        )));
    }
    partitions
        .into_iter()
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, TIMEOUT)
                .map_err(|e| KafkaRunError::GaveUp(format!("watermarks of {topic}/{p}: {e}")))?;
            Ok((p, low, high))
        })
        .collect()
}

/// The probe's context: end-of-partition events are what it waits for.
struct ProbeContext;

impl rdkafka::ClientContext for ProbeContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(error, reason);
    }
}

impl ConsumerContext for ProbeContext {}

/// (partition, low, end) of every partition of `topic`, as a `read_committed`
/// consumer will find them: ListOffsets' answer, raised to what reading from
/// just before it finds (the offset after the last record, up to the end of
/// partition that Fetch reports). On a broker whose ListOffsets is right this
/// reads one record per partition.
pub fn partition_ends(
    config: &KafkaConfig,
    topic: &str,
) -> Result<Vec<(i32, i64, i64)>, KafkaRunError> {
    let probe: BaseConsumer<ProbeContext> = tail_config(config, true)
        .create_with_context(ProbeContext)
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let mut marks = partition_watermarks(&probe, topic)?;
    let mut tpl = TopicPartitionList::new();
    let mut open = BTreeSet::new();
    for (p, low, high) in &marks {
        if high > low {
            tpl.add_partition_offset(topic, *p, Offset::Offset(high - 1))
                .map_err(|e| KafkaRunError::Client(e.to_string()))?;
            open.insert(*p);
        }
    }
    if open.is_empty() {
        return Ok(marks);
    }
    probe
        .assign(&tpl)
        .map_err(|e| KafkaRunError::Client(format!("assign {topic}: {e}")))?;
    let mut seen: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + CONFIRM_WAIT;
    while !open.is_empty() && Instant::now() < deadline {
        match probe.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let next = seen.entry(msg.partition()).or_default();
                *next = (*next).max(msg.offset() + 1);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => tracing::debug!("confirming the ends of {topic}: {e}"),
            None => {}
        }
    }
    if !open.is_empty() {
        tracing::debug!(
            "the end of {topic} {open:?} not reached within {CONFIRM_WAIT:?}: using what was read"
        );
    }
    for (p, _, high) in &mut marks {
        if let Some(next) = seen.get(p).filter(|n| **n > *high) {
            tracing::debug!("{topic}/{p}: ListOffsets said {high}, the records go on to {next}");
            *high = *next;
        }
    }
    Ok(marks)
}

/// Ends of the input topic's partitions, captured at start.
pub struct EndMarks {
    topic: String,
    high: BTreeMap<i32, i64>,
    /// Partitions this consumer read to their end (position at the time).
    eof_at: BTreeMap<i32, i64>,
}

impl EndMarks {
    pub fn capture(config: &KafkaConfig, topic: &str) -> Result<Self, KafkaRunError> {
        let high = partition_ends(config, topic)?
            .into_iter()
            .map(|(p, _, hi)| (p, hi))
            .collect();
        Ok(Self {
            topic: topic.to_owned(),
            high,
            eof_at: BTreeMap::new(),
        })
    }

    /// The consumer reached the end of `partition` at `offset`.
    pub fn saw_eof(&mut self, partition: i32, offset: i64) {
        self.eof_at.insert(partition, offset);
    }

    /// After a rewind, ends seen before no longer say anything.
    pub fn forget_eofs(&mut self) {
        self.eof_at.clear();
    }

    /// Every partition committed (by this group) up to its start-time end, or read
    /// to its end by this consumer with nothing left to commit.
    pub fn reached<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        nothing_pending: bool,
    ) -> Result<bool, KafkaRunError> {
        let mut tpl = TopicPartitionList::new();
        for p in self.high.keys() {
            tpl.add_partition(&self.topic, *p);
        }
        let committed = match consumer.committed_offsets(tpl, CHECK_TIMEOUT) {
            Ok(c) => c,
            Err(e) => {
                // The coordinator may be busy with a rebalance: ask again later.
                tracing::debug!("committed offsets not available yet: {e}");
                return Ok(false);
            }
        };
        Ok(committed.elements().iter().all(|elem| {
            let end = self.high.get(&elem.partition()).copied().unwrap_or(0);
            let done_committed = matches!(elem.offset(), Offset::Offset(n) if n >= end);
            let read_to_end = nothing_pending
                && self
                    .eof_at
                    .get(&elem.partition())
                    .is_some_and(|at| *at >= end);
            end == 0 || done_committed || read_to_end
        }))
    }
}
