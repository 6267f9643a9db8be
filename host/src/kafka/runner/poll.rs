//! Filling a batch: poll the input (and the retry topic), hold back retries
//! not yet due, turn failure records back into inputs (redrive), note where
//! each record came from, and see the input's end (`--stop-at-end`).

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use super::{Loop, Source};
use crate::bindings::InputRecord;
use crate::clock::now_ms;
use crate::kafka::KafkaRunError;
use crate::kafka::failure_source::{Redriven, failure_to_input};
use crate::kafka::header_guard::rename_host_headers;
use crate::kafka::late::{RETRY_ATTEMPT_HEADER, RETRY_DUE_HEADER, attempt_of, due_ms};
use crate::kafka::records::to_input;
use crate::pipeline::{Routed, host_failure};
use enricher_model::Status;

/// How long an empty poll waits at most before the loop looks at commits again.
const POLL_WAIT: Duration = Duration::from_millis(50);

/// Where a polled record came from (parallel to the batch of inputs).
pub(super) struct Position {
    /// From the retry topic (else from the input topic).
    pub(super) retry: bool,
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// Which retry it is (0: a first try).
    pub(super) attempt: u32,
    /// The record had no value at all (a tombstone), not an empty one.
    pub(super) tombstone: bool,
}

impl Loop<'_> {
    /// Fill the batch: wait for a first record (not past the next commit
    /// time), then take what is already there. A revocation or rewind while
    /// polling empties it (those records will be read again).
    pub(super) fn poll_batch(&mut self) -> Result<(), KafkaRunError> {
        self.clear_batch();
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
                    let tombstone = msg.payload().is_none();
                    let input = to_input(&msg);
                    drop(msg);
                    self.take(retry, partition, offset, input, tombstone)?;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => self.saw_eof(partition),
                Some(Err(e)) => {
                    tracing::warn!("consumer: {e}");
                    break;
                }
            }
            if self.delivery.generation() != generation {
                self.clear_batch();
                break;
            }
        }
        let passed = self.source.passed().len();
        if !self.batch.is_empty() || passed > 0 {
            let started = self.started;
            self.report
                .first_record_after
                .get_or_insert_with(|| started.elapsed());
            self.report.consumed += (self.batch.len() + passed) as u64;
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
        mut input: InputRecord,
        tombstone: bool,
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
            tombstone,
        };
        match &mut self.source {
            Source::Stream(_) if retry => {
                let due = due_ms(&input.headers);
                if due > now_ms() {
                    return self
                        .held
                        .hold(&self.consumer, retry_topic, partition, offset, due);
                }
                self.report.retries_taken += 1;
                self.positions.push(position(attempt_of(&input)));
                // The retry headers on a retry record are the host's own.
                rename_host_headers(
                    &mut input.headers,
                    &[RETRY_ATTEMPT_HEADER, RETRY_DUE_HEADER],
                );
                self.batch.push(input);
            }
            Source::Stream(_) => {
                self.positions.push(position(0));
                rename_host_headers(&mut input.headers, &[]);
                self.batch.push(input);
            }
            Source::Redrive(redrive) => match failure_to_input(input, &redrive.filter) {
                Redriven::Input { input, reason } => {
                    self.positions.push(position(0));
                    self.batch.push(input);
                    redrive.reasons.push(reason);
                }
                Redriven::PassedOver => {
                    redrive.counts.passed_over += 1;
                    redrive.passed.push((partition, offset));
                }
                Redriven::Unusable(why) => {
                    *redrive.counts.not_redrivable.entry(why).or_default() += 1;
                    redrive.passed.push((partition, offset));
                }
            },
        }
        Ok(())
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
}

impl Loop<'_> {
    /// Say "tombstone" where the plugin saw an empty record that was a Kafka
    /// record without a value: the failure record is the host's, naming it.
    pub(super) fn name_tombstones(&self, routed: &mut [Routed]) {
        if !self.positions.iter().any(|p| p.tombstone) {
            return;
        }
        for r in routed.iter_mut() {
            let tombstone = self
                .positions
                .get(r.input_index)
                .is_some_and(|p| p.tombstone);
            if tombstone && r.status == Status::InvalidJson.as_str() {
                let why = "a tombstone: the Kafka record has no value (null), not a payment event";
                let named = host_failure(
                    r.input_index,
                    &self.batch[r.input_index],
                    Status::InvalidJson,
                    why,
                    now_ms(),
                );
                r.value = named.value;
            }
        }
    }
}
