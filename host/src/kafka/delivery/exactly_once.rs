//! Exactly-once: one Kafka transaction at a time. `begin` before the first
//! output, then `send_offsets_to_transaction(processed offsets, group
//! metadata)`, wait for the outputs, and `commit`. Retriable errors are retried; abortable ones
//! abort the transaction and rewind the consumer to the committed offsets
//! (the inputs are processed again); fatal ones (fenced, ...) stop the run.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;

use super::progress::{CALL_TIMEOUT, Progress, offsets_of};
use super::retry::{Failure, with_retries};
use super::swappable::SwappableProducer;
use super::{CommitCounters, Delivery, Outcome};
use crate::kafka::KafkaRunError;
use crate::kafka::broker_watch::BrokerWatch;
use crate::kafka::records::EnricherProducer;

#[derive(Default)]
struct State {
    progress: Progress,
    txn_open: bool,
    /// Transactions begun: the commit unit outputs are produced in.
    transactions: u64,
}

/// Outputs and input offsets committed together in transactions.
pub(crate) struct Transactions {
    /// Replaced when it goes fatal (see [`Delivery::replace_producer`]).
    producer: SwappableProducer,
    state: Mutex<State>,
    /// Told how long a commit or abort has been failing (stall warnings).
    watch: Arc<BrokerWatch>,
}

impl Transactions {
    pub(crate) fn new(producer: Arc<EnricherProducer>, watch: Arc<BrokerWatch>) -> Self {
        Self {
            producer: SwappableProducer::new(producer),
            state: Mutex::new(State::default()),
            watch,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn commit_transaction<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
    ) -> Result<Outcome, KafkaRunError> {
        if !state.txn_open {
            return Ok(Outcome::Idle);
        }
        let offsets = offsets_of(&state.progress.processed)?;
        let result = if offsets.count() > 0 {
            let group = consumer
                .group_metadata()
                .ok_or_else(|| KafkaRunError::Fatal("the consumer has no group metadata".into()))?;
            with_retries(
                "send_offsets_to_transaction",
                &self.watch,
                &mut state.progress.retries,
                || {
                    self.producer.current().send_offsets_to_transaction(
                        &offsets,
                        &group,
                        CALL_TIMEOUT,
                    )
                },
            )
        } else {
            Ok(())
        }
        .and_then(|()| {
            wait_for_outputs(&self.producer.current(), CALL_TIMEOUT);
            with_retries(
                "commit_transaction",
                &self.watch,
                &mut state.progress.retries,
                || self.producer.current().commit_transaction(CALL_TIMEOUT),
            )
        });
        match result {
            Ok(()) => {
                state.txn_open = false;
                state.progress.processed.clear();
                state.progress.commits += 1;
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

    fn abort_and_rewind<C: ConsumerContext>(
        &self,
        state: &mut State,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError> {
        if state.txn_open {
            with_retries(
                "abort_transaction",
                &self.watch,
                &mut state.progress.retries,
                || self.producer.current().abort_transaction(CALL_TIMEOUT),
            )
            .map_err(|f| KafkaRunError::Fatal(f.into_message()))?;
            state.txn_open = false;
        }
        state.progress.rewind(consumer)
    }
}

/// Wait (up to `limit`) until every output of the transaction is
/// acknowledged, sending lingering ones at once (librdkafka's flush). The
/// commit needs that anyway, but rust-rdkafka's `commit_transaction` flushes
/// by polling in steps of 100 ms while anything is in flight: with a 5 ms
/// linger there nearly always is, so each commit stalled the loop ~100 ms
/// (half the time at the default 100 ms commit interval). librdkafka's own
/// flush, with delivery reports served by the producer's thread, returns as
/// soon as the last output is acknowledged, leaving that poll nothing to wait
/// for. Past `limit` the commit's own flush decides.
fn wait_for_outputs(producer: &EnricherProducer, limit: Duration) {
    let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the handle is the live producer `producer` owns for the whole
    // call; `rd_kafka_flush` is thread-safe and only waits (our delivery
    // reports are events the producer's own thread serves).
    let _ = unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms) };
}

/// Why exactly-once could not start, with both usual causes of a refused
/// transactional id: a broker without transactions (a test broker) and, on a
/// real cluster, a principal without the ACL on its transactional id.
fn init_failure(e: &KafkaError) -> String {
    let refused = matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    );
    if refused {
        format!(
            "exactly-once delivery could not start: the broker refused this instance's \
             transactional id ({e}). Either the broker has no transactions (a test broker such \
             as nisshi: use --delivery at-least-once), or, on a real cluster, an ACL is missing: \
             allow this principal WRITE and DESCRIBE on the TransactionalId \
             (kafka.transactional-id, KAFKA_TRANSACTIONAL_ID) and IDEMPOTENT_WRITE on the cluster."
        )
    } else {
        format!(
            "exactly-once delivery needs a broker with transactions (Apache Kafka ≥ 2.5, Redpanda), \
             and initialising them failed: {e}. Use --delivery at-least-once for brokers without them."
        )
    }
}

impl<C: ConsumerContext> Delivery<C> for Transactions {
    fn init(&self) -> Result<(), KafkaRunError> {
        self.producer
            .current()
            .init_transactions(CALL_TIMEOUT)
            .map_err(|e| KafkaRunError::Unsupported(init_failure(&e)))
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
        fresh
            .init_transactions(CALL_TIMEOUT)
            .map_err(|e| KafkaRunError::GaveUp(format!("init_transactions: {e}")))?;
        self.producer.swap(fresh);
        state.txn_open = false;
        state.progress.rewind(consumer)
    }

    fn before_produce(&self) -> Result<(), KafkaRunError> {
        let mut state = self.state();
        if !state.txn_open {
            self.producer
                .current()
                .begin_transaction()
                .map_err(|e| KafkaRunError::Fatal(format!("begin_transaction: {e}")))?;
            state.txn_open = true;
            state.transactions += 1;
        }
        Ok(())
    }

    fn mark_processed(&self, topic: &str, partition: i32, offset: i64) {
        self.state().progress.mark(topic, partition, offset);
    }

    fn next_batch(&self) -> usize {
        self.state().progress.next_batch
    }

    fn seal_batch(&self) {
        self.state().progress.next_batch += 1;
    }

    fn generation(&self) -> u64 {
        self.state().progress.generation
    }

    fn counters(&self) -> CommitCounters {
        self.state().progress.counters()
    }

    fn at_boundary(&self) -> bool {
        !self.state().txn_open
    }

    fn unit(&self) -> u64 {
        self.state().transactions
    }

    fn has_pending(&self) -> bool {
        let s = self.state();
        s.txn_open || !s.progress.processed.is_empty()
    }

    fn commit(&self, consumer: &BaseConsumer<C>) -> Result<Outcome, KafkaRunError> {
        let mut state = self.state();
        self.commit_transaction(&mut state, consumer)
    }

    fn commit_all(&self, consumer: &BaseConsumer<C>) -> Result<Outcome, KafkaRunError> {
        self.commit(consumer)
    }

    fn abort(&self, consumer: &BaseConsumer<C>) -> Result<(), KafkaRunError> {
        let mut state = self.state();
        self.abort_and_rewind(&mut state, consumer)
    }

    fn on_revoke(&self, consumer: &BaseConsumer<C>) {
        let mut state = self.state();
        if let Err(e) = self.commit_transaction(&mut state, consumer) {
            tracing::error!("commit before revocation failed: {e}");
        }
        state.progress.processed.clear();
        state.progress.generation += 1;
    }
}
