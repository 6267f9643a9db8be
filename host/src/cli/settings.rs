//! Flags that set a configuration setting (`--db` is `duckdb.url`...): the
//! flag layer of the one typed config (defaults -> file -> env -> flags,
//! `enricher::config::Layers`), and their `--help` lines, which show each
//! setting's environment variable and default from the config itself. clap
//! never reads these variables: the config's layering does, so `config check`
//! can say where each value came from.

use std::path::PathBuf;

use enricher::config::{CacheMode, DeliveryMode, Layers, default_text, env_var_of};
use enricher::error::ConfigError;

/// The settings `run` (and `config check`, to check what a run would use) take as flags.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SettingFlags {
    /// The claims DuckDB file.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// A plugin component (.wasm); unset: the plugin built with the host.
    #[arg(long, value_name = "PATH")]
    pub plugin: Option<PathBuf>,
    /// Records per plugin call.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Lookup cache: auto (full when the table fits lookup.full-cache-max-bytes, else partial), partial (LRU + TTL), full (whole table) or none.
    #[arg(long, value_name = "MODE", value_parser = parse_cache_mode)]
    pub cache: Option<CacheMode>,
    /// Kafka mode: exactly-once (transactions) or at-least-once.
    #[arg(long, value_name = "MODE", value_parser = parse_delivery)]
    pub delivery: Option<DeliveryMode>,
}

/// The setting each flag sets: (clap argument id, flag, file key). Also
/// the flags of other commands with the same meaning (`--db`).
pub const FLAG_KEYS: &[(&str, &str, &str)] = &[
    ("db", "--db", "duckdb.url"),
    ("plugin", "--plugin", "plugin.path"),
    ("batch_size", "--batch-size", "pipeline.batch-size"),
    ("cache", "--cache", "lookup.cache"),
    ("delivery", "--delivery", "kafka.delivery"),
];

/// The subcommands whose flags of [`FLAG_KEYS`] set those settings
/// (by their names on the command line: `claims load` is `load`).
const SETTING_COMMANDS: &[&str] = &["run", "check", "redrive", "load"];

fn parse_delivery(s: &str) -> Result<DeliveryMode, String> {
    DeliveryMode::parse(s).ok_or_else(|| format!("{s:?}: expected exactly-once or at-least-once"))
}

fn parse_cache_mode(s: &str) -> Result<CacheMode, String> {
    s.parse().map_err(|why| format!("{s:?}: {why}"))
}

impl SettingFlags {
    /// Only `--db` (the commands that take no other setting).
    pub fn db(db: Option<PathBuf>) -> Self {
        Self {
            db,
            ..Self::default()
        }
    }

    /// `layers` with the flags given on top.
    pub fn apply(&self, mut layers: Layers) -> Result<Layers, ConfigError> {
        if let Some(db) = &self.db {
            layers = layers.flag("duckdb.url", "--db", db.display().to_string())?;
        }
        if let Some(plugin) = &self.plugin {
            layers = layers.flag("plugin.path", "--plugin", plugin)?;
        }
        if let Some(n) = self.batch_size {
            layers = layers.flag("pipeline.batch-size", "--batch-size", n)?;
        }
        if let Some(mode) = self.cache {
            layers = layers.flag("lookup.cache", "--cache", mode)?;
        }
        if let Some(mode) = self.delivery {
            layers = layers.flag("kafka.delivery", "--delivery", mode)?;
        }
        Ok(layers)
    }
}

/// `command` with each setting flag's help ending in its environment
/// variable and default, the way clap shows them (`[env: DUCKDB_URL]
/// [default: claims.duckdb]`), from the config's own tables.
pub fn annotate(command: clap::Command) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut command = command;
    for name in names {
        command = command.mut_subcommand(name, annotate);
    }
    if !SETTING_COMMANDS.contains(&command.get_name()) {
        return command;
    }
    for &(id, _, key) in FLAG_KEYS {
        let Some(arg) = command.get_arguments().find(|a| a.get_id() == id) else {
            continue;
        };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let suffix = setting_suffix(key);
        command = command.mut_arg(id, |arg| arg.help(format!("{help} {suffix}")));
    }
    command
}

/// `[env: NAME] [default: VALUE]` for the setting at `key`.
pub fn setting_suffix(key: &str) -> String {
    let mut parts = Vec::new();
    if let Some(name) = env_var_of(key) {
        parts.push(format!("[env: {name}]"));
    }
    if let Some(default) = default_text(key) {
        parts.push(format!("[default: {default}]"));
    }
    parts.join(" ")
}
