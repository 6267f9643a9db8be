//! `enricher-bench step`'s cache-miss part: per query shape, what a distinct id
//! costs when every id is new to the cache (a 1,000,000-row table by
//! default), then the plugin end to end on a cold partial cache against the
//! full cache, with the full cache's load time.

use std::sync::Arc;
use std::time::Instant;

use enricher::config::{CacheMode, LookupConfig};
use enricher::generate::claim_id;
use enricher::lookup::{ClaimsLookup, DuckDbStore, LookupAnswer, QueryShape};
use enricher::pipeline::Pipeline;
use enricher::runtime::Plugin;

use super::fixtures::events_in_memory;
use super::measure::{measure, run_pipeline};
use super::report::Report;

/// The miss-path table and the cold end-to-end runs over `db` (a table of
/// `table_rows` claims, DuckDB on `duckdb_threads`), into `report`.
pub(super) fn run(
    db: &std::path::Path,
    table_rows: u64,
    duckdb_threads: Option<u32>,
    plugin: &Plugin,
    report: &mut Report,
) -> anyhow::Result<()> {
    // Misses: every id new to the cache, one query per batch of distinct ids.
    report.say(&format!(
        "| miss path ({} rows) | ids per query | queries | µs per distinct id |",
        table_rows
    ));
    report.say("|---|---|---|---|");
    let mut next_id = 0u64;
    for shape in [
        QueryShape::InList,
        QueryShape::SplitJoin,
        QueryShape::default(),
    ] {
        for per_query in [100usize, 1000, 2000, 5000] {
            let store = DuckDbStore::open(Some(db), duckdb_threads)?.with_shape(shape);
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
                    .map(|k| claim_id((next_id + k * 7919) % table_rows))
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
    let miss_records = events_in_memory(200_000, table_rows, 1.0)?;
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
        (
            "WASM plugin, partial cache of the default size, cold",
            CacheMode::Partial,
            1000,
        ),
    ];
    let last = runs.len() - 1;
    for (n, (label, mode, batch)) in runs.into_iter().enumerate() {
        // The last run keeps the default cache size (100,000 rows): the
        // prefetch window grows with it (`lookup::prefetch`).
        let default_size = n == last;
        let store = DuckDbStore::open(Some(db), duckdb_threads)?;
        let cfg = LookupConfig {
            cache: mode,
            cache_max_rows: if default_size { 100_000 } else { 10_000 },
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
            table_rows,
            m.per_sec(),
            m.events as f64 / m.cpu.max(1e-9),
            s.cache.hits,
            s.cache.misses
        ));
        let mode = format!("{mode:?}").to_ascii_lowercase();
        let size = if default_size { "_default_size" } else { "" };
        report.measured(
            &format!("cold_key_space_{mode}_cache{size}_batch_{batch}"),
            &m,
        );
        report.figure(
            &format!("cold_key_space_{mode}_cache{size}_batch_{batch}_prefetched_ids"),
            serde_json::json!(s.prefetched),
        );
    }
    Ok(())
}
