//! `enricher-bench`: the benchmarks and load tools, apart from the product
//! binary. It drives the `enricher` library as the product does, and links
//! the built-in plugin's logic for the native baselines (`native_step`).
//!
//! - `step` (`files`, `typed`, `warm`, `misses`, `ab`...): native vs WASM,
//!   warm cache vs misses, end to end on files; `--compare` alternates two
//!   plugin builds in one process;
//! - `kafka`: Kafka end to end against a passthrough, latency at a fixed rate;
//! - `swap`: a deployment's checks and swap pause;
//! - `claims`: changelog apply rate, freshness latency, and throughput while
//!   claim updates stream in;
//! - `plugins`: the same enrichment in Rust, Python and JS, side by side;
//! - `run --native-step raw|typed`: `enricher run` on files with the
//!   plugin's logic compiled in place of the WASM component.
//!
//! Numbers and commands: docs/benchmarks.md.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use enricher::config::Config;

mod ab;
mod cache_memory;
mod claims;
mod claims_stream;
mod files;
mod fixtures;
mod kafka;
mod kafka_latency;
mod measure;
mod meter_cost;
mod misses;
mod native_step;
mod output_check;
mod plugins;
mod report;
mod rss;
mod run;
mod swap;
mod typed;
mod warm;

#[derive(Parser)]
#[command(
    name = "enricher-bench",
    version,
    about = "Benchmarks and load tools for enricher (numbers: docs/benchmarks.md)"
)]
struct Cli {
    /// TOML config file (env vars override it), as for `enricher`.
    #[arg(long, global = true, env = "ENRICHER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The enrichment step: native vs WASM, warm cache vs misses, end to end on files.
    Step(files::BenchArgs),
    /// Kafka end to end against a passthrough, and latency at a fixed rate.
    Kafka(kafka::KafkaBenchArgs),
    /// A plugin deployment: the checks, and the pause of a swap.
    Swap(swap::SwapBenchArgs),
    /// The claims changelog: apply rate, freshness latency, and throughput
    /// while updates stream in (needs Kafka).
    Claims(claims::ClaimsBenchArgs),
    /// Plugins side by side (Rust, Python, JS...): size, compile, instantiate, memory, events/s.
    Plugins(plugins::PluginBenchArgs),
    /// `enricher run` on files with the plugin's logic compiled in place of the WASM component.
    Run(run::NativeRunArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("enricher-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config: Config = Config::layers(cli.config.as_deref())
        .and_then(|layers| layers.extract())
        .context("loading configuration")?;
    config.validate().context("loading configuration")?;
    match cli.command {
        Command::Step(args) => match &args.compare {
            Some(b) => ab::run(&args, args.plugin.as_deref(), b),
            None => files::run(args),
        },
        Command::Kafka(args) => kafka::run(&config, args),
        Command::Swap(args) => swap::run(&config, args),
        Command::Claims(args) => claims::run(&config, args),
        Command::Plugins(args) => plugins::run(&config, args),
        Command::Run(args) => run::run(config, args),
    }
}
