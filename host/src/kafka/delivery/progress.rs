//! What both delivery modes track: the offsets processed since the last
//! commit (from outputs produced, never from the consumer's position, which
//! may be ahead by messages still in a batch), batch numbers, the generation
//! that makes polled-but-unprocessed messages stale, and the rewind to the
//! committed offsets.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::CommitCounters;
use crate::kafka::KafkaRunError;

/// How long one transactional or commit call may take.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Next offset to commit per (topic, partition).
pub(super) type Offsets = BTreeMap<(String, i32), i64>;

#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Per (topic, partition): the offset after the last input whose outputs were produced.
    pub processed: Offsets,
    /// The sequence number of the next batch.
    pub next_batch: usize,
    /// Bumped on every rewind or revocation: polled-but-unprocessed messages are stale.
    pub generation: u64,
    pub commits: u64,
    pub rewinds: u64,
    /// Commit-side calls retried after a retriable error.
    pub retries: u64,
}

impl Progress {
    /// The outputs of inputs up to `offset` of a partition have been produced.
    pub(super) fn mark(&mut self, topic: &str, partition: i32, offset: i64) {
        let next = self
            .processed
            .entry((topic.to_owned(), partition))
            .or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    pub(super) fn counters(&self) -> CommitCounters {
        CommitCounters {
            commits: self.commits,
            rewinds: self.rewinds,
            retries: self.retries,
        }
    }

    /// Forget what was processed and seek the assigned partitions back to
    /// their committed offsets (those without one: auto.offset.reset).
    pub(super) fn rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        self.processed.clear();
        self.generation += 1;
        self.rewinds += 1;
        let assigned = consumer
            .assignment()
            .map_err(|e| KafkaRunError::Fatal(format!("assignment: {e}")))?;
        if assigned.count() == 0 {
            return Ok(());
        }
        let committed = consumer
            .committed_offsets(assigned, CALL_TIMEOUT)
            .map_err(|e| KafkaRunError::GaveUp(format!("reading committed offsets: {e}")))?;
        let mut targets = TopicPartitionList::new();
        for elem in committed.elements() {
            let offset = match elem.offset() {
                Offset::Offset(n) => Offset::Offset(n),
                _ => Offset::Beginning,
            };
            targets
                .add_partition_offset(elem.topic(), elem.partition(), offset)
                .map_err(|e| KafkaRunError::Fatal(format!("offset list: {e}")))?;
        }
        consumer
            .seek_partitions(targets, CALL_TIMEOUT)
            .map_err(|e| KafkaRunError::GaveUp(format!("rewinding: {e}")))?;
        Ok(())
    }
}

/// `offsets` as the list Kafka's commit calls take.
pub(super) fn offsets_of(offsets: &Offsets) -> Result<TopicPartitionList, KafkaRunError> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|e| KafkaRunError::Fatal(format!("offset list: {e}")))?;
    }
    Ok(tpl)
}
