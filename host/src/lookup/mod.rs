//! The claims lookup the plugin's `claims.lookup` import is served from.
//!
//! - `cache`: LRU + TTL partial cache (with negative caching);
//! - `full`: the whole table in memory, reloaded on a schedule;
//! - `auto`: the default mode's choice between the two, by the table's size;
//! - `fetch`: the store on its worker thread, with timeout and retries;
//! - `partial`: answering from the partial cache (hits, misses, serve-stale);
//! - `misses`: one store query for a batch's misses, through `flight`;
//! - `flight`: single flight, so concurrent misses of one id make one query;
//! - `store`: the store trait ([`ClaimsStore`]); `duckdb_store`: the DuckDB implementation;
//!   `postgres_store`: claims looked up in PostgreSQL directly (`postgres_tls`: its `sslmode`;
//!   `postgres_rows`: reading its rows; `postgres_errors`: what its errors mean);
//! - `schema`: the claims table the lookup expects, checked at start;
//! - `changes`: changes applied while running (the claims changelog) and their progress;
//! - `prefetch`: the misses of records read ahead, resolved while the plugin runs.
//!
//! One call answers a whole batch of ids: cache hits first, then every miss
//! of the batch in one store query. With serve-stale on, an id the store
//! cannot answer (DB_ERROR, DB_TIMEOUT) is answered from its expired cache
//! row when that row expired less than `lookup.serve-stale-for` ago.

mod auto;
mod cache;
mod changes;
mod counts;
mod duckdb_open;
mod duckdb_store;
mod fetch;
mod flight;
mod full;
mod misses;
mod partial;
mod postgres_errors;
mod postgres_rows;
mod postgres_store;
mod postgres_tls;
mod prefetch;
mod schema;
mod store;

pub use auto::{BACKGROUND_LOAD_ROWS, CacheChoice, ROW_OVERHEAD_BYTES, estimate_bytes};
pub use cache::CacheCounters;
pub use changes::{ChangelogProgress, ChangelogStatus, ClaimChange};
pub use duckdb_open::{check_header, classify};
pub use duckdb_store::{DuckDbStore, QueryShape};
pub use fetch::FetchError;
pub use postgres_store::PostgresStore;
pub use prefetch::PREFETCH_IDS;
pub use schema::{SchemaError, expected_table};
pub use store::{ClaimsStore, Interrupter, TableSize};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{CacheMode, LookupConfig};
use crate::observe::HistogramSnapshot;
use cache::TtlLruCache;
use counts::CacheAtomics;
use fetch::{Fetcher, RetryPolicy};
use flight::Flights;
use full::FullCache;
use prefetch::Prefetcher;

/// One row of the claims table (`enricher-model`'s, the type plugins get).
pub type ClaimRow = enricher_model::Claim;

/// The answer for one id: `enricher-model`'s, the type plugins get, with
/// the claim as the lookup serves it. DB_ERROR and DB_TIMEOUT are
/// `Unavailable` and `Timeout`.
pub type LookupAnswer = enricher_model::ClaimAnswer<Served, String>;

/// A found claim as the lookup serves it: the shared row, and whether it
/// came from an expired cache row because the store failed (serve-stale):
/// served as found, and the output that used it is marked.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub claim: Arc<ClaimRow>,
    pub stale: bool,
}

impl Served {
    /// A row as the store or a fresh cache entry holds it.
    pub fn fresh(claim: Arc<ClaimRow>) -> Self {
        Served {
            claim,
            stale: false,
        }
    }
}

impl std::ops::Deref for Served {
    type Target = ClaimRow;

    fn deref(&self) -> &ClaimRow {
        &self.claim
    }
}

enum Mode {
    Partial(Mutex<TtlLruCache>),
    Full(FullCache),
    /// `auto` on a large table: the partial cache until the full table,
    /// loading in the background on a second connection, is ready.
    PartialUntilFull {
        partial: Mutex<TtlLruCache>,
        full: FullCache,
        /// The partial cache has been emptied (once the full table serves).
        partial_dropped: std::sync::atomic::AtomicBool,
    },
    Direct,
}

/// Everything the lookup has counted since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LookupStats {
    pub cache: CacheCounters,
    pub store_queries: u64,
    pub store_retries: u64,
    pub store_errors: u64,
    pub store_timeouts: u64,
    pub full_reloads: u64,
    pub full_reload_failures: u64,
    /// Rows held in memory (partial cache entries, or the full table).
    pub rows_in_memory: u64,
    /// Ids answered by another lookup's store query (single flight).
    pub store_coalesced: u64,
    /// Ids answered from an expired row while the store failed (serve-stale).
    pub stale_served: u64,
    /// Ids fetched ahead of the plugin's lookups (prefetch, partial cache).
    pub prefetched: u64,
}

