//! Committing input offsets together with outputs: the two delivery modes
//! as two types behind one trait, each with only its own state.
//!
//! - `exactly_once`: [`Transactions`], outputs and offsets in one Kafka transaction;
//! - `at_least_once`: [`AckedBatches`], offsets committed once a batch's outputs are acknowledged;
//! - `progress`: what both track (processed offsets, generations, the rewind);
//! - `retry`: what each Kafka error leads to (retry, abort and rewind, stop);
//! - `swappable`: the producer both write with, replaced when it goes fatal.

mod at_least_once;
mod exactly_once;
mod progress;
mod retry;
mod swappable;

use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext};

pub(crate) use at_least_once::AckedBatches;
pub(crate) use exactly_once::Transactions;

use super::KafkaRunError;
use super::broker_watch::BrokerWatch;
use super::records::EnricherProducer;
use crate::config::DeliveryMode;

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing was pending.
    Idle,
    Committed,
    /// The batch was abandoned; the consumer was rewound to the committed offsets.
    Rewound,
}

/// Counters of the commit side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitCounters {
    pub commits: u64,
    pub rewinds: u64,
    /// Commit-side calls (send offsets, commit, abort) called again after an
    /// error Kafka calls retriable. librdkafka retries most broker errors
    /// itself within a call; these are the ones it handed back (time-outs).
    pub retries: u64,
}

/// A delivery mode: when outputs count as delivered and offsets as committed.
/// Shared by the loop and the consumer's rebalance callback (same thread).
pub(crate) trait Delivery<C: ConsumerContext>: Send + Sync {
    /// Prepare the producer (exactly-once: register the transactional id,
    /// fencing older instances; fails clearly without broker support).
    fn init(&self) -> Result<(), KafkaRunError>;
    fn producer(&self) -> Arc<EnricherProducer>;
    /// The producer went fatal: abandon what is open (its outputs may be
    /// lost with it), take `fresh` (exactly-once: register it, which aborts
    /// the dead one's transaction) and rewind the consumer to the committed
    /// offsets, so those inputs are processed again.
    fn replace_producer(
        &self,
        fresh: Arc<EnricherProducer>,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaRunError>;
    /// Before a batch's outputs are produced (exactly-once: open a transaction).
    fn before_produce(&self) -> Result<(), KafkaRunError>;
    /// The outputs of inputs up to `offset` of a partition have been produced.
    fn mark_processed(&self, topic: &str, partition: i32, offset: i64);
    /// The sequence number of the next batch (its records carry it to the delivery reports).
    fn next_batch(&self) -> usize;
    /// The batch's outputs are all sent.
    fn seal_batch(&self);
    /// Bumped on every rewind or revocation: polled-but-unprocessed messages are stale.
    fn generation(&self) -> u64;
    fn counters(&self) -> CommitCounters;
    /// Whether nothing is open (no transaction): the plugin may change only then.
    fn at_boundary(&self) -> bool;
    /// The commit unit the next outputs belong to (transaction or batch number).
    fn unit(&self) -> u64;
    fn has_pending(&self) -> bool;
    /// Commit what was processed (with its outputs), without waiting where the mode allows.
    fn commit(&self, consumer: &BaseConsumer<C>) -> Result<Outcome, KafkaRunError>;
    /// Commit everything processed, waiting for outstanding outputs (shutdown).
    fn commit_all(&self, consumer: &BaseConsumer<C>) -> Result<Outcome, KafkaRunError>;
    /// Abandon what is open and go back to the committed offsets.
    fn abort(&self, consumer: &BaseConsumer<C>) -> Result<(), KafkaRunError>;
    /// Before partitions are revoked: commit (or abort) what is open, and make
    /// polled-but-unprocessed messages stale.
    fn on_revoke(&self, consumer: &BaseConsumer<C>);
}

/// The delivery mode `mode` over `producer`; its retry loops tell `watch`
/// how long they wait on the broker.
pub(crate) fn for_mode<C: ConsumerContext>(
    mode: DeliveryMode,
    producer: Arc<EnricherProducer>,
    watch: Arc<BrokerWatch>,
) -> Arc<dyn Delivery<C>> {
    match mode {
        DeliveryMode::ExactlyOnce => Arc::new(Transactions::new(producer, watch)),
        DeliveryMode::AtLeastOnce => Arc::new(AckedBatches::new(producer, watch)),
    }
}
