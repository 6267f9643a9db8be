//! `enricher bench --plugin A.wasm --compare B.wasm [--rounds N]`: two plugin
//! builds over the same events and the same warm claims cache, alternating
//! in one process (A, B, A, B, ...), so the ratio holds on a noisy machine.
//! Prints each round and the median of B / A per batch size.

use std::path::Path;
use std::sync::Arc;

use enricher::pipeline::Pipeline;
use enricher::runtime::{Plugin, PluginEngine};

use super::files::BenchArgs;
use super::fixtures::{events_in_memory, table_db, warm_lookup};
use super::measure::{measure, run_pipeline};

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
        for batch in [100usize, 1000] {
            let mut rate = [0.0f64; 2];
            for (i, (_, plugin)) in plugins.iter().enumerate() {
                let mut pipeline = Pipeline::new(plugin.clone(), Arc::clone(&lookup), 1 << 20)
                    .without_plugin_headers();
                run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], batch);
                let m = measure(records.len() as u64, || {
                    std::hint::black_box(run_pipeline(&mut pipeline, &records, batch));
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
    for batch in [100usize, 1000] {
        let mut r: Vec<f64> = ratios
            .iter()
            .filter(|(b, _)| *b == batch)
            .map(|(_, r)| *r)
            .collect();
        r.sort_by(f64::total_cmp);
        let median = r.get(r.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "\nbatch {batch}: median B / A = {median:.3} over {} rounds",
            r.len()
        );
    }
    Ok(())
}
