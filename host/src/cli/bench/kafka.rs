//! `enricher bench-kafka`: Kafka end to end on a running broker, against a
//! plain consume → produce passthrough (same delivery mode, no plugin, no
//! lookup) measured in the same run: events/s, and latency from an input
//! record's timestamp to its output being visible to a consumer, at a fixed rate.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use enricher::bindings::{InputRecord, Output};
use enricher::claims_load::{LoadOptions, load_claims};
use enricher::config::Config;
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};
use enricher::kafka::create_topics;
use enricher::kafka::{BatchTransform, KafkaRunReport, RunOptions, run as run_loop};
use enricher::kafka::{TailOptions, tail_topic};
use enricher::pipeline::Routed;

use crate::cli::kafka::TopicWriter;

#[derive(clap::Args)]
pub struct KafkaBenchArgs {
    /// Events for the throughput runs.
    #[arg(long, default_value_t = 300_000)]
    pub events: u64,
    /// Input rate of the latency run.
    #[arg(long, default_value_t = 20_000.0)]
    pub latency_rate: f64,
    /// How long the fixed-rate latency run lasts, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub latency_seconds: f64,
    /// Where the benchmark's files go.
    #[arg(long, default_value = "out/bench")]
    pub dir: PathBuf,
}

/// The baseline: every input copied to the enriched output.
struct Passthrough;

impl BatchTransform for Passthrough {
    fn process(&mut self, batch: &[InputRecord]) -> Vec<Routed> {
        batch
            .iter()
            .enumerate()
            .map(|(i, r)| Routed {
                input_index: i,
                output: Output::Enriched,
                status: Cow::Borrowed("SUCCESS"),
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
            })
            .collect()
    }
}

fn stamp() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn topics_for(config: &Config, label: &str) -> anyhow::Result<Config> {
    let mut c = config.clone();
    let id = format!("bench-{label}-{}", stamp());
    c.kafka.payment_events_topic = format!("{id}-in");
    c.kafka.enriched_payments_topic = format!("{id}-enriched");
    c.kafka.failed_payments_topic = format!("{id}-failed");
    c.kafka.group_id = id.clone();
    c.kafka.transactional_id = Some(format!("{id}-txn"));
    let k = &c.kafka;
    create_topics(
        k,
        &[
            &k.payment_events_topic,
            &k.enriched_payments_topic,
            &k.failed_payments_topic,
        ],
        3,
        1,
    )?;
    Ok(c)
}

fn produce(config: &Config, options: &GenerateOptions) -> anyhow::Result<()> {
    let mut out = TopicWriter::new(config, &config.kafka.payment_events_topic)?;
    write_events(&mut out, options)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

fn steady_rate(r: &KafkaRunReport) -> f64 {
    let busy = r
        .elapsed
        .saturating_sub(r.first_record_after.unwrap_or_default());
    r.consumed as f64 / busy.as_secs_f64().max(1e-9)
}

pub fn run_bench(config: &Config, args: KafkaBenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let db = args.dir.join("kafka-bench-claims.duckdb");
    let csv = args.dir.join("kafka-bench-claims.csv");
    write_claims_csv(
        &mut std::io::BufWriter::new(std::fs::File::create(&csv)?),
        10_000,
        3,
    )?;
    let _ = std::fs::remove_file(&db);
    load_claims(
        &mut duckdb::Connection::open(&db)?,
        &csv,
        &LoadOptions::default(),
    )?;
    let mut base = config.clone();
    base.duckdb.url = db.display().to_string();
    let mode = base.kafka.delivery;
    let events = GenerateOptions {
        count: Some(args.events),
        claims: 10_000,
        seed: 3,
        ..GenerateOptions::default()
    };

    println!(
        "| run ({mode:?}, {} events, broker {}) | events/s | host CPU µs per event |",
        args.events, base.kafka.bootstrap_servers
    );
    println!("|---|---|---|");
    let stop = AtomicBool::new(false);
    let options = RunOptions {
        batch_size: base.pipeline.batch_size,
        stop_at_end: true,
        retry_not_found: Default::default(),
    };
    let mut rates = Vec::new();
    for label in ["passthrough", "enrich"] {
        let c = topics_for(&base, label)?;
        produce(&c, &events)?;
        let cpu_before = super::measure::cpu_seconds();
        let report = if label == "passthrough" {
            run_loop(&mut Passthrough, &c.kafka, options.clone(), &stop)?
        } else {
            let mut pipeline = enricher::app::build_pipeline(&c)?;
            run_loop(&mut pipeline, &c.kafka, options.clone(), &stop)?
        };
        anyhow::ensure!(
            report.consumed >= args.events,
            "{label} consumed only {}",
            report.consumed
        );
        let rate = steady_rate(&report);
        let host_cpu_us =
            (super::measure::cpu_seconds() - cpu_before) * 1e6 / report.consumed.max(1) as f64;
        println!("| {label} | {rate:.0} | {host_cpu_us:.1} |");
        rates.push(rate);
    }
    println!(
        "\nenrich / passthrough: {:.2}\n",
        rates[1] / rates[0].max(1e-9)
    );

    // Latency at a fixed input rate: input timestamp → output readable by a consumer.
    let c = topics_for(&base, "latency")?;
    let count = (args.latency_rate * args.latency_seconds) as u64;
    let shutdown = Arc::new(AtomicBool::new(false));
    let runner = {
        let (c, shutdown) = (c.clone(), Arc::clone(&shutdown));
        std::thread::spawn(move || -> anyhow::Result<KafkaRunReport> {
            let mut pipeline = enricher::app::build_pipeline(&c)?;
            let options = RunOptions {
                batch_size: c.pipeline.batch_size,
                stop_at_end: false,
                retry_not_found: Default::default(),
            };
            Ok(run_loop(&mut pipeline, &c.kafka, options, &shutdown)?)
        })
    };
    let reader = {
        let c = c.clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<i64>> {
            let mut latencies = Vec::with_capacity(count as usize);
            let options = TailOptions {
                follow: true,
                max: Some(count as usize),
                idle_stop: Some(Duration::from_secs(20)),
                read_committed: true,
            };
            tail_topic(&c.kafka, &c.kafka.enriched_payments_topic, &options, |r| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                if let Some(ts) = r.timestamp_ms {
                    latencies.push(now - ts);
                }
            })?;
            Ok(latencies)
        })
    };
    std::thread::sleep(Duration::from_secs(2)); // let the group settle before the clock starts
    let paced = GenerateOptions {
        count: Some(count),
        events_per_second: Some(args.latency_rate),
        valid_claim_rate: 1.0,
        claims: 10_000,
        seed: 4,
        ..GenerateOptions::default()
    };
    produce(&c, &paced)?;
    let mut latencies = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    shutdown.store(true, Ordering::Relaxed);
    runner
        .join()
        .map_err(|_| anyhow::anyhow!("runner panicked"))??;
    anyhow::ensure!(!latencies.is_empty(), "no output seen");
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "latency at {:.0} events/s ({} events, {mode:?}, commit interval {:?}): p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        args.latency_rate,
        latencies.len(),
        c.kafka.commit_interval,
        pct(0.50),
        pct(0.95),
        pct(0.99),
        latencies.last().copied().unwrap_or(0)
    );
    Ok(())
}

/// The broker must be reachable; say how to start the test one if not.
pub fn run(config: &Config, args: KafkaBenchArgs) -> anyhow::Result<()> {
    run_bench(config, args).context(
        "Kafka benchmark (start a broker with scripts/kafka-up and set KAFKA_BOOTSTRAP_SERVERS)",
    )
}
