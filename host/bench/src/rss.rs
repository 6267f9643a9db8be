//! The process's resident memory, from /proc (Linux), and a sampler that
//! records it once a second while a benchmark step runs (all of it, and its
//! anonymous part: the heap, without the binary's pages the kernel maps in
//! and out), with the trend over the last minutes of a soak.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`); 0 where unreadable.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory now, KiB.
pub(super) fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// Anonymous resident memory now (heap, stacks, arenas), KiB.
pub(super) fn rss_anon_kib() -> u64 {
    status_kib("RssAnon")
}

/// The most resident memory the process has had so far, KiB.
pub(super) fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// One second's sample: (VmRSS, RssAnon) in KiB.
type Sample = (u64, u64);

fn sample() -> Sample {
    (rss_kib(), rss_anon_kib())
}

/// Samples [`rss_kib`] and [`rss_anon_kib`] every second until stopped.
pub(super) struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
}

/// What a sampled run's memory did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(super) struct RssTrend {
    /// VmRSS once a second, KiB.
    pub rss_kib: Vec<u64>,
    /// RssAnon once a second, KiB.
    pub rss_anon_kib: Vec<u64>,
    /// Seconds the trend below is fitted over: the last 300 s (or the last half of a shorter run).
    pub trend_seconds: usize,
    /// Least-squares slope of VmRSS over `trend_seconds`, MiB per minute.
    pub rss_slope_mib_per_min: f64,
    /// The same for RssAnon.
    pub rss_anon_slope_mib_per_min: f64,
}

impl RssTrend {
    fn of(samples: Vec<Sample>) -> Self {
        let rss: Vec<u64> = samples.iter().map(|s| s.0).collect();
        let anon: Vec<u64> = samples.iter().map(|s| s.1).collect();
        let window = trend_window(rss.len());
        Self {
            rss_slope_mib_per_min: slope_mib_per_min(&rss[rss.len() - window..]),
            rss_anon_slope_mib_per_min: slope_mib_per_min(&anon[anon.len() - window..]),
            trend_seconds: window.saturating_sub(1),
            rss_kib: rss,
            rss_anon_kib: anon,
        }
    }
}

/// Samples the trend is fitted over: the last five minutes, or the last half of a shorter run.
fn trend_window(samples: usize) -> usize {
    (samples / 2).clamp(samples.min(2), 301)
}

/// Least-squares slope of KiB samples one second apart, in MiB per minute.
fn slope_mib_per_min(kib: &[u64]) -> f64 {
    let n = kib.len() as f64;
    if kib.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = kib.iter().map(|v| *v as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in kib.iter().enumerate() {
        let dx = x as f64 - mean_x;
        num += dx * (*y as f64 - mean_y);
        den += dx * dx;
    }
    num / den * 60.0 / 1024.0
}

impl RssSampler {
    pub(super) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut samples = vec![sample()];
                'run: loop {
                    for _ in 0..10 {
                        if stop.load(Ordering::Relaxed) {
                            break 'run;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    samples.push(sample());
                }
                samples.push(sample());
                samples
            })
        };
        Self { stop, handle }
    }

    /// The samples, first to last (one a second, and one at the stop), and their trend.
    pub(super) fn stop(self) -> RssTrend {
        self.stop.store(true, Ordering::Relaxed);
        RssTrend::of(self.handle.join().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_has_resident_memory_and_a_peak_at_least_as_high() {
        let now = rss_kib();
        assert!(now > 0);
        assert!(peak_rss_kib() >= now);
        assert!(rss_anon_kib() > 0 && rss_anon_kib() <= peak_rss_kib());
    }

    #[test]
    fn the_trend_is_the_slope_over_the_last_five_minutes_in_mib_per_minute() {
        // Five minutes of anything first: not part of the trend ...
        let mut samples: Vec<Sample> = (0..302).map(|i| (50_000 + i * 100, 0)).collect();
        // ... the last 301 samples grow 1 MiB (1024 KiB) a minute in VmRSS, flat in RssAnon.
        samples.extend((0..301).map(|s| (102_400 + s * 1024 / 60, 30_000)));
        let t = RssTrend::of(samples);
        assert_eq!(t.trend_seconds, 300);
        assert!((t.rss_slope_mib_per_min - 1.0).abs() < 0.01, "{t:?}");
        assert!(t.rss_anon_slope_mib_per_min.abs() < 1e-9, "{t:?}");
        // A short run: its last half.
        let short = RssTrend::of((0..20).map(|i| (1000 + i * 1024, 7)).collect());
        assert_eq!(short.trend_seconds, 9);
        assert!(
            (short.rss_slope_mib_per_min - 60.0).abs() < 1e-6,
            "{short:?}"
        );
        assert_eq!(RssTrend::of(vec![(5, 5)]).rss_slope_mib_per_min, 0.0);
        assert_eq!(RssTrend::of(Vec::new()).trend_seconds, 0);
    }
}
