//! `enricher`: a wasmtime host that runs payment-enrichment plugins (WASM
//! components) over a stream of records, with a cached DuckDB claims lookup
//! offered to the plugin as an imported host function.
//!
//! Layout, one job per module:
//! - [`app`]: wiring shared by the commands (config → lookup → plugin → pipeline);
//! - [`config`]: the one typed configuration (defaults, TOML file, env, flags);
//! - [`error`]: the error enums code branches on;
//! - [`bindings`]: the one `bindgen!` of the WIT world `payments:enrichment/enricher`;
//! - [`plugin`]: engine, loading and pre-instantiating a plugin, calling it per batch;
//! - [`sandbox`]: memory cap and CPU deadline of plugin instances;
//! - [`host_api`]: the host side of the world's imports (`claims`, `logging`);
//! - [`lookup`]: the claims lookup: DuckDB store, LRU/TTL cache, full cache, timeout and retries;
//! - [`claims_load`]: `enricher claims load`, a CSV / JSON-lines file into the claims table;
//! - [`pipeline`]: batches records through the plugin and routes every output, losing none;
//! - [`kafka`]: Kafka mode: consume, enrich, produce, commit (exactly-once or at-least-once);
//! - [`file_mode`]: `enricher run` on files (one record per line, JSON lines out);
//! - [`generate`]: realistic payment events and a matching claims file;
//! - [`metrics`]: counters per status, for summaries and logs;
//! - [`plugins`]: plugin versions on a running host: checks, swap, rollback, the fleet topic;
//! - [`admin`]: the admin HTTP API over [`plugins`], and its client (`enricher plugin ...`);

pub mod admin;
pub mod app;
pub mod bindings;
pub mod claims_load;
pub mod config;
pub mod error;
pub mod file_mode;
pub mod generate;
pub mod host_api;
pub mod kafka;
pub mod lookup;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod plugins;
pub mod sandbox;

// The binary (`main.rs`) keeps its subcommands in `src/cli/`: argument
// parsing, printing and `anyhow` stay out of the library.
