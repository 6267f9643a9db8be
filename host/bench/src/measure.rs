//! Measuring a benchmark step: wall time, the process's CPU time, events/s;
//! and running records through a pipeline in batches.

use std::time::{Duration, Instant};

use enricher::bindings::InputRecord;
use enricher::pipeline::Pipeline;

/// CPU seconds this process has used (user + system), from /proc.
pub(super) fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime; USER_HZ is 100 on Linux
}

/// CPU seconds the calling thread has run, to the nanosecond (the
/// scheduler's own count, `/proc/thread-self/schedstat`): finer than the
/// process's 10 ms ticks, and blind to other threads, for short A/B rounds.
pub(super) fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

/// [`measure`], with the CPU time of the calling thread only.
pub(super) fn measure_thread(events: u64, f: impl FnOnce()) -> Measured {
    let (c0, t0) = (thread_cpu_seconds(), Instant::now());
    f();
    Measured {
        events,
        wall: t0.elapsed(),
        cpu: thread_cpu_seconds() - c0,
    }
}

pub(super) struct Measured {
    pub(super) events: u64,
    pub(super) wall: Duration,
    pub(super) cpu: f64,
}

impl Measured {
    pub(super) fn per_sec(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

pub(super) fn measure(events: u64, f: impl FnOnce()) -> Measured {
    let (c0, t0) = (cpu_seconds(), Instant::now());
    f();
    Measured {
        events,
        wall: t0.elapsed(),
        cpu: cpu_seconds() - c0,
    }
}

/// Run `records` in batches of `batch`, prefetching a window ahead as
/// `enricher run` does (when the pipeline's lookup prefetches).
pub(super) fn run_pipeline(pipeline: &mut Pipeline, records: &[InputRecord], batch: usize) -> u64 {
    let batch = batch.max(1);
    let window = pipeline.prefetch_window(batch);
    let windows: Vec<&[InputRecord]> = if window > 0 {
        records.chunks(window).collect()
    } else {
        vec![records]
    };
    if let Some(first) = windows.first().filter(|_| window > 0) {
        pipeline.prefetch(first);
    }
    let mut out = 0u64;
    for (n, records) in windows.iter().enumerate() {
        if let Some(next) = windows.get(n + 1).filter(|_| window > 0) {
            pipeline.prefetch(next);
        }
        for chunk in records.chunks(batch) {
            out += pipeline.process(chunk).len() as u64;
        }
    }
    out
}
