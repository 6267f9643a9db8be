//! `--stop-at-end`: the end of every input partition when the run started, and
//! whether everything up to there has been processed and committed.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaRunError;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Asking for committed offsets is a progress check, not a reason to stop: short.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

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

/// High watermarks of the input topic's partitions, captured at start.
pub struct EndMarks {
    topic: String,
    high: BTreeMap<i32, i64>,
    /// Partitions this consumer read to their end (position at the time).
    eof_at: BTreeMap<i32, i64>,
}

impl EndMarks {
    pub fn capture<C: ConsumerContext>(
        consumer: &BaseConsumer<C>,
        topic: &str,
    ) -> Result<Self, KafkaRunError> {
        let high = partition_watermarks(consumer, topic)?
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
