//! Error types that code branches on, shared by several modules (each
//! module's own errors live with it). `anyhow` is used only in the binary.
//!
//! A message that embeds its cause does not also return it as `source()`, so
//! a chain of causes says each once (`LoadError::Read`, made in `claims_load`,
//! still does both: the binary's printer drops a cause its message holds).

use std::path::PathBuf;

/// The configuration cannot be read or makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {0}")]
    Invalid(String),
}

/// A plugin cannot be loaded, or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Not a component, or one that does not fit the host's world.
    #[error("plugin {name} is not a usable enrichment component: {message}")]
    Incompatible { name: String, message: String },
    /// The plugin trapped (panic, unreachable, out of bounds...): the instance is discarded.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The plugin returned `batch-error` for a whole batch.
    #[error("plugin reported a batch error: {0}")]
    Batch(String),
    /// The compiled plugin cache folder could be written by another user.
    #[error("{0}")]
    UnsafeCache(String),
}

/// The claims store failed one query.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// Worth trying again (I/O, lock, connection trouble).
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way again (missing table, bad schema).
    #[error("{0}")]
    Permanent(String),
    /// The query was interrupted because the lookup ran out of time.
    #[error("query interrupted: {0}")]
    Interrupted(String),
}

impl StoreError {
    pub fn is_retriable(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

/// `enricher claims load` failed; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{count} bad row(s) in {path}, nothing loaded:\n{details}")]
    BadRows {
        path: PathBuf,
        count: usize,
        details: String,
    },
    /// No row to load (header only, empty, or every row bad and skipped):
    /// refused unless asked for, so a mistake does not empty the table.
    #[error(
        "no claims to load from {}{}: nothing changed, the claims table is kept; \
         pass --allow-empty to replace it with an empty table{}",
        .path.display(),
        all_bad(*.rows_rejected),
        listed(.details)
    )]
    Empty {
        path: PathBuf,
        rows_rejected: u64,
        details: String,
    },
    #[error("DuckDB: {0}")]
    Db(duckdb::Error),
}

impl From<duckdb::Error> for LoadError {
    fn from(e: duckdb::Error) -> Self {
        LoadError::Db(e)
    }
}

/// ` (all N row(s) are bad)`, or nothing when no row was.
fn all_bad(rows_rejected: u64) -> String {
    match rows_rejected {
        0 => String::new(),
        n => format!(" (all {n} row(s) are bad)"),
    }
}

/// `:` and the bad rows on their own lines, or nothing.
fn listed(details: &str) -> String {
    match details {
        "" => String::new(),
        details => format!(":\n{details}"),
    }
}
