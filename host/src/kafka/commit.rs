//! Committing input offsets together with outputs, in the two delivery modes.
//!
//! - exactly-once: one Kafka transaction at a time: `begin` before the first
//!   output, then `send_offsets_to_transaction(processed offsets, group
//!   metadata)` and `commit`. Kafka errors are handled as librdkafka documents:
//!   retriable → call again; abortable → abort, rewind the consumer to the
//!   committed offsets and process again; fatal (fenced, ...) → stop, non-zero.
//! - at-least-once: flush the producer; when every output is acknowledged,
//!   commit the processed offsets; a refused output → rewind and process again.
//!
//! Offsets come from what was *processed* (outputs produced), never from the
//! consumer's position, which may be ahead by messages still in a batch.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaRunError;
use super::records::EnricherProducer;
use crate::config::DeliveryMode;

/// How long one transactional or commit call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of a call Kafka calls retriable.
const MAX_ATTEMPTS: u32 = 8;

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was pending.
    Idle,
    Committed,
    /// The batch was abandoned; the consumer was rewound to the committed offsets.
    Rewound,
}

/// What to do with a Kafka error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Retry,
    AbortAndRewind,
    Stop,
}

/// librdkafka's classification of a transactional error.
pub fn classify(e: &KafkaError) -> Action {
    match e {
        KafkaError::Transaction(rd) if rd.is_fatal() => Action::Stop,
        KafkaError::Transaction(rd) if rd.txn_requires_abort() => Action::AbortAndRewind,
        KafkaError::Transaction(rd) if rd.is_retriable() => Action::Retry,
        _ => Action::Stop,
    }
}

/// Next offset to commit per (topic, partition).
type Offsets = BTreeMap<(String, i32), i64>;

#[derive(Default)]
struct State {
    txn_open: bool,
    /// Per (topic, partition): the offset after the last input whose outputs were produced.
    processed: Offsets,
    /// At-least-once: sealed batches (sequence, offsets) waiting for their outputs' acknowledgements.
    sealed: VecDeque<(usize, Offsets)>,
    next_batch: usize,
    /// Bumped on every rewind or revocation: polled-but-unprocessed messages are stale.
    generation: u64,
    /// Transactions begun (exactly-once): the commit unit outputs are produced in.
    transactions: u64,
    commits: u64,
    rewinds: u64,
}

/// Counters of the commit side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitCounters {
    pub commits: u64,
    pub rewinds: u64,
}

pub struct Committer {
    mode: DeliveryMode,
    producer: Arc<EnricherProducer>,
    state: Mutex<State>,
}

impl Committer {
    pub fn new(mode: DeliveryMode, producer: Arc<EnricherProducer>) -> Self {
        Self {
            mode,
            producer,
            state: Mutex::new(State::default()),
        }
    }

