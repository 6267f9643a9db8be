//! A histogram the stream thread updates with atomics only (no lock, no
//! allocation): fixed bucket bounds in seconds, a count per bucket, and the
//! sum in nanoseconds. The admin thread reads a [`HistogramSnapshot`] to encode.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bounds (seconds) for store queries and commits: 100 µs to 10 s.
pub const IO_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Bounds (seconds) for end-to-end processing latency: 1 ms to 2 min.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// A lock-free histogram of durations.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

/// What a scrape reads of an [`AtomicHistogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub sum_seconds: f64,
    pub count: u64,
    /// `(upper bound, observations in this bucket)` (not cumulative: the
    /// encoder sums them up), ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl AtomicHistogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Count one observation.
    pub fn observe(&self, took: Duration) {
        self.observe_n(took, 1);
    }

    /// Count `n` observations of the same duration (a batch's records).
    pub fn observe_n(&self, took: Duration, n: u64) {
        if n == 0 {
            return;
        }
        let seconds = took.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(n, Ordering::Relaxed);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns
            .fetch_add(ns.saturating_mul(n), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, count) in self.counts.iter().enumerate() {
            let n = count.load(Ordering::Relaxed);
            total += n;
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        HistogramSnapshot {
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count: total,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_buckets_with_their_sum() {
        let h = AtomicHistogram::new(&[0.01, 0.1]);
        h.observe(Duration::from_millis(5));
        h.observe_n(Duration::from_millis(50), 2);
        h.observe(Duration::from_secs(3));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets, vec![(0.01, 1), (0.1, 2), (f64::INFINITY, 1)]);
        assert!((s.sum_seconds - 3.105).abs() < 1e-9, "{}", s.sum_seconds);
    }
}
