//! Retry partitions waiting for their head record to be due. A retry record
//! read before its due time is not processed: its partition is paused and
//! the consumer seeks back to it, so it is read again once the partition is
//! resumed at its due time. Only that partition waits; the input topic's
//! partitions (and other retry partitions) keep flowing. Records of one
//! attempt are in due order in a partition (one delay per attempt), so the
//! head is the next one due; a later attempt's record can hold earlier-due
//! ones behind it, which then run late, never early.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaRunError;

/// How long the seek back to a held record may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// Paused retry partitions and when each may go on.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// (topic, partition) → due time of its head record (ms since the epoch).
    until: BTreeMap<(String, i32), i64>,
}

fn one(topic: &str, partition: i32) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    tpl
}

impl Held {
    /// Whether `partition` of `topic` waits (messages of it read now are stale).
    pub(crate) fn is_held(&self, topic: &str, partition: i32) -> bool {
        !self.until.is_empty() && self.until.contains_key(&(topic.to_owned(), partition))
    }

    /// Hold `partition` until `due_ms`, to read it again from `offset`.
    pub(crate) fn hold<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        topic: &str,
        partition: i32,
        offset: i64,
        due_ms: i64,
    ) -> Result<(), KafkaRunError> {
        consumer
            .pause(&one(topic, partition))
            .map_err(|e| KafkaRunError::GaveUp(format!("pausing {topic}/{partition}: {e}")))?;
        self.until.insert((topic.to_owned(), partition), due_ms);
        consumer
            .seek(topic, partition, Offset::Offset(offset), SEEK_TIMEOUT)
            .map_err(|e| {
                KafkaRunError::GaveUp(format!("seeking {topic}/{partition} to {offset}: {e}"))
            })?;
        tracing::debug!(
            topic,
            partition,
            offset,
            due_ms,
            "retry not due yet: partition held"
        );
        Ok(())
    }

    /// Resume the partitions whose head is due at `now_ms`.
    pub(crate) fn release_due<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        now_ms: i64,
    ) {
        if self.until.values().all(|due| *due > now_ms) {
            return;
        }
        let due: Vec<(String, i32)> = self
            .until
            .iter()
            .filter(|(_, due)| **due <= now_ms)
            .map(|(tp, _)| tp.clone())
            .collect();
        for (topic, partition) in due {
            self.until.remove(&(topic.clone(), partition));
            resume(consumer, &topic, partition);
        }
    }

    /// Resume every held partition (after a rewind or revocation: positions
    /// were reset, and what is read next is decided again).
    pub(crate) fn release_all<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        for ((topic, partition), _) in std::mem::take(&mut self.until) {
            resume(consumer, &topic, partition);
        }
    }

    /// How many partitions wait.
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

fn resume<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str, partition: i32) {
    // A partition revoked meanwhile cannot be resumed; its next owner reads it anew.
    if let Err(e) = consumer.resume(&one(topic, partition)) {
        tracing::debug!(topic, partition, "resuming: {e}");
    }
}