pub struct ClaimsLookup {
    mode: Mode,
    fetcher: Arc<Fetcher>,
    flights: Flights,
    /// How long a waiter of another lookup's query waits at most.
    flight_wait: Duration,
    stale_served: AtomicU64,
    /// Set when changes are applied while running (the claims changelog).
    changelog: std::sync::OnceLock<Arc<ChangelogProgress>>,
    /// The cache's counters as atomics, so [`Self::stats`] (a scrape on the
    /// admin thread) never takes the lock the stream's lookups take.
    counts: CacheAtomics,
    /// The mode it runs with and why (`auto` resolved).
    choice: CacheChoice,
    /// The partial cache's size (bounds the prefetch window).
    cache_max_rows: usize,
    prefetcher: Prefetcher,
    prefetched: AtomicU64,
}

impl ClaimsLookup {
    /// Start the lookup over `store`. In full mode the table is loaded now.
    pub fn start(
        mut store: Box<dyn ClaimsStore>,
        config: &LookupConfig,
    ) -> Result<Self, FetchError> {
        let (cache_mode, choice, background) = auto::choose(&mut *store, config);
        let loader = match cache_mode {
            CacheMode::Full if background => store.second_connection(),
            _ => None,
        };
        let policy = RetryPolicy {
            timeout: config.timeout,
            max_retries: config.max_retries,
            backoff: config.retry_backoff,
            backoff_max: config.retry_backoff_max,
        };
        let fetcher = Arc::new(Fetcher::spawn(store, policy));
        let partial = || {
            Mutex::new(
                TtlLruCache::new(
                    config.cache_max_rows,
                    config.cache_ttl,
                    config.cache_missing_key.then_some(config.cache_missing_ttl),
                )
                .serving_stale_for(config.serve_stale_for),
            )
        };
        let mode = match (cache_mode, loader) {
            (CacheMode::Full, Some(loader)) => Mode::PartialUntilFull {
                partial: partial(),
                // Its own worker: the load never holds up the partial cache's queries.
                full: FullCache::start_background(
                    Arc::new(Fetcher::spawn(loader, policy)),
                    config.full_reload_interval,
                ),
                partial_dropped: std::sync::atomic::AtomicBool::new(false),
            },
            (CacheMode::Partial | CacheMode::Auto, _) => Mode::Partial(partial()),
            (CacheMode::Full, None) => Mode::Full(FullCache::start(
                Arc::clone(&fetcher),
                config.full_reload_interval,
            )?),
            (CacheMode::None, _) => Mode::Direct,
        };
        let counts = CacheAtomics::default();
        if let Mode::Full(full) = &mode {
            let rows = full.read(|table| table.len() as u64);
            counts.rows.store(rows, Ordering::Relaxed);
        }
        // The leader's own fetch is bounded by the timeout; waiting twice as
        // long covers a leader that queued behind another query.
        let flight_wait = config.timeout.saturating_mul(2) + Duration::from_secs(1);
        Ok(Self {
            mode,
            fetcher,
            flights: Flights::default(),
            flight_wait,
            stale_served: AtomicU64::new(0),
            changelog: std::sync::OnceLock::new(),
            counts,
            choice,
            cache_max_rows: config.cache_max_rows,
            prefetcher: Prefetcher::default(),
            prefetched: AtomicU64::new(0),
        })
    }

    /// Apply changes the store has committed: each id is dropped from the
    /// partial cache (found or missing alike; a lookup that read it before
    /// the commit cannot cache its older answer), or updated in place in the
    /// full cache. Call it after the commit, never before.
    pub fn apply_changes(&self, changes: &[ClaimChange]) {
        match &self.mode {
            Mode::Partial(cache) => {
                let mut cache = lock(cache);
                for change in changes {
                    cache.invalidate(&change.claim_id);
                }
                self.counts.publish(&cache);
            }
            Mode::Full(full) => {
                full.apply(changes);
                // The rows gauge follows the table now, not at the next lookup.
                let rows = full.read(|table| table.len() as u64);
                self.counts.rows.store(rows, Ordering::Relaxed);
            }
            Mode::PartialUntilFull { partial, full, .. } => {
                // Both: lookups may still be on the partial cache, and a load
                // in progress replays the changes onto what it read.
                let mut cache = lock(partial);
                for change in changes {
                    cache.invalidate(&change.claim_id);
                }
                self.counts.publish(&cache);
                drop(cache);
                full.apply(changes);
            }
            Mode::Direct => {}
        }
        // Last: a lookup claiming an id after this cannot find, when it
        // re-checks the cache, the answer read before the change.
        self.flights
            .forget(changes.iter().map(|c| c.claim_id.as_str()));
    }

