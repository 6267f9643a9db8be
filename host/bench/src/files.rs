//! `enricher-bench step`: events/s of the enrichment path, all measured in one run
//! so the ratios hold on a noisy machine. Prints a Markdown table.
//!
//! 1. native: the built-in plugin's typed step compiled into the host (no
//!    WASM), over the same warm claims cache;
//! 2. the built-in plugin in wasmtime, warm cache, batches of 1, 100, 1000,
//!    the typed world against the raw one (`typed`), and what
//!    the enriched-JSON check costs there (`output_check`);
//! 3. cache misses: a 1,000,000-row claims table, every id new to the cache,
//!    per query shape; and the full cache's load time.
//!
//! This file holds the arguments and the order of the parts; the data is
//! made in `fixtures`, the warm-cache extras are in `warm`, the misses in
//! `misses`.

use std::path::PathBuf;
use std::sync::Arc;

use enricher::pipeline::Pipeline;

use super::fixtures::{events_in_memory, table_db, warm_lookup};
use super::measure::{Measured, measure, run_pipeline};
use super::report::Report;
use super::warm::{file_end_to_end, instance_memory, native_baseline};
use enricher::runtime::PluginEngine;

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

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut report = Report::new(args.json);
    let db = table_db(&args.dir, args.table_rows)?;
    report.memory("memory_idle");
    if !args.meter_cost_only {
        super::cache_memory::measure(&db, args.table_rows, &mut report)?;
    }
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
    if args.meter_cost_only {
        super::meter_cost::print_cost(&plugin, &lookup, &records, &report);
        report.finish();
        return Ok(());
    }
    if args.typed_only {
        super::typed::print(&engine.load_raw()?, &plugin, &lookup, &records, &mut report)?;
        report.finish();
        return Ok(());
    }
    instance_memory(&plugin, &lookup, &records, &mut report);
    let native = native_baseline(&plugin, &lookup, &records);
    row(
        &mut report,
        "native_warm_cache_batch_1000",
        "native typed step (no WASM), warm cache",
        "1000",
        &native,
    );
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
            "WASM built-in (typed) plugin, warm cache",
            &batch.to_string(),
            &m,
        );
        if batch == 1000 {
            wasm_1000 = m.per_sec();
        }
    }
    report.memory("memory_under_load_warm_cache");
    report.figure("event_bytes_average", serde_json::json!(avg_bytes));
    let ratio = wasm_1000 / native.per_sec();
    report.say(&format!(
        "\nWASM / native at batch 1000: {ratio:.2} (events of {avg_bytes} B on average)\n"
    ));
    report.figure("wasm_over_native_batch_1000", serde_json::json!(ratio));

    let raw = engine.load_raw()?;
    super::typed::print(&raw, &plugin, &lookup, &records, &mut report)?;
    super::output_check::print_cost(&plugin, &lookup, &records, &mut report);
    super::meter_cost::print_cost(&plugin, &lookup, &records, &report);

    file_end_to_end(&args.dir, &db, &records, &mut report)?;
    if args.warm_only {
        report.finish();
        return Ok(());
    }
    super::misses::run(
        &db,
        args.table_rows,
        args.duckdb_threads,
        &plugin,
        &mut report,
    )?;
    report.finish();
    Ok(())
}
