//! Kafka mode of `enricher run`: consume `payment-events` in a consumer group,
//! run each batch through the pipeline, produce to `enriched-payments` /
//! `failed-payments`, and commit input offsets with the outputs.
//!
//! - [`admin`]: creating topics;
//! - [`clients`]: librdkafka settings for the consumer and producer (user keys pass through);
//! - [`commit`]: the two delivery modes: transactions (exactly-once) or acknowledged
//!   outputs then offsets (at-least-once), and what each Kafka error leads to;
//! - [`records`]: Kafka messages in, routed records out (headers, backpressure, size limit);
//! - [`runner`]: the consume → enrich → produce → commit loop, rebalances, stop and shutdown;
//! - [`progress`]: where the input topic ended at start (for `--stop-at-end`);
//! - [`tail`]: reading a topic back (`enricher topic tail`), for people and tests.

pub mod admin;
pub mod clients;
pub mod commit;
pub mod progress;
pub mod records;
pub mod runner;
pub mod tail;

/// Why a Kafka run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum KafkaRunError {
    #[error("cannot create the Kafka client: {0}")]
    Client(String),
    /// The broker cannot do what the delivery mode needs (e.g. transactions).
    #[error("{0}")]
    Unsupported(String),
    /// An error Kafka says cannot be recovered from (fenced producer, fatal idempotence error...).
    #[error("fatal Kafka error, stopping: {0}")]
    Fatal(String),
    #[error("Kafka operation failed after retries: {0}")]
    GaveUp(String),
}
