//! `enricher-bench kafka`'s latency run: inputs at a fixed rate, and for each the time
//! from its record timestamp to its output being readable by a
//! `read_committed` consumer (in exactly-once mode: after its transaction
//! commits). The clock starts only once the loop has its partitions: a test
//! broker may hold a group join for seconds (Tansu answers a JoinGroup after
//! half the session timeout, 22.5 s by default), and the reader used to give up
//! before the first output (issue 14's "no output seen").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use enricher::config::Config;
use enricher::generate::GenerateOptions;
use enricher::health::Health;
use enricher::kafka::{BatchTransform, KafkaRunReport, RunOptions, run_observed};
use enricher::kafka::{TailOptions, tail_topic};

use super::rss::{RssSampler, RssTrend};

/// How long the loop may take to get its partitions.
const ASSIGNMENT_WAIT: Duration = Duration::from_secs(120);
/// How long the reader waits for outputs after the last one it saw.
const READER_IDLE_STOP: Duration = Duration::from_secs(20);
/// Latencies are counted per millisecond up to here; longer ones in the last bucket.
const MAX_MS: usize = 120_000;

/// Latencies in 1 ms buckets: exact percentiles at millisecond resolution in
/// fixed memory, so a long run does not grow the process it measures.
pub(super) struct Latencies {
    buckets: Vec<u64>,
    count: u64,
}

impl Latencies {
    pub(super) fn new() -> Self {
        Self {
            buckets: vec![0; MAX_MS + 1],
            count: 0,
        }
    }

    pub(super) fn record(&mut self, ms: i64) {
        let i = usize::try_from(ms.max(0)).unwrap_or(MAX_MS).min(MAX_MS);
        self.buckets[i] += 1;
        self.count += 1;
    }

    /// The smallest latency at or above which a share `p` of the records fall.
    pub(super) fn percentile(&self, p: f64) -> u64 {
        let rank = ((self.count as f64 * p).ceil() as u64).clamp(1, self.count.max(1));
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return ms as u64;
            }
        }
        0
    }

    pub(super) fn max(&self) -> u64 {
        self.buckets.iter().rposition(|n| *n > 0).unwrap_or(0) as u64
    }
}

/// What one latency run measured.
#[derive(Debug, serde::Serialize)]
pub(super) struct LatencyFigures {
    pub rate: f64,
    pub inputs: u64,
    pub outputs_seen: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Resident memory once a second over the run, and its trend.
    #[serde(flatten)]
    pub memory: RssTrend,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Run `transform` in the Kafka loop over `c`'s topics, feed it `count`
/// inputs at `rate` per second once it has its partitions, and measure.
pub(super) fn measure<T: BatchTransform + Send + 'static>(
    c: &Config,
    make: impl FnOnce(&Config) -> anyhow::Result<T> + Send + 'static,
    rate: f64,
    count: u64,
    produce: impl FnOnce(&Config, &GenerateOptions) -> anyhow::Result<()>,
) -> anyhow::Result<LatencyFigures> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let health = Health::default();
    let runner: JoinHandle<anyhow::Result<KafkaRunReport>> = {
        let (c, shutdown, health) = (c.clone(), Arc::clone(&shutdown), health.clone());
        std::thread::spawn(move || {
            let mut transform = make(&c)?;
            let options = RunOptions {
                batch_size: c.pipeline.batch_size,
                stop_at_end: false,
                retry_not_found: Default::default(),
            };
            Ok(run_observed(
                &mut transform,
                &c.kafka,
                options,
                &shutdown,
                &health,
            )?)
        })
    };
    let stop_runner = |runner: JoinHandle<anyhow::Result<KafkaRunReport>>| {
        shutdown.store(true, Ordering::Relaxed);
        runner
            .join()
            .map_err(|_| anyhow::anyhow!("the loop panicked"))?
    };
    let asked = Instant::now();
    while health.assigned() <= 0 {
        if runner.is_finished() {
            stop_runner(runner)?;
            anyhow::bail!("the loop stopped before it had partitions");
        }
        if asked.elapsed() > ASSIGNMENT_WAIT {
            stop_runner(runner)?;
            anyhow::bail!("no partitions assigned within {ASSIGNMENT_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let reader = {
        let c = c.clone();
        std::thread::spawn(move || -> anyhow::Result<Latencies> {
            let mut latencies = Latencies::new();
            let options = TailOptions {
                follow: true,
                max: Some(count as usize),
                idle_stop: Some(READER_IDLE_STOP),
                read_committed: true,
            };
            tail_topic(&c.kafka, &c.kafka.enriched_payments_topic, &options, |r| {
                if let Some(ts) = r.timestamp_ms {
                    latencies.record(now_ms() - ts);
                }
            })?;
            Ok(latencies)
        })
    };
    std::thread::sleep(Duration::from_secs(1)); // the reader connects and is assigned its partitions
    let paced = GenerateOptions {
        count: Some(count),
        events_per_second: Some(rate),
        valid_claim_rate: 1.0,
        claims: 10_000,
        seed: 4,
        ..GenerateOptions::default()
    };
    let sampler = RssSampler::start();
    let produced = produce(c, &paced);
    let latencies = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"));
    let memory = sampler.stop();
    stop_runner(runner)?;
    produced?;
    let latencies = latencies??;
    anyhow::ensure!(
        latencies.count > 0,
        "no output seen within {READER_IDLE_STOP:?}"
    );
    Ok(LatencyFigures {
        rate,
        inputs: count,
        outputs_seen: latencies.count,
        p50_ms: latencies.percentile(0.50),
        p95_ms: latencies.percentile(0.95),
        p99_ms: latencies.percentile(0.99),
        max_ms: latencies.max(),
        memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_exact_at_millisecond_resolution() {
        let mut l = Latencies::new();
        for ms in 1..=100 {
            l.record(ms);
        }
        assert_eq!(l.percentile(0.50), 50);
        assert_eq!(l.percentile(0.99), 99);
        assert_eq!(l.percentile(1.0), 100);
        assert_eq!(l.max(), 100);
        l.record(-5); // a clock step back counts as 0, not lost
        l.record(10_000_000); // past the last bucket: counted there
        assert_eq!(l.count, 102);
        assert_eq!(l.max(), MAX_MS as u64);
    }
}
