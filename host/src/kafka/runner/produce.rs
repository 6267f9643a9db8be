//! Sending a batch's outputs: where each routed record goes (late claims
//! send CLAIM_NOT_FOUND to the retry topic), the send with backpressure, then
//! the inputs marked processed, once per partition; a failed send abandons
//! the batch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;

use super::{Loop, Source};
use crate::bindings::Output;
use crate::clock::now_ms;
use crate::kafka::KafkaRunError;
use crate::kafka::failure_source::Moved;
use crate::kafka::records::{Target, Topics, produce_batch};
use crate::pipeline::Routed;

impl Loop<'_> {
    /// Send the batch's outputs and mark its inputs processed; a failed send
    /// abandons the batch (abort and rewind), a fatal producer stops the run.
    pub(super) fn produce(
        &mut self,
        routed: Vec<Routed>,
        stop: &AtomicBool,
    ) -> Result<(), KafkaRunError> {
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
        let redriven = redriven_counts(self.source.reasons(), &routed);
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
                self.source.count_redriven(redriven);
                // Once per partition and batch (not per record: each mark takes a lock).
                let passed = self
                    .source
                    .passed()
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
                self.since_commit += self.batch.len() + self.source.passed().len();
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
