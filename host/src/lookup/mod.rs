//! The claims lookup the plugin's `claims.lookup` import is served from.
//!
//! - `cache`: LRU + TTL partial cache (with negative caching);
//! - `full`: the whole table in memory, reloaded on a schedule;
//! - `fetch`: the store on its worker thread, with timeout and retries;
//! - `store`: the store trait ([`ClaimsStore`]); `duckdb_store`: the DuckDB implementation;
//! - `schema`: the claims table the lookup expects, checked at start.
//!
//! One call answers a whole batch of ids: cache hits first, then every miss
//! of the batch in one store query.

mod cache;
mod duckdb_store;
mod fetch;
mod full;
mod schema;
mod store;

pub use cache::CacheCounters;
pub use duckdb_store::{DuckDbStore, QueryShape, classify};
pub use fetch::FetchError;
pub use schema::{SchemaError, expected_table};
pub use store::{ClaimsStore, Interrupter};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rust_decimal::Decimal;

use crate::config::{CacheMode, LookupConfig};
use crate::observe::HistogramSnapshot;
use cache::{Cached, TtlLruCache};
use fetch::{Fetcher, RetryPolicy};
use full::FullCache;

/// One row of the claims table.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    pub member_id: String,
    /// DECIMAL(10,2), exact.
    pub claim_amount: Decimal,
    pub claim_status: Option<String>,
    /// `created_date` in microseconds since the Unix epoch.
    pub created_at_micros: Option<i64>,
}

/// The answer for one id.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupAnswer {
    Found(Arc<ClaimRow>),
    NotFound,
    /// DB_ERROR
    Unavailable(String),
    /// DB_TIMEOUT
    Timeout(String),
}

enum Mode {
    Partial(Mutex<TtlLruCache>),
    Full(FullCache),
    Direct,
}

/// Everything the lookup has counted since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

pub struct ClaimsLookup {
    mode: Mode,
    fetcher: Arc<Fetcher>,
    /// The cache's counters as atomics, so [`Self::stats`] (a scrape on the
    /// admin thread) never takes the lock the stream's lookups take.
    counts: CacheAtomics,
}

/// [`CacheCounters`] and the rows in memory, readable without a lock. In
/// full mode every id is answered from memory (a hit, found or not); with
/// no cache every id is a miss the store answers.
#[derive(Debug, Default)]
struct CacheAtomics {
    hits: AtomicU64,
    negative_hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    rows: AtomicU64,
}

impl CacheAtomics {
    /// Copy the partial cache's counters (called under its lock).
    fn publish(&self, cache: &TtlLruCache) {
        let c = cache.counters();
        self.hits.store(c.hits, Ordering::Relaxed);
        self.negative_hits.store(c.negative_hits, Ordering::Relaxed);
        self.misses.store(c.misses, Ordering::Relaxed);
        self.evictions.store(c.evictions, Ordering::Relaxed);
        self.expirations.store(c.expirations, Ordering::Relaxed);
        self.rows.store(cache.len() as u64, Ordering::Relaxed);
    }

    fn read(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            negative_hits: self.negative_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            expirations: self.expirations.load(Ordering::Relaxed),
        }
    }
}

impl ClaimsLookup {
    /// Start the lookup over `store`. In full mode the table is loaded now.
    pub fn start(store: Box<dyn ClaimsStore>, config: &LookupConfig) -> Result<Self, FetchError> {
        let policy = RetryPolicy {
            timeout: config.timeout,
            max_retries: config.max_retries,
            backoff: config.retry_backoff,
            backoff_max: config.retry_backoff_max,
        };
        let fetcher = Arc::new(Fetcher::spawn(store, policy));
        let mode = match config.cache {
            CacheMode::Partial => Mode::Partial(Mutex::new(TtlLruCache::new(
                config.cache_max_rows,
                config.cache_ttl,
                config.cache_missing_key.then_some(config.cache_missing_ttl),
            ))),
            CacheMode::Full => Mode::Full(FullCache::start(
                Arc::clone(&fetcher),
                config.full_reload_interval,
            )?),
            CacheMode::None => Mode::Direct,
        };
        let counts = CacheAtomics::default();
        if let Mode::Full(full) = &mode {
            let rows = full.snapshot().len() as u64;
            counts.rows.store(rows, Ordering::Relaxed);
        }
        Ok(Self {
            mode,
            fetcher,
            counts,
        })
    }

