//! The claims lookup a run reads: the DuckDB file or the PostgreSQL table
//! the config names, checked before the stream starts, and with the claims
//! changelog on (DuckDB only), the file kept current from the changelog topic
//! (created when missing) before the host serves.

use std::sync::Arc;
use std::time::Duration;

use super::StartError;
use crate::changelog::{ChangelogApplier, ClaimsWriter, create_topic, topic_exists};
use crate::config::{ClaimsSource, Config, PostgresTarget};
use crate::lookup::{ClaimsLookup, ClaimsStore, DuckDbStore, FetchError, PostgresStore};

/// Open the claims database the config names and start the lookup over it.
pub fn open_lookup(config: &Config) -> Result<Arc<ClaimsLookup>, StartError> {
    let path = match config.claims_source()? {
        ClaimsSource::Postgres(target) => return open_postgres_lookup(config, &target),
        ClaimsSource::DuckDb(Some(path)) => path,
        ClaimsSource::DuckDb(None) => return Err(StartError::InMemory(config.duckdb.url.clone())),
    };
    let store = DuckDbStore::open(Some(&path), config.duckdb.threads).map_err(|error| {
        if is_lock_conflict(&error.to_string()) {
            StartError::HeldByWriter {
                db: path.display().to_string(),
                error,
            }
        } else {
            StartError::Store(error)
        }
    })?;
    // Fail fast on a database without a usable claims table.
    store.check_schema().map_err(|problem| StartError::Schema {
        db: path.display().to_string(),
        problem,
    })?;
    let rows = store.count()?;
    tracing::info!(db = %config.duckdb.url, rows, cache = ?config.lookup.cache, "claims store opened");
    start_lookup(Box::new(store), config)
}

/// The lookup over a PostgreSQL table, looked up directly: the table's
/// shape is checked first (the same rule as DuckDB's).
fn open_postgres_lookup(
    config: &Config,
    target: &PostgresTarget,
) -> Result<Arc<ClaimsLookup>, StartError> {
    let store = PostgresStore::connect(target, config.lookup.timeout)?;
    store.connect_now()?;
    store
        .check_schema()
        .map_err(|problem| StartError::PostgresSchema {
            url: store.shown().to_owned(),
            problem,
        })?;
    tracing::info!(url = %store.shown(), cache = ?config.lookup.cache, "claims looked up in PostgreSQL");
    start_lookup(Box::new(store), config)
}

fn start_lookup(
    store: Box<dyn ClaimsStore>,
    config: &Config,
) -> Result<Arc<ClaimsLookup>, StartError> {
    let lookup = ClaimsLookup::start(store, &config.lookup).map_err(|e| match e {
        FetchError::Unavailable(why) | FetchError::Timeout(why) => StartError::Lookup(why),
    })?;
    Ok(Arc::new(lookup))
}

/// How long a starting host waits to apply what the changelog holds.
const CHANGELOG_CATCH_UP: Duration = Duration::from_secs(60);
/// How long a host that created the changelog topic waits to see it.
const CHANGELOG_CREATED_WAIT: Duration = Duration::from_secs(15);

/// Whether a DuckDB error says another process holds the file's lock.
pub fn is_lock_conflict(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("could not set lock") || lower.contains("conflicting lock")
}

/// Create the missing changelog `topic` (compacted, as `claims publish`
/// does) and wait until the broker shows it. `false` when it cannot be
/// created (say the host may not create topics): the host then serves the
/// claims its file holds, and says so.
fn create_changelog(config: &Config, topic: &str) -> Result<bool, StartError> {
    if let Err(error) = create_topic(&config.kafka, topic) {
        tracing::warn!(topic, %error, "no claims changelog topic, and it could not be created: \
            the claims are the ones the file holds (create it with `enricher claims publish`, then restart)");
        return Ok(false);
    }
    let deadline = std::time::Instant::now() + CHANGELOG_CREATED_WAIT;
    while !topic_exists(&config.kafka, topic)? {
        if std::time::Instant::now() >= deadline {
            tracing::warn!(
                topic,
                "created the claims changelog topic, but the broker does not show it yet: \
                the claims are the ones the file holds until a restart"
            );
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    tracing::info!(
        topic,
        "created the claims changelog topic (compacted); this host applies it"
    );
    Ok(true)
}

/// The lookup over this host's own, writable database and the thread that
/// applies the claims changelog into it (Kafka mode; a missing topic is
/// created first, compacted); `None` when the changelog is off or its topic
/// could not be created.
pub fn open_changelog_lookup(
    config: &Config,
) -> Result<Option<(Arc<ClaimsLookup>, ChangelogApplier)>, StartError> {
    let Some(topic) = config.claims.changelog() else {
        return Ok(None);
    };
    if let ClaimsSource::Postgres(target) = config.claims_source()? {
        tracing::info!(url = %target.shown(), topic, "claims are looked up in PostgreSQL directly: \
            the claims changelog is not applied (it feeds hosts that keep a DuckDB copy)");
        return Ok(None);
    }
    if !topic_exists(&config.kafka, topic)? && !create_changelog(config, topic)? {
        return Ok(None);
    }
    let Some(path) = config.duckdb_file()? else {
        return Err(StartError::InMemory(config.duckdb.url.clone()));
    };
    let db = path.display().to_string();
    let (writer, store) = ClaimsWriter::open(&path, config.duckdb.threads).map_err(|error| {
        if is_lock_conflict(&error.to_string()) {
            StartError::InUse {
                db: db.clone(),
                error,
            }
        } else {
            StartError::Store(error)
        }
    })?;
    store.check_schema().map_err(|problem| StartError::Schema {
        db: db.clone(),
        problem,
    })?;
    let rows = store.count()?;
    tracing::info!(db = %db, rows, topic, cache = ?config.lookup.cache, "claims store opened read-write for the changelog");
    let lookup = ClaimsLookup::start(Box::new(store), &config.lookup).map_err(|e| match e {
        FetchError::Unavailable(why) | FetchError::Timeout(why) => StartError::Lookup(why),
    })?;
    let lookup = Arc::new(lookup);
    let applier = ChangelogApplier::start(
        &config.kafka,
        &config.claims,
        topic,
        writer,
        Arc::clone(&lookup),
        CHANGELOG_CATCH_UP,
    )?;
    Ok(Some((lookup, applier)))
}