    /// The cache mode this lookup runs with, and why.
    pub fn cache_choice(&self) -> &CacheChoice {
        &self.choice
    }

    /// Report changelog progress from now on (see [`Self::changelog`]).
    pub fn track_changelog(&self, progress: Arc<ChangelogProgress>) {
        let _ = self.changelog.set(progress);
    }

    /// How far changes have been applied, when they are.
    pub fn changelog(&self) -> Option<ChangelogStatus> {
        self.changelog.get().map(|p| p.snapshot())
    }

    /// Whether the store answers a query now (readiness; off the stream, a
    /// real query through the store's worker and its retries).
    pub fn ping(&self) -> Result<(), String> {
        self.fetcher
            .fetch(vec!["__enricher_readiness_probe__".to_owned()])
            .map(|_| ())
            .map_err(|e| match e {
                FetchError::Unavailable(why) | FetchError::Timeout(why) => why,
            })
    }

    /// One answer per id, in order.
    pub fn lookup(&self, ids: &[String]) -> Vec<LookupAnswer> {
        match &self.mode {
            Mode::Full(full) => self.lookup_full(full, ids),
            Mode::PartialUntilFull {
                partial,
                full,
                partial_dropped,
            } => {
                if !full.is_ready() {
                    return self.lookup_partial(partial, ids);
                }
                if !partial_dropped.swap(true, Ordering::Relaxed) {
                    lock(partial).clear();
                }
                self.lookup_full(full, ids)
            }
            Mode::Partial(cache) => self.lookup_partial(cache, ids),
            Mode::Direct => {
                let c = &self.counts;
                c.misses.fetch_add(ids.len() as u64, Ordering::Relaxed);
                let mut answers = vec![None; ids.len()];
                self.resolve_misses(
                    ids,
                    (0..ids.len()).collect(),
                    &mut answers,
                    |_| Vec::new(),
                    |_, _| {},
                );
                answers
                    .into_iter()
                    .map(|a| a.unwrap_or(LookupAnswer::NotFound))
                    .collect()
            }
        }
    }

    fn lookup_full(&self, full: &FullCache, ids: &[String]) -> Vec<LookupAnswer> {
        full.read(|table| {
            let answers: Vec<LookupAnswer> = ids
                .iter()
                .map(|id| match table.get(id) {
                    Some(row) => LookupAnswer::Found(Served::fresh(Arc::clone(row))),
                    None => LookupAnswer::NotFound,
                })
                .collect();
            let absent = answers
                .iter()
                .filter(|a| matches!(a, LookupAnswer::NotFound))
                .count() as u64;
            let c = &self.counts;
            c.hits.fetch_add(ids.len() as u64, Ordering::Relaxed);
            c.negative_hits.fetch_add(absent, Ordering::Relaxed);
            c.rows.store(table.len() as u64, Ordering::Relaxed);
            answers
        })
    }

    /// The duration of each store query attempt so far.
    pub fn store_query_durations(&self) -> HistogramSnapshot {
        self.fetcher.counters.query_duration.snapshot()
    }

    /// Everything counted so far; reads atomics only (never the cache's lock).
    pub fn stats(&self) -> LookupStats {
        let c = &self.fetcher.counters;
        let mut stats = LookupStats {
            store_queries: c.queries.load(Ordering::Relaxed),
            store_retries: c.retries.load(Ordering::Relaxed),
            store_errors: c.errors.load(Ordering::Relaxed),
            store_timeouts: c.timeouts.load(Ordering::Relaxed),
            store_coalesced: self.flights.coalesced(),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            prefetched: self.prefetched.load(Ordering::Relaxed),
            ..LookupStats::default()
        };
        stats.cache = self.counts.read();
        stats.rows_in_memory = self.counts.rows.load(Ordering::Relaxed);
        if let Mode::Full(full) | Mode::PartialUntilFull { full, .. } = &self.mode {
            (stats.full_reloads, stats.full_reload_failures) = full.reload_counts();
        }
        stats
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
