//! Wiring shared by the commands: config → claims lookup → plugin → pipeline,
//! and for Kafka mode the deployer, the fleet topic and the admin API.
//!
//! Layout: `claims` opens the lookup (and the changelog), `plugin` the
//! component and the pipeline, `admin` reads the admin API's settings,
//! `file_host` and `kafka_host` build the two kinds of host. This file holds
//! the error they share.

use crate::admin::AdminStartError;
use crate::deploy::signature::SignatureError;
use crate::error::{ConfigError, PluginError, StoreError};
use crate::kafka::KafkaRunError;
use crate::lookup::SchemaError;

/// The host could not start a run. Each message says it all: none has a
/// `source()` repeating its last words (`main` prints the whole chain).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("claims store: {0}")]
    Store(StoreError),
    #[error("claims store: {0}")]
    Lookup(String),
    /// `duckdb.url` names no file: an in-memory database never holds claims.
    #[error(
        "duckdb.url (DUCKDB_URL) is {0:?}, an in-memory database, which has no claims table: \
         give the database file `enricher claims load FILE --db PATH` wrote (such as claims.duckdb)"
    )]
    InMemory(String),
    /// The database's claims table is not the one the lookup reads.
    #[error(
        "claims database {db}: {problem}; re-create it with `enricher claims load FILE --db {db}`"
    )]
    Schema { db: String, problem: SchemaError },
    /// The PostgreSQL table is not the one the lookup reads.
    #[error(
        "claims table in PostgreSQL {url}: {problem}; give the table these columns \
         (or a table=... that has them)"
    )]
    PostgresSchema { url: String, problem: SchemaError },
    #[error(transparent)]
    Kafka(#[from] KafkaRunError),
    /// A key file of `deploy.trusted-keys` is missing or not a public key.
    #[error("deploy.trusted-keys (ENRICHER_TRUSTED_KEYS): {0}")]
    TrustedKeys(SignatureError),
    /// Signed plugins are required and the `--plugin` file's signature does not verify.
    #[error("plugin {plugin}: {error} (its signature is read from {plugin}.sig)")]
    Unsigned {
        plugin: String,
        error: SignatureError,
    },
    /// Another process (a running host) holds the database file.
    #[error(
        "claims database {db} is in use by another process (a running host?): {error}. \
         With the claims changelog on, each host needs its own DuckDB file (hosts that \
         share one file read-only must set CLAIMS_CHANGELOG_TOPIC=off)"
    )]
    InUse { db: String, error: StoreError },
    /// Another process writes the database file (a host with its admin API or
    /// the changelog on): DuckDB refuses even a read-only open then.
    #[error(
        "claims database {db} is being written by another process (a host with its admin API \
         or the claims changelog on) and DuckDB lets no other process open a file while one \
         writes it, not even read-only ({error}). Stop that host, give this one its own copy \
         of the file, or have the writer publish changes (`enricher claims publish`) instead"
    )]
    HeldByWriter { db: String, error: StoreError },
    #[error(transparent)]
    Admin(#[from] AdminStartError),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(e)
    }
}

mod admin;
mod claims;
mod file_host;
mod kafka_host;
mod plugin;

pub use admin::{admin_options, check_admin_settings};
pub use claims::{is_lock_conflict, open_changelog_lookup, open_lookup};
pub use file_host::{FileHost, build_file_host};
pub use kafka_host::{KafkaHost, build_kafka_host};
pub use plugin::{
    StartupTrust, build_file_pipeline, build_native_file_pipeline, build_pipeline, load_plugin,
    plugin_bytes, startup_trust,
};
