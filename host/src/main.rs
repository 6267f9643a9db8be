//! `enricher`: the command line. Parses arguments, builds the config and hands
//! over to the library; each subcommand lives in its own module.
//!
//! Quick start: `cargo run --release -- demo` (see README.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

use enricher::claims_load::LoadOptions;
use enricher::config::{CacheMode, Config};
mod cli;

use cli::{bench, commands, demo};

#[derive(Parser)]
#[command(
    name = "enricher",
    version,
    about = "Enrich payment events with claims, through a WASM plugin"
)]
struct Cli {
    /// TOML config file (env vars override it, flags override both).
    #[arg(long, global = true, env = "ENRICHER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage the claims table.
    Claims {
        #[command(subcommand)]
        command: ClaimsCommand,
    },
    /// Enrich records from a file (or stdin) into two JSON-lines files.
    Run(commands::RunArgs),
    /// Write realistic payment events (and a matching claims file).
    Generate(commands::GenerateArgs),
    /// Generate claims and events, load, enrich, and print the summary.
    Demo {
        /// Where the demo's files go.
        #[arg(long, default_value = "out/demo")]
        dir: PathBuf,
        /// How many events to enrich.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
    },
    /// Look at Kafka topics.
    Topic {
        #[command(subcommand)]
        command: TopicCommand,
    },
    /// Measure throughput: native vs WASM, warm cache vs misses.
    Bench(bench::files::BenchArgs),
    /// Measure Kafka end to end against a passthrough, and latency at a fixed rate.
    BenchKafka(bench::kafka::KafkaBenchArgs),
    /// Measure a plugin deployment: the checks, and the pause of a swap.
    BenchSwap(bench::swap::SwapBenchArgs),
    /// Measure the claims changelog: apply rate and freshness latency (needs Kafka).
    BenchClaims(bench::claims::ClaimsBenchArgs),
    /// Deploy, list, roll back plugin versions on a running host (admin API).
    Plugin(cli::plugin::PluginArgs),
    /// Run failed payments (failed-payments) through the current claims and plugin again.
    Redrive(cli::redrive::RedriveArgs),
}

#[derive(Subcommand)]
enum TopicCommand {
    /// Print a topic's records (from the beginning) as JSON lines.
    Tail(cli::kafka::TailArgs),
    /// Create topics (existing ones are kept).
    Create(cli::kafka::CreateArgs),
}

#[derive(Subcommand)]
enum ClaimsCommand {
    /// Create or replace the claims table from a CSV or JSON-lines file.
    Load {
        file: PathBuf,
        /// The DuckDB file (default: DUCKDB_URL or the config's).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Load the good rows and report the bad ones, instead of loading nothing.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Replace the table even when the file holds no claim (by default an
        /// empty load is refused and the table kept).
        #[arg(long)]
        allow_empty: bool,
    },
    /// Publish claims (or, with --delete, their deletion) to the claims
    /// changelog, which every running host applies within about a second.
    Publish(cli::claims::PublishArgs),
}

fn main() -> std::process::ExitCode {
    let _logs = match cli::logging::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {}", cli::report::chain_text(&e));
            return std::process::ExitCode::from(2);
        }
    };
    let cli = Cli::parse();
    let mut flag_env = Vec::new();
    env_names(&Cli::command(), &mut flag_env);
    enricher::config::warn_unknown_env(&flag_env.iter().map(String::as_str).collect::<Vec<_>>());
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<cli::interrupt::Interrupted>() {
            // The summary is printed; say why the exit code is not 0.
            Some(interrupted) => {
                eprintln!("{interrupted}");
                std::process::ExitCode::from(interrupted.exit_code())
            }
            None => {
                eprintln!("error: {}", cli::report::chain_text(&e));
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// The environment variables the flags of `command` and its subcommands read.
fn env_names(command: &clap::Command, names: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(name) = arg.get_env().and_then(|n| n.to_str()) {
            names.push(name.to_owned());
        }
    }
    for sub in command.get_subcommands() {
        env_names(sub, names);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Claims {
            command:
                ClaimsCommand::Load {
                    file,
                    db,
                    skip_bad_rows,
                    allow_empty,
                },
        } => {
            if let Some(db) = db {
                config.duckdb.url = db.display().to_string();
            }
            let options = LoadOptions {
                skip_bad_rows,
                allow_empty,
            };
            cli::claims::load(&config, &file, &options)
        }
        Command::Claims {
            command: ClaimsCommand::Publish(args),
        } => cli::claims::publish(&config, &args),
        Command::Run(args) => commands::run(config, args),
        Command::Generate(args) => commands::generate(&config, args),
        Command::Topic { command } => match command {
            TopicCommand::Tail(args) => cli::kafka::tail(&config, args),
            TopicCommand::Create(args) => cli::kafka::create(&config, args),
        },
        Command::Demo { dir, events } => {
            config.lookup.cache = CacheMode::Partial;
            demo::run(&mut config, &dir, events)
        }
        Command::Bench(args) => bench::run(&config, args),
        Command::BenchKafka(args) => bench::kafka::run(&config, args),
        Command::BenchSwap(args) => bench::swap::run(&config, args),
        Command::BenchClaims(args) => bench::claims::run(&config, args),
        Command::Plugin(args) => cli::plugin::run(&config, args),
        Command::Redrive(args) => cli::redrive::run(config, args),
    }
}
