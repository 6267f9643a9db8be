//! `enricher bench`: events/s of the enrichment path, all measured in one run
//! so the ratios hold on a noisy machine. Prints a Markdown table.
//!
//! 1. native: the guest's `enrich` module compiled into the host (no WASM),
//!    over the same warm claims cache (feature `native-baseline`, on by default);
//! 2. the plugin in wasmtime, warm cache, batches of 1, 100, 1000, and what
//!    the enriched-JSON check costs there (`output_check`);
//! 3. cache misses: a 1,000,000-row claims table, every id new to the cache,
//!    per query shape; and the full cache's load time.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use enricher::bindings::InputRecord;
use enricher::config::{CacheMode, Config, LookupConfig};
use enricher::generate::{GenerateOptions, claim_id, write_events};
use enricher::lookup::{ClaimsLookup, LookupAnswer};
use enricher::lookup::{DuckDbStore, QueryShape};
use enricher::pipeline::Pipeline;

use super::measure::{Measured, measure, run_pipeline};
use super::report::Report;
#[cfg(feature = "native-baseline")]
use crate::cli::native_step::NativeLookup;
use crate::cli::progress::{Counts, Progress, Shown};
use enricher::runtime::PluginEngine;
#[cfg(feature = "native-baseline")]
use enrichment_guest::enrich::enrich_batch;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Events per warm-cache measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Rows of the claims table for the miss path.
    #[arg(long, default_value_t = 1_000_000)]
    pub table_rows: u64,
    /// DuckDB threads for the miss path (default: DuckDB's choice, all cores).
    #[arg(long)]
    pub duckdb_threads: Option<u32>,
    /// Stop after the warm-cache measurements (for profiling).
    #[arg(long)]
    pub warm_only: bool,
    /// Only measure what keeping `/metrics` costs (metered vs unmetered, alternated).
    #[arg(long)]
    pub meter_cost_only: bool,
    /// Only measure the typed world against the raw one and native code
    /// (warm cache, batches 1, 100, 1000, alternated).
    #[arg(long)]
    pub typed_only: bool,
    /// Where the benchmark's DuckDB file goes.
    #[arg(long, default_value = "out/bench")]
    pub dir: PathBuf,
    /// Print every figure as one JSON object on stdout (the tables go to stderr).
    #[arg(long)]
    pub json: bool,
    /// A/B: the plugin to measure (default: the built-in one) ...
    #[arg(long, value_name = "A.wasm", requires = "compare")]
    pub plugin: Option<PathBuf>,
    /// ... against this one, alternating in one process (warm cache, batches
    /// 100 and 1000); only the A/B runs.
    #[arg(long, value_name = "B.wasm")]
    pub compare: Option<PathBuf>,
    /// A/B: rounds of alternation.
    #[arg(long, default_value_t = 4, requires = "compare")]
    pub rounds: u32,
}

/// The plugin's logic linked into the host, batches of 1000 over the warm cache.
#[cfg(feature = "native-baseline")]
fn native_baseline(lookup: &ClaimsLookup, records: &[InputRecord]) -> Option<Measured> {
    let payloads: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
    Some(measure(records.len() as u64, || {
        for chunk in payloads.chunks(1000) {
            std::hint::black_box(enrich_batch(chunk, 0, &mut NativeLookup(lookup)));
        }
    }))
}

/// Without the plugin's crate linked in there is no native baseline to run.
#[cfg(not(feature = "native-baseline"))]
fn native_baseline(_lookup: &ClaimsLookup, _records: &[InputRecord]) -> Option<Measured> {
    eprintln!(
        "no native baseline: it needs the enricher package's `native-baseline` feature (on by default)"
    );
    None
}

