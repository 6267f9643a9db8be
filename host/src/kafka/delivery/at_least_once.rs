//! At-least-once: outputs are sent without waiting; a batch's input offsets
//! are committed once every one of its outputs is acknowledged (delivery
//! reports per batch, so nothing stops to flush). A refused output rewinds the
//! consumer to the committed offsets and the inputs are processed again
//! (duplicates at worst, never a loss).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;

use super::progress::{CALL_TIMEOUT, Offsets, Progress, offsets_of};
use super::retry::{Action, with_retries_as};
use super::swappable::SwappableProducer;
use super::{CommitCounters, Delivery, Outcome};
use crate::kafka::KafkaRunError;
use crate::kafka::broker_watch::BrokerWatch;
use crate::kafka::records::EnricherProducer;

/// A flush waits this long between looks at the broker watch.
const FLUSH_SLICE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    progress: Progress,
    /// Sealed batches (sequence, offsets) waiting for their outputs' acknowledgements.
    sealed: VecDeque<(usize, Offsets)>,
}

/// Input offsets committed after their outputs are acknowledged.
pub(crate) struct AckedBatches {
    /// Replaced when it goes fatal (see [`Delivery::replace_producer`]).
    producer: SwappableProducer,
    state: Mutex<State>,
    /// Told how long a flush or commit has been waiting (stall warnings).
    watch: Arc<BrokerWatch>,
}

impl AckedBatches {
    pub(crate) fn new(producer: Arc<EnricherProducer>, watch: Arc<BrokerWatch>) -> Self {
        Self {
            producer: SwappableProducer::new(producer),
            state: Mutex::new(State::default()),
            watch,
        }
    }

    /// Flush `producer` for up to [`CALL_TIMEOUT`], in slices, telling the
    /// watch how long it has waited (a paused broker is noticed here too);
    /// past `kafka.delivery-timeout` with the broker answering again, the
    /// producer is stuck and the flush gives up at once.
    fn flush_watched(&self, producer: &EnricherProducer) -> rdkafka::error::KafkaResult<()> {
        let started = Instant::now();
        loop {
            match producer.flush(FLUSH_SLICE) {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() >= CALL_TIMEOUT => return Err(e),
                // The broker answers again but the producer delivers nothing
                // (a restarted broker): give up now, the loop recreates it.
                Err(e) if self.watch.producer_stuck(started.elapsed()) => return Err(e),
                Err(_) => self
                    .watch
                    .check_waiting("flushing outputs", started.elapsed()),
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Commit the offsets of the leading batches whose outputs are all
    /// acknowledged. `wait` flushes first (revocation, shutdown); otherwise
    /// nothing blocks and the commit itself is asynchronous.
    fn commit_acknowledged<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
        wait: bool,
    ) -> Result<Outcome, KafkaRunError> {
        if state.sealed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let producer = self.producer.current();
        let tracker = producer.context();
        if wait && let Err(e) = self.flush_watched(&producer) {
            tracing::warn!("outputs not acknowledged in time ({e}); rewinding");
            self.rewind(state, consumer)?;
            return Ok(Outcome::Rewound);
        }
        if let Some(why) = tracker.take_error() {
            tracing::warn!("an output was refused ({why}); rewinding to process it again");
            self.rewind(state, consumer)?;
            return Ok(Outcome::Rewound);
        }
        let mut done: Offsets = BTreeMap::new();
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
            &self.watch,
            &mut state.progress.retries,
            || consumer.commit(&offsets, mode),
        ) {
            Ok(()) => {
                state.progress.commits += 1;
                Ok(Outcome::Committed)
            }
            // Outputs are out; a later commit covers these offsets (duplicates at worst).
            Err(f) => Err(KafkaRunError::GaveUp(f.into_message())),
        }
    }

    fn rewind<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        let seqs: Vec<usize> = state.sealed.drain(..).map(|(seq, _)| seq).collect();
        self.producer.current().context().forget(seqs);
        state.progress.rewind(consumer)
    }
}

impl<C: ConsumerContext> Delivery<C> for AckedBatches {
    fn init(&self) -> Result<(), KafkaRunError> {
        Ok(())
    }

    fn producer(&self) -> Arc<EnricherProducer> {
        self.producer.current()
    }

    fn replace_producer(
        &self,
        fresh: Arc<EnricherProducer>,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        let mut state = self.state();
        self.rewind(&mut state, consumer)?;
        self.producer.swap(fresh);
        Ok(())
    }

    fn before_produce(&self) -> Result<(), KafkaRunError> {
        Ok(())
    }

    fn mark_processed(&self, topic: &str, partition: i32, offset: i64) {
        self.state().progress.mark(topic, partition, offset);
    }

    fn next_batch(&self) -> usize {
        self.state().progress.next_batch
    }

    fn seal_batch(&self) {
        let mut state = self.state();
        let seq = state.progress.next_batch;
        state.progress.next_batch += 1;
        if !state.progress.processed.is_empty() {
            let offsets = std::mem::take(&mut state.progress.processed);
            state.sealed.push_back((seq, offsets));
        }
    }

    fn generation(&self) -> u64 {
        self.state().progress.generation
    }

    fn counters(&self) -> CommitCounters {
        self.state().progress.counters()
    }

    fn at_boundary(&self) -> bool {
        true
    }

    fn unit(&self) -> u64 {
        self.state().progress.next_batch as u64
    }

    fn has_pending(&self) -> bool {
        let s = self.state();
        !s.progress.processed.is_empty() || !s.sealed.is_empty()
    }

    fn commit(&self, consumer: &BaseConsumer<C>) -> Result<Outcome, KafkaRunError> {
        let mut state = self.state();
        self.commit_acknowledged(&mut state, consumer, false)
    }

    fn commit_all(&self, consumer: &BaseConsumer<C>) -> Result<Outcome, KafkaRunError> {
        let mut state = self.state();
        self.commit_acknowledged(&mut state, consumer, true)
    }

    fn abort(&self, consumer: &BaseConsumer<C>) -> Result<(), KafkaRunError> {
        let mut state = self.state();
        self.rewind(&mut state, consumer)
    }

    fn on_revoke(&self, consumer: &BaseConsumer<C>) {
        let mut state = self.state();
        if let Err(e) = self.commit_acknowledged(&mut state, consumer, true) {
            tracing::error!("commit before revocation failed: {e}");
        }
        state.progress.processed.clear();
        state.sealed.clear();
        state.progress.generation += 1;
    }
}
