//! The partial cache: an LRU of claim rows (and of ids known to be missing),
//! each entry with its own expiry, and counters for hits, misses, evictions.
//! With serve-stale on, expired rows stay (until evicted or refreshed) so an
//! outage of the store can be answered from them.
//!
//! Time is passed in (`now`), so tests check TTL expiry without sleeping.
//!
//! Invalidation (the claims changelog, `invalidate`) and the race it must not
//! lose: a lookup that read an id from the store *before* a change committed
//! must not put that old row into the cache *after* the change invalidated
//! it. Each invalidation bumps an epoch and is logged (bounded); a lookup
//! notes the epoch before it goes to the store ([`TtlLruCache::epoch`]) and
//! [`TtlLruCache::put_found_since`] / [`TtlLruCache::put_missing_since`] keep
//! the answer out of the cache when its id was invalidated since (or when the
//! log no longer reaches back that far).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::ClaimRow;

/// What the cache knows about one id.
#[derive(Debug, Clone, PartialEq)]
pub enum Cached {
    Found(Arc<ClaimRow>),
    /// The id was not in the table when last asked (negative caching).
    Missing,
}

#[derive(Debug)]
struct Entry {
    value: Cached,
    expires_at: Instant,
}

/// Counters of the partial cache, all since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheCounters {
    /// Lookups answered from the cache (found or missing).
    pub hits: u64,
    /// Lookups answered from the cache as missing (a subset of `hits`).
    pub negative_hits: u64,
    /// Lookups the cache could not answer (absent or expired).
    pub misses: u64,
    /// Entries pushed out to stay within `max_rows`.
    pub evictions: u64,
    /// Entries found expired when looked up (a subset of `misses`).
    pub expirations: u64,
}

/// LRU + TTL cache of claim rows.
pub struct TtlLruCache {
    /// Unbounded to `lru`, so memory grows with the rows held, not with the
    /// configured cap (`LruCache::new` allocates the whole cap up front).
    entries: LruCache<String, Entry>,
    max_rows: usize,
    found_ttl: Duration,
    /// `None` disables negative caching.
    missing_ttl: Option<Duration>,
    /// How long past its expiry a found row may still answer when the store
    /// fails; zero: expired rows are dropped when seen.
    serve_stale_for: Duration,
    counters: CacheCounters,
    /// Bumped once per invalidated id.
    epoch: u64,
    /// The last invalidations, `(epoch after it, id)`, oldest first.
    invalidated: VecDeque<(u64, String)>,
}

/// How many invalidations are remembered for lookups in flight; a lookup
/// older than that does not cache what it read.
const INVALIDATION_LOG: usize = 16_384;

impl TtlLruCache {
    /// `max_rows` is clamped to at least 1.
    pub fn new(max_rows: usize, found_ttl: Duration, missing_ttl: Option<Duration>) -> Self {
        Self {
            entries: LruCache::unbounded(),
            max_rows: max_rows.max(1),
            found_ttl,
            missing_ttl,
            serve_stale_for: Duration::ZERO,
            counters: CacheCounters::default(),
            epoch: 0,
            invalidated: VecDeque::new(),
        }
    }

    /// The invalidation epoch now: note it before going to the store.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Forget `id` (found or missing alike), and note it so that a lookup
    /// that read it before cannot cache its older answer.
    pub fn invalidate(&mut self, id: &str) {
        self.entries.pop(id);
        self.epoch += 1;
        if self.invalidated.len() == INVALIDATION_LOG {
            self.invalidated.pop_front();
        }
        self.invalidated.push_back((self.epoch, id.to_owned()));
    }

    /// Whether an answer read from the store at `since` (an [`Self::epoch`])
    /// may still be cached: `id` was not invalidated after it.
    fn unchanged_since(&self, id: &str, since: u64) -> bool {
        if since == self.epoch {
            return true;
        }
        match self.invalidated.front() {
            // The log starts after `since`: changes to `id` may be missing from it.
            Some(&(oldest, _)) if oldest > since + 1 => false,
            _ => !self
                .invalidated
                .iter()
                .rev()
                .take_while(|(at, _)| *at > since)
                .any(|(_, changed)| changed == id),
        }
    }

    /// [`Self::put_found`], unless `id` was invalidated after epoch `since`.
    pub fn put_found_since(&mut self, id: String, row: Arc<ClaimRow>, now: Instant, since: u64) {
        if self.unchanged_since(&id, since) {
            self.put_found(id, row, now);
        }
    }

    /// [`Self::put_missing`], unless `id` was invalidated after epoch `since`.
    pub fn put_missing_since(&mut self, id: String, now: Instant, since: u64) {
        if self.unchanged_since(&id, since) {
            self.put_missing(id, now);
        }
    }

