//! `enricher`: the command line. Parses arguments, builds the config and hands
//! over to the library; each subcommand lives in its own module.
//!
//! Quick start: `cargo run --release -- demo` (see README.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use enricher::claims_load::LoadOptions;
use enricher::config::{CacheMode, Config};
mod cli;

use cli::settings::SettingFlags;
use cli::summary::SummaryArgs;
use cli::{commands, demo};

/// The end of `enricher --help`: both modes of `run`, and examples.
const OVERVIEW: &str = "\
`enricher run` has two modes:
  Kafka (without --input): consume PAYMENT_EVENTS_TOPIC from KAFKA_BOOTSTRAP_SERVERS, enrich,
    produce to ENRICHED_PAYMENTS_TOPIC and FAILED_PAYMENTS_TOPIC exactly once, until SIGTERM
    (or --stop-at-end); the admin API (metrics, status page, deploys) on ENRICHER_ADMIN_BIND.
  File: --input FILE --enriched-out FILE --failed-out FILE (`-` is stdin or stdout).
The summary of a run goes to stderr (--summary-json FILE: every counter as JSON), never to stdout.
Settings: built-in defaults, then --config FILE, then environment variables, then flags;
`enricher config check` prints each one and where it came from.

Examples:
  enricher demo
  enricher claims load claims.csv --db claims.duckdb
  KAFKA_BOOTSTRAP_SERVERS=localhost:9092 enricher run --db claims.duckdb
  enricher run --input events.jsonl --enriched-out - --failed-out failed.jsonl > enriched.jsonl
  enricher config check --config enricher.toml";

#[derive(Parser)]
#[command(
    name = "enricher",
    version,
    about = "Enrich payment events with claims, through a WASM plugin (from Kafka or files)",
    after_help = OVERVIEW
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
    /// Enrich payment events: from Kafka (the default) or from a file (--input).
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
    /// Deploy, list, roll back plugin versions on a running host (admin API).
    Plugin(cli::plugin::PluginArgs),
    /// Run failed payments (failed-payments) through the current claims and plugin again.
    Redrive(cli::redrive::RedriveArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (secrets masked) and where each value
    /// came from (default, file, env, flag); exit non-zero if it is invalid.
    Check(cli::config_check::CheckArgs),
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
        /// The claims file: CSV (with a header) or JSON lines.
        file: PathBuf,
        /// The DuckDB file to create or replace the claims table in.
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
        /// Load the good rows and report the bad ones, instead of loading nothing.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Replace the table even when the file holds no claim (by default an
        /// empty load is refused and the table kept).
        #[arg(long)]
        allow_empty: bool,
        #[command(flatten)]
        summary: SummaryArgs,
    },
    /// Publish claims (or, with --delete, their deletion) to the claims
    /// changelog, which every running host applies within about a second.
    Publish(cli::claims::PublishArgs),
    /// Follow a PostgreSQL claims table (snapshot, then logical replication)
    /// and publish every change to the claims changelog, until SIGTERM.
    Sync(cli::claims_sync::SyncArgs),
}

