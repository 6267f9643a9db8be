//! `enricher-bench plugins`: the same enrichment written in several languages
//! (the Rust one as a raw plugin like the others, `guest/`, and each
//! `--plugin LABEL=FILE`), measured in one
//! run over the same warm claims cache so the ratios hold on a noisy machine:
//! component size, compile time, instantiate time, memory per instance, and
//! events/s at batches of 100 and 1000. Prints a Markdown table.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use enricher::config::{CacheMode, Config};
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::{Plugin, PluginEngine, RAW_PLUGIN};

use super::fixtures::events_in_memory;
use super::measure::{measure, run_pipeline};

#[derive(clap::Args)]
pub struct PluginBenchArgs {
    /// A plugin to measure besides the built-in one, as LABEL=FILE.wasm (repeatable),
    /// e.g. `--plugin python=plugins/python/target/payment-enrichment-python.wasm`.
    #[arg(long = "plugin", value_name = "LABEL=FILE")]
    pub plugins: Vec<String>,
    /// Events per throughput measurement.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
    /// Instances held at once to measure memory per instance.
    #[arg(long, default_value_t = 8)]
    pub instances: usize,
    /// Where the benchmark's claims file and database go.
    #[arg(long, default_value = "out/bench-plugins")]
    pub dir: PathBuf,
}

/// One plugin's row of the table.
struct Row {
    label: String,
    size: usize,
    compile: Duration,
    instantiate: Duration,
    memory_per_instance: u64,
    per_sec: [f64; 2],
}

/// Resident memory of this process, bytes (/proc/self/status VmRSS).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn claims_lookup(args: &PluginBenchArgs, claims: u64) -> anyhow::Result<Arc<ClaimsLookup>> {
    std::fs::create_dir_all(&args.dir)?;
    let csv = args.dir.join("claims.csv");
    // The seed `events_in_memory` uses, so its events find their claims.
    enricher::generate::write_claims_csv(
        &mut BufWriter::new(std::fs::File::create(&csv)?),
        claims,
        3,
    )?;
    let db = args.dir.join("claims.duckdb");
    let _ = std::fs::remove_file(&db);
    let mut conn = duckdb::Connection::open(&db)?;
    enricher::claims_load::load_claims(&mut conn, &csv, &Default::default())?;
    drop(conn);
    let mut config = Config::default();
    config.duckdb.url = db.display().to_string();
    config.lookup.cache = CacheMode::Full;
    Ok(enricher::app::open_lookup(&config)?)
}

fn measure_plugin(
    engine: &PluginEngine,
    label: &str,
    bytes: &[u8],
    lookup: &Arc<ClaimsLookup>,
    records: &[enricher::bindings::InputRecord],
    instances: usize,
) -> anyhow::Result<Row> {
    let t0 = Instant::now();
    let plugin: Plugin = engine
        .load_bytes(label, bytes)
        .with_context(|| format!("loading {label}"))?;
    let load = t0.elapsed();
    // Instantiate: the best of five fresh instances.
    let mut instantiate = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        drop(plugin.instantiate(Some(Arc::clone(lookup)))?);
        instantiate = instantiate.min(t.elapsed());
    }
    // Memory: `instances` live instances, each after a batch of 1000.
    let warm = &records[..records.len().min(1000)];
    let before = rss_bytes();
    let mut held = Vec::with_capacity(instances);
    for _ in 0..instances {
        let mut p = Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20);
        p.process(warm);
        held.push(p);
    }
    let memory_per_instance = rss_bytes().saturating_sub(before) / instances.max(1) as u64;
    drop(held);
    let mut per_sec = [0.0; 2];
    for (slot, batch) in [100, 1000].into_iter().enumerate() {
        let mut pipeline = Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20);
        run_pipeline(&mut pipeline, warm, batch); // warm the instance and the cache
        let m = measure(records.len() as u64, || {
            run_pipeline(&mut pipeline, records, batch);
        });
        per_sec[slot] = m.per_sec();
    }
    eprintln!("measured {label}");
    Ok(Row {
        label: label.to_owned(),
        size: bytes.len(),
        // Loading = compile + one instantiation and an `info` call.
        compile: load.saturating_sub(instantiate),
        instantiate,
        memory_per_instance,
        per_sec,
    })
}

pub fn run(_config: &Config, args: PluginBenchArgs) -> anyhow::Result<()> {
    // The Rust plugin on the raw world, as the Python and JS ones are.
    let mut plugins = vec![("rust".to_owned(), RAW_PLUGIN.to_vec())];
    for spec in &args.plugins {
        let (label, file) = spec
            .split_once('=')
            .with_context(|| format!("--plugin {spec:?}: expected LABEL=FILE"))?;
        let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
        plugins.push((label.to_owned(), bytes));
    }
    let claims = 10_000;
    let lookup = claims_lookup(&args, claims)?;
    let records = events_in_memory(args.events, claims, 0.9)?;
    let engine = PluginEngine::new()?;
    let mut rows = Vec::new();
    for (label, bytes) in &plugins {
        rows.push(measure_plugin(
            &engine,
            label,
            bytes,
            &lookup,
            &records,
            args.instances,
        )?);
    }
    let rust = rows.first().map_or([1.0; 2], |r| r.per_sec);
    println!(
        "\n{} events per measurement, warm full cache; memory: resident growth per live instance after a batch of 1000 ({} held)\n",
        records.len(),
        args.instances
    );
    println!(
        "| plugin | component | compile | instantiate | memory/instance | events/s @100 | events/s @1000 | vs Rust @1000 |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {:.1} MiB | {:.2} s | {:.2} ms | {:.1} MiB | {:.0} | {:.0} | {:.2}x |",
            r.label,
            r.size as f64 / (1 << 20) as f64,
            r.compile.as_secs_f64(),
            r.instantiate.as_secs_f64() * 1e3,
            r.memory_per_instance as f64 / (1 << 20) as f64,
            r.per_sec[0],
            r.per_sec[1],
            r.per_sec[1] / rust[1].max(1e-9),
        );
    }
    Ok(())
}
