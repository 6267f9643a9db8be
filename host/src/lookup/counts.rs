//! The lookup's counters as atomics: the stream's lookups update them, a
//! scrape (`/metrics`, the summary) reads them without taking the cache lock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::CacheCounters;
use super::cache::TtlLruCache;

/// [`CacheCounters`] and the rows in memory, readable without a lock. In
/// full mode every id is answered from memory (a hit, found or not); with
/// no cache every id is a miss the store answers.
#[derive(Debug, Default)]
pub(super) struct CacheAtomics {
    pub hits: AtomicU64,
    pub negative_hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    pub rows: AtomicU64,
}

impl CacheAtomics {
    /// Copy the partial cache's counters (called under its lock).
    pub fn publish(&self, cache: &TtlLruCache) {
        let c = cache.counters();
        self.hits.store(c.hits, Ordering::Relaxed);
        self.negative_hits.store(c.negative_hits, Ordering::Relaxed);
        self.misses.store(c.misses, Ordering::Relaxed);
        self.evictions.store(c.evictions, Ordering::Relaxed);
        self.expirations.store(c.expirations, Ordering::Relaxed);
        self.rows.store(cache.len() as u64, Ordering::Relaxed);
    }

    pub fn read(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            negative_hits: self.negative_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            expirations: self.expirations.load(Ordering::Relaxed),
        }
    }
}