fn main() -> std::process::ExitCode {
    let _logs = match cli::logging::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {}", cli::report::chain_text(&e));
            return std::process::ExitCode::from(2);
        }
    };
    let matches = cli::settings::annotate(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let config_from = matches.value_source("config");
    let mut flag_env = Vec::new();
    env_names(&Cli::command(), &mut flag_env);
    enricher::config::warn_unknown_env(&flag_env.iter().map(String::as_str).collect::<Vec<_>>());
    match run(cli, config_from) {
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

/// The flags of `command` that set configuration settings.
fn setting_flags(command: &Command) -> SettingFlags {
    match command {
        Command::Run(args) => args.settings.clone(),
        Command::Config {
            command: ConfigCommand::Check(args),
        } => args.settings.clone(),
        Command::Redrive(args) => SettingFlags::db(args.db.clone()),
        Command::Claims {
            command: ClaimsCommand::Load { db, .. },
        } => SettingFlags::db(db.clone()),
        _ => SettingFlags::default(),
    }
}

fn run(cli: Cli, config_from: Option<ValueSource>) -> anyhow::Result<()> {
    let file = cli.config.as_deref();
    let layers = Config::layers(file)
        .and_then(|layers| setting_flags(&cli.command).apply(layers))
        .context("loading configuration")?;
    let mut config = layers
        .extract()
        .and_then(|config| config.validate().map(|()| config))
        .context("loading configuration")?;
    match cli.command {
        Command::Claims {
            command:
                ClaimsCommand::Load {
                    file,
                    db: _,
                    skip_bad_rows,
                    allow_empty,
                    summary,
                },
        } => {
            let options = LoadOptions {
                skip_bad_rows,
                allow_empty,
            };
            cli::claims::load(&config, &file, &options, &summary)
        }
        Command::Claims {
            command: ClaimsCommand::Publish(args),
        } => cli::claims::publish(&config, &args),
        Command::Claims {
            command: ClaimsCommand::Sync(args),
        } => cli::claims_sync::run(&config, &args),
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
        Command::Plugin(args) => cli::plugin::run(&config, args),
        Command::Redrive(args) => cli::redrive::run(config, args),
        Command::Config {
            command: ConfigCommand::Check(_),
        } => {
            let note = match (file, config_from) {
                (None, _) => "no config file".to_owned(),
                (Some(path), Some(ValueSource::EnvVariable)) => {
                    format!("file {} (ENRICHER_CONFIG)", path.display())
                }
                (Some(path), _) => format!("file {} (--config)", path.display()),
            };
            cli::config_check::run(&layers, &config, &note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command, with the path of commands to it.
    fn all_args(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((path.to_owned(), arg.clone()));
        }
        for sub in command.get_subcommands() {
            all_args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_and_command_has_a_help_line() {
        let command = cli::settings::annotate(Cli::command());
        command.clone().debug_assert();
        let mut args = Vec::new();
        all_args(&command, "enricher", &mut args);
        assert!(args.len() > 50, "the tree was walked: {}", args.len());
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, arg)| {
                arg.get_help()
                    .is_none_or(|help| help.to_string().trim().is_empty())
            })
            .map(|(path, arg)| format!("{path} {}", arg.get_id()))
            .collect();
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
        fn commands(command: &clap::Command, out: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() {
                    out.push(sub.get_name().to_owned());
                }
                commands(sub, out);
            }
        }
        let mut undocumented = Vec::new();
        commands(&command, &mut undocumented);
        assert!(
            undocumented.is_empty(),
            "commands without help: {undocumented:?}"
        );
    }

    #[test]
    fn setting_flags_show_their_env_var_and_default() {
        let command = cli::settings::annotate(Cli::command());
        let mut args = Vec::new();
        all_args(&command, "enricher", &mut args);
        let help = |path: &str, id: &str| {
            args.iter()
                .find(|(p, a)| p == path && a.get_id() == id)
                .and_then(|(_, a)| a.get_help().map(ToString::to_string))
                .unwrap_or_else(|| panic!("no {path} --{id}"))
        };
        let run_db = help("enricher run", "db");
        assert!(
            run_db.ends_with("[env: DUCKDB_URL] [default: claims.duckdb]"),
            "{run_db}"
        );
        let cache = help("enricher run", "cache");
        assert!(
            cache.ends_with("[env: LOOKUP_CACHE] [default: auto]"),
            "{cache}"
        );
        let delivery = help("enricher config check", "delivery");
        assert!(delivery.contains("[env: ENRICHER_DELIVERY]"), "{delivery}");
        assert!(help("enricher redrive", "db").contains("[env: DUCKDB_URL]"));
        assert!(help("enricher claims load", "db").contains("[env: DUCKDB_URL]"));
        // Every setting flag of the table exists on `run`, with its env var.
        for (id, _, key) in cli::settings::FLAG_KEYS {
            let text = help("enricher run", id);
            let name = enricher::config::env_var_of(key).expect("has an env var");
            assert!(text.contains(&format!("[env: {name}]")), "{id}: {text}");
        }
    }
}