/// A partial cache holding the first `claims` claims of the table (the warm-cache rows).
pub(super) fn warm_lookup(db: &std::path::Path, claims: u64) -> anyhow::Result<Arc<ClaimsLookup>> {
    let store = DuckDbStore::open(Some(db), Some(1))?;
    let lookup_cfg = LookupConfig {
        cache: CacheMode::Partial,
        cache_max_rows: 200_000,
        ..LookupConfig::default()
    };
    let lookup = Arc::new(
        ClaimsLookup::start(Box::new(store), &lookup_cfg).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    let ids: Vec<String> = (0..claims).map(claim_id).collect();
    for chunk in ids.chunks(5000) {
        lookup.lookup(chunk);
    }
    Ok(lookup)
}

pub(super) fn table_db(args: &BenchArgs) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&args.dir)?;
    let db = args.dir.join(format!("claims-{}.duckdb", args.table_rows));
    if !db.exists() {
        let t0 = Instant::now();
        let conn = duckdb::Connection::open(&db)?;
        conn.execute_batch(enricher::claims_load::CLAIMS_DDL)?;
        // Same ids and shape as `enricher generate`'s claims (claim_id(n) = CLM-nnnnnnn).
        conn.execute_batch(&format!(
            "INSERT INTO claims SELECT printf('CLM-%07d', i), printf('MBR-%06d', i % 250000), \
             ((i * 7919) % 5000000) / 100.0, 'APPROVED', TIMESTAMP '2024-01-01' + INTERVAL (i % 1000) HOUR \
             FROM range({}) t(i)",
            args.table_rows
        ))?;
        eprintln!(
            "built a {}-row claims table in {:.1} s",
            args.table_rows,
            t0.elapsed().as_secs_f64()
        );
    }
    anyhow::ensure!(
        claim_id(7) == "CLM-0000007",
        "the generator's claim ids changed shape"
    );
    Ok(db)
}

pub fn events_in_memory(
    count: u64,
    claims: u64,
    valid_claim_rate: f64,
) -> anyhow::Result<Vec<InputRecord>> {
    let mut buf = BufWriter::new(Vec::new());
    let options = GenerateOptions {
        count: Some(count),
        claims,
        valid_claim_rate,
        seed: 3,
        ..GenerateOptions::default()
    };
    write_events(&mut buf, &options)?;
    let bytes = buf.into_inner().context("flush")?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| InputRecord {
            key: None,
            value: l.to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect())
}

/// RSS an instance adds once it has run a batch of 1,000 (its linear memory
/// is mapped lazily, so a fresh instance costs almost nothing): 8 of them.
fn instance_memory(
    plugin: &enricher::runtime::Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    report: &mut Report,
) {
    let batch = &records[..records.len().min(1000)];
    let context = enricher::bindings::BatchContext {
        processing_time_ms: 0,
    };
    let before = super::report::rss_bytes();
    let mut instances = Vec::new();
    for _ in 0..8 {
        if let Ok(mut instance) = plugin.instantiate(Some(Arc::clone(lookup))) {
            let _ = instance.process_batch(context, batch);
            instances.push(instance);
        }
    }
    if let (Some((b, _)), Some((a, _))) = (before, super::report::rss_bytes()) {
        let per = a.saturating_sub(b) / instances.len().max(1) as u64;
        report.say(&format!(
            "plugin instance after a batch of {}: ~{} KiB of RSS each (8 instances)\n",
            batch.len(),
            per / 1024
        ));
        report.figure("rss_bytes_per_plugin_instance", serde_json::json!(per));
    }
}

/// `enricher run`'s configuration on the benchmark's table: full cache.
fn file_config(db: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.duckdb.url = db.display().to_string();
    config.lookup.cache = CacheMode::Full;
    config
}

/// The events, one per line, in `dir/events.jsonl`.
fn write_input(args: &BenchArgs, records: &[InputRecord]) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    let input = args.dir.join("events.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&input)?);
    for r in records {
        out.write_all(&r.value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(input)
}

/// The whole file path, as Flink's benchmark ran it: JSON lines in from a file,
/// the claims table in memory (full cache), JSON lines out to files.
fn file_end_to_end(
    args: &BenchArgs,
    db: &std::path::Path,
    records: &[InputRecord],
    report: &mut Report,
) -> anyhow::Result<()> {
    let input = write_input(args, records)?;
    let config = file_config(db);
    let mut pipeline = enricher::app::build_file_pipeline(&config)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&input)?);
    let mut enriched = BufWriter::with_capacity(
        1 << 16,
        std::fs::File::create(args.dir.join("enriched.jsonl"))?,
    );
    let mut failed = BufWriter::with_capacity(
        1 << 16,
        std::fs::File::create(args.dir.join("failed.jsonl"))?,
    );
    let mut result = Ok(Default::default());
    let m = measure(records.len() as u64, || {
        result = enricher::file_mode::run_files(
            &mut pipeline,
            &mut reader,
            &mut enriched,
            &mut failed,
            1000,
        );
    });
    result?;
    report.say(&format!(
        "\nfile end to end (JSON file in, full cache, JSON files out), batch 1000: {} events, {:.0} events/s, {:.0} events per CPU-s\n",
        m.events,
        m.per_sec(),
        m.events as f64 / m.cpu.max(1e-9)
    ));
    report.measured("file_end_to_end_full_cache_batch_1000", &m);
    report.memory("memory_after_file_end_to_end");
    Ok(())
}