    /// Keep expired rows for `limit` past their expiry, for [`Self::stale`].
    pub fn serving_stale_for(mut self, limit: Duration) -> Self {
        self.serve_stale_for = limit;
        self
    }

    /// The cached answer for `id`, if fresh at `now`; counts a hit or a miss.
    pub fn get(&mut self, id: &str, now: Instant) -> Option<Cached> {
        let fresh = match self.entries.get(id) {
            Some(entry) if entry.expires_at > now => Some(entry.value.clone()),
            Some(entry) => {
                let keep = matches!(entry.value, Cached::Found(_))
                    && entry.expires_at + self.serve_stale_for > now;
                if !keep {
                    self.entries.pop(id);
                }
                self.counters.expirations += 1;
                None
            }
            None => None,
        };
        match &fresh {
            Some(Cached::Missing) => {
                self.counters.hits += 1;
                self.counters.negative_hits += 1;
            }
            Some(Cached::Found(_)) => self.counters.hits += 1,
            None => self.counters.misses += 1,
        }
        fresh
    }

    /// Whether the cache answers `id` fresh at `now` (not counted, not moved
    /// in the LRU order): what a prefetch need not fetch.
    pub fn holds_fresh(&self, id: &str, now: Instant) -> bool {
        self.peek_fresh(id, now).is_some()
    }

    /// The cached answer for `id`, if fresh at `now`, without counting it or
    /// moving it in the LRU order (a single flight's re-check).
    pub fn peek_fresh(&self, id: &str, now: Instant) -> Option<Cached> {
        self.entries
            .peek(id)
            .filter(|e| e.expires_at > now)
            .map(|e| e.value.clone())
    }

    /// An expired row for `id` no older than the serve-stale limit past its
    /// expiry (not counted as a hit, not moved in the LRU order).
    pub fn stale(&self, id: &str, now: Instant) -> Option<Arc<ClaimRow>> {
        match self.entries.peek(id)? {
            Entry {
                value: Cached::Found(row),
                expires_at,
            } if *expires_at + self.serve_stale_for > now => Some(Arc::clone(row)),
            _ => None,
        }
    }

    /// Remember a row found in the store.
    pub fn put_found(&mut self, id: String, row: Arc<ClaimRow>, now: Instant) {
        let expires_at = now + self.found_ttl;
        self.insert(id, Cached::Found(row), expires_at);
    }

    /// Remember that the store has no row for `id` (no-op without negative caching).
    pub fn put_missing(&mut self, id: String, now: Instant) {
        if let Some(ttl) = self.missing_ttl {
            self.insert(id, Cached::Missing, now + ttl);
        }
    }

    fn insert(&mut self, id: String, value: Cached, expires_at: Instant) {
        let entry = Entry { value, expires_at };
        if self.entries.len() >= self.max_rows && !self.entries.contains(&id) {
            self.entries.pop_lru();
            self.counters.evictions += 1;
        }
        self.entries.push(id, entry);
    }