    pub fn producer(&self) -> &EnricherProducer {
        &self.producer
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Exactly-once: register the transactional id (fencing older instances).
    /// Fails clearly when the broker does not support transactions.
    pub fn init(&self) -> Result<(), KafkaRunError> {
        if self.mode == DeliveryMode::AtLeastOnce {
            return Ok(());
        }
        self.producer.init_transactions(CALL_TIMEOUT).map_err(|e| {
            KafkaRunError::Unsupported(format!(
                "exactly-once delivery needs a broker with transactions (Apache Kafka ≥ 2.5, Redpanda), \
                 and initialising them failed: {e}. Use --delivery at-least-once for brokers without them."
            ))
        })
    }

    /// Open a transaction if none is (exactly-once), before producing outputs.
    pub fn before_produce(&self) -> Result<(), KafkaRunError> {
        if self.mode == DeliveryMode::AtLeastOnce {
            return Ok(());
        }
        let mut state = self.state();
        if !state.txn_open {
            self.producer
                .begin_transaction()
                .map_err(|e| KafkaRunError::Fatal(format!("begin_transaction: {e}")))?;
            state.txn_open = true;
            state.transactions += 1;
        }
        Ok(())
    }

    /// The outputs of inputs up to `offset` of a partition have been produced.
    pub fn mark_processed(&self, topic: &str, partition: i32, offset: i64) {
        let mut state = self.state();
        let next = state
            .processed
            .entry((topic.to_owned(), partition))
            .or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// The sequence number of the next batch (its records carry it to the delivery reports).
    pub fn next_batch(&self) -> usize {
        self.state().next_batch
    }

    /// The batch's outputs are all sent: at-least-once waits for their acknowledgements.
    pub fn seal_batch(&self) {
        let mut state = self.state();
        let seq = state.next_batch;
        state.next_batch += 1;
        if self.mode == DeliveryMode::AtLeastOnce && !state.processed.is_empty() {
            let offsets = std::mem::take(&mut state.processed);
            state.sealed.push_back((seq, offsets));
        }
    }

    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    pub fn counters(&self) -> CommitCounters {
        let s = self.state();
        CommitCounters {
            commits: s.commits,
            rewinds: s.rewinds,
        }
    }

    /// Whether a transaction is open: plugin versions may change only when none is.
    pub fn in_transaction(&self) -> bool {
        self.state().txn_open
    }

    /// The commit unit the next outputs belong to: the open transaction
    /// (exactly-once) or the batch about to be sealed (at-least-once).
    pub fn unit(&self) -> u64 {
        let s = self.state();
        match self.mode {
            DeliveryMode::ExactlyOnce => s.transactions,
            DeliveryMode::AtLeastOnce => s.next_batch as u64,
        }
    }

    pub fn has_pending(&self) -> bool {
        let s = self.state();
        s.txn_open || !s.processed.is_empty() || !s.sealed.is_empty()
    }

    /// Commit what was processed (with its outputs).
    pub fn commit<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
    ) -> Result<Outcome, KafkaRunError> {
        let mut state = self.state();
        match self.mode {
            DeliveryMode::ExactlyOnce => self.commit_transaction(&mut state, consumer),
            DeliveryMode::AtLeastOnce => self.commit_acknowledged(&mut state, consumer, false),
        }
    }

    /// Commit everything processed, waiting for outstanding outputs (shutdown).
    pub fn commit_all<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
    ) -> Result<Outcome, KafkaRunError> {
        let mut state = self.state();
        match self.mode {
            DeliveryMode::ExactlyOnce => self.commit_transaction(&mut state, consumer),
            DeliveryMode::AtLeastOnce => self.commit_acknowledged(&mut state, consumer, true),
        }
    }

    fn offsets(state: &State) -> Result<TopicPartitionList, KafkaRunError> {
        offsets_of(&state.processed)
    }