pub fn run(config: &Config, args: BenchArgs) -> anyhow::Result<()> {
    let mut report = Report::new(args.json);
    let db = table_db(&args)?;
    report.memory("memory_idle");
    let engine = PluginEngine::new()?;
    let plugin = engine.load_default()?;
    let warm_claims = 100_000u64.min(args.table_rows);
    let records = events_in_memory(args.events, warm_claims, 1.0)?;
    let avg_bytes = records.iter().map(|r| r.value.len()).sum::<usize>() / records.len().max(1);
    report.say("| path | batch | events | events/s | events per CPU-s |");
    report.say("|---|---|---|---|---|");
    let row = |report: &mut Report, key: &str, label: &str, batch: &str, m: &Measured| {
        report.say(&format!(
            "| {label} | {batch} | {} | {:.0} | {:.0} |",
            m.events,
            m.per_sec(),
            m.events as f64 / m.cpu.max(1e-9)
        ));
        report.measured(key, m);
    };

    let lookup = warm_lookup(&db, warm_claims)?;
    let progress = Progress::start(
        Shown {
            what: "bench",
            unit: "records",
            total: None,
            failures: false,
        },
        config.observe.progress_interval,
        || Counts {
            records: super::measure::records_done(),
            failed: 0,
        },
    );
    if args.meter_cost_only {
        let input = write_input(&args, &records)?;
        let run_config = file_config(&db);
        super::meter_cost::print_cost(
            &plugin,
            &lookup,
            &records,
            &run_config,
            &input,
            &args.dir,
            &report,
        )?;
        progress.finish();
        report.finish();
        return Ok(());
    }
    if args.typed_only {
        super::typed::print(
            &plugin,
            &engine.load_typed()?,
            &lookup,
            &records,
            &mut report,
        )?;
        progress.finish();
        report.finish();
        return Ok(());
    }
    instance_memory(&plugin, &lookup, &records, &mut report);
    let native = native_baseline(&lookup, &records);
    if let Some(native) = &native {
        row(
            &mut report,
            "native_warm_cache_batch_1000",
            "native (no WASM), warm cache",
            "1000",
            native,
        );
    }
    let mut wasm_1000 = 0.0;
    for batch in [1usize, 100, 1000] {
        let mut pipeline =
            Pipeline::new(plugin.clone(), Arc::clone(&lookup), 1 << 20).without_plugin_headers();
        let n = if batch == 1 {
            records.len().min(200_000)
        } else {
            records.len()
        };
        run_pipeline(&mut pipeline, &records[..n.min(10_000)], batch); // warm the instance
        let m = measure(n as u64, || {
            std::hint::black_box(run_pipeline(&mut pipeline, &records[..n], batch));
        });
        let key = format!("wasm_warm_cache_batch_{batch}");
        row(
            &mut report,
            &key,
            "WASM plugin, warm cache",
            &batch.to_string(),
            &m,
        );
        if batch == 1000 {
            wasm_1000 = m.per_sec();
        }
    }
    report.memory("memory_under_load_warm_cache");
    report.figure("event_bytes_average", serde_json::json!(avg_bytes));
    match &native {
        Some(native) => {
            let ratio = wasm_1000 / native.per_sec();
            report.say(&format!(
                "\nWASM / native at batch 1000: {ratio:.2} (events of {avg_bytes} B on average)\n"
            ));
            report.figure("wasm_over_native_batch_1000", serde_json::json!(ratio));
        }
        None => report
            .say("\nWASM / native: no native baseline in this build (feature `native-baseline`)\n"),
    }

    let typed = engine.load_typed()?;
    super::typed::print(&plugin, &typed, &lookup, &records, &mut report)?;
    super::output_check::print_cost(&plugin, &lookup, &records, &mut report);
    let input = write_input(&args, &records)?;
    super::meter_cost::print_cost(
        &plugin,
        &lookup,
        &records,
        &file_config(&db),
        &input,
        &args.dir,
        &report,
    )?;

    file_end_to_end(&args, &db, &records, &mut report)?;
    if args.warm_only {
        report.finish();
        return Ok(());
    }

    // Misses: every id new to the cache, one query per batch of distinct ids.
    report.say(&format!(
        "| miss path ({} rows) | ids per query | queries | µs per distinct id |",
        args.table_rows
    ));
    report.say("|---|---|---|---|");
    let mut next_id = 0u64;
    for shape in [
        QueryShape::InList,
        QueryShape::SplitJoin,
        QueryShape::default(),
    ] {
        for per_query in [100usize, 1000, 2000, 5000] {
            let store = DuckDbStore::open(Some(&db), args.duckdb_threads)?.with_shape(shape);
            let cfg = LookupConfig {
                cache: CacheMode::None,
                ..LookupConfig::default()
            };
            let lookup =
                ClaimsLookup::start(Box::new(store), &cfg).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let queries = (20_000 / per_query).clamp(3, 20);
            let t0 = Instant::now();
            for _ in 0..queries {
                let ids: Vec<String> = (0..per_query as u64)
                    .map(|k| claim_id((next_id + k * 7919) % args.table_rows))
                    .collect();
                next_id += 1;
                let answers = lookup.lookup(&ids);
                anyhow::ensure!(
                    answers.iter().all(|a| matches!(a, LookupAnswer::Found(_))),
                    "miss path lost rows"
                );
            }
            let us = t0.elapsed().as_secs_f64() * 1e6 / (queries * per_query) as f64;
            report.say(&format!(
                "| {shape:?} | {per_query} | {queries} | {us:.1} |"
            ));
            report.figure(
                &format!("miss_path_{shape:?}_{per_query}_ids_us_per_id").to_ascii_lowercase(),
                serde_json::json!(us),
            );
        }
    }

    // End to end on misses: each event's claim is new to a partial cache.
    let miss_records = events_in_memory(200_000, args.table_rows, 1.0)?;
    let runs = [
        (
            "WASM plugin, partial cache, cold (mostly misses)",
            CacheMode::Partial,
            1000,
        ),
        (
            "WASM plugin, partial cache, cold (mostly misses)",
            CacheMode::Partial,
            5000,
        ),
        (
            "WASM plugin, partial cache, cold (mostly misses)",
            CacheMode::Partial,
            10_000,
        ),
        ("WASM plugin, full cache", CacheMode::Full, 1000),
    ];
    for (label, mode, batch) in runs {
        let store = DuckDbStore::open(Some(&db), args.duckdb_threads)?;
        let cfg = LookupConfig {
            cache: mode,
            cache_max_rows: 10_000,
            ..LookupConfig::default()
        };
        let t0 = Instant::now();
        let lookup = Arc::new(
            ClaimsLookup::start(Box::new(store), &cfg).map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
        if mode == CacheMode::Full {
            let rows = lookup.stats().rows_in_memory;
            let loaded = t0.elapsed().as_secs_f64();
            report.say(&format!(
                "\nfull cache: loaded {rows} rows in {loaded:.2} s"
            ));
            report.figure("full_cache_load_s", serde_json::json!(loaded));
            report.memory("memory_full_cache_loaded");
        }
        let mut pipeline =
            Pipeline::new(plugin.clone(), Arc::clone(&lookup), 1 << 20).without_plugin_headers();
        let m = measure(miss_records.len() as u64, || {
            std::hint::black_box(run_pipeline(&mut pipeline, &miss_records, batch));
        });
        let s = lookup.stats();
        report.say(&format!(
            "{label}, batch {batch}, {} events over {} claims: {:.0} events/s, {:.0} events per CPU-s (cache hits {}, misses {})",
            m.events,
            args.table_rows,
            m.per_sec(),
            m.events as f64 / m.cpu.max(1e-9),
            s.cache.hits,
            s.cache.misses
        ));
        let mode = format!("{mode:?}").to_ascii_lowercase();
        report.measured(&format!("cold_key_space_{mode}_cache_batch_{batch}"), &m);
    }
    report.finish();
    Ok(())
}
