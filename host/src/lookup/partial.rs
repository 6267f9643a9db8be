//! Answering from the partial cache: hits first, then the batch's misses in
//! one store query ([`super::misses`]), whose answers are cached unless a
//! change invalidated them meanwhile; with serve-stale on, a failed answer is
//! replaced by a recently expired row.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::cache::{Cached, TtlLruCache};
use super::{ClaimsLookup, LookupAnswer, Served, lock};

/// What the cache answered for a batch, before its misses are resolved.
pub(super) struct Checked {
    /// One per id: `None` where the cache missed.
    answers: Vec<Option<LookupAnswer>>,
    /// The positions of the ids the cache missed.
    missed: Vec<usize>,
    /// The cache's invalidation epoch at the check (see [`TtlLruCache::epoch`]).
    epoch: u64,
}

impl ClaimsLookup {
    pub(super) fn lookup_partial(
        &self,
        cache: &Mutex<TtlLruCache>,
        ids: &[String],
    ) -> Vec<LookupAnswer> {
        let checked = self.check_partial(cache, ids);
        self.resolve_partial(cache, ids, checked)
    }

    /// Answer what the cache holds fresh (counting hits and misses).
    pub(super) fn check_partial(&self, cache: &Mutex<TtlLruCache>, ids: &[String]) -> Checked {
        let now = Instant::now();
        let mut answers: Vec<Option<LookupAnswer>> = vec![None; ids.len()];
        let mut missed = Vec::new();
        let mut cache = lock(cache);
        for (i, id) in ids.iter().enumerate() {
            match cache.get(id, now) {
                Some(Cached::Found(row)) => {
                    answers[i] = Some(LookupAnswer::Found(Served::fresh(row)))
                }
                Some(Cached::Missing) => answers[i] = Some(LookupAnswer::NotFound),
                None => missed.push(i),
            }
        }
        self.counts.publish(&cache);
        Checked {
            answers,
            missed,
            epoch: cache.epoch(),
        }
    }

    /// Resolve the misses `checked` left, then serve stale rows for failures.
    pub(super) fn resolve_partial(
        &self,
        cache: &Mutex<TtlLruCache>,
        ids: &[String],
        checked: Checked,
    ) -> Vec<LookupAnswer> {
        let Checked {
            mut answers,
            missed,
            epoch,
        } = checked;
        if !missed.is_empty() {
            self.resolve_misses(
                ids,
                missed,
                &mut answers,
                |led| recheck(cache, led),
                |id, answer| self.remember(cache, id, answer, epoch),
            );
            self.serve_stale(cache, ids, &mut answers);
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(LookupAnswer::NotFound))
            .collect()
    }

    /// Put a store's answer into the partial cache, unless `id` changed since
    /// `epoch` (noted before the query); failures are never cached.
    pub(super) fn remember(
        &self,
        cache: &Mutex<TtlLruCache>,
        id: &str,
        answer: &LookupAnswer,
        epoch: u64,
    ) {
        let now = Instant::now();
        let mut cache = lock(cache);
        match answer {
            LookupAnswer::Found(row) if !row.stale => {
                cache.put_found_since(id.to_owned(), Arc::clone(&row.claim), now, epoch)
            }
            LookupAnswer::NotFound => cache.put_missing_since(id.to_owned(), now, epoch),
            _ => {}
        }
        self.counts.publish(&cache);
    }

