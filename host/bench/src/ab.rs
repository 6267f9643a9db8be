//! `enricher-bench step --plugin A.wasm --compare B.wasm [--rounds N]`: two plugin
//! builds over the same events and the same warm claims cache, alternating
//! in one process (A, B, A, B, ...), so the ratio holds on a noisy machine.
//! Prints each round and the median of B / A per batch size (1, 100, 1000;
//! batch 1 over a fifth of the events). CPU is the measuring thread's, to the
//! nanosecond (the plugin and the warm cache's lookups run on it). Last, the
//! WASM operators each build runs per event (wasmtime's fuel counter, on an
//! engine of its own): a count that does not move with the machine's load.

use std::path::Path;
use std::sync::Arc;

use enricher::bindings::{BatchContext, InputRecord};
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::{Plugin, PluginEngine, PluginSettings};

use super::files::BenchArgs;
use super::fixtures::{events_in_memory, table_db, warm_lookup};
use super::measure::{measure_thread, run_pipeline};

const BATCHES: [usize; 3] = [1, 100, 1000];

pub(super) fn run(args: &BenchArgs, a: Option<&Path>, b: &Path) -> anyhow::Result<()> {
    let db = table_db(&args.dir, args.table_rows)?;
    let engine = PluginEngine::new()?;
    let load = |path: Option<&Path>| -> anyhow::Result<Plugin> {
        Ok(match path {
            Some(path) => engine.load_file(path)?,
            None => engine.load_default()?,
        })
    };
    let plugins = [("A", load(a)?), ("B", load(Some(b))?)];
    let counting = PluginEngine::with_settings(PluginSettings {
        count_operators: true,
        ..PluginSettings::default()
    })?;
    let counted = [
        match a {
            Some(path) => counting.load_file(path)?,
            None => counting.load_default()?,
        },
        counting.load_file(b)?,
    ];
    let warm_claims = 100_000u64.min(args.table_rows);
    let records = events_in_memory(args.events, warm_claims, 1.0)?;
    let lookup = warm_lookup(&db, warm_claims)?;
    for (label, plugin) in &plugins {
        println!("{label}: {} ({})", plugin.key(), plugin.source());
    }
    println!("\n| round | batch | A events per CPU-s | B events per CPU-s | B / A |");
    println!("|---|---|---|---|---|");
    let mut ratios: Vec<(usize, f64)> = Vec::new();
    for round in 1..=args.rounds.max(1) {
        for batch in BATCHES {
            let records = if batch == 1 {
                &records[..records.len() / 5]
            } else {
                &records[..]
            };
            let mut rate = [0.0f64; 2];
            for (i, (_, plugin)) in plugins.iter().enumerate() {
                let mut pipeline = Pipeline::new(plugin.clone(), Arc::clone(&lookup), 1 << 20)
                    .without_plugin_headers();
                run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], batch);
                let m = measure_thread(records.len() as u64, || {
                    std::hint::black_box(run_pipeline(&mut pipeline, records, batch));
                });
                rate[i] = m.events as f64 / m.cpu.max(1e-9);
            }
            let ratio = rate[1] / rate[0].max(1e-9);
            ratios.push((batch, ratio));
            println!(
                "| {round} | {batch} | {:.0} | {:.0} | {ratio:.3} |",
                rate[0], rate[1]
            );
        }
    }
    for batch in BATCHES {
        let mut r: Vec<f64> = ratios
            .iter()
            .filter(|(b, _)| *b == batch)
            .map(|(_, r)| *r)
            .collect();
        r.sort_by(f64::total_cmp);
        let median = r.get(r.len() / 2).copied().unwrap_or(f64::NAN);
        let (low, high) = (r.first().copied(), r.last().copied());
        println!(
            "\nbatch {batch}: median B / A = {median:.3} over {} rounds (range {:.3}-{:.3})",
            r.len(),
            low.unwrap_or(f64::NAN),
            high.unwrap_or(f64::NAN)
        );
    }
    let sample = &records[..records.len().min(20_000)];
    println!("\n| batch | A WASM operators per event | B | B / A |");
    println!("|---|---|---|---|");
    for batch in BATCHES {
        let [a, b] =
            [&counted[0], &counted[1]].map(|p| operators_per_event(p, &lookup, sample, batch));
        let (a, b) = (a?, b?);
        println!("| {batch} | {a:.0} | {b:.0} | {:.3} |", b / a.max(1e-9));
    }
    Ok(())
}

/// WASM operators `plugin` runs per event over `records` in batches of `batch`.
fn operators_per_event(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    batch: usize,
) -> anyhow::Result<f64> {
    let mut instance = plugin.instantiate(Some(Arc::clone(lookup)))?;
    let context = BatchContext {
        processing_time_ms: 1_705_314_601_123,
    };
    let before = instance.operators_run().unwrap_or(0);
    for chunk in records.chunks(batch) {
        instance.process_batch(context, chunk)?;
    }
    let run = instance.operators_run().unwrap_or(0) - before;
    Ok(run as f64 / records.len().max(1) as f64)
}
