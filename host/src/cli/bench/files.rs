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
use enricher::runtime::PluginEngine;
#[cfg(feature = "native-baseline")]
use enrichment_guest::enrich::{Claim, ClaimLookup, LookupOutcome, enrich_batch};

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
    /// Where the benchmark's DuckDB file goes.
    #[arg(long, default_value = "out/bench")]
    pub dir: PathBuf,
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

/// The host's claims cache, as the guest core's lookup (the native baseline).
#[cfg(feature = "native-baseline")]
struct NativeLookup<'a>(&'a ClaimsLookup);

#[cfg(feature = "native-baseline")]
impl ClaimLookup for NativeLookup<'_> {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<LookupOutcome> {
        let ids: Vec<String> = claim_ids.iter().map(|s| s.to_string()).collect();
        self.0
            .lookup(&ids)
            .into_iter()
            .map(|a| match a {
                LookupAnswer::Found(row) | LookupAnswer::Stale(row) => {
                    LookupOutcome::Found(Claim {
                        member_id: row.member_id.clone(),
                        claim_amount: row.claim_amount,
                        claim_status: row.claim_status.clone(),
                        created_at_micros: row.created_at_micros,
                    })
                }
                LookupAnswer::NotFound => LookupOutcome::NotFound,
                LookupAnswer::Unavailable(w) => LookupOutcome::Unavailable(w),
                LookupAnswer::Timeout(w) => LookupOutcome::Timeout(w),
            })
            .collect()
    }
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

/// The whole file path, as Flink's benchmark ran it: JSON lines in from a file,
/// the claims table in memory (full cache), JSON lines out to files.
fn file_end_to_end(
    args: &BenchArgs,
    db: &std::path::Path,
    records: &[InputRecord],
) -> anyhow::Result<()> {
    use std::io::Write;
    let input = args.dir.join("events.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&input)?);
    for r in records {
        out.write_all(&r.value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let mut config = Config::default();
    config.duckdb.url = db.display().to_string();
    config.lookup.cache = CacheMode::Full;
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
    println!(
        "\nfile end to end (JSON file in, full cache, JSON files out), batch 1000: {} events, {:.0} events/s, {:.0} events per CPU-s\n",
        m.events,
        m.per_sec(),
        m.events as f64 / m.cpu.max(1e-9)
    );
    Ok(())
}

pub fn run(_config: &Config, args: BenchArgs) -> anyhow::Result<()> {
    let db = table_db(&args)?;
    let engine = PluginEngine::new()?;
    let plugin = engine.load_default()?;
    let warm_claims = 100_000u64.min(args.table_rows);
    let records = events_in_memory(args.events, warm_claims, 1.0)?;
    let avg_bytes = records.iter().map(|r| r.value.len()).sum::<usize>() / records.len().max(1);
    println!("| path | batch | events | events/s | events per CPU-s |");
    println!("|---|---|---|---|---|");
    let row = |label: &str, batch: &str, m: &Measured| {
        println!(
            "| {label} | {batch} | {} | {:.0} | {:.0} |",
            m.events,
            m.per_sec(),
            m.events as f64 / m.cpu.max(1e-9)
        );
    };

    let lookup = warm_lookup(&db, warm_claims)?;
    let native = native_baseline(&lookup, &records);
    if let Some(native) = &native {
        row("native (no WASM), warm cache", "1000", native);
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
        row("WASM plugin, warm cache", &batch.to_string(), &m);
        if batch == 1000 {
            wasm_1000 = m.per_sec();
        }
    }
    match &native {
        Some(native) => println!(
            "\nWASM / native at batch 1000: {:.2} (events of {avg_bytes} B on average)\n",
            wasm_1000 / native.per_sec()
        ),
        None => println!(
            "\nWASM / native: no native baseline in this build (feature `native-baseline`)\n"
        ),
    }

    super::output_check::print_cost(&plugin, &lookup, &records);

    file_end_to_end(&args, &db, &records)?;
    if args.warm_only {
        return Ok(());
    }

    // Misses: every id new to the cache, one query per batch of distinct ids.
    println!(
        "| miss path ({} rows) | ids per query | queries | µs per distinct id |",
        args.table_rows
    );
    println!("|---|---|---|---|");
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
            println!("| {shape:?} | {per_query} | {queries} | {us:.1} |");
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
            println!(
                "\nfull cache: loaded {} rows in {:.2} s",
                lookup.stats().rows_in_memory,
                t0.elapsed().as_secs_f64()
            );
        }
        let mut pipeline =
            Pipeline::new(plugin.clone(), Arc::clone(&lookup), 1 << 20).without_plugin_headers();
        let m = measure(miss_records.len() as u64, || {
            std::hint::black_box(run_pipeline(&mut pipeline, &miss_records, batch));
        });
        let s = lookup.stats();
        println!(
            "{label}, batch {batch}, {} events over {} claims: {:.0} events/s, {:.0} events per CPU-s (cache hits {}, misses {})",
            m.events,
            args.table_rows,
            m.per_sec(),
            m.events as f64 / m.cpu.max(1e-9),
            s.cache.hits,
            s.cache.misses
        );
    }
    Ok(())
}
