//! The process's resident memory, from /proc (Linux), and a sampler that
//! records it once a second while a benchmark step runs.

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

/// The most resident memory the process has had so far, KiB.
pub(super) fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// Samples [`rss_kib`] every second until stopped.
pub(super) struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u64>>,
}

impl RssSampler {
    pub(super) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut samples = vec![rss_kib()];
                'run: loop {
                    for _ in 0..10 {
                        if stop.load(Ordering::Relaxed) {
                            break 'run;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    samples.push(rss_kib());
                }
                samples.push(rss_kib());
                samples
            })
        };
        Self { stop, handle }
    }

    /// The samples, first to last (one a second, and one at the stop).
    pub(super) fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
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
    }
}
