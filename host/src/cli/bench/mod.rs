//! Benchmarks and load tools, apart from the library's core: `enricher
//! bench` (native vs WASM, warm cache vs misses, end to end on files),
//! `bench-kafka` (Kafka end to end against a passthrough, latency at a fixed
//! rate), `bench-swap` (a deployment's checks and swap pause),
//! `bench-claims` (changelog apply rate, freshness latency, and throughput
//! while claim updates stream in), `bench-plugins` (the same enrichment
//! in Rust, Python and JS, side by side); `bench --compare` (`ab`) alternates
//! two plugin builds in one process; `typed`: the typed world against the raw
//! one and native code.

mod ab;
mod cache_memory;
pub mod claims;
mod claims_stream;
pub mod files;
mod fixtures;
pub mod kafka;
mod kafka_latency;
mod measure;
mod meter_cost;
mod misses;
mod output_check;
pub mod plugins;
mod report;
mod rss;
pub mod swap;
mod typed;
mod warm;

/// `enricher bench`: the A/B of two plugin builds when `--compare` is given,
/// else the whole benchmark.
pub fn run(config: &enricher::config::Config, args: files::BenchArgs) -> anyhow::Result<()> {
    match &args.compare {
        Some(b) => ab::run(&args, args.plugin.as_deref(), b),
        None => files::run(config, args),
    }
}