    /// Replace DB_ERROR and DB_TIMEOUT answers by expired rows the cache
    /// still holds within the serve-stale limit (off: it holds none).
    fn serve_stale(
        &self,
        cache: &Mutex<TtlLruCache>,
        ids: &[String],
        answers: &mut [Option<LookupAnswer>],
    ) {
        let failed = |a: &Option<LookupAnswer>| {
            matches!(
                a,
                Some(LookupAnswer::Unavailable(_) | LookupAnswer::Timeout(_))
            )
        };
        if !answers.iter().any(failed) {
            return;
        }
        let now = Instant::now();
        let cache = lock(cache);
        for (answer, id) in answers.iter_mut().zip(ids) {
            if failed(answer)
                && let Some(row) = cache.stale(id, now)
            {
                let stale = Served {
                    claim: row,
                    stale: true,
                };
                *answer = Some(LookupAnswer::Found(stale));
                self.stale_served.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The cache's fresh answer for each of `ids`, for a flight's re-check (not
/// counted as hits: the lookup's own check already counted these misses).
pub(super) fn recheck(cache: &Mutex<TtlLruCache>, ids: &[String]) -> Vec<Option<LookupAnswer>> {
    let now = Instant::now();
    let cache = lock(cache);
    ids.iter()
        .map(|id| match cache.peek_fresh(id, now)? {
            Cached::Found(row) => Some(LookupAnswer::Found(Served::fresh(row))),
            Cached::Missing => Some(LookupAnswer::NotFound),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use rust_decimal::Decimal;

    use super::*;
    use crate::config::{CacheMode, LookupConfig};
    use crate::error::StoreError;
    use crate::lookup::{ClaimRow, ClaimsStore, Mode};

    /// Every id exists; counts the store's queries.
    struct CountingStore(Arc<AtomicUsize>);

    impl ClaimsStore for CountingStore {
        fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(ids.iter().map(|id| (id.clone(), row())).collect())
        }

        fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn row() -> ClaimRow {
        ClaimRow {
            member_id: "M1".into(),
            claim_amount: Decimal::new(200_000, 2),
            claim_status: Some("APPROVED".into()),
            created_at_micros: None,
        }
    }

    fn partial_lookup() -> (ClaimsLookup, Arc<AtomicUsize>) {
        let queries = Arc::new(AtomicUsize::new(0));
        let config = LookupConfig {
            cache: CacheMode::Partial,
            ..LookupConfig::default()
        };
        let store = Box::new(CountingStore(Arc::clone(&queries)));
        match ClaimsLookup::start(store, &config) {
            Ok(lookup) => (lookup, queries),
            Err(e) => panic!("start: {e:?}"),
        }
    }

    #[test]
    fn an_id_the_prefetch_cached_after_the_check_is_not_queried_again() {
        let (lookup, queries) = partial_lookup();
        let Mode::Partial(cache) = &lookup.mode else {
            panic!("partial mode");
        };
        let ids = vec!["CLM-1".to_owned(), "CLM-2".to_owned()];
        // The stream checks the cache and misses both ids...
        let checked = lookup.check_partial(cache, &ids);
        assert_eq!(checked.missed, vec![0, 1]);
        // ...then the prefetch fetches them, caches them and ends its flights...
        lookup.prefetch_now(ids.clone());
        assert_eq!(queries.load(Ordering::SeqCst), 1);
        // ...before the stream claims them: its claim finds them cached.
        let answers = lookup.resolve_partial(cache, &ids, checked);
        assert_eq!(
            answers,
            vec![LookupAnswer::Found(Served::fresh(Arc::new(row()))); 2]
        );
        assert_eq!(queries.load(Ordering::SeqCst), 1, "no second query");
        let stats = lookup.stats();
        assert_eq!(stats.store_coalesced, 2, "answered by the prefetch's query");
        assert_eq!((stats.cache.hits, stats.cache.misses), (0, 2));
    }

    #[test]
    fn a_miss_nobody_fetched_meanwhile_is_queried_once() {
        let (lookup, queries) = partial_lookup();
        let ids = vec!["CLM-1".to_owned(), "CLM-1".to_owned()];
        let answers = lookup.lookup(&ids);
        assert_eq!(
            answers,
            vec![LookupAnswer::Found(Served::fresh(Arc::new(row()))); 2]
        );
        assert_eq!(queries.load(Ordering::SeqCst), 1);
        assert_eq!(lookup.lookup(&ids[..1]).len(), 1);
        assert_eq!(queries.load(Ordering::SeqCst), 1, "then a cache hit");
        assert_eq!(lookup.stats().store_coalesced, 0);
    }
}
