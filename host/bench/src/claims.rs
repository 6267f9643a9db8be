//! `enricher-bench claims`: what keeping claims fresh costs on this machine,
//! against the Kafka broker of the config: the changelog apply rate (changes
//! read from the topic, written into DuckDB with their offsets and
//! invalidated in a warm partial cache, per second), the freshness
//! latency (one claim published → the next lookup answers it), and the
//! enrichment throughput while updates stream in against none (`claims_stream`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use rust_decimal::Decimal;

use enricher::changelog::{Publisher, publish};
use enricher::claims_load::Claim;
use enricher::config::{CacheMode, Config};
use enricher::lookup::LookupAnswer;

use super::claims_stream::{StreamPlan, measure_stream, median};

#[derive(clap::Args)]
pub struct ClaimsBenchArgs {
    /// Claims in the table at start.
    #[arg(long, default_value_t = 100_000)]
    pub claims: u64,
    /// Changes applied for the apply rate.
    #[arg(long, default_value_t = 50_000)]
    pub changes: u64,
    /// Single publishes timed for the freshness latency.
    #[arg(long, default_value_t = 200)]
    pub probes: usize,
    /// Claim updates per second streamed in while enriching.
    #[arg(long, default_value_t = 1_000)]
    pub updates_per_second: u64,
    /// Seconds of each quiet and each updating phase.
    #[arg(long, default_value_t = 5)]
    pub phase_seconds: u64,
    /// Quiet/updating pairs per cache mode.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Events enriched in a loop during the phases (held in memory).
    #[arg(long, default_value_t = 100_000)]
    pub stream_events: u64,
    /// Where the benchmark's claims DuckDB file goes.
    #[arg(long, default_value = "out/bench-claims")]
    pub dir: PathBuf,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn change(n: u64, cents: i64) -> Claim {
    Claim {
        claim_id: enricher::generate::claim_id(n),
        member_id: format!("MBR-BENCH-{n}"),
        claim_amount: Decimal::new(cents, 2),
        claim_status: Some("APPROVED".into()),
        created_micros: None,
    }
}

pub fn run(config: &Config, args: ClaimsBenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let claims = args.dir.join("claims.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&claims)?);
    enricher::generate::write_claims_csv(&mut file, args.claims, 3)?;
    std::io::Write::flush(&mut file)?;
    drop(file);
    let db = args.dir.join("claims.duckdb");
    let _ = std::fs::remove_file(&db);
    let mut conn = duckdb::Connection::open(&db)?;
    enricher::claims_load::load_claims(&mut conn, &claims, &Default::default())?;
    drop(conn);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let topic = format!("bench-claims-changelog-{stamp}");
    let mut config = config.clone();
    config.duckdb.url = db.display().to_string();
    config.claims.changelog_topic = topic.clone();
    config.lookup.cache_ttl = Duration::from_secs(3600);

    // Apply rate: the changes are on the topic before the host starts, which applies them all
    // before `open_changelog_lookup` returns (its catch-up at start).
    let changes: Vec<Claim> = (0..args.changes)
        .map(|n| change(n % args.claims.max(1), 100 + n as i64))
        .collect();
    publish(&config.kafka, &topic, &changes, false)?;
    let started = Instant::now();
    let (lookup, applier) = enricher::app::open_changelog_lookup(&config)?
        .context("the changelog topic was just created")?;
    let took = started.elapsed();
    let status = lookup.changelog().unwrap_or_default();
    anyhow::ensure!(
        status.applied == args.changes,
        "applied {} of {}",
        status.applied,
        args.changes
    );
    println!(
        "apply      {} changes into a {}-row table in {:.2} s: {:.0} changes/s (read from the topic, \
         one DuckDB transaction per batch with its offsets, cache invalidated)",
        args.changes,
        args.claims,
        took.as_secs_f64(),
        args.changes as f64 / took.as_secs_f64()
    );

    // Freshness: warm the cache on an id, publish a new amount, poll the lookup until it answers it.
    let publisher = Publisher::connect(&config.kafka, &topic)?;
    let mut latencies = Vec::with_capacity(args.probes);
    for probe in 0..args.probes {
        let n = probe as u64 % args.claims.max(1);
        let id = enricher::generate::claim_id(n);
        let _ = lookup.lookup(std::slice::from_ref(&id));
        let cents = 1_000_000 + probe as i64;
        let wanted = Decimal::new(cents, 2);
        let sent = Instant::now();
        publisher.send(&[change(n, cents)], false)?;
        loop {
            if let LookupAnswer::Found(row) = lookup.lookup(std::slice::from_ref(&id)).remove(0)
                && row.claim_amount == wanted
            {
                break;
            }
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(30),
                "probe {probe} not visible in 30 s"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        latencies.push(sent.elapsed());
    }
    latencies.sort_unstable();
    println!(
        "freshness  {} probes, publish (acks=all) -> visible to a lookup: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    drop(applier);
    drop(lookup);
    stream(&config, &topic, &args)
}

/// Throughput while updates stream in, against none, per cache mode.
fn stream(config: &Config, topic: &str, args: &ClaimsBenchArgs) -> anyhow::Result<()> {
    let events = super::fixtures::events_in_memory(args.stream_events, args.claims, 1.0)?;
    println!(
        "\nthroughput while {} claim updates/s stream in over the changelog ({} phases of {} s each, \
         alternating; {} events over {} claims, batches of 500, built-in plugin)\n",
        args.updates_per_second,
        args.rounds * 2,
        args.phase_seconds,
        args.stream_events,
        args.claims
    );
    println!(
        "| cache | no updates (events/s) | with updates (events/s) | ratio | updates/s sent | applied |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for mode in [CacheMode::Partial, CacheMode::Full] {
        let mut config = config.clone();
        config.lookup.cache = mode;
        config.lookup.cache_max_rows = (args.claims as usize).max(1);
        config.lookup.full_reload_interval = Duration::from_secs(3600);
        let (lookup, applier) =
            enricher::app::open_changelog_lookup(&config)?.context("the changelog topic exists")?;
        let plan = StreamPlan {
            kafka: &config.kafka,
            topic,
            claims: args.claims,
            updates_per_sec: args.updates_per_second,
            phase: Duration::from_secs(args.phase_seconds),
            rounds: args.rounds,
            events: &events,
        };
        let result = measure_stream(&lookup, &plan)?;
        let (quiet, updating) = (
            median(&result.quiet_per_sec),
            median(&result.updating_per_sec),
        );
        println!(
            "| {mode:?} | {quiet:.0} | {updating:.0} | {:.2} | {:.0} | {} |",
            updating / quiet,
            result.updates_per_sec,
            result.applied
        );
        let each = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!(
            "  {mode:?}: quiet phases {}; updating phases {}",
            each(&result.quiet_per_sec),
            each(&result.updating_per_sec)
        );
        drop(applier);
    }
    Ok(())
}
