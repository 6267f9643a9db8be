//! Kafka mode of `enricher run`: consume `payment-events` in a consumer group,
//! run each batch through the pipeline, produce to `enriched-payments` /
//! `failed-payments`, and commit input offsets with the outputs.
//!
//! - `reach`: waiting for the broker at start (says which address, backs off, stops on SIGTERM;
//!   a broker refusing the client's TLS or SASL settings stops every command at once, naming why;
//!   `settings_refused`: librdkafka's words for it);
//! - `broker_watch`: broker reachability and stalls from librdkafka's statistics;
//! - `topics`: creating topics (plain and compacted);
//! - `clients`: librdkafka settings for every client (user keys pass through), error logging;
//! - `delivery`: the two delivery modes, exactly-once (transactions) and
//!   at-least-once (acknowledged batches), behind one trait;
//! - `group`: the consumer's context: commit before partitions are revoked;
//! - `group_watch`: a management thread naming missing input topics and group
//!   members that are not enricher hosts (readiness, status line);
//! - `records`: Kafka messages in, routed records out (headers, backpressure, size limit);
//!   `header_guard`: input headers named like the host's own are renamed `original-<name>`;
//! - `faults`: heartbeat, lost assignment, recreating a fatal producer;
//! - `runner`: the poll → process → produce → maybe-commit loop;
//! - `late`, `held`: late claims, CLAIM_NOT_FOUND retried through the retry
//!   topic, and the retry partitions paused until their head is due;
//! - `redrive`, `failure_source`: `enricher redrive`, failure records run again through the loop;
//! - `progress`: where the input topic ended at start (for `--stop-at-end`);
//! - `tail`: reading a topic back (`enricher topic tail`), for people and tests;
//! - `topic_writer`: JSON lines into a topic (`enricher generate --topic`, load tools).

mod broker_watch;
pub(crate) mod clients;
mod delivery;
mod failure_source;
mod faults;
mod group;
mod group_watch;
mod header_guard;
mod held;
mod late;
mod progress;
mod reach;
mod records;
pub mod redrive;
mod refusals;
mod runner;
mod send_when_room;
mod settings_refused;
mod tail;
mod topic_writer;
pub(crate) mod topics;

pub use clients::{OUR_MEMBER_PREFIX, client_config, load_producer_config};
pub use delivery::CommitCounters;
pub use late::{RETRY_ATTEMPT_HEADER, RETRY_ATTEMPTS_HEADER, RETRY_DUE_HEADER};
pub use progress::{partition_ends, partition_watermarks};
pub use reach::{CHECK_WINDOW, check_broker, wait_for_broker};
pub use records::COMMIT_UNIT_HEADER;
pub use refusals::Refusals;
pub use runner::{BatchTransform, KafkaRunReport, RunOptions, run, run_observed};
pub(crate) use send_when_room::send_when_room;
pub use tail::{TailOptions, TailedRecord, tail_topic};
pub use topic_writer::TopicWriter;
pub use topics::create_topics;

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
    /// The broker refused the client for its settings (TLS, SASL): no retry mends it.
    #[error("{0}")]
    Refused(String),
    /// The broker knows no such topic (or it has no partitions).
    #[error("topic {0} does not exist or has no partitions")]
    NoSuchTopic(String),
}
