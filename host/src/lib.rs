//! `enricher`: a wasmtime host that runs payment-enrichment plugins (WASM
//! components) over a stream of records, with a cached claims lookup (a
//! DuckDB copy, or PostgreSQL directly) offered to the plugin as an imported
//! host function.
//!
//! Two paths run through it, on different threads:
//! - an event: source (`kafka`, `file_mode`) → [`pipeline`] → plugin
//!   ([`runtime`]) → [`lookup`] → sink → commit (`kafka`'s delivery modes);
//! - a deployment: CLI → admin API → checks → fleet topic → every host
//!   ([`deploy`]) → the pipeline swaps at its next commit boundary.
//!
//! The stream path never waits on the deployment path: a pipeline reads the
//! desired plugin from a watch channel and reports batches on a channel that
//! never blocks ([`pipeline::PluginFeed`]).
//!
//! Layout, one job per module (dependencies point down this list):
//! - [`app`]: wiring shared by the commands (config → lookup → plugin → pipeline, Kafka host);
//! - [`admin`]: the admin HTTP API (plugins, claims, metrics, probes, status page) and its client;
//! - [`deploy`]: plugin versions on a running host: checks, version store,
//!   rollback policy, fleet topic, watched folder;
//! - [`kafka`]: Kafka mode: poll, process, produce, commit (exactly-once or at-least-once);
//! - [`file_mode`]: `enricher run` on files (one record per line, JSON lines out);
//! - [`pipeline`]: batches records through the plugin and routes every output, losing none;
//! - [`metrics`]: counters per status, for summaries and logs;
//! - [`health`]: liveness and readiness the stream publishes for the probes;
//! - [`runtime`]: engine, loading, world check, instances, sandbox, host imports;
//! - [`changelog`]: live claims: the changelog topic (ours or Debezium's) applied into each host's DuckDB, `claims publish`;
//! - [`claims_sync`]: `enricher claims sync`, a PostgreSQL table's snapshot and changes onto the changelog;
//! - [`lookup`]: the claims lookup: DuckDB and PostgreSQL stores, LRU/TTL cache, full cache, timeout and retries;
//! - [`observe`]: the stream's atomic counters and histograms `/metrics` reads;
//! - [`claims_load`]: `enricher claims load`, a CSV / JSON-lines file into the claims table;
//! - [`generate`]: realistic payment events and a matching claims file;
//! - [`toolchain`]: the commands that build a Python or JS plugin project into a component;
//! - [`config`]: the one typed configuration (defaults, TOML file, env, flags);
//! - [`bindings`]: the one `bindgen!` of the WIT world `payments:enrichment/enricher`;
//! - [`error`]: the error enums several modules branch on;
//! - `clock`: wall-clock milliseconds as the host stamps them.
//!
//! Each module's public items are its deliberate API (used by the binary and
//! the integration tests); everything else is crate-private.

pub mod admin;
pub mod app;
pub mod bindings;
pub mod changelog;
pub mod claims_load;
pub mod claims_sync;
mod clock;
pub mod config;
pub mod deploy;
pub mod error;
pub mod file_mode;
pub mod generate;
pub mod health;
pub mod kafka;
mod log_limit;
pub mod lookup;
pub mod metrics;
pub mod observe;
pub mod pipeline;
pub mod runtime;
pub mod toolchain;
pub mod typed;

// The binary (`main.rs`) keeps its subcommands in `src/cli/`: argument
// parsing, printing and `anyhow` stay out of the library. The benchmarks and
// load tools are another binary over this library (`host/bench/`, `enricher-bench`).