    fn commit_transaction<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
    ) -> Result<Outcome, KafkaRunError> {
        if !state.txn_open {
            return Ok(Outcome::Idle);
        }
        let offsets = Self::offsets(state)?;
        let result = if offsets.count() > 0 {
            let group = consumer
                .group_metadata()
                .ok_or_else(|| KafkaRunError::Fatal("the consumer has no group metadata".into()))?;
            with_retries("send_offsets_to_transaction", || {
                self.producer
                    .send_offsets_to_transaction(&offsets, &group, CALL_TIMEOUT)
            })
        } else {
            Ok(())
        }
        .and_then(|()| {
            with_retries("commit_transaction", || {
                self.producer.commit_transaction(CALL_TIMEOUT)
            })
        });
        match result {
            Ok(()) => {
                state.txn_open = false;
                state.processed.clear();
                state.commits += 1;
                Ok(Outcome::Committed)
            }
            Err(Failure::Abort(why)) => {
                tracing::warn!("transaction aborted: {why}; rewinding to the committed offsets");
                self.abort_and_rewind(state, consumer)?;
                Ok(Outcome::Rewound)
            }
            Err(Failure::Stop(why)) => Err(KafkaRunError::Fatal(why)),
        }
    }

    /// At-least-once: commit the offsets of the leading batches whose outputs
    /// are all acknowledged. `wait` flushes first (revocation, shutdown);
    /// otherwise nothing blocks and the commit itself is asynchronous.
    fn commit_acknowledged<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
        wait: bool,
    ) -> Result<Outcome, KafkaRunError> {
        if state.sealed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let tracker = self.producer.context();
        if wait && let Err(e) = self.producer.flush(CALL_TIMEOUT) {
            tracing::warn!("outputs not acknowledged in time ({e}); rewinding");
            self.rewind(state, consumer)?;
            return Ok(Outcome::Rewound);
        }
        if let Some(why) = tracker.take_error() {
            tracing::warn!("an output was refused ({why}); rewinding to process it again");
            self.rewind(state, consumer)?;
            return Ok(Outcome::Rewound);
        }
        let mut done: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut seqs = Vec::new();
        while let Some((seq, _)) = state.sealed.front() {
            if !tracker.is_done(*seq) {
                break;
            }
            if let Some((seq, offsets)) = state.sealed.pop_front() {
                seqs.push(seq);
                for (tp, offset) in offsets {
                    let e = done.entry(tp).or_insert(offset);
                    *e = (*e).max(offset);
                }
            }
        }
        tracker.forget(seqs);
        if done.is_empty() {
            return Ok(Outcome::Idle);
        }
        let offsets = offsets_of(&done)?;
        let mode = if wait {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        // Any consumer-commit error is worth a retry (coordinator moving, rebalance in progress).
        match with_retries_as(
            "commit offsets",
            |_| Action::Retry,
            || consumer.commit(&offsets, mode),
        ) {
            Ok(()) => {
                state.commits += 1;
                Ok(Outcome::Committed)
            }
            // Outputs are out; a later commit covers these offsets (duplicates at worst).
            Err(Failure::Abort(why)) | Err(Failure::Stop(why)) => Err(KafkaRunError::GaveUp(why)),
        }
    }

    /// Abandon the open transaction and go back to the committed offsets.
    pub fn abort<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        let mut state = self.state();
        self.abort_and_rewind(&mut state, consumer)
    }

    fn abort_and_rewind<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        if self.mode == DeliveryMode::ExactlyOnce && state.txn_open {
            match with_retries("abort_transaction", || {
                self.producer.abort_transaction(CALL_TIMEOUT)
            }) {
                Ok(()) => {}
                Err(Failure::Abort(why)) | Err(Failure::Stop(why)) => {
                    return Err(KafkaRunError::Fatal(why));
                }
            }
            state.txn_open = false;
        }
        self.rewind(state, consumer)
    }

    fn rewind<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        state.processed.clear();
        let seqs: Vec<usize> = state.sealed.drain(..).map(|(seq, _)| seq).collect();
        self.producer.context().forget(seqs);
        state.generation += 1;
        state.rewinds += 1;
        let assigned = consumer
            .assignment()
            .map_err(|e| KafkaRunError::Fatal(format!("assignment: {e}")))?;
        if assigned.count() == 0 {
            return Ok(());
        }
        let committed = consumer
            .committed_offsets(assigned, CALL_TIMEOUT)
            .map_err(|e| KafkaRunError::GaveUp(format!("reading committed offsets: {e}")))?;
        // Partitions without a committed offset start from the beginning (auto.offset.reset).
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

    /// Called by the consumer context before partitions are revoked: commit
    /// (or abort) what is open, and make polled-but-unprocessed messages stale.
    pub fn on_revoke<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>) {
        let mut state = self.state();
        let result = match self.mode {
            DeliveryMode::ExactlyOnce => self.commit_transaction(&mut state, consumer),
            DeliveryMode::AtLeastOnce => self.commit_acknowledged(&mut state, consumer, true),
        };
        if let Err(e) = result {
            tracing::error!("commit before revocation failed: {e}");
        }
        state.processed.clear();
        state.sealed.clear();
        state.generation += 1;
    }

    /// Number of outputs the broker refused since start (at-least-once bookkeeping).
    pub fn refused(&self) -> u64 {
        self.producer.context().failed.load(Ordering::Relaxed)
    }
}

fn offsets_of(offsets: &BTreeMap<(String, i32), i64>) -> Result<TopicPartitionList, KafkaRunError> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|e| KafkaRunError::Fatal(format!("offset list: {e}")))?;
    }
    Ok(tpl)
}

enum Failure {
    Abort(String),
    Stop(String),
}

fn with_retries(what: &str, call: impl FnMut() -> Result<(), KafkaError>) -> Result<(), Failure> {
    with_retries_as(what, classify, call)
}

fn with_retries_as(
    what: &str,
    classify: impl Fn(&KafkaError) -> Action,
    mut call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        match call() {
            Ok(()) => return Ok(()),
            Err(e) => match classify(&e) {
                Action::Retry if attempt < MAX_ATTEMPTS => {
                    tracing::warn!("{what} failed ({e}), retrying (attempt {attempt})");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Action::Retry => {
                    return Err(Failure::Stop(format!(
                        "{what}: {e} (after {attempt} attempts)"
                    )));
                }
                Action::AbortAndRewind => return Err(Failure::Abort(format!("{what}: {e}"))),
                Action::Stop => return Err(Failure::Stop(format!("{what}: {e}"))),
            },
        }
    }
    Err(Failure::Stop(format!("{what}: gave up")))
}