    /// Drop every entry (the invalidation log stays).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn counters(&self) -> CacheCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn row(member: &str) -> Arc<ClaimRow> {
        Arc::new(ClaimRow {
            member_id: member.into(),
            claim_amount: Decimal::new(200_000, 2),
            claim_status: Some("APPROVED".into()),
            created_at_micros: None,
        })
    }

    #[test]
    fn found_rows_expire_after_their_ttl() {
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(10, Duration::from_secs(60), None);
        c.put_found("CLM-1".into(), row("M1"), t0);
        assert_eq!(
            c.get("CLM-1", t0 + Duration::from_secs(59)),
            Some(Cached::Found(row("M1")))
        );
        assert_eq!(c.get("CLM-1", t0 + Duration::from_secs(60)), None);
        assert_eq!(c.len(), 0, "an expired entry is dropped");
        let n = c.counters();
        assert_eq!((n.hits, n.misses, n.expirations), (1, 1, 1));
    }

    #[test]
    fn expired_rows_answer_as_stale_only_within_the_limit() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut c = TtlLruCache::new(10, ttl, Some(Duration::from_secs(5)))
            .serving_stale_for(Duration::from_secs(30));
        c.put_found("CLM-1".into(), row("M1"), t0);
        c.put_missing("GONE".into(), t0);
        assert_eq!(
            c.stale("CLM-1", t0),
            Some(row("M1")),
            "a fresh row may serve too"
        );
        let expired = t0 + ttl + Duration::from_secs(10);
        assert_eq!(
            c.get("CLM-1", expired),
            None,
            "expired: a miss, the store is asked"
        );
        assert_eq!(
            c.stale("CLM-1", expired),
            Some(row("M1")),
            "kept for the outage"
        );
        assert_eq!(c.stale("CLM-1", t0 + ttl + Duration::from_secs(30)), None);
        assert_eq!(
            c.stale("GONE", t0 + Duration::from_secs(6)),
            None,
            "missing is never stale-served"
        );
        assert_eq!(c.get("CLM-1", t0 + ttl + Duration::from_secs(31)), None);
        assert_eq!(c.len(), 1, "past the limit the row is dropped when seen");
        let mut off = TtlLruCache::new(10, ttl, None);
        off.put_found("CLM-1".into(), row("M1"), t0);
        assert_eq!(off.get("CLM-1", t0 + ttl), None);
        assert_eq!(off.stale("CLM-1", t0 + ttl), None, "off by default");
    }

    #[test]
    fn least_recently_used_is_evicted_at_max_rows() {
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(2, Duration::from_secs(60), None);
        c.put_found("A".into(), row("a"), t0);
        c.put_found("B".into(), row("b"), t0);
        assert!(c.get("A", t0).is_some(), "A is now the most recent");
        c.put_found("C".into(), row("c"), t0);
        assert_eq!(c.len(), 2);
        assert!(c.get("B", t0).is_none(), "B was least recently used");
        assert!(c.get("A", t0).is_some());
        assert!(c.get("C", t0).is_some());
        assert_eq!(c.counters().evictions, 1);
        c.put_found("C".into(), row("c2"), t0);
        assert_eq!(
            c.counters().evictions,
            1,
            "replacing a key is not an eviction"
        );
    }

    #[test]
    fn a_huge_cap_allocates_nothing_up_front() {
        // `LruCache::new(cap)` would allocate (or overflow on) the whole cap.
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(usize::MAX, Duration::from_secs(60), None);
        c.put_found("A".into(), row("a"), t0);
        assert_eq!(c.len(), 1);
        assert!(c.get("A", t0).is_some());
    }

    #[test]
    fn missing_ids_are_cached_with_their_own_ttl() {
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(10, Duration::from_secs(60), Some(Duration::from_secs(5)));
        c.put_missing("GONE".into(), t0);
        assert_eq!(
            c.get("GONE", t0 + Duration::from_secs(4)),
            Some(Cached::Missing)
        );
        assert_eq!(c.get("GONE", t0 + Duration::from_secs(5)), None);
        let n = c.counters();
        assert_eq!((n.hits, n.negative_hits, n.misses), (1, 1, 1));
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_cached() {
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(10, Duration::from_secs(600), Some(Duration::from_secs(600)));
        c.put_found("CLM-1".into(), row("old"), t0);
        // A lookup misses CLM-2 and CLM-3 and goes to the store...
        let before = c.epoch();
        // ... meanwhile the changelog applies CLM-1 and CLM-2 and invalidates them.
        c.invalidate("CLM-1");
        c.invalidate("CLM-2");
        assert_eq!(c.get("CLM-1", t0), None, "a found entry is dropped");
        // The lookup comes back with what it read before the change.
        c.put_found_since("CLM-2".into(), row("old"), t0, before);
        c.put_missing_since("CLM-3".into(), t0, before);
        assert_eq!(c.get("CLM-2", t0), None, "the stale read is not cached");
        assert_eq!(
            c.get("CLM-3", t0),
            Some(Cached::Missing),
            "an unchanged id is"
        );
        // A lookup that starts after the invalidation caches normally.
        let after = c.epoch();
        c.put_found_since("CLM-2".into(), row("new"), t0, after);
        assert_eq!(c.get("CLM-2", t0), Some(Cached::Found(row("new"))));
        // Missing entries are invalidated too.
        c.invalidate("CLM-3");
        assert_eq!(c.get("CLM-3", t0), None);
    }

    #[test]
    fn a_read_older_than_the_invalidation_log_is_not_cached() {
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(10, Duration::from_secs(600), None);
        let before = c.epoch();
        for n in 0..=INVALIDATION_LOG {
            c.invalidate(&format!("OTHER-{n}"));
        }
        c.put_found_since("CLM-1".into(), row("maybe-old"), t0, before);
        assert_eq!(
            c.get("CLM-1", t0),
            None,
            "the log no longer covers the read"
        );
    }

    #[test]
    fn negative_caching_can_be_off() {
        let t0 = Instant::now();
        let mut c = TtlLruCache::new(10, Duration::from_secs(60), None);
        c.put_missing("GONE".into(), t0);
        assert_eq!(c.len(), 0);
        assert_eq!(c.get("GONE", t0), None);
    }
}
