//! Benchmarks and load tools, apart from the library's core: `enricher
//! bench` (native vs WASM, warm cache vs misses, end to end on files),
//! `bench-kafka` (Kafka end to end against a passthrough, latency at a fixed
//! rate), `bench-swap` (a deployment's checks and swap pause) and
//! `bench-claims` (changelog apply rate and freshness latency); `bench --compare`
//! (`ab`) alternates two plugin builds in one process.

mod ab;
pub mod claims;
pub mod files;
pub mod kafka;
mod measure;
mod output_check;
pub mod swap;

/// `enricher bench`: the A/B of two plugin builds when `--compare` is given,
/// else the whole benchmark.
pub fn run(config: &enricher::config::Config, args: files::BenchArgs) -> anyhow::Result<()> {
    match &args.compare {
        Some(b) => ab::run(&args, args.plugin.as_deref(), b),
        None => files::run(config, args),
    }
}
