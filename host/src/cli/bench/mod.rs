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