    /// One answer per id, in order.
    pub fn lookup(&self, ids: &[String]) -> Vec<LookupAnswer> {
        match &self.mode {
            Mode::Full(full) => {
                let snapshot = full.snapshot();
                let answers: Vec<LookupAnswer> = ids
                    .iter()
                    .map(|id| match snapshot.get(id) {
                        Some(row) => LookupAnswer::Found(Arc::clone(row)),
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
                c.rows.store(snapshot.len() as u64, Ordering::Relaxed);
                answers
            }
            Mode::Partial(cache) => self.lookup_partial(cache, ids),
            Mode::Direct => {
                let c = &self.counts;
                c.misses.fetch_add(ids.len() as u64, Ordering::Relaxed);
                let mut answers = vec![None; ids.len()];
                self.resolve_misses(ids, (0..ids.len()).collect(), &mut answers, |_, _| {});
                answers
                    .into_iter()
                    .map(|a| a.unwrap_or(LookupAnswer::NotFound))
                    .collect()
            }
        }
    }

    fn lookup_partial(&self, cache: &Mutex<TtlLruCache>, ids: &[String]) -> Vec<LookupAnswer> {
        let now = Instant::now();
        let mut answers: Vec<Option<LookupAnswer>> = vec![None; ids.len()];
        let mut missed = Vec::new();
        {
            let mut cache = lock(cache);
            for (i, id) in ids.iter().enumerate() {
                match cache.get(id, now) {
                    Some(Cached::Found(row)) => answers[i] = Some(LookupAnswer::Found(row)),
                    Some(Cached::Missing) => answers[i] = Some(LookupAnswer::NotFound),
                    None => missed.push(i),
                }
            }
            self.counts.publish(&cache);
        }
        if !missed.is_empty() {
            self.resolve_misses(ids, missed, &mut answers, |id, answer| {
                let now = Instant::now();
                let mut cache = lock(cache);
                match answer {
                    LookupAnswer::Found(row) => {
                        cache.put_found(id.to_owned(), Arc::clone(row), now)
                    }
                    LookupAnswer::NotFound => cache.put_missing(id.to_owned(), now),
                    _ => {} // failures are never cached
                }
                self.counts.publish(&cache);
            });
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(LookupAnswer::NotFound))
            .collect()
    }

    /// Ask the store for the ids at `positions` (one query), fill their answers,
    /// and tell `remember` the answer of each distinct id.
    fn resolve_misses(
        &self,
        ids: &[String],
        positions: Vec<usize>,
        answers: &mut [Option<LookupAnswer>],
        mut remember: impl FnMut(&str, &LookupAnswer),
    ) {
        let mut distinct: Vec<String> = Vec::with_capacity(positions.len());
        let mut seen: HashMap<&str, ()> = HashMap::with_capacity(positions.len());
        for &i in &positions {
            if seen.insert(ids[i].as_str(), ()).is_none() {
                distinct.push(ids[i].clone());
            }
        }
        let by_id: Result<HashMap<String, Arc<ClaimRow>>, FetchError> =
            self.fetcher.fetch(distinct.clone()).map(|rows| {
                rows.into_iter()
                    .map(|(id, row)| (id, Arc::new(row)))
                    .collect()
            });
        let mut resolved: HashMap<&str, LookupAnswer> = HashMap::with_capacity(distinct.len());
        for id in &distinct {
            let answer = match &by_id {
                Ok(rows) => rows.get(id).map_or(LookupAnswer::NotFound, |r| {
                    LookupAnswer::Found(Arc::clone(r))
                }),
                Err(FetchError::Unavailable(why)) => LookupAnswer::Unavailable(why.clone()),
                Err(FetchError::Timeout(why)) => LookupAnswer::Timeout(why.clone()),
            };
            remember(id, &answer);
            resolved.insert(id.as_str(), answer);
        }
        for i in positions {
            answers[i] = resolved.get(ids[i].as_str()).cloned();
        }
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
            ..LookupStats::default()
        };
        stats.cache = self.counts.read();
        stats.rows_in_memory = self.counts.rows.load(Ordering::Relaxed);
        if let Mode::Full(full) = &self.mode {
            (stats.full_reloads, stats.full_reload_failures) = full.reload_counts();
        }
        stats
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
