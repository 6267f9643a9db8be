//! `enricher claims sync`: change data capture from a PostgreSQL claims table
//! into the claims changelog topic, which every host applies (`changelog`).
//!
//! The shape of a run:
//! 1. `source`: the `postgres://` URL, the table, slot and publication names;
//!    `setup`: the publication (created if missing), the slot's state, the
//!    table's columns, over plain SQL (tokio-postgres);
//! 2. `snapshot`: when the slot does not exist, it is created on a
//!    replication session with an exported snapshot, the table is read in
//!    that snapshot (`SET TRANSACTION SNAPSHOT`) and every row published as an
//!    upsert; the snapshot's completion is recorded in the publication's
//!    comment, so a run killed mid-snapshot starts over instead of resuming a
//!    slot whose snapshot never reached the changelog;
//! 3. `follow`: the slot streamed through logical replication (`pgoutput`),
//!    each committed transaction's changes (`decode`) handed in commit order
//!    to `sink`, every record stamped with the commit time;
//! 4. `sink`: the producer thread (idempotent, `acks=all`): it flushes, and
//!    only then reports the WAL position reached as durable; `follow`
//!    acknowledges (standby status update, the slot's `confirmed_flush_lsn`)
//!    only what `sink` reported durable.
//!
//! The guarantee: the slot's confirmed position never passes a change that
//! is not on the changelog, so a restart after a crash or SIGKILL resumes
//! from it and loses nothing. What was published after the last confirmed
//! position is published again on the restart: the same upserts and
//! tombstones of the same rows in the same order, which the hosts apply to
//! the same end state (the last change of a claim wins).
//!
//! `status`: the counters and lag (bytes of WAL behind, seconds behind the
//! last commit) the status line and the tests read; `metrics`: the same as
//! `/metrics` on `--metrics-addr`.

mod decode;
mod follow;
mod metrics;
mod setup;
mod sink;
mod snapshot;
mod source;
mod status;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::config::KafkaConfig;
use crate::kafka::KafkaRunError;

pub use metrics::SyncMetricsServer;
pub use source::SyncSource;
pub use status::{SyncProgress, SyncStatus};

/// What `claims sync` follows, and where it reports.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// `postgres://user[:password]@host[:port]/db[?table=...]` (password also from `PGPASSWORD`).
    pub from: String,
    /// The claims table (`name` or `schema.name`); `None`: the URL's `table=`, else `claims`.
    pub table: Option<String>,
    /// The logical replication slot (created with `pgoutput` if missing).
    pub slot: String,
    /// The publication of the table (created if missing).
    pub publication: String,
    /// How often the status line is logged (`None`: never).
    pub status_every: Option<Duration>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Whether an existing slot was resumed (no snapshot taken).
    pub resumed: bool,
    pub status: SyncStatus,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// The table, slot or publication cannot be used as they are.
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Kafka(#[from] KafkaRunError),
}

impl From<tokio_postgres::Error> for SyncError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message (with its detail) is what an operator needs.
        match e.as_db_error() {
            Some(db) => SyncError::Postgres(match db.detail() {
                Some(detail) => format!("{} ({detail})", db.message()),
                None => db.message().to_owned(),
            }),
            None => SyncError::Postgres(e.to_string()),
        }
    }
}

impl From<pgwire_replication::PgWireError> for SyncError {
    fn from(e: pgwire_replication::PgWireError) -> Self {
        SyncError::Postgres(format!("replication session: {e}"))
    }
}

/// Run `claims sync` until `stop` is set (then flush, acknowledge, return)
/// or an error: publish the table's snapshot when the slot is new, then
/// every committed change, to the changelog `topic`. `progress` is updated
/// as it goes (the status line and tests read it).
pub fn run(
    kafka: &KafkaConfig,
    topic: &str,
    options: &SyncOptions,
    stop: &AtomicBool,
    progress: Arc<SyncProgress>,
) -> Result<SyncReport, SyncError> {
    let source = SyncSource::parse(options)?;
    crate::changelog::create_topic(kafka, topic)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SyncError::Setup(format!("starting the async runtime: {e}")))?;
    runtime.block_on(follow::run(
        &source,
        kafka,
        topic,
        options.status_every,
        stop,
        progress,
    ))
}
