//! Prefetch: the misses of records read ahead are resolved on a thread of
//! their own while the plugin runs the records before them, so the plugin's
//! `claims.lookup` finds them in the partial cache (or joins the query still
//! in flight, through single flight) instead of querying on the stream thread.
//!
//! Only the partial cache prefetches (the full cache never misses). A window
//! of records is read ahead at once, so one store query answers the misses
//! of several batches: the DuckDB store's query for many ids is one scan of
//! the table, whose cost hardly grows with the ids (docs/benchmarks-log.md, "Misses").
//! The window is bounded by the cache's size, so what is fetched ahead is not
//! pushed out of the cache before it is used.
//!
//! A prefetch changes no answer: it fetches what a lookup would, with the
//! same retries and timeout, caches it under the same invalidation rule
//! (a change applied meanwhile keeps the older read out), and caches no
//! failure; a lookup that joins a prefetch still in flight gets its answer as
//! it would any other lookup's (DB_ERROR, DB_TIMEOUT, then serve-stale).

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::{ClaimsLookup, Mode, lock, partial};

/// Distinct ids one prefetch aims for (one query): the scan costs about
/// the same for 2,000 ids as for 8,000.
pub const PREFETCH_IDS: usize = 8192;

/// Records to read ahead per prefetch for batches of `batch_size`, with a
/// partial cache of `max_rows`: a whole number of batches near
/// [`PREFETCH_IDS`], such that the window being run and the one being
/// fetched take at most half the cache. Zero: too small a cache to prefetch.
pub fn window(batch_size: usize, max_rows: usize) -> usize {
    let batch = batch_size.max(1);
    let wanted = PREFETCH_IDS.div_ceil(batch);
    let room = max_rows / (4 * batch);
    wanted.min(room) * batch
}

/// The prefetch thread's queue, started on the first prefetch.
#[derive(Default)]
pub(super) struct Prefetcher {
    jobs: Mutex<Option<mpsc::Sender<Vec<String>>>>,
}

impl Prefetcher {
    /// Queue `ids` for `lookup`'s prefetch thread (never blocks on a query).
    pub fn send(&self, lookup: &Arc<ClaimsLookup>, ids: Vec<String>) {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if jobs.is_none() {
            *jobs = spawn(Arc::downgrade(lookup));
        }
        if let Some(queue) = jobs.as_ref()
            && queue.send(ids).is_err()
        {
            *jobs = None; // the thread is gone: no prefetch, lookups query as before
        }
    }
}

impl ClaimsLookup {
    /// Records to read ahead per [`Self::prefetch`] for batches of
    /// `batch_size`; zero when this lookup does not prefetch (full cache, no
    /// cache, or a partial cache too small for it).
    pub fn prefetch_window(&self, batch_size: usize) -> usize {
        match &self.mode {
            Mode::Partial(_) => window(batch_size, self.cache_max_rows),
            _ => 0,
        }
    }

    /// Resolve, in the background, those of `ids` the partial cache does not
    /// hold (the claim ids of records read ahead). Returns at once.
    pub fn prefetch(self: &Arc<Self>, ids: Vec<String>) {
        if matches!(self.mode, Mode::Partial(_)) && !ids.is_empty() {
            self.prefetcher.send(self, ids);
        }
    }

    /// On the prefetch thread: one query for the distinct ids not fresh in
    /// the cache and not in flight already; their answers go into the cache.
    pub(super) fn prefetch_now(&self, mut ids: Vec<String>) {
        let Mode::Partial(cache) = &self.mode else {
            return;
        };
        ids.sort_unstable();
        ids.dedup();
        let now = Instant::now();
        let epoch = {
            let cache = lock(cache);
            ids.retain(|id| !cache.holds_fresh(id, now));
            cache.epoch()
        };
        if ids.is_empty() {
            return;
        }
        let claim = self.flights.claim(ids, |led| partial::recheck(cache, led));
        // Ids another lookup is fetching now are left to it (`claim.follow`),
        // and those it cached since the check above are not fetched again.
        self.prefetched
            .fetch_add(claim.lead.ids.len() as u64, Ordering::Relaxed);
        self.fetch_led(claim.lead, |id, answer| {
            self.remember(cache, id, answer, epoch)
        });
    }
}

/// The thread holds the lookup weakly: it ends when the lookup is dropped
/// (its queue closes with it).
fn spawn(lookup: Weak<ClaimsLookup>) -> Option<mpsc::Sender<Vec<String>>> {
    let (jobs, queue) = mpsc::channel::<Vec<String>>();
    std::thread::Builder::new()
        .name("claims-prefetch".into())
        .spawn(move || {
            for ids in queue {
                let Some(lookup) = lookup.upgrade() else {
                    return;
                };
                lookup.prefetch_now(ids);
            }
        })
        .ok()
        .map(|_| jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_whole_batches_within_a_quarter_of_the_cache() {
        assert_eq!(window(1000, 100_000), 9000, "~8,192 ids in whole batches");
        assert_eq!(window(1000, 10_000), 2000, "bounded by the cache");
        assert_eq!(window(10_000, 100_000), 10_000, "one batch ahead");
        assert_eq!(window(10_000, 20_000), 0, "too small a cache: none");
        assert_eq!(window(1, 100_000), 8192);
    }
}
